/* Runs one action program to its end (action.h's program kind): spawned
 * without a shell in a process group of its own, with the given
 * environment only, `input` on stdin, stdout and stderr captured, killed
 * with its group at the timeout or when `cancel_fd` becomes readable.
 * Blocks the calling (worker) thread only. */
#ifndef AGG_PROGRUN_H
#define AGG_PROGRUN_H

#include <stddef.h>
#include <stdint.h>

#include "action.h"

/* Runs argv (argv[0] an absolute path, NULL-terminated) with envp
 * (NULL-terminated) and fills res: outcome, attempts (1), exit_status,
 * message and output (a new string res owns).  `input` (len bytes) is
 * written to stdin, which is then closed; a program that does not read it
 * is not an error.  Never returns early: the program has been reaped and
 * its group killed when it returns. */
void agg_prog_run(char *const *argv, char *const *envp, const char *input, size_t len, int64_t timeout_ns,
                  int cancel_fd, struct agg_action_result *res);

#endif
