#!/bin/bash
# Frames per second classified from a large pcap file by vmeter (collector/pktclass
# through libpcap, bench/vmeter-bench-classify) beside `tcpdump -r FILE -w
# /dev/null` (the libpcap read floor) and pmacctd (Debian's pmacct) on the
# same file, in the same run, alternating.  Targets: vmeter at least 0.5 of
# tcpdump's rate and at least 5 times pmacctd's.  A benchmark, not a test:
# it prints the figures and exits 0 whatever they are; non-zero only if
# something broke (also if a program's totals are not those the capture was
# written with).  See bench/README.md.
#
#   bench/classify-vs-tcpdump.sh
#   FRAMES=20000000 REPS=5 bench/classify-vs-tcpdump.sh
#
# Environment:
#   FRAMES=10000000 VMS=400 SNAPLEN=128 SEED=1
#                    the capture bench/vmeter-bench-gen-pcap writes (SNAPLEN 0:
#                    whole frames); kept and reused
#   PCAP_DIR=/var/tmp/vmeter-bench   where it is kept
#   REPS=3           repetitions of every program
#   PM_BUFFER=10240000 PM_PIPE=1024000000
#                    pmacctd's plugin_buffer_size and plugin_pipe_size
#   VMETER_BUILD     a build tree to use as it is; by default an optimised copy
#                    of this tree is built (or brought up to date) in
#                    /tmp/vmbench-classify-build (-O2 -g, no sanitizers)
#   KEEP_TMP=1       keep the run directory (configurations, logs, outputs)
#
# tcpdump and pmacct are installed with apt-get when missing (as root).
set -u
export LC_ALL=C

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
FRAMES=${FRAMES:-10000000}
VMS=${VMS:-400}
SNAPLEN=${SNAPLEN:-128}
SEED=${SEED:-1}
REPS=${REPS:-3}
PM_BUFFER=${PM_BUFFER:-10240000}
PM_PIPE=${PM_PIPE:-1024000000}
PCAP_DIR=${PCAP_DIR:-/var/tmp/vmeter-bench}

die() {
	echo "classify-vs-tcpdump: $*" >&2
	[ -n "${T:-}" ] && KEEP_TMP=1
	exit 1
}
say() { echo "# $(date -u +%H:%M:%S) $*"; }

case "$FRAMES$VMS$SNAPLEN$SEED$REPS$PM_BUFFER$PM_PIPE" in *[!0-9]*) die "FRAMES, VMS, SNAPLEN, SEED, REPS, PM_* must be whole numbers" ;; esac
{ [ "$REPS" -ge 1 ] && [ "$FRAMES" -ge 1 ]; } || die "REPS and FRAMES must be at least 1"

# --- tools
missing=""
command -v tcpdump >/dev/null 2>&1 || missing="$missing tcpdump"
command -v pmacctd >/dev/null 2>&1 || missing="$missing pmacct"
if [ -n "$missing" ]; then
	[ "$(id -u)" = 0 ] || die "missing:$missing (apt-get install$missing, as root)"
	say "installing$missing"
	# shellcheck disable=SC2086 # one word per package
	DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >/dev/null || die "apt-get install$missing failed"
fi
TCPDUMP=$(command -v tcpdump)
PMACCTD=$(command -v pmacctd)

