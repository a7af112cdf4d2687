#!/bin/bash
# lib/query.h, the read queries the programs share, against independent SQL
# on the raw rows (tests/data/storage: the seed and the independent views),
# through both its typed blocking calls (tests/query_probe) and vmeter-admin:
#   - usage over a tenant's 25-hour day and over odd edges, before and after
#     rollups, whole and filtered by VM, host, tenant and project;
#   - the inventory as of a time (the owner then, not now; undefined VMs
#     left out), hosts as of a time, lifecycle spans from events;
#   - bad input is refused with a message naming it.
. "$(dirname "$0")/../lib.sh"
plan 32

start_postgres
write_conf "$T/vmeter.conf"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
probe() { "$top_builddir/tests/query_probe" "$PG_CONNINFO" "$@"; }
q() { psql_q "$1"; }
seed_storage 0.7

# The independent rows as query_probe prints them.
python3 - >"$T/indep_tsv.sql" <<'PYEOF'
C = ("cpu_ns cpu_user_ns cpu_system_ns vcpu_ns vcpu_delay_ns vcpu_wait_ns running_ms disk_rd_bytes disk_wr_bytes "
     "disk_rd_reqs disk_wr_reqs disk_rd_ns disk_wr_ns disk_fl_reqs disk_fl_ns net_rx_bytes net_tx_bytes "
     "net_rx_pkts net_tx_pkts net_rx_errs net_tx_errs net_rx_drop net_tx_drop").split()
G = "vcpus mem_max_kib balloon_kib rss_kib usable_kib available_kib unused_kib disk_capacity_bytes disk_allocation_bytes".split()
f = ["v.uuid::text", "h.hostname", "o.tenant", "o.project", "u.minutes::text", "u.coverage_ms::text", "u.lost_ms::text"]
f += ["coalesce(u.%s::text, '')" % c for c in C]
for g in G:
    f += ["coalesce(round(u.%s_int / nullif(u.%s_ms, 0))::bigint::text, '')" % (g, g),
          "coalesce(u.%s_max::text, '')" % g,
          "CASE WHEN u.%s_max IS NULL THEN '' ELSE u.%s_ms::text END" % (g, g)]
print("CREATE OR REPLACE VIEW indep_tsv AS SELECT concat_ws(E'\\t', %s) AS line, o.tenant, o.project, v.uuid, "
      "h.hostname FROM indep_usage u JOIN vm v USING (vm_id) JOIN host h USING (host_id) JOIN owner o USING (owner_id);"
      % ", ".join(f))
PYEOF
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$T/indep_tsv.sql" >/dev/null || bail "tsv view"

epoch() { TZ=$2 date -d "$1" +%s; }
BF=$(epoch "2026-10-25 00:00" Europe/Berlin)
BT=$(epoch "2026-10-26 00:00" Europe/Berlin)
OF=$(epoch "2026-10-24 03:17" UTC)
OT=$(epoch "2026-10-26 20:43" UTC)

# same_usage FROM TO WHERE PROBE_ARGS...: the probe's rows == the independent ones
same_usage() {
	_f=$1 _t=$2 _w=$3; shift 3
	probe usage "$_f" "$_t" "$@" | sort >"$T/got" || return 1
	psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_CONNINFO" \
		-c "SELECT set_config('t.f', to_timestamp($_f)::text, false), set_config('t.t', to_timestamp($_t)::text, false)" \
		-c "SELECT line FROM indep_tsv WHERE $_w" | tail -n +2 | sort >"$T/want"
	[ -s "$T/want" ] && cmp -s "$T/got" "$T/want"
}

