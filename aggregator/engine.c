/* aggregator/engine: rules over subjects, alerts and decisions (engine.h).
 *
 * Per rule, an array of alert slots indexed by subject, a slot allocated
 * when its alert first leaves inactive.  The series change once a minute
 * while cycles come every few seconds: a rule whose inputs (the series'
 * generation and the windows' end) did not change since its last full
 * pass only steps the alerts that are pending or firing, on the truth
 * values cached in their slots (`for` still counts in real time). */
#include "config.h"

#include "engine.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define MAX_HISTORY 65536

struct rule_state {
	const struct agg_rule *rule;
	struct agg_alert_slot **slots;
	size_t n_slots;
	struct agg_budget *budget; /* the rule's max-actions, NULL: none */
	uint64_t gen;
	int64_t end_ns;
	bool passed;
};

struct action_at {
	char rule[128], key[32];
	int64_t at_ns;
};

struct agg_engine {
	const struct agg_ruleset *rs;
	struct agg_series *s;
	struct agg_engine_opts o;
	char *opt_out;
	struct rule_state *st;
	size_t n_st;
	struct agg_budget **kind_budgets; /* rs->budgets' */
	struct action_at *hist;           /* the actions taken, a ring */
	size_t n_hist, head_hist;
	/* per host, during a cycle: the firing host rules that inhibit */
	const struct agg_rule ***inhibitors;
	size_t *n_inhibitors, n_hosts;
};

const char *agg_verdict_name(enum agg_verdict v)
{
	static const char *const names[] = {"act", "recommend", "skipped"};
	return (unsigned)v < 3 ? names[v] : NULL;
}

const char *agg_skip_name(enum agg_skip s)
{
	static const char *const names[] = {"",       "dry-run",     "opt-out",   "cooldown",
	                                    "budget", "maintenance", "inhibited", "world-changed"};
	return (unsigned)s < sizeof names / sizeof *names ? names[s] : NULL;
}

static void free_states(struct agg_engine *e)
{
	for (size_t i = 0; i < e->n_st; i++) {
		for (size_t j = 0; j < e->st[i].n_slots; j++)
			free(e->st[i].slots[j]);
		free(e->st[i].slots);
		agg_budget_free(e->st[i].budget);
	}
	free(e->st);
	e->st = NULL;
	e->n_st = 0;
	if (e->kind_budgets && e->rs)
		for (size_t i = 0; i < e->rs->n_budgets; i++)
			agg_budget_free(e->kind_budgets[i]);
	free(e->kind_budgets);
	e->kind_budgets = NULL;
}

/* Budgets from the history of actions, oldest first. */
static void count_history(struct agg_engine *e)
{
	for (size_t k = 0; k < e->n_hist; k++) {
		const struct action_at *h = &e->hist[(e->head_hist + k) % MAX_HISTORY];
		for (size_t i = 0; i < e->n_st; i++)
			if (e->st[i].budget && strcmp(e->st[i].rule->name, h->rule) == 0)
				agg_budget_allow(e->st[i].budget, h->at_ns, true);
		for (size_t i = 0; i < e->rs->n_budgets; i++)
			if (strcmp(e->rs->budgets[i].key, h->key) == 0)
				agg_budget_allow(e->kind_budgets[i], h->at_ns, true);
	}
}

static void remember(struct agg_engine *e, const char *rule, const char *key, int64_t at_ns)
{
	if (!e->hist)
		e->hist = vm_xcalloc(MAX_HISTORY, sizeof *e->hist);
	struct action_at *h;
	if (e->n_hist < MAX_HISTORY) {
		h = &e->hist[(e->head_hist + e->n_hist++) % MAX_HISTORY];
	} else {
		h = &e->hist[e->head_hist];
		e->head_hist = (e->head_hist + 1) % MAX_HISTORY;
	}
	snprintf(h->rule, sizeof h->rule, "%s", rule);
	snprintf(h->key, sizeof h->key, "%s", key);
	h->at_ns = at_ns;
}

