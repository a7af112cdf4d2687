/* billing/draft: invoices from rated quantities (draft.h).
 *
 * Everything a draft holds is computed by one function, compute(), from
 * the database as one transaction sees it; building stores its result,
 * finalising computes it again and compares, so a final invoice is what a
 * rebuild at that moment would make. */
#include "config.h"

#include "draft.h"
#include "hostcost.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invoice.h"
#include "rate.h"
#include "pgx.h"
#include "xalloc.h"

/* A line as computed, in the form it is stored (bill_line). */
struct dline {
	enum vm_invoice_line_kind kind;
	char *project, *vm_name, *meter, *unit, *plan, *version, *note, *covers_from, *covers_to;
	int vm_id, version_id, charge; /* 0, 0, -1: none */
	int64_t qty, per;
	vm_money rate, amount;
	int64_t minutes_billed, minutes_sampled, minutes_lost;
	char month[8]; /* an adjustment's month, "2026-02", for sorting */
};

struct dset {
	struct dline *v;
	size_t n, cap;
};

/* The tenant's month as the database cuts it. */
struct month {
	const char *tenant;
	char period[11]; /* "2026-10-01" */
	char end[11];    /* the next month's first day */
	char *from, *to; /* timestamptz text, UTC */
	char *time_zone;
	const struct vm_currency *currency;
	bool showback;
	bool money;             /* false: a statement of quantities only */
	enum vm_round rounding; /* of the latest plan version the lines use */
	char *unrated;          /* NULL: every day rated through its end */
	char *provisional;      /* a pool host whose month is not rated through its end, or NULL */
};

/* The latest version of a plan that priced minutes in the month, and the
 * sum of its usage lines: the minimum's inputs. */
struct plan_sum {
	const char *plan;
	const struct bill_plan *latest; /* borrowed from the store */
	int latest_id;
	vm_money sum;
};

static void month_release(struct month *m)
{
	free(m->from);
	free(m->to);
	free(m->time_zone);
	free(m->unrated);
	free(m->provisional);
}

static void dline_release(struct dline *l)
{
	free(l->project);
	free(l->vm_name);
	free(l->meter);
	free(l->unit);
	free(l->plan);
	free(l->version);
	free(l->note);
	free(l->covers_from);
	free(l->covers_to);
}

static void dset_release(struct dset *s)
{
	for (size_t i = 0; i < s->n; i++)
		dline_release(&s->v[i]);
	free(s->v);
	*s = (struct dset){0};
}

static struct dline *dset_add(struct dset *s)
{
	s->v = vm_xgrow(s->v, &s->cap, s->n + 1, sizeof *s->v);
	struct dline *l = &s->v[s->n++];
	*l = (struct dline){.charge = -1, .per = 1};
	return l;
}

int bill_period_parse(const char *text, char *out)
{
	if (strlen(text) != 7 || text[4] != '-')
		return -1;
	for (int i = 0; i < 7; i++)
		if (i != 4 && !isdigit((unsigned char)text[i]))
			return -1;
	int year = atoi(text), mon = atoi(text + 5);
	if (year < 1970 || mon < 1 || mon > 12)
		return -1;
	char buf[32];
	snprintf(buf, sizeof buf, "%04d-%02d-01", year, mon);
	memcpy(out, buf, 11);
	return 0;
}

/* The VM's name at the end of the invoice's month ($4), else its first. */
#define VM_NAME_SQL(col)                                                                                               \
	"coalesce((SELECT name FROM vm_inventory i WHERE i.vm_id = " col " AND i.valid_from < $4::timestamptz "        \
	"ORDER BY i.valid_from DESC LIMIT 1), (SELECT name FROM vm_inventory i WHERE i.vm_id = " col                   \
	" ORDER BY i.valid_from LIMIT 1), (SELECT uuid::text FROM vm WHERE vm.vm_id = " col "))"

/* The tenant, the month's bounds in its zone (PostgreSQL does the DST)
 * and the days of the month bill_day does not show rated through their
 * end, as ranges. */
static int load_month(struct vm_pg *pg, const char *tenant, const char *period, struct month *m, char *err,
                      size_t errsize)
{
	m->tenant = tenant;
	snprintf(m->period, sizeof m->period, "%s", period);
	const char *p1[1] = {tenant};
	PGresult *res = vm_pg_exec(
	    pg, "SELECT currency, time_zone, showback, showback_costs FROM bill_tenant WHERE tenant = $1", 1, p1);
	if (!res)
		return vm_pg_fail(pg, "reading the tenant", err, errsize);
	if (PQntuples(res) != 1) {
		PQclear(res);
		snprintf(err, errsize, "tenant '%s' is not in the loaded plan files (vmeter-bill plans load)", tenant);
		return -1;
	}
	m->currency = vm_currency_find(PQgetvalue(res, 0, 0));
	m->time_zone = vm_xstrdup(PQgetvalue(res, 0, 1));
	m->showback = PQgetvalue(res, 0, 2)[0] == 't';
	m->money = !m->showback || PQgetvalue(res, 0, 3)[0] == 't';
	PQclear(res);
	if (!m->currency) {
		snprintf(err, errsize, "tenant '%s': unknown currency", tenant);
		return -1;
	}
	const char *p2[2] = {m->period, m->time_zone};
	res = vm_pg_exec(pg,
	                 "SELECT ($1::date)::timestamp AT TIME ZONE $2, "
	                 "(($1::date + interval '1 month')::date)::timestamp AT TIME ZONE $2, "
	                 "($1::date + interval '1 month')::date",
	                 2, p2);
	if (!res)
		return vm_pg_fail(pg, "cutting the month", err, errsize);
	m->from = vm_xstrdup(PQgetvalue(res, 0, 0));
	m->to = vm_xstrdup(PQgetvalue(res, 0, 1));
	snprintf(m->end, sizeof m->end, "%s", PQgetvalue(res, 0, 2));
	PQclear(res);
	res = vm_pg_exec(pg,
	                 "WITH u AS (SELECT d::date AS d FROM generate_series($1::date, "
	                 "($1::date + interval '1 month' - interval '1 day'), interval '1 day') d "
	                 "WHERE NOT EXISTS (SELECT 1 FROM bill_day b WHERE b.time_zone = $2 AND b.day = d::date "
	                 "AND b.upto >= ((d::date + 1)::timestamp AT TIME ZONE $2))) "
	                 "SELECT min(d), max(d) FROM (SELECT d, d - (row_number() OVER (ORDER BY d))::int AS g "
	                 "FROM u) x GROUP BY g ORDER BY 1",
	                 2, p2);
	if (!res)
		return vm_pg_fail(pg, "reading which days are rated", err, errsize);
	if (PQntuples(res) > 0) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = vm_xmemstream(&buf, &len);
		for (int i = 0; i < PQntuples(res); i++) {
			const char *a = PQgetvalue(res, i, 0), *b = PQgetvalue(res, i, 1);
			fprintf(f, "%s%s", i ? ", " : "", a);
			if (strcmp(a, b) != 0)
				fprintf(f, "..%s", b);
		}
		vm_xmemclose(f);
		m->unrated = buf;
	}
	PQclear(res);
	return 0;
}

static const struct bill_charge *charge_of(struct bill_store *store, struct vm_pg *pg, int version_id, int charge,
                                           const struct month *m, const struct bill_plan **plan, char *err,
                                           size_t errsize)
{
	const struct bill_plan *p = bill_store_version(store, pg, version_id, err, errsize);
	if (!p)
		return NULL;
	const struct bill_version *v = &p->versions[0];
	if (charge < 0 || (size_t)charge >= v->n_charges) {
		snprintf(err, errsize,
		         "rated quantities name charge %d of plan '%s' version '%s' (id %d), which has %zu", charge,
		         p->name, v->label, version_id, v->n_charges);
		return NULL;
	}
	if (strcmp(p->currency->code, m->currency->code) != 0) {
		snprintf(err, errsize, "plan '%s' version '%s' (id %d) is in %s; tenant '%s' pays in %s", p->name,
		         v->label, version_id, p->currency->code, m->tenant, m->currency->code);
		return NULL;
	}
	*plan = p;
	return &v->charges[charge];
}

