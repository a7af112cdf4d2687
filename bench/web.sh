#!/bin/bash
# vmeter-web's JSON API under load against nginx serving a static file of
# the same size (issue 14), side by side in one run; a benchmark, not a
# test: it exits 0 whatever the figures, non-zero only if something broke
# (a server that did not start, an answer that was not 200).
#
#   bench/web.sh [VMS [DAYS]]          (default 1000 30)
#
# A private PostgreSQL with VMS VMs (bench/fleet-pg.sh, as bench/billing.sh
# makes them); an admin's API token (Authorization: Bearer, set by a wrk
# Lua script); wrk at CONNS connections for DURATION against each
# endpoint, REPS times, vmeter and nginx alternating (odd rounds vmeter
# first, even rounds nginx first), the load average printed before each
# run.  Endpoints:
#   list    GET /api/v1/vms                       (every VM: one URL)
#   vm      GET /api/v1/vms/{uuid}                (the VMs in turn)
#   graph   GET /api/v1/vms/{uuid}/series?from=-24h&to=now&cf=AVERAGE
#   graph30 GET /api/v1/vms/{uuid}/series?from=-30d&to=now&cf=AVERAGE
# The graph endpoints run when the server has the series endpoint (it
# answers something else than "no such endpoint"): then DAYS days of minute
# rows up to today are generated and rolled up (vmeter-admin maintain
# --no-pack: packing 30 days of 1,000 VMs outlasts the benchmark), and
# every VM gets a 24 h RRD file in the collector's layout and naming
# (rrd-dir/vm-UUID.rrd, made by lib/rrdout through tests/rrd_probe, filled
# with rrdtool update, copied to each VM).  GRAPH=0 skips them, GRAPH=1
# insists.
# nginx (Debian's nginx-light, installed when missing, as wrk is) runs from
# its own prefix and configuration in the run directory on another loopback
# port, `worker_processes auto`, access_log off, sendfile on, serving
# vmeter's own answers byte for byte as files: for the list the one
# answer, for the endpoints of one VM each VM's answer as the warm-up read
# it (1,000 files, asked in the same turn as vmeter's), so that both
# servers send the same bodies from the same working set (one file for
# every VM stays in the CPU's caches where 1,000 answers of 85 KB do not;
# NGINX_ONE=1 serves the first VM's answer for every VM, as this script
# did before).
#
# Environment: REPS (5), DURATION (10s), CONNS (64), THREADS (2), CACHE_MB
# (vmeter-web's web.cache-mb, 512: a graph of 24 h is 170 KB, 1,000 VMs'
# are 170 MB, over the default 64 that would keep only the last 370),
# DB_CONNECTIONS (vmeter-web's web.db-connections; its default when unset),
# WEB_THREADS (vmeter-web's web.threads; its default when unset: one I/O
# thread per CPU),
# ENDPOINTS ("list vm graph graph30"), OUT (/var/tmp/vmeter-bench/web-DATE:
# wrk's outputs, the answers), VMETER_BUILD (a build tree to use as it is;
# by default an optimised copy of this tree is built or brought up to date
# in /tmp/vmbench-web-build, -O2 -g, no sanitizers), KEEP_TMP=1,
# SNAPSHOT=DIR (the database as generated is copied there, and a later run
# with the same VMS and DAYS on the same UTC day starts from the copy
# instead of generating the rows again: ten minutes for 30 days; the RRD
# files are always made anew, since their 24 h end now; the schema's later
# migrations are applied to the copy).
set -u
export LC_ALL=C
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
VMS=${1:-1000}
DAYS=${2:-30}
REPS=${REPS:-5}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
GRAPH=${GRAPH:-auto}
ENDPOINTS=${ENDPOINTS:-list vm graph graph30}
OUT=${OUT:-/var/tmp/vmeter-bench/web-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"

die() { echo "web.sh: $*" >&2; exit 1; }
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null && return 0
	[ "$(id -u)" = 0 ] || die "$1 missing: apt-get install $2"
	echo "# installing $2"
	{ apt-get install -y -qq --no-install-recommends "$2" || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$2"; }; } \
		>/dev/null 2>&1 || die "cannot install $2"
}
need wrk wrk
[ -x /usr/sbin/nginx ] || need nginx nginx-light
NGINX=/usr/sbin/nginx
need rrdtool rrdtool

# --- an optimised build (the in-tree one may have sanitizers)
# shellcheck source=opt-build.sh
. "$top_srcdir/bench/opt-build.sh"
opt_build /tmp/vmbench-web-build web/vmeter-web admin/vmeter-admin tests/rrd_probe || die "no optimised build"
top_builddir=$VMETER_BUILD
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/bench/fleet-pg.sh"
WEB=$top_builddir/web/vmeter-web
ldd "$WEB" | grep -q libasan && diag "warning: $WEB is a sanitizer build; measure with one configured without --enable-sanitizers"

echo "# vmeter-web against nginx: $VMS VMs, $DAYS days; wrk -t$THREADS -c$CONNS -d$DURATION, $REPS rounds; web.threads ${WEB_THREADS:-default}; nginx serves $([ "${NGINX_ONE:-0}" = 1 ] && echo "one file for every VM" || echo "each VM's answer")"
echo "# build $(git -C "$top_srcdir" describe --always --dirty 2>/dev/null) in $VMETER_BUILD, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), outputs in $OUT"

start_postgres
SNAPSHOT=${SNAPSHOT:-}
snap_stamp="$VMS $DAYS $(date -u +%F)"
restored=0
if [ -n "$SNAPSHOT" ] && [ "$(cat "$SNAPSHOT/stamp" 2>/dev/null)" = "$snap_stamp" ]; then
	stop_postgres
	rm -rf "$PGDATA_DIR" && cp -a "$SNAPSHOT/pg" "$PGDATA_DIR" && rm -f "$PGDATA_DIR/postmaster.pid" || bail "cannot copy $SNAPSHOT/pg"
	restart_postgres || bail "PostgreSQL does not start on the snapshot"
	restored=1
	echo "# the database from the snapshot in $SNAPSHOT ($snap_stamp)"
fi
PORT=$(free_port)
NPORT=$(free_port)
write_conf "$T/vmeter.conf" "web {
  listen = \"127.0.0.1:$PORT\"
  max-connections = 1024
  cache-mb = ${CACHE_MB:-512}
  ${DB_CONNECTIONS:+db-connections = $DB_CONNECTIONS}
  ${WEB_THREADS:+threads = $WEB_THREADS}
}"
sed -i 's/^log-level = info/log-level = warning/' "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
# The month up to today (00:00 UTC): the graphs' "now" is in it.
M0=$(date -u -d "today - $DAYS days" +%F)" 00:00:00+00"
web() { "$WEB" -c "$T/vmeter.conf" "$@"; }
if [ "$restored" = 0 ]; then
	fleet_pg_vms "$M0" "$VMS" "$DAYS"
	psql_q "ANALYZE" >/dev/null
	web user add bench --role admin >/dev/null || bail "user add"
