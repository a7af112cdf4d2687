-- vmeter schema 15: the graph functions of schema 14 read minutes only for
-- the hours that need them.
--
-- Schema 14 summed the minutes of every hour of the range that had no
-- hourly row, which meant reading every minute of the range to find out:
-- 43,200 rows for a VM's 30 days, about a second per graph (bench/web.sh).
-- An hour is now taken from the rollups when it is closed and clean, the
-- rule vm_resolution_plan() gives readers that must be exact, and from its
-- minutes otherwise: the hours since rollup_state.closed_upto (one or two)
-- and those marked in rollup_dirty (a late sample since their rollup).
-- The minutes are read one raw hour at a time, through the tables'
-- primary keys, so each read prunes to its day's partition.

-- The hours of [p_from, p_to) (whole UTC hours, the first one holding
-- p_from) whose rollups a reader may not use.
CREATE FUNCTION web_raw_hours(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (hour timestamptz)
LANGUAGE sql STABLE AS $$
SELECT h FROM generate_series(greatest(date_trunc('hour', p_from, 'UTC'),
                                       date_trunc('hour', (SELECT closed_upto FROM rollup_state), 'UTC')),
                              p_to, interval '1 hour') h
 WHERE h < p_to
UNION
SELECT d.hour FROM rollup_dirty d WHERE d.hour >= date_trunc('hour', p_from, 'UTC') AND d.hour < p_to
$$;

CREATE OR REPLACE FUNCTION web_vm_hours(p_vm_id int, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (hour timestamptz, coverage_ms numeric, cpu_ns numeric, vcpu_delay_ns numeric,
               vcpus_int numeric, vcpus_max bigint,
               disk_rd_bytes numeric, disk_wr_bytes numeric, disk_rd_reqs numeric, disk_wr_reqs numeric,
               net_rx_bytes numeric, net_tx_bytes numeric,
               mem_int numeric, mem_ms numeric, mem_max bigint, rss_int numeric, rss_ms numeric, rss_max bigint,
               used_int numeric, used_ms numeric)
LANGUAGE sql STABLE AS $$
WITH raw AS MATERIALIZED (SELECT r.hour FROM web_raw_hours(p_from, p_to) r),
hr AS (
    SELECT u.hour, sum(u.coverage_ms) AS coverage_ms, sum(u.cpu_ns) AS cpu_ns,
           sum(u.vcpu_delay_ns) AS vcpu_delay_ns, sum(u.vcpus_int) AS vcpus_int, max(u.vcpus_max) AS vcpus_max,
           sum(u.disk_rd_bytes) AS disk_rd_bytes, sum(u.disk_wr_bytes) AS disk_wr_bytes,
           sum(u.disk_rd_reqs) AS disk_rd_reqs, sum(u.disk_wr_reqs) AS disk_wr_reqs,
           sum(u.net_rx_bytes) AS net_rx_bytes, sum(u.net_tx_bytes) AS net_tx_bytes,
           sum(u.mem_max_kib_int) AS mem_int, sum(u.mem_max_kib_ms) AS mem_ms, max(u.mem_max_kib_max) AS mem_max,
           sum(u.rss_kib_int) AS rss_int, sum(u.rss_kib_ms) AS rss_ms, max(u.rss_kib_max) AS rss_max,
           sum(u.available_kib_int - u.usable_kib_int) FILTER (WHERE u.usable_kib_ms = u.available_kib_ms)
               AS used_int,
           sum(u.available_kib_ms) FILTER (WHERE u.usable_kib_ms = u.available_kib_ms) AS used_ms
      FROM vm_usage_hour u
     WHERE u.vm_id = p_vm_id AND u.hour >= date_trunc('hour', p_from, 'UTC') AND u.hour < p_to
       AND u.hour NOT IN (SELECT raw.hour FROM raw)
     GROUP BY u.hour
),
mi AS (
    SELECT raw.hour, x.*
      FROM raw CROSS JOIN LATERAL (
        SELECT sum(m.coverage_ms) AS cov, sum(m.cpu_ns), sum(m.vcpu_delay_ns),
               sum(m.vcpus_avg::numeric * m.coverage_ms), max(m.vcpus_max),
               sum(m.disk_rd_bytes), sum(m.disk_wr_bytes), sum(m.disk_rd_reqs), sum(m.disk_wr_reqs),
               sum(m.net_rx_bytes), sum(m.net_tx_bytes),
               sum(m.mem_max_kib_avg::numeric * m.coverage_ms),
               sum(m.coverage_ms) FILTER (WHERE m.mem_max_kib_avg IS NOT NULL), max(m.mem_max_kib_max),
               sum(m.rss_kib_avg::numeric * m.coverage_ms),
               sum(m.coverage_ms) FILTER (WHERE m.rss_kib_avg IS NOT NULL), max(m.rss_kib_max),
               sum((m.available_kib_avg - m.usable_kib_avg)::numeric * m.coverage_ms),
               sum(m.coverage_ms) FILTER (WHERE m.available_kib_avg IS NOT NULL AND m.usable_kib_avg IS NOT NULL)
          FROM vm_usage_minute m
         WHERE m.vm_id = p_vm_id AND m.minute >= raw.hour AND m.minute < raw.hour + interval '1 hour'
           AND m.minute < p_to) x
     WHERE x.cov IS NOT NULL
)
SELECT * FROM hr UNION ALL SELECT * FROM mi
$$;

CREATE OR REPLACE FUNCTION web_vm_traffic_series(p_vm_id int, p_from timestamptz, p_to timestamptz, p_step int)
RETURNS TABLE (t bigint, class text, rx_bps float8, tx_bps float8)
LANGUAGE sql STABLE AS $$
WITH raw AS MATERIALIZED (SELECT r.hour FROM web_raw_hours(p_from, p_to) r),
hr AS (
    SELECT u.hour, u.class, sum(u.rx_bytes) AS rx, sum(u.tx_bytes) AS tx
      FROM vm_traffic_hour u
     WHERE u.vm_id = p_vm_id AND u.hour >= date_trunc('hour', p_from, 'UTC') AND u.hour < p_to
       AND u.hour NOT IN (SELECT raw.hour FROM raw)
     GROUP BY 1, 2
),
mi AS (
    SELECT raw.hour, x.class, x.rx, x.tx
      FROM raw CROSS JOIN LATERAL (
        SELECT m.class, sum(m.rx_bytes) AS rx, sum(m.tx_bytes) AS tx
          FROM vm_traffic_minute m
         WHERE m.vm_id = p_vm_id AND m.minute >= raw.hour AND m.minute < raw.hour + interval '1 hour'
           AND m.minute < p_to
         GROUP BY m.class) x
),
h AS (SELECT * FROM hr UNION ALL SELECT * FROM mi)
SELECT (floor(extract(epoch FROM h.hour) / p_step) * p_step)::bigint, h.class,
       (sum(h.rx) / p_step)::float8, (sum(h.tx) / p_step)::float8
  FROM h GROUP BY 1, 2 ORDER BY 2, 1
$$;

-- The traffic classes a VM had in [p_from, p_to): the rollups' where the
-- hour is clean, the minutes' since.  (vmeter-web reads one RRD file per
-- class.)
CREATE FUNCTION web_vm_traffic_classes(p_vm_id int, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (class text)
LANGUAGE sql STABLE AS $$
WITH raw AS MATERIALIZED (SELECT r.hour FROM web_raw_hours(p_from, p_to) r)
SELECT u.class FROM vm_traffic_hour u
 WHERE u.vm_id = p_vm_id AND u.hour >= date_trunc('hour', p_from, 'UTC') AND u.hour < p_to
   AND u.hour NOT IN (SELECT raw.hour FROM raw)
UNION
SELECT x.class
  FROM raw CROSS JOIN LATERAL (
    SELECT DISTINCT m.class FROM vm_traffic_minute m
     WHERE m.vm_id = p_vm_id AND m.minute >= raw.hour AND m.minute < raw.hour + interval '1 hour'
       AND m.minute < p_to) x
$$;

CREATE OR REPLACE FUNCTION web_host_series(p_host_id int, p_from timestamptz, p_to timestamptz, p_step int,
                                           p_max bool)
RETURNS TABLE (t bigint, cpu_busy_pct float8, cpu_user_pct float8, cpu_system_pct float8, cpu_iowait_pct float8,
               mem_total_kib float8, mem_used_kib float8, mem_vm_kib float8, vms_running float8,
               vcpus_running float8)
LANGUAGE sql STABLE AS $$
WITH raw AS MATERIALIZED (SELECT r.hour FROM web_raw_hours(p_from, p_to) r),
hr AS (
    SELECT u.hour, u.cpu_capacity_ns::numeric AS cap, u.cpu_busy_ns::numeric AS busy, u.cpu_user_ns::numeric AS usr,
           u.cpu_system_ns::numeric AS sys, u.cpu_iowait_ns::numeric AS iow,
           u.mem_total_kib_int AS tot_int, u.mem_total_kib_ms::numeric AS tot_ms, u.mem_total_kib_max AS tot_max,
           u.mem_free_kib_int + u.mem_cached_kib_int AS free_int, u.vm_mem_kib_int AS vmm_int,
           u.vm_mem_kib_ms::numeric AS vmm_ms, u.vm_mem_kib_max AS vmm_max, u.vms_running_int AS vms_int,
           u.vms_running_ms::numeric AS vms_ms, u.vms_running_max AS vms_max, u.vcpus_running_int AS vc_int,
           u.vcpus_running_ms::numeric AS vc_ms, u.vcpus_running_max AS vc_max
      FROM host_usage_hour u
     WHERE u.host_id = p_host_id AND u.hour >= date_trunc('hour', p_from, 'UTC') AND u.hour < p_to
       AND u.hour NOT IN (SELECT raw.hour FROM raw)
),
mi AS (
    SELECT raw.hour, x.*
      FROM raw CROSS JOIN LATERAL (
        SELECT sum(m.cpu_capacity_ns) AS cap, sum(m.cpu_busy_ns) AS busy, sum(m.cpu_user_ns) AS usr,
               sum(m.cpu_system_ns) AS sys, sum(m.cpu_iowait_ns) AS iow,
               sum(m.mem_total_kib_avg::numeric * m.coverage_ms) AS tot_int,
               sum(m.coverage_ms) FILTER (WHERE m.mem_total_kib_avg IS NOT NULL) AS tot_ms,
               max(m.mem_total_kib_max) AS tot_max,
               sum((m.mem_free_kib_avg + m.mem_cached_kib_avg)::numeric * m.coverage_ms) AS free_int,
               sum(m.vm_mem_kib_avg::numeric * m.coverage_ms) AS vmm_int,
               sum(m.coverage_ms) FILTER (WHERE m.vm_mem_kib_avg IS NOT NULL) AS vmm_ms,
               max(m.vm_mem_kib_max) AS vmm_max,
               sum(m.vms_running_avg::numeric * m.coverage_ms) AS vms_int,
               sum(m.coverage_ms) FILTER (WHERE m.vms_running_avg IS NOT NULL) AS vms_ms,
               max(m.vms_running_max) AS vms_max,
               sum(m.vcpus_running_avg::numeric * m.coverage_ms) AS vc_int,
               sum(m.coverage_ms) FILTER (WHERE m.vcpus_running_avg IS NOT NULL) AS vc_ms,
               max(m.vcpus_running_max) AS vc_max, count(*) AS n
          FROM host_usage_minute m
         WHERE m.host_id = p_host_id AND m.minute >= raw.hour AND m.minute < raw.hour + interval '1 hour'
           AND m.minute < p_to) x
     WHERE x.n > 0
),
b AS (
    SELECT (floor(extract(epoch FROM h.hour) / p_step) * p_step)::bigint AS t, sum(h.cap) AS cap,
           sum(h.busy) AS busy, sum(h.usr) AS usr, sum(h.sys) AS sys, sum(h.iow) AS iow,
           sum(h.tot_int) AS tot_int, sum(h.tot_ms) AS tot_ms, max(h.tot_max) AS tot_max, sum(h.free_int) AS free_int,
           sum(h.vmm_int) AS vmm_int, sum(h.vmm_ms) AS vmm_ms, max(h.vmm_max) AS vmm_max,
           sum(h.vms_int) AS vms_int, sum(h.vms_ms) AS vms_ms, max(h.vms_max) AS vms_max,
           sum(h.vc_int) AS vc_int, sum(h.vc_ms) AS vc_ms, max(h.vc_max) AS vc_max
      FROM (SELECT * FROM hr
            UNION ALL
            SELECT mi.hour, mi.cap, mi.busy, mi.usr, mi.sys, mi.iow, mi.tot_int, mi.tot_ms, mi.tot_max,
                   mi.free_int, mi.vmm_int, mi.vmm_ms, mi.vmm_max, mi.vms_int, mi.vms_ms, mi.vms_max, mi.vc_int,
                   mi.vc_ms, mi.vc_max
              FROM mi) h
     GROUP BY 1
),
steps AS (
    SELECT s AS t FROM generate_series((floor(extract(epoch FROM p_from) / p_step) * p_step)::bigint,
                                       (ceil(extract(epoch FROM p_to) / p_step) * p_step)::bigint - p_step,
                                       p_step) s
)
SELECT s.t, (b.busy * 100 / nullif(b.cap, 0))::float8, (b.usr * 100 / nullif(b.cap, 0))::float8,
       (b.sys * 100 / nullif(b.cap, 0))::float8, (b.iow * 100 / nullif(b.cap, 0))::float8,
       (CASE WHEN p_max THEN b.tot_max ELSE b.tot_int / nullif(b.tot_ms, 0) END)::float8,
       ((b.tot_int - b.free_int) / nullif(b.tot_ms, 0))::float8,
       (CASE WHEN p_max THEN b.vmm_max ELSE b.vmm_int / nullif(b.vmm_ms, 0) END)::float8,
       (CASE WHEN p_max THEN b.vms_max ELSE b.vms_int / nullif(b.vms_ms, 0) END)::float8,
       (CASE WHEN p_max THEN b.vc_max ELSE b.vc_int / nullif(b.vc_ms, 0) END)::float8
  FROM steps s LEFT JOIN b ON b.t = s.t ORDER BY s.t
$$;
