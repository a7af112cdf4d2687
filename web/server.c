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
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "xalloc.h"

struct loop;

/* A connection we count. */
struct conn {
	struct loop *l;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* NULL until adopted */
	struct event *timer;             /* adoption, then the request deadline */
	struct evbuffer_cb_entry *input_cb;
	size_t received; /* bytes read since accept or the last answer */
	size_t slot;     /* in l->conns, when counted */
	bool counted;
};

/* A request an I/O thread handed to the handler's loop: in the inbox,
 * then in the table of requests the handler holds, until its answer. */
struct handoff {
	struct evhttp_request *req;
	struct loop *l;              /* the thread that owns its connection */
	char peer[INET6_ADDRSTRLEN]; /* read on the owner: its evcon may go */
	struct handoff *next;        /* in the inbox, in a bucket, in the outbox */
	/* the answer, which goes back in the same struct: the owner thread
	 * allocates it, frees it, and makes the headers and the body's
	 * buffer, so that their memory is allocated and freed by the same
	 * thread (malloc's per-thread caches; the main loop spent 5 % of its
	 * time in malloc when it made them, bench/README.md) */
	int status;
	char content_type[64];
	const char *body;
	size_t len;
	struct evbuffer *copy; /* a body not shared: copied by the handler's thread */
	int fd;
	off_t offset;
	web_release_fn release;
	void *release_arg;
};

/* Handoffs from one thread to another's loop: the event wakes the loop
 * when the queue goes from empty to not empty, so under load one wake-up
 * carries many. */
struct queue {
	pthread_mutex_t mu;
	struct handoff *head, **tail;
	struct event *ev; /* NULL until the queue is made */
};

static void queue_init(struct queue *q, struct event_base *base, event_callback_fn cb, void *arg)
{
	pthread_mutex_init(&q->mu, NULL);
	q->head = NULL;
	q->tail = &q->head;
	q->ev = event_new(base, -1, 0, cb, arg);
	if (!q->ev)
		abort();
}

static void queue_destroy(struct queue *q)
{
	if (!q->ev)
		return;
	event_free(q->ev);
	pthread_mutex_destroy(&q->mu);
	q->ev = NULL;
}

static void queue_push(struct queue *q, struct handoff *h)
{
	h->next = NULL;
	pthread_mutex_lock(&q->mu);
	bool wake = !q->head; /* else a wake-up is on its way */
	*q->tail = h;
	q->tail = &h->next;
	pthread_mutex_unlock(&q->mu);
	if (wake)
		event_active(q->ev, EV_READ, 0);
}

/* Everything queued, in order, linked by next. */
static struct handoff *queue_take(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	struct handoff *h = q->head;
	q->head = NULL;
	q->tail = &q->head;
	pthread_mutex_unlock(&q->mu);
	return h;
}

/* Counted by the loop's thread, summed by /metrics on the handler's. */
struct counters {
	atomic_uint_fast64_t accepted, refused, timed_out, idle_closed, untracked, answered;
	atomic_uint_fast64_t by_status[600];
};

/* One serving loop: the caller's base when threads = 0, else an I/O
 * thread's. */
struct loop {
	struct web_server *s;
	unsigned index;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	pthread_t thread;
	bool started;
	/* live connections of this loop; a request looks its own up by a
	 * linear scan, which is cheap next to everything else at these
	 * counts */
	struct conn **conns;
	size_t n_conns;
	struct queue out; /* answers the handler's loop sent back */
	struct counters n;
};

struct web_server {
	struct event_base *base;
	struct web_limits lim;
	web_handler_cb handler;
	web_fast_cb fast;
	void *arg;
	struct loop *loops;
	size_t n_loops;
	bool threaded;
	atomic_int live; /* counted connections of every loop: the cap's */
	struct queue in; /* requests handed over, not given to the handler yet */
	/* requests the handler holds (handler's thread only), by pointer */
	struct handoff **held;
	size_t held_mask;
};

