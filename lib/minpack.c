#include "config.h"

#include "minpack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binio.h"
#include "vtime.h"

#define PACK_VERSION 1

/* A column's mode byte: which present minutes have a value, and how the
 * values are written. */
enum presence { P_NONE = 0, P_ALL = 1, P_MASK = 2 };
enum coding {
	C_PLAIN = 0,    /* a varint each */
	C_CONST = 1,    /* one varint for all */
	C_DELTA = 2,    /* first as a varint, then zig-zag differences */
	C_FROM_AVG = 3, /* a gauge maximum: max - avg of the same minute, as varints (max >= avg) */
};

static size_t uv_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint64_t zigzag(uint64_t a, uint64_t b)
{
	/* b - a as a signed 64-bit difference, wrapping: exact for any two
	 * values, and small when they are close. */
	int64_t d = (int64_t)(b - a);
	return ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
}

static uint64_t unzigzag(uint64_t a, uint64_t z)
{
	uint64_t d = (z >> 1) ^ (~(z & 1) + 1);
	return a + d;
}

/* The values of one column at the present minutes, and whether each has one. */
struct column {
	uint64_t v[60];
	uint64_t ref[60]; /* the same minute's average, for a maximum */
	int has[60];
	size_t n; /* present minutes */
};

static void put_column(struct vm_binw *w, const struct column *c, int is_max)
{
	size_t with = 0;
	uint64_t mask = 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->has[i]) {
			with++;
			mask |= UINT64_C(1) << i;
		}
	enum presence pr = with == 0 ? P_NONE : with == c->n ? P_ALL : P_MASK;
	if (pr == P_NONE) {
		vm_binw_u8(w, P_NONE);
		return;
	}
	/* Sizes of each coding over the minutes with a value. */
	size_t plain = 0, delta = 0, from_avg = 0;
	int is_const = 1, avg_ok = is_max;
	uint64_t first = 0, prev = 0;
	int seen = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (!c->has[i])
			continue;
		plain += uv_len(c->v[i]);
		delta += seen ? uv_len(zigzag(prev, c->v[i])) : uv_len(c->v[i]);
		if (is_max) {
			if (c->v[i] < c->ref[i])
				avg_ok = 0;
			else
				from_avg += uv_len(c->v[i] - c->ref[i]);
		}
		if (!seen)
			first = c->v[i];
		else if (c->v[i] != first)
			is_const = 0;
		prev = c->v[i];
		seen = 1;
	}
	enum coding co = C_PLAIN;
	size_t best = plain;
	if (is_const) {
		co = C_CONST;
		best = uv_len(first);
	}
	if (delta < best) {
		co = C_DELTA;
		best = delta;
	}
	if (avg_ok && from_avg < best)
		co = C_FROM_AVG;
	vm_binw_u8(w, (uint8_t)(pr | co << 2));
	if (pr == P_MASK)
		vm_binw_uv(w, mask);
	if (co == C_CONST) {
		vm_binw_uv(w, first);
		return;
	}
	seen = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (!c->has[i])
			continue;
		if (co == C_PLAIN || (co == C_DELTA && !seen))
			vm_binw_uv(w, c->v[i]);
		else if (co == C_DELTA)
			vm_binw_uv(w, zigzag(prev, c->v[i]));
		else
			vm_binw_uv(w, c->v[i] - c->ref[i]);
		prev = c->v[i];
		seen = 1;
	}
}

/* Reads a column for n present minutes into c (ref: the averages, for a
 * maximum coded from them). */
static void get_column(struct vm_binr *r, struct column *c, size_t n, const struct column *ref)
{
	memset(c, 0, sizeof *c);
	c->n = n;
	uint8_t mode = vm_binr_u8(r, "column mode");
	unsigned pr = mode & 3, co = mode >> 2;
	if (pr > P_MASK || co > C_FROM_AVG || (pr == P_NONE && co != 0)) {
		vm_binr_fail(r, "column mode");
		return;
	}
	if (pr == P_NONE)
		return;
	uint64_t mask = pr == P_ALL ? (n == 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1) : vm_binr_uv(r, "column mask");
	if (n < 64 && (mask >> n)) {
		vm_binr_fail(r, "column mask");
		return;
	}
	uint64_t first = co == C_CONST ? vm_binr_uv(r, "constant") : 0, prev = 0;
	int seen = 0;
	for (size_t i = 0; i < n; i++) {
		if (!(mask >> i & 1))
			continue;
		c->has[i] = 1;
		switch (co) {
		case C_CONST: c->v[i] = first; break;
		case C_PLAIN: c->v[i] = vm_binr_uv(r, "value"); break;
		case C_DELTA: c->v[i] = seen ? unzigzag(prev, vm_binr_uv(r, "delta")) : vm_binr_uv(r, "value"); break;
		default:
			if (!ref || !ref->has[i]) {
				vm_binr_fail(r, "maximum without its average");
				return;
			}
			uint64_t d = vm_binr_uv(r, "maximum");
			if (ref->v[i] + d < d) {
				vm_binr_fail(r, "maximum");
				return;
			}
			c->v[i] = ref->v[i] + d;
		}
		prev = c->v[i];
		seen = 1;
	}
}

static uint8_t set_id(const struct vm_meter_set *set)
{
	return set == vm_usage_vm_meters() ? 1 : set == vm_usage_host_meters() ? 2 : 0;
}

