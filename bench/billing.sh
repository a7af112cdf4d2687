#!/bin/bash
# Rating a month (issue 12), figures side by side in one run on a private
# cluster; a benchmark, not a test (exits 0 whatever the figures, non-zero
# only if something broke):
#   VMS VMs x DAYS days of per-minute usage rows (43.2 million VM-minutes
#   at the default 1000 x 30) on 10 hosts, 20 tenants in 4 time zones, a
#   resize and an owner change mid-month for some VMs; rolled up by
#   `vmeter-admin maintain` (timed: the rollups serve every reader, rating
#   is one of them); then
#   1. `vmeter-bill rate` of the month (every zone's local days) against a
#      plain PostgreSQL GROUP BY summing the same rows per VM and day, run
#      twice each, the best of each kept; VM-minutes per second;
#      and the 20 tenants' draft invoices of the month built from the rated
#      quantities (`vmeter-bill invoice draft`), timed;
#   2. the month rated at once equals the sum of its days (re-rated day by
#      day, the quantities compared), and the rated use meters equal the
#      GROUP BY's sums.
#
#   bench/billing.sh [VMS [DAYS]]      (default 1000 30; 200 3 is a quick run)
#
# Build without sanitizers (scripts/build.sh).  OUT (/var/tmp/vmeter-bench/
# billing-DATE) keeps the outputs.  See bench/README.md.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/bench/fleet-pg.sh"
VMS=${1:-1000}
DAYS=${2:-30}
OUT=${OUT:-/var/tmp/vmeter-bench/billing-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
BILL=$top_builddir/billing/vmeter-bill
[ -x "$BILL" ] && [ -x "$ADMIN" ] || bail "build first (scripts/build.sh)"
ldd "$BILL" | grep -q libasan && diag "warning: a sanitizer build; measure with one configured without --enable-sanitizers"
M0="2026-10-01 00:00:00+00"
M1=$(date -u -d "2026-10-01 + $DAYS days" +%F)" 00:00:00+00"

echo "# vmeter billing benchmark: $VMS VMs x $DAYS days ($((VMS * DAYS * 1440)) VM-minutes)"
echo "# build $(git -C "$top_srcdir" rev-parse --short HEAD 2>/dev/null), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), outputs in $OUT"
start_postgres
write_conf "$T/vmeter.conf"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }
bill() { "$BILL" -c "$T/vmeter.conf" "$@"; }
q() { psql_q "$1"; }
secs() {
	_a=$(date +%s.%N)
	"$@" >"$OUT/last.out" 2>&1 || { cat "$OUT/last.out"; bail "$* failed"; }
	_b=$(date +%s.%N)
	awk -v a="$_a" -v b="$_b" 'BEGIN { printf "%.2f\n", b - a }'
}
adm migrate >/dev/null || bail "migrate failed"

zones=(UTC Europe/Berlin America/New_York Asia/Kolkata)
{
	cat <<'EOF'
plan std {
  currency = EUR
  version "v1" {
    from = 2026-01-01
    minimum = 5
    charge vcpu { price = 0.01 per = vcpu-hour }
    charge ram { price = 0.002 per = GiB-hour }
    charge disk { price = 0.1 per = GiB-day }
    charge vm { price = 0.001 per = vm-hour time = defined }
    charge cpu { price = 0.05 per = core-hour }
    charge disk.read.bytes { price = 0.01 per = GiB }
    charge disk.write.bytes { price = 0.01 per = GiB }
    charge disk.read.ops { model = package price = 0.4 per = "1000000 op" }
    charge disk.write.ops { model = package price = 0.4 per = "1000000 op" }
    charge net.rx { price = 0.01 per = GiB }
    charge net.tx { model = graduated per = GiB
      tier { up-to = 100 price = 0 }
      tier { price = 0.05 }
    }
  }
}
EOF
	for t in $(seq 0 19); do
		printf 'tenant t%02d { currency = EUR time-zone = %s assign std { from = 2026-01-01 } }\n' "$t" "${zones[$((t % 4))]}"
	done
} >"$T/plans.conf"
bill plans load "$T/plans.conf" >/dev/null || bail "plans load failed"

# The fleet (bench/fleet-pg.sh): VM v on host v % 10, tenant v % 20,
# project v % 7; every 10th VM resized on day 10 at 12:00:30, every 13th
# moved to the next tenant on day 20 at 08:00.  Rows: every minute,
# counters from a cheap hash.
gen_start=$(date +%s)
fleet_pg_vms "$M0" "$VMS" "$DAYS"
fleet_pg_minutes "$M0" "$DAYS" "$VMS"
echo "rows: $(q "SELECT count(*) FROM vm_usage_minute") generated in $(($(date +%s) - gen_start)) s"
t_maint=$(secs adm maintain --now "$(date -u -d "${M1% *} 00:05" '+%F %T')" --no-retention --no-pack) || exit 1
echo "maintain rolled up the month in $t_maint s ($(grep -o 'hours rolled up: [0-9]*' "$OUT/last.out"))"

ref_sql="SELECT vm_id, date_trunc('day', minute, 'UTC') AS day, count(*), sum(cpu_ns), sum(disk_rd_bytes), sum(disk_wr_bytes),
       sum(disk_rd_reqs), sum(disk_wr_reqs), sum(net_rx_bytes), sum(net_tx_bytes)
  FROM vm_usage_minute WHERE minute >= '$M0' AND minute < '$M1' GROUP BY 1, 2"
