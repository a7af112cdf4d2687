/* Fuzz target for the packet classifier (collector/pktclass) and the prefix
 * parser and lookups of lib/netclass.
 *
 * An input is three control bytes and a frame:
 *
 *   byte 0   bits 0-1: the traffic class table (0: empty, 1: small,
 *            2: nested, 3: built from the input's last bytes and checked
 *            against a linear longest-prefix search); bit 2: tap mode;
 *            bit 3: vm_pkt_account_vm(); bit 4: also parse the frame's
 *            first bytes as a prefix string
 *   byte 1   how much longer the frame was on the wire than captured
 *            (255: one byte shorter, which is never valid)
 *   byte 2   how many bytes at the end are not captured
 *   rest     the frame
 *
 * The captured bytes are copied into a buffer of exactly that size, so
 * that AddressSanitizer sees any read past them.  Besides not crashing,
 * every input must keep the invariants checked below; a broken one aborts.
 *
 * Built with clang -fsanitize=fuzzer (-DVM_LIBFUZZER) this is a libFuzzer
 * target.  Built without, it has a main() that replays files and
 * directories and then runs N inputs mutated from them with a fixed seed:
 *
 *   fuzz_pktclass [-n N] [-s SEED] [FILE|DIR]... */
#include "config.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netclass.h"
#include "pktclass.h"

#include "replay.h"

#define CHECK FUZZ_CHECK

#define N_VMS 4
static const uint8_t vm_macs[N_VMS][6] = {
    {0x52, 0x54, 0x00, 0x00, 0x00, 0x00},
    {0x52, 0x54, 0x00, 0x00, 0x00, 0x01},
    {0x52, 0x54, 0x00, 0x00, 0x00, 0x02},
    {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}, /* for frames of 0xff and 0xfe */
};

/* Fixed tables, built once: the process lives for many inputs. */
static struct vm_netclass *tables[3];

static struct vm_netclass *build(const struct vm_netclass_rule *rules, size_t n)
{
	char err[256];
	struct vm_netclass *nc = vm_netclass_new("internet", rules, n, NULL, err, sizeof err);

	if (!nc) {
		fprintf(stderr, "fuzz_pktclass: %s\n", err);
		abort();
	}
	return nc;
}

static void setup(void)
{
	static const struct vm_netclass_rule small[] = {
	    {"internal", "10.0.0.0/8"}, {"internal", "192.168.0.0/16"}, {"internal", "fd00::/8"}};
	static const struct vm_netclass_rule nested[] = {
	    {"internal", "10.0.0.0/8"},
	    {"backup", "10.20.0.0/16"},
	    {"host", "10.20.30.40"},
	    {"all", "0.0.0.0/0"},
	    {"all", "::/0"},
	    {"internal", "fd00::/8"},
	    {"backup", "fd00:20::/32"},
	    {"host", "fd00:20::1"},
	    {"local", "fe80::/10"},
	    {"local", "ff00::/8"},
	    {"local", "224.0.0.0/4"},
	    {"top", "255.255.255.255"},
	};

	if (tables[0])
		return;
	tables[0] = build(NULL, 0);
	tables[1] = build(small, sizeof small / sizeof small[0]);
	tables[2] = build(nested, sizeof nested / sizeof nested[0]);
}

/* ---------------------------------------------------------------- oracle */

struct naive {
	int family;
	unsigned len;
	uint8_t addr[16];
	unsigned cls;
};

static bool covers(const struct naive *p, const uint8_t *a)
{
	for (unsigned bit = 0; bit < p->len; bit++) {
		unsigned mask = 0x80u >> (bit % 8);
		if ((p->addr[bit / 8] & mask) != (a[bit / 8] & mask))
			return false;
	}
	return true;
}

static unsigned naive_lookup(const struct naive *p, size_t n, int family, const uint8_t *a)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	int best = -1;

	/* IPv4-mapped IPv6 addresses are looked up as IPv4. */
	if (family == AF_INET6 && memcmp(a, mapped, 12) == 0) {
		family = AF_INET;
		a += 12;
	}
	for (size_t i = 0; i < n; i++)
		if (p[i].family == family && covers(&p[i], a) && (best < 0 || p[i].len > p[best].len))
			best = (int)i;
	return best < 0 ? VM_NETCLASS_DEFAULT : p[best].cls;
}

/* Up to 8 prefixes from the input's last bytes (5 or 17 each: family and
 * length, then the address), host bits cleared; refused ones (IPv4-mapped,
 * duplicates) are left out.  Returns a table, or NULL if none could be
 * built; *p and *n describe it for the oracle. */
static struct vm_netclass *table_from(const uint8_t *data, size_t size, struct naive *p, size_t *n)
{
	static const char *const names[] = {"a", "b", "c"};
	struct vm_netclass_rule rules[8];
	char text[8][VM_NETCLASS_PREFIX_MAX + 1];
	size_t k = 0, off = size;

