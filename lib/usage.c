#include "config.h"

#include "usage.h"

#include <stdlib.h>
#include <string.h>

#include "vtime.h"
#include "binio.h"
#include "xalloc.h"

#define C(n, u, ds)                                                                                                    \
	{                                                                                                              \
		n, VM_METER_COUNTER, u, ds                                                                             \
	}
#define G(n, u, ds)                                                                                                    \
	{                                                                                                              \
		n, VM_METER_GAUGE, u, ds                                                                               \
	}

/* Column names are part of the database schema (sql/) and of the CSV
 * output: change them only with a migration.
 *
 * rrd_ds: the meters an operator's dashboard draws (lib/rrdout.h), each a
 * data source in every VM's RRD file.  NULL for those nobody graphs, whose
 * per-minute values stay in the database: the user/system split of cpu
 * (their sum is cpu), flushes (disk_fl_*), interface errors (virtio and tap
 * practically never count one; drops are kept) and the guest's "unused"
 * memory (MemFree, where usable is what matters).  A change here converts
 * every existing file at its next update (lib/rrdout.c). */
static const struct vm_meter vm_meters[VM_M__COUNT] = {
    [VM_M_CPU_NS] = C("cpu_ns", "ns", "cpu"),
    [VM_M_CPU_USER_NS] = C("cpu_user_ns", "ns", NULL),
    [VM_M_CPU_SYSTEM_NS] = C("cpu_system_ns", "ns", NULL),
    [VM_M_VCPU_NS] = C("vcpu_ns", "ns", "vcpu"),
    [VM_M_VCPU_DELAY_NS] = C("vcpu_delay_ns", "ns", "vcpu_delay"),
    [VM_M_VCPU_WAIT_NS] = C("vcpu_wait_ns", "ns", "vcpu_wait"),
    [VM_M_RUNNING_MS] = C("running_ms", "ms", NULL),
    [VM_M_DISK_RD_BYTES] = C("disk_rd_bytes", "bytes", "disk_rd_bytes"),
    [VM_M_DISK_WR_BYTES] = C("disk_wr_bytes", "bytes", "disk_wr_bytes"),
    [VM_M_DISK_RD_REQS] = C("disk_rd_reqs", "requests", "disk_rd_reqs"),
    [VM_M_DISK_WR_REQS] = C("disk_wr_reqs", "requests", "disk_wr_reqs"),
    [VM_M_DISK_RD_NS] = C("disk_rd_ns", "ns", "disk_rd_time"),
    [VM_M_DISK_WR_NS] = C("disk_wr_ns", "ns", "disk_wr_time"),
    [VM_M_DISK_FL_REQS] = C("disk_fl_reqs", "requests", NULL),
    [VM_M_DISK_FL_NS] = C("disk_fl_ns", "ns", NULL),
    [VM_M_NET_RX_BYTES] = C("net_rx_bytes", "bytes", "net_rx_bytes"),
    [VM_M_NET_TX_BYTES] = C("net_tx_bytes", "bytes", "net_tx_bytes"),
    [VM_M_NET_RX_PKTS] = C("net_rx_pkts", "packets", "net_rx_pkts"),
    [VM_M_NET_TX_PKTS] = C("net_tx_pkts", "packets", "net_tx_pkts"),
    [VM_M_NET_RX_ERRS] = C("net_rx_errs", "packets", NULL),
    [VM_M_NET_TX_ERRS] = C("net_tx_errs", "packets", NULL),
    [VM_M_NET_RX_DROP] = C("net_rx_drop", "packets", "net_rx_drop"),
    [VM_M_NET_TX_DROP] = C("net_tx_drop", "packets", "net_tx_drop"),
    [VM_M_VCPUS] = G("vcpus", "vcpus", "vcpus"),
    [VM_M_MEM_MAX_KIB] = G("mem_max_kib", "KiB", "mem_max"),
    [VM_M_BALLOON_KIB] = G("balloon_kib", "KiB", "mem_balloon"),
    [VM_M_RSS_KIB] = G("rss_kib", "KiB", "mem_rss"),
    [VM_M_USABLE_KIB] = G("usable_kib", "KiB", "mem_usable"),
    [VM_M_AVAILABLE_KIB] = G("available_kib", "KiB", "mem_available"),
    [VM_M_UNUSED_KIB] = G("unused_kib", "KiB", NULL),
    [VM_M_DISK_CAPACITY] = G("disk_capacity_bytes", "bytes", "disk_capacity"),
    [VM_M_DISK_ALLOCATION] = G("disk_allocation_bytes", "bytes", "disk_allocation"),
};

