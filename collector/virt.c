#include "config.h"

#include "virt.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fanout.h"
#include "log.h"
#include "virtevent.h"
#include "vtime.h"
#include "xalloc.h"

/* The groups vmeter uses, in the order they are probed and named in logs. */
static const struct {
	unsigned bit;
	const char *name;
} groups[] = {
    {VIR_DOMAIN_STATS_STATE, "state"}, {VIR_DOMAIN_STATS_CPU_TOTAL, "cpu-total"}, {VIR_DOMAIN_STATS_BALLOON, "balloon"},
    {VIR_DOMAIN_STATS_VCPU, "vcpu"},   {VIR_DOMAIN_STATS_INTERFACE, "interface"}, {VIR_DOMAIN_STATS_BLOCK, "block"},
};

struct col_virt {
	char *uri;
	int reconnect_max_s;
	virConnectPtr conn;
	atomic_int dead; /* set by libvirt's close callback */
	int callbacks[4];
	unsigned bulk_groups; /* groups the driver gives in bulk */
	unsigned bulk_flags;
	int64_t next_try_ns;
	int backoff_s;
	struct vm_log_once down;

	col_event_cb wake;
	void *wake_arg;
	pthread_mutex_t lock; /* protects the event queue */
	struct col_event *events;
	size_t n_events, cap_events;

	char **unknown; /* stat field names already logged as unknown */
	size_t n_unknown, cap_unknown;
	bool warned_host_mem;
	/* The per-domain fallback runs on the fanout's workers (several
	 * domains' calls in flight at once): what it shares across domains
	 * is atomic.  blockinfo_due is set before a pass and only read in it. */
	struct col_fanout *fanout;
	unsigned threads;
	atomic_bool no_typed_block; /* the driver lacks virDomainBlockStatsFlags */
	atomic_bool no_cpu_stats;   /* the driver lacks virDomainGetCPUStats */
	atomic_bool no_mem_stats;   /* the driver lacks virDomainMemoryStats */
	atomic_uint_least64_t calls, calls_saved;
	bool blockinfo_due;  /* this pass reads disk capacity and allocation */
	int64_t slow_minute; /* UTC minute whose first pass read COL_SLOW_GROUPS */
	int64_t next_blockinfo_ns;
	char *xml; /* the domain XML last read, lent as col_domain.xml */
};

static void silent_error(void *arg, virErrorPtr err)
{
	(void)arg, (void)err;
}

struct col_virt *col_virt_new(const char *uri, int reconnect_max_s, unsigned threads, struct event_base *base,
                              col_event_cb wake, void *wake_arg)
{
	struct col_virt *v = vm_xcalloc(1, sizeof *v);
	v->uri = vm_xstrdup(uri);
	v->reconnect_max_s = reconnect_max_s;
	v->threads = threads;
	v->fanout = col_fanout_new(threads);
	v->wake = wake;
	v->wake_arg = wake_arg;
	pthread_mutex_init(&v->lock, NULL);
	for (size_t i = 0; i < 4; i++)
		v->callbacks[i] = -1;
	virInitialize();
	virSetErrorFunc(NULL, silent_error);
	if (col_virtevent_register(base) < 0)
		vm_fatal("libvirt's event loop is on another event base");
	return v;
}

static void disconnect(struct col_virt *v)
{
	if (!v->conn)
		return;
	for (size_t i = 0; i < 4; i++) {
		if (v->callbacks[i] >= 0)
			virConnectDomainEventDeregisterAny(v->conn, v->callbacks[i]);
		v->callbacks[i] = -1;
	}
	virConnectUnregisterCloseCallback(v->conn, NULL);
	virConnectClose(v->conn);
	v->conn = NULL;
}

void col_virt_free(struct col_virt *v)
{
	if (!v)
		return;
	disconnect(v);
	col_fanout_free(v->fanout);
	pthread_mutex_destroy(&v->lock);
	for (size_t i = 0; i < v->n_unknown; i++)
		free(v->unknown[i]);
	free(v->unknown);
	free(v->events);
	free(v->xml);
	free(v->uri);
	free(v);
}

void col_virt_set_uri(struct col_virt *v, const char *uri)
{
	if (strcmp(uri, v->uri) == 0)
		return;
	vm_notice("libvirt uri changed from '%s' to '%s': reconnecting", v->uri, uri);
	free(v->uri);
	v->uri = vm_xstrdup(uri);
	disconnect(v);
	v->next_try_ns = 0;
}

void col_virt_set_threads(struct col_virt *v, unsigned threads)
{
	if (threads == v->threads)
		return;
	col_fanout_free(v->fanout);
	v->threads = threads;
	v->fanout = col_fanout_new(threads);
}

const char *col_virt_uri(const struct col_virt *v)
{
	return v->uri;
}

size_t col_virt_unknown_fields(const struct col_virt *v)
{
	return v->n_unknown;
}

static void queue_event(struct col_virt *v, virDomainPtr dom, enum col_event_kind kind, const char *detail)
{
	struct col_event ev = {.t_ns = vm_now_ns(), .kind = kind};
	if (virDomainGetUUIDString(dom, ev.uuid) < 0)
		return;
	ev.id = (int)virDomainGetID(dom);
	snprintf(ev.detail, sizeof ev.detail, "%s", detail);
	pthread_mutex_lock(&v->lock);
	v->events = vm_xgrow(v->events, &v->cap_events, v->n_events + 1, sizeof *v->events);
	v->events[v->n_events++] = ev;
	pthread_mutex_unlock(&v->lock);
	if (v->wake)
		v->wake(v->wake_arg);
}

static const char *stopped_detail(int d)
{
	switch (d) {
	case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: return "shutdown";
	case VIR_DOMAIN_EVENT_STOPPED_DESTROYED: return "destroyed";
	case VIR_DOMAIN_EVENT_STOPPED_CRASHED: return "crashed";
	case VIR_DOMAIN_EVENT_STOPPED_MIGRATED: return "migrated";
	case VIR_DOMAIN_EVENT_STOPPED_SAVED: return "saved";
	case VIR_DOMAIN_EVENT_STOPPED_FAILED: return "failed";
	case VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT: return "from-snapshot";
	default: return "";
	}
}

