/* Fuzz target for rule conditions (aggregator/expr).  Besides not
 * crashing, leaking or recursing without bound, every input is either
 * refused with "FILE:LINE:COL: ..." (COL within the text) or evaluates to
 * true, false or unknown, and asks only for queries agg_expr_queries()
 * lists.  Built as libFuzzer target or with tests/fuzz/replay.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "replay.h"

#define CHECK FUZZ_CHECK

static const char *const names[] = {"vm.cpu.alloc_pct", "vm.up", "host.cpu.demand_pct"};
static const struct agg_metric_table metrics = {names, 3};

struct ctx {
	struct agg_query q[300];
	size_t n;
};

/* A value from the query, unknown for some, so all paths run. */
static int data(void *arg, const struct agg_query *q, double *v)
{
	struct ctx *c = arg;
	bool listed = false;
	for (size_t i = 0; i < c->n && !listed; i++)
		listed = c->q[i].metric == q->metric && c->q[i].fn == q->fn && c->q[i].window_ns == q->window_ns &&
		         c->q[i].pct == q->pct;
	CHECK(listed);
	CHECK(q->metric >= 0 && q->metric < 3 && q->window_ns >= 0);
	if ((q->window_ns / 1000000000 + q->fn) % 5 == 0)
		return -1;
	*v = (double)(q->metric * 40 + q->fn * 7 + q->pct);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	char *text = malloc(size + 1), err[512] = "";
	memcpy(text, d, size);
	text[size] = '\0';
	struct agg_expr *e = agg_expr_parse(text, &metrics, "fuzz", 1, err, sizeof err);
	if (e) {
		struct ctx c;
		c.n = agg_expr_queries(e, c.q, 300);
		CHECK(c.n <= 256);
		int r = agg_expr_eval(e, data, &c);
		CHECK(r == -1 || r == 0 || r == 1);
		agg_expr_free(e);
	} else {
		int col = 0;
		CHECK(sscanf(err, "fuzz:1:%d: ", &col) == 1);
		CHECK(col >= 1 && (size_t)col <= strlen(text) + 1);
	}
	free(text);
	return 0;
}

static const struct fuzz_token tokens[] = {
    {"avg(", 4},  {"p95(", 4},     {"last(", 5}, {"vm.up", 5}, {"vm.cpu.alloc_pct", 16},
    {", 5m)", 5}, {", 1h)", 5},    {" and ", 5}, {" or ", 4},  {"not ", 4},
    {" > ", 3},   {" >= ", 4},     {"==", 2},    {"(", 1},     {")", 1},
    {"-", 1},     {"/ 0", 3},      {"1.5", 3},   {"366d", 4},  {"\x00", 1},
    {"\xff", 1},  {"((((((((", 8},
};

const struct fuzz_target fuzz_target = {"fuzz_expr", tokens, sizeof tokens / sizeof *tokens, 4096, NULL};
