#include "config.h"

#include "dbwrite.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg.h"
#include "vtime.h"
#include "xalloc.h"

struct vm_id {
	char uuid[37];
	long id;
};

struct col_db {
	struct vm_pg *pg;  /* borrowed */
	bool staged;       /* temporary staging tables exist on this connection */
	bool outer;        /* in a col_db_begin() transaction: writes join it */
	struct vm_id *ids; /* uuid -> vm_id, sorted by uuid */
	size_t n_ids, cap_ids;
	int64_t day_lo, day_hi; /* days [lo, hi] (epoch days) have partitions; lo > hi: none known */
	char *host;             /* the host whose id is host_id (owned); NULL: none known */
	char host_id[16];
};

struct col_db *col_db_new(struct vm_pg *pg)
{
	struct col_db *db = vm_xcalloc(1, sizeof *db);
	db->pg = pg;
	col_db_forget_days(db);
	return db;
}

void col_db_forget_days(struct col_db *db)
{
	db->day_lo = 1;
	db->day_hi = 0;
}

int col_db_ensure_days(struct col_db *db, int64_t from_ns, int64_t to_ns)
{
	int64_t lo = vm_time_floor(from_ns, VM_NS_PER_DAY) / VM_NS_PER_DAY,
	        hi = vm_time_floor(to_ns, VM_NS_PER_DAY) / VM_NS_PER_DAY;
	if (db->day_lo <= db->day_hi && lo >= db->day_lo && hi <= db->day_hi)
		return 0;
	char a[32], b[32];
	snprintf(a, sizeof a, "%lld", (long long)(lo * 86400));
	snprintf(b, sizeof b, "%lld", (long long)(hi * 86400));
	const char *params[] = {a, b};
	if (vm_pg_cmd(db->pg, "SELECT vm_ensure_partitions(to_timestamp($1::bigint), to_timestamp($2::bigint))", 2,
	              params) < 0) {
		vm_pg_error_prefix(db->pg, "cannot make the day partitions of the minutes");
		return -1;
	}
	/* Keep one contiguous span: the days of normal delivery grow it at
	 * its end; a batch far in the past replaces it for a while. */
	if (db->day_lo <= db->day_hi && lo <= db->day_hi + 1 && hi >= db->day_lo - 1) {
		db->day_lo = lo < db->day_lo ? lo : db->day_lo;
		db->day_hi = hi > db->day_hi ? hi : db->day_hi;
	} else {
		db->day_lo = lo;
		db->day_hi = hi;
	}
	return 0;
}

void col_db_free(struct col_db *db)
{
	if (!db)
		return;
	free(db->ids);
	free(db->host);
	free(db);
}

/* Runs a statement whose rows are not wanted; what names it in the error. */
static int exec_cmd(struct col_db *db, const char *what, const char *sql, int n, const char *const *params)
{
	if (vm_pg_cmd(db->pg, sql, n, params) == 0)
		return 0;
	vm_pg_error_prefix(db->pg, what);
	return -1;
}

/* vm_pg_exec(), what naming it in the error. */
static PGresult *query(struct col_db *db, const char *what, const char *sql, int n, const char *const *params)
{
	PGresult *res = vm_pg_exec(db->pg, sql, n, params);
	if (!res)
		vm_pg_error_prefix(db->pg, what);
	return res;
}

/* A write's own transaction, or nothing inside the caller's. */
static int tx_begin(struct col_db *db)
{
	if (db->outer)
		return 0;
	return exec_cmd(db, "cannot begin", "BEGIN", 0, NULL);
}

static int tx_commit(struct col_db *db, const char *what)
{
	if (db->outer)
		return 0;
	if (vm_pg_commit(db->pg) == 0)
		return 0;
	vm_pg_error_prefix(db->pg, what);
	return -1;
}

/* Forgets the host id: its row may have been inserted by what is rolled
 * back. */
static void forget_host(struct col_db *db)
{
	free(db->host);
	db->host = NULL;
}

static void rollback(struct col_db *db)
{
	/* Inside the caller's transaction the failed statement has aborted
	 * it; the caller rolls back (col_db_rollback()). */
	if (!db->outer) {
		vm_pg_rollback(db->pg);
		forget_host(db);
	}
}

static void format_ts(int64_t t_ns, char *buf, size_t size)
{
	/* Microsecond precision: what timestamptz keeps. */
	time_t s = (time_t)(t_ns / VM_NS_PER_SEC);
	long us = (long)((t_ns % VM_NS_PER_SEC) / 1000);
	if (us < 0) {
		us += 1000000;
		s--;
	}
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%06ld+00", us);
}

/* The host's id into out: registered (last_seen now) at its first write
 * on this connection or with a libvirt URI, else the id remembered, so
 * that a batch costs no round trip for it (col_db_set_mark() moves
 * last_seen). */
