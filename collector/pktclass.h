/* Captured Ethernet frames: parsing and per-VM accounting by traffic class.
 *
 * vm_pkt_parse() reads one frame as a capture hands it over (the bytes
 * captured, `caplen` of them, and the frame's length on the wire,
 * `wirelen`) and never reads a byte at or past caplen.  It needs no
 * libpcap: the capture code passes pcap's caplen and len through.
 *
 * A struct vm_pkt_counter adds frames up per VM, traffic class (lib/
 * netclass.h) and direction, without allocating or calling the system per
 * frame.  Which VM a frame belongs to comes from a MAC map (capture on a
 * bridge), from the capture itself (on a VM's tap, vm_pkt_counter_set_tap)
 * or from the caller (vm_pkt_account_vm).  Not thread-safe: one counter per
 * capture thread.  The rules (what counts as bytes, direction, broadcast,
 * which class a broken frame lands in) are in docs/internals/netclass.md. */
#ifndef COL_PKTCLASS_H
#define COL_PKTCLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netclass.h"

/* 802.1Q and 802.1ad (QinQ) tags read; a third makes the frame NON_IP. */
#define VM_PKT_MAX_VLANS 2
/* IPv6 extension headers walked before giving up on the L4 protocol. */
#define VM_PKT_MAX_EXT_HDRS 8
/* Limits of a counter. */
#define VM_PKT_MAX_VMS 65536
#define VM_PKT_MAX_MACS 65536
#define VM_PKT_NO_VM UINT32_MAX

enum vm_pkt_verdict {
	VM_PKT_OK,        /* IPv4 or IPv6 with both addresses read */
	VM_PKT_TRUNCATED, /* the capture ends before the headers needed */
	VM_PKT_MALFORMED, /* broken as sent: shorter than its headers, bad IP header */
	VM_PKT_NON_IP,    /* ARP, another EtherType, more than two VLAN tags */
};
#define VM_PKT_N_VERDICTS 4

enum vm_pkt_l3 {
	VM_PKT_L3_NONE, /* the EtherType was not reached */
	VM_PKT_L3_IPV4,
	VM_PKT_L3_IPV6,
	VM_PKT_L3_ARP,
	VM_PKT_L3_OTHER,
};

enum {
	VM_PKT_F_MACS = 1 << 0,      /* dst_mac and src_mac were captured */
	VM_PKT_F_FRAGMENT = 1 << 1,  /* a fragment of an IP packet */
	VM_PKT_F_L4_CUT = 1 << 2,    /* the capture ends before the L4 header */
	VM_PKT_F_EXT_LIMIT = 1 << 3, /* more than VM_PKT_MAX_EXT_HDRS: walk stopped */
};

/* What vm_pkt_parse() found.  Fields past the point where parsing stopped
 * are zero (l4_proto -1). */
struct vm_pkt_info {
	unsigned flags; /* VM_PKT_F_* */
	uint8_t dst_mac[6], src_mac[6];
	uint8_t n_vlans;
	uint16_t vlan_tpid[VM_PKT_MAX_VLANS]; /* outer first: 0x8100, 0x88a8, 0x9100 */
	uint16_t vlan_tci[VM_PKT_MAX_VLANS];  /* priority, DEI and VLAN id (low 12 bits) */
	uint16_t ethertype;                   /* after the tags; below 0x0600 an 802.3 length */
	enum vm_pkt_l3 l3;
	uint32_t l3_offset;
	/* IPv4 in the first 4 bytes, in network byte order. */
	uint8_t src_ip[16], dst_ip[16];
	/* The protocol after the IP header and its extension headers (6, 17,
	 * 58, 50 for ESP, 59 for none), -1 if not reached (the capture ends,
	 * or the limit).  Of a non-first fragment: the fragmented protocol. */
	int l4_proto;
	uint32_t l4_offset; /* where the L4 header starts; 0 in a non-first fragment */
	uint8_t n_ext_hdrs;
	uint8_t ext_hdrs[VM_PKT_MAX_EXT_HDRS]; /* IPv6 extension header types, in order */
	/* With VM_PKT_F_FRAGMENT: the offset in bytes, more to come, the id. */
	uint32_t frag_offset;
	bool frag_more;
	uint32_t frag_id;
};

/* Parses one frame (`frame` holds caplen bytes, the frame had wirelen on
 * the wire) into *info, which is overwritten.  caplen > wirelen is
 * MALFORMED.  OK and NON_IP frames may be cut by the capture after the
 * headers that decide them. */
enum vm_pkt_verdict vm_pkt_parse(const uint8_t *frame, uint32_t caplen, uint32_t wirelen, struct vm_pkt_info *info);

/* The Ethernet header's length (addresses and type; no FCS). */
#define VM_PKT_ETH_HLEN 14

/* Parses one frame given from its network layer on, as a Linux "cooked"
 * capture (DLT_LINUX_SLL2) hands it over: `ethertype` is the header's
 * protocol field, `data` holds caplen bytes of the wirelen that followed
 * it.  A VLAN tag left in the data follows a TPID as `ethertype` (2 bytes
 * of TCI, then the next EtherType), up to VM_PKT_MAX_VLANS in all.
 * Offsets in *info are from `data`; no MACs (VM_PKT_F_MACS clear).  The
 * verdicts and walks are vm_pkt_parse()'s. */
