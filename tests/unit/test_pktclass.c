/* Tests of collector/pktclass.c: what the parser reads from hand-built frames,
 * every truncation of sample frames (each copied into a buffer of exactly
 * the captured size, so that ASan sees any read past it), the MAC map, the
 * counter's rules, and one test per tests/data/pcap/NAME.pcap: replayed
 * through a counter set up as NAME.expected says, every (VM, class,
 * direction) cell must match the counts tests/pcap_gen.c tallied while
 * writing the file. */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <pcap/pcap.h>
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
#include "pktclass.h"

#define PCAP_DIR TEST_DATA_DIR "/pcap"
#define MAX_PCAP_FILES 64

/* ---------------------------------------------------------------- frames */

struct frame {
	uint8_t b[2048];
	uint32_t len;
};

static void put(struct frame *f, const void *p, size_t n)
{
	assert_true(f->len + n <= sizeof f->b);
	memcpy(f->b + f->len, p, n);
	f->len += (uint32_t)n;
}

static void put8(struct frame *f, unsigned v)
{
	uint8_t b = (uint8_t)v;
	put(f, &b, 1);
}

static void put16(struct frame *f, unsigned v)
{
	put8(f, v >> 8);
	put8(f, v);
}

static void put32(struct frame *f, uint32_t v)
{
	put16(f, v >> 16);
	put16(f, v & 0xffff);
}

static void fill(struct frame *f, uint32_t to)
{
	while (f->len < to)
		put8(f, f->len);
}

static void addr(struct frame *f, const char *ip)
{
	uint8_t a[16];
	int six = strchr(ip, ':') != NULL;
	assert_int_equal(inet_pton(six ? AF_INET6 : AF_INET, ip, a), 1);
	put(f, a, six ? 16 : 4);
}

static const uint8_t mac_a[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x0a};
static const uint8_t mac_b[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x0b};
static const uint8_t mac_gw[6] = {0x52, 0x54, 0x00, 0xff, 0x00, 0x01};
static const uint8_t mac_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void eth(struct frame *f, const uint8_t *dst, const uint8_t *src)
{
	f->len = 0;
	put(f, dst, 6);
	put(f, src, 6);
}

/* EtherType 0x0800 and an IPv4 header; the packet is `total` bytes. */
static void ip4(struct frame *f, const char *src, const char *dst, unsigned proto, unsigned total, unsigned frag,
                unsigned opt_words)
{
	put16(f, 0x0800);
	put8(f, 0x40 | (5 + opt_words));
	put8(f, 0);
	put16(f, total);
	put16(f, 0x4242);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	addr(f, src);
	addr(f, dst);
	for (unsigned i = 0; i < opt_words; i++)
		put32(f, 0x01010101);
}

static void ip6(struct frame *f, const char *src, const char *dst, unsigned nh, unsigned payload)
{
	put16(f, 0x86dd);
	put32(f, 0x60000000);
	put16(f, payload);
	put8(f, nh);
	put8(f, 64);
	addr(f, src);
	addr(f, dst);
}

static void ext(struct frame *f, unsigned next, unsigned units8)
{
	put8(f, next);
	put8(f, units8 - 1);
	for (unsigned i = 2; i < units8 * 8; i++)
		put8(f, 0);
}

static void frag6(struct frame *f, unsigned next, unsigned offset, int more, uint32_t id)
{
	put8(f, next);
	put8(f, 0);
	put16(f, offset | (more ? 1 : 0));
	put32(f, id);
}

/* Sample frames for the truncation tests, with the length of the headers
 * that decide their verdict. */
enum sample { S_UDP4, S_TCP6_EXT, S_QINQ4, S_OPTS4, S_AH6, S_FRAG6, S_ARP, S_VLAN_ARP, N_SAMPLES };

/* Where each header the parser needs in turn ends: Ethernet, the tags, the
 * IP header.  The first one not captured decides: it was sent (TRUNCATED)
 * or the frame ends before it (MALFORMED). */
static const uint32_t stages[N_SAMPLES][5] = {
    [S_UDP4] = {14, 34},  [S_TCP6_EXT] = {14, 54}, [S_QINQ4] = {14, 18, 22, 42},
    [S_OPTS4] = {14, 34}, [S_AH6] = {14, 54},      [S_FRAG6] = {14, 54},
    [S_ARP] = {14},       [S_VLAN_ARP] = {14, 18},
};

/* The end of the first header that caplen does not hold, or 0. */
static uint32_t first_missing(enum sample s, uint32_t caplen)
{
	for (int k = 0; k < 5 && stages[s][k]; k++)
		if (stages[s][k] > caplen)
			return stages[s][k];
	return 0;
}

static uint32_t sample(enum sample s, struct frame *f)
{
	switch (s) {
	case S_UDP4:
		eth(f, mac_gw, mac_a);
		ip4(f, "10.1.0.10", "8.8.8.8", 17, 86, 0, 0);
		fill(f, 100);
		return 34;
	case S_TCP6_EXT:
		eth(f, mac_a, mac_gw);
		ip6(f, "2001:db8::1", "fd00::10", 0, 80);
		ext(f, 43, 1);
		ext(f, 60, 2);
		ext(f, 6, 1);
		fill(f, 134);
		return 54;
	case S_QINQ4:
		eth(f, mac_gw, mac_a);
		put16(f, 0x88a8);
		put16(f, 100);
		put16(f, 0x8100);
		put16(f, 200);
		ip4(f, "10.1.0.10", "10.20.1.1", 6, 60, 0, 0);
		fill(f, 82);
		return 42;
	case S_OPTS4:
		eth(f, mac_a, mac_gw);
		ip4(f, "192.168.1.1", "10.1.0.10", 2, 46, 0x2000, 3);
		fill(f, 60);
		return 34;
	case S_AH6:
		eth(f, mac_gw, mac_a);
		ip6(f, "fd00::10", "fd00:20::1", 51, 44);
		put8(f, 17);
		put8(f, 4);
		fill(f, 54 + 24);
		fill(f, 98);
		return 54;
	case S_FRAG6:
		eth(f, mac_gw, mac_a);
		ip6(f, "fd00::10", "2001:db8::2", 44, 30);
		frag6(f, 17, 1232, 1, 77);
		fill(f, 84);
		return 54;
	case S_ARP:
		eth(f, mac_bcast, mac_a);
		put16(f, 0x0806);
		fill(f, 60);
		return 14;
	case S_VLAN_ARP:
		eth(f, mac_bcast, mac_a);
		put16(f, 0x8100);
		put16(f, 7);
		put16(f, 0x0806);
		fill(f, 64);
		return 18;
	case N_SAMPLES: break;
	}
	fail();
	return 0;
}

