/* Writes a large, realistic bridge capture for the classification
 * benchmark (bench/classify-vs-tcpdump.sh), and next to it the setup both
 * sides need and the totals the capture must give:
 *
 *   vmeter-bench-gen-pcap FILE [FRAMES [VMS [SNAPLEN [SEED]]]]
 *        (defaults 10000000 400 128 1)
 *
 * FILE is a pcap savefile (DLT_EN10MB, microsecond time stamps); FILE.setup
 * holds the traffic classes, the VMs' MACs and the expected totals per class
 * and direction (see write_setup()).  The capture is what a bridge with VMS
 * VMs behind one router sees: flows between a VM and a remote host (the
 * internet, the internal networks 10.0.0.0/8 and fd00::/8, the backup
 * network 172.16.0.0/12), between two VMs, between two hosts that are not
 * VMs; a quarter IPv6, a tenth with an 802.1Q tag, TCP, UDP and ICMP, frame
 * sizes from a data-centre mix (ACK-sized, ~576, full 1514), ARP requests
 * and replies.  Frames are cut at SNAPLEN bytes as a header-only capture
 * would (0: whole frames).  Deterministic: the same arguments write the
 * same bytes.  The totals are the generator's own tally of what it wrote
 * (which VM, class and direction each frame is for), not the classifier's.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_MAX 1518
#define N_FLOWS 65536

enum cls { C_INTERNET, C_INTERNAL, C_BACKUP, C_NON_IP, N_CLS };
static const char *const cls_name[N_CLS] = {"internet", "internal", "backup", "non-ip"};
/* The configured classes (the default is internet). */
static const struct {
	enum cls cls;
	const char *prefix;
} prefixes[] = {
    {C_INTERNAL, "10.0.0.0/8"},
    {C_INTERNAL, "fd00::/8"},
    {C_BACKUP, "172.16.0.0/12"},
};
enum dir { RX, TX };

