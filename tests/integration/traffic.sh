#!/bin/bash
# Per-VM traffic by class end to end: libvirtd's test driver holds a domain
# whose NIC <target dev> is the host end of a veth pair this test creates
# (vmw<PID>a); the peer, in network namespace vmwn<PID>, plays the VM.  The
# collector runs with traffic classes, captures on that interface and
# writes vm_traffic_minute, vm_capture_minute and host_capture_minute rows
# through its spool.  Known UDP datagrams, only between addresses on the
# test's own interfaces, both ways and in two classes, sent across a UTC
# minute boundary (the collector's clock is moved by libfaketime), must be
# counted exactly per class and direction (the byte rule of
# docs/internals/capture.md: payload + UDP 8 + IPv4 20 + Ethernet 14).
# The batch is then delivered a second time (its spool restored, the
# database's delivery mark removed): nothing is counted twice.  Last, a
# capture that cannot start (capture.user names no user) is one log line
# and usage rows as before.
#
# The test driver's interface counters are synthetic, so libvirt_*_bytes
# cannot equal the captured bytes here; only that they are filled is
# checked (tests/integration/qemu-guest.sh has a real tap).
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (network namespaces, CAP_NET_RAW)"
	exit 0
fi
command -v python3 >/dev/null || { echo "1..0 # SKIP no python3"; exit 0; }
[ -f "$FAKE_LIB" ] || { echo "1..0 # SKIP libfaketime is not installed"; exit 0; }

ID=$$
NS=vmwn$ID
# Addresses of this run's own: a run beside another one on the same host
# (another checkout's suite) must not share them.
S=$((ID % 250 + 1))
HOSTA=10.241.$S.1 VMA=10.241.$S.2 NETA=198.51.100.$S
A=vmw${ID}a  # the VM's tap
AP=vmw${ID}p # the VM's NIC
on_cleanup "ip link del $A 2>/dev/null; ip netns del $NS 2>/dev/null"
ip netns add "$NS" 2>/dev/null || { echo "1..0 # SKIP cannot create network namespaces"; exit 0; }

plan 22

# ---------------------------------------------------------------- network
# quiet_if, mac and mac_ns are in tests/lib.sh.

ip link add "$A" type veth peer name "$AP" || bail "cannot create veth $A"
ip link set "$AP" netns "$NS"
quiet_if "$A"
quiet_if "$NS" "$AP"
in_ns "$NS" ip link set lo up
ip addr add "$HOSTA/24" dev "$A"
ip addr add "$NETA/24" dev "$A"
in_ns "$NS" ip addr add "$VMA/24" dev "$AP"
ip link set "$A" up
in_ns "$NS" ip link set "$AP" up
in_ns "$NS" ip route add 198.51.100.0/24 via "$HOSTA"
ip neigh replace "$VMA" lladdr "$(mac_ns "$NS" "$AP")" dev "$A" nud permanent
in_ns "$NS" ip neigh replace "$HOSTA" lladdr "$(mac "$A")" dev "$AP" nud permanent

cat >"$T/net.py" <<'EOP'
import socket, sys, time
if sys.argv[1] == "listen":
    socks = []
    for a in sys.argv[2:]:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a, 9999))
        socks.append(s)
    time.sleep(3600)
else:  # udp SRC DST COUNT PAYLOAD
    src, dst, n, size = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    for i in range(n):
        s.sendto(b"u" * size, (dst, 9999))
EOP
python3 "$T/net.py" listen "$HOSTA" "$NETA" &
_pids="$_pids $!"
nsenter --net="/run/netns/$NS" python3 "$T/net.py" listen "$VMA" &
_pids="$_pids $!"
udp() { python3 "$T/net.py" udp "$@"; }
udp_vm() { in_ns "$NS" python3 "$T/net.py" udp "$@"; }

# ---------------------------------------------------------------- servers
start_postgres
start_libvirtd
setup_fleet
UUID=77777777-7777-4777-8777-777777777777
cat >"$T/tvm.xml" <<EOX
<domain type='test'>
  <name>tvm</name>
  <uuid>$UUID</uuid>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <interface type='ethernet'>
      <mac address='52:54:00:00:04:01'/>
      <target dev='$A'/>
    </interface>
  </devices>
