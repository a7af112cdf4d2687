/* The daemon's side of the policies (docs/POLICIES.md): the minute series
 * filled from PostgreSQL once a minute, the engine's cycle with every
 * alert change, transition and decision written in one transaction, the
 * actions submitted after it commits, their results and follow-ups
 * stored, and a restart resuming each alert from its row.
 *
 * At most once: a decision to act is committed before its action is
 * submitted; a daemon killed in between leaves it without a result, and
 * the next start marks it 'abandoned' instead of running it again.  A
 * cycle whose transaction fails is forgotten whole: the engine is built
 * again from the rows at the next cycle. */
#ifndef AGG_POLICY_H
#define AGG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pg.h"
#include "rules.h"
#include "settings.h"

struct agg_policy;

/* Takes rs.  NULL with err if the action runner cannot start. */
struct agg_policy *agg_policy_new(const struct agg_settings *s, struct agg_ruleset *rs, char *err, size_t errsize);
/* Stops the runner (running actions get a grace, then are killed or
 * abandoned: their decisions stay without a result, 'abandoned' at the
 * next start). */
void agg_policy_free(struct agg_policy *p);

/* A reload: takes rs and the settings; alerts of unchanged rules keep
 * their state. */
void agg_policy_set_rules(struct agg_policy *p, struct agg_ruleset *rs, const struct agg_settings *s);

/* One rule cycle at now (UTC seconds): 0, or -1 with err (the database
 * failed; the cycle's changes are forgotten). */
int agg_policy_cycle(struct agg_policy *p, struct vm_pg *pg, int64_t now_s, char *err, size_t errsize);

/* The runner's descriptor (readable while results wait), and storing the
 * results that wait: 0 or -1 (kept for the next try). */
int agg_policy_fd(const struct agg_policy *p);
int agg_policy_results(struct agg_policy *p, struct vm_pg *pg, char *err, size_t errsize);

/* The Prometheus text of /metrics: the daemon's health and the alerts'
 * states.  A new string the caller frees.  db_up and the cycle figures
 * are the caller's. */
struct agg_health {
	uint64_t cycles, errors;
	double last_duration_s;
	int64_t last_cycle_s;
	bool db_up;
};
char *agg_policy_metrics(struct agg_policy *p, const struct agg_health *h, int64_t now_s);

/* Back-test: evaluates rule `name` on the recorded minutes of [from, to)
 * cycle by cycle (every interval_s), with the same engine, budgets and
 * cooldowns, acting on nothing and writing nothing; prints each
 * transition and what would have been decided to out.  0, 1 no such rule,
 * -1 the database failed (err). */
int agg_policy_backtest(struct vm_pg *pg, const struct agg_settings *s, const struct agg_ruleset *rs, const char *name,
                        int64_t from_s, int64_t to_s, FILE *out, char *err, size_t errsize);

#endif
