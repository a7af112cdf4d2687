/* Classifications (classify.h). */
#include "config.h"

#include "classify.h"

#include <stdlib.h>

#include "figures.h"
#include "xalloc.h"

#define MEM_STEP_KIB (256 * 1024)

const char *agg_size_name(enum agg_size c)
{
	switch (c) {
	case AGG_SIZE_UNKNOWN: return "unknown";
	case AGG_SIZE_POWERED_OFF: return "powered-off";
	case AGG_SIZE_IDLE: return "idle";
	case AGG_SIZE_UNDERSIZED: return "undersized";
	case AGG_SIZE_OVERSIZED: return "oversized";
	case AGG_SIZE_RIGHT: return "right-sized";
	}
	return NULL;
}

const char *agg_contention_name(enum agg_verdict c)
{
	return c == AGG_V_FLAGGED ? "starved" : c == AGG_V_OK ? "ok" : "unknown";
}

const char *agg_neighbour_name(enum agg_verdict c)
{
	return c == AGG_V_FLAGGED ? "noisy" : c == AGG_V_OK ? "ok" : "unknown";
}

/* a + b where either may be unknown: unknown only if both are */
static int64_t add_known(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	return b < 0 ? a : a + b;
}

/* The vCPU time of an hour's allocation: measured, or the inventory's
 * vCPUs over the observed time. */
static int64_t hour_vcpu_ms(const struct agg_hour *h, int vcpus)
{
	if (h->vcpu_ms > 0)
		return h->vcpu_ms;
	return vcpus > 0 ? (int64_t)vcpus * h->observed_ms : AGG_NONE;
}

void agg_window_sum(const struct agg_vm_input *in, int64_t from, int64_t to, struct agg_window *w)
{
	*w = (struct agg_window){.from = from, .to = to, .cpu_ns = AGG_NONE, .vcpu_ms = AGG_NONE, .delay_ns = AGG_NONE};
	for (size_t i = 0; i < in->n; i++) {
		const struct agg_hour *h = &in->hours[i];
		if (h->hour < from || h->hour >= to)
			continue;
		w->observed_ms += h->observed_ms;
		int64_t rest = h->minutes * 60000 - h->observed_ms;
		w->unknown_ms += (rest > 0 ? rest : 0) + (h->lost_ms > 0 ? h->lost_ms : 0);
		w->cpu_ns = add_known(w->cpu_ns, h->cpu_ns);
		w->vcpu_ms = add_known(w->vcpu_ms, hour_vcpu_ms(h, in->vcpus));
		w->delay_ns = add_known(w->delay_ns, h->delay_ns);
		w->disk_bytes += h->disk_bytes > 0 ? h->disk_bytes : 0;
		w->net_bytes += h->net_bytes > 0 ? h->net_bytes : 0;
	}
	w->coverage_bp = agg_bp(w->observed_ms, (to - from) * 1000);
	if (w->coverage_bp > 10000)
		w->coverage_bp = 10000;
	/* cpu_ns * 10000 / (vcpu_ms * 1e6), exact */
	w->cpu_bp = w->cpu_ns >= 0 && w->vcpu_ms > 0 ? agg_ratio_bp(w->cpu_ns, 1000000, w->vcpu_ms, 1) : AGG_NONE;
	w->delay_bp = w->delay_ns >= 0 && w->vcpu_ms > 0 ? agg_ratio_bp(w->delay_ns, 1000000, w->vcpu_ms, 1) : AGG_NONE;
	w->disk_bps = agg_rate(w->disk_bytes, w->observed_ms);
	w->net_bps = agg_rate(w->net_bytes, w->observed_ms);
}

int64_t agg_recommend_vcpus(int64_t p_cpu_bp, int vcpus, int target_bp)
{
	if (p_cpu_bp < 0 || vcpus <= 0 || target_bp <= 0)
		return AGG_NONE;
	int64_t num = p_cpu_bp * vcpus;
	int64_t n = (num + target_bp - 1) / target_bp;
	return n < 1 ? 1 : n;
}

int64_t agg_recommend_mem_kib(int64_t p_used_kib, int target_bp)
{
	if (p_used_kib < 0 || target_bp <= 0)
		return AGG_NONE;
	__int128 need = ((__int128)p_used_kib * 10000 + target_bp - 1) / target_bp;
	int64_t steps = (int64_t)((need + MEM_STEP_KIB - 1) / MEM_STEP_KIB);
	return (steps < 1 ? 1 : steps) * MEM_STEP_KIB;
}

/* The percentiles of the hourly CPU share and of the hourly memory used
 * over [from, to): an hour's rows on several hosts count as one hour. */
