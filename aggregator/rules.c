/* aggregator/rules: rule files into a checked rule set (rules.h). */
#include "config.h"

#include "rules.h"

#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtree.h"
#include "settings.h"
#include "xalloc.h"

#define MAX_RULES 4096
#define MAX_WINDOW_NS (86400 * INT64_C(1000000000))
#define NS INT64_C(1000000000)

/* What the set owns besides its arrays: the trees (node strings are the
 * rules' strings), expressions, and every other allocation. */
struct mem {
	struct vm_cfgtree **trees;
	size_t n_trees;
	void **blocks;
	size_t n_blocks, cap_blocks;
	struct agg_expr **exprs;
	size_t n_exprs;
};

struct loader {
	struct agg_ruleset *rs;
	struct mem *mem;
	const char *file;
	bool check_actions;
	char *err;
	size_t errsize;
	size_t cap_rules, cap_maint, cap_budgets;
};

const char *agg_automation_name(enum agg_automation a)
{
	static const char *const names[] = {"off", "recommend", "automatic"};
	return (unsigned)a < 3 ? names[a] : NULL;
}

bool agg_glob(const char *pattern, const char *text)
{
	return fnmatch(pattern, text, 0) == 0;
}

static void *keep(struct mem *m, void *p)
{
	if (m->n_blocks == m->cap_blocks) {
		m->cap_blocks = m->cap_blocks ? m->cap_blocks * 2 : 32;
		m->blocks = vm_xrealloc(m->blocks, m->cap_blocks * sizeof *m->blocks);
	}
	m->blocks[m->n_blocks++] = p;
	return p;
}

/* "FILE:LINE: rule \"NAME\": ..." (what is NULL outside a rule). */
static int __attribute__((format(printf, 5, 6)))
fail(struct loader *ld, int line, const char *kind, const char *name, const char *fmt, ...)
{
	char prefix[300] = "";
	if (name)
		snprintf(prefix, sizeof prefix, "%s \"%s\": ", kind, name);
	va_list ap;
	va_start(ap, fmt);
	vm_cfg_verror(ld->err, ld->errsize, ld->file, line, 0, prefix, fmt, ap);
	va_end(ap);
	return -1;
}

/* A duration option: "10m", "0s"; -1 (message set) if not one. */
static int duration(struct loader *ld, const struct vm_cfgnode *o, const char *kind, const char *name, int64_t max_s,
                    int64_t *ns)
{
	int64_t s = o->value ? agg_duration_parse(o->value) : -1;
	if (s < 0 || s > max_s)
		return fail(ld, o->line, kind, name,
		            "%s must be a duration: a number and s, m, h or d (\"10m\"), at most %lld s", o->name,
		            (long long)max_s);
	*ns = s * NS;
	return 0;
}

static int number(struct loader *ld, const struct vm_cfgnode *o, const char *kind, const char *name, long long min,
                  long long max, long long *out)
{
	char *end;
	errno = 0;
	long long v = o->value ? strtoll(o->value, &end, 10) : 0;
	if (!o->value || !*o->value || *end || errno || v < min || v > max)
		return fail(ld, o->line, kind, name, "%s must be a whole number from %lld to %lld", o->name, min, max);
	*out = v;
	return 0;
}

static int boolean(struct loader *ld, const struct vm_cfgnode *o, const char *kind, const char *name, bool *out)
{
	if (o->value && (strcmp(o->value, "yes") == 0 || strcmp(o->value, "true") == 0))
		*out = true;
	else if (o->value && (strcmp(o->value, "no") == 0 || strcmp(o->value, "false") == 0))
		*out = false;
	else
		return fail(ld, o->line, kind, name, "%s must be yes or no", o->name);
	return 0;
}

/* An option of the right form: 'v' one value, 'l' a list, 's' a section;
 * `in` names an action ("program: argv ...") or is "". */
static int want_in(struct loader *ld, const struct vm_cfgnode *o, const char *kind, const char *name, const char *in,
                   char what)
{
	bool ok = what == 'v' ? o->value != NULL : what == 'l' ? o->list != NULL : (!o->value && !o->list);
	if (ok)
		return 0;
	return fail(ld, o->line, kind, name, "%s%s%s must be %s", in, *in ? ": " : "", o->name,
	            what == 'v'   ? "an option with one value (name = value)"
	            : what == 'l' ? "a list ({ \"a\", \"b\" })"
	                          : "a section ({ ... })");
}

