#!/bin/bash
# The Debian packages (debian/, docs/PACKAGING.md): built with
# `dpkg-buildpackage -us -uc -b` from a copy of this tree into a scratch
# directory (the build's `debian/rules clean` would wipe an in-tree build),
# then checked with dpkg-deb: each package's files, conffiles and
# dependencies, the units' paths, the maintainer scripts' restart, stop
# and migration order, the preinst refusing a downgrade (run here on its
# own), and lintian without errors or warnings.  Installing, upgrading and
# purging on a real system: scripts/deb-check.sh (in a fresh chroot).
# The unit tests are not run again inside the build (nocheck): make check
# runs them.  In make check because it is short: 43-141 s on 2 busy cores
# (the build 21-106 s, lintian 6-30 s); were the build to pass ~3 minutes,
# this test should check the debian/ tree and a prebuilt result only and
# leave the build to scripts/deb-check.sh.
. "$(dirname "$0")/../lib.sh"
command -v dpkg-buildpackage >/dev/null || { echo "1..0 # SKIP no dpkg-buildpackage (apt-get install dpkg-dev debhelper)"; exit 0; }
# make distcheck's tree is a `make dist` tarball: debian/ is not in it
# (the packages are built from the repository, as a native source).
[ -d "$top_srcdir/debian" ] || { echo "1..0 # SKIP no debian/ in $top_srcdir (a dist tarball)"; exit 0; }
plan 28

# A copy of the sources: in a git checkout the files git knows (tracked,
# or new and not ignored: no build products), else the whole tree.
SRC=$T/build/vmeter
mkdir -p "$SRC"
if git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top_srcdir" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - 2>/dev/null) | tar -C "$SRC" -xf -
else
	cp -a "$top_srcdir/." "$SRC/"
