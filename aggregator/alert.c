/* aggregator/alert: alert states and action budgets (alert.h). */
#include "config.h"

#include "alert.h"

#include <stdlib.h>

#include "xalloc.h"

const char *agg_state_name(enum agg_state s)
{
	static const char *const names[] = {"inactive", "pending", "firing", "resolved"};
	return (unsigned)s < sizeof names / sizeof *names ? names[s] : NULL;
}

static enum agg_state enter(struct agg_alert *a, enum agg_state s, int64_t now)
{
	a->state = s;
	a->since_ns = now;
	return s;
}

enum agg_state agg_alert_eval(struct agg_alert *a, const struct agg_timing *t, bool cond, bool recover, bool data_ok,
                              int64_t now)
{
	if (now < a->last_eval_ns)
		return a->state;
	a->last_eval_ns = now;
	if (!data_ok)
		return a->state; /* a gap proves nothing either way */
	switch (a->state) {
	case AGG_INACTIVE:
	case AGG_RESOLVED:
		if (!cond)
			return a->state;
		a->pending_since_ns = now;
		a->recover_since_ns = 0;
		if (t->for_ns <= 0)
			return enter(a, AGG_FIRING, now);
		return enter(a, AGG_PENDING, now);
	case AGG_PENDING:
		if (!cond)
			return enter(a, AGG_INACTIVE, now);
		if (now - a->pending_since_ns >= t->for_ns)
			return enter(a, AGG_FIRING, now);
		return a->state;
	case AGG_FIRING:
		/* Only the recovery condition ends it: between the two
		 * thresholds the alert keeps firing. */
		if (!recover) {
			a->recover_since_ns = 0;
			return a->state;
		}
		if (!a->recover_since_ns)
			a->recover_since_ns = now;
		if (now - a->recover_since_ns >= t->recover_for_ns)
			return enter(a, AGG_RESOLVED, now);
		return a->state;
	}
	return a->state;
}

/* The times of the actions taken, a ring of `max`: an action fits if the
 * oldest of the last `max` is out of the window. */
struct agg_budget {
	unsigned max, n, head;
	int64_t window_ns;
	int64_t *at;
};

struct agg_budget *agg_budget_new(unsigned max, int64_t window_ns)
{
	struct agg_budget *b = vm_xcalloc(1, sizeof *b);
	b->max = max;
	b->window_ns = window_ns;
	b->at = vm_xcalloc(max ? max : 1, sizeof *b->at);
	return b;
}

void agg_budget_free(struct agg_budget *b)
{
	if (!b)
		return;
	free(b->at);
	free(b);
}

unsigned agg_budget_used(struct agg_budget *b, int64_t now)
{
	unsigned used = 0;
	for (unsigned i = 0; i < b->n; i++) {
		int64_t at = b->at[(b->head + i) % b->max];
		used += at > now - b->window_ns && at <= now;
	}
	return used;
}

bool agg_budget_allow(struct agg_budget *b, int64_t now, bool take)
{
	if (b->max == 0)
		return false;
	/* The oldest kept is the one `max` actions ago. */
	if (b->n == b->max && b->at[b->head] > now - b->window_ns)
		return false;
	if (take) {
		if (b->n < b->max) {
			b->at[(b->head + b->n) % b->max] = now;
			b->n++;
		} else {
			b->at[b->head] = now;
			b->head = (b->head + 1) % b->max;
		}
	}
	return true;
}
