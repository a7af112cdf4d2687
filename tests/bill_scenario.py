#!/usr/bin/env python3
"""The rating scenario of tests/integration/bill-rate.sh and what rating it
must give, computed minute by minute here, independently of billing/rater.c
(which works on spans and hourly rollups).

    bill_scenario.py SCENARIO.sql WANT.tsv

writes the rows to load and the expected bill_rated sums per (tenant, local
day, vm_id, project, meter), and WANT.tsv.meta with the unpriced minutes."""
import datetime as dt
import sys
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 9, 30, tzinfo=UTC)
HORIZON = dt.datetime(2026, 10, 3, tzinfo=UTC)  # maintain --now 2026-10-03 00:05 closes this
ZONES = {"acme": ZoneInfo("UTC"), "beta": ZoneInfo("Europe/Berlin")}
PRICED = {"acme", "beta"}
GiB = 1 << 30


def t(s):
    return dt.datetime.fromisoformat(s).replace(tzinfo=UTC)


# vm_id: events (at, event) and inventory states (valid_from, vcpus, mem KiB, disk bytes, tenant, project)
VMS = {
    1: {"events": [(t("2026-10-01 00:00:00"), "defined"), (t("2026-10-01 06:00:20"), "started"),
                   (t("2026-10-01 18:00:10"), "stopped")],
        "states": [(t("2026-10-01 00:00:00"), 2, 4 << 20, 10 * GiB, "acme", "web"),
                   (t("2026-10-01 12:00:30"), 4, 8 << 20, 10 * GiB, "acme", "web")],
        "usage": (t("2026-10-01 06:01"), t("2026-10-01 18:00"), 1000000000, 2000)},
    # running before its first inventory state; its owner changes mid-day
    # to a tenant in another time zone
    2: {"events": [(t("2026-09-30 23:00:00"), "started")],
        "states": [(t("2026-10-01 00:00:00"), 1, 2 << 20, 5 * GiB, "acme", "db"),
                   (t("2026-10-01 10:00:00"), 1, 2 << 20, 5 * GiB, "beta", "x")],
        "usage": (t("2026-10-01 00:00"), t("2026-10-02 00:00"), 500000000, 1000)},
    # a tenant no plan names
    3: {"events": [(t("2026-10-01 08:00:00"), "defined"), (t("2026-10-01 08:00:00"), "started")],
        "states": [(t("2026-10-01 08:00:00"), 2, 1 << 20, 0, "nobody", "p")],
        "usage": (t("2026-10-01 08:00"), t("2026-10-01 09:00"), 100, 1)},
}

ORDER = {"defined": 0, "resumed": 1, "started": 2}


def state_after(state, ev):
    if ev == "defined":
        return "off" if state in (None, "gone") else state
    return {"started": "running", "resumed": "running", "stopped": "off", "undefined": "gone"}.get(ev, state)


def states_during(events, a, b):
    """The lifecycle states a VM was in at some moment of [a, b)."""
    evs = sorted(events, key=lambda e: (e[0], ORDER.get(e[1], 3)))
    state = None
    for at, ev in evs:
        if at <= a:
            state = state_after(state, ev)
    seen = {state}
    for at, ev in evs:
        if a < at < b:
            state = state_after(state, ev)
            seen.add(state)
    return seen


def inv_at(states, at):
    cur = states[0]
    for s in states:
        if s[0] <= at:
            cur = s
    return cur


def main():
    sql = open(sys.argv[1], "w")
    sql.write("INSERT INTO host (host_id, hostname) VALUES (1, 'hv-a');\n")
    for vm, d in VMS.items():
        sql.write("INSERT INTO vm (vm_id, uuid) VALUES (%d, '00000000-0000-0000-0000-%012d');\n" % (vm, vm))
        for at, ev in d["events"]:
            sql.write("INSERT INTO vm_event (vm_id, host_id, at, event) VALUES (%d, 1, '%s', '%s');\n"
                      % (vm, at.isoformat(), ev))
        for vf, vc, mem, disk, ten, proj in d["states"]:
            disks = '[{"target": "vda", "capacity": %d}]' % disk if disk else "[]"
            sql.write("INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, "
                      "current_memory_kib, tenant, project, cost_centre, owner_source, disks, digest) VALUES "
                      "(%d, '%s', 1, 'vm%d', %d, %d, %d, %d, '%s', '%s', '', 'metadata', '%s', 'd%d%s');\n"
                      % (vm, vf.isoformat(), vm, vc, vc, mem, mem, ten, proj, disks, vm, vf.strftime("%H%M%S")))
        u0, u1, cpu, rx = d["usage"]
        sql.write("INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, net_rx_bytes) "
                  "SELECT 1, %d, m, 60000, 6, %d, %d FROM generate_series('%s'::timestamptz, '%s'::timestamptz - "
                  "interval '1 minute', interval '1 minute') m;\n" % (vm, cpu, rx, u0.isoformat(), u1.isoformat()))
    sql.close()

    want = {}
    unpriced = 0
    m = T0
    one = dt.timedelta(minutes=1)
    while m < HORIZON:
        for vm, d in VMS.items():
            during = states_during(d["events"], m, m + one)
            running = "running" in during
            defined = bool(during & {"running", "off", "paused"})
            if not defined:
                continue
            touching = [inv_at(d["states"], m)] + [s for s in d["states"] if m < s[0] < m + one]
            vc = max(s[1] for s in touching)
            mem = max(s[2] for s in touching)
            disk = max(s[3] for s in touching)
            owner = inv_at(d["states"], m + dt.timedelta(seconds=30))
            ten, proj = owner[4], owner[5]
            if ten not in PRICED:
                unpriced += 1
                continue
            day = m.astimezone(ZONES[ten]).date().isoformat()
            u0, u1, cpu, rx = d["usage"]
            q = {"vm": 1, "disk": disk}
            if running:
                q.update({"vcpu": vc, "ram": mem})
            if u0 <= m < u1:
                q.update({"cpu": cpu, "net.rx": rx})
            for meter, v in q.items():
                k = (ten, day, vm, proj, meter)
                want[k] = want.get(k, 0) + v
        m += one
    out = open(sys.argv[2], "w")
    for k in sorted(want):
        v = want[k]
        if k[4] == "ram":
            v //= 1024  # KiB-minutes to MiB-minutes, once per row
        elif k[4] == "disk":
            v //= 1 << 20  # byte-minutes to MiB-minutes
        if v:
            out.write("%s\t%s\t%d\t%s\t%s\t%d\n" % (k + (v,)))
    out.close()
    with open(sys.argv[2] + ".meta", "w") as f:
        f.write("#unpriced\t%d\n" % unpriced)


main()
