/* Exercises lib/pgev.c on a real event loop against a real PostgreSQL
 * (tests/integration/pg-async.sh, which sets the database up and kills and
 * restarts it).  Prints one line per check, "PASS description" or "FAIL
 * description", and "# ..." comments; the script turns them into TAP.
 *
 *   pg_async_probe load CONNINFO QUERIES SIZE SLEEP_MS
 *       QUERIES x "SELECT slow_echo($1)" (the script's function: sleeps
 *       SLEEP_MS, returns $1) on a pool of SIZE, with a 20 ms timer on
 *       the same loop that must keep firing on time.
 *   pg_async_probe errors CONNINFO
 *       bad SQL, a query timeout and the connection's recovery.
 *   pg_async_probe kill CONNINFO DIR
 *       queries in flight when the server is killed; DIR/inflight is
 *       created when they run, DIR/failed when they all failed: the
 *       script kills the server after the first and restarts it after
 *       the second; then queries succeed again.
 *   pg_async_probe cancel CONNINFO
 *       freeing the pool with queries in flight and queued. */
#include "config.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg.h"
#include "pgev.h"
#include "vtime.h"
#include "xalloc.h"

static int n_fail;

static void check(bool cond, const char *desc)
{
	if (!cond)
		n_fail++;
	printf("%s %s\n", cond ? "PASS" : "FAIL", desc);
	fflush(stdout);
}

/* One submitted query and what came back for it. */
struct answer {
	int id;
	int calls;
	enum vm_pg_failure failure;
	char value[32];
	char error[256];
	char sqlstate[6];
	int64_t at_ns; /* monotonic: when the callback ran */
};

static struct event_base *base;
static int n_answered;

static void on_answer(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	struct answer *a = arg;
	a->calls++;
	a->failure = failure;
	a->at_ns = vm_monotonic_ns();
	snprintf(a->error, sizeof a->error, "%s", error);
	/* One line per message in the output (libpq's have several). */
	for (char *c = a->error; *c; c++)
		if (*c == '\n' || *c == '\t')
			*c = ' ';
	a->value[0] = a->sqlstate[0] = '\0';
	if (res && failure == VM_PG_OK && PQntuples(res) == 1)
		snprintf(a->value, sizeof a->value, "%s", PQgetvalue(res, 0, 0));
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(a->sqlstate, sizeof a->sqlstate, "%s", st ? st : "");
	n_answered++;
}

static int submit(struct vm_pgev_pool *pool, const char *sql, struct answer *a, int timeout_ms)
{
	char p[16];
	snprintf(p, sizeof p, "%d", a->id);
	const char *params[] = {p};
	bool with = strstr(sql, "$1") != NULL;
	if (timeout_ms < 0)
		return vm_pgev_submit(pool, sql, with, with ? params : NULL, on_answer, a);
	return vm_pgev_submit_timeout(pool, sql, with, with ? params : NULL, timeout_ms, on_answer, a);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	if (n_answered >= *(int *)arg)
		event_base_loopbreak(base);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	event_base_loopbreak(base);
}

/* Runs the loop until `want` answers have come (want < 0: never) or ms
 * have passed.  Its own timers, freed before it returns: nothing of it is
 * left to end a later run early. */
static bool run_until(int want, long ms)
{
	struct event *poll = event_new(base, -1, EV_PERSIST, on_poll, &want);
	struct event *stop = evtimer_new(base, on_deadline, NULL);
	struct timeval tick = {0, 5000}, tv = {ms / 1000, (ms % 1000) * 1000};
	if (want >= 0)
		event_add(poll, &tick);
	event_add(stop, &tv);
	if (want < 0 || n_answered < want)
		event_base_dispatch(base);
	event_free(poll);
	event_free(stop);
	return want >= 0 && n_answered >= want;
}

static struct vm_pgev_pool *pool_new(const char *conninfo, unsigned size, int timeout_ms)
{
	char err[256];
	struct vm_pgev_opts o = {.size = size, .query_timeout_ms = timeout_ms, .backoff_max_ms = 500};
	struct vm_pgev_pool *pool = vm_pgev_pool_new(base, conninfo, &o, err, sizeof err);
	if (!pool) {
		printf("# %s\n", err);
		exit(1);
	}
	return pool;
}

