/* Policy rules: the rule files named by aggregator.rules (a glob of
 * block files in the syntax of vmeter.conf, lib/cfgtree.h), checked whole
 * with FILE:LINE and the rule in every message (docs/POLICIES.md).
 *
 *   rule "vm-cpu-hot" {
 *       subject = vm                                  # vm, host or tenant
 *       condition = "avg(vm.cpu.alloc_pct, 15m) > 90"
 *       for = 10m
 *       recover = "avg(vm.cpu.alloc_pct, 15m) < 70"  # default: not the condition
 *       recover-for = 5m
 *       severity = warning
 *       labels { team = web }
 *       hosts = { "hv-*" }  tenants = { acme }  tags = { "env=prod" }
 *       automation = automatic                        # off, recommend, automatic
 *       cooldown = 30m  max-actions = 3  max-actions-window = 1h
 *       dry-run = no  follow-up = 15m
 *       on-firing { virt { op = set-vcpus  amount = 4 } }
 *       on-resolved { webhook { url = "http://127.0.0.1:9093/hook" } }
 *   }
 *   maintenance "weekly" { when = "Sat 02:00-04:00"  hosts = { "hv-1" } }
 *   budget "virt.migrate" { max = 5  window = 1h }
 *
 * Why files of their own rather than sections of vmeter.conf: libconfuse
 * reports the line of the token after a value, and conf.c's program
 * sections are flat tables of options; rule files read by lib/cfgtree
 * have the same syntax, exact lines, lists (argv), and drop in per team
 * (rules.d/).  A set is loaded whole or not at all. */
#ifndef AGG_RULES_H
#define AGG_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "action.h"
#include "alert.h"
#include "expr.h"
#include "series.h"

enum agg_automation { AGG_AUTO_OFF, AGG_AUTO_RECOMMEND, AGG_AUTO_AUTOMATIC };

/* "off", "recommend", "automatic". */
const char *agg_automation_name(enum agg_automation a);

/* An action of a rule: the spec agg_runner_submit() takes (its strings
 * owned by the rule set), and the budget key of its kind ("program",
 * "webhook", "virt.set-vcpus", ...). */
struct agg_rule_action {
	struct agg_action_spec spec;
	const char *key;
	int line;
};

/* A rule, read-only; owned by its set. */
struct agg_rule {
	const char *name, *file;
	int line;
	enum agg_kind kind;
	struct agg_expr *cond, *recover; /* recover NULL: not cond */
	const char *cond_text, *recover_text;
	struct agg_timing timing;
	const char *severity;
	const char *const *label_keys, *const *label_values;
	size_t n_labels;
	const char *const *hosts, *const *tenants, *const *tags; /* globs; tags "key=value" */
	size_t n_hosts, n_tenants, n_tags;
	const char *const *inhibit; /* host rules: "key=value" labels of the VM rules they silence */
	size_t n_inhibit;
	enum agg_automation automation;
	bool dry_run;
	int64_t cooldown_ns;
	unsigned max_actions; /* 0: no limit of the rule's own */
	int64_t max_actions_window_ns;
	int64_t follow_up_ns; /* 0: none */
	const struct agg_rule_action *on_firing, *on_resolved;
	size_t n_on_firing, n_on_resolved;
	char digest[17]; /* of everything that decides its alerts' states */
};

/* A maintenance window: weekly, in UTC, on the days of `days` (bit 0 is
 * Sunday) from `from_min` for `len_min` minutes (across midnight if it
 * ends after 24:00); hosts NULL: every host. */
struct agg_maintenance {
	const char *name;
	unsigned days;
	int from_min, len_min;
	const char *const *hosts;
	size_t n_hosts;
};

/* A global budget of an action kind: at most max in any window. */
struct agg_kind_budget {
	const char *key;
	unsigned max;
	int64_t window_ns;
};

struct agg_ruleset {
	struct agg_rule *rules;
	size_t n_rules;
	struct agg_maintenance *maint;
	size_t n_maint;
	struct agg_kind_budget *budgets;
	size_t n_budgets;
	int64_t max_window_ns; /* the longest window any condition reads */
	void *mem;             /* private */
};

/* Loads every file `pattern` (a glob; "" loads none) names, in name
 * order.  When `check_actions`, each action is checked with
 * agg_action_check() (a program must exist now).  NULL with "FILE:LINE:
 * rule \"NAME\": ..." in err. */
struct agg_ruleset *agg_rules_load(const char *pattern, bool check_actions, char *err, size_t errsize);
/* The same from text (tests, fuzzing): `file` names it in messages. */
struct agg_ruleset *agg_rules_parse(const char *file, const char *text, size_t len, bool check_actions, char *err,
                                    size_t errsize);
void agg_rules_free(struct agg_ruleset *rs);

const struct agg_rule *agg_rules_find(const struct agg_ruleset *rs, const char *name);

/* Whether `host` is in a maintenance window at `now_ns` (host NULL: only
 * the windows of every host count): its name, or NULL. */
const char *agg_rules_maintenance(const struct agg_ruleset *rs, const char *host, int64_t now_ns);

/* fnmatch()-style glob of `pattern` over `text`. */
bool agg_glob(const char *pattern, const char *text);

#endif
