/* aggregator/expr: rule conditions parsed into a small tree and evaluated
 * in three-valued logic (expr.h).  A recursive-descent parser with a
 * depth limit; nodes live in one array owned by the expression. */
#include "config.h"

#include "expr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtree.h"
#include "xalloc.h"

#define MAX_NODES 256
#define MAX_DEPTH 32

enum kind { K_NUM, K_QUERY, K_ADD, K_SUB, K_MUL, K_DIV, K_GT, K_GE, K_LT, K_LE, K_EQ, K_NE, K_AND, K_OR, K_NOT };

struct node {
	enum kind kind;
	double num;
	struct agg_query q;
	int a, b; /* operands, indices into nodes */
};

struct agg_expr {
	struct node *nodes;
	int n, root;
};

const char *agg_fn_name(enum agg_fn fn)
{
	static const char *const names[] = {"last", "avg", "min", "max", "sum", "count", "pct"};
	return (unsigned)fn < sizeof names / sizeof *names ? names[fn] : NULL;
}

struct parser {
	const char *s, *p;
	const struct agg_metric_table *metrics;
	const char *file;
	int line, depth;
	struct agg_expr *e;
	char *err;
	size_t errsize;
	bool failed;
};

static void __attribute__((format(printf, 3, 4))) fail(struct parser *ps, const char *at, const char *fmt, ...)
{
	if (ps->failed)
		return;
	ps->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vm_cfg_verror(ps->err, ps->errsize, ps->file, ps->line, (int)(at - ps->s) + 1, "", fmt, ap);
	va_end(ap);
}

static void blank(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t')
		ps->p++;
}