/* ---------------------------------------------------------------- load */

struct ticker {
	int64_t last_ns, max_late_ns;
	long fires;
};

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct ticker *t = arg;
	int64_t now = vm_monotonic_ns();
	int64_t late = now - t->last_ns - 20 * 1000000;
	if (late > t->max_late_ns)
		t->max_late_ns = late;
	t->last_ns = now;
	t->fires++;
}

static int cmd_load(const char *conninfo, int n, unsigned size, int sleep_ms)
{
	struct vm_pgev_pool *pool = pool_new(conninfo, size, 120000);
	struct answer *a = vm_xcalloc((size_t)n, sizeof *a);
	int64_t t0 = vm_monotonic_ns();
	int submitted = 0;
	for (int i = 0; i < n; i++) {
		a[i].id = 1000 + i;
		submitted += submit(pool, "SELECT slow_echo($1::int)", &a[i], -1) == 0;
	}
	struct ticker t = {.last_ns = vm_monotonic_ns()};
	struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, &t);
	struct timeval ms20 = {0, 20000};
	event_add(tick, &ms20);
	bool all = run_until(n, 120000);
	double elapsed = (double)(vm_monotonic_ns() - t0) / 1e9;
	event_free(tick);
	int once = 0, right = 0;
	for (int i = 0; i < n; i++) {
		once += a[i].calls == 1;
		char want[16];
		snprintf(want, sizeof want, "%d", a[i].id);
		right += a[i].failure == VM_PG_OK && strcmp(a[i].value, want) == 0;
		if (a[i].failure != VM_PG_OK && i < 5)
			printf("# query %d: %s: %s\n", i, vm_pg_failure_name(a[i].failure), a[i].error);
	}
	double serial = (double)n * sleep_ms / 1000.0;
	printf("# %d queries of %d ms on %u connections: %.2f s (serially %.1f s); timer fired %ld times, "
	       "latest %.1f ms late at worst\n",
	       n, sleep_ms, size, elapsed, serial, t.fires, (double)t.max_late_ns / 1e6);
	check(submitted == n && all && once == n, "every query's callback came exactly once");
	check(right == n, "each query returned its own parameter");
	check(elapsed < serial * 0.6 && elapsed >= serial / size * 0.9,
	      "the queries ran on the pool's connections at once, no more");
	check(t.max_late_ns < 100 * 1000000,
	      "a 20 ms timer on the same loop is never 100 ms late: the loop never blocks");
	check(t.fires >= (long)(elapsed / 0.020 / 2), "the timer fired at least half the times it was due");
	vm_pgev_pool_free(pool);
	free(a);
	return 0;
}

/* ---------------------------------------------------------------- errors */

