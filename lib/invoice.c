/* billing/invoice: an invoice's exports (invoice.h).  Integers only: a
 * quantity is printed as the exact quotient of its base units, amounts
 * through lib/money, the page geometry is lib/doc's. */
#include "config.h"

#include "invoice.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "doc.h"
#include "xalloc.h"

const char *vm_invoice_line_kind_name(enum vm_invoice_line_kind k)
{
	static const char *const names[] = {"usage", "minimum", "host-cost", "idle", "adjustment", "credit", "energy"};
	return (unsigned)k < sizeof names / sizeof *names ? names[k] : NULL;
}

int vm_invoice_total(const struct vm_invoice *inv, vm_money *total)
{
	vm_money t = {0};
	for (size_t i = 0; i < inv->n_lines; i++)
		if (vm_money_add(t, inv->lines[i].amount, &t) < 0)
			return -1;
	*total = t;
	return 0;
}

/* ---------------------------------------------------------------- CSV */

static void csv_num(FILE *f, long long v)
{
	fprintf(f, "%lld", v);
}

int vm_invoice_csv(const struct vm_invoice *inv, FILE *f)
{
	vm_money total;
	if (vm_invoice_total(inv, &total) < 0)
		return -1;
	int dg = inv->currency->digits;
	char q[48], m[VM_MONEY_MAX_FORMAT];
	fputs(
	    "invoice,status,tenant,period,period_from,period_to,time_zone,currency,kind,project,vm_uuid,vm_name,meter,"
	    "quantity,unit,quantity_base,per,rate,amount,plan,version,minutes_billed,minutes_sampled,minutes_lost,"
	    "note\r\n",
	    f);
	for (size_t i = 0; i < inv->n_lines; i++) {
		const struct vm_invoice_line *l = &inv->lines[i];
		const char *cells[] = {inv->number ? inv->number : "",
		                       inv->showback ? "statement"
		                       : inv->number ? "final"
		                                     : "draft",
		                       inv->tenant,
		                       inv->period,
		                       inv->from,
		                       inv->to,
		                       inv->time_zone,
		                       inv->currency->code,
		                       vm_invoice_line_kind_name(l->kind),
		                       l->project,
		                       l->vm_uuid,
		                       l->vm_name,
		                       l->meter};
		for (size_t c = 0; c < sizeof cells / sizeof *cells; c++) {
			vm_csv_text(f, cells[c]);
			fputc(',', f);
		}
		fprintf(f, "%s,", vm_quantity_text(l->qty, l->per, 6, q));
		vm_csv_text(f, l->unit);
		fputc(',', f);
		csv_num(f, (long long)l->qty);
		fputc(',', f);
		csv_num(f, (long long)l->per);
		if (inv->money) {
			fprintf(f, ",%s,", vm_money_format_exact(l->rate, dg, m));
			fprintf(f, "%s,", vm_money_format(l->amount, dg, inv->rounding, m));
		} else {
			fputs(",,,", f); /* a statement of quantities: no money at all */
		}
		vm_csv_text(f, l->plan);
		fputc(',', f);
		vm_csv_text(f, l->version);
		fprintf(f, ",%lld,%lld,%lld,", (long long)l->minutes_billed, (long long)l->minutes_sampled,
		        (long long)l->minutes_lost);
		vm_csv_text(f, l->note);
		fputs("\r\n", f);
	}
	return ferror(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- JSON */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *money_json(vm_money v, int digits, enum vm_round r)
{
	char m[VM_MONEY_MAX_FORMAT];
	return json_pack("{s:s, s:I}", "text", vm_money_format(v, digits, r, m), "nano", (json_int_t)v.n);
}

int vm_invoice_json(const struct vm_invoice *inv, FILE *f)
{
	vm_money total;
	if (vm_invoice_total(inv, &total) < 0)
		return -1;
	int dg = inv->currency->digits;
	char q[48];
	json_t *lines = json_array();
	for (size_t i = 0; i < inv->n_lines; i++) {
		const struct vm_invoice_line *l = &inv->lines[i];
		json_array_append_new(
		    lines,
		    json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I}, "
		              "s:o}",
		              "kind", vm_invoice_line_kind_name(l->kind), "project", str_or_null(l->project), "vm_uuid",
		              str_or_null(l->vm_uuid), "vm_name", str_or_null(l->vm_name), "meter",
		              str_or_null(l->meter), "quantity", vm_quantity_text(l->qty, l->per, 6, q), "unit",
		              l->unit ? l->unit : "", "quantity_base", (json_int_t)l->qty, "per", (json_int_t)l->per,
		              "rate", inv->money ? money_json(l->rate, 9, VM_ROUND_DOWN) : json_null(), "amount",
		              inv->money ? money_json(l->amount, dg, inv->rounding) : json_null(), "plan",
		              str_or_null(l->plan), "version", str_or_null(l->version), "coverage", "minutes_billed",
		              (json_int_t)l->minutes_billed, "minutes_sampled", (json_int_t)l->minutes_sampled,
		              "minutes_lost", (json_int_t)l->minutes_lost, "note", str_or_null(l->note)));
	}
	json_t *doc = json_pack(
	    "{s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "number", str_or_null(inv->number), "status",
	    inv->showback ? "statement"
	    : inv->number ? "final"
	                  : "draft",
	    "tenant", inv->tenant, "period", inv->period, "from", inv->from, "to", inv->to, "time_zone", inv->time_zone,
	    "currency", inv->currency->code, "rounding", vm_round_name(inv->rounding), "lines", lines, "total",
	    inv->money ? money_json(total, dg, inv->rounding) : json_null());
	if (!doc)
		return -1;
	int rc = json_dumpf(doc, f, JSON_INDENT(1) | JSON_ENSURE_ASCII) < 0 || fputc('\n', f) == EOF ? -1 : 0;
	json_decref(doc);
	return rc;
}

