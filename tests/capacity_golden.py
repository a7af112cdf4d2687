#!/usr/bin/env python3
"""Golden data for tests/integration/capacity.sh: a small fleet's hourly
usage with known shapes, and every figure the capacity report must print,
computed here from the definitions in docs/REPORTS.md ("The capacity
report"), independently of reports/.

  capacity_golden.py data DIR         DIR/data.sql, DIR/*.facts, DIR/forecast.txt
  capacity_golden.py csv FILE         the report's CSV as facts
  capacity_golden.py compare WANT GOT numbers within 0.0006, the rest equal

Fleet (UTC, 2026-10-01..2026-10-14, 336 hours): hosts hv1, hv2 (16 CPUs,
64 GiB) in class big, hv3 (8 CPUs, 32 GiB) in class small; reports {
ha-reserve-hosts = 1, buffer-percent = 10, host-disk-gib = 1000 }.
  hv1: grow (16 vCPUs) demand 1 + 0.02 k (+ noise): a linear trend;
       sleepy (4 vCPUs) 0.01 cores: idle.
  hv2: web (8 vCPUs) 3 + 2 sin(2 pi k / 24) + 0.005 k: a daily season;
       fat (8 vCPUs) about 1 core: oversized.
  hv3: db (4 vCPUs) 2.5 cores; gappy (2 vCPUs) 0.3 cores in one hour of
       four and no rows otherwise (oversized, not idle: gaps are no
       idleness); old (2 vCPUs) stopped before the period: powered off.
Tenants: acme (grow, sleepy, web), beta (fat, db, gappy, old); acme's
latest final invoice and beta's draft carry the VMs' monthly costs.
"""
import math
import sys

FROM = "2026-10-01 00:00:00+00"
HOURS = 14 * 24
GIB = 1 << 30
KIB_GIB = 1 << 20
BUFFER = 10
HA = 1
DISK_GIB = 1000
RATIO = 4

HOSTS = [  # id, name, cpus, mem GiB, class
    (1, "hv1", 16, 64, "big"),
    (2, "hv2", 16, 64, "big"),
    (3, "hv3", 8, 32, "small"),
]


def cpu_grow(k):
    return 1 + 0.02 * k + 0.05 * math.sin(1.7 * k)


def cpu_web(k):
    return 3 + 2 * math.sin(2 * math.pi * k / 24) + 0.005 * k


VMS = [  # id, name, host, tenant, vcpus, mem GiB, rss GiB, disk used GiB, disk size GiB, cpu(k) or None
    (1, "grow", 1, "acme", 16, 32, 20, 40, 100, cpu_grow),
    (2, "sleepy", 1, "acme", 4, 8, 1, 5, 20, lambda k: 0.01),
    (3, "web", 2, "acme", 8, 16, 10, 30, 50, cpu_web),
    (4, "fat", 2, "beta", 8, 32, 6, 150, 200, lambda k: 1.0 + 0.05 * math.sin(0.9 * k)),
    (5, "db", 3, "beta", 4, 16, 12, 300, 500, lambda k: 2.5),
    (6, "gappy", 3, "beta", 2, 4, 2, 4, 10, lambda k: 0.3 if k % 4 == 0 else None),
    (7, "old", 3, "beta", 2, 4, 0, 0, 10, None),
]
NET_RX, NET_TX = 1500000, 500000  # bytes a minute, every VM with rows
COSTS = {  # vm name: (amounts in cents on its tenant's latest document, document, final)
    "grow": ([10000], "INV-2", True),
    "sleepy": ([1000, 234], "INV-2", True),
    "fat": ([4567], "draft", False),
    "gappy": ([321], "draft", False),
    "old": ([890], "draft", False),
    "web": ([2000], "INV-2", True),
    "db": ([1500], "draft", False),
}


def minute_cpu_ns(v, k):
    """cpu_ns of each minute of hour k (an integer, as stored)."""
    c = v[9](k) if v[9] else None
    return None if c is None else round(c * 60e9)


