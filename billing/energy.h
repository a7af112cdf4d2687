/* Energy and carbon: a host's energy of each minute split among the VMs
 * that ran on it (docs/BILLING.md, "Energy and carbon").
 *
 * A minute's energy is the host's RAPL measurement (host_power_minute)
 * where there is one, else its class's power model: idle power plus
 * (max - idle) x the host's CPU busy share, over the minute's coverage.
 * The idle power of the minute (no more than its energy) is split by
 * allocation (vCPUs against the host's CPUs; what no VM was allocated is
 * the host's `idle` part), the rest by CPU time (against the host's busy
 * CPU time; what the VMs did not use is the host's `overhead`).  Carbon is
 * the minute's energy times the grid's intensity in that hour, split like
 * the energy.  Everything is integer: microjoules, micrograms, and
 * largest-remainder splits (lib/money.h vm_split) that add up exactly. */
#ifndef BILL_ENERGY_H
#define BILL_ENERGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pg.h"
#include "plan.h"

/* A running VM-minute on a host with energy; the caller fills the first
 * fields, bill_energy_split() the VM's parts. */
struct bill_energy_vm {
	int host, vm;
	int64_t minute; /* minutes since the epoch */
	int64_t vcpus;
	int key; /* the caller's */
	int64_t energy_uj, measured_uj, carbon_ug;
};

/* A host's energy over a range, and its two parts that are no VM's. */
struct bill_energy_host {
	int host;
	int64_t minutes, measured; /* minutes with energy; of them, measured */
	int64_t energy_uj, carbon_ug;
	int64_t idle_uj, idle_measured_uj, idle_carbon_ug;
	int64_t overhead_uj, overhead_measured_uj, overhead_carbon_ug;
};

/* Which hosts have energy in [a, b) (seconds, whole minutes): those with
 * measured minutes, and those whose class (class_of[host], NULL: none)
 * has a power model.  *on gets n_hosts flags (the caller frees it);
 * returns how many hosts are on, or -1 with err. */
int bill_energy_hosts(struct vm_pg *pg, const struct bill_catalog *c, const char *const *class_of, int n_hosts,
                      int64_t a, int64_t b, bool **on, char *err, size_t errsize);

/* Splits the energy of every minute of [a, b) of the hosts `on` among
 * v[0..n) (sorted here by host and minute), and sums each host's minutes
 * into *hosts (*nh of them, the caller frees it).  A host's minute with
 * energy and no VM is its idle part and overhead.  Needs the VMs' CPU
 * time per minute: refused (-1, err) where the raw minutes are packed or
 * dropped. */
int bill_energy_split(struct vm_pg *pg, const struct bill_catalog *c, const char *const *class_of, const bool *on,
                      int n_hosts, int64_t a, int64_t b, struct bill_energy_vm *v, size_t n,
                      struct bill_energy_host **hosts, size_t *nh, char *err, size_t errsize);

#endif
