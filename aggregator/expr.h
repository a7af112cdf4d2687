/* Rule conditions: comparisons of windowed functions of metrics, joined
 * by and / or / not (Zabbix's "function(item, window) op constant", with
 * the arithmetic a ratio needs).
 *
 *   avg(vm.cpu.alloc_pct, 15m) > 90 and max(vm.vcpu.delay_pct, 5m) >= 10
 *   p95(host.cpu.demand_pct, 1h) > 80 or not last(vm.up) == 1
 *   (sum(vm.net.tx_bytes, 1h) / 3600) > 100000000
 *
 * Functions: avg, min, max, last, sum, count, and pNN (a percentile,
 * p1 .. p99) over a window of s, m, h or d; a bare metric is its last
 * value.  Numbers are decimals; comparisons > >= < <= == !=.  Metric names
 * are checked against the table the caller gives (which also says what a
 * metric is of: a VM, a host, a tenant), so a misspelt metric is an error
 * at load time naming the column, never a silent false at run time.
 *
 * Values are doubles: these are judgements about utilisation, not money
 * (billing/ has no floating point; this is not billing). */
#ifndef AGG_EXPR_H
#define AGG_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum agg_fn { AGG_FN_LAST, AGG_FN_AVG, AGG_FN_MIN, AGG_FN_MAX, AGG_FN_SUM, AGG_FN_COUNT, AGG_FN_PCT };

/* "avg", ...; "pct" for percentiles. */
const char *agg_fn_name(enum agg_fn fn);

/* What the evaluator asks the data for: one function of one metric over
 * the window ending now.  Returns 0 with the value, or -1 if the window's
 * data cannot be trusted (too little coverage, minutes lost): the whole
 * condition is then "unknown", never false. */
struct agg_query {
	int metric; /* the caller's index of the metric */
	enum agg_fn fn;
	int64_t window_ns; /* 0 for last() */
	int pct;           /* AGG_FN_PCT: 1..99 */
};
typedef int (*agg_data_fn)(void *ctx, const struct agg_query *q, double *value);

/* The metrics a condition may name; index is what agg_query.metric
 * carries. */
struct agg_metric_table {
	const char *const *names;
	size_t n;
};

struct agg_expr;

/* Parses `text`; errors name where: "FILE:LINE:COL: ..." with `file` and
 * `line` those of the text's start (a rule's condition option), and COL
 * counted in the text.  NULL with the message in err. */
struct agg_expr *agg_expr_parse(const char *text, const struct agg_metric_table *metrics, const char *file, int line,
                                char *err, size_t errsize);
void agg_expr_free(struct agg_expr *e);

/* Evaluates: 1 true, 0 false, -1 unknown (some window untrusted).  `and`
 * and `or` settle what they can: false and unknown is false, true or
 * unknown is true. */
int agg_expr_eval(const struct agg_expr *e, agg_data_fn data, void *ctx);

/* The queries the condition makes, each once (for a data layer that
 * fetches them in one round trip): up to max into out; returns how many
 * there are. */
size_t agg_expr_queries(const struct agg_expr *e, struct agg_query *out, size_t max);

#endif
