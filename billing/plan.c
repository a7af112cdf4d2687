/* billing/plan: plan files into a checked catalog (plan.h).
 *
 * Each section is read by a table of its options; anything not in the
 * table, given twice, or missing is refused with the file, the line and
 * the path of sections it is in ("plan 'std' version '2026' charge
 * 'vcpu': ..."), so the user knows which of many plans to fix. */
#include "config.h"

#include "plan.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cfgtree.h"
#include "log.h"
#include "xalloc.h"

struct bill_catalog {
	struct bill_plan *plans;
	size_t n_plans, cap_plans;
	struct bill_tenant *tenants;
	size_t n_tenants, cap_tenants;
	char **files; /* the names plans and tenants point at */
	size_t n_files;
	char **classes;
	size_t n_classes;
	bool classes_set;
	struct bill_host_class *hclasses;
	size_t n_hclasses, cap_hclasses;
	struct bill_pool_def *pools;
	size_t n_pools, cap_pools;
	struct bill_grid *grids;
	size_t n_grids, cap_grids;
};

/* ---------------------------------------------------------------- meters and units */

enum dim { D_VCPU_TIME, D_MEM_TIME, D_CPU_NS, D_BYTES, D_OPS, D_VM_TIME, D_ENERGY, D_CARBON };

static const struct {
	const char *name;
	enum dim dim;
	bool timed; /* counted by minutes of existence or running */
} meters[BILL_METER__COUNT] = {
    [BILL_VCPU] = {"vcpu", D_VCPU_TIME, true},
    [BILL_RAM] = {"ram", D_MEM_TIME, true},
    [BILL_DISK] = {"disk", D_MEM_TIME, true},
    [BILL_CPU] = {"cpu", D_CPU_NS, false},
    [BILL_DISK_RD_BYTES] = {"disk.read.bytes", D_BYTES, false},
    [BILL_DISK_WR_BYTES] = {"disk.write.bytes", D_BYTES, false},
    [BILL_DISK_RD_OPS] = {"disk.read.ops", D_OPS, false},
    [BILL_DISK_WR_OPS] = {"disk.write.ops", D_OPS, false},
    [BILL_NET_RX] = {"net.rx", D_BYTES, false},
    [BILL_NET_TX] = {"net.tx", D_BYTES, false},
    [BILL_VM] = {"vm", D_VM_TIME, true},
    [BILL_ENERGY] = {"energy", D_ENERGY, false},
    [BILL_CARBON] = {"carbon", D_CARBON, false},
};

const char *bill_meter_name(enum bill_meter m)
{
	return (unsigned)m < BILL_METER__COUNT ? meters[m].name : NULL;
}

static const struct {
	const char *name;
	enum dim dim;
	int64_t base; /* base units in one */
} units[] = {
    {"vcpu-minute", D_VCPU_TIME, 1},
    {"vcpu-hour", D_VCPU_TIME, 60},
    {"vcpu-day", D_VCPU_TIME, 1440},
    {"MiB-minute", D_MEM_TIME, 1},
    {"MiB-hour", D_MEM_TIME, 60},
    {"MiB-day", D_MEM_TIME, 1440},
    {"GiB-minute", D_MEM_TIME, 1024},
    {"GiB-hour", D_MEM_TIME, 1024 * 60},
    {"GiB-day", D_MEM_TIME, 1024 * 1440},
    {"TiB-minute", D_MEM_TIME, INT64_C(1048576)},
    {"TiB-hour", D_MEM_TIME, INT64_C(1048576) * 60},
    {"TiB-day", D_MEM_TIME, INT64_C(1048576) * 1440},
    {"core-second", D_CPU_NS, INT64_C(1000000000)},
    {"core-minute", D_CPU_NS, INT64_C(60000000000)},
    {"core-hour", D_CPU_NS, INT64_C(3600000000000)},
    {"byte", D_BYTES, 1},
    {"kB", D_BYTES, 1000},
    {"MB", D_BYTES, 1000000},
    {"GB", D_BYTES, INT64_C(1000000000)},
    {"TB", D_BYTES, INT64_C(1000000000000)},
    {"KiB", D_BYTES, 1024},
    {"MiB", D_BYTES, INT64_C(1) << 20},
    {"GiB", D_BYTES, INT64_C(1) << 30},
    {"TiB", D_BYTES, INT64_C(1) << 40},
    {"op", D_OPS, 1},
    {"vm-minute", D_VM_TIME, 1},
    {"vm-hour", D_VM_TIME, 60},
    {"vm-day", D_VM_TIME, 1440},
    {"J", D_ENERGY, 1},
    {"Wh", D_ENERGY, 3600},
    {"kWh", D_ENERGY, 3600000},
    {"MWh", D_ENERGY, INT64_C(3600000000)},
    {"mg", D_CARBON, 1},
    {"g", D_CARBON, 1000},
    {"kg", D_CARBON, 1000000},
    {"t", D_CARBON, INT64_C(1000000000)},
};
#define N_UNITS (sizeof units / sizeof *units)

/* The units of a dimension, for messages: "vcpu-minute, vcpu-hour, vcpu-day". */
static void unit_list(enum dim d, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < N_UNITS && n < size; i++)
		if (units[i].dim == d)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", units[i].name);
}

/* ---------------------------------------------------------------- reading */

struct reader {
	struct bill_catalog *c;
	const char *file;
	char *err;
	size_t errsize;
	bool failed;
	char where[256]; /* "plan 'std' version '2026-01' charge 'vcpu'" */
};

static void __attribute__((format(printf, 3, 4))) fail(struct reader *rd, int line, const char *fmt, ...)
{
	if (rd->failed)
		return;
	rd->failed = true;
	char prefix[sizeof rd->where + 2];
	snprintf(prefix, sizeof prefix, "%s%s", rd->where, rd->where[0] ? ": " : "");
	va_list ap;
	va_start(ap, fmt);
	vm_cfg_verror(rd->err, rd->errsize, rd->file, line, 0, prefix, fmt, ap);
	va_end(ap);
}

/* Appends " name 'title'" to the path of sections messages name. */
static size_t enter(struct reader *rd, const struct vm_cfgnode *sec)
{
	size_t len = strlen(rd->where);
	snprintf(rd->where + len, sizeof rd->where - len, "%s%s '%.60s'", len ? " " : "", sec->name,
	         sec->title ? sec->title : "");
	return len;
}

static void leave(struct reader *rd, size_t len)
{
	rd->where[len] = '\0';
}

/* The options and subsections a section may hold: each at most once
 * unless `multi`. */
struct field {
	const char *name;
	bool section, multi, required;
};

/* Checks the items of `sec` against `fields`; found[i] is the (last)
 * node of fields[i], NULL if absent. */
static int check_fields(struct reader *rd, const struct vm_cfgnode *sec, const struct field *fields, size_t n,
                        const struct vm_cfgnode **found)
{
	for (size_t i = 0; i < n; i++)
		found[i] = NULL;
	for (const struct vm_cfgnode *it = sec->child; it; it = it->next) {
		size_t i = 0;
		while (i < n && strcmp(fields[i].name, it->name) != 0)
			i++;
		if (i == n) {
			char known[512];
			size_t k = 0;
			known[0] = '\0';
			for (size_t j = 0; j < n && k < sizeof known; j++)
				k += (size_t)snprintf(known + k, sizeof known - k, "%s%s", j ? ", " : "",
				                      fields[j].name);
			fail(rd, it->line, "unknown %s '%s' (known here: %s)", it->value ? "option" : "section",
			     it->name, known);
			return -1;
		}
		if (fields[i].section != !it->value) {
			fail(rd, it->line, "'%s' must be %s", it->name,
			     fields[i].section ? "a section: name \"title\" { ... }" : "an option: name = value");
			return -1;
		}
		if (found[i] && !fields[i].multi) {
			fail(rd, it->line, "'%s' is given twice (first on line %d)", it->name, found[i]->line);
			return -1;
		}
		found[i] = it;
	}
	for (size_t i = 0; i < n; i++)
		if (fields[i].required && !found[i]) {
			fail(rd, sec->line, "'%s' must be given", fields[i].name);
			return -1;
		}
	return 0;
}