static int host_id(struct col_db *db, const char *hostname, const char *uri, char *out, size_t size)
{
	if (!uri && db->host && strcmp(db->host, hostname) == 0) {
		snprintf(out, size, "%s", db->host_id);
		return 0;
	}
	const char *params[] = {hostname, uri};
	PGresult *res = query(db, "cannot register host",
	                      "INSERT INTO host (hostname, libvirt_uri) VALUES ($1, $2) "
	                      "ON CONFLICT (hostname) DO UPDATE SET last_seen = now(), "
	                      "libvirt_uri = coalesce(EXCLUDED.libvirt_uri, host.libvirt_uri) RETURNING host_id",
	                      2, params);
	if (!res)
		return -1;
	snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
	free(db->host);
	db->host = vm_xstrdup(hostname);
	snprintf(db->host_id, sizeof db->host_id, "%s", out);
	PQclear(res);
	return 0;
}

int col_db_host_register(struct col_db *db, const struct vm_host_info *h, int64_t at_ns)
{
	char id[16], at[48], cpus[16], mhz[16], mem[24], nodes[16], sockets[16], cores[16], threads[16];
	if (tx_begin(db))
		return -1;
	if (host_id(db, h->hostname, h->libvirt_uri[0] ? h->libvirt_uri : NULL, id, sizeof id))
		goto fail;
	format_ts(at_ns, at, sizeof at);
	snprintf(cpus, sizeof cpus, "%u", h->cpus);
	snprintf(mhz, sizeof mhz, "%u", h->mhz);
	snprintf(mem, sizeof mem, "%llu", (unsigned long long)h->memory_kib);
	snprintf(nodes, sizeof nodes, "%u", h->numa_nodes);
	snprintf(sockets, sizeof sockets, "%u", h->sockets);
	snprintf(cores, sizeof cores, "%u", h->cores);
	snprintf(threads, sizeof threads, "%u", h->threads);
	const char *p[] = {id, at, cpus, mhz, mem, h->cpu_model, nodes, sockets, cores, threads};
	if (exec_cmd(db, "cannot record host inventory",
	             "INSERT INTO host_inventory (host_id, valid_from, cpus, mhz, memory_kib, cpu_model, numa_nodes, "
	             "sockets, cores, threads) "
	             "SELECT $1::int, $2::timestamptz, $3::int, $4::int, $5::bigint, $6, $7::int, $8::int, $9::int, "
	             "$10::int WHERE NOT EXISTS (SELECT 1 FROM (SELECT * FROM host_inventory WHERE host_id = $1::int "
	             "AND valid_from <= $2::timestamptz ORDER BY valid_from DESC LIMIT 1) l WHERE l.cpus = $3::int "
	             "AND l.mhz = $4::int AND l.memory_kib = $5::bigint AND l.cpu_model = $6 AND l.numa_nodes = "
	             "$7::int AND l.sockets = $8::int AND l.cores = $9::int AND l.threads = $10::int) "
	             "ON CONFLICT DO NOTHING",
	             10, p) ||
	    tx_commit(db, "cannot commit"))
		goto fail;
	return 0;
fail:
	rollback(db);
	return -1;
}

/* The staging tables mirror the usage tables with the VM's UUID in place
 * of ids, so a batch needs no id lookups on the client. */
static int ensure_staging(struct col_db *db)
{
	if (db->staged)
		return 0;
	const struct vm_meter_set *sets[] = {vm_usage_vm_meters(), vm_usage_host_meters(), vm_usage_power_meters()};
	for (int k = 0; k < 3; k++) {
		const struct vm_meter_set *set = sets[k];
		size_t cap = 4096, len = 0;
		char *sql = vm_xmalloc(cap);
		len += (size_t)snprintf(sql, cap,
		                        "CREATE TEMP TABLE IF NOT EXISTS stage_%s (%sminute timestamptz, coverage_ms "
		                        "int, samples int, late bigint",
		                        set->name, k ? "" : "uuid uuid, ");
		for (size_t i = 0; i < set->n; i++) {
			const char *n = set->meters[i].name;
			if (i < set->n_counters)
				len += (size_t)snprintf(sql + len, cap - len, ", %s bigint", n);
			else
				len += (size_t)snprintf(sql + len, cap - len, ", %s_avg bigint, %s_max bigint", n, n);
		}
		snprintf(sql + len, cap - len, ") ON COMMIT DELETE ROWS");
		int rc = exec_cmd(db, "cannot create staging table", sql, 0, NULL);
		free(sql);
		if (rc)
			return -1;
	}
	db->staged = true;
	return 0;
}

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n;
		b->p = vm_xrealloc(b->p, b->cap);
	}
}

/* Appends len bytes of s. */
static void buf_put(struct buf *b, const char *s, size_t len)
{
	if (b->cap - b->len < len) {
		b->cap = b->cap * 2 + len;
		b->p = vm_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, len);
	b->len += len;
}

/* Appends "\t<decimal>": rows have ~50 numbers each, and printf-style
 * formatting of each was the client's largest cost in the ingest bench. */
