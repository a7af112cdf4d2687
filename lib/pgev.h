/* PostgreSQL on a libevent loop: a pool of connections that runs queries
 * without ever blocking the loop.
 *
 * Each connection is driven by libpq's non-blocking calls (PQconnectStart /
 * PQconnectPoll, PQsendQueryParams, PQflush, PQconsumeInput, PQisBusy,
 * PQgetResult) on events on its socket.  A query is one statement, run as
 * an unnamed statement in autocommit (pgbouncer in transaction mode can
 * sit in front), on whichever connection is free: a transaction spanning
 * queries needs lib/pg.h on a thread instead.  COPY is not supported.
 *
 * Every submitted query gets its callback exactly once, on the loop and
 * never from inside vm_pgev_submit():
 *   - VM_PG_OK with its result;
 *   - VM_PG_REFUSED with the server's error (res holds it: SQLSTATE etc.);
 *   - VM_PG_UNREACHABLE when its connection was lost while it ran (it may
 *     or may not have run: it is not retried), or when no connection can be
 *     made (the database is down, its last connect's error);
 *   - VM_PG_TIMEOUT when its time ran out (queued: not sent; in flight: it
 *     may still run on the server, and its connection is replaced);
 *   - VM_PG_CANCELLED when the pool is freed before it ended.
 * A lost connection is made again with back-off (from 100 ms, doubling to
 * backoff_max_ms); outages are logged once, and once more on recovery.
 *
 * Not thread-safe: one loop, one thread.  (A host name in conninfo is
 * resolved by a blocking getaddrinfo() at each connect: use an address or
 * a Unix socket.) */
#ifndef VM_PGEV_H
#define VM_PGEV_H

#include <event2/event.h>
#include <libpq-fe.h>
#include <stddef.h>

#include "pg.h"

struct vm_pgev_pool;

struct vm_pgev_opts {
	unsigned size;         /* connections, 1 to 64 (0: 4) */
	int query_timeout_ms;  /* from submission to the answer; 0: none */
	int connect_timeout_s; /* a connect at most, libpq's tcp_user_timeout too; 0: 10 */
	int backoff_max_ms;    /* the longest wait between connects; 0: 5000 */
	size_t max_queued;     /* queries waiting for a connection at most; 0: 10000 */
};

/* The answer to a query.  res is borrowed: it is freed when the callback
 * returns (NULL unless the server answered: VM_PG_OK or VM_PG_REFUSED).
 * error is "" for VM_PG_OK, else the message, borrowed likewise.  The
 * callback may submit queries; it must not free the pool. */
typedef void (*vm_pgev_cb)(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg);

/* A pool on base (borrowed: it outlives the pool) for conninfo (copied).
 * Connecting starts at once, in the background.  opts may be NULL for the
 * defaults.  Returns NULL with a message in err if conninfo cannot be
 * parsed or opts are out of range. */
struct vm_pgev_pool *vm_pgev_pool_new(struct event_base *base, const char *conninfo, const struct vm_pgev_opts *opts,
                                      char *err, size_t errsize);
/* Closes the connections and calls the callback of every query not ended
 * yet with VM_PG_CANCELLED (queries in flight may have run), before it
 * returns.  Not from inside a callback of the pool. */
void vm_pgev_pool_free(struct vm_pgev_pool *pool);

/* Queues sql with nparams text parameters ($1...; NULL elements are SQL
 * NULLs); sql and params are copied.  It runs when a connection is free;
 * cb(..., arg) is called once with its answer.  Returns 0, or -1 without
 * calling cb when the queue is at max_queued or the pool is being freed. */
int vm_pgev_submit(struct vm_pgev_pool *pool, const char *sql, int nparams, const char *const *params, vm_pgev_cb cb,
                   void *arg);
/* vm_pgev_submit() with its own timeout (ms; 0: none) instead of the
 * pool's query_timeout_ms. */
int vm_pgev_submit_timeout(struct vm_pgev_pool *pool, const char *sql, int nparams, const char *const *params,
                           int timeout_ms, vm_pgev_cb cb, void *arg);

/* Connections up now and queries waiting for one, for status pages and
 * tests. */
unsigned vm_pgev_pool_up(const struct vm_pgev_pool *pool);
size_t vm_pgev_pool_queued(const struct vm_pgev_pool *pool);

#endif
