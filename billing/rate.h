/* A charge applied to a quantity: the money of one invoice line (or of
 * a tenant's total of a tiered meter, split among its VMs afterwards). */
#ifndef BILL_RATE_H
#define BILL_RATE_H

#include <stdint.h>

#include "money.h"
#include "plan.h"

/* The amount of `qty` base units (>= 0) under charge `ch`, computed
 * exactly and rounded once with rule r to a multiple of `unit` (the
 * currency's minor unit; 1: the precise amount):
 *   per-unit    qty x price / per
 *   graduated   each tier's share of qty at that tier's price / per;
 *               a tier covers (previous up-to, its up-to]
 *   volume      qty x (price of the first tier whose up-to >= qty) / per
 *   package     ceil(qty / per) x price
 * Returns 0, or -1 for a negative quantity or an amount beyond vm_money. */
int bill_amount(const struct bill_charge *ch, int64_t qty, int64_t unit, enum vm_round r, vm_money *out);

#endif