def series(vms, k, what):
    """A set of VMs' demand in hour k from their stored minute values; None
    if none of them has a row (the hosts' rows make every hour seen)."""
    tot = 0.0
    for v in vms:
        ns = minute_cpu_ns(v, k)
        if ns is None:
            continue
        if what == "cpu":
            tot += ns * 60 / 3.6e12
        elif what == "memory":
            tot += v[6] * KIB_GIB  # KiB
        elif what == "disk":
            tot += v[7] * GIB
        elif what == "network":
            tot += (NET_RX + NET_TX) * 60 * 8 / 3600
        elif what == "vcpus":
            tot += v[4]
        elif what == "mem_alloc":
            tot += v[5] * KIB_GIB
    return tot


def stat(vals):
    s = sorted(vals)
    n = len(s)
    return sum(s) / n, s[math.ceil(0.95 * n) - 1], s[-1]


HUMAN = {"cpu": 1, "memory": KIB_GIB, "disk": GIB, "network": 1e6}
UNIT = {"cpu": "cores", "memory": "GiB", "disk": "GiB", "network": "Mbit/s"}


def busy(h, k):
    return sum(series([v], k, "cpu") for v in VMS if v[2] == h) + 0.2


def busy_ns(h, k):
    return round(busy(h, k) * 60e9)


def facts_of_group(out, kind, name, vms, hosts, reserve, size, extra=None):
    """The figures of one row of the report."""
    defined = [v for v in VMS if (v[2] in [h[0] for h in hosts] if hosts is not None else v[3] == name)]
    p95 = {}
    for res in ("cpu", "memory", "disk", "network"):
        vals = [series(vms, k, res) for k in range(HOURS)]
        a, p, m = stat(vals)
        p95[res] = p
        for metric, x in (("avg", a), ("p95", p), ("peak", m)):
            out.append(("utilisation", kind, name, res, "demand_" + metric, x / HUMAN[res]))
    if hosts is not None:
        vals = [sum(busy_ns(h[0], k) * 60 / 3.6e12 for h in hosts) for k in range(HOURS)]
        for metric, x in zip(("avg", "p95", "peak"), stat(vals)):
            out.append(("utilisation", kind, name, "cpu", "host_busy_" + metric, x))
    for res, what, div in (("cpu", "vcpus", 1), ("memory", "mem_alloc", KIB_GIB)):
        vals = [series(vms, k, what) for k in range(HOURS)]
        for metric, x in zip(("avg", "p95", "peak"), stat(vals)):
            out.append(("utilisation", kind, name, res, "allocated_running_" + metric, x / div))
    out.append(("capacity", kind, name, "", "hosts", len(hosts) if hosts is not None else 0))
    out.append(("capacity", kind, name, "", "vms", len(defined)))
    vc = sum(v[4] for v in defined)
    mem = sum(v[5] for v in defined) * KIB_GIB
    out.append(("capacity", kind, name, "cpu", "allocated", vc))
    out.append(("capacity", kind, name, "memory", "allocated", mem / KIB_GIB))
    if hosts is None:
        return None
    cap = {"cpu": [h[2] for h in hosts], "memory": [h[3] * KIB_GIB for h in hosts],
           "disk": [DISK_GIB * GIB for h in hosts]}
    usable = {}
    for res in ("cpu", "memory", "disk"):
        c = sum(cap[res])
        r = sum(sorted(cap[res])[-HA:]) if reserve else 0
        usable[res] = (c - r) * (100 - BUFFER) / 100
        out.append(("capacity", kind, name, res, "capacity", c / HUMAN[res]))
        out.append(("capacity", kind, name, res, "ha_reserve", r / HUMAN[res]))
        out.append(("capacity", kind, name, res, "usable", usable[res] / HUMAN[res]))
    out.append(("capacity", kind, name, "cpu", "overcommit", vc / sum(cap["cpu"])))
    out.append(("capacity", kind, name, "memory", "overcommit", mem / sum(cap["memory"])))
    return {"p95": p95, "usable": usable, "vcpus": vc, "mem": mem}


def fit(free, need):
    return max(0, math.floor(free / need + 1e-9))


SIZE_RES = ("cpu", "memory", "disk")


def need(size, res):
    return {"cpu": size[0], "memory": size[1], "disk": size[2]}[res]