static void build_states(struct agg_engine *e, const struct agg_ruleset *rs, struct rule_state *old, size_t n_old)
{
	e->rs = rs;
	e->n_st = rs->n_rules;
	e->st = vm_xcalloc(rs->n_rules + 1, sizeof *e->st);
	for (size_t i = 0; i < rs->n_rules; i++) {
		struct rule_state *st = &e->st[i];
		st->rule = &rs->rules[i];
		if (st->rule->max_actions)
			st->budget = agg_budget_new(st->rule->max_actions, st->rule->max_actions_window_ns);
		for (size_t j = 0; j < n_old; j++)
			if (old[j].slots && strcmp(old[j].rule->name, st->rule->name) == 0 &&
			    strcmp(old[j].rule->digest, st->rule->digest) == 0) {
				st->slots = old[j].slots;
				st->n_slots = old[j].n_slots;
				old[j].slots = NULL;
				old[j].n_slots = 0;
			}
	}
	e->kind_budgets = vm_xcalloc(rs->n_budgets + 1, sizeof *e->kind_budgets);
	for (size_t i = 0; i < rs->n_budgets; i++)
		e->kind_budgets[i] = agg_budget_new(rs->budgets[i].max, rs->budgets[i].window_ns);
	count_history(e);
}

struct agg_engine *agg_engine_new(const struct agg_ruleset *rs, struct agg_series *s, const struct agg_engine_opts *o)
{
	struct agg_engine *e = vm_xcalloc(1, sizeof *e);
	e->s = s;
	e->o = *o;
	if (o->opt_out_tag && *o->opt_out_tag)
		e->opt_out = vm_xstrdup(o->opt_out_tag);
	e->o.opt_out_tag = e->opt_out;
	build_states(e, rs, NULL, 0);
	return e;
}

void agg_engine_free(struct agg_engine *e)
{
	if (!e)
		return;
	free_states(e);
	free(e->hist);
	free(e->opt_out);
	for (size_t i = 0; i < e->n_hosts; i++)
		free(e->inhibitors[i]);
	free(e->inhibitors);
	free(e->n_inhibitors);
	free(e);
}

void agg_engine_set_rules(struct agg_engine *e, const struct agg_ruleset *rs)
{
	struct rule_state *old = e->st;
	size_t n_old = e->n_st;
	if (e->kind_budgets)
		for (size_t i = 0; i < e->rs->n_budgets; i++)
			agg_budget_free(e->kind_budgets[i]);
	free(e->kind_budgets);
	e->kind_budgets = NULL;
	e->st = NULL;
	build_states(e, rs, old, n_old);
	for (size_t i = 0; i < n_old; i++) {
		for (size_t j = 0; j < old[i].n_slots; j++)
			free(old[i].slots[j]);
		free(old[i].slots);
		agg_budget_free(old[i].budget);
	}
	free(old);
}

static struct agg_alert_slot *slot_at(struct rule_state *st, int idx, bool create)
{
	if ((size_t)idx >= st->n_slots) {
		if (!create)
			return NULL;
		size_t n = st->n_slots ? st->n_slots : 64;
		while (n <= (size_t)idx)
			n *= 2;
		st->slots = vm_xrealloc(st->slots, n * sizeof *st->slots);
		memset(st->slots + st->n_slots, 0, (n - st->n_slots) * sizeof *st->slots);
		st->n_slots = n;
	}
	if (!st->slots[idx] && create)
		st->slots[idx] = vm_xcalloc(1, sizeof **st->slots);
	return st->slots[idx];
}

struct agg_alert_slot *agg_engine_restore(struct agg_engine *e, const char *rule, const char *digest,
                                          const char *subject_key, const struct agg_alert_slot *slot)
{
	for (size_t i = 0; i < e->n_st; i++) {
		struct rule_state *st = &e->st[i];
		if (strcmp(st->rule->name, rule) != 0 || strcmp(st->rule->digest, digest) != 0)
			continue;
		int idx = agg_series_subject(e->s, st->rule->kind, subject_key);
		struct agg_alert_slot *x = slot_at(st, idx, true);
		*x = *slot;
		x->gen = 0;
		x->end_ns = 0;
		return x;
	}
	return NULL;
}

