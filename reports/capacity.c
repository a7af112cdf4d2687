/* reports/capacity: the capacity report read from the hourly rollups and
 * computed (capacity.h).  One pass over the period's VM hours (a cursor,
 * so that a month of a large fleet is never one result in memory) fills
 * hourly series per host, per tenant and per VM; everything else is
 * arithmetic on them. */
#include "config.h"

#include "capacity.h"

#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capacity_cost.h"
#include "forecast.h"
#include "pgx.h"
#include "xalloc.h"

#define GIB_KIB 1048576.0
#define HOUR_NS 3600e9
#define HOUR_MS 3600e3
/* floor() of a quotient that is a whole number in exact arithmetic must
 * not fall one short for a rounding error in the doubles. */
#define FIT_EPS 1e-9
#define FETCH_ROWS "20000"

/* ---------------------------------------------------------------- configuration */

static const char *check_size(const char *v)
{
	struct rep_cap_size s;
	return !*v || rep_cap_size_parse(v, &s) == 0 ? NULL : "must be VCPUS:MEM_GIB[:DISK_GIB], whole numbers above 0";
}

/* "NAME=GLOB[,GLOB...]" words separated by blanks. */
static const char *check_classes(const char *v)
{
	const char *p = v;
	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		const char *w = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		const char *eq = memchr(w, '=', (size_t)(p - w));
		if (!eq || eq == w || eq + 1 == p || eq[1] == ',' || p[-1] == ',')
			return "must be words NAME=GLOB[,GLOB...] separated by blanks";
	}
	return NULL;
}

static const struct vm_conf_option rep_conf_options[] = {
    {"ha-reserve-hosts", VM_CONF_INT, offsetof(struct rep_conf, ha_reserve_hosts), 0, 64, 1, NULL, NULL},
    {"buffer-percent", VM_CONF_INT, offsetof(struct rep_conf, buffer_percent), 0, 99, 10, NULL, NULL},
    {"host-disk-gib", VM_CONF_INT, offsetof(struct rep_conf, host_disk_gib), 0, 1 << 30, 0, NULL, NULL},
    {"vcpu-per-pcpu", VM_CONF_INT, offsetof(struct rep_conf, vcpu_per_pcpu), 1, 64, 4, NULL, NULL},
    {"vm-size", VM_CONF_STR, offsetof(struct rep_conf, vm_size), 0, 64, 0, "", check_size},
    {"host-classes", VM_CONF_STR, offsetof(struct rep_conf, host_classes), 0, 4096, 0, "", check_classes},
    {"idle-cpu-percent", VM_CONF_INT, offsetof(struct rep_conf, idle_cpu_percent), 0, 100, 5, NULL, NULL},
    {"oversized-cpu-percent", VM_CONF_INT, offsetof(struct rep_conf, oversized_percent), 0, 100, 40, NULL, NULL},
    {"rightsize-cpu-percent", VM_CONF_INT, offsetof(struct rep_conf, rightsize_percent), 1, 100, 70, NULL, NULL},
    {"forecast-days", VM_CONF_INT, offsetof(struct rep_conf, forecast_days), 1, 3660, 365, NULL, NULL},
};

const struct vm_conf_program rep_conf_program = {
    "reports", rep_conf_options, sizeof rep_conf_options / sizeof *rep_conf_options, sizeof(struct rep_conf)};

/* ---------------------------------------------------------------- parameters */

/* A whole number 1..max from s up to end. */
static int whole(const char *s, const char *end, int64_t max, int64_t *out)
{
	if (s == end || end - s > 12)
		return -1;
	int64_t v = 0;
	for (const char *c = s; c < end; c++) {
		if (*c < '0' || *c > '9')
			return -1;
		v = v * 10 + (*c - '0');
	}
	if (v < 1 || v > max)
		return -1;
	*out = v;
	return 0;
}

int rep_cap_size_parse(const char *text, struct rep_cap_size *s)
{
	const char *a = strchr(text, ':');
	if (!a)
		return -1;
	const char *b = strchr(a + 1, ':');
	int64_t v, m, d = 0;
	if (whole(text, a, 4096, &v) < 0 || whole(a + 1, b ? b : a + 1 + strlen(a + 1), 1 << 24, &m) < 0 ||
	    (b && whole(b + 1, b + 1 + strlen(b + 1), 1 << 30, &d) < 0))
		return -1;
	*s = (struct rep_cap_size){v, m * 1048576, b ? d << 30 : -1};
	return 0;
}

int rep_cap_whatif_parse(const char *text, struct rep_cap_whatif *w, char *err, size_t errsize)
{
	memset(w, 0, sizeof *w);
	if (strncmp(text, "remove-host=", 12) == 0) {
		if (!text[12] || strlen(text + 12) >= sizeof w->host) {
			snprintf(err, errsize, "what-if '%s': give the host: remove-host=H", text);
			return -1;
		}
		w->remove = true;
		snprintf(w->host, sizeof w->host, "%s", text + 12);
		return 0;
	}
	const char *c = strncmp(text, "add=", 4) == 0 ? strchr(text + 4, ':') : NULL;
	if (!c || whole(text + 4, c, 100000, &w->add_n) < 0 || rep_cap_size_parse(c + 1, &w->size) < 0) {
		snprintf(err, errsize,
		         "what-if '%s' is not add=N:VCPUS:MEM_GIB[:DISK_GIB] (whole numbers above 0) or remove-host=H",
		         text);
		return -1;
	}
	return 0;
}

/* "YYYY-MM-DD" at s (10 bytes) as UTC seconds of its midnight. */
static int day_parse(const char *s, int64_t *out)
{
	for (int i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
			return -1;
	struct tm tm = {.tm_year = atoi(s) - 1900, .tm_mon = atoi(s + 5) - 1, .tm_mday = atoi(s + 8)};
	if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1)
		return -1;
	int mday = tm.tm_mday, mon = tm.tm_mon;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != mday || tm.tm_mon != mon) /* 2026-02-30 */
		return -1;
	*out = t;
	return 0;
}

int rep_cap_period_parse(const char *period, const char *month, struct rep_cap_params *p, char *err, size_t errsize)
{
	if (month) {
		char d[11];
		if (strlen(month) != 7 || month[4] != '-' || snprintf(d, sizeof d, "%s-01", month) != 10 ||
		    day_parse(d, &p->from) < 0) {
			snprintf(err, errsize, "month '%s' is not a month YYYY-MM (01 to 12, from 1970)", month);
			return -1;
		}
		struct tm tm;
		time_t t = (time_t)p->from;
		gmtime_r(&t, &tm);
		tm.tm_mon++;
		p->to = timegm(&tm);
		snprintf(p->period, sizeof p->period, "%s", month);
		return 0;
	}
	int64_t last;
	if (!period || strlen(period) != 22 || strncmp(period + 10, "..", 2) != 0 || day_parse(period, &p->from) < 0 ||
	    day_parse(period + 12, &last) < 0 || last < p->from) {
		snprintf(err, errsize,
		         "period '%s' is not FROM..TO, two UTC days YYYY-MM-DD (both included), FROM not after TO",
		         period ? period : "");
		return -1;
	}
	p->to = last + 86400;
	snprintf(p->period, sizeof p->period, "%s", period);
	return 0;
}

