/* PostgreSQL access shared by the programs (libpq, blocking calls: run it
 * on a thread of its own, never on an event loop).
 *
 * Every query is parameterised.  Usage rows are written in batches: COPY
 * into a temporary staging table, then one INSERT ... ON CONFLICT DO
 * NOTHING, so a batch that is sent twice (its commit outcome was unknown)
 * changes nothing the second time. */
#ifndef VM_DB_H
#define VM_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domxml.h"
#include "usage.h"

struct vm_db;

/* Connects; returns NULL with libpq's message in err.  timeout_s > 0 bounds
 * the connect and every round trip after it: a database that does not
 * answer within it counts as lost (vm_db_broken()), whatever TCP says; it
 * also sets libpq's connect_timeout, tcp_user_timeout and keepalives where
 * conninfo does not.  0 waits as long as libpq does. */
struct vm_db *vm_db_connect(const char *conninfo, int timeout_s, char *err, size_t errsize);

/* Why a call failed, for a caller that backs off and says what happened. */
enum vm_db_failure {
	VM_DB_OK,
	VM_DB_UNREACHABLE, /* no connection, lost, timed out, server starting or stopping */
	VM_DB_REFUSED,   /* the server answered with an error (a privilege, a login, a constraint: SQLSTATE classes 42,
	                    28, 23) */
	VM_DB_ABANDONED, /* abort_fd became readable: the caller is stopping */
};

/* vm_db_connect(), and every wait for the server, the connect's included,
 * also ends when abort_fd (borrowed; -1 for none) becomes readable: a
 * thread that must stop writes to a pipe whose read end it is, and the
 * round trip in flight fails at once with VM_DB_ABANDONED.  Keep it
 * readable from then on.  On failure *why says which kind it was.
 * Server warnings on the connection go to the log (lib/log.h). */
struct vm_db *vm_db_connect_ex(const char *conninfo, int timeout_s, int abort_fd, enum vm_db_failure *why, char *err,
                               size_t errsize);
void vm_db_close(struct vm_db *db);
/* libpq's last error text, for logs. */
const char *vm_db_error(const struct vm_db *db);
/* True if the connection is known to be broken or timed out (reconnect). */
int vm_db_broken(const struct vm_db *db);
/* After a call failed: whether the server refused it (the connection is
 * fine: retry later), the connection is gone (reconnect) or it was
 * abandoned (stop). */
/* Whether an idle connection still stands, without a round trip: what the
 * server sent meanwhile is read (a shutdown's FATAL, a close).  false with
 * the reason in vm_db_error(); the connection is then unreachable. */
bool vm_db_alive(struct vm_db *db);
enum vm_db_failure vm_db_failure(const struct vm_db *db);

/* Applies the missing migrations, each in its own transaction, and
 * reports what it did through *applied.  Returns 0 or -1. */
int vm_db_migrate(struct vm_db *db, unsigned *from_version, unsigned *to_version);
/* The schema version in the database (0 if none), or -1 on error. */
int vm_db_schema_version(struct vm_db *db);
/* Fails unless the database has exactly the schema this build knows. */
int vm_db_check_schema(struct vm_db *db);

struct vm_host_info {
	char hostname[256];
	char libvirt_uri[256];
	unsigned cpus, mhz, numa_nodes, sockets, cores, threads;
	uint64_t memory_kib;
	char cpu_model[64];
};

/* Registers the host (idempotent) and records its inventory if it changed.
 * Returns 0 or -1. */
int vm_db_host_register(struct vm_db *db, const struct vm_host_info *host, int64_t at_ns);

/* A row to deliver: one VM's (uuid set) or the host's (uuid empty) minute. */
struct vm_db_usage {
	char uuid[37];
	struct vm_usage_row row;
};

/* Writes `n` rows for `hostname` in one transaction.  On success stores how
 * many were new in *inserted (the rest were already there).  Returns 0, or
 * -1 with nothing written. */
int vm_db_write_usage(struct vm_db *db, const char *hostname, const struct vm_db_usage *rows, size_t n,
                      size_t *inserted);

/* One traffic class of a VM's minute (vm_traffic_minute). */
struct vm_db_traffic_class {
	char name[32]; /* VM_NETCLASS_NAME_MAX + 1 */
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
};

/* A VM's minute of captured traffic: its vm_capture_minute row and a
 * vm_traffic_minute row per class.  classes is borrowed by the writers. */
struct vm_db_traffic {
	char uuid[37];
	int64_t minute_ns;
	int32_t captured_ms; /* 0..60000 */
	bool have_libvirt_rx, have_libvirt_tx;
	uint64_t libvirt_rx_bytes, libvirt_tx_bytes;
	const struct vm_db_traffic_class *classes;
	size_t n_classes;
};

/* The host's capture health in a minute (host_capture_minute). */
struct vm_db_host_capture {
	int64_t minute_ns;
	uint64_t frames, drops, ifdrops;
	int32_t uncovered_ms; /* 0..60000 */
};

/* Writes `n` VM traffic minutes (each: its coverage row, its class rows)
 * and `n_host` host capture minutes for `hostname`, in one transaction (or
 * the caller's).  A minute already stored is left as it is, so a resent
 * batch changes nothing; *inserted counts the new coverage and host rows.
 * Returns 0, or -1 with nothing written. */
int vm_db_write_traffic(struct vm_db *db, const char *hostname, const struct vm_db_traffic *rows, size_t n,
                        const struct vm_db_host_capture *host, size_t n_host, size_t *inserted);

/* Records an inventory state valid from `at_ns` unless the latest recorded
 * state before it is identical.  Returns 0 or -1. */
int vm_db_write_inventory(struct vm_db *db, const char *hostname, const struct vm_inventory *inv, int64_t at_ns);

/* Records a lifecycle event (idempotent). */
int vm_db_write_event(struct vm_db *db, const char *hostname, const char *uuid, int64_t at_ns, const char *event,
                      const char *detail);

/* Coverage a collector measured but could not keep (vm_usage_loss). */
/* Lost coverage of a VM: lost_ms in each minute from first_ns to last_ns
 * (minute starts, inclusive). */
struct vm_db_loss {
	char uuid[37];
	int64_t first_ns, last_ns;
	int32_t lost_ms;
};

/* Records lost coverage, a row per VM-minute; a VM-minute already recorded
 * is left as it is.  Returns 0 or -1. */
int vm_db_write_losses(struct vm_db *db, const char *hostname, const struct vm_db_loss *rows, size_t n,
                       const char *reason);

/* A transaction around several writes: between vm_db_begin() and
 * vm_db_commit() the write functions above join it instead of committing
 * on their own; after any of them fails, call vm_db_rollback().  Each
 * returns 0 or -1. */
int vm_db_begin(struct vm_db *db);
int vm_db_commit(struct vm_db *db); /* rolls back if the commit fails */
void vm_db_rollback(struct vm_db *db);

/* The host's delivery high-water mark: the last spool record (of the spool
 * named spool_id) whose content is committed.  Set it inside the
 * transaction that stores the records, so that the two never disagree. */
int vm_db_set_mark(struct vm_db *db, const char *hostname, const char *spool_id, uint64_t seq);
/* *seq = the mark for this host and spool, 0 if none. */
int vm_db_get_mark(struct vm_db *db, const char *hostname, const char *spool_id, uint64_t *seq);

#endif