void agg_engine_restore_action(struct agg_engine *e, const char *rule, const char *key, int64_t at_ns)
{
	remember(e, rule, key, at_ns);
	for (size_t i = 0; i < e->n_st; i++)
		if (e->st[i].budget && strcmp(e->st[i].rule->name, rule) == 0)
			agg_budget_allow(e->st[i].budget, at_ns, true);
	for (size_t i = 0; i < e->rs->n_budgets; i++)
		if (strcmp(e->rs->budgets[i].key, key) == 0)
			agg_budget_allow(e->kind_budgets[i], at_ns, true);
}

struct eval_ctx {
	const struct agg_series *s;
	enum agg_kind kind;
	int idx;
	int64_t end_ns;
};

static int data(void *ctx, const struct agg_query *q, double *v)
{
	const struct eval_ctx *c = ctx;
	return agg_series_query(c->s, c->kind, c->idx, q, c->end_ns, v);
}

char *agg_engine_values(const struct agg_engine *e, const struct agg_rule *r, int subject, int64_t end_ns, int *cond)
{
	struct eval_ctx c = {e->s, r->kind, subject, end_ns};
	struct agg_query q[32];
	size_t n = agg_expr_queries(r->cond, q, 32);
	size_t cap = 64 + n * 96, len = 0;
	char *out = vm_xmalloc(cap);
	out[len++] = '{';
	for (size_t i = 0; i < n && i < 32; i++) {
		double v;
		char fn[8], win[24] = "";
		if (q[i].fn == AGG_FN_PCT)
			snprintf(fn, sizeof fn, "p%d", q[i].pct);
		else
			snprintf(fn, sizeof fn, "%s", agg_fn_name(q[i].fn));
		int64_t w = q[i].window_ns / INT64_C(1000000000);
		if (w)
			snprintf(win, sizeof win, ",%" PRId64 "%s",
			         w % 3600 == 0 ? w / 3600
			         : w % 60 == 0 ? w / 60
			                       : w,
			         w % 3600 == 0 ? "h"
			         : w % 60 == 0 ? "m"
			                       : "s");
		len += (size_t)snprintf(out + len, cap - len, "%s\"%s(%s%s)\":", i ? "," : "", fn,
		                        agg_metric_table()->names[q[i].metric], win);
		if (agg_series_query(e->s, r->kind, subject, &q[i], end_ns, &v) == 0 && isfinite(v))
			len += (size_t)snprintf(out + len, cap - len, "%.6g", v);
		else
			len += (size_t)snprintf(out + len, cap - len, "null");
	}
	snprintf(out + len, cap - len, "}");
	if (cond)
		*cond = agg_expr_eval(r->cond, data, &c);
	return out;
}

/* Whether `pairs` ("key=value") are all among the keys and values. */
static bool labels_match(const char *const *pairs, size_t n, const char *const *keys, const char *const *vals,
                         size_t nl)
{
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(pairs[i], '=');
		bool found = false;
		for (size_t j = 0; j < nl && !found; j++)
			found = strlen(keys[j]) == (size_t)(eq - pairs[i]) &&
			        strncmp(keys[j], pairs[i], (size_t)(eq - pairs[i])) == 0 &&
			        strcmp(vals[j], eq + 1) == 0;
		if (!found)
			return false;
	}
	return true;
}

static bool has_tag(const struct agg_subject *x, const char *tag)
{
	for (size_t i = 0; i < x->n_tags; i++)
		if (strcmp(x->tags[i], tag) == 0)
			return true;
	return false;
}

