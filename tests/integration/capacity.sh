#!/bin/bash
# vmeter-report capacity: golden reports of a fixed fleet against a real
# PostgreSQL.  tests/capacity_golden.py writes the minute rows (VMs and
# hosts, known shapes: a linear trend, a daily season, an idle, an
# oversized, a gappy and a powered-off VM) and the invoices, and computes
# every figure the report must hold from docs/REPORTS.md's definitions,
# independently of reports/; `vmeter-admin maintain` rolls the minutes up;
# then:
#   - the CSV of each grouping (host, class, tenant) and of two what-ifs
#     (add VMs, remove a host) holds exactly the golden figures;
#   - the forecasts: hv1's linear trend and hv2's daily season run out
#     when the shapes say, within the printed band, by the right method;
#   - JSON, HTML (inline SVG charts, no script) and the PDF (pdftoppm,
#     the expected pages; page 1 kept as tests/integration/capacity-page1.png);
#   - --host and --tenant narrow the report;
#   - every bad parameter is named, exit 1 or 2, and writes no file.
. "$(dirname "$0")/../lib.sh"
plan 66
REPORT=$top_builddir/reports/vmeter-report
[ -x "$REPORT" ] || bail "no $REPORT"
command -v pdftoppm >/dev/null || bail "no pdftoppm (poppler-utils: scripts/install-deps.sh)"
start_postgres
write_conf "$T/vmeter.conf" 'reports {
  ha-reserve-hosts = 1
  buffer-percent = 10
  host-disk-gib = 1000
  host-classes = "big=hv1,hv2 small=hv3"
}'
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
report() { "$REPORT" -c "$T/vmeter.conf" "$@"; }
q() { psql_q "$1"; }
one() { echo "$1" | tr '\n' ' '; } # a message on one TAP line
golden() { python3 "$top_srcdir/tests/capacity_golden.py" "$@"; }

mkdir -p "$T/want" && golden data "$T/want" || bail "the golden data set"
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$T/want/data.sql" >/dev/null || bail "loading the data set"
"$ADMIN" -c "$T/vmeter.conf" maintain --now "2026-10-16 00:05:00" --no-retention --no-pack >"$T/maint.out" 2>&1 ||
	{ cat "$T/maint.out"; bail "maintain"; }
is "$(q "SELECT count(*) FROM vm_usage_hour") $(q "SELECT count(*) FROM host_usage_hour")" "1764 1008" \
	"maintain rolled up the VM hours (5 VMs x 336 + 84 of the gappy one) and the hosts' (3 x 336)"
P=2026-10-01..2026-10-14

# golden: the report's CSV as facts against the golden ones
golden_csv() { # NAME DESCRIPTION ARGS...
	gc_n=$1 gc_d=$2
	shift 2
	report capacity --period $P --format csv -o "$T/$gc_n.csv" "$@" >"$T/$gc_n.out" 2>&1
	is "$?" 0 "$gc_d: written ($(one "$(cat "$T/$gc_n.out")"))"
	golden csv "$T/$gc_n.csv" >"$T/$gc_n.got"
	golden compare "$T/want/$gc_n.facts" "$T/$gc_n.got" >"$T/$gc_n.diff"
	ok $? "$gc_d: every figure is the golden one ($(wc -l <"$T/want/$gc_n.facts") figures): $(one "$(head -10 "$T/$gc_n.diff")")"
}
golden_csv host "by host" --group host
golden_csv class "by class (N+1: the big class holds one host back, the small one its only host)" --group class
golden_csv tenant "by tenant" --group tenant
golden_csv add "what-if: 3 VMs of 4 vCPUs and 16 GiB added" --group host --what-if add=3:4:16
golden_csv addmany "what-if: 12 VMs added, more than fit" --group host --what-if add=12:4:16
grep -q '^whatif||||vms_not_placed|[1-9]' "$T/addmany.got"
ok $? "some of the 12 are not placed: $(grep vms_not_placed "$T/addmany.got")"
golden_csv remove "what-if: hv3 removed" --group class --what-if remove-host=hv3
head -1 "$T/host.csv" | grep -q '^period,group,section,kind,name,resource,metric,value,unit'
ok $? "the CSV's header"
grep -q '^2026-10-01..2026-10-14,host,reclaim,powered-off,old,,uuid,,00000000-0000-4000-8000-000000000007' "$T/host.csv"
ok $? "a reclaimable VM's row names its UUID"

