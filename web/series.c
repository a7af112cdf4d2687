/* Graph data (series.h). */
#include "config.h"

#include "series.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

const char *const web_series_params[] = {"from", "to", "cf", "metrics", "source", NULL};

struct metric {
	const char *name, *unit;
};

/* The VM's metrics in the column order of schema 14's web_vm_series();
 * net_class (no column) last. */
static const struct metric vm_metrics[] = {
    {"cpu_alloc_pct", "%"},  {"cpu_host_pct", "%"},   {"cpu_delay_pct", "%"},  {"mem_alloc_kib", "KiB"},
    {"mem_used_kib", "KiB"}, {"mem_rss_kib", "KiB"},  {"mem_host_pct", "%"},   {"disk_rd_bps", "B/s"},
    {"disk_wr_bps", "B/s"},  {"disk_rd_iops", "1/s"}, {"disk_wr_iops", "1/s"}, {"net_rx_bps", "B/s"},
    {"net_tx_bps", "B/s"},   {"net_class", "B/s"},
};
enum { VM_NET_CLASS = 13 };
_Static_assert(sizeof vm_metrics / sizeof *vm_metrics == VM_NET_CLASS + 1, "net_class is last");

/* The host's, in web_host_series()'s column order. */
static const struct metric host_metrics[] = {
    {"cpu_busy_pct", "%"},   {"cpu_user_pct", "%"},    {"cpu_system_pct", "%"},
    {"cpu_iowait_pct", "%"}, {"mem_total_kib", "KiB"}, {"mem_used_kib", "KiB"},
    {"mem_vm_kib", "KiB"},   {"vms_running", ""},      {"vcpus_running", ""},
};

static const struct metric *table(enum web_series_kind kind, size_t *n)
{
	if (kind == WEB_SERIES_VM) {
		*n = sizeof vm_metrics / sizeof *vm_metrics;
		return vm_metrics;
	}
	*n = sizeof host_metrics / sizeof *host_metrics;
	return host_metrics;
}

size_t web_series_n_metrics(enum web_series_kind kind)
{
	size_t n;
	table(kind, &n);
	return n;
}

const char *web_series_metric(enum web_series_kind kind, size_t i)
{
	size_t n;
	const struct metric *m = table(kind, &n);
	return i < n ? m[i].name : NULL;
}

const char *web_series_unit(enum web_series_kind kind, size_t i)
{
	size_t n;
	const struct metric *m = table(kind, &n);
	return i < n ? m[i].unit : NULL;
}

size_t web_series_class_metric(void)
{
	return VM_NET_CLASS;
}

/* "now", epoch seconds, or -N with a unit s, m, h, d. */
static int parse_time(const char *name, const char *s, int64_t now_s, int64_t *out, char *err, size_t errsize)
{
	if (strcmp(s, "now") == 0) {
		*out = now_s;
		return 0;
	}
	const char *p = s[0] == '-' ? s + 1 : s;
	if (*p < '0' || *p > '9' || strlen(p) > 11) {
		snprintf(err, errsize, "%s: '%.40s' is neither now, epoch seconds nor -N with s, m, h or d (-24h)",
		         name, s);
		return -1;
	}
	char *end;
	errno = 0;
	long long v = strtoll(p, &end, 10);
	if (s[0] != '-') {
		if (*end || errno) {
			snprintf(err, errsize, "%s: '%.40s' is not epoch seconds", name, s);
			return -1;
		}
		*out = v;
		return 0;
	}
	int64_t unit = 0;
	if (end[0] && !end[1])
		unit = end[0] == 's' ? 1 : end[0] == 'm' ? 60 : end[0] == 'h' ? 3600 : end[0] == 'd' ? 86400 : 0;
	if (!unit || errno || v < 1 || v > 100000) {
		snprintf(err, errsize, "%s: '%.40s' is not -N with N 1 to 100000 and a unit s, m, h or d", name, s);
		return -1;
	}
	*out = now_s - v * unit;
	return 0;
}