def host_fits(size, extra=None, removed=()):
    """Per host: (demand fit, allocation fit), with what-if extra load."""
    out = {}
    for h in HOSTS:
        if h[1] in removed:
            out[h[1]] = (0, 0)
            continue
        vms = [v for v in VMS if v[2] == h[0]]
        e = (extra or {}).get(h[1], {"cpu": 0, "memory": 0, "disk": 0, "vcpus": 0, "mem": 0})
        usable = {"cpu": h[2] * 0.9, "memory": h[3] * KIB_GIB * 0.9, "disk": DISK_GIB * GIB * 0.9}
        fd = min(fit(usable[r] - stat([series(vms, k, r) for k in range(HOURS)])[1] - e[r], need(size, r))
                 for r in SIZE_RES)
        vc = sum(v[4] for v in vms if v[0] != 0)
        mem = sum(v[5] for v in vms) * KIB_GIB
        fa = min(fit(usable["cpu"] * RATIO - vc - e["vcpus"], size[0]), fit(usable["memory"] - mem - e["mem"], size[1]))
        out[h[1]] = (fd, fa)
    return out


def group_headroom(hosts, g, size, fits, extra_total=None, usable=None, displaced=0):
    et = extra_total or {"cpu": 0, "memory": 0, "disk": 0, "vcpus": 0, "mem": 0}
    u = usable or g["usable"]
    sd = max(0, sum(fits[h[1]][0] for h in hosts) - displaced)
    sa = max(0, sum(fits[h[1]][1] for h in hosts) - displaced)
    bd = min(fit(u[r] - g["p95"][r] - et[r], need(size, r)) for r in SIZE_RES)
    ba = min(fit(u["cpu"] * RATIO - g["vcpus"] - et["vcpus"], size[0]), fit(u["memory"] - g["mem"] - et["mem"], size[1]))
    return min(sd, bd), min(sa, ba)


