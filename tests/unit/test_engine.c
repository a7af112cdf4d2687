/* aggregator/engine over hand-filled series: `for`, flapping, hysteresis,
 * untrusted minutes, cooldown, the rule's and the global budgets,
 * maintenance, inhibition (a firing host rule, a host not reporting),
 * recommend, dry-run, opt-out, the re-check before acting, a reload that
 * keeps unchanged rules' states, a restored alert, and the series'
 * windowed functions. */
#include "config.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define NS INT64_C(1000000000)
#define MIN (60 * NS)
/* a Wednesday, 2026-10-07 12:00 UTC */
#define T0 (INT64_C(1791374400) * NS)

struct rec {
	char log[8192];
	size_t len;
	int recheck; /* what the re-check answers */
	int rechecks;
};

static void say(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct rec *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	r->len += (size_t)vsnprintf(r->log + r->len, sizeof r->log - r->len, fmt, ap);
	va_end(ap);
}

static void on_alert(void *ctx, const struct agg_alert_event *ev)
{
	if (ev->from != ev->to)
		say(ctx, "%s/%s %s->%s@%lld ", ev->rule->name, ev->subject->key, agg_state_name(ev->from),
		    agg_state_name(ev->to), (long long)((ev->at_ns - T0) / MIN));
}

static void on_decision(void *ctx, const struct agg_decision *d)
{
	say(ctx, "[%s %s %s%s%s] ", d->subject->key, d->action->key, agg_verdict_name(d->verdict), d->reason ? ":" : "",
	    agg_skip_name(d->reason));
}

static int on_recheck(void *ctx, const struct agg_rule *r, const struct agg_subject *x, bool firing)
{
	(void)r, (void)x, (void)firing;
	struct rec *rc = ctx;
	rc->rechecks++;
	return rc->recheck;
}

struct world {
	struct agg_ruleset *rs;
	struct agg_series *s;
	struct agg_engine *e;
	struct rec rec;
	struct agg_engine_hooks h;
};

static void setup(struct world *w, const char *rules, const struct agg_engine_opts *o)
{
	char err[1024];
	memset(w, 0, sizeof *w);
	w->rs = agg_rules_parse("t.rules", rules, strlen(rules), false, err, sizeof err);
	if (!w->rs)
		fail_msg("%s", err);
	w->s = agg_series_new(60 * MIN, 9000);
	struct agg_engine_opts none = {0};
	w->e = agg_engine_new(w->rs, w->s, o ? o : &none);
	w->rec.recheck = 1;
	w->h = (struct agg_engine_hooks){&w->rec, on_alert, on_decision, on_recheck};
}

static void teardown_world(struct world *w)
{
	agg_engine_free(w->e);
	agg_series_free(w->s);
	agg_rules_free(w->rs);
}

/* VM `key` on `host` at minute m (from T0): CPU at pct of its one vCPU. */
static void put(struct world *w, const char *key, const char *host, int m, double pct, int cov)
{
	int vm = agg_series_subject(w->s, AGG_KIND_VM, key);
	const char *tags[] = {"automation=off"};
	agg_series_set_vm(w->s, vm, key, host, "acme", tags, strcmp(key, "optout") == 0);
	struct agg_vm_minute x = {.minute_ns = T0 + m * MIN,
	                          .coverage_ms = cov,
	                          .vcpus = 1,
	                          .cpu_ns = pct / 100 * cov * 1e6,
	                          .delay_ns = 0,
	                          .mem_max_kib = NAN,
	                          .rss_kib = NAN,
	                          .avail_kib = NAN,
	                          .usable_kib = NAN,
	                          .disk_rd = 0,
	                          .disk_wr = 0,
	                          .net_rx = 0,
	                          .net_tx = 0};
	agg_series_put_vm(w->s, vm, agg_series_find(w->s, AGG_KIND_HOST, host), &x);
}

static void put_host(struct world *w, const char *host, int m, double busy_pct)
{
	int h = agg_series_subject(w->s, AGG_KIND_HOST, host);
	struct agg_host_minute x = {.minute_ns = T0 + m * MIN,
	                            .coverage_ms = 60000,
	                            .capacity_ns = 8 * 60e9,
	                            .busy_ns = busy_pct / 100 * 8 * 60e9,
	                            .cpus = 8,
	                            .mem_total_kib = 1 << 20,
	                            .mem_free_kib = 1 << 19,
	                            .vcpus_running = 4,
	                            .vm_mem_kib = 1 << 18,
	                            .vms_running = 2};
	agg_series_put_host(w->s, h, &x);
}

