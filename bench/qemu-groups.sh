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
KERNEL_DEB=${VMETER_KERNEL_DEB:-/var/cache/vmeter-test/kernel.deb}
QEMU=/usr/bin/qemu-system-x86_64
URI=qemu:///system
# shellcheck source=../tests/lib.sh
. "$top_srcdir/tests/lib.sh"
[ "$(id -u)" = 0 ] || bail "needs root"
[ -r "$KERNEL_DEB" ] || bail "no guest kernel in $KERNEL_DEB (scripts/install-deps.sh)"
PREFIX=vmbench-$$
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------ the guest
# Idle: loads the virtio modules and sleeps.  Busy (vmeter_busy on the
# kernel command line): a shell loop on its vCPU, forever.
INIT_SCRIPT='#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod /modules/$m; done
echo "VMETER booted"
if grep -q vmeter_busy /proc/cmdline; then while :; do :; done; fi
while :; do sleep 3600; done
'
WANT_MODULES="virtio_pci virtio_blk virtio_net virtio_balloon"
build_guest() {
	_out=$1 _x=$T/kernel
	mkdir -p "$_x" "$T/initrd/modules" "$T/initrd/bin"
	dpkg-deb --fsys-tarfile "$KERNEL_DEB" | tar -x -C "$_x" --wildcards './boot/vmlinuz-*' \
		'./lib/modules/*/kernel/drivers/virtio/*' './lib/modules/*/kernel/drivers/block/virtio_blk.ko*' \
		'./lib/modules/*/kernel/drivers/net/*.ko*' './lib/modules/*/kernel/net/core/failover.ko*' || return 1
	_order=""
	add_module() {
		case " $_order " in *" $1 "*) return 0 ;; esac
		_f=$(find "$_x/lib/modules" -name "$1.ko" -o -name "$1.ko.xz" | head -1)
		[ -n "$_f" ] || return 1
		case $_f in *.xz) xz -dc "$_f" >"$T/initrd/modules/$1.ko" ;; *) cp "$_f" "$T/initrd/modules/$1.ko" ;; esac
		for _d in $(tr '\0' '\n' <"$T/initrd/modules/$1.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
			add_module "$_d" || return 1
		done
		_order="$_order $1"
	}
	for m in $WANT_MODULES; do add_module "$m" || return 1; done
	for m in $_order; do echo "$m.ko"; done >"$T/initrd/modules/order"
	cp /bin/busybox "$T/initrd/bin/busybox"
	mkdir -p "$T/initrd/proc" "$T/initrd/sys" "$T/initrd/dev"
	printf '%s\n' "$INIT_SCRIPT" >"$T/initrd/init"
	chmod 755 "$T/initrd/init"
	mkdir -p "$_out.tmp"
	cp "$_x"/boot/vmlinuz-* "$_out.tmp/vmlinuz"
	(cd "$T/initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$_out.tmp/initrd.gz" || return 1
	rm -rf "$_out" && mv "$_out.tmp" "$_out"
}
key=$(basename "$(readlink -f "$KERNEL_DEB")" .deb)-$(printf '%s %s' "$INIT_SCRIPT" "$WANT_MODULES" | cksum | cut -d' ' -f1)
CACHE=${TMPDIR:-/tmp}/vmeter-bench-guest/$key
[ -s "$CACHE/initrd.gz" ] || { mkdir -p "$(dirname "$CACHE")" && build_guest "$CACHE"; } || bail "cannot build the guest"

# ------------------------------------------------------------ libvirtd
mkdir -p /var/log/libvirt /var/lib/libvirt /var/cache/libvirt
if ! { [ -S /run/libvirt/virtlogd-sock ] && [ -f /run/virtlogd.pid ] && kill -0 "$(cat /run/virtlogd.pid)" 2>/dev/null; }; then
	virtlogd -d </dev/null >/dev/null 2>&1 || bail "cannot start virtlogd"
fi
if ! virsh -q -c "$URI" version >/dev/null 2>&1; then
	libvirtd -d </dev/null >/dev/null 2>&1 || bail "cannot start libvirtd"
	wait_for 60 virsh -q -c "$URI" version || bail "libvirtd does not answer on $URI"
fi
# The daemon serving qemu:///system: libvirtd, or virtqemud (modular).
DAEMON_PID=$(cat /run/libvirtd.pid 2>/dev/null || cat /run/virtqemud.pid 2>/dev/null)
kill -0 "$DAEMON_PID" 2>/dev/null || bail "cannot find the pid of the daemon behind $URI"

guests_cleanup() {
	for k in $(seq "$GUESTS"); do
		virsh -q -c "$URI" destroy "$PREFIX-$k" >/dev/null 2>&1
		ip link del "vmb$$k$k" >/dev/null 2>&1
	done
}
on_cleanup guests_cleanup
for k in $(seq "$GUESTS"); do
	tap=vmb$$k$k
	ip tuntap add dev "$tap" mode tap || bail "cannot create tap $tap"
	ip link set dev "$tap" addrgenmode none
	sysctl -q -w "net.ipv6.conf.$tap.accept_ra=0" "net.ipv6.conf.$tap.forwarding=0" "net.ipv4.conf.$tap.forwarding=0" >/dev/null
	ip link set dev "$tap" up
	qemu-img create -q -f raw "$T/disk$k.raw" 64M
	busy=""
	[ "$k" -le "$BUSY" ] && busy=" vmeter_busy"
	cat >"$T/dom$k.xml" <<EOF
<domain type='qemu'>
  <name>$PREFIX-$k</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>$CACHE/vmlinuz</kernel><initrd>$CACHE/initrd.gz</initrd>
    <cmdline>console=ttyS0 quiet loglevel=3 panic=-1$busy</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>$QEMU</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$T/disk$k.raw'/><target dev='vda' bus='virtio'/></disk>
    <interface type='ethernet'><target dev='$tap' managed='no'/><model type='virtio'/></interface>
    <serial type='file'><source path='$T/console$k.log'/><target port='0'/></serial>
    <memballoon model='virtio'><stats period='10'/></memballoon>
  </devices>
</domain>
EOF
	virsh -q -c "$URI" create "$T/dom$k.xml" >/dev/null || bail "cannot start guest $k"
done
booted() { [ "$(cat "$T"/console*.log 2>/dev/null | grep -c 'VMETER booted')" -ge "$GUESTS" ]; }
wait_for "$GUESTS guests booted" 300 booted || bail "the guests did not boot"
sleep 5
QEMU_PIDS=$(pgrep -f "guest=$PREFIX-" | tr '\n' ' ')
[ "$(echo "$QEMU_PIDS" | wc -w)" = "$GUESTS" ] || bail "found QEMU processes '$QEMU_PIDS' for $GUESTS guests"

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