static const char *started_detail(int d)
{
	switch (d) {
	case VIR_DOMAIN_EVENT_STARTED_BOOTED: return "booted";
	case VIR_DOMAIN_EVENT_STARTED_MIGRATED: return "migrated";
	case VIR_DOMAIN_EVENT_STARTED_RESTORED: return "restored";
	case VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT: return "from-snapshot";
	case VIR_DOMAIN_EVENT_STARTED_WAKEUP: return "wakeup";
	default: return "";
	}
}

static const char *suspended_detail(int d)
{
	switch (d) {
	case VIR_DOMAIN_EVENT_SUSPENDED_PAUSED: return "paused";
	case VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED: return "migrated";
	case VIR_DOMAIN_EVENT_SUSPENDED_IOERROR: return "ioerror";
	case VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG: return "watchdog";
	case VIR_DOMAIN_EVENT_SUSPENDED_RESTORED: return "restored";
	case VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT: return "from-snapshot";
	case VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR: return "api-error";
	case VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY: return "postcopy";
	case VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED: return "postcopy-failed";
	default: return "";
	}
}

/* QEMU starts a guest paused and resumes it, so a boot gives "resumed:
 * unpaused" just before "started": the detail lets billing tell it apart. */
static const char *resumed_detail(int d)
{
	switch (d) {
	case VIR_DOMAIN_EVENT_RESUMED_UNPAUSED: return "unpaused";
	case VIR_DOMAIN_EVENT_RESUMED_MIGRATED: return "migrated";
	case VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT: return "from-snapshot";
	case VIR_DOMAIN_EVENT_RESUMED_POSTCOPY: return "postcopy";
	case VIR_DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED: return "postcopy-failed";
	default: return "";
	}
}

static int lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *arg)
{
	struct col_virt *v = arg;
	(void)conn;
	switch (event) {
	case VIR_DOMAIN_EVENT_DEFINED: queue_event(v, dom, COL_EV_DEFINED, detail ? "updated" : "added"); break;
	case VIR_DOMAIN_EVENT_UNDEFINED: queue_event(v, dom, COL_EV_UNDEFINED, ""); break;
	case VIR_DOMAIN_EVENT_STARTED: queue_event(v, dom, COL_EV_STARTED, started_detail(detail)); break;
	case VIR_DOMAIN_EVENT_SUSPENDED: queue_event(v, dom, COL_EV_SUSPENDED, suspended_detail(detail)); break;
	case VIR_DOMAIN_EVENT_RESUMED: queue_event(v, dom, COL_EV_RESUMED, resumed_detail(detail)); break;
	case VIR_DOMAIN_EVENT_STOPPED: queue_event(v, dom, COL_EV_STOPPED, stopped_detail(detail)); break;
	case VIR_DOMAIN_EVENT_SHUTDOWN: queue_event(v, dom, COL_EV_SHUTDOWN, ""); break;
	case VIR_DOMAIN_EVENT_PMSUSPENDED: queue_event(v, dom, COL_EV_PMSUSPENDED, ""); break;
	case VIR_DOMAIN_EVENT_CRASHED: queue_event(v, dom, COL_EV_CRASHED, ""); break;
	default: break;
	}
	return 0;
}

static void device_cb(virConnectPtr conn, virDomainPtr dom, const char *alias, void *arg)
{
	(void)conn;
	queue_event(arg, dom, COL_EV_CHANGED, "device");
	(void)alias;
}

static void metadata_cb(virConnectPtr conn, virDomainPtr dom, int type, const char *nsuri, void *arg)
{
	(void)conn, (void)type, (void)nsuri;
	queue_event(arg, dom, COL_EV_CHANGED, "metadata");
}

static void close_cb(virConnectPtr conn, int reason, void *arg)
{
	struct col_virt *v = arg;
	(void)conn, (void)reason;
	atomic_store(&v->dead, 1);
	if (v->wake)
		v->wake(v->wake_arg);
}

/* Which groups does this driver give in bulk?  Asked once per connection,
 * with ENFORCE so that a missing group is an error rather than silence. */
static void probe_groups(struct col_virt *v)
{
	v->bulk_groups = 0;
	v->bulk_flags = VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE | VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT;
	virDomainStatsRecordPtr *recs = NULL;
	if (virConnectGetAllDomainStats(v->conn, VIR_DOMAIN_STATS_STATE, &recs, v->bulk_flags) < 0) {
		/* Drivers that predate NOWAIT reject the flag. */
		v->bulk_flags = VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE;
	} else {
		virDomainStatsRecordListFree(recs);
		recs = NULL;
	}
	for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
		int n = virConnectGetAllDomainStats(v->conn, groups[i].bit, &recs,
		                                    v->bulk_flags | VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS);
		if (n >= 0) {
			v->bulk_groups |= groups[i].bit;
			virDomainStatsRecordListFree(recs);
			recs = NULL;
		} else {
			vm_notice("libvirt '%s' does not give the '%s' group in bulk stats (%s): sampling it with "
			          "per-domain calls",
			          v->uri, groups[i].name, virGetLastErrorMessage());
		}
	}
}

