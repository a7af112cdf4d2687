/* Graph data: what GET /api/v1/vms/{uuid}/series and
 * /api/v1/hosts/{name}/series take and answer (docs/WEB.md, "Graph
 * data").
 *
 * The query string is parsed and checked here (web_series_parse: every
 * refusal names the parameter); the points come from the RRD files
 * (web_series_rrd, blocking: a worker thread's job) for recent ranges, or
 * from the rollups through schema 14's web_*_series() functions (the
 * caller runs the query; web_series_from_rows turns its rows into the
 * same form).  web_series_json writes the answer.  No text from a
 * request reaches a file name: the caller names the file from a uuid or
 * host name it read from the database. */
#ifndef VM_WEB_SERIES_H
#define VM_WEB_SERIES_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parse.h"
#include "rrdout.h"

#define WEB_SERIES_MAX_SPAN_S (400 * 86400) /* a range's longest span */
#define WEB_SERIES_RRD_SPAN_S (48 * 3600)   /* longest span drawn from the RRD files by default */
#define WEB_SERIES_MAX_CLASSES 16           /* traffic classes in one answer */

enum web_series_kind { WEB_SERIES_VM, WEB_SERIES_HOST };

/* The query string parameters a series endpoint takes (NULL-terminated). */
extern const char *const web_series_params[];

struct web_series_req {
	enum web_series_kind kind;
	int64_t from_s, to_s; /* [from, to), epoch seconds */
	bool max;             /* cf=MAX */
	uint32_t metrics;     /* bit i: metric i of the kind's table */
	bool rrd;             /* from the RRD files (else the rollups) */
	int step_s;           /* rollups: 3600 or 86400; RRD: the resolution asked */
};

/* The kind's metrics: their count, and name and unit of metric i
 * (static).  VM metric "net_class" stands for the traffic classes' series
 * ("net_rx_bps:CLASS", "net_tx_bps:CLASS"). */
size_t web_series_n_metrics(enum web_series_kind kind);
const char *web_series_metric(enum web_series_kind kind, size_t i);
const char *web_series_unit(enum web_series_kind kind, size_t i);
/* The index of "net_class" among the VM metrics. */
size_t web_series_class_metric(void);

/* Parses from (default -1h), to (default now), cf (AVERAGE or MAX),
 * metrics (comma separated; default all) and source (auto, rrd, rollup)
 * of q for kind at now_s.  Times are epoch seconds, "now" or -N followed
 * by s, m, h or d.  0, or -1 with the reason in err naming the parameter
 * (from not before to, an unknown metric, a span over
 * WEB_SERIES_MAX_SPAN_S, a time in the future). */
int web_series_parse(enum web_series_kind kind, const struct web_query *q, int64_t now_s, struct web_series_req *r,
                     char *err, size_t errsize);

/* Points: n times, n_series series of n values each (NaN: null). */
struct web_series {
	int64_t step_s;
	const char *source; /* "rrd" or "rollup" (static) */
	size_t n;
	int64_t *t;
	size_t n_series, cap_series;
	char **names;       /* "cpu_alloc_pct", "net_rx_bps:internet" */
	const char **units; /* static */
	double *v;          /* v[s * n + i] */
};
void web_series_release(struct web_series *s);

/* How long an answer of s may be kept (ms): half its step, at most
 * max_ms (web.graph-cache-ms).  A point is a step's consolidation, so a
 * kept answer is at most one step behind (it is served too old up to
 * twice this); the rollups' hourly point of the hour under way grows each
 * minute, and the cap says how far behind it may be. */
int web_series_keep_ms(const struct web_series *s, int max_ms);

/* What the database says of the subject, for the percentages: its host's
 * CPUs and memory, and a VM's vCPUs now (for steps whose RRD row lacks
 * them). */
struct web_series_host {
	int cpus;
	int64_t memory_kib;
	int vcpus;
};

/* From the RRD files: "vm-UUID" (and "vm-UUID-traffic-CLASS" for each of
 * the n_classes classes) or "host-NAME"; subject is that UUID or NAME, as
 * read from the database.  Blocking.  0, 1 if the subject has no file (s
 * empty), -1 with err. */
int web_series_rrd(struct vm_rrd *rrd, const struct web_series_req *r, const char *subject,
                   const struct web_series_host *host, const char *const *classes, size_t n_classes,
                   struct web_series *s, char *err, size_t errsize);

/* From web_vm_series()/web_host_series() rows: t, then one column per
 * metric but net_class, in the table's order.  0, or -1 with err on a
 * result of another shape. */
int web_series_from_rows(const struct web_series_req *r, const PGresult *rows, struct web_series *s, char *err,
                         size_t errsize);
/* Adds the traffic classes' series from web_vm_traffic_series() rows (t,
 * class, rx_bps, tx_bps; ordered by class, then t) to s, filled by
 * web_series_from_rows().  0, or -1 with err. */
int web_series_add_traffic(const struct web_series_req *r, const PGresult *traffic, struct web_series *s, char *err,
                           size_t errsize);

/* The answer: {"subject": subject_json, "from", "to", "step", "source",
 * "cf", "t": [...], "series": {...}, "units": {...}}; subject_json is a
 * JSON object's text.  The caller frees the result. */
char *web_series_json(const struct web_series_req *r, const char *subject_json, const struct web_series *s);
/* v as JSON into out (room for 32 bytes): null for NaN and infinities,
 * integers as such, others to 6 significant digits (as %.6g, in fixed
 * notation from 1e-5 to 1e15); returns its length (no NUL). */
size_t web_series_number(char *out, double v);

#endif