/* "key=value" items of a list. */
static int want(struct loader *ld, const struct vm_cfgnode *o, const char *kind, const char *name, char what)
{
	return want_in(ld, o, kind, name, "", what);
}

static int pairs(struct loader *ld, const struct vm_cfgnode *o, const char *kind, const char *name)
{
	for (size_t i = 0; i < o->n_list; i++) {
		const char *eq = strchr(o->list[i], '=');
		if (!eq || eq == o->list[i])
			return fail(ld, o->line, kind, name, "%s: \"%s\" is not key=value", o->name, o->list[i]);
	}
	return 0;
}

static int read_action(struct loader *ld, const struct vm_cfgnode *sec, struct agg_rule *r, struct agg_rule_action *a)
{
	const char *rn = r->name;
	memset(a, 0, sizeof *a);
	a->line = sec->line;
	a->spec.timeout_ns = 10 * NS;
	a->spec.max_attempts = 1;
	a->spec.backoff_ns = NS;
	a->spec.receiver = r->name;
	bool have_op = false;
	if (strcmp(sec->name, "program") == 0) {
		a->spec.kind = AGG_ACT_PROGRAM;
		a->key = "program";
	} else if (strcmp(sec->name, "webhook") == 0) {
		a->spec.kind = AGG_ACT_WEBHOOK;
		a->spec.max_attempts = 4;
		a->key = "webhook";
	} else if (strcmp(sec->name, "virt") == 0) {
		a->spec.kind = AGG_ACT_VIRT;
		a->spec.timeout_ns = 60 * NS;
		if (r->kind != AGG_KIND_VM)
			return fail(ld, sec->line, "rule", rn,
			            "virt: an operation on a VM, in a rule of subject vm only");
	} else {
		return fail(ld, sec->line, "rule", rn, "unknown action '%s' (program, webhook, virt)", sec->name);
	}
	if (sec->value || sec->list)
		return fail(ld, sec->line, "rule", rn, "%s must be a section ({ ... })", sec->name);
	for (const struct vm_cfgnode *o = sec->child; o; o = o->next) {
		long long n;
		const char *k = o->name;
		if (a->spec.kind == AGG_ACT_PROGRAM && strcmp(k, "argv") == 0) {
			if (want_in(ld, o, "rule", rn, sec->name, 'l') < 0)
				return -1;
			if (o->n_list == 0)
				return fail(ld, o->line, "rule", rn, "program: argv is empty");
			a->spec.argv = o->list;
			a->spec.argc = o->n_list;
		} else if (a->spec.kind == AGG_ACT_WEBHOOK && strcmp(k, "url") == 0) {
			if (want_in(ld, o, "rule", rn, sec->name, 'v') < 0)
				return -1;
			a->spec.url = o->value;
		} else if (a->spec.kind == AGG_ACT_WEBHOOK && strcmp(k, "attempts") == 0) {
			if (want_in(ld, o, "rule", rn, sec->name, 'v') < 0 || number(ld, o, "rule", rn, 1, 100, &n) < 0)
				return -1;
			a->spec.max_attempts = (unsigned)n;
		} else if (a->spec.kind == AGG_ACT_WEBHOOK && strcmp(k, "backoff") == 0) {
			if (duration(ld, o, "rule", rn, 300, &a->spec.backoff_ns) < 0)
				return -1;
		} else if (a->spec.kind == AGG_ACT_WEBHOOK && strcmp(k, "external-url") == 0) {
			if (want_in(ld, o, "rule", rn, sec->name, 'v') < 0)
				return -1;
			a->spec.external_url = o->value;
		} else if (a->spec.kind == AGG_ACT_VIRT && strcmp(k, "op") == 0) {
			if (want_in(ld, o, "rule", rn, sec->name, 'v') < 0)
				return -1;
			if (agg_virt_op_parse(o->value, &a->spec.op) < 0)
				return fail(ld, o->line, "rule", rn,
				            "virt: unknown op '%s' (set-vcpus, set-memory, suspend, resume, shutdown, "
				            "migrate)",
				            o->value);
			have_op = true;
		} else if (a->spec.kind == AGG_ACT_VIRT && strcmp(k, "amount") == 0) {
			if (want_in(ld, o, "rule", rn, sec->name, 'v') < 0 ||
			    number(ld, o, "rule", rn, 1, 1LL << 40, &n) < 0)
				return -1;
			a->spec.amount = (uint64_t)n;
		} else if (a->spec.kind == AGG_ACT_VIRT && strcmp(k, "destination") == 0) {
			if (want_in(ld, o, "rule", rn, sec->name, 'v') < 0)
				return -1;
			a->spec.dest_uri = o->value;
		} else if (strcmp(k, "timeout") == 0) {
			if (duration(ld, o, "rule", rn, 3600, &a->spec.timeout_ns) < 0)
				return -1;
			if (a->spec.timeout_ns <= 0)
				return fail(ld, o->line, "rule", rn, "timeout must be above 0 s");
		} else {
			return fail(ld, o->line, "rule", rn, "%s: unknown option '%s'", sec->name, k);
		}
	}
	if (a->spec.kind == AGG_ACT_PROGRAM && !a->spec.argv)
		return fail(ld, sec->line, "rule", rn, "program: argv = { \"/path\", ... } is missing");
	if (a->spec.kind == AGG_ACT_WEBHOOK && !a->spec.url)
		return fail(ld, sec->line, "rule", rn, "webhook: url is missing");
	if (a->spec.kind == AGG_ACT_VIRT) {
		if (!have_op)
			return fail(ld, sec->line, "rule", rn, "virt: op is missing");
		bool sized = a->spec.op == AGG_VIRT_SET_VCPUS || a->spec.op == AGG_VIRT_SET_MEMORY;
		if (sized != (a->spec.amount != 0))
			return fail(ld, sec->line, "rule", rn, "virt: %s %s an amount", agg_virt_op_name(a->spec.op),
			            sized ? "needs" : "takes no");
		if ((a->spec.op == AGG_VIRT_MIGRATE) != (a->spec.dest_uri != NULL))
			return fail(ld, sec->line, "rule", rn, "virt: %s %s a destination",
			            agg_virt_op_name(a->spec.op),
			            a->spec.op == AGG_VIRT_MIGRATE ? "needs" : "takes no");
		char *key = keep(ld->mem, vm_xmalloc(64));
		snprintf(key, 64, "virt.%s", agg_virt_op_name(a->spec.op));
		a->key = key;
	}
	char why[512];
	if (ld->check_actions && agg_action_check(&a->spec, why, sizeof why) < 0)
		return fail(ld, sec->line, "rule", rn, "%s: %s", sec->name, why);
	return 0;
}