bool col_virt_ensure(struct col_virt *v, bool *fresh)
{
	*fresh = false;
	if (v->conn && atomic_load(&v->dead)) {
		vm_log_once_fail(&v->down, "libvirt connection to '%s' lost: reconnecting with back-off", v->uri);
		disconnect(v);
	}
	if (v->conn)
		return true;
	int64_t now = vm_monotonic_ns();
	if (now < v->next_try_ns)
		return false;
	atomic_store(&v->dead, 0);
	v->conn = virConnectOpenReadOnly(v->uri);
	if (!v->conn) {
		vm_log_once_fail(&v->down, "cannot connect to libvirt '%s': %s (retrying with back-off)", v->uri,
		                 virGetLastErrorMessage());
		v->backoff_s = v->backoff_s ? v->backoff_s * 2 : 1;
		if (v->backoff_s > v->reconnect_max_s)
			v->backoff_s = v->reconnect_max_s;
		v->next_try_ns = now + v->backoff_s * VM_NS_PER_SEC;
		return false;
	}
	v->backoff_s = 0;
	vm_log_once_ok(&v->down, "libvirt connection");
	if (virConnectRegisterCloseCallback(v->conn, close_cb, v, NULL) < 0)
		vm_warn("libvirt '%s': cannot watch the connection: %s", v->uri, virGetLastErrorMessage());
	v->callbacks[0] = virConnectDomainEventRegisterAny(v->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
	                                                   VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), v, NULL);
	v->callbacks[1] = virConnectDomainEventRegisterAny(v->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
	                                                   VIR_DOMAIN_EVENT_CALLBACK(device_cb), v, NULL);
	v->callbacks[2] = virConnectDomainEventRegisterAny(v->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
	                                                   VIR_DOMAIN_EVENT_CALLBACK(device_cb), v, NULL);
	v->callbacks[3] = virConnectDomainEventRegisterAny(v->conn, NULL, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
	                                                   VIR_DOMAIN_EVENT_CALLBACK(metadata_cb), v, NULL);
	if (v->callbacks[0] < 0)
		vm_warn("libvirt '%s': no lifecycle events (%s): relying on the periodic re-list", v->uri,
		        virGetLastErrorMessage());
	probe_groups(v);
	v->no_typed_block = false;
	v->no_cpu_stats = false;
	v->no_mem_stats = false;
	v->next_blockinfo_ns = 0;
	vm_info("connected to libvirt '%s'", v->uri);
	*fresh = true;
	return true;
}

size_t col_virt_events(struct col_virt *v, struct col_event **out)
{
	pthread_mutex_lock(&v->lock);
	size_t n = v->n_events;
	*out = v->events;
	v->events = NULL;
	v->n_events = v->cap_events = 0;
	pthread_mutex_unlock(&v->lock);
	return n;
}

/* A failed call on a dead connection: make the next ensure() reconnect. */
static void check_conn(struct col_virt *v)
{
	if (v->conn && virConnectIsAlive(v->conn) != 1)
		atomic_store(&v->dead, 1);
}

/* Reads and parses one domain's XML into *out; *xml_out gets the XML
 * (out->xml points into it; the caller frees it), NULL if none.  Safe on
 * any thread: libxml2 is set up before threads exist (collector/main.c). */
static int domain_read(virDomainPtr dom, struct col_domain *out, char **xml_out)
{
	memset(out, 0, sizeof *out);
	*xml_out = NULL;
	char *xml = virDomainGetXMLDesc(dom, 0);
	if (!xml)
		return -1;
	char err[256];
	int rc = vm_domxml_parse(xml, strlen(xml), &out->inv, err, sizeof err, out->owner_err, sizeof out->owner_err);
	if (rc < 0) {
		char uuid[VIR_UUID_STRING_BUFLEN] = "";
		virDomainGetUUIDString(dom, uuid);
		vm_warn("vm %s: cannot read its domain XML: %s", uuid, err);
		free(xml);
	} else {
		*xml_out = xml;
		out->xml = xml;
		out->xml_len = strlen(xml);
	}
	/* Running is what virDomainIsActive() would say (libvirt's test of
	 * the definition's id), as of the XML: its id attribute, there only
	 * while running.  A round trip a domain fewer at each refresh. */
	out->active = rc == 0 && out->inv.id >= 0;
	return rc;
}

/* One domain of a listing between its calls (a worker) and the callback. */
struct list_slot {
	struct col_domain d;
	char *xml;
	int rc;
};

struct listing {
	virDomainPtr *doms;
	struct list_slot *slots;
	size_t window;
	col_domain_cb cb;
	void *arg;
	int k;
};

static void list_work(size_t i, void *arg)
{
	struct listing *l = arg;
	struct list_slot *sl = &l->slots[i % l->window];
	sl->rc = domain_read(l->doms[i], &sl->d, &sl->xml);
}

static void list_consume(size_t i, void *arg)
{
	struct listing *l = arg;
	struct list_slot *sl = &l->slots[i % l->window];
	/* A domain that vanished between list and XML, or whose XML is
	 * bad, is left out; the next refresh tries again. */
	if (sl->rc == 0) {
		l->cb(&sl->d, l->arg);
		l->k++;
	}
	free(sl->xml);
	sl->xml = NULL;
	virDomainFree(l->doms[i]);
}

int col_virt_list(struct col_virt *v, col_domain_cb cb, void *arg)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(v->conn, &doms, 0);
	if (n < 0) {
		vm_warn("libvirt '%s': cannot list domains: %s", v->uri, virGetLastErrorMessage());
		check_conn(v);
		return -1;
	}
	/* Two calls a domain, each a round trip, and a parse: on the workers
	 * too (the slots are ~40 KB each, for the refresh only). */
	struct listing l = {.doms = doms, .window = col_fanout_window(v->fanout), .cb = cb, .arg = arg};
	l.slots = vm_xmalloc(l.window * sizeof *l.slots);
	struct col_fanout_job job = {NULL, list_work, list_consume, &l};
	col_fanout_run(v->fanout, (size_t)n, &job);
	free(l.slots);
	free(doms);
	return l.k;
}

int col_virt_domain(struct col_virt *v, const char *uuid, struct col_domain *out)
{
	virDomainPtr dom = virDomainLookupByUUIDString(v->conn, uuid);
	if (!dom) {
		check_conn(v);
		return -1;
	}
	/* The previous domain's XML was lent until this call. */
	free(v->xml);
	int rc = domain_read(dom, out, &v->xml);
	virDomainFree(dom);
	return rc;
}

/* ---------------------------------------------------------------- samples */

static bool param_u64(const virTypedParameter *p, uint64_t *out)
{
	switch (p->type) {
	case VIR_TYPED_PARAM_INT: *out = p->value.i < 0 ? 0 : (uint64_t)p->value.i; return true;
	case VIR_TYPED_PARAM_UINT: *out = p->value.ui; return true;
	case VIR_TYPED_PARAM_LLONG: *out = p->value.l < 0 ? 0 : (uint64_t)p->value.l; return true;
	case VIR_TYPED_PARAM_ULLONG: *out = p->value.ul; return true;
	default: return false;
	}
}

static void note_unknown(struct col_virt *v, const char *field)
{
	for (size_t i = 0; i < v->n_unknown; i++)
		if (strcmp(v->unknown[i], field) == 0)
			return;
	if (v->n_unknown >= 256) /* bound the memory an odd driver can make us use */
		return;
	v->unknown = vm_xgrow(v->unknown, &v->cap_unknown, v->n_unknown + 1, sizeof *v->unknown);
	v->unknown[v->n_unknown++] = vm_xstrdup(field);
	vm_info("libvirt '%s': ignoring stat field '%s' (not used by this vmeter)", v->uri, field);
}

