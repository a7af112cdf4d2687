#include "config.h"

#include "maint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packed.h"
#include "pgx.h"
#include "vtime.h"

/* pg_advisory_lock(8675309, 2): the key pair is vmeter's (1 is the
 * partition creator in vm_ensure_partitions). */
#define LOCK_SQL "SELECT pg_try_advisory_lock(8675309, 2)"
#define UNLOCK_SQL "SELECT pg_advisory_unlock(8675309, 2)"

void vm_maint_opts_init(struct vm_maint_opts *o)
{
	memset(o, 0, sizeof *o);
	o->now_ns = vm_now_ns();
	o->grace_s = 120;
	o->ahead_days = 7;
}

static void note(const struct vm_maint_opts *o, const char *name, const char *action)
{
	if (!o->note)
		return;
	char line[512];
	snprintf(line, sizeof line, "retention: %s %s", name, action);
	o->note(o->note_arg, line);
}

static void epoch_param(char *buf, size_t size, int64_t ns)
{
	/* to_timestamp() of whole seconds: rollups work on whole hours. */
	snprintf(buf, size, "%" PRId64, ns / VM_NS_PER_SEC);
}

static int policy_days(PGconn *pg, const char *class, int *days, char *err, size_t errsize)
{
	const char *p[] = {class};
	PGresult *res = vm_pgx_run(pg, "cannot read the storage policy",
	                           "SELECT coalesce(min(keep_days), 0) FROM storage_policy WHERE class = $1", 1, p,
	                           PGRES_TUPLES_OK, err, errsize);
	if (!res)
		return -1;
	*days = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

int vm_maint_check(PGconn *pg, const struct vm_maint_opts *o, char *err, size_t errsize)
{
	int raw = o->raw_days, hourly = o->hourly_days, daily = o->daily_days;
	if (raw < 0 || hourly < 0 || daily < 0 || o->pack_after_days < 0) {
		snprintf(err, errsize, "retention and packing days must be positive");
		return -1;
	}
	if (pg) {
		if ((!raw && policy_days(pg, "raw", &raw, err, errsize)) ||
		    (!hourly && policy_days(pg, "hourly", &hourly, err, errsize)) ||
		    (!daily && policy_days(pg, "daily", &daily, err, errsize)))
			return -1;
	}
	if (raw && raw < VM_MAINT_MIN_RAW_DAYS) {
		snprintf(err, errsize,
		         "raw minutes must be kept at least %d days (an invoice period and its corrections), not %d",
		         VM_MAINT_MIN_RAW_DAYS, raw);
		return -1;
	}
	if (raw && hourly && hourly < raw) {
		snprintf(err, errsize,
		         "hourly rollups (%d days) must be kept at least as long as raw minutes (%d days)", hourly,
		         raw);
		return -1;
	}
	if (hourly && daily && daily < hourly) {
		snprintf(err, errsize,
		         "daily rollups (%d days) must be kept at least as long as hourly rollups (%d days)", daily,
		         hourly);
		return -1;
	}
	return 0;
}

static int set_policy(PGconn *pg, const char *class, int days, char *err, size_t errsize)
{
	if (days <= 0)
		return 0;
	char d[16];
	snprintf(d, sizeof d, "%d", days);
	const char *p[] = {d, class};
	return vm_pgx_cmd(pg, "cannot change the storage policy",
	                  "UPDATE storage_policy SET keep_days = $1 WHERE class = $2", 2, p, err, errsize);
}

/* The (hour, host) pairs to recompute, as epoch seconds and host ids:
 * an hour marked for every host (0) is recomputed once for all of them. */
static PGresult *dirty_hours(PGconn *pg, const char *closed, char *err, size_t errsize)
{
	const char *p[] = {closed};
	return vm_pgx_run(pg, "cannot list the hours to roll up",
	                  "WITH d AS (SELECT hour, host_id FROM rollup_dirty WHERE hour < to_timestamp($1::bigint)) "
	                  "SELECT extract(epoch FROM hour)::bigint, host_id FROM d "
	                  "WHERE host_id = 0 OR NOT EXISTS (SELECT 1 FROM d a WHERE a.hour = d.hour AND a.host_id = 0) "
	                  "ORDER BY 1, 2",
	                  1, p, PGRES_TUPLES_OK, err, errsize);
}

static int rollup(PGconn *pg, struct vm_maint_report *r, int64_t closed_ns, char *err, size_t errsize)
{
	char closed[32];
	epoch_param(closed, sizeof closed, closed_ns);
	PGresult *list = dirty_hours(pg, closed, err, errsize);
	if (!list)
		return -1;
	int rc = 0;
	for (int i = 0; i < PQntuples(list) && rc == 0; i++) {
		const char *p[] = {PQgetvalue(list, i, 0), PQgetvalue(list, i, 1)};
		if (vm_pgx_cmd(pg, "cannot begin", "BEGIN", 0, NULL, err, errsize) < 0) {
			rc = -1;
			break;
		}
		char what[96];
		snprintf(what, sizeof what, "rollup of hour @%s host %s failed", p[0], p[1]);
		/* The SQL rollup reads wide minutes only: an hour that was
		 * packed (rows delivered late into a packed day) comes back whole
		 * first, and is packed again with its day. */
		int64_t hour = strtoll(p[0], NULL, 10) * VM_NS_PER_SEC;
		long unpacked = vm_packed_unpack(pg, hour, hour + VM_NS_PER_HOUR, atoi(p[1]), err, errsize);
		if (unpacked > 0)
			r->hours_unpacked += (uint64_t)unpacked;
		if (unpacked < 0 ||
		    vm_pgx_cmd(pg, what, "SELECT vm_rollup_hour(to_timestamp($1::bigint), $2::int)", 2, p, err,
		               errsize) < 0 ||
		    vm_pgx_cmd(pg, "cannot commit a rollup", "COMMIT", 0, NULL, err, errsize) < 0) {
			PQclear(PQexec(pg, "ROLLBACK"));
			rc = -1;
			break;
		}
		r->hours_rolled++;
	}
	PQclear(list);
	if (rc < 0)
		return -1;
	/* Safe even with hours still dirty: readers take a rollup only for a
	 * closed hour without a dirty mark. */
	const char *p[] = {closed};
	if (vm_pgx_cmd(pg, "cannot record the rollups' progress",
	               "UPDATE rollup_state SET closed_upto = greatest(closed_upto, to_timestamp($1::bigint))", 1, p,
	               err, errsize) < 0)
		return -1;
	r->closed_upto_ns = closed_ns;
	return 0;
}

static int pack_policy(PGconn *pg, int days, char *err, size_t errsize)
{
	if (days <= 0)
		return 0;
	char d[16];
	snprintf(d, sizeof d, "%d", days);
	const char *p[] = {d};
	return vm_pgx_cmd(pg, "cannot change the packing policy",
	                  "UPDATE storage_policy SET pack_after_days = $1 WHERE parent = 'vm_usage_minute'", 1, p, err,
	                  errsize);
}

static void pack_note(const struct vm_maint_opts *o, const char *name, const struct vm_packed_day *st)
{
	if (!o->note)
		return;
	char line[512];
	snprintf(line, sizeof line, "pack: %s: %" PRIu64 " minutes into %" PRIu64 " VM-hours, %" PRIu64 " bytes", name,
	         st->minutes, st->hours, st->bytes);
	o->note(o->note_arg, line);
}

static int pack(PGconn *pg, const struct vm_maint_opts *o, struct vm_maint_report *r, char *err, size_t errsize)
{
	char now[32];
	epoch_param(now, sizeof now, o->now_ns);
	const char *p[] = {now};
	PGresult *days = vm_pgx_run(pg, "cannot list the days to pack",
	                            "SELECT extract(epoch FROM day)::bigint, partition_name "
	                            "FROM vm_pack_candidates(to_timestamp($1::bigint))",
	                            1, p, PGRES_TUPLES_OK, err, errsize);
	if (!days)
		return -1;
	int rc = 0;
	for (int i = 0; i < PQntuples(days) && rc == 0; i++) {
		struct vm_packed_day st;
		int64_t day = strtoll(PQgetvalue(days, i, 0), NULL, 10) * VM_NS_PER_SEC;
		const char *name = PQgetvalue(days, i, 1);
		int prc = vm_packed_pack_day(pg, day, name, &st, err, errsize);
		if (prc < 0) {
			rc = -1;
		} else if (prc > 0) {
			r->days_packed++;
			r->hours_packed += st.hours;
			pack_note(o, name, &st);
		}
	}
	PQclear(days);
	return rc;
}

static int retention(PGconn *pg, const struct vm_maint_opts *o, struct vm_maint_report *r, char *err, size_t errsize)
{
	char now[32];
	epoch_param(now, sizeof now, o->now_ns);
	const char *p[] = {now};
	PGresult *res = vm_pgx_run(pg, "retention failed", "SELECT * FROM vm_retention(to_timestamp($1::bigint))", 1, p,
	                           PGRES_TUPLES_OK, err, errsize);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0), *action = PQgetvalue(res, i, 1);
		if (strcmp(action, "dropped") == 0)
			r->partitions_dropped++;
		else
			r->partitions_kept++;
		note(o, name, action);
	}
	PQclear(res);
	return 0;
}

