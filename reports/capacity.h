/* The capacity report (issue 15): per host, host class or tenant over a
 * period, from the hourly rollups (vm_usage_hour, host_usage_hour) and
 * the inventory:
 *   - utilisation: average, 95th percentile and peak of the hourly CPU,
 *     memory, disk and network demand (the VMs' use), the hosts' own busy
 *     CPU, and the running allocation (vCPUs, RAM); overcommit of the VMs
 *     defined at the period's end; usable capacity after the HA reserve
 *     (the largest hosts of a group held back) and the buffer;
 *   - headroom: VMs of one size that still fit, per host (bin-packing: the
 *     fewest over the resources of floor(free / size)) and per group, by
 *     demand and by allocation; time until CPU, memory or disk demand
 *     reaches the usable capacity, from reports/forecast.h over the hourly
 *     series, with method, window, fit and band;
 *   - reclaimable capacity: powered-off, idle and oversized VMs with their
 *     month's cost (capacity_cost.h) and recommended size;
 *   - what-if: VMs added, hosts removed, and the headroom and time after.
 * Written as CSV, JSON, HTML and PDF (capacity_out.c).  Figures are
 * estimates in doubles; money is integer and comes as text from
 * capacity_cost.h.  What each figure means: docs/REPORTS.md.  Blocking
 * (lib/pg.h). */
#ifndef REP_CAPACITY_H
#define REP_CAPACITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "money.h"
#include "pg.h"

/* ---------------------------------------------------------------- configuration */

/* vmeter.conf's `reports { }` section (vmeter.conf(5)). */
struct rep_conf {
	int ha_reserve_hosts;  /* per group: the capacity of this many of its largest hosts held back */
	int buffer_percent;    /* of what is left after the HA reserve */
	int host_disk_gib;     /* each host's storage for VM disks; 0: unknown (no disk headroom) */
	int vcpu_per_pcpu;     /* the allocation model's vCPU:pCPU limit */
	char *vm_size;         /* "VCPUS:MEM_GIB[:DISK_GIB]"; "": the fleet's median VM */
	char *host_classes;    /* "NAME=GLOB[,GLOB...] ..."; a host in none: its hardware ("32cpu-256GiB") */
	int idle_cpu_percent;  /* idle: average CPU below this share of the allocation */
	int oversized_percent; /* oversized: 95th percentile below this share */
	int rightsize_percent; /* recommended vCPUs: the 95th percentile at this share */
	int forecast_days;     /* how far time remaining looks */
};

/* The section's table for vm_conf_load_program(); values land in a struct
 * rep_conf (conf->program_values). */
extern const struct vm_conf_program rep_conf_program;

/* ---------------------------------------------------------------- parameters */

enum rep_cap_group { REP_CAP_BY_HOST, REP_CAP_BY_CLASS, REP_CAP_BY_TENANT };

/* A VM size: vCPUs, memory and disk in bytes (KiB for memory). */
struct rep_cap_size {
	int64_t vcpus, mem_kib, disk_bytes;
};

/* One what-if step: N VMs of a size added, or a host removed. */
#define REP_CAP_MAX_WHATIF 8
struct rep_cap_whatif {
	bool remove;
	int64_t add_n;
	struct rep_cap_size size; /* add; disk_bytes -1: the report's VM size's */
	char host[256];           /* remove */
};

struct rep_cap_params {
	int64_t from, to; /* UTC seconds, whole hours, from < to */
	int last_hours;   /* --last: from and to are resolved from the rollups (0: not) */
	char period[64];  /* as the report prints it */
	enum rep_cap_group group;
	const char *host, *tenant; /* NULL: all (borrowed) */
	struct rep_cap_whatif whatif[REP_CAP_MAX_WHATIF];
	size_t n_whatif;
	const struct rep_conf *conf; /* borrowed */
	int64_t now;                 /* UTC seconds: the future is refused */
};

/* "2026-10-01..2026-10-31" (UTC days, both included) or, month not NULL,
 * "2026-10" into p->from, p->to and p->period.  0, or -1 with why. */
int rep_cap_period_parse(const char *period, const char *month, struct rep_cap_params *p, char *err, size_t errsize);
/* "N" followed by h or d (1 to 8784 hours): the period of the last N
 * hours the rollups have closed, ending at the last closed hour (at most
 * the current hour's start); rep_cap_last_resolve() sets from and to from
 * the database.  For the first hours of a fleet, and for a report of the
 * day so far.  0, or -1 with why. */
int rep_cap_last_parse(const char *text, struct rep_cap_params *p, char *err, size_t errsize);
/* p->from, p->to and p->period of a rep_cap_last_parse() period at
 * p->now, from rollup_state.closed_upto.  0, or -1 with why (no hour
 * closed yet, the database). */
int rep_cap_last_resolve(struct vm_pg *pg, struct rep_cap_params *p, char *err, size_t errsize);
/* "add=N:VCPUS:MEM_GIB[:DISK_GIB]" or "remove-host=H" into *w.  0, or -1
 * with why. */
