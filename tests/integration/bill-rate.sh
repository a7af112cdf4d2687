#!/bin/bash
# Rating (billing/rater.c, `vmeter-bill rate`) against an independent
# minute-by-minute computation of the same scenario (tests/bill_scenario.py):
#   - time meters from lifecycle events and inventory states: a minute
#     counts if the VM was running (defined) at any moment of it, a resize
#     inside a minute bills the larger size, the first state's size and
#     owner reach back before it, each minute goes to the owner valid at
#     its middle (an owner change mid-day splits the VM between tenants);
#   - use meters from the per-minute rows through the hourly rollups;
#   - each tenant's days cut in its own time zone (Europe/Berlin);
#   - rating twice changes nothing; a late row marks its hour dirty and the
#     next `rate` takes it (nothing counted twice); a re-rating with a
#     reason and --dry-run reports the change and writes nothing;
#   - bad input is refused naming it.
. "$(dirname "$0")/../lib.sh"
plan 22

BILL=$top_builddir/billing/vmeter-bill
start_postgres
write_conf "$T/vmeter.conf"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
# vmeter-bill runs as a login role of sql/roles/vmeter_billing.sql's group:
# every command here also checks that the role's privileges suffice.
bill() { "$BILL" -c "$T/billing.conf" "$@"; }
q() { psql_q "$1"; }
adm migrate >/dev/null || bail "migrate failed"
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$top_srcdir/sql/roles/vmeter_billing.sql" >/dev/null ||
	bail "the billing role's grants failed"
q "CREATE ROLE biller LOGIN IN ROLE vmeter_billing" >/dev/null || bail "cannot create the login role"
sed 's/user=vmeter/user=biller/' "$T/vmeter.conf" >"$T/billing.conf"
grep -q "user=biller" "$T/billing.conf" || bail "no user in the configuration's conninfo"

cat >"$T/plans.conf" <<'EOF'
plan std {
  currency = EUR
  version "v1" {
    from = 2026-09-01
    charge vcpu { price = 0.01 per = vcpu-hour }
    charge ram { price = 0.002 per = GiB-hour }
    charge disk { price = 0.1 per = GiB-day }
    charge vm { price = 0.001 per = vm-hour time = defined }
    charge cpu { price = 0.05 per = core-hour }
    charge net.rx { price = 0.01 per = GiB }
    charge cpu { price = 0.10 per = core-hour host-class = racks }
  }
}
tenant acme { currency = EUR time-zone = UTC assign std { from = 2026-09-01 } }
tenant beta { currency = EUR time-zone = Europe/Berlin assign std { from = 2026-09-01 } }
host-class racks { hosts = "hv-*" }
pool rack { currency = EUR host-class = racks cost all { month = 744.00 } }
EOF
bill plans load "$T/plans.conf" >"$T/load.out" 2>&1
ok $? "plans load ($(tail -1 "$T/load.out"))"

python3 "$top_srcdir/tests/bill_scenario.py" "$T/scenario.sql" "$T/want.tsv" || bail "scenario"
q "SELECT vm_ensure_partitions('2026-09-29 00:00+00', '2026-10-04 00:00+00')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$T/scenario.sql" >/dev/null || bail "scenario load"
adm maintain --now "2026-10-03 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"

got() {
	q "SELECT tenant, day, vm_id, project, meter, sum(qty) FROM bill_rated GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5" |
		tr '|' '\t'
}
bill rate >"$T/rate.out" 2>&1
ok $? "rate ($(cat "$T/rate.out"))"
got >"$T/got.tsv"
diff "$T/want.tsv" "$T/got.tsv" >"$T/diff" 2>&1
ok $? "rated quantities equal the minute-by-minute computation ($(wc -l <"$T/want.tsv") rows)$(sed 's/^/\n# /' "$T/diff" | head -20)"

q "SELECT day, vm_id, tenant, project, share FROM bill_pool_share WHERE pool = 'rack' AND host_id = 1" | tr '|' '\t' >"$T/pool.tsv"
python3 "$top_srcdir/tests/bill_scenario.py" --check "$T/want.tsv.pool" "$T/pool.tsv"
ok $? "the host's pool: each VM's share of each day within a nano-unit a minute of its exact share ($(wc -l <"$T/pool.tsv") rows)"
is "$(q "SELECT sum(share) <= 744000000000::bigint * 24 * 60 / 44640 + 1 FROM bill_pool_share WHERE day = '2026-10-01'")" t \
	"a day's shares are at most the day's part of the month"
bill pools --month 2026-10 >"$T/pools.out" 2>&1
rc=$?
sum=$(awk '/^  (vm|idle)/ { v = $NF; if ($1 == "idle:") v = $2; gsub(/\./, "", v); s += v } END { print s }' "$T/pools.out")
[ $rc = 0 ] && [ "$sum" = 74400 ] && grep -q "parts + idle = 744.00: equals the cost" "$T/pools.out" &&
	[ "$(grep -c '^  vm ' "$T/pools.out")" = 4 ]
