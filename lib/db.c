#include "config.h"

#include "db.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "schema.h"
#include "vtime.h"
#include "xalloc.h"

struct vm_id {
	char uuid[37];
	long id;
};

struct vm_db {
	PGconn *conn;
	char err[512];
	char sqlstate[6];  /* of the last failed statement */
	int staged;        /* temporary staging tables exist on this connection */
	int outer;         /* in a vm_db_begin() transaction: writes join it */
	struct vm_id *ids; /* uuid -> vm_id, sorted by uuid */
	size_t n_ids, cap_ids;
	int timeout_s;    /* per round trip, 0 for none */
	int64_t deadline; /* monotonic ns: the current round trip gives up */
	bool dead;        /* timed out or lost: every call fails until closed */
	bool abandoned;   /* dead because abort_fd became readable */
	int abort_fd;     /* readable: give up every wait (-1: none) */
	char dead_msg[256];
};

static void set_err(struct vm_db *db, const char *what, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "");
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	if (!msg || !*msg)
		msg = db->dead ? db->dead_msg : PQerrorMessage(db->conn);
	snprintf(db->err, sizeof db->err, "%s: %s", what, msg);
	/* libpq messages end in a newline; log lines do not. */
	size_t n = strlen(db->err);
	while (n && (db->err[n - 1] == '\n' || db->err[n - 1] == ' '))
		db->err[--n] = '\0';
}

/* ---------------------------------------------------------------- round trips */

/* libpq's blocking calls wait for an answer as long as the socket stays
 * open, and a peer that vanished without a reset (a dead router, a hung
 * proxy, a frozen server) leaves it open for good: the delivery thread
 * would hang with it.  So the connection runs in non-blocking mode and
 * every round trip waits in poll() with the timeout; past it the
 * connection counts as lost. */

static void lose_connection(struct vm_db *db, const char *why)
{
	if (db->dead)
		return;
	db->dead = true;
	snprintf(db->dead_msg, sizeof db->dead_msg, "%s", why ? why : PQerrorMessage(db->conn));
	size_t n = strlen(db->dead_msg);
	while (n && (db->dead_msg[n - 1] == '\n' || db->dead_msg[n - 1] == ' '))
		db->dead_msg[--n] = '\0';
}

static void start_round_trip(struct vm_db *db)
{
	db->deadline = db->timeout_s ? vm_monotonic_ns() + (int64_t)db->timeout_s * VM_NS_PER_SEC : 0;
}

/* Waits until the socket can be read (and written, if asked), then reads
 * what arrived.  Returns 0, or -1 with the connection lost. */
