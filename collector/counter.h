/* Cumulative counters to deltas.
 *
 * libvirt's counters are 64-bit and start from zero when their source
 * starts: a domain (re)start, a hot-plugged device, a migrated-in guest.
 * A delta is therefore computed as follows:
 *  - no previous value (first sight of the VM since the collector began):
 *    no delta; the value is a baseline only;
 *  - the source restarted in between (the caller knows: the domain id
 *    changed, or the device is new while its VM was already known): the
 *    whole current value accrued since the restart, so it is the delta;
 *  - the value went down without a known restart: the counter was reset
 *    in between and has counted up from zero since, so the current value
 *    is the delta (the part before the reset, after the previous sample,
 *    is lost: at most one interval of one counter, and logged);
 *  - otherwise cur - prev.
 * A delta is never negative and never the wrap-around of an unsigned
 * subtraction. */
#ifndef COL_COUNTER_H
#define COL_COUNTER_H

#include <stdbool.h>
#include <stdint.h>

enum vm_counter_result {
	VM_COUNTER_BASELINE, /* no delta */
	VM_COUNTER_OK,
	VM_COUNTER_RESTART, /* known restart: delta = cur */
	VM_COUNTER_RESET,   /* unexplained decrease: delta = cur */
};

enum vm_counter_result vm_counter_delta(bool have_prev, uint64_t prev, uint64_t cur, bool restarted, uint64_t *delta);

#endif
