/* One analysis cycle (analysis.h). */
#include "config.h"

#include "analysis.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "figures.h"
#include "xalloc.h"

/* The analysis' advisory lock (the pair's first number is vmeter's, as
 * in lib/maint.c and the rater's 3). */
#define AGG_LOCK "8675309, 4"

int agg_analysis_lock(struct vm_pg *pg)
{
	PGresult *r = vm_pg_exec(pg, "SELECT pg_try_advisory_lock(" AGG_LOCK ")", 0, NULL);
	if (!r)
		return -1;
	int got = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return got;
}

void agg_analysis_unlock(struct vm_pg *pg)
{
	PQclear(vm_pg_exec(pg, "SELECT pg_advisory_unlock(" AGG_LOCK ")", 0, NULL));
}

/* A VM as the cycle sees it. */
struct vm_rec {
	int vm_id, host_id; /* host: the inventory's at the window's end */
	char *name;
	int vcpus;
	int64_t mem_kib;
	/* the current window */
	bool has_cur;
	int cur_host; /* the host it was observed on longest */
	struct agg_vm_sums cur;
	/* its hours: [h0, h1) of the cycle's array */
	size_t h0, h1;
	bool powered_off;
	int64_t off_since;
	/* the neighbour entry it is judged by, -1 for none */
	long nb;
};

struct host_rec {
	int host_id;
	bool has_usage;
	struct agg_host_sums sums;
	int64_t inv_cpus, inv_mem_kib;
	int vms;
};

/* A VM on a host over the contention window. */
struct nb_entry {
	size_t vm; /* index into the VMs */
	int host_id;
	int64_t observed_ms, cpu_ns, disk_bytes, delay_ns, vcpu_ms;
	int rank, host_vms;
	int64_t host_cpu_ns, host_disk_bytes, host_delay_ns, host_vcpu_ms;
};

struct cycle {
	const struct agg_settings *s;
	struct vm_rec *vms;
	size_t n_vms;
	struct host_rec *hosts;
	size_t n_hosts, cap_hosts;
	struct agg_hour *hours;
	size_t n_hours;
	struct nb_entry *nb;
	size_t n_nb;
};

/* A bigint column, AGG_NONE for NULL. */
static int64_t col(PGresult *r, int row, int c)
{
	if (PQgetisnull(r, row, c))
		return AGG_NONE;
	return strtoll(PQgetvalue(r, row, c), NULL, 10);
}

static int cmp_vm(const void *a, const void *b)
{
	int x = *(const int *)a, y = ((const struct vm_rec *)b)->vm_id;
	return (x > y) - (x < y);
}

static struct vm_rec *find_vm(struct cycle *c, int vm_id)
{
	return bsearch(&vm_id, c->vms, c->n_vms, sizeof *c->vms, cmp_vm);
}

static struct host_rec *get_host(struct cycle *c, int host_id)
{
	for (size_t i = 0; i < c->n_hosts; i++)
		if (c->hosts[i].host_id == host_id)
			return &c->hosts[i];
	if (c->n_hosts == c->cap_hosts) {
		c->cap_hosts = c->cap_hosts ? 2 * c->cap_hosts : 16;
		c->hosts = vm_xrealloc(c->hosts, c->cap_hosts * sizeof *c->hosts);
	}
	struct host_rec *h = &c->hosts[c->n_hosts++];
	*h = (struct host_rec){.host_id = host_id, .inv_cpus = AGG_NONE, .inv_mem_kib = AGG_NONE};
	h->sums = (struct agg_host_sums){.capacity_ns = AGG_NONE,
	                                 .busy_ns = AGG_NONE,
	                                 .cpus_int = AGG_NONE,
	                                 .mem_total_int = AGG_NONE,
	                                 .vcpus_running_int = AGG_NONE,
	                                 .vm_mem_int = AGG_NONE,
	                                 .vm_cpu_ns = AGG_NONE,
	                                 .vm_delay_ns = AGG_NONE,
	                                 .vm_vcpu_ms = AGG_NONE};
	return h;
}

static void cycle_release(struct cycle *c)
{
	for (size_t i = 0; i < c->n_vms; i++)
		free(c->vms[i].name);
	free(c->vms);
	free(c->hosts);
	free(c->hours);
	free(c->nb);
}

/* a + b where either may be unknown: unknown only if both are */
static int64_t add_known(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	return b < 0 ? a : a + b;
}

static PGresult *query(struct vm_pg *pg, const char *what, const char *sql, int n, const char *const *p, char *err,
                       size_t errsize)
{
	PGresult *r = vm_pg_exec(pg, sql, n, p);
	if (!r)
		vm_pg_fail(pg, what, err, errsize);
	return r;
}