static bool in_scope(const struct agg_rule *r, const struct agg_subject *x)
{
	bool ok = r->n_hosts == 0;
	const char *host = r->kind == AGG_KIND_HOST ? x->key : x->host;
	for (size_t i = 0; i < r->n_hosts && !ok && host; i++)
		ok = agg_glob(r->hosts[i], host);
	if (!ok)
		return false;
	ok = r->n_tenants == 0;
	const char *tenant = r->kind == AGG_KIND_TENANT ? x->key : x->tenant;
	for (size_t i = 0; i < r->n_tenants && !ok && tenant; i++)
		ok = agg_glob(r->tenants[i], tenant);
	if (!ok)
		return false;
	for (size_t i = 0; i < r->n_tags; i++) /* every tag given */
		if (!has_tag(x, r->tags[i]))
			return false;
	return true;
}

struct cycle {
	struct agg_engine *e;
	const struct agg_engine_hooks *h;
	struct agg_engine_stats *st;
	int64_t now, end;
};

/* Why a VM's alert is silenced: its host is not reporting, or a firing
 * host rule inhibits rules with its labels.  NULL: it is not. */
static const char *inhibited(struct cycle *c, const struct agg_rule *r, const struct agg_subject *x, char *buf,
                             size_t size)
{
	if (r->kind != AGG_KIND_VM || x->host_idx < 0)
		return NULL;
	const struct agg_subject *host = agg_series_info(c->e->s, AGG_KIND_HOST, x->host_idx);
	/* down: it reported within the kept minutes, and not for host_down
	 * (a host with no minutes of its own at all is not judged) */
	if (c->e->o.host_down_ns > 0 && host && host->newest_ns &&
	    host->newest_ns + INT64_C(60000000000) + c->e->o.host_down_ns <= c->end) {
		snprintf(buf, size, "host %s is not reporting", host->key);
		return buf;
	}
	if ((size_t)x->host_idx < c->e->n_hosts)
		for (size_t i = 0; i < c->e->n_inhibitors[x->host_idx]; i++) {
			const struct agg_rule *hr = c->e->inhibitors[x->host_idx][i];
			if (labels_match(hr->inhibit, hr->n_inhibit, r->label_keys, r->label_values, r->n_labels)) {
				snprintf(buf, size, "rule %s fires on host %s", hr->name, host ? host->key : "?");
				return buf;
			}
		}
	return NULL;
}

static int budget_index(const struct agg_engine *e, const char *key)
{
	for (size_t i = 0; i < e->rs->n_budgets; i++)
		if (strcmp(e->rs->budgets[i].key, key) == 0)
			return (int)i;
	return -1;
}

