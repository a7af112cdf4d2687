/* vmeter-web's endpoints for the pages: overview, alerts, reports, plans,
 * invoice downloads, a VM's history, the VM list's usage, hosts, and the
 * graph series (call.h; docs/WEB.md, "API").
 *
 * Every query takes the tenant scope of the session's or token's user
 * ($1, web_call_scope()) and its values as parameters.  Blocking work
 * (librrd's fetches, billing's invoice reader and PDF renderer) runs on
 * the worker threads (worker.h); the loop never waits. */
#include "config.h"

#include <errno.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "call.h"
#include "invoice.h"
#include "invoice_db.h"
#include "log.h"
#include "series.h"
#include "xalloc.h"

const char *const web_download_params[] = {"format", NULL};
const char *const web_usage_params[] = {"from", "to", NULL};

/* A VM class that calls for attention ("firing"): not ok, right-sized,
 * unknown or powered off. */
#define FIRING "c.class NOT IN ('ok', 'right-sized', 'unknown', 'powered-off')"

/* ------------------------------------------------------------ overview */

/* Each host's figures in percent and its dominant resource (the higher
 * of CPU, by use or demand, and memory by allocation).  Hosts are staff
 * things: a viewer gets none. */
#define OVERVIEW_HOSTS                                                                                                 \
	"CASE WHEN $1::text IS NULL THEN (SELECT coalesce(json_agg(json_build_object("                                 \
	"'name', h.hostname, 'cpus', f.cpus, 'memory_kib', f.mem_total_kib, 'vms', f.vms, "                            \
	"'cpu_busy_pct', round(f.busy_bp::numeric / 100, 2), "                                                         \
	"'cpu_demand_pct', round(f.demand_bp::numeric / 100, 2), "                                                     \
	"'mem_ratio_pct', round(f.mem_ratio_bp::numeric / 100, 2), "                                                   \
	"'vcpu_ratio', round(f.vcpu_ratio_bp::numeric / 10000, 2), "                                                   \
	"'delay_pct', round(f.delay_bp::numeric / 100, 2), "                                                           \
	"'coverage_pct', round(f.coverage_bp::numeric / 100, 2), "                                                     \
	"'dominant', CASE WHEN greatest(f.busy_bp, f.demand_bp) IS NULL AND f.mem_ratio_bp IS NULL THEN NULL "         \
	"WHEN coalesce(f.mem_ratio_bp, -1) > coalesce(greatest(f.busy_bp, f.demand_bp), -1) THEN 'memory' "            \
	"ELSE 'cpu' END, "                                                                                             \
	"'dominant_pct', round(greatest(f.busy_bp, f.demand_bp, f.mem_ratio_bp)::numeric / 100, 2), "                  \
	"'judged_at', f.judged_at) ORDER BY h.hostname), '[]') "                                                       \
	"FROM host h LEFT JOIN agg_host_figures f USING (host_id)) ELSE '[]'::json END"

/* The VMs in scope with their current figures. */
#define OVERVIEW_VMS                                                                                                   \
	"(SELECT coalesce(json_agg(json_build_object(" VM_FIELDS ", "                                                  \
	"'cpu_alloc_pct', round(f.cpu_alloc_bp::numeric / 100, 2), "                                                   \
	"'cpu_host_pct', round(f.cpu_host_bp::numeric / 100, 2), "                                                     \
	"'delay_pct', round(f.delay_bp::numeric / 100, 2), "                                                           \
	"'mem_used_pct', round(f.used_alloc_bp::numeric / 100, 2), "                                                   \
	"'rss_host_pct', round(f.rss_host_bp::numeric / 100, 2), "                                                     \
	"'disk_bps', f.disk_rd_bps + f.disk_wr_bps, 'net_bps', f.net_rx_bps + f.net_tx_bps, "                          \
	"'coverage_pct', round(f.coverage_bp::numeric / 100, 2)) ORDER BY i.name, v.uuid), '[]') "                     \
	"FROM vm v JOIN LATERAL (SELECT * FROM vm_inventory x WHERE x.vm_id = v.vm_id "                                \
	"ORDER BY valid_from DESC LIMIT 1) i ON true JOIN host h ON h.host_id = i.host_id "                            \
	"LEFT JOIN LATERAL (SELECT event, at FROM vm_event e WHERE e.vm_id = v.vm_id ORDER BY at DESC LIMIT 1) e "     \
	"ON true LEFT JOIN agg_vm_figures f ON f.vm_id = v.vm_id WHERE ($1::text IS NULL OR i.tenant = $1))"

