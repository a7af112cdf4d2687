-- vmeter schema 5: storage that holds a fleet's years (docs/STORAGE.md).
--
-- * The per-minute tables become partitioned by UTC day (declarative
--   partitioning, our own partition code: vm_ensure_partitions() below;
--   postgresql-15-partman would be one more extension to install and
--   upgrade on every database server for ~100 lines of SQL).  Partitions are
--   created ahead by `vmeter-admin maintain` and, for a row whose day has
--   none (a collector that was away longer than the look-ahead), by the
--   writer through vm_ensure_partitions(); retention drops whole
--   partitions, never rows.
-- * Hourly and daily rollups with exact integer sums: counters are sums,
--   gauges keep their time integral (value x coverage ms, numeric: bytes x
--   ms overflows 64 bits within a day), the ms it covers and the maximum,
--   so an average over any span of hours or days is exact.  Rows are split
--   by the owner (tenant, project, cost centre) the VM had at each minute.
-- * Every insert into a per-minute table marks its (UTC hour, host) dirty
--   in the same transaction; `vmeter-admin maintain` recomputes each dirty
--   hour once it is closed, so a row that arrives a day late changes the
--   rollups too.  Readers (vm_usage_between() ...) use a rollup only for
--   hours that are closed and not dirty, and raw minutes for the rest: a
--   result is exact whatever the rollups' progress.
-- * The minute tables lose their foreign keys: the writer takes host_id
--   and vm_id from host and vm in the same transaction, and a per-row RI
--   check would halve ingest.

-- Owners as a small dimension: rollups carry a 4-byte owner_id.  Owner 0
-- is nobody (no owner found, or no inventory yet).
CREATE TABLE owner (
    owner_id    serial PRIMARY KEY,
    tenant      text NOT NULL,
    project     text NOT NULL,
    cost_centre text NOT NULL,
    UNIQUE (tenant, project, cost_centre)
);
INSERT INTO owner (owner_id, tenant, project, cost_centre) VALUES (0, '', '', '');

ALTER TABLE vm_inventory ADD COLUMN owner_id int REFERENCES owner;

CREATE FUNCTION vm_inventory_owner() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO owner (tenant, project, cost_centre)
    VALUES (NEW.tenant, NEW.project, NEW.cost_centre) ON CONFLICT DO NOTHING;
    SELECT owner_id INTO NEW.owner_id FROM owner
     WHERE tenant = NEW.tenant AND project = NEW.project AND cost_centre = NEW.cost_centre;
    RETURN NEW;
END
$$;
CREATE TRIGGER vm_inventory_owner BEFORE INSERT ON vm_inventory
    FOR EACH ROW EXECUTE FUNCTION vm_inventory_owner();

INSERT INTO owner (tenant, project, cost_centre)
SELECT DISTINCT tenant, project, cost_centre FROM vm_inventory ON CONFLICT DO NOTHING;
UPDATE vm_inventory i SET owner_id = o.owner_id FROM owner o
 WHERE (o.tenant, o.project, o.cost_centre) = (i.tenant, i.project, i.cost_centre);
ALTER TABLE vm_inventory ALTER COLUMN owner_id SET NOT NULL;

-- Which owner a minute belongs to: the inventory state at its middle (the
-- latest valid_from <= minute + 30 s), or the VM's first state for
-- minutes before it (a VM is measured a moment before its inventory is
-- read).  The same rule as vmeter-admin's per-minute owner.
CREATE VIEW vm_owner_span AS
SELECT vm_id, owner_id, valid_from,
       CASE WHEN lag(valid_from) OVER w IS NULL THEN '-infinity'::timestamptz ELSE valid_from END AS span_from,
       coalesce(lead(valid_from) OVER w, 'infinity'::timestamptz) AS span_to
  FROM vm_inventory
WINDOW w AS (PARTITION BY vm_id ORDER BY valid_from);

-- The partitioned tables, their partition unit and how long their
-- partitions are kept (NULL: for ever).  vmeter-admin maintain --raw-days
-- etc. change keep_days.
CREATE TABLE storage_policy (
    parent      text PRIMARY KEY,
    unit        text NOT NULL CHECK (unit IN ('day', 'month', 'year')),
    keep_days   int CHECK (keep_days > 0),
    class       text NOT NULL CHECK (class IN ('raw', 'hourly', 'daily'))
);
INSERT INTO storage_policy VALUES
    ('vm_usage_minute', 'day', 62, 'raw'), ('host_usage_minute', 'day', 62, 'raw'),
    ('vm_usage_loss', 'day', 62, 'raw'), ('vm_traffic_minute', 'day', 62, 'raw'),
    ('vm_capture_minute', 'day', 62, 'raw'), ('host_capture_minute', 'day', 62, 'raw'),
    ('vm_usage_hour', 'month', 400, 'hourly'), ('host_usage_hour', 'month', 400, 'hourly'),
    ('vm_traffic_hour', 'month', 400, 'hourly'),
    ('vm_usage_day', 'year', 3660, 'daily'), ('host_usage_day', 'year', 3660, 'daily'),
    ('owner_usage_day', 'year', 3660, 'daily'),
    ('vm_traffic_day', 'year', 3660, 'daily');

