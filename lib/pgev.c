#include "config.h"

#include "pgev.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "pg.h"
#include "xalloc.h"

#define MAX_SIZE 64
#define BACKOFF_MIN_MS 100

struct query {
	TAILQ_ENTRY(query) link; /* in the pool's queue, while queued */
	struct vm_pgev_pool *pool;
	struct conn *conn; /* running on it, NULL while queued */
	char *sql;
	char **params;
	int nparams;
	int timeout_ms;
	struct event *timer; /* its timeout, NULL for none */
	vm_pgev_cb cb;
	void *arg;
};
TAILQ_HEAD(query_list, query);

enum conn_state {
	C_DOWN,       /* waiting for the back-off timer */
	C_CONNECTING, /* PQconnectPoll() */
	C_SETUP,      /* the session's setup is running */
	C_IDLE,
	C_BUSY, /* q is running */
};

struct conn {
	struct vm_pgev_pool *pool;
	enum conn_state state;
	PGconn *pg;
	struct event *io; /* on PQsocket(pg) for io_what; NULL when not waiting */
	int io_fd;
	short io_what;
	struct event *timer; /* the back-off in C_DOWN, the connect's deadline in C_CONNECTING and C_SETUP */
	int connect_s;
	ConnStatusType reached; /* before the last PQconnectPoll() */
	int backoff_ms;         /* the next wait after a failure */
	bool flushing;          /* libpq holds output the socket did not take yet */
	struct query *q;        /* C_BUSY */
	PGresult *keep;         /* the results of what runs: the first error, else the last */
};

struct vm_pgev_pool {
	struct event_base *base;
	char *conninfo;
	struct vm_pgev_opts o;
	struct conn *conns;
	struct query_list queue;
	size_t n_queued;
	unsigned n_up;
	struct event *kick; /* dispatch, on the loop rather than the caller's stack */
	bool closing;
	/* No connection is up and the last connect failed: queries fail at
	 * once with that connect's error rather than wait for their timeout. */
	bool down;
	enum vm_pg_failure down_kind;
	char down_err[512];
};

