#include "config.h"

#include "sampler.h"

#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binio.h"
#include "counter.h"
#include "record.h"
#include "traffic.h"
#include "log.h"
#include "vtime.h"
#include "xalloc.h"

/* The last known counters of one device in the current run.  A device
 * missing from one sample (NOWAIT may leave stats out, a per-device call
 * may fail) keeps its entry, so that it is neither lost nor, when it comes
 * back, taken for a new device whose whole counter is new usage. */
struct dev_prev {
	char name[64];
	uint64_t v[10];
	uint32_t have;
	bool current;    /* in the latest sample */
	unsigned missed; /* samples since last seen */
};

#define DEV_FORGET_AFTER 30 /* samples; an unplugged device's entry goes */

struct vm {
	char uuid[37];
	char *name;
	bool listed;    /* seen in the current re-list */
	bool lc_known;  /* this process recorded a lifecycle event of it, or its observed state */
	bool undefined; /* gone from libvirt: freed once its minutes are out */
	bool active;
	bool sampled; /* in the current pass */

	/* inventory */
	unsigned vcpus;
	uint64_t mem_kib;
	struct col_devices devs;
	uint64_t inv_digest;
	bool refetch;              /* inventory to read again once sampled (disk capacities) */
	bool inv_unconfirmed;      /* inventory pushed since the last spool commit */
	bool inv_retry;            /* that push was lost: read and push it again */
	int64_t pending_at;        /* when the unrecorded inventory change happened */
	uint64_t owner_err_logged; /* digest of the owner problem last logged */
	int owner_logged;          /* owner source last logged, -1 none */
	uint64_t limits_logged;    /* digest of the limits text last logged, 0 none */
	bool incomplete;           /* its domain XML exceeded a limit at the last read */

	/* last sample */
	bool have_prev;
	bool from_start;    /* baseline was taken at a start we saw happen */
	bool start_pending; /* started: the next sample is that baseline */
	int prev_id, prev_state;
	int64_t prev_t;
	int64_t prev_mono; /* monotonic time of that sample, 0 if unknown */
	bool behind;       /* the wall clock is back before that sample (step_back()) */
	bool resumed;      /* its last sample is from an earlier process (collector/resume.h) */
	bool loss_checked; /* state_lost: its loss since then is recorded */
	uint64_t prev[COL_VM__COUNT];
	uint32_t prev_have;
	struct dev_prev *disks, *nics;
	size_t n_disks, n_nics;

	uint64_t cum[VM_M_VCPUS]; /* the counters' sums of deltas, for RRD DERIVE (gauges have none) */
	struct vm_usage_acc *acc;
	int64_t close_at; /* sampled with capture on: close minutes up to here at the pass's end */

	/* capture */
	uint32_t slot;     /* dense id for the capture, NO_SLOT if none */
	bool running;      /* libvirt says so (listing, events): capture before its first sample */
	bool in_set;       /* its interfaces are in the capture's set */
	bool resolved;     /* the worker found at least one of them */
	int64_t set_since; /* when it (last) joined the set */
	struct col_traffic_acc *tacc;
	struct class_cum *tcum; /* per class sums, for RRD DERIVE */
	size_t n_tcum;
};

#define NO_SLOT UINT32_MAX

struct class_cum {
	char name[VM_NETCLASS_NAME_MAX + 1];
	uint64_t v[4]; /* rx bytes, tx bytes, rx packets, tx packets */
};

/* A freed slot, reusable once a flush after `gen` has come back: counts
 * the worker took under the old interface set may still name it until
 * then, and must not be given to another VM. */
struct slot_hold {
	uint32_t slot;
	uint64_t gen;
};

struct host_state {
	bool have_prev;
	int64_t prev_mono;
	struct col_host_sample prev;
	uint64_t prev_vms, prev_vcpus, prev_vm_mem;
	uint64_t cum[HOST_M__COUNT];
	struct vm_usage_acc *acc;
	/* Energy (host_power_minute): its own rows, none where RAPL is not
	 * read; intervals of the host's samples that both have it. */
	struct vm_usage_acc *pacc;
	struct col_traffic_acc *tacc; /* capture health */
	struct vm_host_info info;
	bool info_sent;
};

struct col_sampler {
	const struct vm_conf *conf;
	struct col_sink sink;
	struct vm_rrd *rrd;
	struct vm **vms; /* sorted by uuid */
	size_t n_vms, cap_vms;
	struct host_state host;
	struct vm_inventory *scratch; /* one parse's worth, reused */

	/* capture */
	bool capture_on;
	struct vm **slot_vm; /* slot -> VM, NULL if free */
	size_t n_slots, cap_slots;
	uint32_t *free_slots;
	size_t n_free, cap_free;
	struct slot_hold *held;
	size_t n_held, cap_held;
	uint64_t flushes;
	struct col_capture_iface *ifs; /* the set last handed out */
	size_t n_ifs, cap_ifs;
	uint64_t ifs_digest;
	bool ifs_sent;
	uint64_t orphan_bytes; /* counts of freed slots, dropped */

	int64_t lost_since; /* state lost since then (col_sampler_state_lost()), 0 if not */
	char lost_why[64];
	size_t resumed_vms;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return fnv(h, s, strlen(s) + 1);
}

/* ---------------------------------------------------------------- slots */

static uint32_t slot_take(struct col_sampler *s, struct vm *vm)
{
	uint32_t slot;
	if (s->n_free) {
		slot = s->free_slots[--s->n_free];
	} else if (s->n_slots < COL_CAPTURE_MAX_SLOTS) {
		s->slot_vm = vm_xgrow(s->slot_vm, &s->cap_slots, s->n_slots + 1, sizeof *s->slot_vm);
		slot = (uint32_t)s->n_slots++;
	} else {
		return NO_SLOT; /* not captured: it shows as captured_ms 0 */
	}
	s->slot_vm[slot] = vm;
	return slot;
}

static void slot_release(struct col_sampler *s, struct vm *vm)
{
	if (vm->slot == NO_SLOT)
		return;
	s->slot_vm[vm->slot] = NULL;
	s->held = vm_xgrow(s->held, &s->cap_held, s->n_held + 1, sizeof *s->held);
	s->held[s->n_held++] = (struct slot_hold){vm->slot, s->flushes};
	vm->slot = NO_SLOT;
}

/* After a flush: slots held since before it are free again. */
static void slots_unhold(struct col_sampler *s)
{
	size_t k = 0;
	for (size_t i = 0; i < s->n_held; i++) {
		if (s->held[i].gen < s->flushes) {
			s->free_slots = vm_xgrow(s->free_slots, &s->cap_free, s->n_free + 1, sizeof *s->free_slots);
			s->free_slots[s->n_free++] = s->held[i].slot;
		} else {
			s->held[k++] = s->held[i];
		}
	}
	s->n_held = k;
}

/* ---------------------------------------------------------------- VM table */

static int cmp_key(const void *key, const void *elem)
{
	return strcmp(key, (*(struct vm *const *)elem)->uuid);
}

static struct vm *vm_find(struct col_sampler *s, const char *uuid)
{
	if (!s->n_vms)
		return NULL;
	struct vm **p = bsearch(uuid, s->vms, s->n_vms, sizeof *s->vms, cmp_key);
	return p ? *p : NULL;
}

static struct vm *vm_get(struct col_sampler *s, const char *uuid, const char *name)
{
	size_t lo = 0, hi = s->n_vms;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(uuid, s->vms[mid]->uuid);
		if (c == 0)
			return s->vms[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	struct vm *vm = vm_xcalloc(1, sizeof *vm);
	snprintf(vm->uuid, sizeof vm->uuid, "%s", uuid);
	vm->name = vm_xstrdup(name);
	vm->acc = vm_usage_acc_new(vm_usage_vm_meters());
	vm->tacc = col_traffic_acc_new();
	vm->slot = slot_take(s, vm);
	vm->owner_logged = -1;
	s->vms = vm_xgrow(s->vms, &s->cap_vms, s->n_vms + 1, sizeof *s->vms);
	memmove(&s->vms[lo + 1], &s->vms[lo], (s->n_vms - lo) * sizeof *s->vms);
	s->vms[lo] = vm;
	s->n_vms++;
	return vm;
}

/* Frees the device names.  The steady-value state (d->cpu, d->mem) stays:
 * a re-list changes no value, and wiping it at every inventory refresh
 * made a domain read its steady values COL_STEADY_READS + 1 times after
 * each one (issue 17: 0.75 calls saved per domain and pass, not 2). */
static void devs_free(struct col_devices *d)
{
	for (size_t i = 0; i < d->n_disks; i++)
		free(d->disks[i]);
	for (size_t i = 0; i < d->n_nics; i++)
		free(d->nics[i]);
	free(d->disks);
	free(d->nics);
	d->disks = d->nics = NULL;
	d->n_disks = d->n_nics = 0;
}

static void vm_free(struct col_sampler *s, struct vm *vm)
{
	slot_release(s, vm);
	devs_free(&vm->devs);
	vm_usage_acc_free(vm->acc);
	col_traffic_acc_free(vm->tacc);
	free(vm->tcum);
	free(vm->disks);
	free(vm->nics);
	free(vm->name);
	free(vm);
}

size_t col_sampler_incomplete_inventories(const struct col_sampler *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n_vms; i++)
		n += s->vms[i]->incomplete && !s->vms[i]->undefined;
	return n;
}

