/* The minute series rules read: per VM, host and tenant, the metrics of
 * each minute over the last `keep` minutes, in memory, and the windowed
 * functions of expr.h computed from them.
 *
 * The daemon fills it from the minute rows once per minute (the minutes
 * new since its last fill and a few before, for rows delivered late), so a
 * cycle every 10 s evaluates 50 rules over 10 000 VMs from memory instead
 * of asking PostgreSQL for the same windows again (bench/aggregator.sh);
 * a back-test fills it once for its whole range.  Pure: the tests fill it
 * by hand.
 *
 * Trust, as the analysis reads it (docs/ANALYSIS.md): a window's observed
 * time is the sum of its minutes' coverage (a lost minute has none); below
 * min-coverage of the window's length the function is unknown, never 0 or
 * idle.  A minute whose metric was not measured (no balloon figures) does
 * not count as observed for that metric. */
#ifndef AGG_SERIES_H
#define AGG_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expr.h"

enum agg_kind { AGG_KIND_VM, AGG_KIND_HOST, AGG_KIND_TENANT };
#define AGG_KINDS 3

/* "vm", "host", "tenant"; NULL outside the enum. */
const char *agg_kind_name(enum agg_kind k);
/* The kind named: 0, or -1. */
int agg_kind_parse(const char *name, enum agg_kind *k);

/* The metrics, in the order of agg_metric_table()'s names. */
enum agg_metric {
	AGG_M_VM_CPU_ALLOC,    /* vm.cpu.alloc_pct: CPU time / (vCPUs x observed) x 100 */
	AGG_M_VM_CPU_HOST,     /* vm.cpu.host_pct: CPU time / (host CPUs x observed) x 100 */
	AGG_M_VM_DELAY,        /* vm.vcpu.delay_pct: vCPU delay / (vCPUs x observed) x 100 */
	AGG_M_VM_VCPUS,        /* vm.vcpus */
	AGG_M_VM_RSS_PCT,      /* vm.mem.rss_pct: rss / allocated x 100 */
	AGG_M_VM_USED_PCT,     /* vm.mem.used_pct: (available - usable) / allocated x 100 */
	AGG_M_VM_RSS_KIB,      /* vm.mem.rss_kib */
	AGG_M_VM_DISK_RD,      /* vm.disk.read_bps: bytes per observed second */
	AGG_M_VM_DISK_WR,      /* vm.disk.write_bps */
	AGG_M_VM_NET_RX,       /* vm.net.rx_bps */
	AGG_M_VM_NET_TX,       /* vm.net.tx_bps */
	AGG_M_HOST_BUSY,       /* host.cpu.busy_pct: busy / capacity x 100 */
	AGG_M_HOST_DEMAND,     /* host.cpu.demand_pct: its VMs' CPU time / capacity x 100 */
	AGG_M_HOST_DELAY,      /* host.vcpu.delay_pct: its VMs' vCPU delay / their vCPU time x 100 */
	AGG_M_HOST_MEM_USED,   /* host.mem.used_pct: (total - free) / total x 100 */
	AGG_M_HOST_VCPU_RATIO, /* host.vcpu_ratio: running vCPUs / CPUs */
	AGG_M_HOST_MEM_RATIO,  /* host.mem_ratio: running VMs' memory / physical memory */
	AGG_M_HOST_VMS,        /* host.vms: running VMs */
	AGG_M_TENANT_CORES,    /* tenant.cpu.cores: its VMs' CPU time / observed time */
	AGG_M_TENANT_VCPUS,    /* tenant.vcpus: its VMs' vCPUs */
	AGG_M_TENANT_VMS,      /* tenant.vms: its VMs observed in the minute */
	AGG_M_TENANT_NET,      /* tenant.net.bps: its VMs' network bytes (both ways) per second */
	AGG_M_COUNT
};

/* The table conditions are parsed with (static). */
const struct agg_metric_table *agg_metric_table(void);
enum agg_kind agg_metric_kind(int metric);

