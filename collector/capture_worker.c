/* The capture worker: a process of its own, exec'd by collector/capture.c
 * as `vmeter-collector --capture-worker FD`, so that it holds none of the
 * collector's memory.  It opens one libpcap handle on "any" while it still
 * has CAP_NET_RAW, drops every privilege for good, then counts the frames
 * of the VMs' interfaces per slot, traffic class and direction until the
 * collector asks for them.  docs/internals/capture.md has the design. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <pcap/sll.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "capture.h"
#include "capture_proto.h"
#include "log.h"
#include "netclass.h"
#include "pktclass.h"
#include "xalloc.h"

/* Enough for the cooked header, two tags, IPv6 and a few extension
 * headers; the classifier needs no payload. */
#define W_SNAPLEN (SLL2_HDR_LEN + 236)
/* How long the kernel holds a part-filled ring block before handing it
 * over: counts reach a flush at most this late. */
#define W_TIMEOUT_MS 100
/* Accept value of the kernel filter: keep what the ring's snaplen keeps. */
#define W_ACCEPT 262144
/* Interfaces compared linearly at a leaf of the filter's search tree. */
#define W_LEAF 16

struct w_iface {
	uint32_t slot;
	uint32_t ifindex; /* 0: not there now */
	char name[IF_NAMESIZE];
};

/* ifindex -> slot, sorted by ifindex for bsearch on the per-frame path. */
struct w_map {
	uint32_t ifindex, slot;
};

struct worker {
	int sock;
	int ioctl_fd; /* for SIOCGIFINDEX */
	pcap_t *p;
	enum vm_log_level log_level;

	struct w_iface *ifs;
	size_t n_ifs;
	struct w_map *map;
	size_t n_map;
	uint32_t n_slots; /* the counter's size: highest slot + 1 */

	struct vm_netclass *nc;
	struct vm_pkt_counter *ctr;
	uint64_t foreign;
	struct pcap_stat last_ps;
	bool kernel_filter;
	uint32_t filter_insns;

	/* Lists arriving in chunks. */
	struct w_iface *new_ifs;
	size_t n_new_ifs, cap_new_ifs;
	bool in_ifs;
	struct vm_netclass_rule *new_rules;
	char (*new_rule_text)[2][VM_NETCLASS_PREFIX_MAX + 1];
	size_t n_new_rules, cap_new_rules, cap_new_text;
	char new_default[VM_NETCLASS_NAME_MAX + 1];
	bool in_classes;
};

/* ---------------------------------------------------------------- logging */

/* Logs through the collector, which owns the log; stderr if that fails. */
static void __attribute__((format(printf, 3, 4))) w_log(struct worker *w, enum vm_log_level level, const char *fmt, ...)
{
	struct col_capmsg_log m = {.level = (uint32_t)level};
	va_list ap;

	if (level > w->log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof m.text, fmt, ap);
	va_end(ap);
	if (w->sock < 0 || col_capmsg_send(w->sock, COL_CAPMSG_LOG, 0, 0, &m, NULL, 0) < 0)
		fprintf(stderr, "vmeter-collector[capture]: %s\n", m.text);
}

/* No atexit handlers: LeakSanitizer's would need ptrace, which a process
 * that changed its uid may not do to itself. */
static _Noreturn void w_exit(struct worker *w, int code)
{
	if (w->p)
		pcap_close(w->p);
	vm_pkt_counter_free(w->ctr);
	vm_netclass_free(w->nc);
	free(w->ifs);
	free(w->map);
	free(w->new_ifs);
	free(w->new_rules);
	free(w->new_rule_text);
	_exit(code);
}

/* ---------------------------------------------------------------- privileges */

