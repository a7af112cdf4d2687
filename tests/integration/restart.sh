#!/bin/bash
# Every VM-minute accounted for across the collector's restarts, kills and
# a libvirt outage (the short form of bench/fault-matrix.sh): SIGTERM
# restarts inside a minute, SIGKILLs right after minute boundaries and at
# random moments, libvirtd down for 45 s.  Ground truth is every sample's
# counters as libvirt gave them (VMETER_TEST_SAMPLES): for each domain that
# ran throughout, the CPU time, disk bytes written and network bytes the
# database stores must equal the counters' change from its first sample to
# its last, to the nanosecond and the byte; every minute in between has
# exactly one row; nothing is recorded as lost.
#
# The fleet is a libvirt test-driver file opened through libvirtd: each
# connection gets its own instance of it, so the domains survive a
# libvirtd restart with their ids, like QEMU guests do, and their counters
# follow the wall clock.
#
# bench/fault-matrix.sh runs the long form: VMS domains, TERMS SIGTERM
# restarts, KILLS SIGKILLs (every other one right after a minute
# boundary), libvirtd down for each of OUTAGES seconds.
#
# The collector's clock runs at a fixed offset from the real one (set once,
# before its first start, never stepped): its first minute boundary comes
# 10 s after that start, not up to a minute later.  The moments below are
# on its clock, as the minutes they are compared with.
. "$(dirname "$0")/../lib.sh"
: "${VMS:=4}" "${TERMS:=2}" "${KILLS:=5}" "${OUTAGES:=45}"
plan $((13 + $(echo $OUTAGES | wc -w)))

start_test_fleet "$VMS"
S=$T/samples
LEDGER=$T/ledger
log=$T/collector.log
# Moments something started or stopped (epoch s): the other minutes must
# have one sample per grid point.
mark() { fake_now >>"$T/moments"; }
run() { mark; start_collector_faked "$T/vmeter.conf" VMETER_TEST_SAMPLES="$S" VMETER_TEST_LEDGER="$LEDGER"; }
nsamples() { wc -l <"$S" 2>/dev/null || echo 0; }
samples_beyond() { [ "$(nsamples)" -gt "$1" ]; }
# A new process has sampled (its first pass is done and saved).
wait_sampling() {
	_ns=$(nsamples)
	wait_for 120 samples_beyond $((_ns + 2 * VMS)) || bail "the collector did not sample after a restart"
}
alive() { kill -0 "$COLLECTOR_PID" 2>/dev/null; }

fake_clock_before_minute 10
run
wait_for 120 sh -c "ls '$T'/state/resume.* >/dev/null 2>&1" || bail "no saved state"
wait_sampling
# One undisturbed minute (for the count of samples per minute below).
host_minutes_at_least() { [ "$(psql_q 'SELECT count(*) FROM host_usage_minute' 2>/dev/null || echo 0)" -ge "$1" ]; }
wait_for 240 host_minutes_at_least 2 || bail "no host minutes"

# --- SIGTERM restarts inside a minute; SIGKILLs within 0.4 s after a
# minute boundary and at random moments; restarts 2-8 s later
term_ok=0
kills=0
term() {
	wait_for 120 sec_between 15 30 || bail "clock"
	mark
	STOP_FLUSH=0 stop_collector
	mark
	[ "$COLLECTOR_RC" = 0 ] && term_ok=$((term_ok + 1))
	sleep 6
	run
	wait_sampling
}
kill9() { # kill9 boundary|random
	if [ "$1" = boundary ]; then
		wait_for 120 sec_between 57 59.9 || bail "clock"
		while ! sec_between 0 0.4; do sleep 0.02; done
	else
		sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	fi
	mark
	alive && kill -9 "$COLLECTOR_PID" && kills=$((kills + 1))
	wait "$COLLECTOR_PID" 2>/dev/null
	sleep $((2 + RANDOM % 7))
	run
	wait_sampling
}
t=0 k=0
while [ $t -lt "$TERMS" ] || [ $k -lt "$KILLS" ]; do
	if [ $t -lt "$TERMS" ]; then term; t=$((t + 1)); fi
	for _ in 1 2; do
		[ $k -lt "$KILLS" ] || break
		k=$((k + 1))
		if [ $((k % 2)) = 0 ]; then kill9 boundary; else kill9 random; fi
	done
done
is "$term_ok" "$TERMS" "$TERMS SIGTERM restarts inside minutes, clean exits"
is "$kills" "$KILLS" "$KILLS SIGKILLs landed, $((KILLS / 2)) right after a minute boundary"

