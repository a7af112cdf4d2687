/* Forecasts for capacity reports: when does a host's CPU, memory or disk
 * run out?  A series of equally spaced values (e.g. hourly demand) is fit
 * with a linear trend, or with additive Holt-Winters when it has a season
 * (a daily or weekly cycle) that the trend alone would misread; the report
 * prints the method, the window, the fit's quality and the band, so a
 * reader can judge the answer.
 *
 * Values here are doubles: forecasts are estimates, not money. */
#ifndef REP_FORECAST_H
#define REP_FORECAST_H

#include <stddef.h>

enum rep_method {
	REP_AUTO,         /* Holt-Winters if the season explains enough, else linear */
	REP_LINEAR,       /* least squares */
	REP_HOLT_WINTERS, /* additive, smoothing parameters fitted by one-step error */
};

/* "linear", "holt-winters"; "auto" before a fit. */
const char *rep_method_name(enum rep_method m);

struct rep_forecast;

/* Fits y[0..n-1] (one value a step; NaN for a step without data, which
 * the fit skips).  period: the season in steps (24 for a daily cycle of
 * hourly values), 0 for none; Holt-Winters needs two whole seasons of
 * data.  Returns NULL with why in err (too few points, a period too long
 * for the data, nothing but gaps). */
struct rep_forecast *rep_forecast_fit(const double *y, size_t n, size_t period, enum rep_method method, char *err,
                                      size_t errsize);
void rep_forecast_free(struct rep_forecast *f);

enum rep_method rep_forecast_method(const struct rep_forecast *f);
/* R^2 of the fit on the data (1 - SSE/SST; one-step-ahead errors for
 * Holt-Winters), and the residuals' standard deviation. */
double rep_forecast_r2(const struct rep_forecast *f);
double rep_forecast_sigma(const struct rep_forecast *f);

/* The value h steps after the last point (h > 0), and a 95 % band. */
double rep_forecast_at(const struct rep_forecast *f, double h, double *lo, double *hi);

/* Steps after the last point until the forecast first reaches threshold
 * (from below), within `horizon` steps: -1 if it does not.  *earliest and
 * *latest: the same for the band's upper and lower edges (-1: not within
 * the horizon); either may be NULL. */
double rep_forecast_time_to(const struct rep_forecast *f, double threshold, double horizon, double *earliest,
                            double *latest);

#endif
