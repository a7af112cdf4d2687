#include "config.h"

#include "capture.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture_proto.h"
#include "conf.h"
#include "log.h"
#include "vtime.h"
#include "xalloc.h"

/* The worker's end of the socket pair in the worker. */
#define CAP_WORKER_FD 3
#define CAP_BACKOFF_MIN_S 1
#define CAP_BACKOFF_MAX_S 60

struct col_capture {
	struct event_base *base;
	struct event *ev_read, *ev_restart;

	/* What a worker is started with; the collector's own copies. */
	struct col_capmsg_config cfg;
	char default_class[VM_NETCLASS_NAME_MAX + 1];
	struct col_capmsg_rule *rules;
	size_t n_rules;
	struct col_capture_iface *ifaces;
	size_t n_ifaces;
	char **env; /* the worker's environment */

	/* The worker now. */
	pid_t pid;
	int sock;
	bool ready;
	int64_t ready_at;     /* UTC ns: READY received */
	int64_t started_mono; /* monotonic ns */
	int64_t restart_at;   /* monotonic ns; 0: none due */
	int backoff_s;
	uint64_t seq;          /* of the last FLUSH sent */
	uint64_t answered_seq; /* of the last complete COUNTS */

	/* The interval since the last flush. */
	int64_t from;
	bool lost; /* a worker died in it: its counts are gone */
	unsigned exits;
	struct col_capture_stats stats;
	struct col_capture_cell *cells; /* unmerged */
	size_t n_cells, cap_cells;

	/* The worker's last IFSTATE, and the one arriving. */
	struct col_capture_ifstate *ifstate, *new_ifstate;
	size_t n_ifstate, n_new_ifstate, cap_new_ifstate;
	bool in_ifstate;
};

/* ---------------------------------------------------------------- worker */

static void cap_spawn(struct col_capture *cap);

/* The worker is gone, or must go: kill, reap, schedule the restart.  Its
 * counts since the last flush are lost with it. */
static void cap_lost(struct col_capture *cap, const char *why)
{
	int status = 0;
	char how[64] = "";

	if (cap->pid > 0) {
		kill(cap->pid, SIGKILL);
		while (waitpid(cap->pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status))
			snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			snprintf(how, sizeof how, "ended by signal %d", WTERMSIG(status));
	}
	if (cap->ev_read) {
		event_free(cap->ev_read);
		cap->ev_read = NULL;
	}
	if (cap->sock >= 0)
		close(cap->sock);
	/* A worker that ran a while failed for a new reason: start over. */
	if (vm_monotonic_ns() - cap->started_mono > (int64_t)CAP_BACKOFF_MAX_S * VM_NS_PER_SEC)
		cap->backoff_s = CAP_BACKOFF_MIN_S;
	vm_err("capture: worker %d %s (%s): its counts since the last flush are lost; restarting in %d s",
	       (int)cap->pid, how[0] ? how : "is gone", why, cap->backoff_s);
	cap->sock = -1;
	cap->pid = 0;
	cap->ready = false;
	cap->lost = true;
	cap->exits++;
	cap->in_ifstate = false;
	cap->restart_at = vm_monotonic_ns() + (int64_t)cap->backoff_s * VM_NS_PER_SEC;
	if (cap->ev_restart) {
		struct timeval tv = {cap->backoff_s, 0};
		evtimer_add(cap->ev_restart, &tv);
	}
	cap->backoff_s = cap->backoff_s * 2 > CAP_BACKOFF_MAX_S ? CAP_BACKOFF_MAX_S : cap->backoff_s * 2;
}

