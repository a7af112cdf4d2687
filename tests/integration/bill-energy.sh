#!/bin/bash
# Energy and carbon (billing/energy.c, docs/BILLING.md "Energy and carbon")
# against an independent minute-by-minute computation of the same scenario
# (tests/bill_energy.py): measured (RAPL) and modelled host minutes, the
# idle share by allocation and the rest by CPU time, carbon by the grid's
# hourly intensity, each host's day conserved exactly in every rating
# zone; the meters rated and priced; energy lines on the draft and in its
# exports; a late measured minute re-rated once; bad plan files and grid
# files refused naming the file, line and field.
. "$(dirname "$0")/../lib.sh"
plan 21

BILL=$top_builddir/billing/vmeter-bill
start_postgres
write_conf "$T/vmeter.conf"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
bill() { "$BILL" -c "$T/billing.conf" "$@"; }
q() { psql_q "$1"; }
adm migrate >/dev/null || bail "migrate failed"
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$top_srcdir/sql/roles/vmeter_billing.sql" >/dev/null ||
	bail "the billing role's grants failed"
q "CREATE ROLE biller LOGIN IN ROLE vmeter_billing" >/dev/null || bail "cannot create the login role"
sed 's/user=vmeter/user=biller/' "$T/vmeter.conf" >"$T/billing.conf"

cat >"$T/plans.conf" <<'EOF'
plan std {
  currency = EUR
  version "v1" {
    from = 2026-09-01
    charge energy { price = 0.30 per = kWh }
    charge carbon { price = 80 per = t }
  }
}
tenant acme { currency = EUR time-zone = UTC assign std { from = 2026-09-01 } }
tenant beta { currency = EUR time-zone = Europe/Berlin showback = true assign std { from = 2026-09-01 } }
host-class modelled { hosts = "hv-m" idle-power = "100 W" max-power = "0.3 kW" grid = de }
host-class measured { hosts = "hv-r" idle-power = 50 max-power = "200 W" grid = fr }
grid de { intensity = "400 g/kWh" }
grid fr { intensity = 50 }
EOF
bill plans load "$T/plans.conf" >"$T/load.out" 2>&1
ok $? "plans load ($(tail -1 "$T/load.out"))"

mkdir -p "$T/want"
python3 "$top_srcdir/tests/bill_energy.py" "$T/scenario.sql" "$T/grid.csv" "$T/want" || bail "scenario"
q "SELECT vm_ensure_partitions('2026-09-29 00:00+00', '2026-10-04 00:00+00')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$T/scenario.sql" >/dev/null || bail "scenario load"
bill grid load de "$T/grid.csv" >"$T/grid.out" 2>&1
is "$?:$(q "SELECT string_agg(hour::text || '=' || mg_per_kwh, ',' ORDER BY hour) FROM bill_grid_hour WHERE region = 'de'")" \
	"0:2026-10-01 05:00:00+00=123456,2026-10-02 05:00:00+00=500" "grid load: two hours, offsets read, decimals exact"
adm maintain --now "2026-10-03 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"

bill rate >"$T/rate.out" 2>&1
ok $? "rate ($(cat "$T/rate.out"))"
q "SELECT time_zone, day, host_id, minutes, measured, energy_uj, carbon_ug FROM bill_energy_host ORDER BY 1, 2, 3" |
	tr '|' '\t' >"$T/host.tsv"
diff "$T/want/host.tsv" "$T/host.tsv" >"$T/diff" 2>&1
ok $? "each host's energy and carbon per zone-day, measured and modelled minutes, to the µJ and µg ($(wc -l <"$T/want/host.tsv") host-days)$(sed 's/^/\n# /' "$T/diff" | head -10)"
q "SELECT time_zone, day, host_id, vm_id, tenant, project, part, energy_uj, measured_uj, carbon_ug FROM bill_energy_share
   ORDER BY 1, 2, 3, 4, 5, 6, 7" | tr '|' '\t' >"$T/share.tsv"
diff "$T/want/share.tsv" "$T/share.tsv" >"$T/diff" 2>&1
ok $? "each VM's and owner's part, the idle part and the overhead, exactly ($(wc -l <"$T/want/share.tsv") rows)$(sed 's/^/\n# /' "$T/diff" | head -10)"
is "$(q "SELECT count(*) FROM bill_energy_host h WHERE energy_uj <> (SELECT sum(energy_uj) FROM bill_energy_share s
         WHERE (s.time_zone, s.day, s.host_id) = (h.time_zone, h.day, h.host_id))
         OR carbon_ug <> (SELECT sum(carbon_ug) FROM bill_energy_share s
         WHERE (s.time_zone, s.day, s.host_id) = (h.time_zone, h.day, h.host_id))")" 0 \
	"conservation: every host-day's parts add up to its energy and carbon"
