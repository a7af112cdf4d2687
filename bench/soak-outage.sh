#!/bin/bash
# A long database outage at 1,000 VMs, time sped up: the collector spools
# every per-minute row while PostgreSQL is stopped for a simulated HOURS
# (24) hours, then the database comes back and the backlog drains.  Prints a
# table of the spool by simulated hour, the largest spool seen against the
# cap, the drain time and rate, and reconciles the collector's ledger of
# acknowledged rows with the database.  A benchmark, not a test: exits 0 when
# the reconciliation holds, 1 otherwise.  See bench/README.md.
#
#   bench/soak-outage.sh                          1000 VMs, 24 h, cap 1024 MiB
#   CAP_MB=64 bench/soak-outage.sh                the cap is hit after ~6 h
#   VMS=100 HOURS=2 SPEED=120 bench/soak-outage.sh  a quick run
#
# Environment:
#   VMS=1000       domains in the test-driver fleet (bench/gen-fleet.sh)
#   HOURS=24       simulated outage, hours of the collector's clock
#   SPEED=240      the collector's clock runs SPEED times real time
#                  (libfaketime); interval 1 s of real (monotonic) time, so
#                  each pass covers SPEED s and closes SPEED/60 minutes
#   CAP_MB=1024    collector.spool-max-mb
#   BATCH_ROWS=5000  database.batch-rows (the production default)
#   VMETER_BUILD   build tree (default: this tree; build it with -O2, no ASan)
#   KEEP_TMP=1     keep the run directory
#
# Time is accelerated: the collector's wall clock runs SPEED times faster
# (libfaketime), its monotonic clock does not; the test driver's counters
# follow the wall clock.  RRD output goes to stand-ins (bench/soak-common.sh).
VMS=${VMS:-1000}
HOURS=${HOURS:-24}
SPEED=${SPEED:-240}
CAP_MB=${CAP_MB:-1024}
BATCH_ROWS=${BATCH_ROWS:-5000}
case "$VMS$HOURS$SPEED$CAP_MB$BATCH_ROWS" in *[!0-9]*) echo "VMS, HOURS, SPEED, CAP_MB, BATCH_ROWS: whole numbers" >&2; exit 2 ;; esac
# shellcheck source=soak-common.sh
. "$(dirname "$0")/soak-common.sh"

t_begin=$(date +%s)
say "soak-outage: $VMS VMs, $HOURS h simulated outage at x$SPEED (libfaketime), spool cap $CAP_MB MiB; run directory $T"
soak_setup
sed -i "s/batch-rows = 500/batch-rows = $BATCH_ROWS/; s|^  reconnect-max = 2|  reconnect-max = 2\n  spool-max-mb = $CAP_MB|" \
	"$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
LEDGER=$T/ledger
log=$T/collector.log

stop_postgres immediate
say "database stopped (immediate)"
# The collector's clock starts 5 s before a UTC midnight: simulated hour h is
# hour h of that day.
day0=$(( ($(date +%s) / 86400 + 1) * 86400 ))
start_fast "$T/vmeter.conf" $((day0 - 5)) VMETER_TEST_LEDGER="$LEDGER"
wait_for 60 grep -q "connected to libvirt" "$log" || bail "collector did not start"
end_fake=$((day0 + HOURS * 3600))

