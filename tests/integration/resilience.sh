#!/bin/bash
# Bad input and outages while the collector runs: a database that refuses
# writes, libvirtd going away and coming back, a reload with a broken
# configuration.  Each gives one clear log line, sampling goes on, and no
# minute is lost or counted twice.
. "$(dirname "$0")/../lib.sh"
plan 17

start_postgres
start_libvirtd
setup_fleet
psql_q "CREATE ROLE collector LOGIN" >/dev/null
CONF_URI=$TEST_URI CONF_CONNINFO="host=$T dbname=vmeter user=collector" write_conf "$T/vmeter.conf"
CONF_URI=$TEST_URI write_conf "$T/admin.conf"
"$ADMIN" -c "$T/admin.conf" migrate >/dev/null || bail "migrate failed"
psql_q "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO collector;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO collector;
        GRANT TEMPORARY ON DATABASE vmeter TO collector" >/dev/null
log=$T/collector.log

start_collector "$T/vmeter.conf"
wait_for 120 grep -q "connected to libvirt" "$log" || bail "collector did not connect"

# --- the database refuses the write
psql_q "REVOKE INSERT ON vm_usage_minute FROM collector" >/dev/null
t_revoke=$(date +%s)
sleep 1
wait_for 150 grep -q "database refused: .*permission denied" "$log"
ok $? "a refused write is logged with the database's reason"
sleep 3
psql_q "GRANT INSERT ON vm_usage_minute TO collector" >/dev/null
wait_for 120 grep -q "database delivery recovered" "$log"
ok $? "recovery is logged once the database takes writes again"
n=$(grep -c "database refused" "$log")
is "$n" 1 "one log line for the whole outage, not one per retry"

# --- libvirtd goes away and comes back
stop_libvirtd
wait_for 120 grep -q "libvirt connection to .* lost" "$log"
ok $? "a dead libvirt connection is logged"
# status: libvirt-down is an alert condition (exit 3) while it lasts.
lv_alert() {
	_o=$("$ADMIN" -c "$T/admin.conf" status)
	[ $? = 3 ] && echo "$_o" | grep -q "^alerts: .*libvirt-down" && echo "$_o" | grep -q "^libvirt: *down"
}
lv_clear() {
	_o=$("$ADMIN" -c "$T/admin.conf" status)
	echo "$_o" | grep -q "^libvirt: *up" && ! echo "$_o" | grep -q "libvirt-down"
}
wait_for 60 lv_alert
ok $? "vmeter-admin status alerts libvirt-down while libvirtd is away"
start_libvirtd
wait_for 120 grep -q "libvirt connection recovered" "$log"
ok $? "the collector reconnects after libvirtd restarts"
wait_for 60 lv_clear
ok $? "libvirt-down clears once libvirt is back"
n=$(grep -c "cannot connect to libvirt\|libvirt connection to .* lost" "$log")
is "$n" 1 "one log line for the libvirt outage"

# --- reload with a broken file keeps the running configuration
cp "$T/vmeter.conf" "$T/good.conf"
printf 'collector {\n  bogus = 1\n}\n' >>"$T/vmeter.conf"
kill -HUP "$COLLECTOR_PID"
wait_for 60 grep -q "reload failed, keeping the running configuration: .*vmeter.conf:[0-9]*.*bogus" "$log"
ok $? "a broken reload is refused with file:line"
kill -0 "$COLLECTOR_PID"
ok $? "the collector keeps running after a broken reload"
cp "$T/good.conf" "$T/vmeter.conf"
kill -HUP "$COLLECTOR_PID"
wait_for 60 grep -q "configuration reloaded" "$log"
ok $? "a good reload is applied"
# A new state-dir takes effect on restart only, and says so.
sed "s|state-dir = .*|state-dir = \"$T/state-new\"|" "$T/good.conf" >"$T/vmeter.conf"
kill -HUP "$COLLECTOR_PID"
wait_for 10 grep -q "reload: state-dir and spool-dir changes only take effect on restart (still '$T/state')" "$log"
ok $? "a changed state-dir on reload is warned about"
cp "$T/good.conf" "$T/vmeter.conf"
kill -HUP "$COLLECTOR_PID"
sleep 3
stop_collector
is "$COLLECTOR_RC" 0 "clean exit"

# --- nothing lost, nothing twice: coverage of web1 is continuous except
# where libvirtd was down.
q() { psql_q "$1"; }
dups=$(q "SELECT count(*) FROM (SELECT vm_id, minute, host_id FROM vm_usage_minute GROUP BY 1, 2, 3 HAVING count(*) > 1) d")
is "$dups" 0 "no minute stored twice"
held=$(q "SELECT count(*) FROM vm_usage_minute WHERE minute >= to_timestamp($t_revoke) - interval '1 minute'")
within "$held" 1 100000 "rows from the refused period arrived after the grant"
over=$(q "SELECT count(*) FROM vm_usage_minute WHERE coverage_ms > 60000")
is "$over" 0 "no minute with more than 60 s of coverage"
n=$(grep -ci "sanitizer\|runtime error" "$log")
is "$n" 0 "no sanitizer reports"
