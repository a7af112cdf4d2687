#!/bin/bash
# Durable delivery under repeated crashes: the collector is killed with
# SIGKILL at a random point KILLS (1000) times and restarted at once, and
# PG_STOPS (200) times in between PostgreSQL is stopped with
# `pg_ctl stop -m immediate` for a random moment and started again.  The
# collector's clock runs SPEED times faster (libfaketime) so that minutes
# close every real second; the database is slowed a little per row so that
# kills land in the middle of delivery transactions.  At the end: drain, a
# clean stop, and the ledger of acknowledged rows (VMETER_TEST_LEDGER) is
# reconciled with the database.  Prints the figures; exits 0 when the
# reconciliation holds, 1 otherwise.  See bench/README.md.
#
#   bench/soak-kill.sh                        1000 kills, 200 immediate stops
#   KILLS=50 PG_STOPS=10 bench/soak-kill.sh   a quick run
#
# Environment:
#   KILLS=1000      SIGKILL cycles
#   PG_STOPS=200    immediate database stops, one every KILLS/PG_STOPS cycles
#   VMS=60          domains in the test-driver fleet (bench/gen-fleet.sh)
#   SPEED=60        the collector's clock runs SPEED times real time; the
#                   interval is 1 s of real (monotonic) time
#   SLOW_ROW=0.005  seconds the database spends on every usage row (a
#                   trigger), so that delivery is busy when a kill comes
#   BATCH_ROWS=50   database.batch-rows
#   VMETER_BUILD    build tree (default: this tree; build it with -O2, no ASan)
#   KEEP_TMP=1      keep the run directory
#
# Time is accelerated (libfaketime) and the counters are the test driver's
# synthetic ones: only the identity of rows (VM, minute, host) is reconciled.
# RRD output goes to stand-ins (bench/soak-common.sh).
KILLS=${KILLS:-1000}
PG_STOPS=${PG_STOPS:-200}
VMS=${VMS:-60}
SPEED=${SPEED:-60}
SLOW_ROW=${SLOW_ROW:-0.005}
BATCH_ROWS=${BATCH_ROWS:-50}
case "$KILLS$PG_STOPS$VMS$SPEED$BATCH_ROWS" in *[!0-9]*) echo "KILLS, PG_STOPS, VMS, SPEED, BATCH_ROWS: whole numbers" >&2; exit 2 ;; esac
if [ "$KILLS" -lt 1 ] || [ "$PG_STOPS" -gt "$KILLS" ]; then echo "need 1 <= KILLS and PG_STOPS <= KILLS" >&2; exit 2; fi
# shellcheck source=soak-common.sh
. "$(dirname "$0")/soak-common.sh"

t_begin=$(date +%s)
say "soak-kill: $KILLS kills, $PG_STOPS immediate database stops, $VMS VMs, clock x$SPEED (libfaketime); run directory $T"
soak_setup
sed -i "s/batch-rows = 500/batch-rows = $BATCH_ROWS/" "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
[ "$SLOW_ROW" = 0 ] || pg_slow_rows "$SLOW_ROW"
LEDGER=$T/ledger
log=$T/collector.log

# A backend whose client died in a transaction says so in the server log.
pg_cut() { grep -c "unexpected EOF on client connection with an open transaction\|connection to client lost" "$T/pg.log"; }
rnd_s() { awk -v lo="$1" -v hi="$2" -v r="$RANDOM" 'BEGIN { printf "%.2f", lo + (hi - lo) * r / 32767 }'; }

day0=$(( ($(date +%s) / 86400 + 1) * 86400 ))
start_fast "$T/vmeter.conf" $((day0 - 5)) VMETER_TEST_LEDGER="$LEDGER"
wait_for 30 grep -q "connected to libvirt" "$log" || bail "collector did not start"
every=$(( PG_STOPS > 0 ? KILLS / PG_STOPS : KILLS + 1 ))
stops=0
pg_down_ms=0
t_loop=$(date +%s)
for i in $(seq "$KILLS"); do
	if [ $((i % every)) = 0 ] && [ "$stops" -lt "$PG_STOPS" ]; then
		sleep "$(rnd_s 0.1 0.8)"
		_d0=$(now_ms)
		stop_postgres immediate || bail "pg_ctl stop failed at cycle $i"
		sleep "$(rnd_s 0.1 1.0)"
		restart_postgres || bail "PostgreSQL did not restart at cycle $i"
		pg_down_ms=$(( pg_down_ms + $(now_ms) - _d0 ))
		stops=$((stops + 1))
	fi
	sleep "$(rnd_s 0.2 1.6)"
	kill -0 "$COLLECTOR_PID" 2>/dev/null || bail "the collector died by itself before kill $i (see $log)"
	kill -9 "$COLLECTOR_PID"
	wait "$COLLECTOR_PID" 2>/dev/null
	touch "$T/started"
	start_fast "$T/vmeter.conf" "" VMETER_TEST_LEDGER="$LEDGER"
	if [ $((i % 50)) = 0 ]; then
		say "cycle $i/$KILLS, $stops stops: $(wc -l <"$LEDGER") rows acknowledged, spool $(status_field spool_records) records"
	fi
done
t_loop=$(( $(date +%s) - t_loop ))

say "cycles done; draining"
t0=$(now_ms)
# The status file the last collector wrote, not the one its killed
# predecessor left.
wait_for 30 test "$T/state/status.json" -nt "$T/started" || bail "the last collector wrote no status"
wait_for 600 spool_drained || bail "the spool did not drain within 10 minutes"
drain_ms=$(( $(now_ms) - t0 ))
stop_collector
rc=$COLLECTOR_RC
left=$(status_field spool_records)