static _Noreturn void __attribute__((format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("vmeter-bench-gen-pcap: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

/* Uniform in [0, n). */
static uint32_t rnd_n(uint32_t n)
{
	return (uint32_t)(((uint64_t)rnd() * n) >> 32);
}

/* ---------------------------------------------------------------- hosts */

struct vm {
	uint8_t mac[2][6]; /* every 8th VM has a second NIC */
	unsigned n_nics;
	uint8_t ip4[4], ip6[16];
};

static struct vm *vms;
static unsigned n_vms;
static const uint8_t router_mac[6] = {0x00, 0x1b, 0x21, 0x0a, 0x00, 0x01};
/* The hypervisor itself and a storage head: on the bridge, not VMs. */
static const uint8_t host_mac[2][6] = {{0x00, 0x1b, 0x21, 0x0a, 0x00, 0x02}, {0x00, 0x1b, 0x21, 0x0a, 0x00, 0x03}};
static const uint8_t host_ip4[2][4] = {{10, 64, 255, 1}, {172, 16, 0, 20}};
static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void make_vms(unsigned n)
{
	vms = calloc(n, sizeof *vms);
	if (!vms)
		die("out of memory");
	n_vms = n;
	for (unsigned i = 0; i < n; i++) {
		struct vm *v = &vms[i];
		v->n_nics = i % 8 == 7 ? 2 : 1;
		for (unsigned k = 0; k < v->n_nics; k++) {
			/* libvirt's 52:54:00 and three random bytes, unique. */
			uint32_t r = (rnd() & 0xff0000u) | (i * 2 + k);
			uint8_t m[6] = {0x52, 0x54, 0x00, (uint8_t)(r >> 16), (uint8_t)(r >> 8), (uint8_t)r};
			memcpy(v->mac[k], m, 6);
		}
		/* 10.64.0.0/16 and fd00:64::/64: the VMs are in the internal class. */
		uint8_t ip4[4] = {10, 64, (uint8_t)(i >> 8), (uint8_t)(i & 0xff)};
		memcpy(v->ip4, ip4, 4);
		memset(v->ip6, 0, 16);
		v->ip6[0] = 0xfd;
		v->ip6[2] = 0x00;
		v->ip6[3] = 0x64;
		v->ip6[14] = (uint8_t)(i >> 8);
		v->ip6[15] = (uint8_t)i;
	}
}

/* ---------------------------------------------------------------- flows */

enum kind { K_REMOTE, K_VM_VM, K_HOSTS };

struct flow {
	enum kind kind;
	unsigned vm, nic, peer, peer_nic; /* peer: the other VM (K_VM_VM) */
	enum cls cls;                     /* of the remote address (K_REMOTE) */
	bool v6;
	uint16_t vlan; /* 0: untagged */
	uint8_t proto;
	uint16_t vm_port, remote_port;
	uint8_t remote[16];
	bool bulk; /* mostly full-size frames (a transfer) rather than small ones */
};

static struct flow flows[N_FLOWS];

static void remote_addr(struct flow *f)
{
	uint32_t r = rnd();

	memset(f->remote, 0, 16);
	if (!f->v6) {
		uint8_t *a = f->remote;
		switch (f->cls) {
		case C_INTERNAL: a[0] = 10; break;
		case C_BACKUP:
			a[0] = 172;
			a[1] = (uint8_t)(16 + (r >> 24) % 16);
			break;
		default:
			/* A public address: not in 0/8, 10/8, 127/8, 172.16/12,
			 * 192.168/16 or 224/3. */
			do {
				a[0] = (uint8_t)(1 + rnd_n(223));
			} while (a[0] == 10 || a[0] == 127 || a[0] == 172 || a[0] == 192);
			break;
		}
		if (a[1] == 0)
			a[1] = (uint8_t)(r >> 16);
		a[2] = (uint8_t)(r >> 8);
		a[3] = (uint8_t)(r | 1);
		return;
	}
	uint32_t r2 = rnd();
	switch (f->cls) {
	case C_INTERNAL:
		f->remote[0] = 0xfd;
		f->remote[1] = (uint8_t)(r >> 24);
		break;
	case C_BACKUP:
		/* Backup has no IPv6 prefix: reached over IPv4 only. */
		die("no IPv6 backup network");
	default:
		/* 2000::/3 */
		f->remote[0] = (uint8_t)(0x20 | (r >> 27));
		f->remote[1] = (uint8_t)(r >> 16);
		break;
	}
	f->remote[2] = (uint8_t)(r >> 8);
	f->remote[3] = (uint8_t)r;
	memcpy(f->remote + 12, &r2, 4);
	f->remote[15] |= 1;
}

static void make_flows(void)
{
	static const uint16_t server_ports[] = {443, 80, 22, 53, 3306, 5432, 6379, 8080, 9200, 873};

	for (unsigned i = 0; i < N_FLOWS; i++) {
		struct flow *f = &flows[i];
		uint32_t k = rnd_n(1000);

		memset(f, 0, sizeof *f);
		f->vm = rnd_n(n_vms);
		f->nic = rnd_n(vms[f->vm].n_nics);
		f->v6 = rnd_n(4) == 0;
		f->vlan = rnd_n(10) == 0 ? (uint16_t)(100 + rnd_n(4)) : 0;
		/* 88 % with a remote host (internet 55, internal 25, backup 8),
		 * 10 % between two VMs, 2 % between two hosts that are not VMs. */
		if (k < 880) {
			f->kind = K_REMOTE;
			f->cls = k < 550 ? C_INTERNET : k < 800 ? C_INTERNAL : C_BACKUP;
			if (f->cls == C_BACKUP)
				f->v6 = false;
			remote_addr(f);
		} else if (k < 980) {
			f->kind = K_VM_VM;
			f->peer = (f->vm + 1 + rnd_n(n_vms - 1)) % n_vms;
			f->peer_nic = rnd_n(vms[f->peer].n_nics);
		} else {
			f->kind = K_HOSTS;
			f->v6 = false;
			f->vlan = 0;
		}
		k = rnd_n(100);
		f->proto = k < 80 ? 6 : k < 98 ? 17 : f->v6 ? 58 : 1;
		f->vm_port = (uint16_t)(32768 + rnd_n(28232));
		f->remote_port = server_ports[rnd_n(sizeof server_ports / sizeof server_ports[0])];
		f->bulk = rnd_n(3) == 0 || f->kind == K_HOSTS;
	}
}

/* Flows are picked with a skew: a few carry much of the traffic. */
static struct flow *pick_flow(void)
{
	uint32_t r = rnd_n(N_FLOWS);
	return &flows[rnd_n(r + 1)];
}

/* Frame length on the wire (without FCS and tag): of a data frame or of
 * an ACK or request. */
static uint32_t frame_len(bool data)
{
	uint32_t k = rnd_n(100);

	if (!data) /* ACKs and requests */
		return k < 70 ? 66 : k < 90 ? 60 + rnd_n(40) : 100 + rnd_n(500);
	if (k < 75)
		return 1514;
	if (k < 85)
		return 590; /* 576-byte IP packets */
	return 60 + rnd_n(1454);
}

/* ---------------------------------------------------------------- output */

struct tally {
	uint64_t bytes, packets;
};

static struct tally cells[N_CLS][2], unattributed;
static uint64_t n_frames, n_bytes, n_captured;
static FILE *out;
static uint32_t snaplen;
static uint64_t ts_us;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void write_frame(const uint8_t *frame, uint32_t wirelen)
{
	uint8_t h[16];
	uint32_t caplen = snaplen && wirelen > snaplen ? snaplen : wirelen;

	/* A million frames per second. */
	ts_us++;
	put32le(h, (uint32_t)(1767225600 + ts_us / 1000000));
	put32le(h + 4, (uint32_t)(ts_us % 1000000));
	put32le(h + 8, caplen);
	put32le(h + 12, wirelen);
	if (fwrite(h, 1, 16, out) != 16 || fwrite(frame, 1, caplen, out) != caplen)
		die("write: %s", strerror(errno));
	n_frames++;
	n_bytes += wirelen;
	n_captured += caplen;
}

static void count(enum cls c, enum dir d, uint32_t wirelen)
{
	cells[c][d].bytes += wirelen;
	cells[c][d].packets++;
}

static uint16_t ip_checksum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Builds Ethernet (+ tag) + IP + L4 of `wirelen` bytes into f. */
static void build_ip(uint8_t *f, uint32_t wirelen, const uint8_t dst_mac[6], const uint8_t src_mac[6], uint16_t vlan,
                     bool v6, const uint8_t *src_ip, const uint8_t *dst_ip, uint8_t proto, uint16_t sport,
                     uint16_t dport)
{
	uint32_t off = 12;

	memset(f, 0, wirelen);
	memcpy(f, dst_mac, 6);
	memcpy(f + 6, src_mac, 6);
	if (vlan) {
		put16(f + off, 0x8100);
		put16(f + off + 2, vlan);
		off += 4;
	}
	put16(f + off, v6 ? 0x86dd : 0x0800);
	off += 2;
	uint8_t *ip = f + off;
	uint32_t l4;
	if (v6) {
		uint32_t payload = wirelen - off - 40;
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)payload);
		ip[6] = proto;
		ip[7] = 64;
		memcpy(ip + 8, src_ip, 16);
		memcpy(ip + 24, dst_ip, 16);
		l4 = off + 40;
	} else {
		uint32_t total = wirelen - off;
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)total);
		put16(ip + 4, (uint16_t)n_frames);
		put16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, src_ip, 4);
		memcpy(ip + 16, dst_ip, 4);
		put16(ip + 10, ip_checksum(ip, 20));
		l4 = off + 20;
	}
	uint8_t *p = f + l4;
	switch (proto) {
	case 6:
		put16(p, sport);
		put16(p + 2, dport);
		put16(p + 4, (uint16_t)(n_frames >> 16));
		put16(p + 6, (uint16_t)n_frames);
		p[12] = 0x80; /* 32 bytes: with time stamps */
		p[13] = 0x10; /* ACK */
		put16(p + 14, 502);
		p[20] = 1, p[21] = 1, p[22] = 8, p[23] = 10; /* NOP, NOP, TS */
		put16(p + 26, (uint16_t)(ts_us >> 10));
		break;
	case 17:
		put16(p, sport);
		put16(p + 2, dport);
		put16(p + 4, (uint16_t)(wirelen - l4));
		break;
	default: p[0] = v6 ? 128 : 8; /* echo request */
	}
}

