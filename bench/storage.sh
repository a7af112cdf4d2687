#!/bin/bash
# Storage of a simulated fleet (issue 11), figures side by side in one run
# on a private cluster; a benchmark, not a test (exits 0 whatever the
# figures, non-zero only if something broke):
#   1. ingest rows/s of vmeter's delivery path against a plain COPY of the
#      same rows into an identical day-partitioned table and into an
#      unpartitioned one (bench/storage.c, interleaved batch by batch);
#   2. PostgreSQL bytes per VM-day of the raw minutes (heap and index bytes
#      a row) and of the hourly and daily rollups, and the time `vmeter-admin
#      maintain` takes to roll the day up;
#   3. dropping the day by retention (`maintain --raw-days 40`) against
#      DELETE + VACUUM of the same rows in the unpartitioned table;
#   4. one tenant's month and the fleet's per-tenant month totals from the
#      rollups (vm_usage_between over the day's rollups replicated to 30
#      days) against the same sums over one day of raw minutes (x 30);
#   5. RRD bytes per VM (bench/rrd-size.sh);
#   2b (after 4: the queries read the day's raw minutes): the day packed by
#      `maintain` (sql/006_packed.sql), its bytes per VM-day beside the wide
#      rows', the steady state at the default retention, and the bytes under
#      each TOAST storage choice.
#
#   bench/storage.sh [VMS [MINUTES [BATCH [TENANTS]]]]   (default 10000 1440 5000 200)
#   bench/storage.sh 1000 120                            (a quick run)
#
# REF_MINUTES (240): the plain COPYs run beside the delivery path for the
# first REF_MINUTES minutes only (bench/storage.c); 0 or MINUTES: all.
#
# ALT_SQL="FILE..." runs the month queries again after loading each FILE in
# turn (a changed vm_usage_between, ALTER DATABASE ... SET jit = off, ...);
# MAINT_JIT_OFF=1 rolls the day up a second time with jit = off.  DAY (2026-10-01) is the simulated UTC day; OUT (/var/tmp/vmeter-bench/
# storage-DATE) keeps the query plans.  See bench/README.md.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
. "$top_srcdir/tests/lib.sh"
VMS=${1:-10000}
MINUTES=${2:-1440}
BATCH=${3:-5000}
TENANTS=${4:-200}
DAY=${DAY:-2026-10-01}
REF_MINUTES=${REF_MINUTES:-240}
[ "$REF_MINUTES" = 0 ] && REF_MINUTES=$MINUTES
OUT=${OUT:-/var/tmp/vmeter-bench/storage-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
bin=$top_builddir/bench/vmeter-bench-storage
# Always made: it applies the migrations it was linked with, and a stale one
# would set up an older schema than vmeter-admin's.
make -C "$top_builddir" bench/vmeter-bench-storage >/dev/null || bail "cannot build $bin"
[ -x "$ADMIN" ] || bail "no $ADMIN: build first (scripts/build.sh)"
ldd "$bin" | grep -q libasan && diag "warning: $bin is a sanitizer build; measure with a build configured without --enable-sanitizers"

started=$(date +%s)
start_postgres
write_conf "$T/vmeter.conf"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
q() { psql_q "$1"; }
# tq NAME SQL: runs SQL (its output into $OUT/NAME.out); prints the
# server-side milliseconds of its statements added up (psql's \timing).
tq() {
	psql -X -A -t -v ON_ERROR_STOP=1 "$PG_CONNINFO" -c '\timing on' -c "$2" >"$OUT/$1.out" 2>&1 ||
		{ cat "$OUT/$1.out"; bail "$1 failed"; }
	sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$OUT/$1.out" | awk '{ s += $1 } END { printf "%.1f\n", s }'
}
# secs COMMAND...: wall seconds of a command (its output into $OUT/last.out)
secs() {
	_a=$(date +%s.%N)
	"$@" >"$OUT/last.out" 2>&1 || { cat "$OUT/last.out"; bail "$* failed"; }
	_b=$(date +%s.%N)
	awk -v a="$_a" -v b="$_b" 'BEGIN { printf "%.2f\n", b - a }'
}
# ms2s MS: seconds; fails on what is not a number (a bailed tq's message)
ms2s() {
	case $1 in '' | *[!0-9.]*) echo "$1" >&2; return 1 ;; esac
	awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }'
}