static const struct passwd *w_user(struct worker *w, const char *name)
{
	const struct passwd *pw;

	if (name[0]) {
		if (!(pw = getpwnam(name)))
			w_log(w, VM_LOG_ERR, "capture: no user '%s' (capture.user)", name);
		return pw;
	}
	if ((pw = getpwnam("vmeter")))
		return pw;
	/* 'nobody' is shared with whatever else runs as it: say so, so that
	 * an operator knows to create 'vmeter' (make install does). */
	if (!(pw = getpwnam("nobody")))
		w_log(w, VM_LOG_ERR, "capture: neither user 'vmeter' nor 'nobody' exists: set capture.user");
	else
		w_log(w, VM_LOG_NOTICE,
		      "capture: no user 'vmeter': the capture runs as 'nobody' (set capture.user, or "
		      "create 'vmeter' as make install does)");
	return pw;
}

static int w_capset_zero(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof d);
	return (int)syscall(SYS_capset, &h, d);
}

static bool w_caps_all_zero(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return false;
	return true;
}

/* Gives up every privilege for good: as root, another user, no groups and
 * an empty bounding set; in any case no capabilities and no way to gain
 * one (no_new_privs).  Then checks that it took.  Returns 0 or -1 (logged:
 * the worker must not read packets with privileges it should not have). */
static int w_drop_privileges(struct worker *w, const struct col_capmsg_config *cfg)
{
	bool root = geteuid() == 0;
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (root) {
		const struct passwd *pw = w_user(w, cfg->user);
		if (!pw)
			return -1;
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		if (uid == 0) {
			w_log(w, VM_LOG_ERR, "capture: user '%s' is root: refusing to read packets as root",
			      pw->pw_name);
			return -1;
		}
	}
	if (cfg->chroot_dir[0] && (chroot(cfg->chroot_dir) < 0)) {
		w_log(w, VM_LOG_ERR, "capture: chroot to '%s': %s", cfg->chroot_dir, strerror(errno));
		return -1;
	}
	if (chdir("/") < 0) {
		w_log(w, VM_LOG_ERR, "capture: chdir to /: %s", strerror(errno));
		return -1;
	}
	/* The bounding set needs CAP_SETPCAP to shrink: only as root.  A
	 * non-root worker cannot regain anything through it anyway, with
	 * no_new_privs set below. */
	if (root) {
		for (int cap = 0; cap < 64; cap++) {
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
				w_log(w, VM_LOG_ERR, "capture: dropping capability %d from the bounding set: %s", cap,
				      strerror(errno));
				return -1;
			}
		}
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
			w_log(w, VM_LOG_ERR, "capture: becoming uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
			      strerror(errno));
			return -1;
		}
	}
	/* Ambient capabilities (systemd's AmbientCapabilities=) and whatever
	 * a file capability gave a non-root collector. */
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (w_capset_zero() < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		w_log(w, VM_LOG_ERR, "capture: clearing capabilities: %s", strerror(errno));
		return -1;
	}

	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != uid || eu != uid || su != uid ||
	    rg != gid || eg != gid || sg != gid || !w_caps_all_zero() || (root && getgroups(0, NULL) != 0) ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 ||
	    (root && prctl(PR_CAPBSET_READ, CAP_NET_RAW, 0, 0, 0) != 0)) {
		w_log(w, VM_LOG_ERR, "capture: privileges are still there after dropping them");
		return -1;
	}
	if (setuid(0) == 0 || (uid != 0 && geteuid() == 0)) {
		w_log(w, VM_LOG_ERR, "capture: could become root again after dropping privileges");
		return -1;
	}
	/* A change of credentials clears it: set it now. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	return 0;
}

/* ---------------------------------------------------------------- capture */