size_t col_sampler_vm_count(const struct col_sampler *s)
{
	return s->n_vms;
}

struct col_devices *col_sampler_devices(const char *uuid, void *arg)
{
	struct vm *vm = vm_find(arg, uuid);
	return vm ? &vm->devs : NULL;
}

/* ---------------------------------------------------------------- rows */

struct emit {
	struct col_sampler *s;
	const char *uuid; /* NULL for the host */
	struct vm *vm;    /* NULL for the host */
};

static void emit_row(const struct vm_usage_row *row, void *arg)
{
	struct emit *e = arg;
	e->s->sink.usage(e->s->sink.arg, e->uuid, row);
	/* The minute's coverage row compares the capture with libvirt's
	 * counters of the same minute. */
	if (e->vm && e->s->capture_on)
		col_traffic_acc_libvirt(e->vm->tacc, row->minute_ns, (row->have >> VM_M_NET_RX_BYTES) & 1,
		                        row->sum[VM_M_NET_RX_BYTES], (row->have >> VM_M_NET_TX_BYTES) & 1,
		                        row->sum[VM_M_NET_TX_BYTES]);
}

static void emit_traffic(const struct vm_db_traffic *tr, void *arg)
{
	struct col_sampler *s = arg;
	s->sink.traffic(s->sink.arg, tr);
}

static void emit_host_capture(const struct vm_db_host_capture *hc, void *arg)
{
	struct col_sampler *s = arg;
	s->sink.host_capture(s->sink.arg, hc);
}

/* A VM's traffic minutes close with its usage minutes, at the same mark. */
static void vm_close(struct col_sampler *s, struct vm *vm, int64_t upto)
{
	struct emit e = {s, vm->uuid, vm};
	vm_usage_acc_close(vm->acc, upto, emit_row, &e);
	if (s->sink.traffic)
		col_traffic_acc_close(vm->tacc, upto, vm->uuid, emit_traffic, s);
}

/* ---------------------------------------------------------------- lifecycle */

struct col_sampler *col_sampler_new(const struct vm_conf *conf, const struct col_sink *sink, struct vm_rrd *rrd)
{
	struct col_sampler *s = vm_xcalloc(1, sizeof *s);
	s->conf = conf;
	s->sink = *sink;
	s->scratch = vm_xmalloc(sizeof *s->scratch);
	s->rrd = rrd;
	s->host.acc = vm_usage_acc_new(vm_usage_host_meters());
	s->host.pacc = vm_usage_acc_new(vm_usage_power_meters());
	s->host.tacc = col_traffic_acc_new();
	return s;
}

void col_sampler_free(struct col_sampler *s, bool flush)
{
	if (!s)
		return;
	struct emit e = {s, NULL, NULL};
	for (size_t i = 0; i < s->n_vms; i++) {
		if (flush)
			vm_close(s, s->vms[i], INT64_MAX);
		vm_free(s, s->vms[i]);
	}
	if (flush) {
		vm_usage_acc_close(s->host.acc, INT64_MAX, emit_row, &e);
		vm_usage_acc_close(s->host.pacc, INT64_MAX, emit_row, &e);
	}
	vm_usage_acc_free(s->host.acc);
	vm_usage_acc_free(s->host.pacc);
	if (flush && s->sink.host_capture)
		col_traffic_acc_close_host(s->host.tacc, INT64_MAX, emit_host_capture, s);
	col_traffic_acc_free(s->host.tacc);
	free(s->slot_vm);
	free(s->free_slots);
	free(s->held);
	free(s->ifs);
	free(s->scratch);
	free(s->vms);
	free(s);
}

void col_sampler_set_conf(struct col_sampler *s, const struct vm_conf *conf)
{
	s->conf = conf;
}

void col_sampler_set_rrd(struct col_sampler *s, struct vm_rrd *rrd)
{
	s->rrd = rrd;
}

/* ---------------------------------------------------------------- inventory */

void col_sampler_list_begin(struct col_sampler *s)
{
	for (size_t i = 0; i < s->n_vms; i++)
		s->vms[i]->listed = false;
}

/* A domain over the XML limits is logged once per VM and per distinct
 * text, not at every re-list; its return to complete once too. */
static void vm_limits_log(struct vm *vm, const struct vm_inventory *inv)
{
	vm->incomplete = inv->limits[0] != '\0';
	if (!vm->incomplete) {
		if (vm->limits_logged)
			vm_notice("vm '%s' (%s): domain XML within vmeter's limits again, inventory complete",
			          inv->name, inv->uuid);
		vm->limits_logged = 0;
		return;
	}
	uint64_t h = fnv_str(UINT64_C(1469598103934665603), inv->limits);
	if (h != vm->limits_logged)
		vm_warn("vm '%s' (%s): domain XML over vmeter's limits, inventory incomplete: %s", inv->name, inv->uuid,
		        inv->limits);
	vm->limits_logged = h;
}

static const char *owner_source_text(enum vm_owner_source source)
{
	switch (source) {
	case VM_OWNER_NONE: break;
	case VM_OWNER_METADATA: return "vmeter metadata";
	case VM_OWNER_CONFIG: return "the configuration";
	case VM_OWNER_NOVA: return "nova metadata";
	case VM_OWNER_MAPPING: return "an owner-metadata mapping";
	}
	return "nowhere";
}

/* The owner in precedence order: vmeter's element and Nova's (both read
 * with the XML), the configuration's owner-metadata mappings, its owner
 * rules.  Problems met on the way are logged once per distinct text,
 * naming where the owner came from instead; so is the source. */
static void owner_resolve(struct col_sampler *s, struct vm *vm, const struct col_domain *d, struct vm_inventory *copy)
{
	char problems[512], map_err[256] = "";

	if (copy->owner.source == VM_OWNER_NONE && s->conf->n_owner_maps && d->xml &&
	    vm_owner_map_apply(s->conf->owner_maps, s->conf->n_owner_maps, d->xml, d->xml_len, &copy->owner, map_err,
	                       sizeof map_err) < 0)
		memset(&copy->owner, 0, sizeof copy->owner);
	if (copy->owner.source == VM_OWNER_NONE && !vm_conf_owner_lookup(s->conf, copy->name, copy->uuid, &copy->owner))
		memset(&copy->owner, 0, sizeof copy->owner); /* recorded as owner 'none' */
	snprintf(problems, sizeof problems, "%s%s%s", d->owner_err, d->owner_err[0] && map_err[0] ? "; " : "", map_err);
	if (problems[0]) {
		uint64_t h = fnv_str(UINT64_C(1469598103934665603), problems);
		if (h != vm->owner_err_logged && copy->owner.source == VM_OWNER_NONE)
			vm_warn("vm '%s' (%s): %s; no owner rule matches either: its usage has no tenant", copy->name,
			        copy->uuid, problems);
		else if (h != vm->owner_err_logged)
			vm_warn("vm '%s' (%s): %s; owner '%s' from %s instead", copy->name, copy->uuid, problems,
			        copy->owner.tenant, owner_source_text(copy->owner.source));
		vm->owner_err_logged = h;
	} else {
		vm->owner_err_logged = 0;
	}
	/* Say once, not at every re-list, where a VM's owner comes from
	 * when it is not vmeter's own metadata. */
	if ((int)copy->owner.source == vm->owner_logged)
		return;
	vm->owner_logged = (int)copy->owner.source;
	if (problems[0])
		return; /* said just above */
	if (copy->owner.source == VM_OWNER_CONFIG)
		vm_info("vm '%s' (%s) has no vmeter owner metadata: owner '%s' from the configuration", copy->name,
		        copy->uuid, copy->owner.tenant);
	else if (copy->owner.source == VM_OWNER_NOVA || copy->owner.source == VM_OWNER_MAPPING)
		vm_info("vm '%s' (%s) has no vmeter owner metadata: owner '%s' from %s", copy->name, copy->uuid,
		        copy->owner.tenant, owner_source_text(copy->owner.source));
	else if (copy->owner.source == VM_OWNER_NONE)
		vm_warn("vm '%s' (%s) has no vmeter owner metadata and no owner rule matches: its usage has no "
		        "tenant",
		        copy->name, copy->uuid);
}

