#include "config.h"

#include "pg.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "schema.h"
#include "vtime.h"
#include "xalloc.h"

/* Any fixed number: the advisory lock that serialises migrations (the
 * bytes of "vmeter"). */
#define MIGRATE_LOCK_KEY "130225626703218"

/* jit off: the readers' functions (vm_usage_between...) are inlined whole,
 * and the planner's estimate of their raw-minute branch, which never runs
 * for closed days, crosses the JIT thresholds: compiling cost 9-10 s of a
 * 2 s month query (bench/storage.sh).  Our statements gain nothing from
 * JIT; a session that wants it can turn it back on. */
const char vm_pg_session_setup[] = "SET TIME ZONE 'UTC'; SET client_min_messages = warning; SET jit = off";

struct vm_pg {
	char *conninfo;
	PGconn *conn;     /* NULL until connected */
	int timeout_s;    /* per round trip, 0 for none */
	int abort_fd;     /* readable: give up every wait (-1: none) */
	int64_t deadline; /* monotonic ns: the current round trip gives up */
	bool dead;        /* timed out or lost: every call fails until reconnected */
	bool abandoned;   /* dead because abort_fd became readable */
	enum vm_pg_failure failure;
	char err[512];
	char sqlstate[6]; /* of the last statement the server refused */
	char dead_msg[256];
};

const char *vm_pg_failure_name(enum vm_pg_failure f)
{
	switch (f) {
	case VM_PG_OK: return "ok";
	case VM_PG_UNREACHABLE: return "unreachable";
	case VM_PG_REFUSED: return "refused";
	case VM_PG_ABANDONED: return "abandoned";
	case VM_PG_TIMEOUT: return "timeout";
	case VM_PG_CANCELLED: return "cancelled";
	}
	return "?";
}

