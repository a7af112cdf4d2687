-- vmeter schema 7: billing (docs/BILLING.md): plan files as loaded, the
-- quantities rating found, and invoices that never change once final.
--
-- Money columns are bigint nano-units of the currency's major unit
-- (lib/money.h); quantities are bigint base units (vCPU-minutes, MiB-
-- minutes, bytes, ns, requests, VM-minutes).  Nothing here is floating
-- point.

-- The plan files as `vmeter-bill plans load` read them.  The rater parses
-- these texts with the same parser that checked them (billing/plan.c), so
-- what is rated is exactly what was checked, and the files of a load are
-- replaced together or not at all.
CREATE TABLE bill_source (
    file      text PRIMARY KEY,
    body      text NOT NULL,
    digest    text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    loaded_by text NOT NULL DEFAULT current_user
);

-- Every plan version whose content was ever loaded.  A version whose
-- prices change under the same label (a price correction) is a new row:
-- rated quantities keep the row that priced them until they are re-rated.
CREATE TABLE bill_version (
    version_id  serial PRIMARY KEY,
    plan        text NOT NULL,
    label       text NOT NULL,
    digest      text NOT NULL,
    currency    char(3) NOT NULL,
    description text NOT NULL,
    first_loaded timestamptz NOT NULL DEFAULT now(),
    UNIQUE (plan, label, digest)
);

-- Tenants as the loaded files define them (the rater and the invoices
-- read the files; this copy is for SQL readers: the web UI, reports).
CREATE TABLE bill_tenant (
    tenant    text PRIMARY KEY,
    currency  char(3) NOT NULL,
    time_zone text NOT NULL,
    showback  bool NOT NULL
);