int web_series_parse(enum web_series_kind kind, const struct web_query *q, int64_t now_s, struct web_series_req *r,
                     char *err, size_t errsize)
{
	memset(r, 0, sizeof *r);
	r->kind = kind;
	const char *from = web_query_get(q, "from"), *to = web_query_get(q, "to");
	if (parse_time("from", from ? from : "-1h", now_s, &r->from_s, err, errsize) < 0 ||
	    parse_time("to", to ? to : "now", now_s, &r->to_s, err, errsize) < 0)
		return -1;
	if (r->from_s >= r->to_s) {
		snprintf(err, errsize, "from: %lld is not before to (%lld)", (long long)r->from_s, (long long)r->to_s);
		return -1;
	}
	if (r->to_s > now_s + 3600) {
		snprintf(err, errsize, "to: %lld is more than an hour in the future", (long long)r->to_s);
		return -1;
	}
	if (r->to_s - r->from_s > WEB_SERIES_MAX_SPAN_S) {
		snprintf(err, errsize, "from: the range from %lld to %lld is over %d days", (long long)r->from_s,
		         (long long)r->to_s, WEB_SERIES_MAX_SPAN_S / 86400);
		return -1;
	}
	const char *cf = web_query_get(q, "cf");
	if (cf && strcmp(cf, "AVERAGE") != 0 && strcmp(cf, "MAX") != 0) {
		snprintf(err, errsize, "cf: '%.20s' is neither AVERAGE nor MAX", cf);
		return -1;
	}
	r->max = cf && strcmp(cf, "MAX") == 0;
	size_t n;
	const struct metric *m = table(kind, &n);
	const char *metrics = web_query_get(q, "metrics");
	if (!metrics) {
		r->metrics = (UINT32_C(1) << n) - 1;
	} else {
		char *list = vm_xstrdup(metrics), *save = NULL;
		for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			size_t i = 0;
			while (i < n && strcmp(m[i].name, tok) != 0)
				i++;
			if (i == n) {
				snprintf(err, errsize, "metrics: unknown metric '%.40s' for a %s", tok,
				         kind == WEB_SERIES_VM ? "VM" : "host");
				free(list);
				return -1;
			}
			r->metrics |= UINT32_C(1) << i;
		}
		free(list);
		if (!r->metrics) {
			snprintf(err, errsize, "metrics: no metric named");
			return -1;
		}
	}
	const char *source = web_query_get(q, "source");
	int64_t span = r->to_s - r->from_s;
	if (!source || strcmp(source, "auto") == 0)
		r->rrd = span <= WEB_SERIES_RRD_SPAN_S && r->from_s >= now_s - 35 * 86400;
	else if (strcmp(source, "rrd") == 0)
		r->rrd = true;
	else if (strcmp(source, "rollup") == 0)
		r->rrd = false;
	else {
		snprintf(err, errsize, "source: '%.20s' is none of auto, rrd, rollup", source);
		return -1;
	}
	/* about 720 points: enough for a wide graph, small to send */
	r->step_s = r->rrd ? (int)((span + 719) / 720) : span <= 40 * 86400 ? 3600 : 86400;
	return 0;
}

void web_series_release(struct web_series *s)
{
	for (size_t i = 0; i < s->n_series; i++)
		free(s->names[i]);
	free(s->names);
	free(s->units);
	free(s->t);
	free(s->v);
	memset(s, 0, sizeof *s);
}

int web_series_keep_ms(const struct web_series *s, int max_ms)
{
	int64_t ms = s->step_s * 500;
	return ms < 0 ? 0 : ms > max_ms ? max_ms : (int)ms;
}

/* Room for one more series of s->n values, all NaN; its values. */
static double *add_series(struct web_series *s, const char *name, const char *unit)
{
	if (s->n_series == s->cap_series) {
		s->cap_series = s->cap_series ? 2 * s->cap_series : 16;
		s->names = vm_xrealloc(s->names, s->cap_series * sizeof *s->names);
		s->units = vm_xrealloc(s->units, s->cap_series * sizeof *s->units);
		s->v = vm_xrealloc(s->v, s->cap_series * (s->n ? s->n : 1) * sizeof *s->v);
	}
	size_t k = s->n_series++;
	s->names[k] = vm_xstrdup(name);
	s->units[k] = unit;
	double *v = s->v + k * s->n;
	for (size_t i = 0; i < s->n; i++)
		v[i] = NAN;
	return v;
}

/* ------------------------------------------------------------ RRD */

static int ds_index(const struct vm_rrd_series *f, const char *name)
{
	for (size_t i = 0; i < f->n_ds; i++)
		if (strcmp(f->ds_names[i], name) == 0)
			return (int)i;
	return -1;
}

