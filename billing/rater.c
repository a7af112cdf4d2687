/* Rating: see rater.h and docs/BILLING.md, "Rating".
 *
 * A day is cut into sub-ranges at every moment a price or an assignment
 * changes (only UTC-minute moments can fall inside a local day: dates are
 * the zone's midnights), so that in a sub-range each owner has one plan
 * version.  In each sub-range:
 *   - use meters are the sums vm_usage_between() and vm_traffic_between()
 *     give (daily and hourly rollups for whole days and hours, minutes at
 *     the edges), read for the columns rating needs (read_usage);
 *   - time meters come from lifecycle spans and inventory states, minute by
 *     minute: a minute counts for a state if the VM was in it at any moment
 *     of the minute, sizes are the largest state touching the minute (a
 *     resize inside a minute bills the larger size), the owner and host the
 *     state at the minute's middle (the rule of vm_owner_span).
 * Quantities are exact integers; memory and disk are summed in KiB- and
 * byte-minutes and turned into MiB-minutes once per rated row. */
#include "config.h"

#include "rater.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "energy.h"
#include "pool.h"
#include "pgx.h"
#include "xalloc.h"

#define KEY_SEP "\x1f"

/* ----------------------------------------------------------- a string map */

struct map {
	char **keys;
	size_t *idx;
	size_t cap, n;
};

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

static void map_free(struct map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->idx);
	memset(m, 0, sizeof *m);
}

