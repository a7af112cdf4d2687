#!/bin/bash
# The aggregator's action executors (aggregator/action.h) on real
# processes, a real HTTP receiver on loopback and libvirtd's test driver,
# driven through tests/action_probe (jobs in, results out as JSON lines).
# Programs: the environment, stdin JSON and descriptors a program gets, a
# failing one, one killed with its child at its timeout, the runner freed
# under a running one.  Webhooks: a receiver that answers, one failing
# with 503 and then recovering (attempts, back-off lower bounds, the same
# valid Alertmanager JSON each time), 429, 400 (no retry), one that never
# answers (timeout), a closed port; a slow webhook not holding up other
# jobs.  libvirt: suspend, resume, set vCPUs, set memory, shutdown, each
# read back with virsh; above the maximums, domain not found, migration
# unsupported.  Waits for states, never for times.
. "$(dirname "$0")/../lib.sh"
plan 75

PROBE=$top_builddir/tests/action_probe
DATA=$top_srcdir/tests/data/actions
OUT=$T/out
mkdir -p "$OUT" "$T/hooks"

# --- the receiver and the probe
python3 "$DATA/receiver.py" "$T/hooks" "$T/port" 2>"$T/receiver.log" &
_pids="$_pids $!"
port_known() { [ -s "$T/port" ]; }
wait_for "the receiver's port" 60 port_known || bail "the webhook receiver did not start"
PORT=$(cat "$T/port")
HOOK=http://127.0.0.1:$PORT

echo canary >"$T/canary"
export VMETER_TEST_DAEMON_ONLY=secret # a variable of the "daemon" no program may see
coproc PROBE_P { ACTION_PROBE_CANARY=$T/canary exec "$PROBE" 4 2>"$T/probe.err"; }
_pids="$_pids $PROBE_P_PID"
PROBE_PID=$PROBE_P_PID
IN=${PROBE_P[1]}
OUTFD=${PROBE_P[0]}
send() { echo "$*" >&"$IN"; }
line() { read -r -t 600 L <&"$OUTFD" || bail "the probe said nothing (see $T/probe.err)"; echo "$L"; }
# submit CMD...: the job's id (or "refused: ...")
submit() {
	send "$@"
	_l=$(line)
	case $_l in "job "*) echo "${_l#job }" ;; *) echo "$_l" ;; esac
}
# result: the next result's JSON line
result() { send wait 1; line; }
jf() { echo "$1" | jq -r ".$2"; }
# results N: N results into R_<job> variables (they may come in any order)
results() {
	send wait "$1"
	for _ in $(seq "$1"); do
		_r=$(line)
		eval "R_$(jf "$_r" job)=\$_r"
	done
}

alert() { # the alert of the next jobs
	send set clear
	send set rule vm-cpu-high
	send set status firing
	send set severity warning
	send set kind vm
	send set subject web1
	send set uuid 6695eb01-f6a4-8304-79aa-97f2502e193f
	send set host hv1
	send set tenant acme
	send set summary "avg(vm.cpu.alloc_pct, 15m) > 90: 97.5"
	send set values '{"vm.cpu.alloc_pct": 97.5}'
	send set starts 1714564800500000000
	send set id "$1"
	send set decision 7
	send set label.team-name infra
	send set "label.owner" "o'neil \$HOME"
}

# the probe's descriptors now, with its runner made: as many at the end
nfds() { ls "/proc/$PROBE_PID/fd" | wc -l; }
send set clear
send json >/dev/null
line >/dev/null
FDS0=$(nfds)

