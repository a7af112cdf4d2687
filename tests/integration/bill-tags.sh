#!/bin/bash
# Prices per VM tag and host class (docs/BILLING.md, "Plan files"): the
# most specific charge of a meter applies (a tag over a class, both over
# either); a VM whose tags change mid-hour is priced by its old tags up to
# the minute the new state holds the middle of and by its new ones after,
# for time meters (minute sweep) and use meters (rollups and raw edges)
# alike; plan files with a bad tag or a charge given twice are refused.
. "$(dirname "$0")/../lib.sh"
plan 6

BILL=$top_builddir/billing/vmeter-bill
start_postgres
write_conf "$T/vmeter.conf"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
bill() { "$BILL" -c "$T/vmeter.conf" "$@"; }
q() { psql_q "$1"; }
adm migrate >/dev/null || bail "migrate failed"

cat >"$T/plans.conf" <<'EOF'
plan std {
  currency = EUR
  version "v1" {
    from = 2026-09-01
    charge vcpu { price = 0.01 per = vcpu-hour }                                   # 0
    charge vcpu { price = 0.03 per = vcpu-hour tag = "tier=gold" }                 # 1
    charge vcpu { price = 0.02 per = vcpu-hour host-class = big }                  # 2
    charge vcpu { price = 0.05 per = vcpu-hour host-class = big tag = gpu }        # 3
    charge cpu { price = 0.01 per = core-hour }                                    # 4
    charge cpu { price = 0.02 per = core-hour tag = "tier=gold" }                  # 5
  }
}
tenant acme { currency = EUR time-zone = UTC assign std { from = 2026-09-01 } }
host-class big { hosts = "big-*" }
EOF
bill plans load "$T/plans.conf" >"$T/load.out" 2>&1
ok $? "plans load ($(tail -1 "$T/load.out"))"

q "SELECT vm_ensure_partitions('2026-09-29 00:00+00', '2026-10-04 00:00+00')" >/dev/null
inv() { # inv VM HOST VCPUS VALID_FROM TAGS-JSON
	echo "INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib,
	      tenant, project, cost_centre, owner_source, disks, digest, tags) VALUES ($1, '$4', $2, 'vm$1', $3, $3, 1048576,
	      1048576, 'acme', 'p', '', 'metadata', '[]', 'd$1-$4', '$5');"
}
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" >/dev/null <<EOF || bail "scenario"
INSERT INTO host (host_id, hostname) VALUES (1, 'small-1'), (2, 'big-1');
INSERT INTO vm (vm_id, uuid) SELECT i, ('00000000-0000-0000-0000-00000000000' || i)::uuid FROM generate_series(1, 3) i;
INSERT INTO vm_event (vm_id, host_id, at, event) VALUES (1, 1, '2026-10-01 00:00+00', 'started'),
  (2, 2, '2026-10-01 00:00+00', 'started'), (3, 2, '2026-10-01 00:00+00', 'started');
$(inv 1 1 2 "2026-10-01 00:00:00+00" '{}')
$(inv 1 1 2 "2026-10-01 12:29:40+00" '{"tier": "gold"}')
$(inv 2 2 4 "2026-10-01 00:00:00+00" '{"gpu": "a100", "tier": "gold"}')
$(inv 3 2 1 "2026-10-01 00:00:00+00" '{"tier": "silver"}')
INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns)
  SELECT 1, 1, m, 60000, 6, 1000000000 FROM generate_series('2026-10-01 00:00+00'::timestamptz,
  '2026-10-01 23:59+00', interval '1 minute') m;
EOF
adm maintain --now "2026-10-02 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
bill rate >"$T/rate.out" 2>&1
ok $? "rate ($(cat "$T/rate.out"))"
is "$(q "SELECT string_agg(vm_id || ':' || charge || '=' || qty, ' ' ORDER BY vm_id, charge) FROM bill_rated
         WHERE day = '2026-10-01'")" \
	"1:0=1500 1:1=1380 1:4=750000000000 1:5=690000000000 2:3=5760 3:2=1440" \
	"vm1 by its tags before and after 12:30 (the first minute whose middle the new state holds), for vcpu and cpu; vm2 by tag and class; vm3 by class"
bill rate --from 2026-10-01 --to 2026-10-01 --reason "same prices" >"$T/rerate.out" 2>&1
is "$(q "SELECT string_agg(vm_id || ':' || charge || '=' || qty, ' ' ORDER BY vm_id, charge) FROM bill_rated
         WHERE day = '2026-10-01'")" \
	"1:0=1500 1:1=1380 1:4=750000000000 1:5=690000000000 2:3=5760 3:2=1440" "re-rating with unchanged prices changes nothing"

printf 'plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1 per = vm-hour tag = "=x" } } }\n' >"$T/bad.conf"
out=$(bill plans check "$T/bad.conf" 2>&1)
[ $? != 0 ] && echo "$out" | grep -qF "bad.conf:3: plan 'p' version 'a' charge 'vm': tag: '=x' is not KEY or KEY=VALUE"
ok $? "a tag without a key is refused ($out)"
printf 'plan p { currency = EUR\n version a { from = 2026-01-01\n charge vm { price = 1 per = vm-hour tag = gpu }\n charge vm { price = 2 per = vm-hour tag = gpu } } }\n' >"$T/bad.conf"
out=$(bill plans check "$T/bad.conf" 2>&1)
[ $? != 0 ] && echo "$out" | grep -qF "bad.conf:4: plan 'p' version 'a': charge 'vm' for tag gpu is given twice (first on line 3)"
ok $? "the same charge for the same tag twice is refused ($out)"
