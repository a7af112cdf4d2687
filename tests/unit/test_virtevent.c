/* libvirt's event implementation on a libevent base (collector/virtevent.c),
 * driven through libvirt's public virEvent* calls as libvirt's client code
 * drives it: watches on a pipe, changes of what they watch, timers with a
 * period, 0 and -1, and removal with deferred free callbacks. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <libvirt/libvirt.h>
#include <unistd.h>

#include "log.h"
#include "virtevent.h"

static struct event_base *base;

struct seen {
	int calls, last_events, last_fd, freed, watch;
};

static void on_fd(int watch, int fd, int events, void *opaque)
{
	struct seen *s = opaque;
	s->calls++;
	s->last_events = events;
	s->last_fd = fd;
	s->watch = watch;
	char buf[64];
	if (events & VIR_EVENT_HANDLE_READABLE)
		(void)!read(fd, buf, sizeof buf);
}

static void on_timeout(int timer, void *opaque)
{
	struct seen *s = opaque;
	s->calls++;
	s->watch = timer;
}

static void on_free(void *opaque)
{
	((struct seen *)opaque)->freed++;
}

/* One pass of the loop without blocking. */
static void pass(void)
{
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static void test_handle(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct seen s = {0};
	int w = virEventAddHandle(p[0], VIR_EVENT_HANDLE_READABLE, on_fd, &s, on_free);
	assert_true(w > 0);
	size_t h, t;
	col_virtevent_counts(&h, &t);
	assert_int_equal(h, 1);

	pass();
	assert_int_equal(s.calls, 0); /* nothing to read */
	assert_int_equal(write(p[1], "x", 1), 1);
	pass();
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.last_events, VIR_EVENT_HANDLE_READABLE);
	assert_int_equal(s.last_fd, p[0]);
	assert_int_equal(s.watch, w);

	/* Watching nothing: data waits, no call. */
	virEventUpdateHandle(w, 0);
	assert_int_equal(write(p[1], "y", 1), 1);
	pass();
	assert_int_equal(s.calls, 1);
	/* Back on: the waiting byte is seen. */
	virEventUpdateHandle(w, VIR_EVENT_HANDLE_READABLE);
	pass();
	assert_int_equal(s.calls, 2);
	/* Off and on again within one pass, as around every RPC. */
	virEventUpdateHandle(w, 0);
	virEventUpdateHandle(w, VIR_EVENT_HANDLE_READABLE);
	assert_int_equal(write(p[1], "z", 1), 1);
	pass();
	assert_int_equal(s.calls, 3);

	/* A write watch on the write end fires at once. */
	struct seen ws = {0};
	int ww = virEventAddHandle(p[1], VIR_EVENT_HANDLE_WRITABLE, on_fd, &ws, NULL);
	pass();
	assert_true(ws.calls >= 1);
	assert_int_equal(ws.last_events, VIR_EVENT_HANDLE_WRITABLE);
	assert_int_equal(virEventRemoveHandle(ww), 0);

	/* Removal: no more calls, the free callback runs on the next pass,
	 * not inside the removal. */
	assert_int_equal(virEventRemoveHandle(w), 0);
	assert_int_equal(s.freed, 0);
	assert_int_equal(write(p[1], "w", 1), 1);
	pass();
	assert_int_equal(s.calls, 3);
	assert_int_equal(s.freed, 1);
	assert_int_equal(virEventRemoveHandle(w), -1);      /* gone */
	virEventUpdateHandle(w, VIR_EVENT_HANDLE_READABLE); /* ignored */
	col_virtevent_counts(&h, &t);
	assert_int_equal(h, 0);
	close(p[0]);
	close(p[1]);
}

static void remove_self(int watch, int fd, int events, void *opaque)
{
	on_fd(watch, fd, events, opaque);
	virEventRemoveHandle(watch);
}

static void test_remove_in_callback(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct seen s = {0};
	virEventAddHandle(p[0], VIR_EVENT_HANDLE_READABLE, remove_self, &s, on_free);
	assert_int_equal(write(p[1], "ab", 2), 2);
	pass();
	pass();
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.freed, 1);
	close(p[0]);
	close(p[1]);
}

static void test_timers(void **state)
{
	(void)state;
	struct seen now = {0}, off = {0}, periodic = {0};
	int t0 = virEventAddTimeout(0, on_timeout, &now, on_free);
	int toff = virEventAddTimeout(-1, on_timeout, &off, on_free);
	int tp = virEventAddTimeout(20, on_timeout, &periodic, NULL);
	assert_true(t0 > 0 && toff > 0 && tp > 0);
	pass();
	pass();
	pass();
	/* 0 fires on every pass, -1 never. */
	assert_true(now.calls >= 2);
	assert_int_equal(off.calls, 0);
	virEventUpdateTimeout(t0, -1);
	int c = now.calls;
	pass();
	assert_int_equal(now.calls, c);
	/* A period: about 5 firings in 110 ms, never 0 or dozens. */
	struct timeval tv = {0, 110000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	assert_in_range(periodic.calls, 3, 6);
	virEventUpdateTimeout(toff, 0);
	pass();
	assert_true(off.calls >= 1);
	assert_int_equal(virEventRemoveTimeout(t0), 0);
	assert_int_equal(virEventRemoveTimeout(toff), 0);
	assert_int_equal(virEventRemoveTimeout(tp), 0);
	assert_int_equal(virEventRemoveTimeout(tp), -1);
	pass();
	assert_int_equal(now.freed, 1);
	assert_int_equal(off.freed, 1);
	size_t h, t;
	col_virtevent_counts(&h, &t);
	assert_int_equal(t, 0);
}

static void test_second_base(void **state)
{
	(void)state;
	struct event_base *other = event_base_new();
	assert_int_equal(col_virtevent_register(other), -1);
	assert_int_equal(col_virtevent_register(base), 0);
	event_base_free(other);
}

/* What is left registered at shutdown gets its free callback. */
static void test_shutdown(void **state)
{
	(void)state;
	struct seen s = {0};
	virEventAddTimeout(1000, on_timeout, &s, on_free);
	col_virtevent_shutdown();
	assert_int_equal(s.freed, 1);
}

int main(void)
{
	vm_log_set_level(VM_LOG_ERR);
	base = event_base_new();
	if (col_virtevent_register(base) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handle),   cmocka_unit_test(test_remove_in_callback),
	    cmocka_unit_test(test_timers),   cmocka_unit_test(test_second_base),
	    cmocka_unit_test(test_shutdown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	event_base_free(base);
	return rc;
}