/* Parses a copy of the first caplen bytes in a buffer of exactly that
 * size. */
static enum vm_pkt_verdict parse_exact(const struct frame *f, uint32_t caplen, uint32_t wirelen,
                                       struct vm_pkt_info *info)
{
	uint8_t *copy = caplen ? malloc(caplen) : NULL;
	if (caplen)
		memcpy(copy, f->b, caplen);
	enum vm_pkt_verdict v = vm_pkt_parse(copy, caplen, wirelen, info);
	free(copy);
	return v;
}

/* ---------------------------------------------------------------- parsing */

static void test_parse_ipv4(void **state)
{
	struct frame f;
	struct vm_pkt_info i;

	sample(S_UDP4, &f);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	assert_int_equal(i.flags, VM_PKT_F_MACS);
	assert_memory_equal(i.dst_mac, mac_gw, 6);
	assert_memory_equal(i.src_mac, mac_a, 6);
	assert_int_equal(i.n_vlans, 0);
	assert_int_equal(i.ethertype, 0x0800);
	assert_int_equal(i.l3, VM_PKT_L3_IPV4);
	assert_int_equal(i.l3_offset, 14);
	assert_memory_equal(i.src_ip, ((uint8_t[]){10, 1, 0, 10}), 4);
	assert_memory_equal(i.dst_ip, ((uint8_t[]){8, 8, 8, 8}), 4);
	assert_int_equal(i.l4_proto, 17);
	assert_int_equal(i.l4_offset, 34);

	/* Options, first fragment */
	sample(S_OPTS4, &f);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	assert_int_equal(i.flags, VM_PKT_F_MACS | VM_PKT_F_FRAGMENT);
	assert_int_equal(i.l4_proto, 2);
	assert_int_equal(i.l4_offset, 14 + 32);
	assert_true(i.frag_more);
	assert_int_equal(i.frag_offset, 0);
	assert_int_equal(i.frag_id, 0x4242);
	/* ... cut before its L4 header */
	assert_int_equal(vm_pkt_parse(f.b, 40, f.len, &i), VM_PKT_OK);
	assert_true(i.flags & VM_PKT_F_L4_CUT);

	/* A non-first fragment has no L4 header */
	eth(&f, mac_gw, mac_a);
	ip4(&f, "10.1.0.10", "1.1.1.1", 17, 520, 185, 0);
	fill(&f, 534);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	assert_int_equal(i.flags, VM_PKT_F_MACS | VM_PKT_F_FRAGMENT);
	assert_int_equal(i.frag_offset, 1480);
	assert_false(i.frag_more);
	assert_int_equal(i.l4_proto, 17);
	assert_int_equal(i.l4_offset, 0);

	/* Padding after a short packet is fine; a packet longer than the frame
	 * or shorter than its header is not, nor a bad version or IHL. */
	eth(&f, mac_gw, mac_a);
	ip4(&f, "10.1.0.10", "1.1.1.1", 17, 28, 0, 0);
	fill(&f, 60);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	f.b[17] = 47; /* total length 47 > 46 on the wire */
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_MALFORMED);
	f.b[17] = 19;
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_MALFORMED);
	f.b[17] = 28;
	f.b[14] = 0x44;
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_MALFORMED);
	f.b[14] = 0x65;
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_MALFORMED);
	f.b[14] = 0x4f; /* 60 bytes of header in a 46-byte packet */
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_MALFORMED);

	/* Total length 0: to the end of the frame (BIG TCP) */
	f.b[14] = 0x45;
	f.b[16] = f.b[17] = 0;
	assert_int_equal(vm_pkt_parse(f.b, f.len, 100000, &i), VM_PKT_OK);
}

static void test_parse_vlan(void **state)
{
	struct frame f;
	struct vm_pkt_info i;

	sample(S_QINQ4, &f);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	assert_int_equal(i.n_vlans, 2);
	assert_int_equal(i.vlan_tpid[0], 0x88a8);
	assert_int_equal(i.vlan_tci[0], 100);
	assert_int_equal(i.vlan_tpid[1], 0x8100);
	assert_int_equal(i.vlan_tci[1], 200);
	assert_int_equal(i.ethertype, 0x0800);
	assert_int_equal(i.l3_offset, 22);
	assert_memory_equal(i.dst_ip, ((uint8_t[]){10, 20, 1, 1}), 4);

	/* 0x9100 outer, priority bits kept */
	f.b[12] = 0x91;
	f.b[13] = 0x00;
	f.b[14] = 0xe0;
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	assert_int_equal(i.vlan_tpid[0], 0x9100);
	assert_int_equal(i.vlan_tci[0], 0xe064);

	/* A third tag: not looked into */
	eth(&f, mac_gw, mac_a);
	for (int t = 0; t < 3; t++) {
		put16(&f, 0x8100);
		put16(&f, t);
	}
	ip4(&f, "10.1.0.10", "8.8.8.8", 17, 40, 0, 0);
	fill(&f, 66);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_NON_IP);
	assert_int_equal(i.n_vlans, 2);
	assert_int_equal(i.ethertype, 0x8100);
	assert_int_equal(i.l3, VM_PKT_L3_OTHER);
}