int rep_cap_last_parse(const char *text, struct rep_cap_params *p, char *err, size_t errsize)
{
	char *end;
	long n = text && *text >= '0' && *text <= '9' ? strtol(text, &end, 10) : 0;
	int unit = n > 0 && end[0] && !end[1] ? (end[0] == 'h' ? 1 : end[0] == 'd' ? 24 : 0) : 0;
	if (!unit || n > 8784 / unit) {
		snprintf(err, errsize, "last '%s' is not N hours or days (6h, 7d; at most 8784 hours)",
		         text ? text : "");
		return -1;
	}
	p->last_hours = (int)n * unit;
	snprintf(p->period, sizeof p->period, "last %s", text);
	return 0;
}

int rep_cap_last_resolve(struct vm_pg *pg, struct rep_cap_params *p, char *err, size_t errsize)
{
	char now[24];
	snprintf(now, sizeof now, "%" PRId64, p->now);
	const char *pp[] = {now};
	PGresult *res = vm_pg_exec(pg,
	                           "SELECT extract(epoch FROM least(date_trunc('hour', to_timestamp($1::bigint)), "
	                           "closed_upto))::bigint FROM rollup_state WHERE closed_upto > '-infinity'",
	                           1, pp);
	if (!res) {
		snprintf(err, errsize, "cannot read the rollups' state: %s", vm_pg_error(pg));
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		snprintf(err, errsize,
		         "the %s: no hour is rolled up yet (vmeter-admin maintain closes each hour once it is over)",
		         p->period);
		return -1;
	}
	p->to = vm_pgx_int(res, 0, 0);
	PQclear(res);
	p->from = p->to - (int64_t)p->last_hours * 3600;
	char from[24], to[24];
	time_t tf = (time_t)p->from, tt = (time_t)p->to;
	struct tm tm;
	strftime(from, sizeof from, "%Y-%m-%d %H:%M", gmtime_r(&tf, &tm));
	strftime(to, sizeof to, "%Y-%m-%d %H:%M", gmtime_r(&tt, &tm));
	snprintf(p->period, sizeof p->period, "%s..%s UTC", from, to);
	return 0;
}

/* ---------------------------------------------------------------- reading */

struct host {
	int id;
	char *name, *class;
	int64_t cpus, mem_kib; /* 0: no inventory by the period's end */
	bool in_scope;
	uint8_t *seen;
	double *d[REP_CAP_NRES], *busy, *av, *am;
	/* per-host figures for headroom */
	struct rep_cap_stat st[REP_CAP_NRES];
	double usable[REP_CAP_NRES];
	int64_t vcpus, mem;
	double extra[REP_CAP_NRES]; /* what-if load placed on it */
	int64_t extra_vcpus, extra_mem;
	bool removed;
};

struct tenant {
	char *name;
	uint8_t *seen;
	double *d[REP_CAP_NRES], *av, *am;
};

struct vm {
	int id;
	char *uuid, *name, *tenant;
	int host; /* index into hosts, -1 */
	int64_t vcpus, mem_kib;
	bool gone, running, in_scope;
	double cpu_ns, cov_ms, minutes, disk_cap_int, disk_cap_ms;
	float *cpu; /* demand while observed per hour, cores; NaN */
};

struct owner {
	int id;
	int tenant; /* index */
};

struct ctx {
	struct vm_pg *pg;
	const struct rep_cap_params *p;
	const struct rep_conf *conf;
	size_t H;
	struct host *hosts;
	size_t nh;
	int *host_ix; /* by host_id (0..max_host_id): index into hosts, -1 */
	int max_host_id;
	struct tenant *tenants;
	size_t nt;
	struct vm *vms;
	size_t nv;
	struct owner *owners;
	size_t no;
	char *err;
	size_t errsize;
};

static int by_int(const void *a, const void *b)
{
	const int *x = a, *y = b; /* struct owner and struct vm start with their id */
	return (*x > *y) - (*x < *y);
}

static double *nan_series(size_t n)
{
	double *v = vm_xmalloc((n ? n : 1) * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = NAN;
	return v;
}

static double *zeros(size_t n)
{
	return vm_xcalloc(n ? n : 1, sizeof(double));
}

static double num(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? 0 : strtod(PQgetvalue(res, r, c), NULL);
}

/* The class of a host: the first NAME=GLOB word of host-classes whose
 * globs match its name, else its hardware. */
static char *host_class(const char *classes, const char *name, int64_t cpus, int64_t mem_kib)
{
	const char *p = classes ? classes : "";
	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		const char *w = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		const char *eq = memchr(w, '=', (size_t)(p - w));
		if (!eq)
			continue;
		char *globs = vm_xstrndup(eq + 1, (size_t)(p - eq - 1));
		bool match = false;
		for (char *save = NULL, *g = strtok_r(globs, ",", &save); g && !match; g = strtok_r(NULL, ",", &save))
			match = fnmatch(g, name, 0) == 0;
		free(globs);
		if (match)
			return vm_xstrndup(w, (size_t)(eq - w));
	}
	if (!cpus)
		return vm_xstrdup("unknown hardware");
	return vm_xasprintf("%" PRId64 "cpu-%" PRId64 "GiB", cpus, (mem_kib + 524288) / 1048576);
}

/* Every hour row names its host: a direct table, not a search. */
static int find_host(const struct ctx *c, int id)
{
	return id >= 0 && id <= c->max_host_id ? c->host_ix[id] : -1;
}

static int fail(struct ctx *c, const char *what)
{
	return vm_pg_fail(c->pg, what, c->err, c->errsize);
}

