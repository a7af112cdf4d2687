#!/bin/bash
# vmeter-aggregator's analysis (aggregator/, docs/ANALYSIS.md) on real
# PostgreSQL: synthetic minutes with known values on two hosts, rolled up
# by `vmeter-admin maintain`; one cycle at a fixed time (`run --now`).
# Every stored figure is compared with the same figure computed here in
# plain SQL over the raw minute rows (not through the rollups or the
# aggregator's code); each class is produced for a VM built to have it and
# not for one built just outside it; VMs with lost or partly covered
# minutes are not idle; a change of class is kept as history.  Then the
# daemon: READY, its lock, an outage of PostgreSQL logged once, SIGHUP
# with a broken file, SIGTERM.  Bad configurations name FILE:LINE and the
# option.  Waits for states, never for times.
. "$(dirname "$0")/../lib.sh"
plan 42

AGG=$top_builddir/aggregator/vmeter-aggregator
start_postgres
SECTION='aggregator {
  interval = 10
  lag = 300
  current-window = "1h"
  contention-window = "1h"
  idle-window = "6h"
  sizing-window = "6h"
  powered-off-after = "2d"
}'
write_conf "$T/vmeter.conf" "$SECTION"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
# The aggregator runs as a login role of sql/roles/vmeter_aggregator.sql's
# group: every cycle here also checks that the role's privileges suffice.
agg() { "$AGG" -c "$T/agg.conf" "$@"; }
q() { psql_q "$1"; }
adm migrate >/dev/null || bail "migrate failed"
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$top_srcdir/sql/roles/vmeter_aggregator.sql" >/dev/null ||
	bail "the aggregator role's grants failed"
q "CREATE ROLE analyst LOGIN IN ROLE vmeter_aggregator" >/dev/null || bail "cannot create the login role"
sed 's/user=vmeter/user=analyst/' "$T/vmeter.conf" >"$T/agg.conf"
grep -q "user=analyst" "$T/agg.conf" || bail "no user in the configuration's conninfo"

# --- configuration
out=$(agg -n 2>&1)
is "$?:$out" "0:$T/agg.conf: configuration ok" "-n accepts the section"
out=$("$AGG" -c "$top_srcdir/etc/vmeter.conf.example" -n 2>&1)
is "$?:$out" "0:$top_srcdir/etc/vmeter.conf.example: configuration ok" "the example's section, every option at its default"
bad() { # bad LINE_IN_SECTION: the error, with the file's path as FILE
	write_conf "$T/bad.conf" "aggregator {
  $1
}"
	"$AGG" -c "$T/bad.conf" -n 2>&1 | sed "s|$T/bad.conf|FILE|"
	return "${PIPESTATUS[0]}"
}
out=$(bad 'idle-cpu = "5 percent"')
rc=$?
line=$(($(grep -n '^aggregator {' "$T/bad.conf" | cut -d: -f1) + 1))
case $out in *"FILE:$line:"*"aggregator.idle-cpu"*"must be a share"*) r=0 ;; *) r=1 ;; esac
ok $((r + (rc != 2))) "a bad share names FILE:LINE and the option, exit 2 ($out)"
out=$(bad 'sizing-window = "90m"')
case $out in *"FILE:$line:"*"aggregator.sizing-window"*"whole hours"*) r=0 ;; *) r=1 ;; esac
ok $r "a window of the hourly classes must be whole hours ($out)"
out=$(bad 'idle-windw = "7d"')
case $out in *"FILE:$line:"*"idle-windw"*) r=0 ;; *) r=1 ;; esac
ok $r "an unknown option is refused with FILE:LINE ($out)"
out=$(bad 'oversized-cpu = "95%"')
case $out in *"FILE: aggregator.oversized-cpu must be below aggregator.undersized-cpu"*) r=0 ;; *) r=1 ;; esac
ok $r "thresholds that contradict each other are refused ($out)"
out=$(bad 'interval = 5')
case $out in *"FILE:$line:"*"aggregator.interval"*) r=0 ;; *) r=1 ;; esac
ok $r "an interval out of bounds is refused ($out)"

# --- the fleet.  Hours 1..6 are 2026-10-07 18:00..23:00 (the classes'
# six-hour windows end at 2026-10-08 00:00), hour 7 is 00:00 (added
# later).  pct: CPU per hour in basis points of the allocation; delay:
# vCPU delay in bp of the vCPU time; cov: coverage of every minute.
q "SELECT vm_ensure_partitions('2026-10-01 00:00+00', '2026-10-10 00:00+00')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" >/dev/null <<'EOF' || bail "the fleet"
INSERT INTO host (host_id, hostname) VALUES (1, 'hv-1'), (2, 'hv-2'), (3, 'hv-3');
INSERT INTO host_inventory VALUES (1, '2026-10-01 00:00+00', 16, 2400, 67108864, 'x', 1, 1, 8, 2),
                                  (2, '2026-10-01 00:00+00', 8, 2400, 33554432, 'x', 1, 1, 4, 2);
