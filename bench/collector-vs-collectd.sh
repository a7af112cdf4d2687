#!/bin/bash
# vmeter-collector against collectd 5.12 (virt + rrdcached + postgresql
# plugins) on the same libvirt fleet: CPU seconds and peak RSS in steady
# state, start-up cost, RRD bytes on disk and rows in PostgreSQL.  A
# benchmark, not a test: it prints the figures and the targets (vmeter CPU
# at most 1/3 of collectd's, vmeter RSS under 32 MiB) and exits 0 whatever
# they are; non-zero only if something broke.  See bench/README.md.
#
#   bench/collector-vs-collectd.sh                 1000 VMs, 10 s x 12
#   VMS=200 INTERVAL=2 INTERVALS=30 bench/collector-vs-collectd.sh
#
# Environment:
#   VMS=1000         domains in the test-driver fleet
#   INTERVAL=10      sampling interval of both programs, seconds
#   INTERVALS=12     intervals in the measured window
#   VMETER_BUILD     a build tree with collector/vmeter-collector and
#                    admin/vmeter-admin; by default an optimised copy of this
#                    tree is built (or brought up to date) in /tmp/vmbench-build
#   COLLECTD=/usr/sbin/collectd
#   PG_WRITER=1      collectd writes to PostgreSQL too (0: sampling + RRD only)
#   KEEP_TMP=1       keep the run directory (logs, configs; RRD files are
#                    removed after each phase unless KEEP_RRD=1)
#
# The two programs run one after the other against the same servers: a
# private PostgreSQL cluster, libvirtd serving the test driver, and one
# rrdcached each.  Each phase: start, wait until its RRD files exist, one more
# interval, then read CPU (utime+stime of all threads, /proc/PID/stat) at the
# start and end of INTERVALS intervals; the peak RSS of the window is VmHWM
# after resetting it (clear_refs 5) at the start, the start-up peak is VmHWM
# before that reset.
set -u
export LC_ALL=C

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
VMS=${VMS:-1000}
INTERVAL=${INTERVAL:-10}
INTERVALS=${INTERVALS:-12}
COLLECTD=${COLLECTD:-/usr/sbin/collectd}
PG_WRITER=${PG_WRITER:-1}
KEEP_RRD=${KEEP_RRD:-0}

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

case "$VMS$INTERVAL$INTERVALS" in *[!0-9]*) die "VMS, INTERVAL and INTERVALS must be whole numbers" ;; esac
[ "$VMS" -ge 1 ] && [ "$INTERVAL" -ge 1 ] && [ "$INTERVALS" -ge 1 ] || die "VMS, INTERVAL and INTERVALS must be at least 1"
[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL and libvirtd run as other users, clear_refs needs it)"
for tool in rrdcached rrdtool libvirtd virsh psql awk; do
	command -v $tool >/dev/null 2>&1 || die "'$tool' is not installed (scripts/install-deps.sh)"
done
[ -x "$COLLECTD" ] && [ -f /usr/lib/collectd/virt.so ] ||
	die "collectd is not installed: apt-get install --no-install-recommends collectd-core"

# --- the RRD layout of both sides (lib/rrdout.c: the step for 1 day, 1 min
# for 35 days, 1 h for 13 months, AVERAGE and MAX).  collectd always writes
# AVERAGE, MIN and MAX and one row count (RRARows) for every timespan, so the
# same layout cannot be had; it gets the same three resolutions and the same
# bytes per data source: R rows each, 9 R = 2 (rows_day + rows_min + rows_hour).
per_min=$(((60 + INTERVAL - 1) / INTERVAL))
per_hour=$(((3600 + INTERVAL - 1) / INTERVAL))
rows_day=$(((86400 + INTERVAL - 1) / INTERVAL))
rows_min=$(((35 * 86400 + per_min * INTERVAL - 1) / (per_min * INTERVAL)))
rows_hour=$(((396 * 86400 + per_hour * INTERVAL - 1) / (per_hour * INTERVAL)))
vm_rows=$((2 * (rows_day + rows_min + rows_hour)))
cd_rrarows=$(((vm_rows + 4) / 9))
vm_ds=30 # VM meters with an RRD data source (lib/usage.c)
bytes_per_vm=$((vm_ds * vm_rows * 8))

