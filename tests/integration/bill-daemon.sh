#!/bin/bash
# Rating run continuously (vmeter-bill rate --every, billing/daemon.c, the
# vmeter-bill-rate.service unit): READY once its first run is done; it
# rates the days the rollups close and a late row's day again; one rating
# at a time (a one-shot `rate` while the rater's lock is held does
# nothing and says so); PostgreSQL away is logged once and rating goes on
# when it is back, nothing lost; SIGTERM stops it (STOPPING, exit 0).
# Waits for states, never for times.
. "$(dirname "$0")/../lib.sh"
plan 9

BILL=$top_builddir/billing/vmeter-bill
start_postgres
write_conf "$T/vmeter.conf"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
bill() { "$BILL" -c "$T/vmeter.conf" "$@"; }
q() { psql_q "$1"; }
adm migrate >/dev/null || bail "migrate failed"
cat >"$T/plans.conf" <<'EOF'
plan std { currency = EUR  version "v1" { from = 2026-09-01  charge cpu { price = 0.01 per = core-hour } } }
tenant acme { currency = EUR time-zone = UTC assign std { from = 2026-09-01 } }
EOF
bill plans load "$T/plans.conf" >/dev/null 2>&1 || bail "plans load"
q "SELECT vm_ensure_partitions('2026-09-29 00:00+00', '2026-10-04 00:00+00')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" >/dev/null <<'EOF' || bail "scenario"
INSERT INTO host (host_id, hostname) VALUES (1, 'hv-1');
INSERT INTO vm (vm_id, uuid) VALUES (1, '00000000-0000-0000-0000-000000000001');
INSERT INTO vm_event (vm_id, host_id, at, event) VALUES (1, 1, '2026-10-01 00:00+00', 'started');
INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib, tenant,
  project, cost_centre, owner_source, disks, digest) VALUES (1, '2026-10-01 00:00+00', 1, 'vm1', 1, 1, 1048576,
  1048576, 'acme', 'p', '', 'metadata', '[]', 'd1');
INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns)
  SELECT 1, 1, m, 60000, 6, 1000000000 FROM generate_series('2026-10-01 00:00+00'::timestamptz,
  '2026-10-01 23:59+00', interval '1 minute') m;
EOF
adm maintain --now "2026-10-01 12:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"

python3 - "$T/notify" "$T/notes" <<'EOP' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode() + "\n")
EOP
listener=$!
on_cleanup "kill $listener 2>/dev/null"
wait_for 10 test -S "$T/notify" || bail "no notify socket"
NOTIFY_SOCKET=$T/notify "$BILL" -c "$T/vmeter.conf" rate --every 1 >"$T/daemon.log" 2>&1 &
daemon=$!
on_cleanup "kill $daemon 2>/dev/null"
cpu() { q "SELECT coalesce(sum(qty), 0) FROM bill_rated WHERE day = '2026-10-01' AND meter = 'cpu'"; }
cpu_is() { test "$(cpu)" = "$1"; }
wait_for 60 grep -q "READY=1" "$T/notes"
ok $? "READY=1 after its first run"
wait_for 60 cpu_is 720000000000
ok $? "it rated the closed half of the day: 720 core-seconds ($(cpu) ns)"

adm maintain --now "2026-10-02 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
wait_for 60 cpu_is 1440000000000
ok $? "the rest of the day once the rollups closed it ($(cpu) ns)"

# A late row: its hour is rolled up again and the daemon rates it once.
q "UPDATE vm_usage_minute SET cpu_ns = cpu_ns + 5000000000 WHERE vm_id = 1 AND minute = '2026-10-01 03:07+00'" >/dev/null
q "INSERT INTO rollup_dirty (hour, host_id) VALUES ('2026-10-01 03:00+00', 1)" >/dev/null
adm maintain --now "2026-10-02 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
wait_for 60 cpu_is 1445000000000
ok $? "a changed hour is rated again, once ($(cpu) ns)"

# One rating at a time: with the rater's lock held elsewhere, a one-shot
# rate does nothing and says so.
kill -STOP $daemon
psql -X -q "$PG_CONNINFO" -c "SELECT pg_advisory_lock(8675309, 3)" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
holder=$!
on_cleanup "kill $holder 2>/dev/null"
lock_held() { test "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 8675309 AND objid = 3 AND granted")" = 1; }
wait_for 30 lock_held ||
	bail "the lock was not taken"
out=$(bill rate 2>&1)
is "$?:$out" "0:rate: another vmeter-bill rate is running; nothing done" "a one-shot rate while the lock is held"
kill $holder
wait $holder 2>/dev/null
kill -CONT $daemon

# PostgreSQL away: logged once, then rating resumes.
stop_postgres fast
wait_for 60 grep -q "rating failed, trying again every 1 s" "$T/daemon.log"
ok $? "the outage is logged ($(grep -c 'rating failed' "$T/daemon.log") line)"
restart_postgres || bail "PostgreSQL did not start again"
q "UPDATE vm_usage_minute SET cpu_ns = cpu_ns + 7000000000 WHERE vm_id = 1 AND minute = '2026-10-01 05:07+00'" >/dev/null
q "INSERT INTO rollup_dirty (hour, host_id) VALUES ('2026-10-01 05:00+00', 1)" >/dev/null
adm maintain --now "2026-10-02 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
wait_for 60 cpu_is 1452000000000
r=$?
[ $r = 0 ] && grep -q "rating works again" "$T/daemon.log" && [ "$(grep -c 'rating failed' "$T/daemon.log")" = 1 ]
ok $? "after it, rating goes on and the change is rated ($(cpu) ns)"

kill -TERM $daemon
wait $daemon
rc=$?
is "$rc" 0 "SIGTERM stops it cleanly"
grep -q "STOPPING=1" "$T/notes" && grep -q "stopping" "$T/daemon.log"
ok $? "STOPPING=1 and a last log line$(sed 's/^/\n# /' "$T/daemon.log")"
