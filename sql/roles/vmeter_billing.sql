-- The privileges vmeter-bill needs, as a group role: no superuser, no
-- ownership, no DDL, no TRUNCATE.
--
--   psql -d vmeter -f vmeter_billing.sql        (as the schema's owner, after
--                                                'vmeter-admin migrate')
--   CREATE ROLE billing1 LOGIN PASSWORD '...' IN ROLE vmeter_billing;
--
-- Not a migration: run it again after a migration that adds tables (it is
-- idempotent).  What each privilege is for:
--   every table and view                  SELECT  the schema check at connect,
--                                                 and what rating reads (through
--                                                 vm_usage_between() and the
--                                                 other readers, which run
--                                                 with the caller's rights)
--   bill_source, bill_version, bill_tenant  SELECT INSERT DELETE  plans load
--                                                 (the stored set replaced)
--   bill_rated, bill_coverage, bill_pool_share, bill_day, bill_dirty
--                          SELECT INSERT UPDATE DELETE  a rated day replaced;
--                                                 UPDATE also lets a draft or a
--                                                 finalisation hold the rater
--                                                 off (LOCK ... IN SHARE MODE)
--   bill_invoice, bill_line, bill_invoiced, bill_counter
--                          SELECT INSERT UPDATE DELETE  drafts rebuilt, finalised,
--                                                 credited (the triggers still
--                                                 refuse any change to a final
--                                                 invoice, whoever asks)
--   bill_rerate                           SELECT INSERT  the re-rating log
--   the bill_* sequences                  USAGE   new versions, invoices
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vmeter_billing') THEN
        CREATE ROLE vmeter_billing NOLOGIN;
    END IF;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO vmeter_billing', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO vmeter_billing;
-- Rating reads every VM's usage of every tenant: all of the schema.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO vmeter_billing;
GRANT SELECT, INSERT, DELETE ON bill_source, bill_version, bill_tenant TO vmeter_billing;
GRANT SELECT, INSERT, UPDATE, DELETE ON bill_rated, bill_coverage, bill_pool_share, bill_day, bill_dirty,
    bill_invoice, bill_line, bill_invoiced, bill_counter, bill_energy_share, bill_energy_host, bill_grid_hour
    TO vmeter_billing;
GRANT SELECT, INSERT ON bill_rerate TO vmeter_billing;
GRANT USAGE ON SEQUENCE bill_version_version_id_seq, bill_invoice_invoice_id_seq, bill_rerate_rerate_id_seq
    TO vmeter_billing;
