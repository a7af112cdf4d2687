/* billing/plan: a plan file read into the catalog exactly, and each kind
 * of bad plan (overlapping dates, unknown meter, negative price, unknown
 * currency, ...) refused naming the file, line, plan and field, with the
 * catalog left as it was. */
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

static const char good[] = "# prices of 2026\n"
                           "plan standard {\n"
                           "  currency = EUR\n"
                           "  rounding = half-even\n"
                           "  version \"2026-h1\" {\n"
                           "    from = 2026-01-01\n"
                           "    minimum = 5.00\n"
                           "    charge vcpu { price = 0.012  per = vcpu-hour }\n"
                           "    charge vcpu { price = 0.05  per = vcpu-hour  host-class = gpu }\n"
                           "    charge ram { price = 0.004  per = GiB-hour }\n"
                           "    charge disk { price = 0.1  per = \"GiB-day\" }\n"
                           "    charge net.internet.tx {\n"
                           "      model = graduated\n"
                           "      per = GiB\n"
                           "      tier { up-to = 100  price = 0 }\n"
                           "      tier { up-to = 1000  price = 0.05 }\n"
                           "      tier { price = 0.02 }\n"
                           "    }\n"
                           "    charge disk.read.ops { model = package  price = 0.40  per = \"1000000 op\" }\n"
                           "    charge vm { price = 0.001  per = vm-minute  time = defined }\n"
                           "  }\n"
                           "  version \"2026-h2\" {\n"
                           "    from = 2026-07-01\n"
                           "    to = 2027-01-01\n"
                           "    charge cpu { price = 0.02  per = core-hour }\n"
                           "    charge energy { model = volume  per = kWh\n"
                           "      tier { up-to = 10  price = 0.30 }\n"
                           "      tier { price = 0.25 }\n"
                           "    }\n"
                           "  }\n"
                           "}\n"
                           "tenant \"ACME Corp.\" {\n"
                           "  currency = EUR\n"
                           "  time-zone = Europe/Berlin\n"
                           "  assign standard { from = 2026-01-01 }\n"
                           "  assign standard { project = ml  from = 2026-03-01  to = 2026-04-01 }\n"
                           "}\n"
                           "tenant research { currency = EUR  time-zone = UTC  showback = true }\n"
                           "host-class gpu { hosts = \"gpu-*\" }\n";

static struct bill_catalog *load(const char *text, char *err, size_t errsize)
{
	struct bill_catalog *c = bill_catalog_new();
	static const char *const classes[] = {"internet", "internal"};
	bill_catalog_set_classes(c, classes, 2);
	err[0] = '\0';
	if (bill_catalog_parse(c, "p.plan", text, strlen(text), err, errsize) < 0) {
		bill_catalog_free(c);
		return NULL;
	}
	return c;
}