/* Splits "block.3.rd.bytes" into index 3 and "rd.bytes". */
static bool indexed(const char *name, const char *prefix, unsigned *idx, const char **rest)
{
	size_t n = strlen(prefix);
	if (strncmp(name, prefix, n) != 0)
		return false;
	char *end;
	unsigned long i = strtoul(name + n, &end, 10);
	if (end == name + n || *end != '.' || i >= COL_MAX_DEV)
		return false;
	*idx = (unsigned)i;
	*rest = end + 1;
	return true;
}

static const struct {
	const char *name;
	int field;
} vm_fields[] =
    {
        {"cpu.time", COL_CPU_NS},
        {"cpu.user", COL_CPU_USER_NS},
        {"cpu.system", COL_CPU_SYSTEM_NS},
        {"balloon.current", COL_BALLOON_KIB},
        {"balloon.maximum", COL_BALLOON_MAX_KIB},
        {"balloon.rss", COL_RSS_KIB},
        {"balloon.usable", COL_USABLE_KIB},
        {"balloon.available", COL_AVAILABLE_KIB},
        {"balloon.unused", COL_UNUSED_KIB},
        {"vcpu.current", COL_VCPUS},
},
  disk_fields[] =
      {
          {"rd.bytes", COL_DISK_RD_BYTES},     {"wr.bytes", COL_DISK_WR_BYTES}, {"rd.reqs", COL_DISK_RD_REQS},
          {"wr.reqs", COL_DISK_WR_REQS},       {"rd.times", COL_DISK_RD_NS},    {"wr.times", COL_DISK_WR_NS},
          {"fl.reqs", COL_DISK_FL_REQS},       {"fl.times", COL_DISK_FL_NS},    {"capacity", COL_DISK_CAPACITY},
          {"allocation", COL_DISK_ALLOCATION},
},
  net_fields[] = {
      {"rx.bytes", COL_NET_RX_BYTES}, {"tx.bytes", COL_NET_TX_BYTES}, {"rx.pkts", COL_NET_RX_PKTS},
      {"tx.pkts", COL_NET_TX_PKTS},   {"rx.errs", COL_NET_RX_ERRS},   {"tx.errs", COL_NET_TX_ERRS},
      {"rx.drop", COL_NET_RX_DROP},   {"tx.drop", COL_NET_TX_DROP},
};

/* Fields libvirt documents that vmeter knowingly does not use. */
static const char *const ignored_prefixes[] = {
    "state.reason",        "cpu.haltpoll.",       "cpu.cache.",          "balloon.swap_",
    "balloon.major_fault", "balloon.minor_fault", "balloon.last-update", "balloon.disk_caches",
    "balloon.hugetlb_",    "vcpu.maximum",        "block.count",         "net.count",
};

static void dev_set(struct col_dev_sample *devs, size_t *n, unsigned idx, const char *rest, const virTypedParameter *p,
                    const __typeof__(disk_fields[0]) *fields, size_t nfields, bool *known)
{
	if (idx + 1 > *n)
		*n = idx + 1;
	struct col_dev_sample *d = &devs[idx];
	if (strcmp(rest, "name") == 0) {
		if (p->type == VIR_TYPED_PARAM_STRING)
			snprintf(d->name, sizeof d->name, "%s", p->value.s);
		*known = true;
		return;
	}
	for (size_t i = 0; i < nfields; i++) {
		if (strcmp(rest, fields[i].name) == 0) {
			if (param_u64(p, &d->v[fields[i].field]))
				d->have |= 1u << fields[i].field;
			*known = true;
			return;
		}
	}
	/* backingIndex, path, physical, threshold, errors: not metered. */
	if (strcmp(rest, "backingIndex") == 0 || strcmp(rest, "path") == 0 || strcmp(rest, "physical") == 0 ||
	    strcmp(rest, "threshold") == 0 || strcmp(rest, "errors") == 0)
		*known = true;
}

void col_virt_parse_record(struct col_virt *v, const virDomainStatsRecord *rec, struct col_vm_sample *s)
{
	uint64_t vcpu_time = 0, vcpu_delay = 0, vcpu_wait = 0;
	bool have_time = false, have_delay = false, have_wait = false;
	for (int i = 0; i < rec->nparams; i++) {
		const virTypedParameter *p = &rec->params[i];
		const char *name = p->field, *rest;
		unsigned idx;
		uint64_t u;
		bool known = false;
		if (strcmp(name, "state.state") == 0) {
			if (param_u64(p, &u))
				s->state = (int)u;
			continue;
		}
		for (size_t k = 0; k < sizeof vm_fields / sizeof vm_fields[0]; k++) {
			if (strcmp(name, vm_fields[k].name) == 0) {
				if (param_u64(p, &s->v[vm_fields[k].field]))
					s->have |= 1u << vm_fields[k].field;
				known = true;
				break;
			}
		}
		if (known)
			continue;
		if (indexed(name, "vcpu.", &idx, &rest)) {
			known = true;
			if (strcmp(rest, "time") == 0 && param_u64(p, &u)) {
				vcpu_time += u, have_time = true;
			} else if (strcmp(rest, "delay") == 0 && param_u64(p, &u)) {
				vcpu_delay += u, have_delay = true;
			} else if (strcmp(rest, "wait") == 0 && param_u64(p, &u)) {
				vcpu_wait += u, have_wait = true;
			}
			/* state, halted and hypervisor-specific vcpu fields are
			 * not metered. */
		} else if (indexed(name, "block.", &idx, &rest)) {
			dev_set(s->disks, &s->n_disks, idx, rest, p, disk_fields,
			        sizeof disk_fields / sizeof disk_fields[0], &known);
		} else if (indexed(name, "net.", &idx, &rest)) {
			dev_set(s->nics, &s->n_nics, idx, rest, p, net_fields, sizeof net_fields / sizeof net_fields[0],
			        &known);
		}
		for (size_t k = 0; !known && k < sizeof ignored_prefixes / sizeof ignored_prefixes[0]; k++)
			known = strncmp(name, ignored_prefixes[k], strlen(ignored_prefixes[k])) == 0;
		if (!known)
			note_unknown(v, name);
	}
	if (have_time)
		s->v[COL_VCPU_NS] = vcpu_time, s->have |= 1u << COL_VCPU_NS;
	if (have_delay)
		s->v[COL_VCPU_DELAY_NS] = vcpu_delay, s->have |= 1u << COL_VCPU_DELAY_NS;
	if (have_wait)
		s->v[COL_VCPU_WAIT_NS] = vcpu_wait, s->have |= 1u << COL_VCPU_WAIT_NS;
}

