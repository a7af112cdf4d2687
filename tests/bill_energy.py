#!/usr/bin/env python3
"""The energy scenario of tests/integration/bill-energy.sh and the split it
must give, computed here minute by minute from the rules of docs/BILLING.md
("Energy and carbon"), independently of billing/energy.c.

    bill_energy.py SCENARIO.sql GRID.csv OUTDIR

writes the rows to load, a grid file for `vmeter-bill grid load de`, and in
OUTDIR: host.tsv (bill_energy_host rows), share.tsv (bill_energy_share
rows) and rated.tsv (the energy and carbon meters' bill_rated rows).

Three hosts: hv-m has no RAPL (its class's power model, 100-300 W, gives
its energy from its CPU use; an hour without host rows has none), hv-r
has RAPL but an hour without (modelled then; idle power 50 W), hv-x has
RAPL and no class (no idle share: all of it by CPU time, against the VMs'
own).  Tenants in UTC and Europe/Berlin; a VM changes owner mid-run, one
moves from hv-r to hv-m, one starts and stops inside minutes."""
import datetime as dt
import os
import random
import sys
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 10, 1, tzinfo=UTC)
HORIZON = dt.datetime(2026, 10, 3, tzinfo=UTC)
ZONES = {"UTC": ZoneInfo("UTC"), "Europe/Berlin": ZoneInfo("Europe/Berlin")}
TENANT_ZONE = {"acme": "UTC", "beta": "Europe/Berlin"}
NS = 60_000_000_000

# host_id: name, cpus, class (idle mW, max mW, grid) or None, RAPL
HOSTS = {1: ("hv-m", 8, (100_000, 300_000, "de"), False),
         2: ("hv-r", 4, (50_000, 200_000, "fr"), True),
         3: ("hv-x", 4, None, True)}
GRID = {"de": 400_000, "fr": 50_000}  # mg/kWh
GRID_HOURS = [("de", dt.datetime(2026, 10, 1, 5, tzinfo=UTC), "2026-10-01T05:00Z", "123.456", 123_456),
              ("de", dt.datetime(2026, 10, 2, 5, tzinfo=UTC), "2026-10-02T07:00+02:00", "0.5", 500)]


def t(s):
    return dt.datetime.fromisoformat(s).replace(tzinfo=UTC)


# vm_id: events, states (valid_from, host, vcpus, tenant, project)
VMS = {
    1: {"events": [(t("2026-10-01 00:00:00"), "started")],
        "states": [(t("2026-10-01 00:00:00"), 1, 2, "acme", "web")]},
    2: {"events": [(t("2026-10-01 00:00:00"), "defined"), (t("2026-10-01 06:00:20"), "started"),
                   (t("2026-10-02 12:00:10"), "stopped")],
        "states": [(t("2026-10-01 00:00:00"), 1, 4, "beta", "x")]},
    3: {"events": [(t("2026-10-01 00:00:00"), "started")],
        "states": [(t("2026-10-01 00:00:00"), 2, 2, "acme", "db"),
                   (t("2026-10-02 00:00:00"), 2, 2, "beta", "y")]},
    4: {"events": [(t("2026-10-01 00:00:00"), "started")],
        "states": [(t("2026-10-01 00:00:00"), 3, 1, "acme", "web")]},
    5: {"events": [(t("2026-10-01 00:00:00"), "started")],
        "states": [(t("2026-10-01 00:00:00"), 2, 2, "beta", "x"),
                   (t("2026-10-01 12:00:00"), 1, 2, "beta", "x")]},
}


def running(vm, m):
    """Running at some moment of minute m (the rater's rule)."""
    ev = VMS[vm]["events"]
    start = [a for a, e in ev if e == "started"][0]
    stop = [a for a, e in ev if e == "stopped"]
    stop = stop[0] if stop else HORIZON + dt.timedelta(days=1)
    return start < m + dt.timedelta(minutes=1) and stop > m


def state_at(vm, m):
    mid = m + dt.timedelta(seconds=30)
    cur = VMS[vm]["states"][0]
    for s in VMS[vm]["states"]:
        if s[0] <= mid:
            cur = s
    return cur


