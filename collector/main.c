/* vmeter-collector: samples the VMs of one hypervisor host through libvirt
 * and writes per-minute usage to PostgreSQL and graphs to RRD.
 *
 * One libevent loop on the main thread runs the sampling timer, signals
 * and the hand-over of libvirt events; libvirt's event loop and the
 * database writer run on threads of their own. */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <linux/capability.h>
#include <pwd.h>
#include <malloc.h>
#include <libxml/parser.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "binio.h"
#include "capture.h"
#include "conf.h"
#include "log.h"
#include "resume.h"
#include "rrdout.h"
#include "sampler.h"
#include "virt.h"
#include "virtevent.h"
#include "vtime.h"
#include "writer.h"
#include "xalloc.h"

struct collector {
	struct event_base *base;
	struct event *tick, *wake, *status, *sighup, *sigterm, *sigint;
	struct vm_conf *conf;
	struct col_virt *virt;
	struct col_writer *writer;
	struct col_sampler *sampler;
	struct vm_rrd *rrd;
	struct col_capture *cap;   /* NULL: no traffic classes, or it cannot run */
	int64_t next_refresh_ns;   /* monotonic */
	int64_t tick_at;           /* UTC grid point the timer is armed for */
	int64_t last_tick;         /* grid point of the last pass, 0 if none */
	int64_t last_pass_mono;    /* when the last pass ended (monotonic), for the watchdog */
	struct event *watchdog;    /* systemd's watchdog, fed from the loop; NULL without one */
	int64_t watchdog_ns;       /* its period */
	struct col_resume *resume; /* NULL: no saved state (it cannot be written) */
	bool resume_failing;
	FILE *samples;                 /* VMETER_TEST_SAMPLES, NULL if not set */
	struct col_power *power;       /* NULL: power-source = none */
	FILE *power_samples;           /* VMETER_TEST_POWER_SAMPLES, NULL if not set */
	struct col_writer_passes work; /* for the status file */
};

struct list_ctx {
	struct collector *c;
	int64_t at;
};

static void on_domain(const struct col_domain *d, void *arg)
{
	struct list_ctx *l = arg;
	col_sampler_domain(l->c->sampler, d, l->at);
}

static void refresh_inventory(struct collector *c)
{
	struct list_ctx l = {c, vm_now_ns()};
	col_sampler_list_begin(c->sampler);
	int n = col_virt_list(c->virt, on_domain, &l);
	if (n >= 0) {
		col_sampler_list_end(c->sampler, l.at);
		vm_debug("inventory: %d domains", n);
	}
	c->next_refresh_ns = vm_monotonic_ns() + (int64_t)c->conf->inventory_refresh_s * VM_NS_PER_SEC;
	/* A re-list parses every domain's XML: give the transient memory
	 * back rather than keep it as the process's high-water mark. */
	malloc_trim(0);
}

/* The tests' ground truth for usage: every sample's counters as libvirt
 * gave them (VMETER_TEST_SAMPLES), to be reconciled with the rows. */
static void sample_ledger(FILE *f, const struct col_vm_sample *s)
{
	uint64_t dev[3] = {0, 0, 0};
	for (size_t i = 0; i < s->n_disks; i++)
		dev[0] += s->disks[i].v[COL_DISK_WR_BYTES];
	for (size_t i = 0; i < s->n_nics; i++) {
		dev[1] += s->nics[i].v[COL_NET_RX_BYTES];
		dev[2] += s->nics[i].v[COL_NET_TX_BYTES];
	}
	fprintf(f, "%s %lld %d %llu %llu %llu %llu\n", s->uuid, (long long)s->t_ns, s->id,
	        (unsigned long long)s->v[COL_CPU_NS], (unsigned long long)dev[0], (unsigned long long)dev[1],
	        (unsigned long long)dev[2]);
	fflush(f);
}

/* The tests' ground truth for energy: each sample's time and counters as
 * read (VMETER_TEST_POWER_SAMPLES). */
static void power_ledger(FILE *f, const struct col_host_sample *h)
{
	fprintf(f, "%lld", (long long)h->t_ns);
	for (size_t i = 0; i < h->power.n; i++)
		fprintf(f, " %s %llu %llu", h->power.zone[i].dir, (unsigned long long)h->power.zone[i].energy_uj,
		        (unsigned long long)h->power.zone[i].max_range_uj);
	fprintf(f, "\n");
	fflush(f);
}

