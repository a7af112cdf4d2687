#!/bin/bash
# The Debian packages on a new machine, as root, meant to run inside
# ../shared/tools/fresh-machine (a Debian 12 chroot, systemd not running):
#   ../shared/tools/fresh-machine run 'bash scripts/deb-check.sh'
# Installs the build dependencies (mk-build-deps), builds the packages
# twice (this version, and a copy with a local version bump by dch), then
# removes the build dependencies so that `apt install ./*.deb` must bring
# what the packages need.  Installs them, runs the collector's unit
# commands (ExecStartPre, ExecStart) as user vmeter against libvirt's test
# driver (a libvirtd of its own, tests/lib.sh) and a private PostgreSQL,
# checks rows arrive, installs the higher version while the collector runs,
# restarts it as systemd's restart-after-upgrade would, and checks that no
# VM-minute was lost; then a downgrade (refused), and a purge, after which
# only what Debian policy keeps may be left (the vmeter user).  Prints TAP.
# Not for a machine of value: it installs and purges packages and users.
# Differences from systemd running the unit: no sandbox, no capability
# (no traffic classes are configured), and ExecStart without -s (no
# syslog in a chroot: the log goes to a file).
cd "$(dirname "$0")/.." || exit 1
top_srcdir=$(pwd)
top_builddir=$top_srcdir
export top_srcdir top_builddir
export DEBIAN_FRONTEND=noninteractive
[ "$(id -u)" = 0 ] || { echo "deb-check.sh: run as root (in fresh-machine)" >&2; exit 1; }
[ -d /run/systemd/system ] && { echo "deb-check.sh: systemd runs here: use a chroot (fresh-machine)" >&2; exit 1; }
. tests/lib.sh
plan 37
step() { echo "# --- $(date -u +%T) $*"; }
t_all=$(date +%s)

# ------------------------------------------------------------ build
step "build dependencies (mk-build-deps)"
apt-get update -qq >/dev/null 2>&1
apt-get install -y -qq --no-install-recommends devscripts equivs >"$T/apt-tools.log" 2>&1 || bail "cannot install devscripts, equivs"
mkdir -p "$T/bd"
(cd "$T/bd" && mk-build-deps -i -r -t "apt-get -y -qq --no-install-recommends" "$top_srcdir/debian/control") >"$T/bd.log" 2>&1
ok $? "the build dependencies install (mk-build-deps on debian/control)"

copy_tree() { # copy_tree DIR: the files git knows, as deb.sh does
	mkdir -p "$1"
	git ls-files -co --exclude-standard -z | xargs -0 tar -cf - | tar -C "$1" -xf -
}
V1=$(dpkg-parsechangelog -S Version)
copy_tree "$T/v1/vmeter"
step "dpkg-buildpackage -us -uc -b ($V1, with the unit tests)"
t0=$(date +%s)
(cd "$T/v1/vmeter" && dpkg-buildpackage -us -uc -b -j2) >"$T/build1.log" 2>&1
rc=$?
[ $rc = 0 ] || tail -40 "$T/build1.log" | sed 's/^/# /'
is "$rc" 0 "dpkg-buildpackage -us -uc -b builds $V1 on a new machine ($(($(date +%s) - t0)) s)"

copy_tree "$T/v2/vmeter"
(cd "$T/v2/vmeter" && DEBFULLNAME="vmeter deb-check" DEBEMAIL="deb-check@localhost" \
	dch --local +upgrade --distribution unstable "Local version bump: scripts/deb-check.sh's upgrade.") >"$T/dch.log" 2>&1
V2=$(cd "$T/v2/vmeter" && dpkg-parsechangelog -S Version)
step "dpkg-buildpackage -us -uc -b ($V2, nocheck)"
t0=$(date +%s)
(cd "$T/v2/vmeter" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b -j2) >"$T/build2.log" 2>&1
rc=$?
[ $rc = 0 ] || tail -40 "$T/build2.log" | sed 's/^/# /'
dpkg --compare-versions "$V2" gt "$V1"
is "$rc $?" "0 0" "and $V2, a higher version (dch --local) ($(($(date +%s) - t0)) s)"
ARCH=$(dpkg --print-architecture)
debs() { for p in vmeter-common vmeter-collector vmeter-central; do echo "$T/$1/${p}_${2}_$ARCH.deb"; done; }
for f in $(debs v1 "$V1") $(debs v2 "$V2"); do [ -f "$f" ] || bail "no $f"; done
for f in $(debs v1 "$V1"); do diag "$(basename "$f"): $(stat -c %s "$f") bytes"; done