static void test_good(void **state)
{
	(void)state;
	char err[512];
	struct bill_catalog *c = load(good, err, sizeof err);
	if (!c)
		fail_msg("%s", err);
	assert_int_equal(bill_catalog_check(c, err, sizeof err), 0);
	size_t n;
	const struct bill_plan *p = bill_catalog_plans(c, &n);
	assert_int_equal(n, 1);
	assert_string_equal(p->name, "standard");
	assert_string_equal(p->file, "p.plan");
	assert_int_equal(p->line, 2);
	assert_string_equal(p->currency->code, "EUR");
	assert_int_equal(p->rounding, VM_ROUND_HALF_EVEN);
	assert_int_equal(p->time, BILL_TIME_RUNNING);
	assert_int_equal(p->n_versions, 2);
	const struct bill_version *v = &p->versions[0];
	assert_string_equal(v->label, "2026-h1");
	assert_true(v->from.set && v->from.local);
	assert_int_equal(v->from.t, 20454); /* 2026-01-01 */
	/* open-ended until the next version */
	assert_true(v->to.set && v->to.local);
	assert_int_equal(v->to.t, 20635); /* 2026-07-01 */
	assert_int_equal(v->minimum.n, 5 * VM_MONEY_ONE);
	assert_int_equal(v->n_charges, 7);
	const struct bill_charge *ch = &v->charges[0];
	assert_int_equal(ch->meter, BILL_VCPU);
	assert_int_equal(ch->model, BILL_PER_UNIT);
	assert_int_equal(ch->per, 60);
	assert_int_equal(ch->price.n, 12000000);
	assert_null(ch->host_class);
	assert_int_equal(ch->line, 8);
	assert_string_equal(v->charges[1].host_class, "gpu");
	assert_int_equal(v->charges[2].per, 61440);
	assert_int_equal(v->charges[3].meter, BILL_DISK);
	assert_int_equal(v->charges[3].time, BILL_TIME_DEFINED); /* disks take space while stopped */
	ch = &v->charges[4];
	assert_int_equal(ch->meter, BILL_NET_TX);
	assert_string_equal(ch->net_class, "internet");
	assert_int_equal(ch->model, BILL_GRADUATED);
	assert_int_equal(ch->n_tiers, 3);
	assert_int_equal(ch->tiers[0].upto, INT64_C(100) << 30);
	assert_int_equal(ch->tiers[0].price.n, 0);
	assert_int_equal(ch->tiers[1].upto, INT64_C(1000) << 30);
	assert_int_equal(ch->tiers[2].upto, INT64_MAX);
	assert_int_equal(ch->tiers[2].line, 17);
	ch = &v->charges[5];
	assert_int_equal(ch->meter, BILL_DISK_RD_OPS);
	assert_int_equal(ch->model, BILL_PACKAGE);
	assert_int_equal(ch->per, 1000000);
	assert_string_equal(ch->per_text, "1000000 op");
	assert_int_equal(v->charges[6].meter, BILL_VM);
	assert_int_equal(v->charges[6].time, BILL_TIME_DEFINED);
	v = &p->versions[1];
	assert_int_equal(v->to.t, 20819); /* 2027-01-01 */
	assert_int_equal(v->minimum.n, 0);
	assert_int_equal(v->charges[0].per, INT64_C(3600000000000));
	assert_int_equal(v->charges[1].model, BILL_VOLUME);
	assert_int_equal(v->charges[1].tiers[0].upto, INT64_C(36000000));

	const struct bill_tenant *t = bill_catalog_tenants(c, &n);
	assert_int_equal(n, 2);
	assert_string_equal(t[0].name, "ACME Corp.");
	assert_string_equal(t[0].time_zone, "Europe/Berlin");
	assert_false(t[0].showback);
	assert_int_equal(t[0].n_assigns, 2);
	assert_null(t[0].assigns[0].project);
	assert_string_equal(t[0].assigns[1].project, "ml");
	assert_false(t[0].assigns[0].to.set);
	assert_true(t[1].showback);
	assert_int_equal(t[1].n_assigns, 0);
	assert_ptr_equal(bill_catalog_plan(c, "standard"), p);
	assert_null(bill_catalog_plan(c, "other"));
	assert_string_equal(bill_meter_name(BILL_DISK_WR_BYTES), "disk.write.bytes");
	assert_null(bill_meter_name(BILL_METER__COUNT));
	bill_catalog_free(c);
}