static double ds(const struct vm_rrd_series *f, int d, size_t row)
{
	return d < 0 ? NAN : f->values[row * f->n_ds + (size_t)d];
}

/* a / b * k, NaN unless both are known and b is not 0 */
static double ratio(double a, double b, double k)
{
	return isnan(a) || isnan(b) || b == 0 ? NAN : a / b * k;
}

static void vm_point(const struct vm_rrd_series *f, const int *d, size_t row, const struct web_series_host *h,
                     double *out)
{
	double cpu = ds(f, d[0], row), vcpus = ds(f, d[1], row), delay = ds(f, d[2], row);
	if (isnan(vcpus) && h->vcpus > 0)
		vcpus = h->vcpus;
	double avail = ds(f, d[4], row), usable = ds(f, d[5], row), rss = ds(f, d[6], row);
	out[0] = ratio(cpu, vcpus * 1e9, 100);
	out[1] = h->cpus > 0 ? ratio(cpu, h->cpus * 1e9, 100) : NAN;
	out[2] = ratio(delay, vcpus * 1e9, 100);
	out[3] = ds(f, d[3], row);
	out[4] = isnan(avail) || isnan(usable) ? NAN : avail - usable;
	out[5] = rss;
	out[6] = h->memory_kib > 0 ? ratio(rss, (double)h->memory_kib, 100) : NAN;
	for (int i = 7; i < 13; i++)
		out[i] = ds(f, d[i], row);
}

static void host_point(const struct vm_rrd_series *f, const int *d, size_t row, double *out)
{
	double cap = ds(f, d[0], row), tot = ds(f, d[5], row), free_ = ds(f, d[6], row), cached = ds(f, d[7], row);
	for (int i = 0; i < 4; i++)
		out[i] = ratio(ds(f, d[i + 1], row), cap, 100);
	out[4] = tot;
	out[5] = isnan(tot) || isnan(free_) || isnan(cached) ? NAN : tot - free_ - cached;
	out[6] = ds(f, d[8], row);
	out[7] = ds(f, d[9], row);
	out[8] = ds(f, d[10], row);
}

static const char *const vm_ds[] = {"cpu",          "vcpus",        "vcpu_delay",    "mem_max",       "mem_available",
                                    "mem_usable",   "mem_rss",      "disk_rd_bytes", "disk_wr_bytes", "disk_rd_reqs",
                                    "disk_wr_reqs", "net_rx_bytes", "net_tx_bytes"};
static const char *const host_ds[] = {"cpu_capacity", "cpu_busy",    "cpu_user",     "cpu_system",
                                      "cpu_iowait",   "mem_total",   "mem_free",     "mem_cached",
                                      "vm_mem",       "vms_running", "vcpus_running"};

/* Folds rows at step (row r at start + r * step) into s's points of
 * s->step_s (a whole multiple of step, point i at s->t[i]): each point
 * the mean (max: the maximum) of its rows that are known, unknown where
 * fewer than half of them are, as RRD consolidates (xff 0.5).  The rows'
 * values come from value(row, arg). */
static void fold(const struct web_series *s, double *out, int64_t start, int64_t step, size_t n_rows, bool max,
                 double (*value)(size_t row, const void *arg), const void *arg)
{
	if (s->n == 0 || step <= 0)
		return;
	int64_t per = s->step_s / step;
	double *acc = vm_xcalloc(s->n, sizeof *acc);
	unsigned *known = vm_xcalloc(s->n, sizeof *known);
	for (size_t row = 0; row < n_rows; row++) {
		int64_t t = start + (int64_t)row * step;
		if (t < s->t[0])
			continue;
		size_t i = (size_t)((t - s->t[0]) / s->step_s);
		double v = value(row, arg);
		if (i >= s->n || isnan(v))
			continue;
		acc[i] = known[i] == 0 ? v : max ? fmax(acc[i], v) : acc[i] + v;
		known[i]++;
	}
	for (size_t i = 0; i < s->n; i++)
		out[i] = (int64_t)known[i] * 2 < per ? NAN : max ? acc[i] : acc[i] / known[i];
	free(acc);
	free(known);
}

struct rows_of {
	const struct vm_rrd_series *f;
	const double *points; /* the metrics of each row (n_metrics a row), or NULL: f's data source ds */
	size_t n_metrics, metric;
	int ds;
};