CREATE TABLE spec (vm_id int, name text, host_id int, vcpus int, pct int[], delay int, cov int,
                   net_bps bigint, disk_bps bigint, avail_kib bigint, usable_kib bigint, rss_kib bigint,
                   lost_hours int[]);
INSERT INTO spec VALUES
 (1, 'vm-idle',    1, 2, '{100,100,100,100,100,100,5000}', 0, 60000, 100, 0, NULL, NULL, 1048576, '{}'),
 (2, 'vm-busy5',   1, 2, '{500,500,500,500,500,500,500}', 0, 60000, 100, 0, NULL, NULL, NULL, '{}'),
 (3, 'vm-lost',    1, 2, '{0,0,0,0,0,0,0}', 0, 60000, 0, 0, NULL, NULL, NULL, '{1,2}'),
 (4, 'vm-partial', 1, 2, '{0,0,0,0,0,0,0}', 0, 30000, 0, 0, NULL, NULL, NULL, '{}'),
 (5, 'vm-over',    2, 4, '{1000,1000,1000,1000,1000,3500,3500}', 0, 60000, 5000, 20000, 4194304, 3145728, 2097152, '{}'),
 (6, 'vm-right',   2, 4, '{4000,4000,4000,4000,4000,4000,4000}', 0, 60000, 5000, 20000, 4194304, 2097152, 3145728, '{}'),
 (7, 'vm-under',   1, 2, '{9500,9500,9500,9500,9500,8000,9500}', 0, 60000, 5000, 0, NULL, NULL, NULL, '{}'),
 (8, 'vm-busy90',  1, 2, '{9000,9000,9000,9000,9000,9000,9000}', 0, 60000, 5000, 0, NULL, NULL, NULL, '{}'),
 (9, 'vm-starved', 2, 4, '{2000,2000,2000,2000,2000,2000,2000}', 4000, 60000, 5000, 0, NULL, NULL, NULL, '{}'),
 (10, 'vm-delay5', 1, 2, '{5000,5000,5000,5000,5000,5000,5000}', 500, 60000, 5000, 0, NULL, NULL, NULL, '{}'),
 (11, 'vm-noisy',  2, 4, '{10000,10000,10000,10000,10000,10000,10000}', 0, 60000, 5000, 4000000, NULL, NULL, NULL, '{}'),
 (12, 'vm-off',    2, 2, NULL, 0, 0, 0, 0, NULL, NULL, NULL, '{}'),
 (13, 'vm-off-recent', 2, 2, NULL, 0, 0, 0, 0, NULL, NULL, NULL, '{}'),
 (14, 'vm-moved',  3, 2, NULL, 0, 0, 0, 0, NULL, NULL, NULL, '{}');
INSERT INTO vm (vm_id, uuid) SELECT vm_id, ('00000000-0000-0000-0000-0000000000' || lpad(vm_id::text, 2, '0'))::uuid FROM spec;
INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib, tenant,
  project, cost_centre, owner_source, digest)
  SELECT vm_id, '2026-10-01 00:00+00', host_id, name, vcpus, vcpus, vcpus * 1048576, vcpus * 1048576, 't', 'p', '',
         'metadata', 'd' || vm_id FROM spec;
INSERT INTO vm_event (vm_id, host_id, at, event) SELECT vm_id, host_id, '2026-10-01 00:00+00', 'started' FROM spec;
INSERT INTO vm_event (vm_id, host_id, at, event) VALUES (12, 2, '2026-10-03 00:00+00', 'stopped'),
                                                      (13, 2, '2026-10-06 12:00+00', 'stopped');
-- The minutes of hours [h1, h2] of every VM with usage, and of both hosts.
CREATE FUNCTION gen(h1 int, h2 int) RETURNS void LANGUAGE sql AS $$
INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, vcpu_ns, vcpu_delay_ns,
    vcpus_avg, vcpus_max, mem_max_kib_avg, mem_max_kib_max, rss_kib_avg, rss_kib_max, available_kib_avg,
    available_kib_max, usable_kib_avg, usable_kib_max, disk_rd_bytes, disk_wr_bytes, net_rx_bytes, net_tx_bytes)