fi
TOKEN=$(web token add bench --label bench | sed -n 's/.*(shown once): //p')
[ -n "$TOKEN" ] || bail "no token"

"$WEB" -c "$T/vmeter.conf" >"$T/web.log" 2>&1 &
WEB_PID=$!
_pids="$_pids $WEB_PID"
URL=http://127.0.0.1:$PORT
get() { curl -s -o "$2" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL$1"; }
up() { [ "$(get /api/v1/vms "$T/probe")" = 200 ]; }
wait_for "vmeter-web answering" 120 up || bail "vmeter-web does not answer: $(tail -3 "$T/web.log")"
UUIDS=$(psql_q "SELECT uuid FROM vm ORDER BY vm_id")
U1=$(echo "$UUIDS" | head -1)

# --- the graph endpoint: there or not
SERIES="/series?from=-24h&to=now&cf=AVERAGE"
SERIES30="/series?from=-${DAYS}d&to=now&cf=AVERAGE"
# (another range than the measured ones: the answer, from the rollups
# before the RRD files exist, is kept)
s=$(get "/api/v1/vms/$U1/series?from=-2h&metrics=cpu_alloc_pct" "$T/series.probe")
if [ "$GRAPH" = auto ]; then
	if [ "$s" = 404 ] && grep -q 'no such endpoint' "$T/series.probe"; then GRAPH=0; else GRAPH=1; fi
fi
if [ "$GRAPH" = 1 ] && [ "$restored" = 0 ]; then
	t0=$(date +%s)
	fleet_pg_minutes "$M0" "$DAYS" "$VMS"
	"$ADMIN" -c "$T/vmeter.conf" maintain --now "$(date -u '+%F %T')" --no-retention --no-pack >"$OUT/maintain.out" 2>&1 ||
		bail "maintain: $(tail -3 "$OUT/maintain.out")"
	psql_q "VACUUM ANALYZE" >/dev/null
	echo "# graphs: $(psql_q "SELECT count(*) FROM vm_usage_minute") minute rows, $(psql_q "SELECT count(*) FROM vm_usage_hour") hourly rows in $(($(date +%s) - t0)) s"
	if [ -n "$SNAPSHOT" ]; then
		psql_q "CHECKPOINT" >/dev/null
		rm -rf "$SNAPSHOT" && mkdir -p "$SNAPSHOT" && cp -a "$PGDATA_DIR" "$SNAPSHOT/pg" &&
			echo "$snap_stamp" >"$SNAPSHOT/stamp" || bail "cannot keep the database in $SNAPSHOT"
		echo "# the database is kept in $SNAPSHOT for the next run"
	fi
fi
if [ "$GRAPH" = 1 ]; then
	# 24 h of one VM's file at the collector's 10 s step, copied to every VM.
	t0=$(date +%s)
	mkdir -p "$T/rrd"
	now=$(date +%s)
	start=$(((now - 86400) / 10 * 10))
	RRD_PROBE_STEP=10 "$top_builddir/tests/rrd_probe" write "$T/rrd" - "vm-$U1" "$start" >/dev/null ||
		bail "rrd_probe cannot write"
	f1=$T/rrd/vm-$U1.rrd
	ds=$(rrdtool info "$f1" | sed -n 's/^ds\[\([a-z_0-9]*\)\]\.type = .*/\1/p' | tr '\n' ':' | sed 's/:$//')
	nds=$(echo "$ds" | tr ':' '\n' | wc -l)
	awk -v s="$((start + 600))" -v e="$now" -v n="$nds" 'BEGIN {
		for (t = s; t <= e; t += 10) { k = (t - s) / 10; line = t
			for (i = 1; i <= n; i++) line = line ":" sprintf("%.0f", k * (1000000 + i * 7919))
			print line } }' >"$T/rrd.lines"
	xargs -a "$T/rrd.lines" -n 2000 rrdtool update "$f1" --template "$ds" || bail "rrdtool update"
	echo "$UUIDS" | tail -n +2 | while read -r u; do cp "$f1" "$T/rrd/vm-$u.rrd"; done
	echo "# RRD: $(ls "$T/rrd" | wc -l) files of $(stat -c %s "$f1") bytes ($nds data sources, 24 h at 10 s) in $(($(date +%s) - t0)) s"
