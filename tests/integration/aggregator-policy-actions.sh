#!/bin/bash
# vmeter-aggregator's actions through the daemon (docs/POLICIES.md): a
# rule whose webhook goes to a loopback receiver that answers 503 twice and
# then 200 (the decision's result shows the 3 attempts, the receiver got
# Alertmanager's JSON each time); a rule that suspends the VMs whose
# condition holds on libvirtd's test driver (read back with virsh), except
# the VM with the opt-out tag (its decision: skipped, opt-out; the domain
# still running); both read back through vmeter-admin audit.  Waits for
# states, never for times.
. "$(dirname "$0")/../lib.sh"
plan 12

AGG=$top_builddir/aggregator/vmeter-aggregator
start_postgres
start_libvirtd
setup_fleet

# --- the receiver: /flaky/2/... answers 503 twice, then 200
mkdir -p "$T/hooks" "$T/rules.d"
python3 "$top_srcdir/tests/data/actions/receiver.py" "$T/hooks" "$T/port" 2>"$T/receiver.log" &
_pids="$_pids $!"
port_known() { [ -s "$T/port" ]; }
wait_for "the receiver's port" 60 port_known || bail "the webhook receiver did not start"
HOOK=http://127.0.0.1:$(cat "$T/port")

# --- two running domains on the test driver: pa1, and pa2 whose owner opted out
for n in 1 2; do
	cat >"$T/pa$n.xml" <<XML
<domain type='test'>
  <name>pa$n</name>
  <uuid>bbbbbbbb-0000-4000-8000-00000000000$n</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
</domain>
XML
	virsh_t define "$T/pa$n.xml" >/dev/null && virsh_t start "pa$n" >/dev/null || bail "cannot start pa$n"
done
state() { virsh_t domstate "$1" | head -1; }

SECTION="aggregator {
  interval = 3600
  rules = \"$T/rules.d/*.conf\"
  rules-interval = 10
  rules-lag = \"0s\"
  opt-out-tag = \"automation=off\"
}"
write_conf "$T/vmeter.conf" "$SECTION"
q() { psql_q "$1"; }
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
adm migrate >/dev/null || bail "migrate failed"

cat >"$T/rules.d/10-actions.conf" <<EOF2
rule "hook-hot" {
  condition = "avg(vm.cpu.alloc_pct, 5m) > 90"
  tenants = { hooks }
  automation = automatic
  on-firing { webhook { url = "$HOOK/flaky/2/hook"  attempts = 4  backoff = 1s } }
}
rule "suspend-hot" {
  condition = "avg(vm.cpu.alloc_pct, 5m) > 90"
  tenants = { virt }
  automation = automatic
  on-firing { virt { op = suspend } }
}
EOF2
out=$("$AGG" -c "$T/vmeter.conf" -n 2>&1)
is "$?:$out" "0:$T/vmeter.conf: configuration ok; 2 rules" "-n reads the rules"

# --- the fleet: hv-1 (the test driver's URI) with vm-hook, pa1 and pa2
# (tagged automation=off), all at 95 % of their vCPU
q "SELECT vm_ensure_partitions(now() - interval '2 days', now() + interval '2 days')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -v uri="$TEST_URI" "$PG_CONNINFO" >/dev/null <<'EOF2' || bail "the fleet"
INSERT INTO host (host_id, hostname, libvirt_uri) VALUES (1, 'hv-1', :'uri');
INSERT INTO vm (vm_id, uuid) VALUES (1, '00000000-0000-0000-0000-0000000000aa'),
                                    (2, 'bbbbbbbb-0000-4000-8000-000000000001'),
                                    (3, 'bbbbbbbb-0000-4000-8000-000000000002');
INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib, tenant,
  project, cost_centre, owner_source, digest, tags)
