#include "config.h"

#include "packed.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "binio.h"
#include "minpack.h"
#include "pgx.h"
#include "usage.h"
#include "vtime.h"
#include "xalloc.h"

/* Rows fetched from the day's cursor at a time, and the COPY text that is
 * sent at once: a day of 10,000 VMs is never held in memory whole. */
#define FETCH_ROWS "5000"
#define COPY_FLUSH (4u << 20)
/* The first columns of a minute row before the meters. */
#define FIXED_COLS 6

/* A query's result, or NULL with the message in err. */
static PGresult *exec(PGconn *pg, const char *what, const char *sql, int n, const char *const *params, char *err,
                      size_t errsize)
{
	return vm_pgx_run(pg, what, sql, n, params, PGRES_TUPLES_OK, err, errsize);
}

/* "YYYY-MM-DD HH:MM:SS+00", what COPY and messages take. */
static void utc_text(char *buf, size_t size, int64_t ns)
{
	time_t t = (time_t)(ns / VM_NS_PER_SEC);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S+00", &tm);
}

/* The meter columns of vm_usage_minute, in the set's order: a counter's
 * sum, a gauge's _avg and _max.  The caller frees the string. */
static char *meter_columns(const struct vm_meter_set *set, const char *prefix)
{
	struct vm_binw w = {0};
	for (size_t i = 0; i < set->n; i++) {
		char c[96];
		if (i < set->n_counters)
			snprintf(c, sizeof c, ", %s%s", prefix, set->meters[i].name);
		else
			snprintf(c, sizeof c, ", %s%s_avg, %s%s_max", prefix, set->meters[i].name, prefix,
			         set->meters[i].name);
		vm_binw_bytes(&w, c, strlen(c));
	}
	vm_binw_u8(&w, 0);
	return (char *)w.p;
}

static void text(struct vm_binw *w, const char *s)
{
	vm_binw_bytes(w, s, strlen(s));
}

static void text_u64(struct vm_binw *w, const char *sep, uint64_t v, bool as_signed)
{
	char b[32];
	if (as_signed)
		snprintf(b, sizeof b, "%s%" PRId64, sep, (int64_t)v);
	else
		snprintf(b, sizeof b, "%s%" PRIu64, sep, v);
	text(w, b);
}

static int put_copy(PGconn *pg, struct vm_binw *w, char *err, size_t errsize)
{
	if (w->len && PQputCopyData(pg, (const char *)w->p, (int)w->len) != 1) {
		vm_pgx_set_err(err, errsize, "cannot send rows", pg, NULL);
		return -1;
	}
	w->len = 0;
	return 0;
}

static int end_copy(PGconn *pg, struct vm_binw *w, const char *what, char *err, size_t errsize)
{
	int rc = put_copy(pg, w, err, errsize);
	if (PQputCopyEnd(pg, rc < 0 ? "aborted" : NULL) != 1 && rc == 0) {
		vm_pgx_set_err(err, errsize, what, pg, NULL);
		rc = -1;
	}
	PGresult *res;
	while ((res = PQgetResult(pg))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
			vm_pgx_set_err(err, errsize, what, pg, res);
			rc = -1;
		}
		PQclear(res);
	}
	return rc;
}

/* Ends a COPY that must not store anything; the message is the caller's. */
static void abort_copy(PGconn *pg)
{
	PQputCopyEnd(pg, "abandoned");
	PGresult *res;
	while ((res = PQgetResult(pg)))
		PQclear(res);
}

