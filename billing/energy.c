/* Energy and carbon: see energy.h. */
#include "config.h"

#include "energy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"
#include "pgx.h"
#include "xalloc.h"

#define NS_PER_MINUTE INT64_C(60000000000)
/* µJ x mg/kWh / UJ_MG_PER_UG = µg: 1 kWh is 3.6e12 µJ, 1 mg is 1000 µg */
#define UJ_MG_PER_UG INT64_C(3600000000)

/* The hosts `on` as an int[] literal; NULL if none. */
static char *host_list(const bool *on, int n_hosts)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = vm_xmemstream(&buf, &len);
	int k = 0;
	fputc('{', f);
	for (int h = 0; h < n_hosts; h++)
		if (on[h])
			fprintf(f, "%s%d", k++ ? "," : "", h);
	fputc('}', f);
	vm_xmemclose(f);
	if (!k) {
		free(buf);
		return NULL;
	}
	return buf;
}

static const struct bill_host_class *class_at(const struct bill_catalog *c, const char *const *class_of, int n,
                                              int host)
{
	return host >= 0 && host < n && class_of[host] ? bill_catalog_host_class(c, class_of[host]) : NULL;
}

int bill_energy_hosts(struct vm_pg *pg, const struct bill_catalog *c, const char *const *class_of, int n_hosts,
                      int64_t a, int64_t b, bool **on, char *err, size_t errsize)
{
	*on = vm_xcalloc(n_hosts > 0 ? (size_t)n_hosts : 1, sizeof **on);
	int count = 0;
	for (int h = 0; h < n_hosts; h++) {
		const struct bill_host_class *hc = class_at(c, class_of, n_hosts, h);
		if (hc && hc->power)
			(*on)[h] = true, count++;
	}
	char pa[24], pb[24];
	snprintf(pa, sizeof pa, "%" PRId64, a);
	snprintf(pb, sizeof pb, "%" PRId64, b);
	const char *p[2] = {pa, pb};
	/* a skip scan by hand: one index probe per host, not every minute */
	PGresult *r = vm_pg_exec(pg,
	                         "SELECT host_id FROM host h WHERE EXISTS (SELECT 1 FROM host_power_minute m "
	                         "WHERE m.host_id = h.host_id AND m.minute >= to_timestamp($1::bigint) "
	                         "AND m.minute < to_timestamp($2::bigint))",
	                         2, p);
	if (!r) {
		free(*on);
		*on = NULL;
		return vm_pg_fail(pg, "finding the hosts with measured energy", err, errsize);
	}
	for (int i = 0; i < PQntuples(r); i++) {
		int64_t h = vm_pgx_int(r, i, 0);
		if (h >= 0 && h < n_hosts && !(*on)[h])
			(*on)[h] = true, count++;
	}
	PQclear(r);
	return count;
}

static int vm_cmp(const void *x, const void *y)
{
	const struct bill_energy_vm *a = x, *b = y;
	if (a->host != b->host)
		return a->host < b->host ? -1 : 1;
	if (a->minute != b->minute)
		return a->minute < b->minute ? -1 : 1;
	return (a->vm > b->vm) - (a->vm < b->vm);
}

/* A host-minute's figures as read. */
struct hmin {
	int host;
	int64_t minute;
	bool power, usage;
	int64_t energy_uj, power_cov_ms;
	int64_t cov_ms, busy_ns, capacity_ns;
};

static int hmin_cmp(const void *x, const void *y)
{
	const struct hmin *a = x, *b = y;
	if (a->host != b->host)
		return a->host < b->host ? -1 : 1;
	return (a->minute > b->minute) - (a->minute < b->minute);
}

/* The host-minutes of [a, b) with a measurement or a host usage row,
 * merged: one per host and minute, sorted. */
