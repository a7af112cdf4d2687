/* Tests of lib/netclass.c: prefix syntax and its errors, class names, the
 * limits, longest prefix match at its edges (/0, /32, /128, nesting,
 * prefixes that start or end together, IPv4-mapped IPv6) and a randomised
 * comparison with a plain linear longest-prefix search. */
#include "config.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "netclass.h"

/* ---------------------------------------------------------------- helpers */

static struct vm_netclass *build_ok(const struct vm_netclass_rule *rules, size_t n)
{
	char err[512];
	size_t bad = 12345;
	struct vm_netclass *nc = vm_netclass_new("internet", rules, n, &bad, err, sizeof err);

	if (!nc)
		fail_msg("build failed at %zu: %s", bad, err);
	return nc;
}

/* The class name of a textual address of either family. */
static const char *class_of(const struct vm_netclass *nc, const char *addr)
{
	uint8_t a[16];

	if (strchr(addr, ':')) {
		assert_int_equal(inet_pton(AF_INET6, addr, a), 1);
		return vm_netclass_name(nc, vm_netclass_lookup6(nc, a));
	}
	assert_int_equal(inet_pton(AF_INET, addr, a), 1);
	return vm_netclass_name(nc, vm_netclass_lookup4(nc, a));
}

#define assert_class(nc, addr, want)                                                                                   \
	do {                                                                                                           \
		const char *got_ = class_of(nc, addr);                                                                 \
		if (strcmp(got_, want) != 0)                                                                           \
			fail_msg("%s: class '%s', want '%s'", addr, got_, want);                                       \
	} while (0)

/* ---------------------------------------------------------------- syntax */

