/* Writes the pcap files of tests/data/pcap and, next to each, the counts
 * they must give:
 *
 *   pcap_gen DIR
 *
 * Each scenario builds its frames byte by byte and says, for every frame,
 * what it is (the verdict) and where it must be counted (VM, traffic class,
 * direction, or nowhere): the generator keeps its own tally of those
 * statements and of the bytes on the wire it wrote, and never calls the
 * classifier.  The .expected file carries the setup (traffic classes, VM
 * MACs, bridge or tap mode) and the tally; tests/unit/test_pktclass.c
 * replays the .pcap through collector/pktclass and compares every cell.  The
 * output is deterministic (fixed time stamps and seeds):
 * tests/integration/pcap-fixtures.sh checks that the files in the tree are
 * what this program writes.
 *
 * Scenarios: mix (a bridge capture of everything: VMs, VLANs, IPv6
 * extension headers, fragments, runts, cut and broken frames, ARP, other
 * EtherTypes, broadcast), snap64 (a bridge capture with snaplen 64 of
 * full-size frames) and tap (the capture of one VM's tap device). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define FRAME_MAX 2048
#define MAX_VMS 8
#define MAX_EXPECT 4

/* ---------------------------------------------------------------- setup */

/* The traffic classes of every scenario: the default first. */
enum cls { C_INTERNET, C_INTERNAL, C_BACKUP, C_LOCAL, C_NON_IP, C_MALFORMED, N_CLS };
static const char *const cls_name[N_CLS] = {"internet", "internal", "backup", "local", "non-ip", "malformed"};

static const struct {
	enum cls cls;
	const char *prefix;
} class_prefixes[] = {
    {C_INTERNAL, "10.0.0.0/8"}, {C_INTERNAL, "192.168.0.0/16"}, {C_INTERNAL, "fd00::/8"}, {C_BACKUP, "10.20.0.0/16"},
    {C_BACKUP, "fd00:20::/32"}, {C_LOCAL, "169.254.0.0/16"},    {C_LOCAL, "224.0.0.0/4"}, {C_LOCAL, "255.255.255.255"},
    {C_LOCAL, "fe80::/10"},     {C_LOCAL, "ff00::/8"},
};

/* Remote addresses and the class each is in, by reading the prefixes
 * above: edges of nested prefixes, both families, an IPv4-mapped one. */
struct remote {
	const char *ip;
	enum cls cls;
};
static const struct remote remotes[] = {
    {"8.8.8.8", C_INTERNET},
    {"2001:db8::53", C_INTERNET},
    {"11.0.0.0", C_INTERNET},
    {"fc00::1", C_INTERNET},
    {"9.255.255.255", C_INTERNET},
    {"2a00:1450:4001::1", C_INTERNET},
    {"192.169.0.0", C_INTERNET},
    {"10.5.6.7", C_INTERNAL},
    {"fd00:5::1", C_INTERNAL},
    {"192.168.3.4", C_INTERNAL},
    {"fd00:21::1", C_INTERNAL},
    {"10.19.255.255", C_INTERNAL},
    {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C_INTERNAL},
    {"10.21.0.0", C_INTERNAL},
    {"10.20.0.0", C_BACKUP},
    {"fd00:20::5", C_BACKUP},
    {"10.20.255.255", C_BACKUP},
    {"fd00:20:ffff::1", C_BACKUP},
    {"::ffff:10.20.1.1", C_BACKUP},
    {"169.254.1.1", C_LOCAL},
    {"fe80::1", C_LOCAL},
};
#define N_REMOTES (sizeof remotes / sizeof remotes[0])

struct vm {
	int id;
	uint8_t mac[6];
	const char *ip4, *ip6;
};
/* Ids need not be dense: 3 and 4 have no MAC and must stay at zero. */
static const struct vm vms[] = {
    {0, {0x52, 0x54, 0x00, 0x00, 0x00, 0x10}, "10.1.0.10", "fd00:1::10"},
    {1, {0x52, 0x54, 0x00, 0x00, 0x00, 0x11}, "10.1.0.11", "fd00:1::11"},
    {2, {0x52, 0x54, 0x00, 0x00, 0x00, 0x12}, "10.1.0.12", "fd00:1::12"},
    {5, {0x52, 0x54, 0x00, 0x00, 0x00, 0x15}, "192.168.9.15", "fd00:9::15"},
};
#define N_VMS (sizeof vms / sizeof vms[0])
/* VM 2's second interface. */
static const uint8_t vm2_mac2[6] = {0x52, 0x54, 0x00, 0x00, 0x01, 0x12};
/* The tap scenario's VM. */
static const struct vm tap_vm = {6, {0x52, 0x54, 0x00, 0x00, 0x00, 0x16}, "10.1.0.16", "fd00:1::16"};

static const uint8_t gw_mac[6] = {0x52, 0x54, 0x00, 0xff, 0x00, 0x01};    /* the router */
static const uint8_t other_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x99}; /* a host, not a VM */
static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t mdns_mac[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
static const uint8_t lldp_mac[6] = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e};

/* ---------------------------------------------------------------- output */

