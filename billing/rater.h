/* Rating: closed minutes turned into the quantities the plans' charges
 * price (schema 7's bill_rated), per tenant-local day, with each day's
 * coverage (bill_coverage).  docs/BILLING.md, "Rating", says what counts.
 *
 * A local day of a time zone is rated for every tenant in that zone at
 * once (tenants no plan file names are rated in UTC, unpriced), through
 * the rollups' closed horizon; rating it again replaces its rows in one
 * transaction, so a day rated twice is counted once.  Money is not
 * computed here: the invoice prices a month's sums (billing/draft). */
#ifndef BILL_RATER_H
#define BILL_RATER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pg.h"
#include "store.h"

struct bill_rate_stats {
	int days;         /* local days rated */
	int64_t rows;     /* bill_rated rows written */
	int64_t vm_days;  /* (VM, owner, day) coverage rows written */
	int64_t unpriced; /* minutes that existed under no plan */
	int64_t dirty;    /* dirty hours taken */
};

/* Rates local day `day` (YYYY-MM-DD) of time zone tz, through the closed
 * horizon.  With diff non-NULL, writes nothing and prints to diff how the
 * day's quantities would change (per tenant, VM, meter and version);
 * returns the number of changed keys there.  Returns >= 0, or -1 with
 * err. */
int bill_rate_day(struct vm_pg *pg, struct bill_store *s, const char *tz, const char *day, FILE *diff,
                  struct bill_rate_stats *st, char *err, size_t errsize);

/* Rates what is due: in each zone of the loaded tenants and pools (and
 * UTC), every local day the closed horizon has moved into or past since it
 * was rated, and every day holding an hour marked dirty (late rows, late lifecycle
 * events or inventory).  Returns 0, or -1 with err (what was rated before
 * the failure stays rated). */
int bill_rate_due(struct vm_pg *pg, struct bill_store *s, struct bill_rate_stats *st, char *err, size_t errsize);

/* The zones rating runs in: the loaded tenants', the pools' and UTC, each
 * once, in an array the caller frees (the strings point into the store's
 * catalog or a literal). */
const char **bill_rate_zones(const struct bill_store *s, size_t *n);

#endif
