/* aggregator/webhook: POST with retries on a worker thread (webhook.h). */
#include "config.h"

#include "webhook.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vtime.h"
#include "xalloc.h"

/* The response is read as far as its status line, at most this much. */
#define STATUS_LINE_MAX 8192

static int fail(char *err, size_t errsize, const char *what)
{
	snprintf(err, errsize, "%s", what);
	return -1;
}

int agg_url_parse(const char *url, struct agg_url *u, char *err, size_t errsize)
{
	memset(u, 0, sizeof *u);
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return fail(err, errsize, "control character or space");
	const char *sep = strstr(url, "://");
	if (!sep)
		return fail(err, errsize, "no scheme (want http://host[:port]/path)");
	if (sep - url != 4 || strncasecmp(url, "http", 4) != 0) {
		snprintf(err, errsize, "scheme \"%.*s\" is not http", (int)(sep - url > 16 ? 16 : sep - url), url);
		return -1;
	}
	const char *auth = sep + 3, *end = auth + strcspn(auth, "/?#");
	const char *host = auth, *host_end, *port = NULL;
	if (memchr(auth, '@', (size_t)(end - auth)))
		return fail(err, errsize, "credentials in the URL are not supported");
	if (*auth == '[') {
		host = auth + 1;
		host_end = memchr(host, ']', (size_t)(end - host));
		if (!host_end)
			return fail(err, errsize, "unclosed [ in the host");
		if (host_end + 1 < end) {
			if (host_end[1] != ':')
				return fail(err, errsize, "junk after ]");
			port = host_end + 2;
		}
	} else {
		host_end = memchr(auth, ':', (size_t)(end - auth));
		if (host_end)
			port = host_end + 1;
		else
			host_end = end;
	}
	if (host_end == host)
		return fail(err, errsize, "no host");
	if ((size_t)(host_end - host) >= sizeof u->host)
		return fail(err, errsize, "host too long");
	memcpy(u->host, host, (size_t)(host_end - host));
	if (port) {
		size_t n = (size_t)(end - port);
		long v = 0;
		if (n == 0 || n > 5 || strspn(port, "0123456789") < n) {
			snprintf(err, errsize, "bad port \"%.*s\"", (int)(n > 16 ? 16 : n), port);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			v = v * 10 + (port[i] - '0');
		if (v < 1 || v > 65535) {
			snprintf(err, errsize, "bad port \"%.*s\"", (int)n, port);
			return -1;
		}
		snprintf(u->port, sizeof u->port, "%ld", v);
	} else {
		snprintf(u->port, sizeof u->port, "80");
	}
	size_t plen = strcspn(end, "#");
	if (plen + 2 > sizeof u->path)
		return fail(err, errsize, "path too long");
	snprintf(u->path, sizeof u->path, "%s%.*s", *end == '/' ? "" : "/", (int)plen, end);
	return 0;
}

enum wait_rc { W_READY, W_TIMEOUT, W_CANCEL, W_ERROR };

/* Waits for `events` on fd until `deadline` (monotonic) or a cancel. */
static enum wait_rc wait_fd(int fd, short events, int64_t deadline, int cancel_fd)
{
	for (;;) {
		int64_t left = deadline - vm_monotonic_ns();
		if (left <= 0)
			return W_TIMEOUT;
		struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = cancel_fd, .events = POLLIN}};
		int64_t ms = (left + 999999) / 1000000;
		int n = poll(p, cancel_fd >= 0 ? 2 : 1, (int)(ms > 60000 ? 60000 : ms));
		if (n < 0 && errno != EINTR)
			return W_ERROR;
		if (n <= 0)
			continue;
		if (cancel_fd >= 0 && p[1].revents)
			return W_CANCEL;
		if (p[0].revents)
			return W_READY;
	}
}

enum attempt_rc { A_STATUS, A_ERROR, A_TIMEOUT, A_CANCEL };

