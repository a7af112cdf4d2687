#!/bin/bash
# Stopping and backing off whatever the database does (issue 10, defect 9):
# a SIGTERM during a long reconnect back-off, or while a round trip to a
# hung server is in flight, ends the collector within 2 s with status 0; a
# server that refuses writes (a revoked privilege) is retried with back-off,
# logged as "refused" with PostgreSQL's reason once, and alerted as
# database-refused.  The collector connects as a non-superuser member of
# sql/roles/vmeter_collector.sql's role, so every delivery here also checks
# that the role has what it needs.
. "$(dirname "$0")/../lib.sh"
plan 34

start_postgres
CONF_INTERVAL=1 CONF_CONNINFO="host=$T dbname=vmeter user=collector" write_conf "$T/vmeter.conf"
# A back-off long enough that a stop must interrupt it.
sed -i 's/reconnect-max = 2/reconnect-max = 200/' "$T/vmeter.conf"
grep -q "reconnect-max = 200" "$T/vmeter.conf" || bail "cannot set reconnect-max"
write_conf "$T/admin.conf"
"$ADMIN" -c "$T/admin.conf" migrate >/dev/null || bail "migrate failed"
psql -X -q -v ON_ERROR_STOP=1 "host=$T dbname=vmeter user=vmeter" -f "$top_srcdir/sql/roles/vmeter_collector.sql" \
	>/dev/null || bail "the collector role does not install"
psql_q "CREATE ROLE collector LOGIN IN ROLE vmeter_collector" >/dev/null || bail "cannot create the login role"
log=$T/collector.log
LEDGER=$T/ledger

# field NAME: a field of the status file.
field() { jq -r ".$1" "$T/state/status.json" 2>/dev/null; }
field_is() { [ "$(field "$1")" = "$2" ]; }
field_ge() { [ "$(field "$1")" -ge "$2" ] 2>/dev/null; }
rows() { psql_q "SELECT count(*) FROM vm_usage_minute"; }
rows_gt() { [ "$(rows)" -gt "$1" ]; }
# stop_timed: SIGTERM, then how long until the collector logged its last
# line, "stopped" (its own work done), in ms; EXIT_MS: until the process
# was gone (at most 10 s looked at), which adds the sanitizers' exit work
# (LeakSanitizer's scan: 2.3 s on a loaded machine for a collector that
# logged "stopped" 14 ms after the signal).  COLLECTOR_RC as
# stop_collector sets it.  A collector that never logs "stopped" counts as
# its exit time.
stop_timed() {
	_lines=$(wc -l <"$log")
	_t0=$(date +%s%N)
	kill -TERM "$COLLECTOR_PID"
	_end=$((_t0 + 10000000000))
	while kill -0 "$COLLECTOR_PID" 2>/dev/null && [ "$(date +%s%N)" -lt "$_end" ]; do sleep 0.02; done
	EXIT_MS=$((($(date +%s%N) - _t0) / 1000000))
	kill -0 "$COLLECTOR_PID" 2>/dev/null && kill -9 "$COLLECTOR_PID"
	wait "$COLLECTOR_PID" 2>/dev/null
	COLLECTOR_RC=$?
	_at=$(tail -n +"$((_lines + 1))" "$log" | sed -n 's/^\([0-9TZ:.-]*\) vmeter-collector\[notice\]: stopped$/\1/p' | tail -1)
	STOP_MS=$EXIT_MS
	[ -n "$_at" ] && STOP_MS=$((($(date -d "$_at" +%s%N) - _t0) / 1000000))
	COLLECTOR_RC=$?
}

