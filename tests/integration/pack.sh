#!/bin/bash
# Schema 6's packed minutes on a real PostgreSQL (tests/data/storage: the
# seed's three days of random usage, and the independent sums over raw
# rows):
#   - maintain packs closed, rolled-up days older than --pack-after-days, and
#     nothing else; the minutes come back identical (vmeter-admin unpack);
#     rollups and whole-hour readers are unchanged, vmeter-admin total too;
#   - readers (vm_usage_between, vmeter-admin total and usage) refuse a range
#     whose minutes are packed, never answer less;
#   - rows delivered late into a packed day, one of them a minute delivered
#     again with other values, and an owner change learnt late, are counted
#     exactly once after the next maintain;
#   - a damaged packed hour is refused naming its VM and hour, a minute that
#     cannot be packed exactly names its VM and minute; a run killed
#     while it packs leaves the day's minutes as they were;
#   - retention drops packed partitions with the minutes'.
. "$(dirname "$0")/../lib.sh"
plan 36

start_postgres
write_conf "$T/vmeter.conf"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
q() { psql_q "$1"; }
seed_storage 0.42

# minutes DAY: the day's VM minute rows and an md5 of them
minutes() {
	q "SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')
		FROM vm_usage_minute t WHERE minute >= '$1 00:00+00' AND minute < '$1 00:00+00'::timestamptz + interval '1 day'"
}
rollups() {
	for t in vm_usage_hour vm_usage_day owner_usage_day host_usage_hour; do
		q "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM $t t"
	done
}
diff_count() {
	q "SELECT count(*) FROM ((($1) EXCEPT ALL ($2)) UNION ALL (($2) EXCEPT ALL ($1))) x"
}
field() { echo "$1" | sed -n "s/.*$2: \([0-9]*\).*/\1/p"; }
DAYS="2026-10-24 2026-10-25 2026-10-26"