-- What rating found: per tenant-local day, VM, project and charge of a
-- plan version, the exact quantity in the meter's base unit.  Amounts are
-- not stored here: they are computed from a month's sums when an invoice
-- is drafted (tiers apply to a tenant's month), rounded once per line.
-- A day is rated whole again when its hours change (late rows, a late
-- lifecycle event): its rows are replaced in one transaction.
CREATE TABLE bill_rated (
    tenant     text NOT NULL,
    day        date NOT NULL,          -- in the tenant's time zone
    vm_id      int NOT NULL REFERENCES vm,
    project    text NOT NULL,
    version_id int NOT NULL REFERENCES bill_version,
    charge     int NOT NULL,           -- the charge's index in its version
    meter      text NOT NULL,          -- "vcpu", "net.internet.tx"
    qty        bigint NOT NULL CHECK (qty >= 0),
    PRIMARY KEY (tenant, day, vm_id, project, version_id, charge)
);

-- Per tenant-local day, VM and project: the minutes the VM existed
-- (defined) and ran under that owner, the minutes with samples, the
-- coverage recorded lost, and minutes of the owner no plan priced.  Lines
-- show coverage from here; finalisation checks it.
CREATE TABLE bill_coverage (
    tenant           text NOT NULL,
    day              date NOT NULL,
    vm_id            int NOT NULL REFERENCES vm,
    project          text NOT NULL,
    minutes_defined  int NOT NULL,
    minutes_running  int NOT NULL,
    minutes_sampled  int NOT NULL,
    minutes_unpriced int NOT NULL,     -- existed under no assigned plan
    minutes_after_gone int NOT NULL,   -- usage rows after the VM was undefined
    lost_ms          bigint NOT NULL,
    PRIMARY KEY (tenant, day, vm_id, project)
);

-- Shared host cost (docs/BILLING.md, "Shared host cost"): per pool, host
-- and local day of the pool's zone, each VM's (and owner's) exact share
-- of the host's monthly cost for the minutes of the day, in nano-units,
-- not rounded.  A month's parts are rounded once, when it is invoiced,
-- by one largest-remainder split of the month's cost (the idle rest
-- being the cost less the shares): parts + idle = the cost, exactly.
CREATE TABLE bill_pool_share (
    pool     text NOT NULL,
    host_id  int NOT NULL REFERENCES host,
    day      date NOT NULL,
    vm_id    int NOT NULL REFERENCES vm,
    tenant   text NOT NULL,
    project  text NOT NULL,
    share    bigint NOT NULL CHECK (share >= 0),
    PRIMARY KEY (pool, host_id, day, vm_id, tenant, project)
);

-- How far each local day of a time zone is rated (for every tenant in
-- that zone; tenants no plan file names are rated in UTC): through `upto`
-- (the rollups' closed horizon when it ran).  A day is rated again when
-- an hour of it is marked in bill_dirty or the horizon has passed upto.
CREATE TABLE bill_day (
    time_zone text NOT NULL,
    day       date NOT NULL,
    upto      timestamptz NOT NULL,
    rated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (time_zone, day)
);

-- UTC hours whose rating inputs changed after they were rated: rollups
-- recomputed for late rows, lifecycle events or inventory states arriving
-- late.  The rater re-rates the days that hold them.
CREATE TABLE bill_dirty (
    hour timestamptz PRIMARY KEY CHECK (date_trunc('hour', hour, 'UTC') = hour)
);

CREATE FUNCTION bill_mark_rollup() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    -- only hours rating has passed need a second look
    INSERT INTO bill_dirty (hour)
    SELECT DISTINCT r.hour FROM new_rows r
     WHERE EXISTS (SELECT 1 FROM bill_day d WHERE d.upto > r.hour)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER bill_mark_rollup AFTER INSERT ON vm_usage_hour
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bill_mark_rollup();

-- A lifecycle event or inventory state changes what the minutes after it
-- count: every rated hour from it on, up to the VM's next one.
CREATE FUNCTION bill_mark_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    t0 timestamptz;
    t1 timestamptz;
    horizon timestamptz;
BEGIN
    SELECT max(upto) INTO horizon FROM bill_day;
    IF horizon IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'vm_event' THEN
        t0 := NEW.at;
        SELECT min(at) INTO t1 FROM vm_event WHERE vm_id = NEW.vm_id AND at > NEW.at;
    ELSE
        t0 := NEW.valid_from;
        SELECT min(valid_from) INTO t1 FROM vm_inventory WHERE vm_id = NEW.vm_id AND valid_from > NEW.valid_from;
        -- a VM's first state also owns the minutes before it
        IF NOT EXISTS (SELECT 1 FROM vm_inventory WHERE vm_id = NEW.vm_id AND valid_from < NEW.valid_from) THEN
            SELECT least(t0, min(day)::timestamptz) INTO t0 FROM bill_day;
        END IF;
    END IF;
    t1 := least(coalesce(t1, horizon), horizon);
    IF t0 < t1 THEN
        INSERT INTO bill_dirty (hour)
        SELECT generate_series(date_trunc('hour', t0 - interval '1 minute', 'UTC'), t1, interval '1 hour')
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER bill_mark_event AFTER INSERT ON vm_event FOR EACH ROW EXECUTE FUNCTION bill_mark_event();
CREATE TRIGGER bill_mark_inventory AFTER INSERT ON vm_inventory FOR EACH ROW EXECUTE FUNCTION bill_mark_event();

-- Invoices, credit notes and showback statements.  A draft is rebuilt at
-- will; finalising numbers it (without gaps, per issuer: the counter row
-- is updated in the finalising transaction, so a rollback leaves no hole)
-- and from then on PostgreSQL refuses any change to it or its lines.
CREATE TABLE bill_counter (
    issuer text PRIMARY KEY,
    prefix text NOT NULL DEFAULT '',
    next   bigint NOT NULL DEFAULT 1 CHECK (next > 0)
);

CREATE TABLE bill_invoice (
    invoice_id   serial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('invoice', 'credit', 'statement')),
    state        text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'final')),
    tenant       text NOT NULL,
    period       date NOT NULL CHECK (extract(day FROM period) = 1), -- the month, tenant-local
    period_from  timestamptz NOT NULL,
    period_to    timestamptz NOT NULL CHECK (period_to > period_from),
    currency     char(3) NOT NULL,
    time_zone    text NOT NULL,
    rounding     text NOT NULL,
    issuer       text NOT NULL DEFAULT 'default',
    number       text,
    total        bigint NOT NULL DEFAULT 0,
    credits      int REFERENCES bill_invoice, -- a credit note: the invoice it corrects
    reason       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finalised_at timestamptz,
    CHECK ((state = 'final') = (finalised_at IS NOT NULL)),
    CHECK (kind = 'statement' OR (state = 'final') = (number IS NOT NULL)),
    CHECK ((kind = 'credit') = (credits IS NOT NULL AND reason IS NOT NULL)),
    UNIQUE (issuer, number)
);
-- one invoice (or statement) per tenant and month; credit notes any number
CREATE UNIQUE INDEX bill_invoice_month ON bill_invoice (tenant, period) WHERE kind <> 'credit';

CREATE TABLE bill_line (
    invoice_id  int NOT NULL REFERENCES bill_invoice,
    line_no     int NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('usage', 'minimum', 'host-cost', 'idle', 'adjustment', 'credit')),
    project     text,
    vm_id       int REFERENCES vm,
    vm_name     text,
    meter       text,
    qty         bigint NOT NULL DEFAULT 0,
    per         bigint NOT NULL DEFAULT 1 CHECK (per > 0),
    unit        text,
    rate        bigint NOT NULL DEFAULT 0,
    amount      bigint NOT NULL,
    plan        text,
    version_id  int REFERENCES bill_version,
    version     text,
    charge      int,                   -- the charge's index in its version (usage, adjustment)
    minutes_billed  bigint NOT NULL DEFAULT 0,
    minutes_sampled bigint NOT NULL DEFAULT 0,
    minutes_lost    bigint NOT NULL DEFAULT 0,
    note        text,
    -- an adjustment's minutes (usage of a finalised month that came late)
    covers_from timestamptz,
    covers_to   timestamptz,
    -- a credit note's line: the line of the credited invoice it negates
    -- (vmeter-bill credits each line at most once)
    credited_line int,
    PRIMARY KEY (invoice_id, line_no)
);