/* The RAPL reader power-source asks for, or none. */
static void power_setup(struct collector *c)
{
	col_power_free(c->power);
	c->power = NULL;
	if (strcmp(c->conf->power_source, "rapl") == 0)
		c->power = col_power_new(c->conf->powercap_root);
	else
		vm_info("power: power-source is \"none\": the host's energy is not measured");
}

static struct col_devices *on_devices(const char *uuid, void *arg)
{
	struct collector *c = arg;
	return col_sampler_devices(uuid, c->sampler);
}

static void on_sample(const struct col_vm_sample *s, void *arg)
{
	struct collector *c = arg;
	col_sampler_sample(c->sampler, s);
	if (c->samples)
		sample_ledger(c->samples, s);
}

static void process_events(struct collector *c)
{
	struct col_event *evs;
	size_t n = col_virt_events(c->virt, &evs);
	struct col_domain *d = NULL;
	for (size_t i = 0; i < n; i++) {
		vm_debug("event: vm %s kind %d %s", evs[i].uuid, (int)evs[i].kind, evs[i].detail);
		int need = col_sampler_event(c->sampler, &evs[i]);
		if (need & COL_NEED_XML) {
			if (!d)
				d = vm_xmalloc(sizeof *d);
			if (col_virt_domain(c->virt, evs[i].uuid, d) == 0)
				col_sampler_domain(c->sampler, d, evs[i].t_ns);
		}
		if (need & COL_NEED_SAMPLE)
			col_virt_sample_one(c->virt, evs[i].uuid, on_devices, on_sample, c);
	}
	free(d);
	free(evs);
}

/* ---------------------------------------------------------------- capture */

/* Whether this process can open a packet capture at all, and the
 * configured capture user exists: the worker would otherwise fail at every
 * restart, a log line a minute for good.  Returns NULL or why not. */
static const char *capture_impossible(const struct vm_conf *conf, char *buf, size_t size)
{
	if (conf->capture_user[0] && !getpwnam(conf->capture_user)) {
		snprintf(buf, size, "no user '%s' (capture.user)", conf->capture_user);
		return buf;
	}
	if (geteuid() == 0)
		return NULL;
	/* Not root: CAP_NET_RAW must be in the effective set. */
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long eff = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	if (f)
		fclose(f);
	if (!(eff & (1ULL << CAP_NET_RAW))) {
		snprintf(buf, size, "not root and no CAP_NET_RAW");
		return buf;
	}
	return NULL;
}

static void capture_send_set(struct collector *c, bool force)
{
	const struct col_capture_iface *ifs;
	size_t n;
	if (!c->cap)
		return;
	if (!col_sampler_capture_ifaces(c->sampler, vm_now_ns(), &ifs, &n) && !force)
		return;
	int rc = col_capture_set_interfaces(c->cap, ifs, n);
	if (rc < 0)
		vm_err("capture: cannot set %zu interfaces: %s", n, strerror(-rc));
	else
		vm_debug("capture: %zu interfaces", n);
}

/* Starts the capture if the configuration has traffic classes.  A capture
 * that cannot run is not an error: the collector meters without traffic
 * classes and says so once. */
static void capture_start(struct collector *c)
{
	char why[512];
	if (c->conf->n_traffic_classes == 0)
		return;
	if (capture_impossible(c->conf, why, sizeof why)) {
		vm_err("traffic capture disabled, metering without traffic classes: %s", why);
		return;
	}
	c->cap = col_capture_start(c->conf, c->base, why, sizeof why);
	if (!c->cap) {
		vm_err("traffic capture disabled, metering without traffic classes: %s", why);
		return;
	}
	col_sampler_set_capture(c->sampler, true);
	vm_notice("traffic capture started: %zu traffic classes", c->conf->n_traffic_classes);
	capture_send_set(c, true);
}

/* The counts since the last flush, into the sampler: between the pass's
 * samples and its end, so that the minutes the pass closes have them. */
static void capture_flush(struct collector *c)
{
	if (!c->cap)
		return;
	struct col_capture_interval iv;
	if (col_capture_flush(c->cap, &iv) < 0)
		return;
	const struct col_capture_ifstate *st;
	size_t n_st = col_capture_ifstate(c->cap, &st);
	col_sampler_capture(c->sampler, &iv, st, n_st);
	col_capture_interval_release(&iv);
}