else
	echo "# no graph endpoint in this build (GET /api/v1/vms/{uuid}$SERIES: $s): the graphs are not measured"
	ENDPOINTS=$(echo " $ENDPOINTS " | sed 's/ graph30 / /; s/ graph / /')
fi

# --- the answers, and nginx with files of their sizes
mkdir -p "$T/www" "$T/nginx/logs"
path_of() { # path_of ENDPOINT UUID
	case $1 in
	list) echo /api/v1/vms ;;
	vm) echo "/api/v1/vms/$2" ;;
	graph) echo "/api/v1/vms/$2$SERIES" ;;
	graph30) echo "/api/v1/vms/$2$SERIES30" ;;
	esac
}
for e in $ENDPOINTS; do
	s=$(get "$(path_of "$e" "$U1")" "$OUT/$e.json")
	[ "$s" = 200 ] || bail "$e: $(path_of "$e" "$U1") answered $s: $(head -c 300 "$OUT/$e.json")"
	cp "$OUT/$e.json" "$T/www/$e.json"
	echo "# $e: $(stat -c %s "$OUT/$e.json") bytes ($(path_of "$e" "$U1"))"
done
cat >"$T/nginx/nginx.conf" <<EOC
worker_processes auto;
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/json;
  client_body_temp_path $T/nginx/body;
  proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fastcgi;
  uwsgi_temp_path $T/nginx/uwsgi;
  scgi_temp_path $T/nginx/scgi;
  server {
    listen 127.0.0.1:$NPORT;
    root $T/www;
  }
}
EOC
$NGINX -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon off;' 2>"$T/nginx/stderr" &
NGINX_PID=$!
_pids="$_pids $NGINX_PID"
FIRST=$(echo $ENDPOINTS | cut -d' ' -f1)
nginx_up() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NPORT/$FIRST.json")" = 200 ]; }
wait_for "nginx answering" 60 nginx_up || bail "nginx does not answer: $(cat "$T/nginx/stderr")"