static void test_parse_ok(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"10.0.0.0/8", "10.0.0.0/8"},
	    {"192.168.1.5", "192.168.1.5/32"},
	    {"192.168.1.5/32", "192.168.1.5/32"},
	    {"0.0.0.0/0", "0.0.0.0/0"},
	    {"255.255.255.255", "255.255.255.255/32"},
	    {"fd00::/8", "fd00::/8"},
	    {"FD00:0:0::/8", "fd00::/8"},
	    {"2001:db8::1", "2001:db8::1/128"},
	    {"::/0", "::/0"},
	    {"::", "::/128"},
	    {"::1/128", "::1/128"},
	    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
	    /* An IPv4 tail is fine outside ::ffff:0:0/96. */
	    {"64:ff9b::192.0.2.0/120", "64:ff9b::c000:200/120"},
	    /* Shorter than /96: not an IPv4-mapped prefix, if it covers them. */
	    {"::/80", "::/80"},
	};
	char buf[VM_NETCLASS_PREFIX_MAX + 1], err[256];
	struct vm_prefix p;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (vm_netclass_parse_prefix(cases[i].in, &p, err, sizeof err) < 0)
			fail_msg("'%s': %s", cases[i].in, err);
		assert_string_equal(vm_netclass_format_prefix(&p, buf, sizeof buf), cases[i].out);
	}
	assert_int_equal(vm_netclass_parse_prefix("10.1.0.0/16", &p, NULL, 0), 0);
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.len, 16);
	assert_int_equal(p.addr[0], 10);
	assert_int_equal(p.addr[1], 1);
	assert_int_equal(p.addr[4], 0);
	assert_int_equal(vm_netclass_parse_prefix("fe80::/10", &p, NULL, 0), 0);
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(p.len, 10);
	assert_int_equal(p.addr[0], 0xfe);
	assert_int_equal(p.addr[1], 0x80);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *in, *err;
	} cases[] = {
	    {"", "prefix '' is empty"},
	    {"10.0.0.0/", "prefix '10.0.0.0/' needs a length from 0 to 32 after the '/'"},
	    {"10.0.0.0/33", "prefix '10.0.0.0/33' needs a length from 0 to 32 after the '/'"},
	    {"10.0.0.0/08", "prefix '10.0.0.0/08' needs a length from 0 to 32 after the '/'"},
	    {"10.0.0.0/+8", "prefix '10.0.0.0/+8' needs a length from 0 to 32 after the '/'"},
	    {"10.0.0.0/-1", "prefix '10.0.0.0/-1' needs a length from 0 to 32 after the '/'"},
	    {"10.0.0.0/ 8", "prefix '10.0.0.0/ 8' needs a length from 0 to 32 after the '/'"},
	    {"10.0.0.0/8 ", "prefix '10.0.0.0/8 ' needs a length from 0 to 32 after the '/'"},
	    {"10.0.0.0//8", "prefix '10.0.0.0//8' needs a length from 0 to 32 after the '/'"},
	    {"10.0.0.0/8/8", "prefix '10.0.0.0/8/8' needs a length from 0 to 32 after the '/'"},
	    {"10.0.0.0/0008", "prefix '10.0.0.0/0008' needs a length from 0 to 32 after the '/'"},
	    {"fd00::/129", "prefix 'fd00::/129' needs a length from 0 to 128 after the '/'"},
	    {"::/1000", "prefix '::/1000' needs a length from 0 to 128 after the '/'"},
	    {" 10.0.0.0/8", "prefix ' 10.0.0.0/8' is not an IPv4 or IPv6 address with an optional /length"},
	    {"10.0.0/8", "prefix '10.0.0/8' is not an IPv4 or IPv6 address with an optional /length"},
	    {"010.0.0.0/8", "prefix '010.0.0.0/8' is not an IPv4 or IPv6 address with an optional /length"},
	    {"1.2.3.4.5", "prefix '1.2.3.4.5' is not an IPv4 or IPv6 address with an optional /length"},
	    {"256.0.0.0/8", "prefix '256.0.0.0/8' is not an IPv4 or IPv6 address with an optional /length"},
	    {"0x0a000000/8", "prefix '0x0a000000/8' is not an IPv4 or IPv6 address with an optional /length"},
	    {"/8", "prefix '/8' is not an IPv4 or IPv6 address with an optional /length"},
	    {"internal", "prefix 'internal' is not an IPv4 or IPv6 address with an optional /length"},
	    {"fe80::1%eth0", "prefix 'fe80::1%eth0' is not an IPv4 or IPv6 address with an optional /length"},
	    {"fd00:::/8", "prefix 'fd00:::/8' is not an IPv4 or IPv6 address with an optional /length"},
	    {"10.0.0.1/8", "prefix '10.0.0.1/8' has host bits set (the network is 10.0.0.0/8)"},
	    {"10.20.0.1/16", "prefix '10.20.0.1/16' has host bits set (the network is 10.20.0.0/16)"},
	    {"128.0.0.0/0", "prefix '128.0.0.0/0' has host bits set (the network is 0.0.0.0/0)"},
	    {"10.0.0.129/25", "prefix '10.0.0.129/25' has host bits set (the network is 10.0.0.128/25)"},
	    {"fd00::1/64", "prefix 'fd00::1/64' has host bits set (the network is fd00::/64)"},
	    {"fd12:3456::/9", "prefix 'fd12:3456::/9' has host bits set (the network is fd00::/9)"},
	    {"::ffff:10.0.0.0/104", "prefix '::ffff:10.0.0.0/104' is IPv4-mapped: write it as IPv4 (10.0.0.0/8)"},
	    {"::ffff:1.2.3.4", "prefix '::ffff:1.2.3.4' is IPv4-mapped: write it as IPv4 (1.2.3.4/32)"},
	    {"::ffff:0:0/96", "prefix '::ffff:0:0/96' is IPv4-mapped: write it as IPv4 (0.0.0.0/0)"},
	    {"1111:2222:3333:4444:5555:6666:7777:8888/1280",
	     "prefix '1111:2222:3333:4444:5555:6666:7777:8888/1280' needs a length from 0 to 128 after the '/'"},
	    {"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd",
	     "prefix '1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd' is not an IPv4 or IPv6 "
	     "address with an optional /length"},
	    {"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee",
	     "prefix '1111:2222:3333:4444:5555:6666:77...' is longer than 64 bytes"},
	};
	char err[256];
	struct vm_prefix p;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(err, 'x', sizeof err);
		if (vm_netclass_parse_prefix(cases[i].in, &p, err, sizeof err) == 0)
			fail_msg("'%s' parsed", cases[i].in);
		if (strcmp(err, cases[i].err) != 0)
			fail_msg("'%s':\n got:  %s\n want: %s", cases[i].in, err, cases[i].err);
	}
	/* No buffer, or a short one: still refused, never overrun. */
	assert_int_equal(vm_netclass_parse_prefix("10.0.0.1/8", &p, NULL, 0), -1);
	char small[8];
	assert_int_equal(vm_netclass_parse_prefix("10.0.0.1/8", &p, small, sizeof small), -1);
	assert_string_equal(small, "prefix ");
}