void col_sampler_domain(struct col_sampler *s, const struct col_domain *d, int64_t at_ns)
{
	const struct vm_inventory *inv = &d->inv;
	struct vm *vm = vm_get(s, inv->uuid, inv->name);
	vm->listed = true;
	vm->undefined = false;
	/* Billing counts running and defined minutes from lifecycle events;
	 * a VM that was already running (or shut off) when this process
	 * started sends none, so its state as listed is recorded once, as of
	 * now: "started"/"stopped" with detail "observed".  A stop missed
	 * while the collector was down is corrected by it too. */
	if (!vm->lc_known) {
		vm->lc_known = true;
		s->sink.event(s->sink.arg, inv->uuid, at_ns, d->active ? "started" : "stopped", "observed");
	}
	if (strcmp(vm->name, inv->name) != 0) {
		free(vm->name);
		vm->name = vm_xstrdup(inv->name);
	}
	vm->vcpus = inv->vcpus;
	vm->mem_kib = inv->memory_kib;
	vm->running = d->active;
	devs_free(&vm->devs);
	vm->devs.disks = vm_xcalloc(inv->n_disks, sizeof(char *));
	for (size_t i = 0; i < inv->n_disks; i++)
		vm->devs.disks[vm->devs.n_disks++] = vm_xstrdup(inv->disks[i].target);
	vm->devs.nics = vm_xcalloc(inv->n_nics, sizeof(char *));
	for (size_t i = 0; i < inv->n_nics; i++)
		vm->devs.nics[vm->devs.n_nics++] = vm_xstrdup(inv->nics[i].target);

	struct vm_inventory *copy = s->scratch;
	*copy = *inv;
	vm_limits_log(vm, inv);
	owner_resolve(s, vm, d, copy);
	if (!vm->pending_at || at_ns < vm->pending_at)
		vm->pending_at = at_ns;
	/* Disk capacities come from the samples.  A running VM not sampled
	 * yet is read again after its first sample (col_sampler_refetch())
	 * rather than recorded now without them, which would record a
	 * spurious change a minute later; keeping a copy of every such VM's
	 * inventory instead would cost ~40 KiB each at start-up. */
	if ((vm->active || d->active) && !vm->have_prev && vm->n_disks == 0 && inv->n_disks > 0) {
		vm->refetch = true;
		return;
	}
	vm->refetch = false;
	for (size_t i = 0; i < copy->n_disks; i++)
		for (size_t k = 0; k < vm->n_disks; k++)
			if (strcmp(copy->disks[i].target, vm->disks[k].name) == 0 &&
			    (vm->disks[k].have & (1u << COL_DISK_CAPACITY)))
				copy->disks[i].capacity = vm->disks[k].v[COL_DISK_CAPACITY];
	uint64_t digest = vm_inv_digest(copy, NULL);
	if (digest != vm->inv_digest) {
		struct vm_inventory *out = vm_xmalloc(sizeof *out);
		*out = *copy;
		/* Until its spool commit, the change may still be lost (the
		 * spool full): col_sampler_committed() then forgets the
		 * digest, so that it is read and pushed again. */
		if (s->sink.inventory(s->sink.arg, out, vm->pending_at) == 0) {
			vm->inv_digest = digest;
			vm->inv_unconfirmed = true;
			vm->inv_retry = false;
		} else {
			vm->inv_digest = 0;
			vm->inv_retry = true;
		}
	}
	vm->pending_at = 0;
}

size_t col_sampler_refetch(struct col_sampler *s, void (*cb)(const char *uuid, void *arg), void *arg)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n_vms; i++) {
		struct vm *vm = s->vms[i];
		if ((vm->refetch && (vm->have_prev || !vm->active)) || vm->inv_retry) {
			cb(vm->uuid, arg);
			n++;
		}
	}
	return n;
}

void col_sampler_list_end(struct col_sampler *s, int64_t at_ns)
{
	for (size_t i = 0; i < s->n_vms; i++) {
		struct vm *vm = s->vms[i];
		if (!vm->listed && !vm->undefined) {
			/* Undefined while we were not listening. */
			vm->undefined = true;
			s->sink.event(s->sink.arg, vm->uuid, at_ns, "undefined", "missed");
		}
	}
}

/* ---------------------------------------------------------------- samples */

static const struct {
	int field, meter;
} vm_counter_map[] =
    {
        {COL_CPU_NS, VM_M_CPU_NS},   {COL_CPU_USER_NS, VM_M_CPU_USER_NS},     {COL_CPU_SYSTEM_NS, VM_M_CPU_SYSTEM_NS},
        {COL_VCPU_NS, VM_M_VCPU_NS}, {COL_VCPU_DELAY_NS, VM_M_VCPU_DELAY_NS}, {COL_VCPU_WAIT_NS, VM_M_VCPU_WAIT_NS},
},
  vm_gauge_map[] =
      {
          {COL_BALLOON_KIB, VM_M_BALLOON_KIB},     {COL_RSS_KIB, VM_M_RSS_KIB},       {COL_USABLE_KIB, VM_M_USABLE_KIB},
          {COL_AVAILABLE_KIB, VM_M_AVAILABLE_KIB}, {COL_UNUSED_KIB, VM_M_UNUSED_KIB},
},
  disk_map[] =
      {
          {COL_DISK_RD_BYTES, VM_M_DISK_RD_BYTES}, {COL_DISK_WR_BYTES, VM_M_DISK_WR_BYTES},
          {COL_DISK_RD_REQS, VM_M_DISK_RD_REQS},   {COL_DISK_WR_REQS, VM_M_DISK_WR_REQS},
          {COL_DISK_RD_NS, VM_M_DISK_RD_NS},       {COL_DISK_WR_NS, VM_M_DISK_WR_NS},
          {COL_DISK_FL_REQS, VM_M_DISK_FL_REQS},   {COL_DISK_FL_NS, VM_M_DISK_FL_NS},
},
  net_map[] = {
      {COL_NET_RX_BYTES, VM_M_NET_RX_BYTES}, {COL_NET_TX_BYTES, VM_M_NET_TX_BYTES}, {COL_NET_RX_PKTS, VM_M_NET_RX_PKTS},
      {COL_NET_TX_PKTS, VM_M_NET_TX_PKTS},   {COL_NET_RX_ERRS, VM_M_NET_RX_ERRS},   {COL_NET_TX_ERRS, VM_M_NET_TX_ERRS},
      {COL_NET_RX_DROP, VM_M_NET_RX_DROP},   {COL_NET_TX_DROP, VM_M_NET_TX_DROP},
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(i) (UINT64_C(1) << (i))

static void merge_devs(struct dev_prev **arr, size_t *n, const struct col_dev_sample *cur, size_t n_cur)
{
	for (size_t k = 0; k < *n; k++) {
		(*arr)[k].current = false;
		(*arr)[k].missed++;
	}
	for (size_t i = 0; i < n_cur; i++) {
		if (!cur[i].name[0])
			continue;
		struct dev_prev *p = NULL;
		for (size_t k = 0; k < *n && !p; k++)
			if (strcmp((*arr)[k].name, cur[i].name) == 0)
				p = &(*arr)[k];
		if (!p) {
			*arr = vm_xrealloc(*arr, (*n + 1) * sizeof **arr);
			p = &(*arr)[(*n)++];
			memset(p, 0, sizeof *p);
			memcpy(p->name, cur[i].name, sizeof p->name);
		}
		for (int f = 0; f < 10; f++)
			if (cur[i].have & (1u << f)) {
				p->v[f] = cur[i].v[f];
				p->have |= 1u << f;
			}
		p->current = true;
		p->missed = 0;
	}
	size_t k = 0;
	for (size_t i = 0; i < *n; i++)
		if ((*arr)[i].missed <= DEV_FORGET_AFTER && k < COL_MAX_DEV)
			(*arr)[k++] = (*arr)[i];
	*n = k;
}

/* Remembers a sample as the baseline of the next interval.  Values the
 * sample lacks keep their last known value (see struct dev_prev); `fresh`
 * starts a new run with nothing known. */
static void store_prev(struct vm *vm, const struct col_vm_sample *smp, bool fresh)
{
	if (fresh) {
		vm->prev_have = 0;
		vm->n_nics = 0;
		/* A new run restarts the counters, not the disks: their
		 * capacity stays known (it goes into the inventory, and a
		 * sample of the new run without it, the per-domain fallback
		 * reading it once a minute, would record a spurious change) */
		for (size_t k = 0; k < vm->n_disks; k++)
			vm->disks[k].have &= 1u << COL_DISK_CAPACITY;
	}
	vm->have_prev = true;
	vm->behind = false;
	vm->prev_id = smp->id;
	vm->prev_state = smp->state;
	vm->prev_t = smp->t_ns;
	for (int f = 0; f < COL_VM__COUNT; f++)
		if (smp->have & (1u << f)) {
			vm->prev[f] = smp->v[f];
			vm->prev_have |= 1u << f;
		}
	merge_devs(&vm->disks, &vm->n_disks, smp->disks, smp->n_disks);
	merge_devs(&vm->nics, &vm->n_nics, smp->nics, smp->n_nics);
}

/* Adds the deltas of one device list to iv.  Without `resets`, a counter
 * that went down adds nothing (see step_back()) and is counted in
 * *dropped. */
static void dev_deltas(const struct vm *vm, const struct dev_prev *prev, size_t n_prev,
                       const struct col_dev_sample *cur, size_t n_cur, const __typeof__(disk_map[0]) *map, size_t n_map,
                       bool resets, unsigned *dropped, struct vm_usage_interval *iv)
{
	for (size_t i = 0; i < n_cur; i++) {
		const struct dev_prev *p = NULL;
		for (size_t k = 0; k < n_prev && !p; k++)
			if (strcmp(prev[k].name, cur[i].name) == 0)
				p = &prev[k];
		/* A device first seen now is new since the VM started only if
		 * we saw the VM start; otherwise it is a baseline. */
		if (!p && !vm->from_start)
			continue;
		for (size_t m = 0; m < n_map; m++) {
			int f = map[m].field;
			if (!(cur[i].have & (1u << f)))
				continue;
			bool had = p && (p->have & (1u << f));
			if (p && !had)
				continue;
			uint64_t d;
			enum vm_counter_result r = vm_counter_delta(had, had ? p->v[f] : 0, cur[i].v[f], !p, &d);
			if (r == VM_COUNTER_BASELINE)
				continue;
			if (r == VM_COUNTER_RESET && !resets) {
				(*dropped)++;
				continue;
			}
			iv->value[map[m].meter] += d;
			iv->have |= BIT(map[m].meter);
		}
	}
}

static uint64_t dev_sum(const struct dev_prev *d, size_t n, int field, bool *have)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		if (d[i].current && (d[i].have & (1u << field))) {
			sum += d[i].v[field];
			*have = true;
		}
	return sum;
}

