/* Minute summarisation: splitting intervals at minute boundaries with
 * exact conservation, coverage, gauges, closing and late data. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "usage.h"
#include "vtime.h"

#define S(x) ((int64_t)(x)*VM_NS_PER_SEC)
#define BIT(i) (UINT64_C(1) << (i))
#define T0 S(1800000000 - 1800000000 % 60) /* a minute boundary */

struct rows {
	struct vm_usage_row r[64];
	size_t n;
};

static void collect(const struct vm_usage_row *row, void *arg)
{
	struct rows *rows = arg;
	assert_true(rows->n < 64);
	rows->r[rows->n++] = *row;
}

static struct vm_usage_interval iv(int64_t t0, int64_t t1)
{
	struct vm_usage_interval v;
	memset(&v, 0, sizeof v);
	v.t0 = t0;
	v.t1 = t1;
	return v;
}

static void test_share_conserves(void **state)
{
	/* Any split of [t0, t1) into adjacent parts sums to the delta. */
	uint64_t delta = 1000000007;
	int64_t t0 = 3, t1 = 3 + 7919;
	uint64_t sum = 0;
	for (int64_t a = t0; a < t1; a += 13) {
		int64_t b = a + 13 < t1 ? a + 13 : t1;
		sum += vm_usage_share(delta, t0, t1, a, b);
	}
	assert_int_equal(sum, delta);
	assert_int_equal(vm_usage_share(UINT64_MAX, 0, 3, 0, 3), UINT64_MAX);
	assert_int_equal(vm_usage_share(10, 0, 10, 0, 5), 5);
}

static void test_interval_split_at_minute(void **state)
{
	struct vm_usage_acc *acc = vm_usage_acc_new(vm_usage_vm_meters());
	struct rows rows = {.n = 0};
	/* 12:00:55 .. 12:01:05, 10 s of CPU: 5 s each side. */
	struct vm_usage_interval v = iv(T0 + S(55), T0 + S(65));
	v.have = BIT(VM_M_CPU_NS);
	v.value[VM_M_CPU_NS] = (uint64_t)S(10);
	assert_int_equal(vm_usage_acc_add(acc, &v), 0);
	assert_int_equal(vm_usage_acc_close(acc, T0 + S(65), collect, &rows), 1);
	assert_int_equal(rows.r[0].minute_ns, T0);
	assert_int_equal(rows.r[0].sum[VM_M_CPU_NS], S(5));
	assert_int_equal(rows.r[0].coverage_ms, 5000);
	assert_int_equal(rows.r[0].samples, 0);
	assert_int_equal(vm_usage_acc_open_minutes(acc), 1);
	assert_int_equal(vm_usage_acc_close(acc, INT64_MAX, collect, &rows), 1);
	assert_int_equal(rows.r[1].minute_ns, T0 + S(60));
	assert_int_equal(rows.r[1].sum[VM_M_CPU_NS], S(5));
	assert_int_equal(rows.r[1].coverage_ms, 5000);
	assert_int_equal(rows.r[1].samples, 1);
	vm_usage_acc_free(acc);
}

/* A VM that lived 20 s of a minute has 20 s of coverage, not 60. */
static void test_partial_coverage(void **state)
{
	struct vm_usage_acc *acc = vm_usage_acc_new(vm_usage_vm_meters());
	struct rows rows = {.n = 0};
	for (int s = 30; s < 50; s += 10) {
		struct vm_usage_interval v = iv(T0 + S(s), T0 + S(s + 10));
		v.have = BIT(VM_M_NET_RX_BYTES);
		v.value[VM_M_NET_RX_BYTES] = 1000;
		vm_usage_acc_add(acc, &v);
	}
	vm_usage_acc_close(acc, T0 + S(60), collect, &rows);
	assert_int_equal(rows.n, 1);
	assert_int_equal(rows.r[0].coverage_ms, 20000);
	assert_int_equal(rows.r[0].samples, 2);
	assert_int_equal(rows.r[0].sum[VM_M_NET_RX_BYTES], 2000);
	assert_true(rows.r[0].have & BIT(VM_M_NET_RX_BYTES));
	assert_false(rows.r[0].have & BIT(VM_M_CPU_NS)); /* absent, not zero */
	vm_usage_acc_free(acc);
}