/* The classes in scope that call for attention, newest first. */
#define OVERVIEW_CLASSES                                                                                               \
	"(SELECT coalesce(json_agg(json_build_object('uuid', v.uuid, 'name', i.name, 'dimension', c.dimension, "       \
	"'class', c.class, 'since', c.since) ORDER BY c.since DESC), '[]') "                                           \
	"FROM agg_vm_class c JOIN vm v ON v.vm_id = c.vm_id JOIN LATERAL (SELECT * FROM vm_inventory x "               \
	"WHERE x.vm_id = v.vm_id ORDER BY valid_from DESC LIMIT 1) i ON true "                                         \
	"WHERE " FIRING " AND ($1::text IS NULL OR i.tenant = $1))"

/* This month's drafts (or the month's invoice once final), in the
 * tenant's own month. */
#define OVERVIEW_COST                                                                                                  \
	"(SELECT coalesce(json_agg(json_build_object('tenant', b.tenant, 'invoice', b.invoice_id, "                    \
	"'period', to_char(b.period, 'YYYY-MM'), 'state', b.state, 'currency', b.currency, "                           \
	"'total_nano', b.total, 'total', trim_scale(b.total::numeric / 1000000000)::text) ORDER BY b.tenant), "        \
	"'[]') FROM bill_invoice b WHERE b.kind <> 'credit' "                                                          \
	"AND b.period = date_trunc('month', now() AT TIME ZONE b.time_zone)::date "                                    \
	"AND ($1::text IS NULL OR b.tenant = $1))"

void web_do_overview(struct call *c)
{
	const char *p[1] = {web_call_scope(c)};
	web_call_submit(c,
	                "SELECT json_build_object('figures_at', (SELECT max(cycle_at) FROM agg_cycle), "
	                "'hosts', " OVERVIEW_HOSTS ", 'vms', " OVERVIEW_VMS ", 'classes', " OVERVIEW_CLASSES
	                ", 'cost', " OVERVIEW_COST ")::text",
	                1, p, web_call_one_json);
}

/* ------------------------------------------------------------ alerts */

void web_do_alerts(struct call *c)
{
	const char *p[1] = {web_call_scope(c)};
	/* evidence may compare a VM with its neighbours: staff only */
	web_call_submit(
	    c,
	    "WITH cur AS (SELECT v.vm_id, v.uuid, i.name, i.tenant, h.hostname FROM vm v JOIN LATERAL "
	    "(SELECT * FROM vm_inventory x WHERE x.vm_id = v.vm_id ORDER BY valid_from DESC LIMIT 1) i ON true "
	    "JOIN host h ON h.host_id = i.host_id WHERE ($1::text IS NULL OR i.tenant = $1)) "
	    "SELECT json_build_object('classes', (SELECT coalesce(json_agg(json_build_object('uuid', cur.uuid, "
	    "'name', cur.name, 'tenant', cur.tenant, 'host', cur.hostname, 'dimension', c.dimension, "
	    "'class', c.class, 'firing', " FIRING ", 'since', c.since, 'judged_at', c.judged_at, "
	    "'evidence', CASE WHEN $1::text IS NULL THEN c.evidence END) "
	    "ORDER BY " FIRING " DESC, c.since DESC, cur.name), '[]') FROM agg_vm_class c JOIN cur USING (vm_id)), "
	    "'changes', (SELECT coalesce(json_agg(json_build_object('uuid', x.uuid, 'name', x.name, "
	    "'dimension', x.dimension, 'at', x.at, 'from', x.from_class, 'to', x.to_class) ORDER BY x.at DESC), '[]') "
	    "FROM (SELECT cur.uuid, cur.name, g.dimension, g.at, g.from_class, g.to_class FROM agg_vm_class_change g "
	    "JOIN cur USING (vm_id) ORDER BY g.at DESC LIMIT 200) x), "
	    "'rules', '[]'::json)::text",
	    1, p, web_call_one_json);
}

/* ------------------------------------------------------------ reports */

/* A viewer's reports are its tenant's; the fleet's ('') are staff's. */
#define REPORT_SCOPE "($1::text IS NULL OR (r.tenant = $1 AND r.tenant <> ''))"

void web_do_reports(struct call *c)
{
	const char *p[1] = {web_call_scope(c)};
	web_call_submit(c,
	                "SELECT json_build_object('reports', coalesce(json_agg(json_build_object('id', r.report_id, "
	                "'kind', r.kind, 'tenant', nullif(r.tenant, ''), 'period', to_char(r.period, 'YYYY-MM'), "
	                "'format', r.format, 'source', r.source, 'made_at', r.made_at, 'bytes', octet_length(r.body)) "
	                "ORDER BY r.period DESC, r.kind, r.tenant, r.format), '[]'))::text FROM report_file r "
	                "WHERE " REPORT_SCOPE,
	                1, p, web_call_one_json);
}

