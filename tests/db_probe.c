/* Exercises lib/pg.c and the collector's writes (collector/dbwrite.c)
 * against a real PostgreSQL (tests/integration/db.sh): connect failures,
 * migrations, idempotent batches, partial resends, host rows, inventory
 * history and events.  Prints TAP. */
#include "config.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dbwrite.h"
#include "pg.h"
#include "vtime.h"
#include "xalloc.h"

static int n_test, n_fail;

static void ok(int cond, const char *desc)
{
	n_test++;
	if (!cond)
		n_fail++;
	printf("%sok %d - %s\n", cond ? "" : "not ", n_test, desc);
}

static long scalar(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atol(PQgetvalue(r, 0, 0)) : -1;
	if (v == -1)
		printf("# %s: %s", sql, PQerrorMessage(pg));
	PQclear(r);
	return v;
}

static void fill(struct vm_db_usage *u, int vm, int minute, int64_t t0)
{
	memset(u, 0, sizeof *u);
	snprintf(u->uuid, sizeof u->uuid, "00000000-0000-4000-8000-%012d", vm);
	u->row.set = vm_usage_vm_meters();
	u->row.minute_ns = t0 + (int64_t)minute * VM_NS_PER_MIN;
	u->row.coverage_ms = 60000;
	u->row.samples = 6;
	u->row.have = UINT64_C(1) << VM_M_CPU_NS | UINT64_C(1) << VM_M_RSS_KIB;
	u->row.sum[VM_M_CPU_NS] = (uint64_t)(vm * 1000 + minute);
	u->row.avg[VM_M_RSS_KIB] = 1024;
	u->row.max[VM_M_RSS_KIB] = 2048;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: db_probe CONNINFO\n");
		return 2;
	}
	printf("1..37\n");
	struct vm_pg *conn = vm_pg_new("host=/nonexistent dbname=x connect_timeout=1", 0, -1);
	ok(vm_pg_connect(conn) < 0 && strstr(vm_pg_error(conn), "cannot connect to the database") &&
	       vm_pg_failure(conn) == VM_PG_UNREACHABLE && vm_pg_broken(conn) && !vm_pg_exec(conn, "SELECT 1", 0, NULL),
	   "a failed connection says so, with libpq's reason, as unreachable");
	vm_pg_free(conn);
	conn = vm_pg_new(argv[1], 0, -1);
	if (vm_pg_connect(conn) < 0) {
		printf("Bail out! %s\n", vm_pg_error(conn));
		return 1;
	}
	struct col_db *db = col_db_new(conn);
	ok(vm_pg_check_schema(conn) < 0 && strstr(vm_pg_error(conn), "vmeter-admin migrate"),
	   "an empty database is refused, naming the fix");
	unsigned from, to;
	ok(vm_pg_migrate(conn, &from, &to) == 0 && from == 0 && to >= 1, "migrate from nothing");
	ok(vm_pg_check_schema(conn) == 0, "the schema is then current");

	/* The connection layer itself. */
	const char *pv[] = {"it's 42", NULL};
	PGresult *r = vm_pg_exec(conn, "SELECT $1::text, $2::text IS NULL", 2, pv);
	ok(r && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "it's 42") == 0 &&
	       strcmp(PQgetvalue(r, 0, 1), "t") == 0,
	   "a parameterised query returns its rows; a NULL parameter is SQL NULL");
	PQclear(r);
	ok(!vm_pg_exec(conn, "SELEC 1", 0, NULL) && vm_pg_failure(conn) == VM_PG_REFUSED &&
	       strcmp(vm_pg_sqlstate(conn), "42601") == 0 && strstr(vm_pg_error(conn), "syntax error") &&
	       !vm_pg_broken(conn),
	   "bad SQL is refused with the server's message and SQLSTATE; the connection stays");
	ok(vm_pg_cmd(conn, "SELECT 1; SELECT 2", 0, NULL) < 0 && vm_pg_failure(conn) == VM_PG_REFUSED,
	   "vm_pg_exec() takes one statement: several are refused");
	ok(vm_pg_script(conn, "CREATE TEMP TABLE probe_t (x int); INSERT INTO probe_t VALUES (1)") == 0,
	   "a script runs several statements");
	ok(vm_pg_begin(conn) == 0 && vm_pg_cmd(conn, "INSERT INTO probe_t VALUES (1/0)", 0, NULL) < 0 &&
	       vm_pg_commit(conn) < 0 && strstr(vm_pg_error(conn), "rolled back") && 1,
	   "COMMIT of a failed transaction fails: the server rolled it back");
	ok(vm_pg_begin(conn) == 0 && vm_pg_cmd(conn, "INSERT INTO probe_t VALUES (2)", 0, NULL) == 0 &&
	       (vm_pg_rollback(conn), 1) && vm_pg_cmd(conn, "SELECT 1", 0, NULL) == 0,
	   "a rollback leaves the connection usable");
	ok(vm_pg_alive(conn), "an idle connection is alive");
	PGconn *pg = PQconnectdb(argv[1]);

	int64_t t0 = vm_minute_floor(vm_now_ns()) - 100 * VM_NS_PER_MIN;
	struct vm_db_usage a[40], b[60];
	for (int i = 0; i < 40; i++)
		fill(&a[i], i % 10, i / 10, t0); /* 10 VMs x minutes 0-3 */
	for (int i = 0; i < 60; i++)
		fill(&b[i], i % 10, i / 10 + 2, t0); /* minutes 2-7: 2 and 3 overlap */
	size_t ins = 99;
	ok(col_db_write_usage(db, "hv-a", a, 40, &ins) == 0 && ins == 40, "a new batch is stored whole");
	ok(col_db_write_usage(db, "hv-a", a, 40, &ins) == 0 && ins == 0, "the same batch again stores nothing");
	/* Every stored minute's (hour, host) dirty, whichever way its batch
	 * went in: straight (a), skipped whole (a again) or through staging
	 * (b); the marks cleared before b show that b marks its new minutes
	 * itself. */
	const char *unmarked = "SELECT count(*) FROM vm_usage_minute m WHERE NOT EXISTS (SELECT 1 FROM rollup_dirty d "
	                       "WHERE d.hour = date_trunc('hour', m.minute, 'UTC') AND d.host_id = m.host_id)";
	ok(scalar(pg, unmarked) == 0 && scalar(pg, "SELECT count(*) FROM rollup_dirty") ==
	                                    scalar(pg, "SELECT count(DISTINCT date_trunc('hour', minute, 'UTC')) "
	                                               "FROM vm_usage_minute"),
	   "a batch marks the hours of its minutes dirty, no other");
	PQclear(PQexec(pg, "DELETE FROM rollup_dirty"));
	ok(col_db_write_usage(db, "hv-a", b, 60, &ins) == 0 && ins == 40,
	   "an overlapping batch stores only its new rows");
	char b_unmarked[512];
	snprintf(b_unmarked, sizeof b_unmarked,
	         "%s AND m.minute >= (SELECT min(minute) + interval '2 minutes' FROM "
	         "vm_usage_minute)",
	         unmarked);
	ok(scalar(pg, b_unmarked) == 0, "and marks the hours of its minutes dirty");
	ok(scalar(pg, "SELECT count(*) FROM vm_usage_minute") == 80, "80 distinct VM-minutes in the table");
	ok(scalar(pg, "SELECT sum(cpu_ns) FROM vm_usage_minute") ==
	       (long)(45 * 1000 * 8 /* 0..9 x 1000 over 8 minutes */ + 10 * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7)),
	   "each minute counted once");
	ok(scalar(pg, "SELECT count(*) FROM vm_usage_minute WHERE rss_kib_avg = 1024 AND rss_kib_max = 2048 AND "
	              "vcpus_avg IS NULL AND net_rx_bytes IS NULL") == 80,
	   "gauges stored as avg and max; absent meters are NULL, not zero");
	ok(col_db_write_usage(db, "hv-b", a, 40, &ins) == 0 && ins == 40,
	   "the same VM-minutes from another host are their own rows (migration)");

	/* Batches of many COPY parts: the second's last rows are stored
	 * already, so the key fails after most of it has been sent. */
	enum { BIG = 2000 };
	struct vm_db_usage *big = vm_xcalloc(BIG, sizeof *big);
	for (int i = 0; i < BIG; i++)
		fill(&big[i], i % 10, i / 10, t0); /* 10 VMs x minutes 0-199 */
	ok(col_db_write_usage(db, "hv-c", big, BIG, &ins) == 0 && ins == BIG, "a batch of many parts is stored whole");
	for (int i = 0; i < BIG; i++)
		fill(&big[i], i % 10, (i / 10 + 10) % 200 + 100, t0); /* minutes 110-299, then 100-109 */
	ok(col_db_write_usage(db, "hv-c", big, BIG, &ins) == 0 && ins == 1000 &&
	       scalar(pg, "SELECT count(*) FROM vm_usage_minute m JOIN host h USING (host_id) WHERE h.hostname = "
	                  "'hv-c'") == 3000,
	   "one whose end is stored already stores the rest, once");
	free(big);

	struct vm_db_usage h[2];
	memset(h, 0, sizeof h);
	for (int i = 0; i < 2; i++) {
		h[i].row.set = vm_usage_host_meters();
		h[i].row.minute_ns = t0 + i * VM_NS_PER_MIN;
		h[i].row.coverage_ms = 60000;
		h[i].row.have = UINT64_C(1) << HOST_M_CPU_BUSY_NS;
		h[i].row.sum[HOST_M_CPU_BUSY_NS] = 5;
	}
	ok(col_db_write_usage(db, "hv-a", h, 2, &ins) == 0 && ins == 2 &&
	       col_db_write_usage(db, "hv-a", h, 2, &ins) == 0 && ins == 0,
	   "host rows are idempotent too");

	struct vm_inventory *inv = vm_xcalloc(1, sizeof *inv);
	snprintf(inv->uuid, sizeof inv->uuid, "00000000-0000-4000-8000-000000000001");
	snprintf(inv->name, sizeof inv->name, "vm1");
	inv->vcpus = inv->max_vcpus = 2;
	inv->memory_kib = inv->current_memory_kib = 1048576;
	inv->owner.source = VM_OWNER_METADATA;
	snprintf(inv->owner.tenant, sizeof inv->owner.tenant, "acme");
	int64_t t = t0;
	int rc =
	    col_db_write_inventory(db, "hv-a", inv, t) | col_db_write_inventory(db, "hv-a", inv, t + VM_NS_PER_SEC);
	inv->vcpus = 4;
	rc |= col_db_write_inventory(db, "hv-a", inv, t + 2 * VM_NS_PER_SEC);
	ok(rc == 0 && scalar(pg, "SELECT count(*) FROM vm_inventory") == 2,
	   "inventory: an unchanged state is not recorded again, a resize is");
	ok(scalar(pg, "SELECT vcpus FROM vm_inventory ORDER BY valid_from DESC LIMIT 1") == 4,
	   "the resize is the latest");
	ok(col_db_write_event(db, "hv-a", inv->uuid, t, "started", "booted") == 0 &&
	       col_db_write_event(db, "hv-a", inv->uuid, t, "started", "booted") == 0 &&
	       scalar(pg, "SELECT count(*) FROM vm_event") == 1,
	   "events are idempotent");
	ok(col_db_write_event(db, "hv-a", "not-a-uuid", t, "started", "") < 0 &&
	       strstr(vm_pg_error(conn), "invalid input syntax for type uuid"),
	   "bad input is refused with the database's reason");
	free(inv);

	/* One transaction around several writes, with the delivery mark. */
	struct vm_db_usage c[5];
	for (int i = 0; i < 5; i++)
		fill(&c[i], 50 + i, 0, t0);
	uint64_t mark = 99;
	ok(col_db_get_mark(db, "hv-a", "spool-1", &mark) == 0 && mark == 0, "no delivery mark before any");
	rc = col_db_begin(db) | col_db_write_usage(db, "hv-a", c, 5, &ins) |
	     col_db_write_event(db, "hv-a", c[0].uuid, t, "started", "booted") |
	     col_db_set_mark(db, "hv-a", "spool-1", 42);
	ok(rc == 0 && col_db_commit(db) == 0 && col_db_get_mark(db, "hv-a", "spool-1", &mark) == 0 && mark == 42,
	   "rows, an event and the mark commit together");
	long before = scalar(pg, "SELECT count(*) FROM vm_usage_minute");
	for (int i = 0; i < 5; i++)
		fill(&c[i], 60 + i, 0, t0);
	long events = scalar(pg, "SELECT count(*) FROM vm_event");
	inv = vm_xcalloc(1, sizeof *inv);
	snprintf(inv->uuid, sizeof inv->uuid, "%s", c[1].uuid);
	snprintf(inv->name, sizeof inv->name, "vm61");
	struct vm_host_info hi = {.hostname = "hv-a", .cpus = 4};
	rc = col_db_begin(db) | col_db_write_usage(db, "hv-a", c, 5, &ins) |
	     col_db_write_event(db, "hv-a", c[0].uuid, t + 5, "stopped", "") |
	     col_db_write_inventory(db, "hv-a", inv, t) | col_db_host_register(db, &hi, t) |
	     col_db_set_mark(db, "hv-a", "spool-1", 50);
	col_db_rollback(db);
	free(inv);
	ok(rc == 0 && scalar(pg, "SELECT count(*) FROM vm_usage_minute") == before &&
	       scalar(pg, "SELECT count(*) FROM vm_event") == events &&
	       scalar(pg, "SELECT count(*) FROM vm_inventory WHERE name = 'vm61'") == 0 &&
	       scalar(pg, "SELECT count(*) FROM host_inventory") == 0 &&
	       col_db_get_mark(db, "hv-a", "spool-1", &mark) == 0 && mark == 42,
	   "a rolled-back transaction leaves no rows, events, inventory nor mark");
	ok(col_db_write_usage(db, "hv-a", c, 5, &ins) == 0 && ins == 5,
	   "VMs registered in a rolled-back transaction are registered again");
	ok(col_db_set_mark(db, "hv-a", "spool-1", 7) == 0 && col_db_get_mark(db, "hv-a", "spool-1", &mark) == 0 &&
	       mark == 42 && col_db_set_mark(db, "hv-a", "spool-2", 3) == 0 &&
	       col_db_get_mark(db, "hv-a", "spool-2", &mark) == 0 && mark == 3,
	   "the mark never goes back within a spool; a new spool starts its own");

	/* Traffic minutes: a second write of the same batch (a resend after a
	 * lost commit) stores nothing twice, through the staging path; a
	 * batch with one new minute among old ones stores just that one. */
	struct vm_db_traffic_class cls[2] = {{"internal", 2840, 1000, 20, 7}, {"internet", 0, 920, 0, 10}};
	struct vm_db_traffic tr[2] = {
	    {.minute_ns = t0,
	     .captured_ms = 59000,
	     .have_libvirt_rx = true,
	     .libvirt_rx_bytes = 3000,
	     .classes = cls,
	     .n_classes = 2},
	    {.minute_ns = t0 + VM_NS_PER_MIN, .captured_ms = 60000, .classes = cls, .n_classes = 1},
	};
	snprintf(tr[0].uuid, sizeof tr[0].uuid, "%s", c[0].uuid);
	snprintf(tr[1].uuid, sizeof tr[1].uuid, "%s", c[0].uuid);
	struct vm_db_host_capture hcap = {.minute_ns = t0, .frames = 37, .drops = 1, .uncovered_ms = 250};
	size_t ins1 = 0, ins2 = 0;
	rc = col_db_begin(db) | col_db_write_traffic(db, "hv-a", tr, 1, &hcap, 1, &ins1) |
	     col_db_set_mark(db, "hv-a", "spool-1", 60);
	rc |= col_db_commit(db);
	ok(rc == 0 && ins1 == 2 && scalar(pg, "SELECT count(*) FROM vm_traffic_minute") == 2 &&
	       scalar(pg, "SELECT captured_rx_bytes FROM vm_capture_minute") == 2840 &&
	       scalar(pg, "SELECT captured_tx_bytes FROM vm_capture_minute") == 1920 &&
	       scalar(pg, "SELECT count(*) FROM vm_capture_minute WHERE libvirt_tx_bytes IS NULL") == 1 &&
	       scalar(pg, "SELECT rx_unclassified_pct * 100 FROM vm_capture_coverage") == 533 &&
	       scalar(pg, "SELECT drops FROM host_capture_minute") == 1,
	   "traffic, coverage and host capture rows are written");
	rc = col_db_write_traffic(db, "hv-a", tr, 1, &hcap, 1, &ins2);
	ok(rc == 0 && ins2 == 0 && scalar(pg, "SELECT count(*) FROM vm_traffic_minute") == 2 &&
	       scalar(pg, "SELECT sum(rx_bytes) FROM vm_traffic_minute") == 2840 &&
	       scalar(pg, "SELECT count(*) FROM host_capture_minute") == 1,
	   "a resent traffic batch changes nothing");
	rc = col_db_write_traffic(db, "hv-a", tr, 2, NULL, 0, &ins2);
	ok(rc == 0 && ins2 == 1 && scalar(pg, "SELECT count(*) FROM vm_traffic_minute") == 3 &&
	       scalar(pg, "SELECT count(*) FROM vm_capture_minute") == 2,
	   "of a batch partly stored, only the new minute is added");
	ok(vm_pg_migrate(conn, &from, &to) == 0 && from == to, "migrate again is a no-op");
	PQfinish(pg);
	col_db_free(db);
	pg = vm_pg_take_conn(conn);
	r = PQexec(pg, "SELECT count(*) FROM schema_migrations");
	ok(pg && PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) == (int)to,
	   "the connection taken out of the handle runs libpq's own calls; one row per migration");
	PQclear(r);
	PQfinish(pg);
	return n_fail ? 1 : 0;
}
