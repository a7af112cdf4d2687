/* vmeter-web: the web UI and JSON API (docs/WEB.md, vmeter-web(8)).
 *
 *   vmeter-web [-c FILE] [-n]          serve (-n: check the configuration)
 *   vmeter-web [-c FILE] user ...      users (web/cli.h)
 *   vmeter-web [-c FILE] token ...     API tokens
 *
 * One libevent loop serves HTTP (web/server), answers from PostgreSQL
 * through a vm_pgev pool, and checks passwords on a thread of its own
 * (web/hasher), and reads RRD files and exports invoices on worker threads
 * (web/worker): nothing on the loop blocks.  READY once listening;
 * SIGTERM or SIGINT stop it. */
#include "config.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "api.h"
#include "cache.h"
#include "cli.h"
#include "conf.h"
#include "hasher.h"
#include "log.h"
#include "options.h"
#include "rrdout.h"
#include "pgev.h"
#include "schema.h"
#include "secret.h"
#include "server.h"
#include "tls.h"
#include "worker.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: vmeter-web [-c FILE] [-n]\n"
	           "       vmeter-web [-c FILE] user add NAME --role admin|operator|tenant-viewer [--tenant T]\n"
	           "                            [--password-stdin]\n"
	           "       vmeter-web [-c FILE] user list\n"
	           "       vmeter-web [-c FILE] user disable NAME\n"
	           "       vmeter-web [-c FILE] token add USER [--label TEXT]\n"
	           "       vmeter-web [-c FILE] token revoke ID\n"
	           "  -c FILE  the configuration (default " VM_CONF_DEFAULT_PATH ")\n"
	           "  -n       check the configuration and exit\n"
	           "exit status: 0 done, 1 failed, 2 a usage or configuration error\n");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct event_base *base = arg;
	vm_notice("signal %d: stopping", (int)sig);
	sd_notify(0, "STOPPING=1");
	event_base_loopexit(base, NULL);
}

/* The schema's version, once the pool first reaches the database: an
 * older schema would answer every request with 500, so say why early.
 * Not fatal: the database may be migrated while this runs. */
static void schema_checked(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	(void)arg;
	unsigned want = vm_migrations[vm_n_migrations - 1].version;
	if (failure == VM_PG_CANCELLED)
		return;
	if (failure != VM_PG_OK || !res || PQntuples(res) != 1) {
		vm_err("cannot read the database schema's version: %s", failure == VM_PG_OK ? "no answer" : error);
		return;
	}
	long have = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (have != (long)want)
		vm_err("database schema is version %ld, this vmeter-web needs %u: run 'vmeter-admin migrate'", have,
		       want);
}

/* Descriptors: the soft limit raised to the hard one (systemd's soft
 * limit is 1,024), and what is left past the connections (two each: a
 * client, and room for the database, RRD files and the like) goes to kept
 * answers in files (web/cache.h). */
static void files_budget(int max_connections)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1u << 20) ? (1u << 20) : rl.rlim_max;
		if (want > rl.rlim_cur) {
			rl.rlim_cur = want;
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				getrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	long left = (long)rl.rlim_cur - 2L * max_connections - 256;
	web_cache_set_files(left > 0 ? (unsigned)left : 0);
	vm_debug("descriptors: %ld, %ld of them for kept answers in files", (long)rl.rlim_cur, left > 0 ? left : 0);
}

