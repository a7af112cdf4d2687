#!/bin/bash
# vmeter-report chargeback: golden reports of a fixed data set against a
# real PostgreSQL.  tests/chargeback_golden.py writes the rows (rated
# quantities, coverage, pool shares, energy) and computes every number the
# reports must hold from the rules of docs/BILLING.md and docs/REPORTS.md;
# vmeter-bill drafts and finalises the invoices; then:
#   - CSV and JSON hold exactly the golden numbers, HTML shows them;
#   - month over month against the previous finalised invoice (acme
#     September, under the plan's minimum, then October);
#   - the report's totals equal the finalised invoice's;
#   - a showback tenant (showback = true) gets no money in any export;
#   - the PDF renders with pdftoppm, with the expected pages; page 1 is
#     kept as tests/integration/chargeback-page1.png to be looked at;
#   - a VM named like a spreadsheet formula stays text in the CSV;
#   - every bad parameter is named, exit 1 or 2, and writes no file.
. "$(dirname "$0")/../lib.sh"
plan 68
BILL=$top_builddir/billing/vmeter-bill
REPORT=$top_builddir/reports/vmeter-report
[ -x "$BILL" ] || bail "no $BILL"
[ -x "$REPORT" ] || bail "no $REPORT"
command -v pdftoppm >/dev/null || bail "no pdftoppm (poppler-utils: scripts/install-deps.sh)"
start_postgres
write_conf "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
bill() { "$BILL" -c "$T/vmeter.conf" "$@"; }
report() { "$REPORT" -c "$T/vmeter.conf" "$@"; }
q() { psql_q "$1"; }
one() { echo "$1" | tr '\n' ' '; } # a message on one TAP line
golden() { python3 "$top_srcdir/tests/chargeback_golden.py" "$@"; }

cat >"$T/std.plan" <<'EOP'
plan std {
  currency = EUR
  rounding = half-up
  time = running
  version v1 {
    from = 2026-01-01
    minimum = 20.00
    charge vcpu { price = 0.012  per = vcpu-hour }
    charge ram  { price = 0.004  per = GiB-hour }
  }
}
pool spread { currency = EUR  hosts = "hv1"  idle = spread  cost hw { month = 300.00 } }
pool line { currency = EUR  hosts = "hv2"  idle = line  cost hw { month = 200.00 } }
tenant acme { currency = EUR  time-zone = Europe/Berlin  assign std { from = 2026-01-01 } }
tenant lab { currency = EUR  time-zone = UTC  showback = true  assign std { from = 2026-01-01 } }
tenant shadow { currency = EUR  time-zone = UTC  showback = costs  assign std { from = 2026-01-01 } }
tenant quiet { currency = EUR  time-zone = Asia/Kolkata  assign std { from = 2026-01-01 } }
EOP
bill plans load "$T/std.plan" >"$T/load.out" 2>&1 || { cat "$T/load.out"; bail "plans load failed"; }
V=$(q "SELECT version_id FROM bill_version WHERE plan = 'std' AND label = 'v1'")
[ -n "$V" ] || bail "no version row"
mkdir -p "$T/want" && golden data "$T/want" || bail "the golden data set"
sed "s/:V/$V/g" "$T/want/data.sql" >"$T/data.sql"
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$T/data.sql" >/dev/null || bail "loading the data set"
q "INSERT INTO bill_counter VALUES ('default', 'INV-', 1)" >/dev/null

# draft and finalise: TENANT MONTH -> the document's id
final() {
	_out=$(bill invoice draft --tenant "$1" --period "$2" 2>&1) || { echo "$_out" >&2; return 1; }
	_id=$(echo "$_out" | sed -n 's/^[a-z]* \([0-9]*\) (draft).*/\1/p')
	bill invoice finalise "$_id" >"$T/final-$1-$2.out" 2>&1 || { cat "$T/final-$1-$2.out" >&2; return 1; }
	echo "$_id"
}
SEP=$(final acme 2026-09) && OCT=$(final acme 2026-10) && LAB=$(final lab 2026-10) && final shadow 2026-10 >/dev/null &&
	final quiet 2026-10 >/dev/null ||
	bail "finalising"