# --- libvirtd away: more than max-gap (20 s), less than max-interpolate
for down in $OUTAGES; do
	mark
	stop_libvirtd
	t_down=$(date +%s)
	wait_for 60 grep -q "libvirt connection to .* lost\|cannot connect to libvirt" "$log" || bail "outage not noticed"
	sleep $((down - ($(date +%s) - t_down)))
	n_split=$(grep -c "without a sample: its usage is split over the gap's minutes" "$log")
	start_libvirtd
	mark
	echo "$((t_down + FAKE_OFF)) $(fake_now)" >>"$T/outages"
	wait_sampling
	wait_for 60 sh -c "[ \$(grep -c \"without a sample: its usage is split over the gap's minutes\" '$log') -ge $((n_split + VMS)) ]"
	ok $? "libvirtd down ${down} s: each domain's usage is split over the gap's minutes"
done

# --- a quiet stretch: two whole host minutes stored after the last
# disturbance, so the one-pass-per-grid-point check below has minutes to
# judge however the disturbances fell (on a slow machine they can touch
# every minute of the run).
quiet_minutes() {
	[ "$(psql_q "SELECT count(*) FROM host_usage_minute
		WHERE minute >= to_timestamp($(tail -n 1 "$T/moments")) + interval '5 s'")" -ge 2 ]
}
wait_for 300 quiet_minutes || bail "no host minute stored after the last disturbance"

# --- the end: stop, write the minutes left open, deliver
stop_collector
is "$COLLECTOR_RC" 0 "clean exit"
is "$FLUSH_RC" 0 "vmeter-collector -F writes the open minutes"
# (a function: psql_q is not there in a child sh -c, where this wait once
# timed out every time)
delivered() { [ "$(psql_q 'SELECT count(*) FROM host_delivery')" -ge 1 ]; }
wait_for 60 delivered || bail "nothing delivered after the stop"
start_collector_faked "$T/vmeter.conf" # delivers anything -F left in the spool, then stops
wait_for 60 sh -c "'$ADMIN' -c '$T/vmeter.conf' status --json | grep -q '\"spool_records\": 0,'"
STOP_FLUSH=0 stop_collector

# --- reconcile: stored against libvirt's counters
reconcile_samples "$S" "$VMS"
is "$(psql_q 'SELECT count(*) FROM vm_usage_loss')" 0 "nothing recorded as lost"
# The driver's counter runs with the wall clock (one core); the counter is
# read a few milliseconds away from the sample's time.
over=$(psql_q "SELECT count(*) FROM vm_usage_minute WHERE cpu_ns > coverage_ms::bigint * 1000000 + 100000000")
is "$over" 0 "no minute with more CPU time than its coverage (the driver's one core)"
[ "$over" = 0 ] || psql_q "SELECT vm_id, minute, cpu_ns, coverage_ms, samples FROM vm_usage_minute
	WHERE cpu_ns > coverage_ms::bigint * 1000000 + 100000000" | sed 's/^/# /'
psql_q "SELECT max(abs(cpu_ns - coverage_ms::bigint * 1000000)) FROM vm_usage_minute" | sed 's/^/# largest |cpu_ns - coverage|: /' 
is "$(grep -c 'runtime error\|Sanitizer' "$log")" 0 "no sanitizer report"
# One pass per point of the 2 s grid: 30 samples in every host minute that
# no start, stop or outage touched (and is not the first or the last).
# (Minutes inside a libvirt outage are interpolated: samples 0.)
# A pass that overran the next grid point (a loaded machine) skipped it,
# and the collector said so: its minute is not undisturbed either.
sed -n 's/.*tick(s) skipped, \([0-9]*\) to \([0-9]*\) (s since the epoch).*/\1 \2/p' "$T/collector.log" >"$T/skipped"
echo "# grid points skipped by an overrunning pass: $(awk '{ n += ($2 - $1) / 2 + 1 } END { print n + 0 }' "$T/skipped")"
quiet=$(psql_q "CREATE TEMP TABLE moments (t bigint); COPY moments FROM '$T/moments';
	CREATE TEMP TABLE skipped (a bigint, b bigint); COPY skipped FROM '$T/skipped' (DELIMITER ' ');
	CREATE TEMP TABLE outages (a bigint, b bigint); COPY outages FROM '$T/outages' (DELIMITER ' ');
	SELECT string_agg(DISTINCT samples::text, ',') FROM host_usage_minute h
	WHERE minute > (SELECT min(minute) FROM host_usage_minute) AND minute < (SELECT max(minute) FROM host_usage_minute)
	AND NOT EXISTS (SELECT 1 FROM moments WHERE to_timestamp(t) BETWEEN h.minute - interval '5 s' AND h.minute + interval '65 s')
	AND NOT EXISTS (SELECT 1 FROM outages WHERE h.minute + interval '60 s' > to_timestamp(a) AND h.minute < to_timestamp(b))
	AND NOT EXISTS (SELECT 1 FROM skipped WHERE h.minute + interval '60 s' > to_timestamp(a) AND h.minute <= to_timestamp(b))" 2>&1)
is "$quiet" 30 "30 samples in every undisturbed host minute at 2 s (none early, none twice, none skipped unsaid)"