seg_bytes() { find "$T/state/spool" -name '*.seg' -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
hhmm() { [ "${1:-0}" -gt 0 ] && date -u -d "@$1" '+%H:%M' || echo -; }
max_bytes=0
next_hour=$day0
{
	printf '%-6s %10s %10s %12s %14s %12s\n' "sim-h" "spool-MiB" "records" "oldest-min" "ledger-rows" "lost-rows"
} >"$T/table"
t_outage=$(date +%s)
while :; do
	b=$(seg_bytes)
	[ "$b" -gt "$max_bytes" ] && max_bytes=$b
	now=$(status_field time); now=${now:-0}
	if [ "$now" -ge "$next_hour" ]; then
		h=$(( (now - day0) / 3600 ))
		printf '%-6s %10s %10s %12s %14s %12s\n' "$h" "$(mib "$(status_field spool_bytes)")" \
			"$(status_field spool_records)" "$(hhmm "$(status_field oldest_minute)")" \
			"$(wc -l <"$LEDGER" 2>/dev/null || echo 0)" "$(status_field lost_rows)" | tee -a "$T/table" | sed 's/^/# /'
		next_hour=$(( day0 + (h + 1) * 3600 ))
	fi
	[ "$now" -ge "$end_fake" ] && break
	kill -0 "$COLLECTOR_PID" 2>/dev/null || bail "the collector died"
	sleep 1
done
t_outage=$(( $(date +%s) - t_outage ))
sim_s=$(( $(status_field time) - day0 ))
say "outage over after $t_outage s real, collector clock at +$sim_s s"
backlog_records=$(status_field spool_records)
backlog_bytes=$(status_field spool_bytes)
lost_during=$(status_field lost_rows)
ledger_during=$(wc -l <"$LEDGER")
# Did the collector keep up: one row per VM and host for every closed minute.
minutes=$(awk '$1 == "host" { n++ } END { print n + 0 }' "$LEDGER")
slow=$(grep -c "sampling took" "$log")

"$ADMIN" -c "$T/vmeter.conf" status >"$T/admin-status" 2>&1

# --- the database back: drain while the collector goes on at xSPEED
restart_postgres || bail "PostgreSQL did not restart"
t0=$(now_ms)
say "database back: draining $backlog_records records ($(mib "$backlog_bytes") MiB)"
# Drained: the oldest undelivered record is within 3 passes of the
# collector's clock (new rows keep arriving at SPEED/60 minutes a second).
# shellcheck disable=SC2317 # called by wait_for
caught_up() {
	_l=$(status_field delivery_lag_s)
	grep -q '"database": "up"' "$T/state/status.json" && [ -n "$_l" ] &&
		[ "${_l%.*}" -le $((3 * SPEED + 120)) ]
}
wait_for 3600 caught_up || bail "the backlog did not drain within an hour"
drain_ms=$(( $(now_ms) - t0 ))
delivered=$(status_field delivered_rows)
say "drained in $(awk -v m="$drain_ms" 'BEGIN { printf "%.1f", m / 1000 }') s"
stop_collector
[ "$COLLECTOR_RC" = 0 ] || say "collector exit status $COLLECTOR_RC"
left=$(status_field spool_records)

# --- reconcile
ledger_rows "$LEDGER" >"$T/ledger.rows"
db_rows >"$T/db.rows"
n_ack=$(wc -l <"$T/ledger.rows")
n_db=$(wc -l <"$T/db.rows")
missing=$(comm -23 "$T/ledger.rows" "$T/db.rows" | wc -l)
unacked=$(comm -13 "$T/ledger.rows" "$T/db.rows" | wc -l)
dups=$(psql_q "SELECT count(*) FROM (SELECT 1 FROM vm_usage_minute GROUP BY vm_id, minute, host_id HAVING count(*) > 1) d")
led_dups=$(awk '$1 != "host" { print $1, $2 }' "$LEDGER" | sort | uniq -d | wc -l)
lost_rows=$(status_field lost_rows)
loss_db=$(psql_q "SELECT count(*) FROM vm_usage_loss")
unrecorded=$(status_field losses_unrecorded)
# Every VM-minute the collector closed is either acknowledged or lost.  The
# collector ran throughout, so a VM's minutes between its first and last
# acknowledged ones that are not in the ledger are the lost ones.
awk '$1 != "host" { if (!($1 in lo) || $2 < lo[$1]) lo[$1] = $2; if ($2 > hi[$1]) hi[$1] = $2; have[$1 " " $2] = 1 }
	END { for (u in lo) for (m = lo[u]; m <= hi[u]; m += 60) if (!((u " " m) in have)) print u, m }' "$LEDGER" |
	sort >"$T/missing.rows"
n_missing=$(wc -l <"$T/missing.rows")
psql_q "COPY (SELECT v.uuid || ' ' || extract(epoch FROM l.minute)::bigint FROM vm_usage_loss l
	JOIN vm v USING (vm_id)) TO STDOUT" | sort >"$T/loss.rows"
