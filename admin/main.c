/* vmeter-admin: database migrations and a look at what was measured,
 * before (and beside) any web UI.
 *
 *   vmeter-admin [-c FILE] migrate
 *   vmeter-admin [-c FILE] maintain [--now T] [--grace S] [--ahead DAYS] [--raw-days N] [--hourly-days N]
 *                                   [--daily-days N] [--pack-after-days N] [--no-retention] [--no-pack]
 *   vmeter-admin [-c FILE] unpack --from T --to T
 *   vmeter-admin [-c FILE] usage [--from T] [--to T] [--vm NAME|UUID] [--host NAME] [--hosts] [--traffic] [--csv]
 *   vmeter-admin [-c FILE] total [--from T] [--to T] [--vm NAME|UUID] [--host NAME] [--tenant T] [--project P]
 *                                [--csv]
 *   vmeter-admin [-c FILE] vms [--at T] [--host NAME] [--tenant T] [--project P] [--csv]
 *   vmeter-admin [-c FILE] hosts [--at T] [--csv]
 *   vmeter-admin [-c FILE] lifecycle [--from T] [--to T] [--vm NAME|UUID] [--csv]
 *   vmeter-admin [-c FILE] graph (--vm NAME|UUID | --host NAME) --out FILE.png [--from T] [--to T] [--ds LIST]
 *   vmeter-admin [-c FILE] status [--json]
 *   vmeter-admin [-c FILE] alerts [--state S] [--rule R] [--csv]
 *   vmeter-admin [-c FILE] audit [--rule R] [--vm NAME|UUID] [--since T] [--json | --csv] */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "conf.h"
#include "log.h"
#include "maint.h"
#include "pg.h"
#include "query.h"
#include "rrdout.h"
#include "usage.h"
#include "vtime.h"
#include "xalloc.h"

struct args {
	const char *from, *to, *vm, *host, *out, *ds, *now;
	const char *grace, *ahead, *raw_days, *hourly_days, *daily_days, *pack_after;
	const char *at, *tenant, *project, *state, *rule, *since;
	/* Which long options were given, by their index in main's table:
	 * the commands that check what they take (only_options). */
	unsigned long long given;
	bool csv, hosts, json, traffic, no_retention, no_pack, by_owner;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: vmeter-admin [-c FILE] COMMAND [OPTIONS]\n"
	           "commands:\n"
	           "  migrate                 create or upgrade the database schema\n"
	           "  maintain                partitions ahead, rollups of closed hours, retention (run it from\n"
	           "                          cron or a timer every few minutes; one run at a time)\n"
	           "      --now T             the time to act as (tests)   --grace S  an hour closes S seconds\n"
	           "                          after its end (120)          --ahead D  partitions D days ahead (7)\n"
	           "      --raw-days N --hourly-days N --daily-days N   keep minutes / hourly / daily rollups\n"
	           "                          N days (stored in the database; default 62 / 400 / 3660)\n"
	           "      --pack-after-days N pack the VM minutes of days that ended N days ago (stored;\n"
	           "                          default 2)\n"
	           "      --no-retention      drop nothing this run   --no-pack  pack nothing this run\n"
	           "  unpack --from T --to T  put the packed VM minutes of these whole UTC hours back into\n"
	           "                          vm_usage_minute (the next maintain packs them again)\n"
	           "  usage                   per-minute usage rows from PostgreSQL\n"
	           "      --from T --to T     time range (default: the last hour); T is 'YYYY-MM-DD HH:MM[:SS]'\n"
	           "                          (UTC), '@EPOCH', 'now' or 'now-2h'\n"
	           "      --vm NAME|UUID      one VM        --host NAME   one host\n"
	           "      --hosts             host rows instead of VM rows\n"
	           "      --traffic           traffic by class and capture coverage (with --hosts: capture health)\n"
	           "      --csv               every column, as CSV\n"
	           "  total                   usage summed over a range per VM, host and owner, from the\n"
	           "                          rollups where they cover it and minutes for the rest\n"
	           "      --from T --to T --vm NAME|UUID --host NAME --tenant T --project P --csv\n"
	           "      --by-owner          one row per tenant, project and cost centre\n"
	           "  vms                     the VM inventory as recorded last (--at T: as it was then)\n"
	           "      --at T --host NAME --tenant T --project P --csv\n"
	           "  hosts                   the hosts and their inventory (--at T: as it was then)\n"
	           "  lifecycle               each VM's running / paused / off / gone spans in a range\n"
	           "      --from T --to T --vm NAME|UUID --csv\n"
	           "  graph                   render a PNG from the RRD files\n"
	           "      --vm NAME|UUID | --host NAME, --out FILE.png, --from T --to T, --ds DS[,DS...]\n"
	           "  status                  the collector's spool and delivery, from its status file\n"
	           "      --json              the status document as the collector wrote it\n"
	           "  alerts                  the aggregator's alerts that are not inactive, with their state,\n"
	           "                          since when, subject and the values of their last transition\n"
	           "      --state S           inactive, pending, firing, resolved or all\n"
	           "      --rule R            one rule     --csv  every column, as CSV\n"
	           "  audit                   the aggregator's decisions: alert -> decision (verdict, reason) ->\n"
	           "                          action -> result -> the follow-up (did it help?)\n"
	           "      --rule R --vm NAME|UUID --since T    --json  one JSON object a line   --csv\n");
}

static PGconn *connect_db(const struct vm_conf *conf)
{
	/* Bounded like the collector's: a connect that gets no answer, or a
	 * server that vanishes, ends the command rather than hanging it. */
	struct vm_pg *db = vm_pg_new(conf->db_conninfo, conf->db_timeout_s, -1);
	if (vm_pg_connect(db) < 0) {
		fprintf(stderr, "vmeter-admin: %s\n", vm_pg_error(db));
		vm_pg_free(db);
		return NULL;
	}
	return vm_pg_take_conn(db);
}

static int cmd_migrate(const struct vm_conf *conf)
{
	/* No round-trip bound: a migration may rewrite a large table, and
	 * waits while another migrate holds the lock. */
	struct vm_pg *db = vm_pg_new(conf->db_conninfo, 0, -1);
	if (vm_pg_connect(db) < 0) {
		fprintf(stderr, "vmeter-admin: %s\n", vm_pg_error(db));
		vm_pg_free(db);
		return 1;
	}
	unsigned from, to;
	int rc = vm_pg_migrate(db, &from, &to);
	if (rc < 0)
		fprintf(stderr, "vmeter-admin: %s\n", vm_pg_error(db));
	else if (from == to)
		printf("schema is up to date (version %u)\n", to);
	else
		printf("schema migrated from version %u to %u\n", from, to);
	vm_pg_free(db);
	return rc < 0 ? 1 : 0;
}

