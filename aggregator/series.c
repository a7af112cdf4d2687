/* aggregator/series: minute series in rings, windowed functions (series.h).
 *
 * Per kind, one ring of `w` slots per subject in flat arrays: slot
 * minute % w holds that minute if its stamp says so.  Values are floats:
 * judgements of utilisation, 7 digits are plenty, and 10 000 VMs x an
 * hour of 15 figures fit in 40 MB. */
#include "config.h"

#include "series.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define MAX_KEEP_MIN 1441 /* a day's window and the minute it ends in */

/* The floats of a slot, per kind: the metrics and what finish() sums. */
enum { VF_CPU = AGG_M_VM_NET_TX + 1, VF_VT, VF_DELAY, VF_NET, VF_N };
enum { HF_CPUS = AGG_M_HOST_VMS - AGG_M_HOST_BUSY + 1, HF_CAP, HF_N };
#define TF_N (AGG_M_COUNT - AGG_M_TENANT_CORES)
static const int nfloats[AGG_KINDS] = {VF_N, HF_N, TF_N};
static const int first_metric[AGG_KINDS] = {AGG_M_VM_CPU_ALLOC, AGG_M_HOST_BUSY, AGG_M_TENANT_CORES};

struct subject {
	struct agg_subject pub;
	char *key, *name, *host, *host_uri, *tenant;
	char **tags;
};

struct ring {
	struct subject *subj;
	size_t n, cap;
	int32_t *minute; /* [subject * w + slot]: minutes since the epoch, -1 empty */
	uint16_t *cov;
	int32_t *host; /* VMs: the host of the minute */
	float *v;      /* [(subject * w + slot) * nfloats + f] */
	int *hash;     /* open addressing: subject index + 1, 0 empty */
	size_t hcap;
};

struct agg_series {
	int w;
	int min_cov_bp;
	uint64_t gen;
	struct ring r[AGG_KINDS];
};

static const char *const metric_names[AGG_M_COUNT] = {
    "vm.cpu.alloc_pct",    "vm.cpu.host_pct",
    "vm.vcpu.delay_pct",   "vm.vcpus",
    "vm.mem.rss_pct",      "vm.mem.used_pct",
    "vm.mem.rss_kib",      "vm.disk.read_bps",
    "vm.disk.write_bps",   "vm.net.rx_bps",
    "vm.net.tx_bps",       "host.cpu.busy_pct",
    "host.cpu.demand_pct", "host.vcpu.delay_pct",
    "host.mem.used_pct",   "host.vcpu_ratio",
    "host.mem_ratio",      "host.vms",
    "tenant.cpu.cores",    "tenant.vcpus",
    "tenant.vms",          "tenant.net.bps",
};

const struct agg_metric_table *agg_metric_table(void)
{
	static const struct agg_metric_table t = {metric_names, AGG_M_COUNT};
	return &t;
}

enum agg_kind agg_metric_kind(int metric)
{
	return metric >= AGG_M_TENANT_CORES ? AGG_KIND_TENANT : metric >= AGG_M_HOST_BUSY ? AGG_KIND_HOST : AGG_KIND_VM;
}

const char *agg_kind_name(enum agg_kind k)
{
	static const char *const names[] = {"vm", "host", "tenant"};
	return (unsigned)k < AGG_KINDS ? names[k] : NULL;
}

int agg_kind_parse(const char *name, enum agg_kind *k)
{
	for (int i = 0; i < AGG_KINDS; i++)
		if (strcmp(name, agg_kind_name((enum agg_kind)i)) == 0) {
			*k = (enum agg_kind)i;
			return 0;
		}
	return -1;
}

struct agg_series *agg_series_new(int64_t keep_ns, int min_coverage_bp)
{
	struct agg_series *s = vm_xcalloc(1, sizeof *s);
	int64_t min = (keep_ns + 59999999999) / 60000000000;
	s->w = (int)(min < 1 ? 1 : min > MAX_KEEP_MIN ? MAX_KEEP_MIN : min) + 1;
	s->min_cov_bp = min_coverage_bp;
	return s;
}

static void free_subject(struct subject *x)
{
	free(x->key);
	free(x->name);
	free(x->host);
	free(x->host_uri);
	free(x->tenant);
	for (size_t i = 0; i < x->pub.n_tags; i++)
		free(x->tags[i]);
	free(x->tags);
}