static int read_hosts(struct ctx *c, const char *to)
{
	const char *p[] = {to};
	PGresult *res = vm_pg_exec(c->pg,
	                           "SELECT h.host_id, h.hostname, coalesce(i.cpus, 0), coalesce(i.memory_kib, 0) "
	                           "FROM host h LEFT JOIN LATERAL (SELECT cpus, memory_kib FROM host_inventory hi "
	                           "WHERE hi.host_id = h.host_id AND hi.valid_from < $1::timestamptz "
	                           "ORDER BY hi.valid_from DESC LIMIT 1) i ON true ORDER BY h.hostname",
	                           1, p);
	if (!res)
		return fail(c, "cannot read the hosts");
	c->nh = (size_t)PQntuples(res);
	c->hosts = vm_xcalloc(c->nh ? c->nh : 1, sizeof *c->hosts);
	for (size_t i = 0; i < c->nh; i++) {
		struct host *h = &c->hosts[i];
		int r = (int)i;
		h->id = (int)vm_pgx_int(res, r, 0);
		h->name = vm_xstrdup(PQgetvalue(res, r, 1));
		h->cpus = vm_pgx_int(res, r, 2);
		h->mem_kib = vm_pgx_int(res, r, 3);
		h->class = host_class(c->conf->host_classes, h->name, h->cpus, h->mem_kib);
		h->in_scope = !c->p->host || strcmp(c->p->host, h->name) == 0;
		h->seen = vm_xcalloc(c->H ? c->H : 1, 1);
		for (int k = 0; k < REP_CAP_NRES; k++)
			h->d[k] = zeros(c->H);
		h->busy = zeros(c->H);
		h->av = zeros(c->H);
		h->am = zeros(c->H);
		c->max_host_id = h->id > c->max_host_id ? h->id : c->max_host_id;
	}
	PQclear(res);
	c->host_ix = vm_xmalloc(((size_t)c->max_host_id + 1) * sizeof *c->host_ix);
	for (int i = 0; i <= c->max_host_id; i++)
		c->host_ix[i] = -1;
	for (size_t i = 0; i < c->nh; i++)
		if (c->hosts[i].id >= 0)
			c->host_ix[c->hosts[i].id] = (int)i;
	return 0;
}

static int read_owners(struct ctx *c)
{
	PGresult *res = vm_pg_exec(c->pg, "SELECT owner_id, tenant FROM owner ORDER BY tenant, owner_id", 0, NULL);
	if (!res)
		return fail(c, "cannot read the owners");
	c->no = (size_t)PQntuples(res);
	c->owners = vm_xcalloc(c->no ? c->no : 1, sizeof *c->owners);
	c->tenants = vm_xcalloc(c->no ? c->no : 1, sizeof *c->tenants);
	for (size_t i = 0; i < c->no; i++) {
		const char *t = PQgetvalue(res, (int)i, 1);
		if (!c->nt || strcmp(c->tenants[c->nt - 1].name, t) != 0) {
			struct tenant *x = &c->tenants[c->nt++];
			x->name = vm_xstrdup(t);
			x->seen = vm_xcalloc(c->H ? c->H : 1, 1);
			for (int k = 0; k < REP_CAP_NRES; k++)
				x->d[k] = zeros(c->H);
			x->av = zeros(c->H);
			x->am = zeros(c->H);
		}
		c->owners[i] = (struct owner){(int)vm_pgx_int(res, (int)i, 0), (int)c->nt - 1};
	}
	PQclear(res);
	qsort(c->owners, c->no, sizeof *c->owners, by_int);
	return 0;
}

/* The VMs defined by the period's end, as their last inventory row before
 * it says, and whether they ran in it. */
static int read_vms(struct ctx *c, const char *from, const char *to)
{
	const char *p[] = {from, to};
	/* the lifecycle once for all VMs (one window pass over vm_event), not
	 * a call per VM */
	PGresult *res = vm_pg_exec(
	    c->pg,
	    "WITH run AS (SELECT DISTINCT vm_id FROM vm_lifecycle_between($1::timestamptz, $2::timestamptz) "
	    "WHERE state = 'running'), "
	    "last_ev AS (SELECT DISTINCT ON (vm_id) vm_id, event FROM vm_event WHERE at < $2::timestamptz "
	    "ORDER BY vm_id, at DESC, event) "
	    "SELECT DISTINCT ON (i.vm_id) i.vm_id, v.uuid, i.name, i.host_id, i.vcpus, i.memory_kib, i.tenant, "
	    "coalesce(le.event = 'undefined', false), r.vm_id IS NOT NULL "
	    "FROM vm_inventory i JOIN vm v ON v.vm_id = i.vm_id LEFT JOIN last_ev le ON le.vm_id = i.vm_id "
	    "LEFT JOIN run r ON r.vm_id = i.vm_id WHERE i.valid_from < $2::timestamptz "
	    "ORDER BY i.vm_id, i.valid_from DESC",
	    2, p);
	if (!res)
		return fail(c, "cannot read the VMs' inventory");
	c->nv = (size_t)PQntuples(res);
	c->vms = vm_xcalloc(c->nv ? c->nv : 1, sizeof *c->vms);
	for (size_t i = 0; i < c->nv; i++) {
		struct vm *v = &c->vms[i];
		int r = (int)i;
		v->id = (int)vm_pgx_int(res, r, 0);
		v->uuid = vm_xstrdup(PQgetvalue(res, r, 1));
		v->name = vm_xstrdup(PQgetvalue(res, r, 2));
		v->host = find_host(c, (int)vm_pgx_int(res, r, 3));
		v->vcpus = vm_pgx_int(res, r, 4);
		v->mem_kib = vm_pgx_int(res, r, 5);
		v->tenant = vm_xstrdup(PQgetvalue(res, r, 6));
		v->gone = strcmp(PQgetvalue(res, r, 7), "t") == 0;
		v->running = strcmp(PQgetvalue(res, r, 8), "t") == 0;
		v->in_scope = !v->gone && v->host >= 0 && c->hosts[v->host].in_scope &&
		              (!c->p->tenant || strcmp(c->p->tenant, v->tenant) == 0);
		v->cpu = vm_xmalloc((c->H ? c->H : 1) * sizeof *v->cpu);
		for (size_t k = 0; k < c->H; k++)
			v->cpu[k] = NAN;
	}
	PQclear(res);
	return 0;
}

