#!/bin/sh
# Creates the 'vmeter' system group and user (no login, no home) if they
# are missing, and the collector's state directory with that group:
#   scripts/create-sysuser.sh [STATE_DIR]
# The capture worker drops to 'vmeter' (collector/capture_worker.c), and the
# group owns what the collector writes (lib/fsutil.h: vm_mkdir_shared()).
# Run by `make install` as root (not for DESTDIR or unprivileged installs)
# and by scripts/demo.sh.  SYSROOT=DIR works on DIR/etc instead of /etc
# (useradd --prefix), for tests.  Idempotent.
set -eu
root=${SYSROOT:-}
pfx=${root:+--prefix $root}
have() { # have group|passwd NAME
	if [ -n "$root" ]; then
		[ "$1" = group ] && f=$root/etc/group || f=$root/etc/passwd
		grep -q "^$2:" "$f"
	else
		getent "$1" "$2" >/dev/null
	fi
}
nologin=$(command -v nologin || echo /usr/sbin/nologin)
if ! have group vmeter; then
	# shellcheck disable=SC2086
	groupadd -r $pfx vmeter
	echo "created system group 'vmeter'"
fi
if ! have passwd vmeter; then
	# shellcheck disable=SC2086
	useradd -r $pfx -g vmeter -M -d /nonexistent -s "$nologin" -c "vmeter traffic capture" vmeter
	echo "created system user 'vmeter'"
fi
if [ $# -ge 1 ] && [ ! -d "$root$1" ]; then
	# 2750: files made in it inherit the group (see vm_mkdir_shared()).
	mkdir -p "$root$1"
	if [ -n "$root" ]; then
		chgrp "$(awk -F: '$1 == "vmeter" { print $3 }' "$root/etc/group")" "$root$1"
	else
		chgrp vmeter "$1"
	fi
	chmod 2750 "$root$1"
	echo "created '$1' (group vmeter, mode 2750)"
fi