for phase in "before rollups" "after rollups"; do
	if [ "$phase" = "after rollups" ]; then
		adm maintain --now "2026-10-27 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
	fi
	same_usage "$BF" "$BT" true
	ok $? "$phase: usage over the 25-hour Berlin day, every VM, host and owner ($(wc -l <"$T/want") rows)"
	same_usage "$OF" "$OT" true
	ok $? "$phase: usage over odd edges"
	same_usage "$OF" "$OT" "tenant = 'tenant1'" - - tenant1
	ok $? "$phase: one tenant ($(wc -l <"$T/want") rows)"
	same_usage "$OF" "$OT" "tenant = 'tenant2' AND project = 'proj1'" - - tenant2 proj1
	ok $? "$phase: one tenant's project"
	vm3=$(q "SELECT uuid FROM vm WHERE vm_id = 3")
	same_usage "$OF" "$OT" "uuid = '$vm3'" "$vm3"
	ok $? "$phase: one VM"
	same_usage "$BF" "$BT" "hostname = 'hv-b'" - hv-b
	ok $? "$phase: one host"
	same_usage "$OF" "$OT" "project = 'proj1'" - - - proj1
	ok $? "$phase: one project, whatever the tenant"
	n=$(psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_CONNINFO" \
		-c "SELECT set_config('t.f', to_timestamp($OF)::text, false), set_config('t.t', to_timestamp($OT)::text, false)" \
		-c "WITH w AS (SELECT t.* FROM indep_traffic t JOIN owner o USING (owner_id) WHERE o.tenant = 'tenant2'),
			g AS (SELECT * FROM vm_traffic_between(to_timestamp($OF), to_timestamp($OT), p_tenant => 'tenant2'))
			SELECT (SELECT count(*) FROM w) || ' ' || (SELECT count(*) FROM ((SELECT * FROM w EXCEPT ALL SELECT * FROM g)
			UNION ALL (SELECT * FROM g EXCEPT ALL SELECT * FROM w)) x)" | tail -1)
	ok "$(echo "$n" | awk '{ print ($1 > 0 && $2 == 0) ? 0 : 1 }')" "$phase: one tenant's traffic by class (rows, differences: $n)"
done
ok "$(q "SELECT count(*) FROM vm_resolution_plan(to_timestamp($OF), to_timestamp($OT)) WHERE kind <> 'raw'" | awk '{ print ($1 > 0) ? 0 : 1 }')" \
	"after rollups the reader takes rollups"

# vmeter-admin total prints the same numbers.
adm total --from "@$OF" --to "@$OT" --tenant tenant1 --csv >"$T/total.csv" || bail "total failed"
same_usage "$OF" "$OT" "tenant = 'tenant1'" - - tenant1 || bail "the probe's rows changed"
python3 - "$T/total.csv" "$T/got" <<'PYEOF' >"$T/cmp"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
probe = {}
for l in open(sys.argv[2]):
    f = l.rstrip("\n").split("\t")
    probe[(f[0], f[1], f[2], f[3])] = f
bad = 0
for r in rows:
    k = (r["uuid"], r["hostname"], r["tenant"], r["project"])
    p = probe.get(k)
    if not p or p[4] != r["minutes"] or p[7] != r["cpu_ns"] or p[6] != r["lost_ms"]:
        bad += 1
print(len(rows), bad)
PYEOF
is "$(cat "$T/cmp")" "$(wc -l <"$T/got") 0" "vmeter-admin total --csv: the same rows and numbers"

# Per owner, from the owners' daily rollups: the independent per-VM sums
# added up per tenant, project and cost centre.
adm total --from "@$OF" --to "@$OT" --by-owner --csv >"$T/owners.csv" || bail "total --by-owner failed"
psql -X -q -A -t -F ',' -v ON_ERROR_STOP=1 "$PG_CONNINFO" \
	-c "SELECT set_config('t.f', to_timestamp($OF)::text, false), set_config('t.t', to_timestamp($OT)::text, false)" \
	-c "SELECT o.tenant, o.project, o.cost_centre, i.minutes, i.lost_ms, i.cpu_ns, i.net_rx_bytes FROM indep_owner i
		JOIN owner o USING (owner_id) ORDER BY 1, 2, 3" | tail -n +2 >"$T/owners.want"
python3 - "$T/owners.csv" >"$T/owners.got" <<'PYEOF2'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print(",".join([r["tenant"], r["project"], r["cost_centre"], r["minutes"], r["lost_ms"], r["cpu_ns"], r["net_rx_bytes"]]))
PYEOF2
ok "$(cmp -s "$T/owners.got" "$T/owners.want" && [ -s "$T/owners.want" ] && echo 0 || echo 1)" \
	"total --by-owner: per tenant, project and cost centre, the independent sums ($(wc -l <"$T/owners.want") owners)"
ok "$(adm total --by-owner --vm "$vm3" >"$T/o" 2>&1; [ $? = 2 ] && grep -q "no --vm or --host" "$T/o" && echo 0 || echo 1)" \
	"--by-owner with a VM is refused: $(cat "$T/o")"

# --- inventory as of a time: VM 5's owner changes, VM 6 is undefined
AT=$(epoch "2026-10-25 12:00" UTC)
q "INSERT INTO vm_event (vm_id, host_id, at, event) VALUES (6, 1, '2026-10-25 06:00+00', 'undefined'),
	(7, 2, '2026-10-25 05:00+00', 'undefined'), (7, 2, '2026-10-25 07:00+00', 'defined')" >/dev/null
probe inventory "$AT" | cut -f1,2,6 | sort >"$T/got"
q "SELECT x.uuid || E'\t' || x.name || E'\t' || x.tenant FROM (SELECT DISTINCT ON (i.vm_id) v.uuid, i.name, i.tenant,
	i.vm_id FROM vm_inventory i JOIN vm v USING (vm_id) WHERE i.valid_from <= '2026-10-25 12:00+00'
	ORDER BY i.vm_id, i.valid_from DESC) x WHERE x.vm_id <> 6" | sort >"$T/want"
