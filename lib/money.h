/* Exact money: one integer type for every amount vmeter rates, allocates
 * or invoices, and the arithmetic on it, all overflow-checked.  No
 * floating point here or in anything that handles money (a `make check`
 * step builds billing code with the FPU registers forbidden).
 *
 * A vm_money counts nano-units: 10^-9 of a currency's major unit (a euro,
 * a yen), whatever its minor unit.  That one scale holds the precise
 * amounts (a rate of 0.000000012 EUR per MiB-minute, a line before it is
 * rounded) and the rounded ones (an invoice line in cents is a multiple
 * of 10^7); int64 bounds it at +-9.2 billion major units, which is an
 * error, never a wrap.  Kill Bill keeps rates at the same scale (MAX_SCALE
 * 9); docs/BILLING.md says where rounding happens.
 *
 * Functions that can overflow return 0, or -1 and leave *out alone. */
#ifndef VM_MONEY_H
#define VM_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_MONEY_SCALE 9                 /* decimal digits below the major unit */
#define VM_MONEY_ONE INT64_C(1000000000) /* one major unit */
#define VM_MONEY_MAX_FORMAT 32           /* "-9223372036.854775808" and a NUL, with room */

typedef struct {
	int64_t n; /* nano-units of the major unit */
} vm_money;

/* An ISO 4217 currency: its code and the digits of its minor unit (EUR 2,
 * JPY 0, KWD 3, CLF 4). */
struct vm_currency {
	char code[4];
	int digits;
};

/* The currency with ISO 4217 code `code` (three capitals), or NULL for a
 * code that is not an active ISO 4217 currency.  Static storage. */
const struct vm_currency *vm_currency_find(const char *code);

/* The size of one minor unit in nano-units (EUR: 10^7). */
int64_t vm_currency_minor(const struct vm_currency *c);

/* Rounding rules by name.  One of them, configured, is applied once per
 * invoice line; never per minute. */
enum vm_round {
	VM_ROUND_HALF_UP,   /* "half-up": halves away from zero (Kill Bill's HALF_UP) */
	VM_ROUND_HALF_EVEN, /* "half-even": halves to the even neighbour (banker's) */
	VM_ROUND_DOWN,      /* "down": toward zero (truncate) */
	VM_ROUND_UP,        /* "up": away from zero */
	VM_ROUND_FLOOR,     /* "floor": toward minus infinity */
	VM_ROUND_CEILING,   /* "ceiling": toward plus infinity */
};

/* "half-up" etc.; NULL for a value outside the enum. */
const char *vm_round_name(enum vm_round r);
/* Parses a rule's name; -1 if it names none. */
int vm_round_parse(const char *name, enum vm_round *out);

/* Parses a decimal amount in major units: an optional '-', digits, and an
 * optional '.' with 1 to 9 digits ("12", "0.05", "-3.000000012").  Nothing
 * else: no '+', no exponent, no spaces, no thousands separators, no
 * leading '.'.  Returns 0, or -1 with what was wrong in err. */
int vm_money_parse(const char *s, vm_money *out, char *err, size_t errsize);

/* The amount in major units with `digits` decimals (0..9), rounded with
 * rule r ("12.35" for EUR): the form printed on an invoice.  buf holds at
 * least VM_MONEY_MAX_FORMAT bytes.  Returns buf. */
char *vm_money_format(vm_money m, int digits, enum vm_round r, char *buf);
/* The exact amount, with as many decimals as it needs (at least `digits`):
 * "0.000000012", "12.50" for digits 2. */
char *vm_money_format_exact(vm_money m, int digits, char *buf);

int vm_money_add(vm_money a, vm_money b, vm_money *out);
int vm_money_sub(vm_money a, vm_money b, vm_money *out);
/* a x k, for an integer k (a quantity in whole units). */
int vm_money_mul(vm_money a, int64_t k, vm_money *out);

/* Rounds m to a multiple of `unit` nano-units (vm_currency_minor(): to the
 * currency's minor unit) with rule r.  unit > 0. */
int vm_money_round(vm_money m, int64_t unit, enum vm_round r, vm_money *out);

/* The amount of a quantity at a price: qty x price / per, computed
 * exactly and rounded once, with rule r, to a multiple of `unit`
 * nano-units (1: the precise amount to the nano-unit; the minor unit: an
 * invoice line).  `per` is how many quantity units the price is for: a
 * price per GiB applied to bytes has per 2^30; per > 0, unit > 0. */
int vm_money_rate(int64_t qty, vm_money price, int64_t per, int64_t unit, enum vm_round r, vm_money *out);

/* The same for a sum: (qty[0] x price[0] + ... ) / per, exact, rounded
 * once (a graduated charge's tiers).  qty[i] >= 0; n <= 64. */
int vm_money_rate_sum(const int64_t *qty, const vm_money *price, size_t n, int64_t per, int64_t unit, enum vm_round r,
                      vm_money *out);

/* Splits `total` into n parts in proportion to weights[i] (>= 0, not all
 * zero), each part a multiple of `unit`, so that the parts add up to total
 * exactly (total must be a multiple of unit).  Largest remainder: every
 * part gets the floor of its share in units, and the units left over go
 * one each to the largest fractional shares, ties to the lower index;
 * a negative total is split as its opposite and negated.  Returns 0, or -1
 * for bad arguments (no weight, a negative weight, total not a multiple
 * of unit).  The same inputs always give the same parts. */
int vm_money_split(vm_money total, const int64_t *weights, size_t n, int64_t unit, vm_money *parts);
/* The same split for quantities that are not money (a host's joules). */
int vm_split(int64_t total, const int64_t *weights, size_t n, int64_t unit, int64_t *parts);

/* "720.5" for qty 43230 per 60: the exact quotient to `decimals` places
 * (0 to 12; half-up, away from zero), trailing zeros dropped, into buf
 * (48 bytes); returns buf.  A quantity, not money: for lines and
 * reports that print rated quantities in their units. */
char *vm_quantity_text(int64_t qty, int64_t per, int decimals, char *buf);

#endif