static int read_minutes(struct vm_pg *pg, const char *hosts, const char *const *p2, struct hmin **out, size_t *n,
                        char *err, size_t errsize)
{
	const char *p[3] = {p2[0], p2[1], hosts};
	PGresult *pw = vm_pg_exec(pg,
	                          "SELECT host_id, extract(epoch FROM minute)::bigint / 60, energy_uj, coverage_ms "
	                          "FROM host_power_minute WHERE minute >= to_timestamp($1::bigint) "
	                          "AND minute < to_timestamp($2::bigint) AND host_id = ANY ($3::int[])",
	                          3, p);
	if (!pw)
		return vm_pg_fail(pg, "reading measured energy", err, errsize);
	PGresult *us = vm_pg_exec(pg,
	                          "SELECT host_id, extract(epoch FROM minute)::bigint / 60, coverage_ms, "
	                          "coalesce(cpu_busy_ns, 0), coalesce(cpu_capacity_ns, 0) "
	                          "FROM host_usage_minute WHERE minute >= to_timestamp($1::bigint) "
	                          "AND minute < to_timestamp($2::bigint) AND host_id = ANY ($3::int[])",
	                          3, p);
	if (!us) {
		PQclear(pw);
		return vm_pg_fail(pg, "reading the hosts' CPU use", err, errsize);
	}
	size_t np = (size_t)PQntuples(pw), nu = (size_t)PQntuples(us);
	struct hmin *m = vm_xmalloc((np + nu + 1) * sizeof *m);
	size_t k = 0;
	for (size_t i = 0; i < np; i++)
		m[k++] = (struct hmin){.host = (int)vm_pgx_int(pw, (int)i, 0),
		                       .minute = vm_pgx_int(pw, (int)i, 1),
		                       .power = true,
		                       .energy_uj = vm_pgx_int(pw, (int)i, 2),
		                       .power_cov_ms = vm_pgx_int(pw, (int)i, 3)};
	for (size_t i = 0; i < nu; i++)
		m[k++] = (struct hmin){.host = (int)vm_pgx_int(us, (int)i, 0),
		                       .minute = vm_pgx_int(us, (int)i, 1),
		                       .usage = true,
		                       .cov_ms = vm_pgx_int(us, (int)i, 2),
		                       .busy_ns = vm_pgx_int(us, (int)i, 3),
		                       .capacity_ns = vm_pgx_int(us, (int)i, 4)};
	PQclear(pw);
	PQclear(us);
	qsort(m, k, sizeof *m, hmin_cmp);
	size_t w = 0;
	for (size_t i = 0; i < k; i++) {
		if (w && m[w - 1].host == m[i].host && m[w - 1].minute == m[i].minute) {
			struct hmin *d = &m[w - 1];
			if (m[i].power)
				d->power = true, d->energy_uj = m[i].energy_uj, d->power_cov_ms = m[i].power_cov_ms;
			if (m[i].usage)
				d->usage = true, d->cov_ms = m[i].cov_ms, d->busy_ns = m[i].busy_ns,
				d->capacity_ns = m[i].capacity_ns;
			continue;
		}
		m[w++] = m[i];
	}
	*out = m;
	*n = w;
	return 0;
}

/* The VMs' CPU time per minute into v (sorted), from raw minutes: a
 * share is never computed from less than the minutes were. */
static int read_cpu(struct vm_pg *pg, const char *hosts, const char *const *p2, struct bill_energy_vm *v, size_t n,
                    int64_t *cpu, char *err, size_t errsize)
{
	const char *p[3] = {p2[0], p2[1], hosts};
	PGresult *r = vm_pg_exec(
	    pg,
	    "SELECT vm_storage_check('raw', to_timestamp($1::bigint)) AND (SELECT bool_and(vm_packed_check(h)) "
	    "FROM generate_series(to_timestamp($1::bigint), to_timestamp($2::bigint) - interval '1 second', "
	    "interval '1 hour') h)",
	    2, p);
	if (!r)
		return vm_pg_fail(pg, "checking the minutes energy is split by", err, errsize);
	PQclear(r);
	r = vm_pg_exec(pg,
	               "SELECT host_id, extract(epoch FROM minute)::bigint / 60, vm_id, cpu_ns FROM vm_usage_minute "
	               "WHERE minute >= to_timestamp($1::bigint) AND minute < to_timestamp($2::bigint) "
	               "AND host_id = ANY ($3::int[]) AND cpu_ns > 0 ORDER BY host_id, minute, vm_id",
	               3, p);
	if (!r)
		return vm_pg_fail(pg, "reading CPU time per minute to split energy", err, errsize);
	size_t j = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		struct bill_energy_vm key = {
		    .host = (int)vm_pgx_int(r, i, 0), .minute = vm_pgx_int(r, i, 1), .vm = (int)vm_pgx_int(r, i, 2)};
		while (j < n && vm_cmp(&v[j], &key) < 0)
			j++;
		/* CPU time of a VM-minute that was not running (a stop inside
		 * the minute is still counted running) is the host's overhead */
		if (j < n && vm_cmp(&v[j], &key) == 0)
			cpu[j] += vm_pgx_int(r, i, 3);
	}
	PQclear(r);
	return 0;
}

