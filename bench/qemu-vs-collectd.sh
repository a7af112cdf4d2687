#!/bin/bash
# vmeter-collector against collectd 5.12 on real QEMU guests, all-in: N TCG
# guests under qemu:///system (bench/qemu-guests.sh), each side sampling
# them every INTERVAL s in windows of WINDOW s that alternate with the
# other side's and with an idle window (no sampler at all), ROUNDS rounds.
# Per window: the CPU of the sampler, of its rrdcached, and what libvirtd
# (or virtqemud) and the QEMU processes used beyond the idle window, each
# per domain-sample; each round's ratios (the sampler alone, with its
# rrdcached, all-in) and their medians against the targets (collector
# <= 0.2 x collectd's, all-in <= 0.5 x).  PERF=1 adds a perf profile of
# the daemon, QEMU and vmeter during vmeter's first window.  A benchmark,
# not a test: exits 0 whatever the figures.
#
#   bench/qemu-vs-collectd.sh                     8 idle guests, 1 s, 120 s windows, 3 rounds
#   GUESTS=12 BUSY=0 WINDOW=300 bench/qemu-vs-collectd.sh
#
# VMETER_BUILD=DIR: a build without sanitizers (required).  collectd-core
# is installed with apt-get when missing.  vmeter writes to a private
# PostgreSQL (counted: it is part of its delivery); collectd writes RRD
# files only (virt + rrdcached plugins, the same ExtraStats as
# bench/collector-vs-collectd.sh).
set -u
export LC_ALL=C
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
GUESTS=${GUESTS:-8}
BUSY=${BUSY:-0} # a busy TCG guest takes a core: its CPU swings with the machine's load
INTERVAL=${INTERVAL:-1}
WINDOW=${WINDOW:-120}
ROUNDS=${ROUNDS:-3}
PERF=${PERF:-0}
COLLECTD=${COLLECTD:-/usr/sbin/collectd}
[ -n "${VMETER_BUILD:-}" ] && [ -x "$VMETER_BUILD/collector/vmeter-collector" ] ||
	{ echo "qemu-vs-collectd: set VMETER_BUILD to a build tree (without sanitizers)" >&2; exit 1; }