static int int_arg(const char *opt, const char *v, int min, int max, int *out)
{
	if (!v)
		return 0;
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max) {
		fprintf(stderr, "vmeter-admin: %s must be a whole number from %d to %d, not '%s'\n", opt, min, max, v);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static void print_note(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

static int cmd_maintain(const struct vm_conf *conf, const struct args *a)
{
	struct vm_maint_opts o;
	vm_maint_opts_init(&o);
	if (a->now && vm_time_parse(a->now, o.now_ns, &o.now_ns) < 0) {
		fprintf(stderr, "vmeter-admin: bad --now time '%s'\n", a->now);
		return 2;
	}
	if (int_arg("--grace", a->grace, 0, 86400, &o.grace_s) || int_arg("--ahead", a->ahead, 1, 366, &o.ahead_days) ||
	    int_arg("--raw-days", a->raw_days, 1, 36600, &o.raw_days) ||
	    int_arg("--hourly-days", a->hourly_days, 1, 36600, &o.hourly_days) ||
	    int_arg("--daily-days", a->daily_days, 1, 36600, &o.daily_days) ||
	    int_arg("--pack-after-days", a->pack_after, 1, 36600, &o.pack_after_days))
		return 2;
	o.no_retention = a->no_retention;
	o.no_pack = a->no_pack;
	o.note = print_note;
	char err[1024];
	if (vm_maint_check(NULL, &o, err, sizeof err) < 0) {
		fprintf(stderr, "vmeter-admin: %s\n", err);
		return 2;
	}
	PGconn *pg = connect_db(conf);
	if (!pg)
		return 1;
	struct vm_maint_report r;
	int64_t t0 = vm_monotonic_ns();
	enum vm_maint_result rc = vm_maint_run(pg, &o, &r, err, sizeof err);
	PQfinish(pg);
	if (rc != VM_MAINT_OK) {
		fprintf(stderr, "vmeter-admin: maintain: %s\n", err);
		return rc == VM_MAINT_BUSY ? 75 : rc == VM_MAINT_BAD_OPTION ? 2 : 1;
	}
	printf("partitions created: %u; hours rolled up: %u (%" PRIu64 " VM-hours unpacked); partitions dropped: %u, "
	       "kept: %u; days packed: %u (%" PRIu64 " VM-hours); %.2f s\n",
	       r.partitions_created, r.hours_rolled, r.hours_unpacked, r.partitions_dropped, r.partitions_kept,
	       r.days_packed, r.hours_packed, (double)(vm_monotonic_ns() - t0) / 1e9);
	return 0;
}

static int range_ns(const struct args *a, int64_t *f, int64_t *t);

static int cmd_unpack(const struct vm_conf *conf, const struct args *a)
{
	int64_t f, t;
	if (!a->from || !a->to) {
		fprintf(stderr, "vmeter-admin: unpack needs --from and --to\n");
		return 2;
	}
	if (range_ns(a, &f, &t) < 0)
		return 2;
	PGconn *pg = connect_db(conf);
	if (!pg)
		return 1;
	char err[1024];
	uint64_t hours;
	enum vm_maint_result rc = vm_maint_unpack(pg, f, t, &hours, err, sizeof err);
	PQfinish(pg);
	if (rc != VM_MAINT_OK) {
		fprintf(stderr, "vmeter-admin: unpack: %s\n", err);
		return rc == VM_MAINT_BUSY ? 75 : rc == VM_MAINT_BAD_OPTION ? 2 : 1;
	}
	printf("VM-hours unpacked: %" PRIu64 "\n", hours);
	return 0;
}

/* The time range of --from/--to in nanoseconds (default: the last hour). */
static int range_ns(const struct args *a, int64_t *f, int64_t *t)
{
	int64_t now = vm_now_ns();
	if (vm_time_parse(a->from ? a->from : "now-1h", now, f) < 0) {
		fprintf(stderr, "vmeter-admin: bad --from time '%s'\n", a->from);
		return -1;
	}
	if (vm_time_parse(a->to ? a->to : "now", now, t) < 0) {
		fprintf(stderr, "vmeter-admin: bad --to time '%s'\n", a->to);
		return -1;
	}
	if (*t <= *f) {
		fprintf(stderr, "vmeter-admin: --to must be after --from\n");
		return -1;
	}
	return 0;
}

/* The same as "@EPOCH" parameters for the per-minute queries. */
static int range(const struct args *a, char *from, char *to, size_t size)
{
	int64_t f, t;
	if (range_ns(a, &f, &t) < 0)
		return -1;
	snprintf(from, size, "@%lld", (long long)(f / VM_NS_PER_SEC));
	snprintf(to, size, "@%lld", (long long)(t / VM_NS_PER_SEC));
	return 0;
}

/* Column types that hold only numbers (PostgreSQL's pg_type OIDs; the
 * server's catalog headers are not part of libpq's). */
static bool numeric_type(Oid type)
{
	switch (type) {
	case 20:  /* int8 */
	case 21:  /* int2 */
	case 23:  /* int4 */
	case 26:  /* oid */
	case 700: /* float4 */
	case 701: /* float8 */
	case 1700: /* numeric */ return true;
	default: return false;
	}
}

/* One CSV field (RFC 4180: quoted when it holds a comma, a quote, CR or
 * LF, quotes doubled).  A text field that a spreadsheet would read as a
 * formula (OWASP's list: it starts with '=', '+', '-', '@', a tab or a
 * CR) gets a leading single quote, which makes it text there.  Numeric
 * columns are left alone: a negative number is a number, and PostgreSQL
 * prints nothing else in them. */
static void csv_field(const char *s, bool text)
{
	bool formula = text && *s && strchr("=+-@\t\r", *s);
	bool quote = strpbrk(s, ",\"\n\r") != NULL;
	if (quote)
		putchar('"');
	if (formula)
		putchar('\'');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	if (quote)
		putchar('"');
}

/* A table cell as the terminal shows it: escaped like a log line
 * (vm_log_escape), so that a name with a newline, an escape sequence or a
 * bidi override cannot break the table or reorder what it shows.  Returns
 * the text in *buf (grown as needed; the caller frees it) and its width in
 * characters. */
static const char *cell(const char *v, char **buf, size_t *cap, int *width)
{
	size_t need = 4 * strlen(v) + 1;
	if (need > *cap) {
		*cap = need;
		*buf = vm_xrealloc(*buf, *cap);
	}
	vm_log_escape(*buf, *cap, v);
	/* What is left of UTF-8 after escaping is valid: a character is a
	 * byte that does not continue one. */
	int w = 0;
	for (const unsigned char *p = (const unsigned char *)*buf; *p; p++)
		w += (*p & 0xc0) != 0x80;
	*width = w;
	return *buf;
}

static void pad(int n)
{
	for (; n > 0; n--)
		putchar(' ');
}

static void print_result(PGresult *res, bool csv)
{
	int rows = PQntuples(res), cols = PQnfields(res);
	if (csv) {
		for (int c = 0; c < cols; c++) {
			if (c)
				putchar(',');
			csv_field(PQfname(res, c), true);
		}
		putchar('\n');
		for (int r = 0; r < rows; r++) {
			for (int c = 0; c < cols; c++) {
				if (c)
					putchar(',');
				csv_field(PQgetvalue(res, r, c), !numeric_type(PQftype(res, c)));
			}
			putchar('\n');
		}
		return;
	}
	int *w = vm_xcalloc((size_t)cols, sizeof *w), n;
	char *buf = NULL;
	size_t cap = 0;
	for (int c = 0; c < cols; c++) {
		cell(PQfname(res, c), &buf, &cap, &w[c]);
		for (int r = 0; r < rows; r++) {
			cell(PQgetvalue(res, r, c), &buf, &cap, &n);
			if (n > w[c])
				w[c] = n;
		}
	}
	for (int c = 0; c < cols; c++) {
		fputs(c ? "  " : "", stdout);
		fputs(cell(PQfname(res, c), &buf, &cap, &n), stdout);
		pad(w[c] - n);
	}
	putchar('\n');
	for (int r = 0; r < rows; r++) {
		for (int c = 0; c < cols; c++) {
			/* Numbers right-aligned, text left. */
			const char *v = PQgetvalue(res, r, c);
			bool num = *v && strspn(v, "0123456789.-") == strlen(v);
			fputs(c ? "  " : "", stdout);
			cell(v, &buf, &cap, &n);
			if (num)
				pad(w[c] - n);
			fputs(buf, stdout);
			if (!num)
				pad(w[c] - n);
		}
		putchar('\n');
	}
	printf("(%d row%s)\n", rows, rows == 1 ? "" : "s");
	free(buf);
	free(w);
}

static char *column_list(const struct vm_meter_set *set, const char *alias)
{
	size_t cap = 4096, len = 0;
	char *s = vm_xmalloc(cap);
	s[0] = '\0';
	for (size_t i = 0; i < set->n; i++) {
		const char *n = set->meters[i].name;
		if (i < set->n_counters)
			len += (size_t)snprintf(s + len, cap - len, ", %s.%s", alias, n);
		else
			len += (size_t)snprintf(s + len, cap - len, ", %s.%s_avg, %s.%s_max", alias, n, alias, n);
	}
	return s;
}

/* The owner and name of each row's minute: the inventory row in force at
 * the middle of the minute (<t>.minute + 30 s), so that a minute with one
 * change in it goes to whoever held the VM for most of it; for a minute
 * before the VM's first inventory row (its first minute, begun before the
 * collector noticed it), that first row.  Each branch is one probe of
 * vm_inventory's primary key (vm_id, valid_from).  t is the alias of the
 * table with vm_id and minute; the result is aliased i.  The caller frees
 * it. */
static char *owner_join(const char *t)
{
	return vm_xasprintf(
	    "LEFT JOIN LATERAL (SELECT name, tenant, project, cost_centre FROM ("
	    "(SELECT 0 AS pri, name, tenant, project, cost_centre FROM vm_inventory o WHERE o.vm_id = %s.vm_id "
	    "AND o.valid_from <= %s.minute + interval '30 seconds' ORDER BY o.valid_from DESC LIMIT 1) UNION ALL "
	    "(SELECT 1, name, tenant, project, cost_centre FROM vm_inventory o WHERE o.vm_id = %s.vm_id "
	    "AND o.valid_from > %s.minute + interval '30 seconds' ORDER BY o.valid_from LIMIT 1)) b "
	    "ORDER BY pri LIMIT 1) i ON true ",
	    t, t, t, t);
}

/* --vm NAME|UUID: the VM with that UUID, or every VM that had that name
 * at some time (its rows under whatever names it had then). */
#define VM_FILTER(t)                                                                                                   \
	"($3::text IS NULL OR v.uuid::text = lower($3) OR " t                                                          \
	".vm_id IN (SELECT vm_id FROM vm_inventory WHERE name = $3)) "

/* The traffic rows' query: per VM, minute and class, with the capture's
 * coverage of the minute (what share of libvirt's bytes the classes
 * hold); with --hosts the capture's health per host and minute. */
static char *traffic_sql(const struct args *a)
{
	if (a->hosts)
		return vm_xasprintf(
		    "SELECT to_char(c.minute, 'YYYY-MM-DD HH24:MI') AS minute, h.hostname AS host, c.frames, c.drops, "
		    "c.ifdrops, round(c.uncovered_ms / 1000.0, 1) AS uncovered_s "
		    "FROM host_capture_minute c JOIN host h USING (host_id) "
		    "WHERE c.minute >= to_timestamp(substr($1, 2)::bigint) AND c.minute < to_timestamp(substr($2, "
		    "2)::bigint) AND ($3::text IS NULL OR h.hostname = $3) ORDER BY c.minute, h.hostname");
	char *owner = owner_join("t");
	char *sql = vm_xasprintf(
	    "SELECT to_char(t.minute, 'YYYY-MM-DD HH24:MI') AS minute, h.hostname AS host, coalesce(i.name, '') AS vm, "
	    "%s t.class, t.rx_bytes, t.tx_bytes, t.rx_packets, t.tx_packets, "
	    "round(c.captured_ms / 1000.0, 1) AS captured_s, "
	    "round(100.0 * c.captured_rx_bytes / nullif(c.libvirt_rx_bytes, 0), 1) AS rx_cov_pct, "
	    "round(100.0 * c.captured_tx_bytes / nullif(c.libvirt_tx_bytes, 0), 1) AS tx_cov_pct%s "
	    "FROM vm_traffic_minute t JOIN vm v USING (vm_id) JOIN host h USING (host_id) "
	    "LEFT JOIN vm_capture_minute c USING (vm_id, minute, host_id) %s"
	    "WHERE t.minute >= to_timestamp(substr($1, 2)::bigint) AND t.minute < to_timestamp(substr($2, "
	    "2)::bigint) AND " VM_FILTER("t") "AND ($4::text IS NULL OR h.hostname = $4) "
	                                      "ORDER BY t.minute, vm, host, t.class",
	    a->csv ? "v.uuid," : "",
	    a->csv ? ", c.captured_rx_bytes, c.captured_tx_bytes, c.libvirt_rx_bytes, c.libvirt_tx_bytes" : "", owner);
	free(owner);
	return sql;
}

static int cmd_usage(const struct vm_conf *conf, const struct args *a)
{
	char from[32], to[32];
	if (range(a, from, to, sizeof from) < 0)
		return 2;
	PGconn *pg = connect_db(conf);
	if (!pg)
		return 1;
	char *sql;
	if (a->traffic) {
		sql = traffic_sql(a);
	} else if (a->hosts) {
		char *cols = a->csv ? column_list(vm_usage_host_meters(), "u") : NULL;
		sql = vm_xasprintf(
		    "SELECT to_char(u.minute, 'YYYY-MM-DD HH24:MI') AS minute, h.hostname AS host, "
		    "round(u.coverage_ms / 1000.0, 1) AS cov_s%s "
		    "FROM host_usage_minute u JOIN host h USING (host_id) "
		    "WHERE u.minute >= to_timestamp(substr($1, 2)::bigint) AND u.minute < to_timestamp(substr($2, "
		    "2)::bigint) AND ($3::text IS NULL OR h.hostname = $3) ORDER BY u.minute, h.hostname",
		    cols ? cols
		         : ", round(u.cpu_busy_ns / 1e9, 2) AS cpu_busy_s, round(u.cpu_capacity_ns / 1e9, 2) AS "
		           "cpu_capacity_s, round(100.0 * u.cpu_busy_ns / nullif(u.cpu_capacity_ns, 0), 1) AS "
		           "busy_pct, u.cpus_avg AS cpus, u.vms_running_max AS vms, u.vcpus_running_max AS vcpus, "
		           "u.mem_total_kib_avg / 1024 AS mem_total_mib, u.mem_free_kib_avg / 1024 AS mem_free_mib");
		free(cols);
	} else {
		char *cols = a->csv ? column_list(vm_usage_vm_meters(), "u") : NULL;
		char *owner = owner_join("u");
		sql = vm_xasprintf(
		    "SELECT to_char(u.minute, 'YYYY-MM-DD HH24:MI') AS minute, h.hostname AS host, "
		    "coalesce(i.name, '') AS vm, %s round(u.coverage_ms / 1000.0, 1) AS cov_s%s "
		    "FROM vm_usage_minute u JOIN vm v USING (vm_id) JOIN host h USING (host_id) %s"
		    "WHERE u.minute >= to_timestamp(substr($1, 2)::bigint) AND u.minute < to_timestamp(substr($2, "
		    "2)::bigint) AND " VM_FILTER(
		        "u") "AND ($4::text IS NULL OR h.hostname = $4) "
		             /* packed minutes are refused, not left out */
		             "AND (SELECT bool_and(vm_packed_check(p)) FROM generate_series(date_trunc('hour', "
		             "to_timestamp(substr($1, 2)::bigint), 'UTC'), "
		             "to_timestamp(substr($2, 2)::bigint) - interval '1 microsecond', interval '1 hour') p) "
		             "ORDER BY u.minute, vm, host",
		    a->csv ? "v.uuid, coalesce(i.tenant, '') AS tenant, coalesce(i.project, '') AS project, "
		             "coalesce(i.cost_centre, '') AS cost_centre, u.samples, u.late,"
		           : "",
		    cols
		        ? cols
		        : ", round(u.cpu_ns / 1e9, 2) AS cpu_s, round(100.0 * u.cpu_ns / nullif(u.coverage_ms::numeric "
		          "* 1e6 * u.vcpus_avg, 0), 1) AS cpu_pct_alloc, u.vcpus_avg AS vcpus, u.balloon_kib_avg / "
		          "1024 AS mem_mib, u.rss_kib_avg / 1024 AS rss_mib, u.disk_rd_bytes AS rd_bytes, "
		          "u.disk_wr_bytes AS wr_bytes, u.net_rx_bytes AS rx_bytes, u.net_tx_bytes AS tx_bytes",
		    owner);
		free(owner);
		free(cols);
	}
	const char *vm_params[] = {from, to, a->vm, a->host}, *host_params[] = {from, to, a->host};
	PGresult *res = a->hosts ? PQexecParams(pg, sql, 3, NULL, host_params, NULL, NULL, 0)
	                         : PQexecParams(pg, sql, 4, NULL, vm_params, NULL, NULL, 0);
	free(sql);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "vmeter-admin: query failed: %s", PQresultErrorMessage(res));
		rc = 1;
	} else {
		print_result(res, a->csv);
	}
	PQclear(res);
	PQfinish(pg);
	return rc;
}

