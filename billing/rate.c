/* billing/rate: a charge applied to a quantity (rate.h). */
#include "config.h"

#include "rate.h"

int bill_amount(const struct bill_charge *ch, int64_t qty, int64_t unit, enum vm_round r, vm_money *out)
{
	if (qty < 0)
		return -1;
	switch (ch->model) {
	case BILL_PER_UNIT: return vm_money_rate(qty, ch->price, ch->per, unit, r, out);
	case BILL_PACKAGE: {
		int64_t packages = qty / ch->per + (qty % ch->per != 0);
		return vm_money_rate(packages, ch->price, 1, unit, r, out);
	}
	case BILL_VOLUME:
		for (size_t i = 0; i < ch->n_tiers; i++)
			if (qty <= ch->tiers[i].upto)
				return vm_money_rate(qty, ch->tiers[i].price, ch->per, unit, r, out);
		return -1; /* the last tier has no limit: not reached */
	case BILL_GRADUATED: {
		int64_t part[BILL_MAX_TIERS];
		vm_money price[BILL_MAX_TIERS];
		size_t n = 0;
		int64_t below = 0; /* the previous tier's up-to */
		for (size_t i = 0; i < ch->n_tiers && below < qty && n < BILL_MAX_TIERS; i++) {
			int64_t top = ch->tiers[i].upto < qty ? ch->tiers[i].upto : qty;
			part[n] = top - below;
			price[n++] = ch->tiers[i].price;
			below = top;
		}
		if (below < qty)
			return -1; /* more tiers than plan.c lets through */
		return vm_money_rate_sum(part, price, n, ch->per, unit, r, out);
	}
	}
	return -1;
}