/* Whether a steady value must be read in this pass (struct col_steady);
 * otherwise fills the sample with the last values read. */
static bool steady_due(struct col_virt *v, struct col_steady *st, struct col_vm_sample *s)
{
	if (!st)
		return true;
	if (!st->read || st->id != s->id || st->same < COL_STEADY_READS || vm_minute_floor(s->t_ns) != st->minute)
		return true;
	for (int f = 0, k = 0; f < COL_VM__COUNT; f++)
		if (st->have & (1u << f))
			s->v[f] = st->v[k++], s->have |= 1u << f;
	v->calls_saved++;
	return false;
}

/* Records what a read gave for the fields in `mask`. */
static void steady_note(struct col_steady *st, const struct col_vm_sample *s, uint32_t mask)
{
	if (!st)
		return;
	uint32_t have = s->have & mask;
	bool same = st->read && st->id == s->id && have == st->have;
	for (int f = 0, k = 0; f < COL_VM__COUNT && same; f++)
		if ((have & (1u << f)) && st->v[k++] != s->v[f])
			same = false;
	st->same = same ? (uint8_t)(st->same < 255 ? st->same + 1 : 255) : 0;
	st->read = true;
	st->id = s->id;
	st->minute = vm_minute_floor(s->t_ns);
	st->have = have;
	for (int f = 0, k = 0; f < COL_VM__COUNT && k < COL_STEADY_FIELDS; f++)
		if (have & (1u << f))
			st->v[k++] = s->v[f];
}

/* A call the driver does not implement is not asked again on this
 * connection. */
static void note_unsupported(atomic_bool *flag)
{
	virErrorPtr e = virGetLastError();
	if (e && e->code == VIR_ERR_NO_SUPPORT)
		*flag = true;
}

/* cpu.time comes from virDomainGetInfo, the one CPU figure every driver
 * gives; user and system time from virDomainGetCPUStats where offered. */
static void fallback_cpu(struct col_virt *v, virDomainPtr dom, const virDomainInfo *info, struct col_steady *st,
                         struct col_vm_sample *s)
{
	if (info)
		s->v[COL_CPU_NS] = info->cpuTime, s->have |= 1u << COL_CPU_NS;
	if (v->no_cpu_stats || !steady_due(v, st, s))
		return;
	virTypedParameter params[8];
	v->calls++;
	int n = virDomainGetCPUStats(dom, params, 8, -1, 1, 0);
	if (n < 0)
		note_unsupported(&v->no_cpu_stats);
	for (int i = 0; i < n; i++) {
		uint64_t u;
		if (!param_u64(&params[i], &u))
			continue;
		if (strcmp(params[i].field, VIR_DOMAIN_CPU_STATS_USERTIME) == 0)
			s->v[COL_CPU_USER_NS] = u, s->have |= 1u << COL_CPU_USER_NS;
		else if (strcmp(params[i].field, VIR_DOMAIN_CPU_STATS_SYSTEMTIME) == 0)
			s->v[COL_CPU_SYSTEM_NS] = u, s->have |= 1u << COL_CPU_SYSTEM_NS;
	}
	if (n > 0)
		virTypedParamsClear(params, n);
	steady_note(st, s, (1u << COL_CPU_USER_NS) | (1u << COL_CPU_SYSTEM_NS));
}

static void fallback_balloon(struct col_virt *v, virDomainPtr dom, const virDomainInfo *info, struct col_steady *st,
                             struct col_vm_sample *s)
{
	if (info) {
		s->v[COL_BALLOON_KIB] = info->memory, s->have |= 1u << COL_BALLOON_KIB;
		s->v[COL_BALLOON_MAX_KIB] = info->maxMem, s->have |= 1u << COL_BALLOON_MAX_KIB;
	}
	if (v->no_mem_stats || !steady_due(v, st, s))
		return;
	virDomainMemoryStatStruct m[VIR_DOMAIN_MEMORY_STAT_NR];
	v->calls++;
	int n = virDomainMemoryStats(dom, m, VIR_DOMAIN_MEMORY_STAT_NR, 0);
	if (n < 0)
		note_unsupported(&v->no_mem_stats);
	for (int i = 0; i < n; i++) {
		int f = -1;
		switch (m[i].tag) {
		case VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON: f = COL_BALLOON_KIB; break;
		case VIR_DOMAIN_MEMORY_STAT_RSS: f = COL_RSS_KIB; break;
		case VIR_DOMAIN_MEMORY_STAT_USABLE: f = COL_USABLE_KIB; break;
		case VIR_DOMAIN_MEMORY_STAT_AVAILABLE: f = COL_AVAILABLE_KIB; break;
		case VIR_DOMAIN_MEMORY_STAT_UNUSED: f = COL_UNUSED_KIB; break;
		default: break;
		}
		if (f >= 0)
			s->v[f] = m[i].val, s->have |= 1u << f;
	}
	/* The balloon's size from GetInfo moves with it: only the guest's
	 * own figures decide whether the call can rest. */
	steady_note(st, s,
	            (1u << COL_RSS_KIB) | (1u << COL_USABLE_KIB) | (1u << COL_AVAILABLE_KIB) | (1u << COL_UNUSED_KIB));
}

static void fallback_vcpu(struct col_virt *v, virDomainPtr dom, const virDomainInfo *info, struct col_vm_sample *s)
{
	if (!info || info->nrVirtCpu == 0 || info->nrVirtCpu > 4096)
		return;
	s->v[COL_VCPUS] = info->nrVirtCpu, s->have |= 1u << COL_VCPUS;
	virVcpuInfoPtr vi = vm_xcalloc(info->nrVirtCpu, sizeof *vi);
	v->calls++;
	int n = virDomainGetVcpus(dom, vi, info->nrVirtCpu, NULL, 0);
	if (n > 0) {
		uint64_t sum = 0;
		for (int i = 0; i < n; i++)
			sum += vi[i].cpuTime;
		s->v[COL_VCPU_NS] = sum, s->have |= 1u << COL_VCPU_NS;
	}
	free(vi);
}