/* Runs a shared query (lib/query.h) and prints the columns `display`
 * picks from it (every column for CSV when display_csv is NULL). */
static int run_shared(const struct vm_conf *conf, struct vm_q *q, const char *display, const char *display_csv,
                      bool csv)
{
	PGconn *pg = connect_db(conf);
	if (!pg) {
		vm_q_release(q);
		return 1;
	}
	const char *pick = csv && !display_csv ? "*" : csv ? display_csv : display;
	char *sql = vm_xasprintf("SELECT %s FROM (%s) q", pick, q->sql);
	PGresult *res = PQexecParams(pg, sql, q->nparams, NULL, q->params, NULL, NULL, 0);
	free(sql);
	vm_q_release(q);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "vmeter-admin: query failed: %s", PQresultErrorMessage(res));
		rc = 1;
	} else {
		print_result(res, csv);
	}
	PQclear(res);
	PQfinish(pg);
	return rc;
}

/* --at T (default now) in nanoseconds, or -1 with the message printed. */
static int at_time(const struct args *a, int64_t *at)
{
	int64_t now = vm_now_ns();
	if (vm_time_parse(a->at ? a->at : "now", now, at) < 0) {
		fprintf(stderr, "vmeter-admin: bad --at time '%s'\n", a->at);
		return -1;
	}
	return 0;
}

