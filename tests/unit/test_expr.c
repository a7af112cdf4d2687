/* aggregator/expr: conditions parsed and evaluated in three-valued logic
 * against a table of values, the queries they make, and every kind of bad
 * condition refused with file:line:column. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

#define MIN INT64_C(60000000000)

static const char *const names[] = {"vm.cpu.alloc_pct", "vm.vcpu.delay_pct", "host.cpu.demand_pct", "vm.up",
                                    "vm.net.tx_bytes"};
static const struct agg_metric_table metrics = {names, 5};

/* The data: a value per (metric, fn), NaN-free; `bad` marks a metric
 * whose windows cannot be trusted.  Records what was asked. */
struct data {
	double v[5][7];
	bool bad[5];
	int asked;
	struct agg_query last;
};

static int lookup(void *ctx, const struct agg_query *q, double *value)
{
	struct data *d = ctx;
	d->asked++;
	d->last = *q;
	if (d->bad[q->metric])
		return -1;
	*value = d->v[q->metric][q->fn];
	return 0;
}

static int eval(const char *text, struct data *d)
{
	char err[256];
	struct agg_expr *e = agg_expr_parse(text, &metrics, "r.conf", 7, err, sizeof err);
	if (!e)
		fail_msg("'%s': %s", text, err);
	int r = agg_expr_eval(e, lookup, d);
	agg_expr_free(e);
	return r;
}

static void test_eval(void **state)
{
	(void)state;
	struct data d = {0};
	d.v[0][AGG_FN_AVG] = 95;
	d.v[1][AGG_FN_MAX] = 12.5;
	d.v[2][AGG_FN_PCT] = 70;
	d.v[3][AGG_FN_LAST] = 1;
	d.v[4][AGG_FN_SUM] = 7200e6;
	assert_int_equal(eval("avg(vm.cpu.alloc_pct, 15m) > 90", &d), 1);
	assert_int_equal(d.last.fn, AGG_FN_AVG);
	assert_int_equal(d.last.window_ns, 15 * MIN);
	assert_int_equal(eval("avg(vm.cpu.alloc_pct, 15m) > 90 and max(vm.vcpu.delay_pct, 5m) >= 12.5", &d), 1);
	assert_int_equal(eval("avg(vm.cpu.alloc_pct,15m)>90 and max(vm.vcpu.delay_pct,5m)>12.5", &d), 0);
	assert_int_equal(eval("p95(host.cpu.demand_pct, 1h) > 80 or not last(vm.up) == 1", &d), 0);
	assert_int_equal(d.last.fn, AGG_FN_LAST);
	assert_int_equal(eval("p95(host.cpu.demand_pct, 1h) <= 70", &d), 1);
	assert_int_equal(d.last.pct, 95);
	assert_int_equal(d.last.window_ns, 60 * MIN);
	assert_int_equal(eval("vm.up != 0", &d), 1); /* a bare metric: its last value */
	assert_int_equal(eval("sum(vm.net.tx_bytes, 1h) / 3600 > 1999999", &d), 1);
	assert_int_equal(eval("(sum(vm.net.tx_bytes, 2d) / 3600) * 2 - 1 <= 4000000 - 1", &d), 1);
	assert_int_equal(eval("-vm.up < 0 and 2 * (3 + 4) == 14", &d), 1);
	assert_int_equal(eval("not (vm.up == 1 or vm.up == 2)", &d), 0);
	assert_int_equal(eval("count(vm.up, 30s) == 0", &d), 1);
	/* division by zero: unknown, not true nor false */
	assert_int_equal(eval("vm.up / 0 > 1", &d), -1);
}

/* Untrusted windows make a comparison unknown; and / or settle what they
 * can without them. */
static void test_unknown(void **state)
{
	(void)state;
	struct data d = {0};
	d.v[0][AGG_FN_AVG] = 95;
	d.bad[1] = true;
	assert_int_equal(eval("max(vm.vcpu.delay_pct, 5m) > 10", &d), -1);
	assert_int_equal(eval("not max(vm.vcpu.delay_pct, 5m) > 10", &d), -1);
	assert_int_equal(eval("avg(vm.cpu.alloc_pct, 5m) > 90 and max(vm.vcpu.delay_pct, 5m) > 10", &d), -1);
	assert_int_equal(eval("avg(vm.cpu.alloc_pct, 5m) < 90 and max(vm.vcpu.delay_pct, 5m) > 10", &d), 0);
	assert_int_equal(eval("max(vm.vcpu.delay_pct, 5m) > 10 and avg(vm.cpu.alloc_pct, 5m) < 90", &d), 0);
	assert_int_equal(eval("avg(vm.cpu.alloc_pct, 5m) > 90 or max(vm.vcpu.delay_pct, 5m) > 10", &d), 1);
	assert_int_equal(eval("max(vm.vcpu.delay_pct, 5m) > 10 or avg(vm.cpu.alloc_pct, 5m) > 90", &d), 1);
	assert_int_equal(eval("max(vm.vcpu.delay_pct, 5m) > 10 or avg(vm.cpu.alloc_pct, 5m) < 90", &d), -1);
	/* and stops at a false: the second query is not even asked */
	d.asked = 0;
	assert_int_equal(eval("vm.up > 1 and max(vm.vcpu.delay_pct, 5m) > 10", &d), 0);
	assert_int_equal(d.asked, 1);
}

