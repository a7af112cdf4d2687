/* The aggregator's daemon (daemon.h).
 *
 * A loop, not an event loop: a cycle is a batch of queries, and nothing
 * else needs the process between two cycles. */
#include "config.h"

#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "analysis.h"
#include "log.h"
#include "metricsd.h"
#include "pg.h"
#include "policy.h"

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
 * every half of its period; results of actions are stored as they come. */
static void wait_until(int64_t until, uint64_t watchdog_us, struct agg_policy *policy, struct vm_pg *pg)
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
		struct pollfd fds[2] = {{stop_pipe[0], POLLIN, 0}, {policy ? agg_policy_fd(policy) : -1, POLLIN, 0}};
		int n = poll(fds, 2, (int)(s * 1000));
		if (n < 0 && errno != EINTR)
			return;
		if (n > 0 && (fds[1].revents & POLLIN) && pg && !vm_pg_broken(pg)) {
			char err[512];
			if (agg_policy_results(policy, pg, err, sizeof err) < 0)
				vm_err("%s", err);
		}
		if (watchdog_us)
			sd_notify(0, "WATCHDOG=1");
	}
}

/* Connects (again) if need be: 0, or -1 with err.  The analysis lock,
 * once taken, is held for the daemon's life (*locked): a second
 * aggregator, or a `run` by hand, waits until this one goes. */
static int ensure_pg(const struct vm_conf *conf, struct vm_pg **pg, bool *locked, char *err, size_t errsize)
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
	return 0;
}

/* The next multiple of `every` after now. */
static int64_t next_at(int every)
{
	return ((int64_t)time(NULL) / every + 1) * every;
}

static double elapsed_s(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

int agg_daemon_run(const char *path, struct vm_conf *conf, const struct agg_settings *settings,
                   struct agg_ruleset *rules, bool use_syslog, bool verbose)
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
	signal(SIGPIPE, SIG_IGN);
	uint64_t watchdog_us = 0;
	if (sd_watchdog_enabled(0, &watchdog_us) <= 0)
		watchdog_us = 0;

	char err[1024];
	size_t n_rules = rules->n_rules;
	struct agg_policy *policy = agg_policy_new(&s, rules, err, sizeof err);
	if (!policy)
		vm_fatal("the action runner: %s", err);
	struct agg_metricsd *metrics = NULL;
	if (*s.metrics_listen && !(metrics = agg_metricsd_start(s.metrics_listen, err, sizeof err)))
		vm_fatal("%s", err);
	struct agg_health health = {0};
	struct vm_pg *pg = NULL;
	bool failing = false, rules_failing = false, was_busy = false, ready = false, locked = false;
	vm_notice("analysing every %d s; %zu rules every %d s%s", s.interval_s, n_rules, s.rules_interval_s,
	          s.dry_run ? " (dry-run)" : "");
	/* the first cycles at once, for the grid times just passed */
	int64_t at = (int64_t)time(NULL) / s.interval_s * s.interval_s;
	int64_t rules_at = (int64_t)time(NULL) / s.rules_interval_s * s.rules_interval_s;
	while (!stop) {
		if (reload) {
			reload = 0;
			struct agg_settings ns;
			struct vm_conf *nc = agg_settings_load(path, &ns, err, sizeof err);
			struct agg_ruleset *nr = nc ? agg_rules_load(ns.rules, true, err, sizeof err) : NULL;
			if (!nr) {
				vm_err("reload: %s; the configuration in force stays, with its rules", err);
				vm_conf_free(nc);
			} else if (strcmp(ns.metrics_listen, s.metrics_listen) != 0 ||
			           ns.action_workers != s.action_workers) {
				vm_err("reload: metrics-listen and action-workers change on a restart only; the "
				       "configuration in force stays, with its rules");
				agg_rules_free(nr);
				vm_conf_free(nc);
			} else {
				if (nc->db_timeout_s != conf->db_timeout_s ||
				    strcmp(nc->db_conninfo, conf->db_conninfo) != 0) {
					vm_pg_free(pg); /* another database: connect to it */
					pg = NULL;
					locked = false;
				}
				n_rules = nr->n_rules;
				/* before the old conf goes: the policy compares with its strings */
				agg_policy_set_rules(policy, nr, &ns);
				vm_conf_free(conf);
				conf = nc, s = ns;
				vm_log_set_level(verbose ? VM_LOG_DEBUG : (enum vm_log_level)conf->log_level);
				vm_notice(
				    "reload: configuration read again, analysing every %d s; %zu rules every %d s",
				    s.interval_s, n_rules, s.rules_interval_s);
				at = next_at(s.interval_s);
				rules_at = next_at(s.rules_interval_s);
			}
		}
		/* a signal ends the wait early: a cycle runs only at its time */
		int64_t now = (int64_t)time(NULL);
		if (now < at && now < rules_at) {
			wait_until(at < rules_at ? at : rules_at, watchdog_us, policy, pg);
			continue;
		}
		int rc;
		if (ensure_pg(conf, &pg, &locked, err, sizeof err) < 0) {
			rc = -1;
		} else if (!locked) { /* pg_try_advisory_lock stacks: take it once */
			int got = agg_analysis_lock(pg);
			rc = got < 0 ? vm_pg_fail(pg, "taking the analysis lock", err, sizeof err) : got == 0 ? 1 : 0;
			locked = got > 0;
		} else {
			rc = 0;
		}
		health.db_up = rc == 0 || rc == 1;
		if (rc == 0 && now >= at) {
			struct agg_cycle_stats st;
			rc = agg_analysis_run(pg, &s, at, &st, err, sizeof err);
			if (rc == 0)
				vm_info("cycle %" PRId64 ": figures of %d VMs and %d hosts, %d class changes", at,
				        st.vms, st.hosts, st.changes);
		}
		if (rc == 0 && now >= rules_at) {
			struct timespec t0;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			char rerr[1024];
			int rrc = agg_policy_cycle(policy, pg, rules_at, rerr, sizeof rerr);
			health.last_duration_s = elapsed_s(&t0);
			health.last_cycle_s = rules_at;
			if (rrc < 0) {
				health.errors++;
				if (!rules_failing && !stop)
					vm_err("rule cycle failed, trying again every %d s: %s", s.rules_interval_s,
					       rerr);
				rules_failing = true;
			} else {
				health.cycles++;
				if (rules_failing)
					vm_notice("rule cycles work again");
				rules_failing = false;
			}
			health.db_up = !pg || !vm_pg_broken(pg);
		}
		if (metrics)
			agg_metricsd_publish(metrics, agg_policy_metrics(policy, &health, (int64_t)time(NULL)));
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
		}
		if (!ready) {
			sd_notifyf(0, "READY=1\nSTATUS=analysing every %d s", s.interval_s);
			ready = true;
		} else if (watchdog_us) {
			sd_notify(0, "WATCHDOG=1");
		}
		if (now >= at)
			at = next_at(s.interval_s);
		if (now >= rules_at)
			rules_at = next_at(s.rules_interval_s);
	}
	sd_notify(0, "STOPPING=1");
	vm_notice("stopping");
	agg_metricsd_stop(metrics);
	agg_policy_free(policy);
	vm_pg_free(pg);
	vm_conf_free(conf);
	int r = stop_pipe[0], w = stop_pipe[1];
	stop_pipe[0] = stop_pipe[1] = -1; /* before the close: a late signal writes nowhere */
	close(r);
	close(w);
	return 0;
}
