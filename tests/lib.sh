# Shared harness for vmeter's integration tests (sourced, POSIX sh + bash).
# Starts real servers in a private directory and stops them on exit:
#   start_postgres    a private cluster on a Unix socket  -> $PG_CONNINFO
#   start_rrdcached   rrdcached on a Unix socket          -> $RRDCACHED_SOCK
#   start_libvirtd    libvirtd with its own sockets       -> $LIBVIRT_SOCK
# and prints TAP: plan N, ok COND DESC, is GOT WANT DESC, ...
#
# Tests wait for states, never for "long enough": wait_for polls for a
# condition with a deadline far beyond what a quiet machine needs (a loaded
# CI host with ASan is several times slower).  A failed or bailed test keeps
# its directory and prints the tails of its logs as TAP comments.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PG_BINDIR:=/usr/lib/postgresql/15/bin}"
COLLECTOR=$top_builddir/collector/vmeter-collector
# The schema version this tree migrates to: its highest sql/NNN_*.sql.
SCHEMA_LATEST=$(ls "$top_srcdir"/sql/ | sed -n 's/^0*\([0-9][0-9]*\)_.*\.sql$/\1/p' | sort -n | tail -1)
ADMIN=$top_builddir/admin/vmeter-admin

T=$(mktemp -d "${TMPDIR:-/tmp}/vmeter-test.XXXXXX")
chmod 755 "$T"
_t0=$(date +%s)
_pids=""
_n=0
_failed=0

