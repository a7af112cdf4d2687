/* aggregator/progrun: one action program from spawn to reaping (progrun.h). */
#include "config.h"

#include "progrun.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vtime.h"
#include "xalloc.h"

/* Without a pidfd the loop looks at the child this often. */
#define POLL_SLICE_MS 20

struct capture {
	char *buf; /* AGG_ACTION_OUTPUT_MAX + 1 */
	size_t len;
};

/* Reads what `fd` holds now into the capture (the excess is read and
 * dropped, so a chatty program never blocks on a full pipe): false at EOF
 * or error.  At most 64 KiB a call: a program writing without pause does
 * not keep the loop from its timeout. */
static bool capture_read(struct capture *c, int fd)
{
	char chunk[4096];
	for (int i = 0; i < 16; i++) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		if (n == 0)
			return false;
		size_t room = AGG_ACTION_OUTPUT_MAX - c->len;
		size_t take = (size_t)n < room ? (size_t)n : room;
		memcpy(c->buf + c->len, chunk, take);
		c->len += take;
	}
	return true;
}

static bool has_exited(pid_t pid)
{
	siginfo_t si = {0};
	/* WNOWAIT: the zombie keeps its process group's id reserved until the
	 * group has been killed. */
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

static int pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec by definition */
#else
	(void)pid;
	return -1;
#endif
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int spawn(pid_t *pid, char *const *argv, char *const *envp, int in_fd, int out_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	/* Its own group (killed as a whole); default dispositions and an
	 * empty mask, whatever the daemon ignores or blocks. */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
	/* Descriptors a library opened without O_CLOEXEC stay out too. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	int rc = posix_spawn(pid, argv[0], &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
}

void agg_prog_run(char *const *argv, char *const *envp, const char *input, size_t len, int64_t timeout_ns,
                  int cancel_fd, struct agg_action_result *res)
{
	struct capture cap = {.buf = vm_xmalloc(AGG_ACTION_OUTPUT_MAX + 1)};
	int in[2] = {-1, -1}, out[2] = {-1, -1}, pidfd = -1;
	res->attempts = 1;
	res->exit_status = -1;
	res->outcome = AGG_OUT_FAILED;
	/* stdin is a socket so that a program which exits without reading it
	 * costs an EPIPE, not the daemon's SIGPIPE (MSG_NOSIGNAL). */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		snprintf(res->message, sizeof res->message, "cannot make pipes: %s", strerror(errno));
		goto out;
	}
	pid_t pid;
	int rc = spawn(&pid, argv, envp, in[1], out[1]);
	close_fd(&in[1]);
	close_fd(&out[1]);
	if (rc != 0) {
		snprintf(res->message, sizeof res->message, "cannot execute \"%s\": %s", argv[0], strerror(rc));
		goto out;
	}
	fcntl(in[0], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	pidfd = pidfd_of(pid);

	size_t sent = 0;
	bool exited = false, timed_out = false, cancelled = false, terminating = false;
	int64_t deadline = vm_monotonic_ns() + timeout_ns, kill_at = 0;
	if (len == 0)
		close_fd(&in[0]);
	while (!exited) {
		int64_t now = vm_monotonic_ns();
		int64_t until = terminating ? kill_at : deadline;
		if (now >= until) {
			if (terminating)
				break; /* SIGKILL below */
			timed_out = terminating = true;
			kill(-pid, SIGTERM);
			kill_at = now + AGG_ACTION_KILL_GRACE_NS;
			continue;
		}
		struct pollfd p[4];
		int n = 0, i_out = -1, i_in = -1, i_pid = -1, i_cancel = -1;
		if (out[0] >= 0)
			p[i_out = n++] = (struct pollfd){.fd = out[0], .events = POLLIN};
		if (in[0] >= 0)
			p[i_in = n++] = (struct pollfd){.fd = in[0], .events = POLLOUT};
		if (pidfd >= 0)
			p[i_pid = n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		if (!terminating && cancel_fd >= 0)
			p[i_cancel = n++] = (struct pollfd){.fd = cancel_fd, .events = POLLIN};
		int64_t wait_ms = (until - now + 999999) / 1000000;
		if (pidfd < 0 && wait_ms > POLL_SLICE_MS)
			wait_ms = POLL_SLICE_MS;
		if (poll(p, (nfds_t)n, (int)(wait_ms > 60000 ? 60000 : wait_ms)) < 0 && errno != EINTR)
			break;
		if (i_out >= 0 && p[i_out].revents && !capture_read(&cap, out[0]))
			close_fd(&out[0]);
		if (i_in >= 0 && p[i_in].revents) {
			ssize_t w = send(in[0], input + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sent += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == len)
				close_fd(&in[0]); /* done, or the program closed its stdin */
		}
		if (i_cancel >= 0 && p[i_cancel].revents) {
			cancelled = terminating = true;
			kill(-pid, SIGTERM);
			kill_at = vm_monotonic_ns() + AGG_ACTION_KILL_GRACE_NS;
		}
		if (i_pid >= 0 ? p[i_pid].revents != 0 : has_exited(pid))
			exited = true;
	}
	/* Whatever is left of the group goes, while the unreaped leader still
	 * holds its id; then the rest of the output, without waiting. */
	kill(-pid, SIGKILL);
	if (out[0] >= 0)
		capture_read(&cap, out[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st))
		res->exit_status = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		res->exit_status = 128 + WTERMSIG(st);
	char d[32];
	if (timed_out || cancelled) {
		agg_action_duration(timeout_ns, d, sizeof d);
		res->outcome = timed_out ? AGG_OUT_TIMEOUT : AGG_OUT_CANCELLED;
		if (timed_out)
			snprintf(res->message, sizeof res->message, "timed out after %s: killed", d);
		else
			snprintf(res->message, sizeof res->message, "cancelled: the runner stopped");
	} else if (WIFEXITED(st)) {
		res->outcome = res->exit_status == 0 ? AGG_OUT_OK : AGG_OUT_FAILED;
		snprintf(res->message, sizeof res->message, "exit %d", res->exit_status);
	} else {
		const char *name = sigabbrev_np(WTERMSIG(st)); /* strsignal() is not thread-safe */
		snprintf(res->message, sizeof res->message, "killed by signal %d (SIG%s)", WTERMSIG(st),
		         name ? name : "?");
	}
out:
	close_fd(&pidfd);
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	cap.buf[cap.len] = '\0';
	res->output = cap.buf;
	res->ok = res->outcome == AGG_OUT_OK;
}
