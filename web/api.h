/* vmeter-web's endpoints: routing, authentication (session cookie or API
 * token), CSRF, roles and the tenant scope of every query, and the JSON
 * they answer with (docs/WEB.md, "API").
 *
 * Every query goes through the vm_pgev pool and every password check
 * through the hasher thread: a request never blocks the loop.  The tenant
 * a query is limited to comes from the session's or token's user, never
 * from the request; every query takes its values as parameters. */
#ifndef VM_WEB_API_H
#define VM_WEB_API_H

#include <event2/http.h>
#include <stdbool.h>

#include "hasher.h"
#include "pgev.h"
#include "ratelimit.h"
#include "server.h"

#define WEB_SESSION_COOKIE "vmeter_session"
/* Notified by the commands that end a principal (token revoke, user
 * disable): the server forgets the principals it keeps. */
#define WEB_AUTH_CHANNEL "vmeter_web_auth"

struct web_api;

struct web_api_opts {
	int session_hours;           /* a session's life from login */
	bool cookie_secure;          /* add Secure to the cookie (behind TLS) */
	int max_body_bytes;          /* as the server's limit */
	unsigned login_free;         /* failures of a user before a lock */
	unsigned login_address_free; /* failures from an address before a lock */
	int login_lock_s;            /* the first lock; doubles */
	int login_lock_max_s;
	int cache_ms;            /* VM answers kept this long per tenant scope; 0: none (web/cache.h) */
	size_t cache_mb;         /* at most this many MiB of them */
	int auth_cache_ms;       /* principals kept this long while listening; 0: none */
	int graph_cache_ms;      /* graphs' answers kept up to half their step, at most this (web/series.h) */
	unsigned db_connections; /* the pool's: all but one at most refresh kept answers */
	struct event_base *base; /* for the listening connection (borrowed) */
	const char *conninfo;    /* its database (borrowed for web_api_new()) */
};

/* The endpoints on pool and hasher (both borrowed: they outlive it). */
struct web_api *web_api_new(struct vm_pgev_pool *pool, struct web_hasher *hasher, const struct web_api_opts *opts);
/* The server it answers through (borrowed), set once it exists. */
void web_api_set_server(struct web_api *a, struct web_server *s);
/* The worker threads and RRD files the graph and download endpoints use
 * (borrowed: they outlive it; rrd NULL: graphs from the rollups only). */
struct web_worker;
struct vm_rrd;
void web_api_set_backends(struct web_api *a, struct web_worker *worker, struct vm_rrd *rrd);
void web_api_free(struct web_api *a);

/* The server's handler (web_handler_cb): arg is the struct web_api. */
void web_api_handle(struct evhttp_request *req, void *arg);
/* The server's fast path (web_fast_cb), on the I/O threads: answers a GET
 * of a kept VM list, VM or graph for a kept principal; arg likewise. */
bool web_api_fast(struct evhttp_request *req, void *arg);

#endif