out=$(adm maintain --now "2026-10-27 00:05:00" --no-retention --pack-after-days 3)
echo "$out" | sed 's/^/# /'
is "$(field "$out" "days packed")" 0 "a day is not packed before it ended --pack-after-days ago"
for d in $DAYS; do before_min="$before_min $(minutes $d)"; done
before_roll=$(rollups)
WHOLE_F="2026-10-24 03:00:00+00" WHOLE_T="2026-10-26 21:00:00+00"
q "CREATE TABLE want_usage AS SELECT * FROM vm_usage_between('$WHOLE_F', '$WHOLE_T')" >/dev/null
q "CREATE TABLE want_owner AS SELECT * FROM owner_usage_between('$WHOLE_F', '$WHOLE_T', 'tenant1')" >/dev/null
adm total --from "2026-10-24 00:00" --to "2026-10-27 00:00" >"$T/total.before" || bail "total failed"
adm total --from "2026-10-24 05:00" --to "2026-10-26 19:00" --tenant tenant2 >"$T/total2.before" || bail "total failed"
# for the late rows below, while the minutes are wide: a minute no VM
# had, and one that was delivered
gap=$(q "SELECT v || ' ' || extract(epoch FROM m)::bigint FROM generate_series(2, 16, 2) v,
	generate_series('2026-10-25 10:00+00'::timestamptz, '2026-10-25 10:58+00', '1 minute') m
	WHERE NOT EXISTS (SELECT 1 FROM vm_usage_minute WHERE vm_id = v AND minute = m) ORDER BY m, v LIMIT 1")
dup=$(q "SELECT vm_id || ' ' || host_id || ' ' || extract(epoch FROM minute)::bigint || ' ' || cpu_ns
	FROM vm_usage_minute WHERE minute >= '2026-10-25 10:00+00' AND minute < '2026-10-25 11:00+00'
	AND cpu_ns IS NOT NULL ORDER BY vm_id, minute LIMIT 1")
[ -n "$gap" ] && [ -n "$dup" ] || bail "no minute to deliver late"
day_sums() { q "SELECT sum(minutes) || ' ' || sum(cpu_ns) FROM vm_usage_day WHERE day = '2026-10-25 00:00+00'"; }
sums25=$(day_sums)
part_bytes=$(q "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relname ~ '^vm_usage_minute_p2026102[456]$'")

# --- packing
out=$(adm maintain --now "2026-10-28 00:10:00" --no-retention)
echo "$out" | sed 's/^/# /'
is "$(field "$out" "days packed")" 1 "at 10-28 00:10 the day that ended three days before is packed, and only it"
out=$(adm maintain --now "2026-10-29 00:10:00" --no-retention --pack-after-days 2)
echo "$out" | sed 's/^/# /'
is "$(field "$out" "days packed")" 2 "--pack-after-days 2 the next day packs the other two"
is "$(q "SELECT pack_after_days FROM storage_policy WHERE parent = 'vm_usage_minute'")" 2 "and is stored as the policy"
is "$(q "SELECT count(*) FROM vm_usage_minute WHERE minute < '2026-10-27 00:00+00'")" 0 "the packed days' wide minutes are gone"
is "$(q "SELECT sum(n_minutes) FROM vm_usage_packed")" "$(echo "$before_min" | awk '{ print $1 + $3 + $5 }')" \
	"every minute row is in a packed hour"
packed_bytes=$(q "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relname ~ '^vm_usage_packed_p2026102[456]$'")
diag "wide minutes with indexes: $part_bytes bytes; packed: $packed_bytes bytes"
is "$(rollups)" "$before_roll" "packing changes no rollup"
is "$(diff_count "SELECT * FROM want_usage" "SELECT * FROM vm_usage_between('$WHOLE_F', '$WHOLE_T')")" 0 \
	"vm_usage_between over whole hours of packed days: unchanged"
is "$(diff_count "SELECT * FROM want_owner" "SELECT * FROM owner_usage_between('$WHOLE_F', '$WHOLE_T', 'tenant1')")" 0 \
	"owner_usage_between likewise"
adm total --from "2026-10-24 00:00" --to "2026-10-27 00:00" >"$T/total.after"
ok "$(cmp -s "$T/total.before" "$T/total.after" && echo 0 || echo 1)" "vmeter-admin total over the packed days: unchanged"
adm total --from "2026-10-24 05:00" --to "2026-10-26 19:00" --tenant tenant2 >"$T/total2.after"
ok "$(cmp -s "$T/total2.before" "$T/total2.after" && echo 0 || echo 1)" "a tenant's whole hours: unchanged"
ok "$(q "SELECT count(*) FROM vm_usage_between('2026-10-25 10:30+00', '2026-10-25 18:00+00')" >"$T/o" 2>&1
	[ $? != 0 ] && grep -q 'needs the minutes of the hour 2026-10-25 10:00:00+00, which are packed' "$T/o" && echo 0 || echo 1)" \
	"a range that needs packed minutes is refused: $(head -1 "$T/o")"
ok "$(adm total --from "2026-10-25 10:30" --to "2026-10-25 18:00" >"$T/o" 2>&1
	[ $? != 0 ] && grep -q 'which are packed' "$T/o" && echo 0 || echo 1)" "and so is vmeter-admin total's"
ok "$(adm usage --from "2026-10-25 10:30" --to "2026-10-25 10:40" >"$T/o" 2>&1
	[ $? = 1 ] && grep -q 'which are packed' "$T/o" && echo 0 || echo 1)" "vmeter-admin usage refuses packed minutes, never prints fewer"
is "$(q "SELECT count(*) FROM host_usage_between('2026-10-25 10:30+00', '2026-10-25 18:00+00')")" \
	"$(q "SELECT count(DISTINCT host_id) FROM host_usage_minute WHERE minute >= '2026-10-25 10:30+00' AND minute < '2026-10-25 18:00+00'")" \
	"host minutes are not packed: their readers still take partial hours"
out=$(adm maintain --now "2026-10-29 00:10:00" --no-retention)
is "$(field "$out" "days packed") $(field "$out" "hours rolled up")" "0 0" "a second run has nothing to do"

# --- the minutes come back as they were
npacked=$(q "SELECT count(*) FROM vm_usage_packed")
out=$(adm unpack --from "2026-10-24 00:00" --to "2026-10-27 00:00")
is "$out" "VM-hours unpacked: $npacked" "vmeter-admin unpack puts every packed hour back"
after_min=""
for d in $DAYS; do after_min="$after_min $(minutes $d)"; done
is "$after_min" "$before_min" "every minute row of the three days is back, value for value"
out=$(adm maintain --now "2026-10-29 00:10:00" --no-retention)
echo "$out" | sed 's/^/# /'
is "$(field "$out" "days packed")" 3 "the next run rolls the unpacked hours up again and packs the days again"
is "$(rollups)" "$before_roll" "to the same rollups"