D0="$DAY 00:00:00+00"
D1=$(date -u -d "$DAY + 1 day" +%F)" 00:00:00+00"
M1=$(date -u -d "$DAY + 30 days" +%F)" 00:00:00+00"
day_epoch=$(date -u -d "$DAY" +%s)
pday=$(date -u -d "$DAY" +%Y%m%d)
vmdays=$(awk -v v="$VMS" -v m="$MINUTES" 'BEGIN { printf "%.4f", v * m / 1440 }')
echo "# vmeter storage benchmark: $VMS VMs x $MINUTES minutes of $DAY, batch $BATCH, $TENANTS tenants"
echo "# build $(git -C "$top_srcdir" describe --always --dirty 2>/dev/null), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), plans in $OUT"

echo
echo "## 1. ingest"
"$bin" "$PG_CONNINFO" "$VMS" "$MINUTES" "$BATCH" "$TENANTS" "$day_epoch" "$REF_MINUTES" || bail "ingest failed"
q "ANALYZE" >/dev/null

echo
echo "## 2. bytes"
# size TABLE: rows, heap, indexes (each), total of its partitions (or itself)
size() {
	q "WITH p AS (SELECT c.oid FROM pg_class c WHERE c.oid = '$1'::regclass AND c.relkind = 'r'
	     UNION ALL SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = '$1'::regclass),
	   ix AS (SELECT CASE WHEN x.indisprimary THEN 'pkey' ELSE 'minute' END AS k, sum(pg_relation_size(x.indexrelid)) AS b
	     FROM pg_index x JOIN p ON x.indrelid = p.oid GROUP BY 1)
	 SELECT (SELECT sum(c.reltuples)::bigint FROM pg_class c JOIN p USING (oid)) || ' ' ||
	        (SELECT sum(pg_relation_size(oid)) FROM p) || ' ' ||
	        coalesce((SELECT b FROM ix WHERE k = 'pkey'), 0) || ' ' || coalesce((SELECT b FROM ix WHERE k = 'minute'), 0) || ' ' ||
	        (SELECT sum(pg_total_relation_size(oid)) FROM p)"
}
printf '%-40s %12s %14s %8s %8s %8s %8s %12s\n' table rows "total bytes" "heap/row" "pkey/row" "min/row" "B/row" "KB/VM-day"
for t in vm_usage_minute bench_part bench_flat; do
	set -- $(size $t)
	awk -v t="$t" -v r="$1" -v h="$2" -v pk="$3" -v mi="$4" -v tot="$5" -v vd="$vmdays" 'BEGIN {
		printf "%-40s %12.0f %14.0f %8.1f %8.1f %8.1f %8.1f %12.1f\n", t, r, tot, h / r, pk / r, mi / r, tot / r, tot / vd / 1000 }'
	[ $t = vm_usage_minute ] && raw_kb=$(awk -v tot="$5" -v vd="$vmdays" 'BEGIN { printf "%.1f", tot / vd / 1000 }')
done
echo "raw minutes: $raw_kb KB per VM-day including indexes (target <= 150)"
q "SELECT 'average stored row: ' || round(avg(pg_column_size(m.*))) || ' B of columns, ' ||
	(SELECT count(*) FROM pg_attribute WHERE attrelid = 'vm_usage_minute'::regclass AND attnum > 0 AND NOT attisdropped) ||
	' columns; NULLs ' || round(100.0 * avg((m.disk_rd_bytes IS NULL)::int), 1) || ' %, zero counters ' ||
	round(100.0 * avg(((m.disk_rd_bytes = 0)::int + (m.disk_wr_bytes = 0)::int + (m.net_rx_bytes = 0)::int
	  + (m.net_tx_bytes = 0)::int + (m.net_rx_errs = 0)::int + (m.net_tx_errs = 0)::int + (m.net_rx_drop = 0)::int
	  + (m.net_tx_drop = 0)::int + (m.disk_fl_reqs = 0)::int + (m.disk_rd_reqs = 0)::int + (m.disk_wr_reqs = 0)::int) / 11.0), 1)
	|| ' % of disk/net counters' FROM (SELECT * FROM vm_usage_minute TABLESAMPLE SYSTEM (1)) m"