#define SINCE(col) "to_char(to_timestamp(" col " / 1000000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"

static int cmd_vms(const struct vm_conf *conf, const struct args *a)
{
	int64_t at;
	if (at_time(a, &at) < 0)
		return 2;
	struct vm_q q;
	char err[512];
	struct vm_q_filter f = {.host = a->host, .tenant = a->tenant, .project = a->project};
	if (vm_q_inventory(&q, at, &f, err, sizeof err) < 0) {
		fprintf(stderr, "vmeter-admin: %s\n", err);
		return 2;
	}
	/* The same columns in CSV: scripts read them by position. */
	const char *cols = "uuid, name, hostname AS host, vcpus, memory_kib / 1024 AS mem_mib, tenant, project, "
	                   "cost_centre, owner_source, disks, nics, " SINCE("valid_from") " AS since";
	return run_shared(conf, &q, cols, cols, a->csv);
}

static int resolve_vm(const struct vm_conf *conf, const char *vm, char *uuid, size_t size);

static int cmd_total(const struct vm_conf *conf, const struct args *a)
{
	int64_t from, to;
	if (range_ns(a, &from, &to) < 0)
		return 2;
	if (a->by_owner && (a->vm || a->host)) {
		fprintf(stderr, "vmeter-admin: --by-owner sums every VM and host of an owner: no --vm or --host\n");
		return 2;
	}
	char uuid[64];
	if (a->vm && resolve_vm(conf, a->vm, uuid, sizeof uuid) < 0)
		return 1;
	struct vm_q_filter f = {.vm = a->vm ? uuid : NULL, .host = a->host, .tenant = a->tenant, .project = a->project};
	struct vm_q q;
	char err[512];
	if ((a->by_owner ? vm_q_owner_usage(&q, from, to, &f, err, sizeof err)
	                 : vm_q_usage(&q, from, to, &f, err, sizeof err)) < 0) {
		fprintf(stderr, "vmeter-admin: %s\n", err);
		return 2;
	}
	return run_shared(
	    conf, &q,
	    a->by_owner ? "tenant, project, cost_centre, minutes, round(coverage_ms / 3600000.0, 2) AS covered_h, "
	                  "round(lost_ms / 1000.0, 1) AS lost_s, round(cpu_ns / 1e9, 1) AS cpu_s, "
	                  "disk_rd_bytes AS rd_bytes, disk_wr_bytes AS wr_bytes, net_rx_bytes AS rx_bytes, "
	                  "net_tx_bytes AS tx_bytes"
	                : "uuid AS vm, hostname AS host, tenant, project, minutes, "
	                  "round(coverage_ms / 3600000.0, 2) AS covered_h, round(lost_ms / 1000.0, 1) AS lost_s, "
	                  "round(cpu_ns / 1e9, 1) AS cpu_s, round(100.0 * cpu_ns / nullif(coverage_ms::numeric * 1e6 * "
	                  "vcpus_avg, 0), 1) AS cpu_pct_alloc, vcpus_avg AS vcpus, balloon_kib_avg / 1024 AS mem_mib, "
	                  "rss_kib_avg / 1024 AS rss_mib, disk_rd_bytes AS rd_bytes, disk_wr_bytes AS wr_bytes, "
	                  "net_rx_bytes AS rx_bytes, net_tx_bytes AS tx_bytes",
	    NULL, a->csv);
}