static int get_money(struct reader *rd, const struct vm_cfgnode *opt, bool allow_negative, vm_money *out)
{
	char why[256];
	if (vm_money_parse(opt->value, out, why, sizeof why) < 0) {
		fail(rd, opt->line, "%s: %s", opt->name, why);
		return -1;
	}
	if (!allow_negative && out->n < 0) {
		fail(rd, opt->line, "%s: '%s' is negative (credits are credit notes, not prices)", opt->name,
		     opt->value);
		return -1;
	}
	return 0;
}

/* A positive decimal integer without sign or leading zeros. */
static int parse_count(const char *s, int64_t *out)
{
	if (*s < '1' || *s > '9')
		return -1;
	int64_t v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (INT64_MAX - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (*s)
		return -1;
	*out = v;
	return 0;
}

/* "GiB-hour", "100 GiB", "1000000 op": base units of dimension d. */
static int get_per(struct reader *rd, const struct vm_cfgnode *opt, enum dim d, int64_t *out)
{
	const char *s = opt->value, *sp = strchr(s, ' ');
	int64_t count = 1;
	char num[32], list[512];
	if (sp) {
		size_t nl = (size_t)(sp - s);
		if (nl >= sizeof num || (memcpy(num, s, nl), num[nl] = '\0', parse_count(num, &count) < 0)) {
			fail(rd, opt->line, "per: '%s': a count before the unit must be a positive integer", s);
			return -1;
		}
		s = sp + 1;
	}
	if (strstr(s, "month")) {
		fail(rd, opt->line,
		     "per: '%s': a month is 40,320 to 44,640 minutes; price per day, hour or minute "
		     "so that a minute costs the same in every month",
		     opt->value);
		return -1;
	}
	for (size_t i = 0; i < N_UNITS; i++) {
		if (strcmp(units[i].name, s) != 0)
			continue;
		if (units[i].dim != d)
			break;
		if (count > INT64_MAX / units[i].base) {
			fail(rd, opt->line, "per: '%s' is too large", opt->value);
			return -1;
		}
		*out = count * units[i].base;
		return 0;
	}
	unit_list(d, list, sizeof list);
	fail(rd, opt->line, "per: '%s' is not a unit of this meter (units: %s, each may follow a count: \"100 %s\")",
	     opt->value, list, strchr(list, ',') ? strchr(list, ',') + 2 : list);
	return -1;
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* "2026-03-01" (midnight in the tenant's zone) or "2026-03-01T06:30Z",
 * "2026-03-01T06:30:00+01:00" (an absolute minute). */
static int get_when(struct reader *rd, const struct vm_cfgnode *opt, struct bill_when *out)
{
	const char *s = opt->value;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0;
	size_t len = strlen(s);
	bool ok = len >= 10 && digits(s, 4, &y) == 0 && s[4] == '-' && digits(s + 5, 2, &mo) == 0 && s[7] == '-' &&
	          digits(s + 8, 2, &d) == 0;
	const char *p = s + 10;
	bool local = ok && len == 10;
	if (ok && !local) {
		ok = *p == 'T' && digits(p + 1, 2, &h) == 0 && p[3] == ':' && digits(p + 4, 2, &mi) == 0;
		p += 6;
		if (ok && *p == ':') {
			ok = digits(p + 1, 2, &sec) == 0;
			p += 3;
		}
		if (ok && *p == 'Z') {
			ok = p[1] == '\0';
		} else if (ok && (*p == '+' || *p == '-')) {
			ok = digits(p + 1, 2, &oh) == 0 && p[3] == ':' && digits(p + 4, 2, &om) == 0 && p[6] == '\0' &&
			     oh <= 14 && om < 60;
			if (*p == '-') {
				oh = -oh;
				om = -om;
			}
		} else {
			ok = false;
		}
	}
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (!ok || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 ||
	    mi > 59 || sec > 59) {
		fail(rd, opt->line,
		     "%s: '%s' is not a date (2026-03-01: midnight in the tenant's time zone) or a UTC minute "
		     "(2026-03-01T06:30Z, 2026-03-01T07:30+01:00)",
		     opt->name, s);
		return -1;
	}
	if (sec) {
		fail(rd, opt->line, "%s: '%s' is not on a minute: usage is rated by whole minutes", opt->name, s);
		return -1;
	}
	int64_t days = days_from_civil(y, mo, d);
	*out = (struct bill_when){.set = true, .local = local};
	out->t = local ? days : days * 86400 + h * 3600 + mi * 60 - (oh * 3600 + om * 60);
	return 0;
}

/* Orders two moments of the same kind; mixing kinds is refused before. */
static int when_cmp(const struct bill_when *a, const struct bill_when *b)
{
	return a->t < b->t ? -1 : a->t > b->t;
}

/* from (required) and to (optional, after from, of the same kind). */
static int get_span(struct reader *rd, const struct vm_cfgnode *from, const struct vm_cfgnode *to, struct bill_when *f,
                    struct bill_when *t)
{
	if (get_when(rd, from, f) < 0 || (to && get_when(rd, to, t) < 0))
		return -1;
	if (!to)
		return 0;
	if (t->local != f->local) {
		fail(rd, to->line,
		     "to: a date and a UTC minute cannot be ordered before the tenant is known; "
		     "write both as dates or both as UTC minutes");
		return -1;
	}
	if (when_cmp(t, f) <= 0) {
		fail(rd, to->line, "to: '%s' is not after from '%s'", to->value, from->value);
		return -1;
	}
	return 0;
}

static int get_enum(struct reader *rd, const struct vm_cfgnode *opt, const char *const *names, size_t n, int *out)
{
	char list[256];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(opt->value, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
		k += (size_t)snprintf(list + k, sizeof list - k, "%s\"%s\"", i ? (i + 1 == n ? " or " : ", ") : "",
		                      names[i]);
	}
	fail(rd, opt->line, "%s: must be %s, got '%s'", opt->name, list, opt->value);
	return -1;
}

/* A plan's name: it is written on invoices and rated rows. */
static int check_plan_name(struct reader *rd, const struct vm_cfgnode *sec)
{
	const char *s = sec->title;
	size_t n = s ? strlen(s) : 0;
	bool ok = n >= 1 && n <= 63;
	for (size_t i = 0; ok && i < n; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		     strchr("-_.", s[i]);
	if (!ok)
		fail(rd, sec->line,
		     "the title must be 1 to 63 letters, digits, '-', '_' or '.' (plan \"standard\" { })");
	return ok ? 0 : -1;
}

static const char *const time_names[] = {"running", "defined"};
static const char *const model_names[] = {"per-unit", "graduated", "volume", "package"};

static void charge_free(struct bill_charge *ch)
{
	free(ch->net_class);
	free(ch->host_class);
	free(ch->tag_key);
	free(ch->tag_value);
	free(ch->per_text);
	free(ch->tiers);
}

static void version_free(struct bill_version *v)
{
	for (size_t i = 0; i < v->n_charges; i++)
		charge_free(&v->charges[i]);
	free(v->charges);
	free(v->label);
}

static void plan_free(struct bill_plan *p)
{
	for (size_t i = 0; i < p->n_versions; i++)
		version_free(&p->versions[i]);
	free(p->versions);
	free(p->name);
}

static void tenant_free(struct bill_tenant *t)
{
	for (size_t i = 0; i < t->n_assigns; i++) {
		free(t->assigns[i].plan);
		free(t->assigns[i].project);
	}
	free(t->assigns);
	free(t->name);
	free(t->time_zone);
}

/* "vcpu", "net.rx", "net.internet.tx". */
static int get_meter(struct reader *rd, const struct vm_cfgnode *sec, struct bill_charge *ch)
{
	const char *m = sec->title;
	if (!m) {
		fail(rd, sec->line, "a charge names its meter: charge vcpu { ... }");
		return -1;
	}
	size_t len = strlen(m);
	if (strncmp(m, "net.", 4) == 0 && len > 7 &&
	    (strcmp(m + len - 3, ".rx") == 0 || strcmp(m + len - 3, ".tx") == 0)) {
		/* net.CLASS.rx: net.rx (all traffic) is in the table */
		ch->meter = m[len - 2] == 'r' ? BILL_NET_RX : BILL_NET_TX;
		ch->net_class = vm_xstrndup(m + 4, len - 7);
		bool known = !rd->c->classes_set;
		for (size_t i = 0; !known && i < rd->c->n_classes; i++)
			known = strcmp(rd->c->classes[i], ch->net_class) == 0;
		if (!known) {
			fail(rd, sec->line, "no traffic class '%s' in the configuration", ch->net_class);
			return -1;
		}
		return 0;
	}
	for (int i = 0; i < BILL_METER__COUNT; i++)
		if (strcmp(meters[i].name, m) == 0) {
			ch->meter = (enum bill_meter)i;
			return 0;
		}
	char list[512];
	size_t k = 0;
	for (int i = 0; i < BILL_METER__COUNT; i++)
		k += (size_t)snprintf(list + k, sizeof list - k, "%s, ", meters[i].name);
	fail(rd, sec->line, "unknown meter (meters: %snet.CLASS.rx, net.CLASS.tx)", list);
	return -1;
}

static int read_tier(struct reader *rd, const struct vm_cfgnode *sec, const struct bill_charge *ch, struct bill_tier *t)
{
	static const struct field f[] = {{"up-to", false, false, false}, {"price", false, false, true}};
	const struct vm_cfgnode *o[2];
	if (sec->title) {
		fail(rd, sec->line, "a tier has no title: tier { up-to = 100  price = 0.05 }");
		return -1;
	}
	if (check_fields(rd, sec, f, 2, o) < 0 || get_money(rd, o[1], false, &t->price) < 0)
		return -1;
	t->line = sec->line;
	t->upto = INT64_MAX;
	if (o[0]) {
		int64_t n;
		if (parse_count(o[0]->value, &n) < 0 || n > INT64_MAX / ch->per) {
			fail(rd, o[0]->line, "up-to: '%s' must be a positive integer count of '%s' (not too large)",
			     o[0]->value, ch->per_text);
			return -1;
		}
		t->upto = n * ch->per;
	}
	return 0;
}

static int read_charge(struct reader *rd, const struct vm_cfgnode *sec, const struct bill_plan *p,
                       struct bill_charge *ch)
{
	static const struct field f[] = {
	    {"model", false, false, false}, {"price", false, false, false},      {"per", false, false, true},
	    {"tier", true, true, false},    {"host-class", false, false, false}, {"time", false, false, false},
	    {"tag", false, false, false},
	};
	const struct vm_cfgnode *o[7];
	ch->line = sec->line;
	ch->time = p->time;
	if (get_meter(rd, sec, ch) < 0 || check_fields(rd, sec, f, 7, o) < 0)
		return -1;
	if (o[6]) {
		/* "gpu" (the tag at all) or "tier=gold" (that value), as the VMs'
		 * owner metadata writes tags */
		const char *s = o[6]->value, *eq = strchr(s, '=');
		size_t klen = eq ? (size_t)(eq - s) : strlen(s);
		if (klen == 0 || klen > 64 || (eq && strlen(eq + 1) > 256)) {
			fail(rd, o[6]->line, "tag: '%s' is not KEY or KEY=VALUE (a key of 1 to 64 characters)", s);
			return -1;
		}
		ch->tag_key = vm_xstrndup(s, klen);
		ch->tag_value = eq ? vm_xstrdup(eq + 1) : NULL;
	}
	int v = BILL_PER_UNIT;
	if (o[0] && get_enum(rd, o[0], model_names, 4, &v) < 0)
		return -1;
	ch->model = (enum bill_model)v;
	if (get_per(rd, o[2], meters[ch->meter].dim, &ch->per) < 0)
		return -1;
	ch->per_text = vm_xstrdup(o[2]->value);
	if (o[4])
		ch->host_class = vm_xstrdup(o[4]->value);
	if (o[5]) {
		if (!meters[ch->meter].timed) {
			fail(rd, o[5]->line, "time: only time-based meters (vcpu, ram, disk, vm) count minutes");
			return -1;
		}
		if (get_enum(rd, o[5], time_names, 2, &v) < 0)
			return -1;
		ch->time = (enum bill_time)v;
	} else if (ch->meter == BILL_DISK) {
		ch->time = BILL_TIME_DEFINED; /* a stopped VM's disks take space */
	}
	bool tiered = ch->model == BILL_GRADUATED || ch->model == BILL_VOLUME;
	if (tiered && o[1]) {
		fail(rd, o[1]->line, "price: a %s charge has its prices in its tiers", model_names[ch->model]);
		return -1;
	}
	if (!tiered) {
		if (!o[1]) {
			fail(rd, sec->line, "'price' must be given");
			return -1;
		}
		for (const struct vm_cfgnode *it = sec->child; it; it = it->next)
			if (strcmp(it->name, "tier") == 0) {
				fail(rd, it->line,
				     "tier: only graduated and volume charges have tiers (model = \"graduated\")");
				return -1;
			}
		return get_money(rd, o[1], false, &ch->price);
	}
	for (const struct vm_cfgnode *it = sec->child; it; it = it->next) {
		if (strcmp(it->name, "tier") != 0)
			continue;
		if (ch->n_tiers && ch->tiers[ch->n_tiers - 1].upto == INT64_MAX) {
			fail(rd, it->line, "tier: comes after the tier without 'up-to' (line %d), which has no end",
			     ch->tiers[ch->n_tiers - 1].line);
			return -1;
		}
		if (ch->n_tiers == BILL_MAX_TIERS) {
			fail(rd, it->line, "tier: more than %d tiers", BILL_MAX_TIERS);
			return -1;
		}
		ch->tiers = vm_xrealloc(ch->tiers, (ch->n_tiers + 1) * sizeof *ch->tiers);
		struct bill_tier *t = &ch->tiers[ch->n_tiers];
		if (read_tier(rd, it, ch, t) < 0)
			return -1;
		ch->n_tiers++;
		if (ch->n_tiers > 1 && t->upto <= ch->tiers[ch->n_tiers - 2].upto) {
			fail(rd, it->line, "tier: up-to must grow from tier to tier (line %d has as much or more)",
			     ch->tiers[ch->n_tiers - 2].line);
			return -1;
		}
	}
	if (!ch->n_tiers || ch->tiers[ch->n_tiers - 1].upto != INT64_MAX) {
		fail(rd, sec->line, "a %s charge needs tiers, the last without 'up-to' (tier { price = 0.04 })",
		     model_names[ch->model]);
		return -1;
	}
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static int read_version(struct reader *rd, const struct vm_cfgnode *sec, const struct bill_plan *p,
                        struct bill_version *v)
{
	static const struct field f[] = {
	    {"from", false, false, true},
	    {"to", false, false, false},
	    {"minimum", false, false, false},
	    {"charge", true, true, false},
	};
	const struct vm_cfgnode *o[4];
	v->line = sec->line;
	if (!sec->title) {
		fail(rd, sec->line, "a version has a label, written on rated usage: version \"2026-01\" { ... }");
		return -1;
	}
	v->label = vm_xstrdup(sec->title);
	if (check_fields(rd, sec, f, 4, o) < 0 || get_span(rd, o[0], o[1], &v->from, &v->to) < 0)
		return -1;
	if (o[2] && get_money(rd, o[2], false, &v->minimum) < 0)
		return -1;
	for (const struct vm_cfgnode *it = sec->child; it; it = it->next) {
		if (strcmp(it->name, "charge") != 0)
			continue;
		v->charges = vm_xrealloc(v->charges, (v->n_charges + 1) * sizeof *v->charges);
		struct bill_charge *ch = memset(&v->charges[v->n_charges++], 0, sizeof *v->charges);
		size_t mark = enter(rd, it);
		if (read_charge(rd, it, p, ch) < 0)
			return -1;
		leave(rd, mark);
		for (size_t i = 0; i + 1 < v->n_charges; i++) {
			const struct bill_charge *x = &v->charges[i];
			if (x->meter == ch->meter && same_str(x->net_class, ch->net_class) &&
			    same_str(x->host_class, ch->host_class) && same_str(x->tag_key, ch->tag_key) &&
			    same_str(x->tag_value, ch->tag_value)) {
				fail(rd, it->line, "charge '%s'%s%s%s%s%s%s is given twice (first on line %d)",
				     it->title, ch->host_class ? " for host class " : "",
				     ch->host_class ? ch->host_class : "", ch->tag_key ? " for tag " : "",
				     ch->tag_key ? ch->tag_key : "", ch->tag_value ? "=" : "",
				     ch->tag_value ? ch->tag_value : "", x->line);
				return -1;
			}
		}
	}
	if (!v->n_charges) {
		fail(rd, sec->line, "a version without a charge prices nothing: add charge sections");
		return -1;
	}
	return 0;
}

static int version_cmp(const void *a, const void *b)
{
	return when_cmp(&((const struct bill_version *)a)->from, &((const struct bill_version *)b)->from);
}

static int read_plan(struct reader *rd, const struct vm_cfgnode *sec, struct bill_plan *p)
{
	static const struct field f[] = {
	    {"currency", false, false, true},
	    {"rounding", false, false, false},
	    {"time", false, false, false},
	    {"version", true, true, true},
	};
	const struct vm_cfgnode *o[4];
	p->line = sec->line;
	p->file = rd->file;
	p->rounding = VM_ROUND_HALF_UP;
	p->time = BILL_TIME_RUNNING;
	if (check_plan_name(rd, sec) < 0)
		return -1;
	p->name = vm_xstrdup(sec->title);
	if (check_fields(rd, sec, f, 4, o) < 0)
		return -1;
	if (!(p->currency = vm_currency_find(o[0]->value))) {
		fail(rd, o[0]->line, "currency: '%s' is not an ISO 4217 currency code (EUR, USD, JPY, ...)",
		     o[0]->value);
		return -1;
	}
	if (o[1] && vm_round_parse(o[1]->value, &p->rounding) < 0) {
		fail(rd, o[1]->line,
		     "rounding: must be \"half-up\", \"half-even\", \"down\", \"up\", \"floor\" or \"ceiling\", got "
		     "'%s'",
		     o[1]->value);
		return -1;
	}
	int v;
	if (o[2]) {
		if (get_enum(rd, o[2], time_names, 2, &v) < 0)
			return -1;
		p->time = (enum bill_time)v;
	}
	for (const struct vm_cfgnode *it = sec->child; it; it = it->next) {
		if (strcmp(it->name, "version") != 0)
			continue;
		p->versions = vm_xrealloc(p->versions, (p->n_versions + 1) * sizeof *p->versions);
		struct bill_version *ver = memset(&p->versions[p->n_versions++], 0, sizeof *p->versions);
		size_t mark = enter(rd, it);
		if (read_version(rd, it, p, ver) < 0)
			return -1;
		leave(rd, mark);
		for (size_t i = 0; i + 1 < p->n_versions; i++) {
			if (strcmp(p->versions[i].label, ver->label) == 0) {
				fail(rd, it->line, "version '%s' is given twice (first on line %d)", ver->label,
				     p->versions[i].line);
				return -1;
			}
			if (p->versions[i].from.local != ver->from.local) {
				fail(rd, it->line,
				     "version '%s': its from is a %s and version '%s''s (line %d) a %s: write all as "
				     "dates or all "
				     "as UTC minutes",
				     ver->label, ver->from.local ? "date" : "UTC minute", p->versions[i].label,
				     p->versions[i].line, ver->from.local ? "UTC minute" : "date");
				return -1;
			}
		}
	}
	qsort(p->versions, p->n_versions, sizeof *p->versions, version_cmp);
	for (size_t i = 0; i + 1 < p->n_versions; i++) {
		struct bill_version *a = &p->versions[i], *b = &p->versions[i + 1];
		if (when_cmp(&a->from, &b->from) == 0) {
			fail(rd, b->line, "version '%s' starts when version '%s' (line %d) does", b->label, a->label,
			     a->line);
			return -1;
		}
		if (a->to.set && when_cmp(&a->to, &b->from) > 0) {
			fail(rd, b->line, "version '%s' starts before version '%s' (line %d) ends: the dates overlap",
			     b->label, a->label, a->line);
			return -1;
		}
		if (!a->to.set)
			a->to = b->from;
	}
	return 0;
}

/* A time zone tzdata knows: its file under the zoneinfo directory. */
static int check_zone(struct reader *rd, const struct vm_cfgnode *opt)
{
	const char *z = opt->value;
	bool ok = z[0] && z[0] != '/' && !strstr(z, "..") && strlen(z) < 64;
	for (const char *s = z; ok && *s; s++)
		ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		     strchr("/_+-", *s);
	if (ok) {
		const char *dir = getenv("TZDIR");
		char path[512];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", z);
		ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	}
	if (!ok)
		fail(rd, opt->line,
		     "time-zone: '%s' is not a time zone tzdata knows (Europe/Berlin, America/New_York, UTC)", z);
	return ok ? 0 : -1;
}

static int read_assign(struct reader *rd, const struct vm_cfgnode *sec, struct bill_assign *a)
{
	static const struct field f[] = {
	    {"project", false, false, false},
	    {"from", false, false, true},
	    {"to", false, false, false},
	};
	const struct vm_cfgnode *o[3];
	a->line = sec->line;
	if (!sec->title) {
		fail(rd, sec->line, "an assignment names its plan: assign \"standard\" { from = 2026-01-01 }");
		return -1;
	}
	a->plan = vm_xstrdup(sec->title);
	if (check_fields(rd, sec, f, 3, o) < 0 || get_span(rd, o[1], o[2], &a->from, &a->to) < 0)
		return -1;
	if (o[0])
		a->project = vm_xstrdup(o[0]->value);
	return 0;
}

/* Two assignments of one scope (the tenant, or one project) that are in
 * force at the same minute would leave the price to chance. */
static bool overlap(const struct bill_assign *a, const struct bill_assign *b)
{
	if (a->from.local != b->from.local)
		return true; /* cannot be ordered: refused as if they overlapped */
	bool a_before_b = a->to.set && when_cmp(&a->to, &b->from) <= 0;
	bool b_before_a = b->to.set && when_cmp(&b->to, &a->from) <= 0;
	return !a_before_b && !b_before_a;
}

static int read_tenant(struct reader *rd, const struct vm_cfgnode *sec, struct bill_tenant *t)
{
	static const struct field f[] = {
	    {"currency", false, false, true},
	    {"time-zone", false, false, true},
	    {"showback", false, false, false},
	    {"assign", true, true, false},
	};
	const struct vm_cfgnode *o[4];
	t->line = sec->line;
	t->file = rd->file;
	if (!sec->title || !sec->title[0] || strlen(sec->title) > 255) {
		fail(rd, sec->line, "a tenant section's title is the tenant's name (as in the VMs' owner metadata)");
		return -1;
	}
	t->name = vm_xstrdup(sec->title);
	if (check_fields(rd, sec, f, 4, o) < 0)
		return -1;
	if (!(t->currency = vm_currency_find(o[0]->value))) {
		fail(rd, o[0]->line, "currency: '%s' is not an ISO 4217 currency code (EUR, USD, JPY, ...)",
		     o[0]->value);
		return -1;
	}
	if (check_zone(rd, o[1]) < 0)
		return -1;
	t->time_zone = vm_xstrdup(o[1]->value);
	if (o[2]) {
		static const char *const modes[] = {"false", "true", "costs"};
		int v;
		if (get_enum(rd, o[2], modes, 3, &v) < 0)
			return -1;
		t->showback = v != 0;
		t->showback_costs = v == 2;
	}
	for (const struct vm_cfgnode *it = sec->child; it; it = it->next) {
		if (strcmp(it->name, "assign") != 0)
			continue;
		t->assigns = vm_xrealloc(t->assigns, (t->n_assigns + 1) * sizeof *t->assigns);
		struct bill_assign *a = memset(&t->assigns[t->n_assigns++], 0, sizeof *t->assigns);
		size_t mark = enter(rd, it);
		if (read_assign(rd, it, a) < 0)
			return -1;
		leave(rd, mark);
		for (size_t i = 0; i + 1 < t->n_assigns; i++) {
			const struct bill_assign *b = &t->assigns[i];
			if (same_str(a->project, b->project) && overlap(a, b)) {
				fail(rd, it->line, "assign '%s'%s%s overlaps assign '%s' (line %d): one plan at a time",
				     a->plan, a->project ? " of project " : "", a->project ? a->project : "", b->plan,
				     b->line);
				return -1;
			}
		}
	}
	if (!t->n_assigns && !t->showback) {
		fail(rd, sec->line, "an invoiced tenant needs a plan: add assign \"PLAN\" { from = DATE }");
		return -1;
	}
	return 0;
}

static void globs_free(char **g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(g[i]);
	free(g);
}

static void hclass_free(struct bill_host_class *h)
{
	free(h->name);
	free(h->grid);
	globs_free(h->globs, h->n_globs);
}

static void grid_free(struct bill_grid *g)
{
	free(g->name);
}

static void pool_free(struct bill_pool_def *p)
{
	free(p->name);
	free(p->host_class);
	globs_free(p->host_globs, p->n_host_globs);
	free(p->time_zone);
	for (size_t i = 0; i < p->n_costs; i++)
		free(p->costs[i].label);
	free(p->costs);
}

/* "gpu-* ml-??": shell globs separated by spaces, at least one. */
static int get_globs(struct reader *rd, const struct vm_cfgnode *opt, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	const char *s = opt->value;
	while (*s) {
		while (*s == ' ')
			s++;
		size_t len = strcspn(s, " ");
		if (!len)
			break;
		*out = vm_xrealloc(*out, (*n + 1) * sizeof **out);
		(*out)[(*n)++] = vm_xstrndup(s, len);
		s += len;
	}
	if (!*n) {
		fail(rd, opt->line, "%s: name at least one host name or glob (\"gpu-*\")", opt->name);
		return -1;
	}
	return 0;
}

/* "120", "85.5 W", "1.2 kW": a quantity with at most 3 decimals, in
 * thousandths of the first unit of `units` (each unit the next's factor
 * `factors[i]` of the first); the unit may be left out. */
static int get_milli(struct reader *rd, const struct vm_cfgnode *opt, const char *const *names, const int64_t *factors,
                     size_t n_units, int64_t *out)
{
	const char *s = opt->value;
	int64_t v = 0;
	int decimals = -1;
	bool digits = false;
	for (; (*s >= '0' && *s <= '9') || (*s == '.' && decimals < 0); s++) {
		if (*s == '.') {
			decimals = 0;
			continue;
		}
		if (decimals >= 3 || v > (INT64_MAX / 1000 - 9) / 10)
			goto bad;
		v = v * 10 + (*s - '0');
		digits = true;
		if (decimals >= 0)
			decimals++;
	}
	if (!digits)
		goto bad;
	for (int d = decimals < 0 ? 0 : decimals; d < 3; d++)
		v *= 10;
	while (*s == ' ')
		s++;
	int64_t f = 1;
	if (*s) {
		size_t i = 0;
		while (i < n_units && strcmp(s, names[i]) != 0)
			i++;
		if (i == n_units)
			goto bad;
		f = factors[i];
	}
	if (v > INT64_MAX / 1000 / f)
		goto bad;
	*out = v * f;
	return 0;
bad:;
	char list[128];
	size_t k = 0;
	list[0] = '\0';
	for (size_t i = 0; i < n_units && k < sizeof list; i++)
		k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", names[i]);
	fail(rd, opt->line, "%s: '%s' is not a number (at most 3 decimals, not negative) in %s", opt->name, opt->value,
	     list);
	return -1;
}

static int read_host_class(struct reader *rd, const struct vm_cfgnode *sec, struct bill_host_class *h)
{
	static const struct field f[] = {{"hosts", false, false, true},
	                                 {"idle-power", false, false, false},
	                                 {"max-power", false, false, false},
	                                 {"grid", false, false, false}};
	static const char *const watts[] = {"W", "kW"};
	static const int64_t watt_f[] = {1, 1000};
	const struct vm_cfgnode *o[4];
	h->line = sec->line;
	h->file = rd->file;
	if (check_plan_name(rd, sec) < 0)
		return -1;
	h->name = vm_xstrdup(sec->title);
	if (check_fields(rd, sec, f, 4, o) < 0 || get_globs(rd, o[0], &h->globs, &h->n_globs) < 0)
		return -1;
	if (!o[1] != !o[2]) {
		fail(rd, (o[1] ? o[1] : o[2])->line,
		     "a power model needs both 'idle-power' and 'max-power' (watts at idle and at full CPU load)");
		return -1;
	}
	if (o[1]) {
		if (get_milli(rd, o[1], watts, watt_f, 2, &h->idle_mw) < 0 ||
		    get_milli(rd, o[2], watts, watt_f, 2, &h->max_mw) < 0)
			return -1;
		if (h->max_mw < h->idle_mw || h->max_mw == 0) {
			fail(rd, o[2]->line, "max-power: '%s' is below idle-power '%s' (or zero)", o[2]->value,
			     o[1]->value);
			return -1;
		}
		h->power = true;
	}
	if (o[3]) {
		h->grid = vm_xstrdup(o[3]->value);
		h->grid_line = o[3]->line;
	}
	return 0;
}

static int read_grid(struct reader *rd, const struct vm_cfgnode *sec, struct bill_grid *g)
{
	static const struct field f[] = {{"intensity", false, false, true}};
	static const char *const per_kwh[] = {"g/kWh", "kg/MWh"};
	static const int64_t factors[] = {1, 1};
	const struct vm_cfgnode *o[1];
	g->line = sec->line;
	g->file = rd->file;
	if (check_plan_name(rd, sec) < 0)
		return -1;
	g->name = vm_xstrdup(sec->title);
	if (check_fields(rd, sec, f, 1, o) < 0)
		return -1;
	return get_milli(rd, o[0], per_kwh, factors, 2, &g->mg_per_kwh);
}

static int read_cost(struct reader *rd, const struct vm_cfgnode *sec, const struct bill_pool_def *p,
                     struct bill_cost *k)
{
	static const struct field f[] = {
	    {"month", false, false, true}, {"from", false, false, false}, {"to", false, false, false}};
	const struct vm_cfgnode *o[3];
	k->line = sec->line;
	if (!sec->title) {
		fail(rd, sec->line, "a cost names what it is: cost \"amortisation\" { month = 800.00 }");
		return -1;
	}
	k->label = vm_xstrdup(sec->title);
	if (check_fields(rd, sec, f, 3, o) < 0 || get_money(rd, o[0], false, &k->month) < 0)
		return -1;
	if (k->month.n % vm_currency_minor(p->currency) != 0) {
		fail(rd, o[0]->line, "month: '%s' has more decimals than %s's %d", o[0]->value, p->currency->code,
		     p->currency->digits);
		return -1;
	}
	if (o[1] && get_span(rd, o[1], o[2], &k->from, &k->to) < 0)
		return -1;
	if (!o[1] && o[2] && get_when(rd, o[2], &k->to) < 0)
		return -1;
	if ((k->from.set && !k->from.local) || (k->to.set && !k->to.local)) {
		fail(rd, o[k->from.set && !k->from.local ? 1 : 2]->line,
		     "a cost is in force for whole months: give dates (2026-01-01), not minutes");
		return -1;
	}
	return 0;
}

static int read_pool(struct reader *rd, const struct vm_cfgnode *sec, struct bill_pool_def *p)
{
	static const struct field f[] = {
	    {"currency", false, false, true},   {"host-class", false, false, false}, {"hosts", false, false, false},
	    {"time-zone", false, false, false}, {"split", false, false, false},      {"idle", false, false, false},
	    {"cost", true, true, true},
	};
	const struct vm_cfgnode *o[7];
	p->line = sec->line;
	p->file = rd->file;
	if (check_plan_name(rd, sec) < 0)
		return -1;
	p->name = vm_xstrdup(sec->title);
	if (check_fields(rd, sec, f, 7, o) < 0)
		return -1;
	if (!(p->currency = vm_currency_find(o[0]->value))) {
		fail(rd, o[0]->line, "currency: '%s' is not an ISO 4217 currency code (EUR, USD, JPY, ...)",
		     o[0]->value);
		return -1;
	}
	if (!o[1] == !o[2]) {
		fail(rd, sec->line, "a pool takes its hosts by 'host-class' or by 'hosts' (globs): give one of them");
		return -1;
	}
	if (o[1])
		p->host_class = vm_xstrdup(o[1]->value);
	else if (get_globs(rd, o[2], &p->host_globs, &p->n_host_globs) < 0)
		return -1;
	if (o[3] && check_zone(rd, o[3]) < 0)
		return -1;
	p->time_zone = vm_xstrdup(o[3] ? o[3]->value : "UTC");
	int v = 0;
	static const char *const splits[] = {"allocation", "use", "max"};
	if (o[4] && get_enum(rd, o[4], splits, 3, &v) < 0)
		return -1;
	p->split = (enum bill_pool_split)v;
	static const char *const idles[] = {"line", "spread"};
	v = 0;
	if (o[5] && get_enum(rd, o[5], idles, 2, &v) < 0)
		return -1;
	p->spread_idle = v == 1;
	for (const struct vm_cfgnode *it = sec->child; it; it = it->next) {
		if (strcmp(it->name, "cost") != 0)
			continue;
		p->costs = vm_xrealloc(p->costs, (p->n_costs + 1) * sizeof *p->costs);
		struct bill_cost *k = memset(&p->costs[p->n_costs++], 0, sizeof *p->costs);
		size_t mark = enter(rd, it);
		if (read_cost(rd, it, p, k) < 0)
			return -1;
		leave(rd, mark);
	}
	return 0;
}

/* ---------------------------------------------------------------- the catalog */

struct bill_catalog *bill_catalog_new(void)
{
	return vm_xcalloc(1, sizeof(struct bill_catalog));
}

void bill_catalog_free(struct bill_catalog *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_plans; i++)
		plan_free(&c->plans[i]);
	for (size_t i = 0; i < c->n_tenants; i++)
		tenant_free(&c->tenants[i]);
	for (size_t i = 0; i < c->n_files; i++)
		free(c->files[i]);
	for (size_t i = 0; i < c->n_classes; i++)
		free(c->classes[i]);
	for (size_t i = 0; i < c->n_hclasses; i++)
		hclass_free(&c->hclasses[i]);
	for (size_t i = 0; i < c->n_pools; i++)
		pool_free(&c->pools[i]);
	for (size_t i = 0; i < c->n_grids; i++)
		grid_free(&c->grids[i]);
	free(c->grids);
	free(c->hclasses);
	free(c->pools);
	free(c->plans);
	free(c->tenants);
	free(c->files);
	free(c->classes);
	free(c);
}

void bill_catalog_set_classes(struct bill_catalog *c, const char *const *classes, size_t n)
{
	for (size_t i = 0; i < c->n_classes; i++)
		free(c->classes[i]);
	c->classes = vm_xrealloc(c->classes, (n ? n : 1) * sizeof *c->classes);
	for (size_t i = 0; i < n; i++)
		c->classes[i] = vm_xstrdup(classes[i]);
	c->n_classes = n;
	c->classes_set = true;
}

static int read_tree(struct reader *rd, const struct vm_cfgnode *root)
{
	struct bill_catalog *c = rd->c;
	for (const struct vm_cfgnode *it = root; it; it = it->next) {
		bool plan = strcmp(it->name, "plan") == 0;
		bool hclass = strcmp(it->name, "host-class") == 0, pool = strcmp(it->name, "pool") == 0;
		bool grid = strcmp(it->name, "grid") == 0;
		if ((!plan && !hclass && !pool && !grid && strcmp(it->name, "tenant") != 0) || it->value) {
			fail(rd, it->line,
			     "'%s': a plan file holds plan, tenant, host-class, pool and grid \"NAME\" { } sections",
			     it->name);
			return -1;
		}
		size_t mark = enter(rd, it);
		int rc;
		if (hclass) {
			c->hclasses = vm_xgrow(c->hclasses, &c->cap_hclasses, c->n_hclasses + 1, sizeof *c->hclasses);
			struct bill_host_class *h = memset(&c->hclasses[c->n_hclasses++], 0, sizeof *c->hclasses);
			rc = read_host_class(rd, it, h);
			for (size_t i = 0; rc == 0 && i + 1 < c->n_hclasses; i++)
				if (strcmp(c->hclasses[i].name, h->name) == 0) {
					leave(rd, mark);
					fail(rd, it->line, "host-class '%s' is defined twice (first in %s:%d)", h->name,
					     c->hclasses[i].file, c->hclasses[i].line);
					rc = -1;
				}
		} else if (grid) {
			c->grids = vm_xgrow(c->grids, &c->cap_grids, c->n_grids + 1, sizeof *c->grids);
			struct bill_grid *g = memset(&c->grids[c->n_grids++], 0, sizeof *c->grids);
			rc = read_grid(rd, it, g);
			for (size_t i = 0; rc == 0 && i + 1 < c->n_grids; i++)
				if (strcmp(c->grids[i].name, g->name) == 0) {
					leave(rd, mark);
					fail(rd, it->line, "grid '%s' is defined twice (first in %s:%d)", g->name,
					     c->grids[i].file, c->grids[i].line);
					rc = -1;
				}
		} else if (pool) {
			c->pools = vm_xgrow(c->pools, &c->cap_pools, c->n_pools + 1, sizeof *c->pools);
			struct bill_pool_def *p = memset(&c->pools[c->n_pools++], 0, sizeof *c->pools);
			rc = read_pool(rd, it, p);
			for (size_t i = 0; rc == 0 && i + 1 < c->n_pools; i++)
				if (strcmp(c->pools[i].name, p->name) == 0) {
					leave(rd, mark);
					fail(rd, it->line, "pool '%s' is defined twice (first in %s:%d)", p->name,
					     c->pools[i].file, c->pools[i].line);
					rc = -1;
				}
		} else if (plan) {
			c->plans = vm_xgrow(c->plans, &c->cap_plans, c->n_plans + 1, sizeof *c->plans);
			struct bill_plan *p = memset(&c->plans[c->n_plans++], 0, sizeof *c->plans);
			rc = read_plan(rd, it, p);
			for (size_t i = 0; rc == 0 && i + 1 < c->n_plans; i++)
				if (strcmp(c->plans[i].name, p->name) == 0) {
					leave(rd, mark);
					fail(rd, it->line, "plan '%s' is defined twice (first in %s:%d)", p->name,
					     c->plans[i].file, c->plans[i].line);
					rc = -1;
				}
		} else {
			c->tenants = vm_xgrow(c->tenants, &c->cap_tenants, c->n_tenants + 1, sizeof *c->tenants);
			struct bill_tenant *t = memset(&c->tenants[c->n_tenants++], 0, sizeof *c->tenants);
			rc = read_tenant(rd, it, t);
			for (size_t i = 0; rc == 0 && i + 1 < c->n_tenants; i++)
				if (strcmp(c->tenants[i].name, t->name) == 0) {
					leave(rd, mark);
					fail(rd, it->line, "tenant '%s' is defined twice (first in %s:%d)", t->name,
					     c->tenants[i].file, c->tenants[i].line);
					rc = -1;
				}
		}
		if (rc < 0)
			return -1;
		leave(rd, mark);
	}
	return 0;
}

static int load_tree(struct bill_catalog *c, struct vm_cfgtree *tree, char *err, size_t errsize)
{
	if (!tree)
		return -1;
	c->files = vm_xrealloc(c->files, (c->n_files + 1) * sizeof *c->files);
	char *file = c->files[c->n_files++] = vm_xstrdup(vm_cfgtree_file(tree));
	struct reader rd = {.c = c, .file = file, .err = err, .errsize = errsize};
	size_t np = c->n_plans, nt = c->n_tenants, nh = c->n_hclasses, npo = c->n_pools, ng = c->n_grids;
	int rc = read_tree(&rd, vm_cfgtree_root(tree));
	vm_cfgtree_free(tree);
	if (rc < 0) { /* all or nothing: the catalog as it was */
		for (size_t i = np; i < c->n_plans; i++)
			plan_free(&c->plans[i]);
		for (size_t i = nt; i < c->n_tenants; i++)
			tenant_free(&c->tenants[i]);
		for (size_t i = nh; i < c->n_hclasses; i++)
			hclass_free(&c->hclasses[i]);
		for (size_t i = npo; i < c->n_pools; i++)
			pool_free(&c->pools[i]);
		for (size_t i = ng; i < c->n_grids; i++)
			grid_free(&c->grids[i]);
		c->n_grids = ng;
		c->n_plans = np;
		c->n_tenants = nt;
		c->n_hclasses = nh;
		c->n_pools = npo;
		free(c->files[--c->n_files]);
	}
	return rc;
}

int bill_catalog_load(struct bill_catalog *c, const char *path, char *err, size_t errsize)
{
	return load_tree(c, vm_cfgtree_load(path, err, errsize), err, errsize);
}

int bill_catalog_parse(struct bill_catalog *c, const char *file, const char *text, size_t len, char *err,
                       size_t errsize)
{
	return load_tree(c, vm_cfgtree_parse(file, text, len, err, errsize), err, errsize);
}

const struct bill_host_class *bill_catalog_host_classes(const struct bill_catalog *c, size_t *n)
{
	*n = c->n_hclasses;
	return c->hclasses;
}

const struct bill_pool_def *bill_catalog_pools(const struct bill_catalog *c, size_t *n)
{
	*n = c->n_pools;
	return c->pools;
}

static bool globs_match(char *const *g, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(g[i], name, 0) == 0)
			return true;
	return false;
}

const char *bill_catalog_class_of(const struct bill_catalog *c, const char *hostname)
{
	for (size_t i = 0; i < c->n_hclasses; i++)
		if (globs_match(c->hclasses[i].globs, c->hclasses[i].n_globs, hostname))
			return c->hclasses[i].name;
	return NULL;
}

const struct bill_pool_def *bill_catalog_pool_of(const struct bill_catalog *c, const char *hostname)
{
	const char *cls = bill_catalog_class_of(c, hostname);
	for (size_t i = 0; i < c->n_pools; i++) {
		const struct bill_pool_def *p = &c->pools[i];
		if (p->host_class ? cls && strcmp(cls, p->host_class) == 0
		                  : globs_match(p->host_globs, p->n_host_globs, hostname))
			return p;
	}
	return NULL;
}

vm_money bill_pool_month_cost(const struct bill_pool_def *p, int64_t month)
{
	vm_money sum = {0};
	for (size_t i = 0; i < p->n_costs; i++) {
		const struct bill_cost *k = &p->costs[i];
		if ((!k->from.set || month >= k->from.t) && (!k->to.set || month < k->to.t))
			sum.n += k->month.n; /* each fits, and a pool has few: checked in bill_catalog_check() */
	}
	return sum;
}

static bool charge_matches(const struct bill_charge *ch, const char *hc, bill_tag_fn tag, void *arg)
{
	if (ch->host_class && !(hc && strcmp(ch->host_class, hc) == 0))
		return false;
	if (ch->tag_key) {
		const char *v = tag ? tag(ch->tag_key, arg) : NULL;
		if (!v || (ch->tag_value && strcmp(v, ch->tag_value) != 0))
			return false;
	}
	return true;
}

static int specificity(const struct bill_charge *ch)
{
	return (ch->tag_key ? 2 : 0) + (ch->host_class ? 1 : 0);
}

bool bill_charge_applies(const struct bill_version *v, size_t j, const char *hc, bill_tag_fn tag, void *arg)
{
	const struct bill_charge *ch = &v->charges[j];
	if (!charge_matches(ch, hc, tag, arg))
		return false;
	for (size_t k = 0; k < v->n_charges; k++) {
		const struct bill_charge *o = &v->charges[k];
		if (k == j || o->meter != ch->meter || !same_str(o->net_class, ch->net_class))
			continue;
		int so = specificity(o), sj = specificity(ch);
		if ((so > sj || (so == sj && k < j)) && charge_matches(o, hc, tag, arg))
			return false;
	}
	return true;
}

bool bill_catalog_uses_tags(const struct bill_catalog *c)
{
	for (size_t i = 0; i < c->n_plans; i++)
		for (size_t j = 0; j < c->plans[i].n_versions; j++)
			for (size_t k = 0; k < c->plans[i].versions[j].n_charges; k++)
				if (c->plans[i].versions[j].charges[k].tag_key)
					return true;
	return false;
}

const struct bill_host_class *bill_catalog_host_class(const struct bill_catalog *c, const char *name)
{
	for (size_t j = 0; j < c->n_hclasses; j++)
		if (strcmp(c->hclasses[j].name, name) == 0)
			return &c->hclasses[j];
	return NULL;
}

static bool class_defined(const struct bill_catalog *c, const char *name)
{
	return bill_catalog_host_class(c, name) != NULL;
}

const struct bill_grid *bill_catalog_grids(const struct bill_catalog *c, size_t *n)
{
	*n = c->n_grids;
	return c->grids;
}

const struct bill_grid *bill_catalog_grid(const struct bill_catalog *c, const char *name)
{
	for (size_t j = 0; j < c->n_grids; j++)
		if (strcmp(c->grids[j].name, name) == 0)
			return &c->grids[j];
	return NULL;
}

int bill_catalog_check(const struct bill_catalog *c, char *err, size_t errsize)
{
	/* a charge or a pool for a class no file defines would price nothing */
	for (size_t i = 0; i < c->n_plans; i++)
		for (size_t j = 0; j < c->plans[i].n_versions; j++) {
			const struct bill_version *v = &c->plans[i].versions[j];
			for (size_t k = 0; k < v->n_charges; k++)
				if (v->charges[k].host_class && !class_defined(c, v->charges[k].host_class)) {
					snprintf(
					    err, errsize,
					    "%s:%d: plan '%s' version '%s' charge '%s': host-class '%s' is not defined "
					    "(host-class \"%s\" { hosts = \"GLOB...\" })",
					    c->plans[i].file, v->charges[k].line, c->plans[i].name, v->label,
					    bill_meter_name(v->charges[k].meter), v->charges[k].host_class,
					    v->charges[k].host_class);
					return -1;
				}
		}
	for (size_t i = 0; i < c->n_hclasses; i++) {
		const struct bill_host_class *h = &c->hclasses[i];
		if (h->grid && !bill_catalog_grid(c, h->grid)) {
			snprintf(err, errsize,
			         "%s:%d: host-class '%s': grid '%s' is not defined (grid \"%s\" { intensity = \"350 "
			         "g/kWh\" })",
			         h->file, h->grid_line, h->name, h->grid, h->grid);
			return -1;
		}
	}
	for (size_t i = 0; i < c->n_pools; i++) {
		const struct bill_pool_def *p = &c->pools[i];
		if (p->host_class && !class_defined(c, p->host_class)) {
			snprintf(err, errsize, "%s:%d: pool '%s': host-class '%s' is not defined", p->file, p->line,
			         p->name, p->host_class);
			return -1;
		}
		vm_money total = {0};
		for (size_t j = 0; j < p->n_costs; j++)
			if (vm_money_add(total, p->costs[j].month, &total) < 0) {
				snprintf(err, errsize, "%s:%d: pool '%s': its costs add up beyond what an amount holds",
				         p->file, p->costs[j].line, p->name);
				return -1;
			}
	}
	for (size_t i = 0; i < c->n_tenants; i++) {
		const struct bill_tenant *t = &c->tenants[i];
		for (size_t j = 0; j < t->n_assigns; j++) {
			const struct bill_assign *a = &t->assigns[j];
			const struct bill_plan *p = bill_catalog_plan(c, a->plan);
			if (!p) {
				snprintf(err, errsize, "%s:%d: tenant '%s' assign '%s': no such plan", t->file, a->line,
				         t->name, a->plan);
				return -1;
			}
			if (p->currency != t->currency) {
				snprintf(
				    err, errsize,
				    "%s:%d: tenant '%s' assign '%s': the plan is in %s (%s:%d), the tenant pays in %s",
				    t->file, a->line, t->name, a->plan, p->currency->code, p->file, p->line,
				    t->currency->code);
				return -1;
			}
		}
	}
	return 0;
}

const struct bill_plan *bill_catalog_plans(const struct bill_catalog *c, size_t *n)
{
	*n = c->n_plans;
	return c->plans;
}

const struct bill_tenant *bill_catalog_tenants(const struct bill_catalog *c, size_t *n)
{
	*n = c->n_tenants;
	return c->tenants;
}

const struct bill_plan *bill_catalog_plan(const struct bill_catalog *c, const char *name)
{
	for (size_t i = 0; i < c->n_plans; i++)
		if (strcmp(c->plans[i].name, name) == 0)
			return &c->plans[i];
	return NULL;
}

static void when_put(FILE *f, const char *name, const struct bill_when *w)
{
	if (!w->set)
		return;
	time_t t = (time_t)(w->local ? w->t * 86400 : w->t);
	struct tm tm;
	char buf[32];
	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, w->local ? "%Y-%m-%d" : "%Y-%m-%dT%H:%MZ", &tm);
	fprintf(f, "    %s = %s\n", name, buf);
}

char *bill_version_text(const struct bill_plan *p, size_t vi)
{
	const struct bill_version *v = &p->versions[vi];
	char *text = NULL;
	size_t len = 0;
	FILE *f = vm_xmemstream(&text, &len);
	char m[VM_MONEY_MAX_FORMAT];
	int d = p->currency->digits;
	fprintf(f, "plan %s {\n  currency = %s\n  rounding = %s\n  time = %s\n  version \"%s\" {\n", p->name,
	        p->currency->code, vm_round_name(p->rounding), time_names[p->time], v->label);
	when_put(f, "from", &v->from);
	if (v->minimum.n)
		fprintf(f, "    minimum = %s\n", vm_money_format_exact(v->minimum, d, m));
	for (size_t i = 0; i < v->n_charges; i++) {
		const struct bill_charge *ch = &v->charges[i];
		if (ch->net_class)
			fprintf(f, "    charge net.%s.%s {\n", ch->net_class, ch->meter == BILL_NET_RX ? "rx" : "tx");
		else
			fprintf(f, "    charge %s {\n", bill_meter_name(ch->meter));
		fprintf(f, "      model = %s\n      per = \"%s\"\n", model_names[ch->model], ch->per_text);
		if (meters[ch->meter].timed)
			fprintf(f, "      time = %s\n", time_names[ch->time]);
		if (ch->host_class)
			fprintf(f, "      host-class = \"%s\"\n", ch->host_class);
		if (ch->tag_key)
			fprintf(f, "      tag = \"%s%s%s\"\n", ch->tag_key, ch->tag_value ? "=" : "",
			        ch->tag_value ? ch->tag_value : "");
		if (!ch->n_tiers)
			fprintf(f, "      price = %s\n", vm_money_format_exact(ch->price, d, m));
		for (size_t k = 0; k < ch->n_tiers; k++) {
			fprintf(f, "      tier {");
			if (ch->tiers[k].upto != INT64_MAX)
				fprintf(f, " up-to = %lld", (long long)(ch->tiers[k].upto / ch->per));
			fprintf(f, " price = %s }\n", vm_money_format_exact(ch->tiers[k].price, d, m));
		}
		fprintf(f, "    }\n");
	}
	fprintf(f, "  }\n}\n");
	vm_xmemclose(f);
	return text;
}
