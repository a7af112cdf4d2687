/* vmeter-bill rate --every SECONDS: rating run continuously (cmd.h).
 *
 * A loop, not an event loop: rating is a batch over what the rollups
 * closed, so the daemon wakes every SECONDS, rates what is due and sleeps.
 * The plan files are read from the database at every run, so `plans
 * load` needs no restart.  A database that is away is logged once and
 * tried again at the next run: nothing is rated twice or skipped (a day
 * is written whole in one transaction, and what is due is computed from
 * the database each time). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "cmd.h"
#include "conf.h"
#include "log.h"
#include "pgx.h"
#include "rater.h"
#include "store.h"

/* The rater's advisory lock: one rating at a time per database (the
 * pair's first number is vmeter's, as in lib/maint.c). */
#define RATE_LOCK "8675309, 3"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int bill_rate_lock(struct vm_pg *pg, bool wait)
{
	PGresult *r = vm_pg_exec(
	    pg, wait ? "SELECT pg_advisory_lock(" RATE_LOCK "), true" : "SELECT pg_try_advisory_lock(" RATE_LOCK ")", 0,
	    NULL);
	if (!r)
		return -1;
	int got = PQgetvalue(r, 0, wait ? 1 : 0)[0] == 't';
	PQclear(r);
	return got;
}

void bill_rate_unlock(struct vm_pg *pg)
{
	PQclear(vm_pg_exec(pg, "SELECT pg_advisory_unlock(" RATE_LOCK ")", 0, NULL));
}

/* Sleeps `s` seconds or until a signal asks to stop. */
static void nap(int s)
{
	struct timespec t = {s, 0};
	while (!stop && nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

/* One run: 0 done (or another rater holds the lock), -1 the database
 * failed (err says how; *pg is dropped, to be connected again). */
static int run_once(const struct vm_conf *conf, struct vm_pg **pg, struct bill_rate_stats *st, bool *busy, char *err,
                    size_t errsize)
{
	*busy = false;
	if (*pg && vm_pg_broken(*pg)) {
		vm_pg_free(*pg); /* the session's lock went with it */
		*pg = NULL;
	}
	if (!*pg) {
		*pg = vm_pg_new(conf->db_conninfo, 0, -1);
		if (vm_pg_connect(*pg) < 0 || vm_pg_check_schema(*pg) < 0) {
			snprintf(err, errsize, "%s", vm_pg_error(*pg));
			vm_pg_free(*pg);
			*pg = NULL;
			return -1;
		}
	}
	int got = bill_rate_lock(*pg, false);
	if (got <= 0) {
		*busy = got == 0;
		if (got < 0)
			snprintf(err, errsize, "taking the rater's lock: %s", vm_pg_error(*pg));
		return got < 0 ? -1 : 0;
	}
	int rc = 0;
	struct bill_store *s = bill_store_open(*pg, err, errsize);
	if (!s)
		rc = -1;
	else
		rc = bill_rate_due(*pg, s, st, err, errsize);
	bill_store_free(s);
	if (rc == 0)
		bill_rate_unlock(*pg);
	if (rc < 0 && !vm_pg_broken(*pg))
		bill_rate_unlock(*pg); /* a broken connection is dropped at the next run */
	return rc;
}

int bill_cmd_rate_every(const char *conf_path, int seconds)
{
	char err[1024];
	struct vm_conf *conf = vm_conf_load(conf_path, err, sizeof err);
	if (!conf) {
		fprintf(stderr, "vmeter-bill: %s\n", err);
		return 2;
	}
	vm_log_open("vmeter-bill", false);
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	struct vm_pg *pg = NULL;
	bool failing = false, was_busy = false, ready = false;
	vm_notice("rating every %d s", seconds);
	while (!stop) {
		struct bill_rate_stats st = {0};
		bool busy;
		if (run_once(conf, &pg, &st, &busy, err, sizeof err) < 0) {
			if (!failing) /* once per outage, not every run */
				vm_err("rating failed, trying again every %d s: %s", seconds, err);
			failing = true;
		} else {
			if (failing)
				vm_notice("rating works again");
			failing = false;
			if (busy && !was_busy)
				vm_notice("another vmeter-bill rate holds the rater's lock: waiting for it");
			was_busy = busy;
			if (st.days)
				vm_info("rated %d days: %lld quantities, %lld VM-days, %lld dirty hours taken", st.days,
				        (long long)st.rows, (long long)st.vm_days, (long long)st.dirty);
			if (!ready) {
				sd_notifyf(0, "READY=1\nSTATUS=rating every %d s", seconds);
				ready = true;
			}
		}
		nap(seconds);
	}
	sd_notify(0, "STOPPING=1");
	vm_notice("stopping");
	vm_pg_free(pg);
	vm_conf_free(conf);
	return 0;
}