/* The I/O thread's own loop; NULL on any other thread. */
static _Thread_local struct loop *tl_loop;

static void bump(atomic_uint_fast64_t *n)
{
	atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
}

static unsigned long long get(const atomic_uint_fast64_t *n)
{
	return (unsigned long long)atomic_load_explicit(n, memory_order_relaxed);
}

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

static void count_status(struct loop *l, int status)
{
	if (status >= 100 && status < 600)
		bump(&l->n.by_status[status]);
}

static struct conn *conn_of(struct loop *l, struct evhttp_connection *evcon)
{
	for (size_t i = 0; evcon && i < l->n_conns; i++)
		if (l->conns[i]->evcon == evcon)
			return l->conns[i];
	return NULL;
}

static void conn_free(struct conn *c)
{
	struct loop *l = c->l;
	if (c->counted) {
		struct conn *last = l->conns[--l->n_conns];
		l->conns[c->slot] = last;
		last->slot = c->slot;
		atomic_fetch_sub(&l->s->live, 1);
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
	evutil_socket_t fd = c->l->s->lim.tls ? -1 : bufferevent_getfd(c->bev);
	if (fd >= 0) {
		ssize_t w = send(fd, head, (size_t)hl, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == hl)
			w = send(fd, body, (size_t)bl, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
	}
	count_status(c->l, status);
	evhttp_connection_free(c->evcon); /* on_close frees c */
}

static void arm(struct conn *c)
{
	struct timeval tv = {c->l->s->lim.request_timeout_s, 0};
	evtimer_add(c->timer, &tv);
}

/* The request deadline passed.  An answer still being written is
 * io-timeout's business (a client that stops reading); a connection that
 * sent nothing since its last answer is idle and closes without a word
 * (a 408 there could be read as the answer to a request crossing it);
 * one in the middle of a request gets a 408. */
static void deadline(struct conn *c)
{
	struct web_server *s = c->l->s;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		arm(c);
		return;
	}
	if (c->received == 0 && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
		bump(&c->l->n.idle_closed);
		evhttp_connection_free(c->evcon); /* on_close frees c */
		return;
	}
	bump(&c->l->n.timed_out);
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
	struct loop *l = c->l;
	struct web_server *s = l->s;
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
		bump(&l->n.untracked);
		bufferevent_decref(c->bev);
		event_free(c->timer);
		free(c);
		return;
	}
	c->evcon = evcon;
	evhttp_connection_set_closecb(evcon, on_close, c);
	bufferevent_decref(c->bev);
	bump(&l->n.accepted);
	if (atomic_fetch_add(&s->live, 1) >= s->lim.max_connections) {
		atomic_fetch_sub(&s->live, 1);
		bump(&l->n.refused);
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
	c->slot = l->n_conns;
	l->conns[l->n_conns++] = c;
	c->input_cb = evbuffer_add_cb(bufferevent_get_input(c->bev), on_input, c);
	arm(c);
}

static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
	struct loop *l = arg;
	struct web_server *s = l->s;
	struct conn *c = vm_xcalloc(1, sizeof *c);
	c->l = l;
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

/* The handler's table of the requests it holds. */
static size_t held_slot(const struct web_server *s, const struct evhttp_request *req)
{
	uint64_t h = (uint64_t)(uintptr_t)req * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 32) & s->held_mask;
}

static void held_put(struct web_server *s, struct handoff *h)
{
	size_t i = held_slot(s, h->req);
	h->next = s->held[i];
	s->held[i] = h;
}

/* The entry of req, unlinked if take; NULL if the handler does not hold
 * it. */
static struct handoff *held_find(struct web_server *s, const struct evhttp_request *req, bool take)
{
	for (struct handoff **p = &s->held[held_slot(s, req)]; *p; p = &(*p)->next)
		if ((*p)->req == req) {
			struct handoff *h = *p;
			if (take)
				*p = h->next;
			return h;
		}
	return NULL;
}

