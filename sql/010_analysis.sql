-- vmeter schema 10: the aggregator's VM-aware analysis (docs/ANALYSIS.md).
--
-- Written by vmeter-aggregator only; read by `vmeter-aggregator analysis`,
-- reports and the web UI.  Percentages and ratios are integers in basis
-- points (1 % = 100 bp; a ratio of 1.5 : 1 is 15000): exact to compare and
-- free of floating point.  NULL means unknown (not measured, or not enough
-- of the window observed), never zero.

-- Each completed cycle: the grid time it ran for and what it judged.
CREATE TABLE agg_cycle (
    cycle_at    timestamptz PRIMARY KEY,
    window_end  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    vms         int NOT NULL,
    hosts       int NOT NULL,
    changes     int NOT NULL
);

-- The latest figures of each VM over the current window
-- [window_from, window_to): observed_ms is the coverage the minutes
-- recorded, unknown_ms what was not observed of the minutes the VM had
-- (partly covered minutes) plus what was recorded lost; coverage_bp is
-- observed_ms as a share of the window.
CREATE TABLE agg_vm_figures (
    vm_id          int PRIMARY KEY REFERENCES vm,
    host_id        int NOT NULL REFERENCES host,
    window_from    timestamptz NOT NULL,
    window_to      timestamptz NOT NULL,
    judged_at      timestamptz NOT NULL,
    observed_ms    bigint NOT NULL,
    unknown_ms     bigint NOT NULL,
    coverage_bp    int NOT NULL,
    vcpus          int,            -- allocated vCPUs at the window's end
    cpu_alloc_bp   int,            -- CPU time / (vCPUs x observed time)
    cpu_host_bp    int,            -- CPU time / (host CPUs x observed time)
    delay_bp       int,            -- vCPU delay / (vCPUs x observed time)
    mem_alloc_kib  bigint,         -- allocated (maximum) memory
    balloon_kib    bigint,         -- balloon size, time-weighted average
    rss_kib        bigint,         -- resident on the host, average
    used_kib       bigint,         -- the guest's own use: available - usable
    host_mem_kib   bigint,         -- the host's physical memory
    rss_alloc_bp   int,
    used_alloc_bp  int,
    rss_host_bp    int,
    disk_rd_bps    bigint,         -- bytes per observed second
    disk_wr_bps    bigint,
    net_rx_bps     bigint,
    net_tx_bps     bigint
);
CREATE INDEX agg_vm_figures_host ON agg_vm_figures (host_id);

-- The latest figures of each host over the same window.
CREATE TABLE agg_host_figures (
    host_id        int PRIMARY KEY REFERENCES host,
    window_from    timestamptz NOT NULL,
    window_to      timestamptz NOT NULL,
    judged_at      timestamptz NOT NULL,
    observed_ms    bigint NOT NULL,  -- the host's own coverage
    coverage_bp    int NOT NULL,
    cpus           int,              -- physical CPUs (threads), average rounded
    mem_total_kib  bigint,
    busy_bp        int,              -- host busy / capacity
    demand_bp      int,              -- sum of its VMs' CPU time / capacity
    vcpu_ratio_bp  int,              -- running VMs' vCPUs : CPUs
    mem_ratio_bp   int,              -- running VMs' memory : physical memory
    vms            int NOT NULL,     -- VMs with usage on it in the window
    delay_bp       int,              -- its VMs' vCPU delay / their vCPU time
    top_vms        jsonb NOT NULL DEFAULT '[]'  -- [{vm_id, name, cpu_share_bp}], largest first
);

-- A VM's current class in each dimension: 'size' (powered-off, idle,
-- undersized, oversized, right-sized, unknown), 'contention' (starved,
-- ok, unknown), 'neighbour' (noisy, ok, unknown).  since: when it entered
-- this class (its history row); evidence: the values and thresholds the
-- judgement came from.
CREATE TABLE agg_vm_class (
    vm_id        int NOT NULL REFERENCES vm,
    dimension    text NOT NULL CHECK (dimension IN ('size', 'contention', 'neighbour')),
    class        text NOT NULL,
    since        timestamptz NOT NULL,
    judged_at    timestamptz NOT NULL,
    window_from  timestamptz NOT NULL,
    window_to    timestamptz NOT NULL,
    host_id      int REFERENCES host,
    evidence     jsonb NOT NULL,
    PRIMARY KEY (vm_id, dimension)
);
CREATE INDEX agg_vm_class_class ON agg_vm_class (class);

-- Every change of a VM's class: from_class NULL for its first judgement.
CREATE TABLE agg_vm_class_change (
    vm_id        int NOT NULL REFERENCES vm,
    dimension    text NOT NULL,
    at           timestamptz NOT NULL,
    from_class   text,
    to_class     text NOT NULL,
    evidence     jsonb NOT NULL,
    PRIMARY KEY (vm_id, dimension, at)
);

-- A VM's usage per UTC hour over [p_from, p_to) (whole hours), per host
-- (a VM that migrated has a row on each): what the classifications read.
-- Each hour through vm_usage_between(), so rollups, dirty hours and lost
-- minutes are read exactly as every other reader reads them.
CREATE FUNCTION agg_vm_hours(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (vm_id int, host_id int, hour timestamptz, minutes bigint, coverage_ms bigint, lost_ms bigint,
               cpu_ns bigint, vcpus_int numeric, vcpu_delay_ns bigint, disk_bytes bigint, net_bytes bigint,
               rss_kib_int numeric, rss_kib_ms bigint, avail_kib_int numeric, usable_kib_int numeric,
               avail_ms bigint)
LANGUAGE sql STABLE AS $$
SELECT u.vm_id, u.host_id, h.hour, sum(u.minutes)::bigint, sum(u.coverage_ms)::bigint, sum(u.lost_ms)::bigint,
       sum(u.cpu_ns)::bigint, sum(u.vcpus_int), sum(u.vcpu_delay_ns)::bigint,
       (coalesce(sum(u.disk_rd_bytes), 0) + coalesce(sum(u.disk_wr_bytes), 0))::bigint,
       (coalesce(sum(u.net_rx_bytes), 0) + coalesce(sum(u.net_tx_bytes), 0))::bigint,
       sum(u.rss_kib_int), sum(u.rss_kib_ms)::bigint,
       sum(u.available_kib_int) FILTER (WHERE u.usable_kib_ms = u.available_kib_ms),
       sum(u.usable_kib_int) FILTER (WHERE u.usable_kib_ms = u.available_kib_ms),
       sum(u.available_kib_ms) FILTER (WHERE u.usable_kib_ms = u.available_kib_ms)::bigint
  FROM generate_series(p_from, p_to - interval '1 hour', interval '1 hour') h(hour)
 CROSS JOIN LATERAL vm_usage_between(h.hour, h.hour + interval '1 hour') u
 GROUP BY u.vm_id, u.host_id, h.hour
$$;
