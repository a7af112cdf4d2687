# shellcheck shell=bash
# Real QEMU guests for the benchmarks (sourced by bench/qemu-groups.sh and
# bench/qemu-vs-collectd.sh after tests/lib.sh): start_guests N BUSY starts
# N transient TCG guests under qemu:///system (the recipe of
# tests/integration/qemu-guest.sh), the first BUSY of them spinning on
# their vCPU, the others idle; sets PREFIX (their names are PREFIX-k),
# QEMU_PIDS and DAEMON_PID (libvirtd or virtqemud).  The guests go at exit.
# Their taps get no address, are in no bridge and have forwarding off; the
# guests bring no interface up, so they send nothing.
KERNEL_DEB=${VMETER_KERNEL_DEB:-/var/cache/vmeter-test/kernel.deb}
QEMU=/usr/bin/qemu-system-x86_64
URI=qemu:///system
PREFIX=vmbench-$$

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
# shellcheck source=../tests/qemu-image.sh
. "$top_srcdir/tests/qemu-image.sh"
key=$(basename "$(readlink -f "$KERNEL_DEB")" .deb)-$(printf '%s %s' "$INIT_SCRIPT" "$WANT_MODULES" | cksum | cut -d' ' -f1)
CACHE=${TMPDIR:-/tmp}/vmeter-bench-guest/$key


start_guests() {
	GUESTS=$1 BUSY=$2
	[ "$(id -u)" = 0 ] || bail "needs root"
	[ -r "$KERNEL_DEB" ] || bail "no guest kernel in $KERNEL_DEB (scripts/install-deps.sh)"
	[ -s "$CACHE/initrd.gz" ] || { mkdir -p "$(dirname "$CACHE")" && build_guest "$CACHE"; } || bail "cannot build the guest"
	# libvirtd
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
		cat >"$T/dom$k.xml" <<-EOF
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
	wait_for "$GUESTS guests booted" 900 booted || bail "the guests did not boot"
	sleep 5
	QEMU_PIDS=$(pgrep -f "guest=$PREFIX-" | tr '\n' ' ')
	[ "$(echo "$QEMU_PIDS" | wc -w)" = "$GUESTS" ] || bail "found QEMU processes '$QEMU_PIDS' for $GUESTS guests"
}