/* The host's file is one per host, so size is no reason to drop a data
 * source there: only the two a graph derives from others go, cpu_idle
 * (capacity less busy) and cpus (cpu_capacity drawn in cores). */
static const struct vm_meter host_meters[HOST_M__COUNT] = {
    [HOST_M_CPU_CAPACITY_NS] = C("cpu_capacity_ns", "ns", "cpu_capacity"),
    [HOST_M_CPU_BUSY_NS] = C("cpu_busy_ns", "ns", "cpu_busy"),
    [HOST_M_CPU_USER_NS] = C("cpu_user_ns", "ns", "cpu_user"),
    [HOST_M_CPU_SYSTEM_NS] = C("cpu_system_ns", "ns", "cpu_system"),
    [HOST_M_CPU_IOWAIT_NS] = C("cpu_iowait_ns", "ns", "cpu_iowait"),
    [HOST_M_CPU_IDLE_NS] = C("cpu_idle_ns", "ns", NULL),
    [HOST_M_CPUS] = G("cpus", "cpus", NULL),
    [HOST_M_MEM_TOTAL_KIB] = G("mem_total_kib", "KiB", "mem_total"),
    [HOST_M_MEM_FREE_KIB] = G("mem_free_kib", "KiB", "mem_free"),
    [HOST_M_MEM_CACHED_KIB] = G("mem_cached_kib", "KiB", "mem_cached"),
    [HOST_M_VMS_RUNNING] = G("vms_running", "vms", "vms_running"),
    [HOST_M_VCPUS_RUNNING] = G("vcpus_running", "vcpus", "vcpus_running"),
    [HOST_M_VM_MEM_KIB] = G("vm_mem_kib", "KiB", "vm_mem"),
};

static const struct vm_meter_set vm_set = {"vm", vm_meters, VM_M__COUNT, VM_M_VCPUS};
static const struct vm_meter_set host_set = {"host", host_meters, HOST_M__COUNT, HOST_M_CPUS};

_Static_assert(VM_M__COUNT <= VM_USAGE_MAX_METERS, "too many VM meters");
_Static_assert(HOST_M__COUNT <= VM_USAGE_MAX_METERS, "too many host meters");

const struct vm_meter_set *vm_usage_vm_meters(void)
{
	return &vm_set;
}

const struct vm_meter_set *vm_usage_host_meters(void)
{
	return &host_set;
}

/* Traffic by class is a set of its own: a VM has one RRD file per class. */
static const struct vm_meter traffic_meters[] = {
    {"rx_bytes", VM_METER_COUNTER, "bytes", "rx_bytes"},
    {"tx_bytes", VM_METER_COUNTER, "bytes", "tx_bytes"},
    {"rx_packets", VM_METER_COUNTER, "packets", "rx_packets"},
    {"tx_packets", VM_METER_COUNTER, "packets", "tx_packets"},
};

const struct vm_meter_set *vm_usage_traffic_meters(void)
{
	static const struct vm_meter_set set = {"traffic", traffic_meters, 4, 4};
	return &set;
}

static const struct vm_meter power_meters[POWER_M__COUNT] = {
    [POWER_M_ENERGY_UJ] = C("energy_uj", "uJ", NULL),
};

const struct vm_meter_set *vm_usage_power_meters(void)
{
	static const struct vm_meter_set set = {"power", power_meters, POWER_M__COUNT, POWER_M__COUNT};
	return &set;
}

/* One open minute. */
/* An open minute: a header and the meters' cells, only what each meter
 * needs.  A counter has its sum (1 word); a gauge its maximum, its level x
 * nanoseconds (2 words: 2^50 bytes x 6e10 ns overflows 64 bits) and the
 * nanoseconds it was seen (1 word).  Counters come first in a meter set
 * (vm_meter_set.n_counters), so counter i is word i and gauge i starts at
 * word n_counters + 4 (i - n_counters).  The VM set's minute is 512 bytes
 * where fixed arrays for VM_USAGE_MAX_METERS made it 1,640 (issue 17: two
 * open minutes were half of a VM's memory). */