# --- a program: its environment, stdin and descriptors
alert 101
id=$(submit program 60000 "$DATA/record.sh" "$OUT")
r=$(result)
is "$(jf "$r" job)" "$id" "program: the result is the job's"
is "$(jf "$r" outcome) $(jf "$r" exit) $(jf "$r" message)" "ok 0 exit 0" "program: exit 0 is ok"
is "$(jf "$r" output)" "recorded 101" "program: its stdout is captured"
env_has() { grep -qxF "$1" "$OUT/env.101"; }
miss=""
for v in VMETER_ALERT_RULE=vm-cpu-high VMETER_ALERT_STATUS=firing VMETER_ALERT_SUBJECT=web1 \
	VMETER_ALERT_VM_UUID=6695eb01-f6a4-8304-79aa-97f2502e193f VMETER_ALERT_HOST=hv1 VMETER_ALERT_TENANT=acme \
	VMETER_ALERT_SEVERITY=warning VMETER_ALERT_ID=101 VMETER_DECISION_ID=7 VMETER_LABEL_TEAM_NAME=infra \
	"VMETER_LABEL_OWNER=o'neil \$HOME" VMETER_ALERT_STARTS_AT=2024-05-01T12:00:00.5Z; do
	env_has "$v" || miss="$miss $v"
done
is "$miss" "" "program: the alert is in its environment, labels sanitised"
if grep -q VMETER_TEST_DAEMON_ONLY "$OUT/env.101" || grep -q "^HOME=" "$OUT/env.101"; then ok 1 "program: a clean environment"; else ok 0 "program: a clean environment"; fi
stdin_ok() {
	python3 - "$OUT/stdin.101" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
a = d["alerts"][0]
assert d["version"] == "4" and d["status"] == "firing" and d["receiver"] == "probe", d
assert a["labels"]["alertname"] == "vm-cpu-high" and a["labels"]["team-name"] == "infra", a
assert a["startsAt"] == "2024-05-01T12:00:00.5Z" and a["endsAt"] == "0001-01-01T00:00:00Z", a
assert json.loads(a["annotations"]["values"]) == {"vm.cpu.alloc_pct": 97.5}, a
PY
}
check "program: the Alertmanager JSON on its stdin" stdin_ok
if grep -q canary "$OUT/fds.101"; then ok 1 "program: inherits no descriptor of the daemon"; else ok 0 "program: inherits no descriptor of the daemon"; fi
ls -l "/proc/$PROBE_PID/fd" 2>/dev/null | grep -q canary
ok $? "program: (the probe does hold the canary descriptor)"

# --- a program that fails, one not found at run time
id=$(submit program 60000 "$DATA/fail.sh")
r=$(result)
is "$(jf "$r" ok) $(jf "$r" outcome) $(jf "$r" exit)" "false failed 3" "program: exit 3 fails"
is "$(jf "$r" message) / $(jf "$r" output)" "exit 3 / oops" "program: its message and stderr"
is "$(submit program 1000 bin/true)" 'refused: program "bin/true" is not an absolute path' "program: a relative path is refused at submit"
is "$(submit program 1000 "$DATA/receiver.py")" "refused: program \"$DATA/receiver.py\" is not executable: Permission denied" \
	"program: a file that is not executable is refused at submit"
is "$(submit program 0 /bin/true)" "refused: timeout must be positive" "program: no timeout is refused"

# --- a program past its timeout: killed with its child
id=$(submit program 1000 "$DATA/ignores-term.sh" "$OUT")
r=$(result)
is "$(jf "$r" outcome) $(jf "$r" exit)" "timeout 137" "timeout: the program is killed (SIGKILL: it ignored SIGTERM)"
is "$(jf "$r" message)" "timed out after 1 s: killed" "timeout: its message"
read -r leader child <"$OUT/pids"
dead() { # gone, or a zombie not yet reaped by its new parent
	_s=$(ps -o stat= -p "$1" 2>/dev/null)
	[ -z "$_s" ] || [ "${_s#Z}" != "$_s" ]
}
both_dead() { dead "$leader" && dead "$child"; }
check "timeout: neither the program ($leader) nor its child ($child) is left" both_dead

# --- the runner freed while a program runs: it is killed, the probe goes on
rm -f "$OUT/pids"
submit program 600000 "$DATA/ignores-term.sh" "$OUT" >/dev/null
pids_written() { [ -s "$OUT/pids" ]; }
wait_for "the program's pids" 120 pids_written || bail "ignores-term.sh did not start"
read -r leader child <"$OUT/pids"
send free 60000
is "$(line)" "freed" "free: returns with a program running"
check "free: the running program and its child are killed" both_dead

