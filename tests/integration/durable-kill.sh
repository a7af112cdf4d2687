#!/bin/bash
# Faults in the middle of delivery, with the database up: a backlog drains
# through a slow database (every row costs it 70 ms, so a batch of 10 is a
# 0.7 s COPY: an optimised build drains the backlog before 20 kills at
# 40 ms), PostgreSQL is stopped immediately during a batch, and the
# collector is killed with SIGKILL at random points while it delivers
# until 20 kills have landed with records waiting.  Every acknowledged row must be stored exactly once, and
# `vmeter-admin status` must describe the backlog as it drains.
. "$(dirname "$0")/../lib.sh"
plan 22

start_postgres
sh "$top_srcdir/bench/gen-fleet.sh" 100 >"$T/fleet.xml"
CONF_URI="test://$T/fleet.xml" CONF_MAX_GAP=30 write_conf "$T/vmeter.conf"
sed -i 's/batch-rows = 500/batch-rows = 10/' "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
pg_slow_rows 0.07
LEDGER=$T/ledger
log=$T/collector.log
status() { "$ADMIN" -c "$T/vmeter.conf" status "$@"; }

stored_at_least() { [ "$(psql_q 'SELECT count(*) FROM vm_usage_minute' 2>/dev/null || echo 0)" -ge "$1" ]; }

out=$(status 2>&1)
ok $((! $?)) "status fails when no collector ever ran"
echo "$out" | grep -q "collector not running?"
ok $? "and says why: $out"

# --- a backlog of four minutes of 100 VMs while the database is away
stop_postgres immediate
build_backlog "$T/vmeter.conf" "$LEDGER" 4 100
backlog=$(ledger_rows "$LEDGER" | wc -l)
diag "backlog: $backlog VM rows in $(ls "$T/state/spool" | grep -c '\.seg$') spool segments"

# The last killed collector's file, as old as it would be 10 s later.
touch -d "-10 seconds" "$T/state/status.json"
out=$(status 2>&1)
ok $((! $?)) "status fails on a stale status file"
echo "$out" | grep -q "collector not running?"
ok $? "and says why: $out"

# Running, the database still away: status describes the backlog.
rm -f "$T/state/status.json"
start_collector_faked "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER"
# The alert follows its first failed connection.  (On a loaded machine the
# status file can be a few seconds late: status then says the collector is
# not running, until the next one.)
status_down() { out=$(status); arc=$?; [ "$arc" = 3 ] && echo "$out" | grep -q "^alerts: *database-down"; }
wait_for "status to raise database-down" 120 status_down
ok $? "status describes the running collector and raises database-down (exit $arc)"
echo "$out" | sed 's/^/#   /'
recs=$(echo "$out" | sed -n 's/^spool: *\([0-9]*\) records.*/\1/p')
# Besides the VM rows: host rows, inventories, and each start's lifecycle
# event per VM (its state as first listed, detail "observed").
within "${recs:-0}" "$backlog" $((backlog * 4)) "status shows the spooled records ($recs)"
oldest=$(echo "$out" | sed -n 's/^oldest undelivered minute: *\([0-9-]* [0-9:]*\).*/\1/p')
first=$(awk '$1 != "host" { print $2 }' "$LEDGER" | sort -n | head -1)
is "$oldest" "$(date -u -d "@$first" '+%Y-%m-%d %H:%M')" "status shows the oldest undelivered minute"
# Exit 3: alerts (database-down); 1 would be a stale file.
json_status() { json=$(status --json); _r=$?; [ "$_r" = 0 ] || [ "$_r" = 3 ]; }
wait_for "status --json" 60 json_status
read -r lag now <<<"$(echo "$json" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(int(d["delivery_lag_s"]), d["time"])')"
# The oldest record is the first run's inventory, spooled at its start: in
# the first acknowledged minute or in the minute after it.
since=$(( ${now:-0} - first ))
within "${lag:-x}" $((since - 61)) "$since" "the delivery lag counts from the oldest record ($lag s; first row's minute $since s before)"

