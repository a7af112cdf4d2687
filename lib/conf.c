#include "config.h"

#include "conf.h"

#include <confuse.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "netclass.h"
#include "xalloc.h"

/* A config file is a page or two; a bigger one is a mistake, not input. */
#define CONF_MAX_BYTES (1 << 20)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum conf_type {
	CONF_INT,   /* int; value within min..max */
	CONF_LEVEL, /* int holding an enum vm_log_level, given by name */
	CONF_STR,   /* char *, owned by struct vm_conf; length within min..max */
	CONF_BUF,   /* char[max + 1]; length within min..max */
	CONF_TAGS,  /* list of "key=value" into struct vm_owner; at most max entries */
	/* list of prefixes into struct vm_traffic_class; at least min entries,
	 * at most max in all sections together */
	CONF_PREFIXES,
	/* list of "key=path" into struct vm_owner_map; at most max entries */
	CONF_MAP_TAGS,
};

/* Options come in groups.  A section holds one group; a group may serve
 * several sections (default-owner and owner share theirs). */
enum conf_group { GRP_TOP, GRP_COLLECTOR, GRP_DATABASE, GRP_OWNER, GRP_TRAFFIC, GRP_CAPTURE, GRP_OWNER_MAP };

/* One row per option: everything libconfuse is told, every bound checked
 * and every value copied out comes from here. */
struct conf_opt {
	enum conf_group group;
	const char *name;
	enum conf_type type;
	size_t offset; /* into struct vm_conf, struct vm_owner (GRP_OWNER), struct vm_owner_map (GRP_OWNER_MAP) */
	long min, max;
	long def_int;
	const char *def_str; /* NULL: a string option without default must be given */
	/* A further rule for a string: NULL if the value is fine, else what it
	 * must be ("must be an absolute path"). */
	const char *(*check)(const char *value);
};

/* Daemons run with / as working directory. */
static const char *check_abs_path(const char *value)
{
	return value[0] == '/' ? NULL : "must be an absolute path";
}

static const char *check_abs_path_or_empty(const char *value)
{
	return value[0] == '\0' || value[0] == '/' ? NULL : "must be empty or an absolute path";
}

static const char *check_spool_sync(const char *value)
{
	if (strcmp(value, "always") == 0 || strcmp(value, "interval") == 0 || strcmp(value, "none") == 0)
		return NULL;
	return "must be \"always\", \"interval\" or \"none\"";
}

static const char *check_power_source(const char *value)
{
	if (strcmp(value, "rapl") == 0 || strcmp(value, "none") == 0)
		return NULL;
	return "must be \"rapl\" or \"none\"";
}

static const char *check_rrdcached(const char *value)
{
	if (value[0] == '\0' || value[0] == '/' || strncmp(value, "unix:/", 6) == 0)
		return NULL;
	return "must be \"\", \"unix:/PATH\" or \"/PATH\" (TCP is refused: rrdcached has no authentication)";
}

/* A user name as useradd(8) takes it, or "" for the default. */
static const char *check_user_name(const char *value)
{
	for (const char *p = value; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || *p == '_' ||
		          (p > value && ((*p >= '0' && *p <= '9') || *p == '-' || (*p == '$' && !p[1])));
		if (!ok)
			return "must be empty or a user name (lower-case letters, digits, '_' and '-')";
	}
	return NULL;
}

/* A traffic class's name (the default's, or a traffic-class title). */
static const char *check_class_name(const char *value)
{
	if (!vm_netclass_check_name(value))
		return NULL;
	if (strcmp(value, VM_NETCLASS_NAME_MALFORMED) == 0 || strcmp(value, VM_NETCLASS_NAME_NON_IP) == 0)
		return "must not be '" VM_NETCLASS_NAME_MALFORMED "' or '" VM_NETCLASS_NAME_NON_IP "' (reserved)";
	return "must be at most 31 bytes of lower-case letters, digits, '-' and '_', starting with a letter";
}

/* Owner values go into JSON, the database and invoices: text only. */
static const char *check_text(const char *value)
{
	return vm_utf8_valid(value) ? NULL : "must be valid UTF-8";
}

