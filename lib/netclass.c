#include "config.h"

#include "netclass.h"

#include <arpa/inet.h>
#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "xalloc.h"

#define NC_STR_(x) #x
#define NC_STR(x) NC_STR_(x)

/* The prefixes of one family become a sorted list of change points: from
 * start[i] up to start[i + 1] - 1 every address has class cls[i].  start[0]
 * is 0, so a lookup is one binary search for the last start <= address.
 * Nested prefixes cut holes into the ranges of the shorter ones, which is
 * what longest prefix match means; n prefixes make at most 2n + 1 points. */
struct nc_ranges {
	size_t n;
	unsigned __int128 *start; /* building; IPv6 keeps it for lookups */
	uint32_t *start4;         /* IPv4 lookups: half the cache footprint */
	uint8_t *cls;
};

struct vm_netclass {
	unsigned n_ids;
	char names[VM_NETCLASS_MAX_IDS][VM_NETCLASS_NAME_MAX + 1];
	size_t n_prefixes;
	struct nc_ranges v4, v6;
};

/* One prefix while building: its first and last address as a number of
 * the family's width, and where it came from. */
struct nc_entry {
	unsigned __int128 first, last;
	size_t index; /* into the rules */
	unsigned len;
	uint8_t cls;
};

static void __attribute__((format(printf, 3, 4))) nc_error(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	if (!err || errsize == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
}

static unsigned __int128 nc_load(const uint8_t *addr, size_t bytes)
{
	unsigned __int128 v = 0;

	for (size_t i = 0; i < bytes; i++)
		v = v << 8 | addr[i];
	return v;
}

/* All ones below the prefix length: the host part of a `bits` wide key. */
static unsigned __int128 nc_host_mask(unsigned bits, unsigned len)
{
	unsigned host = bits - len;

	if (host == 0)
		return 0;
	if (host == 128)
		return ~(unsigned __int128)0;
	return ((unsigned __int128)1 << host) - 1;
}

/* ::ffff:0:0/96 */
static bool nc_is_v4_mapped(const uint8_t addr[16])
{
	static const uint8_t head[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(addr, head, sizeof head) == 0;
}

const char *vm_netclass_format_prefix(const struct vm_prefix *p, char *buf, size_t size)
{
	char addr[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->family, p->addr, addr, sizeof addr))
		snprintf(addr, sizeof addr, "?");
	snprintf(buf, size, "%s/%u", addr, p->len);
	return buf;
}

int vm_netclass_parse_prefix(const char *s, struct vm_prefix *p, char *err, size_t errsize)
{
	char addr[VM_NETCLASS_PREFIX_MAX + 1];
	size_t len = strnlen(s, VM_NETCLASS_PREFIX_MAX + 1);
	const char *slash;
	unsigned bits;

	memset(p, 0, sizeof *p);
	if (len == 0) {
		nc_error(err, errsize, "prefix '' is empty");
		return -1;
	}
	if (len > VM_NETCLASS_PREFIX_MAX) {
		nc_error(err, errsize, "prefix '%.32s...' is longer than %d bytes", s, VM_NETCLASS_PREFIX_MAX);
		return -1;
	}
	slash = strchr(s, '/');
	len = slash ? (size_t)(slash - s) : len;
	memcpy(addr, s, len);
	addr[len] = '\0';
	p->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(p->family, addr, p->addr) != 1) {
		nc_error(err, errsize, "prefix '%s' is not an IPv4 or IPv6 address with an optional /length", s);
		return -1;
	}
	bits = p->family == AF_INET ? 32 : 128;
	p->len = bits;
	if (slash) {
		const char *d = slash + 1;
		size_t nd = strspn(d, "0123456789");
		unsigned v = 0;

		/* At most three digits, no sign, no space, no leading zero. */
		for (size_t i = 0; i < nd && nd <= 3; i++)
			v = v * 10 + (unsigned)(d[i] - '0');
		if (nd == 0 || nd > 3 || d[nd] != '\0' || (d[0] == '0' && nd > 1) || v > bits) {
			nc_error(err, errsize, "prefix '%s' needs a length from 0 to %u after the '/'", s, bits);
			return -1;
		}
		p->len = v;
	}

	unsigned __int128 key = nc_load(p->addr, bits / 8);
	if (key & nc_host_mask(bits, p->len)) {
		struct vm_prefix net = *p;
		char buf[VM_NETCLASS_PREFIX_MAX + 1];

		for (unsigned i = 0; i < bits / 8; i++) {
			unsigned keep = p->len > i * 8 ? p->len - i * 8 : 0;
			net.addr[i] &= keep >= 8 ? 0xff : (uint8_t)(0xff00 >> keep);
		}
		nc_error(err, errsize, "prefix '%s' has host bits set (the network is %s)", s,
		         vm_netclass_format_prefix(&net, buf, sizeof buf));
		return -1;
	}
	if (p->family == AF_INET6 && p->len >= 96 && nc_is_v4_mapped(p->addr)) {
		struct vm_prefix v4 = {.family = AF_INET, .len = p->len - 96};
		char buf[VM_NETCLASS_PREFIX_MAX + 1];

		memcpy(v4.addr, p->addr + 12, 4);
		nc_error(err, errsize, "prefix '%s' is IPv4-mapped: write it as IPv4 (%s)", s,
		         vm_netclass_format_prefix(&v4, buf, sizeof buf));
		return -1;
	}
	return 0;
}

