#!/bin/sh
# RRD output (lib/rrdout.c) against a private rrdcached and rrdtool itself:
# file layout, exact rates, counter resets, unknown meters, the fallback to
# direct writes, name and address checks, schema change, graphs.  Emits TAP.
#
# tests/rrd_probe (built by `make check`) writes the samples; see the
# comment at its top for what it writes.  Sample k is at START + 10 k.

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
probe=$top_builddir/tests/rrd_probe
START=1700000000
LAST=$((START + 590))

for tool in rrdtool rrdcached; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool not installed"
		exit 0
	fi
done
if [ ! -x "$probe" ]; then
	echo "Bail out! $probe not built (make check builds it)"
	exit 1
fi

# A short, symlink-free directory: rrdcached -B compares real paths and a
# socket path must fit in 108 bytes.
TMP=$(mktemp -d /tmp/vmeter-rrd.XXXXXX) || exit 1
TMP=$(cd "$TMP" && pwd -P)
SOCK=$TMP/rrdcached.sock
DAEMON=unix:$SOCK
daemon_pid=
failed=0
# The files of a failed test stay, as with tests/lib.sh.
cleanup() {
	rc=$?
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	if [ "${KEEP_TMP:-0}" = 1 ] || [ "$failed" != 0 ] || [ "$rc" != 0 ]; then
		echo "# test files kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

n=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	for line in "$@"; do
		echo "# $line"
	done
}
# check DESC COMMAND...: the test passes if COMMAND succeeds.
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# fetch_col FILE DS: "time value" of the 1-step archive for samples 1..59.
fetch_col() {
	rrdtool fetch "$1" AVERAGE --start $START --end $LAST |
		awk -v ds="$2" -v last=$LAST '
			NR == 1 { for (i = 1; i <= NF; i++) if ($i == ds) col = i + 1; next }
			col && NF > 1 { t = $1; sub(":", "", t); if (t + 0 <= last) print t, $col }'
}
# info FILE KEY: the value of KEY in `rrdtool info`.
info() {
	rrdtool info "$1" | awk -v k="$2" '$1 == k { v = $3; gsub("\"", "", v); print v }'
}
# steady_cpu FILE: 5e8 ns/s in every row but the reset one (sample 30).
steady_cpu() {
	fetch_col "$1" cpu | awk -v reset=$((START + 300)) '
		$1 != reset && $2 == "5.0000000000e+08" { good++ }
		END { exit !(good == 58) }'
}
is_png() {
	[ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
}

echo 1..28

# ------------------------------------------------------------ through rrdcached
mkdir -p "$TMP/journal"
rrdcached -g -l "$DAEMON" -b "$TMP" -B -j "$TMP/journal" -F -w 5 -z 1 -p "$TMP/pid" \
	>"$TMP/rrdcached.log" 2>&1 &
daemon_pid=$!
i=0
while [ ! -S "$SOCK" ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "rrdcached started" test -S "$SOCK"

DIR=$TMP/rrd
F=$DIR/vm-test.rrd
if "$probe" write "$DIR" "$DAEMON" vm-test $START 2>"$TMP/write.err" && ! grep -q warning "$TMP/write.err"; then
	ok "60 samples written through rrdcached without a warning"
else
	not_ok "60 samples written through rrdcached without a warning" "$(cat "$TMP/write.err")"
fi
check "rrdtool flushcached" rrdtool flushcached --daemon "$DAEMON" "$F"

nds=$(rrdtool info "$F" | grep -c '^ds\[.*\]\.index')
if [ "$(info "$F" step)" = 10 ] && [ "$nds" = 31 ] && ! rrdtool info "$F" | grep -q 'ds\[running_ms\]'; then
	ok "step 10 s, 31 data sources, none for a meter without rrd_ds"
else
	not_ok "step 10 s, 31 data sources, none for a meter without rrd_ds" "step $(info "$F" step), $nds ds"
fi

got="$(info "$F" 'ds[cpu].type') $(info "$F" 'ds[cpu].min') $(info "$F" 'ds[cpu].minimal_heartbeat')"
check "cpu is DERIVE, min 0, heartbeat 60" test "$got" = "DERIVE 0.0000000000e+00 60"
got="$(info "$F" 'ds[mem_rss].type') $(info "$F" 'ds[mem_rss].min')"
check "mem_rss is GAUGE, min 0" test "$got" = "GAUGE 0.0000000000e+00"

# 1 day of steps, 35 days of minutes, 13 months of hours; AVERAGE and MAX.
want="AVERAGE:1:8640:0.5 MAX:1:8640:0.5 AVERAGE:6:50400:0.5 MAX:6:50400:0.5 AVERAGE:360:9504:0.5 MAX:360:9504:0.5"
got=$(rrdtool info "$F" | awk '
	/^rra\[[0-9]+\]\.(cf|pdp_per_row|rows|xff) / {
		split($1, a, /[][.]/); i = a[2]; v = $3; gsub("\"", "", v)
		if (a[4] == "xff") v = v + 0
		r[i, a[4]] = v; if (i + 1 > n) n = i + 1
	}
	END { for (i = 0; i < n; i++) printf "%s%s:%s:%s:%s", i ? " " : "", r[i, "cf"], r[i, "pdp_per_row"], r[i, "rows"], r[i, "xff"] }')
if [ "$got" = "$want" ]; then ok "archive layout"; else not_ok "archive layout" "got:  $got" "want: $want"; fi

check "cpu rate is exactly 5e8 ns/s over the steady part" steady_cpu "$F"
reset=$(fetch_col "$F" cpu | awk -v t=$((START + 300)) '$1 == t { print $2 }')
others=$(fetch_col "$F" cpu | awk '$2 != "5.0000000000e+08" && $2 !~ /nan/' | wc -l)
if echo "$reset" | grep -qi nan && [ "$others" -eq 0 ]; then
	ok "counter reset gives one unknown step, not a spike"
else
	not_ok "counter reset gives one unknown step, not a spike" "reset step: $reset, other values: $others"
fi

absent=$(fetch_col "$F" mem_usable | awk '$2 !~ /nan/' | wc -l)
rows=$(fetch_col "$F" mem_usable | wc -l)
check "absent meter stored as unknown" test "$absent" -eq 0 -a "$rows" -eq 59
rss=$(fetch_col "$F" mem_rss | awk '$2 != "1.0485760000e+06"' | wc -l)
check "gauge stored as its level" test "$rss" -eq 0
big=$(fetch_col "$F" net_rx_bytes | awk '$2 != "1.0000000000e+02"' | wc -l)
check "counter above INT64_MAX gives its exact rate" test "$big" -eq 0

# A restarted collector learns the last update from the file and skips
# samples it already has instead of failing on them.
if "$probe" write "$DIR" "$DAEMON" vm-test $START 2>"$TMP/rewrite.err" && ! grep -q warning "$TMP/rewrite.err" &&
	rrdtool flushcached --daemon "$DAEMON" "$F" && [ "$(info "$F" last_update)" = $LAST ] && steady_cpu "$F"; then
	ok "old samples after a restart are skipped"
else
	not_ok "old samples after a restart are skipped" "$(cat "$TMP/rewrite.err")"
fi

# ------------------------------------------------------------ without rrdcached
FB=$TMP/fallback
check "writes succeed with the rrdcached socket missing" \
	"$probe" write "$FB" "unix:$TMP/absent.sock" vm-fb $START 2>"$TMP/fallback.err"
warnings=$(grep -c 'warning' "$TMP/fallback.err")
if [ "$warnings" -eq 1 ] && grep -q "rrdcached 'unix:$TMP/absent.sock' unreachable" "$TMP/fallback.err"; then
	ok "one warning for the unreachable rrdcached"
else
	not_ok "one warning for the unreachable rrdcached" "$(cat "$TMP/fallback.err")"
fi
check "direct writes landed in the file" steady_cpu "$FB/vm-fb.rrd"

# ------------------------------------------------------------ the client, a daemon dying
rrdtool create "$TMP/rrdc.rrd" --step 10 --start $((1700000000 - 10)) DS:a:DERIVE:60:0:U DS:b:GAUGE:60:0:U \
	RRA:AVERAGE:0.5:1:10
check "rrdcached client: INFO, UPDATE, refusal, BATCH with an error, LAST" "$probe" rrdc "$SOCK" "$TMP/rrdc.rrd"
KD=$TMP/kill
mkdir -p "$KD"
rrdcached -g -l "unix:$KD/sock" -b "$KD" -B -F -w 3600 -z 1 -p "$KD/pid" >/dev/null 2>&1 &
kpid=$!
for _ in $(seq 50); do [ -S "$KD/sock" ] && break; sleep 0.1; done
check "writes go on when rrdcached dies mid-run" \
	"$probe" write-kill "$KD/files" "unix:$KD/sock" vm-kill $START $kpid 2>"$TMP/kill.err"
wait $kpid 2>/dev/null
if [ "$(grep -c 'warning' "$TMP/kill.err")" -eq 1 ] && grep -q "failed, writing rrd files directly" "$TMP/kill.err"; then
	ok "one warning for the lost rrdcached"
else
	not_ok "one warning for the lost rrdcached" "$(cat "$TMP/kill.err")"
fi
last=$(rrdtool lastupdate "$KD/files/vm-kill.rrd" | awk -F: 'NR == 3 { print $1 }')
if [ "$last" = "$LAST" ]; then ok "the samples after the loss reached the file directly"; else
	not_ok "the samples after the loss reached the file directly" "last update $last, want $LAST"; fi

# ------------------------------------------------------------ refusals
if "$probe" badnames "$TMP/names" 2>"$TMP/names.err"; then
	ok "invalid file names refused"
else
	not_ok "invalid file names refused" "$(cat "$TMP/names.err")"
fi

bad=
for addr in localhost:42217 127.0.0.1:42217 '[::1]:42217' unix:relative.sock tcp://h; do
	if "$probe" new "$TMP/addr" "$addr" 2>"$TMP/addr.err" || ! grep -q 'no authentication' "$TMP/addr.err"; then
		bad="$bad $addr"
	fi
done
check "non-local rrdcached addresses refused${bad:+ (accepted:$bad)}" test -z "$bad"

# ------------------------------------------------------------ schema change
SD=$TMP/schema
mkdir -p "$SD"
# The old file has a value still held by rrdcached: it must land in the old
# file, not be applied to the new one.
rrdtool create "$SD/vm-old.rrd" --start $((START - 100)) --step 10 DS:cpu:GAUGE:60:0:U RRA:AVERAGE:0.5:1:10
rrdtool update --daemon "$DAEMON" "$SD/vm-old.rrd" $((START - 50)):1
"$probe" write "$SD" "$DAEMON" vm-old $START 2>"$TMP/schema.err"
rc=$?
rrdtool flushcached --daemon "$DAEMON" "$SD/vm-old.rrd"
nds=$(rrdtool info "$SD/vm-old.rrd" | grep -c '^ds\[.*\]\.index')
old=
for o in "$SD"/vm-old.rrd.old-*; do
	[ -f "$o" ] && old=${o##*/}
done
if [ $rc -eq 0 ] && [ "$nds" = 31 ] && [ -n "$old" ] && grep -q 'differed' "$TMP/schema.err" &&
	[ "$(info "$SD/$old" last_update)" = $((START - 50)) ] && steady_cpu "$SD/vm-old.rrd"; then
	ok "file with other data sources moved aside and recreated"
else
	not_ok "file with other data sources moved aside and recreated" "rc $rc, $nds ds, old '$old'" \
		"$(cat "$TMP/schema.err")"
fi

# ------------------------------------------------------------ interval change
# A file keeps its step when the interval changes (vmeter.conf(5)): written
# at 10 s, then by a collector at a 5 s interval, it stays where it is with
# a step of 10 s and takes the new samples; a 300 s interval, beyond the
# file's 60 s heartbeat, would leave it unknown: that one is moved aside.
ID=$TMP/interval
mkdir -p "$ID"
S2=$((START + 1200))
"$probe" write "$ID" "$DAEMON" vm-step $START 2>"$TMP/step1.err"
RRD_PROBE_STEP=5 "$probe" write "$ID" "$DAEMON" vm-step $S2 2>"$TMP/step2.err"
rc=$?
rrdtool flushcached --daemon "$DAEMON" "$ID/vm-step.rrd"
good=$(rrdtool fetch "$ID/vm-step.rrd" AVERAGE --start $S2 --end $((S2 + 590)) |
	awk 'NR > 2 && $2 == "5.0000000000e+08" { n++ } END { print n + 0 }')
if [ $rc -eq 0 ] && [ "$(info "$ID/vm-step.rrd" step)" = 10 ] && ! ls "$ID" | grep -q 'old-' &&
	! grep -q differed "$TMP/step2.err" && [ "$(info "$ID/vm-step.rrd" last_update)" = $((S2 + 590)) ] &&
	[ "$good" -ge 55 ]; then
	ok "a file keeps its step when the interval changes, and takes the new samples"
else
	not_ok "a file keeps its step when the interval changes, and takes the new samples" \
		"rc $rc, step $(info "$ID/vm-step.rrd" step), $good steady rows, files: $(ls "$ID" | tr '\n' ' ')" \
		"$(cat "$TMP/step2.err")"
fi
RRD_PROBE_STEP=300 "$probe" write "$ID" "$DAEMON" vm-step $((S2 + 3600)) 2>"$TMP/step3.err"
rc=$?
if [ $rc -eq 0 ] && ls "$ID" | grep -q 'vm-step.rrd.old-' && grep -q differed "$TMP/step3.err" &&
	[ "$(info "$ID/vm-step.rrd" step)" = 300 ]; then
	ok "an interval beyond the file's heartbeat moves it aside"
else
	not_ok "an interval beyond the file's heartbeat moves it aside" "rc $rc, files: $(ls "$ID" | tr '\n' ' ')" \
		"$(cat "$TMP/step3.err")"
fi

# ------------------------------------------------------------ graphs
if "$probe" graph "$DIR" "$DAEMON" vm-test $START $LAST "$TMP/a.png" cpu,vcpu,disk_rd_bytes,mem_rss \
	2>"$TMP/graph.err" && is_png "$TMP/a.png"; then
	ok "graph through rrdcached renders a PNG"
else
	not_ok "graph through rrdcached renders a PNG" "$(cat "$TMP/graph.err")"
fi
if "$probe" graph "$FB" - vm-fb $START $LAST "$TMP/b.png" 2>"$TMP/graph.err" && is_png "$TMP/b.png"; then
	ok "graph of the default data sources without rrdcached renders a PNG"
else
	not_ok "graph of the default data sources without rrdcached renders a PNG" "$(cat "$TMP/graph.err")"
fi
if ! "$probe" graph "$DIR" "$DAEMON" vm-test $START $LAST "$TMP/c.png" cpu,bogus_ds 2>"$TMP/graph.err" &&
	grep -q "unknown data source 'bogus_ds'" "$TMP/graph.err" && [ ! -e "$TMP/c.png" ]; then
	ok "graph of an unknown data source fails naming it"
else
	not_ok "graph of an unknown data source fails naming it" "$(cat "$TMP/graph.err")"
fi

[ $n -eq 28 ] || echo "# planned 28 tests, ran $n"
[ $failed -eq 0 ] && [ $n -eq 28 ]
