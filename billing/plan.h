/* Price plans and tenants' plan assignments, read from plan files
 * (docs/BILLING.md, "Plan files"; the block syntax of lib/cfgtree.h) and
 * checked before anything is rated: a bad plan is refused naming the file,
 * line, plan and field, never half loaded.
 *
 * A catalog holds the plans and tenants of one or more files; references
 * between them (a tenant's plan, its currency) are checked once all are
 * read, by bill_catalog_check(). */
#ifndef BILL_PLAN_H
#define BILL_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "money.h"

/* What a charge prices, in its base unit. */
enum bill_meter {
	BILL_VCPU,          /* allocated vCPUs x time: vCPU-minutes */
	BILL_RAM,           /* allocated memory x time: MiB-minutes */
	BILL_DISK,          /* provisioned disk x time: MiB-minutes */
	BILL_CPU,           /* CPU time used: nanoseconds */
	BILL_DISK_RD_BYTES, /* bytes read from disks */
	BILL_DISK_WR_BYTES,
	BILL_DISK_RD_OPS, /* read requests */
	BILL_DISK_WR_OPS,
	BILL_NET_RX, /* bytes received, of one traffic class or of all */
	BILL_NET_TX,
	BILL_VM,     /* VM-minutes: a flat fee per minute of existence or running */
	BILL_ENERGY, /* joules: the VM's share of its host's energy */
	BILL_CARBON, /* milligrams of CO2e: that energy's emissions */
	BILL_METER__COUNT
};

/* The meter's name in plan files ("vcpu", "disk.read.bytes", "net.rx"). */
const char *bill_meter_name(enum bill_meter m);

/* When a time-based charge (vcpu, ram, disk, vm) counts a minute: while
 * the VM is defined, or only while it runs. */
enum bill_time { BILL_TIME_RUNNING, BILL_TIME_DEFINED };

enum bill_model {
	BILL_PER_UNIT,  /* price per `per` units, for every unit */
	BILL_GRADUATED, /* each tier's units at that tier's price */
	BILL_VOLUME,    /* every unit at the price of the tier the total reaches */
	BILL_PACKAGE,   /* price per started package of `per` units */
};

/* A moment a version or an assignment starts or ends: a civil date,
 * midnight in the tenant's time zone (so that a price changes where the
 * tenant's invoices cut), or an absolute UTC minute. */
struct bill_when {
	bool set;   /* false: open (no end) */
	bool local; /* t is days since 1970-01-01 of a civil date */
	int64_t t;  /* !local: seconds since the epoch, a whole minute */
};

#define BILL_MAX_TIERS 64

struct bill_tier {
	int64_t upto; /* base units this tier reaches; INT64_MAX: no limit */
	vm_money price;
	int line;
};

struct bill_charge {
	enum bill_meter meter;
	char *net_class;  /* net.CLASS.rx: the class; NULL: all traffic */
	char *host_class; /* only on hosts of this class; NULL: any host */
	char *tag_key;    /* only for VMs with this tag; NULL: any VM */
	char *tag_value;  /* ... with this value; NULL: any value */
	enum bill_time time;
	enum bill_model model;
	int64_t per;    /* base units the price (a tier's price, a package) is for */
	char *per_text; /* as written: "vcpu-hour", "1000000 op" */
	vm_money price; /* per-unit and package */
	struct bill_tier *tiers;
	size_t n_tiers;
	int line;
};

struct bill_version {
	char *label;
	struct bill_when from, to; /* to: the explicit end, or the next version's from */
	vm_money minimum;          /* per tenant and invoice; 0: none */
	struct bill_charge *charges;
	size_t n_charges;
	int line;
};

struct bill_plan {
	char *name;
	const char *file;
	const struct vm_currency *currency;
	enum vm_round rounding;
	enum bill_time time;
	struct bill_version *versions; /* in order of from */
	size_t n_versions;
	int line;
};

struct bill_assign {
	char *plan;
	char *project; /* NULL: the tenant's every project without its own */
	struct bill_when from, to;
	int line;
};

struct bill_tenant {
	char *name;
	const char *file;
	const struct vm_currency *currency;
	char *time_zone;     /* IANA name: "Europe/Berlin", "UTC" */
	bool showback;       /* statements, not invoices: no numbers, no money moving */
	bool showback_costs; /* statements show the value at the plan's prices; else quantities only */
	struct bill_assign *assigns;
	size_t n_assigns;
	int line;
};

/* A class of hosts by name: shell globs (fnmatch) on the host name.  Its
 * power model (docs/BILLING.md, "Energy and carbon") gives a host's power
 * where RAPL does not, linear in its CPU use from idle to max; the idle
 * power is also the share of a measured minute split by allocation. */
struct bill_host_class {
	char *name;
	const char *file;
	char **globs;
	size_t n_globs;
	bool power;              /* idle-power and max-power given */
	int64_t idle_mw, max_mw; /* milliwatts */
	char *grid;              /* the electricity grid its hosts draw from; NULL: none */
	int grid_line;
	int line;
};

