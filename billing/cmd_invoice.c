/* vmeter-bill invoice ...: drafts, finalisation, credit notes, exports
 * (cmd.h; billing/draft.h does the work). */
#include "config.h"

#include "cmd.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "draft.h"
#include "invoice.h"
#include "invoice_db.h"
#include "money.h"
#include "pg.h"
#include "store.h"

#define USAGE_EXIT 2

/* An invoice id: digits only, > 0. */
static int parse_id(const char *s, int *id)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v <= 0 || v > INT_MAX) {
		fprintf(stderr, "vmeter-bill: invoice id '%s' is not a positive number\n", s);
		return -1;
	}
	*id = (int)v;
	return 0;
}

static char *money_text(vm_money m, const char *code, char *buf)
{
	const struct vm_currency *c = vm_currency_find(code);
	return vm_money_format_exact(m, c ? c->digits : 2, buf);
}

/* Options after the subcommand: --tenant, --period, --issuer, --reason,
 * --line, --format, -o.  Positional words are left in argv[optind..]. */
struct opts {
	const char *tenant, *period, *issuer, *reason, *format, *out, *line;
};

static int parse_opts(const char *cmd, int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"tenant", required_argument, NULL, 't'}, {"period", required_argument, NULL, 'p'},
	    {"issuer", required_argument, NULL, 'i'}, {"reason", required_argument, NULL, 'r'},
	    {"line", required_argument, NULL, 'l'},   {"format", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
	*o = (struct opts){0};
	optind = 0; /* 0, not 1: GNU getopt starts afresh (main's "+" and its state) */
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (c) {
		case 't': o->tenant = optarg; break;
		case 'p': o->period = optarg; break;
		case 'i': o->issuer = optarg; break;
		case 'r': o->reason = optarg; break;
		case 'l': o->line = optarg; break;
		case 'f': o->format = optarg; break;
		case 'o': o->out = optarg; break;
		default:
			fprintf(stderr, "vmeter-bill: invoice %s: unknown option or missing value: '%s'\n", cmd,
			        argv[optind - 1]);
			return -1;
		}
	}
	return 0;
}

static int cmd_draft(struct vm_pg *pg, const struct opts *o)
{
	char err[2048];
	struct bill_store *store = bill_store_open(pg, err, sizeof err);
	if (!store) {
		fprintf(stderr, "vmeter-bill: %s\n", err);
		return 1;
	}
	struct bill_draft_info info;
	int rc = bill_draft_build(pg, store, o->tenant, o->period, &info, err, sizeof err);
	bill_store_free(store);
	if (rc < 0) {
		fprintf(stderr, "vmeter-bill: invoice draft: %s\n", err);
		return 1;
	}
	struct vm_invoice_db *d = vm_invoice_db_load(pg, info.invoice_id, err, sizeof err);
	if (!d) {
		fprintf(stderr, "vmeter-bill: %s\n", err);
		free(info.unrated);
		return 1;
	}
	char m[VM_MONEY_MAX_FORMAT];
	printf("%s %d (draft) for '%s', %s: %s .. %s (%lld hours), %zu line%s, ", d->kind, info.invoice_id,
	       d->inv.tenant, d->inv.period, d->inv.from, d->inv.to, (long long)d->hours, info.n_lines,
	       info.n_lines == 1 ? "" : "s");
	if (d->inv.money)
		printf("total %s %s\n", vm_money_format_exact(info.total, d->inv.currency->digits, m),
		       d->inv.currency->code);
	else
		printf("quantities only (showback)\n");
	if (info.unrated)
		printf("unrated days (%s): %s\n", d->inv.time_zone, info.unrated);
	vm_invoice_db_free(d);
	free(info.unrated);
	return 0;
}