static pcap_t *w_open(struct worker *w, unsigned buffer_mb)
{
	char err[PCAP_ERRBUF_SIZE] = "";
	pcap_t *p = pcap_create("any", err);
	int r;

	if (!p) {
		w_log(w, VM_LOG_ERR, "capture: pcap_create: %s", err);
		return NULL;
	}
	pcap_set_snaplen(p, W_SNAPLEN);
	pcap_set_buffer_size(p, (int)(buffer_mb << 20));
	/* Not immediate: the kernel fills ring blocks and wakes us per block
	 * (TPACKET_V3), not per packet. */
	pcap_set_immediate_mode(p, 0);
	pcap_set_timeout(p, W_TIMEOUT_MS);
	if ((r = pcap_activate(p)) < 0) {
		w_log(w, VM_LOG_ERR, "capture: opening 'any': %s%s", pcap_statustostr(r),
		      r == PCAP_ERROR_PERM_DENIED ? " (CAP_NET_RAW needed)" : "");
		goto fail;
	}
	if (r > 0)
		w_log(w, VM_LOG_WARNING, "capture: opening 'any': %s", pcap_geterr(p));
	/* SLL2 carries the interface index and the packet type, and libpcap
	 * maps both onto kernel filter loads (SKF_AD_IFINDEX, _PKTTYPE). */
	if (pcap_set_datalink(p, DLT_LINUX_SLL2) < 0) {
		w_log(w, VM_LOG_ERR, "capture: no DLT_LINUX_SLL2 (libpcap 1.10 or later needed): %s", pcap_geterr(p));
		goto fail;
	}
	if (pcap_setnonblock(p, 1, err) < 0) {
		w_log(w, VM_LOG_ERR, "capture: pcap_setnonblock: %s", err);
		goto fail;
	}
	return p;
fail:
	pcap_close(p);
	return NULL;
}

/* Emits a search over the sorted ifindexes ix[0..n) at out[pos..]: jgt
 * splits halves (a ja reaches the right half, whatever its distance: the
 * conditional jumps have 8-bit offsets), leaves of W_LEAF compare each.
 * A match returns W_ACCEPT, no match 0.  Returns the end. */
static size_t w_emit(struct bpf_insn *out, size_t pos, const uint32_t *ix, size_t n)
{
	if (n <= W_LEAF) {
		for (size_t i = 0; i < n; i++)
			out[pos + i] = (struct bpf_insn)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ix[i], (uint8_t)(n - i - 1),
			                                         i + 1 == n ? 1 : 0);
		out[pos + n] = (struct bpf_insn)BPF_STMT(BPF_RET | BPF_K, W_ACCEPT);
		out[pos + n + 1] = (struct bpf_insn)BPF_STMT(BPF_RET | BPF_K, 0);
		return pos + n + 2;
	}
	size_t mid = n / 2;
	out[pos] = (struct bpf_insn)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, ix[mid - 1], 0, 1);
	size_t left_end = w_emit(out, pos + 2, ix, mid);
	out[pos + 1] = (struct bpf_insn)BPF_STMT(BPF_JMP | BPF_JA, (uint32_t)(left_end - (pos + 2)));
	return w_emit(out, left_end, ix + mid, n - mid);
}