/* The index stored for key, or (with *added) n, the next index, stored now. */
static size_t map_get(struct map *m, const char *key, bool *added)
{
	if (2 * (m->n + 1) > m->cap) {
		struct map g = {vm_xcalloc(m->cap ? 2 * m->cap : 64, sizeof(char *)), NULL, m->cap ? 2 * m->cap : 64,
		                m->n};
		g.idx = vm_xcalloc(g.cap, sizeof *g.idx);
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i]) {
				size_t j = fnv(m->keys[i]) & (g.cap - 1);
				while (g.keys[j])
					j = (j + 1) & (g.cap - 1);
				g.keys[j] = m->keys[i];
				g.idx[j] = m->idx[i];
			}
		free(m->keys);
		free(m->idx);
		*m = g;
	}
	size_t j = fnv(key) & (m->cap - 1);
	while (m->keys[j]) {
		if (strcmp(m->keys[j], key) == 0) {
			*added = false;
			return m->idx[j];
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->keys[j] = vm_xstrdup(key);
	m->idx[j] = m->n;
	*added = true;
	return m->n++;
}

/* ------------------------------------------------------------- the groups */

struct traffic {
	char *cls;
	int64_t rx, tx;
};

/* A VM's minutes under one owner on one host in a sub-range. */
struct grp {
	int vm, host;
	char *tenant, *project;
	int64_t def_min, run_min, vcpu_def, vcpu_run, mem_def, mem_run, disk_def, disk_run; /* KiB-, byte-minutes */
	int64_t sampled, lost_ms;
	int64_t use[BILL_METER__COUNT]; /* cpu ns, disk bytes and requests, net bytes */
	struct traffic *tr;
	size_t n_tr, cap_tr;
};

/* A VM's tags in a sub-range (constant there: tag changes cut the day
 * when a plan prices by tag). */
struct vm_tags {
	int vm;
	json_t *tags; /* an object; NULL: none */
};

struct groups {
	struct map m;
	struct grp *g;
	size_t cap;
	struct vm_tags *vt; /* by vm, ascending; only when a plan prices by tag */
	size_t n_vt, cap_vt;
};

static void groups_free(struct groups *gs)
{
	for (size_t i = 0; i < gs->m.n; i++) {
		free(gs->g[i].tenant);
		free(gs->g[i].project);
		for (size_t j = 0; j < gs->g[i].n_tr; j++)
			free(gs->g[i].tr[j].cls);
		free(gs->g[i].tr);
	}
	free(gs->g);
	for (size_t i = 0; i < gs->n_vt; i++)
		json_decref(gs->vt[i].tags);
	free(gs->vt);
	map_free(&gs->m);
	memset(gs, 0, sizeof *gs);
}

static struct grp *group(struct groups *gs, int vm, const char *tenant, const char *project, int host)
{
	char *key = vm_xasprintf("%d" KEY_SEP "%s" KEY_SEP "%s" KEY_SEP "%d", vm, tenant, project, host);
	bool added;
	size_t i = map_get(&gs->m, key, &added);
	free(key);
	if (added) {
		gs->g = vm_xgrow(gs->g, &gs->cap, i + 1, sizeof *gs->g);
		memset(&gs->g[i], 0, sizeof gs->g[i]);
		gs->g[i].vm = vm;
		gs->g[i].host = host;
		gs->g[i].tenant = vm_xstrdup(tenant);
		gs->g[i].project = vm_xstrdup(project);
	}
	return &gs->g[i];
}

/* --------------------------------------------------------- rated results */

/* A bill_rated row in the making: qty is in base units times div. */
struct rated {
	char *tenant, *project;
	int vm, version_id, charge;
	char *meter;
	int64_t qty, div;
};

struct cover {
	char *tenant, *project;
	int vm;
	int64_t defined, running, sampled, unpriced, after_gone, lost_ms;
};

struct day_out {
	struct map rm, cm;
	struct rated *r;
	struct cover *c;
	size_t cap_r, cap_c;
};

static void day_out_free(struct day_out *o)
{
	for (size_t i = 0; i < o->rm.n; i++) {
		free(o->r[i].tenant);
		free(o->r[i].project);
		free(o->r[i].meter);
	}
	for (size_t i = 0; i < o->cm.n; i++) {
		free(o->c[i].tenant);
		free(o->c[i].project);
	}
	free(o->r);
	free(o->c);
	map_free(&o->rm);
	map_free(&o->cm);
	memset(o, 0, sizeof *o);
}

static struct cover *cover_of(struct day_out *o, const struct grp *g)
{
	char *key = vm_xasprintf("%s" KEY_SEP "%d" KEY_SEP "%s", g->tenant, g->vm, g->project);
	bool added;
	size_t i = map_get(&o->cm, key, &added);
	free(key);
	if (added) {
		o->c = vm_xgrow(o->c, &o->cap_c, i + 1, sizeof *o->c);
		o->c[i] = (struct cover){vm_xstrdup(g->tenant), vm_xstrdup(g->project), g->vm, 0, 0, 0, 0, 0, 0};
	}
	return &o->c[i];
}

static int rated_add(struct day_out *o, const struct grp *g, int version_id, int charge, const char *meter, int64_t qty,
                     int64_t div, char *err, size_t errsize)
{
	if (qty == 0)
		return 0;
	char *key = vm_xasprintf("%s" KEY_SEP "%d" KEY_SEP "%s" KEY_SEP "%d" KEY_SEP "%d", g->tenant, g->vm, g->project,
	                         version_id, charge);
	bool added;
	size_t i = map_get(&o->rm, key, &added);
	free(key);
	if (added) {
		o->r = vm_xgrow(o->r, &o->cap_r, i + 1, sizeof *o->r);
		o->r[i] = (struct rated){vm_xstrdup(g->tenant),
		                         vm_xstrdup(g->project),
		                         g->vm,
		                         version_id,
		                         charge,
		                         vm_xstrdup(meter),
		                         0,
		                         div};
	}
	if (__builtin_add_overflow(o->r[i].qty, qty, &o->r[i].qty)) {
		snprintf(err, errsize, "VM %d meter %s: the day's quantity leaves 64 bits", g->vm, meter);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ the catalog */

static const struct bill_tenant *tenant_find(const struct bill_catalog *c, const char *name)
{
	size_t n;
	const struct bill_tenant *t = bill_catalog_tenants(c, &n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}

static const char *tenant_zone(const struct bill_catalog *c, const char *name)
{
	const struct bill_tenant *t = tenant_find(c, name);
	return t ? t->time_zone : "UTC";
}

/* Does [from, to) hold the moment: `at` (seconds) on local date `date`? */
static bool when_holds(const struct bill_when *from, const struct bill_when *to, int64_t date, int64_t at)
{
	if (from->set && (from->local ? date < from->t : at < from->t))
		return false;
	if (to->set && (to->local ? date >= to->t : at >= to->t))
		return false;
	return true;
}

/* The plan version pricing tenant t's project at `at` (local date `date`),
 * or NULL: the project's own assignment, else the tenant's. */
static const struct bill_plan *price_of(const struct bill_catalog *c, const struct bill_tenant *t, const char *project,
                                        int64_t date, int64_t at, size_t *vi)
{
	const struct bill_assign *hit = NULL;
	for (int pass = 0; pass < 2 && !hit; pass++)
		for (size_t i = 0; i < t->n_assigns; i++) {
			const struct bill_assign *a = &t->assigns[i];
			if ((pass == 0) != (a->project != NULL) || (a->project && strcmp(a->project, project) != 0))
				continue;
			if (when_holds(&a->from, &a->to, date, at)) {
				hit = a;
				break;
			}
		}
	if (!hit)
		return NULL;
	const struct bill_plan *p = bill_catalog_plan(c, hit->plan);
	for (size_t i = 0; p && i < p->n_versions; i++)
		if (when_holds(&p->versions[i].from, &p->versions[i].to, date, at)) {
			*vi = i;
			return p;
		}
	return NULL;
}

static void add_cut(int64_t **cuts, size_t *n, size_t *cap, const struct bill_when *w, int64_t a, int64_t b)
{
	if (w->set && !w->local && w->t > a && w->t < b) {
		*cuts = vm_xgrow(*cuts, cap, *n + 1, sizeof **cuts);
		(*cuts)[(*n)++] = w->t;
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* -------------------------------------------------------------- the reads */

/* The zone's tenants as a filter the database applies: tenant =
 * ANY(names) <> negate.  A zone's tenants are those the files put in it;
 * UTC's are also every tenant they do not name, so its filter is "none
 * of the other zones' tenants". */
struct zone_filter {
	char *names; /* a text[] literal */
	const char *negate;
};

static void zone_filter_make(const struct bill_catalog *c, const char *tz, struct zone_filter *zf)
{
	size_t nt;
	const struct bill_tenant *t = bill_catalog_tenants(c, &nt);
	bool utc = strcmp(tz, "UTC") == 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = vm_xmemstream(&buf, &len);
	fputc('{', f);
	bool first = true;
	for (size_t i = 0; i < nt; i++) {
		if ((strcmp(t[i].time_zone, tz) == 0) == utc)
			continue;
		fputs(first ? "\"" : ",\"", f);
		first = false;
		for (const char *q = t[i].name; *q; q++) {
			if (*q == '"' || *q == '\\')
				fputc('\\', f);
			fputc(*q, f);
		}
		fputc('"', f);
	}
	fputc('}', f);
	vm_xmemclose(f);
	zf->names = buf;
	zf->negate = utc ? "true" : "false";
}

/* Where [a, b)'s use is read from: vm_resolution_plan()'s whole days and
 * hours of the rollups (timestamptz[] literals) and the rest from
 * minutes, adjacent spans merged (seconds since the epoch, pairs). */
struct spans {
	char *days, *hours;
	int64_t *raw;
	size_t n_raw, cap_raw;
};

static void spans_free(struct spans *sp)
{
	free(sp->days);
	free(sp->hours);
	free(sp->raw);
}

static int spans_read(struct vm_pg *pg, const char *pa, const char *pb, struct spans *sp, char *err, size_t errsize)
{
	const char *p[2] = {pa, pb};
	PGresult *r =
	    vm_pg_exec(pg,
	               "SELECT kind, span_from::text, extract(epoch FROM span_from)::bigint, "
	               "extract(epoch FROM span_to)::bigint FROM vm_resolution_plan(to_timestamp($1::bigint), "
	               "to_timestamp($2::bigint)) ORDER BY span_from",
	               2, p);
	if (!r)
		return vm_pg_fail(pg, "reading where usage is kept", err, errsize);
	char *buf[2] = {NULL, NULL};
	size_t len[2];
	FILE *f[2] = {vm_xmemstream(&buf[0], &len[0]), vm_xmemstream(&buf[1], &len[1])};
	size_t n[2] = {0, 0};
	for (int k = 0; k < 2; k++)
		fputc('{', f[k]);
	for (int i = 0; i < PQntuples(r); i++) {
		const char *kind = PQgetvalue(r, i, 0);
		int64_t from = vm_pgx_int(r, i, 2), to = vm_pgx_int(r, i, 3);
		if (strcmp(kind, "raw") == 0) {
			if (sp->n_raw && sp->raw[sp->n_raw * 2 - 1] == from) {
				sp->raw[sp->n_raw * 2 - 1] = to;
				continue;
			}
			sp->raw = vm_xgrow(sp->raw, &sp->cap_raw, sp->n_raw * 2 + 2, sizeof *sp->raw);
			sp->raw[sp->n_raw * 2] = from;
			sp->raw[sp->n_raw * 2 + 1] = to;
			sp->n_raw++;
			continue;
		}
		int k = strcmp(kind, "day") == 0 ? 0 : 1;
		fprintf(f[k], "%s\"%s\"", n[k]++ ? "," : "", PQgetvalue(r, i, 1));
	}
	PQclear(r);
	for (int k = 0; k < 2; k++) {
		fputc('}', f[k]);
		vm_xmemclose(f[k]);
	}
	sp->days = buf[0];
	sp->hours = buf[1];
	return 0;
}

/* Use meters of [a, b) of the zone's tenants: what vm_usage_between() and
 * vm_traffic_between() give, read here for the columns rating needs only
 * (their gauges' numeric sums cost more than the rest) and minutes found
 * through the minute tables' primary keys (vm_id = ANY (every VM)): the
 * edges of a zone's day are half an hour of a partition, which a scan of
 * the partition would read whole whatever order its rows are in. */
static int read_usage(struct vm_pg *pg, const struct bill_catalog *c, const char *tz, const struct zone_filter *zf,
                      int64_t a, int64_t b, bool classes, struct groups *gs, char *err, size_t errsize)
{
	char pa[24], pb[24];
	snprintf(pa, sizeof pa, "%" PRId64, a);
	snprintf(pb, sizeof pb, "%" PRId64, b);
	struct spans sp = {0};
	if (spans_read(pg, pa, pb, &sp, err, errsize) < 0) {
		spans_free(&sp);
		return -1;
	}
	const char *p[4] = {sp.days, sp.hours, zf->names, zf->negate};
	char *sql = NULL;
	size_t len = 0;
	FILE *f = vm_xmemstream(&sql, &len);
	static const char use_cols[] = "cpu_ns, disk_rd_bytes, disk_wr_bytes, disk_rd_reqs, disk_wr_reqs, "
	                               "net_rx_bytes, net_tx_bytes";
	fprintf(f,
	        "WITH r AS (SELECT vm_id, host_id, owner_id, minutes::bigint AS minutes, lost_ms, %s "
	        "FROM vm_usage_day WHERE day = ANY ($1::timestamptz[]) UNION ALL "
	        "SELECT vm_id, host_id, owner_id, minutes::bigint, lost_ms, %s "
	        "FROM vm_usage_hour WHERE hour = ANY ($2::timestamptz[])",
	        use_cols, use_cols);
	/* a branch per span: each is pruned to its partitions when planned */
	for (size_t i = 0; i < sp.n_raw; i++) {
		int64_t from = sp.raw[2 * i], to = sp.raw[2 * i + 1];
		fprintf(f,
		        " UNION ALL SELECT m.vm_id, m.host_id, coalesce(s.owner_id, 0), count(*), 0, "
		        "sum(m.cpu_ns)::bigint, sum(m.disk_rd_bytes)::bigint, sum(m.disk_wr_bytes)::bigint, "
		        "sum(m.disk_rd_reqs)::bigint, sum(m.disk_wr_reqs)::bigint, sum(m.net_rx_bytes)::bigint, "
		        "sum(m.net_tx_bytes)::bigint FROM vm_usage_minute m LEFT JOIN vm_owner_span s "
		        "ON s.vm_id = m.vm_id AND m.minute + interval '30 seconds' >= s.span_from "
		        "AND m.minute + interval '30 seconds' < s.span_to WHERE m.vm_id = ANY (ARRAY(SELECT vm_id FROM "
		        "vm)) "
		        "AND m.minute >= to_timestamp(%" PRId64 ") AND m.minute < to_timestamp(%" PRId64
		        ") GROUP BY 1, 2, 3 "
		        "UNION ALL SELECT l.vm_id, l.host_id, coalesce(s.owner_id, 0), 0, sum(l.lost_ms), 0, 0, 0, 0, "
		        "0, 0, 0 "
		        "FROM vm_usage_loss l LEFT JOIN vm_owner_span s ON s.vm_id = l.vm_id "
		        "AND l.minute + interval '30 seconds' >= s.span_from AND l.minute + interval '30 seconds' < "
		        "s.span_to "
		        "WHERE l.minute >= to_timestamp(%" PRId64 ") AND l.minute < to_timestamp(%" PRId64 ") "
		        "GROUP BY 1, 2, 3",
		        from, to, from, to);
	}
	fputs(") SELECT r.vm_id, r.host_id, o.tenant, o.project, sum(minutes)::bigint, sum(lost_ms)::bigint, "
	      "sum(cpu_ns)::bigint, sum(disk_rd_bytes)::bigint, sum(disk_wr_bytes)::bigint, "
	      "sum(disk_rd_reqs)::bigint, sum(disk_wr_reqs)::bigint, sum(net_rx_bytes)::bigint, "
	      "sum(net_tx_bytes)::bigint FROM r JOIN owner o USING (owner_id) "
	      "WHERE (o.tenant = ANY ($3::text[])) <> $4::bool GROUP BY 1, 2, 3, 4",
	      f);
	vm_xmemclose(f);
	PGresult *r = vm_pg_exec(pg, sql, 4, p);
	free(sql);
	if (!r) {
		spans_free(&sp);
		return vm_pg_fail(pg, "reading usage", err, errsize);
	}
	static const enum bill_meter cols[] = {BILL_CPU,         BILL_DISK_RD_BYTES, BILL_DISK_WR_BYTES,
	                                       BILL_DISK_RD_OPS, BILL_DISK_WR_OPS,   BILL_NET_RX,
	                                       BILL_NET_TX};
	for (int i = 0; i < PQntuples(r); i++) {
		const char *tenant = PQgetvalue(r, i, 2);
		if (strcmp(tenant_zone(c, tenant), tz) != 0)
			continue;
		struct grp *g =
		    group(gs, (int)vm_pgx_int(r, i, 0), tenant, PQgetvalue(r, i, 3), (int)vm_pgx_int(r, i, 1));
		g->sampled += vm_pgx_int(r, i, 4);
		g->lost_ms += vm_pgx_int(r, i, 5);
		for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
			g->use[cols[k]] += vm_pgx_int(r, i, 6 + (int)k);
	}
	PQclear(r);
	if (!classes) {
		spans_free(&sp);
		return 0;
	}
	sql = NULL;
	f = vm_xmemstream(&sql, &len);
	fputs("WITH r AS (SELECT vm_id, host_id, owner_id, class, rx_bytes, tx_bytes FROM vm_traffic_day "
	      "WHERE day = ANY ($1::timestamptz[]) UNION ALL SELECT vm_id, host_id, owner_id, class, rx_bytes, "
	      "tx_bytes FROM vm_traffic_hour WHERE hour = ANY ($2::timestamptz[])",
	      f);
	for (size_t i = 0; i < sp.n_raw; i++)
		fprintf(
		    f,
		    " UNION ALL SELECT t.vm_id, t.host_id, coalesce(s.owner_id, 0), t.class, t.rx_bytes, t.tx_bytes "
		    "FROM vm_traffic_minute t LEFT JOIN vm_owner_span s ON s.vm_id = t.vm_id "
		    "AND t.minute + interval '30 seconds' >= s.span_from AND t.minute + interval '30 seconds' < "
		    "s.span_to "
		    "WHERE t.vm_id = ANY (ARRAY(SELECT vm_id FROM vm)) AND t.minute >= to_timestamp(%" PRId64 ") "
		    "AND t.minute < to_timestamp(%" PRId64 ")",
		    sp.raw[2 * i], sp.raw[2 * i + 1]);
	fputs(") SELECT r.vm_id, r.host_id, o.tenant, o.project, r.class, sum(rx_bytes)::bigint, "
	      "sum(tx_bytes)::bigint FROM r JOIN owner o USING (owner_id) "
	      "WHERE (o.tenant = ANY ($3::text[])) <> $4::bool GROUP BY 1, 2, 3, 4, 5",
	      f);
	vm_xmemclose(f);
	r = vm_pg_exec(pg, sql, 4, p);
	free(sql);
	spans_free(&sp);
	if (!r)
		return vm_pg_fail(pg, "reading traffic by class", err, errsize);
	for (int i = 0; i < PQntuples(r); i++) {
		const char *tenant = PQgetvalue(r, i, 2);
		if (strcmp(tenant_zone(c, tenant), tz) != 0)
			continue;
		struct grp *g =
		    group(gs, (int)vm_pgx_int(r, i, 0), tenant, PQgetvalue(r, i, 3), (int)vm_pgx_int(r, i, 1));
		const char *cls = PQgetvalue(r, i, 4);
		size_t j = 0;
		while (j < g->n_tr && strcmp(g->tr[j].cls, cls) != 0)
			j++;
		if (j == g->n_tr) {
			g->tr = vm_xgrow(g->tr, &g->cap_tr, j + 1, sizeof *g->tr);
			g->tr[g->n_tr++] = (struct traffic){vm_xstrdup(cls), 0, 0};
		}
		g->tr[j].rx += vm_pgx_int(r, i, 5);
		g->tr[j].tx += vm_pgx_int(r, i, 6);
	}
	PQclear(r);
	return 0;
}

/* ------------------------------------------------------------ host pools */

/* What the pools of a zone collect of a day while time meters are swept:
 * each running VM-minute on a pool's host, with its allocation (vCPUs x
 * the minute, in CPU ns, the unit of the host's capacity) and, for pools
 * split by use, its CPU time. */
struct pool_ent {
	int host;
	int64_t minute; /* since the epoch */
	int key;        /* into keys: the VM and its owner then */
	int64_t alloc, use;
};

struct pool_key {
	int vm;
	char *tenant, *project;
};

/* Host classes by host_id (NULL: none), for charges priced per class and power
 * models. */
struct host_classes {
	const char **of;
	int n;
};

/* A VM's and owner's energy on a host over the day (key: a pool_key). */
struct energy_share {
	int host, key;
	int64_t energy_uj, measured_uj, carbon_ug;
};

struct pool_day {
	const struct bill_pool_def **of_host; /* by host_id; NULL: in no pool of the zone */
	int n_hosts;
	struct pool_ent *e;
	size_t n, cap;
	struct map km;
	struct pool_key *k;
	size_t cap_k;
	/* energy: the hosts that have it, a sub-range's running VM-minutes on
	 * them, and the day's sums */
	bool *energy_on;
	struct bill_energy_vm *en;
	size_t n_en, cap_en;
	struct energy_share *es;
	size_t n_es, cap_es;
	struct bill_energy_host *eh;
	size_t n_eh, cap_eh;
};

static void pool_day_free(struct pool_day *pd)
{
	for (size_t i = 0; i < pd->km.n; i++) {
		free(pd->k[i].tenant);
		free(pd->k[i].project);
	}
	free(pd->k);
	map_free(&pd->km);
	free(pd->e);
	free(pd->of_host);
	free(pd->energy_on);
	free(pd->en);
	free(pd->es);
	free(pd->eh);
	memset(pd, 0, sizeof *pd);
}

static int pool_key(struct pool_day *pd, int vm, const char *tenant, const char *project)
{
	char *key = vm_xasprintf("%d" KEY_SEP "%s" KEY_SEP "%s", vm, tenant, project);
	bool added;
	size_t i = map_get(&pd->km, key, &added);
	free(key);
	if (added) {
		pd->k = vm_xgrow(pd->k, &pd->cap_k, i + 1, sizeof *pd->k);
		pd->k[i] = (struct pool_key){vm, vm_xstrdup(tenant), vm_xstrdup(project)};
	}
	return (int)i;
}

static void pool_add(struct pool_day *pd, int host, int64_t minute, int vm, const char *tenant, const char *project,
                     int64_t vcpus)
{
	int i = pool_key(pd, vm, tenant, project);
	pd->e = vm_xgrow(pd->e, &pd->cap, pd->n + 1, sizeof *pd->e);
	pd->e[pd->n++] = (struct pool_ent){host, minute, i, vcpus * INT64_C(60000000000), 0};
}

static void energy_add(struct pool_day *pd, int host, int64_t minute, int vm, const char *tenant, const char *project,
                       int64_t vcpus)
{
	int i = pool_key(pd, vm, tenant, project);
	pd->en = vm_xgrow(pd->en, &pd->cap_en, pd->n_en + 1, sizeof *pd->en);
	pd->en[pd->n_en++] =
	    (struct bill_energy_vm){.host = host, .vm = vm, .minute = minute, .vcpus = vcpus, .key = i};
}

/* An inventory state as the sweep needs it; from/to in seconds, clipped
 * to the sub-range, the first state of a VM reaching back to its start. */
struct state {
	int vm, host;
	const char *tenant, *project;
	int64_t vcpus, mem_kib, disk_bytes;
	int64_t from, to, valid_from;
};

/* Time meters of [a, b): the minute sweep described at the top. */
static int read_time(struct vm_pg *pg, const struct bill_catalog *c, const char *tz, int64_t a, int64_t b,
                     struct groups *gs, struct pool_day *pd, char *err, size_t errsize)
{
	char pa[24], pb[24];
	snprintf(pa, sizeof pa, "%" PRId64, a);
	snprintf(pb, sizeof pb, "%" PRId64, b);
	const char *p[2] = {pa, pb};
	PGresult *inv = vm_pg_exec(
	    pg,
	    "WITH s AS (SELECT i.*, CASE WHEN lag(valid_from) OVER w IS NULL THEN '-infinity'::timestamptz "
	    "ELSE valid_from END AS s_from, coalesce(lead(valid_from) OVER w, 'infinity') AS s_to "
	    "FROM vm_inventory i WINDOW w AS (PARTITION BY vm_id ORDER BY valid_from)) "
	    "SELECT s.vm_id, s.host_id, o.tenant, o.project, s.vcpus, s.memory_kib, "
	    "coalesce((SELECT sum((d->>'capacity')::bigint) FROM jsonb_array_elements(s.disks) d "
	    "WHERE jsonb_typeof(d->'capacity') = 'number'), 0), "
	    "floor(extract(epoch FROM greatest(s.s_from, to_timestamp($1::bigint))))::bigint, "
	    "ceil(extract(epoch FROM least(s.s_to, to_timestamp($2::bigint))))::bigint, "
	    "CASE WHEN s.s_from = '-infinity' THEN $1::bigint - 1 ELSE floor(extract(epoch FROM s.valid_from)) END, "
	    "s.tags::text FROM s JOIN owner o USING (owner_id) "
	    "WHERE s.s_from < to_timestamp($2::bigint) AND s.s_to > to_timestamp($1::bigint) "
	    "ORDER BY s.vm_id, s.valid_from",
	    2, p);
	if (!inv)
		return vm_pg_fail(pg, "reading inventory states", err, errsize);
	PGresult *lc = vm_pg_exec(pg,
	                          "SELECT vm_id, state = 'running', floor(extract(epoch FROM span_from))::bigint, "
	                          "ceil(extract(epoch FROM span_to))::bigint "
	                          "FROM vm_lifecycle_between(to_timestamp($1::bigint), to_timestamp($2::bigint)) "
	                          "WHERE state <> 'gone' ORDER BY vm_id, span_from",
	                          2, p);
	if (!lc) {
		PQclear(inv);
		return vm_pg_fail(pg, "reading lifecycle spans", err, errsize);
	}
	bool tags = bill_catalog_uses_tags(c);
	int64_t m0 = a / 60, nm = (b - a) / 60;
	uint8_t *run = vm_xmalloc((size_t)nm), *def = vm_xmalloc((size_t)nm);
	int64_t *vc = vm_xmalloc((size_t)nm * sizeof *vc), *mem = vm_xmalloc((size_t)nm * sizeof *mem),
	        *disk = vm_xmalloc((size_t)nm * sizeof *disk);
	int *who = vm_xmalloc((size_t)nm * sizeof *who);
	int ni = PQntuples(inv), nl = PQntuples(lc), i = 0, l = 0;
	struct state *st = vm_xmalloc((size_t)(ni ? ni : 1) * sizeof *st);
	for (int k = 0; k < ni; k++)
		st[k] = (struct state){(int)vm_pgx_int(inv, k, 0), (int)vm_pgx_int(inv, k, 1), PQgetvalue(inv, k, 2),
		                       PQgetvalue(inv, k, 3),      vm_pgx_int(inv, k, 4),      vm_pgx_int(inv, k, 5),
		                       vm_pgx_int(inv, k, 6),      vm_pgx_int(inv, k, 7),      vm_pgx_int(inv, k, 8),
		                       vm_pgx_int(inv, k, 9)};
	while (i < ni) {
		int vm = st[i].vm, i1 = i;
		while (i1 < ni && st[i1].vm == vm)
			i1++;
		while (l < nl && vm_pgx_int(lc, l, 0) < vm)
			l++;
		memset(run, 0, (size_t)nm);
		memset(def, 0, (size_t)nm);
		memset(vc, 0, (size_t)nm * sizeof *vc);
		memset(mem, 0, (size_t)nm * sizeof *mem);
		memset(disk, 0, (size_t)nm * sizeof *disk);
		for (; l < nl && vm_pgx_int(lc, l, 0) == vm; l++) {
			int64_t f = vm_pgx_int(lc, l, 2) / 60 - m0, t = (vm_pgx_int(lc, l, 3) + 59) / 60 - m0;
			bool running = PQgetvalue(lc, l, 1)[0] == 't';
			for (int64_t m = f < 0 ? 0 : f; m < t && m < nm; m++) {
				def[m] = 1;
				run[m] |= running;
			}
		}
		/* sizes: the largest state touching the minute; owner: the state
		 * at its middle (the last one valid by then, or the first) */
		for (int k = i; k < i1; k++) {
			int64_t f = st[k].from / 60 - m0, t = (st[k].to + 59) / 60 - m0;
			for (int64_t m = f < 0 ? 0 : f; m < t && m < nm; m++) {
				if (st[k].vcpus > vc[m])
					vc[m] = st[k].vcpus;
				if (st[k].mem_kib > mem[m])
					mem[m] = st[k].mem_kib;
				if (st[k].disk_bytes > disk[m])
					disk[m] = st[k].disk_bytes;
			}
		}
		int k = i;
		for (int64_t m = 0; m < nm; m++) {
			int64_t mid = (m0 + m) * 60 + 30;
			while (k + 1 < i1 && st[k + 1].valid_from <= mid)
				k++;
			who[m] = k;
		}
		if (tags && nm) {
			gs->vt = vm_xgrow(gs->vt, &gs->cap_vt, gs->n_vt + 1, sizeof *gs->vt);
			gs->vt[gs->n_vt++] = (struct vm_tags){vm, json_loads(PQgetvalue(inv, who[0], 10), 0, NULL)};
		}
		/* minutes into groups: one per owner state */
		struct grp *g = NULL;
		int g_of = -1;
		for (int64_t m = 0; m < nm; m++) {
			if (!def[m])
				continue;
			const struct state *s = &st[who[m]];
			if (run[m] && pd && s->host >= 0 && s->host < pd->n_hosts && pd->of_host[s->host])
				pool_add(pd, s->host, m0 + m, vm, s->tenant, s->project, vc[m]);
			if (run[m] && pd && pd->energy_on && s->host >= 0 && s->host < pd->n_hosts &&
			    pd->energy_on[s->host])
				energy_add(pd, s->host, m0 + m, vm, s->tenant, s->project, vc[m]);
			if (who[m] != g_of) {
				g_of = who[m];
				g = strcmp(tenant_zone(c, s->tenant), tz) == 0
				        ? group(gs, vm, s->tenant, s->project, s->host)
				        : NULL;
			}
			if (!g)
				continue;
			g->def_min++;
			g->vcpu_def += vc[m];
			g->mem_def += mem[m];
			g->disk_def += disk[m];
			if (run[m]) {
				g->run_min++;
				g->vcpu_run += vc[m];
				g->mem_run += mem[m];
				g->disk_run += disk[m];
			}
		}
		i = i1;
	}
	free(st);
	free(run);
	free(def);
	free(vc);
	free(mem);
	free(disk);
	free(who);
	PQclear(inv);
	PQclear(lc);
	return 0;
}

/* A pool host's exact share of its month for a VM and owner on the day. */
struct pool_row {
	const char *pool;
	int host, key;
	int64_t share;
};

static int ent_cmp(const void *x, const void *y)
{
	const struct pool_ent *a = x, *b = y;
	if (a->host != b->host)
		return a->host < b->host ? -1 : 1;
	if (a->minute != b->minute)
		return a->minute < b->minute ? -1 : 1;
	return a->key < b->key ? -1 : a->key > b->key;
}

/* Splits each pool host's cost of the day's minutes among the VMs that ran
 * on it (billing/pool.h, a pool per host and day: shares of the month's
 * cost, rounded only when the month is closed). */
static int pool_split(struct vm_pg *pg, const char *day, const char *tz, int64_t a, int64_t b, struct pool_day *pd,
                      struct pool_row **rows, size_t *nrows, char *err, size_t errsize)
{
	*rows = NULL;
	*nrows = 0;
	if (!pd->n)
		return 0;
	const char *p[2] = {day, tz};
	PGresult *r =
	    vm_pg_exec(pg,
	               "SELECT date_trunc('month', $1::date)::date - DATE '1970-01-01', "
	               "extract(epoch FROM date_trunc('month', $1::date)::timestamp AT TIME ZONE $2)::bigint, "
	               "extract(epoch FROM (date_trunc('month', $1::date) + interval '1 month')::timestamp "
	               "AT TIME ZONE $2)::bigint",
	               2, p);
	if (!r)
		return vm_pg_fail(pg, "the pool's month", err, errsize);
	int64_t month_date = vm_pgx_int(r, 0, 0), ms = vm_pgx_int(r, 0, 1), me = vm_pgx_int(r, 0, 2);
	PQclear(r);
	qsort(pd->e, pd->n, sizeof *pd->e, ent_cmp);
	bool need_use = false;
	for (size_t i = 0; i < pd->n; i++)
		need_use |= pd->of_host[pd->e[i].host]->split != BILL_POOL_ALLOCATION;
	if (need_use) {
		/* CPU time per VM-minute: raw minutes only (a refused range,
		 * never a smaller share, where they are packed or dropped) */
		char pa[24], pb[24];
		snprintf(pa, sizeof pa, "%" PRId64, a);
		snprintf(pb, sizeof pb, "%" PRId64, b);
		const char *q[2] = {pa, pb};
		r = vm_pg_exec(
		    pg,
		    "SELECT vm_id, host_id, (extract(epoch FROM minute)::bigint / 60), cpu_ns FROM vm_usage_minute "
		    "WHERE minute >= to_timestamp($1::bigint) AND minute < to_timestamp($2::bigint) AND cpu_ns > 0 "
		    "AND vm_storage_check('raw', to_timestamp($1::bigint)) AND (SELECT bool_and(vm_packed_check(h)) "
		    "FROM generate_series(to_timestamp($1::bigint), to_timestamp($2::bigint) - interval '1 second', "
		    "interval '1 hour') h) ORDER BY host_id, minute",
		    2, q);
		if (!r)
			return vm_pg_fail(pg, "reading CPU time per minute for pools split by use", err, errsize);
		size_t j = 0;
		for (int i = 0; i < PQntuples(r); i++) {
			int vm = (int)vm_pgx_int(r, i, 0), host = (int)vm_pgx_int(r, i, 1);
			int64_t minute = vm_pgx_int(r, i, 2);
			while (j < pd->n &&
			       (pd->e[j].host < host || (pd->e[j].host == host && pd->e[j].minute < minute)))
				j++;
			for (size_t k = j; k < pd->n && pd->e[k].host == host && pd->e[k].minute == minute; k++)
				if (pd->k[pd->e[k].key].vm == vm)
					pd->e[k].use += vm_pgx_int(r, i, 3);
		}
		PQclear(r);
	}
	r = vm_pg_exec(pg,
	               "SELECT host_id, floor(extract(epoch FROM valid_from))::bigint, cpus FROM host_inventory "
	               "ORDER BY host_id, valid_from",
	               0, NULL);
	if (!r)
		return vm_pg_fail(pg, "reading hosts' capacity", err, errsize);
	int nh = PQntuples(r), rc = 0;
	size_t cap = 0;
	struct bill_pool_vm *vms = NULL;
	size_t cap_vms = 0;
	for (size_t i = 0; i < pd->n && rc == 0;) {
		int host = pd->e[i].host;
		size_t i1 = i;
		while (i1 < pd->n && pd->e[i1].host == host)
			i1++;
		const struct bill_pool_def *pool = pd->of_host[host];
		vm_money month = bill_pool_month_cost(pool, month_date);
		struct bill_pool *bp = month.n ? bill_pool_new(month, (me - ms) / 60, vm_currency_minor(pool->currency),
		                                               (enum bill_split)pool->split)
		                               : NULL;
		int h0 = 0;
		while (h0 < nh && vm_pgx_int(r, h0, 0) < host)
			h0++;
		for (size_t k = i; bp && k < i1 && rc == 0;) {
			int64_t minute = pd->e[k].minute;
			size_t k1 = k, n = 0;
			while (k1 < i1 && pd->e[k1].minute == minute)
				k1++;
			vms = vm_xgrow(vms, &cap_vms, k1 - k, sizeof *vms);
			for (size_t x = k; x < k1; x++)
				vms[n++] = (struct bill_pool_vm){pd->e[x].key, pd->e[x].alloc, pd->e[x].use};
			/* the host's CPUs then: its last inventory by the minute, or its first */
			int64_t cpus = 0;
			for (int h = h0; h < nh && vm_pgx_int(r, h, 0) == host; h++)
				if (h == h0 || vm_pgx_int(r, h, 1) <= minute * 60)
					cpus = vm_pgx_int(r, h, 2);
			if (bill_pool_minute(bp, minute - ms / 60, cpus * INT64_C(60000000000), vms, n) < 0) {
				snprintf(err, errsize, "pool '%s': minute %" PRId64 " of host %d could not be split",
				         pool->name, minute, host);
				rc = -1;
			}
			k = k1;
		}
		if (bp && rc == 0) {
			struct bill_pool_part *parts;
			size_t np;
			bill_pool_shares(bp, &parts, &np);
			*rows = vm_xgrow(*rows, &cap, *nrows + np, sizeof **rows);
			for (size_t x = 0; x < np; x++)
				(*rows)[(*nrows)++] =
				    (struct pool_row){pool->name, host, (int)parts[x].key, parts[x].amount.n};
			free(parts);
		}
		bill_pool_free(bp);
		i = i1;
	}
	free(vms);
	PQclear(r);
	return rc;
}

static int es_cmp(const void *x, const void *y)
{
	const struct energy_share *a = x, *b = y;
	if (a->host != b->host)
		return a->host < b->host ? -1 : 1;
	return (a->key > b->key) - (a->key < b->key);
}

/* The energy of a sub-range's running VM-minutes on the hosts that have
 * it: each VM's part into its group (for the zone's tenants, whose meters
 * price it) and, for every VM, into the day's shares. */
static int energy_range(struct vm_pg *pg, const struct bill_catalog *c, const struct host_classes *hcs, const char *tz,
                        int64_t a, int64_t b, struct pool_day *pd, struct groups *gs, char *err, size_t errsize)
{
	if (!pd->energy_on)
		return 0;
	struct bill_energy_host *hosts;
	size_t nh;
	int rc = bill_energy_split(pg, c, hcs->of, pd->energy_on, pd->n_hosts, a, b, pd->en, pd->n_en, &hosts, &nh, err,
	                           errsize);
	for (size_t i = 0; rc == 0 && i < pd->n_en; i++) {
		const struct bill_energy_vm *v = &pd->en[i];
		if (!v->energy_uj && !v->carbon_ug)
			continue;
		const struct pool_key *k = &pd->k[v->key];
		if (strcmp(tenant_zone(c, k->tenant), tz) == 0) {
			struct grp *g = group(gs, k->vm, k->tenant, k->project, v->host);
			g->use[BILL_ENERGY] += v->energy_uj;
			g->use[BILL_CARBON] += v->carbon_ug;
		}
		pd->es = vm_xgrow(pd->es, &pd->cap_es, pd->n_es + 1, sizeof *pd->es);
		pd->es[pd->n_es++] = (struct energy_share){v->host, v->key, v->energy_uj, v->measured_uj, v->carbon_ug};
	}
	/* summed per host and owner as it goes: a VM-minute each would be a
	 * day of minutes in memory */
	qsort(pd->es, pd->n_es, sizeof *pd->es, es_cmp);
	size_t w = 0;
	for (size_t i = 0; i < pd->n_es; i++) {
		if (w && es_cmp(&pd->es[w - 1], &pd->es[i]) == 0) {
			pd->es[w - 1].energy_uj += pd->es[i].energy_uj;
			pd->es[w - 1].measured_uj += pd->es[i].measured_uj;
			pd->es[w - 1].carbon_ug += pd->es[i].carbon_ug;
		} else {
			pd->es[w++] = pd->es[i];
		}
	}
	pd->n_es = w;
	for (size_t i = 0; rc == 0 && i < nh; i++) {
		size_t j = 0;
		while (j < pd->n_eh && pd->eh[j].host != hosts[i].host)
			j++;
		if (j == pd->n_eh) {
			pd->eh = vm_xgrow(pd->eh, &pd->cap_eh, pd->n_eh + 1, sizeof *pd->eh);
			pd->eh[pd->n_eh++] = (struct bill_energy_host){.host = hosts[i].host};
		}
		struct bill_energy_host *d = &pd->eh[j];
		const struct bill_energy_host *x = &hosts[i];
		d->minutes += x->minutes;
		d->measured += x->measured;
		d->energy_uj += x->energy_uj;
		d->carbon_ug += x->carbon_ug;
		d->idle_uj += x->idle_uj;
		d->idle_measured_uj += x->idle_measured_uj;
		d->idle_carbon_ug += x->idle_carbon_ug;
		d->overhead_uj += x->overhead_uj;
		d->overhead_measured_uj += x->overhead_measured_uj;
		d->overhead_carbon_ug += x->overhead_carbon_ug;
	}
	free(hosts);
	pd->n_en = 0;
	return rc;
}

/* ------------------------------------------------------------ the pricing */

static int vt_cmp(const void *key, const void *e)
{
	int vm = *(const int *)key, x = ((const struct vm_tags *)e)->vm;
	return (vm > x) - (vm < x);
}

/* bill_tag_fn over a json object of tags (arg; NULL: none). */
static const char *tag_of(const char *key, void *arg)
{
	return arg ? json_string_value(json_object_get(arg, key)) : NULL;
}

/* The tags of vm in the sub-range the groups are of. */
static json_t *tags_of(const struct groups *gs, int vm)
{
	const struct vm_tags *t = gs->n_vt ? bsearch(&vm, gs->vt, gs->n_vt, sizeof *gs->vt, vt_cmp) : NULL;
	return t ? t->tags : NULL;
}

/* One read of the hosts for all uses: each host's class (for charges
 * per class and power models) and, if the zone has pools
 * (want_pools), the pool of the zone that takes it (pd->of_host). */
static int hosts_read(struct vm_pg *pg, const struct bill_catalog *c, const char *tz, bool want_pools,
                      struct host_classes *hc, struct pool_day *pd, char *err, size_t errsize)
{
	PGresult *r = vm_pg_exec(pg, "SELECT host_id, hostname FROM host ORDER BY host_id", 0, NULL);
	if (!r)
		return vm_pg_fail(pg, "reading hosts", err, errsize);
	int rows = PQntuples(r);
	int n = rows ? (int)vm_pgx_int(r, rows - 1, 0) + 1 : 0;
	hc->n = pd->n_hosts = n;
	hc->of = vm_xcalloc(n ? (size_t)n : 1, sizeof *hc->of);
	pd->of_host = vm_xcalloc(n ? (size_t)n : 1, sizeof *pd->of_host);
	for (int i = 0; i < rows; i++) {
		int id = (int)vm_pgx_int(r, i, 0);
		if (id < 0 || id >= n)
			continue;
		const char *name = PQgetvalue(r, i, 1);
		hc->of[id] = bill_catalog_class_of(c, name); /* points into the catalog */
		const struct bill_pool_def *p = want_pools ? bill_catalog_pool_of(c, name) : NULL;
		if (p && strcmp(p->time_zone, tz) == 0)
			pd->of_host[id] = p;
	}
	PQclear(r);
	return 0;
}

static int price_groups(const struct bill_store *s, const struct host_classes *hcs, struct groups *gs, int64_t date,
                        int64_t a, struct day_out *o, char *err, size_t errsize)
{
	const struct bill_catalog *c = bill_store_catalog(s);
	for (size_t i = 0; i < gs->m.n; i++) {
		const struct grp *g = &gs->g[i];
		struct cover *cv = cover_of(o, g);
		cv->defined += g->def_min;
		cv->running += g->run_min;
		cv->sampled += g->sampled;
		cv->lost_ms += g->lost_ms;
		if (g->sampled > g->def_min)
			cv->after_gone += g->sampled - g->def_min;
		const struct bill_tenant *t = tenant_find(c, g->tenant);
		size_t vi = 0;
		const struct bill_plan *p = t ? price_of(c, t, g->project, date, a, &vi) : NULL;
		if (!p) {
			cv->unpriced += g->def_min;
			continue;
		}
		const struct bill_version *v = &p->versions[vi];
		int vid = bill_store_version_id(s, p, vi);
		const char *hc = g->host >= 0 && g->host < hcs->n ? hcs->of[g->host] : NULL;
		for (size_t j = 0; j < v->n_charges; j++) {
			const struct bill_charge *ch = &v->charges[j];
			if (!bill_charge_applies(v, j, hc, tag_of, tags_of(gs, g->vm)))
				continue;
			bool defined = ch->time == BILL_TIME_DEFINED;
			int64_t q = 0, div = 1;
			char name[80];
			snprintf(name, sizeof name, "%s", bill_meter_name(ch->meter));
			switch (ch->meter) {
			case BILL_VCPU: q = defined ? g->vcpu_def : g->vcpu_run; break;
			case BILL_VM: q = defined ? g->def_min : g->run_min; break;
			case BILL_RAM:
				q = defined ? g->mem_def : g->mem_run;
				div = 1024;
				break;
			case BILL_DISK:
				q = defined ? g->disk_def : g->disk_run;
				div = INT64_C(1) << 20;
				break;
			case BILL_NET_RX:
			case BILL_NET_TX:
				if (ch->net_class) {
					snprintf(name, sizeof name, "net.%s.%s", ch->net_class,
					         ch->meter == BILL_NET_RX ? "rx" : "tx");
					for (size_t k = 0; k < g->n_tr; k++)
						if (strcmp(g->tr[k].cls, ch->net_class) == 0)
							q = ch->meter == BILL_NET_RX ? g->tr[k].rx : g->tr[k].tx;
				} else {
					q = g->use[ch->meter];
				}
				break;
			case BILL_ENERGY:
				q = g->use[ch->meter];
				div = 1000000; /* µJ */
				break;
			case BILL_CARBON:
				q = g->use[ch->meter];
				div = 1000; /* µg */
				break;
			default: q = g->use[ch->meter]; break;
			}
			if (rated_add(o, g, vid, (int)j, name, q, div, err, errsize) < 0)
				return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ the writing */

/* The pools of the zone, as a text[] literal (names are plain words). */
static char *zone_pools(const struct bill_catalog *c, const char *tz)
{
	size_t n;
	const struct bill_pool_def *p = bill_catalog_pools(c, &n);
	char *out = vm_xstrdup("{");
	for (size_t i = 0; i < n; i++)
		if (strcmp(p[i].time_zone, tz) == 0) {
			char *x = vm_xasprintf("%s%s\"%s\"", out, out[1] ? "," : "", p[i].name);
			free(out);
			out = x;
		}
	char *x = vm_xasprintf("%s}", out);
	free(out);
	return x;
}

static int write_pools(struct vm_pg *pg, const char *day, const char *pools, const struct pool_day *pd,
                       const struct pool_row *rows, size_t n, char *err, size_t errsize)
{
	const char *p[2] = {day, pools};
	if (vm_pg_cmd(pg, "DELETE FROM bill_pool_share WHERE day = $1::date AND pool = ANY ($2::text[])", 2, p) < 0)
		return vm_pg_fail(pg, "replacing the day's pool shares", err, errsize);
	if (!n)
		return 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = vm_xmemstream(&buf, &len);
	for (size_t i = 0; i < n; i++) {
		const struct pool_key *k = &pd->k[rows[i].key];
		fprintf(f, "%s\t%d\t%s\t%d\t", rows[i].pool, rows[i].host, day, k->vm);
		vm_pgx_copy_text(f, k->tenant);
		fputc('\t', f);
		vm_pgx_copy_text(f, k->project);
		fprintf(f, "\t%" PRId64 "\n", rows[i].share);
	}
	vm_xmemclose(f);
	int rc = vm_pg_copy_in(pg, "bill_pool_share (pool, host_id, day, vm_id, tenant, project, share)", buf, len);
	free(buf);
	return rc < 0 ? vm_pg_fail(pg, "storing pool shares", err, errsize) : 0;
}

/* The day's energy split, replacing what an earlier rating stored. */
static int write_energy(struct vm_pg *pg, const char *tz, const char *day, const struct pool_day *pd, char *err,
                        size_t errsize)
{
	const char *p[2] = {day, tz};
	if (vm_pg_cmd(pg, "DELETE FROM bill_energy_share WHERE day = $1::date AND time_zone = $2", 2, p) < 0 ||
	    vm_pg_cmd(pg, "DELETE FROM bill_energy_host WHERE day = $1::date AND time_zone = $2", 2, p) < 0)
		return vm_pg_fail(pg, "replacing the day's energy", err, errsize);
	if (!pd->n_eh)
		return 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = vm_xmemstream(&buf, &len);
	for (size_t i = 0; i < pd->n_es; i++) {
		const struct energy_share *e = &pd->es[i];
		const struct pool_key *k = &pd->k[e->key];
		vm_pgx_copy_text(f, tz);
		fprintf(f, "\t%s\t%d\t%d\t", day, e->host, k->vm);
		vm_pgx_copy_text(f, k->tenant);
		fputc('\t', f);
		vm_pgx_copy_text(f, k->project);
		fprintf(f, "\tvm\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n", e->energy_uj, e->measured_uj, e->carbon_ug);
	}
	for (size_t i = 0; i < pd->n_eh; i++) {
		const struct bill_energy_host *h = &pd->eh[i];
		vm_pgx_copy_text(f, tz);
		fprintf(f, "\t%s\t%d\t0\t\t\tidle\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n", day, h->host, h->idle_uj,
		        h->idle_measured_uj, h->idle_carbon_ug);
		vm_pgx_copy_text(f, tz);
		fprintf(f, "\t%s\t%d\t0\t\t\toverhead\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n", day, h->host,
		        h->overhead_uj, h->overhead_measured_uj, h->overhead_carbon_ug);
	}
	vm_xmemclose(f);
	int rc = vm_pg_copy_in(pg,
	                       "bill_energy_share (time_zone, day, host_id, vm_id, tenant, project, part, energy_uj, "
	                       "measured_uj, carbon_ug)",
	                       buf, len);
	free(buf);
	if (rc < 0)
		return vm_pg_fail(pg, "storing the day's energy shares", err, errsize);
	buf = NULL;
	f = vm_xmemstream(&buf, &len);
	for (size_t i = 0; i < pd->n_eh; i++) {
		const struct bill_energy_host *h = &pd->eh[i];
		vm_pgx_copy_text(f, tz);
		fprintf(f, "\t%s\t%d\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n", day, h->host, h->minutes,
		        h->measured, h->energy_uj, h->carbon_ug);
	}
	vm_xmemclose(f);
	rc = vm_pg_copy_in(pg, "bill_energy_host (time_zone, day, host_id, minutes, measured, energy_uj, carbon_ug)",
	                   buf, len);
	free(buf);
	return rc < 0 ? vm_pg_fail(pg, "storing the day's host energy", err, errsize) : 0;
}

static int write_day(struct vm_pg *pg, const char *tz, const char *day, int64_t upto, struct day_out *o,
                     const char *pools, const struct pool_day *pd, const struct pool_row *prows, size_t nprows,
                     struct bill_rate_stats *st, char *err, size_t errsize)
{
	char up[24];
	snprintf(up, sizeof up, "%" PRId64, upto);
	const char *p[3] = {day, tz, up};
	if (vm_pg_begin(pg) < 0)
		return vm_pg_fail(pg, "rating a day", err, errsize);
	/* the zone's tenants: those the loaded files put in it, or for UTC
	 * also every tenant they do not name; a rated row's tenant is an
	 * owner's, so these are all there can be, and naming them lets the
	 * primary keys (tenant, day, ...) find the day's rows */
	static const char *const zone_of =
	    "tenant = ANY (ARRAY(SELECT x.t FROM (SELECT tenant FROM owner UNION SELECT tenant FROM bill_tenant) "
	    "x(t) WHERE coalesce((SELECT time_zone FROM bill_tenant b WHERE b.tenant = x.t), 'UTC') = $2))";
	char *del_r = vm_xasprintf("DELETE FROM bill_rated WHERE day = $1::date AND %s", zone_of);
	char *del_c = vm_xasprintf("DELETE FROM bill_coverage WHERE day = $1::date AND %s", zone_of);
	int rc = 0;
	if (vm_pg_cmd(pg, del_r, 2, p) < 0 || vm_pg_cmd(pg, del_c, 2, p) < 0)
		rc = vm_pg_fail(pg, "replacing the day's rated rows", err, errsize);
	free(del_r);
	free(del_c);
	char *buf = NULL;
	size_t len = 0;
	if (rc == 0 && o->rm.n) {
		FILE *f = vm_xmemstream(&buf, &len);
		for (size_t i = 0; i < o->rm.n; i++) {
			const struct rated *r = &o->r[i];
			vm_pgx_copy_text(f, r->tenant);
			fprintf(f, "\t%s\t%d\t", day, r->vm);
			vm_pgx_copy_text(f, r->project);
			fprintf(f, "\t%d\t%d\t%s\t%" PRId64 "\n", r->version_id, r->charge, r->meter, r->qty / r->div);
		}
		vm_xmemclose(f);
		if (vm_pg_copy_in(pg, "bill_rated (tenant, day, vm_id, project, version_id, charge, meter, qty)", buf,
		                  len) < 0)
			rc = vm_pg_fail(pg, "storing rated quantities", err, errsize);
		free(buf);
		buf = NULL;
	}
	if (rc == 0 && o->cm.n) {
		FILE *f = vm_xmemstream(&buf, &len);
		for (size_t i = 0; i < o->cm.n; i++) {
			const struct cover *c = &o->c[i];
			vm_pgx_copy_text(f, c->tenant);
			fprintf(f, "\t%s\t%d\t", day, c->vm);
			vm_pgx_copy_text(f, c->project);
			fprintf(f, "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n",
			        c->defined, c->running, c->sampled, c->unpriced, c->after_gone, c->lost_ms);
			st->unpriced += c->unpriced;
		}
		vm_xmemclose(f);
		if (vm_pg_copy_in(pg,
		                  "bill_coverage (tenant, day, vm_id, project, minutes_defined, minutes_running, "
		                  "minutes_sampled, minutes_unpriced, minutes_after_gone, lost_ms)",
		                  buf, len) < 0)
			rc = vm_pg_fail(pg, "storing coverage", err, errsize);
		free(buf);
	}
	if (rc == 0)
		rc = write_pools(pg, day, pools, pd, prows, nprows, err, errsize);
	if (rc == 0)
		rc = write_energy(pg, tz, day, pd, err, errsize);
	if (rc == 0 && vm_pg_cmd(pg,
	                         "INSERT INTO bill_day (time_zone, day, upto) VALUES ($2, $1::date, "
	                         "to_timestamp($3::bigint)) ON CONFLICT (time_zone, day) DO UPDATE "
	                         "SET upto = EXCLUDED.upto, rated_at = now()",
	                         3, p) < 0)
		rc = vm_pg_fail(pg, "recording the day as rated", err, errsize);
	if (rc == 0 && vm_pg_commit(pg) < 0)
		rc = vm_pg_fail(pg, "committing the day", err, errsize);
	if (rc < 0) {
		vm_pg_rollback(pg);
		return -1;
	}
	st->rows += (int64_t)o->rm.n;
	st->vm_days += (int64_t)o->cm.n;
	return 0;
}

/* The differences between the stored rows of the day and o, printed. */
static int diff_day(struct vm_pg *pg, const char *tz, const char *day, struct day_out *o, FILE *out, char *err,
                    size_t errsize)
{
	const char *p[2] = {day, tz};
	PGresult *r = vm_pg_exec(pg,
	                         "SELECT x.tenant, x.vm_id, x.project, x.version_id, x.charge, x.meter, x.qty, "
	                         "v.plan, v.label FROM bill_rated x JOIN bill_version v USING (version_id) "
	                         "WHERE x.day = $1::date AND coalesce((SELECT time_zone FROM bill_tenant t "
	                         "WHERE t.tenant = x.tenant), 'UTC') = $2",
	                         2, p);
	if (!r)
		return vm_pg_fail(pg, "reading the day's rated rows", err, errsize);
	int changed = 0;
	uint8_t *seen = vm_xcalloc(o->rm.n ? o->rm.n : 1, 1);
	for (int i = 0; i < PQntuples(r); i++) {
		char *key =
		    vm_xasprintf("%s" KEY_SEP "%s" KEY_SEP "%s" KEY_SEP "%s" KEY_SEP "%s", PQgetvalue(r, i, 0),
		                 PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
		bool added;
		size_t k = map_get(&o->rm, key, &added);
		free(key);
		int64_t old = vm_pgx_int(r, i, 6), now = 0;
		if (added) {
			/* a key only the stored rows have: map_get made it; keep the
			 * arrays in step (qty 0, written by nobody) */
			o->r = vm_xgrow(o->r, &o->cap_r, k + 1, sizeof *o->r);
			o->r[k] = (struct rated){vm_xstrdup(PQgetvalue(r, i, 0)),
			                         vm_xstrdup(PQgetvalue(r, i, 2)),
			                         (int)vm_pgx_int(r, i, 1),
			                         (int)vm_pgx_int(r, i, 3),
			                         (int)vm_pgx_int(r, i, 4),
			                         vm_xstrdup(PQgetvalue(r, i, 5)),
			                         0,
			                         1};
			seen = vm_xrealloc(seen, k + 1);
		} else {
			now = o->r[k].qty / o->r[k].div;
		}
		seen[k] = 1;
		if (now != old) {
			fprintf(out, "%s %s vm %s project %s %s (%s %s): %" PRId64 " -> %" PRId64 "\n", day,
			        PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 5),
			        PQgetvalue(r, i, 7), PQgetvalue(r, i, 8), old, now);
			changed++;
		}
	}
	PQclear(r);
	for (size_t k = 0; k < o->rm.n; k++)
		if (!seen[k] && o->r[k].qty / o->r[k].div != 0) {
			fprintf(out, "%s %s vm %d project %s %s (version id %d): 0 -> %" PRId64 "\n", day,
			        o->r[k].tenant, o->r[k].vm, o->r[k].project, o->r[k].meter, o->r[k].version_id,
			        o->r[k].qty / o->r[k].div);
			changed++;
		}
	free(seen);
	return changed;
}

int bill_rate_day(struct vm_pg *pg, struct bill_store *s, const char *tz, const char *day, FILE *diff,
                  struct bill_rate_stats *st, char *err, size_t errsize)
{
	const char *p[2] = {day, tz};
	PGresult *r = vm_pg_exec(pg,
	                         "SELECT extract(epoch FROM ($1::date)::timestamp AT TIME ZONE $2)::bigint, "
	                         "extract(epoch FROM ($1::date + 1)::timestamp AT TIME ZONE $2)::bigint, "
	                         "(SELECT CASE WHEN closed_upto = '-infinity' THEN NULL "
	                         "ELSE extract(epoch FROM closed_upto)::bigint END FROM rollup_state), "
	                         "$1::date - DATE '1970-01-01'",
	                         2, p);
	if (!r)
		return vm_pg_fail(pg, "the day's bounds", err, errsize);
	int64_t a = vm_pgx_int(r, 0, 0), b = vm_pgx_int(r, 0, 1), date = vm_pgx_int(r, 0, 3);
	bool closed_any = !PQgetisnull(r, 0, 2);
	int64_t closed = vm_pgx_int(r, 0, 2);
	PQclear(r);
	if (!closed_any || closed <= a)
		return 0; /* nothing of the day is closed yet */
	if (closed < b)
		b = closed;
	if (a % 60 || b % 60) {
		snprintf(err, errsize, "day %s in %s does not start and end on whole minutes", day, tz);
		return -1;
	}
	const struct bill_catalog *c = bill_store_catalog(s);
	int64_t *cuts = NULL;
	size_t nc = 0, cap = 0;
	size_t np, nt;
	const struct bill_plan *plans = bill_catalog_plans(c, &np);
	const struct bill_tenant *tenants = bill_catalog_tenants(c, &nt);
	bool classes = false;
	for (size_t i = 0; i < np; i++)
		for (size_t j = 0; j < plans[i].n_versions; j++) {
			const struct bill_version *v = &plans[i].versions[j];
			add_cut(&cuts, &nc, &cap, &v->from, a, b);
			add_cut(&cuts, &nc, &cap, &v->to, a, b);
			for (size_t k = 0; k < v->n_charges; k++)
				classes |= v->charges[k].net_class != NULL;
		}
	for (size_t i = 0; i < nt; i++)
		for (size_t j = 0; j < tenants[i].n_assigns; j++) {
			add_cut(&cuts, &nc, &cap, &tenants[i].assigns[j].from, a, b);
			add_cut(&cuts, &nc, &cap, &tenants[i].assigns[j].to, a, b);
		}
	if (bill_catalog_uses_tags(c)) {
		/* where a VM's tags change, from the first minute whose middle
		 * the new state holds (the owner's rule) */
		char pa[24], pb[24];
		snprintf(pa, sizeof pa, "%" PRId64, a);
		snprintf(pb, sizeof pb, "%" PRId64, b);
		const char *q[2] = {pa, pb};
		r = vm_pg_exec(
		    pg,
		    "WITH s AS (SELECT valid_from, tags, lag(tags) OVER (PARTITION BY vm_id ORDER BY valid_from) "
		    "AS prev, lag(valid_from) OVER (PARTITION BY vm_id ORDER BY valid_from) AS pf "
		    "FROM vm_inventory) SELECT DISTINCT (ceil((extract(epoch FROM valid_from) - 30) / 60) * 60)"
		    "::bigint FROM s WHERE pf IS NOT NULL AND prev IS DISTINCT FROM tags "
		    "AND valid_from > to_timestamp($1::bigint) AND valid_from < to_timestamp($2::bigint)",
		    2, q);
		if (!r) {
			free(cuts);
			return vm_pg_fail(pg, "reading where VMs' tags change", err, errsize);
		}
		for (int i = 0; i < PQntuples(r); i++) {
			int64_t t = vm_pgx_int(r, i, 0);
			if (t > a && t < b) {
				cuts = vm_xgrow(cuts, &cap, nc + 1, sizeof *cuts);
				cuts[nc++] = t;
			}
		}
		PQclear(r);
	}
	cuts = vm_xgrow(cuts, &cap, nc + 2, sizeof *cuts);
	cuts[nc++] = a;
	cuts[nc++] = b;
	qsort(cuts, nc, sizeof *cuts, cmp_i64);
	struct day_out o = {0};
	struct zone_filter zf;
	zone_filter_make(c, tz, &zf);
	struct pool_day pd = {0};
	struct host_classes hcs = {0};
	char *pools = zone_pools(c, tz);
	int rc = hosts_read(pg, c, tz, pools[1] != '}', &hcs, &pd, err, errsize);
	if (rc == 0) {
		int k = bill_energy_hosts(pg, c, hcs.of, hcs.n, a, b, &pd.energy_on, err, errsize);
		if (k < 0)
			rc = -1;
		else if (k == 0)
			free(pd.energy_on), pd.energy_on = NULL;
	}
	for (size_t i = 0; i + 1 < nc && rc == 0; i++) {
		if (cuts[i] == cuts[i + 1])
			continue;
		struct groups gs = {0};
		rc = read_usage(pg, c, tz, &zf, cuts[i], cuts[i + 1], classes, &gs, err, errsize);
		if (rc == 0)
			rc = read_time(pg, c, tz, cuts[i], cuts[i + 1], &gs, &pd, err, errsize);
		if (rc == 0)
			rc = energy_range(pg, c, &hcs, tz, cuts[i], cuts[i + 1], &pd, &gs, err, errsize);
		if (rc == 0)
			rc = price_groups(s, &hcs, &gs, date, cuts[i], &o, err, errsize);
		groups_free(&gs);
	}
	free(cuts);
	free(zf.names);
	struct pool_row *prows = NULL;
	size_t nprows = 0;
	if (rc == 0 && !diff)
		rc = pool_split(pg, day, tz, a, b, &pd, &prows, &nprows, err, errsize);
	if (rc == 0 && diff)
		rc = diff_day(pg, tz, day, &o, diff, err, errsize);
	else if (rc == 0)
		rc = write_day(pg, tz, day, b, &o, pools, &pd, prows, nprows, st, err, errsize);
	free(prows);
	free(pools);
	free(hcs.of);
	pool_day_free(&pd);
	if (rc >= 0 && st)
		st->days++;
	day_out_free(&o);
	return rc;
}

static void zone_add(const char **z, size_t *n, const char *tz)
{
	size_t j = 0;
	while (j < *n && strcmp(z[j], tz) != 0)
		j++;
	if (j == *n)
		z[(*n)++] = tz;
}

const char **bill_rate_zones(const struct bill_store *s, size_t *n)
{
	size_t nt, np;
	const struct bill_tenant *t = bill_catalog_tenants(bill_store_catalog(s), &nt);
	const struct bill_pool_def *p = bill_catalog_pools(bill_store_catalog(s), &np);
	const char **z = vm_xmalloc((nt + np + 1) * sizeof *z);
	z[0] = "UTC";
	*n = 1;
	for (size_t i = 0; i < nt; i++)
		zone_add(z, n, t[i].time_zone);
	for (size_t i = 0; i < np; i++)
		zone_add(z, n, p[i].time_zone);
	return z;
}

int bill_rate_due(struct vm_pg *pg, struct bill_store *s, struct bill_rate_stats *st, char *err, size_t errsize)
{
	size_t nz;
	const char **zones = bill_rate_zones(s, &nz);
	/* the dirty hours taken now; marks made while this runs stay */
	PGresult *dirty =
	    vm_pg_exec(pg, "SELECT extract(epoch FROM hour)::bigint FROM bill_dirty ORDER BY hour", 0, NULL);
	if (!dirty) {
		free(zones);
		return vm_pg_fail(pg, "reading dirty hours", err, errsize);
	}
	char *hours = vm_xstrdup("{");
	for (int i = 0; i < PQntuples(dirty); i++) {
		char *h = vm_xasprintf("%s%s%s", hours, i ? "," : "", PQgetvalue(dirty, i, 0));
		free(hours);
		hours = h;
	}
	char *h = vm_xasprintf("%s}", hours);
	free(hours);
	hours = h;
	if (st)
		st->dirty += PQntuples(dirty);
	PQclear(dirty);
	int rc = 0;
	for (size_t z = 0; z < nz && rc == 0; z++) {
		/* days due in the zone: those the closed horizon has moved into
		 * (from the first inventory state on), and those holding a dirty
		 * hour */
		const char *p[2] = {zones[z], hours};
		PGresult *r = vm_pg_exec(
		    pg,
		    "WITH h AS (SELECT closed_upto AS c FROM rollup_state WHERE closed_upto > '-infinity'), "
		    "first AS (SELECT coalesce((SELECT max(day) FROM bill_day WHERE time_zone = $1), "
		    "(least((SELECT min(valid_from) FROM vm_inventory), (SELECT min(at) FROM vm_event)) AT TIME ZONE "
		    "$1)::date) "
		    "AS d), "
		    "span AS (SELECT generate_series(first.d, ((h.c - interval '1 second') AT TIME ZONE $1)::date, "
		    "interval '1 day')::date AS day FROM first, h WHERE first.d IS NOT NULL), "
		    "late AS (SELECT DISTINCT ((to_timestamp(x) + o) AT TIME ZONE $1)::date AS day "
		    "FROM unnest($2::bigint[]) x, (VALUES (interval '0'), (interval '59 minutes 59 seconds')) v(o)) "
		    "SELECT day::text FROM (SELECT day FROM span UNION SELECT day FROM late) d, h "
		    "WHERE (day::timestamp AT TIME ZONE $1) < h.c AND NOT EXISTS (SELECT 1 FROM bill_day b "
		    "WHERE b.time_zone = $1 AND b.day = d.day AND b.upto >= least(h.c, "
		    "(d.day + 1)::timestamp AT TIME ZONE $1) AND d.day NOT IN (SELECT day FROM late)) "
		    "ORDER BY day",
		    2, p);
		if (!r) {
			rc = vm_pg_fail(pg, "finding the days due", err, errsize);
			break;
		}
		for (int i = 0; i < PQntuples(r) && rc == 0; i++)
			rc = bill_rate_day(pg, s, zones[z], PQgetvalue(r, i, 0), NULL, st, err, errsize) < 0 ? -1 : 0;
		PQclear(r);
	}
	if (rc == 0) {
		const char *p[1] = {hours};
		if (vm_pg_cmd(
		        pg,
		        "DELETE FROM bill_dirty WHERE hour = ANY (SELECT to_timestamp(x) FROM unnest($1::bigint[]) x)",
		        1, p) < 0)
			rc = vm_pg_fail(pg, "clearing dirty hours", err, errsize);
	}
	free(hours);
	free(zones);
	return rc;
}
