#include "config.h"

#include "query.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgx.h"
#include "vtime.h"
#include "xalloc.h"

/* Timestamps go to the server as microseconds since the epoch and come
 * back the same way: no time zone or date style is involved. */
#define TS(p) "to_timestamp(" p "::bigint / 1000000.0)"
#define EPOCH_US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

void vm_q_release(struct vm_q *q)
{
	free(q->sql);
	memset(q, 0, sizeof *q);
}

static void q_init(struct vm_q *q, char *sql)
{
	memset(q, 0, sizeof *q);
	q->sql = sql;
}

static void q_text(struct vm_q *q, const char *v)
{
	int i = q->nparams++;
	if (!v) {
		q->params[i] = NULL;
		return;
	}
	snprintf(q->store[i], sizeof q->store[i], "%s", v);
	q->params[i] = q->store[i];
}

static void q_time(struct vm_q *q, int64_t ns)
{
	int i = q->nparams++;
	/* floor to the microsecond, also before 1970 */
	int64_t us = ns / 1000 - (ns % 1000 < 0);
	snprintf(q->store[i], sizeof q->store[i], "%" PRId64, us);
	q->params[i] = q->store[i];
}

/* A filter value must fit its parameter slot: longer names cannot match
 * anything we store, but would be cut to something that might. */
static int check_filter(const struct vm_q_filter *f, char *err, size_t errsize)
{
	if (!f)
		return 0;
	const char *v[] = {f->vm, f->host, f->tenant, f->project};
	const char *what[] = {"VM", "host", "tenant", "project"};
	for (int i = 0; i < 4; i++) {
		if (v[i] && strlen(v[i]) >= sizeof((struct vm_q *)0)->store[0]) {
			snprintf(err, errsize, "the %s name is too long (%zu bytes)", what[i], strlen(v[i]));
			return -1;
		}
	}
	if (f->vm) {
		/* a UUID, in any case, with or without hyphens as PostgreSQL
		 * takes it: refuse anything else here with a clear message
		 * rather than the server's */
		size_t hex = 0;
		for (const char *c = f->vm; *c; c++) {
			if ((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') || (*c >= 'A' && *c <= 'F'))
				hex++;
			else if (*c != '-') {
				hex = 0;
				break;
			}
		}
		if (hex != 32) {
			snprintf(err, errsize, "'%s' is not a VM UUID", f->vm);
			return -1;
		}
	}
	return 0;
}

/* Runs a statement the builder made (built: its return value) and
 * releases it.  The result, or NULL with the message in err. */
static PGresult *run(struct vm_pg *pg, int built, struct vm_q *q, char *err, size_t errsize)
{
	if (built < 0)
		return NULL;
	PGresult *res = vm_pg_exec(pg, q->sql, q->nparams, q->params);
	vm_q_release(q);
	if (!res)
		snprintf(err, errsize, "%s", vm_pg_error(pg));
	return res;
}

/* The blocking form of a query: build, run, parse (rows and *n stay
 * empty on failure). */
#define RUN_PARSE(build_call, parse_fn)                                                                                \
	do {                                                                                                           \
		struct vm_q q;                                                                                         \
		*rows = NULL;                                                                                          \
		*n = 0;                                                                                                \
		PGresult *res = run(pg, build_call, &q, err, errsize);                                                 \
		if (!res)                                                                                              \
			return -1;                                                                                     \
		int rc = parse_fn(res, rows, n, err, errsize);                                                         \
		PQclear(res);                                                                                          \
		return rc;                                                                                             \
	} while (0)

/* --- parsing */

static int col(PGresult *res, const char *name, char *err, size_t errsize)
{
	int c = PQfnumber(res, name);
	if (c < 0)
		snprintf(err, errsize, "the result has no column '%s' (is the schema current?)", name);
	return c;
}

static bool is_null(PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c);
}

static uint64_t u64(PGresult *res, int r, int c)
{
	return is_null(res, r, c) ? 0 : strtoull(PQgetvalue(res, r, c), NULL, 10);
}

static char *str(PGresult *res, int r, int c)
{
	return vm_xstrdup(is_null(res, r, c) ? "" : PQgetvalue(res, r, c));
}

static int64_t ts(PGresult *res, int r, int c)
{
	return vm_pgx_int(res, r, c) * 1000;
}

static void uuid_copy(char dst[37], PGresult *res, int r, int c)
{
	snprintf(dst, 37, "%s", is_null(res, r, c) ? "" : PQgetvalue(res, r, c));
}

static int check_result(PGresult *res, char *err, size_t errsize)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, errsize, "not a query result: %s", PQresStatus(PQresultStatus(res)));
		return -1;
	}
	return 0;
}