static void test_names(void **state)
{
	static const char *const good[] = {"internet", "a", "backup-2", "peering_de_cix",
	                                   "x012345678901234567890123456789"};
	static const struct {
		const char *name, *why;
	} bad[] = {
	    {"", "must not be empty"},
	    {"x0123456789012345678901234567890", "is longer than 31 bytes"},
	    {"Internal", "must start with a lower-case letter and hold only lower-case letters, digits, '-' and '_'"},
	    {"2nd", "must start with a lower-case letter and hold only lower-case letters, digits, '-' and '_'"},
	    {"-x", "must start with a lower-case letter and hold only lower-case letters, digits, '-' and '_'"},
	    {"a b", "must start with a lower-case letter and hold only lower-case letters, digits, '-' and '_'"},
	    {"a.b", "must start with a lower-case letter and hold only lower-case letters, digits, '-' and '_'"},
	    {"caf\xc3\xa9",
	     "must start with a lower-case letter and hold only lower-case letters, digits, '-' and '_'"},
	    {"non-ip", "is reserved"},
	    {"malformed", "is reserved"},
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_null(vm_netclass_check_name(good[i]));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = vm_netclass_check_name(bad[i].name);
		if (!why || strcmp(why, bad[i].why) != 0)
			fail_msg("'%s': %s", bad[i].name, why ? why : "accepted");
	}
}

/* ---------------------------------------------------------------- building */

static void test_ids(void **state)
{
	static const struct vm_netclass_rule rules[] = {
	    {"internal", "10.0.0.0/8"},
	    {"backup", "10.20.0.0/16"},
	    {"internal", "fd00::/8"},
	};
	struct vm_netclass *nc = build_ok(rules, 3);

	assert_int_equal(vm_netclass_count(nc), VM_NETCLASS_FIRST + 2);
	assert_int_equal(vm_netclass_n_prefixes(nc), 3);
	assert_string_equal(vm_netclass_name(nc, VM_NETCLASS_MALFORMED), "malformed");
	assert_string_equal(vm_netclass_name(nc, VM_NETCLASS_NON_IP), "non-ip");
	assert_string_equal(vm_netclass_name(nc, VM_NETCLASS_DEFAULT), "internet");
	/* In order of first appearance. */
	assert_string_equal(vm_netclass_name(nc, VM_NETCLASS_FIRST), "internal");
	assert_string_equal(vm_netclass_name(nc, VM_NETCLASS_FIRST + 1), "backup");
	assert_null(vm_netclass_name(nc, VM_NETCLASS_FIRST + 2));
	assert_null(vm_netclass_name(nc, 1000));
	assert_int_equal(vm_netclass_find(nc, "backup"), VM_NETCLASS_FIRST + 1);
	assert_int_equal(vm_netclass_find(nc, "internet"), VM_NETCLASS_DEFAULT);
	assert_int_equal(vm_netclass_find(nc, "non-ip"), VM_NETCLASS_NON_IP);
	assert_int_equal(vm_netclass_find(nc, "nothing"), -1);
	vm_netclass_free(nc);
	vm_netclass_free(NULL);
}

/* No prefixes: everything is in the default class. */
static void test_empty(void **state)
{
	struct vm_netclass *nc = build_ok(NULL, 0);

	assert_int_equal(vm_netclass_count(nc), VM_NETCLASS_FIRST);
	assert_class(nc, "0.0.0.0", "internet");
	assert_class(nc, "10.1.2.3", "internet");
	assert_class(nc, "255.255.255.255", "internet");
	assert_class(nc, "::", "internet");
	assert_class(nc, "fd00::1", "internet");
	assert_class(nc, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "internet");
	vm_netclass_free(nc);
}

