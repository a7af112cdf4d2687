/* aggregator/figures: basis points rounded down, unknown inputs, exact
 * products beyond 64 bits, nearest-rank percentiles, a VM's and a host's
 * figures from hand-computed sums, and time not observed kept out of every
 * denominator. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figures.h"

static void test_bp(void **state)
{
	(void)state;
	assert_int_equal(agg_bp(1, 3), 3333); /* rounded down */
	assert_int_equal(agg_bp(2, 3), 6666);
	assert_int_equal(agg_bp(0, 5), 0);
	assert_int_equal(agg_bp(5, 5), 10000);
	assert_int_equal(agg_bp(AGG_NONE, 5), AGG_NONE);
	assert_int_equal(agg_bp(5, 0), AGG_NONE);
	assert_int_equal(agg_bp(5, AGG_NONE), AGG_NONE);
	/* 2^62 * 10000 passes 64 bits: still exact */
	assert_int_equal(agg_bp(INT64_C(1) << 62, INT64_C(1) << 62), 10000);
	assert_int_equal(agg_bp(INT64_C(3) << 60, INT64_C(1) << 62), 7500);
	assert_int_equal(agg_ratio_bp(30, 10, 20, 10), 15000); /* 3 : 2 */
	assert_int_equal(agg_ratio_bp(30, 10, 0, 10), AGG_NONE);
	assert_int_equal(agg_ratio_bp(30, 0, 20, 10), AGG_NONE);
	assert_int_equal(agg_avg(7, 2), 3);
	assert_int_equal(agg_avg(7, 0), AGG_NONE);
	assert_int_equal(agg_rate(1000, 3000), 333); /* bytes per second */
	assert_int_equal(agg_rate(1000, 0), AGG_NONE);
	assert_int_equal(agg_rate(AGG_NONE, 10), AGG_NONE);
}

static void test_percentile(void **state)
{
	(void)state;
	int64_t v[] = {10, 50, 20, 40, 30};
	/* nearest rank: ceil(p/100 x n) */
	assert_int_equal(agg_percentile(v, 5, 95), 50);
	assert_int_equal(agg_percentile(v, 5, 80), 40);
	assert_int_equal(agg_percentile(v, 5, 81), 50);
	assert_int_equal(agg_percentile(v, 5, 1), 10);
	assert_int_equal(agg_percentile(v, 5, 100), 50);
	assert_int_equal(agg_percentile(v, 5, 50), 30);
	int64_t one[] = {7};
	assert_int_equal(agg_percentile(one, 1, 95), 7);
	assert_int_equal(agg_percentile(NULL, 0, 95), AGG_NONE);
	assert_int_equal(agg_percentile(v, 5, 0), AGG_NONE);
	assert_int_equal(agg_percentile(v, 5, 101), AGG_NONE);
	/* 336 hours (a fortnight): the 320th smallest */
	int64_t h[336];
	for (int i = 0; i < 336; i++)
		h[i] = 335 - i;
	assert_int_equal(agg_percentile(h, 336, 95), 319);
}

static const struct agg_vm_sums none_sums = {
    .cpu_ns = AGG_NONE,
    .vcpu_ms = AGG_NONE,
    .delay_ns = AGG_NONE,
    .mem_max_int = AGG_NONE,
    .balloon_int = AGG_NONE,
    .rss_int = AGG_NONE,
    .avail_int = AGG_NONE,
    .usable_int = AGG_NONE,
    .disk_rd = AGG_NONE,
    .disk_wr = AGG_NONE,
    .net_rx = AGG_NONE,
    .net_tx = AGG_NONE,
};

