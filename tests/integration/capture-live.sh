#!/bin/bash
# The capture worker on live interfaces (collector/capture.c through
# tests/capture_probe): a veth pair plays a VM's tap, its root-namespace end
# (vmt<PID>a) the tap and the peer, in namespace vmns<PID>, the VM.  Known
# UDP, ICMPv6 and ARP traffic both ways, only between addresses this test
# puts on its own interfaces, must be counted exactly per traffic class and
# direction, and agree with the veth's own counters.  Then: the worker runs
# unprivileged; traffic of a second veth outside the set is not even copied
# (the kernel filter); interfaces join, leave and are recreated; a missing
# interface is reported; a killed worker is restarted and its interval
# flagged.
. "$(dirname "$0")/../lib.sh"

PROBE=$top_builddir/tests/capture_probe
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (network namespaces, CAP_NET_RAW)"
	exit 0
fi
[ -x "$PROBE" ] || bail "$PROBE is not built (make check builds it)"
command -v python3 >/dev/null || { echo "1..0 # SKIP no python3"; exit 0; }

ID=$$
NS=vmns$ID   # the VM
NS2=vmnb$ID  # behind the second veth, not in the set at first
A=vmt${ID}a  # the VM's "tap"
AP=vmt${ID}p # the VM's NIC
C=vmt${ID}c  # a second "tap"
CP=vmt${ID}d
# Addresses of this run's own: a run beside another one on the same host
# (another checkout's suite) must not share them.
S=$((ID % 250 + 1))
on_cleanup "ip link del $A 2>/dev/null; ip link del $C 2>/dev/null; ip netns del $NS 2>/dev/null; ip netns del $NS2 2>/dev/null"
ip netns add "$NS" 2>/dev/null || { echo "1..0 # SKIP cannot create network namespaces"; exit 0; }
ip netns add "$NS2" || bail "cannot create $NS2"

plan 54

# ---------------------------------------------------------------- network
# Permanent neighbours and quiet interfaces (quiet_if in tests/lib.sh):
# after the setup settles, only the test's own frames flow.

setup_c() { # the second pair, created again by the recreation test
	ip link add "$C" type veth peer name "$CP" || return 1
	ip link set "$CP" netns "$NS2"
	quiet_if "$C"
	quiet_if "$NS2" "$CP"
	ip addr add 10.233.$S.1/24 dev "$C"
	in_ns "$NS2" ip addr add 10.233.$S.2/24 dev "$CP"
	ip link set "$C" up
	in_ns "$NS2" ip link set "$CP" up
	ip neigh replace 10.233.$S.2 lladdr "$(mac_ns "$NS2" "$CP")" dev "$C" nud permanent
	in_ns "$NS2" ip neigh replace 10.233.$S.1 lladdr "$(mac "$C")" dev "$CP" nud permanent
}

ip link add "$A" type veth peer name "$AP" || bail "cannot create veth $A"
ip link set "$AP" netns "$NS"
quiet_if "$A"
quiet_if "$NS" "$AP"
in_ns "$NS" ip link set lo up
# Root side ("the rest of the world"): one address per class.
ip addr add 10.231.$S.1/24 dev "$A"
ip addr add 10.232.$S.1/24 dev "$A"
ip addr add 192.0.2.$S/24 dev "$A"
ip addr add fd00:231:$S::1/64 dev "$A" nodad
in_ns "$NS" ip addr add 10.231.$S.2/24 dev "$AP"
in_ns "$NS" ip addr add fd00:231:$S::2/64 dev "$AP" nodad
ip link set "$A" up
in_ns "$NS" ip link set "$AP" up
in_ns "$NS" ip route add 10.232.$S.0/24 via 10.231.$S.1
in_ns "$NS" ip route add 192.0.2.0/24 via 10.231.$S.1
ip neigh replace 10.231.$S.2 lladdr "$(mac_ns "$NS" "$AP")" dev "$A" nud permanent
ip -6 neigh replace fd00:231:$S::2 lladdr "$(mac_ns "$NS" "$AP")" dev "$A" nud permanent
in_ns "$NS" ip neigh replace 10.231.$S.1 lladdr "$(mac "$A")" dev "$AP" nud permanent
in_ns "$NS" ip -6 neigh replace fd00:231:$S::1 lladdr "$(mac "$A")" dev "$AP" nud permanent
setup_c || bail "cannot create veth $C"