static void test_parse_ipv6(void **state)
{
	struct frame f;
	struct vm_pkt_info i;
	uint8_t want[16];

	sample(S_TCP6_EXT, &f);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	assert_int_equal(i.l3, VM_PKT_L3_IPV6);
	inet_pton(AF_INET6, "2001:db8::1", want);
	assert_memory_equal(i.src_ip, want, 16);
	inet_pton(AF_INET6, "fd00::10", want);
	assert_memory_equal(i.dst_ip, want, 16);
	assert_int_equal(i.n_ext_hdrs, 3);
	assert_memory_equal(i.ext_hdrs, ((uint8_t[]){0, 43, 60}), 3);
	assert_int_equal(i.l4_proto, 6);
	assert_int_equal(i.l4_offset, 54 + 8 + 16 + 8);
	assert_int_equal(i.flags, VM_PKT_F_MACS);

	/* Cut inside the chain: the addresses count, the L4 protocol is not
	 * known. */
	assert_int_equal(vm_pkt_parse(f.b, 70, f.len, &i), VM_PKT_OK);
	assert_int_equal(i.l4_proto, -1);
	assert_true(i.flags & VM_PKT_F_L4_CUT);
	assert_int_equal(i.n_ext_hdrs, 2);

	/* AH: (4 + 2) * 4 bytes */
	sample(S_AH6, &f);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	assert_int_equal(i.n_ext_hdrs, 1);
	assert_int_equal(i.ext_hdrs[0], 51);
	assert_int_equal(i.l4_proto, 17);
	assert_int_equal(i.l4_offset, 54 + 24);

	/* A non-first fragment: stop at the fragment header */
	sample(S_FRAG6, &f);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	assert_true(i.flags & VM_PKT_F_FRAGMENT);
	assert_int_equal(i.frag_offset, 1232);
	assert_true(i.frag_more);
	assert_int_equal(i.frag_id, 77);
	assert_int_equal(i.l4_proto, 17);
	assert_int_equal(i.l4_offset, 0);

	/* A first fragment goes on to the L4 header */
	eth(&f, mac_gw, mac_a);
	ip6(&f, "fd00::10", "2001:db8::2", 44, 30);
	frag6(&f, 58, 0, 1, 78);
	fill(&f, 84);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	assert_int_equal(i.frag_offset, 0);
	assert_int_equal(i.l4_proto, 58);
	assert_int_equal(i.l4_offset, 62);

	/* ESP and "no next header" end the walk */
	eth(&f, mac_gw, mac_a);
	ip6(&f, "fd00::10", "2001:db8::2", 60, 40);
	ext(&f, 50, 1);
	fill(&f, 94);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	assert_int_equal(i.l4_proto, 50);
	f.b[54] = 59;
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	assert_int_equal(i.l4_proto, 59);

	/* Nine headers: past the limit */
	eth(&f, mac_gw, mac_a);
	ip6(&f, "fd00::10", "2001:db8::2", 60, 80);
	for (int k = 0; k < 9; k++)
		ext(&f, k < 8 ? 60 : 17, 1);
	fill(&f, 134);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	assert_int_equal(i.n_ext_hdrs, VM_PKT_MAX_EXT_HDRS);
	assert_true(i.flags & VM_PKT_F_EXT_LIMIT);
	assert_int_equal(i.l4_proto, -1);

	/* Hop-by-hop not first; a header past the payload; a wrong version;
	 * a payload longer than the frame */
	eth(&f, mac_gw, mac_a);
	ip6(&f, "fd00::10", "2001:db8::2", 60, 24);
	ext(&f, 0, 1);
	ext(&f, 17, 1);
	fill(&f, 78);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_MALFORMED);
	f.b[54] = 17;
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	f.b[55] = 2; /* 24 bytes in 24: fits exactly */
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_OK);
	f.b[55] = 3;
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_MALFORMED);
	f.b[55] = 0;
	f.b[14] = 0x40;
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_MALFORMED);
	f.b[14] = 0x60;
	f.b[19] = 25;
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_MALFORMED);
	/* Padding after the payload */
	f.b[19] = 24;
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len + 10, &i), VM_PKT_OK);
}

static void test_parse_non_ip(void **state)
{
	struct frame f;
	struct vm_pkt_info i;

	sample(S_ARP, &f);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_NON_IP);
	assert_int_equal(i.l3, VM_PKT_L3_ARP);
	assert_int_equal(i.ethertype, 0x0806);
	sample(S_VLAN_ARP, &f);
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_NON_IP);
	assert_int_equal(i.l3, VM_PKT_L3_ARP);
	assert_int_equal(i.n_vlans, 1);
	/* 802.3 length field */
	f.b[12] = 0;
	f.b[13] = 46;
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len, &i), VM_PKT_NON_IP);
	assert_int_equal(i.l3, VM_PKT_L3_OTHER);
	assert_int_equal(i.ethertype, 46);
}

static void test_parse_limits(void **state)
{
	struct frame f;
	struct vm_pkt_info i;

	sample(S_UDP4, &f);
	/* More captured than sent */
	assert_int_equal(vm_pkt_parse(f.b, f.len, f.len - 1, &i), VM_PKT_MALFORMED);
	assert_int_equal(i.flags, 0);
	/* Nothing at all */
	assert_int_equal(vm_pkt_parse(NULL, 0, 0, &i), VM_PKT_MALFORMED);
	assert_int_equal(vm_pkt_parse(NULL, 0, 1500, &i), VM_PKT_TRUNCATED);
	assert_int_equal(i.l3, VM_PKT_L3_NONE);
	assert_int_equal(i.l4_proto, -1);
	/* Huge wire lengths do not overflow anything */
	assert_int_equal(vm_pkt_parse(f.b, f.len, UINT32_MAX, &i), VM_PKT_OK);

	assert_string_equal(vm_pkt_verdict_name(VM_PKT_OK), "ok");
	assert_string_equal(vm_pkt_verdict_name(VM_PKT_TRUNCATED), "truncated");
	assert_string_equal(vm_pkt_verdict_name(VM_PKT_MALFORMED), "malformed");
	assert_string_equal(vm_pkt_verdict_name(VM_PKT_NON_IP), "non-ip");
}

/* Every caplen from 0 to the whole frame, with the frame's length on the
 * wire (cut by the capture) and with caplen on the wire too (a frame that
 * really was that short), and a few wire lengths in between. */