/* The cycle after minute m is in: windows end at m + 1. */
static const char *cycle(struct world *w, int m)
{
	agg_series_finish(w->s, T0 + m * MIN, T0 + (m + 1) * MIN);
	w->rec.len = 0;
	w->rec.log[0] = '\0';
	struct agg_engine_stats st;
	agg_engine_cycle(w->e, T0 + (m + 1) * MIN, T0 + (m + 1) * MIN, &w->h, &st);
	return w->rec.log;
}

static const char *const hot = "rule \"hot\" {\n"
                               "  condition = \"vm.cpu.alloc_pct > 90\"\n"
                               "  recover = \"vm.cpu.alloc_pct < 70\"\n"
                               "  for = 2m\n"
                               "  automation = automatic\n"
                               "  on-firing { program { argv = { \"/bin/true\" } } }\n"
                               "}\n";

static void test_for_flapping_hysteresis(void **state)
{
	(void)state;
	struct world w;
	setup(&w, hot, NULL);
	static const struct {
		double pct;
		int cov;
		const char *says;
	} steps[] = {
	    {95, 60000, "hot/a inactive->pending@1 "},
	    {50, 60000, "hot/a pending->inactive@2 "}, /* a flap shorter than `for` */
	    {95, 60000, "hot/a inactive->pending@3 "},
	    {96, 60000, ""},
	    {20, 30000, ""}, /* half a minute observed: unknown, nothing changes */
	    {97, 60000, "hot/a pending->firing@6 [a program act] "},
	    {80, 60000, ""}, /* between the thresholds: still firing */
	    {95, 60000, ""},
	    {60, 60000, "hot/a firing->resolved@9 "},
	    {80, 60000, ""},
	    {91, 60000, "hot/a resolved->pending@11 "},
	};
	for (int i = 0; i < (int)(sizeof steps / sizeof *steps); i++) {
		put(&w, "a", "hv-1", i, steps[i].pct, steps[i].cov);
		const char *got = cycle(&w, i);
		if (strcmp(got, steps[i].says) != 0)
			fail_msg("minute %d: \"%s\", expected \"%s\"", i, got, steps[i].says);
	}
	/* `for` counts in real time between minutes: cycles on the same
	 * data (no new minute) fire it 2 min after it began pending */
	w.rec.len = 0;
	w.rec.log[0] = '\0';
	struct agg_engine_stats st;
	agg_engine_cycle(w.e, T0 + 12 * MIN, T0 + 11 * MIN, &w.h, &st);
	assert_string_equal(w.rec.log, "");
	assert_int_equal(st.pending, 1);
	assert_int_equal(st.evaluations, 0); /* the cached truth values */
	agg_engine_cycle(w.e, T0 + 13 * MIN, T0 + 11 * MIN, &w.h, &st);
	assert_string_equal(w.rec.log, "hot/a pending->firing@13 [a program act] ");
	/* windows past the data: unknown, it stays firing */
	w.rec.len = 0;
	w.rec.log[0] = '\0';
	agg_engine_cycle(w.e, T0 + 20 * MIN, T0 + 20 * MIN, &w.h, &st);
	assert_string_equal(w.rec.log, "");
	assert_int_equal(st.firing, 1);
	teardown_world(&w);
}

