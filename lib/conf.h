/* The configuration file shared by every vmeter program (vmeter.conf(5)).
 *
 * Parsed with libconfuse from one table of options.  Unknown keys, wrong
 * types and values out of bounds are errors reported with file:line.  A
 * load either yields a complete struct vm_conf or nothing: on SIGHUP a
 * program loads a new one and swaps it in only if that succeeded.
 *
 * The options every program shares (log-level, database { }, ...) and the
 * collector's (top level and collector { }, capture { }, owner sections,
 * traffic classes) are struct vm_conf's fields.  Every other program has a
 * section of its own, `aggregator { }`, `billing { }`, `reports { }`,
 * `web { }`, whose options that program declares in a table of its own
 * (struct vm_conf_program) and passes to vm_conf_load_program(): conf.c
 * knows the section's name, never its options.  A program checks its own
 * section strictly (unknown options, types, bounds, file:line) and skips
 * the sections of the other programs, which check theirs. */
#ifndef VM_CONF_H
#define VM_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "domxml.h"

#define VM_CONF_DEFAULT_PATH SYSCONFDIR "/vmeter/vmeter.conf"
#define VM_CONF_MAX_OWNER_MAPS 32

struct vm_owner_rule {
	char *match; /* glob over the VM name, or a UUID */
	struct vm_owner owner;
};

/* A traffic-class section: its title and prefixes as written. */
struct vm_traffic_class {
	char *name;
	char **prefixes;
	size_t n_prefixes;
};

struct vm_netclass;

/* The sections owned by programs other than the collector, in the order
 * their programs come.  A load skips those it was not given a table for. */
#define VM_CONF_PROGRAM_SECTIONS "aggregator", "billing", "reports", "web"

enum vm_conf_type {
	VM_CONF_INT, /* int; value within min..max */
	VM_CONF_STR, /* char *, owned by the struct vm_conf; length within min..max */
};

/* One option of a program's section. */
struct vm_conf_option {
	const char *name; /* "window" is written "aggregator { window = 300 }" */
	enum vm_conf_type type;
	size_t offset; /* of the int or char * in the program's struct of values */
	long min, max;
	long def_int;
	const char *def_str; /* VM_CONF_STR: NULL means it must be given */
	/* VM_CONF_STR: NULL if the value is fine, else what it must be ("must
	 * be an absolute path"; a static string).  May be NULL. */
	const char *(*check)(const char *value);
};

/* A program's section: its name (one of VM_CONF_PROGRAM_SECTIONS), its
 * options, and the size of the struct its values are copied into (the
 * struct vm_conf owns that struct and its strings).  Borrowed by the
 * struct vm_conf: a static table. */
struct vm_conf_program {
	const char *section;
	const struct vm_conf_option *options;
	size_t n_options;
	size_t size;
};

struct vm_conf {
	char *path;
	int log_level; /* enum vm_log_level */

	/* collector */
	char *libvirt_uri;
	char *host_name; /* this hypervisor's name in the database */
	int interval_s;  /* sampling interval */
	int inventory_refresh_s;
	int max_gap_s;         /* longest sample gap still counted as observed */
	int max_interpolate_s; /* longest gap of one domain run split over its minutes */
	char *state_dir;
	char *rrd_dir;
	char *rrdcached; /* "unix:/path" or "" for direct writes */
	int reconnect_max_s;
	int libvirt_threads; /* domains whose per-domain libvirt calls are in flight at once */
	char *spool_dir;     /* "" means <state_dir>/spool */
	int spool_max_mb;
	char *spool_sync; /* "always", "interval" or "none" */
	int spool_sync_interval_ms;
	char *power_source;  /* "rapl" (where the host has it) or "none" */
	char *powercap_root; /* where RAPL's zones are: /sys/class/powercap */

	/* capture (collector/capture.h) */
	char *capture_user;       /* "" means vmeter if it exists, else nobody */
	char *capture_chroot_dir; /* "" means none */
	int capture_buffer_mb;

	/* database */
	char *db_conninfo;
	int db_batch_rows;
	int db_timeout_s;

	struct vm_owner default_owner; /* tenant empty: none */
	struct vm_owner_rule *owner_rules;
	size_t n_owner_rules;
	/* owner-metadata sections in file order (vm_owner_map_apply()) */
	struct vm_owner_map *owner_maps;
	size_t n_owner_maps;

	/* Traffic classes in file order, and the lookup table built from them
	 * and traffic_default (lib/netclass.h; owned, read-only). */
	char *traffic_default;
	struct vm_traffic_class *traffic_classes;
	size_t n_traffic_classes;
	struct vm_netclass *netclass;

	/* The program section loaded with vm_conf_load_program(), NULL if none:
	 * a struct of program->size bytes, defaults where the file is silent. */
	const struct vm_conf_program *program;
	void *program_values;
};

/* Loads `path`.  Returns a new config (free with vm_conf_free) or NULL
 * after writing the error ("FILE:LINE: ...") to err. */
struct vm_conf *vm_conf_load(const char *path, char *err, size_t errsize);
/* The same, and the section of `program` read into conf->program_values
 * (program NULL: as vm_conf_load()).  Errors in that section name
 * FILE:LINE and the option ("aggregator.window"). */
struct vm_conf *vm_conf_load_program(const char *path, const struct vm_conf_program *program, char *err,
                                     size_t errsize);
void vm_conf_free(struct vm_conf *conf);

/* Fills *owner for a VM without owner metadata from the owner rules (first
 * match wins), then the default owner.  Returns false if nothing matched. */
bool vm_conf_owner_lookup(const struct vm_conf *conf, const char *name, const char *uuid, struct vm_owner *owner);

#endif
