/* The usage model: meters, per-minute rows and the accumulator that turns
 * sampled intervals into rows aligned to UTC minutes.
 *
 * A meter is either a counter (its per-minute value is the sum of the
 * deltas that fell into the minute) or a gauge (its per-minute values are
 * the time-weighted average and the maximum of the sampled level).  The
 * meters of a VM and of a host are fixed tables (vm_usage_vm_meters(),
 * vm_usage_host_meters()); the database columns, RRD data sources and
 * CSV columns are all derived from these tables.
 *
 * Intervals: the collector reports what it learnt between two samples
 * t0 < t1 as one interval [t0, t1): counter deltas, and gauge levels as
 * seen at t0 (a level holds until the next sample).  An interval that
 * crosses minute boundaries is split in proportion to time, with integer
 * arithmetic that conserves the delta exactly.  Coverage is the time of a
 * minute covered by intervals: a VM that lived 20 s of a minute has 20 s of
 * coverage.  Coverage is kept in milliseconds in rows, nanoseconds inside. */
#ifndef VM_USAGE_H
#define VM_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vm_meter_kind { VM_METER_COUNTER, VM_METER_GAUGE };

struct vm_meter {
	const char *name; /* column stem, e.g. "cpu_ns"; gauges add _avg/_max */
	enum vm_meter_kind kind;
	const char *unit;   /* "ns", "bytes", "KiB", ... */
	const char *rrd_ds; /* RRD data-source name (<= 19 chars) or NULL */
};

struct vm_meter_set {
	const char *name; /* "vm", "host" or "traffic" */
	const struct vm_meter *meters;
	size_t n;
	size_t n_counters; /* counters come first in `meters` */
};

/* The VM meters, in this order (index constants below). */
enum {
	VM_M_CPU_NS,
	VM_M_CPU_USER_NS,
	VM_M_CPU_SYSTEM_NS,
	VM_M_VCPU_NS,
	VM_M_VCPU_DELAY_NS,
	VM_M_VCPU_WAIT_NS,
	VM_M_RUNNING_MS,
	VM_M_DISK_RD_BYTES,
	VM_M_DISK_WR_BYTES,
	VM_M_DISK_RD_REQS,
	VM_M_DISK_WR_REQS,
	VM_M_DISK_RD_NS,
	VM_M_DISK_WR_NS,
	VM_M_DISK_FL_REQS,
	VM_M_DISK_FL_NS,
	VM_M_NET_RX_BYTES,
	VM_M_NET_TX_BYTES,
	VM_M_NET_RX_PKTS,
	VM_M_NET_TX_PKTS,
	VM_M_NET_RX_ERRS,
	VM_M_NET_TX_ERRS,
	VM_M_NET_RX_DROP,
	VM_M_NET_TX_DROP,
	/* gauges */
	VM_M_VCPUS,
	VM_M_MEM_MAX_KIB,
	VM_M_BALLOON_KIB,
	VM_M_RSS_KIB,
	VM_M_USABLE_KIB,
	VM_M_AVAILABLE_KIB,
	VM_M_UNUSED_KIB,
	VM_M_DISK_CAPACITY,
	VM_M_DISK_ALLOCATION,
	VM_M__COUNT
};

enum {
	HOST_M_CPU_CAPACITY_NS, /* cpus x wall time: what the host could give */
	HOST_M_CPU_BUSY_NS,
	HOST_M_CPU_USER_NS,
	HOST_M_CPU_SYSTEM_NS,
	HOST_M_CPU_IOWAIT_NS,
	HOST_M_CPU_IDLE_NS,
	/* gauges */
	HOST_M_CPUS,
	HOST_M_MEM_TOTAL_KIB,
	HOST_M_MEM_FREE_KIB,
	HOST_M_MEM_CACHED_KIB,
	HOST_M_VMS_RUNNING,
	HOST_M_VCPUS_RUNNING,
	HOST_M_VM_MEM_KIB,
	HOST_M__COUNT
};

/* The host's measured energy (host_power_minute): RAPL's counters
 * (collector/power.h), summed over the zones that make up the host. */
enum { POWER_M_ENERGY_UJ, POWER_M__COUNT };

#define VM_USAGE_MAX_METERS 40

const struct vm_meter_set *vm_usage_vm_meters(void);
const struct vm_meter_set *vm_usage_host_meters(void);
/* The meter set of a VM's per-class traffic RRD file (the collector writes
 * it, any traffic graph reads it): rx/tx bytes and packets, all counters
 * (DERIVE), in this order. */
const struct vm_meter_set *vm_usage_traffic_meters(void);
/* The meter set of the host's energy rows (named "power"): energy_uj, a
 * counter.  A set of its own, not a host meter: a host without RAPL has no
 * energy rows at all, where a host meter would make its every host row
 * carry a NULL. */