# on_cleanup COMMAND: runs COMMAND at exit, once the background processes
# are gone (a test's own teardown: network namespaces, interfaces).
_cleanup_cmds=""
on_cleanup() { _cleanup_cmds="$_cleanup_cmds
$1"; }

# show_logs: the tails of the servers' and the collector's logs, as TAP
# comments (CI shows them; the files stay in $T).
show_logs() {
	for _f in "$T/collector.log" "$T/pg.log" "${LIBVIRT_DIR:-$T/libvirt}/libvirtd.log" "$T/rrdcached.log"; do
		[ -s "$_f" ] || continue
		echo "# --- last lines of $_f:"
		tail -n "${LOG_TAIL:-25}" "$_f" | cut -c1-400 | sed 's/^/#   /'
	done
}

cleanup() {
	_rc=$?
	if [ -n "$_planned" ] && [ "$_planned" != 0 ] && [ "$_n" != "$_planned" ] && [ "$_failed" = 0 ] && [ "$_rc" = 0 ]; then
		echo "# ran $_n tests of the $_planned planned"
		_rc=1
	fi
	# scripts/test.sh lists the slowest tests from this line
	echo "# elapsed $(($(date +%s) - _t0)) s"
	if [ "$_failed" != 0 ] || [ "$_rc" != 0 ]; then
		_failed=$((_failed + 1))
		show_logs
	fi
	for p in $_pids; do kill "$p" 2>/dev/null; done
	for p in $_pids; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$p" 2>/dev/null
	done
	eval "$_cleanup_cmds"
	if [ -n "${PGDATA_DIR:-}" ] && [ -f "$PGDATA_DIR/postmaster.pid" ]; then
		as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -m immediate stop >/dev/null 2>&1
	fi
	if [ "${KEEP_TMP:-0}" = 1 ] || [ "$_failed" != 0 ]; then
		echo "# test files kept in $T"
	else
		rm -rf "$T"
	fi
	[ "$_rc" = 0 ] || exit "$_rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# plan N: the TAP plan; a run of another number of tests fails at exit
# (make check's driver says so too, a direct run would not).
_planned=""
plan() { _planned=$1; echo "1..$1"; }
ok() { # ok EXIT_STATUS_OF_CONDITION DESCRIPTION
	_n=$((_n + 1))
	if [ "$1" = 0 ]; then echo "ok $_n - $2"; else echo "not ok $_n - $2"; _failed=$((_failed + 1)); fi
}
check() { # check DESCRIPTION COMMAND...
	_d=$1; shift
	if "$@" >/dev/null 2>&1; then ok 0 "$_d"; else ok 1 "$_d"; fi
}
is() { # is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got:  '$1'"; echo "#   want: '$2'"; fi
}
within() { # within GOT LOW HIGH DESCRIPTION  (numbers, inclusive)
	# Only a number counts: some awks take "nan" and "inf" as numbers.
	if echo "$1" | grep -Eq '^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$' &&
		awk -v g="$1" -v l="$2" -v h="$3" 'BEGIN { exit !(g + 0 >= l + 0 && g + 0 <= h + 0) }'; then
		ok 0 "$4"
	else
		ok 1 "$4"; echo "#   got '$1', want between $2 and $3"
	fi
}
diag() { echo "# $*"; }
# bail REASON: the test cannot go on; its files are kept (see cleanup).
bail() { echo "Bail out! $*"; _failed=$((_failed + 1)); exit 1; }

# PostgreSQL refuses to run as root: run it as 'postgres' then.
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Each test has a cluster of its own, copied from one that initdb made for
# the first test of the build tree (tests/pg-template-*, gone with `make
# clean`): initdb takes seconds on a loaded machine, the copy a fraction of
# one, and the copy is what initdb would have made.  The first test to
# finish its initdb publishes its cluster, untouched, by one rename; its
# name follows the server and initdb's arguments.
PG_INITDB_ARGS="-U vmeter --auth=trust -E UTF8 --locale=C.UTF-8"
PG_TEMPLATE=$top_builddir/tests/pg-template-$(echo "$PG_BINDIR $PG_INITDB_ARGS" | cksum | cut -d' ' -f1)
start_postgres() {
	[ -x "$PG_BINDIR/initdb" ] || bail "no PostgreSQL server binaries in $PG_BINDIR"
	PGDATA_DIR=$T/pg
	[ "$(id -u)" = 0 ] && chown postgres "$T"
	if [ -f "$PG_TEMPLATE/PG_VERSION" ] && cp -a "$PG_TEMPLATE" "$PGDATA_DIR" 2>/dev/null; then
		: >"$T/initdb.log"
	else
		rm -rf "$PGDATA_DIR"
		mkdir -p "$PGDATA_DIR" && chmod 700 "$PGDATA_DIR"
		[ "$(id -u)" = 0 ] && chown postgres "$PGDATA_DIR"
		# shellcheck disable=SC2086
		as_pg "$PG_BINDIR/initdb" -D "$PGDATA_DIR" $PG_INITDB_ARGS >"$T/initdb.log" 2>&1 ||
			{ cat "$T/initdb.log"; bail "initdb failed"; }
		# mv -T fails if another test published first: its copy stays.
		if mkdir -p "$(dirname "$PG_TEMPLATE")" && cp -a "$PGDATA_DIR" "$PG_TEMPLATE.$$" 2>/dev/null; then
			mv -T "$PG_TEMPLATE.$$" "$PG_TEMPLATE" 2>/dev/null
		fi
		rm -rf "$PG_TEMPLATE.$$"
	fi
	as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -l "$T/pg.log" -w \
		-o "-k $T -c listen_addresses='${PG_LISTEN:-}' -F -c max_connections=50" start >/dev/null || { cat "$T/pg.log"; bail "PostgreSQL did not start"; }
	PG_CONNINFO="host=$T dbname=vmeter user=vmeter"
	psql_q "postgres" "CREATE DATABASE vmeter" >/dev/null || bail "createdb failed"
}

stop_postgres() { as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -m "${1:-fast}" -w stop >/dev/null; }
restart_postgres() {
	as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -l "$T/pg.log" -w -o "-k $T -c listen_addresses='${PG_LISTEN:-}' -F" \
		start >/dev/null
}

# PG_LISTEN=127.0.0.1 (and PGPORT) before start_postgres: TCP as well.
# A free TCP port on the loopback interface.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Makes every usage row cost SECONDS of the database's time: a slow
# database keeps delivery busy, so that faults land in the middle of it.
pg_slow_rows() {
	psql_q "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS
		\$\$ BEGIN PERFORM pg_sleep($1); RETURN NEW; END \$\$;
		CREATE TRIGGER slow BEFORE INSERT ON vm_usage_minute FOR EACH ROW EXECUTE FUNCTION slow_row()" >/dev/null
}

# psql_q [DBNAME] SQL: one value per line, unaligned.
psql_q() {
	if [ $# = 2 ]; then _db=$1; shift; else _db=vmeter; fi
	psql -X -q -A -t -v ON_ERROR_STOP=1 "host=$T dbname=$_db user=vmeter" -c "$1"
}

start_rrdcached() {
	RRDCACHED_SOCK=$T/rrdcached.sock
	mkdir -p "$T/rrd" "$T/rrd-journal"
	rrdcached -g -l "unix:$RRDCACHED_SOCK" -b "$T/rrd" -B -j "$T/rrd-journal" -F -w 3600 -z 1 \
		-p "$T/rrdcached.pid" >"$T/rrdcached.log" 2>&1 &
	RRDCACHED_PID=$!
	_pids="$_pids $RRDCACHED_PID"
	for _ in $(seq 50); do [ -S "$RRDCACHED_SOCK" ] && return 0; sleep 0.1; done
	bail "rrdcached did not start"
}

start_libvirtd() {
	LIBVIRT_DIR=$T/libvirt
	mkdir -p "$LIBVIRT_DIR"
	cat >"$LIBVIRT_DIR/libvirtd.conf" <<EOC
unix_sock_dir = "$LIBVIRT_DIR"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0777"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:$LIBVIRT_DIR/libvirtd.log"
EOC
	# An unprivileged (session) libvirtd keeps its state under our
	# directory, clear of a system libvirtd on the same machine.
	if [ "$(id -u)" = 0 ]; then
		chown -R nobody "$LIBVIRT_DIR"
		_as="runuser -u nobody --"
	else
		_as=""
	fi
	$_as env HOME="$LIBVIRT_DIR" XDG_RUNTIME_DIR="$LIBVIRT_DIR" XDG_CONFIG_HOME="$LIBVIRT_DIR" \
		XDG_CACHE_HOME="$LIBVIRT_DIR" libvirtd --config "$LIBVIRT_DIR/libvirtd.conf" \
		--pid-file "$LIBVIRT_DIR/pid" >"$LIBVIRT_DIR/out" 2>&1 &
	for _ in $(seq 50); do [ -s "$LIBVIRT_DIR/pid" ] && break; sleep 0.1; done
	LIBVIRTD_PID=$(cat "$LIBVIRT_DIR/pid" 2>/dev/null)
	_pids="$_pids $LIBVIRTD_PID"
	LIBVIRT_SOCK=$LIBVIRT_DIR/libvirt-sock
	for _ in $(seq 100); do [ -S "$LIBVIRT_SOCK" ] && [ -n "$LIBVIRTD_PID" ] && return 0; sleep 0.1
		[ -n "$LIBVIRTD_PID" ] || LIBVIRTD_PID=$(cat "$LIBVIRT_DIR/pid" 2>/dev/null); done
	cat "$LIBVIRT_DIR/out" "$LIBVIRT_DIR/libvirtd.log" 2>/dev/null | tail -5
	bail "libvirtd did not start"
}

stop_libvirtd() {
	kill "$LIBVIRTD_PID" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$LIBVIRTD_PID" 2>/dev/null || break; sleep 0.1; done
	rm -f "$LIBVIRT_SOCK"
}

# libvirtd shares only test:///default between connections (a test-driver
# file gets a private instance per connection), and only while one stays
# open: a background `virsh event` holds it (and logs the events).  The
# fleet is defined into it: the domains of tests/data/fleet.xml, started
# unless their runstate says shut off (5); the driver's 'test' domain goes.
TEST_URI=""
setup_fleet() {
	TEST_URI="test+unix:///default?socket=$LIBVIRT_SOCK"
	virsh -c "$TEST_URI" event --all --loop --timestamp >"$T/events.log" 2>&1 &
	_pids="$_pids $!"
	# Until `virsh event` holds the driver, a change made by another
	# connection is gone with it: retry until the removal sticks.
	_gone=0
	for _ in $(seq 100); do
		virsh_t destroy test >/dev/null 2>&1
		virsh_t undefine test >/dev/null 2>&1
		if ! virsh_t list --all --name 2>/dev/null | grep -qx test; then _gone=1; break; fi
		sleep 0.1
	done
	[ $_gone = 1 ] || bail "cannot remove the test driver's default domain"
	awk -v dir="$T" '
		/<domain / { n++; f = dir "/dom" n ".xml"; off = 0 }
		f && /test:runstate>5</ { off = 1; next }
		f { print > f }
		/<\/domain>/ { close(f); print f, off; f = "" }' "$top_srcdir/tests/data/fleet.xml" |
	while read -r file off; do
		virsh_t define "$file" >/dev/null || bail "cannot define $file"
		name=$(sed -n 's:.*<name>\(.*\)</name>.*:\1:p' "$file" | head -1)
		[ "$off" = 1 ] || virsh_t start "$name" >/dev/null || bail "cannot start $name"
	done
}
virsh_t() { virsh -q -c "$TEST_URI" "$@"; }

# write_conf FILE [EXTRA LINES]: a collector config for this harness.
# RAPL is not read unless CONF_POWER_SOURCE=rapl (and CONF_POWERCAP_ROOT
# a fake tree): a test's rows must not depend on the machine it runs on.
write_conf() {
	cat >"$1" <<EOC
log-level = info
collector {
  libvirt-uri = "${CONF_URI:-test:///default}"
  host-name = "${CONF_HOST:-hv1}"
  interval = ${CONF_INTERVAL:-1}
  inventory-refresh = ${CONF_REFRESH:-5}
  max-gap = ${CONF_MAX_GAP:-30}
  state-dir = "$T/state"
  rrd-dir = "$T/rrd"
  rrdcached = "${CONF_RRDCACHED:-}"
  reconnect-max = 2
  power-source = "${CONF_POWER_SOURCE:-none}"
  powercap-root = "${CONF_POWERCAP_ROOT:-/sys/class/powercap}"
}
database {
  conninfo = "${CONF_CONNINFO:-$PG_CONNINFO}"
  batch-rows = 500
}
${2:-}
EOC
}

# in_ns NETNS COMMAND...: runs COMMAND in a network namespace made by `ip
# netns add`.  Not `ip netns exec` or `ip -n`, which also remount / and /sys
# and fail where / is not a mount point (a chroot); the net sysctls follow
# the namespace, /sys does not (see mac_ns).
in_ns() { _ns=$1; shift; nsenter --net="/run/netns/$_ns" "$@"; }

# quiet_if [NETNS] IF: no IPv6 link-local address, DAD or router
# solicitations on IF, so that once set up it carries only a test's frames.
# MLD reports (joining an address's solicited-node group) repeat within
# 10 ms rather than 1 s, so a test's settling sees them end.
quiet_if() {
	if [ $# = 2 ]; then _x="in_ns $1"; _if=$2; else _x=""; _if=$1; fi
	$_x ip link set dev "$_if" addrgenmode none
	$_x sysctl -qw "net.ipv6.conf.$_if.accept_dad=0" "net.ipv6.conf.$_if.router_solicitations=0" \
		"net.ipv6.conf.$_if.mldv2_unsolicited_report_interval=10" \
		"net.ipv6.conf.$_if.mldv1_unsolicited_report_interval=10"
}
mac() { cat "/sys/class/net/$1/address"; }
# /sys shows the namespace of whoever mounted it: ask ip instead.
mac_ns() { in_ns "$1" ip -br link show dev "$2" | awk '{ print $3 }'; }

# wait_for [DESCRIPTION] SECONDS COMMAND...: polls until COMMAND succeeds;
# after SECONDS it gives up, says what it waited for (a TAP comment) and
# fails.  SECONDS is a deadline for a state that must come, not a time it
# takes: be generous (60 s or more), a loaded machine is slow.
wait_for() {
	case $1 in
	'' | *[!0-9]*) _wdesc=$1; shift ;;
	*) _wdesc="" ;;
	esac
	_t=$1; shift
	_end=$(($(date +%s) + _t))
	while [ "$(date +%s)" -le "$_end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "# timed out after $_t s waiting for: ${_wdesc:-$*}"
	return 1
}

# Starts the collector in the background: start_collector CONF [ENV...]
# Its RRD archives are capped at $VMETER_TEST_RRD_ROWS rows (lib/rrdout.c;
# 600 unless set, "" for the production layout): files are made in an
# instant (the full layout is 4.5 MB per VM at a 1 s step), and no test
# reads an RRD further back.
start_collector() {
	_conf=$1; shift
	_collector_conf=$_conf
	_collector_env=(VMETER_TEST_RRD_ROWS="${VMETER_TEST_RRD_ROWS-600}" "$@")
	env "${_collector_env[@]}" "$COLLECTOR" -c "$_conf" >>"$T/collector.log" 2>&1 &
	COLLECTOR_PID=$!
	_pids="$_pids $COLLECTOR_PID"
}

# Stops the collector with SIGTERM; COLLECTOR_RC is its exit status.  A
# stopped collector keeps its open minutes in its saved state for the next
# start; unless STOP_FLUSH=0, `vmeter-collector -F` (with the same
# environment) then writes them, as a test that looks at every minute
# wants.  FLUSH_RC is its exit status.
stop_collector() {
	kill -TERM "$COLLECTOR_PID" 2>/dev/null
	for _ in $(seq 150); do kill -0 "$COLLECTOR_PID" 2>/dev/null || break; sleep 0.1; done
	wait "$COLLECTOR_PID" 2>/dev/null
	COLLECTOR_RC=$?
	FLUSH_RC=0
	if [ "${STOP_FLUSH:-1}" = 1 ] && [ "$COLLECTOR_RC" = 0 ]; then
		# The writer thread starts after the stop: -F must still deliver.
		env "${_collector_env[@]}" VMETER_TEST_WRITER_LATE_MS=300 "$COLLECTOR" -c "$_collector_conf" -F \
			>>"$T/collector.log" 2>&1
		FLUSH_RC=$?
	fi
}

# A collector clock (wall clock only: monotonic time stays real) that runs
# at an offset from the real one; libfaketime reads the offset file on every
# call, so moving it steps the clock of a running collector.  The MT build:
# the plain one re-parses that file into shared state unlocked, and with
# the collector's threads reading the clock at once it returned the real
# (unshifted) time about once in 400 calls here, a step back of the whole
# offset that the collector then rightly logged and counted late.
FAKE_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
FAKE_OFF=0
fake_clock_set() { # fake_clock_set OFFSET_SECONDS
	FAKE_OFF=$1
	echo "$( [ "$1" -ge 0 ] && echo +)$1" >"$T/fake-offset.tmp" && mv "$T/fake-offset.tmp" "$T/fake-offset"
}
fake_now() { echo $(( $(date +%s) + FAKE_OFF )); }
# fake_clock_before_minute LEAD [STEP]: the collector's clock jumps forward
# by about STEP seconds (0) to LEAD seconds before a minute boundary.
fake_clock_before_minute() {
	_to=$(( $(fake_now) + ${2:-0} ))
	_b=$(( (_to / 60 + 1) * 60 ))
	[ $((_b - $1)) -ge "$(fake_now)" ] || _b=$((_b + 60))
	fake_clock_set $(( FAKE_OFF + _b - $1 - $(fake_now) ))
}
# fake_sec: how far the fake clock is into its minute, in seconds (12.345).
fake_sec() { _ns=$(date +%s%N); echo "$(( (${_ns%?????????} + FAKE_OFF) % 60 )).${_ns: -9:3}"; }
# sec_between A B: the fake clock is from A to before B seconds into its
# minute (before a fake_clock_set, it is the real clock).
sec_between() { awk -v s="$(fake_sec)" -v a="$1" -v b="$2" 'BEGIN { exit !(s >= a && s < b) }'; }
# start_collector_faked CONF [ENV...]: start_collector on the fake clock.
# Fast unwinding keeps ASan's start-up short for tests that restart often.
start_collector_faked() {
	[ -f "$FAKE_LIB" ] || bail "libfaketime is not installed"
	[ -f "$T/fake-offset" ] || fake_clock_set 0
	_c=$1; shift
	start_collector "$_c" LD_PRELOAD="$FAKE_LIB" FAKETIME_TIMESTAMP_FILE="$T/fake-offset" FAKETIME_NO_CACHE=1 \
		FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS="${ASAN_OPTIONS:-}:fast_unwind_on_malloc=1" "$@"
}

# build_backlog CONF LEDGER RUNS ROWS: with the database unreachable, runs
# the collector RUNS times, each from 10 s before a minute boundary (on its
# clock) until at least ROWS more rows are in the ledger, then kills it: a
# backlog of about RUNS x ROWS rows in RUNS spool segments.  The 10 s are
# for its start-up (up to 5 s seen with ASan on a loaded machine); a slower
# start finds the rows of the next minute instead, hence the deadline.
build_backlog() {
	for _i in $(seq "$3"); do
		_n0=$(cat "$2" 2>/dev/null | wc -l)
		fake_clock_before_minute 10
		start_collector_faked "$1" VMETER_TEST_LEDGER="$2"
		wait_for "$4 more rows in the ledger $2 (run $_i of $3, $_n0 before)" 150 \
			sh -c "[ \$(cat '$2' 2>/dev/null | wc -l) -ge $((_n0 + $4)) ]" || bail "no usage rows in the ledger"
		kill -9 "$COLLECTOR_PID"
		wait "$COLLECTOR_PID" 2>/dev/null
	done
}

# start_test_fleet VMS: PostgreSQL, libvirtd serving a libvirt test-driver
# file of VMS domains (bench/gen-fleet.sh), $T/vmeter.conf for it at a 2 s
# interval with max-gap 20 s, and the schema.  Each connection gets its own
# instance of the file, so the domains survive a libvirtd restart with
# their ids, like QEMU guests do; their counters follow the wall clock.
start_test_fleet() {
	start_postgres
	start_libvirtd
	sh "$top_srcdir/bench/gen-fleet.sh" "$1" >"$T/fleet.xml"
	chmod 644 "$T/fleet.xml"
	CONF_URI="test+unix://$T/fleet.xml?socket=$LIBVIRT_SOCK" CONF_INTERVAL=2 CONF_MAX_GAP=20 \
		write_conf "$T/vmeter.conf"
	"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
}

# reconcile_samples SAMPLES VMS: the rows against libvirt's counters, for
# VMS domains that ran throughout (SAMPLES: the collector's
# VMETER_TEST_SAMPLES ledger).  Five tests: each domain kept its id; the
# stored CPU ns, disk bytes written and network bytes equal the counters'
# change from the first sample to the last exactly; rows from the first
# sampled minute to the last; none missing in between; those covered in
# full.  (Integers beyond 2^53: python, not awk.)
reconcile_samples() {
	python3 - "$1" >"$T/expected" <<'EOP'
import sys
first, last = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    first.setdefault(f[0], f)
    last[f[0]] = f
for u in sorted(first):
    a, b = first[u], last[u]
    print(u, int(a[1]) // 60_000_000_000, int(b[1]) // 60_000_000_000,
          *(int(b[k]) - int(a[k]) for k in range(3, 7)))
EOP
	is "$(awk '{ print $1, $3 }' "$1" | sort -u | wc -l)" "$2" "each domain kept its id throughout (one run each)"
	psql_q "COPY (SELECT v.uuid, (extract(epoch FROM min(u.minute)) / 60)::bigint,
		(extract(epoch FROM max(u.minute)) / 60)::bigint, sum(u.cpu_ns)::numeric, sum(u.disk_wr_bytes)::numeric,
		sum(u.net_rx_bytes)::numeric, sum(u.net_tx_bytes)::numeric
		FROM vm_usage_minute u JOIN vm v USING (vm_id) GROUP BY v.uuid ORDER BY v.uuid) TO STDOUT" |
		tr '\t' ' ' >"$T/stored"
	awk '{ print $1, $4, $5, $6, $7 }' "$T/expected" >"$T/expected.sums"
	awk '{ print $1, $4, $5, $6, $7 }' "$T/stored" >"$T/stored.sums"
	if diff "$T/expected.sums" "$T/stored.sums" >/dev/null; then
		ok 0 "stored CPU ns, disk and network bytes equal libvirt's deltas exactly"
	else
		ok 1 "stored CPU ns, disk and network bytes equal libvirt's deltas exactly"
		diff "$T/expected.sums" "$T/stored.sums" | sed 's/^/# /'
	fi
	awk '{ print $1, $2, $3 }' "$T/expected" >"$T/expected.span"
	awk '{ print $1, $2, $3 }' "$T/stored" >"$T/stored.span"
	diff -q "$T/expected.span" "$T/stored.span" >/dev/null
	ok $? "rows from the first sampled minute to the last"
	is "$(psql_q "SELECT coalesce(sum(n), 0) FROM (SELECT vm_id, (extract(epoch FROM max(minute) - min(minute)) / 60)::int
		+ 1 - count(*) AS n FROM vm_usage_minute GROUP BY vm_id) m")" 0 \
		"no minute without a row between a VM's first and last"
	is "$(psql_q "SELECT count(*) FROM vm_usage_minute u WHERE coverage_ms < 60000 AND minute > (SELECT min(minute)
		FROM vm_usage_minute w WHERE w.vm_id = u.vm_id) AND minute < (SELECT max(minute) FROM vm_usage_minute w
		WHERE w.vm_id = u.vm_id)")" 0 "every minute between the first and the last is covered in full"
}

# The VM rows a ledger acknowledged and the VM rows in the database, as
# sorted "uuid minute-epoch" lines.
ledger_rows() { awk '$1 != "host" { print $1, $2 }' "$1" | sort -u; }
db_rows() {
	psql_q "COPY (SELECT v.uuid || ' ' || extract(epoch FROM u.minute)::bigint FROM vm_usage_minute u
		JOIN vm v USING (vm_id)) TO STDOUT" | sort
}
# reconcile LEDGER: every acknowledged row is stored, none twice.
reconcile() {
	ledger_rows "$1" >"$T/ledger.rows"
	db_rows >"$T/db.rows"
	_miss=$(comm -23 "$T/ledger.rows" "$T/db.rows" | wc -l)
	is "$_miss" 0 "every acknowledged row is in the database (0 lost of $(wc -l <"$T/ledger.rows"))"
	[ "$_miss" = 0 ] || comm -23 "$T/ledger.rows" "$T/db.rows" | head -5 | sed 's/^/# missing: /'
	_dups=$(psql_q "SELECT count(*) FROM (SELECT 1 FROM vm_usage_minute GROUP BY vm_id, minute, host_id
		HAVING count(*) > 1) d")
	is "$_dups" 0 "no row stored twice"
}

# seed_storage SEED: the current schema in $PG_CONNINFO's database, filled
# by tests/data/storage/seed4.sql (random usage over three days of October
# 2026 drawn with SEED), with the independent views over its raw rows
# (tests/data/storage/indep.py).  Needs write_conf "$T/vmeter.conf".
seed_storage() {
	"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
	psql_q "SELECT vm_ensure_partitions('2026-10-23 00:00+00', '2026-10-28 00:00+00')" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -v seed="$1" "$PG_CONNINFO" -f "$top_srcdir/tests/data/storage/seed4.sql" \
		>/dev/null || bail "seed failed"
	python3 "$top_srcdir/tests/data/storage/indep.py" >"$T/indep.sql"
	psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$T/indep.sql" >/dev/null || bail "views"
}
