#!/bin/bash
# Owners the way fleets record them, and domains over vmeter's XML limits,
# end to end: libvirtd's test driver with the fleet of tests/data/fleet.xml
# and three more guests, the collector, a private PostgreSQL.
#   instance-0000002a  OpenStack Nova's <nova:instance> (tests/data/owner-fleet/nova1.xml)
#   acme-shop-1        a platform's own attribute-style element, mapped by an
#                      owner-metadata section (tests/data/owner-fleet/acme1.xml)
#   big70              70 disks, one with a 280-byte path: name, owner and 64
#                      disks recorded, the rest said once in the log
# Every wait polls for a state with a deadline; nothing sleeps a fixed time.
. "$(dirname "$0")/../lib.sh"
plan 28

DEADLINE=${OWNER_TEST_DEADLINE:-120}
uuid_nova=55555555-5555-4555-8555-555555555555
uuid_acme=66666666-6666-4666-8666-666666666666
uuid_big=77777777-7777-4777-8777-777777777777

start_postgres
start_libvirtd
setup_fleet
# RRD files are not what this test is about, and at a 1 s step they take
# 4.5 MB a VM: bench's stand-ins for rrdcached and rrdtool write none.
python3 "$top_srcdir/bench/fake-rrdcached.py" "$T/rrdc.sock" >"$T/fake-rrdcached.log" 2>&1 &
_pids="$_pids $!"
wait_for 30 grep -q ready "$T/fake-rrdcached.log" || bail "fake-rrdcached did not start"

# --- the 70-disk guest: vda..vdz, vdaa.., the second disk's path 280+ bytes
{
	printf "<domain type='test'>\n  <name>big70</name>\n  <uuid>%s</uuid>\n" "$uuid_big"
	printf '  <metadata>\n    <vmeter:owner xmlns:vmeter="http://vmeter.org/xmlns/owner/1.0">'
	printf '<vmeter:tenant>bigco</vmeter:tenant><vmeter:project>storage</vmeter:project></vmeter:owner>\n  </metadata>\n'
	printf "  <memory unit='MiB'>1024</memory>\n  <vcpu>2</vcpu>\n  <os><type arch='x86_64'>hvm</type></os>\n  <devices>\n"
	long=/var/lib/images/$(printf 'p%.0s' $(seq 280)).qcow2
	for i in $(seq 0 69); do
		t=vd$(awk -v i="$i" 'BEGIN { s = "abcdefghijklmnopqrstuvwxyz"
			if (i < 26) print substr(s, i + 1, 1); else print substr(s, int(i / 26), 1) substr(s, i % 26 + 1, 1) }')
		src=/var/lib/images/big70-$i.qcow2
		[ "$i" = 1 ] && src=$long
		printf "    <disk type='file' device='disk'><source file='%s'/><target dev='%s' bus='virtio'/></disk>\n" \
			"$src" "$t"
	done
	printf '  </devices>\n</domain>\n'
} >"$T/big70.xml"
for f in "$top_srcdir/tests/data/owner-fleet/nova1.xml" "$top_srcdir/tests/data/owner-fleet/acme1.xml" "$T/big70.xml"; do
	virsh_t define "$f" >"$T/define.out" 2>&1 || bail "cannot define $f: $(cat "$T/define.out")"
done
for d in instance-0000002a acme-shop-1 big70; do virsh_t start "$d" >/dev/null || bail "cannot start $d"; done

CONF_URI=$TEST_URI CONF_RRDCACHED="unix:$T/rrdc.sock" write_conf "$T/vmeter.conf" '
owner-metadata "acme" {
  namespace = "http://acme.example/xmlns/vm/1"
  tenant = "/vm/owner/@account"
  project = "/vm/owner/project"
  cost-centre = "/vm/billing/@cc"
  tags = {"env=/vm/@environment", "rack=/vm/placement/@rack"}
}
owner "acme-*" {
  tenant = "from-rule"
}'
# Debug: the collector says each re-list ("inventory: N domains").
sed -i 's/^log-level = info$/log-level = debug/' "$T/vmeter.conf"