if ! [ -x "$COLLECTD" ] || ! [ -f /usr/lib/collectd/virt.so ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends collectd-core >/dev/null ||
		{ echo "qemu-vs-collectd: cannot install collectd-core" >&2; exit 1; }
	systemctl stop collectd 2>/dev/null
fi
# shellcheck disable=SC2034 # read by tests/lib.sh
top_builddir=$VMETER_BUILD
# shellcheck source=../tests/lib.sh
. "$top_srcdir/tests/lib.sh"
T=$(cd "$T" && pwd -P)
# shellcheck source=qemu-guests.sh
. "$top_srcdir/bench/qemu-guests.sh"
CLK_TCK=$(getconf CLK_TCK)
ticks() { for p in "$@"; do sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null; done | awk '{ t += $12 + $13 } END { print t + 0 }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
vm_status() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/state/status.json" "$1" 2>/dev/null || echo 0; }

start_postgres
start_guests "$GUESTS" "$BUSY"
diag "$GUESTS TCG guests ($BUSY busy), interval $INTERVAL s, windows of $WINDOW s, $ROUNDS rounds; load $(loadavg)"

# --- vmeter
start_rrdcached
export VMETER_TEST_RRD_ROWS=""
CONF_URI=$URI CONF_INTERVAL=$INTERVAL CONF_REFRESH=60 CONF_MAX_GAP=30 CONF_RRDCACHED="unix:$RRDCACHED_SOCK" \
	write_conf "$T/vmeter.conf"
sed -i 's/^log-level = info/log-level = notice/' "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"

# --- collectd
CD_SOCK=$T/rrdcached-collectd.sock
mkdir -p "$T/rrd-collectd" "$T/rrd-collectd-journal" "$T/collectd"
rrdcached -g -l "unix:$CD_SOCK" -b "$T/rrd-collectd" -B -j "$T/rrd-collectd-journal" -F -w 3600 -z 1 \
	-p "$T/rrdcached-collectd.pid" >"$T/rrdcached-collectd.log" 2>&1 &
CD_RRDCACHED_PID=$!
_pids="$_pids $CD_RRDCACHED_PID"
wait_for 30 test -S "$CD_SOCK" || bail "rrdcached for collectd did not start"
cat >"$T/collectd/collectd.conf" <<EOC
Hostname "hv1"
FQDNLookup false
BaseDir "$T/collectd"
PIDFile "$T/collectd/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
Interval $INTERVAL
AutoLoadPlugin false
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$T/collectd/collectd.log"
</Plugin>
LoadPlugin virt
<Plugin virt>
  Connection "$URI"
  RefreshInterval 60
  HostnameFormat name
  ExtraStats "cpu_util disk memory pcpu vcpu disk_allocation disk_capacity"
</Plugin>
LoadPlugin rrdcached
<Plugin rrdcached>
  DaemonAddress "unix:$CD_SOCK"
  DataDir "$T/rrd-collectd"
  CreateFiles true
</Plugin>
EOC
"$COLLECTD" -t -C "$T/collectd/collectd.conf" >/dev/null 2>&1 || bail "collectd refuses its configuration"

out=$T/results
# window ROUND SIDE: one window of SIDE (vmeter, collectd or idle).
window() {
	_r=$1 _side=$2 _pid="" _rrdc=0 _pg=0
	case $_side in
	vmeter)
		start_collector "$T/vmeter.conf"
		_pid=$COLLECTOR_PID _rrdc=$RRDCACHED_PID
		;;
	collectd)
		"$COLLECTD" -f -C "$T/collectd/collectd.conf" >>"$T/collectd/out.log" 2>&1 &
		_pid=$! _rrdc=$CD_RRDCACHED_PID
		_pids="$_pids $_pid"
		;;
	esac
	# Start-up apart: every guest's files, then a few intervals.
	if [ "$_side" = vmeter ]; then
		wait_for 120 sh -c "[ \$(ls '$T/rrd' | grep -c '^vm-') -ge $GUESTS ]" || bail "vmeter made no RRD files"
	elif [ "$_side" = collectd ]; then
		wait_for 120 sh -c "[ \$(ls '$T/rrd-collectd' | grep -c '^$PREFIX-') -ge $GUESTS ]" || bail "collectd made no RRD files"
	fi
	sleep $((3 * INTERVAL + 2))
	# PostgreSQL: the postmaster and its backends (vmeter's delivery
	# connection among them) while vmeter runs.
	[ "$_side" = vmeter ] && _pg="$(head -1 "$PGDATA_DIR/postmaster.pid") $(pgrep -P "$(head -1 "$PGDATA_DIR/postmaster.pid")" | tr '\n' ' ')"
	_p0=$(vm_status passes) _s0=$(vm_status domain_samples)
	a0=$(ticks $_pid) r0=$(ticks $_rrdc) d0=$(ticks "$DAEMON_PID") q0=$(ticks $QEMU_PIDS) g0=$(ticks $_pg) t0=$(date +%s%N)
	if [ "$PERF" = 1 ] && [ "$_side" = vmeter ] && [ "$_r" = 1 ]; then
		perf record -q -g -o "$T/perf-vmeter.data" -p "$DAEMON_PID,$(echo $QEMU_PIDS $_pid | tr ' ' ',')" \
			-- sleep "$WINDOW" 2>/dev/null
	else
		sleep "$WINDOW"
	fi
	a1=$(ticks $_pid) r1=$(ticks $_rrdc) d1=$(ticks "$DAEMON_PID") q1=$(ticks $QEMU_PIDS) g1=$(ticks $_pg) t1=$(date +%s%N)
	# The side's reads in the window, from what its rrdcached holds (-w
	# 3600: all of them): a domain-sample is one guest read once.
	_samples=0
	if [ "$_side" != idle ]; then
		_sock=$RRDCACHED_SOCK _dir=$T/rrd
		[ "$_side" = collectd ] && _sock=$CD_SOCK _dir=$T/rrd-collectd
		_reads=$(python3 "$top_srcdir/bench/rrd-pending.py" "$_sock" "$_dir" \
			"$(awk -v t="$t0" 'BEGIN { printf "%.3f", t / 1e9 }')" "$(awk -v t="$t1" 'BEGIN { printf "%.3f", t / 1e9 }')" "$GUESTS" |
			tr ' ' '\n' | awk -F= '$1 == "reads" { print $2 }')
		_samples=$(awk -v r="$_reads" -v n="$GUESTS" 'BEGIN { printf "%d", r * n }')
	fi
	if [ "$_side" = vmeter ]; then
		echo "# round $_r vmeter: status.json says $(($(vm_status passes) - _p0)) passes from a little before the window to a little after" >>"$out.log"
		stop_collector
	elif [ "$_side" = collectd ]; then
		kill -TERM "$_pid"; wait "$_pid" 2>/dev/null
	fi
	echo "$_r $_side $((a1 - a0)) $((r1 - r0)) $((d1 - d0)) $((q1 - q0)) $((g1 - g0)) $(((t1 - t0) / 1000000)) $_samples $(cut -d' ' -f1 /proc/loadavg)" >>"$out"
}
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then order="idle vmeter collectd"; else order="collectd vmeter idle"; fi
	for side in $order; do
		diag "round $r: $side window (load $(loadavg))"
		window "$r" "$side"
	done
