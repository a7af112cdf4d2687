#!/bin/bash
# vmeter-web's pages in a real browser: Debian's headless chromium driven
# by playwright-core (tests/browser/ui.cjs), against the real server, a real
# PostgreSQL and RRD files written through a real rrdcached, with the small
# fleet of web-fixtures.sh.  Logs in, opens the overview and a VM, checks
# its graphs draw (uPlot's data), changes the time range, AVERAGE/MAX and
# zooms, downloads an invoice in three formats and checks each file, and
# checks a tenant viewer sees only its own.  Screenshots are kept in
# $top_builddir/tests/artefacts/web-*.png.
#
# playwright-core is installed from npm at the version pinned in
# tests/browser/package.json into $top_builddir/tests/node_modules when it
# is not there yet; without chromium or npm the test is skipped.
. "$(dirname "$0")/../lib.sh"
. "$top_srcdir/tests/integration/web-fixtures.sh"

N_BROWSER=24
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ] || ! command -v node >/dev/null; then
	plan 1
	echo "ok 1 - the browser test # SKIP no $CHROMIUM or node (scripts/install-deps.sh installs them)"
	_n=1
	exit 0
fi
PW_VERSION=$(sed -n 's/.*"playwright-core": "\([0-9.]*\)".*/\1/p' "$top_srcdir/tests/browser/package.json")
NODE_DIR=$top_builddir/tests
have_pw() { [ "$(cd "$NODE_DIR" && node -p "require('playwright-core/package.json').version" 2>/dev/null)" = "$PW_VERSION" ]; }
if ! have_pw; then
	mkdir -p "$NODE_DIR"
	# Debian's npm trusts its own CA list, not the system's: a registry
	# reached through a proxy with a local CA needs the system's list
	# (which update-ca-certificates keeps in this file).
	ca=/etc/ssl/certs/ca-certificates.crt
	[ -f "$ca" ] || ca=""
	npm install --no-save --no-audit --no-fund ${ca:+--cafile "$ca"} --prefix "$NODE_DIR" "playwright-core@$PW_VERSION" \
		>"$T/npm.log" 2>&1
	if ! have_pw; then
		plan 1
		why=$(grep -m1 'ERR! \(code\|request\|404\)' "$T/npm.log" || tail -1 "$T/npm.log")
		echo "ok 1 - the browser test # SKIP cannot install playwright-core@$PW_VERSION from npm: $why"
		_n=1
		exit 0
	fi
fi
plan $((N_BROWSER + 4))

web_fleet
ADMIN_PW=$(web user add root --role admin | sed -n 's/^password (shown once): //p')
echo "viewer-a-password" | web user add va --role tenant-viewer --tenant acme --password-stdin >/dev/null
is "${#ADMIN_PW}" 20 "the admin's password, made by user add"

"$WEB" -c "$T/vmeter.conf" >"$T/web.log" 2>&1 &
WEB_PID=$!
_pids="$_pids $WEB_PID"
serves() { curl -sf -o /dev/null "$URL/"; }
wait_for "vmeter-web to serve" 60 serves
ok $? "vmeter-web serves the UI"

ART=$top_builddir/tests/artefacts
mkdir -p "$ART" "$T/downloads"
rm -f "$ART"/web-*.png
WEB_URL=$URL ARTEFACTS=$ART DOWNLOADS=$T/downloads ADMIN_PW=$ADMIN_PW VIEWER_PW=viewer-a-password U_DB1=$U_DB1 \
	CHROMIUM=$CHROMIUM NODE_PATH=$NODE_DIR/node_modules node "$top_srcdir/tests/browser/ui.cjs" >"$T/browser.out" 2>"$T/browser.err"
is "$?" 0 "the browser run ends well$(tail -3 "$T/browser.err" | tr '\n' ' ')"
while IFS=$'\t' read -r tag rc desc; do
	[ "$tag" = RESULT ] && ok "$rc" "$desc"
done <"$T/browser.out"
shots=$(ls "$ART"/web-*.png 2>/dev/null | wc -l)
is "$shots" 6 "screenshots kept as artefacts in $ART"