static void fill_charge(struct dline *l, const struct bill_plan *p, int version_id, int charge,
                        const struct bill_charge *ch, const char *meter)
{
	l->meter = vm_xstrdup(meter);
	l->per = ch->per;
	l->unit = vm_xstrdup(ch->per_text);
	/* one price per unit only where the model has one */
	l->rate = ch->model == BILL_PER_UNIT || ch->model == BILL_PACKAGE ? ch->price : (vm_money){0};
	l->plan = vm_xstrdup(p->name);
	l->version_id = version_id;
	l->version = vm_xstrdup(p->versions[0].label);
	l->charge = charge;
}

static void note_plan(struct plan_sum **sums, size_t *n, size_t *cap, const struct bill_plan *p, int version_id,
                      vm_money add)
{
	size_t i = 0;
	while (i < *n && strcmp((*sums)[i].plan, p->name) != 0)
		i++;
	if (i == *n) {
		*sums = vm_xgrow(*sums, cap, *n + 1, sizeof **sums);
		(*sums)[(*n)++] = (struct plan_sum){p->name, p, version_id, {0}};
	}
	struct plan_sum *s = &(*sums)[i];
	const struct bill_when *a = &p->versions[0].from, *b = &s->latest->versions[0].from;
	if (a->t > b->t || (a->t == b->t && version_id > s->latest_id)) {
		s->latest = p;
		s->latest_id = version_id;
	}
	/* the sum is checked when the lines are: it cannot overflow first */
	vm_money_add(s->sum, add, &s->sum);
}

/* Usage lines: per plan version and charge, the tenant's month total
 * priced once and split among its (project, VM) quantities. */
static int usage_lines(struct vm_pg *pg, struct bill_store *store, struct month *m, struct dset *out,
                       struct plan_sum **sums, size_t *n_sums, size_t *cap_sums, char *err, size_t errsize)
{
	const char *params[4] = {m->tenant, m->period, m->end, m->to};
	PGresult *res = vm_pg_exec(
	    pg,
	    "WITH c AS (SELECT vm_id, project, sum(minutes_defined) AS defined, sum(minutes_running) AS running, "
	    "sum(minutes_sampled) AS sampled, sum(lost_ms) / 60000 AS lost FROM bill_coverage "
	    "WHERE tenant = $1 AND day >= $2::date AND day < $3::date GROUP BY 1, 2), "
	    "r AS (SELECT version_id, charge, project, vm_id, min(meter) AS meter, sum(qty)::bigint AS qty "
	    "FROM bill_rated WHERE tenant = $1 AND day >= $2::date AND day < $3::date GROUP BY 1, 2, 3, 4) "
	    "SELECT r.version_id, r.charge, r.project, r.vm_id, r.meter, r.qty, " VM_NAME_SQL(
	        "r.vm_id") ", c.defined, c.running, c.sampled, c.lost "
	                   "FROM r LEFT JOIN c USING (vm_id, project) ORDER BY r.version_id, r.charge, r.project, "
	                   "r.vm_id",
	    4, params);
	if (!res)
		return vm_pg_fail(pg, "reading rated quantities", err, errsize);
	int rc = 0, rows = PQntuples(res);
	int64_t unit = vm_currency_minor(m->currency);
	for (int g = 0; g < rows && rc == 0;) {
		int vid = atoi(PQgetvalue(res, g, 0)), charge = atoi(PQgetvalue(res, g, 1));
		int e = g;
		while (e < rows && atoi(PQgetvalue(res, e, 0)) == vid && atoi(PQgetvalue(res, e, 1)) == charge)
			e++;
		const struct bill_plan *p;
		const struct bill_charge *ch = charge_of(store, pg, vid, charge, m, &p, err, errsize);
		if (!ch) {
			rc = -1;
			break;
		}
		m->rounding = p->rounding;
		size_t n = (size_t)(e - g);
		int64_t *w = vm_xcalloc(n, sizeof *w), total = 0;
		vm_money *parts = vm_xcalloc(n, sizeof *parts), amount = {0};
		for (size_t i = 0; i < n && rc == 0; i++) {
			w[i] = vm_pgx_int(res, g + (int)i, 5);
			if (w[i] > INT64_MAX - total)
				rc = -1;
			else
				total += w[i];
		}
		if (rc == 0 && bill_amount(ch, total, unit, p->rounding, &amount) < 0)
			rc = -1;
		if (rc == 0 && total > 0 && vm_money_split(amount, w, n, unit, parts) < 0)
			rc = -1;
		if (rc < 0)
			snprintf(err, errsize,
			         "plan '%s' version '%s' charge %d: the amount of %lld %s is out of range", p->name,
			         p->versions[0].label, charge, (long long)total, PQgetvalue(res, g, 4));
		for (size_t i = 0; i < n && rc == 0; i++) {
			int row = g + (int)i;
			struct dline *l = dset_add(out);
			l->kind = VM_INVOICE_LINE_USAGE;
			l->project = vm_xstrdup(PQgetvalue(res, row, 2));
			l->vm_id = atoi(PQgetvalue(res, row, 3));
			l->vm_name = vm_xstrdup(PQgetvalue(res, row, 6));
			fill_charge(l, p, vid, charge, ch, PQgetvalue(res, row, 4));
			l->qty = w[i];
			l->amount = parts[i];
			l->minutes_billed = vm_pgx_int(res, row, ch->time == BILL_TIME_DEFINED ? 7 : 8);
			l->minutes_sampled = vm_pgx_int(res, row, 9);
			l->minutes_lost = vm_pgx_int(res, row, 10);
			/* Samples come while a VM runs: a stopped VM's minutes that
			 * a `defined` charge bills are not missing any. */
			int64_t ran = vm_pgx_int(res, row, 8),
			        expect = ran < l->minutes_billed ? ran : l->minutes_billed;
			if (l->minutes_sampled < expect)
				l->note = vm_xasprintf("%lld minutes without samples",
				                       (long long)(expect - l->minutes_sampled));
			note_plan(sums, n_sums, cap_sums, p, vid, parts[i]);
		}
		free(w);
		free(parts);
		g = e;
	}
	PQclear(res);
	return rc;
}

/* What is due per rated key of days before the month ($2) in months
 * whose invoice (or statement) is final: what is rated now less what
 * final invoices charged for it (bill_invoiced).  $1: the tenant.  Shared
 * by the draft's adjustment lines and finalisation's record of them. */
#define DUES_SQL                                                                                                       \
	"WITH fin AS (SELECT period FROM bill_invoice WHERE tenant = $1 AND kind <> 'credit' AND state = 'final' "     \
	"AND period < $2::date), "                                                                                     \
	"r AS (SELECT day, vm_id, project, version_id, charge, meter, qty FROM bill_rated WHERE tenant = $1 "          \
	"AND day < $2::date AND date_trunc('month', day)::date IN (SELECT period FROM fin)), "                         \
	"i AS (SELECT b.day, b.vm_id, b.project, b.version_id, b.charge, min(b.meter) AS meter, sum(b.qty) AS qty "    \
	"FROM bill_invoiced b JOIN bill_invoice v USING (invoice_id) WHERE b.tenant = $1 AND v.state = 'final' "       \
	"AND b.day < $2::date AND date_trunc('month', b.day)::date IN (SELECT period FROM fin) "                       \
	"GROUP BY 1, 2, 3, 4, 5), "                                                                                    \
	"dues AS (SELECT coalesce(r.day, i.day) AS day, coalesce(r.vm_id, i.vm_id) AS vm_id, "                         \
	"coalesce(r.project, i.project) AS project, coalesce(r.version_id, i.version_id) AS version_id, "              \
	"coalesce(r.charge, i.charge) AS charge, coalesce(r.meter, i.meter) AS meter, "                                \
	"(coalesce(r.qty, 0) - coalesce(i.qty, 0))::bigint AS due FROM r FULL JOIN i ON r.day = i.day "                \
	"AND r.vm_id = i.vm_id AND r.project = i.project AND r.version_id = i.version_id AND r.charge = i.charge "     \
	"WHERE coalesce(r.qty, 0) <> coalesce(i.qty, 0)) "