struct build_error {
	const char *name;
	const char *default_name;
	struct vm_netclass_rule rules[4];
	size_t n, bad;
	const char *err;
};

static void test_build_errors(void **state)
{
	static const struct build_error cases[] = {
	    {"bad prefix",
	     "internet",
	     {{"internal", "10.0.0.0/8"}, {"internal", "10.0.0.1/8"}},
	     2,
	     1,
	     "traffic class 'internal': prefix '10.0.0.1/8' has host bits set (the network is 10.0.0.0/8)"},
	    {"bad name",
	     "internet",
	     {{"internal", "10.0.0.0/8"}, {"Backup", "10.20.0.0/16"}},
	     2,
	     1,
	     "traffic class name 'Backup' must start with a lower-case letter and hold only lower-case letters, "
	     "digits, '-' and '_'"},
	    {"reserved", "internet", {{"non-ip", "10.0.0.0/8"}}, 1, 0, "traffic class name 'non-ip' is reserved"},
	    {"default's name",
	     "internet",
	     {{"internal", "10.0.0.0/8"}, {"internet", "0.0.0.0/0"}},
	     2,
	     1,
	     "traffic class 'internet' has the name of the default class"},
	    {"bad default",
	     "Internet",
	     {{"internal", "10.0.0.0/8"}},
	     1,
	     1,
	     "default class name 'Internet' must start with a lower-case letter and hold only lower-case letters, "
	     "digits, '-' and '_'"},
	    {"reserved default",
	     "malformed",
	     {{"internal", "10.0.0.0/8"}},
	     1,
	     1,
	     "default class name 'malformed' is reserved"},
	    {"dup, two classes",
	     "internet",
	     {{"internal", "10.0.0.0/8"}, {"internal", "fd00::/8"}, {"backup", "10.20.0.0/16"}, {"backup", "fd00::/8"}},
	     4,
	     3,
	     "traffic class 'backup': prefix 'fd00::/8' is also in class 'internal'"},
	    {"dup, two forms",
	     "internet",
	     {{"internal", "fd00::/8"}, {"backup", "FD00:0::/8"}},
	     2,
	     1,
	     "traffic class 'backup': prefix 'FD00:0::/8' is also in class 'internal' (as 'fd00::/8')"},
	    {"dup, one class",
	     "internet",
	     {{"internal", "10.0.0.0/8"}, {"internal", "192.168.0.0/16"}, {"internal", "10.0.0.0/8"}},
	     3,
	     2,
	     "traffic class 'internal': prefix '10.0.0.0/8' is given twice"},
	    {"dup, one class, two forms",
	     "internet",
	     {{"internal", "10.0.0.0/32"}, {"internal", "10.0.0.0"}},
	     2,
	     1,
	     "traffic class 'internal': prefix '10.0.0.0' is given twice (also as '10.0.0.0/32')"},
	    /* The first duplicate in input order, whichever family sorts first. */
	    {"first dup",
	     "internet",
	     {{"a", "fd00::/8"}, {"b", "fd00::/8"}, {"a", "10.0.0.0/8"}, {"b", "10.0.0.0/8"}},
	     4,
	     1,
	     "traffic class 'b': prefix 'fd00::/8' is also in class 'a'"},
	};
	char err[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct build_error *c = &cases[i];
		size_t bad = 999;
		struct vm_netclass *nc = vm_netclass_new(c->default_name, c->rules, c->n, &bad, err, sizeof err);
		if (nc)
			fail_msg("%s: built", c->name);
		if (strcmp(err, c->err) != 0 || bad != c->bad)
			fail_msg("%s:\n got:  %s (at %zu)\n want: %s (at %zu)", c->name, err, bad, c->err, c->bad);
	}
	/* No err buffer, no bad pointer. */
	assert_null(vm_netclass_new("internet", cases[0].rules, 2, NULL, NULL, 0));
}

