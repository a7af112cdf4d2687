#!/bin/bash
# vmeter-bill invoice: golden invoices from rated quantities written here
# by hand (two VMs in two projects; a per-unit vcpu charge, a graduated
# network charge, a minimum), against a real PostgreSQL:
#   - exact amounts in the CSV; tiers priced on the tenant's month total
#     and split among the VMs conserved to the cent;
#   - a Europe/Berlin month holding the end of DST: 745 hours;
#   - finalisation refused naming each violated invariant, then numbered
#     without gaps; PostgreSQL itself refuses changing a final invoice;
#   - a credit note; usage rated late for a final month as the next
#     draft's adjustment, billed once; a statement; the PDF renders;
#   - bad input named, exit 1 or 2.
. "$(dirname "$0")/../lib.sh"
plan 61
BILL=$top_builddir/billing/vmeter-bill
[ -x "$BILL" ] || bail "no $BILL"
start_postgres
write_conf "$T/vmeter.conf" 'traffic-default = "internet"'
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
bill() { "$BILL" -c "$T/vmeter.conf" "$@"; }
q() { psql_q "$1"; }
one() { echo "$1" | tr '\n' ' '; } # a message on one TAP line
# the error text of SQL that must fail, as the owner of the tables
q_err() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_CONNINFO" -c "$1" 2>&1 >/dev/null; }

cat >"$T/std.plan" <<'EOP'
plan std {
  currency = EUR
  rounding = half-up
  time = running
  version v1 {
    from = 2026-01-01
    minimum = 50.00
    charge vcpu { price = 0.012  per = vcpu-hour }
    charge net.internet.tx {
      model = graduated
      per = GiB
      tier { up-to = 100  price = 0 }
      tier { up-to = 1000  price = 0.05 }
      tier { price = 0.02 }
    }
  }
}
tenant acme { currency = EUR  time-zone = Europe/Berlin  assign std { from = 2026-01-01 } }
tenant lab { currency = EUR  time-zone = UTC  showback = costs  assign std { from = 2026-01-01 } }
EOP
bill plans load "$T/std.plan" >/dev/null || bail "plans load failed"
V=$(q "SELECT version_id FROM bill_version WHERE plan = 'std' AND label = 'v1'")
[ -n "$V" ] || bail "no version row"

# Two hosts (a migration leaves rows of one minute on both), three VMs.
q "INSERT INTO host (hostname) VALUES ('hv1'), ('hv2');
   INSERT INTO vm (uuid) VALUES ('00000000-0000-0000-0000-00000000000a'), ('00000000-0000-0000-0000-00000000000b'),
                                ('00000000-0000-0000-0000-00000000000c');
   INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib,
                             tenant, project, cost_centre, owner_source, digest)
   VALUES (1, '2026-09-01', 1, 'web-1', 2, 2, 1048576, 1048576, 'acme', 'shop', '', 'metadata', 'a'),
          (2, '2026-09-01', 1, 'db-1', 4, 4, 1048576, 1048576, 'acme', 'data', '', 'metadata', 'b'),
          (3, '2026-09-01', 2, 'lab-1', 1, 1, 1048576, 1048576, 'lab', 'exp', '', 'metadata', 'c')" >/dev/null ||
	bail "VMs"
GiB=1073741824
# October (Berlin): web-1 2 vCPUs x 745 h = 89400 vCPU-minutes, 700 GiB out;
# db-1 4 vCPUs x 100 h = 24000, 500 GiB out.  lab (UTC, showback): 10 h.
q "INSERT INTO bill_rated (tenant, day, vm_id, project, version_id, charge, meter, qty) VALUES
   ('acme', '2026-10-01', 1, 'shop', $V, 0, 'vcpu', 44700), ('acme', '2026-10-25', 1, 'shop', $V, 0, 'vcpu', 44700),
   ('acme', '2026-10-01', 1, 'shop', $V, 1, 'net.internet.tx', 700 * $GiB::bigint),
   ('acme', '2026-10-15', 2, 'data', $V, 0, 'vcpu', 24000),
   ('acme', '2026-10-15', 2, 'data', $V, 1, 'net.internet.tx', 500 * $GiB::bigint),
   ('lab', '2026-10-02', 3, 'exp', $V, 0, 'vcpu', 600);
   INSERT INTO bill_coverage VALUES
   ('acme', '2026-10-01', 1, 'shop', 1440, 1440, 1438, 0, 0, 120000),
   ('acme', '2026-10-25', 1, 'shop', 1500, 1500, 1500, 0, 0, 0),
   ('acme', '2026-10-15', 2, 'data', 6000, 6000, 6000, 0, 5, 0);
   INSERT INTO bill_day (time_zone, day, upto)
   SELECT z, d::date, (d::date + 1)::timestamp AT TIME ZONE z
     FROM unnest(ARRAY['Europe/Berlin', 'UTC']) z, generate_series('2026-10-01'::date, '2026-11-30', '1 day') d
    WHERE NOT (z = 'Europe/Berlin' AND d = '2026-10-31');
   INSERT INTO bill_counter VALUES ('default', 'INV-', 1)" >/dev/null || bail "rated rows"