static void decide(struct cycle *c, struct rule_state *rst, const struct agg_subject *x, struct agg_alert_slot *slot,
                   bool firing, const char *values)
{
	struct agg_engine *e = c->e;
	const struct agg_rule *r = rst->rule;
	const struct agg_rule_action *acts = firing ? r->on_firing : r->on_resolved;
	size_t n = firing ? r->n_on_firing : r->n_on_resolved;
	if (r->automation == AGG_AUTO_OFF || n == 0)
		return;
	char why[256];
	const char *host = r->kind == AGG_KIND_HOST ? x->key : x->host;
	const char *maint = r->kind == AGG_KIND_TENANT ? agg_rules_maintenance(e->rs, NULL, c->now)
	                                               : agg_rules_maintenance(e->rs, host, c->now);
	const char *inh = maint ? NULL : inhibited(c, r, x, why, sizeof why);
	bool automatic = r->automation == AGG_AUTO_AUTOMATIC || e->o.simulate;
	bool dry = !e->o.simulate && (e->o.dry_run || r->dry_run);
	int recheck = 2; /* not asked yet */
	for (size_t i = 0; i < n; i++) {
		const struct agg_rule_action *a = &acts[i];
		struct agg_decision d = {.rule = r,
		                         .subject = x,
		                         .slot = slot,
		                         .status = firing ? "firing" : "resolved",
		                         .action = a,
		                         .verdict = AGG_VERDICT_SKIP,
		                         .detail = "",
		                         .at_ns = c->now,
		                         .values_json = values};
		int kb = budget_index(e, a->key);
		if (maint) {
			d.reason = AGG_SKIP_MAINTENANCE;
			d.detail = maint;
		} else if (inh) {
			d.reason = AGG_SKIP_INHIBITED;
			d.detail = inh;
		} else if (a->spec.kind == AGG_ACT_VIRT && e->o.opt_out_tag && has_tag(x, e->o.opt_out_tag)) {
			d.reason = AGG_SKIP_OPT_OUT;
			d.detail = e->o.opt_out_tag;
		} else if (firing && r->cooldown_ns > 0 && slot->last_action_ns &&
		           c->now - slot->last_action_ns < r->cooldown_ns) {
			d.reason = AGG_SKIP_COOLDOWN;
		} else if (rst->budget && !agg_budget_allow(rst->budget, c->now, false)) {
			d.reason = AGG_SKIP_BUDGET;
			d.detail = "max-actions";
		} else if (kb >= 0 && !agg_budget_allow(e->kind_budgets[kb], c->now, false)) {
			d.reason = AGG_SKIP_BUDGET;
			d.detail = a->key;
		} else if (!automatic) {
			d.verdict = AGG_VERDICT_RECOMMEND;
		} else if (dry) {
			d.reason = AGG_SKIP_DRY_RUN;
		} else {
			if (recheck == 2)
				recheck = c->h->recheck ? c->h->recheck(c->h->ctx, r, x, firing) : 1;
			if (recheck != 1) {
				d.reason = AGG_SKIP_WORLD_CHANGED;
				d.detail = recheck == 0 ? (firing ? "the condition no longer holds"
				                                  : "the recovery no longer holds")
				                        : "the data is no longer trusted";
			} else {
				d.verdict = AGG_VERDICT_ACT;
				if (rst->budget)
					agg_budget_allow(rst->budget, c->now, true);
				if (kb >= 0)
					agg_budget_allow(e->kind_budgets[kb], c->now, true);
				remember(e, r->name, a->key, c->now);
				slot->last_action_ns = c->now;
			}
		}
		c->st->verdicts[d.verdict]++;
		if (c->h->decision)
			c->h->decision(c->h->ctx, &d);
	}
}

static void step(struct cycle *c, struct rule_state *rst, int idx, struct agg_alert_slot *slot, bool full)
{
	const struct agg_rule *r = rst->rule;
	struct agg_engine *e = c->e;
	int cond, rec;
	if (slot && !full && slot->gen == agg_series_generation(e->s) && slot->end_ns == c->end) {
		cond = slot->cond;
		rec = slot->rec;
	} else {
		struct eval_ctx ec = {e->s, r->kind, idx, c->end};
		cond = agg_expr_eval(r->cond, data, &ec);
		/* inactive with a false (or unknown) condition: nothing to keep */
		if (!slot && cond != 1)
			return;
		rec = r->recover ? agg_expr_eval(r->recover, data, &ec) : cond < 0 ? -1 : !cond;
		c->st->evaluations++;
	}
	if (!slot)
		slot = slot_at(rst, idx, true);
	slot->gen = agg_series_generation(e->s);
	slot->end_ns = c->end;
	slot->cond = (int8_t)cond;
	slot->rec = (int8_t)rec;
	struct agg_alert before = slot->a;
	enum agg_state to = agg_alert_eval(&slot->a, &r->timing, cond == 1, rec == 1, cond >= 0 && rec >= 0, c->now);
	const struct agg_subject *x = agg_series_info(e->s, r->kind, idx);
	if (to == AGG_FIRING)
		c->st->firing++;
	else if (to == AGG_PENDING)
		c->st->pending++;
	bool changed = to != before.state || slot->a.recover_since_ns != before.recover_since_ns;
	if (!changed)
		return;
	char *values = NULL;
	if (to != before.state) {
		c->st->transitions++;
		values = agg_engine_values(e, r, idx, c->end, NULL);
		if (to == AGG_FIRING)
			slot->episode_ns = slot->a.pending_since_ns;
	}
	struct agg_alert_event ev = {r, x, slot, before.state, to, c->now, cond >= 0 && rec >= 0, values};
	if (c->h->alert)
		c->h->alert(c->h->ctx, &ev);
	if (to != before.state && (to == AGG_FIRING || to == AGG_RESOLVED))
		decide(c, rst, x, slot, to == AGG_FIRING, values);
	free(values);
}

