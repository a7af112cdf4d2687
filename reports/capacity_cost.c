/* reports/capacity_cost: a VM's month from its tenant's latest document
 * (capacity_cost.h).  Integers only. */
#include "config.h"

#include "capacity_cost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgx.h"
#include "xalloc.h"

struct cost {
	int vm_id;
	vm_money amount;
	int row; /* in res: the document's columns */
};

struct rep_cap_costs {
	PGresult *res;
	struct cost *v; /* by vm_id */
	size_t n;
};

static int cost_cmp(const void *a, const void *b)
{
	const struct cost *x = a, *y = b;
	return (x->vm_id > y->vm_id) - (x->vm_id < y->vm_id);
}

struct rep_cap_costs *rep_cap_costs_load(struct vm_pg *pg, char *err, size_t errsize)
{
	/* Per tenant the latest final document, else the latest draft; the
	 * VM's lines on it.  A VM on two tenants' documents (it moved) keeps
	 * the larger document id: the later one. */
	PGresult *res = vm_pg_exec(
	    pg,
	    "WITH doc AS (SELECT DISTINCT ON (tenant) invoice_id, tenant, number, state, period, currency "
	    "FROM bill_invoice WHERE kind IN ('invoice', 'statement') "
	    "ORDER BY tenant, (state = 'final') DESC, period DESC, invoice_id DESC) "
	    "SELECT l.vm_id, sum(l.amount)::bigint, d.currency, coalesce(d.number, 'draft ' || d.invoice_id), "
	    "to_char(d.period, 'YYYY-MM'), d.state = 'final', d.invoice_id "
	    "FROM doc d JOIN bill_line l ON l.invoice_id = d.invoice_id WHERE l.vm_id IS NOT NULL "
	    "GROUP BY l.vm_id, d.invoice_id, d.currency, d.number, d.period, d.state ORDER BY l.vm_id, d.invoice_id",
	    0, NULL);
	if (!res) {
		vm_pg_fail(pg, "cannot read the invoices' lines", err, errsize);
		return NULL;
	}
	struct rep_cap_costs *c = vm_xcalloc(1, sizeof *c);
	c->res = res;
	size_t n = (size_t)PQntuples(res);
	c->v = vm_xcalloc(n ? n : 1, sizeof *c->v);
	for (size_t i = 0; i < n; i++) {
		int r = (int)i, id = (int)vm_pgx_int(res, r, 0);
		if (c->n && c->v[c->n - 1].vm_id == id)
			c->n--; /* ordered by document: the later one wins */
		c->v[c->n++] = (struct cost){id, {vm_pgx_int(res, r, 1)}, r};
	}
	qsort(c->v, c->n, sizeof *c->v, cost_cmp);
	return c;
}

void rep_cap_costs_free(struct rep_cap_costs *c)
{
	if (!c)
		return;
	PQclear(c->res);
	free(c->v);
	free(c);
}

bool rep_cap_cost_of(const struct rep_cap_costs *c, int vm_id, vm_money *amount, const char **currency,
                     const char **document, const char **month, bool *final)
{
	if (!c)
		return false;
	struct cost key = {.vm_id = vm_id};
	const struct cost *x = bsearch(&key, c->v, c->n, sizeof *c->v, cost_cmp);
	if (!x)
		return false;
	*amount = x->amount;
	*currency = PQgetvalue(c->res, x->row, 2);
	*document = PQgetvalue(c->res, x->row, 3);
	*month = PQgetvalue(c->res, x->row, 4);
	*final = strcmp(PQgetvalue(c->res, x->row, 5), "t") == 0;
	return true;
}

char *rep_cap_money_text(vm_money amount, const char *currency, char *buf)
{
	const struct vm_currency *cur = vm_currency_find(currency);
	return vm_money_format(amount, cur ? cur->digits : 2, VM_ROUND_HALF_UP, buf);
}

int rep_cap_money_sum_add(struct rep_cap_money_sum *s, const char *currency, vm_money amount)
{
	size_t i = 0;
	while (i < s->n && strcmp(s->currency[i], currency) != 0)
		i++;
	if (i == s->n) {
		if (s->n == REP_CAP_MAX_CURRENCIES)
			return 0;
		snprintf(s->currency[i], sizeof s->currency[i], "%.3s", currency);
		s->total[i] = (vm_money){0};
		s->n++;
	}
	return vm_money_add(s->total[i], amount, &s->total[i]);
}
