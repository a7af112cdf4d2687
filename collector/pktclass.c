#include "config.h"

#include "pktclass.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define ETH_HLEN VM_PKT_ETH_HLEN
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_IPV6 0x86dd
#define IPV4_HLEN 20
#define IPV6_HLEN 40

/* IPv6 extension headers (RFC 8200 4.1, RFC 4302) and the two that end
 * the walk without being one. */
#define IP6_HOPOPTS 0
#define IP6_ROUTING 43
#define IP6_FRAGMENT 44
#define IP6_ESP 50
#define IP6_AH 51
#define IP6_NONE 59
#define IP6_DSTOPTS 60

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline bool is_vlan_tpid(uint16_t t)
{
	/* 0x9100: the pre-standard QinQ outer tag, still in use. */
	return t == 0x8100 || t == 0x88a8 || t == 0x9100;
}

/* The header that ends at `end` must be on the wire (else the frame is
 * MALFORMED) and in the capture (else TRUNCATED).  -1: it is there. */
static inline int need(uint64_t end, uint32_t caplen, uint32_t wirelen)
{
	if (end > wirelen)
		return VM_PKT_MALFORMED;
	if (end > caplen)
		return VM_PKT_TRUNCATED;
	return -1;
}

static enum vm_pkt_verdict parse_ipv4(const uint8_t *f, uint32_t caplen, uint32_t wirelen, struct vm_pkt_info *info)
{
	const uint32_t l3 = info->l3_offset;
	const uint8_t *ip = f + l3;
	int v = need((uint64_t)l3 + IPV4_HLEN, caplen, wirelen);

	if (v >= 0)
		return v;
	uint32_t ihl = (ip[0] & 0x0f) * 4u;
	uint32_t total = rd16(ip + 2);
	uint32_t avail = wirelen - l3;

	/* 0: the packet is larger than the field holds (a Linux BIG TCP GSO
	 * packet as capture sees it); it runs to the end of the frame. */
	if (total == 0)
		total = avail;
	/* Ethernet pads short packets: the frame may be longer, never shorter. */
	if (ip[0] >> 4 != 4 || ihl < IPV4_HLEN || total < ihl || total > avail)
		return VM_PKT_MALFORMED;
	memcpy(info->src_ip, ip + 12, 4);
	memcpy(info->dst_ip, ip + 16, 4);
	info->l4_proto = ip[9];

	uint16_t frag = rd16(ip + 6);
	info->frag_more = (frag & 0x2000) != 0;
	info->frag_offset = (frag & 0x1fffu) * 8u;
	if (info->frag_more || info->frag_offset) {
		info->flags |= VM_PKT_F_FRAGMENT;
		info->frag_id = rd16(ip + 4);
	}
	/* A non-first fragment carries no L4 header. */
	if (info->frag_offset == 0) {
		info->l4_offset = l3 + ihl;
		if (info->l4_offset >= caplen)
			info->flags |= VM_PKT_F_L4_CUT;
	}
	return VM_PKT_OK;
}

/* Walks the extension headers from `off` to the payload's end `end`,
 * within the capture.  The addresses are read already: a chain cut by the
 * capture or too long only leaves the L4 protocol unknown, while one that
 * breaks the rules of the packet as sent makes it MALFORMED. */