enum verdict { V_OK, V_TRUNCATED, V_MALFORMED, V_NON_IP, N_VERDICTS };
static const char *const verdict_name[N_VERDICTS] = {"ok", "truncated", "malformed", "non-ip"};
enum dir { RX, TX };

/* Where a frame must be counted; vm -1 ends a list. */
struct hit {
	int vm;
	enum cls cls;
	enum dir dir;
};

struct tally {
	uint64_t bytes, packets;
};

struct gen {
	const char *dir, *name;
	pcap_t *pd;
	pcap_dumper_t *dump;
	uint32_t snaplen;
	long tap; /* the tap's VM, or -1: bridge */
	unsigned frames;
	struct tally cells[MAX_VMS][N_CLS][2];
	struct tally unattributed;
	unsigned verdicts[N_VERDICTS];
	uint64_t rng;
	bool tap_vm_macs[MAX_VMS];
};

static _Noreturn void __attribute__((format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pcap_gen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint32_t rnd(struct gen *g)
{
	/* xorshift64*, seeded per scenario */
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return (uint32_t)((g->rng * 0x2545f4914f6cdd1dull) >> 32);
}

static void gen_open(struct gen *g, const char *dir, const char *name, uint32_t snaplen, long tap, uint64_t seed)
{
	char path[4096];

	memset(g, 0, sizeof *g);
	g->dir = dir;
	g->name = name;
	g->snaplen = snaplen;
	g->tap = tap;
	g->rng = seed;
	g->pd = pcap_open_dead(DLT_EN10MB, (int)snaplen);
	if (!g->pd)
		die("cannot open a pcap handle");
	snprintf(path, sizeof path, "%s/%s.pcap", dir, name);
	g->dump = pcap_dump_open(g->pd, path);
	if (!g->dump)
		die("cannot write '%s': %s", path, pcap_geterr(g->pd));
}

/* Writes a frame of `wirelen` bytes on the wire, of which the first
 * `caplen` are in f (the capture cuts at the snaplen too), and tallies
 * it: verdict v, counted at each hit, or unattributed if there are none. */
static void emit(struct gen *g, const uint8_t *f, uint32_t caplen, uint32_t wirelen, enum verdict v,
                 const struct hit *hits)
{
	struct pcap_pkthdr h;

	if (caplen > g->snaplen)
		caplen = g->snaplen;
	/* 2026-01-01T00:00:00Z, a millisecond per frame. */
	h.ts.tv_sec = 1767225600 + g->frames / 1000;
	h.ts.tv_usec = (g->frames % 1000) * 1000;
	h.caplen = caplen;
	h.len = wirelen;
	pcap_dump((u_char *)g->dump, &h, f);
	g->frames++;
	g->verdicts[v]++;
	if (!hits || hits[0].vm < 0) {
		g->unattributed.bytes += wirelen;
		g->unattributed.packets++;
		return;
	}
	for (int i = 0; hits[i].vm >= 0; i++) {
		struct tally *t = &g->cells[hits[i].vm][hits[i].cls][hits[i].dir];
		t->bytes += wirelen;
		t->packets++;
	}
}

#define HITS(...) ((const struct hit[]){__VA_ARGS__, {-1, 0, 0}})
#define NOWHERE ((const struct hit[]){{-1, 0, 0}})

static void mac_text(const uint8_t *m, char *buf, size_t size)
{
	snprintf(buf, size, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void gen_close(struct gen *g, const struct vm *vm_list, size_t n_vms, const char *about)
{
	char path[4096], mac[18];
	FILE *fp;

	pcap_dump_close(g->dump);
	pcap_close(g->pd);
	snprintf(path, sizeof path, "%s/%s.expected", g->dir, g->name);
	fp = fopen(path, "w");
	if (!fp)
		die("cannot write '%s': %s", path, strerror(errno));
	fprintf(fp, "# %s.pcap: %s\n", g->name, about);
	fprintf(fp, "# Written by tests/pcap_gen.c with %s.pcap: the setup, then the counts\n", g->name);
	fprintf(fp, "# it tallied while writing the frames (bytes are on-the-wire lengths).\n");
	fprintf(fp, "# count VM CLASS DIR BYTES PACKETS; cells not listed are zero.\n");
	if (g->tap >= 0)
		fprintf(fp, "mode tap %ld\n", g->tap);
	else
		fprintf(fp, "mode bridge\n");
	fprintf(fp, "snaplen %u\n", g->snaplen);
	fprintf(fp, "default %s\n", cls_name[C_INTERNET]);
	for (size_t i = 0; i < sizeof class_prefixes / sizeof class_prefixes[0]; i++)
		fprintf(fp, "class %s %s\n", cls_name[class_prefixes[i].cls], class_prefixes[i].prefix);
	for (size_t i = 0; i < n_vms; i++) {
		mac_text(vm_list[i].mac, mac, sizeof mac);
		fprintf(fp, "vm %d %s\n", vm_list[i].id, mac);
		if (vm_list[i].id == 2 && g->tap < 0) {
			mac_text(vm2_mac2, mac, sizeof mac);
			fprintf(fp, "vm %d %s\n", vm_list[i].id, mac);
		}
	}
	for (int vm = 0; vm < MAX_VMS; vm++)
		for (int c = 0; c < N_CLS; c++)
			for (int d = 0; d < 2; d++)
				if (g->cells[vm][c][d].packets)
					fprintf(fp, "count %d %s %s %llu %llu\n", vm, cls_name[c],
					        d == TX ? "tx" : "rx", (unsigned long long)g->cells[vm][c][d].bytes,
					        (unsigned long long)g->cells[vm][c][d].packets);
	fprintf(fp, "unattributed %llu %llu\n", (unsigned long long)g->unattributed.bytes,
	        (unsigned long long)g->unattributed.packets);
	for (int v = 0; v < N_VERDICTS; v++)
		fprintf(fp, "verdict %s %u\n", verdict_name[v], g->verdicts[v]);
	fprintf(fp, "frames %u\n", g->frames);
	if (fclose(fp) != 0)
		die("cannot write '%s': %s", path, strerror(errno));
}

/* ---------------------------------------------------------------- frames */

struct frame {
	uint8_t b[FRAME_MAX];
	size_t len;
};

static void put(struct frame *f, const void *p, size_t n)
{
	if (f->len + n > FRAME_MAX)
		die("frame over %d bytes", FRAME_MAX);
	memcpy(f->b + f->len, p, n);
	f->len += n;
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

/* Payload bytes up to `to` (at most what the buffer holds). */
static void fill(struct frame *f, size_t to)
{
	if (to > FRAME_MAX)
		to = FRAME_MAX;
	while (f->len < to)
		put8(f, (unsigned)(f->len * 7 + 3));
}

static void eth(struct frame *f, const uint8_t *dst, const uint8_t *src)
{
	f->len = 0;
	put(f, dst, 6);
	put(f, src, 6);
}

static void tag(struct frame *f, unsigned tpid, unsigned vid)
{
	put16(f, tpid);
	put16(f, vid);
}

static bool is6(const char *ip)
{
	return strchr(ip, ':') != NULL;
}

static void addr(struct frame *f, const char *ip)
{
	uint8_t a[16];

	if (inet_pton(is6(ip) ? AF_INET6 : AF_INET, ip, a) != 1)
		die("bad address '%s'", ip);
	put(f, a, is6(ip) ? 16 : 4);
}

/* An IPv4 header (EtherType first) for a packet of `total` bytes with
 * `opt_words` 4-byte words of options and the flags/offset field frag. */
static void ip4(struct frame *f, const char *src, const char *dst, unsigned proto, size_t total, unsigned frag,
                unsigned opt_words)
{
	put16(f, 0x0800);
	put8(f, 0x40 | (5 + opt_words));
	put8(f, 0);
	put16(f, (unsigned)total);
	put16(f, 0x1234); /* id */
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0); /* checksum: nobody checks */
	addr(f, src);
	addr(f, dst);
	for (unsigned i = 0; i < opt_words; i++)
		put32(f, 0x01010101); /* NOPs */
}

/* An IPv6 header (EtherType first) with `payload` bytes after it. */
static void ip6(struct frame *f, const char *src, const char *dst, unsigned nh, size_t payload)
{
	put16(f, 0x86dd);
	put32(f, 0x60000000);
	put16(f, (unsigned)payload);
	put8(f, nh);
	put8(f, 64);
	addr(f, src);
	addr(f, dst);
}

/* A UDP or TCP packet of either family after the L2 header already in f,
 * filling the frame to `size` bytes on the wire. */
static void ip_packet(struct frame *f, const char *src, const char *dst, unsigned proto, size_t size)
{
	size_t l3 = f->len + 2;

	if (is6(src))
		ip6(f, src, dst, proto, size - l3 - 40);
	else
		ip4(f, src, dst, proto, size - l3, 0, 0);
	put16(f, 40000);
	put16(f, proto == 6 ? 443 : 53);
	fill(f, size);
}

static const char *vm_ip(const struct vm *vm, const char *like)
{
	return is6(like) ? vm->ip6 : vm->ip4;
}

/* A frame between a VM and a remote address through the router: tx from
 * the VM (src MAC is the VM's), or rx to it. */
static void vm_remote(struct gen *g, const struct vm *vm, const uint8_t *vm_mac, const struct remote *r, enum dir dir,
                      size_t size)
{
	struct frame f;
	unsigned proto = size % 2 ? 17 : 6;

	if (dir == TX) {
		eth(&f, gw_mac, vm_mac);
		ip_packet(&f, vm_ip(vm, r->ip), r->ip, proto, size);
	} else {
		eth(&f, vm_mac, gw_mac);
		ip_packet(&f, r->ip, vm_ip(vm, r->ip), proto, size);
	}
	emit(g, f.b, (uint32_t)f.len, (uint32_t)size, V_OK, HITS({vm->id, r->cls, dir}));
}

/* ---------------------------------------------------------------- mix */

static void mix_plain(struct gen *g)
{
	/* Every VM with every remote, both ways, 60 to 600 bytes. */
	for (size_t v = 0; v < N_VMS; v++) {
		for (size_t r = 0; r < N_REMOTES; r++) {
			size_t size = 60 + (v * 131 + r * 577) % 540;
			const uint8_t *mac = vms[v].id == 2 && r % 2 ? vm2_mac2 : vms[v].mac;
			vm_remote(g, &vms[v], mac, &remotes[r], TX, size);
			vm_remote(g, &vms[v], mac, &remotes[r], RX, size + 1 < 1514 ? size + 1 : 1514);
		}
	}
}

/* Between two VMs on the bridge: tx of one and rx of the other, each
 * classified by the other's address. */
static void mix_vm_to_vm(struct gen *g)
{
	struct frame f;

	eth(&f, vms[1].mac, vms[0].mac);
	ip_packet(&f, vms[0].ip4, vms[1].ip4, 6, 1514);
	emit(g, f.b, (uint32_t)f.len, 1514, V_OK, HITS({0, C_INTERNAL, TX}, {1, C_INTERNAL, RX}));

	eth(&f, vms[0].mac, vms[3].mac);
	ip_packet(&f, vms[3].ip6, vms[0].ip6, 17, 200);
	emit(g, f.b, (uint32_t)f.len, 200, V_OK, HITS({5, C_INTERNAL, TX}, {0, C_INTERNAL, RX}));

	/* To VM 2's second interface. */
	eth(&f, vm2_mac2, vms[1].mac);
	ip_packet(&f, vms[1].ip4, "10.20.0.12", 17, 90);
	emit(g, f.b, (uint32_t)f.len, 90, V_OK, HITS({1, C_BACKUP, TX}, {2, C_INTERNAL, RX}));
}

static void mix_vlan(struct gen *g)
{
	struct frame f;

	/* 802.1Q */
	eth(&f, gw_mac, vms[0].mac);
	tag(&f, 0x8100, 100);
	ip_packet(&f, vms[0].ip4, "8.8.8.8", 17, 300);
	emit(g, f.b, (uint32_t)f.len, 300, V_OK, HITS({0, C_INTERNET, TX}));

	eth(&f, vms[0].mac, gw_mac);
	tag(&f, 0x8100, 0x2000 | 100); /* priority 1 */
	ip_packet(&f, "fd00:20::5", vms[0].ip6, 6, 400);
	emit(g, f.b, (uint32_t)f.len, 400, V_OK, HITS({0, C_BACKUP, RX}));

	/* 802.1ad QinQ, and the old 0x9100 outer tag */
	eth(&f, vms[1].mac, gw_mac);
	tag(&f, 0x88a8, 10);
	tag(&f, 0x8100, 200);
	ip_packet(&f, "fd00:20::5", vms[1].ip6, 17, 500);
	emit(g, f.b, (uint32_t)f.len, 500, V_OK, HITS({1, C_BACKUP, RX}));

	eth(&f, gw_mac, vms[1].mac);
	tag(&f, 0x9100, 11);
	tag(&f, 0x8100, 201);
	ip_packet(&f, vms[1].ip4, "192.168.3.4", 6, 128);
	emit(g, f.b, (uint32_t)f.len, 128, V_OK, HITS({1, C_INTERNAL, TX}));

	/* A third tag is not looked into. */
	eth(&f, gw_mac, vms[0].mac);
	tag(&f, 0x88a8, 1);
	tag(&f, 0x8100, 2);
	tag(&f, 0x8100, 3);
	ip_packet(&f, vms[0].ip4, "8.8.8.8", 17, 150);
	emit(g, f.b, (uint32_t)f.len, 150, V_NON_IP, HITS({0, C_NON_IP, TX}));

	/* Tagged ARP */
	eth(&f, bcast_mac, vms[2].mac);
	tag(&f, 0x8100, 100);
	put16(&f, 0x0806);
	fill(&f, 64);
	emit(g, f.b, (uint32_t)f.len, 64, V_NON_IP, HITS({2, C_NON_IP, TX}));
}

/* An IPv6 extension header: type-specific length, `next` first. */
static void ext(struct frame *f, unsigned next, unsigned units8)
{
	put8(f, next);
	put8(f, units8 - 1);
	for (unsigned i = 2; i < units8 * 8; i++)
		put8(f, i == 2 ? 1 : 0); /* PadN-ish filler */
}

static void frag6(struct frame *f, unsigned next, unsigned offset, bool more, uint32_t id)
{
	put8(f, next);
	put8(f, 0);
	put16(f, offset | (more ? 1 : 0));
	put32(f, id);
}

static void mix_ipv6_ext(struct gen *g)
{
	const struct vm *vm = &vms[3];
	struct frame f;

	/* Hop-by-hop, destination options, TCP */
	eth(&f, gw_mac, vm->mac);
	ip6(&f, vm->ip6, "2001:db8::53", 0, 400 - 54);
	ext(&f, 60, 1);
	ext(&f, 6, 2);
	fill(&f, 400);
	emit(g, f.b, (uint32_t)f.len, 400, V_OK, HITS({5, C_INTERNET, TX}));

	/* Routing header (a segment routing header, two segments) */
	eth(&f, gw_mac, vm->mac);
	ip6(&f, vm->ip6, "fd00:5::1", 43, 300 - 54);
	ext(&f, 17, 5);
	fill(&f, 300);
	emit(g, f.b, (uint32_t)f.len, 300, V_OK, HITS({5, C_INTERNAL, TX}));

	/* A fragmented UDP datagram: first and non-first fragment */
	eth(&f, gw_mac, vm->mac);
	ip6(&f, vm->ip6, "2a00:1450:4001::1", 44, 1514 - 54);
	frag6(&f, 17, 0, true, 0xabcd0001);
	fill(&f, 1514);
	emit(g, f.b, (uint32_t)f.len, 1514, V_OK, HITS({5, C_INTERNET, TX}));
	eth(&f, gw_mac, vm->mac);
	ip6(&f, vm->ip6, "2a00:1450:4001::1", 44, 700 - 54);
	frag6(&f, 17, 1448, false, 0xabcd0001);
	fill(&f, 700);
	emit(g, f.b, (uint32_t)f.len, 700, V_OK, HITS({5, C_INTERNET, TX}));
	/* ... arriving, behind hop-by-hop */
	eth(&f, vm->mac, gw_mac);
	ip6(&f, "fd00:20::5", vm->ip6, 0, 800 - 54);
	ext(&f, 44, 1);
	frag6(&f, 6, 2896, true, 7);
	fill(&f, 800);
	emit(g, f.b, (uint32_t)f.len, 800, V_OK, HITS({5, C_BACKUP, RX}));

	/* AH (length in 4-byte units minus 2), then TCP */
	eth(&f, vm->mac, gw_mac);
	ip6(&f, "fd00:20:ffff::1", vm->ip6, 51, 240 - 54);
	put8(&f, 6);
	put8(&f, 4); /* (4 + 2) * 4 = 24 bytes */
	for (int i = 0; i < 22; i++)
		put8(&f, 0xa0 + i);
	fill(&f, 240);
	emit(g, f.b, (uint32_t)f.len, 240, V_OK, HITS({5, C_BACKUP, RX}));

	/* ESP ends the walk; so does "no next header" */
	eth(&f, gw_mac, vm->mac);
	ip6(&f, vm->ip6, "fd00:21::1", 60, 180 - 54);
	ext(&f, 50, 1);
	fill(&f, 180);
	emit(g, f.b, (uint32_t)f.len, 180, V_OK, HITS({5, C_INTERNAL, TX}));
	eth(&f, gw_mac, vm->mac);
	ip6(&f, vm->ip6, "fc00::1", 59, 0);
	fill(&f, 60); /* Ethernet padding after an empty payload */
	emit(g, f.b, (uint32_t)f.len, 60, V_OK, HITS({5, C_INTERNET, TX}));

	/* Nine destination options headers: past the walk's limit, still
	 * classified by address. */
	eth(&f, gw_mac, vm->mac);
	ip6(&f, vm->ip6, "2001:db8::53", 60, 9 * 8 + 20);
	for (int i = 0; i < 9; i++)
		ext(&f, i < 8 ? 60 : 17, 1);
	fill(&f, f.len + 20);
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_OK, HITS({5, C_INTERNET, TX}));

	/* Hop-by-hop after another header: dropped by any receiver */
	eth(&f, gw_mac, vm->mac);
	ip6(&f, vm->ip6, "2001:db8::53", 60, 100);
	ext(&f, 0, 1);
	ext(&f, 17, 1);
	fill(&f, 54 + 100);
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_MALFORMED, HITS({5, C_MALFORMED, TX}));

	/* An extension header longer than the payload */
	eth(&f, vm->mac, gw_mac);
	ip6(&f, "2001:db8::53", vm->ip6, 60, 16);
	put8(&f, 17);
	put8(&f, 3); /* 32 bytes, 16 in the payload */
	fill(&f, 54 + 16);
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_MALFORMED, HITS({5, C_MALFORMED, RX}));
}

static void mix_ipv4_more(struct gen *g)
{
	const struct vm *vm = &vms[2];
	struct frame f;

	/* Fragments: first (more fragments), then the last */
	eth(&f, gw_mac, vm->mac);
	ip4(&f, vm->ip4, "1.1.1.1", 17, 1500, 0x2000, 0);
	fill(&f, 1514);
	emit(g, f.b, (uint32_t)f.len, 1514, V_OK, HITS({2, C_INTERNET, TX}));
	eth(&f, gw_mac, vm->mac);
	ip4(&f, vm->ip4, "1.1.1.1", 17, 520, 185, 0);
	fill(&f, 534);
	emit(g, f.b, (uint32_t)f.len, 534, V_OK, HITS({2, C_INTERNET, TX}));

	/* Options (IHL 7) */
	eth(&f, vm->mac, gw_mac);
	ip4(&f, "169.254.1.1", vm->ip4, 2, 64, 0, 2);
	fill(&f, 78);
	emit(g, f.b, (uint32_t)f.len, 78, V_OK, HITS({2, C_LOCAL, RX}));

	/* A short packet in a padded minimum frame */
	eth(&f, vm->mac, gw_mac);
	ip4(&f, "10.20.255.255", vm->ip4, 17, 28, 0, 0);
	fill(&f, 60);
	emit(g, f.b, (uint32_t)f.len, 60, V_OK, HITS({2, C_BACKUP, RX}));

	/* Total length 0: a BIG TCP packet as capture shows it, longer than
	 * 64 KiB, cut by the capture */
	eth(&f, gw_mac, vm->mac);
	ip4(&f, vm->ip4, "8.8.8.8", 6, 0, 0, 0);
	fill(&f, 200);
	emit(g, f.b, (uint32_t)f.len, 150000, V_OK, HITS({2, C_INTERNET, TX}));
	/* ... and the same in IPv6 (payload length 0) */
	eth(&f, gw_mac, vm->mac);
	ip6(&f, vm->ip6, "fd00:20::5", 6, 0);
	fill(&f, 200);
	emit(g, f.b, (uint32_t)f.len, 90000, V_OK, HITS({2, C_BACKUP, TX}));

	/* An IPv6 packet to an IPv4-mapped address */
	eth(&f, gw_mac, vm->mac);
	ip_packet(&f, vm->ip6, "::ffff:192.168.1.1", 17, 120);
	emit(g, f.b, (uint32_t)f.len, 120, V_OK, HITS({2, C_INTERNAL, TX}));
}

/* Runts, frames the capture cut before their headers ended, and frames
 * whose headers are broken. */
static void mix_broken(struct gen *g)
{
	struct frame f;

	/* Runts: shorter than an Ethernet header on the wire */
	memset(f.b, 0xee, 16);
	emit(g, f.b, 0, 0, V_MALFORMED, NOWHERE);
	emit(g, f.b, 10, 10, V_MALFORMED, NOWHERE); /* no MACs: nobody's */
	eth(&f, gw_mac, vms[0].mac);
	put8(&f, 0x08);
	emit(g, f.b, 13, 13, V_MALFORMED, HITS({0, C_MALFORMED, TX}));

	/* Cut by the capture before the headers needed */
	eth(&f, gw_mac, vms[0].mac);
	ip_packet(&f, vms[0].ip4, "8.8.8.8", 17, 1000);
	emit(g, f.b, 30, 1000, V_TRUNCATED, HITS({0, C_MALFORMED, TX}));
	emit(g, f.b, 13, 1000, V_TRUNCATED, HITS({0, C_MALFORMED, TX}));
	emit(g, f.b, 11, 1000, V_TRUNCATED, NOWHERE);
	eth(&f, vms[1].mac, gw_mac);
	ip_packet(&f, "2001:db8::53", vms[1].ip6, 17, 800);
	emit(g, f.b, 53, 800, V_TRUNCATED, HITS({1, C_MALFORMED, RX}));
	eth(&f, vms[1].mac, gw_mac);
	tag(&f, 0x88a8, 10);
	tag(&f, 0x8100, 20);
	ip_packet(&f, "10.5.6.7", vms[1].ip4, 17, 400);
	emit(g, f.b, 20, 400, V_TRUNCATED, HITS({1, C_MALFORMED, RX}));

	/* ... after them: the extension headers are cut, the addresses are in */
	eth(&f, gw_mac, vms[1].mac);
	ip6(&f, vms[1].ip6, "fd00:5::1", 0, 1000);
	ext(&f, 44, 1);
	frag6(&f, 17, 0, true, 9);
	fill(&f, 1054);
	emit(g, f.b, 58, 1054, V_OK, HITS({1, C_INTERNAL, TX}));
	emit(g, f.b, 64, 1054, V_OK, HITS({1, C_INTERNAL, TX}));

	/* Broken IPv4 headers */
	eth(&f, vms[1].mac, other_mac);
	put16(&f, 0x0800);
	for (int i = 0; i < 100; i++)
		put8(&f, i == 0 ? 0x05 : rnd(g)); /* version 0 */
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_MALFORMED, HITS({1, C_MALFORMED, RX}));
	eth(&f, gw_mac, vms[1].mac);
	ip4(&f, vms[1].ip4, "8.8.8.8", 17, 100, 0, 0);
	fill(&f, 114);
	f.b[14] = 0x44; /* IHL 4 */
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_MALFORMED, HITS({1, C_MALFORMED, TX}));
	eth(&f, gw_mac, vms[1].mac);
	ip4(&f, vms[1].ip4, "8.8.8.8", 17, 1500, 0, 0);
	fill(&f, 514); /* 1500 claimed, 500 sent */
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_MALFORMED, HITS({1, C_MALFORMED, TX}));
	eth(&f, gw_mac, vms[1].mac);
	ip4(&f, vms[1].ip4, "8.8.8.8", 17, 18, 0, 0); /* shorter than its header */
	fill(&f, 60);
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_MALFORMED, HITS({1, C_MALFORMED, TX}));
	eth(&f, gw_mac, vms[1].mac);
	ip_packet(&f, vms[1].ip6, "2001:db8::53", 17, 100);
	f.b[12] = 0x08; /* an IPv6 packet under the IPv4 EtherType */
	f.b[13] = 0x00;
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_MALFORMED, HITS({1, C_MALFORMED, TX}));

	/* Broken IPv6 headers */
	eth(&f, gw_mac, vms[2].mac);
	ip6(&f, vms[2].ip6, "2001:db8::53", 17, 1000);
	fill(&f, 300); /* 1000 claimed */
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_MALFORMED, HITS({2, C_MALFORMED, TX}));
	eth(&f, gw_mac, vms[2].mac);
	ip_packet(&f, vms[2].ip4, "8.8.8.8", 17, 100);
	f.b[12] = 0x86; /* an IPv4 packet under the IPv6 EtherType */
	f.b[13] = 0xdd;
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_MALFORMED, HITS({2, C_MALFORMED, TX}));

	/* Garbage between two hosts that are not VMs, sometimes cut by the
	 * capture: truncated if the IP header was sent but not captured. */
	for (int i = 0; i < 8; i++) {
		size_t n = 14 + rnd(g) % 200;
		uint32_t need = i % 2 ? 34 : 54, wire;
		eth(&f, other_mac, gw_mac);
		put16(&f, i % 2 ? 0x0800 : 0x86dd);
		put8(&f, 0); /* version 0 */
		while (f.len < n)
			put8(&f, rnd(g));
		wire = (uint32_t)f.len + rnd(g) % 3;
		emit(g, f.b, (uint32_t)f.len, wire, f.len < need && wire >= need ? V_TRUNCATED : V_MALFORMED, NOWHERE);
	}
}