# --- disk: the phases run one after the other and each removes its files,
# so the larger side is what must fit (collectd writes fewer data sources per
# VM at the same bytes per data source).
need_gb=$(((VMS * bytes_per_vm * 11 / 10 + (1 << 30)) >> 30))
tmp_base=${TMPDIR:-/tmp}
free_gb=$(($(df -Pk "$tmp_base" | awk 'NR == 2 { print $4 }') >> 20))
if [ "$free_gb" -lt "$need_gb" ]; then
	die "$VMS VMs at a $INTERVAL s step need about $need_gb GB of RRD files in $tmp_base, only $free_gb GB are free; try VMS=200 or set TMPDIR"
fi

# --- an optimised build of vmeter (the in-tree one may have sanitizers)
if [ -z "${VMETER_BUILD:-}" ]; then
	VMETER_BUILD=/tmp/vmbench-build
	say "building an optimised copy of vmeter in $VMETER_BUILD (-O2 -g)"
	mkdir -p "$VMETER_BUILD"
	# tar keeps modification times: make rebuilds only what changed.
	(cd "$top_srcdir" && git ls-files -co --exclude-standard | tar -cf - -T -) | tar -xf - -C "$VMETER_BUILD" ||
		die "cannot copy the source tree to $VMETER_BUILD"
	(
		cd "$VMETER_BUILD" &&
			{ [ -x configure ] || ./autogen.sh; } &&
			{ [ -f Makefile ] || ./configure CFLAGS='-O2 -g'; } &&
			make -j"$(nproc)"
	) >"$VMETER_BUILD/bench-build.log" 2>&1 || die "build failed, see $VMETER_BUILD/bench-build.log"
fi
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
# CPU ticks (user + system, all threads) of a process; with "tree", of a
# process, its live children and its reaped children (for PostgreSQL).
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}
cpu_ticks_tree() {
	_t=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 + $14 + $15 }')
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

# Rows in a table and transactions committed in a database ("-" when the
# side does not write there).  PostgreSQL's statistics lag by up to ~10 s.
pg_rows() { [ "$1" = - ] && echo 0 || psql_q "$1" "SELECT count(*) FROM $2"; }
pg_commits() { [ "$1" = - ] && echo 0 || psql_q "SELECT xact_commit FROM pg_stat_database WHERE datname = '$1'"; }

