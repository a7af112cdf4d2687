/* reports/chargeback: a tenant's month read back from its finalised
 * invoice and summed up (chargeback.h).  Integers only: every figure is a
 * sum of the document's lines. */
#include "config.h"

#include "chargeback.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pgx.h"
#include "xalloc.h"

enum { RES_DOC, RES_LINES, RES_PREV, RES_PREV_LINES, RES_GAPS, RES_CREDITS, RES_ZONE };

int rep_cb_month_parse(const char *text, char *out)
{
	if (!text || strlen(text) != 7 || text[4] != '-')
		return -1;
	for (int i = 0; i < 7; i++)
		if (i != 4 && (text[i] < '0' || text[i] > '9'))
			return -1;
	int y = atoi(text), m = atoi(text + 5);
	if (y < 1970 || m < 1 || m > 12)
		return -1;
	snprintf(out, 11, "%.7s-01", text);
	return 0;
}

static const char *text_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int strcmp_null(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

void rep_cb_free(struct rep_cb *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < sizeof r->res / sizeof *r->res; i++)
		PQclear(r->res[i]);
	for (size_t i = 0; i < r->n_meters; i++)
		free(r->meters[i].label);
	free(r->lines);
	free(r->projects);
	free(r->meters);
	free(r->vms);
	free(r->hosts);
	free(r->gaps);
	free(r->credits);
	free(r);
}

/* The lines of a document (invoice_id p[0], tenant p[1], month p[2]),
 * with each host-cost line's exact shares of its host. */
static PGresult *read_lines(struct vm_pg *pg, const char *const *p)
{
	return vm_pg_exec(
	    pg,
	    "SELECT l.kind, l.project, vm.uuid, l.vm_name, l.meter, l.unit, l.note, l.plan, l.qty, l.per, l.amount, "
	    "l.minutes_billed, l.minutes_sampled, l.minutes_lost, "
	    "CASE WHEN l.kind = 'host-cost' THEN coalesce((SELECT sum(s.share) FROM bill_pool_share s "
	    "JOIN host h ON h.host_id = s.host_id WHERE s.pool = l.plan AND l.meter = 'host ' || h.hostname "
	    "AND s.vm_id = l.vm_id AND s.tenant = $2 AND s.project = l.project AND s.day >= $3::date "
	    "AND s.day < ($3::date + interval '1 month')::date), 0) ELSE 0 END::bigint "
	    "FROM bill_line l LEFT JOIN vm ON vm.vm_id = l.vm_id WHERE l.invoice_id = $1 ORDER BY l.line_no",
	    3, p);
}

static struct rep_cb_line *parse_lines(const PGresult *res, size_t *n)
{
	*n = (size_t)PQntuples(res);
	struct rep_cb_line *v = vm_xcalloc(*n ? *n : 1, sizeof *v);
	for (size_t i = 0; i < *n; i++) {
		int r = (int)i;
		struct rep_cb_line *l = &v[i];
		l->kind = PQgetvalue(res, r, 0);
		l->project = text_or_null(res, r, 1);
		l->vm_uuid = text_or_null(res, r, 2);
		l->vm_name = text_or_null(res, r, 3);
		l->meter = text_or_null(res, r, 4);
		l->unit = text_or_null(res, r, 5);
		l->note = text_or_null(res, r, 6);
		l->plan = text_or_null(res, r, 7);
		l->qty = vm_pgx_int(res, r, 8);
		l->per = vm_pgx_int(res, r, 9);
		l->amount.n = vm_pgx_int(res, r, 10);
		l->minutes_billed = vm_pgx_int(res, r, 11);
		l->minutes_sampled = vm_pgx_int(res, r, 12);
		l->minutes_lost = vm_pgx_int(res, r, 13);
		l->pool_share = vm_pgx_int(res, r, 14);
	}
	return v;
}

/* ---------------------------------------------------------------- grouping */

