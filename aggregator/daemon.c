/* The aggregator's daemon (daemon.h).
 *
 * A loop, not an event loop: a cycle is a batch of queries, and nothing
 * else needs the process between two cycles. */
#include "config.h"

#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "analysis.h"
#include "log.h"
#include "pg.h"

static volatile sig_atomic_t stop, reload;
/* Written to on a stop signal: its read end is every connection's
 * abort_fd (lib/pg.h), so that a cycle blocked on the database ends at
 * once instead of when the database answers. */
static int stop_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	if (sig == SIGHUP) {
		reload = 1;
		return;
	}
	stop = 1;
	int saved = errno;
	if (stop_pipe[1] >= 0 && write(stop_pipe[1], "x", 1) < 0) {
		/* full or closed: it is readable already */
	}
	errno = saved;
}

/* Waits until `until` (UTC seconds) or a signal, feeding the watchdog
 * every half of its period. */
static void wait_until(int64_t until, uint64_t watchdog_us)
{
	while (!stop && !reload) {
		int64_t now = (int64_t)time(NULL);
		if (now >= until)
			return;
		int64_t s = until - now;
		if (watchdog_us && (uint64_t)s * 1000000 > watchdog_us / 2)
			s = (int64_t)(watchdog_us / 2 / 1000000);
		if (s < 1)
			s = 1;
		struct timespec t = {(time_t)s, 0};
		if (nanosleep(&t, NULL) < 0 && errno != EINTR)
			return;
		if (watchdog_us)
			sd_notify(0, "WATCHDOG=1");
	}
}

/* One cycle: 0 done, 1 another aggregator holds the lock, -1 failed
 * (err says how; *pg is dropped when broken, to be connected again).
 * The lock, once taken, is held for the daemon's life (*locked): a second
 * aggregator, or a `run` by hand, waits until this one goes. */
static int cycle(const struct vm_conf *conf, const struct agg_settings *s, struct vm_pg **pg, bool *locked, int64_t at,
                 struct agg_cycle_stats *st, char *err, size_t errsize)
{
	if (*pg && vm_pg_broken(*pg)) {
		vm_pg_free(*pg); /* the session's lock went with it */
		*pg = NULL;
		*locked = false;
	}
	if (!*pg) {
		*pg = vm_pg_new(conf->db_conninfo, conf->db_timeout_s, stop_pipe[0]);
		if (vm_pg_connect(*pg) < 0 || vm_pg_check_schema(*pg) < 0) {
			snprintf(err, errsize, "%s", vm_pg_error(*pg));
			vm_pg_free(*pg);
			*pg = NULL;
			return -1;
		}
	}
	if (!*locked) { /* pg_try_advisory_lock stacks: take it once */
		int got = agg_analysis_lock(*pg);
		if (got < 0) {
			vm_pg_fail(*pg, "taking the analysis lock", err, errsize);
			return -1;
		}
		if (got == 0)
			return 1;
		*locked = true;
	}
	return agg_analysis_run(*pg, s, at, st, err, errsize);
}

int agg_daemon_run(const char *path, struct vm_conf *conf, const struct agg_settings *settings, bool use_syslog,
                   bool verbose)
{
	struct agg_settings s = *settings;
	vm_log_open("vmeter-aggregator", use_syslog);
	vm_log_set_level(verbose ? VM_LOG_DEBUG : (enum vm_log_level)conf->log_level);
	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		vm_fatal("cannot make a pipe: %s", strerror(errno));
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	uint64_t watchdog_us = 0;
	if (sd_watchdog_enabled(0, &watchdog_us) <= 0)
		watchdog_us = 0;

	struct vm_pg *pg = NULL;
	bool failing = false, was_busy = false, ready = false, locked = false;
	char err[1024];
	vm_notice("analysing every %d s", s.interval_s);
	/* the first cycle at once, for the grid time just passed; then one
	 * at each grid time */
	int64_t at = (int64_t)time(NULL) / s.interval_s * s.interval_s;
	while (!stop) {
		if (reload) {
			reload = 0;
			struct agg_settings ns;
			struct vm_conf *nc = agg_settings_load(path, &ns, err, sizeof err);
			if (!nc) {
				vm_err("reload: %s; the configuration in force stays", err);
			} else {
				if (nc->db_timeout_s != conf->db_timeout_s ||
				    strcmp(nc->db_conninfo, conf->db_conninfo) != 0) {
					vm_pg_free(pg); /* another database: connect to it */
					pg = NULL;
					locked = false;
				}
				vm_conf_free(conf);
				conf = nc, s = ns;
				vm_log_set_level(verbose ? VM_LOG_DEBUG : (enum vm_log_level)conf->log_level);
				vm_notice("reload: configuration read again, analysing every %d s", s.interval_s);
				at = ((int64_t)time(NULL) / s.interval_s + 1) * s.interval_s;
			}
		}
		/* a signal ends the wait early: a cycle runs only at its time */
		if ((int64_t)time(NULL) < at) {
			wait_until(at, watchdog_us);
			continue;
		}
		struct agg_cycle_stats st;
		int rc = cycle(conf, &s, &pg, &locked, at, &st, err, sizeof err);
		if (rc < 0 && stop) {
			vm_notice("cycle %" PRId64 " abandoned: stopping", at);
		} else if (rc < 0) {
			if (!failing) /* once per outage, not every cycle */
				vm_err("analysis failed, trying again every %d s: %s", s.interval_s, err);
			failing = true;
		} else {
			if (failing)
				vm_notice("analysis works again");
			failing = false;
			if (rc == 1 && !was_busy)
				vm_notice("another vmeter-aggregator holds the analysis lock: waiting for it");
			was_busy = rc == 1;
			if (rc == 0)
				vm_info("cycle %" PRId64 ": figures of %d VMs and %d hosts, %d class changes", at,
				        st.vms, st.hosts, st.changes);
		}
		if (!ready) {
			sd_notifyf(0, "READY=1\nSTATUS=analysing every %d s", s.interval_s);
			ready = true;
		} else if (watchdog_us) {
			sd_notify(0, "WATCHDOG=1");
		}
		at = ((int64_t)time(NULL) / s.interval_s + 1) * s.interval_s;
	}
	sd_notify(0, "STOPPING=1");
	vm_notice("stopping");
	vm_pg_free(pg);
	vm_conf_free(conf);
	int r = stop_pipe[0], w = stop_pipe[1];
	stop_pipe[0] = stop_pipe[1] = -1; /* before the close: a late signal writes nowhere */
	close(r);
	close(w);
	return 0;
}