now1=$(date -u -d "$DAY + 1 day + 10 minutes" '+%F %T')
t_maint=$(secs adm maintain --now "$now1" --no-retention) || exit 1
sed 's/^/  maintain: /' "$OUT/last.out" | grep -v retention
hours=$(q "SELECT count(DISTINCT hour) FROM vm_usage_hour")
if [ -n "${MAINT_JIT_OFF:-}" ]; then
	# The same rollups again with JIT off (every hour marked dirty again).
	q "INSERT INTO rollup_dirty SELECT DISTINCT hour, host_id FROM vm_usage_hour" >/dev/null
	t_maint2=$(PGOPTIONS="-c jit=off" secs adm maintain --now "$now1" --no-retention) || exit 1
	echo "maintain again with jit = off: $t_maint2 s ($(awk -v t="$t_maint2" -v h="$hours" 'BEGIN { printf "%.2f", t / h }') s an hour)"
fi
rsize() {
	q "SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
	    WHERE i.inhparent IN ('vm_usage_hour'::regclass, 'vm_usage_day'::regclass)"
}
rollup_rows=$(q "SELECT (SELECT count(*) FROM vm_usage_hour) || ' hourly, ' || (SELECT count(*) FROM vm_usage_day) || ' daily'")
r1=$(rsize)
q "VACUUM ANALYZE vm_usage_hour, vm_usage_day" >/dev/null
r2=$(rsize)
echo "maintain rolled up $hours hours in $t_maint s ($(awk -v t="$t_maint" -v h="$hours" 'BEGIN { printf "%.2f", t / h }') s an hour of $VMS VMs); rollup rows: $rollup_rows"
awk -v a="$r1" -v b="$r2" -v vd="$vmdays" -v raw="$raw_kb" 'BEGIN {
	printf "rollups (vm_usage_hour + vm_usage_day, with indexes): %.0f bytes, %.2f KB per VM-day; after VACUUM %.0f bytes, %.2f KB per VM-day (raw / rollups = %.0f)\n",
		a, a / vd / 1000, b, b / vd / 1000, raw / (b / vd / 1000) }'
q "SELECT '  ' || c.relname || ': ' || pg_size_pretty(pg_total_relation_size(c.oid)) || ' (heap ' ||
	pg_size_pretty(pg_relation_size(c.oid)) || ', ' || c.reltuples::bigint || ' rows, ' ||
	round(pg_relation_size(c.oid)::numeric / nullif(c.reltuples, 0)) || ' B/row heap)'
	FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	WHERE i.inhparent IN ('vm_usage_hour'::regclass, 'vm_usage_day'::regclass) AND c.reltuples > 0 ORDER BY 1"

