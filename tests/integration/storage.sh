#!/bin/bash
# Schema 5's storage on a real PostgreSQL, against independent SQL on the
# raw rows (tests/data/storage/seed4.sql: random usage over three days
# that include Europe/Berlin's return from daylight saving time):
#   - an installation at schema 4 (and one at schema 3) upgrades in place:
#     every row of every per-minute table is still there, unchanged;
#   - vm_usage_between / vm_traffic_between / host_usage_between /
#     owner_usage_between equal the
#     raw sums for ranges with odd edges, a 25-hour local day, before and
#     after rollups, with late rows and a late owner change both before and
#     after the next `vmeter-admin maintain`;
#   - the hourly and daily rollups equal the raw sums hour by hour and day
#     by day, and a second maintain run changes nothing;
#   - retention drops whole partitions past their time and nothing else;
#     readers then refuse ranges that need dropped minutes; the writer's
#     partition function refuses a dropped day;
#   - bad options and a concurrent run are refused with a clear message.
. "$(dirname "$0")/../lib.sh"
plan 45

start_postgres
write_conf "$T/vmeter.conf"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
SEED=$top_srcdir/tests/data/storage/seed4.sql

# A database at schema N, filled by the seed, the way `migrate` of an
# older build left it.
old_schema() { # old_schema DBNAME N
	psql_q postgres "CREATE DATABASE $1" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 "host=$T dbname=$1 user=vmeter" >/dev/null <<-SQL || bail "schema $2 failed"
		CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL,
		    applied_at timestamptz NOT NULL DEFAULT now());
	SQL
	for f in "$top_srcdir"/sql/00[1-9]_*.sql; do
		v=$(basename "$f" | sed 's/_.*//; s/^0*//')
		[ "$v" -le "$2" ] || continue
		psql -X -q -v ON_ERROR_STOP=1 "host=$T dbname=$1 user=vmeter" -1 -f "$f" \
			-c "INSERT INTO schema_migrations (version, name) VALUES ($v, 'old')" >/dev/null || bail "$f failed"
	done
	psql -X -q -v ON_ERROR_STOP=1 -v seed=0.42 "host=$T dbname=$1 user=vmeter" -f "$SEED" >/dev/null ||
		bail "seed failed"
}

TABLES="vm_usage_minute host_usage_minute vm_usage_loss vm_traffic_minute vm_capture_minute host_capture_minute"
digest() { # digest DB TABLE: rows and an md5 of them in a fixed order
	psql_q "$1" "SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')
		FROM $2 t"
}

# --- upgrade in place, from schema 4 and from schema 3
for from in 3 4; do
	db=up$from
	old_schema $db $from
	before=""
	for t in $TABLES; do before="$before $(digest $db $t)"; done
	sed "s/dbname=vmeter/dbname=$db/" "$T/vmeter.conf" >"$T/$db.conf"
	out=$("$ADMIN" -c "$T/$db.conf" migrate 2>&1)
	is "$out" "schema migrated from version $from to $SCHEMA_LATEST" "migrate from schema $from"
	after=""
	for t in $TABLES; do after="$after $(digest $db $t)"; done
	is "$after" "$before" "schema $from -> $SCHEMA_LATEST: every per-minute row kept, unchanged"
done
ok "$([ "$(psql_q up4 "SELECT count(*) FROM vm_usage_minute")" -gt 60000 ] && echo 0 || echo 1)" "the seed has rows"
out=$("$ADMIN" -c "$T/up4.conf" migrate 2>&1)
is "$out" "schema is up to date (version $SCHEMA_LATEST)" "a second migrate does nothing"

# From here on: the schema-4 database.
DB=up4
q() { psql_q $DB "$1"; }
mt() { "$ADMIN" -c "$T/$DB.conf" maintain --no-pack "$@"; } # packing: tests/integration/pack.sh

# Independent sums: raw minutes, the owner by a lateral lookup of the
# inventory in force at the middle of each minute (or the first one).
python3 "$top_srcdir/tests/data/storage/indep.py" >"$T/indep.sql"
psql -X -q -v ON_ERROR_STOP=1 "host=$T dbname=$DB user=vmeter" -f "$T/indep.sql" >/dev/null || bail "views"