step "the build dependencies removed"
apt-get purge -y -qq --autoremove vmeter-build-deps >"$T/bd-purge.log" 2>&1
dpkg-query -W -f='${Status}\n' libvirt-dev 2>/dev/null | grep -q "ok installed"
ok $((!$?)) "the build dependencies are gone again (libvirt-dev among them)"

# ------------------------------------------------------------ install
step "apt install ./*.deb ($V1)"
# shellcheck disable=SC2046
apt-get install -y --no-install-recommends $(debs v1 "$V1") >"$T/install1.log" 2>&1
rc=$?
sed 's/^/#   /' "$T/install1.log" | grep -i "vmeter\|error" | head -20
is "$rc" 0 "apt install ./vmeter-{common,collector,central}_$V1.deb"
st=$(for p in vmeter-common vmeter-collector vmeter-central; do dpkg-query -W -f='${Status} ${Version}\n' $p; done | sort -u)
is "$st" "install ok installed $V1" "all three installed and configured"
grep -q "vmeter-central: no database to migrate" "$T/install1.log"
ok $? "without a database the central postinst skips the migration, says so, and the install succeeds"
pw=$(getent passwd vmeter)
gid=$(getent group vmeter | cut -d: -f3)
echo "$pw" | awk -F: -v g="$gid" '$4 == g && $3 < 1000 && $6 == "/nonexistent" && $7 ~ /nologin$/ { ok = 1 } END { exit !ok }'
ok $? "a system user vmeter in group vmeter, no home, no login ($pw)"
is "$(stat -c '%U:%G %a' /var/lib/vmeter)" "vmeter:vmeter 750" "/var/lib/vmeter: vmeter:vmeter, mode 750 (the unit's StateDirectoryMode)"
is "$(dpkg-query -W -f='${Conffiles}' vmeter-common | awk 'NF { print $1 }')" "/etc/vmeter/vmeter.conf" \
	"/etc/vmeter/vmeter.conf is vmeter-common's conffile"
ls /etc/systemd/system/multi-user.target.wants/vmeter-collector.service /etc/systemd/system/multi-user.target.wants/vmeter-bill-rate.service \
	/etc/systemd/system/timers.target.wants/vmeter-maintain.timer >/dev/null 2>&1
ok $? "the collector, the rating daemon and the maintenance timer are enabled"

# ------------------------------------------------------------ run
step "test tools: libvirtd (test driver), PostgreSQL (a private cluster)"
apt-get install -y -qq --no-install-recommends libvirt-daemon libvirt-clients postgresql-15 >"$T/apt-test.log" 2>&1 ||
	bail "cannot install libvirt-daemon, libvirt-clients"
# as scripts/install-deps.sh: libvirtd wants the QEMU driver's user
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent group kvm >/dev/null || groupadd -r kvm
id libvirt-qemu >/dev/null 2>&1 || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
mkdir -p /var/log/libvirt /var/lib/libvirt
start_postgres
start_libvirtd
setup_fleet
RUNNING=$(virsh_t list --name | grep -c .)
diag "$RUNNING running test-driver domains"

# The conffile edited as an operator would: this host's libvirt, the
# database, RRD files written directly (no rrdcached), no RAPL.
CONF=/etc/vmeter/vmeter.conf
sed -i -e "s|^\([[:space:]]*libvirt-uri = \).*|\1\"$TEST_URI\"|" \
	-e 's|^\([[:space:]]*host-name = \).*|\1"deb-hv1"|' \
	-e '/^collector {/,/^}/s|^\([[:space:]]*interval = \).*|\12|' \
	-e 's|^\([[:space:]]*rrdcached = \).*|\1""|' \
	-e 's|^\([[:space:]]*power-source = \).*|\1"none"|' \
	-e "s|^\([[:space:]]*conninfo = \).*|\1\"$PG_CONNINFO\"|" "$CONF"
diff "$top_srcdir/etc/vmeter.conf.example" "$CONF" | grep -c '^>' | grep -qx 6 || bail "the configuration edit did not take"

step "the central postinst again (dpkg-reconfigure): the migration"
dpkg-reconfigure vmeter-central >"$T/reconf.log" 2>&1
rc=$?
sed 's/^/#   /' "$T/reconf.log"
grep -q "vmeter-central: schema migrated from version 0 to $SCHEMA_LATEST" "$T/reconf.log"
is "$rc $?" "0 0" "with a database, the postinst applies the schema (0 to $SCHEMA_LATEST)"