static enum vm_pkt_verdict walk_ipv6(const uint8_t *f, uint32_t caplen, uint64_t off, uint64_t end, uint8_t nh,
                                     struct vm_pkt_info *info)
{
	for (;;) {
		uint64_t hlen;

		switch (nh) {
		case IP6_HOPOPTS:
			/* Only straight after the IPv6 header (RFC 8200 4.1). */
			if (info->n_ext_hdrs > 0)
				return VM_PKT_MALFORMED;
			break;
		case IP6_ROUTING:
		case IP6_FRAGMENT:
		case IP6_AH:
		case IP6_DSTOPTS: break;
		default:
			/* An upper layer, ESP (opaque) or no next header. */
			info->l4_proto = nh;
			info->l4_offset = (uint32_t)off;
			if (off >= caplen)
				info->flags |= VM_PKT_F_L4_CUT;
			return VM_PKT_OK;
		}
		if (info->n_ext_hdrs == VM_PKT_MAX_EXT_HDRS) {
			info->flags |= VM_PKT_F_EXT_LIMIT;
			return VM_PKT_OK;
		}
		if (off + 2 > end)
			return VM_PKT_MALFORMED;
		if (off + 2 > caplen) {
			info->flags |= VM_PKT_F_L4_CUT;
			return VM_PKT_OK;
		}
		if (nh == IP6_FRAGMENT)
			hlen = 8;
		else if (nh == IP6_AH)
			hlen = ((uint64_t)f[off + 1] + 2) * 4;
		else
			hlen = ((uint64_t)f[off + 1] + 1) * 8;
		if (off + hlen > end)
			return VM_PKT_MALFORMED;
		info->ext_hdrs[info->n_ext_hdrs++] = nh;
		if (nh == IP6_FRAGMENT) {
			if (off + 8 > caplen) {
				info->flags |= VM_PKT_F_L4_CUT;
				return VM_PKT_OK;
			}
			uint16_t fo = rd16(f + off + 2);
			info->flags |= VM_PKT_F_FRAGMENT;
			info->frag_offset = fo & 0xfff8u;
			info->frag_more = (fo & 1) != 0;
			info->frag_id = rd32(f + off + 4);
			/* What follows a non-first fragment header is data. */
			if (info->frag_offset) {
				info->l4_proto = f[off];
				return VM_PKT_OK;
			}
		}
		nh = f[off];
		off += hlen;
	}
}

static enum vm_pkt_verdict parse_ipv6(const uint8_t *f, uint32_t caplen, uint32_t wirelen, struct vm_pkt_info *info)
{
	const uint32_t l3 = info->l3_offset;
	const uint8_t *ip = f + l3;
	int v = need((uint64_t)l3 + IPV6_HLEN, caplen, wirelen);

	if (v >= 0)
		return v;
	uint32_t payload = rd16(ip + 4);
	uint32_t avail = wirelen - l3 - IPV6_HLEN;

	/* 0: a jumbogram or a BIG TCP GSO packet, to the end of the frame. */
	if (payload == 0)
		payload = avail;
	if (ip[0] >> 4 != 6 || payload > avail)
		return VM_PKT_MALFORMED;
	memcpy(info->src_ip, ip + 8, 16);
	memcpy(info->dst_ip, ip + 24, 16);
	return walk_ipv6(f, caplen, (uint64_t)l3 + IPV6_HLEN, (uint64_t)l3 + IPV6_HLEN + payload, ip[6], info);
}

/* From the EtherType field that ends at `type_end` (its value `type`) on:
 * the VLAN tags, then the network layer.  A tag is read as it follows a
 * TPID: 2 bytes of TCI, then the next EtherType. */
static enum vm_pkt_verdict parse_from_type(const uint8_t *f, uint32_t type_end, uint16_t type, uint32_t caplen,
                                           uint32_t wirelen, struct vm_pkt_info *info)
{
	int v;

	while (is_vlan_tpid(type)) {
		if (info->n_vlans == VM_PKT_MAX_VLANS) {
			info->ethertype = type;
			info->l3 = VM_PKT_L3_OTHER;
			return VM_PKT_NON_IP;
		}
		if ((v = need((uint64_t)type_end + 4, caplen, wirelen)) >= 0)
			return v;
		info->vlan_tpid[info->n_vlans] = type;
		info->vlan_tci[info->n_vlans] = rd16(f + type_end);
		info->n_vlans++;
		type = rd16(f + type_end + 2);
		type_end += 4;
	}
	info->ethertype = type;
	info->l3_offset = type_end;
	switch (type) {
	case ETHERTYPE_IPV4: info->l3 = VM_PKT_L3_IPV4; return parse_ipv4(f, caplen, wirelen, info);
	case ETHERTYPE_IPV6: info->l3 = VM_PKT_L3_IPV6; return parse_ipv6(f, caplen, wirelen, info);
	case ETHERTYPE_ARP: info->l3 = VM_PKT_L3_ARP; return VM_PKT_NON_IP;
	default: info->l3 = VM_PKT_L3_OTHER; return VM_PKT_NON_IP;
	}
}

static void info_init(struct vm_pkt_info *info)
{
	memset(info, 0, sizeof *info);
	info->l4_proto = -1;
}

