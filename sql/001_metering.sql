-- vmeter schema 1: hosts, VMs with inventory history, owners, lifecycle
-- events and per-minute usage.  Applied by `vmeter-admin migrate` in one
-- transaction together with its row in schema_migrations.

CREATE TABLE host (
    host_id     serial PRIMARY KEY,
    hostname    text NOT NULL UNIQUE CHECK (hostname <> ''),
    libvirt_uri text,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);

-- What the host was (CPUs, memory) from when; a row per change.
CREATE TABLE host_inventory (
    host_id     int NOT NULL REFERENCES host,
    valid_from  timestamptz NOT NULL,
    cpus        int NOT NULL,
    mhz         int NOT NULL,
    memory_kib  bigint NOT NULL,
    cpu_model   text NOT NULL,
    numa_nodes  int NOT NULL,
    sockets     int NOT NULL,
    cores       int NOT NULL,
    threads     int NOT NULL,
    PRIMARY KEY (host_id, valid_from)
);

-- A VM is its libvirt UUID; the 4-byte vm_id keeps the big tables narrow.
CREATE TABLE vm (
    vm_id       serial PRIMARY KEY,
    uuid        uuid NOT NULL UNIQUE,
    first_seen  timestamptz NOT NULL DEFAULT now()
);

-- Inventory history: a row whenever allocation, devices, owner or name
-- change, valid from the time the change took effect (the libvirt event,
-- or the time the collector noticed it).  valid_to is the next row's
-- valid_from (see the vm_inventory_span view).
CREATE TABLE vm_inventory (
    vm_id          int NOT NULL REFERENCES vm,
    valid_from     timestamptz NOT NULL,
    host_id        int NOT NULL REFERENCES host,
    name           text NOT NULL,
    vcpus          int NOT NULL,
    max_vcpus      int NOT NULL,
    memory_kib     bigint NOT NULL,
    current_memory_kib bigint NOT NULL,
    tenant         text NOT NULL,
    project        text NOT NULL,
    cost_centre    text NOT NULL,
    tags           jsonb NOT NULL DEFAULT '{}',
    owner_source   text NOT NULL CHECK (owner_source IN ('metadata', 'config', 'none')),
    disks          jsonb NOT NULL DEFAULT '[]',
    nics           jsonb NOT NULL DEFAULT '[]',
    digest         text NOT NULL,
    PRIMARY KEY (vm_id, valid_from)
);
CREATE INDEX vm_inventory_tenant ON vm_inventory (tenant, project);

CREATE VIEW vm_inventory_span AS
SELECT i.*,
       lead(valid_from) OVER (PARTITION BY vm_id ORDER BY valid_from) AS valid_to
  FROM vm_inventory i;

-- Lifecycle as libvirt reported it: defined, undefined, started, stopped,
-- suspended, resumed, ...; the basis for billing intervals.
CREATE TABLE vm_event (
    vm_id    int NOT NULL REFERENCES vm,
    host_id  int NOT NULL REFERENCES host,
    at       timestamptz NOT NULL,
    event    text NOT NULL,
    detail   text NOT NULL DEFAULT '',
    PRIMARY KEY (vm_id, at, event)
);

-- One row per VM, host and UTC minute.  Counters are sums of the deltas
-- that fell into the minute; gauges are time-weighted averages (_avg) and
-- maxima (_max) over the observed part of the minute; coverage_ms is how
-- much of the minute was observed.  The key makes a second write of the
-- same minute a no-op: it is never counted twice.
CREATE TABLE vm_usage_minute (
    host_id     int NOT NULL REFERENCES host,
    vm_id       int NOT NULL REFERENCES vm,
    minute      timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
    coverage_ms int NOT NULL CHECK (coverage_ms BETWEEN 0 AND 60000),
    samples     int NOT NULL,
    late        bigint NOT NULL DEFAULT 0,
    cpu_ns bigint, cpu_user_ns bigint, cpu_system_ns bigint,
    vcpu_ns bigint, vcpu_delay_ns bigint, vcpu_wait_ns bigint,
    running_ms bigint,
    disk_rd_bytes bigint, disk_wr_bytes bigint, disk_rd_reqs bigint, disk_wr_reqs bigint,
    disk_rd_ns bigint, disk_wr_ns bigint, disk_fl_reqs bigint, disk_fl_ns bigint,
    net_rx_bytes bigint, net_tx_bytes bigint, net_rx_pkts bigint, net_tx_pkts bigint,
    net_rx_errs bigint, net_tx_errs bigint, net_rx_drop bigint, net_tx_drop bigint,
    vcpus_avg bigint, vcpus_max bigint,
    mem_max_kib_avg bigint, mem_max_kib_max bigint,
    balloon_kib_avg bigint, balloon_kib_max bigint,
    rss_kib_avg bigint, rss_kib_max bigint,
    usable_kib_avg bigint, usable_kib_max bigint,
    available_kib_avg bigint, available_kib_max bigint,
    unused_kib_avg bigint, unused_kib_max bigint,
    disk_capacity_bytes_avg bigint, disk_capacity_bytes_max bigint,
    disk_allocation_bytes_avg bigint, disk_allocation_bytes_max bigint,
    PRIMARY KEY (vm_id, minute, host_id)
);
CREATE INDEX vm_usage_minute_minute ON vm_usage_minute (minute);

CREATE TABLE host_usage_minute (
    host_id     int NOT NULL REFERENCES host,
    minute      timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
    coverage_ms int NOT NULL CHECK (coverage_ms BETWEEN 0 AND 60000),
    samples     int NOT NULL,
    late        bigint NOT NULL DEFAULT 0,
    cpu_capacity_ns bigint, cpu_busy_ns bigint, cpu_user_ns bigint, cpu_system_ns bigint,
    cpu_iowait_ns bigint, cpu_idle_ns bigint,
    cpus_avg bigint, cpus_max bigint,
    mem_total_kib_avg bigint, mem_total_kib_max bigint,
    mem_free_kib_avg bigint, mem_free_kib_max bigint,
    mem_cached_kib_avg bigint, mem_cached_kib_max bigint,
    vms_running_avg bigint, vms_running_max bigint,
    vcpus_running_avg bigint, vcpus_running_max bigint,
    vm_mem_kib_avg bigint, vm_mem_kib_max bigint,
    PRIMARY KEY (host_id, minute)
);