static const char *peer_of(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const char *addr = NULL;
	ev_uint16_t port;
	if (!evcon)
		return "";
	evhttp_connection_get_peer(evcon, (char **)&addr, &port);
	return addr ? addr : "";
}

/* On the loop that owns req's connection. */
static void send_answer(struct loop *l, struct evhttp_request *req, int status, struct evbuffer *out, size_t len)
{
	struct conn *c = conn_of(l, evhttp_request_get_connection(req));
	if (c) { /* the next request's deadline starts now */
		c->received = 0;
		arm(c);
	}
	count_status(l, status);
	bump(&l->n.answered);
	if (vm_log_get_level() >= VM_LOG_DEBUG)
		vm_debug("%s %s %s: %d, %zu bytes", peer_of(req), method_name(evhttp_request_get_command(req)),
		         evhttp_request_get_uri(req) ? evhttp_request_get_uri(req) : "?", status, len);
	evhttp_send_reply(req, status, reason(status), out);
	evbuffer_free(out);
}

/* What a reply sent from a file releases when libevent is done with the
 * file's segment. */
struct release {
	web_release_fn fn;
	const void *body;
	size_t len;
	void *arg;
};

static void segment_done(const struct evbuffer_file_segment *seg, int flags, void *arg)
{
	(void)seg;
	(void)flags;
	struct release *r = arg;
	r->fn(r->body, r->len, r->arg);
	free(r);
}

/* The body of a reply: copied, referenced, or a segment of its file for
 * sendfile(), which only a socket's own buffer takes (TLS encrypts from
 * memory).  Marking out as draining to a socket is what makes libevent
 * keep the segment as a file: evhttp moves out's chains into the
 * connection's buffer as they are. */
static struct evbuffer *body_buffer(const struct web_server *s, const char *body, size_t len, int fd, off_t offset,
                                    web_release_fn release, void *arg)
{
	struct evbuffer *out = evbuffer_new();
	if (!out)
		abort();
	if (!release) {
		evbuffer_add(out, body, len);
		return out;
	}
	if (fd >= 0 && !s->lim.tls && len > 0) {
		struct evbuffer_file_segment *seg = evbuffer_file_segment_new(
		    fd, offset, (ev_off_t)len, EVBUF_FS_DISABLE_MMAP | EVBUF_FS_DISABLE_LOCKING);
		if (seg) {
			struct release *r = vm_xmalloc(sizeof *r);
			*r = (struct release){release, body, len, arg};
			evbuffer_file_segment_add_cleanup_cb(seg, segment_done, r);
			evbuffer_set_flags(out, EVBUFFER_FLAG_DRAINS_TO_FD);
			int rc = evbuffer_add_file_segment(out, seg, 0, (ev_off_t)len);
			evbuffer_file_segment_free(seg); /* the chain's reference is left, or none: then r goes now */
			if (rc < 0)
				abort(); /* out of memory, as the x* wrappers do (release was called) */
			return out;
		}
	}
	if (evbuffer_add_reference(out, body, len, release, arg) < 0)
		abort(); /* out of memory (release not called), as the x* wrappers do */
	return out;
}

/* The headers every answer gets, and its content type. */
static void add_headers(const struct web_server *s, struct evhttp_request *req, const char *content_type)
{
	struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
	for (size_t i = 0; i < sizeof security_headers / sizeof *security_headers; i++)
		if (!evhttp_find_header(hd, security_headers[i][0])) /* the handler's own: a static file's caching */
			evhttp_add_header(hd, security_headers[i][0], security_headers[i][1]);
	if (s->lim.tls) /* browsers that came once over HTTPS stay on it */
		evhttp_add_header(hd, "Strict-Transport-Security", "max-age=31536000");
	evhttp_add_header(hd, "Content-Type", content_type);
}