def median_size():
    vc = sorted(v[4] for v in VMS)
    mem = sorted(v[5] * KIB_GIB for v in VMS)
    disk = sorted(v[8] * GIB for v in VMS if v[9] is not None)
    return (vc[(len(vc) - 1) // 2], mem[(len(mem) - 1) // 2], disk[(len(disk) - 1) // 2])


def reclaim(out):
    for v in VMS:
        kind = None
        avg = p95 = None
        rec = 0
        if v[9] is None:
            kind = "powered-off"
        else:
            hours = [minute_cpu_ns(v, k) for k in range(HOURS)]
            obs = [ns * 60 / (60 * 60000 * 1e6) for ns in hours if ns is not None]  # cores while observed
            avg = sum(ns * 60 for ns in hours if ns is not None) / (len(obs) * 3600000 * 1e6)
            p95 = stat(obs)[1]
            rec = max(1, math.ceil(p95 / 0.7 - 1e-9))
            if avg < 0.05 * v[4]:
                kind = "idle"
            elif p95 < 0.40 * v[4] and rec < v[4]:
                kind = "oversized"
        if not kind:
            continue
        out.append(("reclaim", kind, v[1], "cpu", "vcpus", v[4]))
        out.append(("reclaim", kind, v[1], "memory", "allocated", v[5]))
        if avg is not None:
            out.append(("reclaim", kind, v[1], "cpu", "demand_avg", avg))
            out.append(("reclaim", kind, v[1], "cpu", "demand_p95", p95))
        out.append(("reclaim", kind, v[1], "cpu", "recommended_vcpus", rec))
        cents = sum(COSTS[v[1]][0])
        out.append(("reclaim", kind, v[1], "", "monthly_cost", "%d.%02d EUR" % (cents // 100, cents % 100)))


def place(size, n, removed=()):
    """What-if add: one VM at a time on the host with the most room (by
    demand), the first by name on a tie."""
    extra = {h[1]: {"cpu": 0, "memory": 0, "disk": 0, "vcpus": 0, "mem": 0} for h in HOSTS}
    unplaced = 0
    for _ in range(n):
        fits = host_fits(size, extra, removed)
        best = None
        for h in HOSTS:
            if fits[h[1]][0] > (fits[best][0] if best else 0):
                best = h[1]
        if not best:
            unplaced += 1
            continue
        for r in SIZE_RES:
            extra[best][r] += need(size, r)
        extra[best]["vcpus"] += size[0]
        extra[best]["mem"] += size[1]
    return extra, unplaced


def report_facts(group, whatif=None):
    out = []
    size = median_size()
    out.append(("summary", "", "", "", "hours", HOURS))
    out.append(("summary", "", "", "", "vm_size_vcpus", size[0]))
    out.append(("summary", "", "", "", "vm_size_memory", size[1] / KIB_GIB))
    out.append(("summary", "", "", "", "vm_size_disk", size[2] / GIB))
    rows = []
    if group == "host":
        rows = [("host", h[1], [h], False) for h in HOSTS]
    elif group == "class":
        rows = [("class", c, [h for h in HOSTS if h[4] == c], True) for c in ("big", "small")]
    rows.append(("fleet", "fleet", HOSTS, True))
    fits = host_fits(size)
    extra, unplaced, removed = None, 0, ()
    if whatif and whatif[0] == "add":
        wsize = (whatif[2], whatif[3] * KIB_GIB, size[2])
        extra, unplaced = place(wsize, whatif[1])
    elif whatif:
        removed = (whatif[1],)
    for kind, name, hosts, reserve in rows:
        vms = [v for v in VMS if v[2] in [h[0] for h in hosts]]
        g = facts_of_group(out, kind, name, vms, hosts, reserve, size)
        fd, fa = group_headroom(hosts, g, size, fits)
        out.append(("headroom", kind, name, "", "vms_by_demand", fd))
        out.append(("headroom", kind, name, "", "vms_by_allocation", fa))
        if not whatif:
            continue
        left = [h for h in hosts if h[1] not in removed]
        if not left:
            out.append(("whatif", kind, name, "", "removed", 1))
            continue
        u = {}
        for res in SIZE_RES:
            cap = [{"cpu": h[2], "memory": h[3] * KIB_GIB, "disk": DISK_GIB * GIB}[res] for h in left]
            u[res] = (sum(cap) - (sum(sorted(cap)[-HA:]) if reserve else 0)) * 0.9
        et = {r: 0 for r in ("cpu", "memory", "disk", "vcpus", "mem")}
        for h in hosts:
            for r in et:
                et[r] += (extra or {}).get(h[1], et)[r] if extra else 0
        disp = 0
        for h in hosts:
            if h[1] in removed:
                hv = [v for v in VMS if v[2] == h[0]]
                disp = max(math.ceil(stat([series(hv, k, r) for k in range(HOURS)])[1] / need(size, r) - 1e-9)
                           for r in SIZE_RES)
        wfits = host_fits(size if not extra else size, extra, removed)
        fd, fa = group_headroom(hosts, g, size, wfits, et, u, disp)
        out.append(("whatif", kind, name, "", "vms_by_demand", fd))
        out.append(("whatif", kind, name, "", "vms_by_allocation", fa))
    if whatif:
        out.append(("whatif", "", "", "", "vms_not_placed", unplaced))
    reclaim(out)
    return out


def tenant_facts():
    out = []
    for t in ("acme", "beta"):
        vms = [v for v in VMS if v[3] == t]
        facts_of_group(out, "tenant", t, vms, None, False, median_size())
    reclaim(out)
    return out


def fmt(f):
    v = f[-1]
    if isinstance(v, float):
        v = "%.4f" % v
    return "|".join(str(x) for x in f[:-1]) + "|" + str(v)


def data(d):
    lines = ["BEGIN;",
             "SELECT vm_ensure_partitions('2026-09-29 00:00+00', '2026-10-17 00:00+00');"]
    for h in HOSTS:
        lines.append("INSERT INTO host (host_id, hostname) VALUES (%d, '%s');" % (h[0], h[1]))
        lines.append("INSERT INTO host_inventory VALUES (%d, '2026-09-01 00:00+00', %d, 2400, %d, 'test', 1, 1, %d, 1);"
                     % (h[0], h[2], h[3] * KIB_GIB, h[2]))
    for v in VMS:
        lines.append("INSERT INTO vm (vm_id, uuid) VALUES (%d, '00000000-0000-4000-8000-%012d');" % (v[0], v[0]))
        lines.append("INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, "
                     "current_memory_kib, tenant, project, cost_centre, owner_source, digest) VALUES "
                     "(%d, '2026-09-01 00:00+00', %d, '%s', %d, %d, %d, %d, '%s', 'p', '', 'metadata', 'd%d');"
                     % (v[0], v[2], v[1], v[4], v[4], v[5] * KIB_GIB, v[5] * KIB_GIB, v[3], v[0]))
        lines.append("INSERT INTO vm_event VALUES (%d, %d, '2026-09-01 00:00+00', 'started', '');" % (v[0], v[2]))
        if v[9] is None:
            lines.append("INSERT INTO vm_event VALUES (%d, %d, '2026-09-20 00:00+00', 'stopped', '');" % (v[0], v[2]))
    # a row per VM-hour with data, its 60 minutes alike
    lines.append("CREATE TEMP TABLE vh (vm int, host int, k int, cpu bigint, rss bigint, dal bigint, dcap bigint, "
                 "vcpus bigint, mem bigint);")
    rows = []
    for v in VMS:
        for k in range(HOURS):
            ns = minute_cpu_ns(v, k)
            if ns is None:
                continue
            rows.append("(%d,%d,%d,%d,%d,%d,%d,%d,%d)" % (v[0], v[2], k, ns, v[6] * KIB_GIB, v[7] * GIB, v[8] * GIB,
                                                         v[4], v[5] * KIB_GIB))
    for i in range(0, len(rows), 500):
        lines.append("INSERT INTO vh VALUES " + ",".join(rows[i:i + 500]) + ";")
    lines.append("SELECT vm_mark_hours('vm_usage_minute', h, ARRAY(SELECT '%s'::timestamptz + k * interval '1 hour' "
                 "FROM generate_series(0, %d) k)) FROM generate_series(1, 3) h;" % (FROM, HOURS - 1))
    lines.append("INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, net_rx_bytes, "
                 "net_tx_bytes, vcpus_avg, vcpus_max, mem_max_kib_avg, mem_max_kib_max, rss_kib_avg, rss_kib_max, "
                 "disk_capacity_bytes_avg, disk_capacity_bytes_max, disk_allocation_bytes_avg, "
                 "disk_allocation_bytes_max) "
                 "SELECT host, vm, '%s'::timestamptz + k * interval '1 hour' + m * interval '1 minute', 60000, 6, cpu, "
                 "%d, %d, vcpus, vcpus, mem, mem, rss, rss, dcap, dcap, dal, dal FROM vh, generate_series(0, 59) m;"
                 % (FROM, NET_RX, NET_TX))
    lines.append("CREATE TEMP TABLE hh (host int, k int, busy bigint, cpus int);")
    hrows = ["(%d,%d,%d,%d)" % (h[0], k, busy_ns(h[0], k), h[2]) for h in HOSTS for k in range(HOURS)]
    for i in range(0, len(hrows), 500):
        lines.append("INSERT INTO hh VALUES " + ",".join(hrows[i:i + 500]) + ";")
    lines.append("INSERT INTO host_usage_minute (host_id, minute, coverage_ms, samples, cpu_capacity_ns, cpu_busy_ns, "
                 "cpus_avg, cpus_max) SELECT host, '%s'::timestamptz + k * interval '1 hour' + m * interval '1 minute', "
                 "60000, 6, cpus * 60000000000::bigint, busy, cpus, cpus FROM hh, generate_series(0, 59) m;" % FROM)
    # invoices: acme's September (final, not the latest), October (final);
    # beta's October draft
    docs = [(1, "acme", "2026-09-01", "INV-1", {"sleepy": [9900]}),
            (2, "acme", "2026-10-01", "INV-2", None),
            (3, "beta", "2026-10-01", None, None)]
    ids = {v[1]: v[0] for v in VMS}
    for inv, tenant, period, number, lines_of in docs:
        lines.append("INSERT INTO bill_invoice (invoice_id, kind, tenant, period, period_from, period_to, currency, "
                     "time_zone, rounding) VALUES (%d, 'invoice', '%s', '%s', '%s 00:00+00', "
                     "('%s'::date + interval '1 month')::timestamptz, 'EUR', 'UTC', 'half-up');"
                     % (inv, tenant, period, period, period))
        items = lines_of or {n: c[0] for n, c in COSTS.items() if (c[1] == "INV-2") == (number == "INV-2")}
        no = 0
        for name, amounts in items.items():
            for a in amounts:
                no += 1
                lines.append("INSERT INTO bill_line (invoice_id, line_no, kind, project, vm_id, vm_name, meter, amount) "
                             "VALUES (%d, %d, 'usage', 'p', %d, '%s', 'vcpu', %d);"
                             % (inv, no, ids[name], name, a * 10000000))
        if number:
            lines.append("UPDATE bill_invoice SET state = 'final', number = '%s', finalised_at = '%s'::date + "
                         "interval '1 month 1 day', total = (SELECT sum(amount) FROM bill_line WHERE invoice_id = %d) "
                         "WHERE invoice_id = %d;" % (number, period, inv, inv))
    lines.append("COMMIT;")
    with open(d + "/data.sql", "w") as f:
        f.write("\n".join(lines) + "\n")
    for name, facts in (("host", report_facts("host")), ("class", report_facts("class")),
                        ("tenant", tenant_facts()),
                        ("add", report_facts("host", ("add", 3, 4, 16))),
                        ("addmany", report_facts("host", ("add", 12, 4, 16))),
                        ("remove", report_facts("class", ("remove", "hv3")))):
        with open("%s/%s.facts" % (d, name), "w") as f:
            f.write("\n".join(fmt(x) for x in facts) + "\n")
    # time to exhaustion of the hosts' CPU demand (hours after the last
    # point), from the shapes without noise: hv1's trend, hv2's season
    def first(fn):
        for h in range(1, 24 * 365):
            if fn(HOURS - 1 + h) >= 16 * 0.9:
                return h
        return -1
    hv1 = first(lambda k: 1 + 0.02 * k + 0.01)
    hv2 = first(lambda k: cpu_web(k) + 1.0)
    with open(d + "/forecast.txt", "w") as f:
        f.write("hv1 %.4f\nhv2 %.4f\n" % (hv1 / 24, hv2 / 24))


def csv_facts(path):
    import csv
    wanted = {"summary", "utilisation", "capacity", "headroom", "whatif", "reclaim"}
    skip_summary = {"hours_not_rolled_up", "ha_reserve_hosts", "buffer_percent"}
    out = []
    with open(path, newline="") as f:
        rd = csv.reader(f)
        next(rd)
        for row in rd:
            period, group, section, kind, name, res, metric, value, unit = row
            if section not in wanted or metric in skip_summary or metric == "uuid":
                continue
            if metric == "monthly_cost":
                value = value + " " + unit
            out.append("|".join((section, kind, name, res, metric, value)))
    print("\n".join(out))


def compare(want, got):
    w = [l.rstrip("\n") for l in open(want) if l.strip()]
    g = [l.rstrip("\n") for l in open(got) if l.strip()]
    gm = {}
    for l in g:
        k, _, v = l.rpartition("|")
        gm.setdefault(k, []).append(v)
    bad = 0
    for l in w:
        k, _, v = l.rpartition("|")
        have = gm.get(k)
        if not have:
            print("missing: " + l)
            bad += 1
            continue
        x = have.pop(0)
        try:
            same = abs(float(x) - float(v)) <= 0.0006
        except ValueError:
            same = x == v
        if not same:
            print("%s: want %s, got %s" % (k, v, x))
            bad += 1
    extra = [k for k, v in gm.items() for _ in v if k.split("|")[0] == "reclaim"]
    for k in extra:
        print("unexpected: " + k)
        bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    if sys.argv[1] == "data":
        data(sys.argv[2])
    elif sys.argv[1] == "csv":
        csv_facts(sys.argv[2])
    elif sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