/* --- usage */

/* The meter columns of a usage result: counters as they are, gauges as
 * average, maximum and observed ms.  The caller frees the string. */
static char *usage_columns(void)
{
	const struct vm_meter_set *set = vm_usage_vm_meters();
	size_t cap = 4096, len = 0;
	char *cols = vm_xmalloc(cap);
	cols[0] = '\0';
	for (size_t i = 0; i < set->n; i++) {
		const char *n = set->meters[i].name;
		char buf[256];
		if (i < set->n_counters)
			snprintf(buf, sizeof buf, ", u.%s", n);
		else
			snprintf(buf, sizeof buf,
			         ", round(u.%s_int / nullif(u.%s_ms, 0))::bigint AS %s_avg, u.%s_max, u.%s_ms", n, n, n,
			         n, n);
		size_t bl = strlen(buf);
		while (len + bl + 1 > cap)
			cols = vm_xrealloc(cols, cap *= 2);
		memcpy(cols + len, buf, bl + 1);
		len += bl;
	}
	return cols;
}

int vm_q_usage(struct vm_q *q, int64_t from_ns, int64_t to_ns, const struct vm_q_filter *f, char *err, size_t errsize)
{
	memset(q, 0, sizeof *q);
	if (to_ns <= from_ns) {
		snprintf(err, errsize, "the range ends before it starts");
		return -1;
	}
	if (check_filter(f, err, errsize) < 0)
		return -1;
	char *cols = usage_columns();
	char *sql = vm_xasprintf(
	    "SELECT v.uuid, h.hostname, o.tenant, o.project, o.cost_centre, u.minutes, u.coverage_ms, u.samples, "
	    "u.late, u.lost_ms%s "
	    "FROM vm_usage_between(" TS("$1") ", " TS(
	        "$2") ", $3::uuid, $4::text, $5::text, $6::text) u "
	              "JOIN vm v ON v.vm_id = u.vm_id JOIN host h ON h.host_id = u.host_id "
	              "JOIN owner o ON o.owner_id = u.owner_id "
	              "ORDER BY v.uuid, h.hostname, o.tenant, o.project, o.cost_centre",
	    cols);
	free(cols);
	q_init(q, sql);
	q_time(q, from_ns);
	q_time(q, to_ns);
	q_text(q, f ? f->vm : NULL);
	q_text(q, f ? f->host : NULL);
	q_text(q, f ? f->tenant : NULL);
	q_text(q, f ? f->project : NULL);
	return 0;
}

int vm_q_owner_usage(struct vm_q *q, int64_t from_ns, int64_t to_ns, const struct vm_q_filter *f, char *err,
                     size_t errsize)
{
	memset(q, 0, sizeof *q);
	if (to_ns <= from_ns) {
		snprintf(err, errsize, "the range ends before it starts");
		return -1;
	}
	if (f && (f->vm || f->host)) {
		snprintf(err, errsize, "usage per owner is selected by tenant and project, not by VM or host");
		return -1;
	}
	if (check_filter(f, err, errsize) < 0)
		return -1;
	char *cols = usage_columns();
	char *sql = vm_xasprintf(
	    "SELECT ''::text AS uuid, ''::text AS hostname, o.tenant, o.project, o.cost_centre, "
	    "u.minutes, u.coverage_ms, u.samples, u.late, u.lost_ms%s "
	    "FROM owner_usage_between(" TS("$1") ", " TS("$2") ", $3::text, $4::text) u "
	                                                       "JOIN owner o ON o.owner_id = u.owner_id "
	                                                       "ORDER BY o.tenant, o.project, o.cost_centre",
	    cols);
	free(cols);
	q_init(q, sql);
	q_time(q, from_ns);
	q_time(q, to_ns);
	q_text(q, f ? f->tenant : NULL);
	q_text(q, f ? f->project : NULL);
	return 0;
}

