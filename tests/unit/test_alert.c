/* aggregator/alert: `for`, flapping, hysteresis, gaps in the data, new
 * episodes, evaluations out of order, a restart from the persisted state,
 * and action budgets and cooldowns. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"

#define S INT64_C(1000000000)
#define MIN (60 * S)

static enum agg_state ev(struct agg_alert *a, const struct agg_timing *t, bool cond, bool recover, int64_t now)
{
	return agg_alert_eval(a, t, cond, recover, true, now);
}

static void test_for(void **state)
{
	(void)state;
	const struct agg_timing t = {.for_ns = MIN};
	struct agg_alert a = {0};
	assert_int_equal(ev(&a, &t, false, true, 10 * S), AGG_INACTIVE);
	assert_int_equal(ev(&a, &t, true, false, 20 * S), AGG_PENDING);
	assert_int_equal(a.since_ns, 20 * S);
	assert_int_equal(ev(&a, &t, true, false, 50 * S), AGG_PENDING);
	assert_int_equal(ev(&a, &t, true, false, 79 * S), AGG_PENDING);
	assert_int_equal(ev(&a, &t, true, false, 80 * S), AGG_FIRING); /* held 60 s */
	assert_int_equal(a.since_ns, 80 * S);
	assert_int_equal(a.pending_since_ns, 20 * S);
	/* no `for`: at once */
	const struct agg_timing now = {0};
	struct agg_alert b = {0};
	assert_int_equal(ev(&b, &now, true, false, S), AGG_FIRING);
	assert_string_equal(agg_state_name(AGG_FIRING), "firing");
	assert_null(agg_state_name((enum agg_state)9));
}

/* A condition that comes and goes faster than `for` never fires. */
static void test_flapping(void **state)
{
	(void)state;
	const struct agg_timing t = {.for_ns = MIN};
	struct agg_alert a = {0};
	int pendings = 0;
	for (int k = 0; k < 100; k++) {
		bool cond = (k / 2) % 2 == 0; /* 20 s on, 20 s off */
		enum agg_state before = a.state, s = ev(&a, &t, cond, !cond, k * 10 * S);
		assert_int_not_equal(s, AGG_FIRING);
		pendings += s == AGG_PENDING && before != AGG_PENDING;
	}
	assert_int_equal(pendings, 25);
}

static void test_hysteresis(void **state)
{
	(void)state;
	/* fire above 90, recover below 70: a value between keeps it firing */
	const struct agg_timing t = {.for_ns = 0, .recover_for_ns = 30 * S};
	struct agg_alert a = {0};
	static const int values[] = {95, 85, 75, 72, 65, 80, 60, 60, 60, 60, 95};
	static const enum agg_state want[] = {AGG_FIRING, AGG_FIRING, AGG_FIRING, AGG_FIRING,   AGG_FIRING, AGG_FIRING,
	                                      AGG_FIRING, AGG_FIRING, AGG_FIRING, AGG_RESOLVED, AGG_FIRING};
	for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
		enum agg_state s = ev(&a, &t, values[i] > 90, values[i] < 70, (int64_t)i * 10 * S);
		if (s != want[i])
			fail_msg("step %zu (value %d): %s, want %s", i, values[i], agg_state_name(s),
			         agg_state_name(want[i]));
	}
	/* 65 at 40 s, then 80 at 50 s: the recovery began again at 60 s, held 30 s at 90 s */
	assert_int_equal(a.pending_since_ns, 100 * S); /* the new episode */
}

/* Evaluations on data that cannot be trusted change nothing. */
static void test_gaps(void **state)
{
	(void)state;
	const struct agg_timing t = {.for_ns = MIN};
	struct agg_alert a = {0};
	assert_int_equal(ev(&a, &t, true, false, 0), AGG_PENDING);
	/* a gap reads as "idle" (cond false): ignored */
	assert_int_equal(agg_alert_eval(&a, &t, false, true, false, 30 * S), AGG_PENDING);
	assert_int_equal(ev(&a, &t, true, false, 60 * S), AGG_FIRING);
	assert_int_equal(agg_alert_eval(&a, &t, false, true, false, 90 * S), AGG_FIRING);
	assert_int_equal(ev(&a, &t, false, true, 100 * S), AGG_RESOLVED);
	/* an evaluation older than the last is ignored */
	assert_int_equal(ev(&a, &t, true, false, 50 * S), AGG_RESOLVED);
	assert_int_equal(a.last_eval_ns, 100 * S);
}

