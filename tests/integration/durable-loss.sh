#!/bin/bash
# Lost rows are recorded in vm_usage_loss even when there are many of them
# and the database is slow: the collector writes them in transactions of one
# batch each.  It wrote them all in one, which on a slow database ran past
# the database timeout again and again while the list grew (beyond its
# 100,000 limit) and delivery of the spool waited behind it (found by
# bench/soak-outage.sh: a day at 1,000 VMs with a 64 MiB spool).
# Here: a spool on a full file system, the database away for four minutes
# of 50 VMs, then back with every loss row costing it 20 ms (200 rows: 4 s,
# twice the 2 s timeout; a batch of 10: 0.2 s).
. "$(dirname "$0")/../lib.sh"
plan 4

if [ "$(id -u)" != 0 ] || ! { mkdir -p "$T/tiny" && mount -t tmpfs -o size=8k tmpfs "$T/tiny" 2>/dev/null; }; then
	echo "1..0 # SKIP a tmpfs needs root"
	exit 0
fi
on_cleanup "umount '$T/tiny' 2>/dev/null"
start_postgres
sh "$top_srcdir/bench/gen-fleet.sh" 50 >"$T/fleet.xml"
CONF_URI="test://$T/fleet.xml" CONF_MAX_GAP=30 write_conf "$T/vmeter.conf"
sed -i "s|^  reconnect-max = 2|  reconnect-max = 2\n  spool-dir = \"$T/tiny/spool\"|; s/batch-rows = 500/batch-rows = 10\n  timeout = 2/" \
	"$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
psql_q "CREATE FUNCTION slow_loss() RETURNS trigger LANGUAGE plpgsql AS
	\$\$ BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END \$\$;
	CREATE TRIGGER slow BEFORE INSERT ON vm_usage_loss FOR EACH ROW EXECUTE FUNCTION slow_loss()" >/dev/null
log=$T/collector.log
lost() { sed -n 's/.*"lost_rows": \([0-9]*\).*/\1/p' "$T/state/status.json" 2>/dev/null; }
lost_at_least() { [ "$(lost)" -ge "$1" ] 2>/dev/null; }

# Room for the spool's id file and nothing else: every row is lost.
mkdir -p "$T/tiny/spool" "$T/state"
dd if=/dev/zero of="$T/tiny/fill" bs=4096 count=$(( $(stat -f -c %a "$T/tiny") - 1 )) 2>/dev/null
stop_postgres immediate
# 10 s before a minute: time to start up (a slow start finds the next one).
fake_clock_before_minute 10
start_collector_faked "$T/vmeter.conf"
for k in 1 2 3 4; do
	wait_for "$((k * 50)) rows lost" 150 lost_at_least $((k * 50)) || bail "no rows lost in minute $k"
	[ $k = 4 ] || fake_clock_before_minute 3 5
done
n=$(lost)
diag "rows lost while the database was away: $n"
restart_postgres || bail "PostgreSQL did not restart"
recorded() { psql_q "SELECT count(*) FROM vm_usage_loss" 2>/dev/null || echo 0; }
wait_for "200 loss rows" 180 sh -c "[ \$(psql -X -q -A -t 'host=$T dbname=vmeter user=vmeter' -c 'SELECT count(*) FROM vm_usage_loss') -ge 200 ]"
ok $? "the losses reach the database"
n=$(lost)
within "$(recorded)" 200 "$n" "every lost VM-minute recorded ($(recorded) of $n rows, host rows not kept)"
wait_for 120 sh -c "grep -q '\"database\": \"up\".*\"losses_unrecorded\": 0,' '$T/state/status.json'"
ok $? "status: no loss left unrecorded"
stop_collector
is "$COLLECTOR_RC" 0 "clean exit"
