/* libpq calls with lib/'s error convention, for the modules that work on
 * a bare PGconn (lib/maint.c, lib/packed.c): a statement with text
 * parameters, and on failure a message "WHAT: libpq's text" in err; and
 * reading a result's integers. */
#ifndef VM_PGX_H
#define VM_PGX_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Writes "what: message" into err, the message from res (may be NULL) or
 * else from the connection, without its trailing newline. */
void vm_pgx_set_err(char *err, size_t errsize, const char *what, PGconn *pg, PGresult *res);

/* Runs sql with n text parameters; returns the result (the caller
 * PQclear()s it) when its status is `want`, else NULL with the message. */
PGresult *vm_pgx_run(PGconn *pg, const char *what, const char *sql, int n, const char *const *params,
                     ExecStatusType want, char *err, size_t errsize);

/* The same for a statement whose result is not needed (a command or a
 * query): 0 or -1. */
int vm_pgx_cmd(PGconn *pg, const char *what, const char *sql, int n, const char *const *params, char *err,
               size_t errsize);

/* Cell (row, col) of res as an integer (bigint text); 0 for SQL NULL. */
int64_t vm_pgx_int(const PGresult *res, int row, int col);

/* Writes s to f as a field of COPY's text format (backslash, tab, newline
 * and carriage return escaped); NULL as \N, COPY's SQL NULL. */
void vm_pgx_copy_text(FILE *f, const char *s);

#endif
