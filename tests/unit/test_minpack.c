/* lib/minpack: an hour of minute rows packed and unpacked exactly (random
 * rows of every shape, the largest values, partial hours, absent meters),
 * strict rejection of anything else, and what a realistic VM hour costs. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minpack.h"
#include "vtime.h"

#define HOUR (INT64_C(1800000000) / 3600 * 3600 * VM_NS_PER_SEC)

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t random_hour(const struct vm_meter_set *set, struct vm_usage_row rows[60])
{
	size_t n = 0;
	uint64_t want = next();
	int dense = next() % 2;
	for (int m = 0; m < 60; m++) {
		if (!dense && !(want >> m & 1))
			continue;
		struct vm_usage_row *r = &rows[n++];
		memset(r, 0, sizeof *r);
		r->set = set;
		r->minute_ns = HOUR + m * VM_NS_PER_MIN;
		r->coverage_ms = (int32_t)(next() % 60001);
		r->samples = (int32_t)(next() % 7);
		r->late = next() % 3 ? 0 : next();
		r->have = next() & ((UINT64_C(1) << set->n) - 1);
		for (size_t i = 0; i < set->n; i++) {
			if (!(r->have & (UINT64_C(1) << i)))
				continue;
			uint64_t v = next() >> (next() % 64);
			if (i < set->n_counters)
				r->sum[i] = v;
			else
				r->avg[i] = v, r->max[i] = next() % 2 ? v : v | (next() >> (next() % 64));
		}
	}
	if (!n) {
		rows[0].set = set;
		rows[0].minute_ns = HOUR;
		n = 1;
	}
	return n;
}

static void same_rows(const struct vm_usage_row *a, const struct vm_usage_row *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_ptr_equal(a[i].set, b[i].set);
		assert_int_equal(a[i].minute_ns, b[i].minute_ns);
		assert_int_equal(a[i].coverage_ms, b[i].coverage_ms);
		assert_int_equal(a[i].samples, b[i].samples);
		assert_int_equal(a[i].late, b[i].late);
		assert_int_equal(a[i].have, b[i].have);
		for (size_t m = 0; m < a[i].set->n; m++) {
			if (!(a[i].have >> m & 1))
				continue;
			if (m < a[i].set->n_counters) {
				assert_int_equal(a[i].sum[m], b[i].sum[m]);
			} else {
				assert_int_equal(a[i].avg[m], b[i].avg[m]);
				assert_int_equal(a[i].max[m], b[i].max[m]);
			}
		}
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	struct vm_usage_row in[60], out[60];
	char err[256];
	for (int k = 0; k < 3000; k++) {
		const struct vm_meter_set *set = k % 3 ? vm_usage_vm_meters() : vm_usage_host_meters();
		size_t n = random_hour(set, in), got, len;
		/* in any order */
		for (size_t i = n; i > 1; i--) {
			size_t j = next() % i;
			struct vm_usage_row t = in[i - 1];
			in[i - 1] = in[j];
			in[j] = t;
		}
		uint8_t *p = vm_pack_hour(set, HOUR, in, n, &len, err, sizeof err);
		assert_non_null(p);
		assert_int_equal(vm_unpack_hour(set, HOUR, p, len, out, &got, err, sizeof err), 0);
		assert_int_equal(got, n);
		/* out is in minute order: sort in likewise to compare */
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j > 0 && in[j - 1].minute_ns > in[j].minute_ns; j--) {
				struct vm_usage_row t = in[j];
				in[j] = in[j - 1];
				in[j - 1] = t;
			}
		same_rows(in, out, n);
		free(p);
	}
}

static void test_strict(void **state)
{
	(void)state;
	struct vm_usage_row in[60], out[60];
	char err[256];
	const struct vm_meter_set *set = vm_usage_vm_meters();
	for (int k = 0; k < 200; k++) {
		size_t n = random_hour(set, in), got, len;
		uint8_t *p = vm_pack_hour(set, HOUR, in, n, &len, err, sizeof err);
		assert_non_null(p);
		for (size_t cut = 0; cut < len; cut++)
			assert_int_equal(vm_unpack_hour(set, HOUR, p, cut, out, &got, err, sizeof err), -1);
		uint8_t *longer = malloc(len + 1);
		memcpy(longer, p, len);
		longer[len] = 0;
		assert_int_equal(vm_unpack_hour(set, HOUR, longer, len + 1, out, &got, err, sizeof err), -1);
		assert_non_null(strstr(err, "trailing"));
		assert_int_equal(vm_unpack_hour(vm_usage_host_meters(), HOUR, p, len, out, &got, err, sizeof err), -1);
		free(longer);
		free(p);
	}
	/* random bytes are refused, never crash */
	for (int k = 0; k < 20000; k++) {
		uint8_t junk[64];
		size_t len = next() % sizeof junk, got;
		for (size_t i = 0; i < len; i++)
			junk[i] = (uint8_t)next();
		if (len > 1)
			junk[0] = 1, junk[1] = 1;
		(void)vm_unpack_hour(set, HOUR, junk, len, out, &got, err, sizeof err);
	}
	/* rows that are not one hour's */
	size_t len;
	random_hour(set, in);
	in[0].minute_ns = HOUR - VM_NS_PER_MIN;
	assert_null(vm_pack_hour(set, HOUR, in, 1, &len, err, sizeof err));
	in[0].minute_ns = HOUR + 5 * VM_NS_PER_MIN;
	in[1] = in[0];
	assert_null(vm_pack_hour(set, HOUR, in, 2, &len, err, sizeof err));
	assert_non_null(strstr(err, "two rows for minute 5"));
	assert_null(vm_pack_hour(set, HOUR + 1, in, 1, &len, err, sizeof err));
}