static int read_inventory(struct vm_pg *pg, struct cycle *c, const char *end, char *err, size_t errsize)
{
	const char *p[1] = {end};
	PGresult *r = query(pg, "reading the inventory",
	                    "SELECT DISTINCT ON (i.vm_id) i.vm_id, i.host_id, i.name, i.vcpus, i.memory_kib "
	                    "FROM vm_inventory i WHERE i.valid_from <= to_timestamp($1) "
	                    "ORDER BY i.vm_id, i.valid_from DESC",
	                    1, p, err, errsize);
	if (!r)
		return -1;
	c->n_vms = (size_t)PQntuples(r);
	c->vms = vm_xcalloc(c->n_vms + 1, sizeof *c->vms);
	for (size_t i = 0; i < c->n_vms; i++) {
		struct vm_rec *v = &c->vms[i];
		v->vm_id = (int)col(r, (int)i, 0);
		v->host_id = (int)col(r, (int)i, 1);
		v->name = vm_xstrdup(PQgetvalue(r, (int)i, 2));
		v->vcpus = (int)col(r, (int)i, 3);
		v->mem_kib = col(r, (int)i, 4);
		v->nb = -1;
	}
	PQclear(r);
	r = query(pg, "reading the hosts' inventory",
	          "SELECT DISTINCT ON (host_id) host_id, cpus, memory_kib FROM host_inventory "
	          "WHERE valid_from <= to_timestamp($1) ORDER BY host_id, valid_from DESC",
	          1, p, err, errsize);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		struct host_rec *h = get_host(c, (int)col(r, i, 0));
		h->inv_cpus = col(r, i, 1);
		h->inv_mem_kib = col(r, i, 2);
	}
	PQclear(r);
	return 0;
}

static int read_current(struct vm_pg *pg, struct cycle *c, const char *from, const char *to, char *err, size_t errsize)
{
	const char *p[2] = {from, to};
	PGresult *r = query(
	    pg, "reading the current window's usage",
	    "SELECT vm_id, host_id, sum(minutes)::bigint, sum(coverage_ms)::bigint, sum(lost_ms)::bigint, "
	    "sum(cpu_ns)::bigint, sum(vcpus_int)::bigint, sum(vcpu_delay_ns)::bigint, sum(mem_max_kib_int)::bigint, "
	    "sum(mem_max_kib_ms)::bigint, sum(balloon_kib_int)::bigint, sum(balloon_kib_ms)::bigint, "
	    "sum(rss_kib_int)::bigint, sum(rss_kib_ms)::bigint, "
	    "sum(available_kib_int) FILTER (WHERE usable_kib_ms = available_kib_ms)::bigint, "
	    "sum(usable_kib_int) FILTER (WHERE usable_kib_ms = available_kib_ms)::bigint, "
	    "sum(available_kib_ms) FILTER (WHERE usable_kib_ms = available_kib_ms)::bigint, "
	    "sum(disk_rd_bytes)::bigint, sum(disk_wr_bytes)::bigint, sum(net_rx_bytes)::bigint, "
	    "sum(net_tx_bytes)::bigint "
	    "FROM vm_usage_between(to_timestamp($1), to_timestamp($2)) "
	    "GROUP BY vm_id, host_id ORDER BY vm_id, sum(coverage_ms) DESC, host_id",
	    2, p, err, errsize);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		struct vm_rec *v = find_vm(c, (int)col(r, i, 0));
		if (!v)
			continue; /* no inventory before the window's end */
		int host_id = (int)col(r, i, 1);
		struct agg_vm_sums x = {
		    .minutes = col(r, i, 2),
		    .observed_ms = col(r, i, 3),
		    .lost_ms = col(r, i, 4),
		    .cpu_ns = col(r, i, 5),
		    .vcpu_ms = col(r, i, 6),
		    .delay_ns = col(r, i, 7),
		    .mem_max_int = col(r, i, 8),
		    .mem_max_ms = col(r, i, 9),
		    .balloon_int = col(r, i, 10),
		    .balloon_ms = col(r, i, 11),
		    .rss_int = col(r, i, 12),
		    .rss_ms = col(r, i, 13),
		    .avail_int = col(r, i, 14),
		    .usable_int = col(r, i, 15),
		    .avail_ms = col(r, i, 16),
		    .disk_rd = col(r, i, 17),
		    .disk_wr = col(r, i, 18),
		    .net_rx = col(r, i, 19),
		    .net_tx = col(r, i, 20),
		};
		/* the host's side: its VMs' demand and contention */
		struct host_rec *h = get_host(c, host_id);
		h->vms++;
		h->sums.vm_cpu_ns = add_known(h->sums.vm_cpu_ns, x.cpu_ns);
		h->sums.vm_delay_ns = add_known(h->sums.vm_delay_ns, x.delay_ns);
		int64_t vcpu_ms = x.vcpu_ms > 0  ? x.vcpu_ms
		                  : v->vcpus > 0 ? (int64_t)v->vcpus * x.observed_ms
		                                 : AGG_NONE;
		h->sums.vm_vcpu_ms = add_known(h->sums.vm_vcpu_ms, vcpu_ms);
		if (!v->has_cur) {
			v->has_cur = true;
			v->cur_host = host_id; /* rows come longest first */
			v->cur = x;
			continue;
		}
		/* a VM that moved: its sums over both hosts */
		struct agg_vm_sums *s = &v->cur;
		s->minutes += x.minutes;
		s->observed_ms += x.observed_ms;
		s->lost_ms += x.lost_ms;
		int64_t *a[] = {&s->cpu_ns,     &s->vcpu_ms,     &s->delay_ns,   &s->mem_max_int,
		                &s->mem_max_ms, &s->balloon_int, &s->balloon_ms, &s->rss_int,
		                &s->rss_ms,     &s->avail_int,   &s->usable_int, &s->avail_ms,
		                &s->disk_rd,    &s->disk_wr,     &s->net_rx,     &s->net_tx};
		const int64_t b[] = {x.cpu_ns,     x.vcpu_ms, x.delay_ns, x.mem_max_int, x.mem_max_ms, x.balloon_int,
		                     x.balloon_ms, x.rss_int, x.rss_ms,   x.avail_int,   x.usable_int, x.avail_ms,
		                     x.disk_rd,    x.disk_wr, x.net_rx,   x.net_tx};
		for (size_t k = 0; k < sizeof b / sizeof b[0]; k++)
			*a[k] = add_known(*a[k], b[k]);
	}
	PQclear(r);

	r = query(pg, "reading the current window's host usage",
	          "SELECT host_id, coverage_ms, cpu_capacity_ns, cpu_busy_ns, cpus_int::bigint, cpus_ms, "
	          "mem_total_kib_int::bigint, mem_total_kib_ms, vcpus_running_int::bigint, vcpus_running_ms, "
	          "vm_mem_kib_int::bigint, vm_mem_kib_ms "
	          "FROM host_usage_between(to_timestamp($1), to_timestamp($2))",
	          2, p, err, errsize);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		struct host_rec *h = get_host(c, (int)col(r, i, 0));
		h->has_usage = true;
		struct agg_host_sums *s = &h->sums;
		s->observed_ms = col(r, i, 1);
		s->capacity_ns = col(r, i, 2);
		s->busy_ns = col(r, i, 3);
		s->cpus_int = col(r, i, 4);
		s->cpus_ms = col(r, i, 5);
		s->mem_total_int = col(r, i, 6);
		s->mem_total_ms = col(r, i, 7);
		s->vcpus_running_int = col(r, i, 8);
		s->vcpus_running_ms = col(r, i, 9);
		s->vm_mem_int = col(r, i, 10);
		s->vm_mem_ms = col(r, i, 11);
	}
	PQclear(r);
	return 0;
}