enum vm_pkt_verdict vm_pkt_parse_l3(uint16_t ethertype, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                                    struct vm_pkt_info *info);

/* "ok", "truncated", "malformed", "non-ip" */
const char *vm_pkt_verdict_name(enum vm_pkt_verdict v);

/* Direction from the VM's side. */
enum vm_pkt_dir {
	VM_PKT_RX = 0, /* to the VM */
	VM_PKT_TX = 1, /* from the VM */
};

struct vm_pkt_count {
	uint64_t bytes; /* wirelen summed (Ethernet frame lengths) */
	uint64_t packets;
};

struct vm_pkt_stats {
	uint64_t frames;                      /* handed to vm_pkt_account*() */
	uint64_t verdicts[VM_PKT_N_VERDICTS]; /* of those, per verdict */
	struct vm_pkt_count unattributed;     /* no VM on either side (bridge) */
};

struct vm_pkt_counter;

/* A counter for VM ids 0 .. max_vms - 1 (a larger max_vms is cut to
 * VM_PKT_MAX_VMS) and the classes of `nc`, which it borrows: nc must
 * outlive it, and a new table needs a new counter.  Starts in bridge mode
 * with an empty MAC map.  Free with vm_pkt_counter_free(). */
struct vm_pkt_counter *vm_pkt_counter_new(const struct vm_netclass *nc, uint32_t max_vms);
void vm_pkt_counter_free(struct vm_pkt_counter *c);

/* Maps a VM's (unicast) MAC to it.  Returns 0 (also if already mapped to
 * that VM), -EINVAL for a group MAC or a VM id out of range, -EEXIST if the
 * MAC belongs to another VM (unmap it first), -ENOSPC past
 * VM_PKT_MAX_MACS.  May allocate: not for the per-frame path. */
int vm_pkt_counter_map_mac(struct vm_pkt_counter *c, const uint8_t mac[6], uint32_t vm);
/* Returns 0, or -ENOENT if the MAC was not mapped. */
int vm_pkt_counter_unmap_mac(struct vm_pkt_counter *c, const uint8_t mac[6]);
/* The VM a MAC is mapped to, or VM_PKT_NO_VM. */
uint32_t vm_pkt_counter_mac_vm(const struct vm_pkt_counter *c, const uint8_t mac[6]);
size_t vm_pkt_counter_n_macs(const struct vm_pkt_counter *c);

/* Tap mode: every frame belongs to `vm` (< max_vms); one whose source MAC
 * maps to vm is its tx, any other its rx.  VM_PKT_NO_VM: bridge mode. */
void vm_pkt_counter_set_tap(struct vm_pkt_counter *c, uint32_t vm);

/* Parses and counts one frame by the counter's mode.  Bridge mode: counted
 * as tx of the VM its source MAC maps to and as rx of the VM its unicast
 * destination MAC maps to (both, between two VMs); a frame with neither is
 * unattributed.  Returns the verdict. */
enum vm_pkt_verdict vm_pkt_account(struct vm_pkt_counter *c, const uint8_t *frame, uint32_t caplen, uint32_t wirelen);
/* Counts one frame for `vm` in direction `dir` whatever its MACs, for a
 * capture that knows both (a tap with a direction filter).  A vm out of
 * range counts as unattributed. */
enum vm_pkt_verdict vm_pkt_account_vm(struct vm_pkt_counter *c, uint32_t vm, enum vm_pkt_dir dir, const uint8_t *frame,
                                      uint32_t caplen, uint32_t wirelen);

/* vm_pkt_account_vm() for a frame given from its network layer
 * (vm_pkt_parse_l3()).  Counts wirelen + VM_PKT_ETH_HLEN bytes: the
 * Ethernet frame's length, so that totals compare with the interface's
 * counters.  A tag left in the data is in wirelen; one the kernel carried
 * out of band (skb->vlan_tci) is in neither, and its 4 bytes are missed. */
enum vm_pkt_verdict vm_pkt_account_l3(struct vm_pkt_counter *c, uint32_t vm, enum vm_pkt_dir dir, uint16_t ethertype,
                                      const uint8_t *data, uint32_t caplen, uint32_t wirelen);

/* The class a parsed frame counts in, seen in direction `dir`: by verdict,
 * then by the remote address (destination for tx, source for rx). */
unsigned vm_pkt_class(const struct vm_netclass *nc, enum vm_pkt_verdict v, const struct vm_pkt_info *info,
                      enum vm_pkt_dir dir);

/* The count of one cell; zero for ids out of range. */
struct vm_pkt_count vm_pkt_counter_get(const struct vm_pkt_counter *c, uint32_t vm, unsigned cls, enum vm_pkt_dir dir);
void vm_pkt_counter_stats(const struct vm_pkt_counter *c, struct vm_pkt_stats *st);
/* Zeroes every count and the stats; keeps the MAC map and the mode. */
void vm_pkt_counter_reset(struct vm_pkt_counter *c);

#endif