# --- wrk's script: the token, the VMs in turn, the figures at the end
echo "$UUIDS" >"$T/uuids"
cat >"$T/bench.lua" <<'EOL'
-- args: TOKEN PATTERN [UUIDFILE]; PATTERN's "{uuid}" is replaced by the
-- VMs in turn (each thread from its own place in the list).
local pattern
local uuids, n, i = {}, 0, 0
local tid = 0
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
function init(args)
  local token, uuidfile = args[1], args[3]
  pattern = args[2]
  if uuidfile and uuidfile ~= "-" then
    for l in io.lines(uuidfile) do n = n + 1; uuids[n] = l end
  end
  i = (tonumber(tid) or 0) * 7919
  if token ~= "-" then wrk.headers["Authorization"] = "Bearer " .. token end
end
function request()
  local p = pattern
  if n > 0 then i = i + 1; p = string.gsub(pattern, "{uuid}", uuids[i % n + 1]) end
  return wrk.format("GET", p)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %.3f %.3f %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.requests,
    e.status, e.connect + e.read + e.write + e.timeout))
end
EOL
# nginx_path ENDPOINT: nginx's path pattern and its uuid file ("-": none)
nginx_path() {
	case $1 in
	list) echo "/list.json -" ;;
	*) if [ "${NGINX_ONE:-0}" = 1 ]; then echo "/$1.json -"; else echo "/$1/{uuid}.json $T/uuids"; fi ;;
	esac
}
# server_ticks WHO: the CPU clock ticks (user + system) the server has used,
# every thread of vmeter-web, nginx's master and workers
server_ticks() {
	if [ "$1" = vmeter ]; then _p=$WEB_PID; else _p="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"; fi
	for _q in $_p; do cat "/proc/$_q/stat" 2>/dev/null; done | awk '{ sub(/.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}
# run WHO ENDPOINT ROUND: one wrk run; appends "WHO ENDPOINT ROUND rps p50 p99
# max requests non2xx sockerr load1" to $OUT/results
run() {
	_who=$1 _e=$2 _r=$3
	if [ "$_who" = vmeter ]; then
		_url=$URL _tok=$TOKEN _pat=$(path_of "$_e" "{uuid}") _uf=$T/uuids
		[ "$_e" = list ] && _uf=-
	else
		set -- $(nginx_path "$_e")
		_url=http://127.0.0.1:$NPORT _tok=- _pat=$1 _uf=$2
	fi
	_load=$(cut -d' ' -f1 /proc/loadavg)
	_c0=$(server_ticks "$_who")
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 10s -s "$T/bench.lua" "$_url" -- "$_tok" "$_pat" "$_uf" \
		>"$OUT/wrk.$_who.$_e.$_r" 2>&1 || bail "wrk failed: $(tail -3 "$OUT/wrk.$_who.$_e.$_r")"
	_c1=$(server_ticks "$_who")
	_res=$(sed -n 's/^RESULT //p' "$OUT/wrk.$_who.$_e.$_r")
	[ -n "$_res" ] || bail "no figures from wrk: $(tail -3 "$OUT/wrk.$_who.$_e.$_r")"
	set -- $_res
	# the server's CPU (every thread or worker, user + system) per answer
	_us=$(awk -v t="$((_c1 - _c0))" -v hz="$(getconf CLK_TCK)" -v n="$5" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')
	echo "$_who $_e $_r $_res $_load $_us" >>"$OUT/results"
	printf '  round %d %-7s %-7s %10s req/s  p50 %7s ms  p99 %7s ms  CPU %6s us/answer  non-2xx %s  socket errors %s  (load %s)\n' \
		"$_r" "$_e" "$_who" "$1" "$2" "$3" "$_us" "$6" "$7" "$_load"
}
: >"$OUT/results"
# warm-up: caches, the pool's connections, nginx's workers; each VM's
# answer once (the graphs are kept for half their step, up to a minute:
# the rounds measure answers served while they are kept and refreshed,
# the cold reads are measured apart below)
for e in $ENDPOINTS; do
	case $e in vm | graph | graph30)
		t0=$(date +%s%N)
		mkdir -p "$T/www/$e"
		echo "$UUIDS" | xargs -P 8 -I @ curl -s -o "$T/www/$e/@.json" -H "Authorization: Bearer $TOKEN" "$URL$(path_of "$e" @)"
		echo "# $e: every VM's answer read once, 8 at a time, in $((($(date +%s%N) - t0) / 1000000)) ms;" \
			"for nginx $(ls "$T/www/$e" | wc -l) files, $(cat "$T/www/$e"/*.json | wc -c) bytes"
		;;
	esac
	wrk -t"$THREADS" -c"$CONNS" -d2s -s "$T/bench.lua" "$URL" -- "$TOKEN" "$(path_of "$e" "{uuid}")" "$T/uuids" >/dev/null 2>&1
	set -- $(nginx_path "$e")
	wrk -t"$THREADS" -c"$CONNS" -d2s -s "$T/bench.lua" "http://127.0.0.1:$NPORT" -- - "$1" "$2" >/dev/null 2>&1
done
for r in $(seq 1 "$REPS"); do
	echo "# round $r, load $(cut -d' ' -f1-3 /proc/loadavg)"
	for e in $ENDPOINTS; do
		if [ $((r % 2)) = 1 ]; then run vmeter "$e" "$r"; run nginx "$e" "$r"; else run nginx "$e" "$r"; run vmeter "$e" "$r"; fi
	done
done

echo
echo "## $REPS rounds of wrk -t$THREADS -c$CONNS -d$DURATION: median (min - max)"
printf '%-8s %-7s %10s %24s %22s %22s %22s %12s\n' endpoint server bytes "req/s" "p50 ms" "p99 ms" "CPU us/answer" "non-2xx/err"
# vals COLUMN WHO ENDPOINT: that column of those runs, sorted
vals() { awk -v c="$1" -v w="$2" -v e="$3" '$1 == w && $2 == e { print $c }' "$OUT/results" | sort -g; }
med() { vals "$@" | awk '{ v[++n] = $1 } END { print n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'; }
stats() { # stats COLUMN WHO ENDPOINT: "median (min - max)"
	echo "$(med "$@") ($(vals "$@" | head -1) - $(vals "$@" | tail -1))"
}
bad=0
for e in $ENDPOINTS; do
	for w in vmeter nginx; do
		errs=$(awk -v w="$w" -v e="$e" '$1 == w && $2 == e { a += $9; b += $10 } END { print a "/" b }' "$OUT/results")
		[ "$errs" = 0/0 ] || bad=1
		printf '%-8s %-7s %10s %24s %22s %22s %22s %12s\n' "$e" "$w" "$(stat -c %s "$T/www/$e.json")" "$(stats 4 "$w" "$e")" \
			"$(stats 5 "$w" "$e")" "$(stats 6 "$w" "$e")" "$(stats 12 "$w" "$e")" "$errs"
	done
done
echo
for e in $ENDPOINTS; do
	awk -v e="$e" -v vr="$(med 4 vmeter "$e")" -v nr="$(med 4 nginx "$e")" -v p="$(med 6 vmeter "$e")" 'BEGIN {
		printf "%-8s vmeter/nginx req/s %.2f (target >= 0.5: %s), vmeter p99 %.2f ms (target < 10: %s)\n",
			e, vr / nr, (vr / nr >= 0.5) ? "met" : "NOT met", p, (p < 10) ? "met" : "NOT met" }'
	echo "$e nginx/vmeter CPU per answer: $(awk -v e="$e" -v vc="$(med 12 vmeter "$e")" -v nc="$(med 12 nginx "$e")" \
		'BEGIN { printf "%.2f (vmeter %s us, nginx %s us: what a loaded machine does not change)", vc ? nc / vc : 0, vc, nc }')"
