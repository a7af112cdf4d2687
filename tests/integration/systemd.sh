#!/bin/bash
# The collector under systemd, without systemd as process 1 (these build
# machines): its notifications on a socket of ours as NOTIFY_SOCKET (READY
# after the first pass, WATCHDOG while passes come, RELOADING then READY on
# SIGHUP, STOPPING on SIGTERM), and the unit checked offline:
# `systemd-analyze verify`, and `systemd-analyze security --offline` with
# an exposure score the unit must keep (docs/RELIABILITY.md quotes it).
. "$(dirname "$0")/../lib.sh"
plan 16
MAX_EXPOSURE=${MAX_EXPOSURE:-2.2}

python3 - "$T/notify" "$T/notes" <<'EOP' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode()
        for line in msg.split("\n"):
            out.write("%.3f %s\n" % (time.monotonic(), line))
EOP
_pids="$_pids $!"
wait_for "the notify socket" 30 test -S "$T/notify" || bail "no notify socket"
write_conf "$T/vmeter.conf"
# no database: the collector spools, which is all this test needs
CONF_CONNINFO="host=$T/nowhere connect_timeout=1" write_conf "$T/vmeter.conf"
start_collector "$T/vmeter.conf" NOTIFY_SOCKET="$T/notify" WATCHDOG_USEC=2000000
wait_for "READY=1" 60 grep -q "READY=1" "$T/notes"
ok $? "READY=1 once the collector samples"
grep -q "STATUS=sampling every 1 s, host 'hv1'" "$T/notes"
ok $? "with a STATUS line"
wait_for "three WATCHDOG=1" 60 sh -c "[ \$(grep -c 'WATCHDOG=1' '$T/notes') -ge 3 ]"
ok $? "WATCHDOG=1 at half the watchdog's period"
n=$(grep -c "READY=1" "$T/notes")
kill -HUP "$COLLECTOR_PID"
wait_for "READY=1 after the reload" 60 sh -c "[ \$(grep -c 'READY=1' '$T/notes') -gt $n ]"
ok $? "SIGHUP: READY=1 again"
grep -q "RELOADING=1" "$T/notes" && grep -q "MONOTONIC_USEC=[0-9]" "$T/notes"
ok $? "after RELOADING=1 with MONOTONIC_USEC"
STOP_FLUSH=0 stop_collector
is "$COLLECTOR_RC" 0 "a clean stop"
grep -q "STOPPING=1" "$T/notes"
ok $? "STOPPING=1 on SIGTERM"

# The unit, with this build's paths (verify wants its programs to exist).
unit=$T/vmeter-collector.service
sed -e "s|@sbindir@|$top_builddir/collector|g" -e "s|@sysconfdir@|$T/etc|g" \
	"$top_srcdir/etc/systemd/vmeter-collector.service.in" >"$unit"
if ! command -v systemd-analyze >/dev/null; then
	while [ "$_n" -lt "$_planned" ]; do
		_n=$((_n + 1))
		echo "ok $_n - systemd-analyze # SKIP no systemd-analyze"
	done
	exit 0
fi
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$unit" 2>&1 | grep -v "Failed to .*bus\|Cannot find unit for\|Unit is bound to inactive unit")
is "$out" "" "systemd-analyze verify finds nothing"
score=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s != "" && s + 0 <= m + 0) }'
ok $? "systemd-analyze security: exposure ${score:-?} (at most $MAX_EXPOSURE)"

# The central units: the rating daemon, maintenance and its timer.
mkdir -p "$T/units"
for u in vmeter-bill-rate vmeter-maintain vmeter-report vmeter-web; do
	sed -e "s|@bindir@/vmeter-bill|$top_builddir/billing/vmeter-bill|g" \
		-e "s|@bindir@/vmeter-admin|$top_builddir/admin/vmeter-admin|g" \
		-e "s|@sbindir@/vmeter-web|$top_builddir/web/vmeter-web|g" \
		-e "s|@bindir@/vmeter-report|$top_builddir/reports/vmeter-report|g" -e "s|@sysconfdir@|$T/etc|g" \
		"$top_srcdir/etc/systemd/$u.service.in" >"$T/units/$u.service"
done
cp "$top_srcdir/etc/systemd/vmeter-maintain.timer" "$top_srcdir/etc/systemd/vmeter-report.timer" "$T/units/"
out=$(cd "$T/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no vmeter-bill-rate.service \
	vmeter-maintain.service vmeter-maintain.timer vmeter-report.service vmeter-report.timer vmeter-web.service 2>&1 | grep -v "Failed to .*bus\|Cannot find unit for\|Unit is bound to inactive unit")
is "$out" "" "systemd-analyze verify: the rating daemon, maintenance, kept reports and their timers, the web server"
for u in vmeter-bill-rate vmeter-maintain vmeter-report vmeter-web; do
	score=$(systemd-analyze security --offline=yes "$T/units/$u.service" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	awk -v s="$score" -v m="${MAX_EXPOSURE_CENTRAL:-1.5}" 'BEGIN { exit !(s != "" && s + 0 <= m + 0) }'
	ok $? "systemd-analyze security $u: exposure ${score:-?} (at most ${MAX_EXPOSURE_CENTRAL:-1.5}: no capability, nothing writable)"
done

# The aggregator's unit (a block of its own, beside the loop above).
sed -e "s|@sbindir@/vmeter-aggregator|$top_builddir/aggregator/vmeter-aggregator|g" -e "s|@sysconfdir@|$T/etc|g" \
	"$top_srcdir/etc/systemd/vmeter-aggregator.service.in" >"$T/units/vmeter-aggregator.service"
out=$(cd "$T/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no vmeter-aggregator.service 2>&1 |
	grep -v "Failed to .*bus\|Cannot find unit for\|Unit is bound to inactive unit")
is "$out" "" "systemd-analyze verify: the aggregator"
score=$(systemd-analyze security --offline=yes "$T/units/vmeter-aggregator.service" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
awk -v s="$score" -v m="${MAX_EXPOSURE_CENTRAL:-1.5}" 'BEGIN { exit !(s != "" && s + 0 <= m + 0) }'
ok $? "systemd-analyze security vmeter-aggregator: exposure ${score:-?} (at most ${MAX_EXPOSURE_CENTRAL:-1.5}: no capability, nothing writable)"
