/* Storage benchmark, ingest part (issue 11): a simulated fleet's day of
 * usage rows through vmeter's delivery path (col_db_write_usage() in the
 * writer's batches, each batch its own transaction with the delivery mark)
 * into vm_usage_minute, and the same rows by plain COPY into an identical
 * partitioned table (bench_part) and into an unpartitioned one
 * (bench_flat), interleaved batch by batch so that all three grow at the
 * same pace and share the machine's noise.  bench/storage.sh measures the
 * rest (sizes, rollups, retention, queries) on what this leaves behind.
 *
 *   vmeter-bench-storage CONNINFO VMS MINUTES BATCH TENANTS DAY_EPOCH [REF_MINUTES]
 *
 * The plain COPYs run beside the delivery path for the batches of the
 * first REF_MINUTES minutes (default: all); the ratio is taken over those
 * batches.  The rest of the day reaches bench_flat by INSERT ... SELECT
 * afterwards (untimed), so that retention's drop and DELETE compare the
 * same rows.  A shorter reference keeps a 10,000 x 1440 run in bounds on
 * two cores.
 *
 * The rows: VMS VMs on one host, owned by TENANTS tenants (a few projects
 * each), every VM meter present, with a fleet's magnitudes: CPU from a
 * per-VM base load with a daily cycle and noise in 0..vcpus x 60 s, disk
 * and network bytes bursty and often 0, memory gauges nearly constant with
 * small noise.  Deterministic (xorshift64* seeded by VM and minute). */
#include "config.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "dbwrite.h"
#include "domxml.h"
#include "pg.h"
#include "usage.h"
#include "vtime.h"
#include "xalloc.h"

#define HOSTNAME "bench-host-001"

static double now_s(void)
{
	return (double)vm_monotonic_ns() / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, PGconn *pg)
{
	fprintf(stderr, "vmeter-bench-storage: %s: %s", what, pg ? PQerrorMessage(pg) : "\n");
	exit(1);
}

static void exec_ok(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die(sql, pg);
	PQclear(r);
}

static uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/* Uniform in [0, 1). */
static double rnd_u(uint64_t *s)
{
	return (double)(rnd_next(s) >> 11) / 9007199254740992.0;
}

static uint64_t seed_of(uint64_t a, uint64_t b)
{
	uint64_t s = (a + 1) * UINT64_C(0x9E3779B97F4A7C15) ^ (b + 7) * UINT64_C(0xC2B2AE3D27D4EB4F);
	return s ? s : 1;
}

/* What stays the same for a VM all day. */
struct vm_profile {
	char uuid[37];
	unsigned vcpus;
	uint64_t mem_kib, rss_kib, disk_cap, disk_alloc;
	double load;      /* base CPU load, 0..1 of its vCPUs */
	double disk_p;    /* chance of disk activity in a minute */
	double disk_mean; /* bytes per active minute */
	double net_p, net_mean;
	double net_floor; /* bytes a minute that always flow (0 for silent VMs) */
	unsigned tenant, project;
};

static void make_profile(struct vm_profile *p, size_t v, unsigned tenants)
{
	uint64_t s = seed_of(v, 0xabc);
	snprintf(p->uuid, sizeof p->uuid, "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)rnd_next(&s),
	         (unsigned)(rnd_next(&s) & 0xffff), (unsigned)(rnd_next(&s) & 0xfff), (unsigned)(rnd_next(&s) & 0xfff),
	         (unsigned long long)(v & 0xffffffffffffULL));
	static const unsigned vcpu_choice[] = {1, 2, 2, 2, 4, 4, 4, 8, 8, 16};
	p->vcpus = vcpu_choice[rnd_next(&s) % 10];
	p->mem_kib = (uint64_t)p->vcpus * (rnd_next(&s) % 2 ? 4 : 2) * 1048576;
	p->rss_kib = (uint64_t)((double)p->mem_kib * (0.25 + 0.7 * rnd_u(&s)));
	static const uint64_t caps[] = {20, 40, 80, 160, 500};
	p->disk_cap = caps[rnd_next(&s) % 5] << 30;
	p->disk_alloc = (uint64_t)((double)p->disk_cap * (0.1 + 0.8 * rnd_u(&s)));
	/* Most VMs idle along, a few are busy. */
	double u = rnd_u(&s);
	p->load = u < 0.6 ? 0.01 + 0.09 * rnd_u(&s) : u < 0.9 ? 0.1 + 0.4 * rnd_u(&s) : 0.5 + 0.45 * rnd_u(&s);
	p->disk_p = 0.05 + 0.6 * rnd_u(&s);
	p->disk_mean = exp(12 + 6 * rnd_u(&s)); /* 160 KB .. 65 MB */
	p->net_p = 0.1 + 0.8 * rnd_u(&s);
	p->net_mean = exp(10 + 8 * rnd_u(&s)); /* 22 KB .. 65 MB */
	p->net_floor = rnd_u(&s) < 0.3 ? 0 : 500 + 5000 * rnd_u(&s);
	/* Tenants of skewed size: a few large ones, many small. */
	double t = rnd_u(&s);
	p->tenant = (unsigned)((double)tenants * t * t);
	p->project = (unsigned)(rnd_next(&s) % (1 + p->tenant % 4));
}