static const char *format_type(const char *format)
{
	if (strcmp(format, "csv") == 0)
		return "text/csv; charset=utf-8";
	if (strcmp(format, "json") == 0)
		return "application/json";
	if (strcmp(format, "pdf") == 0)
		return "application/pdf";
	if (strcmp(format, "html") == 0)
		return "text/html; charset=utf-8";
	return "application/octet-stream";
}

/* Sends body as a download named NAME.FORMAT ([A-Za-z0-9._-] only: the
 * rest of a tenant's name becomes '_'). */
static void reply_download(struct call *c, const char *name, const char *format, const char *body, size_t len)
{
	char file[160], disp[200];
	snprintf(file, sizeof file, "%s.%s", name, format);
	for (char *q = file; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '.' ||
		      *q == '-' || *q == '_'))
			*q = '_';
	snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", file);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Disposition", disp);
	web_call_reply(c, 200, format_type(format), body, len);
}

static void report_found(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	struct call *c = arg;
	if (web_call_db_failed(c, res, failure, error))
		return;
	if (PQntuples(res) != 1) {
		web_call_fail(c, 404, "no such object");
		return;
	}
	size_t len = 0;
	unsigned char *body = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 4), &len);
	if (!body) {
		web_call_fail(c, 500, "cannot read the report's body");
		return;
	}
	char name[128];
	const char *tenant = PQgetvalue(res, 0, 1);
	snprintf(name, sizeof name, "vmeter-%s-%s-%s", PQgetvalue(res, 0, 0), *tenant ? tenant : "fleet",
	         PQgetvalue(res, 0, 2));
	char format[8];
	snprintf(format, sizeof format, "%s", PQgetvalue(res, 0, 3));
	reply_download(c, name, format, (const char *)body, len);
	PQfreemem(body);
}

void web_do_report_download(struct call *c)
{
	if (web_id_parse(c->id) < 0) {
		web_call_fail(c, 404, "no such object");
		return;
	}
	const char *p[2] = {web_call_scope(c), c->id};
	web_call_submit(c,
	                "SELECT r.kind, r.tenant, to_char(r.period, 'YYYY-MM'), r.format, r.body FROM report_file r "
	                "WHERE r.report_id = $2::bigint AND " REPORT_SCOPE,
	                2, p, report_found);
}

/* ------------------------------------------------------------ plans */

void web_do_plans(struct call *c)
{
	const char *p[1] = {web_call_scope(c)};
	/* A viewer sees its tenant and the plan versions its usage was rated
	 * with; the plan files (every tenant's prices) are staff's. */
	web_call_submit(c,
	                "SELECT json_build_object('tenants', (SELECT coalesce(json_agg(json_build_object('tenant', "
	                "t.tenant, 'currency', t.currency, 'time_zone', t.time_zone, 'showback', t.showback) "
	                "ORDER BY t.tenant), '[]') FROM bill_tenant t WHERE $1::text IS NULL OR t.tenant = $1), "
	                "'plans', (SELECT coalesce(json_agg(json_build_object('id', b.version_id, 'plan', b.plan, "
	                "'label', b.label, 'currency', b.currency, 'description', b.description, 'first_loaded', "
	                "b.first_loaded) ORDER BY b.plan, b.first_loaded), '[]') FROM bill_version b "
	                "WHERE $1::text IS NULL OR b.version_id IN (SELECT DISTINCT version_id FROM bill_rated "
	                "WHERE tenant = $1)), "
	                "'files', CASE WHEN $1::text IS NULL THEN (SELECT coalesce(json_agg(json_build_object("
	                "'file', s.file, 'digest', s.digest, 'loaded_at', s.loaded_at, 'body', s.body) "
	                "ORDER BY s.file), '[]') FROM bill_source s) ELSE '[]'::json END)::text",
	                1, p, web_call_one_json);
}

/* ------------------------------------------------------------ invoice downloads */

struct export_job {
	int invoice_id;
	char format[8];
	char name[96];
	char *body; /* the file, len bytes; NULL: err */
	size_t len;
	char err[512];
};

static void export_job_free(void *p)
{
	struct export_job *j = p;
	free(j->body);
	free(j);
}

/* A PDF is written to a file by lib/doc: a private temporary one, read
 * back and removed. */