static void arp(struct frame *f, const uint8_t *dst, const uint8_t *src, unsigned op)
{
	eth(f, dst, src);
	put16(f, 0x0806);
	put16(f, 1);
	put16(f, 0x0800);
	put8(f, 6);
	put8(f, 4);
	put16(f, op);
	put(f, src, 6);
	put32(f, 0x0a01000a);
	put(f, op == 1 ? (const uint8_t[6]){0} : dst, 6);
	put32(f, 0x0a0100fe);
	fill(f, 60);
}

static void mix_non_ip(struct gen *g)
{
	struct frame f;

	/* ARP: a VM asks (broadcast), the router answers, the router asks */
	arp(&f, bcast_mac, vms[0].mac, 1);
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_NON_IP, HITS({0, C_NON_IP, TX}));
	arp(&f, vms[0].mac, gw_mac, 2);
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_NON_IP, HITS({0, C_NON_IP, RX}));
	arp(&f, bcast_mac, gw_mac, 1);
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_NON_IP, NOWHERE);
	/* ... cut after the EtherType: still ARP */
	arp(&f, bcast_mac, vms[1].mac, 1);
	emit(g, f.b, 14, (uint32_t)f.len, V_NON_IP, HITS({1, C_NON_IP, TX}));

	/* LLDP to its multicast address, an 802.3 length frame (STP), an
	 * unknown EtherType */
	eth(&f, lldp_mac, vms[2].mac);
	put16(&f, 0x88cc);
	fill(&f, 90);
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_NON_IP, HITS({2, C_NON_IP, TX}));
	eth(&f, (const uint8_t[6]){0x01, 0x80, 0xc2, 0, 0, 0}, vms[1].mac);
	put16(&f, 38);
	put8(&f, 0x42);
	put8(&f, 0x42);
	put8(&f, 0x03);
	fill(&f, 60);
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_NON_IP, HITS({1, C_NON_IP, TX}));
	eth(&f, vms[3].mac, gw_mac);
	put16(&f, 0x1234);
	fill(&f, 1000);
	emit(g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_NON_IP, HITS({5, C_NON_IP, RX}));
}

