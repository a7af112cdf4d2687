/* aggregator/policy: the rule engine against PostgreSQL (policy.h). */
#include "config.h"

#include "policy.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "log.h"
#include "xalloc.h"

#define NS INT64_C(1000000000)
#define MIN_NS (60 * NS)
/* Minutes read again at each fill: rows the collectors deliver late. */
#define LATE_MIN 5

/* The series and how the database's ids map to its subjects. */
struct feeder {
	struct agg_series *s;
	int *vm_idx, *host_idx; /* by vm_id, host_id: the series' index + 1 */
	size_t n_vm_idx, n_host_idx;
	int64_t end_ns; /* what the last fill read up to; 0: none */
	int64_t keep_ns;
};

struct pending_job {
	uint64_t job;
	int64_t decision_id;
	int64_t follow_up_ns;
	char key[32];
};

struct counter {
	char key[32], result[16];
	uint64_t n;
};

struct submission {
	int64_t decision_id, alert_id, starts_ns, at_ns;
	const struct agg_rule *rule;
	const struct agg_rule_action *action;
	char *status, *kind, *subject, *name, *host, *host_uri, *tenant, *values;
};

struct agg_policy {
	struct agg_settings s;
	struct agg_ruleset *rs;
	struct feeder f;
	struct agg_engine *e;
	bool restored;
	struct agg_runner *runner;
	struct pending_job *jobs;
	size_t n_jobs;
	struct counter *counters;
	size_t n_counters;
	uint64_t verdicts[3];
	/* during a cycle */
	struct vm_pg *pg;
	bool failed;
	char *err;
	size_t errsize;
	int64_t transition_id;
	struct submission *subs;
	size_t n_subs;
	int64_t end_ns;
};

static int64_t keep_for(const struct agg_ruleset *rs)
{
	return (rs->max_window_ns > 5 * MIN_NS ? rs->max_window_ns : 5 * MIN_NS) + 2 * MIN_NS;
}

static void feeder_init(struct feeder *f, const struct agg_ruleset *rs, int min_cov_bp)
{
	memset(f, 0, sizeof *f);
	f->keep_ns = keep_for(rs);
	f->s = agg_series_new(f->keep_ns, min_cov_bp);
}

static void feeder_release(struct feeder *f)
{
	agg_series_free(f->s);
	free(f->vm_idx);
	free(f->host_idx);
	memset(f, 0, sizeof *f);
}

static void map_set(int **map, size_t *n, long id, int idx)
{
	if (id < 0 || id > (1L << 26))
		return;
	if ((size_t)id >= *n) {
		size_t m = *n ? *n : 1024;
		while (m <= (size_t)id)
			m *= 2;
		*map = vm_xrealloc(*map, m * sizeof **map);
		memset(*map + *n, 0, (m - *n) * sizeof **map);
		*n = m;
	}
	(*map)[id] = idx + 1;
}

static int map_get(const int *map, size_t n, long id)
{
	return id >= 0 && (size_t)id < n ? map[id] - 1 : -1;
}

static double num(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NAN : strtod(PQgetvalue(r, row, col), NULL);
}

static void ts_param(char *buf, size_t size, int64_t ns)
{
	snprintf(buf, size, "%" PRId64 ".%06" PRId64, ns / NS, (ns % NS) / 1000);
}

/* The inventory in force (VMs not undefined) and the hosts. */
static int fill_inventory(struct vm_pg *pg, struct feeder *f)
{
	PGresult *h = vm_pg_exec(pg, "SELECT host_id, hostname, coalesce(libvirt_uri, '') FROM host", 0, NULL);
	if (!h)
		return -1;
	for (int i = 0; i < PQntuples(h); i++) {
		int idx = agg_series_subject(f->s, AGG_KIND_HOST, PQgetvalue(h, i, 1));
		agg_series_set_host_uri(f->s, idx, PQgetvalue(h, i, 2));
		map_set(&f->host_idx, &f->n_host_idx, atol(PQgetvalue(h, i, 0)), idx);
	}
	PQclear(h);
	PGresult *r =
	    vm_pg_exec(pg,
	               "SELECT i.vm_id, v.uuid::text, i.name, h.hostname, i.tenant, "
	               "  coalesce((SELECT string_agg(t.key || '=' || t.value, E'\\n' ORDER BY t.key) "
	               "    FROM jsonb_each_text(i.tags) t), '') "
	               "FROM (SELECT DISTINCT ON (vm_id) * FROM vm_inventory ORDER BY vm_id, valid_from DESC) i "
	               "JOIN vm v USING (vm_id) JOIN host h ON h.host_id = i.host_id "
	               "WHERE NOT EXISTS (SELECT 1 FROM vm_event e WHERE e.vm_id = i.vm_id AND e.event = 'undefined' "
	               "  AND e.at > i.valid_from)",
	               0, NULL);
	if (!r)
		return -1;
	agg_series_clear_present(f->s);
	for (int i = 0; i < PQntuples(r); i++) {
		int idx = agg_series_subject(f->s, AGG_KIND_VM, PQgetvalue(r, i, 1));
		char *tags = PQgetvalue(r, i, 5), *save = NULL;
		const char *list[32];
		size_t n = 0;
		for (char *t = strtok_r(tags, "\n", &save); t && n < 32; t = strtok_r(NULL, "\n", &save))
			list[n++] = t;
		agg_series_set_vm(f->s, idx, PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), list, n);
		map_set(&f->vm_idx, &f->n_vm_idx, atol(PQgetvalue(r, i, 0)), idx);
	}
	PQclear(r);
	return 0;
}