/* The period's VM hours, FETCH by FETCH. */
static int read_vm_hours(struct ctx *c, const char *from, const char *to, size_t *rows)
{
	const char *p[] = {from, to, c->p->host, c->p->tenant};
	if (vm_pg_begin(c->pg) < 0)
		return fail(c, "cannot read the VM hours");
	int rc = vm_pg_cmd(
	    c->pg,
	    "DECLARE cap_vm NO SCROLL CURSOR FOR "
	    "SELECT vm_id, host_id, owner_id, extract(epoch FROM hour)::bigint, minutes, coverage_ms, cpu_ns, "
	    "rss_kib_int, disk_allocation_bytes_int, disk_capacity_bytes_int, disk_capacity_bytes_ms, net_rx_bytes, "
	    "net_tx_bytes, vcpus_int, mem_max_kib_int FROM vm_usage_hour "
	    "WHERE hour >= $1::timestamptz AND hour < $2::timestamptz "
	    "AND ($3::text IS NULL OR host_id = (SELECT host_id FROM host WHERE hostname = $3)) "
	    "AND ($4::text IS NULL OR owner_id IN (SELECT owner_id FROM owner WHERE tenant = $4))",
	    4, p);
	*rows = 0;
	for (PGresult *res; rc == 0;) {
		res = vm_pg_exec(c->pg, "FETCH " FETCH_ROWS " FROM cap_vm", 0, NULL);
		if (!res) {
			rc = -1;
			break;
		}
		int n = PQntuples(res);
		for (int r = 0; r < n; r++) {
			int key = (int)vm_pgx_int(res, r, 0);
			int hi = find_host(c, (int)vm_pgx_int(res, r, 1));
			int okey = (int)vm_pgx_int(res, r, 2);
			int64_t k = (vm_pgx_int(res, r, 3) - c->p->from) / 3600;
			if (k < 0 || (size_t)k >= c->H || hi < 0)
				continue;
			double cov = num(res, r, 5), cpu = num(res, r, 6), rss = num(res, r, 7), dal = num(res, r, 8),
			       net = num(res, r, 11) + num(res, r, 12), vc = num(res, r, 13), mm = num(res, r, 14);
			double dv[REP_CAP_NRES] = {cpu / HOUR_NS, rss / HOUR_MS, dal / HOUR_MS, net * 8 / 3600};
			struct host *h = &c->hosts[hi];
			h->seen[k] = 1;
			for (int x = 0; x < REP_CAP_NRES; x++)
				h->d[x][k] += dv[x];
			h->av[k] += vc / HOUR_MS;
			h->am[k] += mm / HOUR_MS;
			const struct owner *o = bsearch(&okey, c->owners, c->no, sizeof *c->owners, by_int);
			if (o) {
				struct tenant *t = &c->tenants[o->tenant];
				t->seen[k] = 1;
				for (int x = 0; x < REP_CAP_NRES; x++)
					t->d[x][k] += dv[x];
				t->av[k] += vc / HOUR_MS;
				t->am[k] += mm / HOUR_MS;
			}
			struct vm *v = bsearch(&key, c->vms, c->nv, sizeof *c->vms, by_int);
			if (v) {
				v->cpu_ns += cpu;
				v->cov_ms += cov;
				v->minutes += num(res, r, 4);
				v->disk_cap_int += num(res, r, 9);
				v->disk_cap_ms += num(res, r, 10);
				if (cov > 0) /* a VM on two hosts in one hour: their sum */
					v->cpu[k] = (float)((isnan(v->cpu[k]) ? 0 : v->cpu[k]) + cpu / (cov * 1e6));
			}
		}
		*rows += (size_t)n;
		PQclear(res);
		if (n == 0)
			break;
	}
	if (rc < 0) {
		fail(c, "cannot read the VM hours");
		vm_pg_rollback(c->pg);
		return -1;
	}
	if (vm_pg_commit(c->pg) < 0)
		return fail(c, "cannot read the VM hours");
	return 0;
}

static int read_host_hours(struct ctx *c, const char *from, const char *to, size_t *rows)
{
	const char *p[] = {from, to};
	PGresult *res = vm_pg_exec(c->pg,
	                           "SELECT host_id, extract(epoch FROM hour)::bigint, cpu_busy_ns FROM host_usage_hour "
	                           "WHERE hour >= $1::timestamptz AND hour < $2::timestamptz",
	                           2, p);
	if (!res)
		return fail(c, "cannot read the host hours");
	*rows = (size_t)PQntuples(res);
	for (int r = 0; r < PQntuples(res); r++) {
		int hi = find_host(c, (int)vm_pgx_int(res, r, 0));
		int64_t k = (vm_pgx_int(res, r, 1) - c->p->from) / 3600;
		if (hi < 0 || k < 0 || (size_t)k >= c->H)
			continue;
		c->hosts[hi].seen[k] = 1;
		c->hosts[hi].busy[k] += num(res, r, 2) / HOUR_NS;
	}
	PQclear(res);
	return 0;
}

/* ---------------------------------------------------------------- figures */

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Over the values that are not NaN; p95 by nearest rank: the smallest
 * value with at least 95 % of the values at or below it. */
static struct rep_cap_stat stat_of(const double *v, size_t n)
{
	struct rep_cap_stat s = {0};
	double *w = vm_xmalloc((n ? n : 1) * sizeof *w), sum = 0;
	for (size_t i = 0; i < n; i++)
		if (!isnan(v[i])) {
			w[s.n++] = v[i];
			sum += v[i];
		}
	if (s.n) {
		qsort(w, s.n, sizeof *w, dcmp);
		s.avg = sum / (double)s.n;
		s.p95 = w[(size_t)ceil(0.95 * (double)s.n) - 1];
		s.peak = w[s.n - 1];
	}
	free(w);
	return s;
}

/* A series over the hours some of `hosts` (or a tenant) had data: their
 * sum (a host without data in an hour adds nothing); NaN where none had. */
static double *sum_series(struct ctx *c, const size_t *hi, size_t n, int which, const struct tenant *t)
{
	double *s = nan_series(c->H);
	for (size_t k = 0; k < c->H; k++) {
		if (t) {
			if (t->seen[k])
				s[k] = which < REP_CAP_NRES        ? t->d[which][k]
				       : which == REP_CAP_NRES     ? NAN
				       : which == REP_CAP_NRES + 1 ? t->av[k]
				                                   : t->am[k];
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			const struct host *h = &c->hosts[hi[i]];
			if (!h->seen[k])
				continue;
			double v = which < REP_CAP_NRES        ? h->d[which][k]
			           : which == REP_CAP_NRES     ? h->busy[k]
			           : which == REP_CAP_NRES + 1 ? h->av[k]
			                                       : h->am[k];
			s[k] = (isnan(s[k]) ? 0 : s[k]) + v;
		}
	}
	return s;
}

static double host_cap(const struct ctx *c, const struct host *h, int r)
{
	if (!h->cpus)
		return 0;
	return r == REP_CAP_CPU    ? (double)h->cpus
	       : r == REP_CAP_MEM  ? (double)h->mem_kib
	       : r == REP_CAP_DISK ? (double)c->conf->host_disk_gib * 1073741824.0
	                           : 0;
}

static double size_of(const struct rep_cap_size *s, int r)
{
	return r == REP_CAP_CPU    ? (double)s->vcpus
	       : r == REP_CAP_MEM  ? (double)s->mem_kib
	       : r == REP_CAP_DISK ? (double)s->disk_bytes
	                           : 0;
}

