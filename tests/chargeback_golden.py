#!/usr/bin/env python3
"""The data set of tests/integration/chargeback.sh and the chargeback
reports it must give, computed here from the rules of docs/BILLING.md
("Invoices", "Shared host cost", "Energy and carbon") and docs/REPORTS.md,
independently of billing/ and reports/ (exact fractions, no floats).

    chargeback_golden.py data OUTDIR
        writes OUTDIR/data.sql (the rows to load: inventory, rated
        quantities, coverage, pool shares, energy, rated days) and the
        expected facts of each report, one per line
        ("section|project|vm_name|item|metric|value|unit", sorted):
        OUTDIR/acme-2026-10.facts, acme-2026-09.facts, lab-2026-10.facts,
        shadow-2026-10.facts
    chargeback_golden.py csv FILE      the facts of a report's CSV
    chargeback_golden.py json FILE     the facts of a report's JSON
    chargeback_golden.py qtext QTY PER DECIMALS   a quantity as the documents print it

acme (Europe/Berlin, EUR) has 11 VMs in October in three projects (more
than the top 10), shares of a pool host whose idle cost is spread over
its VMs (hv1) and of one whose idle cost is the operator's (hv2), energy
and carbon, days without samples and lost coverage, and a VM named like a
spreadsheet formula; September is under the plan's minimum and has a
project October has not.  lab (UTC) is a showback tenant without money,
shadow (UTC) one whose statement keeps the plan's prices; quiet
(Asia/Kolkata) has no usage at all (its days are rated)."""
import csv
import json
import sys
from fractions import Fraction

CENT = 10_000_000  # nano-units in a cent
GIB_HOUR = 1024 * 60  # MiB-minutes
VCPU_HOUR = 60
PRICE = {"vcpu": (Fraction(12, 1000), VCPU_HOUR, "vcpu-hour", 0), "ram": (Fraction(4, 1000), GIB_HOUR, "GiB-hour", 1)}
MINIMUM = 20 * 100  # cents
POOLS = {"hv1": ("spread", True, 300 * 100), "hv2": ("line", False, 200 * 100)}  # pool, spread idle, cents/month
HOSTS = {"hv1": 1, "hv2": 2}
KWH = 3_600_000

# vm_id: (name, tenant, project, host)
VMS = {
    1: ("web-1", "acme", "shop", "hv1"),
    2: ("web-2", "acme", "shop", "hv2"),
    3: ("web-3", "acme", "shop", "hv1"),
    4: ("web-4", "acme", "shop", "hv1"),
    5: ("web-5", "acme", "shop", "hv1"),
    6: ('=HYPERLINK("x")', "acme", "shop", "hv1"),
    7: ("db-1", "acme", "data", "hv1"),
    8: ("db-2", "acme", "data", "hv1"),
    9: ("db-3", "acme", "data", "hv1"),
    10: ("db-4", "acme", "data", "hv1"),
    11: ("batch-1", "acme", "ml", "hv1"),
    12: ("old-1", "acme", "legacy", "hv1"),
    13: ("other-1", "zeta", "x", "hv1"),
    14: ("lab-1", "lab", "exp", "hv2"),
    15: ("lab-2", "lab", "exp", "hv2"),
    16: ("sh-1", "shadow", "p", "hv2"),
}


def uuid(v):
    return "00000000-0000-0000-0000-%012x" % v


# (tenant, day, vm_id, meter, qty): two days a VM in October, so sums count
RATED = []
for v in range(1, 12):
    RATED.append(("acme", "2026-10-01", v, "vcpu", 1000 * v + 37 * v * v))
    RATED.append(("acme", "2026-10-31", v, "vcpu", 500 + 11 * v))
    if v % 2:
        RATED.append(("acme", "2026-10-15", v, "ram", 50000 * v + 7))
RATED += [("acme", "2026-09-10", 1, "vcpu", 600), ("acme", "2026-09-10", 2, "vcpu", 300),
          ("acme", "2026-09-20", 12, "vcpu", 900)]
