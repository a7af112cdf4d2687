/* The monthly chargeback report of a tenant (issue 15): its finalised
 * invoice (or showback statement) of a month, read back from the invoice
 * tables (schema 7 and 8: bill_invoice, bill_line; bill_pool_share and
 * bill_coverage for the detail the lines do not carry) and summed up by
 * project (with the previous month's finalised document beside it), by
 * meter and by VM, with the shared host cost and its idle share, energy
 * and carbon, and coverage and gaps; written as CSV, JSON, HTML and PDF.
 *
 * Every amount is a sum of the document's lines, in integers (lib/money),
 * so the report's totals equal the invoice's exactly; a money-less
 * statement (showback = true) gives a report without any money.  What
 * each section means: docs/REPORTS.md.  Blocking (lib/pg.h). */
#ifndef REP_CHARGEBACK_H
#define REP_CHARGEBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "money.h"
#include "pg.h"

/* One line of the document, as stored (bill_line). */
struct rep_cb_line {
	const char *kind;                        /* "usage", "host-cost", "energy", ... */
	const char *project, *vm_uuid, *vm_name; /* NULL where the line has none */
	const char *meter, *unit, *note, *plan;  /* NULL where none */
	int64_t qty, per;
	vm_money amount;
	int64_t minutes_billed, minutes_sampled, minutes_lost;
	int64_t pool_share; /* host-cost: the VMs' exact shares of the host (nano-units) */
};

/* A project's month, and the same project in the previous month's
 * finalised document (zero where it had none). */
struct rep_cb_project {
	const char *project; /* "" for lines of the whole tenant (a minimum) */
	vm_money amount, prev_amount;
	int64_t vm_minutes, prev_vm_minutes; /* VM-minutes billed */
	int64_t energy_j, carbon_mg;
	size_t n_vms;
};

/* The usage (and other) lines of one meter: "vcpu", "host cost",
 * "minimum", "adjustment vcpu", "credit". */
struct rep_cb_meter {
	char *label;
	const char *unit; /* NULL if the lines do not share one unit */
	int64_t qty, per; /* the lines' sum (base units), when they share a unit */
	vm_money amount;
	size_t n_lines;
};

/* A VM (of one project) over all its lines. */
struct rep_cb_vm {
	const char *project, *uuid, *name;
	vm_money amount;
	int64_t minutes_billed, minutes_sampled, minutes_lost, minutes_missing; /* of its usage lines */
	int64_t energy_j, carbon_mg;
	bool carbon; /* it has a carbon figure */
	const char *energy_note;
};

/* A host-cost line with its idle share: `idle` is what the line holds
 * beyond the VM's own exact shares of the host (the pool's idle cost
 * spread over the VMs), rounded toward zero to the minor unit; `used`
 * the rest.  used + idle = amount. */
struct rep_cb_host {
	const char *pool, *host, *project, *vm_name;
	vm_money amount, used, idle;
};

/* A VM-day of the month with minutes without samples or lost coverage
 * (bill_coverage, as rated now). */
struct rep_cb_gap {
	const char *day, *project, *vm_name;
	int64_t running, sampled, missing; /* minutes */
	int64_t lost_s;                    /* coverage recorded lost, whole seconds */
};

struct rep_cb_credit {
	const char *number, *reason;
	vm_money total;
};

struct rep_cb {
	const char *tenant, *period, *time_zone; /* "2026-10" */
	const char *from, *to;                   /* the month's bounds in the tenant's zone */
	const char *kind, *number;               /* "invoice" or "statement"; NULL: no number */
	const char *finalised_at;                /* in the tenant's zone; NULL for a draft */
	bool draft;                              /* a preview of a draft: its figures may still change */
	int invoice_id;
	const struct vm_currency *currency;
	enum vm_round rounding;
	bool money;     /* false: a statement of quantities only (no money anywhere) */
	vm_money total; /* the lines' sum, equal to the stored total (checked) */

	bool has_prev; /* the previous month's finalised document */
	const char *prev_number;
	vm_money prev_total;
	int64_t prev_vm_minutes;

	struct rep_cb_line *lines;
	size_t n_lines;
	struct rep_cb_project *projects;
	size_t n_projects;
	struct rep_cb_meter *meters;
	size_t n_meters;
	struct rep_cb_vm *vms; /* by amount (money) or VM-minutes, highest first */
	size_t n_vms;
	struct rep_cb_host *hosts;
	size_t n_hosts;
	vm_money host_cost, host_idle;
	struct rep_cb_gap *gaps;
	size_t n_gaps;
	struct rep_cb_credit *credits;
	size_t n_credits;
	int64_t energy_j, carbon_mg;
	bool carbon;
	int64_t minutes_billed, minutes_sampled, minutes_lost, minutes_missing;
	/* private */
	void *res[8];
};

/* How many VMs the "top VMs" section lists. */
#define REP_CB_TOP 10

/* Why rep_cb_load() failed (it returns one of these, negated). */
enum rep_cb_fail {
	REP_CB_DB = 1,    /* the database failed, or the document does not add up */
	REP_CB_TENANT,    /* no such tenant */
	REP_CB_NOT_OVER,  /* the month is in the future or not over in the tenant's zone */
	REP_CB_NOT_FINAL, /* no document for the month, or only a draft */
};

/* "2026-10" -> "2026-10-01" in out (11 bytes); -1 unless the text is a
 * month YYYY-MM (year 1970..9999, month 01..12). */
int rep_cb_month_parse(const char *text, char *out);

/* The report of `tenant`'s month `month` ("YYYY-MM", tenant-local) from
 * its finalised invoice or statement, in one read-only transaction; with
 * draft, also from a draft (of a month that may not be over: a preview,
 * marked as one in every format).  Returns 0 with *out (free with
 * rep_cb_free), or -REP_CB_* with the reason in err. */
int rep_cb_load(struct vm_pg *pg, const char *tenant, const char *month, bool draft, struct rep_cb **out, char *err,
                size_t errsize);
void rep_cb_free(struct rep_cb *r);

/* The exports.  CSV: one row per number (section, project, VM, item,
 * metric, value, unit: to pivot), RFC 4180, text cells a spreadsheet
 * would run as a formula kept as text.  JSON: one document (amounts as
 * decimal text and nano-unit integers).  Return 0, or -1 on a write
 * error (pdf: with why in err; *pages its page count). */
int rep_cb_csv(const struct rep_cb *r, FILE *f);
int rep_cb_json(const struct rep_cb *r, FILE *f);
int rep_cb_html(const struct rep_cb *r, FILE *f);
int rep_cb_pdf(const struct rep_cb *r, const char *path, int *pages, char *err, size_t errsize);

#endif