static int cap_send_classes(struct col_capture *cap)
{
	const size_t chunk = COL_CAPMSG_CHUNK(struct col_capmsg_rule, sizeof(struct col_capmsg_classes));
	struct col_capmsg_classes body;
	size_t i = 0;

	snprintf(body.default_name, sizeof body.default_name, "%s", cap->default_class);
	do {
		size_t n = cap->n_rules - i < chunk ? cap->n_rules - i : chunk;
		uint32_t flags = (i == 0 ? COL_CAPMSG_F_FIRST : 0) | (i + n == cap->n_rules ? COL_CAPMSG_F_LAST : 0);
		int r = col_capmsg_send(cap->sock, COL_CAPMSG_CLASSES, 0, flags, &body, cap->rules + i, (uint32_t)n);
		if (r < 0)
			return r;
		i += n;
	} while (i < cap->n_rules);
	return 0;
}

static int cap_send_ifaces(struct col_capture *cap)
{
	const size_t chunk = COL_CAPMSG_CHUNK(struct col_capmsg_iface, 0);
	struct col_capmsg_iface *items = vm_xcalloc(chunk, sizeof *items);
	size_t i = 0;
	int r = 0;

	do {
		size_t n = cap->n_ifaces - i < chunk ? cap->n_ifaces - i : chunk;
		for (size_t k = 0; k < n; k++) {
			items[k].slot = cap->ifaces[i + k].slot;
			memcpy(items[k].name, cap->ifaces[i + k].name, sizeof items[k].name);
		}
		uint32_t flags = (i == 0 ? COL_CAPMSG_F_FIRST : 0) | (i + n == cap->n_ifaces ? COL_CAPMSG_F_LAST : 0);
		if ((r = col_capmsg_send(cap->sock, COL_CAPMSG_IFACES, 0, flags, NULL, items, (uint32_t)n)) < 0)
			break;
		i += n;
	} while (i < cap->n_ifaces);
	free(items);
	return r;
}

static void cap_on_readable(evutil_socket_t fd, short what, void *arg);

static void cap_on_restart(evutil_socket_t fd, short what, void *arg)
{
	struct col_capture *cap = arg;
	(void)fd, (void)what;
	if (cap->pid == 0)
		cap_spawn(cap);
}

/* Starts a worker and sends it what it needs; a failure is logged and
 * retried later like a dead worker. */
static void cap_spawn(struct col_capture *cap)
{
	int sv[2];
	char fd_arg[16];
	char *argv[] = {"vmeter-capture", "--capture-worker", fd_arg, NULL};
	long max_fd = sysconf(_SC_OPEN_MAX);

	cap->restart_at = 0;
	cap->started_mono = vm_monotonic_ns();
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		vm_err("capture: socketpair: %s", strerror(errno));
		goto fail;
	}
	snprintf(fd_arg, sizeof fd_arg, "%d", CAP_WORKER_FD);
	if (max_fd < 0 || max_fd > 65536)
		max_fd = 65536;
	/* Between fork and exec, only async-signal-safe calls: the
	 * collector has threads. */
	pid_t pid = fork();
	if (pid < 0) {
		vm_err("capture: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (sv[1] == CAP_WORKER_FD) {
			fcntl(sv[1], F_SETFD, 0);
		} else if (dup2(sv[1], CAP_WORKER_FD) < 0) {
			_exit(126);
		}
		/* Nothing of the collector's but the socket and stdio. */
		if (syscall(SYS_close_range, CAP_WORKER_FD + 1, ~0U, 0) < 0)
			for (long fd = CAP_WORKER_FD + 1; fd < max_fd; fd++)
				close((int)fd);
		execve("/proc/self/exe", argv, cap->env);
		_exit(127);
	}
	close(sv[1]);
	cap->sock = sv[0];
	cap->pid = pid;
	cap->ready = false;
	struct timeval tv = {1, 0};
	setsockopt(cap->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	cap->cfg.log_level = (uint32_t)vm_log_get_level();
	int r = col_capmsg_send(cap->sock, COL_CAPMSG_CONFIG, 0, 0, &cap->cfg, NULL, 0);
	if (r == 0)
		r = cap_send_classes(cap);
	if (r == 0)
		r = cap_send_ifaces(cap);
	if (r < 0) {
		cap_lost(cap, "it did not take its configuration");
		return;
	}
	if (cap->base) {
		cap->ev_read = event_new(cap->base, cap->sock, EV_READ | EV_PERSIST, cap_on_readable, cap);
		event_add(cap->ev_read, NULL);
	}
	vm_debug("capture: started worker %d", (int)pid);
	return;
fail:
	cap->lost = true;
	cap->restart_at = vm_monotonic_ns() + (int64_t)cap->backoff_s * VM_NS_PER_SEC;
	if (cap->ev_restart) {
		struct timeval rt = {cap->backoff_s, 0};
		evtimer_add(cap->ev_restart, &rt);
	}
	cap->backoff_s = cap->backoff_s * 2 > CAP_BACKOFF_MAX_S ? CAP_BACKOFF_MAX_S : cap->backoff_s * 2;
}