# The measured window of one phase.  Sets W_* for the table.
# measure PID RRDCACHED_PID DATABASE TABLE
measure() {
	_pid=$1 _rrdc=$2 _db=$3 _table=$4
	W_startup_cpu=$(cpu_ticks "$_pid")
	W_startup_hwm=$(status_kib "$_pid" VmHWM)
	echo 5 >"/proc/$_pid/clear_refs" || die "cannot reset the peak RSS of $_pid"
	n0=$(pg_rows "$_db" "$_table") x0=$(pg_commits "$_db")
	c0=$(cpu_ticks "$_pid") r0=$(cpu_ticks "$_rrdc") l0=$(cpu_ticks "$LIBVIRTD_PID") p0=$(cpu_ticks_tree "$(pg_pid)")
	t0=$(now_ns)
	say "measuring $INTERVALS intervals of $INTERVAL s"
	sleep_until_ns $((t0 + INTERVALS * INTERVAL * 1000000000))
	c1=$(cpu_ticks "$_pid") r1=$(cpu_ticks "$_rrdc") l1=$(cpu_ticks "$LIBVIRTD_PID") p1=$(cpu_ticks_tree "$(pg_pid)")
	t1=$(now_ns)
	n1=$(pg_rows "$_db" "$_table") x1=$(pg_commits "$_db")
	W_rows=$((n1 - n0)) W_commits=$((x1 - x0))
	W_hwm=$(status_kib "$_pid" VmHWM)
	W_rss=$(status_kib "$_pid" VmRSS)
	W_threads=$(status_kib "$_pid" Threads)
	W_anon=$(status_kib "$_pid" RssAnon)
	W_file=$(status_kib "$_pid" RssFile)
	W_cpu=$((c1 - c0)) W_rrdc=$((r1 - r0)) W_libvirtd=$((l1 - l0)) W_pg=$((p1 - p0))
	W_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
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

remove_rrd() {
	if [ "$KEEP_RRD" = 1 ]; then return; fi
	rm -rf "$1"
}

# --- servers and fleet
say "$VMS VMs, interval $INTERVAL s x $INTERVALS; RRD about $((bytes_per_vm >> 20)) MiB per VM for vmeter ($need_gb GB free needed, $free_gb GB free)"
sh "$top_srcdir/bench/gen-fleet.sh" "$VMS" >"$T/fleet.xml" || die "cannot write the fleet"
chmod 644 "$T/fleet.xml"
start_postgres
start_libvirtd
# A file URI: each connection gets its own instance of the fleet.
URI="test+unix://$T/fleet.xml?socket=$LIBVIRT_SOCK"
n_dom=$(virsh -q -c "$URI" list | grep -c running)
[ "$n_dom" = "$VMS" ] || die "the test driver runs $n_dom domains, not $VMS"
say "PostgreSQL, libvirtd (test driver, $n_dom domains) up; run directory $T"

# ======================================================== vmeter phase
start_rrdcached
CONF_URI=$URI CONF_RRDCACHED="unix:$RRDCACHED_SOCK" CONF_INTERVAL=$INTERVAL CONF_REFRESH=$((INTERVAL > 60 ? INTERVAL : 60)) \
	CONF_MAX_GAP=$((3 * INTERVAL > 30 ? 3 * INTERVAL : 30)) write_conf "$T/vmeter.conf"
sed -i 's/^log-level = info/log-level = notice/' "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || die "vmeter-admin migrate failed"
start_collector "$T/vmeter.conf"
t_start=$(now_ns)
say "vmeter-collector started (pid $COLLECTOR_PID), waiting for its $((VMS + 1)) RRD files"
wait_files $((VMS + 1)) $((300 + VMS)) vm_files || die "vmeter did not create its RRD files (see $T/collector.log)"
VM_startup_wall=$(awk -v a="$t_start" -v b="$(now_ns)" 'BEGIN { printf "%.0f", (b - a) / 1e9 }')
# One more interval, then start half-way between two ticks (multiples of
# the interval in UTC) so that no sampling straddles the window's edges.
sleep "$INTERVAL"
i_ns=$((INTERVAL * 1000000000))
sleep_until_ns $((($(now_ns) / i_ns + 1) * i_ns + i_ns / 2))
kill -0 "$COLLECTOR_PID" 2>/dev/null || die "vmeter-collector died (see $T/collector.log)"
measure "$COLLECTOR_PID" "$RRDCACHED_PID" vmeter vm_usage_minute
VM_wrows=$W_rows VM_commits=$W_commits
VM_cpu=$W_cpu VM_rrdc=$W_rrdc VM_libvirtd=$W_libvirtd VM_pg=$W_pg VM_hwm=$W_hwm VM_rss=$W_rss VM_wall=$W_wall
VM_startup_cpu=$W_startup_cpu VM_startup_hwm=$W_startup_hwm VM_threads=$W_threads VM_anon=$W_anon VM_file=$W_file
stop_collector
VM_rc=$COLLECTOR_RC
VM_rows=$(psql_q "SELECT count(*) FROM vm_usage_minute")
VM_host_rows=$(psql_q "SELECT count(*) FROM host_usage_minute" 2>/dev/null || echo 0)
stop_pid "$RRDCACHED_PID" 120 || say "rrdcached (vmeter) did not stop in time"
read -r VM_bytes VM_alloc <<<"$(rrd_usage "$T/rrd")"
VM_files=$(vm_files)
VM_errors=$(grep -c '\[err\]' "$T/collector.log")
# Half the fleet has no owner: one expected warning per such VM.
VM_warnings=$(grep '\[warning\]' "$T/collector.log" | grep -vc 'no vmeter owner metadata')
say "vmeter: $VM_files files, $VM_bytes bytes, $VM_rows usage rows, exit $VM_rc"
remove_rrd "$T/rrd"

# ======================================================== collectd phase
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
  RRATimespan $((cd_rrarows * INTERVAL))
  RRATimespan $((cd_rrarows * per_min * INTERVAL))
  RRATimespan $((cd_rrarows * per_hour * INTERVAL))
</Plugin>
$pg_conf
EOC
"$COLLECTD" -t -C "$T/collectd/collectd.conf" >"$T/collectd/check.log" 2>&1 ||
	{ cat "$T/collectd/check.log"; die "collectd refuses its configuration"; }
"$COLLECTD" -f -C "$T/collectd/collectd.conf" >"$T/collectd/out.log" 2>&1 &
CD_PID=$!
_pids="$_pids $CD_PID"
t_start=$(now_ns)
say "collectd started (pid $CD_PID), waiting for its RRD files"
wait_files 1 $((300 + 2 * VMS)) cd_ready || die "collectd did not create its RRD files (see $T/collectd/collectd.log)"
CD_startup_wall=$(awk -v a="$t_start" -v b="$(now_ns)" 'BEGIN { printf "%.0f", (b - a) / 1e9 }')
sleep "$INTERVAL"
kill -0 "$CD_PID" 2>/dev/null || die "collectd died (see $T/collectd/collectd.log)"
if [ "$PG_WRITER" = 1 ]; then
	measure "$CD_PID" "$CD_RRDCACHED_PID" collectd collectd_values
	CD_wrows=$W_rows CD_commits=$W_commits
else
	measure "$CD_PID" "$CD_RRDCACHED_PID" - -
	CD_wrows="-" CD_commits="-"
fi
CD_cpu=$W_cpu CD_rrdc=$W_rrdc CD_libvirtd=$W_libvirtd CD_pg=$W_pg CD_hwm=$W_hwm CD_rss=$W_rss CD_wall=$W_wall
CD_startup_cpu=$W_startup_cpu CD_startup_hwm=$W_startup_hwm CD_threads=$W_threads CD_anon=$W_anon CD_file=$W_file
stop_pid "$CD_PID" 60 || say "collectd did not stop in time"
if [ "$PG_WRITER" = 1 ]; then
	CD_rows=$(psql_q collectd "SELECT count(*) FROM collectd_values")
else
	CD_rows="-"
fi
stop_pid "$CD_RRDCACHED_PID" 120 || say "rrdcached (collectd) did not stop in time"
read -r CD_bytes CD_alloc <<<"$(rrd_usage "$T/rrd-collectd")"
CD_files=$(cd_files)
CD_ds=$(find "$T/rrd-collectd" -name '*.rrd' -type f | head -200 | while read -r f; do
	rrdtool info "$f" | grep -c '^ds\[.*\]\.type'; done | awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n }')
CD_errors=$(grep -c '\[error\]' "$T/collectd/collectd.log")
say "collectd: $CD_files files, $CD_bytes bytes, $CD_rows rows, $CD_errors error lines in its log"
remove_rrd "$T/rrd-collectd"

# ======================================================== report
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
gb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e9 }'; }
per() { awk -v t="$1" -v n="$INTERVALS" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", t / hz / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

echo
echo "collector-vs-collectd: $VMS VMs (test driver via libvirtd), interval $INTERVAL s, $INTERVALS intervals measured"
echo "steady state (window of $INTERVALS intervals after all RRD files exist: vmeter $VM_wall s, collectd $CD_wall s wall):"
fmt='%-16s %9s %8s %12s %13s %12s %8s %12s %11s\n'
# shellcheck disable=SC2059
printf "$fmt" program intervals "CPU s" "CPU s/intvl" "peak RSS MiB" "RSS end MiB" "RRD GB" "rows in PG" "PG commits"
# shellcheck disable=SC2059
printf "$fmt" vmeter-collector "$INTERVALS" "$(secs "$VM_cpu")" "$(per "$VM_cpu")" \
	"$(mib "$VM_hwm")" "$(mib "$VM_rss")" "$(gb "$VM_bytes")" "$VM_wrows" "$VM_commits"
# shellcheck disable=SC2059
printf "$fmt" collectd "$INTERVALS" "$(secs "$CD_cpu")" "$(per "$CD_cpu")" \
	"$(mib "$CD_hwm")" "$(mib "$CD_rss")" "$(gb "$CD_bytes")" "$CD_wrows" "$CD_commits"
echo
echo "servers, CPU s over the same window (each side has its own rrdcached; libvirtd and PostgreSQL are shared, the phases do not overlap):"
printf '%-16s %10s %10s %12s\n' program rrdcached libvirtd PostgreSQL
printf '%-16s %10s %10s %12s\n' vmeter-collector "$(secs "$VM_rrdc")" "$(secs "$VM_libvirtd")" "$(secs "$VM_pg")"
printf '%-16s %10s %10s %12s\n' collectd "$(secs "$CD_rrdc")" "$(secs "$CD_libvirtd")" "$(secs "$CD_pg")"
echo
echo "start-up (until every RRD file exists plus one interval; not in the window):"
printf '%-16s %10s %8s %14s %8s %14s %18s\n' program "wall s" "CPU s" "peak RSS MiB" "files" "GB apparent" "GB allocated"
printf '%-16s %10s %8s %14s %8s %14s %18s\n' vmeter-collector "$VM_startup_wall" "$(secs "$VM_startup_cpu")" \
	"$(mib "$VM_startup_hwm")" "$VM_files" "$(gb "$VM_bytes")" "$(gb "$VM_alloc")"
printf '%-16s %10s %8s %14s %8s %14s %18s\n' collectd "$CD_startup_wall" "$(secs "$CD_startup_cpu")" \
	"$(mib "$CD_startup_hwm")" "$CD_files" "$(gb "$CD_bytes")" "$(gb "$CD_alloc")"
echo
echo "RRD layout: vmeter $vm_ds data sources per VM file, AVERAGE+MAX x ($rows_day x ${INTERVAL}s, $rows_min x $((per_min * INTERVAL))s, $rows_hour x $((per_hour * INTERVAL))s) = $vm_rows rows per data source"
echo "            collectd ${CD_ds:-?} data sources per file (mean), AVERAGE+MIN+MAX x ($cd_rrarows x ${INTERVAL}s, $cd_rrarows x $((per_min * INTERVAL))s, $cd_rrarows x $((per_hour * INTERVAL))s) = $((9 * cd_rrarows)) rows per data source"
echo "rows in PG (written in the window; whole run: vmeter $VM_rows + $VM_host_rows host rows, collectd $CD_rows): vmeter one per VM and closed UTC minute, collectd one per value list and interval"
echo "PG commits: transactions committed in the side's database during the window (pg_stat_database, lags up to ~10 s)"
[ "$PG_WRITER" = 1 ] || echo "            (collectd ran without its postgresql writer: PG_WRITER=0)"
echo "RSS at the end of the window: vmeter $(mib "$VM_anon") MiB anonymous + $(mib "$VM_file") MiB file-backed (shared libraries), collectd $(mib "$CD_anon") + $(mib "$CD_file") MiB"
echo "threads at the end: vmeter $VM_threads, collectd $CD_threads; collectd log error lines: $CD_errors; vmeter log errors: $VM_errors, warnings (besides one per VM without owner): $VM_warnings, exit status $VM_rc"
echo
vm_ratio=$(ratio "$VM_cpu" "$CD_cpu")
echo "ratios vmeter/collectd: CPU $vm_ratio (target <= 0.333), peak RSS $(ratio "$VM_hwm" "$CD_hwm")"
echo "target CPU at most 1/3 of collectd's: $(awk -v r="$vm_ratio" 'BEGIN { print (r != "n/a" && r <= 1 / 3) ? "met" : "MISSED" }')"
echo "target RSS under 32 MiB (window peak $(mib "$VM_hwm") MiB, start-up peak $(mib "$VM_startup_hwm") MiB): $(awk -v k="$VM_hwm" 'BEGIN { print (k < 32768) ? "met" : "MISSED" }') in the window, $(awk -v k="$VM_startup_hwm" 'BEGIN { print (k < 32768) ? "met" : "MISSED" }') over the whole run"
exit 0
