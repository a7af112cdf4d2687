/* billing/rate: each charge model on amounts computed by hand, rounding
 * once per line, and properties that tie the models to each other. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "rate.h"

#define CENT INT64_C(10000000)
#define GIB (INT64_C(1) << 30)
#define KWH INT64_C(3600000)

static const char plans[] = "plan p {\n"
                            "  currency = EUR\n"
                            "  version a {\n"
                            "    from = 2026-01-01\n"
                            "    charge vcpu { price = 0.012  per = vcpu-hour }\n"
                            "    charge net.tx { model = graduated  per = GiB\n"
                            "      tier { up-to = 100  price = 0 }\n"
                            "      tier { up-to = 1000  price = 0.05 }\n"
                            "      tier { price = 0.02 }\n"
                            "    }\n"
                            "    charge energy { model = volume  per = kWh\n"
                            "      tier { up-to = 10  price = 0.30 }\n"
                            "      tier { price = 0.25 }\n"
                            "    }\n"
                            "    charge disk.read.ops { model = package  price = 0.40  per = \"1000000 op\" }\n"
                            "    charge vm { price = 9000000000  per = vm-minute }\n"
                            "  }\n"
                            "}\n";

static struct bill_catalog *cat;
static const struct bill_charge *vcpu, *net, *energy, *ops, *vm;

static int setup(void **state)
{
	(void)state;
	char err[512];
	cat = bill_catalog_new();
	if (bill_catalog_parse(cat, "r.plan", plans, strlen(plans), err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	const struct bill_version *v = &bill_catalog_plan(cat, "p")->versions[0];
	vcpu = &v->charges[0];
	net = &v->charges[1];
	energy = &v->charges[2];
	ops = &v->charges[3];
	vm = &v->charges[4];
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bill_catalog_free(cat);
	return 0;
}

static int64_t amount(const struct bill_charge *ch, int64_t qty, int64_t unit, enum vm_round r)
{
	vm_money m;
	if (bill_amount(ch, qty, unit, r, &m) < 0)
		fail_msg("%s of %lld refused", bill_meter_name(ch->meter), (long long)qty);
	return m.n;
}

static void test_per_unit(void **state)
{
	(void)state;
	/* one vCPU for 30 days: 720 h x 0.012 */
	assert_int_equal(amount(vcpu, 43200, CENT, VM_ROUND_HALF_UP), 864 * CENT);
	/* one vCPU-minute: 0.0002, which a cent rounds away; the precise amount keeps it */
	assert_int_equal(amount(vcpu, 1, CENT, VM_ROUND_HALF_UP), 0);
	assert_int_equal(amount(vcpu, 1, 1, VM_ROUND_HALF_UP), 200000);
	assert_int_equal(amount(vcpu, 0, CENT, VM_ROUND_UP), 0);
}

static void test_graduated(void **state)
{
	(void)state;
	/* 1,500 GiB: 100 free, 900 x 0.05, 500 x 0.02 = 45 + 10 */
	assert_int_equal(amount(net, 1500 * GIB, CENT, VM_ROUND_HALF_UP), 5500 * CENT);
	assert_int_equal(amount(net, 100 * GIB, CENT, VM_ROUND_HALF_UP), 0);
	/* 100.5 GiB: 0.5 x 0.05 = 0.025, one rounding, two rules */
	assert_int_equal(amount(net, 100 * GIB + GIB / 2, CENT, VM_ROUND_HALF_UP), 3 * CENT);
	assert_int_equal(amount(net, 100 * GIB + GIB / 2, CENT, VM_ROUND_HALF_EVEN), 2 * CENT);
	/* exactly at a boundary: 1000 GiB = 45.00, one byte more adds 0.02 / 2^30 */
	assert_int_equal(amount(net, 1000 * GIB, CENT, VM_ROUND_HALF_UP), 4500 * CENT);
	assert_int_equal(amount(net, 1000 * GIB + 1, 1, VM_ROUND_UP), 4500 * CENT + 1);
	assert_int_equal(amount(net, 0, CENT, VM_ROUND_HALF_UP), 0);
}