static void capture_stop(struct collector *c)
{
	if (!c->cap)
		return;
	capture_flush(c);
	col_capture_stop(c->cap);
	c->cap = NULL;
	col_sampler_set_capture(c->sampler, false);
}

/* The pass's end: saves the state that goes with the records appended so
 * far, then commits them (collector/resume.h says why in this order).  A
 * commit that fails loses its records (counted as lost by the writer): the
 * state is saved again for the spool as it is, so that a restart does not
 * emit those minutes once more. */
static void save_sampler(void *arg, struct vm_binw *w)
{
	col_sampler_save(arg, w);
}

static void commit_pass(struct collector *c)
{
	char err[512];
	bool saved = false;
	if (c->resume) {
		saved = col_resume_save(c->resume, col_writer_spool_seq(c->writer, true), vm_now_ns(), save_sampler,
		                        c->sampler, err, sizeof err) == 0;
		if (!saved && !c->resume_failing)
			vm_err("cannot save the collector's state (a restart will lose the usage since the last save): "
			       "%s",
			       err);
		else if (saved && c->resume_failing)
			vm_notice("saving the collector's state again");
		c->resume_failing = !saved;
	}
	int rc = col_writer_commit(c->writer);
	col_sampler_committed(c->sampler, rc == 0);
	/* The state written again is the same: a failed commit changes
	 * nothing that is saved. */
	if (rc < 0 && saved)
		col_resume_save(c->resume, col_writer_spool_seq(c->writer, false), vm_now_ns(), save_sampler,
		                c->sampler, err, sizeof err);
}

/* Continues where the last process stopped: its saved state, if it goes
 * with the spool as it is now. */
static void resume_state(struct collector *c)
{
	char err[512], why[512];
	c->resume = col_resume_open(c->conf->state_dir, c->conf->host_name, strcmp(c->conf->spool_sync, "always") == 0,
	                            err, sizeof err);
	if (!c->resume) {
		vm_err("the collector's state cannot be saved, restarts will lose usage: %s", err);
		return;
	}
	void *state;
	size_t len;
	int64_t saved_at, lost_since;
	uint64_t seq = col_writer_spool_seq(c->writer, false);
	if (col_resume_load(c->resume, seq, &state, &len, &saved_at, &lost_since, why, sizeof why) == 1) {
		if (col_sampler_resume(c->sampler, state, len, err, sizeof err) == 0) {
			char when[40];
			vm_time_format(saved_at, when, sizeof when);
			vm_notice("continuing from the state saved at %s (%zu VMs)", when,
			          col_sampler_vm_count(c->sampler));
			free(state);
			return;
		}
		snprintf(why, sizeof why, "%s", err);
		lost_since = saved_at;
		free(state);
	}
	if (lost_since) {
		char when[40];
		vm_time_format(lost_since, when, sizeof when);
		vm_warn(
		    "the collector's saved state cannot be used (%s): the usage of running VMs since %s is recorded "
		    "as lost",
		    why, when);
		col_sampler_state_lost(c->sampler, lost_since, "saved state lost");
	} else {
		vm_info("no saved state to continue from: %s", why);
	}
}

/* -F: the host is taken out of service (or the collector for good): the
 * minutes the last process left open are written as they are, and the
 * saved state emptied, so that no later start continues them.  The spool
 * is then delivered for up to 15 s; what is not waits for the next start. */
static int flush_state(struct collector *c)
{
	char err[512];
	size_t vms = col_sampler_vm_count(c->sampler);
	col_sampler_free(c->sampler, true);
	int rc = col_writer_commit(c->writer);
	struct col_sink none = {0};
	c->sampler = col_sampler_new(c->conf, &none, NULL);
	if (rc == 0 && c->resume) {
		rc = col_resume_save(c->resume, col_writer_spool_seq(c->writer, false), vm_now_ns(), save_sampler,
		                     c->sampler, err, sizeof err);
		if (rc < 0)
			vm_err("%s", err);
	}
	if (rc == 0)
		vm_notice("flushed the open minutes of %zu VMs and the host", vms);
	col_sampler_free(c->sampler, false);
	col_writer_free(c->writer, 15000);
	col_resume_free(c->resume);
	vm_rrd_free(c->rrd);
	event_base_free(c->base);
	vm_conf_free(c->conf);
	return rc == 0 ? 0 : 1;
}