static size_t w_filter_len(size_t n)
{
	if (n <= W_LEAF)
		return n + 2;
	return 2 + w_filter_len(n / 2) + w_filter_len(n - n / 2);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_map(const void *a, const void *b)
{
	return cmp_u32(&((const struct w_map *)a)->ifindex, &((const struct w_map *)b)->ifindex);
}

/* Installs the filter for the interfaces that exist: "ifindex in set",
 * built by hand (libpcap's compiler makes a linear chain that outgrows the
 * kernel's 4096 instructions, and libpcap then filters in user space
 * without a word).  The cooked header's ifindex is at offset 4; libpcap
 * turns the load into SKF_AD_IFINDEX.  Then asks the kernel whether it
 * runs it (SO_GET_FILTER). */
static int w_set_filter(struct worker *w)
{
	size_t n = 0;
	uint32_t *ix = vm_xcalloc(w->n_map + 1, sizeof *ix);
	struct bpf_insn *prog;
	size_t len;

	for (size_t i = 0; i < w->n_map; i++)
		ix[n++] = w->map[i].ifindex; /* sorted and unique */
	if (n == 0) {
		/* Nothing to capture: a filter that takes nothing. */
		prog = vm_xcalloc(1, sizeof *prog);
		prog[0] = (struct bpf_insn)BPF_STMT(BPF_RET | BPF_K, 0);
		len = 1;
	} else {
		len = 1 + w_filter_len(n);
		prog = vm_xcalloc(len, sizeof *prog);
		prog[0] = (struct bpf_insn)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4);
		size_t end = w_emit(prog, 1, ix, n);
		if (end != len)
			abort();
	}
	free(ix);
	if (len > BPF_MAXINSNS) {
		w_log(w, VM_LOG_ERR, "capture: a filter for %zu interfaces needs %zu instructions, more than %d", n,
		      len, BPF_MAXINSNS);
		free(prog);
		return -1;
	}
	struct bpf_program bp = {.bf_len = (u_int)len, .bf_insns = prog};
	int r = pcap_setfilter(w->p, &bp);
	free(prog);
	if (r < 0) {
		w_log(w, VM_LOG_ERR, "capture: setting the filter: %s", pcap_geterr(w->p));
		return -1;
	}
	socklen_t klen = 0;
	w->kernel_filter =
	    getsockopt(pcap_get_selectable_fd(w->p), SOL_SOCKET, SO_GET_FILTER, NULL, &klen) == 0 && klen == len;
	w->filter_insns = (uint32_t)len;
	if (!w->kernel_filter)
		w_log(w, VM_LOG_ERR,
		      "capture: the kernel refused the filter of %zu instructions (net.core.optmem_max?): every packet "
		      "of the host is copied and filtered in user space",
		      len);
	else if (n)
		w_log(w, VM_LOG_DEBUG, "capture: kernel filter of %zu instructions for %zu interfaces", len, n);
	return 0;
}

/* The frames already in the ring were taken under the current set: count
 * them with it before it changes. */
static void w_drain(struct worker *w);

/* ---------------------------------------------------------------- counting */

static void w_on_frame(u_char *arg, const struct pcap_pkthdr *h, const u_char *d)
{
	struct worker *w = (struct worker *)(void *)arg;

	if (h->caplen < SLL2_HDR_LEN || h->len < SLL2_HDR_LEN) {
		w->foreign++;
		return;
	}
	uint16_t proto = (uint16_t)(d[0] << 8 | d[1]);
	uint32_t ifindex = (uint32_t)d[4] << 24 | (uint32_t)d[5] << 16 | (uint32_t)d[6] << 8 | d[7];
	size_t lo = 0, hi = w->n_map;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (w->map[mid].ifindex < ifindex)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == w->n_map || w->map[lo].ifindex != ifindex || !w->ctr) {
		w->foreign++;
		return;
	}
	/* On the host end of a VM's tap, what the host sends goes to the VM. */
	enum vm_pkt_dir dir = d[10] == PACKET_OUTGOING ? VM_PKT_RX : VM_PKT_TX;
	vm_pkt_account_l3(w->ctr, w->map[lo].slot, dir, proto, d + SLL2_HDR_LEN, h->caplen - SLL2_HDR_LEN,
	                  h->len - SLL2_HDR_LEN);
}

static void w_drain(struct worker *w)
{
	/* Bounded: at a high rate the ring refills while we read it. */
	for (int i = 0; i < 64; i++) {
		int r = pcap_dispatch(w->p, -1, w_on_frame, (u_char *)(void *)w);
		if (r == 0)
			return;
		if (r < 0) {
			w_log(w, VM_LOG_ERR, "capture: reading packets: %s", pcap_geterr(w->p));
			w_exit(w, 1);
		}
	}
}

/* Sends the counts since the last COUNTS and zeroes them: nothing counted
 * is dropped or sent twice.  seq 0: not a flush's answer. */