static void test_cooldown_budgets(void **state)
{
	(void)state;
	struct world w;
	setup(&w,
	      "rule \"hot\" {\n"
	      "  condition = \"vm.cpu.alloc_pct > 90\"\n"
	      "  automation = automatic\n"
	      "  cooldown = 5m\n"
	      "  max-actions = 2  max-actions-window = 1h\n"
	      "  on-firing { program { argv = { \"/bin/true\" } } }\n"
	      "}\n"
	      "rule \"warm\" {\n"
	      "  condition = \"vm.cpu.alloc_pct > 80\"\n"
	      "  automation = automatic\n"
	      "  on-firing { webhook { url = \"http://127.0.0.1:1/\" } }\n"
	      "}\n"
	      "budget \"webhook\" { max = 1  window = 10m }\n",
	      NULL);
	put(&w, "a", "hv-1", 0, 95, 60000);
	assert_string_equal(cycle(&w, 0), "hot/a inactive->firing@1 [a program act] warm/a inactive->firing@1 "
	                                  "[a webhook act] ");
	put(&w, "a", "hv-1", 1, 50, 60000);
	assert_string_equal(cycle(&w, 1), "hot/a firing->resolved@2 warm/a firing->resolved@2 ");
	/* again 2 minutes after its action: cooldown; warm: the webhook's
	 * global budget (1 in 10 min) */
	put(&w, "a", "hv-1", 2, 95, 60000);
	assert_string_equal(cycle(&w, 2), "hot/a resolved->firing@3 [a program skipped:cooldown] "
	                                  "warm/a resolved->firing@3 [a webhook skipped:budget] ");
	put(&w, "a", "hv-1", 3, 50, 60000);
	cycle(&w, 3);
	/* past the cooldown: acts (the second of max-actions 2) */
	put(&w, "a", "hv-1", 9, 95, 60000);
	assert_string_equal(cycle(&w, 9), "hot/a resolved->firing@10 [a program act] "
	                                  "warm/a resolved->firing@10 [a webhook skipped:budget] ");
	put(&w, "a", "hv-1", 10, 50, 60000);
	cycle(&w, 10);
	/* another VM: the rule's own budget (2 an hour) is spent; the
	 * webhook's window has passed */
	put(&w, "b", "hv-1", 12, 95, 60000);
	assert_string_equal(cycle(&w, 12), "hot/b inactive->firing@13 [b program skipped:budget] "
	                                   "warm/b inactive->firing@13 [b webhook act] ");
	int max;
	assert_int_equal(agg_engine_budget_used(w.e, "webhook", T0 + 13 * MIN, &max), 1);
	assert_int_equal(max, 1);
	assert_int_equal(agg_engine_budget_used(w.e, "program", T0 + 13 * MIN, &max), 0);
	assert_int_equal(max, -1);
	teardown_world(&w);
}

static void test_safety(void **state)
{
	(void)state;
	struct world w;
	struct agg_engine_opts o = {.opt_out_tag = "automation=off", .host_down_ns = 5 * MIN};
	setup(&w,
	      "maintenance \"m\" { when = \"Wed 12:20-12:30\"  hosts = { \"hv-2\" } }\n"
	      "rule \"hostbusy\" {\n"
	      "  subject = host\n"
	      "  condition = \"host.cpu.busy_pct > 90\"\n"
	      "  inhibit = { \"kind=cap\" }\n"
	      "}\n"
	      "rule \"hot\" {\n"
	      "  condition = \"vm.cpu.alloc_pct > 90\"\n"
	      "  automation = automatic\n"
	      "  labels { kind = cap }\n"
	      "  on-firing { virt { op = suspend } }\n"
	      "}\n"
	      "rule \"rec\" {\n"
	      "  condition = \"vm.cpu.alloc_pct > 90\"\n"
	      "  hosts = { \"hv-1\" }\n"
	      "  on-firing { program { argv = { \"/bin/true\" } } }\n"
	      "}\n"
	      "rule \"dry\" {\n"
	      "  condition = \"vm.cpu.alloc_pct > 90\"\n"
	      "  hosts = { \"hv-1\" }\n"
	      "  automation = automatic  dry-run = yes\n"
	      "  on-firing { program { argv = { \"/bin/true\" } } }\n"
	      "}\n",
	      &o);
	/* hv-1 busy (its rule fires and inhibits kind=cap on it); hv-2 idle */
	put_host(&w, "hv-1", 0, 95);
	put_host(&w, "hv-2", 0, 10);
	put(&w, "a", "hv-1", 0, 95, 60000);
	put(&w, "b", "hv-2", 0, 95, 60000);
	put(&w, "optout", "hv-2", 0, 95, 60000);
	assert_string_equal(cycle(&w, 0), "hostbusy/hv-1 inactive->firing@1 "
	                                  "hot/a inactive->firing@1 [a virt.suspend skipped:inhibited] "
	                                  "hot/b inactive->firing@1 [b virt.suspend act] "
	                                  "hot/optout inactive->firing@1 [optout virt.suspend skipped:opt-out] "
	                                  "rec/a inactive->firing@1 [a program recommend] "
	                                  "dry/a inactive->firing@1 [a program skipped:dry-run] ");
	assert_int_equal(w.rec.rechecks, 1);
	/* the world changed before acting */
	w.rec.recheck = 0;
	put(&w, "c", "hv-2", 1, 95, 60000);
	put_host(&w, "hv-1", 1, 95);
	put_host(&w, "hv-2", 1, 10);
	assert_string_equal(cycle(&w, 1), "hot/c inactive->firing@2 [c virt.suspend skipped:world-changed] ");
	/* maintenance on hv-2 from 12:20 */
	put(&w, "d", "hv-2", 20, 95, 60000);
	put_host(&w, "hv-2", 20, 10);
	w.rec.recheck = 1;
	assert_string_equal(cycle(&w, 20), "hot/d inactive->firing@21 [d virt.suspend skipped:maintenance] ");
	/* hv-1's collector silent since minute 1: its VMs' alerts are
	 * silenced (and the data of its VMs from another source still
	 * counts) */
	put(&w, "e", "hv-1", 30, 95, 60000);
	put_host(&w, "hv-2", 30, 10);
	const char *got = cycle(&w, 30);
	assert_non_null(strstr(got, "hot/e inactive->firing@31 [e virt.suspend skipped:inhibited] "));
	teardown_world(&w);
}

