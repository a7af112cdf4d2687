/* reports/forecast: linear and additive Holt-Winters forecasts with a
 * band, and the time until a threshold (forecast.h). */
#include "config.h"

#include "forecast.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define Z95 1.959964

struct rep_forecast {
	enum rep_method method;
	size_t n;    /* the series' length: forecasts count from its last step */
	size_t used; /* points with data */
	double r2, sigma;
	/* linear */
	double slope, intercept, xbar, sxx;
	/* Holt-Winters */
	size_t period;
	double alpha, beta, gamma, level, trend;
	double *season; /* the last `period` seasonal terms, season[i] for step n - period + i */
};

const char *rep_method_name(enum rep_method m)
{
	static const char *const names[] = {"auto", "linear", "holt-winters"};
	return (unsigned)m < sizeof names / sizeof *names ? names[m] : NULL;
}

static bool fit_linear(struct rep_forecast *f, const double *y, size_t n)
{
	double sx = 0, sy = 0;
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (!isnan(y[i])) {
			sx += (double)i;
			sy += y[i];
			m++;
		}
	f->used = m;
	if (m < 3)
		return false;
	double xbar = sx / (double)m, ybar = sy / (double)m, sxx = 0, sxy = 0, sst = 0;
	for (size_t i = 0; i < n; i++)
		if (!isnan(y[i])) {
			double dx = (double)i - xbar;
			sxx += dx * dx;
			sxy += dx * (y[i] - ybar);
			sst += (y[i] - ybar) * (y[i] - ybar);
		}
	f->slope = sxx > 0 ? sxy / sxx : 0;
	f->intercept = ybar - f->slope * xbar;
	f->xbar = xbar;
	f->sxx = sxx;
	double sse = 0;
	for (size_t i = 0; i < n; i++)
		if (!isnan(y[i])) {
			double e = y[i] - (f->intercept + f->slope * (double)i);
			sse += e * e;
		}
	f->used = m;
	f->sigma = sqrt(sse / (double)(m - 2));
	f->r2 = sst > 0 ? 1 - sse / sst : 1;
	return true;
}

/* One pass of Holt-Winters with given parameters: the one-step SSE from
 * the second season on; the final state into f if keep. */
static double hw_run(const double *y, size_t n, size_t p, double a, double b, double g, struct rep_forecast *f,
                     bool keep, double *sst_out, size_t *count)
{
	double *s = vm_xmalloc(n * sizeof *s);
	/* Initial state from the first two seasons (their means, gaps
	 * skipped): level, trend, and the first season's deviations. */
	double m1 = 0, m2 = 0;
	size_t c1 = 0, c2 = 0;
	for (size_t i = 0; i < p; i++) {
		if (!isnan(y[i]))
			m1 += y[i], c1++;
		if (!isnan(y[p + i]))
			m2 += y[p + i], c2++;
	}
	m1 = c1 ? m1 / (double)c1 : 0;
	m2 = c2 ? m2 / (double)c2 : m1;
	double level = m1, trend = (m2 - m1) / (double)p;
	for (size_t i = 0; i < p; i++)
		s[i] = isnan(y[i]) ? 0 : y[i] - (m1 + trend * ((double)i - (double)(p - 1) / 2));
	level = m1 + trend * (double)(p - 1) / 2; /* the level at the first season's last step */
	double sse = 0, sum = 0, sum2 = 0;
	size_t k = 0;
	for (size_t t = p; t < n; t++) {
		double pred = level + trend + s[t - p];
		double v = isnan(y[t]) ? pred : y[t]; /* a gap: the forecast stands in, changing nothing */
		if (!isnan(y[t])) {
			double e = v - pred;
			sse += e * e;
			sum += v;
			sum2 += v * v;
			k++;
		}
		double prev = level;
		level = a * (v - s[t - p]) + (1 - a) * (level + trend);
		trend = b * (level - prev) + (1 - b) * trend;
		s[t] = g * (v - level) + (1 - g) * s[t - p];
	}
	if (keep) {
		f->level = level;
		f->trend = trend;
		f->season = vm_xmalloc(p * sizeof *f->season);
		memcpy(f->season, s + n - p, p * sizeof *s);
	}
	free(s);
	if (sst_out)
		*sst_out = k ? sum2 - sum * sum / (double)k : 0;
	if (count)
		*count = k;
	return sse;
}

static bool fit_hw(struct rep_forecast *f, const double *y, size_t n, size_t p)
{
	static const double as[] = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
	static const double bs[] = {0.0, 0.01, 0.05, 0.1, 0.2};
	static const double gs[] = {0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9};
	double best = INFINITY, ba = 0, bb = 0, bg = 0;
	for (size_t i = 0; i < sizeof as / sizeof *as; i++)
		for (size_t j = 0; j < sizeof bs / sizeof *bs; j++)
			for (size_t k = 0; k < sizeof gs / sizeof *gs; k++) {
				double sse = hw_run(y, n, p, as[i], bs[j], gs[k], NULL, false, NULL, NULL);
				if (sse < best) {
					best = sse;
					ba = as[i], bb = bs[j], bg = gs[k];
				}
			}
	double sst;
	size_t k;
	double sse = hw_run(y, n, p, ba, bb, bg, f, true, &sst, &k);
	if (k < 3) {
		free(f->season);
		f->season = NULL;
		return false;
	}
	f->alpha = ba, f->beta = bb, f->gamma = bg;
	f->period = p;
	f->sigma = sqrt(sse / (double)(k - 1));
	f->r2 = sst > 0 ? 1 - sse / sst : 1;
	f->used = k;
	return true;
}

