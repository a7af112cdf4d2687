/* web/series: the graph endpoints' query strings (every refusal names its
 * parameter), where the points come from, and the JSON answer. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "series.h"

#define NOW INT64_C(1800000000)

static int parse(enum web_series_kind kind, const char *qs, struct web_series_req *r, char *err, size_t errsize)
{
	struct web_query *q = web_query_parse(qs, web_series_params, err, errsize);
	assert_non_null(q);
	int rc = web_series_parse(kind, q, NOW, r, err, errsize);
	web_query_free(q);
	return rc;
}

static void defaults_and_ranges(void **state)
{
	(void)state;
	struct web_series_req r;
	char err[256] = "";
	assert_int_equal(parse(WEB_SERIES_VM, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.from_s, NOW - 3600);
	assert_int_equal(r.to_s, NOW);
	assert_false(r.max);
	assert_true(r.rrd);
	assert_int_equal(r.step_s, 5); /* 3600 / 720 */
	assert_int_equal(r.metrics, (1u << web_series_n_metrics(WEB_SERIES_VM)) - 1);
	assert_int_equal(parse(WEB_SERIES_VM, "from=-7d&cf=MAX&metrics=cpu_alloc_pct,net_class", &r, err, sizeof err),
	                 0);
	assert_int_equal(r.from_s, NOW - 7 * 86400);
	assert_true(r.max);
	assert_false(r.rrd);
	assert_int_equal(r.step_s, 3600);
	assert_int_equal(r.metrics, 1u | (1u << web_series_class_metric()));
	assert_int_equal(parse(WEB_SERIES_VM, "from=-90d", &r, err, sizeof err), 0);
	assert_int_equal(r.step_s, 86400);
	assert_int_equal(parse(WEB_SERIES_HOST, "from=1799990000&to=1799999000&source=rollup", &r, err, sizeof err), 0);
	assert_int_equal(r.from_s, 1799990000);
	assert_int_equal(r.to_s, 1799999000);
	assert_false(r.rrd);
	/* 48 h is the RRD files' by default; from 35 days ago it is not */
	assert_int_equal(parse(WEB_SERIES_VM, "from=-48h", &r, err, sizeof err), 0);
	assert_true(r.rrd);
	assert_int_equal(parse(WEB_SERIES_VM, "from=-40d&to=-39d", &r, err, sizeof err), 0);
	assert_false(r.rrd);
	assert_int_equal(parse(WEB_SERIES_VM, "from=-40d&to=-39d&source=rrd", &r, err, sizeof err), 0);
	assert_true(r.rrd);
}