/* 64 classes build, a 65th is refused at its first prefix. */
static void test_max_classes(void **state)
{
	struct vm_netclass_rule rules[VM_NETCLASS_MAX_CLASSES + 2];
	char names[VM_NETCLASS_MAX_CLASSES + 2][16], prefixes[VM_NETCLASS_MAX_CLASSES + 2][32], err[256];
	size_t bad = 0;

	for (int i = 0; i < VM_NETCLASS_MAX_CLASSES + 2; i++) {
		snprintf(names[i], sizeof names[i], "c%d", i < VM_NETCLASS_MAX_CLASSES ? i : 99);
		snprintf(prefixes[i], sizeof prefixes[i], "10.%d.0.0/16", i);
		rules[i] = (struct vm_netclass_rule){names[i], prefixes[i]};
	}
	struct vm_netclass *nc = build_ok(rules, VM_NETCLASS_MAX_CLASSES);
	assert_int_equal(vm_netclass_count(nc), VM_NETCLASS_MAX_IDS);
	assert_class(nc, "10.63.1.1", "c63");
	vm_netclass_free(nc);

	/* c0 again is fine; c99 is the 65th. */
	snprintf(names[VM_NETCLASS_MAX_CLASSES], sizeof names[0], "c0");
	assert_null(vm_netclass_new("internet", rules, VM_NETCLASS_MAX_CLASSES + 2, &bad, err, sizeof err));
	assert_int_equal(bad, VM_NETCLASS_MAX_CLASSES + 1);
	assert_string_equal(err, "traffic class 'c99' is one more than the 64 allowed");
}

/* VM_NETCLASS_MAX_PREFIXES build; one more is refused up front. */
static void test_max_prefixes(void **state)
{
	const size_t n = VM_NETCLASS_MAX_PREFIXES + 1;
	struct vm_netclass_rule *rules = calloc(n, sizeof *rules);
	char(*prefixes)[24] = calloc(n, sizeof *prefixes);
	char err[256];
	size_t bad = 0;

	/* Pairs of a network and a host inside it: 10.x.y.0/24 and 10.x.y.7,
	 * then fd00::b:0/112 and fd00::b:7. */
	for (size_t i = 0; i < n; i++) {
		size_t b = i / 2;
		if (i < 65536)
			snprintf(prefixes[i], sizeof prefixes[i], i % 2 ? "10.%zu.%zu.7" : "10.%zu.%zu.0/24", b >> 8,
			         b & 0xff);
		else
			snprintf(prefixes[i], sizeof prefixes[i], i % 2 ? "fd00::%zx:7" : "fd00::%zx:0/112", b);
		rules[i] = (struct vm_netclass_rule){i % 2 ? "host" : "net", prefixes[i]};
	}
	struct vm_netclass *nc = build_ok(rules, n - 1);
	assert_int_equal(vm_netclass_n_prefixes(nc), VM_NETCLASS_MAX_PREFIXES);
	assert_class(nc, "10.0.0.6", "net");
	assert_class(nc, "10.0.0.7", "host");
	assert_class(nc, "10.127.255.7", "host");
	assert_class(nc, "10.127.255.8", "net");
	assert_class(nc, "10.128.0.7", "internet");
	assert_class(nc, "fd00::8000:7", "host");
	assert_class(nc, "fd00::c34f:7", "host");
	assert_class(nc, "fd00::c34f:8", "net");
	assert_class(nc, "fd00::c350:0", "internet");
	vm_netclass_free(nc);

	assert_null(vm_netclass_new("internet", rules, n, &bad, err, sizeof err));
	assert_int_equal(bad, VM_NETCLASS_MAX_PREFIXES);
	assert_string_equal(err, "more than 100000 prefixes in the traffic classes");
	free(rules);
	free(prefixes);
}

/* ---------------------------------------------------------------- matching */