static void chomp(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* ---------------------------------------------------------------- queries */

static void query_free(struct query *q)
{
	if (q->timer)
		event_free(q->timer);
	for (int i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q->params);
	free(q->sql);
	free(q);
}

/* Calls q's callback and frees q, which is in no queue and on no
 * connection any more.  res stays the caller's. */
static void complete(struct query *q, PGresult *res, enum vm_pg_failure why, const char *error)
{
	if (q->timer)
		event_del(q->timer);
	q->cb(res, why, error ? error : "", q->arg);
	query_free(q);
}

static void kick(struct vm_pgev_pool *pool)
{
	if (!pool->closing)
		event_active(pool->kick, EV_TIMEOUT, 1);
}

/* ---------------------------------------------------------------- socket events */

static void on_io(evutil_socket_t fd, short what, void *arg);

/* Waits for what on the connection's socket (which may change while it
 * connects). */
static void arm(struct conn *c, short what)
{
	int fd = PQsocket(c->pg);
	if (c->io && (c->io_fd != fd || c->io_what != what)) {
		event_free(c->io);
		c->io = NULL;
	}
	if (c->io || fd < 0)
		return;
	c->io = event_new(c->pool->base, fd, (short)(what | EV_PERSIST), on_io, c);
	if (!c->io)
		vm_fatal("out of memory");
	c->io_fd = fd, c->io_what = what;
	event_add(c->io, NULL);
}

/* Before the socket is closed: epoll forgets a closed descriptor on its
 * own, but libevent's table would not. */
static void close_conn(struct conn *c)
{
	if (c->io) {
		event_free(c->io);
		c->io = NULL;
	}
	event_del(c->timer);
	PQclear(c->keep);
	c->keep = NULL;
	PQfinish(c->pg);
	c->pg = NULL;
	c->flushing = false;
	if (c->state == C_IDLE || c->state == C_BUSY)
		c->pool->n_up--;
	c->state = C_DOWN;
}

static void schedule_connect(struct conn *c, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	c->state = C_DOWN;
	evtimer_add(c->timer, &tv);
}

static int next_backoff(struct conn *c)
{
	int ms = c->backoff_ms;
	c->backoff_ms = ms ? ms * 2 : BACKOFF_MIN_MS;
	if (c->backoff_ms > c->pool->o.backoff_max_ms)
		c->backoff_ms = c->pool->o.backoff_max_ms;
	return ms;
}

/* The connection is gone (or given up) with what ran on it: that query
 * fails, not retried since it may have run.  Reconnects after a back-off. */
static void conn_lost(struct conn *c, enum vm_pg_failure why, const char *msg)
{
	struct query *q = c->q;
	c->q = NULL;
	char text[600];
	snprintf(text, sizeof text, "%s", msg && *msg ? msg : "connection lost");
	chomp(text);
	close_conn(c);
	if (c->backoff_ms < BACKOFF_MIN_MS && why == VM_PG_UNREACHABLE)
		c->backoff_ms = BACKOFF_MIN_MS;
	schedule_connect(c, why == VM_PG_UNREACHABLE ? next_backoff(c) : 0);
	if (q) {
		char full[700];
		if (why == VM_PG_UNREACHABLE)
			snprintf(full, sizeof full,
			         "connection to the database lost while the query ran (it may have run): %s", text);
		else
			snprintf(full, sizeof full, "%s", text);
		complete(q, NULL, why, full);
	}
	kick(c->pool);
}

static void connect_failed(struct conn *c, enum vm_pg_failure why, const char *msg)
{
	struct vm_pgev_pool *pool = c->pool;
	char text[512];
	snprintf(text, sizeof text, "cannot connect to the database: %s", msg);
	chomp(text);
	close_conn(c);
	schedule_connect(c, next_backoff(c));
	if (pool->n_up)
		return;
	/* The whole pool is down: say so once, and fail what waits. */
	if (!pool->down || pool->down_kind != why)
		vm_warn("database %s: %s (the pool reconnects with back-off up to %d ms)",
		        why == VM_PG_REFUSED ? "refused" : "unreachable", text, pool->o.backoff_max_ms);
	pool->down = true;
	pool->down_kind = why;
	snprintf(pool->down_err, sizeof pool->down_err, "%s", text);
	kick(pool);
}

static void conn_up(struct conn *c)
{
	struct vm_pgev_pool *pool = c->pool;
	event_del(c->timer);
	c->state = C_IDLE;
	c->backoff_ms = 0;
	pool->n_up++;
	arm(c, EV_READ);
	if (pool->down)
		vm_notice("database connection recovered");
	pool->down = false;
	kick(pool);
}

/* The connection broke: while it was being set up, a failed connect;
 * later, a lost connection. */
static void conn_broken(struct conn *c, const char *msg)
{
	if (c->state == C_SETUP)
		connect_failed(c, VM_PG_UNREACHABLE, msg);
	else
		conn_lost(c, VM_PG_UNREACHABLE, msg);
}

/* Connecting: one PQconnectPoll() step per readiness. */
static void connect_step(struct conn *c)
{
	c->reached = PQstatus(c->pg);
	PostgresPollingStatusType ps = PQconnectPoll(c->pg);
	if (ps == PGRES_POLLING_FAILED || PQstatus(c->pg) == CONNECTION_BAD) {
		const char *msg = PQerrorMessage(c->pg);
		connect_failed(c, vm_pg_connect_failure(c->reached, msg), msg);
		return;
	}
	if (ps != PGRES_POLLING_OK) {
		arm(c, ps == PGRES_POLLING_READING ? EV_READ : EV_WRITE);
		return;
	}
	/* Connected: the session's setup, as every program's sessions have. */
	if (PQsetnonblocking(c->pg, 1) < 0 || !PQsendQuery(c->pg, vm_pg_session_setup)) {
		connect_failed(c, VM_PG_UNREACHABLE, PQerrorMessage(c->pg));
		return;
	}
	c->state = C_SETUP;
	int rc = PQflush(c->pg);
	if (rc < 0) {
		connect_failed(c, VM_PG_UNREACHABLE, PQerrorMessage(c->pg));
		return;
	}
	c->flushing = rc == 1;
	arm(c, c->flushing ? EV_READ | EV_WRITE : EV_READ);
}

static void start_connect(struct conn *c)
{
	char err[512];
	c->pg = vm_pg_connect_start(c->pool->conninfo, c->pool->o.connect_timeout_s, &c->connect_s, err, sizeof err);
	if (!c->pg) {
		/* vm_pgev_pool_new() parsed it: only memory could fail. */
		vm_fatal("%s", err);
	}
	c->state = C_CONNECTING;
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		connect_failed(c, VM_PG_UNREACHABLE, PQerrorMessage(c->pg));
		return;
	}
	if (c->connect_s > 0) {
		struct timeval tv = {c->connect_s, 0};
		evtimer_add(c->timer, &tv);
	}
	/* libpq's rule: start as if PQconnectPoll() had said "writing". */
	arm(c, EV_WRITE);
}

