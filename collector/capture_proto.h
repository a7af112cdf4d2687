/* The messages between vmeter-collector and its capture worker.
 *
 * One SOCK_SEQPACKET socket pair: every send is one message, delivered
 * whole.  A message is a struct col_capmsg_hdr, then the fixed body of its
 * type, then `n` items of its type's item size; col_capmsg_check() is the
 * only parser and checks the version, the type, `n` against the type's
 * limit and the length against all three.  A message that fails it ends
 * the connection: the worker exits, the parent kills and restarts it.
 *
 * Lists longer than one message (interfaces, class rules, counts) go in
 * chunks: COL_CAPMSG_F_FIRST on the first, COL_CAPMSG_F_LAST on the last
 * (both on a single chunk); the receiver applies the list at the last.
 * All integers are in host byte order: both ends are one binary.
 * docs/internals/capture.md describes the exchange. */
#ifndef COL_CAPTURE_PROTO_H
#define COL_CAPTURE_PROTO_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "netclass.h"
#include "pktclass.h"

#define COL_CAPMSG_VERSION 1
/* The largest message; below the default socket buffers. */
#define COL_CAPMSG_MAX (64 * 1024)

enum col_capmsg_type {
	/* parent -> worker */
	COL_CAPMSG_CONFIG = 1, /* body col_capmsg_config; first message, once */
	COL_CAPMSG_IFACES,     /* items col_capmsg_iface; chunks; the new set */
	COL_CAPMSG_CLASSES,    /* body col_capmsg_classes, items col_capmsg_rule; chunks */
	COL_CAPMSG_FLUSH,      /* seq: send the counts */
	/* worker -> parent */
	COL_CAPMSG_READY,   /* body col_capmsg_ready: capture open, privileges gone */
	COL_CAPMSG_LOG,     /* body col_capmsg_log */
	COL_CAPMSG_IFSTATE, /* items col_capmsg_ifstate; chunks; what the set resolved to */
	COL_CAPMSG_COUNTS,  /* body col_capmsg_stats, items col_capmsg_cell; chunks */
	COL_CAPMSG_N_TYPES,
};

enum {
	COL_CAPMSG_F_FIRST = 1 << 0,
	COL_CAPMSG_F_LAST = 1 << 1,
};

struct col_capmsg_hdr {
	uint16_t version;
	uint16_t type;
	uint32_t len;   /* of the whole message */
	uint64_t seq;   /* FLUSH and its COUNTS: the flush's number; else 0 */
	uint32_t flags; /* COL_CAPMSG_F_* */
	uint32_t n;     /* items after the body */
};

#define COL_CAPMSG_USER_MAX 32
#define COL_CAPMSG_PATH_MAX 1024

struct col_capmsg_config {
	uint32_t buffer_mb;
	uint32_t log_level;                       /* enum vm_log_level: what to send at all */
	char user[COL_CAPMSG_USER_MAX + 1];       /* "" for the default */
	char chroot_dir[COL_CAPMSG_PATH_MAX + 1]; /* "" for none */
};

struct col_capmsg_iface {
	uint32_t slot;
	char name[IF_NAMESIZE];
};

struct col_capmsg_classes {
	char default_name[VM_NETCLASS_NAME_MAX + 1];
};

struct col_capmsg_rule {
	char class_name[VM_NETCLASS_NAME_MAX + 1];
	char prefix[VM_NETCLASS_PREFIX_MAX + 1];
};

struct col_capmsg_ready {
	uint32_t pid, uid, gid;
	char pcap_version[128];
};

#define COL_CAPMSG_LOG_MAX 480
struct col_capmsg_log {
	uint32_t level; /* enum vm_log_level */
	char text[COL_CAPMSG_LOG_MAX];
};

struct col_capmsg_ifstate {
	uint32_t slot;
	uint32_t ifindex; /* 0: no such interface now */
	char name[IF_NAMESIZE];
};

/* Since the previous COUNTS: deltas. */
struct col_capmsg_stats {
	uint64_t ps_recv, ps_drop, ps_ifdrop; /* pcap_stats() */
	uint64_t frames;                      /* handed to the classifier */
	uint64_t verdicts[VM_PKT_N_VERDICTS];
	uint64_t foreign;       /* frames of an interface not (or no longer) in the set */
	uint32_t kernel_filter; /* 1: the kernel runs the filter now */
	uint32_t filter_insns;  /* its length in BPF instructions */
};

struct col_capmsg_cell {
	uint32_t slot;
	uint32_t dir; /* enum vm_pkt_dir */
	char class_name[VM_NETCLASS_NAME_MAX + 1];
	uint64_t bytes, packets;
};

/* Items per chunk, so that a message stays within COL_CAPMSG_MAX. */
#define COL_CAPMSG_CHUNK(item, body) ((COL_CAPMSG_MAX - sizeof(struct col_capmsg_hdr) - (body)) / sizeof(item))

/* Checks a received message of `len` bytes in `buf` (aligned for the
 * header).  Returns 0, or -1 with why in err. */
int col_capmsg_check(const void *buf, size_t len, char *err, size_t errsize);

/* Sends one message: the header is filled from type, seq, flags and n;
 * `body` (of the type's body size) and `items` (n of the type's item size)
 * follow.  Returns 0, or -errno (a send that blocks longer than the
 * socket's SO_SNDTIMEO fails with -EAGAIN). */
int col_capmsg_send(int fd, enum col_capmsg_type type, uint64_t seq, uint32_t flags, const void *body,
                    const void *items, uint32_t n);

/* The body of a checked message, and its items. */
const void *col_capmsg_body(const void *buf);
const void *col_capmsg_items(const void *buf);

#endif