static int begin_copy(PGconn *pg, const char *sql, char *err, size_t errsize)
{
	PGresult *res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		vm_pgx_set_err(err, errsize, "cannot start a copy", pg, res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* ---------------------------------------------------------------- pack */

/* One (VM, hour)'s rows, of any hosts, while the day is read. */
struct group {
	int vm_id;
	int64_t hour_ns;
	int *host;
	struct vm_usage_row *rows;
	size_t n, cap;
};

/* Parses a bigint column as the uint64 minpack keeps: a negative value
 * (only ever written by hand) survives as its two's complement. */
static int col_u64(PGresult *res, int r, int c, uint64_t *v)
{
	const char *s = PQgetvalue(res, r, c);
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*v = (uint64_t)x;
	return 0;
}

static void row_where(char *buf, size_t size, int vm_id, int host, int64_t ns)
{
	char t[32];
	utc_text(t, sizeof t, ns);
	snprintf(buf, size, "vm_id %d on host %d at %s", vm_id, host, t);
}

static int parse_row(PGresult *res, int r, const struct vm_meter_set *set, struct vm_usage_row *row, int *host,
                     char *err, size_t errsize)
{
	memset(row, 0, sizeof *row);
	row->set = set;
	int vm = atoi(PQgetvalue(res, r, 0));
	*host = atoi(PQgetvalue(res, r, 1));
	row->minute_ns = strtoll(PQgetvalue(res, r, 2), NULL, 10) * VM_NS_PER_SEC;
	uint64_t cov, samples;
	if (col_u64(res, r, 3, &cov) || col_u64(res, r, 4, &samples) || col_u64(res, r, 5, &row->late) ||
	    (int64_t)samples < 0) {
		char w[96];
		row_where(w, sizeof w, vm, *host, row->minute_ns);
		snprintf(err, errsize, "minute of %s cannot be packed: negative samples", w);
		return -1;
	}
	row->coverage_ms = (int32_t)cov;
	row->samples = (int32_t)samples;
	int c = FIXED_COLS;
	for (size_t m = 0; m < set->n; m++) {
		uint64_t bit = UINT64_C(1) << m;
		if (m < set->n_counters) {
			if (!PQgetisnull(res, r, c)) {
				col_u64(res, r, c, &row->sum[m]);
				row->have |= bit;
			}
			c++;
			continue;
		}
		bool a = !PQgetisnull(res, r, c), x = !PQgetisnull(res, r, c + 1);
		if (a != x) {
			/* minpack keeps one presence for both: such a row (never
			 * written by the collector) would not come back as it was */
			char w[96];
			row_where(w, sizeof w, vm, *host, row->minute_ns);
			snprintf(err, errsize,
			         "minute of %s cannot be packed: %s has an average or a maximum, not both", w,
			         set->meters[m].name);
			return -1;
		}
		if (a) {
			col_u64(res, r, c, &row->avg[m]);
			col_u64(res, r, c + 1, &row->max[m]);
			row->have |= bit;
		}
		c += 2;
	}
	return 0;
}

static bool same_row(const struct vm_usage_row *a, const struct vm_usage_row *b)
{
	if (a->minute_ns != b->minute_ns || a->coverage_ms != b->coverage_ms || a->samples != b->samples ||
	    a->late != b->late || a->have != b->have)
		return false;
	for (size_t m = 0; m < a->set->n; m++) {
		if (!(a->have & (UINT64_C(1) << m)))
			continue;
		if (m < a->set->n_counters ? a->sum[m] != b->sum[m] : a->avg[m] != b->avg[m] || a->max[m] != b->max[m])
			return false;
	}
	return true;
}

/* Appends a COPY line of vm_usage_packed for rows[0..n) of one host. */
static int pack_one(struct group *g, int host, const struct vm_usage_row *rows, size_t n, struct vm_binw *out,
                    struct vm_packed_day *st, char *err, size_t errsize)
{
	char where[96], e[256];
	row_where(where, sizeof where, g->vm_id, host, g->hour_ns);
	size_t len;
	uint8_t *p = vm_pack_hour(rows[0].set, g->hour_ns, rows, n, &len, e, sizeof e);
	if (!p) {
		snprintf(err, errsize, "cannot pack the hour of %s: %s", where, e);
		return -1;
	}
	/* Decoded again before the minutes go: a packed hour that would not
	 * give back its rows is never kept in their place. */
	struct vm_usage_row *back = vm_xcalloc(60, sizeof *back);
	size_t got;
	int rc = vm_unpack_hour(rows[0].set, g->hour_ns, p, len, back, &got, e, sizeof e);
	if (rc == 0 && got == n)
		for (size_t i = 0; i < n && rc == 0; i++) {
			const struct vm_usage_row *orig = NULL;
			for (size_t j = 0; j < n && !orig; j++)
				if (rows[j].minute_ns == back[i].minute_ns)
					orig = &rows[j];
			if (!orig || !same_row(orig, &back[i])) {
				snprintf(e, sizeof e, "minute %zu decodes differently", i);
				rc = -1;
			}
		}
	if (rc < 0 || got != n) {
		snprintf(err, errsize, "the packed hour of %s does not decode to its rows: %s", where,
		         rc < 0 ? e : "another number of minutes");
		free(p);
		free(back);
		return -1;
	}
	free(back);
	char t[32], line[96];
	utc_text(t, sizeof t, g->hour_ns);
	snprintf(line, sizeof line, "%s\t%d\t%d\t%zu\t\\\\x", t, host, g->vm_id, n);
	text(out, line);
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		char h[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
		vm_binw_bytes(out, h, 2);
	}
	text(out, "\n");
	st->hours++;
	st->bytes += len;
	free(p);
	return 0;
}

/* Packs the group's rows host by host. */
static int flush_group(struct group *g, struct vm_binw *out, struct vm_packed_day *st, char *err, size_t errsize)
{
	size_t done = 0;
	while (done < g->n) {
		/* the rows of the first host not packed yet, to the front */
		int host = g->host[done];
		size_t k = done;
		for (size_t i = done; i < g->n; i++)
			if (g->host[i] == host) {
				struct vm_usage_row tr = g->rows[k];
				int th = g->host[k];
				g->rows[k] = g->rows[i];
				g->host[k] = g->host[i];
				g->rows[i] = tr;
				g->host[i] = th;
				k++;
			}
		if (k - done > 60) {
			char where[96];
			row_where(where, sizeof where, g->vm_id, host, g->hour_ns);
			snprintf(err, errsize, "the hour of %s has %zu minute rows", where, k - done);
			return -1;
		}
		if (pack_one(g, host, g->rows + done, k - done, out, st, err, errsize) < 0)
			return -1;
		done = k;
	}
	g->n = 0;
	return 0;
}

static int read_and_pack(PGconn *pg, const char *partition_q, struct vm_packed_day *st, char *err, size_t errsize)
{
	const struct vm_meter_set *set = vm_usage_vm_meters();
	char *cols = meter_columns(set, "");
	char *sql =
	    vm_xasprintf("DECLARE vm_pack CURSOR FOR SELECT vm_id, host_id, extract(epoch FROM minute)::bigint, "
	                 "coverage_ms, samples, late%s FROM %s ORDER BY vm_id, minute, host_id",
	                 cols, partition_q);
	int rc = vm_pgx_cmd(pg, "cannot read the day's minutes", sql, 0, NULL, err, errsize);
	free(sql);
	free(cols);
	if (rc < 0)
		return -1;
	/* COPY and FETCH cannot interleave on one connection: the packed
	 * rows are buffered up to COPY_FLUSH, then copied in one COPY. */
	struct group g = {0};
	struct vm_binw out = {0};
	for (bool more = rc == 0; more;) {
		PGresult *res = exec(pg, "cannot read the day's minutes", "FETCH " FETCH_ROWS " FROM vm_pack", 0, NULL,
		                     err, errsize);
		if (!res) {
			rc = -1;
			break;
		}
		int nrows = PQntuples(res);
		more = nrows > 0;
		for (int r = 0; r < nrows && rc == 0; r++) {
			int vm = atoi(PQgetvalue(res, r, 0));
			int64_t hour =
			    vm_time_floor(strtoll(PQgetvalue(res, r, 2), NULL, 10) * VM_NS_PER_SEC, VM_NS_PER_HOUR);
			if (g.n && (vm != g.vm_id || hour != g.hour_ns) &&
			    flush_group(&g, &out, st, err, errsize) < 0) {
				rc = -1;
				break;
			}
			g.vm_id = vm;
			g.hour_ns = hour;
			if (g.n == g.cap) {
				size_t cap = g.cap;
				g.rows = vm_xgrow(g.rows, &cap, g.n + 1, sizeof *g.rows);
				g.host = vm_xrealloc(g.host, cap * sizeof *g.host);
				g.cap = cap;
			}
			if (parse_row(res, r, set, &g.rows[g.n], &g.host[g.n], err, errsize) < 0) {
				rc = -1;
				break;
			}
			g.n++;
			st->minutes++;
		}
		PQclear(res);
		if (rc == 0 && !more && g.n)
			rc = flush_group(&g, &out, st, err, errsize);
		if (rc == 0 && (out.len >= COPY_FLUSH || (!more && out.len))) {
			rc = begin_copy(pg, "COPY vm_usage_packed (hour, host_id, vm_id, n_minutes, data) FROM STDIN",
			                err, errsize);
			if (rc == 0)
				rc = end_copy(pg, &out, "cannot store packed hours", err, errsize);
		}
		if (rc < 0)
			more = false;
	}
	vm_binw_release(&out);
	free(g.rows);
	free(g.host);
	/* the TRUNCATE that follows needs the partition out of use */
	if (rc == 0 && vm_pgx_cmd(pg, "cannot close the day's minutes", "CLOSE vm_pack", 0, NULL, err, errsize) < 0)
		rc = -1;
	return rc;
}

int vm_packed_pack_day(PGconn *pg, int64_t day_ns, const char *partition, struct vm_packed_day *st, char *err,
                       size_t errsize)
{
	memset(st, 0, sizeof *st);
	char *part_q = PQescapeIdentifier(pg, partition, strlen(partition));
	if (!part_q) {
		vm_pgx_set_err(err, errsize, "bad partition name", pg, NULL);
		return -1;
	}
	char from[32], to[32];
	snprintf(from, sizeof from, "%" PRId64, day_ns / VM_NS_PER_SEC);
	snprintf(to, sizeof to, "%" PRId64, (day_ns + VM_NS_PER_DAY) / VM_NS_PER_SEC);
	const char *p[] = {from, to};
	int rc = -1;
	if (vm_pgx_cmd(pg, "cannot begin packing", "BEGIN", 0, NULL, err, errsize) < 0)
		goto out;
	/* SHARE: a late row for the day waits until the day is packed (and
	 * then lands in the emptied partition, marking its hour dirty) instead
	 * of committing between the read and the TRUNCATE and being lost. */
	char *lock = vm_xasprintf("LOCK TABLE %s IN SHARE MODE", part_q);
	int lrc = vm_pgx_cmd(pg, "cannot lock the day's minutes", lock, 0, NULL, err, errsize);
	free(lock);
	if (lrc < 0)
		goto rollback;
	PGresult *res = exec(pg, "cannot check the day",
	                     "SELECT (SELECT closed_upto FROM rollup_state) >= to_timestamp($2::bigint) AND NOT EXISTS "
	                     "(SELECT 1 FROM rollup_dirty WHERE hour >= to_timestamp($1::bigint) "
	                     "AND hour < to_timestamp($2::bigint))",
	                     2, p, err, errsize);
	if (!res)
		goto rollback;
	bool ready = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!ready) {
		rc = 0;
		goto rollback;
	}
	if (vm_pgx_cmd(pg, "cannot create the packed day's partition",
	               "SELECT vm_ensure_partitions(to_timestamp($1::bigint), to_timestamp($1::bigint), ARRAY['raw'])",
	               1, p, err, errsize) < 0 ||
	    read_and_pack(pg, part_q, st, err, errsize) < 0)
		goto rollback;
	char *trunc = vm_xasprintf("TRUNCATE %s", part_q);
	int trc = vm_pgx_cmd(pg, "cannot empty the day's minutes", trunc, 0, NULL, err, errsize);
	free(trunc);
	if (trc < 0 || vm_pgx_cmd(pg, "cannot commit the packed day", "COMMIT", 0, NULL, err, errsize) < 0)
		goto rollback;
	rc = st->minutes ? 1 : 0;
	goto out;
rollback:
	PQclear(PQexec(pg, "ROLLBACK"));
	if (rc == 0)
		memset(st, 0, sizeof *st);
out:
	PQfreemem(part_q);
	return rc;
}

/* ---------------------------------------------------------------- unpack */

static void copy_row(struct vm_binw *w, int vm_id, int host, const struct vm_usage_row *r)
{
	char t[32], head[96];
	utc_text(t, sizeof t, r->minute_ns);
	snprintf(head, sizeof head, "%d\t%d\t%s\t%" PRId32 "\t%" PRId32, host, vm_id, t, r->coverage_ms, r->samples);
	text(w, head);
	text_u64(w, "\t", r->late, true);
	for (size_t m = 0; m < r->set->n; m++) {
		bool has = r->have & (UINT64_C(1) << m);
		if (m < r->set->n_counters) {
			if (has)
				text_u64(w, "\t", r->sum[m], true);
			else
				text(w, "\t\\N");
		} else if (has) {
			text_u64(w, "\t", r->avg[m], true);
			text_u64(w, "\t", r->max[m], true);
		} else {
			text(w, "\t\\N\t\\N");
		}
	}
	text(w, "\n");
}

long vm_packed_unpack(PGconn *pg, int64_t from_ns, int64_t to_ns, int host_id, char *err, size_t errsize)
{
	char from[32], to[32], host[16];
	snprintf(from, sizeof from, "%" PRId64, from_ns / VM_NS_PER_SEC);
	snprintf(to, sizeof to, "%" PRId64, to_ns / VM_NS_PER_SEC);
	snprintf(host, sizeof host, "%d", host_id);
	const char *p[] = {from, to, host};
	PGresult *res =
	    exec(pg, "cannot read packed hours",
	         "SELECT p.vm_id, v.uuid, p.host_id, extract(epoch FROM p.hour)::bigint, p.data "
	         "FROM vm_usage_packed p LEFT JOIN vm v ON v.vm_id = p.vm_id "
	         "WHERE p.hour >= to_timestamp($1::bigint) AND p.hour < to_timestamp($2::bigint) "
	         "AND ($3::int = 0 OR p.host_id = $3::int) ORDER BY p.hour, p.host_id, p.vm_id FOR UPDATE OF p",
	         3, p, err, errsize);
	if (!res)
		return -1;
	long n = PQntuples(res);
	if (n == 0) {
		PQclear(res);
		return 0;
	}
	const struct vm_meter_set *set = vm_usage_vm_meters();
	char *cols = meter_columns(set, "");
	char *copy =
	    vm_xasprintf("COPY vm_unpacked (host_id, vm_id, minute, coverage_ms, samples, late%s) FROM STDIN", cols);
	/* A minute delivered again after its day was packed gives way to the
	 * packed one: the wide table keeps a minute's first delivery too (its
	 * key makes a second write a no-op), and a minute is counted once. */
	char *merge = vm_xasprintf("INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, late%s) "
	                           "SELECT host_id, vm_id, minute, coverage_ms, samples, late%s FROM vm_unpacked",
	                           cols, cols);
	free(cols);
	struct vm_binw w = {0};
	struct vm_usage_row *rows = NULL;
	long rc = -1;
	/* the day's minute partition may be gone (dropped by hand) */
	if (vm_pgx_cmd(
	        pg, "cannot create the minutes' partitions",
	        "SELECT vm_ensure_partitions(to_timestamp($1::bigint), to_timestamp($2::bigint) - interval '1 second', "
	        "ARRAY['raw'])",
	        2, p, err, errsize) < 0 ||
	    vm_pgx_cmd(pg, "cannot make a table for unpacked minutes",
	               "CREATE TEMP TABLE vm_unpacked (LIKE vm_usage_minute INCLUDING DEFAULTS) ON COMMIT DROP", 0,
	               NULL, err, errsize) < 0 ||
	    begin_copy(pg, copy, err, errsize) < 0)
		goto out;
	rows = vm_xcalloc(60, sizeof *rows);
	for (long i = 0; i < n; i++) {
		int vm_id = atoi(PQgetvalue(res, (int)i, 0)), h = atoi(PQgetvalue(res, (int)i, 2));
		int64_t hour = strtoll(PQgetvalue(res, (int)i, 3), NULL, 10) * VM_NS_PER_SEC;
		size_t len, got;
		unsigned char *data = PQunescapeBytea((const unsigned char *)PQgetvalue(res, (int)i, 4), &len);
		char e[256];
		int urc = data ? vm_unpack_hour(set, hour, data, len, rows, &got, e, sizeof e) : -1;
		if (!data)
			snprintf(e, sizeof e, "not bytea");
		PQfreemem(data);
		if (urc < 0) {
			char t[32];
			utc_text(t, sizeof t, hour);
			snprintf(err, errsize, "packed hour %s of vm %s (vm_id %d) on host %d is damaged: %s", t,
			         PQgetisnull(res, (int)i, 1) ? "?" : PQgetvalue(res, (int)i, 1), vm_id, h, e);
			abort_copy(pg);
			goto out;
		}
		for (size_t k = 0; k < got; k++)
			copy_row(&w, vm_id, h, &rows[k]);
		if (w.len >= COPY_FLUSH && put_copy(pg, &w, err, errsize) < 0) {
			abort_copy(pg);
			goto out;
		}
	}
	if (end_copy(pg, &w, "cannot unpack minutes", err, errsize) < 0 ||
	    vm_pgx_cmd(pg, "cannot replace minutes delivered again",
	               "DELETE FROM vm_usage_minute m USING vm_unpacked u "
	               "WHERE m.vm_id = u.vm_id AND m.minute = u.minute AND m.host_id = u.host_id",
	               0, NULL, err, errsize) < 0 ||
	    vm_pgx_cmd(pg, "cannot put unpacked minutes back", merge, 0, NULL, err, errsize) < 0 ||
	    vm_pgx_cmd(pg, "cannot delete unpacked hours",
	               "DELETE FROM vm_usage_packed WHERE hour >= to_timestamp($1::bigint) AND hour < "
	               "to_timestamp($2::bigint) "
	               "AND ($3::int = 0 OR host_id = $3::int)",
	               3, p, err, errsize) < 0 ||
	    vm_pgx_cmd(pg, "cannot drop the unpacked minutes' table", "DROP TABLE vm_unpacked", 0, NULL, err, errsize) <
	        0)
		goto out;
	rc = n;
out:
	free(rows);
	vm_binw_release(&w);
	free(copy);
	free(merge);
	PQclear(res);
	return rc;
}
