#!/bin/bash
# vmeter-aggregator's policies (docs/POLICIES.md) on real PostgreSQL with
# recorded minutes: rule files checked by -n (FILE:LINE and the rule); the
# daemon fires a rule, runs its program action with the alert in its
# environment, records recommend and dry-run decisions without actions,
# serves /metrics; vmeter-admin alerts and audit show the alerts and the
# decisions (alert -> decision -> action -> result -> follow-up) and refuse
# bad options; killed -9 mid-alert and started again it resumes the
# alert without firing or acting twice; the alert resolves when the
# minutes fall; a back-test over fixed history against hand-computed
# transitions.  Waits for states, never for times.
. "$(dirname "$0")/../lib.sh"
plan 40

AGG=$top_builddir/aggregator/vmeter-aggregator
start_postgres
PORT=$(free_port)
mkdir -p "$T/rules.d"
SECTION="aggregator {
  interval = 3600
  rules = \"$T/rules.d/*.conf\"
  rules-interval = 10
  rules-lag = \"0s\"
  metrics-listen = \"127.0.0.1:$PORT\"
}"
write_conf "$T/vmeter.conf" "$SECTION"
agg() { "$AGG" -c "$T/vmeter.conf" "$@"; }
q() { psql_q "$1"; }
# before the schema: alerts and audit say what is missing
out=$("$ADMIN" -c "$T/vmeter.conf" alerts 2>&1)
is "$?:$out" "1:vmeter-admin: the database has no aggregator tables (schema 13): run 'vmeter-admin migrate'" \
	"alerts before migrate: the tables are missing, run migrate"
out=$("$ADMIN" -c "$T/vmeter.conf" audit --json 2>&1)
is "$?:$out" "1:vmeter-admin: the database has no aggregator tables (schema 13): run 'vmeter-admin migrate'" \
	"audit before migrate: the same"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"

cat >"$T/act.sh" <<EOS
#!/bin/sh
env | grep '^VMETER_' | sort >"$T/act.env"
cat >"$T/act.json"
echo acted
EOS
chmod +x "$T/act.sh"
cat >"$T/rules.d/10-hot.conf" <<EOF2
rule "vm-hot" {
  condition = "avg(vm.cpu.alloc_pct, 5m) > 90"
  recover = "avg(vm.cpu.alloc_pct, 5m) < 50"
  severity = critical
  labels { team = web }
  automation = automatic
  follow-up = 10s
  on-firing { program { argv = { "$T/act.sh", "fired" } } }
}
rule "vm-hot-recommend" {
  condition = "avg(vm.cpu.alloc_pct, 5m) > 90"
  on-firing { program { argv = { "$T/act.sh" } } }
}
rule "vm-hot-dry" {
  condition = "avg(vm.cpu.alloc_pct, 5m) > 90"
  automation = automatic
  dry-run = yes
  on-firing { program { argv = { "$T/act.sh" } } }
}
EOF2

# --- checking
out=$(agg -n 2>&1)
is "$?:$out" "0:$T/vmeter.conf: configuration ok; 3 rules" "-n reads the rule files"
printf 'rule "broken" {\n  condition = "avg(vm.cpu.alloc_pct, 5m) > 90"\n  for = soon\n}\n' >"$T/rules.d/20-bad.conf"
out=$(agg -n 2>&1)
rc=$?
is "$rc:$out" "2:vmeter-aggregator: $T/rules.d/20-bad.conf:3: rule \"broken\": for must be a duration: a number and s, m, h or d (\"10m\"), at most 86400 s" \
	"a bad rule file names FILE:LINE and the rule, exit 2"
printf 'rule "p" {\n  condition = "vm.vcpus > 0"\n  on-firing {\n    program { argv = { "/nonexistent/x" } }\n  }\n}\n' >"$T/rules.d/20-bad.conf"
out=$(agg -n 2>&1)
case $out in *"20-bad.conf:4: rule \"p\": program: "*"/nonexistent/x"*) r=0 ;; *) r=1 ;; esac
ok $r "a program that is not there is refused at load ($out)"
rm "$T/rules.d/20-bad.conf"

# --- the fleet: hv-1 with vm-hot at 95 % and vm-cool at 10 % of one vCPU
# over the 30 minutes before now
q "SELECT vm_ensure_partitions(now() - interval '2 days', now() + interval '2 days')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" >/dev/null <<'EOF2' || bail "the fleet"
INSERT INTO host (host_id, hostname, libvirt_uri) VALUES (1, 'hv-1', 'test:///default');
INSERT INTO vm (vm_id, uuid) VALUES (1, '00000000-0000-0000-0000-000000000001'),
                                    (2, '00000000-0000-0000-0000-000000000002');
INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib, tenant,
  project, cost_centre, owner_source, digest)
VALUES (1, now() - interval '1 day', 1, 'vm-hot', 1, 1, 1048576, 1048576, 'acme', 'p', '', 'metadata', 'd1'),
       (2, now() - interval '1 day', 1, 'vm-cool', 1, 1, 1048576, 1048576, 'acme', 'p', '', 'metadata', 'd2');
CREATE FUNCTION gen(p_vm int, p_pct int) RETURNS void LANGUAGE sql AS $$
INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, vcpu_ns, vcpu_delay_ns, vcpus_avg,
    vcpus_max)
SELECT 1, p_vm, m, 60000, 6, 60000::bigint * 1000000 * p_pct / 100, 0, 0, 1, 1
  FROM generate_series(date_trunc('minute', now()) - interval '30 minutes',
                       date_trunc('minute', now()) + interval '30 minutes', interval '1 minute') m
ON CONFLICT (vm_id, minute, host_id) DO UPDATE SET cpu_ns = EXCLUDED.cpu_ns
$$;
SELECT gen(1, 95);
SELECT gen(2, 10);
EOF2

# --- the daemon
"$AGG" -c "$T/vmeter.conf" -v >"$T/daemon.log" 2>&1 &
daemon=$!
on_cleanup "kill -9 \$daemon 2>/dev/null"
acted() { [ "$(q "SELECT count(*) FROM agg_decision WHERE rule = 'vm-hot' AND result = 'ok'")" = 1 ]; }
wait_for "the program action's result" 120 acted
ok $? "vm-hot fires and its program action runs (ok)"
is "$(q "SELECT state || ' ' || subject_name || ' ' || severity FROM agg_alert WHERE rule = 'vm-hot'")" \
	"firing vm-hot critical" "one alert, firing, for vm-hot only"
is "$(q "SELECT from_state || '>' || to_state || ' ' || (vals->>'avg(vm.cpu.alloc_pct,5m)')::numeric::int FROM agg_alert_transition t JOIN agg_alert USING (alert_id) WHERE rule = 'vm-hot'")" \
	"inactive>firing 95" "its transition with the value that caused it"
grep -q "^VMETER_ALERT_RULE=vm-hot$" "$T/act.env" && grep -q "^VMETER_ALERT_STATUS=firing$" "$T/act.env" &&
	grep -q "^VMETER_LABEL_TEAM=web$" "$T/act.env"
ok $? "the program had the alert in its environment"
grep -q '"alertname": *"vm-hot"' "$T/act.json" || grep -q '"alertname":"vm-hot"' "$T/act.json"
ok $? "and the Alertmanager JSON on stdin"
is "$(q "SELECT verdict || ' ' || reason || ' ' || coalesce(result, '-') FROM agg_decision WHERE rule = 'vm-hot-recommend'")" \
	"recommend  -" "automation = recommend: a decision, no action"
is "$(q "SELECT verdict || ' ' || reason || ' ' || coalesce(result, '-') FROM agg_decision WHERE rule = 'vm-hot-dry'")" \
	"skipped dry-run -" "dry-run: a decision, no action"
followed() { [ "$(q "SELECT follow_up_holds FROM agg_decision WHERE rule = 'vm-hot' AND verdict = 'act'")" = t ]; }
# The follow-up is due 10 s after the action, and taken by the first rule
# cycle whose window (whole minutes) ends past that: up to 70 s after the
# action (one in the last 10 s of a minute waits for the boundary after
# next).  A 60 s deadline failed such runs.
wait_for "the follow-up" 150 followed
ok $? "the follow-up: the condition still holds after the action"

# --- vmeter-admin alerts / audit on what the daemon stored
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
since=$(q "SELECT to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM agg_alert WHERE rule = 'vm-hot'")
out=$(adm alerts --rule vm-hot --csv 2>&1)
want="rule,kind,subject,host,severity,state,since,values,subject_id,tenant,last_action,alert_id"
is "$(echo "$out" | head -1)" "$want" "alerts --csv: the columns"
row=$(echo "$out" | sed -n 2p)
case $row in "vm-hot,vm,vm-hot,hv-1,critical,firing,$since,\"{\"\"avg(vm.cpu.alloc_pct,5m)\"\": 95"*"}\",00000000-0000-0000-0000-000000000001,acme,"*) r=0 ;; *) r=1 ;; esac
ok $r "alerts: rule, subject, host, severity, state, since and the values ($row)"
out=$(adm alerts 2>&1)
is "$(echo "$out" | awk 'NR > 1 && !/^\(/ { print $1, $3, $6 }' | sort | tr '\n' ';')" \
	"vm-hot vm-hot firing;vm-hot-dry vm-hot firing;vm-hot-recommend vm-hot firing;" \
	"alerts: every alert not inactive, one line each (vm-cool's are not)"
