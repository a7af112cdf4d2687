#!/bin/bash
# The host's energy from RAPL into host_power_minute, end to end: the
# collector reads a fake powercap tree (two packages, a subzone and an MMIO
# copy that must not count) whose counters a background writer advances
# by fixed steps once a second, wrapping at their range; it is stopped and
# started again in the middle.  Ground truth is the values written and the
# values the collector read (VMETER_TEST_POWER_SAMPLES):
#   - the energy stored equals the counters' advance from the collector's
#     first sample (before the first step) to its last (after the last
#     step), to the microjoule, across the restart;
#   - each row equals its minute's share of the intervals between the
#     samples read, split by time as lib/usage.h documents (recomputed
#     here, with the wrap rule of collector/power.h);
#   - a minute covered in full holds 60 steps, give or take one at each end;
#   - every minute from the first to the last is covered in full (the
#     restart loses nothing), and the hours are marked for the rollups.
# The collector's clock runs at a fixed offset from the real one (set once,
# before its first start, never stepped; whole seconds, so that it still
# samples at x.0 s): its first minute boundary comes 10 s after that
# start, not up to a minute later.
. "$(dirname "$0")/../lib.sh"
plan 10

start_postgres
PC=$T/powercap
RANGE=100000000 # 100 J: at 1.5 W the packages wrap every minute or so
STEP0=1000000   # package-0: 1 W
STEP1=500000    # package-1: 0.5 W
mkdir -p "$PC"
zone() { # zone DIR NAME ENERGY
	mkdir -p "$PC/$1"
	echo "$2" >"$PC/$1/name"
	echo "$3" >"$PC/$1/energy_uj"
	echo "$RANGE" >"$PC/$1/max_energy_range_uj"
}
zone intel-rapl:0 package-0 90000000
zone intel-rapl:1 package-1 5
zone intel-rapl:0:0 core 7
zone intel-rapl-mmio:0 package-0 90000000
mkdir -p "$PC/intel-rapl"

# The writer: at each wall-clock x.5 s every zone moves by its step
# (modulo range + 1, as the kernel's counter wraps), by rename so that a
# read sees the old value or the new one; it stops once $T/stop exists
# and then records the total advance of the two packages.
python3 - "$PC" "$RANGE" "$STEP0" "$STEP1" "$T" <<'EOP' &
import os, sys, time
pc, rng, s0, s1, t = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
steps = {"intel-rapl:0": s0, "intel-rapl:1": s1, "intel-rapl:0:0": 3 * s0, "intel-rapl-mmio:0": s0}
total = 0
while not os.path.exists(t + "/go"):
    time.sleep(0.05)
while not os.path.exists(t + "/stop"):
    now = time.time()
    time.sleep(int(now) + 1.5 - now if now % 1 >= 0.5 else int(now) + 0.5 - now)
    for z, s in steps.items():
        p = pc + "/" + z + "/energy_uj"
        v = (int(open(p).read()) + s) % (rng + 1)
        open(p + ".tmp", "w").write("%d\n" % v)
        os.rename(p + ".tmp", p)
    total += s0 + s1
    open(t + "/advance.tmp", "w").write("%d\n" % total)
    os.rename(t + "/advance.tmp", t + "/advance")
open(t + "/advance.tmp", "w").write("%d\n" % total)
os.rename(t + "/advance.tmp", t + "/done")
EOP
_pids="$_pids $!"

CONF_POWER_SOURCE=rapl CONF_POWERCAP_ROOT=$PC write_conf "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
P=$T/power-samples
nsamples() { wc -l <"$P" 2>/dev/null || echo 0; }
samples_beyond() { [ "$(nsamples)" -gt "$1" ]; }
full_minutes_at_least() {
	[ "$(psql_q 'SELECT count(*) FROM host_power_minute WHERE coverage_ms = 60000' 2>/dev/null || echo 0)" -ge "$1" ]
}
run() { start_collector_faked "$T/vmeter.conf" VMETER_TEST_POWER_SAMPLES="$P"; }

fake_clock_before_minute 10
run
wait_for 120 samples_beyond 0 || bail "the collector read no energy"
touch "$T/go" # the first sample read the values before any step
wait_for 300 full_minutes_at_least 1 || bail "no minute of energy covered in full"

