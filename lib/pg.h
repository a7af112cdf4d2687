/* PostgreSQL connections for every program: the blocking layer.
 *
 * One connection, blocking calls: run them on a thread of their own (the
 * collector's delivery thread) or in a command-line program, never on an
 * event loop; lib/pgev.h is the asynchronous pool for that.
 *
 * Every round trip is bounded by the handle's timeout and ends early when
 * its abort_fd becomes readable.  Queries are parameterised and go through
 * libpq's unnamed statements (PQsendQueryParams): pgbouncer in transaction
 * mode hands each transaction any server connection, so a named prepared
 * statement would not be there for the next one.
 *
 * Errors: a call returns 0, or -1 (NULL for a result) with the message in
 * vm_pg_error() and its kind in vm_pg_failure(); nothing else to check. */
#ifndef VM_PG_H
#define VM_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct vm_pg;

/* What kind of failure a call met, for a caller that backs off and says
 * what happened. */
enum vm_pg_failure {
	VM_PG_OK,
	VM_PG_UNREACHABLE, /* no connection, lost, timed out, server starting or stopping */
	VM_PG_REFUSED,     /* the server answered with an error: SQL, a privilege, a login, a constraint */
	VM_PG_ABANDONED,   /* abort_fd became readable: the caller is stopping */
	VM_PG_TIMEOUT,     /* lib/pgev.h: the query's time ran out (it may have run) */
	VM_PG_CANCELLED,   /* lib/pgev.h: the pool was freed before the query ended */
};

/* "ok", "unreachable", "refused", "abandoned", "timeout", "cancelled":
 * a static string. */
const char *vm_pg_failure_name(enum vm_pg_failure f);

/* A handle for conninfo (copied), not connected yet.  timeout_s > 0 bounds
 * the connect and every round trip after it: a database that does not
 * answer within it counts as lost, whatever TCP says; it is also libpq's
 * connect_timeout and tcp_user_timeout, with TCP keepalives, where
 * conninfo does not set them.  0 waits as long as libpq does.  Every wait
 * also ends as soon as abort_fd (borrowed; -1 for none) is readable: a
 * thread that must stop writes to a pipe whose read end it is, and the
 * call in flight fails with VM_PG_ABANDONED.  Keep it readable from then
 * on.  Never NULL; free with vm_pg_free(). */
struct vm_pg *vm_pg_new(const char *conninfo, int timeout_s, int abort_fd);
void vm_pg_free(struct vm_pg *pg);

/* Connects (again, if it was: the old connection is closed), sets the
 * session to UTC.  Server warnings on the connection go to the log
 * (lib/log.h).  Returns 0 or -1: VM_PG_REFUSED when the server answered
 * the start-up with an error (authentication, a missing role or
 * database), VM_PG_UNREACHABLE when it could not be reached, closed the
 * connection or is starting up or shutting down.  (A host name is still
 * resolved by a blocking getaddrinfo(), which abort_fd cannot end: use an
 * address or a socket where that matters.) */
int vm_pg_connect(struct vm_pg *pg);

/* The last failure's message ("" if none), and its kind.  Borrowed: valid
 * until the next call on pg. */
const char *vm_pg_error(const struct vm_pg *pg);
/* For a caller whose errors go into a buffer: writes "what: " and the
 * last error into err and returns -1. */
int vm_pg_fail(const struct vm_pg *pg, const char *what, char *err, size_t errsize);
enum vm_pg_failure vm_pg_failure(const struct vm_pg *pg);
/* The SQLSTATE of the last statement the server refused ("" if none). */
const char *vm_pg_sqlstate(const struct vm_pg *pg);
/* Puts "what: " before the last error's message: a caller names the step
 * that failed ("cannot record VM event: ..."). */
void vm_pg_error_prefix(struct vm_pg *pg, const char *what);

/* True unless connected and usable (never connected, lost, timed out,
 * abandoned): reconnect before the next call. */
bool vm_pg_broken(const struct vm_pg *pg);
/* Whether an idle connection still stands, without a round trip: what the
 * server sent meanwhile is read (a shutdown's FATAL, a close).  false with
 * the reason in vm_pg_error(); the connection is then unreachable. */
bool vm_pg_alive(struct vm_pg *pg);