static void fallback_block(struct col_virt *v, virDomainPtr dom, const struct col_devices *d, struct col_vm_sample *s)
{
	for (size_t i = 0; d && i < d->n_disks && s->n_disks < COL_MAX_DEV; i++) {
		const char *target = d->disks[i];
		if (!*target)
			continue;
		struct col_dev_sample *dev = &s->disks[s->n_disks];
		memset(dev, 0, sizeof *dev);
		snprintf(dev->name, sizeof dev->name, "%s", target);
		virTypedParameter params[16];
		int n = 16;
		virDomainBlockStatsStruct bs;
		/* A driver without the typed call is asked once per
		 * connection (once per worker at most), not once per disk
		 * and interval. */
		bool ask_typed = !atomic_load(&v->no_typed_block);
		v->calls += ask_typed;
		int typed = ask_typed ? virDomainBlockStatsFlags(dom, target, params, &n, 0) : -1;
		if (typed < 0 && ask_typed)
			note_unsupported(&v->no_typed_block);
		if (typed < 0) {
			/* Drivers without the typed call (the test driver) have
			 * the old one: bytes and requests only. */
			v->calls++;
			if (virDomainBlockStats(dom, target, &bs, sizeof bs) == 0) {
				long long vals[] = {bs.rd_bytes, bs.wr_bytes, bs.rd_req, bs.wr_req};
				int fields[] = {COL_DISK_RD_BYTES, COL_DISK_WR_BYTES, COL_DISK_RD_REQS,
				                COL_DISK_WR_REQS};
				for (int k = 0; k < 4; k++)
					if (vals[k] >= 0)
						dev->v[fields[k]] = (uint64_t)vals[k], dev->have |= 1u << fields[k];
			}
		} else {
			static const struct {
				const char *name;
				int f;
			} map[] = {
			    {VIR_DOMAIN_BLOCK_STATS_READ_BYTES, COL_DISK_RD_BYTES},
			    {VIR_DOMAIN_BLOCK_STATS_WRITE_BYTES, COL_DISK_WR_BYTES},
			    {VIR_DOMAIN_BLOCK_STATS_READ_REQ, COL_DISK_RD_REQS},
			    {VIR_DOMAIN_BLOCK_STATS_WRITE_REQ, COL_DISK_WR_REQS},
			    {VIR_DOMAIN_BLOCK_STATS_READ_TOTAL_TIMES, COL_DISK_RD_NS},
			    {VIR_DOMAIN_BLOCK_STATS_WRITE_TOTAL_TIMES, COL_DISK_WR_NS},
			    {VIR_DOMAIN_BLOCK_STATS_FLUSH_REQ, COL_DISK_FL_REQS},
			    {VIR_DOMAIN_BLOCK_STATS_FLUSH_TOTAL_TIMES, COL_DISK_FL_NS},
			};
			for (int k = 0; k < n; k++) {
				uint64_t u;
				/* -1 means "not supported" for these calls. */
				if (params[k].type == VIR_TYPED_PARAM_LLONG && params[k].value.l < 0)
					continue;
				if (!param_u64(&params[k], &u))
					continue;
				for (size_t m = 0; m < sizeof map / sizeof map[0]; m++)
					if (strcmp(params[k].field, map[m].name) == 0)
						dev->v[map[m].f] = u, dev->have |= 1u << map[m].f;
			}
		}
		/* Capacity and allocation move slowly: read them once a
		 * minute (the last values hold in between, see the sampler). */
		virDomainBlockInfo bi;
		v->calls += v->blockinfo_due;
		if (v->blockinfo_due && virDomainGetBlockInfo(dom, target, &bi, 0) == 0) {
			dev->v[COL_DISK_CAPACITY] = bi.capacity, dev->have |= 1u << COL_DISK_CAPACITY;
			dev->v[COL_DISK_ALLOCATION] = bi.allocation, dev->have |= 1u << COL_DISK_ALLOCATION;
		}
		s->n_disks++;
	}
}

static void fallback_net(struct col_virt *v, virDomainPtr dom, const struct col_devices *d, struct col_vm_sample *s)
{
	for (size_t i = 0; d && i < d->n_nics && s->n_nics < COL_MAX_DEV; i++) {
		const char *target = d->nics[i];
		if (!*target)
			continue;
		virDomainInterfaceStatsStruct st;
		v->calls++;
		if (virDomainInterfaceStats(dom, target, &st, sizeof st) < 0)
			continue;
		struct col_dev_sample *dev = &s->nics[s->n_nics++];
		memset(dev, 0, sizeof *dev);
		snprintf(dev->name, sizeof dev->name, "%s", target);
		long long vals[] = {st.rx_bytes, st.tx_bytes, st.rx_packets, st.tx_packets,
		                    st.rx_errs,  st.tx_errs,  st.rx_drop,    st.tx_drop};
		for (int k = 0; k < 8; k++)
			if (vals[k] >= 0)
				dev->v[k] = (uint64_t)vals[k], dev->have |= 1u << k;
	}
}

/* The slow groups of one domain whose slow groups the pass did not ask
 * for, when they were never read for its current run (a new domain, a
 * restart): without them its first counters would be no baseline. */
static void slow_groups_now(struct col_virt *v, virDomainPtr dom, struct col_devices *d, struct col_vm_sample *s)
{
	if (d && d->slow_read && d->slow_id == s->id) {
		v->calls_saved++;
		return;
	}
	virDomainPtr list[] = {dom, NULL};
	virDomainStatsRecordPtr *one = NULL;
	v->calls++;
	int k = virDomainListGetStats(list, v->bulk_groups & COL_SLOW_GROUPS, &one, 0);
	if (k > 0) {
		col_virt_parse_record(v, one[0], s);
		if (d)
			d->slow_id = s->id, d->slow_read = true;
	}
	if (k >= 0)
		virDomainStatsRecordListFree(one);
}

