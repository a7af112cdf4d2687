/* reports/capacity_out: the capacity report as CSV, JSON, HTML and PDF
 * (capacity.h).  Units for people: CPU in cores, memory and disk in GiB,
 * network in Mbit/s, time in days. */
#include "config.h"

#include "capacity.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capacity_cost.h"
#include "doc.h"
#include "xalloc.h"

static const char *const res_name[REP_CAP_NRES] = {"cpu", "memory", "disk", "network"};
static const char *const res_unit[REP_CAP_NRES] = {"cores", "GiB", "GiB", "Mbit/s"};
static const char *const group_name[] = {"host", "class", "tenant"};

/* A resource's value in its unit for people. */
static double human(int r, double v)
{
	return r == REP_CAP_CPU ? v : r == REP_CAP_MEM ? v / 1048576.0 : r == REP_CAP_DISK ? v / 1073741824.0 : v / 1e6;
}

static const char *show_days(double hours, double horizon, char *buf, size_t size)
{
	if (hours < 0)
		snprintf(buf, size, "> %.0f d", horizon / 24);
	else
		snprintf(buf, size, "%.1f d", hours / 24);
	return buf;
}

/* ---------------------------------------------------------------- CSV */

static void csv_text(FILE *f, const char *s)
{
	if (!s)
		return;
	bool quote = strpbrk(s, ",\"\r\n") != NULL;
	/* A cell a spreadsheet would run as a formula is kept as text (the
	 * rule of billing/invoice.c and reports/chargeback_out.c). */
	bool formula = s[0] && strchr("=+-@\t\r", s[0]);
	if (quote || formula)
		fputc('"', f);
	if (formula)
		fputc('\'', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	if (quote || formula)
		fputc('"', f);
}

struct csv {
	FILE *f;
	const struct rep_cap *r;
};

/* period, group, section, kind, name, resource, metric, value, unit */
static void csv_row(const struct csv *c, const char *section, const char *kind, const char *name, const char *res,
                    const char *metric, const char *value, const char *unit)
{
	const char *cells[] = {c->r->p.period, group_name[c->r->p.group], section, kind, name, res, metric};
	for (size_t i = 0; i < sizeof cells / sizeof *cells; i++) {
		csv_text(c->f, cells[i]);
		fputc(',', c->f);
	}
	fputs(value, c->f); /* a number, never a formula */
	fputc(',', c->f);
	csv_text(c->f, unit);
	fputs("\r\n", c->f);
}

static void csv_num(const struct csv *c, const char *section, const char *kind, const char *name, const char *res,
                    const char *metric, double v, const char *unit)
{
	char b[64];
	snprintf(b, sizeof b, "%.4f", v);
	csv_row(c, section, kind, name, res, metric, b, unit);
}

static void csv_int(const struct csv *c, const char *section, const char *kind, const char *name, const char *res,
                    const char *metric, int64_t v, const char *unit)
{
	char b[32];
	snprintf(b, sizeof b, "%lld", (long long)v);
	csv_row(c, section, kind, name, res, metric, b, unit);
}

static void csv_stat(const struct csv *c, const struct rep_cap_row *w, const char *res, const char *what,
                     const struct rep_cap_stat *s, int r)
{
	if (!s->n)
		return;
	char m[64];
	snprintf(m, sizeof m, "%s_avg", what);
	csv_num(c, "utilisation", w->kind, w->name, res, m, human(r, s->avg), res_unit[r]);
	snprintf(m, sizeof m, "%s_p95", what);
	csv_num(c, "utilisation", w->kind, w->name, res, m, human(r, s->p95), res_unit[r]);
	snprintf(m, sizeof m, "%s_peak", what);
	csv_num(c, "utilisation", w->kind, w->name, res, m, human(r, s->peak), res_unit[r]);
}

static void csv_forecast(const struct csv *c, const struct rep_cap *rep, const struct rep_cap_row *w,
                         const char *section, const char *prefix, int r, const struct rep_cap_forecast *f)
{
	char m[64];
	if (!f->done)
		return;
	snprintf(m, sizeof m, "%smethod", prefix);
	csv_row(c, section, w->kind, w->name, res_name[r], m, "", f->method);
	snprintf(m, sizeof m, "%sr2", prefix);
	csv_num(c, section, w->kind, w->name, res_name[r], m, f->r2, "");
	snprintf(m, sizeof m, "%ssigma", prefix);
	csv_num(c, section, w->kind, w->name, res_name[r], m, human(r, f->sigma), res_unit[r]);
	snprintf(m, sizeof m, "%swindow", prefix);
	csv_int(c, section, w->kind, w->name, res_name[r], m, (int64_t)f->steps, "hours");
	snprintf(m, sizeof m, "%shours_with_data", prefix);
	csv_int(c, section, w->kind, w->name, res_name[r], m, (int64_t)f->used, "hours");
	if (!f->threshold)
		return;
	const char *names[] = {"days_remaining", "earliest_days", "latest_days"};
	double v[] = {f->hours, f->earliest, f->latest};
	for (int i = 0; i < 3; i++) {
		snprintf(m, sizeof m, "%s%s", prefix, names[i]);
		if (v[i] < 0)
			csv_row(c, section, w->kind, w->name, res_name[r], m, "", "beyond the horizon");
		else
			csv_num(c, section, w->kind, w->name, res_name[r], m, v[i] / 24, "days");
	}
	(void)rep;
}

int rep_cap_csv(const struct rep_cap *r, FILE *f)
{
	struct csv c = {f, r};
	fputs("period,group,section,kind,name,resource,metric,value,unit\r\n", f);
	csv_int(&c, "summary", "", "", "", "hours", (int64_t)r->hours, "hours");
	csv_int(&c, "summary", "", "", "", "hours_not_rolled_up", (int64_t)r->hours_unclean, "hours");
	csv_int(&c, "summary", "", "", "", "vm_size_vcpus", r->size.vcpus, "vcpus");
	csv_num(&c, "summary", "", "", "", "vm_size_memory", (double)r->size.mem_kib / 1048576.0, "GiB");
	csv_num(&c, "summary", "", "", "", "vm_size_disk", (double)r->size.disk_bytes / 1073741824.0, "GiB");
	csv_int(&c, "summary", "", "", "", "ha_reserve_hosts", r->p.conf->ha_reserve_hosts, "hosts");
	csv_int(&c, "summary", "", "", "", "buffer_percent", r->p.conf->buffer_percent, "%");
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct rep_cap_row *w = &r->rows[i];
		csv_int(&c, "capacity", w->kind, w->name, "", "hosts", (int64_t)w->n_hosts, "hosts");
		csv_int(&c, "capacity", w->kind, w->name, "", "vms", (int64_t)w->n_vms, "VMs");
		csv_int(&c, "capacity", w->kind, w->name, "cpu", "allocated", w->vcpus, "vcpus");
		csv_num(&c, "capacity", w->kind, w->name, "memory", "allocated", (double)w->mem_kib / 1048576.0, "GiB");
		if (w->capacity) {
			for (int k = 0; k <= REP_CAP_DISK; k++) {
				if (w->cap[k] <= 0)
					continue;
				csv_num(&c, "capacity", w->kind, w->name, res_name[k], "capacity", human(k, w->cap[k]),
				        res_unit[k]);
				csv_num(&c, "capacity", w->kind, w->name, res_name[k], "ha_reserve",
				        human(k, w->reserve[k]), res_unit[k]);
				csv_num(&c, "capacity", w->kind, w->name, res_name[k], "usable", human(k, w->usable[k]),
				        res_unit[k]);
			}
			csv_num(&c, "capacity", w->kind, w->name, "cpu", "overcommit", w->vcpu_ratio, "vcpu/pcpu");
			csv_num(&c, "capacity", w->kind, w->name, "memory", "overcommit", w->mem_ratio,
			        "allocated/physical");
		}
		for (int k = 0; k < REP_CAP_NRES; k++)
			csv_stat(&c, w, res_name[k], "demand", &w->demand[k], k);
		csv_stat(&c, w, "cpu", "host_busy", &w->busy, REP_CAP_CPU);
		csv_stat(&c, w, "cpu", "allocated_running", &w->alloc_vcpus, REP_CAP_CPU);
		csv_stat(&c, w, "memory", "allocated_running", &w->alloc_mem, REP_CAP_MEM);
		if (w->capacity) {
			csv_int(&c, "headroom", w->kind, w->name, "", "vms_by_demand", w->fit_demand, "VMs");
			csv_int(&c, "headroom", w->kind, w->name, "", "vms_by_allocation", w->fit_alloc, "VMs");
		}
		for (int k = 0; k <= REP_CAP_DISK; k++)
			csv_forecast(&c, r, w, "forecast", "", k, &w->fc[k]);
		if (r->p.n_whatif && w->capacity) {
			if (w->removed) {
				csv_row(&c, "whatif", w->kind, w->name, "", "removed", "1", "");
				continue;
			}
			csv_int(&c, "whatif", w->kind, w->name, "", "vms_by_demand", w->wi_fit_demand, "VMs");
			csv_int(&c, "whatif", w->kind, w->name, "", "vms_by_allocation", w->wi_fit_alloc, "VMs");
			for (int k = 0; k <= REP_CAP_DISK; k++)
				if (w->wi_fc[k].done && w->wi_fc[k].threshold) {
					const char *names[] = {"days_remaining", "earliest_days", "latest_days"};
					double v[] = {w->wi_fc[k].hours, w->wi_fc[k].earliest, w->wi_fc[k].latest};
					for (int j = 0; j < 3; j++) {
						if (v[j] < 0)
							csv_row(&c, "whatif", w->kind, w->name, res_name[k], names[j],
							        "", "beyond the horizon");
						else
							csv_num(&c, "whatif", w->kind, w->name, res_name[k], names[j],
							        v[j] / 24, "days");
					}
				}
		}
	}
	if (r->p.n_whatif)
		csv_int(&c, "whatif", "", "", "", "vms_not_placed", r->whatif_unplaced, "VMs");
	for (size_t i = 0; i < r->n_vms; i++) {
		const struct rep_cap_vm *v = &r->vms[i];
		csv_row(&c, "reclaim", v->kind, v->name, "", "uuid", "", v->uuid);
		csv_int(&c, "reclaim", v->kind, v->name, "cpu", "vcpus", v->vcpus, "vcpus");
		csv_num(&c, "reclaim", v->kind, v->name, "memory", "allocated", (double)v->mem_kib / 1048576.0, "GiB");
		if (strcmp(v->kind, "powered-off") != 0) {
			csv_num(&c, "reclaim", v->kind, v->name, "cpu", "demand_avg", v->cpu_avg, "cores");
			csv_num(&c, "reclaim", v->kind, v->name, "cpu", "demand_p95", v->cpu_p95, "cores");
		}
		csv_int(&c, "reclaim", v->kind, v->name, "cpu", "recommended_vcpus", v->rec_vcpus, "vcpus");
		if (v->cost) {
			char m[VM_MONEY_MAX_FORMAT];
			csv_row(&c, "reclaim", v->kind, v->name, "", "monthly_cost",
			        rep_cap_money_text(v->amount, v->currency, m), v->currency);
		}
	}
	return ferror(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- JSON */

static json_t *jstat(const struct rep_cap_stat *s, int r)
{
	if (!s->n)
		return json_null();
	return json_pack("{s:f, s:f, s:f, s:I}", "avg", human(r, s->avg), "p95", human(r, s->p95), "peak",
	                 human(r, s->peak), "hours", (json_int_t)s->n);
}

static json_t *jdays(double hours)
{
	return hours < 0 ? json_null() : json_real(hours / 24);
}

static json_t *jforecast(const struct rep_cap_forecast *f, int r)
{
	if (!f->done)
		return f->why[0] ? json_pack("{s:s}", "none", f->why) : json_null();
	json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:f, s:{s:f, s:f, s:f}}", "method", f->method, "window_hours",
	                      (json_int_t)f->steps, "hours_with_data", (json_int_t)f->used, "r2", f->r2, "sigma",
	                      human(r, f->sigma), "at_horizon", "value", human(r, f->at_horizon), "lo",
	                      human(r, f->at_lo), "hi", human(r, f->at_hi));
	if (f->threshold) {
		json_object_set_new(o, "days_remaining", jdays(f->hours));
		json_object_set_new(o, "earliest_days", jdays(f->earliest));
		json_object_set_new(o, "latest_days", jdays(f->latest));
	}
	return o;
}