struct rep_forecast *rep_forecast_fit(const double *y, size_t n, size_t period, enum rep_method method, char *err,
                                      size_t errsize)
{
	struct rep_forecast *f = vm_xcalloc(1, sizeof *f);
	f->n = n;
	if (method == REP_HOLT_WINTERS && (period < 2 || n < 2 * period)) {
		snprintf(err, errsize,
		         "Holt-Winters needs a season of at least 2 steps and two whole seasons of data (%zu steps "
		         "for a season of %zu, got %zu)",
		         2 * period, period, n);
		free(f);
		return NULL;
	}
	if (method != REP_HOLT_WINTERS && !fit_linear(f, y, n)) {
		snprintf(err, errsize, "a forecast needs at least 3 values, got %zu of %zu steps with data", f->used,
		         n);
		free(f);
		return NULL;
	}
	f->method = REP_LINEAR;
	bool try_hw = method == REP_HOLT_WINTERS || (method == REP_AUTO && period >= 2 && n >= 2 * period);
	if (!try_hw)
		return f;
	struct rep_forecast hw = *f;
	if (!fit_hw(&hw, y, n, period)) {
		if (method == REP_HOLT_WINTERS) {
			snprintf(err, errsize, "Holt-Winters: fewer than 3 values after the first season");
			free(f);
			return NULL;
		}
		return f;
	}
	/* Auto: the season must explain clearly more than the trend does. */
	if (method == REP_HOLT_WINTERS || hw.r2 > f->r2 + 0.05) {
		hw.method = REP_HOLT_WINTERS;
		*f = hw;
	} else {
		free(hw.season);
	}
	return f;
}

void rep_forecast_free(struct rep_forecast *f)
{
	if (!f)
		return;
	free(f->season);
	free(f);
}

enum rep_method rep_forecast_method(const struct rep_forecast *f)
{
	return f->method;
}

double rep_forecast_r2(const struct rep_forecast *f)
{
	return f->r2;
}

double rep_forecast_sigma(const struct rep_forecast *f)
{
	return f->sigma;
}

/* The error of step j ahead of an ETS(A,A,A) model carries
 * alpha (1 + j beta), plus gamma once a season. */
static double hw_c(const struct rep_forecast *f, size_t j)
{
	return f->alpha * (1 + (double)j * f->beta) + (j % f->period == 0 ? f->gamma : 0);
}

/* The forecast h steps ahead and its band; var: Holt-Winters' variance
 * factor for step ceil(h), 1 + the sum of c_j^2 for j < ceil(h). */
static double point(const struct rep_forecast *f, double h, double var, double *lo, double *hi)
{
	double v, half;
	if (f->method == REP_LINEAR) {
		double x = (double)(f->n - 1) + h;
		v = f->intercept + f->slope * x;
		double d = x - f->xbar;
		half = Z95 * f->sigma * sqrt(1 + 1 / (double)f->used + (f->sxx > 0 ? d * d / f->sxx : 0));
	} else {
		size_t step = h < 1 ? 1 : (size_t)ceil(h);
		v = f->level + h * f->trend + f->season[(step - 1) % f->period];
		half = Z95 * f->sigma * sqrt(var);
	}
	if (lo)
		*lo = v - half;
	if (hi)
		*hi = v + half;
	return v;
}

double rep_forecast_at(const struct rep_forecast *f, double h, double *lo, double *hi)
{
	double var = 1;
	if (f->method == REP_HOLT_WINTERS)
		for (size_t j = 1, step = h < 1 ? 1 : (size_t)ceil(h); j < step; j++)
			var += hw_c(f, j) * hw_c(f, j);
	return point(f, h, var, lo, hi);
}

/* Step by step, the variance factor carried along: linear in the
 * horizon, not quadratic. */
double rep_forecast_time_to(const struct rep_forecast *f, double threshold, double horizon, double *earliest,
                            double *latest)
{
	double t = -1, e = -1, l = -1, var = 1;
	for (double h = 1; h <= horizon && (t < 0 || e < 0 || l < 0); h++) {
		if (f->method == REP_HOLT_WINTERS && h >= 2)
			var += hw_c(f, (size_t)h - 1) * hw_c(f, (size_t)h - 1);
		double lo, hi, v = point(f, h, var, &lo, &hi);
		if (t < 0 && v >= threshold)
			t = h;
		if (e < 0 && hi >= threshold)
			e = h;
		if (l < 0 && lo >= threshold)
			l = h;
	}
	if (earliest)
		*earliest = e;
	if (latest)
		*latest = l;
	return t;
}