/* The minutes of [from, to): VMs (of vm_uuid only, if given) and hosts. */
static int fill_minutes(struct vm_pg *pg, struct feeder *f, int64_t from_ns, int64_t to_ns, const char *vm_uuid)
{
	char a[32], b[32];
	ts_param(a, sizeof a, from_ns);
	ts_param(b, sizeof b, to_ns);
	const char *p[3] = {a, b, vm_uuid};
	PGresult *r =
	    vm_pg_exec(pg,
	               "SELECT m.vm_id, m.host_id, extract(epoch FROM m.minute)::bigint, m.coverage_ms, m.cpu_ns, "
	               "  m.vcpu_delay_ns, m.vcpus_avg, m.mem_max_kib_avg, m.rss_kib_avg, m.available_kib_avg, "
	               "  m.usable_kib_avg, m.disk_rd_bytes, m.disk_wr_bytes, m.net_rx_bytes, m.net_tx_bytes "
	               "FROM vm_usage_minute m "
	               "WHERE m.minute >= to_timestamp($1::float8) AND m.minute < to_timestamp($2::float8) "
	               "  AND ($3::uuid IS NULL OR m.vm_id = (SELECT vm_id FROM vm WHERE uuid = $3::uuid)) "
	               "ORDER BY m.minute",
	               3, p);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		int vm = map_get(f->vm_idx, f->n_vm_idx, atol(PQgetvalue(r, i, 0)));
		if (vm < 0)
			continue; /* not in the inventory in force */
		struct agg_vm_minute m = {.minute_ns = strtoll(PQgetvalue(r, i, 2), NULL, 10) * NS,
		                          .coverage_ms = atoi(PQgetvalue(r, i, 3)),
		                          .cpu_ns = num(r, i, 4),
		                          .delay_ns = num(r, i, 5),
		                          .vcpus = num(r, i, 6),
		                          .mem_max_kib = num(r, i, 7),
		                          .rss_kib = num(r, i, 8),
		                          .avail_kib = num(r, i, 9),
		                          .usable_kib = num(r, i, 10),
		                          .disk_rd = num(r, i, 11),
		                          .disk_wr = num(r, i, 12),
		                          .net_rx = num(r, i, 13),
		                          .net_tx = num(r, i, 14)};
		agg_series_put_vm(f->s, vm, map_get(f->host_idx, f->n_host_idx, atol(PQgetvalue(r, i, 1))), &m);
	}
	PQclear(r);
	if (vm_uuid)
		return 0;
	r = vm_pg_exec(pg,
	               "SELECT host_id, extract(epoch FROM minute)::bigint, coverage_ms, cpu_capacity_ns, cpu_busy_ns, "
	               "  cpus_avg, mem_total_kib_avg, mem_free_kib_avg, vcpus_running_avg, vm_mem_kib_avg, "
	               "  vms_running_avg "
	               "FROM host_usage_minute "
	               "WHERE minute >= to_timestamp($1::float8) AND minute < to_timestamp($2::float8)",
	               2, p);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		int h = map_get(f->host_idx, f->n_host_idx, atol(PQgetvalue(r, i, 0)));
		if (h < 0)
			continue;
		struct agg_host_minute m = {.minute_ns = strtoll(PQgetvalue(r, i, 1), NULL, 10) * NS,
		                            .coverage_ms = atoi(PQgetvalue(r, i, 2)),
		                            .capacity_ns = num(r, i, 3),
		                            .busy_ns = num(r, i, 4),
		                            .cpus = num(r, i, 5),
		                            .mem_total_kib = num(r, i, 6),
		                            .mem_free_kib = num(r, i, 7),
		                            .vcpus_running = num(r, i, 8),
		                            .vm_mem_kib = num(r, i, 9),
		                            .vms_running = num(r, i, 10)};
		agg_series_put_host(f->s, h, &m);
	}
	PQclear(r);
	return 0;
}

/* Brings the series to windows ending at end_ns: the first time the whole
 * kept range, then what is new and the last few minutes again. */
static int feed(struct vm_pg *pg, struct feeder *f, int64_t end_ns)
{
	if (f->end_ns == end_ns)
		return 0;
	int64_t from = end_ns - f->keep_ns;
	if (f->end_ns && f->end_ns - LATE_MIN * MIN_NS > from && f->end_ns < end_ns)
		from = f->end_ns - LATE_MIN * MIN_NS;
	if (fill_inventory(pg, f) < 0)
		return -1;
	agg_series_forget(f->s, from, end_ns);
	if (fill_minutes(pg, f, from, end_ns, NULL) < 0)
		return -1;
	agg_series_finish(f->s, from, end_ns);
	f->end_ns = end_ns;
	return 0;
}

static int64_t window_end(const struct agg_settings *s, int64_t now_s)
{
	return (now_s - s->rules_lag_s) / 60 * 60 * NS;
}

static struct agg_engine *new_engine(const struct agg_settings *s, const struct agg_ruleset *rs, struct agg_series *se,
                                     bool simulate)
{
	struct agg_engine_opts o = {.dry_run = s->dry_run,
	                            .simulate = simulate,
	                            .opt_out_tag = s->opt_out_tag,
	                            .host_down_ns = s->host_down_s * NS};
	return agg_engine_new(rs, se, &o);
}