SELECT s.host_id, s.vm_id, m, s.cov, 6, s.vcpus::bigint * s.cov * 1000000 * s.pct[h] / 10000,
       s.vcpus::bigint * s.cov * 1000000 * s.pct[h] / 10000,
       s.vcpus::bigint * s.cov * 1000000 * s.delay / 10000, s.vcpus, s.vcpus,
       s.vcpus * 1048576, s.vcpus * 1048576, s.rss_kib, s.rss_kib, s.avail_kib, s.avail_kib, s.usable_kib,
       s.usable_kib, s.disk_bps * s.cov / 1000 / 2, s.disk_bps * s.cov / 1000 / 2, s.net_bps * s.cov / 1000 / 2,
       s.net_bps * s.cov / 1000 / 2
  FROM spec s, generate_series(h1, h2) h,
       generate_series(timestamptz '2026-10-07 17:00+00' + h * interval '1 hour',
                       timestamptz '2026-10-07 17:59+00' + h * interval '1 hour', interval '1 minute') m
 WHERE s.pct IS NOT NULL AND NOT h = ANY (s.lost_hours);
INSERT INTO vm_usage_loss (host_id, vm_id, minute, lost_ms, reason)
SELECT s.host_id, s.vm_id, m, 60000, 'spool full'
  FROM spec s, generate_series(h1, h2) h,
       generate_series(timestamptz '2026-10-07 17:00+00' + h * interval '1 hour',
                       timestamptz '2026-10-07 17:59+00' + h * interval '1 hour', interval '1 minute') m
 WHERE h = ANY (s.lost_hours);
-- the hosts: hv-1 16 CPUs and 64 GiB, hv-2 8 CPUs and 32 GiB, running
-- the vCPUs and memory of their VMs
INSERT INTO host_usage_minute (host_id, minute, coverage_ms, samples, cpu_capacity_ns, cpu_busy_ns, cpus_avg,
    cpus_max, mem_total_kib_avg, mem_total_kib_max, vms_running_avg, vms_running_max, vcpus_running_avg,
    vcpus_running_max, vm_mem_kib_avg, vm_mem_kib_max)
SELECT x.host_id, m, 60000, 6, x.cpus * 60000000000, x.cpus * 60000000000 * x.busy / 100, x.cpus, x.cpus, x.mem,
       x.mem, x.vms, x.vms, x.vcpus, x.vcpus, x.vm_mem, x.vm_mem
  FROM (SELECT host_id, CASE host_id WHEN 1 THEN 16 ELSE 8 END AS cpus,
               CASE host_id WHEN 1 THEN 40 ELSE 70 END AS busy,
               CASE host_id WHEN 1 THEN 67108864 ELSE 33554432 END AS mem,
               count(*) AS vms, sum(vcpus) AS vcpus, sum(vcpus * 1048576) AS vm_mem
          FROM spec WHERE pct IS NOT NULL GROUP BY host_id) x,
       generate_series(timestamptz '2026-10-07 17:00+00' + h1 * interval '1 hour',
                       timestamptz '2026-10-07 17:59+00' + h2 * interval '1 hour', interval '1 minute') m
$$;
SELECT gen(1, 6);
-- vm-moved: 30 % on hv-3 (a host with neither minutes nor inventory of
-- its own), but for 23:00-23:20 on hv-1
INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, vcpu_ns, vcpu_delay_ns, vcpus_avg,
    vcpus_max)
SELECT CASE WHEN m >= '2026-10-07 23:00+00' AND m < '2026-10-07 23:20+00' THEN 1 ELSE 3 END, 14, m, 60000, 6,
       2::bigint * 60000 * 1000000 * 3000 / 10000, 2::bigint * 60000 * 1000000 * 3000 / 10000, 0, 2, 2
  FROM generate_series(timestamptz '2026-10-07 18:00+00', '2026-10-07 23:59+00', interval '1 minute') m;
EOF
adm maintain --now "2026-10-08 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
out=$(agg run --now "2026-10-08 00:05" 2>&1)
is "$?:$out" "0:run: figures to 2026-10-08 00:00:00Z for 12 VMs and 3 hosts; classes to 2026-10-08 00:00:00Z: 37 changes" \
	"one cycle: 12 VMs with usage, 3 hosts; 12 x 3 classes and vm-off's size"