static int64_t fit(double free, double need)
{
	if (need <= 0)
		return INT64_MAX;
	double f = floor(free / need + FIT_EPS);
	return f < 0 ? 0 : (int64_t)f;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Capacity, the HA reserve of the k largest hosts (per resource) and the
 * buffer, over hosts hi[] that are not removed.  reserve: a group's, not
 * a single host's. */
static void capacity(const struct ctx *c, const size_t *hi, size_t n, bool reserve, double *cap, double *res,
                     double *usable)
{
	for (int r = 0; r < REP_CAP_NRES; r++) {
		double *v = vm_xmalloc((n ? n : 1) * sizeof *v);
		size_t m = 0;
		cap[r] = res[r] = 0;
		for (size_t i = 0; i < n; i++)
			if (!c->hosts[hi[i]].removed) {
				v[m] = host_cap(c, &c->hosts[hi[i]], r);
				cap[r] += v[m++];
			}
		if (reserve) {
			qsort(v, m, sizeof *v, dcmp);
			for (size_t j = 0; j < (size_t)c->conf->ha_reserve_hosts && j < m; j++)
				res[r] += v[m - 1 - j];
		}
		usable[r] = (cap[r] - res[r]) * (100 - c->conf->buffer_percent) / 100.0;
		free(v);
	}
}

static int64_t host_fit_demand(const struct ctx *c, const struct host *h, const struct rep_cap_size *s)
{
	if (h->removed || !h->cpus)
		return 0;
	int64_t f = INT64_MAX;
	for (int r = 0; r <= REP_CAP_DISK; r++)
		if (host_cap(c, h, r) > 0)
			f = min64(f, fit(h->usable[r] - h->st[r].p95 - h->extra[r], size_of(s, r)));
	return f == INT64_MAX ? 0 : f;
}

static int64_t host_fit_alloc(const struct ctx *c, const struct host *h, const struct rep_cap_size *s)
{
	if (h->removed || !h->cpus)
		return 0;
	return min64(fit(h->usable[REP_CAP_CPU] * c->conf->vcpu_per_pcpu - (double)(h->vcpus + h->extra_vcpus),
	                 (double)s->vcpus),
	             fit(h->usable[REP_CAP_MEM] - (double)(h->mem + h->extra_mem), (double)s->mem_kib));
}

/* A group's headroom: its hosts' fits, bounded by what the group's usable
 * capacity (after the HA reserve) leaves over its 95th percentile. */
static void group_fit(const struct ctx *c, struct rep_cap_row *row, const size_t *hi, size_t n,
                      const struct rep_cap_size *s, const double *usable, const double *extra, int64_t displaced,
                      int64_t *fd, int64_t *fa)
{
	int64_t sd = 0, sa = 0;
	for (size_t i = 0; i < n; i++) {
		sd += host_fit_demand(c, &c->hosts[hi[i]], s);
		sa += host_fit_alloc(c, &c->hosts[hi[i]], s);
	}
	sd = sd > displaced ? sd - displaced : 0;
	sa = sa > displaced ? sa - displaced : 0;
	int64_t bd = INT64_MAX;
	for (int r = 0; r <= REP_CAP_DISK; r++)
		if (row->cap[r] > 0)
			bd = min64(bd, fit(usable[r] - row->demand[r].p95 - extra[r], size_of(s, r)));
	int64_t ev = 0, em = 0;
	for (size_t i = 0; i < n; i++)
		ev += c->hosts[hi[i]].extra_vcpus, em += c->hosts[hi[i]].extra_mem;
	int64_t ba =
	    min64(fit(usable[REP_CAP_CPU] * c->conf->vcpu_per_pcpu - (double)(row->vcpus + ev), (double)s->vcpus),
	          fit(usable[REP_CAP_MEM] - (double)(row->mem_kib + em), (double)s->mem_kib));
	*fd = min64(sd, bd);
	*fa = min64(sa, ba);
}

/* Time until threshold from an existing fit. */
static void time_to(struct rep_forecast *f, double threshold, double horizon, struct rep_cap_forecast *out)
{
	out->done = true;
	out->threshold = true;
	out->method = rep_method_name(rep_forecast_method(f));
	out->r2 = rep_forecast_r2(f);
	out->sigma = rep_forecast_sigma(f);
	out->at_horizon = rep_forecast_at(f, horizon, &out->at_lo, &out->at_hi);
	out->hours = out->earliest = out->latest = -1;
	if (threshold > 0)
		out->hours = rep_forecast_time_to(f, threshold, horizon, &out->earliest, &out->latest);
	else
		out->hours = out->earliest = out->latest = 0; /* no usable capacity at all: none left now */
}

struct fits {
	struct rep_forecast *f[REP_CAP_NRES];
};

/* The chart of a resource: daily peaks of the period, then the
 * forecast's daily highest hour and band. */
static void chart(struct ctx *c, struct rep_cap_row *row, int r, struct rep_forecast *f, double horizon)
{
	/* as far ahead as the period is long, or to a day past running out
	 * (within REP_CAP_CHART_DAYS): the period stays readable */
	size_t days = (c->H + 23) / 24, ahead = days;
	const struct rep_cap_forecast *o = &row->fc[r];
	if (o->done && o->threshold && o->hours > 0 && (size_t)(o->hours / 24) + 2 > ahead)
		ahead = (size_t)(o->hours / 24) + 2;
	ahead = ahead > (size_t)(horizon / 24) ? (size_t)(horizon / 24) : ahead;
	ahead = ahead > REP_CAP_CHART_DAYS ? REP_CAP_CHART_DAYS : ahead;
	row->chart_n = days + ahead;
	for (int k = 0; k < 4; k++)
		row->chart[r][k] = nan_series(row->chart_n);
	for (size_t k = 0; k < c->H; k++) {
		double v = row->series[r][k], *d = &row->chart[r][0][k / 24];
		if (!isnan(v) && (isnan(*d) || v > *d))
			*d = v;
	}
	if (!f)
		return;
	/* the forecast starts at the period's last point, so the lines meet */
	row->chart[r][1][days - 1] = row->chart[r][2][days - 1] = row->chart[r][3][days - 1] =
	    row->chart[r][0][days - 1];
	size_t h0 = c->H; /* hours into the series where the forecast's day j starts */
	for (size_t j = 0; j < ahead; j++)
		for (size_t k = 0; k < 24; k++) {
			double lo, hi, v = rep_forecast_at(f, (double)(days * 24 - h0 + j * 24 + k + 1), &lo, &hi);
			double *m = &row->chart[r][1][days + j], *l = &row->chart[r][2][days + j],
			       *u = &row->chart[r][3][days + j];
			*m = isnan(*m) || v > *m ? v : *m;
			*l = isnan(*l) || lo > *l ? lo : *l;
			*u = isnan(*u) || hi > *u ? hi : *u;
		}
}

static void forecasts(struct ctx *c, struct rep_cap_row *row, struct fits *fits, double horizon, bool charts)
{
	for (int r = 0; r <= REP_CAP_DISK; r++) {
		struct rep_cap_forecast *o = &row->fc[r];
		o->steps = c->H;
		for (size_t k = 0; k < c->H; k++)
			o->used += !isnan(row->series[r][k]);
		if (r == REP_CAP_DISK && row->capacity && row->cap[r] <= 0) {
			snprintf(o->why, sizeof o->why, "host disk capacity unknown (reports { host-disk-gib })");
			continue;
		}
		char err[160];
		fits->f[r] = rep_forecast_fit(row->series[r], c->H, 24, REP_AUTO, err, sizeof err);
		if (!fits->f[r]) {
			snprintf(o->why, sizeof o->why, "%s", err);
			continue;
		}
		time_to(fits->f[r], row->capacity ? row->usable[r] : INFINITY, horizon, o);
		o->threshold = row->capacity;
		if (!row->capacity)
			o->hours = o->earliest = o->latest = -1;
	}
	for (int r = 0; charts && r <= REP_CAP_DISK; r++)
		chart(c, row, r, fits->f[r], horizon);
}

/* ---------------------------------------------------------------- the report */

static void row_free(struct rep_cap_row *row)
{
	free(row->name);
	for (int r = 0; r < REP_CAP_NRES; r++) {
		free(row->series[r]);
		for (int k = 0; k < 4; k++)
			free(row->chart[r][k]);
	}
}

void rep_cap_free(struct rep_cap *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_rows; i++)
		row_free(&r->rows[i]);
	free(r->rows);
	for (size_t i = 0; i < r->n_vms; i++) {
		free(r->vms[i].uuid);
		free(r->vms[i].name);
		free(r->vms[i].tenant);
		free(r->vms[i].host);
	}
	free(r->vms);
	free(r);
}

