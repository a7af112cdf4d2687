#!/bin/bash
# vmeter-collector against collectd 5.12 (virt + rrdcached + postgresql
# plugins) on the same libvirt fleet: CPU seconds and peak RSS in steady
# state, start-up cost, and what each side stored in the same window.  A
# benchmark, not a test: it prints the figures and the targets (vmeter CPU
# at most 0.2 x collectd's, vmeter RSS under 32 MiB) and exits 0 whatever
# they are; non-zero only if something broke.  See bench/README.md.
#
#   bench/collector-vs-collectd.sh                 1000 VMs, 10 s x 12, 3 rounds
#   VMS=200 INTERVAL=2 INTERVALS=30 RUNS=1 bench/collector-vs-collectd.sh
#
# Environment:
#   VMS=1000         domains in the test-driver fleet
#   INTERVAL=10      sampling interval of both programs, seconds
#   INTERVALS=12     intervals in the measured window
#   RUNS=3           rounds; odd rounds run vmeter first, even ones collectd
#   VMETER_BUILD     a build tree with collector/vmeter-collector and
#                    admin/vmeter-admin; by default an optimised copy of this
#                    tree is built (or brought up to date) in /tmp/vmbench-build
#   COLLECTD=/usr/sbin/collectd (Debian's collectd-core; installed with
#                    apt-get when missing)
#   PG_WRITER=1      collectd writes to PostgreSQL too (0: sampling + RRD only)
#   KEEP_TMP=1       keep the run directory (logs, configs)
#
# The two programs run one after the other against the same servers: a
# private PostgreSQL cluster, libvirtd serving the test driver, and one
# rrdcached each.  Each phase: start, wait until its RRD files exist, one more
# interval, then read CPU (utime+stime of all threads, /proc/PID/stat) at the
# start and end of INTERVALS intervals, the window starting half-way between
# two of the side's own reads (vmeter's UTC grid; collectd's read times, from
# the updates its rrdcached holds).  The start-up line counts the CPU of
# reaped children too (vmeter's `rrdtool create` processes).  The RRD files
# stay from one round to the next (the first round creates them) and go at
# the end.
set -u
export LC_ALL=C

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
VMS=${VMS:-1000}
INTERVAL=${INTERVAL:-10}
INTERVALS=${INTERVALS:-12}
COLLECTD=${COLLECTD:-/usr/sbin/collectd}
PG_WRITER=${PG_WRITER:-1}
RUNS=${RUNS:-3}

# On failure the run directory stays for its logs, without the RRD files.
die() {
	echo "collector-vs-collectd: $*" >&2
	if [ -n "${T:-}" ]; then
		rm -rf "$T/rrd" "$T/rrd-collectd"
		_failed=1
	fi
	exit 1
}
say() { echo "# $(date -u +%H:%M:%S) $*"; }

case "$VMS$INTERVAL$INTERVALS$RUNS" in *[!0-9]*) die "VMS, INTERVAL, INTERVALS and RUNS must be whole numbers" ;; esac
[ "$VMS" -ge 1 ] && [ "$INTERVAL" -ge 1 ] && [ "$INTERVALS" -ge 1 ] && [ "$RUNS" -ge 1 ] ||
	die "VMS, INTERVAL, INTERVALS and RUNS must be at least 1"
[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL and libvirtd run as other users, clear_refs needs it)"
for tool in rrdcached rrdtool libvirtd virsh psql awk python3 fincore; do
	command -v $tool >/dev/null 2>&1 || die "'$tool' is not installed (scripts/install-deps.sh)"
done
if ! [ -x "$COLLECTD" ] || ! [ -f /usr/lib/collectd/virt.so ]; then
	say "installing collectd-core (collectd 5.12) with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends collectd-core >/dev/null ||
		die "cannot install collectd-core"
	# Debian starts the packaged daemon: it is not part of the benchmark.
	systemctl stop collectd 2>/dev/null