# --- the current figures, computed again from the raw minutes of
# [23:00, 00:00): basis points and rates rounded down.
WIN="m.minute >= '2026-10-07 23:00+00' AND m.minute < '2026-10-08 00:00+00'"
diff_vm=$(q "
WITH best AS (SELECT DISTINCT ON (vm_id) vm_id, host_id FROM vm_usage_minute m WHERE $WIN
               GROUP BY vm_id, host_id ORDER BY vm_id, sum(coverage_ms) DESC, host_id),
r AS (
  SELECT m.vm_id, sum(m.coverage_ms) AS obs, count(*) AS minutes, sum(m.cpu_ns) AS cpu,
         sum(m.vcpus_avg::numeric * m.coverage_ms) AS vms, sum(m.vcpu_delay_ns) AS delay,
         sum(m.rss_kib_avg::numeric * m.coverage_ms) / nullif(sum(m.coverage_ms) FILTER (WHERE m.rss_kib_avg IS NOT NULL), 0) AS rss,
         sum((m.available_kib_avg - m.usable_kib_avg)::numeric * m.coverage_ms)
           / nullif(sum(m.coverage_ms) FILTER (WHERE m.available_kib_avg IS NOT NULL), 0) AS used,
         sum(m.disk_rd_bytes) AS rd, sum(m.disk_wr_bytes) AS wr, sum(m.net_rx_bytes) AS rx, sum(m.net_tx_bytes) AS tx
    FROM vm_usage_minute m WHERE $WIN GROUP BY 1),
l AS (SELECT vm_id, sum(lost_ms) AS lost FROM vm_usage_loss m WHERE $WIN GROUP BY 1),
hc AS (SELECT host_id, sum(cpus_avg::numeric * coverage_ms) / sum(coverage_ms) AS cpus,
              sum(mem_total_kib_avg::numeric * coverage_ms) / sum(coverage_ms) AS mem
         FROM host_usage_minute m WHERE $WIN GROUP BY 1),
e AS (
  SELECT r.vm_id, b.host_id, r.obs AS observed_ms, r.minutes * 60000 - r.obs + coalesce(l.lost, 0) AS unknown_ms,
         floor(r.obs * 10000 / 3600000) AS coverage_bp,
         floor(r.cpu * 10000 / (r.vms * 1000000)) AS cpu_alloc_bp,
         floor(r.cpu * 10000 / (hc.cpus * r.obs * 1000000)) AS cpu_host_bp,
         floor(r.delay * 10000 / (r.vms * 1000000)) AS delay_bp,
         floor(r.rss) AS rss_kib, floor(r.used) AS used_kib, s.vcpus * 1048576 AS mem_alloc_kib,
         hc.mem AS host_mem_kib,
         floor(floor(r.rss) * 10000 / (s.vcpus * 1048576)) AS rss_alloc_bp,
         floor(floor(r.used) * 10000 / (s.vcpus * 1048576)) AS used_alloc_bp,
         floor(floor(r.rss) * 10000 / hc.mem) AS rss_host_bp,
         floor(r.rd * 1000 / r.obs) AS rd, floor(r.wr * 1000 / r.obs) AS wr,
         floor(r.rx * 1000 / r.obs) AS rx, floor(r.tx * 1000 / r.obs) AS tx
    FROM r JOIN best b ON b.vm_id = r.vm_id JOIN spec s ON s.vm_id = r.vm_id LEFT JOIN hc ON hc.host_id = b.host_id
    LEFT JOIN l ON l.vm_id = r.vm_id)
SELECT coalesce(e.vm_id, f.vm_id)
  FROM e FULL JOIN agg_vm_figures f USING (vm_id)
 WHERE (e.host_id, e.observed_ms, e.unknown_ms, e.coverage_bp, e.cpu_alloc_bp, e.cpu_host_bp, e.delay_bp, e.rss_kib,
        e.used_kib, e.mem_alloc_kib, e.host_mem_kib, e.rss_alloc_bp, e.used_alloc_bp, e.rss_host_bp, e.rd, e.wr,
        e.rx, e.tx)
       IS DISTINCT FROM
       (f.host_id, f.observed_ms, f.unknown_ms, f.coverage_bp, f.cpu_alloc_bp, f.cpu_host_bp, f.delay_bp, f.rss_kib,
        f.used_kib, f.mem_alloc_kib, f.host_mem_kib, f.rss_alloc_bp, f.used_alloc_bp, f.rss_host_bp, f.disk_rd_bps,
        f.disk_wr_bps, f.net_rx_bps, f.net_tx_bps)") || diff_vm="the query failed"
is "$diff_vm" "" "every VM figure equals the one computed from the raw minutes (VMs differing: '$diff_vm')"
is "$(q "SELECT cpu_alloc_bp || ' ' || cpu_host_bp || ' ' || delay_bp || ' ' || coverage_bp || ' ' || unknown_ms
         FROM agg_vm_figures WHERE vm_id = 9")" "2000 1000 4000 10000 0" \
	"vm-starved: 20 % of its 4 vCPUs is 10 % of hv-2's 8 CPUs; 40 % delay; fully observed"
is "$(q "SELECT coverage_bp || ' ' || unknown_ms FROM agg_vm_figures WHERE vm_id = 4")" "5000 1800000" \
	"vm-partial: half of each minute observed, the other half unknown (not idle time)"
is "$(q "SELECT host_id || ' ' || observed_ms || ' ' || cpu_alloc_bp || ' ' || coalesce(cpu_host_bp::text, 'unknown')
         FROM agg_vm_figures WHERE vm_id = 14")" "3 3600000 3000 unknown" \
	"vm-moved: its hour summed over both hosts, on the one it spent longest on, whose capacity nobody knows"

diff_host=$(q "
WITH h AS (
  SELECT host_id, sum(coverage_ms) AS obs, sum(cpu_capacity_ns) AS cap, sum(cpu_busy_ns) AS busy,
         sum(cpus_avg::numeric * coverage_ms) AS cpus_int, sum(coverage_ms) AS cpus_ms,
         sum(mem_total_kib_avg::numeric * coverage_ms) AS mem_int,
         sum(vcpus_running_avg::numeric * coverage_ms) AS vr_int, sum(vm_mem_kib_avg::numeric * coverage_ms) AS vm_int
    FROM host_usage_minute m WHERE $WIN GROUP BY 1),
v AS (SELECT host_id, count(DISTINCT vm_id) AS vms, sum(cpu_ns) AS cpu, sum(vcpu_delay_ns) AS delay,
             sum(vcpus_avg::numeric * coverage_ms) AS vcpu_ms
        FROM vm_usage_minute m WHERE $WIN GROUP BY 1),
top AS (SELECT DISTINCT ON (host_id) host_id, vm_id FROM vm_usage_minute m WHERE $WIN
         GROUP BY host_id, vm_id ORDER BY host_id, sum(cpu_ns) DESC),
e AS (SELECT v.host_id, coalesce(h.obs, 0) AS obs, coalesce(floor(h.obs * 10000 / 3600000), 0) AS coverage_bp, round(h.cpus_int / h.cpus_ms) AS cpus,
             floor(h.mem_int / h.cpus_ms) AS mem, floor(h.busy * 10000 / h.cap) AS busy_bp,
             floor(v.cpu * 10000 / h.cap) AS demand_bp, floor(h.vr_int * 10000 / h.cpus_int) AS vcpu_ratio_bp,
             floor(h.vm_int * 10000 / h.mem_int) AS mem_ratio_bp, v.vms,
             floor(v.delay * 10000 / (v.vcpu_ms * 1000000)) AS delay_bp, top.vm_id AS top
        FROM v LEFT JOIN h USING (host_id) JOIN top USING (host_id))
SELECT coalesce(e.host_id, f.host_id) FROM e FULL JOIN agg_host_figures f USING (host_id)
 WHERE (e.obs, e.coverage_bp, e.cpus, e.mem, e.busy_bp, e.demand_bp, e.vcpu_ratio_bp, e.mem_ratio_bp, e.vms,
        e.delay_bp, e.top)
       IS DISTINCT FROM
       (f.observed_ms, f.coverage_bp, f.cpus, f.mem_total_kib, f.busy_bp, f.demand_bp, f.vcpu_ratio_bp,
        f.mem_ratio_bp, f.vms, f.delay_bp, (f.top_vms -> 0 ->> 'vm_id')::int)") || diff_host="the query failed"
is "$diff_host" "" "every host figure equals the one computed from the raw minutes (hosts differing: '$diff_host')"
is "$(q "SELECT vcpu_ratio_bp || ' ' || mem_ratio_bp || ' ' || (top_vms -> 0 ->> 'name') FROM agg_host_figures WHERE host_id = 2")" \
	"20000 5000 vm-noisy" "hv-2: 16 vCPUs on 8 CPUs (2:1), half its memory allocated, vm-noisy dominates"

# --- the classes, each VM built for one (or just outside it)
cls() { q "SELECT i.name || '=' || c.class FROM agg_vm_class c JOIN spec i USING (vm_id)
            WHERE c.dimension = '$1' ORDER BY c.vm_id" | tr '\n' ' '; }
is "$(cls size)" "vm-idle=idle vm-busy5=oversized vm-lost=unknown vm-partial=unknown vm-over=oversized vm-right=right-sized vm-under=undersized vm-busy90=right-sized vm-starved=oversized vm-delay5=right-sized vm-noisy=undersized vm-off=powered-off vm-moved=oversized " \
	"size: idle below 5 % (and not at 5 %), unknown with lost or half-covered minutes, oversized below 40 % (not at 40 %), undersized above 90 % (not at 90 %), powered-off after 2 days (not after 1.5)"
is "$(cls contention)" "vm-idle=ok vm-busy5=ok vm-lost=ok vm-partial=unknown vm-over=ok vm-right=ok vm-under=ok vm-busy90=ok vm-starved=starved vm-delay5=ok vm-noisy=ok vm-moved=ok " \
	"contention: starved above 5 % delay (not at 5 %); unknown where half the hour is unobserved"
is "$(cls neighbour)" "vm-idle=ok vm-busy5=ok vm-lost=ok vm-partial=unknown vm-over=ok vm-right=ok vm-under=ok vm-busy90=ok vm-starved=ok vm-delay5=ok vm-noisy=noisy vm-moved=unknown " \
	"neighbour: on contended hv-2 the VM with over 25 % of its CPU is noisy, the others (under 25 %) are not; vm-moved spent a third of the hour elsewhere: unknown"

# The sizing evidence, computed again: p95 (nearest rank) of the hourly
# CPU share from the raw minutes, and the recommendation from it.
diff_p95=$(q "
WITH hr AS (SELECT vm_id, date_trunc('hour', minute) AS h,
                   floor(sum(cpu_ns) * 10000 / sum(vcpus_avg::numeric * coverage_ms * 1000000)) AS bp
              FROM vm_usage_minute WHERE minute >= '2026-10-07 18:00+00' AND minute < '2026-10-08 00:00+00'
             GROUP BY 1, 2),
p AS (SELECT vm_id, percentile_disc(0.95) WITHIN GROUP (ORDER BY bp) AS p95 FROM hr GROUP BY 1)
SELECT c.vm_id FROM agg_vm_class c JOIN p USING (vm_id) JOIN spec s USING (vm_id)
 WHERE c.dimension = 'size' AND c.class IN ('oversized', 'undersized', 'right-sized')
   AND ((c.evidence ->> 'p_cpu_bp')::numeric IS DISTINCT FROM p.p95
        OR (c.evidence ->> 'recommended_vcpus')::numeric IS DISTINCT FROM greatest(1, ceil(p.p95 * s.vcpus / 7000))
        OR (c.evidence -> 'window' ->> 'coverage_bp')::int <> 10000)") || diff_p95="the query failed"
is "$diff_p95" "" "p95 of the hourly CPU and the recommended vCPUs (p95 demand / 70 %, rounded up) agree"
is "$(q "SELECT (evidence ->> 'recommended_vcpus') || ' ' || (evidence ->> 'p_used_kib') || ' ' ||
              (evidence ->> 'recommended_mem_kib') || ' ' || (evidence ->> 'reason')
         FROM agg_vm_class WHERE vm_id = 5 AND dimension = 'size'")" \
	"2 1048576 1572864 CPU and memory below the oversized threshold" \
	"vm-over: 35 % of 4 vCPUs -> 2; 1 GiB used of 4 -> 1.43 GiB rounded up to 1.5 GiB"
is "$(q "SELECT (evidence -> 'window' ->> 'coverage_bp') || ' ' || (evidence -> 'window' ->> 'unknown_ms')
         FROM agg_vm_class WHERE vm_id = 3 AND dimension = 'size'")" "6666 7200000" \
	"vm-lost: 2 of 6 hours recorded lost are unknown, not idle: 66.66 % observed"
is "$(q "SELECT (evidence ->> 'off_since') FROM agg_vm_class WHERE vm_id = 12 AND dimension = 'size'")" \
	"$(date -u -d '2026-10-03 00:00' +%s)" "vm-off: off since its stop"

# --- the command
out=$(agg analysis --class idle 2>&1)
case $out in "vm-idle size idle since 2026-10-08 00:05:00Z host hv-1 window 2026-10-07 18:00Z..2026-10-08 00:00Z evidence "*) r=0 ;; *) r=1 ;; esac
ok $((r + $(echo "$out" | wc -l) - 1)) "analysis --class idle lists vm-idle alone ($out)"
is "$(agg analysis --host hv-2 --class noisy | cut -d' ' -f1-3)" "vm-noisy neighbour noisy" "analysis --host hv-2 --class noisy"

is "$(agg analysis --vm vm-over | cut -d' ' -f1-3 | tr '\n' ' ')" "vm-over size oversized vm-over contention ok vm-over neighbour ok " \
	"analysis --vm: its three dimensions"

is "$(agg figures --vm vm-over)" \
	"vm vm-over host hv-2: cpu 35.00% of 4 vCPUs, 17.50% of the host; delay 0.00%; memory used 1048576 KiB (25.00%), rss 2097152 KiB (50.00% of 4194304 KiB, 6.25% of the host), balloon unknown; disk 10000 + 10000 B/s, net 2500 + 2500 B/s; observed 100.00%, unknown 0 ms" \
	"figures --vm: the VM's figures as shares"
is "$(agg figures --host hv-2 | head -1)" \
	"host hv-2 window 2026-10-07 23:00Z..2026-10-08 00:00Z: 4 VMs; cpus 8, busy 70.00%, VM demand 97.50%; vCPU:CPU 2.00:1, memory 0.50:1 of 33554432 KiB; delay 10.00%; observed 100.00%; top vm-noisy 51.28%, vm-right 20.51%, vm-over 17.94%" \
	"figures --host: demand, overcommit, contention and the dominant VMs"

# --- the command line's errors
out=$(agg run --now tomorrow 2>&1)
is "$?:$out" "2:vmeter-aggregator: run: --now takes 'YYYY-MM-DD HH:MM[:SS]' in UTC (got 'tomorrow')" "a bad --now"
out=$(agg run extra 2>&1; echo "rc=$?")
out2=$(agg analysis --bogus 2>&1; echo "rc=$?")
out3=$(agg frobnicate >"$T/cmd.out" 2>&1; echo "rc=$?")
out3="$(head -1 "$T/cmd.out")$out3"
case "$out|$out2|$out3" in *"unexpected argument 'extra'"*"rc=2|"*"rc=2|vmeter-aggregator: unknown command 'frobnicate'rc=2") r=0 ;; *) r=1 ;; esac
ok $r "an extra argument, an unknown option and an unknown command are usage errors (exit 2)"
CONF_CONNINFO="host=$T/nowhere dbname=vmeter user=vmeter" write_conf "$T/away.conf" "$SECTION"
out=$("$AGG" -c "$T/away.conf" run --now "2026-10-08 00:05" 2>&1)
rc=$?
case $out in "vmeter-aggregator: "*"$T/nowhere"*) r=0 ;; *) r=1 ;; esac
ok $((r + (rc != 1))) "no database: libpq's message, exit 1 ($rc: $out)"

