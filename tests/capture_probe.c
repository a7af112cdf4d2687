/* Drives collector/capture.c and its worker for tests/integration/
 * capture-live.sh: reads the traffic classes and capture options from a
 * config file, then takes commands on stdin, one per line, on a libevent
 * loop (the worker's messages and restarts run on it, as in the collector):
 *
 *   ifaces [SLOT:NAME ...]  replace the interface set
 *   flush                   print the interval since the last flush:
 *                             interval complete=C uncovered_ms=N exits=N recv=N
 *                               drop=N ifdrop=N frames=N foreign=N kernel=K insns=N
 *                             cell SLOT CLASS rx|tx BYTES PACKETS   (one per cell)
 *   ifstate                 print "ifstate SLOT NAME IFINDEX" per entry
 *   pid                     print "pid N" (0: no worker now)
 *   reload FILE             load FILE and hand its classes over
 *   quit
 *
 * Every answer ends with a line "end".  Usage: capture_probe [-v] -c FILE */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "conf.h"
#include "log.h"

struct probe {
	struct event_base *base;
	struct col_capture *cap;
	struct vm_conf *conf;
	char line[65536];
	size_t len;
};

static void cmd_ifaces(struct probe *pr, char *args)
{
	struct col_capture_iface *ifs = calloc(COL_CAPTURE_MAX_IFACES + 1, sizeof *ifs);
	size_t n = 0;

	for (char *tok = strtok(args, " "); tok && n <= COL_CAPTURE_MAX_IFACES; tok = strtok(NULL, " ")) {
		char *colon = strchr(tok, ':');
		if (!colon) {
			printf("error bad entry '%s'\n", tok);
			free(ifs);
			return;
		}
		*colon = '\0';
		ifs[n].slot = (uint32_t)strtoul(tok, NULL, 10);
		snprintf(ifs[n].name, sizeof ifs[n].name, "%s", colon + 1);
		n++;
	}
	int r = col_capture_set_interfaces(pr->cap, ifs, n);
	if (r < 0)
		printf("error %s\n", strerror(-r));
	free(ifs);
}

static void cmd_flush(struct probe *pr)
{
	struct col_capture_interval iv;

	col_capture_flush(pr->cap, &iv);
	printf("interval complete=%d uncovered_ms=%lld exits=%u recv=%llu drop=%llu ifdrop=%llu frames=%llu "
	       "foreign=%llu kernel=%d insns=%u\n",
	       iv.complete, (long long)(iv.uncovered_ns / 1000000), iv.worker_exits,
	       (unsigned long long)iv.stats.ps_recv, (unsigned long long)iv.stats.ps_drop,
	       (unsigned long long)iv.stats.ps_ifdrop, (unsigned long long)iv.stats.frames,
	       (unsigned long long)iv.stats.foreign, iv.stats.kernel_filter, iv.stats.filter_insns);
	for (size_t i = 0; i < iv.n_cells; i++) {
		const struct col_capture_cell *c = &iv.cells[i];
		printf("cell %u %s %s %llu %llu\n", c->slot, c->class_name, c->dir == VM_PKT_RX ? "rx" : "tx",
		       (unsigned long long)c->bytes, (unsigned long long)c->packets);
	}
	col_capture_interval_release(&iv);
}

static void run(struct probe *pr, char *cmd)
{
	char *args = strchr(cmd, ' ');
	if (args)
		*args++ = '\0';
	else
		args = cmd + strlen(cmd);

	if (strcmp(cmd, "ifaces") == 0) {
		cmd_ifaces(pr, args);
	} else if (strcmp(cmd, "flush") == 0) {
		cmd_flush(pr);
	} else if (strcmp(cmd, "ifstate") == 0) {
		const struct col_capture_ifstate *st;
		size_t n = col_capture_ifstate(pr->cap, &st);
		for (size_t i = 0; i < n; i++)
			printf("ifstate %u %s %u\n", st[i].slot, st[i].name, st[i].ifindex);
	} else if (strcmp(cmd, "pid") == 0) {
		printf("pid %d\n", (int)col_capture_worker_pid(pr->cap));
	} else if (strcmp(cmd, "reload") == 0) {
		char err[1024];
		struct vm_conf *conf = vm_conf_load(args, err, sizeof err);
		if (!conf) {
			printf("error %s\n", err);
		} else {
			col_capture_set_conf(pr->cap, conf);
			vm_conf_free(pr->conf);
			pr->conf = conf;
		}
	} else if (strcmp(cmd, "quit") == 0) {
		event_base_loopbreak(pr->base);
	} else if (cmd[0]) {
		printf("error unknown command '%s'\n", cmd);
	}
	printf("end\n");
	fflush(stdout);
}

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct probe *pr = arg;
	(void)what;
	ssize_t r = read(fd, pr->line + pr->len, sizeof pr->line - 1 - pr->len);

	if (r <= 0) {
		event_base_loopbreak(pr->base);
		return;
	}
	pr->len += (size_t)r;
	char *nl;
	while ((nl = memchr(pr->line, '\n', pr->len))) {
		*nl = '\0';
		run(pr, pr->line);
		size_t used = (size_t)(nl - pr->line) + 1;
		memmove(pr->line, nl + 1, pr->len - used);
		pr->len -= used;
	}
	if (pr->len == sizeof pr->line - 1)
		pr->len = 0; /* a line too long: dropped */
}

int main(int argc, char **argv)
{
	struct probe pr = {0};
	const char *path = NULL;
	char err[1024];
	int opt;

	if (argc >= 2 && strcmp(argv[1], "--capture-worker") == 0)
		return argc == 3 ? col_capture_worker_main(argv[2]) : 2;
	vm_log_open("capture_probe", false);
	while ((opt = getopt(argc, argv, "vc:")) != -1) {
		switch (opt) {
		case 'v': vm_log_set_level(VM_LOG_DEBUG); break;
		case 'c': path = optarg; break;
		default: fprintf(stderr, "usage: capture_probe [-v] -c FILE\n"); return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "usage: capture_probe [-v] -c FILE\n");
		return 2;
	}
	if (!(pr.conf = vm_conf_load(path, err, sizeof err))) {
		fprintf(stderr, "capture_probe: %s\n", err);
		return 1;
	}
	pr.base = event_base_new();
	if (!(pr.cap = col_capture_start(pr.conf, pr.base, err, sizeof err))) {
		fprintf(stderr, "capture_probe: %s\n", err);
		return 1;
	}
	struct event *ev = event_new(pr.base, 0, EV_READ | EV_PERSIST, on_stdin, &pr);
	event_add(ev, NULL);
	event_base_dispatch(pr.base);
	event_free(ev);
	col_capture_stop(pr.cap);
	event_base_free(pr.base);
	vm_conf_free(pr.conf);
	return 0;
}
