/* Ingest benchmark: usage rows into PostgreSQL through vmeter's whole
 * delivery path (collector/writer: the spool read back and decoded, each
 * batch written with the host's delivery mark in one transaction, the
 * spool acknowledged after the commit) beside a plain COPY of the same rows
 * straight into the same table in the same batch size, in the same run.
 * The rounds alternate which side goes first; each prints its ratio, and
 * the median of the ratios closes the run.
 *
 *   vmeter-bench-ingest CONNINFO SPOOL_DIR [VMS [MINUTES [BATCH [ROUNDS]]]]
 *
 * The spool is filled before vmeter's clock starts (a writer whose
 * database is unreachable, stopped at once); the clock runs from a new
 * writer on that spool until it has no record pending. */
#include "config.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "dbwrite.h"
#include "log.h"
#include "pg.h"
#include "usage.h"
#include "vtime.h"
#include "writer.h"
#include "xalloc.h"

static double now_s(void)
{
	return (double)vm_monotonic_ns() / 1e9;
}

static void die(const char *what, PGconn *pg)
{
	fprintf(stderr, "vmeter-bench-ingest: %s: %s", what, pg ? PQerrorMessage(pg) : "\n");
	exit(1);
}

static void exec_ok(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die(sql, pg);
	PQclear(r);
}

/* Rows that look like a real fleet's: every VM meter present. */
static struct vm_db_usage *make_rows(size_t vms, size_t minutes, int64_t t0)
{
	struct vm_db_usage *rows = vm_xcalloc(vms * minutes, sizeof *rows);
	const struct vm_meter_set *set = vm_usage_vm_meters();
	for (size_t m = 0; m < minutes; m++) {
		for (size_t v = 0; v < vms; v++) {
			struct vm_db_usage *u = &rows[m * vms + v];
			snprintf(u->uuid, sizeof u->uuid, "%08x-0000-4000-8000-%012llx", (unsigned)(v & 0xffffffffu),
			         (unsigned long long)((v * 7919) & 0xffffffffffffULL));
			struct vm_usage_row *r = &u->row;
			r->set = set;
			r->minute_ns = t0 + (int64_t)m * VM_NS_PER_MIN;
			r->coverage_ms = 60000;
			r->samples = 6;
			r->have = (UINT64_C(1) << set->n) - 1;
			for (size_t i = 0; i < set->n; i++) {
				r->sum[i] = (uint64_t)(v * 1000003 + m * 7 + i * 13);
				r->avg[i] = r->max[i] = (uint64_t)(1048576 + v + i);
			}
		}
	}
	return rows;
}