/* The grids' intensities by hour of [a, b) where known. */
struct hour_val {
	char *region;
	int64_t hour, mg;
};

static int read_grid(struct vm_pg *pg, const char *const *p2, struct hour_val **out, size_t *n, char *err,
                     size_t errsize)
{
	PGresult *r =
	    vm_pg_exec(pg,
	               "SELECT region, extract(epoch FROM hour)::bigint / 3600, mg_per_kwh FROM bill_grid_hour "
	               "WHERE hour >= date_trunc('hour', to_timestamp($1::bigint), 'UTC') "
	               "AND hour < to_timestamp($2::bigint) ORDER BY region, hour",
	               2, p2);
	if (!r)
		return vm_pg_fail(pg, "reading grid intensities", err, errsize);
	*n = (size_t)PQntuples(r);
	*out = vm_xmalloc((*n + 1) * sizeof **out);
	for (size_t i = 0; i < *n; i++)
		(*out)[i] = (struct hour_val){vm_xstrdup(PQgetvalue(r, (int)i, 0)), vm_pgx_int(r, (int)i, 1),
		                              vm_pgx_int(r, (int)i, 2)};
	PQclear(r);
	return 0;
}

static int64_t intensity(const struct bill_grid *g, const struct hour_val *hv, size_t n, int64_t hour)
{
	for (size_t i = 0; i < n; i++) /* a day holds few: a scan */
		if (hv[i].hour == hour && strcmp(hv[i].region, g->name) == 0)
			return hv[i].mg;
	return g->mg_per_kwh;
}

/* x * y / d for non-negative operands whose product may pass 64 bits. */
static int64_t muldiv(int64_t x, int64_t y, int64_t d)
{
	return (int64_t)((__int128)x * y / d);
}

/* The split of one host-minute: w holds n VMs' weights and one last for the
 * host's own part; parts gets n + 1. */
static void split(int64_t total, int64_t *w, size_t n, int64_t *parts)
{
	int64_t sum = 0;
	for (size_t i = 0; i <= n; i++)
		sum += w[i];
	if (!sum)
		w[n] = 1; /* nobody's weight: the host's own */
	vm_split(total, w, n + 1, 1, parts);
}