echo
echo "## 4. queries"
TEN=$(q "SELECT o.tenant FROM vm_inventory i JOIN owner o USING (owner_id) GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
TEN_VMS=$(q "SELECT count(*) FROM vm_inventory i JOIN owner o USING (owner_id) WHERE o.tenant = '$TEN'")
MED=$(q "SELECT tenant FROM (SELECT o.tenant, row_number() OVER (ORDER BY count(*), o.tenant) r, count(*) OVER () n
	FROM vm_inventory i JOIN owner o USING (owner_id) GROUP BY 1) x WHERE r = n / 2")
MED_VMS=$(q "SELECT count(*) FROM vm_inventory i JOIN owner o USING (owner_id) WHERE o.tenant = '$MED'")
SUMS="count(DISTINCT u.vm_id) AS vms, sum(u.minutes) AS minutes, sum(u.cpu_ns) AS cpu_ns,
	sum(u.disk_rd_bytes + u.disk_wr_bytes) AS disk_bytes, sum(u.net_rx_bytes + u.net_tx_bytes) AS net_bytes,
	sum(u.rss_kib_int) AS rss_kib_int"
FSUMS="o.tenant, sum(u.minutes) AS minutes, sum(u.cpu_ns) AS cpu_ns, sum(u.disk_rd_bytes + u.disk_wr_bytes) AS disk_bytes,
	sum(u.net_rx_bytes + u.net_tx_bytes) AS net_bytes"
roll_tenant() { echo "SELECT $SUMS FROM vm_usage_between('$1', '$2', p_tenant => '$3') u"; }
roll_fleet() { echo "SELECT count(*), sum(cpu_ns) FROM (SELECT $FSUMS FROM vm_usage_between('$1', '$2') u JOIN owner o USING (owner_id) GROUP BY o.tenant) x"; }
# The same from the owners' daily rollups (owner_usage_between).
OSUMS="sum(u.minutes) AS minutes, sum(u.cpu_ns) AS cpu_ns, sum(u.disk_rd_bytes + u.disk_wr_bytes) AS disk_bytes,
	sum(u.net_rx_bytes + u.net_tx_bytes) AS net_bytes, sum(u.rss_kib_int) AS rss_kib_int"
own_tenant() { echo "SELECT $OSUMS FROM owner_usage_between('$1', '$2', p_tenant => '$3') u"; }
own_fleet() { echo "SELECT count(*), sum(cpu_ns) FROM (SELECT $FSUMS FROM owner_usage_between('$1', '$2') u JOIN owner o USING (owner_id) GROUP BY o.tenant) x"; }
# Raw minutes with the owner of each minute (the rule of vm_rollup_hour:
# the inventory state in force at the minute's middle).
RAWU="(SELECT m.*, 1 AS minutes, m.rss_kib_avg::numeric * m.coverage_ms AS rss_kib_int, coalesce(s.owner_id, 0) AS owner_id
	FROM vm_usage_minute m LEFT JOIN vm_owner_span s ON s.vm_id = m.vm_id
	 AND m.minute + interval '30 seconds' >= s.span_from AND m.minute + interval '30 seconds' < s.span_to
	WHERE m.minute >= '$D0' AND m.minute < '$D1')"
raw_tenant() { echo "SELECT $SUMS FROM $RAWU u JOIN owner o USING (owner_id) WHERE o.tenant = '$1'"; }
raw_fleet="SELECT count(*), sum(cpu_ns) FROM (SELECT $FSUMS FROM $RAWU u JOIN owner o USING (owner_id) GROUP BY o.tenant) x"
# best3 NAME SQL: the best of three runs, seconds
best3() {
	b=""
	for i in 1 2 3; do
		x=$(tq "$1" "$2")
		case $x in '' | *[!0-9.]*) echo "$x" >&2; return 1 ;; esac
		b=$(awk -v a="$x" -v b="$b" 'BEGIN { print (b == "" || a < b) ? a : b }')
	done
	ms2s "$b"
}

# Raw minutes, one day, before the rollups are made a month.
t_rt=$(ms2s "$(tq raw_tenant "$(raw_tenant "$TEN")")") || exit 1
t_rm=$(ms2s "$(tq raw_tenant_med "$(raw_tenant "$MED")")") || exit 1
t_rf=$(ms2s "$(tq raw_fleet "$raw_fleet")") || exit 1
# The same day from the rollups: the same sums?
t_dt=$(best3 day_tenant "$(roll_tenant "$D0" "$D1" "$TEN")") || exit 1
t_df=$(best3 day_fleet "$(roll_fleet "$D0" "$D1")") || exit 1
same_t=$([ "$(grep -v Time "$OUT/day_tenant.out")" = "$(grep -v Time "$OUT/raw_tenant.out")" ] && echo equal || echo DIFFERENT)
same_f=$([ "$(grep -v Time "$OUT/day_fleet.out")" = "$(grep -v Time "$OUT/raw_fleet.out")" ] && echo equal || echo DIFFERENT)
t_odf=$(best3 day_fleet_own "$(own_fleet "$D0" "$D1")") || exit 1
same_o=$([ "$(grep -v Time "$OUT/day_fleet_own.out")" = "$(grep -v Time "$OUT/raw_fleet.out")" ] && echo equal || echo DIFFERENT)