static void refetch_one(const char *uuid, void *arg)
{
	struct collector *c = arg;
	struct col_domain *d = vm_xmalloc(sizeof *d);
	if (col_virt_domain(c->virt, uuid, d) == 0)
		col_sampler_domain(c->sampler, d, vm_now_ns());
	free(d);
}

/* col_virt_ensure(), and its answer into the status file (libvirt-down). */
static bool virt_ensure(struct collector *c, bool *fresh)
{
	bool up = col_virt_ensure(c->virt, fresh);
	col_writer_set_libvirt(c->writer, up, vm_now_ns(), up ? NULL : "no connection to libvirt (see the log)");
	return up;
}

/* Returns the domains sampled, or -1 when libvirt was away or failed. */
static int sample_once(struct collector *c)
{
	bool fresh;
	int64_t now = vm_now_ns();
	if (!virt_ensure(c, &fresh)) {
		/* libvirt away: minutes of VMs we cannot see close after
		 * max-gap with what they had. */
		col_sampler_pass_begin(c->sampler, now);
		capture_flush(c);
		col_sampler_pass_end(c->sampler, vm_now_ns(), false);
		commit_pass(c);
		vm_rrd_commit(c->rrd);
		return -1;
	}
	if (fresh || vm_monotonic_ns() >= c->next_refresh_ns)
		refresh_inventory(c);
	process_events(c);
	capture_send_set(c, false);
	col_sampler_pass_begin(c->sampler, now);
	int n = col_virt_sample(c->virt, on_devices, on_sample, c);
	struct col_host_sample h;
	if (n >= 0 && col_virt_host(c->virt, &h) == 0) {
		/* Energy in the host's pass: its intervals are the host's. */
		h.have_power = c->power && col_power_read(c->power, &h.power) == COL_POWER_OK;
		if (h.have_power && c->power_samples)
			power_ledger(c->power_samples, &h);
		col_sampler_host(c->sampler, &h);
	}
	capture_flush(c);
	col_sampler_pass_end(c->sampler, vm_now_ns(), n >= 0);
	if (n >= 0)
		col_sampler_refetch(c->sampler, refetch_one, c);
	col_writer_set_inventory_incomplete(c->writer, col_sampler_incomplete_inventories(c->sampler));
	/* One spool commit per pass: its rows are durable from here on. */
	commit_pass(c);
	vm_rrd_commit(c->rrd);
	return n;
}

/* Ticks fall on multiples of the interval in UTC, so that every host
 * samples at the same moments and minutes split cleanly: one pass per
 * grid point, never before it.  libevent measures the timeout from the
 * loop's cached time (taken before the pass that arms it), and timers run
 * on the monotonic clock, which drifts from UTC: so the cache is refreshed
 * first, the timeout rounded up, and a timer that still fires early is
 * armed again for the rest. */
static void arm_at(struct collector *c, int64_t at)
{
	int64_t now = vm_now_ns();
	int64_t step = (int64_t)c->conf->interval_s * VM_NS_PER_SEC;
	int64_t d = at > now ? at - now : 0;
	/* Never longer than an interval: a wall clock stepped while
	 * waiting is then noticed within one. */
	if (d > step)
		d = step;
	d = (d + 999) / 1000 * 1000; /* microseconds, rounded up */
	struct timeval tv = {(time_t)(d / VM_NS_PER_SEC), (suseconds_t)(d % VM_NS_PER_SEC / 1000)};
	c->tick_at = at;
	event_base_update_cache_time(c->base);
	evtimer_add(c->tick, &tv);
}

static void arm_tick(struct collector *c)
{
	int64_t now = vm_now_ns();
	int64_t step = (int64_t)c->conf->interval_s * VM_NS_PER_SEC;
	int64_t next = (now / step + 1) * step;
	/* One pass per grid point: never the one the last pass had.  A
	 * clock stepped back by more than an interval starts the grid
	 * afresh (the samples then say what happened). */
	if (next <= c->last_tick && c->last_tick - now <= step)
		next = c->last_tick + step;
	arm_at(c, next);
}