static void frame_remote(struct flow *fl)
{
	uint8_t f[FRAME_MAX];
	const struct vm *v = &vms[fl->vm];
	/* Downloads dominate: a VM receives more of the large frames. */
	enum dir d = rnd_n(100) < 45 ? TX : RX;
	bool data = fl->bulk ? rnd_n(100) < (d == RX ? 80 : 35) : rnd_n(100) < 25;
	uint32_t len = frame_len(data);
	const uint8_t *vm_ip = fl->v6 ? v->ip6 : v->ip4;
	uint32_t min = 14 + (fl->v6 ? 40 : 20) + (fl->proto == 6 ? 32 : 8);

	if (len < min)
		len = min;
	if (fl->vlan)
		len += 4;
	if (d == TX)
		build_ip(f, len, router_mac, v->mac[fl->nic], fl->vlan, fl->v6, vm_ip, fl->remote, fl->proto,
		         fl->vm_port, fl->remote_port);
	else
		build_ip(f, len, v->mac[fl->nic], router_mac, fl->vlan, fl->v6, fl->remote, vm_ip, fl->proto,
		         fl->remote_port, fl->vm_port);
	write_frame(f, len);
	count(fl->cls, d, len);
}

static void frame_vm_vm(struct flow *fl)
{
	uint8_t f[FRAME_MAX];
	const struct vm *a = &vms[fl->vm], *b = &vms[fl->peer];
	bool ab = rnd_n(2) == 0;
	const struct vm *s = ab ? a : b, *r = ab ? b : a;
	const uint8_t *smac = ab ? a->mac[fl->nic] : b->mac[fl->peer_nic];
	const uint8_t *rmac = ab ? b->mac[fl->peer_nic] : a->mac[fl->nic];
	uint32_t len = frame_len(rnd_n(100) < (fl->bulk ? 60 : 25));
	uint32_t min = 14 + (fl->v6 ? 40 : 20) + (fl->proto == 6 ? 32 : 8);

	if (len < min)
		len = min;
	if (fl->vlan)
		len += 4;
	build_ip(f, len, rmac, smac, fl->vlan, fl->v6, fl->v6 ? s->ip6 : s->ip4, fl->v6 ? r->ip6 : r->ip4, fl->proto,
	         ab ? fl->vm_port : fl->remote_port, ab ? fl->remote_port : fl->vm_port);
	write_frame(f, len);
	/* The sender's tx and the receiver's rx, both internal. */
	count(C_INTERNAL, TX, len);
	count(C_INTERNAL, RX, len);
}