def split(total, w):
    """lib/money.c's vm_split: floors, then the units left one each to the
    largest remainders, ties to the lower index."""
    s = sum(w)
    if s == 0:
        w = w[:-1] + [1]
        s = 1
    q = [total * x // s for x in w]
    rem = sorted(range(len(w)), key=lambda i: (-(total * w[i] % s), i))
    for i in rem[:total - sum(q)]:
        q[i] += 1
    return q


def main():
    sql_path, grid_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    rng = random.Random(20261202)
    sql = open(sql_path, "w")
    minutes = []
    m = T0
    while m < HORIZON:
        minutes.append(m)
        m += dt.timedelta(minutes=1)
    for h, (name, cpus, _, _) in HOSTS.items():
        sql.write("INSERT INTO host (host_id, hostname) VALUES (%d, '%s');\n" % (h, name))
        sql.write("INSERT INTO host_inventory (host_id, valid_from, cpus, mhz, memory_kib, cpu_model, numa_nodes, "
                  "sockets, cores, threads) VALUES (%d, '2026-09-01 00:00+00', %d, 2400, 67108864, 'x', 1, 1, %d, 1);\n"
                  % (h, cpus, cpus))
    for vm, d in VMS.items():
        sql.write("INSERT INTO vm (vm_id, uuid) VALUES (%d, '00000000-0000-0000-0000-%012d');\n" % (vm, vm))
        for at, ev in d["events"]:
            sql.write("INSERT INTO vm_event (vm_id, host_id, at, event) VALUES (%d, %d, '%s', '%s');\n"
                      % (vm, d["states"][0][1], at.isoformat(), ev))
        for vf, host, vc, ten, proj in d["states"]:
            sql.write("INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, "
                      "current_memory_kib, tenant, project, cost_centre, owner_source, disks, digest) VALUES "
                      "(%d, '%s', %d, 'vm%d', %d, %d, 1048576, 1048576, '%s', '%s', '', 'metadata', '[]', 'd%d%s');\n"
                      % (vm, vf.isoformat(), host, vm, vc, vc, ten, proj, vm, vf.strftime("%d%H%M%S")))

    # per host-minute: energy inputs; per VM-minute: CPU time
    power, usage, cpu = {}, {}, {}
    rows_p, rows_u, rows_v = [], [], []
    for m in minutes:
        for vm in VMS:
            if not running(vm, m):
                continue
            st = state_at(vm, m)
            c = rng.choice([0, rng.randrange(1, st[2] * NS * 8 // 10)])
            cpu[(st[1], m, vm)] = c
            if c:
                rows_v.append((st[1], vm, m, c))
        for h, (name, cpus, cls, rapl) in HOSTS.items():
            if h != 3 and not (h == 1 and m.hour == 3 and m.day == 1):
                cov = 30000 if (h == 1 and m.minute % 17 == 0) else 60000
                cap = cpus * cov * 1_000_000
                vm_cpu = sum(c for (hh, mm, _), c in cpu.items() if hh == h and mm == m)
                busy = min(cap, vm_cpu + rng.randrange(0, 5 * 10**9)) if rng.random() < 0.9 else vm_cpu // 2
                usage[(h, m)] = (cov, busy, cap)
                rows_u.append((h, m, cov, busy, cap))
            if rapl and not (h == 2 and m.hour == 15 and m.day == 1):
                e = rng.randrange(3 * 10**9, 12 * 10**9)
                power[(h, m)] = (e, 60000)
                rows_p.append((h, m, e))
    for h, vm, m, c in rows_v:
        sql.write("INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns) VALUES "
                  "(%d, %d, '%s', 60000, 6, %d);\n" % (h, vm, m.isoformat(), c))
    for h, m, cov, busy, cap in rows_u:
        sql.write("INSERT INTO host_usage_minute (host_id, minute, coverage_ms, samples, cpu_busy_ns, "
                  "cpu_capacity_ns) VALUES (%d, '%s', %d, 6, %d, %d);\n" % (h, m.isoformat(), cov, busy, cap))
    for h, m, e in rows_p:
        sql.write("INSERT INTO host_power_minute (host_id, minute, coverage_ms, samples, energy_uj) VALUES "
                  "(%d, '%s', 60000, 6, %d);\n" % (h, m.isoformat(), e))
    sql.close()
    with open(grid_path, "w") as g:
        g.write("hour,g_per_kwh\n# a grid operator's export\n")
        for _, _, text, val, _ in GRID_HOURS:
            g.write("%s,%s\n" % (text, val))
    hourly = {(r, h): mg for r, h, _, _, mg in GRID_HOURS}

    # every host-minute split, then summed per zone and local day
    per_minute = {}  # (host, m) -> (e, measured, carbon, [(vm, tenant, project, e, c)], idle(e, c), overhead(e, c))
    for m in minutes:
        for h, (name, cpus, cls, rapl) in HOSTS.items():
            vms = sorted(vm for vm in VMS if running(vm, m) and state_at(vm, m)[1] == h)
            u = usage.get((h, m))
            if (h, m) in power:
                e, cov = power[(h, m)]
                measured = True
            elif cls and u and u[0] > 0:
                cov, busy, cap = u
                busy = min(busy, cap)
                e = cls[0] * cov + ((cls[1] - cls[0]) * cov * busy // cap if cap else 0)
                measured = False
            else:
                continue
            idle = min(cls[0] * cov, e) if cls else 0
            cs = [cpu.get((h, m, vm), 0) for vm in vms]
            used = sum(cs)
            pd = split(e - idle, cs + [u[1] - used if u and u[1] > used else 0])
            al = [state_at(vm, m)[2] * NS for vm in vms]
            cap_ns = u[2] * 60000 // u[0] if u and u[0] > 0 else sum(al)
            pi = split(idle, al + [max(cap_ns - sum(al), 0)])
            inten = hourly.get((cls[2], m.replace(minute=0)), GRID[cls[2]]) if cls else None
            carbon = e * inten // 3_600_000_000 if cls else 0
            ec = [pd[i] + pi[i] for i in range(len(vms))] + [pd[-1], pi[-1]]
            pc = split(carbon, ec) if sum(ec) else [0] * len(ec)
            parts = [(vm, state_at(vm, m)[3], state_at(vm, m)[4], ec[i], pc[i]) for i, vm in enumerate(vms)]
            per_minute[(h, m)] = (e, measured, carbon, parts, (ec[-1], pc[-1]), (ec[-2], pc[-2]))

    hosts, shares, rated = {}, {}, {}
    for zname, zone in ZONES.items():
        day = T0.astimezone(zone).date()
        while True:
            a = dt.datetime.combine(day, dt.time(), zone).astimezone(UTC)
            b = min(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).astimezone(UTC), HORIZON)
            if a >= HORIZON:
                break
            for (h, m), (e, meas, carbon, parts, idle, over) in per_minute.items():
                if not a <= m < b:
                    continue
                k = (zname, day.isoformat(), h)
                x = hosts.setdefault(k, [0, 0, 0, 0])
                x[0] += 1
                x[1] += meas
                x[2] += e
                x[3] += carbon
                for part, (pe, pcb) in (("idle", idle), ("overhead", over)):
                    s = shares.setdefault(k + (0, "", "", part), [0, 0, 0])
                    s[0] += pe
                    s[1] += pe if meas else 0
                    s[2] += pcb
                for vm, ten, proj, pe, pcb in parts:
                    if not pe and not pcb:
                        continue
                    s = shares.setdefault(k + (vm, ten, proj, "vm"), [0, 0, 0])
                    s[0] += pe
                    s[1] += pe if meas else 0
                    s[2] += pcb
                    if TENANT_ZONE[ten] == zname:
                        r = rated.setdefault((ten, day.isoformat(), vm, proj), [0, 0])
                        r[0] += pe
                        r[1] += pcb
            day += dt.timedelta(days=1)
    with open(os.path.join(out, "host.tsv"), "w") as f:
        for k in sorted(hosts):
            f.write("%s\t%s\t%d\t%d\t%d\t%d\t%d\n" % (k + tuple(hosts[k])))
    with open(os.path.join(out, "share.tsv"), "w") as f:
        for k in sorted(shares):
            f.write("%s\t%s\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\n" % (k + tuple(shares[k])))
    with open(os.path.join(out, "rated.tsv"), "w") as f:
        for (ten, day, vm, proj) in sorted(rated):
            e, c = rated[(ten, day, vm, proj)]
            if c:  # a meter's zero is no row
                f.write("%s\t%s\t%d\t%s\tcarbon\t%d\n" % (ten, day, vm, proj, c // 1000))
            if e:
                f.write("%s\t%s\t%d\t%s\tenergy\t%d\n" % (ten, day, vm, proj, e // 1_000_000))


if __name__ == "__main__":
    main()