/* One statement with nparams text parameters ($1...; NULL elements are SQL
 * NULLs; params borrowed), as an unnamed statement.  Returns its result
 * (PGRES_COMMAND_OK or PGRES_TUPLES_OK), which the caller frees with
 * PQclear(), or NULL on failure. */
PGresult *vm_pg_exec(struct vm_pg *pg, const char *sql, int nparams, const char *const *params);
/* vm_pg_exec() for a statement whose rows, if any, are not wanted: 0 or
 * -1. */
int vm_pg_cmd(struct vm_pg *pg, const char *sql, int nparams, const char *const *params);
/* Several statements without parameters in one string (a migration), in
 * the simple query protocol.  0 or -1 (the first error). */
int vm_pg_script(struct vm_pg *pg, const char *sql);

/* COPY target FROM STDIN (target: "table (columns)") with len bytes of
 * data in COPY's text format (borrowed).  0 or -1. */
int vm_pg_copy_in(struct vm_pg *pg, const char *target, const char *data, size_t len);
/* The same in parts, for data made as it is sent: vm_pg_copy_begin(),
 * vm_pg_copy_put() for each part (borrowed; sent at once, so that the
 * server stores it while the caller makes the next), vm_pg_copy_end(),
 * which returns the COPY's outcome.  Each 0 or -1; after a -1 from
 * begin or put the COPY is over (refused, or the connection lost): call
 * nothing more of it. */
int vm_pg_copy_begin(struct vm_pg *pg, const char *target);
int vm_pg_copy_put(struct vm_pg *pg, const char *data, size_t len);
int vm_pg_copy_end(struct vm_pg *pg);

/* BEGIN; COMMIT (which fails, the transaction gone, if the server rolled
 * it back: an earlier statement in it failed); ROLLBACK if a transaction
 * is open and the connection stands (it keeps the error of what failed
 * before it).  0 or -1. */
int vm_pg_begin(struct vm_pg *pg);
int vm_pg_commit(struct vm_pg *pg);
void vm_pg_rollback(struct vm_pg *pg);

/* Applies the migrations of lib/schema.h that the database lacks, each in
 * its own transaction with its schema_migrations row, all under one
 * session advisory lock (pg_advisory_lock): a second migrate running at
 * once waits, then finds nothing left to do.  It needs a session of its
 * own: not through pgbouncer in transaction mode.  *from_version and
 * *to_version say what it found and left.  0 or -1. */
int vm_pg_migrate(struct vm_pg *pg, unsigned *from_version, unsigned *to_version);
/* The schema version in the database (0 if none), or -1 on error. */
int vm_pg_schema_version(struct vm_pg *pg);
/* Fails unless the database has exactly the schema this build knows,
 * naming the fix ('vmeter-admin migrate'). */
int vm_pg_check_schema(struct vm_pg *pg);

/* The connection, out of the handle, for a program that runs libpq's own
 * calls (vmeter-admin): in blocking mode, in UTC, with the server's
 * messages as a plain PQconnectdb() has them (client_min_messages as the
 * conninfo or PGOPTIONS set it, printed on standard error).  The caller
 * owns it (PQfinish()); pg is freed.  NULL if not connected. */
PGconn *vm_pg_take_conn(struct vm_pg *pg);

/* --- for lib/pgev.c: the same connect, driven by an event loop */

/* Starts a non-blocking connect to conninfo with the options
 * vm_pg_new() describes for timeout_s, and the notice receiver.  Returns
 * libpq's connection (the caller owns it: drive it with PQconnectPoll(),
 * PQfinish() it) and the connect's own bound in *connect_s (conninfo's
 * connect_timeout if set, else timeout_s; 0 for none), or NULL with a
 * message in err if conninfo cannot be parsed. */
PGconn *vm_pg_connect_start(const char *conninfo, int timeout_s, int *connect_s, char *err, size_t errsize);
/* The kind of a failed connect: reached is PQstatus() before the
 * PQconnectPoll() that failed, msg libpq's message. */
enum vm_pg_failure vm_pg_connect_failure(ConnStatusType reached, const char *msg);
/* SQL that every new session runs first (UTC, server messages from
 * warning up); several statements. */
extern const char vm_pg_session_setup[];

#endif
