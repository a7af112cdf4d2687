/* An invoice (or credit note, or statement) read back from the database
 * (schema 7: bill_invoice, bill_line) as struct vm_invoice, ready for
 * the exports of invoice.h.  Blocking (lib/pg.h). */
#ifndef VM_INVOICE_DB_H
#define VM_INVOICE_DB_H

#include <stdint.h>

#include "invoice.h"
#include "money.h"
#include "pg.h"

struct vm_invoice_db {
	struct vm_invoice inv; /* its strings and lines point into this struct */
	int invoice_id;
	const char *kind;   /* "invoice", "credit", "statement" */
	const char *state;  /* "draft", "final" */
	const char *issuer; /* the counter its number came from */
	const char *reason; /* a credit note's; NULL otherwise */
	int credits;        /* a credit note: the invoice it corrects; 0 otherwise */
	vm_money total;     /* as stored */
	int64_t hours;      /* the period's length: 745 for a month with a DST end */
	/* private */
	PGresult *res_head, *res_lines;
	struct vm_invoice_line *lines;
};

/* Invoice `invoice_id`, with its period's bounds printed in its time zone
 * ("2026-10-01T00:00+02").  NULL with err if there is no such invoice
 * or the database failed.  Free with vm_invoice_db_free(). */
struct vm_invoice_db *vm_invoice_db_load(struct vm_pg *pg, int invoice_id, char *err, size_t errsize);
void vm_invoice_db_free(struct vm_invoice_db *d);

#endif
