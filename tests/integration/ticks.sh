#!/bin/bash
# One sampling pass per tick, on the UTC grid of the interval, and one RRD
# update per file and tick (collector/main.c, arm_tick: issue 17 found 17
# passes for 12 ticks when the timer was armed from libevent's cached time).
# A test-driver fleet of VMS domains behind libvirtd, a real rrdcached and
# PostgreSQL, a 2 s interval, INTERVALS ticks.  Ground truth:
#   - every sample as libvirt gave it (VMETER_TEST_SAMPLES): per domain,
#     exactly one sample in each interval of the grid from its first to its
#     last, none doubled, none left out (the start's first pass comes
#     before the grid's first point, the stop's last sample is not counted);
#   - the updates rrdcached holds for each file (PENDING: it writes nothing
#     for an hour, -w 3600), read before the collector stops: per file one
#     update per interval from the first to the last, at the times of the
#     domain's samples;
#   - the collector's own counters in its status file: grid passes, domain
#     samples, per-domain libvirt calls and those the steady-value rule
#     saved (the test driver's user/system time and memory statistics are
#     constants: after COL_STEADY_READS reads they rest until the next
#     minute, across inventory refreshes, here every 5 s).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

VMS=${VMS:-20}
INTERVALS=${INTERVALS:-10}
STEP=2
plan 13

start_postgres
start_libvirtd
start_rrdcached
sh "$top_srcdir/bench/gen-fleet.sh" "$VMS" >"$T/fleet.xml"
chmod 644 "$T/fleet.xml"
CONF_URI="test+unix://$T/fleet.xml?socket=$LIBVIRT_SOCK" CONF_INTERVAL=$STEP CONF_MAX_GAP=20 \
	CONF_RRDCACHED="unix:$RRDCACHED_SOCK" write_conf "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"

S=$T/samples
start_collector "$T/vmeter.conf" VMETER_TEST_SAMPLES="$S"

# Grid intervals with a sample of every domain (the first pass may have
# found only part of the fleet listed: it is not counted).
full_intervals() {
	[ -f "$S" ] || { echo 0; return; }
	awk -v step=$((STEP * 1000000000)) -v vms="$VMS" '{ n[int($2 / step)]++ } END {
		c = 0; for (k in n) if (n[k] >= vms) c++; print c }' "$S"
}
enough_intervals() { [ "$(full_intervals)" -ge $((INTERVALS + 1)) ]; }
# ...and an RRD file for every domain and the host, with updates pending.
rrd_files_ready() { [ "$(find "$T/rrd" -name '*.rrd' | wc -l)" -ge $((VMS + 1)) ]; }
wait_for "RRD files of $VMS domains and the host" 180 rrd_files_ready || bail "no RRD files"
wait_for "$INTERVALS full intervals after the RRD files" 300 enough_intervals || bail "too few samples"
# The files exist now: wait for INTERVALS more intervals of their updates.
n0=$(full_intervals)
more_intervals() { [ "$(full_intervals)" -ge $((n0 + INTERVALS)) ]; }
wait_for "$INTERVALS more intervals" 300 more_intervals || bail "too few samples"

# rrdcached's pending updates of each file, "FILE TIME" lines, before the
# collector's stop flushes them.
python3 - "$RRDCACHED_SOCK" "$T/rrd" >"$T/pending" <<'EOP' || bail "cannot read rrdcached's pending updates"
import os, socket, sys
sock, d = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
f = s.makefile("rwb")
for name in sorted(os.listdir(d)):
    if not name.endswith(".rrd"):
        continue
    f.write(b"PENDING %s\n" % os.path.join(d, name).encode()); f.flush()
    head = f.readline().decode()
    n = int(head.split()[0])
    if n < 0:
        sys.exit("PENDING %s: %s" % (name, head))
    for _ in range(n):
        print(name[:-4], f.readline().decode().split(":")[0])
EOP
kill -0 "$COLLECTOR_PID" 2>/dev/null
ok $? "the collector ran throughout"
# A stop takes a last sample off the grid (as the start takes a first):
# only the samples before it are counted.
t_stop=$(date +%s%N)
STOP_FLUSH=0 stop_collector
is "$COLLECTOR_RC" 0 "the collector stopped cleanly"