</domain>
EOX
virsh_t define "$T/tvm.xml" >/dev/null || bail "cannot define tvm"
virsh_t start tvm >/dev/null || bail "cannot start tvm"
TRAFFIC='traffic-default = "internet"
traffic-class "internal" { prefixes = {"10.241.0.0/16"} }
capture { user = "nobody" }'
# Phase 1 spools only: a database name that does not exist keeps delivery
# away, so that the spool can be copied for the second delivery.
CONF_URI=$TEST_URI write_conf "$T/vmeter.conf" "$TRAFFIC"
CONF_URI=$TEST_URI CONF_CONNINFO="host=$T dbname=nosuchdb user=vmeter" write_conf "$T/spool-only.conf" "$TRAFFIC"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
q() { psql_q "$1"; }

# ---------------------------------------------------------------- phase 1
# The collector's clock starts 20 s before a minute boundary: time to start
# up and send a first round before it (else the rounds go on to the next).
fake_clock_before_minute 20
t_run=$(date +%s)
start_collector_faked "$T/spool-only.conf"
log=$T/collector.log
wait_for 120 grep -q "traffic capture started" "$log" || bail "the capture did not start: $(tail -3 "$log")"
# The worker is ready and filters on the tap once it reports the
# interfaces it found: the same report says web1's NIC does not exist.
wait_for 60 sh -c "ps -o user= --ppid $COLLECTOR_PID | grep -q nobody" || bail "no capture worker"
wait_for 60 grep -q "capture: no interface 'web1-nic0'" "$log" || bail "the worker reported no interfaces"
tx0=$(cat /sys/class/net/$A/statistics/tx_bytes) rx0=$(cat /sys/class/net/$A/statistics/rx_bytes)
# Rounds a second apart, at least six, the first one over at least 2 s
# before a minute boundary B on the collector's clock, the last one begun
# after it: the boundary falls among them (a round takes seconds on a
# loaded machine).  Per round, from the VM (its tx): internal 5 x (100 + 42),
# internet 2 x (300 + 42); to the VM (its rx): internal 3 x (200 + 42),
# internet 1 x (50 + 42).
f0=$(fake_now)
B=0 rounds=0 last=0
while [ $rounds -lt 6 ] || [ "$last" -le "$B" ]; do
	last=$(fake_now)
	udp_vm "$VMA" "$HOSTA" 5 100
	udp_vm "$VMA" "$NETA" 2 300
	udp "$HOSTA" "$VMA" 3 200
	udp "$NETA" "$VMA" 1 50
	rounds=$((rounds + 1))
	[ $B != 0 ] || B=$(( ($(fake_now) + 2 + 59) / 60 * 60 ))
	sleep 1
done
diag "$rounds rounds across the minute boundary at $(date -u -d "@$B" +%H:%M:%S) (the collector's clock)"
sleep 2
f1=$(fake_now)
tx1=$(cat /sys/class/net/$A/statistics/tx_bytes) rx1=$(cat /sys/class/net/$A/statistics/rx_bytes)
stop_collector
t_run=$(( $(date +%s) - t_run + 1 ))
is "$COLLECTOR_RC" 0 "collector with traffic classes exits cleanly"
diag "veth $A: host sent $((tx1 - tx0)) bytes (the VM's rx), received $((rx1 - rx0)) (its tx)"
grep -q "capture: .*" "$log" && grep "capture" "$log" | head -3 | sed 's/^/# log: /'

# ---------------------------------------------------------------- phase 2
cp -a "$T/state/spool" "$T/spool.copy"
t2=$(date +%s)
start_collector_faked "$T/vmeter.conf"
delivered() { grep -q '"spool_records": 0' "$T/state/status.json" && [ "$(q "SELECT count(*) FROM vm_traffic_minute")" -gt 0 ]; }
wait_for 180 delivered || diag "delivery did not finish: $(cat "$T/state/status.json")"
stop_collector
# Both runs captured: at most this long.
t_run=$(( t_run + $(date +%s) - t2 + 1 ))

