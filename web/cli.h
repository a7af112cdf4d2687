/* vmeter-web's commands beside the server, run by an administrator on
 * the central host with blocking database calls (lib/pg.h):
 *
 *   user add NAME --role admin|operator|tenant-viewer [--tenant T] [--password-stdin]
 *   user list
 *   user disable NAME              (its sessions end; its tokens stop)
 *   token add USER [--label TEXT]
 *   token revoke ID                (the id token add printed)
 *
 * A password is read from stdin (one line) with --password-stdin, or else
 * made here and printed once; an API token is printed once.  Neither is
 * stored as it is (sql/011_web.sql).  Exit status: 0 done, 1 refused or the
 * database failed, 2 usage or configuration. */
#ifndef VM_WEB_CLI_H
#define VM_WEB_CLI_H

/* argv[0] is "user" or "token". */
int web_cli(const char *conf_path, int argc, char **argv);

#endif