/* One VM's minute row (vm_usage_minute's columns); NAN where NULL. */
struct agg_vm_minute {
	int64_t minute_ns;
	int coverage_ms;
	double cpu_ns, delay_ns, vcpus, mem_max_kib, rss_kib, avail_kib, usable_kib;
	double disk_rd, disk_wr, net_rx, net_tx; /* bytes in the minute */
};

/* One host's minute row (host_usage_minute's); NAN where NULL. */
struct agg_host_minute {
	int64_t minute_ns;
	int coverage_ms;
	double capacity_ns, busy_ns, cpus, mem_total_kib, mem_free_kib, vcpus_running, vm_mem_kib, vms_running;
};

/* What a subject is: its key (a VM's UUID, a host's or tenant's name) and
 * what scopes and actions need.  Strings owned by the series. */
struct agg_subject {
	const char *key, *name;
	const char *host, *host_uri, *tenant; /* a VM's (its inventory's); a host's URI; NULL: unknown */
	const char *const *tags;              /* a VM's tags, "key=value" */
	size_t n_tags;
	int host_idx;      /* a VM's host, -1: none */
	int64_t newest_ns; /* the newest minute held (hosts: "is its collector reporting") */
	bool present;      /* in the inventory or the minutes of the last fill */
};

struct agg_series;

/* Series keeping the minutes of the last `keep_ns` (rounded up to whole
 * minutes, at least 1); windows below min_coverage_bp observed are
 * unknown. */
struct agg_series *agg_series_new(int64_t keep_ns, int min_coverage_bp);
void agg_series_free(struct agg_series *s);

/* The index of the subject `key` of kind k, added if new: stable for the
 * series' life. */
int agg_series_subject(struct agg_series *s, enum agg_kind k, const char *key);
/* Its index, or -1. */
int agg_series_find(const struct agg_series *s, enum agg_kind k, const char *key);
size_t agg_series_count(const struct agg_series *s, enum agg_kind k);
const struct agg_subject *agg_series_info(const struct agg_series *s, enum agg_kind k, int idx);
/* A VM's inventory: name, host (added as a host subject), tenant (added),
 * tags; copies every string. */
void agg_series_set_vm(struct agg_series *s, int vm, const char *name, const char *host, const char *tenant,
                       const char *const *tags, size_t n_tags);
void agg_series_set_host_uri(struct agg_series *s, int host, const char *uri);
/* Marks every subject absent (before a fill of the inventory). */
void agg_series_clear_present(struct agg_series *s);

/* Stores a minute, a VM's with the host it ran on (-1: unknown); one
 * stored again replaces the first (a VM on two hosts in a minute keeps the
 * row read last). */
void agg_series_put_vm(struct agg_series *s, int vm, int host, const struct agg_vm_minute *m);
void agg_series_put_host(struct agg_series *s, int host, const struct agg_host_minute *m);
/* Forgets every kept minute in [from, to) (before they are read again). */
void agg_series_forget(struct agg_series *s, int64_t from_ns, int64_t to_ns);
/* Computes what sums VMs (host demand and delay, the tenants) and what
 * needs a VM's host (vm.cpu.host_pct) over [from, to), after the puts of
 * a fill; then the generation changes. */
void agg_series_finish(struct agg_series *s, int64_t from_ns, int64_t to_ns);
/* Changes whenever the kept values change: a cache of evaluations keys on it. */
uint64_t agg_series_generation(const struct agg_series *s);

/* q over the window ending at end_ns (exclusive, a whole minute) for
 * subject idx of kind k; a host metric of a VM is its host's.  0 with
 * *value, or -1: unknown (too little observed, no such subject). */
int agg_series_query(const struct agg_series *s, enum agg_kind k, int idx, const struct agg_query *q, int64_t end_ns,
                     double *value);

/* Bytes held (the benchmark's memory figure). */
size_t agg_series_bytes(const struct agg_series *s);

#endif