static void hourly_percentiles(const struct agg_vm_input *in, int64_t from, int64_t to, int p, int64_t *p_cpu_bp,
                               int64_t *p_used_kib)
{
	int64_t *cpu = vm_xcalloc(in->n + 1, sizeof *cpu), *mem = vm_xcalloc(in->n + 1, sizeof *mem);
	size_t nc = 0, nm = 0;
	for (size_t i = 0; i < in->n;) {
		int64_t hour = in->hours[i].hour;
		int64_t cpu_ns = AGG_NONE, vcpu_ms = AGG_NONE, ai = AGG_NONE, ui = AGG_NONE, am = 0, ri = AGG_NONE,
		        rm = 0;
		for (; i < in->n && in->hours[i].hour == hour; i++) {
			const struct agg_hour *h = &in->hours[i];
			cpu_ns = add_known(cpu_ns, h->cpu_ns);
			vcpu_ms = add_known(vcpu_ms, hour_vcpu_ms(h, in->vcpus));
			if (h->avail_ms > 0 && h->avail_int >= 0 && h->usable_int >= 0) {
				ai = add_known(ai, h->avail_int), ui = add_known(ui, h->usable_int);
				am += h->avail_ms;
			}
			if (h->rss_ms > 0 && h->rss_int >= 0) {
				ri = add_known(ri, h->rss_int);
				rm += h->rss_ms;
			}
		}
		if (hour < from || hour >= to)
			continue;
		if (cpu_ns >= 0 && vcpu_ms > 0)
			cpu[nc++] = agg_ratio_bp(cpu_ns, 1000000, vcpu_ms, 1);
		/* the guest's own view first; the host's RSS where the guest
		 * reports nothing (no balloon driver) */
		if (am > 0 && ai >= ui)
			mem[nm++] = (ai - ui) / am;
		else if (rm > 0)
			mem[nm++] = ri / rm;
	}
	*p_cpu_bp = agg_percentile(cpu, nc, p);
	*p_used_kib = agg_percentile(mem, nm, p);
	free(cpu);
	free(mem);
}

void agg_judge_size(const struct agg_vm_input *in, const struct agg_settings *s, int64_t end,
                    struct agg_size_verdict *v)
{
	*v = (struct agg_size_verdict){.p_cpu_bp = AGG_NONE,
	                               .p_used_kib = AGG_NONE,
	                               .p_mem_bp = AGG_NONE,
	                               .rec_vcpus = AGG_NONE,
	                               .rec_mem_kib = AGG_NONE};
	if (in->powered_off) {
		agg_window_sum(in, end - s->poweroff_s, end, &v->w);
		v->cls = AGG_SIZE_POWERED_OFF;
		v->reason = "defined and not running through the whole window";
		return;
	}
	struct agg_window idle;
	agg_window_sum(in, end - s->idle_s, end, &idle);
	if (idle.coverage_bp >= s->min_coverage_bp && idle.cpu_bp >= 0 && idle.cpu_bp < s->idle_cpu_bp &&
	    idle.disk_bps < s->idle_disk_bps && idle.net_bps < s->idle_net_bps) {
		v->w = idle;
		v->cls = AGG_SIZE_IDLE;
		v->reason = "CPU, disk and network below the idle thresholds";
		return;
	}
	agg_window_sum(in, end - s->sizing_s, end, &v->w);
	hourly_percentiles(in, end - s->sizing_s, end, s->percentile, &v->p_cpu_bp, &v->p_used_kib);
	if (v->w.coverage_bp < s->min_coverage_bp || v->p_cpu_bp < 0) {
		v->cls = AGG_SIZE_UNKNOWN;
		v->reason = "too little of the window observed";
		return;
	}
	v->p_mem_bp = agg_bp(v->p_used_kib, in->mem_kib);
	v->rec_vcpus = agg_recommend_vcpus(v->p_cpu_bp, in->vcpus, s->target_bp);
	v->rec_mem_kib = agg_recommend_mem_kib(v->p_used_kib, s->target_bp);
	bool cpu_hi = v->p_cpu_bp > s->undersized_bp, mem_hi = v->p_mem_bp > s->undersized_bp;
	bool cpu_lo = v->p_cpu_bp < s->oversized_bp, mem_lo = v->p_mem_bp >= 0 && v->p_mem_bp < s->oversized_bp;
	if (cpu_hi || mem_hi) {
		v->cls = AGG_SIZE_UNDERSIZED;
		v->reason = cpu_hi && mem_hi ? "CPU and memory above the undersized threshold"
		            : cpu_hi         ? "CPU above the undersized threshold"
		                             : "memory above the undersized threshold";
	} else if (cpu_lo || mem_lo) {
		v->cls = AGG_SIZE_OVERSIZED;
		v->reason = cpu_lo && mem_lo ? "CPU and memory below the oversized threshold"
		            : cpu_lo         ? "CPU below the oversized threshold"
		                             : "memory below the oversized threshold";
	} else {
		v->cls = AGG_SIZE_RIGHT;
		v->reason = "between the oversized and undersized thresholds";
	}
}

void agg_judge_contention(const struct agg_vm_input *in, const struct agg_settings *s, int64_t end, enum agg_verdict *c,
                          struct agg_window *w)
{
	agg_window_sum(in, end - s->contention_s, end, w);
	if (w->coverage_bp < s->min_coverage_bp || w->delay_bp < 0)
		*c = AGG_V_UNKNOWN;
	else
		*c = w->delay_bp > s->starved_bp ? AGG_V_FLAGGED : AGG_V_OK;
}