# --- webhooks
alert 201
hook_count() { grep -c " $1 " "$T/hooks/requests.log" 2>/dev/null || echo 0; }
id=$(submit webhook 30000 3 100 "$HOOK/ok")
r=$(result)
is "$(jf "$r" ok) $(jf "$r" attempts) $(jf "$r" http) $(jf "$r" message)" "true 1 200 HTTP 200 after 1 attempt" \
	"webhook: a 200 is ok at once"
n=$(awk '$2 == "/ok" { print $1 }' "$T/hooks/requests.log")
is "$(awk '$2 == "/ok" { print $4 }' "$T/hooks/requests.log")" "application/json" "webhook: Content-Type application/json"
am_ok() {
	python3 - "$T/hooks/body.$1" "$2" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
want = {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
        "commonAnnotations", "externalURL", "alerts"}
assert set(d) == want, set(d) ^ want
assert d["version"] == "4" and d["receiver"] == "probe" and d["externalURL"] == "http://vmeter.test/"
assert d["truncatedAlerts"] == 0 and d["groupLabels"] == {"alertname": "vm-cpu-high"}
a = d["alerts"][0]
assert set(a) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}, a
assert a["status"] == d["status"] == "firing"
assert a["labels"] == d["commonLabels"] and a["annotations"] == d["commonAnnotations"]
assert a["labels"] == {"alertname": "vm-cpu-high", "severity": "warning", "vm": "web1", "host": "hv1",
                       "tenant": "acme", "vm_uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f",
                       "team-name": "infra", "owner": "o'neil $HOME"}, a["labels"]
assert a["annotations"]["summary"] == "avg(vm.cpu.alloc_pct, 15m) > 90: 97.5"
assert a["annotations"]["vmeter_alert_id"] == sys.argv[2]
rfc3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$"
assert re.match(rfc3339, a["startsAt"]) and re.match(rfc3339, a["endsAt"])
assert re.match(r"^[0-9a-f]{16}$", a["fingerprint"])
PY
}
check "webhook: the body is Alertmanager's webhook JSON, every field" am_ok "$n" 201

