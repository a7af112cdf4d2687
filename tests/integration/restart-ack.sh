#!/bin/bash
# A SIGKILL inside the spool's acknowledgement of the rows that the pass
# after a minute boundary committed, at the point where a crash once took
# the spool's newest record away: the delivered segments that go first are
# removed, the ack file is not yet rewritten (the segment holding the newest
# record went first too, and the next start found the record before that
# pass as the newest, so the saved state of the pass before matched: the
# minute was closed twice, and sequence numbers the database's delivery
# mark had counted were handed out again).  The next start must continue
# from the state of the pass that closed the minute.
#
# The kill comes from the spool itself (VMETER_TEST_SPOOL_ACK_KILL, lib/spool.c),
# armed inside a minute, when the spool is empty: the next acknowledgement
# is that of the minute's rows.  Ground truth as in restart.sh: every
# sample's counters (VMETER_TEST_SAMPLES) and every row committed to the
# spool (VMETER_TEST_LEDGER).
#
# With RESTART_KILL_AT=commit (restart-commit.sh) the kill comes inside the
# spool commit of those rows instead (VMETER_TEST_SPOOL_COMMIT_KILL).
#
# The test waits for three minute boundaries.  The collector's clock runs
# at a fixed offset from the real one (set once, before its first start,
# never stepped): its first boundary comes 10 s after that start, not up
# to a minute later.
. "$(dirname "$0")/../lib.sh"
VMS=2
at=${RESTART_KILL_AT:-ack}
if [ "$at" = commit ]; then plan 15; else plan 14; fi

start_test_fleet "$VMS"
S=$T/samples
LEDGER=$T/ledger
KILL=$T/kill-in-$at
log=$T/collector.log
run() {
	start_collector_faked "$T/vmeter.conf" VMETER_TEST_SAMPLES="$S" VMETER_TEST_LEDGER="$LEDGER" \
		"VMETER_TEST_SPOOL_$(echo "$at" | tr a-z A-Z)_KILL=$KILL"
}
host_minutes_at_least() { [ "$(psql_q 'SELECT count(*) FROM host_usage_minute' 2>/dev/null || echo 0)" -ge "$1" ]; }
spool_empty() { "$ADMIN" -c "$T/vmeter.conf" status --json | grep -q '"spool_records": 0,'; }
ledger_minutes() { awk '{ print $1, $2 }' "$LEDGER" | sort; }

fake_clock_before_minute 10
run
# A first minute closed and delivered: the ack file names its records.
wait_for 150 host_minutes_at_least 1 || bail "no host minutes"
# Armed inside the next minute, with nothing waiting: the first
# acknowledgement to come is that of the rows the boundary pass commits,
# and passes inside a minute commit nothing, so the next commit is theirs.
armable() { sec_between 5 45 && spool_empty; }
wait_for 180 armable || bail "the spool did not drain inside a minute"
minutes_before=$(awk '$1 == "host"' "$LEDGER" | wc -l)
: >"$KILL"
wait_for 150 sh -c "! kill -0 $COLLECTOR_PID" || bail "the collector was not killed"
wait "$COLLECTOR_PID" 2>/dev/null
is "$?" 137 "killed (SIGKILL) inside the $at"
check "the kill came from the armed $at" test ! -e "$KILL"
if [ "$at" = commit ]; then
	is "$(awk '$1 == "host"' "$LEDGER" | wc -l)" "$minutes_before" "the killed commit's minute is not in the ledger"
else
	is "$(awk '$1 == "host"' "$LEDGER" | wc -l)" $((minutes_before + 1)) "the pass before the kill closed a minute"
fi

run
resumed() { grep -q "continuing from the state saved\|saved state cannot be used" "$log"; }
wait_for 120 resumed || bail "the collector did not start again"
check "the restart continues from the saved state" grep -q "continuing from the state saved" "$log"
[ "$at" = commit ] && check "the unfinished commit was cut whole" grep -q "cut an unfinished commit" "$log"
# One more minute closed by the new process, and delivered.
wait_for 150 host_minutes_at_least $((minutes_before + 2)) || bail "no minute after the restart"
ledger_minutes | uniq -d >"$T/twice"
is "$(wc -l <"$T/twice")" 0 "no minute committed to the spool twice"
[ -s "$T/twice" ] && sed 's/^/# twice: /' "$T/twice"

# --- the end: stop, write the minutes left open, deliver
stop_collector
[ "$COLLECTOR_RC" = 0 ] && [ "$FLUSH_RC" = 0 ] || bail "stop: $COLLECTOR_RC, -F: $FLUSH_RC"
start_collector_faked "$T/vmeter.conf" # delivers anything -F left in the spool, then stops
wait_for 60 spool_empty || bail "the spool did not drain"
STOP_FLUSH=0 stop_collector

reconcile "$LEDGER"
reconcile_samples "$S" "$VMS"
is "$(psql_q 'SELECT count(*) FROM vm_usage_loss')" 0 "nothing recorded as lost"
is "$(grep -c 'runtime error\|Sanitizer' "$log")" 0 "no sanitizer report"