static int wait_socket(struct vm_db *db, bool for_write)
{
	int fd = PQsocket(db->conn);
	if (fd < 0) {
		lose_connection(db, NULL);
		return -1;
	}
	int ms = -1;
	if (db->deadline) {
		int64_t left = db->deadline - vm_monotonic_ns();
		ms = left > 0 ? (int)(left / 1000000) + 1 : 0;
	}
	struct pollfd p[2] = {{fd, (short)(POLLIN | (for_write ? POLLOUT : 0)), 0}, {db->abort_fd, POLLIN, 0}};
	int rc = poll(p, db->abort_fd >= 0 ? 2 : 1, ms);
	if (rc < 0 && errno == EINTR)
		return 0;
	if (rc > 0 && p[1].revents) {
		/* The caller is stopping: what this round trip carried is
		 * unacknowledged and is sent again by the next process. */
		db->abandoned = true;
		lose_connection(db, "abandoned: the program is stopping");
		return -1;
	}
	if (rc <= 0) {
		char why[128];
		if (rc == 0)
			snprintf(why, sizeof why, "no answer from the database within %d s: connection given up",
			         db->timeout_s);
		else
			snprintf(why, sizeof why, "cannot wait for the database: %s", strerror(errno));
		lose_connection(db, why);
		return -1;
	}
	if ((p[0].revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(db->conn)) {
		lose_connection(db, NULL);
		return -1;
	}
	return 0;
}

static int flush_out(struct vm_db *db)
{
	for (;;) {
		int rc = PQflush(db->conn);
		if (rc == 0)
			return 0;
		if (rc < 0 || wait_socket(db, true) < 0) {
			lose_connection(db, NULL);
			return -1;
		}
	}
}

/* The results of what was sent, like PQexec(): the first error, else the
 * last result; a COPY's start ends the wait.  NULL if the connection was
 * lost (db->dead_msg says why).  The caller frees the result. */
static PGresult *collect(struct vm_db *db)
{
	PGresult *keep = NULL;
	for (;;) {
		while (PQisBusy(db->conn))
			if (wait_socket(db, false) < 0) {
				PQclear(keep);
				return NULL;
			}
		PGresult *r = PQgetResult(db->conn);
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

/* PQexec() (n == 0: may hold several statements) or PQexecParams() within
 * the timeout.  NULL if the connection is or gets lost. */
static PGresult *query(struct vm_db *db, const char *sql, int n, const char *const *params)
{
	if (db->dead)
		return NULL;
	start_round_trip(db);
	int sent = n ? PQsendQueryParams(db->conn, sql, n, NULL, params, NULL, NULL, 0) : PQsendQuery(db->conn, sql);
	if (!sent) {
		lose_connection(db, NULL);
		return NULL;
	}
	if (flush_out(db) < 0)
		return NULL;
	return collect(db);
}

/* Connection options the collector needs unless the conninfo sets them:
 * a bounded connect and TCP keepalives, so that a vanished peer is noticed
 * between round trips too. */
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
static enum vm_db_failure connect_failure(ConnStatusType reached, const char *msg)
{
	if (reached != CONNECTION_AWAITING_RESPONSE && reached != CONNECTION_AUTH_OK &&
	    reached != CONNECTION_CHECK_WRITABLE && reached != CONNECTION_CONSUME &&
	    reached != CONNECTION_CHECK_TARGET && reached != CONNECTION_CHECK_STANDBY)
		return VM_DB_UNREACHABLE;
	if (strstr(msg, "the database system is") || strstr(msg, "closed the connection"))
		return VM_DB_UNREACHABLE;
	return VM_DB_REFUSED;
}

/* PQconnectPoll() until the connection is made, the deadline passes or
 * abort_fd becomes readable: libpq's own connect_timeout holds only in its
 * blocking PQconnectdb(), which nothing could interrupt.  (A host name is
 * still resolved by a blocking getaddrinfo() in PQconnectStartParams().)
 * Returns 0, or -1 with *why and err set. */
static int connect_poll(PGconn *conn, int timeout_s, int abort_fd, enum vm_db_failure *why, char *err, size_t errsize)
{
	int64_t deadline = timeout_s > 0 ? vm_monotonic_ns() + (int64_t)timeout_s * VM_NS_PER_SEC : 0;
	PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
	ConnStatusType reached = PQstatus(conn);
	while (ps != PGRES_POLLING_OK) {
		if (ps == PGRES_POLLING_FAILED || PQstatus(conn) == CONNECTION_BAD) {
			snprintf(err, errsize, "cannot connect to the database: %s", PQerrorMessage(conn));
			*why = connect_failure(reached, err);
			return -1;
		}
		int ms = -1;
		if (deadline) {
			int64_t left = deadline - vm_monotonic_ns();
			ms = left > 0 ? (int)(left / 1000000) + 1 : 0;
		}
		struct pollfd p[2] = {{PQsocket(conn), ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0},
		                      {abort_fd, POLLIN, 0}};
		int rc = poll(p, abort_fd >= 0 ? 2 : 1, ms);
		if (rc < 0 && errno != EINTR) {
			snprintf(err, errsize, "cannot connect to the database: cannot wait: %s", strerror(errno));
			*why = VM_DB_UNREACHABLE;
			return -1;
		}
		if (rc > 0 && abort_fd >= 0 && p[1].revents) {
			snprintf(err, errsize, "cannot connect to the database: abandoned: the program is stopping");
			*why = VM_DB_ABANDONED;
			return -1;
		}
		if (rc == 0) {
			snprintf(err, errsize,
			         "cannot connect to the database: no answer from the database within %d s", timeout_s);
			*why = VM_DB_UNREACHABLE;
			return -1;
		}
		if (rc > 0) {
			reached = PQstatus(conn);
			ps = PQconnectPoll(conn);
		}
	}
	return 0;
}

struct vm_db *vm_db_connect(const char *conninfo, int timeout_s, char *err, size_t errsize)
{
	enum vm_db_failure why;
	return vm_db_connect_ex(conninfo, timeout_s, -1, &why, err, errsize);
}

struct vm_db *vm_db_connect_ex(const char *conninfo, int timeout_s, int abort_fd, enum vm_db_failure *why, char *err,
                               size_t errsize)
{
	*why = VM_DB_UNREACHABLE;
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
	if (!opts) {
		snprintf(err, errsize, "bad database conninfo: %s", perr ? perr : "out of memory");
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
	int connect_s = timeout_s;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "connect_timeout") == 0) {
			have_connect_timeout = true;
			connect_s = atoi(o->val) > 0 ? atoi(o->val) : 0;
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
	if (connect_poll(conn, connect_s, abort_fd, why, err, errsize) < 0) {
		size_t len = strlen(err);
		while (len && (err[len - 1] == '\n' || err[len - 1] == ' '))
			err[--len] = '\0';
		PQfinish(conn);
		return NULL;
	}
	struct vm_db *db = vm_xcalloc(1, sizeof *db);
	db->conn = conn;
	db->timeout_s = timeout_s;
	db->abort_fd = abort_fd;
	if (PQsetnonblocking(conn, 1) < 0) {
		snprintf(err, errsize, "cannot set up the database connection: %s", PQerrorMessage(conn));
		vm_db_close(db);
		return NULL;
	}
	PGresult *res = query(db, "SET TIME ZONE 'UTC'; SET client_min_messages = warning", 0, NULL);
	ExecStatusType st = PQresultStatus(res);
	PQclear(res);
	if (st != PGRES_COMMAND_OK) {
		snprintf(err, errsize, "cannot set up the database session: %s",
		         db->dead ? db->dead_msg : PQerrorMessage(conn));
		*why = vm_db_failure(db);
		vm_db_close(db);
		return NULL;
	}
	*why = VM_DB_OK;
	return db;
}

void vm_db_close(struct vm_db *db)
{
	if (!db)
		return;
	PQfinish(db->conn);
	free(db->ids);
	free(db);
}

const char *vm_db_error(const struct vm_db *db)
{
	return db->err;
}

int vm_db_broken(const struct vm_db *db)
{
	return db->dead || PQstatus(db->conn) != CONNECTION_OK;
}

bool vm_db_alive(struct vm_db *db)
{
	if (db->dead)
		return false;
	/* Reads only what has arrived (libpq's socket does not block): a
	 * server that shut down has sent its FATAL and closed. */
	if (PQconsumeInput(db->conn) == 0 || PQstatus(db->conn) != CONNECTION_OK) {
		set_err(db, "connection lost", NULL);
		return false;
	}
	return true;
}

enum vm_db_failure vm_db_failure(const struct vm_db *db)
{
	if (db->abandoned)
		return VM_DB_ABANDONED;
	if (vm_db_broken(db))
		return VM_DB_UNREACHABLE;
	return VM_DB_REFUSED;
}

/* Runs a statement that returns no rows. */
static int exec_cmd(struct vm_db *db, const char *what, const char *sql, int n, const char *const *params)
{
	PGresult *res = query(db, sql, n, params);
	ExecStatusType st = PQresultStatus(res);
	int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
	if (rc)
		set_err(db, what, res);
	PQclear(res);
	return rc;
}

/* A write's own transaction, or nothing inside the caller's. */
static int tx_begin(struct vm_db *db)
{
	if (db->outer)
		return 0;
	return exec_cmd(db, "cannot begin", "BEGIN", 0, NULL);
}

static int tx_commit(struct vm_db *db, const char *what)
{
	if (db->outer)
		return 0;
	return exec_cmd(db, what, "COMMIT", 0, NULL);
}

static void rollback(struct vm_db *db)
{
	/* Inside the caller's transaction the failed statement has aborted
	 * it; the caller rolls back (vm_db_rollback()). */
	if (db->outer)
		return;
	if (!vm_db_broken(db) && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		PQclear(query(db, "ROLLBACK", 0, NULL));
}

int vm_db_schema_version(struct vm_db *db)
{
	PGresult *res = query(db, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL);
	int version = -1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_err(db, "cannot read the schema version", res);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		version = 0;
		goto out;
	}
	PQclear(res);
	res = query(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_err(db, "cannot read the schema version", res);
		goto out;
	}
	version = atoi(PQgetvalue(res, 0, 0));
out:
	PQclear(res);
	return version;
}

int vm_db_check_schema(struct vm_db *db)
{
	int have = vm_db_schema_version(db);
	if (have < 0)
		return -1;
	unsigned want = vm_migrations[vm_n_migrations - 1].version;
	if ((unsigned)have != want) {
		snprintf(db->err, sizeof db->err,
		         "database schema is version %d, this vmeter needs %u: run 'vmeter-admin migrate'", have, want);
		return -1;
	}
	return 0;
}

int vm_db_migrate(struct vm_db *db, unsigned *from_version, unsigned *to_version)
{
	if (exec_cmd(db, "cannot create schema_migrations",
	             "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, "
	             "applied_at timestamptz NOT NULL DEFAULT now())",
	             0, NULL))
		return -1;
	int have = vm_db_schema_version(db);
	if (have < 0)
		return -1;
	*from_version = *to_version = (unsigned)have;
	for (unsigned i = 0; i < vm_n_migrations; i++) {
		const struct vm_migration *m = &vm_migrations[i];
		if (m->version <= (unsigned)have)
			continue;
		char ver[16];
		snprintf(ver, sizeof ver, "%u", m->version);
		const char *params[] = {ver, m->name};
		/* A lock makes two concurrent migrate runs take turns; the
		 * second then finds the version row and fails cleanly. */
		if (exec_cmd(db, "cannot begin migration", "BEGIN", 0, NULL) ||
		    exec_cmd(db, "cannot lock schema_migrations", "LOCK schema_migrations IN EXCLUSIVE MODE", 0, NULL))
			goto fail;
		PGresult *res = query(db, m->sql, 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
			char what[128];
			snprintf(what, sizeof what, "migration %u '%s' failed", m->version, m->name);
			set_err(db, what, res);
			PQclear(res);
			goto fail;
		}
		PQclear(res);
		if (exec_cmd(db, "cannot record migration",
		             "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2, params) ||
		    exec_cmd(db, "cannot commit migration", "COMMIT", 0, NULL))
			goto fail;
		*to_version = m->version;
	}
	return 0;
fail:
	rollback(db);
	return -1;
}

static void format_ts(int64_t t_ns, char *buf, size_t size)
{
	/* Microsecond precision: what timestamptz keeps. */
	time_t s = (time_t)(t_ns / VM_NS_PER_SEC);
	long us = (long)((t_ns % VM_NS_PER_SEC) / 1000);
	if (us < 0) {
		us += 1000000;
		s--;
	}
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%06ld+00", us);
}

static int host_id(struct vm_db *db, const char *hostname, const char *uri, char *out, size_t size)
{
	const char *params[] = {hostname, uri};
	PGresult *res = query(db,
	                      "INSERT INTO host (hostname, libvirt_uri) VALUES ($1, $2) "
	                      "ON CONFLICT (hostname) DO UPDATE SET last_seen = now(), "
	                      "libvirt_uri = coalesce(EXCLUDED.libvirt_uri, host.libvirt_uri) RETURNING host_id",
	                      2, params);
	int rc = -1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		set_err(db, "cannot register host", res);
		goto out;
	}
	snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
	rc = 0;
out:
	PQclear(res);
	return rc;
}

int vm_db_host_register(struct vm_db *db, const struct vm_host_info *h, int64_t at_ns)
{
	char id[16], at[48], cpus[16], mhz[16], mem[24], nodes[16], sockets[16], cores[16], threads[16];
	if (tx_begin(db))
		return -1;
	if (host_id(db, h->hostname, h->libvirt_uri[0] ? h->libvirt_uri : NULL, id, sizeof id))
		goto fail;
	format_ts(at_ns, at, sizeof at);
	snprintf(cpus, sizeof cpus, "%u", h->cpus);
	snprintf(mhz, sizeof mhz, "%u", h->mhz);
	snprintf(mem, sizeof mem, "%llu", (unsigned long long)h->memory_kib);
	snprintf(nodes, sizeof nodes, "%u", h->numa_nodes);
	snprintf(sockets, sizeof sockets, "%u", h->sockets);
	snprintf(cores, sizeof cores, "%u", h->cores);
	snprintf(threads, sizeof threads, "%u", h->threads);
	const char *p[] = {id, at, cpus, mhz, mem, h->cpu_model, nodes, sockets, cores, threads};
	if (exec_cmd(db, "cannot record host inventory",
	             "INSERT INTO host_inventory (host_id, valid_from, cpus, mhz, memory_kib, cpu_model, numa_nodes, "
	             "sockets, cores, threads) "
	             "SELECT $1::int, $2::timestamptz, $3::int, $4::int, $5::bigint, $6, $7::int, $8::int, $9::int, "
	             "$10::int WHERE NOT EXISTS (SELECT 1 FROM (SELECT * FROM host_inventory WHERE host_id = $1::int "
	             "AND valid_from <= $2::timestamptz ORDER BY valid_from DESC LIMIT 1) l WHERE l.cpus = $3::int "
	             "AND l.mhz = $4::int AND l.memory_kib = $5::bigint AND l.cpu_model = $6 AND l.numa_nodes = "
	             "$7::int AND l.sockets = $8::int AND l.cores = $9::int AND l.threads = $10::int) "
	             "ON CONFLICT DO NOTHING",
	             10, p) ||
	    tx_commit(db, "cannot commit"))
		goto fail;
	return 0;
fail:
	rollback(db);
	return -1;
}

/* The staging tables mirror the usage tables with the VM's UUID in place
 * of ids, so a batch needs no id lookups on the client. */
static int ensure_staging(struct vm_db *db)
{
	if (db->staged)
		return 0;
	for (int k = 0; k < 2; k++) {
		const struct vm_meter_set *set = k ? vm_usage_host_meters() : vm_usage_vm_meters();
		size_t cap = 4096, len = 0;
		char *sql = vm_xmalloc(cap);
		len += (size_t)snprintf(sql, cap,
		                        "CREATE TEMP TABLE IF NOT EXISTS stage_%s (%sminute timestamptz, coverage_ms "
		                        "int, samples int, late bigint",
		                        set->name, k ? "" : "uuid uuid, ");
		for (size_t i = 0; i < set->n; i++) {
			const char *n = set->meters[i].name;
			if (i < set->n_counters)
				len += (size_t)snprintf(sql + len, cap - len, ", %s bigint", n);
			else
				len += (size_t)snprintf(sql + len, cap - len, ", %s_avg bigint, %s_max bigint", n, n);
		}
		snprintf(sql + len, cap - len, ") ON COMMIT DELETE ROWS");
		int rc = exec_cmd(db, "cannot create staging table", sql, 0, NULL);
		free(sql);
		if (rc)
			return -1;
	}
	db->staged = 1;
	return 0;
}

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n;
		b->p = vm_xrealloc(b->p, b->cap);
	}
}

/* Appends "\t<decimal>": rows have ~50 numbers each, and printf-style
 * formatting of each was the client's largest cost in the ingest bench. */
static void buf_num(struct buf *b, uint64_t v)
{
	if (v > INT64_MAX)
		v = INT64_MAX; /* bigint columns */
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (b->cap - b->len < n + 2) {
		b->cap = b->cap * 2 + n + 2;
		b->p = vm_xrealloc(b->p, b->cap);
	}
	b->p[b->len++] = '\t';
	while (n)
		b->p[b->len++] = tmp[--n];
}

static void buf_null(struct buf *b)
{
	buf_printf(b, "\t\\N");
}

/* One row in COPY text format, after `prefix` (the key columns). */
static void copy_row(struct buf *b, const char *prefix, const struct vm_usage_row *r)
{
	char ts[48];
	format_ts(r->minute_ns, ts, sizeof ts);
	buf_printf(b, "%s%s", prefix, ts);
	buf_num(b, (uint64_t)r->coverage_ms);
	buf_num(b, (uint64_t)r->samples);
	buf_num(b, r->late);
	for (size_t i = 0; i < r->set->n; i++) {
		int have = (r->have >> i) & 1;
		if (i < r->set->n_counters) {
			if (have)
				buf_num(b, r->sum[i]);
			else
				buf_null(b);
		} else if (have) {
			buf_num(b, r->avg[i]);
			buf_num(b, r->max[i]);
		} else {
			buf_null(b);
			buf_null(b);
		}
	}
	buf_printf(b, "\n");
}

static int copy_in(struct vm_db *db, const char *table, const struct buf *b)
{
	char *sql = vm_xasprintf("COPY %s FROM STDIN", table);
	PGresult *res = query(db, sql, 0, NULL);
	free(sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		set_err(db, "cannot start COPY", res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	/* Non-blocking: 0 means libpq's buffer is full until the socket
	 * takes more. */
	start_round_trip(db);
	int rc;
	while ((rc = PQputCopyData(db->conn, b->p, (int)b->len)) == 0)
		if (wait_socket(db, true) < 0)
			break;
	while (rc == 1 && (rc = PQputCopyEnd(db->conn, NULL)) == 0)
		if (wait_socket(db, true) < 0)
			break;
	if (rc != 1 || flush_out(db) < 0) {
		lose_connection(db, NULL);
		set_err(db, "COPY failed", NULL);
		return -1;
	}
	res = collect(db);
	rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
	if (rc)
		set_err(db, "COPY failed", res);
	PQclear(res);
	return rc;
}

/* The value columns of a usage table, in COPY order; caller frees. */
static char *usage_columns(const struct vm_meter_set *set)
{
	struct buf cols = {vm_xmalloc(2048), 0, 2048};
	buf_printf(&cols, "minute, coverage_ms, samples, late");
	for (size_t i = 0; i < set->n; i++) {
		if (i < set->n_counters)
			buf_printf(&cols, ", %s", set->meters[i].name);
		else
			buf_printf(&cols, ", %s_avg, %s_max", set->meters[i].name, set->meters[i].name);
	}
	return cols.p;
}

/* INSERT ... SELECT from a staging table; adds the new rows to *inserted. */
static int merge(struct vm_db *db, const struct vm_meter_set *set, const char *hid, size_t *inserted)
{
	struct buf cols = {usage_columns(set), 0, 0};
	char *sql;
	if (set == vm_usage_vm_meters())
		sql = vm_xasprintf("INSERT INTO vm_usage_minute (host_id, vm_id, %s) SELECT $1::int, v.vm_id, %s "
		                   "FROM stage_vm s JOIN vm v USING (uuid) ON CONFLICT DO NOTHING",
		                   cols.p, cols.p);
	else
		sql = vm_xasprintf("INSERT INTO host_usage_minute (host_id, %s) SELECT $1::int, %s FROM stage_host "
		                   "ON CONFLICT DO NOTHING",
		                   cols.p, cols.p);
	free(cols.p);
	const char *params[] = {hid};
	PGresult *res = query(db, sql, 1, params);
	free(sql);
	int rc = -1;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		set_err(db, "cannot insert usage rows", res);
		goto out;
	}
	*inserted += (size_t)strtoul(PQcmdTuples(res), NULL, 10);
	rc = 0;
out:
	PQclear(res);
	return rc;
}

static int cmp_vm_id(const void *a, const void *b)
{
	return strcmp(((const struct vm_id *)a)->uuid, ((const struct vm_id *)b)->uuid);
}

static long cached_vm_id(const struct vm_db *db, const char *uuid)
{
	if (!db->n_ids)
		return -1;
	struct vm_id key;
	snprintf(key.uuid, sizeof key.uuid, "%s", uuid);
	const struct vm_id *hit = bsearch(&key, db->ids, db->n_ids, sizeof *db->ids, cmp_vm_id);
	return hit ? hit->id : -1;
}

/* Makes sure every VM of `uuids` (n of them, each at `stride` bytes from
 * the last) has a vm row and its id is cached.  In autocommit: a
 * registered VM stays registered whatever the batch does, so the cache
 * never holds an id that a rollback took back. */
static int resolve_uuids(struct vm_db *db, const char *uuids, size_t stride, size_t n)
{
	struct buf arr = {vm_xmalloc(256), 0, 256};
	buf_printf(&arr, "{");
	size_t missing = 0;
	const char *last = "";
	for (size_t i = 0; i < n; i++) {
		const char *u = uuids + i * stride;
		if (!u[0] || strcmp(u, last) == 0 || cached_vm_id(db, u) >= 0)
			continue;
		last = u;
		buf_printf(&arr, "%s%s", missing++ ? "," : "", u);
	}
	buf_printf(&arr, "}");
	int rc = 0;
	if (!missing)
		goto out;
	const char *params[] = {arr.p};
	rc = -1;
	if (exec_cmd(db, "cannot register VMs",
	             "INSERT INTO vm (uuid) SELECT DISTINCT unnest($1::uuid[]) ON CONFLICT DO NOTHING", 1, params))
		goto out;
	PGresult *res = query(db, "SELECT uuid, vm_id FROM vm WHERE uuid = ANY($1::uuid[])", 1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_err(db, "cannot look up VMs", res);
		PQclear(res);
		goto out;
	}
	int k = PQntuples(res);
	db->ids = vm_xgrow(db->ids, &db->cap_ids, db->n_ids + (size_t)k, sizeof *db->ids);
	for (int i = 0; i < k; i++) {
		struct vm_id *e = &db->ids[db->n_ids++];
		snprintf(e->uuid, sizeof e->uuid, "%s", PQgetvalue(res, i, 0));
		e->id = atol(PQgetvalue(res, i, 1));
	}
	PQclear(res);
	qsort(db->ids, db->n_ids, sizeof *db->ids, cmp_vm_id);
	rc = 0;
out:
	free(arr.p);
	return rc;
}

static int resolve_vms(struct vm_db *db, const struct vm_db_usage *rows, size_t n)
{
	if (!n)
		return 0;
	/* Host rows have an empty uuid: skipped. */
	return resolve_uuids(db, rows[0].uuid, sizeof *rows, n);
}

int vm_db_write_usage(struct vm_db *db, const char *hostname, const struct vm_db_usage *rows, size_t n,
                      size_t *inserted)
{
	struct buf direct = {vm_xmalloc(1 << 16), 0, 1 << 16};
	struct buf staged = {vm_xmalloc(1 << 16), 0, 1 << 16};
	struct buf hostb = {vm_xmalloc(4096), 0, 4096};
	size_t n_vm = 0, n_host = 0;
	char hid[16], prefix[80];
	char *sql = NULL;
	*inserted = 0;
	int rc = -1;
	if (resolve_vms(db, rows, n) < 0)
		goto out;
	if (tx_begin(db))
		goto out;
	if (host_id(db, hostname, NULL, hid, sizeof hid))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].row.set == vm_usage_vm_meters()) {
			snprintf(prefix, sizeof prefix, "%s\t%ld\t", hid, cached_vm_id(db, rows[i].uuid));
			copy_row(&direct, prefix, &rows[i].row);
			n_vm++;
		} else {
			copy_row(&hostb, "", &rows[i].row);
			n_host++;
		}
	}
	if (n_vm) {
		/* Straight into the table: the batch is new, as it nearly
		 * always is.  If any row is already there (a batch resent
		 * after a lost commit), the whole COPY fails on the key and
		 * the batch goes through staging, which skips what is there. */
		char *cols = usage_columns(vm_usage_vm_meters());
		sql = vm_xasprintf("vm_usage_minute (host_id, vm_id, %s)", cols);
		free(cols);
		if (exec_cmd(db, "cannot set savepoint", "SAVEPOINT direct", 0, NULL))
			goto fail;
		if (copy_in(db, sql, &direct) == 0) {
			*inserted += n_vm;
		} else if (strcmp(db->sqlstate, "23505") == 0) {
			if (exec_cmd(db, "cannot roll back to savepoint", "ROLLBACK TO SAVEPOINT direct", 0, NULL) ||
			    ensure_staging(db))
				goto fail;
			for (size_t i = 0; i < n; i++) {
				if (rows[i].row.set != vm_usage_vm_meters())
					continue;
				snprintf(prefix, sizeof prefix, "%s\t", rows[i].uuid);
				copy_row(&staged, prefix, &rows[i].row);
			}
			if (copy_in(db, "stage_vm", &staged) || merge(db, vm_usage_vm_meters(), hid, inserted))
				goto fail;
		} else {
			goto fail;
		}
	}
	if (n_host && (ensure_staging(db) || copy_in(db, "stage_host", &hostb) ||
	               merge(db, vm_usage_host_meters(), hid, inserted)))
		goto fail;
	if (tx_commit(db, "cannot commit usage"))
		goto fail;
	rc = 0;
	goto out;