bill invoice draft --tenant lab --period 2026-09 >/dev/null || bail "a draft"
diag "acme 2026-09: $(cat "$T/final-acme-2026-09.out"); 2026-10: $(cat "$T/final-acme-2026-10.out")"

# ---------------------------------------------------------------- acme October, against September
report chargeback --tenant acme --month 2026-10 --format csv -o "$T/oct.csv" >"$T/oct.out" 2>&1
is "$?" 0 "the October report is written as CSV: $(one "$(cat "$T/oct.out")")"
golden csv "$T/oct.csv" >"$T/oct.got"
diff "$T/want/acme-2026-10.facts" "$T/oct.got" >"$T/oct.diff"
ok $? "every number of the CSV is the golden one ($(wc -l <"$T/oct.got") numbers): $(one "$(head -20 "$T/oct.diff")")"
head -1 "$T/oct.csv" | grep -q '^tenant,period,document,section,project,vm_uuid,vm_name,item,metric,value,unit'
ok $? "the CSV's header"
[ "$(cut -d, -f1-3 "$T/oct.csv" | sed 1d | sort -u)" = "acme,2026-10,INV-2" ]
ok $? "every row names the tenant, the month and the invoice INV-2"
report chargeback --tenant acme --month 2026-10 --format json -o "$T/oct.json"
is "$?" 0 "and as JSON"
golden json "$T/oct.json" >"$T/oct.jgot"
diff "$T/want/acme-2026-10.facts" "$T/oct.jgot" >"$T/oct.jdiff"
ok $? "every number of the JSON is the golden one: $(one "$(head -20 "$T/oct.jdiff")")"
out=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["document"]["number"], d["document"]["kind"], d["from"], d["to"], d["time_zone"], d["currency"],
      d["total"]["nano"], sum(p["amount"]["nano"] for p in d["projects"]), sum(m["amount"]["nano"] for m in d["meters"]),
      d["previous"]["number"], len(d["top_vms"]))' "$T/oct.json")
TOTAL=$(q "SELECT total FROM bill_invoice WHERE invoice_id = $OCT")
is "$out" "INV-2 invoice 2026-10-01T00:00+02 2026-11-01T00:00+01 Europe/Berlin EUR $TOTAL $TOTAL $TOTAL INV-1 10" \
	"JSON: the invoice's bounds in the tenant's zone; total, projects and meters each add up to the invoice's $TOTAL"
is "$(q "SELECT sum(amount) FROM bill_line WHERE invoice_id = $OCT AND kind = 'host-cost'")" \
	"$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["shared_host_cost"]["total"]["nano"])' "$T/oct.json")" \
	"the shared host cost is the invoice's host-cost lines"
grep -q '^summary||||shared_host_cost_idle|0.00|EUR$' "$T/oct.got"
is "$?" 1 "the spread pool's idle share is not zero"
grep -q '^shared_host_cost|shop|web-2|line/hv2|idle|0.00|EUR$' "$T/oct.got"
ok $? "the operator's-line pool's idle share is zero"
grep -c '^top_vm|.*|amount|' "$T/oct.got" | grep -qx 10
ok $? "the top VMs are 10 of the 11"
grep -q '^project|legacy|||amount|0.00|EUR$' "$T/oct.got" && grep -q '^project|legacy|||change|-' "$T/oct.got"
ok $? "a project of September alone is shown with its fall to 0"
grep -q '^project|ml|||previous_amount|0.00|EUR$' "$T/oct.got" && ! grep -q '^project|ml|||change_percent' "$T/oct.got"
ok $? "a new project has no percentage"

