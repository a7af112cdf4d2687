/* reports/forecast: linear and seasonal series with known answers, gaps,
 * flat and falling series that never reach a threshold, and refusals. */
#include "config.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"

static uint64_t x = 12345;
/* Deterministic noise, uniform in [-a, a]. */
static double noise(double a)
{
	x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	return ((double)(x % 2000001) / 1000000.0 - 1.0) * a;
}

static void test_exact_line(void **state)
{
	(void)state;
	double y[100];
	for (int i = 0; i < 100; i++)
		y[i] = 10 + 0.5 * i;
	char err[256];
	struct rep_forecast *f = rep_forecast_fit(y, 100, 0, REP_AUTO, err, sizeof err);
	assert_non_null(f);
	assert_int_equal(rep_forecast_method(f), REP_LINEAR);
	assert_true(fabs(rep_forecast_r2(f) - 1) < 1e-12);
	double lo, hi;
	/* step 99 is 59.5; 10 steps later 64.5 */
	assert_true(fabs(rep_forecast_at(f, 10, &lo, &hi) - 64.5) < 1e-9);
	assert_true(hi - lo < 1e-6);
	/* 100 is reached 81 steps after the last point (59.5 + 0.5 h >= 100) */
	double e, l;
	assert_true(fabs(rep_forecast_time_to(f, 100, 1000, &e, &l) - 81) < 1e-9);
	assert_true(e == 81 && l == 81);
	assert_true(rep_forecast_time_to(f, 1000, 100, NULL, NULL) < 0); /* not within the horizon */
	rep_forecast_free(f);
}

static void test_noisy_line(void **state)
{
	(void)state;
	enum { N = 24 * 30 };
	double y[N];
	for (int i = 0; i < N; i++)
		y[i] = 20 + 0.05 * i + noise(3);
	y[100] = y[101] = y[500] = NAN; /* gaps */
	char err[256];
	struct rep_forecast *f = rep_forecast_fit(y, N, 0, REP_LINEAR, err, sizeof err);
	assert_non_null(f);
	double lo, hi, v = rep_forecast_at(f, 240, &lo, &hi);
	double truth = 20 + 0.05 * (N - 1 + 240);
	assert_true(fabs(v - truth) < 1.0);
	assert_true(lo < truth && truth < hi);
	/* uniform noise of +-3 has sigma sqrt(3): the fit finds about that */
	assert_true(fabs(rep_forecast_sigma(f) - sqrt(3.0)) < 0.2);
	assert_true(rep_forecast_r2(f) > 0.9);
	/* 80 is reached when 20 + 0.05 t = 80: t = 1200, 481 steps after the last */
	double e, l, t = rep_forecast_time_to(f, 80, 5000, &e, &l);
	assert_true(fabs(t - 481) <= 20);
	assert_true(e <= t && t <= l);
	rep_forecast_free(f);
}

static void test_never(void **state)
{
	(void)state;
	double flat[50], down[50];
	for (int i = 0; i < 50; i++) {
		flat[i] = 40 + noise(1);
		down[i] = 90 - i * 0.3;
	}
	char err[256];
	struct rep_forecast *f = rep_forecast_fit(flat, 50, 0, REP_AUTO, err, sizeof err);
	assert_true(rep_forecast_time_to(f, 80, 10000, NULL, NULL) < 0);
	rep_forecast_free(f);
	f = rep_forecast_fit(down, 50, 0, REP_AUTO, err, sizeof err);
	assert_true(rep_forecast_time_to(f, 95, 100000, NULL, NULL) < 0);
	/* already above: at once */
	assert_true(rep_forecast_time_to(f, 10, 100, NULL, NULL) == 1);
	rep_forecast_free(f);
}

/* Hourly demand with a daily cycle on a slow trend: Holt-Winters is
 * chosen, and it places the day's peaks where they are. */
static void test_seasonal(void **state)
{
	(void)state;
	enum { N = 24 * 21 };
	double y[N];
	for (int i = 0; i < N; i++)
		y[i] = 50 + 0.02 * i + 15 * sin(2 * M_PI * i / 24.0) + noise(1);
	char err[256];
	struct rep_forecast *f = rep_forecast_fit(y, N, 24, REP_AUTO, err, sizeof err);
	assert_non_null(f);
	assert_int_equal(rep_forecast_method(f), REP_HOLT_WINTERS);
	assert_true(rep_forecast_r2(f) > 0.9);
	for (int h = 1; h <= 48; h++) {
		double truth = 50 + 0.02 * (N - 1 + h) + 15 * sin(2 * M_PI * (N - 1 + h) / 24.0);
		double lo, hi, v = rep_forecast_at(f, h, &lo, &hi);
		if (fabs(v - truth) > 3)
			fail_msg("h %d: %.2f, truth %.2f", h, v, truth);
		assert_true(lo <= v && v <= hi);
	}
	/* the linear fit alone would call it noise around the trend */
	struct rep_forecast *lin = rep_forecast_fit(y, N, 24, REP_LINEAR, err, sizeof err);
	assert_true(rep_forecast_r2(lin) < rep_forecast_r2(f) - 0.3);
	/* the first peak over 90: when 50 + 0.02 t + 15 sin(...) >= 90 */
	int first = -1;
	for (int t = N; first < 0 && t < N + 24 * 200; t++)
		if (50 + 0.02 * t + 15 * sin(2 * M_PI * t / 24.0) >= 90)
			first = t - (N - 1);
	double got = rep_forecast_time_to(f, 90, 24 * 200, NULL, NULL);
	assert_true(got > 0);
	if (fabs(got - first) > 24 * 5)
		fail_msg("time to 90: %.0f steps, truth %d", got, first);
	assert_string_equal(rep_method_name(rep_forecast_method(f)), "holt-winters");
	rep_forecast_free(f);
	rep_forecast_free(lin);
}

static void test_refused(void **state)
{
	(void)state;
	double y[5] = {1, NAN, NAN, NAN, 2};
	char err[256];
	assert_null(rep_forecast_fit(y, 5, 0, REP_AUTO, err, sizeof err));
	assert_non_null(strstr(err, "at least 3 values, got 2 of 5"));
	double z[30] = {0};
	assert_null(rep_forecast_fit(z, 30, 24, REP_HOLT_WINTERS, err, sizeof err));
	assert_non_null(strstr(err, "two whole seasons of data (48 steps for a season of 24, got 30)"));
	/* auto with too little for a season: linear, no error */
	struct rep_forecast *f = rep_forecast_fit(z, 30, 24, REP_AUTO, err, sizeof err);
	assert_int_equal(rep_forecast_method(f), REP_LINEAR);
	rep_forecast_free(f);
	assert_null(rep_method_name((enum rep_method)9));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_line), cmocka_unit_test(test_noisy_line), cmocka_unit_test(test_never),
	    cmocka_unit_test(test_seasonal),   cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
