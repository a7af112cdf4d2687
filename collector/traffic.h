/* Per-minute accumulation of captured traffic (collector/capture.h): one
 * VM's bytes and packets per traffic class and direction, the time its
 * interfaces were captured and libvirt's own byte counts for comparison;
 * or the host's capture health (frames, drops, time without a worker).
 *
 * Like lib/usage.h, an interval that crosses minute boundaries is split in
 * proportion to time with integer arithmetic that conserves every count
 * exactly (vm_usage_share()).  A minute, once closed, is never emitted
 * again: the database keeps the first copy of a minute's row, so counts
 * that arrive for a closed minute go to the earliest open one instead.
 * Not thread-safe. */
#ifndef COL_TRAFFIC_H
#define COL_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "pktclass.h"
#include "usage.h"

struct col_traffic_acc;

struct col_traffic_acc *col_traffic_acc_new(void);
void col_traffic_acc_free(struct col_traffic_acc *acc);

/* Counts of one class and direction over [t0, t1).  class_name is
 * copied (at most VM_NETCLASS_NAME_MAX bytes).  Nothing if t1 <= t0. */
void col_traffic_acc_add(struct col_traffic_acc *acc, int64_t t0, int64_t t1, const char *class_name,
                         enum vm_pkt_dir dir, uint64_t bytes, uint64_t packets);

/* covered_ns of [t0, t1) was captured (at most t1 - t0).  The part
 * before the closed mark is not counted: coverage says only what was
 * observed in time. */
void col_traffic_acc_cover(struct col_traffic_acc *acc, int64_t t0, int64_t t1, uint64_t covered_ns);

/* libvirt's interface byte counts of the minute starting at minute_ns
 * (the minute's usage row); ignored for a closed minute. */
void col_traffic_acc_libvirt(struct col_traffic_acc *acc, int64_t minute_ns, bool have_rx, uint64_t rx, bool have_tx,
                             uint64_t tx);

/* The host's capture statistics of [t0, t1) (uncovered_ns at most
 * t1 - t0). */
void col_traffic_acc_add_host(struct col_traffic_acc *acc, int64_t t0, int64_t t1, uint64_t frames, uint64_t drops,
                              uint64_t ifdrops, uint64_t uncovered_ns);

typedef void (*col_traffic_cb)(const struct vm_db_traffic *tr, void *arg);
typedef void (*col_traffic_host_cb)(const struct vm_db_host_capture *hc, void *arg);

/* Emits every open minute that ends at or before upto_ns, oldest first, as
 * a VM's traffic minute for `uuid` (classes with non-zero counts, sorted by
 * name; borrowed for the call), and marks time before floor(upto_ns) to
 * the minute closed.  INT64_MAX flushes everything.  Returns the count. */
size_t col_traffic_acc_close(struct col_traffic_acc *acc, int64_t upto_ns, const char *uuid, col_traffic_cb cb,
                             void *arg);
/* The same for the host's capture minutes. */
size_t col_traffic_acc_close_host(struct col_traffic_acc *acc, int64_t upto_ns, col_traffic_host_cb cb, void *arg);

size_t col_traffic_acc_open_minutes(const struct col_traffic_acc *acc);

/* The accumulator's state for collector/resume.h.  load replaces acc's
 * state; 0, or -1 (acc left empty, r marked bad) when it does not parse
 * or holds more than max_open minutes. */
struct vm_binw;
struct vm_binr;
void col_traffic_acc_save(const struct col_traffic_acc *acc, struct vm_binw *w);
int col_traffic_acc_load(struct col_traffic_acc *acc, struct vm_binr *r, size_t max_open);

#endif
