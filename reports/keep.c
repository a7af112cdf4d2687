/* Kept reports: see keep.h and docs/REPORTS.md, "Kept reports". */
#include "config.h"

#include "keep.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capacity.h"
#include "chargeback.h"
#include "fsutil.h"
#include "pgx.h"
#include "xalloc.h"

/* A report's file is at most this large (a PDF of thousands of VMs). */
#define MAX_BODY (64u << 20)

static const char *const formats[] = {"html", "csv", "json", "pdf"};
#define N_FORMATS (sizeof formats / sizeof *formats)

char *rep_keep_path_name(const char *name)
{
	size_t n = strlen(name);
	char *out = vm_xmalloc(n * 3 + 4), *o = out; /* "%00" for "" */
	if (!n)
		return strcpy(out, "%00"); /* an empty name is a name too */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		            c == '_' || (c == '.' && i > 0);
		if (keep)
			*o++ = (char)c;
		else
			o += sprintf(o, "%%%02X", c);
	}
	*o = '\0';
	return out;
}

/* A rendered format of a report in memory. */
struct body {
	char *data;
	size_t len;
};

/* A report of either kind, as its four writers see it. */
struct doc {
	const void *r;
	int (*html)(const void *r, FILE *f);
	int (*csv)(const void *r, FILE *f);
	int (*json)(const void *r, FILE *f);
	int (*pdf)(const void *r, const char *path, int *pages, char *err, size_t errsize);
};

static int cb_html(const void *r, FILE *f)
{
	return rep_cb_html(r, f);
}
static int cb_csv(const void *r, FILE *f)
{
	return rep_cb_csv(r, f);
}
static int cb_json(const void *r, FILE *f)
{
	return rep_cb_json(r, f);
}
static int cb_pdf(const void *r, const char *path, int *pages, char *err, size_t errsize)
{
	return rep_cb_pdf(r, path, pages, err, errsize);
}
static int cap_html(const void *r, FILE *f)
{
	return rep_cap_html(r, f);
}
static int cap_csv(const void *r, FILE *f)
{
	return rep_cap_csv(r, f);
}
static int cap_json(const void *r, FILE *f)
{
	return rep_cap_json(r, f);
}
static int cap_pdf(const void *r, const char *path, int *pages, char *err, size_t errsize)
{
	return rep_cap_pdf(r, path, pages, err, errsize);
}

static int render(const struct doc *d, size_t fmt, struct body *b, char *err, size_t errsize)
{
	if (fmt == 3) {
		/* the PDF writer wants a file: a private one, read back */
		char path[] = "/tmp/vmeter-report-XXXXXX";
		int fd = mkstemp(path);
		if (fd < 0) {
			snprintf(err, errsize, "a temporary file for the PDF: %s", strerror(errno));
			return -1;
		}
		close(fd);
		int pages;
		int rc = d->pdf(d->r, path, &pages, err, errsize);
		if (rc == 0) {
			b->data = vm_read_file(path, MAX_BODY, &b->len);
			if (!b->data) {
				snprintf(err, errsize, "reading the PDF back: %s", strerror(errno));
				rc = -1;
			}
		}
		unlink(path);
		return rc;
	}
	FILE *f = vm_xmemstream(&b->data, &b->len);
	int rc = fmt == 0 ? d->html(d->r, f) : fmt == 1 ? d->csv(d->r, f) : d->json(d->r, f);
	vm_xmemclose(f);
	if (rc < 0)
		snprintf(err, errsize, "writing the %s", formats[fmt]);
	return rc;
}

static char *hex(const struct body *b)
{
	static const char digits[] = "0123456789abcdef";
	char *h = vm_xmalloc(b->len * 2 + 1);
	for (size_t i = 0; i < b->len; i++) {
		h[2 * i] = digits[(unsigned char)b->data[i] >> 4];
		h[2 * i + 1] = digits[(unsigned char)b->data[i] & 15];
	}
	h[b->len * 2] = '\0';
	return h;
}

/* Writes b to dir/name through a temporary file renamed once whole. */
static int write_file(const char *dir, const char *name, const struct body *b, char *err, size_t errsize)
{
	char *path = vm_xasprintf("%s/%s", dir, name), *tmp = vm_xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	int e = f ? 0 : errno;
	if (f) {
		if (fwrite(b->data, 1, b->len, f) != b->len)
			e = errno ? errno : EIO;
		if (fclose(f) != 0 && !e)
			e = errno;
		if (!e && rename(tmp, path) < 0)
			e = errno;
		if (e)
			unlink(tmp);
	}
	if (e)
		snprintf(err, errsize, "writing '%s': %s", path, strerror(e));
	free(path);
	free(tmp);
	return e ? -1 : 0;
}

/* One report (kind, tenant: "" for the fleet's, month): every format
 * made, then stored in one transaction (the kept copy is whole or the
 * old one), then copied to dir/TENANT-or-fleet/MONTH/KIND.FORMAT. */