static double row_value(size_t row, const void *arg)
{
	const struct rows_of *r = arg;
	return r->points ? r->points[row * r->n_metrics + r->metric] : ds(r->f, r->ds, row);
}

int web_series_rrd(struct vm_rrd *rrd, const struct web_series_req *r, const char *subject,
                   const struct web_series_host *host, const char *const *classes, size_t n_classes,
                   struct web_series *s, char *err, size_t errsize)
{
	memset(s, 0, sizeof *s);
	s->source = "rrd";
	const char *cf = r->max ? "MAX" : "AVERAGE";
	bool vm = r->kind == WEB_SERIES_VM;
	char name[256];
	snprintf(name, sizeof name, "%s-%s", vm ? "vm" : "host", subject);
	struct vm_rrd_series f;
	int rc = vm_rrd_fetch(rrd, name, cf, r->from_s, r->to_s, (unsigned long)r->step_s, &f, err, errsize);
	if (rc != 0)
		return rc;
	/* The archive may be finer than the step asked for (a day of minutes
	 * for about 720 points): its rows are folded into points of whole
	 * multiples of its step, on the epoch's grid, so that every answer of
	 * a range has the same points. */
	int64_t fstep = f.step_s ? (int64_t)f.step_s : 1;
	int64_t per = r->step_s > fstep ? (r->step_s + fstep - 1) / fstep : 1;
	s->step_s = per * fstep;
	if (f.n_rows) {
		int64_t first = f.start_s - f.start_s % s->step_s;
		int64_t last = f.start_s + (int64_t)(f.n_rows - 1) * fstep;
		s->n = (size_t)((last - first) / s->step_s + 1);
		s->t = vm_xcalloc(s->n, sizeof *s->t);
		for (size_t i = 0; i < s->n; i++)
			s->t[i] = first + (int64_t)i * s->step_s;
	} else {
		s->t = vm_xcalloc(1, sizeof *s->t);
	}
	size_t nm = vm ? VM_NET_CLASS : sizeof host_metrics / sizeof *host_metrics;
	const char *const *dsn = vm ? vm_ds : host_ds;
	size_t nd = vm ? sizeof vm_ds / sizeof *vm_ds : sizeof host_ds / sizeof *host_ds;
	int d[16];
	for (size_t i = 0; i < nd; i++)
		d[i] = ds_index(&f, dsn[i]);
	/* every row's metrics first (they are ratios of the row's values),
	 * then folded */
	double *points = vm_xcalloc(f.n_rows ? f.n_rows * nm : 1, sizeof *points);
	for (size_t row = 0; row < f.n_rows; row++) {
		if (vm)
			vm_point(&f, d, row, host, points + row * nm);
		else
			host_point(&f, d, row, points + row * nm);
	}
	for (size_t m = 0; m < nm; m++) {
		if (!(r->metrics & (UINT32_C(1) << m)))
			continue;
		double *v = add_series(s, vm ? vm_metrics[m].name : host_metrics[m].name,
		                       vm ? vm_metrics[m].unit : host_metrics[m].unit);
		struct rows_of ro = {.f = &f, .points = points, .n_metrics = nm, .metric = m};
		fold(s, v, f.start_s, fstep, f.n_rows, r->max, row_value, &ro);
	}
	free(points);
	vm_rrd_series_release(&f);
	if (!vm || !(r->metrics & (UINT32_C(1) << VM_NET_CLASS)))
		return 0;
	for (size_t c = 0; c < n_classes && c < WEB_SERIES_MAX_CLASSES; c++) {
		snprintf(name, sizeof name, "vm-%s-traffic-%s", subject, classes[c]);
		struct vm_rrd_series tf;
		rc = vm_rrd_fetch(rrd, name, cf, r->from_s, r->to_s, (unsigned long)fstep, &tf, err, errsize);
		if (rc < 0)
			return -1;
		if (rc == 1)
			continue;
		/* the same layout, so the same archive; a file of another
		 * (an older layout) is folded all the same if its step divides */
		int64_t tstep = (int64_t)tf.step_s;
		bool fits = tstep > 0 && s->step_s % tstep == 0;
		char sn[128];
		for (int dir = 0; dir < 2; dir++) {
			snprintf(sn, sizeof sn, "net_%s_bps:%s", dir ? "tx" : "rx", classes[c]);
			double *v = add_series(s, sn, "B/s");
			struct rows_of ro = {.f = &tf, .ds = ds_index(&tf, dir ? "tx_bytes" : "rx_bytes")};
			if (fits)
				fold(s, v, tf.start_s, tstep, tf.n_rows, r->max, row_value, &ro);
		}
		vm_rrd_series_release(&tf);
	}
	return 0;
}

