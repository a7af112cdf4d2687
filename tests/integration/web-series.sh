#!/bin/bash
# vmeter-web's graph data and page endpoints against a real PostgreSQL and
# RRD files written through a real rrdcached (web-fixtures.sh): the series
# of a VM from the RRD files (recent) and the rollups (long ranges), MAX,
# traffic by class, a host's series, every refusal of a bad range or
# parameter (400 naming it), the overview, alerts, reports, plans, invoice
# downloads (CSV, JSON, PDF: billing's exports) and report downloads with
# their content, the embedded UI files (types, ETag, 304), and a tenant
# viewer's view of each (another tenant's objects are 404, and no body
# names them).
. "$(dirname "$0")/../lib.sh"
. "$top_srcdir/tests/integration/web-fixtures.sh"
plan 76

# graphs kept 2 s at most (60 s by default), so that a change shows soon
WEB_CONF_EXTRA="graph-cache-ms = 2000" web_fleet
web user add root --role admin >/dev/null
web user add va --role tenant-viewer --tenant acme >/dev/null
ADM="Authorization: Bearer $(web token add root | sed -n 's/.*(shown once): //p')"
VA="Authorization: Bearer $(web token add va | sed -n 's/.*(shown once): //p')"
"$WEB" -c "$T/vmeter.conf" >"$T/web.log" 2>&1 &
WEB_PID=$!
_pids="$_pids $WEB_PID"
serves() { curl -sf -o /dev/null -H "$ADM" "$URL/api/v1/me"; }
wait_for "vmeter-web to serve" 60 serves || bail "vmeter-web does not serve"
show_web_log() { echo "# --- $T/web.log:"; tail -n 20 "$T/web.log" | sed 's/^/#   /'; }
on_cleanup "[ \$_failed = 0 ] || show_web_log"

# get NAME AUTH PATH: the status; the body in $T/NAME.body, headers in $T/NAME.head
get() { curl -s -o "$T/$1.body" -D "$T/$1.head" -w '%{http_code}' -H "$2" "$URL$3"; }
jqb() { jq -r "$2" "$T/$1.body"; }
S=/api/v1/vms/$U_WEB1/series

# ---------------------------------------------------------------- a VM's series from the RRD files
is "$(get s "$ADM" "$S")" 200 "GET a VM's series: 200"
is "$(jqb s '[.source, .cf, .step, .to - .from, .subject.name, .subject.tenant] | join(" ")')" "rrd AVERAGE 10 3600 web1 acme" \
	"the last hour by default, from the RRD file at its 10 s step, the subject named"
is "$(jqb s '(.t | length) == (.series.cpu_host_pct | length) and (.t | length) > 300')" true "one value per time of every series"
# rrd_probe's 0.5 cores: 25 % of web1's 2 vCPUs, 3.125 % of hv1's 16 CPUs
is "$(jqb s '[.series.cpu_alloc_pct[] | select(. != null)] | [min, max, length > 50] | map(tostring) | join(" ")')" "25 25 true" \
	"CPU as a share of the allocation: 25 %"
is "$(jqb s '[.series.cpu_host_pct[] | select(. != null)] | [min, max] | map(tostring) | join(" ")')" "3.125 3.125" \
	"CPU as a share of the host: 3.125 %"
is "$(jqb s '[.series.mem_rss_kib[] | select(. != null)] | unique | map(tostring) | join(" ")')" 1048576 "memory: the RSS in KiB"
is "$(jqb s '[.series.disk_rd_bps[] | select(. != null)] | unique | map(tostring) | join(" ")')" 1024 "disk reads: 1024 B/s"
is "$(jqb s '[.units.cpu_alloc_pct, .units.mem_rss_kib, .units.disk_rd_bps] | join(" ")')" "% KiB B/s" "the units"
is "$(jqb s '[.t[1] - .t[0], .t[0] <= .from + 10] | map(tostring) | join(" ")')" "10 true" "times are the steps' starts, every step"
is "$(get s "$ADM" "$S?cf=MAX&metrics=cpu_host_pct,mem_rss_kib")" 200 "cf=MAX and two metrics"
is "$(jqb s '[.cf, (.series | keys | join(","))] | join(" ")')" "MAX cpu_host_pct,mem_rss_kib" "... only those, as MAX"
is "$(get s "$ADM" "$S?from=-24h")" 200 "the last 24 hours"
is "$(jqb s '[.source, .to - .from, .step, (.t | length) <= 722] | map(tostring) | join(" ")')" "rrd 86400 120 true" \
	"... from the RRD file's minutes, folded to 120 s points (about 720)"
is "$(jqb s '[.t[1] - .t[0], .t[0] % 120, ([.series.cpu_alloc_pct[] | select(. != null)] | [min, max, length > 0]
	| map(tostring) | join(" "))] | map(tostring) | join(" ")')" "120 0 25 25 true" \
	"... on the epoch's 120 s grid, the folded values the same 25 %"
