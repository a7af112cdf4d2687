/* One analysis cycle against PostgreSQL (docs/ANALYSIS.md): reads the
 * usage of the current window and the hourly usage of the classification
 * windows through the rollups' readers (vm_usage_between(),
 * host_usage_between(), agg_vm_hours()) and the lifecycle
 * (vm_lifecycle_between()), computes the figures (figures.h) and the
 * classes (classify.h), and stores them in one transaction: the latest
 * figures of each VM and host replaced, each VM's classes kept with the
 * time it entered them, and a history row for every change.
 *
 * The window ends `lag` before the cycle's time, on a whole minute (the
 * current figures) and on the whole hour before it (the classes): the
 * collector writes a minute once its next sample is in, and a later
 * cycle sees what was late. */
#ifndef AGG_ANALYSIS_H
#define AGG_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "pg.h"
#include "settings.h"

struct agg_cycle_stats {
	int64_t window_end; /* UTC seconds: the current figures' end */
	int64_t class_end;  /* the classes' windows' end (a whole hour) */
	int vms, hosts, changes;
};

/* Runs the cycle for `cycle_at` (UTC seconds).  Returns 0, or -1 with
 * the message in err (nothing of the cycle stored; the connection may be
 * broken: vm_pg_broken()). */
int agg_analysis_run(struct vm_pg *pg, const struct agg_settings *s, int64_t cycle_at, struct agg_cycle_stats *st,
                     char *err, size_t errsize);

/* The analysis' session advisory lock, so that two aggregators (or a
 * `run` beside the daemon) do not both work: 1 taken, 0 held by another
 * session, -1 the database failed (vm_pg_error()). */
int agg_analysis_lock(struct vm_pg *pg);
void agg_analysis_unlock(struct vm_pg *pg);

#endif