# A pass that overran the next grid point leaves that point without a
# pass (on a loaded machine): the collector says which, and counts them.
# A sample belongs to the latest grid point that had a pass at or before
# its time: an overrunning pass's last samples fall after the point it
# skipped.  Every other point has exactly one sample of each domain.
sed -n 's/.*tick(s) skipped, \([0-9]*\) to \([0-9]*\) (s since the epoch).*/\1 \2/p' "$T/collector.log" |
	awk -v step=$STEP '{ for (g = $1; g <= $2; g += step) print g / step }' >"$T/skipped"
echo "# grid points skipped by an overrunning pass: $(wc -l <"$T/skipped")"
# pass_of: the awk that maps a time in TIME_UNIT to its pass's grid index
pass_of='FILENAME == ARGV[1] { skip[$1] = 1; next } function pass(t,  k) { k = int(t / step); while (k in skip) k--; return k }'
# Per domain: samples per pass from its first pass to its last.
awk -v step=$((STEP * 1000000000)) -v t_stop="$t_stop" "$pass_of"'
	$2 >= t_stop { next } { k = pass($2); n[$1, k]++
	if (!($1 in lo) || k < lo[$1]) lo[$1] = k; if (k > hi[$1]) hi[$1] = k }
	END { for (u in lo) for (k = lo[u]; k <= hi[u]; k++) if (!(k in skip)) print u, k, n[u, k] + 0 }' "$T/skipped" "$S" >"$T/per-interval"
is "$(awk '{ print $1 }' "$T/per-interval" | sort -u | wc -l)" "$VMS" "every domain was sampled"
is "$(awk '$3 > 1' "$T/per-interval" | wc -l)" 0 "no domain sampled twice in an interval"
is "$(awk '$3 == 0' "$T/per-interval" | wc -l)" 0 "no interval left out between a domain's first and last sample (but those the collector said it skipped)"
awk '$3 > 1 || $3 == 0' "$T/per-interval" | head -5 | sed 's/^/# /'
# Every pass is the whole fleet's: the passes with samples all have VMS.
is "$(awk -v step=$((STEP * 1000000000)) -v t_stop="$t_stop" "$pass_of"' $2 < t_stop { n[pass($2)]++ }
	END { for (k in n) print n[k] }' "$T/skipped" "$S" | sort -n | tail -1)" "$VMS" \
	"no interval with more samples than domains (no early or doubled pass)"

# Per RRD file: updates per pass, over the passes it was updated in.
awk -v step=$STEP "$pass_of"' { k = pass($2); n[$1, k]++
	if (!($1 in lo) || k < lo[$1]) lo[$1] = k; if (k > hi[$1]) hi[$1] = k }
	END { for (f in lo) { bad = 0; m = 0; for (k = lo[f]; k <= hi[f]; k++) if (!(k in skip)) { m++; if (n[f, k] != 1) bad++ }
		print f, m, bad } }' "$T/skipped" "$T/pending" >"$T/per-file"
is "$(wc -l <"$T/per-file")" $((VMS + 1)) "updates pending for every domain's file and the host's"
is "$(awk -v m="$INTERVALS" '$2 < m || $3 > 0' "$T/per-file" | wc -l)" 0 \
	"one RRD update per file and interval, over at least $INTERVALS intervals"
awk -v m="$INTERVALS" '$2 < m || $3 > 0' "$T/per-file" | head -5 | sed 's/^/# file intervals bad: /'
# A domain's updates are its samples (the times, in whole seconds).
awk '{ print $1, int($2 / 1000000000) }' "$S" | sort -u >"$T/sample-times"
grep -v '^host' "$T/pending" | sed 's/^vm-//' | sort -u >"$T/update-times"
is "$(comm -13 "$T/sample-times" "$T/update-times" | wc -l)" 0 "every domain's RRD update is one of its samples"

# The status file the stop leaves: the grid passes (the start's first pass
# and the stop's last are not counted) against the ledger's intervals.
st() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/state/status.json" "$1"; }
passes=$(st passes)
is "$passes" "$(awk -v step=$((STEP * 1000000000)) -v t_stop="$t_stop" "$pass_of"' $2 < t_stop { print pass($2) }' \
	"$T/skipped" "$S" | sort -u | awk 'END { print NR - 1 }')" "status.json counts one pass per grid interval sampled"
is "$(st ticks_skipped)" "$(wc -l <"$T/skipped")" "status.json counts the grid points it said it skipped"
is "$(st domain_samples)" $((passes * VMS)) "status.json: each pass sampled the $VMS domains"
saved=$(st libvirt_calls_saved)
within "$saved" $((passes * VMS)) $((2 * passes * VMS)) \
	"the steady-value rule saves 1 to 2 calls per domain and pass across re-lists ($saved in $passes passes)"