static void test_reload_restore(void **state)
{
	(void)state;
	struct world w;
	setup(&w, hot, NULL);
	for (int i = 0; i < 3; i++)
		put(&w, "a", "hv-1", i, 95, 60000);
	cycle(&w, 0);
	cycle(&w, 1);
	assert_string_equal(cycle(&w, 2), "hot/a pending->firing@3 [a program act] ");
	/* the same rule in a new set: still firing, no second action */
	char err[512];
	struct agg_ruleset *rs2 = agg_rules_parse("t2.rules", hot, strlen(hot), false, err, sizeof err);
	agg_engine_set_rules(w.e, rs2);
	agg_rules_free(w.rs);
	w.rs = rs2;
	put(&w, "a", "hv-1", 3, 95, 60000);
	assert_string_equal(cycle(&w, 3), "");
	/* a changed rule starts over */
	const char *changed = "rule \"hot\" { condition = \"vm.cpu.alloc_pct > 91\" }\n";
	struct agg_ruleset *rs3 = agg_rules_parse("t3.rules", changed, strlen(changed), false, err, sizeof err);
	agg_engine_set_rules(w.e, rs3);
	agg_rules_free(w.rs);
	w.rs = rs3;
	put(&w, "a", "hv-1", 4, 95, 60000);
	assert_string_equal(cycle(&w, 4), "hot/a inactive->firing@5 ");
	teardown_world(&w);

	/* a restart: the alert restored firing, its action's time counted */
	setup(&w, hot, NULL);
	struct agg_alert_slot x = {.a = {.state = AGG_FIRING, .since_ns = T0, .pending_since_ns = T0 - 2 * MIN},
	                           .last_action_ns = T0,
	                           .alert_id = 7};
	assert_null(agg_engine_restore(w.e, "hot", "0000000000000000", "a", &x));
	struct agg_alert_slot *got = agg_engine_restore(w.e, "hot", w.rs->rules[0].digest, "a", &x);
	assert_non_null(got);
	assert_int_equal(got->alert_id, 7);
	put(&w, "a", "hv-1", 5, 95, 60000);
	assert_string_equal(cycle(&w, 5), "");
	put(&w, "a", "hv-1", 6, 50, 60000);
	assert_string_equal(cycle(&w, 6), "hot/a firing->resolved@7 ");
	teardown_world(&w);
}

