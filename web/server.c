/* The HTTP side of vmeter-web (server.h). */
#include "config.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "log.h"
#include "server.h"
#include "xalloc.h"

/* A connection we count. */
struct conn {
	struct web_server *s;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* NULL until adopted */
	struct event *timer;             /* adoption, then the request deadline */
	struct evbuffer_cb_entry *input_cb;
	size_t received; /* bytes read since accept or the last answer */
	size_t slot;     /* in s->conns, when counted */
	bool counted;
};

struct web_server {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct web_limits lim;
	web_handler_cb handler;
	void *arg;
	/* live connections; a request looks its own up by a linear scan,
	 * which is cheap next to everything else at these counts */
	struct conn **conns;
	size_t n_conns;
	uint64_t accepted, refused, timed_out, idle_closed, untracked;
	uint64_t by_status[600];
};

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	default: return "?";
	}
}

static void count_status(struct web_server *s, int status)
{
	if (status >= 100 && status < 600)
		s->by_status[status]++;
}

static struct conn *conn_of(struct web_server *s, struct evhttp_connection *evcon)
{
	for (size_t i = 0; evcon && i < s->n_conns; i++)
		if (s->conns[i]->evcon == evcon)
			return s->conns[i];
	return NULL;
}

static void conn_free(struct conn *c)
{
	struct web_server *s = c->s;
	if (c->counted) {
		struct conn *last = s->conns[--s->n_conns];
		s->conns[c->slot] = last;
		last->slot = c->slot;
	}
	event_free(c->timer);
	free(c);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	struct conn *c = arg;
	if (c->input_cb)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->input_cb);
	conn_free(c);
}

/* Counts what arrives, to tell a slow request from an idle connection. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	(void)buf;
	struct conn *c = arg;
	c->received += info->n_added;
}

/* Answers on the socket itself and closes: for a connection evhttp has
 * no request of ours on (over the cap, past its deadline).  A few hundred
 * bytes into a socket's empty send buffer: a short write only loses the
 * courtesy, the close happens anyway. */
static void refuse(struct conn *c, int status, const char *message)
{
	char body[256], head[512];
	int bl = snprintf(body, sizeof body, "{\"error\": \"%s\", \"status\": %d}\n", message, status);
	int hl = snprintf(head, sizeof head,
	                  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
	                  "Connection: close\r\nCache-Control: no-store\r\n\r\n",
	                  status, reason(status), bl);
	evutil_socket_t fd = c->s->lim.tls ? -1 : bufferevent_getfd(c->bev);
	if (fd >= 0) {
		ssize_t w = send(fd, head, (size_t)hl, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == hl)
			w = send(fd, body, (size_t)bl, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
	}
	count_status(c->s, status);
	evhttp_connection_free(c->evcon); /* on_close frees c */
}

static void arm(struct conn *c)
{
	struct timeval tv = {c->s->lim.request_timeout_s, 0};
	evtimer_add(c->timer, &tv);
}

/* The request deadline passed.  An answer still being written is
 * io-timeout's business (a client that stops reading); a connection that
 * sent nothing since its last answer is idle and closes without a word
 * (a 408 there could be read as the answer to a request crossing it);
 * one in the middle of a request gets a 408. */
static void deadline(struct conn *c)
{
	struct web_server *s = c->s;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		arm(c);
		return;
	}
	if (c->received == 0 && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
		s->idle_closed++;
		evhttp_connection_free(c->evcon); /* on_close frees c */
		return;
	}
	s->timed_out++;
	const char *addr = NULL;
	ev_uint16_t port = 0;
	evhttp_connection_get_peer(c->evcon, (char **)&addr, &port);
	vm_info("client %s:%u: no complete request within %d s: closed", addr ? addr : "?", port,
	        s->lim.request_timeout_s);
	refuse(c, 408, "no complete request in time");
}

/* The connection's timer: first its adoption (activated from bevcb, run
 * before anything was read), then its request deadline. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	struct web_server *s = c->s;
	if (c->evcon) {
		deadline(c);
		return;
	}
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	void *cbarg = NULL;
	bufferevent_getcb(c->bev, &rcb, &wcb, &ecb, &cbarg);
	struct evhttp_connection *evcon = cbarg;
	if (!ecb || !evcon || evhttp_connection_get_bufferevent(evcon) != c->bev) {
		/* gone already, or a libevent that works otherwise: served, not
		 * counted (the counter shows it) */
		s->untracked++;
		bufferevent_decref(c->bev);
		event_free(c->timer);
		free(c);
		return;
	}
	c->evcon = evcon;
	evhttp_connection_set_closecb(evcon, on_close, c);
	bufferevent_decref(c->bev);
	s->accepted++;
	if (s->n_conns >= (size_t)s->lim.max_connections) {
		s->refused++;
		refuse(c, 503, "too many connections");
		return;
	}
	/* an answer goes out at once, whole: with Nagle the last short segment
	 * of one waits for the client to acknowledge the segments before it,
	 * which a client delaying its ACKs holds back for up to 40 ms */
	int one = 1;
	evutil_socket_t sock = bufferevent_getfd(c->bev);
	if (sock >= 0 && setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		vm_debug("TCP_NODELAY: %s", strerror(errno));
	c->counted = true;
	c->slot = s->n_conns;
	s->conns[s->n_conns++] = c;
	c->input_cb = evbuffer_add_cb(bufferevent_get_input(c->bev), on_input, c);
	arm(c);
}