static void mix_group(struct gen *g)
{
	struct frame f;

	/* A VM broadcasts (DHCP-like) and multicasts (mDNS): its tx, by the
	 * group address's class; no other VM's rx. */
	eth(&f, bcast_mac, vms[0].mac);
	ip_packet(&f, "0.0.0.0", "255.255.255.255", 17, 342);
	emit(g, f.b, (uint32_t)f.len, 342, V_OK, HITS({0, C_LOCAL, TX}));
	eth(&f, mdns_mac, vms[1].mac);
	ip_packet(&f, vms[1].ip4, "224.0.0.251", 17, 120);
	emit(g, f.b, (uint32_t)f.len, 120, V_OK, HITS({1, C_LOCAL, TX}));
	eth(&f, all_nodes_mac, vms[1].mac);
	ip_packet(&f, "fe80::11", "ff02::1", 58, 90);
	emit(g, f.b, (uint32_t)f.len, 90, V_OK, HITS({1, C_LOCAL, TX}));
	/* The router multicasts: a bridge capture cannot tell who got it. */
	eth(&f, all_nodes_mac, gw_mac);
	ip_packet(&f, "fe80::1", "ff02::1", 58, 110);
	emit(g, f.b, (uint32_t)f.len, 110, V_OK, NOWHERE);
	/* Unicast between two hosts that are not VMs */
	eth(&f, other_mac, gw_mac);
	ip_packet(&f, "8.8.8.8", "10.9.9.9", 17, 700);
	emit(g, f.b, (uint32_t)f.len, 700, V_OK, NOWHERE);
}