RATED += [("lab", "2026-10-03", 14, "vcpu", 4321), ("lab", "2026-10-04", 15, "vcpu", 1234)]
RATED += [("shadow", "2026-10-05", 16, "vcpu", 6000)]

# (tenant, day, vm_id, running, sampled, lost_ms)
COVERAGE = []
for v in range(1, 12):
    COVERAGE.append(("acme", "2026-10-01", v, 1440, 1440 - (30 if v == 3 else 0) - (7 if v == 8 else 0),
                     180000 if v == 5 else 0))
    COVERAGE.append(("acme", "2026-10-31", v, 600, 600 - (15 if v == 3 else 0), 59000 if v == 9 else 0))
COVERAGE += [("acme", "2026-09-10", 1, 600, 600, 0), ("acme", "2026-09-10", 2, 300, 290, 0),
             ("acme", "2026-09-20", 12, 900, 900, 0)]
COVERAGE += [("lab", "2026-10-03", 14, 1440, 1400, 0), ("lab", "2026-10-04", 15, 1440, 1440, 120000)]
COVERAGE += [("shadow", "2026-10-05", 16, 1440, 1440, 0)]

# pool shares of October (pool days, UTC): (host, day, vm_id, nano-units)
SHARES = [("hv1", "2026-10-02", 1, 40_123_456_789), ("hv1", "2026-10-20", 1, 10_000_000_001),
          ("hv1", "2026-10-05", 7, 70_333_333_333), ("hv1", "2026-10-05", 13, 33_333_333_333),
          ("hv2", "2026-10-07", 2, 55_555_555_555)]