struct agg_policy *agg_policy_new(const struct agg_settings *s, struct agg_ruleset *rs, char *err, size_t errsize)
{
	struct agg_runner *runner = agg_runner_new((unsigned)s->action_workers, err, errsize);
	if (!runner) {
		agg_rules_free(rs);
		return NULL;
	}
	struct agg_policy *p = vm_xcalloc(1, sizeof *p);
	p->s = *s;
	p->rs = rs;
	p->runner = runner;
	feeder_init(&p->f, rs, s->min_coverage_bp);
	p->e = new_engine(s, rs, p->f.s, false);
	return p;
}

static void free_subs(struct agg_policy *p)
{
	for (size_t i = 0; i < p->n_subs; i++) {
		struct submission *x = &p->subs[i];
		free(x->status), free(x->kind), free(x->subject), free(x->name), free(x->host), free(x->host_uri);
		free(x->tenant), free(x->values);
	}
	free(p->subs);
	p->subs = NULL;
	p->n_subs = 0;
}

void agg_policy_free(struct agg_policy *p)
{
	if (!p)
		return;
	agg_runner_free(p->runner, 5 * NS);
	agg_engine_free(p->e);
	feeder_release(&p->f);
	agg_rules_free(p->rs);
	free_subs(p);
	free(p->jobs);
	free(p->counters);
	free(p);
}

void agg_policy_set_rules(struct agg_policy *p, struct agg_ruleset *rs, const struct agg_settings *s)
{
	bool opts = s->dry_run != p->s.dry_run || strcmp(s->opt_out_tag, p->s.opt_out_tag) != 0 ||
	            s->host_down_s != p->s.host_down_s || s->min_coverage_bp != p->s.min_coverage_bp;
	p->s = *s;
	if (opts || keep_for(rs) > p->f.keep_ns) {
		/* a longer window or other options: series and engine anew, the
		 * alerts from their rows at the next cycle */
		agg_engine_free(p->e);
		feeder_release(&p->f);
		feeder_init(&p->f, rs, s->min_coverage_bp);
		p->e = new_engine(s, rs, p->f.s, false);
		p->restored = false;
	} else {
		agg_engine_set_rules(p->e, rs);
	}
	agg_rules_free(p->rs);
	p->rs = rs;
}

int agg_policy_fd(const struct agg_policy *p)
{
	return agg_runner_fd(p->runner);
}

/* ---------------------------------------------------------------- restore */

static int64_t ts_ns(PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	return (int64_t)llround(strtod(PQgetvalue(r, row, col), NULL) * 1e6) * 1000;
}

static int restore(struct agg_policy *p, struct vm_pg *pg)
{
	/* decisions to act whose result never came: the daemon died */
	if (vm_pg_cmd(pg,
	              "UPDATE agg_decision SET result = 'abandoned', "
	              "  result_message = 'the aggregator stopped before the action''s result' "
	              "WHERE verdict = 'act' AND result IS NULL",
	              0, NULL) < 0)
		return -1;
	PGresult *r = vm_pg_exec(pg,
	                         "SELECT rule, rule_digest, subject, state, extract(epoch FROM since), "
	                         "  extract(epoch FROM pending_since), extract(epoch FROM recover_since), "
	                         "  extract(epoch FROM last_action), alert_id, extract(epoch FROM episode_start) "
	                         "FROM agg_alert WHERE state <> 'inactive'",
	                         0, NULL);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		struct agg_alert_slot x = {0};
		const char *st = PQgetvalue(r, i, 3);
		for (int k = 0; k < 4; k++)
			if (strcmp(st, agg_state_name((enum agg_state)k)) == 0)
				x.a.state = (enum agg_state)k;
		x.a.since_ns = ts_ns(r, i, 4);
		x.a.pending_since_ns = ts_ns(r, i, 5);
		x.a.recover_since_ns = ts_ns(r, i, 6);
		x.last_action_ns = ts_ns(r, i, 7);
		x.alert_id = strtoll(PQgetvalue(r, i, 8), NULL, 10);
		x.episode_ns = ts_ns(r, i, 9);
		agg_engine_restore(p->e, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), &x);
	}
	PQclear(r);
	r = vm_pg_exec(pg,
	               "SELECT rule, action_kind, extract(epoch FROM at) FROM agg_decision "
	               "WHERE verdict = 'act' AND at > now() - interval '31 days' ORDER BY at",
	               0, NULL);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		agg_engine_restore_action(p->e, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), ts_ns(r, i, 2));
	PQclear(r);
	p->restored = true;
	return 0;
}

/* ---------------------------------------------------------------- hooks */

static void hook_fail(struct agg_policy *p, const char *what)
{
	if (!p->failed)
		vm_pg_fail(p->pg, what, p->err, p->errsize);
	p->failed = true;
}

static const char *opt_ts(char *buf, size_t size, int64_t ns)
{
	if (!ns)
		return NULL;
	ts_param(buf, size, ns);
	return buf;
}