is "$(adm alerts --state pending 2>&1)" "rule  kind  subject  host  severity  state  since  values
(0 rows)" "alerts --state pending: none"
is "$(adm alerts --state firing | tail -1) $(adm alerts --state all --rule vm-hot-dry | tail -1)" "(3 rows) (1 row)" \
	"alerts --state firing, --state all with --rule"
out=$(adm alerts --state burning 2>&1)
is "$?:$out" "2:vmeter-admin: --state must be inactive, pending, firing, resolved or all, not 'burning'" \
	"alerts: a bad --state is refused, naming the states"
out=$(adm alerts --vm vm-hot 2>&1)
is "$?:$out" "2:vmeter-admin: alerts takes no --vm" "alerts: an option it does not take is refused"

out=$(adm audit --rule vm-hot 2>&1)
row=$(echo "$out" | sed -n 2p)
is "$(echo "$row" | awk '{ print $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }')" \
	"vm-hot vm-hot $(q "SELECT alert_id FROM agg_alert WHERE rule = 'vm-hot' AND subject_name = 'vm-hot'") inactive>firing act program ok 1 exit 0" \
	"audit: alert -> transition -> verdict -> action -> result, attempts, exit status ($row)"
case $row in *'{"avg(vm.cpu.alloc_pct,5m)": 95'*'}  {"avg(vm.cpu.alloc_pct,5m)": 95'*'}  no '*) r=0 ;; *) r=1 ;; esac
ok $r "audit: the values, the follow-up's values and did it help (no: still hot)"
adm audit --json >"$T/audit.json" 2>&1
python3 - "$T/audit.json" <<'EOPY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {r["rule"]: r for r in rows}
assert len(rows) == 3, rows
h = by["vm-hot"]
assert (h["verdict"], h["reason"], h["action"], h["result"], h["attempts"], h["exit_status"]) == \
    ("act", "", "program", "ok", 1, 0), h
assert h["transition"]["from"] == "inactive" and h["transition"]["to"] == "firing", h
assert h["follow_up_holds"] is True and h["helped"] == "no" and h["output"] == "acted\n", h
assert h["action_spec"]["argv"][1] == "fired", h
assert by["vm-hot-dry"]["reason"] == "dry-run" and by["vm-hot-dry"]["result"] is None
assert by["vm-hot-recommend"]["verdict"] == "recommend" and by["vm-hot-recommend"]["helped"] is None
EOPY
ok $? "audit --json: one object a line, linking the transition, the decision, the result and the follow-up"
is "$(adm audit --json | python3 -c 'import json,sys; print(sorted({json.loads(l)["alert_id"] for l in sys.stdin}))')" \
	"[$(q "SELECT string_agg(alert_id::text, ', ' ORDER BY alert_id) FROM agg_alert WHERE state = 'firing'")]" \
	"audit --json: each decision names its alert"
is "$(adm audit --vm vm-hot | tail -1) $(adm audit --vm 00000000-0000-0000-0000-000000000001 | tail -1) $(adm audit --vm vm-cool | tail -1)" \
	"(3 rows) (3 rows) (0 rows)" "audit --vm: by name or UUID, only that VM's decisions"
is "$(adm audit --since '2099-01-01 00:00' | tail -1) $(adm audit --since now-1d | tail -1)" "(0 rows) (3 rows)" \
	"audit --since"
out=$(adm audit --since yesterday 2>&1)
is "$?:$out" "2:vmeter-admin: bad --since time 'yesterday' (YYYY-MM-DD HH:MM[:SS] UTC, @EPOCH, now, now-2h)" \
	"audit: a bad --since is refused"
out=$(adm audit --json --csv 2>&1)
is "$?:$out" "2:vmeter-admin: audit takes --json or --csv, not both" "audit: --json and --csv together are refused"
out=$(adm audit --vm 2>&1)
case "$?:$out" in "2:"*"'--vm' requires an argument"*) r=0 ;; *) r=1 ;; esac
ok $r "audit: --vm without its argument is refused ($(echo "$out" | head -1))"
out=$(adm audit --state firing 2>&1)
is "$?:$out" "2:vmeter-admin: audit takes no --state" "audit: an option it does not take is refused"