	*n = 0;
	while (k < 8 && off >= 5) {
		uint8_t head = data[off - 1];
		int six = head & 1;
		size_t need = six ? 17 : 5;
		if (off < need)
			break;
		off -= need;
		struct naive *x = &p[k];
		x->family = six ? AF_INET6 : AF_INET;
		x->len = (head >> 1) % (six ? 129u : 33u);
		memset(x->addr, 0, sizeof x->addr);
		memcpy(x->addr, data + off, need - 1);
		for (unsigned bit = x->len; bit < (six ? 128u : 32u); bit++)
			x->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
		struct vm_prefix vp = {.family = x->family, .len = x->len};
		memcpy(vp.addr, x->addr, 16);
		vm_netclass_format_prefix(&vp, text[k], sizeof text[k]);
		struct vm_prefix back;
		if (vm_netclass_parse_prefix(text[k], &back, NULL, 0) < 0)
			continue; /* IPv4-mapped */
		CHECK(back.family == vp.family && back.len == vp.len && memcmp(back.addr, vp.addr, 16) == 0);
		bool dup = false;
		for (size_t j = 0; j < k; j++)
			dup |= p[j].family == x->family && p[j].len == x->len && memcmp(p[j].addr, x->addr, 16) == 0;
		if (dup)
			continue;
		rules[k] = (struct vm_netclass_rule){names[head % 3], text[k]};
		k++;
	}
	struct vm_netclass *nc = vm_netclass_new("internet", rules, k, NULL, NULL, 0);
	CHECK(nc);
	for (size_t i = 0; i < k; i++)
		p[i].cls = (unsigned)vm_netclass_find(nc, rules[i].class_name);
	*n = k;
	return nc;
}

/* ---------------------------------------------------------------- target */

static void check_info(enum vm_pkt_verdict v, const struct vm_pkt_info *i, uint32_t caplen, uint32_t wirelen)
{
	CHECK(v == VM_PKT_OK || v == VM_PKT_TRUNCATED || v == VM_PKT_MALFORMED || v == VM_PKT_NON_IP);
	CHECK(!!(i->flags & VM_PKT_F_MACS) == (caplen >= 12 && caplen <= wirelen));
	CHECK(i->n_vlans <= VM_PKT_MAX_VLANS);
	CHECK(i->n_ext_hdrs <= VM_PKT_MAX_EXT_HDRS);
	if (v == VM_PKT_OK) {
		CHECK(i->l3 == VM_PKT_L3_IPV4 || i->l3 == VM_PKT_L3_IPV6);
		CHECK(i->l3_offset == 14u + 4u * i->n_vlans);
		CHECK(i->l3_offset + (i->l3 == VM_PKT_L3_IPV4 ? 20u : 40u) <= caplen);
		CHECK(i->l4_offset <= wirelen);
		CHECK(i->l4_proto >= -1 && i->l4_proto <= 255);
		CHECK(i->l4_proto >= 0 || (i->flags & (VM_PKT_F_L4_CUT | VM_PKT_F_EXT_LIMIT)));
	}
	if (v == VM_PKT_NON_IP)
		CHECK(i->l3 == VM_PKT_L3_ARP || i->l3 == VM_PKT_L3_OTHER);
	if (v == VM_PKT_TRUNCATED)
		CHECK(caplen < wirelen);
	if (i->l3 == VM_PKT_L3_NONE)
		CHECK(v == VM_PKT_TRUNCATED || v == VM_PKT_MALFORMED);
}

static struct vm_pkt_count total(const struct vm_pkt_counter *c, unsigned n_cls)
{
	struct vm_pkt_count t = {0, 0};
	struct vm_pkt_stats st;

	for (uint32_t vm = 0; vm < N_VMS; vm++) {
		for (unsigned cls = 0; cls < n_cls; cls++) {
			for (int dir = VM_PKT_RX; dir <= VM_PKT_TX; dir++) {
				struct vm_pkt_count n = vm_pkt_counter_get(c, vm, cls, dir);
				t.bytes += n.bytes;
				t.packets += n.packets;
			}
		}
	}
	vm_pkt_counter_stats(c, &st);
	t.bytes += st.unattributed.bytes;
	t.packets += st.unattributed.packets;
	return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct naive prefixes[8];
	size_t n_prefixes = 0;
	struct vm_pkt_info info, again;

	if (size < 3)
		return 0;
	setup();

	const uint8_t ctl = data[0];
	const size_t len = size - 3;
	const uint32_t caplen = (uint32_t)(len - (data[2] < len ? data[2] : len));
	/* The uncaptured end was on the wire, and maybe more. */
	uint32_t wirelen = (uint32_t)len + (data[1] < 128 ? data[1] : data[1] * 601u);
	if (data[1] == 255)
		wirelen = caplen ? caplen - 1 : 0;
	uint8_t *frame = caplen ? malloc(caplen) : NULL;
	if (caplen)
		memcpy(frame, data + 3, caplen);