static void on_alert(void *ctx, const struct agg_alert_event *ev)
{
	struct agg_policy *p = ctx;
	if (p->failed)
		return;
	const struct agg_alert *a = &ev->slot->a;
	char t[6][32];
	const char *params[14] = {ev->rule->name,
	                          ev->rule->digest,
	                          agg_kind_name(ev->rule->kind),
	                          ev->subject->key,
	                          ev->subject->name,
	                          ev->rule->kind == AGG_KIND_HOST ? ev->subject->key : ev->subject->host,
	                          ev->rule->kind == AGG_KIND_TENANT ? ev->subject->key : ev->subject->tenant,
	                          ev->rule->severity,
	                          agg_state_name(a->state),
	                          opt_ts(t[0], 32, a->since_ns),
	                          opt_ts(t[1], 32, a->pending_since_ns),
	                          opt_ts(t[2], 32, a->recover_since_ns),
	                          opt_ts(t[3], 32, ev->slot->episode_ns),
	                          opt_ts(t[4], 32, ev->slot->last_action_ns)};
	PGresult *r = vm_pg_exec(
	    p->pg,
	    "INSERT INTO agg_alert (rule, rule_digest, subject_kind, subject, subject_name, host, tenant, severity, "
	    "  state, since, pending_since, recover_since, episode_start, last_action, updated_at) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10::float8), to_timestamp($11::float8), "
	    "  to_timestamp($12::float8), to_timestamp($13::float8), to_timestamp($14::float8), now()) "
	    "ON CONFLICT (rule, subject_kind, subject) DO UPDATE SET rule_digest = EXCLUDED.rule_digest, "
	    "  subject_name = EXCLUDED.subject_name, host = EXCLUDED.host, tenant = EXCLUDED.tenant, "
	    "  severity = EXCLUDED.severity, state = EXCLUDED.state, since = EXCLUDED.since, "
	    "  pending_since = EXCLUDED.pending_since, recover_since = EXCLUDED.recover_since, "
	    "  episode_start = EXCLUDED.episode_start, last_action = EXCLUDED.last_action, updated_at = now() "
	    "RETURNING alert_id",
	    14, params);
	if (!r) {
		hook_fail(p, "storing an alert");
		return;
	}
	ev->slot->alert_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (ev->from == ev->to)
		return;
	char id[24];
	snprintf(id, sizeof id, "%" PRId64, ev->slot->alert_id);
	const char *tp[6] = {id,
	                     opt_ts(t[5], 32, ev->at_ns),
	                     agg_state_name(ev->from),
	                     agg_state_name(ev->to),
	                     ev->trusted ? "t" : "f",
	                     ev->values_json ? ev->values_json : "{}"};
	r = vm_pg_exec(p->pg,
	               "INSERT INTO agg_alert_transition (alert_id, at, from_state, to_state, trusted, vals) "
	               "VALUES ($1, to_timestamp($2::float8), $3, $4, $5, $6::jsonb) RETURNING transition_id",
	               6, tp);
	if (!r) {
		hook_fail(p, "storing a transition");
		return;
	}
	p->transition_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
}