now=$(date +%s)
is "$(get s "$ADM" "$S?from=$((now - 1800))&to=$((now - 600))")" 200 "an absolute range in epoch seconds"
is "$(jqb s "[.from, .to] | map(tostring) | join(\" \")")" "$((now - 1800)) $((now - 600))" "... as asked"

# ---------------------------------------------------------------- kept answers sent from their file
# An answer of WEB_CACHE_FILE_MIN (16 KiB) or more is kept in a memfd and
# sent from it with sendfile() (web/cache.h): the kept answer is byte for
# byte the one first sent from memory, from the I/O threads and from a
# server with web.threads = 0 alike (a past range: the same points).
B="$S?from=$((now - 7200))&to=$((now - 600))"
get b1 "$ADM" "$B" >/dev/null
get b2 "$ADM" "$B" >/dev/null
cmp -s "$T/b1.body" "$T/b2.body"
is "$? $(($(stat -c %s "$T/b1.body") >= 16384)) $(jqb b2 '.t | length')" "0 1 661" \
	"a kept graph over 16 KiB is the same bytes as the first answer ($(stat -c %s "$T/b1.body") bytes, 661 points)"
files=$(ls -l "/proc/$WEB_PID/fd" 2>/dev/null | grep -c 'memfd:vmeter-web-answer')
ok $((files < 1)) "... kept in a memfd ($files kept answers in one)"
PORT0=$(free_port)
sed -e "s/listen = .*/listen = \"127.0.0.1:$PORT0\"\n  threads = 0/" "$T/vmeter.conf" >"$T/one.conf"
"$WEB" -c "$T/one.conf" >"$T/one.log" 2>&1 &
ONE_PID=$!
_pids="$_pids $ONE_PID"
up0() { curl -sf -o /dev/null -H "$ADM" "http://127.0.0.1:$PORT0/api/v1/me"; }
wait_for "the server with threads = 0 to serve" 60 up0
curl -s -o "$T/b3.body" -H "$ADM" "http://127.0.0.1:$PORT0$B"
curl -s -o "$T/b4.body" -H "$ADM" "http://127.0.0.1:$PORT0$B"
cmp -s "$T/b1.body" "$T/b3.body" && cmp -s "$T/b1.body" "$T/b4.body"
ok $? "... and the same from a server with web.threads = 0, first and kept ($(grep -o '[0-9]* I/O threads' "$T/one.log"))"
kill "$ONE_PID"

# ---------------------------------------------------------------- from the rollups
is "$(get s "$ADM" "$S?from=-7d&metrics=cpu_alloc_pct,mem_rss_kib,net_class")" 200 "seven days"
is "$(jqb s '[.source, .step, (.t | length)] | map(tostring) | join(" ")')" "rollup 3600 169" "... from the rollups, hourly"
# the hourly rows: 40 %; the hours of the minutes: 25 %
is "$(jqb s '[.series.cpu_alloc_pct[] | select(. != null)] | unique | map(tostring) | join(" ")')" "25 40" \
	"CPU of the allocation: 40 % from the hourly rows, 25 % from the minutes of the hours not rolled up"
is "$(jqb s '.series | keys | join(",")')" "cpu_alloc_pct,mem_rss_kib,net_rx_bps:internal,net_rx_bps:internet,net_tx_bps:internal,net_tx_bps:internet" \
	"network by traffic class"
# 600000 B a minute for 60 minutes over 3600 s
is "$(jqb s '[.series["net_rx_bps:internet"][] | select(. != null)] | max')" 10000 "... 10000 B/s received from the internet in a whole hour"
is "$(get s "$ADM" "$S?from=-7d&cf=MAX&metrics=mem_rss_kib")" 200 "seven days, MAX"
is "$(jqb s '[.series.mem_rss_kib[] | select(. != null)] | max')" 2097152 "... the gauges' maxima (2 GiB in the hourly rows)"
# Graphs are kept for half their step, at most web.graph-cache-ms (the
# refresh of one found too old reads the same range again): a change
# shows.
K="$S?from=-7d&metrics=cpu_alloc_pct"
get k "$ADM" "$K" >/dev/null
psql_q "UPDATE vm_usage_hour SET cpu_ns = cpu_ns * 2 WHERE vm_id = 1 AND hour = (SELECT max(hour) FROM vm_usage_hour
	WHERE vm_id = 1)" >/dev/null
doubled() { get k "$ADM" "$K" >/dev/null && jq -e 'any(.series.cpu_alloc_pct[]; . == 80)' "$T/k.body" >/dev/null; }
wait_for "the doubled hour in the graph" 60 doubled
ok $? "a kept graph: a change in the rollups shows once it is older than web.graph-cache-ms"
psql_q "UPDATE vm_usage_hour SET cpu_ns = cpu_ns / 2 WHERE vm_id = 1 AND hour = (SELECT max(hour) FROM vm_usage_hour
	WHERE vm_id = 1)" >/dev/null
