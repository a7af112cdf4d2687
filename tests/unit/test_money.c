/* lib/money: parsing and printing amounts, every rounding rule against its
 * definition, a line's amount computed exactly and rounded once, splits
 * that conserve the total to the unit, ISO 4217 digits, and overflow
 * refused everywhere instead of wrapping. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static vm_money M(int64_t n)
{
	return (vm_money){n};
}

static void test_parse(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int64_t n;
	} good[] = {
	    {"0", 0},
	    {"12", 12000000000},
	    {"0.05", 50000000},
	    {"-3.000000012", -3000000012},
	    {"0.000000001", 1},
	    {"007.5", 7500000000},
	    {"-0", 0},
	    {"9223372036.854775807", INT64_MAX},
	    {"-9223372036.854775807", -INT64_MAX},
	};
	char err[256];
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		vm_money m = {-1};
		err[0] = '\0';
		if (vm_money_parse(good[i].s, &m, err, sizeof err) != 0)
			fail_msg("'%s' refused: %s", good[i].s, err);
		assert_int_equal(m.n, good[i].n);
	}
	static const struct {
		const char *s, *says;
	} bad[] = {
	    {"", "must start with a digit"},
	    {"-", "must start with a digit"},
	    {"+1", "must start with a digit"},
	    {".5", "must start with a digit"},
	    {" 1", "must start with a digit"},
	    {"1.", "followed by digits"},
	    {"1.0000000001", "more than 9 decimals"},
	    {"1e3", "unexpected 'e'"},
	    {"1,000", "unexpected ','"},
	    {"12 ", "unexpected ' '"},
	    {"1.2.3", "unexpected '.'"},
	    {"9223372037", "too large"},
	    {"9223372036.854775808", "too large"},
	    {"99999999999999999999999", "too large"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		vm_money m = {42};
		err[0] = '\0';
		if (vm_money_parse(bad[i].s, &m, err, sizeof err) == 0)
			fail_msg("'%s' accepted as %lld", bad[i].s, (long long)m.n);
		assert_int_equal(m.n, 42);
		if (!strstr(err, bad[i].says) || !strstr(err, bad[i].s))
			fail_msg("'%s': \"%s\" does not say \"%s\" and name the input", bad[i].s, err, bad[i].says);
	}
}

/* The six rules on values of every kind of fraction, both signs. */
static void test_round_table(void **state)
{
	(void)state;
	/* in tenths, rounded to units: x, then half-up, half-even, down, up, floor, ceiling */
	static const int64_t t[][7] = {
	    {25, 3, 2, 2, 3, 2, 3},        {35, 4, 4, 3, 4, 3, 4},        {-25, -3, -2, -2, -3, -3, -2},
	    {-35, -4, -4, -3, -4, -4, -3}, {21, 2, 2, 2, 3, 2, 3},        {29, 3, 3, 2, 3, 2, 3},
	    {-21, -2, -2, -2, -3, -3, -2}, {-29, -3, -3, -2, -3, -3, -2}, {30, 3, 3, 3, 3, 3, 3},
	    {0, 0, 0, 0, 0, 0, 0},         {5, 1, 0, 0, 1, 0, 1},         {-5, -1, 0, 0, -1, -1, 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		for (int r = VM_ROUND_HALF_UP; r <= VM_ROUND_CEILING; r++) {
			vm_money out;
			assert_int_equal(vm_money_round(M(t[i][0] * 100000000), VM_MONEY_ONE, r, &out), 0);
			if (out.n != t[i][r + 1] * VM_MONEY_ONE)
				fail_msg("%lld/10 %s: %lld, want %lld", (long long)t[i][0], vm_round_name(r),
				         (long long)(out.n / VM_MONEY_ONE), (long long)t[i][r + 1]);
		}
}

/* Random values against each rule's definition, not against a second
 * copy of the code: floor q has q u <= m < (q + 1) u, and so on. */
static void test_round_definitions(void **state)
{
	(void)state;
	for (int k = 0; k < 200000; k++) {
		int64_t m = (int64_t)(next() >> (next() % 60 + 2)) * (next() % 2 ? 1 : -1);
		int64_t u = (int64_t)(next() % 1000000000) + 1;
		if (k % 4 == 0) /* exact halves */
			m = (m / u) * u + (u % 2 ? 0 : u / 2);
		for (int r = VM_ROUND_HALF_UP; r <= VM_ROUND_CEILING; r++) {
			vm_money out;
			if (vm_money_round(M(m), u, r, &out) != 0)
				continue; /* near the bounds: checked below */
			assert_int_equal(out.n % u, 0);
			__int128 q = out.n / u, lo = (__int128)q * u - m; /* q u - m */
			__int128 dist = lo < 0 ? -lo : lo;
			switch (r) {
			case VM_ROUND_FLOOR: assert_true(lo <= 0 && lo > -u); break;
			case VM_ROUND_CEILING: assert_true(lo >= 0 && lo < u); break;
			case VM_ROUND_DOWN: assert_true(dist < u && (m >= 0 ? lo <= 0 : lo >= 0)); break;
			case VM_ROUND_UP: assert_true(dist < u && (m >= 0 ? lo >= 0 : lo <= 0)); break;
			case VM_ROUND_HALF_UP:
				assert_true(2 * dist <= u);
				if (2 * dist == u) /* a tie: away from zero */
					assert_true(m >= 0 ? lo > 0 : lo < 0);
				break;
			case VM_ROUND_HALF_EVEN:
				assert_true(2 * dist <= u);
				if (2 * dist == u)
					assert_true(q % 2 == 0);
				break;
			}
		}
	}
}

static void test_format(void **state)
{
	(void)state;
	char buf[VM_MONEY_MAX_FORMAT];
	assert_string_equal(vm_money_format(M(12345000000), 2, VM_ROUND_HALF_UP, buf), "12.35");
	assert_string_equal(vm_money_format(M(12345000000), 2, VM_ROUND_HALF_EVEN, buf), "12.34");
	assert_string_equal(vm_money_format(M(-12345000000), 2, VM_ROUND_HALF_UP, buf), "-12.35");
	assert_string_equal(vm_money_format(M(5000000), 2, VM_ROUND_HALF_UP, buf), "0.01");
	assert_string_equal(vm_money_format(M(-4000000), 2, VM_ROUND_HALF_UP, buf), "0.00");
	assert_string_equal(vm_money_format(M(1500000000), 0, VM_ROUND_HALF_EVEN, buf), "2");
	assert_string_equal(vm_money_format(M(7), 3, VM_ROUND_HALF_UP, buf), "0.000");
	assert_string_equal(vm_money_format(M(INT64_MAX), 9, VM_ROUND_DOWN, buf), "9223372036.854775807");
	assert_string_equal(vm_money_format(M(INT64_MIN), 9, VM_ROUND_DOWN, buf), "-9223372036.854775808");
	/* rounding up at the bound goes beyond int64: printed, not wrapped */
	assert_string_equal(vm_money_format(M(INT64_MAX), 2, VM_ROUND_UP, buf), "9223372036.86");
	assert_string_equal(vm_money_format_exact(M(12500000000), 2, buf), "12.50");
	assert_string_equal(vm_money_format_exact(M(12), 2, buf), "0.000000012");
	assert_string_equal(vm_money_format_exact(M(-3000000000), 0, buf), "-3");
	assert_string_equal(vm_money_format_exact(M(1230000000), 0, buf), "1.23");
	/* every exact form parses back to the same amount */
	char err[128];
	for (int k = 0; k < 100000; k++) {
		vm_money m = {(int64_t)next()}, back;
		vm_money_format_exact(m, (int)(next() % 10), buf);
		if (m.n == INT64_MIN)
			continue;
		assert_int_equal(vm_money_parse(buf, &back, err, sizeof err), 0);
		assert_int_equal(back.n, m.n);
	}
}

static void test_arith_overflow(void **state)
{
	(void)state;
	vm_money out = {42};
	assert_int_equal(vm_money_add(M(INT64_MAX), M(1), &out), -1);
	assert_int_equal(vm_money_sub(M(INT64_MIN), M(1), &out), -1);
	assert_int_equal(vm_money_mul(M(INT64_MAX / 2 + 1), 2, &out), -1);
	assert_int_equal(vm_money_mul(M(-1), INT64_MIN, &out), -1);
	assert_int_equal(out.n, 42); /* untouched */
	assert_int_equal(vm_money_add(M(INT64_MAX - 1), M(1), &out), 0);
	assert_int_equal(out.n, INT64_MAX);
	assert_int_equal(vm_money_mul(M(-3), 7, &out), 0);
	assert_int_equal(out.n, -21);
	/* rounding that would leave the range */
	assert_int_equal(vm_money_round(M(INT64_MAX), 10000000, VM_ROUND_UP, &out), -1);
	assert_int_equal(vm_money_round(M(INT64_MIN), 10000000, VM_ROUND_FLOOR, &out), -1);
	assert_int_equal(vm_money_round(M(1), 0, VM_ROUND_UP, &out), -1);
}

static void test_rate(void **state)
{
	(void)state;
	const struct vm_currency *eur = vm_currency_find("EUR");
	int64_t cent = vm_currency_minor(eur);
	vm_money p, out;
	char err[128];
	/* 3 GiB at 0.05 per GiB, counted in bytes */
	assert_int_equal(vm_money_parse("0.05", &p, err, sizeof err), 0);
	assert_int_equal(vm_money_rate(INT64_C(3) << 30, p, INT64_C(1) << 30, cent, VM_ROUND_HALF_UP, &out), 0);
	assert_int_equal(out.n, 15 * cent);
	/* a month of vCPU-minutes (43,200) at 0.01 per hour: 7.20 */
	assert_int_equal(vm_money_parse("0.01", &p, err, sizeof err), 0);
	assert_int_equal(vm_money_rate(43200, p, 60, cent, VM_ROUND_HALF_UP, &out), 0);
	assert_int_equal(out.n, 720 * cent);
	/* rounded once: 1 minute at 0.01/hour is 0.0001666..., not 0 x 43200 */
	assert_int_equal(vm_money_rate(1, p, 60, 1, VM_ROUND_HALF_UP, &out), 0);
	assert_int_equal(out.n, 166667);
	assert_int_equal(vm_money_rate(1, p, 60, cent, VM_ROUND_HALF_UP, &out), 0);
	assert_int_equal(out.n, 0);
	/* a half cent, both rules */
	assert_int_equal(vm_money_parse("0.005", &p, err, sizeof err), 0);
	assert_int_equal(vm_money_rate(1, p, 1, cent, VM_ROUND_HALF_UP, &out), 0);
	assert_int_equal(out.n, cent);
	assert_int_equal(vm_money_rate(1, p, 1, cent, VM_ROUND_HALF_EVEN, &out), 0);
	assert_int_equal(out.n, 0);
	assert_int_equal(vm_money_rate(3, p, 1, cent, VM_ROUND_HALF_EVEN, &out), 0);
	assert_int_equal(out.n, 2 * cent); /* 0.015 -> 0.02 */
	/* a product far beyond int64 that still ends in range */
	assert_int_equal(vm_money_rate(INT64_MAX, M(VM_MONEY_ONE), INT64_MAX, cent, VM_ROUND_DOWN, &out), 0);
	assert_int_equal(out.n, VM_MONEY_ONE);
	/* and one that does not */
	out.n = 42;
	assert_int_equal(vm_money_rate(INT64_MAX, M(VM_MONEY_ONE), 1, cent, VM_ROUND_DOWN, &out), -1);
	assert_int_equal(out.n, 42);
	assert_int_equal(vm_money_rate(1, M(1), 0, cent, VM_ROUND_DOWN, &out), -1);
	/* sums: 2 x 0.5 + 3 x 0.25 per 1, rounded once; refusals */
	int64_t q[3] = {2, 3, 0};
	vm_money pr[3] = {{500000000}, {250000000}, {1}};
	assert_int_equal(vm_money_rate_sum(q, pr, 3, 1, cent, VM_ROUND_HALF_UP, &out), 0);
	assert_int_equal(out.n, 175 * cent);
	q[2] = -1;
	out.n = 42;
	assert_int_equal(vm_money_rate_sum(q, pr, 3, 1, cent, VM_ROUND_HALF_UP, &out), -1);
	assert_int_equal(vm_money_rate_sum(q, pr, 65, 1, cent, VM_ROUND_HALF_UP, &out), -1);
	int64_t big[2] = {INT64_MAX, INT64_MAX};
	vm_money bigp[2] = {{INT64_MAX}, {INT64_MAX}};
	assert_int_equal(vm_money_rate_sum(big, bigp, 2, INT64_MAX, INT64_MAX, VM_ROUND_DOWN, &out), -1);
	assert_int_equal(out.n, 42);
	/* JPY has no minor unit */
	const struct vm_currency *jpy = vm_currency_find("JPY");
	assert_int_equal(vm_money_parse("1.5", &p, err, sizeof err), 0);
	assert_int_equal(vm_money_rate(3, p, 1, vm_currency_minor(jpy), VM_ROUND_HALF_EVEN, &out), 0);
	assert_int_equal(out.n, 4 * VM_MONEY_ONE); /* 4.5 -> 4 */
}

static void test_split(void **state)
{
	(void)state;
	vm_money parts[8];
	const int64_t cent = 10000000;
	int64_t w3[] = {1, 1, 1};
	assert_int_equal(vm_money_split(M(100 * cent), w3, 3, cent, parts), 0);
	assert_int_equal(parts[0].n, 34 * cent); /* the tie goes to the lowest index */
	assert_int_equal(parts[1].n, 33 * cent);
	assert_int_equal(parts[2].n, 33 * cent);
	assert_int_equal(vm_money_split(M(-100 * cent), w3, 3, cent, parts), 0);
	assert_int_equal(parts[0].n, -34 * cent);
	assert_int_equal(parts[2].n, -33 * cent);
	int64_t w[] = {0, 2, 1, 0};
	assert_int_equal(vm_money_split(M(10 * cent), w, 4, cent, parts), 0);
	assert_int_equal(parts[0].n, 0);
	assert_int_equal(parts[1].n, 7 * cent); /* 6.67 -> 7 (the larger remainder) */
	assert_int_equal(parts[2].n, 3 * cent);
	assert_int_equal(parts[3].n, 0);
	int64_t zero[] = {0, 0}, neg[] = {3, -1};
	assert_int_equal(vm_money_split(M(cent), zero, 2, cent, parts), -1);
	assert_int_equal(vm_money_split(M(cent), neg, 2, cent, parts), -1);
	assert_int_equal(vm_money_split(M(cent + 1), w3, 3, cent, parts), -1);
	assert_int_equal(vm_money_split(M(cent), w3, 0, cent, parts), -1);
	/* the largest amounts and weights */
	int64_t big[] = {INT64_MAX, INT64_MAX, 1};
	assert_int_equal(vm_money_split(M(INT64_MAX / cent * cent), big, 3, cent, parts), 0);
	assert_int_equal(parts[0].n + parts[1].n + parts[2].n == INT64_MAX / cent * cent, 1);
}

/* Random fleets: the parts add up to the pool, each within one unit of
 * its exact share, and the same input gives the same parts. */
static void test_split_conserves(void **state)
{
	(void)state;
	enum { N = 500 };
	static int64_t w[N];
	static vm_money a[N], b[N];
	for (int k = 0; k < 2000; k++) {
		size_t n = next() % N + 1;
		int64_t unit = k % 3 ? 10000000 : 1;
		int64_t total = (int64_t)(next() % (UINT64_C(1) << (next() % 60))) / unit * unit;
		if (next() % 5 == 0)
			total = -total;
		__int128 sum = 0;
		for (size_t i = 0; i < n; i++) {
			w[i] = next() % 4 ? (int64_t)(next() >> (next() % 63 + 1)) : 0;
			sum += w[i];
		}
		if (sum == 0)
			w[0] = sum = 1;
		assert_int_equal(vm_money_split(M(total), w, n, unit, a), 0);
		__int128 got = 0;
		for (size_t i = 0; i < n; i++) {
			got += a[i].n;
			assert_int_equal(a[i].n % unit, 0);
			/* |part x sum - total x w| < unit x sum */
			__int128 d = (__int128)a[i].n * sum - (__int128)total * w[i];
			if (d < 0)
				d = -d;
			assert_true(d < (__int128)unit * sum);
		}
		assert_true(got == total);
		assert_int_equal(vm_money_split(M(total), w, n, unit, b), 0);
		assert_memory_equal(a, b, n * sizeof *a);
	}
}

static void test_currency(void **state)
{
	(void)state;
	static const struct {
		const char *code;
		int digits;
	} t[] = {{"AED", 2}, {"EUR", 2}, {"USD", 2}, {"GBP", 2}, {"CHF", 2}, {"JPY", 0}, {"KRW", 0}, {"ISK", 0},
	         {"KWD", 3}, {"BHD", 3}, {"TND", 3}, {"CLF", 4}, {"UYW", 4}, {"XOF", 0}, {"ZWG", 2}};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		const struct vm_currency *c = vm_currency_find(t[i].code);
		if (!c)
			fail_msg("%s not found", t[i].code);
		assert_string_equal(c->code, t[i].code);
		assert_int_equal(c->digits, t[i].digits);
	}
	assert_int_equal(vm_currency_minor(vm_currency_find("EUR")), 10000000);
	assert_int_equal(vm_currency_minor(vm_currency_find("JPY")), VM_MONEY_ONE);
	assert_int_equal(vm_currency_minor(vm_currency_find("CLF")), 100000);
	/* lower case, too long, too short, empty, ISO's "no currency" code,
	 * a withdrawn currency (HRK), codes never assigned */
	const char *none[] = {"eur", "EURO", "EU", "", "XXX", "HRK", "ZZZ", "AAA"};
	for (size_t i = 0; i < sizeof none / sizeof *none; i++)
		assert_null(vm_currency_find(none[i]));
	assert_null(vm_currency_find(NULL));
}

static void test_round_names(void **state)
{
	(void)state;
	for (int r = VM_ROUND_HALF_UP; r <= VM_ROUND_CEILING; r++) {
		enum vm_round back;
		assert_non_null(vm_round_name(r));
		assert_int_equal(vm_round_parse(vm_round_name(r), &back), 0);
		assert_int_equal(back, r);
	}
	enum vm_round x = VM_ROUND_UP;
	assert_int_equal(vm_round_parse("HALF_UP", &x), -1);
	assert_int_equal(vm_round_parse("", &x), -1);
	assert_int_equal(vm_round_parse(NULL, &x), -1);
	assert_int_equal(x, VM_ROUND_UP);
	assert_null(vm_round_name((enum vm_round)99));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_round_table),
	    cmocka_unit_test(test_round_definitions),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_arith_overflow),
	    cmocka_unit_test(test_rate),
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_split_conserves),
	    cmocka_unit_test(test_currency),
	    cmocka_unit_test(test_round_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