static int cmd_errors(const char *conninfo)
{
	struct vm_pgev_pool *pool = pool_new(conninfo, 1, 10000);
	struct answer bad = {.id = 1};
	submit(pool, "SELEC 1", &bad, -1);
	run_until(1, 60000);
	check(bad.calls == 1 && bad.failure == VM_PG_REFUSED && strstr(bad.error, "syntax error") &&
	          strcmp(bad.sqlstate, "42601") == 0,
	      "bad SQL is refused with the server's message, its result carries the SQLSTATE");
	struct answer after_bad = {.id = 2};
	submit(pool, "SELECT $1::int", &after_bad, -1);
	run_until(2, 60000);
	check(after_bad.failure == VM_PG_OK && strcmp(after_bad.value, "2") == 0,
	      "the connection serves the next query");

	/* One connection: a slow query with a short timeout, one queued
	 * behind it with a shorter one, then one with the pool's. */
	n_answered = 0;
	struct answer slow = {.id = 3}, queued = {.id = 4}, next = {.id = 5};
	int64_t t0 = vm_monotonic_ns();
	submit(pool, "SELECT pg_sleep(30)", &slow, 500);
	submit(pool, "SELECT $1::int", &queued, 200);
	run_until(2, 60000);
	printf("# slow: %s (%s) after %.2f s; queued: %s (%s)\n", vm_pg_failure_name(slow.failure), slow.error,
	       (double)(slow.at_ns - t0) / 1e9, vm_pg_failure_name(queued.failure), queued.error);
	check(slow.calls == 1 && slow.failure == VM_PG_TIMEOUT && strstr(slow.error, "may still run") &&
	          slow.at_ns - t0 < 5 * VM_NS_PER_SEC,
	      "a query past its timeout fails as a timeout, saying it may have run");
	check(queued.calls == 1 && queued.failure == VM_PG_TIMEOUT && strstr(queued.error, "not sent"),
	      "a query that waited past its timeout for a connection fails as not sent");
	int64_t t1 = vm_monotonic_ns();
	submit(pool, "SELECT $1::int", &next, -1);
	run_until(3, 60000);
	check(next.calls == 1 && next.failure == VM_PG_OK && strcmp(next.value, "5") == 0 &&
	          next.at_ns - t1 < 10 * VM_NS_PER_SEC,
	      "the connection recovers: the next query succeeds without waiting for the slow one");
	vm_pgev_pool_free(pool);
	check(bad.calls == 1 && after_bad.calls == 1 && slow.calls == 1 && queued.calls == 1 && next.calls == 1,
	      "no callback came twice");

	/* A login the server refuses: what waits fails at once, as refused. */
	char *nosuch = vm_xasprintf("%s user=nosuch", conninfo);
	pool = pool_new(nosuch, 2, 60000);
	free(nosuch);
	n_answered = 0;
	struct answer login = {.id = 6};
	int64_t t2 = vm_monotonic_ns();
	submit(pool, "SELECT $1::int", &login, -1);
	run_until(1, 60000);
	printf("# login: %s: %s\n", vm_pg_failure_name(login.failure), login.error);
	check(login.calls == 1 && login.failure == VM_PG_REFUSED && strstr(login.error, "\"nosuch\"") &&
	          login.at_ns - t2 < 10 * VM_NS_PER_SEC,
	      "a refused login fails the queries waiting at once, as refused, with the server's reason");
	vm_pgev_pool_free(pool);
	return 0;
}

/* ---------------------------------------------------------------- kill */

struct kill_state {
	struct vm_pgev_pool *pool;
	const char *dir;
	bool inflight_marked;
};

static void touch(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f)
		fclose(f);
}

static void on_kill_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct kill_state *k = arg;
	/* 4 running (the pool is up and 4 wait): the script may kill. */
	if (!k->inflight_marked && vm_pgev_pool_up(k->pool) == 4 && vm_pgev_pool_queued(k->pool) == 4) {
		k->inflight_marked = true;
		touch(k->dir, "inflight");
	}
}

static int cmd_kill(const char *conninfo, const char *dir)
{
	struct vm_pgev_pool *pool = pool_new(conninfo, 4, 120000);
	struct answer a[8];
	memset(a, 0, sizeof a);
	for (int i = 0; i < 8; i++) {
		a[i].id = i;
		submit(pool, "SELECT pg_sleep(60)", &a[i], -1);
	}
	struct kill_state k = {pool, dir, false};
	struct event *poll = event_new(base, -1, EV_PERSIST, on_kill_poll, &k);
	struct timeval ms10 = {0, 10000};
	event_add(poll, &ms10);
	bool all = run_until(8, 90000);
	event_free(poll);
	int once = 0, unreachable = 0, lost = 0;
	for (int i = 0; i < 8; i++) {
		once += a[i].calls == 1;
		unreachable += a[i].failure == VM_PG_UNREACHABLE;
		lost += strstr(a[i].error, "lost while the query ran (it may have run)") != NULL;
		printf("# query %d: %s: %s\n", i, vm_pg_failure_name(a[i].failure), a[i].error);
	}
	check(k.inflight_marked && all && once == 8, "with the server killed, every query's callback came once");
	check(unreachable == 8, "all of them as unreachable");
	check(lost == 4, "the 4 in flight say the connection was lost while they ran and may have run");
	touch(dir, "failed");

	/* The script restarts the server: a query then succeeds again. */
	n_answered = 0;
	int64_t until = vm_monotonic_ns() + 120 * VM_NS_PER_SEC;
	struct answer r = {0};
	int tries = 0;
	while (vm_monotonic_ns() < until) {
		memset(&r, 0, sizeof r);
		r.id = 77;
		n_answered = 0;
		submit(pool, "SELECT $1::int", &r, 5000);
		run_until(1, 30000);
		tries++;
		if (r.failure == VM_PG_OK)
			break;
		if (r.failure != VM_PG_UNREACHABLE && r.failure != VM_PG_TIMEOUT)
			printf("# while the server is away: %s: %s\n", vm_pg_failure_name(r.failure), r.error);
		run_until(-1, 200);
	}
	printf("# %d tries until the server answered again\n", tries);
	check(r.failure == VM_PG_OK && strcmp(r.value, "77") == 0, "after the restart, queries succeed again");
	vm_pgev_pool_free(pool);
	return 0;
}

