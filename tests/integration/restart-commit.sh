#!/bin/bash
# A SIGKILL inside the spool commit of the pass after a minute boundary,
# with the commit's records half written, as a kill can stop a pwrite() of
# several pages part-way: the first records of the commit whole on disk,
# the last one torn.  The spool once kept those first records: its newest
# record then matched neither saved state, the state was refused with a
# loss recorded, and the minutes of the records cut after them were lost
# with no vm_usage_loss row.  The next start must find the spool ending at
# the pass before, continue from that pass's saved state, and close the
# minute itself.
#
# The kill comes from the spool itself (VMETER_TEST_SPOOL_COMMIT_KILL,
# lib/spool.c), armed inside a minute: passes inside a minute commit
# nothing, so the next commit is that of the boundary pass.  Ground truth
# as in restart.sh: every sample's counters (VMETER_TEST_SAMPLES) and every
# row committed to the spool (VMETER_TEST_LEDGER).
. "$(dirname "$0")/../lib.sh"
VMS=2
plan 15

start_test_fleet "$VMS"
S=$T/samples
LEDGER=$T/ledger
KILL=$T/kill-in-commit
log=$T/collector.log
run() {
	start_collector "$T/vmeter.conf" VMETER_TEST_SAMPLES="$S" VMETER_TEST_LEDGER="$LEDGER" \
		VMETER_TEST_SPOOL_COMMIT_KILL="$KILL"
}
sec() { date +%S.%N | cut -c1-6; }
sec_between() { awk -v s="$(sec)" -v a="$1" -v b="$2" 'BEGIN { exit !(s >= a && s < b) }'; }
host_minutes_at_least() { [ "$(psql_q 'SELECT count(*) FROM host_usage_minute' 2>/dev/null || echo 0)" -ge "$1" ]; }
spool_empty() { "$ADMIN" -c "$T/vmeter.conf" status --json | grep -q '"spool_records": 0,'; }
ledger_minutes() { awk '{ print $1, $2 }' "$LEDGER" | sort; }

run
# A first minute closed and delivered.
wait_for 150 host_minutes_at_least 1 || bail "no host minutes"
# Armed inside the next minute: the next commit with records is that of
# the rows the boundary pass closes.
armable() { sec_between 5 45 && spool_empty; }
wait_for 180 armable || bail "the spool did not drain inside a minute"
minutes_before=$(awk '$1 == "host"' "$LEDGER" | wc -l)
: >"$KILL"
wait_for 150 sh -c "! kill -0 $COLLECTOR_PID" || bail "the collector was not killed"
wait "$COLLECTOR_PID" 2>/dev/null
is "$?" 137 "killed (SIGKILL) inside the commit"
check "the kill came from the armed commit" test ! -e "$KILL"
is "$(awk '$1 == "host"' "$LEDGER" | wc -l)" "$minutes_before" "the killed commit's minute is not in the ledger"

run
resumed() { grep -q "continuing from the state saved\|saved state cannot be used" "$log"; }
wait_for 120 resumed || bail "the collector did not start again"
check "the restart continues from the saved state" grep -q "continuing from the state saved" "$log"
check "the unfinished commit was cut whole" grep -q "cut an unfinished commit" "$log"
# One more minute closed by the new process, and delivered.
wait_for 150 host_minutes_at_least $((minutes_before + 2)) || bail "no minute after the restart"
ledger_minutes | uniq -d >"$T/twice"
is "$(wc -l <"$T/twice")" 0 "no minute committed to the spool twice"
[ -s "$T/twice" ] && sed 's/^/# twice: /' "$T/twice"

# --- the end: stop, write the minutes left open, deliver
stop_collector
[ "$COLLECTOR_RC" = 0 ] && [ "$FLUSH_RC" = 0 ] || bail "stop: $COLLECTOR_RC, -F: $FLUSH_RC"
start_collector "$T/vmeter.conf" # delivers anything -F left in the spool, then stops
wait_for 60 spool_empty || bail "the spool did not drain"
STOP_FLUSH=0 stop_collector

reconcile "$LEDGER"
reconcile_samples "$S" "$VMS"
is "$(psql_q 'SELECT count(*) FROM vm_usage_loss')" 0 "nothing recorded as lost"
is "$(grep -c 'runtime error\|Sanitizer' "$log")" 0 "no sanitizer report"