static int read_actions(struct loader *ld, const struct vm_cfgnode *sec, struct agg_rule *r,
                        const struct agg_rule_action **out, size_t *n_out)
{
	if (want(ld, sec, "rule", r->name, 's') < 0)
		return -1;
	size_t n = 0;
	for (const struct vm_cfgnode *c = sec->child; c; c = c->next)
		n++;
	if (n > 16)
		return fail(ld, sec->line, "rule", r->name, "%s: more than 16 actions", sec->name);
	struct agg_rule_action *a = keep(ld->mem, vm_xcalloc(n + 1, sizeof *a));
	size_t i = 0;
	for (const struct vm_cfgnode *c = sec->child; c; c = c->next)
		if (read_action(ld, c, r, &a[i++]) < 0)
			return -1;
	*out = a;
	*n_out = n;
	return 0;
}

/* A condition option: parsed, its metrics of the rule's kind. */
static int condition(struct loader *ld, const struct vm_cfgnode *o, struct agg_rule *r, struct agg_expr **out)
{
	char why[512];
	if (want(ld, o, "rule", r->name, 'v') < 0)
		return -1;
	struct agg_expr *e = agg_expr_parse(o->value, agg_metric_table(), ld->file, o->line, why, sizeof why);
	if (!e) {
		/* expr.h's "FILE:LINE:COL: message": the rule's name after the place */
		char head[64];
		int hl = snprintf(head, sizeof head, ":%d:", o->line);
		const char *at = strstr(why, head), *msg = at ? strstr(at + hl, ": ") : NULL;
		if (!msg)
			snprintf(ld->err, ld->errsize, "%s", why);
		else
			snprintf(ld->err, ld->errsize, "%.*s: rule \"%s\": %s: %s", (int)(msg - why), why, r->name,
			         o->name, msg + 2);
		return -1;
	}
	ld->mem->exprs = vm_xrealloc(ld->mem->exprs, (ld->mem->n_exprs + 1) * sizeof *ld->mem->exprs);
	ld->mem->exprs[ld->mem->n_exprs++] = e;
	*out = e;
	struct agg_query q[64];
	size_t n = agg_expr_queries(e, q, 64);
	for (size_t i = 0; i < n && i < 64; i++) {
		enum agg_kind mk = agg_metric_kind(q[i].metric);
		if (mk != r->kind && !(r->kind == AGG_KIND_VM && mk == AGG_KIND_HOST))
			return fail(
			    ld, o->line, "rule", r->name, "%s: %s is a %s metric; a rule of subject %s reads %s%s",
			    o->name, agg_metric_table()->names[q[i].metric], agg_kind_name(mk), agg_kind_name(r->kind),
			    agg_kind_name(r->kind), r->kind == AGG_KIND_VM ? ".* and host.* metrics" : ".* metrics");
		if (q[i].window_ns > MAX_WINDOW_NS)
			return fail(ld, o->line, "rule", r->name, "%s: a window of more than a day", o->name);
		if (q[i].window_ns > ld->rs->max_window_ns)
			ld->rs->max_window_ns = q[i].window_ns;
	}
	return 0;
}