const struct vm_meter_set *vm_usage_power_meters(void);

/* What one interval [t0, t1) contributes.  `have` bit i says meter i is
 * present; absent meters (a guest without a balloon driver reports no
 * usable memory) do not count as zero. */
struct vm_usage_interval {
	int64_t t0, t1;
	uint64_t have;
	uint64_t value[VM_USAGE_MAX_METERS]; /* counter delta or gauge level */
};

/* One closed minute of one VM or host.  For counter i, sum[i] holds the
 * sum; for gauge i, avg[i] and max[i].  Bit i of `have` says meter i was
 * observed at all in the minute (otherwise the column is NULL). */
struct vm_usage_row {
	const struct vm_meter_set *set;
	int64_t minute_ns;   /* start of the UTC minute */
	int32_t coverage_ms; /* 0..60000 */
	int32_t samples;     /* intervals that ended in this minute */
	uint64_t have;
	uint64_t sum[VM_USAGE_MAX_METERS];
	uint64_t avg[VM_USAGE_MAX_METERS];
	uint64_t max[VM_USAGE_MAX_METERS];
	uint64_t late; /* counter deltas from before a closed minute, or not placed in time (see below) */
};

typedef void (*vm_usage_row_cb)(const struct vm_usage_row *row, void *arg);

struct vm_usage_acc;

/* A new accumulator for one entity; free with vm_usage_acc_free(). */
struct vm_usage_acc *vm_usage_acc_new(const struct vm_meter_set *set);
void vm_usage_acc_free(struct vm_usage_acc *acc);

/* Adds one interval.  Returns 0, or -1 (nothing added) if t1 <= t0.
 * The part of the interval before the accumulator's closed mark (a minute
 * already emitted, because the entity was not sampled for too long) adds
 * its counter deltas to the earliest open minute, flagged in `late`, but no
 * coverage and no gauge time: usage is never lost, and coverage says only
 * what was observed in time. */
int vm_usage_acc_add(struct vm_usage_acc *acc, const struct vm_usage_interval *iv);

/* Emits every open minute that ends at or before `upto_ns`, oldest first,
 * through `cb`, and marks time before the last emitted minute's end closed.
 * Pass INT64_MAX to flush everything (the entity is gone).  Returns the
 * number of rows emitted. */
size_t vm_usage_acc_close(struct vm_usage_acc *acc, int64_t upto_ns, vm_usage_row_cb cb, void *arg);

/* Adds the counter deltas of iv, which cannot be placed in time (the wall
 * clock stepped back over them: real usage of wall time already covered),
 * to the minute of at_ns, or to the earliest open minute if that one is
 * closed, flagged in `late` like the deltas above: no coverage, no sample,
 * no gauge time.  iv's times are not used. */
void vm_usage_acc_add_late(struct vm_usage_acc *acc, int64_t at_ns, const struct vm_usage_interval *iv);

/* vm_usage_acc_add() then vm_usage_acc_close(upto_ns), the same rows, but
 * each minute is emitted as soon as the interval has added its share to
 * it, so that the minute it straddles into reuses its memory: one open
 * minute an entity instead of two at every minute boundary (issue 17: half
 * a KB a VM).  Returns what vm_usage_acc_add() does; with -1 nothing is
 * added or emitted. */
int vm_usage_acc_add_close(struct vm_usage_acc *acc, const struct vm_usage_interval *iv, int64_t upto_ns,
                           vm_usage_row_cb cb, void *arg);

/* End of the last closed minute (0 if none). */
int64_t vm_usage_acc_closed_upto(const struct vm_usage_acc *acc);
/* Number of minutes currently open. */
size_t vm_usage_acc_open_minutes(const struct vm_usage_acc *acc);

/* The accumulator's state (closed mark and open minutes) in the form
 * collector/resume.h keeps across restarts. */
struct vm_binw;
struct vm_binr;
void vm_usage_acc_save(const struct vm_usage_acc *acc, struct vm_binw *w);
/* Replaces acc's state with a saved one.  Returns 0, or -1 (acc left
 * empty, r marked bad) when it does not parse or is not consistent: more
 * than max_open minutes, minutes not aligned or out of order, meters the
 * set does not have. */
int vm_usage_acc_load(struct vm_usage_acc *acc, struct vm_binr *r, size_t max_open);

/* Splits `delta` over [t0, t1) and returns the share of [a, b) (a subrange
 * of it) so that the shares of adjacent subranges add up to delta exactly. */
uint64_t vm_usage_share(uint64_t delta, int64_t t0, int64_t t1, int64_t a, int64_t b);

#endif