int vm_q_owner_usage_run(struct vm_pg *pg, int64_t from_ns, int64_t to_ns, const struct vm_q_filter *f,
                         struct vm_q_usage **rows, size_t *n, char *err, size_t errsize)
{
	RUN_PARSE(vm_q_owner_usage(&q, from_ns, to_ns, f, err, errsize), vm_q_usage_parse);
}

int vm_q_usage_parse(PGresult *res, struct vm_q_usage **rows, size_t *n, char *err, size_t errsize)
{
	*rows = NULL;
	*n = 0;
	if (check_result(res, err, errsize) < 0)
		return -1;
	const struct vm_meter_set *set = vm_usage_vm_meters();
	int c_uuid = col(res, "uuid", err, errsize), c_host = col(res, "hostname", err, errsize),
	    c_tenant = col(res, "tenant", err, errsize), c_project = col(res, "project", err, errsize),
	    c_cc = col(res, "cost_centre", err, errsize), c_min = col(res, "minutes", err, errsize),
	    c_cov = col(res, "coverage_ms", err, errsize), c_samples = col(res, "samples", err, errsize),
	    c_late = col(res, "late", err, errsize), c_lost = col(res, "lost_ms", err, errsize);
	if (c_uuid < 0 || c_host < 0 || c_tenant < 0 || c_project < 0 || c_cc < 0 || c_min < 0 || c_cov < 0 ||
	    c_samples < 0 || c_late < 0 || c_lost < 0)
		return -1;
	int cs[VM_USAGE_MAX_METERS][3];
	for (size_t i = 0; i < set->n; i++) {
		char name[96];
		if (i < set->n_counters) {
			if ((cs[i][0] = col(res, set->meters[i].name, err, errsize)) < 0)
				return -1;
			continue;
		}
		const char *suffix[] = {"_avg", "_max", "_ms"};
		for (int k = 0; k < 3; k++) {
			snprintf(name, sizeof name, "%s%s", set->meters[i].name, suffix[k]);
			if ((cs[i][k] = col(res, name, err, errsize)) < 0)
				return -1;
		}
	}
	size_t nt = (size_t)PQntuples(res);
	struct vm_q_usage *out = vm_xcalloc(nt ? nt : 1, sizeof *out);
	for (size_t r = 0; r < nt; r++) {
		struct vm_q_usage *u = &out[r];
		int ri = (int)r;
		uuid_copy(u->uuid, res, ri, c_uuid);
		u->host = str(res, ri, c_host);
		u->tenant = str(res, ri, c_tenant);
		u->project = str(res, ri, c_project);
		u->cost_centre = str(res, ri, c_cc);
		u->minutes = vm_pgx_int(res, ri, c_min);
		u->coverage_ms = vm_pgx_int(res, ri, c_cov);
		u->samples = vm_pgx_int(res, ri, c_samples);
		u->late = vm_pgx_int(res, ri, c_late);
		u->lost_ms = vm_pgx_int(res, ri, c_lost);
		for (size_t i = 0; i < set->n; i++) {
			if (i < set->n_counters) {
				if (!is_null(res, ri, cs[i][0])) {
					u->have |= UINT64_C(1) << i;
					u->sum[i] = u64(res, ri, cs[i][0]);
				}
				continue;
			}
			if (!is_null(res, ri, cs[i][1])) {
				u->have |= UINT64_C(1) << i;
				u->avg[i] = u64(res, ri, cs[i][0]);
				u->max[i] = u64(res, ri, cs[i][1]);
				u->ms[i] = vm_pgx_int(res, ri, cs[i][2]);
			}
		}
	}
	*rows = out;
	*n = nt;
	return 0;
}