# --- PostgreSQL stopped immediately in the middle of a batch
restart_postgres || bail "PostgreSQL did not restart"
wait_for "10 rows stored" 120 stored_at_least 10 || bail "no delivery"
n0=$(grep -c "database unreachable\|database refused" "$log")
sleep 0.2
stop_postgres immediate
# The collector notices at its next request (PostgreSQL is gone at once).
wait_for "the collector to notice the stop" 120 \
	sh -c "[ \$(grep -c 'database unreachable\|database refused' '$log') -gt $n0 ]"
sleep 2 # the outage goes on: its retries must not log again
n=$(grep "database unreachable\|database refused" "$log" | tail -n +$((n0 + 1)))
# A request on an open connection failed, not a connect.
[ -n "$n" ] && ! echo "$n" | grep -q "cannot connect"
ok $? "the immediate stop broke a batch in delivery"
echo "$n" | sed 's/^/# /'
is "$(echo "$n" | grep -c .)" 1 "one outage line for the stopped database"
restart_postgres || bail "PostgreSQL did not restart"
wait_for 120 grep -q "database delivery recovered" "$log"
ok $? "delivery recovers once the database is back"

# --- SIGKILL at random points of the drain
l0=$(wc -l <"$log")
# A backend whose client died in a transaction says so in the server log:
# waiting for the client (EOF), or while it sent a result (connection lost).
pg_cut() { grep -c "unexpected EOF on client connection with an open transaction\|connection to client lost" "$T/pg.log"; }
cut0=$(pg_cut)
# Each start after a kill reports what the kill left undelivered.
pending_so_far() { tail -n +$((l0 + 1)) "$log" | grep -c "records from before wait for delivery"; }
# At least 20 kills while records wait: the backlog may drain before the
# 20th on a fast machine, so up to 30 kills are made.
kills=0
while [ $kills -lt 30 ] && [ "$(pending_so_far)" -lt 20 ]; do
	sleep "$((RANDOM % 13 + 3))e-1"
	kill -9 "$COLLECTOR_PID"
	wait "$COLLECTOR_PID" 2>/dev/null
	kills=$((kills + 1))
	start_collector_faked "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER"
	wait_for "collector start $kills" 120 sh -c "[ \$(tail -n +$((l0 + 1)) '$log' | grep -c 'vmeter-collector .* starting') -ge $kills ]" ||
		bail "collector $kills did not start"
done
mid_tx=$(( $(pg_cut) - cut0 ))

wait_for "the spool to drain" 240 sh -c "grep -q '\"database\": \"up\", \"spool_bytes\": [0-9]*, \"spool_records\": 0' '$T/state/status.json'"
ok $? "the backlog drains"
pending=$(pending_so_far)
diag "kills with records still in the spool: $pending of $kills; inside a delivery transaction: $mid_tx"
within "$pending" 20 "$kills" "at least 20 kills landed while the spool held undelivered records"
within "$mid_tx" 5 "$kills" "kills landed inside delivery transactions ($mid_tx)"
out=$(status)
echo "$out" | grep -q "^oldest undelivered minute: *none"
ok $? "status shows nothing undelivered once drained"
stop_collector
is "$COLLECTOR_RC" 0 "clean exit after $kills kills"

reconcile "$LEDGER"
extra=$(comm -13 "$T/ledger.rows" "$T/db.rows" | wc -l)
diag "rows stored but not in the ledger (killed between spool commit and ledger write): $extra"
led_dups=$(awk '$1 != "host" { print $1, $2 }' "$LEDGER" | sort | uniq -d | wc -l)
is "$led_dups" 0 "no minute acknowledged twice"
is "$(psql_q "SELECT count(*) FROM vm_usage_loss")" 0 "no loss recorded: none was forced"
mark=$(psql_q "SELECT last_seq > 0 FROM host_delivery")
is "$mark" t "the host's delivery mark advanced with the rows"
n=$(grep -ci "sanitizer\|runtime error" "$log")
is "$n" 0 "no sanitizer reports"