sums() { # sums CLASS: "rx_bytes tx_bytes rx_packets tx_packets" of tvm over all minutes
	q "SELECT coalesce(sum(rx_bytes),0) || ' ' || coalesce(sum(tx_bytes),0) || ' ' || coalesce(sum(rx_packets),0) || ' ' ||
	   coalesce(sum(tx_packets),0) FROM vm_traffic_minute t JOIN vm USING (vm_id) WHERE uuid = '$UUID' AND class = '$1'"
}
q "SELECT to_char(minute, 'HH24:MI') || ' ' || class || ' rx ' || rx_bytes || '/' || rx_packets || ' tx ' || tx_bytes || '/' ||
	tx_packets FROM vm_traffic_minute t JOIN vm USING (vm_id) WHERE uuid = '$UUID' ORDER BY minute, class" | sed 's/^/# minute /'
want_int="$((rounds * 3 * 242)) $((rounds * 5 * 142)) $((rounds * 3)) $((rounds * 5))"
want_net="$((rounds * 1 * 92)) $((rounds * 2 * 342)) $rounds $((rounds * 2))"
is "$(sums internal)" "$want_int" "class internal: rx/tx bytes and packets exactly as sent"
is "$(sums internet)" "$want_net" "class internet: rx/tx bytes and packets exactly as sent"
other=$(q "SELECT count(*) FROM vm_traffic_minute t JOIN vm USING (vm_id) WHERE uuid = '$UUID' AND class NOT IN ('internal', 'internet')")
is "$other" 0 "no other class counted (the set-up is quiet)"
is "$(( (tx1 - tx0) + (rx1 - rx0) ))" "$(( rounds * (3 * 242 + 92 + 5 * 142 + 2 * 342) ))" \
	"the veth's own counters agree with what was sent"
minutes=$(q "SELECT count(DISTINCT minute) FROM vm_traffic_minute t JOIN vm USING (vm_id) WHERE uuid = '$UUID'")
# At most the minutes from the first round to 2 s after the last.
within "$minutes" 2 $(( f1 / 60 - f0 / 60 + 1 )) "the traffic spans a minute boundary ($minutes minutes)"
# Every traffic minute has its coverage row, with the sums of its classes.
mismatch=$(q "SELECT count(*) FROM vm_capture_minute c JOIN vm USING (vm_id), LATERAL (SELECT coalesce(sum(rx_bytes),0) AS rx,
	coalesce(sum(tx_bytes),0) AS tx FROM vm_traffic_minute t WHERE t.vm_id = c.vm_id AND t.minute = c.minute AND t.host_id = c.host_id) s
	WHERE uuid = '$UUID' AND (c.captured_rx_bytes <> s.rx OR c.captured_tx_bytes <> s.tx)")
is "$mismatch" 0 "captured_*_bytes of each coverage row are the sums of its classes"
orphans=$(q "SELECT count(*) FROM vm_traffic_minute t WHERE NOT EXISTS (SELECT 1 FROM vm_capture_minute c
	WHERE c.vm_id = t.vm_id AND c.minute = t.minute AND c.host_id = t.host_id)")
