/* lib/money: exact, overflow-checked money (money.h).  Products and
 * quotients go through __int128, which holds any int64 x int64, so that a
 * line's amount is computed exactly before it is rounded once. */
#include "config.h"

#include "money.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

typedef __int128 i128;

/* Active ISO 4217 codes and their minor-unit digits (ISO 4217 list one,
 * 2025), sorted for bsearch.  Funds codes (BOV, CHE, CLF, ...) are there:
 * some contracts are priced in them. */
static const struct vm_currency currencies[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2}, {"AUD", 2}, {"AWG", 2},
    {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2}, {"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2},
    {"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2}, {"BZD", 2}, {"CAD", 2},
    {"CDF", 2}, {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"COU", 2},
    {"CRC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0}, {"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2},
    {"ERN", 2}, {"ETB", 2}, {"EUR", 2}, {"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2},
    {"GMD", 2}, {"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2},
    {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0}, {"KES", 2},
    {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3}, {"KYD", 2}, {"KZT", 2}, {"LAK", 2},
    {"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2},
    {"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2}, {"MXN", 2}, {"MXV", 2},
    {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2}, {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3},
    {"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2}, {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2},
    {"RSD", 2}, {"RUB", 2}, {"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2},
    {"SHP", 2}, {"SLE", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2}, {"SZL", 2},
    {"THB", 2}, {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2},
    {"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2}, {"VED", 2},
    {"VES", 2}, {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAF", 0}, {"XCD", 2}, {"XCG", 2}, {"XOF", 0}, {"XPF", 0},
    {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
};

static int currency_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct vm_currency *)elem)->code);
}

const struct vm_currency *vm_currency_find(const char *code)
{
	if (!code || strlen(code) != 3)
		return NULL;
	return bsearch(code, currencies, sizeof currencies / sizeof *currencies, sizeof *currencies, currency_cmp);
}

static int64_t pow10_i64(int e)
{
	int64_t p = 1;
	while (e-- > 0)
		p *= 10;
	return p;
}

int64_t vm_currency_minor(const struct vm_currency *c)
{
	return pow10_i64(VM_MONEY_SCALE - c->digits);
}

static const char *const round_names[] = {
    [VM_ROUND_HALF_UP] = "half-up", [VM_ROUND_HALF_EVEN] = "half-even", [VM_ROUND_DOWN] = "down",
    [VM_ROUND_UP] = "up",           [VM_ROUND_FLOOR] = "floor",         [VM_ROUND_CEILING] = "ceiling",
};

const char *vm_round_name(enum vm_round r)
{
	if ((unsigned)r >= sizeof round_names / sizeof *round_names)
		return NULL;
	return round_names[r];
}

int vm_round_parse(const char *name, enum vm_round *out)
{
	for (size_t i = 0; i < sizeof round_names / sizeof *round_names; i++)
		if (name && strcmp(name, round_names[i]) == 0) {
			*out = (enum vm_round)i;
			return 0;
		}
	return -1;
}

/* num / den rounded with rule r; den > 0.  C's division truncates toward
 * zero: the remainder has num's sign. */
static i128 div_round(i128 num, i128 den, enum vm_round r)
{
	i128 q = num / den, rem = num % den;
	if (rem == 0)
		return q;
	int sign = num < 0 ? -1 : 1;
	i128 twice = (rem < 0 ? -rem : rem) * 2; /* < 2 den: no overflow for den < 2^126 */
	switch (r) {
	case VM_ROUND_DOWN: return q;
	case VM_ROUND_UP: return q + sign;
	case VM_ROUND_FLOOR: return sign < 0 ? q - 1 : q;
	case VM_ROUND_CEILING: return sign > 0 ? q + 1 : q;
	case VM_ROUND_HALF_UP: return twice >= den ? q + sign : q;
	case VM_ROUND_HALF_EVEN:
		if (twice != den)
			return twice > den ? q + sign : q;
		return q % 2 ? q + sign : q;
	}
	abort(); /* an enum value outside the rules: a programming error */
}

static int fits(i128 v, vm_money *out)
{
	if (v > INT64_MAX || v < INT64_MIN)
		return -1;
	out->n = (int64_t)v;
	return 0;
}

int vm_money_add(vm_money a, vm_money b, vm_money *out)
{
	return fits((i128)a.n + b.n, out);
}

int vm_money_sub(vm_money a, vm_money b, vm_money *out)
{
	return fits((i128)a.n - b.n, out);
}

int vm_money_mul(vm_money a, int64_t k, vm_money *out)
{
	return fits((i128)a.n * k, out);
}

/* q x unit into *out, when it fits: |q| may be far beyond int64. */
static int scale_back(i128 q, int64_t unit, vm_money *out)
{
	i128 lim = (i128)INT64_MAX / unit;
	if (q > lim || q < -lim - 1)
		return -1;
	return fits(q * unit, out);
}

int vm_money_round(vm_money m, int64_t unit, enum vm_round r, vm_money *out)
{
	if (unit <= 0)
		return -1;
	return scale_back(div_round(m.n, unit, r), unit, out);
}

int vm_money_rate(int64_t qty, vm_money price, int64_t per, int64_t unit, enum vm_round r, vm_money *out)
{
	if (per <= 0 || unit <= 0)
		return -1;
	return scale_back(div_round((i128)qty * price.n, (i128)per * unit, r), unit, out);
}

int vm_money_rate_sum(const int64_t *qty, const vm_money *price, size_t n, int64_t per, int64_t unit, enum vm_round r,
                      vm_money *out)
{
	if (per <= 0 || unit <= 0 || n > 64)
		return -1;
	/* Each product is at most 2^126; a running sum kept within 2^125
	 * plus one more product stays below 2^127: no overflow.  Sums
	 * beyond are refused (they exceed any line by 10^19 at least). */
	i128 num = 0, lim = (i128)1 << 125;
	for (size_t i = 0; i < n; i++) {
		if (qty[i] < 0)
			return -1;
		num += (i128)qty[i] * price[i].n;
		if (num > lim || num < -lim)
			return -1;
	}
	return scale_back(div_round(num, (i128)per * unit, r), unit, out);
}

int vm_money_parse(const char *s, vm_money *out, char *err, size_t errsize)
{
	const char *p = s;
	bool neg = *p == '-';
	if (neg)
		p++;
	if (*p < '0' || *p > '9') {
		snprintf(err, errsize, "'%s' is not an amount: it must start with a digit (or '-' and a digit)", s);
		return -1;
	}
	i128 v = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > INT64_MAX / VM_MONEY_ONE) {
			snprintf(err, errsize, "'%s' is too large an amount (at most %lld)", s,
			         (long long)(INT64_MAX / VM_MONEY_ONE));
			return -1;
		}
	}
	v *= VM_MONEY_ONE;
	if (*p == '.') {
		p++;
		int64_t unit = VM_MONEY_ONE;
		const char *frac = p;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (p - frac == VM_MONEY_SCALE) {
				snprintf(err, errsize, "'%s' has more than %d decimals", s, VM_MONEY_SCALE);
				return -1;
			}
			unit /= 10;
			v += (i128)(*p - '0') * unit;
		}
		if (p == frac) {
			snprintf(err, errsize, "'%s' is not an amount: a '.' must be followed by digits", s);
			return -1;
		}
	}
	if (*p) {
		snprintf(err, errsize, "'%s' is not an amount: unexpected '%c' (amounts are written like 12.50)", s,
		         *p);
		return -1;
	}
	if (v > INT64_MAX) {
		snprintf(err, errsize, "'%s' is too large an amount", s);
		return -1;
	}
	out->n = (int64_t)(neg ? -v : v);
	return 0;
}

/* |q| in decimal with a '.' before its last `digits` digits. */
static char *put_decimal(i128 q, int digits, char *buf)
{
	char tmp[64];
	size_t n = 0;
	unsigned __int128 u = q < 0 ? -(unsigned __int128)q : (unsigned __int128)q;
	do {
		tmp[n++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	while (n < (size_t)digits + 1)
		tmp[n++] = '0';
	char *o = buf;
	if (q < 0)
		*o++ = '-';
	while (n) {
		if (n == (size_t)digits && digits > 0)
			*o++ = '.';
		*o++ = tmp[--n];
	}
	*o = '\0';
	return buf;
}

char *vm_money_format(vm_money m, int digits, enum vm_round r, char *buf)
{
	if (digits < 0 || digits > VM_MONEY_SCALE)
		digits = VM_MONEY_SCALE;
	return put_decimal(div_round(m.n, pow10_i64(VM_MONEY_SCALE - digits), r), digits, buf);
}

char *vm_money_format_exact(vm_money m, int digits, char *buf)
{
	int d = VM_MONEY_SCALE;
	while (d > digits && d > 0 && m.n % pow10_i64(VM_MONEY_SCALE - d + 1) == 0)
		d--;
	return vm_money_format(m, d, VM_ROUND_DOWN, buf);
}

struct share {
	i128 rem; /* the fractional part of the share, over the weights' sum */
	size_t i;
};

static int share_cmp(const void *a, const void *b)
{
	const struct share *x = a, *y = b;
	if (x->rem != y->rem)
		return x->rem > y->rem ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* vm_split() and vm_money_split(): the parts go to ints or to amounts. */
static int split(int64_t total, const int64_t *weights, size_t n, int64_t unit, int64_t *ints, vm_money *parts)
{
	if (n == 0 || unit <= 0 || total % unit != 0 || total == INT64_MIN)
		return -1; /* INT64_MIN: its opposite, one part's share, is no int64 */
	i128 sum = 0;
	for (size_t i = 0; i < n; i++) {
		if (weights[i] < 0)
			return -1;
		sum += weights[i];
	}
	if (sum == 0)
		return -1;
	bool neg = total < 0;
	/* Units, not nano-units: the remainder goes out a unit at a time. */
	i128 units = (neg ? -(i128)total : (i128)total) / unit, given = 0;
	struct share *s = vm_xmalloc(n * sizeof *s);
	for (size_t i = 0; i < n; i++) {
		i128 num = units * weights[i]; /* < 2^63 x 2^63 */
		i128 q = num / sum;
		s[i].rem = num % sum;
		s[i].i = i;
		int64_t v = (int64_t)(q * unit); /* q <= units: fits */
		if (ints)
			ints[i] = v;
		else
			parts[i].n = v;
		given += q;
	}
	/* Fewer than n units are left: each of the largest remainders gets one. */
	size_t left = (size_t)(units - given);
	if (left) {
		qsort(s, n, sizeof *s, share_cmp);
		for (size_t k = 0; k < left; k++)
			*(ints ? &ints[s[k].i] : &parts[s[k].i].n) += unit;
	}
	free(s);
	if (neg)
		for (size_t i = 0; i < n; i++)
			*(ints ? &ints[i] : &parts[i].n) *= -1;
	return 0;
}

int vm_split(int64_t total, const int64_t *weights, size_t n, int64_t unit, int64_t *parts)
{
	return split(total, weights, n, unit, parts, NULL);
}

int vm_money_split(vm_money total, const int64_t *weights, size_t n, int64_t unit, vm_money *parts)
{
	return split(total.n, weights, n, unit, NULL, parts);
}

char *vm_quantity_text(int64_t qty, int64_t per, int decimals, char *buf)
{
	if (decimals < 0)
		decimals = 0;
	if (decimals > 12)
		decimals = 12;
	__int128 scale = 1;
	for (int i = 0; i < decimals; i++)
		scale *= 10;
	__int128 num = (__int128)qty * scale, den = per > 0 ? per : 1;
	bool neg = num < 0;
	unsigned __int128 u = (unsigned __int128)(neg ? -num : num), q = u / (unsigned __int128)den,
	                  r = u % (unsigned __int128)den;
	if (2 * r >= (unsigned __int128)den)
		q++; /* half-up, away from zero */
	char digits[64];
	int n = 0;
	do {
		digits[n++] = (char)('0' + (int)(q % 10));
		q /= 10;
	} while (q);
	while (n <= decimals)
		digits[n++] = '0';
	/* drop trailing zeros of the fraction */
	int drop = 0;
	while (drop < decimals && digits[drop] == '0')
		drop++;
	char *o = buf;
	bool zero = true;
	for (int i = 0; i < n; i++)
		zero = zero && digits[i] == '0';
	if (neg && !zero)
		*o++ = '-';
	for (int i = n - 1; i >= drop; i--) {
		*o++ = digits[i];
		if (i == decimals && i > drop)
			*o++ = '.';
	}
	*o = '\0';
	return buf;
}
