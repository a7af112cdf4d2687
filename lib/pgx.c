#include "config.h"

#include "pgx.h"

#include <stdlib.h>

#include <stdio.h>
#include <string.h>

void vm_pgx_set_err(char *err, size_t errsize, const char *what, PGconn *pg, PGresult *res)
{
	const char *msg = res ? PQresultErrorMessage(res) : "";
	if (!msg || !*msg)
		msg = PQerrorMessage(pg);
	snprintf(err, errsize, "%s: %s", what, msg);
	size_t n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

PGresult *vm_pgx_run(PGconn *pg, const char *what, const char *sql, int n, const char *const *params,
                     ExecStatusType want, char *err, size_t errsize)
{
	PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != want) {
		vm_pgx_set_err(err, errsize, what, pg, res);
		PQclear(res);
		return NULL;
	}
	return res;
}

int vm_pgx_cmd(PGconn *pg, const char *what, const char *sql, int n, const char *const *params, char *err,
               size_t errsize)
{
	PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		vm_pgx_set_err(err, errsize, what, pg, res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

int64_t vm_pgx_int(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

void vm_pgx_copy_text(FILE *f, const char *s)
{
	if (!s) {
		fputs("\\N", f);
		return;
	}
	for (; *s; s++) {
		if (*s == '\\' || *s == '\t' || *s == '\n' || *s == '\r')
			fputc('\\', f);
		fputc(*s == '\n' ? 'n' : *s == '\r' ? 'r' : *s == '\t' ? 't' : *s, f);
	}
}
