/* The policy engine: each cycle, every rule on every subject in its
 * scope, from the minute series (series.h) through the alert state
 * machine (alert.h), and on firing and resolving a decision per action:
 * act, recommend only, or skipped (dry-run, opt-out, cooldown, budget,
 * maintenance, inhibited, world changed).  docs/POLICIES.md.
 *
 * Pure: what it decides goes to the caller's hooks, which persist it and
 * run the actions (the daemon) or print it (a back-test).  Times are the
 * caller's, so history replays with the same code. */
#ifndef AGG_ENGINE_H
#define AGG_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "rules.h"
#include "series.h"

enum agg_verdict { AGG_VERDICT_ACT, AGG_VERDICT_RECOMMEND, AGG_VERDICT_SKIP };
enum agg_skip {
	AGG_SKIP_NONE,
	AGG_SKIP_DRY_RUN,
	AGG_SKIP_OPT_OUT,
	AGG_SKIP_COOLDOWN,
	AGG_SKIP_BUDGET,
	AGG_SKIP_MAINTENANCE,
	AGG_SKIP_INHIBITED,
	AGG_SKIP_WORLD_CHANGED,
};
/* "act", "recommend", "skipped"; "dry-run", "opt-out", "cooldown", "budget",
 * "maintenance", "inhibited", "world-changed" ("" for none). */
const char *agg_verdict_name(enum agg_verdict v);
const char *agg_skip_name(enum agg_skip s);

/* An alert as the engine keeps it: the state machine's state, when its
 * last action was, and the caller's id of it (the database's). */
struct agg_alert_slot {
	struct agg_alert a;
	int64_t last_action_ns; /* 0: none */
	int64_t alert_id;       /* the caller's; 0 until it sets one */
	int64_t episode_ns;     /* when the firing episode began (starts_at) */
	/* the cache of the last evaluation */
	uint64_t gen;
	int64_t end_ns;
	int8_t cond, rec;
};

/* A change of an alert's kept fields: a transition (from != to), or a
 * recovery beginning or ending while firing, or an action taken. */
struct agg_alert_event {
	const struct agg_rule *rule;
	const struct agg_subject *subject;
	struct agg_alert_slot *slot; /* the caller may set slot->alert_id */
	enum agg_state from, to;
	int64_t at_ns;
	bool trusted;
	const char *values_json; /* the condition's values; NULL unless a transition */
};

struct agg_decision {
	const struct agg_rule *rule;
	const struct agg_subject *subject;
	struct agg_alert_slot *slot;
	const char *status; /* "firing" or "resolved" */
	const struct agg_rule_action *action;
	enum agg_verdict verdict;
	enum agg_skip reason;
	const char *detail; /* the window, the budget, the inhibitor: "" if none */
	int64_t at_ns;
	const char *values_json;
};

struct agg_engine_hooks {
	void *ctx;
	void (*alert)(void *ctx, const struct agg_alert_event *ev);
	void (*decision)(void *ctx, const struct agg_decision *d);
	/* The condition (firing) or recovery (resolved) again on fresh data
	 * just before acting: 1 it holds, 0 it does not, -1 unknown (both
	 * skip).  NULL: no re-check (a back-test). */
	int (*recheck)(void *ctx, const struct agg_rule *r, const struct agg_subject *subject, bool firing);
};

struct agg_engine_opts {
	bool dry_run;            /* global: nothing acts */
	bool simulate;           /* a back-test: recommend and dry-run act (nothing is run) */
	const char *opt_out_tag; /* "key=value": a VM with it gets no virt action; NULL: none */
	int64_t host_down_ns;    /* a host without minutes this long silences its VMs' alerts; 0: never */
};

struct agg_engine_stats {
	unsigned rules, evaluations, transitions, firing, pending;
	unsigned verdicts[3];
};

struct agg_engine;

/* Borrows rs and s (kept alive by the caller while the engine uses them). */
struct agg_engine *agg_engine_new(const struct agg_ruleset *rs, struct agg_series *s, const struct agg_engine_opts *o);
void agg_engine_free(struct agg_engine *e);

/* Swaps the rule set: alerts of rules of the same name and digest keep
 * their state, the others start inactive; budgets are counted again from
 * the actions taken.  The old set may be freed after. */
void agg_engine_set_rules(struct agg_engine *e, const struct agg_ruleset *rs);

/* A persisted alert back (a restart): ignored unless a rule of that name
 * and digest exists (a changed rule starts over).  Returns its slot or NULL. */
struct agg_alert_slot *agg_engine_restore(struct agg_engine *e, const char *rule, const char *digest,
                                          const char *subject_key, const struct agg_alert_slot *slot);
/* An action taken before (a restart): counted in the budgets. */
void agg_engine_restore_action(struct agg_engine *e, const char *rule, const char *key, int64_t at_ns);

/* One cycle at now_ns, the windows ending at end_ns. */
void agg_engine_cycle(struct agg_engine *e, int64_t now_ns, int64_t end_ns, const struct agg_engine_hooks *h,
                      struct agg_engine_stats *st);

/* The values of the queries of a rule's condition for a subject, a JSON
 * object ({"avg(vm.cpu.alloc_pct,15m)":93.5, ...}, null where unknown):
 * a new string the caller frees; *cond the condition (1, 0, -1). */
char *agg_engine_values(const struct agg_engine *e, const struct agg_rule *r, int subject, int64_t end_ns, int *cond);

/* Every alert not inactive, for /metrics and listings. */
typedef void (*agg_engine_alert_cb)(void *ctx, const struct agg_rule *r, const struct agg_subject *subject,
                                    const struct agg_alert_slot *slot);
void agg_engine_foreach(const struct agg_engine *e, agg_engine_alert_cb cb, void *ctx);

/* Actions counted now in a kind's global budget, and its maximum (-1: no budget). */
int agg_engine_budget_used(struct agg_engine *e, const char *key, int64_t now_ns, int *max);

#endif