# --- late rows into a packed day: a new minute, a minute delivered again
# with other values, an owner change
set -- $gap
q "INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns)
	VALUES (1, $1, to_timestamp($2), 60000, 6, 123456789)" >/dev/null
set -- $dup
q "INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns)
	VALUES ($2, $1, to_timestamp($3), 60000, 6, 999999999999)" >/dev/null
q "INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib,
	tenant, project, cost_centre, owner_source, digest) VALUES (3, '2026-10-24 12:00:10+00', 2, 'late-owner', 2, 2,
	2097152, 2097152, 'tenant-late', 'p', 'c', 'config', 'late')" >/dev/null
marks=$(q "SELECT count(*) || ' ' || count(*) FILTER (WHERE hour NOT IN (SELECT hour FROM vm_usage_packed WHERE vm_id = 3))
	FROM rollup_dirty WHERE host_id = 0")
ok "$(set -- $marks; [ "$1" -gt 0 ] && [ "$2" = 0 ] && echo 0 || echo 1)" \
	"an owner change learnt late marks the VM's packed hours for every host ($marks)"
ok "$(q "SELECT count(*) FROM vm_usage_between('2026-10-25 10:00+00', '2026-10-25 11:00+00')" >"$T/o" 2>&1
	[ $? != 0 ] && grep -q 'which are packed' "$T/o" && echo 0 || echo 1)" \
	"a packed hour with late rows is refused until maintain has run, not answered from the late rows alone"
out=$(adm maintain --now "2026-10-29 00:10:00" --no-retention --no-pack)
echo "$out" | sed 's/^/# /'
ok "$(echo "$out" | grep -q '([1-9][0-9]* VM-hours unpacked)' && echo 0 || echo 1)" \
	"the next run unpacks the dirty hours before it rolls them up"
wide_hours="SELECT DISTINCT date_trunc('hour', minute, 'UTC') FROM vm_usage_minute"
is "$(diff_count "SELECT * FROM indep_hour WHERE hour IN ($wide_hours)" "SELECT * FROM roll_hour WHERE hour IN ($wide_hours)")" 0 \
	"their rollups equal the independent sums of their minutes"
is "$(q "SELECT cpu_ns FROM vm_usage_minute WHERE vm_id = $1 AND host_id = $2 AND minute = to_timestamp($3)")" "$4" \
	"the minute delivered again keeps its first delivery's values"
set -- $sums25
is "$(day_sums)" "$(($1 + 1)) $(($2 + 123456789))" "the day counts the new minute once and the one delivered again once"
is "$(q "SELECT count(*) FROM vm_usage_hour h JOIN owner o USING (owner_id) WHERE o.tenant = 'tenant-late'")" \
	"$(q "SELECT count(DISTINCT (hour, host_id)) FROM indep_hour h JOIN owner o USING (owner_id) WHERE o.tenant = 'tenant-late'")" \
	"the late owner has its hours"
out=$(adm maintain --now "2026-10-29 00:10:00" --no-retention)
is "$(field "$out" "days packed")" 3 "and the days are packed again once rolled up"

# --- a damaged packed hour
row=$(q "SELECT hour || '|' || host_id || '|' || vm_id FROM vm_usage_packed WHERE hour >= '2026-10-26 00:00+00'
	ORDER BY hour, host_id, vm_id LIMIT 1")
IFS='|' read -r dh dhost dvm <<<"$row"
q "CREATE TABLE saved AS SELECT data FROM vm_usage_packed WHERE hour = '$dh' AND host_id = $dhost AND vm_id = $dvm" >/dev/null
q "UPDATE vm_usage_packed SET data = substring(data FROM 1 FOR 7) WHERE hour = '$dh' AND host_id = $dhost AND vm_id = $dvm;
	INSERT INTO rollup_dirty VALUES ('$dh', $dhost)" >/dev/null
uuid=$(q "SELECT uuid FROM vm WHERE vm_id = $dvm")
ok "$(adm maintain --now "2026-10-29 00:10:00" --no-retention >"$T/o" 2>&1; [ $? = 1 ] &&
	grep -q "packed hour $dh of vm $uuid (vm_id $dvm) on host $dhost is damaged: not a packed hour" "$T/o" &&
	echo 0 || echo 1)" "a damaged packed hour is refused naming its VM and hour: $(cat "$T/o")"