out=$(bill invoice draft --tenant acme --period 2026-10)
is "$?" 0 "a draft is built"
ID=$(echo "$out" | sed -n 's/^invoice \([0-9]*\) (draft).*/\1/p')
echo "$out" | grep -q "^invoice $ID (draft) for 'acme', 2026-10: 2026-10-01T00:00+02 .. 2026-11-01T00:00+01 (745 hours), 4 lines, total 71.68 EUR$"
ok $? "the Berlin month ends an hour later (DST): 745 hours, 4 lines, 71.68 EUR: $(one "$out")"
echo "$out" | grep -q "^unrated days (Europe/Berlin): 2026-10-31$"
ok $? "the draft says which day is not rated yet"

# kind project vm meter quantity unit rate amount billed sampled lost note
csvcols() {
	python3 -c 'import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print("|".join(r[k] for k in ("kind", "project", "vm_name", "meter", "quantity", "unit", "rate", "amount",
        "minutes_billed", "minutes_sampled", "minutes_lost", "note")))' "$1"
}
bill invoice export "$ID" --format csv -o "$T/oct.csv"
is "$?" 0 "the draft exports as CSV"
# vcpu: 1490 h and 400 h at 0.012.  Network: the tenant's 1200 GiB are
# 100 free + 900 x 0.05 + 200 x 0.02 = 49.00 (each VM alone would be 30 +
# 20 = 50.00), split 700:500 = 2858.33:2041.67 cents -> 28.58 + 20.42.
cat >"$T/oct.want" <<'EOW'
usage|data|db-1|net.internet.tx|500|GiB|0.00|20.42|6000|6000|0|
usage|data|db-1|vcpu|400|vcpu-hour|0.012|4.80|6000|6000|0|
usage|shop|web-1|net.internet.tx|700|GiB|0.00|28.58|2940|2938|2|2 minutes without samples
usage|shop|web-1|vcpu|1490|vcpu-hour|0.012|17.88|2940|2938|2|2 minutes without samples
EOW
csvcols "$T/oct.csv" >"$T/oct.got"
diff "$T/oct.want" "$T/oct.got" >"$T/oct.diff"
ok $? "the golden October lines: $(cat "$T/oct.diff")"
is "$(q "SELECT sum(amount) FROM bill_line WHERE invoice_id = $ID AND meter = 'net.internet.tx'")" 49000000000 \
	"the tier split adds up to the tenant's 49.00 exactly"
is "$(q "SELECT total FROM bill_invoice WHERE invoice_id = $ID")" 71680000000 "the stored total is the lines' sum"

# Finalisation refused, each violation named.  db-1's minute 10:00 on the
# 15th has rows from both hosts, 40 s each.
q "SELECT vm_ensure_partitions('2026-10-01 00:00+00', '2026-12-01 00:00+00');
   INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples) VALUES
   (1, 2, '2026-10-15 10:00+00', 40000, 40), (2, 2, '2026-10-15 10:00+00', 40000, 40);
   INSERT INTO vm_usage_hour (vm_id, host_id, hour, owner_id, minutes, coverage_ms, samples, late)
   SELECT 2, 1, '2026-10-15 12:00+00', owner_id, 1, 61000, 61, 0 FROM vm_inventory WHERE vm_id = 2" >/dev/null ||
	bail "minutes"