static int keep_one(struct vm_pg *pg, const char *kind, const char *tenant, const char *month, const char *source,
                    const struct doc *d, const char *dir, struct rep_keep_stats *st, char *err, size_t errsize)
{
	char why[1024];
	struct body b[N_FORMATS] = {{0}};
	int rc = 0;
	for (size_t i = 0; i < N_FORMATS && rc == 0; i++)
		if (render(d, i, &b[i], why, sizeof why) < 0) {
			snprintf(err, errsize, "the %s report of '%s' for %s: %s", kind, tenant, month, why);
			rc = -1;
		}
	char period[16];
	snprintf(period, sizeof period, "%s-01", month);
	if (rc == 0 && vm_pg_begin(pg) < 0)
		rc = vm_pg_fail(pg, "keeping a report", err, errsize);
	if (rc == 0) {
		const char *p[3] = {kind, tenant, period};
		if (vm_pg_cmd(pg, "DELETE FROM report_file WHERE kind = $1 AND tenant = $2 AND period = $3", 3, p) < 0)
			rc = vm_pg_fail(pg, "replacing a kept report", err, errsize);
		for (size_t i = 0; i < N_FORMATS && rc == 0; i++) {
			char *h = hex(&b[i]);
			const char *q[6] = {kind, tenant, period, formats[i], source, h};
			if (vm_pg_cmd(pg,
			              "INSERT INTO report_file (kind, tenant, period, format, source, body) "
			              "VALUES ($1, $2, $3, $4, $5, decode($6, 'hex'))",
			              6, q) < 0)
				rc = vm_pg_fail(pg, "keeping a report", err, errsize);
			free(h);
		}
		if (rc == 0 && vm_pg_commit(pg) < 0)
			rc = vm_pg_fail(pg, "keeping a report", err, errsize);
		if (rc < 0)
			vm_pg_rollback(pg);
	}
	if (rc == 0 && dir) {
		/* the fleet's reports under "%fleet": no tenant's name gives it
		 * (rep_keep_path_name writes '%' only before two hex digits) */
		char *t = *tenant ? rep_keep_path_name(tenant) : vm_xstrdup("%fleet");
		char *dd = vm_xasprintf("%s/%s/%s", dir, t, month);
		free(t);
		if (vm_mkdir_p(dd, 0755) < 0) {
			snprintf(err, errsize, "making '%s': %s", dd, strerror(errno));
			rc = -1;
		}
		for (size_t i = 0; i < N_FORMATS && rc == 0; i++) {
			char name[32];
			snprintf(name, sizeof name, "%s.%s", kind, formats[i]);
			rc = write_file(dd, name, &b[i], err, errsize);
			if (rc == 0)
				st->files++;
		}
		free(dd);
	}
	for (size_t i = 0; i < N_FORMATS; i++)
		free(b[i].data);
	if (rc == 0)
		st->made++;
	return rc;
}

static int make_chargeback(struct vm_pg *pg, const char *tenant, const char *month, const char *source, const char *dir,
                           struct rep_keep_stats *st, char *err, size_t errsize)
{
	char why[1024];
	struct rep_cb *r;
	if (rep_cb_load(pg, tenant, month, false, &r, why, sizeof why) < 0) {
		snprintf(err, errsize, "the chargeback report of '%s' for %s: %s", tenant, month, why);
		return -1;
	}
	struct doc d = {r, cb_html, cb_csv, cb_json, cb_pdf};
	int rc = keep_one(pg, "chargeback", tenant, month, source, &d, dir, st, err, errsize);
	rep_cb_free(r);
	return rc;
}

/* The fleet's capacity report of a closed UTC month, by host. */
static int make_capacity(struct vm_pg *pg, const struct rep_conf *conf, const char *month, const char *source,
                         const char *dir, struct rep_keep_stats *st, char *err, size_t errsize)
{
	char why[1024];
	struct rep_cap_params p = {0};
	if (rep_cap_period_parse(NULL, month, &p, why, sizeof why) < 0) {
		snprintf(err, errsize, "the capacity report of %s: %s", month, why);
		return -1;
	}
	p.group = REP_CAP_BY_HOST;
	p.conf = conf;
	p.now = (int64_t)time(NULL);
	struct rep_cap *r;
	if (rep_cap_load(pg, &p, &r, why, sizeof why) < 0) {
		snprintf(err, errsize, "the capacity report of %s: %s", month, why);
		return -1;
	}
	struct doc d = {r, cap_html, cap_csv, cap_json, cap_pdf};
	int rc = keep_one(pg, "capacity", "", month, source, &d, dir, st, err, errsize);
	rep_cap_free(r);
	return rc;
}

