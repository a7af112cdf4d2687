/* The read queries every program shares: usage over a range at the
 * resolution that fits (raw minutes, hourly or daily rollups: schema 5's
 * vm_usage_between() and friends pick it), inventory and owner as of a
 * time, lifecycle intervals, hosts.
 *
 * Each query comes in three parts so that a blocking program and an
 * event loop use the same SQL and the same parsing:
 *   vm_q_<name>()        fills a struct vm_q: the statement and its text
 *                        parameters (run it with vm_pg_exec() or submit it
 *                        to a lib/pgev.h pool);
 *   vm_q_<name>_parse()  turns the result into rows the caller owns;
 *   vm_q_<name>_run()    both, on a blocking connection.
 * Times are nanoseconds since the epoch (kept to the microsecond the
 * database keeps); ranges are [from, to).  Errors: each returns 0, or -1
 * with the message in err (for _run(), the database's through
 * vm_pg_error()). */
#ifndef VM_QUERY_H
#define VM_QUERY_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pg.h"
#include "usage.h"

#define VM_Q_MAX_PARAMS 6

/* A statement and its parameters.  Owns everything; vm_q_release(). */
struct vm_q {
	char *sql;
	int nparams;
	const char *params[VM_Q_MAX_PARAMS]; /* NULL: SQL NULL; else into store */
	char store[VM_Q_MAX_PARAMS][80];
};
void vm_q_release(struct vm_q *q);

/* Which usage: NULL fields match everything.  vm is a UUID, host a host
 * name, tenant and project the owner's at each minute. */
struct vm_q_filter {
	const char *vm, *host, *tenant, *project;
};

/* Usage of one VM on one host under one owner over the range.  Counter i
 * (of vm_usage_vm_meters()) is sum[i], gauge i its time-weighted average
 * avg[i] (rounded), maximum max[i] and observed time ms[i]; bit i of have
 * says the meter was seen at all.  minutes counts minute rows, lost_ms the
 * coverage recorded lost. */
struct vm_q_usage {
	char uuid[37];
	char *host, *tenant, *project, *cost_centre;
	int64_t minutes, coverage_ms, samples, late, lost_ms;
	uint64_t have;
	uint64_t sum[VM_USAGE_MAX_METERS];
	uint64_t avg[VM_USAGE_MAX_METERS], max[VM_USAGE_MAX_METERS];
	int64_t ms[VM_USAGE_MAX_METERS];
};

/* Rows in (uuid, host, tenant, project) order.  Returns 0 or -1. */
int vm_q_usage(struct vm_q *q, int64_t from_ns, int64_t to_ns, const struct vm_q_filter *f, char *err, size_t errsize);
int vm_q_usage_parse(PGresult *res, struct vm_q_usage **rows, size_t *n, char *err, size_t errsize);
int vm_q_usage_run(struct vm_pg *pg, int64_t from_ns, int64_t to_ns, const struct vm_q_filter *f,
                   struct vm_q_usage **rows, size_t *n, char *err, size_t errsize);
void vm_q_usage_free(struct vm_q_usage *rows, size_t n);

/* The same sums per owner (uuid and host empty), from the owners' daily
 * rollups where they cover the range: a tenant's month, or the fleet's
 * per-tenant totals, without reading a row per VM.  f->tenant and
 * f->project select; f->vm and f->host must be NULL.  Parse the result with
 * vm_q_usage_parse(). */
int vm_q_owner_usage(struct vm_q *q, int64_t from_ns, int64_t to_ns, const struct vm_q_filter *f, char *err,
                     size_t errsize);
int vm_q_owner_usage_run(struct vm_pg *pg, int64_t from_ns, int64_t to_ns, const struct vm_q_filter *f,
                         struct vm_q_usage **rows, size_t *n, char *err, size_t errsize);

/* A VM's inventory as recorded last at or before a time (VMs undefined by
 * then are left out). */
struct vm_q_inventory {
	char uuid[37];
	char *name, *host, *tenant, *project, *cost_centre, *owner_source;
	int vcpus, max_vcpus;
	uint64_t memory_kib, current_memory_kib;
	int disks, nics;       /* how many the domain had */
	int64_t valid_from_ns; /* since when this state held */
};

/* f->host and f->vm, f->tenant, f->project select (as of at_ns). */
int vm_q_inventory(struct vm_q *q, int64_t at_ns, const struct vm_q_filter *f, char *err, size_t errsize);
int vm_q_inventory_parse(PGresult *res, struct vm_q_inventory **rows, size_t *n, char *err, size_t errsize);
int vm_q_inventory_run(struct vm_pg *pg, int64_t at_ns, const struct vm_q_filter *f, struct vm_q_inventory **rows,
                       size_t *n, char *err, size_t errsize);
void vm_q_inventory_free(struct vm_q_inventory *rows, size_t n);

/* A span of one lifecycle state ("running", "paused", "off", "gone") of a
 * VM within the range, from its lifecycle events. */
struct vm_q_lifecycle {
	char uuid[37];
	char *host;
	char state[8];
	int64_t from_ns, to_ns;
};

/* f->vm selects (other fields ignored). */
int vm_q_lifecycle(struct vm_q *q, int64_t from_ns, int64_t to_ns, const struct vm_q_filter *f, char *err,
                   size_t errsize);
int vm_q_lifecycle_parse(PGresult *res, struct vm_q_lifecycle **rows, size_t *n, char *err, size_t errsize);
int vm_q_lifecycle_run(struct vm_pg *pg, int64_t from_ns, int64_t to_ns, const struct vm_q_filter *f,
                       struct vm_q_lifecycle **rows, size_t *n, char *err, size_t errsize);
void vm_q_lifecycle_free(struct vm_q_lifecycle *rows, size_t n);

/* A host and what it was at a time (its inventory then; zeros and "" if
 * none was recorded by then). */
struct vm_q_host {
	char *hostname, *libvirt_uri, *cpu_model;
	unsigned cpus, mhz, numa_nodes, sockets, cores, threads;
	uint64_t memory_kib;
	int64_t first_seen_ns, last_seen_ns;
};

int vm_q_hosts(struct vm_q *q, int64_t at_ns, char *err, size_t errsize);
int vm_q_hosts_parse(PGresult *res, struct vm_q_host **rows, size_t *n, char *err, size_t errsize);
int vm_q_hosts_run(struct vm_pg *pg, int64_t at_ns, struct vm_q_host **rows, size_t *n, char *err, size_t errsize);
void vm_q_hosts_free(struct vm_q_host *rows, size_t n);

#endif