# A month of rollups: the day's hours and day copied to the next 29 days.
cols() { q "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '$1'::regclass AND attnum > 0 AND NOT attisdropped"; }
hcols=$(cols vm_usage_hour)
dcols=$(cols vm_usage_day)
ocols=$(cols owner_usage_day)
hsel=$(echo ",$hcols," | sed "s/,hour,/,hour + k * interval '1 day',/; s/^,//; s/,\$//")
dsel=$(echo ",$dcols," | sed "s/,day,/,day + k * interval '1 day',/; s/^,//; s/,\$//")
osel=$(echo ",$ocols," | sed "s/,day,/,day + k * interval '1 day',/; s/^,//; s/,\$//")
# One day after the other, as maintain would have written them (a single
# INSERT over generate_series would interleave the days row by row and
# spread each day's rows over every page of the table).
rep_sql="SELECT vm_ensure_partitions('$D0', '$M1'::timestamptz - interval '1 second');"
for k in $(seq 1 29); do
	rep_sql="$rep_sql
	INSERT INTO vm_usage_hour ($hcols) SELECT $(echo "$hsel" | sed "s/ k \*/ $k */") FROM vm_usage_hour WHERE hour >= '$D0' AND hour < '$D1' ORDER BY hour, vm_id;
	INSERT INTO vm_usage_day ($dcols) SELECT $(echo "$dsel" | sed "s/ k \*/ $k */") FROM vm_usage_day WHERE day = '$D0' ORDER BY vm_id;
	INSERT INTO owner_usage_day ($ocols) SELECT $(echo "$osel" | sed "s/ k \*/ $k */") FROM owner_usage_day WHERE day = '$D0' ORDER BY owner_id;"
done
# From a file: the statements are longer than one argument may be.
printf '%s\nUPDATE rollup_state SET closed_upto = greatest(closed_upto, '"'"'%s'"'"');\n' "$rep_sql" "$M1" >"$OUT/replicate.sql"
t_rep=$(secs psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$OUT/replicate.sql") || exit 1
q "VACUUM ANALYZE vm_usage_hour, vm_usage_day, owner_usage_day" >/dev/null || bail "vacuum failed"
echo "rollups replicated to 30 days in $t_rep s: $(q "SELECT count(*) FROM vm_usage_hour") hourly rows, $(q "SELECT count(*) FROM vm_usage_day") daily rows; rollup_dirty rows: $(q "SELECT count(*) FROM rollup_dirty"); plan: $(q "SELECT string_agg(kind || '=' || n, ' ') FROM (SELECT kind, count(*) n FROM vm_resolution_plan('$D0', '$M1') GROUP BY 1) x")"
t_mt=$(best3 month_tenant "$(roll_tenant "$D0" "$M1" "$TEN")") || exit 1
t_mm=$(best3 month_tenant_med "$(roll_tenant "$D0" "$M1" "$MED")") || exit 1
t_mf=$(best3 month_fleet "$(roll_fleet "$D0" "$M1")") || exit 1
t_omt=$(best3 month_tenant_own "$(own_tenant "$D0" "$M1" "$TEN")") || exit 1
t_omf=$(best3 month_fleet_own "$(own_fleet "$D0" "$M1")") || exit 1
for n in month_tenant month_fleet; do
	case $n in month_tenant) s=$(roll_tenant "$D0" "$M1" "$TEN") ;; *) s=$(roll_fleet "$D0" "$M1") ;; esac
	psql -X -v ON_ERROR_STOP=1 "$PG_CONNINFO" -c "EXPLAIN (ANALYZE, BUFFERS) $s" >"$OUT/$n.plan" 2>&1