# the VM named like a formula: kept as text
grep -q ',"'"'"'=HYPERLINK(""x"")",' "$T/oct.csv"
ok $? "a VM named =HYPERLINK(\"x\") is written as text ('=...) in the CSV"
cut -d, -f5-8 "$T/oct.csv" | grep -q '^=\|,=' 
is "$?" 1 "no CSV cell starts with ="

report chargeback --tenant acme --month 2026-10 --format html -o "$T/oct.html"
is "$?" 0 "and as HTML"
want_total=$(grep '^summary||||total|' "$T/want/acme-2026-10.facts" | cut -d'|' -f6)
want_shop=$(grep '^project|shop|||amount|' "$T/want/acme-2026-10.facts" | cut -d'|' -f6)
want_kwh=$(golden qtext "$(grep '^summary||||energy_j|' "$T/want/acme-2026-10.facts" | cut -d'|' -f6)" 3600000 3)
grep -q "$want_total EUR" "$T/oct.html" && grep -q ">$want_shop<" "$T/oct.html" && grep -q "<svg" "$T/oct.html" &&
	grep -q "INV-2" "$T/oct.html" && grep -q "Europe/Berlin" "$T/oct.html" && grep -q "=HYPERLINK(&quot;x&quot;)" "$T/oct.html"
ok $? "the HTML shows the total $want_total EUR, project shop's $want_shop, bar charts (SVG), the number and zone"
grep -q "<p>$want_kwh kWh, the VMs" "$T/oct.html"
ok $? "and the energy ($want_kwh kWh)"
! grep -q "<script" "$T/oct.html"
ok $? "the HTML is self-contained: no script"

# ---------------------------------------------------------------- September: no previous month, a minimum
report chargeback --tenant acme --month 2026-09 --format csv -o "$T/sep.csv"
golden csv "$T/sep.csv" >"$T/sep.got"
diff "$T/want/acme-2026-09.facts" "$T/sep.got" >"$T/sep.diff"
ok $? "September's report is golden too (minimum line, no previous month): $(one "$(head -20 "$T/sep.diff")")"
grep -q '^meter|||minimum|amount|' "$T/sep.got" && grep -q '^summary||||total|20.00|EUR$' "$T/sep.got"
ok $? "the minimum is a meter of its own and the total is the minimum, 20.00"
! grep -q 'previous' "$T/sep.got"
ok $? "without a previous month, no previous figures"

# ---------------------------------------------------------------- PDF
report chargeback --tenant acme --month 2026-10 --format pdf -o "$T/oct.pdf" >"$T/pdf.out" 2>&1
is "$?" 0 "the PDF is written: $(one "$(cat "$T/pdf.out")")"
pages=$(sed -n 's/.*: \([0-9]*\) pages\?$/\1/p' "$T/pdf.out")
rm -f "$T"/page*.png
pdftoppm -r 40 -png "$T/oct.pdf" "$T/page" && rendered=$(ls "$T"/page*.png | wc -l)
is "$rendered $(pdfinfo "$T/oct.pdf" | sed -n 's/^Pages: *//p')" "$pages $pages" "pdftoppm renders each of its $pages pages"
is "$pages" 4 "the October report has 4 pages (A4)"
mkdir -p "$top_builddir/tests/integration" &&
	pdftoppm -r 60 -png -f 1 -l 1 -singlefile "$T/oct.pdf" "$top_builddir/tests/integration/chargeback-page1"
ok $? "page 1 kept as tests/integration/chargeback-page1.png"
pdftotext "$T/oct.pdf" - | grep -q "$want_total EUR"
ok $? "the PDF's text holds the total"

# ---------------------------------------------------------------- showback without money
for f in csv json html; do
	report chargeback --tenant lab --month 2026-10 --format $f -o "$T/lab.$f" || echo "lab $f failed"