static void cap_maybe_restart(struct col_capture *cap)
{
	if (cap->pid == 0 && cap->restart_at && vm_monotonic_ns() >= cap->restart_at)
		cap_spawn(cap);
}

/* ---------------------------------------------------------------- messages */

static void cap_on_ifstate(struct col_capture *cap, const struct col_capmsg_hdr *h, const void *items)
{
	if (h->flags & COL_CAPMSG_F_FIRST) {
		cap->n_new_ifstate = 0;
		cap->in_ifstate = true;
	}
	if (!cap->in_ifstate)
		return;
	cap->new_ifstate =
	    vm_xgrow(cap->new_ifstate, &cap->cap_new_ifstate, cap->n_new_ifstate + h->n, sizeof *cap->new_ifstate);
	for (uint32_t i = 0; i < h->n; i++) {
		const struct col_capmsg_ifstate *s = (const struct col_capmsg_ifstate *)items + i;
		struct col_capture_ifstate *d = &cap->new_ifstate[cap->n_new_ifstate++];
		d->slot = s->slot;
		d->ifindex = s->ifindex;
		memcpy(d->name, s->name, sizeof d->name);
	}
	if (!(h->flags & COL_CAPMSG_F_LAST))
		return;
	cap->in_ifstate = false;
	/* Report an interface once when it goes missing, not at each report. */
	for (size_t i = 0; i < cap->n_new_ifstate; i++) {
		const struct col_capture_ifstate *s = &cap->new_ifstate[i];
		bool was_missing = false;
		for (size_t k = 0; k < cap->n_ifstate; k++)
			if (strcmp(cap->ifstate[k].name, s->name) == 0)
				was_missing = cap->ifstate[k].ifindex == 0;
		if (s->ifindex == 0 && !was_missing)
			vm_warn("capture: no interface '%s' (slot %u): its traffic is not counted", s->name, s->slot);
	}
	free(cap->ifstate);
	cap->ifstate = vm_xmalloc((cap->n_new_ifstate + 1) * sizeof *cap->ifstate);
	if (cap->n_new_ifstate)
		memcpy(cap->ifstate, cap->new_ifstate, cap->n_new_ifstate * sizeof *cap->ifstate);
	cap->n_ifstate = cap->n_new_ifstate;
}

static void cap_on_counts(struct col_capture *cap, const struct col_capmsg_hdr *h, const void *body, const void *items)
{
	cap->cells = vm_xgrow(cap->cells, &cap->cap_cells, cap->n_cells + h->n, sizeof *cap->cells);
	for (uint32_t i = 0; i < h->n; i++) {
		const struct col_capmsg_cell *c = (const struct col_capmsg_cell *)items + i;
		struct col_capture_cell *d = &cap->cells[cap->n_cells++];
		d->slot = c->slot;
		d->dir = (enum vm_pkt_dir)c->dir;
		memcpy(d->class_name, c->class_name, sizeof d->class_name);
		d->bytes = c->bytes;
		d->packets = c->packets;
	}
	if (!(h->flags & COL_CAPMSG_F_LAST))
		return;
	const struct col_capmsg_stats *s = body;
	struct col_capture_stats *t = &cap->stats;
	t->ps_recv += s->ps_recv;
	t->ps_drop += s->ps_drop;
	t->ps_ifdrop += s->ps_ifdrop;
	t->frames += s->frames;
	for (int v = 0; v < VM_PKT_N_VERDICTS; v++)
		t->verdicts[v] += s->verdicts[v];
	t->foreign += s->foreign;
	t->kernel_filter = s->kernel_filter != 0;
	t->filter_insns = s->filter_insns;
	if (h->seq)
		cap->answered_seq = h->seq;
}

