/* aggregator/rules: a rule file with every option read back, and every
 * bad file of tests/data/rules/bad.txt refused with FILE:LINE and the
 * rule named; maintenance windows in UTC. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "rules.h"

#define NS INT64_C(1000000000)

static void test_good(void **state)
{
	(void)state;
	char err[512] = "";
	struct agg_ruleset *rs = agg_rules_load(TEST_DATA_DIR "/rules/good.conf", false, err, sizeof err);
	if (!rs)
		fail_msg("%s", err);
	assert_int_equal(rs->n_rules, 3);
	const struct agg_rule *r = agg_rules_find(rs, "vm-cpu-hot");
	assert_non_null(r);
	assert_int_equal(r->line, 9);
	assert_int_equal(r->kind, AGG_KIND_VM);
	assert_int_equal(r->timing.for_ns, 600 * NS);
	assert_int_equal(r->timing.recover_for_ns, 300 * NS);
	assert_non_null(r->recover);
	assert_string_equal(r->severity, "critical");
	assert_int_equal(r->n_labels, 2);
	assert_string_equal(r->label_keys[1], "kind");
	assert_string_equal(r->label_values[1], "capacity");
	assert_int_equal(r->n_hosts, 1);
	assert_string_equal(r->tenants[0], "acme");
	assert_string_equal(r->tags[0], "env=prod");
	assert_int_equal(r->automation, AGG_AUTO_AUTOMATIC);
	assert_false(r->dry_run);
	assert_int_equal(r->cooldown_ns, 1800 * NS);
	assert_int_equal(r->max_actions, 3);
	assert_int_equal(r->max_actions_window_ns, 3600 * NS);
	assert_int_equal(r->follow_up_ns, 900 * NS);
	assert_int_equal(r->n_on_firing, 3);
	const struct agg_action_spec *p = &r->on_firing[0].spec;
	assert_int_equal(p->kind, AGG_ACT_PROGRAM);
	assert_int_equal(p->argc, 3);
	assert_string_equal(p->argv[2], "vm-cpu-hot");
	assert_int_equal(p->timeout_ns, 5 * NS);
	assert_string_equal(r->on_firing[0].key, "program");
	const struct agg_action_spec *w = &r->on_firing[1].spec;
	assert_string_equal(w->url, "http://127.0.0.1:9093/hook");
	assert_int_equal(w->max_attempts, 3);
	assert_int_equal(w->backoff_ns, 2 * NS);
	assert_string_equal(w->receiver, "vm-cpu-hot");
	assert_int_equal(r->on_firing[2].spec.op, AGG_VIRT_SET_VCPUS);
	assert_int_equal(r->on_firing[2].spec.amount, 4);
	assert_string_equal(r->on_firing[2].key, "virt.set-vcpus");
	assert_int_equal(r->n_on_resolved, 1);
	assert_string_equal(r->on_resolved[0].spec.dest_uri, "qemu+ssh://hv-9/system");
	assert_string_equal(r->on_resolved[0].key, "virt.migrate");
	assert_int_equal(rs->max_window_ns, 3600 * NS);

	const struct agg_rule *h = agg_rules_find(rs, "host-down");
	assert_int_equal(h->kind, AGG_KIND_HOST);
	assert_null(h->recover);
	assert_int_equal(h->automation, AGG_AUTO_RECOMMEND); /* the default */
	assert_string_equal(h->inhibit[0], "kind=capacity");
	assert_int_equal(agg_rules_find(rs, "tenant-big")->kind, AGG_KIND_TENANT);
	assert_null(agg_rules_find(rs, "nope"));
	assert_int_equal(rs->n_budgets, 1);
	assert_int_equal(rs->budgets[0].max, 5);
	/* the digest: of what decides states, stable */
	char d1[17];
	memcpy(d1, r->digest, sizeof d1);
	assert_int_equal(strlen(d1), 16);
	agg_rules_free(rs);
	rs = agg_rules_load(TEST_DATA_DIR "/rules/good.conf", false, err, sizeof err);
	assert_string_equal(agg_rules_find(rs, "vm-cpu-hot")->digest, d1);
	assert_string_not_equal(agg_rules_find(rs, "host-down")->digest, d1);

	/* maintenance: Saturday 2026-10-10 02:00-04:00 UTC on hv-1 and hv-2*;
	 * Mon-Fri 23:00-01:00 everywhere (past midnight) */
	struct tm tm = {.tm_year = 126, .tm_mon = 9, .tm_mday = 10, .tm_hour = 2, .tm_min = 0};
	int64_t sat2 = (int64_t)timegm(&tm) * NS;
	assert_string_equal(agg_rules_maintenance(rs, "hv-1", sat2), "weekly");
	assert_string_equal(agg_rules_maintenance(rs, "hv-22", sat2 + 7199 * NS), "weekly");
	assert_null(agg_rules_maintenance(rs, "hv-1", sat2 + 7200 * NS));
	assert_null(agg_rules_maintenance(rs, "hv-3", sat2));
	assert_null(agg_rules_maintenance(rs, NULL, sat2));
	assert_null(agg_rules_maintenance(rs, "hv-1", sat2 - 60 * NS));
	/* Friday 23:30 and Saturday 00:30 (the window begun on Friday); not
	 * Saturday 23:30 nor Sunday 00:30 */
	assert_string_equal(agg_rules_maintenance(rs, "hv-3", sat2 - (2 * 3600 + 1800) * NS), "nightly");
	assert_string_equal(agg_rules_maintenance(rs, NULL, sat2 - 5400 * NS), "nightly");
	assert_null(agg_rules_maintenance(rs, "hv-3", sat2 + (21 * 3600 + 1800) * NS));
	assert_null(agg_rules_maintenance(rs, "hv-3", sat2 + (22 * 3600 + 1800) * NS));
	agg_rules_free(rs);
}