/* Adjustment lines: per original month, project, VM, version and charge,
 * the dues of its days; the amount of a (month, version, charge) is what
 * its invoiced month total plus the dues costs less what the total alone
 * costs, so tiers stay right, split among its lines. */
static int adjustment_lines(struct vm_pg *pg, struct bill_store *store, struct month *m, struct dset *out, char *err,
                            size_t errsize)
{
	const char *params[4] = {m->tenant, m->period, m->time_zone, m->to};
	PGresult *res = vm_pg_exec(
	    pg,
	    DUES_SQL ", g AS (SELECT date_trunc('month', day)::date AS month, project, vm_id, version_id, charge, "
	             "min(meter) AS meter, sum(due)::bigint AS due, min(day) AS d0, max(day) AS d1 FROM dues "
	             "GROUP BY 1, 2, 3, 4, 5) "
	             "SELECT to_char(g.month, 'YYYY-MM'), g.project, g.vm_id, " VM_NAME_SQL(
	                 "g.vm_id") ", g.version_id, g.charge, g.meter, g.due, g.d0, g.d1, "
	                            "(g.d0::timestamp AT TIME ZONE $3), ((g.d1 + 1)::timestamp AT TIME ZONE $3), "
	                            "(SELECT coalesce(sum(b.qty), 0)::bigint FROM bill_invoiced b WHERE b.tenant = $1 "
	                            "AND b.version_id = g.version_id AND b.charge = g.charge AND b.day >= g.month "
	                            "AND b.day < (g.month + interval '1 month')::date), "
	                            "(SELECT number FROM bill_invoice WHERE tenant = $1 AND kind <> 'credit' "
	                            "AND period = g.month) "
	                            "FROM g WHERE g.due <> 0 ORDER BY g.month, g.version_id, g.charge, g.due < 0, "
	                            "g.project, g.vm_id",
	    4, params);
	if (!res)
		return vm_pg_fail(pg, "reading usage rated after its month was final", err, errsize);
	int rc = 0, rows = PQntuples(res);
	int64_t unit = vm_currency_minor(m->currency);
	for (int g = 0; g < rows && rc == 0;) {
		const char *month = PQgetvalue(res, g, 0);
		int vid = atoi(PQgetvalue(res, g, 4)), charge = atoi(PQgetvalue(res, g, 5));
		int e = g;
		while (e < rows && strcmp(PQgetvalue(res, e, 0), month) == 0 && atoi(PQgetvalue(res, e, 4)) == vid &&
		       atoi(PQgetvalue(res, e, 5)) == charge)
			e++;
		const struct bill_plan *p;
		const struct bill_charge *ch = charge_of(store, pg, vid, charge, m, &p, err, errsize);
		if (!ch) {
			rc = -1;
			break;
		}
		int64_t invoiced = vm_pgx_int(res, g, 12), now = invoiced;
		vm_money before;
		if (bill_amount(ch, invoiced, unit, p->rounding, &before) < 0)
			rc = -1;
		/* Positive dues first, so that the running total never goes
		 * below zero (it ends at what is rated now, >= 0); each line
		 * gets what its due adds to the running total's amount, so the
		 * lines add up to the month's difference exactly. */
		for (int row = g; row < e && rc == 0; row++) {
			int64_t due = vm_pgx_int(res, row, 7);
			vm_money after, amount;
			now += due;
			if (now < 0 || bill_amount(ch, now, unit, p->rounding, &after) < 0 ||
			    vm_money_sub(after, before, &amount) < 0) {
				rc = -1;
				break;
			}
			before = after;
			struct dline *l = dset_add(out);
			l->kind = VM_INVOICE_LINE_ADJUSTMENT;
			snprintf(l->month, sizeof l->month, "%s", month);
			l->project = vm_xstrdup(PQgetvalue(res, row, 1));
			l->vm_id = atoi(PQgetvalue(res, row, 2));
			l->vm_name = vm_xstrdup(PQgetvalue(res, row, 3));
			fill_charge(l, p, vid, charge, ch, PQgetvalue(res, row, 6));
			l->qty = due;
			l->amount = amount;
			l->covers_from = vm_xstrdup(PQgetvalue(res, row, 10));
			l->covers_to = vm_xstrdup(PQgetvalue(res, row, 11));
			const char *d0 = PQgetvalue(res, row, 8), *d1 = PQgetvalue(res, row, 9);
			char days[32];
			snprintf(days, sizeof days, strcmp(d0, d1) == 0 ? "%s" : "%s..%s", d0, d1);
			if (PQgetisnull(res, row, 13))
				l->note =
				    vm_xasprintf("usage of %s rated after the statement of %s was final", days, month);
			else
				l->note = vm_xasprintf("usage of %s rated after invoice %s was final", days,
				                       PQgetvalue(res, row, 13));
		}
		if (rc < 0)
			snprintf(
			    err, errsize,
			    "usage of %s rated late for plan '%s' version '%s' charge %d: its amount is out of range "
			    "(re-rate the month)",
			    month, p->name, p->versions[0].label, charge);
		g = e;
	}
	PQclear(res);
	return rc;
}

/* Minimum lines: a plan whose usage lines sum to less than the minimum of
 * its latest version that priced minutes in the month gets the rest. */
static int minimum_lines(const struct month *m, const struct plan_sum *sums, size_t n, struct dset *out, char *err,
                         size_t errsize)
{
	int64_t unit = vm_currency_minor(m->currency);
	for (size_t i = 0; i < n; i++) {
		const struct bill_plan *p = sums[i].latest;
		const struct bill_version *v = &p->versions[0];
		vm_money min, diff;
		if (vm_money_round(v->minimum, unit, p->rounding, &min) < 0 ||
		    vm_money_sub(min, sums[i].sum, &diff) < 0) {
			snprintf(err, errsize, "plan '%s': the minimum is out of range", p->name);
			return -1;
		}
		if (diff.n <= 0)
			continue;
		char a[VM_MONEY_MAX_FORMAT];
		struct dline *l = dset_add(out);
		l->kind = VM_INVOICE_LINE_MINIMUM;
		l->amount = diff;
		l->plan = vm_xstrdup(p->name);
		l->version_id = sums[i].latest_id;
		l->version = vm_xstrdup(v->label);
		l->note = vm_xasprintf("minimum %s of plan '%s' version '%s' per invoice",
		                       vm_money_format(min, m->currency->digits, p->rounding, a), p->name, v->label);
	}
	return 0;
}

/* The tenant's parts of the month's shared host cost (billing/hostcost.h):
 * a line per pool host, project and VM.  Each pool's month is cut in the
 * pool's zone and labelled like the tenant's.  A part of a host month not
 * rated through its end is provisional (finalisation refuses it). */