/* A busy VM the way libvirt reports one: CPU in nanoseconds (user and
 * system in ticks of 10 ms), bursty disk and network, memory gauges that
 * move a little, disk capacity fixed. */
static void realistic_hour(struct vm_usage_row rows[60], unsigned vm)
{
	const struct vm_meter_set *set = vm_usage_vm_meters();
	uint64_t vcpus = 1 + vm % 8, mem = (1 + vm % 16) * UINT64_C(1048576), rss = mem * 6 / 10;
	double util = (double)(vm % 50) / 100.0;
	uint64_t alloc = UINT64_C(10) << 30;
	for (int m = 0; m < 60; m++) {
		struct vm_usage_row *r = &rows[m];
		memset(r, 0, sizeof *r);
		r->set = set;
		r->minute_ns = HOUR + m * VM_NS_PER_MIN;
		r->coverage_ms = 60000;
		r->samples = 6;
		r->have = (UINT64_C(1) << set->n) - 1;
		uint64_t cpu = (uint64_t)(vcpus * 60e9 * util * (0.8 + (double)(next() % 400) / 1000.0));
		r->sum[VM_M_CPU_NS] = cpu;
		r->sum[VM_M_CPU_USER_NS] = cpu * 7 / 10 / 10000000 * 10000000;
		r->sum[VM_M_CPU_SYSTEM_NS] = cpu * 2 / 10 / 10000000 * 10000000;
		r->sum[VM_M_VCPU_NS] = cpu * 95 / 100;
		r->sum[VM_M_VCPU_DELAY_NS] = next() % 20000000;
		r->sum[VM_M_VCPU_WAIT_NS] = next() % 5000000;
		r->sum[VM_M_RUNNING_MS] = 60000;
		uint64_t wr = next() % 4 ? next() % 200 : 0, rd = next() % 10 ? 0 : next() % 50;
		r->sum[VM_M_DISK_WR_REQS] = wr;
		r->sum[VM_M_DISK_WR_BYTES] = wr * 4096 * (1 + next() % 8);
		r->sum[VM_M_DISK_WR_NS] = wr * (100000 + next() % 400000);
		r->sum[VM_M_DISK_RD_REQS] = rd;
		r->sum[VM_M_DISK_RD_BYTES] = rd * 4096 * (1 + next() % 32);
		r->sum[VM_M_DISK_RD_NS] = rd * (50000 + next() % 200000);
		r->sum[VM_M_DISK_FL_REQS] = wr / 10;
		r->sum[VM_M_DISK_FL_NS] = wr / 10 * (next() % 1000000);
		uint64_t rx = next() % 2000, tx = next() % 2000;
		r->sum[VM_M_NET_RX_PKTS] = rx;
		r->sum[VM_M_NET_TX_PKTS] = tx;
		r->sum[VM_M_NET_RX_BYTES] = rx * (64 + next() % 1400);
		r->sum[VM_M_NET_TX_BYTES] = tx * (64 + next() % 1400);
		r->sum[VM_M_NET_RX_DROP] = next() % 100 ? 0 : 1;
		rss += next() % 64 - 32;
		uint64_t g[VM_M__COUNT];
		g[VM_M_VCPUS] = vcpus;
		g[VM_M_MEM_MAX_KIB] = mem;
		g[VM_M_BALLOON_KIB] = mem;
		g[VM_M_RSS_KIB] = rss;
		g[VM_M_USABLE_KIB] = mem - rss + next() % 1024;
		g[VM_M_AVAILABLE_KIB] = mem - 65536;
		g[VM_M_UNUSED_KIB] = mem - rss - 100000 + next() % 1024;
		g[VM_M_DISK_CAPACITY] = UINT64_C(20) << 30;
		alloc += (next() % 16) * 4096;
		g[VM_M_DISK_ALLOCATION] = alloc;
		for (size_t i = set->n_counters; i < set->n; i++) {
			r->avg[i] = g[i];
			r->max[i] = g[i] + (i == VM_M_RSS_KIB ? next() % 256 : 0);
		}
	}
}

static void test_realistic_size(void **state)
{
	(void)state;
	const struct vm_meter_set *set = vm_usage_vm_meters();
	struct vm_usage_row rows[60], out[60];
	char err[256];
	size_t total = 0, got;
	const unsigned vms = 200;
	for (unsigned vm = 0; vm < vms; vm++) {
		realistic_hour(rows, vm);
		size_t len;
		uint8_t *p = vm_pack_hour(set, HOUR, rows, 60, &len, err, sizeof err);
		assert_non_null(p);
		assert_int_equal(vm_unpack_hour(set, HOUR, p, len, out, &got, err, sizeof err), 0);
		same_rows(rows, out, 60);
		total += len;
		free(p);
	}
	double per_minute = (double)total / vms / 60;
	/* what a realistic busy minute costs packed; a PostgreSQL row of the
	 * same minute is ~390 bytes of heap */
	printf("# packed: %.1f bytes per VM-minute, %.1f KB per VM-day\n", per_minute, per_minute * 1440 / 1000);
	assert_true(per_minute < 120);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_strict),
	    cmocka_unit_test(test_realistic_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