# --- figures from the logs
mid_tx=$(pg_cut)
pending=$(grep -c "records from before wait for delivery" "$log")
torn=$(grep -c "cut a torn record" "$log")
damaged=$(grep -c "damaged bytes skipped" "$log")
quarantined=$(grep -ci "quarantin\|\.bad'" "$log")
outages=$(grep -c "database unreachable\|database refused" "$log")
sanit=$(grep -ci "sanitizer\|runtime error" "$log")

# --- reconcile
ledger_rows "$LEDGER" >"$T/ledger.rows"
db_rows >"$T/db.rows"
n_ack=$(wc -l <"$T/ledger.rows")
n_db=$(wc -l <"$T/db.rows")
missing=$(comm -23 "$T/ledger.rows" "$T/db.rows" | wc -l)
comm -13 "$T/ledger.rows" "$T/db.rows" >"$T/unacked.rows"
unacked=$(wc -l <"$T/unacked.rows")
dups=$(psql_q "SELECT count(*) FROM (SELECT 1 FROM vm_usage_minute GROUP BY vm_id, minute, host_id HAVING count(*) > 1) d")
led_dups=$(awk '$1 != "host" { print $1, $2 }' "$LEDGER" | sort | uniq -d | wc -l)
awk '$1 == "host" { print $2 }' "$LEDGER" | sort -u >"$T/ledger.host"
psql_q "COPY (SELECT extract(epoch FROM minute)::bigint FROM host_usage_minute) TO STDOUT" | sort >"$T/db.host"
host_missing=$(comm -23 "$T/ledger.host" "$T/db.host" | wc -l)
host_dups=$(psql_q "SELECT count(*) FROM (SELECT 1 FROM host_usage_minute GROUP BY minute, host_id HAVING count(*) > 1) d")
loss_db=$(psql_q "SELECT count(*) FROM vm_usage_loss")
lost_rows=$(status_field lost_rows)
over=$(psql_q "SELECT count(*) FROM vm_usage_minute WHERE coverage_ms > 60000 OR coverage_ms < 0")
minutes=$(psql_q "SELECT count(DISTINCT minute) FROM vm_usage_minute")
wall=$(( $(date +%s) - t_begin ))
fail=0
chk() { if [ "$1" = 0 ]; then echo "ok   - $2"; else echo "FAIL - $2"; fail=1; fi; }

echo
echo "soak-kill: $KILLS SIGKILL cycles, $stops immediate PostgreSQL stops, $VMS VMs (libvirt test driver, synthetic counters)"
echo "  time: the collector's clock ran x$SPEED (libfaketime), interval 1 s real; the database spent $SLOW_ROW s on every row, batch-rows $BATCH_ROWS"
echo "  command: KILLS=$KILLS PG_STOPS=$PG_STOPS VMS=$VMS SPEED=$SPEED SLOW_ROW=$SLOW_ROW BATCH_ROWS=$BATCH_ROWS bench/soak-kill.sh"
echo "  date: $(date -u '+%Y-%m-%d %H:%M UTC'), machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
echo
echo "wall time: $wall s ($t_loop s of cycles, $(awk -v t="$t_loop" -v k="$KILLS" 'BEGIN { printf "%.2f", t / k }') s a cycle; database down $((pg_down_ms / 1000)) s in all); drain after the last kill: $(awk -v m="$drain_ms" 'BEGIN { printf "%.1f", m / 1000 }') s"
echo "rows: acknowledged (ledger) $n_ack VM rows over $minutes minutes, stored $n_db; lost $missing; stored twice $dups; stored without a ledger line $unacked (see below); minutes acknowledged twice $led_dups"
echo "host rows: lost $host_missing, stored twice $host_dups"
echo "loss: counted by the last collector $lost_rows, in vm_usage_loss $loss_db"
echo "kills that landed inside a delivery transaction (server log: client gone with a transaction open): $mid_tx of $KILLS"
echo "starts that found undelivered records in the spool: $pending of $((KILLS + 1))"
echo "spool repairs logged: torn tails cut $torn, damaged regions skipped $damaged, segments quarantined $quarantined"
echo "outage lines logged (one per outage per collector run): $outages; sanitizer reports: $sanit"
echo "clean stop: exit $rc, $left records left in the spool"
echo
chk "$missing" "every acknowledged row is in the database"
chk "$dups" "no row stored twice (vm_id, minute, host_id)"
chk "$host_missing" "every acknowledged host row is in the database"
chk "$host_dups" "no host row stored twice"
chk "$loss_db" "no loss recorded (the spool cap was not hit)"
chk "$over" "no minute over 60 s of coverage"
chk "$([ "$rc" = 0 ] && [ "${left:-1}" = 0 ]; echo $?)" "clean exit with an empty spool"
# A row can be stored without a ledger line when a kill came after the
# spool write of a pass and before the ledger lines of that pass were
# written (writer.c writes the ledger after the commit, in one fflush): then
# the ledger has no line at all for that pass's minute, host row included.
# Any other such row is a row nobody acknowledged.
if [ "$unacked" != 0 ]; then
	echo "# rows stored without a ledger line:"; head -3 "$T/unacked.rows" | sed 's/^/#   /'
fi
awk '{ print $2 }' "$T/unacked.rows" | sort -u >"$T/unacked.minutes"
cut_passes=$(wc -l <"$T/unacked.minutes")
awk '{ print $2 }' "$LEDGER" | sort -u | comm -12 - "$T/unacked.minutes" >"$T/unacked.explained.not"
chk "$(wc -l <"$T/unacked.explained.not")" \
	"rows stored without a ledger line ($unacked) are whole passes whose ledger lines a kill cut off ($cut_passes passes)"
chk "$([ "$cut_passes" -le "$KILLS" ]; echo $?)" "at most one such pass per kill"
exit $fail