static int read_hours(struct vm_pg *pg, struct cycle *c, const char *from, const char *to, char *err, size_t errsize)
{
	const char *p[2] = {from, to};
	PGresult *r = query(pg, "reading the hourly usage",
	                    "SELECT vm_id, host_id, extract(epoch FROM hour)::bigint, minutes, coverage_ms, lost_ms, "
	                    "cpu_ns, vcpus_int::bigint, vcpu_delay_ns, disk_bytes, net_bytes, rss_kib_int::bigint, "
	                    "rss_kib_ms, avail_kib_int::bigint, usable_kib_int::bigint, avail_ms "
	                    "FROM agg_vm_hours(to_timestamp($1), to_timestamp($2)) ORDER BY vm_id, hour, host_id",
	                    2, p, err, errsize);
	if (!r)
		return -1;
	int n = PQntuples(r);
	c->hours = vm_xcalloc((size_t)n + 1, sizeof *c->hours);
	struct vm_rec *last = NULL;
	for (int i = 0; i < n; i++) {
		struct vm_rec *v = find_vm(c, (int)col(r, i, 0));
		if (!v)
			continue;
		if (v != last) {
			v->h0 = c->n_hours;
			last = v;
		}
		c->hours[c->n_hours++] = (struct agg_hour){
		    .host_id = (int)col(r, i, 1),
		    .hour = col(r, i, 2),
		    .minutes = col(r, i, 3),
		    .observed_ms = col(r, i, 4),
		    .lost_ms = col(r, i, 5),
		    .cpu_ns = col(r, i, 6),
		    .vcpu_ms = col(r, i, 7),
		    .delay_ns = col(r, i, 8),
		    .disk_bytes = col(r, i, 9),
		    .net_bytes = col(r, i, 10),
		    .rss_int = col(r, i, 11),
		    .rss_ms = col(r, i, 12),
		    .avail_int = col(r, i, 13),
		    .usable_int = col(r, i, 14),
		    .avail_ms = col(r, i, 15),
		};
		v->h1 = c->n_hours;
	}
	PQclear(r);
	return 0;
}