static void frame_hosts(struct flow *fl)
{
	uint8_t f[FRAME_MAX];
	bool ab = rnd_n(2) == 0;
	uint32_t len = frame_len(rnd_n(100) < 60);

	if (len < 66)
		len = 66;
	build_ip(f, len, host_mac[ab], host_mac[!ab], 0, false, host_ip4[!ab], host_ip4[ab], fl->proto, fl->vm_port,
	         2049);
	write_frame(f, len);
	unattributed.bytes += len;
	unattributed.packets++;
}

/* An ARP request from a VM (broadcast: its tx only) or the router's reply
 * to it (its rx). */
static void frame_arp(void)
{
	uint8_t f[60] = {0};
	unsigned i = rnd_n(n_vms);
	const struct vm *v = &vms[i];
	bool request = rnd_n(2) == 0;
	static const uint8_t gw_ip[4] = {10, 64, 255, 254};

	memcpy(f, request ? bcast_mac : v->mac[0], 6);
	memcpy(f + 6, request ? v->mac[0] : router_mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);
	put16(f + 16, 0x0800);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, request ? 1 : 2);
	memcpy(f + 22, request ? v->mac[0] : router_mac, 6);
	memcpy(f + 28, request ? v->ip4 : gw_ip, 4);
	memcpy(f + 32, request ? bcast_mac : v->mac[0], 6);
	memcpy(f + 38, request ? gw_ip : v->ip4, 4);
	write_frame(f, 60);
	count(C_NON_IP, request ? TX : RX, 60);
}

/* FILE.setup: the input of vmeter-bench-classify and of the script's
 * pmacctd configuration.  Lines:
 *   default NAME
 *   class NAME PREFIX
 *   vm ID MAC
 *   expect CLASS rx|tx BYTES PACKETS      (only the non-zero ones)
 *   unattributed BYTES PACKETS
 *   frames N bytes WIRE_BYTES captured CAPTURED_BYTES snaplen S seed S */