static bool is_ident(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* The word at ps->p (not consumed): its length. */
static size_t word(struct parser *ps)
{
	size_t n = 0;
	while (is_ident(ps->p[n]))
		n++;
	return n;
}

static bool keyword(struct parser *ps, const char *kw)
{
	blank(ps);
	size_t n = strlen(kw);
	if (strncmp(ps->p, kw, n) != 0 || is_ident(ps->p[n]))
		return false;
	ps->p += n;
	return true;
}

static bool punct(struct parser *ps, const char *tok)
{
	blank(ps);
	size_t n = strlen(tok);
	if (strncmp(ps->p, tok, n) != 0)
		return false;
	ps->p += n;
	return true;
}

/* What is at p, for messages: "'x'" or "the end". */
static const char *here(const char *p, char *buf, size_t size)
{
	if (!*p)
		return "the end of the condition";
	size_t n = 0;
	while (p[n] && n < 16 && (is_ident(p[n]) || n == 0))
		n++;
	snprintf(buf, size, "'%.*s'", (int)n, p);
	return buf;
}

static int add(struct parser *ps, struct node nd, const char *at)
{
	if (ps->e->n == MAX_NODES) {
		fail(ps, at, "a condition of more than %d terms", MAX_NODES);
		return -1;
	}
	ps->e->nodes[ps->e->n] = nd;
	return ps->e->n++;
}

static bool is_bool(const struct parser *ps, int i)
{
	return ps->e->nodes[i].kind >= K_GT;
}

static int parse_or(struct parser *ps);

/* A decimal: digits, optionally '.' and digits; *suffix is what letters
 * follow at once ("15m"). */
static bool number(struct parser *ps, double *v, const char **suffix, size_t *slen)
{
	blank(ps);
	const char *s = ps->p;
	if (*s < '0' || *s > '9')
		return false;
	double x = 0, scale = 1;
	for (; *ps->p >= '0' && *ps->p <= '9'; ps->p++)
		x = x * 10 + (*ps->p - '0');
	if (*ps->p == '.' && ps->p[1] >= '0' && ps->p[1] <= '9')
		for (ps->p++; *ps->p >= '0' && *ps->p <= '9'; ps->p++)
			x += (*ps->p - '0') * (scale /= 10);
	*suffix = ps->p;
	while ((*ps->p >= 'a' && *ps->p <= 'z') || (*ps->p >= 'A' && *ps->p <= 'Z'))
		ps->p++;
	*slen = (size_t)(ps->p - *suffix);
	*v = x;
	return true;
}

static int metric_index(struct parser *ps, const char *at, size_t n)
{
	for (size_t i = 0; i < ps->metrics->n; i++)
		if (strlen(ps->metrics->names[i]) == n && strncmp(ps->metrics->names[i], at, n) == 0)
			return (int)i;
	char list[256];
	size_t k = 0;
	list[0] = '\0';
	for (size_t i = 0; i < ps->metrics->n && k + 40 < sizeof list; i++)
		k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", ps->metrics->names[i]);
	fail(ps, at, "unknown metric '%.*s' (metrics: %s%s)", (int)n, at, list, k + 40 >= sizeof list ? ", ..." : "");
	return -1;
}

/* fn(metric, window[, ...]) or a bare metric, at ps->p (a word). */
static int parse_call(struct parser *ps)
{
	static const char *const fns[] = {"last", "avg", "min", "max", "sum", "count"};
	const char *at = ps->p;
	size_t n = word(ps);
	char buf[32];
	struct node nd = {.kind = K_QUERY, .a = -1, .b = -1};
	ps->p += n;
	blank(ps);
	if (*ps->p != '(') { /* a bare metric: its last value */
		nd.q.metric = metric_index(ps, at, n);
		nd.q.fn = AGG_FN_LAST;
		return nd.q.metric < 0 ? -1 : add(ps, nd, at);
	}
	int fn = -1;
	for (int i = 0; i < 6; i++)
		if (strlen(fns[i]) == n && strncmp(fns[i], at, n) == 0)
			fn = i;
	if (fn < 0 && n >= 2 && n <= 3 && at[0] == 'p' && at[1] >= '1' && at[1] <= '9' &&
	    (n == 2 || (at[2] >= '0' && at[2] <= '9'))) {
		fn = AGG_FN_PCT;
		nd.q.pct = atoi(at + 1);
	}
	if (fn < 0) {
		fail(ps, at, "unknown function '%.*s' (functions: avg, min, max, last, sum, count, p1 .. p99)", (int)n,
		     at);
		return -1;
	}
	nd.q.fn = (enum agg_fn)fn;
	ps->p++; /* '(' */
	blank(ps);
	const char *m = ps->p;
	size_t mn = word(ps);
	if (!mn || (*m >= '0' && *m <= '9')) {
		fail(ps, m, "%s(): expected a metric, got %s", agg_fn_name(nd.q.fn), here(m, buf, sizeof buf));
		return -1;
	}
	if ((nd.q.metric = metric_index(ps, m, mn)) < 0)
		return -1;
	ps->p += mn;
	if (punct(ps, ",")) {
		const char *w = (blank(ps), ps->p), *suffix;
		size_t slen;
		double v;
		static const struct {
			char c;
			int64_t ns;
		} units[] = {{'s', INT64_C(1000000000)},
		             {'m', INT64_C(60000000000)},
		             {'h', INT64_C(3600000000000)},
		             {'d', INT64_C(86400000000000)}};
		int64_t unit = 0;
		if (number(ps, &v, &suffix, &slen) && slen == 1)
			for (size_t i = 0; i < 4; i++)
				if (*suffix == units[i].c)
					unit = units[i].ns;
		if (!unit || v < 1 || v > 366 * 86400 || v != (double)(int64_t)v) {
			fail(ps, w, "%s(): the window must be a whole number of s, m, h or d (5m, 1h), got %s",
			     agg_fn_name(nd.q.fn), here(w, buf, sizeof buf));
			return -1;
		}
		if (v * (double)unit > 366.0 * 86400e9) {
			fail(ps, w, "%s(): a window of more than a year", agg_fn_name(nd.q.fn));
			return -1;
		}
		nd.q.window_ns = (int64_t)v * unit;
	} else if (nd.q.fn != AGG_FN_LAST) {
		fail(ps, ps->p, "%s(): expected ',' and a window (%s(%.*s, 5m))", agg_fn_name(nd.q.fn),
		     agg_fn_name(nd.q.fn), (int)mn, m);
		return -1;
	}
	if (!punct(ps, ")")) {
		fail(ps, ps->p, "%s(): expected ')', got %s", agg_fn_name(nd.q.fn), here(ps->p, buf, sizeof buf));
		return -1;
	}
	return add(ps, nd, at);
}

static int parse_factor(struct parser *ps)
{
	char buf[32];
	blank(ps);
	const char *at = ps->p;
	if (++ps->depth > MAX_DEPTH) {
		fail(ps, at, "nested deeper than %d", MAX_DEPTH);
		return -1;
	}
	int r;
	double v;
	const char *suffix;
	size_t slen;
	if (punct(ps, "(")) {
		r = parse_or(ps);
		if (r >= 0 && !punct(ps, ")")) {
			fail(ps, ps->p, "expected ')' (for the '(' at column %d), got %s", (int)(at - ps->s) + 1,
			     here(ps->p, buf, sizeof buf));
			r = -1;
		}
	} else if (punct(ps, "-")) {
		int x = parse_factor(ps);
		r = x < 0
		        ? -1
		        : add(ps, (struct node){.kind = K_SUB, .a = add(ps, (struct node){.kind = K_NUM}, at), .b = x},
		              at);
		if (r >= 0 && is_bool(ps, x)) {
			fail(ps, at, "'-' before a comparison");
			r = -1;
		}
	} else if (number(ps, &v, &suffix, &slen)) {
		if (slen) {
			fail(ps, suffix, "a number with a unit outside a window ('%.*s'): write plain numbers",
			     (int)slen, suffix);
			r = -1;
		} else {
			r = add(ps, (struct node){.kind = K_NUM, .num = v, .a = -1, .b = -1}, at);
		}
	} else if (word(ps) && !keyword(ps, "and") && !keyword(ps, "or") && !keyword(ps, "not")) {
		r = parse_call(ps);
	} else {
		ps->p = at;
		fail(ps, at, "expected a number, a metric, a function or '(', got %s", here(at, buf, sizeof buf));
		r = -1;
	}
	ps->depth--;
	return r;
}

/* Operands of arithmetic and comparisons are numbers. */
static int binary(struct parser *ps, enum kind k, int a, int b, const char *at, const char *op)
{
	if (a < 0 || b < 0)
		return -1;
	bool logic = k == K_AND || k == K_OR;
	if (is_bool(ps, a) != logic || is_bool(ps, b) != logic) {
		fail(ps, at,
		     logic ? "'%s' joins comparisons (avg(m, 5m) > 90 %s ...)"
		           : "'%s' between a comparison and a number",
		     op, op);
		return -1;
	}
	return add(ps, (struct node){.kind = k, .a = a, .b = b}, at);
}

/* The two levels of arithmetic: level 1 is * and /, level 0 is + and -,
 * each left-associative over the level below. */
static int parse_arith(struct parser *ps, int level)
{
	static const struct {
		const char *op;
		enum kind k;
	} ops[2][2] = {{{"+", K_ADD}, {"-", K_SUB}}, {{"*", K_MUL}, {"/", K_DIV}}};
	int a = level ? parse_factor(ps) : parse_arith(ps, 1);
	for (;;) {
		blank(ps);
		const char *at = ps->p;
		int i = punct(ps, ops[level][0].op) ? 0 : punct(ps, ops[level][1].op) ? 1 : -1;
		if (i < 0 || a < 0)
			return a;
		a = binary(ps, ops[level][i].k, a, level ? parse_factor(ps) : parse_arith(ps, 1), at, ops[level][i].op);
	}
}

static int parse_cmp(struct parser *ps)
{
	static const struct {
		const char *op;
		enum kind k;
	} ops[] = {{">=", K_GE}, {"<=", K_LE}, {"==", K_EQ}, {"!=", K_NE}, {">", K_GT}, {"<", K_LT}};
	int a = parse_arith(ps, 0);
	if (a < 0)
		return -1;
	blank(ps);
	const char *at = ps->p;
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
		if (punct(ps, ops[i].op)) {
			int r = binary(ps, ops[i].k, a, parse_arith(ps, 0), at, ops[i].op);
			blank(ps);
			if (r >= 0 && strchr("<>=!", *ps->p) && *ps->p) {
				fail(ps, ps->p, "comparisons do not chain (a < b < c): join them with 'and'");
				return -1;
			}
			return r;
		}
	return a;
}

static int parse_not(struct parser *ps)
{
	blank(ps);
	const char *at = ps->p;
	if (!keyword(ps, "not"))
		return parse_cmp(ps);
	if (++ps->depth > MAX_DEPTH) {
		fail(ps, at, "nested deeper than %d", MAX_DEPTH);
		return -1;
	}
	int a = parse_not(ps);
	ps->depth--;
	if (a >= 0 && !is_bool(ps, a)) {
		fail(ps, at, "'not' before a number: it negates comparisons");
		return -1;
	}
	return a < 0 ? -1 : add(ps, (struct node){.kind = K_NOT, .a = a, .b = -1}, at);
}

static int parse_and(struct parser *ps)
{
	int a = parse_not(ps);
	for (;;) {
		blank(ps);
		const char *at = ps->p;
		if (a < 0 || !keyword(ps, "and"))
			return a;
		a = binary(ps, K_AND, a, parse_not(ps), at, "and");
	}
}

static int parse_or(struct parser *ps)
{
	int a = parse_and(ps);
	for (;;) {
		blank(ps);
		const char *at = ps->p;
		if (a < 0 || !keyword(ps, "or"))
			return a;
		a = binary(ps, K_OR, a, parse_and(ps), at, "or");
	}
}

struct agg_expr *agg_expr_parse(const char *text, const struct agg_metric_table *metrics, const char *file, int line,
                                char *err, size_t errsize)
{
	struct agg_expr *e = vm_xcalloc(1, sizeof *e);
	e->nodes = vm_xmalloc(MAX_NODES * sizeof *e->nodes);
	struct parser ps = {.s = text,
	                    .p = text,
	                    .metrics = metrics,
	                    .file = file,
	                    .line = line,
	                    .e = e,
	                    .err = err,
	                    .errsize = errsize};
	char buf[32];
	e->root = parse_or(&ps);
	blank(&ps);
	if (e->root >= 0 && *ps.p)
		fail(&ps, ps.p, "expected 'and', 'or', a comparison or the end, got %s", here(ps.p, buf, sizeof buf));
	else if (e->root >= 0 && !is_bool(&ps, e->root))
		fail(&ps, text, "a condition compares (avg(m, 5m) > 90): this is a number");
	if (ps.failed) {
		agg_expr_free(e);
		return NULL;
	}
	return e;
}

void agg_expr_free(struct agg_expr *e)
{
	if (!e)
		return;
	free(e->nodes);
	free(e);
}

/* A number's value; false if unknown (untrusted data, division by 0). */
static bool value(const struct agg_expr *e, int i, agg_data_fn data, void *ctx, double *v)
{
	const struct node *nd = &e->nodes[i];
	double a, b;
	switch (nd->kind) {
	case K_NUM: *v = nd->num; return true;
	case K_QUERY: return data(ctx, &nd->q, v) == 0;
	default: break;
	}
	if (!value(e, nd->a, data, ctx, &a) || !value(e, nd->b, data, ctx, &b))
		return false;
	switch (nd->kind) {
	case K_ADD: *v = a + b; return true;
	case K_SUB: *v = a - b; return true;
	case K_MUL: *v = a * b; return true;
	case K_DIV:
		if (b == 0)
			return false;
		*v = a / b;
		return true;
	default: return false;
	}
}

static int eval(const struct agg_expr *e, int i, agg_data_fn data, void *ctx)
{
	const struct node *nd = &e->nodes[i];
	int x, y;
	double a, b;
	switch (nd->kind) {
	case K_AND:
		x = eval(e, nd->a, data, ctx);
		if (x == 0)
			return 0;
		y = eval(e, nd->b, data, ctx);
		return y == 0 ? 0 : x < 0 || y < 0 ? -1 : 1;
	case K_OR:
		x = eval(e, nd->a, data, ctx);
		if (x == 1)
			return 1;
		y = eval(e, nd->b, data, ctx);
		return y == 1 ? 1 : x < 0 || y < 0 ? -1 : 0;
	case K_NOT: x = eval(e, nd->a, data, ctx); return x < 0 ? -1 : !x;
	default: break;
	}
	if (!value(e, nd->a, data, ctx, &a) || !value(e, nd->b, data, ctx, &b))
		return -1;
	switch (nd->kind) {
	case K_GT: return a > b;
	case K_GE: return a >= b;
	case K_LT: return a < b;
	case K_LE: return a <= b;
	case K_EQ: return a == b;
	case K_NE: return a != b;
	default: return -1;
	}
}

int agg_expr_eval(const struct agg_expr *e, agg_data_fn data, void *ctx)
{
	return eval(e, e->root, data, ctx);
}

size_t agg_expr_queries(const struct agg_expr *e, struct agg_query *out, size_t max)
{
	size_t n = 0;
	for (int i = 0; i < e->n; i++) {
		const struct agg_query *q = &e->nodes[i].q;
		if (e->nodes[i].kind != K_QUERY)
			continue;
		bool seen = false;
		for (size_t j = 0; j < n && j < max && !seen; j++)
			seen = out[j].metric == q->metric && out[j].fn == q->fn && out[j].window_ns == q->window_ns &&
			       out[j].pct == q->pct;
		if (seen)
			continue;
		if (n < max)
			out[n] = *q;
		n++;
	}
	return n;
}