# Senders and listeners (listeners keep the kernel from answering with
# port unreachables).
cat >"$T/net.py" <<'EOP'
import socket, struct, sys, time
cmd = sys.argv[1]
if cmd == "listen":
    socks = []
    for a in sys.argv[2:]:
        s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a, 9999))
        socks.append(s)
    time.sleep(3600)
elif cmd == "udp":  # udp SRC DST COUNT PAYLOAD
    src, dst, n, size = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    for i in range(n):
        s.sendto(b"u" * size, (dst, 9999))
elif cmd == "ping6":  # ping6 DST COUNT PAYLOAD: echo requests, the kernel answers
    dst, n, size = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.settimeout(2)
    for i in range(n):
        s.sendto(struct.pack("!BBHHH", 128, 0, 0, 4242, i) + b"p" * size, (dst, 0))
        while s.recv(2048)[0] != 129:
            pass
elif cmd == "arp":  # arp IF COUNT: who-has 10.231.0.99, which nobody has
    ifname, n = sys.argv[2], int(sys.argv[3])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    src = s.getsockname()[4]  # the interface's MAC (no /sys: it shows another namespace)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + src + bytes([10, 231, 0, 2]) + bytes(6) + bytes([10, 231, 0, 99])
    for i in range(n):
        s.send(b"\xff" * 6 + src + b"\x08\x06" + arp)
EOP
net() { python3 "$T/net.py" "$@"; }
net_ns() { _ns=$1; shift; in_ns "$_ns" python3 "$T/net.py" "$@"; }

python3 "$T/net.py" listen 10.231.$S.1 10.232.$S.1 192.0.2.$S 10.233.$S.1 fd00:231:$S::1 &
_pids="$_pids $!"
nsenter --net="/run/netns/$NS" python3 "$T/net.py" listen 10.231.$S.2 fd00:231:$S::2 &
_pids="$_pids $!"
nsenter --net="/run/netns/$NS2" python3 "$T/net.py" listen 10.233.$S.2 &
_pids="$_pids $!"

# ---------------------------------------------------------------- the probe
cat >"$T/capture.conf" <<EOC
traffic-default = "internet"
traffic-class "internal" { prefixes = {"10.231.0.0/16", "fd00:231::/32"} }
traffic-class "backup" { prefixes = {"10.232.0.0/16"} }
capture {
  user = "nobody"
  chroot-dir = "$T/empty"
}
EOC
mkdir "$T/empty"
mkfifo "$T/in" "$T/out"
"$PROBE" -c "$T/capture.conf" <"$T/in" >"$T/out" 2>"$T/probe.log" &
PROBE_PID=$!
_pids="$_pids $PROBE_PID"
exec 7>"$T/in" 8<"$T/out"

# cmd LINE: sends a command, the answer (without "end") into $REPLY_TEXT.
cmd() {
	echo "$*" >&7
	REPLY_TEXT=""
	while IFS= read -r -t 20 _l <&8; do
		[ "$_l" = end ] && return 0
		REPLY_TEXT="$REPLY_TEXT$_l
"
	done
	bail "the probe did not answer '$*'"
}
# cell SLOT CLASS DIR: "BYTES PACKETS" of the last flush, "0 0" if none.
cell() {
	_c=$(printf '%s' "$REPLY_TEXT" | awk -v s="$1" -v c="$2" -v d="$3" '$1 == "cell" && $2 == s && $3 == c && $4 == d { print $5, $6 }')
	echo "${_c:-0 0}"
}
# field NAME: a key=value of the last flush's interval line.
field() { printf '%s' "$REPLY_TEXT" | sed -n "s/^interval.* $1=\([^ ]*\).*/\1/p"; }
# sum DIR [SLOT]: bytes of all cells of the last flush in DIR.
sum() { printf '%s' "$REPLY_TEXT" | awk -v d="$1" -v s="${2:-}" '$1 == "cell" && $4 == d && (s == "" || $2 == s) { n += $5 } END { print n + 0 }'; }
stat() { cat "/sys/class/net/$1/statistics/$2"; }
worker_pid() { cmd pid; printf '%s' "$REPLY_TEXT" | sed -n 's/^pid //p'; }
# ifstate_has LINE: the worker's report holds LINE (it arrives on the
# probe's loop soon after the change; 60 s for a loaded machine).
ifstate_has() {
	for _ in $(seq 600); do
		cmd ifstate
		printf '%s' "$REPLY_TEXT" | grep -qx "$1" && return 0
		sleep 0.1
	done
	return 1
}

