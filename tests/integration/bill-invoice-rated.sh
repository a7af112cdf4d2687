#!/bin/bash
# Invoices from what the rater wrote (vmeter-bill rate on the scenario of
# tests/bill_scenario.py), not from rows made by hand:
#   - each tenant's October draft (UTC, Europe/Berlin: 745 hours) holds
#     exactly the rated quantities, and per meter the amount PostgreSQL's
#     numeric arithmetic gives for the month's sum (rounded once);
#   - finalisation waits for the month to be rated through its end;
#   - a row delivered late for a final month, rated again, comes back as
#     an adjustment line of the next month's draft covering its day.
. "$(dirname "$0")/../lib.sh"
plan 10

BILL=$top_builddir/billing/vmeter-bill
start_postgres
write_conf "$T/vmeter.conf"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
bill() { "$BILL" -c "$T/vmeter.conf" "$@"; }
q() { psql_q "$1"; }
one() { echo "$1" | tr '\n' ' '; }
adm migrate >/dev/null || bail "migrate failed"

cat >"$T/plans.conf" <<'EOF'
plan std {
  currency = EUR
  version "v1" {
    from = 2026-09-01
    charge vcpu { price = 0.01 per = vcpu-hour }
    charge ram { price = 0.002 per = GiB-hour }
    charge disk { price = 0.1 per = GiB-day }
    charge vm { price = 0.001 per = vm-hour time = defined }
    charge cpu { price = 0.05 per = core-hour }
    charge net.rx { price = 0.01 per = GiB }
  }
}
tenant acme { currency = EUR time-zone = UTC assign std { from = 2026-09-01 } }
tenant beta { currency = EUR time-zone = Europe/Berlin assign std { from = 2026-09-01 } }
EOF
bill plans load "$T/plans.conf" >/dev/null || bail "plans load"
python3 "$top_srcdir/tests/bill_scenario.py" "$T/scenario.sql" "$T/want.tsv" || bail "scenario"
q "SELECT vm_ensure_partitions('2026-09-29 00:00+00', '2026-11-03 00:00+00')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$T/scenario.sql" >/dev/null || bail "scenario load"
adm maintain --now "2026-10-03 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
bill rate >"$T/rate.out" 2>&1
ok $? "rate the first days ($(cat "$T/rate.out"))"

draft() { bill invoice draft --tenant "$1" --period "$2" 2>&1; }
out=$(draft acme 2026-10)
echo "$out" | grep -q "^unrated days (UTC): 2026-10-03..2026-10-31$"
ok $? "acme's draft says which days are not rated yet: $(one "$out")"
out=$(draft beta 2026-10)
echo "$out" | grep -q "2026-10-01T00:00+02 .. 2026-11-01T00:00+01 (745 hours)"
ok $? "beta's month is cut in Berlin: $(one "$out")"
out=$(bill invoice finalise "$(q "SELECT invoice_id FROM bill_invoice WHERE tenant = 'acme'")" 2>&1)
echo "$out" | grep -q "days not rated through their end (UTC): 2026-10-03..2026-10-31"
ok $? "finalising waits for the month to be rated: $(one "$out")"

# The whole month rated, drafted again and finalised.
adm maintain --now "2026-11-02 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
bill rate >"$T/rate2.out" 2>&1 || bail "rate: $(cat "$T/rate2.out")"
draft acme 2026-10 >/dev/null && draft beta 2026-10 >/dev/null || bail "drafts"

# Independent: per tenant and meter, the month's rated sum at the price,
# in numeric, rounded once half-up to the cent; and the quantities.
cat >"$T/check.sql" <<'EOF'
WITH price(meter, price, per) AS (VALUES ('vcpu', 0.01, 60), ('ram', 0.002, 61440), ('disk', 0.1, 1474560),
        ('vm', 0.001, 60), ('cpu', 0.05, 3600000000000), ('net.rx', 0.01, 1073741824)),
    want AS (SELECT r.tenant, r.meter, sum(r.qty) AS qty, round(sum(r.qty) * p.price / p.per, 2) AS amount
               FROM bill_rated r JOIN price p USING (meter) WHERE r.day >= '2026-10-01' AND r.day < '2026-11-01'
              GROUP BY r.tenant, r.meter, p.price, p.per),
    got AS (SELECT i.tenant, l.meter, sum(l.qty) AS qty, sum(l.amount) / 1000000000.0 AS amount
              FROM bill_line l JOIN bill_invoice i USING (invoice_id)
             WHERE i.period = '2026-10-01' AND i.kind = 'invoice' AND l.kind = 'usage' GROUP BY 1, 2)
SELECT coalesce(want.tenant, got.tenant) || ' ' || coalesce(want.meter, got.meter) || ': want ' ||
       coalesce(want.qty || ' ' || want.amount, '-') || ', got ' || coalesce(got.qty || ' ' || got.amount, '-')
  FROM want FULL JOIN got USING (tenant, meter)
 WHERE want.qty IS DISTINCT FROM got.qty OR want.amount IS DISTINCT FROM got.amount
EOF
diffs=$(psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$T/check.sql")
is "$?:$diffs" "0:" "each tenant's lines hold the rated quantities and their amounts per meter"
is "$(q "SELECT count(DISTINCT tenant || meter) FROM bill_rated WHERE day >= '2026-10-01' AND day < '2026-11-01'")" 12 \
	"for every meter of both tenants"

for t in acme beta; do
	out=$(bill invoice finalise "$(q "SELECT invoice_id FROM bill_invoice WHERE tenant = '$t'")" 2>&1)
	echo "$out" | grep -q "is final: number"
	ok $? "$t's October is final once rated through its end: $(one "$out")"
done

# A row delivered late for October 1st (vm1, acme): its rollup is redone,
# the rater takes the hour again, the November draft bills the difference.
vm1=$(q "SELECT vm_id FROM vm WHERE uuid = '00000000-0000-0000-0000-000000000001'")
cpu0=$(q "SELECT sum(qty) FROM bill_rated WHERE tenant = 'acme' AND vm_id = $vm1 AND day = '2026-10-01' AND meter = 'cpu'")
q "INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, net_rx_bytes)
   VALUES (1, $vm1, '2026-10-01 03:07:00+00', 60000, 6, 7200000000000, 12345)" >/dev/null || bail "late row"
adm maintain --now "2026-11-02 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
bill rate >/dev/null 2>&1 || bail "rate"
cpu1=$(q "SELECT sum(qty) FROM bill_rated WHERE tenant = 'acme' AND vm_id = $vm1 AND day = '2026-10-01' AND meter = 'cpu'")
is "$((cpu1 - cpu0))" 7200000000000 "the late row is rated into October 1st"
out=$(draft acme 2026-11)
NID=$(q "SELECT invoice_id FROM bill_invoice WHERE tenant = 'acme' AND period = '2026-11-01'")
# 7200 s of CPU = 2 core-hours at 0.05 = 0.10; 12345 bytes at 0.01/GiB: 0.00.
is "$(q "SELECT string_agg(meter || ' ' || qty || ' ' || amount || ' ' || covers_from || ' ' || covers_to || ' ' || note, '; ' ORDER BY meter)
          FROM bill_line WHERE invoice_id = $NID AND kind = 'adjustment'")" \
	"cpu 7200000000000 100000000 2026-10-01 00:00:00+00 2026-10-02 00:00:00+00 usage of 2026-10-01 rated after invoice 1 was final; net.rx 12345 0 2026-10-01 00:00:00+00 2026-10-02 00:00:00+00 usage of 2026-10-01 rated after invoice 1 was final" \
	"November's draft bills it as adjustments covering the day"