out=$(bill invoice finalise "$ID" 2>&1)
is "$?" 1 "finalising is refused"
echo "$out" | grep -q "days not rated through their end (Europe/Berlin): 2026-10-31"
ok $? "naming the unrated day"
echo "$out" | grep -q "VM 'db-1' (00000000-0000-0000-0000-00000000000b) project 'data': 5 minutes of usage after it was undefined (first on 2026-10-15)"
ok $? "naming the usage after the VM was gone"
echo "$out" | grep -q "VM 'db-1' (00000000-0000-0000-0000-00000000000b): 1 minute with more than 60 s of samples (first 2026-10-15 10:00:00+00)"
ok $? "naming the over-covered minute"
echo "$out" | grep -q "VM 'db-1' (00000000-0000-0000-0000-00000000000b): 1 hour with more than 60 s of samples per minute (first 2026-10-15 12:00:00+00)"
ok $? "and the over-covered hour: $(one "$out")"
is "$(q "SELECT next FROM bill_counter WHERE issuer = 'default'")" 1 "the refusal used no number"
is "$(q "SELECT state FROM bill_invoice WHERE invoice_id = $ID")" draft "and left a draft"

q "INSERT INTO bill_day (time_zone, day, upto) VALUES ('Europe/Berlin', '2026-10-31', '2026-10-31 23:00+00');
   UPDATE bill_coverage SET minutes_after_gone = 0;
   DELETE FROM vm_usage_minute WHERE host_id = 2;
   DELETE FROM vm_usage_hour;
   INSERT INTO bill_rated VALUES ('acme', '2026-10-20', 1, 'shop', $V, 0, 'vcpu', 60)" >/dev/null || bail "fixes"
out=$(bill invoice finalise "$ID" 2>&1)
is "$?" 1 "a draft older than what is rated is refused"
echo "$out" | grep -q "the draft is out of date (line 4's qty is 89400, a rebuild makes 89460)" &&
	echo "$out" | grep -q "plan version id $V charge 0: the usage lines hold 113400, 113460 is rated"
ok $? "naming what changed: $(one "$out")"
echo "$out" | grep -q "unrated\|undefined\|60 s"
is "$?" 1 "and only that"
q "DELETE FROM bill_rated WHERE day = '2026-10-20'" >/dev/null
out=$(bill invoice finalise "$ID" 2>&1)
is "$?" 0 "once all holds, it is finalised: $(one "$out")"
is "$out" "invoice $ID is final: number INV-1" "with the first number: gapless across the refusals"
out=$(bill invoice finalise "$ID" 2>&1)
is "$?" 1 "finalising it again is refused"
echo "$out" | grep -q "invoice $ID is already final: INV-1"
ok $? "saying so: $(one "$out")"
is "$(q "SELECT count(*) || ' ' || sum(qty) FROM bill_invoiced WHERE invoice_id = $ID")" "5 1288490302200" \
	"what it charged is recorded per day"

# PostgreSQL refuses changes to a final invoice, whoever asks.
err=$(q_err "UPDATE bill_invoice SET total = 0 WHERE invoice_id = $ID")
echo "$err" | grep -q "invoice $ID (INV-1) is final: it cannot be changed; issue a credit note"
ok $? "UPDATE of a final invoice is refused: $(one "$err")"
err=$(q_err "DELETE FROM bill_invoice WHERE invoice_id = $ID")
echo "$err" | grep -q "invoice $ID (INV-1) is final: it cannot be deleted"
ok $? "DELETE of it is refused: $(one "$err")"
err=$(q_err "UPDATE bill_line SET amount = 0 WHERE invoice_id = $ID")
echo "$err" | grep -q "invoice $ID is final: its bill_line cannot be changed"
ok $? "UPDATE of its lines is refused: $(one "$err")"
err=$(q_err "DELETE FROM bill_line WHERE invoice_id = $ID")
echo "$err" | grep -q "invoice $ID is final: its bill_line cannot be deleted"
ok $? "DELETE of its lines is refused: $(one "$err")"
err=$(q_err "TRUNCATE bill_line")
echo "$err" | grep -q "bill_line holds final invoices: it cannot be truncated"
ok $? "TRUNCATE is refused: $(one "$err")"
err=$(q_err "DELETE FROM bill_invoiced WHERE invoice_id = $ID")
echo "$err" | grep -q "invoice $ID is final: its bill_invoiced cannot be deleted"
ok $? "so is deleting what it charged: $(one "$err")"
is "$(q "SELECT count(*) || ' ' || sum(amount) FROM bill_line WHERE invoice_id = $ID")" "4 71680000000" "all still there"

