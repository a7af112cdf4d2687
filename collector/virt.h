/* The collector's side of libvirt: one connection that comes back after
 * libvirtd restarts, lifecycle events, the domain list with XML, and raw
 * samples through the bulk stats API with per-domain fallbacks.
 *
 * Blocking: every call here may block on libvirtd; the collector makes
 * them from its main thread only.  Inside col_virt_sample() the per-domain
 * fallback calls run on a pool of worker threads (collector/fanout.h), with
 * the callbacks still on the calling thread.  Domain events arrive on the
 * main thread's event loop (collector/virtevent.h) and are queued for the
 * next pass (col_virt_events), never handled inside libvirt's dispatch. */
#ifndef COL_VIRT_H
#define COL_VIRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <libvirt/libvirt.h>

#include "domxml.h"
#include "power.h"

#define COL_MAX_DEV 64

struct col_dev_sample {
	char name[64];  /* disk target or interface name */
	uint64_t v[10]; /* see enum col_dev_field */
	uint32_t have;  /* bit per field */
};

enum col_dev_field {
	/* disks */
	COL_DISK_RD_BYTES,
	COL_DISK_WR_BYTES,
	COL_DISK_RD_REQS,
	COL_DISK_WR_REQS,
	COL_DISK_RD_NS,
	COL_DISK_WR_NS,
	COL_DISK_FL_REQS,
	COL_DISK_FL_NS,
	COL_DISK_CAPACITY,
	COL_DISK_ALLOCATION,
	/* interfaces */
	COL_NET_RX_BYTES = 0,
	COL_NET_TX_BYTES,
	COL_NET_RX_PKTS,
	COL_NET_TX_PKTS,
	COL_NET_RX_ERRS,
	COL_NET_TX_ERRS,
	COL_NET_RX_DROP,
	COL_NET_TX_DROP,
};

enum col_vm_field {
	COL_CPU_NS,
	COL_CPU_USER_NS,
	COL_CPU_SYSTEM_NS,
	COL_VCPU_NS,
	COL_VCPU_DELAY_NS,
	COL_VCPU_WAIT_NS,
	COL_VCPUS,
	COL_BALLOON_KIB,
	COL_BALLOON_MAX_KIB,
	COL_RSS_KIB,
	COL_USABLE_KIB,
	COL_AVAILABLE_KIB,
	COL_UNUSED_KIB,
	COL_VM__COUNT
};

/* One running domain at one moment. */
struct col_vm_sample {
	char uuid[37];
	char name[256];
	int id;
	int state; /* virDomainState */
	int64_t t_ns;
	int64_t mono_ns; /* the same moment on the monotonic clock (0: unknown) */
	uint64_t v[COL_VM__COUNT];
	uint32_t have; /* bit per enum col_vm_field */
	struct col_dev_sample disks[COL_MAX_DEV];
	size_t n_disks;
	struct col_dev_sample nics[COL_MAX_DEV];
	size_t n_nics;
};

struct col_host_sample {
	int64_t t_ns;
	int64_t mono_ns; /* as in struct col_vm_sample */
	bool have_cpu, have_mem;
	uint64_t cpu_user_ns, cpu_kernel_ns, cpu_idle_ns, cpu_iowait_ns;
	uint64_t mem_total_kib, mem_free_kib, mem_cached_kib;
	unsigned cpus, mhz, nodes, sockets, cores, threads;
	uint64_t memory_kib;
	char model[32];
	/* The host's RAPL counters (collector/power.h), read by the caller
	 * in the same pass; have_power false: none. */
	bool have_power;
	struct col_power_sample power;
};

enum col_event_kind {
	COL_EV_DEFINED,
	COL_EV_UNDEFINED,
	COL_EV_STARTED,
	COL_EV_SUSPENDED,
	COL_EV_RESUMED,
	COL_EV_STOPPED,
	COL_EV_SHUTDOWN,
	COL_EV_PMSUSPENDED,
	COL_EV_CRASHED,
	COL_EV_CHANGED, /* devices, metadata, tunables */
};

struct col_event {
	char uuid[37];
	int64_t t_ns;
	enum col_event_kind kind;
	int id;          /* domain id at the event, -1 if not running */
	char detail[32]; /* libvirt's detail, e.g. "destroyed" */
};

/* A domain from the list, with its parsed XML. */
struct col_domain {
	struct vm_inventory inv;
	bool active;
	char owner_err[256]; /* invalid owner metadata, "" if none */
	/* The XML itself, for the configured owner mappings (conf.h
	 * owner_maps), which need the document; NULL if not kept.  Lent by
	 * col_virt for the callback (col_virt_list()), or until the next
	 * col_virt_list() or col_virt_domain() call (col_virt_domain()). */
	const char *xml;
	size_t xml_len;
};

typedef void (*col_event_cb)(void *arg); /* called from libvirt's event dispatch: only wake the loop */

struct col_virt;

/* Puts libvirt's event handling on `base` (collector/virtevent.h; the
 * base must outlive the process's use of libvirt, and libevent's locking
 * must be on, evthread_use_pthreads(), when threads > 1: the workers'
 * calls change libvirt's watches); `wake` is called when events are
 * queued, from the thread dispatching `base`.  `threads`: how many
 * domains' fallback calls are in flight at once (collector.libvirt-threads;
 * 1: all on the calling thread).  Does not connect yet. */
struct col_virt *col_virt_new(const char *uri, int reconnect_max_s, unsigned threads, struct event_base *base,
                              col_event_cb wake, void *wake_arg);
