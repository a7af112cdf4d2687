-- vmeter schema 14: the web UI's graph data from the rollups
-- (docs/WEB.md, "Graph data").
--
-- vmeter-web draws recent detail from the RRD files and long ranges from
-- these: hourly rows where the hour is rolled up, its minutes summed
-- where it is not yet, then per step (an hour or a day).  Read only;
-- double precision is for graphs, never for money.

-- A VM's usage per UTC hour within [p_from, p_to): vm_usage_hour where
-- the hour has rows, else its minutes (an hour not rolled up yet).
CREATE FUNCTION web_vm_hours(p_vm_id int, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (hour timestamptz, coverage_ms numeric, cpu_ns numeric, vcpu_delay_ns numeric,
               vcpus_int numeric, vcpus_max bigint,
               disk_rd_bytes numeric, disk_wr_bytes numeric, disk_rd_reqs numeric, disk_wr_reqs numeric,
               net_rx_bytes numeric, net_tx_bytes numeric,
               mem_int numeric, mem_ms numeric, mem_max bigint, rss_int numeric, rss_ms numeric, rss_max bigint,
               used_int numeric, used_ms numeric)
LANGUAGE sql STABLE AS $$
WITH hr AS (
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
     GROUP BY u.hour
),
mi AS (
    SELECT date_trunc('hour', m.minute, 'UTC') AS hour, sum(m.coverage_ms), sum(m.cpu_ns), sum(m.vcpu_delay_ns),
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
     WHERE m.vm_id = p_vm_id AND m.minute >= date_trunc('hour', p_from, 'UTC') AND m.minute < p_to
       AND date_trunc('hour', m.minute, 'UTC') NOT IN (SELECT hr.hour FROM hr)
     GROUP BY 1
)
SELECT * FROM hr UNION ALL SELECT * FROM mi
$$;

-- A VM's graph series at p_step seconds (3600 or 86400) over [p_from,
-- p_to): one row per step, NULLs where nothing was recorded.  p_max takes
-- the gauges' maxima (the rollups keep sums of counters only: their rates
-- stay averages over the step).  Percentages of the allocation and of the
-- host (p_host_cpus, p_host_mem_kib: the host's as of now).
CREATE FUNCTION web_vm_series(p_vm_id int, p_from timestamptz, p_to timestamptz, p_step int, p_max bool,
                              p_host_cpus int, p_host_mem_kib bigint)
RETURNS TABLE (t bigint, cpu_alloc_pct float8, cpu_host_pct float8, cpu_delay_pct float8, mem_alloc_kib float8,
               mem_used_kib float8, mem_rss_kib float8, mem_host_pct float8, disk_rd_bps float8,
               disk_wr_bps float8, disk_rd_iops float8, disk_wr_iops float8, net_rx_bps float8,
               net_tx_bps float8)
LANGUAGE sql STABLE AS $$
WITH b AS (
    SELECT (floor(extract(epoch FROM h.hour) / p_step) * p_step)::bigint AS t,
           sum(h.coverage_ms) AS cov, sum(h.cpu_ns) AS cpu, sum(h.vcpu_delay_ns) AS delay,
           sum(h.vcpus_int) AS vcpus_int, sum(h.disk_rd_bytes) AS rd, sum(h.disk_wr_bytes) AS wr,
           sum(h.disk_rd_reqs) AS rdq, sum(h.disk_wr_reqs) AS wrq, sum(h.net_rx_bytes) AS rx,
           sum(h.net_tx_bytes) AS tx, sum(h.mem_int) AS mem_int, sum(h.mem_ms) AS mem_ms,
           max(h.mem_max) AS mem_max, sum(h.rss_int) AS rss_int, sum(h.rss_ms) AS rss_ms, max(h.rss_max) AS rss_max,
           sum(h.used_int) AS used_int, sum(h.used_ms) AS used_ms
      FROM web_vm_hours(p_vm_id, p_from, p_to) h
     GROUP BY 1
),
steps AS (
    SELECT s AS t FROM generate_series((floor(extract(epoch FROM p_from) / p_step) * p_step)::bigint,
                                       (ceil(extract(epoch FROM p_to) / p_step) * p_step)::bigint - p_step,
                                       p_step) s
),
v AS (
    SELECT s.t, b.cov, b.cpu, b.delay, b.vcpus_int, b.rd, b.wr, b.rdq, b.wrq, b.rx, b.tx,
           CASE WHEN p_max THEN b.mem_max ELSE b.mem_int / nullif(b.mem_ms, 0) END AS mem,
           CASE WHEN p_max THEN b.rss_max ELSE b.rss_int / nullif(b.rss_ms, 0) END AS rss,
           b.used_int / nullif(b.used_ms, 0) AS used
      FROM steps s LEFT JOIN b ON b.t = s.t
)
SELECT v.t,
       (v.cpu * 100 / nullif(v.vcpus_int * 1e6, 0))::float8,
       (v.cpu * 100 / nullif(p_host_cpus * v.cov * 1e6, 0))::float8,
       (v.delay * 100 / nullif(v.vcpus_int * 1e6, 0))::float8,
       v.mem::float8, v.used::float8, v.rss::float8,
       (v.rss * 100 / nullif(p_host_mem_kib, 0))::float8,
       (v.rd * 1000 / nullif(v.cov, 0))::float8, (v.wr * 1000 / nullif(v.cov, 0))::float8,
       (v.rdq * 1000 / nullif(v.cov, 0))::float8, (v.wrq * 1000 / nullif(v.cov, 0))::float8,
       (v.rx * 1000 / nullif(v.cov, 0))::float8, (v.tx * 1000 / nullif(v.cov, 0))::float8
  FROM v ORDER BY v.t
$$;

-- A VM's traffic by class per step: bytes per second of the step (the
-- classified traffic has no coverage of its own).
CREATE FUNCTION web_vm_traffic_series(p_vm_id int, p_from timestamptz, p_to timestamptz, p_step int)
RETURNS TABLE (t bigint, class text, rx_bps float8, tx_bps float8)
LANGUAGE sql STABLE AS $$
WITH hr AS (
    SELECT u.hour, u.class, sum(u.rx_bytes) AS rx, sum(u.tx_bytes) AS tx
      FROM vm_traffic_hour u
     WHERE u.vm_id = p_vm_id AND u.hour >= date_trunc('hour', p_from, 'UTC') AND u.hour < p_to
     GROUP BY 1, 2
),
mi AS (
    SELECT date_trunc('hour', m.minute, 'UTC') AS hour, m.class, sum(m.rx_bytes), sum(m.tx_bytes)
      FROM vm_traffic_minute m
     WHERE m.vm_id = p_vm_id AND m.minute >= date_trunc('hour', p_from, 'UTC') AND m.minute < p_to
       AND date_trunc('hour', m.minute, 'UTC') NOT IN (SELECT DISTINCT hr.hour FROM hr)
     GROUP BY 1, 2
),
h AS (SELECT * FROM hr UNION ALL SELECT * FROM mi)
SELECT (floor(extract(epoch FROM h.hour) / p_step) * p_step)::bigint, h.class,
       (sum(h.rx) / p_step)::float8, (sum(h.tx) / p_step)::float8
  FROM h GROUP BY 1, 2 ORDER BY 2, 1