/* The same rows as COPY text for vm_usage_minute itself (ids resolved). */
static char *copy_text(PGconn *pg, const struct vm_db_usage *rows, size_t n, size_t *len)
{
	PGresult *r = PQexec(pg, "SELECT host_id FROM host WHERE hostname = 'bench'");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		die("host lookup", pg);
	long host_id = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	size_t cap = n * 600 + 1024, off = 0;
	char *buf = vm_xmalloc(cap);
	const struct vm_meter_set *set = vm_usage_vm_meters();
	for (size_t k = 0; k < n; k++) {
		const struct vm_usage_row *row = &rows[k].row;
		char ts[48];
		vm_time_format(row->minute_ns, ts, sizeof ts);
		const char *params[] = {rows[k].uuid};
		static long last_id;
		static char last_uuid[37];
		if (strcmp(last_uuid, rows[k].uuid) != 0) {
			r = PQexecParams(pg, "SELECT vm_id FROM vm WHERE uuid = $1::uuid", 1, NULL, params, NULL, NULL,
			                 0);
			if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
				die("vm lookup", pg);
			last_id = atol(PQgetvalue(r, 0, 0));
			PQclear(r);
			snprintf(last_uuid, sizeof last_uuid, "%s", rows[k].uuid);
		}
		off += (size_t)snprintf(buf + off, cap - off, "%ld\t%ld\t%s\t%d\t%d\t0", host_id, last_id, ts,
		                        row->coverage_ms, row->samples);
		for (size_t i = 0; i < set->n; i++) {
			if (i < set->n_counters)
				off +=
				    (size_t)snprintf(buf + off, cap - off, "\t%llu", (unsigned long long)row->sum[i]);
			else
				off +=
				    (size_t)snprintf(buf + off, cap - off, "\t%llu\t%llu",
				                     (unsigned long long)row->avg[i], (unsigned long long)row->max[i]);
		}
		buf[off++] = '\n';
	}
	*len = off;
	return buf;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void clear_table(PGconn *pg)
{
	exec_ok(pg, "TRUNCATE vm_usage_minute");
	exec_ok(pg, "CHECKPOINT");
}

static struct col_writer *writer_open(const char *conninfo, const char *spool_dir, size_t batch)
{
	struct col_writer_opts o = {
	    .conninfo = conninfo,
	    .hostname = "bench",
	    .spool_dir = spool_dir,
	    .batch_rows = batch,
	    .reconnect_max_s = 2,
	    .timeout_s = 60,
	    .spool_cap = UINT64_C(4) << 30,
	    .sync = VM_SPOOL_SYNC_ALWAYS,
	};
	char err[512];
	struct col_writer *w = col_writer_new(&o, err, sizeof err);
	if (!w) {
		fprintf(stderr, "vmeter-bench-ingest: %s\n", err);
		exit(1);
	}
	return w;
}

/* vmeter's side of a round: seconds from the start of a writer on a full
 * spool until every record is delivered and acknowledged. */
static double run_vmeter(const char *conninfo, const char *spool_dir, const struct vm_db_usage *rows, size_t n,
                         size_t batch)
{
	/* A fresh spool each round: its own id, so the database's delivery
	 * mark of an earlier round moves nothing. */
	char *cmd = vm_xasprintf("rm -rf '%s'", spool_dir);
	if (system(cmd) != 0)
		die("cannot empty the spool directory", NULL);
	free(cmd);
	struct col_writer *fill = writer_open("host=/nonexistent-vmeter-bench dbname=none", spool_dir, batch);
	for (size_t k = 0; k < n; k++) {
		col_writer_push_usage(fill, rows[k].uuid, &rows[k].row);
		/* The collector commits once per pass: about a fleet's minute. */
		if ((k + 1) % batch == 0)
			col_writer_commit(fill);
	}
	col_writer_commit(fill);
	col_writer_free(fill, 0);

	double a = now_s();
	struct col_writer *w = writer_open(conninfo, spool_dir, batch);
	struct col_writer_stats st;
	for (;;) {
		st = col_writer_stats(w);
		if (st.pending == 0 && st.delivered + st.duplicates >= n)
			break;
		if (st.failures) {
			fprintf(stderr, "vmeter-bench-ingest: delivery failed (%llu failures)\n",
			        (unsigned long long)st.failures);
			exit(1);
		}
		usleep(1000);
	}
	double t = now_s() - a;
	col_writer_free(w, 500);
	if (st.delivered != n) {
		fprintf(stderr, "vmeter-bench-ingest: %llu rows delivered, not %zu\n", (unsigned long long)st.delivered,
		        n);
		exit(1);
	}
	return t;
}

/* The reference: the rows' COPY text in the same batch size, one
 * transaction each. */
static double run_copy(PGconn *pg, const char *text, size_t len, size_t batch)
{
	double a = now_s();
	for (size_t off = 0; off < len;) {
		size_t end = off, lines = 0;
		while (end < len && lines < batch)
			if (text[end++] == '\n')
				lines++;
		PGresult *r = PQexec(pg, "COPY vm_usage_minute FROM STDIN");
		if (PQresultStatus(r) != PGRES_COPY_IN)
			die("COPY", pg);
		PQclear(r);
		if (PQputCopyData(pg, text + off, (int)(end - off)) != 1 || PQputCopyEnd(pg, NULL) != 1)
			die("COPY data", pg);
		while ((r = PQgetResult(pg))) {
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				die("COPY end", pg);
			PQclear(r);
		}
		off = end;
	}
	return now_s() - a;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: vmeter-bench-ingest CONNINFO SPOOL_DIR [VMS [MINUTES [BATCH [ROUNDS]]]]\n");
		return 2;
	}
	const char *spool_dir = argv[2];
	size_t vms = argc > 3 ? strtoul(argv[3], NULL, 10) : 1000;
	size_t minutes = argc > 4 ? strtoul(argv[4], NULL, 10) : 60;
	size_t batch = argc > 5 ? strtoul(argv[5], NULL, 10) : 5000;
	int rounds = argc > 6 ? atoi(argv[6]) : 5;
	if (vms < 1 || minutes < 1 || batch < 1 || rounds < 1 || rounds > 100) {
		fprintf(stderr, "vmeter-bench-ingest: VMS, MINUTES, BATCH must be at least 1, ROUNDS 1 to 100\n");
		return 2;
	}
	size_t n = vms * minutes;
	/* The filling writer's "database unreachable" is expected. */
	vm_log_set_level(VM_LOG_ERR);
	struct vm_pg *conn = vm_pg_new(argv[1], 0, -1);
	unsigned from, to;
	if (vm_pg_connect(conn) < 0 || vm_pg_migrate(conn, &from, &to) < 0) {
		fprintf(stderr, "vmeter-bench-ingest: %s\n", vm_pg_error(conn));
		return 1;
	}
	struct col_db *db = col_db_new(conn);
	PGconn *pg = PQconnectdb(argv[1]);
	if (PQstatus(pg) != CONNECTION_OK)
		die("connect", pg);
	exec_ok(pg, "SET TIME ZONE 'UTC'");
	int64_t t0 = vm_minute_floor(vm_now_ns()) - (int64_t)minutes * VM_NS_PER_MIN;
	struct vm_db_usage *rows = make_rows(vms, minutes, t0);

	/* Registers the host and VMs once, so both sides find them. */
	size_t inserted;
	if (col_db_write_usage(db, "bench", rows, vms, &inserted) < 0) {
		fprintf(stderr, "vmeter-bench-ingest: %s\n", vm_pg_error(conn));
		return 1;
	}
	col_db_free(db);
	vm_pg_free(conn);
	size_t len;
	char *text = copy_text(pg, rows, n, &len);
	printf("rows: %zu (%zu VMs x %zu minutes, %zu meters each), batch %zu, %d rounds, order alternating\n", n, vms,
	       minutes, vm_usage_vm_meters()->n, batch, rounds);
	printf("%-6s %-14s %12s %12s %12s %12s %8s\n", "round", "first", "vmeter s", "vmeter rows/s", "COPY s",
	       "COPY rows/s", "ratio");
	double *ratio = vm_xcalloc((size_t)rounds, sizeof *ratio);
	for (int round = 1; round <= rounds; round++) {
		bool vmeter_first = round % 2 == 1;
		double tv = 0, tc = 0;
		for (int side = 0; side < 2; side++) {
			clear_table(pg);
			if ((side == 0) == vmeter_first)
				tv = run_vmeter(argv[1], spool_dir, rows, n, batch);
			else
				tc = run_copy(pg, text, len, batch);
		}
		ratio[round - 1] = tc / tv; /* vmeter's rate over COPY's */
		printf("%-6d %-14s %12.3f %12.0f %12.3f %12.0f %8.3f\n", round, vmeter_first ? "vmeter" : "COPY", tv,
		       (double)n / tv, tc, (double)n / tc, ratio[round - 1]);
		fflush(stdout);
	}
	qsort(ratio, (size_t)rounds, sizeof *ratio, cmp_double);
	double med = rounds % 2 ? ratio[rounds / 2] : (ratio[rounds / 2 - 1] + ratio[rounds / 2]) / 2;
	printf("ratio vmeter/COPY (rows/s): median %.3f, range %.3f-%.3f over %d rounds (target >= 0.80: %s)\n", med,
	       ratio[0], ratio[rounds - 1], rounds, med >= 0.8 ? "met" : "MISSED");
	free(ratio);
	free(text);
	free(rows);
	PQfinish(pg);
	return 0;
}
