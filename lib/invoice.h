/* An invoice (or a showback statement) as it is exported: its lines by
 * project, VM and meter with quantity, unit, rate, amount, plan version
 * and coverage, and the exports a finance team and a tenant read: CSV
 * (one row per line, to pivot), JSON, HTML and PDF (lib/doc).
 *
 * The amounts are computed before (billing/rate.h, pool.h); here they are
 * only summed, with overflow checked, and written as decimals of the
 * currency's minor unit.  The struct borrows every string it points at. */
#ifndef VM_INVOICE_H
#define VM_INVOICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "money.h"

enum vm_invoice_line_kind {
	VM_INVOICE_LINE_USAGE,      /* a meter's rated quantity */
	VM_INVOICE_LINE_MINIMUM,    /* what the plan's minimum adds */
	VM_INVOICE_LINE_HOST_COST,  /* a VM's part of a shared host's cost */
	VM_INVOICE_LINE_IDLE,       /* a host's cost no VM took */
	VM_INVOICE_LINE_ADJUSTMENT, /* usage that arrived after its month was finalised */
	VM_INVOICE_LINE_CREDIT,     /* a credit note's line: a negative amount */
	VM_INVOICE_LINE_ENERGY,     /* a VM's energy or carbon: a quantity without money */
};

/* "usage", "minimum", ... */
const char *vm_invoice_line_kind_name(enum vm_invoice_line_kind k);

struct vm_invoice_line {
	enum vm_invoice_line_kind kind;
	const char *project, *vm_uuid, *vm_name; /* NULL where the line has none */
	const char *meter;                       /* "vcpu", "net.internet.tx" */
	int64_t qty;                             /* in the meter's base unit */
	int64_t per;                             /* base units in one `unit` (> 0) */
	const char *unit;                        /* "vcpu-hour", "GiB" */
	vm_money rate;                           /* per `unit`; 0 if not one price (tiers, cost) */
	vm_money amount;                         /* rounded to the minor unit */
	const char *plan, *version;
	int64_t minutes_billed, minutes_sampled, minutes_lost; /* coverage */
	const char *note;                                      /* "covers 2026-02-27 10:00 to 12:00", or NULL */
};

struct vm_invoice {
	const char *number; /* NULL: a draft */
	const char *tenant, *time_zone;
	const char *period;    /* "2026-03" */
	const char *from, *to; /* the period's bounds as printed (local time) */
	const struct vm_currency *currency;
	enum vm_round rounding;
	bool showback; /* a statement: no money moves */
	bool money;    /* false: a statement of quantities only (no rates, amounts or total) */
	const struct vm_invoice_line *lines;
	size_t n_lines;
};

/* The sum of the lines' amounts; -1 if it leaves vm_money's range. */
int vm_invoice_total(const struct vm_invoice *inv, vm_money *total);

/* One CSV row per line (RFC 4180; text cells that a spreadsheet would
 * take for a formula are prefixed with '), with a header row.  Returns 0,
 * or -1 on a write error or a total out of range. */
int vm_invoice_csv(const struct vm_invoice *inv, FILE *f);
/* The invoice as one JSON document (amounts as decimal strings and as
 * nano-unit integers). */
int vm_invoice_json(const struct vm_invoice *inv, FILE *f);
/* HTML, or PDF at path (*pages: its page count). */
int vm_invoice_html(const struct vm_invoice *inv, FILE *f);
int vm_invoice_pdf(const struct vm_invoice *inv, const char *path, int *pages, char *err, size_t errsize);

#endif