cmd ifaces "0:$A"
# Settle: until two intervals in a row pass without a frame (60 s at most).
quiet=0
for _ in $(seq 120); do
	sleep 0.5
	cmd flush
	if [ "$(field frames)" = 0 ]; then quiet=$((quiet + 1)); else quiet=0; fi
	[ $quiet = 2 ] && break
done
is "$(field frames)" 0 "the set-up falls quiet"
is "$(field kernel)" 1 "the kernel runs the filter"

# ---------------------------------------------------------------- counting
tx0=$(stat "$A" tx_bytes) rx0=$(stat "$A" rx_bytes)
# From the VM (its tx): per class, bytes = payload + UDP 8 + IP + Ethernet 14.
net_ns "$NS" udp 10.231.$S.2 10.231.$S.1 20 100   # internal 20 x 142
net_ns "$NS" udp 10.231.$S.2 10.232.$S.1 15 300   # backup   15 x 342
net_ns "$NS" udp 10.231.$S.2 192.0.2.$S 10 50     # internet 10 x 92
net_ns "$NS" udp fd00:231:$S::2 fd00:231:$S::1 12 200 # internal 12 x 262
net_ns "$NS" ping6 fd00:231:$S::1 5 56             # internal 5 x 118 each way
net_ns "$NS" arp "$AP" 4                        # non-ip 4 x 42
# To the VM (its rx).
net udp 10.231.$S.1 10.231.$S.2 25 80 # internal 25 x 122
net udp 10.232.$S.1 10.231.$S.2 7 500 # backup    7 x 542
net udp 192.0.2.$S 10.231.$S.2 9 60   # internet  9 x 102
sleep 0.5
cmd flush
tx1=$(stat "$A" tx_bytes) rx1=$(stat "$A" rx_bytes)
is "$(cell 0 internal tx)" "$((20 * 142 + 12 * 262 + 5 * 118)) $((20 + 12 + 5))" "VM tx internal: UDP, UDP over IPv6, ICMPv6 echo"
is "$(cell 0 backup tx)" "$((15 * 342)) 15" "VM tx backup"
is "$(cell 0 internet tx)" "$((10 * 92)) 10" "VM tx internet (the default class)"
is "$(cell 0 non-ip tx)" "$((4 * 42)) 4" "VM tx non-ip: ARP"
is "$(cell 0 internal rx)" "$((25 * 122 + 5 * 118)) $((25 + 5))" "VM rx internal: UDP and the echo replies"
is "$(cell 0 backup rx)" "$((7 * 542)) 7" "VM rx backup"
is "$(cell 0 internet rx)" "$((9 * 102)) 9" "VM rx internet"
is "$(cell 0 malformed tx) $(cell 0 malformed rx)" "0 0 0 0" "nothing malformed"
is "$(sum tx)" "$((rx1 - rx0))" "VM tx bytes = the tap's rx_bytes"
is "$(sum rx)" "$((tx1 - tx0))" "VM rx bytes = the tap's tx_bytes"
is "$(field frames)" "$((20 + 15 + 10 + 12 + 5 + 4 + 25 + 7 + 9 + 5))" "every frame counted once"
is "$(field recv)" "$(field frames)" "the kernel passed exactly those frames"
is "$(field complete) $(field exits) $(field drop)" "1 0 0" "the interval is complete, nothing dropped"

# ---------------------------------------------------------------- privileges
WPID=$(worker_pid)
ok "$([ -n "$WPID" ] && [ "$WPID" != 0 ]; echo $?)" "a worker runs: $WPID"
is "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$WPID/status")" "65534 65534 65534 65534" "the worker runs as nobody"
is "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$WPID/status")" "65534 65534 65534 65534" "... in nobody's group"
is "$(awk '/^Groups:/ { print $2 }' "/proc/$WPID/status")" "" "... with no supplementary groups"
is "$(awk '/^CapEff:/ { print $2 } /^CapPrm:/ { print $2 } /^CapBnd:/ { print $2 }' "/proc/$WPID/status" | tr '\n' ' ')" \
	"0000000000000000 0000000000000000 0000000000000000 " "... with no capabilities, none to regain"