/* One domain of a pass between its bulk record and the sampler. */
struct slot {
	struct col_vm_sample s;
	struct col_devices *d; /* the sampler's, NULL if it has none */
	bool skip;             /* stopped during its calls: not a sample */
	bool uncertain;        /* and whether it stopped is not known */
};

/* A pass over bulk records (sample_records()): prepare and consume run on
 * the calling thread, the per-domain fallback on the fanout's workers. */
struct pass {
	struct col_virt *v;
	virDomainStatsRecordPtr *recs;
	int64_t t0, t1;
	bool slow;
	unsigned missing; /* the groups the fallback reads */
	col_devices_cb devices;
	col_sample_cb cb;
	void *arg;
	struct slot *slots;
	size_t window;
	bool uncertain;
};

/* The bulk record's part, and what the sampler knows of the domain: its
 * devices are the sampler's, asked for on the thread that owns it. */
static void pass_prepare(size_t i, void *arg)
{
	struct pass *p = arg;
	struct col_virt *v = p->v;
	struct slot *sl = &p->slots[i % p->window];
	struct col_vm_sample *s = &sl->s;
	memset(s, 0, sizeof *s);
	sl->d = NULL;
	sl->skip = sl->uncertain = false;
	virDomainPtr dom = p->recs[i]->dom;
	virDomainGetUUIDString(dom, s->uuid);
	snprintf(s->name, sizeof s->name, "%s", virDomainGetName(dom) ? virDomainGetName(dom) : "");
	s->id = (int)virDomainGetID(dom);
	s->t_ns = p->t0 + (p->t1 - p->t0) / 2;
	s->mono_ns = vm_monotonic_ns() - (vm_now_ns() - s->t_ns);
	col_virt_parse_record(v, p->recs[i], s);
	if (p->missing || (v->bulk_groups & COL_SLOW_GROUPS))
		sl->d = p->devices(s->uuid, p->arg);
	if (v->bulk_groups & COL_SLOW_GROUPS) {
		if (p->slow) {
			if (sl->d)
				sl->d->slow_id = s->id, sl->d->slow_read = true;
		} else {
			slow_groups_now(v, dom, sl->d, s);
		}
	}
}

/* The groups the driver does not give in bulk, with per-domain calls.
 * libvirt's last error is the calling thread's: each worker sees its own
 * calls' errors. */
static void pass_work(size_t i, void *arg)
{
	struct pass *p = arg;
	struct col_virt *v = p->v;
	struct slot *sl = &p->slots[i % p->window];
	struct col_vm_sample *s = &sl->s;
	struct col_devices *d = sl->d;
	unsigned missing = p->missing;
	if (!missing)
		return;
	virDomainPtr dom = p->recs[i]->dom;
	int64_t f0 = vm_now_ns();
	virResetLastError();
	/* One virDomainGetInfo serves three groups: every call is a round
	 * trip to libvirtd. */
	virDomainInfo info;
	const virDomainInfo *ip = NULL;
	if (missing & (VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_VCPU)) {
		v->calls++;
		if (virDomainGetInfo(dom, &info) == 0)
			ip = &info;
	}
	if (missing & VIR_DOMAIN_STATS_CPU_TOTAL)
		fallback_cpu(v, dom, ip, d ? &d->cpu : NULL, s);
	if (missing & VIR_DOMAIN_STATS_BALLOON)
		fallback_balloon(v, dom, ip, d ? &d->mem : NULL, s);
	if (missing & VIR_DOMAIN_STATS_VCPU)
		fallback_vcpu(v, dom, ip, s);
	if (missing & VIR_DOMAIN_STATS_BLOCK)
		fallback_block(v, dom, d, s);
	if (missing & VIR_DOMAIN_STATS_INTERFACE)
		fallback_net(v, dom, d, s);
	int64_t f1 = vm_now_ns();
	/* These figures were read during [f0, f1], not at the bulk call. */
	s->t_ns = f0 + (f1 - f0) / 2;
	s->mono_ns = vm_monotonic_ns() - (f1 - s->t_ns);
	/* A domain that stopped during the calls gave only part of them:
	 * such a sample would claim an interval it did not measure. */
	if (virGetLastError()) {
		int active = virDomainIsActive(dom);
		if (active != 1) {
			/* Not known to have stopped (the connection failed):
			 * the pass cannot say who is gone. */
			sl->skip = true;
			sl->uncertain = active < 0;
		}
	}
}

static void pass_consume(size_t i, void *arg)
{
	struct pass *p = arg;
	struct slot *sl = &p->slots[i % p->window];
	if (sl->skip)
		p->uncertain |= sl->uncertain;
	else
		p->cb(&sl->s, p->arg);
}

/* Parses bulk records and fills the groups the driver does not give in
 * bulk with per-domain calls; calls cb per domain, in the records' order.
 * `slow`: the records carry COL_SLOW_GROUPS (when the driver gives them in
 * bulk at all).  Returns whether some domain's calls failed without its
 * stop being known. */
static bool sample_records(struct col_virt *v, virDomainStatsRecordPtr *recs, int n, int64_t t0, int64_t t1, bool slow,
                           col_devices_cb devices, col_sample_cb cb, void *arg)
{
	struct pass p = {
	    .v = v,
	    .recs = recs,
	    .t0 = t0,
	    .t1 = t1,
	    .slow = slow,
	    .missing = (VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_VCPU |
	                VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK) &
	               ~v->bulk_groups,
	    .devices = devices,
	    .cb = cb,
	    .arg = arg,
	};
	struct col_fanout_job job = {pass_prepare, pass_work, pass_consume, &p};
	/* Workers only where there are calls to make: with every group in
	 * bulk, a hand-over per domain would be all they add. */
	bool fan_out = p.missing && n > 1;
	p.window = fan_out ? col_fanout_window(v->fanout) : 1;
	p.slots = vm_xmalloc(p.window * sizeof *p.slots);
	if (fan_out) {
		col_fanout_run(v->fanout, (size_t)n, &job);
	} else {
		for (int i = 0; i < n; i++) {
			pass_prepare((size_t)i, &p);
			pass_work((size_t)i, &p);
			pass_consume((size_t)i, &p);
		}
	}
	free(p.slots);
	return p.uncertain;
}