# ---------------------------------------------------------------- forecasts
report capacity --period $P --format json -o "$T/host.json"
is "$?" 0 "the report as JSON"
fc() { # HOST -> method earliest days latest
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
r = [x for x in d["rows"] if x["name"] == sys.argv[2]][0]["forecast"]["cpu"]
print(r["method"], r["earliest_days"], r["days_remaining"], r["latest_days"], r["window_hours"], r["hours_with_data"], "%.3f" % r["r2"])' \
		"$T/host.json" "$1"
}
band_holds() { # WANT_DAYS EARLIEST LATEST: within the band, to the hour
	awk -v w="$1" -v e="$2" -v l="$3" 'BEGIN { exit !(w >= e - 1 / 24 && w <= l + 1 / 24) }'
}
read -r m e t l win used r2 <<<"$(fc hv1)"
want=$(awk '$1 == "hv1" { print $2 }' "$T/want/forecast.txt")
[ "$m" = linear ] && band_holds "$want" "$e" "$l"
ok $? "hv1's linear CPU trend runs out in $want days, within the band: $m $t days ($e to $l), R2 $r2"
is "$win $used" "336 336" "the forecast's window: the period's 336 hours, all with data"
awk -v t="$t" -v w="$want" 'BEGIN { exit !(t - w < 0.5 && w - t < 0.5) }'
ok $? "and its point estimate within half a day ($t)"
read -r m e t l win used r2 <<<"$(fc hv2)"
want=$(awk '$1 == "hv2" { print $2 }' "$T/want/forecast.txt")
[ "$m" = holt-winters ] && band_holds "$want" "$e" "$l"
ok $? "hv2's daily season with a trend runs out in $want days, within the band: $m $t days ($e to $l), R2 $r2"
out=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
f = [x for x in d["rows"] if x["name"] == "hv1"][0]["forecast"]
print(f["disk"]["days_remaining"], f["memory"]["days_remaining"], d["vm_size"]["fleet_median"], d["reclaimable_total"])' "$T/host.json")
is "$out" "None None True [{'currency': 'EUR', 'text': '70.12', 'nano': 70120000000}]" \
	"flat memory and disk do not run out within the horizon; the size is the median VM; reclaimable cost 70.12 EUR (sleepy 12.34 on the final invoice, fat, gappy and old on the draft)"

# ---------------------------------------------------------------- HTML, PDF
report capacity --period $P --group class -o "$T/class.html" --what-if add=2:2:4
is "$?" 0 "as HTML, with a what-if"
grep -q "<polyline" "$T/class.html" && grep -q "holt-winters" "$T/class.html" && grep -q "usable 21.60 cores" "$T/class.html" &&
	grep -q "<h2>What-if</h2>" "$T/class.html" && grep -q "<h2>Reclaimable capacity</h2>" "$T/class.html"
ok $? "the HTML has line charts (SVG), the forecasts' method, the fleet's usable 21.60 cores, what-if and reclaimable"
! grep -q "<script\|src=\|href=" "$T/class.html"
ok $? "the HTML is self-contained"
report capacity --period $P --group class --format pdf -o "$T/class.pdf" >"$T/pdf.out" 2>&1
is "$?" 0 "the PDF is written: $(one "$(cat "$T/pdf.out")")"
pages=$(sed -n 's/.*: \([0-9]*\) pages\?$/\1/p' "$T/pdf.out")
rm -f "$T"/page*.png
pdftoppm -r 40 -png "$T/class.pdf" "$T/page" && rendered=$(ls "$T"/page*.png | wc -l)
is "$rendered $(pdfinfo "$T/class.pdf" | sed -n 's/^Pages: *//p')" "$pages $pages" "pdftoppm renders each of its $pages pages"
is "$pages" 5 "the class report has 5 pages (A4)"
mkdir -p "$top_builddir/tests/integration" &&
	pdftoppm -r 60 -png -f 1 -l 1 -singlefile "$T/class.pdf" "$top_builddir/tests/integration/capacity-page1"
ok $? "page 1 kept as tests/integration/capacity-page1.png"
pdftotext "$T/class.pdf" - | grep -q "Capacity report 2026-10-01..2026-10-14 by class"
ok $? "the PDF's text holds the title"