static int host_cost_lines(struct vm_pg *pg, struct bill_store *store, struct month *m, struct dset *out,
                           char **provisional, char *err, size_t errsize)
{
	struct bill_hostcost *h;
	size_t n;
	char label[8];
	snprintf(label, sizeof label, "%.7s", m->period);
	if (bill_hostcost_month(pg, store, label, &h, &n, err, errsize) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct bill_hostcost *x = &h[i];
		for (size_t j = 0; j < x->n_parts && rc == 0; j++) {
			const struct bill_hostcost_part *pt = &x->parts[j];
			if (strcmp(pt->tenant, m->tenant) != 0 || pt->amount.n == 0)
				continue;
			if (x->pool->currency != m->currency) {
				snprintf(err, errsize,
				         "pool '%s' is in %s and tenant '%s' pays in %s: a part cannot be billed",
				         x->pool->name, x->pool->currency->code, m->tenant, m->currency->code);
				rc = -1;
				break;
			}
			char idtext[16];
			snprintf(idtext, sizeof idtext, "%d", pt->vm_id);
			const char *p[1] = {idtext};
			PGresult *res =
			    vm_pg_exec(pg,
			               "SELECT name FROM vm_inventory WHERE vm_id = $1 ORDER BY valid_from DESC "
			               "LIMIT 1",
			               1, p);
			if (!res) {
				rc = vm_pg_fail(pg, "reading a VM's name", err, errsize);
				break;
			}
			char a[VM_MONEY_MAX_FORMAT];
			static const char *const how[] = {"allocation", "use", "the larger of allocation and use"};
			struct dline *l = dset_add(out);
			l->kind = VM_INVOICE_LINE_HOST_COST;
			l->project = vm_xstrdup(pt->project);
			l->vm_id = pt->vm_id;
			l->vm_name = vm_xstrdup(PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
			l->meter = vm_xasprintf("host %s", x->hostname);
			l->plan = vm_xstrdup(x->pool->name);
			l->amount = pt->amount;
			l->note = vm_xasprintf(
			    "part of host %s's %s %s for %s (pool '%s', split by %s%s)%s", x->hostname,
			    vm_money_format_exact(x->cost, x->pool->currency->digits, a), x->pool->currency->code,
			    label, x->pool->name, how[x->pool->split], x->pool->spread_idle ? ", idle cost spread" : "",
			    x->complete ? "" : "; provisional: the month is not rated through its end");
			PQclear(res);
			if (!x->complete && !*provisional)
				*provisional = vm_xasprintf("pool '%s' host %s", x->pool->name, x->hostname);
		}
	}
	bill_hostcost_free(h, n);
	return rc;
}

/* Per project and VM, its energy and carbon of the month's local days,
 * as lines without money (the zone the tenant's days were rated in). */
static int energy_lines(struct vm_pg *pg, struct month *m, struct dset *out, char *err, size_t errsize)
{
	const char *p[4] = {m->tenant, m->time_zone, m->period, m->end};
	PGresult *r =
	    vm_pg_exec(pg,
	               "SELECT s.project, s.vm_id, (SELECT name FROM vm_inventory i WHERE i.vm_id = s.vm_id "
	               "ORDER BY valid_from DESC LIMIT 1), sum(s.energy_uj), sum(s.measured_uj), sum(s.carbon_ug) "
	               "FROM bill_energy_share s WHERE s.tenant = $1 AND s.time_zone = $2 AND s.part = 'vm' "
	               "AND s.day >= $3::date AND s.day < $4::date GROUP BY 1, 2 ORDER BY 1, 2",
	               4, p);
	if (!r)
		return vm_pg_fail(pg, "reading the month's energy", err, errsize);
	for (int i = 0; i < PQntuples(r); i++) {
		int64_t uj = vm_pgx_int(r, i, 3), measured = vm_pgx_int(r, i, 4), ug = vm_pgx_int(r, i, 5);
		for (int k = 0; k < 2; k++) {
			if (k && !ug)
				continue; /* no grid known for its hosts: no carbon figure, not a zero */
			struct dline *l = dset_add(out);
			l->kind = VM_INVOICE_LINE_ENERGY;
			l->project = vm_xstrdup(PQgetvalue(r, i, 0));
			l->vm_id = (int)vm_pgx_int(r, i, 1);
			l->vm_name = vm_xstrdup(PQgetvalue(r, i, 2));
			l->meter = vm_xstrdup(k ? "carbon" : "energy");
			/* whole joules and milligrams, half up: the base units of
			 * the meters a plan may price */
			l->qty = k ? (ug + 500) / 1000 : (uj + 500000) / 1000000;
			l->per = k ? 1000 : 3600000;
			l->unit = vm_xstrdup(k ? "g CO2e" : "kWh");
			if (!k)
				l->note = measured == uj ? vm_xstrdup("measured (RAPL)")
				          : measured == 0
				              ? vm_xstrdup("modelled from CPU use (host class power model)")
				              : vm_xasprintf("%lld%% measured (RAPL), the rest modelled from CPU use",
				                             (long long)(measured * 100 / uj));
		}
	}
	PQclear(r);
	return 0;
}

static int strcmp_null(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int kind_rank(enum vm_invoice_line_kind k)
{
	return k == VM_INVOICE_LINE_USAGE        ? 0
	       : k == VM_INVOICE_LINE_HOST_COST  ? 1
	       : k == VM_INVOICE_LINE_ENERGY     ? 2
	       : k == VM_INVOICE_LINE_ADJUSTMENT ? 3
	                                         : 4;
}

/* Usage lines by project, VM name and meter; then host cost and energy
 * the same way; then adjustments by their month; the minimums last. */
static int line_cmp(const void *pa, const void *pb)
{
	const struct dline *a = pa, *b = pb;
	int c = kind_rank(a->kind) - kind_rank(b->kind);
	if (!c)
		c = strcmp(a->month, b->month);
	if (!c)
		c = strcmp_null(a->project, b->project);
	if (!c)
		c = strcmp_null(a->vm_name, b->vm_name);
	if (!c)
		c = a->vm_id - b->vm_id;
	if (!c)
		c = strcmp_null(a->meter, b->meter);
	if (!c)
		c = strcmp_null(a->plan, b->plan);
	if (!c)
		c = a->version_id - b->version_id;
	if (!c)
		c = a->charge - b->charge;
	return c;
}

/* The whole draft of tenant's month as the database holds it now. */
static int compute(struct vm_pg *pg, struct bill_store *store, const char *tenant, const char *period, struct month *m,
                   struct dset *lines, vm_money *total, char *err, size_t errsize)
{
	struct plan_sum *sums = NULL;
	size_t n_sums = 0, cap_sums = 0;
	m->rounding = VM_ROUND_HALF_UP;
	int rc = load_month(pg, tenant, period, m, err, errsize);
	if (rc == 0)
		rc = usage_lines(pg, store, m, lines, &sums, &n_sums, &cap_sums, err, errsize);
	if (rc == 0)
		rc = minimum_lines(m, sums, n_sums, lines, err, errsize);
	if (rc == 0)
		rc = adjustment_lines(pg, store, m, lines, err, errsize);
	if (rc == 0)
		rc = host_cost_lines(pg, store, m, lines, &m->provisional, err, errsize);
	if (rc == 0)
		rc = energy_lines(pg, m, lines, err, errsize);
	free(sums);
	if (rc < 0)
		return -1;
	if (!m->money) {
		/* quantities only: the lines that are money alone go, the
		 * others keep their quantities and coverage */
		size_t w = 0;
		for (size_t i = 0; i < lines->n; i++) {
			struct dline *l = &lines->v[i];
			if (l->kind == VM_INVOICE_LINE_HOST_COST || l->kind == VM_INVOICE_LINE_MINIMUM ||
			    l->kind == VM_INVOICE_LINE_IDLE) {
				dline_release(l);
				continue;
			}
			l->rate = (vm_money){0};
			l->amount = (vm_money){0};
			lines->v[w++] = *l;
		}
		lines->n = w;
	}
	if (lines->n)
		qsort(lines->v, lines->n, sizeof *lines->v, line_cmp);
	*total = (vm_money){0};
	for (size_t i = 0; i < lines->n; i++)
		if (vm_money_add(*total, lines->v[i].amount, total) < 0) {
			snprintf(err, errsize, "the invoice's total is out of range");
			return -1;
		}
	return 0;
}

#define LINE_COLUMNS                                                                                                   \
	"kind, project, vm_id, vm_name, meter, qty, per, unit, rate, amount, plan, version_id, version, charge, "      \
	"minutes_billed, minutes_sampled, minutes_lost, note, covers_from, covers_to"
#define N_LINE_COLUMNS 20

/* A line as the text parameters of LINE_COLUMNS (NULL: SQL NULL), in
 * buf's storage. */
static void line_params(const struct dline *l, char buf[][24], const char **p)
{
	p[0] = vm_invoice_line_kind_name(l->kind);
	p[1] = l->project;
	p[2] = l->vm_id ? (snprintf(buf[0], 24, "%d", l->vm_id), buf[0]) : NULL;
	p[3] = l->vm_name;
	p[4] = l->meter;
	p[5] = (snprintf(buf[1], 24, "%lld", (long long)l->qty), buf[1]);
	p[6] = (snprintf(buf[2], 24, "%lld", (long long)l->per), buf[2]);
	p[7] = l->unit;
	p[8] = (snprintf(buf[3], 24, "%lld", (long long)l->rate.n), buf[3]);
	p[9] = (snprintf(buf[4], 24, "%lld", (long long)l->amount.n), buf[4]);
	p[10] = l->plan;
	p[11] = l->version_id ? (snprintf(buf[5], 24, "%d", l->version_id), buf[5]) : NULL;
	p[12] = l->version;
	p[13] = l->charge >= 0 ? (snprintf(buf[6], 24, "%d", l->charge), buf[6]) : NULL;
	p[14] = (snprintf(buf[7], 24, "%lld", (long long)l->minutes_billed), buf[7]);
	p[15] = (snprintf(buf[8], 24, "%lld", (long long)l->minutes_sampled), buf[8]);
	p[16] = (snprintf(buf[9], 24, "%lld", (long long)l->minutes_lost), buf[9]);
	p[17] = l->note;
	p[18] = l->covers_from;
	p[19] = l->covers_to;
}

static int store_lines(struct vm_pg *pg, int invoice_id, const struct dset *lines, char *err, size_t errsize)
{
	char idtext[16];
	snprintf(idtext, sizeof idtext, "%d", invoice_id);
	const char *p1[1] = {idtext};
	if (vm_pg_cmd(pg, "DELETE FROM bill_line WHERE invoice_id = $1", 1, p1) < 0)
		return vm_pg_fail(pg, "deleting the draft's lines", err, errsize);
	if (!lines->n)
		return 0;
	/* one COPY: a month's draft is thousands of lines */
	char *data = NULL;
	size_t len = 0;
	FILE *f = vm_xmemstream(&data, &len);
	for (size_t i = 0; i < lines->n; i++) {
		char buf[10][24];
		const char *p[N_LINE_COLUMNS];
		line_params(&lines->v[i], buf, p);
		fprintf(f, "%s\t%zu", idtext, i + 1);
		for (int k = 0; k < N_LINE_COLUMNS; k++) {
			fputc('\t', f);
			vm_pgx_copy_text(f, p[k]);
		}
		fputc('\n', f);
	}
	vm_xmemclose(f);
	int rc = vm_pg_copy_in(pg, "bill_line (invoice_id, line_no, " LINE_COLUMNS ")", data, len);
	free(data);
	if (rc < 0)
		return vm_pg_fail(pg, "storing the draft's lines", err, errsize);
	return 0;
}

/* Serialises drafting and finalising of one tenant's invoices, and holds
 * off the rater's writes meanwhile (SHARE: reads go on), so that every
 * statement of the transaction sees the same rated quantities, coverage
 * and rated days.  tenant_sql: SQL giving the tenant from $1. */
static int lock_tenant(struct vm_pg *pg, const char *tenant_sql, const char *param, char *err, size_t errsize)
{
	const char *p[1] = {param};
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(hashtext('vmeter-bill invoice ' || (%s)))", tenant_sql);
	if (vm_pg_cmd(pg, sql, 1, p) < 0 ||
	    vm_pg_cmd(pg, "LOCK TABLE bill_rated, bill_coverage, bill_day IN SHARE MODE", 0, NULL) < 0)
		return vm_pg_fail(pg, "locking the tenant's invoices", err, errsize);
	return 0;
}

int bill_draft_build(struct vm_pg *pg, struct bill_store *store, const char *tenant, const char *period,
                     struct bill_draft_info *info, char *err, size_t errsize)
{
	*info = (struct bill_draft_info){0};
	char month1[11];
	if (bill_period_parse(period, month1) < 0) {
		snprintf(err, errsize, "period '%s' is not a month YYYY-MM", period);
		return -1;
	}
	struct month m = {0};
	struct dset lines = {0};
	vm_money total;
	if (vm_pg_begin(pg) < 0) {
		vm_pg_fail(pg, "starting the draft", err, errsize);
		return -1;
	}
	int rc = lock_tenant(pg, "$1::text", tenant, err, errsize);
	if (rc == 0)
		rc = compute(pg, store, tenant, month1, &m, &lines, &total, err, errsize);
	PGresult *res = NULL;
	int id = 0;
	if (rc == 0) {
		const char *p[2] = {tenant, month1};
		res = vm_pg_exec(pg,
		                 "SELECT invoice_id, state, number, kind FROM bill_invoice WHERE tenant = $1 "
		                 "AND period = $2::date AND kind <> 'credit' FOR UPDATE",
		                 2, p);
		if (!res)
			rc = vm_pg_fail(pg, "reading the month's invoice", err, errsize);
	}
	if (rc == 0 && PQntuples(res) == 1) {
		id = atoi(PQgetvalue(res, 0, 0));
		if (strcmp(PQgetvalue(res, 0, 1), "final") == 0) {
			snprintf(err, errsize,
			         "the %s of '%s' for %s is final (id %d%s%s): what is rated for it now goes into a "
			         "later month's draft as adjustment lines",
			         PQgetvalue(res, 0, 3), tenant, period, id, PQgetisnull(res, 0, 2) ? "" : ", ",
			         PQgetvalue(res, 0, 2));
			rc = -1;
		}
	}
	PQclear(res);
	res = NULL;
	char totaltext[24];
	snprintf(totaltext, sizeof totaltext, "%lld", (long long)(rc == 0 ? total.n : 0));
	const char *kind = m.showback ? "statement" : "invoice";
	const char *rounding = vm_round_name(m.rounding), *money = m.money ? "true" : "false";
	if (rc == 0 && id == 0) {
		const char *p[9] = {kind, tenant, month1, m.from, m.to, m.currency->code, m.time_zone, rounding, money};
		res = vm_pg_exec(pg,
		                 "INSERT INTO bill_invoice (kind, tenant, period, period_from, period_to, currency, "
		                 "time_zone, rounding, money) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
		                 "RETURNING invoice_id",
		                 9, p);
		if (!res)
			rc = vm_pg_fail(pg, "making the draft", err, errsize);
		else
			id = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
	} else if (rc == 0) {
		char idtext[16];
		snprintf(idtext, sizeof idtext, "%d", id);
		const char *p[8] = {idtext, kind, m.from, m.to, m.currency->code, m.time_zone, rounding, money};
		if (vm_pg_cmd(pg,
		              "UPDATE bill_invoice SET kind = $2, period_from = $3, period_to = $4, currency = $5, "
		              "time_zone = $6, rounding = $7, money = $8 WHERE invoice_id = $1",
		              8, p) < 0)
			rc = vm_pg_fail(pg, "updating the draft", err, errsize);
	}
	if (rc == 0)
		rc = store_lines(pg, id, &lines, err, errsize);
	if (rc == 0) {
		char idtext[16];
		snprintf(idtext, sizeof idtext, "%d", id);
		const char *p[2] = {idtext, totaltext};
		if (vm_pg_cmd(pg, "UPDATE bill_invoice SET total = $2 WHERE invoice_id = $1", 2, p) < 0)
			rc = vm_pg_fail(pg, "updating the draft's total", err, errsize);
	}
	if (rc == 0 && vm_pg_commit(pg) < 0)
		rc = vm_pg_fail(pg, "storing the draft", err, errsize);
	if (rc < 0) {
		vm_pg_rollback(pg);
	} else {
		info->invoice_id = id;
		info->n_lines = lines.n;
		info->total = total;
		info->unrated = m.unrated;
		m.unrated = NULL;
	}
	dset_release(&lines);
	month_release(&m);
	return rc;
}

/* Whether the stored lines are the computed ones; if not, *why says
 * where they first differ. */
static int lines_current(struct vm_pg *pg, const char *idtext, const struct dset *lines, char *why, size_t whysize)
{
	const char *p1[1] = {idtext};
	PGresult *res =
	    vm_pg_exec(pg, "SELECT " LINE_COLUMNS " FROM bill_line WHERE invoice_id = $1 ORDER BY line_no", 1, p1);
	if (!res) {
		snprintf(why, whysize, "its lines cannot be read: %s", vm_pg_error(pg));
		return 0;
	}
	static const char *const names[N_LINE_COLUMNS] = {
	    "kind",        "project",  "vm_id",          "vm_name",         "meter",        "qty",
	    "per",         "unit",     "rate",           "amount",          "plan",         "version_id",
	    "version",     "charge",   "minutes_billed", "minutes_sampled", "minutes_lost", "note",
	    "covers_from", "covers_to"};
	int same = 1;
	if ((size_t)PQntuples(res) != lines->n) {
		snprintf(why, whysize, "it has %d lines, a rebuild makes %zu", PQntuples(res), lines->n);
		same = 0;
	}
	for (size_t i = 0; same && i < lines->n; i++) {
		char buf[10][24];
		const char *p[N_LINE_COLUMNS];
		line_params(&lines->v[i], buf, p);
		for (int c = 0; c < N_LINE_COLUMNS && same; c++) {
			bool null = PQgetisnull(res, (int)i, c);
			if (null != (p[c] == NULL) || (!null && strcmp(p[c], PQgetvalue(res, (int)i, c)) != 0)) {
				snprintf(why, whysize, "line %zu's %s is %s, a rebuild makes %s", i + 1, names[c],
				         null ? "(none)" : PQgetvalue(res, (int)i, c), p[c] ? p[c] : "(none)");
				same = 0;
			}
		}
	}
	PQclear(res);
	return same;
}

/* The invariants finalisation needs, each violation a line of f. */
/* Each pool host whose month the tenant has a part of: its parts and idle
 * rest add up to its cost (they do by construction, billing/pool.h; this
 * is the check that they still do, whatever changed since). */
static int check_host_cost(struct vm_pg *pg, struct bill_store *store, const struct month *m, FILE *f, char *err,
                           size_t errsize)
{
	struct bill_hostcost *h;
	size_t n;
	char label[8];
	snprintf(label, sizeof label, "%.7s", m->period);
	if (bill_hostcost_month(pg, store, label, &h, &n, err, errsize) < 0)
		return -1;
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		const struct bill_hostcost *x = &h[i];
		bool mine = false;
		vm_money sum = x->idle;
		for (size_t j = 0; j < x->n_parts; j++) {
			mine |= strcmp(x->parts[j].tenant, m->tenant) == 0;
			vm_money_add(sum, x->parts[j].amount, &sum);
		}
		if (mine && sum.n != x->cost.n) {
			char a[VM_MONEY_MAX_FORMAT], b[VM_MONEY_MAX_FORMAT];
			fprintf(f, "pool '%s' host %s: its parts and idle rest add up to %s, not its cost %s\n",
			        x->pool->name, x->hostname, vm_money_format_exact(sum, x->pool->currency->digits, a),
			        vm_money_format_exact(x->cost, x->pool->currency->digits, b));
			bad++;
		}
	}
	bill_hostcost_free(h, n);
	return bad;
}

static int check_invariants(struct vm_pg *pg, struct bill_store *store, const char *idtext, const struct month *m,
                            const struct dset *lines, FILE *f, char *err, size_t errsize)
{
	int bad = 0;
	if (m->unrated) {
		fprintf(f, "days not rated through their end (%s): %s\n", m->time_zone, m->unrated);
		bad++;
	}
	if (m->provisional) {
		fprintf(f, "shared host cost is provisional: %s is not rated through the month's end\n",
		        m->provisional);
		bad++;
	}
	const char *p[5] = {m->tenant, m->period, m->end, m->from, m->to};
	PGresult *res = vm_pg_exec(
	    pg,
	    "WITH v AS (SELECT vm_id FROM bill_coverage WHERE tenant = $1 AND day >= $2::date AND day < $3::date "
	    "UNION SELECT vm_id FROM bill_rated WHERE tenant = $1 AND day >= $2::date AND day < $3::date), "
	    "h AS (SELECT u.vm_id, u.hour AS t FROM vm_usage_hour u JOIN v USING (vm_id) "
	    "WHERE u.hour > $4::timestamptz - interval '1 hour' AND u.hour < $5::timestamptz GROUP BY 1, 2 "
	    "HAVING sum(u.coverage_ms) > 3600000 OR bool_or(u.coverage_ms > u.minutes::bigint * 60000)), "
	    "mi AS (SELECT u.vm_id, u.minute AS t FROM vm_usage_minute u JOIN v USING (vm_id) "
	    "WHERE u.minute >= $4::timestamptz AND u.minute < $5::timestamptz GROUP BY 1, 2 "
	    "HAVING sum(u.coverage_ms) > 60000) "
	    "SELECT x.what, x.n, x.first, vm.uuid, (SELECT name FROM vm_inventory i WHERE i.vm_id = x.vm_id "
	    "ORDER BY valid_from DESC LIMIT 1) FROM (SELECT 'hour' AS what, vm_id, count(*) AS n, min(t) AS first "
	    "FROM h GROUP BY vm_id UNION ALL SELECT 'minute', vm_id, count(*), min(t) FROM mi GROUP BY vm_id) x "
	    "JOIN vm USING (vm_id) ORDER BY 1, 4",
	    5, p);
	if (!res)
		return vm_pg_fail(pg, "checking coverage", err, errsize);
	for (int i = 0; i < PQntuples(res); i++, bad++) {
		bool hour = strcmp(PQgetvalue(res, i, 0), "hour") == 0;
		fprintf(f, "VM '%s' (%s): %s %s%s with more than 60 s of samples%s (first %s)\n", PQgetvalue(res, i, 4),
		        PQgetvalue(res, i, 3), PQgetvalue(res, i, 1), PQgetvalue(res, i, 0),
		        strcmp(PQgetvalue(res, i, 1), "1") == 0 ? "" : "s", hour ? " per minute" : "",
		        PQgetvalue(res, i, 2));
	}
	PQclear(res);
	res =
	    vm_pg_exec(pg,
	               "SELECT vm.uuid, (SELECT name FROM vm_inventory i WHERE i.vm_id = c.vm_id "
	               "ORDER BY valid_from DESC LIMIT 1), c.project, sum(c.minutes_after_gone), "
	               "min(c.day) FILTER (WHERE c.minutes_after_gone > 0) FROM bill_coverage c JOIN vm USING (vm_id) "
	               "WHERE c.tenant = $1 AND c.day >= $2::date AND c.day < $3::date "
	               "GROUP BY vm.uuid, c.vm_id, c.project HAVING sum(c.minutes_after_gone) <> 0 ORDER BY 2, 1",
	               3, p);
	if (!res)
		return vm_pg_fail(pg, "checking usage after VMs were gone", err, errsize);
	for (int i = 0; i < PQntuples(res); i++, bad++)
		fprintf(f,
		        "VM '%s' (%s) project '%s': %s minutes of usage after it was undefined (first on %s): fix its "
		        "lifecycle and re-rate\n",
		        PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		        PQgetvalue(res, i, 4));
	PQclear(res);
	const char *q[4] = {idtext, m->tenant, m->period, m->end};
	res = vm_pg_exec(pg,
	                 "WITH l AS (SELECT version_id, charge, sum(qty) AS q FROM bill_line WHERE invoice_id = $1 "
	                 "AND kind = 'usage' GROUP BY 1, 2), r AS (SELECT version_id, charge, sum(qty) AS q "
	                 "FROM bill_rated WHERE tenant = $2 AND day >= $3::date AND day < $4::date GROUP BY 1, 2) "
	                 "SELECT version_id, charge, coalesce(l.q, 0), coalesce(r.q, 0) FROM l FULL JOIN r "
	                 "USING (version_id, charge) WHERE coalesce(l.q, 0) <> coalesce(r.q, 0) ORDER BY 1, 2",
	                 4, q);
	if (!res)
		return vm_pg_fail(pg, "comparing the lines with the rated quantities", err, errsize);
	for (int i = 0; i < PQntuples(res); i++, bad++)
		fprintf(f, "plan version id %s charge %s: the usage lines hold %s, %s is rated\n",
		        PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
	PQclear(res);
	/* lifecycle intervals of the tenant's VMs that overlap: a minute
	 * counted in two states */
	res = vm_pg_exec(
	    pg,
	    "WITH v AS (SELECT DISTINCT vm_id FROM bill_coverage WHERE tenant = $1 AND day >= $2::date "
	    "AND day < $3::date), s AS (SELECT l.vm_id, l.span_from, l.span_to, lag(l.span_to) OVER "
	    "(PARTITION BY l.vm_id ORDER BY l.span_from, l.span_to) AS prev_to FROM "
	    "vm_lifecycle_between($4::timestamptz, $5::timestamptz) l JOIN v USING (vm_id)) "
	    "SELECT vm.uuid, count(*), min(span_from) FROM s JOIN vm USING (vm_id) WHERE prev_to > span_from "
	    "GROUP BY vm.uuid ORDER BY 1",
	    5, p);
	if (!res)
		return vm_pg_fail(pg, "checking lifecycle intervals", err, errsize);
	for (int i = 0; i < PQntuples(res); i++, bad++)
		fprintf(f, "VM %s: %s lifecycle intervals overlap the one before (first at %s)\n",
		        PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
	PQclear(res);
	int hc = check_host_cost(pg, store, m, f, err, errsize);
	if (hc < 0)
		return -1;
	bad += hc;
	const char *e[4] = {m->time_zone, m->period, m->end, m->tenant};
	res = vm_pg_exec(pg,
	                 "SELECT h.day, (SELECT hostname FROM host WHERE host_id = h.host_id), h.energy_uj, "
	                 "coalesce(s.e, 0), h.carbon_ug, coalesce(s.c, 0) FROM bill_energy_host h LEFT JOIN "
	                 "(SELECT day, host_id, sum(energy_uj) AS e, sum(carbon_ug) AS c FROM bill_energy_share "
	                 "WHERE time_zone = $1 AND day >= $2::date AND day < $3::date GROUP BY 1, 2) s "
	                 "USING (day, host_id) WHERE h.time_zone = $1 AND h.day >= $2::date AND h.day < $3::date "
	                 "AND (h.energy_uj <> coalesce(s.e, 0) OR h.carbon_ug <> coalesce(s.c, 0)) "
	                 "AND h.host_id IN (SELECT host_id FROM bill_energy_share WHERE tenant = $4 AND time_zone = $1 "
	                 "AND day >= $2::date AND day < $3::date) ORDER BY 1, 2",
	                 4, e);
	if (!res)
		return vm_pg_fail(pg, "checking that energy is conserved", err, errsize);
	for (int i = 0; i < PQntuples(res); i++, bad++)
		fprintf(f,
		        "host %s on %s: its parts hold %s µJ and %s µg CO2e of its %s µJ and %s µg: re-rate the day\n",
		        PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), PQgetvalue(res, i, 3), PQgetvalue(res, i, 5),
		        PQgetvalue(res, i, 2), PQgetvalue(res, i, 4));
	PQclear(res);
	char why[512];
	if (!lines_current(pg, idtext, lines, why, sizeof why)) {
		fprintf(f,
		        "the draft is out of date (%s): rebuild it (vmeter-bill invoice draft --tenant '%s' --period "
		        "%.7s)\n",
		        why, m->tenant, m->period);
		bad++;
	}
	return bad;
}

/* The next number of issuer's counter (its row made if missing), in the
 * caller's transaction: a rollback gives it back. */
static int next_number(struct vm_pg *pg, const char *issuer, char **number, char *err, size_t errsize)
{
	const char *p[1] = {issuer};
	if (vm_pg_cmd(pg, "INSERT INTO bill_counter (issuer) VALUES ($1) ON CONFLICT DO NOTHING", 1, p) < 0)
		return vm_pg_fail(pg, "making the issuer's counter", err, errsize);
	PGresult *res = vm_pg_exec(
	    pg, "UPDATE bill_counter SET next = next + 1 WHERE issuer = $1 RETURNING prefix || (next - 1)::text", 1, p);
	if (!res)
		return vm_pg_fail(pg, "numbering the invoice", err, errsize);
	*number = vm_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

int bill_draft_finalise(struct vm_pg *pg, struct bill_store *store, int invoice_id, const char *issuer, char **number,
                        char *err, size_t errsize)
{
	*number = NULL;
	if (!issuer)
		issuer = "default";
	char idtext[16];
	snprintf(idtext, sizeof idtext, "%d", invoice_id);
	/* Locked first: each statement after it reads what the rater and
	 * other drafts have committed, and no one changes it until commit,
	 * so what is checked is what is recorded. */
	if (vm_pg_begin(pg) < 0)
		return vm_pg_fail(pg, "starting the finalisation", err, errsize);
	if (lock_tenant(pg, "SELECT tenant FROM bill_invoice WHERE invoice_id = $1::int", idtext, err, errsize) < 0) {
		vm_pg_rollback(pg);
		return -1;
	}
	const char *p1[1] = {idtext};
	PGresult *res = vm_pg_exec(pg,
	                           "SELECT tenant, to_char(period, 'YYYY-MM'), state, kind, number FROM bill_invoice "
	                           "WHERE invoice_id = $1 FOR UPDATE",
	                           1, p1);
	if (!res) {
		vm_pg_fail(pg, "reading the invoice", err, errsize);
		vm_pg_rollback(pg);
		return -1;
	}
	int rc = 0;
	if (PQntuples(res) != 1) {
		snprintf(err, errsize, "invoice %d does not exist", invoice_id);
		rc = -1;
	} else if (strcmp(PQgetvalue(res, 0, 2), "final") == 0) {
		snprintf(err, errsize, "%s %d is already final%s%s", PQgetvalue(res, 0, 3), invoice_id,
		         PQgetisnull(res, 0, 4) ? "" : ": ", PQgetvalue(res, 0, 4));
		rc = -1;
	}
	char *tenant = rc == 0 ? vm_xstrdup(PQgetvalue(res, 0, 0)) : NULL;
	char month1[11] = "";
	if (rc == 0)
		bill_period_parse(PQgetvalue(res, 0, 1), month1);
	bool statement = rc == 0 && strcmp(PQgetvalue(res, 0, 3), "statement") == 0;
	PQclear(res);
	struct month m = {0};
	struct dset lines = {0};
	vm_money total;
	if (rc == 0)
		rc = compute(pg, store, tenant, month1, &m, &lines, &total, err, errsize);
	if (rc == 0) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = vm_xmemstream(&buf, &len);
		int bad = check_invariants(pg, store, idtext, &m, &lines, f, err, errsize);
		vm_xmemclose(f);
		if (bad > 0) {
			if (len && buf[len - 1] == '\n')
				buf[len - 1] = 0;
			snprintf(err, errsize, "invoice %d cannot be finalised:\n%s", invoice_id, buf);
		}
		free(buf);
		if (bad != 0)
			rc = -1;
	}
	if (rc == 0 && !statement)
		rc = next_number(pg, issuer, number, err, errsize);
	if (rc == 0) {
		/* what this invoice charged per day: its month's rated rows and
		 * the dues of earlier months its adjustment lines bill */
		const char *pe[4] = {tenant, m.period, m.end, idtext};
		const char *pd[3] = {tenant, m.period, idtext};
		if (vm_pg_cmd(pg,
		              "INSERT INTO bill_invoiced (invoice_id, tenant, day, vm_id, project, version_id, charge, "
		              "meter, qty) SELECT $4::int, tenant, day, vm_id, project, version_id, charge, meter, qty "
		              "FROM bill_rated WHERE tenant = $1 AND day >= $2::date AND day < $3::date",
		              4, pe) < 0 ||
		    vm_pg_cmd(pg,
		              "INSERT INTO bill_invoiced (invoice_id, tenant, day, vm_id, project, version_id, charge, "
		              "meter, qty) SELECT $3::int, $1, day, vm_id, project, version_id, charge, meter, due "
		              "FROM (" DUES_SQL "SELECT * FROM dues) d",
		              3, pd) < 0)
			rc = vm_pg_fail(pg, "recording what the invoice charged", err, errsize);
	}
	if (rc == 0) {
		const char *p[3] = {idtext, *number, issuer};
		if (vm_pg_cmd(pg,
		              "UPDATE bill_invoice SET state = 'final', finalised_at = now(), number = $2, "
		              "issuer = CASE WHEN $2::text IS NULL THEN issuer ELSE $3 END WHERE invoice_id = $1",
		              3, p) < 0)
			rc = vm_pg_fail(pg, "finalising the invoice", err, errsize);
	}
	if (rc == 0 && vm_pg_commit(pg) < 0)
		rc = vm_pg_fail(pg, "finalising the invoice", err, errsize);
	if (rc < 0) {
		vm_pg_rollback(pg);
		free(*number);
		*number = NULL;
	}
	free(tenant);
	dset_release(&lines);
	month_release(&m);
	return rc;
}

int bill_draft_credit(struct vm_pg *pg, int invoice_id, const char *reason, int line_no, int *credit_id, char **number,
                      char *err, size_t errsize)
{
	*number = NULL;
	*credit_id = 0;
	if (!reason || !*reason) {
		snprintf(err, errsize, "a credit note needs a reason (--reason TEXT)");
		return -1;
	}
	char idtext[16], linetext[16];
	snprintf(idtext, sizeof idtext, "%d", invoice_id);
	snprintf(linetext, sizeof linetext, "%d", line_no);
	if (vm_pg_begin(pg) < 0) {
		vm_pg_fail(pg, "starting the credit note", err, errsize);
		return -1;
	}
	const char *p1[1] = {idtext};
	PGresult *res =
	    vm_pg_exec(pg,
	               "SELECT state, kind, issuer, coalesce(number, '') FROM bill_invoice WHERE invoice_id = $1 "
	               "FOR UPDATE",
	               1, p1);
	int rc = 0;
	if (!res) {
		rc = vm_pg_fail(pg, "reading the invoice", err, errsize);
	} else if (PQntuples(res) != 1) {
		snprintf(err, errsize, "invoice %d does not exist", invoice_id);
		rc = -1;
	} else if (strcmp(PQgetvalue(res, 0, 1), "invoice") != 0) {
		bool credit = strcmp(PQgetvalue(res, 0, 1), "credit") == 0;
		snprintf(err, errsize, "%s %d cannot be credited: only an invoice can",
		         credit ? "credit note" : "statement", invoice_id);
		rc = -1;
	} else if (strcmp(PQgetvalue(res, 0, 0), "final") != 0) {
		snprintf(err, errsize, "invoice %d is a draft: rebuild it instead of crediting it", invoice_id);
		rc = -1;
	}
	char *issuer = rc == 0 ? vm_xstrdup(PQgetvalue(res, 0, 2)) : NULL;
	char *orig = rc == 0 ? vm_xstrdup(PQgetvalue(res, 0, 3)) : NULL;
	PQclear(res);
	const char *p2[2] = {idtext, linetext};
	if (rc == 0) {
		/* each line is credited once */
		res = vm_pg_exec(
		    pg,
		    "SELECT l.line_no, (SELECT c.number FROM bill_line x JOIN bill_invoice c USING (invoice_id) "
		    "WHERE c.credits = $1::int AND x.credited_line = l.line_no LIMIT 1) "
		    "FROM bill_line l WHERE l.invoice_id = $1::int AND ($2::int = 0 OR l.line_no = $2::int) "
		    "ORDER BY 1",
		    2, p2);
		if (!res) {
			rc = vm_pg_fail(pg, "reading the invoice's lines", err, errsize);
		} else if (PQntuples(res) == 0) {
			if (line_no)
				snprintf(err, errsize, "invoice %s has no line %d", orig, line_no);
			else
				snprintf(err, errsize, "invoice %s has no lines", orig);
			rc = -1;
		} else {
			int open = 0;
			for (int i = 0; i < PQntuples(res); i++)
				open += PQgetisnull(res, i, 1);
			if (open == 0) {
				if (line_no)
					snprintf(err, errsize, "line %d of invoice %s is already credited by %s",
					         line_no, orig, PQgetvalue(res, 0, 1));
				else
					snprintf(err, errsize, "every line of invoice %s is already credited", orig);
				rc = -1;
			}
		}
		PQclear(res);
	}
	char newid[16] = "";
	if (rc == 0) {
		const char *p[3] = {idtext, reason, issuer};
		res = vm_pg_exec(
		    pg,
		    "INSERT INTO bill_invoice (kind, tenant, period, period_from, period_to, currency, time_zone, "
		    "rounding, issuer, credits, reason) SELECT 'credit', tenant, period, period_from, period_to, "
		    "currency, time_zone, rounding, $3, invoice_id, $2 FROM bill_invoice WHERE invoice_id = $1 "
		    "RETURNING invoice_id",
		    3, p);
		if (!res)
			rc = vm_pg_fail(pg, "making the credit note", err, errsize);
		else
			snprintf(newid, sizeof newid, "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	if (rc == 0) {
		/* the note names the line and the reason: every export shows them */
		const char *p[5] = {newid, idtext, linetext, orig, reason};
		if (vm_pg_cmd(
		        pg,
		        "INSERT INTO bill_line (invoice_id, line_no, " LINE_COLUMNS
		        ", credited_line) SELECT $1::int, row_number() OVER (ORDER BY l.line_no), 'credit', "
		        "project, vm_id, vm_name, meter, -qty, per, unit, rate, -amount, plan, version_id, version, "
		        "charge, minutes_billed, minutes_sampled, minutes_lost, "
		        "'credits ' || $4 || ' line ' || l.line_no || ' (' || kind || '): ' || $5, covers_from, "
		        "covers_to, l.line_no FROM bill_line l WHERE l.invoice_id = $2::int "
		        "AND ($3::int = 0 OR l.line_no = $3::int) AND NOT EXISTS (SELECT 1 FROM bill_line x "
		        "JOIN bill_invoice c USING (invoice_id) WHERE c.credits = $2::int "
		        "AND x.credited_line = l.line_no)",
		        5, p) < 0)
			rc = vm_pg_fail(pg, "storing the credit note's lines", err, errsize);
	}
	if (rc == 0)
		rc = next_number(pg, issuer, number, err, errsize);
	if (rc == 0) {
		const char *p[2] = {newid, *number};
		if (vm_pg_cmd(pg,
		              "UPDATE bill_invoice SET total = (SELECT coalesce(sum(amount), 0) FROM bill_line "
		              "WHERE invoice_id = $1::int), state = 'final', finalised_at = now(), number = $2 "
		              "WHERE invoice_id = $1::int",
		              2, p) < 0)
			rc = vm_pg_fail(pg, "finalising the credit note", err, errsize);
	}
	if (rc == 0 && vm_pg_commit(pg) < 0)
		rc = vm_pg_fail(pg, "issuing the credit note", err, errsize);
	if (rc < 0) {
		vm_pg_rollback(pg);
		free(*number);
		*number = NULL;
	} else {
		*credit_id = atoi(newid);
	}
	free(issuer);
	free(orig);
	return rc;
}