void col_virt_call_counts(const struct col_virt *v, uint64_t *made, uint64_t *saved)
{
	*made = v->calls;
	*saved = v->calls_saved;
}

int col_virt_sample(struct col_virt *v, col_devices_cb devices, col_sample_cb cb, void *arg)
{
	virDomainStatsRecordPtr *recs = NULL;
	int64_t t0 = vm_now_ns();
	int64_t minute = vm_minute_floor(t0);
	bool slow = minute != v->slow_minute;
	unsigned want = VIR_DOMAIN_STATS_STATE | v->bulk_groups;
	if (!slow)
		want &= ~(unsigned)COL_SLOW_GROUPS;
	int n = virConnectGetAllDomainStats(v->conn, want, &recs, v->bulk_flags);
	int64_t t1 = vm_now_ns();
	if (n < 0) {
		vm_warn("libvirt '%s': bulk stats failed: %s", v->uri, virGetLastErrorMessage());
		check_conn(v);
		return -1;
	}
	int64_t now = vm_monotonic_ns();
	v->blockinfo_due = now >= v->next_blockinfo_ns;
	if (v->blockinfo_due)
		v->next_blockinfo_ns = now + 60 * VM_NS_PER_SEC;
	if (slow)
		v->slow_minute = minute;
	bool uncertain = sample_records(v, recs, n, t0, t1, slow, devices, cb, arg);
	virDomainStatsRecordListFree(recs);
	/* A connection lost during the per-domain calls leaves domains
	 * unsampled that are still running: not a complete pass. */
	if (uncertain || virConnectIsAlive(v->conn) != 1) {
		check_conn(v);
		return -1;
	}
	return n;
}

int col_virt_sample_one(struct col_virt *v, const char *uuid, col_devices_cb devices, col_sample_cb cb, void *arg)
{
	virDomainPtr dom = virDomainLookupByUUIDString(v->conn, uuid);
	if (!dom) {
		check_conn(v);
		return -1;
	}
	virDomainPtr list[] = {dom, NULL};
	virDomainStatsRecordPtr *recs = NULL;
	int64_t t0 = vm_now_ns();
	/* The list call takes no domain-state filter flags. */
	int n = virDomainListGetStats(list, VIR_DOMAIN_STATS_STATE | v->bulk_groups, &recs,
	                              v->bulk_flags & VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
	int64_t t1 = vm_now_ns();
	/* A new run's baseline: its disks' capacity goes into its
	 * inventory at once. */
	v->blockinfo_due = true;
	if (n > 0 && virDomainIsActive(dom) == 1)
		sample_records(v, recs, n, t0, t1, true, devices, cb, arg);
	if (n >= 0)
		virDomainStatsRecordListFree(recs);
	virDomainFree(dom);
	return n < 0 ? -1 : 0;
}

int col_virt_host(struct col_virt *v, struct col_host_sample *h)
{
	memset(h, 0, sizeof *h);
	virNodeInfo info;
	if (virNodeGetInfo(v->conn, &info) < 0) {
		vm_warn("libvirt '%s': cannot read node info: %s", v->uri, virGetLastErrorMessage());
		check_conn(v);
		return -1;
	}
	h->cpus = info.cpus, h->mhz = info.mhz, h->nodes = info.nodes, h->sockets = info.sockets;
	h->cores = info.cores, h->threads = info.threads, h->memory_kib = info.memory;
	snprintf(h->model, sizeof h->model, "%s", info.model);
	h->t_ns = vm_now_ns();
	h->mono_ns = vm_monotonic_ns();

	virNodeCPUStatsPtr cs = NULL;
	int n = 0;
	if (virNodeGetCPUStats(v->conn, VIR_NODE_CPU_STATS_ALL_CPUS, NULL, &n, 0) == 0 && n > 0) {
		cs = vm_xcalloc((size_t)n, sizeof *cs);
		if (virNodeGetCPUStats(v->conn, VIR_NODE_CPU_STATS_ALL_CPUS, cs, &n, 0) == 0) {
			h->have_cpu = true;
			for (int i = 0; i < n; i++) {
				if (strcmp(cs[i].field, VIR_NODE_CPU_STATS_KERNEL) == 0)
					h->cpu_kernel_ns = cs[i].value;
				else if (strcmp(cs[i].field, VIR_NODE_CPU_STATS_USER) == 0)
					h->cpu_user_ns = cs[i].value;
				else if (strcmp(cs[i].field, VIR_NODE_CPU_STATS_IDLE) == 0)
					h->cpu_idle_ns = cs[i].value;
				else if (strcmp(cs[i].field, VIR_NODE_CPU_STATS_IOWAIT) == 0)
					h->cpu_iowait_ns = cs[i].value;
			}
		}
		free(cs);
	}
	virNodeMemoryStatsPtr ms = NULL;
	n = 0;
	if (virNodeGetMemoryStats(v->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, NULL, &n, 0) == 0 && n > 0) {
		ms = vm_xcalloc((size_t)n, sizeof *ms);
		if (virNodeGetMemoryStats(v->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, ms, &n, 0) == 0) {
			h->have_mem = true;
			for (int i = 0; i < n; i++) {
				if (strcmp(ms[i].field, VIR_NODE_MEMORY_STATS_TOTAL) == 0)
					h->mem_total_kib = ms[i].value;
				else if (strcmp(ms[i].field, VIR_NODE_MEMORY_STATS_FREE) == 0)
					h->mem_free_kib = ms[i].value;
				else if (strcmp(ms[i].field, VIR_NODE_MEMORY_STATS_CACHED) == 0)
					h->mem_cached_kib = ms[i].value;
			}
		}
		free(ms);
	} else {
		virErrorPtr e = virGetLastError();
		char why[256];
		snprintf(why, sizeof why, "%s", e && e->message ? e->message : "none reported");
		unsigned long long free_bytes = virNodeGetFreeMemory(v->conn);
		if (!v->warned_host_mem) {
			vm_notice("libvirt '%s' gives no node memory stats (%s): using total and free memory only",
			          v->uri, why);
			v->warned_host_mem = true;
		}
		if (free_bytes) {
			h->have_mem = true;
			h->mem_total_kib = info.memory;
			h->mem_free_kib = free_bytes / 1024;
		}
	}
	return 0;
}
