-- vmeter schema 6: packed minutes (docs/STORAGE.md, "Packed minutes").
--
-- A closed day whose hours are all rolled up keeps its VM minutes as one
-- row per VM, host and UTC hour: the bytes of lib/minpack.c (an exact
-- column store of the hour's minute rows, ~4 KB for a busy VM's hour
-- instead of ~26 KB of wide rows and their key).  `vmeter-admin maintain`
-- packs such a day in one transaction (it reads the day's vm_usage_minute
-- rows, encodes them in C, copies them in here and empties the day's
-- minute partition) and unpacks an hour back into vm_usage_minute before
-- it recomputes that hour's rollup (rows delivered late).  PostgreSQL
-- cannot decode the bytes: readers take packed days from the rollups, and
-- refuse (never under-count) a range whose minutes are packed.
--
-- Host minutes, losses and traffic stay wide: they are a fraction of the
-- VM minutes' bytes.

CREATE TABLE vm_usage_packed (
    hour      timestamptz NOT NULL CHECK (date_trunc('hour', hour, 'UTC') = hour),
    host_id   int NOT NULL,
    vm_id     int NOT NULL,
    n_minutes smallint NOT NULL CHECK (n_minutes BETWEEN 1 AND 60),
    data      bytea NOT NULL,
    -- hour first: unpacking and the readers' refusal look hours up
    PRIMARY KEY (hour, host_id, vm_id)
) PARTITION BY RANGE (hour);
-- an owner change learnt late finds a VM's packed hours (below)
CREATE INDEX vm_usage_packed_vm ON vm_usage_packed (vm_id, hour);
-- An hour is ~4 KB (bench/storage.sh, 1000 VMs: 2.9-4.8 KB, median 3.9):
-- kept in line (MAIN), two fit a page and there is no TOAST chunk or TOAST
-- index to pay; out of line (EXTERNAL, or EXTENDED, the default, past
-- 2 KB) the same rows took 13 % more.  Compression finds nothing to take
-- out of varints and deltas (pglz gives up; lz4 saved 1 %).  MAIN still
-- moves an hour too big for a page out of line.  Partitions inherit it.
ALTER TABLE vm_usage_packed ALTER COLUMN data SET STORAGE MAIN;

-- Raw retention, with the minutes' day partitions.  pack_after_days: a
-- day is packed once it ended that many days ago (and its hours are
-- closed and rolled up); NULL for tables that are not packed.
ALTER TABLE storage_policy ADD COLUMN pack_after_days int CHECK (pack_after_days > 0);
INSERT INTO storage_policy (parent, unit, keep_days, class)
SELECT 'vm_usage_packed', 'day', keep_days, 'raw' FROM storage_policy WHERE parent = 'vm_usage_minute';
UPDATE storage_policy SET pack_after_days = 2 WHERE parent = 'vm_usage_minute';

-- Refuses an hour whose minutes are packed: a reader of raw minutes
-- would see only the rows delivered since (or none).  p_at is in the hour.
CREATE FUNCTION vm_packed_check(p_at timestamptz) RETURNS bool
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
DECLARE
    h timestamptz := date_trunc('hour', p_at, 'UTC');
BEGIN
    IF EXISTS (SELECT 1 FROM vm_usage_packed WHERE hour = h) THEN
        RAISE EXCEPTION 'usage at % needs the minutes of the hour %, which are packed', p_at, h
            USING HINT = 'ask for whole UTC hours (read from the rollups), or put the minutes back with '
                         'vmeter-admin unpack; an hour with rows delivered late is unpacked and rolled up by '
                         'the next vmeter-admin maintain',
                  ERRCODE = '22023';
    END IF;
    RETURN true;
END
$$;

