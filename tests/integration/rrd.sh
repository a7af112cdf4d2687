#!/bin/sh
# RRD output (lib/rrdout.c) against a private rrdcached and rrdtool itself:
# file layout, exact rates, counter resets, unknown meters, the fallback to
# direct writes, name and address checks, old layouts converted (or moved
# aside), schema change, graphs.  Emits TAP.
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
# steady_cpu FILE [LEAST]: the probe's 60 samples give 58 steady CPU rates
# (not the first, not the reset); LEAST allows fewer.
steady_cpu() {
	fetch_col "$1" cpu | awk -v reset=$((START + 300)) -v least="${2:-58}" '
		$1 != reset && $2 == "5.0000000000e+08" { good++ }
		END { exit !(good >= least && good <= 58) }'
}
is_png() {
	[ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
}
# ds_list FILE: the data sources in their order, space separated.
ds_list() {
	rrdtool info "$1" | awk '/^ds\[.*\]\.index / { n = $1; sub(/^ds\[/, "", n); sub(/\]\.index$/, "", n); print $3, n }' |
		sort -n | awk '{ printf "%s%s", (NR > 1 ? " " : ""), $2 }'
}
# rra_list FILE: "CF:PDP_PER_ROW:ROWS:XFF" of each archive, space separated.
rra_list() {
	rrdtool info "$1" | awk '
		/^rra\[[0-9]+\]\.(cf|pdp_per_row|rows|xff) / {
			split($1, a, /[][.]/); i = a[2]; v = $3; gsub("\"", "", v)
			if (a[4] == "xff") v = v + 0
			r[i, a[4]] = v; if (i + 1 > n) n = i + 1
		}
		END { for (i = 0; i < n; i++) printf "%s%s:%s:%s:%s", i ? " " : "", r[i, "cf"], r[i, "pdp_per_row"], r[i, "rows"], r[i, "xff"] }'
}
# The VM data sources (lib/usage.c: the meters with an rrd_ds) and, at a
# 10 s step, the archives: the step for 2 h, then AVERAGE and MAX of 1 min
# for 36 h, 15 min for 5 weeks, 12 h for 13 months, 1 day for 5 years.
WANT_DS="cpu vcpu vcpu_delay vcpu_wait disk_rd_bytes disk_wr_bytes disk_rd_reqs disk_wr_reqs disk_rd_time \
disk_wr_time net_rx_bytes net_tx_bytes net_rx_pkts net_tx_pkts net_rx_drop net_tx_drop vcpus mem_max mem_balloon \
mem_rss mem_usable mem_available disk_capacity disk_allocation"
WANT_RRA="AVERAGE:1:720:0.5 AVERAGE:6:2160:0.5 MAX:6:2160:0.5 AVERAGE:90:3360:0.5 MAX:90:3360:0.5 \
AVERAGE:4320:792:0.5 MAX:4320:792:0.5 AVERAGE:8640:1827:0.5 MAX:8640:1827:0.5"
# The layout before: 31 data sources, AVERAGE and MAX of the step for a
# day, 1 min for 35 days, 1 h for 13 months (34 MB).
OLD_DS="DS:cpu:DERIVE:60:0:U DS:cpu_user:DERIVE:60:0:U DS:cpu_system:DERIVE:60:0:U DS:vcpu:DERIVE:60:0:U
DS:vcpu_delay:DERIVE:60:0:U DS:vcpu_wait:DERIVE:60:0:U DS:disk_rd_bytes:DERIVE:60:0:U DS:disk_wr_bytes:DERIVE:60:0:U
DS:disk_rd_reqs:DERIVE:60:0:U DS:disk_wr_reqs:DERIVE:60:0:U DS:disk_rd_time:DERIVE:60:0:U DS:disk_wr_time:DERIVE:60:0:U
DS:disk_fl_reqs:DERIVE:60:0:U DS:disk_fl_time:DERIVE:60:0:U DS:net_rx_bytes:DERIVE:60:0:U DS:net_tx_bytes:DERIVE:60:0:U
DS:net_rx_pkts:DERIVE:60:0:U DS:net_tx_pkts:DERIVE:60:0:U DS:net_rx_errs:DERIVE:60:0:U DS:net_tx_errs:DERIVE:60:0:U
DS:net_rx_drop:DERIVE:60:0:U DS:net_tx_drop:DERIVE:60:0:U DS:vcpus:GAUGE:60:0:U DS:mem_max:GAUGE:60:0:U
DS:mem_balloon:GAUGE:60:0:U DS:mem_rss:GAUGE:60:0:U DS:mem_usable:GAUGE:60:0:U DS:mem_available:GAUGE:60:0:U
DS:mem_unused:GAUGE:60:0:U DS:disk_capacity:GAUGE:60:0:U DS:disk_allocation:GAUGE:60:0:U"
OLD_RRA="RRA:AVERAGE:0.5:1:8640 RRA:MAX:0.5:1:8640 RRA:AVERAGE:0.5:6:50400 RRA:MAX:0.5:6:50400
RRA:AVERAGE:0.5:360:9504 RRA:MAX:0.5:360:9504"
# make_old FILE FROM TO: a file of the old layout, with cpu at 5e8 ns/s
# and mem_rss at 1048576 KiB every 10 s from FROM to TO.
make_old() {
	# shellcheck disable=SC2086
	rrdtool create "$1" --step 10 --start $(($2 - 10)) $OLD_DS $OLD_RRA || return 1
	awk -v from="$2" -v to="$3" 'BEGIN {
		for (t = from; t <= to; t += 10) {
			line = t ":" sprintf("%.0f", (t - from) * 5e8)
			for (i = 1; i < 31; i++) line = line ":" (i == 25 ? 1048576 : "U")
			printf "%s%s", line, (++n % 1000 == 0 || t + 10 > to) ? "\n" : " "
		}
	}' | while read -r lines; do
		# shellcheck disable=SC2086
		rrdtool update "$1" $lines || return 1
	done
}
# cpu_rows FILE RES FROM TO: how many rows of cpu at resolution RES are 5e8.
cpu_rows() {
	rrdtool fetch "$1" AVERAGE -r "$2" --start "$3" --end "$4" |
		awk 'NR > 2 && $2 == "5.0000000000e+08" { n++ } END { print n + 0 }'
}

