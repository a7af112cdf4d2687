/* A month of shared host cost, closed: see hostcost.h. */
#include "config.h"

#include "hostcost.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgx.h"
#include "pool.h"
#include "xalloc.h"

void bill_hostcost_free(struct bill_hostcost *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < h[i].n_parts; j++) {
			free(h[i].parts[j].tenant);
			free(h[i].parts[j].project);
		}
		free(h[i].parts);
		free(h[i].hostname);
	}
	free(h);
}

static int one_pool(struct vm_pg *pg, const struct bill_catalog *c, const struct bill_pool_def *pool, const char *month,
                    struct bill_hostcost **out, size_t *n, size_t *cap, char *err, size_t errsize)
{
	const char *p[3] = {pool->name, month, pool->time_zone};
	/* the month's bounds in the pool's zone; its hosts: those with shares,
	 * and those seen in the month whose name the pool takes (below) */
	PGresult *r = vm_pg_exec(
	    pg,
	    "WITH m AS (SELECT ($2 || '-01')::date AS d), "
	    "b AS (SELECT m.d, (m.d::timestamp AT TIME ZONE $3) AS t0, "
	    "((m.d + interval '1 month')::timestamp AT TIME ZONE $3) AS t1 FROM m) "
	    "SELECT h.host_id, h.hostname, b.d - DATE '1970-01-01', "
	    "(SELECT bool_and(coalesce((SELECT upto FROM bill_day x WHERE x.time_zone = $3 AND x.day = g::date), "
	    "'-infinity') >= least(b.t1, ((g + interval '1 day')::timestamp AT TIME ZONE $3))) "
	    "FROM generate_series(b.d, (b.d + interval '1 month' - interval '1 day'), interval '1 day') g), "
	    "s.vm_id, s.tenant, s.project, s.share "
	    "FROM b CROSS JOIN host h LEFT JOIN (SELECT host_id, vm_id, tenant, project, sum(share)::bigint AS share "
	    "FROM bill_pool_share, b WHERE pool = $1 AND day >= b.d AND day < b.d + interval '1 month' "
	    "GROUP BY 1, 2, 3, 4) s ON s.host_id = h.host_id "
	    "WHERE s.host_id IS NOT NULL OR (h.first_seen < b.t1 AND h.last_seen >= b.t0) "
	    "ORDER BY h.host_id, s.vm_id, s.tenant, s.project",
	    3, p);
	if (!r) {
		snprintf(err, errsize, "pool '%s' month %s: %s", pool->name, month, vm_pg_error(pg));
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0;) {
		int host = atoi(PQgetvalue(r, i, 0));
		int i1 = i;
		while (i1 < PQntuples(r) && atoi(PQgetvalue(r, i1, 0)) == host)
			i1++;
		const char *hostname = PQgetvalue(r, i, 1);
		bool shares = !PQgetisnull(r, i, 4);
		/* a host with no shares belongs here only if the pool takes it:
		 * its whole month is idle */
		if (!shares && bill_catalog_pool_of(c, hostname) != pool) {
			i = i1;
			continue;
		}
		*out = vm_xgrow(*out, cap, *n + 1, sizeof **out);
		struct bill_hostcost *h = memset(&(*out)[(*n)++], 0, sizeof **out);
		h->pool = pool;
		h->host_id = host;
		h->hostname = vm_xstrdup(hostname);
		h->cost = bill_pool_month_cost(pool, vm_pgx_int(r, i, 2));
		h->complete = PQgetvalue(r, i, 3)[0] == 't';
		struct bill_pool_part *parts = vm_xmalloc((size_t)(i1 - i) * sizeof *parts);
		size_t np = 0;
		for (int k = i; k < i1 && shares; k++) {
			h->parts = vm_xrealloc(h->parts, (h->n_parts + 1) * sizeof *h->parts);
			h->parts[h->n_parts++] = (struct bill_hostcost_part){atoi(PQgetvalue(r, k, 4)),
			                                                     vm_xstrdup(PQgetvalue(r, k, 5)),
			                                                     vm_xstrdup(PQgetvalue(r, k, 6)),
			                                                     {0},
			                                                     vm_pgx_int(r, k, 7)};
			parts[np] = (struct bill_pool_part){(int64_t)np, {h->parts[np].exact}};
			np++;
		}
		if (bill_pool_round(h->cost, vm_currency_minor(pool->currency), pool->spread_idle, parts, np,
		                    &h->idle) < 0) {
			snprintf(err, errsize, "pool '%s' host %s month %s: the shares exceed the month's cost",
			         pool->name, hostname, month);
			rc = -1;
		}
		for (size_t k = 0; rc == 0 && k < np; k++)
			h->parts[k].amount = parts[k].amount;
		free(parts);
		i = i1;
	}
	PQclear(r);
	return rc;
}

int bill_hostcost_month(struct vm_pg *pg, const struct bill_store *s, const char *month, struct bill_hostcost **out,
                        size_t *n, char *err, size_t errsize)
{
	*out = NULL;
	*n = 0;
	int y, m;
	char tail;
	if (strlen(month) != 7 || sscanf(month, "%4d-%2d%c", &y, &m, &tail) != 2 || m < 1 || m > 12 || y < 1970) {
		snprintf(err, errsize, "month: '%s' is not YYYY-MM", month);
		return -1;
	}
	const struct bill_catalog *c = bill_store_catalog(s);
	size_t np, cap = 0;
	const struct bill_pool_def *pools = bill_catalog_pools(c, &np);
	for (size_t i = 0; i < np; i++)
		if (one_pool(pg, c, &pools[i], month, out, n, &cap, err, errsize) < 0) {
			bill_hostcost_free(*out, *n);
			*out = NULL;
			*n = 0;
			return -1;
		}
	return 0;
}