is "$orphans" 0 "every traffic minute has a coverage row"
cap_ms=$(q "SELECT coalesce(sum(captured_ms),0) FROM vm_capture_minute JOIN vm USING (vm_id) WHERE uuid = '$UUID'")
within "$cap_ms" 8000 $((t_run * 1000)) "vm_capture_minute: the VM's tap was captured ($cap_ms ms in two runs of $t_run s)"
lv=$(q "SELECT count(*) FROM vm_capture_minute c JOIN vm USING (vm_id) JOIN vm_usage_minute u USING (vm_id, minute, host_id)
	WHERE uuid = '$UUID' AND c.libvirt_rx_bytes = u.net_rx_bytes AND c.libvirt_tx_bytes = u.net_tx_bytes")
# Minutes that both runs can have touched:
run_min=$(( t_run / 60 + 4 ))
within "$lv" 1 "$run_min" "libvirt_*_bytes are the minute's usage row's net bytes ($lv minutes; test driver: synthetic)"
nocap=$(q "SELECT coalesce(max(captured_ms),0) FROM vm_capture_minute c JOIN vm USING (vm_id) WHERE uuid = '11111111-1111-4111-8111-111111111111'")
is "$nocap" 0 "a VM whose tap does not exist is not counted as captured"
hc=$(q "SELECT count(*) || ' ' || coalesce(sum(drops), -1) || ' ' || sum(ifdrops) || ' ' || (sum(frames) >= $rounds * 11) FROM host_capture_minute")
within "$(echo "$hc" | cut -d' ' -f1)" 2 "$run_min" "host_capture_minute rows for the minutes captured"
is "$(echo "$hc" | cut -d' ' -f2-)" "0 0 true" "no capture drops, and at least the frames sent"

# vmeter-admin usage --traffic: the same rows, with the coverage.
n_rows=$(q "SELECT count(*) FROM vm_traffic_minute t JOIN vm USING (vm_id) WHERE uuid = '$UUID'")
out=$("$ADMIN" -c "$T/vmeter.conf" usage --traffic --vm tvm --from @0 --to @4000000000 --csv 2>&1)
is "$(echo "$out" | head -1)" "minute,host,vm,uuid,class,rx_bytes,tx_bytes,rx_packets,tx_packets,captured_s,rx_cov_pct,tx_cov_pct,captured_rx_bytes,captured_tx_bytes,libvirt_rx_bytes,libvirt_tx_bytes" \
	"usage --traffic --csv: the columns"
is "$(echo "$out" | awk -F, 'NR > 1 && $5 == "internal" { rx += $6; tx += $7 } NR > 1 { n++ } END { print n, rx, tx }')" \
	"$n_rows $((rounds * 3 * 242)) $((rounds * 5 * 142))" "usage --traffic --csv: a row per minute and class, the same bytes"
# RRD: a file per VM and class, DERIVE counters.
ls "$T/rrd/vm-$UUID-traffic-internal.rrd" "$T/rrd/vm-$UUID-traffic-internet.rrd" >/dev/null 2>&1
ok $? "an RRD file per VM and traffic class"

# ---------------------------------------------------------------- phase 3
# The same batch once more: its spool restored and the delivery mark gone,
# as after a commit whose outcome the collector never learnt.
before=$(q "SELECT count(*) || ' ' || sum(rx_bytes + tx_bytes) FROM vm_traffic_minute")
before_cov=$(q "SELECT count(*) FROM vm_capture_minute")
rm -rf "$T/state/spool"
cp -a "$T/spool.copy" "$T/state/spool"
q "DELETE FROM host_delivery" >/dev/null
start_collector_faked "$T/vmeter.conf"
dups() { [ "$(sed -n 's/.*"duplicate_rows": \([0-9]*\).*/\1/p' "$T/state/status.json")" -gt 0 ]; }
wait_for 120 dups
ok $? "the resent batch was delivered again (its usage rows as duplicates)"
stop_collector
is "$(q "SELECT count(*) || ' ' || sum(rx_bytes + tx_bytes) FROM vm_traffic_minute")" "$before" \
	"a second delivery counts no traffic twice"
is "$(sums internal) / $(sums internet)" "$want_int / $want_net" "the class sums are unchanged"
added=$(q "SELECT count(*) FROM vm_capture_minute")
within "$added" "$before_cov" "$((before_cov + 8))" "coverage rows: only minutes of the last run added ($before_cov -> $added)"

# ---------------------------------------------------------------- bad input
# A capture that cannot run: one clear line, metering goes on without
# traffic classes.
CONF_URI=$TEST_URI CONF_HOST=hv-nocap write_conf "$T/nocap.conf" 'traffic-class "internal" { prefixes = {"10.241.0.0/16"} }
capture { user = "no-such-user-vmeter" }'
: >"$log"
# 10 s before a minute on its clock: a usage row comes soon.
fake_clock_before_minute 10
start_collector_faked "$T/nocap.conf"
has_usage() { [ "$(q "SELECT count(*) FROM vm_usage_minute u JOIN host USING (host_id) WHERE hostname = 'hv-nocap'")" -gt 0 ]; }
wait_for 120 grep -q "traffic capture disabled" "$log"
wait_for "usage rows of hv-nocap" 120 has_usage
stop_collector
lines=$(grep -c "traffic capture disabled, metering without traffic classes: no user 'no-such-user-vmeter' (capture.user)" "$log")
is "$lines" 1 "an impossible capture is one clear log line"
has_usage
ok $? "usage rows are written without the capture"