void agg_judge_neighbour(const struct agg_neighbour_in *in, const struct agg_settings *s, int64_t window_s,
                         struct agg_neighbour_verdict *v)
{
	v->coverage_bp = agg_bp(in->observed_ms, window_s * 1000);
	if (v->coverage_bp > 10000)
		v->coverage_bp = 10000;
	v->host_delay_bp = in->host_vcpu_ms > 0 && in->host_delay_ns >= 0
	                       ? agg_ratio_bp(in->host_delay_ns, 1000000, in->host_vcpu_ms, 1)
	                       : AGG_NONE;
	v->cpu_share_bp = agg_bp(in->cpu_ns, in->host_cpu_ns);
	v->io_share_bp = agg_bp(in->disk_bytes, in->host_disk_bytes);
	if (v->coverage_bp < s->min_coverage_bp || v->host_delay_bp < 0)
		v->cls = AGG_V_UNKNOWN;
	else if (v->host_delay_bp > s->noisy_host_bp && in->host_vms >= 2 &&
	         (v->cpu_share_bp > s->noisy_share_bp || v->io_share_bp > s->noisy_share_bp))
		v->cls = AGG_V_FLAGGED;
	else
		v->cls = AGG_V_OK;
}

/* An integer or null for AGG_NONE. */
static json_t *num(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *window_json(const struct agg_window *w)
{
	return json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "observed_ms", (json_int_t)w->observed_ms, "unknown_ms",
	                 (json_int_t)w->unknown_ms, "coverage_bp", num(w->coverage_bp), "cpu_bp", num(w->cpu_bp),
	                 "delay_bp", num(w->delay_bp), "disk_bps", num(w->disk_bps), "net_bps", num(w->net_bps));
}

json_t *agg_size_evidence(const struct agg_size_verdict *v, const struct agg_vm_input *in, const struct agg_settings *s)
{
	json_t *e = json_pack("{s:s, s:o, s:o, s:o}", "reason", v->reason, "window", window_json(&v->w), "vcpus",
	                      num(in->vcpus), "mem_kib", num(in->mem_kib));
	switch (v->cls) {
	case AGG_SIZE_POWERED_OFF:
		json_object_set_new(e, "off_since", num(in->off_since));
		json_object_set_new(e, "powered_off_after_s", json_integer(s->poweroff_s));
		break;
	case AGG_SIZE_IDLE:
		json_object_set_new(e, "thresholds",
		                    json_pack("{s:i, s:I, s:I, s:i}", "idle_cpu_bp", s->idle_cpu_bp, "idle_disk_bps",
		                              (json_int_t)s->idle_disk_bps, "idle_net_bps", (json_int_t)s->idle_net_bps,
		                              "min_coverage_bp", s->min_coverage_bp));
		break;
	case AGG_SIZE_UNKNOWN: json_object_set_new(e, "min_coverage_bp", json_integer(s->min_coverage_bp)); break;
	case AGG_SIZE_UNDERSIZED:
	case AGG_SIZE_OVERSIZED:
	case AGG_SIZE_RIGHT:
		json_object_set_new(e, "percentile", json_integer(s->percentile));
		json_object_set_new(e, "p_cpu_bp", num(v->p_cpu_bp));
		json_object_set_new(e, "p_used_kib", num(v->p_used_kib));
		json_object_set_new(e, "p_mem_bp", num(v->p_mem_bp));
		json_object_set_new(e, "recommended_vcpus", num(v->rec_vcpus));
		json_object_set_new(e, "recommended_mem_kib", num(v->rec_mem_kib));
		json_object_set_new(e, "thresholds",
		                    json_pack("{s:i, s:i, s:i}", "oversized_bp", s->oversized_bp, "undersized_bp",
		                              s->undersized_bp, "target_bp", s->target_bp));
		break;
	}
	return e;
}

json_t *agg_contention_evidence(enum agg_verdict c, const struct agg_window *w, const struct agg_settings *s)
{
	(void)c;
	return json_pack("{s:o, s:i, s:i}", "window", window_json(w), "starved_delay_bp", s->starved_bp,
	                 "min_coverage_bp", s->min_coverage_bp);
}

json_t *agg_neighbour_evidence(const struct agg_neighbour_verdict *v, const struct agg_neighbour_in *in,
                               const struct agg_settings *s)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:i, s:i, s:i, s:i}", "coverage_bp", num(v->coverage_bp),
	                 "host_delay_bp", num(v->host_delay_bp), "cpu_share_bp", num(v->cpu_share_bp), "io_share_bp",
	                 num(v->io_share_bp), "rank", in->rank, "host_vms", in->host_vms, "noisy_host_delay_bp",
	                 s->noisy_host_bp, "noisy_share_bp", s->noisy_share_bp);
}