static void ctx_release(struct ctx *c)
{
	for (size_t i = 0; i < c->nh; i++) {
		struct host *h = &c->hosts[i];
		free(h->name);
		free(h->class);
		free(h->seen);
		for (int k = 0; k < REP_CAP_NRES; k++)
			free(h->d[k]);
		free(h->busy);
		free(h->av);
		free(h->am);
	}
	free(c->hosts);
	free(c->host_ix);
	for (size_t i = 0; i < c->nt; i++) {
		struct tenant *t = &c->tenants[i];
		free(t->name);
		free(t->seen);
		for (int k = 0; k < REP_CAP_NRES; k++)
			free(t->d[k]);
		free(t->av);
		free(t->am);
	}
	free(c->tenants);
	for (size_t i = 0; i < c->nv; i++) {
		free(c->vms[i].uuid);
		free(c->vms[i].name);
		free(c->vms[i].tenant);
		free(c->vms[i].cpu);
	}
	free(c->vms);
	free(c->owners);
}

/* A row: a set of hosts (hi, n; reserve for a group of them) or a tenant. */
static void make_row(struct ctx *c, struct rep_cap_row *row, const char *name, const char *kind, const size_t *hi,
                     size_t n, const struct tenant *t)
{
	row->name = vm_xstrdup(name);
	row->kind = kind;
	row->n_hosts = t ? 0 : n;
	for (int r = 0; r < REP_CAP_NRES; r++) {
		row->series[r] = sum_series(c, hi, n, r, t);
		row->demand[r] = stat_of(row->series[r], c->H);
	}
	double *s = sum_series(c, hi, n, REP_CAP_NRES, t);
	row->busy = stat_of(s, c->H);
	free(s);
	s = sum_series(c, hi, n, REP_CAP_NRES + 1, t);
	row->alloc_vcpus = stat_of(s, c->H);
	free(s);
	s = sum_series(c, hi, n, REP_CAP_NRES + 2, t);
	row->alloc_mem = stat_of(s, c->H);
	free(s);
	for (size_t i = 0; i < c->nv; i++) {
		const struct vm *v = &c->vms[i];
		if (!v->in_scope)
			continue;
		bool mine = false;
		if (t)
			mine = strcmp(v->tenant, t->name) == 0;
		for (size_t j = 0; !t && j < n && !mine; j++)
			mine = v->host == (int)hi[j];
		if (mine) {
			row->n_vms++;
			row->vcpus += v->vcpus;
			row->mem_kib += v->mem_kib;
		}
	}
	row->capacity = !t && !c->p->tenant;
	if (row->capacity) {
		capacity(c, hi, n, strcmp(kind, "host") != 0, row->cap, row->reserve, row->usable);
		row->capacity = row->cap[REP_CAP_CPU] > 0;
	}
	row->vcpu_ratio = row->cap[REP_CAP_CPU] > 0 ? (double)row->vcpus / row->cap[REP_CAP_CPU] : 0;
	row->mem_ratio = row->cap[REP_CAP_MEM] > 0 ? (double)row->mem_kib / row->cap[REP_CAP_MEM] : 0;
	row->fit_demand = row->fit_alloc = row->wi_fit_demand = row->wi_fit_alloc = -1;
}

/* The lower middle value of sorted v: a value some VM has. */
static int64_t median64(const int64_t *v, size_t n)
{
	return n ? v[(n - 1) / 2] : 0;
}

static int i64cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The fleet's median VM (the lower middle one of each figure) among the
 * VMs in scope. */
static struct rep_cap_size median_size(const struct ctx *c)
{
	int64_t *a = vm_xcalloc(c->nv ? c->nv : 1, sizeof *a), *b = vm_xcalloc(c->nv ? c->nv : 1, sizeof *b),
	        *d = vm_xcalloc(c->nv ? c->nv : 1, sizeof *d);
	size_t n = 0, nd = 0;
	for (size_t i = 0; i < c->nv; i++) {
		const struct vm *v = &c->vms[i];
		if (!v->in_scope)
			continue;
		a[n] = v->vcpus;
		b[n++] = v->mem_kib;
		if (v->disk_cap_ms > 0)
			d[nd++] = (int64_t)(v->disk_cap_int / v->disk_cap_ms);
	}
	qsort(a, n, sizeof *a, i64cmp);
	qsort(b, n, sizeof *b, i64cmp);
	qsort(d, nd, sizeof *d, i64cmp);
	struct rep_cap_size s = {n ? median64(a, n) : 1, n ? median64(b, n) : 1048576, nd ? median64(d, nd) : 0};
	free(a);
	free(b);
	free(d);
	return s;
}

static int vm_rank(const char *kind)
{
	return strcmp(kind, "powered-off") == 0 ? 0 : strcmp(kind, "idle") == 0 ? 1 : 2;
}

static int reclaim_cmp(const void *a, const void *b)
{
	const struct rep_cap_vm *x = a, *y = b;
	int c = vm_rank(x->kind) - vm_rank(y->kind);
	if (c)
		return c;
	if (x->amount.n != y->amount.n)
		return x->amount.n < y->amount.n ? 1 : -1;
	c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->uuid, y->uuid);
}