int rep_keep_due(struct vm_pg *pg, const struct rep_conf *conf, const char *dir, struct rep_keep_stats *st, char *err,
                 size_t errsize)
{
	memset(st, 0, sizeof *st);
	/* each finalised month's document, and what its report is made
	 * from: the document and its credit notes (a new one changes the
	 * report) */
	PGresult *r = vm_pg_exec(
	    pg,
	    "WITH d AS (SELECT i.tenant, to_char(i.period, 'YYYY-MM') AS month, i.period, "
	    "format('%s %s (%s)%s', i.kind, i.invoice_id, coalesce(i.number, 'no number'), "
	    "coalesce(', credit notes ' || (SELECT string_agg(c.number, ' ' ORDER BY c.invoice_id) "
	    "FROM bill_invoice c WHERE c.credits = i.invoice_id AND c.state = 'final'), '')) AS source "
	    "FROM bill_invoice i WHERE i.kind <> 'credit' AND i.state = 'final') "
	    "SELECT d.tenant, d.month, d.source, (SELECT count(*) FROM report_file f WHERE f.kind = 'chargeback' "
	    "AND f.tenant = d.tenant AND f.period = d.period AND f.source = d.source) = 4 "
	    "FROM d ORDER BY d.period, d.tenant",
	    0, NULL);
	if (!r)
		return vm_pg_fail(pg, "finding the finalised months", err, errsize);
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		if (PQgetvalue(r, i, 3)[0] == 't') {
			st->up_to_date++;
			continue;
		}
		rc = make_chargeback(pg, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), dir, st, err,
		                     errsize);
	}
	PQclear(r);
	if (rc < 0)
		return rc;
	/* the fleet's capacity report of each UTC month the rollups have
	 * closed, from the first month with usage on; once (late rows that
	 * reopen an hour of a kept month do not make it again: see
	 * docs/REPORTS.md) */
	r = vm_pg_exec(
	    pg,
	    "WITH b AS (SELECT date_trunc('month', min(hour), 'UTC') AS first FROM vm_usage_hour), "
	    "c AS (SELECT closed_upto FROM rollup_state WHERE closed_upto > '-infinity') "
	    "SELECT to_char(m AT TIME ZONE 'UTC', 'YYYY-MM'), 'rollups closed through ' || "
	    "to_char((m + interval '1 month') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI \"UTC\"'), "
	    "EXISTS (SELECT 1 FROM report_file f WHERE f.kind = 'capacity' AND f.tenant = '' "
	    "AND f.period = (m AT TIME ZONE 'UTC')::date) "
	    "FROM b, c, generate_series(b.first, date_trunc('month', c.closed_upto, 'UTC') - interval '1 month', "
	    "interval '1 month') m WHERE b.first IS NOT NULL "
	    "AND EXISTS (SELECT 1 FROM vm_usage_hour u WHERE u.hour >= m AND u.hour < m + interval '1 month') "
	    "ORDER BY m",
	    0, NULL);
	if (!r)
		return vm_pg_fail(pg, "finding the closed months", err, errsize);
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		if (PQgetvalue(r, i, 2)[0] == 't') {
			st->up_to_date++;
			continue;
		}
		rc = make_capacity(pg, conf, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), dir, st, err, errsize);
	}
	PQclear(r);
	return rc;
}

int rep_keep_list(struct vm_pg *pg, const char *tenant, FILE *f, char *err, size_t errsize)
{
	const char *p[1] = {tenant};
	PGresult *r = vm_pg_exec(pg,
	                         "SELECT report_id, kind, CASE WHEN tenant = '' THEN '(fleet)' ELSE tenant END, "
	                         "to_char(period, 'YYYY-MM'), format, octet_length(body), "
	                         "to_char(made_at, 'YYYY-MM-DD HH24:MI:SSOF'), source FROM report_file "
	                         "WHERE $1::text IS NULL OR tenant = $1 ORDER BY period, kind, tenant, format",
	                         1, p);
	if (!r)
		return vm_pg_fail(pg, "listing kept reports", err, errsize);
	for (int i = 0; i < PQntuples(r); i++)
		fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s bytes\t%s\t%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
		        PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
		        PQgetvalue(r, i, 6), PQgetvalue(r, i, 7));
	PQclear(r);
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int rep_keep_get(struct vm_pg *pg, const char *id, FILE *f, char *err, size_t errsize)
{
	const char *p[1] = {id};
	PGresult *r =
	    vm_pg_exec(pg, "SELECT encode(body, 'hex') FROM report_file WHERE report_id = $1::text::bigint", 1, p);
	if (!r)
		return vm_pg_fail(pg, "reading a kept report", err, errsize);
	if (PQntuples(r) != 1) {
		PQclear(r);
		return 1;
	}
	const char *h = PQgetvalue(r, 0, 0);
	size_t n = strlen(h);
	for (size_t i = 0; i + 1 < n; i += 2) {
		int a = hexval(h[i]), b = hexval(h[i + 1]);
		if (a < 0 || b < 0) {
			PQclear(r);
			snprintf(err, errsize, "report %s: its body is not hex", id);
			return -1;
		}
		fputc(a << 4 | b, f);
	}
	PQclear(r);
	return 0;
}
