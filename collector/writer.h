/* Durable delivery of what the collector measures: usage rows, inventory
 * changes, lifecycle events and host inventory.
 *
 * The main thread appends records to the spool on disk (lib/spool.h) and
 * commits them once per sampling pass; only committed records exist.  A
 * thread of the writer's own reads them back in order and delivers them to
 * PostgreSQL in batches, each batch in one transaction with the host's
 * delivery mark; the records leave the spool only after that commit.  A
 * batch whose outcome is unknown is sent again: the database's keys make a
 * second copy a no-op.  So a database outage, a restart or a crash loses
 * nothing and counts nothing twice.
 *
 * What cannot be spooled (the spool is at its cap or the disk is full) is
 * counted per VM and minute as lost coverage, logged once per episode and
 * written to vm_usage_loss when the database is reachable.
 *
 * Order: records are delivered in the order they were committed; a backlog
 * drains in batches of batch_rows with fresh records behind it. */
#ifndef COL_WRITER_H
#define COL_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "inventory.h"
#include "spool.h"
#include "usage.h"

struct col_writer;

struct col_writer_opts {
	const char *conninfo;
	const char *hostname;
	const char *spool_dir;
	size_t batch_rows;
	int reconnect_max_s;
	int timeout_s;      /* a database round trip at most (vm_pg_new()) */
	uint64_t spool_cap; /* bytes */
	enum vm_spool_sync sync;
	uint32_t sync_interval_ms;
	const char *status_path; /* JSON status file, NULL for none */
};

struct col_writer_stats {
	uint64_t delivered;    /* usage rows newly stored */
	uint64_t duplicates;   /* usage rows the database already had */
	uint64_t lost_rows;    /* usage rows that could not be spooled */
	uint64_t lost_ms;      /* their coverage */
	uint64_t lost_traffic; /* traffic and host capture minutes that could not be spooled */
	uint64_t failures;     /* failed delivery attempts */
	uint64_t pending;      /* spooled records not yet delivered */
	uint64_t spool_bytes;
	int64_t oldest_ns; /* append time of the oldest pending record, 0 if none */
};

/* Opens the spool and starts the delivery thread.  Strings are copied.
 * Returns NULL with a message in err. */
struct col_writer *col_writer_new(const struct col_writer_opts *opts, char *err, size_t errsize);
/* Commits what was appended, delivers for up to timeout_ms, then stops:
 * at the deadline the database round trip in flight is abandoned, and with
 * the database unreachable or refusing it stops at once.  What is not
 * delivered stays in the spool for the next start.  Writes the status file
 * a last time with "state": "stopped". */
void col_writer_free(struct col_writer *w, int timeout_ms);
void col_writer_set_conninfo(struct col_writer *w, const char *conninfo);
/* Main thread: libvirt's state for the status file ("libvirt", its
 * "libvirt_since" and "libvirt_error"; vmeter-admin's libvirt-down).
 * since_ns is when it began (wall clock), kept while the state does not
 * change; why (copied, NULL for none) says what failed. */
void col_writer_set_libvirt(struct col_writer *w, bool up, int64_t since_ns, const char *why);
/* Main thread: how many VMs' domain XML exceeded vmeter's limits at their
 * last read (their inventory is incomplete), for the status file. */
void col_writer_set_inventory_incomplete(struct col_writer *w, size_t n);
/* The sampling work since start, for the status file: what a benchmark
 * divides its CPU by, and how a reader sees one pass per tick. */
struct col_writer_passes {
	uint64_t passes;         /* sampling passes on the grid (not the start's or stop's) */
	uint64_t domain_samples; /* samples those passes took */
	uint64_t libvirt_calls;  /* per-domain calls of the fallback (col_virt_call_counts) */
	uint64_t libvirt_saved;  /* calls the steady-value rule saved */
	uint64_t ticks_skipped;  /* grid points a pass overran (each logged) */
};
/* Main thread. */
void col_writer_set_passes(struct col_writer *w, const struct col_writer_passes *p);

/* Main thread.  uuid NULL: a host row.  Nothing is kept of the arguments
 * but push_inventory, which takes ownership of inv (vm_xmalloc'd). */
void col_writer_push_usage(struct col_writer *w, const char *uuid, const struct vm_usage_row *row);
/* push_inventory returns 0, or -1 when the change could not be spooled. */
int col_writer_push_inventory(struct col_writer *w, struct vm_inventory *inv, int64_t at_ns);
/* A VM's usage of [from_ns, to_ns) that cannot be known, for vm_usage_loss
 * (through the spool, like rows). */
void col_writer_push_loss(struct col_writer *w, const char *uuid, int64_t from_ns, int64_t to_ns, const char *reason);
/* The spool's last committed record; with_appended, the one the next
 * commit reaches (collector/resume.h). */
uint64_t col_writer_spool_seq(struct col_writer *w, bool with_appended);
void col_writer_push_event(struct col_writer *w, const char *uuid, int64_t at_ns, const char *event,
                           const char *detail);
void col_writer_push_host(struct col_writer *w, const struct vm_host_info *host, int64_t at_ns);
/* Main thread: a VM's traffic minute, the host's capture minute (copied). */
void col_writer_push_traffic(struct col_writer *w, const struct vm_db_traffic *tr);
void col_writer_push_host_capture(struct col_writer *w, const struct vm_db_host_capture *hc);
/* Main thread, after each pass: makes the records appended since the last
 * call durable (per the sync policy) and visible to delivery.  Returns 0,
 * or -1 when they could not be spooled (counted as lost). */
int col_writer_commit(struct col_writer *w);

struct col_writer_stats col_writer_stats(struct col_writer *w);

/* How often the main thread should call col_writer_write_status(). */
#define COL_WRITER_STATUS_PERIOD_S 2

/* Replaces the JSON status file (status_path) with the spool's depth, the
 * oldest undelivered minute, the delivery lag and the counters since start
 * (docs/internals/collector.md lists the fields).  Any thread but the
 * delivery thread; it reads a few records at the front of the spool, so a
 * thread that must never touch the disk should not call it. */
void col_writer_write_status(struct col_writer *w);

#endif