enum vm_pkt_verdict vm_pkt_parse(const uint8_t *f, uint32_t caplen, uint32_t wirelen, struct vm_pkt_info *info)
{
	int v;

	info_init(info);
	if (caplen > wirelen)
		return VM_PKT_MALFORMED;
	if (caplen >= 12) {
		memcpy(info->dst_mac, f, 6);
		memcpy(info->src_mac, f + 6, 6);
		info->flags |= VM_PKT_F_MACS;
	}
	if ((v = need(ETH_HLEN, caplen, wirelen)) >= 0)
		return v;
	return parse_from_type(f, ETH_HLEN, rd16(f + 12), caplen, wirelen, info);
}

enum vm_pkt_verdict vm_pkt_parse_l3(uint16_t ethertype, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                                    struct vm_pkt_info *info)
{
	info_init(info);
	if (caplen > wirelen)
		return VM_PKT_MALFORMED;
	return parse_from_type(data, 0, ethertype, caplen, wirelen, info);
}

const char *vm_pkt_verdict_name(enum vm_pkt_verdict v)
{
	switch (v) {
	case VM_PKT_OK: return "ok";
	case VM_PKT_TRUNCATED: return "truncated";
	case VM_PKT_MALFORMED: return "malformed";
	case VM_PKT_NON_IP: return "non-ip";
	}
	return "?";
}

unsigned vm_pkt_class(const struct vm_netclass *nc, enum vm_pkt_verdict v, const struct vm_pkt_info *info,
                      enum vm_pkt_dir dir)
{
	const uint8_t *remote = dir == VM_PKT_TX ? info->dst_ip : info->src_ip;

	switch (v) {
	case VM_PKT_OK:
		return info->l3 == VM_PKT_L3_IPV4 ? vm_netclass_lookup4(nc, remote) : vm_netclass_lookup6(nc, remote);
	case VM_PKT_NON_IP: return VM_NETCLASS_NON_IP;
	case VM_PKT_TRUNCATED:
	case VM_PKT_MALFORMED: break;
	}
	return VM_NETCLASS_MALFORMED;
}

/* ---------------------------------------------------------------- counter */

/* The MAC map: open addressing with linear probing over a power-of-two
 * table at most half full, keys are the 48-bit MAC as a number. */
#define MAC_EMPTY UINT64_MAX
#define MAC_MIN_SLOTS 64

struct mac_slot {
	uint64_t key;
	uint32_t vm;
};

struct vm_pkt_counter {
	const struct vm_netclass *nc;
	unsigned n_cls;
	uint32_t max_vms;
	uint32_t tap_vm;
	struct vm_pkt_count *cells; /* [vm][class][dir] */
	struct vm_pkt_stats stats;
	struct mac_slot *slots;
	size_t n_slots; /* a power of two */
	unsigned shift; /* 64 - log2(n_slots) */
	size_t n_macs;
};

static inline uint64_t mac_key(const uint8_t mac[6])
{
	return (uint64_t)mac[0] << 40 | (uint64_t)mac[1] << 32 | (uint64_t)mac[2] << 24 | (uint64_t)mac[3] << 16 |
	       (uint64_t)mac[4] << 8 | mac[5];
}

/* Fibonacci hashing: the multiply spreads the few bits in which the MACs
 * of one host differ (52:54:00:xx:xx:xx) over the top bits used. */
static inline size_t mac_home(const struct vm_pkt_counter *c, uint64_t key)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> c->shift);
}

static struct mac_slot *mac_find(const struct vm_pkt_counter *c, uint64_t key)
{
	size_t mask = c->n_slots - 1;

	for (size_t i = mac_home(c, key);; i = (i + 1) & mask) {
		if (c->slots[i].key == key)
			return &c->slots[i];
		if (c->slots[i].key == MAC_EMPTY)
			return NULL;
	}
}

static void mac_alloc(struct vm_pkt_counter *c, size_t n_slots)
{
	unsigned log2 = 0;

	while (((size_t)1 << log2) < n_slots)
		log2++;
	c->n_slots = (size_t)1 << log2;
	c->shift = 64 - log2;
	c->slots = vm_xmalloc(c->n_slots * sizeof *c->slots);
	for (size_t i = 0; i < c->n_slots; i++)
		c->slots[i].key = MAC_EMPTY;
}