-- A partition's name: parent_pYYYYMMDD, _pYYYYMM or _pYYYY; retention
-- reads the range back from it and leaves partitions named otherwise (an
-- operator's own) alone.
CREATE FUNCTION vm_partition_start(p_unit text, p_at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT date_trunc(p_unit, p_at, 'UTC') $$;

CREATE FUNCTION vm_partition_name(p_parent text, p_unit text, p_start timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT p_parent || '_p' || to_char(p_start AT TIME ZONE 'UTC',
       CASE p_unit WHEN 'day' THEN 'YYYYMMDD' WHEN 'month' THEN 'YYYYMM' ELSE 'YYYY' END)
$$;

-- Creates the missing partitions of every partitioned table for
-- [p_from, p_to] (of the storage classes p_classes, all by default);
-- returns how many it created.  SECURITY DEFINER so that
-- a collector, which has no DDL privilege, can have its day's partition
-- made when it delivers rows from a day nobody prepared.  Serialised by an
-- advisory lock: two writers creating the same partition at once would
-- otherwise collide in the catalogue.
CREATE FUNCTION vm_ensure_partitions(p_from timestamptz, p_to timestamptz, p_classes text[] DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    p record;
    s timestamptz;
    e timestamptz;
    n int := 0;
    name text;
    step interval;
BEGIN
    IF p_to < p_from THEN
        RAISE EXCEPTION 'vm_ensure_partitions: range ends (%) before it starts (%)', p_to, p_from;
    END IF;
    PERFORM pg_advisory_xact_lock(8675309, 1);
    IF (p_classes IS NULL OR 'raw' = ANY (p_classes))
       AND p_from < (SELECT since FROM storage_horizon WHERE class = 'raw') THEN
        RAISE EXCEPTION 'minutes from % cannot be stored: retention dropped the minutes before %', p_from,
            (SELECT since FROM storage_horizon WHERE class = 'raw')
            USING HINT = 'a longer raw retention (vmeter-admin maintain --raw-days) keeps later days';
    END IF;
    FOR p IN SELECT parent, unit FROM storage_policy
              WHERE p_classes IS NULL OR class = ANY (p_classes) ORDER BY parent LOOP
        step := ('1 ' || p.unit)::interval;
        s := vm_partition_start(p.unit, p_from);
        WHILE s <= p_to LOOP
            e := (s AT TIME ZONE 'UTC' + step) AT TIME ZONE 'UTC';
            name := vm_partition_name(p.parent, p.unit, s);
            IF to_regclass(quote_ident(name)) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                               name, p.parent, s, e);
                n := n + 1;
            END IF;
            s := e;
        END LOOP;
    END LOOP;
    RETURN n;
END
$$;

-- (hour, host) pairs whose rows changed since their rollup; host_id 0:
-- every host of that hour (an owner changed).
CREATE TABLE rollup_dirty (
    hour    timestamptz NOT NULL,
    host_id int NOT NULL,
    PRIMARY KEY (hour, host_id)
);

-- Hours before closed_upto are closed: those without a rollup_dirty row
-- are rolled up.
CREATE TABLE rollup_state (
    one          bool PRIMARY KEY DEFAULT true CHECK (one),
    closed_upto  timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO rollup_state DEFAULT VALUES;

-- What retention has dropped: the data of a class (raw minutes, hourly or
-- daily rollups) before `since` is gone.  Readers refuse a range that
-- needs it instead of returning less than was measured.
CREATE TABLE storage_horizon (
    class  text PRIMARY KEY CHECK (class IN ('raw', 'hourly', 'daily')),
    since  timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO storage_horizon (class) VALUES ('raw'), ('hourly'), ('daily');

CREATE FUNCTION vm_storage_check(p_class text, p_at timestamptz) RETURNS bool
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
DECLARE
    s timestamptz;
BEGIN
    SELECT since INTO s FROM storage_horizon WHERE class = p_class;
    IF p_at < s THEN
        RAISE EXCEPTION 'usage at % is no longer kept at % resolution (retention dropped it before %)', p_at,
            CASE p_class WHEN 'raw' THEN 'minute' WHEN 'hourly' THEN 'hour' ELSE 'day' END, s
            USING HINT = CASE p_class WHEN 'raw' THEN 'ask for whole UTC hours' WHEN 'hourly'
                              THEN 'ask for whole UTC days' ELSE 'ask for a later range' END,
                  ERRCODE = '22023';
    END IF;
    RETURN true;
END
$$;

CREATE FUNCTION vm_mark_dirty() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO rollup_dirty (hour, host_id)
    SELECT DISTINCT date_trunc('hour', minute, 'UTC'), host_id FROM new_rows
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

-- vm_usage_minute, the table the collector fills fastest, marks by a row
-- trigger instead: a statement trigger with a transition table makes COPY
-- into a partitioned table insert row by row (PostgreSQL's CIM_SINGLE),
-- which cost the collector's delivery a third of its speed
-- (bench/storage.sh).  An AFTER row trigger leaves COPY its batched
-- inserts, and its WHEN skips the rows of a writer that marks their hours
-- itself: it calls vm_mark_hours() for the table once in its transaction
-- (the collector: its batch's hours; the schema 4 copy below: every hour
-- copied).  Any other writer (an INSERT by hand, a script) is marked row
-- by row, slower but never missed.
CREATE FUNCTION vm_mark_dirty_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO rollup_dirty (hour, host_id) VALUES (date_trunc('hour', NEW.minute, 'UTC'), NEW.host_id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

-- Marks p_hours (truncated to UTC hours) of host p_host dirty, and says
-- that until the transaction ends the rows inserted into p_table are
-- marked by their writer (the row trigger of p_table skips them).  Call
-- it in the transaction that inserts the rows, before them.
CREATE FUNCTION vm_mark_hours(p_table text, p_host int, p_hours timestamptz[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO rollup_dirty (hour, host_id)
    SELECT DISTINCT date_trunc('hour', h, 'UTC'), p_host FROM unnest(p_hours) h
    ON CONFLICT DO NOTHING;
    -- Local to the transaction; a setting made inside a function with a
    -- SET clause outlives the call unless the clause names it.
    PERFORM set_config('vmeter.marks_' || p_table, 'on', true);
END
$$;

-- A new inventory state moves minutes from one owner to another: from its
-- own start to the next state's, or for a VM's first state, every minute
-- before it too.
CREATE FUNCTION vm_inventory_dirty() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    nxt timestamptz;
    first bool;
BEGIN
    SELECT min(valid_from) INTO nxt FROM vm_inventory WHERE vm_id = NEW.vm_id AND valid_from > NEW.valid_from;
    SELECT NOT EXISTS (SELECT 1 FROM vm_inventory WHERE vm_id = NEW.vm_id AND valid_from < NEW.valid_from)
      INTO first;
    IF first THEN
        INSERT INTO rollup_dirty (hour, host_id)
        SELECT DISTINCT date_trunc('hour', minute, 'UTC'), 0 FROM vm_usage_minute
         WHERE vm_id = NEW.vm_id AND minute + interval '30 seconds' < NEW.valid_from
        UNION
        SELECT DISTINCT date_trunc('hour', minute, 'UTC'), 0 FROM vm_usage_loss
         WHERE vm_id = NEW.vm_id AND minute + interval '30 seconds' < NEW.valid_from
        UNION
        SELECT DISTINCT date_trunc('hour', minute, 'UTC'), 0 FROM vm_traffic_minute
         WHERE vm_id = NEW.vm_id AND minute + interval '30 seconds' < NEW.valid_from
        ON CONFLICT DO NOTHING;
    END IF;
    INSERT INTO rollup_dirty (hour, host_id)
    SELECT DISTINCT date_trunc('hour', minute, 'UTC'), 0 FROM vm_usage_minute
     WHERE vm_id = NEW.vm_id AND minute + interval '30 seconds' >= NEW.valid_from
       AND (nxt IS NULL OR minute + interval '30 seconds' < nxt)
    UNION
    SELECT DISTINCT date_trunc('hour', minute, 'UTC'), 0 FROM vm_usage_loss
     WHERE vm_id = NEW.vm_id AND minute + interval '30 seconds' >= NEW.valid_from
       AND (nxt IS NULL OR minute + interval '30 seconds' < nxt)
    UNION
    SELECT DISTINCT date_trunc('hour', minute, 'UTC'), 0 FROM vm_traffic_minute
     WHERE vm_id = NEW.vm_id AND minute + interval '30 seconds' >= NEW.valid_from
       AND (nxt IS NULL OR minute + interval '30 seconds' < nxt)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER vm_inventory_dirty AFTER INSERT ON vm_inventory
    FOR EACH ROW EXECUTE FUNCTION vm_inventory_dirty();

-- Rollups.  One row per VM, host, owner and UTC hour (day): minutes is the
-- number of minute rows, coverage_ms their coverage, lost_ms the coverage
-- recorded lost (vm_usage_loss); a counter is the sum of its minutes
-- (NULL when no minute had it); a gauge g has g_int, the sum over minutes
-- of average x coverage_ms, g_ms, the coverage of the minutes that had it,
-- and g_max: its average is g_int / g_ms.
CREATE TABLE vm_usage_hour (
    vm_id int NOT NULL, host_id int NOT NULL,
    hour timestamptz NOT NULL CHECK (date_trunc('hour', hour, 'UTC') = hour),
    owner_id int NOT NULL,
    minutes int NOT NULL, coverage_ms bigint NOT NULL, samples bigint NOT NULL, late bigint NOT NULL,
    lost_ms bigint NOT NULL DEFAULT 0,
    cpu_ns bigint, cpu_user_ns bigint, cpu_system_ns bigint, vcpu_ns bigint, vcpu_delay_ns bigint,
    vcpu_wait_ns bigint, running_ms bigint, disk_rd_bytes bigint, disk_wr_bytes bigint,
    disk_rd_reqs bigint, disk_wr_reqs bigint, disk_rd_ns bigint, disk_wr_ns bigint,
    disk_fl_reqs bigint, disk_fl_ns bigint, net_rx_bytes bigint, net_tx_bytes bigint,
    net_rx_pkts bigint, net_tx_pkts bigint, net_rx_errs bigint, net_tx_errs bigint,
    net_rx_drop bigint, net_tx_drop bigint, vcpus_int numeric, vcpus_ms bigint, vcpus_max bigint,
    mem_max_kib_int numeric, mem_max_kib_ms bigint, mem_max_kib_max bigint, balloon_kib_int numeric,
    balloon_kib_ms bigint, balloon_kib_max bigint, rss_kib_int numeric, rss_kib_ms bigint,
    rss_kib_max bigint, usable_kib_int numeric, usable_kib_ms bigint, usable_kib_max bigint,
    available_kib_int numeric, available_kib_ms bigint, available_kib_max bigint,
    unused_kib_int numeric, unused_kib_ms bigint, unused_kib_max bigint,
    disk_capacity_bytes_int numeric, disk_capacity_bytes_ms bigint, disk_capacity_bytes_max bigint,
    disk_allocation_bytes_int numeric, disk_allocation_bytes_ms bigint,
    disk_allocation_bytes_max bigint,
    PRIMARY KEY (vm_id, hour, host_id, owner_id)
) PARTITION BY RANGE (hour);
CREATE INDEX vm_usage_hour_owner ON vm_usage_hour (owner_id, hour);
CREATE INDEX vm_usage_hour_hour ON vm_usage_hour (hour, host_id);

CREATE TABLE vm_usage_day (
    vm_id int NOT NULL, host_id int NOT NULL,
    day timestamptz NOT NULL CHECK (date_trunc('day', day, 'UTC') = day),
    owner_id int NOT NULL,
    minutes int NOT NULL, coverage_ms bigint NOT NULL, samples bigint NOT NULL, late bigint NOT NULL,
    lost_ms bigint NOT NULL DEFAULT 0,
    cpu_ns bigint, cpu_user_ns bigint, cpu_system_ns bigint, vcpu_ns bigint, vcpu_delay_ns bigint,
    vcpu_wait_ns bigint, running_ms bigint, disk_rd_bytes bigint, disk_wr_bytes bigint,
    disk_rd_reqs bigint, disk_wr_reqs bigint, disk_rd_ns bigint, disk_wr_ns bigint,
    disk_fl_reqs bigint, disk_fl_ns bigint, net_rx_bytes bigint, net_tx_bytes bigint,
    net_rx_pkts bigint, net_tx_pkts bigint, net_rx_errs bigint, net_tx_errs bigint,
    net_rx_drop bigint, net_tx_drop bigint, vcpus_int numeric, vcpus_ms bigint, vcpus_max bigint,
    mem_max_kib_int numeric, mem_max_kib_ms bigint, mem_max_kib_max bigint, balloon_kib_int numeric,
    balloon_kib_ms bigint, balloon_kib_max bigint, rss_kib_int numeric, rss_kib_ms bigint,
    rss_kib_max bigint, usable_kib_int numeric, usable_kib_ms bigint, usable_kib_max bigint,
    available_kib_int numeric, available_kib_ms bigint, available_kib_max bigint,
    unused_kib_int numeric, unused_kib_ms bigint, unused_kib_max bigint,
    disk_capacity_bytes_int numeric, disk_capacity_bytes_ms bigint, disk_capacity_bytes_max bigint,
    disk_allocation_bytes_int numeric, disk_allocation_bytes_ms bigint,
    disk_allocation_bytes_max bigint,
    PRIMARY KEY (vm_id, day, host_id, owner_id)
) PARTITION BY RANGE (day);
CREATE INDEX vm_usage_day_owner ON vm_usage_day (owner_id, day);
CREATE INDEX vm_usage_day_day ON vm_usage_day (day, host_id);

CREATE TABLE host_usage_hour (
    host_id int NOT NULL,
    hour timestamptz NOT NULL CHECK (date_trunc('hour', hour, 'UTC') = hour),
    minutes int NOT NULL, coverage_ms bigint NOT NULL, samples bigint NOT NULL, late bigint NOT NULL,
    cpu_capacity_ns bigint, cpu_busy_ns bigint, cpu_user_ns bigint, cpu_system_ns bigint,
    cpu_iowait_ns bigint, cpu_idle_ns bigint, cpus_int numeric, cpus_ms bigint, cpus_max bigint,
    mem_total_kib_int numeric, mem_total_kib_ms bigint, mem_total_kib_max bigint,
    mem_free_kib_int numeric, mem_free_kib_ms bigint, mem_free_kib_max bigint,
    mem_cached_kib_int numeric, mem_cached_kib_ms bigint, mem_cached_kib_max bigint,
    vms_running_int numeric, vms_running_ms bigint, vms_running_max bigint,
    vcpus_running_int numeric, vcpus_running_ms bigint, vcpus_running_max bigint,
    vm_mem_kib_int numeric, vm_mem_kib_ms bigint, vm_mem_kib_max bigint,
    PRIMARY KEY (host_id, hour)
) PARTITION BY RANGE (hour);

CREATE TABLE host_usage_day (
    host_id int NOT NULL,
    day timestamptz NOT NULL CHECK (date_trunc('day', day, 'UTC') = day),
    minutes int NOT NULL, coverage_ms bigint NOT NULL, samples bigint NOT NULL, late bigint NOT NULL,
    cpu_capacity_ns bigint, cpu_busy_ns bigint, cpu_user_ns bigint, cpu_system_ns bigint,
    cpu_iowait_ns bigint, cpu_idle_ns bigint, cpus_int numeric, cpus_ms bigint, cpus_max bigint,
    mem_total_kib_int numeric, mem_total_kib_ms bigint, mem_total_kib_max bigint,
    mem_free_kib_int numeric, mem_free_kib_ms bigint, mem_free_kib_max bigint,
    mem_cached_kib_int numeric, mem_cached_kib_ms bigint, mem_cached_kib_max bigint,
    vms_running_int numeric, vms_running_ms bigint, vms_running_max bigint,
    vcpus_running_int numeric, vcpus_running_ms bigint, vcpus_running_max bigint,
    vm_mem_kib_int numeric, vm_mem_kib_ms bigint, vm_mem_kib_max bigint,
    PRIMARY KEY (host_id, day)
) PARTITION BY RANGE (day);

CREATE TABLE vm_traffic_hour (
    vm_id int NOT NULL, host_id int NOT NULL,
    hour timestamptz NOT NULL CHECK (date_trunc('hour', hour, 'UTC') = hour),
    owner_id int NOT NULL, class text NOT NULL, minutes int NOT NULL,
    rx_bytes bigint NOT NULL, tx_bytes bigint NOT NULL, rx_packets bigint NOT NULL, tx_packets bigint NOT NULL,
    PRIMARY KEY (vm_id, hour, host_id, owner_id, class)
) PARTITION BY RANGE (hour);
CREATE INDEX vm_traffic_hour_owner ON vm_traffic_hour (owner_id, hour);

CREATE TABLE vm_traffic_day (
    vm_id int NOT NULL, host_id int NOT NULL,
    day timestamptz NOT NULL CHECK (date_trunc('day', day, 'UTC') = day),
    owner_id int NOT NULL, class text NOT NULL, minutes int NOT NULL,
    rx_bytes bigint NOT NULL, tx_bytes bigint NOT NULL, rx_packets bigint NOT NULL, tx_packets bigint NOT NULL,
    PRIMARY KEY (vm_id, day, host_id, owner_id, class)
) PARTITION BY RANGE (day);
CREATE INDEX vm_traffic_day_owner ON vm_traffic_day (owner_id, day);

-- A day of every owner, summed over its VMs and hosts: what a tenant's
-- month and the fleet's per-tenant totals read (30 rows a tenant, not 30
-- a VM).  Kept from vm_usage_day by vm_rollup_hour().
CREATE TABLE owner_usage_day (
    owner_id int NOT NULL,
    day timestamptz NOT NULL CHECK (date_trunc('day', day, 'UTC') = day),
    minutes bigint NOT NULL, coverage_ms bigint NOT NULL, samples bigint NOT NULL, late bigint NOT NULL,
    lost_ms bigint NOT NULL,
    cpu_ns bigint, cpu_user_ns bigint, cpu_system_ns bigint, vcpu_ns bigint, vcpu_delay_ns bigint,
    vcpu_wait_ns bigint, running_ms bigint, disk_rd_bytes bigint, disk_wr_bytes bigint,
    disk_rd_reqs bigint, disk_wr_reqs bigint, disk_rd_ns bigint, disk_wr_ns bigint,
    disk_fl_reqs bigint, disk_fl_ns bigint, net_rx_bytes bigint, net_tx_bytes bigint,
    net_rx_pkts bigint, net_tx_pkts bigint, net_rx_errs bigint, net_tx_errs bigint,
    net_rx_drop bigint, net_tx_drop bigint, vcpus_int numeric, vcpus_ms bigint, vcpus_max bigint,
    mem_max_kib_int numeric, mem_max_kib_ms bigint, mem_max_kib_max bigint, balloon_kib_int numeric,
    balloon_kib_ms bigint, balloon_kib_max bigint, rss_kib_int numeric, rss_kib_ms bigint,
    rss_kib_max bigint, usable_kib_int numeric, usable_kib_ms bigint, usable_kib_max bigint,
    available_kib_int numeric, available_kib_ms bigint, available_kib_max bigint,
    unused_kib_int numeric, unused_kib_ms bigint, unused_kib_max bigint,
    disk_capacity_bytes_int numeric, disk_capacity_bytes_ms bigint, disk_capacity_bytes_max bigint,
    disk_allocation_bytes_int numeric, disk_allocation_bytes_ms bigint,
    disk_allocation_bytes_max bigint,
    PRIMARY KEY (owner_id, day)
) PARTITION BY RANGE (day);

-- The per-minute tables, partitioned.  The old tables are renamed, the new
-- ones made like them, the rows moved.
DROP VIEW vm_capture_coverage;
ALTER TABLE vm_usage_minute RENAME TO vm_usage_minute_s4;
ALTER INDEX vm_usage_minute_pkey RENAME TO vm_usage_minute_s4_pkey;
ALTER INDEX vm_usage_minute_minute RENAME TO vm_usage_minute_s4_minute;
CREATE TABLE vm_usage_minute (LIKE vm_usage_minute_s4 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (minute);
ALTER TABLE vm_usage_minute ADD PRIMARY KEY (vm_id, minute, host_id);
CREATE INDEX vm_usage_minute_minute ON vm_usage_minute USING brin (minute);
CREATE TRIGGER vm_usage_minute_dirty AFTER INSERT ON vm_usage_minute FOR EACH ROW
    WHEN (current_setting('vmeter.marks_vm_usage_minute', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION vm_mark_dirty_row();

ALTER TABLE host_usage_minute RENAME TO host_usage_minute_s4;
ALTER INDEX host_usage_minute_pkey RENAME TO host_usage_minute_s4_pkey;
CREATE TABLE host_usage_minute (LIKE host_usage_minute_s4 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (minute);
ALTER TABLE host_usage_minute ADD PRIMARY KEY (host_id, minute);
CREATE TRIGGER host_usage_minute_dirty AFTER INSERT ON host_usage_minute
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vm_mark_dirty();

ALTER TABLE vm_usage_loss RENAME TO vm_usage_loss_s4;
ALTER INDEX vm_usage_loss_pkey RENAME TO vm_usage_loss_s4_pkey;
CREATE TABLE vm_usage_loss (LIKE vm_usage_loss_s4 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (minute);
ALTER TABLE vm_usage_loss ADD PRIMARY KEY (vm_id, minute, host_id);
CREATE INDEX vm_usage_loss_minute ON vm_usage_loss USING brin (minute);
CREATE TRIGGER vm_usage_loss_dirty AFTER INSERT ON vm_usage_loss
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vm_mark_dirty();

ALTER TABLE vm_traffic_minute RENAME TO vm_traffic_minute_s4;
ALTER INDEX vm_traffic_minute_pkey RENAME TO vm_traffic_minute_s4_pkey;
ALTER INDEX vm_traffic_minute_minute RENAME TO vm_traffic_minute_s4_minute;
CREATE TABLE vm_traffic_minute (LIKE vm_traffic_minute_s4 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (minute);
ALTER TABLE vm_traffic_minute ADD PRIMARY KEY (vm_id, minute, host_id, class);
CREATE INDEX vm_traffic_minute_minute ON vm_traffic_minute USING brin (minute);
CREATE TRIGGER vm_traffic_minute_dirty AFTER INSERT ON vm_traffic_minute
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vm_mark_dirty();

ALTER TABLE vm_capture_minute RENAME TO vm_capture_minute_s4;
ALTER INDEX vm_capture_minute_pkey RENAME TO vm_capture_minute_s4_pkey;
CREATE TABLE vm_capture_minute (LIKE vm_capture_minute_s4 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (minute);
ALTER TABLE vm_capture_minute ADD PRIMARY KEY (vm_id, minute, host_id);
CREATE INDEX vm_capture_minute_minute ON vm_capture_minute USING brin (minute);

ALTER TABLE host_capture_minute RENAME TO host_capture_minute_s4;
ALTER INDEX host_capture_minute_pkey RENAME TO host_capture_minute_s4_pkey;
CREATE TABLE host_capture_minute (LIKE host_capture_minute_s4 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (minute);
ALTER TABLE host_capture_minute ADD PRIMARY KEY (host_id, minute);

SELECT vm_ensure_partitions(
    least((SELECT min(minute) FROM vm_usage_minute_s4), (SELECT min(minute) FROM host_usage_minute_s4),
          (SELECT min(minute) FROM vm_usage_loss_s4), (SELECT min(minute) FROM vm_traffic_minute_s4),
          (SELECT min(minute) FROM vm_capture_minute_s4), (SELECT min(minute) FROM host_capture_minute_s4),
          now() - interval '1 day'),
    greatest((SELECT max(minute) FROM vm_usage_minute_s4), (SELECT max(minute) FROM host_usage_minute_s4),
             (SELECT max(minute) FROM vm_usage_loss_s4), (SELECT max(minute) FROM vm_traffic_minute_s4),
             (SELECT max(minute) FROM vm_capture_minute_s4), (SELECT max(minute) FROM host_capture_minute_s4),
             now() + interval '7 days'));

SELECT vm_mark_hours('vm_usage_minute', host_id, array_agg(DISTINCT date_trunc('hour', minute, 'UTC')))
  FROM vm_usage_minute_s4 GROUP BY host_id;

INSERT INTO vm_usage_minute SELECT * FROM vm_usage_minute_s4;
INSERT INTO host_usage_minute SELECT * FROM host_usage_minute_s4;
INSERT INTO vm_usage_loss SELECT * FROM vm_usage_loss_s4;
INSERT INTO vm_traffic_minute SELECT * FROM vm_traffic_minute_s4;
INSERT INTO vm_capture_minute SELECT * FROM vm_capture_minute_s4;
INSERT INTO host_capture_minute SELECT * FROM host_capture_minute_s4;

DROP TABLE vm_usage_minute_s4;
DROP TABLE host_usage_minute_s4;
DROP TABLE vm_usage_loss_s4;
DROP TABLE vm_traffic_minute_s4;
DROP TABLE vm_capture_minute_s4;
DROP TABLE host_capture_minute_s4;

-- The tables were made anew: a collector role set up by
-- sql/roles/vmeter_collector.sql keeps its privileges on them.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vmeter_collector') THEN
        GRANT SELECT, INSERT ON vm_usage_minute, host_usage_minute, vm_usage_loss, vm_capture_minute,
            vm_traffic_minute, host_capture_minute TO vmeter_collector;
    END IF;
END
$$;

CREATE VIEW vm_capture_coverage AS
SELECT c.*,
       CASE WHEN c.libvirt_rx_bytes > 0
            THEN round(100.0 * (c.libvirt_rx_bytes - c.captured_rx_bytes) / c.libvirt_rx_bytes, 2) END
           AS rx_unclassified_pct,
       CASE WHEN c.libvirt_tx_bytes > 0
            THEN round(100.0 * (c.libvirt_tx_bytes - c.captured_tx_bytes) / c.libvirt_tx_bytes, 2) END
           AS tx_unclassified_pct
  FROM vm_capture_minute c;


-- Recomputes one hour of one host (0: all hosts), and the day it belongs
-- to, from the minutes.  The caller runs it in a transaction of its own
-- per hour; the dirty marks are deleted first, so that a late row committed
-- while this runs waits for it and marks the hour again.
CREATE FUNCTION vm_rollup_hour(p_hour timestamptz, p_host int) RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    t1 timestamptz := p_hour + interval '1 hour';
    d0 timestamptz := date_trunc('day', p_hour, 'UTC');
    d1 timestamptz := date_trunc('day', p_hour, 'UTC') + interval '1 day';
    n bigint;
BEGIN
    IF date_trunc('hour', p_hour, 'UTC') <> p_hour THEN
        RAISE EXCEPTION 'vm_rollup_hour: % is not the start of a UTC hour', p_hour;
    END IF;
    DELETE FROM rollup_dirty WHERE hour = p_hour AND (p_host = 0 OR host_id = p_host);
    PERFORM vm_ensure_partitions(p_hour, p_hour, ARRAY['hourly', 'daily']);

    DELETE FROM vm_usage_hour WHERE hour = p_hour AND (p_host = 0 OR host_id = p_host);
    INSERT INTO vm_usage_hour (vm_id, host_id, hour, owner_id, minutes, coverage_ms, samples, late,
           cpu_ns, cpu_user_ns, cpu_system_ns, vcpu_ns, vcpu_delay_ns, vcpu_wait_ns, running_ms,
           disk_rd_bytes, disk_wr_bytes, disk_rd_reqs, disk_wr_reqs, disk_rd_ns, disk_wr_ns,
           disk_fl_reqs, disk_fl_ns, net_rx_bytes, net_tx_bytes, net_rx_pkts, net_tx_pkts,
           net_rx_errs, net_tx_errs, net_rx_drop, net_tx_drop, vcpus_int, vcpus_ms, vcpus_max,
           mem_max_kib_int, mem_max_kib_ms, mem_max_kib_max, balloon_kib_int, balloon_kib_ms,
           balloon_kib_max, rss_kib_int, rss_kib_ms, rss_kib_max, usable_kib_int, usable_kib_ms,
           usable_kib_max, available_kib_int, available_kib_ms, available_kib_max, unused_kib_int,
           unused_kib_ms, unused_kib_max, disk_capacity_bytes_int, disk_capacity_bytes_ms,
           disk_capacity_bytes_max, disk_allocation_bytes_int, disk_allocation_bytes_ms,
           disk_allocation_bytes_max)
    SELECT m.vm_id, m.host_id, p_hour, coalesce(s.owner_id, 0), count(*), sum(m.coverage_ms), sum(m.samples),
           sum(m.late),
           sum(m.cpu_ns)::bigint, sum(m.cpu_user_ns)::bigint, sum(m.cpu_system_ns)::bigint,
           sum(m.vcpu_ns)::bigint, sum(m.vcpu_delay_ns)::bigint, sum(m.vcpu_wait_ns)::bigint,
           sum(m.running_ms)::bigint, sum(m.disk_rd_bytes)::bigint, sum(m.disk_wr_bytes)::bigint,
           sum(m.disk_rd_reqs)::bigint, sum(m.disk_wr_reqs)::bigint, sum(m.disk_rd_ns)::bigint,
           sum(m.disk_wr_ns)::bigint, sum(m.disk_fl_reqs)::bigint, sum(m.disk_fl_ns)::bigint,
           sum(m.net_rx_bytes)::bigint, sum(m.net_tx_bytes)::bigint, sum(m.net_rx_pkts)::bigint,
           sum(m.net_tx_pkts)::bigint, sum(m.net_rx_errs)::bigint, sum(m.net_tx_errs)::bigint,
           sum(m.net_rx_drop)::bigint, sum(m.net_tx_drop)::bigint,
           sum(m.vcpus_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.vcpus_avg IS NOT NULL), max(m.vcpus_max),
           sum(m.mem_max_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.mem_max_kib_avg IS NOT NULL), max(m.mem_max_kib_max),
           sum(m.balloon_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.balloon_kib_avg IS NOT NULL), max(m.balloon_kib_max),
           sum(m.rss_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.rss_kib_avg IS NOT NULL), max(m.rss_kib_max),
           sum(m.usable_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.usable_kib_avg IS NOT NULL), max(m.usable_kib_max),
           sum(m.available_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.available_kib_avg IS NOT NULL),
           max(m.available_kib_max), sum(m.unused_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.unused_kib_avg IS NOT NULL), max(m.unused_kib_max),
           sum(m.disk_capacity_bytes_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.disk_capacity_bytes_avg IS NOT NULL),
           max(m.disk_capacity_bytes_max),
           sum(m.disk_allocation_bytes_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.disk_allocation_bytes_avg IS NOT NULL),
           max(m.disk_allocation_bytes_max)
      FROM vm_usage_minute m
      LEFT JOIN vm_owner_span s
        ON s.vm_id = m.vm_id AND m.minute + interval '30 seconds' >= s.span_from
       AND m.minute + interval '30 seconds' < s.span_to
     WHERE m.minute >= p_hour AND m.minute < t1 AND (p_host = 0 OR m.host_id = p_host)
     GROUP BY m.vm_id, m.host_id, coalesce(s.owner_id, 0);
    GET DIAGNOSTICS n = ROW_COUNT;

    INSERT INTO vm_usage_hour (vm_id, host_id, hour, owner_id, minutes, coverage_ms, samples, late, lost_ms)
    SELECT l.vm_id, l.host_id, p_hour, coalesce(s.owner_id, 0), 0, 0, 0, 0, sum(l.lost_ms)
      FROM vm_usage_loss l
      LEFT JOIN vm_owner_span s
        ON s.vm_id = l.vm_id AND l.minute + interval '30 seconds' >= s.span_from
       AND l.minute + interval '30 seconds' < s.span_to
     WHERE l.minute >= p_hour AND l.minute < t1 AND (p_host = 0 OR l.host_id = p_host)
     GROUP BY l.vm_id, l.host_id, coalesce(s.owner_id, 0)
    ON CONFLICT (vm_id, hour, host_id, owner_id) DO UPDATE SET lost_ms = EXCLUDED.lost_ms;

    DELETE FROM vm_traffic_hour WHERE hour = p_hour AND (p_host = 0 OR host_id = p_host);
    INSERT INTO vm_traffic_hour (vm_id, host_id, hour, owner_id, class, minutes, rx_bytes, tx_bytes,
                                 rx_packets, tx_packets)
    SELECT t.vm_id, t.host_id, p_hour, coalesce(s.owner_id, 0), t.class, count(*), sum(t.rx_bytes),
           sum(t.tx_bytes), sum(t.rx_packets), sum(t.tx_packets)
      FROM vm_traffic_minute t
      LEFT JOIN vm_owner_span s
        ON s.vm_id = t.vm_id AND t.minute + interval '30 seconds' >= s.span_from
       AND t.minute + interval '30 seconds' < s.span_to
     WHERE t.minute >= p_hour AND t.minute < t1 AND (p_host = 0 OR t.host_id = p_host)
     GROUP BY t.vm_id, t.host_id, coalesce(s.owner_id, 0), t.class;

    DELETE FROM host_usage_hour WHERE hour = p_hour AND (p_host = 0 OR host_id = p_host);
    INSERT INTO host_usage_hour (host_id, hour, minutes, coverage_ms, samples, late,
           cpu_capacity_ns, cpu_busy_ns, cpu_user_ns, cpu_system_ns, cpu_iowait_ns, cpu_idle_ns,
           cpus_int, cpus_ms, cpus_max, mem_total_kib_int, mem_total_kib_ms, mem_total_kib_max,
           mem_free_kib_int, mem_free_kib_ms, mem_free_kib_max, mem_cached_kib_int,
           mem_cached_kib_ms, mem_cached_kib_max, vms_running_int, vms_running_ms, vms_running_max,
           vcpus_running_int, vcpus_running_ms, vcpus_running_max, vm_mem_kib_int, vm_mem_kib_ms,
           vm_mem_kib_max)
    SELECT m.host_id, p_hour, count(*), sum(m.coverage_ms), sum(m.samples), sum(m.late),
           sum(m.cpu_capacity_ns)::bigint, sum(m.cpu_busy_ns)::bigint, sum(m.cpu_user_ns)::bigint,
           sum(m.cpu_system_ns)::bigint, sum(m.cpu_iowait_ns)::bigint, sum(m.cpu_idle_ns)::bigint,
           sum(m.cpus_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.cpus_avg IS NOT NULL), max(m.cpus_max),
           sum(m.mem_total_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.mem_total_kib_avg IS NOT NULL),
           max(m.mem_total_kib_max), sum(m.mem_free_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.mem_free_kib_avg IS NOT NULL),
           max(m.mem_free_kib_max), sum(m.mem_cached_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.mem_cached_kib_avg IS NOT NULL),
           max(m.mem_cached_kib_max), sum(m.vms_running_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.vms_running_avg IS NOT NULL), max(m.vms_running_max),
           sum(m.vcpus_running_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.vcpus_running_avg IS NOT NULL),
           max(m.vcpus_running_max), sum(m.vm_mem_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.vm_mem_kib_avg IS NOT NULL), max(m.vm_mem_kib_max)
      FROM host_usage_minute m
     WHERE m.minute >= p_hour AND m.minute < t1 AND (p_host = 0 OR m.host_id = p_host)
     GROUP BY m.host_id;

    -- The day, from its hours (those not rolled up yet add nothing; the
    -- day is used by readers only when none of its hours is dirty).
    DELETE FROM vm_usage_day WHERE day = d0 AND (p_host = 0 OR host_id = p_host);
    INSERT INTO vm_usage_day (vm_id, host_id, day, owner_id, minutes, coverage_ms, samples, late, lost_ms,
           cpu_ns, cpu_user_ns, cpu_system_ns, vcpu_ns, vcpu_delay_ns, vcpu_wait_ns, running_ms,
           disk_rd_bytes, disk_wr_bytes, disk_rd_reqs, disk_wr_reqs, disk_rd_ns, disk_wr_ns,
           disk_fl_reqs, disk_fl_ns, net_rx_bytes, net_tx_bytes, net_rx_pkts, net_tx_pkts,
           net_rx_errs, net_tx_errs, net_rx_drop, net_tx_drop, vcpus_int, vcpus_ms, vcpus_max,
           mem_max_kib_int, mem_max_kib_ms, mem_max_kib_max, balloon_kib_int, balloon_kib_ms,
           balloon_kib_max, rss_kib_int, rss_kib_ms, rss_kib_max, usable_kib_int, usable_kib_ms,
           usable_kib_max, available_kib_int, available_kib_ms, available_kib_max, unused_kib_int,
           unused_kib_ms, unused_kib_max, disk_capacity_bytes_int, disk_capacity_bytes_ms,
           disk_capacity_bytes_max, disk_allocation_bytes_int, disk_allocation_bytes_ms,
           disk_allocation_bytes_max)
    SELECT r.vm_id, r.host_id, d0, r.owner_id, sum(r.minutes), sum(r.coverage_ms), sum(r.samples), sum(r.late),
           sum(r.lost_ms),
           sum(r.cpu_ns)::bigint, sum(r.cpu_user_ns)::bigint, sum(r.cpu_system_ns)::bigint,
           sum(r.vcpu_ns)::bigint, sum(r.vcpu_delay_ns)::bigint, sum(r.vcpu_wait_ns)::bigint,
           sum(r.running_ms)::bigint, sum(r.disk_rd_bytes)::bigint, sum(r.disk_wr_bytes)::bigint,
           sum(r.disk_rd_reqs)::bigint, sum(r.disk_wr_reqs)::bigint, sum(r.disk_rd_ns)::bigint,
           sum(r.disk_wr_ns)::bigint, sum(r.disk_fl_reqs)::bigint, sum(r.disk_fl_ns)::bigint,
           sum(r.net_rx_bytes)::bigint, sum(r.net_tx_bytes)::bigint, sum(r.net_rx_pkts)::bigint,
           sum(r.net_tx_pkts)::bigint, sum(r.net_rx_errs)::bigint, sum(r.net_tx_errs)::bigint,
           sum(r.net_rx_drop)::bigint, sum(r.net_tx_drop)::bigint, sum(r.vcpus_int),
           sum(r.vcpus_ms)::bigint, max(r.vcpus_max), sum(r.mem_max_kib_int),
           sum(r.mem_max_kib_ms)::bigint, max(r.mem_max_kib_max), sum(r.balloon_kib_int),
           sum(r.balloon_kib_ms)::bigint, max(r.balloon_kib_max), sum(r.rss_kib_int),
           sum(r.rss_kib_ms)::bigint, max(r.rss_kib_max), sum(r.usable_kib_int),
           sum(r.usable_kib_ms)::bigint, max(r.usable_kib_max), sum(r.available_kib_int),
           sum(r.available_kib_ms)::bigint, max(r.available_kib_max), sum(r.unused_kib_int),
           sum(r.unused_kib_ms)::bigint, max(r.unused_kib_max), sum(r.disk_capacity_bytes_int),
           sum(r.disk_capacity_bytes_ms)::bigint, max(r.disk_capacity_bytes_max),
           sum(r.disk_allocation_bytes_int), sum(r.disk_allocation_bytes_ms)::bigint,
           max(r.disk_allocation_bytes_max)
      FROM vm_usage_hour r
     WHERE r.hour >= d0 AND r.hour < d1 AND (p_host = 0 OR r.host_id = p_host)
     GROUP BY r.vm_id, r.host_id, r.owner_id;

    DELETE FROM owner_usage_day WHERE day = d0;
    INSERT INTO owner_usage_day (owner_id, day, minutes, coverage_ms, samples, late, lost_ms,
           cpu_ns, cpu_user_ns, cpu_system_ns, vcpu_ns, vcpu_delay_ns, vcpu_wait_ns, running_ms,
           disk_rd_bytes, disk_wr_bytes, disk_rd_reqs, disk_wr_reqs, disk_rd_ns, disk_wr_ns,
           disk_fl_reqs, disk_fl_ns, net_rx_bytes, net_tx_bytes, net_rx_pkts, net_tx_pkts,
           net_rx_errs, net_tx_errs, net_rx_drop, net_tx_drop, vcpus_int, vcpus_ms, vcpus_max,
           mem_max_kib_int, mem_max_kib_ms, mem_max_kib_max, balloon_kib_int, balloon_kib_ms,
           balloon_kib_max, rss_kib_int, rss_kib_ms, rss_kib_max, usable_kib_int, usable_kib_ms,
           usable_kib_max, available_kib_int, available_kib_ms, available_kib_max, unused_kib_int,
           unused_kib_ms, unused_kib_max, disk_capacity_bytes_int, disk_capacity_bytes_ms,
           disk_capacity_bytes_max, disk_allocation_bytes_int, disk_allocation_bytes_ms,
           disk_allocation_bytes_max)
    SELECT r.owner_id, d0, sum(r.minutes), sum(r.coverage_ms), sum(r.samples), sum(r.late), sum(r.lost_ms),
           sum(r.cpu_ns)::bigint, sum(r.cpu_user_ns)::bigint, sum(r.cpu_system_ns)::bigint,
           sum(r.vcpu_ns)::bigint, sum(r.vcpu_delay_ns)::bigint, sum(r.vcpu_wait_ns)::bigint,
           sum(r.running_ms)::bigint, sum(r.disk_rd_bytes)::bigint, sum(r.disk_wr_bytes)::bigint,
           sum(r.disk_rd_reqs)::bigint, sum(r.disk_wr_reqs)::bigint, sum(r.disk_rd_ns)::bigint,
           sum(r.disk_wr_ns)::bigint, sum(r.disk_fl_reqs)::bigint, sum(r.disk_fl_ns)::bigint,
           sum(r.net_rx_bytes)::bigint, sum(r.net_tx_bytes)::bigint, sum(r.net_rx_pkts)::bigint,
           sum(r.net_tx_pkts)::bigint, sum(r.net_rx_errs)::bigint, sum(r.net_tx_errs)::bigint,
           sum(r.net_rx_drop)::bigint, sum(r.net_tx_drop)::bigint, sum(r.vcpus_int),
           sum(r.vcpus_ms)::bigint, max(r.vcpus_max), sum(r.mem_max_kib_int),
           sum(r.mem_max_kib_ms)::bigint, max(r.mem_max_kib_max), sum(r.balloon_kib_int),
           sum(r.balloon_kib_ms)::bigint, max(r.balloon_kib_max), sum(r.rss_kib_int),
           sum(r.rss_kib_ms)::bigint, max(r.rss_kib_max), sum(r.usable_kib_int),
           sum(r.usable_kib_ms)::bigint, max(r.usable_kib_max), sum(r.available_kib_int),
           sum(r.available_kib_ms)::bigint, max(r.available_kib_max), sum(r.unused_kib_int),
           sum(r.unused_kib_ms)::bigint, max(r.unused_kib_max), sum(r.disk_capacity_bytes_int),
           sum(r.disk_capacity_bytes_ms)::bigint, max(r.disk_capacity_bytes_max),
           sum(r.disk_allocation_bytes_int), sum(r.disk_allocation_bytes_ms)::bigint,
           max(r.disk_allocation_bytes_max)
      FROM vm_usage_day r
     WHERE r.day = d0
     GROUP BY r.owner_id;

    DELETE FROM vm_traffic_day WHERE day = d0 AND (p_host = 0 OR host_id = p_host);
    INSERT INTO vm_traffic_day (vm_id, host_id, day, owner_id, class, minutes, rx_bytes, tx_bytes,
                                rx_packets, tx_packets)
    SELECT r.vm_id, r.host_id, d0, r.owner_id, r.class, sum(r.minutes), sum(r.rx_bytes), sum(r.tx_bytes),
           sum(r.rx_packets), sum(r.tx_packets)
      FROM vm_traffic_hour r
     WHERE r.hour >= d0 AND r.hour < d1 AND (p_host = 0 OR r.host_id = p_host)
     GROUP BY r.vm_id, r.host_id, r.owner_id, r.class;

    DELETE FROM host_usage_day WHERE day = d0 AND (p_host = 0 OR host_id = p_host);
    INSERT INTO host_usage_day (host_id, day, minutes, coverage_ms, samples, late,
           cpu_capacity_ns, cpu_busy_ns, cpu_user_ns, cpu_system_ns, cpu_iowait_ns, cpu_idle_ns,
           cpus_int, cpus_ms, cpus_max, mem_total_kib_int, mem_total_kib_ms, mem_total_kib_max,
           mem_free_kib_int, mem_free_kib_ms, mem_free_kib_max, mem_cached_kib_int,
           mem_cached_kib_ms, mem_cached_kib_max, vms_running_int, vms_running_ms, vms_running_max,
           vcpus_running_int, vcpus_running_ms, vcpus_running_max, vm_mem_kib_int, vm_mem_kib_ms,
           vm_mem_kib_max)
    SELECT r.host_id, d0, sum(r.minutes), sum(r.coverage_ms), sum(r.samples), sum(r.late),
           sum(r.cpu_capacity_ns)::bigint, sum(r.cpu_busy_ns)::bigint, sum(r.cpu_user_ns)::bigint,
           sum(r.cpu_system_ns)::bigint, sum(r.cpu_iowait_ns)::bigint, sum(r.cpu_idle_ns)::bigint,
           sum(r.cpus_int), sum(r.cpus_ms)::bigint, max(r.cpus_max), sum(r.mem_total_kib_int),
           sum(r.mem_total_kib_ms)::bigint, max(r.mem_total_kib_max), sum(r.mem_free_kib_int),
           sum(r.mem_free_kib_ms)::bigint, max(r.mem_free_kib_max), sum(r.mem_cached_kib_int),
           sum(r.mem_cached_kib_ms)::bigint, max(r.mem_cached_kib_max), sum(r.vms_running_int),
           sum(r.vms_running_ms)::bigint, max(r.vms_running_max), sum(r.vcpus_running_int),
           sum(r.vcpus_running_ms)::bigint, max(r.vcpus_running_max), sum(r.vm_mem_kib_int),
           sum(r.vm_mem_kib_ms)::bigint, max(r.vm_mem_kib_max)
      FROM host_usage_hour r
     WHERE r.hour >= d0 AND r.hour < d1 AND (p_host = 0 OR r.host_id = p_host)
     GROUP BY r.host_id;
    RETURN n;
END
$$;

-- What a reader may take from rollups for [p_from, p_to): whole UTC days
-- and whole UTC hours that are closed and clean; the rest ("raw" spans,
-- at most one hour each) comes from the minutes.  Exact whatever the
-- rollups' progress, because a row and its dirty mark commit together.
CREATE FUNCTION vm_resolution_plan(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (kind text, span_from timestamptz, span_to timestamptz)
LANGUAGE sql STABLE AS $$
WITH st AS (SELECT closed_upto FROM rollup_state),
hours AS (
    SELECT h FROM generate_series(date_trunc('hour', p_from, 'UTC'), p_to, interval '1 hour') h WHERE h < p_to
),
clean AS (
    SELECT h.h,
           h.h >= p_from AND h.h + interval '1 hour' <= p_to
           AND h.h + interval '1 hour' <= (SELECT closed_upto FROM st)
           AND NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.hour = h.h) AS ok
      FROM hours h
),
days AS (
    SELECT date_trunc('day', h, 'UTC') AS d FROM clean GROUP BY 1 HAVING count(*) FILTER (WHERE ok) = 24
)
SELECT 'day', d, d + interval '1 day' FROM days WHERE vm_storage_check('daily', d)
UNION ALL
SELECT 'hour', h, h + interval '1 hour' FROM clean
 WHERE ok AND date_trunc('day', h, 'UTC') NOT IN (SELECT d FROM days) AND vm_storage_check('hourly', h)
UNION ALL
SELECT 'raw', greatest(h, p_from), least(h + interval '1 hour', p_to) FROM clean
 WHERE NOT ok AND vm_storage_check('raw', greatest(h, p_from))
$$;

-- Drops the partitions that retention no longer keeps at p_now: whole
-- partitions of our naming only, and minutes only once their hours are
-- rolled up.  Returns each partition considered old enough and what was
-- done with it.
CREATE FUNCTION vm_retention(p_now timestamptz)
RETURNS TABLE (partition_name text, action text)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    p record;
    c record;
    s timestamptz;
    e timestamptz;
    cutoff timestamptz;
    fmt text;
    closed timestamptz := (SELECT closed_upto FROM rollup_state);
BEGIN
    FOR p IN SELECT * FROM storage_policy WHERE keep_days IS NOT NULL ORDER BY class, parent LOOP
        cutoff := p_now - make_interval(days => p.keep_days);
        fmt := CASE p.unit WHEN 'day' THEN 'YYYYMMDD' WHEN 'month' THEN 'YYYYMM' ELSE 'YYYY' END;
        FOR c IN SELECT k.relname::text AS name
                   FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
                  WHERE i.inhparent = to_regclass(quote_ident(p.parent))
                    AND k.relname ~ ('^' || p.parent || '_p[0-9]{' || length(fmt) || '}$')
                  ORDER BY k.relname LOOP
            s := to_timestamp(right(c.name, length(fmt)), fmt)::timestamp AT TIME ZONE 'UTC';
            e := (s AT TIME ZONE 'UTC' + ('1 ' || p.unit)::interval) AT TIME ZONE 'UTC';
            CONTINUE WHEN e > cutoff;
            IF p.class = 'raw' AND (e > closed OR EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.hour >= s AND d.hour < e)) THEN
                partition_name := c.name;
                action := 'kept: its hours are not rolled up yet';
                RETURN NEXT;
                CONTINUE;
            END IF;
            EXECUTE format('DROP TABLE %I', c.name);
            UPDATE storage_horizon SET since = greatest(since, e) WHERE class = p.class;
            partition_name := c.name;
            action := 'dropped';
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;

-- Usage over [p_from, p_to) per VM, host and owner, optionally only of one
-- VM, one host, one tenant (and project): the rollup columns above, from
-- the finest resolution needed and no finer.
CREATE FUNCTION vm_usage_between(p_from timestamptz, p_to timestamptz, p_vm uuid DEFAULT NULL,
                                 p_host text DEFAULT NULL, p_tenant text DEFAULT NULL,
                                 p_project text DEFAULT NULL)
RETURNS TABLE (vm_id int, host_id int, owner_id int, minutes bigint, coverage_ms bigint, samples bigint,
               late bigint, lost_ms bigint,
    cpu_ns bigint, cpu_user_ns bigint, cpu_system_ns bigint, vcpu_ns bigint, vcpu_delay_ns bigint,
    vcpu_wait_ns bigint, running_ms bigint, disk_rd_bytes bigint, disk_wr_bytes bigint,
    disk_rd_reqs bigint, disk_wr_reqs bigint, disk_rd_ns bigint, disk_wr_ns bigint,
    disk_fl_reqs bigint, disk_fl_ns bigint, net_rx_bytes bigint, net_tx_bytes bigint,
    net_rx_pkts bigint, net_tx_pkts bigint, net_rx_errs bigint, net_tx_errs bigint,
    net_rx_drop bigint, net_tx_drop bigint, vcpus_int numeric, vcpus_ms bigint, vcpus_max bigint,
    mem_max_kib_int numeric, mem_max_kib_ms bigint, mem_max_kib_max bigint, balloon_kib_int numeric,
    balloon_kib_ms bigint, balloon_kib_max bigint, rss_kib_int numeric, rss_kib_ms bigint,
    rss_kib_max bigint, usable_kib_int numeric, usable_kib_ms bigint, usable_kib_max bigint,
    available_kib_int numeric, available_kib_ms bigint, available_kib_max bigint,
    unused_kib_int numeric, unused_kib_ms bigint, unused_kib_max bigint,
    disk_capacity_bytes_int numeric, disk_capacity_bytes_ms bigint, disk_capacity_bytes_max bigint,
    disk_allocation_bytes_int numeric, disk_allocation_bytes_ms bigint,
    disk_allocation_bytes_max bigint)
LANGUAGE sql STABLE AS $$
WITH plan AS MATERIALIZED (SELECT * FROM vm_resolution_plan(p_from, p_to)),
ids AS MATERIALIZED (
    SELECT (SELECT vm_id FROM vm WHERE uuid = p_vm) AS p_vm_id,
           (SELECT host_id FROM host WHERE hostname = p_host) AS p_host_id
),
owners AS MATERIALIZED (
    SELECT owner_id FROM owner
     WHERE (p_tenant IS NULL OR tenant = p_tenant) AND (p_project IS NULL OR project = p_project)
),
r AS (
    SELECT u.vm_id, u.host_id, u.owner_id, u.minutes::bigint AS minutes, u.coverage_ms, u.samples, u.late,
           u.lost_ms,
           cpu_ns, cpu_user_ns, cpu_system_ns, vcpu_ns, vcpu_delay_ns, vcpu_wait_ns, running_ms,
           disk_rd_bytes, disk_wr_bytes, disk_rd_reqs, disk_wr_reqs, disk_rd_ns, disk_wr_ns,
           disk_fl_reqs, disk_fl_ns, net_rx_bytes, net_tx_bytes, net_rx_pkts, net_tx_pkts,
           net_rx_errs, net_tx_errs, net_rx_drop, net_tx_drop, vcpus_int, vcpus_ms, vcpus_max,
           mem_max_kib_int, mem_max_kib_ms, mem_max_kib_max, balloon_kib_int, balloon_kib_ms,
           balloon_kib_max, rss_kib_int, rss_kib_ms, rss_kib_max, usable_kib_int, usable_kib_ms,
           usable_kib_max, available_kib_int, available_kib_ms, available_kib_max, unused_kib_int,
           unused_kib_ms, unused_kib_max, disk_capacity_bytes_int, disk_capacity_bytes_ms,
           disk_capacity_bytes_max, disk_allocation_bytes_int, disk_allocation_bytes_ms,
           disk_allocation_bytes_max
      FROM vm_usage_day u JOIN plan p ON p.kind = 'day' AND u.day = p.span_from
      JOIN owner o ON o.owner_id = u.owner_id
       AND (p_tenant IS NULL OR o.tenant = p_tenant) AND (p_project IS NULL OR o.project = p_project)
     WHERE u.day >= p_from AND u.day < p_to
       AND (p_vm IS NULL OR u.vm_id = (SELECT p_vm_id FROM ids)) AND (p_host IS NULL OR u.host_id = (SELECT p_host_id FROM ids))
    UNION ALL
    SELECT u.vm_id, u.host_id, u.owner_id, u.minutes, u.coverage_ms, u.samples, u.late, u.lost_ms,
           cpu_ns, cpu_user_ns, cpu_system_ns, vcpu_ns, vcpu_delay_ns, vcpu_wait_ns, running_ms,
           disk_rd_bytes, disk_wr_bytes, disk_rd_reqs, disk_wr_reqs, disk_rd_ns, disk_wr_ns,
           disk_fl_reqs, disk_fl_ns, net_rx_bytes, net_tx_bytes, net_rx_pkts, net_tx_pkts,
           net_rx_errs, net_tx_errs, net_rx_drop, net_tx_drop, vcpus_int, vcpus_ms, vcpus_max,
           mem_max_kib_int, mem_max_kib_ms, mem_max_kib_max, balloon_kib_int, balloon_kib_ms,
           balloon_kib_max, rss_kib_int, rss_kib_ms, rss_kib_max, usable_kib_int, usable_kib_ms,
           usable_kib_max, available_kib_int, available_kib_ms, available_kib_max, unused_kib_int,
           unused_kib_ms, unused_kib_max, disk_capacity_bytes_int, disk_capacity_bytes_ms,
           disk_capacity_bytes_max, disk_allocation_bytes_int, disk_allocation_bytes_ms,
           disk_allocation_bytes_max
      FROM vm_usage_hour u JOIN plan p ON p.kind = 'hour' AND u.hour = p.span_from
      JOIN owner o ON o.owner_id = u.owner_id
       AND (p_tenant IS NULL OR o.tenant = p_tenant) AND (p_project IS NULL OR o.project = p_project)
     WHERE u.hour >= p_from AND u.hour < p_to
       AND (p_vm IS NULL OR u.vm_id = (SELECT p_vm_id FROM ids)) AND (p_host IS NULL OR u.host_id = (SELECT p_host_id FROM ids))
    UNION ALL
    SELECT x.* FROM (
        SELECT m.vm_id, m.host_id, coalesce(s.owner_id, 0) AS owner_id, count(*) AS minutes,
               sum(m.coverage_ms)::bigint AS coverage_ms, sum(m.samples)::bigint AS samples,
               sum(m.late)::bigint AS late, 0::bigint AS lost_ms,
           sum(m.cpu_ns)::bigint, sum(m.cpu_user_ns)::bigint, sum(m.cpu_system_ns)::bigint,
           sum(m.vcpu_ns)::bigint, sum(m.vcpu_delay_ns)::bigint, sum(m.vcpu_wait_ns)::bigint,
           sum(m.running_ms)::bigint, sum(m.disk_rd_bytes)::bigint, sum(m.disk_wr_bytes)::bigint,
           sum(m.disk_rd_reqs)::bigint, sum(m.disk_wr_reqs)::bigint, sum(m.disk_rd_ns)::bigint,
           sum(m.disk_wr_ns)::bigint, sum(m.disk_fl_reqs)::bigint, sum(m.disk_fl_ns)::bigint,
           sum(m.net_rx_bytes)::bigint, sum(m.net_tx_bytes)::bigint, sum(m.net_rx_pkts)::bigint,
           sum(m.net_tx_pkts)::bigint, sum(m.net_rx_errs)::bigint, sum(m.net_tx_errs)::bigint,
           sum(m.net_rx_drop)::bigint, sum(m.net_tx_drop)::bigint,
           sum(m.vcpus_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.vcpus_avg IS NOT NULL), max(m.vcpus_max),
           sum(m.mem_max_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.mem_max_kib_avg IS NOT NULL), max(m.mem_max_kib_max),
           sum(m.balloon_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.balloon_kib_avg IS NOT NULL), max(m.balloon_kib_max),
           sum(m.rss_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.rss_kib_avg IS NOT NULL), max(m.rss_kib_max),
           sum(m.usable_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.usable_kib_avg IS NOT NULL), max(m.usable_kib_max),
           sum(m.available_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.available_kib_avg IS NOT NULL),
           max(m.available_kib_max), sum(m.unused_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.unused_kib_avg IS NOT NULL), max(m.unused_kib_max),
           sum(m.disk_capacity_bytes_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.disk_capacity_bytes_avg IS NOT NULL),
           max(m.disk_capacity_bytes_max),
           sum(m.disk_allocation_bytes_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.disk_allocation_bytes_avg IS NOT NULL),
           max(m.disk_allocation_bytes_max)
          FROM vm_usage_minute m
          JOIN plan p ON p.kind = 'raw' AND m.minute >= p.span_from AND m.minute < p.span_to
          LEFT JOIN vm_owner_span s
            ON s.vm_id = m.vm_id AND m.minute + interval '30 seconds' >= s.span_from
           AND m.minute + interval '30 seconds' < s.span_to
         WHERE m.minute >= p_from AND m.minute < p_to
           AND (p_vm IS NULL OR m.vm_id = (SELECT p_vm_id FROM ids)) AND (p_host IS NULL OR m.host_id = (SELECT p_host_id FROM ids))
         GROUP BY m.vm_id, m.host_id, coalesce(s.owner_id, 0)
        UNION ALL
        SELECT l.vm_id, l.host_id, coalesce(s.owner_id, 0), 0, 0, 0, 0, sum(l.lost_ms)::bigint,
               NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
               NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
               NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
               NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::numeric,
               NULL::bigint, NULL::bigint, NULL::numeric, NULL::bigint, NULL::bigint, NULL::numeric,
               NULL::bigint, NULL::bigint, NULL::numeric, NULL::bigint, NULL::bigint, NULL::numeric,
               NULL::bigint, NULL::bigint, NULL::numeric, NULL::bigint, NULL::bigint, NULL::numeric,
               NULL::bigint, NULL::bigint, NULL::numeric, NULL::bigint, NULL::bigint, NULL::numeric,
               NULL::bigint, NULL::bigint
          FROM vm_usage_loss l
          JOIN plan p ON p.kind = 'raw' AND l.minute >= p.span_from AND l.minute < p.span_to
          LEFT JOIN vm_owner_span s
            ON s.vm_id = l.vm_id AND l.minute + interval '30 seconds' >= s.span_from
           AND l.minute + interval '30 seconds' < s.span_to
         WHERE l.minute >= p_from AND l.minute < p_to
           AND (p_vm IS NULL OR l.vm_id = (SELECT p_vm_id FROM ids)) AND (p_host IS NULL OR l.host_id = (SELECT p_host_id FROM ids))
         GROUP BY l.vm_id, l.host_id, coalesce(s.owner_id, 0)
    ) x WHERE (p_tenant IS NULL AND p_project IS NULL) OR x.owner_id IN (SELECT owner_id FROM owners)
)
SELECT r.vm_id, r.host_id, r.owner_id, sum(r.minutes)::bigint, sum(r.coverage_ms)::bigint,
       sum(r.samples)::bigint, sum(r.late)::bigint, sum(r.lost_ms)::bigint,
           sum(r.cpu_ns)::bigint, sum(r.cpu_user_ns)::bigint, sum(r.cpu_system_ns)::bigint,
           sum(r.vcpu_ns)::bigint, sum(r.vcpu_delay_ns)::bigint, sum(r.vcpu_wait_ns)::bigint,
           sum(r.running_ms)::bigint, sum(r.disk_rd_bytes)::bigint, sum(r.disk_wr_bytes)::bigint,
           sum(r.disk_rd_reqs)::bigint, sum(r.disk_wr_reqs)::bigint, sum(r.disk_rd_ns)::bigint,
           sum(r.disk_wr_ns)::bigint, sum(r.disk_fl_reqs)::bigint, sum(r.disk_fl_ns)::bigint,
           sum(r.net_rx_bytes)::bigint, sum(r.net_tx_bytes)::bigint, sum(r.net_rx_pkts)::bigint,
           sum(r.net_tx_pkts)::bigint, sum(r.net_rx_errs)::bigint, sum(r.net_tx_errs)::bigint,
           sum(r.net_rx_drop)::bigint, sum(r.net_tx_drop)::bigint, sum(r.vcpus_int),
           sum(r.vcpus_ms)::bigint, max(r.vcpus_max), sum(r.mem_max_kib_int),
           sum(r.mem_max_kib_ms)::bigint, max(r.mem_max_kib_max), sum(r.balloon_kib_int),
           sum(r.balloon_kib_ms)::bigint, max(r.balloon_kib_max), sum(r.rss_kib_int),
           sum(r.rss_kib_ms)::bigint, max(r.rss_kib_max), sum(r.usable_kib_int),
           sum(r.usable_kib_ms)::bigint, max(r.usable_kib_max), sum(r.available_kib_int),
           sum(r.available_kib_ms)::bigint, max(r.available_kib_max), sum(r.unused_kib_int),
           sum(r.unused_kib_ms)::bigint, max(r.unused_kib_max), sum(r.disk_capacity_bytes_int),
           sum(r.disk_capacity_bytes_ms)::bigint, max(r.disk_capacity_bytes_max),
           sum(r.disk_allocation_bytes_int), sum(r.disk_allocation_bytes_ms)::bigint,
           max(r.disk_allocation_bytes_max)
  FROM r GROUP BY r.vm_id, r.host_id, r.owner_id
$$;

-- Traffic by class over [p_from, p_to), likewise.
CREATE FUNCTION vm_traffic_between(p_from timestamptz, p_to timestamptz, p_vm uuid DEFAULT NULL,
                                   p_host text DEFAULT NULL, p_tenant text DEFAULT NULL,
                                   p_project text DEFAULT NULL)
RETURNS TABLE (vm_id int, host_id int, owner_id int, class text, minutes bigint, rx_bytes bigint,
               tx_bytes bigint, rx_packets bigint, tx_packets bigint)
LANGUAGE sql STABLE AS $$
WITH plan AS MATERIALIZED (SELECT * FROM vm_resolution_plan(p_from, p_to)),
ids AS MATERIALIZED (
    SELECT (SELECT vm_id FROM vm WHERE uuid = p_vm) AS p_vm_id,
           (SELECT host_id FROM host WHERE hostname = p_host) AS p_host_id
),
owners AS MATERIALIZED (
    SELECT owner_id FROM owner
     WHERE (p_tenant IS NULL OR tenant = p_tenant) AND (p_project IS NULL OR project = p_project)
),
r AS (
    SELECT u.vm_id, u.host_id, u.owner_id, u.class, u.minutes::bigint AS minutes, u.rx_bytes, u.tx_bytes,
           u.rx_packets, u.tx_packets
      FROM vm_traffic_day u JOIN plan p ON p.kind = 'day' AND u.day = p.span_from
      JOIN owner o ON o.owner_id = u.owner_id
       AND (p_tenant IS NULL OR o.tenant = p_tenant) AND (p_project IS NULL OR o.project = p_project)
     WHERE u.day >= p_from AND u.day < p_to
       AND (p_vm IS NULL OR u.vm_id = (SELECT p_vm_id FROM ids)) AND (p_host IS NULL OR u.host_id = (SELECT p_host_id FROM ids))
    UNION ALL
    SELECT u.vm_id, u.host_id, u.owner_id, u.class, u.minutes, u.rx_bytes, u.tx_bytes, u.rx_packets,
           u.tx_packets
      FROM vm_traffic_hour u JOIN plan p ON p.kind = 'hour' AND u.hour = p.span_from
      JOIN owner o ON o.owner_id = u.owner_id
       AND (p_tenant IS NULL OR o.tenant = p_tenant) AND (p_project IS NULL OR o.project = p_project)
     WHERE u.hour >= p_from AND u.hour < p_to
       AND (p_vm IS NULL OR u.vm_id = (SELECT p_vm_id FROM ids)) AND (p_host IS NULL OR u.host_id = (SELECT p_host_id FROM ids))
    UNION ALL
    SELECT x.* FROM (
        SELECT t.vm_id, t.host_id, coalesce(s.owner_id, 0) AS owner_id, t.class, 1::bigint AS minutes,
               t.rx_bytes, t.tx_bytes, t.rx_packets, t.tx_packets
          FROM vm_traffic_minute t
          JOIN plan p ON p.kind = 'raw' AND t.minute >= p.span_from AND t.minute < p.span_to
          LEFT JOIN vm_owner_span s
            ON s.vm_id = t.vm_id AND t.minute + interval '30 seconds' >= s.span_from
           AND t.minute + interval '30 seconds' < s.span_to
         WHERE t.minute >= p_from AND t.minute < p_to
           AND (p_vm IS NULL OR t.vm_id = (SELECT p_vm_id FROM ids)) AND (p_host IS NULL OR t.host_id = (SELECT p_host_id FROM ids))
    ) x WHERE (p_tenant IS NULL AND p_project IS NULL) OR x.owner_id IN (SELECT owner_id FROM owners)
)
SELECT r.vm_id, r.host_id, r.owner_id, r.class, sum(r.minutes)::bigint, sum(r.rx_bytes)::bigint,
       sum(r.tx_bytes)::bigint, sum(r.rx_packets)::bigint, sum(r.tx_packets)::bigint
  FROM r
 GROUP BY r.vm_id, r.host_id, r.owner_id, r.class
$$;

-- A host's usage over [p_from, p_to), likewise.
CREATE FUNCTION host_usage_between(p_from timestamptz, p_to timestamptz, p_host text DEFAULT NULL)
RETURNS TABLE (host_id int, minutes bigint, coverage_ms bigint, samples bigint, late bigint,
    cpu_capacity_ns bigint, cpu_busy_ns bigint, cpu_user_ns bigint, cpu_system_ns bigint,
    cpu_iowait_ns bigint, cpu_idle_ns bigint, cpus_int numeric, cpus_ms bigint, cpus_max bigint,
    mem_total_kib_int numeric, mem_total_kib_ms bigint, mem_total_kib_max bigint,
    mem_free_kib_int numeric, mem_free_kib_ms bigint, mem_free_kib_max bigint,
    mem_cached_kib_int numeric, mem_cached_kib_ms bigint, mem_cached_kib_max bigint,
    vms_running_int numeric, vms_running_ms bigint, vms_running_max bigint,
    vcpus_running_int numeric, vcpus_running_ms bigint, vcpus_running_max bigint,
    vm_mem_kib_int numeric, vm_mem_kib_ms bigint, vm_mem_kib_max bigint)
LANGUAGE sql STABLE AS $$
WITH plan AS MATERIALIZED (SELECT * FROM vm_resolution_plan(p_from, p_to)),
ids AS MATERIALIZED (
    SELECT (SELECT host_id FROM host WHERE hostname = p_host) AS p_host_id
),
r AS (
    SELECT u.host_id, u.minutes::bigint AS minutes, u.coverage_ms, u.samples, u.late,
           cpu_capacity_ns, cpu_busy_ns, cpu_user_ns, cpu_system_ns, cpu_iowait_ns, cpu_idle_ns,
           cpus_int, cpus_ms, cpus_max, mem_total_kib_int, mem_total_kib_ms, mem_total_kib_max,
           mem_free_kib_int, mem_free_kib_ms, mem_free_kib_max, mem_cached_kib_int,
           mem_cached_kib_ms, mem_cached_kib_max, vms_running_int, vms_running_ms, vms_running_max,
           vcpus_running_int, vcpus_running_ms, vcpus_running_max, vm_mem_kib_int, vm_mem_kib_ms,
           vm_mem_kib_max
      FROM host_usage_day u JOIN plan p ON p.kind = 'day' AND u.day = p.span_from
     WHERE p_host IS NULL OR u.host_id = (SELECT p_host_id FROM ids)
    UNION ALL
    SELECT u.host_id, u.minutes, u.coverage_ms, u.samples, u.late,
           cpu_capacity_ns, cpu_busy_ns, cpu_user_ns, cpu_system_ns, cpu_iowait_ns, cpu_idle_ns,
           cpus_int, cpus_ms, cpus_max, mem_total_kib_int, mem_total_kib_ms, mem_total_kib_max,
           mem_free_kib_int, mem_free_kib_ms, mem_free_kib_max, mem_cached_kib_int,
           mem_cached_kib_ms, mem_cached_kib_max, vms_running_int, vms_running_ms, vms_running_max,
           vcpus_running_int, vcpus_running_ms, vcpus_running_max, vm_mem_kib_int, vm_mem_kib_ms,
           vm_mem_kib_max
      FROM host_usage_hour u JOIN plan p ON p.kind = 'hour' AND u.hour = p.span_from
     WHERE p_host IS NULL OR u.host_id = (SELECT p_host_id FROM ids)
    UNION ALL
    SELECT m.host_id, count(*), sum(m.coverage_ms)::bigint, sum(m.samples)::bigint, sum(m.late)::bigint,
           sum(m.cpu_capacity_ns)::bigint, sum(m.cpu_busy_ns)::bigint, sum(m.cpu_user_ns)::bigint,
           sum(m.cpu_system_ns)::bigint, sum(m.cpu_iowait_ns)::bigint, sum(m.cpu_idle_ns)::bigint,
           sum(m.cpus_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.cpus_avg IS NOT NULL), max(m.cpus_max),
           sum(m.mem_total_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.mem_total_kib_avg IS NOT NULL),
           max(m.mem_total_kib_max), sum(m.mem_free_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.mem_free_kib_avg IS NOT NULL),
           max(m.mem_free_kib_max), sum(m.mem_cached_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.mem_cached_kib_avg IS NOT NULL),
           max(m.mem_cached_kib_max), sum(m.vms_running_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.vms_running_avg IS NOT NULL), max(m.vms_running_max),
           sum(m.vcpus_running_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.vcpus_running_avg IS NOT NULL),
           max(m.vcpus_running_max), sum(m.vm_mem_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.vm_mem_kib_avg IS NOT NULL), max(m.vm_mem_kib_max)
      FROM host_usage_minute m
      JOIN plan p ON p.kind = 'raw' AND m.minute >= p.span_from AND m.minute < p.span_to
     WHERE p_host IS NULL OR m.host_id = (SELECT p_host_id FROM ids)
     GROUP BY m.host_id
)
SELECT r.host_id, sum(r.minutes)::bigint, sum(r.coverage_ms)::bigint, sum(r.samples)::bigint, sum(r.late)::bigint,
           sum(r.cpu_capacity_ns)::bigint, sum(r.cpu_busy_ns)::bigint, sum(r.cpu_user_ns)::bigint,
           sum(r.cpu_system_ns)::bigint, sum(r.cpu_iowait_ns)::bigint, sum(r.cpu_idle_ns)::bigint,
           sum(r.cpus_int), sum(r.cpus_ms)::bigint, max(r.cpus_max), sum(r.mem_total_kib_int),
           sum(r.mem_total_kib_ms)::bigint, max(r.mem_total_kib_max), sum(r.mem_free_kib_int),
           sum(r.mem_free_kib_ms)::bigint, max(r.mem_free_kib_max), sum(r.mem_cached_kib_int),
           sum(r.mem_cached_kib_ms)::bigint, max(r.mem_cached_kib_max), sum(r.vms_running_int),
           sum(r.vms_running_ms)::bigint, max(r.vms_running_max), sum(r.vcpus_running_int),
           sum(r.vcpus_running_ms)::bigint, max(r.vcpus_running_max), sum(r.vm_mem_kib_int),
           sum(r.vm_mem_kib_ms)::bigint, max(r.vm_mem_kib_max)
  FROM r GROUP BY r.host_id
$$;

-- What each VM was doing over [p_from, p_to), from its lifecycle events:
-- 'running' (started, resumed), 'paused' (suspended, pmsuspended), 'off'
-- (stopped, shutdown, crashed, or defined and not started yet), 'gone'
-- (undefined); a 'defined' event while running is a change of
-- configuration and keeps the state.  Spans are clipped to the range; a
-- VM's state before its first event is unknown and not returned.
CREATE FUNCTION vm_lifecycle_between(p_from timestamptz, p_to timestamptz, p_vm uuid DEFAULT NULL)
RETURNS TABLE (vm_id int, host_id int, state text, span_from timestamptz, span_to timestamptz)
LANGUAGE sql STABLE AS $$
WITH ev AS (
    SELECT e.vm_id, e.host_id, e.at,
           CASE WHEN e.event IN ('started', 'resumed') THEN 'running'
                WHEN e.event IN ('suspended', 'pmsuspended') THEN 'paused'
                WHEN e.event IN ('stopped', 'shutdown', 'crashed') THEN 'off'
                WHEN e.event = 'undefined' THEN 'gone'
                WHEN e.event = 'defined' THEN 'defined' END AS effect,
           row_number() OVER (PARTITION BY e.vm_id ORDER BY e.at,
               CASE e.event WHEN 'defined' THEN 0 WHEN 'resumed' THEN 1 WHEN 'started' THEN 2 ELSE 3 END) AS seq
      FROM vm_event e
     WHERE e.at < p_to AND (p_vm IS NULL OR e.vm_id = (SELECT vm_id FROM vm WHERE uuid = p_vm))
),
st AS (
    -- a state is set by every event but 'defined', which sets 'off' only
    -- when the VM was gone or not known yet
    SELECT vm_id, host_id, at, seq, effect,
           count(*) FILTER (WHERE effect IS NOT NULL AND effect <> 'defined')
               OVER (PARTITION BY vm_id ORDER BY seq) AS grp
      FROM ev
),
st2 AS (
    SELECT vm_id, host_id, at, seq,
           coalesce(first_value(CASE WHEN effect <> 'defined' THEN effect END)
                        OVER (PARTITION BY vm_id, grp ORDER BY seq), 'off') AS prior,
           effect, grp
      FROM st
),
states AS (
    SELECT vm_id, host_id, at, seq,
           CASE WHEN effect = 'defined' AND prior = 'gone' THEN 'off'
                WHEN effect = 'defined' OR effect IS NULL THEN prior ELSE effect END AS state
      FROM st2
),
spans AS (
    SELECT vm_id, host_id, state, at AS s, coalesce(lead(at) OVER (PARTITION BY vm_id ORDER BY seq), p_to) AS e,
           lag(state) OVER (PARTITION BY vm_id ORDER BY seq) AS prev
      FROM states
)
SELECT vm_id, host_id, state, greatest(s, p_from), least(e, p_to)
  FROM spans
 WHERE e > p_from AND s < p_to AND greatest(s, p_from) < least(e, p_to)
 ORDER BY vm_id, s
$$;

-- Usage over [p_from, p_to) per owner, optionally of one tenant (and
-- project): whole days from owner_usage_day, the rest as vm_usage_between()
-- takes it, summed per owner.  The same sums as vm_usage_between() grouped
-- by owner, much faster for months of a large fleet.
CREATE FUNCTION owner_usage_between(p_from timestamptz, p_to timestamptz, p_tenant text DEFAULT NULL,
                                    p_project text DEFAULT NULL)
RETURNS TABLE (owner_id int, minutes bigint, coverage_ms bigint, samples bigint, late bigint, lost_ms bigint,
    cpu_ns bigint, cpu_user_ns bigint, cpu_system_ns bigint, vcpu_ns bigint, vcpu_delay_ns bigint,
    vcpu_wait_ns bigint, running_ms bigint, disk_rd_bytes bigint, disk_wr_bytes bigint,
    disk_rd_reqs bigint, disk_wr_reqs bigint, disk_rd_ns bigint, disk_wr_ns bigint,
    disk_fl_reqs bigint, disk_fl_ns bigint, net_rx_bytes bigint, net_tx_bytes bigint,
    net_rx_pkts bigint, net_tx_pkts bigint, net_rx_errs bigint, net_tx_errs bigint,
    net_rx_drop bigint, net_tx_drop bigint, vcpus_int numeric, vcpus_ms bigint, vcpus_max bigint,
    mem_max_kib_int numeric, mem_max_kib_ms bigint, mem_max_kib_max bigint, balloon_kib_int numeric,
    balloon_kib_ms bigint, balloon_kib_max bigint, rss_kib_int numeric, rss_kib_ms bigint,
    rss_kib_max bigint, usable_kib_int numeric, usable_kib_ms bigint, usable_kib_max bigint,
    available_kib_int numeric, available_kib_ms bigint, available_kib_max bigint,
    unused_kib_int numeric, unused_kib_ms bigint, unused_kib_max bigint,
    disk_capacity_bytes_int numeric, disk_capacity_bytes_ms bigint, disk_capacity_bytes_max bigint,
    disk_allocation_bytes_int numeric, disk_allocation_bytes_ms bigint,
    disk_allocation_bytes_max bigint)
LANGUAGE sql STABLE AS $$
WITH plan AS MATERIALIZED (SELECT * FROM vm_resolution_plan(p_from, p_to)),
owners AS MATERIALIZED (
    SELECT owner_id FROM owner
     WHERE (p_tenant IS NULL OR tenant = p_tenant) AND (p_project IS NULL OR project = p_project)
),
r AS (
    SELECT u.owner_id, u.minutes, u.coverage_ms, u.samples, u.late, u.lost_ms,
           cpu_ns, cpu_user_ns, cpu_system_ns, vcpu_ns, vcpu_delay_ns, vcpu_wait_ns, running_ms,
           disk_rd_bytes, disk_wr_bytes, disk_rd_reqs, disk_wr_reqs, disk_rd_ns, disk_wr_ns,
           disk_fl_reqs, disk_fl_ns, net_rx_bytes, net_tx_bytes, net_rx_pkts, net_tx_pkts,
           net_rx_errs, net_tx_errs, net_rx_drop, net_tx_drop, vcpus_int, vcpus_ms, vcpus_max,
           mem_max_kib_int, mem_max_kib_ms, mem_max_kib_max, balloon_kib_int, balloon_kib_ms,
           balloon_kib_max, rss_kib_int, rss_kib_ms, rss_kib_max, usable_kib_int, usable_kib_ms,
           usable_kib_max, available_kib_int, available_kib_ms, available_kib_max, unused_kib_int,
           unused_kib_ms, unused_kib_max, disk_capacity_bytes_int, disk_capacity_bytes_ms,
           disk_capacity_bytes_max, disk_allocation_bytes_int, disk_allocation_bytes_ms,
           disk_allocation_bytes_max
      FROM owner_usage_day u JOIN plan p ON p.kind = 'day' AND u.day = p.span_from
      JOIN owner o ON o.owner_id = u.owner_id
       AND (p_tenant IS NULL OR o.tenant = p_tenant) AND (p_project IS NULL OR o.project = p_project)
     WHERE u.day >= p_from AND u.day < p_to
    UNION ALL
    SELECT u.owner_id, u.minutes, u.coverage_ms, u.samples, u.late, u.lost_ms,
           cpu_ns, cpu_user_ns, cpu_system_ns, vcpu_ns, vcpu_delay_ns, vcpu_wait_ns, running_ms,
           disk_rd_bytes, disk_wr_bytes, disk_rd_reqs, disk_wr_reqs, disk_rd_ns, disk_wr_ns,
           disk_fl_reqs, disk_fl_ns, net_rx_bytes, net_tx_bytes, net_rx_pkts, net_tx_pkts,
           net_rx_errs, net_tx_errs, net_rx_drop, net_tx_drop, vcpus_int, vcpus_ms, vcpus_max,
           mem_max_kib_int, mem_max_kib_ms, mem_max_kib_max, balloon_kib_int, balloon_kib_ms,
           balloon_kib_max, rss_kib_int, rss_kib_ms, rss_kib_max, usable_kib_int, usable_kib_ms,
           usable_kib_max, available_kib_int, available_kib_ms, available_kib_max, unused_kib_int,
           unused_kib_ms, unused_kib_max, disk_capacity_bytes_int, disk_capacity_bytes_ms,
           disk_capacity_bytes_max, disk_allocation_bytes_int, disk_allocation_bytes_ms,
           disk_allocation_bytes_max
      FROM vm_usage_hour u JOIN plan p ON p.kind = 'hour' AND u.hour = p.span_from
      JOIN owner o ON o.owner_id = u.owner_id
       AND (p_tenant IS NULL OR o.tenant = p_tenant) AND (p_project IS NULL OR o.project = p_project)
     WHERE u.hour >= p_from AND u.hour < p_to
    UNION ALL
    SELECT x.* FROM (
        SELECT coalesce(s.owner_id, 0) AS owner_id, count(*) AS minutes,
               sum(m.coverage_ms)::bigint AS coverage_ms, sum(m.samples)::bigint AS samples,
               sum(m.late)::bigint AS late, 0::bigint AS lost_ms,
           sum(m.cpu_ns)::bigint, sum(m.cpu_user_ns)::bigint, sum(m.cpu_system_ns)::bigint,
           sum(m.vcpu_ns)::bigint, sum(m.vcpu_delay_ns)::bigint, sum(m.vcpu_wait_ns)::bigint,
           sum(m.running_ms)::bigint, sum(m.disk_rd_bytes)::bigint, sum(m.disk_wr_bytes)::bigint,
           sum(m.disk_rd_reqs)::bigint, sum(m.disk_wr_reqs)::bigint, sum(m.disk_rd_ns)::bigint,
           sum(m.disk_wr_ns)::bigint, sum(m.disk_fl_reqs)::bigint, sum(m.disk_fl_ns)::bigint,
           sum(m.net_rx_bytes)::bigint, sum(m.net_tx_bytes)::bigint, sum(m.net_rx_pkts)::bigint,
           sum(m.net_tx_pkts)::bigint, sum(m.net_rx_errs)::bigint, sum(m.net_tx_errs)::bigint,
           sum(m.net_rx_drop)::bigint, sum(m.net_tx_drop)::bigint,
           sum(m.vcpus_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.vcpus_avg IS NOT NULL), max(m.vcpus_max),
           sum(m.mem_max_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.mem_max_kib_avg IS NOT NULL), max(m.mem_max_kib_max),
           sum(m.balloon_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.balloon_kib_avg IS NOT NULL), max(m.balloon_kib_max),
           sum(m.rss_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.rss_kib_avg IS NOT NULL), max(m.rss_kib_max),
           sum(m.usable_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.usable_kib_avg IS NOT NULL), max(m.usable_kib_max),
           sum(m.available_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.available_kib_avg IS NOT NULL),
           max(m.available_kib_max), sum(m.unused_kib_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.unused_kib_avg IS NOT NULL), max(m.unused_kib_max),
           sum(m.disk_capacity_bytes_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.disk_capacity_bytes_avg IS NOT NULL),
           max(m.disk_capacity_bytes_max),
           sum(m.disk_allocation_bytes_avg::numeric * m.coverage_ms),
           sum(m.coverage_ms) FILTER (WHERE m.disk_allocation_bytes_avg IS NOT NULL),
           max(m.disk_allocation_bytes_max)
          FROM vm_usage_minute m
          JOIN plan p ON p.kind = 'raw' AND m.minute >= p.span_from AND m.minute < p.span_to
          LEFT JOIN vm_owner_span s
            ON s.vm_id = m.vm_id AND m.minute + interval '30 seconds' >= s.span_from
           AND m.minute + interval '30 seconds' < s.span_to
         WHERE m.minute >= p_from AND m.minute < p_to
         GROUP BY coalesce(s.owner_id, 0)
        UNION ALL
        SELECT coalesce(s.owner_id, 0), 0, 0, 0, 0, sum(l.lost_ms)::bigint,
               NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
               NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
               NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
               NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::numeric,
               NULL::bigint, NULL::bigint, NULL::numeric, NULL::bigint, NULL::bigint, NULL::numeric,
               NULL::bigint, NULL::bigint, NULL::numeric, NULL::bigint, NULL::bigint, NULL::numeric,
               NULL::bigint, NULL::bigint, NULL::numeric, NULL::bigint, NULL::bigint, NULL::numeric,
               NULL::bigint, NULL::bigint, NULL::numeric, NULL::bigint, NULL::bigint, NULL::numeric,
               NULL::bigint, NULL::bigint
          FROM vm_usage_loss l
          JOIN plan p ON p.kind = 'raw' AND l.minute >= p.span_from AND l.minute < p.span_to
          LEFT JOIN vm_owner_span s
            ON s.vm_id = l.vm_id AND l.minute + interval '30 seconds' >= s.span_from
           AND l.minute + interval '30 seconds' < s.span_to
         WHERE l.minute >= p_from AND l.minute < p_to
         GROUP BY coalesce(s.owner_id, 0)
    ) x WHERE (p_tenant IS NULL AND p_project IS NULL) OR x.owner_id IN (SELECT owner_id FROM owners)
)
SELECT r.owner_id, sum(r.minutes)::bigint, sum(r.coverage_ms)::bigint, sum(r.samples)::bigint, sum(r.late)::bigint,
       sum(r.lost_ms)::bigint,
           sum(r.cpu_ns)::bigint, sum(r.cpu_user_ns)::bigint, sum(r.cpu_system_ns)::bigint,
           sum(r.vcpu_ns)::bigint, sum(r.vcpu_delay_ns)::bigint, sum(r.vcpu_wait_ns)::bigint,
           sum(r.running_ms)::bigint, sum(r.disk_rd_bytes)::bigint, sum(r.disk_wr_bytes)::bigint,
           sum(r.disk_rd_reqs)::bigint, sum(r.disk_wr_reqs)::bigint, sum(r.disk_rd_ns)::bigint,
           sum(r.disk_wr_ns)::bigint, sum(r.disk_fl_reqs)::bigint, sum(r.disk_fl_ns)::bigint,
           sum(r.net_rx_bytes)::bigint, sum(r.net_tx_bytes)::bigint, sum(r.net_rx_pkts)::bigint,
           sum(r.net_tx_pkts)::bigint, sum(r.net_rx_errs)::bigint, sum(r.net_tx_errs)::bigint,
           sum(r.net_rx_drop)::bigint, sum(r.net_tx_drop)::bigint, sum(r.vcpus_int),
           sum(r.vcpus_ms)::bigint, max(r.vcpus_max), sum(r.mem_max_kib_int),
           sum(r.mem_max_kib_ms)::bigint, max(r.mem_max_kib_max), sum(r.balloon_kib_int),
           sum(r.balloon_kib_ms)::bigint, max(r.balloon_kib_max), sum(r.rss_kib_int),
           sum(r.rss_kib_ms)::bigint, max(r.rss_kib_max), sum(r.usable_kib_int),
           sum(r.usable_kib_ms)::bigint, max(r.usable_kib_max), sum(r.available_kib_int),
           sum(r.available_kib_ms)::bigint, max(r.available_kib_max), sum(r.unused_kib_int),
           sum(r.unused_kib_ms)::bigint, max(r.unused_kib_max), sum(r.disk_capacity_bytes_int),
           sum(r.disk_capacity_bytes_ms)::bigint, max(r.disk_capacity_bytes_max),
           sum(r.disk_allocation_bytes_int), sum(r.disk_allocation_bytes_ms)::bigint,
           max(r.disk_allocation_bytes_max)
  FROM r GROUP BY r.owner_id
$$;