static void w_send_counts(struct worker *w, uint64_t seq)
{
	const uint32_t chunk = (uint32_t)COL_CAPMSG_CHUNK(struct col_capmsg_cell, sizeof(struct col_capmsg_stats));
	struct col_capmsg_cell *cells = vm_xcalloc(chunk, sizeof *cells);
	struct col_capmsg_stats st = {0};
	struct vm_pkt_stats ps;
	struct pcap_stat now;
	uint32_t n = 0, flags = COL_CAPMSG_F_FIRST;
	unsigned n_cls = w->nc ? vm_netclass_count(w->nc) : 0;

	if (pcap_stats(w->p, &now) == 0) {
		/* u_int counters that wrap: differences stay right. */
		st.ps_recv = (u_int)(now.ps_recv - w->last_ps.ps_recv);
		st.ps_drop = (u_int)(now.ps_drop - w->last_ps.ps_drop);
		st.ps_ifdrop = (u_int)(now.ps_ifdrop - w->last_ps.ps_ifdrop);
		w->last_ps = now;
	}
	if (w->ctr) {
		vm_pkt_counter_stats(w->ctr, &ps);
		st.frames = ps.frames;
		memcpy(st.verdicts, ps.verdicts, sizeof st.verdicts);
	}
	st.foreign = w->foreign;
	st.kernel_filter = w->kernel_filter;
	st.filter_insns = w->filter_insns;
	for (uint32_t slot = 0; w->ctr && slot < w->n_slots; slot++) {
		for (unsigned cls = 0; cls < n_cls; cls++) {
			for (int dir = VM_PKT_RX; dir <= VM_PKT_TX; dir++) {
				struct vm_pkt_count c = vm_pkt_counter_get(w->ctr, slot, cls, (enum vm_pkt_dir)dir);
				if (!c.packets)
					continue;
				if (n == chunk) {
					if (col_capmsg_send(w->sock, COL_CAPMSG_COUNTS, seq, flags,
					                    &(struct col_capmsg_stats){0}, cells, n) < 0)
						goto lost;
					flags = 0;
					n = 0;
				}
				cells[n] = (struct col_capmsg_cell){
				    .slot = slot, .dir = (uint32_t)dir, .bytes = c.bytes, .packets = c.packets};
				snprintf(cells[n].class_name, sizeof cells[n].class_name, "%s",
				         vm_netclass_name(w->nc, cls));
				n++;
			}
		}
	}
	if (col_capmsg_send(w->sock, COL_CAPMSG_COUNTS, seq, flags | COL_CAPMSG_F_LAST, &st, cells, n) < 0)
		goto lost;
	free(cells);
	if (w->ctr)
		vm_pkt_counter_reset(w->ctr);
	w->foreign = 0;
	return;
lost:
	/* The collector stopped listening: it will restart us. */
	free(cells);
	w_exit(w, 1);
}

/* A new counter for the current classes and slots; the old one's counts
 * go to the collector first. */
static void w_new_counter(struct worker *w)
{
	if (w->ctr) {
		w_send_counts(w, 0);
		vm_pkt_counter_free(w->ctr);
		w->ctr = NULL;
	}
	if (w->nc)
		w->ctr = vm_pkt_counter_new(w->nc, w->n_slots ? w->n_slots : 1);
}

/* ---------------------------------------------------------------- interfaces */

static uint32_t w_ifindex(struct worker *w, const char *name)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
	if (ioctl(w->ioctl_fd, SIOCGIFINDEX, &ifr) < 0)
		return 0;
	return (uint32_t)ifr.ifr_ifindex;
}

static void w_send_ifstate(struct worker *w)
{
	const uint32_t chunk = (uint32_t)COL_CAPMSG_CHUNK(struct col_capmsg_ifstate, 0);
	struct col_capmsg_ifstate *st = vm_xcalloc(chunk, sizeof *st);
	uint32_t n = 0, flags = COL_CAPMSG_F_FIRST;

	for (size_t i = 0; i < w->n_ifs; i++) {
		if (n == chunk) {
			if (col_capmsg_send(w->sock, COL_CAPMSG_IFSTATE, 0, flags, NULL, st, n) < 0)
				goto lost;
			flags = 0;
			n = 0;
		}
		st[n].slot = w->ifs[i].slot;
		st[n].ifindex = w->ifs[i].ifindex;
		memcpy(st[n].name, w->ifs[i].name, sizeof st[n].name);
		n++;
	}
	if (col_capmsg_send(w->sock, COL_CAPMSG_IFSTATE, 0, flags | COL_CAPMSG_F_LAST, NULL, st, n) < 0)
		goto lost;
	free(st);
	return;
lost:
	free(st);
	w_exit(w, 1);
}