static int cmd_hosts(const struct vm_conf *conf, const struct args *a)
{
	int64_t at;
	if (at_time(a, &at) < 0)
		return 2;
	struct vm_q q;
	char err[512];
	if (vm_q_hosts(&q, at, err, sizeof err) < 0) {
		fprintf(stderr, "vmeter-admin: %s\n", err);
		return 2;
	}
	return run_shared(
	    conf, &q,
	    "hostname AS host, cpus, mhz, memory_kib / 1024 AS mem_mib, cpu_model, sockets, cores, "
	    "threads, numa_nodes, " SINCE("first_seen") " AS first_seen, " SINCE("last_seen") " AS last_seen",
	    NULL, a->csv);
}

static int cmd_lifecycle(const struct vm_conf *conf, const struct args *a)
{
	int64_t from, to;
	if (range_ns(a, &from, &to) < 0)
		return 2;
	char uuid[64];
	if (a->vm && resolve_vm(conf, a->vm, uuid, sizeof uuid) < 0)
		return 1;
	struct vm_q_filter f = {.vm = a->vm ? uuid : NULL};
	struct vm_q q;
	char err[512];
	if (vm_q_lifecycle(&q, from, to, &f, err, sizeof err) < 0) {
		fprintf(stderr, "vmeter-admin: %s\n", err);
		return 2;
	}
	return run_shared(conf, &q,
	                  "uuid AS vm, hostname AS host, state, " SINCE("span_from") " AS span_from, " SINCE(
	                      "span_to") " AS span_to, round((span_to - span_from) / 1e6, 1) AS seconds",
	                  NULL, a->csv);
}

/* Finds the VM's UUID for a name through the inventory. */
static int resolve_vm(const struct vm_conf *conf, const char *vm, char *uuid, size_t size)
{
	if (strlen(vm) == 36 && vm[8] == '-') {
		snprintf(uuid, size, "%s", vm);
		return 0;
	}
	PGconn *pg = connect_db(conf);
	if (!pg)
		return -1;
	const char *params[] = {vm};
	PGresult *res =
	    PQexecParams(pg, "SELECT DISTINCT v.uuid FROM vm_inventory i JOIN vm v USING (vm_id) WHERE i.name = $1", 1,
	                 NULL, params, NULL, NULL, 0);
	int rc = -1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "vmeter-admin: query failed: %s", PQresultErrorMessage(res));
	else if (PQntuples(res) == 0)
		fprintf(stderr, "vmeter-admin: no VM named '%s' in the inventory\n", vm);
	else if (PQntuples(res) > 1)
		fprintf(stderr, "vmeter-admin: several VMs are named '%s': give a UUID\n", vm);
	else {
		snprintf(uuid, size, "%s", PQgetvalue(res, 0, 0));
		rc = 0;
	}
	PQclear(res);
	PQfinish(pg);
	return rc;
}

static int cmd_graph(const struct vm_conf *conf, const struct args *a)
{
	if (!a->out || (!a->vm == !a->host)) {
		fprintf(stderr, "vmeter-admin: graph needs --out and one of --vm or --host\n");
		return 2;
	}
	int64_t now = vm_now_ns(), f, t;
	if (vm_time_parse(a->from ? a->from : "now-1h", now, &f) < 0 ||
	    vm_time_parse(a->to ? a->to : "now", now, &t) < 0) {
		fprintf(stderr, "vmeter-admin: bad --from or --to time\n");
		return 2;
	}
	char name[300], uuid[64], err[512];
	const struct vm_meter_set *set;
	if (a->vm) {
		if (resolve_vm(conf, a->vm, uuid, sizeof uuid) < 0)
			return 1;
		snprintf(name, sizeof name, "vm-%s", uuid);
		set = vm_usage_vm_meters();
	} else {
		snprintf(name, sizeof name, "host-%s", a->host);
		set = vm_usage_host_meters();
	}
	struct vm_rrd *rrd = vm_rrd_new(conf->rrd_dir, conf->rrdcached, conf->interval_s, err, sizeof err);
	if (!rrd) {
		fprintf(stderr, "vmeter-admin: %s\n", err);
		return 1;
	}
	int rc = vm_rrd_graph(rrd, name, set, a->ds, f / VM_NS_PER_SEC, t / VM_NS_PER_SEC, a->out, err, sizeof err);
	if (rc < 0)
		fprintf(stderr, "vmeter-admin: %s\n", err);
	else
		printf("wrote %s\n", a->out);
	vm_rrd_free(rrd);
	return rc < 0 ? 1 : 0;
}

#define STATUS_MAX_BYTES 65536

/* Undelivered for longer than this is an alert (delivery-lag). */
#define STATUS_LAG_ALERT_S 300

static long long status_int(json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);
	return json_is_number(v) ? (long long)json_number_value(v) : -1;
}

/* Reads <state-dir>/status.json, which the collector replaces every few
 * seconds: an old file means no collector is writing it. */