/* Lines ordered by a key; qsort's comparator sees only the pairs. */
struct keyed {
	char *key;
	size_t i;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

static void keyed_free(struct keyed *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(k[i].key);
	free(k);
}

static bool is(const struct rep_cb_line *l, const char *kind)
{
	return strcmp(l->kind, kind) == 0;
}

/* "N minutes without samples": the minutes a usage line's note counts. */
static int64_t note_missing(const char *note)
{
	long long n;
	char tail[32];
	if (note && sscanf(note, "%lld minutes without sample%31s", &n, tail) == 2 && strcmp(tail, "s") == 0)
		return n;
	return 0;
}

static int add_money(vm_money *sum, vm_money v)
{
	return vm_money_add(*sum, v, sum);
}

/* VMs (project, uuid) over every line naming one. */
static int group_vms(const struct rep_cb_line *lines, size_t n, struct rep_cb_vm **out, size_t *nout)
{
	struct keyed *k = vm_xcalloc(n ? n : 1, sizeof *k);
	size_t nk = 0;
	for (size_t i = 0; i < n; i++)
		if (lines[i].vm_uuid)
			k[nk++] = (struct keyed){
			    vm_xasprintf("%s%c%s", lines[i].project ? lines[i].project : "", '\x1f', lines[i].vm_uuid),
			    i};
	qsort(k, nk, sizeof *k, keyed_cmp);
	struct rep_cb_vm *v = vm_xcalloc(nk ? nk : 1, sizeof *v);
	size_t nv = 0;
	int rc = 0;
	for (size_t a = 0; a < nk;) {
		size_t b = a;
		while (b < nk && strcmp(k[b].key, k[a].key) == 0)
			b++;
		struct rep_cb_vm *x = &v[nv++];
		const struct rep_cb_line *first = &lines[k[a].i];
		x->project = first->project ? first->project : "";
		x->uuid = first->vm_uuid;
		x->name = first->vm_name ? first->vm_name : first->vm_uuid;
		const struct rep_cb_line *cov = NULL;
		for (size_t j = a; j < b; j++) {
			const struct rep_cb_line *l = &lines[k[j].i];
			if (add_money(&x->amount, l->amount) < 0)
				rc = -1;
			if (is(l, "usage") && (!cov || l->minutes_billed > cov->minutes_billed))
				cov = l;
			if (is(l, "energy") && strcmp_null(l->meter, "energy") == 0) {
				x->energy_j += l->qty;
				x->energy_note = l->note;
			} else if (is(l, "energy") && strcmp_null(l->meter, "carbon") == 0) {
				x->carbon_mg += l->qty;
				x->carbon = true;
			}
			if (l->vm_name && (!x->name || x->name == x->uuid))
				x->name = l->vm_name;
		}
		if (cov) {
			x->minutes_billed = cov->minutes_billed;
			x->minutes_sampled = cov->minutes_sampled;
			x->minutes_lost = cov->minutes_lost;
			x->minutes_missing = note_missing(cov->note);
		}
		a = b;
	}
	keyed_free(k, nk);
	*out = v;
	*nout = nv;
	return rc;
}

/* Projects: the lines' amounts; VM-minutes, energy and carbon from vms. */
static int group_projects(const struct rep_cb_line *lines, size_t n, const struct rep_cb_vm *vms, size_t nv,
                          struct rep_cb_project **out, size_t *nout)
{
	struct keyed *k = vm_xcalloc(n ? n : 1, sizeof *k);
	for (size_t i = 0; i < n; i++)
		k[i] = (struct keyed){vm_xstrdup(lines[i].project ? lines[i].project : ""), i};
	qsort(k, n, sizeof *k, keyed_cmp);
	struct rep_cb_project *p = vm_xcalloc(n ? n : 1, sizeof *p);
	size_t np = 0;
	int rc = 0;
	for (size_t a = 0; a < n;) {
		size_t b = a;
		while (b < n && strcmp(k[b].key, k[a].key) == 0)
			b++;
		struct rep_cb_project *x = &p[np++];
		x->project = lines[k[a].i].project ? lines[k[a].i].project : "";
		for (size_t j = a; j < b; j++)
			if (add_money(&x->amount, lines[k[j].i].amount) < 0)
				rc = -1;
		for (size_t j = 0; j < nv; j++)
			if (strcmp(vms[j].project, x->project) == 0) {
				x->vm_minutes += vms[j].minutes_billed;
				x->energy_j += vms[j].energy_j;
				x->carbon_mg += vms[j].carbon_mg;
				x->n_vms++;
			}
		a = b;
	}
	keyed_free(k, n);
	*out = p;
	*nout = np;
	return rc;
}

/* The meter a line counts under in "totals by meter"; NULL: none
 * (energy lines have their own section). */
static char *meter_label(const struct rep_cb_line *l)
{
	if (is(l, "usage"))
		return vm_xstrdup(l->meter ? l->meter : "");
	if (is(l, "energy"))
		return NULL;
	if (is(l, "host-cost"))
		return vm_xstrdup("shared host cost");
	if (is(l, "adjustment") || is(l, "credit"))
		return l->meter ? vm_xasprintf("%s %s", l->kind, l->meter) : vm_xstrdup(l->kind);
	return vm_xstrdup(l->kind); /* minimum, idle */
}

static int group_meters(struct rep_cb *r)
{
	struct keyed *k = vm_xcalloc(r->n_lines ? r->n_lines : 1, sizeof *k);
	size_t nk = 0;
	for (size_t i = 0; i < r->n_lines; i++) {
		char *label = meter_label(&r->lines[i]);
		if (label)
			k[nk++] = (struct keyed){label, i};
	}
	qsort(k, nk, sizeof *k, keyed_cmp);
	r->meters = vm_xcalloc(nk ? nk : 1, sizeof *r->meters);
	int rc = 0;
	for (size_t a = 0; a < nk;) {
		size_t b = a;
		while (b < nk && strcmp(k[b].key, k[a].key) == 0)
			b++;
		struct rep_cb_meter *m = &r->meters[r->n_meters++];
		const struct rep_cb_line *first = &r->lines[k[a].i];
		m->label = vm_xstrdup(k[a].key);
		m->unit = first->unit;
		m->per = first->per;
		for (size_t j = a; j < b; j++) {
			const struct rep_cb_line *l = &r->lines[k[j].i];
			if (add_money(&m->amount, l->amount) < 0)
				rc = -1;
			m->n_lines++;
			if (!m->unit || strcmp_null(l->unit, m->unit) != 0 || l->per != m->per ||
			    __builtin_add_overflow(m->qty, l->qty, &m->qty))
				m->unit = NULL; /* no one unit: no quantity */
		}
		if (!m->unit)
			m->qty = 0;
		a = b;
	}
	keyed_free(k, nk);
	return rc;
}

static int vm_rank(const void *pa, const void *pb, bool money)
{
	const struct rep_cb_vm *a = pa, *b = pb;
	if (money && a->amount.n != b->amount.n)
		return a->amount.n > b->amount.n ? -1 : 1;
	if (a->minutes_billed != b->minutes_billed)
		return a->minutes_billed > b->minutes_billed ? -1 : 1;
	if (a->energy_j != b->energy_j)
		return a->energy_j > b->energy_j ? -1 : 1;
	int c = strcmp_null(a->name, b->name);
	if (!c)
		c = strcmp_null(a->project, b->project);
	return c ? c : strcmp_null(a->uuid, b->uuid);
}

static int vm_rank_money(const void *a, const void *b)
{
	return vm_rank(a, b, true);
}

static int vm_rank_quantity(const void *a, const void *b)
{
	return vm_rank(a, b, false);
}

static int shared_cost(struct rep_cb *r)
{
	int64_t unit = vm_currency_minor(r->currency);
	r->hosts = vm_xcalloc(r->n_lines ? r->n_lines : 1, sizeof *r->hosts);
	for (size_t i = 0; i < r->n_lines; i++) {
		const struct rep_cb_line *l = &r->lines[i];
		if (!is(l, "host-cost"))
			continue;
		struct rep_cb_host *h = &r->hosts[r->n_hosts++];
		h->pool = l->plan ? l->plan : "";
		h->host = l->meter && strncmp(l->meter, "host ", 5) == 0 ? l->meter + 5 : (l->meter ? l->meter : "");
		h->project = l->project ? l->project : "";
		h->vm_name = l->vm_name ? l->vm_name : (l->vm_uuid ? l->vm_uuid : "");
		h->amount = l->amount;
		/* what the line holds beyond the VM's own shares is the idle
		 * cost spread over the VMs; with idle on the operator's line
		 * it is less than a minor unit either way and rounds to 0 */
		vm_money over, idle = {0};
		if (vm_money_sub(l->amount, (vm_money){l->pool_share}, &over) < 0 ||
		    vm_money_round(over, unit, VM_ROUND_DOWN, &idle) < 0)
			return -1;
		if (idle.n < 0 || l->amount.n < 0)
			idle.n = 0;
		if (idle.n > l->amount.n)
			idle = l->amount;
		h->idle = idle;
		h->used.n = l->amount.n - idle.n;
		if (add_money(&r->host_cost, h->amount) < 0 || add_money(&r->host_idle, h->idle) < 0)
			return -1;
	}
	return 0;
}

static int summarise(struct rep_cb *r, const struct rep_cb_line *prev, size_t n_prev)
{
	if (group_vms(r->lines, r->n_lines, &r->vms, &r->n_vms) < 0 ||
	    group_projects(r->lines, r->n_lines, r->vms, r->n_vms, &r->projects, &r->n_projects) < 0 ||
	    group_meters(r) < 0 || shared_cost(r) < 0)
		return -1;
	for (size_t i = 0; i < r->n_vms; i++) {
		const struct rep_cb_vm *v = &r->vms[i];
		r->energy_j += v->energy_j;
		r->carbon_mg += v->carbon_mg;
		r->carbon = r->carbon || v->carbon;
		r->minutes_billed += v->minutes_billed;
		r->minutes_sampled += v->minutes_sampled;
		r->minutes_lost += v->minutes_lost;
		r->minutes_missing += v->minutes_missing;
	}
	if (r->has_prev) {
		struct rep_cb_vm *pv;
		struct rep_cb_project *pp;
		size_t npv, npp;
		int rc = group_vms(prev, n_prev, &pv, &npv);
		if (rc == 0)
			rc = group_projects(prev, n_prev, pv, npv, &pp, &npp);
		else
			pp = NULL, npp = 0;
		/* the previous month's projects beside this month's; those it
		 * had alone get a row of their own */
		r->projects = vm_xrealloc(r->projects, (r->n_projects + npp + 1) * sizeof *r->projects);
		for (size_t j = 0; rc == 0 && j < npp; j++) {
			r->prev_vm_minutes += pp[j].vm_minutes;
			size_t i = 0;
			while (i < r->n_projects && strcmp(r->projects[i].project, pp[j].project) != 0)
				i++;
			if (i == r->n_projects) {
				r->projects[r->n_projects++] = (struct rep_cb_project){.project = pp[j].project};
			}
			r->projects[i].prev_amount = pp[j].amount;
			r->projects[i].prev_vm_minutes = pp[j].vm_minutes;
		}
		free(pv);
		free(pp);
		if (rc < 0)
			return -1;
	}
	/* projects by name, the whole tenant's lines ("") last */
	for (size_t i = 1; i < r->n_projects; i++)
		for (size_t j = i; j > 0; j--) {
			struct rep_cb_project *a = &r->projects[j - 1], *b = &r->projects[j];
			bool swap = (!a->project[0] && b->project[0]) ||
			            (a->project[0] && b->project[0] && strcmp(a->project, b->project) > 0);
			if (!swap)
				break;
			struct rep_cb_project t = *a;
			*a = *b;
			*b = t;
		}
	qsort(r->vms, r->n_vms, sizeof *r->vms, r->money ? vm_rank_money : vm_rank_quantity);
	return 0;
}

/* ---------------------------------------------------------------- loading */

static int fail(struct vm_pg *pg, const char *what, char *err, size_t errsize)
{
	snprintf(err, errsize, "%s: %s", what, vm_pg_error(pg));
	return -REP_CB_DB;
}

static int load(struct vm_pg *pg, struct rep_cb *r, const char *tenant, const char *month, const char *month1,
                bool draft, struct rep_cb_line **prev, size_t *n_prev, char *err, size_t errsize)
{
	/* The zone: the month's document's, else the tenant's as loaded,
	 * else that of its latest document.  Timestamps print in it. */
	const char *p3[3] = {tenant, month1, NULL};
	PGresult *z = r->res[RES_ZONE] =
	    vm_pg_exec(pg,
	               "SELECT z, set_config('TimeZone', z, true) FROM (SELECT coalesce("
	               "(SELECT time_zone FROM bill_invoice WHERE tenant = $1 AND period = $2 AND kind <> 'credit'), "
	               "(SELECT time_zone FROM bill_tenant WHERE tenant = $1), "
	               "(SELECT time_zone FROM bill_invoice WHERE tenant = $1 ORDER BY period DESC LIMIT 1)) AS z) t "
	               "WHERE z IS NOT NULL",
	               2, p3);
	if (!z)
		return fail(pg, "reading the tenant", err, errsize);
	if (PQntuples(z) != 1) {
		snprintf(err, errsize,
		         "tenant '%s' is unknown: no loaded plan file names it and it has no invoice (vmeter-bill "
		         "plans load, invoice list)",
		         tenant);
		return -REP_CB_TENANT;
	}
	r->time_zone = PQgetvalue(z, 0, 0);
	const char *p2[2] = {month1, r->time_zone};
	PGresult *w = vm_pg_exec(pg,
	                         "SELECT now() < ($1::date)::timestamp AT TIME ZONE $2, "
	                         "now() < (($1::date + interval '1 month')::date)::timestamp AT TIME ZONE $2, "
	                         "to_char((($1::date + interval '1 month')::date)::timestamp AT TIME ZONE $2, "
	                         "'YYYY-MM-DD\"T\"HH24:MIOF')",
	                         2, p2);
	if (!w)
		return fail(pg, "cutting the month", err, errsize);
	bool future = PQgetvalue(w, 0, 0)[0] == 't', open = PQgetvalue(w, 0, 1)[0] == 't';
	if (future || (open && !draft)) {
		if (future)
			snprintf(err, errsize, "month %s is in the future (in %s, the time zone of tenant '%s')", month,
			         r->time_zone, tenant);
		else
			snprintf(err, errsize,
			         "month %s has not ended yet in %s (it ends %s): its invoice cannot be final", month,
			         r->time_zone, PQgetvalue(w, 0, 2));
		PQclear(w);
		return -REP_CB_NOT_OVER;
	}
	PQclear(w);

	PGresult *d = r->res[RES_DOC] = vm_pg_exec(
	    pg,
	    "SELECT invoice_id, kind, state, number, to_char(period, 'YYYY-MM'), "
	    "to_char(period_from, 'YYYY-MM-DD\"T\"HH24:MIOF'), to_char(period_to, 'YYYY-MM-DD\"T\"HH24:MIOF'), "
	    "currency, rounding, total, money, to_char(finalised_at, 'YYYY-MM-DD HH24:MI:SSOF'), tenant "
	    "FROM bill_invoice WHERE tenant = $1 AND period = $2 AND kind <> 'credit'",
	    2, p3);
	if (!d)
		return fail(pg, "reading the invoice", err, errsize);
	if (PQntuples(d) != 1) {
		snprintf(err, errsize,
		         "tenant '%s' has no invoice or statement for %s: draft and finalise it first (vmeter-bill "
		         "invoice draft --tenant %s --period %s)",
		         tenant, month, tenant, month);
		return -REP_CB_NOT_FINAL;
	}
	r->draft = strcmp(PQgetvalue(d, 0, 2), "final") != 0;
	if (r->draft && !draft) {
		snprintf(err, errsize,
		         "the %s of '%s' for %s (id %s) is a draft: the report reads finalised documents only "
		         "(vmeter-bill invoice finalise %s)",
		         PQgetvalue(d, 0, 1), tenant, month, PQgetvalue(d, 0, 0), PQgetvalue(d, 0, 0));
		return -REP_CB_NOT_FINAL;
	}
	r->invoice_id = (int)vm_pgx_int(d, 0, 0);
	r->kind = PQgetvalue(d, 0, 1);
	r->number = text_or_null(d, 0, 3);
	r->period = PQgetvalue(d, 0, 4);
	r->from = PQgetvalue(d, 0, 5);
	r->to = PQgetvalue(d, 0, 6);
	r->currency = vm_currency_find(PQgetvalue(d, 0, 7));
	r->money = PQgetvalue(d, 0, 10)[0] == 't';
	r->finalised_at = text_or_null(d, 0, 11);
	r->tenant = PQgetvalue(d, 0, 12);
	if (!r->currency || vm_round_parse(PQgetvalue(d, 0, 8), &r->rounding) < 0) {
		snprintf(err, errsize, "invoice %d: a currency or rounding rule this program does not know",
		         r->invoice_id);
		return -REP_CB_DB;
	}

	const char *pl[3] = {PQgetvalue(d, 0, 0), tenant, month1};
	PGresult *l = r->res[RES_LINES] = read_lines(pg, pl);
	if (!l)
		return fail(pg, "reading the invoice's lines", err, errsize);
	r->lines = parse_lines(l, &r->n_lines);
	vm_money total = {0};
	for (size_t i = 0; i < r->n_lines; i++)
		if (add_money(&total, r->lines[i].amount) < 0) {
			snprintf(err, errsize, "invoice %d: its total is out of range", r->invoice_id);
			return -REP_CB_DB;
		}
	if (total.n != vm_pgx_int(d, 0, 9)) {
		snprintf(err, errsize, "invoice %d: its lines add up to %" PRId64 " nano-units, its total says %s",
		         r->invoice_id, total.n, PQgetvalue(d, 0, 9));
		return -REP_CB_DB;
	}
	r->total = total;

	PGresult *pv = r->res[RES_PREV] =
	    vm_pg_exec(pg,
	               "SELECT invoice_id, number, total, money, to_char(period, 'YYYY-MM-DD') FROM bill_invoice "
	               "WHERE tenant = $1 AND period = ($2::date - interval '1 month')::date AND kind <> 'credit' "
	               "AND state = 'final'",
	               2, p3);
	if (!pv)
		return fail(pg, "reading the previous month's invoice", err, errsize);
	if (PQntuples(pv) == 1) {
		r->has_prev = true;
		r->prev_number = text_or_null(pv, 0, 1);
		r->prev_total.n = vm_pgx_int(pv, 0, 2);
		const char *pp[3] = {PQgetvalue(pv, 0, 0), tenant, PQgetvalue(pv, 0, 4)};
		PGresult *x = r->res[RES_PREV_LINES] = read_lines(pg, pp);
		if (!x)
			return fail(pg, "reading the previous month's lines", err, errsize);
		*prev = parse_lines(x, n_prev);
		if (PQgetvalue(pv, 0, 3)[0] != 't') /* it had no money: compare quantities only */
			for (size_t i = 0; i < *n_prev; i++)
				(*prev)[i].amount.n = 0;
	}

	PGresult *g = r->res[RES_GAPS] =
	    vm_pg_exec(pg,
	               "SELECT to_char(c.day, 'YYYY-MM-DD'), c.project, coalesce((SELECT name FROM vm_inventory i "
	               "WHERE i.vm_id = c.vm_id ORDER BY valid_from DESC LIMIT 1), vm.uuid::text), c.minutes_running, "
	               "c.minutes_sampled, greatest(c.minutes_running - c.minutes_sampled, 0), c.lost_ms / 1000 "
	               "FROM bill_coverage c JOIN vm ON vm.vm_id = c.vm_id WHERE c.tenant = $1 AND c.day >= $2::date "
	               "AND c.day < ($2::date + interval '1 month')::date "
	               "AND (c.minutes_sampled < c.minutes_running OR c.lost_ms > 0) ORDER BY 1, 2, 3",
	               2, p3);
	if (!g)
		return fail(pg, "reading the month's coverage", err, errsize);
	r->n_gaps = (size_t)PQntuples(g);
	r->gaps = vm_xcalloc(r->n_gaps ? r->n_gaps : 1, sizeof *r->gaps);
	for (size_t i = 0; i < r->n_gaps; i++)
		r->gaps[i] =
		    (struct rep_cb_gap){PQgetvalue(g, (int)i, 0), PQgetvalue(g, (int)i, 1), PQgetvalue(g, (int)i, 2),
		                        vm_pgx_int(g, (int)i, 3), vm_pgx_int(g, (int)i, 4), vm_pgx_int(g, (int)i, 5),
		                        vm_pgx_int(g, (int)i, 6)};

	const char *pc[1] = {PQgetvalue(d, 0, 0)};
	PGresult *c = r->res[RES_CREDITS] = vm_pg_exec(
	    pg,
	    "SELECT number, reason, total FROM bill_invoice WHERE credits = $1 AND state = 'final' ORDER BY invoice_id",
	    1, pc);
	if (!c)
		return fail(pg, "reading the credit notes", err, errsize);
	r->n_credits = (size_t)PQntuples(c);
	r->credits = vm_xcalloc(r->n_credits ? r->n_credits : 1, sizeof *r->credits);
	for (size_t i = 0; i < r->n_credits; i++)
		r->credits[i] = (struct rep_cb_credit){
		    PQgetvalue(c, (int)i, 0), PQgetvalue(c, (int)i, 1), {vm_pgx_int(c, (int)i, 2)}};
	return 0;
}

int rep_cb_load(struct vm_pg *pg, const char *tenant, const char *month, bool draft, struct rep_cb **out, char *err,
                size_t errsize)
{
	*out = NULL;
	char month1[11];
	if (rep_cb_month_parse(month, month1) < 0) {
		snprintf(err, errsize, "month '%s' is not a month YYYY-MM", month ? month : "");
		return -REP_CB_NOT_OVER;
	}
	struct rep_cb *r = vm_xcalloc(1, sizeof *r);
	struct rep_cb_line *prev = NULL;
	size_t n_prev = 0;
	/* one snapshot for the document, the month before and the detail */
	int rc = vm_pg_begin(pg) < 0 ||
	                 vm_pg_cmd(pg, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL) < 0
	             ? fail(pg, "starting a read", err, errsize)
	             : load(pg, r, tenant, month, month1, draft, &prev, &n_prev, err, errsize);
	vm_pg_rollback(pg); /* read only: nothing to keep */
	if (rc == 0 && summarise(r, prev, n_prev) < 0) {
		snprintf(err, errsize, "invoice %d: a sum is out of range", r->invoice_id);
		rc = -REP_CB_DB;
	}
	free(prev);
	if (rc < 0) {
		rep_cb_free(r);
		return rc;
	}
	*out = r;
	return 0;
}
