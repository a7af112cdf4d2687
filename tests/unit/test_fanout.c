#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "fanout.h"

/* One run's record: what each callback saw, checked after the run. */
struct rec {
	size_t n, window;
	pthread_t caller;
	size_t *slot_item; /* window slots: the item prepared into each */
	size_t *worked;    /* per item: work's result */
	size_t prepared, consumed;
	atomic_size_t in_work, most_in_work;
	bool order_ok, slot_ok, thread_ok;
	long sleep_us;
};

static void on_prepare(size_t i, void *arg)
{
	struct rec *r = arg;
	r->thread_ok &= pthread_equal(pthread_self(), r->caller) != 0;
	r->order_ok &= i == r->prepared++;
	/* No item may reuse a slot whose item was not consumed yet. */
	r->slot_ok &= i < r->consumed + r->window;
	r->slot_item[i % r->window] = i;
}

static void on_work(size_t i, void *arg)
{
	struct rec *r = arg;
	size_t now = atomic_fetch_add(&r->in_work, 1) + 1;
	size_t most = atomic_load(&r->most_in_work);
	while (now > most && !atomic_compare_exchange_weak(&r->most_in_work, &most, now))
		;
	if (r->sleep_us) {
		struct timespec ts = {0, r->sleep_us * 1000};
		nanosleep(&ts, NULL);
	}
	/* The slot still holds this item: prepare's write is seen here. */
	r->worked[i] = r->slot_item[i % r->window] * 2 + 1;
	atomic_fetch_sub(&r->in_work, 1);
}

static void on_consume(size_t i, void *arg)
{
	struct rec *r = arg;
	r->thread_ok &= pthread_equal(pthread_self(), r->caller) != 0;
	r->order_ok &= i == r->consumed;
	/* work's write is seen here, and the slot is still this item's. */
	r->slot_ok &= r->worked[i] == i * 2 + 1 && r->slot_item[i % r->window] == i;
	r->consumed++;
}

static struct rec *run(struct col_fanout *f, size_t n, long sleep_us)
{
	struct rec *r = calloc(1, sizeof *r);
	r->n = n;
	r->window = col_fanout_window(f);
	r->caller = pthread_self();
	r->slot_item = calloc(r->window, sizeof *r->slot_item);
	r->worked = calloc(n ? n : 1, sizeof *r->worked);
	r->order_ok = r->slot_ok = r->thread_ok = true;
	r->sleep_us = sleep_us;
	struct col_fanout_job job = {on_prepare, on_work, on_consume, r};
	col_fanout_run(f, n, &job);
	assert_int_equal(r->prepared, n);
	assert_int_equal(r->consumed, n);
	assert_true(r->order_ok);
	assert_true(r->slot_ok);
	assert_true(r->thread_ok);
	return r;
}

static void rec_free(struct rec *r)
{
	free(r->slot_item);
	free(r->worked);
	free(r);
}

/* 0 and 1 thread: the plain loop on the caller, one slot, one at a time. */
static void test_no_workers(void **state)
{
	for (unsigned t = 0; t < 2; t++) {
		struct col_fanout *f = col_fanout_new(t);
		assert_int_equal(col_fanout_window(f), 1);
		struct rec *r = run(f, 100, 0);
		assert_int_equal(atomic_load(&r->most_in_work), 1);
		rec_free(r);
		col_fanout_free(f);
	}
}

/* Every size around the window: empty, fewer items than slots, exactly a
 * window, many windows; the same pool run after run. */
static void test_order_and_slots(void **state)
{
	struct col_fanout *f = col_fanout_new(4);
	size_t w = col_fanout_window(f);
	assert_true(w >= 4);
	size_t sizes[] = {0, 1, 2, w - 1, w, w + 1, 3 * w + 5, 10000};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
		rec_free(run(f, sizes[k], 0));
	col_fanout_free(f);
}

/* Blocking work overlaps: with 4 workers, calls that sleep are in flight
 * together, never more than 4. */
static void test_concurrent(void **state)
{
	struct col_fanout *f = col_fanout_new(4);
	struct rec *r = run(f, 64, 2000);
	assert_true(atomic_load(&r->most_in_work) > 1);
	assert_true(atomic_load(&r->most_in_work) <= 4);
	rec_free(r);
	col_fanout_free(f);
}

/* More threads than the bound are capped; a pool never run frees cleanly. */
static void test_bounds(void **state)
{
	struct col_fanout *f = col_fanout_new(1000);
	struct rec *r = run(f, 500, 0);
	assert_true(atomic_load(&r->most_in_work) <= COL_FANOUT_MAX_THREADS);
	rec_free(r);
	col_fanout_free(f);
	col_fanout_free(col_fanout_new(4));
	col_fanout_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_workers),
	    cmocka_unit_test(test_order_and_slots),
	    cmocka_unit_test(test_concurrent),
	    cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