static int cmd_status(const struct vm_conf *conf, const struct args *a)
{
	char *path = vm_xasprintf("%s/status.json", conf->state_dir);
	char *text = NULL;
	json_t *doc = NULL;
	int rc = 1;
	struct stat sb;
	FILE *f = fopen(path, "r");
	if (!f || fstat(fileno(f), &sb) < 0) {
		fprintf(stderr, "vmeter-admin: cannot read '%s': %s: collector not running?\n", path, strerror(errno));
		goto out;
	}
	if (sb.st_size > STATUS_MAX_BYTES) {
		fprintf(stderr, "vmeter-admin: '%s' is larger than %d bytes: not a status file\n", path,
		        STATUS_MAX_BYTES);
		goto out;
	}
	text = vm_xmalloc(STATUS_MAX_BYTES + 1);
	size_t len = fread(text, 1, STATUS_MAX_BYTES, f);
	text[len] = '\0';
	json_error_t jerr;
	doc = json_loads(text, 0, &jerr);
	if (!json_is_object(doc)) {
		fprintf(stderr, "vmeter-admin: '%s': not a status document: %s\n", path, jerr.text);
		goto out;
	}
	/* The file's own time, not the document's: the collector's clock may
	 * be wrong, the kernel's mtime is this host's. */
	long long period = status_int(doc, "period_s");
	if (period <= 0)
		period = 2;
	long long age = (long long)time(NULL) - (long long)sb.st_mtime;
	/* A clean stop leaves the file with "state": "stopped": that is no
	 * stale file of a vanished collector, and says when. */
	json_t *state = json_object_get(doc, "state");
	bool stopped = json_is_string(state) && strcmp(json_string_value(state), "stopped") == 0;
	if (!stopped && age > 3 * period) {
		fprintf(stderr,
		        "vmeter-admin: '%s' was last written %lld s ago (every %lld s when running): "
		        "collector not running?\n",
		        path, age, period);
		goto out;
	}
	/* Alert conditions, for monitoring: each one names something an
	 * operator must act on or an invoice must show. */
	char alerts[256] = "";
	json_t *full = json_object_get(doc, "spool_full");
	json_t *dbs = json_object_get(doc, "database");
	json_t *lagv = json_object_get(doc, "delivery_lag_s");
	if (json_is_true(full))
		strcat(alerts, " spool-full");
	if (status_int(doc, "lost_rows") > 0 || status_int(doc, "lost_traffic_rows") > 0)
		strcat(alerts, " rows-lost");
	/* A segment quarantined for a bad header holds records nobody will
	 * deliver: as much a loss as a damaged record, and usually more. */
	if (status_int(doc, "spool_damaged_records") > 0 || status_int(doc, "spool_quarantined_segments") > 0)
		strcat(alerts, " spool-damaged");
	/* Usage rows without a name or the VM's devices are as good as
	 * unattributed on an invoice. */
	if (!stopped && status_int(doc, "incomplete_inventories") > 0)
		strcat(alerts, " inventory-incomplete");
	/* What a running collector meets now; a stopped one meets nothing.
	 * "connecting" is its first attempt after start: no outage yet. */
	const char *dbstate = json_is_string(dbs) ? json_string_value(dbs) : "";
	json_t *lv = json_object_get(doc, "libvirt");
	if (!stopped && strcmp(dbstate, "refused") == 0)
		strcat(alerts, " database-refused");
	else if (!stopped && strcmp(dbstate, "up") != 0 && strcmp(dbstate, "connecting") != 0)
		strcat(alerts, " database-down");
	if (!stopped && json_is_string(lv) && strcmp(json_string_value(lv), "down") == 0)
		strcat(alerts, " libvirt-down");
	if (!stopped && json_is_number(lagv) && json_number_value(lagv) > STATUS_LAG_ALERT_S)
		strcat(alerts, " delivery-lag");
	/* Exit 1 for a stopped collector, as for one not running at all:
	 * nothing is metering; 3 for an alert condition. */
	int ok_rc = stopped ? 1 : alerts[0] ? 3 : 0;
	if (a->json) {
		fputs(text, stdout);
		rc = ok_rc;
		goto out;
	}
	json_t *db = json_object_get(doc, "database");
	long long minute = status_int(doc, "oldest_minute");
	char when[32] = "none";
	if (minute > 0) {
		time_t t = (time_t)minute;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
	}
	json_t *lag = json_object_get(doc, "delivery_lag_s");
	if (stopped) {
		char at[32] = "?";
		time_t t = (time_t)status_int(doc, "stopped_at");
		struct tm tm;
		if (t > 0 && gmtime_r(&t, &tm))
			strftime(at, sizeof at, "%Y-%m-%d %H:%M:%S UTC", &tm);
		printf("%-27sstopped at %s (a clean stop)\n", "collector:", at);
	} else {
		printf("%-27srunning\n", "collector:");
	}
	/* The file is the collector's to write, but it is still a file: its
	 * free-text fields go out escaped like every table cell. */
	char esc[1024];
	vm_log_escape(esc, sizeof esc, json_is_string(db) ? json_string_value(db) : "?");
	printf("%-27s%s", "database:", esc);
	json_t *dberr = json_object_get(doc, "database_error");
	if (!stopped && json_is_string(dberr) && json_string_length(dberr)) {
		/* The server's text, with no control character reaching the
		 * terminal. */
		vm_log_escape(esc, sizeof esc, json_string_value(dberr));
		printf(" (%s)", esc);
	}
	printf("\n");
	if (json_is_string(lv)) {
		vm_log_escape(esc, sizeof esc, json_string_value(lv));
		printf("%-27s%s\n", "libvirt:", esc);
	}
	printf("%-27s%lld records, %lld bytes\n", "spool:", status_int(doc, "spool_records"),
	       status_int(doc, "spool_bytes"));
	printf("%-27s%s\n", "oldest undelivered minute:", when);
	printf("%-27s%.1f s\n", "delivery lag:", json_is_number(lag) ? json_number_value(lag) : 0.0);
	printf("%-27s%lld\n", "rows delivered:", status_int(doc, "delivered_rows"));
	printf("%-27s%lld\n", "duplicates ignored:", status_int(doc, "duplicate_rows"));
	printf("%-27s%lld\n", "rows lost:", status_int(doc, "lost_rows"));
	printf("%-27s%lld\n", "incomplete inventories:", status_int(doc, "incomplete_inventories"));
	printf("%-27s%lld\n", "damaged spool records:", status_int(doc, "spool_damaged_records"));
	/* -1: written by a collector from before the field (and then unknown). */
	long long qseg = status_int(doc, "spool_quarantined_segments");
	if (qseg < 0)
		printf("%-27s%s\n", "quarantined segments:", "unknown (collector too old)");
	else
		printf("%-27s%lld (%lld bytes, kept as .seg.bad)\n", "quarantined segments:", qseg,
		       status_int(doc, "spool_quarantined_bytes"));
	printf("%-27s%s\n", "alerts:", alerts[0] ? alerts + 1 : "none");
	printf("(counts since the collector started; status written %lld s ago)\n", age);
	rc = ok_rc;
out:
	if (f)
		fclose(f);
	json_decref(doc);
	free(text);
	free(path);
	return rc;
}

/* Refuses an option the command does not take, naming it: a filter
 * silently ignored would show more than was asked for.  allowed: the
 * option names, each followed by a space. */
static int only_options(const char *cmd, const struct args *a, const struct option *opts, const char *allowed)
{
	for (int i = 0; opts[i].name; i++) {
		if (!(a->given & (1ULL << i)))
			continue;
		char word[64];
		snprintf(word, sizeof word, "%s ", opts[i].name);
		if (!strstr(allowed, word)) {
			fprintf(stderr, "vmeter-admin: %s takes no --%s\n", cmd, opts[i].name);
			return -1;
		}
	}
	return 0;
}

/* Runs a query on the aggregator's tables (schema 13) and prints it; with
 * raw, each row's one column as it is (JSON lines). */
