/* Classifications of a VM over configurable windows (docs/ANALYSIS.md):
 *
 *   size        powered-off, idle, undersized, oversized (with a
 *               recommended size), right-sized, or unknown
 *   contention  starved (its vCPUs wait for host CPUs), ok, or unknown
 *   neighbour   noisy (a large share of a contended host's CPU or I/O),
 *               ok, or unknown
 *
 * A window whose observed time is below min-coverage of its length gives
 * "unknown": minutes partly covered or recorded lost are never read as
 * idle (or as anything else).  Pure functions of a VM's hourly usage and
 * the settings, with the window's end given by the caller; each verdict
 * has its evidence as JSON (values, thresholds, window). */
#ifndef AGG_CLASSIFY_H
#define AGG_CLASSIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "settings.h"

/* A VM's usage in one UTC hour on one host (agg_vm_hours() in
 * sql/010_analysis.sql).  Unknown sums are AGG_NONE (figures.h). */
struct agg_hour {
	int64_t hour; /* UTC seconds */
	int host_id;
	int64_t minutes, observed_ms, lost_ms;
	int64_t cpu_ns, vcpu_ms, delay_ns;
	int64_t disk_bytes, net_bytes;
	int64_t rss_int, rss_ms, avail_int, usable_int, avail_ms;
};

/* One VM: its hours by time (a VM on two hosts in an hour has two rows
 * for it), its allocation at the window's end, and whether its lifecycle
 * says it is defined and off since off_since (UTC seconds) through the
 * whole powered-off-after. */
struct agg_vm_input {
	const struct agg_hour *hours; /* borrowed */
	size_t n;
	int vcpus; /* AGG_NONE if unknown */
	int64_t mem_kib;
	bool powered_off;
	int64_t off_since;
};

/* The sums of a window [from, to) (UTC seconds) and what they give. */
struct agg_window {
	int64_t from, to;
	int64_t observed_ms, unknown_ms, coverage_bp;
	int64_t cpu_ns, vcpu_ms, delay_ns, disk_bytes, net_bytes;
	int64_t cpu_bp, delay_bp, disk_bps, net_bps;
};

void agg_window_sum(const struct agg_vm_input *in, int64_t from, int64_t to, struct agg_window *w);

enum agg_size {
	AGG_SIZE_UNKNOWN,
	AGG_SIZE_POWERED_OFF,
	AGG_SIZE_IDLE,
	AGG_SIZE_UNDERSIZED,
	AGG_SIZE_OVERSIZED,
	AGG_SIZE_RIGHT,
};
/* "unknown", "powered-off", "idle", "undersized", "oversized",
 * "right-sized"; NULL outside the enum. */
const char *agg_size_name(enum agg_size c);

struct agg_size_verdict {
	enum agg_size cls;
	struct agg_window w; /* the window the verdict rests on */
	/* sizing: the percentile of the hourly CPU share and of the hourly
	 * memory the guest used (or its RSS), and the recommended size;
	 * AGG_NONE where not computed */
	int64_t p_cpu_bp, p_used_kib, p_mem_bp, rec_vcpus, rec_mem_kib;
	const char *reason; /* a short static text */
};

/* The recommended vCPUs for a demand of p_cpu_bp of `vcpus`: the demand
 * over the target share, rounded up, at least 1; AGG_NONE if unknown. */
int64_t agg_recommend_vcpus(int64_t p_cpu_bp, int vcpus, int target_bp);
/* The recommended memory for p_used_kib used: over the target share,
 * rounded up to 256 MiB, at least 256 MiB; AGG_NONE if unknown. */
int64_t agg_recommend_mem_kib(int64_t p_used_kib, int target_bp);

/* The size class at window end `end` (UTC seconds, a whole hour). */
void agg_judge_size(const struct agg_vm_input *in, const struct agg_settings *s, int64_t end,
                    struct agg_size_verdict *v);

enum agg_verdict { AGG_V_UNKNOWN, AGG_V_OK, AGG_V_FLAGGED };
/* "starved" or "noisy" for AGG_V_FLAGGED of the dimension, else "ok",
 * "unknown". */
const char *agg_contention_name(enum agg_verdict c);
const char *agg_neighbour_name(enum agg_verdict c);

/* Starved: its vCPU delay over the contention window above starved-delay. */
void agg_judge_contention(const struct agg_vm_input *in, const struct agg_settings *s, int64_t end, enum agg_verdict *c,
                          struct agg_window *w);

/* A VM on a host over the contention window, and the host's totals over
 * all its VMs; rank is the VM's place by CPU share (1: the largest). */
struct agg_neighbour_in {
	int64_t observed_ms, cpu_ns, disk_bytes;
	int64_t host_delay_ns, host_vcpu_ms, host_cpu_ns, host_disk_bytes;
	int host_vms, rank;
};
struct agg_neighbour_verdict {
	enum agg_verdict cls;
	int64_t coverage_bp, host_delay_bp, cpu_share_bp, io_share_bp;
};
/* Noisy: the host's vCPU delay above noisy-host-delay, the host shared
 * with another VM at least, and the VM's share of the host's VM CPU time
 * or disk bytes above noisy-share.  window_s is the window's length. */
void agg_judge_neighbour(const struct agg_neighbour_in *in, const struct agg_settings *s, int64_t window_s,
                         struct agg_neighbour_verdict *v);

/* The evidence of each verdict: a new JSON object (the caller owns it). */
json_t *agg_size_evidence(const struct agg_size_verdict *v, const struct agg_vm_input *in,
                          const struct agg_settings *s);
json_t *agg_contention_evidence(enum agg_verdict c, const struct agg_window *w, const struct agg_settings *s);
json_t *agg_neighbour_evidence(const struct agg_neighbour_verdict *v, const struct agg_neighbour_in *in,
                               const struct agg_settings *s);

#endif