# A late hour of minutes (25 %) into a closed hour rolled up at 40 %: its
# insert marks the hour dirty, and until the next rollup the graph takes
# that hour from its minutes, as vm_resolution_plan() does for billing.
H=$(psql_q "SELECT extract(epoch FROM date_trunc('hour', now()) - interval '10 hours')::bigint")
psql_q "INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, vcpus_avg, vcpus_max)
	SELECT 1, 1, to_timestamp($H) + k * interval '1 minute', 60000, 6, 30000000000, 2, 2 FROM generate_series(0, 59) k" >/dev/null
is "$(psql_q "SELECT count(*) FROM rollup_dirty WHERE hour = to_timestamp($H)")" 1 "a late hour of minutes marks its hour dirty"
late() { get k "$ADM" "$K" >/dev/null && jq -e --argjson h "$H" '[.t, .series.cpu_alloc_pct] | transpose | any(.[0] == $h and .[1] == 25)' "$T/k.body" >/dev/null; }
wait_for "the dirty hour from its minutes" 60 late
ok $? "... and the graph reads that hour from its minutes (25 %), not its stale rollup (40 %)"
is "$(jq --argjson h "$H" '[[.t, .series.cpu_alloc_pct] | transpose | .[] | select(.[0] == $h - 3600 or .[0] == $h + 3600) | .[1]] | map(tostring) | join(" ")' -r "$T/k.body")" "40 40" \
	"... while the clean hours beside it come from the rollups (40 %)"
psql_q "DELETE FROM vm_usage_minute WHERE vm_id = 1 AND minute >= to_timestamp($H) AND minute < to_timestamp($H + 3600);
	DELETE FROM rollup_dirty WHERE hour = to_timestamp($H)" >/dev/null
is "$(get s "$ADM" "$S?from=-90d&source=rollup&metrics=cpu_alloc_pct")" 200 "90 days"
is "$(jqb s '[.source, .step] | map(tostring) | join(" ")')" "rollup 86400" "... daily"
is "$(get s "$ADM" "$S?from=-1h&source=rollup&metrics=cpu_alloc_pct")" 200 "source=rollup for a recent hour"
is "$(jqb s '.source')" rollup "... is obeyed"
is "$(get s "$ADM" "/api/v1/vms/$U_WEB2/series")" 200 "a VM without an RRD file"
is "$(jqb s '[.source, ([.series.cpu_alloc_pct[] | select(. != null)] | unique | map(tostring) | join(","))] | join(" ")')" "rollup 50" \
	"... is drawn from the rollups (50 %)"
is "$(get s "$ADM" "/api/v1/hosts/hv1/series?from=-3h")" 200 "a host's series"
is "$(jqb s '[.subject.name, .source, ([.series.cpu_busy_pct[] | select(. != null)] | unique | map(tostring) | join(","))] | join(" ")')" \
	"hv1 rollup 25" "... its CPU busy: 25 %"

# ---------------------------------------------------------------- refusals
refused() { # refused QUERY WANT-ERROR-PREFIX
	_s=$(get e "$ADM" "$S?$1")
	is "$_s $(jqb e .error | cut -c1-${#2})" "400 $2" "?$1: 400 naming it"
}
refused "from=-1h&to=-2h" "from: "
refused "metrics=cpu_alloc_pct,bogus" "metrics: unknown metric 'bogus'"
refused "from=-500d" "from: the range"
refused "from=yesterday" "from: 'yesterday'"
refused "to=$((now + 86400))" "to: "
refused "cf=MIN" "cf: 'MIN'"
refused "source=disk" "source: 'disk'"
refused "tenant=beta" "query string: unknown parameter 'tenant'"
is "$(get e "$ADM" "/api/v1/hosts/hv1/series?metrics=cpu_alloc_pct")" 400 "a VM's metric for a host: 400"

# ---------------------------------------------------------------- downloads
for f in csv json pdf; do
	is "$(get d "$ADM" "/api/v1/invoices/201/download?format=$f")" 200 "invoice 201 as $f"
	grep -qi "^Content-Disposition: attachment; filename=\"vmeter-invoice-INV-201.$f\"" "$T/d.head"
	ok $? "... as an attachment named by its number"
	case $f in
	csv) head -2 "$T/d.body" | tr -d '\r' | grep -q '^INV-201,final,acme,' ;;
	json) jq -e '.number == "INV-201" and (.lines | length) == 2' "$T/d.body" >/dev/null ;;
	pdf) head -c 5 "$T/d.body" | grep -q '%PDF-' ;;
	esac
	ok $? "... with its content"