# --- a second cycle an hour later: vm-idle works (50 %), the others as
# before.  vm-idle's change is history; vm-over keeps its `since`.
q "SELECT gen(7, 7)" >/dev/null
adm maintain --now "2026-10-08 01:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
agg run --now "2026-10-08 01:05" >/dev/null 2>&1 || bail "the second cycle failed"
is "$(q "SELECT coalesce(from_class, '') || '>' || to_class || ' ' || to_char(at, 'HH24:MI') FROM agg_vm_class_change
          WHERE vm_id = 1 AND dimension = 'size' ORDER BY at" | tr '\n' ' ')" ">idle 00:05 idle>right-sized 01:05 " \
	"vm-idle: first judged idle, then right-sized, each change a history row"
is "$(q "SELECT class || ' ' || to_char(since, 'HH24:MI') || ' ' || to_char(judged_at, 'HH24:MI')
         FROM agg_vm_class WHERE vm_id = 5 AND dimension = 'size'")" "oversized 00:05 01:05" \
	"vm-over: still oversized since the first cycle, judged again"

# --- a cycle that fails half-way stores nothing of itself
q "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'refused by the test'; END \$\$;
   CREATE TRIGGER refuse BEFORE INSERT ON agg_vm_class_change FOR EACH ROW EXECUTE FUNCTION refuse()" >/dev/null