static void on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct conn *c = arg;
	if (c->state == C_DOWN) {
		start_connect(c);
	} else if (c->state == C_CONNECTING || c->state == C_SETUP) {
		char msg[128];
		snprintf(msg, sizeof msg, "no answer from the database within %d s", c->connect_s);
		connect_failed(c, VM_PG_UNREACHABLE, msg);
	}
}

/* A statement's results are in (c->keep); the connection is idle again. */
static void results_done(struct conn *c)
{
	PGresult *res = c->keep;
	c->keep = NULL;
	const char *sev = res ? PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED) : NULL;
	if (PQstatus(c->pg) == CONNECTION_BAD || (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))) {
		/* The server ended the session (a shutdown, a terminated
		 * backend), or libpq found it gone. */
		char msg[512];
		snprintf(msg, sizeof msg, "%s",
		         res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(c->pg));
		PQclear(res);
		conn_broken(c, msg);
		return;
	}
	ExecStatusType st = PQresultStatus(res);
	bool ok = res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY);
	char msg[512] = "";
	if (!ok) {
		snprintf(msg, sizeof msg, "%s", res ? PQresultErrorMessage(res) : "no result");
		chomp(msg);
	}
	if (c->state == C_SETUP) {
		PQclear(res);
		if (ok)
			conn_up(c);
		else
			connect_failed(c, VM_PG_REFUSED, msg);
		return;
	}
	struct query *q = c->q;
	c->q = NULL;
	c->state = C_IDLE;
	arm(c, EV_READ);
	kick(c->pool);
	complete(q, res, ok ? VM_PG_OK : VM_PG_REFUSED, msg);
	PQclear(res);
}

/* Sending and reading while a statement runs (C_SETUP, C_BUSY). */
static void run_step(struct conn *c, short what)
{
	if ((what & EV_READ) && !PQconsumeInput(c->pg)) {
		conn_broken(c, PQerrorMessage(c->pg));
		return;
	}
	if (c->flushing) {
		int rc = PQflush(c->pg);
		if (rc < 0) {
			conn_broken(c, PQerrorMessage(c->pg));
			return;
		}
		c->flushing = rc == 1;
		arm(c, c->flushing ? EV_READ | EV_WRITE : EV_READ);
	}
	while (!PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);
		if (!r) {
			results_done(c);
			return;
		}
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
			/* Nothing here feeds or drains a COPY: the session
			 * cannot go on. */
			PQclear(r);
			conn_lost(c, VM_PG_REFUSED, "COPY is not supported on an asynchronous pool");
			return;
		}
		if (!c->keep || PQresultStatus(c->keep) != PGRES_FATAL_ERROR) {
			PQclear(c->keep);
			c->keep = r;
		} else {
			PQclear(r);
		}
	}
}

/* An idle connection: what the server sends is a notice or the end of the
 * session (a shutdown's FATAL, a close). */