struct minute {
	int64_t start;
	int64_t cov_ns;
	int32_t samples;
	uint64_t have;
	uint64_t late;
	uint64_t w[]; /* the cells */
};

#define GAUGE_WORDS 4

struct vm_usage_acc {
	const struct vm_meter_set *set;
	int64_t closed_upto;
	unsigned char *open; /* n_open minutes of `stride` bytes, sorted by start */
	size_t n_open, cap;
	size_t stride;
};

static size_t minute_words(const struct vm_meter_set *set)
{
	return set->n_counters + GAUGE_WORDS * (set->n - set->n_counters);
}

static struct minute *minute_at(const struct vm_usage_acc *acc, size_t i)
{
	return (struct minute *)(acc->open + i * acc->stride);
}

static uint64_t *gauge_cells(const struct vm_usage_acc *acc, struct minute *m, size_t i)
{
	return &m->w[acc->set->n_counters + GAUGE_WORDS * (i - acc->set->n_counters)];
}

/* A gauge's cells: [0] maximum, [1..2] the integral, [3] nanoseconds. */
static unsigned __int128 cell_integral(const uint64_t *g)
{
	unsigned __int128 v;
	memcpy(&v, &g[1], sizeof v);
	return v;
}

static void cell_set_integral(uint64_t *g, unsigned __int128 v)
{
	memcpy(&g[1], &v, sizeof v);
}

struct vm_usage_acc *vm_usage_acc_new(const struct vm_meter_set *set)
{
	struct vm_usage_acc *acc = vm_xcalloc(1, sizeof *acc);
	acc->set = set;
	acc->stride = sizeof(struct minute) + minute_words(set) * sizeof(uint64_t);
	return acc;
}

void vm_usage_acc_free(struct vm_usage_acc *acc)
{
	if (!acc)
		return;
	free(acc->open);
	free(acc);
}

int64_t vm_usage_acc_closed_upto(const struct vm_usage_acc *acc)
{
	return acc->closed_upto;
}

size_t vm_usage_acc_open_minutes(const struct vm_usage_acc *acc)
{
	return acc->n_open;
}

uint64_t vm_usage_share(uint64_t delta, int64_t t0, int64_t t1, int64_t a, int64_t b)
{
	unsigned __int128 span = (unsigned __int128)(t1 - t0);
	unsigned __int128 hi = (unsigned __int128)delta * (unsigned __int128)(b - t0) / span;
	unsigned __int128 lo = (unsigned __int128)delta * (unsigned __int128)(a - t0) / span;
	return (uint64_t)(hi - lo);
}