const char *vm_netclass_check_name(const char *name)
{
	size_t len = strnlen(name, VM_NETCLASS_NAME_MAX + 1);

	if (len == 0)
		return "must not be empty";
	if (len > VM_NETCLASS_NAME_MAX)
		return "is longer than " NC_STR(VM_NETCLASS_NAME_MAX) " bytes";
	if (name[0] < 'a' || name[0] > 'z' || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") != len)
		return "must start with a lower-case letter and hold only lower-case letters, digits, '-' and '_'";
	if (strcmp(name, VM_NETCLASS_NAME_MALFORMED) == 0 || strcmp(name, VM_NETCLASS_NAME_NON_IP) == 0)
		return "is reserved";
	return NULL;
}

static int nc_cmp_entry(const void *a, const void *b)
{
	const struct nc_entry *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Appends a change point; one at the same start as the last replaces it
 * (a nested prefix starting where its parent does, or two prefixes ending
 * together), and a point that does not change the class is dropped. */
static void nc_emit(struct nc_ranges *r, unsigned __int128 start, uint8_t cls)
{
	if (r->n && r->start[r->n - 1] == start)
		r->n--;
	if (r->n && r->cls[r->n - 1] == cls)
		return;
	r->start[r->n] = start;
	r->cls[r->n] = cls;
	r->n++;
}

/* Fills r from n entries sorted by nc_cmp_entry, without duplicates; keys
 * are `bits` wide. */
static void nc_sweep(struct nc_ranges *r, const struct nc_entry *e, size_t n, unsigned bits)
{
	/* Open prefixes, innermost last; each is strictly longer than the one
	 * below it, so there are at most bits + 1. */
	struct {
		unsigned __int128 last;
		uint8_t cls;
	} stack[129];
	const unsigned __int128 max = nc_host_mask(bits, 0);
	size_t depth = 0;

	r->start = vm_xcalloc(2 * n + 1, sizeof *r->start);
	r->cls = vm_xcalloc(2 * n + 1, sizeof *r->cls);
	r->n = 0;
	nc_emit(r, 0, VM_NETCLASS_DEFAULT);
	for (size_t i = 0; i < n; i++) {
		/* Prefixes nest or are disjoint: those that end before this one
		 * starts are done, the one left on top (if any) holds it. */
		while (depth && stack[depth - 1].last < e[i].first) {
			unsigned __int128 after = stack[depth - 1].last + 1;
			depth--;
			nc_emit(r, after, depth ? stack[depth - 1].cls : VM_NETCLASS_DEFAULT);
		}
		nc_emit(r, e[i].first, e[i].cls);
		stack[depth].last = e[i].last;
		stack[depth].cls = e[i].cls;
		depth++;
	}
	while (depth) {
		unsigned __int128 last = stack[--depth].last;
		/* Nothing follows the family's last address. */
		if (last == max)
			break;
		nc_emit(r, last + 1, depth ? stack[depth - 1].cls : VM_NETCLASS_DEFAULT);
	}
	if (bits == 32) {
		r->start4 = vm_xcalloc(r->n, sizeof *r->start4);
		for (size_t i = 0; i < r->n; i++)
			r->start4[i] = (uint32_t)r->start[i];
		free(r->start);
		r->start = NULL;
	}
}

/* The id of class `name`, adding it if new.  Returns -1 at the limit. */
static int nc_class_id(struct vm_netclass *nc, const char *name)
{
	for (unsigned id = VM_NETCLASS_FIRST; id < nc->n_ids; id++)
		if (strcmp(nc->names[id], name) == 0)
			return (int)id;
	if (nc->n_ids >= VM_NETCLASS_MAX_IDS)
		return -1;
	snprintf(nc->names[nc->n_ids], sizeof nc->names[0], "%s", name);
	return (int)nc->n_ids++;
}

/* The first duplicate (by the later of the two indexes) among n sorted
 * entries, or NULL; *other is the earlier one. */
static const struct nc_entry *nc_find_dup(const struct nc_entry *e, size_t n, const struct nc_entry **other)
{
	const struct nc_entry *dup = NULL;

	for (size_t i = 1; i < n; i++) {
		/* Equal prefixes sort by index: e[i] is the later. */
		if (e[i].first == e[i - 1].first && e[i].len == e[i - 1].len && (!dup || e[i].index < dup->index)) {
			dup = &e[i];
			*other = &e[i - 1];
		}
	}
	return dup;
}

struct vm_netclass *vm_netclass_new(const char *default_name, const struct vm_netclass_rule *rules, size_t n,
                                    size_t *bad, char *err, size_t errsize)
{
	struct vm_netclass *nc = vm_xcalloc(1, sizeof *nc);
	struct nc_entry *e4 = NULL, *e6 = NULL;
	const struct nc_entry *dup = NULL, *other = NULL;
	size_t n4 = 0, n6 = 0, at = n;
	const char *why;
	int rc = -1;

	if (err && errsize)
		err[0] = '\0';
	if ((why = vm_netclass_check_name(default_name))) {
		nc_error(err, errsize, "default class name '%.64s' %s", default_name, why);
		goto out;
	}
	snprintf(nc->names[VM_NETCLASS_MALFORMED], sizeof nc->names[0], "%s", VM_NETCLASS_NAME_MALFORMED);
	snprintf(nc->names[VM_NETCLASS_NON_IP], sizeof nc->names[0], "%s", VM_NETCLASS_NAME_NON_IP);
	snprintf(nc->names[VM_NETCLASS_DEFAULT], sizeof nc->names[0], "%s", default_name);
	nc->n_ids = VM_NETCLASS_FIRST;
	if (n > VM_NETCLASS_MAX_PREFIXES) {
		at = VM_NETCLASS_MAX_PREFIXES;
		nc_error(err, errsize, "more than %d prefixes in the traffic classes", VM_NETCLASS_MAX_PREFIXES);
		goto out;
	}
	e4 = vm_xcalloc(n, sizeof *e4);
	e6 = vm_xcalloc(n, sizeof *e6);
	for (at = 0; at < n; at++) {
		const char *name = rules[at].class_name;
		struct vm_prefix p;
		char msg[256];
		int id;

		if ((why = vm_netclass_check_name(name))) {
			nc_error(err, errsize, "traffic class name '%.64s' %s", name, why);
			goto out;
		}
		if (strcmp(name, default_name) == 0) {
			nc_error(err, errsize, "traffic class '%s' has the name of the default class", name);
			goto out;
		}
		if ((id = nc_class_id(nc, name)) < 0) {
			nc_error(err, errsize, "traffic class '%s' is one more than the %d allowed", name,
			         VM_NETCLASS_MAX_CLASSES);
			goto out;
		}
		if (vm_netclass_parse_prefix(rules[at].prefix, &p, msg, sizeof msg) < 0) {
			nc_error(err, errsize, "traffic class '%s': %s", name, msg);
			goto out;
		}
		unsigned bits = p.family == AF_INET ? 32 : 128;
		struct nc_entry *x = p.family == AF_INET ? &e4[n4++] : &e6[n6++];
		x->first = nc_load(p.addr, bits / 8);
		x->last = x->first | nc_host_mask(bits, p.len);
		x->index = at;
		x->len = p.len;
		x->cls = (uint8_t)id;
	}
	qsort(e4, n4, sizeof *e4, nc_cmp_entry);
	qsort(e6, n6, sizeof *e6, nc_cmp_entry);
	const struct nc_entry *o4 = NULL, *o6 = NULL;
	const struct nc_entry *d4 = nc_find_dup(e4, n4, &o4), *d6 = nc_find_dup(e6, n6, &o6);
	dup = d4 && (!d6 || d4->index < d6->index) ? d4 : d6;
	other = dup == d4 ? o4 : o6;
	if (dup) {
		const struct vm_netclass_rule *r = &rules[dup->index], *o = &rules[other->index];
		at = dup->index;
		if (strcmp(r->prefix, o->prefix) == 0 && other->cls == dup->cls)
			nc_error(err, errsize, "traffic class '%s': prefix '%s' is given twice", r->class_name,
			         r->prefix);
		else if (other->cls == dup->cls)
			nc_error(err, errsize, "traffic class '%s': prefix '%s' is given twice (also as '%s')",
			         r->class_name, r->prefix, o->prefix);
		else if (strcmp(r->prefix, o->prefix) == 0)
			nc_error(err, errsize, "traffic class '%s': prefix '%s' is also in class '%s'", r->class_name,
			         r->prefix, o->class_name);
		else
			nc_error(err, errsize, "traffic class '%s': prefix '%s' is also in class '%s' (as '%s')",
			         r->class_name, r->prefix, o->class_name, o->prefix);
		goto out;
	}
	nc_sweep(&nc->v4, e4, n4, 32);
	nc_sweep(&nc->v6, e6, n6, 128);
	nc->n_prefixes = n;
	rc = 0;
out:
	free(e4);
	free(e6);
	if (rc < 0) {
		if (bad)
			*bad = at;
		vm_netclass_free(nc);
		return NULL;
	}
	return nc;
}

void vm_netclass_free(struct vm_netclass *nc)
{
	if (!nc)
		return;
	free(nc->v4.start);
	free(nc->v4.start4);
	free(nc->v4.cls);
	free(nc->v6.start);
	free(nc->v6.start4);
	free(nc->v6.cls);
	free(nc);
}

unsigned vm_netclass_count(const struct vm_netclass *nc)
{
	return nc->n_ids;
}

const char *vm_netclass_name(const struct vm_netclass *nc, unsigned id)
{
	return id < nc->n_ids ? nc->names[id] : NULL;
}

int vm_netclass_find(const struct vm_netclass *nc, const char *name)
{
	for (unsigned id = 0; id < nc->n_ids; id++)
		if (strcmp(nc->names[id], name) == 0)
			return (int)id;
	return -1;
}

size_t vm_netclass_n_prefixes(const struct vm_netclass *nc)
{
	return nc->n_prefixes;
}

/* The last start <= key; start[0] is 0, so there is one.  Branch-free in
 * the loop: the compiler makes the step a conditional move. */
unsigned vm_netclass_lookup4(const struct vm_netclass *nc, const uint8_t addr[4])
{
	const uint32_t key = (uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 | (uint32_t)addr[2] << 8 | addr[3];
	const uint32_t *base = nc->v4.start4;
	size_t len = nc->v4.n;

	while (len > 1) {
		size_t half = len / 2;
		base = base[half] <= key ? base + half : base;
		len -= half;
	}
	return nc->v4.cls[base - nc->v4.start4];
}

unsigned vm_netclass_lookup6(const struct vm_netclass *nc, const uint8_t addr[16])
{
	if (nc_is_v4_mapped(addr))
		return vm_netclass_lookup4(nc, addr + 12);

	uint64_t hi, lo;
	memcpy(&hi, addr, 8);
	memcpy(&lo, addr + 8, 8);
	/* Two 8-byte loads, not nc_load()'s sixteen. */
	const unsigned __int128 key = (unsigned __int128)be64toh(hi) << 64 | be64toh(lo);
	const unsigned __int128 *base = nc->v6.start;
	size_t len = nc->v6.n;

	while (len > 1) {
		size_t half = len / 2;
		base = base[half] <= key ? base + half : base;
		len -= half;
	}
	return nc->v6.cls[base - nc->v6.start];
}
