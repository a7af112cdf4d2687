/* Traffic classes: named lists of IPv4 and IPv6 prefixes, looked up by
 * longest prefix match.
 *
 * A table is built once from (class name, prefix) pairs and is read-only
 * after that: any number of threads may look up in it at once.  Class ids
 * are small integers, dense from 0, fixed for the life of a table:
 *
 *   VM_NETCLASS_MALFORMED  "malformed"  frames too short or broken to classify
 *   VM_NETCLASS_NON_IP     "non-ip"     ARP and other non-IP frames
 *   VM_NETCLASS_DEFAULT    the default class (e.g. "internet"): IP addresses
 *                          no prefix covers
 *   VM_NETCLASS_FIRST ...  the configured classes, in order of first
 *                          appearance among the pairs
 *
 * Lookups never fail: every address has a class.
 *
 * Prefix syntax (vm_netclass_parse_prefix): "ADDR/LEN" or "ADDR" (a host:
 * /32 or /128), ADDR as inet_pton(3) reads it (IPv4 dotted quad, IPv6 in any
 * of its textual forms), LEN decimal without leading zeros.  Refused, with
 * a message naming the prefix: anything else, host bits set below the
 * length ("10.0.0.1/8": a typo is likelier than intent), and IPv4-mapped
 * IPv6 prefixes (inside ::ffff:0:0/96: write them as IPv4).  IPv4-mapped
 * IPv6 addresses are looked up as the IPv4 address they carry.  See
 * docs/internals/netclass.md. */
#ifndef VM_NETCLASS_H
#define VM_NETCLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Configured classes, besides the default and the two reserved ones. */
#define VM_NETCLASS_MAX_CLASSES 64
#define VM_NETCLASS_MAX_PREFIXES 100000
/* Longest class name in bytes; names are letters, digits, '-' and '_'. */
#define VM_NETCLASS_NAME_MAX 31
/* Longest prefix string: a full IPv6 address with an IPv4 tail and "/128". */
#define VM_NETCLASS_PREFIX_MAX 64

enum {
	VM_NETCLASS_MALFORMED = 0,
	VM_NETCLASS_NON_IP = 1,
	VM_NETCLASS_DEFAULT = 2,
	VM_NETCLASS_FIRST = 3,
	/* Class ids are below this. */
	VM_NETCLASS_MAX_IDS = VM_NETCLASS_FIRST + VM_NETCLASS_MAX_CLASSES,
};

#define VM_NETCLASS_NAME_MALFORMED "malformed"
#define VM_NETCLASS_NAME_NON_IP "non-ip"

/* One parsed prefix: `addr` holds the network in network byte order (an
 * IPv4 network in addr[0..3], the rest zero). */
struct vm_prefix {
	int family; /* AF_INET or AF_INET6 */
	unsigned len;
	uint8_t addr[16];
};

/* One input pair; both strings are read during vm_netclass_new() only. */
struct vm_netclass_rule {
	const char *class_name;
	const char *prefix;
};

struct vm_netclass;

/* Parses `s` into *p.  Returns 0, or -1 with "prefix 'S' ..." in err. */
int vm_netclass_parse_prefix(const char *s, struct vm_prefix *p, char *err, size_t errsize);

/* Formats *p as "ADDR/LEN" (inet_ntop's form) into buf; returns buf. */
const char *vm_netclass_format_prefix(const struct vm_prefix *p, char *buf, size_t size);

/* Checks a class name: NULL if it may name a configured or the default
 * class, else why not ("is reserved", ...). */
const char *vm_netclass_check_name(const char *name);

/* Builds a table from n pairs (n may be 0) and the default class's name.
 * Returns the table (free with vm_netclass_free) or NULL with a message in
 * err and, if `bad` is not NULL, the index of the offending pair in *bad
 * (n if the default name is at fault).  Errors: a bad prefix or class name,
 * the default's name used for a configured class, a prefix given twice (in
 * any form, in one class or two: *bad is the later one), more than
 * VM_NETCLASS_MAX_CLASSES classes or VM_NETCLASS_MAX_PREFIXES pairs. */
struct vm_netclass *vm_netclass_new(const char *default_name, const struct vm_netclass_rule *rules, size_t n,
                                    size_t *bad, char *err, size_t errsize);
void vm_netclass_free(struct vm_netclass *nc);

/* Number of class ids in use: VM_NETCLASS_FIRST + configured classes. */
unsigned vm_netclass_count(const struct vm_netclass *nc);
/* The name of class `id` (owned by the table), or NULL if out of range. */
const char *vm_netclass_name(const struct vm_netclass *nc, unsigned id);
/* The id of the class called `name`, or -1. */
int vm_netclass_find(const struct vm_netclass *nc, const char *name);
/* Number of prefixes in the table. */
size_t vm_netclass_n_prefixes(const struct vm_netclass *nc);

/* The class of an address in network byte order: 4 bytes, or 16. */
unsigned vm_netclass_lookup4(const struct vm_netclass *nc, const uint8_t addr[4]);
unsigned vm_netclass_lookup6(const struct vm_netclass *nc, const uint8_t addr[16]);

#endif