/* A heavy-tailed burst around `mean`. */
static double burst(uint64_t *s, double mean)
{
	double u = rnd_u(s);
	return mean * -log(1 - u) * (rnd_u(s) < 0.05 ? 10 : 1);
}

static void make_row(struct vm_db_usage *out, const struct vm_profile *p, size_t v, size_t m, int64_t t0)
{
	const struct vm_meter_set *set = vm_usage_vm_meters();
	uint64_t s = seed_of(v, m + 1);
	memset(out, 0, sizeof *out);
	memcpy(out->uuid, p->uuid, sizeof out->uuid);
	struct vm_usage_row *r = &out->row;
	r->set = set;
	r->minute_ns = t0 + (int64_t)m * VM_NS_PER_MIN;
	r->coverage_ms = 60000;
	r->samples = 6;
	r->have = (UINT64_C(1) << set->n) - 1;

	/* CPU: base load, a daily cycle (peak 14:00 UTC), noise. */
	double day = sin(((double)(m % 1440) / 1440.0 - 0.333) * 2 * M_PI);
	double load = p->load * (1 + 0.4 * day) * (0.7 + 0.6 * rnd_u(&s));
	if (load > 1)
		load = 1;
	double cap = (double)p->vcpus * 60e9;
	uint64_t vcpu = (uint64_t)(cap * load);
	uint64_t cpu = vcpu + (uint64_t)(2e8 + 3e8 * rnd_u(&s)); /* the emulator's own threads */
	uint64_t sys = (uint64_t)((double)cpu * (0.1 + 0.2 * rnd_u(&s)));
	r->sum[VM_M_CPU_NS] = cpu;
	r->sum[VM_M_CPU_SYSTEM_NS] = sys;
	r->sum[VM_M_CPU_USER_NS] = cpu - sys;
	r->sum[VM_M_VCPU_NS] = vcpu;
	r->sum[VM_M_VCPU_DELAY_NS] = (uint64_t)((double)vcpu * 0.02 * rnd_u(&s));
	r->sum[VM_M_VCPU_WAIT_NS] = (uint64_t)(cap * (1 - load) * (0.9 + 0.1 * rnd_u(&s)));
	r->sum[VM_M_RUNNING_MS] = 60000;

	/* Disk: bursty, often idle; a flush now and then. */
	if (rnd_u(&s) < p->disk_p) {
		double rd = rnd_u(&s) < 0.5 ? burst(&s, p->disk_mean * 0.4) : 0;
		double wr = burst(&s, p->disk_mean * 0.6);
		uint64_t rq = rd > 0 ? (uint64_t)(rd / (4096 + 60000 * rnd_u(&s))) + 1 : 0;
		uint64_t wq = (uint64_t)(wr / (4096 + 60000 * rnd_u(&s))) + 1;
		r->sum[VM_M_DISK_RD_BYTES] = rd > 0 ? (uint64_t)rd / 512 * 512 : 0;
		r->sum[VM_M_DISK_WR_BYTES] = (uint64_t)wr / 512 * 512;
		r->sum[VM_M_DISK_RD_REQS] = rq;
		r->sum[VM_M_DISK_WR_REQS] = wq;
		r->sum[VM_M_DISK_RD_NS] = rq * (uint64_t)(1e5 + 2e6 * rnd_u(&s));
		r->sum[VM_M_DISK_WR_NS] = wq * (uint64_t)(1e5 + 3e6 * rnd_u(&s));
		if (rnd_u(&s) < 0.3) {
			r->sum[VM_M_DISK_FL_REQS] = 1 + rnd_next(&s) % 20;
			r->sum[VM_M_DISK_FL_NS] = r->sum[VM_M_DISK_FL_REQS] * (uint64_t)(5e5 + 5e6 * rnd_u(&s));
		}
	}
	/* Network: a trickle (monitoring, ARP) or silence, and bursts. */
	double rx = p->net_floor > 0 ? p->net_floor * (0.5 + rnd_u(&s)) : 0;
	double tx = p->net_floor > 0 ? p->net_floor * 0.6 * (0.5 + rnd_u(&s)) : 0;
	if (rnd_u(&s) < p->net_p) {
		rx += burst(&s, p->net_mean);
		tx += burst(&s, p->net_mean * 0.5);
	}
	r->sum[VM_M_NET_RX_BYTES] = (uint64_t)rx;
	r->sum[VM_M_NET_TX_BYTES] = (uint64_t)tx;
	r->sum[VM_M_NET_RX_PKTS] = rx > 0 ? (uint64_t)(rx / (90 + 1200 * rnd_u(&s))) + 1 : 0;
	r->sum[VM_M_NET_TX_PKTS] = tx > 0 ? (uint64_t)(tx / (90 + 1200 * rnd_u(&s))) + 1 : 0;
	r->sum[VM_M_NET_RX_DROP] = rnd_u(&s) < 0.002 ? 1 + rnd_next(&s) % 50 : 0;
	r->sum[VM_M_NET_TX_DROP] = 0;
	r->sum[VM_M_NET_RX_ERRS] = 0;
	r->sum[VM_M_NET_TX_ERRS] = 0;

	/* Gauges: constant, or near constant with small noise; the maximum
	 * of the minute's six samples a little above the average. */
#define GAUGE(i, level, jitter)                                                                                        \
	do {                                                                                                           \
		uint64_t a_ = (level), j_ = (jitter);                                                                  \
		r->avg[i] = a_ + (j_ ? rnd_next(&s) % j_ : 0);                                                         \
		r->max[i] = r->avg[i] + (j_ ? rnd_next(&s) % j_ : 0);                                                  \
	} while (0)
	GAUGE(VM_M_VCPUS, p->vcpus, 0);
	GAUGE(VM_M_MEM_MAX_KIB, p->mem_kib, 0);
	GAUGE(VM_M_BALLOON_KIB, p->mem_kib, 0);
	GAUGE(VM_M_RSS_KIB, p->rss_kib, 2048);
	uint64_t usable = p->mem_kib - p->rss_kib / 2;
	GAUGE(VM_M_USABLE_KIB, usable, 4096);
	GAUGE(VM_M_AVAILABLE_KIB, p->mem_kib - 65536, 0);
	GAUGE(VM_M_UNUSED_KIB, usable / 3, 4096);
	GAUGE(VM_M_DISK_CAPACITY, p->disk_cap, 0);
	/* Allocation grows with the writes (thin provisioning). */
	GAUGE(VM_M_DISK_ALLOCATION, p->disk_alloc + (uint64_t)m * (p->disk_mean > 4e6 ? 1048576 : 0), 0);
#undef GAUGE
}