/* The answers the handler's loop sent back (an I/O thread's event). */
static void on_outbox(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct loop *l = arg;
	struct handoff *h = queue_take(&l->out);
	while (h) {
		struct handoff *next = h->next;
		add_headers(l->s, h->req, h->content_type);
		struct evbuffer *out =
		    h->copy ? h->copy
		            : body_buffer(l->s, h->body, h->len, h->fd, h->offset, h->release, h->release_arg);
		send_answer(l, h->req, h->status, out, h->len);
		free(h);
		h = next;
	}
}

static void reply(struct web_server *s, struct evhttp_request *req, int status, const char *content_type,
                  const char *body, size_t len, int fd, off_t offset, web_release_fn release, void *arg)
{
	if (!s->threaded || tl_loop) { /* the loop that owns req */
		add_headers(s, req, content_type);
		send_answer(tl_loop ? tl_loop : &s->loops[0], req, status,
		            body_buffer(s, body, len, fd, offset, release, arg), len);
		return;
	}
	/* the handler's thread answering a request an I/O thread handed it
	 * (an I/O thread answers only its own, over a limit) */
	struct handoff *h = held_find(s, req, true);
	if (!h) {
		vm_err("an answer for a request that was not handed over: a bug");
		abort(); /* its thread is unknown: sending it here would race that thread */
	}
	h->status = status;
	snprintf(h->content_type, sizeof h->content_type, "%s", content_type);
	h->len = len;
	if (release) {
		h->body = body;
		h->fd = fd;
		h->offset = offset;
		h->release = release;
		h->release_arg = arg;
	} else {
		h->copy = body_buffer(s, body, len, -1, 0, NULL, NULL);
	}
	queue_push(&h->l->out, h);
}

void web_reply(struct web_server *s, struct evhttp_request *req, int status, const char *content_type, const char *body,
               size_t len)
{
	reply(s, req, status, content_type, body, len, -1, 0, NULL, NULL);
}

