#!/bin/bash
# The capacity report (issue 15) against PostgreSQL reading the same rows,
# side by side in one run on a private cluster; a benchmark, not a test
# (exits 0 whatever the figures, non-zero only if something broke):
#   HOSTS hosts and VMS VMs (VM v on host v % HOSTS, tenant v % 20) over
#   DAYS UTC days, rolled up by `vmeter-admin maintain`; then, each twice
#   and the best kept:
#   1. the read: a plain COPY of the rows the report reads (the period's
#      vm_usage_hour and host_usage_hour rows, the columns it takes) to
#      /dev/null;
#   2. `vmeter-report capacity` of the period by host (JSON, CSV, HTML) and
#      by class (JSON), timed with /usr/bin/time -v for the peak memory.
#   Target: the report at most 3x the read.
#
#   bench/capacity.sh [HOSTS [VMS [DAYS]]]   (default 100 4000 30; 10 200 3 is a quick run)
#
# The report reads the hourly rollups: a row per VM, host, owner and hour,
# however many minutes the hour had.  So the fleet's minutes are made one
# per VM-hour (the rollups then hold exactly the rows sixty would give),
# carrying the whole hour's counters and its gauges x 60 (so that the
# hour's sums and time-weighted averages are a full hour's); generating and
# rolling up 60 x as many minutes (173 million rows) would cost most of
# an hour and change nothing that is measured.  (A VM's CPU "while
# observed" is then 60 x too high: the reclaimable VMs found are not
# meaningful here.)
#
# VMETER_BUILD: a build tree to use as it is; by default an optimised copy
# of this tree is built in /tmp/vmbench-capacity-build (-O2 -g, no
# sanitizers).  OUT (/var/tmp/vmeter-bench/capacity-DATE) keeps the
# outputs.  See bench/README.md.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
HOSTS=${1:-100}
VMS=${2:-4000}
DAYS=${3:-30}
OUT=${OUT:-/var/tmp/vmeter-bench/capacity-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
# shellcheck source=opt-build.sh
. "$top_srcdir/bench/opt-build.sh"
opt_build /tmp/vmbench-capacity-build admin/vmeter-admin reports/vmeter-report || exit 1
top_builddir=$VMETER_BUILD
. "$top_srcdir/tests/lib.sh"
REPORT=$top_builddir/reports/vmeter-report
[ -x "$REPORT" ] && [ -x "$ADMIN" ] || bail "no $REPORT or $ADMIN"
ldd "$REPORT" | grep -q libasan && diag "warning: a sanitizer build; measure with one configured without --enable-sanitizers"
[ -x /usr/bin/time ] || bail "no /usr/bin/time (Debian: time)"
M0="2026-10-01 00:00:00+00"
M1=$(date -u -d "2026-10-01 + $DAYS days" +%F)" 00:00:00+00"
PERIOD=2026-10-01..$(date -u -d "2026-10-01 + $DAYS days - 1 day" +%F)

echo "# vmeter capacity report benchmark: $HOSTS hosts, $VMS VMs x $DAYS days ($((VMS * DAYS * 24)) VM-hours)"
echo "# build $(git -C "$top_srcdir" rev-parse --short HEAD 2>/dev/null), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), outputs in $OUT"
start_postgres
write_conf "$T/vmeter.conf" "reports {
  host-disk-gib = 4000
  host-classes = \"even=hv-*[02468] odd=hv-*[13579]\"
}"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
q() { psql_q "$1"; }
secs() {
	_a=$(date +%s.%N)
	"$@" >"$OUT/last.out" 2>&1 || { cat "$OUT/last.out"; bail "$* failed"; }
	_b=$(date +%s.%N)
	awk -v a="$_a" -v b="$_b" 'BEGIN { printf "%.2f\n", b - a }'
}
adm migrate >/dev/null || bail "migrate failed"