static int read_powered_off(struct vm_pg *pg, struct cycle *c, const char *from, const char *to, char *err,
                            size_t errsize)
{
	const char *p[2] = {from, to};
	/* off through the whole of [from, to), known from an event before
	 * it; since the last stop (or its definition if it never ran) */
	PGresult *r =
	    query(pg, "reading the lifecycle",
	          "SELECT l.vm_id, extract(epoch FROM coalesce("
	          "  (SELECT max(e.at) FROM vm_event e WHERE e.vm_id = l.vm_id AND e.at <= to_timestamp($2) "
	          "     AND e.event IN ('stopped', 'shutdown', 'crashed')),"
	          "  (SELECT min(e.at) FROM vm_event e WHERE e.vm_id = l.vm_id AND e.event = 'defined')))::bigint "
	          "FROM vm_lifecycle_between(to_timestamp($1), to_timestamp($2)) l GROUP BY l.vm_id "
	          "HAVING bool_and(l.state = 'off') AND min(l.span_from) = to_timestamp($1) "
	          "AND max(l.span_to) = to_timestamp($2)",
	          2, p, err, errsize);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		struct vm_rec *v = find_vm(c, (int)col(r, i, 0));
		if (!v)
			continue;
		v->powered_off = true;
		v->off_since = col(r, i, 1);
	}
	PQclear(r);
	return 0;
}

static int cmp_nb(const void *a, const void *b)
{
	const struct nb_entry *x = a, *y = b;
	if (x->host_id != y->host_id)
		return (x->host_id > y->host_id) - (x->host_id < y->host_id);
	if (x->cpu_ns != y->cpu_ns)
		return (x->cpu_ns < y->cpu_ns) - (x->cpu_ns > y->cpu_ns); /* largest first */
	return (x->vm > y->vm) - (x->vm < y->vm);
}

/* The VMs on each host over the contention window, ranked by CPU, with
 * their host's totals; each VM judged by the host it spent longest on. */
static void build_neighbours(struct cycle *c, int64_t from, int64_t to)
{
	c->nb = vm_xcalloc(c->n_hours + 1, sizeof *c->nb);
	for (size_t i = 0; i < c->n_vms; i++) {
		struct vm_rec *v = &c->vms[i];
		size_t first = c->n_nb;
		for (size_t k = v->h0; k < v->h1; k++) {
			const struct agg_hour *h = &c->hours[k];
			if (h->hour < from || h->hour >= to)
				continue;
			size_t e = first;
			while (e < c->n_nb && c->nb[e].host_id != h->host_id)
				e++;
			if (e == c->n_nb)
				c->nb[c->n_nb++] = (struct nb_entry){.vm = i, .host_id = h->host_id};
			struct nb_entry *n = &c->nb[e];
			n->observed_ms += h->observed_ms;
			n->cpu_ns += h->cpu_ns > 0 ? h->cpu_ns : 0;
			n->disk_bytes += h->disk_bytes > 0 ? h->disk_bytes : 0;
			n->delay_ns += h->delay_ns > 0 ? h->delay_ns : 0;
			int64_t vms = h->vcpu_ms > 0 ? h->vcpu_ms
			              : v->vcpus > 0 ? (int64_t)v->vcpus * h->observed_ms
			                             : 0;
			n->vcpu_ms += vms;
		}
	}
	qsort(c->nb, c->n_nb, sizeof *c->nb, cmp_nb);
	for (size_t a = 0; a < c->n_nb;) {
		size_t b = a;
		int64_t cpu = 0, disk = 0, delay = 0, vcpu = 0;
		for (; b < c->n_nb && c->nb[b].host_id == c->nb[a].host_id; b++)
			cpu += c->nb[b].cpu_ns, disk += c->nb[b].disk_bytes, delay += c->nb[b].delay_ns,
			    vcpu += c->nb[b].vcpu_ms;
		for (size_t k = a; k < b; k++) {
			struct nb_entry *n = &c->nb[k];
			n->rank = (int)(k - a + 1);
			n->host_vms = (int)(b - a);
			n->host_cpu_ns = cpu, n->host_disk_bytes = disk, n->host_delay_ns = delay,
			n->host_vcpu_ms = vcpu;
			struct vm_rec *v = &c->vms[n->vm];
			if (v->nb < 0 || c->nb[v->nb].observed_ms < n->observed_ms)
				v->nb = (long)k;
		}
		a = b;
	}
}