static int cmd_list(struct vm_pg *pg, const struct opts *o)
{
	char month1[11];
	if (o->period && bill_period_parse(o->period, month1) < 0) {
		fprintf(stderr, "vmeter-bill: invoice list: period '%s' is not a month YYYY-MM\n", o->period);
		return USAGE_EXIT;
	}
	const char *p[2] = {o->tenant, o->period ? month1 : NULL};
	PGresult *res =
	    vm_pg_exec(pg,
	               "SELECT i.invoice_id, i.kind, i.state, coalesce(i.number, '-'), i.tenant, "
	               "to_char(i.period, 'YYYY-MM'), i.total, i.currency, (SELECT count(*) FROM bill_line l "
	               "WHERE l.invoice_id = i.invoice_id), coalesce(i.credits::text, '') FROM bill_invoice i "
	               "WHERE ($1::text IS NULL OR i.tenant = $1) AND ($2::date IS NULL OR i.period = $2) "
	               "ORDER BY i.period, i.tenant, i.invoice_id",
	               2, p);
	if (!res) {
		fprintf(stderr, "vmeter-bill: invoice list: %s\n", vm_pg_error(pg));
		return 1;
	}
	printf("id\tkind\tstate\tnumber\ttenant\tperiod\ttotal\tcurrency\tlines\tcredits\n");
	for (int i = 0; i < PQntuples(res); i++) {
		char m[VM_MONEY_MAX_FORMAT];
		vm_money t = {strtoll(PQgetvalue(res, i, 6), NULL, 10)};
		printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		       PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), PQgetvalue(res, i, 5),
		       money_text(t, PQgetvalue(res, i, 7), m), PQgetvalue(res, i, 7), PQgetvalue(res, i, 8),
		       PQgetvalue(res, i, 9));
	}
	PQclear(res);
	return 0;
}

static int cmd_finalise(struct vm_pg *pg, int id, const struct opts *o)
{
	char err[8192], *number;
	struct bill_store *store = bill_store_open(pg, err, sizeof err);
	if (!store) {
		fprintf(stderr, "vmeter-bill: %s\n", err);
		return 1;
	}
	int rc = bill_draft_finalise(pg, store, id, o->issuer, &number, err, sizeof err);
	bill_store_free(store);
	if (rc < 0) {
		fprintf(stderr, "vmeter-bill: invoice finalise: %s\n", err);
		return 1;
	}
	if (number)
		printf("invoice %d is final: number %s\n", id, number);
	else
		printf("statement %d is final\n", id);
	free(number);
	return 0;
}

static int cmd_credit(struct vm_pg *pg, int id, const struct opts *o)
{
	int line = 0;
	if (o->line) {
		char *end;
		long v = strtol(o->line, &end, 10);
		if (!*o->line || *end || v <= 0 || v > INT_MAX) {
			fprintf(stderr, "vmeter-bill: invoice credit: line '%s' is not a positive number\n", o->line);
			return USAGE_EXIT;
		}
		line = (int)v;
	}
	char err[1024], *number;
	int credit_id;
	if (bill_draft_credit(pg, id, o->reason, line, &credit_id, &number, err, sizeof err) < 0) {
		fprintf(stderr, "vmeter-bill: invoice credit: %s\n", err);
		return 1;
	}
	printf("credit note %d: number %s\n", credit_id, number);
	free(number);
	return 0;
}

