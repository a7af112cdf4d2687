/* billing/pool: a host's month split by allocation, use and their maximum
 * on hand-computed cases (idle, unseen minutes, overcommit, spread idle),
 * and conservation to the minor unit for random fleets. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define CENT INT64_C(10000000)
#define CPU INT64_C(60000000000) /* one CPU for a minute, ns */
#define MONTH 43200

/* A (key 7): 2 vCPUs using 0.5 CPU; B (key 3): 1 vCPU using 1 CPU. */
static const struct bill_pool_vm ab[] = {{7, 2 * CPU, CPU / 2}, {3, CPU, CPU}};

struct result {
	int64_t a, b, idle;
};

static struct result run(enum bill_split split, int64_t capacity, int64_t seen, bool spread)
{
	struct bill_pool *p = bill_pool_new((vm_money){4320 * CENT}, MONTH, CENT, split);
	assert_non_null(p);
	for (int64_t m = 0; m < seen; m++)
		assert_int_equal(bill_pool_minute(p, m, capacity, ab, 2), 0);
	struct bill_pool_part *parts;
	size_t n;
	vm_money idle;
	assert_int_equal(bill_pool_finish(p, spread, &parts, &n, &idle), 0);
	assert_int_equal(n, 2);
	assert_int_equal(parts[0].key, 3); /* in order of key */
	assert_int_equal(parts[1].key, 7);
	struct result r = {parts[1].amount.n, parts[0].amount.n, idle.n};
	assert_int_equal(r.a + r.b + r.idle, 4320 * CENT);
	free(parts);
	bill_pool_free(p);
	return r;
}

static void test_golden(void **state)
{
	(void)state;
	/* 43.20 a month on a 4-CPU host: by allocation A 1/2, B 1/4, idle 1/4 */
	struct result r = run(BILL_SPLIT_ALLOCATION, 4 * CPU, MONTH, false);
	assert_int_equal(r.a, 2160 * CENT);
	assert_int_equal(r.b, 1080 * CENT);
	assert_int_equal(r.idle, 1080 * CENT);
	/* by use: A 1/8, B 1/4, idle 5/8 */
	r = run(BILL_SPLIT_USE, 4 * CPU, MONTH, false);
	assert_int_equal(r.a, 540 * CENT);
	assert_int_equal(r.b, 1080 * CENT);
	assert_int_equal(r.idle, 2700 * CENT);
	/* by the maximum: A 2 (allocation), B 1 (both) */
	r = run(BILL_SPLIT_MAX, 4 * CPU, MONTH, false);
	assert_int_equal(r.a, 2160 * CENT);
	assert_int_equal(r.b, 1080 * CENT);
	/* idle spread by the parts: 2:1 */
	r = run(BILL_SPLIT_ALLOCATION, 4 * CPU, MONTH, true);
	assert_int_equal(r.a, 2880 * CENT);
	assert_int_equal(r.b, 1440 * CENT);
	assert_int_equal(r.idle, 0);
	/* seen half the month: the other half is idle */
	r = run(BILL_SPLIT_ALLOCATION, 4 * CPU, MONTH / 2, false);
	assert_int_equal(r.a, 1080 * CENT);
	assert_int_equal(r.b, 540 * CENT);
	assert_int_equal(r.idle, 2700 * CENT);
	/* overcommitted: 3 vCPUs on 1 CPU share the whole cost, no idle */
	r = run(BILL_SPLIT_ALLOCATION, CPU, MONTH, false);
	assert_int_equal(r.a, 2880 * CENT);
	assert_int_equal(r.b, 1440 * CENT);
	assert_int_equal(r.idle, 0);
}

/* A cost that divides by nothing: 100.00 over 7 minutes and 3 VMs of
 * equal weight; every cent accounted for, the same way every time. */
static void test_remainders(void **state)
{
	(void)state;
	const struct bill_pool_vm v[] = {{1, 1, 0}, {2, 1, 0}, {3, 1, 0}};
	struct bill_pool *p = bill_pool_new((vm_money){10000 * CENT}, 7, CENT, BILL_SPLIT_ALLOCATION);
	for (int m = 0; m < 7; m++)
		assert_int_equal(bill_pool_minute(p, m, 0, v, 3), 0);
	struct bill_pool_part *parts;
	size_t n;
	vm_money idle;
	assert_int_equal(bill_pool_finish(p, false, &parts, &n, &idle), 0);
	assert_int_equal(n, 3);
	assert_int_equal(idle.n, 0);
	assert_int_equal(parts[0].amount.n, 3334 * CENT);
	assert_int_equal(parts[1].amount.n, 3333 * CENT);
	assert_int_equal(parts[2].amount.n, 3333 * CENT);
	free(parts);
	bill_pool_free(p);
}

static void test_refused(void **state)
{
	(void)state;
	assert_null(bill_pool_new((vm_money){CENT + 1}, 10, CENT, BILL_SPLIT_USE));
	assert_null(bill_pool_new((vm_money){-CENT}, 10, CENT, BILL_SPLIT_USE));
	assert_null(bill_pool_new((vm_money){CENT}, 0, CENT, BILL_SPLIT_USE));
	assert_null(bill_pool_new((vm_money){CENT}, 10, CENT, (enum bill_split)7));
	struct bill_pool *p = bill_pool_new((vm_money){CENT}, 10, CENT, BILL_SPLIT_USE);
	assert_int_equal(bill_pool_minute(p, 3, CPU, ab, 2), 0);
	assert_int_equal(bill_pool_minute(p, 3, CPU, ab, 2), -1); /* twice */
	assert_int_equal(bill_pool_minute(p, 10, CPU, ab, 2), -1);
	assert_int_equal(bill_pool_minute(p, -1, CPU, ab, 2), -1);
	assert_int_equal(bill_pool_minute(p, 4, -1, ab, 2), -1);
	const struct bill_pool_vm neg[] = {{1, -1, 0}};
	assert_int_equal(bill_pool_minute(p, 5, CPU, neg, 1), -1);
	assert_int_equal(bill_pool_minute(p, 5, CPU, NULL, 0), 0); /* refused input left minute 5 unseen */
	bill_pool_free(p);
}