static void test_bad(void **state)
{
	(void)state;
	size_t len;
	char *text = vm_read_file(TEST_DATA_DIR "/rules/bad.txt", 1 << 20, &len);
	assert_non_null(text);
	int cases = 0;
	for (char *p = strstr(text, "\n=== "); p; cases++) {
		char *says = p + 5, *eol = strchr(says, '\n');
		*eol = '\0';
		char *body = eol + 1, *next = strstr(body, "\n=== ");
		size_t blen = next ? (size_t)(next - body) + 1 : strlen(body);
		char err[1024] = "";
		struct agg_ruleset *rs = agg_rules_parse("FILE", body, blen, false, err, sizeof err);
		if (rs)
			fail_msg("accepted: %.*s", (int)blen, body);
		if (strncmp(err, says, strlen(says)) != 0)
			fail_msg("\"%s\" does not begin with \"%s\"", err, says);
		p = next;
	}
	assert_true(cases >= 25);
	free(text);
}

static void test_empty(void **state)
{
	(void)state;
	char err[256] = "";
	struct agg_ruleset *rs = agg_rules_load("", true, err, sizeof err);
	assert_non_null(rs);
	assert_int_equal(rs->n_rules, 0);
	agg_rules_free(rs);
	char dir[] = "/tmp/test_rules.XXXXXX", pat[64];
	assert_non_null(mkdtemp(dir));
	snprintf(pat, sizeof pat, "%s/*.conf", dir);
	rs = agg_rules_load(pat, true, err, sizeof err);
	assert_non_null(rs); /* an empty rules.d */
	agg_rules_free(rs);
	rmdir(dir);
	rs = agg_rules_load(pat, true, err, sizeof err);
	assert_null(rs); /* no rules.d at all: a mistake to say */
	assert_non_null(strstr(err, "cannot list the rule files"));
	/* agg_action_check() at load: a program that is not there */
	static const char prog[] = "rule \"r\" {\n  condition = \"vm.vcpus > 1\"\n  on-firing {\n"
	                           "    program { argv = { \"/nonexistent/page\" } }\n  }\n}\n";
	rs = agg_rules_parse("FILE", prog, strlen(prog), true, err, sizeof err);
	assert_null(rs);
	if (strncmp(err, "FILE:4: rule \"r\": program: ", 26) != 0 || !strstr(err, "/nonexistent/page"))
		fail_msg("%s", err);
	rs = agg_rules_parse("FILE", prog, strlen(prog), false, err, sizeof err);
	assert_non_null(rs); /* -n on another machine: not checked */
	agg_rules_free(rs);
	rs = agg_rules_load(TEST_DATA_DIR "/rules/bad.txt", false, err, sizeof err);
	assert_null(rs);
	assert_non_null(strstr(err, "bad.txt:"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