# 503 three times, then 200
id=$(submit webhook 30000 6 200 "$HOOK/flaky/3/a")
r=$(result)
is "$(jf "$r" ok) $(jf "$r" attempts) $(jf "$r" http)" "true 4 200" "webhook: retried after 503 until it recovers"
is "$(hook_count /flaky/3/a)" 4 "webhook: the receiver saw the 4 attempts"
# each retry came at least the back-off after the previous one: 200, 400, 800 ms
gaps=$(awk '$2 == "/flaky/3/a" { if (p) printf "%d ", ($3 - p) / 1000000; p = $3 }' "$T/hooks/requests.log")
read -r g1 g2 g3 <<<"$gaps"
ok $(( g1 >= 200 && g2 >= 400 && g3 >= 800 ? 0 : 1 )) "webhook: back-off doubles (gaps $gaps ms, at least 200 400 800)"
same_bodies() {
	_first=""
	for n in $(awk '$2 == "/flaky/3/a" { print $1 }' "$T/hooks/requests.log"); do
		[ -z "$_first" ] && _first=$n
		cmp -s "$T/hooks/body.$_first" "$T/hooks/body.$n" || return 1
		am_ok "$n" 201 || return 1
	done
}
check "webhook: every attempt sent the same valid body" same_bodies
# 503 beyond the attempts
id=$(submit webhook 30000 3 50 "$HOOK/flaky/10/b")
r=$(result)
is "$(jf "$r" outcome) $(jf "$r" attempts) $(jf "$r" http)" "failed 3 503" "webhook: gives up after max attempts"
is "$(jf "$r" message)" "HTTP 503 after 3 attempts" "webhook: its message"
is "$(hook_count /flaky/10/b)" 3 "webhook: no attempt beyond the third"
# 429 is retried too
r=$(submit webhook 30000 3 50 "$HOOK/r429" >/dev/null; result)
is "$(jf "$r" ok) $(jf "$r" attempts) $(hook_count /r429)" "true 2 2" "webhook: 429 is retried"
# 400 is not
r=$(submit webhook 30000 5 50 "$HOOK/bad" >/dev/null; result)
is "$(jf "$r" outcome) $(jf "$r" attempts) $(jf "$r" http)" "failed 1 400" "webhook: 400 fails at once"
is "$(jf "$r" message)" "HTTP 400, not retried (attempt 1)" "webhook: 400's message"
is "$(hook_count /bad)" 1 "webhook: the receiver saw one request for 400"
# a redirect is not followed (the body would go where the rule did not say)
r=$(submit webhook 30000 5 50 "$HOOK/moved" >/dev/null; result)
is "$(jf "$r" outcome) $(jf "$r" attempts) $(jf "$r" http) $(hook_count /moved)" "failed 1 301 1" "webhook: 301 is final, not followed"
# a receiver that never answers
r=$(submit webhook 1000 2 50 "$HOOK/hang" >/dev/null; result)
is "$(jf "$r" outcome) $(jf "$r" attempts) $(jf "$r" http)" "timeout 2 0" "webhook: an attempt that gets no answer times out"
is "$(jf "$r" message)" "timed out after 1 s (attempt 2 of 2)" "webhook: the timeout's message"
hang_twice() { [ "$(hook_count /hang)" = 2 ]; }
check "webhook: each attempt reached the receiver" wait_for 120 hang_twice
# a closed port
closed=$(free_port)
r=$(submit webhook 30000 2 50 "http://127.0.0.1:$closed/x" >/dev/null; result)
is "$(jf "$r" outcome) $(jf "$r" attempts)" "failed 2" "webhook: a refused connection is retried, then fails"
is "$(jf "$r" message)" "connect to 127.0.0.1:$closed: Connection refused after 2 attempts" "webhook: the refusal's message"
is "$(submit webhook 1000 3 50 "https://127.0.0.1:$PORT/ok")" \
	"refused: webhook url \"https://127.0.0.1:$PORT/ok\": scheme \"https\" is not http" "webhook: https is refused at submit"
is "$(submit webhook 1000 3 50 "http://127.0.0.1:99999/")" 'refused: webhook url "http://127.0.0.1:99999/": bad port "99999"' \
	"webhook: a malformed URL is refused at submit"
is "$(submit webhook 1000 0 50 "$HOOK/ok")" "refused: webhook: max_attempts is 0 (at least 1)" "webhook: zero attempts are refused"

# workers do not block each other: a program submitted after a webhook
# that hangs for long ends first
slow=$(submit webhook 120000 1 0 "$HOOK/hang")
fast=$(submit program 120000 /bin/true)
r=$(result)
is "$(jf "$r" job) $(jf "$r" ok)" "$fast true" "workers: a hanging webhook does not hold up a program"
send free 0
is "$(line)" "freed" "free: returns with a webhook hanging (abandoned)"

is "$(nfds)" "$FDS0" "no descriptor leaked by programs and webhooks (nor by freeing runners)"

# --- libvirt, on libvirtd's test driver
start_libvirtd
setup_fleet
cat >"$T/act.xml" <<'XML'
<domain type='test'>
  <name>act1</name>
  <uuid>aaaaaaaa-0000-4000-8000-000000000001</uuid>
  <memory unit='KiB'>2097152</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu current='2'>4</vcpu>
  <os><type>hvm</type></os>
</domain>
XML
sed 's/act1/act2/; s/000000000001/000000000002/' "$T/act.xml" >"$T/act2.xml"
virsh_t define "$T/act.xml" >/dev/null && virsh_t start act1 >/dev/null && virsh_t define "$T/act2.xml" >/dev/null ||
	bail "cannot define the test domains"