static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
	struct web_server *s = arg;
	struct conn *c = vm_xcalloc(1, sizeof *c);
	c->s = s;
	c->bev = s->lim.tls ? web_tls_bufferevent(s->lim.tls, base)
	                    : bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		abort(); /* out of memory, as the x* wrappers do */
	/* libevent writes 16 KiB per callback by default: a VM list of a big
	 * fleet would take dozens of loop turns (issue 14 measured the limit
	 * cutting throughput to a tenth of nginx's) */
	bufferevent_set_max_single_write(c->bev, 1 << 20);
	/* held until adopted, so that the pointer stays good whatever comes */
	bufferevent_incref(c->bev);
	c->timer = evtimer_new(base, on_timer, c);
	event_active(c->timer, EV_TIMEOUT, 0);
	return c->bev;
}

static const char *security_headers[][2] = {
    {"X-Content-Type-Options", "nosniff"},
    {"Cache-Control", "no-store"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'"},
};

static void reply(struct web_server *s, struct evhttp_request *req, int status, const char *content_type,
                  const char *body, size_t len, web_release_fn release, void *arg)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *c = conn_of(s, evcon);
	if (c) { /* the next request's deadline starts now */
		c->received = 0;
		arm(c);
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	for (size_t i = 0; i < sizeof security_headers / sizeof *security_headers; i++)
		if (!evhttp_find_header(h, security_headers[i][0])) /* the handler's own: a static file's caching */
			evhttp_add_header(h, security_headers[i][0], security_headers[i][1]);
	if (s->lim.tls) /* browsers that came once over HTTPS stay on it */
		evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
	evhttp_add_header(h, "Content-Type", content_type);
	struct evbuffer *out = evbuffer_new();
	if (!out)
		abort();
	if (!release)
		evbuffer_add(out, body, len);
	else if (evbuffer_add_reference(out, body, len, release, arg) < 0)
		abort(); /* out of memory (release not called), as the x* wrappers do */
	count_status(s, status);
	if (vm_log_get_level() >= VM_LOG_DEBUG)
		vm_debug("%s %s %s: %d, %zu bytes", web_peer(req), method_name(evhttp_request_get_command(req)),
		         evhttp_request_get_uri(req) ? evhttp_request_get_uri(req) : "?", status, len);
	evhttp_send_reply(req, status, reason(status), out);
	evbuffer_free(out);
}

void web_reply(struct web_server *s, struct evhttp_request *req, int status, const char *content_type, const char *body,
               size_t len)
{
	reply(s, req, status, content_type, body, len, NULL, NULL);
}

void web_reply_shared(struct web_server *s, struct evhttp_request *req, int status, const char *content_type,
                      const char *body, size_t len, web_release_fn release, void *arg)
{
	reply(s, req, status, content_type, body, len, release, arg);
}

char *web_error_json(int status, const char *message)
{
	json_t *j = json_pack("{s:s, s:i}", "error", message, "status", status);
	char *text = j ? json_dumps(j, 0) : NULL;
	json_decref(j);
	if (!text) /* a message that is not UTF-8: say so rather than nothing */
		text = vm_xasprintf("{\"error\": \"(unprintable)\", \"status\": %d}", status);
	return text;
}

void web_reply_error(struct web_server *s, struct evhttp_request *req, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char *text = web_error_json(status, msg);
	web_reply(s, req, status, "application/json", text, strlen(text));
	free(text);
}

const char *web_peer(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const char *addr = NULL;
	ev_uint16_t port;
	if (!evcon)
		return "";
	evhttp_connection_get_peer(evcon, (char **)&addr, &port);
	return addr ? addr : "";
}

static size_t header_bytes(struct evhttp_request *req)
{
	const char *uri = evhttp_request_get_uri(req);
	size_t n = (uri ? strlen(uri) : 0) + 16;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
	n += strlen(kv->key) + strlen(kv->value) + 4;
	return n;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct web_server *s = arg;
	struct conn *c = conn_of(s, evhttp_request_get_connection(req));
	if (c) /* complete: no deadline while we answer */
		evtimer_del(c->timer);
	size_t hb = header_bytes(req);
	if (hb > (size_t)s->lim.max_header_bytes) {
		web_reply_error(s, req, 431, "request headers are %zu bytes, over the limit of %d", hb,
		                s->lim.max_header_bytes);
		return;
	}
	size_t body = evbuffer_get_length(evhttp_request_get_input_buffer(req));
	if (body > (size_t)s->lim.max_body_bytes) {
		web_reply_error(s, req, 413, "request body is %zu bytes, over the limit of %d", body,
		                s->lim.max_body_bytes);
		return;
	}
	s->handler(req, s->arg);
}

/* "ADDR:PORT" or "[ADDR]:PORT" into host (hostsize) and port. */
static int split_listen(const char *listen, char *host, size_t hostsize, int *port)
{
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen)
		return -1;
	const char *h = listen;
	size_t hl = (size_t)(colon - listen);
	if (*h == '[') {
		if (hl < 3 || h[hl - 1] != ']')
			return -1;
		h++;
		hl -= 2;
	}
	if (hl + 1 > hostsize)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

struct web_server *web_server_new(struct event_base *base, const char *listen, const struct web_limits *limits,
                                  web_handler_cb handler, void *arg, char *err, size_t errsize)
{
	char host[128];
	int port;
	if (split_listen(listen, host, sizeof host, &port) < 0) {
		snprintf(err, errsize, "listen '%s': not ADDRESS:PORT or [IPV6]:PORT", listen);
		return NULL;
	}
	struct web_server *s = vm_xcalloc(1, sizeof *s);
	s->base = base;
	s->lim = *limits;
	s->handler = handler;
	s->arg = arg;
	s->conns = vm_xcalloc((size_t)limits->max_connections, sizeof *s->conns);
	s->http = evhttp_new(base);
	if (!s->http)
		abort();
	/* the hard limits where libevent stops reading; ours are checked on
	 * what it read (server.h) */
	evhttp_set_max_headers_size(s->http, (ev_ssize_t)limits->max_header_bytes * 2);
	evhttp_set_max_body_size(s->http, (ev_ssize_t)limits->max_body_bytes * 2);
	struct timeval io = {limits->io_timeout_s, 0};
	evhttp_set_timeout_tv(s->http, &io);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                                        EVHTTP_REQ_DELETE);
	evhttp_set_bevcb(s->http, on_new_bev, s);
	evhttp_set_gencb(s->http, on_request, s);
	s->bound = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
	if (!s->bound) {
		snprintf(err, errsize, "listen '%s': cannot bind: %s", listen, strerror(errno));
		web_server_free(s);
		return NULL;
	}
	return s;
}