	struct vm_netclass *own = NULL;
	const struct vm_netclass *nc;
	if ((ctl & 3) == 3)
		nc = own = table_from(data + 3, len, prefixes, &n_prefixes);
	else
		nc = tables[ctl & 3];

	/* Parsing: invariants, and the same answer twice. */
	enum vm_pkt_verdict v = vm_pkt_parse(frame, caplen, wirelen, &info);
	check_info(v, &info, caplen, wirelen);
	CHECK(vm_pkt_parse(frame, caplen, wirelen, &again) == v);
	CHECK(memcmp(&info, &again, sizeof info) == 0);

	for (int dir = VM_PKT_RX; dir <= VM_PKT_TX; dir++) {
		unsigned cls = vm_pkt_class(nc, v, &info, dir);
		CHECK(cls < vm_netclass_count(nc));
		if (v == VM_PKT_OK && own) {
			const uint8_t *a = dir == VM_PKT_TX ? info.dst_ip : info.src_ip;
			int family = info.l3 == VM_PKT_L3_IPV4 ? AF_INET : AF_INET6;
			CHECK(cls == naive_lookup(prefixes, n_prefixes, family, a));
		}
	}
	/* Addresses straight from the input, against the oracle. */
	if (own) {
		for (size_t off = 0; off + 16 <= len && off < 64; off += 4) {
			CHECK(vm_netclass_lookup4(own, data + 3 + off) ==
			      naive_lookup(prefixes, n_prefixes, AF_INET, data + 3 + off));
			CHECK(vm_netclass_lookup6(own, data + 3 + off) ==
			      naive_lookup(prefixes, n_prefixes, AF_INET6, data + 3 + off));
		}
	}

	/* Counting: each frame lands once, or twice between two VMs, and
	 * always with its length on the wire. */
	struct vm_pkt_counter *c = vm_pkt_counter_new(nc, N_VMS);
	for (uint32_t vm = 0; vm < N_VMS; vm++)
		CHECK(vm_pkt_counter_map_mac(c, vm_macs[vm], vm) == 0);
	if (ctl & 4)
		vm_pkt_counter_set_tap(c, ctl >> 6);
	struct vm_pkt_count before = total(c, vm_netclass_count(nc));
	enum vm_pkt_verdict v2 = ctl & 8 ? vm_pkt_account_vm(c, ctl >> 6, (ctl >> 5) & 1, frame, caplen, wirelen)
	                                 : vm_pkt_account(c, frame, caplen, wirelen);
	struct vm_pkt_count after = total(c, vm_netclass_count(nc));
	uint64_t packets = after.packets - before.packets;
	CHECK(v2 == v);
	CHECK(packets == 1 || (packets == 2 && !(ctl & 12)));
	CHECK(after.bytes - before.bytes == packets * wirelen);
	vm_pkt_counter_free(c);

	/* The frame's first bytes as a prefix string: a prefix that parses
	 * formats to one that parses to the same. */
	if (ctl & 16) {
		char s[96];
		size_t n = len < sizeof s - 1 ? len : sizeof s - 1;
		struct vm_prefix p, q;
		char buf[VM_NETCLASS_PREFIX_MAX + 1], err[256];
		memcpy(s, data + 3, n);
		s[n] = '\0';
		if (vm_netclass_parse_prefix(s, &p, err, sizeof err) == 0) {
			CHECK(vm_netclass_parse_prefix(vm_netclass_format_prefix(&p, buf, sizeof buf), &q, NULL, 0) ==
			      0);
			CHECK(p.family == q.family && p.len == q.len && memcmp(p.addr, q.addr, 16) == 0);
		} else {
			CHECK(strncmp(err, "prefix '", 8) == 0);
		}
	}

	vm_netclass_free(own);
	free(frame);
	return 0;
}

/* The replay driver's part (tests/fuzz/replay.c): bytes a frame's
 * fields often hold, and the tables to free at the end. */
static const struct fuzz_token interesting[] = {
    {"\x00", 1}, {"\x01", 1}, {"\x06", 1}, {"\x08", 1}, {"\x11", 1}, {"\x2b", 1}, {"\x2c", 1},
    {"\x32", 1}, {"\x33", 1}, {"\x3a", 1}, {"\x3b", 1}, {"\x3c", 1}, {"\x45", 1}, {"\x60", 1},
    {"\x81", 1}, {"\x86", 1}, {"\x88", 1}, {"\xa8", 1}, {"\xdd", 1}, {"\xff", 1},
};

static void teardown(void)
{
	for (int t = 0; t < 3; t++)
		vm_netclass_free(tables[t]);
}

const struct fuzz_target fuzz_target = {"fuzz_pktclass", interesting, sizeof interesting / sizeof *interesting, 4096,
                                        teardown};