/* Random hosts: the parts and idle add up to the pool to the cent, each
 * part is a whole number of cents, and the same input gives the same. */
static void test_conserves(void **state)
{
	(void)state;
	uint64_t x = 0xfeedULL;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
	for (int k = 0; k < 100; k++) {
		int64_t minutes = 1 + (int64_t)(RND() % 3000);
		vm_money month = {(int64_t)(RND() % 100000000) * CENT};
		enum bill_split split = (enum bill_split)(RND() % 3);
		uint64_t sums[2] = {0, 0};
		for (int pass = 0; pass < 2; pass++) {
			uint64_t y = x;
#define RY() (y ^= y << 13, y ^= y >> 7, y ^= y << 17, y)
			struct bill_pool *p = bill_pool_new(month, minutes, CENT, split);
			struct bill_pool_vm v[40];
			for (int64_t m = 0; m < minutes; m++) {
				if (RY() % 5 == 0)
					continue; /* a minute without data */
				size_t n = RY() % 40;
				for (size_t i = 0; i < n; i++)
					v[i] = (struct bill_pool_vm){(int64_t)(RY() % 100), (int64_t)(RY() % (8 * CPU)),
					                             (int64_t)(RY() % (8 * CPU))};
				/* one VM once a minute */
				for (size_t i = 0; i < n; i++)
					for (size_t j = 0; j < i; j++)
						if (v[j].key == v[i].key)
							v[i].key += 100 + (int64_t)i;
				assert_int_equal(bill_pool_minute(p, m, (int64_t)(RY() % (64 * CPU)), v, n), 0);
			}
			struct bill_pool_part *parts;
			size_t n;
			vm_money idle;
			assert_int_equal(bill_pool_finish(p, RY() % 2, &parts, &n, &idle), 0);
			__int128 total = idle.n;
			assert_int_equal(idle.n % CENT, 0);
			for (size_t i = 0; i < n; i++) {
				assert_int_equal(parts[i].amount.n % CENT, 0);
				assert_true(parts[i].amount.n >= 0);
				assert_true(i == 0 || parts[i].key > parts[i - 1].key);
				total += parts[i].amount.n;
				sums[pass] = sums[pass] * 31 + (uint64_t)parts[i].amount.n;
			}
			assert_true(total == month.n);
			free(parts);
			bill_pool_free(p);
		}
		assert_int_equal(sums[0], sums[1]);
	}
}

/* A month split a day at a time (a pool per day, its shares summed, then
 * rounded once) gives the same parts as the month split at once: what
 * the rater stores per day adds up to the month's split. */
static void test_by_day(void **state)
{
	(void)state;
	uint64_t x = 0xbeefULL;
	const int64_t minutes = 1440 * 3;
	vm_money month = {12345 * CENT};
	struct bill_pool *whole = bill_pool_new(month, minutes, CENT, BILL_SPLIT_MAX);
	int64_t share[60] = {0};
	for (int64_t day = 0; day < 3; day++) {
		struct bill_pool *p = bill_pool_new(month, minutes, CENT, BILL_SPLIT_MAX);
		for (int64_t m = day * 1440; m < (day + 1) * 1440; m++) {
			struct bill_pool_vm v[20];
			size_t n = RND() % 20;
			for (size_t i = 0; i < n; i++)
				v[i] = (struct bill_pool_vm){(int64_t)(i * 3 + RND() % 3), (int64_t)(RND() % (4 * CPU)),
				                             (int64_t)(RND() % (4 * CPU))};
			int64_t cap = (int64_t)(RND() % (32 * CPU));
			assert_int_equal(bill_pool_minute(p, m, cap, v, n), 0);
			assert_int_equal(bill_pool_minute(whole, m, cap, v, n), 0);
		}
		struct bill_pool_part *parts;
		size_t n;
		bill_pool_shares(p, &parts, &n);
		for (size_t i = 0; i < n; i++)
			share[parts[i].key] += parts[i].amount.n;
		free(parts);
		bill_pool_free(p);
	}
	struct bill_pool_part *want, days[60];
	size_t nw, nd = 0;
	vm_money idle_want, idle_days;
	assert_int_equal(bill_pool_finish(whole, false, &want, &nw, &idle_want), 0);
	for (int64_t k = 0; k < 60; k++)
		if (share[k])
			days[nd++] = (struct bill_pool_part){k, {share[k]}};
	assert_int_equal(bill_pool_round(month, CENT, false, days, nd, &idle_days), 0);
	assert_int_equal(nd, nw);
	for (size_t i = 0; i < nd; i++) {
		assert_int_equal(days[i].key, want[i].key);
		assert_int_equal(days[i].amount.n, want[i].amount.n);
	}
	assert_int_equal(idle_days.n, idle_want.n);
	free(want);
	bill_pool_free(whole);
	/* shares beyond the month are refused */
	struct bill_pool_part over[1] = {{1, {month.n + 1}}};
	assert_int_equal(bill_pool_round(month, CENT, false, over, 1, &idle_days), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden),    cmocka_unit_test(test_remainders), cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_conserves), cmocka_unit_test(test_by_day),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
