/* The HTTP side of vmeter-web: libevent's evhttp with limits it lacks.
 *
 * libevent 2.1's evhttp caps header and body sizes and times out idle
 * sockets, but has no connection cap, and its read timeout restarts at
 * every byte, so a client sending a header byte a second (slowloris)
 * holds a connection for ever.  This module adds:
 *   - a connection cap: every accepted connection is counted; one over
 *     max_connections gets a 503 and is closed at once;
 *   - a request deadline: a connection must deliver a complete request
 *     within request_timeout_s of its accept or of the previous response,
 *     else it gets a 408 and is closed (one that sent nothing since its
 *     last answer is idle and is closed without one);
 *   - sizes: requests whose headers are over max_header_bytes get a JSON
 *     431, bodies over max_body_bytes a JSON 413; over twice those libevent
 *     stops reading and closes with a page of its own (400 for headers,
 *     413 for a body), which these counters do not see;
 *   - JSON errors, security headers on every response (and HSTS under
 *     TLS), counters.  Under TLS a refused connection is closed without
 *     an answer (no plain text on a TLS socket).
 * How connections are counted with libevent 2.1's API: evhttp makes each
 * connection's bufferevent through our evhttp_set_bevcb() callback; a
 * callback activated there runs before anything is read from the socket
 * and finds the evhttp_connection as that bufferevent's callback argument
 * (checked with evhttp_connection_get_bufferevent()); its close callback
 * then counts the connection out (docs/WEB.md, "Limits").
 *
 * Threads (web.threads): with threads = 0 the connections are served on
 * the caller's loop, which runs the handler too.  With N > 0, N I/O
 * threads, each with a loop, an evhttp and a listening socket of its own
 * on the same address (SO_REUSEPORT: the kernel spreads connections over
 * them), read requests and write answers, and the handler still runs on
 * the caller's loop alone: a request that passed the limits is handed to
 * it through a queue, and its answer goes back to the thread that owns
 * the connection.  Everything above this module (sessions, rate limits,
 * kept answers, the database pool) stays single-threaded; what moves to
 * the threads is what measured as most of a kept answer's cost, the
 * kernel's socket work (bench/README.md, "vmeter-web against nginx").
 * The handler may read a handed request's method, URI, headers and body
 * and set its output headers: the owning thread does not touch a request
 * between handing it over and getting its answer. */
#ifndef VM_WEB_SERVER_H
#define VM_WEB_SERVER_H

#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tls.h"

struct web_server;

struct web_limits {
	int max_connections;   /* 1..100000 */
	int max_header_bytes;  /* request line and headers */
	int max_body_bytes;    /* a request body */
	int request_timeout_s; /* a whole request, from accept or the last response */
	int io_timeout_s;      /* no byte read or written for this long closes it */
	struct web_tls *tls;   /* NULL: plain HTTP; else HTTPS (borrowed: outlives the server) */
	int threads;           /* I/O threads, 0..64: 0 serves on the caller's loop */
};

/* Called for every request that passed the limits.  The handler owns the
 * answer: it must call web_reply() (at once or later, from a database
 * callback) exactly once. */
typedef void (*web_handler_cb)(struct evhttp_request *req, void *arg);
/* Called first, on the I/O thread that owns the request (threads > 0
 * only): true if it answered there and then (web_reply*() on that
 * thread), false to hand the request to the handler.  It runs beside the
 * handler's loop, so it may use only what is safe from any thread (a
 * kept answer through web_cache_peek()). */
typedef bool (*web_fast_cb)(struct evhttp_request *req, void *arg);

/* Listens on `listen` ("ADDRESS:PORT", "[IPv6]:PORT"; port 0 picks one)
 * on base (borrowed), or on limits->threads threads of its own; handler
 * runs on base's thread either way, fast (NULL: none) on the I/O
 * threads; both get arg.  NULL with err if it cannot bind (an
 * address another program listens on is refused, SO_REUSEPORT or not),
 * cannot start a thread, or listen is malformed.  evthread_use_pthreads()
 * must have been called before base was made when threads > 0. */
struct web_server *web_server_new(struct event_base *base, const char *listen, const struct web_limits *limits,
                                  web_handler_cb handler, web_fast_cb fast, void *arg, char *err, size_t errsize);
/* Closes every connection; requests not answered yet are freed with
 * them (answer them first).  Requests handed to the handler's loop but
 * not given to the handler yet get a 503.  Call it on base's thread,
 * with base's loop no longer running. */
void web_server_free(struct web_server *s);
/* The port it listens on. */
int web_server_port(const struct web_server *s);

/* Sends status with body (len bytes, copied) as content_type, with the
 * security headers; headers the handler added to the request's output
 * headers (Set-Cookie) go too.  If the client is gone, it only frees
 * req.  req is not to be used afterwards.  Called on base's thread for a
 * request the handler got (the answer then goes to the request's own
 * thread). */
void web_reply(struct web_server *s, struct evhttp_request *req, int status, const char *content_type, const char *body,
               size_t len);
/* web_reply() of a body that is not copied but sent from where it is
 * (an answer kept in web/cache: a VM list or a graph is 100-200 KB);
 * release(body, len, arg) is called once when the server is done with it,
 * which may be after req is gone, on the thread that sent it (an I/O
 * thread when threads > 0: release must be thread-safe).  The body must
 * not change until then.  fd >= 0: the same len bytes are in that file at
 * offset, unchanging until release, and over plain HTTP they go out with
 * sendfile(), without the copy into the socket (TLS sends body). */
typedef void (*web_release_fn)(const void *body, size_t len, void *arg);
void web_reply_shared(struct web_server *s, struct evhttp_request *req, int status, const char *content_type,
                      const char *body, size_t len, int fd, off_t offset, web_release_fn release, void *arg);
/* The text of a JSON error, {"error": MESSAGE, "status": STATUS}; the
 * caller frees it. */
char *web_error_json(int status, const char *message);
/* Answers with web_error_json() of the formatted message. */
void web_reply_error(struct web_server *s, struct evhttp_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The client's address as text ("127.0.0.1"), "" if unknown; borrowed
 * from req, for the handler (on base's thread). */
const char *web_peer(struct web_server *s, struct evhttp_request *req);
/* The number of I/O threads (0: served on base's loop). */
int web_server_threads(const struct web_server *s);

/* Prometheus text lines of the server's own counters, appended to f. */
void web_server_metrics(const struct web_server *s, FILE *f);

#endif