done
# The raw figures are over MINUTES minutes of one day: a month is 30 x
# 1440 / MINUTES of them.
xf=$(awk -v m="$MINUTES" 'BEGIN { printf "%g", 30 * 1440 / m }')
x30() { awk -v s="$1" -v f="$xf" 'BEGIN { printf "%.1f", s * f }'; }
ratio() { awk -v a="$1" -v b="$2" -v f="$xf" 'BEGIN { printf "%.0f", a * f / b }'; }
printf '%-62s %10s\n' "query" "seconds"
printf '%-62s %10s\n' "(a) $TEN ($TEN_VMS VMs), month, rollups (vm_usage_between)" "$t_mt"
printf '%-62s %10s\n' "(a) $TEN, one day, rollups (vm_usage_between)" "$t_dt"
printf '%-62s %10s\n' "(a) $TEN, one day, raw minutes" "$t_rt"
printf '%-62s %10s\n' "(a) $TEN, month, raw minutes: EXTRAPOLATED (the above x $xf)" "$(x30 "$t_rt")"
printf '%-62s %10s\n' "(a') $MED ($MED_VMS VMs, median), month, rollups" "$t_mm"
printf '%-62s %10s\n' "(a') $MED, month, raw: EXTRAPOLATED (one day $t_rm x $xf)" "$(x30 "$t_rm")"
printf '%-62s %10s\n' "(b) fleet per-tenant totals, month, rollups" "$t_mf"
printf '%-62s %10s\n' "(a) $TEN, month, owner rollups (owner_usage_between)" "$t_omt"
printf '%-62s %10s\n' "(b) fleet per-tenant totals, month, owner rollups" "$t_omf"
printf '%-62s %10s\n' "(b) fleet per-tenant totals, one day, owner rollups" "$t_odf"
printf '%-62s %10s\n' "(b) fleet per-tenant totals, one day, rollups" "$t_df"
printf '%-62s %10s\n' "(b) fleet per-tenant totals, one day, raw minutes" "$t_rf"
printf '%-62s %10s\n' "(b) fleet, month, raw minutes: EXTRAPOLATED (the above x $xf)" "$(x30 "$t_rf")"
echo "one day from rollups against raw minutes: tenant sums $same_t, fleet sums $same_f, fleet sums from owner rollups $same_o"
echo "month from rollups: (a) $(ratio "$t_rt" "$t_mt")x, (b) $(ratio "$t_rf" "$t_mf")x faster than raw extrapolated; target < 1 s for $VMS VMs"
plan_line() { # plan_line FILE: planning and execution time, rollup rows read
	echo "$(grep -E 'Planning Time' "$1" | sed 's/^ *//'), $(grep -E 'Execution Time' "$1" | sed 's/^ *//'); minute partitions in the plan: $(grep -cE 'on vm_usage_minute_p' "$1"); day rollups read: $(awk '/on vm_usage_day_p.*actual time/ && !/never executed/ { match($0, /actual time=[^)]*/); a = substr($0, RSTART + 12, RLENGTH - 12); sub(/^[^ ]* /, "", a); d = 1; next }
		d && /->/ { exit } d && /Rows Removed by Filter/ { r = $NF } END { if (a != "") printf "%s a loop, %d more a loop read and filtered out", a, r }' "$1")"
}
for n in month_tenant month_fleet; do
	echo "  $n: $(plan_line "$OUT/$n.plan") ($OUT/$n.plan)"
done
# ALT_SQL=FILE: the month queries again after FILE (say, a changed
# vm_usage_between from a proposed patch) is loaded, same data.
for alt in ${ALT_SQL:-}; do
	psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$alt" || bail "$alt failed"
	t_mt2=$(best3 month_tenant_alt "$(roll_tenant "$D0" "$M1" "$TEN")") || exit 1
	t_mm2=$(best3 month_tenant_med_alt "$(roll_tenant "$D0" "$M1" "$MED")") || exit 1
	t_mf2=$(best3 month_fleet_alt "$(roll_fleet "$D0" "$M1")") || exit 1
	for n in month_tenant month_tenant_med month_fleet; do
		[ "$(grep -v Time "$OUT/${n}_alt.out")" = "$(grep -v Time "$OUT/$n.out")" ] || echo "  $n: DIFFERENT result with $alt"
	done
	printf '%-62s %10s %10s\n' "+ $(basename "$alt"): query" "seconds" "first"
	printf '%-62s %10s %10s\n' "(a) $TEN, month, rollups" "$t_mt2" "$t_mt"
	printf '%-62s %10s %10s\n' "(a') $MED, month, rollups" "$t_mm2" "$t_mm"
	printf '%-62s %10s %10s\n' "(b) fleet per-tenant totals, month, rollups" "$t_mf2" "$t_mf"
	for n in month_tenant month_fleet; do
		case $n in month_tenant) s=$(roll_tenant "$D0" "$M1" "$TEN") ;; *) s=$(roll_fleet "$D0" "$M1") ;; esac
		psql -X -v ON_ERROR_STOP=1 "$PG_CONNINFO" -c "EXPLAIN (ANALYZE, BUFFERS) $s" >"$OUT/${n}_alt.plan" 2>&1
		cp "$OUT/${n}_alt.plan" "$OUT/${n}_$(basename "$alt").plan"
		echo "  ${n}: $(plan_line "$OUT/${n}_alt.plan") ($OUT/${n}_$(basename "$alt").plan)"
	done