scrape() { curl -sf "http://127.0.0.1:$PORT/metrics"; }
cycles() { [ "$(scrape | awk '$1 == "vmeter_aggregator_cycles_total" { print $2 }')" -ge "${1:-1}" ]; }
wait_for 60 cycles
m=$(scrape)
echo "$m" | grep -q '^vmeter_alert_state{rule="vm-hot",subject_kind="vm",subject="00000000-0000-0000-0000-000000000001",name="vm-hot",severity="critical",state="firing"} 1$'
ok $? "/metrics: the alert's state"
echo "$m" | grep -q '^vmeter_aggregator_actions_total{kind="program",result="ok"} 1$' &&
	echo "$m" | grep -q '^vmeter_aggregator_rules_loaded 3$' && echo "$m" | grep -q '^vmeter_aggregator_database_up 1$'
ok $? "/metrics: actions by kind and result, rules, the database"
bad=$(echo "$m" | grep -v '^#' | grep -Ecv '^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$')
is "$bad" 0 "/metrics parses: every sample line is NAME{LABELS} VALUE"

# --- killed mid-alert, started again: resumes, acts no second time
kill -9 $daemon
wait $daemon 2>/dev/null
"$AGG" -c "$T/vmeter.conf" -v >"$T/daemon2.log" 2>&1 &
daemon=$!
wait_for "cycles after the restart" 60 cycles 2
ok $? "the restarted daemon cycles"
is "$(q "SELECT count(*) FROM agg_decision WHERE rule = 'vm-hot'") $(q "SELECT count(*) FROM agg_alert_transition")" \
	"1 3" "no second firing, no second action after the restart"
scrape | grep -q 'rule="vm-hot",.*state="firing"} 1$'
ok $? "the alert's state resumed (firing)"

# --- it resolves when the minutes fall below the recovery threshold
q "SELECT gen(1, 20)" >/dev/null
resolved() { [ "$(q "SELECT state FROM agg_alert WHERE rule = 'vm-hot'")" = resolved ]; }
wait_for "the alert to resolve" 90 resolved
ok $? "the alert resolves"
kill $daemon
wait $daemon
ok $? "SIGTERM stops the daemon"

# --- a back-test over fixed history: vm-b at 95 % from 18:10 to 18:19,
# 10 % before and after; a rule on the last minute, for 2m
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" >/dev/null <<'EOF2' || bail "the history"
SELECT vm_ensure_partitions('2026-10-07 00:00+00', '2026-10-09 00:00+00');
INSERT INTO vm (vm_id, uuid) VALUES (3, '00000000-0000-0000-0000-000000000003');
INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib, tenant,
  project, cost_centre, owner_source, digest)
VALUES (3, '2026-10-01 00:00+00', 1, 'vm-b', 1, 1, 1048576, 1048576, 'acme', 'p', '', 'metadata', 'd3');
INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, vcpu_ns, vcpu_delay_ns, vcpus_avg,
    vcpus_max)
SELECT 1, 3, m, 60000, 6, 60000::bigint * 1000000 *
       CASE WHEN m >= '2026-10-07 18:10+00' AND m < '2026-10-07 18:20+00' THEN 95 ELSE 10 END / 100, 0, 0, 1, 1
  FROM generate_series(timestamptz '2026-10-07 17:30+00', '2026-10-07 18:59+00', interval '1 minute') m;
EOF2
cat >"$T/rules.d/30-bt.conf" <<EOF2
rule "bt" {
  condition = "vm.cpu.alloc_pct > 90"
  for = 2m
  automation = automatic
  cooldown = 1h
  on-firing { program { argv = { "$T/act.sh" } } }
}
EOF2
sed -i 's/rules-interval = 10/rules-interval = 60/' "$T/vmeter.conf"
out=$(agg backtest --rule bt --from "2026-10-07 18:00" --to "2026-10-07 18:30" 2>&1)
want='2026-10-07 18:11:00Z bt vm-b inactive -> pending {"last(vm.cpu.alloc_pct)":95}
2026-10-07 18:13:00Z bt vm-b pending -> firing {"last(vm.cpu.alloc_pct)":95}
2026-10-07 18:13:00Z bt vm-b firing: program would act
2026-10-07 18:21:00Z bt vm-b firing -> resolved {"last(vm.cpu.alloc_pct)":10}
backtest bt: 30 cycles of 60 s'
is "$out" "$want" "backtest: the transitions and the action, as computed by hand"
is "$(q "SELECT count(*) FROM agg_alert WHERE rule = 'bt'")" 0 "backtest writes no alert state"