static enum attempt_rc waited(enum wait_rc w, char *err, size_t errsize, const char *doing)
{
	if (w == W_TIMEOUT)
		return A_TIMEOUT;
	if (w == W_CANCEL)
		return A_CANCEL;
	snprintf(err, errsize, "%s: %s", doing, strerror(errno));
	return A_ERROR;
}

static enum attempt_rc connect_to(const struct agg_url *u, int64_t deadline, int cancel_fd, int *fd, char *err,
                                  size_t errsize)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
	int rc = getaddrinfo(u->host, u->port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errsize, "cannot resolve \"%.100s\": %s", u->host, gai_strerror(rc));
		return A_ERROR;
	}
	enum attempt_rc out = A_ERROR;
	snprintf(err, errsize, "no address for \"%.100s\"", u->host);
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		int s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
		if (s < 0) {
			snprintf(err, errsize, "socket: %s", strerror(errno));
			continue;
		}
		int e = 0;
		if (connect(s, a->ai_addr, a->ai_addrlen) < 0) {
			e = errno;
			if (e == EINPROGRESS) {
				enum wait_rc w = wait_fd(s, POLLOUT, deadline, cancel_fd);
				if (w != W_READY) {
					close(s);
					out = waited(w, err, errsize, "connect");
					break;
				}
				socklen_t len = sizeof e;
				if (getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
					e = errno;
			}
		}
		if (e == 0) {
			*fd = s;
			out = A_STATUS;
			break;
		}
		close(s);
		snprintf(err, errsize, "connect to %.100s:%s: %s", u->host, u->port, strerror(e));
	}
	freeaddrinfo(ai);
	return out;
}

static enum attempt_rc send_all(int fd, const char *p, size_t len, int64_t deadline, int cancel_fd, char *err,
                                size_t errsize)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			enum wait_rc w = wait_fd(fd, POLLOUT, deadline, cancel_fd);
			if (w != W_READY)
				return waited(w, err, errsize, "send");
		} else if (n < 0 && errno != EINTR) {
			snprintf(err, errsize, "send: %s", strerror(errno));
			return A_ERROR;
		}
	}
	return A_STATUS;
}

/* Reads up to the end of the status line: "HTTP/1.x NNN ...". */
static enum attempt_rc read_status(int fd, int64_t deadline, int cancel_fd, int *status, char *err, size_t errsize)
{
	char buf[STATUS_LINE_MAX + 1];
	size_t len = 0;
	for (;;) {
		enum wait_rc w = wait_fd(fd, POLLIN, deadline, cancel_fd);
		if (w != W_READY)
			return waited(w, err, errsize, "receive");
		ssize_t n = recv(fd, buf + len, STATUS_LINE_MAX - len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			snprintf(err, errsize, "receive: %s", strerror(errno));
			return A_ERROR;
		}
		len += (size_t)n;
		buf[len] = '\0';
		char *eol = strstr(buf, "\r\n");
		if (!eol && n > 0 && len < STATUS_LINE_MAX)
			continue;
		int code = 0, used = 0;
		if (!eol || sscanf(buf, "HTTP/1.%*1[01] %3d%n", &code, &used) != 1 || used != 12 || code < 100 ||
		    code > 599) {
			snprintf(err, errsize, "%s",
			         n == 0 && len == 0 ? "the server closed the connection without an answer"
			                            : "not an HTTP response");
			return A_ERROR;
		}
		*status = code;
		return A_STATUS;
	}
}

static enum attempt_rc attempt(const struct agg_url *u, const char *body, int64_t timeout_ns, int cancel_fd,
                               int *status, char *err, size_t errsize)
{
	int64_t deadline = vm_monotonic_ns() + timeout_ns;
	int fd = -1;
	enum attempt_rc rc = connect_to(u, deadline, cancel_fd, &fd, err, errsize);
	if (rc != A_STATUS)
		return rc;
	size_t blen = strlen(body);
	bool v6 = strchr(u->host, ':') != NULL;
	char *head =
	    vm_xasprintf("POST %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: vmeter-aggregator/" PACKAGE_VERSION
	                 "\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
	                 u->path, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, blen);
	rc = send_all(fd, head, strlen(head), deadline, cancel_fd, err, errsize);
	free(head);
	if (rc == A_STATUS)
		rc = send_all(fd, body, blen, deadline, cancel_fd, err, errsize);
	if (rc == A_STATUS)
		rc = read_status(fd, deadline, cancel_fd, status, err, errsize);
	close(fd);
	return rc;
}