static void test_gauge_time_weighted(void **state)
{
	struct vm_usage_acc *acc = vm_usage_acc_new(vm_usage_vm_meters());
	struct rows rows = {.n = 0};
	/* 1024 KiB for 45 s, then 4096 KiB for 15 s: avg 1792, max 4096. */
	struct vm_usage_interval a = iv(T0, T0 + S(45)), b = iv(T0 + S(45), T0 + S(60));
	a.have = b.have = BIT(VM_M_RSS_KIB);
	a.value[VM_M_RSS_KIB] = 1024;
	b.value[VM_M_RSS_KIB] = 4096;
	vm_usage_acc_add(acc, &a);
	vm_usage_acc_add(acc, &b);
	vm_usage_acc_close(acc, T0 + S(60), collect, &rows);
	assert_int_equal(rows.n, 1);
	assert_int_equal(rows.r[0].avg[VM_M_RSS_KIB], 1792);
	assert_int_equal(rows.r[0].max[VM_M_RSS_KIB], 4096);
	assert_int_equal(rows.r[0].coverage_ms, 60000);
	vm_usage_acc_free(acc);
}

/* A gauge reported for part of the minute averages over that part only. */
static void test_gauge_partial(void **state)
{
	struct vm_usage_acc *acc = vm_usage_acc_new(vm_usage_vm_meters());
	struct rows rows = {.n = 0};
	struct vm_usage_interval a = iv(T0, T0 + S(30)), b = iv(T0 + S(30), T0 + S(60));
	b.have = BIT(VM_M_USABLE_KIB);
	b.value[VM_M_USABLE_KIB] = 500;
	vm_usage_acc_add(acc, &a);
	vm_usage_acc_add(acc, &b);
	vm_usage_acc_close(acc, T0 + S(60), collect, &rows);
	assert_int_equal(rows.r[0].avg[VM_M_USABLE_KIB], 500);
	assert_int_equal(rows.r[0].coverage_ms, 60000);
	vm_usage_acc_free(acc);
}

/* Huge gauges (bytes of a big disk) over a whole minute do not overflow. */
static void test_gauge_no_overflow(void **state)
{
	struct vm_usage_acc *acc = vm_usage_acc_new(vm_usage_vm_meters());
	struct rows rows = {.n = 0};
	struct vm_usage_interval a = iv(T0, T0 + S(60));
	a.have = BIT(VM_M_DISK_CAPACITY);
	a.value[VM_M_DISK_CAPACITY] = UINT64_C(1) << 52; /* 4 PiB */
	vm_usage_acc_add(acc, &a);
	vm_usage_acc_close(acc, INT64_MAX, collect, &rows);
	assert_int_equal(rows.r[0].avg[VM_M_DISK_CAPACITY], UINT64_C(1) << 52);
	vm_usage_acc_free(acc);
}

/* A long interval spread over several minutes conserves the delta. */
static void test_multi_minute_conservation(void **state)
{
	struct vm_usage_acc *acc = vm_usage_acc_new(vm_usage_vm_meters());
	struct rows rows = {.n = 0};
	struct vm_usage_interval v = iv(T0 + S(17) + 3, T0 + S(250) + 11);
	v.have = BIT(VM_M_DISK_WR_BYTES);
	v.value[VM_M_DISK_WR_BYTES] = 123456789;
	vm_usage_acc_add(acc, &v);
	vm_usage_acc_close(acc, INT64_MAX, collect, &rows);
	assert_int_equal(rows.n, 5);
	uint64_t sum = 0;
	int64_t cov = 0;
	for (size_t i = 0; i < rows.n; i++) {
		sum += rows.r[i].sum[VM_M_DISK_WR_BYTES];
		cov += rows.r[i].coverage_ms;
		assert_int_equal(rows.r[i].minute_ns, T0 + S(60) * (int64_t)i);
	}
	assert_int_equal(sum, 123456789);
	assert_int_equal(cov, 233000);
	vm_usage_acc_free(acc);
}

static void test_close_only_ended_minutes(void **state)
{
	struct vm_usage_acc *acc = vm_usage_acc_new(vm_usage_vm_meters());
	struct rows rows = {.n = 0};
	struct vm_usage_interval v = iv(T0 + S(40), T0 + S(50));
	vm_usage_acc_add(acc, &v);
	assert_int_equal(vm_usage_acc_close(acc, T0 + S(59), collect, &rows), 0);
	assert_int_equal(vm_usage_acc_close(acc, T0 + S(60), collect, &rows), 1);
	assert_int_equal(vm_usage_acc_closed_upto(acc), T0 + S(60));
	vm_usage_acc_free(acc);
}

/* Usage of an already emitted minute goes to the first open one, flagged
 * late, without coverage: never lost, never in a minute twice. */
/* Deltas no time can be given to (the wall clock stepped back): into the
 * minute asked for while it is open, else the earliest open one; counters
 * only, flagged late, no coverage, no sample. */