static json_t *jres(const double *v)
{
	json_t *o = json_object();
	for (int r = 0; r <= REP_CAP_DISK; r++)
		json_object_set_new(o, res_name[r],
		                    v[r] > 0 || r != REP_CAP_DISK ? json_real(human(r, v[r])) : json_null());
	return o;
}

int rep_cap_json(const struct rep_cap *r, FILE *f)
{
	json_t *rows = json_array(), *vms = json_array(), *steps = json_array(), *totals = json_array();
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct rep_cap_row *w = &r->rows[i];
		json_t *util = json_object(), *fc = json_object();
		for (int k = 0; k < REP_CAP_NRES; k++)
			json_object_set_new(util, res_name[k], jstat(&w->demand[k], k));
		json_object_set_new(util, "host_cpu_busy", jstat(&w->busy, REP_CAP_CPU));
		json_object_set_new(util, "allocated_vcpus_running", jstat(&w->alloc_vcpus, REP_CAP_CPU));
		json_object_set_new(util, "allocated_memory_running", jstat(&w->alloc_mem, REP_CAP_MEM));
		for (int k = 0; k <= REP_CAP_DISK; k++)
			json_object_set_new(fc, res_name[k], jforecast(&w->fc[k], k));
		json_t *o =
		    json_pack("{s:s, s:s, s:I, s:I, s:o, s:{s:I, s:f}}", "name", w->name, "kind", w->kind, "hosts",
		              (json_int_t)w->n_hosts, "vms", (json_int_t)w->n_vms, "utilisation", util, "allocated",
		              "vcpus", (json_int_t)w->vcpus, "memory", (double)w->mem_kib / 1048576.0);
		json_object_set_new(o, "forecast", fc);
		if (w->capacity) {
			json_object_set_new(o, "capacity", jres(w->cap));
			json_object_set_new(o, "ha_reserve", jres(w->reserve));
			json_object_set_new(o, "usable", jres(w->usable));
			json_object_set_new(
			    o, "overcommit",
			    json_pack("{s:f, s:f}", "vcpu_per_pcpu", w->vcpu_ratio, "memory", w->mem_ratio));
			json_object_set_new(o, "headroom",
			                    json_pack("{s:I, s:I}", "demand", (json_int_t)w->fit_demand, "allocation",
			                              (json_int_t)w->fit_alloc));
		} else {
			json_object_set_new(o, "capacity", json_null());
			json_object_set_new(o, "headroom", json_null());
		}
		if (r->p.n_whatif && w->capacity) {
			json_t *wf = json_object();
			for (int k = 0; k <= REP_CAP_DISK; k++)
				json_object_set_new(wf, res_name[k],
				                    w->removed ? json_null() : jforecast(&w->wi_fc[k], k));
			json_object_set_new(o, "whatif",
			                    w->removed ? json_pack("{s:b}", "removed", 1)
			                               : json_pack("{s:b, s:{s:I, s:I}, s:o}", "removed", 0, "headroom",
			                                           "demand", (json_int_t)w->wi_fit_demand, "allocation",
			                                           (json_int_t)w->wi_fit_alloc, "forecast", wf));
			if (w->removed)
				json_decref(wf);
		}
		json_array_append_new(rows, o);
	}
	struct rep_cap_money_sum sum = {0};
	for (size_t i = 0; i < r->n_vms; i++) {
		const struct rep_cap_vm *v = &r->vms[i];
		char m[VM_MONEY_MAX_FORMAT];
		json_t *cost = json_null();
		if (v->cost) {
			cost = json_pack("{s:s, s:I, s:s, s:s, s:s, s:b}", "text",
			                 rep_cap_money_text(v->amount, v->currency, m), "nano", (json_int_t)v->amount.n,
			                 "currency", v->currency, "document", v->document, "month", v->month, "final",
			                 v->final);
			rep_cap_money_sum_add(&sum, v->currency, v->amount);
		}
		bool off = strcmp(v->kind, "powered-off") == 0;
		json_array_append_new(vms, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:f, s:o, s:o, s:I, s:o}", "kind",
		                                     v->kind, "uuid", v->uuid, "name", v->name, "tenant", v->tenant,
		                                     "host", v->host, "vcpus", (json_int_t)v->vcpus, "memory_gib",
		                                     (double)v->mem_kib / 1048576.0, "cpu_avg",
		                                     off ? json_null() : json_real(v->cpu_avg), "cpu_p95",
		                                     off ? json_null() : json_real(v->cpu_p95), "recommended_vcpus",
		                                     (json_int_t)v->rec_vcpus, "monthly_cost", cost));
	}
	for (size_t i = 0; i < sum.n; i++) {
		char m[VM_MONEY_MAX_FORMAT];
		json_array_append_new(totals, json_pack("{s:s, s:s, s:I}", "currency", sum.currency[i], "text",
		                                        rep_cap_money_text(sum.total[i], sum.currency[i], m), "nano",
		                                        (json_int_t)sum.total[i].n));
	}
	for (size_t i = 0; i < r->p.n_whatif; i++) {
		const struct rep_cap_whatif *w = &r->p.whatif[i];
		json_array_append_new(
		    steps, w->remove ? json_pack("{s:s, s:s}", "step", "remove-host", "host", w->host)
		                     : json_pack("{s:s, s:I, s:I, s:f, s:o}", "step", "add", "vms",
		                                 (json_int_t)w->add_n, "vcpus", (json_int_t)w->size.vcpus, "memory_gib",
		                                 (double)w->size.mem_kib / 1048576.0, "disk_gib",
		                                 w->size.disk_bytes < 0
		                                     ? json_null()
		                                     : json_real((double)w->size.disk_bytes / 1073741824.0)));
	}
	const struct rep_conf *k = r->p.conf;
	json_t *doc = json_pack(
	    "{s:s, s:s, s:s, s:I, s:I, s:{s:I, s:f, s:f, s:b}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:o, "
	    "s:o, s:{s:o, s:I}}",
	    "period", r->p.period, "group", group_name[r->p.group], "generated", r->generated, "hours",
	    (json_int_t)r->hours, "hours_not_rolled_up", (json_int_t)r->hours_unclean, "vm_size", "vcpus",
	    (json_int_t)r->size.vcpus, "memory_gib", (double)r->size.mem_kib / 1048576.0, "disk_gib",
	    (double)r->size.disk_bytes / 1073741824.0, "fleet_median", r->size_from_fleet, "config", "ha_reserve_hosts",
	    (json_int_t)k->ha_reserve_hosts, "buffer_percent", (json_int_t)k->buffer_percent, "host_disk_gib",
	    (json_int_t)k->host_disk_gib, "vcpu_per_pcpu", (json_int_t)k->vcpu_per_pcpu, "idle_cpu_percent",
	    (json_int_t)k->idle_cpu_percent, "oversized_cpu_percent", (json_int_t)k->oversized_percent,
	    "rightsize_cpu_percent", (json_int_t)k->rightsize_percent, "forecast_days", (json_int_t)k->forecast_days,
	    "rows", rows, "reclaimable", vms, "reclaimable_total", totals, "whatif", "steps", steps, "vms_not_placed",
	    (json_int_t)r->whatif_unplaced);
	if (!doc)
		return -1;
	int rc = json_dumpf(doc, f, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) < 0 ? -1 : 0;
	fputc('\n', f);
	json_decref(doc);
	return rc < 0 || ferror(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- documents */

struct cells {
	char buf[12][160];
	const char *c[12];
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

static const char *fc_text(struct cells *k, int i, const struct rep_cap_forecast *f, double horizon)
{
	char a[32], b[32], c[32];
	if (!f->done)
		return cell(k, i, "no forecast: %s", f->why);
	if (!f->threshold)
		return k->c[i] = "-";
	if (f->hours == 0)
		return k->c[i] = "none left now";
	return cell(k, i, "%s (%s to %s)", show_days(f->hours, horizon, a, sizeof a),
	            show_days(f->earliest, horizon, b, sizeof b), show_days(f->latest, horizon, c, sizeof c));
}

/* A paragraph of any length (cell() cuts at its buffer). */
static void para(struct vm_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void para(struct vm_doc *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *t = NULL;
	if (vasprintf(&t, fmt, ap) < 0)
		t = NULL;
	va_end(ap);
	vm_doc_paragraph(d, t ? t : "");
	free(t);
}

static struct vm_doc *build(const struct rep_cap *r)
{
	char title[256];
	snprintf(title, sizeof title, "Capacity report %s by %s%s%s%s%s", r->p.period, group_name[r->p.group],
	         r->p.host ? ", host " : "", r->p.host ? r->p.host : "", r->p.tenant ? ", tenant " : "",
	         r->p.tenant ? r->p.tenant : "");
	struct vm_doc *d = vm_doc_new(title);
	struct cells k;
	const struct rep_conf *conf = r->p.conf;
	char from[32], to[32];
	time_t tf = (time_t)r->p.from, tt = (time_t)r->p.to;
	struct tm tm;
	strftime(from, sizeof from, "%Y-%m-%dT%H:%MZ", gmtime_r(&tf, &tm));
	strftime(to, sizeof to, "%Y-%m-%dT%H:%MZ", gmtime_r(&tt, &tm));
	vm_doc_field(d, "Period", cell(&k, 0, "%s to %s (%zu hours, UTC)", from, to, r->hours));
	vm_doc_field(d, "Generated", r->generated);
	vm_doc_field(d, "VM size for headroom",
	             cell(&k, 0, "%lld vCPUs, %.2f GiB memory, %.1f GiB disk%s", (long long)r->size.vcpus,
	                  (double)r->size.mem_kib / 1048576.0, (double)r->size.disk_bytes / 1073741824.0,
	                  r->size_from_fleet ? " (the fleet's median VM)" : " (reports { vm-size })"));
	vm_doc_field(d, "HA reserve and buffer",
	             cell(&k, 0, "N+%d: the %d largest host%s of each group held back; then %d %% buffer",
	                  conf->ha_reserve_hosts, conf->ha_reserve_hosts, conf->ha_reserve_hosts == 1 ? "" : "s",
	                  conf->buffer_percent));
	if (r->hours_unclean)
		para(d,
		     "%zu hours of the period are not rolled up yet (vmeter-admin maintain): their data are "
		     "not in these figures.",
		     r->hours_unclean);

	vm_doc_heading(d, "Utilisation");
	vm_doc_paragraph(d, "Average, 95th percentile and peak of the hourly values. CPU demand: the VMs' CPU time; "
	                    "host busy: the hosts' own busy CPU; vCPUs and RAM running: the running VMs' allocation; "
	                    "memory: the VMs' resident memory; disk: their allocated disk bytes; network: their "
	                    "traffic.");
	{
		static const enum vm_doc_align al[] = {VM_DOC_LEFT,  VM_DOC_LEFT,  VM_DOC_RIGHT,
		                                       VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_LEFT};
		static const char *const head[] = {"Name", "Figure", "Average", "95th pct", "Peak", "Unit"};
		vm_doc_table(d, 6, head, al);
		for (size_t i = 0; i < r->n_rows; i++) {
			const struct rep_cap_row *w = &r->rows[i];
			const struct {
				const char *label;
				const struct rep_cap_stat *s;
				int res;
				const char *unit;
			} figs[] = {
			    {"CPU demand", &w->demand[REP_CAP_CPU], REP_CAP_CPU, "cores"},
			    {"host busy", &w->busy, REP_CAP_CPU, "cores"},
			    {"vCPUs running", &w->alloc_vcpus, REP_CAP_CPU, "vCPUs"},
			    {"memory", &w->demand[REP_CAP_MEM], REP_CAP_MEM, "GiB"},
			    {"RAM running", &w->alloc_mem, REP_CAP_MEM, "GiB"},
			    {"disk", &w->demand[REP_CAP_DISK], REP_CAP_DISK, "GiB"},
			    {"network", &w->demand[REP_CAP_NET], REP_CAP_NET, "Mbit/s"},
			};
			for (size_t j = 0; j < sizeof figs / sizeof *figs; j++) {
				if (!figs[j].s->n)
					continue;
				k.c[0] = j == 0 ? w->name : "";
				k.c[1] = figs[j].label;
				cell(&k, 2, "%.2f", human(figs[j].res, figs[j].s->avg));
				cell(&k, 3, "%.2f", human(figs[j].res, figs[j].s->p95));
				cell(&k, 4, "%.2f", human(figs[j].res, figs[j].s->peak));
				k.c[5] = figs[j].unit;
				vm_doc_row(d, k.c);
			}
		}
	}
	vm_doc_heading(d, "Allocation and capacity");
	vm_doc_paragraph(d, "Allocated: the vCPUs and RAM of the VMs defined at the period's end; beside them the "
	                    "overcommit (vCPUs per physical CPU, allocated RAM per physical RAM). Usable: the capacity "
	                    "(cores, GiB) less the HA reserve, less the buffer.");
	{
		static const enum vm_doc_align al[] = {VM_DOC_LEFT,  VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_RIGHT,
		                                       VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_RIGHT};
		static const char *const head[] = {"Name",    "VMs",       "vCPUs",        "vCPU:pCPU",
		                                   "RAM GiB", "RAM ratio", "Usable cores", "Usable GiB"};
		vm_doc_table(d, 8, head, al);
		for (size_t i = 0; i < r->n_rows; i++) {
			const struct rep_cap_row *w = &r->rows[i];
			k.c[0] = w->name;
			cell(&k, 1, "%zu", w->n_vms);
			cell(&k, 2, "%lld", (long long)w->vcpus);
			cell(&k, 4, "%.2f", (double)w->mem_kib / 1048576.0);
			if (w->capacity) {
				cell(&k, 3, "%.2f", w->vcpu_ratio);
				cell(&k, 5, "%.2f", w->mem_ratio);
				cell(&k, 6, "%.2f", w->usable[REP_CAP_CPU]);
				cell(&k, 7, "%.2f", human(REP_CAP_MEM, w->usable[REP_CAP_MEM]));
			} else {
				k.c[3] = k.c[5] = k.c[6] = k.c[7] = "-";
			}
			if (i + 1 == r->n_rows)
				vm_doc_total(d, k.c);
			else
				vm_doc_row(d, k.c);
		}
	}
	vm_doc_heading(d, "Headroom and time remaining");
	para(d,
	     "VMs of the size above that fit now: by demand (usable less the 95th percentile, per "
	     "host, bounded by the group's) and by allocation (vCPUs up to %d per usable core, "
	     "memory up to the usable). Time remaining: until the forecast of the hourly demand "
	     "reaches the usable capacity, within %d days; in brackets the 95 %% band's earliest "
	     "(upper edge) and latest (lower edge).",
	     conf->vcpu_per_pcpu, conf->forecast_days);
	{
		static const enum vm_doc_align al[] = {VM_DOC_LEFT, VM_DOC_RIGHT, VM_DOC_RIGHT,
		                                       VM_DOC_LEFT, VM_DOC_LEFT,  VM_DOC_LEFT};
		static const char *const head[] = {"Name", "VMs (demand)", "VMs (allocation)", "CPU", "Memory", "Disk"};
		vm_doc_table(d, 6, head, al);
		for (size_t i = 0; i < r->n_rows; i++) {
			const struct rep_cap_row *w = &r->rows[i];
			if (!w->capacity)
				continue;
			k.c[0] = w->name;
			cell(&k, 1, "%lld", (long long)w->fit_demand);
			cell(&k, 2, "%lld", (long long)w->fit_alloc);
			for (int x = 0; x <= REP_CAP_DISK; x++)
				fc_text(&k, 3 + x, &w->fc[x], r->horizon_hours);
			if (i + 1 == r->n_rows)
				vm_doc_total(d, k.c);
			else
				vm_doc_row(d, k.c);
		}
	}
	vm_doc_heading(d, "Forecasts");
	vm_doc_paragraph(
	    d, "Each forecast fits the period's hourly demand: a linear trend (least squares), or additive "
	       "Holt-Winters with a daily season where the season explains clearly more (R\xc2\xb2 higher by "
	       "0.05). Window: the hours fitted, of them with data. Sigma: the residuals' standard deviation. "
	       "The band is the 95 % prediction band.");
	{
		static const enum vm_doc_align al[] = {VM_DOC_LEFT,  VM_DOC_LEFT,  VM_DOC_LEFT, VM_DOC_RIGHT,
		                                       VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_LEFT};
		static const char *const head[] = {
		    "Name", "Resource", "Method", "Window (h)", "R\xc2\xb2", "Sigma", "At the horizon (band)"};
		vm_doc_table(d, 7, head, al);
		for (size_t i = 0; i < r->n_rows; i++) {
			const struct rep_cap_row *w = &r->rows[i];
			for (int x = 0; x <= REP_CAP_DISK; x++) {
				const struct rep_cap_forecast *f = &w->fc[x];
				if (!f->done)
					continue;
				k.c[0] = w->name;
				k.c[1] = res_name[x];
				k.c[2] = f->method;
				cell(&k, 3, "%zu (%zu)", f->steps, f->used);
				cell(&k, 4, "%.3f", f->r2);
				cell(&k, 5, "%.3g %s", human(x, f->sigma), res_unit[x]);
				cell(&k, 6, "%.2f (%.2f to %.2f) %s", human(x, f->at_horizon), human(x, f->at_lo),
				     human(x, f->at_hi), res_unit[x]);
				vm_doc_row(d, k.c);
			}
		}
	}
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct rep_cap_row *w = &r->rows[i];
		for (int x = 0; x <= REP_CAP_MEM && w->chart_n; x++) {
			if (!w->chart[x][0])
				continue;
			const double *ys[4] = {w->chart[x][0], w->chart[x][1], w->chart[x][2], w->chart[x][3]};
			double *hv[4];
			for (int j = 0; j < 4; j++) {
				hv[j] = vm_xmalloc(w->chart_n * sizeof *hv[j]);
				for (size_t t = 0; t < w->chart_n; t++)
					hv[j][t] = human(x, ys[j][t]);
			}
			const char *names[4] = {"daily peak hour", "forecast (daily highest hour)", "95 % band", NULL};
			char cap[200], lab[64], xto[32];
			time_t te = (time_t)(r->p.to + (int64_t)(w->chart_n - (r->hours + 23) / 24) * 86400);
			strftime(xto, sizeof xto, "%Y-%m-%d", gmtime_r(&te, &tm));
			if (strcmp(w->kind, "fleet") == 0)
				snprintf(cap, sizeof cap, "fleet: %s demand and forecast", res_name[x]);
			else
				snprintf(cap, sizeof cap, "%s %s: %s demand and forecast", w->kind, w->name,
				         res_name[x]);
			snprintf(lab, sizeof lab, "usable %.2f %s", human(x, w->usable[x]), res_unit[x]);
			vm_doc_series(d, cap, 4, names, w->chart_n, (const double *const *)hv, from, xto, res_unit[x],
			              w->capacity ? human(x, w->usable[x]) : NAN, w->capacity ? lab : NULL);
			for (int j = 0; j < 4; j++)
				free(hv[j]);
		}
	}
	if (r->p.n_whatif) {
		vm_doc_heading(d, "What-if");
		for (size_t i = 0; i < r->p.n_whatif; i++) {
			const struct rep_cap_whatif *s = &r->p.whatif[i];
			if (s->remove)
				para(d, "Remove host %s: its capacity leaves its groups; its demand stays.", s->host);
			else
				para(d,
				     "Add %lld VMs of %lld vCPUs and %.2f GiB, placed one at a time on the "
				     "host with the most room.",
				     (long long)s->add_n, (long long)s->size.vcpus,
				     (double)s->size.mem_kib / 1048576.0);
		}
		if (r->whatif_unplaced)
			para(d, "%lld of the added VMs fit on no host.", (long long)r->whatif_unplaced);
		static const enum vm_doc_align al[] = {VM_DOC_LEFT, VM_DOC_RIGHT, VM_DOC_RIGHT,
		                                       VM_DOC_LEFT, VM_DOC_LEFT,  VM_DOC_LEFT};
		static const char *const head[] = {"Name", "VMs (demand)", "VMs (allocation)", "CPU", "Memory", "Disk"};
		vm_doc_table(d, 6, head, al);
		for (size_t i = 0; i < r->n_rows; i++) {
			const struct rep_cap_row *w = &r->rows[i];
			if (!w->capacity)
				continue;
			k.c[0] = w->name;
			if (w->removed) {
				k.c[1] = k.c[2] = "removed";
				k.c[3] = k.c[4] = k.c[5] = "-";
			} else {
				cell(&k, 1, "%lld (now %lld)", (long long)w->wi_fit_demand, (long long)w->fit_demand);
				cell(&k, 2, "%lld (now %lld)", (long long)w->wi_fit_alloc, (long long)w->fit_alloc);
				for (int x = 0; x <= REP_CAP_DISK; x++)
					fc_text(&k, 3 + x, &w->wi_fc[x], r->horizon_hours);
			}
			vm_doc_row(d, k.c);
		}
	}
	vm_doc_heading(d, "Reclaimable capacity");
	para(d,
	     "Powered-off: defined, not running in the period, still allocated. Idle: average CPU "
	     "below %d %% of its vCPUs (over the time it was observed; gaps are not idle). "
	     "Oversized: 95th percentile of hourly CPU below %d %% of its vCPUs; recommended vCPUs: "
	     "that percentile at %d %%. Cost: the VM's lines on its tenant's latest invoice.",
	     conf->idle_cpu_percent, conf->oversized_percent, conf->rightsize_percent);
	if (!r->n_vms) {
		vm_doc_paragraph(d, "No VM is powered off, idle or oversized.");
	} else {
		/* the recommendation is text ("delete or archive"): it wraps */
		static const enum vm_doc_align al[] = {VM_DOC_LEFT,  VM_DOC_LEFT,  VM_DOC_LEFT, VM_DOC_RIGHT,
		                                       VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_LEFT, VM_DOC_RIGHT};
		static const char *const head[] = {"VM",  "Tenant",        "Kind",        "vCPUs",
		                                   "GiB", "CPU avg / p95", "Recommended", "Cost a month"};
		vm_doc_table(d, 8, head, al);
		struct rep_cap_money_sum sum = {0};
		for (size_t i = 0; i < r->n_vms; i++) {
			const struct rep_cap_vm *v = &r->vms[i];
			char m[VM_MONEY_MAX_FORMAT];
			k.c[0] = v->name;
			k.c[1] = v->tenant;
			k.c[2] = v->kind;
			cell(&k, 3, "%lld", (long long)v->vcpus);
			cell(&k, 4, "%.2f", (double)v->mem_kib / 1048576.0);
			if (strcmp(v->kind, "powered-off") == 0) {
				k.c[5] = "-";
				k.c[6] = "delete or archive";
			} else {
				cell(&k, 5, "%.2f / %.2f", v->cpu_avg, v->cpu_p95);
				cell(&k, 6, "%lld vCPUs", (long long)v->rec_vcpus);
			}
			if (v->cost) {
				cell(&k, 7, "%s %s%s", rep_cap_money_text(v->amount, v->currency, m), v->currency,
				     v->final ? "" : " (draft)");
				rep_cap_money_sum_add(&sum, v->currency, v->amount);
			} else {
				k.c[7] = "-";
			}
			vm_doc_row(d, k.c);
		}
		for (size_t i = 0; i < sum.n; i++) {
			char m[VM_MONEY_MAX_FORMAT];
			const char *t[8] = {"Total", "", "", "", "", "", ""};
			t[7] =
			    cell(&k, 0, "%s %s", rep_cap_money_text(sum.total[i], sum.currency[i], m), sum.currency[i]);
			vm_doc_total(d, t);
		}
	}
	return d;
}

int rep_cap_html(const struct rep_cap *r, FILE *f)
{
	struct vm_doc *d = build(r);
	int rc = vm_doc_write_html(d, f);
	vm_doc_free(d);
	return rc;
}

int rep_cap_pdf(const struct rep_cap *r, const char *path, int *pages, char *err, size_t errsize)
{
	struct vm_doc *d = build(r);
	int rc = vm_doc_write_pdf(d, path, pages, err, errsize);
	vm_doc_free(d);
	return rc;
}