# The fleet: host h has 32 + 16 (h % 3) CPUs and 256 GiB; VM v 1 + v % 8
# vCPUs and 2 (1 + v % 8) GiB, every 50th stopped before the period; a
# VM's CPU follows a daily cycle, a slow trend and a hash.
gen_start=$(date +%s)
q "SELECT vm_ensure_partitions('$M0'::timestamptz - interval '1 day', '$M1'::timestamptz + interval '1 day')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" >/dev/null <<EOF || bail "fleet"
INSERT INTO host (host_id, hostname) SELECT h, 'hv-' || h FROM generate_series(0, $HOSTS - 1) h;
INSERT INTO host_inventory SELECT h, '$M0'::timestamptz - interval '30 days', 32 + 16 * (h % 3), 2400, 256 * 1048576,
       'bench', 2, 2, 8 + 4 * (h % 3), 2 FROM generate_series(0, $HOSTS - 1) h;
INSERT INTO vm (vm_id, uuid) SELECT v, ('cccccccc-0000-4000-8000-' || lpad(v::text, 12, '0'))::uuid
  FROM generate_series(1, $VMS) v;
INSERT INTO vm_event (vm_id, host_id, at, event, detail)
  SELECT v, v % $HOSTS, '$M0'::timestamptz - interval '20 days', 'started', '' FROM generate_series(1, $VMS) v;
INSERT INTO vm_event (vm_id, host_id, at, event, detail)
  SELECT v, v % $HOSTS, '$M0'::timestamptz - interval '10 days', 'stopped', '' FROM generate_series(50, $VMS, 50) v;
INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib,
                          tenant, project, cost_centre, owner_source, digest)
  SELECT v, '$M0'::timestamptz - interval '20 days', v % $HOSTS, 'vm' || v, 1 + v % 8, 8, 2 * (1 + v % 8) * 1048576,
         2 * (1 + v % 8) * 1048576, 't' || lpad((v % 20)::text, 2, '0'), 'p' || v % 7, '', 'metadata', 'a' || v
    FROM generate_series(1, $VMS) v;
EOF
for d in $(seq 0 $((DAYS - 1))); do
	psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" >/dev/null <<EOF || bail "rows of day $d"
BEGIN;
SELECT vm_mark_hours('vm_usage_minute', h, ARRAY(SELECT generate_series('$M0'::timestamptz + interval '$d days',
       '$M0'::timestamptz + interval '$d days 23:00', interval '1 hour'))) FROM generate_series(0, $HOSTS - 1) h;
INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, net_rx_bytes, net_tx_bytes,
                             vcpus_avg, vcpus_max, mem_max_kib_avg, mem_max_kib_max, rss_kib_avg, rss_kib_max,
                             disk_capacity_bytes_avg, disk_capacity_bytes_max, disk_allocation_bytes_avg,
                             disk_allocation_bytes_max)
  SELECT v % $HOSTS, v, m, 60000, 6,
         ((1 + v % 8) * 3600000000000::bigint * (5 + (v * 7919 + k) % 20 + 5 * sin(2 * pi() * k / 24) + ($d * 24 + k) / 48.0)
          / 200)::bigint,
         ((v * 31 + k) % 1000) * 90000, ((v * 17 + k) % 1000) * 90000, 60 * (1 + v % 8), 1 + v % 8,
         120 * (1 + v % 8) * 1048576::bigint, 2 * (1 + v % 8) * 1048576, 60 * ((1 + v % 8) * 1048576::bigint + $d * 1024),
         (1 + v % 8) * 1048576 + $d * 1024,
         60 * ((20 + v % 80)::bigint << 30), (20 + v % 80)::bigint << 30,
         60 * (((10 + v % 40)::bigint << 30) + $d * 50000000::bigint), ((10 + v % 40)::bigint << 30) + $d * 50000000::bigint
    FROM generate_series(1, $VMS) v, generate_series(0, 23) k,
         LATERAL (SELECT '$M0'::timestamptz + interval '$d days' + k * interval '1 hour' AS m) x
   WHERE v % 50 <> 0;
INSERT INTO host_usage_minute (host_id, minute, coverage_ms, samples, cpu_capacity_ns, cpu_busy_ns, cpus_avg, cpus_max)
  SELECT h, '$M0'::timestamptz + interval '$d days' + k * interval '1 hour', 60000, 6,
         (32 + 16 * (h % 3)) * 3600000000000::bigint, (10 + h % 20) * 3600000000000::bigint, 60 * (32 + 16 * (h % 3)),
         32 + 16 * (h % 3)
    FROM generate_series(0, $HOSTS - 1) h, generate_series(0, 23) k;