int rep_cap_whatif_parse(const char *text, struct rep_cap_whatif *w, char *err, size_t errsize);
/* "VCPUS:MEM_GIB[:DISK_GIB]" (each a whole number > 0).  0 or -1. */
int rep_cap_size_parse(const char *text, struct rep_cap_size *s);

/* ---------------------------------------------------------------- the report */

enum { REP_CAP_CPU, REP_CAP_MEM, REP_CAP_DISK, REP_CAP_NET, REP_CAP_NRES };

/* Average, 95th percentile (nearest rank) and peak of an hourly series
 * over its hours with data; n: those hours (0: no figures). */
struct rep_cap_stat {
	double avg, p95, peak;
	size_t n;
};

/* Time until a demand reaches the usable capacity. */
struct rep_cap_forecast {
	bool done;                       /* false: no fit (why) */
	bool threshold;                  /* hours .. latest are meaningful: the row has a capacity */
	char why[160];                   /* when !done */
	const char *method;              /* "linear", "holt-winters" */
	size_t steps, used;              /* the window in hours, and hours with data */
	double r2, sigma;                /* of the fit, in the resource's unit */
	double hours, earliest, latest;  /* -1: not within the horizon; 0: already over */
	double at_horizon, at_lo, at_hi; /* the forecast at the horizon and its band */
};

/* What a group (a host, a class, a tenant, the fleet) is and does. */
struct rep_cap_row {
	char *name;
	const char *kind; /* "host", "class", "tenant", "fleet" */
	size_t n_hosts, n_vms;
	bool capacity; /* hosts with known capacity: a tenant has none */
	/* capacity: CPU in cores, memory in KiB, disk in bytes (0: unknown) */
	double cap[REP_CAP_NRES], reserve[REP_CAP_NRES], usable[REP_CAP_NRES];
	struct rep_cap_stat demand[REP_CAP_NRES];   /* cores, KiB, bytes, bit/s */
	struct rep_cap_stat busy;                   /* host CPU busy, cores (host_usage_hour) */
	struct rep_cap_stat alloc_vcpus, alloc_mem; /* running allocation: vCPUs, KiB */
	int64_t vcpus, mem_kib;                     /* allocated by the VMs defined at the end */
	double vcpu_ratio, mem_ratio;               /* overcommit: vCPU:pCPU, allocated:physical RAM */
	int64_t fit_demand, fit_alloc;              /* headroom in VMs of the size; -1: n/a */
	struct rep_cap_forecast fc[REP_CAP_NRES];   /* CPU, memory, disk */
	/* after the what-if steps */
	bool removed;
	int64_t wi_fit_demand, wi_fit_alloc;
	struct rep_cap_forecast wi_fc[REP_CAP_NRES];
	double *series[REP_CAP_NRES]; /* hourly demand (NaN: no data); owned */
	/* for the charts (fleet and the first REP_CAP_CHART_ROWS rows): per
	 * day, the period's peak hour, then the forecast's highest hour and
	 * its band's lower and upper edge, chart_n days in all (NaN where
	 * none); owned */
	double *chart[REP_CAP_NRES][4];
	size_t chart_n;
};
#define REP_CAP_CHART_ROWS 8
#define REP_CAP_CHART_DAYS 90 /* at most, after the period */

/* A reclaimable VM; a VM is counted once: powered-off, else idle, else
 * oversized. */
struct rep_cap_vm {
	char *uuid, *name, *tenant, *host;
	const char *kind; /* "powered-off", "idle", "oversized" */
	int64_t vcpus, mem_kib;
	double cpu_avg, cpu_p95; /* cores, while observed */
	int64_t rec_vcpus;       /* recommended; 0 for a powered-off VM */
	bool cost;
	vm_money amount;
	char currency[4], document[64], month[8];
	bool final;
};

struct rep_cap {
	struct rep_cap_params p;
	char generated[32];
	struct rep_cap_size size;
	bool size_from_fleet;
	size_t hours, hours_unclean; /* in the period; of them not rolled up yet */
	struct rep_cap_row *rows;    /* the grouping's rows, then the fleet */
	size_t n_rows;
	struct rep_cap_vm *vms;
	size_t n_vms;
	int64_t whatif_unplaced; /* VMs of add steps that fit on no host */
	double horizon_hours;
};

#define REP_CAP_EUSAGE 2 /* rep_cap_load(): refused as a usage error (the future) */

/* Reads and computes the report.  0 with *out (free with rep_cap_free()),
 * -1 (refused: unknown host or tenant, no data, the database) or
 * -REP_CAP_EUSAGE (a period in the future, a bad what-if host) with why
 * in err. */
int rep_cap_load(struct vm_pg *pg, const struct rep_cap_params *p, struct rep_cap **out, char *err, size_t errsize);
void rep_cap_free(struct rep_cap *r);

/* The report's writers: 0, or -1 on a write error. */
int rep_cap_csv(const struct rep_cap *r, FILE *f);
int rep_cap_json(const struct rep_cap *r, FILE *f);
int rep_cap_html(const struct rep_cap *r, FILE *f);
/* The PDF at path (through path.tmp); *pages.  0, or -1 with why. */
int rep_cap_pdf(const struct rep_cap *r, const char *path, int *pages, char *err, size_t errsize);

#endif
