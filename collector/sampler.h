/* The collector's model of its host: every VM it knows (by UUID) with its
 * last sample, inventory digest and usage accumulator, and the host itself.
 *
 * It turns raw samples into intervals (collector/virt.h gives cumulative
 * counters; collector/counter.h makes deltas), feeds the per-minute accumulators
 * (lib/usage.h), writes RRD samples, and hands closed minutes, inventory
 * changes and lifecycle events to the writer.  Not thread-safe: the
 * collector's main thread owns it. */
#ifndef COL_SAMPLER_H
#define COL_SAMPLER_H

#include <stdint.h>

#include <stdbool.h>

#include "capture.h"
#include "conf.h"
#include "db.h"
#include "rrdout.h"
#include "virt.h"

struct vm_binw;

struct col_sampler;

/* Where the sampler's output goes (the collector: its writer thread; the
 * unit tests: a recorder).  Rows and strings are copied by the callee;
 * `inventory` takes ownership of inv (allocated with vm_xmalloc).  The
 * traffic callbacks may be NULL (no traffic rows). */
struct col_sink {
	void (*usage)(void *arg, const char *uuid, const struct vm_usage_row *row); /* uuid NULL: host */
	/* Returns 0, or -1 if the change could not be kept (it is pushed
	 * again later). */
	int (*inventory)(void *arg, struct vm_inventory *inv, int64_t at_ns);
	void (*event)(void *arg, const char *uuid, int64_t at_ns, const char *event, const char *detail);
	void (*host)(void *arg, const struct vm_host_info *host, int64_t at_ns);
	void *arg;
	/* A VM's traffic minute, emitted right after its usage row of the
	 * same minute; the host's capture minute. */
	void (*traffic)(void *arg, const struct vm_db_traffic *tr);
	void (*host_capture)(void *arg, const struct vm_db_host_capture *hc);
	/* Usage of [from_ns, to_ns) that cannot be known (a domain restarted
	 * or stopped while no collector watched, a gap longer than
	 * max-interpolate, a lost saved state); may be NULL. */
	void (*loss)(void *arg, const char *uuid, int64_t from_ns, int64_t to_ns, const char *reason);
};

/* conf and rrd are borrowed; they must outlive the sampler or be replaced
 * with col_sampler_set_*.  rrd may be NULL (no graphs). */
struct col_sampler *col_sampler_new(const struct vm_conf *conf, const struct col_sink *sink, struct vm_rrd *rrd);
/* Frees; with flush, first emits every open minute as it is (nothing
 * will continue them).  Without, open minutes are only in the last saved
 * state (col_sampler_save()), for the next process to continue. */
void col_sampler_free(struct col_sampler *s, bool flush);
void col_sampler_set_conf(struct col_sampler *s, const struct vm_conf *conf);
void col_sampler_set_rrd(struct col_sampler *s, struct vm_rrd *rrd);

/* Inventory from a full re-list: call begin, then domain() for each
 * domain, then end(); VMs not seen are gone (undefined). */
void col_sampler_list_begin(struct col_sampler *s);
void col_sampler_domain(struct col_sampler *s, const struct col_domain *d, int64_t at_ns);
void col_sampler_list_end(struct col_sampler *s, int64_t at_ns);

/* A lifecycle or change event.  Returns what the caller should do next:
 * COL_NEED_XML, re-read the domain's XML and pass it to col_sampler_domain();
 * COL_NEED_SAMPLE, sample the domain now (a baseline at its start). */
#define COL_NEED_XML 1
#define COL_NEED_SAMPLE 2
int col_sampler_event(struct col_sampler *s, const struct col_event *ev);

/* One sampling pass: begin, sample() per active domain, end. */
void col_sampler_pass_begin(struct col_sampler *s, int64_t now_ns);
void col_sampler_sample(struct col_sampler *s, const struct col_vm_sample *vm);
void col_sampler_pass_end(struct col_sampler *s, int64_t now_ns, bool complete);
void col_sampler_host(struct col_sampler *s, const struct col_host_sample *h);

/* Calls cb for each VM whose domain XML should be read again and passed to
 * col_sampler_domain() (running VMs listed before their first sample: their
 * disk capacities are known now).  Returns the count. */
size_t col_sampler_refetch(struct col_sampler *s, void (*cb)(const char *uuid, void *arg), void *arg);

/* Device names for the per-domain fallback (col_devices_cb). */
struct col_devices *col_sampler_devices(const char *uuid, void *sampler);

size_t col_sampler_vm_count(const struct col_sampler *s);
/* How many known VMs' domain XML exceeded a limit at its last read
 * (struct vm_inventory.limits): their inventory is incomplete. */
size_t col_sampler_incomplete_inventories(const struct col_sampler *s);

/* After each spool commit: whether what was pushed since the last one is
 * kept.  Inventory changes that were not are read and pushed again. */
void col_sampler_committed(struct col_sampler *s, bool ok);

/* Resuming across restarts (collector/resume.h).  save appends what a
 * later process needs to continue every domain run where this one is now:
 * per VM its last sample (run id, counters, time) and open minutes, and the
 * host's.  resume loads such a state into a new sampler (before any
 * sample); the next sample of a VM in the same run then adds the interval
 * since its saved sample like any other.  Returns 0, or -1 with a message
 * (the sampler is left empty). */
void col_sampler_save(const struct col_sampler *s, struct vm_binw *w);
int col_sampler_resume(struct col_sampler *s, const void *buf, size_t len, char *err, size_t errsize);
/* The state of the run before was lost (no usable saved state) at
 * since_ns: VMs found running are recorded as lost from then to their
 * first sample, with `why` as the reason (copied). */
void col_sampler_state_lost(struct col_sampler *s, int64_t since_ns, const char *why);

/* Traffic capture (collector/capture.h).  Every VM has a slot, a dense id
 * that stays its own while the sampler knows it; a slot freed with its VM
 * (after the VM's last minute was emitted) is reused only after the next
 * col_sampler_capture(), so no count is ever given to the wrong VM.
 *
 * set_capture: whether a capture runs (coverage rows compare with
 * libvirt's counters only then). */
void col_sampler_set_capture(struct col_sampler *s, bool on);
/* The interface set for col_capture_set_interfaces(): the NIC target
 * devices of the running VMs, with their slots.  Returns true if it
 * differs from the set last returned (or none was); *ifs is borrowed until
 * the next call.  now_ns: when the set takes effect, for coverage. */
bool col_sampler_capture_ifaces(struct col_sampler *s, int64_t now_ns, const struct col_capture_iface **ifs, size_t *n);
/* Folds a flushed interval into the VMs' per-minute traffic (split by
 * time, exactly), their coverage and the host's capture minute, and
 * updates the per-class RRD files.  st/n_st: col_capture_ifstate() (a VM
 * none of whose interfaces exist is not covered).  Call between the
 * pass's samples and col_sampler_pass_end(): the minutes that pass closes
 * then carry these counts.  iv and st are borrowed. */
void col_sampler_capture(struct col_sampler *s, const struct col_capture_interval *iv,
                         const struct col_capture_ifstate *st, size_t n_st);

#endif
