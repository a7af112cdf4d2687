/* Invoices from rated quantities (docs/BILLING.md, "Invoices"): a
 * tenant's month drafted from bill_rated, finalised with a gapless number
 * once every invariant holds, and corrected only by credit notes.
 * Blocking (lib/pg.h); each call is one transaction.
 *
 * A draft is rebuilt whole at will: its lines are deleted and made again
 * from what is rated now.  Amounts: per plan version and charge, the
 * tenant's month total through bill_amount() (so tiers see the tenant's
 * month), rounded once to the currency's minor unit with the plan's rule,
 * then split among the (project, VM) quantities with vm_money_split, so
 * the lines add up to it exactly.  Usage of days of earlier months whose
 * invoice is final, rated since, becomes adjustment lines (bill_invoiced
 * holds what each final invoice charged per day). */
#ifndef BILL_DRAFT_H
#define BILL_DRAFT_H

#include <stddef.h>

#include "money.h"
#include "pg.h"
#include "store.h"

struct bill_draft_info {
	int invoice_id;
	size_t n_lines;
	vm_money total;
	char *unrated; /* "2026-10-30..2026-10-31, 2026-10-05": days of the month
	                  not rated through their end; NULL if none.  The caller
	                  frees it. */
};

/* Builds (or rebuilds) the draft of `tenant` (a loaded tenant) for
 * `period` ("YYYY-MM", the month in the tenant's time zone): an invoice,
 * or a statement for a showback tenant.  store: the loaded plans (its
 * cache of versions grows).  Returns 0 with *info filled, or -1 with the
 * reason in err: an unknown tenant, a bad period, a month whose invoice is
 * final, the database's message. */
int bill_draft_build(struct vm_pg *pg, struct bill_store *store, const char *tenant, const char *period,
                     struct bill_draft_info *info, char *err, size_t errsize);

/* Finalises draft `invoice_id`: checks, in one transaction, that every
 * day of its month is rated through its end, that no minute of its VMs
 * holds more than 60 s of samples, that no usage came after a VM was
 * gone, that its lines hold exactly the rated quantities and that it is
 * up to date (what a rebuild would make now); then numbers it from
 * `issuer`'s counter (NULL: "default"; the row is made if missing) unless
 * it is a statement, and records what it charged in bill_invoiced.
 * Returns 0 with the number in *number (caller frees; NULL for a
 * statement), or -1 with every violation found in err (one per line), or
 * why it could not run.  Building and finalising take the tenant's
 * advisory lock and SHARE locks on bill_rated, bill_coverage and bill_day
 * (the rater waits meanwhile): the role needs a write privilege on them. */
int bill_draft_finalise(struct vm_pg *pg, struct bill_store *store, int invoice_id, const char *issuer, char **number,
                        char *err, size_t errsize);

/* Issues a credit note for final invoice `invoice_id`: a final invoice of
 * kind 'credit', numbered from the same issuer's counter, whose lines
 * negate line `line_no` of it (0: every line), with `reason` (required).
 * A line is credited once.  Returns 0 with the new id in *credit_id and
 * its number in *number (caller frees), or -1 with the reason in err. */
int bill_draft_credit(struct vm_pg *pg, int invoice_id, const char *reason, int line_no, int *credit_id, char **number,
                      char *err, size_t errsize);

/* "2026-10" -> "2026-10-01" in out (11 bytes); -1 unless the text is a
 * month YYYY-MM (year 1970..9999). */
int bill_period_parse(const char *text, char *out);

#endif