/* Resolves every name anew (a VM restarted: same name, new ifindex) and,
 * if anything changed or `force`, rebuilds the map and the filter.  The
 * frames in the ring are counted under the old map first. */
static void w_resolve(struct worker *w, bool force)
{
	bool changed = force;

	for (size_t i = 0; i < w->n_ifs; i++) {
		uint32_t ix = w_ifindex(w, w->ifs[i].name);
		if (ix != w->ifs[i].ifindex) {
			if (!ix)
				w_log(w, VM_LOG_WARNING, "capture: interface '%s' (slot %u) is gone", w->ifs[i].name,
				      w->ifs[i].slot);
			else if (w->ifs[i].ifindex)
				w_log(w, VM_LOG_INFO, "capture: interface '%s' (slot %u) is new: ifindex %u, was %u",
				      w->ifs[i].name, w->ifs[i].slot, ix, w->ifs[i].ifindex);
			w->ifs[i].ifindex = ix;
			changed = true;
		}
	}
	if (!changed)
		return;
	w_drain(w);
	free(w->map);
	w->map = vm_xcalloc(w->n_ifs + 1, sizeof *w->map);
	w->n_map = 0;
	for (size_t i = 0; i < w->n_ifs; i++)
		if (w->ifs[i].ifindex)
			w->map[w->n_map++] = (struct w_map){w->ifs[i].ifindex, w->ifs[i].slot};
	qsort(w->map, w->n_map, sizeof *w->map, cmp_map);
	/* One name twice in the set: the first entry's slot. */
	size_t k = 0;
	for (size_t i = 0; i < w->n_map; i++)
		if (k == 0 || w->map[k - 1].ifindex != w->map[i].ifindex)
			w->map[k++] = w->map[i];
	w->n_map = k;
	if (w_set_filter(w) < 0)
		w_exit(w, 1);
	w_send_ifstate(w);
}

static void w_apply_ifaces(struct worker *w)
{
	uint32_t n_slots = 0;

	for (size_t i = 0; i < w->n_new_ifs; i++)
		if (w->new_ifs[i].slot + 1 > n_slots)
			n_slots = w->new_ifs[i].slot + 1;
	free(w->ifs);
	w->ifs = w->new_ifs;
	w->n_ifs = w->n_new_ifs;
	w->new_ifs = NULL;
	w->n_new_ifs = w->cap_new_ifs = 0;
	for (size_t i = 0; i < w->n_ifs; i++)
		w->ifs[i].ifindex = 0;
	w_drain(w);
	if (n_slots > w->n_slots) {
		w->n_slots = n_slots;
		w_new_counter(w);
	}
	w_resolve(w, true);
}

static void w_apply_classes(struct worker *w)
{
	char err[256];
	size_t bad = 0;
	struct vm_netclass *nc = vm_netclass_new(w->new_default, w->new_rules, w->n_new_rules, &bad, err, sizeof err);

	if (!nc) {
		/* The collector built the same table from its config. */
		w_log(w, VM_LOG_ERR, "capture: traffic classes: %s", err);
		w_exit(w, 1);
	}
	w_drain(w);
	/* Counts so far belong to the old classes: out with them first. */
	if (w->ctr) {
		w_send_counts(w, 0);
		vm_pkt_counter_free(w->ctr);
		w->ctr = NULL;
	}
	vm_netclass_free(w->nc);
	w->nc = nc;
	w_new_counter(w);
	free(w->new_rules);
	free(w->new_rule_text);
	w->new_rules = NULL;
	w->new_rule_text = NULL;
	w->n_new_rules = w->cap_new_rules = w->cap_new_text = 0;
}

/* ---------------------------------------------------------------- messages */