static void digest(struct agg_rule *r)
{
	uint64_t h = 1469598103934665603ULL;
	char buf[128];
	const char *parts[4] = {agg_kind_name(r->kind), r->cond_text, r->recover_text ? r->recover_text : "", buf};
	snprintf(buf, sizeof buf, "%lld/%lld", (long long)r->timing.for_ns, (long long)r->timing.recover_for_ns);
	for (int i = 0; i < 4; i++) {
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL;
	}
	snprintf(r->digest, sizeof r->digest, "%016llx", (unsigned long long)h);
}

static int read_rule(struct loader *ld, const struct vm_cfgnode *sec)
{
	struct agg_ruleset *rs = ld->rs;
	if (!sec->title || !*sec->title)
		return fail(ld, sec->line, NULL, NULL, "rule: a rule has a name (rule \"name\" { ... })");
	for (size_t i = 0; i < rs->n_rules; i++)
		if (strcmp(rs->rules[i].name, sec->title) == 0)
			return fail(ld, sec->line, "rule", sec->title, "a second rule of that name (the first: %s:%d)",
			            rs->rules[i].file, rs->rules[i].line);
	if (rs->n_rules == MAX_RULES)
		return fail(ld, sec->line, "rule", sec->title, "more than %d rules", MAX_RULES);
	if (rs->n_rules == ld->cap_rules) {
		ld->cap_rules = ld->cap_rules ? ld->cap_rules * 2 : 16;
		rs->rules = vm_xrealloc(rs->rules, ld->cap_rules * sizeof *rs->rules);
	}
	struct agg_rule *r = &rs->rules[rs->n_rules];
	memset(r, 0, sizeof *r);
	r->name = sec->title;
	r->file = ld->file;
	r->line = sec->line;
	r->severity = "warning";
	r->automation = AGG_AUTO_RECOMMEND;
	const char *rn = r->name;
	/* the subject first: what the conditions may read depends on it */
	const struct vm_cfgnode *cond = NULL, *recover = NULL;
	for (const struct vm_cfgnode *o = sec->child; o; o = o->next)
		if (strcmp(o->name, "subject") == 0) {
			if (want(ld, o, "rule", rn, 'v') < 0)
				return -1;
			if (agg_kind_parse(o->value, &r->kind) < 0)
				return fail(ld, o->line, "rule", rn, "subject must be vm, host or tenant, not '%s'",
				            o->value);
		}
	const struct vm_cfgnode *firing = NULL, *resolved = NULL, *maxa = NULL, *maxw = NULL;
	for (const struct vm_cfgnode *o = sec->child; o; o = o->next) {
		const char *k = o->name;
		long long n;
		if (strcmp(k, "subject") == 0) {
			continue;
		} else if (strcmp(k, "condition") == 0) {
			cond = o;
		} else if (strcmp(k, "recover") == 0) {
			recover = o;
		} else if (strcmp(k, "for") == 0) {
			if (duration(ld, o, "rule", rn, 86400, &r->timing.for_ns) < 0)
				return -1;
		} else if (strcmp(k, "recover-for") == 0) {
			if (duration(ld, o, "rule", rn, 86400, &r->timing.recover_for_ns) < 0)
				return -1;
		} else if (strcmp(k, "severity") == 0) {
			if (want(ld, o, "rule", rn, 'v') < 0)
				return -1;
			r->severity = o->value;
		} else if (strcmp(k, "labels") == 0) {
			if (want(ld, o, "rule", rn, 's') < 0)
				return -1;
			size_t nl = 0;
			for (const struct vm_cfgnode *c = o->child; c; c = c->next) {
				if (!c->value)
					return fail(ld, c->line, "rule", rn, "labels: %s must be name = value",
					            c->name);
				nl++;
			}
			const char **keys = keep(ld->mem, vm_xcalloc(nl + 1, sizeof *keys));
			const char **vals = keep(ld->mem, vm_xcalloc(nl + 1, sizeof *vals));
			nl = 0;
			for (const struct vm_cfgnode *c = o->child; c; c = c->next, nl++) {
				for (size_t j = 0; j < nl; j++)
					if (strcmp(keys[j], c->name) == 0)
						return fail(ld, c->line, "rule", rn, "labels: %s twice", c->name);
				keys[nl] = c->name;
				vals[nl] = c->value;
			}
			r->label_keys = keys;
			r->label_values = vals;
			r->n_labels = nl;
		} else if (strcmp(k, "hosts") == 0 || strcmp(k, "tenants") == 0 || strcmp(k, "tags") == 0 ||
		           strcmp(k, "inhibit") == 0) {
			if (want(ld, o, "rule", rn, 'l') < 0)
				return -1;
			bool host_scope = k[0] == 'h', tenant_scope = k[1] == 'e', tags = k[1] == 'a',
			     inh = k[0] == 'i';
			if ((host_scope && r->kind == AGG_KIND_TENANT) || (tenant_scope && r->kind == AGG_KIND_HOST) ||
			    (tags && r->kind != AGG_KIND_VM) || (inh && r->kind != AGG_KIND_HOST))
				return fail(ld, o->line, "rule", rn, "%s: not a scope of a rule of subject %s%s", k,
				            agg_kind_name(r->kind),
				            inh ? " (inhibit: a host rule silences the VM rules of these labels)" : "");
			if ((tags || inh) && pairs(ld, o, "rule", rn) < 0)
				return -1;
			if (host_scope)
				r->hosts = o->list, r->n_hosts = o->n_list;
			else if (tenant_scope)
				r->tenants = o->list, r->n_tenants = o->n_list;
			else if (tags)
				r->tags = o->list, r->n_tags = o->n_list;
			else
				r->inhibit = o->list, r->n_inhibit = o->n_list;
		} else if (strcmp(k, "automation") == 0) {
			if (want(ld, o, "rule", rn, 'v') < 0)
				return -1;
			int a = -1;
			for (int i = 0; i < 3; i++)
				if (strcmp(o->value, agg_automation_name((enum agg_automation)i)) == 0)
					a = i;
			if (a < 0)
				return fail(ld, o->line, "rule", rn,
				            "automation must be off, recommend or automatic, not '%s'", o->value);
			r->automation = (enum agg_automation)a;
		} else if (strcmp(k, "dry-run") == 0) {
			if (boolean(ld, o, "rule", rn, &r->dry_run) < 0)
				return -1;
		} else if (strcmp(k, "cooldown") == 0) {
			if (duration(ld, o, "rule", rn, 30 * 86400, &r->cooldown_ns) < 0)
				return -1;
		} else if (strcmp(k, "max-actions") == 0) {
			if (want(ld, o, "rule", rn, 'v') < 0 || number(ld, o, "rule", rn, 1, 10000, &n) < 0)
				return -1;
			r->max_actions = (unsigned)n;
			maxa = o;
		} else if (strcmp(k, "max-actions-window") == 0) {
			if (duration(ld, o, "rule", rn, 30 * 86400, &r->max_actions_window_ns) < 0)
				return -1;
			maxw = o;
		} else if (strcmp(k, "follow-up") == 0) {
			if (duration(ld, o, "rule", rn, 86400, &r->follow_up_ns) < 0)
				return -1;
		} else if (strcmp(k, "on-firing") == 0) {
			firing = o;
		} else if (strcmp(k, "on-resolved") == 0) {
			resolved = o;
		} else {
			return fail(ld, o->line, "rule", rn, "unknown option '%s'", k);
		}
	}
	if (!cond)
		return fail(ld, sec->line, "rule", rn, "condition = \"...\" is missing");
	if (condition(ld, cond, r, &r->cond) < 0)
		return -1;
	r->cond_text = cond->value;
	if (recover) {
		if (condition(ld, recover, r, &r->recover) < 0)
			return -1;
		r->recover_text = recover->value;
	}
	if (maxa && !maxw)
		return fail(ld, maxa->line, "rule", rn, "max-actions needs max-actions-window (\"1h\")");
	if (maxw && (!maxa || r->max_actions_window_ns <= 0))
		return fail(ld, maxw->line, "rule", rn, "max-actions-window needs max-actions and a window above 0 s");
	if (firing && read_actions(ld, firing, r, &r->on_firing, &r->n_on_firing) < 0)
		return -1;
	if (resolved && read_actions(ld, resolved, r, &r->on_resolved, &r->n_on_resolved) < 0)
		return -1;
	digest(r);
	rs->n_rules++;
	return 0;
}