loss_acked=$(comm -12 "$T/loss.rows" "$T/ledger.rows" | wc -l)
loss_other=$(comm -23 "$T/loss.rows" "$T/missing.rows" | wc -l)
fail=0
chk() { if [ "$1" = 0 ]; then echo "ok   - $2"; else echo "FAIL - $2"; fail=1; fi; }

echo
echo "soak-outage: $VMS VMs (libvirt test driver, synthetic counters), database stopped for a simulated $HOURS h"
echo "  time: the collector's clock ran x$SPEED (libfaketime; interval 1 s real = $SPEED s simulated per pass)"
echo "  command: VMS=$VMS HOURS=$HOURS SPEED=$SPEED CAP_MB=$CAP_MB BATCH_ROWS=$BATCH_ROWS bench/soak-outage.sh"
echo "  date: $(date -u '+%Y-%m-%d %H:%M UTC'), machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
echo
echo "spool during the outage (simulated hour, from status.json):"
cat "$T/table"
echo
echo "outage: $t_outage s real for $sim_s s simulated ($(awk -v s="$sim_s" 'BEGIN { printf "%.1f", s / 3600 }') h); closed minutes (host rows): $minutes; 'sampling took' warnings: $slow"
echo "backlog at the end of the outage: $backlog_records records, $(mib "$backlog_bytes") MiB; rows acknowledged: $ledger_during; rows lost (spool full): ${lost_during:-0}"
echo "vmeter-admin status at the end of the outage:"
sed 's/^/  /' "$T/admin-status"
echo "largest spool seen (segment bytes on disk, 1 s polls): $(mib "$max_bytes") MiB; cap $CAP_MB MiB; cap + one 16 MiB segment: $((CAP_MB + 16)) MiB"
echo "drain: $(awk -v m="$drain_ms" 'BEGIN { printf "%.1f", m / 1000 }') s from the database's restart until the delivery lag was within 3 passes of the clock"
echo "       $delivered rows delivered by then: $(awk -v d="$delivered" -v m="$drain_ms" 'BEGIN { printf "%.0f", d * 1000 / m }') rows/s (new rows kept arriving at $((SPEED * (VMS + 1) / 60)) rows/s)"
echo "after a clean stop: $left records left in the spool"
echo "rows: acknowledged (ledger) $n_ack VM rows, stored $n_db, lost $missing, stored twice $dups, stored without a ledger line $unacked, acknowledged twice $led_dups"
echo "loss: collector counted $lost_rows rows lost (VM and host rows), vm_usage_loss holds $loss_db VM-minutes, not recorded (over the collector's memory limit): ${unrecorded:-0}"
echo "VM-minutes not acknowledged between each VM's first and last acknowledged minute: $n_missing; in vm_usage_loss: $loss_db, of which acknowledged $loss_acked, not among those $loss_other"
echo "wall time: $(( $(date +%s) - t_begin )) s"
echo
chk "$missing" "every acknowledged row is in the database"
chk "$dups" "no row stored twice"
chk "$unacked" "no row stored without a ledger line"
chk "$([ "${left:-1}" = 0 ]; echo $?)" "the spool is empty after the clean stop"
chk "$([ "$max_bytes" -le $(( (CAP_MB + 16) * 1048576 )) ]; echo $?)" "the spool never exceeded the cap by more than one segment"
if [ "${lost_rows:-0}" = 0 ]; then
	chk "$loss_db" "nothing lost, nothing recorded as lost"
	chk "$n_missing" "no VM-minute missing"
else
	chk "$loss_acked" "no VM-minute both recorded as lost and acknowledged"
	chk "$loss_other" "every VM-minute recorded as lost is one not acknowledged"
	# Losses are remembered as runs (MAX_LOSSES runs, collector/writer.c):
	# an outage of this kind is far below the limit.
	chk "$([ "$loss_db" = "$n_missing" ]; echo $?)" "vm_usage_loss holds exactly the VM-minutes not acknowledged ($n_missing)"
fi
exit $fail
