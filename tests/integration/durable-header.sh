#!/bin/bash
# A spool segment whose header is damaged while the collector is down: the
# collector quarantines the whole segment (renamed to .seg.bad, its records
# never delivered), and `vmeter-admin status` must say so: the segment and
# its bytes counted, the spool-damaged alert raised and exit status 3.
# Before, status said "damaged spool records: 0, alerts: none" over a
# segment of 150 lost VM-minutes.  The rows lost must be exactly the rows of
# that segment (tests/spool_damage.py decodes them), the rest delivered.
. "$(dirname "$0")/../lib.sh"
plan 13

start_postgres
sh "$top_srcdir/bench/gen-fleet.sh" 20 >"$T/fleet.xml"
CONF_URI="test://$T/fleet.xml" CONF_MAX_GAP=30 write_conf "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
LEDGER=$T/ledger
log=$T/collector.log

stop_postgres immediate
# build_backlog of lib.sh, waiting longer: a run starts 3 s before a minute
# boundary, and when a loaded machine's sanitizer start-up takes longer the
# run's first rows come with the next boundary, a minute later.
for _run in 1 2; do
	n0=$(cat "$LEDGER" 2>/dev/null | wc -l)
	fake_clock_before_minute 3
	start_collector_faked "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER"
	wait_for 150 sh -c "[ \$(wc -l <'$LEDGER') -ge $((n0 + 21)) ]" || bail "no usage rows in the ledger (run $_run)"
	kill -9 "$COLLECTOR_PID"
	wait "$COLLECTOR_PID" 2>/dev/null
done
python3 "$top_srcdir/tests/spool_damage.py" --header "$T/state/spool" >"$T/damaged" || bail "cannot damage the spool"
grep -v '^header' "$T/damaged" | sed 's/^/# damaged: /'
seg=$(awk '$1 == "segment" { print $2 }' "$T/damaged")
seg_bytes=$(awk '$1 == "segment" { print $3 }' "$T/damaged")
awk '$1 == "header" && NF == 5 { print $4, $5 }' "$T/damaged" | sort >"$T/expected.lost"
diag "segment $seg, $seg_bytes bytes, $(wc -l <"$T/expected.lost") usage rows"

restart_postgres || bail "PostgreSQL did not restart"
: >"$log"
start_collector_faked "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER"
wait_for 60 grep -q "records from before wait for delivery" "$log" || bail "the collector did not start"
grep -q "segment '$seg' has a bad header (header checksum mismatch): renamed to '$seg.bad'" "$log"
ok $? "the segment with the damaged header is quarantined, and logged"
[ -f "$T/state/spool/$seg.bad" ] && [ ! -e "$T/state/spool/$seg" ]
ok $? "and kept for the operator as $seg.bad"
# Drained: delivery lag and database-down are gone, so what remains is the
# quarantined segment alone.
wait_for 90 sh -c "grep -q '\"database\": \"up\", \"spool_bytes\": [0-9]*, \"spool_records\": 0,' '$T/state/status.json'"
ok $? "the rest of the spool is delivered"

"$ADMIN" -c "$T/vmeter.conf" status >"$T/status.out" 2>&1
rc=$?
sed 's/^/# /' "$T/status.out"
is "$rc" 3 "status exits 3: an alert holds"
is "$(sed -n 's/^alerts: *//p' "$T/status.out")" "spool-damaged" "status raises spool-damaged, alone"
is "$(sed -n 's/^quarantined segments: *//p' "$T/status.out")" "1 ($seg_bytes bytes, kept as .seg.bad)" \
	"status counts the quarantined segment and its bytes"
"$ADMIN" -c "$T/vmeter.conf" status --json >"$T/status.json.out"
rc=$?
is "$rc" 3 "status --json exits 3 as well"
got=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["spool_quarantined_segments"], d["spool_quarantined_bytes"])' \
	"$T/status.json.out")
is "$got" "1 $seg_bytes" "status.json: spool_quarantined_segments and spool_quarantined_bytes"
stop_collector
is "$COLLECTOR_RC" 0 "clean exit"

{ ledger_rows "$LEDGER"; awk '$1 == "host" { print $1, $2 }' "$LEDGER" | sort -u; } | sort >"$T/ledger.all"
{ db_rows; psql_q "COPY (SELECT 'host ' || extract(epoch FROM minute)::bigint FROM host_usage_minute) TO STDOUT"; } |
	sort >"$T/db.all"
comm -23 "$T/ledger.all" "$T/db.all" >"$T/lost"
diag "rows acknowledged: $(wc -l <"$T/ledger.all"), stored: $(wc -l <"$T/db.all"), lost: $(wc -l <"$T/lost")"
within "$(wc -l <"$T/expected.lost")" 1 100000 "the quarantined segment held usage rows"
is "$(cat "$T/lost")" "$(cat "$T/expected.lost")" "the rows lost are exactly those of the quarantined segment"
is "$(comm -13 "$T/ledger.all" "$T/db.all" | wc -l)" 0 "nothing stored that was not acknowledged"
n=$(grep -ci "sanitizer\|runtime error" "$log")
is "$n" 0 "no sanitizer reports"