/* "Sat 02:00-04:00", "Mon-Fri 22:00-02:00 UTC", "daily 02:00-03:00",
 * "Sat,Sun 00:00-24:00": 0, or -1. */
static int parse_when(const char *text, unsigned *days, int *from_min, int *len_min)
{
	static const char *const names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	char d[64];
	int h1, m1, h2, m2, used = 0;
	if (sscanf(text, "%63s %d:%d-%d:%d%n", d, &h1, &m1, &h2, &m2, &used) != 5)
		return -1;
	const char *rest = text + used;
	while (*rest == ' ')
		rest++;
	if (*rest && strcmp(rest, "UTC") != 0)
		return -1;
	if (h1 < 0 || h1 > 23 || m1 < 0 || m1 > 59 || h2 < 0 || h2 > 24 || m2 < 0 || m2 > 59 || (h2 == 24 && m2))
		return -1;
	*days = 0;
	if (strcmp(d, "daily") == 0) {
		*days = 0x7f;
	} else {
		for (char *tok = strtok(d, ","); tok; tok = strtok(NULL, ",")) {
			int a = -1, b = -1;
			for (int i = 0; i < 7; i++) {
				if (strncmp(tok, names[i], 3) == 0)
					a = i;
				if (strlen(tok) == 7 && tok[3] == '-' && strcmp(tok + 4, names[i]) == 0)
					b = i;
			}
			if (a < 0 || (strlen(tok) != 3 && (strlen(tok) != 7 || b < 0)))
				return -1;
			if (b < 0)
				b = a;
			for (int i = a;; i = (i + 1) % 7) {
				*days |= 1u << i;
				if (i == b)
					break;
			}
		}
	}
	*from_min = h1 * 60 + m1;
	int to = h2 * 60 + m2;
	*len_min = to > *from_min ? to - *from_min : to + 1440 - *from_min;
	return 0;
}

