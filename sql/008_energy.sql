-- vmeter schema 8: energy and carbon (docs/BILLING.md, "Energy and carbon").
--
-- Energy is integer microjoules and carbon integer micrograms of CO2e, so
-- that a host's minute split among its VMs adds up exactly; nothing here is
-- floating point.

-- A host's measured energy per UTC minute: the collector's RAPL (Linux
-- powercap) counters, their deltas split over minutes in proportion to
-- time like every counter (lib/usage.h).  A host without RAPL has no rows:
-- the rater models its power from its CPU use (the host class's power
-- model).  coverage_ms: the part of the minute the deltas cover.
CREATE TABLE host_power_minute (
    host_id     int NOT NULL,
    minute      timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
    coverage_ms int NOT NULL CHECK (coverage_ms BETWEEN 0 AND 60000),
    samples     int NOT NULL,
    late        bigint NOT NULL DEFAULT 0,
    energy_uj   bigint NOT NULL CHECK (energy_uj >= 0),
    PRIMARY KEY (host_id, minute)
) PARTITION BY RANGE (minute);
INSERT INTO storage_policy VALUES ('host_power_minute', 'day', 62, 'raw');
-- A late minute marks its hour as every per-minute table does: the hour is
-- rolled up again, which marks it for rating again (bill_mark_rollup).
CREATE TRIGGER host_power_minute_dirty AFTER INSERT ON host_power_minute FOR EACH ROW
    WHEN (current_setting('vmeter.marks_host_power_minute', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION vm_mark_dirty_row();
SELECT vm_ensure_partitions(now() - interval '1 day', now() + interval '2 days', ARRAY['raw']);

-- Grid carbon intensity by hour where it is known (`vmeter-bill grid load
-- REGION FILE`: an export of the grid operator's or a data provider's);
-- other hours take the region's constant from the plan files.
CREATE TABLE bill_grid_hour (
    region     text NOT NULL,
    hour       timestamptz NOT NULL CHECK (date_trunc('hour', hour, 'UTC') = hour),
    mg_per_kwh bigint NOT NULL CHECK (mg_per_kwh >= 0),
    PRIMARY KEY (region, hour)
);

-- How each host's energy of a rated day was split: per VM and owner (the
-- owner at each minute), the idle share of capacity no VM was allocated
-- ('idle', vm_id 0) and the CPU time of the host beyond its VMs'
-- ('overhead', vm_id 0).  Per rating zone and local day, like
-- bill_rated; the parts of a host's day add up to its energy exactly.
CREATE TABLE bill_energy_share (
    time_zone   text NOT NULL,
    day         date NOT NULL,
    host_id     int NOT NULL REFERENCES host,
    vm_id       int NOT NULL,
    tenant      text NOT NULL,
    project     text NOT NULL,
    part        text NOT NULL CHECK (part IN ('vm', 'idle', 'overhead')),
    energy_uj   bigint NOT NULL CHECK (energy_uj >= 0),
    measured_uj bigint NOT NULL CHECK (measured_uj >= 0 AND measured_uj <= energy_uj), -- of it, from RAPL
    carbon_ug   bigint NOT NULL CHECK (carbon_ug >= 0),
    PRIMARY KEY (time_zone, day, host_id, vm_id, tenant, project, part)
);
CREATE INDEX bill_energy_share_tenant ON bill_energy_share (tenant, day);

-- A host's whole energy of a rated day, the sum its parts must equal.
CREATE TABLE bill_energy_host (
    time_zone   text NOT NULL,
    day         date NOT NULL,
    host_id     int NOT NULL REFERENCES host,
    minutes     int NOT NULL,          -- minutes with energy (measured or modelled)
    measured    int NOT NULL,          -- of them, measured
    energy_uj   bigint NOT NULL,
    carbon_ug   bigint NOT NULL,
    PRIMARY KEY (time_zone, day, host_id)
);

-- Showback (docs/BILLING.md, "Statements"): a showback tenant's statement
-- carries quantities without money unless its plan file says `showback =
-- costs` (the value at the plan's prices, as a shadow bill).  A statement
-- keeps which it was.
ALTER TABLE bill_tenant ADD COLUMN showback_costs bool NOT NULL DEFAULT false;
ALTER TABLE bill_invoice ADD COLUMN money bool NOT NULL DEFAULT true;

-- Statements and invoices carry each VM's energy and carbon as lines of
-- their own (no money unless a plan prices the meters).
ALTER TABLE bill_line DROP CONSTRAINT bill_line_kind_check;
ALTER TABLE bill_line ADD CONSTRAINT bill_line_kind_check
    CHECK (kind IN ('usage', 'minimum', 'host-cost', 'idle', 'adjustment', 'credit', 'energy'));