static int render_pdf(const struct vm_invoice *inv, struct export_job *j)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/vmeter-web-invoice-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) {
		snprintf(j->err, sizeof j->err, "cannot make a temporary file in '%s': %s", dir && *dir ? dir : "/tmp",
		         strerror(errno));
		return -1;
	}
	close(fd);
	int pages, rc = vm_invoice_pdf(inv, path, &pages, j->err, sizeof j->err);
	FILE *f = rc == 0 ? fopen(path, "rb") : NULL;
	if (rc == 0 && !f) {
		snprintf(j->err, sizeof j->err, "cannot read back '%.200s': %s", path, strerror(errno));
		rc = -1;
	}
	if (f) {
		char *text = NULL;
		size_t len = 0;
		FILE *m = vm_xmemstream(&text, &len);
		char buf[65536];
		size_t n;
		while ((n = fread(buf, 1, sizeof buf, f)) > 0)
			fwrite(buf, 1, n, m);
		if (ferror(f)) {
			snprintf(j->err, sizeof j->err, "cannot read back '%.200s'", path);
			rc = -1;
		}
		fclose(f);
		vm_xmemclose(m);
		j->body = text;
		j->len = len;
	}
	unlink(path);
	return rc;
}

static void export_run(struct web_worker_thread *t, void *arg)
{
	struct call *c = arg;
	struct export_job *j = c->ext;
	char err[512];
	struct vm_pg *pg = web_worker_pg(t, err, sizeof err);
	if (!pg) {
		snprintf(j->err, sizeof j->err, "database: %.400s", err);
		return;
	}
	struct vm_invoice_db *d = vm_invoice_db_load(pg, j->invoice_id, j->err, sizeof j->err);
	if (!d)
		return;
	if (strcmp(j->format, "pdf") == 0) {
		if (render_pdf(&d->inv, j) < 0) {
			free(j->body);
			j->body = NULL;
		}
	} else {
		char *text = NULL;
		size_t len = 0;
		FILE *m = vm_xmemstream(&text, &len);
		int rc = strcmp(j->format, "csv") == 0 ? vm_invoice_csv(&d->inv, m) : vm_invoice_json(&d->inv, m);
		vm_xmemclose(m);
		if (rc < 0) {
			snprintf(j->err, sizeof j->err, "invoice %d: its total is out of range", j->invoice_id);
			free(text);
		} else {
			j->body = text;
			j->len = len;
		}
	}
	vm_invoice_db_free(d);
}

static void export_done(int cancelled, void *arg)
{
	struct call *c = arg;
	struct export_job *j = c->ext;
	if (cancelled) {
		web_call_fail(c, 503, "the server is stopping");
		return;
	}
	if (!j->body) {
		vm_err("invoice %d as %s: %s", j->invoice_id, j->format, j->err);
		web_call_fail(c, 500, "cannot export the invoice (see the server's log)");
		return;
	}
	reply_download(c, j->name, j->format, j->body, j->len);
}

static void invoice_found(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	struct call *c = arg;
	if (web_call_db_failed(c, res, failure, error))
		return;
	if (PQntuples(res) != 1) {
		web_call_fail(c, 404, "no such object");
		return;
	}
	struct export_job *j = c->ext;
	snprintf(j->name, sizeof j->name, "%s", PQgetvalue(res, 0, 0));
	if (web_worker_submit(web_call_worker(c), export_run, export_done, c) < 0)
		web_call_fail(c, 503, "too many exports waiting: try again");
}

void web_do_invoice_download(struct call *c)
{
	long id = web_id_parse(c->id);
	if (id < 0) {
		web_call_fail(c, 404, "no such object");
		return;
	}
	const char *format = web_query_get(c->q, "format");
	if (!format || (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0 && strcmp(format, "pdf") != 0)) {
		char msg[96];
		if (format)
			snprintf(msg, sizeof msg, "format: '%.16s' is none of csv, json, pdf", format);
		else
			snprintf(msg, sizeof msg, "format: missing (csv, json or pdf)");
		web_call_fail(c, 400, msg);
		return;
	}
	struct export_job *j = vm_xcalloc(1, sizeof *j);
	j->invoice_id = (int)id;
	snprintf(j->format, sizeof j->format, "%s", format);
	c->ext = j;
	c->ext_free = export_job_free;
	/* the tenant check first, on the loop; the export on a worker */
	const char *p[2] = {web_call_scope(c), c->id};
	web_call_submit(c,
	                "SELECT 'vmeter-invoice-' || coalesce(number, 'draft-' || invoice_id) FROM bill_invoice "
	                "WHERE ($1::text IS NULL OR tenant = $1) AND invoice_id = $2::int",
	                2, p, invoice_found);
}

/* ------------------------------------------------------------ a VM's history, hosts */

