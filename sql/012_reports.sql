-- vmeter schema 12: reports kept for download (docs/REPORTS.md, "Kept
-- reports").
--
-- `vmeter-report due` makes each finalised month's chargeback report once
-- (again only when what it was made from changes: a credit note) and keeps
-- every format here, where the web UI lists them for download with the
-- tenant's rights; a report directory is an optional copy.  The body is
-- the file as written (a PDF is a few hundred KiB at most).
CREATE TABLE report_file (
    report_id bigserial PRIMARY KEY,
    kind      text NOT NULL CHECK (kind IN ('chargeback', 'capacity')),
    tenant    text NOT NULL,              -- '' for a report of the whole fleet
    period    date NOT NULL,              -- the month's first day
    format    text NOT NULL CHECK (format IN ('html', 'csv', 'json', 'pdf')),
    source    text NOT NULL,              -- what it was made from: "invoice 7 (INV-7), credit notes 9"
    body      bytea NOT NULL,
    made_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, tenant, period, format)
);