void agg_series_free(struct agg_series *s)
{
	if (!s)
		return;
	for (int k = 0; k < AGG_KINDS; k++) {
		struct ring *r = &s->r[k];
		for (size_t i = 0; i < r->n; i++)
			free_subject(&r->subj[i]);
		free(r->subj);
		free(r->minute);
		free(r->cov);
		free(r->host);
		free(r->v);
		free(r->hash);
	}
	free(s);
}

static uint64_t hash_str(const char *p)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

static int lookup(const struct ring *r, const char *key)
{
	if (!r->hcap)
		return -1;
	for (size_t i = hash_str(key) & (r->hcap - 1);; i = (i + 1) & (r->hcap - 1)) {
		if (!r->hash[i])
			return -1;
		if (strcmp(r->subj[r->hash[i] - 1].key, key) == 0)
			return r->hash[i] - 1;
	}
}

static void rehash(struct ring *r)
{
	free(r->hash);
	r->hcap = r->hcap ? r->hcap * 2 : 64;
	r->hash = vm_xcalloc(r->hcap, sizeof *r->hash);
	for (size_t j = 0; j < r->n; j++) {
		size_t i = hash_str(r->subj[j].key) & (r->hcap - 1);
		while (r->hash[i])
			i = (i + 1) & (r->hcap - 1);
		r->hash[i] = (int)j + 1;
	}
}

int agg_series_find(const struct agg_series *s, enum agg_kind k, const char *key)
{
	return lookup(&s->r[k], key);
}

int agg_series_subject(struct agg_series *s, enum agg_kind k, const char *key)
{
	struct ring *r = &s->r[k];
	int i = lookup(r, key);
	if (i >= 0)
		return i;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16, w = (size_t)s->w;
		r->subj = vm_xrealloc(r->subj, cap * sizeof *r->subj);
		r->minute = vm_xrealloc(r->minute, cap * w * sizeof *r->minute);
		r->cov = vm_xrealloc(r->cov, cap * w * sizeof *r->cov);
		r->host = vm_xrealloc(r->host, cap * w * sizeof *r->host);
		r->v = vm_xrealloc(r->v, cap * w * (size_t)nfloats[k] * sizeof *r->v);
		r->cap = cap;
	}
	size_t n = r->n++, w = (size_t)s->w;
	struct subject *x = &r->subj[n];
	memset(x, 0, sizeof *x);
	x->key = vm_xstrdup(key);
	x->pub.key = x->key;
	x->pub.name = x->key;
	x->pub.host_idx = -1;
	x->pub.present = true;
	for (size_t j = 0; j < w; j++)
		r->minute[n * w + j] = -1;
	if ((r->n + 1) * 10 > r->hcap * 7)
		rehash(r);
	else {
		size_t h = hash_str(key) & (r->hcap - 1);
		while (r->hash[h])
			h = (h + 1) & (r->hcap - 1);
		r->hash[h] = (int)n + 1;
	}
	return (int)n;
}

size_t agg_series_count(const struct agg_series *s, enum agg_kind k)
{
	return s->r[k].n;
}

const struct agg_subject *agg_series_info(const struct agg_series *s, enum agg_kind k, int idx)
{
	return idx >= 0 && (size_t)idx < s->r[k].n ? &s->r[k].subj[idx].pub : NULL;
}

static void set_str(char **field, const char **pub, const char *v)
{
	if (*field && v && strcmp(*field, v) == 0)
		return;
	free(*field);
	*field = v ? vm_xstrdup(v) : NULL;
	*pub = *field;
}