/* A random run against the rule's meaning: the alert fires only after
 * the condition held in every trusted evaluation for `for`, resolves
 * only after the recovery held for `recover_for`; and a run that is
 * stopped and resumed from the saved struct (a daemon restart) makes
 * the same transitions. */
static void test_random(void **state)
{
	(void)state;
	uint64_t x = 77;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
	for (int run = 0; run < 200; run++) {
		const struct agg_timing t = {(int64_t)(RND() % 5) * 10 * S, (int64_t)(RND() % 4) * 10 * S};
		struct agg_alert a = {0}, b = {0};
		enum { N = 300 };
		bool cond[N], rec[N], ok[N];
		int64_t at[N];
		for (int i = 0; i < N; i++) {
			at[i] = (int64_t)i * 10 * S;
			cond[i] = RND() % 3 != 0;
			rec[i] = !cond[i] && RND() % 2;
			ok[i] = RND() % 8 != 0;
			enum agg_state before = a.state, s = agg_alert_eval(&a, &t, cond[i], rec[i], ok[i], at[i]);
			if (i == N / 2) {
				/* a restart: b comes back from the columns a daemon stores */
				struct agg_alert saved = {.state = b.state,
				                          .since_ns = b.since_ns,
				                          .pending_since_ns = b.pending_since_ns,
				                          .recover_since_ns = b.recover_since_ns,
				                          .last_eval_ns = b.last_eval_ns};
				memset(&b, 0xa5, sizeof b);
				b = saved;
			}
			assert_int_equal(agg_alert_eval(&b, &t, cond[i], rec[i], ok[i], at[i]), s);
			if (s == AGG_FIRING && before != AGG_FIRING) {
				assert_true(ok[i] && cond[i]);
				for (int j = i; j >= 0 && at[j] >= a.pending_since_ns; j--)
					assert_true(!ok[j] || cond[j]);
				assert_true(at[i] - a.pending_since_ns >= t.for_ns);
			}
			if (s == AGG_RESOLVED && before != AGG_RESOLVED) {
				for (int j = i; j >= 0 && at[j] >= at[i] - t.recover_for_ns; j--)
					assert_true(!ok[j] || rec[j]);
			}
		}
	}
}

static void test_budget(void **state)
{
	(void)state;
	/* 5 migrations an hour */
	struct agg_budget *b = agg_budget_new(5, 60 * MIN);
	for (int i = 0; i < 5; i++)
		assert_true(agg_budget_allow(b, i * MIN, true));
	assert_false(agg_budget_allow(b, 10 * MIN, true));
	assert_int_equal(agg_budget_used(b, 10 * MIN), 5);
	/* the window is (now - 1 h, now]: the first is out of it at 60 min */
	assert_false(agg_budget_allow(b, 60 * MIN - 1, true));
	assert_true(agg_budget_allow(b, 60 * MIN, false)); /* asked, not taken */
	assert_int_equal(agg_budget_used(b, 60 * MIN), 4);
	assert_true(agg_budget_allow(b, 60 * MIN, true));
	assert_false(agg_budget_allow(b, 60 * MIN + 1, true));
	assert_true(agg_budget_allow(b, 61 * MIN, true));
	assert_int_equal(agg_budget_used(b, 61 * MIN), 5);
	assert_int_equal(agg_budget_used(b, 200 * MIN), 0);
	agg_budget_free(b);
	/* a cooldown is a budget of one */
	struct agg_budget *c = agg_budget_new(1, 10 * MIN);
	assert_true(agg_budget_allow(c, 0, true));
	assert_false(agg_budget_allow(c, 9 * MIN, true));
	assert_true(agg_budget_allow(c, 10 * MIN + 1, true));
	agg_budget_free(c);
	struct agg_budget *none = agg_budget_new(0, MIN);
	assert_false(agg_budget_allow(none, 0, true));
	agg_budget_free(none);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_for),  cmocka_unit_test(test_flapping), cmocka_unit_test(test_hysteresis),
	    cmocka_unit_test(test_gaps), cmocka_unit_test(test_random),   cmocka_unit_test(test_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