static void buf_num(struct buf *b, uint64_t v)
{
	if (v > INT64_MAX)
		v = INT64_MAX; /* bigint columns */
	/* Two digits a division: this loop was a quarter of the delivery's
	 * client CPU. */
	static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	                            "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	                            "8081828384858687888990919293949596979899";
	char tmp[24];
	size_t n = sizeof tmp;
	while (v >= 100) {
		const char *d = pairs + 2 * (v % 100);
		v /= 100;
		tmp[--n] = d[1];
		tmp[--n] = d[0];
	}
	if (v >= 10) {
		tmp[--n] = pairs[2 * v + 1];
		tmp[--n] = pairs[2 * v];
	} else {
		tmp[--n] = (char)('0' + v);
	}
	tmp[--n] = '\t';
	buf_put(b, tmp + n, sizeof tmp - n);
}

static void buf_null(struct buf *b)
{
	buf_put(b, "\t\\N", 3);
}

/* The last minute formatted: a batch's rows come minute by minute. */
struct ts_memo {
	int64_t t_ns;
	size_t len; /* 0: none yet */
	char s[48];
};

/* One row in COPY text format, after the key columns and their tab. */
static void copy_row(struct buf *b, struct ts_memo *m, const struct vm_usage_row *r)
{
	if (!m->len || m->t_ns != r->minute_ns) {
		format_ts(r->minute_ns, m->s, sizeof m->s);
		m->t_ns = r->minute_ns;
		m->len = strlen(m->s);
	}
	buf_put(b, m->s, m->len);
	buf_num(b, (uint64_t)r->coverage_ms);
	buf_num(b, (uint64_t)r->samples);
	buf_num(b, r->late);
	for (size_t i = 0; i < r->set->n; i++) {
		int have = (r->have >> i) & 1;
		if (i < r->set->n_counters) {
			if (have)
				buf_num(b, r->sum[i]);
			else
				buf_null(b);
		} else if (have) {
			buf_num(b, r->avg[i]);
			buf_num(b, r->max[i]);
		} else {
			buf_null(b);
			buf_null(b);
		}
	}
	buf_put(b, "\n", 1);
}

static int copy_in(struct col_db *db, const char *table, const struct buf *b)
{
	if (vm_pg_copy_in(db->pg, table, b->p, b->len) == 0)
		return 0;
	vm_pg_error_prefix(db->pg, "COPY failed");
	return -1;
}

/* The value columns of a usage table, in COPY order; caller frees. */
static char *usage_columns(const struct vm_meter_set *set)
{
	struct buf cols = {vm_xmalloc(2048), 0, 2048};
	buf_printf(&cols, "minute, coverage_ms, samples, late");
	for (size_t i = 0; i < set->n; i++) {
		if (i < set->n_counters)
			buf_printf(&cols, ", %s", set->meters[i].name);
		else
			buf_printf(&cols, ", %s_avg, %s_max", set->meters[i].name, set->meters[i].name);
	}
	return cols.p;
}