groupby() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_CONNINFO" -c "$ref_sql" >"$OUT/groupby.out"; }
rate_month() {
	psql_q "TRUNCATE bill_rated, bill_coverage, bill_day, bill_dirty" >/dev/null
	bill rate
}
t_g1=$(secs groupby) || exit 1
t_r1=$(secs rate_month) || exit 1
cp "$OUT/last.out" "$OUT/rate.out"
t_g2=$(secs groupby) || exit 1
t_r2=$(secs rate_month) || exit 1
t_g=$(awk -v a="$t_g1" -v b="$t_g2" 'BEGIN { print (a < b) ? a : b }')
t_r=$(awk -v a="$t_r1" -v b="$t_r2" 'BEGIN { print (a < b) ? a : b }')
vmmin=$((VMS * DAYS * 1440))

echo
echo "## 1. rating the month"
printf '%-60s %10s %14s\n' "way" seconds "VM-minutes/s"
printf '%-60s %10s %14s\n' "plain GROUP BY of the minute rows per VM and day (best of 2)" "$t_g" "$(awk -v n=$vmmin -v s="$t_g" 'BEGIN { printf "%.0f", n / s }')"
printf '%-60s %10s %14s\n' "vmeter-bill rate, the month, every zone (best of 2)" "$t_r" "$(awk -v n=$vmmin -v s="$t_r" 'BEGIN { printf "%.0f", n / s }')"
printf '%-60s %10s\n' "vmeter-admin maintain, the month's rollups (once; every reader's)" "$t_maint"
echo "rate: $(cat "$OUT/rate.out")"
draft_all() {
	for t in $(seq -f 't%02g' 0 19); do
		bill invoice draft --tenant "$t" --period 2026-10 || return 1
	done
}
t_inv=$(secs draft_all) || exit 1
printf '%-60s %10s\n' "vmeter-bill invoice draft, the 20 tenants' month" "$t_inv"
echo "invoices: $(q "SELECT count(*) || ' drafts, ' || sum(l.n) || ' lines, total ' || sum(total) / 1000000000 || ' EUR'
                   FROM bill_invoice i JOIN (SELECT invoice_id, count(*) AS n FROM bill_line GROUP BY 1) l USING (invoice_id)")"
echo "ratio (rate + invoices) / GROUP BY: $(awk -v a="$t_r" -v i="$t_inv" -v b="$t_g" 'BEGIN { printf "%.2f", (a + i) / b }') (target <= 2)"
echo "ratio rate / GROUP BY: $(awk -v a="$t_r" -v b="$t_g" 'BEGIN { printf "%.2f", a / b }') (target <= 2); with the rollups: $(awk -v a="$t_r" -v m="$t_maint" -v b="$t_g" 'BEGIN { printf "%.2f", (a + m) / b }')"

echo
echo "## 2. checks"
# The use meters rated equal the plain sums (per VM over the month).
n=$(q "WITH r AS (SELECT vm_id, meter, sum(qty) AS q FROM bill_rated WHERE meter IN ('cpu', 'net.rx', 'disk.read.bytes') GROUP BY 1, 2),
       g AS (SELECT vm_id, sum(cpu_ns) AS cpu, sum(net_rx_bytes) AS rx, sum(disk_rd_bytes) AS rd FROM vm_usage_minute
              WHERE minute >= '$M0' AND minute < '$M1' GROUP BY 1)
       SELECT count(*) FROM g LEFT JOIN r c ON c.vm_id = g.vm_id AND c.meter = 'cpu'
         LEFT JOIN r x ON x.vm_id = g.vm_id AND x.meter = 'net.rx' LEFT JOIN r d ON d.vm_id = g.vm_id AND d.meter = 'disk.read.bytes'
        WHERE c.q IS DISTINCT FROM g.cpu OR x.q IS DISTINCT FROM g.rx OR d.q IS DISTINCT FROM g.rd")
echo "VMs whose rated cpu, net.rx or disk.read.bytes differ from the plain sums over the month: $n (want 0)"
# The month at once equals the sum of its days: rate each UTC day alone.
q "CREATE TABLE month_at_once AS SELECT tenant, vm_id, project, version_id, charge, sum(qty) AS q FROM bill_rated GROUP BY 1, 2, 3, 4, 5" >/dev/null
q "TRUNCATE bill_rated, bill_coverage, bill_day" >/dev/null
for d in $(seq 0 $((DAYS + 1))); do
	day=$(date -u -d "2026-10-01 + $d days - 1 day" +%F)
	bill rate --from "$day" --to "$day" --reason "benchmark: day by day" >/dev/null 2>&1 || bail "rate of $day"
done
n=$(q "WITH d AS (SELECT tenant, vm_id, project, version_id, charge, sum(qty) AS q FROM bill_rated GROUP BY 1, 2, 3, 4, 5)
       SELECT count(*) FROM (SELECT * FROM d EXCEPT SELECT * FROM month_at_once UNION ALL
                             SELECT * FROM month_at_once EXCEPT SELECT * FROM d) x")
echo "quantities differing between the month rated at once and day by day: $n (want 0)"
echo "# done in $SECONDS s"
