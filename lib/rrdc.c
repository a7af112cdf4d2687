#include "config.h"

#include "rrdc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "xalloc.h"

/* rrdcached answers a line of at most a few hundred bytes (an error
 * message with a path); INFO lines are shorter. */
#define LINE_MAX_LEN 4096

struct vm_rrdc {
	int fd;
	char buf[8192]; /* received, not yet consumed: buf[pos .. len) */
	size_t pos, len;
	char *out; /* BATCH text */
	size_t out_cap;
};

struct vm_rrdc *vm_rrdc_connect(const char *path, int timeout_ms, char *err, size_t errsize)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errsize, "socket path '%s' too long", path);
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		return NULL;
	}
	/* A wedged daemon must not hold up sampling for long. */
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		snprintf(err, errsize, "connect to '%s': %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	struct vm_rrdc *c = vm_xcalloc(1, sizeof *c);
	c->fd = fd;
	return c;
}

void vm_rrdc_close(struct vm_rrdc *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	free(c);
}

int vm_rrdc_alive(const struct vm_rrdc *c)
{
	return c && c->fd >= 0;
}

static int broken(struct vm_rrdc *c, char *msg, size_t msgsize, const char *what, int err)
{
	if (err)
		snprintf(msg, msgsize, "%s: %s", what, strerror(err));
	else
		snprintf(msg, msgsize, "%s", what);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	return VM_RRDC_BROKEN;
}

static int send_all(struct vm_rrdc *c, const char *p, size_t n, char *msg, size_t msgsize)
{
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return broken(c, msg, msgsize, "send", errno == EAGAIN ? ETIMEDOUT : errno);
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one line into line (without its newline). */
static int read_line(struct vm_rrdc *c, char *line, size_t size, char *msg, size_t msgsize)
{
	size_t n = 0;
	for (;;) {
		while (c->pos < c->len) {
			char ch = c->buf[c->pos++];
			if (ch == '\n') {
				line[n] = '\0';
				return 0;
			}
			if (n + 1 >= size)
				return broken(c, msg, msgsize, "answer line too long", 0);
			line[n++] = ch;
		}
		ssize_t r = recv(c->fd, c->buf, sizeof c->buf, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return broken(c, msg, msgsize, "receive", errno == EAGAIN ? ETIMEDOUT : errno);
		if (r == 0)
			return broken(c, msg, msgsize, "connection closed by the daemon", 0);
		c->pos = 0;
		c->len = (size_t)r;
	}
}

/* "STATUS MESSAGE": the status, the message's start in *rest. */
static int parse_status(const char *line, long *status, const char **rest)
{
	char *end;
	errno = 0;
	long v = strtol(line, &end, 10);
	if (end == line || errno || (*end != ' ' && *end != '\0'))
		return -1;
	*status = v;
	*rest = *end ? end + 1 : end;
	return 0;
}

/* Reads a status line and, for a positive status, its lines. */
static int read_answer(struct vm_rrdc *c, char *msg, size_t msgsize, vm_rrdc_line_cb line_cb, void *arg)
{
	char line[LINE_MAX_LEN];
	int rc = read_line(c, line, sizeof line, msg, msgsize);
	if (rc < 0)
		return rc;
	long status;
	const char *rest;
	if (parse_status(line, &status, &rest) < 0) {
		char what[LINE_MAX_LEN + 32];
		snprintf(what, sizeof what, "not an rrdcached answer: '%.200s'", line);
		return broken(c, msg, msgsize, what, 0);
	}
	snprintf(msg, msgsize, "%s", rest);
	if (status < 0)
		return VM_RRDC_REFUSED;
	for (long i = 0; i < status; i++) {
		char more[LINE_MAX_LEN];
		char err[256];
		rc = read_line(c, more, sizeof more, err, sizeof err);
		if (rc < 0) {
			snprintf(msg, msgsize, "%s", err);
			return rc;
		}
		if (line_cb)
			line_cb(arg, more);
	}
	return VM_RRDC_OK;
}

int vm_rrdc_command(struct vm_rrdc *c, const char *cmd, char *msg, size_t msgsize, vm_rrdc_line_cb line_cb, void *arg)
{
	if (c->fd < 0)
		return broken(c, msg, msgsize, "not connected", 0);
	if (strchr(cmd, '\n'))
		return broken(c, msg, msgsize, "newline inside a command", 0);
	size_t len = strlen(cmd);
	char *line = vm_xmalloc(len + 2);
	memcpy(line, cmd, len);
	line[len] = '\n';
	int rc = send_all(c, line, len + 1, msg, msgsize);
	free(line);
	if (rc < 0)
		return rc;
	return read_answer(c, msg, msgsize, line_cb, arg);
}

struct batch_errors {
	size_t n;
	vm_rrdc_error_cb cb;
	void *arg;
	bool bad;
};

/* "INDEX MESSAGE", INDEX counted from 1. */
static void batch_error_line(void *arg, const char *line)
{
	struct batch_errors *be = arg;
	char *end;
	errno = 0;
	unsigned long idx = strtoul(line, &end, 10);
	if (end == line || errno || idx == 0 || idx > be->n) {
		be->bad = true;
		return;
	}
	if (be->cb)
		be->cb(be->arg, idx - 1, *end == ' ' ? end + 1 : end);
}

int vm_rrdc_batch(struct vm_rrdc *c, const char *const *cmds, size_t n, vm_rrdc_error_cb err_cb, void *arg, char *msg,
                  size_t msgsize)
{
	if (c->fd < 0)
		return broken(c, msg, msgsize, "not connected", 0);
	if (n == 0)
		return 0;
	/* One buffer, one send: the daemon reads while we write, and its
	 * "go ahead" waits in our receive buffer. */
	size_t len = 6; /* "BATCH\n" */
	for (size_t i = 0; i < n; i++) {
		if (strchr(cmds[i], '\n') || strcmp(cmds[i], ".") == 0)
			return broken(c, msg, msgsize, "newline or a lone '.' inside a batch command", 0);
		len += strlen(cmds[i]) + 1;
	}
	len += 2; /* ".\n" */
	c->out = vm_xgrow(c->out, &c->out_cap, len, 1);
	size_t o = 0;
	memcpy(c->out, "BATCH\n", 6);
	o = 6;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(cmds[i]);
		memcpy(c->out + o, cmds[i], l);
		o += l;
		c->out[o++] = '\n';
	}
	memcpy(c->out + o, ".\n", 2);
	int rc = send_all(c, c->out, len, msg, msgsize);
	if (rc < 0)
		return rc;
	rc = read_answer(c, msg, msgsize, NULL, NULL);
	if (rc == VM_RRDC_REFUSED) /* BATCH itself refused: the lines were taken as commands */
		return broken(c, msg, msgsize, "the daemon refused BATCH", 0);
	if (rc < 0)
		return rc;
	struct batch_errors be = {n, err_cb, arg, false};
	char line[LINE_MAX_LEN];
	rc = read_line(c, line, sizeof line, msg, msgsize);
	if (rc < 0)
		return rc;
	long status;
	const char *rest;
	if (parse_status(line, &status, &rest) < 0 || status < 0 || (size_t)status > n)
		return broken(c, msg, msgsize, "bad answer to a batch", 0);
	for (long i = 0; i < status; i++) {
		char more[LINE_MAX_LEN];
		rc = read_line(c, more, sizeof more, msg, msgsize);
		if (rc < 0)
			return rc;
		batch_error_line(&be, more);
	}
	if (be.bad)
		return broken(c, msg, msgsize, "bad error line in the answer to a batch", 0);
	snprintf(msg, msgsize, "%s", rest);
	return (int)status;
}