# --- an optimised build (the in-tree one may have sanitizers)
# shellcheck source=opt-build.sh
. "$top_srcdir/bench/opt-build.sh"
opt_build /tmp/vmbench-classify-build bench/vmeter-bench-gen-pcap bench/vmeter-bench-classify || die "no optimised build"
GEN=$VMETER_BUILD/bench/vmeter-bench-gen-pcap
CLASSIFY=$VMETER_BUILD/bench/vmeter-bench-classify
{ [ -x "$CLASSIFY" ] && [ -x "$GEN" ]; } || die "no $CLASSIFY or $GEN"
if ldd "$CLASSIFY" | grep -q libasan; then
	echo "# warning: $CLASSIFY is built with ASan: the figures are not representative"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/vmeter-classify.XXXXXX") || die "mktemp failed"
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "# run files kept in $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- the capture, and a one-frame capture for pmacctd's fixed costs
mkdir -p "$PCAP_DIR" || die "cannot create $PCAP_DIR"
PCAP=$PCAP_DIR/classify-$FRAMES-$VMS-$SNAPLEN-$SEED.pcap
ONE=$PCAP_DIR/classify-1-$VMS-$SNAPLEN-$SEED.pcap
if [ ! -f "$PCAP" ] || [ ! -f "$PCAP.setup" ]; then
	per_frame=$((16 + (SNAPLEN == 0 || SNAPLEN > 560 ? 560 : SNAPLEN)))
	need_mb=$((FRAMES * per_frame / 1000000 + 100))
	free_mb=$(($(df -Pk "$PCAP_DIR" | awk 'NR == 2 { print $4 }') / 1024))
	[ "$free_mb" -ge "$need_mb" ] || die "the capture needs about $need_mb MB in $PCAP_DIR, $free_mb MB are free; set PCAP_DIR or FRAMES"
	say "writing $PCAP ($FRAMES frames, $VMS VMs, snaplen $SNAPLEN)"
	"$GEN" "$PCAP" "$FRAMES" "$VMS" "$SNAPLEN" "$SEED" || die "cannot write the capture"
fi
{ [ -f "$ONE" ] && [ -f "$ONE.setup" ]; } || "$GEN" "$ONE" 1 "$VMS" "$SNAPLEN" "$SEED" >/dev/null || die "cannot write $ONE"
pcap_bytes=$(stat -c %s "$PCAP")
read -r _ n_frames _ wire_bytes _ cap_bytes _ <<<"$(grep '^frames ' "$PCAP.setup")"
[ "$n_frames" = "$FRAMES" ] || die "$PCAP.setup: $n_frames frames, want $FRAMES"
avail_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
[ $((pcap_bytes / 1024)) -lt $((avail_kb * 3 / 4)) ] ||
	echo "# warning: the capture ($((pcap_bytes >> 20)) MiB) may not stay in the page cache (MemAvailable $((avail_kb >> 10)) MiB): disk reads will be in the figures"

# --- pmacctd: the same classes as a networks file, aggregated per MAC pair,
# VLAN, EtherType and source and destination network, so that the totals per
# VM, class and direction can be computed from its output as vmeter counts
# them; the print plugin writes them once, at the end.
awk '$1 == "class" { print $3 }' "$PCAP.setup" >"$T/networks.lst"
pm_conf() { # FILE OUTPUT
	cat <<EOF
daemonize: false
pcap_savefile: $1
pcap_savefile_wait: false
networks_file: $T/networks.lst
plugins: print[cls]
aggregate[cls]: src_mac, dst_mac, vlan, etype, src_net, dst_net
print_output[cls]: csv
print_output_file[cls]: $2
print_refresh_time[cls]: 86400
plugin_buffer_size[cls]: $PM_BUFFER
plugin_pipe_size[cls]: $PM_PIPE
EOF
}
pm_conf "$PCAP" "$T/pmacct.csv" >"$T/pmacctd.conf"
pm_conf "$ONE" "$T/pmacct-one.csv" >"$T/pmacctd-one.conf"

# pmacctd's output as vmeter's totals: a frame from a VM's MAC is its tx, in
# the class of the destination network; to a VM's MAC its rx, in the class of
# the source network; bytes are the IP packet's, plus 14 of Ethernet header
# and 4 per VLAN tag.  Non-IP frames (ARP) are not in its output.
pm_totals() { # SETUP CSV
	awk -F, '
	function cls(net) {
		if (net in C) return C[net]
		return dflt
	}
	FNR == NR {
		split($0, f, " ")
		if (f[1] == "vm") vm[f[3]] = 1
		else if (f[1] == "default") dflt = f[2]
		else if (f[1] == "class") { split(f[3], a, "/"); C[a[1]] = f[2] }
		next
	}
	/^SRC_MAC/ { for (i = 1; i <= NF; i++) col[$i] = i; next }
	{
		p = $col["PACKETS"]; b = $col["BYTES"] + p * (14 + ($col["VLAN"] != 0 ? 4 : 0))
		hit = 0
		if ($col["SRC_MAC"] in vm) { k = cls($col["DST_NET"]) " tx"; P[k] += p; B[k] += b; hit = 1 }
		if ($col["DST_MAC"] in vm) { k = cls($col["SRC_NET"]) " rx"; P[k] += p; B[k] += b; hit = 1 }
		if (!hit) { up += p; ub += b }
	}
	END {
		for (k in P) printf "expect %s %.0f %.0f\n", k, B[k], P[k]
		printf "unattributed %.0f %.0f\n", ub, up
	}' "$1" "$2" | sort
}