/* Inventory states so that owners exist: one per VM, valid a minute
 * before the day, in transactions of 500. */
static void write_inventory(struct col_db *db, struct vm_pg *conn, const struct vm_profile *prof, size_t vms,
                            int64_t t0)
{
	struct vm_inventory *inv = vm_xcalloc(1, sizeof *inv);
	for (size_t v = 0; v < vms; v++) {
		if (v % 500 == 0 && col_db_begin(db) < 0)
			goto fail;
		const struct vm_profile *p = &prof[v];
		memset(inv, 0, sizeof *inv);
		memcpy(inv->uuid, p->uuid, sizeof inv->uuid);
		snprintf(inv->name, sizeof inv->name, "vm-%05zu", v);
		inv->id = (int)v + 1;
		inv->vcpus = inv->max_vcpus = p->vcpus;
		inv->memory_kib = inv->current_memory_kib = p->mem_kib;
		inv->n_disks = 1;
		snprintf(inv->disks[0].target, sizeof inv->disks[0].target, "vda");
		snprintf(inv->disks[0].bus, sizeof inv->disks[0].bus, "virtio");
		snprintf(inv->disks[0].device, sizeof inv->disks[0].device, "disk");
		snprintf(inv->disks[0].source, sizeof inv->disks[0].source, "/var/lib/libvirt/images/vm-%05zu.qcow2",
		         v);
		inv->disks[0].capacity = p->disk_cap;
		inv->n_nics = 1;
		snprintf(inv->nics[0].mac, sizeof inv->nics[0].mac, "52:54:00:%02x:%02x:%02x",
		         (unsigned)(v >> 16) & 255, (unsigned)(v >> 8) & 255, (unsigned)v & 255);
		snprintf(inv->nics[0].target, sizeof inv->nics[0].target, "vnet%zu", v);
		snprintf(inv->nics[0].type, sizeof inv->nics[0].type, "bridge");
		snprintf(inv->nics[0].source, sizeof inv->nics[0].source, "br0");
		snprintf(inv->nics[0].model, sizeof inv->nics[0].model, "virtio");
		inv->owner.source = VM_OWNER_METADATA;
		snprintf(inv->owner.tenant, sizeof inv->owner.tenant, "tenant-%03u", p->tenant);
		snprintf(inv->owner.project, sizeof inv->owner.project, "project-%u", p->project);
		snprintf(inv->owner.cost_centre, sizeof inv->owner.cost_centre, "cc-%u", p->tenant % 17);
		if (col_db_write_inventory(db, HOSTNAME, inv, t0 - VM_NS_PER_MIN) < 0)
			goto fail;
		if ((v % 500 == 499 || v + 1 == vms) && col_db_commit(db) < 0)
			goto fail;
	}
	free(inv);
	return;
fail:
	fprintf(stderr, "vmeter-bench-storage: inventory: %s\n", vm_pg_error(conn));
	exit(1);
}