done >"$T/lab.out" 2>&1
report chargeback --tenant lab --month 2026-10 --format pdf -o "$T/lab.pdf" >>"$T/lab.out" 2>&1
is "$(grep -c failed "$T/lab.out")" 0 "the showback report is written in every format: $(one "$(cat "$T/lab.out")")"
golden csv "$T/lab.csv" >"$T/lab.got"
diff "$T/want/lab-2026-10.facts" "$T/lab.got" >"$T/lab.diff"
ok $? "the showback CSV is golden: quantities, energy, coverage and gaps: $(one "$(head -20 "$T/lab.diff")")"
golden json "$T/lab.json" >"$T/lab.jgot"
diff "$T/want/lab-2026-10.facts" "$T/lab.jgot" >"$T/lab.jdiff"
ok $? "and so is its JSON: $(one "$(head -20 "$T/lab.jdiff")")"
pdftotext "$T/lab.pdf" "$T/lab.txt"
money=$(grep -l 'EUR' "$T/lab.csv" "$T/lab.json" "$T/lab.html" "$T/lab.txt"
	grep -l '"nano"' "$T/lab.json"
	grep -il 'amount\|shared host cost\|idle share' "$T/lab.csv" "$T/lab.html" "$T/lab.txt")
is "$money" "" "no currency, no amount and no shared host cost in any of its exports"
is "$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["money"], d["currency"], d["total"], d["shared_host_cost"]["total"], [p["amount"] for p in d["projects"]])' "$T/lab.json")" \
	"False None None None [None]" "its JSON says money: false, with no currency, total or amounts"
grep -q "Showback report 2026-10: lab (usage, no charges)" "$T/lab.txt"
ok $? "its PDF says it is a showback report"

# showback = costs: the statement's shadow prices are kept
report chargeback --tenant shadow --month 2026-10 --format csv -o "$T/shadow.csv" &&
	report chargeback --tenant shadow --month 2026-10 --format html -o "$T/shadow.html"
is "$?" 0 "a statement with costs (showback = costs) is reported"
golden csv "$T/shadow.csv" >"$T/shadow.got"
diff "$T/want/shadow-2026-10.facts" "$T/shadow.got" >"$T/shadow.diff"
ok $? "golden, with its amounts and its minimum: $(one "$(head -20 "$T/shadow.diff")")"
[ "$(cut -d, -f3 "$T/shadow.csv" | sed 1d | sort -u)" = statement ] &&
	grep -q "Showback report 2026-10: shadow (costs at the plan&#39;s prices, not invoiced)" "$T/shadow.html"
ok $? "named a statement, titled as showback with costs"