q "UPDATE vm_usage_minute SET cpu_ns = 0 WHERE vm_id = 11 AND minute >= '2026-10-08 00:00+00'" >/dev/null
adm maintain --now "2026-10-08 02:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
before=$(q "SELECT count(*) || ' ' || max(window_to) FROM agg_vm_figures")
out=$(agg run --now "2026-10-08 02:05" 2>&1)
rc=$?
after=$(q "SELECT count(*) || ' ' || max(window_to) FROM agg_vm_figures")
cyc=$(q "SELECT count(*) FROM agg_cycle WHERE cycle_at = '2026-10-08 02:05+00'")
case $out in "vmeter-aggregator: run: storing the classes: "*"refused by the test"*) r=0 ;; *) r=1 ;; esac
[ $r = 0 ] && [ $rc = 1 ] && [ "$before" = "$after" ] && [ "$cyc" = 0 ]
ok $? "a refused write: exit $rc, the database's message, and the cycle's figures rolled back with it ($out)"
q "DROP TRIGGER refuse ON agg_vm_class_change" >/dev/null

psql_q postgres "CREATE DATABASE unmigrated" >/dev/null
CONF_CONNINFO="host=$T dbname=unmigrated user=vmeter" write_conf "$T/old.conf" "$SECTION"
out=$("$AGG" -c "$T/old.conf" run 2>&1)
is "$?:$out" "1:vmeter-aggregator: database schema is version 0, this vmeter needs $SCHEMA_LATEST: run 'vmeter-admin migrate'" \
	"a database without the schema: the fix named"