void web_do_vm_history(struct call *c)
{
	if (!web_uuid_valid(c->id)) {
		web_call_fail(c, 404, "no such object");
		return;
	}
	const char *p[2] = {web_call_scope(c), c->id};
	/* A viewer sees the VM's inventory rows of its own tenant only, and
	 * its events since the VM first was its tenant's. */
	web_call_submit(
	    c,
	    "SELECT json_build_object('uuid', v.uuid, 'name', i.name, "
	    "'inventory', (SELECT coalesce(json_agg(json_build_object('valid_from', x.valid_from, 'name', x.name, "
	    "'host', hh.hostname, 'tenant', x.tenant, 'project', x.project, 'cost_centre', x.cost_centre, "
	    "'owner_source', x.owner_source, 'vcpus', x.vcpus, 'memory_kib', x.memory_kib, 'tags', x.tags) "
	    "ORDER BY x.valid_from DESC), '[]') FROM vm_inventory x JOIN host hh ON hh.host_id = x.host_id "
	    "WHERE x.vm_id = v.vm_id AND ($1::text IS NULL OR x.tenant = $1)), "
	    "'events', (SELECT coalesce(json_agg(json_build_object('event', ev.event, 'at', ev.at) "
	    "ORDER BY ev.at DESC), '[]') FROM (SELECT * FROM vm_event y WHERE y.vm_id = v.vm_id AND ($1::text IS NULL "
	    "OR y.at >= (SELECT min(valid_from) FROM vm_inventory z WHERE z.vm_id = v.vm_id AND z.tenant = $1)) "
	    "ORDER BY y.at DESC LIMIT 50) ev), "
	    "'classes', (SELECT coalesce(json_agg(json_build_object('dimension', c.dimension, 'class', c.class, "
	    "'firing', " FIRING ", 'since', c.since, 'judged_at', c.judged_at, "
	    "'evidence', CASE WHEN $1::text IS NULL THEN c.evidence END) ORDER BY c.dimension), '[]') "
	    "FROM agg_vm_class c WHERE c.vm_id = v.vm_id), "
	    "'figures', (SELECT json_build_object('window_from', f.window_from, 'window_to', f.window_to, "
	    "'cpu_alloc_pct', round((f.cpu_alloc_bp)::numeric / 100, 2), 'cpu_host_pct', "
	    "round((f.cpu_host_bp)::numeric / 100, 2), "
	    "'delay_pct', round((f.delay_bp)::numeric / 100, 2), 'mem_used_pct', round((f.used_alloc_bp)::numeric / "
	    "100, 2), "
	    "'coverage_pct', round((f.coverage_bp)::numeric / 100, 2)) FROM agg_vm_figures f WHERE f.vm_id = "
	    "v.vm_id))::text " VM_CURRENT "AND v.uuid = lower($2)::uuid",
	    2, p, web_call_one_json);
}

void web_do_host(struct call *c)
{
	const char *p[2] = {NULL, c->id};
	web_call_submit(
	    c,
	    "SELECT json_build_object('name', hs.hostname, 'first_seen', hs.first_seen, 'last_seen', hs.last_seen, "
	    "'inventory', (SELECT json_build_object('cpus', x.cpus, 'mhz', x.mhz, 'memory_kib', x.memory_kib, "
	    "'cpu_model', x.cpu_model, 'numa_nodes', x.numa_nodes, 'sockets', x.sockets, 'cores', x.cores, "
	    "'threads', x.threads, 'since', x.valid_from) FROM host_inventory x WHERE x.host_id = hs.host_id "
	    "ORDER BY x.valid_from DESC LIMIT 1), "
	    "'figures', (SELECT json_build_object('judged_at', f.judged_at, 'vms', f.vms, "
	    "'cpu_busy_pct', round((f.busy_bp)::numeric / 100, 2), 'cpu_demand_pct', round((f.demand_bp)::numeric / "
	    "100, 2), "
	    "'mem_ratio_pct', round((f.mem_ratio_bp)::numeric / 100, 2), 'vcpu_ratio', round(f.vcpu_ratio_bp::numeric "
	    "/ 10000, 2), "
	    "'delay_pct', round((f.delay_bp)::numeric / 100, 2), 'top_vms', f.top_vms) FROM agg_host_figures "
	    "f "
	    "WHERE f.host_id = hs.host_id), "
	    "'vms', (SELECT "
	    "coalesce(json_agg(json_build_object(" VM_FIELDS ") ORDER BY i.name, v.uuid), '[]') " VM_CURRENT
	    "AND i.host_id = hs.host_id))::text FROM host "
	    "hs WHERE hs.hostname = $2",
	    2, p, web_call_one_json);
}