# diff_count A B: rows in one and not the other, both ways
diff_count() {
	q "SELECT count(*) FROM ((($1) EXCEPT ALL ($2)) UNION ALL (($2) EXCEPT ALL ($1))) x"
}
# exact FROM TO DESC: the three readers equal the independent sums
exact() {
	set_range="SET t.f = '$1'; SET t.t = '$2';"
	n=0
	for pair in "indep_usage vm_usage_between" "indep_traffic vm_traffic_between" "indep_host host_usage_between" \
		"indep_owner owner_usage_between"; do
		set -- "$1" "$2" "$3" $pair
		d=$(psql_q $DB "$set_range SELECT count(*) FROM (
			(SELECT * FROM $4 EXCEPT ALL SELECT * FROM $5('$1', '$2'))
			UNION ALL (SELECT * FROM $5('$1', '$2') EXCEPT ALL SELECT * FROM $4)) x" 2>&1 | tail -1)
		case $d in '' | *[!0-9]*) diag "$5: $d"; d=1 ;; esac
		n=$((n + d))
	done
	rows=$(psql_q $DB "$set_range SELECT count(*) FROM indep_usage" | tail -1)
	ok "$([ "$n" = 0 ] && [ "$rows" -gt 0 ] && echo 0 || echo 1)" "$3 ($rows VM rows, $n differences)"
}
BERLIN_FROM="2026-10-25 00:00 Europe/Berlin"
BERLIN_TO="2026-10-26 00:00 Europe/Berlin"
is "$(q "SELECT (extract(epoch FROM '$BERLIN_TO'::timestamptz - '$BERLIN_FROM'::timestamptz) / 3600)::int")" 25 \
	"2026-10-25 in Europe/Berlin lasts 25 hours"

exact "$BERLIN_FROM" "$BERLIN_TO" "before rollups: the 25-hour Berlin day from raw minutes"
exact "2026-10-24 03:17:00+00" "2026-10-26 20:43:00+00" "before rollups: odd edges"

out=$(mt --now "2026-10-27 00:05:00" --no-retention)
echo "$out" | sed 's/^/# /'
n=$(echo "$out" | sed -n 's/.*hours rolled up: \([0-9]*\).*/\1/p')
ok "$([ "${n:-0}" -ge 144 ] && echo 0 || echo 1)" "maintain rolls up every dirty closed (hour, host): $n"
is "$(q "SELECT count(*) FROM rollup_dirty WHERE hour < '2026-10-27 00:00+00'")" 0 "no closed hour is left dirty"
is "$(q "SELECT closed_upto = '2026-10-27 00:00+00' FROM rollup_state")" t "hours before 2026-10-27 00:00 are closed"
is "$(diff_count "SELECT * FROM indep_hour" "SELECT * FROM roll_hour")" 0 "hourly rollups equal the raw minutes, hour by hour"
is "$(diff_count "SELECT * FROM indep_day" "SELECT * FROM roll_day")" 0 "daily rollups equal the raw minutes, day by day"
plan_kinds=$(q "SELECT string_agg(kind || '=' || n, ' ' ORDER BY kind) FROM (SELECT kind, count(*) n
	FROM vm_resolution_plan('2026-10-24 03:17:00+00', '2026-10-26 20:43:00+00') GROUP BY 1) x")
is "$plan_kinds" "day=1 hour=40 raw=2" "the reader takes whole days, then whole hours, then minutes"
exact "$BERLIN_FROM" "$BERLIN_TO" "after rollups: the 25-hour Berlin day"
exact "2026-10-24 03:17:00+00" "2026-10-26 20:43:00+00" "after rollups: odd edges"
exact "2026-10-24 00:00+00" "2026-10-27 00:00+00" "after rollups: three whole days"

snap() { q "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM vm_usage_hour t" ; }
s1=$(snap)
out=$(mt --now "2026-10-27 00:05:00" --no-retention)
is "$(echo "$out" | sed -n 's/.*hours rolled up: \([0-9]*\).*/\1/p')" 0 "a second run has nothing to roll up"
is "$(snap)" "$s1" "and changes no rollup"

# --- a row a day late, a lost minute, and an owner change learnt late
gap=$(q "SELECT v || ' ' || extract(epoch FROM m)::bigint FROM generate_series(2, 16, 2) v,
	generate_series('2026-10-25 10:00+00'::timestamptz, '2026-10-25 10:58+00', '1 minute') m
	WHERE NOT EXISTS (SELECT 1 FROM vm_usage_minute WHERE vm_id = v AND minute = m)
	AND NOT EXISTS (SELECT 1 FROM vm_usage_loss WHERE vm_id = v AND minute = m + interval '1 minute')
	ORDER BY m, v LIMIT 1")
[ -n "$gap" ] || bail "no gap to fill"
set -- $gap
q "INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, rss_kib_avg, rss_kib_max)
	VALUES (1, $1, to_timestamp($2), 60000, 6, 123456789, 1000, 2000)" >/dev/null
q "INSERT INTO vm_usage_loss VALUES (1, $1, to_timestamp($2 + 60), 1234, 'gap')" >/dev/null
q "INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib,
	tenant, project, cost_centre, owner_source, digest) VALUES (3, '2026-10-25 12:00:10+00', 2, 'late-owner', 2, 2,
	2097152, 2097152, 'tenant-late', 'p', 'c', 'config', 'late')" >/dev/null