fail:
	rollback(db);
	/* Temp tables created in a failed transaction are gone with it. */
	db->staged = 0;
	*inserted = 0;
out:
	free(sql);
	free(direct.p);
	free(staged.p);
	free(hostb.p);
	return rc;
}

/* COPYs `b` into `table` (cols); if any row is there already (a batch sent
 * again after a lost commit), through a staging copy of the table instead,
 * skipping what is there.  Adds the rows stored to *inserted.  Inside a
 * transaction. */
static int copy_idempotent(struct vm_db *db, const char *table, const char *cols, const struct buf *b, size_t n,
                           size_t *inserted)
{
	if (!n)
		return 0;
	char *target = vm_xasprintf("%s (%s)", table, cols);
	char *stage = vm_xasprintf("stage_%s (%s)", table, cols);
	char *create =
	    vm_xasprintf("CREATE TEMP TABLE IF NOT EXISTS stage_%s (LIKE %s) ON COMMIT DELETE ROWS", table, table);
	char *clear = vm_xasprintf("DELETE FROM stage_%s", table);
	char *ins = vm_xasprintf("INSERT INTO %s (%s) SELECT %s FROM stage_%s ON CONFLICT DO NOTHING", table, cols,
	                         cols, table);
	int rc = -1;
	if (exec_cmd(db, "cannot set savepoint", "SAVEPOINT direct", 0, NULL))
		goto out;
	if (copy_in(db, target, b) == 0) {
		*inserted += n;
		rc = 0;
		goto out;
	}
	if (strcmp(db->sqlstate, "23505") != 0 ||
	    exec_cmd(db, "cannot roll back to savepoint", "ROLLBACK TO SAVEPOINT direct", 0, NULL) ||
	    exec_cmd(db, "cannot create staging table", create, 0, NULL) ||
	    exec_cmd(db, "cannot clear staging table", clear, 0, NULL) || copy_in(db, stage, b))
		goto out;
	PGresult *res = query(db, ins, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		set_err(db, "cannot insert rows", res);
		PQclear(res);
		goto out;
	}
	*inserted += (size_t)strtoul(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	rc = 0;
out:
	free(target);
	free(stage);
	free(create);
	free(clear);
	free(ins);
	return rc;
}

int vm_db_write_traffic(struct vm_db *db, const char *hostname, const struct vm_db_traffic *rows, size_t n,
                        const struct vm_db_host_capture *host, size_t n_host, size_t *inserted)
{
	struct buf cov = {vm_xmalloc(4096), 0, 4096}, cls = {vm_xmalloc(4096), 0, 4096},
	           hc = {vm_xmalloc(1024), 0, 1024};
	size_t n_cls = 0, ignored = 0;
	char hid[16], ts[48];
	*inserted = 0;
	int rc = -1;
	if (n && resolve_uuids(db, rows[0].uuid, sizeof *rows, n) < 0)
		goto out;
	if (tx_begin(db))
		goto out;
	if (host_id(db, hostname, NULL, hid, sizeof hid))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct vm_db_traffic *t = &rows[i];
		uint64_t rx = 0, tx = 0;
		format_ts(t->minute_ns, ts, sizeof ts);
		long vid = cached_vm_id(db, t->uuid);
		for (size_t k = 0; k < t->n_classes; k++) {
			const struct vm_db_traffic_class *c = &t->classes[k];
			rx += c->rx_bytes, tx += c->tx_bytes;
			/* Class names are [a-z0-9_-]: nothing to escape. */
			buf_printf(&cls, "%ld\t%s\t%s\t%s", vid, ts, hid, c->name);
			buf_num(&cls, c->rx_bytes);
			buf_num(&cls, c->tx_bytes);
			buf_num(&cls, c->rx_packets);
			buf_num(&cls, c->tx_packets);
			buf_printf(&cls, "\n");
			n_cls++;
		}
		buf_printf(&cov, "%ld\t%s\t%s", vid, ts, hid);
		buf_num(&cov, (uint64_t)t->captured_ms);
		if (t->have_libvirt_rx)
			buf_num(&cov, t->libvirt_rx_bytes);
		else
			buf_null(&cov);
		if (t->have_libvirt_tx)
			buf_num(&cov, t->libvirt_tx_bytes);
		else
			buf_null(&cov);
		buf_num(&cov, rx);
		buf_num(&cov, tx);
		buf_printf(&cov, "\n");
	}
	for (size_t i = 0; i < n_host; i++) {
		format_ts(host[i].minute_ns, ts, sizeof ts);
		buf_printf(&hc, "%s\t%s", hid, ts);
		buf_num(&hc, host[i].frames);
		buf_num(&hc, host[i].drops);
		buf_num(&hc, host[i].ifdrops);
		buf_num(&hc, (uint64_t)host[i].uncovered_ms);
		buf_printf(&hc, "\n");
	}
	/* The coverage rows and the class rows of a minute are written
	 * together, so either table says whether the minute is in. */
	if (copy_idempotent(
	        db, "vm_capture_minute",
	        "vm_id, minute, host_id, captured_ms, libvirt_rx_bytes, libvirt_tx_bytes, captured_rx_bytes, "
	        "captured_tx_bytes",
	        &cov, n, inserted) ||
	    copy_idempotent(db, "vm_traffic_minute",
	                    "vm_id, minute, host_id, class, rx_bytes, tx_bytes, rx_packets, tx_packets", &cls, n_cls,
	                    &ignored) ||
	    copy_idempotent(db, "host_capture_minute", "host_id, minute, frames, drops, ifdrops, uncovered_ms", &hc,
	                    n_host, inserted))
		goto fail;
	if (tx_commit(db, "cannot commit traffic"))
		goto fail;
	rc = 0;
	goto out;
fail:
	rollback(db);
	*inserted = 0;
out:
	free(cov.p);
	free(cls.p);
	free(hc.p);
	return rc;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = UINT64_C(1469598103934665603);
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

int vm_db_write_inventory(struct vm_db *db, const char *hostname, const struct vm_inventory *inv, int64_t at_ns)
{
	json_t *disks = json_array(), *nics = json_array(), *tags = json_object();
	for (size_t i = 0; i < inv->n_disks; i++) {
		const struct vm_disk *d = &inv->disks[i];
		json_array_append_new(disks, json_pack("{s:s, s:s, s:s, s:s, s:I}", "target", d->target, "bus", d->bus,
		                                       "device", d->device, "source", d->source, "capacity",
		                                       (json_int_t)d->capacity));
	}
	for (size_t i = 0; i < inv->n_nics; i++) {
		const struct vm_nic *c = &inv->nics[i];
		json_array_append_new(nics, json_pack("{s:s, s:s, s:s, s:s, s:s}", "mac", c->mac, "target", c->target,
		                                      "type", c->type, "source", c->source, "model", c->model));
	}
	for (size_t i = 0; i < inv->owner.n_tags; i++)
		json_object_set_new(tags, inv->owner.tags[i].key, json_string(inv->owner.tags[i].value));
	char *jd = json_dumps(disks, JSON_COMPACT), *jn = json_dumps(nics, JSON_COMPACT);
	char *jt = json_dumps(tags, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(disks);
	json_decref(nics);
	json_decref(tags);

	const char *src = vm_owner_source_name(inv->owner.source);
	char at[48], vcpus[16], maxv[16], mem[24], cur[24], digest[24];
	format_ts(at_ns, at, sizeof at);
	snprintf(vcpus, sizeof vcpus, "%u", inv->vcpus);
	snprintf(maxv, sizeof maxv, "%u", inv->max_vcpus);
	snprintf(mem, sizeof mem, "%llu", (unsigned long long)inv->memory_kib);
	snprintf(cur, sizeof cur, "%llu", (unsigned long long)inv->current_memory_kib);
	char *canon = vm_xasprintf("%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s", hostname, inv->name, vcpus, maxv, mem, cur,
	                           inv->owner.tenant, inv->owner.project, inv->owner.cost_centre, jt, src, jd, jn);
	snprintf(digest, sizeof digest, "%016llx", (unsigned long long)fnv1a(canon));
	free(canon);

	int rc = -1;
	char hid[16];
	const char *pv[] = {inv->uuid};
	if (tx_begin(db))
		goto out;
	if (host_id(db, hostname, NULL, hid, sizeof hid) ||
	    exec_cmd(db, "cannot register VM", "INSERT INTO vm (uuid) VALUES ($1::uuid) ON CONFLICT DO NOTHING", 1, pv))
		goto fail;
	const char *p[] = {inv->uuid,
	                   at,
	                   hid,
	                   inv->name,
	                   vcpus,
	                   maxv,
	                   mem,
	                   cur,
	                   inv->owner.tenant,
	                   inv->owner.project,
	                   inv->owner.cost_centre,
	                   jt,
	                   src,
	                   jd,
	                   jn,
	                   digest};
	if (exec_cmd(db, "cannot record VM inventory",
	             "INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, "
	             "current_memory_kib, tenant, project, cost_centre, tags, owner_source, disks, nics, digest) "
	             "SELECT v.vm_id, $2::timestamptz, $3::int, $4, $5::int, $6::int, $7::bigint, $8::bigint, $9, $10, "
	             "$11, $12::jsonb, $13, $14::jsonb, $15::jsonb, $16 FROM vm v WHERE v.uuid = $1::uuid "
	             "AND NOT EXISTS (SELECT 1 FROM (SELECT digest FROM vm_inventory i WHERE i.vm_id = v.vm_id "
	             "AND i.valid_from <= $2::timestamptz ORDER BY valid_from DESC LIMIT 1) l WHERE l.digest = $16) "
	             "ON CONFLICT DO NOTHING",
	             16, p) ||
	    tx_commit(db, "cannot commit"))
		goto fail;
	rc = 0;
	goto out;
fail:
	rollback(db);
out:
	free(jd);
	free(jn);
	free(jt);
	return rc;
}

int vm_db_write_event(struct vm_db *db, const char *hostname, const char *uuid, int64_t at_ns, const char *event,
                      const char *detail)
{
	char at[48], hid[16];
	const char *pv[] = {uuid};
	if (tx_begin(db))
		return -1;
	if (host_id(db, hostname, NULL, hid, sizeof hid) ||
	    exec_cmd(db, "cannot register VM", "INSERT INTO vm (uuid) VALUES ($1::uuid) ON CONFLICT DO NOTHING", 1, pv))
		goto fail;
	format_ts(at_ns, at, sizeof at);
	const char *p[] = {uuid, hid, at, event, detail};
	if (exec_cmd(db, "cannot record VM event",
	             "INSERT INTO vm_event (vm_id, host_id, at, event, detail) SELECT vm_id, $2::int, "
	             "$3::timestamptz, $4, $5 FROM vm WHERE uuid = $1::uuid ON CONFLICT DO NOTHING",
	             5, p) ||
	    tx_commit(db, "cannot commit"))
		goto fail;
	return 0;
fail:
	rollback(db);
	return -1;
}

int vm_db_begin(struct vm_db *db)
{
	if (exec_cmd(db, "cannot begin", "BEGIN", 0, NULL))
		return -1;
	db->outer = 1;
	return 0;
}

int vm_db_commit(struct vm_db *db)
{
	db->outer = 0;
	if (exec_cmd(db, "cannot commit", "COMMIT", 0, NULL) == 0)
		return 0;
	vm_db_rollback(db);
	return -1;
}

void vm_db_rollback(struct vm_db *db)
{
	db->outer = 0;
	if (!vm_db_broken(db) && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		PQclear(query(db, "ROLLBACK", 0, NULL));
	/* VMs registered in the rolled-back transaction are gone, and temp
	 * tables created in it too. */
	db->n_ids = 0;
	db->staged = 0;
}

int vm_db_set_mark(struct vm_db *db, const char *hostname, const char *spool_id, uint64_t seq)
{
	char hid[16], s[24];
	if (host_id(db, hostname, NULL, hid, sizeof hid))
		return -1;
	snprintf(s, sizeof s, "%llu", (unsigned long long)seq);
	const char *p[] = {hid, spool_id, s};
	/* A new spool (its directory was recreated) starts its own count. */
	return exec_cmd(db, "cannot record the delivery mark",
	                "INSERT INTO host_delivery (host_id, spool_id, last_seq) VALUES ($1::int, $2, $3::bigint) "
	                "ON CONFLICT (host_id) DO UPDATE SET last_seq = CASE WHEN host_delivery.spool_id = "
	                "EXCLUDED.spool_id THEN greatest(host_delivery.last_seq, EXCLUDED.last_seq) ELSE "
	                "EXCLUDED.last_seq END, spool_id = EXCLUDED.spool_id, updated_at = now()",
	                3, p);
}

int vm_db_get_mark(struct vm_db *db, const char *hostname, const char *spool_id, uint64_t *seq)
{
	const char *p[] = {hostname, spool_id};
	PGresult *res = query(db,
	                      "SELECT d.last_seq FROM host_delivery d JOIN host h USING (host_id) "
	                      "WHERE h.hostname = $1 AND d.spool_id = $2",
	                      2, p);
	int rc = -1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_err(db, "cannot read the delivery mark", res);
		goto out;
	}
	*seq = PQntuples(res) ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	rc = 0;
out:
	PQclear(res);
	return rc;
}

int vm_db_write_losses(struct vm_db *db, const char *hostname, const struct vm_db_loss *rows, size_t n,
                       const char *reason)
{
	if (!n)
		return 0;
	struct buf uuids = {vm_xmalloc(256), 0, 256}, minutes = {vm_xmalloc(256), 0, 256},
	           lasts = {vm_xmalloc(256), 0, 256}, ms = {vm_xmalloc(256), 0, 256};
	for (size_t i = 0; i < n; i++) {
		char ts[48], te[48];
		format_ts(rows[i].first_ns, ts, sizeof ts);
		format_ts(rows[i].last_ns < rows[i].first_ns ? rows[i].first_ns : rows[i].last_ns, te, sizeof te);
		buf_printf(&uuids, "%s%s", i ? "," : "{", rows[i].uuid);
		buf_printf(&minutes, "%s\"%s\"", i ? "," : "{", ts);
		buf_printf(&lasts, "%s\"%s\"", i ? "," : "{", te);
		buf_printf(&ms, "%s%d", i ? "," : "{", rows[i].lost_ms > 60000 ? 60000 : rows[i].lost_ms);
	}
	buf_printf(&uuids, "}");
	buf_printf(&minutes, "}");
	buf_printf(&lasts, "}");
	buf_printf(&ms, "}");
	char hid[16];
	const char *pv[] = {uuids.p};
	int rc = -1;
	if (tx_begin(db))
		goto out;
	if (host_id(db, hostname, NULL, hid, sizeof hid) ||
	    exec_cmd(db, "cannot register VMs",
	             "INSERT INTO vm (uuid) SELECT DISTINCT unnest($1::uuid[]) ON CONFLICT DO NOTHING", 1, pv))
		goto fail;
	const char *p[] = {hid, uuids.p, minutes.p, ms.p, reason, lasts.p};
	if (exec_cmd(db, "cannot record lost coverage",
	             "INSERT INTO vm_usage_loss (host_id, vm_id, minute, lost_ms, reason) "
	             "SELECT $1::int, v.vm_id, m, l.ms, $5 FROM unnest($2::uuid[], $3::timestamptz[], "
	             "$6::timestamptz[], $4::int[]) AS l(uuid, first, last, ms) JOIN vm v USING (uuid), "
	             "generate_series(l.first, l.last, interval '1 minute') AS m ON CONFLICT DO NOTHING",
	             6, p) ||
	    tx_commit(db, "cannot commit lost coverage"))
		goto fail;
	rc = 0;
	goto out;
fail:
	rollback(db);
out:
	free(uuids.p);
	free(minutes.p);
	free(lasts.p);
	free(ms.p);
	return rc;
}