/* ------------------------------------------------------------ the VM list's usage */

void web_do_vm_usage(struct call *c)
{
	struct web_series_req r;
	char err[256];
	if (web_series_parse(WEB_SERIES_VM, c->q, (int64_t)time(NULL), &r, err, sizeof err) < 0) {
		web_call_fail(c, 400, err);
		return;
	}
	/* 24 points a sparkline; steps of whole minutes, or whole hours from an hour up */
	int64_t span = r.to_s - r.from_s, step = (span / 24 + 59) / 60 * 60;
	if (step < 60)
		step = 60;
	if (step > 3600)
		step = (step + 3599) / 3600 * 3600;
	char from[24], to[24], st[24];
	snprintf(from, sizeof from, "%lld", (long long)r.from_s);
	snprintf(to, sizeof to, "%lld", (long long)r.to_s);
	snprintf(st, sizeof st, "%lld", (long long)step);
	const char *p[4] = {web_call_scope(c), from, to, st};
	web_call_submit(
	    c,
	    "WITH f AS MATERIALIZED (SELECT * FROM web_fleet_cpu(to_timestamp($2::bigint), to_timestamp($3::bigint), "
	    "$4::int, $1)), s AS (SELECT f.vm_id, json_agg(json_build_array(f.t, round(f.cpu_alloc_pct::numeric, 2)) "
	    "ORDER BY f.t) AS spark, avg(f.cpu_alloc_pct) AS avg, max(f.cpu_alloc_pct) AS max FROM f GROUP BY f.vm_id) "
	    "SELECT json_build_object('from', $2::bigint, 'to', $3::bigint, 'step', $4::int, "
	    "'vms', coalesce(json_agg(json_build_object(" VM_FIELDS ", 'tags', i.tags, "
	    "'cpu_alloc_pct', round(s.avg::numeric, 2), 'cpu_alloc_max_pct', round(s.max::numeric, 2), "
	    "'spark', coalesce(s.spark, '[]'::json)) ORDER BY i.name, v.uuid), '[]'))::text "
	    "FROM vm v JOIN LATERAL (SELECT * FROM vm_inventory x WHERE x.vm_id = v.vm_id ORDER BY valid_from DESC "
	    "LIMIT 1) i ON true JOIN host h ON h.host_id = i.host_id LEFT JOIN LATERAL (SELECT event, at FROM vm_event "
	    "e WHERE e.vm_id = v.vm_id ORDER BY at DESC LIMIT 1) e ON true LEFT JOIN s ON s.vm_id = v.vm_id "
	    "WHERE ($1::text IS NULL OR i.tenant = $1)",
	    4, p, web_call_one_json);
}

/* ------------------------------------------------------------ graph series */

struct series_job {
	struct web_series_req r;
	char id[16];        /* vm_id or host_id */
	char *subject_json; /* {"uuid", "name", ...} as read */
	char *subject;      /* the uuid or host name as read: the RRD file's name */
	struct web_series_host host;
	char **classes;
	size_t n_classes;
	struct web_series s;
	int rc; /* of the RRD fetch */
	char err[512];
	char *json;
};

static void series_job_free(void *p)
{
	struct series_job *j = p;
	free(j->subject_json);
	free(j->subject);
	for (size_t i = 0; i < j->n_classes; i++)
		free(j->classes[i]);
	free(j->classes);
	web_series_release(&j->s);
	free(j->json);
	free(j);
}

/* A graph's answer is kept as long as its points stand (series.h). */
static void series_keep(struct call *c, const struct series_job *j)
{
	if (c->fetch)
		web_cache_fetch_ttl(c->fetch, web_series_keep_ms(&j->s, web_call_graph_cache_ms(c)));
}

static void json_run(struct web_worker_thread *t, void *arg)
{
	(void)t;
	struct call *c = arg;
	struct series_job *j = c->ext;
	j->json = web_series_json(&j->r, j->subject_json, &j->s);
}

static void json_done(int cancelled, void *arg)
{
	struct call *c = arg;
	struct series_job *j = c->ext;
	if (cancelled) {
		web_call_fail(c, 503, "the server is stopping");
		return;
	}
	series_keep(c, j);
	web_call_reply(c, 200, "application/json", j->json, strlen(j->json));
}

/* The rollups' points are in j->s: their JSON (thousands of numbers,
 * milliseconds of printf) is written on a worker thread, as the RRD's
 * is, so that the loop goes on serving meanwhile. */
static void series_reply(struct call *c)
{
	if (web_worker_submit(web_call_worker(c), json_run, json_done, c) == 0)
		return;
	json_run(NULL, c); /* the queue is full: here, rather than refuse */
	json_done(0, c);
}