static void test_volume(void **state)
{
	(void)state;
	/* 10 kWh: the first tier holds its up-to */
	assert_int_equal(amount(energy, 10 * KWH, CENT, VM_ROUND_HALF_UP), 300 * CENT);
	/* one joule more: every unit at 0.25 (2.5000000694) */
	assert_int_equal(amount(energy, 10 * KWH + 1, CENT, VM_ROUND_HALF_UP), 250 * CENT);
	assert_int_equal(amount(energy, 10 * KWH + 1, 1, VM_ROUND_HALF_UP), 2500000069);
	assert_int_equal(amount(energy, 1, 1, VM_ROUND_HALF_UP), 83); /* 0.30 / 3.6e6 */
}

static void test_package(void **state)
{
	(void)state;
	assert_int_equal(amount(ops, 0, CENT, VM_ROUND_HALF_UP), 0);
	assert_int_equal(amount(ops, 1, CENT, VM_ROUND_HALF_UP), 40 * CENT);
	assert_int_equal(amount(ops, 1000000, CENT, VM_ROUND_HALF_UP), 40 * CENT);
	assert_int_equal(amount(ops, 1000001, CENT, VM_ROUND_HALF_UP), 80 * CENT);
	/* 10^15 requests: 10^9 packages, 400 million */
	assert_int_equal(amount(ops, INT64_C(1000000000000000), CENT, VM_ROUND_HALF_UP),
	                 INT64_C(400000000) * VM_MONEY_ONE);
	vm_money m;
	assert_int_equal(bill_amount(ops, INT64_MAX, CENT, VM_ROUND_HALF_UP, &m), -1); /* 3.7 trillion */
}

static void test_refused(void **state)
{
	(void)state;
	vm_money m = {42};
	assert_int_equal(bill_amount(vcpu, -1, CENT, VM_ROUND_HALF_UP, &m), -1);
	/* 9 billion per VM-minute for a day does not fit */
	assert_int_equal(bill_amount(vm, 1440, CENT, VM_ROUND_HALF_UP, &m), -1);
	assert_int_equal(m.n, 42);
	assert_int_equal(bill_amount(vm, 1, CENT, VM_ROUND_HALF_UP, &m), 0);
	assert_int_equal(m.n, 9000000000 * VM_MONEY_ONE);
}

/* A graduated charge whose tiers all have one price is that price per
 * unit, whatever the tiers; and a graduated amount grows with the
 * quantity (prices are not negative), to the nano-unit. */
static void test_properties(void **state)
{
	(void)state;
	uint64_t x = 0x1234567;
	struct bill_tier tiers[5];
	struct bill_charge g = {.meter = BILL_NET_TX, .model = BILL_GRADUATED, .per = GIB, .tiers = tiers},
	                   u = {.meter = BILL_NET_TX, .model = BILL_PER_UNIT, .per = GIB};
	for (int k = 0; k < 20000; k++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		vm_money p = {(int64_t)(x % 1000000000)};
		g.n_tiers = 1 + x % 5;
		int64_t at = 0;
		for (size_t i = 0; i < g.n_tiers; i++) {
			at += (int64_t)(x >> (i * 8) & 0xff) * GIB + 1;
			tiers[i] = (struct bill_tier){i + 1 == g.n_tiers ? INT64_MAX : at, p, 0};
		}
		u.price = p;
		int64_t q = (int64_t)(x >> 20) % (2000 * GIB);
		for (int r = VM_ROUND_HALF_UP; r <= VM_ROUND_CEILING; r++)
			assert_int_equal(amount(&g, q, CENT, r), amount(&u, q, CENT, r));
		/* different prices per tier: more never costs less */
		for (size_t i = 0; i < g.n_tiers; i++)
			tiers[i].price.n = (int64_t)((x >> i) % 100000000);
		assert_true(amount(&g, q + 1, 1, VM_ROUND_FLOOR) >= amount(&g, q, 1, VM_ROUND_FLOOR));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_per_unit), cmocka_unit_test(test_graduated), cmocka_unit_test(test_volume),
	    cmocka_unit_test(test_package),  cmocka_unit_test(test_refused),   cmocka_unit_test(test_properties),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