# --- runs
{
	echo "the capture $PCAP:"
	echo "  $n_frames frames, $wire_bytes bytes on the wire, $cap_bytes captured (snaplen $SNAPLEN), file $pcap_bytes bytes, $VMS VMs"
	echo "  tcpdump: $($TCPDUMP --version 2>&1 | head -1); pmacctd: $($PMACCTD -V 2>&1 | head -1)"
	echo "  pmacctd: plugin_buffer_size $PM_BUFFER, plugin_pipe_size $PM_PIPE"
	echo "  $(nproc) CPUs, $(awk '/^model name/ { $1 = $2 = $3 = ""; print; exit }' /proc/cpuinfo | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
} | sed 's/^/# /'
say "reading the capture into the page cache"
cat "$PCAP" "$ONE" >/dev/null

# timed NAME COMMAND...: one run under bash's `time` (wall, and user + sys
# of the process and of every descendant it waited for: pmacctd's core
# waits for its plugin), appended to $T/times as "NAME WALL CPU"; its
# stdout and stderr in $T/NAME.out.
timed() {
	local name=$1 rc
	shift
	TIMEFORMAT='%3R %3U %3S'
	{ time "$@" >"$T/$name.out" 2>&1; } 2>"$T/time.tmp"
	rc=$?
	[ "$rc" = 0 ] || {
		cat "$T/$name.out" >&2
		die "$name failed (exit $rc): $*"
	}
	awk -v n="$name" '{ printf "%s %s %.3f\n", n, $1, $2 + $3 }' "$T/time.tmp" >>"$T/times"
}

: >"$T/times"
for rep in $(seq 1 "$REPS"); do
	say "repetition $rep of $REPS"
	timed tcpdump "$TCPDUMP" -r "$PCAP" -w /dev/null
	timed vmeter "$CLASSIFY" -m dispatch "$PCAP"
	grep -q 'expected match' "$T/vmeter.out" || { cat "$T/vmeter.out"; die "vmeter's totals are not the expected ones"; }
	timed pmacctd "$PMACCTD" -f "$T/pmacctd.conf"
	pm_totals "$PCAP.setup" "$T/pmacct.csv" >"$T/pmacct.totals"
	# Every IP class and direction the capture holds, and the unattributed.
	grep -E '^(expect|unattributed) ' "$PCAP.setup" | grep -v ' non-ip ' | sort >"$T/want.totals"
	cmp -s "$T/pmacct.totals" "$T/want.totals" || {
		diff "$T/want.totals" "$T/pmacct.totals"
		die "pmacctd's totals are not the expected ones"
	}
	timed pmacctd-1frame "$PMACCTD" -f "$T/pmacctd-one.conf"
	timed vmeter-next_ex "$CLASSIFY" -m next_ex "$PCAP"
	timed libpcap-read "$CLASSIFY" -m read "$PCAP"
done

# --- figures: median (min - max) of wall and CPU seconds per program
stat_of() { # NAME FIELD(2 wall, 3 cpu) -> "median min max"
	awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$T/times" | sort -n |
		awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'
}
read -r tw_med tw_min tw_max <<<"$(stat_of tcpdump 2)"
read -r tc_med tc_min tc_max <<<"$(stat_of tcpdump 3)"
read -r vw_med vw_min vw_max <<<"$(stat_of vmeter 2)"
read -r vc_med vc_min vc_max <<<"$(stat_of vmeter 3)"
read -r pw_med pw_min pw_max <<<"$(stat_of pmacctd 2)"
read -r pc_med pc_min pc_max <<<"$(stat_of pmacctd 3)"
read -r bw_med bw_min bw_max <<<"$(stat_of pmacctd-1frame 2)"
read -r bc_med bc_min bc_max <<<"$(stat_of pmacctd-1frame 3)"
read -r nw_med nw_min nw_max <<<"$(stat_of vmeter-next_ex 2)"
read -r nc_med nc_min nc_max <<<"$(stat_of vmeter-next_ex 3)"
read -r rw_med rw_min rw_max <<<"$(stat_of libpcap-read 2)"
read -r rc_med rc_min rc_max <<<"$(stat_of libpcap-read 3)"

