#!/bin/bash
# vmeter-admin's output from a database filled by hand (a real PostgreSQL
# migrated by `vmeter-admin migrate`), so that every case is exact:
#   - each usage minute carries the owner of the inventory row in force at
#     the middle of that minute (not the VM's latest owner), with tenant,
#     project and cost centre in the CSV, through an index;
#   - CSV fields that a spreadsheet would take for formulas are neutralised
#     (OWASP: a leading single quote), for every leading character on the
#     list, while negative numbers in numeric columns stay numbers;
#   - tables escape control and bidi characters (one line per row);
#   - `status` on status files a collector could have written.
. "$(dirname "$0")/../lib.sh"
plan 26

start_postgres
write_conf "$T/vmeter.conf"
"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
adm() { "$ADMIN" -c "$T/vmeter.conf" "$@"; }

# 2026-01-01 10:00 UTC: minute k of the test is B + 60 k.
B=1767261600

# The fixture, as SQL from Python: every text goes in as hex-encoded UTF-8,
# so that tabs, CRs, newlines and quotes reach the database exactly.
python3 - "$B" >"$T/fixture.sql" <<'EOF'
import sys
B = int(sys.argv[1])
out = []
def lit(s):
    return "convert_from('\\x%s'::bytea, 'UTF8')" % s.encode().hex()
def vm(n, uuid):
    out.append("INSERT INTO vm (vm_id, uuid) VALUES (%d, '%s');" % (n, uuid))
def inv(n, at, name, tenant, project, cc):
    out.append("INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, "
               "current_memory_kib, tenant, project, cost_centre, owner_source, digest) VALUES "
               "(%d, to_timestamp(%d), 1, %s, 2, 2, 1048576, 1048576, %s, %s, %s, 'metadata', 'd%d-%d');"
               % (n, at, lit(name), lit(tenant), lit(project), lit(cc), n, at))
def usage(n, minute, cpu="6000000000", rx="1000"):
    out.append("INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, net_rx_bytes) "
               "VALUES (1, %d, to_timestamp(%d), 60000, 6, %s, %s);" % (n, B + 60 * minute, cpu, rx))
# Schema 5 keeps minutes in day partitions: the fixture's day needs one.
out.append("SELECT vm_ensure_partitions(to_timestamp(%d), to_timestamp(%d));" % (B, B + 3600))
out.append("INSERT INTO host (host_id, hostname) VALUES (1, 'hv1');")
# A: four owners.  The first row came after the middle of minute 0 (the
# VM's first minute: that row); a change before the middle of minute 3 (it
# goes to the new owner), one after the middle of minute 6 (the old
# owner), one exactly at the middle of minute 8 (the new owner).
vm(1, "aaaaaaaa-0000-4000-8000-000000000001")
inv(1, B + 45, "vm-a", "t-old", "p-old", "cc-old")
inv(1, B + 190, "vm-a", "t-mid", "p-mid", "cc-mid")
inv(1, B + 410, "vm-a2", "t-new", "p-new", "cc-new")
inv(1, B + 510, "vm-a2", "t-last", "p-last", "cc-last")
for m in range(10):
    usage(1, m)
# B: its only inventory row is from after the range: that row.
vm(2, "aaaaaaaa-0000-4000-8000-000000000002")
inv(2, B + 1200, "vm-b", "t-b", "p-b", "cc-b")
usage(2, 0)
usage(2, 1)
# C: no inventory at all.
vm(3, "aaaaaaaa-0000-4000-8000-000000000003")
usage(3, 0)
# One VM per leading character that makes a formula; every text field
# starts with it, and holds a comma, a quote or a newline as well (RFC 4180
# quoting); its usage has negative numbers, which must stay numbers.
for k, c in enumerate(["=", "+", "-", "@", "\t", "\r"]):
    n = 10 + k
    vm(n, "ffffffff-0000-4000-8000-%012d" % n)
    inv(n, B - 3600, c + "name,x", c + "tenant", c + 'pro"ject', c + "cc\nline")
    usage(n, 0, cpu="-5", rx="-7")