is "$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$WPID/status")" 1 "... and no_new_privs"
is "$(readlink "/proc/$WPID/root")" "$T/empty" "... chrooted to capture.chroot-dir"
is "$(tr '\0' ' ' <"/proc/$WPID/cmdline")" "vmeter-capture --capture-worker 3 " "the worker was exec'd anew"
ok "$(tr '\0' '\n' <"/proc/$WPID/environ" | grep -qv -e '^ASAN_OPTIONS=' -e '^LSAN_OPTIONS=' -e '^UBSAN_OPTIONS='; [ $? = 1 ]; echo $?)" \
	"the worker's environment holds nothing of the collector's"

# ---------------------------------------------------------------- the filter
# 20000 frames on the second veth, not in the set: the kernel filter drops
# them before they are copied.
net udp 10.233.$S.1 10.233.$S.2 20000 20
sleep 0.5
cmd flush
within "$(field recv)" 0 10 "traffic of an interface outside the set is not copied (ps_recv $(field recv))"
is "$(printf '%s' "$REPLY_TEXT" | grep -c '^cell')" 0 "... nor counted"

# ---------------------------------------------------------------- following
cmd ifaces "0:$A" "1:$C"
ifstate_has "ifstate 1 $C $(cat "/sys/class/net/$C/ifindex")"
ok $? "an interface added mid-run is resolved"
net udp 10.233.$S.1 10.233.$S.2 10 100
net udp 10.231.$S.1 10.231.$S.2 3 100
sleep 0.5
cmd flush
is "$(cell 1 internet rx)" "$((10 * 142)) 10" "its traffic counts for its slot"
is "$(cell 0 internal rx)" "$((3 * 142)) 3" "the first interface still counts"

cmd ifaces "1:$C"
net udp 10.231.$S.1 10.231.$S.2 6 100
net udp 10.233.$S.1 10.233.$S.2 4 100
sleep 0.5
cmd flush
is "$(sum rx 0)" 0 "an interface taken out of the set no longer counts"
is "$(cell 1 internet rx)" "$((4 * 142)) 4" "the one left does"
within "$(field recv)" 4 8 "the removed interface's frames are not copied either"

old_ix=$(cat "/sys/class/net/$C/ifindex")
ip link del "$C"
setup_c || bail "cannot recreate $C"
new_ix=$(cat "/sys/class/net/$C/ifindex")
ok "$([ "$old_ix" != "$new_ix" ]; echo $?)" "the recreated interface has a new index ($old_ix -> $new_ix)"
sleep 0.3
cmd flush # the worker looks the names up again at each flush
ifstate_has "ifstate 1 $C $new_ix"
ok $? "the worker follows the name to the new index"
net udp 10.233.$S.1 10.233.$S.2 8 100
sleep 0.5
cmd flush
is "$(cell 1 internet rx)" "$((8 * 142)) 8" "the recreated interface counts"

# Many interfaces: the filter becomes a search tree (leaves of 16).
X=""
for i in $(seq 40); do
	ip link add "vmx${ID}_$i" type veth peer name "vmy${ID}_$i" || bail "cannot create veth vmx${ID}_$i"
	quiet_if "vmx${ID}_$i"
	quiet_if "vmy${ID}_$i"
	ip link set "vmx${ID}_$i" up
	ip link set "vmy${ID}_$i" up
	X="$X $((100 + i)):vmx${ID}_$i"
done
on_cleanup "for i in \$(seq 40); do ip link del vmx${ID}_\$i 2>/dev/null; done"
cmd ifaces "0:$A" $X "1:$C"
sleep 0.5
cmd flush
net udp 10.233.$S.1 10.233.$S.2 3 100
net udp 10.231.$S.1 10.231.$S.2 2 100
for i in 1 17 33 40; do net arp "vmy${ID}_$i" "$i"; done # sent into vmx_i: its "VM" sends
sleep 0.5
cmd flush
is "$(cell 1 internet rx) $(cell 0 internal rx)" "$((3 * 142)) 3 $((2 * 142)) 2" "with 42 interfaces in the set: the first ones count"
is "$(cell 101 non-ip tx) $(cell 117 non-ip tx) $(cell 133 non-ip tx) $(cell 140 non-ip tx)" \
	"42 1 $((17 * 42)) 17 $((33 * 42)) 33 $((40 * 42)) 40" "... and interfaces across the search tree, to the last"