static void test_truncation(void **state)
{
	for (enum sample s = 0; s < N_SAMPLES; s++) {
		struct frame f;
		struct vm_pkt_info full, i;
		uint32_t need = sample(s, &f);
		enum vm_pkt_verdict whole = vm_pkt_parse(f.b, f.len, f.len, &full);

		assert_int_equal(first_missing(s, need - 1), need);
		assert_int_equal(first_missing(s, need), 0);
		assert_true(whole == VM_PKT_OK || whole == VM_PKT_NON_IP);
		for (uint32_t cap = 0; cap <= f.len; cap++) {
			enum vm_pkt_verdict v = parse_exact(&f, cap, f.len, &i);
			enum vm_pkt_verdict want = cap < need ? VM_PKT_TRUNCATED : whole;
			if (v != want)
				fail_msg("sample %d, caplen %u of %u: %s, want %s", s, cap, f.len,
				         vm_pkt_verdict_name(v), vm_pkt_verdict_name(want));
			assert_int_equal(!!(i.flags & VM_PKT_F_MACS), cap >= 12);
			if (v == VM_PKT_OK) {
				assert_int_equal(i.l3, full.l3);
				assert_memory_equal(i.src_ip, full.src_ip, 16);
				assert_memory_equal(i.dst_ip, full.dst_ip, 16);
				assert_true(i.l4_proto == full.l4_proto || i.l4_proto == -1);
				assert_true(i.n_ext_hdrs <= full.n_ext_hdrs);
			}

			/* As short on the wire: broken, unless what decides it
			 * is in (non-IP), or it is whole. */
			v = parse_exact(&f, cap, cap, &i);
			want = cap == f.len ? whole : cap < need || whole == VM_PKT_OK ? VM_PKT_MALFORMED : whole;
			if (v != want)
				fail_msg("sample %d, %u of %u on the wire: %s, want %s", s, cap, f.len,
				         vm_pkt_verdict_name(v), vm_pkt_verdict_name(want));

			/* Between the two: the IP length fields (which fill
			 * each sample) do not fit a shorter wire. */
			for (uint32_t wire = cap + 1; wire < f.len; wire += 7) {
				v = parse_exact(&f, cap, wire, &i);
				uint32_t end = first_missing(s, cap);
				want = end                  ? (wire < end ? VM_PKT_MALFORMED : VM_PKT_TRUNCATED)
				       : whole == VM_PKT_OK ? VM_PKT_MALFORMED
				                            : whole;
				if (v != want)
					fail_msg("sample %d, caplen %u, %u on the wire: %s, want %s", s, cap, wire,
					         vm_pkt_verdict_name(v), vm_pkt_verdict_name(want));
			}
		}
	}
}

/* ---------------------------------------------------------------- counter */

static struct vm_netclass *test_table(void)
{
	static const struct vm_netclass_rule rules[] = {
	    {"internal", "10.0.0.0/8"},
	    {"internal", "fd00::/8"},
	    {"backup", "10.20.0.0/16"},
	};
	char err[256];
	struct vm_netclass *nc = vm_netclass_new("internet", rules, 3, NULL, err, sizeof err);
	if (!nc)
		fail_msg("%s", err);
	return nc;
}

#define INTERNAL (VM_NETCLASS_FIRST + 0)
#define BACKUP (VM_NETCLASS_FIRST + 1)

static void assert_cell(const struct vm_pkt_counter *c, uint32_t vm, unsigned cls, enum vm_pkt_dir dir, uint64_t bytes,
                        uint64_t packets)
{
	struct vm_pkt_count n = vm_pkt_counter_get(c, vm, cls, dir);
	if (n.bytes != bytes || n.packets != packets)
		fail_msg("vm %u class %u %s: %llu bytes %llu packets, want %llu, %llu", vm, cls,
		         dir == VM_PKT_TX ? "tx" : "rx", (unsigned long long)n.bytes, (unsigned long long)n.packets,
		         (unsigned long long)bytes, (unsigned long long)packets);
}