static void write_setup(const char *path, uint64_t seed)
{
	FILE *s = fopen(path, "w");

	if (!s)
		die("cannot write '%s': %s", path, strerror(errno));
	fprintf(s, "default %s\n", cls_name[C_INTERNET]);
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		fprintf(s, "class %s %s\n", cls_name[prefixes[i].cls], prefixes[i].prefix);
	for (unsigned i = 0; i < n_vms; i++)
		for (unsigned k = 0; k < vms[i].n_nics; k++) {
			const uint8_t *m = vms[i].mac[k];
			fprintf(s, "vm %u %02x:%02x:%02x:%02x:%02x:%02x\n", i, m[0], m[1], m[2], m[3], m[4], m[5]);
		}
	for (int c = 0; c < N_CLS; c++)
		for (int d = 0; d < 2; d++)
			if (cells[c][d].packets)
				fprintf(s, "expect %s %s %" PRIu64 " %" PRIu64 "\n", cls_name[c], d == TX ? "tx" : "rx",
				        cells[c][d].bytes, cells[c][d].packets);
	fprintf(s, "unattributed %" PRIu64 " %" PRIu64 "\n", unattributed.bytes, unattributed.packets);
	fprintf(s, "frames %" PRIu64 " bytes %" PRIu64 " captured %" PRIu64 " snaplen %u seed %" PRIu64 "\n", n_frames,
	        n_bytes, n_captured, snaplen, seed);
	if (fclose(s) != 0)
		die("cannot write '%s': %s", path, strerror(errno));
}

static unsigned long long arg(char **argv, int argc, int i, unsigned long long dflt, unsigned long long max)
{
	char *end;

	if (argc <= i)
		return dflt;
	errno = 0;
	unsigned long long v = strtoull(argv[i], &end, 10);
	if (errno || *end || end == argv[i] || v > max)
		die("bad argument '%s'", argv[i]);
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 6)
		die("usage: vmeter-bench-gen-pcap FILE [FRAMES [VMS [SNAPLEN [SEED]]]]");
	const char *path = argv[1];
	uint64_t frames = arg(argv, argc, 2, 10000000, UINT64_MAX);
	unsigned vm_count = (unsigned)arg(argv, argc, 3, 400, 30000);
	snaplen = (uint32_t)arg(argv, argc, 4, 128, 65535);
	uint64_t seed = arg(argv, argc, 5, 1, UINT64_MAX);
	char tmp[4096], setup[4096];

	if (vm_count < 2)
		die("at least 2 VMs");
	if (snaplen && snaplen < 64)
		die("a snaplen below 64 cuts the IP headers");
	rng_state = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
	make_vms(vm_count);
	make_flows();

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	snprintf(setup, sizeof setup, "%s.setup", path);
	if (!(out = fopen(tmp, "w")))
		die("cannot write '%s': %s", tmp, strerror(errno));
	static char buf[1 << 20];
	setvbuf(out, buf, _IOFBF, sizeof buf);
	uint8_t gh[24];
	put32le(gh, 0xa1b2c3d4u);
	gh[4] = 2, gh[5] = 0, gh[6] = 4, gh[7] = 0; /* version 2.4, little-endian */
	put32le(gh + 8, 0);
	put32le(gh + 12, 0);
	put32le(gh + 16, snaplen ? snaplen : 65535);
	put32le(gh + 20, 1); /* DLT_EN10MB */
	if (fwrite(gh, 1, sizeof gh, out) != sizeof gh)
		die("write: %s", strerror(errno));

	while (n_frames < frames) {
		if (rnd_n(1000) < 5) {
			frame_arp();
			continue;
		}
		struct flow *fl = pick_flow();
		switch (fl->kind) {
		case K_REMOTE: frame_remote(fl); break;
		case K_VM_VM: frame_vm_vm(fl); break;
		case K_HOSTS: frame_hosts(fl); break;
		}
	}
	if (fclose(out) != 0)
		die("write '%s': %s", tmp, strerror(errno));
	write_setup(setup, seed);
	if (rename(tmp, path) != 0)
		die("rename '%s': %s", tmp, strerror(errno));
	printf("%s: %" PRIu64 " frames, %" PRIu64 " bytes on the wire, %" PRIu64 " captured (snaplen %u), %u VMs\n",
	       path, n_frames, n_bytes, n_captured, snaplen, n_vms);
	return 0;
}