/* Sleeps `ns` unless cancelled: false if cancelled. */
static bool pause_for(int64_t ns, int cancel_fd)
{
	int64_t deadline = vm_monotonic_ns() + ns;
	for (;;) {
		int64_t left = deadline - vm_monotonic_ns();
		if (left <= 0)
			return true;
		struct pollfd p = {.fd = cancel_fd, .events = POLLIN};
		int64_t ms = (left + 999999) / 1000000;
		if (poll(&p, cancel_fd >= 0 ? 1 : 0, (int)(ms > 60000 ? 60000 : ms)) > 0)
			return false;
	}
}

int64_t agg_webhook_backoff(int64_t first_ns, unsigned retry)
{
	int64_t d = first_ns < AGG_ACTION_BACKOFF_MAX_NS ? first_ns : AGG_ACTION_BACKOFF_MAX_NS;
	for (unsigned i = 1; i < retry && d < AGG_ACTION_BACKOFF_MAX_NS; i++)
		d = d > AGG_ACTION_BACKOFF_MAX_NS / 2 ? AGG_ACTION_BACKOFF_MAX_NS : d * 2;
	return d;
}

void agg_webhook_post(const char *url, const char *body, unsigned max_attempts, int64_t backoff_ns, int64_t timeout_ns,
                      int cancel_fd, struct agg_action_result *res)
{
	struct agg_url u;
	char err[200] = "", d[32];
	res->exit_status = -1;
	res->outcome = AGG_OUT_FAILED;
	if (agg_url_parse(url, &u, err, sizeof err) < 0) {
		snprintf(res->message, sizeof res->message, "webhook url \"%.100s\": %s", url, err);
		return;
	}
	enum attempt_rc rc = A_ERROR;
	for (unsigned n = 1; n <= max_attempts; n++) {
		int status = 0;
		res->attempts = n;
		rc = attempt(&u, body, timeout_ns, cancel_fd, &status, err, sizeof err);
		res->http_status = status;
		if (rc == A_CANCEL) {
			res->outcome = AGG_OUT_CANCELLED;
			snprintf(res->message, sizeof res->message, "cancelled: the runner stopped (attempt %u)", n);
			return;
		}
		if (rc == A_STATUS && status >= 200 && status < 300) {
			res->outcome = AGG_OUT_OK;
			snprintf(res->message, sizeof res->message, "HTTP %d after %u attempt%s", status, n,
			         n > 1 ? "s" : "");
			return;
		}
		if (rc == A_STATUS && status < 500 && status != 429) {
			snprintf(res->message, sizeof res->message, "HTTP %d, not retried (attempt %u)", status, n);
			return;
		}
		if (n == max_attempts)
			break;
		if (!pause_for(agg_webhook_backoff(backoff_ns, n), cancel_fd)) {
			res->outcome = AGG_OUT_CANCELLED;
			snprintf(res->message, sizeof res->message, "cancelled: the runner stopped (after %u attempts)",
			         n);
			return;
		}
	}
	unsigned n = res->attempts;
	const char *s = n > 1 ? "s" : "";
	if (rc == A_STATUS) {
		snprintf(res->message, sizeof res->message, "HTTP %d after %u attempt%s", res->http_status, n, s);
	} else if (rc == A_TIMEOUT) {
		res->outcome = AGG_OUT_TIMEOUT;
		agg_action_duration(timeout_ns, d, sizeof d);
		snprintf(res->message, sizeof res->message, "timed out after %s (attempt %u of %u)", d, n, n);
	} else {
		snprintf(res->message, sizeof res->message, "%s after %u attempt%s", err, n, s);
	}
}