fi
VERSION=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
UPSTREAM=$(sed -n 's/^AC_INIT(\[vmeter\], \[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
is "$VERSION" "$UPSTREAM" "debian/changelog's version is configure.ac's ($UPSTREAM)"

t0=$(date +%s)
(cd "$SRC" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b >"$T/build.log" 2>&1)
rc=$?
diag "dpkg-buildpackage took $(($(date +%s) - t0)) s"
[ $rc = 0 ] || tail -30 "$T/build.log" | sed 's/^/# /'
is "$rc" 0 "dpkg-buildpackage -us -uc -b builds the packages"
B=$T/build
deb() { echo "$B/${1}_${VERSION}_$(dpkg --print-architecture).deb"; }
for p in vmeter-common vmeter-collector vmeter-central; do
	[ -f "$(deb $p)" ] || bail "no $(deb $p)"
	diag "$p: $(stat -c %s "$(deb $p)") bytes"
done
# files PACKAGE: its paths, one a line, without the leading "."
files() { dpkg-deb -c "$(deb "$1")" | awk '{ print $6 }' | sed 's:^\./:/:; s:/$::'; }
has() { # has PACKAGE PATH...: every PATH is in PACKAGE
	_p=$1; shift
	files "$_p" >"$T/files.$_p"
	for _f in "$@"; do grep -qx "$_f" "$T/files.$_p" || { echo "#   $_p lacks $_f"; return 1; }; done
}
field() { dpkg-deb -f "$(deb "$1")" "$2"; }

has vmeter-collector /usr/sbin/vmeter-collector /lib/systemd/system/vmeter-collector.service /var/lib/vmeter \
	/usr/share/man/man8/vmeter-collector.8.gz /usr/share/doc/vmeter-collector/copyright
ok $? "vmeter-collector: the collector, its unit, its state directory, its man page"
has vmeter-central /usr/bin/vmeter-bill /lib/systemd/system/vmeter-bill-rate.service \
	/lib/systemd/system/vmeter-maintain.service /lib/systemd/system/vmeter-maintain.timer \
	/usr/share/man/man1/vmeter-bill.1.gz /usr/share/doc/vmeter-central/examples/plans.example \
	/usr/bin/vmeter-report /usr/share/man/man1/vmeter-report.1.gz /lib/systemd/system/vmeter-report.service \
	/lib/systemd/system/vmeter-report.timer /usr/sbin/vmeter-aggregator /usr/share/man/man8/vmeter-aggregator.8.gz \
	/lib/systemd/system/vmeter-aggregator.service /usr/sbin/vmeter-web /usr/share/man/man8/vmeter-web.8.gz \
	/lib/systemd/system/vmeter-web.service
ok $? "vmeter-central: vmeter-bill, vmeter-report, vmeter-aggregator, vmeter-web, their units and timers, their man pages, example plans"
sqls=$(cd "$top_srcdir" && ls sql/[0-9][0-9][0-9]_*.sql sql/roles/*.sql | sed 's:^:/usr/share/vmeter/:')
# shellcheck disable=SC2086
has vmeter-common /usr/bin/vmeter-admin /etc/vmeter/vmeter.conf /usr/share/man/man5/vmeter.conf.5.gz \
	/usr/share/man/man8/vmeter-admin.8.gz $sqls
ok $? "vmeter-common: vmeter-admin, the configuration, every schema file and role ($(echo "$sqls" | wc -l)), the man pages"
# Every program of Makefile.am's bin/sbin_PROGRAMS is in a package.
progs=$(sed -n 's/^s\{0,1\}bin_PROGRAMS +\{0,1\}= //p' "$top_srcdir/Makefile.am" | tr ' ' '\n' | sed 's:.*/::' | sort)
shipped=$(for p in vmeter-common vmeter-collector vmeter-central; do files $p; done | sed -n 's:^/usr/s\{0,1\}bin/::p' | sort)
is "$(echo $shipped)" "$(echo $progs)" "every program Makefile.am installs is packaged, once"
dup=$(for p in vmeter-common vmeter-collector vmeter-central; do
	dpkg-deb -c "$(deb $p)" | awk '$1 !~ /^d/ { print $6 }' | grep -v '^\./usr/share/doc/'; done | sort | uniq -d)
is "$dup" "" "no file is in two packages"

conff() { dpkg-deb --ctrl-tarfile "$(deb "$1")" | tar -xOf - ./conffiles 2>/dev/null; }
is "$(conff vmeter-common)" "/etc/vmeter/vmeter.conf" "vmeter-common's one conffile: /etc/vmeter/vmeter.conf"
is "$(conff vmeter-collector)$(conff vmeter-central)" "" "the other packages have none"
mkdir -p "$T/x/common" "$T/x/collector" "$T/x/central"
for p in common collector central; do
	dpkg-deb -x "$(deb vmeter-$p)" "$T/x/$p"
	dpkg-deb -e "$(deb vmeter-$p)" "$T/x/$p/DEBIAN"
done
cmp -s "$T/x/common/etc/vmeter/vmeter.conf" "$top_srcdir/etc/vmeter.conf.example"
ok $? "the conffile is etc/vmeter.conf.example"
"$T/x/common/usr/bin/vmeter-admin" -c "$T/x/common/etc/vmeter/vmeter.conf" -n >/dev/null 2>&1
ok $? "the packaged vmeter-admin accepts the packaged configuration"

# Dependencies: the common package at exactly this version, the libraries
# (librrd, which is dlopen()ed, by name), the user tools.
dep_has() { # dep_has PACKAGE REGEX...
	_d=$(field "$1" Depends); shift
	for _r in "$@"; do echo "$_d" | tr ',' '\n' | grep -Eq "^ *$_r" || { echo "#   Depends: $_d lacks $_r"; return 1; }; done
}
dep_has vmeter-collector "vmeter-common \(= $VERSION\)" "libvirt0 " "libpcap0.8 " "libpq5 " "libevent-2.1" "libsystemd0" "librrd[0-9]+ \(>= 1.7"
ok $? "vmeter-collector depends on vmeter-common (= $VERSION), libvirt, libpcap, libpq, libevent, libsystemd, librrd"
dep_has vmeter-central "vmeter-common \(= $VERSION\)" "libpq5 " "libcairo2 " "libpangocairo" "libsystemd0"
ok $? "vmeter-central depends on vmeter-common (= $VERSION), libpq, cairo, pango, libsystemd"
dep_has vmeter-common "adduser" "libpq5 " "librrd[0-9]+ "
ok $? "vmeter-common depends on adduser, libpq, librrd"
# The collector does not link librrd, nor the document libraries.
needed=$(objdump -p "$T/x/collector/usr/sbin/vmeter-collector" | awk '$1 == "NEEDED" { print $2 }' | tr '\n' ' ')
echo "$needed" | grep -Eq 'librrd|libcairo|libpango'
ok $((!$?)) "vmeter-collector links neither librrd nor cairo/pango (NEEDED: $needed)"
# Build-Depends: every library -dev package install-deps.sh installs that the
# build needs (all but libclang-rt-dev, for the fuzzers).
want=$(sed -n '/^PKGS="/,/"$/p' "$top_srcdir/scripts/install-deps.sh" | tr ' "' '\n\n' | grep -- '^lib.*-dev$' | grep -v '^libclang-rt-dev$' | sort)
have=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$top_srcdir/debian/control" | tr ' ,' '\n\n' | grep -- '^lib.*-dev$' | sort)
is "$(echo $have)" "$(echo $want)" "Build-Depends holds install-deps.sh's -dev packages"

# The units as installed: this build's paths, nothing left to substitute.
units=$(cat "$T"/x/*/lib/systemd/system/*)
echo "$units" | grep -q '@[a-z]*dir@'
ok $((!$?)) "the packaged units have no @...@ left"
grep -qx 'ExecStart=/usr/sbin/vmeter-collector -s -c /etc/vmeter/vmeter.conf' "$T/x/collector/lib/systemd/system/vmeter-collector.service" &&
	grep -qx 'ExecStart=/usr/bin/vmeter-bill -c /etc/vmeter/vmeter.conf rate --every 60' "$T/x/central/lib/systemd/system/vmeter-bill-rate.service" &&
	grep -qx 'ExecStart=/usr/bin/vmeter-admin -c /etc/vmeter/vmeter.conf maintain' "$T/x/central/lib/systemd/system/vmeter-maintain.service"
ok $? "their ExecStart= run the packaged programs with /etc/vmeter/vmeter.conf"

# Maintainer scripts.  The collector: not stopped by the old prerm on an
# upgrade, restarted by the new postinst (its stop saves the open minutes).
S=$T/x/collector/DEBIAN
stops=$(grep -B1 'deb-systemd-invoke stop' "$S/prerm" | grep -v 'deb-systemd-invoke stop')
[ "$(grep -c 'deb-systemd-invoke stop' "$S/prerm")" = 1 ] && echo "$stops" | grep -q '"$1" = remove' &&
	grep -q '_dh_action=restart' "$S/postinst"
ok $? "vmeter-collector: stopped only on removal, restarted after an upgrade"
# The central services: stopped by the new preinst before the unpack on
# an upgrade (dh_installsystemd --no-restart-after-upgrade), started by
# the postinst after the migration.
C=$T/x/central/DEBIAN
grep -A1 '"$1" = upgrade' "$C/preinst" | grep -q "deb-systemd-invoke stop 'vmeter-aggregator.service' 'vmeter-bill-rate.service' 'vmeter-maintain.timer' 'vmeter-report.timer' 'vmeter-web.service'" &&
	! grep -q "deb-systemd-invoke restart" "$C/postinst"
ok $? "vmeter-central: its services stopped by the new preinst on an upgrade, not restarted"
m=$(grep -n '^	migrate$' "$C/postinst" | cut -d: -f1)
s=$(grep -n "deb-systemd-invoke start .*'vmeter-bill-rate.service'" "$C/postinst" | cut -d: -f1)
[ -n "$m" ] && [ -n "$s" ] && [ "$m" -lt "$s" ] && ! grep -q "deb-systemd-invoke start 'vmeter-maintain.service'" "$C/postinst"
ok $? "vmeter-central: postinst migrates (line ${m:-?}) before it starts the rating daemon (line ${s:-?}); maintenance is the timer's"
grep -q 'adduser --system' "$T/x/common/DEBIAN/postinst" && grep -q 'rm -rf /var/lib/vmeter' "$S/postrm"
ok $? "the vmeter user made by vmeter-common; purge removes /var/lib/vmeter"

# The preinst on its own: a downgrade is refused with a message, an
# upgrade, a reinstallation and a first installation go through.
pre=$T/x/collector/DEBIAN/preinst
own() { sed '/^# Automatically added by dh_/,/^# End automatically added section/d' "$1"; }
for p in common central; do [ "$(own "$pre")" = "$(own "$T/x/$p/DEBIAN/preinst")" ] || bail "the preinsts differ"; done
grep -q "^new='$VERSION'$" "$pre"
ok $? "the preinst knows its version ($VERSION)"
out=$(DPKG_MAINTSCRIPT_PACKAGE=vmeter-collector sh "$pre" upgrade "$VERSION+9" 2>&1)
rc=$?
is "$rc" 1 "a downgrade from $VERSION+9 is refused"
echo "$out" | sed 's/^/# /'
echo "$out" | grep -q "refusing to downgrade from $VERSION+9 to $VERSION" && echo "$out" | grep -q VMETER_ALLOW_DOWNGRADE=1
ok $? "with a message naming both versions and the way round it"
DPKG_MAINTSCRIPT_PACKAGE=vmeter-collector sh "$pre" upgrade 0.0.1 >/dev/null 2>&1 &&
	DPKG_MAINTSCRIPT_PACKAGE=vmeter-collector sh "$pre" upgrade "$VERSION" >/dev/null 2>&1 &&
	DPKG_MAINTSCRIPT_PACKAGE=vmeter-collector sh "$pre" install >/dev/null 2>&1 &&
	DPKG_MAINTSCRIPT_PACKAGE=vmeter-collector VMETER_ALLOW_DOWNGRADE=1 sh "$pre" upgrade "$VERSION+9" >/dev/null 2>&1
ok $? "an upgrade, a reinstallation, a first installation and an allowed downgrade go through"
for s in "$T"/x/*/DEBIAN/p*; do sh -n "$s" || bail "$s: syntax"; done

# lintian: no error, no warning (the overrides in debian/*.lintian-overrides
# say why each is there); its information tags are printed.
if command -v lintian >/dev/null; then
	t0=$(date +%s)
	lintian -I --pedantic --show-overrides "$B"/vmeter_"${VERSION}"_*.changes >"$T/lintian.out" 2>&1
	diag "lintian took $(($(date +%s) - t0)) s; its tags (O: overridden, N: the override's reason):"
	grep -v "running with root privileges" "$T/lintian.out" | sed 's/^/#   /'
	is "$(grep -c '^[EW]:' "$T/lintian.out")" 0 "lintian: no error or warning"
	is "$(grep -c '^O:' "$T/lintian.out")" "$(cat "$top_srcdir"/debian/*.lintian-overrides | grep -c '^vmeter-')" \
		"every override in debian/*.lintian-overrides is used"
else
	echo "ok $((_n + 1)) - lintian # SKIP no lintian"
	echo "ok $((_n + 2)) - lintian overrides # SKIP no lintian"
	_n=$((_n + 2))
fi
