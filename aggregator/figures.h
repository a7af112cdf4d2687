/* The figures of the analysis (docs/ANALYSIS.md): a VM's CPU against its
 * allocation and its host, contention, memory and I/O rates; a host's
 * demand and overcommit.  Pure integer arithmetic on sums the caller read
 * from the rollups, so that the tests compute the same numbers by other
 * means.
 *
 * Shares are basis points (1 % = 100 bp), rounded down; rates are bytes
 * per observed second, rounded down.  AGG_NONE (-1) stands for unknown
 * everywhere: an input that was not measured (SQL NULL) or a figure with
 * nothing to divide by.  Time that was not observed (the rest of a partly
 * covered minute, a minute recorded lost) is in no denominator: it is
 * unknown, not idle. */
#ifndef AGG_FIGURES_H
#define AGG_FIGURES_H

#include <stddef.h>
#include <stdint.h>

#define AGG_NONE ((int64_t)-1)

/* num * 10000 / den, rounded down; AGG_NONE if either is unknown or den
 * is not positive. */
int64_t agg_bp(int64_t num, int64_t den);
/* The ratio of two time-weighted averages, a_int / a_ms : b_int / b_ms,
 * in basis points; AGG_NONE if any is unknown or a divisor is 0. */
int64_t agg_ratio_bp(int64_t a_int, int64_t a_ms, int64_t b_int, int64_t b_ms);
/* A time-weighted average g_int / g_ms, rounded down; AGG_NONE as above. */
int64_t agg_avg(int64_t g_int, int64_t g_ms);
/* bytes per second over ms milliseconds, rounded down. */
int64_t agg_rate(int64_t bytes, int64_t ms);
/* The p-th percentile (1..100) of n values by nearest rank: the smallest
 * value that at least p % of the values do not exceed.  Sorts v in place
 * (borrowed).  AGG_NONE if n is 0. */
int64_t agg_percentile(int64_t *v, size_t n, int p);

/* A VM's usage summed over a window, as vm_usage_between() gives it.
 * Each field may be AGG_NONE but the first three. */
struct agg_vm_sums {
	int64_t minutes;                 /* minute rows */
	int64_t observed_ms;             /* their coverage */
	int64_t lost_ms;                 /* recorded lost (vm_usage_loss) */
	int64_t cpu_ns;                  /* CPU time of the domain */
	int64_t vcpu_ms;                 /* vcpus_int: vCPUs x observed ms */
	int64_t delay_ns;                /* vCPU delay: runnable, waiting for a host CPU */
	int64_t mem_max_int, mem_max_ms; /* allocated memory, KiB x ms */
	int64_t balloon_int, balloon_ms;
	int64_t rss_int, rss_ms;
	int64_t avail_int, usable_int, avail_ms;  /* both over the same minutes */
	int64_t disk_rd, disk_wr, net_rx, net_tx; /* bytes */
};

/* What the VM is allocated and where it runs, for the denominators. */
struct agg_vm_alloc {
	int vcpus;             /* inventory; AGG_NONE if none */
	int64_t mem_kib;       /* inventory maximum memory; AGG_NONE if none */
	int64_t host_cpus_int; /* the host's cpus_int and cpus_ms (time-weighted) */
	int64_t host_cpus_ms;
	int64_t host_mem_kib; /* the host's physical memory; AGG_NONE if unknown */
};

struct agg_vm_figures {
	int64_t observed_ms, unknown_ms, coverage_bp;
	int64_t vcpu_ms; /* the allocation's vCPU time the shares divide by */
	int64_t cpu_alloc_bp, cpu_host_bp, delay_bp;
	int64_t mem_alloc_kib, balloon_kib, rss_kib, used_kib, host_mem_kib;
	int64_t rss_alloc_bp, used_alloc_bp, rss_host_bp;
	int64_t disk_rd_bps, disk_wr_bps, net_rx_bps, net_tx_bps;
};

/* A VM's figures over a window of window_ms.  The allocation's vCPU time
 * is the measured vcpu_ms, or the inventory's vCPUs x observed time where
 * the minutes have none. */
void agg_vm_figures_compute(const struct agg_vm_sums *u, const struct agg_vm_alloc *a, int64_t window_ms,
                            struct agg_vm_figures *f);

/* A host's usage over the window (host_usage_between()) and its VMs'. */
struct agg_host_sums {
	int64_t observed_ms;
	int64_t capacity_ns, busy_ns; /* host CPU time: all CPUs, busy */
	int64_t cpus_int, cpus_ms;
	int64_t mem_total_int, mem_total_ms;
	int64_t vcpus_running_int, vcpus_running_ms;
	int64_t vm_mem_int, vm_mem_ms;
	int64_t vm_cpu_ns; /* the sum of its VMs' CPU time (demand) */
	int64_t vm_delay_ns, vm_vcpu_ms;
};

struct agg_host_figures {
	int64_t observed_ms, coverage_bp;
	int64_t cpus, mem_total_kib;
	int64_t busy_bp, demand_bp, vcpu_ratio_bp, mem_ratio_bp, delay_bp;
};

void agg_host_figures_compute(const struct agg_host_sums *h, int64_t window_ms, struct agg_host_figures *f);

#endif