/* INSERT ... SELECT from a staging table; adds the new rows to *inserted. */
static int merge(struct col_db *db, const struct vm_meter_set *set, const char *hid, size_t *inserted)
{
	struct buf cols = {usage_columns(set), 0, 0};
	char *sql;
	if (set == vm_usage_vm_meters())
		sql = vm_xasprintf("INSERT INTO vm_usage_minute (host_id, vm_id, %s) SELECT $1::int, v.vm_id, %s "
		                   "FROM stage_vm s JOIN vm v USING (uuid) ON CONFLICT DO NOTHING",
		                   cols.p, cols.p);
	else
		sql =
		    vm_xasprintf("INSERT INTO %s (host_id, %s) SELECT $1::int, %s FROM stage_%s ON CONFLICT DO NOTHING",
		                 set == vm_usage_power_meters() ? "host_power_minute" : "host_usage_minute", cols.p,
		                 cols.p, set->name);
	free(cols.p);
	const char *params[] = {hid};
	PGresult *res = query(db, "cannot insert usage rows", sql, 1, params);
	free(sql);
	if (!res)
		return -1;
	*inserted += (size_t)strtoul(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

static int cmp_vm_id(const void *a, const void *b)
{
	return strcmp(((const struct vm_id *)a)->uuid, ((const struct vm_id *)b)->uuid);
}

/* bsearch()'s: a uuid string against an entry. */
static int cmp_uuid_vm_id(const void *key, const void *e)
{
	return strcmp(key, ((const struct vm_id *)e)->uuid);
}

static long cached_vm_id(const struct col_db *db, const char *uuid)
{
	if (!db->n_ids)
		return -1;
	const struct vm_id *hit = bsearch(uuid, db->ids, db->n_ids, sizeof *db->ids, cmp_uuid_vm_id);
	return hit ? hit->id : -1;
}

/* Makes sure every VM of `uuids` (n of them, each at `stride` bytes from
 * the last) has a vm row and its id is cached; with ids (n of them, the
 * caller's), stores each one's id there (-1 for an empty uuid).  In
 * autocommit: a registered VM stays registered whatever the batch does,
 * so the cache never holds an id that a rollback took back. */
static int resolve_uuids(struct col_db *db, const char *uuids, size_t stride, size_t n, long *ids)
{
	struct buf arr = {vm_xmalloc(256), 0, 256};
	buf_printf(&arr, "{");
	size_t missing = 0;
	const char *last = "";
	for (size_t i = 0; i < n; i++) {
		const char *u = uuids + i * stride;
		long id = u[0] ? cached_vm_id(db, u) : -1;
		if (ids)
			ids[i] = id;
		if (!u[0] || strcmp(u, last) == 0 || id >= 0)
			continue;
		last = u;
		buf_printf(&arr, "%s%s", missing++ ? "," : "", u);
	}
	buf_printf(&arr, "}");
	int rc = 0;
	if (!missing)
		goto out;
	const char *params[] = {arr.p};
	rc = -1;
	if (exec_cmd(db, "cannot register VMs",
	             "INSERT INTO vm (uuid) SELECT DISTINCT unnest($1::uuid[]) ON CONFLICT DO NOTHING", 1, params))
		goto out;
	PGresult *res =
	    query(db, "cannot look up VMs", "SELECT uuid, vm_id FROM vm WHERE uuid = ANY($1::uuid[])", 1, params);
	if (!res)
		goto out;
	int k = PQntuples(res);
	db->ids = vm_xgrow(db->ids, &db->cap_ids, db->n_ids + (size_t)k, sizeof *db->ids);
	for (int i = 0; i < k; i++) {
		struct vm_id *e = &db->ids[db->n_ids++];
		snprintf(e->uuid, sizeof e->uuid, "%s", PQgetvalue(res, i, 0));
		e->id = atol(PQgetvalue(res, i, 1));
	}
	PQclear(res);
	qsort(db->ids, db->n_ids, sizeof *db->ids, cmp_vm_id);
	for (size_t i = 0; ids && i < n; i++)
		if (ids[i] < 0 && uuids[i * stride])
			ids[i] = cached_vm_id(db, uuids + i * stride);
	rc = 0;
out:
	free(arr.p);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Marks the hours of the rows of `set` among `rows` dirty for host `hid`
 * and tells the row trigger of `table` (their table) that this transaction
 * marks its own rows there (sql/005_storage.sql's vm_mark_hours()): one
 * statement for the batch instead of the trigger's insert per row.  Then
 * runs `then` (a statement or ""), in the same round trip.  Inside the
 * transaction, before the rows. */
static int mark_hours(struct col_db *db, const struct vm_meter_set *set, const char *table, const char *hid,
                      const struct vm_db_usage *rows, size_t n, const char *then)
{
	int64_t *hours = vm_xmalloc((n ? n : 1) * sizeof *hours);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].row.set != set)
			continue;
		int64_t h = vm_time_floor(rows[i].row.minute_ns, VM_NS_PER_HOUR);
		/* A batch is minute after minute: most repeats are runs. */
		if (!k || hours[k - 1] != h)
			hours[k++] = h;
	}
	qsort(hours, k, sizeof *hours, cmp_i64);
	struct buf arr = {vm_xmalloc(256), 0, 256};
	buf_printf(&arr, "{");
	for (size_t i = 0; i < k; i++) {
		if (i && hours[i] == hours[i - 1])
			continue;
		char ts[48];
		format_ts(hours[i], ts, sizeof ts);
		buf_printf(&arr, "%s\"%s\"", arr.len > 1 ? "," : "", ts);
	}
	buf_printf(&arr, "}");
	/* Literals, not parameters, for two statements in one round trip:
	 * the host id is the server's number and the hours are format_ts()'s,
	 * neither with a quote. */
	char *sql =
	    vm_xasprintf("SELECT vm_mark_hours('%s', %s, '%s')%s%s", table, hid, arr.p, *then ? "; " : "", then);
	int rc = 0;
	if (vm_pg_script(db->pg, sql) < 0) {
		vm_pg_error_prefix(db->pg, "cannot mark the hours dirty");
		rc = -1;
	}
	free(sql);
	free(arr.p);
	free(hours);
	return rc;
}

static int resolve_vms(struct col_db *db, const struct vm_db_usage *rows, size_t n, long *ids)
{
	if (!n)
		return 0;
	/* Host rows have an empty uuid: skipped. */
	return resolve_uuids(db, rows[0].uuid, sizeof *rows, n, ids);
}

/* COPYs the VM rows of `rows` (ids: their vm_ids) straight into
 * vm_usage_minute, made in parts of about 64 KiB as they are sent: the
 * server stores one part while the next is made.  0 or -1 (the server's
 * error: a row already there is a unique violation). */
static int copy_vm_rows(struct col_db *db, const char *hid, const struct vm_db_usage *rows, const long *ids, size_t n)
{
	char *cols = usage_columns(vm_usage_vm_meters());
	char *target = vm_xasprintf("vm_usage_minute (host_id, vm_id, %s)", cols);
	free(cols);
	struct buf b = {vm_xmalloc(1 << 17), 0, 1 << 17};
	struct ts_memo memo = {0};
	size_t hid_len = strlen(hid);
	int rc = vm_pg_copy_begin(db->pg, target);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (rows[i].row.set != vm_usage_vm_meters())
			continue;
		buf_put(&b, hid, hid_len);
		if (ids[i] < 0) /* not registered: the COPY fails on it */
			buf_printf(&b, "\t%ld", ids[i]);
		else
			buf_num(&b, (uint64_t)ids[i]);
		buf_put(&b, "\t", 1);
		copy_row(&b, &memo, &rows[i].row);
		if (b.len >= 1 << 16) {
			rc = vm_pg_copy_put(db->pg, b.p, b.len);
			b.len = 0;
		}
	}
	if (rc == 0 && b.len)
		rc = vm_pg_copy_put(db->pg, b.p, b.len);
	if (rc == 0)
		rc = vm_pg_copy_end(db->pg);
	if (rc)
		vm_pg_error_prefix(db->pg, "COPY failed");
	free(b.p);
	free(target);
	return rc;
}

