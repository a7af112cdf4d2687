/* vmeter-bill's commands beyond main.c: each takes the configuration's
 * path and the words after its own name, prints what it did, and returns
 * the exit status (0 done, 1 refused or the database failed, 2 a usage or
 * configuration error). */
#ifndef BILL_CMD_H
#define BILL_CMD_H

/* vmeter-bill invoice draft|list|finalise|credit|export ...; argv[0] is
 * the subcommand. */
int bill_cmd_invoice(const char *conf_path, int argc, char **argv);

#endif
