#!/bin/sh
# Installs what is needed, builds vmeter and runs it on an embedded default:
# a private PostgreSQL cluster, a local rrdcached and libvirt's test driver
# with a small fleet (tests/data/fleet.xml), all under ./run/.  Waits for the
# first closed minute and shows what was measured; starts the web UI
# (vmeter-web) beside the collector and prints its address and a one-time
# admin login.  Runs vmeter-aggregator with a sample rule (run/rules.d) that
# fires on the demo fleet in recommend mode, with /metrics on loopback.
#   scripts/demo.sh        start (needs root for apt-get on a new machine)
#   scripts/demo.sh stop   stop what it started
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
RUN=$top/run
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

stop() {
	[ -f "$RUN/web.pid" ] && kill "$(cat "$RUN/web.pid")" 2>/dev/null
	[ -f "$RUN/aggregator.pid" ] && kill "$(cat "$RUN/aggregator.pid")" 2>/dev/null
	[ -f "$RUN/maintain.pid" ] && kill "$(cat "$RUN/maintain.pid")" 2>/dev/null
	[ -f "$RUN/collector.pid" ] && kill "$(cat "$RUN/collector.pid")" 2>/dev/null && sleep 2
	[ -f "$RUN/rrdcached.pid" ] && kill "$(cat "$RUN/rrdcached.pid")" 2>/dev/null
	pgdir=$(readlink -f "$RUN/pg" 2>/dev/null || echo "$RUN/pg")
	[ -f "$pgdir/postmaster.pid" ] && (cd / && as_pg "$PG_BINDIR/pg_ctl" -D "$pgdir" -m fast -w stop) >/dev/null
	rm -f "$RUN/collector.pid" "$RUN/rrdcached.pid" "$RUN/maintain.pid" "$RUN/web.pid" "$RUN/aggregator.pid"
	echo "demo stopped"
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi

[ "$(id -u)" = 0 ] && sh scripts/install-deps.sh
# The capture worker's own user, as `make install` makes it.
[ "$(id -u)" = 0 ] && sh scripts/create-sysuser.sh
sh scripts/build.sh
stop >/dev/null 2>&1 || true
mkdir -p "$RUN/rrd" "$RUN/state" "$RUN/sock" "$RUN/rules.d"
chmod 755 "$RUN"

# PostgreSQL: a private cluster listening only on a Unix socket.  As root
# it runs as 'postgres', which cannot enter a tree under a private home
# (/root is mode 700): then the cluster lives in /var/tmp, linked from run/.
PGDIR=$RUN/pg
PGSOCK=$RUN/sock
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$RUN"; then
	ext=/var/tmp/vmeter-demo-$(echo "$top" | cksum | cut -d' ' -f1)
	mkdir -p "$ext/pg" "$ext/sock" && chmod 755 "$ext"
	ln -sfn "$ext/pg" "$RUN/pg"
	PGDIR=$ext/pg
	PGSOCK=$ext/sock
	echo "demo: $RUN is not reachable by the postgres user: the cluster is in $ext (linked as run/pg)"
fi
if [ ! -f "$PGDIR/PG_VERSION" ]; then
	mkdir -p "$PGDIR" && chmod 700 "$PGDIR"
	[ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
	(cd / && as_pg "$PG_BINDIR/initdb" -D "$PGDIR" -U vmeter --auth=trust -E UTF8 --locale=C.UTF-8) >"$RUN/initdb.log"
fi
[ "$(id -u)" = 0 ] && chown postgres "$PGSOCK"
(cd / && as_pg "$PG_BINDIR/pg_ctl" -D "$PGDIR" -l "$PGDIR/postgres.log" -w -o "-k $PGSOCK -c listen_addresses=''" start) >/dev/null
psql -X -q "host=$PGSOCK dbname=postgres user=vmeter" -tAc "SELECT 1 FROM pg_database WHERE datname = 'vmeter'" |
	grep -q 1 || psql -X -q "host=$PGSOCK dbname=postgres user=vmeter" -c "CREATE DATABASE vmeter"

# rrdcached on a Unix socket only (it has no authentication).
rrdcached -l "unix:$RUN/sock/rrdcached.sock" -b "$RUN/rrd" -B -j "$RUN/state" -F -w 300 -z 30 \
	-p "$RUN/rrdcached.pid" >"$RUN/rrdcached.log" 2>&1

# The web UI on loopback: 8080, or the next free port (VMETER_DEMO_WEB_PORT).
WEB_PORT=${VMETER_DEMO_WEB_PORT:-8080}
while ss -ltnH "sport = :$WEB_PORT" 2>/dev/null | grep -q .; do WEB_PORT=$((WEB_PORT + 1)); done
# The aggregator's /metrics: 9464 (Prometheus's usual exporter port) or the
# next free one (VMETER_DEMO_METRICS_PORT).
METRICS_PORT=${VMETER_DEMO_METRICS_PORT:-9464}
while ss -ltnH "sport = :$METRICS_PORT" 2>/dev/null | grep -q .; do METRICS_PORT=$((METRICS_PORT + 1)); done

cat >"$RUN/vmeter.conf" <<EOC
# written by scripts/demo.sh
log-level = info
collector {
  libvirt-uri = "test://$top/tests/data/fleet.xml"
  host-name = "demo-hv1"
  interval = 5
  inventory-refresh = 60
  state-dir = "$RUN/state"
  rrd-dir = "$RUN/rrd"
  rrdcached = "unix:$RUN/sock/rrdcached.sock"
}
database {
  conninfo = "host=$PGSOCK dbname=vmeter user=vmeter"
}
web {
  listen = "127.0.0.1:$WEB_PORT"
}
aggregator {
  rules = "$RUN/rules.d/*.conf"
  rules-interval = 10
  rules-lag = "1m"
  metrics-listen = "127.0.0.1:$METRICS_PORT"
}
owner "build-*" {
  tenant = "ci"
  project = "builds"
}
EOC
# A sample price plan for the demo fleet's tenants (docs/BILLING.md).
cat >"$RUN/plans.conf" <<'EOP'
# written by scripts/demo.sh
plan standard {
  currency = EUR
  version "2026" {
    from = 2026-01-01
    charge vcpu { price = 0.012 per = vcpu-hour }
    charge ram { price = 0.004 per = GiB-hour }
    charge disk { price = 0.10 per = GiB-day }
    charge cpu { price = 0.02 per = core-hour }
    charge net.tx { model = graduated per = GiB
      tier { up-to = 100 price = 0 }
      tier { price = 0.05 }
    }
  }
}
# The demo host's power model (the test driver has no RAPL) and grid:
# statements carry each VM's kWh and g CO2e (docs/BILLING.md).
host-class demo { hosts = "*" idle-power = "120 W" max-power = "350 W" grid = eu }
grid eu { intensity = "250 g/kWh" }
tenant acme { currency = EUR time-zone = Europe/Berlin assign standard { from = 2026-01-01 } }
tenant globex { currency = EUR time-zone = America/New_York assign standard { from = 2026-01-01 } }
tenant ci { currency = EUR time-zone = UTC showback = true assign standard { from = 2026-01-01 } }
EOP
# A sample rule (docs/POLICIES.md) that fires on the demo fleet: the test
# driver's running domains each use one core's worth of CPU, which is
# 100 % of build-7's one vCPU (web1: 50 % of 2, db1: 25 % of 4).  Recommend
# mode: the decision (add vCPUs) is recorded, nothing is done to the VM.
cat >"$RUN/rules.d/demo.conf" <<'EOR'
# written by scripts/demo.sh
rule "vm-cpu-busy" {
  condition = "avg(vm.cpu.alloc_pct, 2m) > 90"
  for = 1m
  recover = "avg(vm.cpu.alloc_pct, 2m) < 70"
  severity = warning
  labels { team = demo  kind = capacity }
  automation = recommend
  on-firing { virt { op = set-vcpus  amount = 4 } }
}
EOR
admin="$top/admin/vmeter-admin -c $RUN/vmeter.conf"
bill="$top/billing/vmeter-bill -c $RUN/vmeter.conf"
report="$top/reports/vmeter-report -c $RUN/vmeter.conf"
$admin migrate
$bill plans load "$RUN/plans.conf"
nohup "$top/collector/vmeter-collector" -c "$RUN/vmeter.conf" >"$RUN/collector.log" 2>&1 &
echo $! >"$RUN/collector.pid"
nohup "$top/aggregator/vmeter-aggregator" -c "$RUN/vmeter.conf" >"$RUN/aggregator.log" 2>&1 &
echo $! >"$RUN/aggregator.pid"
# Rollups, partitions ahead and retention, then rating, every 5 minutes:
# what cron or a systemd timer does on a real installation (vmeter-admin(8),
# maintain; vmeter-bill(1), rate).
cat >"$RUN/cycle.sh" <<EOC
# written by scripts/demo.sh: roll up, rate, and rebuild this month's draft
# invoices as HTML and acme's chargeback report of the draft in each format
# (empty until the first hour closes); keep the finalised months' reports
$admin maintain
$bill rate
for t in acme globex; do
	id=\$($bill invoice draft --tenant \$t --period \$(date -u +%Y-%m) | awk 'NR == 1 { print \$2 }')
	[ -n "\$id" ] && $bill invoice export "\$id" --format html -o "$RUN/invoice-\$t.html"
done
for f in html csv json pdf; do
	$report chargeback --tenant acme --month \$(TZ=Europe/Berlin date +%Y-%m) --draft --format \$f -o "$RUN/chargeback-acme.\$f"
done
$report due --dir "$RUN/reports"
# the capacity report of the last 24 hours the rollups closed, in each
# format: there is one once the demo's first hour has closed (before,
# vmeter-report says why not, here in the log)
for f in html csv json pdf; do
	$report capacity --last 24h --format \$f -o "$RUN/capacity.\$f" || { echo "no capacity report yet"; break; }
done
EOC
nohup sh -c "while :; do sh '$RUN/cycle.sh'; sleep 300; done" >"$RUN/maintain.log" 2>&1 &
echo $! >"$RUN/maintain.pid"
echo "collector started (pid $(cat "$RUN/collector.pid")); waiting for the first closed minute..."
i=0
while [ $i -lt 75 ]; do
	n=$(psql -X -qtA "host=$PGSOCK dbname=vmeter user=vmeter" -c "SELECT count(*) FROM vm_usage_minute" 2>/dev/null || echo 0)
	[ "$n" -gt 0 ] && break
	sleep 2
	i=$((i + 2))
done
$admin usage --from now-5m
$admin vms
$admin graph --vm web1 --from now-10m --out "$RUN/web1.png"
sh "$RUN/cycle.sh" >>"$RUN/maintain.log" 2>&1
$bill invoice list

# The web UI, with a new admin and a password made for it, shown once (an
# earlier demo's admin, its sessions and tokens go first).
web="$top/web/vmeter-web -c $RUN/vmeter.conf"
psql -X -q "host=$PGSOCK dbname=vmeter user=vmeter" -c "DELETE FROM web_session WHERE user_id IN
  (SELECT user_id FROM web_user WHERE name = 'admin'); DELETE FROM web_token WHERE user_id IN
  (SELECT user_id FROM web_user WHERE name = 'admin'); DELETE FROM web_user WHERE name = 'admin'" >/dev/null
WEB_PW=$($web user add admin --role admin | sed -n 's/^password (shown once): //p')
nohup $web >"$RUN/web.log" 2>&1 &
echo $! >"$RUN/web.pid"
i=0
while [ $i -lt 30 ] && ! curl -sf -o /dev/null "http://127.0.0.1:$WEB_PORT/"; do
	sleep 1
	i=$((i + 1))
done
cat <<EOM

vmeter is running on the embedded default (logs: $RUN/collector.log).

  Open the web UI:  http://127.0.0.1:$WEB_PORT/
  Log in as admin with the password $WEB_PW
  (made now and shown only this once; another start makes a new one; log: $RUN/web.log)

Look at the result with:
  $admin usage --from now-1h            per-VM usage per minute (add --csv, --hosts)
  $admin total --from now-1d            usage summed per VM and owner (rollups + minutes)
  $admin vms                            inventory and owners
  $admin graph --vm web1 --out FILE.png a graph from the RRD files ($RUN/web1.png)
  $bill rate                            rate the closed hours with the sample plan ($RUN/plans.conf)
  $bill invoice list                    the draft invoices, rebuilt every 5 minutes from what is rated:
                                        $RUN/invoice-acme.html, $RUN/invoice-globex.html
                                        (their lines appear once the first hour has closed)
  $RUN/chargeback-acme.{html,csv,json,pdf}
                                        acme's chargeback report of this month's draft (a preview)
  $report due --dir $RUN/reports
                                        keep the finalised months' reports (vmeter-report(1))
  $RUN/capacity.{html,csv,json,pdf}
                                        the capacity report of the last 24 closed hours
                                        (once the demo's first hour has closed)

The aggregator runs the sample rule $RUN/rules.d/demo.conf (vm-cpu-busy: a VM
above 90 % of its vCPUs for a minute; recommend mode, nothing is done to the VM).
It fires on build-7 about 4 minutes after the start (two whole minutes of data,
then the rule's 'for'):
  $admin alerts                         the alerts and their values
  $admin audit                          the decisions: recommend set-vcpus on build-7
  curl http://127.0.0.1:$METRICS_PORT/metrics   the aggregator's /metrics (vmeter_alert_state, ...)
  (log: $RUN/aggregator.log)
Stop it with: scripts/demo.sh stop
EOM