static void test_vm(void **state)
{
	(void)state;
	/* an hour's window, 30 minutes observed of 40 minute rows (10 of
	 * them half covered), 2 minutes recorded lost; 4 vCPUs on a 16-CPU
	 * host of 64 GiB */
	struct agg_vm_sums u = none_sums;
	u.minutes = 40;
	u.observed_ms = 30 * 60000;
	u.lost_ms = 120000;
	u.vcpu_ms = 4 * u.observed_ms;
	u.cpu_ns = u.vcpu_ms * 1000000 / 4;    /* 25 % of the allocation */
	u.delay_ns = u.vcpu_ms * 1000000 / 20; /* 5 % */
	u.mem_max_int = 4194304LL * u.observed_ms, u.mem_max_ms = u.observed_ms;
	u.rss_int = 3145728LL * u.observed_ms, u.rss_ms = u.observed_ms;
	u.avail_int = 4000000LL * u.observed_ms, u.usable_int = 3000000LL * u.observed_ms, u.avail_ms = u.observed_ms;
	u.balloon_int = 4194304LL * u.observed_ms, u.balloon_ms = u.observed_ms;
	u.disk_rd = 1800000, u.disk_wr = 0, u.net_rx = 18000000;
	struct agg_vm_alloc a = {
	    .vcpus = 4, .mem_kib = 8388608, .host_cpus_int = 16, .host_cpus_ms = 1, .host_mem_kib = 67108864};
	struct agg_vm_figures f;
	agg_vm_figures_compute(&u, &a, 3600000, &f);
	assert_int_equal(f.observed_ms, 1800000);
	/* not observed: 10 minutes' rows less 30 minutes' coverage, and the loss */
	assert_int_equal(f.unknown_ms, 40 * 60000 - 30 * 60000 + 120000);
	assert_int_equal(f.coverage_bp, 5000);
	assert_int_equal(f.cpu_alloc_bp, 2500); /* over observed time only: not diluted by the gap */
	assert_int_equal(f.cpu_host_bp, 625);   /* 1 CPU of 16 */
	assert_int_equal(f.delay_bp, 500);
	assert_int_equal(f.mem_alloc_kib, 4194304); /* the measured maximum before the inventory's */
	assert_int_equal(f.rss_kib, 3145728);
	assert_int_equal(f.used_kib, 1000000);
	assert_int_equal(f.balloon_kib, 4194304);
	assert_int_equal(f.rss_alloc_bp, 7500);
	assert_int_equal(f.used_alloc_bp, 2384);
	assert_int_equal(f.rss_host_bp, 468);
	assert_int_equal(f.disk_rd_bps, 1000);
	assert_int_equal(f.disk_wr_bps, 0);
	assert_int_equal(f.net_rx_bps, 10000);
	assert_int_equal(f.net_tx_bps, AGG_NONE);

	/* no vCPU time measured: the inventory's vCPUs over observed time;
	 * a host whose CPUs changed: its time-weighted average (12) */
	u.vcpu_ms = AGG_NONE;
	a.host_cpus_int = 8 * 1000 + 16 * 1000, a.host_cpus_ms = 2000;
	agg_vm_figures_compute(&u, &a, 3600000, &f);
	assert_int_equal(f.cpu_alloc_bp, 2500);
	assert_int_equal(f.cpu_host_bp, 833);
	/* nothing to divide by: unknown, not zero */
	a.vcpus = AGG_NONE;
	a.host_cpus_int = 0;
	a.host_mem_kib = AGG_NONE;
	u.mem_max_int = AGG_NONE;
	agg_vm_figures_compute(&u, &a, 3600000, &f);
	assert_int_equal(f.cpu_alloc_bp, AGG_NONE);
	assert_int_equal(f.cpu_host_bp, AGG_NONE);
	assert_int_equal(f.delay_bp, AGG_NONE);
	assert_int_equal(f.mem_alloc_kib, 8388608); /* the inventory's */
	assert_int_equal(f.rss_host_bp, AGG_NONE);
	/* a guest that reports more usable than available: no figure */
	u.usable_int = u.avail_int + 1;
	agg_vm_figures_compute(&u, &a, 3600000, &f);
	assert_int_equal(f.used_kib, AGG_NONE);
	/* nothing observed */
	struct agg_vm_sums z = none_sums;
	agg_vm_figures_compute(&z, &a, 3600000, &f);
	assert_int_equal(f.coverage_bp, 0);
	assert_int_equal(f.unknown_ms, 0);
	assert_int_equal(f.disk_rd_bps, AGG_NONE);
	/* coverage never above the window (a VM that moved hosts mid-minute) */
	z.observed_ms = 3600001;
	agg_vm_figures_compute(&z, &a, 3600000, &f);
	assert_int_equal(f.coverage_bp, 10000);
}

static void test_host(void **state)
{
	(void)state;
	/* 8 CPUs for an hour, 70 % busy; its VMs used 5.2 CPUs, ran 16 vCPUs
	 * and 16 GiB of its 32 GiB; 10 % of their vCPU time waiting */
	const int64_t ms = 3600000;
	struct agg_host_sums h = {
	    .observed_ms = ms,
	    .capacity_ns = 8 * ms * 1000000,
	    .busy_ns = 8 * ms * 1000000 * 7 / 10,
	    .cpus_int = 8 * ms,
	    .cpus_ms = ms,
	    .mem_total_int = 33554432 * ms,
	    .mem_total_ms = ms,
	    .vcpus_running_int = 16 * ms,
	    .vcpus_running_ms = ms,
	    .vm_mem_int = 16777216 * ms,
	    .vm_mem_ms = ms,
	    .vm_cpu_ns = 52 * ms * 100000,
	    .vm_delay_ns = 16 * ms * 100000,
	    .vm_vcpu_ms = 16 * ms,
	};
	struct agg_host_figures f;
	agg_host_figures_compute(&h, ms, &f);
	assert_int_equal(f.coverage_bp, 10000);
	assert_int_equal(f.cpus, 8);
	assert_int_equal(f.mem_total_kib, 33554432);
	assert_int_equal(f.busy_bp, 7000);
	assert_int_equal(f.demand_bp, 6500);
	assert_int_equal(f.vcpu_ratio_bp, 20000);
	assert_int_equal(f.mem_ratio_bp, 5000);
	assert_int_equal(f.delay_bp, 1000);
	/* a host without its own minutes: no capacity, no ratios */
	struct agg_host_sums bare = {.capacity_ns = AGG_NONE,
	                             .busy_ns = AGG_NONE,
	                             .cpus_int = AGG_NONE,
	                             .mem_total_int = AGG_NONE,
	                             .vcpus_running_int = AGG_NONE,
	                             .vm_mem_int = AGG_NONE,
	                             .vm_cpu_ns = AGG_NONE,
	                             .vm_delay_ns = AGG_NONE,
	                             .vm_vcpu_ms = AGG_NONE};
	agg_host_figures_compute(&bare, ms, &f);
	assert_int_equal(f.coverage_bp, 0);
	assert_int_equal(f.cpus, AGG_NONE);
	assert_int_equal(f.busy_bp, AGG_NONE);
	assert_int_equal(f.demand_bp, AGG_NONE);
	assert_int_equal(f.vcpu_ratio_bp, AGG_NONE);
	assert_int_equal(f.delay_bp, AGG_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bp),
	    cmocka_unit_test(test_percentile),
	    cmocka_unit_test(test_vm),
	    cmocka_unit_test(test_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