is "$(q "SELECT string_agg(to_char(hour AT TIME ZONE 'UTC', 'HH24') || '/' || host_id, ' ' ORDER BY hour, host_id)
	FROM rollup_dirty WHERE hour < '2026-10-25 14:00+00'")" "10/1 12/0 13/0" \
	"late rows mark their (hour, host); the owner change marks its hours for every host"
exact "$BERLIN_FROM" "$BERLIN_TO" "late rows, before the next maintain: still exact (their hours from minutes)"
out=$(mt --now "2026-10-27 00:06:00" --no-retention)
ok "$(echo "$out" | grep -q 'hours rolled up: [1-9]' && echo 0 || echo 1)" "the next run recomputes the dirty hours"
exact "$BERLIN_FROM" "$BERLIN_TO" "late rows, after the next maintain"
is "$(diff_count "SELECT * FROM indep_hour" "SELECT * FROM roll_hour")" 0 "hourly rollups equal the raw minutes again"
is "$(diff_count "SELECT * FROM indep_day" "SELECT * FROM roll_day")" 0 "daily rollups equal the raw minutes again"
is "$(q "SELECT count(*) FROM vm_usage_hour h JOIN owner o USING (owner_id) WHERE o.tenant = 'tenant-late'
	AND h.hour >= '2026-10-25 12:00+00'")" "$(q "SELECT count(DISTINCT (hour, host_id)) FROM indep_hour h
	JOIN owner o USING (owner_id) WHERE o.tenant = 'tenant-late'")" "the late owner has its hours"

# --- retention
ok "$(mt --raw-days 10 >"$T/o" 2>&1; [ $? = 2 ] && grep -q 'at least 40 days' "$T/o" && echo 0 || echo 1)" \
	"--raw-days below an invoice period and its corrections is refused: $(cat "$T/o")"
ok "$(mt --hourly-days 45 >"$T/o" 2>&1; [ $? = 2 ] && grep -q 'hourly rollups (45 days) must be kept at least as long as raw minutes (62 days)' "$T/o" && echo 0 || echo 1)" \
	"hourly shorter than raw is refused: $(cat "$T/o")"
ok "$(mt --grace x >"$T/o" 2>&1; [ $? = 2 ] && grep -q -- '--grace must be a whole number' "$T/o" && echo 0 || echo 1)" \
	"a bad number is refused: $(cat "$T/o")"
ok "$(mt --now "yesterday noon" >"$T/o" 2>&1; [ $? = 2 ] && grep -q -- "bad --now time 'yesterday noon'" "$T/o" && echo 0 || echo 1)" \
	"a bad --now is refused: $(cat "$T/o")"

# rows in a day that retention keeps
q "INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns)
	SELECT 1, v, '2026-12-04 08:00+00', 60000, 6, 1000 FROM generate_series(1, 3) v" >/dev/null
mt --now "2026-12-05 00:00:00" --no-retention >/dev/null || bail "maintain failed"
parts() { q "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	WHERE i.inhparent = '$1'::regclass"; }
# what retention must leave alone: the minutes from the cutoff on, every
# rollup
kept() {
	for t in "(SELECT * FROM vm_usage_minute WHERE minute >= '2026-12-01 00:00+00')" vm_usage_hour vm_usage_day \
		host_usage_hour host_usage_day vm_traffic_hour vm_traffic_day owner_usage_day; do
		digest $DB "$t"
	done
}
keep_before=$(kept)
before_parts=$(parts vm_usage_minute | wc -w)
out=$(mt --now "2027-01-10 00:00:00" --raw-days 40)
ndrop=$(echo "$out" | grep -c 'retention: .* dropped')
want=$(parts vm_usage_minute | tr ' ' '\n' | awk '$1 < "vm_usage_minute_p20261201"' | wc -l)
is "$want" 0 "every day partition of minutes ending by 2026-12-01 (2027-01-10 - 40 days) is gone"
ok "$([ "$(parts vm_usage_minute | tr ' ' '\n' | grep -c p20261201)" = 1 ] && [ "$ndrop" -gt 200 ] && echo 0 || echo 1)" \
	"the day on the cutoff stays ($ndrop partitions dropped of $before_parts per table)"
