#!/bin/sh
# Installs what vmeter needs to build, run and test on Debian 12, and the
# system users libvirtd expects.  Idempotent; needs root.
set -eu
if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: run as root (it calls apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# clang and libclang-rt-dev (libFuzzer): tests/integration/fuzz-*.sh.
# libpango1.0-dev and libcairo2-dev: lib/doc renders PDF (the runtime
# libraries come with librrd already); poppler-utils: the tests read it.
# libsodium-dev, libssl-dev: vmeter-web's password hashes and tokens, its
# HTTPS; curl and jq: its tests.
# libsystemd-dev: sd_notify (READY, WATCHDOG); systemd: systemd-analyze
# verifies the units in tests (systemd need not be running).
# dpkg-dev, debhelper, lintian: tests/integration/deb.sh builds the Debian
# packages (debian/) and runs lintian on them.
# chromium, nodejs: tests/integration/web-browser.sh drives the web UI in
# headless chromium with playwright-core (installed by the test with npm,
# pinned in tests/browser/package.json; npm below).
PKGS="autoconf automake autoconf-archive make gcc pkg-config
libcairo2-dev libpango1.0-dev poppler-utils fonts-dejavu-core
libsystemd-dev systemd
dpkg-dev debhelper lintian
libvirt-dev libvirt-daemon libvirt-clients libpcap-dev librrd-dev rrdtool rrdcached
libpq-dev postgresql-15 libevent-dev libconfuse-dev libjansson-dev libxml2-dev libcmocka-dev
clang libclang-rt-dev
libfaketime procps iproute2 file
libsodium-dev libssl-dev curl jq
chromium nodejs
libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils busybox-static cpio xz-utils"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "install-deps.sh: installing$missing"
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# npm: Debian's package where nodejs is Debian's (a nodesource nodejs
# brings its own npm, and Debian's npm would conflict with it).
if ! command -v npm >/dev/null 2>&1; then
	echo "install-deps.sh: installing npm"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
# Not libvirt-daemon-system: it pulls in libvirt-daemon-config-network,
# whose autostarted 'default' NAT network would turn IP forwarding on.
# libvirtd's QEMU driver refuses to start without its user and group,
# even when only the test driver is used.
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent group kvm >/dev/null || groupadd -r kvm
id libvirt-qemu >/dev/null 2>&1 || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
mkdir -p /var/log/libvirt /var/lib/libvirt

# tests/integration/qemu-guest.sh runs a real QEMU guest (TCG) under the
# system libvirtd (qemu:///system) as root.  QEMU runs as root without a
# security driver and libvirt does not chown the test's files; no private
# mount namespace either, because it needs / to be a mount point, which a
# chroot's / is not.  Each setting is written once (a line we wrote carries
# the marker comment; an existing setting of the same key is commented out).
QEMU_CONF=/etc/libvirt/qemu.conf
mkdir -p /etc/libvirt
touch "$QEMU_CONF"
for kv in 'user = "root"' 'group = "root"' 'security_driver = "none"' 'dynamic_ownership = 0' 'namespaces = []'; do
	key=${kv%% *}
	grep -Fqx "$kv # vmeter-test" "$QEMU_CONF" && continue
	sed -i "s/^[[:space:]]*${key}[[:space:]]*=/# (vmeter-test) &/" "$QEMU_CONF"
	echo "$kv # vmeter-test" >>"$QEMU_CONF"
done

# The guest's kernel: the linux-image package that linux-image-amd64 points
# at now, as a .deb in /var/cache/vmeter-test (the test extracts vmlinuz and
# the virtio modules from it, and reads nothing else from the network).
KCACHE=/var/cache/vmeter-test
mkdir -p "$KCACHE"
kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*-amd64\)$/\1/p' | head -1
}
kernel_get() { # kernel_get PACKAGE: downloads it into $KCACHE
	[ -n "$1" ] || return 1
	ls "$KCACHE/${1}_"*.deb >/dev/null 2>&1 && return 0
	echo "install-deps.sh: downloading $1 for the test guest"
	tmp=$(mktemp -d)
	chmod 755 "$tmp"
	(cd "$tmp" && apt-get download -qq "$1" 2>/dev/null) && mv "$tmp/${1}_"*.deb "$KCACHE/"
	rc=$?
	rm -rf "$tmp"
	return $rc
}
kpkg=$(kernel_pkg)
if ! kernel_get "$kpkg"; then
	# An outdated package list names a kernel the archive no longer has.
	apt-get update -qq
	kpkg=$(kernel_pkg)
	kernel_get "$kpkg" || { echo "install-deps.sh: cannot download the test guest's kernel ($kpkg)" >&2; exit 1; }
fi
deb=$(ls "$KCACHE/${kpkg}_"*.deb | tail -1)
ln -sf "$(basename "$deb")" "$KCACHE/kernel.deb"
# Older kernels are of no further use.
for f in "$KCACHE"/linux-image-*.deb; do
	[ "$f" = "$deb" ] || rm -f "$f"
done

echo "install-deps.sh: dependencies ready"