/* The batch as COPY text for the tables themselves (ids resolved),
 * appended to *buf. */
static size_t copy_text(char **buf, size_t *cap, const struct vm_db_usage *rows, const long *vm_ids,
                        const size_t *vm_index, size_t n, long host_id)
{
	const struct vm_meter_set *set = vm_usage_vm_meters();
	size_t off = 0;
	for (size_t k = 0; k < n; k++) {
		if (*cap - off < 2048) {
			*cap *= 2;
			*buf = vm_xrealloc(*buf, *cap);
		}
		const struct vm_usage_row *row = &rows[k].row;
		char ts[48];
		vm_time_format(row->minute_ns, ts, sizeof ts);
		char *b = *buf;
		off += (size_t)snprintf(b + off, *cap - off, "%ld\t%ld\t%s\t%d\t%d\t0", host_id, vm_ids[vm_index[k]],
		                        ts, row->coverage_ms, row->samples);
		for (size_t i = 0; i < set->n; i++) {
			if (i < set->n_counters)
				off += (size_t)snprintf(b + off, *cap - off, "\t%llu", (unsigned long long)row->sum[i]);
			else
				off +=
				    (size_t)snprintf(b + off, *cap - off, "\t%llu\t%llu",
				                     (unsigned long long)row->avg[i], (unsigned long long)row->max[i]);
		}
		b[off++] = '\n';
	}
	return off;
}