static void collect_inhibitor(struct agg_engine *e, const struct agg_rule *r, int host)
{
	if ((size_t)host >= e->n_hosts) {
		size_t n = agg_series_count(e->s, AGG_KIND_HOST) + 1;
		e->inhibitors = vm_xrealloc(e->inhibitors, n * sizeof *e->inhibitors);
		e->n_inhibitors = vm_xrealloc(e->n_inhibitors, n * sizeof *e->n_inhibitors);
		for (size_t i = e->n_hosts; i < n; i++) {
			e->inhibitors[i] = NULL;
			e->n_inhibitors[i] = 0;
		}
		e->n_hosts = n;
	}
	size_t k = e->n_inhibitors[host]++;
	e->inhibitors[host] = vm_xrealloc(e->inhibitors[host], (k + 1) * sizeof **e->inhibitors);
	e->inhibitors[host][k] = r;
}

void agg_engine_cycle(struct agg_engine *e, int64_t now_ns, int64_t end_ns, const struct agg_engine_hooks *h,
                      struct agg_engine_stats *st)
{
	memset(st, 0, sizeof *st);
	st->rules = (unsigned)e->n_st;
	struct cycle c = {e, h, st, now_ns, end_ns};
	for (size_t i = 0; i < e->n_hosts; i++)
		e->n_inhibitors[i] = 0;
	/* hosts first: a firing host rule silences its VMs' alerts this cycle */
	static const enum agg_kind order[] = {AGG_KIND_HOST, AGG_KIND_TENANT, AGG_KIND_VM};
	for (int o = 0; o < 3; o++)
		for (size_t i = 0; i < e->n_st; i++) {
			struct rule_state *rst = &e->st[i];
			const struct agg_rule *r = rst->rule;
			if (r->kind != order[o])
				continue;
			uint64_t gen = agg_series_generation(e->s);
			bool full = !rst->passed || rst->gen != gen || rst->end_ns != end_ns;
			size_t n = agg_series_count(e->s, r->kind);
			for (size_t j = 0; j < n; j++) {
				struct agg_alert_slot *slot = slot_at(rst, (int)j, false);
				if (!full && (!slot || slot->a.state == AGG_INACTIVE || slot->a.state == AGG_RESOLVED))
					continue;
				const struct agg_subject *x = agg_series_info(e->s, r->kind, (int)j);
				if (!slot && (!x->present || !in_scope(r, x)))
					continue;
				step(&c, rst, (int)j, slot, full);
				slot = slot_at(rst, (int)j, false);
				if (r->n_inhibit && slot && slot->a.state == AGG_FIRING)
					collect_inhibitor(e, r, (int)j);
			}
			rst->passed = true;
			rst->gen = gen;
			rst->end_ns = end_ns;
		}
}

void agg_engine_foreach(const struct agg_engine *e, agg_engine_alert_cb cb, void *ctx)
{
	for (size_t i = 0; i < e->n_st; i++)
		for (size_t j = 0; j < e->st[i].n_slots; j++) {
			const struct agg_alert_slot *x = e->st[i].slots[j];
			if (x && x->a.state != AGG_INACTIVE)
				cb(ctx, e->st[i].rule, agg_series_info(e->s, e->st[i].rule->kind, (int)j), x);
		}
}

int agg_engine_budget_used(struct agg_engine *e, const char *key, int64_t now_ns, int *max)
{
	int i = budget_index(e, key);
	if (i < 0) {
		*max = -1;
		return 0;
	}
	*max = (int)e->rs->budgets[i].max;
	return (int)agg_budget_used(e->kind_budgets[i], now_ns);
}
