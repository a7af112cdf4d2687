-- The privileges vmeter-collector needs, as a group role: no superuser, no
-- ownership, no DDL beyond its session's temporary staging tables.
--
--   psql -d vmeter -f vmeter_collector.sql      (as the schema's owner, after
--                                                'vmeter-admin migrate')
--   CREATE ROLE collector1 LOGIN PASSWORD '...' IN ROLE vmeter_collector;
--
-- Not a migration: run it again after a migration that adds tables (it is
-- idempotent).  What each privilege is for:
--   schema_migrations      SELECT          the schema check at connect
--   host                   SELECT INSERT UPDATE  registration (INSERT ... ON
--                                          CONFLICT DO UPDATE ... RETURNING)
--   host_delivery          SELECT INSERT UPDATE  the delivery mark
--   host_inventory, vm, vm_inventory       SELECT INSERT  (new state only if
--                                          the latest differs)
--   vm_event, vm_usage_minute, host_usage_minute, vm_usage_loss,
--   vm_capture_minute, vm_traffic_minute, host_capture_minute, host_power_minute
--                          SELECT INSERT   rows (COPY is an INSERT; the
--                                          staging copies are made LIKE them)
--   host_host_id_seq, vm_vm_id_seq  USAGE  nextval() for new hosts and VMs
--   the database           CONNECT TEMPORARY  session; staging tables
--   vm_ensure_partitions()  EXECUTE        a day partition for rows of a day
--                                          that has none (SECURITY DEFINER: the
--                                          role needs no DDL)
--   vm_mark_hours()         EXECUTE        the dirty marks of a batch's hours
--                                          (SECURITY DEFINER, as the triggers
--                                          that write the other marks and the
--                                          owners)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vmeter_collector') THEN
        CREATE ROLE vmeter_collector NOLOGIN;
    END IF;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO vmeter_collector', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO vmeter_collector;
GRANT SELECT ON schema_migrations TO vmeter_collector;
GRANT SELECT, INSERT, UPDATE ON host, host_delivery TO vmeter_collector;
GRANT SELECT, INSERT ON host_inventory, vm, vm_inventory, vm_event, vm_usage_minute, host_usage_minute,
    vm_usage_loss, vm_capture_minute, vm_traffic_minute, host_capture_minute, host_power_minute TO vmeter_collector;
GRANT USAGE ON SEQUENCE host_host_id_seq, vm_vm_id_seq TO vmeter_collector;
GRANT EXECUTE ON FUNCTION vm_ensure_partitions(timestamptz, timestamptz, text[]) TO vmeter_collector;
GRANT EXECUTE ON FUNCTION vm_mark_hours(text, int, timestamptz[]) TO vmeter_collector;