$$;

-- A host's graph series, like web_vm_series().
CREATE FUNCTION web_host_series(p_host_id int, p_from timestamptz, p_to timestamptz, p_step int, p_max bool)
RETURNS TABLE (t bigint, cpu_busy_pct float8, cpu_user_pct float8, cpu_system_pct float8, cpu_iowait_pct float8,
               mem_total_kib float8, mem_used_kib float8, mem_vm_kib float8, vms_running float8,
               vcpus_running float8)
LANGUAGE sql STABLE AS $$
WITH hr AS (
    SELECT u.hour, u.cpu_capacity_ns::numeric AS cap, u.cpu_busy_ns::numeric AS busy, u.cpu_user_ns::numeric AS usr,
           u.cpu_system_ns::numeric AS sys, u.cpu_iowait_ns::numeric AS iow,
           u.mem_total_kib_int AS tot_int, u.mem_total_kib_ms::numeric AS tot_ms, u.mem_total_kib_max AS tot_max,
           u.mem_free_kib_int + u.mem_cached_kib_int AS free_int, u.vm_mem_kib_int AS vmm_int,
           u.vm_mem_kib_ms::numeric AS vmm_ms, u.vm_mem_kib_max AS vmm_max, u.vms_running_int AS vms_int,
           u.vms_running_ms::numeric AS vms_ms, u.vms_running_max AS vms_max, u.vcpus_running_int AS vc_int,
           u.vcpus_running_ms::numeric AS vc_ms, u.vcpus_running_max AS vc_max
      FROM host_usage_hour u
     WHERE u.host_id = p_host_id AND u.hour >= date_trunc('hour', p_from, 'UTC') AND u.hour < p_to
),
mi AS (
    SELECT date_trunc('hour', m.minute, 'UTC'), sum(m.cpu_capacity_ns), sum(m.cpu_busy_ns), sum(m.cpu_user_ns),
           sum(m.cpu_system_ns), sum(m.cpu_iowait_ns),
           sum(m.mem_total_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.mem_total_kib_avg IS NOT NULL), max(m.mem_total_kib_max),
           sum((m.mem_free_kib_avg + m.mem_cached_kib_avg)::numeric * m.coverage_ms),
           sum(m.vm_mem_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.vm_mem_kib_avg IS NOT NULL), max(m.vm_mem_kib_max),
           sum(m.vms_running_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.vms_running_avg IS NOT NULL), max(m.vms_running_max),
           sum(m.vcpus_running_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.vcpus_running_avg IS NOT NULL), max(m.vcpus_running_max)
      FROM host_usage_minute m
     WHERE m.host_id = p_host_id AND m.minute >= date_trunc('hour', p_from, 'UTC') AND m.minute < p_to
       AND date_trunc('hour', m.minute, 'UTC') NOT IN (SELECT hr.hour FROM hr)
     GROUP BY 1
),
b AS (
    SELECT (floor(extract(epoch FROM h.hour) / p_step) * p_step)::bigint AS t, sum(h.cap) AS cap,
           sum(h.busy) AS busy, sum(h.usr) AS usr, sum(h.sys) AS sys, sum(h.iow) AS iow,
           sum(h.tot_int) AS tot_int, sum(h.tot_ms) AS tot_ms, max(h.tot_max) AS tot_max, sum(h.free_int) AS free_int,
           sum(h.vmm_int) AS vmm_int, sum(h.vmm_ms) AS vmm_ms, max(h.vmm_max) AS vmm_max,
           sum(h.vms_int) AS vms_int, sum(h.vms_ms) AS vms_ms, max(h.vms_max) AS vms_max,
           sum(h.vc_int) AS vc_int, sum(h.vc_ms) AS vc_ms, max(h.vc_max) AS vc_max
      FROM (SELECT * FROM hr UNION ALL SELECT * FROM mi) h
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

-- Every VM's CPU per step over [p_from, p_to) for the VM list's
-- sparklines and top-N (p_tenant NULL: all; else the VMs whose current
-- owner is that tenant): CPU time as a share of the allocation, per
-- step (steps under an hour from the minutes only).
CREATE FUNCTION web_fleet_cpu(p_from timestamptz, p_to timestamptz, p_step int, p_tenant text)
RETURNS TABLE (vm_id int, t bigint, cpu_alloc_pct float8)
LANGUAGE sql STABLE AS $$
WITH vms AS MATERIALIZED (
    SELECT v.vm_id FROM vm v
      JOIN LATERAL (SELECT tenant FROM vm_inventory x WHERE x.vm_id = v.vm_id ORDER BY valid_from DESC LIMIT 1) i
        ON true
     WHERE p_tenant IS NULL OR i.tenant = p_tenant
),
hr AS (
    SELECT u.vm_id, u.hour, sum(u.cpu_ns) AS cpu, sum(u.vcpus_int) AS vcpus_int
      FROM vm_usage_hour u JOIN vms USING (vm_id)
     WHERE p_step >= 3600 AND u.hour >= date_trunc('hour', p_from, 'UTC') AND u.hour < p_to
     GROUP BY 1, 2
),
mi AS (
    SELECT m.vm_id, m.minute AS hour, m.cpu_ns::numeric AS cpu, m.vcpus_avg::numeric * m.coverage_ms AS vcpus_int
      FROM vm_usage_minute m JOIN vms USING (vm_id)
     WHERE m.minute >= p_from AND m.minute < p_to
       AND (p_step < 3600 OR NOT EXISTS (SELECT 1 FROM hr WHERE hr.vm_id = m.vm_id
                                                         AND hr.hour = date_trunc('hour', m.minute, 'UTC')))
),
h AS (SELECT * FROM hr UNION ALL SELECT * FROM mi)
SELECT h.vm_id, (floor(extract(epoch FROM h.hour) / p_step) * p_step)::bigint,
       (sum(h.cpu) * 100 / nullif(sum(h.vcpus_int) * 1e6, 0))::float8
  FROM h GROUP BY 1, 2 ORDER BY 1, 2
$$;