# Plain text with a formula character inside, not leading: unchanged.
vm(20, "aaaaaaaa-0000-4000-8000-000000000020")
inv(20, B - 3600, "plain", "acme", "a=b", "CC-1")
usage(20, 0)
# Control and bidi characters for the tables.
vm(21, "eeeeeeee-0000-4000-8000-000000000021")
inv(21, B - 3600, "evil\n2026-01-01T00:00:00.000Z vmeter-admin[err]: forged\u202egnp.exe", "t\x1b[31mred", "p\u2066x", "cc\\y")
usage(21, 0)
# Bulk for the planner: 3000 VMs with 4 owners each and an hour of usage
# outside the test's range, so that a scan of vm_inventory would cost.
out.append("INSERT INTO vm (vm_id, uuid) SELECT 1000 + g, ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid "
           "FROM generate_series(1, 3000) g;")
out.append("INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, "
           "current_memory_kib, tenant, project, cost_centre, owner_source, digest) SELECT 1000 + g, "
           "to_timestamp(%d + k * 900), 1, 'bulk-' || g, 1, 1, 1, 1, 't' || k, 'p', 'c', 'metadata', 'd' "
           "FROM generate_series(1, 3000) g, generate_series(0, 3) k;" % (B - 7200))
out.append("INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples) SELECT 1, 1000 + g, "
           "to_timestamp(%d + m * 60), 60000, 6 FROM generate_series(1, 3000) g, generate_series(0, 59) m;" % (B - 7200))
out.append("ANALYZE;")
print("\n".join(out))
EOF
psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" -f "$T/fixture.sql" >/dev/null || bail "cannot load the fixture"

# csv_rows FILE UUID-PREFIX: "minute|vm|tenant|project|cost_centre" per row
# of the VMs whose UUID starts with the prefix, from a real CSV parser.
csv_rows() {
	python3 - "$1" "$2" <<'EOF'
import csv, sys
with open(sys.argv[1], newline="") as f:
    for r in csv.DictReader(f):
        if r["uuid"].startswith(sys.argv[2]):
            # A column that is not there shows as "?", and fails the test.
            print("|".join([r["minute"][-5:]] + [r.get(c, "?") for c in ("vm", "tenant", "project", "cost_centre")]))
EOF
}

# --- each minute's owner
adm usage --csv --from "@$B" --to "@$((B + 600))" >"$T/usage.csv" 2>"$T/usage.err"
ok $? "usage --csv runs"
head -1 "$T/usage.csv" | grep -q "^minute,host,vm,uuid,tenant,project,cost_centre,samples,late,cov_s,cpu_ns,"
ok $? "usage --csv has tenant, project and cost_centre"
want="10:00|vm-a|t-old|p-old|cc-old
10:01|vm-a|t-old|p-old|cc-old
10:02|vm-a|t-old|p-old|cc-old
10:03|vm-a|t-mid|p-mid|cc-mid
10:04|vm-a|t-mid|p-mid|cc-mid
10:05|vm-a|t-mid|p-mid|cc-mid
10:06|vm-a|t-mid|p-mid|cc-mid
10:07|vm-a2|t-new|p-new|cc-new
10:08|vm-a2|t-last|p-last|cc-last
10:09|vm-a2|t-last|p-last|cc-last"
is "$(csv_rows "$T/usage.csv" aaaaaaaa-0000-4000-8000-000000000001)" "$want" \
	"every minute carries the owner in force at its middle, not the latest"
is "$(csv_rows "$T/usage.csv" aaaaaaaa-0000-4000-8000-000000000002 | tr '\n' ' ')" \
	"10:00|vm-b|t-b|p-b|cc-b 10:01|vm-b|t-b|p-b|cc-b " "minutes before a VM's first inventory row carry that row"