/* libpq's messages end in a newline; log lines do not. */
static void chomp(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

bool vm_pg_broken(const struct vm_pg *pg)
{
	return !pg->conn || pg->dead || PQstatus(pg->conn) != CONNECTION_OK;
}

/* The error of a failed call: the server's answer if res has one, else why
 * the connection is gone.  The kind follows from the connection's state. */
static void set_err(struct vm_pg *pg, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(pg->sqlstate, sizeof pg->sqlstate, "%s", state ? state : "");
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	if (!msg || !*msg)
		msg = pg->dead ? pg->dead_msg : pg->conn ? PQerrorMessage(pg->conn) : "not connected";
	snprintf(pg->err, sizeof pg->err, "%s", msg);
	chomp(pg->err);
	pg->failure = pg->abandoned ? VM_PG_ABANDONED : vm_pg_broken(pg) ? VM_PG_UNREACHABLE : VM_PG_REFUSED;
}

void vm_pg_error_prefix(struct vm_pg *pg, const char *what)
{
	/* Cut at the buffer's end, the prefix first. */
	size_t cap = sizeof pg->err - 1, wl = strlen(what), el = strlen(pg->err);
	if (wl + 2 > cap)
		wl = cap - 2;
	if (wl + 2 + el > cap)
		el = cap - 2 - wl;
	memmove(pg->err + wl + 2, pg->err, el);
	memcpy(pg->err, what, wl);
	pg->err[wl] = ':', pg->err[wl + 1] = ' ';
	pg->err[wl + 2 + el] = '\0';
}

const char *vm_pg_error(const struct vm_pg *pg)
{
	return pg->err;
}

int vm_pg_fail(const struct vm_pg *pg, const char *what, char *err, size_t errsize)
{
	snprintf(err, errsize, "%s: %s", what, vm_pg_error(pg));
	return -1;
}

enum vm_pg_failure vm_pg_failure(const struct vm_pg *pg)
{
	return pg->failure;
}

const char *vm_pg_sqlstate(const struct vm_pg *pg)
{
	return pg->sqlstate;
}

/* ---------------------------------------------------------------- round trips */

/* libpq's blocking calls wait for an answer as long as the socket stays
 * open, and a peer that vanished without a reset (a dead router, a hung
 * proxy, a frozen server) leaves it open for good: the caller would hang
 * with it.  So the connection runs in non-blocking mode and every round
 * trip waits in poll() with the timeout; past it the connection counts as
 * lost. */

static void lose_connection(struct vm_pg *pg, const char *why)
{
	if (pg->dead)
		return;
	pg->dead = true;
	snprintf(pg->dead_msg, sizeof pg->dead_msg, "%s",
	         why        ? why
	         : pg->conn ? PQerrorMessage(pg->conn)
	                    : "not connected");
	chomp(pg->dead_msg);
}

static void start_round_trip(struct vm_pg *pg)
{
	pg->deadline = pg->timeout_s ? vm_monotonic_ns() + (int64_t)pg->timeout_s * VM_NS_PER_SEC : 0;
}

/* Waits until the socket can be read (and written, if asked), then reads
 * what arrived.  Returns 0, or -1 with the connection lost. */
static int wait_socket(struct vm_pg *pg, bool for_write)
{
	int fd = PQsocket(pg->conn);
	if (fd < 0) {
		lose_connection(pg, NULL);
		return -1;
	}
	int ms = -1;
	if (pg->deadline) {
		int64_t left = pg->deadline - vm_monotonic_ns();
		ms = left > 0 ? (int)(left / 1000000) + 1 : 0;
	}
	struct pollfd p[2] = {{fd, (short)(POLLIN | (for_write ? POLLOUT : 0)), 0}, {pg->abort_fd, POLLIN, 0}};
	int rc = poll(p, pg->abort_fd >= 0 ? 2 : 1, ms);
	if (rc < 0 && errno == EINTR)
		return 0;
	if (rc > 0 && pg->abort_fd >= 0 && p[1].revents) {
		/* The caller is stopping: what this round trip carried is
		 * unacknowledged and is sent again by the next process. */
		pg->abandoned = true;
		lose_connection(pg, "abandoned: the program is stopping");
		return -1;
	}
	if (rc <= 0) {
		char why[128];
		if (rc == 0)
			snprintf(why, sizeof why, "no answer from the database within %d s: connection given up",
			         pg->timeout_s);
		else
			snprintf(why, sizeof why, "cannot wait for the database: %s", strerror(errno));
		lose_connection(pg, why);
		return -1;
	}
	if ((p[0].revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(pg->conn)) {
		lose_connection(pg, NULL);
		return -1;
	}
	return 0;
}

static int flush_out(struct vm_pg *pg)
{
	for (;;) {
		int rc = PQflush(pg->conn);
		if (rc == 0)
			return 0;
		if (rc < 0 || wait_socket(pg, true) < 0) {
			lose_connection(pg, NULL);
			return -1;
		}
	}
}

/* The results of what was sent, like PQexec(): the first error, else the
 * last result; a COPY's start ends the wait.  NULL if the connection was
 * lost (pg->dead_msg says why).  The caller frees the result. */
static PGresult *collect(struct vm_pg *pg)
{
	PGresult *keep = NULL;
	for (;;) {
		while (PQisBusy(pg->conn))
			if (wait_socket(pg, false) < 0) {
				PQclear(keep);
				return NULL;
			}
		PGresult *r = PQgetResult(pg->conn);
		if (!r)
			break;
		ExecStatusType st = PQresultStatus(r);
		if (!keep || PQresultStatus(keep) != PGRES_FATAL_ERROR) {
			PQclear(keep);
			keep = r;
		} else {
			PQclear(r);
		}
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
			break;
	}
	return keep;
}

/* Sends sql (params: the extended protocol's unnamed statement; script:
 * the simple protocol, several statements) and waits for its results
 * within the timeout.  NULL if the connection is or gets lost. */
static PGresult *query(struct vm_pg *pg, const char *sql, bool script, int n, const char *const *params)
{
	if (!pg->conn)
		lose_connection(pg, "not connected");
	if (pg->dead)
		return NULL;
	start_round_trip(pg);
	int sent =
	    script ? PQsendQuery(pg->conn, sql) : PQsendQueryParams(pg->conn, sql, n, NULL, params, NULL, NULL, 0);
	if (!sent) {
		lose_connection(pg, NULL);
		return NULL;
	}
	if (flush_out(pg) < 0)
		return NULL;
	return collect(pg);
}

static PGresult *checked(struct vm_pg *pg, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	if (res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK))
		return res;
	set_err(pg, res);
	PQclear(res);
	return NULL;
}

PGresult *vm_pg_exec(struct vm_pg *pg, const char *sql, int nparams, const char *const *params)
{
	return checked(pg, query(pg, sql, false, nparams, params));
}

int vm_pg_cmd(struct vm_pg *pg, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = vm_pg_exec(pg, sql, nparams, params);
	PQclear(res);
	return res ? 0 : -1;
}

int vm_pg_script(struct vm_pg *pg, const char *sql)
{
	PGresult *res = checked(pg, query(pg, sql, true, 0, NULL));
	PQclear(res);
	return res ? 0 : -1;
}

int vm_pg_copy_begin(struct vm_pg *pg, const char *target)
{
	char *sql = vm_xasprintf("COPY %s FROM STDIN", target);
	PGresult *res = query(pg, sql, false, 0, NULL);
	free(sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		set_err(pg, res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

int vm_pg_copy_put(struct vm_pg *pg, const char *data, size_t len)
{
	/* Each part is progress: the timeout counts from the last. */
	start_round_trip(pg);
	int rc;
	/* Non-blocking: 0 means libpq's buffer is full until the socket
	 * takes more. */
	while ((rc = PQputCopyData(pg->conn, data, (int)len)) == 0)
		if (wait_socket(pg, true) < 0)
			break;
	/* Flushed now, so that the server stores this part while the
	 * caller makes the next. */
	if (rc != 1 || flush_out(pg) < 0) {
		lose_connection(pg, NULL);
		set_err(pg, NULL);
		return -1;
	}
	return 0;
}

int vm_pg_copy_end(struct vm_pg *pg)
{
	start_round_trip(pg);
	int rc;
	while ((rc = PQputCopyEnd(pg->conn, NULL)) == 0)
		if (wait_socket(pg, true) < 0)
			break;
	if (rc != 1 || flush_out(pg) < 0) {
		lose_connection(pg, NULL);
		set_err(pg, NULL);
		return -1;
	}
	PGresult *res = checked(pg, collect(pg));
	PQclear(res);
	return res ? 0 : -1;
}

int vm_pg_copy_in(struct vm_pg *pg, const char *target, const char *data, size_t len)
{
	if (vm_pg_copy_begin(pg, target) < 0 || vm_pg_copy_put(pg, data, len) < 0)
		return -1;
	return vm_pg_copy_end(pg);
}

int vm_pg_begin(struct vm_pg *pg)
{
	return vm_pg_cmd(pg, "BEGIN", 0, NULL);
}

int vm_pg_commit(struct vm_pg *pg)
{
	PGresult *res = vm_pg_exec(pg, "COMMIT", 0, NULL);
	if (!res)
		return -1;
	/* The server answers COMMIT of a failed transaction with ROLLBACK,
	 * and no error. */
	bool rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
	PQclear(res);
	if (rolled_back) {
		snprintf(pg->err, sizeof pg->err, "the transaction was rolled back: a statement in it failed");
		pg->sqlstate[0] = '\0';
		pg->failure = VM_PG_REFUSED;
		return -1;
	}
	return 0;
}

void vm_pg_rollback(struct vm_pg *pg)
{
	/* Not through vm_pg_cmd(): the error of what failed stays. */
	if (!vm_pg_broken(pg) && PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
		PQclear(query(pg, "ROLLBACK", false, 0, NULL));
}

bool vm_pg_alive(struct vm_pg *pg)
{
	if (vm_pg_broken(pg)) {
		set_err(pg, NULL);
		return false;
	}
	/* Reads only what has arrived (the socket does not block): a server
	 * that shut down has sent its FATAL and closed. */
	if (PQconsumeInput(pg->conn) == 0 || PQstatus(pg->conn) != CONNECTION_OK) {
		lose_connection(pg, NULL);
		set_err(pg, NULL);
		vm_pg_error_prefix(pg, "connection lost");
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------- connecting */

/* Connection options a program needs unless the conninfo sets them: TCP
 * keepalives, so that a vanished peer is noticed between round trips too. */
static const char *const tcp_defaults[][2] = {
    {"keepalives", "1"},
    {"keepalives_idle", "10"},
    {"keepalives_interval", "5"},
    {"keepalives_count", "3"},
};

/* Server messages (a WARNING from a trigger, a NOTICE from a migration)
 * into the program's log at their level, rather than raw on stderr where
 * libpq's default receiver puts them. */
static void on_notice(void *arg, const PGresult *res)
{
	(void)arg;
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (!msg)
		msg = PQresultErrorMessage(res);
	enum vm_log_level level = VM_LOG_DEBUG;
	if (sev && strcmp(sev, "WARNING") == 0)
		level = VM_LOG_WARNING;
	else if (sev && (strcmp(sev, "NOTICE") == 0 || strcmp(sev, "INFO") == 0))
		level = VM_LOG_INFO;
	int len = (int)strlen(msg);
	while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		len--;
	vm_log(level, "database %s: %.*s", sev ? sev : "notice", len, msg);
}

/* A server that answered the connection with an error (authentication, a
 * missing role or database) refuses it; one that cannot be reached, closed
 * the connection or is starting up or shutting down (SQLSTATE 57P03) is
 * down.  libpq gives a failed connection no SQLSTATE, so this goes by the
 * state the attempt had reached and libpq's text for the two cases that
 * answer and still mean an outage. */
enum vm_pg_failure vm_pg_connect_failure(ConnStatusType reached, const char *msg)
{
	if (reached != CONNECTION_AWAITING_RESPONSE && reached != CONNECTION_AUTH_OK &&
	    reached != CONNECTION_CHECK_WRITABLE && reached != CONNECTION_CONSUME &&
	    reached != CONNECTION_CHECK_TARGET && reached != CONNECTION_CHECK_STANDBY)
		return VM_PG_UNREACHABLE;
	if (strstr(msg, "the database system is") || strstr(msg, "closed the connection"))
		return VM_PG_UNREACHABLE;
	return VM_PG_REFUSED;
}

PGconn *vm_pg_connect_start(const char *conninfo, int timeout_s, int *connect_s, char *err, size_t errsize)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
	if (!opts) {
		snprintf(err, errsize, "bad database conninfo: %s", perr ? perr : "out of memory");
		chomp(err);
		PQfreemem(perr);
		return NULL;
	}
	size_t n = 0;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		n++;
	const char **keys = vm_xcalloc(n + 8, sizeof *keys), **vals = vm_xcalloc(n + 8, sizeof *vals);
	size_t k = 0;
	bool have_connect_timeout = false, have_user_timeout = false;
	/* The connect's own bound: conninfo's connect_timeout if it has one
	 * (libpq enforces it only in its blocking connect), else timeout_s. */
	*connect_s = timeout_s;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "connect_timeout") == 0) {
			have_connect_timeout = true;
			*connect_s = atoi(o->val) > 0 ? atoi(o->val) : 0;
		}
		have_user_timeout |= strcmp(o->keyword, "tcp_user_timeout") == 0;
		keys[k] = o->keyword, vals[k++] = o->val;
	}
	char connect_timeout[16], user_timeout[16];
	if (timeout_s > 0) {
		snprintf(connect_timeout, sizeof connect_timeout, "%d", timeout_s);
		snprintf(user_timeout, sizeof user_timeout, "%d", timeout_s * 1000);
		if (!have_connect_timeout)
			keys[k] = "connect_timeout", vals[k++] = connect_timeout;
		if (!have_user_timeout)
			keys[k] = "tcp_user_timeout", vals[k++] = user_timeout;
		for (size_t i = 0; i < sizeof tcp_defaults / sizeof *tcp_defaults; i++) {
			bool set = false;
			for (size_t j = 0; j < k; j++)
				set |= strcmp(keys[j], tcp_defaults[i][0]) == 0;
			if (!set)
				keys[k] = tcp_defaults[i][0], vals[k++] = tcp_defaults[i][1];
		}
	}
	PGconn *conn = PQconnectStartParams(keys, vals, 0);
	free(keys);
	free(vals);
	PQconninfoFree(opts);
	if (!conn)
		vm_fatal("out of memory");
	PQsetNoticeReceiver(conn, on_notice, NULL);
	return conn;
}

/* PQconnectPoll() until the connection is made, the deadline passes or
 * abort_fd becomes readable: libpq's own connect_timeout holds only in its
 * blocking PQconnectdb(), which nothing could interrupt.  Returns 0, or -1
 * with pg->err and pg->failure set. */
static int connect_poll(struct vm_pg *pg, PGconn *conn, int timeout_s)
{
	int64_t deadline = timeout_s > 0 ? vm_monotonic_ns() + (int64_t)timeout_s * VM_NS_PER_SEC : 0;
	PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
	ConnStatusType reached = PQstatus(conn);
	while (ps != PGRES_POLLING_OK) {
		if (ps == PGRES_POLLING_FAILED || PQstatus(conn) == CONNECTION_BAD) {
			snprintf(pg->err, sizeof pg->err, "cannot connect to the database: %s", PQerrorMessage(conn));
			pg->failure = vm_pg_connect_failure(reached, pg->err);
			return -1;
		}
		int ms = -1;
		if (deadline) {
			int64_t left = deadline - vm_monotonic_ns();
			ms = left > 0 ? (int)(left / 1000000) + 1 : 0;
		}
		struct pollfd p[2] = {{PQsocket(conn), ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0},
		                      {pg->abort_fd, POLLIN, 0}};
		int rc = poll(p, pg->abort_fd >= 0 ? 2 : 1, ms);
		if (rc < 0 && errno != EINTR) {
			snprintf(pg->err, sizeof pg->err, "cannot connect to the database: cannot wait: %s",
			         strerror(errno));
			pg->failure = VM_PG_UNREACHABLE;
			return -1;
		}
		if (rc > 0 && pg->abort_fd >= 0 && p[1].revents) {
			snprintf(pg->err, sizeof pg->err,
			         "cannot connect to the database: abandoned: the program is stopping");
			pg->failure = VM_PG_ABANDONED;
			pg->abandoned = true;
			return -1;
		}
		if (rc == 0) {
			snprintf(pg->err, sizeof pg->err,
			         "cannot connect to the database: no answer from the database within %d s", timeout_s);
			pg->failure = VM_PG_UNREACHABLE;
			return -1;
		}
		if (rc > 0) {
			reached = PQstatus(conn);
			ps = PQconnectPoll(conn);
		}
	}
	return 0;
}

struct vm_pg *vm_pg_new(const char *conninfo, int timeout_s, int abort_fd)
{
	struct vm_pg *pg = vm_xcalloc(1, sizeof *pg);
	pg->conninfo = vm_xstrdup(conninfo);
	pg->timeout_s = timeout_s;
	pg->abort_fd = abort_fd;
	return pg;
}

static void disconnect(struct vm_pg *pg)
{
	PQfinish(pg->conn);
	pg->conn = NULL;
	pg->dead = pg->abandoned = false;
}

int vm_pg_connect(struct vm_pg *pg)
{
	disconnect(pg);
	pg->sqlstate[0] = '\0';
	int connect_s;
	PGconn *conn = vm_pg_connect_start(pg->conninfo, pg->timeout_s, &connect_s, pg->err, sizeof pg->err);
	if (!conn) {
		pg->failure = VM_PG_UNREACHABLE;
		return -1;
	}
	if (connect_poll(pg, conn, connect_s) < 0) {
		chomp(pg->err);
		PQfinish(conn);
		return -1;
	}
	pg->conn = conn;
	if (PQsetnonblocking(conn, 1) < 0) {
		snprintf(pg->err, sizeof pg->err, "cannot set up the database connection: %s", PQerrorMessage(conn));
		chomp(pg->err);
		pg->failure = VM_PG_UNREACHABLE;
		disconnect(pg);
		return -1;
	}
	if (vm_pg_script(pg, vm_pg_session_setup) < 0) {
		vm_pg_error_prefix(pg, "cannot set up the database session");
		disconnect(pg);
		return -1;
	}
	pg->err[0] = '\0';
	pg->failure = VM_PG_OK;
	return 0;
}

void vm_pg_free(struct vm_pg *pg)
{
	if (!pg)
		return;
	PQfinish(pg->conn);
	free(pg->conninfo);
	free(pg);
}

/* What libpq's default notice processor does. */
static void notice_to_stderr(void *arg, const PGresult *res)
{
	(void)arg;
	fprintf(stderr, "%s", PQresultErrorMessage(res));
}

PGconn *vm_pg_take_conn(struct vm_pg *pg)
{
	/* Back to the session a plain PQconnectdb() gives (but in UTC): the
	 * server's messages at the level the conninfo or PGOPTIONS ask for,
	 * on standard error. */
	if (vm_pg_cmd(pg, "RESET client_min_messages", 0, NULL) < 0)
		vm_warn("cannot reset the session's message level: %s", pg->err);
	PGconn *conn = vm_pg_broken(pg) ? NULL : pg->conn;
	if (conn) {
		PQsetnonblocking(conn, 0);
		PQsetNoticeReceiver(conn, notice_to_stderr, NULL);
		pg->conn = NULL;
	}
	vm_pg_free(pg);
	return conn;
}

/* ---------------------------------------------------------------- schema */

int vm_pg_schema_version(struct vm_pg *pg)
{
	PGresult *res = vm_pg_exec(pg, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL);
	int version = -1;
	if (!res)
		goto fail;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		version = 0;
		goto out;
	}
	PQclear(res);
	res = vm_pg_exec(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL);
	if (!res)
		goto fail;
	version = atoi(PQgetvalue(res, 0, 0));
	goto out;
fail:
	vm_pg_error_prefix(pg, "cannot read the schema version");
out:
	PQclear(res);
	return version;
}

int vm_pg_check_schema(struct vm_pg *pg)
{
	int have = vm_pg_schema_version(pg);
	if (have < 0)
		return -1;
	unsigned want = vm_migrations[vm_n_migrations - 1].version;
	if ((unsigned)have != want) {
		snprintf(pg->err, sizeof pg->err,
		         "database schema is version %d, this vmeter needs %u: run 'vmeter-admin migrate'", have, want);
		pg->failure = VM_PG_REFUSED;
		return -1;
	}
	return 0;
}

static int apply_migration(struct vm_pg *pg, const struct vm_migration *m)
{
	char ver[16], what[128];
	snprintf(ver, sizeof ver, "%u", m->version);
	const char *params[] = {ver, m->name};
	if (vm_pg_begin(pg) < 0) {
		vm_pg_error_prefix(pg, "cannot begin migration");
		return -1;
	}
	if (vm_pg_script(pg, m->sql) < 0) {
		snprintf(what, sizeof what, "migration %u '%s' failed", m->version, m->name);
		vm_pg_error_prefix(pg, what);
		goto fail;
	}
	if (vm_pg_cmd(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2, params) < 0) {
		vm_pg_error_prefix(pg, "cannot record migration");
		goto fail;
	}
	if (vm_pg_commit(pg) < 0) {
		vm_pg_error_prefix(pg, "cannot commit migration");
		goto fail;
	}
	return 0;
fail:
	vm_pg_rollback(pg);
	return -1;
}

int vm_pg_migrate(struct vm_pg *pg, unsigned *from_version, unsigned *to_version)
{
	/* A session lock around the whole run, so that a second migrate
	 * waits here and then finds nothing left to do (with a lock per
	 * migration the two would take turns).  Taken before anything is
	 * read; the table is created under it too, since two CREATE TABLE IF
	 * NOT EXISTS at once can both try to create it.  The server drops
	 * the lock with the session if this one dies.  A session lock needs
	 * a session: run migrate directly or through pgbouncer in session
	 * mode, not in transaction mode. */
	if (vm_pg_cmd(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL) < 0) {
		vm_pg_error_prefix(pg, "cannot lock the schema for migration");
		return -1;
	}
	int rc = -1;
	if (vm_pg_cmd(pg,
	              "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, "
	              "applied_at timestamptz NOT NULL DEFAULT now())",
	              0, NULL) < 0) {
		vm_pg_error_prefix(pg, "cannot create schema_migrations");
		goto out;
	}
	int have = vm_pg_schema_version(pg);
	if (have < 0)
		goto out;
	*from_version = *to_version = (unsigned)have;
	for (unsigned i = 0; i < vm_n_migrations; i++) {
		const struct vm_migration *m = &vm_migrations[i];
		if (m->version <= (unsigned)have)
			continue;
		if (apply_migration(pg, m) < 0)
			goto out;
		*to_version = m->version;
	}
	rc = 0;
out:
	if (!vm_pg_broken(pg)) {
		/* Not through vm_pg_cmd(): a failure's error stays. */
		PQclear(query(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", false, 0, NULL));
	}
	return rc;
}