static char *spec_json(const struct agg_rule_action *a)
{
	const struct agg_action_spec *s = &a->spec;
	json_t *o = json_object();
	json_object_set_new(o, "kind", json_string(a->key));
	if (s->kind == AGG_ACT_PROGRAM) {
		json_t *argv = json_array();
		for (size_t i = 0; i < s->argc; i++)
			json_array_append_new(argv, json_string(s->argv[i]));
		json_object_set_new(o, "argv", argv);
	} else if (s->kind == AGG_ACT_WEBHOOK) {
		json_object_set_new(o, "url", json_string(s->url));
		json_object_set_new(o, "attempts", json_integer(s->max_attempts));
	} else {
		if (s->amount)
			json_object_set_new(o, "amount", json_integer((json_int_t)s->amount));
		if (s->dest_uri)
			json_object_set_new(o, "destination", json_string(s->dest_uri));
	}
	json_object_set_new(o, "timeout_s", json_integer(s->timeout_ns / NS));
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

static char *dup_or_null(const char *s)
{
	return s ? vm_xstrdup(s) : NULL;
}

static void on_decision(void *ctx, const struct agg_decision *d)
{
	struct agg_policy *p = ctx;
	if (p->failed)
		return;
	p->verdicts[d->verdict]++;
	char aid[24], tid[24], at[32];
	snprintf(aid, sizeof aid, "%" PRId64, d->slot->alert_id);
	snprintf(tid, sizeof tid, "%" PRId64, p->transition_id);
	ts_param(at, sizeof at, d->at_ns);
	char *spec = spec_json(d->action);
	const char *params[13] = {aid,
	                          tid,
	                          at,
	                          d->rule->name,
	                          agg_kind_name(d->rule->kind),
	                          d->subject->key,
	                          d->subject->name,
	                          d->status,
	                          agg_verdict_name(d->verdict),
	                          agg_skip_name(d->reason),
	                          d->detail,
	                          d->action->key,
	                          spec};
	const char *vals = d->values_json ? d->values_json : "{}";
	const char *all[14];
	memcpy(all, params, sizeof params);
	all[13] = vals;
	PGresult *r = vm_pg_exec(
	    p->pg,
	    "INSERT INTO agg_decision (alert_id, transition_id, at, rule, subject_kind, subject, subject_name, status, "
	    "  verdict, reason, detail, action_kind, action_spec, vals) "
	    "VALUES ($1, $2, to_timestamp($3::float8), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb) "
	    "RETURNING decision_id",
	    14, all);
	free(spec);
	if (!r) {
		hook_fail(p, "storing a decision");
		return;
	}
	int64_t id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (d->verdict != AGG_VERDICT_ACT)
		return;
	p->subs = vm_xrealloc(p->subs, (p->n_subs + 1) * sizeof *p->subs);
	struct submission *x = &p->subs[p->n_subs++];
	const struct agg_subject *hs =
	    d->subject->host_idx >= 0 ? agg_series_info(p->f.s, AGG_KIND_HOST, d->subject->host_idx) : NULL;
	*x = (struct submission){.decision_id = id,
	                         .alert_id = d->slot->alert_id,
	                         .starts_ns = d->slot->episode_ns ? d->slot->episode_ns : d->at_ns,
	                         .at_ns = d->at_ns,
	                         .rule = d->rule,
	                         .action = d->action,
	                         .status = vm_xstrdup(d->status),
	                         .kind = vm_xstrdup(agg_kind_name(d->rule->kind)),
	                         .subject = vm_xstrdup(d->subject->key),
	                         .name = vm_xstrdup(d->subject->name),
	                         .host =
	                             dup_or_null(d->rule->kind == AGG_KIND_HOST ? d->subject->key : d->subject->host),
	                         .host_uri = dup_or_null(hs ? hs->host_uri : NULL),
	                         .tenant = dup_or_null(d->subject->tenant),
	                         .values = vm_xstrdup(vals)};
}

struct recheck_ctx {
	const struct agg_series *s;
	enum agg_kind k;
	int idx;
	int64_t end;
};

static int recheck_data(void *ctx, const struct agg_query *q, double *v)
{
	const struct recheck_ctx *c = ctx;
	return agg_series_query(c->s, c->k, c->idx, q, c->end, v);
}

/* Fresh: the VM still defined on the same host, its minutes read again. */
static int on_recheck(void *ctx, const struct agg_rule *r, const struct agg_subject *x, bool firing)
{
	struct agg_policy *p = ctx;
	if (p->failed)
		return -1;
	if (r->kind == AGG_KIND_VM) {
		const char *params[1] = {x->key};
		PGresult *res = vm_pg_exec(
		    p->pg,
		    "SELECT h.hostname FROM vm v JOIN LATERAL (SELECT * FROM vm_inventory i WHERE i.vm_id = v.vm_id "
		    "  ORDER BY valid_from DESC LIMIT 1) i ON true JOIN host h ON h.host_id = i.host_id "
		    "WHERE v.uuid = $1::uuid AND NOT EXISTS (SELECT 1 FROM vm_event e WHERE e.vm_id = v.vm_id "
		    "  AND e.event = 'undefined' AND e.at > i.valid_from)",
		    1, params);
		if (!res) {
			hook_fail(p, "checking the VM again");
			return -1;
		}
		bool same = PQntuples(res) == 1 && x->host && strcmp(PQgetvalue(res, 0, 0), x->host) == 0;
		PQclear(res);
		if (!same)
			return 0; /* undefined, or moved */
		if (fill_minutes(p->pg, &p->f, p->end_ns - LATE_MIN * MIN_NS, p->end_ns, x->key) < 0) {
			hook_fail(p, "reading the VM's minutes again");
			return -1;
		}
		agg_series_finish(p->f.s, p->end_ns - LATE_MIN * MIN_NS, p->end_ns);
	}
	struct recheck_ctx c = {p->f.s, r->kind, agg_series_find(p->f.s, r->kind, x->key), p->end_ns};
	int cond = agg_expr_eval(r->cond, recheck_data, &c);
	if (firing)
		return cond;
	if (r->recover)
		return agg_expr_eval(r->recover, recheck_data, &c);
	return cond < 0 ? -1 : !cond;
}

/* ---------------------------------------------------------------- results */

static void count(struct agg_policy *p, const char *key, const char *result)
{
	for (size_t i = 0; i < p->n_counters; i++)
		if (strcmp(p->counters[i].key, key) == 0 && strcmp(p->counters[i].result, result) == 0) {
			p->counters[i].n++;
			return;
		}
	p->counters = vm_xrealloc(p->counters, (p->n_counters + 1) * sizeof *p->counters);
	struct counter *c = &p->counters[p->n_counters++];
	snprintf(c->key, sizeof c->key, "%s", key);
	snprintf(c->result, sizeof c->result, "%s", result);
	c->n = 1;
}

/* Text PostgreSQL takes: UTF-8 is not checked here, so every byte outside
 * printable ASCII, newline and tab becomes '?'. */
static char *clean_text(const char *s)
{
	char *t = vm_xstrdup(s ? s : "");
	for (char *q = t; *q; q++)
		if (((unsigned char)*q < 0x20 && *q != '\n' && *q != '\t') || (unsigned char)*q >= 0x7f)
			*q = '?';
	return t;
}

static int store_result(struct agg_policy *p, struct vm_pg *pg, const struct pending_job *j,
                        const struct agg_action_result *res)
{
	char id[24], att[16], ex[16], http[16], st[32], fi[32], fu[24];
	snprintf(id, sizeof id, "%" PRId64, j->decision_id);
	snprintf(att, sizeof att, "%u", res->attempts);
	snprintf(ex, sizeof ex, "%d", res->exit_status);
	snprintf(http, sizeof http, "%d", res->http_status);
	ts_param(st, sizeof st, res->started_ns);
	ts_param(fi, sizeof fi, res->finished_ns ? res->finished_ns : (int64_t)time(NULL) * NS);
	snprintf(fu, sizeof fu, "%" PRId64, j->follow_up_ns / NS);
	char *msg = clean_text(res->message), *out = res->output ? clean_text(res->output) : NULL;
	const char *params[10] = {id,  agg_action_outcome_name(res->outcome), msg,
	                          att, res->exit_status >= 0 ? ex : NULL,     res->http_status ? http : NULL,
	                          out, res->started_ns ? st : NULL,           fi,
	                          fu};
	int rc = vm_pg_cmd(pg,
	                   "UPDATE agg_decision SET result = $2, result_message = $3, attempts = $4::int, "
	                   "  exit_status = $5::int, http_status = $6::int, output = $7, "
	                   "  started_at = to_timestamp($8::float8), finished_at = to_timestamp($9::float8), "
	                   "  follow_up_due = CASE WHEN $10::bigint > 0 "
	                   "    THEN to_timestamp($9::float8) + $10::bigint * interval '1 second' END "
	                   "WHERE decision_id = $1::bigint",
	                   10, params);
	free(msg);
	free(out);
	if (rc == 0)
		count(p, j->key, agg_action_outcome_name(res->outcome));
	return rc;
}

int agg_policy_results(struct agg_policy *p, struct vm_pg *pg, char *err, size_t errsize)
{
	struct agg_action_result res[16];
	size_t n;
	int rc = 0;
	/* Polled only when its descriptor says results wait: agg_runner_poll
	 * with none passes a NULL array to memcpy (action.c, reported). */
	struct pollfd pfd = {agg_runner_fd(p->runner), POLLIN, 0};
	while (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) && (n = agg_runner_poll(p->runner, res, 16)) > 0) {
		for (size_t i = 0; i < n; i++) {
			for (size_t k = 0; k < p->n_jobs; k++) {
				if (p->jobs[k].job != res[i].job)
					continue;
				if (rc == 0 && pg && store_result(p, pg, &p->jobs[k], &res[i]) < 0)
					rc = vm_pg_fail(pg, "storing an action's result", err, errsize);
				vm_info("decision %" PRId64 ": %s %s: %s", p->jobs[k].decision_id, p->jobs[k].key,
				        agg_action_outcome_name(res[i].outcome), res[i].message);
				p->jobs[k] = p->jobs[--p->n_jobs];
				break;
			}
			agg_action_result_clear(&res[i]);
		}
	}
	return rc;
}

