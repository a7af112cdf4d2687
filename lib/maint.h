/* Storage maintenance, run centrally (vmeter-admin maintain today, the
 * aggregator's daemon later): partitions created ahead, closed hours
 * rolled up, expired partitions dropped (sql/005_storage.sql), older days
 * of VM minutes packed (sql/006_packed.sql, lib/packed.h).
 *
 * A run holds a session advisory lock for its whole length: a second run
 * on the same database at the same time refuses to start rather than
 * roll the same hours twice in parallel.  Each hour is rolled up in a
 * transaction of its own, so collectors wait at most one hour's rollup
 * for a late row of that hour, and a run that is stopped keeps what it
 * finished. */
#ifndef VM_MAINT_H
#define VM_MAINT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The least raw retention: an invoice period (31 days) plus time for
 * corrections and late deliveries. */
#define VM_MAINT_MIN_RAW_DAYS 40

struct vm_maint_opts {
	int64_t now_ns;      /* the run's idea of now (tests move it) */
	int grace_s;         /* an hour closes this long after its end (late minutes) */
	int ahead_days;      /* partitions made ahead of now */
	int raw_days;        /* > 0: new retention of the minutes, else unchanged */
	int hourly_days;     /* > 0: new retention of the hourly rollups */
	int daily_days;      /* > 0: new retention of the daily rollups */
	int pack_after_days; /* > 0: new policy: pack VM minutes of days ended this long ago */
	bool no_retention;   /* roll up, drop nothing */
	bool no_pack;        /* pack no day this run */
	/* Called with a line for each thing done (a partition dropped or
	 * kept); may be NULL. */
	void (*note)(void *arg, const char *line);
	void *note_arg;
};

struct vm_maint_report {
	unsigned partitions_created;
	unsigned hours_rolled; /* (hour, host) pairs recomputed */
	unsigned partitions_dropped;
	unsigned partitions_kept; /* old enough, but their hours are not rolled up */
	unsigned days_packed;
	uint64_t hours_packed;   /* packed rows written (VM, host, hour) */
	uint64_t hours_unpacked; /* packed rows moved back to be rolled up again */
	int64_t closed_upto_ns;
};

enum vm_maint_result {
	VM_MAINT_OK = 0,
	VM_MAINT_FAILED = -1,     /* message in err */
	VM_MAINT_BUSY = -2,       /* another run holds the lock */
	VM_MAINT_BAD_OPTION = -3, /* the options contradict the stored policy */
};

/* Sets the defaults: now, 120 s grace, 7 days ahead, retention and packing
 * policy unchanged. */
void vm_maint_opts_init(struct vm_maint_opts *o);

/* Checks the retention options (raw >= VM_MAINT_MIN_RAW_DAYS, hourly >=
 * raw, daily >= hourly, counting the ones left unchanged as they are in
 * the database when pg is given).  Returns 0 or -1 with a message. */
int vm_maint_check(PGconn *pg, const struct vm_maint_opts *o, char *err, size_t errsize);

/* One run on a connection with no transaction open: partitions, rollups
 * (a dirty hour with packed minutes is unpacked first, in its rollup's
 * transaction), retention, then packing, a day per transaction.  Fills *r
 * as far as it got. */
enum vm_maint_result vm_maint_run(PGconn *pg, const struct vm_maint_opts *o, struct vm_maint_report *r, char *err,
                                  size_t errsize);

/* Moves the packed VM minutes of the whole UTC hours in [from_ns, to_ns)
 * back into vm_usage_minute (to read them raw), under the maintenance
 * lock, in one transaction.  Their hours are marked dirty: the next run
 * rolls them up (to the same sums) and packs the days again when they
 * are due.  *hours: packed rows moved. */
enum vm_maint_result vm_maint_unpack(PGconn *pg, int64_t from_ns, int64_t to_ns, uint64_t *hours, char *err,
                                     size_t errsize);

#endif