void agg_series_set_vm(struct agg_series *s, int vm, const char *name, const char *host, const char *tenant,
                       const char *const *tags, size_t n_tags)
{
	int h = host && *host ? agg_series_subject(s, AGG_KIND_HOST, host) : -1;
	if (tenant && *tenant) {
		int t = agg_series_subject(s, AGG_KIND_TENANT, tenant); /* may move subj */
		s->r[AGG_KIND_TENANT].subj[t].pub.present = true;
	}
	if (h >= 0)
		s->r[AGG_KIND_HOST].subj[h].pub.present = true;
	struct subject *x = &s->r[AGG_KIND_VM].subj[vm];
	if (name)
		set_str(&x->name, &x->pub.name, name);
	set_str(&x->host, &x->pub.host, h >= 0 ? host : NULL);
	set_str(&x->tenant, &x->pub.tenant, tenant && *tenant ? tenant : NULL);
	x->pub.host_idx = h;
	x->pub.present = true;
	for (size_t i = 0; i < x->pub.n_tags; i++)
		free(x->tags[i]);
	free(x->tags);
	x->tags = n_tags ? vm_xcalloc(n_tags, sizeof *x->tags) : NULL;
	for (size_t i = 0; i < n_tags; i++)
		x->tags[i] = vm_xstrdup(tags[i]);
	x->pub.tags = (const char *const *)x->tags;
	x->pub.n_tags = n_tags;
}

void agg_series_set_host_uri(struct agg_series *s, int host, const char *uri)
{
	struct subject *x = &s->r[AGG_KIND_HOST].subj[host];
	set_str(&x->host_uri, &x->pub.host_uri, uri && *uri ? uri : NULL);
}

void agg_series_clear_present(struct agg_series *s)
{
	for (int k = 0; k < AGG_KINDS; k++)
		for (size_t i = 0; i < s->r[k].n; i++)
			s->r[k].subj[i].pub.present = false;
}

/* The slot of `minute` (minutes since the epoch) for subject i: its
 * index in the flat arrays. */
static size_t slot(const struct agg_series *s, int i, int64_t minute)
{
	return (size_t)i * (size_t)s->w + (size_t)(minute % s->w);
}

static float ratio(double a, double b, double scale)
{
	if (isnan(a) || isnan(b) || b <= 0)
		return NAN;
	return (float)(a / b * scale);
}

static size_t claim(struct agg_series *s, enum agg_kind k, int i, int64_t minute_ns, int cov)
{
	struct ring *r = &s->r[k];
	int64_t minute = minute_ns / 60000000000;
	size_t at = slot(s, i, minute);
	r->minute[at] = (int32_t)minute;
	r->cov[at] = (uint16_t)(cov < 0 ? 0 : cov > 60000 ? 60000 : cov);
	float *v = &r->v[at * (size_t)nfloats[k]];
	for (int f = 0; f < nfloats[k]; f++)
		v[f] = NAN;
	struct subject *x = &r->subj[i];
	if (minute_ns > x->pub.newest_ns)
		x->pub.newest_ns = minute_ns;
	return at;
}

void agg_series_put_vm(struct agg_series *s, int vm, int host, const struct agg_vm_minute *m)
{
	if (m->minute_ns < 0)
		return;
	size_t at = claim(s, AGG_KIND_VM, vm, m->minute_ns, m->coverage_ms);
	s->r[AGG_KIND_VM].host[at] = host;
	float *v = &s->r[AGG_KIND_VM].v[at * VF_N];
	double cov_ns = (double)m->coverage_ms * 1e6, vt = m->vcpus * cov_ns, cov_s = m->coverage_ms / 1000.0;
	v[AGG_M_VM_CPU_ALLOC] = ratio(m->cpu_ns, vt, 100);
	v[AGG_M_VM_DELAY] = ratio(m->delay_ns, vt, 100);
	v[AGG_M_VM_VCPUS] = m->coverage_ms > 0 ? (float)m->vcpus : NAN;
	v[AGG_M_VM_RSS_PCT] = ratio(m->rss_kib, m->mem_max_kib, 100);
	v[AGG_M_VM_USED_PCT] = ratio(m->avail_kib - m->usable_kib, m->mem_max_kib, 100);
	v[AGG_M_VM_RSS_KIB] = m->coverage_ms > 0 ? (float)m->rss_kib : NAN;
	v[AGG_M_VM_DISK_RD] = ratio(m->disk_rd, cov_s, 1);
	v[AGG_M_VM_DISK_WR] = ratio(m->disk_wr, cov_s, 1);
	v[AGG_M_VM_NET_RX] = ratio(m->net_rx, cov_s, 1);
	v[AGG_M_VM_NET_TX] = ratio(m->net_tx, cov_s, 1);
	v[VF_CPU] = (float)m->cpu_ns;
	v[VF_VT] = (float)vt;
	v[VF_DELAY] = (float)m->delay_ns;
	v[VF_NET] = (float)((isnan(m->net_rx) ? 0 : m->net_rx) + (isnan(m->net_tx) ? 0 : m->net_tx));
}