send set clear
send set rule r
send set status firing
send set uri "$TEST_URI"
send set uuid aaaaaaaa-0000-4000-8000-000000000001
virt() { submit virt "$@" >/dev/null; result; }
state() { virsh_t domstate "$1" | head -1; }

r=$(virt suspend 0 60000)
is "$(jf "$r" ok) $(jf "$r" message) / $(state act1)" "true suspended / paused" "virt: suspend (virsh: paused)"
r=$(virt resume 0 60000)
is "$(jf "$r" ok) $(jf "$r" message) / $(state act1)" "true resumed / running" "virt: resume (virsh: running)"
r=$(virt resume 0 60000)
is "$(jf "$r" outcome)" "failed" "virt: resuming a running domain fails"
case $(jf "$r" message) in virDomainResume:*) ok 0 "virt: with libvirt's message ($(jf "$r" message))" ;;
*) ok 1 "virt: with libvirt's message: $(jf "$r" message)" ;; esac

r=$(virt set-vcpus 3 60000)
is "$(jf "$r" ok) $(jf "$r" message)" "true vcpus set to 3 (live and config)" "virt: set-vcpus 3 on a running domain"
is "$(virsh_t vcpucount act1 --live --current) $(virsh_t vcpucount act1 --config --current)" "3 3" \
	"virt: virsh reads 3 vCPUs live and in the config"
r=$(virt set-vcpus 8 60000)
is "$(jf "$r" outcome) $(virsh_t vcpucount act1 --live --current)" "failed 3" "virt: set-vcpus above the maximum is refused, nothing changed"
is "$(jf "$r" message)" "virDomainSetVcpusFlags: invalid argument: requested cpu amount exceeds maximum (8 > 4)" \
	"virt: with libvirt's message"

r=$(virt set-memory 524288 60000)
is "$(jf "$r" ok) $(jf "$r" message)" "true memory set to 524288 KiB (live and config)" "virt: set-memory on a running domain"
used() { virsh_t dominfo "$1" | awk '/^Used memory:/ { print $3 }'; }
is "$(used act1)" 524288 "virt: virsh dominfo reads the new balloon size"
r=$(virt set-memory 4194304 60000)
is "$(jf "$r" outcome) $(used act1)" "failed 524288" "virt: set-memory above the maximum is refused, nothing changed"
case $(jf "$r" message) in virDomainSetMemoryFlags:*) ok 0 "virt: with libvirt's message ($(jf "$r" message))" ;;
*) ok 1 "virt: with libvirt's message: $(jf "$r" message)" ;; esac

r=$(virt migrate 0 60000 "$TEST_URI")
is "$(jf "$r" outcome) $(state act1)" "failed running" "virt: migrate on the test driver fails, the domain stays"
case $(jf "$r" message) in virDomainMigrate3:*support*) ok 0 "virt: migrate says why ($(jf "$r" message))" ;;
*) ok 1 "virt: migrate says why: $(jf "$r" message)" ;; esac
r=$(virt migrate 0 60000 "test+unix:///default?socket=$T/nosuch")
case $(jf "$r" message) in "cannot open destination \"test+unix:///default?socket=$T/nosuch\": "*) ok 0 "virt: an unreachable destination is named" ;;
*) ok 1 "virt: an unreachable destination is named: $(jf "$r" message)" ;; esac

r=$(virt shutdown 0 60000)
is "$(jf "$r" ok) $(state act1)" "true shut off" "virt: shutdown (virsh: shut off)"
case $(jf "$r" message) in "shut down in "*) ok 0 "virt: shutdown's message ($(jf "$r" message))" ;;
*) ok 1 "virt: shutdown's message: $(jf "$r" message)" ;; esac
r=$(virt set-vcpus 1 60000)
is "$(jf "$r" ok) $(jf "$r" message)" "true vcpus set to 1 (config)" "virt: set-vcpus on a shut-off domain changes its config"
is "$(virsh_t vcpucount act1 --config --current)" 1 "virt: virsh reads 1 vCPU in the config"
r=$(virt shutdown 0 60000)
is "$(jf "$r" outcome)" "failed" "virt: shutting down a shut-off domain fails"

