/* reports/chargeback_out: the chargeback report's exports (chargeback.h):
 * CSV, JSON, and HTML and PDF through lib/doc.  Integers only: amounts
 * through lib/money, quantities as exact quotients, percentages in
 * basis points. */
#include "config.h"

#include "chargeback.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "doc.h"
#include "xalloc.h"

#define KWH_J 3600000 /* joules in a kWh */
#define G_MG 1000     /* milligrams in a gram */

static char *money_text(const struct rep_cb *r, vm_money m, char *buf)
{
	return vm_money_format(m, r->currency->digits, r->rounding, buf);
}

/* The change from prev to cur in basis points of |prev|, half away from
 * zero; false if prev is 0 (no percentage). */
static bool change_bp(int64_t cur, int64_t prev, int64_t *bp)
{
	if (prev == 0)
		return false;
	__int128 d = (__int128)cur - prev, den = prev < 0 ? -(__int128)prev : prev;
	__int128 num = d * 10000, q = (num < 0 ? -num : num) / den, rem = (num < 0 ? -num : num) % den;
	if (2 * rem >= den)
		q++;
	*bp = (int64_t)(num < 0 ? -q : q);
	return true;
}

/* "+16.23", "-100", "0" */
static char *bp_text(int64_t bp, char *buf)
{
	char q[48];
	vm_quantity_text(bp, 100, 2, q);
	snprintf(buf, 56, "%s%s", bp > 0 ? "+" : "", q);
	return buf;
}

static char *signed_money(const struct rep_cb *r, vm_money m, char *buf)
{
	char t[VM_MONEY_MAX_FORMAT];
	snprintf(buf, VM_MONEY_MAX_FORMAT + 2, "%s%s", m.n > 0 ? "+" : "", money_text(r, m, t));
	return buf;
}

static const char *project_name(const char *p)
{
	return p && *p ? p : "(whole tenant)";
}

/* ---------------------------------------------------------------- CSV */

struct csv {
	FILE *f;
	const struct rep_cb *r;
};

/* One number: the report's columns, then section .. unit.  A value is
 * never a formula ("-3.00" is a number and stays one). */
static void csv_row(const struct csv *c, const char *section, const char *project, const char *uuid, const char *name,
                    const char *item, const char *metric, const char *value, const char *unit)
{
	char draft[32];
	snprintf(draft, sizeof draft, "%s (draft)", c->r->kind);
	const char *head[] = {
	    c->r->tenant, c->r->period, c->r->draft ? draft : c->r->number ? c->r->number : c->r->kind,
	    section,      project,      uuid,
	    name,         item,         metric};
	for (size_t i = 0; i < sizeof head / sizeof *head; i++) {
		vm_csv_text(c->f, head[i]);
		fputc(',', c->f);
	}
	fprintf(c->f, "%s,", value);
	vm_csv_text(c->f, unit);
	fputs("\r\n", c->f);
}

static void csv_int(const struct csv *c, const char *section, const char *project, const char *uuid, const char *name,
                    const char *item, const char *metric, int64_t v, const char *unit)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", (long long)v);
	csv_row(c, section, project, uuid, name, item, metric, buf, unit);
}

static void csv_money(const struct csv *c, const char *section, const char *project, const char *uuid, const char *name,
                      const char *item, const char *metric, vm_money v)
{
	char buf[VM_MONEY_MAX_FORMAT];
	if (c->r->money)
		csv_row(c, section, project, uuid, name, item, metric, money_text(c->r, v, buf), c->r->currency->code);
}

/* energy in kWh and J, carbon in g and mg (if it has a figure) */
static void csv_energy(const struct csv *c, const char *section, const char *project, const char *uuid,
                       const char *name, int64_t j, bool carbon, int64_t mg)
{
	char q[48];
	csv_row(c, section, project, uuid, name, NULL, "energy", vm_quantity_text(j, KWH_J, 6, q), "kWh");
	csv_int(c, section, project, uuid, name, NULL, "energy_j", j, "J");
	if (carbon) {
		csv_row(c, section, project, uuid, name, NULL, "carbon", vm_quantity_text(mg, G_MG, 3, q), "g CO2e");
		csv_int(c, section, project, uuid, name, NULL, "carbon_mg", mg, "mg CO2e");
	}
}

