VMC = "cpu_ns cpu_user_ns cpu_system_ns vcpu_ns vcpu_delay_ns vcpu_wait_ns running_ms disk_rd_bytes disk_wr_bytes disk_rd_reqs disk_wr_reqs disk_rd_ns disk_wr_ns disk_fl_reqs disk_fl_ns net_rx_bytes net_tx_bytes net_rx_pkts net_tx_pkts net_rx_errs net_tx_errs net_rx_drop net_tx_drop".split()
VMG = "vcpus mem_max_kib balloon_kib rss_kib usable_kib available_kib unused_kib disk_capacity_bytes disk_allocation_bytes".split()
HC = "cpu_capacity_ns cpu_busy_ns cpu_user_ns cpu_system_ns cpu_iowait_ns cpu_idle_ns".split()
HG = "cpus mem_total_kib mem_free_kib mem_cached_kib vms_running vcpus_running vm_mem_kib".split()

def wrap(items, indent="    ", width=100):
    out, line = [], indent
    for i, it in enumerate(items):
        s = it + (", " if i < len(items) - 1 else "")
        if len(line) + len(s.rstrip()) > width and line.strip():
            out.append(line.rstrip()); line = indent
        line += s
    out.append(line.rstrip())
    return "\n".join(out)

def roll_cols(C, G):
    cols = [f"{c} bigint" for c in C]
    for g in G:
        cols += [f"{g}_int numeric", f"{g}_ms bigint", f"{g}_max bigint"]
    return cols

def from_minutes(C, G):
    e = [f"sum(m.{c})::bigint" for c in C]
    for g in G:
        e += [f"sum(m.{g}_avg::numeric * m.coverage_ms)",
              f"sum(m.coverage_ms) FILTER (WHERE m.{g}_avg IS NOT NULL)",
              f"max(m.{g}_max)"]
    return e

def from_rollup(C, G, a="r"):
    e = [f"sum({a}.{c})::bigint" for c in C]
    for g in G:
        e += [f"sum({a}.{g}_int)", f"sum({a}.{g}_ms)::bigint", f"max({a}.{g}_max)"]
    return e

def names(C, G):
    n = list(C)
    for g in G:
        n += [f"{g}_int", f"{g}_ms", f"{g}_max"]
    return n

import sys
what = sys.argv[1]
if what == "vmcols": print(wrap(roll_cols(VMC, VMG)))
if what == "hcols": print(wrap(roll_cols(HC, HG)))
if what == "vmnames": print(wrap(names(VMC, VMG), "        "))
if what == "hnames": print(wrap(names(HC, HG), "        "))
if what == "vmfromm": print(wrap(from_minutes(VMC, VMG), "           "))
if what == "hfromm": print(wrap(from_minutes(HC, HG), "           "))
if what == "vmfromr": print(wrap(from_rollup(VMC, VMG), "           "))
if what == "hfromr": print(wrap(from_rollup(HC, HG), "           "))

TABLES = [  # name, pk, brin, dirty trigger: per statement, per row (vm_mark_dirty_row) or none
    ("vm_usage_minute", "vm_id, minute, host_id", True, "row"),
    ("host_usage_minute", "host_id, minute", False, "statement"),
    ("vm_usage_loss", "vm_id, minute, host_id", True, "statement"),
    ("vm_traffic_minute", "vm_id, minute, host_id, class", True, "statement"),
    ("vm_capture_minute", "vm_id, minute, host_id", True, None),
    ("host_capture_minute", "host_id, minute", False, None),
]
OLD_MINUTE_IDX = {"vm_usage_minute", "vm_traffic_minute"}

def render(t):
    ren, cop, dro, mar = [], [], [], []
    for name, pk, brin, trig in TABLES:
        s = [f"ALTER TABLE {name} RENAME TO {name}_s4;",
             f"ALTER INDEX {name}_pkey RENAME TO {name}_s4_pkey;"]
        if name in OLD_MINUTE_IDX:
            s.append(f"ALTER INDEX {name}_minute RENAME TO {name}_s4_minute;")
        s.append(f"CREATE TABLE {name} (LIKE {name}_s4 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)\n    PARTITION BY RANGE (minute);")
        s.append(f"ALTER TABLE {name} ADD PRIMARY KEY ({pk});")
        if brin:
            s.append(f"CREATE INDEX {name}_minute ON {name} USING brin (minute);")
        if trig == "statement":
            s.append(f"CREATE TRIGGER {name}_dirty AFTER INSERT ON {name}\n    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vm_mark_dirty();")
        if trig == "row":
            s.append(f"CREATE TRIGGER {name}_dirty AFTER INSERT ON {name} FOR EACH ROW\n"
                     f"    WHEN (current_setting('vmeter.marks_{name}', true) IS DISTINCT FROM 'on')\n"
                     f"    EXECUTE FUNCTION vm_mark_dirty_row();")
            # The copy's hours marked at once, not row by row.
            mar.append(f"SELECT vm_mark_hours('{name}', host_id, array_agg(DISTINCT date_trunc('hour', minute, 'UTC')))\n"
                       f"  FROM {name}_s4 GROUP BY host_id;")
        ren.append("\n".join(s))
        cop.append(f"INSERT INTO {name} SELECT * FROM {name}_s4;")
        dro.append(f"DROP TABLE {name}_s4;")
    nulls = []
    for c in VMC: nulls.append("NULL::bigint")
    for g in VMG: nulls += ["NULL::numeric", "NULL::bigint", "NULL::bigint"]
    rep = {
        "renames": "\n\n".join(ren), "marks": "\n".join(mar), "copies": "\n".join(cop), "drops": "\n".join(dro),
        "vmcols": wrap(roll_cols(VMC, VMG)), "hcols": wrap(roll_cols(HC, HG)),
        "vmnames": wrap(names(VMC, VMG), "           "), "hnames": wrap(names(HC, HG), "           "),
        "vmfromm": wrap(from_minutes(VMC, VMG), "           "), "hfromm": wrap(from_minutes(HC, HG), "           "),
        "vmfromr": wrap(from_rollup(VMC, VMG), "           "), "hfromr": wrap(from_rollup(HC, HG), "           "),
        "vmnulls": wrap(nulls, "               "),
    }
    for k, v in rep.items():
        t = t.replace("{{" + k + "}}", v)
    assert "{{" not in t
    return t

if what == "render":
    sys.stdout.write(render(open(sys.argv[2]).read()))