/* ---------------------------------------------------------------- HTML and PDF */

/* A VM's coverage under a project, as its lines carry it. */
struct cov {
	const char *vm, *project;
	int64_t billed, sampled, lost;
};

static int cov_cmp(const void *x, const void *y)
{
	const struct cov *a = x, *b = y;
	int c = strcmp(a->vm, b->vm);
	return c ? c : strcmp(a->project, b->project);
}

/* The invoice's coverage in VM-minutes: every line of a VM and project
 * carries the same sampled and lost minutes and its charge's billed
 * minutes (defined or running), so each pair counts once, with the most
 * minutes any of its lines billed. */
static void coverage_sum(const struct vm_invoice *inv, int64_t *billed, int64_t *sampled, int64_t *lost)
{
	struct cov *c = vm_xmalloc((inv->n_lines ? inv->n_lines : 1) * sizeof *c);
	size_t n = 0;
	for (size_t i = 0; i < inv->n_lines; i++) {
		const struct vm_invoice_line *l = &inv->lines[i];
		if (l->minutes_billed || l->minutes_sampled || l->minutes_lost)
			c[n++] = (struct cov){l->vm_uuid ? l->vm_uuid : "", l->project ? l->project : "",
			                      l->minutes_billed, l->minutes_sampled, l->minutes_lost};
	}
	qsort(c, n, sizeof *c, cov_cmp);
	*billed = *sampled = *lost = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		int64_t b = 0, s = 0, l = 0;
		for (; j < n && cov_cmp(&c[i], &c[j]) == 0; j++) {
			b = c[j].billed > b ? c[j].billed : b;
			s = c[j].sampled > s ? c[j].sampled : s;
			l = c[j].lost > l ? c[j].lost : l;
		}
		*billed += b;
		*sampled += s;
		*lost += l;
		i = j;
	}
	free(c);
}

