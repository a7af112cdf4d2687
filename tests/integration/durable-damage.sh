#!/bin/bash
# A damaged spool at start-up: the collector is killed with the database
# away, then the last spool segment loses the second half of its last
# record (a torn write) and a record in the middle of the first segment has
# a bit flipped (a bad disk).  The collector must repair the spool, log and
# count the two damaged records, cut the rest of the torn record's commit
# with it (a commit is all or nothing, lib/spool.h), and deliver everything
# else.  The spool then ends at the pass before the torn commit, so the
# collector continues from that pass's saved state and closes the torn
# commit's minute again: the rows lost are exactly the row of the flipped
# record (tests/spool_damage.py decodes it), and none is stored twice.
. "$(dirname "$0")/../lib.sh"
plan 10

start_postgres
sh "$top_srcdir/bench/gen-fleet.sh" 20 >"$T/fleet.xml"
CONF_URI="test://$T/fleet.xml" CONF_MAX_GAP=30 write_conf "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
LEDGER=$T/ledger
log=$T/collector.log

stop_postgres immediate
build_backlog "$T/vmeter.conf" "$LEDGER" 2 21
python3 "$top_srcdir/tests/spool_damage.py" "$T/state/spool" >"$T/damaged" || bail "cannot damage the spool"
sed 's/^/# damaged: /' "$T/damaged"
damaged=$(grep -c -v '^cut ' "$T/damaged") # the cut records are not damaged: a torn commit's
# The usage rows those records held, as the ledger names them.
# The torn commit's rows are not lost: cut whole, the spool ends at the pass
# before, whose saved state the collector continues from, closing that
# minute again.  The flipped record's row is.
awk '$1 == "bitflip" && NF == 5 { print $4, $5 }' "$T/damaged" | sort >"$T/expected.lost"

restart_postgres || bail "PostgreSQL did not restart"
: >"$log"
start_collector_faked "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER"
wait_for 120 grep -q "records from before wait for delivery" "$log" || bail "the collector did not start"
grep -q "cut an unfinished commit at the end\|cut a torn record at the end" "$log"
ok $? "the torn record is cut off, with the rest of its commit"
grep -q "damaged bytes skipped: [0-9]* in 1 region(s), records lost: 1" "$log"
ok $? "the flipped record is skipped, one record lost"
grep "spool '" "$log" | grep "torn\|damaged" | sed 's/^/# /'
wait_for "the spool to drain" 240 sh -c "grep -q '\"database\": \"up\", \"spool_bytes\": [0-9]*, \"spool_records\": 0' '$T/state/status.json'"
ok $? "the rest of the spool is delivered"
n=$("$ADMIN" -c "$T/vmeter.conf" status | sed -n 's/^damaged spool records: *//p')
is "$n" "$damaged" "status counts the damaged records"
stop_collector
is "$COLLECTOR_RC" 0 "clean exit"

# VM and host rows alike: "uuid minute" and "host minute".
{ ledger_rows "$LEDGER"; awk '$1 == "host" { print $1, $2 }' "$LEDGER" | sort -u; } | sort >"$T/ledger.all"
{ db_rows; psql_q "COPY (SELECT 'host ' || extract(epoch FROM minute)::bigint FROM host_usage_minute) TO STDOUT"; } |
	sort >"$T/db.all"
comm -23 "$T/ledger.all" "$T/db.all" >"$T/lost"
diag "rows acknowledged: $(wc -l <"$T/ledger.all"), stored: $(wc -l <"$T/db.all"), lost: $(wc -l <"$T/lost")"
is "$(wc -l <"$T/expected.lost")" 1 "the flipped record held a usage row"
is "$(cat "$T/lost")" "$(cat "$T/expected.lost")" "the rows lost are exactly those of the damaged records"
is "$(comm -13 "$T/ledger.all" "$T/db.all" | wc -l)" 0 "nothing stored that was not acknowledged"
dups=$(psql_q "SELECT count(*) FROM (SELECT 1 FROM vm_usage_minute GROUP BY vm_id, minute, host_id HAVING count(*) > 1) d")
is "$dups" 0 "no row stored twice"
n=$(grep -ci "sanitizer\|runtime error" "$log")
is "$n" 0 "no sanitizer reports"