void web_server_free(struct web_server *s)
{
	if (!s)
		return;
	if (s->http)
		evhttp_free(s->http); /* closes connections: on_close frees theirs */
	free(s->conns);
	free(s);
}

int web_server_port(const struct web_server *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	evutil_socket_t fd = evhttp_bound_socket_get_fd(s->bound);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

void web_server_metrics(const struct web_server *s, FILE *f)
{
	fprintf(f, "# HELP vmeter_web_requests_total Responses sent, by HTTP status.\n"
	           "# TYPE vmeter_web_requests_total counter\n");
	for (int i = 100; i < 600; i++)
		if (s->by_status[i])
			fprintf(f, "vmeter_web_requests_total{status=\"%d\"} %llu\n", i,
			        (unsigned long long)s->by_status[i]);
	fprintf(
	    f,
	    "# HELP vmeter_web_connections Connections open now.\n# TYPE vmeter_web_connections gauge\n"
	    "vmeter_web_connections %zu\n"
	    "# HELP vmeter_web_connections_max The connection cap (web.max-connections).\n"
	    "# TYPE vmeter_web_connections_max gauge\nvmeter_web_connections_max %d\n"
	    "# HELP vmeter_web_connections_accepted_total Connections accepted.\n"
	    "# TYPE vmeter_web_connections_accepted_total counter\nvmeter_web_connections_accepted_total %llu\n"
	    "# HELP vmeter_web_connections_refused_total Connections closed at once: over the cap.\n"
	    "# TYPE vmeter_web_connections_refused_total counter\nvmeter_web_connections_refused_total %llu\n"
	    "# HELP vmeter_web_connections_timed_out_total Connections closed: no complete request in time.\n"
	    "# TYPE vmeter_web_connections_timed_out_total counter\nvmeter_web_connections_timed_out_total %llu\n"
	    "# HELP vmeter_web_connections_idle_closed_total Connections closed: idle past web.request-timeout.\n"
	    "# TYPE vmeter_web_connections_idle_closed_total counter\nvmeter_web_connections_idle_closed_total %llu\n"
	    "# HELP vmeter_web_connections_untracked_total Connections served but not counted (server.h).\n"
	    "# TYPE vmeter_web_connections_untracked_total counter\nvmeter_web_connections_untracked_total %llu\n",
	    s->n_conns, s->lim.max_connections, (unsigned long long)s->accepted, (unsigned long long)s->refused,
	    (unsigned long long)s->timed_out, (unsigned long long)s->idle_closed, (unsigned long long)s->untracked);
}