echo 1..36

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

got=$(ds_list "$F")
if [ "$(info "$F" step)" = 10 ] && [ "$got" = "$WANT_DS" ]; then
	ok "step 10 s, exactly the graphed meters as data sources, in their order"
else
	not_ok "step 10 s, exactly the graphed meters as data sources, in their order" "step $(info "$F" step)" \
		"got:  $got" "want: $WANT_DS"
fi

got="$(info "$F" 'ds[cpu].type') $(info "$F" 'ds[cpu].min') $(info "$F" 'ds[cpu].minimal_heartbeat')"
check "cpu is DERIVE, min 0, heartbeat 60" test "$got" = "DERIVE 0.0000000000e+00 60"
got="$(info "$F" 'ds[mem_rss].type') $(info "$F" 'ds[mem_rss].min')"
check "mem_rss is GAUGE, min 0" test "$got" = "GAUGE 0.0000000000e+00"

got=$(rra_list "$F")
if [ "$got" = "$WANT_RRA" ]; then ok "archive layout"; else not_ok "archive layout" "got:  $got" "want: $WANT_RRA"; fi

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

# A BATCH goes to the daemon as it fills, not only at the commit (the
# probe checks the daemon's LAST before and after its one commit).
if RRD_PROBE_BATCH=7 "$probe" write "$DIR" "$DAEMON" vm-batch $START 2>"$TMP/batch.err" &&
	! grep -q warning "$TMP/batch.err" && rrdtool flushcached --daemon "$DAEMON" "$DIR/vm-batch.rrd" &&
	steady_cpu "$DIR/vm-batch.rrd"; then
	ok "updates sent in BATCHes of 7 as they fill, the rest by the commit"