# --- the daemon
python3 - "$T/notify" "$T/notes" <<'EOP' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode() + "\n")
EOP
listener=$!
on_cleanup "kill $listener 2>/dev/null"
wait_for 10 test -S "$T/notify" || bail "no notify socket"
cp "$T/agg.conf" "$T/daemon.conf"
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=2000000 "$AGG" -c "$T/daemon.conf" -v >"$T/daemon.log" 2>&1 &
daemon=$!
on_cleanup "kill $daemon 2>/dev/null"
cycles() { q "SELECT count(*) FROM agg_cycle WHERE cycle_at > '2026-11-01'"; }
cycled() { [ "$(cycles)" -ge "${1:-1}" ]; }
wait_for 60 grep -q "READY=1" "$T/notes" && wait_for 60 cycled
ok $? "READY=1, and a cycle of the daemon's own time is recorded"
wait_for 60 grep -q "WATCHDOG=1" "$T/notes"
ok $? "WATCHDOG=1 while it waits (WATCHDOG_USEC=2 s)"

out=$(agg run --now "2026-10-08 01:05" 2>&1)
is "$?:$out" "75:vmeter-aggregator: run: another aggregator holds the analysis lock; nothing done" \
	"a second aggregator does not work while the daemon holds the lock"

stop_postgres fast
wait_for 60 grep -q "analysis failed, trying again every 10 s" "$T/daemon.log"
ok $? "PostgreSQL away: logged"
restart_postgres || bail "PostgreSQL did not start again"
before=$(cycles)
wait_for 60 grep -q "analysis works again" "$T/daemon.log" && wait_for 60 cycled $((before + 1))
r=$?
[ $r = 0 ] && [ "$(grep -c 'analysis failed' "$T/daemon.log")" = 1 ]
ok $? "logged once, then cycles go on ($(grep -c 'analysis failed' "$T/daemon.log") line)"