# The unit's commands, as its User=, Group= and UMask= would run them.
unit_cmd() { sed -n "s/^$1=//p" "/lib/systemd/system/${2:-vmeter-collector.service}"; }
as_vmeter() { (umask 0027 && exec setpriv --reuid=vmeter --regid=vmeter --init-groups -- "$@"); }
pre=$(unit_cmd ExecStartPre)
# shellcheck disable=SC2086
as_vmeter $pre >"$T/pre.log" 2>&1
ok $? "ExecStartPre ($pre) passes as user vmeter"
LOG=$T/collector.log
start_unit() {
	cmd=$(unit_cmd ExecStart | sed 's/ -s / /')
	echo "# starting: $cmd" >>"$LOG"
	# One subshell that becomes the collector (exec), so that $! is its PID.
	# shellcheck disable=SC2086
	(umask 0027 && exec setpriv --reuid=vmeter --regid=vmeter --init-groups -- $cmd) >>"$LOG" 2>&1 &
	COLLECTOR_PID=$!
	_pids="$_pids $COLLECTOR_PID"
}
stop_unit() { # as systemd's stop: SIGTERM, wait (TimeoutStopSec=30s)
	kill -TERM "$COLLECTOR_PID"
	for _ in $(seq 150); do kill -0 "$COLLECTOR_PID" 2>/dev/null || break; sleep 0.2; done
	wait "$COLLECTOR_PID"
}
step "the collector's ExecStart as user vmeter"
t_start=$(date +%s)
start_unit
sleep 1
is "$(ps -o user= -p "$COLLECTOR_PID" 2>/dev/null | tr -d ' ')" vmeter "the collector runs as vmeter"
minute_in() { [ "$(psql_q "SELECT count(*) FROM vm_usage_minute WHERE minute = to_timestamp($1)")" -ge "$RUNNING" ]; }
vms_with_rows() { [ "$(psql_q 'SELECT count(DISTINCT vm_id) FROM vm_usage_minute')" -ge "$RUNNING" ]; }
wait_for "usage rows" 240 vms_with_rows
ok $? "rows arrive in PostgreSQL for each of the $RUNNING running domains ($(($(date +%s) - t_start)) s after the start)"
is "$(stat -c '%U:%G %a' /var/lib/vmeter/spool /var/lib/vmeter/rrd 2>&1 | sort -u)" "vmeter:vmeter 2750" \
	"the spool and RRD directories: vmeter:vmeter, mode 2750"
n_rrd=$(find /var/lib/vmeter/rrd -name '*.rrd' | wc -l)
other=$(find /var/lib/vmeter ! -user vmeter | wc -l)
[ "$n_rrd" -gt 0 ] && [ "$other" = 0 ]
ok $? "RRD files written directly through librrd ($n_rrd), every file in /var/lib/vmeter is vmeter's"
# A whole minute before the upgrade: the check below spans it, the
# restart's minute and the one after.
m_first=$(((t_start + 59) / 60 * 60 + 60))
wait_for "the first whole minute" 240 minute_in "$m_first" || bail "no row for the first whole minute"
as_vmeter vmeter-admin -c "$CONF" status >"$T/status.out" 2>&1
ok $? "vmeter-admin status (as vmeter) reads the collector's status: $(head -1 "$T/status.out")"

# The central units' commands too: maintenance (the timer's oneshot) and
# the rating daemon, which keeps running until SIGTERM.
maint=$(unit_cmd ExecStart vmeter-maintain.service)
# shellcheck disable=SC2086
as_vmeter $maint >"$T/maintain.log" 2>&1
rc=$?
[ $rc = 0 ] || sed 's/^/# /' "$T/maintain.log"
is "$rc" 0 "vmeter-maintain.service's ExecStart ($maint) succeeds as vmeter"
rate=$(unit_cmd ExecStart vmeter-bill-rate.service)
# shellcheck disable=SC2086
(umask 0077 && exec setpriv --reuid=vmeter --regid=vmeter --init-groups -- $rate) >"$T/rate.log" 2>&1 &
RATE_PID=$!
_pids="$_pids $RATE_PID"
sleep 5
kill -0 "$RATE_PID" 2>/dev/null && kill -TERM "$RATE_PID"
wait "$RATE_PID"
rc=$?
[ $rc = 0 ] || sed 's/^/# /' "$T/rate.log"
is "$rc" 0 "vmeter-bill-rate.service's ExecStart ($rate) runs as vmeter and stops cleanly on SIGTERM"

# ------------------------------------------------------------ upgrade
step "apt install ./*.deb ($V2) while the collector runs"
# shellcheck disable=SC2046
apt-get install -y --no-install-recommends $(debs v2 "$V2") >"$T/install2.log" 2>&1
rc=$?
sed 's/^/#   /' "$T/install2.log" | grep -i "vmeter\|error\|conffile" | head -20
is "$rc" 0 "the upgrade to $V2 installs (the edited conffile kept without a question)"
st=$(for p in vmeter-common vmeter-collector vmeter-central; do dpkg-query -W -f='${Status} ${Version}\n' $p; done | sort -u)
is "$st" "install ok installed $V2" "all three at $V2"
grep -q "vmeter-central: schema is up to date (version $SCHEMA_LATEST)" "$T/install2.log" &&
	[ "$(psql_q "SELECT count(*) || ' ' || count(DISTINCT version) FROM schema_migrations")" = "$SCHEMA_LATEST $SCHEMA_LATEST" ]