static json_t *num(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

/* VMs with current usage first, by their host, then by CPU time, largest
 * first. */
static int cmp_by_host(const void *a, const void *b)
{
	const struct vm_rec *x = *(const struct vm_rec *const *)a, *y = *(const struct vm_rec *const *)b;
	if (x->has_cur != y->has_cur)
		return x->has_cur ? -1 : 1;
	if (x->cur_host != y->cur_host)
		return (x->cur_host > y->cur_host) - (x->cur_host < y->cur_host);
	if (x->cur.cpu_ns != y->cur.cpu_ns)
		return (x->cur.cpu_ns < y->cur.cpu_ns) - (x->cur.cpu_ns > y->cur.cpu_ns);
	return (x->vm_id > y->vm_id) - (x->vm_id < y->vm_id);
}

/* The figures of every VM and host of the current window, as JSON arrays
 * for jsonb_to_recordset(). */
static void figures_json(struct cycle *c, int64_t window_ms, json_t *vms, json_t *hosts, int *n_vms, int *n_hosts)
{
	const struct vm_rec **by_host = vm_xcalloc(c->n_vms + 1, sizeof *by_host);
	for (size_t i = 0; i < c->n_vms; i++)
		by_host[i] = &c->vms[i];
	qsort(by_host, c->n_vms, sizeof *by_host, cmp_by_host);
	for (size_t i = 0; i < c->n_vms; i++) {
		struct vm_rec *v = &c->vms[i];
		if (!v->has_cur)
			continue;
		struct host_rec *h = get_host(c, v->cur_host);
		struct agg_vm_alloc a = {.vcpus = v->vcpus, .mem_kib = v->mem_kib};
		if (h->sums.cpus_ms > 0 && h->sums.cpus_int > 0)
			a.host_cpus_int = h->sums.cpus_int, a.host_cpus_ms = h->sums.cpus_ms;
		else if (h->inv_cpus > 0)
			a.host_cpus_int = h->inv_cpus, a.host_cpus_ms = 1;
		int64_t mem_total = agg_avg(h->sums.mem_total_int, h->sums.mem_total_ms);
		a.host_mem_kib = mem_total > 0 ? mem_total : h->inv_mem_kib;
		struct agg_vm_figures f;
		agg_vm_figures_compute(&v->cur, &a, window_ms, &f);
		json_t *o = json_object();
		json_object_set_new(o, "vm_id", json_integer(v->vm_id));
		json_object_set_new(o, "host_id", json_integer(v->cur_host));
		json_object_set_new(o, "observed_ms", json_integer(f.observed_ms));
		json_object_set_new(o, "unknown_ms", json_integer(f.unknown_ms));
		json_object_set_new(o, "coverage_bp", json_integer(f.coverage_bp < 0 ? 0 : f.coverage_bp));
		json_object_set_new(o, "vcpus", num(v->vcpus));
		json_object_set_new(o, "cpu_alloc_bp", num(f.cpu_alloc_bp));
		json_object_set_new(o, "cpu_host_bp", num(f.cpu_host_bp));
		json_object_set_new(o, "delay_bp", num(f.delay_bp));
		json_object_set_new(o, "mem_alloc_kib", num(f.mem_alloc_kib));
		json_object_set_new(o, "balloon_kib", num(f.balloon_kib));
		json_object_set_new(o, "rss_kib", num(f.rss_kib));
		json_object_set_new(o, "used_kib", num(f.used_kib));
		json_object_set_new(o, "host_mem_kib", num(f.host_mem_kib));
		json_object_set_new(o, "rss_alloc_bp", num(f.rss_alloc_bp));
		json_object_set_new(o, "used_alloc_bp", num(f.used_alloc_bp));
		json_object_set_new(o, "rss_host_bp", num(f.rss_host_bp));
		json_object_set_new(o, "disk_rd_bps", num(f.disk_rd_bps));
		json_object_set_new(o, "disk_wr_bps", num(f.disk_wr_bps));
		json_object_set_new(o, "net_rx_bps", num(f.net_rx_bps));
		json_object_set_new(o, "net_tx_bps", num(f.net_tx_bps));
		json_array_append_new(vms, o);
		(*n_vms)++;
	}
	for (size_t i = 0; i < c->n_hosts; i++) {
		struct host_rec *h = &c->hosts[i];
		if (!h->has_usage && !h->vms)
			continue;
		struct agg_host_sums s = h->sums;
		if (!(s.cpus_ms > 0) && h->inv_cpus > 0)
			s.cpus_int = h->inv_cpus, s.cpus_ms = 1;
		if (!(s.mem_total_ms > 0) && h->inv_mem_kib > 0)
			s.mem_total_int = h->inv_mem_kib, s.mem_total_ms = 1;
		struct agg_host_figures f;
		agg_host_figures_compute(&s, window_ms, &f);
		/* the VMs that dominate its load: largest CPU time first (the
		 * VMs are ordered by host, then CPU time: see by_host) */
		json_t *top = json_array();
		for (size_t j = 0; j < c->n_vms && (int)json_array_size(top) < c->s->top_vms; j++) {
			const struct vm_rec *v = by_host[j];
			if (!v->has_cur || v->cur_host != h->host_id || v->cur.cpu_ns < 0)
				continue;
			json_t *e = json_pack("{s:i, s:s, s:o}", "vm_id", v->vm_id, "name", v->name, "cpu_share_bp",
			                      num(agg_bp(v->cur.cpu_ns, s.vm_cpu_ns)));
			if (!e) /* a name that is not UTF-8: the VM without it */
				e = json_pack("{s:i, s:o}", "vm_id", v->vm_id, "cpu_share_bp",
				              num(agg_bp(v->cur.cpu_ns, s.vm_cpu_ns)));
			json_array_append_new(top, e);
		}
		json_t *o = json_object();
		json_object_set_new(o, "host_id", json_integer(h->host_id));
		json_object_set_new(o, "observed_ms", json_integer(f.observed_ms));
		json_object_set_new(o, "coverage_bp", json_integer(f.coverage_bp < 0 ? 0 : f.coverage_bp));
		json_object_set_new(o, "cpus", num(f.cpus));
		json_object_set_new(o, "mem_total_kib", num(f.mem_total_kib));
		json_object_set_new(o, "busy_bp", num(f.busy_bp));
		json_object_set_new(o, "demand_bp", num(f.demand_bp));
		json_object_set_new(o, "vcpu_ratio_bp", num(f.vcpu_ratio_bp));
		json_object_set_new(o, "mem_ratio_bp", num(f.mem_ratio_bp));
		json_object_set_new(o, "vms", json_integer(h->vms));
		json_object_set_new(o, "delay_bp", num(f.delay_bp));
		json_object_set_new(o, "top_vms", top);
		json_array_append_new(hosts, o);
		(*n_hosts)++;
	}
	free(by_host);
}

static json_t *class_row(int vm_id, const char *dim, const char *cls, int64_t from, int64_t to, int host_id,
                         json_t *evidence)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:I, s:I, s:o}", "vm_id", vm_id, "dimension", dim, "class", cls,
	                      "window_from", (json_int_t)from, "window_to", (json_int_t)to, "evidence", evidence);
	json_object_set_new(o, "host_id", host_id > 0 ? json_integer(host_id) : json_null());
	return o;
}