/* An owner-metadata section's title names it in messages. */
static const char *check_map_name(const char *value)
{
	size_t len = strlen(value);

	for (const char *p = value; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
			len = 0;
	if (len >= 1 && len <= 63)
		return NULL;
	return "must be 1 to 63 bytes of letters, digits, '-', '_' and '.'";
}

/* vmeter's own element and Nova's have their own rules and precedence
 * (docs/METADATA.md); a mapping of them would apply only when they are
 * invalid, with different rules: surely not what was meant. */
static const char *check_map_ns(const char *value)
{
	for (const char *p = value; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return "must be a namespace URI without white space or control characters";
	if (strcmp(value, VM_OWNER_NS) == 0 || strcmp(value, VM_NOVA_NS) == 0 || strcmp(value, VM_NOVA_NS_1_0) == 0)
		return "must not be vmeter's or Nova's namespace, which are read without a mapping";
	return NULL;
}

static const char *check_map_path_or_empty(const char *value)
{
	return value[0] ? vm_owner_path_check(value) : NULL;
}

/* The tables read best one row to a line. */
/* clang-format off */
/* The offset of a field, which must have the type the row's type writes
 * (a char array decays to char *): a mismatch does not compile. */
#define FIELD(st, member, type) _Generic(((st *)0)->member, type: offsetof(st, member))
#define C_INT(g, name, member, lo, hi, def) \
	{g, name, CONF_INT, FIELD(struct vm_conf, member, int), lo, hi, def, NULL, NULL}
#define C_STR(g, name, member, lo, hi, def, check) \
	{g, name, CONF_STR, FIELD(struct vm_conf, member, char *), lo, hi, 0, def, check}
#define OWNER_LEN(member) ((long)sizeof(((struct vm_owner *)0)->member) - 1)
#define O_BUF(name, member, lo, def) \
	{GRP_OWNER, name, CONF_BUF, FIELD(struct vm_owner, member, char *), lo, OWNER_LEN(member), 0, def, check_text}
#define M_STR(name, member, lo, hi, def, check) \
	{GRP_OWNER_MAP, name, CONF_STR, FIELD(struct vm_owner_map, member, char *), lo, hi, 0, def, check}

/* vmeter.conf(5) documents each row; keep the two in step. */
static const struct conf_opt conf_opts[] = {
	{GRP_TOP, "log-level", CONF_LEVEL, FIELD(struct vm_conf, log_level, int), VM_LOG_ERR, VM_LOG_DEBUG,
	 VM_LOG_INFO, NULL, NULL},
	C_STR(GRP_TOP, "traffic-default", traffic_default, 1, VM_NETCLASS_NAME_MAX, "internet", check_class_name),

	/* 255: what struct vm_host_info (db.h) holds. */
	C_STR(GRP_COLLECTOR, "libvirt-uri", libvirt_uri, 1, 255, "qemu:///system", NULL),
	C_STR(GRP_COLLECTOR, "host-name", host_name, 0, 255, "", NULL),
	C_INT(GRP_COLLECTOR, "interval", interval_s, 1, 3600, 10),
	/* The lower bounds of these two also depend on interval: see
	 * conf_check_collector(). */
	C_INT(GRP_COLLECTOR, "inventory-refresh", inventory_refresh_s, 1, 86400, 60),
	C_INT(GRP_COLLECTOR, "max-gap", max_gap_s, 2, 86400, 300),
	C_INT(GRP_COLLECTOR, "max-interpolate", max_interpolate_s, 2, 604800, 3600),
	C_STR(GRP_COLLECTOR, "state-dir", state_dir, 1, 1024, "/var/lib/vmeter", check_abs_path),
	C_STR(GRP_COLLECTOR, "rrd-dir", rrd_dir, 1, 1024, "/var/lib/vmeter/rrd", check_abs_path),
	C_STR(GRP_COLLECTOR, "rrdcached", rrdcached, 0, 1024, "unix:/run/rrdcached.sock", check_rrdcached),
	C_INT(GRP_COLLECTOR, "reconnect-max", reconnect_max_s, 1, 3600, 60),
	/* 16: COL_FANOUT_MAX_THREADS (collector/fanout.h); libvirtd runs 5 calls
	 * of one client at once by default (max_client_requests). */
	C_INT(GRP_COLLECTOR, "libvirt-threads", libvirt_threads, 1, 16, 4),
	C_STR(GRP_COLLECTOR, "spool-dir", spool_dir, 0, 1024, "", check_abs_path_or_empty),
	C_INT(GRP_COLLECTOR, "spool-max-mb", spool_max_mb, 1, 1048576, 1024),
	C_STR(GRP_COLLECTOR, "spool-sync", spool_sync, 1, 16, "interval", check_spool_sync),
	C_INT(GRP_COLLECTOR, "spool-sync-interval", spool_sync_interval_ms, 1, 3600000, 1000),
	C_STR(GRP_COLLECTOR, "power-source", power_source, 1, 16, "rapl", check_power_source),
	C_STR(GRP_COLLECTOR, "powercap-root", powercap_root, 1, 1024, "/sys/class/powercap", check_abs_path),

	/* 32: the longest user name useradd(8) makes. */
	C_STR(GRP_CAPTURE, "user", capture_user, 0, 32, "", check_user_name),
	C_STR(GRP_CAPTURE, "chroot-dir", capture_chroot_dir, 0, 1024, "", check_abs_path_or_empty),
	C_INT(GRP_CAPTURE, "buffer-mb", capture_buffer_mb, 1, 1024, 8),

	C_STR(GRP_DATABASE, "conninfo", db_conninfo, 0, 4096, "dbname=vmeter", NULL),
	C_INT(GRP_DATABASE, "batch-rows", db_batch_rows, 1, 100000, 5000),
	C_INT(GRP_DATABASE, "timeout", db_timeout_s, 2, 3600, 60),

	O_BUF("tenant", tenant, 1, NULL),
	O_BUF("project", project, 0, ""),
	O_BUF("cost-centre", cost_centre, 0, ""),
	{GRP_OWNER, "tags", CONF_TAGS, offsetof(struct vm_owner, tags), 0, VM_MAX_TAGS, 0, NULL, NULL},

	M_STR("namespace", ns, 1, 1024, NULL, check_map_ns),
	M_STR("tenant", tenant, 1, VM_OWNER_PATH_MAX, NULL, vm_owner_path_check),
	M_STR("project", project, 0, VM_OWNER_PATH_MAX, "", check_map_path_or_empty),
	M_STR("cost-centre", cost_centre, 0, VM_OWNER_PATH_MAX, "", check_map_path_or_empty),
	{GRP_OWNER_MAP, "tags", CONF_MAP_TAGS, offsetof(struct vm_owner_map, tags), 0, VM_MAX_TAGS, 0, NULL, NULL},

	{GRP_TRAFFIC, "prefixes", CONF_PREFIXES, FIELD(struct vm_traffic_class, prefixes, char **), 1,
	 VM_NETCLASS_MAX_PREFIXES, 0, NULL, NULL},
};

/* Where the values of a section go. */
enum conf_target {
	TARGET_CONF,          /* fields of struct vm_conf */
	TARGET_DEFAULT_OWNER, /* conf->default_owner */
	TARGET_OWNER_RULES,   /* one conf->owner_rules entry per section, in order */
	TARGET_TRAFFIC,       /* one conf->traffic_classes entry per section, in order */
	TARGET_OWNER_MAPS,    /* one conf->owner_maps entry per section, in order */
};

struct conf_section {
	const char *name; /* NULL: the top level */
	enum conf_group group;
	enum conf_target target;
	cfg_flag_t flags;
	unsigned max;                             /* of a CFGF_MULTI section; 0: no limit */
	const char *(*check_title)(const char *); /* as conf_opt's check */
};

/* A program's new section is a group, its rows and one line here. */
enum { SEC_TOP, SEC_COLLECTOR, SEC_DATABASE, SEC_DEFAULT_OWNER, SEC_OWNER, SEC_TRAFFIC, SEC_CAPTURE, SEC_OWNER_MAP };
static const struct conf_section conf_sections[] = {
	[SEC_TOP] = {NULL, GRP_TOP, TARGET_CONF, CFGF_NONE},
	[SEC_COLLECTOR] = {"collector", GRP_COLLECTOR, TARGET_CONF, CFGF_NONE},
	[SEC_DATABASE] = {"database", GRP_DATABASE, TARGET_CONF, CFGF_NONE},
	[SEC_DEFAULT_OWNER] = {"default-owner", GRP_OWNER, TARGET_DEFAULT_OWNER, CFGF_NONE},
	[SEC_OWNER] = {"owner", GRP_OWNER, TARGET_OWNER_RULES, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES},
	[SEC_TRAFFIC] = {"traffic-class", GRP_TRAFFIC, TARGET_TRAFFIC, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES,
	                 VM_NETCLASS_MAX_CLASSES, check_class_name},
	[SEC_CAPTURE] = {"capture", GRP_CAPTURE, TARGET_CONF, CFGF_NONE},
	[SEC_OWNER_MAP] = {"owner-metadata", GRP_OWNER_MAP, TARGET_OWNER_MAPS, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES,
	                   VM_CONF_MAX_OWNER_MAPS, check_map_name},
};

/* clang-format on */

#define N_OPTS ARRAY_SIZE(conf_opts)
#define N_SECTIONS ARRAY_SIZE(conf_sections)

/* Where a prefix was given: entry `entry` of the prefixes list of the
 * section-th traffic-class section.  Checks that need all prefixes at once
 * (duplicates) run after parsing and report on this line. */
struct conf_prefix_line {
	unsigned section, entry;
	int line;
};

/* State of the load in progress.  libconfuse's callbacks carry no user
 * pointer, hence the static; its lexer is global state anyway, so loads
 * never overlap (programs load from their main thread). */
struct conf_load {
	const char *path;
	char *err;
	size_t errsize;
	bool failed;
	cfg_t *root;
	/* Line each option was set on, 0 if not set; per section because the
	 * owner group serves two.  Reset when a repeatable section ends. */
	int lines[N_SECTIONS][N_OPTS];
	unsigned seen[N_SECTIONS]; /* sections closed so far */
	/* Where each prefix was, in parse order; how many in all classes. */
	struct conf_prefix_line *prefix_lines;
	size_t n_prefix_lines, cap_prefix_lines;
	size_t n_prefixes;
	/* The program section being read (vm_conf_load_program()), NULL if
	 * none: the line each of its options was set on, how often it ended. */
	const struct vm_conf_program *prog;
	int *prog_lines;
	unsigned prog_seen;
};

static struct conf_load *conf_loading;

/* Records the first error only: later ones tend to be its consequences. */
static void __attribute__((format(printf, 3, 4))) conf_error(struct conf_load *ld, int line, const char *fmt, ...)
{
	if (ld->failed)
		return;
	ld->failed = true;
	if (!ld->err || ld->errsize == 0)
		return;
	int n = line > 0 ? snprintf(ld->err, ld->errsize, "%s:%d: ", ld->path, line)
	                 : snprintf(ld->err, ld->errsize, "%s: ", ld->path);
	if (n < 0 || (size_t)n >= ld->errsize)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errsize - (size_t)n, fmt, ap);
	va_end(ap);
}

/* 36 characters, 8-4-4-4-12 hex digits. */
static bool conf_is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/* The index into conf_sections of a libconfuse section, or -1. */
static int conf_section_index(const struct conf_load *ld, cfg_t *sec)
{
	if (sec == ld->root)
		return SEC_TOP;
	for (size_t i = 0; i < N_SECTIONS; i++)
		if (conf_sections[i].name && strcmp(conf_sections[i].name, cfg_name(sec)) == 0)
			return (int)i;
	return -1;
}

static int conf_row_index(enum conf_group group, const char *name)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (conf_opts[i].group == group && strcmp(conf_opts[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* "log-level", "collector.interval", "owner[acme-*].tenant": the name used
 * in messages.  `opt` NULL names the section itself. */
static void conf_name(const struct conf_load *ld, char *buf, size_t size, cfg_t *sec, const char *opt)
{
	const char *title = cfg_title(sec);
	const char *dot = opt ? "." : "";

	if (!opt)
		opt = "";
	if (sec == ld->root)
		snprintf(buf, size, "%s", opt);
	else if (title)
		snprintf(buf, size, "%s[%s]%s%s", cfg_name(sec), title, dot, opt);
	else
		snprintf(buf, size, "%s%s%s", cfg_name(sec), dot, opt);
}

/* libconfuse's own errors (syntax, unknown option) in our format.  The two
 * that name an option get the option's full name; others keep libconfuse's
 * text and say which section they are in. */
static void __attribute__((format(printf, 2, 0))) conf_cfg_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	struct conf_load *ld = conf_loading;
	char name[512], msg[512];
	va_list aq;

	if (!ld)
		return;
	if (strcmp(fmt, "no such option '%s'") == 0) {
		va_copy(aq, ap);
		const char *opt = va_arg(aq, const char *);
		va_end(aq);
		conf_name(ld, name, sizeof name, cfg, opt);
		conf_error(ld, cfg->line, "unknown option '%s'", name);
		return;
	}
	if (strcmp(fmt, "found duplicate title '%s'") == 0) {
		va_copy(aq, ap);
		const char *title = va_arg(aq, const char *);
		va_end(aq);
		for (cfg_opt_t *o = cfg->opts; o->name; o++) {
			if (o->type == CFGT_SEC && (o->flags & CFGF_TITLE) && cfg_opt_gettsec(o, title)) {
				conf_error(ld, cfg->line, "duplicate section '%s[%s]'", o->name, title);
				return;
			}
		}
	}
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (cfg == ld->root) {
		conf_error(ld, cfg->line, "%s", msg);
	} else {
		conf_name(ld, name, sizeof name, cfg, NULL);
		conf_error(ld, cfg->line, "%s in section '%s'", msg, name);
	}
}

static int conf_parse_int(struct conf_load *ld, int line, const struct conf_opt *row, const char *name,
                          const char *value, long *result)
{
	char *end;

	errno = 0;
	long v = strtol(value, &end, 10);
	if (end == value || *end != '\0' || isspace((unsigned char)value[0])) {
		conf_error(ld, line, "option '%s' must be an integer, got '%.64s'", name, value);
		return -1;
	}
	if (errno == ERANGE || v < row->min || v > row->max) {
		conf_error(ld, line, "option '%s' must be between %ld and %ld, got %.64s", name, row->min, row->max,
		           value);
		return -1;
	}
	*result = v;
	return 0;
}

static int conf_parse_string(struct conf_load *ld, int line, const struct conf_opt *row, const char *name,
                             const char *value)
{
	size_t len = strlen(value);
	const char *why;

	if (len < (size_t)row->min) {
		conf_error(ld, line, "option '%s' must not be empty", name);
		return -1;
	}
	if (len > (size_t)row->max) {
		conf_error(ld, line, "option '%s' must be at most %ld bytes long, got %zu", name, row->max, len);
		return -1;
	}
	if (row->check && (why = row->check(value))) {
		conf_error(ld, line, "option '%s' %s, got '%.64s'", name, why, value);
		return -1;
	}
	return 0;
}

/* One "key=value" entry of a tags list; `opt` holds the entries before it. */
static int conf_parse_tag(struct conf_load *ld, int line, const struct conf_opt *row, const char *name, cfg_opt_t *opt,
                          const char *value)
{
	size_t klen = strcspn(value, "=");
	const size_t kmax = sizeof(((struct vm_tag *)0)->key) - 1;
	const size_t vmax = sizeof(((struct vm_tag *)0)->value) - 1;

	if (value[klen] != '=' || klen == 0) {
		conf_error(ld, line, "option '%s' needs \"key=value\" entries, got '%.64s'", name, value);
		return -1;
	}
	for (size_t i = 0; i < klen; i++) {
		if (isspace((unsigned char)value[i]) || iscntrl((unsigned char)value[i])) {
			conf_error(ld, line,
			           "option '%s': tag key '%.*s' must not contain white space or control characters",
			           name, (int)klen, value);
			return -1;
		}
	}
	if (klen > kmax) {
		conf_error(ld, line, "option '%s': tag key '%.32s...' is longer than %zu bytes", name, value, kmax);
		return -1;
	}
	if (!vm_utf8_valid(value)) {
		conf_error(ld, line, "option '%s': tag '%.*s' must be valid UTF-8", name, (int)klen, value);
		return -1;
	}
	if (strlen(value + klen + 1) > vmax) {
		conf_error(ld, line, "option '%s': value of tag '%.*s' is longer than %zu bytes", name, (int)klen,
		           value, vmax);
		return -1;
	}
	/* The new entry is already in the list, without a value yet. */
	long n = 0;
	for (unsigned i = 0; i < cfg_opt_size(opt); i++) {
		const char *prev = cfg_opt_getnstr(opt, i);
		if (!prev)
			continue;
		if (strcspn(prev, "=") == klen && strncmp(prev, value, klen) == 0) {
			conf_error(ld, line, "option '%s' has tag '%.*s' twice", name, (int)klen, value);
			return -1;
		}
		n++;
	}
	if (n >= row->max) {
		conf_error(ld, line, "option '%s' has more than %ld tags", name, row->max);
		return -1;
	}
	return 0;
}

/* One entry of a traffic class's prefix list; `opt` holds the entries
 * before it. */
static int conf_parse_prefix(struct conf_load *ld, cfg_t *sec, const struct conf_opt *row, cfg_opt_t *opt,
                             const char *value)
{
	struct vm_prefix p;
	char msg[256];

	if (vm_netclass_parse_prefix(value, &p, msg, sizeof msg) < 0) {
		conf_error(ld, sec->line, "traffic class '%s': %s", cfg_title(sec), msg);
		return -1;
	}
	if (++ld->n_prefixes > (size_t)row->max) {
		conf_error(ld, sec->line, "traffic class '%s': more than %ld prefixes in all traffic classes",
		           cfg_title(sec), row->max);
		return -1;
	}
	/* The new entry is already in the list. */
	ld->prefix_lines =
	    vm_xgrow(ld->prefix_lines, &ld->cap_prefix_lines, ld->n_prefix_lines + 1, sizeof *ld->prefix_lines);
	ld->prefix_lines[ld->n_prefix_lines++] = (struct conf_prefix_line){
	    .section = ld->seen[SEC_TRAFFIC],
	    .entry = cfg_opt_size(opt) - 1,
	    .line = sec->line,
	};
	return 0;
}

/* An option of the program's section: the same checks, from its table. */
static int conf_prog_parse_value(struct conf_load *ld, cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	const struct vm_conf_program *p = ld->prog;
	char name[512];
	size_t r = 0;

	conf_name(ld, name, sizeof name, cfg, cfg_opt_name(opt));
	while (r < p->n_options && strcmp(p->options[r].name, cfg_opt_name(opt)) != 0)
		r++;
	if (r == p->n_options) {
		conf_error(ld, cfg->line, "option '%s' is not in the option table", name);
		return -1;
	}
	const struct vm_conf_option *o = &p->options[r];
	if (ld->prog_lines[r]) {
		conf_error(ld, cfg->line, "option '%s' is given twice (first on line %d)", name, ld->prog_lines[r]);
		return -1;
	}
	ld->prog_lines[r] = cfg->line;
	const struct conf_opt row = {.name = o->name, .min = o->min, .max = o->max, .check = o->check};
	if (o->type == VM_CONF_INT)
		return conf_parse_int(ld, cfg->line, &row, name, value, result);
	if (conf_parse_string(ld, cfg->line, &row, name, value) < 0)
		return -1;
	*(const char **)result = value;
	return 0;
}

/* libconfuse's parse callback for every option: checks the value against
 * its row while cfg->line is still the line it is on. */
static int conf_parse_value(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	struct conf_load *ld = conf_loading;
	char name[512];

	if (ld->prog && cfg != ld->root && strcmp(cfg_name(cfg), ld->prog->section) == 0)
		return conf_prog_parse_value(ld, cfg, opt, value, result);
	int s = conf_section_index(ld, cfg);
	int r = s < 0 ? -1 : conf_row_index(conf_sections[s].group, cfg_opt_name(opt));

	conf_name(ld, name, sizeof name, cfg, cfg_opt_name(opt));
	if (r < 0) {
		conf_error(ld, cfg->line, "option '%s' is not in the option table", name);
		return -1;
	}
	const struct conf_opt *row = &conf_opts[r];
	int *line = &ld->lines[s][r];

	/* A list is parsed one entry at a time, so only scalars can tell. */
	if (row->type != CONF_TAGS && row->type != CONF_MAP_TAGS && row->type != CONF_PREFIXES && *line) {
		conf_error(ld, cfg->line, "option '%s' is given twice (first on line %d)", name, *line);
		return -1;
	}
	if (!*line)
		*line = cfg->line;

	switch (row->type) {
	case CONF_INT: return conf_parse_int(ld, cfg->line, row, name, value, result);
	case CONF_LEVEL: {
		int level = vm_log_level_parse(value);
		if (level < 0) {
			conf_error(ld, cfg->line,
			           "option '%s' must be err, warning, notice, info or debug, got '%.64s'", name, value);
			return -1;
		}
		*(long *)result = level;
		return 0;
	}
	case CONF_STR:
	case CONF_BUF:
		if (conf_parse_string(ld, cfg->line, row, name, value) < 0)
			return -1;
		*(const char **)result = value;
		return 0;
	case CONF_TAGS:
		if (conf_parse_tag(ld, cfg->line, row, name, opt, value) < 0)
			return -1;
		*(const char **)result = value;
		return 0;
	case CONF_MAP_TAGS: {
		if (conf_parse_tag(ld, cfg->line, row, name, opt, value) < 0)
			return -1;
		size_t klen = strcspn(value, "=");
		const char *why = vm_owner_path_check(value + klen + 1);
		if (why) {
			conf_error(ld, cfg->line, "option '%s': path of tag '%.*s' %s, got '%.64s'", name, (int)klen,
			           value, why, value + klen + 1);
			return -1;
		}
		*(const char **)result = value;
		return 0;
	}
	case CONF_PREFIXES:
		if (conf_parse_prefix(ld, cfg, row, opt, value) < 0)
			return -1;
		*(const char **)result = value;
		return 0;
	}
	return -1;
}

/* libconfuse's validate callback for a section, called when it ends (the
 * line is that of its closing brace): what one option cannot see. */
static int conf_section_end(cfg_t *cfg, cfg_opt_t *opt)
{
	struct conf_load *ld = conf_loading;
	unsigned n = cfg_opt_size(opt);
	cfg_t *sec = n ? cfg_opt_getnsec(opt, n - 1) : NULL;
	int s = sec ? conf_section_index(ld, sec) : -1;
	char name[512];

	if (s < 0) {
		conf_error(ld, cfg->line, "section '%s' is not in the section table", cfg_opt_name(opt));
		return -1;
	}
	const struct conf_section *cs = &conf_sections[s];
	conf_name(ld, name, sizeof name, sec, NULL);

	if (++ld->seen[s] > 1 && !(cs->flags & CFGF_MULTI)) {
		conf_error(ld, cfg->line, "section '%s' is given twice", name);
		return -1;
	}
	if (cs->max && ld->seen[s] > cs->max) {
		conf_error(ld, cfg->line, "section '%s' is one more than the %u '%s' sections allowed", name, cs->max,
		           cs->name);
		return -1;
	}
	if (cs->flags & CFGF_TITLE) {
		const char *title = cfg_title(sec);
		const char *why;
		if (!title || !title[0]) {
			conf_error(ld, cfg->line, "section '%s' needs a non-empty title", cs->name);
			return -1;
		}
		if (cs->check_title && (why = cs->check_title(title))) {
			conf_error(ld, cfg->line, "section '%s': the title %s", name, why);
			return -1;
		}
		/* libconfuse compares titles exactly; a UUID also in another case
		 * is the same VM. */
		for (unsigned i = 0; conf_is_uuid(title) && i + 1 < n; i++) {
			if (strcasecmp(cfg_title(cfg_opt_getnsec(opt, i)), title) == 0) {
				conf_error(ld, cfg->line, "duplicate section '%s'", name);
				return -1;
			}
		}
	}
	for (size_t r = 0; r < N_OPTS; r++) {
		const struct conf_opt *row = &conf_opts[r];
		bool required = (row->type == CONF_STR || row->type == CONF_BUF) && !row->def_str;
		bool missing = required && !ld->lines[s][r];
		/* The list as it ended: a later "prefixes = {}" may empty it. */
		if (row->group == cs->group && row->type == CONF_PREFIXES)
			missing = cfg_size(sec, row->name) < (unsigned)row->min;
		if (row->group == cs->group && missing) {
			conf_error(ld, cfg->line, "option '%s.%s' must be set", name, row->name);
			return -1;
		}
	}
	if (cs->flags & CFGF_MULTI)
		memset(ld->lines[s], 0, sizeof ld->lines[s]);
	return 0;
}

/* libconfuse's validate callback for the program's section. */
static int conf_prog_section_end(cfg_t *cfg, cfg_opt_t *opt)
{
	struct conf_load *ld = conf_loading;
	const struct vm_conf_program *p = ld->prog;

	if (++ld->prog_seen > 1) {
		conf_error(ld, cfg->line, "section '%s' is given twice", cfg_opt_name(opt));
		return -1;
	}
	for (size_t r = 0; r < p->n_options; r++) {
		if (p->options[r].type == VM_CONF_STR && !p->options[r].def_str && !ld->prog_lines[r]) {
			conf_error(ld, cfg->line, "option '%s.%s' must be set", p->section, p->options[r].name);
			return -1;
		}
	}
	return 0;
}

static void conf_fill_opt(cfg_opt_t *o, const struct conf_opt *row)
{
	switch (row->type) {
	case CONF_INT:
	case CONF_LEVEL: *o = (cfg_opt_t){.name = row->name, .type = CFGT_INT, .def.number = row->def_int}; break;
	case CONF_STR:
	case CONF_BUF:
		*o = (cfg_opt_t){.name = row->name, .type = CFGT_STR, .def.string = row->def_str};
		if (!row->def_str)
			o->flags |= CFGF_NODEFAULT;
		break;
	case CONF_TAGS:
	case CONF_MAP_TAGS:
	case CONF_PREFIXES: *o = (cfg_opt_t){.name = row->name, .type = CFGT_STR, .flags = CFGF_LIST}; break;
	}
	o->parsecb = conf_parse_value;
}

/* The options of one group, ended by CFG_END; caller frees. */
static cfg_opt_t *conf_build_group(enum conf_group group, size_t extra)
{
	cfg_opt_t *opts = vm_xcalloc(N_OPTS + extra + 1, sizeof *opts);
	size_t n = 0;

	for (size_t r = 0; r < N_OPTS; r++)
		if (conf_opts[r].group == group)
			conf_fill_opt(&opts[n++], &conf_opts[r]);
	return opts;
}

/* The libconfuse option tree from the two tables and the program's.  Free
 * with conf_free_opts(); libconfuse keeps copies, not pointers into it. */
static cfg_opt_t *conf_build_opts(const struct vm_conf_program *prog)
{
	cfg_opt_t *root = conf_build_group(GRP_TOP, N_SECTIONS + 1);
	size_t n = 0;

	while (root[n].name)
		n++;
	for (size_t s = 0; s < N_SECTIONS; s++) {
		if (!conf_sections[s].name)
			continue;
		root[n++] = (cfg_opt_t){
		    .name = conf_sections[s].name,
		    .type = CFGT_SEC,
		    .flags = conf_sections[s].flags,
		    .subopts = conf_build_group(conf_sections[s].group, 0),
		    .validcb = conf_section_end,
		};
	}
	if (prog) {
		cfg_opt_t *sub = vm_xcalloc(prog->n_options + 1, sizeof *sub);
		for (size_t r = 0; r < prog->n_options; r++) {
			const struct vm_conf_option *o = &prog->options[r];
			const struct conf_opt row = {.name = o->name,
			                             .type = o->type == VM_CONF_INT ? CONF_INT : CONF_STR,
			                             .def_int = o->def_int,
			                             .def_str = o->def_str};
			conf_fill_opt(&sub[r], &row);
		}
		root[n++] = (cfg_opt_t){
		    .name = prog->section,
		    .type = CFGT_SEC,
		    .subopts = sub,
		    .validcb = conf_prog_section_end,
		};
	}
	return root;
}

static void conf_free_opts(cfg_opt_t *root)
{
	if (!root)
		return;
	for (cfg_opt_t *o = root; o->name; o++)
		if (o->type == CFGT_SEC)
			free(o->subopts);
	free(root);
}

static void conf_copy_tags(cfg_t *sec, const char *name, struct vm_owner *owner)
{
	unsigned n = cfg_size(sec, name);

	/* Entries were checked while parsing: they fit. */
	for (unsigned i = 0; i < n && owner->n_tags < VM_MAX_TAGS; i++) {
		const char *kv = cfg_getnstr(sec, name, i);
		size_t klen = strcspn(kv, "=");
		struct vm_tag *tag = &owner->tags[owner->n_tags++];
		snprintf(tag->key, sizeof tag->key, "%.*s", (int)klen, kv);
		snprintf(tag->value, sizeof tag->value, "%s", kv + klen + 1);
	}
}

/* Entries were checked while parsing: key and path fit. */
static void conf_copy_map_tags(cfg_t *sec, const char *name, struct vm_owner_map *map)
{
	unsigned n = cfg_size(sec, name);

	for (unsigned i = 0; i < n && map->n_tags < VM_MAX_TAGS; i++) {
		const char *kv = cfg_getnstr(sec, name, i);
		size_t klen = strcspn(kv, "=");
		struct vm_tag *tag = &map->tags[map->n_tags++];
		snprintf(tag->key, sizeof tag->key, "%.*s", (int)klen, kv);
		snprintf(tag->value, sizeof tag->value, "%s", kv + klen + 1);
	}
}

static void conf_copy_prefixes(cfg_t *sec, const char *name, struct vm_traffic_class *tc)
{
	tc->n_prefixes = cfg_size(sec, name);
	tc->prefixes = vm_xcalloc(tc->n_prefixes, sizeof *tc->prefixes);
	for (size_t i = 0; i < tc->n_prefixes; i++)
		tc->prefixes[i] = vm_xstrdup(cfg_getnstr(sec, name, (unsigned)i));
}

/* Copies the values of one section into `base` (a struct vm_conf, a
 * struct vm_owner, a struct vm_traffic_class or a struct vm_owner_map, as
 * the section's group says). */
static void conf_copy_group(cfg_t *sec, enum conf_group group, void *base)
{
	for (size_t r = 0; r < N_OPTS; r++) {
		const struct conf_opt *row = &conf_opts[r];
		char *field = (char *)base + row->offset;
		const char *s;

		if (row->group != group)
			continue;
		switch (row->type) {
		case CONF_INT:
		case CONF_LEVEL: *(int *)(void *)field = (int)cfg_getint(sec, row->name); break;
		case CONF_STR:
			s = cfg_getstr(sec, row->name);
			*(char **)(void *)field = vm_xstrdup(s ? s : "");
			break;
		case CONF_BUF:
			/* Lengths were checked while parsing, defaults are short. */
			s = cfg_getstr(sec, row->name);
			snprintf(field, (size_t)row->max + 1, "%s", s ? s : "");
			break;
		case CONF_TAGS: conf_copy_tags(sec, row->name, base); break;
		case CONF_PREFIXES: conf_copy_prefixes(sec, row->name, base); break;
		case CONF_MAP_TAGS: conf_copy_map_tags(sec, row->name, base); break;
		}
	}
}

/* The line an option of the collector section was set on, else that of
 * `other`, else 0: where a rule between two options is reported. */
static int conf_line_of(const struct conf_load *ld, const char *opt, const char *other)
{
	int r = conf_row_index(GRP_COLLECTOR, opt);
	int o = conf_row_index(GRP_COLLECTOR, other);

	if (r >= 0 && ld->lines[SEC_COLLECTOR][r])
		return ld->lines[SEC_COLLECTOR][r];
	return o >= 0 ? ld->lines[SEC_COLLECTOR][o] : 0;
}

/* Rules between options, which libconfuse cannot check one by one. */
static int conf_check_collector(struct conf_load *ld, const struct vm_conf *conf)
{
	if (conf->inventory_refresh_s < conf->interval_s) {
		conf_error(ld, conf_line_of(ld, "inventory-refresh", "interval"),
		           "option 'collector.inventory-refresh' must be at least collector.interval (%d), got %d",
		           conf->interval_s, conf->inventory_refresh_s);
		return -1;
	}
	if (conf->max_gap_s < 2 * conf->interval_s) {
		conf_error(ld, conf_line_of(ld, "max-gap", "interval"),
		           "option 'collector.max-gap' must be at least 2 * collector.interval (%d), got %d",
		           2 * conf->interval_s, conf->max_gap_s);
		return -1;
	}
	if (conf->max_interpolate_s < conf->max_gap_s) {
		conf_error(ld, conf_line_of(ld, "max-interpolate", "max-gap"),
		           "option 'collector.max-interpolate' must be at least collector.max-gap (%d), got %d",
		           conf->max_gap_s, conf->max_interpolate_s);
		return -1;
	}
	return 0;
}

/* The line of prefix `entry` of the section-th traffic-class section: the
 * last record of it, as a later "prefixes = ..." replaces the list. */
static int conf_prefix_line(const struct conf_load *ld, unsigned section, unsigned entry)
{
	for (size_t i = ld->n_prefix_lines; i-- > 0;)
		if (ld->prefix_lines[i].section == section && ld->prefix_lines[i].entry == entry)
			return ld->prefix_lines[i].line;
	return 0;
}

/* Builds conf->netclass, which checks what one prefix cannot show: the
 * same prefix twice, a class named like the default. */
static int conf_build_netclass(struct conf_load *ld, struct vm_conf *conf)
{
	struct vm_netclass_rule *rules = NULL;
	unsigned *section = NULL, *entry = NULL;
	size_t n = 0, bad = 0;
	char msg[512];
	int rc = -1;

	for (size_t i = 0; i < conf->n_traffic_classes; i++)
		n += conf->traffic_classes[i].n_prefixes;
	rules = vm_xcalloc(n, sizeof *rules);
	section = vm_xcalloc(n, sizeof *section);
	entry = vm_xcalloc(n, sizeof *entry);
	n = 0;
	for (size_t i = 0; i < conf->n_traffic_classes; i++) {
		const struct vm_traffic_class *tc = &conf->traffic_classes[i];
		for (size_t j = 0; j < tc->n_prefixes; j++, n++) {
			rules[n] = (struct vm_netclass_rule){tc->name, tc->prefixes[j]};
			section[n] = (unsigned)i;
			entry[n] = (unsigned)j;
		}
	}
	conf->netclass = vm_netclass_new(conf->traffic_default, rules, n, &bad, msg, sizeof msg);
	if (!conf->netclass) {
		int r = conf_row_index(GRP_TOP, "traffic-default");
		int line = bad < n ? conf_prefix_line(ld, section[bad], entry[bad]) : ld->lines[SEC_TOP][r];
		conf_error(ld, line, "%s", msg);
		goto out;
	}
	rc = 0;
out:
	free(rules);
	free(section);
	free(entry);
	return rc;
}

static int conf_fill_host_name(struct conf_load *ld, struct vm_conf *conf)
{
	char host[HOST_NAME_MAX + 1];

	if (conf->host_name[0])
		return 0;
	if (gethostname(host, sizeof host) < 0) {
		conf_error(ld, 0, "cannot get the host name for 'collector.host-name': %s", strerror(errno));
		return -1;
	}
	host[sizeof host - 1] = '\0';
	free(conf->host_name);
	conf->host_name = vm_xstrdup(host);
	return 0;
}

/* Copies the program's section into conf->program_values. */
static int conf_copy_program(struct conf_load *ld, cfg_t *root, struct vm_conf *conf)
{
	const struct vm_conf_program *p = ld->prog;
	cfg_t *sec = cfg_getsec(root, p->section);

	conf->program = p;
	conf->program_values = vm_xcalloc(1, p->size ? p->size : 1);
	for (size_t r = 0; r < p->n_options; r++) {
		const struct vm_conf_option *o = &p->options[r];
		char *field = (char *)conf->program_values + o->offset;
		const char *s;

		if (o->type == VM_CONF_INT) {
			*(int *)(void *)field = (int)cfg_getint(sec, o->name);
			continue;
		}
		s = cfg_getstr(sec, o->name);
		if (!s) { /* the section is not in the file: its end was not checked */
			conf_error(ld, 0, "option '%s.%s' must be set", p->section, o->name);
			return -1;
		}
		*(char **)(void *)field = vm_xstrdup(s);
	}
	return 0;
}

/* Builds the struct vm_conf from a parsed and checked tree. */
static struct vm_conf *conf_from_cfg(struct conf_load *ld, cfg_t *root)
{
	struct vm_conf *conf = vm_xcalloc(1, sizeof *conf);

	conf->path = vm_xstrdup(ld->path);
	for (size_t s = 0; s < N_SECTIONS; s++) {
		const struct conf_section *cs = &conf_sections[s];
		cfg_t *sec = root;

		if (cs->name && !(cs->flags & CFGF_MULTI))
			sec = cfg_getsec(root, cs->name);

		switch (cs->target) {
		case TARGET_CONF: conf_copy_group(sec, cs->group, conf); break;
		case TARGET_DEFAULT_OWNER:
			conf_copy_group(sec, cs->group, &conf->default_owner);
			conf->default_owner.source = conf->default_owner.tenant[0] ? VM_OWNER_CONFIG : VM_OWNER_NONE;
			break;
		case TARGET_OWNER_RULES:
			conf->n_owner_rules = cfg_size(root, cs->name);
			conf->owner_rules = vm_xcalloc(conf->n_owner_rules, sizeof *conf->owner_rules);
			for (size_t i = 0; i < conf->n_owner_rules; i++) {
				struct vm_owner_rule *rule = &conf->owner_rules[i];
				sec = cfg_getnsec(root, cs->name, (unsigned)i);
				rule->match = vm_xstrdup(cfg_title(sec));
				conf_copy_group(sec, cs->group, &rule->owner);
				rule->owner.source = VM_OWNER_CONFIG;
			}
			break;
		case TARGET_TRAFFIC:
			conf->n_traffic_classes = cfg_size(root, cs->name);
			conf->traffic_classes = vm_xcalloc(conf->n_traffic_classes, sizeof *conf->traffic_classes);
			for (size_t i = 0; i < conf->n_traffic_classes; i++) {
				sec = cfg_getnsec(root, cs->name, (unsigned)i);
				conf->traffic_classes[i].name = vm_xstrdup(cfg_title(sec));
				conf_copy_group(sec, cs->group, &conf->traffic_classes[i]);
			}
			break;
		case TARGET_OWNER_MAPS:
			conf->n_owner_maps = cfg_size(root, cs->name);
			conf->owner_maps = vm_xcalloc(conf->n_owner_maps, sizeof *conf->owner_maps);
			for (size_t i = 0; i < conf->n_owner_maps; i++) {
				sec = cfg_getnsec(root, cs->name, (unsigned)i);
				conf->owner_maps[i].name = vm_xstrdup(cfg_title(sec));
				conf_copy_group(sec, cs->group, &conf->owner_maps[i]);
			}
			break;
		}
	}
	if (conf_check_collector(ld, conf) < 0 || conf_build_netclass(ld, conf) < 0 ||
	    conf_fill_host_name(ld, conf) < 0 || (ld->prog && conf_copy_program(ld, root, conf) < 0)) {
		vm_conf_free(conf);
		return NULL;
	}
	return conf;
}

/* "cannot open 'PATH': No such file or directory" */
static void conf_error_errno(struct conf_load *ld, const char *what)
{
	int e = errno;

	if (!ld->failed && ld->err && ld->errsize)
		snprintf(ld->err, ld->errsize, "cannot %s '%s': %s", what, ld->path, strerror(e));
	ld->failed = true;
}

/* Reads all of `fp` into a new buffer (caller frees), at most
 * CONF_MAX_BYTES.  Returns NULL after an error. */
static char *conf_read(struct conf_load *ld, FILE *fp, size_t *lenp)
{
	char *buf = NULL;
	size_t cap = 0, len = 0, n;

	do {
		buf = vm_xgrow(buf, &cap, len + 4096, 1);
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (len > CONF_MAX_BYTES) {
			conf_error(ld, 0, "file is larger than %d bytes", CONF_MAX_BYTES);
			free(buf);
			return NULL;
		}
	} while (n > 0);
	if (ferror(fp)) {
		conf_error_errno(ld, "read");
		free(buf);
		return NULL;
	}
	*lenp = len;
	return buf;
}

/* A character of an unquoted string in libconfuse's lexer. */
static bool conf_is_bare(char c)
{
	return c != '\0' && !strchr(" #\"'\t\n\r={}()+,*", c);
}

static int conf_count_lines(const char *from, const char *to)
{
	int n = 0;

	for (; from < to; from++)
		n += *from == '\n';
	return n;
}

/* Skips the quoted string at buf[*i] (libconfuse's rules: a backslash
 * escapes any character, "${VAR}" is replaced whole), counting lines.
 * Returns -1 if it does not end. */
static int conf_skip_string(const char *buf, size_t len, size_t *i, int *line)
{
	char quote = buf[*i];
	const char *close;
	size_t j = *i + 1;

	while (j < len && buf[j] != quote) {
		if (buf[j] == '\\' && j + 1 < len) {
			*line += buf[j + 1] == '\n';
			j += 2;
		} else if (quote == '"' && buf[j] == '$' && j + 1 < len && buf[j + 1] == '{' &&
		           (close = memchr(buf + j, '}', len - j))) {
			*line += conf_count_lines(buf + j, close);
			j = (size_t)(close - buf) + 1;
		} else {
			*line += buf[j] == '\n';
			j++;
		}
	}
	if (j >= len)
		return -1;
	*i = j + 1;
	return 0;
}

/* libconfuse 3.3's lexer counts a comment as two or three lines, refuses
 * comments inside lists, takes the end of the file for the end of an open
 * section, and drops '*' and a lone '+' outside quotes without a word.  So
 * the text is checked here first, tokenised by the same rules, and its
 * comments are blanked out (newlines kept) before libconfuse sees it.
 * So are the sections of other programs (conf_skips_section()). */
static const char *const conf_program_sections[] = {VM_CONF_PROGRAM_SECTIONS};

/* True if the n bytes at `word` name another program's section: this load
 * has no table for it, so it is that program's to check. */
static bool conf_skips_section(const struct conf_load *ld, const char *word, size_t n)
{
	for (size_t k = 0; k < ARRAY_SIZE(conf_program_sections); k++) {
		const char *name = conf_program_sections[k];
		if (strlen(name) == n && strncmp(word, name, n) == 0)
			return !ld->prog || strcmp(ld->prog->section, name) != 0;
	}
	return false;
}

static int conf_prescan(struct conf_load *ld, char *buf, size_t len)
{
	int open[8]; /* lines of the '{' still open */
	size_t depth = 0, i = 0;
	size_t skip_from = SIZE_MAX; /* start of another program's section */
	int line = 1;
	const char *p = memchr(buf, '\0', len);

	if (p) {
		conf_error(ld, 1 + conf_count_lines(buf, p), "NUL byte in file");
		return -1;
	}
	while (i < len) {
		char c = buf[i], next = i + 1 < len ? buf[i + 1] : '\0';
		int start = line;

		if (c == '\n') {
			line++;
			i++;
		} else if (c == '#' || (c == '/' && next == '/')) {
			while (i < len && buf[i] != '\n')
				buf[i++] = ' ';
		} else if (c == '/' && next == '*') {
			p = memmem(buf + i + 2, len - i - 2, "*/", 2);
			if (!p) {
				conf_error(ld, start, "unterminated comment");
				return -1;
			}
			for (size_t end = (size_t)(p - buf) + 2; i < end; i++) {
				if (buf[i] == '\n')
					line++;
				else
					buf[i] = ' ';
			}
		} else if (c == '"' || c == '\'') {
			if (conf_skip_string(buf, len, &i, &line) < 0) {
				conf_error(ld, start, "unterminated string");
				return -1;
			}
		} else if (c == '$' && next == '{' && (p = memchr(buf + i, '}', len - i))) {
			line += conf_count_lines(buf + i, p);
			i = (size_t)(p - buf) + 1;
		} else if (c == '*' || (c == '+' && next != '=')) {
			conf_error(ld, line, "unquoted '%c': put the value in double quotes", c);
			return -1;
		} else if (c == '{') {
			open[depth < ARRAY_SIZE(open) ? depth : ARRAY_SIZE(open) - 1] = line;
			depth++;
			i++;
		} else if (c == '}') {
			/* One too many is libconfuse's to report. */
			depth -= depth > 0;
			i++;
			if (depth == 0 && skip_from != SIZE_MAX) {
				for (size_t k = skip_from; k < i; k++)
					buf[k] = buf[k] == '\n' ? '\n' : ' ';
				skip_from = SIZE_MAX;
			}
		} else if (conf_is_bare(c)) {
			size_t word = i, j;
			while (i < len && conf_is_bare(buf[i]))
				i++;
			for (j = i; j < len && strchr(" \t\r\n", buf[j]); j++)
				;
			if (depth == 0 && j < len && buf[j] == '{' && conf_skips_section(ld, buf + word, i - word))
				skip_from = word;
		} else {
			i += c == '+' ? 2 : 1;
		}
	}
	if (depth) {
		conf_error(ld, open[depth <= ARRAY_SIZE(open) ? depth - 1 : ARRAY_SIZE(open) - 1],
		           "'{' has no matching '}'");
		return -1;
	}
	return 0;
}

struct vm_conf *vm_conf_load(const char *path, char *err, size_t errsize)
{
	return vm_conf_load_program(path, NULL, err, errsize);
}

struct vm_conf *vm_conf_load_program(const char *path, const struct vm_conf_program *program, char *err, size_t errsize)
{
	struct conf_load load = {.path = path, .err = err, .errsize = errsize, .prog = program};
	struct conf_load *ld = &load;
	struct vm_conf *conf = NULL;
	cfg_opt_t *opts = NULL;
	cfg_t *cfg = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if (err && errsize)
		err[0] = '\0';
	if (program) {
		size_t k = 0;
		while (k < ARRAY_SIZE(conf_program_sections) && strcmp(conf_program_sections[k], program->section) != 0)
			k++;
		if (k == ARRAY_SIZE(conf_program_sections)) {
			conf_error(ld, 0, "section '%s' is not a program's (VM_CONF_PROGRAM_SECTIONS)",
			           program->section);
			goto out;
		}
		ld->prog_lines = vm_xcalloc(program->n_options + 1, sizeof *ld->prog_lines);
	}

	fp = fopen(path, "re");
	if (!fp) {
		conf_error_errno(ld, "open");
		goto out;
	}
	buf = conf_read(ld, fp, &len);
	fclose(fp);
	if (!buf || conf_prescan(ld, buf, len) < 0)
		goto out;

	opts = conf_build_opts(program);
	cfg = cfg_init(opts, CFGF_NONE);
	if (!cfg) {
		conf_error(ld, 0, "cannot set up libconfuse: %s", strerror(errno));
		goto out;
	}
	cfg_set_error_function(cfg, conf_cfg_error);
	ld->root = cfg;
	conf_loading = ld;
	/* Empty: nothing to parse (and fmemopen() may refuse zero bytes). */
	if (len > 0) {
		fp = fmemopen(buf, len, "r");
		if (!fp) {
			conf_error(ld, 0, "cannot parse: %s", strerror(errno));
			goto out;
		}
		int rc = cfg_parse_fp(cfg, fp);
		fclose(fp);
		if (rc != CFG_SUCCESS || ld->failed) {
			conf_error(ld, 0, "cannot parse");
			goto out;
		}
	}
	conf = conf_from_cfg(ld, cfg);
	/* libconfuse reports through conf_cfg_error() while values are read
	 * out too. */
	if (conf && ld->failed) {
		vm_conf_free(conf);
		conf = NULL;
	}
out:
	conf_loading = NULL;
	if (cfg)
		cfg_free(cfg);
	conf_free_opts(opts);
	free(ld->prefix_lines);
	free(ld->prog_lines);
	free(buf);
	return conf;
}

void vm_conf_free(struct vm_conf *conf)
{
	if (!conf)
		return;
	for (size_t s = 0; s < N_SECTIONS; s++) {
		if (conf_sections[s].target != TARGET_CONF)
			continue;
		for (size_t r = 0; r < N_OPTS; r++)
			if (conf_opts[r].group == conf_sections[s].group && conf_opts[r].type == CONF_STR)
				free(*(char **)(void *)((char *)conf + conf_opts[r].offset));
	}
	for (size_t i = 0; i < conf->n_owner_rules; i++)
		free(conf->owner_rules[i].match);
	free(conf->owner_rules);
	for (size_t i = 0; i < conf->n_traffic_classes; i++) {
		for (size_t j = 0; j < conf->traffic_classes[i].n_prefixes; j++)
			free(conf->traffic_classes[i].prefixes[j]);
		free(conf->traffic_classes[i].prefixes);
		free(conf->traffic_classes[i].name);
	}
	free(conf->traffic_classes);
	for (size_t i = 0; i < conf->n_owner_maps; i++) {
		struct vm_owner_map *m = &conf->owner_maps[i];
		for (size_t r = 0; r < N_OPTS; r++)
			if (conf_opts[r].group == GRP_OWNER_MAP && conf_opts[r].type == CONF_STR)
				free(*(char **)(void *)((char *)m + conf_opts[r].offset));
		free(m->name);
	}
	free(conf->owner_maps);
	vm_netclass_free(conf->netclass);
	for (size_t r = 0; conf->program_values && r < conf->program->n_options; r++)
		if (conf->program->options[r].type == VM_CONF_STR)
			free(*(char **)(void *)((char *)conf->program_values + conf->program->options[r].offset));
	free(conf->program_values);
	free(conf->path);
	free(conf);
}

bool vm_conf_owner_lookup(const struct vm_conf *conf, const char *name, const char *uuid, struct vm_owner *owner)
{
	const struct vm_owner *found = NULL;

	for (size_t i = 0; i < conf->n_owner_rules && !found; i++) {
		const struct vm_owner_rule *rule = &conf->owner_rules[i];
		if (conf_is_uuid(rule->match) ? uuid && strcasecmp(rule->match, uuid) == 0
		                              : name && fnmatch(rule->match, name, 0) == 0)
			found = &rule->owner;
	}
	if (!found && conf->default_owner.tenant[0])
		found = &conf->default_owner;
	if (!found)
		return false;
	*owner = *found;
	owner->source = VM_OWNER_CONFIG;
	return true;
}