# --- configuration checks through the program
out=$("$COLLECTOR" -n -c "$T/vmeter.conf" 2>&1)
ok $? "-n accepts an owner-metadata section"
sed 's|tenant = "/vm/owner/@account"|tenant = "/vm/owner[1]/@account"|' "$T/vmeter.conf" >"$T/bad.conf"
line=$(grep -n 'owner\[1\]' "$T/bad.conf" | cut -d: -f1)
out=$("$COLLECTOR" -n -c "$T/bad.conf" 2>&1)
rc=$?
is "$rc" 1 "-n refuses a bad owner-metadata path"
echo "$out" | grep -q "bad.conf:$line: option 'owner-metadata\[acme\].tenant' must have XML names"
ok $? "the error names file:line and the option: $out"

"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
start_collector "$T/vmeter.conf" PATH="$top_srcdir/bench/rrd-stub:$PATH"

q() { psql_q "$1"; }
# The latest inventory row of a VM, as FIELDS (an SQL expression over i).
inv() { q "SELECT $2 FROM vm_inventory i JOIN vm USING (vm_id) WHERE uuid = '$1' ORDER BY valid_from DESC LIMIT 1"; }
have_rows() { [ "$(q "SELECT count(DISTINCT vm_id) FROM vm_inventory i JOIN vm USING (vm_id)
	WHERE uuid IN ('$uuid_nova', '$uuid_acme', '$uuid_big')")" = 3 ]; }
wait_for "$DEADLINE" have_rows
ok $? "inventory rows for the Nova, the mapped and the 70-disk guest"

# --- Nova
is "$(inv $uuid_nova "tenant || '|' || project || '|' || cost_centre || '|' || owner_source")" \
	"995b4947cc4044fba99bade057053803|||nova" "Nova guest: tenant is the project's uuid, source nova"
is "$(inv $uuid_nova "tags->>'nova.project' || '|' || (tags->>'nova.user') || '|' || (tags->>'nova.user-id')")" \
	"shop|alice|5a86b1db33b64571953b2022186010fe" "Nova guest: project name and user as tags"
is "$(inv $uuid_nova "tags->>'nova.flavor'")" m1.small "Nova guest: flavor as a tag"
is "$(inv $uuid_nova "name")" instance-0000002a "Nova guest: libvirt's name"

# --- the mapped namespace
is "$(inv $uuid_acme "tenant || '|' || project || '|' || cost_centre || '|' || owner_source")" \
	"ACC-1001|checkout|CC-77|mapping" "mapped guest: tenant, project, cost centre from attributes and elements"
is "$(inv $uuid_acme "tags::text")" '{"env": "prod"}' "mapped guest: a mapped tag; an absent one is left out"

# --- over the limits
is "$(inv $uuid_big "name || '|' || tenant || '|' || project || '|' || owner_source || '|' || vcpus || '|' || memory_kib")" \
	"big70|bigco|storage|metadata|2|1048576" "70-disk guest: name, owner and allocation recorded"
is "$(inv $uuid_big "jsonb_array_length(disks)")" 64 "70-disk guest: the first 64 disks recorded"
is "$(inv $uuid_big "(disks->0->>'target') || '|' || (disks->63->>'target') || '|' || (disks->63->>'source')")" \
	"vda|vdbl|/var/lib/images/big70-63.qcow2" "70-disk guest: disks in document order"
is "$(inv $uuid_big "(disks->1->>'target') || '|' || (disks->1->>'source') || '|' || (disks->1->>'device')")" \
	"vdb||disk" "70-disk guest: the disk with the over-long path is kept, its path left empty, not cut"
has_usage() { [ "$(q "SELECT count(*) FROM vm_usage_minute u JOIN vm USING (vm_id) WHERE uuid = '$uuid_big'")" -gt 0 ]; }
wait_for "$DEADLINE" has_usage
ok $? "70-disk guest: metered"