static void test_add_late(void **state)
{
	struct vm_usage_acc *acc = vm_usage_acc_new(vm_usage_vm_meters());
	struct rows rows = {.n = 0};
	struct vm_usage_interval a = iv(T0 + S(10), T0 + S(20));
	a.have = BIT(VM_M_CPU_NS) | BIT(VM_M_VCPUS);
	a.value[VM_M_CPU_NS] = 100, a.value[VM_M_VCPUS] = 2;
	vm_usage_acc_add(acc, &a);
	struct vm_usage_interval late = a;
	late.value[VM_M_CPU_NS] = 7, late.value[VM_M_VCPUS] = 50;
	vm_usage_acc_add_late(acc, T0 + S(20), &late);
	vm_usage_acc_close(acc, T0 + S(60), collect, &rows);
	/* Its minute closed: the next open one, made for it. */
	vm_usage_acc_add_late(acc, T0 + S(20), &late);
	struct vm_usage_interval none = iv(0, 0); /* no counters: nothing */
	vm_usage_acc_add_late(acc, T0 + S(20), &none);
	assert_int_equal(vm_usage_acc_open_minutes(acc), 1);
	vm_usage_acc_close(acc, INT64_MAX, collect, &rows);
	assert_int_equal(rows.n, 2);
	assert_int_equal(rows.r[0].sum[VM_M_CPU_NS], 107);
	assert_int_equal(rows.r[0].late, 7);
	assert_int_equal(rows.r[0].coverage_ms, 10000);
	assert_int_equal(rows.r[0].samples, 1);
	assert_int_equal(rows.r[0].max[VM_M_VCPUS], 2);
	assert_int_equal(rows.r[1].minute_ns, T0 + S(60));
	assert_int_equal(rows.r[1].sum[VM_M_CPU_NS], 7);
	assert_int_equal(rows.r[1].late, 7);
	assert_int_equal(rows.r[1].coverage_ms, 0);
	assert_int_equal(rows.r[1].samples, 0);
	assert_false(rows.r[1].have & BIT(VM_M_VCPUS));
	vm_usage_acc_free(acc);
}

static void test_late_data(void **state)
{
	struct vm_usage_acc *acc = vm_usage_acc_new(vm_usage_vm_meters());
	struct rows rows = {.n = 0};
	struct vm_usage_interval a = iv(T0 + S(10), T0 + S(20));
	a.have = BIT(VM_M_CPU_NS);
	a.value[VM_M_CPU_NS] = 100;
	vm_usage_acc_add(acc, &a);
	vm_usage_acc_close(acc, T0 + S(60), collect, &rows); /* stale close */
	struct vm_usage_interval b = iv(T0 + S(20), T0 + S(80));
	b.have = BIT(VM_M_CPU_NS);
	b.value[VM_M_CPU_NS] = 600;
	vm_usage_acc_add(acc, &b);
	vm_usage_acc_close(acc, INT64_MAX, collect, &rows);
	assert_int_equal(rows.n, 2);
	assert_int_equal(rows.r[0].sum[VM_M_CPU_NS], 100);
	assert_int_equal(rows.r[1].minute_ns, T0 + S(60));
	assert_int_equal(rows.r[1].sum[VM_M_CPU_NS], 600);
	assert_int_equal(rows.r[1].late, 400);
	assert_int_equal(rows.r[1].coverage_ms, 20000);
	vm_usage_acc_free(acc);
}

static void test_rejects_backwards(void **state)
{
	struct vm_usage_acc *acc = vm_usage_acc_new(vm_usage_vm_meters());
	struct vm_usage_interval v = iv(T0 + S(10), T0 + S(10));
	assert_int_equal(vm_usage_acc_add(acc, &v), -1);
	v = iv(T0 + S(10), T0 + S(5));
	assert_int_equal(vm_usage_acc_add(acc, &v), -1);
	assert_int_equal(vm_usage_acc_open_minutes(acc), 0);
	vm_usage_acc_free(acc);
}

/* Coverage of a minute never exceeds 60 s even with odd sample times. */
static void test_coverage_full_minute(void **state)
{
	struct vm_usage_acc *acc = vm_usage_acc_new(vm_usage_host_meters());
	struct rows rows = {.n = 0};
	int64_t t = T0 - S(3);
	while (t < T0 + S(65)) {
		int64_t next = t + S(7) + 1234567;
		struct vm_usage_interval v = iv(t, next);
		v.have = BIT(HOST_M_CPU_BUSY_NS);
		v.value[HOST_M_CPU_BUSY_NS] = (uint64_t)(next - t);
		vm_usage_acc_add(acc, &v);
		t = next;
	}
	vm_usage_acc_close(acc, T0 + S(60), collect, &rows);
	assert_int_equal(rows.n, 2);
	assert_int_equal(rows.r[1].minute_ns, T0);
	assert_int_equal(rows.r[1].coverage_ms, 60000);
	/* busy = wall time, split exactly: within a nanosecond per split. */
	assert_true(rows.r[1].sum[HOST_M_CPU_BUSY_NS] >= (uint64_t)S(60) - 10);
	assert_true(rows.r[1].sum[HOST_M_CPU_BUSY_NS] <= (uint64_t)S(60) + 10);
	vm_usage_acc_free(acc);
}

