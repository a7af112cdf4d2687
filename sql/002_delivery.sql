-- vmeter schema 2: durable delivery.

-- Per host, the last spool record whose content is committed (set in the
-- same transaction as the rows): after a crash that lost the spool's own
-- acknowledgement, delivery resumes from here.  spool_id names the spool
-- (a new spool directory counts from 1 again).
CREATE TABLE host_delivery (
    host_id     int PRIMARY KEY REFERENCES host,
    spool_id    text NOT NULL,
    last_seq    bigint NOT NULL CHECK (last_seq >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Usage the collector measured but could not keep (its spool was full):
-- the coverage of each VM-minute it lost, so that invoices and reports can
-- show the gap instead of a silent zero.
CREATE TABLE vm_usage_loss (
    host_id     int NOT NULL REFERENCES host,
    vm_id       int NOT NULL REFERENCES vm,
    minute      timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
    lost_ms     int NOT NULL CHECK (lost_ms BETWEEN 0 AND 60000),
    reason      text NOT NULL,
    PRIMARY KEY (vm_id, minute, host_id)
);