/* The session lock of a run: VM_MAINT_OK, _BUSY or _FAILED. */
static enum vm_maint_result lock(PGconn *pg, char *err, size_t errsize)
{
	PGresult *res =
	    vm_pgx_run(pg, "cannot take the maintenance lock", LOCK_SQL, 0, NULL, PGRES_TUPLES_OK, err, errsize);
	if (!res)
		return VM_MAINT_FAILED;
	bool locked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!locked) {
		snprintf(err, errsize, "another maintenance run holds the lock on this database");
		return VM_MAINT_BUSY;
	}
	return VM_MAINT_OK;
}

enum vm_maint_result vm_maint_run(PGconn *pg, const struct vm_maint_opts *o, struct vm_maint_report *r, char *err,
                                  size_t errsize)
{
	memset(r, 0, sizeof *r);
	if (vm_maint_check(NULL, o, err, errsize) < 0)
		return VM_MAINT_FAILED;
	if (o->grace_s < 0 || o->ahead_days < 1) {
		snprintf(err, errsize, "grace must be >= 0 s and partitions made at least 1 day ahead");
		return VM_MAINT_FAILED;
	}
	enum vm_maint_result lrc = lock(pg, err, errsize);
	if (lrc != VM_MAINT_OK)
		return lrc;

	enum vm_maint_result rc = VM_MAINT_BAD_OPTION;
	if (vm_maint_check(pg, o, err, errsize) < 0)
		goto out;
	rc = VM_MAINT_FAILED;
	if (set_policy(pg, "raw", o->raw_days, err, errsize) < 0 ||
	    set_policy(pg, "hourly", o->hourly_days, err, errsize) < 0 ||
	    set_policy(pg, "daily", o->daily_days, err, errsize) < 0 ||
	    pack_policy(pg, o->pack_after_days, err, errsize) < 0)
		goto out;

	char from[32], to[32];
	epoch_param(from, sizeof from, o->now_ns - VM_NS_PER_DAY);
	epoch_param(to, sizeof to, o->now_ns + (int64_t)o->ahead_days * VM_NS_PER_DAY);
	const char *p[] = {from, to};
	PGresult *res = vm_pgx_run(pg, "cannot create partitions",
	                           "SELECT vm_ensure_partitions(to_timestamp($1::bigint), to_timestamp($2::bigint))", 2,
	                           p, PGRES_TUPLES_OK, err, errsize);
	if (!res)
		goto out;
	r->partitions_created = (unsigned)atoi(PQgetvalue(res, 0, 0));
	PQclear(res);

	int64_t closed = vm_time_floor(o->now_ns - (int64_t)o->grace_s * VM_NS_PER_SEC, VM_NS_PER_HOUR);
	if (rollup(pg, r, closed, err, errsize) < 0)
		goto out;
	if (!o->no_retention && retention(pg, o, r, err, errsize) < 0)
		goto out;
	/* After retention: a day about to be dropped is not packed first. */
	if (!o->no_pack && pack(pg, o, r, err, errsize) < 0)
		goto out;
	rc = VM_MAINT_OK;
out:
	PQclear(PQexec(pg, UNLOCK_SQL));
	return rc;
}