/* Gauges of [prev_t, t): the levels of the previous sample hold. */
static void prev_gauges(const struct vm *vm, struct vm_usage_interval *iv)
{
	unsigned vcpus = (vm->prev_have & (1u << COL_VCPUS)) ? (unsigned)vm->prev[COL_VCPUS] : vm->vcpus;
	if (vcpus) {
		iv->value[VM_M_VCPUS] = vcpus;
		iv->have |= BIT(VM_M_VCPUS);
	}
	uint64_t mem = vm->mem_kib
	                   ? vm->mem_kib
	                   : ((vm->prev_have & (1u << COL_BALLOON_MAX_KIB)) ? vm->prev[COL_BALLOON_MAX_KIB] : 0);
	if (mem) {
		iv->value[VM_M_MEM_MAX_KIB] = mem;
		iv->have |= BIT(VM_M_MEM_MAX_KIB);
	}
	for (size_t i = 0; i < ARRAY_LEN(vm_gauge_map); i++)
		if (vm->prev_have & (1u << vm_gauge_map[i].field)) {
			iv->value[vm_gauge_map[i].meter] = vm->prev[vm_gauge_map[i].field];
			iv->have |= BIT(vm_gauge_map[i].meter);
		}
	bool have = false;
	uint64_t cap = dev_sum(vm->disks, vm->n_disks, COL_DISK_CAPACITY, &have);
	if (have)
		iv->value[VM_M_DISK_CAPACITY] = cap, iv->have |= BIT(VM_M_DISK_CAPACITY);
	have = false;
	uint64_t alloc = dev_sum(vm->disks, vm->n_disks, COL_DISK_ALLOCATION, &have);
	if (have)
		iv->value[VM_M_DISK_ALLOCATION] = alloc, iv->have |= BIT(VM_M_DISK_ALLOCATION);
	if (vm->prev_state == VIR_DOMAIN_RUNNING) {
		iv->value[VM_M_RUNNING_MS] = (uint64_t)((iv->t1 - iv->t0) / 1000000);
		iv->have |= BIT(VM_M_RUNNING_MS);
	}
}

static void rrd_write_vm(struct col_sampler *s, struct vm *vm, int64_t t)
{
	if (!s->rrd)
		return;
	uint64_t values[VM_USAGE_MAX_METERS] = {0};
	uint64_t have = 0;
	for (size_t i = 0; i < VM_M_VCPUS; i++)
		values[i] = vm->cum[i], have |= BIT(i);
	/* Levels now: the gauges an interval starting now would carry. */
	struct vm_usage_interval iv = {.t0 = t, .t1 = t + 1};
	prev_gauges(vm, &iv);
	for (size_t i = VM_M_VCPUS; i < VM_M__COUNT; i++)
		if (iv.have & BIT(i))
			values[i] = iv.value[i], have |= BIT(i);
	char name[64];
	snprintf(name, sizeof name, "vm-%s", vm->uuid);
	vm_rrd_update(s->rrd, name, vm_usage_vm_meters(), t, have, values);
}

void col_sampler_pass_begin(struct col_sampler *s, int64_t now_ns)
{
	(void)now_ns;
	for (size_t i = 0; i < s->n_vms; i++)
		s->vms[i]->sampled = false;
}

/* How an interval [prev_t, t) longer than max-gap is counted.  libvirt's
 * counters are cumulative, so a gap in the samples of one domain run (the
 * collector restarted, libvirt away) loses nothing: its deltas are split
 * over the gap's minutes like any interval's, as long as the monotonic
 * clock agrees that this much time passed.  When it does not, the wall
 * clock stepped: the deltas belong to the real time since the last sample,
 * placed before t.  A gap longer than max-interpolate is not guessed at:
 * recorded as lost. */
enum gap_rule { GAP_NONE, GAP_SPLIT, GAP_STEP, GAP_LOST };

static enum gap_rule gap_rule(const struct col_sampler *s, int64_t prev_t, int64_t prev_mono, int64_t t, int64_t mono)
{
	int64_t wall = t - prev_t;
	if (wall <= (int64_t)s->conf->max_gap_s * VM_NS_PER_SEC)
		return GAP_NONE;
	int64_t real = mono - prev_mono;
	int64_t tol = 2 * VM_NS_PER_SEC + wall / 100;
	if (prev_mono <= 0 || real <= 0 || real - wall > tol || wall - real > tol)
		return GAP_STEP;
	return wall <= (int64_t)s->conf->max_interpolate_s * VM_NS_PER_SEC ? GAP_SPLIT : GAP_LOST;
}

static void record_loss(struct col_sampler *s, struct vm *vm, int64_t from, int64_t to, const char *reason)
{
	if (to <= from || !s->sink.loss)
		return;
	s->sink.loss(s->sink.arg, vm->uuid, from, to, reason);
}

/* The minutes of a VM that end by its sample at t.  With traffic capture
 * they close at the pass's end, once the capture's counts up to now are in
 * (col_sampler_capture()): a minute's traffic rows go out with its usage
 * row.  Without, nothing else adds to them: they close now (those the
 * interval straddled already have, vm_usage_acc_add_close()), so that one
 * VM at a time, not every VM until the pass's end, has two minutes open
 * (issue 17).  The rows are the same either way. */
static void close_after_sample(struct col_sampler *s, struct vm *vm, int64_t t)
{
	if (s->capture_on)
		vm->close_at = t;
	else
		vm_close(s, vm, t);
}

/* The counters' deltas from the last sample of the run to smp, into iv.
 * A counter that went down counts from zero (counter.h); without `resets`
 * it adds nothing instead.  Returns how many did so. */
static unsigned counter_deltas(const struct vm *vm, const struct col_vm_sample *smp, bool resets,
                               struct vm_usage_interval *iv)
{
	unsigned dropped = 0;
	for (size_t i = 0; i < ARRAY_LEN(vm_counter_map); i++) {
		int f = vm_counter_map[i].field;
		if (!(smp->have & (1u << f)))
			continue;
		uint64_t d;
		if (!(vm->prev_have & (1u << f))) {
			/* A counter that first appears in a run we saw start
			 * (vCPU times are not there yet while QEMU starts)
			 * counted from zero since that start. */
			if (!vm->from_start)
				continue;
			d = smp->v[f];
		} else if (vm_counter_delta(true, vm->prev[f], smp->v[f], false, &d) == VM_COUNTER_RESET) {
			if (!resets) {
				dropped++;
				continue;
			}
			vm_info("vm '%s': counter %s went down without a restart: counting from zero", vm->name,
			        vm_usage_vm_meters()->meters[vm_counter_map[i].meter].name);
		}
		iv->value[vm_counter_map[i].meter] = d;
		iv->have |= BIT(vm_counter_map[i].meter);
	}
	dev_deltas(vm, vm->disks, vm->n_disks, smp->disks, smp->n_disks, disk_map, ARRAY_LEN(disk_map), resets,
	           &dropped, iv);
	dev_deltas(vm, vm->nics, vm->n_nics, smp->nics, smp->n_nics, net_map, ARRAY_LEN(net_map), resets, &dropped, iv);
	return dropped;
}

/* The RRD files' counter sums (DERIVE) follow every delta counted. */
static void cum_add(struct vm *vm, const struct vm_usage_interval *iv)
{
	for (size_t i = 0; i < VM_M_VCPUS; i++)
		if (iv->have & BIT(i))
			vm->cum[i] += iv->value[i];
}