int rep_cb_csv(const struct rep_cb *r, FILE *f)
{
	struct csv c = {f, r};
	char q[48], m[VM_MONEY_MAX_FORMAT + 2], bp[56];
	int64_t pct;
	fputs("tenant,period,document,section,project,vm_uuid,vm_name,item,metric,value,unit\r\n", f);
	csv_money(&c, "summary", NULL, NULL, NULL, NULL, "total", r->total);
	if (r->has_prev && r->money) {
		csv_money(&c, "summary", NULL, NULL, NULL, NULL, "previous_total", r->prev_total);
		csv_row(&c, "summary", NULL, NULL, NULL, NULL, "change",
		        signed_money(r, (vm_money){r->total.n - r->prev_total.n}, m), r->currency->code);
		if (change_bp(r->total.n, r->prev_total.n, &pct))
			csv_row(&c, "summary", NULL, NULL, NULL, NULL, "change_percent", bp_text(pct, bp), "%");
	}
	csv_int(&c, "summary", NULL, NULL, NULL, NULL, "vm_minutes_billed", r->minutes_billed, "VM-minutes");
	csv_int(&c, "summary", NULL, NULL, NULL, NULL, "vm_minutes_sampled", r->minutes_sampled, "VM-minutes");
	csv_int(&c, "summary", NULL, NULL, NULL, NULL, "vm_minutes_without_samples", r->minutes_missing, "VM-minutes");
	csv_int(&c, "summary", NULL, NULL, NULL, NULL, "vm_minutes_lost", r->minutes_lost, "VM-minutes");
	if (r->has_prev)
		csv_int(&c, "summary", NULL, NULL, NULL, NULL, "previous_vm_minutes_billed", r->prev_vm_minutes,
		        "VM-minutes");
	csv_energy(&c, "summary", NULL, NULL, NULL, r->energy_j, r->carbon, r->carbon_mg);
	csv_money(&c, "summary", NULL, NULL, NULL, NULL, "shared_host_cost", r->host_cost);
	csv_money(&c, "summary", NULL, NULL, NULL, NULL, "shared_host_cost_idle", r->host_idle);

	for (size_t i = 0; i < r->n_projects; i++) {
		const struct rep_cb_project *p = &r->projects[i];
		csv_int(&c, "project", p->project, NULL, NULL, NULL, "vms", (int64_t)p->n_vms, "VMs");
		csv_int(&c, "project", p->project, NULL, NULL, NULL, "vm_minutes_billed", p->vm_minutes, "VM-minutes");
		csv_money(&c, "project", p->project, NULL, NULL, NULL, "amount", p->amount);
		if (r->has_prev) {
			csv_int(&c, "project", p->project, NULL, NULL, NULL, "previous_vm_minutes_billed",
			        p->prev_vm_minutes, "VM-minutes");
			csv_money(&c, "project", p->project, NULL, NULL, NULL, "previous_amount", p->prev_amount);
			if (r->money) {
				csv_row(&c, "project", p->project, NULL, NULL, NULL, "change",
				        signed_money(r, (vm_money){p->amount.n - p->prev_amount.n}, m),
				        r->currency->code);
				if (change_bp(p->amount.n, p->prev_amount.n, &pct))
					csv_row(&c, "project", p->project, NULL, NULL, NULL, "change_percent",
					        bp_text(pct, bp), "%");
			}
		}
		csv_energy(&c, "project", p->project, NULL, NULL, p->energy_j, r->carbon, p->carbon_mg);
	}
	for (size_t i = 0; i < r->n_meters; i++) {
		const struct rep_cb_meter *mt = &r->meters[i];
		csv_int(&c, "meter", NULL, NULL, NULL, mt->label, "lines", (int64_t)mt->n_lines, "lines");
		if (mt->unit && (mt->qty || mt->per > 1)) {
			csv_row(&c, "meter", NULL, NULL, NULL, mt->label, "quantity",
			        vm_quantity_text(mt->qty, mt->per, 6, q), mt->unit);
			csv_int(&c, "meter", NULL, NULL, NULL, mt->label, "quantity_base", mt->qty, NULL);
		}
		csv_money(&c, "meter", NULL, NULL, NULL, mt->label, "amount", mt->amount);
	}
	for (size_t i = 0; i < r->n_vms && i < REP_CB_TOP; i++) {
		const struct rep_cb_vm *v = &r->vms[i];
		char rank[16];
		snprintf(rank, sizeof rank, "%zu", i + 1);
		csv_money(&c, "top_vm", v->project, v->uuid, v->name, rank, "amount", v->amount);
		csv_int(&c, "top_vm", v->project, v->uuid, v->name, rank, "vm_minutes_billed", v->minutes_billed,
		        "VM-minutes");
	}
	for (size_t i = 0; r->money && i < r->n_hosts; i++) {
		const struct rep_cb_host *h = &r->hosts[i];
		char *item = vm_xasprintf("%s/%s", h->pool, h->host);
		csv_money(&c, "shared_host_cost", h->project, NULL, h->vm_name, item, "amount", h->amount);
		csv_money(&c, "shared_host_cost", h->project, NULL, h->vm_name, item, "used", h->used);
		csv_money(&c, "shared_host_cost", h->project, NULL, h->vm_name, item, "idle", h->idle);
		free(item);
	}
	for (size_t i = 0; i < r->n_vms; i++) {
		const struct rep_cb_vm *v = &r->vms[i];
		if (v->energy_j || v->carbon || v->energy_note)
			csv_energy(&c, "energy", v->project, v->uuid, v->name, v->energy_j, v->carbon, v->carbon_mg);
	}
	for (size_t i = 0; i < r->n_vms; i++) {
		const struct rep_cb_vm *v = &r->vms[i];
		if (!v->minutes_billed && !v->minutes_sampled && !v->minutes_lost)
			continue;
		csv_int(&c, "coverage", v->project, v->uuid, v->name, NULL, "minutes_billed", v->minutes_billed,
		        "minutes");
		csv_int(&c, "coverage", v->project, v->uuid, v->name, NULL, "minutes_sampled", v->minutes_sampled,
		        "minutes");
		csv_int(&c, "coverage", v->project, v->uuid, v->name, NULL, "minutes_without_samples",
		        v->minutes_missing, "minutes");
		csv_int(&c, "coverage", v->project, v->uuid, v->name, NULL, "minutes_lost", v->minutes_lost, "minutes");
	}
	for (size_t i = 0; i < r->n_gaps; i++) {
		const struct rep_cb_gap *g = &r->gaps[i];
		csv_int(&c, "gap", g->project, NULL, g->vm_name, g->day, "minutes_running", g->running, "minutes");
		csv_int(&c, "gap", g->project, NULL, g->vm_name, g->day, "minutes_sampled", g->sampled, "minutes");
		csv_int(&c, "gap", g->project, NULL, g->vm_name, g->day, "minutes_without_samples", g->missing,
		        "minutes");
		csv_int(&c, "gap", g->project, NULL, g->vm_name, g->day, "seconds_lost", g->lost_s, "seconds");
	}
	for (size_t i = 0; i < r->n_credits; i++)
		csv_money(&c, "credit_note", NULL, NULL, NULL, r->credits[i].number, "amount", r->credits[i].total);
	return ferror(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- JSON */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *jmoney(const struct rep_cb *r, vm_money v)
{
	char m[VM_MONEY_MAX_FORMAT];
	if (!r->money)
		return json_null();
	return json_pack("{s:s, s:I}", "text", money_text(r, v, m), "nano", (json_int_t)v.n);
}

static json_t *jpercent(int64_t cur, int64_t prev)
{
	int64_t bp;
	char t[56];
	return change_bp(cur, prev, &bp) ? json_string(bp_text(bp, t)) : json_null();
}

static json_t *jenergy(int64_t j, bool carbon, int64_t mg)
{
	char q[48], g[48];
	return json_pack("{s:s, s:I, s:o, s:o}", "kwh", vm_quantity_text(j, KWH_J, 6, q), "j", (json_int_t)j,
	                 "carbon_g", carbon ? json_string(vm_quantity_text(mg, G_MG, 3, g)) : json_null(), "carbon_mg",
	                 carbon ? json_integer(mg) : json_null());
}

int rep_cb_json(const struct rep_cb *r, FILE *f)
{
	char q[48];
	bool mp = r->money && r->has_prev;
	json_t *projects = json_array(), *meters = json_array(), *top = json_array(), *hosts = json_array(),
	       *energy = json_array(), *coverage = json_array(), *gaps = json_array(), *credits = json_array();
	for (size_t i = 0; i < r->n_projects; i++) {
		const struct rep_cb_project *p = &r->projects[i];
		json_array_append_new(
		    projects,
		    json_pack("{s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "project", p->project, "vms",
		              (json_int_t)p->n_vms, "vm_minutes_billed", (json_int_t)p->vm_minutes, "amount",
		              jmoney(r, p->amount), "previous_amount", mp ? jmoney(r, p->prev_amount) : json_null(),
		              "change", mp ? jmoney(r, (vm_money){p->amount.n - p->prev_amount.n}) : json_null(),
		              "change_percent", mp ? jpercent(p->amount.n, p->prev_amount.n) : json_null(),
		              "previous_vm_minutes_billed",
		              r->has_prev ? json_integer(p->prev_vm_minutes) : json_null(), "energy",
		              jenergy(p->energy_j, r->carbon, p->carbon_mg)));
	}
	for (size_t i = 0; i < r->n_meters; i++) {
		const struct rep_cb_meter *m = &r->meters[i];
		bool qty = m->unit && (m->qty || m->per > 1);
		json_array_append_new(
		    meters,
		    json_pack("{s:s, s:I, s:o, s:o, s:o, s:o}", "meter", m->label, "lines", (json_int_t)m->n_lines,
		              "quantity", qty ? json_string(vm_quantity_text(m->qty, m->per, 6, q)) : json_null(),
		              "unit", qty ? json_string(m->unit) : json_null(), "quantity_base",
		              qty ? json_integer(m->qty) : json_null(), "amount", jmoney(r, m->amount)));
	}
	for (size_t i = 0; i < r->n_vms; i++) {
		const struct rep_cb_vm *v = &r->vms[i];
		if (i < REP_CB_TOP)
			json_array_append_new(
			    top, json_pack("{s:I, s:s, s:s, s:s, s:o, s:I}", "rank", (json_int_t)(i + 1), "project",
			                   v->project, "vm_uuid", v->uuid, "vm_name", v->name, "amount",
			                   jmoney(r, v->amount), "vm_minutes_billed", (json_int_t)v->minutes_billed));
		if (v->energy_j || v->carbon || v->energy_note) {
			json_t *e = jenergy(v->energy_j, v->carbon, v->carbon_mg);
			json_object_set_new(e, "project", json_string(v->project));
			json_object_set_new(e, "vm_uuid", json_string(v->uuid));
			json_object_set_new(e, "vm_name", json_string(v->name));
			json_object_set_new(e, "source", str_or_null(v->energy_note));
			json_array_append_new(energy, e);
		}
		if (v->minutes_billed || v->minutes_sampled || v->minutes_lost)
			json_array_append_new(
			    coverage,
			    json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "project", v->project, "vm_uuid", v->uuid,
			              "vm_name", v->name, "minutes_billed", (json_int_t)v->minutes_billed,
			              "minutes_sampled", (json_int_t)v->minutes_sampled, "minutes_without_samples",
			              (json_int_t)v->minutes_missing, "minutes_lost", (json_int_t)v->minutes_lost));
	}
	for (size_t i = 0; r->money && i < r->n_hosts; i++) {
		const struct rep_cb_host *h = &r->hosts[i];
		json_array_append_new(hosts, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "pool", h->pool, "host",
		                                       h->host, "project", h->project, "vm_name", h->vm_name, "amount",
		                                       jmoney(r, h->amount), "used", jmoney(r, h->used), "idle",
		                                       jmoney(r, h->idle)));
	}
	for (size_t i = 0; i < r->n_gaps; i++) {
		const struct rep_cb_gap *g = &r->gaps[i];
		json_array_append_new(gaps, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "day", g->day, "project",
		                                      g->project, "vm_name", g->vm_name, "minutes_running",
		                                      (json_int_t)g->running, "minutes_sampled", (json_int_t)g->sampled,
		                                      "minutes_without_samples", (json_int_t)g->missing, "seconds_lost",
		                                      (json_int_t)g->lost_s));
	}
	for (size_t i = 0; i < r->n_credits; i++)
		json_array_append_new(credits,
		                      json_pack("{s:s, s:s, s:o}", "number", r->credits[i].number, "reason",
		                                r->credits[i].reason, "total", jmoney(r, r->credits[i].total)));
	json_t *doc = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:{s:I, s:s, s:o, s:o, s:s}, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
	    "s:{s:o, s:o, s:o}, s:o, s:{s:I, s:I, s:I, s:I, s:o}, s:o, s:o}",
	    "tenant", r->tenant, "period", r->period, "from", r->from, "to", r->to, "time_zone", r->time_zone,
	    "currency", r->money ? json_string(r->currency->code) : json_null(), "money", r->money, "document", "id",
	    (json_int_t)r->invoice_id, "kind", r->kind, "number", str_or_null(r->number), "finalised_at",
	    str_or_null(r->finalised_at), "state", r->draft ? "draft" : "final", "total", jmoney(r, r->total),
	    "previous",
	    r->has_prev ? json_pack("{s:o, s:o, s:I}", "number", str_or_null(r->prev_number), "total",
	                            jmoney(r, r->prev_total), "vm_minutes_billed", (json_int_t)r->prev_vm_minutes)
	                : json_null(),
	    "change", mp ? jmoney(r, (vm_money){r->total.n - r->prev_total.n}) : json_null(), "change_percent",
	    mp ? jpercent(r->total.n, r->prev_total.n) : json_null(), "projects", projects, "meters", meters, "top_vms",
	    top, "shared_host_cost", "total", jmoney(r, r->host_cost), "idle", jmoney(r, r->host_idle), "lines", hosts,
	    "energy", jenergy(r->energy_j, r->carbon, r->carbon_mg), "coverage", "minutes_billed",
	    (json_int_t)r->minutes_billed, "minutes_sampled", (json_int_t)r->minutes_sampled, "minutes_without_samples",
	    (json_int_t)r->minutes_missing, "minutes_lost", (json_int_t)r->minutes_lost, "vms", coverage, "gaps", gaps,
	    "credit_notes", credits);
	if (!doc)
		return -1;
	json_object_set_new(json_object_get(doc, "energy"), "vms", energy);
	int rc = json_dumpf(doc, f, JSON_INDENT(1) | JSON_ENSURE_ASCII) < 0 || fputc('\n', f) == EOF ? -1 : 0;
	json_decref(doc);
	return rc;
}