static void reclaim(struct ctx *c, struct rep_cap *rep, const struct rep_cap_costs *costs)
{
	rep->vms = vm_xcalloc(c->nv ? c->nv : 1, sizeof *rep->vms);
	double idle = c->conf->idle_cpu_percent / 100.0, over = c->conf->oversized_percent / 100.0,
	       target = c->conf->rightsize_percent / 100.0;
	for (size_t i = 0; i < c->nv; i++) {
		const struct vm *v = &c->vms[i];
		if (!v->in_scope)
			continue;
		struct rep_cap_vm x = {.vcpus = v->vcpus, .mem_kib = v->mem_kib};
		if (v->minutes == 0 && !v->running) {
			x.kind = "powered-off";
		} else if (v->cov_ms > 0) {
			double *h = vm_xmalloc((c->H ? c->H : 1) * sizeof *h);
			for (size_t k = 0; k < c->H; k++)
				h[k] = v->cpu[k];
			struct rep_cap_stat s = stat_of(h, c->H);
			free(h);
			x.cpu_avg = v->cpu_ns / (v->cov_ms * 1e6);
			x.cpu_p95 = s.p95;
			int64_t rec = (int64_t)ceil(s.p95 / target - FIT_EPS);
			x.rec_vcpus = rec < 1 ? 1 : rec;
			if (x.cpu_avg < idle * (double)v->vcpus)
				x.kind = "idle";
			else if (s.p95 < over * (double)v->vcpus && x.rec_vcpus < v->vcpus)
				x.kind = "oversized";
		}
		if (!x.kind)
			continue;
		x.uuid = vm_xstrdup(v->uuid);
		x.name = vm_xstrdup(v->name);
		x.tenant = vm_xstrdup(v->tenant);
		x.host = vm_xstrdup(v->host >= 0 ? c->hosts[v->host].name : "");
		const char *cur, *doc, *month;
		x.cost = rep_cap_cost_of(costs, v->id, &x.amount, &cur, &doc, &month, &x.final);
		if (x.cost) {
			snprintf(x.currency, sizeof x.currency, "%s", cur);
			snprintf(x.document, sizeof x.document, "%s", doc);
			snprintf(x.month, sizeof x.month, "%s", month);
		}
		rep->vms[rep->n_vms++] = x;
	}
	qsort(rep->vms, rep->n_vms, sizeof *rep->vms, reclaim_cmp);
}

/* The hosts of row i: its members' indices into c->hosts. */
struct members {
	size_t *hi;
	size_t n;
};

/* Applies the what-if steps: hosts removed, VMs placed one at a time on
 * the host with the most room (by demand; the first by name on a tie). */
static int whatif(struct ctx *c, struct rep_cap *rep, char *err, size_t errsize, int64_t *displaced_by_host)
{
	for (size_t w = 0; w < c->p->n_whatif; w++) {
		const struct rep_cap_whatif *s = &c->p->whatif[w];
		if (s->remove) {
			int hi = -1;
			for (size_t i = 0; i < c->nh; i++)
				if (strcmp(c->hosts[i].name, s->host) == 0)
					hi = (int)i;
			if (hi < 0 || !c->hosts[hi].in_scope) {
				snprintf(err, errsize, "what-if remove-host=%s: host '%s' is %s", s->host, s->host,
				         hi < 0 ? "unknown" : "not in the report (--host)");
				return -1;
			}
			struct host *h = &c->hosts[hi];
			h->removed = true;
			/* its VMs must go elsewhere: as many of the report's size as its
			 * 95th percentile (and its allocation) holds */
			int64_t d = 0;
			for (int r = 0; r <= REP_CAP_DISK; r++) {
				double need = size_of(&rep->size, r);
				if (need > 0 && host_cap(c, h, r) > 0)
					d = d > (int64_t)ceil(h->st[r].p95 / need - FIT_EPS)
					        ? d
					        : (int64_t)ceil(h->st[r].p95 / need - FIT_EPS);
			}
			displaced_by_host[hi] = d;
			continue;
		}
		struct rep_cap_size z = s->size;
		if (z.disk_bytes < 0)
			z.disk_bytes = rep->size.disk_bytes;
		for (int64_t n = 0; n < s->add_n; n++) {
			int best = -1;
			int64_t bf = 0;
			for (size_t i = 0; i < c->nh; i++) {
				if (!c->hosts[i].in_scope)
					continue;
				int64_t f = host_fit_demand(c, &c->hosts[i], &z);
				if (f > bf)
					bf = f, best = (int)i;
			}
			if (best < 0) {
				rep->whatif_unplaced++;
				continue;
			}
			struct host *h = &c->hosts[best];
			for (int r = 0; r <= REP_CAP_DISK; r++)
				h->extra[r] += size_of(&z, r);
			h->extra_vcpus += z.vcpus;
			h->extra_mem += z.mem_kib;
		}
	}
	return 0;
}