/* ------------------------------------------------------------ rollups */

static double num(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NAN : strtod(PQgetvalue(res, row, col), NULL);
}

int web_series_from_rows(const struct web_series_req *r, const PGresult *rows, struct web_series *s, char *err,
                         size_t errsize)
{
	memset(s, 0, sizeof *s);
	s->source = "rollup";
	s->step_s = r->step_s;
	bool vm = r->kind == WEB_SERIES_VM;
	size_t nm = vm ? VM_NET_CLASS : sizeof host_metrics / sizeof *host_metrics;
	if (PQnfields(rows) != (int)nm + 1) {
		snprintf(err, errsize, "series: the database answered %d columns, not %zu (schema 14?)",
		         PQnfields(rows), nm + 1);
		return -1;
	}
	s->n = (size_t)PQntuples(rows);
	s->t = vm_xcalloc(s->n ? s->n : 1, sizeof *s->t);
	for (size_t i = 0; i < s->n; i++)
		s->t[i] = strtoll(PQgetvalue(rows, (int)i, 0), NULL, 10);
	for (size_t m = 0; m < nm; m++) {
		if (!(r->metrics & (UINT32_C(1) << m)))
			continue;
		double *v = add_series(s, vm ? vm_metrics[m].name : host_metrics[m].name,
		                       vm ? vm_metrics[m].unit : host_metrics[m].unit);
		for (size_t i = 0; i < s->n; i++)
			v[i] = num(rows, (int)i, (int)m + 1);
	}
	return 0;
}

int web_series_add_traffic(const struct web_series_req *r, const PGresult *traffic, struct web_series *s, char *err,
                           size_t errsize)
{
	(void)r;
	if (PQnfields(traffic) != 4) {
		snprintf(err, errsize, "series: the database answered %d traffic columns, not 4", PQnfields(traffic));
		return -1;
	}
	if (s->n == 0)
		return 0;
	/* rows ordered by class, then time */
	char cur[64] = "";
	double *rx = NULL, *tx = NULL;
	size_t classes = 0;
	for (int i = 0; i < PQntuples(traffic); i++) {
		const char *cls = PQgetvalue(traffic, i, 1);
		if (strcmp(cls, cur) != 0) {
			if (classes == WEB_SERIES_MAX_CLASSES)
				break;
			classes++;
			snprintf(cur, sizeof cur, "%s", cls);
			char sn[128];
			snprintf(sn, sizeof sn, "net_rx_bps:%s", cur);
			add_series(s, sn, "B/s");
			snprintf(sn, sizeof sn, "net_tx_bps:%s", cur);
			add_series(s, sn, "B/s");
			/* after both: adding one may move the block */
			rx = s->v + (s->n_series - 2) * s->n;
			tx = rx + s->n;
		}
		int64_t t = strtoll(PQgetvalue(traffic, i, 0), NULL, 10);
		if (t < s->t[0])
			continue;
		size_t k = (size_t)((t - s->t[0]) / s->step_s);
		if (k < s->n) {
			rx[k] = num(traffic, i, 2);
			tx[k] = num(traffic, i, 3);
		}
	}
	return 0;
}

/* ------------------------------------------------------------ JSON */

/* The answer is written into a buffer of our own: a graph has tens of
 * thousands of numbers, and stdio's per-call locking and printf's
 * conversion were most of its time. */
struct out {
	char *p;
	size_t len, cap;
};

static char *room(struct out *o, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		while (o->len + n + 1 > o->cap)
			o->cap = o->cap ? 2 * o->cap : 65536;
		o->p = vm_xrealloc(o->p, o->cap);
	}
	return o->p + o->len;
}

