/* RRD files for graphs: one file per VM ("vm-<uuid>.rrd") and one per host
 * ("host-<hostname>.rrd") under a directory, written through rrdcached
 * over its Unix socket, or directly when rrdcached is not configured or is
 * down (with one log line when that starts and one when it ends).
 *
 * The files serve graphs; the per-minute history is the database's.  Data
 * sources come from a struct vm_meter_set: a counter meter with an rrd_ds
 * name (the meters a dashboard draws, lib/usage.c) becomes DERIVE with
 * minimum 0 (a reset gives one unknown step, never a spike), a gauge
 * becomes GAUGE.  Archives: the step (the sampling interval) for 2 hours
 * (AVERAGE), then AVERAGE and MAX of 1 minute for 36 hours, 15 minutes for
 * 5 weeks, 12 hours for 13 months and 1 day for 5 years: 137 KB a data
 * source at a 10 s step, 189 KB at 1 s (a VM: 3.3 MB, 4.5 MB).
 *
 * A file in another layout (data sources or archives of an older vmeter,
 * or a step the interval no longer fits in) is converted at its first
 * update, keeping its data where both layouts have it, after rrdcached has
 * written out and forgotten what it held for it; one that cannot be (a
 * data source of ours with another type, or a failed conversion) is moved
 * to "<name>.rrd.old-layout" and started anew.  Either with one log line. */
#ifndef VM_RRDOUT_H
#define VM_RRDOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usage.h"

struct vm_rrd;

/* `dir` is created if missing.  `daemon` is "unix:/path/to/sock" (a TCP
 * address is refused: rrdcached has no authentication) or NULL/"" for
 * direct writes.  `step_s` is the sampling interval.  Returns NULL with a
 * message in err.  The strings are copied. */
struct vm_rrd *vm_rrd_new(const char *dir, const char *daemon, int step_s, char *err, size_t errsize);
void vm_rrd_free(struct vm_rrd *rrd);

/* With async set, a missing file is created, and an old one converted
 * (about 1 s a file at a 10 s step, 5 s at 1 s), on a thread of the
 * instance's own, and the samples that arrive meanwhile are skipped (a
 * graph starts a little later; nothing else is lost).  Off by default: the first update
 * creates the file itself. */
void vm_rrd_set_async_create(struct vm_rrd *rrd, bool async);

/* With batching on (max > 0), updates for rrdcached are queued and sent in
 * BATCHes of `max`, as each fills, and by vm_rrd_commit() (a round trip per
 * `max` files instead of one per file); updates written directly are not
 * affected.  Off (0) by default.  A queued update holds ~700 bytes until it
 * is sent: VM_RRD_BATCH_MAX keeps that bounded (issue 17, where a whole
 * pass of a large fleet was one BATCH). */
#define VM_RRD_BATCH_MAX 256
void vm_rrd_set_batch(struct vm_rrd *rrd, size_t max);
/* Sends the queued updates.  A refused one is logged per file (which is
 * checked again at its next update); if the daemon is lost on the way, the
 * batch is written directly.  Returns 0, or -1 if some update failed, in
 * this BATCH or one sent since the last commit as it filled. */
int vm_rrd_commit(struct vm_rrd *rrd);

/* Path of the file for `name` ("vm-<uuid>" or "host-<name>"); caller frees. */
char *vm_rrd_path(const struct vm_rrd *rrd, const char *name);

/* Writes one sample at time t_ns: for counters the raw cumulative value,
 * for gauges the level; meters whose bit is clear in `have` are written as
 * unknown.  Creates (or converts) the file on first use.  Returns 0 or -1.
 * Graphs are best effort and their failures recur every interval, so this
 * module reports them itself, by the outage rule (once when a file or the
 * daemon starts failing, once on recovery): the caller need not log. */
int vm_rrd_update(struct vm_rrd *rrd, const char *name, const struct vm_meter_set *set, int64_t t_ns, uint64_t have,
                  const uint64_t *values);

/* Asks rrdcached to write out everything it holds (no-op without it, or
 * during an outage already logged).  Returns 0, or -1 with a message in
 * err. */
int vm_rrd_flush_all(struct vm_rrd *rrd, char *err, size_t errsize);

/* Renders a PNG graph of the data sources `ds` (comma separated, NULL for
 * a sensible default per set) of file `name` over [start, end] (epoch
 * seconds) to `png`.  Returns 0 or -1 with rrdtool's message in err. */
int vm_rrd_graph(struct vm_rrd *rrd, const char *name, const struct vm_meter_set *set, const char *ds, int64_t start_s,
                 int64_t end_s, const char *png, char *err, size_t errsize);

/* What vm_rrd_fetch() read: n_rows rows of n_ds values, row r at time
 * start_s + (r + 1) * step_s (the step that ends there), NaN where
 * unknown.  Owned: vm_rrd_series_release(). */
struct vm_rrd_series {
	int64_t start_s, end_s;
	unsigned long step_s;
	size_t n_ds, n_rows;
	char **ds_names;
	double *values; /* values[r * n_ds + d] */
};

/* Reads file `name` over (start_s, end_s] with consolidation cf
 * ("AVERAGE" or "MAX") at the finest archive of at least resolution_s
 * that covers the range (librrd's rrd_fetch_r(): it widens the range to
 * whole steps), after rrdcached has written out what it holds for the
 * file.  Blocking: a thread's work, not an event loop's.  Returns 0 with
 * out filled, 1 if there is no such file (out empty), -1 with a message
 * in err. */
int vm_rrd_fetch(struct vm_rrd *rrd, const char *name, const char *cf, int64_t start_s, int64_t end_s,
                 unsigned long resolution_s, struct vm_rrd_series *out, char *err, size_t errsize);
void vm_rrd_series_release(struct vm_rrd_series *s);

#endif