static void gen_mix(const char *dir)
{
	struct gen g;

	gen_open(&g, dir, "mix", 65535, -1, 0x6d69780000000001ull);
	mix_plain(&g);
	mix_vm_to_vm(&g);
	mix_vlan(&g);
	mix_ipv6_ext(&g);
	mix_ipv4_more(&g);
	mix_broken(&g);
	mix_non_ip(&g);
	mix_group(&g);
	gen_close(&g, vms, N_VMS, "a bridge capture of four VMs and everything else");
}

/* ---------------------------------------------------------------- snap64 */

/* Full-size frames captured with snaplen 64: classified by the headers
 * that fit, counted with their length on the wire. */
static void gen_snap64(const char *dir)
{
	struct gen g;
	struct frame f;

	gen_open(&g, dir, "snap64", 64, -1, 0x736e617036340001ull);
	for (size_t r = 0; r < N_REMOTES; r++) {
		const struct vm *vm = &vms[r % N_VMS];
		vm_remote(&g, vm, vm->mac, &remotes[r], TX, 1514);
		vm_remote(&g, vm, vm->mac, &remotes[r], RX, 1514 - r);
	}
	/* QinQ and IPv6: 62 bytes of headers, just in */
	eth(&f, gw_mac, vms[0].mac);
	tag(&f, 0x88a8, 10);
	tag(&f, 0x8100, 20);
	ip_packet(&f, vms[0].ip6, "fd00:20::5", 6, 1522);
	emit(&g, f.b, (uint32_t)f.len, 1522, V_OK, HITS({0, C_BACKUP, TX}));
	/* Jumbo frames */
	eth(&f, vms[1].mac, gw_mac);
	ip4(&f, "10.20.1.2", vms[1].ip4, 6, 9000, 0x4000, 0);
	fill(&f, 200);
	emit(&g, f.b, (uint32_t)f.len, 9014, V_OK, HITS({1, C_BACKUP, RX}));
	/* Extension headers cut: still classified */
	eth(&f, vms[2].mac, gw_mac);
	ip6(&f, "2001:db8::53", vms[2].ip6, 0, 1400);
	ext(&f, 60, 1);
	ext(&f, 6, 1);
	fill(&f, 1454);
	emit(&g, f.b, (uint32_t)f.len, 1454, V_OK, HITS({2, C_INTERNET, RX}));
	/* ARP and a runt */
	arp(&f, bcast_mac, vms[3].mac, 1);
	emit(&g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_NON_IP, HITS({5, C_NON_IP, TX}));
	eth(&f, vms[3].mac, gw_mac);
	emit(&g, f.b, 12, 12, V_MALFORMED, HITS({5, C_MALFORMED, RX}));
	gen_close(&g, vms, N_VMS, "a bridge capture with snaplen 64 of full-size frames");
}