done
# Amounts: billing's integer nano-units, each beside its exact decimal.
get inv "$ADM" /api/v1/invoices/201 >/dev/null
is "$(jqb inv '[.total_nano, .total, (.lines[] | "\(.amount_nano)=\(.amount)")] | join(" ")')" \
	"12340000000 12.34 12240000000=12.24 100000000=0.1" "an invoice's amounts: nano-units and their decimal"
is "$(get d "$ADM" "/api/v1/invoices/201/download?format=xml") $(jqb d .error)" "400 format: 'xml' is none of csv, json, pdf" \
	"an unknown format: 400 naming it"
is "$(get d "$VA" "/api/v1/invoices/203/download?format=csv")" 404 "another tenant's invoice: 404"
is "$(get r "$ADM" /api/v1/reports/1/download)" 200 "a kept report"
is "$(cat "$T/r.body")" "$(printf 'tenant,total\nacme,12.34')" "... as kept"
is "$(get r "$VA" /api/v1/reports/2/download):$(get r2 "$VA" /api/v1/reports/3/download)" "404:404" \
	"a viewer gets neither another tenant's report nor the fleet's"

# ---------------------------------------------------------------- the viewer's view
is "$(get v "$VA" "/api/v1/vms/$U_DB1/series"):$(get v2 "$VA" "/api/v1/vms/$U_DB1/history")" "404:404" \
	"another tenant's VM: its series and history are 404"
is "$(get v "$VA" /api/v1/hosts/hv1/series):$(get v2 "$VA" /api/v1/hosts/hv1)" "403:403" "hosts are not a viewer's"
# kept per tenant scope: the admin's answer just read is not the viewer's
is "$(get v "$ADM" "/api/v1/vms/$U_DB1/series?from=-2h"):$(get v2 "$VA" "/api/v1/vms/$U_DB1/series?from=-2h")" "200:404" \
	"beta's VM's graph read by the admin, then by a viewer of acme: 404"
leak=0
for p in /api/v1/overview /api/v1/alerts /api/v1/reports /api/v1/plans "/api/v1/vm-usage?from=-7d" "$S" "/api/v1/vms/$U_WEB1/history"; do
	[ "$(get b "$VA" "$p")" = 200 ] || { leak=$((leak + 100)); diag "$p: $(cat "$T/b.body")"; }
	n=$(grep -c -e "$U_DB1" -e db1 -e beta -e bulk -e plans.conf "$T/b.body")
	[ "$n" = 0 ] || diag "$p names another tenant's: $(head -c 300 "$T/b.body")"
	leak=$((leak + n))
done
is "$leak" 0 "the viewer's overview, alerts, reports, plans, VM list and its VM's series and history: all 200, none names beta's"
get b "$VA" /api/v1/overview >/dev/null
is "$(jqb b '[(.hosts | length), (.vms | map(.name) | join(",")), (.cost | map(.tenant) | join(","))] | map(tostring) | join(" ")')" \
	"0 web1,web2 acme" "the viewer's overview: no hosts, its VMs, its cost"
get b "$ADM" /api/v1/overview >/dev/null
is "$(jqb b '[.hosts[] | .name + ":" + .dominant] | join(" ")')" "hv1:memory hv2:cpu" "the overview names each host's dominant resource"
get b "$ADM" "/api/v1/vm-usage?from=-2h" >/dev/null
is "$(jqb b '[.vms[] | .name + ":" + (.cpu_alloc_pct | tostring)] | join(" ")')" "db1:75 web1:25 web2:50" "the VM list's usage: CPU per VM"

# ---------------------------------------------------------------- the UI's files
is "$(get u "" /)" 200 "GET /: the UI"
grep -qi '^Content-Type: text/html' "$T/u.head" && grep -q '<script src="/static/app.js" defer></script>' "$T/u.body"
ok $? "... HTML whose scripts are files (the CSP allows no inline script)"
is "$(get u "" /static/vendor/uPlot.iife.min.js)" 200 "the vendored uPlot"
etag=$(sed -n 's/^ETag: \(.*\)\r$/\1/ip' "$T/u.head")
grep -qi '^Content-Type: text/javascript' "$T/u.head" && [ ${#etag} = 66 ]
ok $? "... as JavaScript, with a strong ETag"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/static/vendor/uPlot.iife.min.js")" 304 "... 304 when unchanged"
dotdot=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$URL/static/../static/app.js")
is "$dotdot:$(get u2 "" /static/nothing.js):$(get u3 "" /static/vendor)" "404:404:404" \
	"a name that is not an embedded file: 404"

kill -TERM "$WEB_PID"
gone() { ! kill -0 "$WEB_PID" 2>/dev/null; }
wait_for "vmeter-web to exit" 60 gone
wait "$WEB_PID"
is "$?" 0 "SIGTERM: it stops with status 0 (no leak under ASan)"
