/* What a VM costs a month, for the capacity report's reclaimable
 * capacity: the sum of the VM's lines on the latest finalised invoice (or
 * showback statement) of its tenant, else on the tenant's latest draft
 * (bill_invoice, bill_line).  Integer money only (lib/money.h): this file
 * is built with the FPU forbidden (tests/integration/nofloat.sh), so the
 * capacity report, which fits curves in doubles, gets its amounts as text
 * and nano-units from here.  Blocking (lib/pg.h). */
#ifndef REP_CAPACITY_COST_H
#define REP_CAPACITY_COST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "money.h"
#include "pg.h"

struct rep_cap_costs;

/* Reads every tenant's latest document and its per-VM sums.  Returns a
 * new table (free with rep_cap_costs_free()) or NULL with why in err. */
struct rep_cap_costs *rep_cap_costs_load(struct vm_pg *pg, char *err, size_t errsize);
void rep_cap_costs_free(struct rep_cap_costs *c);

/* The month's amount of VM vm_id on its tenant's document: true and
 * *amount, with the currency code, the document ("INV-2", or "draft 7"),
 * its month (YYYY-MM) and whether it is final (borrowed, valid until the
 * table is freed); false if the VM has no line on such a document. */
bool rep_cap_cost_of(const struct rep_cap_costs *c, int vm_id, vm_money *amount, const char **currency,
                     const char **document, const char **month, bool *final);

/* amount in currency's minor unit ("12.30"; half-up), into buf of
 * VM_MONEY_MAX_FORMAT bytes; an unknown code gets 2 decimals.  Returns
 * buf. */
char *rep_cap_money_text(vm_money amount, const char *currency, char *buf);

/* Sums per currency: a running total a report adds VMs' amounts to.  At
 * most REP_CAP_MAX_CURRENCIES currencies (more are left out: true is
 * returned while there was room).  Overflow is an error (-1). */
#define REP_CAP_MAX_CURRENCIES 8
struct rep_cap_money_sum {
	char currency[REP_CAP_MAX_CURRENCIES][4];
	vm_money total[REP_CAP_MAX_CURRENCIES];
	size_t n;
};
int rep_cap_money_sum_add(struct rep_cap_money_sum *s, const char *currency, vm_money amount);

#endif