int vm_q_usage_run(struct vm_pg *pg, int64_t from_ns, int64_t to_ns, const struct vm_q_filter *f,
                   struct vm_q_usage **rows, size_t *n, char *err, size_t errsize)
{
	RUN_PARSE(vm_q_usage(&q, from_ns, to_ns, f, err, errsize), vm_q_usage_parse);
}

void vm_q_usage_free(struct vm_q_usage *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].host);
		free(rows[i].tenant);
		free(rows[i].project);
		free(rows[i].cost_centre);
	}
	free(rows);
}

/* --- inventory as of a time */

int vm_q_inventory(struct vm_q *q, int64_t at_ns, const struct vm_q_filter *f, char *err, size_t errsize)
{
	memset(q, 0, sizeof *q);
	if (check_filter(f, err, errsize) < 0)
		return -1;
	/* The latest state of every VM first, then the filters: a tenant
	 * asks for the VMs it had then, not those it had at some time. */
	q_init(q,
	       vm_xstrdup(
	           "SELECT x.uuid, x.name, x.hostname, x.vcpus, x.max_vcpus, x.memory_kib, x.current_memory_kib, "
	           "x.tenant, x.project, x.cost_centre, x.owner_source, jsonb_array_length(x.disks) AS disks, "
	           "jsonb_array_length(x.nics) AS nics, " EPOCH_US(
	               "x.valid_from") " AS valid_from "
	                               "FROM (SELECT DISTINCT ON (i.vm_id) i.*, v.uuid, h.hostname FROM vm_inventory i "
	                               "JOIN vm v ON v.vm_id = i.vm_id JOIN host h ON h.host_id = i.host_id "
	                               "WHERE i.valid_from <= " TS(
	                                   "$1") " AND ($2::uuid IS NULL OR v.uuid = $2::uuid) "
	                                         "ORDER BY i.vm_id, i.valid_from DESC) x "
	                                         "WHERE ($3::text IS NULL OR x.hostname = $3) AND ($4::text IS NULL OR "
	                                         "x.tenant = $4) "
	                                         "AND ($5::text IS NULL OR x.project = $5) "
	                                         "AND (SELECT e.event FROM vm_event e WHERE e.vm_id = x.vm_id AND e.at "
	                                         "<= " TS("$1") " "
	                                                        "AND e.event IN ('defined', 'undefined') ORDER BY e.at "
	                                                        "DESC LIMIT 1) IS DISTINCT FROM "
	                                                        "'undefined' "
	                                                        "ORDER BY x.name, x.uuid"));
	q_time(q, at_ns);
	q_text(q, f ? f->vm : NULL);
	q_text(q, f ? f->host : NULL);
	q_text(q, f ? f->tenant : NULL);
	q_text(q, f ? f->project : NULL);
	return 0;
}

