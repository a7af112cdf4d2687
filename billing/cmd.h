/* vmeter-bill's commands beyond main.c: each takes the configuration's
 * path and the words after its own name, prints what it did, and returns
 * the exit status (0 done, 1 refused or the database failed, 2 a usage or
 * configuration error). */
#ifndef BILL_CMD_H
#define BILL_CMD_H

#include <stddef.h>

#include "conf.h"
#include "pg.h"
#include "store.h"

/* The configured database, with this build's schema: 0 with *pg, or the
 * exit status, a message printed (2 the configuration, 1 the database).
 * keep_conf non-NULL: the configuration is kept there (caller frees). */
int bill_cmd_db(const char *conf_path, struct vm_conf **keep_conf, struct vm_pg **pg);
/* The same, and the plan files stored in it (1 if none or bad). */
int bill_cmd_store(const char *conf_path, struct vm_pg **pg, struct bill_store **s);
/* The traffic classes net.CLASS meters may name: the configuration's and
 * its default class (the strings borrowed from conf; caller frees the
 * array). */
const char **bill_cmd_classes(const struct vm_conf *conf, size_t *n);

/* vmeter-bill invoice draft|list|finalise|credit|export ...; argv[0] is
 * the subcommand. */
int bill_cmd_invoice(const char *conf_path, int argc, char **argv);
/* vmeter-bill energy --month YYYY-MM [--zone TZ]: each host's energy of
 * the month as rated in the zone, its parts and whether they add up;
 * argv[0] is "--month". */
int bill_cmd_energy(const char *conf_path, int argc, char **argv);
/* vmeter-bill rate --every SECONDS: rates what is due every SECONDS until
 * SIGTERM or SIGINT (exit 0); a database away is logged and tried again. */
int bill_cmd_rate_every(const char *conf_path, int seconds);
/* The rater's advisory lock on the session: 1 taken, 0 another session
 * holds it (wait: block until it is free), -1 the database failed. */
int bill_rate_lock(struct vm_pg *pg, bool wait);
void bill_rate_unlock(struct vm_pg *pg);
/* vmeter-bill grid load REGION FILE; argv[0] is "load". */
int bill_cmd_grid(const char *conf_path, int argc, char **argv);

#endif