done

# Per domain-sample, ms: the sampler, its rrdcached, the daemon and QEMU
# beyond the idle window of the same round (scaled to the window's length).
echo
echo "ms CPU per domain-sample, $GUESTS TCG guests ($BUSY busy), interval $INTERVAL s, windows of $WINDOW s:"
awk -v hz="$CLK_TCK" '
	{ r = $1; s = $2; A[r, s] = $3; R[r, s] = $4; D[r, s] = $5; Q[r, s] = $6; G[r, s] = $7; W[r, s] = $8; N[r, s] = $9; L[r, s] = $10; rounds[r] = 1 }
	function ms(t, n) { return n > 0 ? 1000 * t / hz / n : 0 }
	END {
		printf "%-5s %-9s %8s %9s %9s %9s %9s %9s %9s %6s\n", "round", "side", "samples", "sampler", "rrdcached", "PG", "daemon+", "QEMU+", "all-in", "load"
		for (r in rounds) for (k = 1; k <= 2; k++) {
			s = k == 1 ? "vmeter" : "collectd"
			f = W[r, s] / W[r, "idle"]
			d = D[r, s] - D[r, "idle"] * f; q = Q[r, s] - Q[r, "idle"] * f
			a = ms(A[r, s], N[r, s]); rr = ms(R[r, s], N[r, s]); g = ms(G[r, s], N[r, s])
			dd = ms(d, N[r, s]); qq = ms(q, N[r, s])
			all = a + rr + g + dd + qq
			printf "%-5s %-9s %8d %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %6s\n", r, s, N[r, s], a, rr, g, dd, qq, all, L[r, s]
			print r, s, a, a + rr, all > "'"$T/per"'"
		}
	}' "$out"
echo
awk '{ v[$1, $2, 1] = $3; v[$1, $2, 2] = $4; v[$1, $2, 3] = $5; rounds[$1] = 1 }
	END { for (r in rounds) printf "round %s: ratio vmeter/collectd: sampler %.3f, with its rrdcached %.3f, all-in %.3f\n", r,
		v[r, "vmeter", 1] / v[r, "collectd", 1], v[r, "vmeter", 2] / v[r, "collectd", 2], v[r, "vmeter", 3] / v[r, "collectd", 3] }' "$T/per" |
	sort | tee "$T/ratios"
med() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m1=$(awk '{ print $6 }' "$T/ratios" | tr -d , | med) m3=$(awk '{ print $NF }' "$T/ratios" | med)
echo "median: sampler $m1 (target <= 0.2: $(awk -v r="$m1" 'BEGIN { print r <= 0.2 ? "met" : "MISSED" }')), all-in $m3 (target <= 0.5: $(awk -v r="$m3" 'BEGIN { print r <= 0.5 ? "met" : "MISSED" }'))"
cat "$out.log" 2>/dev/null
echo "(daemon+ and QEMU+: CPU beyond the idle window of the round; PG: vmeter's delivery into PostgreSQL; collectd writes RRD only)"
if [ "$PERF" = 1 ] && [ -f "$T/perf-vmeter.data" ]; then
	echo
	echo "perf, vmeter's window of round 1: the top symbols by process"
	perf report -q -i "$T/perf-vmeter.data" --no-children --sort comm,dso,sym 2>/dev/null | head -40
fi
diag "load average at the end: $(loadavg)"
