/* The plan files in the database (schema 7): `vmeter-bill plans load`
 * stores them, the rater and the invoices read them back, so that what is
 * priced is exactly what was checked.  Blocking (lib/pg.h).
 *
 * Every version's content (bill_version_text()) has a row in bill_version;
 * rated quantities and invoice lines name that row, so a price corrected
 * under the same label is a new row and what was rated before keeps the
 * old one until it is re-rated. */
#ifndef BILL_STORE_H
#define BILL_STORE_H
#include <stddef.h>

#include "pg.h"
#include "plan.h"

/* Checks the files together, as `plans check` does (classes: the traffic
 * classes net.CLASS meters may name; NULL: any), and if all are good makes
 * them the stored set in one transaction: the files' text, a bill_version
 * row for each version whose content is new, the tenants' copy.  *report
 * (caller frees) says per version "new", "changed" or "unchanged".
 * Returns 0, or -1 with the reason in err: a file's "FILE:LINE: ..."
 * message, or the database's. */
int bill_store_load(struct vm_pg *pg, char *const *paths, size_t n, const char *const *classes, size_t n_classes,
                    char **report, char *err, size_t errsize);

struct bill_store;

/* The stored files, parsed and checked, with each version's id.  NULL
 * with err if none are stored, one does not parse (a newer program
 * stored it) or a version has no row. */
struct bill_store *bill_store_open(struct vm_pg *pg, char *err, size_t errsize);
void bill_store_free(struct bill_store *s);
const struct bill_catalog *bill_store_catalog(const struct bill_store *s);
/* The bill_version id of plan p's version vi (p of this store's catalog). */
int bill_store_version_id(const struct bill_store *s, const struct bill_plan *p, size_t vi);
/* Any version ever loaded, by id: a plan holding that one version
 * (versions[0]), parsed from its stored text once and kept in s.  NULL
 * with err if there is no such row. */
const struct bill_plan *bill_store_version(struct bill_store *s, struct vm_pg *pg, int version_id, char *err,
                                           size_t errsize);

#endif