# Said once: wait for three more re-lists after the first, then count.
relists() { [ "$(grep -c 'inventory: 7 domains' "$T/collector.log")" -ge 4 ]; }
wait_for "$DEADLINE" relists
ok $? "the collector re-listed the domains four times"
log=$T/collector.log
n=$(grep -c "vm 'big70' ($uuid_big): domain XML over vmeter's limits, inventory incomplete: 70 disks, 64 kept; disk 2 (vdb): <source file> over 255 bytes$" "$log")
is "$n" 1 "the limits are logged once, not at every re-list"
incomplete_alert() { "$ADMIN" -c "$T/vmeter.conf" status 2>&1 | grep -q "^alerts:.* inventory-incomplete"; }
wait_for "$DEADLINE" incomplete_alert
ok $? "vmeter-admin status raises inventory-incomplete"
n=$(grep -c "vm 'instance-0000002a' .* no vmeter owner metadata: owner '995b4947cc4044fba99bade057053803' from nova metadata" "$log")
is "$n" 1 "the Nova owner is logged once"
n=$(grep -c "vm 'acme-shop-1' .* no vmeter owner metadata: owner 'ACC-1001' from an owner-metadata mapping" "$log")
is "$n" 1 "the mapped owner is logged once"
n=$(q "SELECT count(*) FROM vm_inventory i JOIN vm USING (vm_id) WHERE uuid = '$uuid_big'")
is "$n" 1 "an unchanged 70-disk guest has one inventory row despite re-lists"

# --- a mapped value over its limit is refused, not cut: the next source
# (the owner rule acme-*) applies, and the change is recorded.
acc=$(printf 'a%.0s' $(seq 64))
virsh_t metadata acme-shop-1 http://acme.example/xmlns/vm/1 --key acme \
	--set "<vm environment=\"prod\"><owner account=\"$acc\"/></vm>" >/dev/null || bail "virsh metadata failed"
fell_back() { [ "$(inv $uuid_acme "tenant || '|' || owner_source")" = "from-rule|config" ]; }
wait_for "$DEADLINE" fell_back
ok $? "an over-long mapped tenant falls back to the owner rule"
is "$(q "SELECT count(*) FROM vm_inventory WHERE length(tenant) > 63")" 0 "no tenant was cut to fit"
warned() { grep -q "vm 'acme-shop-1' ($uuid_acme): owner-metadata\[acme\]: tenant at '/vm/owner/@account' is longer than 63 bytes; owner 'from-rule' from the configuration instead" "$log"; }
wait_for "$DEADLINE" warned
ok $? "the refusal is logged with the mapping, the path and the owner used instead"
# and back: a valid account again is the mapping's owner
virsh_t metadata acme-shop-1 http://acme.example/xmlns/vm/1 --key acme \
	--set '<vm environment="dev"><owner account="ACC-2002"/></vm>' >/dev/null || bail "virsh metadata failed"
back() { [ "$(inv $uuid_acme "tenant || '|' || owner_source || '|' || (tags->>'env')")" = "ACC-2002|mapping|dev" ]; }
wait_for "$DEADLINE" back
ok $? "a valid mapped owner again replaces the rule's"
relists2() { [ "$(grep -c 'inventory: 7 domains' "$T/collector.log")" -ge "$1" ]; }
r0=$(grep -c 'inventory: 7 domains' "$log")
wait_for "$DEADLINE" relists2 $((r0 + 2))
n=$(grep -c "vm 'acme-shop-1' ($uuid_acme): owner-metadata\[acme\]: tenant at" "$log")
is "$n" 1 "the refusal was logged once over later re-lists"

stop_collector
is "$COLLECTOR_RC" 0 "collector exits cleanly"
n=$(grep -ci "error\|sanitizer" "$log")
is "$n" 0 "no errors in the collector log"
