/* Classification benchmark: reads a pcap savefile with libpcap and counts
 * every frame per VM, traffic class and direction through collector/pktclass in
 * bridge mode, as the capture thread of the collector will.
 *
 *   vmeter-bench-classify [-m MODE] [-r ROUNDS] FILE
 *
 * FILE.setup (bench/gen-pcap.c) gives the traffic classes and the VMs'
 * MACs.  MODE:
 *   dispatch  pcap_dispatch() with a callback that calls vm_pkt_account()
 *             (the default: what the collector does)
 *   next_ex   pcap_next_ex() in a loop, vm_pkt_account() on each frame
 *   read      pcap_dispatch() with a callback that only adds up lengths:
 *             libpcap's own reading cost in this process
 * Each round opens the file, reads it to the end and closes it; the time
 * and CPU of a round cover all three.  Prints, per round, frames, seconds,
 * frames per second and CPU seconds, then the totals per class and
 * direction, a checksum of every (VM, class, direction) cell (so that the
 * work cannot be left out, and to compare runs) and whether the totals are
 * those FILE.setup expects.  Exit status 2 if they are not. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "netclass.h"
#include "pktclass.h"
#include "vtime.h"
#include "xalloc.h"

#define MAX_RULES 1024
#define MAX_EXPECT 64

static _Noreturn void __attribute__((format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("vmeter-bench-classify: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

struct expect {
	char cls[VM_NETCLASS_NAME_MAX + 1];
	int dir;
	uint64_t bytes, packets;
};

struct setup {
	char default_name[VM_NETCLASS_NAME_MAX + 1];
	struct vm_netclass_rule rules[MAX_RULES];
	size_t n_rules;
	struct {
		uint32_t vm;
		uint8_t mac[6];
	} * macs;
	size_t n_macs;
	uint32_t max_vm;
	struct expect expect[MAX_EXPECT];
	size_t n_expect;
	struct vm_pkt_count unattributed;
	bool have_unattributed;
};

static void read_setup(const char *path, struct setup *s)
{
	FILE *f = fopen(path, "r");
	char line[512];
	unsigned lineno = 0;
	size_t cap = 0;

	if (!f)
		die("cannot read '%s': %s (written by vmeter-bench-gen-pcap)", path, strerror(errno));
	memset(s, 0, sizeof *s);
	while (fgets(line, sizeof line, f)) {
		char a[VM_NETCLASS_NAME_MAX + 1], b[80], c[8];
		unsigned m[6], id;
		uint64_t x, y;

		lineno++;
		if (sscanf(line, "default %31s", s->default_name) == 1)
			continue;
		if (sscanf(line, "class %31s %79s", a, b) == 2) {
			if (s->n_rules == MAX_RULES)
				die("%s:%u: too many classes", path, lineno);
			s->rules[s->n_rules].class_name = vm_xstrdup(a);
			s->rules[s->n_rules].prefix = vm_xstrdup(b);
			s->n_rules++;
			continue;
		}
		if (sscanf(line, "vm %u %x:%x:%x:%x:%x:%x", &id, &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 7) {
			if (id >= VM_PKT_MAX_VMS)
				die("%s:%u: VM id too large", path, lineno);
			if (s->n_macs == cap) {
				cap = cap ? 2 * cap : 256;
				s->macs = vm_xrealloc(s->macs, cap * sizeof *s->macs);
			}
			s->macs[s->n_macs].vm = id;
			for (int i = 0; i < 6; i++)
				s->macs[s->n_macs].mac[i] = (uint8_t)m[i];
			s->n_macs++;
			if (id + 1 > s->max_vm)
				s->max_vm = id + 1;
			continue;
		}
		if (sscanf(line, "expect %31s %7s %" SCNu64 " %" SCNu64, a, c, &x, &y) == 4) {
			if (s->n_expect == MAX_EXPECT)
				die("%s:%u: too many expect lines", path, lineno);
			struct expect *e = &s->expect[s->n_expect++];
			snprintf(e->cls, sizeof e->cls, "%s", a);
			e->dir = strcmp(c, "tx") == 0 ? VM_PKT_TX : VM_PKT_RX;
			e->bytes = x;
			e->packets = y;
			continue;
		}
		if (sscanf(line, "unattributed %" SCNu64 " %" SCNu64, &x, &y) == 2) {
			s->unattributed.bytes = x;
			s->unattributed.packets = y;
			s->have_unattributed = true;
			continue;
		}
	}
	fclose(f);
	if (!s->default_name[0] || !s->n_macs)
		die("%s: no 'default' or no 'vm' line", path);
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

struct read_only {
	uint64_t frames, bytes;
};

static void cb_account(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	vm_pkt_account((struct vm_pkt_counter *)user, bytes, h->caplen, h->len);
}

static void cb_read(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct read_only *r = (struct read_only *)user;

	r->frames++;
	r->bytes += h->len;
}

enum mode { M_DISPATCH, M_NEXT_EX, M_READ };

/* One pass over the file; returns the frames read. */
static uint64_t pass(const char *path, enum mode mode, struct vm_pkt_counter *c, struct read_only *ro)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, err);
	uint64_t frames = 0;
	int n;

	if (!p)
		die("%s", err);
	if (pcap_datalink(p) != DLT_EN10MB)
		die("%s: not an Ethernet capture", path);
	switch (mode) {
	case M_DISPATCH:
	case M_READ:
		while ((n = pcap_dispatch(p, -1, mode == M_READ ? cb_read : cb_account,
		                          mode == M_READ ? (u_char *)ro : (u_char *)c)) > 0)
			frames += (uint64_t)n;
		if (n < 0)
			die("%s: %s", path, pcap_geterr(p));
		break;
	case M_NEXT_EX: {
		struct pcap_pkthdr *h;
		const u_char *bytes;

		while ((n = pcap_next_ex(p, &h, &bytes)) == 1) {
			vm_pkt_account(c, bytes, h->caplen, h->len);
			frames++;
		}
		if (n == PCAP_ERROR)
			die("%s: %s", path, pcap_geterr(p));
		break;
	}
	}
	pcap_close(p);
	return frames;
}