static int run_agg(const struct vm_conf *conf, const char *sql, int n, const char *const *params, bool csv, bool raw)
{
	PGconn *pg = connect_db(conf);
	if (!pg)
		return 1;
	PGresult *res = PQexec(pg, "SET TimeZone = 'UTC'");
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
	}
	int rc = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		/* 42P01: undefined table: a database from before schema 13. */
		if (state && strcmp(state, "42P01") == 0)
			fprintf(stderr, "vmeter-admin: the database has no aggregator tables (schema 13): run "
			                "'vmeter-admin migrate'\n");
		else
			fprintf(stderr, "vmeter-admin: query failed: %s", PQresultErrorMessage(res));
		rc = 1;
	} else if (raw) {
		for (int r = 0; r < PQntuples(res); r++)
			printf("%s\n", PQgetvalue(res, r, 0));
	} else {
		print_result(res, csv);
	}
	PQclear(res);
	PQfinish(pg);
	return rc;
}

static int cmd_alerts(const struct vm_conf *conf, const struct args *a, const struct option *opts)
{
	if (only_options("alerts", a, opts, "state rule csv ") < 0)
		return 2;
	static const char *const states[] = {"inactive", "pending", "firing", "resolved", "all"};
	bool known = !a->state;
	for (size_t i = 0; !known && i < sizeof states / sizeof *states; i++)
		known = strcmp(a->state, states[i]) == 0;
	if (!known) {
		fprintf(stderr, "vmeter-admin: --state must be inactive, pending, firing, resolved or all, not '%s'\n",
		        a->state);
		return 2;
	}
	/* The values: those of the alert's last transition, what put it in
	 * its state. */
	const char *sql =
	    "SELECT a.rule, a.subject_kind AS kind, a.subject_name AS subject, "
	    "coalesce(a.host, '') AS host, a.severity, a.state, to_char(a.since, 'YYYY-MM-DD HH24:MI:SS') AS since, "
	    "coalesce(t.vals::text, '') AS \"values\", a.subject AS subject_id, coalesce(a.tenant, '') "
	    "AS tenant, "
	    "coalesce(to_char(a.last_action, 'YYYY-MM-DD HH24:MI:SS'), '') AS last_action, a.alert_id "
	    "FROM agg_alert a LEFT JOIN LATERAL (SELECT vals FROM "
	    "agg_alert_transition x "
	    "WHERE x.alert_id = a.alert_id ORDER BY x.at DESC, x.transition_id "
	    "DESC LIMIT 1) t ON true "
	    "WHERE (CASE WHEN $1::text IS NULL THEN a.state <> 'inactive' WHEN $1 "
	    "= 'all' THEN true "
	    "ELSE a.state = $1 END) AND ($2::text IS NULL OR a.rule = $2) "
	    "ORDER BY a.rule, a.subject_kind, a.subject_name, a.subject";
	const char *params[] = {a->state, a->rule};
	if (a->csv)
		return run_agg(conf, sql, 2, params, true, false);
	char *shown =
	    vm_xasprintf("SELECT rule, kind, subject, host, severity, state, since, \"values\" FROM (%s) q", sql);
	int rc = run_agg(conf, shown, 2, params, false, false);
	free(shown);
	return rc;
}

/* "Did it help?": the condition no longer held at the follow-up (yes),
 * still held (no), could not be told (unknown: a window without enough
 * data), or not yet looked at (pending). */
#define HELPED                                                                                                         \
	"CASE WHEN d.follow_up_holds IS FALSE THEN 'yes' WHEN d.follow_up_holds THEN 'no' "                            \
	"WHEN d.follow_up_at IS NOT NULL THEN 'unknown' WHEN d.follow_up_due IS NOT NULL THEN 'pending' "              \
	"ELSE '' END"

static int cmd_audit(const struct vm_conf *conf, const struct args *a, const struct option *opts)
{
	if (only_options("audit", a, opts, "rule vm since json csv ") < 0)
		return 2;
	if (a->json && a->csv) {
		fprintf(stderr, "vmeter-admin: audit takes --json or --csv, not both\n");
		return 2;
	}
	char since[32] = "";
	if (a->since) {
		int64_t t;
		if (vm_time_parse(a->since, vm_now_ns(), &t) < 0) {
			fprintf(
			    stderr,
			    "vmeter-admin: bad --since time '%s' (YYYY-MM-DD HH:MM[:SS] UTC, @EPOCH, now, now-2h)\n",
			    a->since);
			return 2;
		}
		snprintf(since, sizeof since, "%lld", (long long)(t / VM_NS_PER_SEC));
	}
	/* A VM by its UUID, its name in the decision, or any name the
	 * inventory ever gave it (renamed since). */
	const char *from =
	    "FROM agg_decision d JOIN agg_alert_transition t USING (transition_id) "
	    "WHERE ($1::text IS NULL OR d.rule = $1) "
	    "AND ($2::text IS NULL OR (d.subject_kind = 'vm' AND (d.subject = lower($2) OR d.subject_name = $2 "
	    "OR d.subject IN (SELECT v.uuid::text FROM vm_inventory i JOIN vm v USING (vm_id) WHERE i.name = $2)))) "
	    "AND ($3::text IS NULL OR d.at >= to_timestamp($3::bigint)) "
	    "ORDER BY d.at, d.decision_id";
	const char *params[] = {a->rule, a->vm, a->since ? since : NULL};
	char *sql;
	/* Times in JSON: ISO 8601 in UTC (run_agg sets the session's zone). */
	if (a->json)
		sql = vm_xasprintf(
		    "SELECT jsonb_build_object('decision_id', d.decision_id, 'at', d.at, 'rule', d.rule, "
		    "'subject_kind', d.subject_kind, 'subject', d.subject, 'subject_name', d.subject_name, "
		    "'alert_id', d.alert_id, 'transition', jsonb_build_object('id', t.transition_id, "
		    "'at', t.at, 'from', t.from_state, 'to', t.to_state, 'vals', t.vals), "
		    "'status', d.status, 'verdict', d.verdict, 'reason', d.reason, 'detail', d.detail, "
		    "'action', d.action_kind, 'action_spec', d.action_spec, 'vals', d.vals, "
		    "'result', d.result, 'message', d.result_message, 'attempts', d.attempts, "
		    "'exit_status', d.exit_status, 'http_status', d.http_status, 'output', d.output, "
		    "'started_at', d.started_at, 'finished_at', d.finished_at, "
		    "'follow_up_due', d.follow_up_due, 'follow_up_at', d.follow_up_at, "
		    "'follow_up_vals', d.follow_up_vals, 'follow_up_holds', d.follow_up_holds, "
		    "'helped', nullif(%s, ''))::text %s",
		    HELPED, from);
	else
		sql = vm_xasprintf(
		    "SELECT d.decision_id AS id, to_char(d.at, 'YYYY-MM-DD HH24:MI:SS') AS at, d.rule, d.subject_name "
		    "AS subject, "
		    "d.alert_id AS alert, t.from_state || '>' || t.to_state AS transition, d.verdict, "
		    "d.reason || CASE WHEN d.detail <> '' THEN ': ' || d.detail ELSE '' END AS reason, "
		    "d.action_kind AS action, coalesce(d.result, '') AS result, "
		    "coalesce(d.attempts::text, '') AS attempts, "
		    "coalesce('http ' || d.http_status, 'exit ' || d.exit_status, '') AS status, "
		    "d.vals::text AS \"values\", coalesce(d.follow_up_vals::text, '') AS follow_up, " HELPED
		    " AS helped, "
		    "coalesce(d.result_message, '') AS message%s %s",
		    a->csv ? ", d.subject_kind, d.subject AS subject_id, d.status AS alert_status, d.action_spec::text "
		             "AS action_spec, to_char(d.started_at, 'YYYY-MM-DD HH24:MI:SS') AS started_at, "
		             "to_char(d.finished_at, 'YYYY-MM-DD HH24:MI:SS') AS finished_at, to_char(d.follow_up_at, "
		             "'YYYY-MM-DD HH24:MI:SS') AS follow_up_at"
		           : "",
		    from);
	int rc = run_agg(conf, sql, 3, params, a->csv, a->json);
	free(sql);
	return rc;
}