/* A sample of the same run not after the last one: the wall clock stepped
 * back.  The counters' deltas since the last sample are usage of this run
 * all the same (the monotonic clock went on), only the wall clock has no
 * time left to put them in: they go to the last sample's minute, flagged
 * late, without coverage or running time, as deltas that come for a closed
 * minute do (restarting the baseline here lost them without a trace).  The
 * last sample's time stays the baseline: the wall time the clock lives
 * again is covered once, by the interval that ends after it, never twice.
 *
 * A counter that went down here is taken to follow the wall clock (libvirt's
 * test driver makes its CPU time and I/O counters from it), not to have
 * been reset: it adds nothing, and counts on from its new value.  Logged
 * once per VM and step. */
static void step_back(struct vm *vm, const struct col_vm_sample *smp)
{
	struct vm_usage_interval iv = {.t0 = vm->prev_t, .t1 = vm->prev_t};
	unsigned dropped = counter_deltas(vm, smp, false, &iv);
	if (!vm->behind)
		vm_warn("vm '%s': sample time did not advance (clock stepped back %.3f s?): its usage since the last "
		        "sample is counted late, in that sample's minute%s",
		        vm->name, (double)(vm->prev_t - smp->t_ns) / 1e9,
		        dropped ? "; counters that went down with the clock are not" : "");
	vm_usage_acc_add_late(vm->acc, vm->prev_t, &iv);
	cum_add(vm, &iv);
	int64_t prev_t = vm->prev_t, prev_mono = vm->prev_mono;
	store_prev(vm, smp, false);
	vm->prev_t = prev_t, vm->prev_mono = prev_mono;
	vm->behind = true;
	vm->resumed = false;
}

void col_sampler_sample(struct col_sampler *s, const struct col_vm_sample *smp)
{
	struct vm *vm = vm_get(s, smp->uuid, smp->name);
	int64_t mono = smp->mono_ns;
	vm->sampled = true;
	vm->active = true;
	int64_t t = smp->t_ns;
	if (vm->have_prev && smp->id != vm->prev_id) {
		/* Restarted between two samples without an event we saw: its
		 * counters are from the new start, whose time we do not
		 * know, so this sample is a baseline and the usage since the
		 * last one cannot be known. */
		vm_info(
		    "vm '%s' (%s) restarted between samples: its usage in the %.0f s before this sample is recorded "
		    "as lost",
		    vm->name, vm->uuid, (double)(t - vm->prev_t) / 1e9);
		record_loss(s, vm, vm->prev_t, t,
		            vm->resumed ? "restarted while not observed" : "restarted unobserved");
		vm->have_prev = false;
	}
	if (!vm->have_prev) {
		if (s->lost_since && !vm->loss_checked && !vm->start_pending) {
			/* Running when the collector started, with the state of
			 * the run before lost: the time since is unknown. */
			record_loss(s, vm, s->lost_since, t, s->lost_why);
		}
		vm->loss_checked = true;
		vm->from_start = vm->start_pending;
		vm->start_pending = false;
		vm->resumed = false;
		store_prev(vm, smp, true);
		vm->prev_mono = mono;
		rrd_write_vm(s, vm, t);
		return;
	}
	vm->loss_checked = true;
	if (t <= vm->prev_t) {
		step_back(vm, smp);
		return;
	}

	struct vm_usage_interval iv = {.t0 = vm->prev_t, .t1 = t};
	enum gap_rule rule = gap_rule(s, vm->prev_t, vm->prev_mono, t, mono);
	if (rule == GAP_LOST) {
		vm_info("vm '%s': %.0f s without a sample, more than max-interpolate: recorded as lost", vm->name,
		        (double)(t - vm->prev_t) / 1e9);
		record_loss(s, vm, vm->prev_t, t, "gap");
		store_prev(vm, smp, true);
		vm->prev_mono = mono;
		vm->resumed = false;
		rrd_write_vm(s, vm, t);
		close_after_sample(s, vm, t);
		return;
	}
	if (rule == GAP_STEP) {
		/* Only the last interval counts as observed; the counters
		 * still carry everything the VM did during the gap. */
		iv.t0 = t - (int64_t)s->conf->interval_s * VM_NS_PER_SEC;
		vm_info("vm '%s': %.0f s without a sample (the clock stepped?): the gap is not counted as observed",
		        vm->name, (double)(t - vm->prev_t) / 1e9);
	} else if (rule == GAP_SPLIT) {
		vm_info("vm '%s': %.0f s without a sample: its usage is split over the gap's minutes", vm->name,
		        (double)(t - vm->prev_t) / 1e9);
	}
	counter_deltas(vm, smp, true, &iv);
	prev_gauges(vm, &iv);
	if (s->capture_on) {
		vm_usage_acc_add(vm->acc, &iv);
	} else {
		struct emit e = {s, vm->uuid, vm};
		vm_usage_acc_add_close(vm->acc, &iv, t, emit_row, &e);
	}
	cum_add(vm, &iv);
	store_prev(vm, smp, false);
	vm->prev_mono = mono;
	vm->resumed = false;
	rrd_write_vm(s, vm, t);
	close_after_sample(s, vm, t);
}

/* The VM stopped at t.  libvirt drops a domain's counters when it stops,
 * so the time since its last sample cannot be measured: coverage ends at
 * that sample (the stop itself is in vm_event, for billing by interval). */
static void vm_stop(struct vm *vm)
{
	vm->have_prev = false;
	vm->from_start = false;
	vm->active = false;
	vm->running = false;
}

void col_sampler_pass_end(struct col_sampler *s, int64_t now_ns, bool complete)
{
	int64_t stale = now_ns - (int64_t)s->conf->max_gap_s * VM_NS_PER_SEC;
	int64_t hopeless = now_ns - (int64_t)s->conf->max_interpolate_s * VM_NS_PER_SEC;
	size_t k = 0;
	for (size_t i = 0; i < s->n_vms; i++) {
		struct vm *vm = s->vms[i];
		if (complete && vm->active && !vm->sampled) {
			/* Not running any more, and no event told us (yet).  If
			 * its last sample is from before this process, it
			 * stopped while nobody watched: when, is not known. */
			if (vm->resumed && vm->have_prev)
				record_loss(s, vm, vm->prev_t, now_ns, "stopped while not observed");
			vm_stop(vm);
		}
		if (vm->close_at) {
			vm_close(s, vm, vm->close_at);
			vm->close_at = 0;
		}
		if (!vm->sampled) {
			/* A run we cannot sample now (libvirt away) goes on
			 * counting: the minute of its last sample stays open for
			 * the interval that will follow it, up to
			 * max-interpolate. */
			int64_t upto = complete && !vm->active ? now_ns : stale;
			if (vm->active && vm->have_prev)
				upto = vm->prev_t > hopeless ? vm->prev_t : hopeless;
			vm_close(s, vm, upto);
		}
		if (vm->undefined && !vm->active && vm_usage_acc_open_minutes(vm->acc) == 0 &&
		    col_traffic_acc_open_minutes(vm->tacc) == 0) {
			vm_free(s, vm);
			continue;
		}
		s->vms[k++] = vm;
	}
	s->n_vms = k;
	if (s->sink.host_capture)
		col_traffic_acc_close_host(s->host.tacc, now_ns, emit_host_capture, s);
	if (complete)
		s->lost_since = 0;
}

int col_sampler_event(struct col_sampler *s, const struct col_event *ev)
{
	static const char *const names[] = {
	    [COL_EV_DEFINED] = "defined",     [COL_EV_UNDEFINED] = "undefined",     [COL_EV_STARTED] = "started",
	    [COL_EV_SUSPENDED] = "suspended", [COL_EV_RESUMED] = "resumed",         [COL_EV_STOPPED] = "stopped",
	    [COL_EV_SHUTDOWN] = "shutdown",   [COL_EV_PMSUSPENDED] = "pmsuspended", [COL_EV_CRASHED] = "crashed",
	    [COL_EV_CHANGED] = "changed",
	};
	struct vm *vm = vm_get(s, ev->uuid, "");
	vm->lc_known = true;
	if (ev->kind != COL_EV_CHANGED)
		s->sink.event(s->sink.arg, ev->uuid, ev->t_ns, names[ev->kind], ev->detail);
	switch (ev->kind) {
	case COL_EV_STARTED:
		if (vm->have_prev && vm->prev_id == ev->id)
			return COL_NEED_XML; /* already sampled this run */
		if (vm->active)
			vm_stop(vm);
		/* The caller samples the new run right away: that sample is
		 * its baseline, so the first interval starts at the start
		 * (give or take the event's delivery) without trusting any
		 * driver to start its counters at zero. */
		vm->have_prev = false;
		vm->start_pending = true;
		vm->running = true;
		return COL_NEED_XML | COL_NEED_SAMPLE;
	case COL_EV_STOPPED: vm_stop(vm); return COL_NEED_XML;
	case COL_EV_UNDEFINED: vm->undefined = true; return 0;
	case COL_EV_DEFINED:
	case COL_EV_CHANGED: vm->undefined = false; return COL_NEED_XML;
	default: return 0;
	}
}

/* ---------------------------------------------------------------- host */