static uint64_t rng = 88172645463325252u;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Closing as the samples come (vm_usage_acc_add_close()) gives the rows of
 * adding then closing at the same mark: random sample times, minutes
 * straddled and skipped, gaps longer than a minute, stale closes that make
 * later data late, with every meter set's counters and gauges; and no more
 * than one minute stays open after each sample. */
static void test_add_close_same_rows(void **state)
{
	const struct vm_meter_set *sets[] = {vm_usage_vm_meters(), vm_usage_host_meters(), vm_usage_power_meters()};
	for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
		const struct vm_meter_set *set = sets[k];
		struct vm_usage_acc *a = vm_usage_acc_new(set), *b = vm_usage_acc_new(set);
		struct rows ra = {.n = 0}, rb = {.n = 0};
		int64_t t = T0 + S(3);
		for (int i = 0; i < 400; i++) {
			int64_t next = t + (int64_t)(rnd() % (uint64_t)S(i % 37 == 0 ? 200 : 25)) + 1;
			struct vm_usage_interval v = iv(t, next);
			for (size_t m = 0; m < set->n; m++) {
				if (rnd() % 5 == 0)
					continue;
				v.have |= BIT(m);
				v.value[m] = rnd() % 1000000007u;
			}
			assert_int_equal(vm_usage_acc_add(a, &v), 0);
			vm_usage_acc_close(a, next, collect, &ra);
			assert_int_equal(vm_usage_acc_add_close(b, &v, next, collect, &rb), 0);
			assert_true(vm_usage_acc_open_minutes(b) <= 1);
			if (i % 50 == 49) {
				/* a stale close, as for a VM not sampled for
				 * max-gap: the next interval comes late */
				vm_usage_acc_close(a, next + S(90), collect, &ra);
				vm_usage_acc_close(b, next + S(90), collect, &rb);
			}
			/* compared as they come: the buffers hold 64 */
			assert_int_equal(ra.n, rb.n);
			for (size_t r = 0; r < ra.n; r++)
				assert_memory_equal(&ra.r[r], &rb.r[r], sizeof ra.r[r]);
			ra.n = rb.n = 0;
			t = next;
		}
		assert_int_equal(vm_usage_acc_closed_upto(a), vm_usage_acc_closed_upto(b));
		/* nothing added, nothing emitted, on an interval going back */
		struct vm_usage_interval back = iv(t, t - 1);
		assert_int_equal(vm_usage_acc_add_close(b, &back, INT64_MAX, collect, &rb), -1);
		assert_int_equal(rb.n, 0);
		vm_usage_acc_free(a);
		vm_usage_acc_free(b);
	}
}

static void test_meter_tables(void **state)
{
	const struct vm_meter_set *sets[] = {vm_usage_vm_meters(), vm_usage_host_meters()};
	for (size_t k = 0; k < 2; k++) {
		for (size_t i = 0; i < sets[k]->n; i++) {
			const struct vm_meter *m = &sets[k]->meters[i];
			assert_non_null(m->name);
			assert_int_equal(m->kind, i < sets[k]->n_counters ? VM_METER_COUNTER : VM_METER_GAUGE);
			if (m->rrd_ds)
				assert_true(strlen(m->rrd_ds) <= 19);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_share_conserves),
	    cmocka_unit_test(test_interval_split_at_minute),
	    cmocka_unit_test(test_partial_coverage),
	    cmocka_unit_test(test_gauge_time_weighted),
	    cmocka_unit_test(test_gauge_partial),
	    cmocka_unit_test(test_gauge_no_overflow),
	    cmocka_unit_test(test_multi_minute_conservation),
	    cmocka_unit_test(test_close_only_ended_minutes),
	    cmocka_unit_test(test_late_data),
	    cmocka_unit_test(test_add_late),
	    cmocka_unit_test(test_rejects_backwards),
	    cmocka_unit_test(test_coverage_full_minute),
	    cmocka_unit_test(test_add_close_same_rows),
	    cmocka_unit_test(test_meter_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