done

echo
echo "## 2b. packed minutes"
# The day packed by maintain (sql/006_packed.sql) once it is
# pack_after_days old, after its rollups and the queries above (they read
# its raw minutes).  Bytes: every partition of vm_usage_packed with its
# indexes and TOAST, plus what the emptied minute partition still takes.
PACK_AFTER=$(q "SELECT pack_after_days FROM storage_policy WHERE parent = 'vm_usage_minute'")
RAW_DAYS=$(q "SELECT keep_days FROM storage_policy WHERE parent = 'vm_usage_minute'")
nowp=$(date -u -d "$DAY + $((PACK_AFTER + 1)) days + 10 minutes" '+%F %T')
t_pack=$(secs adm maintain --now "$nowp" --no-retention) || exit 1
grep -E '^pack:' "$OUT/last.out" | sed 's/^/  /'
q "VACUUM ANALYZE vm_usage_packed" >/dev/null
# psize TABLE: rows heap indexes toast total, over its partitions
psize() {
	q "WITH p AS (SELECT c.oid, c.reltoastrelid FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	     WHERE i.inhparent = '$1'::regclass)
	 SELECT (SELECT sum(c.reltuples)::bigint FROM pg_class c JOIN p USING (oid)) || ' ' ||
	        sum(pg_relation_size(oid)) || ' ' || sum(pg_indexes_size(oid)) || ' ' ||
	        coalesce(sum(pg_total_relation_size(nullif(reltoastrelid, 0))), 0) || ' ' || sum(pg_total_relation_size(oid))
	   FROM p"
}
set -- $(psize vm_usage_packed)
left_b=$(q "SELECT coalesce(pg_total_relation_size(to_regclass('vm_usage_minute_p$pday')), 0)")
printf '%-40s %12s %12s %12s %12s %12s %12s\n' "packed form" "VM-hours" "heap" "indexes" "toast" "total bytes" "KB/VM-day"
awk -v r="$1" -v h="$2" -v ix="$3" -v tt="$4" -v tot="$5" -v left="$left_b" -v vd="$vmdays" 'BEGIN {
	printf "%-40s %12.0f %12.0f %12.0f %12.0f %12.0f %12.1f\n", "vm_usage_packed", r, h, ix, tt, tot, tot / vd / 1000
	printf "%-40s %12s %12s %12s %12s %12.0f %12.1f\n", "+ the emptied minute partition", "", "", "", "", left, left / vd / 1000 }'
packed_kb=$(awk -v tot="$5" -v left="$left_b" -v vd="$vmdays" 'BEGIN { printf "%.1f", (tot + left) / vd / 1000 }')
data_b=$(q "SELECT sum(octet_length(data)) FROM vm_usage_packed")
echo "packed data: $(awk -v d="$data_b" -v r="$(q "SELECT sum(n_minutes) FROM vm_usage_packed")" 'BEGIN { printf "%.1f B a minute row", d / r }'), $(awk -v d="$data_b" -v n="$1" 'BEGIN { printf "%.0f B a VM-hour", d / n }')"
echo "raw minutes: wide $raw_kb KB per VM-day, packed $packed_kb KB per VM-day (target <= 150); maintain packed the day in $t_pack s"
awk -v w="$raw_kb" -v p="$packed_kb" -v a="$PACK_AFTER" -v k="$RAW_DAYS" 'BEGIN {
	printf "steady state at %d days of raw retention, packed after %d days (today and %d more days wide): (%d x %.1f + %d x %.1f) / %d = %.1f KB per VM-day kept\n",
		k, a, a, a + 1, w, k - a - 1, p, k, ((a + 1) * w + (k - a - 1) * p) / k }'