static struct vm_doc *build(const struct vm_invoice *inv)
{
	vm_money total;
	if (vm_invoice_total(inv, &total) < 0)
		return NULL;
	int dg = inv->currency->digits;
	char title[256], period[256], m[VM_MONEY_MAX_FORMAT], q[48], cov[96], rate[VM_MONEY_MAX_FORMAT + 64];
	if (inv->showback)
		snprintf(title, sizeof title, "Statement %s: %s%s", inv->period, inv->tenant,
		         inv->money ? "" : " (usage, no charges)");
	else if (inv->number)
		snprintf(title, sizeof title, "Invoice %s: %s", inv->number, inv->tenant);
	else
		snprintf(title, sizeof title, "Draft invoice %s: %s", inv->period, inv->tenant);
	struct vm_doc *d = vm_doc_new(title);
	vm_doc_field(d, "Tenant", inv->tenant);
	snprintf(period, sizeof period, "%s to %s (%s)", inv->from, inv->to, inv->time_zone);
	vm_doc_field(d, "Period", period);
	if (inv->money) {
		vm_doc_field(d, "Currency", inv->currency->code);
		snprintf(period, sizeof period, "%s, once per line; the total is the sum of the lines",
		         vm_round_name(inv->rounding));
		vm_doc_field(d, "Rounding", period);
	}
	if (!inv->number && !inv->showback)
		vm_doc_field(d, "Status", "draft: amounts may still change");
	vm_doc_heading(d, "Lines");
	/* a statement of quantities has no Rate and Amount columns */
	static const char *const head[] = {"Project", "VM", "Meter", "Quantity", "Rate", "Amount", "Coverage"};
	static const char *const head_q[] = {"Project", "VM", "Meter", "Quantity", "Coverage"};
	static const enum vm_doc_align al[] = {VM_DOC_LEFT,  VM_DOC_LEFT,  VM_DOC_LEFT, VM_DOC_RIGHT,
	                                       VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_RIGHT};
	vm_doc_table(d, inv->money ? 7 : 5, inv->money ? head : head_q, al);
	for (size_t i = 0; i < inv->n_lines; i++) {
		const struct vm_invoice_line *l = &inv->lines[i];
		char qty[96], meter[128];
		snprintf(qty, sizeof qty, "%s %s", vm_quantity_text(l->qty, l->per, 3, q), l->unit ? l->unit : "");
		snprintf(meter, sizeof meter, "%s%s%s",
		         l->kind == VM_INVOICE_LINE_USAGE ? "" : vm_invoice_line_kind_name(l->kind),
		         l->kind == VM_INVOICE_LINE_USAGE || !l->meter ? "" : ": ", l->meter ? l->meter : "");
		if (l->rate.n)
			snprintf(rate, sizeof rate, "%s / %s", vm_money_format_exact(l->rate, dg, m),
			         l->unit ? l->unit : "");
		else
			rate[0] = '\0';
		if (l->minutes_billed)
			snprintf(cov, sizeof cov, "%lld/%lld%s", (long long)l->minutes_sampled,
			         (long long)l->minutes_billed, l->minutes_lost ? " (lost)" : "");
		else
			cov[0] = '\0';
		char amount[VM_MONEY_MAX_FORMAT];
		const char *cells[] = {l->project, l->vm_name ? l->vm_name : l->vm_uuid,
		                       meter,      l->qty || l->per > 1 ? qty : "",
		                       rate,       vm_money_format(l->amount, dg, inv->rounding, amount),
		                       cov};
		if (!inv->money)
			cells[4] = cov;
		vm_doc_row(d, cells);
	}
	int64_t billed, sampled, lost;
	coverage_sum(inv, &billed, &sampled, &lost);
	const char *tot[] = {
	    "Total", NULL, NULL, NULL, inv->currency->code, vm_money_format(total, dg, inv->rounding, m), NULL};
	if (inv->money)
		vm_doc_total(d, tot);
	char note[256];
	snprintf(note, sizeof note,
	         "Coverage: %lld of the %lld VM-minutes billed had samples; %lld VM-minutes were recorded as lost "
	         "(their use could not be measured).",
	         (long long)sampled, (long long)billed, (long long)lost);
	vm_doc_paragraph(d, note);
	int64_t joules = 0, mg = 0;
	bool energy = false;
	for (size_t i = 0; i < inv->n_lines; i++) {
		const struct vm_invoice_line *l = &inv->lines[i];
		if (l->kind != VM_INVOICE_LINE_ENERGY || !l->meter)
			continue;
		energy = true;
		if (strcmp(l->meter, "energy") == 0)
			joules += l->qty;
		else
			mg += l->qty;
	}
	if (energy) {
		char kwh[48], kg[48];
		snprintf(note, sizeof note,
		         "Energy: %s kWh, the VMs' share of their hosts' energy; carbon: %s kg CO2e at the grids' "
		         "intensity hour by hour (docs/BILLING.md, \"Energy and carbon\").",
		         vm_quantity_text(joules, 3600000, 3, kwh), vm_quantity_text(mg, 1000000, 3, kg));
		vm_doc_paragraph(d, note);
	}
	for (size_t i = 0; i < inv->n_lines; i++)
		if (inv->lines[i].note) {
			snprintf(note, sizeof note, "%s %s: %s", inv->lines[i].vm_name ? inv->lines[i].vm_name : "",
			         inv->lines[i].meter ? inv->lines[i].meter : "", inv->lines[i].note);
			vm_doc_paragraph(d, note);
		}
	return d;
}

int vm_invoice_html(const struct vm_invoice *inv, FILE *f)
{
	struct vm_doc *d = build(inv);
	if (!d)
		return -1;
	int rc = vm_doc_write_html(d, f);
	vm_doc_free(d);
	return rc;
}

int vm_invoice_pdf(const struct vm_invoice *inv, const char *path, int *pages, char *err, size_t errsize)
{
	struct vm_doc *d = build(inv);
	if (!d) {
		snprintf(err, errsize, "the invoice's total is out of range");
		return -1;
	}
	int rc = vm_doc_write_pdf(d, path, pages, err, errsize);
	vm_doc_free(d);
	return rc;
}