/* Handles one checked message; -1 if it breaks the exchange. */
static int cap_on_message(struct col_capture *cap, const void *buf)
{
	const struct col_capmsg_hdr *h = buf;
	const void *body = col_capmsg_body(buf);

	switch ((enum col_capmsg_type)h->type) {
	case COL_CAPMSG_READY: {
		const struct col_capmsg_ready *r = body;
		cap->ready = true;
		cap->ready_at = vm_now_ns();
		vm_debug("capture: worker %u ready as uid %u gid %u", r->pid, r->uid, r->gid);
		return 0;
	}
	case COL_CAPMSG_LOG: {
		const struct col_capmsg_log *l = body;
		enum vm_log_level level =
		    l->level >= VM_LOG_ERR && l->level <= VM_LOG_DEBUG ? (enum vm_log_level)l->level : VM_LOG_ERR;
		vm_log(level, "%s", l->text);
		return 0;
	}
	case COL_CAPMSG_IFSTATE: cap_on_ifstate(cap, h, col_capmsg_items(buf)); return 0;
	case COL_CAPMSG_COUNTS: cap_on_counts(cap, h, body, col_capmsg_items(buf)); return 0;
	default: return -1;
	}
}

/* Reads messages until `until` holds, the worker is lost, or timeout_ms
 * passed (0: only what is there).  Returns whether `until` holds. */
enum cap_until { UNTIL_NOTHING, UNTIL_READY, UNTIL_ANSWER };