static void test_series(void **state)
{
	(void)state;
	struct agg_series *s = agg_series_new(10 * MIN, 9000);
	int vm = agg_series_subject(s, AGG_KIND_VM, "u");
	assert_int_equal(agg_series_subject(s, AGG_KIND_VM, "u"), vm);
	assert_int_equal(agg_series_find(s, AGG_KIND_VM, "v"), -1);
	for (int i = 0; i < 100; i++) /* the hash grows */
		agg_series_subject(s, AGG_KIND_VM, (char[]){(char)('A' + i % 26), (char)('a' + i / 26), 0});
	assert_int_equal(agg_series_find(s, AGG_KIND_VM, "Ba"), 1 + 1);
	agg_series_set_vm(s, vm, "vm-u", "hv", "t", NULL, 0);
	int h = agg_series_find(s, AGG_KIND_HOST, "hv");
	/* minutes 0..9: 10, 20, ... 100 % of 2 vCPUs; the host 4 CPUs */
	for (int i = 0; i < 10; i++) {
		struct agg_vm_minute m = {.minute_ns = T0 + i * MIN,
		                          .coverage_ms = 60000,
		                          .vcpus = 2,
		                          .cpu_ns = (i + 1) / 10.0 * 2 * 60e9,
		                          .delay_ns = 0.05 * 2 * 60e9,
		                          .mem_max_kib = 1000,
		                          .rss_kib = 500,
		                          .avail_kib = 800,
		                          .usable_kib = 200,
		                          .disk_rd = 6000,
		                          .disk_wr = NAN,
		                          .net_rx = 60,
		                          .net_tx = 0};
		agg_series_put_vm(s, vm, h, &m);
		struct agg_host_minute hm = {.minute_ns = T0 + i * MIN,
		                             .coverage_ms = 60000,
		                             .capacity_ns = 4 * 60e9,
		                             .busy_ns = 60e9,
		                             .cpus = 4,
		                             .mem_total_kib = 100,
		                             .mem_free_kib = 25,
		                             .vcpus_running = 6,
		                             .vm_mem_kib = 50,
		                             .vms_running = 1};
		agg_series_put_host(s, h, &hm);
	}
	agg_series_finish(s, T0, T0 + 10 * MIN);
	int64_t end = T0 + 10 * MIN;
	double v;
	struct agg_query q = {.metric = AGG_M_VM_CPU_ALLOC, .fn = AGG_FN_AVG, .window_ns = 10 * MIN};
	assert_int_equal(agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v), 0);
	assert_true(fabs(v - 55) < 1e-3);
	q.fn = AGG_FN_PCT, q.pct = 90;
	assert_int_equal(agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v), 0);
	assert_true(fabs(v - 90) < 1e-3); /* nearest rank: the 9th of 10 */
	q.fn = AGG_FN_MAX;
	agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v);
	assert_true(fabs(v - 100) < 1e-3);
	q.fn = AGG_FN_MIN, q.window_ns = 3 * MIN;
	agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v);
	assert_true(fabs(v - 80) < 1e-3);
	q.fn = AGG_FN_LAST, q.window_ns = 0;
	agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v);
	assert_true(fabs(v - 100) < 1e-3);
	q.fn = AGG_FN_COUNT, q.window_ns = 5 * MIN;
	agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v);
	assert_true(v == 5);
	q = (struct agg_query){.metric = AGG_M_VM_CPU_HOST, .fn = AGG_FN_LAST};
	agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v);
	assert_true(fabs(v - 50) < 1e-3); /* 2 CPUs' worth of 4 */
	q.metric = AGG_M_VM_USED_PCT;
	agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v);
	assert_true(fabs(v - 60) < 1e-3);
	q.metric = AGG_M_VM_DISK_RD;
	agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v);
	assert_true(fabs(v - 100) < 1e-3);
	q.metric = AGG_M_VM_DISK_WR; /* not measured: unknown */
	assert_int_equal(agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v), -1);
	/* a VM rule reads its host's metrics; host sums of its VMs */
	q.metric = AGG_M_HOST_BUSY;
	agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v);
	assert_true(fabs(v - 25) < 1e-3);
	q.metric = AGG_M_HOST_DEMAND;
	agg_series_query(s, AGG_KIND_HOST, h, &q, end, &v);
	assert_true(fabs(v - 50) < 1e-3);
	q.metric = AGG_M_HOST_DELAY;
	agg_series_query(s, AGG_KIND_HOST, h, &q, end, &v);
	assert_true(fabs(v - 5) < 1e-3);
	q.metric = AGG_M_HOST_VCPU_RATIO;
	agg_series_query(s, AGG_KIND_HOST, h, &q, end, &v);
	assert_true(fabs(v - 1.5) < 1e-3);
	int t = agg_series_find(s, AGG_KIND_TENANT, "t");
	q.metric = AGG_M_TENANT_CORES;
	agg_series_query(s, AGG_KIND_TENANT, t, &q, end, &v);
	assert_true(fabs(v - 2) < 1e-3);
	q.metric = AGG_M_TENANT_NET;
	agg_series_query(s, AGG_KIND_TENANT, t, &q, end, &v);
	assert_true(fabs(v - 1) < 1e-3);
	/* coverage: 8 of 10 minutes is below 90 %; 9 of 10 is not */
	q = (struct agg_query){.metric = AGG_M_VM_CPU_ALLOC, .fn = AGG_FN_AVG, .window_ns = 10 * MIN};
	agg_series_forget(s, T0, T0 + MIN);
	assert_int_equal(agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v), 0);
	agg_series_forget(s, T0 + MIN, T0 + 2 * MIN);
	assert_int_equal(agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v), -1);
	/* a window longer than kept is unknown */
	q.window_ns = 60 * MIN;
	assert_int_equal(agg_series_query(s, AGG_KIND_VM, vm, &q, end, &v), -1);
	assert_true(agg_series_bytes(s) > 0);
	agg_series_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_for_flapping_hysteresis),
	    cmocka_unit_test(test_cooldown_budgets),
	    cmocka_unit_test(test_safety),
	    cmocka_unit_test(test_reload_restore),
	    cmocka_unit_test(test_series),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