/* The energy of the interval from p to h, into the energy minutes.  A reset
 * (collector/power.h) leaves the interval out: its minutes' coverage says
 * so. */
static void add_energy(struct host_state *hs, const struct col_host_sample *p, const struct col_host_sample *h)
{
	uint64_t d;
	char why[256];
	if (col_power_delta(&p->power, &h->power, &d, why, sizeof why) < 0) {
		vm_warn("power: %s; the energy of the %.1f s since the last sample is not counted", why,
		        (double)(h->t_ns - p->t_ns) / 1e9);
		return;
	}
	struct vm_usage_interval iv = {.t0 = p->t_ns, .t1 = h->t_ns, .have = BIT(POWER_M_ENERGY_UJ)};
	iv.value[POWER_M_ENERGY_UJ] = d;
	vm_usage_acc_add(hs->pacc, &iv);
}

void col_sampler_host(struct col_sampler *s, const struct col_host_sample *h)
{
	struct host_state *hs = &s->host;
	const char *hostname = s->conf->host_name;
	struct vm_host_info info = {0};
	snprintf(info.hostname, sizeof info.hostname, "%s", hostname);
	snprintf(info.libvirt_uri, sizeof info.libvirt_uri, "%s", s->conf->libvirt_uri);
	info.cpus = h->cpus, info.mhz = h->mhz, info.numa_nodes = h->nodes, info.sockets = h->sockets;
	info.cores = h->cores, info.threads = h->threads, info.memory_kib = h->memory_kib;
	snprintf(info.cpu_model, sizeof info.cpu_model, "%s", h->model);
	if (!hs->info_sent || memcmp(&info, &hs->info, sizeof info) != 0) {
		s->sink.host(s->sink.arg, &info, h->t_ns);
		hs->info = info;
		hs->info_sent = true;
	}

	uint64_t vms = 0, vcpus = 0, vm_mem = 0;
	for (size_t i = 0; i < s->n_vms; i++)
		if (s->vms[i]->active) {
			vms++;
			vcpus += s->vms[i]->vcpus;
			vm_mem += s->vms[i]->mem_kib;
		}

	/* After a gap longer than max-gap (the collector stopped, or the
	 * clock stepped forward) the sample is a new baseline: capacity for
	 * the whole gap would cover minutes nobody observed, and its busy time
	 * cannot be placed in any of them.  A clock that stepped back is a new
	 * baseline too. */
	int64_t mono = h->mono_ns;
	enum gap_rule rule = hs->have_prev ? gap_rule(s, hs->prev.t_ns, hs->prev_mono, h->t_ns, mono) : GAP_NONE;
	bool gap = rule == GAP_STEP || rule == GAP_LOST;
	if (gap)
		vm_info("host: %.0f s without a sample (%s): the gap is not counted as observed",
		        (double)(h->t_ns - hs->prev.t_ns) / 1e9,
		        rule == GAP_STEP ? "the clock stepped?" : "more than max-interpolate");
	if (hs->have_prev && h->t_ns > hs->prev.t_ns && !gap) {
		const struct col_host_sample *p = &hs->prev;
		struct vm_usage_interval iv = {.t0 = p->t_ns, .t1 = h->t_ns};
		iv.value[HOST_M_CPU_CAPACITY_NS] = (uint64_t)p->cpus * (uint64_t)(h->t_ns - p->t_ns);
		iv.have |= BIT(HOST_M_CPU_CAPACITY_NS);
		if (h->have_cpu && p->have_cpu) {
			uint64_t du, dk, di, dw;
			vm_counter_delta(true, p->cpu_user_ns, h->cpu_user_ns, false, &du);
			vm_counter_delta(true, p->cpu_kernel_ns, h->cpu_kernel_ns, false, &dk);
			vm_counter_delta(true, p->cpu_idle_ns, h->cpu_idle_ns, false, &di);
			vm_counter_delta(true, p->cpu_iowait_ns, h->cpu_iowait_ns, false, &dw);
			iv.value[HOST_M_CPU_BUSY_NS] = du + dk;
			iv.value[HOST_M_CPU_USER_NS] = du;
			iv.value[HOST_M_CPU_SYSTEM_NS] = dk;
			iv.value[HOST_M_CPU_IDLE_NS] = di;
			iv.value[HOST_M_CPU_IOWAIT_NS] = dw;
			iv.have |= BIT(HOST_M_CPU_BUSY_NS) | BIT(HOST_M_CPU_USER_NS) | BIT(HOST_M_CPU_SYSTEM_NS) |
			           BIT(HOST_M_CPU_IDLE_NS) | BIT(HOST_M_CPU_IOWAIT_NS);
		}
		iv.value[HOST_M_CPUS] = p->cpus, iv.have |= BIT(HOST_M_CPUS);
		if (p->have_mem) {
			iv.value[HOST_M_MEM_TOTAL_KIB] = p->mem_total_kib;
			iv.value[HOST_M_MEM_FREE_KIB] = p->mem_free_kib;
			iv.have |= BIT(HOST_M_MEM_TOTAL_KIB) | BIT(HOST_M_MEM_FREE_KIB);
			if (p->mem_cached_kib)
				iv.value[HOST_M_MEM_CACHED_KIB] = p->mem_cached_kib,
				iv.have |= BIT(HOST_M_MEM_CACHED_KIB);
		}
		iv.value[HOST_M_VMS_RUNNING] = hs->prev_vms;
		iv.value[HOST_M_VCPUS_RUNNING] = hs->prev_vcpus;
		iv.value[HOST_M_VM_MEM_KIB] = hs->prev_vm_mem;
		iv.have |= BIT(HOST_M_VMS_RUNNING) | BIT(HOST_M_VCPUS_RUNNING) | BIT(HOST_M_VM_MEM_KIB);
		vm_usage_acc_add(hs->acc, &iv);
		for (size_t i = 0; i < HOST_M_CPUS; i++)
			if (iv.have & BIT(i))
				hs->cum[i] += iv.value[i];
		if (p->have_power && h->have_power)
			add_energy(hs, p, h);
	}
	hs->prev = *h;
	hs->prev_mono = mono;
	hs->have_prev = true;
	hs->prev_vms = vms, hs->prev_vcpus = vcpus, hs->prev_vm_mem = vm_mem;

	if (s->rrd) {
		uint64_t values[VM_USAGE_MAX_METERS] = {0};
		uint64_t have = 0;
		for (size_t i = 0; i < HOST_M_CPUS; i++)
			values[i] = hs->cum[i], have |= BIT(i);
		values[HOST_M_CPUS] = h->cpus, have |= BIT(HOST_M_CPUS);
		if (h->have_mem) {
			values[HOST_M_MEM_TOTAL_KIB] = h->mem_total_kib;
			values[HOST_M_MEM_FREE_KIB] = h->mem_free_kib;
			values[HOST_M_MEM_CACHED_KIB] = h->mem_cached_kib;
			have |= BIT(HOST_M_MEM_TOTAL_KIB) | BIT(HOST_M_MEM_FREE_KIB) | BIT(HOST_M_MEM_CACHED_KIB);
		}
		values[HOST_M_VMS_RUNNING] = vms, values[HOST_M_VCPUS_RUNNING] = vcpus,
		values[HOST_M_VM_MEM_KIB] = vm_mem;
		have |= BIT(HOST_M_VMS_RUNNING) | BIT(HOST_M_VCPUS_RUNNING) | BIT(HOST_M_VM_MEM_KIB);
		char name[300];
		snprintf(name, sizeof name, "host-%s", hostname);
		vm_rrd_update(s->rrd, name, vm_usage_host_meters(), h->t_ns, have, values);
	}
	struct emit e = {s, NULL, NULL};
	vm_usage_acc_close(hs->acc, h->t_ns, emit_row, &e);
	vm_usage_acc_close(hs->pacc, h->t_ns, emit_row, &e);
}

/* ---------------------------------------------------------------- capture */

void col_sampler_set_capture(struct col_sampler *s, bool on)
{
	s->capture_on = on;
}

static uint64_t ifs_digest(const struct col_capture_iface *ifs, size_t n)
{
	uint64_t h = UINT64_C(1469598103934665603);
	for (size_t i = 0; i < n; i++)
		h = fnv_str(fnv(h, &ifs[i].slot, sizeof ifs[i].slot), ifs[i].name);
	return fnv(h, &n, sizeof n);
}

bool col_sampler_capture_ifaces(struct col_sampler *s, int64_t now_ns, const struct col_capture_iface **ifs, size_t *n)
{
	size_t k = 0;
	for (size_t i = 0; i < s->n_vms; i++) {
		struct vm *vm = s->vms[i];
		bool member = false;
		for (size_t d = 0; (vm->active || vm->running) && vm->slot != NO_SLOT && d < vm->devs.n_nics; d++) {
			const char *name = vm->devs.nics[d];
			/* A NIC without a <target dev> (an inactive definition,
			 * a test driver domain) has nothing to capture on. */
			if (!name[0] || strlen(name) >= IF_NAMESIZE || k >= COL_CAPTURE_MAX_IFACES)
				continue;
			s->ifs = vm_xgrow(s->ifs, &s->cap_ifs, k + 1, sizeof *s->ifs);
			s->ifs[k].slot = vm->slot;
			snprintf(s->ifs[k].name, sizeof s->ifs[k].name, "%s", name);
			k++;
			member = true;
		}
		if (member && !vm->in_set)
			vm->set_since = now_ns;
		vm->in_set = member;
	}
	s->n_ifs = k;
	*ifs = s->ifs;
	*n = k;
	uint64_t digest = ifs_digest(s->ifs, k);
	bool changed = !s->ifs_sent || digest != s->ifs_digest;
	s->ifs_digest = digest;
	s->ifs_sent = true;
	return changed;
}