static bool cap_pump(struct col_capture *cap, int timeout_ms, enum cap_until until)
{
	static uint64_t buf[COL_CAPMSG_MAX / sizeof(uint64_t)];
	int64_t end = vm_monotonic_ns() + (int64_t)timeout_ms * 1000000;

	while (cap->sock >= 0) {
		if ((until == UNTIL_READY && cap->ready) || (until == UNTIL_ANSWER && cap->answered_seq == cap->seq))
			return true;
		int64_t left = (end - vm_monotonic_ns()) / 1000000;
		struct pollfd pfd = {cap->sock, POLLIN, 0};
		int r = poll(&pfd, 1, left > 0 ? (int)left : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		ssize_t len = recv(cap->sock, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
		if (len < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (len <= 0) {
			cap_lost(cap, len == 0 ? "it closed its socket" : strerror(errno));
			return false;
		}
		char err[256];
		if ((size_t)len > sizeof buf)
			snprintf(err, sizeof err, "message of %zd bytes, longer than the largest", len);
		if ((size_t)len > sizeof buf || col_capmsg_check(buf, (size_t)len, err, sizeof err) < 0 ||
		    (cap_on_message(cap, buf) < 0 &&
		     snprintf(err, sizeof err, "unexpected message type %u", ((struct col_capmsg_hdr *)buf)->type))) {
			vm_err("capture: bad message from worker %d: %s", (int)cap->pid, err);
			cap_lost(cap, "it sent a bad message");
			return false;
		}
	}
	return false;
}

static void cap_on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	cap_pump(arg, 0, UNTIL_NOTHING);
}

void col_capture_service(struct col_capture *cap)
{
	cap_pump(cap, 0, UNTIL_NOTHING);
	cap_maybe_restart(cap);
}

/* ---------------------------------------------------------------- API */

static void cap_take_conf(struct col_capture *cap, const struct vm_conf *conf)
{
	size_t n = 0;

	snprintf(cap->cfg.user, sizeof cap->cfg.user, "%s", conf->capture_user);
	snprintf(cap->cfg.chroot_dir, sizeof cap->cfg.chroot_dir, "%s", conf->capture_chroot_dir);
	cap->cfg.buffer_mb = (uint32_t)conf->capture_buffer_mb;
	snprintf(cap->default_class, sizeof cap->default_class, "%s", conf->traffic_default);
	for (size_t i = 0; i < conf->n_traffic_classes; i++)
		n += conf->traffic_classes[i].n_prefixes;
	free(cap->rules);
	cap->rules = vm_xcalloc(n + 1, sizeof *cap->rules);
	cap->n_rules = 0;
	for (size_t i = 0; i < conf->n_traffic_classes; i++) {
		const struct vm_traffic_class *tc = &conf->traffic_classes[i];
		for (size_t k = 0; k < tc->n_prefixes; k++) {
			struct col_capmsg_rule *r = &cap->rules[cap->n_rules++];
			snprintf(r->class_name, sizeof r->class_name, "%s", tc->name);
			snprintf(r->prefix, sizeof r->prefix, "%s", tc->prefixes[k]);
		}
	}
}

/* The worker's environment: the sanitizers' options, nothing of the
 * collector's (PGPASSWORD and the like stay behind). */
static char **cap_env(void)
{
	static const char *const keep[] = {"ASAN_OPTIONS=", "LSAN_OPTIONS=", "UBSAN_OPTIONS="};
	const size_t n_keep = sizeof keep / sizeof keep[0];
	char **env = vm_xcalloc(n_keep + 1, sizeof *env);
	size_t n = 0;

	for (char **e = environ; *e; e++)
		for (size_t k = 0; k < n_keep && n < n_keep; k++)
			if (strncmp(*e, keep[k], strlen(keep[k])) == 0)
				env[n++] = vm_xstrdup(*e);
	return env;
}

struct col_capture *col_capture_start(const struct vm_conf *conf, struct event_base *base, char *err, size_t errsize)
{
	struct col_capture *cap = vm_xcalloc(1, sizeof *cap);

	cap->base = base;
	cap->sock = -1;
	cap->backoff_s = CAP_BACKOFF_MIN_S;
	cap->env = cap_env();
	cap->from = vm_now_ns();
	cap_take_conf(cap, conf);
	if (base)
		cap->ev_restart = evtimer_new(base, cap_on_restart, cap);
	cap_spawn(cap);
	if (cap->pid == 0) {
		snprintf(err, errsize, "cannot start the capture worker (see the log)");
		col_capture_stop(cap);
		return NULL;
	}
	return cap;
}

void col_capture_stop(struct col_capture *cap)
{
	if (!cap)
		return;
	if (cap->pid > 0) {
		/* Closing the socket tells the worker to exit. */
		close(cap->sock);
		cap->sock = -1;
		int status;
		for (int i = 0; i < 100 && waitpid(cap->pid, &status, WNOHANG) == 0; i++)
			usleep(10000);
		if (waitpid(cap->pid, &status, WNOHANG) == 0) {
			kill(cap->pid, SIGKILL);
			waitpid(cap->pid, &status, 0);
		}
	}
	if (cap->ev_read)
		event_free(cap->ev_read);
	if (cap->ev_restart)
		event_free(cap->ev_restart);
	for (char **e = cap->env; e && *e; e++)
		free(*e);
	free(cap->env);
	free(cap->rules);
	free(cap->ifaces);
	free(cap->cells);
	free(cap->ifstate);
	free(cap->new_ifstate);
	free(cap);
}

int col_capture_set_interfaces(struct col_capture *cap, const struct col_capture_iface *ifs, size_t n)
{
	if (n > COL_CAPTURE_MAX_IFACES)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (ifs[i].slot >= COL_CAPTURE_MAX_SLOTS || !ifs[i].name[0] ||
		    !memchr(ifs[i].name, '\0', sizeof ifs[i].name))
			return -EINVAL;
	free(cap->ifaces);
	cap->ifaces = vm_xcalloc(n + 1, sizeof *cap->ifaces);
	if (n)
		memcpy(cap->ifaces, ifs, n * sizeof *ifs);
	cap->n_ifaces = n;
	cap_pump(cap, 0, UNTIL_NOTHING);
	if (cap->sock >= 0 && cap_send_ifaces(cap) < 0)
		cap_lost(cap, "it did not take the interfaces");
	return 0;
}

void col_capture_set_conf(struct col_capture *cap, const struct vm_conf *conf)
{
	cap_take_conf(cap, conf);
	cap_pump(cap, 0, UNTIL_NOTHING);
	if (cap->sock >= 0 && cap_send_classes(cap) < 0)
		cap_lost(cap, "it did not take the traffic classes");
}

static int cmp_cell(const void *a, const void *b)
{
	const struct col_capture_cell *x = a, *y = b;
	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	int c = strcmp(x->class_name, y->class_name);
	if (c)
		return c;
	return (int)x->dir - (int)y->dir;
}

int col_capture_flush(struct col_capture *cap, struct col_capture_interval *iv)
{
	bool answered = false;

	memset(iv, 0, sizeof *iv);
	cap_maybe_restart(cap);
	cap_pump(cap, 0, UNTIL_NOTHING);
	/* A worker just started gets the time a flush allows to open. */
	if (cap->sock >= 0 && !cap->ready)
		cap_pump(cap, COL_CAPTURE_FLUSH_TIMEOUT_MS, UNTIL_READY);
	if (cap->sock >= 0 && cap->ready) {
		int r = col_capmsg_send(cap->sock, COL_CAPMSG_FLUSH, ++cap->seq, 0, NULL, NULL, 0);
		if (r < 0)
			cap_lost(cap, "it took no flush");
		else if (!(answered = cap_pump(cap, COL_CAPTURE_FLUSH_TIMEOUT_MS, UNTIL_ANSWER)) && cap->sock >= 0)
			cap_lost(cap, "it did not answer a flush in time");
	}
	iv->from_ns = cap->from;
	iv->to_ns = vm_now_ns();
	iv->complete = answered && !cap->lost && cap->ready_at <= cap->from;
	if (!answered)
		iv->uncovered_ns = iv->to_ns - iv->from_ns;
	else if (!iv->complete)
		iv->uncovered_ns = cap->ready_at < iv->from_ns ? 0
		                   : cap->ready_at > iv->to_ns ? iv->to_ns - iv->from_ns
		                                               : cap->ready_at - iv->from_ns;
	iv->worker_exits = cap->exits;
	iv->stats = cap->stats;

	/* Merge the chunks (and counts sent early, at a class change). */
	if (cap->n_cells)
		qsort(cap->cells, cap->n_cells, sizeof *cap->cells, cmp_cell);
	size_t k = 0;
	for (size_t i = 0; i < cap->n_cells; i++) {
		if (k && cmp_cell(&cap->cells[k - 1], &cap->cells[i]) == 0) {
			cap->cells[k - 1].bytes += cap->cells[i].bytes;
			cap->cells[k - 1].packets += cap->cells[i].packets;
		} else {
			cap->cells[k++] = cap->cells[i];
		}
	}
	iv->cells = cap->cells;
	iv->n_cells = k;
	cap->cells = NULL;
	cap->n_cells = cap->cap_cells = 0;

	cap->from = iv->to_ns;
	cap->lost = false;
	cap->exits = 0;
	memset(&cap->stats, 0, sizeof cap->stats);
	return 0;
}

void col_capture_interval_release(struct col_capture_interval *iv)
{
	free(iv->cells);
	iv->cells = NULL;
	iv->n_cells = 0;
}

size_t col_capture_ifstate(const struct col_capture *cap, const struct col_capture_ifstate **st)
{
	*st = cap->ifstate;
	return cap->n_ifstate;
}

pid_t col_capture_worker_pid(const struct col_capture *cap)
{
	return cap->pid;
}
