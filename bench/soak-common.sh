# shellcheck shell=bash
# Shared by bench/soak-kill.sh and bench/soak-outage.sh (sourced, bash).
# Uses the servers of tests/lib.sh; adds an accelerated collector clock and
# a stand-in for the RRD side.
#
# The collector's wall clock runs SPEED times faster than the real one
# (libfaketime, "@START xSPEED"); its monotonic clock stays real.  The
# sampling loop sleeps an interval of monotonic time, so with interval = 1
# a pass comes every real second and covers SPEED seconds of collector time.
#
# RRD: bench/rrd-stub/rrdtool (first in the collector's PATH) and
# bench/fake-rrdcached.py stand in for rrdtool and rrdcached, so that no RRD
# file is written (1,000 VMs of them would take 30-70 GB); the spool and the
# database see exactly what they see in production.
set -u
export LC_ALL=C

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck disable=SC2034 # read by tests/lib.sh
top_builddir=${VMETER_BUILD:-$top_srcdir}
[ -x "$top_builddir/collector/vmeter-collector" ] ||
	{ echo "no $top_builddir/collector/vmeter-collector: build first (./configure CFLAGS='-O2 -g' && make)" >&2; exit 1; }
# shellcheck source=../tests/lib.sh
. "$top_srcdir/tests/lib.sh"
if ldd "$COLLECTOR" | grep -q libasan; then
	echo "# warning: $COLLECTOR is built with ASan: slower, fewer cycles per second"
fi
[ -f "$FAKE_LIB" ] || bail "libfaketime is not installed ($FAKE_LIB)"

say() { echo "# $(date -u +%H:%M:%S) $*"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# --- RRD stand-ins
start_fake_rrd() {
	python3 "$top_srcdir/bench/fake-rrdcached.py" "$T/rrdc.sock" >"$T/fake-rrdcached.log" 2>&1 &
	_pids="$_pids $!"
	wait_for 10 grep -q ready "$T/fake-rrdcached.log" || bail "fake-rrdcached did not start"
	RRD_PATH="$top_srcdir/bench/rrd-stub:$PATH"
}
# prime_rrd N: the stub's layout files for the host and VMs 1..N of
# bench/gen-fleet.sh, made once by a short collector run on a 1-VM fleet:
# otherwise each start would spawn N stub processes.
prime_rrd() {
	mkdir -p "$T/prime"
	sh "$top_srcdir/bench/gen-fleet.sh" 1 >"$T/prime/fleet.xml"
	CONF_URI="test://$T/prime/fleet.xml" CONF_RRDCACHED="unix:$T/rrdc.sock" CONF_CONNINFO="host=$T/prime" \
		write_conf "$T/prime/vmeter.conf" || bail "cannot write $T/prime/vmeter.conf"
	sed -i "s|state-dir = .*|state-dir = \"$T/prime/state\"|" "$T/prime/vmeter.conf"
	grep -q "state-dir = \"$T/prime/state\"" "$T/prime/vmeter.conf" || bail "bad $T/prime/vmeter.conf"
	env PATH="$RRD_PATH" "$COLLECTOR" -c "$T/prime/vmeter.conf" >"$T/prime/log" 2>&1 &
	_p=$!
	_vm=$T/rrd/vm-bbbbbbbb-0000-4000-8000-000000000001.rrd
	wait_for 30 test -s "$_vm" -a -s "$T/rrd/host-hv1.rrd"
	_rc=$?
	kill "$_p"; wait "$_p" 2>/dev/null
	[ $_rc = 0 ] || { cat "$T/prime/log"; bail "the RRD stub made no layout files"; }
	for k in $(seq 2 "$1"); do
		ln -f "$_vm" "$T/rrd/vm-bbbbbbbb-0000-4000-8000-$(printf %012d "$k").rrd"
	done
}

# --- the accelerated clock, continuous across restarts
# FAKE_T0 (collector time) at real FAKE_R0 (ms); each start moves the pair
# forward to "now" plus 2 s of collector time, so that a restarted
# collector never starts before where the killed one was.
FAKE_T0=""
FAKE_R0=""
FAKE_SPEC=""
fake_start_spec() {
	_r=$(now_ms)
	if [ -z "$FAKE_T0" ]; then
		FAKE_T0=$1
	else
		FAKE_T0=$(( FAKE_T0 + (_r - FAKE_R0) * SPEED / 1000 + 2 ))
	fi
	FAKE_R0=$_r
	FAKE_SPEC="@$(date -u -d "@$FAKE_T0" '+%Y-%m-%d %H:%M:%S') x$SPEED"
}
fake_time_now() { echo $(( FAKE_T0 + ($(now_ms) - FAKE_R0) * SPEED / 1000 )); }
# start_fast CONF [FIRST_FAKE_SECOND] [ENV...]: start_collector on the
# accelerated clock, with the RRD stand-ins.
start_fast() {
	_c=$1; shift
	fake_start_spec "${1:-}"; shift
	start_collector "$_c" PATH="$RRD_PATH" LD_PRELOAD="$FAKE_LIB" FAKETIME="$FAKE_SPEC" FAKETIME_DONT_FAKE_MONOTONIC=1 \
		FAKETIME_NO_CACHE=1 "$@"
}

# status_field NAME: a number from the collector's status.json
# soak_setup: PostgreSQL, the RRD stand-ins, a fleet of VMS test-driver
# domains and $T/vmeter.conf (interval 1 s of real time, max-gap three
# passes of the sped-up clock).
soak_setup() {
	start_postgres
	start_fake_rrd
	prime_rrd "$VMS"
	sh "$top_srcdir/bench/gen-fleet.sh" "$VMS" >"$T/fleet.xml" || bail "cannot write the fleet"
	_max_gap=$((SPEED * 3 > 60 ? SPEED * 3 : 60))
	CONF_URI="test://$T/fleet.xml" CONF_INTERVAL=1 CONF_REFRESH=60 CONF_MAX_GAP=$_max_gap \
		CONF_RRDCACHED="unix:$T/rrdc.sock" write_conf "$T/vmeter.conf" "" || bail "cannot write the configuration"
}

status_field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p" "$T/state/status.json" 2>/dev/null; }
spool_drained() { grep -q '"database": "up", "spool_bytes": [0-9]*, "spool_records": 0,' "$T/state/status.json"; }