/* After a pass: one that ran past the next grid point leaves that point
 * without a pass (the next one reads the counters over both intervals, so
 * no usage is lost, only a sample of the graphs).  Said and counted, so
 * that an overloaded host is seen and a missing sample is explained.  A
 * wall clock stepped forward by more than 64 intervals is not counted. */
static void ticks_overrun(struct collector *c)
{
	int64_t step = (int64_t)c->conf->interval_s * VM_NS_PER_SEC;
	if (c->tick_at <= c->last_tick + step || c->tick_at - c->last_tick > 64 * step)
		return;
	int64_t first = c->last_tick + step, last = c->tick_at - step, skipped = (c->tick_at - c->last_tick) / step - 1;
	c->work.ticks_skipped += (uint64_t)skipped;
	col_writer_set_passes(c->writer, &c->work);
	vm_warn("the pass of the tick at %lld overran: %lld tick(s) skipped, %lld to %lld (s since the epoch)",
	        (long long)(c->last_tick / VM_NS_PER_SEC), (long long)skipped, (long long)(first / VM_NS_PER_SEC),
	        (long long)(last / VM_NS_PER_SEC));
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct collector *c = arg;
	(void)fd, (void)what;
	int64_t now = vm_now_ns();
	if (now < c->tick_at) {
		if (c->tick_at - now > (int64_t)c->conf->interval_s * VM_NS_PER_SEC)
			arm_tick(c); /* the clock stepped back */
		else
			arm_at(c, c->tick_at);
		return;
	}
	c->last_tick = c->tick_at;
	int64_t t0 = vm_monotonic_ns();
	int n = sample_once(c);
	c->work.passes++;
	c->work.domain_samples += n > 0 ? (uint64_t)n : 0;
	col_virt_call_counts(c->virt, &c->work.libvirt_calls, &c->work.libvirt_saved);
	col_writer_set_passes(c->writer, &c->work);
	c->last_pass_mono = vm_monotonic_ns();
	int64_t took = c->last_pass_mono - t0;
	vm_debug("pass %llu: %d domains in %.3f s", (unsigned long long)c->work.passes, n, (double)took / 1e9);
	if (took > (int64_t)c->conf->interval_s * VM_NS_PER_SEC / 2)
		vm_warn("sampling took %.1f s, more than half the %d s interval", (double)took / 1e9,
		        c->conf->interval_s);
	arm_tick(c);
	ticks_overrun(c);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct collector *c = arg;
	(void)fd, (void)what;
	bool fresh;
	if (virt_ensure(c, &fresh)) {
		if (fresh)
			refresh_inventory(c);
		process_events(c);
		capture_send_set(c, false);
		commit_pass(c);
	}
}

/* Called on libvirt's event thread: only hand over to the main loop. */
static void wake_main(void *arg)
{
	struct collector *c = arg;
	event_active(c->wake, 0, 0);
}

/* On the main loop rather than the delivery thread, so that the file stays
 * fresh while delivery waits on a slow or unreachable database: a stale
 * file then means the collector itself is stuck or gone. */
static void on_status(evutil_socket_t fd, short what, void *arg)
{
	struct collector *c = arg;
	(void)fd, (void)what;
	col_writer_write_status(c->writer);
}

static void reload(struct collector *c);

/* systemd's watchdog is fed only while passes keep coming: a loop that
 * turns but no longer samples (its tick lost) is restarted like a stuck
 * one.  A pass may take a few intervals on a large host; three and the
 * watchdog's own period are allowed. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct collector *c = arg;
	(void)fd, (void)what;
	int64_t late = vm_monotonic_ns() - c->last_pass_mono;
	if (late > 3 * (int64_t)c->conf->interval_s * VM_NS_PER_SEC + c->watchdog_ns) {
		vm_err("no sampling pass for %lld s: not feeding systemd's watchdog",
		       (long long)(late / VM_NS_PER_SEC));
		return;
	}
	sd_notify(0, "WATCHDOG=1");
}

static void watchdog_start(struct collector *c)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return;
	c->watchdog_ns = (int64_t)usec * 1000;
	c->watchdog = event_new(c->base, -1, EV_PERSIST, on_watchdog, c);
	struct timeval half = {(time_t)(usec / 2 / 1000000), (suseconds_t)(usec / 2 % 1000000)};
	evtimer_add(c->watchdog, &half);
}

/* Tells systemd (Type=notify) how the collector is; a no-op without it. */
static void notify_ready(struct collector *c)
{
	sd_notifyf(0, "READY=1\nSTATUS=sampling every %d s, host '%s'", c->conf->interval_s, c->conf->host_name);
}