int col_db_write_usage(struct col_db *db, const char *hostname, const struct vm_db_usage *rows, size_t n,
                       size_t *inserted)
{
	struct buf staged = {vm_xmalloc(1 << 16), 0, 1 << 16};
	struct buf hostb = {vm_xmalloc(4096), 0, 4096}, powerb = {vm_xmalloc(1024), 0, 1024};
	size_t n_vm = 0, n_host = 0, n_power = 0;
	struct ts_memo memo = {0};
	long *ids = vm_xmalloc((n ? n : 1) * sizeof *ids);
	char hid[16];
	*inserted = 0;
	int rc = -1;
	if (resolve_vms(db, rows, n, ids) < 0)
		goto out;
	if (tx_begin(db))
		goto out;
	if (host_id(db, hostname, NULL, hid, sizeof hid))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].row.set == vm_usage_vm_meters()) {
			n_vm++;
		} else if (rows[i].row.set == vm_usage_power_meters()) {
			copy_row(&powerb, &memo, &rows[i].row);
			n_power++;
		} else {
			copy_row(&hostb, &memo, &rows[i].row);
			n_host++;
		}
	}
	if (n_vm) {
		/* Straight into the table: the batch is new, as it nearly
		 * always is.  If any row is already there (a batch resent
		 * after a lost commit), the whole COPY fails on the key and
		 * the batch goes through staging, which skips what is there. */
		if (mark_hours(db, vm_usage_vm_meters(), "vm_usage_minute", hid, rows, n, "SAVEPOINT direct"))
			goto fail;
		if (copy_vm_rows(db, hid, rows, ids, n) == 0) {
			*inserted += n_vm;
		} else if (strcmp(vm_pg_sqlstate(db->pg), "23505") == 0) {
			if (exec_cmd(db, "cannot roll back to savepoint", "ROLLBACK TO SAVEPOINT direct", 0, NULL) ||
			    ensure_staging(db))
				goto fail;
			for (size_t i = 0; i < n; i++) {
				if (rows[i].row.set != vm_usage_vm_meters())
					continue;
				buf_put(&staged, rows[i].uuid, strlen(rows[i].uuid));
				buf_put(&staged, "\t", 1);
				copy_row(&staged, &memo, &rows[i].row);
			}
			if (copy_in(db, "stage_vm", &staged) || merge(db, vm_usage_vm_meters(), hid, inserted))
				goto fail;
		} else {
			goto fail;
		}
	}
	if (n_host && (ensure_staging(db) || copy_in(db, "stage_host", &hostb) ||
	               merge(db, vm_usage_host_meters(), hid, inserted)))
		goto fail;
	/* Energy minutes: a few a batch, through staging like the host's,
	 * their hours marked by the batch like the VMs'. */
	if (n_power &&
	    (mark_hours(db, vm_usage_power_meters(), "host_power_minute", hid, rows, n, "") || ensure_staging(db) ||
	     copy_in(db, "stage_power", &powerb) || merge(db, vm_usage_power_meters(), hid, inserted)))
		goto fail;
	if (tx_commit(db, "cannot commit usage"))
		goto fail;
	rc = 0;
	goto out;
fail:
	rollback(db);
	/* Temp tables created in a failed transaction are gone with it. */
	db->staged = false;
	*inserted = 0;
out:
	free(ids);
	free(staged.p);
	free(hostb.p);
	free(powerb.p);
	return rc;
}

/* COPYs `b` into `table` (cols); if any row is there already (a batch sent
 * again after a lost commit), through a staging copy of the table instead,
 * skipping what is there.  Adds the rows stored to *inserted.  Inside a
 * transaction. */
