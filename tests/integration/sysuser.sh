#!/bin/bash
# scripts/create-sysuser.sh, which `make install` (as root) and
# scripts/demo.sh run: the 'vmeter' system group and user, no login, no
# home, and the state directory in the group with the set-group-ID bit.
# On a copy of /etc (useradd --prefix), so the machine is not changed.
. "$(dirname "$0")/../lib.sh"
command -v useradd >/dev/null && [ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root and useradd"; exit 0; }
plan 7

R=$T/root
mkdir -p "$R/etc"
for f in passwd group shadow gshadow login.defs; do [ -f "/etc/$f" ] && cp "/etc/$f" "$R/etc/"; done
grep -q "^vmeter:" "$R/etc/passwd" && sed -i '/^vmeter:/d' "$R/etc/passwd" "$R/etc/shadow"
grep -q "^vmeter:" "$R/etc/group" && sed -i '/^vmeter:/d' "$R/etc/group" "$R/etc/gshadow"
SYSROOT=$R sh "$top_srcdir/scripts/create-sysuser.sh" /var/lib/vmeter >"$T/out1" 2>&1
is "$?" 0 "the script succeeds"
gid=$(awk -F: '$1 == "vmeter" { print $3 }' "$R/etc/group")
line=$(grep "^vmeter:" "$R/etc/passwd")
uid_min=$(awk '$1 == "UID_MIN" { print $2 }' "$R/etc/login.defs")
echo "$line" | awk -F: -v g="$gid" -v m="${uid_min:-1000}" \
	'$4 == g && $3 < m && $6 == "/nonexistent" && $7 ~ /nologin$/ { ok = 1 } END { exit !ok }'
ok $? "a system user 'vmeter' in group 'vmeter', no home, no login ($line)"
is "$(stat -c '%a %g' "$R/var/lib/vmeter")" "2750 $gid" "the state directory: group vmeter, mode 2750"
# Again: nothing to do, nothing said, the same ids.
SYSROOT=$R sh "$top_srcdir/scripts/create-sysuser.sh" /var/lib/vmeter >"$T/out2" 2>&1
is "$?" 0 "a second run succeeds"
is "$(cat "$T/out2")" "" "a second run changes nothing"
is "$(grep -c "^vmeter:" "$R/etc/passwd")" 1 "one user 'vmeter'"
# A failure (etc is not a directory) is an error, not a silent success.
mkdir -p "$T/broken" && : >"$T/broken/etc"
SYSROOT=$T/broken sh "$top_srcdir/scripts/create-sysuser.sh" >"$T/out3" 2>&1
ok $((! $?)) "the script fails when it cannot create the group"
