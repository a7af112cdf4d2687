/* The collector's writes to PostgreSQL, on a lib/pg.h connection (blocking:
 * the writer's delivery thread runs them).
 *
 * Every query is parameterised but a batch's dirty marks (literals of our
 * own).  Usage rows are written in batches: COPY into the table under a
 * savepoint, or, when a row is already there (a batch sent again after its
 * commit's outcome was unknown), into a temporary staging table and then
 * INSERT ... ON CONFLICT DO NOTHING, so a batch that is sent twice changes
 * nothing the second time.  Each batch marks the hours of its minutes
 * dirty for the rollups (sql/005_storage.sql's vm_mark_hours()).
 *
 * Errors: each call returns 0 or -1; the message ("what failed: libpq's
 * text") and its kind are the connection's: vm_pg_error() and
 * vm_pg_failure() of the vm_pg given to col_db_new(). */
#ifndef COL_DBWRITE_H
#define COL_DBWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "inventory.h"
#include "pg.h"

struct col_db;

/* The writer state of one connection: pg is borrowed and must be connected
 * and outlive it.  It caches VM ids and staging tables of that session, so
 * make a new one after each (re)connect.  Never NULL. */
struct col_db *col_db_new(struct vm_pg *pg);
void col_db_free(struct col_db *db);

/* Registers the host (idempotent) and records its inventory if it changed. */
int col_db_host_register(struct col_db *db, const struct vm_host_info *host, int64_t at_ns);

/* Writes `n` rows for `hostname` in one transaction (or the caller's): VM
 * rows to vm_usage_minute, host rows to host_usage_minute, energy rows to
 * host_power_minute (each by its row.set).  On
 * success stores how many were new in *inserted (the rest were already
 * there).  -1 with nothing written. */
int col_db_write_usage(struct col_db *db, const char *hostname, const struct vm_db_usage *rows, size_t n,
                       size_t *inserted);

/* Writes `n` VM traffic minutes (each: its coverage row, its class rows)
 * and `n_host` host capture minutes for `hostname`, in one transaction (or
 * the caller's).  A minute already stored is left as it is, so a resent
 * batch changes nothing; *inserted counts the new coverage and host rows.
 * -1 with nothing written. */
int col_db_write_traffic(struct col_db *db, const char *hostname, const struct vm_db_traffic *rows, size_t n,
                         const struct vm_db_host_capture *host, size_t n_host, size_t *inserted);

/* Records an inventory state valid from `at_ns` unless the latest recorded
 * state before it is identical. */
int col_db_write_inventory(struct col_db *db, const char *hostname, const struct vm_inventory *inv, int64_t at_ns);

/* Records a lifecycle event (idempotent). */
int col_db_write_event(struct col_db *db, const char *hostname, const char *uuid, int64_t at_ns, const char *event,
                       const char *detail);

/* Lost coverage of a VM (vm_usage_loss): lost_ms in each minute from
 * first_ns to last_ns (minute starts, inclusive). */
struct col_db_loss {
	char uuid[37];
	int64_t first_ns, last_ns;
	int32_t lost_ms;
};

/* Records lost coverage, a row per VM-minute; a VM-minute already recorded
 * is left as it is. */
int col_db_write_losses(struct col_db *db, const char *hostname, const struct col_db_loss *rows, size_t n,
                        const char *reason);

/* A transaction around several writes: between col_db_begin() and
 * col_db_commit() the write functions above join it instead of committing
 * on their own; after any of them fails, call col_db_rollback(). */
/* Makes sure the day partitions of the per-minute tables exist for the
 * minutes from from_ns to to_ns (sql/005_storage.sql's
 * vm_ensure_partitions(), in a transaction of its own: call it before
 * col_db_begin()).  Days it made sure of are remembered: the usual call
 * costs no round trip.  Fails, VM_PG_REFUSED, for minutes of a day that
 * retention already dropped.  0 or -1. */
int col_db_ensure_days(struct col_db *db, int64_t from_ns, int64_t to_ns);
/* Forgets the days made sure of (after a write failed: a partition may
 * have been dropped meanwhile). */
void col_db_forget_days(struct col_db *db);

int col_db_begin(struct col_db *db);
int col_db_commit(struct col_db *db); /* rolls back if the commit fails */
void col_db_rollback(struct col_db *db);

/* The host's delivery high-water mark: the last spool record (of the spool
 * named spool_id) whose content is committed.  Set it inside the
 * transaction that stores the records, so that the two never disagree. */
int col_db_set_mark(struct col_db *db, const char *hostname, const char *spool_id, uint64_t seq);
/* *seq = the mark for this host and spool, 0 if none. */
int col_db_get_mark(struct col_db *db, const char *hostname, const char *spool_id, uint64_t *seq);

#endif