static int copy_idempotent(struct col_db *db, const char *table, const char *cols, const struct buf *b, size_t n,
                           size_t *inserted)
{
	if (!n)
		return 0;
	char *target = vm_xasprintf("%s (%s)", table, cols);
	char *stage = vm_xasprintf("stage_%s (%s)", table, cols);
	char *create =
	    vm_xasprintf("CREATE TEMP TABLE IF NOT EXISTS stage_%s (LIKE %s) ON COMMIT DELETE ROWS", table, table);
	char *clear = vm_xasprintf("DELETE FROM stage_%s", table);
	char *ins = vm_xasprintf("INSERT INTO %s (%s) SELECT %s FROM stage_%s ON CONFLICT DO NOTHING", table, cols,
	                         cols, table);
	int rc = -1;
	if (exec_cmd(db, "cannot set savepoint", "SAVEPOINT direct", 0, NULL))
		goto out;
	if (copy_in(db, target, b) == 0) {
		*inserted += n;
		rc = 0;
		goto out;
	}
	if (strcmp(vm_pg_sqlstate(db->pg), "23505") != 0 ||
	    exec_cmd(db, "cannot roll back to savepoint", "ROLLBACK TO SAVEPOINT direct", 0, NULL) ||
	    exec_cmd(db, "cannot create staging table", create, 0, NULL) ||
	    exec_cmd(db, "cannot clear staging table", clear, 0, NULL) || copy_in(db, stage, b))
		goto out;
	PGresult *res = query(db, "cannot insert rows", ins, 0, NULL);
	if (!res)
		goto out;
	*inserted += (size_t)strtoul(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	rc = 0;
out:
	free(target);
	free(stage);
	free(create);
	free(clear);
	free(ins);
	return rc;
}

int col_db_write_traffic(struct col_db *db, const char *hostname, const struct vm_db_traffic *rows, size_t n,
                         const struct vm_db_host_capture *host, size_t n_host, size_t *inserted)
{
	struct buf cov = {vm_xmalloc(4096), 0, 4096}, cls = {vm_xmalloc(4096), 0, 4096},
	           hc = {vm_xmalloc(1024), 0, 1024};
	size_t n_cls = 0, ignored = 0;
	char hid[16], ts[48];
	*inserted = 0;
	int rc = -1;
	if (n && resolve_uuids(db, rows[0].uuid, sizeof *rows, n, NULL) < 0)
		goto out;
	if (tx_begin(db))
		goto out;
	if (host_id(db, hostname, NULL, hid, sizeof hid))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct vm_db_traffic *t = &rows[i];
		uint64_t rx = 0, tx = 0;
		format_ts(t->minute_ns, ts, sizeof ts);
		long vid = cached_vm_id(db, t->uuid);
		for (size_t k = 0; k < t->n_classes; k++) {
			const struct vm_db_traffic_class *c = &t->classes[k];
			rx += c->rx_bytes, tx += c->tx_bytes;
			/* Class names are [a-z0-9_-]: nothing to escape. */
			buf_printf(&cls, "%ld\t%s\t%s\t%s", vid, ts, hid, c->name);
			buf_num(&cls, c->rx_bytes);
			buf_num(&cls, c->tx_bytes);
			buf_num(&cls, c->rx_packets);
			buf_num(&cls, c->tx_packets);
			buf_printf(&cls, "\n");
			n_cls++;
		}
		buf_printf(&cov, "%ld\t%s\t%s", vid, ts, hid);
		buf_num(&cov, (uint64_t)t->captured_ms);
		if (t->have_libvirt_rx)
			buf_num(&cov, t->libvirt_rx_bytes);
		else
			buf_null(&cov);
		if (t->have_libvirt_tx)
			buf_num(&cov, t->libvirt_tx_bytes);
		else
			buf_null(&cov);
		buf_num(&cov, rx);
		buf_num(&cov, tx);
		buf_printf(&cov, "\n");
	}
	for (size_t i = 0; i < n_host; i++) {
		format_ts(host[i].minute_ns, ts, sizeof ts);
		buf_printf(&hc, "%s\t%s", hid, ts);
		buf_num(&hc, host[i].frames);
		buf_num(&hc, host[i].drops);
		buf_num(&hc, host[i].ifdrops);
		buf_num(&hc, (uint64_t)host[i].uncovered_ms);
		buf_printf(&hc, "\n");
	}
	/* The coverage rows and the class rows of a minute are written
	 * together, so either table says whether the minute is in. */
	if (copy_idempotent(
	        db, "vm_capture_minute",
	        "vm_id, minute, host_id, captured_ms, libvirt_rx_bytes, libvirt_tx_bytes, captured_rx_bytes, "
	        "captured_tx_bytes",
	        &cov, n, inserted) ||
	    copy_idempotent(db, "vm_traffic_minute",
	                    "vm_id, minute, host_id, class, rx_bytes, tx_bytes, rx_packets, tx_packets", &cls, n_cls,
	                    &ignored) ||
	    copy_idempotent(db, "host_capture_minute", "host_id, minute, frames, drops, ifdrops, uncovered_ms", &hc,
	                    n_host, inserted))
		goto fail;
	if (tx_commit(db, "cannot commit traffic"))
		goto fail;
	rc = 0;
	goto out;
fail:
	rollback(db);
	*inserted = 0;
out:
	free(cov.p);
	free(cls.p);
	free(hc.p);
	return rc;
}