/* Submits what the committed cycle decided to do. */
static void submit(struct agg_policy *p, struct vm_pg *pg)
{
	for (size_t i = 0; i < p->n_subs; i++) {
		struct submission *x = &p->subs[i];
		bool firing = strcmp(x->status, "firing") == 0;
		char summary[768];
		snprintf(summary, sizeof summary, "%s: %s %s", x->rule->name,
		         firing                  ? x->rule->cond_text
		         : x->rule->recover_text ? x->rule->recover_text
		                                 : "the condition no longer holds",
		         x->values);
		struct agg_alert_info a = {.rule = x->rule->name,
		                           .severity = x->rule->severity,
		                           .status = x->status,
		                           .subject_kind = x->kind,
		                           .subject = x->name,
		                           .vm_uuid = x->rule->kind == AGG_KIND_VM ? x->subject : NULL,
		                           .host = x->host,
		                           .host_uri = x->host_uri,
		                           .tenant = x->tenant,
		                           .label_keys = x->rule->label_keys,
		                           .label_values = x->rule->label_values,
		                           .nlabels = x->rule->n_labels,
		                           .summary = summary,
		                           .values_json = x->values,
		                           .starts_ns = x->starts_ns,
		                           .ends_ns = firing ? 0 : x->at_ns,
		                           .alert_id = x->alert_id,
		                           .decision_id = x->decision_id};
		uint64_t job = agg_runner_submit(p->runner, &x->action->spec, &a);
		if (!job) {
			char id[24], *msg = clean_text(agg_runner_error(p->runner));
			snprintf(id, sizeof id, "%" PRId64, x->decision_id);
			const char *params[2] = {id, msg};
			if (vm_pg_cmd(pg,
			              "UPDATE agg_decision SET result = 'refused', result_message = $2, "
			              "  finished_at = now() WHERE decision_id = $1::bigint",
			              2, params) < 0)
				vm_err("decision %s: storing the refusal: %s", id, vm_pg_error(pg));
			vm_err("decision %s: the runner refused %s: %s", id, x->action->key, msg);
			count(p, x->action->key, "refused");
			free(msg);
			continue;
		}
		p->jobs = vm_xrealloc(p->jobs, (p->n_jobs + 1) * sizeof *p->jobs);
		p->jobs[p->n_jobs++] = (struct pending_job){job, x->decision_id, x->rule->follow_up_ns, ""};
		snprintf(p->jobs[p->n_jobs - 1].key, sizeof p->jobs[0].key, "%s", x->action->key);
	}
	free_subs(p);
}