static void mac_insert(struct vm_pkt_counter *c, uint64_t key, uint32_t vm)
{
	size_t mask = c->n_slots - 1, i = mac_home(c, key);

	while (c->slots[i].key != MAC_EMPTY)
		i = (i + 1) & mask;
	c->slots[i].key = key;
	c->slots[i].vm = vm;
}

struct vm_pkt_counter *vm_pkt_counter_new(const struct vm_netclass *nc, uint32_t max_vms)
{
	struct vm_pkt_counter *c = vm_xcalloc(1, sizeof *c);

	if (max_vms > VM_PKT_MAX_VMS)
		max_vms = VM_PKT_MAX_VMS;
	c->nc = nc;
	c->n_cls = vm_netclass_count(nc);
	c->max_vms = max_vms;
	c->tap_vm = VM_PKT_NO_VM;
	c->cells = vm_xcalloc((size_t)max_vms * c->n_cls * 2, sizeof *c->cells);
	mac_alloc(c, MAC_MIN_SLOTS);
	return c;
}

void vm_pkt_counter_free(struct vm_pkt_counter *c)
{
	if (!c)
		return;
	free(c->cells);
	free(c->slots);
	free(c);
}

int vm_pkt_counter_map_mac(struct vm_pkt_counter *c, const uint8_t mac[6], uint32_t vm)
{
	uint64_t key = mac_key(mac);
	struct mac_slot *s;

	/* A group address is every VM's and no VM's. */
	if ((mac[0] & 1) || vm >= c->max_vms)
		return -EINVAL;
	if ((s = mac_find(c, key)))
		return s->vm == vm ? 0 : -EEXIST;
	if (c->n_macs >= VM_PKT_MAX_MACS)
		return -ENOSPC;
	if (2 * (c->n_macs + 1) > c->n_slots) {
		struct mac_slot *old = c->slots;
		size_t n_old = c->n_slots;

		mac_alloc(c, 2 * n_old);
		for (size_t i = 0; i < n_old; i++)
			if (old[i].key != MAC_EMPTY)
				mac_insert(c, old[i].key, old[i].vm);
		free(old);
	}
	mac_insert(c, key, vm);
	c->n_macs++;
	return 0;
}

int vm_pkt_counter_unmap_mac(struct vm_pkt_counter *c, const uint8_t mac[6])
{
	struct mac_slot *s = mac_find(c, mac_key(mac));
	size_t mask = c->n_slots - 1;

	if (!s)
		return -ENOENT;
	/* Backward-shift deletion: move up every later entry of the run that
	 * may sit in the hole, so that lookups need no tombstones. */
	size_t hole = (size_t)(s - c->slots);
	for (size_t i = (hole + 1) & mask; c->slots[i].key != MAC_EMPTY; i = (i + 1) & mask) {
		size_t home = mac_home(c, c->slots[i].key);
		/* The entry may move into the hole if its home is not within
		 * (hole, i], cyclically. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			c->slots[hole] = c->slots[i];
			hole = i;
		}
	}
	c->slots[hole].key = MAC_EMPTY;
	c->n_macs--;
	return 0;
}

uint32_t vm_pkt_counter_mac_vm(const struct vm_pkt_counter *c, const uint8_t mac[6])
{
	const struct mac_slot *s = mac_find(c, mac_key(mac));
	return s ? s->vm : VM_PKT_NO_VM;
}

size_t vm_pkt_counter_n_macs(const struct vm_pkt_counter *c)
{
	return c->n_macs;
}

void vm_pkt_counter_set_tap(struct vm_pkt_counter *c, uint32_t vm)
{
	c->tap_vm = vm < c->max_vms ? vm : VM_PKT_NO_VM;
}

static inline void count_add(struct vm_pkt_counter *c, uint32_t vm, enum vm_pkt_dir dir, unsigned cls, uint64_t wirelen)
{
	struct vm_pkt_count *cell = &c->cells[((size_t)vm * c->n_cls + cls) * 2 + dir];

	cell->bytes += wirelen;
	cell->packets++;
}

enum vm_pkt_verdict vm_pkt_account(struct vm_pkt_counter *c, const uint8_t *frame, uint32_t caplen, uint32_t wirelen)
{
	struct vm_pkt_info info;
	enum vm_pkt_verdict v = vm_pkt_parse(frame, caplen, wirelen, &info);
	uint32_t src = VM_PKT_NO_VM, dst = VM_PKT_NO_VM;

	c->stats.frames++;
	c->stats.verdicts[v]++;
	if (info.flags & VM_PKT_F_MACS) {
		src = vm_pkt_counter_mac_vm(c, info.src_mac);
		/* Broadcast and multicast reach many VMs, or none: a bridge
		 * capture cannot tell which. */
		if (c->tap_vm == VM_PKT_NO_VM && !(info.dst_mac[0] & 1))
			dst = vm_pkt_counter_mac_vm(c, info.dst_mac);
	}
	if (c->tap_vm != VM_PKT_NO_VM) {
		enum vm_pkt_dir dir = src == c->tap_vm ? VM_PKT_TX : VM_PKT_RX;
		count_add(c, c->tap_vm, dir, vm_pkt_class(c->nc, v, &info, dir), wirelen);
		return v;
	}
	if (src == VM_PKT_NO_VM && dst == VM_PKT_NO_VM) {
		c->stats.unattributed.bytes += wirelen;
		c->stats.unattributed.packets++;
		return v;
	}
	if (src != VM_PKT_NO_VM)
		count_add(c, src, VM_PKT_TX, vm_pkt_class(c->nc, v, &info, VM_PKT_TX), wirelen);
	if (dst != VM_PKT_NO_VM)
		count_add(c, dst, VM_PKT_RX, vm_pkt_class(c->nc, v, &info, VM_PKT_RX), wirelen);
	return v;
}

