/* A month of shared host cost, closed: each pool host's exact shares
 * (bill_pool_share, written by the rater a day at a time) rounded once to
 * the currency's minor unit with the idle rest, so that the parts and the
 * idle cost add up to the host's cost exactly (billing/pool.h). */
#ifndef BILL_HOSTCOST_H
#define BILL_HOSTCOST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "money.h"
#include "pg.h"
#include "store.h"

struct bill_hostcost_part {
	int vm_id;
	char *tenant, *project;
	vm_money amount; /* rounded; with spread idle, its part of idle too */
	int64_t exact;   /* the shares' sum, nano-units */
};

struct bill_hostcost {
	const struct bill_pool_def *pool; /* of the store's catalog */
	int host_id;
	char *hostname;
	vm_money cost; /* the host's month: the pool's costs in force */
	vm_money idle; /* what no VM took (0 when spread) */
	bool complete; /* every day of the month rated through its end */
	struct bill_hostcost_part *parts;
	size_t n_parts;
};

/* Every pool host's month `month` ("YYYY-MM", cut in each pool's zone):
 * hosts with shares that month, and hosts of the pool seen in it.
 * *out (caller frees with bill_hostcost_free) in pool, host order.
 * Returns 0, or -1 with err. */
int bill_hostcost_month(struct vm_pg *pg, const struct bill_store *s, const char *month, struct bill_hostcost **out,
                        size_t *n, char *err, size_t errsize);
void bill_hostcost_free(struct bill_hostcost *h, size_t n);

#endif