# a guest that does not stop (the test driver restarts a domain whose
# on_poweroff says so): the shutdown's own outcome
sed 's/act1/act3/; s/000000000001/000000000003/; s:</os>:</os><on_poweroff>restart</on_poweroff>:' "$T/act.xml" >"$T/act3.xml"
virsh_t define "$T/act3.xml" >/dev/null && virsh_t start act3 >/dev/null || bail "cannot define act3"
send set uuid aaaaaaaa-0000-4000-8000-000000000003
r=$(virt shutdown 0 1000)
is "$(jf "$r" outcome) $(state act3)" "timeout running" "virt: a domain still running after the shutdown's timeout is a timeout"
is "$(jf "$r" message)" "shutdown requested; the domain is still running after 1 s" "virt: its message"

send set uuid aaaaaaaa-0000-4000-8000-0000000000ff
r=$(virt suspend 0 60000)
is "$(jf "$r" outcome) $(jf "$r" message)" "not-found domain aaaaaaaa-0000-4000-8000-0000000000ff not found at \"$TEST_URI\"" \
	"virt: an unknown UUID is not-found"
send set uri "test+unix:///default?socket=$T/nosuch"
r=$(virt suspend 0 60000)
case $(jf "$r" message) in "cannot open \"test+unix:///default?socket=$T/nosuch\": "*) ok 0 "virt: a host that cannot be reached is named" ;;
*) ok 1 "virt: a host that cannot be reached is named: $(jf "$r" message)" ;; esac

# libvirtd restarted: the cached connection is broken, and reopened
send set uri "$TEST_URI"
send set uuid aaaaaaaa-0000-4000-8000-000000000002
stop_libvirtd
start_libvirtd
setup_fleet
virsh_t define "$T/act2.xml" >/dev/null && virsh_t start act2 >/dev/null || bail "cannot define act2 again"
r=$(virt suspend 0 60000)
is "$(jf "$r" ok) $(state act2) $(jf "$r" message)" "true paused suspended" "virt: a broken connection is reopened (libvirtd restarted)"

# freed while a libvirt call cannot return (a "libvirtd" that accepts and
# never answers): free returns after its grace, the worker stays detached
# until the connection fails, then frees what it holds (ASan watches)
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
c, _ = s.accept(); open(sys.argv[2], "w").write("accepted\n")
time.sleep(3600)' "$T/mute.sock" "$T/mute.accepted" &
MUTE=$!
_pids="$_pids $MUTE"
mute_up() { [ -S "$T/mute.sock" ]; }
wait_for 60 mute_up || bail "the mute server did not start"
send set uri "test+unix:///default?socket=$T/mute.sock"
submit virt suspend 0 60000 >/dev/null
accepted() { [ -s "$T/mute.accepted" ]; }
wait_for "the worker's connection" 120 accepted || bail "the worker did not connect"
send free 500
is "$(line)" "freed" "free: returns while a libvirt call hangs (the worker detached)"
kill "$MUTE"
send set uri "$TEST_URI"
r=$(virt resume 0 60000)
is "$(jf "$r" ok) $(state act2)" "true running" "free: a new runner works on (the detached worker ends on its own)"

is "$(submit virt reboot 0 1000)" "refused: unknown virt operation 99" "virt: an unknown operation is refused at submit"
send set uuid
is "$(submit virt suspend 0 1000)" "refused: suspend: the alert names no VM UUID" "virt: an alert without a VM is refused"

# --- the probe ends cleanly: no leak, no sanitizer report
exec {IN}>&-
wait "$PROBE_PID"
is "$?" 0 "the probe exits 0 (no leak, ASan/UBSan clean)"
if grep -q "Sanitizer\|runtime error" "$T/probe.err"; then ok 1 "no sanitizer report"; cat "$T/probe.err" | head -30; else ok 0 "no sanitizer report"; fi