static _Noreturn void w_bad(struct worker *w, const char *what)
{
	w_log(w, VM_LOG_ERR, "capture: bad message from the collector: %s", what);
	w_exit(w, 2);
}

static void w_on_message(struct worker *w, const void *buf)
{
	const struct col_capmsg_hdr *h = buf;
	const void *items = col_capmsg_items(buf);

	switch ((enum col_capmsg_type)h->type) {
	case COL_CAPMSG_IFACES:
		if (h->flags & COL_CAPMSG_F_FIRST) {
			w->n_new_ifs = 0;
			w->in_ifs = true;
		} else if (!w->in_ifs) {
			w_bad(w, "interfaces without a first chunk");
		}
		if (w->n_new_ifs + h->n > COL_CAPTURE_MAX_IFACES)
			w_bad(w, "too many interfaces");
		w->new_ifs = vm_xgrow(w->new_ifs, &w->cap_new_ifs, w->n_new_ifs + h->n, sizeof *w->new_ifs);
		for (uint32_t i = 0; i < h->n; i++) {
			const struct col_capmsg_iface *it = (const struct col_capmsg_iface *)items + i;
			if (it->slot >= COL_CAPTURE_MAX_SLOTS)
				w_bad(w, "slot out of range");
			struct w_iface *d = &w->new_ifs[w->n_new_ifs++];
			d->slot = it->slot;
			d->ifindex = 0;
			memcpy(d->name, it->name, sizeof d->name);
		}
		if (h->flags & COL_CAPMSG_F_LAST) {
			w->in_ifs = false;
			w_apply_ifaces(w);
		}
		return;
	case COL_CAPMSG_CLASSES: {
		const struct col_capmsg_classes *c = col_capmsg_body(buf);
		if (h->flags & COL_CAPMSG_F_FIRST) {
			w->n_new_rules = 0;
			w->in_classes = true;
			snprintf(w->new_default, sizeof w->new_default, "%s", c->default_name);
		} else if (!w->in_classes) {
			w_bad(w, "classes without a first chunk");
		}
		if (w->n_new_rules + h->n > VM_NETCLASS_MAX_PREFIXES)
			w_bad(w, "too many prefixes");
		size_t want = w->n_new_rules + h->n;
		w->new_rules = vm_xgrow(w->new_rules, &w->cap_new_rules, want, sizeof *w->new_rules);
		w->new_rule_text = vm_xgrow(w->new_rule_text, &w->cap_new_text, want, sizeof *w->new_rule_text);
		for (uint32_t i = 0; i < h->n; i++) {
			const struct col_capmsg_rule *r = (const struct col_capmsg_rule *)items + i;
			size_t k = w->n_new_rules++;
			snprintf(w->new_rule_text[k][0], sizeof w->new_rule_text[k][0], "%s", r->class_name);
			snprintf(w->new_rule_text[k][1], sizeof w->new_rule_text[k][1], "%s", r->prefix);
		}
		if (h->flags & COL_CAPMSG_F_LAST) {
			/* Pointers only now: the text array moved as it grew. */
			for (size_t k = 0; k < w->n_new_rules; k++)
				w->new_rules[k] =
				    (struct vm_netclass_rule){w->new_rule_text[k][0], w->new_rule_text[k][1]};
			w->in_classes = false;
			w_apply_classes(w);
		}
		return;
	}
	case COL_CAPMSG_FLUSH:
		w_drain(w);
		w_send_counts(w, h->seq);
		/* After the answer: a VM that came back under its old name
		 * is followed from here on. */
		w_resolve(w, false);
		return;
	case COL_CAPMSG_CONFIG: w_bad(w, "a second configuration");
	default: w_bad(w, "a message the worker does not take");
	}
}

/* Receives one message into buf (COL_CAPMSG_MAX bytes, aligned).  Returns
 * its length, 0 at the end of the connection; exits on a bad one. */