static int cmd_export(struct vm_pg *pg, int id, const struct opts *o)
{
	if (!o->format || (strcmp(o->format, "csv") != 0 && strcmp(o->format, "json") != 0 &&
	                   strcmp(o->format, "html") != 0 && strcmp(o->format, "pdf") != 0)) {
		fprintf(stderr, "vmeter-bill: invoice export: --format must be csv, json, html or pdf%s%s%s\n",
		        o->format ? " (not '" : "", o->format ? o->format : "", o->format ? "')" : "");
		return USAGE_EXIT;
	}
	bool pdf = strcmp(o->format, "pdf") == 0;
	if (pdf && !o->out) {
		fprintf(stderr, "vmeter-bill: invoice export: a PDF needs -o FILE\n");
		return USAGE_EXIT;
	}
	char err[1024];
	struct vm_invoice_db *d = vm_invoice_db_load(pg, id, err, sizeof err);
	if (!d) {
		fprintf(stderr, "vmeter-bill: invoice export: %s\n", err);
		return 1;
	}
	int rc = 0;
	if (pdf) {
		int pages;
		if (vm_invoice_pdf(&d->inv, o->out, &pages, err, sizeof err) < 0) {
			fprintf(stderr, "vmeter-bill: invoice export: %s\n", err);
			rc = 1;
		} else {
			printf("%s: %d page%s\n", o->out, pages, pages == 1 ? "" : "s");
		}
		vm_invoice_db_free(d);
		return rc;
	}
	FILE *f = o->out ? fopen(o->out, "w") : stdout;
	if (!f) {
		fprintf(stderr, "vmeter-bill: invoice export: cannot write '%s': %s\n", o->out, strerror(errno));
		vm_invoice_db_free(d);
		return 1;
	}
	int wr = strcmp(o->format, "csv") == 0    ? vm_invoice_csv(&d->inv, f)
	         : strcmp(o->format, "json") == 0 ? vm_invoice_json(&d->inv, f)
	                                          : vm_invoice_html(&d->inv, f);
	if (fflush(f) != 0 || ferror(f))
		wr = -1;
	if (o->out && fclose(f) != 0)
		wr = -1;
	if (wr < 0) {
		fprintf(stderr, "vmeter-bill: invoice export: cannot write invoice %d as %s to '%s'\n", id, o->format,
		        o->out ? o->out : "standard output");
		rc = 1;
	}
	vm_invoice_db_free(d);
	return rc;
}

int bill_cmd_invoice(const char *conf_path, int argc, char **argv)
{
	if (argc < 1) {
		fprintf(stderr, "vmeter-bill: invoice: name a command: draft, list, finalise, credit, export\n");
		return USAGE_EXIT;
	}
	const char *cmd = argv[0];
	bool needs_id = strcmp(cmd, "finalise") == 0 || strcmp(cmd, "credit") == 0 || strcmp(cmd, "export") == 0;
	if (!needs_id && strcmp(cmd, "draft") != 0 && strcmp(cmd, "list") != 0) {
		fprintf(stderr, "vmeter-bill: invoice: unknown command '%s' (draft, list, finalise, credit, export)\n",
		        cmd);
		return USAGE_EXIT;
	}
	struct opts o;
	if (parse_opts(cmd, argc, argv, &o) < 0)
		return USAGE_EXIT;
	int id = 0, rest = argc - optind;
	if (needs_id) {
		if (rest != 1) {
			fprintf(stderr, "vmeter-bill: invoice %s: name one invoice id\n", cmd);
			return USAGE_EXIT;
		}
		if (parse_id(argv[optind], &id) < 0)
			return USAGE_EXIT;
	} else if (rest != 0) {
		fprintf(stderr, "vmeter-bill: invoice %s: unexpected argument '%s'\n", cmd, argv[optind]);
		return USAGE_EXIT;
	}
	if (strcmp(cmd, "draft") == 0) {
		char month1[11];
		if (!o.tenant || !o.period) {
			fprintf(stderr, "vmeter-bill: invoice draft: --tenant and --period YYYY-MM are required\n");
			return USAGE_EXIT;
		}
		if (bill_period_parse(o.period, month1) < 0) {
			fprintf(stderr, "vmeter-bill: invoice draft: period '%s' is not a month YYYY-MM\n", o.period);
			return USAGE_EXIT;
		}
	}
	if (strcmp(cmd, "credit") == 0 && (!o.reason || !*o.reason)) {
		fprintf(stderr, "vmeter-bill: invoice credit: a credit note needs a reason (--reason TEXT)\n");
		return USAGE_EXIT;
	}
	struct vm_pg *pg;
	int rc = bill_cmd_db(conf_path, NULL, &pg);
	if (rc)
		return rc;
	if (strcmp(cmd, "draft") == 0)
		rc = cmd_draft(pg, &o);
	else if (strcmp(cmd, "list") == 0)
		rc = cmd_list(pg, &o);
	else if (strcmp(cmd, "finalise") == 0)
		rc = cmd_finalise(pg, id, &o);
	else if (strcmp(cmd, "credit") == 0)
		rc = cmd_credit(pg, id, &o);
	else
		rc = cmd_export(pg, id, &o);
	vm_pg_free(pg);
	return rc;
}
