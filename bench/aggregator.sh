#!/bin/bash
# The rule engine at scale (issue 13), a benchmark, not a test (exits 0
# whatever the figures, non-zero only if something broke):
#   1. vmeter-bench-aggregator (bench/aggregator.c): VMS VMs x RULES rules,
#      a rule cycle every 10 s, a new minute every 6 cycles, for MINUTES
#      minutes after a first hour: CPU time of the fill of each minute and
#      of each cycle, the series' bytes and the RSS;
#   2. beside it, on a private cluster holding the same minutes (the same
#      formula), plain SQL computing the same windowed aggregates: for
#      each rule, its function over its window per VM (GROUP BY vm_id), as
#      a daemon doing it in the database would each minute; the backend's
#      CPU time (/proc) and the wall time per minute; and what the daemon
#      itself asks of the database each minute (the new minute and the 5
#      before it again, for late rows).
#
#   bench/aggregator.sh [VMS [RULES [MINUTES]]]     (default 10000 50 10)
#
# Build without sanitizers (scripts/build.sh; make bench/vmeter-bench-aggregator).
# See bench/README.md.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
. "$top_srcdir/tests/lib.sh"
VMS=${1:-10000}
RULES=${2:-50}
MINUTES=${3:-10}
BENCH=$top_builddir/bench/vmeter-bench-aggregator
[ -x "$BENCH" ] || bail "build first: make bench/vmeter-bench-aggregator"
ldd "$BENCH" | grep -q libasan && diag "warning: a sanitizer build; measure with one configured without --enable-sanitizers"
echo "# vmeter rule engine benchmark: $VMS VMs x $RULES rules, 10 s cycles, $MINUTES minutes measured"
echo "# build $(git -C "$top_srcdir" rev-parse --short HEAD 2>/dev/null), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "## 1. the engine (in memory)"
"$BENCH" "$VMS" "$RULES" $((60 + MINUTES)) >"$T/engine.out" || bail "vmeter-bench-aggregator failed"
grep -v '^holds ' "$T/engine.out" | sed 's/^/  /'
eng_min=$(awk '$1 == "cpu_ms_per_minute" { print $2 }' "$T/engine.out")

echo "## 2. plain SQL, the same aggregates"
start_postgres
write_conf "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
T0=1790000000 # bench/aggregator.c's T0, a whole hour
T0=$((T0 / 3600 * 3600))
ALL=$((60 + MINUTES))
psql_q "SELECT vm_ensure_partitions(to_timestamp($T0) - interval '1 day', to_timestamp($T0) + interval '1 day')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" >/dev/null <<EOS || bail "the minutes"
INSERT INTO host (host_id, hostname) SELECT h, 'hv-' || h FROM generate_series(0, ($VMS - 1) / 100) h;
INSERT INTO vm (vm_id, uuid) SELECT v, ('bbbbbbbb-0000-4000-8000-' || lpad(v::text, 12, '0'))::uuid
  FROM generate_series(1, $VMS) v;
INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, vcpu_ns, vcpu_delay_ns, vcpus_avg,
    vcpus_max, disk_rd_bytes, net_rx_bytes)
SELECT (v - 1) / 100, v, to_timestamp($T0) + k * interval '1 minute', 60000, 6,
       ((v * 7 + k * 13) % 100) * 600000000::bigint * (1 + v % 4), 0,
       ((v + k) % 10) * 600000000::bigint * (1 + v % 4), 1 + v % 4, 1 + v % 4,
       ((v * 31 + k * 17) % 1000) * 1000, ((v * 11 + k * 7) % 1000) * 1500
  FROM generate_series(1, $VMS) v, generate_series(0, $ALL - 1) k;
ANALYZE vm_usage_minute;
EOS
echo "  rows: $(psql_q "SELECT count(*) FROM vm_usage_minute")"

# bench/aggregator.c's rules: FN[i % 4](METRIC[(i / 4) % 4], WINDOW[i % 3]) > THRESHOLD
fns=("avg(x)" "max(x)" "min(x)" "percentile_disc(0.95) WITHIN GROUP (ORDER BY x)")
xs=("100.0 * cpu_ns / (coverage_ms * 1e6 * vcpus_avg)" "disk_rd_bytes / (coverage_ms / 1000.0)"
	"net_rx_bytes / (coverage_ms / 1000.0)" "100.0 * vcpu_delay_ns / (coverage_ms * 1e6 * vcpus_avg)")
