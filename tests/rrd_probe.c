/* Test driver for lib/rrdout.c, run by tests/integration/rrd.sh.
 *
 *   rrd_probe write DIR DAEMON NAME START   60 VM samples 10 s apart from
 *                                           START (epoch s), then flush
 *   rrd_probe new DIR DAEMON                only vm_rrd_new()
 *   rrd_probe badnames DIR                  invalid names are refused
 *   rrd_probe graph DIR DAEMON NAME START END PNG [DS]
 *   rrd_probe write-kill DIR DAEMON NAME START PID
 *                                           as write, in BATCHes of 5
 *                                           samples, killing PID (the
 *                                           daemon) with SIGKILL after
 *                                           sample 22
 *   rrd_probe rrdc SOCKET FILE              lib/rrdc against a daemon: FILE
 *                                           has a step of 10 s and two data
 *                                           sources, last update START - 10
 *
 * DAEMON "-" means none; RRD_PROBE_STEP in the environment sets the
 * interval (default 10 s); RRD_PROBE_ASYNC=1 creates and converts files on
 * the creator thread, as the collector does (samples that arrive meanwhile
 * are skipped); RRD_PROBE_BATCH=N makes "write" queue its updates in
 * BATCHes of N, checks before its one commit at the end that the daemon
 * has every full BATCH's samples and no more (they went as they filled),
 * and after it that the daemon has them all.  Exit status 0 on success, 1 with a message on
 * stderr otherwise.
 *
 * Samples written by "write" (sample k at START + 10 k, k = 0..59):
 *   cpu          5e9 ns per sample (0.5 cores); reset to 1e9 at k = 30
 *   vcpu         2.5e9 ns per sample, vcpu_delay 1e8 ns per sample
 *   disk_rd_bytes 10240 bytes per sample (1024 B/s)
 *   net_rx_bytes  from 18446744000000000000 (above INT64_MAX), +1000
 *   mem_rss 1048576 KiB, mem_max 2097152 KiB; every other meter absent
 * After sample 10 it also sends an older and an equal timestamp with wild
 * values, which must be skipped without error. */
#include "config.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rrdc.h"
#include "rrdout.h"
#include "usage.h"
#include "vtime.h"
#include "xalloc.h"

#define BIT(i) (UINT64_C(1) << (i))

/* Sanitizer hooks (unused without -fsanitize).  rrd_graph_v() of librrd
 * 1.7.2 leaks its font and text caches (pango, cairo, and fontconfig in a
 * thread of pango's); only allocations made under it or in fontconfig,
 * which vmeter never calls, are suppressed.  The full unwinder is needed to
 * see rrd_graph_v through libraries built without frame pointers. */
const char *__asan_default_options(void);
const char *__lsan_default_options(void);
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}
const char *__lsan_default_suppressions(void)
{
	return "leak:rrd_graph_v\nleak:libfontconfig.so\n";
}

static const char *daemon_arg(const char *s)
{
	return strcmp(s, "-") == 0 ? NULL : s;
}

static struct vm_rrd *open_rrd(const char *dir, const char *daemon)
{
	char err[512];
	/* RRD_PROBE_STEP: the interval a collector would run with. */
	const char *step = getenv("RRD_PROBE_STEP");
	struct vm_rrd *rrd = vm_rrd_new(dir, daemon_arg(daemon), step ? atoi(step) : 10, err, sizeof err);
	if (!rrd)
		fprintf(stderr, "rrd_probe: %s\n", err);
	const char *async = getenv("RRD_PROBE_ASYNC");
	if (rrd && async && strcmp(async, "1") == 0)
		vm_rrd_set_async_create(rrd, true);
	return rrd;
}

/* The last update of NAME's file as rrdcached has it (queued ones
 * included), -1 if it cannot say. */
static int64_t daemon_last(const char *daemon, struct vm_rrd *rrd, const char *name)
{
	if (strncmp(daemon, "unix:", 5) != 0)
		return -1;
	char msg[512];
	struct vm_rrdc *c = vm_rrdc_connect(daemon + 5, 5000, msg, sizeof msg);
	if (!c)
		return -1;
	char *path = vm_rrd_path(rrd, name);
	char *cmd = vm_xasprintf("LAST %s", path);
	int64_t t = -1;
	if (vm_rrdc_command(c, cmd, msg, sizeof msg, NULL, NULL) == VM_RRDC_OK)
		t = strtoll(msg, NULL, 10);
	free(cmd);
	free(path);
	vm_rrdc_close(c);
	return t;
}