static struct class_cum *class_cum_get(struct vm *vm, const char *name)
{
	for (size_t i = 0; i < vm->n_tcum; i++)
		if (strcmp(vm->tcum[i].name, name) == 0)
			return &vm->tcum[i];
	vm->tcum = vm_xrealloc(vm->tcum, (vm->n_tcum + 1) * sizeof *vm->tcum);
	struct class_cum *c = &vm->tcum[vm->n_tcum++];
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	return c;
}

static void rrd_write_traffic(struct col_sampler *s, struct vm *vm, int64_t t)
{
	if (!s->rrd)
		return;
	for (size_t i = 0; i < vm->n_tcum; i++) {
		char name[128];
		snprintf(name, sizeof name, "vm-%s-traffic-%s", vm->uuid, vm->tcum[i].name);
		vm_rrd_update(s->rrd, name, vm_usage_traffic_meters(), t, 0xf, vm->tcum[i].v);
	}
}

void col_sampler_capture(struct col_sampler *s, const struct col_capture_interval *iv,
                         const struct col_capture_ifstate *st, size_t n_st)
{
	int64_t from = iv->from_ns, to = iv->to_ns;
	for (size_t i = 0; i < s->n_vms; i++)
		s->vms[i]->resolved = false;
	for (size_t i = 0; i < n_st; i++)
		if (st[i].ifindex && st[i].slot < s->n_slots && s->slot_vm[st[i].slot])
			s->slot_vm[st[i].slot]->resolved = true;
	for (size_t i = 0; i < iv->n_cells; i++) {
		const struct col_capture_cell *c = &iv->cells[i];
		struct vm *vm = c->slot < s->n_slots ? s->slot_vm[c->slot] : NULL;
		if (!vm) {
			/* A VM that went away (its minutes are out) after the
			 * worker took these under the old set. */
			s->orphan_bytes += c->bytes;
			vm_debug("capture: %llu bytes of freed slot %u dropped", (unsigned long long)c->bytes,
			         (unsigned)c->slot);
			continue;
		}
		col_traffic_acc_add(vm->tacc, from, to, c->class_name, c->dir, c->bytes, c->packets);
		struct class_cum *cum = class_cum_get(vm, c->class_name);
		cum->v[c->dir == VM_PKT_RX ? 0 : 1] += c->bytes;
		cum->v[c->dir == VM_PKT_RX ? 2 : 3] += c->packets;
	}
	if (to > from) {
		for (size_t i = 0; i < s->n_vms; i++) {
			struct vm *vm = s->vms[i];
			/* Captured: in the set (since when it joined) on an
			 * interface the worker found, less the time no worker
			 * ran, spread evenly (when in the interval it was is
			 * not known). */
			if (vm->in_set && vm->resolved && vm->set_since < to) {
				int64_t a = vm->set_since > from ? vm->set_since : from;
				uint64_t unc = vm_usage_share((uint64_t)iv->uncovered_ns, from, to, a, to);
				uint64_t len = (uint64_t)(to - a);
				col_traffic_acc_cover(vm->tacc, a, to, len > unc ? len - unc : 0);
			}
			if (vm->in_set || vm->n_tcum)
				rrd_write_traffic(s, vm, to);
		}
		col_traffic_acc_add_host(s->host.tacc, from, to, iv->stats.frames, iv->stats.ps_drop,
		                         iv->stats.ps_ifdrop, (uint64_t)iv->uncovered_ns);
	}
	s->flushes++;
	slots_unhold(s);
}

/* ---------------------------------------------------------------- commits, resume */

void col_sampler_committed(struct col_sampler *s, bool ok)
{
	for (size_t i = 0; i < s->n_vms; i++) {
		struct vm *vm = s->vms[i];
		if (!vm->inv_unconfirmed)
			continue;
		vm->inv_unconfirmed = false;
		if (!ok) {
			vm->inv_digest = 0;
			vm->inv_retry = true;
		}
	}
}

/* 2: the host's energy at the end (save_power()); a state of version 1,
 * saved before, loads without it. */
#define SAVE_VERSION 2
/* Bounds for a saved state read back: a minute of a VM is open for as long
 * as max-interpolate at most (7 days); more is damage. */
#define SAVE_MAX_VMS 1000000
#define SAVE_MAX_OPEN (7 * 1440 + 2)

enum { SF_HAVE_PREV = 1, SF_FROM_START = 2, SF_ACTIVE = 4, SF_RUNNING = 8, SF_UNDEFINED = 16 };

static void save_devs(struct vm_binw *w, const struct dev_prev *d, size_t n)
{
	vm_binw_uv(w, n);
	for (size_t i = 0; i < n; i++) {
		vm_binw_str(w, d[i].name);
		vm_binw_uv(w, d[i].have);
		for (int f = 0; f < 10; f++)
			if (d[i].have & (1u << f))
				vm_binw_uv(w, d[i].v[f]);
		vm_binw_u8(w, d[i].current);
		vm_binw_uv(w, d[i].missed);
	}
}

static struct dev_prev *load_devs(struct vm_binr *r, size_t *n)
{
	*n = (size_t)vm_binr_uv_max(r, COL_MAX_DEV, "devices");
	struct dev_prev *d = *n ? vm_xcalloc(*n, sizeof *d) : NULL;
	for (size_t i = 0; i < *n && vm_binr_ok(r); i++) {
		vm_binr_str(r, d[i].name, sizeof d[i].name, "device name");
		d[i].have = (uint32_t)vm_binr_uv_max(r, 0x3ff, "device fields");
		for (int f = 0; f < 10; f++)
			if (d[i].have & (1u << f))
				d[i].v[f] = vm_binr_uv(r, "device counter");
		d[i].current = vm_binr_u8(r, "device") != 0;
		d[i].missed = (unsigned)vm_binr_uv_max(r, DEV_FORGET_AFTER + 1, "device");
	}
	return d;
}

/* The energy part of the state, last. */
static void save_power(const struct host_state *hs, struct vm_binw *w)
{
	const struct col_power_sample *ps = &hs->prev.power;
	bool have = hs->have_prev && hs->prev.have_power;
	vm_binw_u8(w, have);
	if (have) {
		vm_binw_uv(w, ps->n);
		for (size_t i = 0; i < ps->n; i++) {
			vm_binw_str(w, ps->zone[i].dir);
			vm_binw_uv(w, ps->zone[i].energy_uj);
			vm_binw_uv(w, ps->zone[i].max_range_uj);
		}
	}
	vm_usage_acc_save(hs->pacc, w);
}

static void load_power(struct host_state *hs, struct vm_binr *r)
{
	struct col_power_sample *ps = &hs->prev.power;
	bool have = vm_binr_u8(r, "power") != 0;
	memset(ps, 0, sizeof *ps);
	if (have) {
		ps->n = (size_t)vm_binr_uv_max(r, COL_POWER_MAX_ZONES, "power zones");
		for (size_t i = 0; i < ps->n && vm_binr_ok(r); i++) {
			vm_binr_str(r, ps->zone[i].dir, sizeof ps->zone[i].dir, "power zone");
			ps->zone[i].energy_uj = vm_binr_uv(r, "power counter");
			ps->zone[i].max_range_uj = vm_binr_uv(r, "power range");
		}
	}
	/* Counters without the host's sample time would have no interval. */
	hs->prev.have_power = have && hs->have_prev;
	if (vm_binr_ok(r))
		vm_usage_acc_load(hs->pacc, r, SAVE_MAX_OPEN);
}