static void copy_into(PGconn *pg, const char *table, const char *text, size_t len)
{
	exec_ok(pg, "BEGIN");
	char sql[128];
	snprintf(sql, sizeof sql, "COPY %s FROM STDIN", table);
	PGresult *r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_COPY_IN)
		die("COPY", pg);
	PQclear(r);
	if (PQputCopyData(pg, text, (int)len) != 1 || PQputCopyEnd(pg, NULL) != 1)
		die("COPY data", pg);
	while ((r = PQgetResult(pg))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			die("COPY end", pg);
		PQclear(r);
	}
	exec_ok(pg, "COMMIT");
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr,
		        "usage: vmeter-bench-storage CONNINFO VMS MINUTES BATCH TENANTS DAY_EPOCH [REF_MINUTES]\n");
		return 2;
	}
	size_t vms = strtoul(argv[2], NULL, 10), minutes = strtoul(argv[3], NULL, 10);
	size_t batch = strtoul(argv[4], NULL, 10);
	unsigned tenants = (unsigned)strtoul(argv[5], NULL, 10);
	int64_t t0 = strtoll(argv[6], NULL, 10) * VM_NS_PER_SEC;
	size_t ref_minutes = argc > 7 ? strtoul(argv[7], NULL, 10) : minutes;
	if (ref_minutes > minutes)
		ref_minutes = minutes;
	if (!vms || !minutes || !batch || !tenants) {
		fprintf(stderr, "vmeter-bench-storage: VMS, MINUTES, BATCH and TENANTS must be positive\n");
		return 2;
	}
	size_t n = vms * minutes;
	struct vm_pg *conn = vm_pg_new(argv[1], 0, -1);
	unsigned from, to;
	if (vm_pg_connect(conn) < 0 || vm_pg_migrate(conn, &from, &to) < 0) {
		fprintf(stderr, "vmeter-bench-storage: %s\n", vm_pg_error(conn));
		return 1;
	}
	struct col_db *db = col_db_new(conn);
	PGconn *pg = PQconnectdb(argv[1]);
	if (PQstatus(pg) != CONNECTION_OK)
		die("connect", pg);
	exec_ok(pg, "SET TIME ZONE 'UTC'");

	struct vm_profile *prof = vm_xcalloc(vms, sizeof *prof);
	for (size_t v = 0; v < vms; v++)
		make_profile(&prof[v], v, tenants);
	double a = now_s();
	write_inventory(db, conn, prof, vms, t0);
	printf("inventory: %zu VMs of %u tenants recorded in %.1f s (col_db_write_inventory, 500 a transaction)\n", vms,
	       tenants, now_s() - a);

	/* The reference tables: like vm_usage_minute (columns, defaults,
	 * checks, primary key and the minute index), one partitioned by the
	 * same day ranges, one not; neither has the dirty-marking trigger. */
	char day0[48], day1[48], sql[1024];
	exec_ok(pg, "DROP TABLE IF EXISTS bench_part, bench_flat");
	exec_ok(pg, "CREATE TABLE bench_part (LIKE vm_usage_minute INCLUDING ALL) PARTITION BY RANGE (minute)");
	exec_ok(pg, "CREATE TABLE bench_flat (LIKE vm_usage_minute INCLUDING ALL)");
	int64_t first_day = t0 / (86400 * VM_NS_PER_SEC),
	        last_day = (t0 + (int64_t)(minutes - 1) * VM_NS_PER_MIN) / (86400 * VM_NS_PER_SEC);
	for (int64_t d = first_day; d <= last_day; d++) {
		vm_time_format(d * 86400 * VM_NS_PER_SEC, day0, sizeof day0);
		vm_time_format((d + 1) * 86400 * VM_NS_PER_SEC, day1, sizeof day1);
		time_t tt = (time_t)(d * 86400);
		struct tm tm;
		gmtime_r(&tt, &tm);
		snprintf(
		    sql, sizeof sql,
		    "CREATE TABLE bench_part_p%04d%02d%02d PARTITION OF bench_part FOR VALUES FROM ('%s') TO ('%s')",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, day0, day1);
		exec_ok(pg, sql);
	}

	/* The host and VM ids, for the plain COPY text. */
	struct vm_db_usage *rows = vm_xcalloc(batch, sizeof *rows);
	size_t *vm_index = vm_xcalloc(batch, sizeof *vm_index);
	long *vm_ids = vm_xcalloc(vms, sizeof *vm_ids);
	PGresult *r = PQexec(pg, "SELECT host_id FROM host WHERE hostname = '" HOSTNAME "'");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		die("host lookup", pg);
	long host_id = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	for (size_t v = 0; v < vms; v++) {
		const char *pv[] = {prof[v].uuid};
		r = PQexecParams(pg, "SELECT vm_id FROM vm WHERE uuid = $1::uuid", 1, NULL, pv, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
			die("vm lookup", pg);
		vm_ids[v] = atol(PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	exec_ok(pg, "CHECKPOINT");

	size_t cap = batch * 700 + 4096, len = 0;
	char *text = vm_xmalloc(cap);
	double t_del = 0, c_del = 0, t_part = 0, t_flat = 0, t_del_ref = 0;
	size_t n_ref = 0;
	uint64_t seq = 0;
	size_t done = 0, next_report = n / 10;
	a = now_s();
	for (size_t k = 0; k < n; k += batch) {
		size_t nb = n - k < batch ? n - k : batch;
		/* The simulated collectors' rows: minute by minute, VM by VM,
		 * cut into the writer's batches (outside the clocks). */
		for (size_t i = 0; i < nb; i++) {
			size_t m = (k + i) / vms, v = (k + i) % vms;
			make_row(&rows[i], &prof[v], v, m, t0);
			vm_index[i] = v;
		}
		/* vmeter's delivery path, as collector/writer.c's deliver():
		 * day partitions, one transaction with the delivery mark. */
		double w0 = now_s(), c0 = cpu_s();
		size_t inserted;
		if (col_db_ensure_days(db, rows[0].row.minute_ns, rows[nb - 1].row.minute_ns) < 0 ||
		    col_db_begin(db) < 0 || col_db_write_usage(db, HOSTNAME, rows, nb, &inserted) < 0 ||
		    col_db_set_mark(db, HOSTNAME, "bench", ++seq) < 0 || col_db_commit(db) < 0 || inserted != nb) {
			fprintf(stderr, "vmeter-bench-storage: delivery failed: %s\n", vm_pg_error(conn));
			return 1;
		}
		double d = now_s() - w0;
		t_del += d;
		c_del += cpu_s() - c0;
		done += nb;
		if (done >= next_report) {
			fprintf(stderr, "# %3.0f %%: %zu rows, %.0f s\n", 100.0 * (double)done / (double)n, done,
			        now_s() - a);
			next_report += n / 10;
		}
		if ((k + nb - 1) / vms >= ref_minutes)
			continue;
		t_del_ref += d;
		n_ref += nb;

		len = copy_text(&text, &cap, rows, vm_ids, vm_index, nb, host_id);
		w0 = now_s();
		copy_into(pg, "bench_part", text, len);
		t_part += now_s() - w0;
		w0 = now_s();
		copy_into(pg, "bench_flat", text, len);
		t_flat += now_s() - w0;
	}
	printf("rows: %zu (%zu VMs x %zu minutes, %zu meters each), batch %zu rows a transaction; %.0f s in all\n", n,
	       vms, minutes, vm_usage_vm_meters()->n, batch, now_s() - a);
	printf("%-62s %10s %10s %12s\n", "ingest path (interleaved batch by batch)", "rows", "seconds", "rows/s");
	printf("%-62s %10zu %10.1f %12.0f\n", "vmeter delivery path -> vm_usage_minute, whole run", n, t_del,
	       (double)n / t_del);
	printf("%-62s %10zu %10.1f %12.0f\n", "vmeter delivery path, the reference batches", n_ref, t_del_ref,
	       (double)n_ref / t_del_ref);
	printf("%-62s %10zu %10.1f %12.0f\n", "plain COPY -> bench_part (same day partitions)", n_ref, t_part,
	       (double)n_ref / t_part);
	printf("%-62s %10zu %10.1f %12.0f\n", "plain COPY -> bench_flat (unpartitioned)", n_ref, t_flat,
	       (double)n_ref / t_flat);
	printf("ratio delivery / plain COPY partitioned: %.2f (target >= 0.80); / unpartitioned: %.2f (first %zu "
	       "minutes)\n",
	       t_part / t_del_ref, t_flat / t_del_ref, ref_minutes);
	printf("delivery path client CPU: %.1f s (%.2f us a row: formatting, libpq)\n", c_del, c_del * 1e6 / (double)n);
	if (n_ref < n) {
		/* The rest of the day into bench_flat, for the DELETE. */
		char from_ts[48];
		vm_time_format(t0 + (int64_t)ref_minutes * VM_NS_PER_MIN, from_ts, sizeof from_ts);
		snprintf(sql, sizeof sql, "INSERT INTO bench_flat SELECT * FROM vm_usage_minute WHERE minute >= '%s'",
		         from_ts);
		a = now_s();
		exec_ok(pg, sql);
		printf("bench_flat: the other %zu rows copied from vm_usage_minute by INSERT ... SELECT in %.0f s "
		       "(untimed); bench_part holds only the first %zu minutes\n",
		       n - n_ref, now_s() - a, ref_minutes);
	}
	free(text);
	free(rows);
	free(vm_index);
	free(vm_ids);
	free(prof);
	PQfinish(pg);
	col_db_free(db);
	vm_pg_free(conn);
	return 0;
}