ok "$(cmp -s "$T/got" "$T/want" && echo 0 || echo 1)" "inventory at a time: the state then, undefined VMs left out ($(wc -l <"$T/want") VMs)"
t=$(q "SELECT tenant FROM vm_inventory WHERE vm_id = 5 AND valid_from <= '2026-10-25 12:00+00' ORDER BY valid_from DESC LIMIT 1")
probe inventory "$AT" - - "$t" | cut -f1 | sort >"$T/got"
q "SELECT v.uuid FROM (SELECT DISTINCT ON (vm_id) vm_id, tenant FROM vm_inventory WHERE valid_from <= '2026-10-25 12:00+00'
	ORDER BY vm_id, valid_from DESC) x JOIN vm v USING (vm_id) WHERE x.tenant = '$t' AND x.vm_id <> 6" | sort >"$T/want"
ok "$(cmp -s "$T/got" "$T/want" && [ -s "$T/want" ] && echo 0 || echo 1)" "inventory by tenant: the tenant's VMs then, not its VMs at any time"
out=$(adm vms --at "2026-10-25 12:00" --csv | tail -n +2 | wc -l)
is "$out" "$(wc -l < <(probe inventory "$AT"))" "vmeter-admin vms --at: the same VMs"

# --- hosts as of a time
q "INSERT INTO host_inventory VALUES (1, '2026-10-24 00:00+00', 8, 2400, 16777216, 'cpu-a', 1, 1, 4, 2),
	(1, '2026-10-26 00:00+00', 16, 2400, 33554432, 'cpu-b', 1, 2, 4, 2)" >/dev/null
is "$(probe hosts "$AT" | sort | tr '\t' ' ')" "hv-a 8 16777216 cpu-a
hv-b 0 0 " "hosts at a time: the inventory then"
is "$(probe hosts "$(epoch "2026-10-27" UTC)" | head -1 | tr '\t' ' ')" "hv-a 16 33554432 cpu-b" "hosts later: the newer inventory"

# --- lifecycle from events
q "INSERT INTO vm_event (vm_id, host_id, at, event, detail) VALUES
	(9, 1, '2026-10-24 10:00+00', 'defined', ''), (9, 1, '2026-10-24 10:05+00', 'resumed', 'unpaused'),
	(9, 1, '2026-10-24 10:05+00', 'started', 'booted'), (9, 1, '2026-10-24 11:00+00', 'defined', ''),
	(9, 1, '2026-10-24 12:00+00', 'suspended', 'paused'), (9, 1, '2026-10-24 12:30+00', 'resumed', 'unpaused'),
	(9, 1, '2026-10-24 13:00+00', 'stopped', 'shutdown'), (9, 1, '2026-10-24 14:00+00', 'undefined', '')" >/dev/null
vm9=$(q "SELECT uuid FROM vm WHERE vm_id = 9")
e() { epoch "2026-10-24 $1" UTC; }
is "$(probe lifecycle "$(e 09:00)" "$(e 15:00)" "$vm9" | cut -f3- | tr '\t' ' ')" "off $(e 10:00) $(e 10:05)
running $(e 10:05) $(e 11:00)
running $(e 11:00) $(e 12:00)
paused $(e 12:00) $(e 12:30)
running $(e 12:30) $(e 13:00)
off $(e 13:00) $(e 14:00)
gone $(e 14:00) $(e 15:00)" "lifecycle: off, running (a redefinition keeps it), paused, running, off, gone"
is "$(probe lifecycle "$(e 10:30)" "$(e 12:10)" "$vm9" | cut -f3- | tr '\t' ' ')" "running $(e 10:30) $(e 11:00)
running $(e 11:00) $(e 12:00)
paused $(e 12:00) $(e 12:10)" "lifecycle: spans clipped to the range"

# --- bad input
ok "$(adm total --vm no-such-vm >"$T/o" 2>&1; [ $? != 0 ] && grep -q "no VM named 'no-such-vm'" "$T/o" && echo 0 || echo 1)" \
	"an unknown VM name is refused: $(cat "$T/o")"
long=$(printf 't%.0s' $(seq 1 100))
ok "$(adm total --tenant "$long" >"$T/o" 2>&1; [ $? = 2 ] && grep -q "tenant name is too long" "$T/o" && echo 0 || echo 1)" \
	"an over-long tenant is refused: $(cat "$T/o")"
ok "$(adm total --from "2026-10-25 10:00" --to "2026-10-25 09:00" >"$T/o" 2>&1; [ $? = 2 ] && grep -q -- "--to must be after --from" "$T/o" && echo 0 || echo 1)" \
	"a reversed range is refused: $(cat "$T/o")"
ok "$(adm vms --at "12:00 tomorrow" >"$T/o" 2>&1; [ $? = 2 ] && grep -q "bad --at time '12:00 tomorrow'" "$T/o" && echo 0 || echo 1)" \
	"a bad --at is refused: $(cat "$T/o")"
ok "$(probe usage "$OF" "$OT" "not-a-uuid" >"$T/o" 2>&1; [ $? = 1 ] && grep -q "'not-a-uuid' is not a VM UUID" "$T/o" && echo 0 || echo 1)" \
	"a VM filter that is not a UUID is refused: $(cat "$T/o")"