static void refused(void **state)
{
	(void)state;
	static const struct {
		enum web_series_kind kind;
		const char *qs, *err;
	} cases[] = {
	    {WEB_SERIES_VM, "from=-1h&to=-2h", "from: 1799996400 is not before to (1799992800)"},
	    {WEB_SERIES_VM, "from=now&to=now", "from: 1800000000 is not before to (1800000000)"},
	    {WEB_SERIES_VM, "from=-401d", "from: the range from 1765353600 to 1800000000 is over 400 days"},
	    {WEB_SERIES_VM, "to=1800007201", "to: 1800007201 is more than an hour in the future"},
	    {WEB_SERIES_VM, "from=yesterday",
	     "from: 'yesterday' is neither now, epoch seconds nor -N with s, m, h or d (-24h)"},
	    {WEB_SERIES_VM, "from=-1w", "from: '-1w' is not -N with N 1 to 100000 and a unit s, m, h or d"},
	    {WEB_SERIES_VM, "from=-0h", "from: '-0h' is not -N with N 1 to 100000 and a unit s, m, h or d"},
	    {WEB_SERIES_VM, "from=-1hh", "from: '-1hh' is not -N with N 1 to 100000 and a unit s, m, h or d"},
	    {WEB_SERIES_VM, "to=12x", "to: '12x' is not epoch seconds"},
	    {WEB_SERIES_VM, "from=123456789012",
	     "from: '123456789012' is neither now, epoch seconds nor -N with s, m, h or d (-24h)"},
	    {WEB_SERIES_VM, "cf=MIN", "cf: 'MIN' is neither AVERAGE nor MAX"},
	    {WEB_SERIES_VM, "metrics=cpu_alloc_pct,bogus", "metrics: unknown metric 'bogus' for a VM"},
	    {WEB_SERIES_HOST, "metrics=cpu_alloc_pct", "metrics: unknown metric 'cpu_alloc_pct' for a host"},
	    {WEB_SERIES_VM, "metrics=,", "metrics: no metric named"},
	    {WEB_SERIES_VM, "source=disk", "source: 'disk' is none of auto, rrd, rollup"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct web_series_req r;
		char err[256] = "";
		assert_int_equal(parse(cases[i].kind, cases[i].qs, &r, err, sizeof err), -1);
		assert_string_equal(err, cases[i].err);
	}
}

static void json_answer(void **state)
{
	(void)state;
	struct web_series_req r;
	char err[256];
	assert_int_equal(parse(WEB_SERIES_VM, "from=-2m&metrics=cpu_alloc_pct", &r, err, sizeof err), 0);
	int64_t t[2] = {NOW - 120, NOW - 60};
	double v[2] = {12.5, NAN};
	char *names[1] = {(char *)"cpu_alloc_pct"};
	const char *units[1] = {"%"};
	struct web_series s = {
	    .step_s = 60, .source = "rrd", .n = 2, .t = t, .n_series = 1, .names = names, .units = units, .v = v};
	char *text = web_series_json(&r, "{\"name\":\"web1\"}", &s);
	assert_string_equal(text, "{\"subject\":{\"name\":\"web1\"},\"from\":1799999880,\"to\":1800000000,\"step\":60,"
	                          "\"source\":\"rrd\",\"cf\":\"AVERAGE\",\"t\":[1799999880,1799999940],"
	                          "\"series\":{\"cpu_alloc_pct\":[12.5,null]},\"units\":{\"cpu_alloc_pct\":\"%\"}}");
	free(text);
}

static const char *num(double v)
{
	static char buf[40];
	buf[web_series_number(buf, v)] = '\0';
	return buf;
}

/* The numbers of an answer: what %.6g gives, in fixed notation, and
 * within one unit of the sixth digit of printf's exact rounding for any
 * value (a pseudo-random sweep over 20 decades). */
static void numbers(void **state)
{
	(void)state;
	assert_string_equal(num(NAN), "null");
	assert_string_equal(num(INFINITY), "null");
	assert_string_equal(num(-INFINITY), "null");
	assert_string_equal(num(0), "0");
	assert_string_equal(num(-0.0), "0");
	assert_string_equal(num(42), "42");
	assert_string_equal(num(-7), "-7");
	assert_string_equal(num(123456789012345.0), "123456789012345");
	assert_string_equal(num(12.5), "12.5");
	assert_string_equal(num(0.668889), "0.668889");
	assert_string_equal(num(1.0 / 3), "0.333333");
	assert_string_equal(num(-2.0 / 3), "-0.666667");
	assert_string_equal(num(8570.833333), "8570.83");
	assert_string_equal(num(9.999995), "10");
	assert_string_equal(num(99999.96), "100000");
	assert_string_equal(num(1234567.8), "1234570");
	assert_string_equal(num(0.000123456789), "0.000123457");
	assert_string_equal(num(0.00001), "0.00001");
	assert_string_equal(num(0.0000012345), "1.2345e-06");
	assert_string_equal(num(1e300), "1e+300");
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double v = (double)(x >> 11) / 9007199254740992.0 * pow(10, (int)(x % 20) - 5);
		if (x & 1)
			v = -v;
		char want[40];
		snprintf(want, sizeof want, "%.6g", v);
		double a = strtod(num(v), NULL), b = strtod(want, NULL);
		if (fabs(a - b) > fabs(b) * 1.0001e-5)
			fail_msg("%.17g: %s, printf %s", v, num(v), want);
	}
}

/* Half the step, capped by web.graph-cache-ms. */
static void keep_time(void **state)
{
	(void)state;
	struct web_series s = {.step_s = 10};
	assert_int_equal(web_series_keep_ms(&s, 60000), 5000);
	s.step_s = 60;
	assert_int_equal(web_series_keep_ms(&s, 60000), 30000);
	s.step_s = 3600;
	assert_int_equal(web_series_keep_ms(&s, 60000), 60000);
	assert_int_equal(web_series_keep_ms(&s, 0), 0);
	s.step_s = 86400;
	assert_int_equal(web_series_keep_ms(&s, 600000), 600000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(defaults_and_ranges), cmocka_unit_test(refused), cmocka_unit_test(json_answer),
	    cmocka_unit_test(keep_time),           cmocka_unit_test(numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