static int cmd_write(const char *dir, const char *daemon, const char *name, int64_t start, pid_t kill_pid)
{
	const struct vm_meter_set *set = vm_usage_vm_meters();
	struct vm_rrd *rrd = open_rrd(dir, daemon);
	int ret = 1;
	if (!rrd)
		return 1;
	const char *bs = getenv("RRD_PROBE_BATCH");
	size_t batch = bs ? (size_t)strtoul(bs, NULL, 10) : 0;
	if (kill_pid > 0)
		vm_rrd_set_batch(rrd, VM_RRD_BATCH_MAX);
	else if (batch)
		vm_rrd_set_batch(rrd, batch);

	uint64_t have = BIT(VM_M_CPU_NS) | BIT(VM_M_VCPU_NS) | BIT(VM_M_VCPU_DELAY_NS) | BIT(VM_M_DISK_RD_BYTES) |
	                BIT(VM_M_NET_RX_BYTES) | BIT(VM_M_RSS_KIB) | BIT(VM_M_MEM_MAX_KIB);
	uint64_t v[VM_USAGE_MAX_METERS] = {0};
	for (int k = 0; k < 60; k++) {
		int64_t t_s = start + 10 * k;
		v[VM_M_CPU_NS] = k < 30 ? (uint64_t)k * 5000000000u : 1000000000u + (uint64_t)(k - 30) * 5000000000u;
		v[VM_M_VCPU_NS] = (uint64_t)k * 2500000000u;
		v[VM_M_VCPU_DELAY_NS] = (uint64_t)k * 100000000u;
		v[VM_M_DISK_RD_BYTES] = (uint64_t)k * 10240u;
		v[VM_M_NET_RX_BYTES] = UINT64_C(18446744000000000000) + (uint64_t)k * 1000u;
		v[VM_M_RSS_KIB] = 1048576;
		v[VM_M_MEM_MAX_KIB] = 2097152;
		/* A sub-second part: the file gets whole seconds. */
		if (vm_rrd_update(rrd, name, set, t_s * VM_NS_PER_SEC + 300000000, have, v) < 0) {
			fprintf(stderr, "rrd_probe: update %d failed\n", k);
			goto out;
		}
		if (kill_pid > 0 && k % 5 == 4 && vm_rrd_commit(rrd) < 0) {
			fprintf(stderr, "rrd_probe: batch up to %d failed\n", k);
			goto out;
		}
		/* Mid-batch: samples 20 to 22 are queued. */
		if (k == 22 && kill_pid > 0) {
			kill(kill_pid, SIGKILL);
			usleep(300000); /* let the socket close */
		}
		if (k == 10) {
			uint64_t wild[VM_USAGE_MAX_METERS];
			for (size_t i = 0; i < VM_USAGE_MAX_METERS; i++)
				wild[i] = UINT64_C(1) << 62;
			if (vm_rrd_update(rrd, name, set, (t_s - 5) * VM_NS_PER_SEC, have, wild) < 0 ||
			    vm_rrd_update(rrd, name, set, t_s * VM_NS_PER_SEC + 900000000, have, wild) < 0) {
				fprintf(stderr, "rrd_probe: old sample not skipped\n");
				goto out;
			}
		}
	}
	if (batch && (daemon_last(daemon, rrd, name) != start + 10 * (int64_t)(60 / batch * batch - 1) ||
	              vm_rrd_commit(rrd) < 0 || daemon_last(daemon, rrd, name) != start + 590)) {
		fprintf(stderr, "rrd_probe: BATCHes of %zu: not sent as they filled\n", batch);
		goto out;
	}
	char ferr[512];
	if (vm_rrd_flush_all(rrd, ferr, sizeof ferr) < 0) {
		fprintf(stderr, "rrd_probe: %s\n", ferr);
		goto out;
	}
	ret = 0;
out:
	vm_rrd_free(rrd);
	return ret;
}

static int cmd_badnames(const char *dir)
{
	static const char *const bad[] = {"", ".hidden", "..", "a/b", "../etc/x", "a b", "a:b", "vm-\xc3\xa9", "x\n"};
	const struct vm_meter_set *set = vm_usage_vm_meters();
	uint64_t v[VM_USAGE_MAX_METERS] = {0};
	struct vm_rrd *rrd = open_rrd(dir, "-");
	int ret = 0;
	if (!rrd)
		return 1;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *p = vm_rrd_path(rrd, bad[i]);
		if (p || vm_rrd_update(rrd, bad[i], set, 1700000000 * VM_NS_PER_SEC, 0, v) == 0) {
			fprintf(stderr, "rrd_probe: name '%s' accepted\n", bad[i]);
			ret = 1;
		}
		free(p);
	}
	char longname[202];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0'; /* 201 characters */
	if (vm_rrd_update(rrd, longname, set, 1700000000 * VM_NS_PER_SEC, 0, v) == 0) {
		fprintf(stderr, "rrd_probe: 201-character name accepted\n");
		ret = 1;
	}
	longname[200] = '\0';
	char *p = vm_rrd_path(rrd, longname);
	if (!p) {
		fprintf(stderr, "rrd_probe: 200-character name refused\n");
		ret = 1;
	}
	free(p);
	p = vm_rrd_path(rrd, "host-node1.example_B-2");
	if (!p) {
		fprintf(stderr, "rrd_probe: valid name refused\n");
		ret = 1;
	}
	free(p);
	vm_rrd_free(rrd);
	return ret;
}