/* Sanitizer hooks (unused without -fsanitize): librrd's graphing, loaded
 * for `graph`, keeps font and text caches (pango, cairo, fontconfig) for the
 * life of the process; LeakSanitizer would fail every graph of a sanitizer
 * build run outside the test suite (scripts/demo.sh).  The full unwinder
 * sees rrd_graph_v through libraries built without frame pointers. */
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}
const char *__lsan_default_suppressions(void)
{
	return "leak:rrd_graph_v\nleak:librrd.so\nleak:libfontconfig.so\nleak:libpango\nleak:libcairo\n";
}

int main(int argc, char **argv)
{
	const char *path = VM_CONF_DEFAULT_PATH;
	int i = 1;
	bool check = false;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "-n") == 0)
			check = true;
		else
			break;
	}
	if (check) {
		char cerr[1024];
		struct vm_conf *c = vm_conf_load(path, cerr, sizeof cerr);
		if (!c) {
			fprintf(stderr, "vmeter-admin: %s\n", cerr);
			return 1;
		}
		printf("%s: configuration ok\n", path);
		vm_conf_free(c);
		return 0;
	}
	if (i >= argc || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
		usage(i >= argc ? stderr : stdout);
		return i >= argc ? 2 : 0;
	}
	const char *cmd = argv[i];
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"vm", required_argument, NULL, 'm'},
	    {"host", required_argument, NULL, 'H'},
	    {"out", required_argument, NULL, 'o'},
	    {"ds", required_argument, NULL, 'd'},
	    {"csv", no_argument, NULL, 'C'},
	    {"hosts", no_argument, NULL, 'S'},
	    {"json", no_argument, NULL, 'J'},
	    {"traffic", no_argument, NULL, 'T'},
	    {"now", required_argument, NULL, 'N'},
	    {"grace", required_argument, NULL, 'g'},
	    {"ahead", required_argument, NULL, 'a'},
	    {"raw-days", required_argument, NULL, 'r'},
	    {"hourly-days", required_argument, NULL, 'h'},
	    {"daily-days", required_argument, NULL, 'D'},
	    {"no-retention", no_argument, NULL, 'R'},
	    {"pack-after-days", required_argument, NULL, 'P'},
	    {"no-pack", no_argument, NULL, 'K'},
	    {"at", required_argument, NULL, 'A'},
	    {"tenant", required_argument, NULL, 'n'},
	    {"project", required_argument, NULL, 'p'},
	    {"by-owner", no_argument, NULL, 'O'},
	    {"state", required_argument, NULL, 'x'},
	    {"rule", required_argument, NULL, 'u'},
	    {"since", required_argument, NULL, 'i'},
	    {NULL, 0, NULL, 0},
	};
	_Static_assert(sizeof opts / sizeof *opts <= 64, "args.given has a bit per option");
	struct args a = {0};
	int opt, which;
	optind = i + 1;
	while ((opt = getopt_long(argc, argv, "", opts, &which)) != -1) {
		if (opt != '?')
			a.given |= 1ULL << which;
		switch (opt) {
		case 'f': a.from = optarg; break;
		case 't': a.to = optarg; break;
		case 'm': a.vm = optarg; break;
		case 'H': a.host = optarg; break;
		case 'o': a.out = optarg; break;
		case 'd': a.ds = optarg; break;
		case 'C': a.csv = true; break;
		case 'S': a.hosts = true; break;
		case 'J': a.json = true; break;
		case 'T': a.traffic = true; break;
		case 'N': a.now = optarg; break;
		case 'g': a.grace = optarg; break;
		case 'a': a.ahead = optarg; break;
		case 'r': a.raw_days = optarg; break;
		case 'h': a.hourly_days = optarg; break;
		case 'D': a.daily_days = optarg; break;
		case 'R': a.no_retention = true; break;
		case 'P': a.pack_after = optarg; break;
		case 'K': a.no_pack = true; break;
		case 'A': a.at = optarg; break;
		case 'n': a.tenant = optarg; break;
		case 'p': a.project = optarg; break;
		case 'O': a.by_owner = true; break;
		case 'x': a.state = optarg; break;
		case 'u': a.rule = optarg; break;
		case 'i': a.since = optarg; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vmeter-admin: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	vm_log_open("vmeter-admin", false);
	char err[1024];
	struct vm_conf *conf = vm_conf_load(path, err, sizeof err);
	if (!conf) {
		fprintf(stderr, "vmeter-admin: %s\n", err);
		return 1;
	}
	int rc;
	if (strcmp(cmd, "migrate") == 0)
		rc = cmd_migrate(conf);
	else if (strcmp(cmd, "maintain") == 0)
		rc = cmd_maintain(conf, &a);
	else if (strcmp(cmd, "unpack") == 0)
		rc = cmd_unpack(conf, &a);
	else if (strcmp(cmd, "usage") == 0)
		rc = cmd_usage(conf, &a);
	else if (strcmp(cmd, "vms") == 0)
		rc = cmd_vms(conf, &a);
	else if (strcmp(cmd, "total") == 0)
		rc = cmd_total(conf, &a);
	else if (strcmp(cmd, "hosts") == 0)
		rc = cmd_hosts(conf, &a);
	else if (strcmp(cmd, "lifecycle") == 0)
		rc = cmd_lifecycle(conf, &a);
	else if (strcmp(cmd, "graph") == 0)
		rc = cmd_graph(conf, &a);
	else if (strcmp(cmd, "status") == 0)
		rc = cmd_status(conf, &a);
	else if (strcmp(cmd, "alerts") == 0)
		rc = cmd_alerts(conf, &a, opts);
	else if (strcmp(cmd, "audit") == 0)
		rc = cmd_audit(conf, &a, opts);
	else {
		fprintf(stderr, "vmeter-admin: unknown command '%s'\n", cmd);
		usage(stderr);
		rc = 2;
	}
	vm_conf_free(conf);
	return rc;
}