# ---------------------------------------------------------------- narrowing
out=$(report capacity --period $P --host hv1 --format json | python3 -c 'import json, sys
d = json.load(sys.stdin)
print([r["name"] for r in d["rows"]], [v["name"] for v in d["reclaimable"]], d["rows"][0]["headroom"])')
is "$out" "['hv1', 'fleet'] ['sleepy'] {'demand': 1, 'allocation': 2}" "--host hv1: its row and its VMs only (the median VM of its two: 4 vCPUs, 8 GiB)"
out=$(report capacity --month 2026-10 --tenant acme --group tenant --format json 2>&1 | python3 -c 'import json, sys
d = json.load(sys.stdin)
print([(r["name"], r["capacity"], r["headroom"]) for r in d["rows"]], [v["name"] for v in d["reclaimable"]], d["hours"])')
is "$out" "[('acme', None, None), ('fleet', None, None)] ['sleepy'] 744" \
	"--tenant acme over the month: its use only, no capacity or headroom, its VMs"

# ---------------------------------------------------------------- bad parameters
refused() { # WANT_STATUS WANT_MESSAGE DESCRIPTION ARGS...
	_st=$1 _msg=$2 _d=$3
	shift 3
	rm -f "$T/bad.out" "$T/bad.out.tmp"
	_out=$(report capacity "$@" 2>&1)
	_rc=$?
	[ ! -e "$T/bad.out" ] && [ ! -e "$T/bad.out.tmp" ]
	_left=$?
	is "$_rc:$_out:$_left" "$_st:$_msg:0" "$_d"
}
refused 1 "vmeter-report: capacity: host 'hv9' is unknown (vmeter-admin hosts lists them)" \
	"an unknown host" --period $P --host hv9 -o "$T/bad.out"
refused 1 "vmeter-report: capacity: tenant 'nobody' is unknown: no VM has ever had it as owner" \
	"an unknown tenant" --period $P --tenant nobody -o "$T/bad.out"
refused 1 "vmeter-report: capacity: no usage between 2026-08-01 00:00 and 2026-08-03 00:00 UTC: nothing was measured then, or its hours are not rolled up yet (vmeter-admin maintain)" \
	"a period without data" --period 2026-08-01..2026-08-02 -o "$T/bad.out"
refused 2 "vmeter-report: capacity: period 2099-01 is in the future" "a future month" --month 2099-01 -o "$T/bad.out"
today=$(date -u +%F)
refused 2 "vmeter-report: capacity: period 2026-10-01..$today has not ended yet (it ends $(date -u -d "$today + 1 day" +%F))" \
	"a period not over yet" --period "2026-10-01..$today" -o "$T/bad.out"
refused 2 "vmeter-report: capacity: period '2026-10-01-2026-10-14' is not FROM..TO, two UTC days YYYY-MM-DD (both included), FROM not after TO" \
	"a malformed period" --period 2026-10-01-2026-10-14 -o "$T/bad.out"
refused 2 "vmeter-report: capacity: period '2026-10-14..2026-10-01' is not FROM..TO, two UTC days YYYY-MM-DD (both included), FROM not after TO" \
	"a period backwards" --period 2026-10-14..2026-10-01
refused 2 "vmeter-report: capacity: period '2026-02-30..2026-03-01' is not FROM..TO, two UTC days YYYY-MM-DD (both included), FROM not after TO" \
	"a day that does not exist" --period 2026-02-30..2026-03-01
refused 2 "vmeter-report: capacity: month '2026-13' is not a month YYYY-MM (01 to 12, from 1970)" \
	"a malformed month" --month 2026-13
refused 2 "vmeter-report: capacity: give the period: --period FROM..TO, --month YYYY-MM or --last N(h|d)" \
	"both a period and a month" --period $P --month 2026-10
refused 2 "vmeter-report: capacity: what-if 'add=3:4' is not add=N:VCPUS:MEM_GIB[:DISK_GIB] (whole numbers above 0) or remove-host=H" \
	"a what-if without the memory" --period $P --what-if add=3:4 -o "$T/bad.out"
refused 2 "vmeter-report: capacity: what-if 'grow=2' is not add=N:VCPUS:MEM_GIB[:DISK_GIB] (whole numbers above 0) or remove-host=H" \
	"an unknown what-if" --period $P --what-if grow=2
refused 2 "vmeter-report: capacity: what-if remove-host=hv9: host 'hv9' is unknown" \
	"removing an unknown host" --period $P --what-if remove-host=hv9 -o "$T/bad.out"
refused 2 "vmeter-report: capacity: group 'rack' is not one of host, class, tenant" "a bad group" --period $P --group rack
refused 2 "vmeter-report: capacity: format 'xml' is not one of html, csv, json, pdf" "a bad format" --period $P --format xml
refused 2 "vmeter-report: capacity: a PDF is written to a file: give -o FILE" "a PDF without -o" --period $P --format pdf
refused 2 "vmeter-report: capacity: unknown option or missing value: '--colour'" "an unknown option" --period $P --colour blue
# --last: the last hours the rollups closed (maintain ran at 2026-10-16
# 00:05, so they end at 2026-10-16 00:00): the same figures as the period
# of those days, named by its hours
report capacity --last 48h --format csv -o "$T/last.csv" >"$T/last.out" 2>&1
is "$?" 0 "--last 48h: written ($(one "$(cat "$T/last.out")"))"
report capacity --period 2026-10-14..2026-10-15 --format csv -o "$T/two.csv" >/dev/null 2>&1
cmp -s <(cut -d, -f2- "$T/last.csv") <(cut -d, -f2- "$T/two.csv")
ok $? "... the same figures as --period 2026-10-14..2026-10-15"
is "$(sed -n 2p "$T/last.csv" | cut -d, -f1)" "2026-10-14 00:00..2026-10-16 00:00 UTC" "... its period named by its hours"
refused 1 "vmeter-report: capacity: no usage between 2026-10-15 00:00 and 2026-10-16 00:00 UTC: nothing was measured then, or its hours are not rolled up yet (vmeter-admin maintain)" \
	"--last 24h: the last closed day had no data" --last 24h -o "$T/bad.out"
refused 2 "vmeter-report: capacity: last '0h' is not N hours or days (6h, 7d; at most 8784 hours)" "--last 0h" --last 0h
refused 2 "vmeter-report: capacity: last '367d' is not N hours or days (6h, 7d; at most 8784 hours)" "--last 367d" --last 367d
refused 2 "vmeter-report: capacity: give the period: --period FROM..TO, --month YYYY-MM or --last N(h|d)" \
	"--last and --period" --last 6h --period $P
q "UPDATE rollup_state SET closed_upto = '-infinity'" >/dev/null
refused 1 "vmeter-report: capacity: the last 6h: no hour is rolled up yet (vmeter-admin maintain closes each hour once it is over)" \
	"--last before any hour is rolled up" --last 6h -o "$T/bad.out"
q "UPDATE rollup_state SET closed_upto = '2026-10-16 00:00+00'" >/dev/null
write_conf "$T/bad.conf" 'reports {
  buffer-percent = 150
}'
out=$("$REPORT" -c "$T/bad.conf" capacity --period $P 2>&1)
rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "$T/bad.conf:2[0-9]*: .*buffer-percent"
ok $? "a configuration error names the file and line: $rc $(one "$out")"
write_conf "$T/bad2.conf" 'reports {
  vm-size = "4x16"
}'
out=$("$REPORT" -c "$T/bad2.conf" -n 2>&1)
rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "$T/bad2.conf:2[0-9]*: .*vm-size.*must be VCPUS:MEM_GIB\[:DISK_GIB\]"
ok $? "a VM size that is not VCPUS:MEM_GIB is refused by -n with file and line: $rc $(one "$out")"
write_conf "$T/bad3.conf" 'reports {
  host-classes = "big hv1"
}'
out=$("$REPORT" -c "$T/bad3.conf" capacity --period $P 2>&1)
rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "$T/bad3.conf:2[0-9]*: .*host-classes.*must be words NAME=GLOB"
ok $? "host classes without NAME=GLOB are refused with file and line: $rc $(one "$out")"
out=$(report -n 2>&1)
is "$?:$out" "0:$T/vmeter.conf: configuration ok" "-n accepts the test's reports section"

