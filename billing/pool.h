/* A shared host's cost split among the VMs on it, minute by minute, with
 * the rest as idle cost: conserved exactly (docs/BILLING.md, "Shared
 * host cost").
 *
 * One struct bill_pool is one host's pool for one month: the month's cost
 * is spread over its minutes (minute i gets floor(C(i+1)/M) - floor(Ci/M),
 * so the minutes add up to C), each minute's cost is split among that
 * minute's VMs by weight and an idle weight (what the host could give
 * that no VM took), in nano-units with the largest remainder; at the end
 * each VM's month and the idle rest are rounded to the minor unit by one
 * more largest-remainder split, so the parts plus idle equal the pool to
 * the minor unit.  Minutes no VM was seen in are idle. */
#ifndef BILL_POOL_H
#define BILL_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "money.h"

enum bill_split {
	BILL_SPLIT_ALLOCATION, /* by what each VM was given (vCPU-ns, MiB-ms) */
	BILL_SPLIT_USE,        /* by what each used (CPU ns) */
	BILL_SPLIT_MAX,        /* by the larger of the two (OpenCost's max(request, usage)) */
};

/* One VM in one minute, in the pool's basis (e.g. CPU ns: allocation =
 * vCPUs x covered ns, use = CPU time). */
struct bill_pool_vm {
	int64_t key; /* the VM (vm_id) */
	int64_t alloc, use;
};

struct bill_pool_part {
	int64_t key;
	vm_money amount;
};

struct bill_pool;

/* A pool of `month` (a multiple of `unit`, >= 0) over `minutes` minutes,
 * split by `split`; NULL for bad arguments. */
struct bill_pool *bill_pool_new(vm_money month, int64_t minutes, int64_t unit, enum bill_split split);
void bill_pool_free(struct bill_pool *p);

/* The VMs of minute `minute` (0 .. minutes-1, each at most once) and the
 * host's capacity in that minute (CPU ns it could give).  Returns 0, or
 * -1 for a minute out of range or seen before, or a negative value. */
int bill_pool_minute(struct bill_pool *p, int64_t minute, int64_t capacity, const struct bill_pool_vm *vms, size_t n);

/* The exact shares so far, one per VM seen, in order of key, in nano-
 * units, not rounded (*parts: the caller frees); what the minutes given
 * gave no VM is the month less their sum.  A month split a day at a time
 * (one pool per day, fed that day's minutes) gives shares that add up to
 * the whole month's: each minute's split depends on that minute alone.
 * bill_pool_round() then rounds the month. */
void bill_pool_shares(const struct bill_pool *p, struct bill_pool_part **parts, size_t *n);

/* Rounds a month's exact shares (parts[i].amount, nano-units; their sum
 * at most month) and the idle rest to the unit by one largest-remainder
 * split of month: parts' amounts replaced, *idle the rest; parts + idle
 * = month.  spread_idle as bill_pool_finish().  Returns 0, or -1 for bad
 * arguments (shares beyond the month, a month not a multiple of unit). */
int bill_pool_round(vm_money month, int64_t unit, bool spread_idle, struct bill_pool_part *parts, size_t n,
                    vm_money *idle);

/* The month's parts, one per VM seen, in order of key, each a multiple
 * of the unit (*parts: the caller frees), and the idle rest; parts + idle
 * = month.  spread_idle: the idle rest goes to the VMs by their parts
 * (idle is then 0, unless no VM has a part).  Returns 0, or -1 if the
 * amounts leave vm_money's range (they cannot for a pool that fits). */
int bill_pool_finish(struct bill_pool *p, bool spread_idle, struct bill_pool_part **parts, size_t *n, vm_money *idle);

#endif