static void test_when(void **state)
{
	(void)state;
	char err[512], text[512];
	static const struct {
		const char *when;
		int64_t t;
	} t[] = {
	    {"2026-03-01T06:30Z", INT64_C(1772346600)},      {"2026-03-01T07:30+01:00", INT64_C(1772346600)},
	    {"2026-03-01T01:00-05:30", INT64_C(1772346600)}, {"2026-03-01T06:30:00Z", INT64_C(1772346600)},
	    {"2028-02-29T00:00Z", INT64_C(1835395200)},
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		snprintf(text, sizeof text,
		         "plan p { currency = USD\n version a { from = \"%s\"\n charge vm { price = 1  per = vm-hour } "
		         "} }\n",
		         t[i].when);
		struct bill_catalog *c = load(text, err, sizeof err);
		if (!c)
			fail_msg("%s: %s", t[i].when, err);
		size_t n;
		const struct bill_version *v = &bill_catalog_plans(c, &n)->versions[0];
		assert_false(v->from.local);
		if (v->from.t != t[i].t)
			fail_msg("%s: %lld, want %lld", t[i].when, (long long)v->from.t, (long long)t[i].t);
		assert_false(v->to.set);
		bill_catalog_free(c);
	}
}

/* Each bad plan: the message names the place and what is wrong. */
static void test_bad(void **state)
{
	(void)state;
	static const struct {
		const char *text, *says;
	} bad[] = {
	    {"plan p { currency = EURO\n version a { from = 2026-01-01\n charge vm { price = 1  per = vm-hour } } }",
	     "p.plan:1: plan 'p': currency: 'EURO' is not an ISO 4217 currency code"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vmx { price = 1  per = vm-hour } } }",
	     "p.plan:3: plan 'p' version 'a' charge 'vmx': unknown meter (meters: vcpu, ram"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm {\n price = -1\n per = vm-hour } } }",
	     "p.plan:4: plan 'p' version 'a' charge 'vm': price: '-1' is negative"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1  per = GiB } } }",
	     "p.plan:3: plan 'p' version 'a' charge 'vm': per: 'GiB' is not a unit of this meter (units: vm-minute, "
	     "vm-hour, vm-day"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge ram { price = 1  per = GiB-month } } }",
	     "per: 'GiB-month': a month is 40,320 to 44,640 minutes"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n to = 2026-08-01\n charge vm { price = 1  per = "
	     "vm-hour } }\n version b { from = 2026-07-01\n charge vm { price = 2  per = vm-hour } } }",
	     "p.plan:5: plan 'p': version 'b' starts before version 'a' (line 2) ends: the dates overlap"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1  per = vm-hour } }\n "
	     "version b { from = 2026-01-01\n charge vm { price = 2  per = vm-hour } } }",
	     "p.plan:4: plan 'p': version 'b' starts when version 'a' (line 2) does"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1  per = vm-hour } }\n "
	     "version a { from = 2026-02-01\n charge vm { price = 2  per = vm-hour } } }",
	     "p.plan:4: plan 'p': version 'a' is given twice (first on line 2)"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1  per = vm-hour } }\n "
	     "version b { from = 2026-02-01T00:00Z\n charge vm { price = 2  per = vm-hour } } }",
	     "p.plan:4: plan 'p': version 'b': its from is a UTC minute and version 'a''s (line 2) a date"},
	    {"plan p { currency = EUR\n version a { from = 2026-02-30\n charge vm { price = 1  per = vm-hour } } }",
	     "p.plan:2: plan 'p' version 'a': from: '2026-02-30' is not a date"},
	    {"plan p { currency = EUR\n version a { from = 2026-02-01T10:00:30Z\n charge vm { price = 1  per = vm-hour "
	     "} } "
	     "}",
	     "from: '2026-02-01T10:00:30Z' is not on a minute"},
	    {"plan p { currency = EUR\n version a { from = 2026-02-01\n to = 2026-01-01\n charge vm { price = 1  per = "
	     "vm-hour } } }",
	     "p.plan:3: plan 'p' version 'a': to: '2026-01-01' is not after from '2026-02-01'"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1  per = vm-hour }\n "
	     "charge "
	     "vm { price = 2  per = vm-hour } } }",
	     "p.plan:4: plan 'p' version 'a': charge 'vm' is given twice (first on line 3)"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1\n price = 2  per = "
	     "vm-hour "
	     "} } }",
	     "p.plan:4: plan 'p' version 'a' charge 'vm': 'price' is given twice (first on line 3)"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { prize = 1  per = vm-hour } } }",
	     "p.plan:3: plan 'p' version 'a' charge 'vm': unknown option 'prize' (known here: model, price, per"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { per = vm-hour } } }",
	     "p.plan:3: plan 'p' version 'a' charge 'vm': 'price' must be given"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { model = graduated  per = vm-hour\n "
	     "tier { up-to = 10  price = 1 }\n tier { up-to = 5  price = 0 }\n tier { price = 0 } } } }",
	     "p.plan:5: plan 'p' version 'a' charge 'vm': tier: up-to must grow from tier to tier (line 4"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { model = volume  per = vm-hour\n "
	     "tier { up-to = 10  price = 1 } } } }",
	     "p.plan:3: plan 'p' version 'a' charge 'vm': a volume charge needs tiers, the last without 'up-to'"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { model = volume  per = vm-hour\n "
	     "tier { price = 1 }\n tier { price = 0 } } } }",
	     "p.plan:5: plan 'p' version 'a' charge 'vm': tier: comes after the tier without 'up-to' (line 4)"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1  per = vm-hour\n tier { "
	     "price = 1 } } } }",
	     "p.plan:4: plan 'p' version 'a' charge 'vm': tier: only graduated and volume charges have tiers"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { model = flat  price = 1  per = "
	     "vm-hour "
	     "} } }",
	     "model: must be \"per-unit\", \"graduated\", \"volume\" or \"package\", got 'flat'"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge cpu { price = 1  per = core-hour  time "
	     "= "
	     "defined } } }",
	     "time: only time-based meters"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge net.dmz.rx { price = 1  per = GiB } } }",
	     "p.plan:3: plan 'p' version 'a' charge 'net.dmz.rx': no traffic class 'dmz' in the configuration"},
	    {"plan p { currency = EUR\n rounding = bankers\n version a { from = 2026-01-01\n charge vm { price = 1  "
	     "per = "
	     "vm-hour } } }",
	     "p.plan:2: plan 'p': rounding: must be \"half-up\""},
	    {"plan p { currency = EUR }", "p.plan:1: plan 'p': 'version' must be given"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01 } }",
	     "p.plan:2: plan 'p' version 'a': a version without a charge prices nothing"},
	    {"plan \"p q\" { currency = EUR }", "p.plan:1: plan 'p q': the title must be 1 to 63 letters"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1.0000000001  per = "
	     "vm-hour } "
	     "} }",
	     "price: '1.0000000001' has more than 9 decimals"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1  per = \"0 vm-hour\" } } "
	     "}",
	     "per: '0 vm-hour': a count before the unit must be a positive integer"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1  per = vm-hour\n "
	     "host-class "
	     "{ } } } }",
	     "p.plan:4: plan 'p' version 'a' charge 'vm': 'host-class' must be an option"},
	    {"price = 1\n",
	     "p.plan:1: 'price': a plan file holds plan, tenant, host-class, pool and grid \"NAME\" { } sections"},
	    {"tenant t { currency = EUR  time-zone = Mars/Olympus  showback = true }",
	     "p.plan:1: tenant 't': time-zone: 'Mars/Olympus' is not a time zone tzdata knows"},
	    {"tenant t { currency = EUR  time-zone = ../../etc/passwd  showback = true }",
	     "time-zone: '../../etc/passwd' is not a time zone"},
	    {"tenant t { currency = EUR  time-zone = UTC }",
	     "p.plan:1: tenant 't': an invoiced tenant needs a plan: add assign"},
	    {"tenant t { currency = EUR  time-zone = UTC  showback = yes }",
	     "showback: must be \"false\", \"true\" or \"costs\", got 'yes'"},
	    {"tenant t { currency = EUR  time-zone = UTC\n assign p { from = 2026-01-01 }\n assign q { from = "
	     "2026-06-01 "
	     "} }",
	     "p.plan:3: tenant 't': assign 'q' overlaps assign 'p' (line 2): one plan at a time"},
	    {"tenant t { currency = EUR  time-zone = UTC\n assign p { project = x  from = 2026-01-01  to = 2026-07-01 "
	     "}\n "
	     "assign q { project = x  from = 2026-06-01 } }",
	     "p.plan:3: tenant 't': assign 'q' of project x overlaps assign 'p' (line 2)"},
	    {"tenant t { currency = EUR  time-zone = UTC\n assign { from = 2026-01-01 } }",
	     "p.plan:2: tenant 't' assign '': an assignment names its plan"},
	    {"tenant t { currency = EUR  time-zone = UTC  showback = true }\ntenant t { currency = EUR  time-zone = "
	     "UTC  "
	     "showback = true }",
	     "p.plan:2: tenant 't' is defined twice (first in p.plan:1)"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1  per = vm-hour } }\n",
	     "p.plan:4: section 'plan' opened on line 1 is not closed"},
	};
	char err[512];
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct bill_catalog *c = load(bad[i].text, err, sizeof err);
		if (c)
			fail_msg("case %zu accepted", i);
		if (!strstr(err, bad[i].says))
			fail_msg("case %zu: \"%s\"\n  does not say \"%s\"", i, err, bad[i].says);
	}
}