# ---------------------------------------------------------------- kept
# vmeter-report due keeps the fleet's report (by host) of each UTC month
# the rollups have closed: none yet (October is open through the 16th),
# then October once maintenance has closed it.
# (the data's finalised invoices get their chargeback reports first)
NF=$(psql_q "SELECT count(*) FROM bill_invoice WHERE state = 'final' AND kind <> 'credit'")
is "$(report due 2>&1)" "due: $NF reports made (0 files written), 0 up to date" "due: no closed month yet (and the $NF invoices' reports)"
"$ADMIN" -c "$T/vmeter.conf" maintain --now "2026-11-01 00:05:00" --no-retention --no-pack >"$T/maint2.out" 2>&1 ||
	{ cat "$T/maint2.out"; bail "maintain to November"; }
out=$(report due --dir "$T/kept" 2>&1)
is "$?:$out" "0:due: 1 report made (4 files written), $NF up to date" "due keeps October's capacity report once it is closed"
ID=$(report list | awk -F'\t' '$2 == "capacity" && $3 == "(fleet)" && $4 == "2026-10" && $5 == "json" { print $1 }')
nogen() { python3 -c 'import json, sys; d = json.load(sys.stdin); d.pop("generated"); print(json.dumps(d, sort_keys=True))'; }
[ -n "$ID" ] && [ "$(report get "$ID" | nogen)" = "$(report capacity --month 2026-10 --format json | nogen)" ]
ok $? "the kept report is the month's report by host (its JSON, but for when it was generated)"
[ "$(ls "$T/kept/%fleet/2026-10" | tr '\n' ' ')" = "capacity.csv capacity.html capacity.json capacity.pdf " ] &&
	[ "$(head -c 5 "$T/kept/%fleet/2026-10/capacity.pdf")" = "%PDF-" ]
ok $? "and the directory holds its four files under %fleet"
is "$(report due 2>&1)" "due: 0 reports made (0 files written), $((NF + 1)) up to date" "and due makes it once"