else
	not_ok "updates sent in BATCHes of 7 as they fill, the rest by the commit" "$(cat "$TMP/batch.err")"
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

# ------------------------------------------------------------ old layouts
# A file of the old layout is converted at its first update: the data
# sources both layouts have keep their data (readable at the coarse
# resolutions), the others go.  A value rrdcached still holds for it is
# written to it first, so it is carried over too, and not applied to the
# new file.
CD=$TMP/convert
mkdir -p "$CD"
make_old "$CD/vm-conv.rrd" $((START - 3 * 86400)) $((START - 100))
rrdtool update --daemon "$DAEMON" "$CD/vm-conv.rrd" \
	"$((START - 50)):$(awk -v k=$((3 * 8640 - 5)) 'BEGIN { printf "%.0f", k * 5e9 }')$(printf ':U%.0s' $(seq 30))"
"$probe" write "$CD" "$DAEMON" vm-conv $START 2>"$TMP/convert.err"
rc=$?
rrdtool flushcached --daemon "$DAEMON" "$CD/vm-conv.rrd"
lines=$(grep -c "converted '$CD/vm-conv.rrd' from an old layout" "$TMP/convert.err")
if [ $rc -eq 0 ] && [ "$lines" = 1 ] && [ "$(grep -c warning "$TMP/convert.err")" = 0 ] &&
	[ "$(ls "$CD")" = vm-conv.rrd ]; then
	ok "an old-layout file is converted in place, with one log line"
else
	not_ok "an old-layout file is converted in place, with one log line" "rc $rc, files: $(ls "$CD" | tr '\n' ' ')" \
		"$(cat "$TMP/convert.err")"
fi
if [ "$(ds_list "$CD/vm-conv.rrd")" = "$WANT_DS" ] && [ "$(rra_list "$CD/vm-conv.rrd")" = "$WANT_RRA" ]; then
	ok "the converted file has the current data sources and archives"
else
	not_ok "the converted file has the current data sources and archives" "ds:  $(ds_list "$CD/vm-conv.rrd")" \
		"rra: $(rra_list "$CD/vm-conv.rrd")"
fi
# Two days back: 96 rows of 15 min; the step before START - 50 came from
# the daemon; the new samples after it as usual.
q=$(cpu_rows "$CD/vm-conv.rrd" 900 $((START - 2 * 86400)) $((START - 86400 - 900)))
held=$(rrdtool fetch "$CD/vm-conv.rrd" AVERAGE -r 10 --start $((START - 60)) --end $((START - 50)) |
	awk -v t=$((START - 50)) '$1 == t ":" { print $2 }')
rss=$(rrdtool fetch "$CD/vm-conv.rrd" AVERAGE -r 900 --start $((START - 2 * 86400)) --end $((START - 86400 - 900)) |
	awk 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "mem_rss") c = i + 1 } NR > 2 && $c == "1.0485760000e+06" { n++ } END { print n + 0 }')
if [ "$q" -ge 95 ] && [ "$rss" -ge 95 ] && [ "$held" = 5.0000000000e+08 ] && steady_cpu "$CD/vm-conv.rrd"; then
	ok "its data is kept: 15 min rows of old data, the value rrdcached held, the new samples"
else
	not_ok "its data is kept: 15 min rows of old data, the value rrdcached held, the new samples" \
		"15 min rows: cpu $q, mem_rss $rss (want 96); held value '$held'"
fi

# The collector converts on its creator thread with the rrdtool program;
# the samples that come meanwhile are skipped (usually all of them here:
# the second run writes them; on a loaded machine the first run may write
# its last ones after the conversion, and the step where it resumed is
# unknown: one rate fewer).
# A run that ends before the creator thread took the job drops it (the
# next run queues it again): on a loaded machine that can happen run after
# run, so runs repeat until one has converted the file, and one more
# writes the samples.
make_old "$CD/vm-async.rrd" $((START - 3 * 86400)) $((START - 100))
: >"$TMP/async.err"
rc=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	RRD_PROBE_ASYNC=1 "$probe" write "$CD" "$DAEMON" vm-async $START 2>>"$TMP/async.err" || { rc=$?; break; }
	grep -q "converted '$CD/vm-async.rrd'" "$TMP/async.err" && break