/* References across files: checked once all are read; a file that fails
 * leaves the catalog as it was. */
static void test_catalog(void **state)
{
	(void)state;
	char err[512];
	struct bill_catalog *c = bill_catalog_new();
	const char *plans = "plan std { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1  per = "
	                    "vm-hour } } }\n";
	const char *tenants = "tenant t { currency = USD  time-zone = UTC\n assign std { from = 2026-01-01 } }\n"
	                      "tenant u { currency = EUR  time-zone = UTC\n assign nope { from = 2026-01-01 } }\n";
	assert_int_equal(bill_catalog_parse(c, "t.plan", tenants, strlen(tenants), err, sizeof err), 0);
	assert_int_equal(bill_catalog_check(c, err, sizeof err), -1);
	assert_non_null(strstr(err, "t.plan:2: tenant 't' assign 'std': no such plan"));
	assert_int_equal(bill_catalog_parse(c, "p.plan", plans, strlen(plans), err, sizeof err), 0);
	assert_int_equal(bill_catalog_check(c, err, sizeof err), -1);
	assert_non_null(
	    strstr(err, "t.plan:2: tenant 't' assign 'std': the plan is in EUR (p.plan:1), the tenant pays in USD"));
	/* a second definition in another file, and a bad file: nothing of them stays */
	const char *again =
	    "plan extra { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1  per = "
	    "vm-hour } } }\nplan std { currency = EUR\n version a { from = 2026-01-01\n charge vm { price "
	    "= 1  per = vm-hour } } }\n";
	assert_int_equal(bill_catalog_parse(c, "q.plan", again, strlen(again), err, sizeof err), -1);
	assert_non_null(strstr(err, "q.plan:4: plan 'std' is defined twice (first in p.plan:1)"));
	size_t n;
	bill_catalog_plans(c, &n);
	assert_int_equal(n, 1);
	assert_null(bill_catalog_plan(c, "extra"));
	bill_catalog_tenants(c, &n);
	assert_int_equal(n, 2);
	assert_int_equal(bill_catalog_load(c, "/nonexistent/x.plan", err, sizeof err), -1);
	assert_non_null(strstr(err, "/nonexistent/x.plan: No such file"));
	bill_catalog_free(c);
}