static struct minute *minute_get(struct vm_usage_acc *acc, int64_t start)
{
	size_t i = 0;
	while (i < acc->n_open && minute_at(acc, i)->start < start)
		i++;
	if (i < acc->n_open && minute_at(acc, i)->start == start)
		return minute_at(acc, i);
	/* One open minute is the rule when minutes close as the samples come
	 * (vm_usage_acc_add_close()), two when they close later (the one a
	 * sample straddles into): room for one first, then doubled, not
	 * vm_xgrow()'s first eight (4 KB a VM). */
	if (acc->n_open == acc->cap) {
		size_t cap = acc->cap ? 2 * acc->cap : 1;
		acc->open = vm_xrealloc(acc->open, cap * acc->stride);
		acc->cap = cap;
	}
	memmove(acc->open + (i + 1) * acc->stride, acc->open + i * acc->stride, (acc->n_open - i) * acc->stride);
	acc->n_open++;
	struct minute *m = minute_at(acc, i);
	memset(m, 0, acc->stride);
	m->start = start;
	return m;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* A counter delta for minute m that no interval of m's time carries. */
static void late_add(struct minute *m, size_t i, uint64_t v)
{
	m->w[i] = sat_add(m->w[i], v);
	m->late = sat_add(m->late, v);
	m->have |= UINT64_C(1) << i;
}

void vm_usage_acc_add_late(struct vm_usage_acc *acc, int64_t at_ns, const struct vm_usage_interval *iv)
{
	const struct vm_meter_set *set = acc->set;
	uint64_t counters = iv->have & ((UINT64_C(1) << set->n_counters) - 1);
	if (!counters)
		return;
	int64_t start = vm_minute_floor(at_ns);
	struct minute *m = minute_get(acc, start > acc->closed_upto ? start : acc->closed_upto);
	for (size_t i = 0; i < set->n_counters; i++)
		if (counters & (UINT64_C(1) << i))
			late_add(m, i, iv->value[i]);
}

/* cb NULL: nothing is closed (vm_usage_acc_add()). */
static int add_close(struct vm_usage_acc *acc, const struct vm_usage_interval *iv, int64_t upto, vm_usage_row_cb cb,
                     void *arg)
{
	const struct vm_meter_set *set = acc->set;
	int64_t t0 = iv->t0, t1 = iv->t1;
	if (t1 <= t0)
		return -1;
	uint64_t counters = iv->have & ((UINT64_C(1) << set->n_counters) - 1);

	/* Counter deltas that belong to minutes already emitted. */
	int64_t from = t0 > acc->closed_upto ? t0 : acc->closed_upto;
	if (from > t0 && counters) {
		int64_t late_to = from < t1 ? from : t1;
		struct minute *m = minute_get(acc, acc->closed_upto);
		for (size_t i = 0; i < set->n_counters; i++)
			if (counters & (UINT64_C(1) << i))
				late_add(m, i, vm_usage_share(iv->value[i], t0, t1, t0, late_to));
	}

	for (int64_t ms = vm_minute_floor(from); ms < t1; ms += VM_NS_PER_MIN) {
		int64_t a = from > ms ? from : ms;
		int64_t b = t1 < ms + VM_NS_PER_MIN ? t1 : ms + VM_NS_PER_MIN;
		if (b <= a)
			continue;
		/* The minutes before this one have all of the interval's
		 * share: complete, unless a later interval comes late. */
		if (cb)
			vm_usage_acc_close(acc, ms < upto ? ms : upto, cb, arg);
		struct minute *m = minute_get(acc, ms);
		m->cov_ns += b - a;
		if (b == t1)
			m->samples++;
		for (size_t i = 0; i < set->n; i++) {
			uint64_t bit = UINT64_C(1) << i;
			if (!(iv->have & bit))
				continue;
			m->have |= bit;
			if (i < set->n_counters) {
				m->w[i] = sat_add(m->w[i], vm_usage_share(iv->value[i], t0, t1, a, b));
			} else {
				uint64_t *g = gauge_cells(acc, m, i);
				cell_set_integral(g, cell_integral(g) +
				                         (unsigned __int128)iv->value[i] * (unsigned __int128)(b - a));
				g[3] += (uint64_t)(b - a);
				if (iv->value[i] > g[0])
					g[0] = iv->value[i];
			}
		}
	}
	return 0;
}

int vm_usage_acc_add(struct vm_usage_acc *acc, const struct vm_usage_interval *iv)
{
	return add_close(acc, iv, 0, NULL, NULL);
}

int vm_usage_acc_add_close(struct vm_usage_acc *acc, const struct vm_usage_interval *iv, int64_t upto_ns,
                           vm_usage_row_cb cb, void *arg)
{
	if (add_close(acc, iv, upto_ns, cb, arg) < 0)
		return -1;
	vm_usage_acc_close(acc, upto_ns, cb, arg);
	return 0;
}

static void minute_to_row(const struct vm_usage_acc *acc, struct minute *m, struct vm_usage_row *row)
{
	const struct vm_meter_set *set = acc->set;
	memset(row, 0, sizeof *row);
	row->set = set;
	row->minute_ns = m->start;
	int64_t cov_ms = (m->cov_ns + 500000) / 1000000;
	row->coverage_ms = (int32_t)(cov_ms > 60000 ? 60000 : cov_ms);
	row->samples = m->samples;
	row->have = m->have;
	row->late = m->late;
	for (size_t i = 0; i < set->n; i++) {
		if (i < set->n_counters) {
			row->sum[i] = m->w[i];
			continue;
		}
		const uint64_t *g = gauge_cells(acc, m, i);
		if (g[3] > 0) {
			unsigned __int128 d = (unsigned __int128)g[3];
			row->avg[i] = (uint64_t)((cell_integral(g) + d / 2) / d);
			row->max[i] = g[0];
		}
	}
}

size_t vm_usage_acc_close(struct vm_usage_acc *acc, int64_t upto, vm_usage_row_cb cb, void *arg)
{
	size_t n = 0;
	struct vm_usage_row row;
	while (n < acc->n_open) {
		struct minute *m = minute_at(acc, n);
		int64_t end = m->start + VM_NS_PER_MIN;
		if (upto != INT64_MAX && end > upto)
			break;
		minute_to_row(acc, m, &row);
		cb(&row, arg);
		if (end > acc->closed_upto)
			acc->closed_upto = end;
		n++;
	}
	if (n) {
		memmove(acc->open, acc->open + n * acc->stride, (acc->n_open - n) * acc->stride);
		acc->n_open -= n;
	}
	return n;
}

void vm_usage_acc_save(const struct vm_usage_acc *acc, struct vm_binw *w)
{
	const struct vm_meter_set *set = acc->set;
	vm_binw_sv(w, acc->closed_upto);
	vm_binw_uv(w, acc->n_open);
	for (size_t k = 0; k < acc->n_open; k++) {
		struct minute *m = minute_at(acc, k);
		vm_binw_sv(w, m->start);
		vm_binw_sv(w, m->cov_ns);
		vm_binw_uv(w, (uint64_t)m->samples);
		vm_binw_uv(w, m->have);
		vm_binw_uv(w, m->late);
		for (size_t i = 0; i < set->n; i++) {
			if (!(m->have & (UINT64_C(1) << i)))
				continue;
			if (i < set->n_counters) {
				vm_binw_uv(w, m->w[i]);
			} else {
				const uint64_t *g = gauge_cells(acc, m, i);
				vm_binw_uv(w, g[0]);
				vm_binw_u128(w, cell_integral(g));
				vm_binw_sv(w, (int64_t)g[3]);
			}
		}
	}
}

int vm_usage_acc_load(struct vm_usage_acc *acc, struct vm_binr *r, size_t max_open)
{
	const struct vm_meter_set *set = acc->set;
	acc->n_open = 0;
	acc->closed_upto = vm_binr_sv(r, "closed mark");
	size_t n = (size_t)vm_binr_uv_max(r, max_open, "open minutes");
	if (acc->closed_upto < 0 || acc->closed_upto % VM_NS_PER_MIN)
		vm_binr_fail(r, "closed mark");
	for (size_t k = 0; k < n && vm_binr_ok(r); k++) {
		int64_t start = vm_binr_sv(r, "minute");
		if (start % VM_NS_PER_MIN || start < acc->closed_upto ||
		    (acc->n_open && start <= minute_at(acc, acc->n_open - 1)->start)) {
			vm_binr_fail(r, "minute");
			break;
		}
		struct minute *m = minute_get(acc, start);
		m->cov_ns = vm_binr_sv(r, "coverage");
		m->samples = (int32_t)vm_binr_uv_max(r, INT32_MAX, "samples");
		m->have = vm_binr_uv(r, "meters");
		m->late = vm_binr_uv(r, "late");
		if (m->cov_ns < 0 || m->cov_ns > VM_NS_PER_MIN || (set->n < 64 && (m->have >> set->n))) {
			vm_binr_fail(r, "minute");
			break;
		}
		for (size_t i = 0; i < set->n; i++) {
			if (!(m->have & (UINT64_C(1) << i)))
				continue;
			if (i < set->n_counters) {
				m->w[i] = vm_binr_uv(r, "counter");
			} else {
				uint64_t *g = gauge_cells(acc, m, i);
				g[0] = vm_binr_uv(r, "gauge");
				cell_set_integral(g, vm_binr_u128(r, "gauge"));
				int64_t ns = vm_binr_sv(r, "gauge");
				if (ns < 0 || ns > VM_NS_PER_MIN)
					vm_binr_fail(r, "gauge");
				g[3] = (uint64_t)ns;
			}
		}
	}
	if (!vm_binr_ok(r)) {
		acc->n_open = 0;
		acc->closed_upto = 0;
		return -1;
	}
	return 0;
}