/* A result of another shape than schema 14's functions give. */
static void shape_failed(struct call *c)
{
	struct series_job *j = c->ext;
	vm_err("%s", j->err);
	web_call_fail(c, 500, "the database's answer has another shape (see the server's log)");
}

static void traffic_rows(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	struct call *c = arg;
	struct series_job *j = c->ext;
	if (web_call_db_failed(c, res, failure, error))
		return;
	if (web_series_add_traffic(&j->r, res, &j->s, j->err, sizeof j->err) < 0) {
		shape_failed(c);
		return;
	}
	series_reply(c);
}

static void rollup_rows(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	struct call *c = arg;
	struct series_job *j = c->ext;
	if (web_call_db_failed(c, res, failure, error))
		return;
	if (web_series_from_rows(&j->r, res, &j->s, j->err, sizeof j->err) < 0) {
		shape_failed(c);
		return;
	}
	if (j->r.kind != WEB_SERIES_VM || !(j->r.metrics & (UINT32_C(1) << web_series_class_metric()))) {
		series_reply(c);
		return;
	}
	char from[24], to[24], step[16];
	snprintf(from, sizeof from, "%lld", (long long)j->r.from_s);
	snprintf(to, sizeof to, "%lld", (long long)j->r.to_s);
	snprintf(step, sizeof step, "%d", j->r.step_s);
	const char *p[4] = {j->id, from, to, step};
	web_call_submit(c,
	                "SELECT * FROM web_vm_traffic_series($1::int, to_timestamp($2::bigint), "
	                "to_timestamp($3::bigint), $4::int)",
	                4, p, traffic_rows);
}

static void from_rollups(struct call *c)
{
	struct series_job *j = c->ext;
	j->r.rrd = false;
	int64_t span = j->r.to_s - j->r.from_s;
	j->r.step_s = span <= 40 * 86400 ? 3600 : 86400;
	char from[24], to[24], step[16], cpus[16], mem[24];
	snprintf(from, sizeof from, "%lld", (long long)j->r.from_s);
	snprintf(to, sizeof to, "%lld", (long long)j->r.to_s);
	snprintf(step, sizeof step, "%d", j->r.step_s);
	snprintf(cpus, sizeof cpus, "%d", j->host.cpus);
	snprintf(mem, sizeof mem, "%lld", (long long)j->host.memory_kib);
	if (j->r.kind == WEB_SERIES_VM) {
		const char *p[7] = {j->id, from, to, step, j->r.max ? "true" : "false", cpus, mem};
		web_call_submit(
		    c,
		    "SELECT * FROM web_vm_series($1::int, to_timestamp($2::bigint), to_timestamp($3::bigint), "
		    "$4::int, $5::bool, $6::int, $7::bigint)",
		    7, p, rollup_rows);
	} else {
		const char *p[5] = {j->id, from, to, step, j->r.max ? "true" : "false"};
		web_call_submit(
		    c,
		    "SELECT * FROM web_host_series($1::int, to_timestamp($2::bigint), to_timestamp($3::bigint), "
		    "$4::int, $5::bool)",
		    5, p, rollup_rows);
	}
}

static void rrd_run(struct web_worker_thread *t, void *arg)
{
	(void)t;
	struct call *c = arg;
	struct series_job *j = c->ext;
	j->rc = web_series_rrd(web_call_rrd(c), &j->r, j->subject, &j->host, (const char *const *)j->classes,
	                       j->n_classes, &j->s, j->err, sizeof j->err);
	if (j->rc == 0)
		j->json = web_series_json(&j->r, j->subject_json, &j->s);
}

static void rrd_done(int cancelled, void *arg)
{
	struct call *c = arg;
	struct series_job *j = c->ext;
	if (cancelled) {
		web_call_fail(c, 503, "the server is stopping");
		return;
	}
	if (j->rc == 1) { /* no file: what the rollups have */
		web_series_release(&j->s);
		from_rollups(c);
		return;
	}
	if (j->rc < 0) {
		vm_err("%s", j->err);
		web_call_fail(c, 500, "cannot read the graph's RRD file (see the server's log)");
		return;
	}
	series_keep(c, j);
	web_call_reply(c, 200, "application/json", j->json, strlen(j->json));
}

/* Row: id, subject JSON, host CPUs, host memory, the uuid or name; a
 * VM's traffic classes (comma separated) and vCPUs. */