static void test_queries(void **state)
{
	(void)state;
	char err[256];
	struct agg_expr *e = agg_expr_parse(
	    "avg(vm.cpu.alloc_pct, 5m) > 90 and avg(vm.cpu.alloc_pct, 5m) < 99 or avg(vm.cpu.alloc_pct, 10m) > 1 "
	    "and p50(vm.up, 1h) > 0",
	    &metrics, "r.conf", 1, err, sizeof err);
	assert_non_null(e);
	struct agg_query q[8];
	assert_int_equal(agg_expr_queries(e, q, 8), 3);
	assert_int_equal(q[0].metric, 0);
	assert_int_equal(q[0].window_ns, 5 * MIN);
	assert_int_equal(q[1].window_ns, 10 * MIN);
	assert_int_equal(q[2].fn, AGG_FN_PCT);
	assert_int_equal(q[2].pct, 50);
	assert_int_equal(agg_expr_queries(e, q, 1), 3); /* how many there are, even past max */
	agg_expr_free(e);
	assert_string_equal(agg_fn_name(AGG_FN_COUNT), "count");
	assert_null(agg_fn_name((enum agg_fn)42));
}

static void test_bad(void **state)
{
	(void)state;
	static const struct {
		const char *text, *says;
	} bad[] = {
	    {"avg(vm.cpu.alloc_pc, 5m) > 1",
	     "r.conf:7:5: unknown metric 'vm.cpu.alloc_pc' (metrics: vm.cpu.alloc_pct,"},
	    {"mean(vm.up, 5m) > 1", "r.conf:7:1: unknown function 'mean' (functions: avg, min, max, last"},
	    {"p100(vm.up, 5m) > 1", "r.conf:7:1: unknown function 'p100'"},
	    {"p0(vm.up, 5m) > 1", "unknown function 'p0'"},
	    {"avg(vm.up, 5) > 1", "r.conf:7:12: avg(): the window must be a whole number of s, m, h or d"},
	    {"avg(vm.up, 5w) > 1", "avg(): the window must be"},
	    {"avg(vm.up, 0m) > 1", "avg(): the window must be"},
	    {"avg(vm.up, 1.5h) > 1", "avg(): the window must be"},
	    {"avg(vm.up, 400d) > 1", "avg(): a window of more than a year"},
	    {"avg(vm.up) > 1", "r.conf:7:10: avg(): expected ',' and a window (avg(vm.up, 5m))"},
	    {"avg(vm.up, 5m > 1", "r.conf:7:15: avg(): expected ')', got '>'"},
	    {"avg(5m) > 1", "r.conf:7:5: avg(): expected a metric, got '5m'"},
	    {"avg(vm.up, 5m)", "r.conf:7:1: a condition compares (avg(m, 5m) > 90): this is a number"},
	    {"vm.up > 1 and 2", "r.conf:7:11: 'and' joins comparisons"},
	    {"vm.up + (vm.up > 1) > 0", "r.conf:7:7: '+' between a comparison and a number"},
	    {"1 < vm.up < 3", "r.conf:7:11: comparisons do not chain"},
	    {"vm.up > 1 vm.up", "r.conf:7:11: expected 'and', 'or', a comparison or the end, got 'vm.up'"},
	    {"(vm.up > 1", "r.conf:7:11: expected ')' (for the '(' at column 1), got the end of the condition"},
	    {"vm.up > 5%", "r.conf:7:10: expected 'and', 'or', a comparison or the end, got '%'"},
	    {"vm.up > 5k", "r.conf:7:10: a number with a unit outside a window ('k')"},
	    {"not vm.up", "r.conf:7:1: 'not' before a number"},
	    {"", "r.conf:7:1: expected a number, a metric, a function or '(', got the end of the condition"},
	    {"vm.up > ", "r.conf:7:9: expected a number, a metric"},
	    {"vm.up > and", "r.conf:7:9: expected a number, a metric, a function or '(', got 'and'"},
	    {"-(vm.up > 1) > 0", "'-' before a comparison"},
	};
	char err[256];
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err[0] = '\0';
		struct agg_expr *e = agg_expr_parse(bad[i].text, &metrics, "r.conf", 7, err, sizeof err);
		if (e)
			fail_msg("'%s' accepted", bad[i].text);
		if (!strstr(err, bad[i].says))
			fail_msg("'%s': \"%s\"\n  does not say \"%s\"", bad[i].text, err, bad[i].says);
	}
	/* depth and size limits */
	char deep[200];
	memset(deep, '(', 100);
	strcpy(deep + 100, "vm.up > 1");
	assert_null(agg_expr_parse(deep, &metrics, "r.conf", 1, err, sizeof err));
	assert_non_null(strstr(err, "nested deeper than"));
	char big[4000] = "vm.up > 0";
	for (int i = 0; i < 200; i++)
		strcat(big, " and vm.up > 0");
	assert_null(agg_expr_parse(big, &metrics, "r.conf", 1, err, sizeof err));
	assert_non_null(strstr(err, "a condition of more than 256 terms"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_eval),
	    cmocka_unit_test(test_unknown),
	    cmocka_unit_test(test_queries),
	    cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
