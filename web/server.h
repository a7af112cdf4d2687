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
 * One loop, one thread. */
#ifndef VM_WEB_SERVER_H
#define VM_WEB_SERVER_H

#include <event2/event.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "tls.h"

struct web_server;

struct web_limits {
	int max_connections;   /* 1..100000 */
	int max_header_bytes;  /* request line and headers */
	int max_body_bytes;    /* a request body */
	int request_timeout_s; /* a whole request, from accept or the last response */
	int io_timeout_s;      /* no byte read or written for this long closes it */
	struct web_tls *tls;   /* NULL: plain HTTP; else HTTPS (borrowed: outlives the server) */
};

/* Called for every request that passed the limits.  The handler owns the
 * answer: it must call web_reply() (at once or later, from a database
 * callback) exactly once. */
typedef void (*web_handler_cb)(struct evhttp_request *req, void *arg);

/* Listens on `listen` ("ADDRESS:PORT", "[IPv6]:PORT"; port 0 picks one)
 * on base (borrowed).  NULL with err if it cannot bind or listen is
 * malformed. */
struct web_server *web_server_new(struct event_base *base, const char *listen, const struct web_limits *limits,
                                  web_handler_cb handler, void *arg, char *err, size_t errsize);
/* Closes every connection; requests not answered yet are freed with
 * them (answer them first). */
void web_server_free(struct web_server *s);
/* The port it listens on. */
int web_server_port(const struct web_server *s);

/* Sends status with body (len bytes, copied) as content_type, with the
 * security headers; headers the handler added to the request's output
 * headers (Set-Cookie) go too.  If the client is gone, it only frees
 * req.  req is not to be used afterwards. */
void web_reply(struct web_server *s, struct evhttp_request *req, int status, const char *content_type, const char *body,
               size_t len);
/* web_reply() of a body that is not copied but sent from where it is
 * (an answer kept in web/cache: a VM list or a graph is 100-200 KB);
 * release(body, len, arg) is called once when the server is done with it,
 * which may be after req is gone, and always on the loop's thread. */
typedef void (*web_release_fn)(const void *body, size_t len, void *arg);
void web_reply_shared(struct web_server *s, struct evhttp_request *req, int status, const char *content_type,
                      const char *body, size_t len, web_release_fn release, void *arg);
/* The text of a JSON error, {"error": MESSAGE, "status": STATUS}; the
 * caller frees it. */
char *web_error_json(int status, const char *message);
/* Answers with web_error_json() of the formatted message. */
void web_reply_error(struct web_server *s, struct evhttp_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The client's address as text ("127.0.0.1"), "" if unknown; borrowed
 * from req. */
const char *web_peer(struct evhttp_request *req);

/* Prometheus text lines of the server's own counters, appended to f. */
void web_server_metrics(const struct web_server *s, FILE *f);

#endif
