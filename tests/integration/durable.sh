#!/bin/bash
# Durable delivery through faults: the database stopped immediately while
# the collector runs, the collector killed with SIGKILL again and again,
# then both back.  Every usage row the collector acknowledged (its spool
# commit, logged to a ledger) must be in PostgreSQL exactly once; a spool on
# a file system too small for it loses rows only as counted, recorded loss.
. "$(dirname "$0")/../lib.sh"
plan 13

start_postgres
start_libvirtd
setup_fleet
CONF_URI=$TEST_URI CONF_REFRESH=3 write_conf "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
LEDGER=$T/ledger
log=$T/collector.log

start_collector "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER"
wait_for 120 grep -q "connected to libvirt" "$log" || bail "collector did not start"
sleep 3
stop_postgres immediate
diag "database stopped (immediate)"
# Kill -9 at varying points while the database is away, restarting each time.
kills=8
for i in $(seq $kills); do
	sleep "0.$((RANDOM % 9 + 1))"
	sleep $((RANDOM % 3 + 1))
	kill -9 "$COLLECTOR_PID"
	wait "$COLLECTOR_PID" 2>/dev/null
	start_collector "$T/vmeter.conf" VMETER_TEST_LEDGER="$LEDGER"
done
sleep 2
restart_postgres || bail "PostgreSQL did not restart"
diag "database back"
# Let it drain, then a clean stop (which delivers what is left).
wait_for "the spool to drain" 240 sh -c "grep -q '\"database\": \"up\", \"spool_bytes\": [0-9]*, \"spool_records\": 0' '$T/state/status.json'"
ok $? "the spool drains once the database is back"
sleep 2
stop_collector
is "$COLLECTOR_RC" 0 "clean exit after $kills kills"

n_ledger=$(grep -vc '^host ' "$LEDGER")
within "$n_ledger" 3 100000 "the ledger holds the acknowledged VM rows ($n_ledger)"
psql_q "COPY (SELECT v.uuid || ' ' || extract(epoch FROM u.minute)::bigint FROM vm_usage_minute u JOIN vm v USING (vm_id)) TO STDOUT" \
	| sort >"$T/db.rows"
awk '$1 != "host" { print $1, $2 }' "$LEDGER" | sort -u >"$T/ledger.rows"
missing=$(comm -23 "$T/ledger.rows" "$T/db.rows" | wc -l)
is "$missing" 0 "every acknowledged row is in the database (0 lost)"
[ "$missing" = 0 ] || comm -23 "$T/ledger.rows" "$T/db.rows" | head -5 | sed 's/^/# missing: /'
dups=$(psql_q "SELECT count(*) FROM (SELECT 1 FROM vm_usage_minute GROUP BY vm_id, minute, host_id HAVING count(*) > 1) d")
is "$dups" 0 "no row stored twice"
led_dups=$(awk '$1 != "host" { print $1, $2 }' "$LEDGER" | sort | uniq -d | wc -l)
diag "minutes acknowledged twice by restarted collectors (stored once): $led_dups"
mark=$(psql_q "SELECT last_seq > 0 FROM host_delivery")
is "$mark" t "the host's delivery mark advanced with the rows"
over=$(psql_q "SELECT count(*) FROM vm_usage_minute WHERE coverage_ms > 60000")
is "$over" 0 "no minute over 60 s of coverage"
n=$(grep -c "database unreachable\|database refused" "$log")
within "$n" 1 $((kills + 2)) "one outage line per collector run, not one per retry ($n)"
n=$(grep -ci "sanitizer\|runtime error" "$log")
is "$n" 0 "no sanitizer reports"

# --- a spool on a file system that fills up
if [ "$(id -u)" = 0 ] && mkdir -p "$T/tiny" && mount -t tmpfs -o size=8k tmpfs "$T/tiny" 2>/dev/null; then
	on_cleanup "umount '$T/tiny' 2>/dev/null"
	CONF_URI=$TEST_URI write_conf "$T/tiny.conf"
	sed -i "s|^  reconnect-max = 2|  reconnect-max = 2\n  spool-dir = \"$T/tiny/spool\"|" "$T/tiny.conf"
	# Leave room for the spool's id file and nothing else, and start the
	# collector's clock 10 s before a minute so that one closes soon (a
	# slow start-up finds the next one).
	mkdir -p "$T/tiny/spool"
	dd if=/dev/zero of="$T/tiny/fill" bs=4096 count=$(( $(stat -f -c %a "$T/tiny") - 1 )) 2>/dev/null
	stop_postgres immediate
	: >"$log"
	fake_clock_before_minute 10
	start_collector_faked "$T/tiny.conf" VMETER_TEST_LEDGER="$T/ledger2"
	wait_for 150 grep -q "usage rows are being lost" "$log"
	ok $? "a full spool is logged as loss"
	# The count reaches the status file with the pass's commit.
	wait_for 120 sh -c "'$ADMIN' -c '$T/tiny.conf' status | grep -q '^alerts: *spool-full rows-lost'"
	"$ADMIN" -c "$T/tiny.conf" status >"$T/alerts.out" 2>&1
	arc=$?
	grep -q "^alerts: *spool-full rows-lost database-down" "$T/alerts.out" && [ "$arc" = 3 ]
	ok $? "vmeter-admin status raises spool-full, rows-lost and database-down (exit $arc)"
	[ "$arc" = 3 ] || sed 's/^/# /' "$T/alerts.out"
	# An owner change while the spool is full: kept until it is in.
	virsh_t metadata web1 http://vmeter.org/xmlns/owner/1.0 --key vmeter \
		--set '<owner><tenant>newco</tenant><project>moved</project></owner>' >/dev/null
	wait_for 30 grep -q "cannot spool an inventory change" "$log"
	sleep 2
	rm -f "$T/tiny/fill"
	restart_postgres
	wait_for "the losses recorded" 180 sh -c "grep -q '\"database\": \"up\".*\"losses_unrecorded\": 0' '$T/state/status.json'"
	STOP_FLUSH=0 stop_collector
	lost=$(sed -n 's/.*"lost_rows": \([0-9]*\).*/\1/p' "$T/state/status.json")
	recorded=$(psql_q "SELECT count(*) FROM vm_usage_loss")
	within "$recorded" 1 "${lost:-0}" "lost VM-minutes are recorded in vm_usage_loss ($recorded of $lost rows, host rows not kept)"
	owner=$(psql_q "SELECT i.tenant || ':' || i.project FROM vm_inventory i JOIN vm USING (vm_id) WHERE i.name = 'web1'
		ORDER BY i.valid_from DESC LIMIT 1")
	is "$owner" "newco:moved" "an owner change made while the spool was full reaches the database"
	umount "$T/tiny"
else
	ok 0 "# SKIP tmpfs needs root"
	ok 0 "# SKIP tmpfs needs root"
	ok 0 "# SKIP tmpfs needs root"
	ok 0 "# SKIP tmpfs needs root"
fi