# The rollups are not touched by packing: the day's answers stay.
t_pdt=$(best3 day_tenant_packed "$(roll_tenant "$D0" "$D1" "$TEN")") || exit 1
echo "the tenant's day from the rollups after packing: $([ "$(grep -v Time "$OUT/day_tenant_packed.out")" = "$(grep -v Time "$OUT/raw_tenant.out")" ] && echo "equal to the raw minutes' sums" || echo DIFFERENT) ($t_pdt s)"
# The TOAST choice (sql/006_packed.sql): the same rows under each storage.
for st in EXTERNAL EXTENDED MAIN; do
	{ q "DROP TABLE IF EXISTS bench_toast; CREATE TABLE bench_toast (LIKE vm_usage_packed INCLUDING ALL);
		ALTER TABLE bench_toast ALTER COLUMN data SET STORAGE $st;
		INSERT INTO bench_toast SELECT * FROM vm_usage_packed ORDER BY vm_id, hour" &&
		q "VACUUM ANALYZE bench_toast"; } >/dev/null 2>&1 || bail "storage $st failed"
	echo "  STORAGE $st: $(q "SELECT pg_total_relation_size('bench_toast') || ' bytes (heap ' || pg_relation_size('bench_toast')
		|| ', toast ' || coalesce(pg_total_relation_size(nullif(reltoastrelid, 0)), 0) || ', indexes ' || pg_indexes_size('bench_toast')
		|| '), ' || round(pg_total_relation_size('bench_toast') / $vmdays / 1000, 1) || ' KB per VM-day' FROM pg_class WHERE oid = 'bench_toast'::regclass")"
done
q "DROP TABLE bench_toast" >/dev/null

echo
echo "## 3. dropping a day"
nowr=$(date -u -d "$DAY + 41 days + 10 minutes" '+%F %T')
# The partitions ahead of that day made first, so that the timed run is
# retention's work.
t_pre=$(secs adm maintain --now "$nowr" --no-retention) || exit 1
t_ret=$(secs adm maintain --now "$nowr" --raw-days 40) || exit 1
dropped=$(grep -c "vm_usage_minute_p$pday dropped" "$OUT/last.out")
ndrop=$(grep -c 'dropped' "$OUT/last.out")
left=$(q "SELECT count(*) FROM pg_class WHERE relname = 'vm_usage_minute_p$pday'")
t_drop=$(ms2s "$(tq drop_part "ALTER TABLE bench_part DETACH PARTITION bench_part_p$pday; DROP TABLE bench_part_p$pday")") || exit 1
t_del=$(ms2s "$(tq delete "DELETE FROM bench_flat WHERE minute >= '$D0' AND minute < '$D1'")") || exit 1
t_vac=$(ms2s "$(tq vacuum "VACUUM bench_flat")") || exit 1
printf '%-62s %10s\n' "way" "seconds"
printf '%-62s %10s\n' "(maintain --no-retention first: partitions ahead, untimed)" "$t_pre"
printf '%-62s %10s\n' "vmeter-admin maintain --raw-days 40 (retention, whole run)" "$t_ret"
printf '%-62s %10s\n' "DETACH + DROP of bench_part's day partition" "$t_drop"
printf '%-62s %10s\n' "DELETE of the day from bench_flat" "$t_del"
printf '%-62s %10s\n' "VACUUM bench_flat" "$t_vac"
echo "retention dropped vm_usage_minute_p$pday: $([ "$dropped" = 1 ] && [ "$left" = 0 ] && echo yes || echo NO) ($ndrop partitions dropped in all); target < 2 s; DELETE + VACUUM = $(awk -v a="$t_del" -v b="$t_vac" 'BEGIN { printf "%.1f", a + b }') s"

echo
echo "## 5. RRD bytes per VM"
STEPS=10 sh "$top_srcdir/bench/rrd-size.sh" 2>&1 | grep -E 'layout|vmeter|collectd' | sed 's/^/  /'

echo
echo "# done in $(($(date +%s) - started)) s"