static uint64_t fnv(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

int main(int argc, char **argv)
{
	enum mode mode = M_DISPATCH;
	unsigned rounds = 1;
	int opt;

	while ((opt = getopt(argc, argv, "m:r:")) != -1) {
		switch (opt) {
		case 'm':
			if (strcmp(optarg, "dispatch") == 0)
				mode = M_DISPATCH;
			else if (strcmp(optarg, "next_ex") == 0)
				mode = M_NEXT_EX;
			else if (strcmp(optarg, "read") == 0)
				mode = M_READ;
			else
				die("-m dispatch, next_ex or read");
			break;
		case 'r': rounds = (unsigned)atoi(optarg); break;
		default: die("usage: vmeter-bench-classify [-m dispatch|next_ex|read] [-r ROUNDS] FILE");
		}
	}
	if (optind != argc - 1 || rounds < 1)
		die("usage: vmeter-bench-classify [-m dispatch|next_ex|read] [-r ROUNDS] FILE");
	const char *path = argv[optind];
	char setup_path[4096], err[256];
	struct setup s;
	size_t bad;

	snprintf(setup_path, sizeof setup_path, "%s.setup", path);
	read_setup(setup_path, &s);
	struct vm_netclass *nc = vm_netclass_new(s.default_name, s.rules, s.n_rules, &bad, err, sizeof err);
	if (!nc)
		die("%s: %s", setup_path, err);
	struct vm_pkt_counter *c = vm_pkt_counter_new(nc, s.max_vm);
	for (size_t i = 0; i < s.n_macs; i++) {
		int rc = vm_pkt_counter_map_mac(c, s.macs[i].mac, s.macs[i].vm);
		if (rc < 0)
			die("%s: cannot map MAC %zu: %s", setup_path, i, strerror(-rc));
	}

	static const char *const mode_name[] = {"dispatch", "next_ex", "read"};
	struct read_only ro = {0, 0};
	uint64_t frames = 0;
	for (unsigned r = 0; r < rounds; r++) {
		vm_pkt_counter_reset(c);
		ro.frames = ro.bytes = 0;
		double cpu0 = cpu_s();
		int64_t t0 = vm_monotonic_ns();
		frames = pass(path, mode, c, &ro);
		double secs = (double)(vm_monotonic_ns() - t0) / 1e9, cpu = cpu_s() - cpu0;
		printf("round %u: mode %s frames %" PRIu64 " seconds %.3f frames/s %.0f cpu %.3f\n", r + 1,
		       mode_name[mode], frames, secs, (double)frames / secs, cpu);
		fflush(stdout);
	}

	if (mode == M_READ) {
		printf("read only: frames %" PRIu64 " bytes %" PRIu64 "\n", ro.frames, ro.bytes);
		return 0;
	}

	/* Totals per class and direction, a checksum of every cell. */
	struct vm_pkt_stats st;
	unsigned n_cls = vm_netclass_count(nc);
	uint64_t h = 0xcbf29ce484222325ull;
	int mismatches = 0;

	vm_pkt_counter_stats(c, &st);
	printf("%-12s %16s %12s %16s %12s\n", "class", "rx bytes", "rx packets", "tx bytes", "tx packets");
	for (unsigned cls = 0; cls < n_cls; cls++) {
		struct vm_pkt_count tot[2] = {{0, 0}, {0, 0}};
		for (uint32_t vm = 0; vm < s.max_vm; vm++)
			for (int d = 0; d < 2; d++) {
				struct vm_pkt_count x = vm_pkt_counter_get(c, vm, cls, (enum vm_pkt_dir)d);
				tot[d].bytes += x.bytes;
				tot[d].packets += x.packets;
				h = fnv(fnv(h, x.bytes), x.packets);
			}
		printf("%-12s %16" PRIu64 " %12" PRIu64 " %16" PRIu64 " %12" PRIu64 "\n", vm_netclass_name(nc, cls),
		       tot[VM_PKT_RX].bytes, tot[VM_PKT_RX].packets, tot[VM_PKT_TX].bytes, tot[VM_PKT_TX].packets);
		for (int d = 0; d < 2; d++) {
			uint64_t want_b = 0, want_p = 0;
			for (size_t i = 0; i < s.n_expect; i++)
				if (s.expect[i].dir == d && strcmp(s.expect[i].cls, vm_netclass_name(nc, cls)) == 0) {
					want_b = s.expect[i].bytes;
					want_p = s.expect[i].packets;
				}
			if (s.n_expect && (tot[d].bytes != want_b || tot[d].packets != want_p)) {
				printf("MISMATCH %s %s: %" PRIu64 " bytes %" PRIu64 " packets, want %" PRIu64
				       " %" PRIu64 "\n",
				       vm_netclass_name(nc, cls), d == VM_PKT_TX ? "tx" : "rx", tot[d].bytes,
				       tot[d].packets, want_b, want_p);
				mismatches++;
			}
		}
	}
	h = fnv(fnv(h, st.unattributed.bytes), st.unattributed.packets);
	printf("%-12s %16" PRIu64 " %12" PRIu64 "\n", "unattributed", st.unattributed.bytes, st.unattributed.packets);
	if (s.have_unattributed &&
	    (st.unattributed.bytes != s.unattributed.bytes || st.unattributed.packets != s.unattributed.packets)) {
		printf("MISMATCH unattributed\n");
		mismatches++;
	}
	printf("verdicts: ok %" PRIu64 " truncated %" PRIu64 " malformed %" PRIu64 " non-ip %" PRIu64 "\n",
	       st.verdicts[VM_PKT_OK], st.verdicts[VM_PKT_TRUNCATED], st.verdicts[VM_PKT_MALFORMED],
	       st.verdicts[VM_PKT_NON_IP]);
	printf("checksum %016" PRIx64 " frames %" PRIu64 " expected %s\n", h, frames,
	       !s.n_expect       ? "none"
	       : mismatches == 0 ? "match"
	                         : "MISMATCH");
	vm_pkt_counter_free(c);
	vm_netclass_free(nc);
	return mismatches ? 2 : 0;
}