static void on_sighup(evutil_socket_t fd, short what, void *arg)
{
	struct collector *c = arg;
	(void)fd, (void)what;
	struct timespec mono;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	           (unsigned long long)mono.tv_sec * 1000000 + (unsigned long long)mono.tv_nsec / 1000);
	reload(c);
	notify_ready(c);
}

static void reload(struct collector *c)
{
	char err[1024];
	struct vm_conf *conf = vm_conf_load(c->conf->path, err, sizeof err);
	if (!conf) {
		vm_err("reload failed, keeping the running configuration: %s", err);
		return;
	}
	char rerr[512];
	struct vm_rrd *rrd = vm_rrd_new(conf->rrd_dir, conf->rrdcached, conf->interval_s, rerr, sizeof rerr);
	if (!rrd) {
		vm_err("reload failed, keeping the running configuration: %s", rerr);
		vm_conf_free(conf);
		return;
	}
	if (strcmp(conf->host_name, c->conf->host_name) != 0)
		vm_warn("reload: host-name changes only take effect on restart");
	/* The spool and status.json stay open where they are. */
	if (strcmp(conf->state_dir, c->conf->state_dir) != 0 || strcmp(conf->spool_dir, c->conf->spool_dir) != 0)
		vm_warn("reload: state-dir and spool-dir changes only take effect on restart (still '%s')",
		        c->conf->state_dir);
	vm_log_set_level((enum vm_log_level)conf->log_level);
	col_virt_set_uri(c->virt, conf->libvirt_uri);
	col_virt_set_threads(c->virt, (unsigned)conf->libvirt_threads);
	col_writer_set_conninfo(c->writer, conf->db_conninfo);
	vm_rrd_set_async_create(rrd, true);
	vm_rrd_set_batch(rrd, VM_RRD_BATCH_MAX);
	col_sampler_set_rrd(c->sampler, rrd);
	vm_rrd_free(c->rrd);
	c->rrd = rrd;
	/* Keep the running host name: rows already carry it. */
	free(conf->host_name);
	conf->host_name = vm_xstrdup(c->conf->host_name);
	col_sampler_set_conf(c->sampler, conf);
	/* The worker gets the new classes; counts so far stay under the
	 * class names they were counted in. */
	if (c->cap && conf->n_traffic_classes)
		col_capture_set_conf(c->cap, conf);
	else if (c->cap)
		capture_stop(c);
	bool power_changed = strcmp(conf->power_source, c->conf->power_source) != 0 ||
	                     strcmp(conf->powercap_root, c->conf->powercap_root) != 0;
	vm_conf_free(c->conf);
	c->conf = conf;
	if (power_changed)
		power_setup(c);
	if (!c->cap)
		capture_start(c);
	c->next_refresh_ns = 0;
	evtimer_del(c->tick);
	arm_tick(c);
	vm_notice("configuration reloaded from '%s'", conf->path);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct collector *c = arg;
	(void)what;
	vm_notice("received signal %d: taking a last sample and stopping", (int)sig);
	sd_notify(0, "STOPPING=1");
	event_base_loopbreak(c->base);
}

static void sink_usage(void *w, const char *uuid, const struct vm_usage_row *row)
{
	col_writer_push_usage(w, uuid, row);
}

static int sink_inventory(void *w, struct vm_inventory *inv, int64_t at)
{
	return col_writer_push_inventory(w, inv, at);
}

static void sink_loss(void *w, const char *uuid, int64_t from, int64_t to, const char *reason)
{
	col_writer_push_loss(w, uuid, from, to, reason);
}

static void sink_event(void *w, const char *uuid, int64_t at, const char *event, const char *detail)
{
	col_writer_push_event(w, uuid, at, event, detail);
}

static void sink_host(void *w, const struct vm_host_info *h, int64_t at)
{
	col_writer_push_host(w, h, at);
}

static void sink_traffic(void *w, const struct vm_db_traffic *tr)
{
	col_writer_push_traffic(w, tr);
}

