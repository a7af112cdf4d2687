/* The alert state machine of a rule for one subject (a VM, a host, a
 * tenant), and the limits on the actions alerts trigger.
 *
 *   inactive --cond--> pending --cond held `for`--> firing
 *   pending --!cond--> inactive               (a flap shorter than `for`)
 *   firing --recover held `recover_for`--> resolved
 *   resolved --cond--> pending                (a new episode)
 *
 * The recovery condition is separate from the firing one (hysteresis: fire
 * above 90 %, recover below 70 %, and between the two an alert keeps its
 * state).  An evaluation without trustworthy data (minutes partly covered
 * or recorded as lost) changes nothing: a gap is never read as idle or as
 * recovered.  Pure logic on times given by the caller, so the daemon's
 * clock, a back-test over history and the tests drive it alike; the state
 * is plain data the daemon persists, so a restart resumes each alert. */
#ifndef AGG_ALERT_H
#define AGG_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum agg_state { AGG_INACTIVE, AGG_PENDING, AGG_FIRING, AGG_RESOLVED };

/* "inactive", "pending", "firing", "resolved"; NULL outside the enum. */
const char *agg_state_name(enum agg_state s);

struct agg_timing {
	int64_t for_ns;         /* cond must hold this long before firing; 0: at once */
	int64_t recover_for_ns; /* recover must hold this long before resolving; 0: at once */
};

/* One alert's state: persisted as it is. */
struct agg_alert {
	enum agg_state state;
	int64_t since_ns;         /* when it entered `state` */
	int64_t pending_since_ns; /* when cond began to hold (pending and firing) */
	int64_t recover_since_ns; /* when recover began to hold while firing; 0: it does not */
	int64_t last_eval_ns;     /* the last evaluation taken; 0: none */
};

/* One evaluation at `now` (>= the last one's): whether the firing and
 * the recovery conditions hold, and whether the data they were computed
 * on can be trusted.  Returns the state entered, or the same state if
 * none was: a caller acts on the change.  An evaluation older than the
 * last one is ignored (a back-test or a clock that stepped back). */
enum agg_state agg_alert_eval(struct agg_alert *a, const struct agg_timing *t, bool cond, bool recover, bool data_ok,
                              int64_t now);

/* A limit of at most `max` actions in any window of `window_ns` (a
 * policy's budget, or the global one: "5 migrations an hour"). */
struct agg_budget;

struct agg_budget *agg_budget_new(unsigned max, int64_t window_ns);
void agg_budget_free(struct agg_budget *b);
/* Whether an action at `now` fits; if it does and `take`, it is counted. */
bool agg_budget_allow(struct agg_budget *b, int64_t now, bool take);
/* Actions counted in the window ending at `now`. */
unsigned agg_budget_used(struct agg_budget *b, int64_t now);

#endif
