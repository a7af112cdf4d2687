/* The aggregator's daemon: an analysis cycle at every multiple of
 * aggregator.interval in UTC (analysis.h), under the analysis lock so that
 * a second aggregator waits instead of working too.
 *
 * systemd: READY=1 after the first cycle (or the first attempt, if the
 * database is away: the daemon is up and will catch up), WATCHDOG=1 while
 * it waits and between cycles, STOPPING=1 on SIGTERM or SIGINT.  A
 * database that is away is logged once, and once more when it is back.
 * SIGHUP reads the configuration again and takes it only if it is whole
 * (else the old one stays, and the error is logged). */
#ifndef AGG_DAEMON_H
#define AGG_DAEMON_H

#include <stdbool.h>

#include "conf.h"
#include "rules.h"
#include "settings.h"

/* Runs until a stop signal.  Takes conf and rules (and frees them); path
 * and the rule files are read again on SIGHUP, and taken only if both
 * load whole.  Logs to syslog or stderr, at debug level when
 * verbose, else at the configuration's log-level.  Returns the exit
 * status: 0. */
int agg_daemon_run(const char *path, struct vm_conf *conf, const struct agg_settings *s, struct agg_ruleset *rules,
                   bool use_syslog, bool verbose);

#endif