-- The quantities a final invoice charged, per day rated: its own month's,
-- and the differences it billed as adjustment lines for days of earlier
-- finalised months.  bill_rated always holds what is true now (late rows
-- and re-ratings replace it); what is due for a finalised day is the
-- difference between it and the sum here, which the tenant's next draft
-- bills as adjustment lines naming the day.  No adjustment is stored
-- twice: once that draft is final, its rows here close the difference.
CREATE TABLE bill_invoiced (
    invoice_id int NOT NULL REFERENCES bill_invoice,
    tenant     text NOT NULL,
    day        date NOT NULL,
    vm_id      int NOT NULL,
    project    text NOT NULL,
    version_id int NOT NULL,
    charge     int NOT NULL,
    meter      text NOT NULL,
    qty        bigint NOT NULL,
    PRIMARY KEY (tenant, day, vm_id, project, version_id, charge, invoice_id)
);

-- Re-ratings asked for by hand, with their reason.
CREATE TABLE bill_rerate (
    rerate_id  serial PRIMARY KEY,
    range_from date NOT NULL,
    range_to   date NOT NULL,
    time_zone  text,                   -- NULL: every zone
    reason     text NOT NULL CHECK (reason <> ''),
    dry_run    bool NOT NULL,
    summary    text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    by_user    text NOT NULL DEFAULT current_user
);

-- Immutability, enforced here and not only in vmeter-bill: a final
-- invoice, its lines and its record of quantities are never updated or
-- deleted, and a final invoice gets no new lines.  The one change allowed
-- is the draft's own finalisation.
CREATE FUNCTION bill_invoice_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.state = 'final' THEN
            RAISE EXCEPTION 'invoice % (%) is final: it cannot be deleted; issue a credit note', OLD.invoice_id,
                OLD.number USING ERRCODE = '55000';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.state = 'final' THEN
        RAISE EXCEPTION 'invoice % (%) is final: it cannot be changed; issue a credit note', OLD.invoice_id,
            OLD.number USING ERRCODE = '55000';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER bill_invoice_guard BEFORE UPDATE OR DELETE ON bill_invoice
    FOR EACH ROW EXECUTE FUNCTION bill_invoice_guard();

CREATE FUNCTION bill_line_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    id int;
    st text;
BEGIN
    id := CASE WHEN TG_OP = 'INSERT' THEN NEW.invoice_id ELSE OLD.invoice_id END;
    SELECT state INTO st FROM bill_invoice WHERE invoice_id = id;
    IF st = 'final' THEN
        RAISE EXCEPTION 'invoice % is final: its % cannot be %', id, TG_TABLE_NAME,
            CASE TG_OP WHEN 'INSERT' THEN 'added to' WHEN 'UPDATE' THEN 'changed' ELSE 'deleted' END
            USING ERRCODE = '55000';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.invoice_id <> OLD.invoice_id THEN
        SELECT state INTO st FROM bill_invoice WHERE invoice_id = NEW.invoice_id;
        IF st = 'final' THEN
            RAISE EXCEPTION 'invoice % is final: its % cannot be added to', NEW.invoice_id, TG_TABLE_NAME
                USING ERRCODE = '55000';
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER bill_line_guard BEFORE INSERT OR UPDATE OR DELETE ON bill_line
    FOR EACH ROW EXECUTE FUNCTION bill_line_guard();
CREATE TRIGGER bill_invoiced_guard BEFORE INSERT OR UPDATE OR DELETE ON bill_invoiced
    FOR EACH ROW EXECUTE FUNCTION bill_line_guard();

-- TRUNCATE fires no row trigger: refuse it while any invoice is final.
CREATE FUNCTION bill_truncate_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM bill_invoice WHERE state = 'final') THEN
        RAISE EXCEPTION '% holds final invoices: it cannot be truncated', TG_TABLE_NAME USING ERRCODE = '55000';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER bill_invoice_truncate BEFORE TRUNCATE ON bill_invoice
    FOR EACH STATEMENT EXECUTE FUNCTION bill_truncate_guard();
CREATE TRIGGER bill_line_truncate BEFORE TRUNCATE ON bill_line
    FOR EACH STATEMENT EXECUTE FUNCTION bill_truncate_guard();
CREATE TRIGGER bill_invoiced_truncate BEFORE TRUNCATE ON bill_invoiced
    FOR EACH STATEMENT EXECUTE FUNCTION bill_truncate_guard();

-- Not billing, but every reader's: no JIT compilation for this database's
-- sessions.  The usage readers (vm_usage_between() and friends) are
-- inlined and priced for all of vm_usage_minute, over the JIT thresholds,
-- so a month's read from the rollups spent ~6 s compiling to run 0.8 s
-- (bench/storage.sh 10000 1440, 2026-12-02); rolling up is no faster with
-- it.  A database setting rather than a connection option: pgbouncer
-- refuses the `options` startup parameter.  It needs the database's owner;
-- a schema owner who is not is told what to run.
DO $$
BEGIN
    IF pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE') THEN
        EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
    ELSE
        RAISE NOTICE 'the usage readers are slow with JIT: as the owner of database %, run ALTER DATABASE % SET jit = off',
            current_database(), quote_ident(current_database());
    END IF;
END
$$;

