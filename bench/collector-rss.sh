#!/bin/bash
# The collector's memory against the size of the fleet: peak and current
# RSS after a few passes over N test-driver domains, for each N, and the
# growth per VM between sizes.  A benchmark, not a test (targets: under
# 32 MiB at 1,000 VMs, at most 3 KB more per VM up to 10,000).  Also says
# whether every pass fit in the interval: every pass's wall time from the
# collector's debug line, and the slowest.
#
#   bench/collector-rss.sh                  1000 3000 10000 VMs, 10 s interval, 4 passes
#   SIZES="1000 3000" PASSES=3 bench/collector-rss.sh
#   HEAPTRACK=1 ...                         also records each run with heaptrack
#                                           and prints the top allocation sites
#
# VMETER_BUILD=DIR (required): a build without sanitizers.  RRD archives are
# capped at 600 rows (VMETER_TEST_RRD_ROWS): the files' size is rrdtool's
# and rrdcached's business, not the collector's memory.
set -u
export LC_ALL=C
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
SIZES=${SIZES:-1000 3000 10000}
INTERVAL=${INTERVAL:-10}
PASSES=${PASSES:-4}
[ -n "${VMETER_BUILD:-}" ] && [ -x "$VMETER_BUILD/collector/vmeter-collector" ] ||
	{ echo "collector-rss: set VMETER_BUILD to a build tree (without sanitizers)" >&2; exit 1; }
ldd "$VMETER_BUILD/collector/vmeter-collector" | grep -q libasan &&
	echo "# warning: a sanitizer build: RSS is not representative"
# shellcheck disable=SC2034 # read by tests/lib.sh
top_builddir=$VMETER_BUILD
# shellcheck source=../tests/lib.sh
. "$top_srcdir/tests/lib.sh"
T=$(cd "$T" && pwd -P)
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
vm_status() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/state/status.json" "$1" 2>/dev/null || echo 0; }

diag "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs; sizes $SIZES, interval $INTERVAL s, $PASSES passes each"
start_postgres
start_libvirtd
start_rrdcached
out=$T/results
for n in $SIZES; do
	sh "$top_srcdir/bench/gen-fleet.sh" "$n" >"$T/fleet-$n.xml"
	chmod 644 "$T/fleet-$n.xml"
	rm -rf "$T/state" "$T/spool"
	psql_q postgres "DROP DATABASE IF EXISTS vmeter" >/dev/null
	psql_q postgres "CREATE DATABASE vmeter" >/dev/null
	CONF_URI="test+unix://$T/fleet-$n.xml?socket=$LIBVIRT_SOCK" CONF_INTERVAL=$INTERVAL CONF_REFRESH=60 \
		CONF_MAX_GAP=$((3 * INTERVAL)) CONF_RRDCACHED="unix:$RRDCACHED_SOCK" write_conf "$T/vmeter.conf"
	# debug: the collector's line per pass with its wall time
	sed -i 's/^log-level = info/log-level = debug/' "$T/vmeter.conf"
	"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
	: >"$T/collector.log"
	if [ "${HEAPTRACK:-0}" = 1 ]; then
		VMETER_TEST_RRD_ROWS=600 heaptrack -o "$T/heaptrack-$n" "$COLLECTOR" -c "$T/vmeter.conf" \
			>>"$T/collector.log" 2>&1 &
		hpid=$!
		_pids="$_pids $hpid"
		for _ in $(seq 100); do COLLECTOR_PID=$(pgrep -f "^$COLLECTOR -c" | head -1); [ -n "$COLLECTOR_PID" ] && break; sleep 0.1; done
	else
		start_collector "$T/vmeter.conf"
	fi
	t0=$(date +%s)
	passes_done() { [ "$(vm_status passes)" -ge "$PASSES" ] && [ "$(find "$T/rrd" -name 'vm-*.rrd' | wc -l)" -ge "$n" ]; }
	wait_for "$PASSES passes over $n VMs" $((600 + n / 10)) passes_done || bail "no $PASSES passes over $n VMs"
	hwm=$(status_kib "$COLLECTOR_PID" VmHWM) rss=$(status_kib "$COLLECTOR_PID" VmRSS)
	anon=$(status_kib "$COLLECTOR_PID" RssAnon) file=$(status_kib "$COLLECTOR_PID" RssFile)
	samples=$(vm_status domain_samples) passes=$(vm_status passes)
	slow=$(grep -o 'pass [0-9]*: [0-9-]* domains in [0-9.]* s' "$T/collector.log" | awk '{ print $6 }' | sort -g | tail -1)
	echo "# $n VMs, every pass (s): $(grep -o 'pass [0-9]*: [0-9-]* domains in [0-9.]* s' "$T/collector.log" |
		awk '{ printf "%s%.2f", sep, $6; sep = " " }'); load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "$n $hwm $rss $anon $file $passes $samples ${slow:--} $(($(date +%s) - t0))" >>"$out"
	if [ "${HEAPTRACK:-0}" = 1 ]; then
		kill -TERM "$COLLECTOR_PID"; wait "$hpid" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$hpid" 2>/dev/null || break; sleep 0.2; done
		heaptrack_print -f "$T/heaptrack-$n.zst" -p 1 -a 0 -T 0 -l 0 -s 0 -n 20 2>/dev/null |
			sed -n '/PEAK MEMORY CONSUMERS/,$p' | grep -v '^ *at \|^ *in ' | head -70 | sed "s/^/# $n VMs: /"
	else
		stop_collector
	fi
	find "$T/rrd" -name '*.rrd' -delete
	rm -rf "$T/rrd-journal"/*
done
echo
printf '%7s %12s %12s %12s %12s %7s %9s %14s\n' VMs "peak RSS MiB" "RSS MiB" "anon MiB" "file MiB" passes samples "slowest pass s"
awk '{ printf "%7d %12.1f %12.1f %12.1f %12.1f %7d %9d %14s\n", $1, $2 / 1024, $3 / 1024, $4 / 1024, $5 / 1024, $6, $7, $8 }' "$out"
echo
echo "growth per VM between sizes (peak RSS; target <= 3 KB, and under 32 MiB at 1,000 VMs):"
awk 'NR > 1 { printf "  %d -> %d VMs: %.2f KB per VM (peak), %.2f KB (current)\n", n, $1, ($2 - h) * 1.024 / ($1 - n), ($3 - r) * 1.024 / ($1 - n) }
	{ n = $1; h = $2; r = $3 }' "$out"
diag "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
