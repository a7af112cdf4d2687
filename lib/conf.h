/* The configuration file shared by every vmeter program (vmeter.conf(5)).
 *
 * Parsed with libconfuse from one table of options.  Unknown keys, wrong
 * types and values out of bounds are errors reported with file:line.  A
 * load either yields a complete struct vm_conf or nothing: on SIGHUP a
 * program loads a new one and swaps it in only if that succeeded. */
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
	char *spool_dir; /* "" means <state_dir>/spool */
	int spool_max_mb;
	char *spool_sync; /* "always", "interval" or "none" */
	int spool_sync_interval_ms;

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
};

/* Loads `path`.  Returns a new config (free with vm_conf_free) or NULL
 * after writing the error ("FILE:LINE: ...") to err. */
struct vm_conf *vm_conf_load(const char *path, char *err, size_t errsize);
void vm_conf_free(struct vm_conf *conf);

/* Fills *owner for a VM without owner metadata from the owner rules (first
 * match wins), then the default owner.  Returns false if nothing matched. */
bool vm_conf_owner_lookup(const struct vm_conf *conf, const char *name, const char *uuid, struct vm_owner *owner);

#endif