/* Every judged VM's classes. */
static json_t *classes_json(struct cycle *c, int64_t end)
{
	const struct agg_settings *s = c->s;
	json_t *rows = json_array();
	for (size_t i = 0; i < c->n_vms; i++) {
		struct vm_rec *v = &c->vms[i];
		if (v->h0 == v->h1 && !v->powered_off)
			continue; /* no usage in the windows and not known to be off: not judged */
		struct agg_vm_input in = {.hours = c->hours + v->h0,
		                          .n = v->h1 - v->h0,
		                          .vcpus = v->vcpus,
		                          .mem_kib = v->mem_kib,
		                          .powered_off = v->powered_off,
		                          .off_since = v->off_since};
		struct agg_size_verdict sv;
		agg_judge_size(&in, s, end, &sv);
		json_array_append_new(rows, class_row(v->vm_id, "size", agg_size_name(sv.cls), sv.w.from, sv.w.to,
		                                      v->host_id, agg_size_evidence(&sv, &in, s)));
		if (v->powered_off)
			continue; /* contention means nothing for a VM that does not run */
		enum agg_verdict cv;
		struct agg_window w;
		agg_judge_contention(&in, s, end, &cv, &w);
		json_array_append_new(rows, class_row(v->vm_id, "contention", agg_contention_name(cv), w.from, w.to,
		                                      v->host_id, agg_contention_evidence(cv, &w, s)));
		struct agg_neighbour_in ni = {0};
		int host = v->host_id;
		if (v->nb >= 0) {
			const struct nb_entry *n = &c->nb[v->nb];
			ni = (struct agg_neighbour_in){.observed_ms = n->observed_ms,
			                               .cpu_ns = n->cpu_ns,
			                               .disk_bytes = n->disk_bytes,
			                               .host_delay_ns = n->host_delay_ns,
			                               .host_vcpu_ms = n->host_vcpu_ms,
			                               .host_cpu_ns = n->host_cpu_ns,
			                               .host_disk_bytes = n->host_disk_bytes,
			                               .host_vms = n->host_vms,
			                               .rank = n->rank};
			host = n->host_id;
		}
		struct agg_neighbour_verdict nv;
		agg_judge_neighbour(&ni, s, s->contention_s, &nv);
		json_t *ev = agg_neighbour_evidence(&nv, &ni, s);
		json_object_set_new(ev, "host_id", json_integer(host));
		json_array_append_new(rows, class_row(v->vm_id, "neighbour", agg_neighbour_name(nv.cls),
		                                      end - s->contention_s, end, host, ev));
	}
	return rows;
}