/* ---------------------------------------------------------------- cancel */

struct cancel_state {
	struct vm_pgev_pool *pool;
	int resubmit_refused;
};

static struct cancel_state cancel_st;

static void on_cancelled(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	on_answer(res, failure, error, arg);
	/* A callback that submits again meets a closing pool. */
	if (vm_pgev_submit(cancel_st.pool, "SELECT 1", 0, NULL, on_answer, arg) < 0)
		cancel_st.resubmit_refused++;
}

static void on_cancel_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct cancel_state *c = arg;
	if (vm_pgev_pool_up(c->pool) == 2 && vm_pgev_pool_queued(c->pool) == 20)
		event_base_loopbreak(base);
}

static int cmd_cancel(const char *conninfo)
{
	struct vm_pgev_pool *pool = pool_new(conninfo, 2, 60000);
	cancel_st.pool = pool;
	struct answer a[22];
	memset(a, 0, sizeof a);
	for (int i = 0; i < 22; i++) {
		a[i].id = i;
		char p[16];
		snprintf(p, sizeof p, "%d", i);
		const char *params[] = {p};
		vm_pgev_submit(pool, "SELECT pg_sleep(30), $1::int", 1, params, on_cancelled, &a[i]);
	}
	struct event *poll = event_new(base, -1, EV_PERSIST, on_cancel_poll, &cancel_st);
	struct timeval ms10 = {0, 10000};
	event_add(poll, &ms10);
	run_until(-1, 60000);
	event_free(poll);
	check(vm_pgev_pool_up(pool) == 2 && vm_pgev_pool_queued(pool) == 20 && n_answered == 0,
	      "2 queries running, 20 queued, none answered");
	vm_pgev_pool_free(pool);
	int once = 0, cancelled = 0;
	for (int i = 0; i < 22; i++) {
		once += a[i].calls == 1;
		cancelled += a[i].failure == VM_PG_CANCELLED && strstr(a[i].error, "cancelled") != NULL;
	}
	check(once == 22 && cancelled == 22, "freeing the pool calls every callback once, as cancelled");
	check(cancel_st.resubmit_refused == 22, "a submit from a callback during the free is refused");
	/* The loop has nothing of the pool's left: it returns at once. */
	run_until(-1, 100);
	check(n_answered == 22, "nothing is called after the free");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: pg_async_probe load|errors|kill|cancel CONNINFO [ARGS]\n");
		return 2;
	}
	base = event_base_new();
	if (!base)
		return 1;
	const char *mode = argv[1], *conninfo = argv[2];
	int rc = 2;
	if (strcmp(mode, "load") == 0 && argc == 6)
		rc = cmd_load(conninfo, atoi(argv[3]), (unsigned)atoi(argv[4]), atoi(argv[5]));
	else if (strcmp(mode, "errors") == 0)
		rc = cmd_errors(conninfo);
	else if (strcmp(mode, "kill") == 0 && argc == 4)
		rc = cmd_kill(conninfo, argv[3]);
	else if (strcmp(mode, "cancel") == 0)
		rc = cmd_cancel(conninfo);
	else
		fprintf(stderr, "pg_async_probe: bad arguments\n");
	event_base_free(base);
	return rc ? rc : n_fail ? 1 : 0;
}
