/* The host's energy counters: RAPL (Running Average Power Limit) as Linux
 * shows it under the powercap class (/sys/class/powercap).
 *
 * Zones.  Only the top-level RAPL zones count, the directories
 * "intel-rapl:N" (AMD's RAPL appears under the same name): their subzones
 * "intel-rapl:N:M" (core, uncore, dram) are parts of their package, and
 * adding them would count that energy twice; "intel-rapl-mmio:N" is the
 * same package read another way, and is ignored too.  Of the top-level
 * zones, a zone named "psys" (the platform: the packages and more) is used
 * alone when there is one; otherwise the "package-N" zones are summed.
 * Other top-level zones are ignored.
 *
 * Counters.  energy_uj counts microjoules from 0 up to max_energy_range_uj
 * and then starts again at 0, so a counter that went backwards wrapped
 * once: its delta is max_range - prev + cur + 1 (the step from max_range to
 * 0 is one microjoule, like every other step).  A delta of more than half
 * the range in one interval cannot be told from a counter that was reset
 * (a package replaced, a driver reloaded, several wraps in a long gap), and
 * is not counted; neither is the interval in which a zone appeared or
 * disappeared.
 *
 * Permissions.  Since Linux 5.10 (CVE-2020-8694, "Platypus") energy_uj is
 * readable by root only: a collector running as its own user needs a
 * tmpfiles or udev rule (docs/ARCHITECTURE.md, "Host energy").  A counter
 * that cannot be read makes the whole sample absent (summing the zones
 * that can be read would undercount): one error naming the file and the
 * errno, then nothing until it reads again. */
#ifndef COL_POWER_H
#define COL_POWER_H

#include <stddef.h>
#include <stdint.h>

#define COL_POWER_DEFAULT_ROOT "/sys/class/powercap"
/* Top-level zones kept at most: a zone per CPU package, and psys. */
#define COL_POWER_MAX_ZONES 16

struct col_power_zone {
	char dir[32]; /* "intel-rapl:0": the zone's identity between samples */
	uint64_t energy_uj;
	uint64_t max_range_uj;
};

/* The counters of the zones in use at one moment, sorted by dir. */
struct col_power_sample {
	size_t n;
	struct col_power_zone zone[COL_POWER_MAX_ZONES];
};

struct col_power;

/* A reader of the zones under `root` (NULL: COL_POWER_DEFAULT_ROOT);
 * nothing is read yet.  Never NULL. */
struct col_power *col_power_new(const char *root);
void col_power_free(struct col_power *p);

#define COL_POWER_ABSENT 0 /* no RAPL zone under the root (logged once, info) */
#define COL_POWER_OK 1
#define COL_POWER_FAILED (-1) /* a zone's counter could not be read (logged once) */

/* Reads the counters of the zones in use now into *out (the zones are
 * looked for at every read: a driver loaded later is found).  Returns
 * COL_POWER_OK, or COL_POWER_ABSENT or COL_POWER_FAILED with out->n 0.
 * Each change between these outcomes is logged once. */
int col_power_read(struct col_power *p, struct col_power_sample *out);

/* The energy between two samples, in *delta_uj: 0, or -1 with why in `why`
 * (the zones differ, a delta beyond half a range: a reset), *delta_uj 0. */
int col_power_delta(const struct col_power_sample *prev, const struct col_power_sample *cur, uint64_t *delta_uj,
                    char *why, size_t whysize);

#endif