/* "Did it help": the condition's values follow-up after each action. */
static int follow_ups(struct agg_policy *p, struct vm_pg *pg)
{
	char end[32];
	ts_param(end, sizeof end, p->end_ns);
	const char *params[1] = {end};
	PGresult *r = vm_pg_exec(pg,
	                         "SELECT decision_id, rule, subject FROM agg_decision WHERE follow_up_at IS NULL "
	                         "  AND follow_up_due <= to_timestamp($1::float8) ORDER BY decision_id LIMIT 1000",
	                         1, params);
	if (!r)
		return -1;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		const struct agg_rule *rule = agg_rules_find(p->rs, PQgetvalue(r, i, 1));
		int idx = rule ? agg_series_find(p->f.s, rule->kind, PQgetvalue(r, i, 2)) : -1;
		int cond = -1;
		char *vals = idx >= 0 ? agg_engine_values(p->e, rule, idx, p->end_ns, &cond) : vm_xstrdup("{}");
		const char *up[4] = {PQgetvalue(r, i, 0), end, vals, cond < 0 ? NULL : cond ? "t" : "f"};
		rc = vm_pg_cmd(
		    pg,
		    "UPDATE agg_decision SET follow_up_at = to_timestamp($2::float8), follow_up_vals = $3::jsonb, "
		    "  follow_up_holds = $4::bool WHERE decision_id = $1::bigint",
		    4, up);
		free(vals);
	}
	PQclear(r);
	return rc;
}

int agg_policy_cycle(struct agg_policy *p, struct vm_pg *pg, int64_t now_s, char *err, size_t errsize)
{
	if (agg_policy_results(p, pg, err, errsize) < 0)
		return -1;
	int64_t end = window_end(&p->s, now_s);
	if (!p->restored && restore(p, pg) < 0)
		return vm_pg_fail(pg, "reading the alerts back", err, errsize);
	if (feed(pg, &p->f, end) < 0) {
		p->f.end_ns = 0; /* read the whole range again */
		return vm_pg_fail(pg, "reading the minutes", err, errsize);
	}
	if (vm_pg_begin(pg) < 0)
		return vm_pg_fail(pg, "beginning the rule cycle", err, errsize);
	p->pg = pg;
	p->failed = false;
	p->err = err;
	p->errsize = errsize;
	p->end_ns = end;
	struct agg_engine_hooks h = {p, on_alert, on_decision, on_recheck};
	struct agg_engine_stats st;
	agg_engine_cycle(p->e, now_s * NS, end, &h, &st);
	if (!p->failed && follow_ups(p, pg) < 0)
		hook_fail(p, "storing follow-ups");
	if (!p->failed && vm_pg_commit(pg) < 0)
		hook_fail(p, "committing the rule cycle");
	p->pg = NULL;
	if (p->failed) {
		vm_pg_rollback(pg);
		free_subs(p);
		/* what the engine holds is ahead of the rows: from the rows again */
		agg_engine_free(p->e);
		p->e = new_engine(&p->s, p->rs, p->f.s, false);
		p->restored = false;
		return -1;
	}
	submit(p, pg);
	if (st.transitions)
		vm_info("rules at %" PRId64 ": %u evaluations, %u transitions, %u firing, %u pending", now_s,
		        st.evaluations, st.transitions, st.firing, st.pending);
	return 0;
}

/* ---------------------------------------------------------------- /metrics */

struct buf {
	char *s;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3))) put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0);
		b->s = vm_xrealloc(b->s, b->cap);
	}
}

/* A label value as the text format wants it: \\ \" \n escaped. */
static void put_label(struct buf *b, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\')
			put(b, "\\\\");
		else if (*v == '"')
			put(b, "\\\"");
		else if (*v == '\n')
			put(b, "\\n");
		else
			put(b, "%c", *v);
	}
}

static void metric_alert(void *ctx, const struct agg_rule *r, const struct agg_subject *x,
                         const struct agg_alert_slot *slot)
{
	struct buf *b = ctx;
	put(b, "vmeter_alert_state{rule=\"");
	put_label(b, r->name);
	put(b, "\",subject_kind=\"%s\",subject=\"", agg_kind_name(r->kind));
	put_label(b, x->key);
	put(b, "\",name=\"");
	put_label(b, x->name);
	put(b, "\",severity=\"");
	put_label(b, r->severity);
	put(b, "\",state=\"%s\"} 1\n", agg_state_name(slot->a.state));
}

