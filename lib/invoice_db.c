/* billing/invoice_db: an invoice read back for export (invoice_db.h). */
#include "config.h"

#include "invoice_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgx.h"
#include "xalloc.h"

static const char *text_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int kind_parse(const char *s, enum vm_invoice_line_kind *k)
{
	for (int i = VM_INVOICE_LINE_USAGE; i <= VM_INVOICE_LINE_ENERGY; i++)
		if (strcmp(s, vm_invoice_line_kind_name((enum vm_invoice_line_kind)i)) == 0) {
			*k = (enum vm_invoice_line_kind)i;
			return 0;
		}
	return -1;
}

void vm_invoice_db_free(struct vm_invoice_db *d)
{
	if (!d)
		return;
	PQclear(d->res_head);
	PQclear(d->res_lines);
	free(d->lines);
	free(d);
}

struct vm_invoice_db *vm_invoice_db_load(struct vm_pg *pg, int invoice_id, char *err, size_t errsize)
{
	char idtext[16];
	snprintf(idtext, sizeof idtext, "%d", invoice_id);
	const char *p[1] = {idtext};
	/* The bounds in the invoice's own zone: to_char prints a timestamptz
	 * in the session's, set for this transaction only. */
	PGresult *head = NULL, *lines = NULL;
	int rc = vm_pg_begin(pg);
	if (rc == 0)
		rc = vm_pg_cmd(
		    pg,
		    "SELECT set_config('TimeZone', (SELECT time_zone FROM bill_invoice WHERE invoice_id = $1), "
		    "true) WHERE EXISTS (SELECT 1 FROM bill_invoice WHERE invoice_id = $1)",
		    1, p);
	if (rc == 0)
		head = vm_pg_exec(
		    pg,
		    "SELECT number, tenant, time_zone, to_char(period, 'YYYY-MM'), "
		    "to_char(period_from, 'YYYY-MM-DD\"T\"HH24:MIOF'), to_char(period_to, "
		    "'YYYY-MM-DD\"T\"HH24:MIOF'), currency, rounding, kind, state, issuer, reason, "
		    "coalesce(credits, 0), total, (extract(epoch FROM period_to - period_from) / 3600)::bigint, money "
		    "FROM bill_invoice WHERE invoice_id = $1",
		    1, p);
	if (head)
		lines = vm_pg_exec(
		    pg,
		    "SELECT l.kind, l.project, vm.uuid, l.vm_name, l.meter, l.qty, l.per, l.unit, l.rate, "
		    "l.amount, l.plan, l.version, l.minutes_billed, l.minutes_sampled, l.minutes_lost, l.note "
		    "FROM bill_line l LEFT JOIN vm USING (vm_id) WHERE l.invoice_id = $1 ORDER BY l.line_no",
		    1, p);
	if (!head || !lines) {
		snprintf(err, errsize, "reading invoice %d: %s", invoice_id, vm_pg_error(pg));
		vm_pg_rollback(pg);
		PQclear(head);
		PQclear(lines);
		return NULL;
	}
	vm_pg_rollback(pg); /* read only: nothing to keep */
	if (PQntuples(head) != 1) {
		snprintf(err, errsize, "invoice %d does not exist", invoice_id);
		PQclear(head);
		PQclear(lines);
		return NULL;
	}
	struct vm_invoice_db *d = vm_xcalloc(1, sizeof *d);
	d->res_head = head;
	d->res_lines = lines;
	d->invoice_id = invoice_id;
	struct vm_invoice *inv = &d->inv;
	inv->number = text_or_null(head, 0, 0);
	inv->tenant = PQgetvalue(head, 0, 1);
	inv->time_zone = PQgetvalue(head, 0, 2);
	inv->period = PQgetvalue(head, 0, 3);
	inv->from = PQgetvalue(head, 0, 4);
	inv->to = PQgetvalue(head, 0, 5);
	inv->currency = vm_currency_find(PQgetvalue(head, 0, 6));
	d->kind = PQgetvalue(head, 0, 8);
	d->state = PQgetvalue(head, 0, 9);
	d->issuer = PQgetvalue(head, 0, 10);
	d->reason = text_or_null(head, 0, 11);
	d->credits = (int)vm_pgx_int(head, 0, 12);
	d->total.n = vm_pgx_int(head, 0, 13);
	d->hours = vm_pgx_int(head, 0, 14);
	inv->showback = strcmp(d->kind, "statement") == 0;
	inv->money = PQgetvalue(head, 0, 15)[0] == 't';
	int bad = !inv->currency || vm_round_parse(PQgetvalue(head, 0, 7), &inv->rounding) < 0;
	int n = PQntuples(lines);
	d->lines = vm_xcalloc(n ? (size_t)n : 1, sizeof *d->lines);
	for (int i = 0; i < n && !bad; i++) {
		struct vm_invoice_line *l = &d->lines[i];
		bad = kind_parse(PQgetvalue(lines, i, 0), &l->kind) < 0;
		l->project = text_or_null(lines, i, 1);
		l->vm_uuid = text_or_null(lines, i, 2);
		l->vm_name = text_or_null(lines, i, 3);
		l->meter = text_or_null(lines, i, 4);
		l->qty = vm_pgx_int(lines, i, 5);
		l->per = vm_pgx_int(lines, i, 6);
		l->unit = text_or_null(lines, i, 7);
		l->rate.n = vm_pgx_int(lines, i, 8);
		l->amount.n = vm_pgx_int(lines, i, 9);
		l->plan = text_or_null(lines, i, 10);
		l->version = text_or_null(lines, i, 11);
		l->minutes_billed = vm_pgx_int(lines, i, 12);
		l->minutes_sampled = vm_pgx_int(lines, i, 13);
		l->minutes_lost = vm_pgx_int(lines, i, 14);
		l->note = text_or_null(lines, i, 15);
	}
	if (bad) {
		snprintf(err, errsize, "invoice %d: a currency, rounding rule or line kind this program does not know",
		         invoice_id);
		vm_invoice_db_free(d);
		return NULL;
	}
	inv->lines = d->lines;
	inv->n_lines = (size_t)n;
	return d;
}