static void put(struct out *o, const char *s, size_t n)
{
	memcpy(room(o, n), s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* A JSON string: names are ours or a traffic class's, quoted properly
 * all the same. */
static void key(struct out *o, const char *s)
{
	json_t *j = json_string(s);
	char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	puts_(o, text ? text : "\"?\"");
	free(text);
	json_decref(j);
}

static size_t utoa(char *out, uint64_t v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static const double pow10_[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* a (finite, 1e-5 <= a < 1e15) to 6 significant digits: their value
 * d (100000..999999) and the decimal exponent of the first. */
static void six_digits(double a, uint64_t *d, int *e)
{
	int x = (int)floor(log10(a));
	for (int tries = 0; tries < 3; tries++) {
		int k = 5 - x; /* d = a * 10^k; powers of ten are exact up to 1e22 */
		double scaled = k >= 0 ? a * pow10_[k] : a / pow10_[-k];
		double r = round(scaled);
		if (r >= 1e6) { /* log10 rounded up, or 999999.5 rounded to a seventh digit */
			x++;
			continue;
		}
		if (r < 1e5) {
			x--;
			continue;
		}
		*d = (uint64_t)r;
		*e = x;
		return;
	}
	*d = 100000;
	*e = x;
}

size_t web_series_number(char *out, double v)
{
	if (isnan(v) || isinf(v)) {
		memcpy(out, "null", 4);
		return 4;
	}
	size_t n = 0;
	if (v < 0) {
		out[n++] = '-';
		v = -v;
	}
	if (v == 0) {
		out[0] = '0'; /* and -0 too */
		return 1;
	}
	if (v < 1e15 && v == floor(v))
		return n + utoa(out + n, (uint64_t)v);
	if (v < 1e-5 || v >= 1e15)
		return n + (size_t)snprintf(out + n, 32, "%.6g", v);
	uint64_t d;
	int e;
	six_digits(v, &d, &e);
	char dig[8];
	utoa(dig, d);
	int last = 5; /* the last digit that is not a trailing zero */
	while (last > 0 && dig[last] == '0')
		last--;
	if (e >= 5) { /* an integer: the digits, then zeros */
		memcpy(out + n, dig, 6);
		n += 6;
		for (int i = 5; i < e; i++)
			out[n++] = '0';
		return n;
	}
	if (e >= 0) {
		memcpy(out + n, dig, (size_t)e + 1);
		n += (size_t)e + 1;
		if (last > e) {
			out[n++] = '.';
			memcpy(out + n, dig + e + 1, (size_t)(last - e));
			n += (size_t)(last - e);
		}
		return n;
	}
	out[n++] = '0';
	out[n++] = '.';
	for (int i = -1; i > e; i--)
		out[n++] = '0';
	memcpy(out + n, dig, (size_t)last + 1);
	return n + (size_t)last + 1;
}

static void number(struct out *o, double v)
{
	o->len += web_series_number(room(o, 40), v);
}

static void integer(struct out *o, int64_t v)
{
	char *p = room(o, 24);
	size_t n = 0;
	if (v < 0) {
		p[n++] = '-';
		o->len += n + utoa(p + n, -(uint64_t)v);
		return;
	}
	o->len += utoa(p, (uint64_t)v);
}

char *web_series_json(const struct web_series_req *r, const char *subject_json, const struct web_series *s)
{
	struct out o = {0};
	puts_(&o, "{\"subject\":");
	puts_(&o, subject_json);
	puts_(&o, ",\"from\":");
	integer(&o, r->from_s);
	puts_(&o, ",\"to\":");
	integer(&o, r->to_s);
	puts_(&o, ",\"step\":");
	integer(&o, s->step_s);
	puts_(&o, ",\"source\":\"");
	puts_(&o, s->source);
	puts_(&o, "\",\"cf\":\"");
	puts_(&o, r->max ? "MAX" : "AVERAGE");
	puts_(&o, "\",\"t\":[");
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			put(&o, ",", 1);
		integer(&o, s->t[i]);
	}
	puts_(&o, "],\"series\":{");
	for (size_t k = 0; k < s->n_series; k++) {
		if (k)
			put(&o, ",", 1);
		key(&o, s->names[k]);
		puts_(&o, ":[");
		for (size_t i = 0; i < s->n; i++) {
			if (i)
				put(&o, ",", 1);
			number(&o, s->v[k * s->n + i]);
		}
		put(&o, "]", 1);
	}
	puts_(&o, "},\"units\":{");
	for (size_t k = 0; k < s->n_series; k++) {
		if (k)
			put(&o, ",", 1);
		key(&o, s->names[k]);
		puts_(&o, ":\"");
		puts_(&o, s->units[k]);
		put(&o, "\"", 1);
	}
	puts_(&o, "}}");
	*room(&o, 0) = '\0';
	return o.p;
}