int bill_energy_split(struct vm_pg *pg, const struct bill_catalog *c, const char *const *class_of, const bool *on,
                      int n_hosts, int64_t a, int64_t b, struct bill_energy_vm *v, size_t n,
                      struct bill_energy_host **hosts, size_t *nh, char *err, size_t errsize)
{
	*hosts = NULL;
	*nh = 0;
	char *list = host_list(on, n_hosts);
	if (!list)
		return 0;
	char pa[24], pb[24];
	snprintf(pa, sizeof pa, "%" PRId64, a);
	snprintf(pb, sizeof pb, "%" PRId64, b);
	const char *p2[2] = {pa, pb};
	qsort(v, n, sizeof *v, vm_cmp);
	struct hmin *m = NULL;
	size_t nm = 0, ng = 0;
	int64_t *cpu = vm_xcalloc(n + 1, sizeof *cpu);
	struct hour_val *hv = NULL;
	int rc = read_minutes(pg, list, p2, &m, &nm, err, errsize);
	if (rc == 0 && n)
		rc = read_cpu(pg, list, p2, v, n, cpu, err, errsize);
	if (rc == 0)
		rc = read_grid(pg, p2, &hv, &ng, err, errsize);
	free(list);
	size_t cap_w = 0, cap_h = 0;
	int64_t *w = NULL, *pd = NULL, *pi = NULL, *ec = NULL, *pc = NULL;
	size_t j = 0;
	for (size_t i = 0; rc == 0 && i < nm; i++) {
		const struct hmin *x = &m[i];
		while (j < n && (v[j].host < x->host || (v[j].host == x->host && v[j].minute < x->minute)))
			j++; /* VM-minutes without the host's: no energy known */
		size_t j1 = j;
		while (j1 < n && v[j1].host == x->host && v[j1].minute == x->minute)
			j1++;
		const struct bill_host_class *hc = class_at(c, class_of, n_hosts, x->host);
		int64_t e, cov;
		if (x->power) {
			e = x->energy_uj;
			cov = x->power_cov_ms;
		} else if (hc && hc->power && x->usage && x->cov_ms > 0) {
			int64_t busy = x->busy_ns < x->capacity_ns ? x->busy_ns : x->capacity_ns;
			cov = x->cov_ms;
			e = hc->idle_mw * cov; /* mW x ms = µJ */
			if (x->capacity_ns > 0)
				e += muldiv((hc->max_mw - hc->idle_mw) * cov, busy, x->capacity_ns);
		} else {
			j = j1;
			continue; /* nothing known of the minute's energy */
		}
		size_t k = j1 - j;
		if (k + 1 > cap_w) {
			cap_w = 2 * (k + 1);
			w = vm_xrealloc(w, cap_w * sizeof *w);
			pd = vm_xrealloc(pd, cap_w * sizeof *pd);
			pi = vm_xrealloc(pi, cap_w * sizeof *pi);
			ec = vm_xrealloc(ec, (cap_w + 1) * sizeof *ec);
			pc = vm_xrealloc(pc, (cap_w + 1) * sizeof *pc);
		}
		int64_t idle = hc && hc->power ? hc->idle_mw * cov : 0;
		if (idle > e)
			idle = e;
		/* the dynamic part by CPU time, against the host's busy time */
		int64_t used = 0;
		for (size_t q = 0; q < k; q++)
			used += w[q] = cpu[j + q];
		w[k] = x->usage && x->busy_ns > used ? x->busy_ns - used : 0;
		split(e - idle, w, k, pd);
		/* the idle part by allocation, against the host's capacity */
		int64_t alloc = 0;
		for (size_t q = 0; q < k; q++)
			alloc += w[q] = v[j + q].vcpus * NS_PER_MINUTE;
		int64_t cap_ns = x->usage && x->cov_ms > 0 ? muldiv(x->capacity_ns, 60000, x->cov_ms) : alloc;
		w[k] = cap_ns > alloc ? cap_ns - alloc : 0;
		split(idle, w, k, pi);
		/* carbon of the minute, split like its energy: the VMs', then
		 * the overhead, then the idle part */
		const struct bill_grid *g = hc && hc->grid ? bill_catalog_grid(c, hc->grid) : NULL;
		int64_t carbon = g ? muldiv(e, intensity(g, hv, ng, x->minute / 60), UJ_MG_PER_UG) : 0;
		for (size_t q = 0; q < k; q++)
			ec[q] = pd[q] + pi[q];
		ec[k] = pd[k];
		ec[k + 1] = pi[k];
		int64_t esum = 0;
		for (size_t q = 0; q < k + 2; q++)
			esum += ec[q];
		if (esum)
			vm_split(carbon, ec, k + 2, 1, pc);
		else
			memset(pc, 0, (k + 2) * sizeof *pc);
		for (size_t q = 0; q < k; q++) {
			v[j + q].energy_uj += ec[q];
			v[j + q].measured_uj += x->power ? ec[q] : 0;
			v[j + q].carbon_ug += pc[q];
		}
		if (!*nh || (*hosts)[*nh - 1].host != x->host) {
			*hosts = vm_xgrow(*hosts, &cap_h, *nh + 1, sizeof **hosts);
			(*hosts)[(*nh)++] = (struct bill_energy_host){.host = x->host};
		}
		struct bill_energy_host *h = &(*hosts)[*nh - 1];
		h->minutes++;
		h->measured += x->power;
		h->energy_uj += e;
		h->carbon_ug += carbon;
		h->overhead_uj += pd[k];
		h->overhead_measured_uj += x->power ? pd[k] : 0;
		h->overhead_carbon_ug += pc[k];
		h->idle_uj += pi[k];
		h->idle_measured_uj += x->power ? pi[k] : 0;
		h->idle_carbon_ug += pc[k + 1];
		j = j1;
	}
	for (size_t i = 0; i < ng; i++)
		free(hv[i].region);
	free(hv);
	free(w);
	free(pd);
	free(pi);
	free(ec);
	free(pc);
	free(cpu);
	free(m);
	return rc;
}