ok "$([ "$(field insns)" -gt 50 ] && [ "$(field kernel)" = 1 ]; echo $?)" "... through a kernel filter of $(field insns) instructions"
cmd ifaces "0:$A" $X
net udp 10.233.$S.1 10.233.$S.2 20000 20
sleep 0.5
cmd flush
within "$(field recv)" 0 10 "... which drops an interface outside the set (ps_recv $(field recv))"
for i in $(seq 40); do ip link del "vmx${ID}_$i"; done
cmd ifaces "1:$C"

# ---------------------------------------------------------------- bad input
cmd ifaces "1:$C" "2:nosuch$ID"
is "$REPLY_TEXT" "" "a name that does not exist is accepted"
ifstate_has "ifstate 2 nosuch$ID 0"
ok $? "... and reported as missing"
grep -q "no interface 'nosuch$ID'" "$T/probe.log"
ok $? "... in the log"
net udp 10.233.$S.1 10.233.$S.2 2 100
sleep 0.5
cmd flush
is "$(cell 1 internet rx) $(field complete)" "$((2 * 142)) 2 1" "the others still count"
cmd ifaces "1:$C" "70000:$A"
is "$REPLY_TEXT" "error Invalid argument
" "a slot out of range is refused"

# ---------------------------------------------------------------- a killed worker
WPID=$(worker_pid)
starts() { grep -c "capture: worker [0-9]* running as uid" "$T/probe.log"; }
n_starts=$(starts)
kill -9 "$WPID"
wait_for 60 grep -q "capture: worker $WPID ended by signal 9" "$T/probe.log"
net udp 10.233.$S.1 10.233.$S.2 5 100
cmd flush
# A flush once the first back-off (1 s) is over starts the new worker and
# waits for it: where sending took that long (a loaded machine), the new
# worker started in this interval already.
started_early=$([ "$(starts)" -gt "$n_starts" ] && echo 1 || echo 0)
is "$(field complete) $(field exits)" "0 1" "the interval the worker died in is flagged"
ok "$([ "$(field uncovered_ms)" -gt 0 ]; echo $?)" "... as uncovered ($(field uncovered_ms) ms)"
grep -q "capture: worker $WPID ended by signal 9" "$T/probe.log"
ok $? "the death is logged"
# The first back-off is 1 s.
new_worker() { NEW=$(worker_pid); [ -n "$NEW" ] && [ "$NEW" != 0 ] && [ "$NEW" != "$WPID" ]; }
wait_for "a new worker" 60 new_worker
ok "$([ -n "$NEW" ] && [ "$NEW" != 0 ] && [ "$NEW" != "$WPID" ]; echo $?)" "a new worker was started ($WPID -> $NEW)"
# The pid is known from the fork on; the worker drops its privileges a
# moment later, as its first step: wait for that state.
new_ids() { awk '/^Uid:/ { print $2 } /^CapEff:/ { print $2 }' "/proc/$NEW/status" 2>/dev/null | tr '\n' ' '; }
dropped() { [ "$(new_ids)" = "65534 0000000000000000 " ]; }
wait_for "the new worker to drop its privileges" 60 dropped
ok $? "it drops its privileges too ($(new_ids))"
cmd flush
if [ "$started_early" = 1 ]; then
	diag "the new worker started in the interval the old one died in"
	is "$(field complete) $(field exits)" "1 0" "the interval it started in is partial (that one, above), the next one complete"
else
	is "$(field complete)" 0 "the interval it started in is partial"
fi
net udp 10.233.$S.1 10.233.$S.2 6 100
sleep 0.5
cmd flush
is "$(cell 1 internet rx) $(field complete) $(field exits)" "$((6 * 142)) 6 1 0" "it counts, and the next interval is complete"

# ---------------------------------------------------------------- reload
sed 's/"backup"/"storage"/' "$T/capture.conf" >"$T/capture2.conf"
cmd ifaces "0:$A"
net udp 10.231.$S.1 10.231.$S.2 1 100
sleep 0.5
cmd reload "$T/capture2.conf"
net udp 10.232.$S.1 10.231.$S.2 2 100
sleep 0.5
cmd flush
is "$(cell 0 internal rx) $(cell 0 storage rx)" "142 1 284 2" "a reload keeps the counts so far and counts on in the new classes"

cmd quit
wait "$PROBE_PID"
is "$?" 0 "the probe stops cleanly"
wait_for "the worker to end" 60 sh -c "! kill -0 $NEW"
ok "$(kill -0 "$NEW" 2>/dev/null; [ $? != 0 ]; echo $?)" "the worker ends with it"