uint8_t *vm_pack_hour(const struct vm_meter_set *set, int64_t hour_ns, const struct vm_usage_row *rows, size_t n,
                      size_t *len, char *err, size_t errsize)
{
	const int64_t hour = VM_NS_PER_HOUR;
	if (!set_id(set) || hour_ns % hour != 0 || n == 0 || n > 60) {
		snprintf(err, errsize, "an hour holds 1 to 60 minute rows of a known set, from the start of an hour");
		return NULL;
	}
	const struct vm_usage_row *by_min[60] = {0};
	uint64_t minutes = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t off = rows[i].minute_ns - hour_ns;
		if (rows[i].set != set || off < 0 || off >= hour || off % VM_NS_PER_MIN) {
			snprintf(err, errsize, "row %zu is not a minute of this hour and set", i);
			return NULL;
		}
		int m = (int)(off / VM_NS_PER_MIN);
		if (by_min[m]) {
			snprintf(err, errsize, "two rows for minute %d", m);
			return NULL;
		}
		by_min[m] = &rows[i];
		minutes |= UINT64_C(1) << m;
	}
	const struct vm_usage_row *r[60];
	size_t k = 0;
	for (int m = 0; m < 60; m++)
		if (by_min[m])
			r[k++] = by_min[m];

	struct vm_binw w = {0};
	vm_binw_u8(&w, PACK_VERSION);
	vm_binw_u8(&w, set_id(set));
	vm_binw_uv(&w, minutes);
	struct column c, avg;
	memset(&c, 0, sizeof c);
	c.n = k;
	for (size_t i = 0; i < k; i++) {
		c.v[i] = (uint64_t)r[i]->coverage_ms;
		c.has[i] = 1;
	}
	put_column(&w, &c, 0);
	for (size_t i = 0; i < k; i++)
		c.v[i] = (uint64_t)r[i]->samples;
	put_column(&w, &c, 0);
	for (size_t i = 0; i < k; i++)
		c.v[i] = r[i]->late;
	put_column(&w, &c, 0);
	for (size_t m = 0; m < set->n; m++) {
		uint64_t bit = UINT64_C(1) << m;
		memset(&c, 0, sizeof c);
		c.n = k;
		for (size_t i = 0; i < k; i++) {
			c.has[i] = (r[i]->have & bit) != 0;
			c.v[i] = c.has[i] ? (m < set->n_counters ? r[i]->sum[m] : r[i]->avg[m]) : 0;
		}
		put_column(&w, &c, 0);
		if (m < set->n_counters)
			continue;
		avg = c;
		for (size_t i = 0; i < k; i++) {
			c.v[i] = c.has[i] ? r[i]->max[m] : 0;
			c.ref[i] = avg.v[i];
		}
		put_column(&w, &c, 1);
	}
	*len = w.len;
	return w.p;
}

int vm_unpack_hour(const struct vm_meter_set *set, int64_t hour_ns, const uint8_t *p, size_t len,
                   struct vm_usage_row rows[60], size_t *n, char *err, size_t errsize)
{
	*n = 0;
	struct vm_binr r;
	vm_binr_init(&r, p, len);
	uint8_t version = vm_binr_u8(&r, "version"), id = vm_binr_u8(&r, "set");
	if (vm_binr_ok(&r) && (version != PACK_VERSION || id != set_id(set) || !id)) {
		snprintf(err, errsize, "not a packed hour of this version and set (version %u, set %u)", version, id);
		return -1;
	}
	uint64_t minutes = vm_binr_uv(&r, "minutes");
	if (vm_binr_ok(&r) && (minutes >> 60 || !minutes))
		vm_binr_fail(&r, "minutes");
	size_t k = 0;
	int at[60];
	for (int m = 0; m < 60; m++)
		if (minutes >> m & 1)
			at[k++] = m;
	memset(rows, 0, 60 * sizeof *rows);
	for (size_t i = 0; i < k; i++) {
		rows[i].set = set;
		rows[i].minute_ns = hour_ns + at[i] * VM_NS_PER_MIN;
	}
	struct column c, avg;
	get_column(&r, &c, k, NULL);
	for (size_t i = 0; i < k; i++) {
		if (!c.has[i] || c.v[i] > 60000)
			vm_binr_fail(&r, "coverage");
		rows[i].coverage_ms = (int32_t)c.v[i];
	}
	get_column(&r, &c, k, NULL);
	for (size_t i = 0; i < k; i++) {
		if (!c.has[i] || c.v[i] > INT32_MAX)
			vm_binr_fail(&r, "samples");
		rows[i].samples = (int32_t)c.v[i];
	}
	get_column(&r, &c, k, NULL);
	for (size_t i = 0; i < k; i++) {
		if (!c.has[i])
			vm_binr_fail(&r, "late");
		rows[i].late = c.v[i];
	}
	for (size_t m = 0; m < set->n && vm_binr_ok(&r); m++) {
		uint64_t bit = UINT64_C(1) << m;
		get_column(&r, &c, k, NULL);
		if (m < set->n_counters) {
			for (size_t i = 0; i < k; i++)
				if (c.has[i]) {
					rows[i].have |= bit;
					rows[i].sum[m] = c.v[i];
				}
			continue;
		}
		avg = c;
		get_column(&r, &c, k, &avg);
		for (size_t i = 0; i < k; i++) {
			if (c.has[i] != avg.has[i]) {
				vm_binr_fail(&r, "gauge maximum without average");
				break;
			}
			if (c.has[i]) {
				rows[i].have |= bit;
				rows[i].avg[m] = avg.v[i];
				rows[i].max[m] = c.v[i];
			}
		}
	}
	if (!vm_binr_done(&r)) {
		snprintf(err, errsize, "not a packed hour: %s %s", r.bad ? "bad field" : "trailing bytes after",
		         r.bad ? r.what : "the last column");
		return -1;
	}
	*n = k;
	return 0;
}