is "$(q "SELECT count(*) FROM vm_usage_packed WHERE hour = '$dh'")/$(q "SELECT count(*) FROM rollup_dirty WHERE hour = '$dh'")" \
	"$(q "SELECT count(*) FROM vm_usage_packed WHERE hour = '$dh'")/1" "and nothing of its hour is changed"
q "UPDATE vm_usage_packed SET data = (SELECT data FROM saved) WHERE hour = '$dh' AND host_id = $dhost AND vm_id = $dvm" >/dev/null
adm maintain --now "2026-10-29 00:10:00" --no-retention >/dev/null || bail "maintain failed after the repair"

# --- a run killed while it packs: the day's minutes stay
adm unpack --from "2026-10-26 00:00" --to "2026-10-27 00:00" >/dev/null || bail "unpack failed"
m26=$(minutes 2026-10-26)
psql -X -q "$PG_CONNINFO application_name=holder" -c "BEGIN" -c "LOCK TABLE vm_usage_packed_p20261026 IN SHARE MODE" -c "SELECT pg_sleep(600)" \
	>/dev/null 2>&1 &
holder=$!
on_cleanup "kill $holder 2>/dev/null"
"$ADMIN" -c "$T/vmeter.conf" maintain --now "2026-10-29 00:10:00" --no-retention >/dev/null 2>&1 &
victim=$!
copying() { [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'COPY vm_usage_packed%'")" = 1 ]; }
wait_for "maintain waits to store the packed day" 120 copying
kill -9 $victim
wait $victim 2>/dev/null
# pg_sleep() does not notice its client gone: end the session
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
wait $holder 2>/dev/null
gone() { [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY vm_usage_packed%'")" = 0 ]; }
wait_for "the killed run's session ends" 120 gone
is "$(minutes 2026-10-26)/$(q "SELECT count(*) FROM vm_usage_packed WHERE hour >= '2026-10-26 00:00+00'")" "$m26/0" \
	"a run killed while it packs leaves the day's minutes as they were, and nothing packed"
out=$(adm maintain --now "2026-10-29 00:10:00" --no-retention)
is "$(field "$out" "days packed")" 1 "the next run packs the day"
ok "$(adm unpack --from "2026-10-26 00:30" --to "2026-10-27 00:00" >"$T/o" 2>&1; [ $? = 2 ] && grep -q 'whole UTC hours' "$T/o" &&
	echo 0 || echo 1)" "unpack refuses a range of partial hours: $(cat "$T/o")"

# --- a minute minpack cannot give back exactly (a gauge's average without
# its maximum: never written by the collector) fails its day, named
q "INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, rss_kib_avg)
	VALUES (1, 1, '2026-10-27 08:00+00', 60000, 6, 1000, 2048)" >/dev/null
ok "$(adm maintain --now "2026-10-30 00:10:00" --no-retention >"$T/o" 2>&1; [ $? = 1 ] &&
	grep -q "minute of vm_id 1 on host 1 at 2026-10-27 08:00:00+00 cannot be packed: rss_kib has an average or a maximum, not both" "$T/o" &&
	echo 0 || echo 1)" "a minute that would not come back as it was fails its day, named: $(cat "$T/o")"
is "$(q "SELECT count(*) FROM vm_usage_minute WHERE minute = '2026-10-27 08:00+00'")/$(q "SELECT count(*) FROM vm_usage_packed WHERE hour >= '2026-10-27 00:00+00'")" \
	"1/0" "and the day stays as it was"
q "UPDATE vm_usage_minute SET rss_kib_max = 4096 WHERE minute = '2026-10-27 08:00+00'" >/dev/null

# --- retention drops the packed days with the minutes'
out=$(adm maintain --now "2027-01-10 00:00:00" --raw-days 40)
is "$(q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'vm_usage_packed'::regclass
	AND inhrelid::regclass::text < 'vm_usage_packed_p20261201'")/$(q "SELECT count(*) FROM vm_usage_packed")" "0/0" \
	"retention drops the packed days' partitions"