/* ---------------------------------------------------------------- tap */

/* The capture of one VM's tap: every frame is the VM's; one from its MAC
 * is tx, any other rx (also one from another MAC the VM sends: the rule
 * is by source MAC). */
static void gen_tap(const char *dir)
{
	const struct vm *vm = &tap_vm;
	const int id = vm->id;
	struct gen g;
	struct frame f;

	gen_open(&g, dir, "tap", 256, id, 0x7461700000000001ull);
	for (size_t r = 0; r < N_REMOTES; r++) {
		vm_remote(&g, vm, vm->mac, &remotes[r], TX, 64 + r * 61);
		vm_remote(&g, vm, vm->mac, &remotes[r], RX, 1514 - r * 50);
	}
	/* Broadcast and multicast delivered to the tap are its rx. */
	arp(&f, bcast_mac, gw_mac, 1);
	emit(&g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_NON_IP, HITS({id, C_NON_IP, RX}));
	arp(&f, gw_mac, vm->mac, 2);
	emit(&g, f.b, (uint32_t)f.len, (uint32_t)f.len, V_NON_IP, HITS({id, C_NON_IP, TX}));
	eth(&f, all_nodes_mac, gw_mac);
	ip_packet(&f, "fe80::1", "ff02::1", 58, 110);
	emit(&g, f.b, (uint32_t)f.len, 110, V_OK, HITS({id, C_LOCAL, RX}));
	eth(&f, mdns_mac, vm->mac);
	ip_packet(&f, vm->ip4, "224.0.0.251", 17, 100);
	emit(&g, f.b, (uint32_t)f.len, 100, V_OK, HITS({id, C_LOCAL, TX}));
	/* From another VM on the same bridge, flooded to this tap */
	eth(&f, other_mac, vms[0].mac);
	ip_packet(&f, vms[0].ip4, "10.1.0.99", 17, 300);
	emit(&g, f.b, (uint32_t)f.len, 300, V_OK, HITS({id, C_INTERNAL, RX}));
	/* The VM sends with a MAC not its own: counted as rx, so classified
	 * by the source address, the VM's own */
	eth(&f, gw_mac, other_mac);
	ip_packet(&f, vm->ip4, "8.8.8.8", 17, 500);
	emit(&g, f.b, (uint32_t)f.len, 500, V_OK, HITS({id, C_INTERNAL, RX}));
	/* Broken: a runt without MACs is rx; a cut frame from the VM is tx */
	memset(f.b, 0x11, 8);
	emit(&g, f.b, 8, 8, V_MALFORMED, HITS({id, C_MALFORMED, RX}));
	eth(&f, gw_mac, vm->mac);
	ip_packet(&f, vm->ip6, "2001:db8::53", 6, 1000);
	emit(&g, f.b, 40, 1000, V_TRUNCATED, HITS({id, C_MALFORMED, TX}));
	gen_close(&g, vm, 1, "the capture of one VM's tap device");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: pcap_gen DIR\n");
		return 2;
	}
	gen_mix(argv[1]);
	gen_snap64(argv[1]);
	gen_tap(argv[1]);
	return 0;
}