sed -i 's/^  lag = 300$/  lag = 300\n  idle-cpu = "lots"/' "$T/daemon.conf"
kill -HUP $daemon
wait_for 60 grep -q "reload: .*daemon.conf:.*aggregator.idle-cpu.*the configuration in force stays" "$T/daemon.log"
ok $? "SIGHUP with a broken file: the error logged with FILE:LINE, the old configuration kept"
sed -i 's/^  idle-cpu = "lots"$/  idle-cpu = "4%"/; s/^  interval = 10$/  interval = 20/' "$T/daemon.conf"
kill -HUP $daemon
wait_for 60 grep -q "reload: configuration read again, analysing every 20 s" "$T/daemon.log"
ok $? "SIGHUP with a good file: taken"

# A stop while the database holds the cycle up (a lock on what it
# writes): the cycle is abandoned at once, not when the lock goes.
psql -X -q "$PG_CONNINFO" -c "BEGIN; LOCK TABLE agg_vm_figures; SELECT pg_sleep(600)" >/dev/null 2>&1 &
holder=$!
on_cleanup "kill $holder 2>/dev/null"
blocked() { [ "$(q "SELECT count(*) FROM pg_locks WHERE relation = 'agg_vm_figures'::regclass AND NOT granted")" -ge 1 ]; }
wait_for 90 blocked || bail "the daemon's cycle did not wait for the lock"
kill -TERM $daemon
gone() { ! kill -0 $daemon 2>/dev/null; }
wait_for 30 gone
ok $? "SIGTERM ends a cycle the database holds up"
wait $daemon
rc=$?
kill $holder 2>/dev/null
grep -q "STOPPING=1" "$T/notes" && grep -q "abandoned: stopping" "$T/daemon.log" && grep -q "notice\]: stopping" "$T/daemon.log"
ok $((rc + $?)) "SIGTERM stops it cleanly: exit $rc, STOPPING=1$(tail -3 "$T/daemon.log" | sed 's/^/\n# /')"