static int read_maintenance(struct loader *ld, const struct vm_cfgnode *sec)
{
	struct agg_ruleset *rs = ld->rs;
	const char *mn = sec->title ? sec->title : "";
	if (!*mn)
		return fail(ld, sec->line, NULL, NULL,
		            "maintenance: a window has a name (maintenance \"name\" { ... })");
	if (want(ld, sec, "maintenance", mn, 's') < 0)
		return -1;
	if (rs->n_maint == ld->cap_maint) {
		ld->cap_maint = ld->cap_maint ? ld->cap_maint * 2 : 8;
		rs->maint = vm_xrealloc(rs->maint, ld->cap_maint * sizeof *rs->maint);
	}
	struct agg_maintenance *m = &rs->maint[rs->n_maint];
	memset(m, 0, sizeof *m);
	m->name = mn;
	bool when = false;
	for (const struct vm_cfgnode *o = sec->child; o; o = o->next) {
		if (strcmp(o->name, "when") == 0) {
			if (want(ld, o, "maintenance", mn, 'v') < 0)
				return -1;
			if (parse_when(o->value, &m->days, &m->from_min, &m->len_min) < 0)
				return fail(ld, o->line, "maintenance", mn,
				            "when must be DAYS HH:MM-HH:MM in UTC (\"Sat 02:00-04:00\", \"Mon-Fri "
				            "22:00-02:00\", \"daily 01:00-01:30\"), not \"%s\"",
				            o->value);
			when = true;
		} else if (strcmp(o->name, "hosts") == 0) {
			if (want(ld, o, "maintenance", mn, 'l') < 0)
				return -1;
			m->hosts = o->list;
			m->n_hosts = o->n_list;
		} else {
			return fail(ld, o->line, "maintenance", mn, "unknown option '%s' (when, hosts)", o->name);
		}
	}
	if (!when)
		return fail(ld, sec->line, "maintenance", mn, "when = \"Sat 02:00-04:00\" is missing");
	rs->n_maint++;
	return 0;
}