static void idle_step(struct conn *c)
{
	if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", PQerrorMessage(c->pg));
		conn_lost(c, VM_PG_UNREACHABLE, msg);
		return;
	}
	/* A FATAL before the close arrives as a result of no query. */
	while (!PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);
		if (!r)
			break;
		char msg[512];
		snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
		PQclear(r);
		conn_lost(c, VM_PG_UNREACHABLE, msg);
		return;
	}
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	struct conn *c = arg;
	switch (c->state) {
	case C_CONNECTING: connect_step(c); break;
	case C_SETUP:
	case C_BUSY: run_step(c, what); break;
	case C_IDLE: idle_step(c); break;
	case C_DOWN: break;
	}
}

/* ---------------------------------------------------------------- dispatch */

static void start_query(struct conn *c, struct query *q)
{
	c->q = q;
	q->conn = c;
	c->state = C_BUSY;
	if (!PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, (const char *const *)q->params, NULL, NULL, 0)) {
		conn_lost(c, VM_PG_UNREACHABLE, PQerrorMessage(c->pg));
		return;
	}
	int rc = PQflush(c->pg);
	if (rc < 0) {
		conn_lost(c, VM_PG_UNREACHABLE, PQerrorMessage(c->pg));
		return;
	}
	c->flushing = rc == 1;
	arm(c, c->flushing ? EV_READ | EV_WRITE : EV_READ);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct vm_pgev_pool *pool = arg;
	if (pool->down) {
		/* Only the queries queued now: one that a callback submits
		 * again waits for the next pass. */
		struct query_list failed = TAILQ_HEAD_INITIALIZER(failed);
		TAILQ_CONCAT(&failed, &pool->queue, link);
		pool->n_queued = 0;
		struct query *q;
		while ((q = TAILQ_FIRST(&failed))) {
			TAILQ_REMOVE(&failed, q, link);
			complete(q, NULL, pool->down_kind, pool->down_err);
		}
		return;
	}
	for (unsigned i = 0; i < pool->o.size && !TAILQ_EMPTY(&pool->queue); i++) {
		struct conn *c = &pool->conns[i];
		if (c->state != C_IDLE)
			continue;
		struct query *q = TAILQ_FIRST(&pool->queue);
		TAILQ_REMOVE(&pool->queue, q, link);
		pool->n_queued--;
		start_query(c, q);
	}
}

static void on_query_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct query *q = arg;
	struct vm_pgev_pool *pool = q->pool;
	char msg[256];
	if (!q->conn) {
		TAILQ_REMOVE(&pool->queue, q, link);
		pool->n_queued--;
		snprintf(msg, sizeof msg, "no connection free within %d ms: the query was not sent", q->timeout_ms);
		complete(q, NULL, VM_PG_TIMEOUT, msg);
		return;
	}
	/* libpq 15 cancels only with a blocking PQcancel(): the connection
	 * goes instead, and a new one is made at once.  The server notices
	 * at its next write at the latest. */
	snprintf(msg, sizeof msg, "no answer from the database within %d ms (the query may still run)", q->timeout_ms);
	struct conn *c = q->conn;
	c->backoff_ms = 0;
	conn_lost(c, VM_PG_TIMEOUT, msg);
}

/* ---------------------------------------------------------------- the pool */

int vm_pgev_submit_timeout(struct vm_pgev_pool *pool, const char *sql, int nparams, const char *const *params,
                           int timeout_ms, vm_pgev_cb cb, void *arg)
{
	if (pool->closing || pool->n_queued >= pool->o.max_queued || nparams < 0)
		return -1;
	struct query *q = vm_xcalloc(1, sizeof *q);
	q->pool = pool;
	q->sql = vm_xstrdup(sql);
	q->nparams = nparams;
	q->params = vm_xcalloc(nparams ? (size_t)nparams : 1, sizeof *q->params);
	for (int i = 0; i < nparams; i++)
		q->params[i] = params[i] ? vm_xstrdup(params[i]) : NULL;
	q->cb = cb;
	q->arg = arg;
	q->timeout_ms = timeout_ms;
	if (timeout_ms > 0) {
		q->timer = evtimer_new(pool->base, on_query_timer, q);
		if (!q->timer)
			vm_fatal("out of memory");
		struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
		evtimer_add(q->timer, &tv);
	}
	TAILQ_INSERT_TAIL(&pool->queue, q, link);
	pool->n_queued++;
	kick(pool);
	return 0;
}