int vm_q_inventory_parse(PGresult *res, struct vm_q_inventory **rows, size_t *n, char *err, size_t errsize)
{
	*rows = NULL;
	*n = 0;
	if (check_result(res, err, errsize) < 0)
		return -1;
	static const char *const names[] = {
	    "uuid",   "name",    "hostname",    "vcpus",        "max_vcpus",  "memory_kib", "current_memory_kib",
	    "tenant", "project", "cost_centre", "owner_source", "valid_from", "disks",      "nics"};
	int c[14];
	for (int i = 0; i < 14; i++)
		if ((c[i] = col(res, names[i], err, errsize)) < 0)
			return -1;
	size_t nt = (size_t)PQntuples(res);
	struct vm_q_inventory *out = vm_xcalloc(nt ? nt : 1, sizeof *out);
	for (size_t r = 0; r < nt; r++) {
		struct vm_q_inventory *v = &out[r];
		int ri = (int)r;
		uuid_copy(v->uuid, res, ri, c[0]);
		v->name = str(res, ri, c[1]);
		v->host = str(res, ri, c[2]);
		v->vcpus = (int)vm_pgx_int(res, ri, c[3]);
		v->max_vcpus = (int)vm_pgx_int(res, ri, c[4]);
		v->memory_kib = u64(res, ri, c[5]);
		v->current_memory_kib = u64(res, ri, c[6]);
		v->tenant = str(res, ri, c[7]);
		v->project = str(res, ri, c[8]);
		v->cost_centre = str(res, ri, c[9]);
		v->owner_source = str(res, ri, c[10]);
		v->valid_from_ns = ts(res, ri, c[11]);
		v->disks = (int)vm_pgx_int(res, ri, c[12]);
		v->nics = (int)vm_pgx_int(res, ri, c[13]);
	}
	*rows = out;
	*n = nt;
	return 0;
}

int vm_q_inventory_run(struct vm_pg *pg, int64_t at_ns, const struct vm_q_filter *f, struct vm_q_inventory **rows,
                       size_t *n, char *err, size_t errsize)
{
	RUN_PARSE(vm_q_inventory(&q, at_ns, f, err, errsize), vm_q_inventory_parse);
}

void vm_q_inventory_free(struct vm_q_inventory *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].name);
		free(rows[i].host);
		free(rows[i].tenant);
		free(rows[i].project);
		free(rows[i].cost_centre);
		free(rows[i].owner_source);
	}
	free(rows);
}

/* --- lifecycle */

int vm_q_lifecycle(struct vm_q *q, int64_t from_ns, int64_t to_ns, const struct vm_q_filter *f, char *err,
                   size_t errsize)
{
	memset(q, 0, sizeof *q);
	if (to_ns <= from_ns) {
		snprintf(err, errsize, "the range ends before it starts");
		return -1;
	}
	if (check_filter(f, err, errsize) < 0)
		return -1;
	q_init(q, vm_xstrdup("SELECT v.uuid, h.hostname, l.state, " EPOCH_US("l.span_from") " AS span_from, " EPOCH_US(
	              "l.span_to") " AS span_to "
	                           "FROM vm_lifecycle_between(" TS("$1") ", " TS(
	                               "$2") ", $3::uuid) l "
	                                     "JOIN vm v ON v.vm_id = l.vm_id JOIN host h ON h.host_id = l.host_id "
	                                     "ORDER BY v.uuid, l.span_from"));
	q_time(q, from_ns);
	q_time(q, to_ns);
	q_text(q, f ? f->vm : NULL);
	return 0;
}

int vm_q_lifecycle_parse(PGresult *res, struct vm_q_lifecycle **rows, size_t *n, char *err, size_t errsize)
{
	*rows = NULL;
	*n = 0;
	if (check_result(res, err, errsize) < 0)
		return -1;
	int cu = col(res, "uuid", err, errsize), ch = col(res, "hostname", err, errsize),
	    cs = col(res, "state", err, errsize), cf = col(res, "span_from", err, errsize),
	    ct = col(res, "span_to", err, errsize);
	if (cu < 0 || ch < 0 || cs < 0 || cf < 0 || ct < 0)
		return -1;
	size_t nt = (size_t)PQntuples(res);
	struct vm_q_lifecycle *out = vm_xcalloc(nt ? nt : 1, sizeof *out);
	for (size_t r = 0; r < nt; r++) {
		int ri = (int)r;
		uuid_copy(out[r].uuid, res, ri, cu);
		out[r].host = str(res, ri, ch);
		snprintf(out[r].state, sizeof out[r].state, "%s", PQgetvalue(res, ri, cs));
		out[r].from_ns = ts(res, ri, cf);
		out[r].to_ns = ts(res, ri, ct);
	}
	*rows = out;
	*n = nt;
	return 0;
}

