/* Ingest benchmark: usage rows into PostgreSQL through vmeter's delivery
 * path (COPY into a staging table, then INSERT ... ON CONFLICT DO NOTHING,
 * in the collector's batch size) side by side with a plain COPY of the same
 * rows straight into the same table, in the same run, alternating.
 *
 *   vmeter-bench-ingest CONNINFO [VMS [MINUTES [BATCH [ROUNDS]]]] */
#include "config.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dbwrite.h"
#include "pg.h"
#include "usage.h"
#include "vtime.h"
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

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: vmeter-bench-ingest CONNINFO [VMS [MINUTES [BATCH [ROUNDS]]]]\n");
		return 2;
	}
	size_t vms = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	size_t minutes = argc > 3 ? strtoul(argv[3], NULL, 10) : 60;
	size_t batch = argc > 4 ? strtoul(argv[4], NULL, 10) : 5000;
	int rounds = argc > 5 ? atoi(argv[5]) : 3;
	size_t n = vms * minutes;
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
	size_t len;
	char *text = copy_text(pg, rows, n, &len);
	printf("rows: %zu (%zu VMs x %zu minutes, %zu meters each), batch %zu, %d rounds\n", n, vms, minutes,
	       vm_usage_vm_meters()->n, batch, rounds);
	printf("%-6s %-28s %10s %12s\n", "round", "path", "seconds", "rows/s");
	double best_v = 0, best_c = 0;
	for (int round = 1; round <= rounds; round++) {
		exec_ok(pg, "TRUNCATE vm_usage_minute");
		exec_ok(pg, "CHECKPOINT");
		double a = now_s();
		for (size_t k = 0; k < n; k += batch) {
			size_t m = n - k < batch ? n - k : batch;
			if (col_db_write_usage(db, "bench", rows + k, m, &inserted) < 0 || inserted != m) {
				fprintf(stderr, "vmeter-bench-ingest: write failed: %s\n", vm_pg_error(conn));
				return 1;
			}
		}
		double v = (double)n / (now_s() - a);
		printf("%-6d %-28s %10.3f %12.0f\n", round, "vmeter delivery path", (double)n / v, v);

		exec_ok(pg, "TRUNCATE vm_usage_minute");
		exec_ok(pg, "CHECKPOINT");
		a = now_s();
		for (size_t off = 0; off < len;) {
			/* COPY in the same batch size, one transaction each. */
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
		double c = (double)n / (now_s() - a);
		printf("%-6d %-28s %10.3f %12.0f\n", round, "plain COPY (reference)", (double)n / c, c);
		if (v > best_v)
			best_v = v;
		if (c > best_c)
			best_c = c;
	}
	printf("best: vmeter %.0f rows/s, plain COPY %.0f rows/s, ratio %.2f (target >= 0.80)\n", best_v, best_c,
	       best_v / best_c);
	free(text);
	free(rows);
	PQfinish(pg);
	col_db_free(db);
	vm_pg_free(conn);
	return 0;
}