q "SELECT tenant, day, vm_id, project, meter, qty FROM bill_rated ORDER BY 1, 2, 3, 4, 5" | tr '|' '\t' >"$T/rated.tsv"
diff "$T/want/rated.tsv" "$T/rated.tsv" >"$T/diff" 2>&1
ok $? "the energy (J) and carbon (mg) meters of each tenant's local days ($(wc -l <"$T/want/rated.tsv") rows)$(sed 's/^/\n# /' "$T/diff" | head -10)"
bill energy --month 2026-10 --zone Europe/Berlin >"$T/energy.out" 2>&1
[ $? = 0 ] && [ "$(grep -c "equals the host's" "$T/energy.out")" = 3 ] && ! grep -q DIFFERS "$T/energy.out"
ok $? "vmeter-bill energy: three hosts, parts equal each host's month$(sed 's/^/\n# /' "$T/energy.out" | head -12)"

bill rate >"$T/rate2.out" 2>&1
q "SELECT time_zone, day, host_id, vm_id, tenant, project, part, energy_uj, measured_uj, carbon_ug FROM bill_energy_share
   ORDER BY 1, 2, 3, 4, 5, 6, 7" | tr '|' '\t' >"$T/share2.tsv"
cmp -s "$T/share.tsv" "$T/share2.tsv"
ok $? "rating again changes nothing"

# A measured minute that arrives late (hv-r's RAPL hour without rows): the
# hour is rolled up and rated again, the energy counted once.
before=$(q "SELECT energy_uj FROM bill_energy_host WHERE time_zone = 'UTC' AND day = '2026-10-01' AND host_id = 2")
q "INSERT INTO host_power_minute (host_id, minute, coverage_ms, samples, energy_uj) VALUES (2, '2026-10-01 15:30+00', 60000, 6, 9000000000)" >/dev/null
adm maintain --now "2026-10-03 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
bill rate >"$T/rate3.out" 2>&1
after=$(q "SELECT energy_uj, measured FROM bill_energy_host WHERE time_zone = 'UTC' AND day = '2026-10-01' AND host_id = 2")
model=$(q "SELECT 50000::bigint * coverage_ms + (150000::numeric * coverage_ms * least(cpu_busy_ns, cpu_capacity_ns) / cpu_capacity_ns)::bigint
           FROM host_usage_minute WHERE host_id = 2 AND minute = '2026-10-01 15:30+00'")
is "$after" "$((before - model + 9000000000))|$(($(awk -F'\t' '$1 == "UTC" && $2 == "2026-10-01" && $3 == 2 { print $5 }' "$T/want/host.tsv") + 1))" \
	"a late measured minute replaces its modelled energy once (and counts as measured)"

# The draft: energy and carbon lines per VM; the meters priced.
bill invoice draft --tenant acme --period 2026-10 >"$T/draft.out" 2>&1 || bail "draft: $(cat "$T/draft.out")"
id=$(q "SELECT invoice_id FROM bill_invoice WHERE tenant = 'acme'")
is "$(q "SELECT string_agg(vm_id || ':' || meter || ':' || qty || '/' || per || ' ' || unit, ',' ORDER BY vm_id, meter)
         FROM bill_line WHERE invoice_id = $id AND kind = 'energy'")" \
	"$(q "SELECT string_agg(vm_id || ':' || m || ':' || v || '/' || p || ' ' || u, ',' ORDER BY vm_id, m) FROM (
	      SELECT vm_id, 'carbon' AS m, div(sum(carbon_ug) + 500, 1000) AS v, 1000 AS p, 'g CO2e' AS u FROM bill_energy_share
	      WHERE tenant = 'acme' AND time_zone = 'UTC' AND part = 'vm' GROUP BY vm_id HAVING sum(carbon_ug) > 0
	      UNION ALL SELECT vm_id, 'energy', div(sum(energy_uj) + 500000, 1000000), 3600000, 'kWh' FROM bill_energy_share
	      WHERE tenant = 'acme' AND time_zone = 'UTC' AND part = 'vm' GROUP BY vm_id) x")" \
	"acme's draft: an energy (kWh) line per VM and a carbon (g CO2e) line where its host has a grid, from its shares"
is "$(q "SELECT count(*) FROM bill_line WHERE invoice_id = $id AND kind = 'usage' AND meter IN ('energy', 'carbon') AND amount > 0")" 4 \
	"the plan's charges price energy (three VMs) and carbon (the one VM whose part of the tenant's rounded amount is a cent or more)"
bill invoice export "$id" --format html -o "$T/inv.html" >/dev/null 2>&1 &&
	grep -q "Energy: [0-9.]* kWh" "$T/inv.html" && grep -q "measured (RAPL)" "$T/inv.html" &&
	grep -q "modelled from CPU use" "$T/inv.html"
ok $? "the HTML export states the month's kWh and kg CO2e and how each VM's energy was known"
bill invoice export "$id" --format csv -o "$T/inv.csv" >/dev/null 2>&1 && grep -q '^[^,]*,[^,]*,acme,.*,energy,.*,kWh,' "$T/inv.csv"
ok $? "the CSV export has the energy lines$(grep energy "$T/inv.csv" | head -2 | sed 's/^/\n# /')"
q "UPDATE bill_energy_share SET energy_uj = energy_uj + 1 WHERE tenant = 'acme' AND day = '2026-10-02' AND vm_id = 1" >/dev/null
out=$(bill invoice finalise "$id" 2>&1)
[ $? != 0 ] && echo "$out" | grep -q "host hv-m on 2026-10-02: its parts hold"
ok $? "finalising names a host-day whose parts do not add up$(echo "$out" | grep 'host hv-m' | sed 's/^/\n# /')"

# A showback tenant's statement: the same quantities, no money at all.
out=$(bill invoice draft --tenant beta --period 2026-10 2>&1)
sid=$(q "SELECT invoice_id FROM bill_invoice WHERE tenant = 'beta'")
echo "$out" | grep -q "^statement $sid (draft) .* lines, quantities only (showback)$"
ok $? "beta's draft is a statement of quantities ($out)"
is "$(q "SELECT count(*) FILTER (WHERE amount <> 0 OR rate <> 0) || ':' || count(*) FILTER (WHERE kind = 'energy')
       || ':' || count(*) FILTER (WHERE kind = 'usage' AND meter = 'energy') FROM bill_line WHERE invoice_id = $sid")" \
	"0:$(q "SELECT count(DISTINCT vm_id) + count(DISTINCT vm_id) FILTER (WHERE carbon_ug > 0) FROM (SELECT vm_id, sum(carbon_ug) AS carbon_ug
	        FROM bill_energy_share WHERE tenant = 'beta' AND time_zone = 'Europe/Berlin' AND part = 'vm' GROUP BY vm_id) x"):$(q "SELECT count(DISTINCT (vm_id, project)) FROM bill_rated WHERE tenant = 'beta' AND meter = 'energy'")" \
	"its lines: energy and carbon per VM and the usage quantities, every amount and rate zero"
bill invoice export "$sid" --format html -o "$T/st.html" >/dev/null 2>&1 &&
	bill invoice export "$sid" --format json -o "$T/st.json" >/dev/null 2>&1 &&
	bill invoice export "$sid" --format csv -o "$T/st.csv" >/dev/null 2>&1 &&
	! grep -q "Amount\|Total\|EUR" "$T/st.html" && grep -q "usage, no charges" "$T/st.html" &&
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["total"] is None and all(l["amount"] is None and l["rate"] is None for l in d["lines"]), d' "$T/st.json" &&
	awk -F, 'NR > 1 && ($18 != "" || $19 != "") { bad = 1 } END { exit bad }' "$T/st.csv"
ok $? "its HTML, JSON and CSV carry no rate, amount, total or currency"

# Bad input.
bad() { # bad FILE-BODY EXPECTED-MESSAGE DESCRIPTION
	printf '%s\n' "$1" >"$T/bad.conf"
	out=$(bill plans check "$T/bad.conf" 2>&1)
	[ $? != 0 ] && echo "$out" | grep -qF "$2"
	ok $? "$3 ($out)"
}
bad 'host-class c { hosts = "x" idle-power = "100 W" }' "bad.conf:1: host-class 'c': a power model needs both" \
	"a power model with idle power only is refused"
bad 'host-class c { hosts = "x" idle-power = "100 W" max-power = "1.5555 kW" }' "max-power: '1.5555 kW' is not a number" \
	"more than 3 decimals of watts are refused"
printf 'hour,g\n2026-10-01T06:00Z,12\n2026-10-01T07:00Z,-3\n' >"$T/badgrid.csv"
out=$(bill grid load de "$T/badgrid.csv" 2>&1)
[ $? != 0 ] && echo "$out" | grep -qF "badgrid.csv:3: want HOUR,G_PER_KWH" &&
	[ "$(q "SELECT count(*) FROM bill_grid_hour WHERE hour = '2026-10-01 06:00+00'")" = 0 ]
ok $? "a bad grid line is refused naming file:line, and nothing of the file is loaded ($out)"
