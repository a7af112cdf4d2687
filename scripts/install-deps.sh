#!/bin/sh
# Installs what vmeter needs to build, run and test on Debian 12, and the
# system users libvirtd expects.  Idempotent; needs root.
set -eu
if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: run as root (it calls apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
PKGS="autoconf automake autoconf-archive make gcc pkg-config
libvirt-dev libvirt-daemon libvirt-clients libpcap-dev librrd-dev rrdtool rrdcached
libpq-dev postgresql-15 libevent-dev libconfuse-dev libjansson-dev libxml2-dev libcmocka-dev
libfaketime procps iproute2 file"
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
# libvirtd's QEMU driver refuses to start without its user and group,
# even when only the test driver is used.
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent group kvm >/dev/null || groupadd -r kvm
id libvirt-qemu >/dev/null 2>&1 || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
mkdir -p /var/log/libvirt /var/lib/libvirt
echo "install-deps.sh: dependencies ready"
