#!/bin/bash
# `vmeter-admin status` on a large host: a collector starting with 400 VMs
# spools 400 inventory records ahead of its first usage row, and the status
# must still name the oldest undelivered minute (it said "none" when the
# first usage row was more than 256 records from the front: found by
# bench/soak-outage.sh at 1,000 VMs).
. "$(dirname "$0")/../lib.sh"
plan 2

start_postgres
sh "$top_srcdir/bench/gen-fleet.sh" 400 >"$T/fleet.xml"
CONF_URI="test://$T/fleet.xml" CONF_MAX_GAP=30 write_conf "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
LEDGER=$T/ledger

stop_postgres immediate
build_backlog "$T/vmeter.conf" "$LEDGER" 1 400
# The killed collector's last status file is a few seconds old, fresh
# enough for status to read, and may predate its last commit: only the new
# collector's file counts.
rm -f "$T/state/status.json"
start_collector_faked "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER"
# The alert follows the first failed connection; the spool's records are
# known from the start.
# (On a loaded machine the status file can be a few seconds late: status
# then says the collector is not running, until the next one.)
# 3: the database is away, an alert condition (database-down).
status_down() {
	out=$("$ADMIN" -c "$T/vmeter.conf" status)
	arc=$?
	[ "$arc" = 3 ] && echo "$out" | grep -q "^alerts: *database-down"
}
wait_for "status to raise database-down" 120 status_down
ok $? "status describes the running collector, with database-down (exit $arc)"
echo "$out" | grep "^spool\|^oldest" | sed 's/^/#   /'
oldest=$(echo "$out" | sed -n 's/^oldest undelivered minute: *\([0-9-]* [0-9:]*\).*/\1/p')
first=$(awk '$1 != "host" { print $2 }' "$LEDGER" | sort -n | head -1)
is "$oldest" "$(date -u -d "@$first" '+%Y-%m-%d %H:%M')" "status shows the oldest undelivered minute behind 400 inventory records"
