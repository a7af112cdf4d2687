/* The aggregator's section of vmeter.conf, `aggregator { }`
 * (vmeter.conf(5), docs/ANALYSIS.md): the cycle, the analysis windows and
 * the classification thresholds.
 *
 * Durations are written "90s", "15m", "1h", "7d"; shares "5%" or "2.5%"
 * (at most two decimals).  Both are checked when the file is read, with
 * FILE:LINE and the option named (lib/conf.h); agg_settings_load() turns
 * them into seconds and basis points (1 % = 100 bp). */
#ifndef AGG_SETTINGS_H
#define AGG_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"

struct agg_settings {
	int interval_s;        /* a cycle at every multiple of it in UTC */
	int lag_s;             /* the window ends this long before the cycle */
	int64_t current_s;     /* the current figures' window */
	int64_t contention_s;  /* starved and noisy: whole hours */
	int64_t idle_s;        /* idle: whole hours */
	int64_t sizing_s;      /* oversized, undersized: whole hours */
	int64_t poweroff_s;    /* off this long while defined: powered-off */
	int min_coverage_bp;   /* below it a window's verdict is "unknown" */
	int idle_cpu_bp;       /* average CPU of the allocation below it ... */
	int64_t idle_disk_bps; /* ... and disk bytes/s ... */
	int64_t idle_net_bps;  /* ... and network bytes/s: idle */
	int percentile;        /* the sizing percentile, 95 */
	int oversized_bp;      /* percentile below it: oversized */
	int undersized_bp;     /* percentile above it: undersized */
	int target_bp;         /* recommended size: percentile demand / target */
	int starved_bp;        /* vCPU delay above it: starved */
	int noisy_host_bp;     /* a host's vCPU delay above it: look for noisy VMs */
	int noisy_share_bp;    /* a VM's share of its host's CPU or I/O above it: noisy */
	int top_vms;           /* VMs listed as a host's dominant load */
	/* the policies (docs/POLICIES.md) */
	const char *rules;          /* a glob of rule files; "" none (owned by the conf) */
	int rules_interval_s;       /* a rule cycle every multiple of it */
	int64_t rules_lag_s;        /* rule windows end this long before the cycle */
	bool dry_run;               /* nothing acts */
	const char *opt_out_tag;    /* "key=value": VMs without virt actions; "" none */
	int64_t host_down_s;        /* a host without minutes this long silences its VMs */
	const char *metrics_listen; /* "127.0.0.1:9464"; "" none */
	int action_workers;
};

/* The table vm_conf_load_program() reads the section with. */
extern const struct vm_conf_program agg_conf_program;

/* Loads `path` with the aggregator's section and fills *s.  Returns the
 * configuration (the caller frees it with vm_conf_free()) or NULL with
 * "FILE:LINE: ..." in err. */
struct vm_conf *agg_settings_load(const char *path, struct agg_settings *s, char *err, size_t errsize);

/* "7d", "90s", "15m", "1h" (a number and a unit) to seconds; -1 if it is
 * not one, or beyond 3660 days. */
int64_t agg_duration_parse(const char *text);
/* "5%", "2.5%", "0.25%" to basis points (0..10000); -1 if it is not one. */
int agg_share_parse(const char *text);

#endif