char *agg_policy_metrics(struct agg_policy *p, const struct agg_health *h, int64_t now_s)
{
	struct buf b = {vm_xmalloc(4096), 0, 4096};
	put(&b,
	    "# HELP vmeter_aggregator_cycles_total Rule cycles completed.\n"
	    "# TYPE vmeter_aggregator_cycles_total counter\n"
	    "vmeter_aggregator_cycles_total %" PRIu64 "\n"
	    "# HELP vmeter_aggregator_cycle_errors_total Rule cycles that failed.\n"
	    "# TYPE vmeter_aggregator_cycle_errors_total counter\n"
	    "vmeter_aggregator_cycle_errors_total %" PRIu64 "\n"
	    "# HELP vmeter_aggregator_last_cycle_duration_seconds How long the last rule cycle took.\n"
	    "# TYPE vmeter_aggregator_last_cycle_duration_seconds gauge\n"
	    "vmeter_aggregator_last_cycle_duration_seconds %.6f\n"
	    "# HELP vmeter_aggregator_last_cycle_timestamp_seconds When the last rule cycle ran.\n"
	    "# TYPE vmeter_aggregator_last_cycle_timestamp_seconds gauge\n"
	    "vmeter_aggregator_last_cycle_timestamp_seconds %" PRId64 "\n"
	    "# HELP vmeter_aggregator_database_up Whether the last cycle reached PostgreSQL.\n"
	    "# TYPE vmeter_aggregator_database_up gauge\n"
	    "vmeter_aggregator_database_up %d\n"
	    "# HELP vmeter_aggregator_rules_loaded Rules in force.\n"
	    "# TYPE vmeter_aggregator_rules_loaded gauge\n"
	    "vmeter_aggregator_rules_loaded %zu\n"
	    "# HELP vmeter_aggregator_series_bytes Memory of the minute series.\n"
	    "# TYPE vmeter_aggregator_series_bytes gauge\n"
	    "vmeter_aggregator_series_bytes %zu\n",
	    h->cycles, h->errors, h->last_duration_s, h->last_cycle_s, h->db_up ? 1 : 0, p->rs->n_rules,
	    agg_series_bytes(p->f.s));
	put(&b, "# HELP vmeter_aggregator_decisions_total Decisions by verdict.\n"
	        "# TYPE vmeter_aggregator_decisions_total counter\n");
	for (int v = 0; v < 3; v++)
		put(&b, "vmeter_aggregator_decisions_total{verdict=\"%s\"} %" PRIu64 "\n",
		    agg_verdict_name((enum agg_verdict)v), p->verdicts[v]);
	put(&b, "# HELP vmeter_aggregator_actions_total Actions finished, by kind and result.\n"
	        "# TYPE vmeter_aggregator_actions_total counter\n");
	for (size_t i = 0; i < p->n_counters; i++) {
		put(&b, "vmeter_aggregator_actions_total{kind=\"");
		put_label(&b, p->counters[i].key);
		put(&b, "\",result=\"%s\"} %" PRIu64 "\n", p->counters[i].result, p->counters[i].n);
	}
	put(&b,
	    "# HELP vmeter_aggregator_actions_running Actions submitted and not finished.\n"
	    "# TYPE vmeter_aggregator_actions_running gauge\n"
	    "vmeter_aggregator_actions_running %zu\n",
	    p->n_jobs);
	put(&b, "# HELP vmeter_aggregator_budget_used Actions in the window of a global budget.\n"
	        "# TYPE vmeter_aggregator_budget_used gauge\n");
	for (size_t i = 0; i < p->rs->n_budgets; i++) {
		int max, used = agg_engine_budget_used(p->e, p->rs->budgets[i].key, now_s * NS, &max);
		put(&b, "vmeter_aggregator_budget_used{kind=\"%s\"} %d\n", p->rs->budgets[i].key, used);
		put(&b, "vmeter_aggregator_budget_max{kind=\"%s\"} %d\n", p->rs->budgets[i].key, max);
	}
	put(&b, "# HELP vmeter_alert_state Alerts not inactive: 1 for the state each is in.\n"
	        "# TYPE vmeter_alert_state gauge\n");
	agg_engine_foreach(p->e, metric_alert, &b);
	return b.s;
}

/* ---------------------------------------------------------------- back-test */

struct bt {
	FILE *out;
};

static void bt_time(FILE *out, int64_t ns)
{
	time_t t = (time_t)(ns / NS);
	char buf[32];
	strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", gmtime(&t));
	fputs(buf, out);
}

static void bt_alert(void *ctx, const struct agg_alert_event *ev)
{
	struct bt *b = ctx;
	if (ev->from == ev->to)
		return;
	bt_time(b->out, ev->at_ns);
	fprintf(b->out, " %s %s %s -> %s %s\n", ev->rule->name, ev->subject->name, agg_state_name(ev->from),
	        agg_state_name(ev->to), ev->values_json ? ev->values_json : "{}");
}

static void bt_decision(void *ctx, const struct agg_decision *d)
{
	struct bt *b = ctx;
	bt_time(b->out, d->at_ns);
	fprintf(b->out, " %s %s %s: %s %s", d->rule->name, d->subject->name, d->status, d->action->key,
	        d->verdict == AGG_VERDICT_ACT ? "would act" : agg_verdict_name(d->verdict));
	if (d->reason)
		fprintf(b->out, " (%s%s%s)", agg_skip_name(d->reason), *d->detail ? ": " : "", d->detail);
	fputc('\n', b->out);
}

int agg_policy_backtest(struct vm_pg *pg, const struct agg_settings *s, const struct agg_ruleset *rs, const char *name,
                        int64_t from_s, int64_t to_s, FILE *out, char *err, size_t errsize)
{
	const struct agg_rule *r = agg_rules_find(rs, name);
	if (!r)
		return 1;
	/* the rule alone, with the windows and budgets of the set */
	struct agg_ruleset one = *rs;
	one.rules = (struct agg_rule *)r;
	one.n_rules = 1;
	struct feeder f;
	feeder_init(&f, &one, s->min_coverage_bp);
	struct agg_engine *e = new_engine(s, &one, f.s, true);
	struct bt b = {out};
	struct agg_engine_hooks h = {&b, bt_alert, bt_decision, NULL};
	int rc = 0;
	unsigned cycles = 0;
	for (int64_t t = from_s; t < to_s; t += s->rules_interval_s) {
		int64_t end = window_end(s, t);
		if (feed(pg, &f, end) < 0) {
			rc = vm_pg_fail(pg, "reading the minutes", err, errsize);
			break;
		}
		struct agg_engine_stats st;
		agg_engine_cycle(e, t * NS, end, &h, &st);
		cycles++;
	}
	if (rc == 0)
		fprintf(out, "backtest %s: %u cycles of %d s\n", name, cycles, s->rules_interval_s);
	agg_engine_free(e);
	feeder_release(&f);
	return rc;
}