/* Counts a parsed frame of `bytes` for `vm` in `dir`, or as unattributed. */
static void account_parsed(struct vm_pkt_counter *c, uint32_t vm, enum vm_pkt_dir dir, enum vm_pkt_verdict v,
                           const struct vm_pkt_info *info, uint64_t bytes)
{
	c->stats.frames++;
	c->stats.verdicts[v]++;
	if (vm >= c->max_vms || (dir != VM_PKT_RX && dir != VM_PKT_TX)) {
		c->stats.unattributed.bytes += bytes;
		c->stats.unattributed.packets++;
		return;
	}
	count_add(c, vm, dir, vm_pkt_class(c->nc, v, info, dir), bytes);
}

enum vm_pkt_verdict vm_pkt_account_vm(struct vm_pkt_counter *c, uint32_t vm, enum vm_pkt_dir dir, const uint8_t *frame,
                                      uint32_t caplen, uint32_t wirelen)
{
	struct vm_pkt_info info;
	enum vm_pkt_verdict v = vm_pkt_parse(frame, caplen, wirelen, &info);

	account_parsed(c, vm, dir, v, &info, wirelen);
	return v;
}

enum vm_pkt_verdict vm_pkt_account_l3(struct vm_pkt_counter *c, uint32_t vm, enum vm_pkt_dir dir, uint16_t ethertype,
                                      const uint8_t *data, uint32_t caplen, uint32_t wirelen)
{
	struct vm_pkt_info info;
	enum vm_pkt_verdict v = vm_pkt_parse_l3(ethertype, data, caplen, wirelen, &info);

	/* The header's protocol field stands for the Ethernet type field: a
	 * tag left in the data is in wirelen already. */
	account_parsed(c, vm, dir, v, &info, (uint64_t)wirelen + VM_PKT_ETH_HLEN);
	return v;
}

struct vm_pkt_count vm_pkt_counter_get(const struct vm_pkt_counter *c, uint32_t vm, unsigned cls, enum vm_pkt_dir dir)
{
	struct vm_pkt_count zero = {0, 0};

	if (vm >= c->max_vms || cls >= c->n_cls || (dir != VM_PKT_RX && dir != VM_PKT_TX))
		return zero;
	return c->cells[((size_t)vm * c->n_cls + cls) * 2 + dir];
}

void vm_pkt_counter_stats(const struct vm_pkt_counter *c, struct vm_pkt_stats *st)
{
	*st = c->stats;
}

void vm_pkt_counter_reset(struct vm_pkt_counter *c)
{
	memset(c->cells, 0, (size_t)c->max_vms * c->n_cls * 2 * sizeof *c->cells);
	memset(&c->stats, 0, sizeof c->stats);
}