keep_after=$(kept)
is "$keep_after" "$keep_before" "nothing else is deleted: kept minutes and all rollups unchanged"
is "$(q "SELECT since FROM storage_horizon WHERE class = 'raw'")" "2026-12-01 00:00:00+00" "the raw horizon moved to the cutoff"
is "$(q "SELECT count(*) FROM vm_usage_minute WHERE minute = '2026-12-04 08:00+00'")" 3 "the kept day's rows are there"
# whole hours still come from rollups; a partial hour cannot
is "$(q "SELECT sum(cpu_ns) = $(q "SELECT sum(cpu_ns) FROM vm_usage_hour WHERE hour >= '2026-10-25 00:00+00' AND hour < '2026-10-25 05:00+00'") FROM vm_usage_between('2026-10-25 00:00+00', '2026-10-25 05:00+00')")" t \
	"after retention, whole hours are read from the rollups"
ok "$(q "SELECT count(*) FROM vm_usage_between('2026-10-25 00:10+00', '2026-10-25 05:00+00')" >"$T/o" 2>&1; [ $? != 0 ] && grep -q 'no longer kept at minute resolution' "$T/o" && echo 0 || echo 1)" \
	"a range that needs dropped minutes is refused: $(head -1 "$T/o")"
ok "$(q "SELECT vm_ensure_partitions('2026-11-03', '2026-11-03')" >"$T/o" 2>&1; [ $? != 0 ] && grep -q 'retention dropped the minutes before' "$T/o" && echo 0 || echo 1)" \
	"no partition is made again for a dropped day: $(head -1 "$T/o")"

# --- one run at a time
psql -X -q "host=$T dbname=$DB user=vmeter" -c "SELECT pg_advisory_lock(8675309, 2)" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
holder=$!
on_cleanup "kill $holder 2>/dev/null"
lock_held() { [ "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 8675309
	AND objid = 2 AND granted")" = 1 ]; }
wait_for "the lock is held" 60 lock_held
ok "$(mt >"$T/o" 2>&1; [ $? = 75 ] && grep -q 'another maintenance run holds the lock' "$T/o" && echo 0 || echo 1)" \
	"a second run at the same time is refused: $(cat "$T/o")"
kill $holder 2>/dev/null
wait $holder 2>/dev/null || true

# --- the collector's role has a day partition made without DDL rights
psql -X -q -v ON_ERROR_STOP=1 "host=$T dbname=$DB user=vmeter" -f "$top_srcdir/sql/roles/vmeter_collector.sql" \
	>/dev/null 2>&1 || bail "cannot create the collector role"
q "CREATE ROLE collector1 LOGIN IN ROLE vmeter_collector" >/dev/null
cq() { psql -X -q -A -t -v ON_ERROR_STOP=1 "host=$T dbname=$DB user=collector1" -c "$1"; }
ok "$(cq "CREATE TABLE vm_usage_minute_p20270301 PARTITION OF vm_usage_minute
	FOR VALUES FROM ('2027-03-01 00:00+00') TO ('2027-03-02 00:00+00')" >/dev/null 2>&1 && echo 1 || echo 0)" \
	"the collector's role cannot create a partition itself"
ok "$(cq "SELECT vm_ensure_partitions('2027-03-01 10:00+00', '2027-03-01 10:00+00');
	INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns)
	VALUES (1, 1, '2027-03-01 10:00+00', 60000, 6, 42)" >"$T/o" 2>&1 && echo 0 || echo 1)" \
	"through vm_ensure_partitions() it has the day made and writes its row: $(cat "$T/o")"
is "$(q "SELECT count(*) FROM rollup_dirty WHERE hour = '2027-03-01 10:00+00' AND host_id = 1")" 1 \
	"and its row marks its hour dirty (a trigger it has no rights on the table of)"
# A writer that marks its own hours (the collector's delivery): in its
# transaction the row trigger leaves its rows alone; in the next one, and
# for any other writer, the trigger marks again.
ok "$(cq "BEGIN; SELECT vm_mark_hours('vm_usage_minute', 1, '{2027-03-01 11:20+00}');
	INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns)
	VALUES (1, 1, '2027-03-01 12:00+00', 60000, 6, 42); COMMIT;
	INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns)
	VALUES (1, 1, '2027-03-01 13:00+00', 60000, 6, 42)" >"$T/o" 2>&1 && echo 0 || echo 1)" \
	"the collector's role marks hours itself through vm_mark_hours(): $(cat "$T/o")"
is "$(q "SELECT string_agg(to_char(hour AT TIME ZONE 'UTC', 'HH24'), ' ' ORDER BY hour) FROM rollup_dirty
	WHERE hour > '2027-03-01 10:00+00' AND hour < '2027-03-02 00:00+00' AND host_id = 1")" "11 13" \
	"the hour it marks is dirty; its own row's trigger is skipped in that transaction only"
