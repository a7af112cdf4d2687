#!/bin/bash
# lib/pgev.c (the libevent pool) against a real PostgreSQL: see
# tests/pg_async_probe.c.  Many queries on a slowed database while a timer
# on the same loop keeps time; bad SQL, a timeout, the server killed in the
# middle of queries and restarted, and the pool freed with queries pending.
. "$(dirname "$0")/../lib.sh"
PROBE=$top_builddir/tests/pg_async_probe
plan 24
start_postgres
# Each query sleeps 0.2 s in the database and returns its parameter.
psql_q "CREATE FUNCTION slow_echo(x int) RETURNS int LANGUAGE sql AS
	'SELECT x FROM (SELECT pg_sleep(0.2)) s'" >/dev/null || bail "cannot create slow_echo()"

# probe ARGS...: runs the probe, its PASS/FAIL lines as TAP; PROBE_RC is
# its exit status (ASan's leak check makes a leak a failure).
probe() {
	"$PROBE" "$@" >"$T/probe.out" 2>"$T/probe.err"
	PROBE_RC=$?
	while IFS= read -r line; do
		case $line in
		"PASS "*) ok 0 "${line#PASS }" ;;
		"FAIL "*) ok 1 "${line#FAIL }" ;;
		*) echo "$line" ;;
		esac
	done <"$T/probe.out"
	[ -s "$T/probe.err" ] && grep -v '^$' "$T/probe.err" | tail -n 20 | sed 's/^/# stderr: /'
	return 0
}

probe load "$PG_CONNINFO" 100 4 200
is "$PROBE_RC" 0 "load: the probe exits cleanly (no leak)"

probe errors "$PG_CONNINFO"
is "$PROBE_RC" 0 "errors: the probe exits cleanly (no leak)"

# The server killed with queries in flight, then started again.
rm -f "$T/inflight" "$T/failed"
"$PROBE" kill "$PG_CONNINFO" "$T" >"$T/kill.out" 2>"$T/kill.err" &
KPID=$!
_pids="$_pids $KPID"
wait_for "4 queries in flight" 60 test -e "$T/inflight" || bail "the probe did not get its queries running"
stop_postgres immediate
wait_for "the probe's queries to fail" 90 test -e "$T/failed"
restart_postgres || bail "PostgreSQL did not restart"
wait "$KPID"
KRC=$?
while IFS= read -r line; do
	case $line in
	"PASS "*) ok 0 "${line#PASS }" ;;
	"FAIL "*) ok 1 "${line#FAIL }" ;;
	*) echo "$line" ;;
	esac
done <"$T/kill.out"
[ -s "$T/kill.err" ] && grep -v '^$' "$T/kill.err" | tail -n 20 | sed 's/^/# stderr: /'
is "$KRC" 0 "kill: the probe exits cleanly (no leak)"

probe cancel "$PG_CONNINFO"
is "$PROBE_RC" 0 "cancel: the probe exits cleanly (no leak: ASan checks)"