int vm_pgev_submit(struct vm_pgev_pool *pool, const char *sql, int nparams, const char *const *params, vm_pgev_cb cb,
                   void *arg)
{
	return vm_pgev_submit_timeout(pool, sql, nparams, params, pool->o.query_timeout_ms, cb, arg);
}

struct vm_pgev_pool *vm_pgev_pool_new(struct event_base *base, const char *conninfo, const struct vm_pgev_opts *opts,
                                      char *err, size_t errsize)
{
	struct vm_pgev_opts o = opts ? *opts : (struct vm_pgev_opts){0};
	if (!o.size)
		o.size = 4;
	if (!o.connect_timeout_s)
		o.connect_timeout_s = 10;
	if (!o.backoff_max_ms)
		o.backoff_max_ms = 5000;
	if (!o.max_queued)
		o.max_queued = 10000;
	if (o.size > MAX_SIZE || o.query_timeout_ms < 0 || o.connect_timeout_s < 0 || o.backoff_max_ms < 0) {
		snprintf(err, errsize, "bad database pool options: size 1 to %d, times not negative", MAX_SIZE);
		return NULL;
	}
	char *perr = NULL;
	PQconninfoOption *parsed = PQconninfoParse(conninfo, &perr);
	if (!parsed) {
		snprintf(err, errsize, "bad database conninfo: %s", perr ? perr : "out of memory");
		chomp(err);
		PQfreemem(perr);
		return NULL;
	}
	PQconninfoFree(parsed);
	struct vm_pgev_pool *pool = vm_xcalloc(1, sizeof *pool);
	pool->base = base;
	pool->conninfo = vm_xstrdup(conninfo);
	pool->o = o;
	TAILQ_INIT(&pool->queue);
	pool->kick = event_new(base, -1, 0, on_kick, pool);
	pool->conns = vm_xcalloc(o.size, sizeof *pool->conns);
	if (!pool->kick)
		vm_fatal("out of memory");
	for (unsigned i = 0; i < o.size; i++) {
		struct conn *c = &pool->conns[i];
		c->pool = pool;
		c->timer = evtimer_new(base, on_conn_timer, c);
		if (!c->timer)
			vm_fatal("out of memory");
		schedule_connect(c, 0);
	}
	return pool;
}

void vm_pgev_pool_free(struct vm_pgev_pool *pool)
{
	if (!pool)
		return;
	pool->closing = true;
	/* Everything is taken out of the pool first: a callback that
	 * submits meets a closing pool, not a half-freed one. */
	struct query_list cancelled = TAILQ_HEAD_INITIALIZER(cancelled);
	struct query *running[MAX_SIZE];
	unsigned n_running = 0;
	for (unsigned i = 0; i < pool->o.size; i++) {
		struct conn *c = &pool->conns[i];
		if (c->q) {
			running[n_running++] = c->q;
			c->q = NULL;
		}
		close_conn(c);
		event_free(c->timer);
	}
	TAILQ_CONCAT(&cancelled, &pool->queue, link);
	for (unsigned i = 0; i < n_running; i++)
		complete(running[i], NULL, VM_PG_CANCELLED, "cancelled: the pool was freed (the query may have run)");
	struct query *q;
	while ((q = TAILQ_FIRST(&cancelled))) {
		TAILQ_REMOVE(&cancelled, q, link);
		complete(q, NULL, VM_PG_CANCELLED, "cancelled: the pool was freed before the query was sent");
	}
	event_free(pool->kick);
	free(pool->conns);
	free(pool->conninfo);
	free(pool);
}

unsigned vm_pgev_pool_up(const struct vm_pgev_pool *pool)
{
	return pool->n_up;
}

size_t vm_pgev_pool_queued(const struct vm_pgev_pool *pool)
{
	return pool->n_queued;
}