-- vm_resolution_plan() for the readers of VM minutes: the same spans, and
-- an error for a raw span whose minutes are packed.
CREATE FUNCTION vm_usage_plan(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (kind text, span_from timestamptz, span_to timestamptz)
LANGUAGE sql STABLE AS $$
SELECT p.kind, p.span_from, p.span_to FROM vm_resolution_plan(p_from, p_to) p
 WHERE CASE WHEN p.kind = 'raw' THEN vm_packed_check(p.span_from) ELSE true END
$$;

-- vm_usage_between() and owner_usage_between() take their plan from
-- vm_usage_plan().  Their bodies are generated from sql/005_storage.sql.in
-- (forty-odd columns each): rather than repeat them here, the one call is
-- replaced in the bodies PostgreSQL keeps.
DO $$
DECLARE
    f text;
    def text;
    new_def text;
BEGIN
    FOREACH f IN ARRAY ARRAY['vm_usage_between', 'owner_usage_between'] LOOP
        SELECT pg_get_functiondef(p.oid) INTO def FROM pg_proc p WHERE p.proname = f;
        new_def := replace(def, 'FROM vm_resolution_plan(p_from, p_to)', 'FROM vm_usage_plan(p_from, p_to)');
        IF new_def = def OR new_def LIKE '%vm_resolution_plan%' THEN
            RAISE EXCEPTION 'schema 6: % does not read vm_resolution_plan() as schema 5 made it', f;
        END IF;
        EXECUTE new_def;
    END LOOP;
END
$$;

-- A new inventory state moves packed minutes from one owner to another
-- too: vm_inventory_dirty() finds the hours of wide minutes only, this
-- marks the packed hours that may hold a minute of the changed span (a
-- whole hour is recomputed anyway, so an hour that only might is marked).
CREATE FUNCTION vm_inventory_dirty_packed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    nxt timestamptz;
    first bool;
BEGIN
    SELECT min(valid_from) INTO nxt FROM vm_inventory WHERE vm_id = NEW.vm_id AND valid_from > NEW.valid_from;
    SELECT NOT EXISTS (SELECT 1 FROM vm_inventory WHERE vm_id = NEW.vm_id AND valid_from < NEW.valid_from)
      INTO first;
    -- minute m of hour h is the span's when m + 30 s lies in it:
    -- h + 30 s <= m + 30 s <= h + 59 min 30 s
    INSERT INTO rollup_dirty (hour, host_id)
    SELECT DISTINCT p.hour, 0 FROM vm_usage_packed p
     WHERE p.vm_id = NEW.vm_id
       AND (first OR p.hour + interval '59 minutes 30 seconds' >= NEW.valid_from)
       AND (nxt IS NULL OR p.hour + interval '30 seconds' < nxt)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER vm_inventory_dirty_packed AFTER INSERT ON vm_inventory
    FOR EACH ROW EXECUTE FUNCTION vm_inventory_dirty_packed();

-- The days `vmeter-admin maintain` packs at p_now: day partitions of
-- vm_usage_minute (of our naming) that ended pack_after_days or more ago,
-- whose hours are closed and rolled up (no dirty mark), and that hold rows
-- (a packed day's partition is left empty; rows delivered late land in
-- it).  lib/packed.c checks again under a lock before it packs.
CREATE FUNCTION vm_pack_candidates(p_now timestamptz)
RETURNS TABLE (day timestamptz, partition_name text)
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
DECLARE
    after int := (SELECT pack_after_days FROM storage_policy WHERE parent = 'vm_usage_minute');
    closed timestamptz := (SELECT closed_upto FROM rollup_state);
    c record;
    s timestamptz;
    e timestamptz;
    has_rows bool;
BEGIN
    IF after IS NULL THEN
        RETURN;
    END IF;
    FOR c IN SELECT k.relname::text AS name
               FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
              WHERE i.inhparent = 'vm_usage_minute'::regclass AND k.relname ~ '^vm_usage_minute_p[0-9]{8}$'
              ORDER BY k.relname LOOP
        s := to_timestamp(right(c.name, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC';
        e := (s AT TIME ZONE 'UTC' + interval '1 day') AT TIME ZONE 'UTC';
        CONTINUE WHEN e > closed OR e + make_interval(days => after) > p_now;
        CONTINUE WHEN EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.hour >= s AND d.hour < e);
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', c.name) INTO has_rows;
        CONTINUE WHEN NOT has_rows;
        day := s;
        partition_name := c.name;
        RETURN NEXT;
    END LOOP;
END
$$;