enum vm_maint_result vm_maint_unpack(PGconn *pg, int64_t from_ns, int64_t to_ns, uint64_t *hours, char *err,
                                     size_t errsize)
{
	*hours = 0;
	if (from_ns % VM_NS_PER_HOUR || to_ns % VM_NS_PER_HOUR || to_ns <= from_ns) {
		snprintf(err, errsize, "unpack takes whole UTC hours");
		return VM_MAINT_BAD_OPTION;
	}
	enum vm_maint_result lrc = lock(pg, err, errsize);
	if (lrc != VM_MAINT_OK)
		return lrc;
	enum vm_maint_result rc = VM_MAINT_FAILED;
	if (vm_pgx_cmd(pg, "cannot begin", "BEGIN", 0, NULL, err, errsize) < 0)
		goto out;
	long n = vm_packed_unpack(pg, from_ns, to_ns, 0, err, errsize);
	if (n < 0 || vm_pgx_cmd(pg, "cannot commit the unpacked minutes", "COMMIT", 0, NULL, err, errsize) < 0) {
		PQclear(PQexec(pg, "ROLLBACK"));
		goto out;
	}
	*hours = (uint64_t)n;
	rc = VM_MAINT_OK;
out:
	PQclear(PQexec(pg, UNLOCK_SQL));
	return rc;
}
