/* Kept reports (schema 12, report_file): every format of a report stored
 * in PostgreSQL for the web UI to list, optionally copied to a report
 * directory, and made once per what they are made from.
 *
 * `vmeter-report due` (rep_keep_due) makes the chargeback report of each
 * finalised month whose kept copy is missing or was made from something
 * else (a credit note came since), and the fleet's capacity report (by
 * host) of each UTC month the rollups have closed.  Blocking (lib/pg.h). */
#ifndef REP_KEEP_H
#define REP_KEEP_H

#include <stddef.h>
#include <stdio.h>

#include "capacity.h"
#include "pg.h"

struct rep_keep_stats {
	int made;       /* reports made (each in every format) */
	int up_to_date; /* reports whose kept copy was current */
	int files;      /* files written to the directory */
};

/* Makes what is due; conf: the reports section (capacity's reserve and
 * buffer).  dir: also write DIR/TENANT/YYYY-MM/chargeback.FORMAT (tenant
 * names made safe for a path: see rep_keep_path_name) and
 * DIR/%fleet/YYYY-MM/capacity.FORMAT; NULL: the database only.  Returns 0,
 * or -1 with why in err (what was made before the failure stays made:
 * each report is one transaction). */
int rep_keep_due(struct vm_pg *pg, const struct rep_conf *conf, const char *dir, struct rep_keep_stats *st, char *err,
                 size_t errsize);

/* Lists kept reports (tenant NULL: all) to f, a line each. */
int rep_keep_list(struct vm_pg *pg, const char *tenant, FILE *f, char *err, size_t errsize);

/* Writes kept report id to f.  Returns 0, 1 if there is no such report,
 * -1 with why in err. */
int rep_keep_get(struct vm_pg *pg, const char *id, FILE *f, char *err, size_t errsize);

/* name as one path component: letters, digits, '-', '_' and '.' kept,
 * every other byte (and a leading '.') as %XX, so that no tenant name can
 * climb out of the directory or clash with another.  Returns a new
 * string (free it). */
char *rep_keep_path_name(const char *name);

#endif