ok $? "the upgrade's migration ran once and found nothing to do; each migration recorded once"
grep -q "deb-hv1" "$CONF"
ok $? "the edited configuration is kept"
# systemd's restart after the upgrade (postinst: deb-systemd-invoke
# restart): the old process stopped, the new program started.
t_restart=$(date +%s)
stop_unit
rc=$?
pgrep -f '^/usr/sbin/vmeter-collector ' >/dev/null
is "$rc $?" "0 1" "the old collector stops cleanly on SIGTERM ($(($(date +%s) - t_restart)) s), none left running"
start_unit
sleep 1
readlink "/proc/$COLLECTOR_PID/exe" | grep -q deleted
ok $((!$?)) "the new collector runs the upgraded program ($(readlink "/proc/$COLLECTOR_PID/exe"))"
m_restart=$((t_restart / 60 * 60))
m_after=$((m_restart + 60))
wait_for "the minute after the restart" 300 minute_in "$m_after"
ok $? "the minute after the restart is delivered"
# Every minute from the first whole one after the first start to the one
# after the restart: a row per running domain, each with 60 s covered.
n_min=$(((m_after - m_first) / 60 + 1))
got=$(psql_q "SELECT count(*) FILTER (WHERE coverage_ms = 60000) || ' ' || count(*) FROM vm_usage_minute
	WHERE minute BETWEEN to_timestamp($m_first) AND to_timestamp($m_after)")
is "$got" "$((n_min * RUNNING)) $((n_min * RUNNING))" \
	"no VM-minute lost over the upgrade: $n_min minutes x $RUNNING domains, each row with 60,000 ms (restart at $(date -u -d @"$t_restart" +%T))"
[ "$got" = "$((n_min * RUNNING)) $((n_min * RUNNING))" ] || psql_q "SELECT vm_id, minute, coverage_ms, samples FROM vm_usage_minute
	WHERE minute BETWEEN to_timestamp($m_first) AND to_timestamp($m_after) ORDER BY 2, 1" | sed 's/^/# /'
is "$(psql_q 'SELECT count(*) FROM vm_usage_loss')" 0 "nothing recorded as lost"

# ------------------------------------------------------------ downgrade
step "apt install ./*.deb ($V1 again): a downgrade"
# shellcheck disable=SC2046
apt-get install -y --no-install-recommends --allow-downgrades $(debs v1 "$V1") >"$T/install3.log" 2>&1
rc=$?
grep -A4 "refusing" "$T/install3.log" | head -6 | sed 's/^/#   /'
[ "$rc" != 0 ] && grep -q "refusing to downgrade from $V2 to $V1" "$T/install3.log"
ok $? "a downgrade to $V1 is refused, with a message"
st=$(for p in vmeter-common vmeter-collector vmeter-central; do dpkg-query -W -f='${Status} ${Version}\n' $p; done | sort -u)
is "$st" "install ok installed $V2" "and $V2 stays installed and configured"
kill -0 "$COLLECTOR_PID" 2>/dev/null
ok $? "the collector still runs"

# ------------------------------------------------------------ purge
step "apt purge"
stop_unit
is "$?" 0 "the collector stops cleanly"
apt-get purge -y vmeter-central vmeter-collector vmeter-common >"$T/purge.log" 2>&1
is "$?" 0 "apt purge vmeter-central vmeter-collector vmeter-common"
is "$(dpkg -l 'vmeter-*' 2>/dev/null | grep -c '^[a-z][a-z] ')" 0 "dpkg knows none of them any more"
left=$(find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /root/main -o -path /root/shared -o -path "$T" \) -prune -o \
	-name '*vmeter*' -print 2>/dev/null | grep -v '^/var/lib/dpkg/\|^/var/log/apt/\|^/var/cache/\|^/var/log/dpkg.log' | sort)
[ -n "$left" ] && echo "$left" | sed 's/^/#   left: /'
is "$left" "" "nothing named vmeter is left (configuration, state, units, their links, programs, schema, docs)"
getent passwd vmeter >/dev/null && getent group vmeter >/dev/null
ok $? "the vmeter user and group stay (Debian keeps system users: files may still be theirs)"
diag "deb-check.sh took $(($(date +%s) - t_all)) s"
[ "$_failed" = 0 ]
