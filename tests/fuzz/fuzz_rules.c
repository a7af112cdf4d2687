/* Fuzz target for rule files (aggregator/rules: lib/cfgtree's syntax,
 * the rule, maintenance and budget sections, conditions through
 * aggregator/expr, actions through agg_action_check).  Besides not
 * crashing, leaking or recursing without bound, every input either loads
 * a rule set that keeps the promises of rules.h (each rule named, found
 * by its name, with a condition, its actions and their budget keys;
 * maintenance windows inside a week) or is refused with "FILE:LINE: ...".
 *
 * Built with clang -fsanitize=fuzzer (-DVM_LIBFUZZER) this is a libFuzzer
 * target; built without, tests/fuzz/replay.c drives it (replay.h). */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "rules.h"

#define CHECK FUZZ_CHECK

#define DAY_NS (86400LL * 1000000000LL)

static void check_actions(const struct agg_rule_action *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		CHECK(a[i].key && a[i].key[0] && a[i].line >= 1);
}

static void check_set(const struct agg_ruleset *rs)
{
	for (size_t i = 0; i < rs->n_rules; i++) {
		const struct agg_rule *r = &rs->rules[i];
		CHECK(r->name && r->name[0] && r->file && r->line >= 1);
		CHECK(agg_rules_find(rs, r->name) == r);
		CHECK(r->cond && r->cond_text && (r->recover == NULL) == (r->recover_text == NULL));
		CHECK(r->kind == AGG_KIND_VM || r->kind == AGG_KIND_HOST || r->kind == AGG_KIND_TENANT);
		CHECK(r->automation == AGG_AUTO_OFF || r->automation == AGG_AUTO_RECOMMEND ||
		      r->automation == AGG_AUTO_AUTOMATIC);
		CHECK(r->severity && r->cooldown_ns >= 0 && r->follow_up_ns >= 0 && r->max_actions_window_ns >= 0);
		CHECK(strlen(r->digest) == 16);
		check_actions(r->on_firing, r->n_on_firing);
		check_actions(r->on_resolved, r->n_on_resolved);
	}
	CHECK(rs->max_window_ns >= 0 && rs->max_window_ns <= DAY_NS);
	for (size_t i = 0; i < rs->n_maint; i++) {
		const struct agg_maintenance *m = &rs->maint[i];
		CHECK(m->name && m->days > 0 && m->days < 0x80);
		CHECK(m->from_min >= 0 && m->from_min < 1440 && m->len_min > 0 && m->len_min <= 7 * 1440);
	}
	for (size_t i = 0; i < rs->n_budgets; i++)
		CHECK(rs->budgets[i].key && rs->budgets[i].window_ns > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	/* Actions checked as at load: a program named must exist (stat only;
	 * nothing runs). */
	struct agg_ruleset *rs = agg_rules_parse("fuzz.rules", (const char *)data, size, true, err, sizeof err);
	if (rs) {
		check_set(rs);
		agg_rules_free(rs);
	} else {
		CHECK(strncmp(err, "fuzz.rules:", 11) == 0 && isdigit((unsigned char)err[11]));
	}
	return 0;
}

static const struct fuzz_token tokens[] = {
    {"rule \"r\" {", 10},
    {"}", 1},
    {"{", 1},
    {"condition = \"avg(vm.cpu.alloc_pct, 5m) > 90\"", 44},
    {"recover = \"vm.vcpus < 2\"", 24},
    {"for = 10m", 9},
    {"subject = host", 14},
    {"automation = automatic", 22},
    {"on-firing {", 11},
    {"on-resolved {", 13},
    {"virt { op = set-vcpus amount = 4 }", 34},
    {"webhook { url = \"http://127.0.0.1:1/h\" attempts = 3 }", 52},
    {"program { argv = { \"/bin/true\" } }", 34},
    {"maintenance \"m\" { when = \"Sat 02:00-04:00 UTC\" }", 48},
    {"budget \"virt.migrate\" { max = 5 window = 1h }", 45},
    {"labels { a = b }", 16},
    {"hosts = { \"hv-*\" }", 18},
    {"inhibit = { \"kind=x\" }", 22},
    {"cooldown = 1d", 13},
    {"\n", 1},
    {"#", 1},
    {"\"", 1},
    {"\\", 1},
    {"=", 1},
    {"\x00", 1},
    {"\xff", 1},
    {"{{{{{{{{", 8},
};

const struct fuzz_target fuzz_target = {"fuzz_rules", tokens, sizeof tokens / sizeof *tokens, 8192, NULL};