void agg_series_put_host(struct agg_series *s, int host, const struct agg_host_minute *m)
{
	if (m->minute_ns < 0)
		return;
	size_t at = claim(s, AGG_KIND_HOST, host, m->minute_ns, m->coverage_ms);
	float *v = &s->r[AGG_KIND_HOST].v[at * HF_N];
#define H(metric) v[(metric)-AGG_M_HOST_BUSY]
	H(AGG_M_HOST_BUSY) = ratio(m->busy_ns, m->capacity_ns, 100);
	H(AGG_M_HOST_MEM_USED) = ratio(m->mem_total_kib - m->mem_free_kib, m->mem_total_kib, 100);
	H(AGG_M_HOST_VCPU_RATIO) = ratio(m->vcpus_running, m->cpus, 1);
	H(AGG_M_HOST_MEM_RATIO) = ratio(m->vm_mem_kib, m->mem_total_kib, 1);
	H(AGG_M_HOST_VMS) = m->coverage_ms > 0 ? (float)m->vms_running : NAN;
#undef H
	v[HF_CPUS] = (float)m->cpus;
	v[HF_CAP] = (float)m->capacity_ns;
}

void agg_series_forget(struct agg_series *s, int64_t from_ns, int64_t to_ns)
{
	int64_t a = from_ns / 60000000000, b = to_ns / 60000000000;
	for (int k = 0; k < AGG_KINDS; k++) {
		struct ring *r = &s->r[k];
		for (size_t i = 0; i < r->n; i++)
			for (int64_t m = a; m < b && m - a < s->w; m++) {
				size_t at = slot(s, (int)i, m);
				if (r->minute[at] == m)
					r->minute[at] = -1;
			}
	}
	s->gen++;
}

void agg_series_finish(struct agg_series *s, int64_t from_ns, int64_t to_ns)
{
	struct ring *vr = &s->r[AGG_KIND_VM], *hr = &s->r[AGG_KIND_HOST], *tr = &s->r[AGG_KIND_TENANT];
	int64_t a = from_ns / 60000000000, b = to_ns / 60000000000;
	if (b - a > s->w)
		a = b - s->w;
	double *hsum = vm_xcalloc(hr->n * 3 + 1, sizeof *hsum);
	double *tsum = vm_xcalloc(tr->n * 5 + 1, sizeof *tsum);
	for (int64_t m = a; m < b; m++) {
		memset(hsum, 0, (hr->n * 3 + 1) * sizeof *hsum);
		memset(tsum, 0, (tr->n * 5 + 1) * sizeof *tsum);
		for (size_t i = 0; i < vr->n; i++) {
			size_t at = slot(s, (int)i, m);
			if (vr->minute[at] != m)
				continue;
			float *v = &vr->v[at * VF_N];
			int h = vr->host[at];
			v[AGG_M_VM_CPU_HOST] = NAN;
			if (h >= 0 && (size_t)h < hr->n) {
				size_t hat = slot(s, h, m);
				if (!isnan(v[VF_CPU]) && !isnan(v[VF_VT]) && !isnan(v[VF_DELAY])) {
					hsum[h * 3] += v[VF_CPU];
					hsum[h * 3 + 1] += v[VF_VT];
					hsum[h * 3 + 2] += v[VF_DELAY];
				}
				if (hr->minute[hat] == m)
					v[AGG_M_VM_CPU_HOST] = ratio(
					    v[VF_CPU], (double)hr->v[hat * HF_N + HF_CPUS] * vr->cov[at] * 1e6, 100);
			}
			int t = vr->subj[i].pub.tenant ? lookup(tr, vr->subj[i].pub.tenant) : -1;
			if (t >= 0 && vr->cov[at] > 0) {
				double *x = &tsum[t * 5];
				x[0] += isnan(v[VF_CPU]) ? 0 : v[VF_CPU] / (vr->cov[at] * 1e6);
				x[1] += isnan(v[AGG_M_VM_VCPUS]) ? 0 : v[AGG_M_VM_VCPUS];
				x[2] += 1;
				x[3] += v[VF_NET] / (vr->cov[at] / 1000.0);
				x[4] = 1;
			}
		}
		for (size_t h = 0; h < hr->n; h++) {
			size_t at = slot(s, (int)h, m);
			if (hr->minute[at] != m)
				continue;
			float *v = &hr->v[at * HF_N];
			v[AGG_M_HOST_DEMAND - AGG_M_HOST_BUSY] = ratio(hsum[h * 3], v[HF_CAP], 100);
			v[AGG_M_HOST_DELAY - AGG_M_HOST_BUSY] = ratio(hsum[h * 3 + 2], hsum[h * 3 + 1], 100);
		}
		for (size_t t = 0; t < tr->n; t++) {
			size_t at = slot(s, (int)t, m);
			double *x = &tsum[t * 5];
			if (!x[4]) {
				if (tr->minute[at] == m)
					tr->minute[at] = -1;
				continue;
			}
			at = claim(s, AGG_KIND_TENANT, (int)t, m * 60000000000, 60000);
			float *v = &tr->v[at * TF_N];
			v[0] = (float)x[0];
			v[1] = (float)x[1];
			v[2] = (float)x[2];
			v[3] = (float)x[3];
		}
	}
	free(hsum);
	free(tsum);
	s->gen++;
}