awk -v n="$n_frames" -v reps="$REPS" \
	-v tw="$tw_med" -v tw0="$tw_min" -v tw1="$tw_max" -v tc="$tc_med" -v tc0="$tc_min" -v tc1="$tc_max" \
	-v vw="$vw_med" -v vw0="$vw_min" -v vw1="$vw_max" -v vc="$vc_med" -v vc0="$vc_min" -v vc1="$vc_max" \
	-v pw="$pw_med" -v pw0="$pw_min" -v pw1="$pw_max" -v pc="$pc_med" -v pc0="$pc_min" -v pc1="$pc_max" \
	-v bw="$bw_med" -v bw0="$bw_min" -v bw1="$bw_max" -v bc="$bc_med" -v bc0="$bc_min" -v bc1="$bc_max" \
	-v nw="$nw_med" -v nw0="$nw_min" -v nw1="$nw_max" -v nc="$nc_med" -v nc0="$nc_min" -v nc1="$nc_max" \
	-v rw="$rw_med" -v rw0="$rw_min" -v rw1="$rw_max" -v rc="$rc_med" -v rc0="$rc_min" -v rc1="$rc_max" '
	function rate(s) { return s > 0 ? sprintf("%.2f M", n / s / 1e6) : "-" }
	function row(name, w, w0, w1, c, c0, c1) {
		printf "| %s | %.3f (%.3f – %.3f) | %.3f (%.3f – %.3f) | %s | %s |\n", name, w, w0, w1, c, c0, c1, rate(w), rate(c)
	}
	BEGIN {
		# pmacctd sleeps 2 s before reading a savefile and 2 s after it,
		# and clears its pipe at start: its one-frame run is that cost.
		pnw = pw - bw; pnc = pc - bc
		printf "\n%d repetitions, median (min – max); frames/s = frames of the capture / seconds\n\n", reps
		print "| program | wall s | CPU s (user + sys) | frames/s (wall) | frames per CPU s |"
		print "|---|---:|---:|---:|---:|"
		row("tcpdump -r FILE -w /dev/null", tw, tw0, tw1, tc, tc0, tc1)
		row("vmeter (pcap_dispatch + vm_pkt_account)", vw, vw0, vw1, vc, vc0, vc1)
		row("pmacctd, whole run", pw, pw0, pw1, pc, pc0, pc1)
		printf "| pmacctd on a one-frame file (fixed cost) | %.3f (%.3f – %.3f) | %.3f (%.3f – %.3f) | | |\n", bw, bw0, bw1, bc, bc0, bc1
		printf "| pmacctd, whole run − fixed cost | %.3f | %.3f | %s | %s |\n", pnw, pnc, rate(pnw), rate(pnc)
		row("vmeter with pcap_next_ex", nw, nw0, nw1, nc, nc0, nc1)
		row("libpcap read only (pcap_dispatch, empty callback)", rw, rw0, rw1, rc, rc0, rc1)
		printf "\nvmeter / tcpdump, frames/s (wall):              %.2f  (target >= 0.5)\n", tw / vw
		# pmacctd runs two processes (its core and its plugin) on the
		# two cores, so its wall time can be below its CPU time: the
		# target is judged on both, the lower is what counts.
		printf "vmeter / pmacctd without fixed cost (wall):     %.2f  (target >= 5: %s)\n", pnw / vw, pnw / vw >= 5 ? "met" : "MISSED"
		printf "vmeter / pmacctd without fixed cost, per CPU s: %.2f  (target >= 5: %s)\n", pnc / vc, pnc / vc >= 5 ? "met" : "MISSED"
		printf "vmeter / pmacctd whole run (wall):              %.2f\n", pw / vw
		printf "vmeter / pmacctd whole run, per CPU s:          %.2f\n", pc / vc
		printf "vmeter / tcpdump, frames per CPU s:             %.2f\n", tc / vc
		printf "classification cost over the read: %.1f ns per frame (wall), dispatch / next_ex %.2f\n",
			(vw - rw) / n * 1e9, nw / vw
	}'
echo
echo "vmeter's totals (match the capture's, as do pmacctd's for the IP classes):"
sed -n '/^class /,$p' "$T/vmeter.out"
exit 0