# energy of the tenant's days (zone, day, host, vm_id, µJ, measured µJ, µg); host rows add an idle part
ENERGY = []
for v in range(1, 12):
    host = VMS[v][3]
    ENERGY.append(("Europe/Berlin", "2026-10-01", host, v, 3_600_000_000_000 // v + 499_999 * v,
                   (3_600_000_000_000 // v + 499_999 * v) if v % 3 == 0 else 0, 1_368_000_000 // v + 500 * v))
ENERGY.append(("UTC", "2026-10-03", "hv2", 14, 7_200_000_500_000, 7_200_000_500_000, 0))


def lr_split(total, weights):
    """vm_money_split in units: floors, then the units left over one each to
    the largest remainders, ties to the lower index."""
    s = sum(weights)
    if s == 0:
        return [0] * len(weights)
    parts = [total * w // s for w in weights]
    rem = [(-(total * w % s), i) for i, w in enumerate(weights)]
    for _, i in sorted(rem)[:total - sum(parts)]:
        parts[i] += 1
    return parts


def half_up(f):
    """a non-negative Fraction rounded half up to an integer"""
    return int(f + Fraction(1, 2))


def money(cents):
    s = "-" if cents < 0 else ""
    return "%s%d.%02d" % (s, abs(cents) // 100, abs(cents) % 100)


def signed(cents):
    return ("+" if cents > 0 else "") + money(cents)


def qtext(qty, per, decimals):
    """rep_quantity_text: the exact quotient half up, trailing zeros dropped"""
    q = Fraction(abs(qty) * 10 ** decimals, per)
    n = int(q) + (1 if q - int(q) >= Fraction(1, 2) else 0)
    s = str(n).rjust(decimals + 1, "0")
    whole, frac = s[:-decimals] if decimals else s, s[-decimals:] if decimals else ""
    frac = frac.rstrip("0")
    t = whole + ("." + frac if frac else "")
    return ("-" if qty < 0 and n else "") + t


def percent(cur, prev):
    if prev == 0:
        return None
    q = Fraction((cur - prev) * 10000, abs(prev))
    bp = half_up(abs(q)) * (1 if q >= 0 else -1)
    return ("+" if bp > 0 else "") + qtext(bp, 100, 2)


def invoice_lines(tenant, month, money_on):
    """The document's lines as billing drafts them: dicts with kind, project,
    vm (id or None), meter, qty, per, unit, cents, billed, sampled, lost,
    missing, exact (host cost: the shares' sum in nano-units)."""
    lines = []
    rated = [r for r in RATED if r[0] == tenant and r[1].startswith(month)]
    for meter in sorted(PRICE, key=lambda m: PRICE[m][3]):
        price, per, unit, _ = PRICE[meter]
        q = {}
        for _, _, v, m, qty in rated:
            if m == meter:
                q[(VMS[v][2], v)] = q.get((VMS[v][2], v), 0) + qty
        if not q:
            continue
        keys = sorted(q)
        total = sum(q.values())
        amount = half_up(Fraction(total) * price / per * 100)
        parts = lr_split(amount, [q[k] for k in keys])
        for k, cents in zip(keys, parts):
            cov = [c for c in COVERAGE if c[0] == tenant and c[1].startswith(month) and c[2] == k[1]]
            run, smp = sum(c[3] for c in cov), sum(c[4] for c in cov)
            lines.append(dict(kind="usage", project=k[0], vm=k[1], meter=meter, qty=q[k], per=per, unit=unit,
                              cents=cents if money_on else 0, billed=run, sampled=smp,
                              lost=sum(c[5] for c in cov) // 60000, missing=max(run - smp, 0)))
    usage = sum(l["cents"] for l in lines)
    if money_on and usage < MINIMUM:
        lines.append(dict(kind="minimum", project=None, vm=None, meter=None, qty=0, per=1, unit=None,
                          cents=MINIMUM - usage))
    if money_on:
        for host, (pool, spread, cost) in POOLS.items():
            sh = {}
            for h, day, v, nano in SHARES:
                if h == host and day.startswith(month):
                    key = (v, VMS[v][1], VMS[v][2])
                    sh[key] = sh.get(key, 0) + nano
            if not sh:
                continue
            keys = sorted(sh)
            w = [sh[k] for k in keys]
            idle = 0 if spread else cost * CENT - sum(w)
            parts = lr_split(cost, w + [idle])
            for k, cents in zip(keys, parts):
                if k[1] == tenant and cents:
                    lines.append(dict(kind="host-cost", project=k[2], vm=k[0], meter="host " + host, pool=pool,
                                      host=host, qty=0, per=1, unit=None, cents=cents, exact=sh[k]))
    zone = "Europe/Berlin" if tenant == "acme" else "UTC"
    en = {}
    for z, day, host, v, uj, meas, ug in ENERGY:
        if z == zone and day.startswith(month) and VMS[v][1] == tenant:
            e = en.setdefault((VMS[v][2], v), [0, 0])
            e[0] += uj
            e[1] += ug
    for (project, v), (uj, ug) in sorted(en.items()):
        lines.append(dict(kind="energy", project=project, vm=v, meter="energy", qty=(uj + 500000) // 1000000,
                          per=KWH, unit="kWh", cents=0))
        if ug:
            lines.append(dict(kind="energy", project=project, vm=v, meter="carbon", qty=(ug + 500) // 1000,
                              per=1000, unit="g CO2e", cents=0))
    return lines


def report(tenant, month, money_on, prev_month=None):
    lines = invoice_lines(tenant, month, money_on)
    prev = invoice_lines(tenant, prev_month, money_on) if prev_month else None
    facts = []

    def fact(section, project, vm, item, metric, value, unit):
        facts.append("|".join(str(x) if x is not None else "" for x in
                              (section, project, VMS[vm][0] if vm else None, item, metric, value, unit)))

    def vms_of(ls):
        out = {}
        for l in ls:
            if l["vm"] is None:
                continue
            x = out.setdefault((l["project"], l["vm"]), dict(cents=0, billed=0, sampled=0, lost=0, missing=0,
                                                               j=0, mg=0, carbon=False, best=-1))
            x["cents"] += l["cents"]
            if l["kind"] == "usage" and l["billed"] > x["best"]:
                x["best"] = l["billed"]
                for k in ("billed", "sampled", "lost", "missing"):
                    x[k] = l[k]
            if l["kind"] == "energy" and l["meter"] == "energy":
                x["j"] += l["qty"]
            if l["kind"] == "energy" and l["meter"] == "carbon":
                x["mg"] += l["qty"]
                x["carbon"] = True
        return out

    def projects_of(ls, vms):
        out = {}
        for l in ls:
            p = out.setdefault(l["project"] or "", dict(cents=0, minutes=0, j=0, mg=0, n=0))
            p["cents"] += l["cents"]
        for (project, v), x in vms.items():
            p = out[project]
            p["minutes"] += x["billed"]
            p["j"] += x["j"]
            p["mg"] += x["mg"]
            p["n"] += 1
        return out

    vms = vms_of(lines)
    projects = projects_of(lines, vms)
    carbon = any(x["carbon"] for x in vms.values())
    total = sum(l["cents"] for l in lines)
    unit = "EUR"

    def energy(section, project, vm, j, mg):
        fact(section, project, vm, None, "energy", qtext(j, KWH, 6), "kWh")
        fact(section, project, vm, None, "energy_j", j, "J")
        if carbon:
            fact(section, project, vm, None, "carbon", qtext(mg, 1000, 3), "g CO2e")
            fact(section, project, vm, None, "carbon_mg", mg, "mg CO2e")

    if money_on:
        fact("summary", None, None, None, "total", money(total), unit)
    if prev is not None:
        pvms = vms_of(prev)
        pprojects = projects_of(prev, pvms)
        ptotal = sum(l["cents"] for l in prev)
        if money_on:
            fact("summary", None, None, None, "previous_total", money(ptotal), unit)
            fact("summary", None, None, None, "change", signed(total - ptotal), unit)
            if percent(total, ptotal):
                fact("summary", None, None, None, "change_percent", percent(total, ptotal), "%")
        fact("summary", None, None, None, "previous_vm_minutes_billed", sum(p["minutes"] for p in pprojects.values()),
             "VM-minutes")
        for name in pprojects:
            projects.setdefault(name, dict(cents=0, minutes=0, j=0, mg=0, n=0))
    for k, key in (("vm_minutes_billed", "billed"), ("vm_minutes_sampled", "sampled"),
                   ("vm_minutes_without_samples", "missing"), ("vm_minutes_lost", "lost")):
        fact("summary", None, None, None, k, sum(x[key] for x in vms.values()), "VM-minutes")
    energy("summary", None, None, sum(x["j"] for x in vms.values()), sum(x["mg"] for x in vms.values()))
    if money_on:
        hc = [l for l in lines if l["kind"] == "host-cost"]
        idle = {}
        for l in hc:
            over = l["cents"] * CENT - l["exact"]
            i = (abs(over) // CENT) * (1 if over >= 0 else -1)  # toward zero
            idle[id(l)] = min(max(i, 0), l["cents"])
        fact("summary", None, None, None, "shared_host_cost", money(sum(l["cents"] for l in hc)), unit)
        fact("summary", None, None, None, "shared_host_cost_idle", money(sum(idle.values())), unit)
        for l in hc:
            item = "%s/%s" % (l["pool"], l["host"])
            fact("shared_host_cost", l["project"], l["vm"], item, "amount", money(l["cents"]), unit)
            fact("shared_host_cost", l["project"], l["vm"], item, "used", money(l["cents"] - idle[id(l)]), unit)
            fact("shared_host_cost", l["project"], l["vm"], item, "idle", money(idle[id(l)]), unit)
    for name, p in projects.items():
        fact("project", name, None, None, "vms", p["n"], "VMs")
        fact("project", name, None, None, "vm_minutes_billed", p["minutes"], "VM-minutes")
        if money_on:
            fact("project", name, None, None, "amount", money(p["cents"]), unit)
        if prev is not None:
            pp = pprojects.get(name, dict(cents=0, minutes=0))
            fact("project", name, None, None, "previous_vm_minutes_billed", pp["minutes"], "VM-minutes")
            if money_on:
                fact("project", name, None, None, "previous_amount", money(pp["cents"]), unit)
                fact("project", name, None, None, "change", signed(p["cents"] - pp["cents"]), unit)
                if percent(p["cents"], pp["cents"]):
                    fact("project", name, None, None, "change_percent", percent(p["cents"], pp["cents"]), "%")
        energy("project", name, None, p["j"], p["mg"])
    meters = {}
    for l in lines:
        if l["kind"] == "energy":
            continue
        label = l["meter"] if l["kind"] == "usage" else "shared host cost" if l["kind"] == "host-cost" else l["kind"]
        m = meters.setdefault(label, dict(n=0, qty=0, cents=0, unit=l["unit"], per=l["per"]))
        m["n"] += 1
        m["qty"] += l["qty"]
        m["cents"] += l["cents"]
    for label, m in meters.items():
        fact("meter", None, None, label, "lines", m["n"], "lines")
        if m["unit"]:
            fact("meter", None, None, label, "quantity", qtext(m["qty"], m["per"], 6), m["unit"])
            fact("meter", None, None, label, "quantity_base", m["qty"], None)
        if money_on:
            fact("meter", None, None, label, "amount", money(m["cents"]), unit)
    rank = sorted(vms.items(), key=lambda kv: ((-kv[1]["cents"]) if money_on else 0, -kv[1]["billed"], -kv[1]["j"],
                                               VMS[kv[0][1]][0].encode(), kv[0][0].encode()))
    for i, ((project, v), x) in enumerate(rank[:10]):
        if money_on:
            fact("top_vm", project, v, i + 1, "amount", money(x["cents"]), unit)
        fact("top_vm", project, v, i + 1, "vm_minutes_billed", x["billed"], "VM-minutes")
    for (project, v), x in vms.items():
        if x["j"] or x["carbon"]:
            energy("energy", project, v, x["j"], x["mg"])
        if x["billed"] or x["sampled"] or x["lost"]:
            fact("coverage", project, v, None, "minutes_billed", x["billed"], "minutes")
            fact("coverage", project, v, None, "minutes_sampled", x["sampled"], "minutes")
            fact("coverage", project, v, None, "minutes_without_samples", x["missing"], "minutes")
            fact("coverage", project, v, None, "minutes_lost", x["lost"], "minutes")
    for t, day, v, run, smp, lost in COVERAGE:
        if t == tenant and day.startswith(month) and (smp < run or lost > 0):
            fact("gap", VMS[v][2], v, day, "minutes_running", run, "minutes")
            fact("gap", VMS[v][2], v, day, "minutes_sampled", smp, "minutes")
            fact("gap", VMS[v][2], v, day, "minutes_without_samples", max(run - smp, 0), "minutes")
            fact("gap", VMS[v][2], v, day, "seconds_lost", lost // 1000, "seconds")
    return sorted(facts)


def data_sql():
    out = ["INSERT INTO host (hostname) VALUES ('hv1'), ('hv2');"]
    for v, (name, tenant, project, host) in sorted(VMS.items()):
        out.append("INSERT INTO vm (vm_id, uuid) VALUES (%d, '%s');" % (v, uuid(v)))
        out.append("INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, "
                   "current_memory_kib, tenant, project, cost_centre, owner_source, digest) VALUES "
                   "(%d, '2026-08-01', %d, '%s', 2, 2, 1048576, 1048576, '%s', '%s', '', 'metadata', 'd%d');"
                   % (v, HOSTS[host], name.replace("'", "''"), tenant, project, v))
    for tenant, day, v, meter, qty in RATED:
        out.append("INSERT INTO bill_rated VALUES ('%s', '%s', %d, '%s', :V, %d, '%s', %d);"
                   % (tenant, day, v, VMS[v][2], PRICE[meter][3], meter, qty))
    for tenant, day, v, run, smp, lost in COVERAGE:
        out.append("INSERT INTO bill_coverage VALUES ('%s', '%s', %d, '%s', %d, %d, %d, 0, 0, %d);"
                   % (tenant, day, v, VMS[v][2], run, run, smp, lost))
    for host, day, v, nano in SHARES:
        out.append("INSERT INTO bill_pool_share VALUES ('%s', %d, '%s', %d, '%s', '%s', %d);"
                   % (POOLS[host][0], HOSTS[host], day, v, VMS[v][1], VMS[v][2], nano))
    hosts = {}
    for z, day, host, v, uj, meas, ug in ENERGY:
        out.append("INSERT INTO bill_energy_share VALUES ('%s', '%s', %d, %d, '%s', '%s', 'vm', %d, %d, %d);"
                   % (z, day, HOSTS[host], v, VMS[v][1], VMS[v][2], uj, meas, ug))
        h = hosts.setdefault((z, day, host), [0, 0])
        h[0] += uj
        h[1] += ug
    for (z, day, host), (uj, ug) in sorted(hosts.items()):
        idle = 1_000_000_007
        out.append("INSERT INTO bill_energy_share VALUES ('%s', '%s', %d, 0, '', '', 'idle', %d, 0, 0);"
                   % (z, day, HOSTS[host], idle))
        out.append("INSERT INTO bill_energy_host VALUES ('%s', '%s', %d, 1440, 0, %d, %d);"
                   % (z, day, HOSTS[host], uj + idle, ug))
    out.append("INSERT INTO bill_day (time_zone, day, upto) SELECT z, d::date, (d::date + 1)::timestamp AT TIME ZONE z "
               "FROM unnest(ARRAY['Europe/Berlin', 'UTC', 'Asia/Kolkata']) z, "
               "generate_series('2026-09-01'::date, '2026-10-31', '1 day') d;")
    return "\n".join(out) + "\n"


def facts_csv(path):
    rows = list(csv.DictReader(open(path, newline="")))
    out = []
    for r in rows:
        name = r["vm_name"]
        if name.startswith("'") and name[1:2] in ("=", "+", "-", "@"):
            name = name[1:]  # the export's guard against formulas
        out.append("|".join((r["section"], r["project"], name, r["item"], r["metric"], r["value"], r["unit"])))
    return sorted(out)


def facts_json(path):
    d = json.load(open(path))
    out = []

    def fact(section, project, vm, item, metric, value, unit):
        out.append("|".join("" if x is None else str(x) for x in (section, project, vm, item, metric, value, unit)))

    cur = d["currency"]

    def m(section, project, vm, item, metric, v):
        if v is not None:
            fact(section, project, vm, item, metric, v["text"], cur)

    def energy(section, project, vm, e):
        fact(section, project, vm, None, "energy", e["kwh"], "kWh")
        fact(section, project, vm, None, "energy_j", e["j"], "J")
        if e["carbon_g"] is not None:
            fact(section, project, vm, None, "carbon", e["carbon_g"], "g CO2e")
            fact(section, project, vm, None, "carbon_mg", e["carbon_mg"], "mg CO2e")

    m("summary", None, None, None, "total", d["total"])
    if d["previous"]:
        m("summary", None, None, None, "previous_total", d["previous"]["total"])
        if d["change"]:
            fact("summary", None, None, None, "change", ("+" if d["change"]["nano"] > 0 else "") + d["change"]["text"],
                 cur)
        if d["change_percent"]:
            fact("summary", None, None, None, "change_percent", d["change_percent"], "%")
        fact("summary", None, None, None, "previous_vm_minutes_billed", d["previous"]["vm_minutes_billed"],
             "VM-minutes")
    c = d["coverage"]
    for k, key in (("vm_minutes_billed", "minutes_billed"), ("vm_minutes_sampled", "minutes_sampled"),
                   ("vm_minutes_without_samples", "minutes_without_samples"), ("vm_minutes_lost", "minutes_lost")):
        fact("summary", None, None, None, k, c[key], "VM-minutes")
    energy("summary", None, None, d["energy"])
    s = d["shared_host_cost"]
    m("summary", None, None, None, "shared_host_cost", s["total"])
    m("summary", None, None, None, "shared_host_cost_idle", s["idle"])
    for h in s["lines"]:
        item = "%s/%s" % (h["pool"], h["host"])
        for k in ("amount", "used", "idle"):
            m("shared_host_cost", h["project"], h["vm_name"], item, k, h[k])
    for p in d["projects"]:
        n = p["project"]
        fact("project", n, None, None, "vms", p["vms"], "VMs")
        fact("project", n, None, None, "vm_minutes_billed", p["vm_minutes_billed"], "VM-minutes")
        m("project", n, None, None, "amount", p["amount"])
        if d["previous"]:
            fact("project", n, None, None, "previous_vm_minutes_billed", p["previous_vm_minutes_billed"], "VM-minutes")
            m("project", n, None, None, "previous_amount", p["previous_amount"])
            if p["change"]:
                fact("project", n, None, None, "change",
                     ("+" if p["change"]["nano"] > 0 else "") + p["change"]["text"], cur)
            if p["change_percent"]:
                fact("project", n, None, None, "change_percent", p["change_percent"], "%")
        energy("project", n, None, p["energy"])
    for mt in d["meters"]:
        fact("meter", None, None, mt["meter"], "lines", mt["lines"], "lines")
        if mt["quantity"] is not None:
            fact("meter", None, None, mt["meter"], "quantity", mt["quantity"], mt["unit"])
            fact("meter", None, None, mt["meter"], "quantity_base", mt["quantity_base"], None)
        m("meter", None, None, mt["meter"], "amount", mt["amount"])
    for v in d["top_vms"]:
        m("top_vm", v["project"], v["vm_name"], v["rank"], "amount", v["amount"])
        fact("top_vm", v["project"], v["vm_name"], v["rank"], "vm_minutes_billed", v["vm_minutes_billed"],
             "VM-minutes")
    for e in d["energy"]["vms"]:
        energy("energy", e["project"], e["vm_name"], e)
    for v in c["vms"]:
        for k in ("minutes_billed", "minutes_sampled", "minutes_without_samples", "minutes_lost"):
            fact("coverage", v["project"], v["vm_name"], None, k, v[k], "minutes")
    for g in d["gaps"]:
        for k in ("minutes_running", "minutes_sampled", "minutes_without_samples"):
            fact("gap", g["project"], g["vm_name"], g["day"], k, g[k], "minutes")
        for k in ("seconds_lost",):
            fact("gap", g["project"], g["vm_name"], g["day"], k, g[k], "seconds")
    return sorted(out)


def main():
    if sys.argv[1] == "data":
        outdir = sys.argv[2]
        open(outdir + "/data.sql", "w").write(data_sql())
        for name, facts in (("acme-2026-10", report("acme", "2026-10", True, "2026-09")),
                            ("acme-2026-09", report("acme", "2026-09", True)),
                            ("lab-2026-10", report("lab", "2026-10", False)),
                            ("shadow-2026-10", report("shadow", "2026-10", True))):
            open("%s/%s.facts" % (outdir, name), "w").write("\n".join(facts) + "\n")
    elif sys.argv[1] == "csv":
        print("\n".join(facts_csv(sys.argv[2])))
    elif sys.argv[1] == "json":
        print("\n".join(facts_json(sys.argv[2])))
    elif sys.argv[1] == "qtext":
        print(qtext(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))


if __name__ == "__main__":
    main()