# Stopped and started again inside a minute: the interval between the
# last sample before and the first after is counted once.
STOP_FLUSH=0 stop_collector
is "$COLLECTOR_RC" 0 "clean exit"
n=$(nsamples)
run
wait_for 120 samples_beyond $((n + 2)) || bail "no samples after the restart"
wait_for 300 full_minutes_at_least 3 || bail "no full minutes after the restart"

# The last steps, then a sample after them, then everything delivered.
touch "$T/stop"
wait_for 60 test -f "$T/done" || bail "the writer did not stop"
t_done=$(( $(date +%s%N) + FAKE_OFF * 1000000000 ))
last_after() { [ "$(tail -1 "$P" | cut -d' ' -f1)" -gt "$t_done" ]; }
wait_for 60 last_after || bail "no sample after the last step"
stop_collector
is "$FLUSH_RC" 0 "vmeter-collector -F writes the open minutes"
start_collector_faked "$T/vmeter.conf"
wait_for 60 sh -c "'$ADMIN' -c '$T/vmeter.conf' status --json | grep -q '\"spool_records\": 0,'"
STOP_FLUSH=0 stop_collector

advance=$(cat "$T/done")
stored=$(psql_q "SELECT sum(energy_uj) FROM host_power_minute")
is "$stored" "$advance" "the energy stored is the packages' advance, to the microjoule, across the restart and the wraps"
within "$advance" $((STEP0 + STEP1)) 1000000000000 "the counters advanced"

# Each minute from the samples as read: deltas with the wrap rule, split
# by time with floor(delta * (b - t0) / span) - floor(delta * (a - t0) / span).
python3 - "$P" >"$T/expected" <<'EOP'
import sys
M = 60 * 10**9
prev = None
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    t, zones = int(f[0]), [(f[i], int(f[i + 1]), int(f[i + 2])) for i in range(1, len(f), 3)]
    if prev:
        t0, z0 = prev
        d = 0
        for (n0, e0, r0), (n1, e1, r1) in zip(z0, zones):
            d += e1 - e0 if e1 >= e0 else r1 - e0 + e1 + 1
        m = t0 // M * M
        while m < t:
            a, b = max(m, t0), min(m + M, t)
            rows[m] = rows.get(m, 0) + d * (b - t0) // (t - t0) - d * (a - t0) // (t - t0)
            m += M
    prev = (t, zones)
for m in sorted(rows):
    print(m // 10**9, rows[m])
EOP
psql_q "COPY (SELECT extract(epoch FROM minute)::bigint, energy_uj FROM host_power_minute ORDER BY minute) TO STDOUT" |
	tr '\t' ' ' >"$T/stored"
diff "$T/expected" "$T/stored" >"$T/diff"
ok $? "each minute's energy is its share of the intervals the collector read, exactly"
sed 's/^/# /' "$T/diff" | head -10
is "$(awk '{ print NF }' "$P" | sort -u)" 7 "two zones read: the packages, not the subzone or the MMIO copy"

# The writer steps at x.5 s, the collector samples at x.0 s: a minute holds
# 60 steps, but a step the loaded machine delays past a sample, or the
# split of an interval at the minute's ends, moves up to one step over
# each end (the exact checks are the two above).
lo=$((58 * (STEP0 + STEP1))) hi=$((62 * (STEP0 + STEP1)))
is "$(psql_q "SELECT count(*) FROM host_power_minute WHERE coverage_ms = 60000 AND energy_uj NOT BETWEEN $lo AND $hi")" 0 \
	"a minute covered in full holds 60 steps of 1.5 W, give or take one at each end"
is "$(psql_q "SELECT count(*) FROM host_power_minute WHERE coverage_ms < 60000 AND minute > (SELECT min(minute)
	FROM host_power_minute) AND minute < (SELECT max(minute) FROM host_power_minute)")" 0 \
	"every minute between the first and the last is covered in full (the restart lost nothing)"
is "$(psql_q "SELECT count(*) FROM (SELECT DISTINCT date_trunc('hour', minute, 'UTC') h FROM host_power_minute) p
	WHERE NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.hour = p.h)")" 0 "their hours are marked for the rollups"
is "$(grep -c 'runtime error\|Sanitizer\|power: cannot read' "$T/collector.log")" 0 "no sanitizer report, no read error"