done
# The rounds' own ratios (vmeter and nginx ran back to back in each):
# the load moves between rounds more than within one.
for e in $ENDPOINTS; do
	echo "$e vmeter/nginx req/s round by round: $(awk -v e="$e" '$2 == e { r[$3 " " $1] = $4; n = $3 > n ? $3 : n }
		END { for (i = 1; i <= n; i++) printf "%.2f ", r[i " vmeter"] / r[i " nginx"] }' "$OUT/results")"
done
echo "load average during the runs: $(awk '{ print $11 }' "$OUT/results" | sort -g | sed -n '1p;$p' | paste -sd' ' | sed 's/ / - /'); now $(cut -d' ' -f1-3 /proc/loadavg)"
# how the kernel spread the connections over the I/O threads (SO_REUSEPORT),
# and how kept answers were served
curl -s -H "Authorization: Bearer $TOKEN" "$URL/metrics" >"$OUT/metrics"
grep '^vmeter_web_cache' "$OUT/metrics" | sed 's/^vmeter_web_//' | paste -sd' ' | sed 's/^/vmeter-web kept answers over the whole run: /'
grep '^vmeter_web_thread_responses_total' "$OUT/metrics" |
	sed 's/^vmeter_web_thread_responses_total{thread="\([0-9]*\)"} /thread \1: /' | paste -sd' ' |
	sed 's/^/vmeter-web answers by I\/O thread over the whole run: /'
[ "$bad" = 0 ] || bail "some answers were not 2xx or some sockets failed (see $OUT/wrk.*)"
echo "# done in $SECONDS s"