static size_t w_recv(struct worker *w, void *buf)
{
	char err[256];
	ssize_t r;

	do
		r = recv(w->sock, buf, COL_CAPMSG_MAX, MSG_TRUNC);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN)
			w_bad(w, "none within the time allowed");
		w_log(w, VM_LOG_ERR, "capture: reading from the collector: %s", strerror(errno));
		w_exit(w, 1);
	}
	if (r > COL_CAPMSG_MAX)
		w_bad(w, "longer than the largest message");
	if (r > 0 && col_capmsg_check(buf, (size_t)r, err, sizeof err) < 0)
		w_bad(w, err);
	return (size_t)r;
}

int col_capture_worker_main(const char *fd_arg)
{
	static uint64_t buf[COL_CAPMSG_MAX / sizeof(uint64_t)];
	struct worker w = {.sock = -1, .ioctl_fd = -1, .log_level = VM_LOG_INFO};
	char *end;
	long fd = strtol(fd_arg, &end, 10);

	vm_log_open("vmeter-collector[capture]", false);
	if (*end || fd < 3 || fd > 1024) {
		fprintf(stderr, "vmeter-collector: --capture-worker takes the descriptor of its socket\n");
		return 2;
	}
	w.sock = (int)fd;
	signal(SIGPIPE, SIG_IGN);
	/* The configuration comes first, within a few seconds. */
	struct timeval tv = {5, 0};
	setsockopt(w.sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	tv = (struct timeval){2, 0};
	setsockopt(w.sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (w_recv(&w, buf) == 0)
		w_exit(&w, 0);
	const struct col_capmsg_hdr *h = (const void *)buf;
	if (h->type != COL_CAPMSG_CONFIG)
		w_bad(&w, "the first is not the configuration");
	struct col_capmsg_config cfg;
	memcpy(&cfg, col_capmsg_body(buf), sizeof cfg);
	w.log_level = cfg.log_level >= VM_LOG_ERR && cfg.log_level <= VM_LOG_DEBUG ? (enum vm_log_level)cfg.log_level
	                                                                           : VM_LOG_INFO;
	if (cfg.buffer_mb < 1 || cfg.buffer_mb > 1024)
		w_bad(&w, "buffer size out of range");

	/* Everything that needs a privilege or a file, before the drop. */
	if (!(w.p = w_open(&w, cfg.buffer_mb)))
		w_exit(&w, 1);
	w.ioctl_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (w.ioctl_fd < 0) {
		w_log(&w, VM_LOG_ERR, "capture: socket: %s", strerror(errno));
		w_exit(&w, 1);
	}
	/* Until the collector names interfaces, the kernel passes nothing. */
	if (w_set_filter(&w) < 0)
		w_exit(&w, 1);
	if (w_drop_privileges(&w, &cfg) < 0)
		w_exit(&w, 1);

	struct col_capmsg_ready ready = {
	    .pid = (uint32_t)getpid(), .uid = (uint32_t)getuid(), .gid = (uint32_t)getgid()};
	snprintf(ready.pcap_version, sizeof ready.pcap_version, "%s", pcap_lib_version());
	if (col_capmsg_send(w.sock, COL_CAPMSG_READY, 0, 0, &ready, NULL, 0) < 0)
		w_exit(&w, 1);
	w_log(&w, VM_LOG_INFO, "capture: worker %d running as uid %u gid %u, %s", (int)ready.pid, ready.uid, ready.gid,
	      ready.pcap_version);

	/* From here the collector may be quiet for a long time. */
	tv = (struct timeval){0, 0};
	setsockopt(w.sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct pollfd pfd[2] = {{pcap_get_selectable_fd(w.p), POLLIN, 0}, {w.sock, POLLIN, 0}};
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			w_log(&w, VM_LOG_ERR, "capture: poll: %s", strerror(errno));
			w_exit(&w, 1);
		}
		if (pfd[0].revents & (POLLIN | POLLERR))
			w_drain(&w);
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (w_recv(&w, buf) == 0)
				w_exit(&w, 0); /* the collector closed: stop */
			w_on_message(&w, buf);
		}
	}
}