done
[ $rc = 0 ] && { RRD_PROBE_ASYNC=1 "$probe" write "$CD" "$DAEMON" vm-async $START 2>>"$TMP/async.err" || rc=$?; }
rrdtool flushcached --daemon "$DAEMON" "$CD/vm-async.rrd"
q=$(cpu_rows "$CD/vm-async.rrd" 900 $((START - 2 * 86400)) $((START - 86400 - 900)))
if [ $rc -eq 0 ] && grep -q "converted '$CD/vm-async.rrd'" "$TMP/async.err" &&
	[ "$(ds_list "$CD/vm-async.rrd")" = "$WANT_DS" ] && [ "$(rra_list "$CD/vm-async.rrd")" = "$WANT_RRA" ] &&
	[ "$q" -ge 95 ] && [ "$(grep -c converted "$TMP/async.err")" = 1 ] && steady_cpu "$CD/vm-async.rrd" 57; then
	ok "an old-layout file is converted off the sampling thread too"
else
	not_ok "an old-layout file is converted off the sampling thread too" "rc $rc, 15 min rows $q" \
		"$(cat "$TMP/async.err")"
fi

# A file that cannot be converted (here its temporary name is taken by a
# directory) is moved aside, with one line saying so, and started anew.
make_old "$CD/vm-stuck.rrd" $((START - 1000)) $((START - 100))
mkdir "$CD/vm-stuck.rrd.converting"
"$probe" write "$CD" - vm-stuck $START 2>"$TMP/stuck.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c warning "$TMP/stuck.err")" = 1 ] &&
	grep -q "'$CD/vm-stuck.rrd' has an old layout and could not be converted (.*): moved it to '$CD/vm-stuck.rrd.old-layout'" \
		"$TMP/stuck.err" && [ "$(info "$CD/vm-stuck.rrd.old-layout" last_update)" = $((START - 100)) ] &&
	[ "$(ds_list "$CD/vm-stuck.rrd")" = "$WANT_DS" ] && steady_cpu "$CD/vm-stuck.rrd"; then
	ok "a file that cannot be converted is moved to .old-layout with one warning"
else
	not_ok "a file that cannot be converted is moved to .old-layout with one warning" "rc $rc" \
		"$(cat "$TMP/stuck.err")"
fi

# ------------------------------------------------------------ schema change
SD=$TMP/schema
mkdir -p "$SD"
# A data source of ours with another type holds values that would mean
# something else: the file is moved aside, not converted.  Its value still
# held by rrdcached must land in the old file, not in the new one.
rrdtool create "$SD/vm-old.rrd" --start $((START - 100)) --step 10 DS:cpu:GAUGE:60:0:U RRA:AVERAGE:0.5:1:10
rrdtool update --daemon "$DAEMON" "$SD/vm-old.rrd" $((START - 50)):1
"$probe" write "$SD" "$DAEMON" vm-old $START 2>"$TMP/schema.err"
rc=$?
rrdtool flushcached --daemon "$DAEMON" "$SD/vm-old.rrd"
if [ $rc -eq 0 ] && [ "$(ds_list "$SD/vm-old.rrd")" = "$WANT_DS" ] && [ -f "$SD/vm-old.rrd.old-layout" ] &&
	grep -q "'$SD/vm-old.rrd' has data sources of the meter set with other types: moved it to" "$TMP/schema.err" &&
	[ "$(info "$SD/vm-old.rrd.old-layout" last_update)" = $((START - 50)) ] && steady_cpu "$SD/vm-old.rrd"; then
	ok "file with data sources of other types moved aside and recreated"
else
	not_ok "file with data sources of other types moved aside and recreated" "rc $rc, files: $(ls "$SD" | tr '\n' ' ')" \
		"$(cat "$TMP/schema.err")"
fi