# a month without any usage: an empty invoice, an empty report
out=$(report chargeback --tenant quiet --month 2026-10 --format json 2>&1) &&
	out=$(echo "$out" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(d["from"], d["total"]["text"], len(d["projects"]), len(d["meters"]), len(d["top_vms"]), d["energy"]["kwh"])')
is "$out" "2026-10-01T00:00+05:30 0.00 0 0 0 0" "a finalised month without usage gives an empty report (in the tenant's +05:30)"
report chargeback --tenant quiet --month 2026-10 --format pdf -o "$T/quiet.pdf" >"$T/quiet.out" 2>&1
is "$?:$(cat "$T/quiet.out")" "0:$T/quiet.pdf: 1 page" "and a one-page PDF"

# ---------------------------------------------------------------- bad parameters
# each: the exit status, the whole message; no output file is left
refused() { # WANT_STATUS WANT_MESSAGE DESCRIPTION ARGS...
	_st=$1 _msg=$2 _d=$3
	shift 3
	rm -f "$T/bad.out" "$T/bad.out.tmp"
	_out=$(report chargeback "$@" 2>&1)
	_rc=$?
	[ ! -e "$T/bad.out" ] && [ ! -e "$T/bad.out.tmp" ]
	_left=$?
	is "$_rc:$_out:$_left" "$_st:$_msg:0" "$_d"
}
refused 1 "vmeter-report: chargeback: tenant 'nobody' is unknown: no loaded plan file names it and it has no invoice (vmeter-bill plans load, invoice list)" \
	"an unknown tenant" --tenant nobody --month 2026-10 -o "$T/bad.out"
refused 2 "vmeter-report: chargeback: month '2026-13' is not a month YYYY-MM (01 to 12, from 1970)" \
	"a malformed month" --tenant acme --month 2026-13 -o "$T/bad.out"
refused 2 "vmeter-report: chargeback: month '2026-1' is not a month YYYY-MM (01 to 12, from 1970)" \
	"a month without its zero" --tenant acme --month 2026-1
refused 2 "vmeter-report: chargeback: month 'october' is not a month YYYY-MM (01 to 12, from 1970)" \
	"a month by name" --tenant acme --month october
refused 2 "vmeter-report: chargeback: month 2099-01 is in the future (in Europe/Berlin, the time zone of tenant 'acme')" \
	"a future month" --tenant acme --month 2099-01 -o "$T/bad.out"
now=$(TZ=Europe/Berlin date +%Y-%m)
end=$(TZ=Europe/Berlin date -d "$now-15 +1 month" +%Y-%m-01)
out=$(report chargeback --tenant acme --month "$now" 2>&1)
rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -qx "vmeter-report: chargeback: month $now has not ended yet in Europe/Berlin (it ends ${end}T00:00+0[12]): its invoice cannot be final"
ok $? "the current month, not over yet: $rc $out"
refused 1 "vmeter-report: chargeback: tenant 'acme' has no invoice or statement for 2026-08: draft and finalise it first (vmeter-bill invoice draft --tenant acme --period 2026-08)" \
	"a month without an invoice" --tenant acme --month 2026-08 -o "$T/bad.out"
LABDRAFT=$(q "SELECT invoice_id FROM bill_invoice WHERE tenant = 'lab' AND period = '2026-09-01'")
refused 1 "vmeter-report: chargeback: the statement of 'lab' for 2026-09 (id $LABDRAFT) is a draft: the report reads finalised documents only (vmeter-bill invoice finalise $LABDRAFT)" \
	"a month whose statement is a draft" --tenant lab --month 2026-09 -o "$T/bad.out"
refused 2 "vmeter-report: chargeback: format 'xml' is not one of html, csv, json, pdf" \
	"a bad format" --tenant acme --month 2026-10 --format xml -o "$T/bad.out"
refused 1 "vmeter-report: cannot write '$T/no/such/dir/r.csv': No such file or directory" \
	"an output in a directory that does not exist" --tenant acme --month 2026-10 --format csv -o "$T/no/such/dir/r.csv"
mkdir "$T/adir"
refused 1 "vmeter-report: cannot write '$T/adir': Is a directory" \
	"an output that is a directory" --tenant acme --month 2026-10 --format csv -o "$T/adir"
refused 2 "vmeter-report: chargeback: give the tenant: --tenant T" "no tenant" --month 2026-10
refused 2 "vmeter-report: chargeback: a PDF is written to a file: give -o FILE" "a PDF without -o" \
	--tenant acme --month 2026-10 --format pdf
out=$(report chargeback --tenant acme --month 2026-10 --colour blue 2>&1)
is "$?:$out" "2:vmeter-report: chargeback: unknown option or missing value: '--colour'" "an unknown option"

# ---------------------------------------------------------------- a draft's preview
out=$(report chargeback --tenant lab --month 2026-09 --draft --format json | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(d["document"]["state"], d["document"]["finalised_at"], d["document"]["id"], d["money"])')
is "$out" "draft None $LABDRAFT False" "--draft: a draft's report says it is one (state, no finalisation)"
report chargeback --tenant lab --month 2026-09 --draft >"$T/labdraft.html"
grep -q "Draft showback report 2026-09: lab" "$T/labdraft.html" && grep -q "a preview, its figures change" "$T/labdraft.html"
ok $? "and its HTML is titled as a draft"
is "$(report chargeback --tenant lab --month 2026-09 --draft --format csv | sed -n 2p | cut -d, -f3)" "statement (draft)" \
	"and its CSV names the document a draft"
out=$(report chargeback --tenant acme --month 2026-10 --draft --format json | python3 -c 'import json, sys
print(json.load(sys.stdin)["document"]["state"])')
is "$out" "final" "--draft on a finalised month reads the final invoice"

# ---------------------------------------------------------------- kept reports
# vmeter-report due runs as a login role of sql/roles/vmeter_report.sql
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$top_srcdir/sql/roles/vmeter_report.sql" >/dev/null ||
	bail "the report role's grants failed"
q "CREATE ROLE reporter LOGIN IN ROLE vmeter_report" >/dev/null || bail "cannot create the login role"
sed 's/user=vmeter/user=reporter/' "$T/vmeter.conf" >"$T/report.conf"
kept() { "$REPORT" -c "$T/report.conf" "$@"; }
out=$(kept due --dir "$T/kept" 2>&1)
is "$?:$out" "0:due: 5 reports made (20 files written), 0 up to date" \
	"due keeps the report of each of the 5 finalised months, in 4 formats"
is "$(q "SELECT count(*) || ' ' || count(DISTINCT (tenant, period)) FROM report_file WHERE kind = 'chargeback'")" "20 5" \
	"20 kept files of 5 reports"
is "$(kept due 2>&1)" "due: 0 reports made (0 files written), 5 up to date" "due again makes nothing"
ID=$(kept list --tenant acme | awk -F'\t' '$4 == "2026-10" && $5 == "csv" { print $1 }')
kept get "$ID" -o "$T/kept-oct.csv" && report chargeback --tenant acme --month 2026-10 --format csv -o "$T/now-oct.csv" >/dev/null
cmp -s "$T/kept-oct.csv" "$T/now-oct.csv"
ok $? "a kept report is the report, byte for byte (list, get $ID)"
cmp -s "$T/kept/acme/2026-10/chargeback.csv" "$T/now-oct.csv" && [ "$(head -c 5 "$T/kept/acme/2026-10/chargeback.pdf")" = "%PDF-" ] &&
	[ "$(ls "$T/kept/acme/2026-10")" = "$(printf 'chargeback.csv\nchargeback.html\nchargeback.json\nchargeback.pdf')" ]
ok $? "and the directory holds the same files"
bill invoice credit "$OCT" --reason "goodwill" --line 1 >/dev/null || bail "a credit note"
bill invoice finalise "$(q "SELECT invoice_id FROM bill_invoice WHERE credits = $OCT")" >/dev/null 2>&1
out=$(kept due 2>&1)
is "$out" "due: 1 report made (0 files written), 4 up to date" "a credit note makes its month's report again, only it"
ID=$(kept list --tenant acme | awk -F'\t' '$4 == "2026-10" && $5 == "json" { print $1 }')
is "$(kept get "$ID" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["credit_notes"]))')" 1 \
	"and the kept report lists the credit note"
is "$(kept list --tenant acme | awk -F'\t' '$4 == "2026-10" { print $8 }' | sort -u | grep -c 'credit notes')" 1 \
	"the kept files say what they were made from"
out=$(kept get 999999 2>&1)
is "$?:$out" "1:vmeter-report: get: no kept report 999999 (vmeter-report list)" "get of a report that is not kept"
out=$(kept get ../x 2>&1)
is "$?:$out" "2:vmeter-report: get: give the id of a kept report (vmeter-report list): '../x'" "get of a bad id"
out=$(kept list --dir "$T/kept" 2>&1)
is "$?:$out" "2:vmeter-report: list: --dir is not an option of list" "an option of another command"
out=$(kept due --dir /proc/vmeter 2>&1)
is "$?" 1 "a directory that cannot be made: $out"