int col_db_write_inventory(struct col_db *db, const char *hostname, const struct vm_inventory *inv, int64_t at_ns)
{
	/* The columns are parts of the inventory's one JSON form. */
	json_t *obj = vm_inv_to_json(inv), *owner = json_object_get(obj, "owner");
	char *jd = json_dumps(json_object_get(obj, "disks"), JSON_COMPACT);
	char *jn = json_dumps(json_object_get(obj, "nics"), JSON_COMPACT);
	char *jt = json_dumps(json_object_get(owner, "tags"), JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(obj);

	const char *src = vm_owner_source_name(inv->owner.source);
	char at[48], vcpus[16], maxv[16], mem[24], cur[24], digest[24];
	format_ts(at_ns, at, sizeof at);
	snprintf(vcpus, sizeof vcpus, "%u", inv->vcpus);
	snprintf(maxv, sizeof maxv, "%u", inv->max_vcpus);
	snprintf(mem, sizeof mem, "%llu", (unsigned long long)inv->memory_kib);
	snprintf(cur, sizeof cur, "%llu", (unsigned long long)inv->current_memory_kib);
	/* The host is part of a VM's recorded state: a migration is a change. */
	snprintf(digest, sizeof digest, "%016llx", (unsigned long long)vm_inv_digest(inv, hostname));

	int rc = -1;
	char hid[16];
	const char *pv[] = {inv->uuid};
	if (tx_begin(db))
		goto out;
	if (host_id(db, hostname, NULL, hid, sizeof hid) ||
	    exec_cmd(db, "cannot register VM", "INSERT INTO vm (uuid) VALUES ($1::uuid) ON CONFLICT DO NOTHING", 1, pv))
		goto fail;
	const char *p[] = {inv->uuid,
	                   at,
	                   hid,
	                   inv->name,
	                   vcpus,
	                   maxv,
	                   mem,
	                   cur,
	                   inv->owner.tenant,
	                   inv->owner.project,
	                   inv->owner.cost_centre,
	                   jt,
	                   src,
	                   jd,
	                   jn,
	                   digest};
	if (exec_cmd(db, "cannot record VM inventory",
	             "INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, "
	             "current_memory_kib, tenant, project, cost_centre, tags, owner_source, disks, nics, digest) "
	             "SELECT v.vm_id, $2::timestamptz, $3::int, $4, $5::int, $6::int, $7::bigint, $8::bigint, $9, $10, "
	             "$11, $12::jsonb, $13, $14::jsonb, $15::jsonb, $16 FROM vm v WHERE v.uuid = $1::uuid "
	             "AND NOT EXISTS (SELECT 1 FROM (SELECT digest FROM vm_inventory i WHERE i.vm_id = v.vm_id "
	             "AND i.valid_from <= $2::timestamptz ORDER BY valid_from DESC LIMIT 1) l WHERE l.digest = $16) "
	             "ON CONFLICT DO NOTHING",
	             16, p) ||
	    tx_commit(db, "cannot commit"))
		goto fail;
	rc = 0;
	goto out;
fail:
	rollback(db);
out:
	free(jd);
	free(jn);
	free(jt);
	return rc;
}

int col_db_write_event(struct col_db *db, const char *hostname, const char *uuid, int64_t at_ns, const char *event,
                       const char *detail)
{
	char at[48], hid[16];
	const char *pv[] = {uuid};
	if (tx_begin(db))
		return -1;
	if (host_id(db, hostname, NULL, hid, sizeof hid) ||
	    exec_cmd(db, "cannot register VM", "INSERT INTO vm (uuid) VALUES ($1::uuid) ON CONFLICT DO NOTHING", 1, pv))
		goto fail;
	format_ts(at_ns, at, sizeof at);
	const char *p[] = {uuid, hid, at, event, detail};
	if (exec_cmd(db, "cannot record VM event",
	             "INSERT INTO vm_event (vm_id, host_id, at, event, detail) SELECT vm_id, $2::int, "
	             "$3::timestamptz, $4, $5 FROM vm WHERE uuid = $1::uuid ON CONFLICT DO NOTHING",
	             5, p) ||
	    tx_commit(db, "cannot commit"))
		goto fail;
	return 0;
fail:
	rollback(db);
	return -1;
}

int col_db_begin(struct col_db *db)
{
	if (exec_cmd(db, "cannot begin", "BEGIN", 0, NULL))
		return -1;
	db->outer = true;
	return 0;
}

int col_db_commit(struct col_db *db)
{
	db->outer = false;
	if (vm_pg_commit(db->pg) == 0)
		return 0;
	vm_pg_error_prefix(db->pg, "cannot commit");
	col_db_rollback(db);
	return -1;
}

void col_db_rollback(struct col_db *db)
{
	db->outer = false;
	vm_pg_rollback(db->pg);
	/* VMs and the host registered in the rolled-back transaction are
	 * gone, and temp tables created in it too. */
	db->n_ids = 0;
	forget_host(db);
	db->staged = false;
}

int col_db_set_mark(struct col_db *db, const char *hostname, const char *spool_id, uint64_t seq)
{
	char hid[16], s[24];
	if (host_id(db, hostname, NULL, hid, sizeof hid))
		return -1;
	snprintf(s, sizeof s, "%llu", (unsigned long long)seq);
	const char *p[] = {hid, spool_id, s};
	/* A new spool (its directory was recreated) starts its own count.
	 * The host is seen with each delivery. */
	return exec_cmd(db, "cannot record the delivery mark",
	                "WITH seen AS (UPDATE host SET last_seen = now() WHERE host_id = $1::int) "
	                "INSERT INTO host_delivery (host_id, spool_id, last_seq) VALUES ($1::int, $2, $3::bigint) "
	                "ON CONFLICT (host_id) DO UPDATE SET last_seq = CASE WHEN host_delivery.spool_id = "
	                "EXCLUDED.spool_id THEN greatest(host_delivery.last_seq, EXCLUDED.last_seq) ELSE "
	                "EXCLUDED.last_seq END, spool_id = EXCLUDED.spool_id, updated_at = now()",
	                3, p);
}

int col_db_get_mark(struct col_db *db, const char *hostname, const char *spool_id, uint64_t *seq)
{
	const char *p[] = {hostname, spool_id};
	PGresult *res = query(db, "cannot read the delivery mark",
	                      "SELECT d.last_seq FROM host_delivery d JOIN host h USING (host_id) "
	                      "WHERE h.hostname = $1 AND d.spool_id = $2",
	                      2, p);
	if (!res)
		return -1;
	*seq = PQntuples(res) ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return 0;
}

int col_db_write_losses(struct col_db *db, const char *hostname, const struct col_db_loss *rows, size_t n,
                        const char *reason)
{
	if (!n)
		return 0;
	struct buf uuids = {vm_xmalloc(256), 0, 256}, minutes = {vm_xmalloc(256), 0, 256},
	           lasts = {vm_xmalloc(256), 0, 256}, ms = {vm_xmalloc(256), 0, 256};
	for (size_t i = 0; i < n; i++) {
		char ts[48], te[48];
		format_ts(rows[i].first_ns, ts, sizeof ts);
		format_ts(rows[i].last_ns < rows[i].first_ns ? rows[i].first_ns : rows[i].last_ns, te, sizeof te);
		buf_printf(&uuids, "%s%s", i ? "," : "{", rows[i].uuid);
		buf_printf(&minutes, "%s\"%s\"", i ? "," : "{", ts);
		buf_printf(&lasts, "%s\"%s\"", i ? "," : "{", te);
		buf_printf(&ms, "%s%d", i ? "," : "{", rows[i].lost_ms > 60000 ? 60000 : rows[i].lost_ms);
	}
	buf_printf(&uuids, "}");
	buf_printf(&minutes, "}");
	buf_printf(&lasts, "}");
	buf_printf(&ms, "}");
	char hid[16];
	const char *pv[] = {uuids.p};
	int rc = -1;
	if (tx_begin(db))
		goto out;
	if (host_id(db, hostname, NULL, hid, sizeof hid) ||
	    exec_cmd(db, "cannot register VMs",
	             "INSERT INTO vm (uuid) SELECT DISTINCT unnest($1::uuid[]) ON CONFLICT DO NOTHING", 1, pv))
		goto fail;
	const char *p[] = {hid, uuids.p, minutes.p, ms.p, reason, lasts.p};
	if (exec_cmd(db, "cannot record lost coverage",
	             "INSERT INTO vm_usage_loss (host_id, vm_id, minute, lost_ms, reason) "
	             "SELECT $1::int, v.vm_id, m, l.ms, $5 FROM unnest($2::uuid[], $3::timestamptz[], "
	             "$6::timestamptz[], $4::int[]) AS l(uuid, first, last, ms) JOIN vm v USING (uuid), "
	             "generate_series(l.first, l.last, interval '1 minute') AS m ON CONFLICT DO NOTHING",
	             6, p) ||
	    tx_commit(db, "cannot commit lost coverage"))
		goto fail;
	rc = 0;
	goto out;
fail:
	rollback(db);
out:
	free(uuids.p);
	free(minutes.p);
	free(lasts.p);
	free(ms.p);
	return rc;
}