# ------------------------------------------------------------ interval change
# A file keeps its step when the interval changes (vmeter.conf(5)): written
# at 10 s, then by a collector at a 5 s interval, it stays as it is with a
# step of 10 s and takes the new samples; a 300 s interval, beyond the
# file's 60 s heartbeat, would leave it unknown: that one is converted to
# the new step.
ID=$TMP/interval
mkdir -p "$ID"
S2=$((START + 1200))
"$probe" write "$ID" "$DAEMON" vm-step $START 2>"$TMP/step1.err"
RRD_PROBE_STEP=5 "$probe" write "$ID" "$DAEMON" vm-step $S2 2>"$TMP/step2.err"
rc=$?
rrdtool flushcached --daemon "$DAEMON" "$ID/vm-step.rrd"
good=$(cpu_rows "$ID/vm-step.rrd" 10 $S2 $((S2 + 590)))
if [ $rc -eq 0 ] && [ "$(info "$ID/vm-step.rrd" step)" = 10 ] && [ "$(ls "$ID")" = vm-step.rrd ] &&
	! grep -q "converted\|moved" "$TMP/step2.err" && [ "$(info "$ID/vm-step.rrd" last_update)" = $((S2 + 590)) ] &&
	[ "$good" -ge 55 ]; then
	ok "a file keeps its step when the interval changes, and takes the new samples"
else
	not_ok "a file keeps its step when the interval changes, and takes the new samples" \
		"rc $rc, step $(info "$ID/vm-step.rrd" step), $good steady rows, files: $(ls "$ID" | tr '\n' ' ')" \
		"$(cat "$TMP/step2.err")"
fi
RRD_PROBE_STEP=300 "$probe" write "$ID" "$DAEMON" vm-step $((S2 + 3600)) 2>"$TMP/step3.err"
rc=$?
rrdtool flushcached --daemon "$DAEMON" "$ID/vm-step.rrd"
# The 5 s samples as 300 s rows.
good=$(cpu_rows "$ID/vm-step.rrd" 300 $S2 $((S2 + 300)))
if [ $rc -eq 0 ] && [ "$(ls "$ID")" = vm-step.rrd ] && grep -q "converted .*step 300 s" "$TMP/step3.err" &&
	[ "$(info "$ID/vm-step.rrd" step)" = 300 ] && [ "$good" = 1 ]; then
	ok "an interval beyond the file's heartbeat converts it to the new step"
else
	not_ok "an interval beyond the file's heartbeat converts it to the new step" \
		"rc $rc, $good steady rows, files: $(ls "$ID" | tr '\n' ' ')" "$(cat "$TMP/step3.err")"
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

# Every data source of the file graphs (16 at most a graph); a meter that is
# no data source any more is refused by name.
ds1=$(echo "$WANT_DS" | cut -d' ' -f1-12 | tr ' ' ,)
ds2=$(echo "$WANT_DS" | cut -d' ' -f13- | tr ' ' ,)
if "$probe" graph "$DIR" "$DAEMON" vm-test $START $LAST "$TMP/d.png" "$ds1" 2>"$TMP/graph.err" && is_png "$TMP/d.png" &&
	"$probe" graph "$DIR" "$DAEMON" vm-test $START $LAST "$TMP/e.png" "$ds2" 2>>"$TMP/graph.err" &&
	is_png "$TMP/e.png"; then
	ok "every data source graphs"
else
	not_ok "every data source graphs" "$(cat "$TMP/graph.err")"
fi
if ! "$probe" graph "$DIR" "$DAEMON" vm-test $START $LAST "$TMP/f.png" disk_fl_time 2>"$TMP/graph.err" &&
	grep -q "unknown data source 'disk_fl_time'" "$TMP/graph.err"; then
	ok "a meter no longer graphed is an unknown data source"
else
	not_ok "a meter no longer graphed is an unknown data source" "$(cat "$TMP/graph.err")"
fi

[ $n -eq 36 ] || echo "# planned 36 tests, ran $n"
[ $failed -eq 0 ] && [ $n -eq 36 ]