static void test_mac_map(void **state)
{
	struct vm_netclass *nc = test_table();
	struct vm_pkt_counter *c = vm_pkt_counter_new(nc, 10);
	const uint8_t group[6] = {0x01, 0x00, 0x5e, 0, 0, 1};

	assert_int_equal(vm_pkt_counter_mac_vm(c, mac_a), VM_PKT_NO_VM);
	assert_int_equal(vm_pkt_counter_map_mac(c, mac_a, 3), 0);
	assert_int_equal(vm_pkt_counter_map_mac(c, mac_a, 3), 0);
	assert_int_equal(vm_pkt_counter_map_mac(c, mac_a, 4), -EEXIST);
	assert_int_equal(vm_pkt_counter_map_mac(c, mac_b, 10), -EINVAL);
	assert_int_equal(vm_pkt_counter_map_mac(c, group, 1), -EINVAL);
	assert_int_equal(vm_pkt_counter_map_mac(c, mac_bcast, 1), -EINVAL);
	assert_int_equal(vm_pkt_counter_n_macs(c), 1);
	assert_int_equal(vm_pkt_counter_mac_vm(c, mac_a), 3);
	assert_int_equal(vm_pkt_counter_unmap_mac(c, mac_b), -ENOENT);
	assert_int_equal(vm_pkt_counter_unmap_mac(c, mac_a), 0);
	assert_int_equal(vm_pkt_counter_unmap_mac(c, mac_a), -ENOENT);
	assert_int_equal(vm_pkt_counter_mac_vm(c, mac_a), VM_PKT_NO_VM);
	/* MAC reuse after the VM went: the new owner maps it. */
	assert_int_equal(vm_pkt_counter_map_mac(c, mac_a, 4), 0);
	assert_int_equal(vm_pkt_counter_mac_vm(c, mac_a), 4);
	vm_pkt_counter_free(c);
	vm_pkt_counter_free(NULL);
	vm_netclass_free(nc);
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Random maps and unmaps of MACs that hash close together, against a
 * plain array; then the limit. */
static void test_mac_map_random(void **state)
{
	enum { N = 3000 };
	struct vm_netclass *nc = test_table();
	struct vm_pkt_counter *c = vm_pkt_counter_new(nc, VM_PKT_MAX_VMS);
	static uint32_t owner[N];
	uint8_t mac[6] = {0x52, 0x54, 0x00, 0, 0, 0};
	size_t n = 0;

	for (size_t i = 0; i < N; i++)
		owner[i] = VM_PKT_NO_VM;
	for (int step = 0; step < 200000; step++) {
		size_t k = (size_t)(rng() % N);
		mac[4] = (uint8_t)(k >> 8);
		mac[5] = (uint8_t)k;
		if (rng() % 3) {
			uint32_t vm = (uint32_t)(k % 1000);
			assert_int_equal(vm_pkt_counter_map_mac(c, mac, vm), 0);
			n += owner[k] == VM_PKT_NO_VM;
			owner[k] = vm;
		} else {
			assert_int_equal(vm_pkt_counter_unmap_mac(c, mac), owner[k] == VM_PKT_NO_VM ? -ENOENT : 0);
			n -= owner[k] != VM_PKT_NO_VM;
			owner[k] = VM_PKT_NO_VM;
		}
		if (step % 1000 == 0) {
			for (size_t j = 0; j < N; j++) {
				mac[4] = (uint8_t)(j >> 8);
				mac[5] = (uint8_t)j;
				assert_int_equal(vm_pkt_counter_mac_vm(c, mac), owner[j]);
			}
			assert_int_equal(vm_pkt_counter_n_macs(c), n);
		}
	}
	vm_pkt_counter_free(c);

	c = vm_pkt_counter_new(nc, 1);
	for (uint32_t i = 0; i < VM_PKT_MAX_MACS; i++) {
		uint8_t m[6] = {0x02, 0, 0, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
		assert_int_equal(vm_pkt_counter_map_mac(c, m, 0), 0);
	}
	assert_int_equal(vm_pkt_counter_map_mac(c, mac_a, 0), -ENOSPC);
	assert_int_equal(vm_pkt_counter_mac_vm(c, ((uint8_t[]){0x02, 0, 0, 0, 0xff, 0xff})), 0);
	vm_pkt_counter_free(c);
	vm_netclass_free(nc);
}

/* Bridge mode: by source and destination MAC, between two VMs both, group
 * destinations by source only, broken frames by MAC into "malformed". */
static void test_bridge(void **state)
{
	struct vm_netclass *nc = test_table();
	struct vm_pkt_counter *c = vm_pkt_counter_new(nc, 4);
	struct vm_pkt_stats st;
	struct frame f;

	assert_int_equal(vm_pkt_counter_map_mac(c, mac_a, 1), 0);
	assert_int_equal(vm_pkt_counter_map_mac(c, mac_b, 2), 0);

	eth(&f, mac_gw, mac_a); /* 1 -> internet */
	ip4(&f, "10.1.0.1", "8.8.8.8", 17, 86, 0, 0);
	fill(&f, 100);
	assert_int_equal(vm_pkt_account(c, f.b, 64, 1000), VM_PKT_OK);
	assert_cell(c, 1, VM_NETCLASS_DEFAULT, VM_PKT_TX, 1000, 1);

	eth(&f, mac_a, mac_gw); /* backup -> 1 */
	ip4(&f, "10.20.0.5", "10.1.0.1", 17, 86, 0, 0);
	fill(&f, 100);
	assert_int_equal(vm_pkt_account(c, f.b, f.len, f.len), VM_PKT_OK);
	assert_cell(c, 1, BACKUP, VM_PKT_RX, 100, 1);

	eth(&f, mac_b, mac_a); /* 1 -> 2 */
	ip4(&f, "10.1.0.1", "10.1.0.2", 6, 86, 0, 0);
	fill(&f, 100);
	assert_int_equal(vm_pkt_account(c, f.b, f.len, f.len), VM_PKT_OK);
	assert_cell(c, 1, INTERNAL, VM_PKT_TX, 100, 1);
	assert_cell(c, 2, INTERNAL, VM_PKT_RX, 100, 1);

	eth(&f, mac_bcast, mac_b); /* 2 broadcasts */
	ip4(&f, "10.1.0.2", "255.255.255.255", 17, 86, 0, 0);
	fill(&f, 100);
	vm_pkt_account(c, f.b, f.len, f.len);
	assert_cell(c, 2, VM_NETCLASS_DEFAULT, VM_PKT_TX, 100, 1);
	assert_cell(c, 1, VM_NETCLASS_DEFAULT, VM_PKT_RX, 0, 0);

	eth(&f, mac_bcast, mac_gw); /* nobody's */
	put16(&f, 0x0806);
	fill(&f, 60);
	assert_int_equal(vm_pkt_account(c, f.b, f.len, f.len), VM_PKT_NON_IP);
	eth(&f, mac_a, mac_gw); /* ARP to 1 */
	put16(&f, 0x0806);
	fill(&f, 60);
	vm_pkt_account(c, f.b, f.len, f.len);
	assert_cell(c, 1, VM_NETCLASS_NON_IP, VM_PKT_RX, 60, 1);

	eth(&f, mac_gw, mac_b); /* cut IPv6 from 2 */
	ip6(&f, "fd00::2", "2001:db8::1", 17, 100);
	assert_int_equal(vm_pkt_account(c, f.b, 40, 154), VM_PKT_TRUNCATED);
	assert_cell(c, 2, VM_NETCLASS_MALFORMED, VM_PKT_TX, 154, 1);
	assert_int_equal(vm_pkt_account(c, f.b, 10, 154), VM_PKT_TRUNCATED); /* no MACs */

	vm_pkt_counter_stats(c, &st);
	assert_int_equal(st.frames, 8);
	assert_int_equal(st.verdicts[VM_PKT_OK], 4);
	assert_int_equal(st.verdicts[VM_PKT_NON_IP], 2);
	assert_int_equal(st.verdicts[VM_PKT_TRUNCATED], 2);
	assert_int_equal(st.unattributed.packets, 2);
	assert_int_equal(st.unattributed.bytes, 60 + 154);

	/* Reset keeps the map */
	vm_pkt_counter_reset(c);
	vm_pkt_counter_stats(c, &st);
	assert_int_equal(st.frames, 0);
	assert_cell(c, 1, VM_NETCLASS_DEFAULT, VM_PKT_TX, 0, 0);
	assert_int_equal(vm_pkt_counter_mac_vm(c, mac_b), 2);

	/* Out of range reads are zero */
	assert_cell(c, 4, 0, VM_PKT_RX, 0, 0);
	assert_cell(c, 0, 99, VM_PKT_RX, 0, 0);
	assert_cell(c, 0, 0, (enum vm_pkt_dir)2, 0, 0);
	vm_pkt_counter_free(c);
	vm_netclass_free(nc);
}

/* Tap mode and explicit attribution. */
static void test_tap(void **state)
{
	struct vm_netclass *nc = test_table();
	struct vm_pkt_counter *c = vm_pkt_counter_new(nc, 3);
	struct vm_pkt_stats st;
	struct frame f;

	assert_int_equal(vm_pkt_counter_map_mac(c, mac_a, 2), 0);
	assert_int_equal(vm_pkt_counter_map_mac(c, mac_b, 1), 0);
	vm_pkt_counter_set_tap(c, 2);

	eth(&f, mac_gw, mac_a); /* from the VM */
	ip6(&f, "fd00::2", "2001:db8::1", 17, 46);
	fill(&f, 100);
	vm_pkt_account(c, f.b, f.len, f.len);
	assert_cell(c, 2, VM_NETCLASS_DEFAULT, VM_PKT_TX, 100, 1);
	eth(&f, mac_bcast, mac_gw); /* a broadcast it received */
	put16(&f, 0x0806);
	fill(&f, 60);
	vm_pkt_account(c, f.b, f.len, f.len);
	assert_cell(c, 2, VM_NETCLASS_NON_IP, VM_PKT_RX, 60, 1);
	eth(&f, mac_a, mac_b); /* from VM 1's MAC: still the tap VM's rx */
	ip4(&f, "10.1.0.1", "10.1.0.2", 6, 86, 0, 0);
	fill(&f, 100);
	vm_pkt_account(c, f.b, f.len, f.len);
	assert_cell(c, 2, INTERNAL, VM_PKT_RX, 100, 1);
	assert_cell(c, 1, INTERNAL, VM_PKT_TX, 0, 0);
	vm_pkt_account(c, f.b, 5, 100); /* no MACs: rx */
	assert_cell(c, 2, VM_NETCLASS_MALFORMED, VM_PKT_RX, 100, 1);

	/* The caller knows VM and direction */
	vm_pkt_account_vm(c, 0, VM_PKT_TX, f.b, f.len, f.len);
	assert_cell(c, 0, INTERNAL, VM_PKT_TX, 100, 1);
	vm_pkt_account_vm(c, 3, VM_PKT_TX, f.b, f.len, f.len);
	vm_pkt_counter_stats(c, &st);
	assert_int_equal(st.unattributed.packets, 1);
	assert_int_equal(st.frames, 6);

	/* Back to bridge mode; a tap VM out of range means bridge mode too */
	vm_pkt_counter_set_tap(c, VM_PKT_NO_VM);
	vm_pkt_account(c, f.b, f.len, f.len);
	assert_cell(c, 1, INTERNAL, VM_PKT_TX, 100, 1);
	vm_pkt_counter_set_tap(c, 3);
	vm_pkt_account(c, f.b, f.len, f.len);
	assert_cell(c, 1, INTERNAL, VM_PKT_TX, 200, 2);
	vm_pkt_counter_free(c);

	/* More VMs than allowed are capped */
	c = vm_pkt_counter_new(nc, UINT32_MAX);
	assert_int_equal(vm_pkt_counter_map_mac(c, mac_a, VM_PKT_MAX_VMS - 1), 0);
	assert_int_equal(vm_pkt_counter_map_mac(c, mac_b, VM_PKT_MAX_VMS), -EINVAL);
	vm_pkt_counter_free(c);
	vm_netclass_free(nc);
}

/* ---------------------------------------------------------------- from L3 */

/* The frame's data after its Ethernet header, copied into a buffer of
 * exactly `caplen` bytes, parsed from the network layer. */
static enum vm_pkt_verdict parse_l3_exact(const struct frame *f, uint32_t caplen, uint32_t wirelen,
                                          struct vm_pkt_info *info)
{
	uint8_t *copy = caplen ? malloc(caplen) : NULL;
	if (caplen)
		memcpy(copy, f->b + 14, caplen);
	uint16_t type = (uint16_t)(f->b[12] << 8 | f->b[13]);
	enum vm_pkt_verdict v = vm_pkt_parse_l3(type, copy, caplen, wirelen, info);
	free(copy);
	return v;
}

/* Every sample, cut at every length, parsed from L3 reads what the
 * Ethernet parse reads 14 bytes later: the same walkers on the same bytes. */
static void test_parse_l3(void **state)
{
	for (enum sample s = 0; s < N_SAMPLES; s++) {
		struct frame f;
		struct vm_pkt_info e, l;

		sample(s, &f);
		for (uint32_t cap = 0; cap + 14 <= f.len; cap++) {
			for (uint32_t wire = cap; wire + 14 <= f.len; wire += wire == cap ? 1 : 5) {
				enum vm_pkt_verdict ve = parse_exact(&f, cap + 14, wire + 14, &e);
				enum vm_pkt_verdict vl = parse_l3_exact(&f, cap, wire, &l);
				if (ve != vl)
					fail_msg("sample %d, caplen %u, wire %u from L3: %s, Ethernet %s", s, cap, wire,
					         vm_pkt_verdict_name(vl), vm_pkt_verdict_name(ve));
				assert_false(l.flags & VM_PKT_F_MACS);
				assert_int_equal(l.flags, e.flags & ~(unsigned)VM_PKT_F_MACS);
				assert_int_equal(l.n_vlans, e.n_vlans);
				assert_memory_equal(l.vlan_tpid, e.vlan_tpid, sizeof l.vlan_tpid);
				assert_memory_equal(l.vlan_tci, e.vlan_tci, sizeof l.vlan_tci);
				assert_int_equal(l.ethertype, e.ethertype);
				assert_int_equal(l.l3, e.l3);
				if (e.l3_offset)
					assert_int_equal(l.l3_offset + 14, e.l3_offset);
				assert_memory_equal(l.src_ip, e.src_ip, 16);
				assert_memory_equal(l.dst_ip, e.dst_ip, 16);
				assert_int_equal(l.l4_proto, e.l4_proto);
				assert_int_equal(l.l4_offset ? l.l4_offset + 14 : 0, e.l4_offset);
				assert_int_equal(l.n_ext_hdrs, e.n_ext_hdrs);
				assert_int_equal(l.frag_offset, e.frag_offset);
				assert_int_equal(l.frag_id, e.frag_id);
			}
		}
	}

	/* Nothing at all after the header: what the EtherType says */
	struct vm_pkt_info i;
	assert_int_equal(vm_pkt_parse_l3(0x0806, NULL, 0, 0, &i), VM_PKT_NON_IP);
	assert_int_equal(i.l3, VM_PKT_L3_ARP);
	assert_int_equal(vm_pkt_parse_l3(0x0800, NULL, 0, 0, &i), VM_PKT_MALFORMED);
	assert_int_equal(vm_pkt_parse_l3(0x86dd, NULL, 0, 40, &i), VM_PKT_TRUNCATED);
	assert_int_equal(vm_pkt_parse_l3(0x8100, NULL, 0, 10, &i), VM_PKT_TRUNCATED);
	uint8_t b[4] = {0};
	assert_int_equal(vm_pkt_parse_l3(0x0800, b, 4, 3, &i), VM_PKT_MALFORMED);
}

/* Bytes from L3 are the Ethernet frame's: wirelen + 14 (tags left in the
 * data are in wirelen; one carried out of band is not seen). */
static void test_account_l3(void **state)
{
	struct vm_netclass *nc = test_table();
	struct vm_pkt_counter *c = vm_pkt_counter_new(nc, 2);
	struct vm_pkt_stats st;
	struct vm_pkt_info i;
	struct frame f;

	sample(S_UDP4, &f); /* 100-byte frame to 8.8.8.8 */
	assert_int_equal(vm_pkt_account_l3(c, 1, VM_PKT_TX, 0x0800, f.b + 14, f.len - 14, f.len - 14), VM_PKT_OK);
	assert_cell(c, 1, VM_NETCLASS_DEFAULT, VM_PKT_TX, 100, 1);
	/* Cut by the snaplen: counted in full */
	vm_pkt_account_l3(c, 1, VM_PKT_TX, 0x0800, f.b + 14, 20, f.len - 14);
	assert_cell(c, 1, VM_NETCLASS_DEFAULT, VM_PKT_TX, 200, 2);

	sample(S_QINQ4, &f); /* 82 bytes with two tags, from 10.1.0.10 to 10.20.1.1 */
	assert_int_equal(vm_pkt_account_l3(c, 0, VM_PKT_TX, 0x88a8, f.b + 14, f.len - 14, f.len - 14), VM_PKT_OK);
	assert_cell(c, 0, BACKUP, VM_PKT_TX, 82, 1);
	/* One tag carried out of band (the kernel's), one left in the data */
	assert_int_equal(vm_pkt_account_l3(c, 0, VM_PKT_RX, 0x8100, f.b + 18, f.len - 18, f.len - 18), VM_PKT_OK);
	assert_cell(c, 0, INTERNAL, VM_PKT_RX, 78, 1);
	assert_int_equal(vm_pkt_parse_l3(0x8100, f.b + 18, f.len - 18, f.len - 18, &i), VM_PKT_OK);
	assert_int_equal(i.n_vlans, 1);
	assert_int_equal(i.vlan_tci[0], 200);

	sample(S_ARP, &f);
	vm_pkt_account_l3(c, 0, VM_PKT_RX, 0x0806, f.b + 14, f.len - 14, f.len - 14);
	assert_cell(c, 0, VM_NETCLASS_NON_IP, VM_PKT_RX, 60, 1);
	/* Broken: counted in malformed with its Ethernet length */
	vm_pkt_account_l3(c, 0, VM_PKT_RX, 0x0800, f.b + 14, 10, 10);
	assert_cell(c, 0, VM_NETCLASS_MALFORMED, VM_PKT_RX, 24, 1);
	/* A VM out of range is unattributed, with the same bytes */
	vm_pkt_account_l3(c, 2, VM_PKT_RX, 0x0806, f.b + 14, f.len - 14, f.len - 14);
	vm_pkt_counter_stats(c, &st);
	assert_int_equal(st.frames, 7);
	assert_int_equal(st.verdicts[VM_PKT_OK], 4);
	assert_int_equal(st.verdicts[VM_PKT_MALFORMED], 1);
	assert_int_equal(st.unattributed.packets, 1);
	assert_int_equal(st.unattributed.bytes, 60);
	/* No overflow past 32 bits */
	assert_int_equal(vm_pkt_account_l3(c, 1, VM_PKT_RX, 0x86dd, NULL, 0, UINT32_MAX), VM_PKT_TRUNCATED);
	assert_cell(c, 1, VM_NETCLASS_MALFORMED, VM_PKT_RX, (uint64_t)UINT32_MAX + 14, 1);
	vm_pkt_counter_free(c);
	vm_netclass_free(nc);
}

/* ---------------------------------------------------------------- pcap files */

struct expected_cell {
	uint32_t vm;
	char cls[VM_NETCLASS_NAME_MAX + 1];
	enum vm_pkt_dir dir;
	struct vm_pkt_count n;
};

struct expected {
	char default_name[VM_NETCLASS_NAME_MAX + 1];
	struct vm_netclass_rule rules[64];
	char rule_text[64][2][64];
	size_t n_rules;
	struct {
		uint32_t vm;
		uint8_t mac[6];
	} macs[16];
	size_t n_macs;
	long tap;
	unsigned snaplen;
	struct expected_cell cells[256];
	size_t n_cells;
	struct vm_pkt_count unattributed;
	uint64_t verdicts[VM_PKT_N_VERDICTS];
	uint64_t frames;
	uint32_t max_vm;
};

static void read_expected(const char *path, struct expected *e)
{
	char line[512], a[64], b[64], d[8];
	unsigned long long x, y;
	unsigned vm, m[6];
	FILE *fp = fopen(path, "r");
	int lineno = 0;

	if (!fp)
		fail_msg("cannot open '%s'", path);
	memset(e, 0, sizeof *e);
	e->tap = -1;
	while (fgets(line, sizeof line, fp)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "mode tap %u", &vm) == 1) {
			e->tap = vm;
			e->max_vm = vm > e->max_vm ? vm : e->max_vm;
		} else if (strcmp(line, "mode bridge\n") == 0) {
			e->tap = -1;
		} else if (sscanf(line, "snaplen %u", &e->snaplen) == 1) {
		} else if (sscanf(line, "default %31s", e->default_name) == 1) {
		} else if (sscanf(line, "class %63s %63s", a, b) == 2) {
			assert_true(e->n_rules < 64);
			memcpy(e->rule_text[e->n_rules][0], a, sizeof a);
			memcpy(e->rule_text[e->n_rules][1], b, sizeof b);
			e->rules[e->n_rules] =
			    (struct vm_netclass_rule){e->rule_text[e->n_rules][0], e->rule_text[e->n_rules][1]};
			e->n_rules++;
		} else if (sscanf(line, "vm %u %x:%x:%x:%x:%x:%x", &vm, &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) ==
		           7) {
			assert_true(e->n_macs < 16);
			e->macs[e->n_macs].vm = vm;
			for (int k = 0; k < 6; k++)
				e->macs[e->n_macs].mac[k] = (uint8_t)m[k];
			e->n_macs++;
			e->max_vm = vm > e->max_vm ? vm : e->max_vm;
		} else if (sscanf(line, "count %u %31s %7s %llu %llu", &vm, a, d, &x, &y) == 5) {
			assert_true(e->n_cells < 256);
			struct expected_cell *c = &e->cells[e->n_cells++];
			c->vm = vm;
			snprintf(c->cls, sizeof c->cls, "%.31s", a);
			assert_true(strcmp(d, "tx") == 0 || strcmp(d, "rx") == 0);
			c->dir = strcmp(d, "tx") == 0 ? VM_PKT_TX : VM_PKT_RX;
			c->n = (struct vm_pkt_count){x, y};
			e->max_vm = vm > e->max_vm ? vm : e->max_vm;
		} else if (sscanf(line, "unattributed %llu %llu", &x, &y) == 2) {
			e->unattributed = (struct vm_pkt_count){x, y};
		} else if (sscanf(line, "verdict %31s %llu", a, &x) == 2) {
			int v = -1;
			for (int k = 0; k < VM_PKT_N_VERDICTS; k++)
				if (strcmp(vm_pkt_verdict_name(k), a) == 0)
					v = k;
			assert_true(v >= 0);
			e->verdicts[v] = x;
		} else if (sscanf(line, "frames %llu", &x) == 1) {
			e->frames = x;
		} else {
			fail_msg("%s:%d: cannot read: %s", path, lineno, line);
		}
	}
	fclose(fp);
	assert_true(e->default_name[0]);
	assert_true(e->frames > 0);
}