static int read_budget(struct loader *ld, const struct vm_cfgnode *sec)
{
	static const char *const keys[] = {"program",      "webhook",     "virt.set-vcpus", "virt.set-memory",
	                                   "virt.suspend", "virt.resume", "virt.shutdown",  "virt.migrate"};
	struct agg_ruleset *rs = ld->rs;
	const char *bn = sec->title ? sec->title : "";
	bool known = false;
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		known |= strcmp(bn, keys[i]) == 0;
	if (!known)
		return fail(ld, sec->line, "budget", bn,
		            "not an action kind (program, webhook, virt.set-vcpus, virt.set-memory, virt.suspend, "
		            "virt.resume, virt.shutdown, virt.migrate)");
	if (want(ld, sec, "budget", bn, 's') < 0)
		return -1;
	for (size_t i = 0; i < rs->n_budgets; i++)
		if (strcmp(rs->budgets[i].key, bn) == 0)
			return fail(ld, sec->line, "budget", bn, "a second budget of that kind");
	if (rs->n_budgets == ld->cap_budgets) {
		ld->cap_budgets = ld->cap_budgets ? ld->cap_budgets * 2 : 8;
		rs->budgets = vm_xrealloc(rs->budgets, ld->cap_budgets * sizeof *rs->budgets);
	}
	struct agg_kind_budget *b = &rs->budgets[rs->n_budgets];
	memset(b, 0, sizeof *b);
	b->key = bn;
	bool have_max = false;
	for (const struct vm_cfgnode *o = sec->child; o; o = o->next) {
		long long n;
		if (strcmp(o->name, "max") == 0) {
			if (want(ld, o, "budget", bn, 'v') < 0 || number(ld, o, "budget", bn, 0, 100000, &n) < 0)
				return -1;
			b->max = (unsigned)n;
			have_max = true;
		} else if (strcmp(o->name, "window") == 0) {
			if (duration(ld, o, "budget", bn, 30 * 86400, &b->window_ns) < 0)
				return -1;
		} else {
			return fail(ld, o->line, "budget", bn, "unknown option '%s' (max, window)", o->name);
		}
	}
	if (!have_max || b->window_ns <= 0)
		return fail(ld, sec->line, "budget", bn, "max and window (above 0 s) are both needed");
	rs->n_budgets++;
	return 0;
}