# A credit note for line 1 (db-1's network: 20.42).
out=$(bill invoice credit "$ID" --line 1 2>&1)
is "$?" 2 "a credit note without a reason is refused: $(one "$out")"
out=$(bill invoice credit "$ID" --line 1 --reason "network outage on 2026-10-15" 2>&1)
is "$?" 0 "a credit note is issued: $(one "$out")"
CID=$(echo "$out" | sed -n 's/^credit note \([0-9]*\): number INV-2$/\1/p')
[ -n "$CID" ]
ok $? "numbered from the same counter: INV-2"
is "$(q "SELECT kind || ' ' || state || ' ' || credits || ' ' || total || ' ' || reason FROM bill_invoice WHERE invoice_id = $CID")" \
	"credit final $ID -20420000000 network outage on 2026-10-15" "it credits the invoice, negated, with its reason"
is "$(q "SELECT line_no || ' ' || kind || ' ' || vm_name || ' ' || qty || ' ' || amount || ' ' || credited_line || ' ' || note FROM bill_line WHERE invoice_id = $CID")" \
	"1 credit db-1 -536870912000 -20420000000 1 credits INV-1 line 1 (usage): network outage on 2026-10-15" \
	"its line negates line 1, naming it and the reason"
out=$(bill invoice credit "$ID" --line 1 --reason again 2>&1)
is "$?" 1 "a line is credited once"
echo "$out" | grep -q "line 1 of invoice INV-1 is already credited by INV-2"
ok $? "saying by which: $(one "$out")"

# Usage rated late for October: 100 GiB more for web-1 on the 30th and 31st.
# The tenant's October total goes 1200 -> 1300 GiB: 51.00 - 49.00 = 2.00.
# November: web-1 2 vCPUs x 20 h = 0.48, under the 50.00 minimum: 49.52 more.
q "INSERT INTO bill_rated VALUES ('acme', '2026-10-30', 1, 'shop', $V, 1, 'net.internet.tx', 50 * $GiB::bigint),
                                 ('acme', '2026-10-31', 1, 'shop', $V, 1, 'net.internet.tx', 50 * $GiB::bigint),
                                 ('acme', '2026-11-03', 1, 'shop', $V, 0, 'vcpu', 2400)" >/dev/null
out=$(bill invoice draft --tenant acme --period 2026-11)
is "$?" 0 "November is drafted"
NID=$(echo "$out" | sed -n 's/^invoice \([0-9]*\) (draft).*/\1/p')
echo "$out" | grep -q "2026-11-01T00:00+01 .. 2026-12-01T00:00+01 (720 hours), 3 lines, total 52.00 EUR$"
ok $? "with 3 lines, 52.00: $(one "$out")"
bill invoice export "$NID" --format csv -o "$T/nov.csv"
cat >"$T/nov.want" <<'EOW'
usage|shop|web-1|vcpu|40|vcpu-hour|0.012|0.48|0|0|0|
adjustment|shop|web-1|net.internet.tx|100|GiB|0.00|2.00|0|0|0|usage of 2026-10-30..2026-10-31 rated after invoice INV-1 was final
minimum||||0||0.00|49.52|0|0|0|minimum 50.00 of plan 'std' version 'v1' per invoice
EOW
csvcols "$T/nov.csv" >"$T/nov.got"
diff "$T/nov.want" "$T/nov.got" >"$T/nov.diff"
ok $? "the golden November lines: usage, the adjustment, the minimum: $(cat "$T/nov.diff")"
is "$(q "SELECT covers_from || ' ' || covers_to FROM bill_line WHERE invoice_id = $NID AND kind = 'adjustment'")" \
	"2026-10-29 23:00:00+00 2026-10-31 23:00:00+00" "the adjustment covers the Berlin days 30 and 31"
out=$(bill invoice finalise "$NID" 2>&1)
is "$out" "invoice $NID is final: number INV-3" "November is final: INV-3"
out=$(bill invoice draft --tenant acme --period 2026-12)
echo "$out" | grep -q ", 0 lines, total 0.00 EUR$"
ok $? "December has no adjustment: the late usage was billed once: $(one "$out")"

# Less rated for October 1st than INV-1 charged (60 vCPU-minutes): 1890 h at
# 0.012 = 22.68, 1889 h = 22.668 -> 22.67: -0.01.
q "UPDATE bill_rated SET qty = 44640 WHERE tenant = 'acme' AND day = '2026-10-01' AND charge = 0" >/dev/null
out=$(bill invoice draft --tenant acme --period 2026-12)
echo "$out" | grep -q ", 1 line, total -0.01 EUR$"
ok $? "a later re-rating that lowers a final month credits the difference: $(one "$out")"
DID=$(echo "$out" | sed -n 's/^invoice \([0-9]*\) (draft).*/\1/p')
is "$(q "SELECT qty || ' ' || note FROM bill_line WHERE invoice_id = $DID")" \
	"-60 usage of 2026-10-01 rated after invoice INV-1 was final" "naming the day"