# --- the role is enough: the collector delivers as a non-superuser.  Its
# directories get the shared group (here 'daemon', which every machine has,
# in place of 'vmeter') and its files are 0640.
start_collector "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER" VMETER_TEST_SHARED_GROUP=daemon
wait_for 120 sh -c "[ \$(psql -X -qtA 'host=$T dbname=vmeter user=vmeter' -c 'SELECT count(*) FROM vm_usage_minute') -gt 0 ]"
ok $? "usage rows arrive through the vmeter_collector role"
n=$(psql_q "SELECT (SELECT count(*) FROM vm_inventory) + (SELECT count(*) FROM host_inventory) > 1")
is "$n" t "inventory and host rows arrive through the role too"
wait_for 60 field_is database up
ok $? "status says the database is up"
wait_for 60 sh -c "ls '$T'/rrd/*.rrd" || diag "no RRD file yet"
modes=$(stat -c '%n %a %G' "$T/state" "$T/state/spool" "$T/rrd" "$T/state/status.json" "$T/state/spool/id" \
	"$T"/state/spool/* "$T"/rrd/*.rrd | sed "s|$T/||")
bad=$(echo "$modes" | awk '$2 != ($1 ~ /^(state|state\/spool|rrd)$/ ? "2750" : "640") || $3 != "daemon"')
is "$bad" "" "directories 2750 and files 0640, all in the shared group"
[ -n "$bad" ] && echo "$modes" | sed 's/^/#   /'

# --- a server's warning goes to the log, not raw to stderr (libpq's
# default): every batch updates the delivery mark, and a trigger warns.
psql_q "CREATE FUNCTION warn_mark() RETURNS trigger LANGUAGE plpgsql AS
	\$\$ BEGIN RAISE WARNING 'vmeter-test-warning'; RETURN NEW; END \$\$;
	CREATE TRIGGER warn_mark BEFORE UPDATE ON host_delivery FOR EACH ROW EXECUTE FUNCTION warn_mark()" >/dev/null
wait_for 60 grep -q "vmeter-collector\[warning\]: database WARNING: vmeter-test-warning" "$log"
ok $? "a server warning is logged at warning level"
psql_q "DROP TRIGGER warn_mark ON host_delivery" >/dev/null
n=$(grep -c "^WARNING:" "$log")
is "$n" 0 "no raw libpq notice on stderr"

# --- (a) the database goes away: down at once, a stop ends the back-off
stop_postgres fast
wait_for 60 field_is database down
ok $? "status says down as soon as delivery fails"
out=$("$ADMIN" -c "$T/admin.conf" status)
arc=$?
[ "$arc" = 3 ] && echo "$out" | grep -q "^alerts: .*database-down"
ok $? "vmeter-admin status alerts database-down (exit $arc)"
grep -q "database unreachable: " "$log"
ok $? "an unreachable database is logged as unreachable"
# Five failures: 1+2+4+8 s behind, the sixth attempt 16 s away.
wait_for 90 field_ge failures 5
ok $? "the collector keeps retrying with back-off"
n=$(grep -c "database unreachable\|database refused" "$log")
is "$n" 1 "one log line for the outage, not one per retry"
stop_timed
within "$STOP_MS" 0 2000 "SIGTERM during a 16 s back-off ends the collector within 2 s (${STOP_MS} ms; the process gone after ${EXIT_MS} ms)"
is "$COLLECTOR_RC" 0 "exit status 0"
is "$(field state)" stopped "status.json says the collector stopped"
out=$("$ADMIN" -c "$T/admin.conf" status 2>&1)
arc=$?
echo "$out" | grep -q "^collector: *stopped at [0-9-]* [0-9:]* UTC" && ! echo "$out" | grep -q "not running"
ok $? "vmeter-admin status says stopped, with the time (exit $arc)"
is "$arc" 1 "vmeter-admin status exits 1 for a stopped collector"

# --- (c) a hung server: the round trip in flight is abandoned
restart_postgres
start_collector "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER"
wait_for 120 field_is database up
ok $? "the collector delivers again after a restart"
pm=$(head -1 "$PGDATA_DIR/postmaster.pid")
pgpids="$pm $(ps -o pid= --ppid "$pm" | tr '\n' ' ')"
kill -STOP $pgpids
on_cleanup "kill -CONT $pgpids 2>/dev/null"
# The next commit wakes delivery, which then waits on the frozen server
# (the database timeout is 60 s): records pile up undelivered.
wait_for 60 sh -c "[ \$(jq .delivery_lag_s '$T/state/status.json' | cut -d. -f1) -ge 3 ]"
ok $? "delivery is stuck on the frozen server"
stop_timed
within "$STOP_MS" 0 2000 "SIGTERM with a round trip in flight ends the collector within 2 s (${STOP_MS} ms; the process gone after ${EXIT_MS} ms)"
is "$COLLECTOR_RC" 0 "exit status 0"
grep -q "round trip in flight was abandoned" "$log"
ok $? "the abandoned round trip is logged"
# A collector started meanwhile hangs in its first connect (the kernel
# accepts, the server never answers): a stop abandons that too.
start_collector "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER"
wait_for 60 field_is state running
field_is database connecting
ok $? "the first connect to the frozen server is in flight"
stop_timed
kill -CONT $pgpids
within "$STOP_MS" 0 2000 "SIGTERM with a connect in flight ends the collector within 2 s (${STOP_MS} ms; the process gone after ${EXIT_MS} ms)"

# --- a login the server refuses is "refused", not "down"
CONF_CONNINFO="host=$T dbname=vmeter user=nosuch" write_conf "$T/nosuch.conf"
start_collector "$T/nosuch.conf"
wait_for 60 field_is database refused
ok $? "a refused login shows as refused in the status file"
grep -q 'database refused: cannot connect to the database: .*role "nosuch" does not exist' "$log"
ok $? "and is logged as refused with the server's reason"
stop_timed

# --- (b) the server refuses writes: back-off, "refused", one line
start_collector "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER"
wait_for 120 field_is database up || bail "the collector does not deliver"
psql_q "REVOKE INSERT ON vm_usage_minute FROM vmeter_collector" >/dev/null
wait_for 60 grep -q "database refused: .*permission denied for table vm_usage_minute" "$log"
ok $? "a refused write is logged as refused with PostgreSQL's reason"
e0=$(grep -c "permission denied for table vm_usage_minute" "$T/pg.log")
# The measurement window of the back-off: errors over 15 s.
sleep 15
e1=$(grep -c "permission denied for table vm_usage_minute" "$T/pg.log")
within "$((e1 - e0))" 1 6 "the server saw a handful of refused transactions in 15 s, not hundreds ($((e1 - e0)))"
out=$("$ADMIN" -c "$T/admin.conf" status)
arc=$?
[ "$arc" = 3 ] && echo "$out" | grep -q "^alerts: .*database-refused" &&
	echo "$out" | grep -q "^database: *refused (.*permission denied"
ok $? "vmeter-admin status alerts database-refused with the reason (exit $arc)"
n0=$(rows)
psql_q "GRANT INSERT ON vm_usage_minute TO vmeter_collector" >/dev/null
# The back-off may be at 32 s by now.
wait_for 120 rows_gt "$n0"
ok $? "rows arrive again after the grant"
wait_for 60 grep -q "database delivery recovered" "$log"
ok $? "recovery is logged"
n=$(grep -c "database refused: .*permission denied" "$log")
is "$n" 1 "one refused line for the whole refusal"
stop_timed
is "$COLLECTOR_RC" 0 "clean exit after the refusal"

# Everything the collector acknowledged arrived (the abandoned batch was
# sent again by the next start), nothing twice.
start_collector "$T/vmeter.conf"
wait_for 120 sh -c "[ \$(jq .spool_records '$T/state/status.json') = 0 ]" || diag "the spool did not drain"
stop_timed
reconcile "$LEDGER"