/* ---------------------------------------------------------------- HTML and PDF */

/* A table row of up to 8 cells whose texts are built in turn (numbers:
 * cell()), or point at the caller's strings (names, never cut). */
struct cells {
	char buf[8][160];
	const char *c[8];
};

static const char *cell(struct cells *k, int i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static const char *cell(struct cells *k, int i, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(k->buf[i], sizeof k->buf[i], fmt, ap);
	va_end(ap);
	return k->c[i] = k->buf[i];
}

static void section_projects(struct vm_doc *d, const struct rep_cb *r)
{
	char m[VM_MONEY_MAX_FORMAT + 2], m2[VM_MONEY_MAX_FORMAT + 2], bp[56], q[48];
	static const enum vm_doc_align al[] = {VM_DOC_LEFT,  VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_RIGHT,
	                                       VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_RIGHT};
	vm_doc_heading(d, "Totals by project");
	if (r->money) {
		static const char *const head[] = {"Project",        "VMs",    "VM-minutes", "Amount",
		                                   "Previous month", "Change", "Change %"};
		vm_doc_table(d, 7, head, al);
	} else {
		static const char *const head[] = {"Project", "VMs", "VM-minutes", "Previous month", "Change", "kWh"};
		vm_doc_table(d, 6, head, al);
	}
	const char **labels = vm_xcalloc(r->n_projects + 1, sizeof *labels);
	char **texts = vm_xcalloc(r->n_projects + 1, sizeof *texts);
	int64_t *values = vm_xcalloc(r->n_projects + 1, sizeof *values);
	for (size_t i = 0; i < r->n_projects; i++) {
		const struct rep_cb_project *p = &r->projects[i];
		struct cells k = {0};
		int64_t pct;
		k.c[0] = project_name(p->project);
		cell(&k, 1, "%zu", p->n_vms);
		cell(&k, 2, "%lld", (long long)p->vm_minutes);
		if (r->money) {
			cell(&k, 3, "%s", money_text(r, p->amount, m));
			cell(&k, 4, "%s", r->has_prev ? money_text(r, p->prev_amount, m2) : "");
			cell(&k, 5, "%s",
			     r->has_prev ? signed_money(r, (vm_money){p->amount.n - p->prev_amount.n}, m2) : "");
			cell(&k, 6, "%s",
			     !r->has_prev                                     ? ""
			     : change_bp(p->amount.n, p->prev_amount.n, &pct) ? bp_text(pct, bp)
			     : p->amount.n                                    ? "new"
			                                                      : "");
			values[i] = p->amount.n;
			texts[i] = vm_xasprintf("%s %s%s%s%s", money_text(r, p->amount, m), r->currency->code,
			                        k.c[6][0] ? " (" : "", k.c[6],
			                        k.c[6][0] ? strcmp(k.c[6], "new") ? " %)" : ")" : "");
		} else {
			cell(&k, 3, "%s",
			     r->has_prev ? (snprintf(m2, sizeof m2, "%lld", (long long)p->prev_vm_minutes), m2) : "");
			cell(&k, 4, "%s",
			     r->has_prev
			         ? (snprintf(m, sizeof m, "%+lld", (long long)(p->vm_minutes - p->prev_vm_minutes)), m)
			         : "");
			cell(&k, 5, "%s", vm_quantity_text(p->energy_j, KWH_J, 3, q));
			values[i] = p->vm_minutes;
			texts[i] = vm_xasprintf("%lld VM-minutes", (long long)p->vm_minutes);
		}
		labels[i] = project_name(p->project);
		vm_doc_row(d, k.c);
	}
	struct cells k = {0};
	int64_t pct;
	cell(&k, 0, "Total");
	if (r->money) {
		cell(&k, 3, "%s %s", money_text(r, r->total, m), r->currency->code);
		if (r->has_prev) {
			cell(&k, 4, "%s", money_text(r, r->prev_total, m2));
			cell(&k, 5, "%s", signed_money(r, (vm_money){r->total.n - r->prev_total.n}, m2));
			if (change_bp(r->total.n, r->prev_total.n, &pct))
				cell(&k, 6, "%s", bp_text(pct, bp));
		}
	}
	cell(&k, 2, "%lld", (long long)r->minutes_billed);
	vm_doc_total(d, k.c);
	char *para = vm_xasprintf("%s %s.",
	                          r->money ? "Amounts are sums of the document's lines by project;"
	                                   : "VM-minutes billed by project;",
	                          r->has_prev ? "the previous month is its finalised document"
	                                      : "no finalised document of the previous month");
	vm_doc_paragraph(d, para);
	free(para);
	if (r->n_projects)
		vm_doc_bars(d, r->money ? "Amount by project" : "VM-minutes by project", r->n_projects, labels, values,
		            (const char *const *)texts);
	for (size_t i = 0; i < r->n_projects; i++)
		free(texts[i]);
	free(texts);
	free(labels);
	free(values);
}

static void section_meters(struct vm_doc *d, const struct rep_cb *r)
{
	char m[VM_MONEY_MAX_FORMAT], q[48];
	vm_doc_heading(d, "Totals by meter");
	static const enum vm_doc_align al[] = {VM_DOC_LEFT, VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_RIGHT};
	static const char *const head[] = {"Meter", "Lines", "Quantity", "Amount"};
	vm_doc_table(d, r->money ? 4 : 3, head, al);
	const char **labels = vm_xcalloc(r->n_meters + 1, sizeof *labels);
	char **texts = vm_xcalloc(r->n_meters + 1, sizeof *texts);
	int64_t *values = vm_xcalloc(r->n_meters + 1, sizeof *values);
	for (size_t i = 0; i < r->n_meters; i++) {
		const struct rep_cb_meter *mt = &r->meters[i];
		struct cells k = {0};
		k.c[0] = mt->label;
		cell(&k, 1, "%zu", mt->n_lines);
		cell(&k, 2, "%s %s",
		     mt->unit && (mt->qty || mt->per > 1) ? vm_quantity_text(mt->qty, mt->per, 3, q) : "",
		     mt->unit && (mt->qty || mt->per > 1) ? mt->unit : "");
		cell(&k, 3, "%s", money_text(r, mt->amount, m));
		vm_doc_row(d, k.c);
		labels[i] = mt->label;
		values[i] = mt->amount.n;
		texts[i] = vm_xasprintf("%s %s", money_text(r, mt->amount, m), r->currency->code);
	}
	if (r->money) {
		struct cells k = {0};
		cell(&k, 0, "Total");
		cell(&k, 3, "%s %s", money_text(r, r->total, m), r->currency->code);
		vm_doc_total(d, k.c);
		if (r->n_meters)
			vm_doc_bars(d, "Amount by meter", r->n_meters, labels, values, (const char *const *)texts);
	}
	for (size_t i = 0; i < r->n_meters; i++)
		free(texts[i]);
	free(texts);
	free(labels);
	free(values);
}

static void section_top(struct vm_doc *d, const struct rep_cb *r)
{
	char m[VM_MONEY_MAX_FORMAT], q[48];
	size_t n = r->n_vms < REP_CB_TOP ? r->n_vms : REP_CB_TOP;
	char title[64];
	snprintf(title, sizeof title, "Top %d VMs", REP_CB_TOP);
	vm_doc_heading(d, title);
	if (!n) {
		vm_doc_paragraph(d, "No VM has a line this month.");
		return;
	}
	static const enum vm_doc_align al[] = {VM_DOC_RIGHT, VM_DOC_LEFT,  VM_DOC_LEFT,
	                                       VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_RIGHT};
	static const char *const head[] = {"#", "VM", "Project", "VM-minutes", "kWh", "Amount"};
	vm_doc_table(d, r->money ? 6 : 5, head, al);
	const char **labels = vm_xcalloc(n, sizeof *labels);
	char **texts = vm_xcalloc(n, sizeof *texts);
	int64_t *values = vm_xcalloc(n, sizeof *values);
	for (size_t i = 0; i < n; i++) {
		const struct rep_cb_vm *v = &r->vms[i];
		struct cells k = {0};
		cell(&k, 0, "%zu", i + 1);
		k.c[1] = v->name;
		k.c[2] = project_name(v->project);
		cell(&k, 3, "%lld", (long long)v->minutes_billed);
		cell(&k, 4, "%s", vm_quantity_text(v->energy_j, KWH_J, 3, q));
		cell(&k, 5, "%s", money_text(r, v->amount, m));
		vm_doc_row(d, k.c);
		labels[i] = v->name;
		values[i] = r->money ? v->amount.n : v->minutes_billed;
		texts[i] = r->money ? vm_xasprintf("%s %s", money_text(r, v->amount, m), r->currency->code)
		                    : vm_xasprintf("%lld VM-minutes", (long long)v->minutes_billed);
	}
	vm_doc_paragraph(d, r->money ? "Ranked by the sum of each VM's lines (usage, shared host cost, adjustments)."
	                             : "Ranked by VM-minutes billed.");
	vm_doc_bars(d, NULL, n, labels, values, (const char *const *)texts);
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	free(labels);
	free(values);
}

static void section_hosts(struct vm_doc *d, const struct rep_cb *r)
{
	char a[VM_MONEY_MAX_FORMAT], b[VM_MONEY_MAX_FORMAT], c[VM_MONEY_MAX_FORMAT];
	if (!r->money)
		return;
	vm_doc_heading(d, "Shared host cost");
	if (!r->n_hosts) {
		vm_doc_paragraph(d, "No part of a shared host's cost this month.");
		return;
	}
	static const enum vm_doc_align al[] = {VM_DOC_LEFT,  VM_DOC_LEFT,  VM_DOC_LEFT, VM_DOC_LEFT,
	                                       VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_RIGHT};
	static const char *const head[] = {"Pool", "Host", "Project", "VM", "Amount", "VMs' use", "Idle share"};
	vm_doc_table(d, 7, head, al);
	for (size_t i = 0; i < r->n_hosts; i++) {
		const struct rep_cb_host *h = &r->hosts[i];
		const char *cells[] = {h->pool,
		                       h->host,
		                       project_name(h->project),
		                       h->vm_name,
		                       money_text(r, h->amount, a),
		                       money_text(r, h->used, b),
		                       money_text(r, h->idle, c)};
		vm_doc_row(d, cells);
	}
	vm_money used = {r->host_cost.n - r->host_idle.n};
	const char *tot[] = {"Total",
	                     NULL,
	                     NULL,
	                     NULL,
	                     money_text(r, r->host_cost, a),
	                     money_text(r, used, b),
	                     money_text(r, r->host_idle, c)};
	vm_doc_total(d, tot);
	char *p = vm_xasprintf("The host-cost lines of the document: %s %s, of which %s %s is the idle share (the "
	                       "part of the hosts' cost no VM used, spread over the VMs where the pool says so; zero "
	                       "where the operator keeps it).",
	                       money_text(r, r->host_cost, a), r->currency->code, money_text(r, r->host_idle, b),
	                       r->currency->code);
	vm_doc_paragraph(d, p);
	free(p);
}

static void section_energy(struct vm_doc *d, const struct rep_cb *r)
{
	char q[48], g[48];
	vm_doc_heading(d, "Energy and carbon");
	char *p = vm_xasprintf(
	    "%s kWh, the VMs' share of their hosts' energy; %s%s.", vm_quantity_text(r->energy_j, KWH_J, 3, q),
	    r->carbon ? vm_quantity_text(r->carbon_mg, G_MG, 3, g) : "no carbon figure (no grid known for the hosts)",
	    r->carbon ? " g CO2e at the grids' intensity hour by hour" : "");
	vm_doc_paragraph(d, p);
	free(p);
	size_t n = 0;
	for (size_t i = 0; i < r->n_vms; i++)
		n += r->vms[i].energy_j || r->vms[i].carbon || r->vms[i].energy_note;
	if (!n)
		return;
	static const enum vm_doc_align al[] = {VM_DOC_LEFT, VM_DOC_LEFT, VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_LEFT};
	static const char *const head[] = {"VM", "Project", "kWh", "g CO2e", "Source"};
	vm_doc_table(d, 5, head, al);
	for (size_t i = 0; i < r->n_vms; i++) {
		const struct rep_cb_vm *v = &r->vms[i];
		if (!(v->energy_j || v->carbon || v->energy_note))
			continue;
		const char *cells[] = {v->name, project_name(v->project), vm_quantity_text(v->energy_j, KWH_J, 3, q),
		                       v->carbon ? vm_quantity_text(v->carbon_mg, G_MG, 3, g) : "",
		                       v->energy_note ? v->energy_note : ""};
		vm_doc_row(d, cells);
	}
	const char *tot[] = {"Total", NULL, vm_quantity_text(r->energy_j, KWH_J, 3, q),
	                     r->carbon ? vm_quantity_text(r->carbon_mg, G_MG, 3, g) : "", NULL};
	vm_doc_total(d, tot);
}

static void section_coverage(struct vm_doc *d, const struct rep_cb *r)
{
	vm_doc_heading(d, "Coverage");
	char *p = vm_xasprintf("Of the %lld VM-minutes billed, %lld had samples; %lld minutes the VMs ran had none, "
	                       "and %lld VM-minutes of samples were recorded as lost (their use could not be "
	                       "measured).",
	                       (long long)r->minutes_billed, (long long)r->minutes_sampled,
	                       (long long)r->minutes_missing, (long long)r->minutes_lost);
	vm_doc_paragraph(d, p);
	free(p);
	static const enum vm_doc_align al[] = {VM_DOC_LEFT,  VM_DOC_LEFT,  VM_DOC_RIGHT, VM_DOC_RIGHT,
	                                       VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_RIGHT};
	static const char *const head[] = {"VM", "Project", "Billed", "Sampled", "Without samples", "Lost"};
	vm_doc_table(d, 6, head, al);
	for (size_t i = 0; i < r->n_vms; i++) {
		const struct rep_cb_vm *v = &r->vms[i];
		if (!v->minutes_billed && !v->minutes_sampled && !v->minutes_lost)
			continue;
		struct cells k = {0};
		k.c[0] = v->name;
		k.c[1] = project_name(v->project);
		cell(&k, 2, "%lld", (long long)v->minutes_billed);
		cell(&k, 3, "%lld", (long long)v->minutes_sampled);
		cell(&k, 4, "%lld", (long long)v->minutes_missing);
		cell(&k, 5, "%lld", (long long)v->minutes_lost);
		vm_doc_row(d, k.c);
	}
	vm_doc_heading(d, "Gaps");
	if (!r->n_gaps) {
		vm_doc_paragraph(d, "No VM-day of the month ran without samples or lost any.");
		return;
	}
	vm_doc_paragraph(d, "The tenant-local days on which a VM ran minutes without samples or lost coverage "
	                    "(lost coverage in seconds; as rated now).");
	static const char *const gh[] = {"Day", "VM", "Project", "Running", "Sampled", "Without samples", "Lost (s)"};
	static const enum vm_doc_align ga[] = {VM_DOC_LEFT,  VM_DOC_LEFT,  VM_DOC_LEFT, VM_DOC_RIGHT,
	                                       VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_RIGHT};
	vm_doc_table(d, 7, gh, ga);
	for (size_t i = 0; i < r->n_gaps; i++) {
		const struct rep_cb_gap *g = &r->gaps[i];
		struct cells k = {0};
		k.c[0] = g->day;
		k.c[1] = g->vm_name;
		k.c[2] = project_name(g->project);
		cell(&k, 3, "%lld", (long long)g->running);
		cell(&k, 4, "%lld", (long long)g->sampled);
		cell(&k, 5, "%lld", (long long)g->missing);
		cell(&k, 6, "%lld", (long long)g->lost_s);
		vm_doc_row(d, k.c);
	}
}

static struct vm_doc *build(const struct rep_cb *r)
{
	char m[VM_MONEY_MAX_FORMAT], m2[VM_MONEY_MAX_FORMAT + 2], bp[56];
	int64_t pct;
	bool statement = strcmp(r->kind, "statement") == 0;
	char *title = vm_xasprintf("%s %s: %s%s",
	                           r->draft    ? (statement ? "Draft showback report" : "Draft chargeback report")
	                           : statement ? "Showback report"
	                                       : "Chargeback report",
	                           r->period, r->tenant,
	                           !r->money   ? " (usage, no charges)"
	                           : statement ? " (costs at the plan's prices, not invoiced)"
	                                       : "");
	struct vm_doc *d = vm_doc_new(title);
	free(title);
	vm_doc_field(d, "Tenant", r->tenant);
	char *t = vm_xasprintf("%s to %s (%s)", r->from, r->to, r->time_zone);
	vm_doc_field(d, "Month", t);
	free(t);
	t = r->draft    ? vm_xasprintf("draft %s (id %d): a preview, its figures change until it is finalised", r->kind,
	                               r->invoice_id)
	    : r->number ? vm_xasprintf("%s %s, final since %s", r->kind, r->number, r->finalised_at)
	                : vm_xasprintf("%s, final since %s", r->kind, r->finalised_at);
	vm_doc_field(d, "Document", t);
	free(t);
	if (r->money) {
		t = vm_xasprintf("%s %s", money_text(r, r->total, m), r->currency->code);
		vm_doc_field(d, "Total", t);
		free(t);
		if (r->has_prev) {
			t = vm_xasprintf("%s %s (%s); change %s%s%s%s", money_text(r, r->prev_total, m),
			                 r->currency->code, r->prev_number ? r->prev_number : "statement",
			                 signed_money(r, (vm_money){r->total.n - r->prev_total.n}, m2),
			                 change_bp(r->total.n, r->prev_total.n, &pct) ? ", " : "",
			                 change_bp(r->total.n, r->prev_total.n, &pct) ? bp_text(pct, bp) : "",
			                 change_bp(r->total.n, r->prev_total.n, &pct) ? " %" : "");
			vm_doc_field(d, "Previous month", t);
			free(t);
		}
	}
	section_projects(d, r);
	section_meters(d, r);
	section_top(d, r);
	section_hosts(d, r);
	section_energy(d, r);
	section_coverage(d, r);
	if (r->n_credits) {
		vm_doc_heading(d, "Credit notes");
		for (size_t i = 0; i < r->n_credits; i++) {
			t = r->money ? vm_xasprintf("%s: %s %s, %s", r->credits[i].number,
			                            money_text(r, r->credits[i].total, m), r->currency->code,
			                            r->credits[i].reason)
			             : vm_xasprintf("%s: %s", r->credits[i].number, r->credits[i].reason);
			vm_doc_paragraph(d, t);
			free(t);
		}
	}
	t = r->money ? vm_xasprintf("Every amount here is a sum of the lines of %s %s, whose total is %s %s "
	                            "(docs/REPORTS.md says how each section ties to it).",
	                            r->kind, r->number ? r->number : "", money_text(r, r->total, m), r->currency->code)
	             : vm_xasprintf("A statement of quantities: no money (the tenant's showback). Every figure is a "
	                            "sum of the statement's lines (docs/REPORTS.md).");
	vm_doc_paragraph(d, t);
	free(t);
	return d;
}

int rep_cb_html(const struct rep_cb *r, FILE *f)
{
	struct vm_doc *d = build(r);
	int rc = vm_doc_write_html(d, f);
	vm_doc_free(d);
	return rc;
}

int rep_cb_pdf(const struct rep_cb *r, const char *path, int *pages, char *err, size_t errsize)
{
	struct vm_doc *d = build(r);
	int rc = vm_doc_write_pdf(d, path, pages, err, errsize);
	vm_doc_free(d);
	return rc;
}