uint64_t agg_series_generation(const struct agg_series *s)
{
	return s->gen;
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

int agg_series_query(const struct agg_series *s, enum agg_kind k, int idx, const struct agg_query *q, int64_t end_ns,
                     double *value)
{
	enum agg_kind mk = agg_metric_kind(q->metric);
	if ((size_t)idx >= s->r[k].n || idx < 0)
		return -1;
	if (mk != k) { /* a VM rule reading its host's metric */
		if (k != AGG_KIND_VM || mk != AGG_KIND_HOST)
			return -1;
		idx = s->r[k].subj[idx].pub.host_idx;
		if (idx < 0)
			return -1;
		k = mk;
	}
	const struct ring *r = &s->r[k];
	int f = q->metric - first_metric[k], nf = nfloats[k];
	int64_t end = end_ns / 60000000000, len = q->window_ns / 60000000000;
	if (len < 1)
		len = 1;
	if (len >= s->w)
		return -1; /* the rules' loader keeps it from happening */
	float vals[MAX_KEEP_MIN + 1];
	int n = 0;
	int64_t observed = 0;
	double sum = 0, wsum = 0;
	float lo = INFINITY, hi = -INFINITY, last = NAN;
	for (int64_t m = end - len; m < end; m++) {
		size_t at = slot(s, idx, m);
		if (r->minute[at] != m)
			continue;
		float v = r->v[at * (size_t)nf + (size_t)f];
		if (isnan(v))
			continue;
		int cov = r->cov[at];
		observed += cov;
		sum += (double)v * cov;
		wsum += cov;
		vals[n++] = v;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
		last = v;
	}
	if (observed * 10000 < (int64_t)s->min_cov_bp * len * 60000 || n == 0)
		return -1;
	switch (q->fn) {
	case AGG_FN_LAST: *value = last; break;
	case AGG_FN_AVG: *value = wsum > 0 ? sum / wsum : NAN; break;
	case AGG_FN_MIN: *value = lo; break;
	case AGG_FN_MAX: *value = hi; break;
	case AGG_FN_SUM: {
		double t = 0;
		for (int i = 0; i < n; i++)
			t += vals[i];
		*value = t;
		break;
	}
	case AGG_FN_COUNT: *value = n; break;
	case AGG_FN_PCT: {
		/* nearest rank, as the analysis's sizing percentile */
		qsort(vals, (size_t)n, sizeof *vals, cmp_float);
		int rank = (q->pct * n + 99) / 100;
		*value = vals[rank < 1 ? 0 : rank - 1];
		break;
	}
	}
	return isnan(*value) ? -1 : 0;
}

size_t agg_series_bytes(const struct agg_series *s)
{
	size_t b = sizeof *s;
	for (int k = 0; k < AGG_KINDS; k++) {
		const struct ring *r = &s->r[k];
		b += r->cap * (sizeof *r->subj + (size_t)s->w * (sizeof *r->minute + sizeof *r->cov + sizeof *r->host +
		                                                 (size_t)nfloats[k] * sizeof *r->v));
		b += r->hcap * sizeof *r->hash;
	}
	return b;
}