static int serve(const struct vm_conf *conf)
{
	const struct web_options *o = web_options(conf);
	char err[1024];
	if (web_secret_init() < 0) {
		vm_err("libsodium cannot start (no entropy source?)");
		return 1;
	}
	evthread_use_pthreads(); /* the hasher thread wakes the loop */
	/* epoll's changelist: evhttp turns a connection's read and write
	 * events off and on several times an answer; the changes are made in
	 * one epoll_ctl() at the next wait instead of one call each (no fd
	 * here is a dup(), the changelist's one caveat) */
	struct event_config *cfg = event_config_new();
	if (cfg)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	struct event_base *base = cfg ? event_base_new_with_config(cfg) : NULL;
	if (cfg)
		event_config_free(cfg);
	if (!base) {
		vm_err("cannot make an event loop");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	files_budget(o->max_connections);
	int rc = 1;
	struct web_hasher *hasher = NULL;
	struct web_worker *worker = NULL;
	struct vm_rrd *rrd = NULL;
	struct web_tls *tls = NULL;
	struct web_api *api = NULL;
	struct web_server *server = NULL;
	struct vm_pgev_opts po = {.size = (unsigned)o->db_connections, .query_timeout_ms = o->query_timeout_ms};
	struct vm_pgev_pool *pool = vm_pgev_pool_new(base, conf->db_conninfo, &po, err, sizeof err);
	if (!pool) {
		vm_err("database: %s", err);
		goto out;
	}
	hasher = web_hasher_new(base, 64, err, sizeof err);
	if (!hasher) {
		vm_err("%s", err);
		goto out;
	}
	/* two threads: a PDF or a cold RRD file must not hold up every graph */
	worker = web_worker_new(base, 2, 256, conf->db_conninfo, err, sizeof err);
	if (!worker) {
		vm_err("%s", err);
		goto out;
	}
	if (conf->rrd_dir && *conf->rrd_dir) {
		rrd = vm_rrd_new(conf->rrd_dir, conf->rrdcached, conf->interval_s, err, sizeof err);
		if (!rrd) /* graphs then come from the rollups */
			vm_warn("rrd: %s: graphs are drawn from the database's rollups only", err);
	}
	if (*o->tls_certificate) {
		tls = web_tls_new(o->tls_certificate, o->tls_key, err, sizeof err);
		if (!tls) {
			vm_err("%s", err);
			goto out;
		}
	}
	struct web_api_opts ao = {.session_hours = o->session_hours,
	                          .cookie_secure = o->cookie_secure != 0 || tls,
	                          .max_body_bytes = o->max_body_bytes,
	                          .login_free = (unsigned)o->login_failures,
	                          .login_address_free = (unsigned)o->login_address_failures,
	                          .login_lock_s = o->login_lock_s,
	                          .login_lock_max_s = o->login_lock_max_s,
	                          .cache_ms = o->cache_ms,
	                          .cache_mb = (size_t)o->cache_mb,
	                          .auth_cache_ms = o->auth_cache_ms,
	                          .graph_cache_ms = o->graph_cache_ms,
	                          .db_connections = (unsigned)o->db_connections,
	                          .base = base,
	                          .conninfo = conf->db_conninfo};
	api = web_api_new(pool, hasher, &ao);
	if (!api) {
		vm_err("web.login-lock must not be over web.login-lock-max");
		goto out;
	}
	struct web_limits lim = {.max_connections = o->max_connections,
	                         .max_header_bytes = o->max_header_bytes,
	                         .max_body_bytes = o->max_body_bytes,
	                         .request_timeout_s = o->request_timeout_s,
	                         .io_timeout_s = o->io_timeout_s,
	                         .tls = tls,
	                         .threads = o->threads};
	if (lim.threads < 0) { /* one per CPU: the socket work of big answers is most of their cost */
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		lim.threads = n < 1 ? 1 : n > 8 ? 8 : (int)n;
	}
	server = web_server_new(base, o->listen, &lim, web_api_handle, web_api_fast, api, err, sizeof err);
	if (!server) {
		vm_err("%s", err);
		goto out;
	}
	web_api_set_server(api, server);
	web_api_set_backends(api, worker, rrd);
	/* a long timeout: the database may come up after us */
	vm_pgev_submit_timeout(pool, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL, 3600 * 1000,
	                       schema_checked, NULL);
	vm_notice("listening on %s (port %d, %s), at most %d connections, %d I/O threads", o->listen,
	          web_server_port(server), tls ? "HTTPS" : "plain HTTP", o->max_connections,
	          web_server_threads(server));
	sd_notifyf(0, "READY=1\nSTATUS=listening on %s", o->listen);
	event_base_dispatch(base);
	rc = 0;
out:
	/* the pool and the hasher answer what they still hold (503) through
	 * the server: they go first */
	vm_pgev_pool_free(pool);
	web_hasher_free(hasher);
	web_worker_free(worker);
	web_server_free(server);
	vm_rrd_free(rrd);
	web_api_free(api);
	web_tls_free(tls);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(base);
	vm_notice("stopped");
	return rc;
}

int main(int argc, char **argv)
{
	const char *conf_path = VM_CONF_DEFAULT_PATH;
	bool check = false;
	int opt;
	while ((opt = getopt(argc, argv, "+c:nh")) != -1) {
		switch (opt) {
		case 'c': conf_path = optarg; break;
		case 'n': check = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		return web_cli(conf_path, argc - optind, argv + optind);
	char err[1024];
	struct vm_conf *conf = vm_conf_load_program(conf_path, &web_conf_program, err, sizeof err);
	if (!conf) {
		fprintf(stderr, "vmeter-web: %s\n", err);
		return 2;
	}
	const struct web_options *o = web_options(conf);
	if (o->login_lock_s > o->login_lock_max_s) {
		fprintf(stderr, "vmeter-web: %s: web.login-lock (%d) is over web.login-lock-max (%d)\n", conf_path,
		        o->login_lock_s, o->login_lock_max_s);
		vm_conf_free(conf);
		return 2;
	}
	if (!*o->tls_certificate != !*o->tls_key) {
		fprintf(stderr, "vmeter-web: %s: web.tls-certificate and web.tls-key go together\n", conf_path);
		vm_conf_free(conf);
		return 2;
	}
	if (check && *o->tls_certificate) {
		struct web_tls *t = web_tls_new(o->tls_certificate, o->tls_key, err, sizeof err);
		if (!t) {
			fprintf(stderr, "vmeter-web: %s\n", err);
			vm_conf_free(conf);
			return 2;
		}
		web_tls_free(t);
	}
	if (check) {
		printf("%s: configuration ok (web: listen %s)\n", conf_path, o->listen);
		vm_conf_free(conf);
		return 0;
	}
	vm_log_open("vmeter-web", false);
	vm_log_set_level((enum vm_log_level)conf->log_level);
	int rc = serve(conf);
	vm_conf_free(conf);
	return rc;
}