fi
[ -x "$COLLECTD" ] && [ -f /usr/lib/collectd/virt.so ] || die "no collectd at $COLLECTD"

# --- the RRD layout of both sides.  vmeter's (lib/rrdout.c, tiers[]: the
# step for 2 h, 1 min for 36 h, 15 min for 35 days, 12 h for 396 days,
# 1 day for 5 years; AVERAGE and MAX) is computed here as layout_plan()
# does.  collectd always writes AVERAGE, MIN and MAX and one row count
# (RRARows) for every timespan, so the same layout cannot be had; it gets
# the same five timespans and the same bytes per data source: R rows each,
# 15 R = vmeter's rows per data source.
vm_rows=0 step_span=0 vm_layout=""
for tier in 0:7200 60:129600 900:3024000 43200:34214400 86400:157852800; do
	res=${tier%%:*} span=${tier#*:}
	if [ "$res" -le "$INTERVAL" ]; then
		[ "$span" -gt "$step_span" ] && step_span=$span
		continue
	fi
	pdp=$(((res + INTERVAL - 1) / INTERVAL))
	rows=$(((span + pdp * INTERVAL - 1) / (pdp * INTERVAL)))
	vm_rows=$((vm_rows + 2 * rows))
	vm_layout="$vm_layout, $rows x $((pdp * INTERVAL))s"
done
step_rows=$(((step_span + INTERVAL - 1) / INTERVAL))
vm_rows=$((vm_rows + 2 * step_rows))
vm_layout="$step_rows x ${INTERVAL}s$vm_layout"
cd_rrarows=$(((vm_rows + 14) / 15))
vm_ds=24 # VM meters with an RRD data source (lib/usage.c; the collector's log says so at creation)
bytes_per_vm=$((vm_ds * vm_rows * 8))

# --- disk: both sides' files stay from round to round (collectd's are about
# half of vmeter's: fewer data sources per VM at the same bytes per source).
need_gb=$(((VMS * bytes_per_vm * 17 / 10 + (1 << 30)) >> 30))
tmp_base=${TMPDIR:-/tmp}
free_gb=$(($(df -Pk "$tmp_base" | awk 'NR == 2 { print $4 }') >> 20))
if [ "$free_gb" -lt "$need_gb" ]; then
	die "$VMS VMs at a $INTERVAL s step need about $need_gb GB of RRD files in $tmp_base, only $free_gb GB are free; try VMS=200 or set TMPDIR"
fi

# --- an optimised build of vmeter (the in-tree one may have sanitizers)
# shellcheck source=opt-build.sh
. "$top_srcdir/bench/opt-build.sh"
opt_build /tmp/vmbench-build || die "no optimised build"
[ -x "$VMETER_BUILD/collector/vmeter-collector" ] || die "no $VMETER_BUILD/collector/vmeter-collector"
if ldd "$VMETER_BUILD/collector/vmeter-collector" | grep -q libasan; then
	echo "# warning: $VMETER_BUILD/collector/vmeter-collector is built with ASan: CPU and RSS are not representative"
fi

# shellcheck disable=SC2034 # read by tests/lib.sh
top_builddir=$VMETER_BUILD
# shellcheck source=../tests/lib.sh
. "$top_srcdir/tests/lib.sh"
T=$(cd "$T" && pwd -P) # rrdcached -B compares real paths
CLK_TCK=$(getconf CLK_TCK)

# --- measurements from /proc
# CPU ticks (user + system, all threads) of a process; cpu_ticks_all adds
# its reaped children (vmeter's `rrdtool create`); cpu_ticks_tree also its
# live children (PostgreSQL's backends).
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}
cpu_ticks_all() {
	sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }'
}
cpu_ticks_tree() {
	_t=$(cpu_ticks_all "$1")
	for c in $(pgrep -P "$1"); do
		_c=$(cpu_ticks "$c")
		_t=$((_t + ${_c:-0}))
	done
	echo "$_t"
}
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
secs() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }'; }
now_ns() { date +%s%N; }
sleep_until_ns() {
	_d=$(($1 - $(now_ns)))
	[ "$_d" -gt 0 ] && sleep "$(awk -v d="$_d" 'BEGIN { printf "%.3f", d / 1e9 }')"
}
count_files() { find "$1" -name '*.rrd' -type f 2>/dev/null | wc -l; }
pg_pid() { head -1 "$PGDATA_DIR/postmaster.pid"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# The share of a directory's RRD bytes in the page cache, percent.
cache_pct() {
	find "$1" -name '*.rrd' -type f -print0 2>/dev/null | xargs -0 -r fincore -b -n -o RES,SIZE 2>/dev/null |
		awk '{ r += $1; s += $2 } END { printf "%.0f", s ? 100 * r / s : 0 }'
}
# A value of vmeter's status file.  It is written every 2 s with the
# counters of the last pass: vm_status_after NS waits for one written after
# NS, which (the window's edges being half an interval from a tick) has the
# passes before NS and none after when the interval is over 4 s.
vm_status_after() {
	for _ in $(seq 50); do
		[ "$(vm_status time)" -gt $(($1 / 1000000000)) ] && return 0
		sleep 0.1
	done
	say "vmeter's status file is stale"
}
vm_status() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/state/status.json" "$1"; }

# Rows and values a side wrote to PostgreSQL with times in [T0, T1) (s).
pg_stored() { # pg_stored SIDE T0 T1 -> "rows values"
	if [ "$1" = vmeter ]; then
		# A minute's row: its meter columns (sums, averages, maxima).
		psql_q "SELECT count(*), count(*) * $vm_cols FROM vm_usage_minute
			WHERE minute >= to_timestamp($2) AND minute < to_timestamp($3)" | tr '|' ' '
	elif [ "$PG_WRITER" = 1 ]; then
		psql_q collectd "SELECT count(*), coalesce(sum(cardinality(vals)), 0) FROM collectd_values
			WHERE ts >= to_timestamp($2) AND ts < to_timestamp($3)" | tr '|' ' '
	else
		echo "0 0"
	fi
}

# Waits until the files stop appearing: COUNT_CMD gives the count; done when
# it is at least MIN and unchanged over one interval.  wait_files MIN TIMEOUT CMD...
wait_files() {
	_min=$1 _tmo=$2; shift 2
	_end=$(($(date +%s) + _tmo))
	_last=-1
	while [ "$(date +%s)" -le "$_end" ]; do
		_n=$("$@")
		if [ "$_n" -ge "$_min" ] && [ "$_n" = "$_last" ]; then
			return 0
		fi
		_last=$_n
		sleep "$INTERVAL"
	done
	return 1
}
vm_files() { count_files "$T/rrd"; }
cd_files() { count_files "$T/rrd-collectd"; }
cd_hosts() { find "$T/rrd-collectd" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l; }
cd_ready() { [ "$(cd_hosts)" -ge "$VMS" ] && cd_files || echo 0; }

# A second rrdcached like start_rrdcached's, on its own socket and directory.
start_rrdcached_collectd() {
	CD_RRDCACHED_SOCK=$T/rrdcached-collectd.sock
	mkdir -p "$T/rrd-collectd" "$T/rrd-collectd-journal"
	rrdcached -g -l "unix:$CD_RRDCACHED_SOCK" -b "$T/rrd-collectd" -B -j "$T/rrd-collectd-journal" -F -w 3600 -z 1 \
		-p "$T/rrdcached-collectd.pid" >"$T/rrdcached-collectd.log" 2>&1 &
	CD_RRDCACHED_PID=$!
	_pids="$_pids $CD_RRDCACHED_PID"
	for _ in $(seq 50); do [ -S "$CD_RRDCACHED_SOCK" ] && return 0; sleep 0.1; done
	die "rrdcached for collectd did not start"
}

stop_pid() { # stop_pid PID SECONDS
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$1" 2>/dev/null
	return 1
}

rrd_usage() { # apparent bytes and allocated bytes of the files
	find "$1" -name '*.rrd' -type f -printf '%s %b\n' 2>/dev/null |
		awk '{ s += $1; b += $2 * 512 } END { printf "%.0f %.0f\n", s, b }'
}

# The window of one phase, after its start-up: INTERVALS intervals from
# half-way between two reads at PHASE (ns, a read time mod the interval).
# Sets W_* for the report.  measure PID RRDCACHED_PID RRDCACHED_SOCK RRD_DIR SIDE PHASE_NS
measure() {
	_pid=$1 _rrdc=$2 _sock=$3 _dir=$4 _side=$5 _phase=$6
	W_startup_cpu=$(cpu_ticks_all "$_pid")
	W_startup_hwm=$(status_kib "$_pid" VmHWM)
	echo 5 >"/proc/$_pid/clear_refs" || die "cannot reset the peak RSS of $_pid"
	i_ns=$((INTERVAL * 1000000000))
	_n=$(now_ns)
	_start=$(((_n - _phase) / i_ns * i_ns + _phase + i_ns / 2))
	[ "$_start" -gt "$_n" ] || _start=$((_start + i_ns))
	sleep_until_ns "$_start"
	W_cache=$(cache_pct "$_dir")
	W_load0=$(loadavg)
	c0=$(cpu_ticks "$_pid") r0=$(cpu_ticks "$_rrdc") l0=$(cpu_ticks "$LIBVIRTD_PID") p0=$(cpu_ticks_tree "$(pg_pid)")
	t0=$(now_ns)
	[ "$_side" = vmeter ] && { vm_status_after "$t0"; W_p0=$(vm_status passes); W_s0=$(vm_status domain_samples); W_k0=$(vm_status libvirt_calls); W_v0=$(vm_status libvirt_calls_saved); }
	say "$_side: measuring $INTERVALS intervals of $INTERVAL s (load $W_load0, RRD files ${W_cache}% in the page cache)"
	sleep_until_ns $((t0 + INTERVALS * i_ns))
	c1=$(cpu_ticks "$_pid") r1=$(cpu_ticks "$_rrdc") l1=$(cpu_ticks "$LIBVIRTD_PID") p1=$(cpu_ticks_tree "$(pg_pid)")
	t1=$(now_ns)
	W_load1=$(loadavg)
	W_hwm=$(status_kib "$_pid" VmHWM)
	W_rss=$(status_kib "$_pid" VmRSS)
	W_cpu=$((c1 - c0)) W_rrdc=$((r1 - r0)) W_libvirtd=$((l1 - l0)) W_pg=$((p1 - p0))
	W_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
	W_t0=$(awk -v t="$t0" 'BEGIN { printf "%.3f", t / 1e9 }') W_t1=$(awk -v t="$t1" 'BEGIN { printf "%.3f", t / 1e9 }')
	if [ "$_side" = vmeter ]; then
		vm_status_after "$t1"
		W_passes=$(($(vm_status passes) - W_p0)) W_samples=$(($(vm_status domain_samples) - W_s0))
		W_calls=$(($(vm_status libvirt_calls) - W_k0)) W_saved=$(($(vm_status libvirt_calls_saved) - W_v0))
	else
		W_passes="-" W_samples="-" W_calls="-" W_saved="-"
	fi
	# What the side stored: RRD updates and values in the window (its
	# rrdcached holds them all, -w 3600), rows and values in PostgreSQL
	# (its minutes close after the window: asked at the phase's end).
	W_rrd=$(python3 "$top_srcdir/bench/rrd-pending.py" "$_sock" "$_dir" "$W_t0" "$W_t1" "$VMS") ||
		die "cannot count $_side's RRD updates"
}

# The window's minutes (PostgreSQL rows are per closed minute): those wholly
# inside it; asked once both sides have stopped (vmeter's stop writes its
# open minutes, collectd's commits its last values).
pg_window() { # pg_window SIDE T0 T1 -> "rows values minutes"
	_m0=$(awk -v t="$2" 'BEGIN { printf "%d", (int(t / 60) + 1) * 60 }')
	_m1=$(awk -v t="$3" 'BEGIN { printf "%d", int(t / 60) * 60 }')
	if [ "$_m1" -le "$_m0" ]; then echo "0 0 0"; return; fi
	echo "$(pg_stored "$1" "$_m0" "$_m1") $(((_m1 - _m0) / 60))"
}

kv() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# --- servers and fleet
say "$VMS VMs, interval $INTERVAL s x $INTERVALS, $RUNS rounds; RRD about $((bytes_per_vm >> 20)) MiB per VM for vmeter ($need_gb GB free needed, $free_gb GB free)"
say "load average at the start: $(loadavg) on $(nproc) CPUs"
sh "$top_srcdir/bench/gen-fleet.sh" "$VMS" >"$T/fleet.xml" || die "cannot write the fleet"
chmod 644 "$T/fleet.xml"
start_postgres
start_libvirtd
# A file URI: each connection gets its own instance of the fleet.
URI="test+unix://$T/fleet.xml?socket=$LIBVIRT_SOCK"
n_dom=$(virsh -q -c "$URI" list | grep -c running)
[ "$n_dom" = "$VMS" ] || die "the test driver runs $n_dom domains, not $VMS"
say "PostgreSQL, libvirtd (test driver, $n_dom domains) up; run directory $T"
start_rrdcached
# The production layout (tests/lib.sh caps archives at 600 rows for tests).
export VMETER_TEST_RRD_ROWS=""
CONF_URI=$URI CONF_RRDCACHED="unix:$RRDCACHED_SOCK" CONF_INTERVAL=$INTERVAL CONF_REFRESH=$((INTERVAL > 60 ? INTERVAL : 60)) \
	CONF_MAX_GAP=$((3 * INTERVAL > 30 ? 3 * INTERVAL : 30)) write_conf "$T/vmeter.conf"
sed -i 's/^log-level = info/log-level = notice/' "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || die "vmeter-admin migrate failed"
# The meter columns of a vm_usage_minute row (sums, averages, maxima).
vm_cols=$(psql_q "SELECT count(*) FROM information_schema.columns WHERE table_name = 'vm_usage_minute'
	AND column_name NOT IN ('host_id', 'vm_id', 'minute', 'coverage_ms', 'samples', 'late', 'owner_id')")
start_rrdcached_collectd
mkdir -p "$T/collectd"
if [ "$PG_WRITER" = 1 ]; then
	psql_q postgres "CREATE DATABASE collectd" >/dev/null || die "cannot create the collectd database"
	psql_q collectd "CREATE TABLE collectd_values (ts timestamptz NOT NULL, host text NOT NULL,
		plugin text NOT NULL, plugin_instance text, type text NOT NULL, type_instance text,
		ds_names text[] NOT NULL, ds_types text[] NOT NULL, vals double precision[] NOT NULL)" >/dev/null ||
		die "cannot create the collectd table"
	pg_conf="LoadPlugin postgresql
<Plugin postgresql>
  <Writer sqlstore>
    Statement \"INSERT INTO collectd_values VALUES (\$1::timestamptz, \$2, \$3, \$4, \$5, \$6, \$7::text[], \$8::text[], \$9::float8[])\"
  </Writer>
  <Database collectd>
    Host \"$T\"
    User \"vmeter\"
    Writer sqlstore
    CommitInterval $INTERVAL
  </Database>
</Plugin>"
else
	pg_conf=""
fi
cat >"$T/collectd/collectd.conf" <<EOC
# written by bench/collector-vs-collectd.sh
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
  Timestamp true
  PrintSeverity true
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
  DaemonAddress "unix:$CD_RRDCACHED_SOCK"
  DataDir "$T/rrd-collectd"
  CreateFiles true
  XFF 0.5
  RRARows $cd_rrarows
  RRATimespan 7200
  RRATimespan 129600
  RRATimespan 3024000
  RRATimespan 34214400
  RRATimespan 157852800
</Plugin>
$pg_conf
EOC
"$COLLECTD" -t -C "$T/collectd/collectd.conf" >"$T/collectd/check.log" 2>&1 ||
	{ cat "$T/collectd/check.log"; die "collectd refuses its configuration"; }

# Each phase's figures, "ROUND SIDE KEY k=v k=v ..." lines.
results=""
keep() { results="$results
$1 $2 $3 $4"; } # keep ROUND SIDE KEY VALUE
got() { echo "$results" | awk -v r="$1" -v s="$2" -v k="$3" '$1 == r && $2 == s && $3 == k { $1 = $2 = $3 = ""; sub(/^ +/, ""); print }'; }

run_vmeter() { # run_vmeter ROUND
	_before=$(vm_files)
	start_collector "$T/vmeter.conf"
	t_start=$(now_ns)
	say "round $1: vmeter-collector started (pid $COLLECTOR_PID, $_before RRD files there), waiting for its $((VMS + 1)) RRD files"
	wait_files $((VMS + 1)) $((300 + VMS)) vm_files || die "vmeter did not create its RRD files (see $T/collector.log)"
	_wall=$(awk -v a="$t_start" -v b="$(now_ns)" 'BEGIN { printf "%.0f", (b - a) / 1e9 }')
	sleep "$INTERVAL"
	kill -0 "$COLLECTOR_PID" 2>/dev/null || die "vmeter-collector died (see $T/collector.log)"
	measure "$COLLECTOR_PID" "$RRDCACHED_PID" "$RRDCACHED_SOCK" "$T/rrd" vmeter 0
	stop_collector
	[ "$COLLECTOR_RC" = 0 ] || say "vmeter-collector exited with $COLLECTOR_RC"
	keep "$1" vmeter result "cpu=$W_cpu rrdc=$W_rrdc libvirtd=$W_libvirtd pg=$W_pg hwm=$W_hwm rss=$W_rss wall=$W_wall startup_cpu=$W_startup_cpu startup_hwm=$W_startup_hwm startup_wall=$_wall files_before=$_before cache=$W_cache load0=${W_load0// /,} load1=${W_load1// /,} passes=$W_passes samples=$W_samples calls=$W_calls saved=$W_saved t0=$W_t0 t1=$W_t1 $W_rrd"
}

run_collectd() { # run_collectd ROUND
	_before=$(cd_files)
	"$COLLECTD" -f -C "$T/collectd/collectd.conf" >>"$T/collectd/out.log" 2>&1 &
	CD_PID=$!
	_pids="$_pids $CD_PID"
	t_start=$(now_ns)
	say "round $1: collectd started (pid $CD_PID, $_before RRD files there), waiting for its RRD files"
	wait_files 1 $((300 + 2 * VMS)) cd_ready || die "collectd did not create its RRD files (see $T/collectd/collectd.log)"
	_wall=$(awk -v a="$t_start" -v b="$(now_ns)" 'BEGIN { printf "%.0f", (b - a) / 1e9 }')
	sleep "$INTERVAL"
	kill -0 "$CD_PID" 2>/dev/null || die "collectd died (see $T/collectd/collectd.log)"
	# collectd reads every INTERVAL from its start, not on a grid: its
	# phase is the time of a VM file's newest update.
	_f=$(find "$T/rrd-collectd" -name 'virt_cpu_total*.rrd' | head -1)
	_last=$(printf 'PENDING %s\nQUIT\n' "$_f" | python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
f = s.makefile("rb"); n = int(f.readline().split()[0]); t = 0
for _ in range(max(n, 0)): t = float(f.readline().split(b":")[0])
print(int(t * 1e9))' "$CD_RRDCACHED_SOCK")
	[ "${_last:-0}" -gt 0 ] || die "no update of collectd's $_f pending in its rrdcached"
	measure "$CD_PID" "$CD_RRDCACHED_PID" "$CD_RRDCACHED_SOCK" "$T/rrd-collectd" collectd $((_last % (INTERVAL * 1000000000)))
	stop_pid "$CD_PID" 60 || say "collectd did not stop in time"
	keep "$1" collectd result "cpu=$W_cpu rrdc=$W_rrdc libvirtd=$W_libvirtd pg=$W_pg hwm=$W_hwm rss=$W_rss wall=$W_wall startup_cpu=$W_startup_cpu startup_hwm=$W_startup_hwm startup_wall=$_wall files_before=$_before cache=$W_cache load0=${W_load0// /,} load1=${W_load1// /,} passes=- samples=- calls=- saved=- t0=$W_t0 t1=$W_t1 $W_rrd"
}

for r in $(seq "$RUNS"); do
	if [ $((r % 2)) = 1 ]; then run_vmeter "$r"; run_collectd "$r"; else run_collectd "$r"; run_vmeter "$r"; fi
done
for r in $(seq "$RUNS"); do
	for side in vmeter collectd; do
		x=$(got "$r" "$side" result)
		read -r _rows _vals _mins <<<"$(pg_window "$side" "$(kv "$x" t0)" "$(kv "$x" t1)")"
		keep "$r" "$side" pg "rows=$_rows values=$_vals minutes=$_mins"
	done
done
read -r VM_bytes VM_alloc <<<"$(rrd_usage "$T/rrd")"
read -r CD_bytes CD_alloc <<<"$(rrd_usage "$T/rrd-collectd")"
VM_errors=$(grep -c '\[err\]' "$T/collector.log")
VM_warnings=$(grep '\[warning\]' "$T/collector.log" | grep -vc 'no vmeter owner metadata')
CD_errors=$(grep -c '\[error\]' "$T/collectd/collectd.log")
stop_pid "$RRDCACHED_PID" 300 || say "rrdcached (vmeter) did not stop in time"
stop_pid "$CD_RRDCACHED_PID" 300 || say "rrdcached (collectd) did not stop in time"
rm -rf "$T/rrd" "$T/rrd-collectd"

# ======================================================== report
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
gb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
per_sample_ms() { awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { if (n > 0) printf "%.3f", 1000 * t / hz / n; else print "-" }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "collector-vs-collectd: $VMS VMs (test driver via libvirtd), interval $INTERVAL s, $INTERVALS intervals a window, $RUNS rounds"
fmt='%-5s %-9s %7s %8s %6s %8s %9s %9s %9s %7s %8s %8s %8s %7s %-16s\n'
# shellcheck disable=SC2059
printf "$fmt" round program "CPU s" "RSS MiB" reads "ms/read" "rrdcd s" "libvirt s" "PG s" "series" "RRD upd" "values" "PG rows" "cache%" "load (start)"
for r in $(seq "$RUNS"); do
	for side in vmeter collectd; do
		x=$(got "$r" "$side" result)
		reads=$(kv "$x" reads)
		# shellcheck disable=SC2059
		printf "$fmt" "$r" "$side" "$(secs "$(kv "$x" cpu)")" "$(mib "$(kv "$x" hwm)")" "$reads" \
			"$(awk -v t="$(kv "$x" cpu)" -v n="$reads" -v hz="$CLK_TCK" 'BEGIN { if (n > 0) printf "%.1f", 1000 * t / hz / n; else print "-" }')" \
			"$(secs "$(kv "$x" rrdc)")" "$(secs "$(kv "$x" libvirtd)")" "$(secs "$(kv "$x" pg)")" \
			"$(kv "$x" series_per_vm)" "$(kv "$x" updates)" "$(kv "$x" values)" "$(kv "$(got "$r" "$side" pg)" rows)" \
			"$(kv "$x" cache)" "$(kv "$x" load0)"
	done
	v=$(got "$r" vmeter result) c=$(got "$r" collectd result)
	rr=$(ratio "$(kv "$v" cpu)" "$(kv "$c" cpu)")
	echo "round $r: CPU ratio vmeter/collectd $rr; with each side's rrdcached $(ratio $(($(kv "$v" cpu) + $(kv "$v" rrdc))) $(($(kv "$c" cpu) + $(kv "$c" rrdc)))); with libvirtd too $(ratio $(($(kv "$v" cpu) + $(kv "$v" rrdc) + $(kv "$v" libvirtd))) $(($(kv "$c" cpu) + $(kv "$c" rrdc) + $(kv "$c" libvirtd))))"
	echo "         vmeter (its status file; off by a pass at intervals under 5 s): $(kv "$v" passes) passes, $(kv "$v" samples) domain samples ($(per_sample_ms "$(kv "$v" cpu)" "$(kv "$v" samples)") ms CPU each), $(kv "$v" calls) per-domain libvirt calls, $(kv "$v" saved) saved by the steady-value rule"
	echo "         PostgreSQL, the window's whole minutes ($(kv "$(got "$r" vmeter pg)" minutes)): vmeter $(kv "$(got "$r" vmeter pg)" rows) rows / $(kv "$(got "$r" vmeter pg)" values) values, collectd $(kv "$(got "$r" collectd pg)" rows) rows / $(kv "$(got "$r" collectd pg)" values) values"
	echo "$rr" >>"$T/ratios"
done
echo
echo "start-up (until every RRD file exists plus one interval; CPU includes reaped children such as rrdtool create):"
printf '%-5s %-9s %12s %8s %8s %14s\n' round program "files before" "wall s" "CPU s" "peak RSS MiB"
for r in $(seq "$RUNS"); do
	for side in vmeter collectd; do
		x=$(got "$r" "$side" result)
		printf '%-5s %-9s %12s %8s %8s %14s\n' "$r" "$side" "$(kv "$x" files_before)" "$(kv "$x" startup_wall)" \
			"$(secs "$(kv "$x" startup_cpu)")" "$(mib "$(kv "$x" startup_hwm)")"
	done
done
echo
echo "RRD layout: vmeter $vm_ds data sources per VM file, AVERAGE+MAX x ($vm_layout) = $vm_rows rows per data source"
echo "            collectd AVERAGE+MIN+MAX x $cd_rrarows rows x 5 timespans (2 h, 36 h, 35 d, 396 d, 5 y) = $((15 * cd_rrarows)) rows per data source"
echo "RRD on disk at the end: vmeter $(gb "$VM_bytes") GB ($(gb "$VM_alloc") allocated), collectd $(gb "$CD_bytes") GB ($(gb "$CD_alloc") allocated)"
echo "columns: reads = updates a file got in the window (median over files: the side's passes); series = RRD data sources per VM;"
echo "         RRD upd / values = updates (rows) and values the side's rrdcached received in the window; PG rows = rows with times"
echo "         in the window's whole minutes (values per round below) (vmeter: one per VM and closed minute, $vm_cols values each; collectd: one per value list);"
echo "         cache% = the side's RRD bytes in the page cache at the window's start; libvirt s and PG s: the shared servers' CPU in the window"
echo "collectd log error lines: $CD_errors (the test driver lacks virDomainBlockStatsFlags); vmeter log errors: $VM_errors, warnings besides one per VM without owner: $VM_warnings"
echo
med=$(median <"$T/ratios")
echo "CPU ratio vmeter/collectd: median $med, rounds: $(tr '\n' ' ' <"$T/ratios")(target <= 0.2: $(awk -v r="$med" 'BEGIN { print (r <= 0.2) ? "met" : "MISSED" }'))"
hwm_max=$(for r in $(seq "$RUNS"); do kv "$(got "$r" vmeter result)" hwm; kv "$(got "$r" vmeter result)" startup_hwm; done | sort -n | tail -1)
echo "vmeter peak RSS over all rounds, start-up included: $(mib "$hwm_max") MiB (target < 32 MiB: $(awk -v k="$hwm_max" 'BEGIN { print (k < 32768) ? "met" : "MISSED" }'))"
echo "load average at the end: $(loadavg)"
exit 0
