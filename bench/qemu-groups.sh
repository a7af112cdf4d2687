#!/bin/bash
# What each libvirt bulk-stats group costs on real QEMU guests: N TCG guests
# under qemu:///system (the recipe of tests/integration/qemu-guest.sh), and
# for each group virConnectGetAllDomainStats for that group alone, CALLS
# times in one virsh process, against a window of the same length without
# calls.  Prints, per group and round, the CPU per domain-call of libvirtd,
# of the QEMU processes (beyond the baseline window) and of the client, and
# the median over the rounds.  A benchmark, not a test.
#
#   bench/qemu-groups.sh                 8 guests (1 busy), 40 calls a group, 3 rounds
#   GUESTS=12 BUSY=0 CALLS=20 ROUNDS=5 bench/qemu-groups.sh
#   PERF=1 ...                           also a perf profile of libvirtd and QEMU per group
#
# Needs root and what qemu-guest.sh needs (scripts/install-deps.sh).  The
# guests are transient (virsh create) and named vmbench-<pid>-<k>; their
# taps get no address, are in no bridge and have forwarding off; the guests
# send nothing (they bring no interface up).
set -u
export LC_ALL=C
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=${top_builddir:-$top_srcdir}
GUESTS=${GUESTS:-8}
BUSY=${BUSY:-1}
CALLS=${CALLS:-40}
ROUNDS=${ROUNDS:-3}
PERF=${PERF:-0}
# shellcheck source=../tests/lib.sh
. "$top_srcdir/tests/lib.sh"
CLK_TCK=$(getconf CLK_TCK)

# shellcheck source=qemu-guests.sh
. "$top_srcdir/bench/qemu-guests.sh"
start_guests "$GUESTS" "$BUSY"

ticks() { for p in "$@"; do sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null; done | awk '{ t += $12 + $13 } END { print t + 0 }'; }
# ms CPU per domain-call from a tick difference
per_call() { awk -v t="$1" -v hz="$CLK_TCK" -v n=$((CALLS * GUESTS)) 'BEGIN { printf "%.3f", 1000 * t / hz / n }'; }

GROUPS_LIST="state cpu-total balloon vcpu interface block all"
group_flags() {
	case $1 in
	all) echo "--state --cpu-total --balloon --vcpu --interface --block" ;;
	*) echo "--$1" ;;
	esac
}
out=$T/results
diag "$GUESTS TCG guests ($BUSY busy), $CALLS calls a group, $ROUNDS rounds; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
	# Alternate the order of the groups from round to round.
	list=$GROUPS_LIST
	[ $((r % 2)) = 0 ] && list=$(echo "$GROUPS_LIST" | tr ' ' '\n' | tac | tr '\n' ' ')
	for g in $list; do
		cmds=""
		for _ in $(seq "$CALLS"); do cmds="$cmds domstats --list-active $(group_flags "$g");"; done
		d0=$(ticks "$DAEMON_PID") q0=$(ticks $QEMU_PIDS) w0=$(date +%s%N)
		[ "$PERF" = 1 ] && { perf record -q -g -o "$T/perf-$g-$r.data" -p "$DAEMON_PID,$(echo $QEMU_PIDS | tr ' ' ',')" 2>/dev/null & perf_pid=$!; }
		client=$( { /usr/bin/time -f '%U %S' virsh -q -c "$URI" "$cmds" >/dev/null; } 2>&1 | tail -1)
		w1=$(date +%s%N) d1=$(ticks "$DAEMON_PID") q1=$(ticks $QEMU_PIDS)
		[ "$PERF" = 1 ] && { kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null; }
		# The baseline: as long again without calls.
		b0=$(ticks $QEMU_PIDS) bd0=$(ticks "$DAEMON_PID")
		sleep "$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
		b1=$(ticks $QEMU_PIDS) bd1=$(ticks "$DAEMON_PID")
		c=$(echo "$client" | awk -v hz="$CLK_TCK" '{ printf "%d", ($1 + $2) * hz }')
		echo "$r $g $((d1 - d0 - (bd1 - bd0))) $((q1 - q0 - (b1 - b0))) $c $(((w1 - w0) / 1000000)) $(cut -d' ' -f1 /proc/loadavg)" >>"$out"
	done
done

echo
echo "ms CPU per domain-call (median of $ROUNDS rounds, range), $GUESTS guests ($BUSY busy), $CALLS calls per group and round:"
printf '%-10s %22s %22s %22s %12s\n' group "libvirtd (over idle)" "QEMU (over idle)" "client (virsh)" "wall ms/call"
for g in $GROUPS_LIST; do
	awk -v g="$g" -v hz="$CLK_TCK" -v n=$((CALLS * GUESTS)) -v calls="$CALLS" '
		function med(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
		function cell(a, k) { m = med(a, k); return sprintf("%.3f (%.3f-%.3f)", m, a[1], a[k]) }
		$2 == g { k++; d[k] = 1000 * $3 / hz / n; q[k] = 1000 * $4 / hz / n; c[k] = 1000 * $5 / hz / n; w[k] = $6 / calls }
		END { printf "%-10s %22s %22s %22s %12.1f\n", g, cell(d, k), cell(q, k), cell(c, k), med(w, k) }' "$out"
done
echo "(a domain-call: one domain's record in one virConnectGetAllDomainStats; CPU over idle = the window with calls minus"
echo " a window as long without; load averages during the rounds: $(awk '{ print $7 }' "$out" | sort -g | sed -n '1p;$p' | tr '\n' ' '))"
if [ "$PERF" = 1 ]; then
	for g in $GROUPS_LIST; do
		echo
		echo "perf, group $g (round 1): top symbols of libvirtd and QEMU"
		perf report -q -i "$T/perf-$g-1.data" --no-children --sort comm,dso,sym 2>/dev/null | head -15
	done
fi