static void sink_host_capture(void *w, const struct vm_db_host_capture *hc)
{
	col_writer_push_host_capture(w, hc);
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: vmeter-collector [-c FILE] [-n] [-s] [-v] [-V]\n"
	        "  -c FILE  configuration file (default %s)\n"
	        "  -F       flush: write the minutes a stopped collector left open, then exit\n"
	        "  -n       check the configuration and exit\n"
	        "  -s       log to syslog instead of stderr\n"
	        "  -v       debug logging\n"
	        "  -V       print the version and exit\n",
	        VM_CONF_DEFAULT_PATH);
}

int main(int argc, char **argv)
{
	const char *path = VM_CONF_DEFAULT_PATH;
	bool check = false, use_syslog = false, verbose = false, flush_only = false;
	int opt;

	/* The capture worker is this binary exec'd anew (collector/capture.c):
	 * hidden, and before anything of the collector's is set up. */
	if (argc >= 2 && strcmp(argv[1], "--capture-worker") == 0)
		return argc == 3 ? col_capture_worker_main(argv[2]) : 2;
	while ((opt = getopt(argc, argv, "c:FnsvVh")) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'F': flush_only = true; break;
		case 'n': check = true; break;
		case 's': use_syslog = true; break;
		case 'v': verbose = true; break;
		case 'V': printf("vmeter-collector %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	vm_log_open("vmeter-collector", use_syslog);
	/* What the collector writes (status.json, the spool, RRD files made
	 * by rrdtool or librrd) is 0640, directories 0750: usage per VM is
	 * nobody else's to read.  The group is VM_SHARED_GROUP's (fsutil.h). */
	umask(027);
	char err[1024];
	struct collector c = {0};
	c.conf = vm_conf_load(path, err, sizeof err);
	if (!c.conf) {
		fprintf(stderr, "vmeter-collector: %s\n", err);
		return 1;
	}
	if (check) {
		printf("%s: configuration ok\n", path);
		vm_conf_free(c.conf);
		return 0;
	}
	vm_log_set_level(verbose ? VM_LOG_DEBUG : (enum vm_log_level)c.conf->log_level);
	c.rrd = vm_rrd_new(c.conf->rrd_dir, c.conf->rrdcached, c.conf->interval_s, err, sizeof err);
	if (!c.rrd)
		vm_fatal("%s", err);
	vm_rrd_set_async_create(c.rrd, true);
	/* BATCHes to rrdcached, the last of a pass sent by vm_rrd_commit in
	 * sample_once. */
	vm_rrd_set_batch(c.rrd, VM_RRD_BATCH_MAX);

	/* libxml2's global state must be set up before threads exist. */
	xmlInitParser();
	evthread_use_pthreads();
	/* The change list turns the many watch changes of libvirt's RPCs
	 * (collector/virtevent.h) into none at all, within a pass. */
	struct event_config *ecfg = event_config_new();
	if (ecfg)
		event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	c.base = ecfg ? event_base_new_with_config(ecfg) : NULL;
	if (ecfg)
		event_config_free(ecfg);
	if (!c.base)
		vm_fatal("cannot create the event loop");
	char *spool_dir =
	    c.conf->spool_dir[0] ? vm_xstrdup(c.conf->spool_dir) : vm_xasprintf("%s/spool", c.conf->state_dir);
	char *status_path = vm_xasprintf("%s/status.json", c.conf->state_dir);
	struct col_writer_opts wo = {
	    .conninfo = c.conf->db_conninfo,
	    .hostname = c.conf->host_name,
	    .spool_dir = spool_dir,
	    .batch_rows = (size_t)c.conf->db_batch_rows,
	    .reconnect_max_s = c.conf->reconnect_max_s,
	    .timeout_s = c.conf->db_timeout_s,
	    .spool_cap = (uint64_t)c.conf->spool_max_mb << 20,
	    .sync = strcmp(c.conf->spool_sync, "always") == 0 ? VM_SPOOL_SYNC_ALWAYS
	            : strcmp(c.conf->spool_sync, "none") == 0 ? VM_SPOOL_SYNC_NONE
	                                                      : VM_SPOOL_SYNC_INTERVAL,
	    .sync_interval_ms = (uint32_t)c.conf->spool_sync_interval_ms,
	    .status_path = status_path,
	};
	c.writer = col_writer_new(&wo, err, sizeof err);
	free(spool_dir);
	free(status_path);
	if (!c.writer)
		vm_fatal("%s", err);
	struct col_sink sink = {sink_usage, sink_inventory, sink_event,        sink_host,
	                        c.writer,   sink_traffic,   sink_host_capture, sink_loss};
	c.sampler = col_sampler_new(c.conf, &sink, c.rrd);
	resume_state(&c);
	if (flush_only)
		return flush_state(&c);
	const char *samples = getenv("VMETER_TEST_SAMPLES");
	if (samples && *samples && !(c.samples = fopen(samples, "a")))
		vm_warn("cannot open the test sample ledger '%s': %s", samples, strerror(errno));
	const char *power_samples = getenv("VMETER_TEST_POWER_SAMPLES");
	if (power_samples && *power_samples && !(c.power_samples = fopen(power_samples, "a")))
		vm_warn("cannot open the test power ledger '%s': %s", power_samples, strerror(errno));
	power_setup(&c);
	c.tick = evtimer_new(c.base, on_tick, &c);
	c.wake = event_new(c.base, -1, 0, on_wake, &c);
	c.status = event_new(c.base, -1, EV_PERSIST, on_status, &c);
	struct timeval status_period = {COL_WRITER_STATUS_PERIOD_S, 0};
	evtimer_add(c.status, &status_period);
	col_writer_write_status(c.writer);
	c.sighup = evsignal_new(c.base, SIGHUP, on_sighup, &c);
	c.sigterm = evsignal_new(c.base, SIGTERM, on_stop, &c);
	c.sigint = evsignal_new(c.base, SIGINT, on_stop, &c);
	evsignal_add(c.sighup, NULL);
	evsignal_add(c.sigterm, NULL);
	evsignal_add(c.sigint, NULL);
	signal(SIGPIPE, SIG_IGN);
	c.virt = col_virt_new(c.conf->libvirt_uri, c.conf->reconnect_max_s, (unsigned)c.conf->libvirt_threads, c.base,
	                      wake_main, &c);
	vm_notice("vmeter-collector %s starting: host '%s', libvirt '%s', interval %d s", PACKAGE_VERSION,
	          c.conf->host_name, c.conf->libvirt_uri, c.conf->interval_s);

	capture_start(&c);
	int64_t start_ns = vm_now_ns(), start_step = (int64_t)c.conf->interval_s * VM_NS_PER_SEC;
	sample_once(&c); /* baselines now rather than one interval later */
	c.last_pass_mono = vm_monotonic_ns();
	/* the start's pass stands for the grid point before it: one that ran
	 * past the next point skipped it, as any pass would */
	c.last_tick = start_ns / start_step * start_step;
	arm_tick(&c);
	ticks_overrun(&c);
	watchdog_start(&c);
	notify_ready(&c);
	event_base_dispatch(c.base);

	/* The usage since the last tick is real: sample once more and save
	 * the state with it.  Open minutes stay open, in the saved state:
	 * the next start continues them, so that a minute measured by two
	 * processes is one row.  Without a saved state they are closed as
	 * they are. */
	sample_once(&c);
	col_capture_stop(c.cap);
	bool flush = !c.resume || c.resume_failing;
	col_sampler_free(c.sampler, flush);
	if (flush)
		col_writer_commit(c.writer);
	col_resume_free(c.resume);
	if (c.samples)
		fclose(c.samples);
	if (c.power_samples)
		fclose(c.power_samples);
	col_power_free(c.power);
	/* Half a second more of delivery at most: a stop takes under 2 s
	 * whatever the database does; the spool keeps the rest for the next
	 * start. */
	col_writer_free(c.writer, 500);
	col_virt_free(c.virt);
	col_virtevent_shutdown();
	if (vm_rrd_flush_all(c.rrd, err, sizeof err) < 0)
		vm_warn("%s", err);
	vm_rrd_free(c.rrd);
	if (c.watchdog)
		event_free(c.watchdog);
	event_free(c.tick);
	event_free(c.wake);
	event_free(c.status);
	event_free(c.sighup);
	event_free(c.sigterm);
	event_free(c.sigint);
	event_base_free(c.base);
	libevent_global_shutdown();
	vm_conf_free(c.conf);
	vm_notice("stopped");
	return 0;
}