wins=(5 15 60)
thr=(90.5 15010 22010 8.5)
# One minute's work for the SQL way: every rule at the end of minute k.
sql_minute() {
	_end=$1
	for i in $(seq 0 $((RULES - 1))); do
		m=$(((i / 4) % 4))
		echo "SELECT count(*) FILTER (WHERE v > ${thr[$m]}) FROM (SELECT vm_id, ${fns[$((i % 4))]} AS v FROM
  (SELECT vm_id, ${xs[$m]} AS x FROM vm_usage_minute WHERE minute >= to_timestamp($_end) - interval '${wins[$((i % 3))]} minutes'
     AND minute < to_timestamp($_end)) r GROUP BY vm_id) g;"
	done
}
# The daemon's own read each minute: the new minute and the 5 before.
read_minute() {
	echo "SELECT vm_id, host_id, minute, coverage_ms, cpu_ns, vcpu_delay_ns, vcpus_avg, balloon_kib_avg, rss_kib_avg,
  disk_rd_bytes, disk_wr_bytes, net_rx_bytes, net_tx_bytes FROM vm_usage_minute
  WHERE minute >= to_timestamp($1) - interval '6 minutes' AND minute < to_timestamp($1);"
}
# run_timed NAME GEN: GEN's SQL for each measured minute in one session;
# the backend's CPU (utime + stime from /proc) and the wall time.
run_timed() {
	_name=$1 _gen=$2
	# The backend reads its own /proc/self/stat (a superuser's
	# pg_read_file), with the time, before and after.
	_mark="SELECT pg_read_file('/proc/self/stat'); SELECT extract(epoch FROM clock_timestamp());"
	{
		echo "\\o $T/$_name.mark0"
		echo "$_mark"
		echo "\\o /dev/null"
		for k in $(seq 60 $((ALL - 1))); do "$_gen" $((T0 + (k + 1) * 60)); done
		echo "\\o $T/$_name.mark1"
		echo "$_mark"
		echo "SELECT pg_read_file('/proc/self/status');"
	} >"$T/$_name.sql"
	psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$T/$_name.sql" >/dev/null || bail "$_name failed"
	hz=$(getconf CLK_TCK)
	# each file: the stat line (NF > 20) and the epoch (a number alone)
	cpu=$(awk -v hz="$hz" 'NF > 20 { t[FILENAME == ARGV[1]] = $14 + $15 } END { print (t[0] - t[1]) / hz }' \
		"$T/$_name.mark0" "$T/$_name.mark1")
	wall=$(awk '/^[0-9.]+$/ { t[FILENAME == ARGV[1]] = $1 } END { print t[0] - t[1] }' \
		"$T/$_name.mark0" "$T/$_name.mark1")
	# the backend's peak RSS (VmHWM) over the session
	hwm=$(awk '$1 == "VmHWM:" { print $2 }' "$T/$_name.mark1")
	awk -v c="$cpu" -v w="$wall" -v n="$MINUTES" -v m="$hwm" \
		'BEGIN { printf "%.2f %.2f %d\n", 1000 * c / n, 1000 * w / n, m / 1024 }'
}
# The same aggregates: per rule, the VMs whose condition holds at the
# last minute's end, as the engine counted them.
i=0
while read -r n; do
	echo "holds r$i $n"
	i=$((i + 1))
done < <(sql_minute $((T0 + ALL * 60)) | psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_CONNINFO") >"$T/sql-holds"
if diff <(grep '^holds ' "$T/engine.out") "$T/sql-holds" >"$T/holds.diff"; then
	echo "  the same conditions hold in both, rule by rule: $(awk '{ s += $3 } END { print s }' "$T/sql-holds") (rule, VM) pairs"
else
	echo "  the engine and the SQL differ:"
	sed 's/^/    /' "$T/holds.diff" | head -20
	exit 1
fi
read -r sql_cpu sql_wall sql_mib < <(run_timed rules sql_minute)
read -r rd_cpu rd_wall rd_mib < <(run_timed read read_minute)
eng_mib=$(awk '$1 == "rss_kib" { printf "%d", $2 / 1024 }' "$T/engine.out")
printf '  %-58s %10s %10s %12s\n' "per minute" "CPU ms" "wall ms" "peak RSS MiB"
printf '  %-58s %10s %10s %12s\n' "the engine: fill + 6 cycles (vmeter-bench-aggregator)" "$eng_min" "-" "$eng_mib"
printf '  %-58s %10s %10s %12s\n' "plain SQL: the $RULES rules' aggregates (PostgreSQL backend)" "$sql_cpu" "$sql_wall" "$sql_mib"
printf '  %-58s %10s %10s %12s\n' "the daemon's read of the minutes (PostgreSQL backend)" "$rd_cpu" "$rd_wall" "$rd_mib"
awk -v e="$eng_min" -v s="$sql_cpu" -v r="$rd_cpu" 'BEGIN {
	printf "  the engine: %.2f %% of one core (+ its read: %.2f %%); the plain SQL: %.2f %%; SQL / engine %.1f\n",
		e / 600, r / 600, s / 600, s / e }'