static void subject_found(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	struct call *c = arg;
	struct series_job *j = c->ext;
	if (web_call_db_failed(c, res, failure, error))
		return;
	if (PQntuples(res) != 1) {
		web_call_fail(c, 404, "no such object");
		return;
	}
	snprintf(j->id, sizeof j->id, "%s", PQgetvalue(res, 0, 0));
	j->subject_json = vm_xstrdup(PQgetvalue(res, 0, 1));
	j->host.cpus = PQgetisnull(res, 0, 2) ? 0 : atoi(PQgetvalue(res, 0, 2));
	j->host.memory_kib = PQgetisnull(res, 0, 3) ? 0 : strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	j->subject = vm_xstrdup(PQgetvalue(res, 0, 4));
	if (PQnfields(res) > 6 && !PQgetisnull(res, 0, 6))
		j->host.vcpus = atoi(PQgetvalue(res, 0, 6));
	if (PQnfields(res) > 5 && !PQgetisnull(res, 0, 5)) {
		char *list = vm_xstrdup(PQgetvalue(res, 0, 5)), *save = NULL;
		j->classes = vm_xcalloc(WEB_SERIES_MAX_CLASSES, sizeof *j->classes);
		for (char *tok = strtok_r(list, ",", &save); tok && j->n_classes < WEB_SERIES_MAX_CLASSES;
		     tok = strtok_r(NULL, ",", &save))
			j->classes[j->n_classes++] = vm_xstrdup(tok);
		free(list);
	}
	if (j->r.rrd && web_call_rrd(c)) {
		if (web_worker_submit(web_call_worker(c), rrd_run, rrd_done, c) < 0)
			web_call_fail(c, 503, "too many graphs waiting: try again");
		return;
	}
	from_rollups(c);
}

static struct series_job *series_start(struct call *c, enum web_series_kind kind)
{
	struct series_job *j = vm_xcalloc(1, sizeof *j);
	c->ext = j;
	c->ext_free = series_job_free;
	char err[256];
	if (web_series_parse(kind, c->q, (int64_t)time(NULL), &j->r, err, sizeof err) < 0) {
		web_call_fail(c, 400, err);
		return NULL;
	}
	return j;
}

void web_do_vm_series(struct call *c)
{
	if (!web_uuid_valid(c->id)) {
		web_call_fail(c, 404, "no such object");
		return;
	}
	struct series_job *j = series_start(c, WEB_SERIES_VM);
	if (!j)
		return;
	char from[24], to[24];
	snprintf(from, sizeof from, "%lld", (long long)j->r.from_s);
	snprintf(to, sizeof to, "%lld", (long long)j->r.to_s);
	/* the traffic classes name the RRD files to read; the rollups' series
	 * bring their own */
	const char *p[5] = {web_call_scope(c), c->id, from, to, j->r.rrd ? "true" : "false"};
	web_call_submit(
	    c,
	    "SELECT v.vm_id, json_build_object('uuid', v.uuid, 'name', i.name, 'host', h.hostname, "
	    "'tenant', i.tenant, 'vcpus', i.vcpus, 'memory_kib', i.memory_kib)::text, hi.cpus, "
	    "hi.memory_kib, v.uuid, CASE WHEN $5::bool THEN (SELECT string_agg(t.class, ',' ORDER BY t.class) "
	    "FROM web_vm_traffic_classes(v.vm_id, to_timestamp($3::bigint) - interval '1 hour', "
	    "to_timestamp($4::bigint)) t) END, i.vcpus FROM vm v JOIN LATERAL (SELECT * FROM vm_inventory x "
	    "WHERE x.vm_id = v.vm_id ORDER BY valid_from DESC LIMIT 1) i ON true JOIN host h ON "
	    "h.host_id = i.host_id LEFT JOIN LATERAL (SELECT cpus, memory_kib FROM host_inventory y "
	    "WHERE y.host_id = i.host_id ORDER BY valid_from DESC LIMIT 1) hi ON true "
	    "WHERE ($1::text IS NULL OR i.tenant = $1) AND v.uuid = lower($2)::uuid",
	    5, p, subject_found);
}

void web_do_host_series(struct call *c)
{
	struct series_job *j = series_start(c, WEB_SERIES_HOST);
	if (!j)
		return;
	const char *p[1] = {c->id};
	web_call_submit(c,
	                "SELECT h.host_id, json_build_object('name', h.hostname, 'cpus', hi.cpus, 'memory_kib', "
	                "hi.memory_kib)::text, hi.cpus, hi.memory_kib, h.hostname FROM host h LEFT JOIN LATERAL "
	                "(SELECT cpus, memory_kib FROM host_inventory x WHERE x.host_id = h.host_id "
	                "ORDER BY valid_from DESC LIMIT 1) hi ON true WHERE h.hostname = $1",
	                1, p, subject_found);
}
