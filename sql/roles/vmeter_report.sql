-- The privileges vmeter-report needs, as a group role: no superuser, no
-- ownership, no DDL, no TRUNCATE.
--
--   psql -d vmeter -f vmeter_report.sql         (as the schema's owner, after
--                                                'vmeter-admin migrate')
--   CREATE ROLE reports1 LOGIN PASSWORD '...' IN ROLE vmeter_report;
--
-- Not a migration: run it again after a migration that adds tables (it is
-- idempotent).  What each privilege is for:
--   every table and view    SELECT               the schema check at connect,
--                                                invoices, usage and inventory
--   report_file             SELECT INSERT DELETE kept reports made and replaced
--   its sequence            USAGE                new rows
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vmeter_report') THEN
        CREATE ROLE vmeter_report NOLOGIN;
    END IF;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO vmeter_report', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO vmeter_report;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO vmeter_report;
GRANT SELECT, INSERT, DELETE ON report_file TO vmeter_report;
GRANT USAGE ON SEQUENCE report_file_report_id_seq TO vmeter_report;