static int read_tree(struct loader *ld, const struct vm_cfgtree *t)
{
	ld->file = vm_cfgtree_file(t);
	for (const struct vm_cfgnode *n = vm_cfgtree_root(t); n; n = n->next) {
		int rc;
		if (n->value || n->list)
			rc = fail(ld, n->line, NULL, NULL,
			          "'%s': a rule file holds rule, maintenance and budget sections", n->name);
		else if (strcmp(n->name, "rule") == 0)
			rc = read_rule(ld, n);
		else if (strcmp(n->name, "maintenance") == 0)
			rc = read_maintenance(ld, n);
		else if (strcmp(n->name, "budget") == 0)
			rc = read_budget(ld, n);
		else
			rc = fail(ld, n->line, NULL, NULL, "unknown section '%s' (rule, maintenance, budget)", n->name);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static struct agg_ruleset *new_set(struct loader *ld, bool check, char *err, size_t errsize)
{
	memset(ld, 0, sizeof *ld);
	ld->rs = vm_xcalloc(1, sizeof *ld->rs);
	ld->mem = vm_xcalloc(1, sizeof *ld->mem);
	ld->rs->mem = ld->mem;
	ld->check_actions = check;
	ld->err = err;
	ld->errsize = errsize;
	return ld->rs;
}

static void add_tree(struct loader *ld, struct vm_cfgtree *t)
{
	ld->mem->trees = vm_xrealloc(ld->mem->trees, (ld->mem->n_trees + 1) * sizeof *ld->mem->trees);
	ld->mem->trees[ld->mem->n_trees++] = t;
}

struct agg_ruleset *agg_rules_parse(const char *file, const char *text, size_t len, bool check_actions, char *err,
                                    size_t errsize)
{
	struct loader ld;
	struct agg_ruleset *rs = new_set(&ld, check_actions, err, errsize);
	struct vm_cfgtree *t = vm_cfgtree_parse(file, text, len, err, errsize);
	if (!t || (add_tree(&ld, t), read_tree(&ld, t) < 0)) {
		agg_rules_free(rs);
		return NULL;
	}
	return rs;
}

struct agg_ruleset *agg_rules_load(const char *pattern, bool check_actions, char *err, size_t errsize)
{
	struct loader ld;
	struct agg_ruleset *rs = new_set(&ld, check_actions, err, errsize);
	if (!pattern || !*pattern)
		return rs;
	glob_t g;
	int grc = glob(pattern, GLOB_ERR, NULL, &g);
	if (grc == GLOB_NOMATCH) {
		globfree(&g);
		return rs; /* an empty rules.d */
	}
	if (grc != 0) {
		snprintf(err, errsize, "%s: cannot list the rule files (is the directory there and readable?)",
		         pattern);
		globfree(&g);
		agg_rules_free(rs);
		return NULL;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct vm_cfgtree *t = vm_cfgtree_load(g.gl_pathv[i], err, errsize);
		if (!t || (add_tree(&ld, t), read_tree(&ld, t) < 0)) {
			globfree(&g);
			agg_rules_free(rs);
			return NULL;
		}
	}
	globfree(&g);
	return rs;
}

void agg_rules_free(struct agg_ruleset *rs)
{
	if (!rs)
		return;
	struct mem *m = rs->mem;
	for (size_t i = 0; i < m->n_exprs; i++)
		agg_expr_free(m->exprs[i]);
	for (size_t i = 0; i < m->n_blocks; i++)
		free(m->blocks[i]);
	for (size_t i = 0; i < m->n_trees; i++)
		vm_cfgtree_free(m->trees[i]);
	free(m->blocks);
	free(m->exprs);
	free(m->trees);
	free(m);
	free(rs->rules);
	free(rs->maint);
	free(rs->budgets);
	free(rs);
}

const struct agg_rule *agg_rules_find(const struct agg_ruleset *rs, const char *name)
{
	for (size_t i = 0; i < rs->n_rules; i++)
		if (strcmp(rs->rules[i].name, name) == 0)
			return &rs->rules[i];
	return NULL;
}

const char *agg_rules_maintenance(const struct agg_ruleset *rs, const char *host, int64_t now_ns)
{
	int64_t now_min = now_ns / (60 * NS);
	for (size_t i = 0; i < rs->n_maint; i++) {
		const struct agg_maintenance *m = &rs->maint[i];
		bool applies = !m->hosts;
		for (size_t j = 0; j < m->n_hosts && host && !applies; j++)
			applies = agg_glob(m->hosts[j], host);
		if (!applies)
			continue;
		/* the window that began today or on one of the days before */
		int64_t day = now_min / 1440;
		for (int64_t d = day; d >= day - 1; d--) {
			int wday = (int)((d + 4) % 7); /* 1970-01-01 was a Thursday */
			if (!(m->days & (1u << wday)))
				continue;
			int64_t start = d * 1440 + m->from_min;
			if (now_min >= start && now_min < start + m->len_min)
				return m->name;
		}
	}
	return NULL;
}