/* state: the .pcap's path (owned by main). */
static void test_pcap_file(void **state)
{
	const char *path = *state;
	char exp_path[4096], err[PCAP_ERRBUF_SIZE > 512 ? PCAP_ERRBUF_SIZE : 512];
	struct expected *e = calloc(1, sizeof *e);
	struct pcap_pkthdr *h;
	const u_char *data;
	struct vm_pkt_stats st;
	int rc;

	snprintf(exp_path, sizeof exp_path, "%.*s.expected", (int)(strlen(path) - 5), path);
	read_expected(exp_path, e);

	struct vm_netclass *nc = vm_netclass_new(e->default_name, e->rules, e->n_rules, NULL, err, sizeof err);
	if (!nc)
		fail_msg("%s: %s", exp_path, err);
	struct vm_pkt_counter *c = vm_pkt_counter_new(nc, e->max_vm + 1);
	for (size_t k = 0; k < e->n_macs; k++)
		assert_int_equal(vm_pkt_counter_map_mac(c, e->macs[k].mac, e->macs[k].vm), 0);
	if (e->tap >= 0)
		vm_pkt_counter_set_tap(c, (uint32_t)e->tap);

	pcap_t *p = pcap_open_offline(path, err);
	if (!p)
		fail_msg("%s: %s", path, err);
	assert_int_equal(pcap_datalink(p), DLT_EN10MB);
	assert_int_equal(pcap_snapshot(p), (int)e->snaplen);
	while ((rc = pcap_next_ex(p, &h, &data)) == 1)
		vm_pkt_account(c, data, h->caplen, h->len);
	if (rc != PCAP_ERROR_BREAK)
		fail_msg("%s: %s", path, pcap_geterr(p));
	pcap_close(p);

	/* Every cell of every VM: listed ones as listed, the rest zero. */
	for (uint32_t vm = 0; vm <= e->max_vm; vm++) {
		for (unsigned cls = 0; cls < vm_netclass_count(nc); cls++) {
			for (int dir = VM_PKT_RX; dir <= VM_PKT_TX; dir++) {
				struct vm_pkt_count want = {0, 0};
				for (size_t k = 0; k < e->n_cells; k++)
					if (e->cells[k].vm == vm && e->cells[k].dir == (enum vm_pkt_dir)dir &&
					    strcmp(e->cells[k].cls, vm_netclass_name(nc, cls)) == 0)
						want = e->cells[k].n;
				struct vm_pkt_count got = vm_pkt_counter_get(c, vm, cls, dir);
				if (got.bytes != want.bytes || got.packets != want.packets)
					fail_msg("%s: vm %u %s %s: %llu bytes %llu packets, want %llu bytes %llu "
					         "packets",
					         path, vm, vm_netclass_name(nc, cls), dir == VM_PKT_TX ? "tx" : "rx",
					         (unsigned long long)got.bytes, (unsigned long long)got.packets,
					         (unsigned long long)want.bytes, (unsigned long long)want.packets);
			}
		}
	}
	/* ... and no listed cell names a class the table lacks. */
	for (size_t k = 0; k < e->n_cells; k++)
		if (vm_netclass_find(nc, e->cells[k].cls) < 0)
			fail_msg("%s: unknown class '%s'", exp_path, e->cells[k].cls);

	vm_pkt_counter_stats(c, &st);
	assert_int_equal(st.frames, e->frames);
	for (int v = 0; v < VM_PKT_N_VERDICTS; v++)
		if (st.verdicts[v] != e->verdicts[v])
			fail_msg("%s: %llu %s frames, want %llu", path, (unsigned long long)st.verdicts[v],
			         vm_pkt_verdict_name(v), (unsigned long long)e->verdicts[v]);
	assert_int_equal(st.unattributed.bytes, e->unattributed.bytes);
	assert_int_equal(st.unattributed.packets, e->unattributed.packets);

	vm_pkt_counter_free(c);
	vm_netclass_free(nc);
	free(e);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_parse_ipv4),   cmocka_unit_test(test_parse_vlan),
	    cmocka_unit_test(test_parse_ipv6),   cmocka_unit_test(test_parse_non_ip),
	    cmocka_unit_test(test_parse_limits), cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_mac_map),      cmocka_unit_test(test_mac_map_random),
	    cmocka_unit_test(test_bridge),       cmocka_unit_test(test_tap),
	    cmocka_unit_test(test_parse_l3),     cmocka_unit_test(test_account_l3),
	};
	const size_t n_fixed = sizeof fixed / sizeof fixed[0];
	char *names[MAX_PCAP_FILES], *paths[MAX_PCAP_FILES];
	size_t n_files = 0;
	struct dirent *de;
	DIR *dir = opendir(PCAP_DIR);

	if (!dir) {
		perror(PCAP_DIR);
		return 1;
	}
	while ((de = readdir(dir)) && n_files < MAX_PCAP_FILES) {
		size_t len = strlen(de->d_name);
		if (len > 5 && strcmp(de->d_name + len - 5, ".pcap") == 0)
			names[n_files++] = strdup(de->d_name);
	}
	closedir(dir);
	qsort(names, n_files, sizeof names[0], cmp_str);

	/* One group, so that the TAP output has a single plan. */
	struct CMUnitTest *tests = calloc(n_fixed + n_files, sizeof *tests);
	memcpy(tests, fixed, sizeof fixed);
	for (size_t i = 0; i < n_files; i++) {
		if (asprintf(&paths[i], "%s/%s", PCAP_DIR, names[i]) < 0)
			return 1;
		tests[n_fixed + i] = (struct CMUnitTest){
		    .name = names[i],
		    .test_func = test_pcap_file,
		    .initial_state = paths[i],
		};
	}
	int rc = n_files < 3 ? 1 : _cmocka_run_group_tests("pktclass", tests, n_fixed + n_files, NULL, NULL);
	if (n_files < 3)
		fprintf(stderr, "only %zu .pcap files in %s\n", n_files, PCAP_DIR);
	for (size_t i = 0; i < n_files; i++) {
		free(names[i]);
		free(paths[i]);
	}
	free(tests);
	return rc;
}