void web_reply_shared(struct web_server *s, struct evhttp_request *req, int status, const char *content_type,
                      const char *body, size_t len, int fd, off_t offset, web_release_fn release, void *arg)
{
	reply(s, req, status, content_type, body, len, fd, offset, release, arg);
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

const char *web_peer(struct web_server *s, struct evhttp_request *req)
{
	if (s->threaded && !tl_loop) {
		const struct handoff *h = held_find(s, req, false);
		return h ? h->peer : "";
	}
	return peer_of(req);
}

int web_server_threads(const struct web_server *s)
{
	return s->threaded ? (int)s->n_loops : 0;
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

/* The requests the I/O threads handed over (the handler's loop). */
static void on_inbox(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct web_server *s = arg;
	struct handoff *h = queue_take(&s->in);
	while (h) {
		struct handoff *next = h->next;
		held_put(s, h);
		s->handler(h->req, s->arg); /* may answer, and free h, at once */
		h = next;
	}
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct loop *l = arg;
	struct web_server *s = l->s;
	struct conn *c = conn_of(l, evhttp_request_get_connection(req));
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
	if (!s->threaded) {
		s->handler(req, s->arg);
		return;
	}
	if (s->fast && s->fast(req, s->arg))
		return;
	struct handoff *h = vm_xcalloc(1, sizeof *h);
	h->req = req;
	h->l = l;
	snprintf(h->peer, sizeof h->peer, "%s", peer_of(req));
	queue_push(&s->in, h);
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

/* A listening socket on host:port (port 0: one the kernel picks).  With
 * reuseport, the other loops' sockets can bind the same address. */
static int listen_on(const char *host, int port, bool reuseport, char *err, size_t errsize)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_ADDRCONFIG};
	char service[8];
	snprintf(service, sizeof service, "%d", port);
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(*host ? host : NULL, service, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errsize, "cannot bind: %s", gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
		snprintf(err, errsize, "cannot bind: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int socket_port(evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A loop's evhttp with the limits, on fd (taken over: closed with it). */
static int loop_serve(struct loop *l, int fd)
{
	const struct web_limits *lim = &l->s->lim;
	l->conns = vm_xcalloc((size_t)lim->max_connections, sizeof *l->conns);
	queue_init(&l->out, l->base, on_outbox, l);
	l->http = evhttp_new(l->base);
	if (!l->http)
		abort();
	/* the hard limits where libevent stops reading; ours are checked on
	 * what it read (server.h) */
	evhttp_set_max_headers_size(l->http, (ev_ssize_t)lim->max_header_bytes * 2);
	evhttp_set_max_body_size(l->http, (ev_ssize_t)lim->max_body_bytes * 2);
	struct timeval io = {lim->io_timeout_s, 0};
	evhttp_set_timeout_tv(l->http, &io);
	evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                                        EVHTTP_REQ_DELETE);
	evhttp_set_bevcb(l->http, on_new_bev, l);
	evhttp_set_gencb(l->http, on_request, l);
	l->bound = evhttp_accept_socket_with_handle(l->http, fd);
	if (!l->bound) {
		close(fd);
		return -1;
	}
	return 0;
}

static void *io_thread(void *arg)
{
	struct loop *l = arg;
	tl_loop = l;
	event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* An I/O loop's base: epoll's changelist, as vmeter-web's own (main.c). */
static struct event_base *io_base(void)
{
	struct event_config *cfg = event_config_new();
	if (!cfg)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	struct event_base *b = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return b;
}

struct web_server *web_server_new(struct event_base *base, const char *listen, const struct web_limits *limits,
                                  web_handler_cb handler, web_fast_cb fast, void *arg, char *err, size_t errsize)
{
	char host[128], why[256];
	int port;
	if (split_listen(listen, host, sizeof host, &port) < 0) {
		snprintf(err, errsize, "listen '%s': not ADDRESS:PORT or [IPV6]:PORT", listen);
		return NULL;
	}
	if (limits->threads < 0 || limits->threads > 64) {
		snprintf(err, errsize, "threads %d: not 0..64", limits->threads);
		return NULL;
	}
	struct web_server *s = vm_xcalloc(1, sizeof *s);
	s->base = base;
	s->lim = *limits;
	s->handler = handler;
	s->fast = fast;
	s->arg = arg;
	s->threaded = limits->threads > 0;
	s->n_loops = s->threaded ? (size_t)limits->threads : 1;
	s->loops = vm_xcalloc(s->n_loops, sizeof *s->loops);
	size_t buckets = 64;
	while (buckets < (size_t)limits->max_connections)
		buckets <<= 1;
	s->held = vm_xcalloc(buckets, sizeof *s->held);
	s->held_mask = buckets - 1;
	queue_init(&s->in, base, on_inbox, s);
	if (s->threaded) {
		/* SO_REUSEPORT would let us share a port with another program's
		 * listener: a plain bind first says whether one is there (and
		 * which port 0 gives) */
		int probe = listen_on(host, port, false, why, sizeof why);
		if (probe < 0) {
			snprintf(err, errsize, "listen '%s': %s", listen, why);
			web_server_free(s);
			return NULL;
		}
		port = socket_port(probe);
		close(probe);
	}
	for (size_t i = 0; i < s->n_loops; i++) {
		struct loop *l = &s->loops[i];
		l->s = s;
		l->index = (unsigned)i;
		l->base = s->threaded ? io_base() : base;
		if (!l->base) {
			snprintf(err, errsize, "cannot make an event loop for an I/O thread");
			web_server_free(s);
			return NULL;
		}
		int fd = listen_on(host, port, s->threaded, why, sizeof why);
		if (fd < 0 || loop_serve(l, fd) < 0) {
			snprintf(err, errsize, "listen '%s': %s", listen, fd < 0 ? why : "cannot serve on the socket");
			web_server_free(s);
			return NULL;
		}
	}
	if (s->threaded) {
		/* signals stay with the main thread's loop */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		for (size_t i = 0; i < s->n_loops; i++) {
			struct loop *l = &s->loops[i];
			int rc = pthread_create(&l->thread, NULL, io_thread, l);
			if (rc != 0) {
				pthread_sigmask(SIG_SETMASK, &old, NULL);
				snprintf(err, errsize, "cannot start an I/O thread: %s", strerror(rc));
				web_server_free(s);
				return NULL;
			}
			l->started = true;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	return s;
}

void web_server_free(struct web_server *s)
{
	if (!s)
		return;
	/* the threads first: nothing is handed over after that */
	for (size_t i = 0; i < s->n_loops; i++)
		if (s->loops[i].started)
			event_base_loopbreak(s->loops[i].base);
	for (size_t i = 0; i < s->n_loops; i++)
		if (s->loops[i].started)
			pthread_join(s->loops[i].thread, NULL);
	/* requests handed over and not given to the handler: 503, through
	 * the outboxes, which go to evhttp below */
	struct handoff *h = queue_take(&s->in);
	while (h) {
		struct handoff *next = h->next;
		held_put(s, h);
		web_reply_error(s, h->req, 503, "the server is stopping");
		h = next;
	}
	/* only this thread is left: the answers sent back go to evhttp, and
	 * evhttp_free() closes their connections */
	for (size_t i = 0; i < s->n_loops; i++) {
		struct loop *l = &s->loops[i];
		if (l->out.ev)
			on_outbox(-1, 0, l);
		if (l->http)
			evhttp_free(l->http); /* closes connections: on_close frees theirs */
		queue_destroy(&l->out);
		if (s->threaded && l->base)
			event_base_free(l->base);
		free(l->conns);
	}
	/* requests the handler never answered went with their connections */
	for (size_t i = 0; i <= s->held_mask; i++)
		while (s->held[i]) {
			struct handoff *next = s->held[i]->next;
			free(s->held[i]);
			s->held[i] = next;
		}
	free(s->held);
	queue_destroy(&s->in);
	free(s->loops);
	free(s);
}

int web_server_port(const struct web_server *s)
{
	return socket_port(evhttp_bound_socket_get_fd(s->loops[0].bound));
}

void web_server_metrics(const struct web_server *s, FILE *f)
{
	struct counters sum = {0};
	for (size_t j = 0; j < s->n_loops; j++) {
		const struct counters *n = &s->loops[j].n;
		sum.accepted += get(&n->accepted);
		sum.refused += get(&n->refused);
		sum.timed_out += get(&n->timed_out);
		sum.idle_closed += get(&n->idle_closed);
		sum.untracked += get(&n->untracked);
		for (int i = 100; i < 600; i++)
			sum.by_status[i] += get(&n->by_status[i]);
	}
	fprintf(f, "# HELP vmeter_web_requests_total Responses sent, by HTTP status.\n"
	           "# TYPE vmeter_web_requests_total counter\n");
	for (int i = 100; i < 600; i++)
		if (get(&sum.by_status[i]))
			fprintf(f, "vmeter_web_requests_total{status=\"%d\"} %llu\n", i, get(&sum.by_status[i]));
	fprintf(f, "# HELP vmeter_web_thread_responses_total Responses sent, by the thread that served the "
	           "connection (web.threads; thread=\"0\" is the main loop's when it is 0).\n"
	           "# TYPE vmeter_web_thread_responses_total counter\n");
	for (size_t j = 0; j < s->n_loops; j++)
		fprintf(f, "vmeter_web_thread_responses_total{thread=\"%zu\"} %llu\n", s->threaded ? j + 1 : 0,
		        get(&s->loops[j].n.answered));
	fprintf(
	    f,
	    "# HELP vmeter_web_threads I/O threads serving connections (web.threads).\n"
	    "# TYPE vmeter_web_threads gauge\nvmeter_web_threads %d\n"
	    "# HELP vmeter_web_connections Connections open now.\n# TYPE vmeter_web_connections gauge\n"
	    "vmeter_web_connections %d\n"
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
	    web_server_threads(s), atomic_load(&s->live), s->lim.max_connections, get(&sum.accepted), get(&sum.refused),
	    get(&sum.timed_out), get(&sum.idle_closed), get(&sum.untracked));
}