is "$(csv_rows "$T/usage.csv" aaaaaaaa-0000-4000-8000-000000000003)" "10:00||||" "a VM without inventory: empty owner"
adm usage --csv --from "@$B" --to "@$((B + 600))" --vm vm-a >"$T/vm-a.csv"
is "$(csv_rows "$T/vm-a.csv" "" | wc -l)" 10 "--vm with an old name selects the VM's every minute"
adm usage --csv --from "@$B" --to "@$((B + 600))" --vm vm-a2 >"$T/vm-a2.csv"
n=$(csv_rows "$T/vm-a2.csv" "" | cut -d'|' -f2 | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
is "$n" "vm-a:7 vm-a2:3 " "--vm with the new name too, each minute under its name then"
out=$(adm usage --from "@$B" --to "@$((B + 600))" --vm AAAAAAAA-0000-4000-8000-000000000001)
is "$(echo "$out" | tail -1)" "(10 rows)" "--vm with the UUID (any case)"
is "$(echo "$out" | awk 'NR > 1 && NF > 4 { printf "%s ", $4 }')" "vm-a vm-a vm-a vm-a vm-a vm-a vm-a vm-a2 vm-a2 vm-a2 " \
	"the table shows each minute's name as well"

# The owner lookup is two probes of vm_inventory's primary key per row,
# never a scan of the table (auto_explain reports the plan to the client).
PGOPTIONS="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c client_min_messages=log" \
	adm usage --csv --from "@$B" --to "@$((B + 600))" >/dev/null 2>"$T/plan"
grep -q "Index Scan Backward using vm_inventory_pkey on vm_inventory o " "$T/plan" &&
	grep -q "Index Scan using vm_inventory_pkey on vm_inventory o_1 " "$T/plan" &&
	! grep -q "Seq Scan on vm_inventory" "$T/plan"
rc=$?
ok $rc "the owner of a minute is found through vm_inventory's primary key"
[ $rc = 0 ] || grep -i "scan" "$T/plan" | sed 's/^/# /'

# --- CSV formula injection
check_formulas() { # check_formulas FILE COLUMNS...: the problems found, if any
	python3 - "$@" <<'EOF'
import csv, sys
path, cols = sys.argv[1], sys.argv[2:]
want = {}
for c in ["=", "+", "-", "@", "\t", "\r"]:
    want[c] = {"vm": c + "name,x", "name": c + "name,x", "tenant": c + "tenant",
               "project": c + 'pro"ject', "cost_centre": c + "cc\nline"}
seen = set()
with open(path, newline="") as f:
    rows = csv.DictReader(f)
    for col in cols:
        if col not in (rows.fieldnames or []):
            print("no column %s" % col)
            sys.exit(0)
    for r in rows:
        name = r.get("vm", r.get("name"))
        if name == "plain":
            for col, v in (("tenant", "acme"), ("project", "a=b"), ("cost_centre", "CC-1")):
                if r[col] != v:
                    print("plain %s changed: %r" % (col, r[col]))
            continue
        if not name.startswith("'") or len(name) < 2 or name[1] not in want:
            continue
        c = name[1]
        seen.add(c)
        for col in cols:
            if r[col] != "'" + want[c][col]:
                print("%r %s: got %r" % (c, col, r[col]))
        if "cpu_ns" in r and (r["cpu_ns"], r["net_rx_bytes"]) != ("-5", "-7"):
            print("%r: numbers changed: %r %r" % (c, r["cpu_ns"], r["net_rx_bytes"]))
missing = set(want) - seen
if missing:
    print("rows not found (or not neutralised) for %r" % sorted(missing))
EOF
}
is "$(check_formulas "$T/usage.csv" vm tenant project cost_centre)" "" \
	"usage --csv: text starting with = + - @ tab CR gets a leading quote, exact otherwise"
adm vms --csv >"$T/vms.csv"
ok $? "vms --csv runs"
is "$(check_formulas "$T/vms.csv" name tenant project cost_centre)" "" \
	"vms --csv: the same for names, tenants, projects and cost centres"
# RFC 4180 on the raw bytes: a field with a comma, a CR or a newline is
# quoted, the neutralising quote inside; a tab alone needs no quotes.
grep -q "^ffffffff-0000-4000-8000-000000000014,\"'"$'\t'"name,x\",hv1,2,1024,'"$'\t'"tenant,\"'"$'\t'"pro\"\"ject\",\"'"$'\t'"cc\$" "$T/vms.csv" &&
	grep -q "^ffffffff-0000-4000-8000-000000000015,\"'"$'\r'"name,x\",hv1,2,1024,\"'"$'\r'"tenant\"," "$T/vms.csv"
ok $? "a field with a comma, CR or newline is quoted, the single quote inside"
grep -q ",\"'-pro\"\"ject\"," "$T/vms.csv"
ok $? "a quote in a field is doubled"
n=$(grep -c ',-5,' "$T/usage.csv")
is "$n" 6 "negative numbers stay plain numbers"
# No field of any row starts a formula.
n=$(python3 -c '
import csv, sys
bad = 0
for path in sys.argv[1:]:
    for row in csv.reader(open(path, newline="")):
        bad += sum(1 for v in row if v[:1] in ("=", "+", "@", "\t", "\r") or (v[:1] == "-" and not v.lstrip("-").replace(".", "").isdigit()))
print(bad)' "$T/usage.csv" "$T/vms.csv")
is "$n" 0 "no field in either CSV starts with a formula character, numbers aside"

# --- tables: control and bidi characters escaped, a row per line
adm vms >"$T/vms.txt"
ok $? "vms runs"
nvms=$(psql_q "SELECT count(*) FROM vm WHERE vm_id IN (SELECT vm_id FROM vm_inventory)")
is "$(wc -l <"$T/vms.txt")" "$((nvms + 2))" "vms: one line per VM, a header and the count"
grep -q "evil\\\\x0a2026-01-01T00:00:00.000Z vmeter-admin\[err\]: forged\\\\u202egnp.exe " "$T/vms.txt" &&
	grep -q "t\\\\x1b\[31mred" "$T/vms.txt" && grep -q "p\\\\u2066x" "$T/vms.txt" && grep -q "cc\\\\\\\\y" "$T/vms.txt"
ok $? "vms: newline, escape, bidi and backslash shown escaped"
# raw_controls FILE: how many C0 controls other than newline, DEL, C1 or
# bidi characters the file holds.
raw_controls() {
	python3 -c '
import sys, unicodedata
t = open(sys.argv[1], encoding="utf-8").read()
print(sum(1 for ch in t if (ord(ch) < 32 and ch != "\n") or 0x7f <= ord(ch) <= 0x9f or unicodedata.bidirectional(ch) in ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI") or ch in "\u200e\u200f\u061c"))' "$1"
}
is "$(raw_controls "$T/vms.txt")" 0 "vms: no raw control or bidi character reaches the terminal"
adm usage --from "@$B" --to "@$((B + 60))" >"$T/usage.txt"
grep -q "^2026-01-01 10:00  hv1 *evil\\\\x0a2026-01-01T00:00:00.000Z vmeter-admin\[err\]: forged\\\\u202egnp.exe " "$T/usage.txt"
ok $? "usage: the name shown escaped"
# Minute 0: VMs A, B, C, the six formula VMs, plain and evil.
is "$(wc -l <"$T/usage.txt") $(tail -1 "$T/usage.txt") $(raw_controls "$T/usage.txt")" "13 (11 rows) 0" \
	"usage: a line per row, no raw control or bidi character"

# --- status from a status file (the collector's side: durable-header.sh)
mkdir -p "$T/state"
status_doc() { # status_doc EXTRA-FIELDS: a fresh, healthy status file
	printf '{"time": %s, "database": "up", "spool_bytes": 0, "spool_records": 0, "oldest_pending": 0, "oldest_minute": 0, "delivery_lag_s": 0.0, "delivered_rows": 5, "duplicate_rows": 0, "lost_rows": 0, "lost_coverage_ms": 0, "lost_traffic_rows": 0, "failures": 0, "spool_full": false, "spool_repaired_bytes": 0, "spool_damaged_records": 0, %s"losses_unrecorded": 0, "period_s": 2}\n' \
		"$(date +%s)" "$1" >"$T/state/status.json"
}
status_doc '"spool_quarantined_segments": 2, "spool_quarantined_bytes": 8192, '
out=$(adm status)
rc=$?
[ "$rc" = 3 ] && echo "$out" | grep -q "^alerts: *spool-damaged$" &&
	echo "$out" | grep -q "^quarantined segments: *2 (8192 bytes, kept as .seg.bad)$"
ok $? "status: quarantined segments alone raise spool-damaged, exit 3"
status_doc '"spool_quarantined_segments": 0, "spool_quarantined_bytes": 0, '
out=$(adm status)
rc=$?
[ "$rc" = 0 ] && echo "$out" | grep -q "^alerts: *none$"
ok $? "status: none quarantined, no alert, exit 0"
status_doc ''
out=$(adm status)
rc=$?
[ "$rc" = 0 ] && echo "$out" | grep -q "^quarantined segments: *unknown (collector too old)$"
ok $? "status: a status file from an older collector says unknown"