static void test_zero_length(void **state)
{
	static const struct vm_netclass_rule rules[] = {
	    {"all4", "0.0.0.0/0"},
	    {"all6", "::/0"},
	    {"internal", "10.0.0.0/8"},
	};
	struct vm_netclass *nc = build_ok(rules, 3);

	assert_class(nc, "0.0.0.0", "all4");
	assert_class(nc, "9.255.255.255", "all4");
	assert_class(nc, "10.0.0.0", "internal");
	assert_class(nc, "10.255.255.255", "internal");
	assert_class(nc, "11.0.0.0", "all4");
	assert_class(nc, "255.255.255.255", "all4");
	assert_class(nc, "::", "all6");
	assert_class(nc, "2001:db8::1", "all6");
	assert_class(nc, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "all6");
	/* IPv4-mapped addresses are IPv4: ::/0 does not hold them. */
	assert_class(nc, "::ffff:10.1.2.3", "internal");
	assert_class(nc, "::ffff:8.8.8.8", "all4");
	/* Their neighbours outside ::ffff:0:0/96 are IPv6. */
	assert_class(nc, "::fffe:ffff:ffff", "all6");
	assert_class(nc, "::1:0:0:0", "all6");
	vm_netclass_free(nc);
}

static void test_hosts(void **state)
{
	static const struct vm_netclass_rule rules[] = {
	    {"first", "0.0.0.0/32"},
	    {"last", "255.255.255.255"},
	    {"host", "192.0.2.1/32"},
	    {"first", "::/128"},
	    {"last", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
	    {"host", "2001:db8::1"},
	};
	struct vm_netclass *nc = build_ok(rules, 6);

	assert_class(nc, "0.0.0.0", "first");
	assert_class(nc, "0.0.0.1", "internet");
	assert_class(nc, "255.255.255.254", "internet");
	assert_class(nc, "255.255.255.255", "last");
	assert_class(nc, "192.0.2.0", "internet");
	assert_class(nc, "192.0.2.1", "host");
	assert_class(nc, "192.0.2.2", "internet");
	assert_class(nc, "::", "first");
	assert_class(nc, "::1", "internet");
	assert_class(nc, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "internet");
	assert_class(nc, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "last");
	assert_class(nc, "2001:db8::", "internet");
	assert_class(nc, "2001:db8::1", "host");
	assert_class(nc, "2001:db8::2", "internet");
	/* ::ffff:0.0.0.0 is 0.0.0.0, not ::/128's neighbour. */
	assert_class(nc, "::ffff:0.0.0.0", "first");
	assert_class(nc, "::ffff:255.255.255.255", "last");
	vm_netclass_free(nc);
}

/* Nesting four deep, with a grandchild back in the grandparent's class,
 * and prefixes that start or end on the same address. */
static void test_nested(void **state)
{
	static const struct vm_netclass_rule rules[] = {
	    {"host", "10.20.30.40"},    {"internal", "10.20.30.0/24"}, {"backup", "10.20.0.0/16"},
	    {"internal", "10.0.0.0/8"}, {"edge", "10.0.0.0/16"},       {"edge", "10.255.255.0/24"},
	    {"top", "255.0.0.0/8"},     {"topmost", "255.255.0.0/16"}, {"internal", "fd00::/8"},
	    {"backup", "fd00:20::/32"}, {"host", "fd00:20::1"},        {"edge", "fdff:ffff::/32"},
	    {"top", "ff00::/8"},        {"topmost", "ffff::/16"},      {"backup", "10.20.30.41/32"},
	};
	struct vm_netclass *nc = build_ok(rules, sizeof rules / sizeof rules[0]);

	assert_class(nc, "9.255.255.255", "internet");
	assert_class(nc, "10.0.0.0", "edge");
	assert_class(nc, "10.0.255.255", "edge");
	assert_class(nc, "10.1.0.0", "internal");
	assert_class(nc, "10.19.255.255", "internal");
	assert_class(nc, "10.20.0.0", "backup");
	assert_class(nc, "10.20.29.255", "backup");
	assert_class(nc, "10.20.30.0", "internal");
	assert_class(nc, "10.20.30.39", "internal");
	assert_class(nc, "10.20.30.40", "host");
	assert_class(nc, "10.20.30.41", "backup");
	assert_class(nc, "10.20.30.42", "internal");
	assert_class(nc, "10.20.30.255", "internal");
	assert_class(nc, "10.20.31.0", "backup");
	assert_class(nc, "10.20.255.255", "backup");
	assert_class(nc, "10.21.0.0", "internal");
	assert_class(nc, "10.255.254.255", "internal");
	assert_class(nc, "10.255.255.0", "edge");
	assert_class(nc, "10.255.255.255", "edge");
	assert_class(nc, "11.0.0.0", "internet");
	assert_class(nc, "254.255.255.255", "internet");
	assert_class(nc, "255.0.0.0", "top");
	assert_class(nc, "255.254.255.255", "top");
	assert_class(nc, "255.255.0.0", "topmost");
	assert_class(nc, "255.255.255.255", "topmost");

	assert_class(nc, "fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "internet");
	assert_class(nc, "fd00::", "internal");
	assert_class(nc, "fd00:1f:ffff:ffff:ffff:ffff:ffff:ffff", "internal");
	assert_class(nc, "fd00:20::", "backup");
	assert_class(nc, "fd00:20::1", "host");
	assert_class(nc, "fd00:20::2", "backup");
	assert_class(nc, "fd00:20:ffff:ffff:ffff:ffff:ffff:ffff", "backup");
	assert_class(nc, "fd00:21::", "internal");
	assert_class(nc, "fdff:fffe:ffff:ffff:ffff:ffff:ffff:ffff", "internal");
	assert_class(nc, "fdff:ffff::", "edge");
	assert_class(nc, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "edge");
	assert_class(nc, "fe00::", "internet");
	assert_class(nc, "ff00::", "top");
	assert_class(nc, "ffff::", "topmost");
	assert_class(nc, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "topmost");
	vm_netclass_free(nc);
}

/* Input order does not matter: the same prefixes reversed. */
static void test_order(void **state)
{
	static const struct vm_netclass_rule fwd[] = {
	    {"a", "10.0.0.0/8"}, {"b", "10.0.0.0/9"}, {"c", "10.0.0.0/10"}, {"d", "10.128.0.0/9"}};
	static const struct vm_netclass_rule rev[] = {
	    {"d", "10.128.0.0/9"}, {"c", "10.0.0.0/10"}, {"b", "10.0.0.0/9"}, {"a", "10.0.0.0/8"}};
	struct vm_netclass *x = build_ok(fwd, 4), *y = build_ok(rev, 4);
	static const char *const addrs[] = {"9.255.255.255",  "10.0.0.0",   "10.63.255.255",  "10.64.0.0",
	                                    "10.127.255.255", "10.128.0.0", "10.255.255.255", "11.0.0.0"};
	static const char *const want[] = {"internet", "c", "c", "b", "b", "d", "d", "internet"};

	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		assert_class(x, addrs[i], want[i]);
		assert_class(y, addrs[i], want[i]);
	}
	vm_netclass_free(x);
	vm_netclass_free(y);
}

/* ---------------------------------------------------------------- random */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

struct naive {
	uint8_t addr[16];
	unsigned len;
	unsigned bytes;
	unsigned cls;
};

static bool naive_covers(const struct naive *p, const uint8_t *a)
{
	for (unsigned bit = 0; bit < p->len; bit++) {
		unsigned byte = bit / 8, mask = 0x80u >> (bit % 8);
		if ((p->addr[byte] & mask) != (a[byte] & mask))
			return false;
	}
	return true;
}

/* Longest prefix match by looking at every prefix. */
static unsigned naive_lookup(const struct naive *p, size_t n, const uint8_t *a, unsigned bytes)
{
	int best = -1;

	for (size_t i = 0; i < n; i++)
		if (p[i].bytes == bytes && naive_covers(&p[i], a) && (best < 0 || p[i].len > p[best].len))
			best = (int)i;
	return best < 0 ? VM_NETCLASS_DEFAULT : p[best].cls;
}

/* An address near p: its first or last address, one before or after, or
 * anything inside. */
static void near(const struct naive *p, uint8_t *a)
{
	unsigned kind = (unsigned)(rng() % 5);

	memcpy(a, p->addr, p->bytes);
	for (unsigned bit = p->len; bit < p->bytes * 8; bit++) {
		bool one = kind == 1 || kind == 3 || (kind == 4 && (rng() & 1));
		if (one)
			a[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
	}
	if (kind == 2) { /* one before the first */
		for (int i = (int)p->bytes - 1; i >= 0 && a[i]-- == 0; i--)
			;
	} else if (kind == 3) { /* one after the last */
		for (int i = (int)p->bytes - 1; i >= 0 && ++a[i] == 0; i--)
			;
	}
}

/* Random prefix sets, clustered so that they nest, against the naive
 * search at and around every prefix's edges. */
static void test_random(void **state)
{
	enum { ROUNDS = 60, MAX_N = 300, PROBES = 3000 };
	static const char *const names[] = {"a", "b", "c", "d", "e"};
	struct naive *p = calloc(MAX_N, sizeof *p);
	struct vm_netclass_rule *rules = calloc(MAX_N, sizeof *rules);
	char(*text)[64] = calloc(MAX_N, sizeof *text);

	for (int round = 0; round < ROUNDS; round++) {
		size_t n = 0;
		size_t want = (size_t)(rng() % MAX_N);
		while (n < want) {
			struct naive *x = &p[n];
			x->bytes = rng() % 2 ? 4 : 16;
			x->len = (unsigned)(rng() % (x->bytes * 8 + 1));
			/* Few distinct leading bits, so prefixes nest and touch. */
			memset(x->addr, 0, sizeof x->addr);
			uint64_t r = rng();
			x->addr[0] = (uint8_t)(r & 0x0f) << 4;
			for (unsigned i = 1; i < x->bytes; i++)
				x->addr[i] = (rng() % 4 == 0) ? (uint8_t)rng() : 0;
			if (rng() % 8 == 0)
				x->addr[0] = 0xff;
			for (unsigned bit = x->len; bit < x->bytes * 8; bit++)
				x->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
			/* IPv4-mapped prefixes are refused; skip them. */
			static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
			if (x->bytes == 16 && x->len >= 96 && memcmp(x->addr, mapped, 12) == 0)
				continue;
			/* Duplicates are refused too. */
			bool dup = false;
			for (size_t j = 0; j < n && !dup; j++)
				dup =
				    p[j].bytes == x->bytes && p[j].len == x->len && memcmp(p[j].addr, x->addr, 16) == 0;
			if (dup)
				continue;
			struct vm_prefix vp = {.family = x->bytes == 4 ? AF_INET : AF_INET6, .len = x->len};
			memcpy(vp.addr, x->addr, 16);
			vm_netclass_format_prefix(&vp, text[n], sizeof text[n]);
			size_t c = (size_t)(rng() % 5);
			rules[n] = (struct vm_netclass_rule){names[c], text[n]};
			n++;
		}
		struct vm_netclass *nc = build_ok(rules, n);
		/* Class ids by first appearance, as the table numbers them. */
		for (size_t i = 0; i < n; i++)
			p[i].cls = (unsigned)vm_netclass_find(nc, rules[i].class_name);
		for (int k = 0; k < PROBES; k++) {
			uint8_t a[16] = {0};
			unsigned bytes;
			if (n && k % 4 != 0) {
				const struct naive *x = &p[rng() % n];
				near(x, a);
				bytes = x->bytes;
			} else {
				bytes = rng() % 2 ? 4 : 16;
				for (unsigned i = 0; i < bytes; i++)
					a[i] = (uint8_t)rng();
			}
			/* The table reads IPv4-mapped addresses as IPv4. */
			static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
			if (bytes == 16 && memcmp(a, mapped, 12) == 0)
				continue;
			unsigned want_cls = naive_lookup(p, n, a, bytes);
			unsigned got = bytes == 4 ? vm_netclass_lookup4(nc, a) : vm_netclass_lookup6(nc, a);
			if (got != want_cls) {
				char s[INET6_ADDRSTRLEN];
				inet_ntop(bytes == 4 ? AF_INET : AF_INET6, a, s, sizeof s);
				fail_msg("round %d: %s: class %u, want %u", round, s, got, want_cls);
			}
		}
		vm_netclass_free(nc);
	}
	free(p);
	free(rules);
	free(text);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ok),    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_names),       cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_empty),       cmocka_unit_test(test_build_errors),
	    cmocka_unit_test(test_max_classes), cmocka_unit_test(test_max_prefixes),
	    cmocka_unit_test(test_zero_length), cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_nested),      cmocka_unit_test(test_order),
	    cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests_name("netclass", tests, NULL, NULL);
}