void col_virt_free(struct col_virt *v);
/* Changes the URI (config reload); reconnects on next use if it differs. */
void col_virt_set_uri(struct col_virt *v, const char *uri);
/* Changes the number of worker threads (config reload; between passes). */
void col_virt_set_threads(struct col_virt *v, unsigned threads);

/* Connects if not connected and the back-off allows.  Returns true if a
 * connection is usable; *fresh is set when it was just (re)established. */
bool col_virt_ensure(struct col_virt *v, bool *fresh);

/* Moves the queued events to *out (caller frees with free()). */
size_t col_virt_events(struct col_virt *v, struct col_event **out);

/* Lists all domains (active and inactive) and calls `cb` for each with
 * its XML parsed (the struct is lent for the call: copy what you keep), in
 * libvirt's list order, on the calling thread; the XML is read on the
 * worker threads (col_virt_new()).  Domains whose XML cannot be read are
 * logged and skipped.  Returns the count or -1. */
typedef void (*col_domain_cb)(const struct col_domain *d, void *arg);
int col_virt_list(struct col_virt *v, col_domain_cb cb, void *arg);
/* Reads one domain's XML again (after an event).  0, or -1 if gone. */
int col_virt_domain(struct col_virt *v, const char *uuid, struct col_domain *out);

/* How often the per-domain fallback asks for values that rarely move.
 * User/system CPU time and the guest's memory statistics that have not
 * changed for COL_STEADY_READS reads in a row are read once per UTC minute
 * (the first pass of each minute) until they change, and the samples in
 * between carry the last values read: an idle domain, or a driver that
 * gives constants (the test driver), costs two calls fewer per pass.  A
 * change found at such a read lands in the last interval before it: sums
 * over a run stay whole, but up to a minute's change is split between the
 * two minutes that interval touches.  See docs/internals/collector.md. */
#define COL_STEADY_READS 3

/* Bulk groups read once per UTC minute (on the first pass of each minute,
 * and at once for a domain not read since it started), not every pass:
 * the balloon group, whose values are gauges that move slowly, none a
 * billing meter, and which on QEMU asks the guest's QEMU over QMP
 * (bench/qemu-groups.sh: ~1.5 ms of libvirtd + QEMU CPU per domain-call,
 * of ~5.3 ms for all groups).  In the passes between, a sample lacks its
 * fields and the sampler carries the last levels: a minute's balloon and
 * guest memory figures are those read at its first pass.  Counters are not
 * read less often this way: the sampler would put a minute's whole delta
 * into the last interval before the read, split between two minutes by
 * that interval's overlap (tried with the vcpu group: the busy minute of
 * tests/integration/qemu-guest.sh kept 48 % of its vCPU time).  Billing
 * meters (cpu-total's cpu_ns, block and interface bytes) are read every
 * pass.  See docs/internals/collector.md. */
#define COL_SLOW_GROUPS VIR_DOMAIN_STATS_BALLOON

/* The most fields one steady call gives (the guest's memory statistics). */
#define COL_STEADY_FIELDS 4

struct col_steady {
	int id;                        /* the domain id the values belong to */
	uint8_t same;                  /* reads in a row without a change */
	int64_t minute;                /* UTC minute of the last read */
	bool read;                     /* at least one read */
	uint32_t have;                 /* bits of enum col_vm_field, at most COL_STEADY_FIELDS */
	uint64_t v[COL_STEADY_FIELDS]; /* the values of `have`'s fields, in field order */
};

/* What the per-domain fallback needs to know of a domain, kept by the
 * caller (zeroed at first) and updated by col_virt_sample, from a worker
 * thread: the caller must not touch it during the call but through the
 * callbacks for the same domain (col_sample_cb comes after the worker). */
struct col_devices {
	char **disks;
	size_t n_disks;
	char **nics;
	size_t n_nics;
	struct col_steady cpu, mem;
	/* The bulk path's slow groups (COL_SLOW_GROUPS): read at least once
	 * (slow_read) for the run of domain id slow_id. */
	int slow_id;
	bool slow_read;
};
typedef struct col_devices *(*col_devices_cb)(const char *uuid, void *arg);
typedef void (*col_sample_cb)(const struct col_vm_sample *s, void *arg);

/* Samples every active domain and calls `cb` for each, in the order of
 * libvirt's list, on the calling thread (the struct is only lent for the
 * call).  `devices` is called on the calling thread too, for each domain
 * before its fallback calls.  Returns the count, or -1 (connection lost:
 * the caller tries later). */
int col_virt_sample(struct col_virt *v, col_devices_cb devices, col_sample_cb cb, void *arg);

/* Samples one domain now (after its start event), if it is running.
 * Returns 0 or -1. */
int col_virt_sample_one(struct col_virt *v, const char *uuid, col_devices_cb devices, col_sample_cb cb, void *arg);

/* Per-domain calls made by the fallback since the connection opened, and
 * those the steady rule of struct col_steady saved. */
void col_virt_call_counts(const struct col_virt *v, uint64_t *made, uint64_t *saved);

/* Samples the host.  Returns 0 or -1. */
int col_virt_host(struct col_virt *v, struct col_host_sample *out);

/* The configured URI. */
const char *col_virt_uri(const struct col_virt *v);

/* Adds the fields of one bulk-stats record to *s (uuid, name, id and time
 * are the caller's).  Per-vCPU times are summed; disks and interfaces are
 * filled by index.  A field vmeter does not know is logged once per
 * process (forward compatibility: new libvirt versions add fields) and
 * otherwise ignored. */
void col_virt_parse_record(struct col_virt *v, const virDomainStatsRecord *rec, struct col_vm_sample *s);
/* How many distinct unknown field names were seen (and logged). */
size_t col_virt_unknown_fields(const struct col_virt *v);

#endif