is "$(q "SELECT string_agg(number, ',' ORDER BY invoice_id) FROM bill_invoice WHERE number IS NOT NULL")" \
	"INV-1,INV-2,INV-3" "numbers without gaps"

# A showback tenant gets a statement, final without a number.
out=$(bill invoice draft --tenant lab --period 2026-10)
SID=$(echo "$out" | sed -n 's/^statement \([0-9]*\) (draft).*/\1/p')
echo "$out" | grep -q "(744 hours), 2 lines, total 50.00 EUR$"
ok $? "a statement for the showback tenant: $(one "$out")"
out=$(bill invoice finalise "$SID" 2>&1)
is "$out" "statement $SID is final" "finalised without a number"
is "$(q "SELECT next FROM bill_counter")" 4 "the counter is untouched by it"
out=$(bill invoice list --tenant acme 2>&1) &&
	echo "$out" | grep -q "^$ID	invoice	final	INV-1	acme	2026-10	71.68	EUR	4	$" &&
	echo "$out" | grep -q "^$CID	credit	final	INV-2	acme	2026-10	-20.42	EUR	1	$ID$"
ok $? "list shows the invoices and the credit note: $(one "$out")"

bill invoice export "$ID" --format json >"$T/inv.json"
out=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["number"], d["status"], d["from"], d["to"], d["total"]["text"], d["total"]["nano"], len(d["lines"]),
      sum(l["amount"]["nano"] for l in d["lines"]))' "$T/inv.json")
is "$out" "INV-1 final 2026-10-01T00:00+02 2026-11-01T00:00+01 71.68 71680000000 4 71680000000" \
	"the final invoice as JSON: its number, bounds, total and lines"
bill invoice export "$ID" --format html -o "$T/inv.html" && grep -q "INV-1" "$T/inv.html" && grep -q "28.58" "$T/inv.html"
ok $? "and as HTML"
# web-1: 2940 minutes, 2938 sampled, 2 lost; db-1: 6000 (bill_coverage
# above), each counted once however many lines the VM has
grep -q "Coverage: 8938 of the 8940 VM-minutes billed had samples; 2 VM-minutes were recorded as lost" "$T/inv.html"
ok $? "its coverage counts each VM's minutes once: $(grep -o 'Coverage: [0-9]* of the [0-9]*' "$T/inv.html")"
bill invoice export "$ID" --format pdf -o "$T/inv.pdf" >"$T/pdf.out"
is "$?" 0 "the invoice exports as PDF: $(cat "$T/pdf.out")"
pdftoppm -r 20 -png "$T/inv.pdf" "$T/page" && pages=$(ls "$T"/page*.png | wc -l)
is "$pages $(pdfinfo "$T/inv.pdf" | sed -n 's/^Pages: *//p')" "$(sed -n 's/.*: \([0-9]*\) pages\?$/\1/p' "$T/pdf.out") 1" \
	"pdftoppm renders every page of it (1)"

out=$(bill invoice draft --tenant nobody --period 2026-10 2>&1)
is "$?:$out" "1:vmeter-bill: invoice draft: tenant 'nobody' is not in the loaded plan files (vmeter-bill plans load)" \
	"an unknown tenant is named"
out=$(bill invoice draft --tenant acme --period 2026-13 2>&1)
is "$?:$out" "2:vmeter-bill: invoice draft: period '2026-13' is not a month YYYY-MM" "a bad period is named"
out=$(bill invoice export 999 --format csv 2>&1)
is "$?:$out" "1:vmeter-bill: invoice export: invoice 999 does not exist" "an unknown id is named"
out=$(bill invoice draft --tenant acme --period 2026-10 2>&1)
is "$?" 1 "a final month is not drafted again"
echo "$out" | grep -q "the invoice of 'acme' for 2026-10 is final (id $ID, INV-1)"
ok $? "saying so: $(one "$out")"
out=$(bill invoice credit "$SID" --reason x 2>&1)
is "$?:$out" "1:vmeter-bill: invoice credit: statement $SID cannot be credited: only an invoice can" "a statement is not credited"
out=$(bill invoice export "$ID" 2>&1)
is "$?:$out" "2:vmeter-bill: invoice export: --format must be csv, json, html or pdf" "an export names its format"