VALUES (1, now() - interval '1 day', 1, 'vm-hook', 1, 1, 1048576, 1048576, 'hooks', 'p', '', 'metadata', 'd1', '{}'),
       (2, now() - interval '1 day', 1, 'pa1', 1, 1, 1048576, 1048576, 'virt', 'p', '', 'metadata', 'd2', '{}'),
       (3, now() - interval '1 day', 1, 'pa2', 1, 1, 1048576, 1048576, 'virt', 'p', '', 'metadata', 'd3',
        '{"automation": "off", "env": "prod"}');
INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, vcpu_ns, vcpu_delay_ns, vcpus_avg,
    vcpus_max)
SELECT 1, v, m, 60000, 6, 60000::bigint * 1000000 * 95 / 100, 0, 0, 1, 1
  FROM generate_series(date_trunc('minute', now()) - interval '30 minutes',
                       date_trunc('minute', now()) + interval '30 minutes', interval '1 minute') m,
       generate_series(1, 3) v;
EOF2

# --- the daemon
"$AGG" -c "$T/vmeter.conf" -v >"$T/daemon.log" 2>&1 &
daemon=$!
on_cleanup "kill -9 \$daemon 2>/dev/null"
results() { [ "$(q "SELECT count(*) FROM agg_decision WHERE verdict = 'act' AND result IS NOT NULL")" = 2 ] &&
	[ "$(q "SELECT count(*) FROM agg_decision WHERE verdict = 'skipped'")" = 1 ]; }
wait_for "the actions' results" 180 results
ok $? "three decisions: two actions with results, one skipped"

# the webhook
is "$(q "SELECT subject_name || ' ' || result || ' ' || attempts || ' ' || http_status FROM agg_decision WHERE rule = 'hook-hot'")" \
	"vm-hook ok 3 200" "webhook: ok after 3 attempts (503, 503, 200), stored on the decision"
is "$(awk '{ print $2 }' "$T/hooks/requests.log" | sort | uniq -c | awk '{ print $1, $2 }')" "3 /flaky/2/hook" \
	"webhook: the receiver got the 3 POSTs"
bodies_ok() {
	python3 - "$T/hooks" <<'EOPY'
import json, os, sys
d = sys.argv[1]
for n in (1, 2, 3):
    b = json.load(open(os.path.join(d, "body.%d" % n)))
    a = b["alerts"][0]
    assert b["version"] == "4" and b["status"] == "firing", b
    assert a["labels"]["alertname"] == "hook-hot", a
EOPY
}
check "webhook: each attempt carried the same Alertmanager JSON" bodies_ok
out=$(adm audit --rule hook-hot --json)
is "$(echo "$out" | jq -r '[.verdict, .action, .result, .attempts, .http_status, .transition.to] | join(" ")')" \
	"act webhook ok 3 200 firing" "audit --json: the webhook's decision, result and attempts"

# the virt action and the opt-out
suspended() { [ "$(state pa1)" = paused ]; }
wait_for "pa1 suspended" 60 suspended
ok $? "virt: pa1, whose condition holds, is suspended (virsh: paused)"
is "$(q "SELECT verdict || ' ' || action_kind || ' ' || result FROM agg_decision WHERE subject_name = 'pa1'")" \
	"act virt.suspend ok" "virt: its decision, acted, ok"
is "$(q "SELECT verdict || ' ' || reason || ' ' || action_kind || ' ' || coalesce(result, '-') FROM agg_decision WHERE subject_name = 'pa2'")" \
	"skipped opt-out virt.suspend -" "opt-out: pa2's decision is skipped with the reason"
is "$(state pa2)" running "opt-out: pa2 still runs (virsh)"
out=$(adm audit --vm pa2)
case $(echo "$out" | sed -n 2p) in *" suspend-hot "*" pa2 "*" skipped "*"opt-out"*" virt.suspend "*) r=0 ;; *) r=1 ;; esac
ok $r "audit --vm pa2: skipped, opt-out ($out)"

kill $daemon
wait $daemon
ok $? "SIGTERM stops the daemon"
