#!/bin/bash
# The collector's wall clock steps forward by about two hours, then back by
# one hour, then forward again to where it was, while it runs (libfaketime;
# its monotonic clock stays real).  What must hold (docs/internals/collector.md,
# "Clock steps"): no coverage for the minutes stepped over, no minute
# emitted twice, no minute over 60 s, no capacity beyond the host's CPUs,
# and every acknowledged row stored exactly once.
. "$(dirname "$0")/../lib.sh"
plan 12

start_postgres
sh "$top_srcdir/bench/gen-fleet.sh" 4 >"$T/fleet.xml"
CONF_URI="test://$T/fleet.xml" CONF_MAX_GAP=30 write_conf "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
LEDGER=$T/ledger
log=$T/collector.log
rows() { wc -l <"$LEDGER" 2>/dev/null || echo 0; }
rows_at_least() { [ "$(rows)" -ge "$1" ]; }

# 10 s before a minute: time to start up (a slow start finds the next one).
fake_clock_before_minute 10
t_start=$(date +%s)
start_collector_faked "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER"
wait_for "the first minute's rows" 150 rows_at_least 5 || bail "no rows before the step"
# The first minute the collector wrote: the step comes in the next one.
first=$(awk '{ print $2 }' "$LEDGER" | sort -n | head -1)
sleep 1

# --- forward by about 2 h, to 4 s before a minute
n=$(rows)
fake_clock_before_minute 4 7200
fwd=$(( $(fake_now) + 4 ))
diag "clock stepped forward to $(date -u -d "@$(fake_now)" '+%H:%M:%S'), from $(date -u -d "@$first" '+%H:%M')"
wait_for "the rows of the minutes before and after the step" 120 rows_at_least $((n + 10)) ||
	bail "no rows after the forward step"
sleep 1

# --- back by 1 h for 6 s, then forward by 1 h again
fake_clock_set $((FAKE_OFF - 3600))
sleep 6
fake_clock_set $((FAKE_OFF + 3600))
sleep 3
stop_collector
t_run=$(( $(date +%s) - t_start ))
is "$COLLECTOR_RC" 0 "clean exit"

reconcile "$LEDGER"
led_dups=$(awk '{ print $1, $2 }' "$LEDGER" | sort | uniq -d | wc -l)
is "$led_dups" 0 "no minute emitted twice (VM or host)"
between() { psql_q "SELECT count(*) FROM $1 WHERE minute >= to_timestamp($2) AND minute < to_timestamp($3)"; }
is "$(between vm_usage_minute $((first + 120)) $((fwd - 120)))" 0 "no VM row in the two hours stepped over"
is "$(between host_usage_minute $((first + 120)) $((fwd - 120)))" 0 "no host row in the two hours stepped over"
is "$(between vm_usage_minute $((fwd - 3600 - 120)) $((fwd - 3600 + 120)))" 0 \
	"no VM row for the hour stepped back into: those minutes' usage is counted late"
over=$(psql_q "SELECT count(*) FROM vm_usage_minute WHERE coverage_ms > 60000 OR coverage_ms < 0")
is "$over" 0 "no minute over 60 s or below 0 of coverage"
# Coverage is time the collector observed: never more than it ran.
cov=$(psql_q "SELECT coalesce(max(s), 0) FROM (SELECT sum(coverage_ms) / 1000 AS s FROM vm_usage_minute GROUP BY vm_id) c")
within "$cov" 1 "$t_run" "no VM covered longer than the collector ran ($cov s of $t_run s)"
cov=$(psql_q "SELECT coalesce(sum(coverage_ms), 0) / 1000 FROM host_usage_minute")
within "$cov" 1 "$t_run" "the host not covered longer than the collector ran ($cov s of $t_run s)"
cap=$(psql_q "SELECT count(*) FROM host_usage_minute WHERE cpu_capacity_ns > cpus_max * 60000000000 OR cpu_capacity_ns < 0")
is "$cap" 0 "no host minute with more CPU capacity than its CPUs have"
n=$(grep -c "clock stepped back" "$log")
within "$n" 1 4 "the step back is logged per VM, not per sample ($n)"
diag "largest VM cpu_ns in a minute: $(psql_q "SELECT max(cpu_ns) / 1000000000 FROM vm_usage_minute") s (the test driver's CPU time follows the wall clock)"
