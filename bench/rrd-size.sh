#!/bin/sh
# Bytes of RRD per VM: vmeter's layout (lib/rrdout.c) against collectd's
# default one for the same series, at a 10 s and a 1 s step, with the old
# layout (before issue 11) for reference.  A benchmark, not a test: it
# prints the figures and the target (vmeter's file at most collectd's files
# for the same data sources) and exits 0 whatever they are; non-zero only
# if something broke.  See bench/README.md.
#
#   bench/rrd-size.sh                 steps 10 and 1
#   STEPS="10 60" bench/rrd-size.sh
#
# vmeter's file is made by vmeter's own code (tests/rrd_probe, built here if
# missing), so the figures follow lib/rrdout.c.  collectd's rrdtool and
# rrdcached plugins make one file per data source with AVERAGE, MIN and MAX
# for each timespan of RRATimespan (3600, 86400, 604800, 2678400, 31622400
# s), RRARows 1200 rows each (a timespan shorter than 1200 steps is
# stretched to them), XFF 0.1 (collectd's src/utils/rrdcreate/rrdcreate.c,
# rra_get()): built here with `rrdtool create` from the same arithmetic.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VMETER_BUILD:-$top}
probe=$build/tests/rrd_probe
STEPS=${STEPS:-10 1}
START=1700000000

command -v rrdtool >/dev/null || { echo "rrd-size: rrdtool not installed" >&2; exit 1; }
if [ ! -x "$probe" ]; then
	make -C "$build" tests/rrd_probe >/dev/null || { echo "rrd-size: cannot build $probe" >&2; exit 1; }
fi
T=$(mktemp -d /tmp/vmbench-rrd.XXXXXX)
trap 'rm -rf "$T"' EXIT

size() { stat -c %s "$1"; }

# collectd_rras STEP: rra_get() of collectd's default configuration.
collectd_rras() {
	awk -v ss="$1" 'BEGIN {
		split("3600 86400 604800 2678400 31622400", spans, " "); rows = 1200; cdp_len = 0
		for (i = 1; i <= 5; i++) {
			span = spans[i]
			if (int(span / ss) < rows) span = ss * rows
			cdp_len = cdp_len == 0 ? 1 : int(span / (rows * ss))
			cdp_num = int(span / (cdp_len * ss)); if (cdp_num * cdp_len * ss < span) cdp_num++
			printf "RRA:AVERAGE:0.1:%d:%d RRA:MIN:0.1:%d:%d RRA:MAX:0.1:%d:%d ", cdp_len, cdp_num, cdp_len, cdp_num, cdp_len, cdp_num
		}
	}'
}

# old_rras STEP: the layout before issue 11, AVERAGE and MAX of the step
# for a day, 1 min for 35 days, 1 h for 13 months.
old_rras() {
	awk -v s="$1" 'function up(a, b) { return int((a + b - 1) / b) }
	BEGIN {
		m = up(60, s); h = up(3600, s); d = up(86400, s); rm = up(35 * 86400, m * s); rh = up(396 * 86400, h * s)
		printf "RRA:AVERAGE:0.5:1:%d RRA:MAX:0.5:1:%d RRA:AVERAGE:0.5:%d:%d RRA:MAX:0.5:%d:%d ", d, d, m, rm, m, rm
		printf "RRA:AVERAGE:0.5:%d:%d RRA:MAX:0.5:%d:%d", h, rh, h, rh
	}'
}
OLD_COUNTERS="cpu cpu_user cpu_system vcpu vcpu_delay vcpu_wait disk_rd_bytes disk_wr_bytes disk_rd_reqs disk_wr_reqs
disk_rd_time disk_wr_time disk_fl_reqs disk_fl_time net_rx_bytes net_tx_bytes net_rx_pkts net_tx_pkts net_rx_errs
net_tx_errs net_rx_drop net_tx_drop"
OLD_GAUGES="vcpus mem_max mem_balloon mem_rss mem_usable mem_available mem_unused disk_capacity disk_allocation"

# ds_types FILE: "NAME TYPE" of each data source of FILE.
ds_types() {
	rrdtool info "$1" | awk '/^ds\[.*\]\.type / { n = $1; sub(/^ds\[/, "", n); sub(/\]\.type$/, "", n); t = $3; gsub("\"", "", t); print n, t }'
}

printf '%-44s %6s %4s %12s %10s\n' "layout" "step" "DS" "bytes/VM" "bytes/DS"
for step in $STEPS; do
	hb=$((2 * step))
	# vmeter
	RRD_PROBE_STEP=$step "$probe" write "$T/ours-$step" - vm-bench $START 2>"$T/probe.err" ||
		{ cat "$T/probe.err" >&2; exit 1; }
	ours=$(size "$T/ours-$step/vm-bench.rrd")
	nds=$(ds_types "$T/ours-$step/vm-bench.rrd" | wc -l)
	printf '%-44s %5ss %4d %12d %10d\n' "vmeter (one file)" "$step" "$nds" "$ours" $((ours / nds))

	# collectd: one file per data source of ours, of its type.
	mkdir -p "$T/collectd-$step"
	cd_total=0
	rras=$(collectd_rras "$step")
	ds_types "$T/ours-$step/vm-bench.rrd" >"$T/ds"
	while read -r name type; do
		f=$T/collectd-$step/$name.rrd
		# shellcheck disable=SC2086
		rrdtool create "$f" --step "$step" --start $START "DS:value:$type:$hb:0:U" $rras
		cd_total=$((cd_total + $(size "$f")))
	done <"$T/ds"
	printf '%-44s %5ss %4d %12d %10d\n' "collectd defaults (a file per DS)" "$step" "$nds" "$cd_total" \
		$((cd_total / nds))

	# The old layout: 31 data sources.
	hb=$((3 * step < 60 ? 60 : 3 * step))
	defs=$(old_rras "$step")
	for n in $OLD_COUNTERS; do defs="$defs DS:$n:DERIVE:$hb:0:U"; done
	for n in $OLD_GAUGES; do defs="$defs DS:$n:GAUGE:$hb:0:U"; done
	# shellcheck disable=SC2086
	rrdtool create "$T/old-$step.rrd" --step "$step" --start $START $defs
	old=$(size "$T/old-$step.rrd")
	printf '%-44s %5ss %4d %12d %10d\n' "old layout (before issue 11)" "$step" 31 "$old" $((old / 31))
	# What converting such a file costs (lib/rrdout.c does it once per
	# file, off the sampling thread): `rrdtool create --source`.
	t0=$(date +%s.%N)
	rrdtool create "$T/conv-$step.rrd" --template "$T/ours-$step/vm-bench.rrd" --source "$T/old-$step.rrd" \
		--step "$step" --start $START
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "  converting an old-layout file to vmeter'"'"'s: %.2f s\n", b - a }'
	rm -f "$T/old-$step.rrd" "$T/conv-$step.rrd"

	awk -v o="$ours" -v c="$cd_total" -v s="$step" 'BEGIN {
		printf "  step %s s: vmeter / collectd = %.3f (target <= 1: %s); per 1000 VMs %.2f GB vs %.2f GB\n",
			s, o / c, o <= c ? "met" : "NOT met", o * 1000 / 1e9, c * 1000 / 1e9
	}'
	rm -rf "$T/collectd-$step"
done