int rep_cap_load(struct vm_pg *pg, const struct rep_cap_params *p, struct rep_cap **out, char *err, size_t errsize)
{
	struct ctx c = {.pg = pg, .p = p, .conf = p->conf, .err = err, .errsize = errsize};
	struct rep_cap *rep = NULL;
	struct rep_cap_costs *costs = NULL;
	struct members *mem = NULL;
	struct fits *fits = NULL;
	int64_t *displaced = NULL;
	int rc = -1;
	char from[32], to[32];
	time_t tf = (time_t)p->from, tt = (time_t)p->to;
	struct tm tm;
	strftime(from, sizeof from, "%Y-%m-%d %H:%M:%S+00", gmtime_r(&tf, &tm));
	strftime(to, sizeof to, "%Y-%m-%d %H:%M:%S+00", gmtime_r(&tt, &tm));
	if (p->from >= p->now) {
		snprintf(err, errsize, "period %s is in the future", p->period);
		return -REP_CAP_EUSAGE;
	}
	if (p->to > p->now) {
		snprintf(err, errsize, "period %s has not ended yet (it ends %.10s)", p->period, to);
		return -REP_CAP_EUSAGE;
	}
	c.H = (size_t)((p->to - p->from) / 3600);
	if (read_hosts(&c, to) < 0 || read_owners(&c) < 0)
		goto out;
	bool known = !p->host;
	for (size_t i = 0; i < c.nh && !known; i++)
		known = c.hosts[i].in_scope;
	if (!known) {
		snprintf(err, errsize, "host '%s' is unknown (vmeter-admin hosts lists them)", p->host);
		goto out;
	}
	known = !p->tenant;
	for (size_t i = 0; i < c.nt && !known; i++)
		known = strcmp(c.tenants[i].name, p->tenant) == 0;
	if (!known) {
		snprintf(err, errsize, "tenant '%s' is unknown: no VM has ever had it as owner", p->tenant);
		goto out;
	}
	if (read_vms(&c, from, to) < 0)
		goto out;
	size_t vm_rows = 0, host_rows = 0;
	if (read_vm_hours(&c, from, to, &vm_rows) < 0 || read_host_hours(&c, from, to, &host_rows) < 0)
		goto out;
	if (vm_rows == 0 && (host_rows == 0 || p->tenant)) {
		snprintf(
		    err, errsize,
		    "no usage between %.16s and %.16s UTC%s%s%s%s%s: nothing was measured then, or its hours are not "
		    "rolled up yet (vmeter-admin maintain)",
		    from, to, p->host ? " on host '" : "", p->host ? p->host : "", p->host ? "'" : "",
		    p->tenant ? " for tenant " : "", p->tenant ? p->tenant : "");
		goto out;
	}
	const char *pp[] = {from, to};
	PGresult *res =
	    vm_pg_exec(pg,
	               "SELECT count(*) FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 hour', "
	               "interval '1 hour') h WHERE h + interval '1 hour' > (SELECT closed_upto FROM rollup_state) "
	               "OR EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.hour = h)",
	               2, pp);
	if (!res) {
		fail(&c, "cannot read the rollups' state");
		goto out;
	}
	rep = vm_xcalloc(1, sizeof *rep);
	rep->hours_unclean = (size_t)vm_pgx_int(res, 0, 0);
	PQclear(res);
	if (!(costs = rep_cap_costs_load(pg, err, errsize)))
		goto out;

	rep->p = *p;
	rep->hours = c.H;
	rep->horizon_hours = 24.0 * p->conf->forecast_days;
	time_t now = (time_t)p->now;
	strftime(rep->generated, sizeof rep->generated, "%Y-%m-%dT%H:%MZ", gmtime_r(&now, &tm));
	rep->size_from_fleet = !p->conf->vm_size[0];
	if (rep->size_from_fleet)
		rep->size = median_size(&c);
	else
		rep_cap_size_parse(p->conf->vm_size, &rep->size);
	if (rep->size.disk_bytes < 0)
		rep->size.disk_bytes = median_size(&c).disk_bytes;

	/* per-host figures, for every row's headroom */
	for (size_t i = 0; i < c.nh; i++) {
		struct host *h = &c.hosts[i];
		size_t one = i;
		for (int r = 0; r < REP_CAP_NRES; r++) {
			double *s = sum_series(&c, &one, 1, r, NULL);
			h->st[r] = stat_of(s, c.H);
			free(s);
		}
		double cap[REP_CAP_NRES], res0[REP_CAP_NRES];
		capacity(&c, &one, 1, false, cap, res0, h->usable);
		for (size_t j = 0; j < c.nv; j++)
			if (c.vms[j].host == (int)i && c.vms[j].in_scope)
				h->vcpus += c.vms[j].vcpus, h->mem += c.vms[j].mem_kib;
	}

	/* the rows: the grouping's, then the fleet */
	size_t cap_rows = c.nh + c.nt + 1;
	rep->rows = vm_xcalloc(cap_rows, sizeof *rep->rows);
	mem = vm_xcalloc(cap_rows, sizeof *mem);
	size_t *all = vm_xcalloc(c.nh ? c.nh : 1, sizeof *all), nall = 0;
	for (size_t i = 0; i < c.nh; i++)
		if (c.hosts[i].in_scope)
			all[nall++] = i;
	if (p->group == REP_CAP_BY_HOST) {
		for (size_t i = 0; i < nall; i++) {
			size_t *one = vm_xmalloc(sizeof *one);
			*one = all[i];
			mem[rep->n_rows] = (struct members){one, 1};
			make_row(&c, &rep->rows[rep->n_rows++], c.hosts[all[i]].name, "host", &all[i], 1, NULL);
		}
	} else if (p->group == REP_CAP_BY_CLASS) {
		for (size_t i = 0; i < nall; i++) {
			bool seen = false;
			for (size_t j = 0; j < i && !seen; j++)
				seen = strcmp(c.hosts[all[j]].class, c.hosts[all[i]].class) == 0;
			if (seen)
				continue;
			size_t *hi = vm_xcalloc(nall, sizeof *hi), n = 0;
			for (size_t j = i; j < nall; j++)
				if (strcmp(c.hosts[all[j]].class, c.hosts[all[i]].class) == 0)
					hi[n++] = all[j];
			mem[rep->n_rows] = (struct members){hi, n};
			make_row(&c, &rep->rows[rep->n_rows++], c.hosts[all[i]].class, "class", hi, n, NULL);
		}
	} else {
		for (size_t i = 0; i < c.nt; i++) {
			const struct tenant *t = &c.tenants[i];
			bool any = false;
			for (size_t k = 0; k < c.H && !any; k++)
				any = t->seen[k];
			for (size_t j = 0; j < c.nv && !any; j++)
				any = c.vms[j].in_scope && strcmp(c.vms[j].tenant, t->name) == 0;
			if (!any || (p->tenant && strcmp(p->tenant, t->name) != 0))
				continue;
			make_row(&c, &rep->rows[rep->n_rows++], t->name[0] ? t->name : "(no tenant)", "tenant", NULL, 0,
			         t);
		}
	}
	mem[rep->n_rows] = (struct members){all, nall};
	make_row(&c, &rep->rows[rep->n_rows++], "fleet", "fleet", all, nall, NULL);

	/* headroom and time remaining now */
	fits = vm_xcalloc(rep->n_rows, sizeof *fits);
	for (size_t i = 0; i < rep->n_rows; i++) {
		struct rep_cap_row *row = &rep->rows[i];
		forecasts(&c, row, &fits[i], rep->horizon_hours, i < REP_CAP_CHART_ROWS || i + 1 == rep->n_rows);
		if (!row->capacity)
			continue;
		double zero[REP_CAP_NRES] = {0};
		group_fit(&c, row, mem[i].hi, mem[i].n, &rep->size, row->usable, zero, 0, &row->fit_demand,
		          &row->fit_alloc);
	}

	/* what-if: the same fits against what is left */
	displaced = vm_xcalloc(c.nh ? c.nh : 1, sizeof *displaced);
	if (p->n_whatif) {
		if (whatif(&c, rep, err, errsize, displaced) < 0) {
			rc = -REP_CAP_EUSAGE;
			goto out;
		}
		for (size_t i = 0; i < rep->n_rows; i++) {
			struct rep_cap_row *row = &rep->rows[i];
			if (!row->capacity)
				continue;
			double cap[REP_CAP_NRES], res1[REP_CAP_NRES], usable[REP_CAP_NRES], extra[REP_CAP_NRES] = {0};
			capacity(&c, mem[i].hi, mem[i].n, strcmp(row->kind, "host") != 0, cap, res1, usable);
			int64_t disp = 0;
			size_t left = 0;
			for (size_t j = 0; j < mem[i].n; j++) {
				const struct host *h = &c.hosts[mem[i].hi[j]];
				disp += displaced[mem[i].hi[j]];
				left += !h->removed;
				for (int r = 0; r < REP_CAP_NRES; r++)
					extra[r] += h->extra[r];
			}
			row->removed = left == 0;
			if (row->removed)
				continue;
			group_fit(&c, row, mem[i].hi, mem[i].n, &rep->size, usable, extra, disp, &row->wi_fit_demand,
			          &row->wi_fit_alloc);
			for (int r = 0; r <= REP_CAP_DISK; r++) {
				row->wi_fc[r] = row->fc[r];
				if (fits[i].f[r])
					time_to(fits[i].f[r], usable[r] - extra[r], rep->horizon_hours, &row->wi_fc[r]);
			}
		}
	}
	reclaim(&c, rep, costs);
	rc = 0;
out:
	for (size_t i = 0; rep && fits && i < rep->n_rows; i++)
		for (int r = 0; r < REP_CAP_NRES; r++)
			rep_forecast_free(fits[i].f[r]);
	free(fits);
	for (size_t i = 0; rep && mem && i < rep->n_rows; i++)
		free(mem[i].hi);
	free(mem);
	free(displaced);
	rep_cap_costs_free(costs);
	ctx_release(&c);
	if (rc < 0) {
		rep_cap_free(rep);
		return rc;
	}
	*out = rep;
	return 0;
}