/* An electricity grid's carbon intensity: a constant, for the hours
 * bill_grid_hour does not hold. */
struct bill_grid {
	char *name;
	const char *file;
	int64_t mg_per_kwh; /* milligrams of CO2e per kWh */
	int line;
};

/* One cost of a shared-host pool, per host and month, in force for the
 * months whose first day is in [from, to) (dates in the pool's zone). */
struct bill_cost {
	char *label; /* "amortisation", "power", ... */
	vm_money month;
	struct bill_when from, to;
	int line;
};

/* How a pool's month is split among the VMs on a host each minute (the
 * values of billing/pool.h's enum bill_split). */
enum bill_pool_split { BILL_POOL_ALLOCATION, BILL_POOL_USE, BILL_POOL_MAX };

/* A cost pool: hosts (a class, or globs of their own) whose monthly cost
 * each is spread over the month's minutes and split among the VMs on
 * the host (docs/BILLING.md, "Shared host cost"). */
struct bill_pool_def {
	char *name;
	const char *file;
	const struct vm_currency *currency;
	char *host_class;  /* the hosts of this class, or */
	char **host_globs; /* these */
	size_t n_host_globs;
	char *time_zone; /* months cut here */
	enum bill_pool_split split;
	bool spread_idle; /* idle cost spread over the VMs by their parts, not a line of its own */
	struct bill_cost *costs;
	size_t n_costs;
	int line;
};

struct bill_catalog;

/* A VM's tags as a lookup: the value of key, or NULL if the VM has no
 * such tag. */
typedef const char *(*bill_tag_fn)(const char *key, void *arg);

/* Does charge j of v apply to a VM on a host of class hc (NULL: none) with
 * the tags `tag` looks up (NULL: none)?  A charge applies where its class
 * and tag (if it names them) match, unless a more specific charge of the
 * same meter (and traffic class) applies too: a tag is more specific than
 * a class, both more than either; of two as specific, the first written. */
bool bill_charge_applies(const struct bill_version *v, size_t j, const char *hc, bill_tag_fn tag, void *arg);
/* Whether any charge of any plan prices by tag. */
bool bill_catalog_uses_tags(const struct bill_catalog *c);

struct bill_catalog *bill_catalog_new(void);
void bill_catalog_free(struct bill_catalog *c);

/* Traffic classes a net.CLASS meter may name (the configuration's); not
 * called: any class name is taken.  The strings are copied. */
void bill_catalog_set_classes(struct bill_catalog *c, const char *const *classes, size_t n);

/* Reads plans and tenants from a plan file (or from text, `file` naming
 * it).  Returns 0, or -1 with "FILE:LINE: plan 'x' version 'y' charge
 * 'vcpu': price: ..." in err, and the catalog as it was. */
int bill_catalog_load(struct bill_catalog *c, const char *path, char *err, size_t errsize);
int bill_catalog_parse(struct bill_catalog *c, const char *file, const char *text, size_t len, char *err,
                       size_t errsize);

/* Checks what spans files: every assigned plan exists and is in the
 * tenant's currency.  Returns 0, or -1 with the first problem in err. */
int bill_catalog_check(const struct bill_catalog *c, char *err, size_t errsize);

const struct bill_plan *bill_catalog_plans(const struct bill_catalog *c, size_t *n);
const struct bill_tenant *bill_catalog_tenants(const struct bill_catalog *c, size_t *n);
const struct bill_plan *bill_catalog_plan(const struct bill_catalog *c, const char *name);
const struct bill_host_class *bill_catalog_host_classes(const struct bill_catalog *c, size_t *n);
const struct bill_pool_def *bill_catalog_pools(const struct bill_catalog *c, size_t *n);
const struct bill_grid *bill_catalog_grids(const struct bill_catalog *c, size_t *n);
/* A host class or grid by name; NULL if none. */
const struct bill_host_class *bill_catalog_host_class(const struct bill_catalog *c, const char *name);
const struct bill_grid *bill_catalog_grid(const struct bill_catalog *c, const char *name);
/* The class of a host: the first class (in the order the files were read)
 * one of whose globs matches its name; NULL if none. */
const char *bill_catalog_class_of(const struct bill_catalog *c, const char *hostname);
/* The pool a host belongs to: the first pool whose class or globs take
 * it; NULL if none. */
const struct bill_pool_def *bill_catalog_pool_of(const struct bill_catalog *c, const char *hostname);
/* The pool's cost per host for the month starting on local date `month`
 * (days since 1970-01-01): the sum of its costs in force then. */
vm_money bill_pool_month_cost(const struct bill_pool_def *p, int64_t month);

/* Version vi of plan p as a plan file of its own: the plan's currency,
 * rounding and time, and the version's label, start, minimum and charges,
 * but not its end (which a later version sets).  Parsed back with
 * bill_catalog_parse(), it prices exactly as the version does; its text is
 * what identifies the version's content in the database (schema 7,
 * bill_version).  The caller frees it. */
char *bill_version_text(const struct bill_plan *p, size_t vi);

#endif
