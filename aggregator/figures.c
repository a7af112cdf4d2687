/* The analysis' figures (figures.h). */
#include "config.h"

#include "figures.h"

#include <stdlib.h>

/* Products go through __int128: CPU nanoseconds of a fortnight times
 * 10000 pass 2^63. */
typedef __int128 wide;

static int64_t div_down(wide num, wide den)
{
	if (den <= 0 || num < 0)
		return AGG_NONE;
	wide q = num / den;
	return q > INT64_MAX ? INT64_MAX : (int64_t)q;
}

int64_t agg_bp(int64_t num, int64_t den)
{
	if (num < 0 || den <= 0)
		return AGG_NONE;
	return div_down((wide)num * 10000, den);
}

int64_t agg_ratio_bp(int64_t a_int, int64_t a_ms, int64_t b_int, int64_t b_ms)
{
	if (a_int < 0 || a_ms <= 0 || b_int <= 0 || b_ms <= 0)
		return AGG_NONE;
	return div_down((wide)a_int * b_ms * 10000, (wide)a_ms * b_int);
}

int64_t agg_avg(int64_t g_int, int64_t g_ms)
{
	if (g_int < 0 || g_ms <= 0)
		return AGG_NONE;
	return g_int / g_ms;
}

int64_t agg_rate(int64_t bytes, int64_t ms)
{
	if (bytes < 0 || ms <= 0)
		return AGG_NONE;
	return div_down((wide)bytes * 1000, ms);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int64_t agg_percentile(int64_t *v, size_t n, int p)
{
	if (n == 0 || p < 1 || p > 100)
		return AGG_NONE;
	qsort(v, n, sizeof *v, cmp_i64);
	size_t rank = ((size_t)p * n + 99) / 100; /* ceil(p/100 x n), 1-based */
	return v[rank ? rank - 1 : 0];
}

void agg_vm_figures_compute(const struct agg_vm_sums *u, const struct agg_vm_alloc *a, int64_t window_ms,
                            struct agg_vm_figures *f)
{
	f->observed_ms = u->observed_ms;
	/* not observed: the rest of each minute the VM had, and what the
	 * collector recorded lost (which has no minute row of its own) */
	int64_t rest = u->minutes * 60000 - u->observed_ms;
	f->unknown_ms = (rest > 0 ? rest : 0) + (u->lost_ms > 0 ? u->lost_ms : 0);
	f->coverage_bp = agg_bp(u->observed_ms, window_ms);
	if (f->coverage_bp > 10000)
		f->coverage_bp = 10000;
	f->vcpu_ms = u->vcpu_ms > 0 ? u->vcpu_ms : a->vcpus > 0 ? (int64_t)a->vcpus * u->observed_ms : AGG_NONE;
	f->cpu_alloc_bp = f->vcpu_ms > 0 ? div_down((wide)u->cpu_ns * 10000, (wide)f->vcpu_ms * 1000000) : AGG_NONE;
	if (u->cpu_ns < 0)
		f->cpu_alloc_bp = AGG_NONE;
	/* CPU time / (host CPUs x observed time), the host's CPUs being the
	 * time-weighted average cpus_int / cpus_ms */
	if (u->cpu_ns >= 0 && a->host_cpus_int > 0 && a->host_cpus_ms > 0 && u->observed_ms > 0)
		f->cpu_host_bp = div_down((wide)u->cpu_ns * 10000 * a->host_cpus_ms,
		                          (wide)a->host_cpus_int * u->observed_ms * 1000000);
	else
		f->cpu_host_bp = AGG_NONE;
	f->delay_bp = u->delay_ns >= 0 && f->vcpu_ms > 0
	                  ? div_down((wide)u->delay_ns * 10000, (wide)f->vcpu_ms * 1000000)
	                  : AGG_NONE;

	int64_t mem_max = agg_avg(u->mem_max_int, u->mem_max_ms);
	f->mem_alloc_kib = mem_max > 0 ? mem_max : a->mem_kib > 0 ? a->mem_kib : AGG_NONE;
	f->balloon_kib = agg_avg(u->balloon_int, u->balloon_ms);
	f->rss_kib = agg_avg(u->rss_int, u->rss_ms);
	/* the guest's own use: what it has (available) less what it could
	 * still use without swapping (usable) */
	f->used_kib = u->avail_int >= 0 && u->usable_int >= 0 && u->avail_ms > 0 && u->avail_int >= u->usable_int
	                  ? (u->avail_int - u->usable_int) / u->avail_ms
	                  : AGG_NONE;
	f->host_mem_kib = a->host_mem_kib > 0 ? a->host_mem_kib : AGG_NONE;
	f->rss_alloc_bp = agg_bp(f->rss_kib, f->mem_alloc_kib);
	f->used_alloc_bp = agg_bp(f->used_kib, f->mem_alloc_kib);
	f->rss_host_bp = agg_bp(f->rss_kib, f->host_mem_kib);

	f->disk_rd_bps = agg_rate(u->disk_rd, u->observed_ms);
	f->disk_wr_bps = agg_rate(u->disk_wr, u->observed_ms);
	f->net_rx_bps = agg_rate(u->net_rx, u->observed_ms);
	f->net_tx_bps = agg_rate(u->net_tx, u->observed_ms);
}

void agg_host_figures_compute(const struct agg_host_sums *h, int64_t window_ms, struct agg_host_figures *f)
{
	f->observed_ms = h->observed_ms;
	f->coverage_bp = agg_bp(h->observed_ms, window_ms);
	if (f->coverage_bp > 10000)
		f->coverage_bp = 10000;
	/* whole CPUs, rounded to the nearest: a host's count rarely changes */
	f->cpus = h->cpus_int >= 0 && h->cpus_ms > 0 ? (h->cpus_int + h->cpus_ms / 2) / h->cpus_ms : AGG_NONE;
	f->mem_total_kib = agg_avg(h->mem_total_int, h->mem_total_ms);
	f->busy_bp = agg_bp(h->busy_ns, h->capacity_ns);
	f->demand_bp = agg_bp(h->vm_cpu_ns, h->capacity_ns);
	f->vcpu_ratio_bp = agg_ratio_bp(h->vcpus_running_int, h->vcpus_running_ms, h->cpus_int, h->cpus_ms);
	f->mem_ratio_bp = agg_ratio_bp(h->vm_mem_int, h->vm_mem_ms, h->mem_total_int, h->mem_total_ms);
	f->delay_bp = h->vm_delay_ns >= 0 && h->vm_vcpu_ms > 0
	                  ? div_down((wide)h->vm_delay_ns * 10000, (wide)h->vm_vcpu_ms * 1000000)
	                  : AGG_NONE;
}
