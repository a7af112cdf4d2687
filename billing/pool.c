/* billing/pool: a host's monthly cost split among its VMs (pool.h). */
#include "config.h"

#include "pool.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct acc {
	int64_t key;
	int64_t nano; /* the VM's share so far: at most the month */
};

struct bill_pool {
	vm_money month;
	int64_t minutes, unit;
	enum bill_split split;
	uint8_t *seen; /* a bit per minute */
	/* VMs by key: open addressing, power-of-two size, key -1 empty */
	struct acc *tab;
	size_t cap, n;
	int64_t *w;     /* a minute's weights, n + 1 */
	int64_t *part;  /* and the parts */
	size_t scratch; /* the room of w and part */
};

struct bill_pool *bill_pool_new(vm_money month, int64_t minutes, int64_t unit, enum bill_split split)
{
	if (month.n < 0 || minutes <= 0 || unit <= 0 || month.n % unit != 0 || (unsigned)split > BILL_SPLIT_MAX)
		return NULL;
	struct bill_pool *p = vm_xcalloc(1, sizeof *p);
	p->month = month;
	p->minutes = minutes;
	p->unit = unit;
	p->split = split;
	p->seen = vm_xcalloc((size_t)(minutes + 7) / 8, 1);
	p->cap = 64;
	p->tab = vm_xmalloc(p->cap * sizeof *p->tab);
	for (size_t i = 0; i < p->cap; i++)
		p->tab[i].key = -1;
	return p;
}

void bill_pool_free(struct bill_pool *p)
{
	if (!p)
		return;
	free(p->seen);
	free(p->tab);
	free(p->w);
	free(p->part);
	free(p);
}

static size_t hash(int64_t key, size_t cap)
{
	return (size_t)(((uint64_t)key * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & (cap - 1);
}

static size_t find(struct bill_pool *p, int64_t key)
{
	size_t i = hash(key, p->cap);
	while (p->tab[i].key != -1 && p->tab[i].key != key)
		i = (i + 1) & (p->cap - 1);
	return i;
}

/* The slot of `key`, added with nothing yet if new. */
static size_t slot_of(struct bill_pool *p, int64_t key)
{
	if (2 * (p->n + 1) > p->cap) {
		struct acc *old = p->tab;
		size_t oc = p->cap;
		p->cap *= 2;
		p->tab = vm_xmalloc(p->cap * sizeof *p->tab);
		for (size_t i = 0; i < p->cap; i++)
			p->tab[i].key = -1;
		for (size_t i = 0; i < oc; i++)
			if (old[i].key != -1)
				p->tab[find(p, old[i].key)] = old[i];
		free(old);
	}
	size_t i = find(p, key);
	if (p->tab[i].key == -1) {
		p->tab[i] = (struct acc){key, 0};
		p->n++;
	}
	return i;
}

/* The cost of minute i: the cumulative floors make the minutes add up
 * to the month exactly, however it divides. */
static int64_t minute_cost(const struct bill_pool *p, int64_t i)
{
	__int128 c = p->month.n;
	return (int64_t)(c * (i + 1) / p->minutes - c * i / p->minutes);
}

int bill_pool_minute(struct bill_pool *p, int64_t minute, int64_t capacity, const struct bill_pool_vm *vms, size_t n)
{
	if (minute < 0 || minute >= p->minutes || capacity < 0 || (p->seen[minute / 8] >> (minute % 8) & 1))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (vms[i].key < 0 || vms[i].alloc < 0 || vms[i].use < 0)
			return -1;
	p->seen[minute / 8] |= (uint8_t)(1u << (minute % 8));
	if (n + 1 > p->scratch) {
		p->scratch = 2 * (n + 1);
		p->w = vm_xrealloc(p->w, p->scratch * sizeof *p->w);
		p->part = vm_xrealloc(p->part, p->scratch * sizeof *p->part);
	}
	__int128 sum = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t a = vms[i].alloc, u = vms[i].use;
		p->w[i] = p->split == BILL_SPLIT_ALLOCATION ? a : p->split == BILL_SPLIT_USE ? u : a > u ? a : u;
		sum += p->w[i];
	}
	/* What the host could give that no VM took; none when its VMs were
	 * given more than it has (overcommit): they share the whole minute. */
	__int128 idle = capacity - sum;
	p->w[n] = idle > 0 ? (int64_t)idle : 0;
	if (sum == 0 && p->w[n] == 0)
		p->w[n] = 1; /* nothing at all: the minute is idle */
	if (vm_split(minute_cost(p, minute), p->w, n + 1, 1, p->part) < 0)
		return -1;
	/* Slots first: a table that grows moves them. */
	for (size_t i = 0; i < n; i++)
		slot_of(p, vms[i].key);
	for (size_t i = 0; i < n; i++)
		p->tab[find(p, vms[i].key)].nano += p->part[i];
	return 0;
}

static int part_cmp(const void *a, const void *b)
{
	const struct bill_pool_part *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key;
}

void bill_pool_shares(const struct bill_pool *p, struct bill_pool_part **parts, size_t *n)
{
	struct bill_pool_part *out = vm_xmalloc((p->n ? p->n : 1) * sizeof *out);
	size_t k = 0;
	for (size_t i = 0; i < p->cap; i++)
		if (p->tab[i].key != -1)
			out[k++] = (struct bill_pool_part){p->tab[i].key, {p->tab[i].nano}};
	qsort(out, k, sizeof *out, part_cmp);
	*parts = out;
	*n = k;
}

int bill_pool_round(vm_money month, int64_t unit, bool spread_idle, struct bill_pool_part *parts, size_t n,
                    vm_money *idle)
{
	if (month.n < 0 || unit <= 0 || month.n % unit != 0)
		return -1;
	/* Weights: each VM's exact share, and the idle rest (what the
	 * minutes gave no VM, and the minutes no VM was seen in). */
	int64_t *w = vm_xmalloc((n + 1) * sizeof *w);
	vm_money *r = vm_xmalloc((n + 1) * sizeof *r);
	int64_t given = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		w[i] = parts[i].amount.n;
		if (w[i] < 0 || __builtin_add_overflow(given, w[i], &given) || given > month.n)
			rc = -1;
	}
	w[n] = month.n - given;
	if (spread_idle && given > 0)
		w[n] = 0;
	if (rc == 0 && month.n == 0) {
		for (size_t i = 0; i <= n; i++)
			r[i].n = 0;
	} else if (rc == 0) {
		rc = vm_money_split(month, w, n + 1, unit, r);
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		parts[i].amount = r[i];
	*idle = rc == 0 ? r[n] : (vm_money){0};
	free(w);
	free(r);
	return rc;
}

int bill_pool_finish(struct bill_pool *p, bool spread_idle, struct bill_pool_part **parts, size_t *n, vm_money *idle)
{
	struct bill_pool_part *out;
	size_t k;
	bill_pool_shares(p, &out, &k);
	if (bill_pool_round(p->month, p->unit, spread_idle, out, k, idle) < 0) {
		free(out);
		return -1;
	}
	*parts = out;
	*n = k;
	return 0;
}