/* Host classes and cost pools: which host is in which, the month's cost
 * of the costs in force, and bad pools named. */
static void test_pools(void **state)
{
	(void)state;
	char err[512];
	const char *text = "host-class gpu { hosts = \"gpu-* ml-??\" }\n"
	                   "host-class std { hosts = \"hv-*\" }\n"
	                   "pool gpus { currency = EUR  host-class = gpu  split = max  idle = spread\n"
	                   "  cost amortisation { month = 1000.00  to = 2027-01-01 }\n"
	                   "  cost power { month = 120.50  from = 2026-06-01 } }\n"
	                   "pool rack { currency = EUR  hosts = \"hv-1 hv-2\"  time-zone = Europe/Berlin\n"
	                   "  cost all { month = 300 } }\n";
	struct bill_catalog *c = load(text, err, sizeof err);
	assert_non_null(c);
	assert_int_equal(bill_catalog_check(c, err, sizeof err), 0);
	assert_string_equal(bill_catalog_class_of(c, "gpu-7"), "gpu");
	assert_string_equal(bill_catalog_class_of(c, "ml-01"), "gpu");
	assert_null(bill_catalog_class_of(c, "ml-001"));
	assert_string_equal(bill_catalog_class_of(c, "hv-9"), "std");
	const struct bill_pool_def *p = bill_catalog_pool_of(c, "gpu-1");
	assert_non_null(p);
	assert_string_equal(p->name, "gpus");
	assert_int_equal(p->split, BILL_POOL_MAX);
	assert_true(p->spread_idle);
	assert_string_equal(p->time_zone, "UTC");
	/* 2026-05-01 is day 20574: amortisation only; 2026-06-01 both; 2027-01-01 power only */
	assert_int_equal(bill_pool_month_cost(p, 20574).n, INT64_C(1000000000000));
	assert_int_equal(bill_pool_month_cost(p, 20605).n, INT64_C(1120500000000));
	assert_int_equal(bill_pool_month_cost(p, 20819).n, INT64_C(120500000000));
	p = bill_catalog_pool_of(c, "hv-2");
	assert_non_null(p);
	assert_string_equal(p->name, "rack");
	assert_string_equal(p->time_zone, "Europe/Berlin");
	assert_false(p->spread_idle);
	assert_null(bill_catalog_pool_of(c, "hv-3"));
	bill_catalog_free(c);

	static const struct {
		const char *text, *says;
	} bad[] = {
	    {"pool p { currency = EUR\n cost a { month = 1 } }",
	     "p.plan:1: pool 'p': a pool takes its hosts by 'host-class' or by 'hosts'"},
	    {"pool p { currency = EUR  hosts = \"a\"\n cost a { month = 1.005 } }",
	     "p.plan:2: pool 'p' cost 'a': month: '1.005' has more decimals than EUR's 2"},
	    {"pool p { currency = EUR  hosts = \"a\"\n cost a { month = -1 } }",
	     "p.plan:2: pool 'p' cost 'a': month: '-1' is negative"},
	    {"pool p { currency = EUR  hosts = \"a\"\n split = fair\n cost a { month = 1 } }",
	     "p.plan:2: pool 'p': split: must be \"allocation\", \"use\" or \"max\", got 'fair'"},
	    {"pool p { currency = EUR  hosts = \"a\"\n cost a { month = 1  from = 2026-01-01T10:00Z } }",
	     "a cost is in force for whole months: give dates"},
	    {"pool p { currency = EUR  hosts = \"  \"\n cost a { month = 1 } }",
	     "p.plan:1: pool 'p': hosts: name at least one host name or glob"},
	    {"pool p { currency = EUR  hosts = \"a\" }", "p.plan:1: pool 'p': 'cost' must be given"},
	    {"host-class g { hosts = \"a\" }\nhost-class g { hosts = \"b\" }",
	     "p.plan:2: host-class 'g' is defined twice (first in p.plan:1)"},
	    {"rack r { }", "p.plan:1: 'rack': a plan file holds plan, tenant, host-class, pool and grid"},
	    {"host-class g { hosts = a\n max-power = 100 }", "p.plan:2: host-class 'g': a power model needs both"},
	    {"host-class g { hosts = a  idle-power = \"200 W\"\n max-power = \"0.1 kW\" }",
	     "p.plan:2: host-class 'g': max-power: '0.1 kW' is below idle-power '200 W'"},
	    {"host-class g { hosts = a  idle-power = -5  max-power = 10 }", "idle-power: '-5' is not a number"},
	    {"host-class g { hosts = a  idle-power = \"5 MW\"  max-power = 10 }", "in W, kW"},
	    {"grid de { }", "p.plan:1: grid 'de': 'intensity' must be given"},
	    {"grid de { intensity = \"300 g/MWh\" }", "intensity: '300 g/MWh' is not a number"},
	    {"grid de { intensity = 1 }\ngrid de { intensity = 2 }", "p.plan:2: grid 'de' is defined twice"},
	    {"plan p { currency = EUR\n version a { from = 2026-01-01\n charge carbon { price = 1  per = kWh } } }",
	     "p.plan:3: plan 'p' version 'a' charge 'carbon': per"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		c = load(bad[i].text, err, sizeof err);
		if (c || !strstr(err, bad[i].says))
			fail_msg("case %zu: got '%s', want '%s'", i, err, bad[i].says);
	}
	c = load("plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1  per = vm-hour "
	         "host-class = nope } } }",
	         err, sizeof err);
	assert_non_null(c);
	assert_int_equal(bill_catalog_check(c, err, sizeof err), -1);
	assert_non_null(strstr(err, "p.plan:3: plan 'p' version 'a' charge 'vm': host-class 'nope' is not defined"));
	bill_catalog_free(c);
	c = load("pool p { currency = EUR  host-class = nope\n cost a { month = 1 } }", err, sizeof err);
	assert_non_null(c);
	assert_int_equal(bill_catalog_check(c, err, sizeof err), -1);
	assert_non_null(strstr(err, "p.plan:1: pool 'p': host-class 'nope' is not defined"));
	bill_catalog_free(c);
	c = load("host-class h { hosts = a\n grid = nope }", err, sizeof err);
	assert_non_null(c);
	assert_int_equal(bill_catalog_check(c, err, sizeof err), -1);
	assert_non_null(strstr(err, "p.plan:2: host-class 'h': grid 'nope' is not defined"));
	bill_catalog_free(c);
}

/* Power models and grids in thousandths: milliwatts, mg per kWh. */
static void test_energy(void **state)
{
	(void)state;
	char err[512];
	struct bill_catalog *c =
	    load("host-class h { hosts = a  idle-power = \"85.5 W\"  max-power = \"1.25 kW\"  grid = de }\n"
	         "grid de { intensity = \"380.125 g/kWh\" }\n"
	         "plan p { currency = EUR\n version a { from = 2026-01-01\n"
	         " charge carbon { price = 80  per = t }\n charge energy { price = 0.3  per = kWh } } }",
	         err, sizeof err);
	if (!c)
		fail_msg("%s", err);
	assert_int_equal(bill_catalog_check(c, err, sizeof err), 0);
	const struct bill_host_class *h = bill_catalog_host_class(c, "h");
	assert_non_null(h);
	assert_true(h->power);
	assert_int_equal(h->idle_mw, 85500);
	assert_int_equal(h->max_mw, 1250000);
	assert_string_equal(h->grid, "de");
	assert_int_equal(bill_catalog_grid(c, "de")->mg_per_kwh, 380125);
	assert_null(bill_catalog_grid(c, "fr"));
	const struct bill_charge *ch = bill_catalog_plan(c, "p")->versions[0].charges;
	assert_int_equal(ch[0].meter, BILL_CARBON);
	assert_int_equal(ch[0].per, 1000000000);
	assert_int_equal(ch[1].meter, BILL_ENERGY);
	assert_int_equal(ch[1].per, 3600000);
	bill_catalog_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),    cmocka_unit_test(test_when),  cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_catalog), cmocka_unit_test(test_pools), cmocka_unit_test(test_energy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
