/* Kept reports: see keep.h and docs/REPORTS.md, "Kept reports". */
#include "config.h"

#include "keep.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static int render(const struct rep_cb *r, size_t fmt, struct body *b, char *err, size_t errsize)
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
		int rc = rep_cb_pdf(r, path, &pages, err, errsize);
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
	int rc = fmt == 0 ? rep_cb_html(r, f) : fmt == 1 ? rep_cb_csv(r, f) : rep_cb_json(r, f);
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

/* One report: every format made, then stored in one transaction (the
 * kept copy is whole or the old one), then copied to dir. */
static int make_one(struct vm_pg *pg, const char *tenant, const char *month, const char *source, const char *dir,
                    struct rep_keep_stats *st, char *err, size_t errsize)
{
	char why[1024];
	struct rep_cb *r;
	if (rep_cb_load(pg, tenant, month, false, &r, why, sizeof why) < 0) {
		snprintf(err, errsize, "the chargeback report of '%s' for %s: %s", tenant, month, why);
		return -1;
	}
	struct body b[N_FORMATS] = {{0}};
	int rc = 0;
	for (size_t i = 0; i < N_FORMATS && rc == 0; i++)
		if (render(r, i, &b[i], why, sizeof why) < 0) {
			snprintf(err, errsize, "the chargeback report of '%s' for %s: %s", tenant, month, why);
			rc = -1;
		}
	rep_cb_free(r);
	char period[16];
	snprintf(period, sizeof period, "%s-01", month);
	if (rc == 0 && vm_pg_begin(pg) < 0)
		rc = vm_pg_fail(pg, "keeping a report", err, errsize);
	if (rc == 0) {
		const char *p[3] = {tenant, period, NULL};
		if (vm_pg_cmd(pg, "DELETE FROM report_file WHERE kind = 'chargeback' AND tenant = $1 AND period = $2",
		              2, p) < 0)
			rc = vm_pg_fail(pg, "replacing a kept report", err, errsize);
		for (size_t i = 0; i < N_FORMATS && rc == 0; i++) {
			char *h = hex(&b[i]);
			const char *q[5] = {tenant, period, formats[i], source, h};
			if (vm_pg_cmd(pg,
			              "INSERT INTO report_file (kind, tenant, period, format, source, body) "
			              "VALUES ('chargeback', $1, $2, $3, $4, decode($5, 'hex'))",
			              5, q) < 0)
				rc = vm_pg_fail(pg, "keeping a report", err, errsize);
			free(h);
		}
		if (rc == 0 && vm_pg_commit(pg) < 0)
			rc = vm_pg_fail(pg, "keeping a report", err, errsize);
		if (rc < 0)
			vm_pg_rollback(pg);
	}
	if (rc == 0 && dir) {
		char *t = rep_keep_path_name(tenant);
		char *d = vm_xasprintf("%s/%s/%s", dir, t, month);
		free(t);
		if (vm_mkdir_p(d, 0755) < 0) {
			snprintf(err, errsize, "making '%s': %s", d, strerror(errno));
			rc = -1;
		}
		for (size_t i = 0; i < N_FORMATS && rc == 0; i++) {
			char name[32];
			snprintf(name, sizeof name, "chargeback.%s", formats[i]);
			rc = write_file(d, name, &b[i], err, errsize);
			if (rc == 0)
				st->files++;
		}
		free(d);
	}
	for (size_t i = 0; i < N_FORMATS; i++)
		free(b[i].data);
	if (rc == 0)
		st->made++;
	return rc;
}

int rep_keep_due(struct vm_pg *pg, const char *dir, struct rep_keep_stats *st, char *err, size_t errsize)
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
		rc = make_one(pg, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), dir, st, err, errsize);
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