COMMIT;
EOF
done
echo "rows: $(q "SELECT count(*) FROM vm_usage_minute") VM minutes, $(q "SELECT count(*) FROM host_usage_minute") host minutes, generated in $(($(date +%s) - gen_start)) s"
t_maint=$(secs adm maintain --now "$(date -u -d "${M1% *} 00:05" '+%F %T')" --no-retention --no-pack) || exit 1
echo "maintain rolled them up in $t_maint s: $(q "SELECT count(*) FROM vm_usage_hour") VM hours, $(q "SELECT count(*) FROM host_usage_hour") host hours"
q "VACUUM ANALYZE" >/dev/null

read_rows() {
	psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" >/dev/null <<EOF
COPY (SELECT vm_id, host_id, owner_id, extract(epoch FROM hour)::bigint, minutes, coverage_ms, cpu_ns, rss_kib_int,
             disk_allocation_bytes_int, disk_capacity_bytes_int, disk_capacity_bytes_ms, net_rx_bytes, net_tx_bytes,
             vcpus_int, mem_max_kib_int
        FROM vm_usage_hour WHERE hour >= '$M0' AND hour < '$M1') TO STDOUT;
COPY (SELECT host_id, extract(epoch FROM hour)::bigint, cpu_busy_ns FROM host_usage_hour
       WHERE hour >= '$M0' AND hour < '$M1') TO STDOUT;
EOF
}
# report NAME ARGS...: seconds and peak RSS (KiB) of the report
report() {
	_name=$1
	shift
	/usr/bin/time -v -o "$OUT/$_name.time" "$REPORT" -c "$T/vmeter.conf" capacity --period "$PERIOD" "$@" \
		>"$OUT/$_name.out" 2>&1 || { cat "$OUT/$_name.out"; bail "report $_name failed"; }
	awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; t = s }
		/Maximum resident set size/ { m = $2 } END { printf "%.2f %d\n", t, m }' "$OUT/$_name.time"
}
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b) ? a : b }'; }
t_r1=$(secs read_rows) || exit 1
t_r2=$(secs read_rows) || exit 1
t_read=$(best "$t_r1" "$t_r2")
echo
echo "## the report against the read"
printf '%-62s %9s %12s %7s\n' "way" seconds "peak RSS MiB" "x read"
printf '%-62s %9s %12s %7s\n' "COPY of the rows the report reads (best of 2)" "$t_read" "" "1.00"
for spec in "host-json:--group host --format json" "host-csv:--group host --format csv" \
	"host-html:--group host --format html" "class-json:--group class --format json" \
	"whatif-json:--group class --format json --what-if add=100:4:8 --what-if remove-host=hv-1"; do
	name=${spec%%:*}
	args=${spec#*:}
	# shellcheck disable=SC2086
	read -r s1 m1 <<<"$(report "$name" $args -o "$OUT/$name.report")"
	# shellcheck disable=SC2086
	read -r s2 m2 <<<"$(report "$name" $args -o "$OUT/$name.report")"
	s=$(best "$s1" "$s2")
	m=$((m1 > m2 ? m1 : m2))
	printf '%-62s %9s %12s %7s\n' "vmeter-report capacity $args (best of 2)" "$s" "$((m / 1024))" \
		"$(awk -v a="$s" -v b="$t_read" 'BEGIN { printf "%.2f", a / b }')"
done
echo "target: the report at most 3.00 x the read"
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
f = d["rows"][-1]
print("fleet: %d hosts, %d VMs, CPU demand p95 %.1f of %.1f usable cores, headroom %s VMs of %s vCPUs; %d reclaimable VMs; CPU forecast %s, %s days" % (
    f["hosts"], f["vms"], f["utilisation"]["cpu"]["p95"], f["usable"]["cpu"], f["headroom"]["demand"], d["vm_size"]["vcpus"],
    len(d["reclaimable"]), f["forecast"]["cpu"]["method"], f["forecast"]["cpu"].get("days_remaining")))' "$OUT/host-json.report"
echo "# done in $SECONDS s"
