/* vmeter-collector: samples the VMs of one hypervisor host through libvirt
 * and writes per-minute usage to PostgreSQL and graphs to RRD.
 *
 * One libevent loop on the main thread runs the sampling timer, signals
 * and the hand-over of libvirt events; libvirt's event loop and the
 * database writer run on threads of their own. */
#include "config.h"

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
#include <unistd.h>

#include "capture.h"
#include "conf.h"
#include "log.h"
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
	struct col_capture *cap; /* NULL: no traffic classes, or it cannot run */
	int64_t next_refresh_ns; /* monotonic */
	int64_t last_tick_ns;
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

static void on_sample(const struct col_vm_sample *s, void *arg)
{
	col_sampler_sample(arg, s);
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
			col_virt_sample_one(c->virt, evs[i].uuid, col_sampler_devices, on_sample, c->sampler);
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

static void sample_once(struct collector *c)
{
	bool fresh;
	int64_t now = vm_now_ns();
	if (!virt_ensure(c, &fresh)) {
		/* libvirt away: minutes of VMs we cannot see close after
		 * max-gap with what they had. */
		col_sampler_pass_begin(c->sampler, now);
		capture_flush(c);
		col_sampler_pass_end(c->sampler, vm_now_ns(), false);
		col_writer_commit(c->writer);
		vm_rrd_commit(c->rrd);
		return;
	}
	if (fresh || vm_monotonic_ns() >= c->next_refresh_ns)
		refresh_inventory(c);
	process_events(c);
	capture_send_set(c, false);
	col_sampler_pass_begin(c->sampler, now);
	int n = col_virt_sample(c->virt, col_sampler_devices, on_sample, c->sampler);
	struct col_host_sample h;
	if (n >= 0 && col_virt_host(c->virt, &h) == 0)
		col_sampler_host(c->sampler, &h);
	capture_flush(c);
	col_sampler_pass_end(c->sampler, vm_now_ns(), n >= 0);
	if (n >= 0)
		col_sampler_refetch(c->sampler, refetch_one, c);
	/* One spool commit per pass: its rows are durable from here on. */
	col_writer_commit(c->writer);
	vm_rrd_commit(c->rrd);
}

/* Ticks fall on multiples of the interval in UTC, so that every host
 * samples at the same moments and minutes split cleanly. */
static void arm_tick(struct collector *c)
{
	int64_t now = vm_now_ns();
	int64_t step = (int64_t)c->conf->interval_s * VM_NS_PER_SEC;
	int64_t next = (now / step + 1) * step;
	struct timeval tv = {(time_t)((next - now) / VM_NS_PER_SEC),
	                     (suseconds_t)((next - now) % VM_NS_PER_SEC / 1000)};
	evtimer_add(c->tick, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct collector *c = arg;
	(void)fd, (void)what;
	int64_t t0 = vm_monotonic_ns();
	sample_once(c);
	int64_t took = vm_monotonic_ns() - t0;
	if (took > (int64_t)c->conf->interval_s * VM_NS_PER_SEC / 2)
		vm_warn("sampling took %.1f s, more than half the %d s interval", (double)took / 1e9,
		        c->conf->interval_s);
	arm_tick(c);
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
		col_writer_commit(c->writer);
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

static void on_sighup(evutil_socket_t fd, short what, void *arg)
{
	struct collector *c = arg;
	(void)fd, (void)what;
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
	col_writer_set_conninfo(c->writer, conf->db_conninfo);
	vm_rrd_set_async_create(rrd, true);
	vm_rrd_set_batch(rrd, true);
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
	vm_conf_free(c->conf);
	c->conf = conf;
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
	event_base_loopbreak(c->base);
}

static void sink_usage(void *w, const char *uuid, const struct vm_usage_row *row)
{
	col_writer_push_usage(w, uuid, row);
}

static void sink_inventory(void *w, struct vm_inventory *inv, int64_t at)
{
	col_writer_push_inventory(w, inv, at);
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
	        "  -n       check the configuration and exit\n"
	        "  -s       log to syslog instead of stderr\n"
	        "  -v       debug logging\n"
	        "  -V       print the version and exit\n",
	        VM_CONF_DEFAULT_PATH);
}

int main(int argc, char **argv)
{
	const char *path = VM_CONF_DEFAULT_PATH;
	bool check = false, use_syslog = false, verbose = false;
	int opt;

	/* The capture worker is this binary exec'd anew (collector/capture.c):
	 * hidden, and before anything of the collector's is set up. */
	if (argc >= 2 && strcmp(argv[1], "--capture-worker") == 0)
		return argc == 3 ? col_capture_worker_main(argv[2]) : 2;
	while ((opt = getopt(argc, argv, "c:nsvVh")) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
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
	/* One BATCH to rrdcached per pass (vm_rrd_commit in sample_once). */
	vm_rrd_set_batch(c.rrd, true);

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
	struct col_sink sink = {sink_usage, sink_inventory, sink_event,       sink_host,
	                        c.writer,   sink_traffic,   sink_host_capture};
	c.sampler = col_sampler_new(c.conf, &sink, c.rrd);
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
	c.virt = col_virt_new(c.conf->libvirt_uri, c.conf->reconnect_max_s, c.base, wake_main, &c);
	vm_notice("vmeter-collector %s starting: host '%s', libvirt '%s', interval %d s", PACKAGE_VERSION,
	          c.conf->host_name, c.conf->libvirt_uri, c.conf->interval_s);

	capture_start(&c);
	sample_once(&c); /* baselines now rather than one interval later */
	arm_tick(&c);
	event_base_dispatch(c.base);

	/* The usage since the last tick is real: sample once more, then
	 * close every open minute with the coverage it has. */
	sample_once(&c);
	col_capture_stop(c.cap);
	col_sampler_free(c.sampler);
	/* Half a second more of delivery at most: a stop takes under 2 s
	 * whatever the database does; the spool keeps the rest for the next
	 * start. */
	col_writer_free(c.writer, 500);
	col_virt_free(c.virt);
	col_virtevent_shutdown();
	vm_rrd_flush_all(c.rrd);
	vm_rrd_free(c.rrd);
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