/* Stores the cycle in one transaction. */
static int store(struct vm_pg *pg, int64_t cycle_at, int64_t from, int64_t to, json_t *vms, json_t *hosts,
                 json_t *classes, struct agg_cycle_stats *st, char *err, size_t errsize)
{
	char *jv = json_dumps(vms, JSON_COMPACT), *jh = json_dumps(hosts, JSON_COMPACT),
	     *jc = json_dumps(classes, JSON_COMPACT);
	char at[24], f[24], t[24], nv[16], nh[16];
	snprintf(at, sizeof at, "%" PRId64, cycle_at);
	snprintf(f, sizeof f, "%" PRId64, from);
	snprintf(t, sizeof t, "%" PRId64, to);
	snprintf(nv, sizeof nv, "%d", st->vms);
	snprintf(nh, sizeof nh, "%d", st->hosts);
	int rc = -1;
	if (vm_pg_begin(pg) < 0) {
		vm_pg_fail(pg, "storing the analysis", err, errsize);
		goto out;
	}
	const char *pv[4] = {jv, f, t, at};
	if (vm_pg_cmd(pg, "DELETE FROM agg_vm_figures", 0, NULL) < 0 ||
	    vm_pg_cmd(pg,
	              "INSERT INTO agg_vm_figures SELECT x.vm_id, x.host_id, to_timestamp($2), to_timestamp($3), "
	              "to_timestamp($4), x.observed_ms, x.unknown_ms, x.coverage_bp, x.vcpus, x.cpu_alloc_bp, "
	              "x.cpu_host_bp, x.delay_bp, x.mem_alloc_kib, x.balloon_kib, x.rss_kib, x.used_kib, "
	              "x.host_mem_kib, x.rss_alloc_bp, x.used_alloc_bp, x.rss_host_bp, x.disk_rd_bps, x.disk_wr_bps, "
	              "x.net_rx_bps, x.net_tx_bps FROM jsonb_to_recordset($1::jsonb) AS x(vm_id int, host_id int, "
	              "observed_ms bigint, unknown_ms bigint, coverage_bp int, vcpus int, cpu_alloc_bp int, "
	              "cpu_host_bp int, delay_bp int, mem_alloc_kib bigint, balloon_kib bigint, rss_kib bigint, "
	              "used_kib bigint, host_mem_kib bigint, rss_alloc_bp int, used_alloc_bp int, rss_host_bp int, "
	              "disk_rd_bps bigint, disk_wr_bps bigint, net_rx_bps bigint, net_tx_bps bigint)",
	              4, pv) < 0) {
		vm_pg_fail(pg, "storing the VMs' figures", err, errsize);
		goto out;
	}
	const char *ph[4] = {jh, f, t, at};
	if (vm_pg_cmd(pg, "DELETE FROM agg_host_figures", 0, NULL) < 0 ||
	    vm_pg_cmd(pg,
	              "INSERT INTO agg_host_figures SELECT x.host_id, to_timestamp($2), to_timestamp($3), "
	              "to_timestamp($4), x.observed_ms, x.coverage_bp, x.cpus, x.mem_total_kib, x.busy_bp, "
	              "x.demand_bp, x.vcpu_ratio_bp, x.mem_ratio_bp, x.vms, x.delay_bp, x.top_vms "
	              "FROM jsonb_to_recordset($1::jsonb) AS x(host_id int, observed_ms bigint, coverage_bp int, "
	              "cpus int, mem_total_kib bigint, busy_bp int, demand_bp int, vcpu_ratio_bp int, "
	              "mem_ratio_bp int, vms int, delay_bp int, top_vms jsonb)",
	              4, ph) < 0) {
		vm_pg_fail(pg, "storing the hosts' figures", err, errsize);
		goto out;
	}
	/* Each class: a change (or a first judgement) gets a history row and
	 * a new `since`; the same class keeps its `since`.  Classes of VMs not
	 * judged any more (undefined, no usage left in the windows) end with
	 * a change to 'none'.  The statements of one WITH see the same
	 * snapshot: `o` is the classes before this cycle. */
	const char *pc[2] = {jc, at};
	PGresult *r = vm_pg_exec(
	    pg,
	    "WITH n AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(vm_id int, dimension text, class text, "
	    "  window_from bigint, window_to bigint, host_id int, evidence jsonb)), "
	    "changed AS (INSERT INTO agg_vm_class_change (vm_id, dimension, at, from_class, to_class, evidence) "
	    "  SELECT n.vm_id, n.dimension, to_timestamp($2), o.class, n.class, n.evidence "
	    "    FROM n LEFT JOIN agg_vm_class o ON o.vm_id = n.vm_id AND o.dimension = n.dimension "
	    "   WHERE o.class IS DISTINCT FROM n.class "
	    "  ON CONFLICT (vm_id, dimension, at) DO UPDATE SET to_class = EXCLUDED.to_class, "
	    "     evidence = EXCLUDED.evidence RETURNING 1), "
	    "ended AS (DELETE FROM agg_vm_class o WHERE NOT EXISTS (SELECT 1 FROM n WHERE n.vm_id = o.vm_id "
	    "  AND n.dimension = o.dimension) RETURNING o.vm_id, o.dimension, o.class), "
	    "ended_log AS (INSERT INTO agg_vm_class_change (vm_id, dimension, at, from_class, to_class, evidence) "
	    "  SELECT vm_id, dimension, to_timestamp($2), class, 'none', '{}' FROM ended "
	    "  ON CONFLICT (vm_id, dimension, at) DO NOTHING RETURNING 1), "
	    "up AS (INSERT INTO agg_vm_class AS c (vm_id, dimension, class, since, judged_at, window_from, window_to, "
	    "  host_id, evidence) SELECT vm_id, dimension, class, to_timestamp($2), to_timestamp($2), "
	    "  to_timestamp(window_from), to_timestamp(window_to), host_id, evidence FROM n "
	    "  ON CONFLICT (vm_id, dimension) DO UPDATE SET class = EXCLUDED.class, "
	    "  since = CASE WHEN c.class = EXCLUDED.class THEN c.since ELSE EXCLUDED.since END, "
	    "  judged_at = EXCLUDED.judged_at, window_from = EXCLUDED.window_from, window_to = EXCLUDED.window_to, "
	    "  host_id = EXCLUDED.host_id, evidence = EXCLUDED.evidence RETURNING 1) "
	    "SELECT (SELECT count(*) FROM changed) + (SELECT count(*) FROM ended_log), (SELECT count(*) FROM up)",
	    2, pc);
	if (!r) {
		vm_pg_fail(pg, "storing the classes", err, errsize);
		goto out;
	}
	st->changes = (int)col(r, 0, 0);
	PQclear(r);
	char nc[16];
	snprintf(nc, sizeof nc, "%d", st->changes);
	const char *pk[5] = {at, t, nv, nh, nc};
	if (vm_pg_cmd(pg,
	              "INSERT INTO agg_cycle (cycle_at, window_end, vms, hosts, changes) VALUES (to_timestamp($1), "
	              "to_timestamp($2), $3::int, $4::int, $5::int) ON CONFLICT (cycle_at) DO UPDATE SET "
	              "window_end = EXCLUDED.window_end, finished_at = now(), vms = EXCLUDED.vms, "
	              "hosts = EXCLUDED.hosts, changes = EXCLUDED.changes",
	              5, pk) < 0) {
		vm_pg_fail(pg, "recording the cycle", err, errsize);
		goto out;
	}
	if (vm_pg_commit(pg) < 0) {
		vm_pg_fail(pg, "committing the analysis", err, errsize);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		vm_pg_rollback(pg);
	free(jv);
	free(jh);
	free(jc);
	return rc;
}

int agg_analysis_run(struct vm_pg *pg, const struct agg_settings *s, int64_t cycle_at, struct agg_cycle_stats *st,
                     char *err, size_t errsize)
{
	*st = (struct agg_cycle_stats){0};
	int64_t end = (cycle_at - s->lag_s) / 60 * 60;
	int64_t hend = end / 3600 * 3600;
	int64_t longest = s->idle_s;
	if (s->sizing_s > longest)
		longest = s->sizing_s;
	if (s->contention_s > longest)
		longest = s->contention_s;
	st->window_end = end, st->class_end = hend;
	char e[24], cf[24], hf[24], he[24], pf[24];
	snprintf(e, sizeof e, "%" PRId64, end);
	snprintf(cf, sizeof cf, "%" PRId64, end - s->current_s);
	snprintf(hf, sizeof hf, "%" PRId64, hend - longest);
	snprintf(he, sizeof he, "%" PRId64, hend);
	snprintf(pf, sizeof pf, "%" PRId64, hend - s->poweroff_s);

	struct cycle c = {.s = s};
	json_t *vms = json_array(), *hosts = json_array(), *classes = NULL;
	int rc = -1;
	if (read_inventory(pg, &c, e, err, errsize) < 0 || read_current(pg, &c, cf, e, err, errsize) < 0 ||
	    read_hours(pg, &c, hf, he, err, errsize) < 0 || read_powered_off(pg, &c, pf, he, err, errsize) < 0)
		goto out;
	build_neighbours(&c, hend - s->contention_s, hend);
	figures_json(&c, s->current_s * 1000, vms, hosts, &st->vms, &st->hosts);
	classes = classes_json(&c, hend);
	rc = store(pg, cycle_at, end - s->current_s, end, vms, hosts, classes, st, err, errsize);
out:
	json_decref(vms);
	json_decref(hosts);
	json_decref(classes);
	cycle_release(&c);
	return rc;
}