void col_sampler_save(const struct col_sampler *s, struct vm_binw *w)
{
	const struct host_state *hs = &s->host;
	vm_binw_u8(w, SAVE_VERSION);
	vm_binw_u8(w, hs->have_prev);
	if (hs->have_prev) {
		const struct col_host_sample *p = &hs->prev;
		vm_binw_sv(w, p->t_ns);
		vm_binw_sv(w, hs->prev_mono);
		vm_binw_u8(w, (uint8_t)(p->have_cpu | p->have_mem << 1));
		vm_binw_uv(w, p->cpu_user_ns);
		vm_binw_uv(w, p->cpu_kernel_ns);
		vm_binw_uv(w, p->cpu_idle_ns);
		vm_binw_uv(w, p->cpu_iowait_ns);
		vm_binw_uv(w, p->mem_total_kib);
		vm_binw_uv(w, p->mem_free_kib);
		vm_binw_uv(w, p->mem_cached_kib);
		vm_binw_uv(w, p->cpus);
		vm_binw_uv(w, hs->prev_vms);
		vm_binw_uv(w, hs->prev_vcpus);
		vm_binw_uv(w, hs->prev_vm_mem);
	}
	for (size_t i = 0; i < HOST_M_CPUS; i++)
		vm_binw_uv(w, hs->cum[i]);
	vm_usage_acc_save(hs->acc, w);
	col_traffic_acc_save(hs->tacc, w);

	size_t n = 0;
	for (size_t i = 0; i < s->n_vms; i++)
		n += s->vms[i]->have_prev || vm_usage_acc_open_minutes(s->vms[i]->acc) ||
		     col_traffic_acc_open_minutes(s->vms[i]->tacc);
	vm_binw_uv(w, n);
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct vm *vm = s->vms[i];
		if (!vm->have_prev && !vm_usage_acc_open_minutes(vm->acc) && !col_traffic_acc_open_minutes(vm->tacc))
			continue;
		vm_binw_str(w, vm->uuid);
		vm_binw_str(w, vm->name);
		vm_binw_u8(w, (uint8_t)((vm->have_prev ? SF_HAVE_PREV : 0) | (vm->from_start ? SF_FROM_START : 0) |
		                        (vm->active ? SF_ACTIVE : 0) | (vm->running ? SF_RUNNING : 0) |
		                        (vm->undefined ? SF_UNDEFINED : 0)));
		vm_binw_sv(w, vm->prev_id);
		vm_binw_sv(w, vm->prev_state);
		vm_binw_sv(w, vm->prev_t);
		vm_binw_sv(w, vm->prev_mono);
		vm_binw_uv(w, vm->prev_have);
		for (int f = 0; f < COL_VM__COUNT; f++)
			if (vm->prev_have & (1u << f))
				vm_binw_uv(w, vm->prev[f]);
		vm_binw_uv(w, vm->vcpus);
		vm_binw_uv(w, vm->mem_kib);
		save_devs(w, vm->disks, vm->n_disks);
		save_devs(w, vm->nics, vm->n_nics);
		for (size_t k = 0; k < VM_M_VCPUS; k++)
			vm_binw_uv(w, vm->cum[k]);
		vm_usage_acc_save(vm->acc, w);
		col_traffic_acc_save(vm->tacc, w);
		vm_binw_uv(w, vm->n_tcum);
		for (size_t k = 0; k < vm->n_tcum; k++) {
			vm_binw_str(w, vm->tcum[k].name);
			for (int j = 0; j < 4; j++)
				vm_binw_uv(w, vm->tcum[k].v[j]);
		}
	}
	save_power(hs, w);
}

static int load_vm(struct col_sampler *s, struct vm_binr *r)
{
	char uuid[37], name[256];
	vm_binr_str(r, uuid, sizeof uuid, "vm uuid");
	vm_binr_str(r, name, sizeof name, "vm name");
	if (!vm_binr_ok(r) || strlen(uuid) != 36 || vm_find(s, uuid)) {
		vm_binr_fail(r, "vm uuid");
		return -1;
	}
	struct vm *vm = vm_get(s, uuid, name);
	uint8_t f = vm_binr_u8(r, "vm flags");
	vm->have_prev = f & SF_HAVE_PREV;
	vm->from_start = f & SF_FROM_START;
	vm->active = f & SF_ACTIVE;
	vm->running = f & SF_RUNNING;
	vm->undefined = f & SF_UNDEFINED;
	vm->prev_id = (int)vm_binr_sv(r, "vm id");
	vm->prev_state = (int)vm_binr_sv(r, "vm state");
	vm->prev_t = vm_binr_sv(r, "vm sample time");
	vm->prev_mono = vm_binr_sv(r, "vm sample time");
	vm->prev_have = (uint32_t)vm_binr_uv_max(r, (UINT64_C(1) << COL_VM__COUNT) - 1, "vm fields");
	for (int k = 0; k < COL_VM__COUNT; k++)
		if (vm->prev_have & (1u << k))
			vm->prev[k] = vm_binr_uv(r, "vm counter");
	vm->vcpus = (unsigned)vm_binr_uv_max(r, UINT32_MAX, "vm vcpus");
	vm->mem_kib = vm_binr_uv(r, "vm memory");
	vm->disks = load_devs(r, &vm->n_disks);
	vm->nics = load_devs(r, &vm->n_nics);
	for (size_t k = 0; k < VM_M_VCPUS; k++)
		vm->cum[k] = vm_binr_uv(r, "vm sums");
	if (vm_binr_ok(r))
		vm_usage_acc_load(vm->acc, r, SAVE_MAX_OPEN);
	if (vm_binr_ok(r))
		col_traffic_acc_load(vm->tacc, r, SAVE_MAX_OPEN);
	size_t nt = (size_t)vm_binr_uv_max(r, VM_RECORD_TRAFFIC_MAX_CLASSES, "traffic sums");
	for (size_t k = 0; k < nt && vm_binr_ok(r); k++) {
		char cname[VM_NETCLASS_NAME_MAX + 1];
		vm_binr_str(r, cname, sizeof cname, "traffic class");
		struct class_cum *c = class_cum_get(vm, cname);
		for (int j = 0; j < 4; j++)
			c->v[j] = vm_binr_uv(r, "traffic sums");
	}
	vm->resumed = vm->have_prev;
	return vm_binr_ok(r) ? 0 : -1;
}

int col_sampler_resume(struct col_sampler *s, const void *buf, size_t len, char *err, size_t errsize)
{
	struct vm_binr r;
	vm_binr_init(&r, buf, len);
	if (s->n_vms || s->host.have_prev) {
		snprintf(err, errsize, "the sampler has state already");
		return -1;
	}
	uint8_t version = vm_binr_u8(&r, "version");
	if (version != SAVE_VERSION && version != 1) {
		snprintf(err, errsize, "unknown state version");
		return -1;
	}
	struct host_state *hs = &s->host;
	hs->have_prev = vm_binr_u8(&r, "host") != 0;
	if (hs->have_prev) {
		struct col_host_sample *p = &hs->prev;
		p->t_ns = vm_binr_sv(&r, "host sample time");
		hs->prev_mono = vm_binr_sv(&r, "host sample time");
		uint8_t f = vm_binr_u8(&r, "host flags");
		p->have_cpu = f & 1, p->have_mem = (f >> 1) & 1;
		p->cpu_user_ns = vm_binr_uv(&r, "host counters");
		p->cpu_kernel_ns = vm_binr_uv(&r, "host counters");
		p->cpu_idle_ns = vm_binr_uv(&r, "host counters");
		p->cpu_iowait_ns = vm_binr_uv(&r, "host counters");
		p->mem_total_kib = vm_binr_uv(&r, "host memory");
		p->mem_free_kib = vm_binr_uv(&r, "host memory");
		p->mem_cached_kib = vm_binr_uv(&r, "host memory");
		p->cpus = (unsigned)vm_binr_uv_max(&r, UINT32_MAX, "host cpus");
		hs->prev_vms = vm_binr_uv(&r, "host gauges");
		hs->prev_vcpus = vm_binr_uv(&r, "host gauges");
		hs->prev_vm_mem = vm_binr_uv(&r, "host gauges");
	}
	for (size_t i = 0; i < HOST_M_CPUS; i++)
		hs->cum[i] = vm_binr_uv(&r, "host sums");
	if (vm_binr_ok(&r))
		vm_usage_acc_load(hs->acc, &r, SAVE_MAX_OPEN);
	if (vm_binr_ok(&r))
		col_traffic_acc_load(hs->tacc, &r, SAVE_MAX_OPEN);
	size_t n = (size_t)vm_binr_uv_max(&r, SAVE_MAX_VMS, "vm count");
	for (size_t i = 0; i < n && vm_binr_ok(&r); i++)
		load_vm(s, &r);
	if (vm_binr_ok(&r) && version >= 2)
		load_power(hs, &r);
	if (!vm_binr_done(&r)) {
		snprintf(err, errsize, "saved state damaged at byte %zu (%s)", r.off,
		         r.what ? r.what : "trailing bytes");
		/* Nothing half-loaded stays: a fresh start. */
		while (s->n_vms)
			vm_free(s, s->vms[--s->n_vms]);
		vm_usage_acc_free(hs->acc);
		vm_usage_acc_free(hs->pacc);
		col_traffic_acc_free(hs->tacc);
		memset(hs, 0, sizeof *hs);
		hs->acc = vm_usage_acc_new(vm_usage_host_meters());
		hs->pacc = vm_usage_acc_new(vm_usage_power_meters());
		hs->tacc = col_traffic_acc_new();
		return -1;
	}
	s->resumed_vms = n;
	return 0;
}

void col_sampler_state_lost(struct col_sampler *s, int64_t since_ns, const char *why)
{
	s->lost_since = since_ns;
	snprintf(s->lost_why, sizeof s->lost_why, "%s", why);
}