ok $? "the month closed: four parts and idle add up to the host's 744.00 exactly (sum of cents $sum)"
sed 's/^/# /' "$T/pools.out"
# The tenant's draft carries its parts of the host's month; finalising it
# is refused while the month is not rated through its end.
bill invoice draft --tenant acme --period 2026-10 >"$T/draft.out" 2>&1 || bail "draft: $(cat "$T/draft.out")"
is "$(q "SELECT string_agg(project || ':' || vm_id || ':' || amount, ',' ORDER BY project) FROM bill_line l
         JOIN bill_invoice USING (invoice_id) WHERE tenant = 'acme' AND l.kind = 'host-cost'")" \
	"db:2:$(awk '/tenant .acme. project .db./ { v = $NF; gsub(/\./, "", v); print v "0000000" }' "$T/pools.out"),web:1:$(awk '/tenant .acme. project .web./ { v = $NF; gsub(/\./, "", v); print v "0000000" }' "$T/pools.out")" \
	"acme's draft holds its two parts of the host's month, as vmeter-bill pools rounds them"
id=$(q "SELECT invoice_id FROM bill_invoice WHERE tenant = 'acme'")
out=$(bill invoice finalise "$id" 2>&1)
[ $? != 0 ] && echo "$out" | grep -q "shared host cost is provisional: pool 'rack' host hv-a"
ok $? "finalising is refused while the host's month is provisional"
is "$(q "SELECT string_agg(DISTINCT charge::text, ',') FROM bill_rated WHERE meter = 'cpu'")" 6 \
	"on a host of class racks, cpu is rated by the class's charge, not the default one"
is "$(q "SELECT count(*) FROM bill_day WHERE time_zone = 'Europe/Berlin' AND day IN ('2026-10-01', '2026-10-02', '2026-10-03')")" 3 \
	"Berlin's local days are rated in Berlin"
is "$(q "SELECT minutes_after_gone FROM bill_coverage WHERE vm_id = 1 AND day = '2026-10-01'")" 0 \
	"no usage after undefinition where there is none"
is "$(q "SELECT sum(minutes_unpriced) FROM bill_coverage WHERE tenant = 'nobody'")" \
	"$(awk -F'\t' '$1 == "#unpriced" { print $2 }' "$T/want.tsv.meta")" "minutes of a tenant no plan names are counted as unpriced"

bill rate >"$T/rate2.out" 2>&1
got >"$T/got2.tsv"
cmp -s "$T/got.tsv" "$T/got2.tsv"
ok $? "rating again changes nothing ($(cat "$T/rate2.out"))"

# A late row for an hour already rated: the rollup of that hour is redone,
# the hour is marked, the next rate takes it once.
q "INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, net_rx_bytes)
   VALUES (1, 1, '2026-10-01 03:07:00+00', 60000, 6, 7000000000, 12345)" >/dev/null
adm maintain --now "2026-10-03 00:05:00" --no-retention --no-pack >/dev/null || bail "maintain failed"
is "$(q "SELECT count(*) FROM bill_dirty")" 1 "the late row's hour is marked for rating"
bill rate >"$T/rate3.out" 2>&1
is "$(q "SELECT qty FROM bill_rated WHERE vm_id = 1 AND day = '2026-10-01' AND meter = 'cpu'") $(q "SELECT count(*) FROM bill_dirty")" \
	"$(($(awk -F'\t' '$3 == 1 && $2 == "2026-10-01" && $5 == "cpu" { print $6 }' "$T/want.tsv") + 7000000000)) 0" \
	"the next rate counts the late row once and clears the mark"

# A re-rating with a changed price: a new version row; dry run first.
sed -i 's/price = 0.01 per = vcpu-hour/price = 0.02 per = vcpu-hour/' "$T/plans.conf"
bill plans load "$T/plans.conf" >"$T/load2.out" 2>&1
grep -q "version 'v1': changed" "$T/load2.out"
ok $? "a price changed under the same label is a new version ($(grep changed "$T/load2.out"))"
before=$(q "SELECT string_agg(version_id::text, ',' ORDER BY version_id) FROM (SELECT DISTINCT version_id FROM bill_rated) x")
bill rate --from 2026-10-01 --to 2026-10-01 --zone UTC --reason "price fix" --dry-run >"$T/dry.out" 2>&1
is "$(q "SELECT string_agg(version_id::text, ',' ORDER BY version_id) FROM (SELECT DISTINCT version_id FROM bill_rated) x") $(grep -c -- '->' "$T/dry.out")" \
	"$before $(awk -F'\t' '$1 == "acme" && $2 == "2026-10-01"' "$T/want.tsv" | wc -l | awk '{ print $1 * 2 }')" \
	"dry run: every rated quantity of the day moves to the new version, nothing written"
bill rate --from 2026-10-01 --to 2026-10-01 --zone UTC --reason "price fix" >/dev/null 2>&1
is "$(q "SELECT count(DISTINCT version_id) FROM bill_rated WHERE day = '2026-10-01' AND tenant = 'acme'") $(q "SELECT count(*) FROM bill_rerate WHERE reason = 'price fix'")" \
	"1 2" "the re-rating moved the day to the new version and is recorded with its reason"

out=$(bill rate --from 2026-10-01 --to 2026-13-01 --reason x 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "YYYY-MM-DD"
ok $? "a bad day is refused ($out)"
out=$(bill pools --month 2026-13 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "give --month YYYY-MM (got '2026-13')"
ok $? "a bad month is refused ($out)"
out=$(bill rate --from 2026-10-01 --to 2026-10-01 --zone Nowhere/Land --reason x 2>&1)
[ $? = 1 ] && echo "$out" | grep -q 'time zone "Nowhere/Land" not recognized'
ok $? "an unknown zone is refused ($out)"
out=$(bill rate --from 2026-10-01 --to 2026-10-02 2>&1)
[ $? = 2 ] && echo "$out" | grep -q -- "--reason"
ok $? "re-rating without a reason is refused ($out)"
