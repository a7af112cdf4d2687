/* Traffic capture of the VMs' interfaces, counted per VM slot, traffic
 * class and direction, for the collector's per-interval rows.
 *
 * The packets are read by a worker process (collector/capture_worker.c):
 * vmeter-collector exec'd anew with `--capture-worker FD`, so it holds
 * none of the collector's memory.  It opens one libpcap handle on "any"
 * with CAP_NET_RAW, drops to capture.user with no capabilities, and counts
 * the frames of the interfaces it is given, which a kernel filter picks.
 * This module is the collector's side: it starts the worker, tells it the
 * interfaces and the traffic classes, and collects the counts at each
 * flush.  If the worker dies or hangs, it is killed and restarted with
 * back-off, and the intervals it missed say so (complete, uncovered_ns).
 * Everything runs on the caller's thread; not thread-safe.
 * docs/internals/capture.md has the design and the protocol. */
#ifndef COL_CAPTURE_H
#define COL_CAPTURE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "netclass.h"
#include "pktclass.h"

struct event_base;
struct vm_conf;

/* Interfaces in a set, and slots (the caller's dense VM ids) below this. */
#define COL_CAPTURE_MAX_IFACES 2048
#define COL_CAPTURE_MAX_SLOTS VM_PKT_MAX_VMS
/* How long a flush waits for the worker's answer. */
#define COL_CAPTURE_FLUSH_TIMEOUT_MS 1000

/* One interface to capture on: the host end of a VM's NIC (the domain
 * XML's <target dev>), counted for `slot`.  A VM with several NICs has
 * several entries with its slot. */
struct col_capture_iface {
	uint32_t slot;
	char name[IF_NAMESIZE];
};

/* What the worker made of an entry: the interface index it captures on,
 * 0 if no such interface exists (reported, not an error: a VM starting
 * or stopping). */
struct col_capture_ifstate {
	uint32_t slot;
	uint32_t ifindex;
	char name[IF_NAMESIZE];
};

/* One non-zero count of an interval.  Classes by name: ids change with
 * the configuration, names carry across a reload. */
struct col_capture_cell {
	uint32_t slot;
	enum vm_pkt_dir dir; /* the VM's: rx received, tx sent */
	char class_name[VM_NETCLASS_NAME_MAX + 1];
	uint64_t bytes; /* Ethernet frame lengths (docs/internals/capture.md) */
	uint64_t packets;
};

struct col_capture_stats {
	uint64_t ps_recv;   /* frames the kernel filter passed (pcap_stats) */
	uint64_t ps_drop;   /* of those, lost for want of ring space */
	uint64_t ps_ifdrop; /* dropped by interfaces (0 on "any") */
	uint64_t frames;    /* counted */
	uint64_t verdicts[VM_PKT_N_VERDICTS];
	uint64_t foreign;   /* taken but of no interface in the set (set changes) */
	bool kernel_filter; /* at the end: the kernel filters (else user space) */
	uint32_t filter_insns;
};

/* The counts of one interval, (from_ns, to_ns] in UTC nanoseconds: from
 * the previous flush (or the start) to this one. */
struct col_capture_interval {
	int64_t from_ns, to_ns;
	/* A worker captured through the whole interval and answered: the
	 * counts are all there were, up to ps_drop. */
	bool complete;
	/* Of the interval, how long no worker captured (or whose counts died
	 * with a worker): 0 if complete, to - from if none answered. */
	int64_t uncovered_ns;
	unsigned worker_exits; /* workers that died or were killed in it */
	struct col_capture_stats stats;
	struct col_capture_cell *cells; /* sorted by slot, class name, dir; owned */
	size_t n_cells;
};

struct col_capture;

/* Starts the capture worker with the traffic classes and capture options
 * of `conf` (read now, not kept) and an empty interface set.  With a
 * `base`, the worker's messages are read and restarts happen on that loop;
 * without, only inside the calls below (and col_capture_service()).
 * Returns the capture, or NULL with the reason in err if no process could
 * be started (a worker that fails later is restarted, and logged).  Free
 * with col_capture_stop(). */
struct col_capture *col_capture_start(const struct vm_conf *conf, struct event_base *base, char *err, size_t errsize);

/* Ends the worker (its counts since the last flush are dropped: flush
 * first) and frees everything.  NULL is fine. */
void col_capture_stop(struct col_capture *cap);

/* Replaces the interface set with ifs[0..n) (copied).  The worker resolves
 * the names, filters on them, and resolves them again at every flush, so a
 * VM that restarts under the same name is followed.  Returns 0, -E2BIG
 * above COL_CAPTURE_MAX_IFACES, -EINVAL for a slot out of range or an
 * empty or unterminated name. */
int col_capture_set_interfaces(struct col_capture *cap, const struct col_capture_iface *ifs, size_t n);

/* A configuration reload: the new traffic classes go to the worker; counts
 * so far stay with the classes they were counted in (cells of one
 * interval may name both old and new classes).  The capture options take
 * effect when the worker is next started. */
void col_capture_set_conf(struct col_capture *cap, const struct vm_conf *conf);

/* Collects the counts since the last flush into *iv, which the caller
 * releases with col_capture_interval_release().  Waits up to
 * COL_CAPTURE_FLUSH_TIMEOUT_MS for the worker (a worker that does not
 * answer is killed and restarted).  Frames reach a flush up to 100 ms
 * late (the kernel's ring block timeout); none is counted twice or
 * dropped by a flush.  Returns 0, also for an incomplete interval. */
int col_capture_flush(struct col_capture *cap, struct col_capture_interval *iv);
void col_capture_interval_release(struct col_capture_interval *iv);

/* The worker's view of the interface set, as of its last report (borrowed
 * until the next call into this module).  Returns the number of entries. */
size_t col_capture_ifstate(const struct col_capture *cap, const struct col_capture_ifstate **st);

/* The worker's process id, or 0 if none runs now. */
pid_t col_capture_worker_pid(const struct col_capture *cap);

/* Without an event base: reads what the worker sent and restarts it if
 * due.  Never blocks. */
void col_capture_service(struct col_capture *cap);

/* The worker's main(), for `vmeter-collector --capture-worker FD`; the
 * descriptor is the worker's end of the socket pair.  Returns the exit
 * code (or does not return). */
int col_capture_worker_main(const char *fd_arg);

#endif