static int cmd_graph(char **argv, int argc)
{
	struct vm_rrd *rrd = open_rrd(argv[2], argv[3]);
	char err[1024];
	if (!rrd)
		return 1;
	int rc = vm_rrd_graph(rrd, argv[4], vm_usage_vm_meters(), argc > 8 ? argv[8] : NULL, strtoll(argv[5], NULL, 10),
	                      strtoll(argv[6], NULL, 10), argv[7], err, sizeof err);
	if (rc < 0)
		fprintf(stderr, "rrd_probe: %s\n", err);
	vm_rrd_free(rrd);
	return rc < 0 ? 1 : 0;
}

static int fail(const char *what, const char *msg)
{
	fprintf(stderr, "rrd_probe: %s: %s\n", what, msg);
	return 1;
}

static void count_line(void *arg, const char *line)
{
	int *n = arg;
	if (strcmp(line, "step 1 10") == 0)
		n[1] = 1;
	n[0]++;
}

static void batch_error(void *arg, size_t index, const char *msg)
{
	size_t *seen = arg;
	seen[0] = index;
	seen[1] = strstr(msg, "No such file") != NULL;
}

static int cmd_rrdc(const char *sock, const char *file)
{
	char msg[1024], cmd[1024];
	if (vm_rrdc_connect("/nonexistent/rrdcached.sock", 1000, msg, sizeof msg))
		return fail("connect to a missing socket", "succeeded");
	struct vm_rrdc *c = vm_rrdc_connect(sock, 5000, msg, sizeof msg);
	if (!c)
		return fail("connect", msg);
	int ret = 1;
	int lines[2] = {0, 0};
	snprintf(cmd, sizeof cmd, "INFO %s", file);
	if (vm_rrdc_command(c, cmd, msg, sizeof msg, count_line, lines) != VM_RRDC_OK || lines[0] < 10 || !lines[1]) {
		fail("INFO", msg);
		goto out;
	}
	snprintf(cmd, sizeof cmd, "UPDATE %s 1700000000:1:2", file);
	if (vm_rrdc_command(c, cmd, msg, sizeof msg, NULL, NULL) != VM_RRDC_OK) {
		fail("UPDATE", msg);
		goto out;
	}
	/* Not newer: the daemon refuses with its reason, the connection stays. */
	if (vm_rrdc_command(c, cmd, msg, sizeof msg, NULL, NULL) != VM_RRDC_REFUSED ||
	    !strstr(msg, "illegal attempt") || !vm_rrdc_alive(c)) {
		fail("repeated UPDATE not refused", msg);
		goto out;
	}
	if (vm_rrdc_command(c, "UPDATE x\ny", msg, sizeof msg, NULL, NULL) != VM_RRDC_BROKEN || vm_rrdc_alive(c)) {
		fail("a newline inside a command", "accepted");
		goto out;
	}
	vm_rrdc_close(c);
	c = vm_rrdc_connect(sock, 5000, msg, sizeof msg);
	if (!c)
		return fail("reconnect", msg);
	char u1[512], u2[512], u3[512];
	snprintf(u1, sizeof u1, "UPDATE %s 1700000010:2:2", file);
	snprintf(u2, sizeof u2, "UPDATE %s.missing 1700000010:2:2", file);
	snprintf(u3, sizeof u3, "UPDATE %s 1700000020:3:2", file);
	const char *batch[] = {u1, u2, u3};
	size_t seen[2] = {99, 0};
	int rc = vm_rrdc_batch(c, batch, 3, batch_error, seen, msg, sizeof msg);
	if (rc != 1 || seen[0] != 1 || !seen[1]) {
		fprintf(stderr, "rrd_probe: batch gave %d, error at %zu\n", rc, seen[0]);
		goto out;
	}
	snprintf(cmd, sizeof cmd, "LAST %s", file);
	if (vm_rrdc_command(c, cmd, msg, sizeof msg, NULL, NULL) != VM_RRDC_OK || strcmp(msg, "1700000020") != 0) {
		fail("LAST after the batch", msg);
		goto out;
	}
	ret = 0;
out:
	vm_rrdc_close(c);
	return ret;
}

int main(int argc, char **argv)
{
	vm_log_open("rrd_probe", false);
	if (argc == 6 && strcmp(argv[1], "write") == 0)
		return cmd_write(argv[2], argv[3], argv[4], strtoll(argv[5], NULL, 10), 0);
	if (argc == 7 && strcmp(argv[1], "write-kill") == 0)
		return cmd_write(argv[2], argv[3], argv[4], strtoll(argv[5], NULL, 10), (pid_t)atoi(argv[6]));
	if (argc == 4 && strcmp(argv[1], "rrdc") == 0)
		return cmd_rrdc(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "new") == 0) {
		struct vm_rrd *rrd = open_rrd(argv[2], argv[3]);
		vm_rrd_free(rrd);
		return rrd ? 0 : 1;
	}
	if (argc == 3 && strcmp(argv[1], "badnames") == 0)
		return cmd_badnames(argv[2]);
	if ((argc == 8 || argc == 9) && strcmp(argv[1], "graph") == 0)
		return cmd_graph(argv, argc);
	fprintf(stderr, "usage: rrd_probe write|new|badnames|graph ...\n");
	return 2;
}