int vm_q_lifecycle_run(struct vm_pg *pg, int64_t from_ns, int64_t to_ns, const struct vm_q_filter *f,
                       struct vm_q_lifecycle **rows, size_t *n, char *err, size_t errsize)
{
	RUN_PARSE(vm_q_lifecycle(&q, from_ns, to_ns, f, err, errsize), vm_q_lifecycle_parse);
}

void vm_q_lifecycle_free(struct vm_q_lifecycle *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(rows[i].host);
	free(rows);
}

/* --- hosts */

int vm_q_hosts(struct vm_q *q, int64_t at_ns, char *err, size_t errsize)
{
	(void)err;
	(void)errsize;
	q_init(q, vm_xstrdup("SELECT h.hostname, coalesce(h.libvirt_uri, '') AS libvirt_uri, "
	                     "coalesce(i.cpu_model, '') AS cpu_model, i.cpus, i.mhz, i.numa_nodes, i.sockets, i.cores, "
	                     "i.threads, i.memory_kib, " EPOCH_US("h.first_seen") " AS first_seen, " EPOCH_US(
	                         "h.last_seen") " AS last_seen "
	                                        "FROM host h LEFT JOIN LATERAL (SELECT * FROM host_inventory hi "
	                                        "WHERE hi.host_id = h.host_id AND hi.valid_from <= " TS(
	                                            "$1") " ORDER BY hi.valid_from DESC LIMIT 1) i ON true "
	                                                  "ORDER BY h.hostname"));
	q_time(q, at_ns);
	return 0;
}

int vm_q_hosts_parse(PGresult *res, struct vm_q_host **rows, size_t *n, char *err, size_t errsize)
{
	*rows = NULL;
	*n = 0;
	if (check_result(res, err, errsize) < 0)
		return -1;
	static const char *const names[] = {"hostname", "libvirt_uri", "cpu_model",  "cpus",
	                                    "mhz",      "numa_nodes",  "sockets",    "cores",
	                                    "threads",  "memory_kib",  "first_seen", "last_seen"};
	int c[12];
	for (int i = 0; i < 12; i++)
		if ((c[i] = col(res, names[i], err, errsize)) < 0)
			return -1;
	size_t nt = (size_t)PQntuples(res);
	struct vm_q_host *out = vm_xcalloc(nt ? nt : 1, sizeof *out);
	for (size_t r = 0; r < nt; r++) {
		int ri = (int)r;
		struct vm_q_host *h = &out[r];
		h->hostname = str(res, ri, c[0]);
		h->libvirt_uri = str(res, ri, c[1]);
		h->cpu_model = str(res, ri, c[2]);
		h->cpus = (unsigned)vm_pgx_int(res, ri, c[3]);
		h->mhz = (unsigned)vm_pgx_int(res, ri, c[4]);
		h->numa_nodes = (unsigned)vm_pgx_int(res, ri, c[5]);
		h->sockets = (unsigned)vm_pgx_int(res, ri, c[6]);
		h->cores = (unsigned)vm_pgx_int(res, ri, c[7]);
		h->threads = (unsigned)vm_pgx_int(res, ri, c[8]);
		h->memory_kib = u64(res, ri, c[9]);
		h->first_seen_ns = ts(res, ri, c[10]);
		h->last_seen_ns = ts(res, ri, c[11]);
	}
	*rows = out;
	*n = nt;
	return 0;
}

int vm_q_hosts_run(struct vm_pg *pg, int64_t at_ns, struct vm_q_host **rows, size_t *n, char *err, size_t errsize)
{
	RUN_PARSE(vm_q_hosts(&q, at_ns, err, errsize), vm_q_hosts_parse);
}

void vm_q_hosts_free(struct vm_q_host *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].hostname);
		free(rows[i].libvirt_uri);
		free(rows[i].cpu_model);
	}
	free(rows);
}
