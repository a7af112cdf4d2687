-- The privileges vmeter-aggregator needs, as a group role: no superuser, no
-- ownership, no DDL, no TRUNCATE.
--
--   psql -d vmeter -f vmeter_aggregator.sql     (as the schema's owner, after
--                                                'vmeter-admin migrate')
--   CREATE ROLE analyst1 LOGIN PASSWORD '...' IN ROLE vmeter_aggregator;
--
-- Not a migration: run it again after a migration that adds tables (it is
-- idempotent).  What each privilege is for:
--   every table and view                  SELECT  the schema check at connect,
--                                                 and what the analysis reads
--                                                 (through vm_usage_between() and
--                                                 the other readers, which run
--                                                 with the caller's rights)
--   agg_cycle, agg_vm_figures, agg_host_figures, agg_vm_class,
--   agg_vm_class_change    SELECT INSERT UPDATE DELETE  a cycle's figures
--                                                 replaced, classes kept, changes
--                                                 recorded
--   agg_alert, agg_alert_transition,
--   agg_decision           SELECT INSERT UPDATE  the rules' alerts, their
--                                                 transitions and decisions
--   their sequences        USAGE                 the ids of new rows
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vmeter_aggregator') THEN
        CREATE ROLE vmeter_aggregator NOLOGIN;
    END IF;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO vmeter_aggregator', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO vmeter_aggregator;
-- The analysis reads every VM's usage of every tenant: all of the schema.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO vmeter_aggregator;
GRANT SELECT, INSERT, UPDATE, DELETE ON agg_cycle, agg_vm_figures, agg_host_figures, agg_vm_class,
    agg_vm_class_change TO vmeter_aggregator;
GRANT SELECT, INSERT, UPDATE ON agg_alert, agg_alert_transition, agg_decision TO vmeter_aggregator;
GRANT USAGE ON SEQUENCE agg_alert_alert_id_seq, agg_alert_transition_transition_id_seq,
    agg_decision_decision_id_seq TO vmeter_aggregator;
