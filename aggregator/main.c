/* vmeter-aggregator: VM-aware analysis and policies (issue 13).
 *
 *   vmeter-aggregator [-c FILE] [-s] [-v]     the daemon (daemon.c)
 *   vmeter-aggregator [-c FILE] -n            check the configuration
 *   vmeter-aggregator [-c FILE] run [--now T] one cycle, now or at T
 *   vmeter-aggregator [-c FILE] analysis [--host H] [--class C] [--vm NAME]
 *                                             the current classes
 *   vmeter-aggregator [-c FILE] figures [--host H] [--vm NAME]
 *                                             the latest figures
 *   vmeter-aggregator [-c FILE] backtest --rule NAME --from T --to T
 *                                             what a rule would have done */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis.h"
#include "daemon.h"
#include "log.h"
#include "pg.h"
#include "policy.h"
#include "rules.h"
#include "settings.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: vmeter-aggregator [-c FILE] [-n] [-s] [-v] [-V] [COMMAND [ARGS]]\n"
	           "  -c FILE   the configuration (default " VM_CONF_DEFAULT_PATH ")\n"
	           "  -n        check the configuration and exit\n"
	           "  -s        the daemon logs to syslog instead of stderr\n"
	           "  -v        debug logging\n"
	           "  -V        print the version and exit\n"
	           "without a command: the daemon, an analysis cycle every aggregator.interval seconds\n"
	           "commands:\n"
	           "  run [--now 'YYYY-MM-DD HH:MM[:SS]']\n"
	           "                        one analysis cycle for the time given (UTC; default now)\n"
	           "  analysis [--host H] [--class C] [--vm NAME]\n"
	           "                        the VMs' current classes, with the time each entered it and the evidence\n"
	           "  figures [--host H] [--vm NAME]\n"
	           "                        the latest figures of each host and VM (shares of the observed time)\n"
	           "  backtest --rule NAME --from 'YYYY-MM-DD HH:MM' --to 'YYYY-MM-DD HH:MM'\n"
	           "                        evaluates a rule over recorded history, cycle by cycle, and lists\n"
	           "                        what it would have done (nothing is run, nothing written)\n"
	           "exit status: 0 done, 1 the database failed, 2 a usage or configuration error, 75 another\n"
	           "aggregator holds the analysis lock (run)\n");
}

/* "2026-10-08 00:05" or "2026-10-08 00:05:30" (UTC) to seconds; -1 if not. */
static int64_t parse_utc(const char *text)
{
	struct tm tm = {0};
	const char *end = strptime(text, "%Y-%m-%d %H:%M", &tm);
	if (end && *end == ':')
		end = strptime(end, ":%S", &tm);
	if (!end || *end)
		return -1;
	return (int64_t)timegm(&tm);
}

static struct vm_pg *connect_db(const struct vm_conf *conf)
{
	struct vm_pg *pg = vm_pg_new(conf->db_conninfo, conf->db_timeout_s, -1);
	if (vm_pg_connect(pg) < 0 || vm_pg_check_schema(pg) < 0) {
		fprintf(stderr, "vmeter-aggregator: %s\n", vm_pg_error(pg));
		vm_pg_free(pg);
		return NULL;
	}
	return pg;
}

static int cmd_run(const struct vm_conf *conf, const struct agg_settings *s, int argc, char **argv)
{
	static const struct option longopts[] = {{"now", required_argument, NULL, 't'}, {NULL, 0, NULL, 0}};
	int64_t now = (int64_t)time(NULL);
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt != 't')
			return 2;
		now = parse_utc(optarg);
		if (now < 0) {
			fprintf(stderr,
			        "vmeter-aggregator: run: --now takes 'YYYY-MM-DD HH:MM[:SS]' in UTC (got '%s')\n",
			        optarg);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmeter-aggregator: run: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	struct vm_pg *pg = connect_db(conf);
	if (!pg)
		return 1;
	int got = agg_analysis_lock(pg);
	if (got <= 0) {
		if (got < 0)
			fprintf(stderr, "vmeter-aggregator: run: taking the analysis lock: %s\n", vm_pg_error(pg));
		else
			fprintf(stderr,
			        "vmeter-aggregator: run: another aggregator holds the analysis lock; nothing done\n");
		vm_pg_free(pg);
		return got < 0 ? 1 : 75;
	}
	char err[1024];
	struct agg_cycle_stats st;
	int rc = agg_analysis_run(pg, s, now, &st, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "vmeter-aggregator: run: %s\n", err);
	} else {
		time_t we = (time_t)st.window_end, ce = (time_t)st.class_end;
		char a[32], b[32];
		strftime(a, sizeof a, "%Y-%m-%d %H:%M:%SZ", gmtime(&we));
		strftime(b, sizeof b, "%Y-%m-%d %H:%M:%SZ", gmtime(&ce));
		printf("run: figures to %s for %d VMs and %d hosts; classes to %s: %d changes\n", a, st.vms, st.hosts,
		       b, st.changes);
	}
	agg_analysis_unlock(pg);
	vm_pg_free(pg);
	return rc < 0 ? 1 : 0;
}

static int cmd_analysis(const struct vm_conf *conf, int argc, char **argv)
{
	static const struct option longopts[] = {{"host", required_argument, NULL, 'H'},
	                                         {"class", required_argument, NULL, 'C'},
	                                         {"vm", required_argument, NULL, 'V'},
	                                         {NULL, 0, NULL, 0}};
	const char *p[3] = {NULL, NULL, NULL};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'H': p[0] = optarg; break;
		case 'C': p[1] = optarg; break;
		case 'V': p[2] = optarg; break;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmeter-aggregator: analysis: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	struct vm_pg *pg = connect_db(conf);
	if (!pg)
		return 1;
	PGresult *r = vm_pg_exec(pg,
	                         "SELECT coalesce(i.name, c.vm_id::text), c.dimension, c.class, "
	                         "to_char(c.since, 'YYYY-MM-DD HH24:MI:SS\"Z\"'), coalesce(h.hostname, '-'), "
	                         "to_char(c.window_from, 'YYYY-MM-DD HH24:MI\"Z\"') || '..' || to_char(c.window_to, "
	                         "'YYYY-MM-DD HH24:MI\"Z\"'), "
	                         "c.evidence::text "
	                         "FROM agg_vm_class c LEFT JOIN host h ON h.host_id = c.host_id "
	                         "LEFT JOIN LATERAL (SELECT name FROM vm_inventory v WHERE v.vm_id = c.vm_id "
	                         "  ORDER BY valid_from DESC LIMIT 1) i ON true "
	                         "WHERE ($1::text IS NULL OR h.hostname = $1) AND ($2::text IS NULL OR c.class = $2) "
	                         "  AND ($3::text IS NULL OR i.name = $3) "
	                         "ORDER BY 1, CASE c.dimension WHEN 'size' THEN 0 WHEN 'contention' THEN 1 ELSE 2 END",
	                         3, p);
	if (!r) {
		fprintf(stderr, "vmeter-aggregator: analysis: %s\n", vm_pg_error(pg));
		vm_pg_free(pg);
		return 1;
	}
	for (int i = 0; i < PQntuples(r); i++)
		printf("%s %s %s since %s host %s window %s evidence %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
		       PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
		       PQgetvalue(r, i, 6));
	PQclear(r);
	vm_pg_free(pg);
	return 0;
}

/* Inside an SQL string literal: closes it, appends a value formatted,
 * opens the literal again.  A share in basis points as "12.34%", a ratio
 * as "1.50:1", a number, KiB; "unknown" for NULL. */
#define PCT(x) "' || coalesce(to_char((" x ") / 100.0, 'FM99990.00') || '%', 'unknown') || '"
#define RATIO(x) "' || coalesce(to_char((" x ") / 10000.0, 'FM99990.00') || ':1', 'unknown') || '"
#define NUM(x) "' || coalesce((" x ")::text, 'unknown') || '"
#define KIB(x) "' || coalesce((" x ")::text || ' KiB', 'unknown') || '"

/* The SQL reads best as written. */
/* clang-format off */
static const char host_figures_sql[] =
    "SELECT 'host ' || h.hostname || ' window ' || to_char(f.window_from, 'YYYY-MM-DD HH24:MI\"Z\"') || '..' || "
    "  to_char(f.window_to, 'YYYY-MM-DD HH24:MI\"Z\"') || ': ' || f.vms || ' VMs; "
    "cpus " NUM("f.cpus") ", busy " PCT("f.busy_bp") ", VM demand " PCT("f.demand_bp") "; "
    "vCPU:CPU " RATIO("f.vcpu_ratio_bp") ", memory " RATIO("f.mem_ratio_bp") " of " KIB("f.mem_total_kib") "; "
    "delay " PCT("f.delay_bp") "; observed " PCT("f.coverage_bp") "; top ' || "
    "  coalesce((SELECT string_agg((t ->> 'name') || ' ' || coalesce(to_char((t ->> 'cpu_share_bp')::int / 100.0, "
    "    'FM99990.00') || '%', 'unknown'), ', ') FROM jsonb_array_elements(f.top_vms) t), '-') "
    "FROM agg_host_figures f JOIN host h USING (host_id) "
    "WHERE ($1::text IS NULL OR h.hostname = $1) AND $2::text IS NULL ORDER BY h.hostname";
static const char vm_figures_sql[] =
    "SELECT 'vm ' || coalesce(i.name, f.vm_id::text) || ' host ' || h.hostname || ': "
    "cpu " PCT("f.cpu_alloc_bp") " of " NUM("f.vcpus") " vCPUs, " PCT("f.cpu_host_bp") " of the host; "
    "delay " PCT("f.delay_bp") "; "
    "memory used " KIB("f.used_kib") " (" PCT("f.used_alloc_bp") "), "
    "rss " KIB("f.rss_kib") " (" PCT("f.rss_alloc_bp") " of " KIB("f.mem_alloc_kib") ", "
        PCT("f.rss_host_bp") " of the host), balloon " KIB("f.balloon_kib") "; "
    "disk " NUM("f.disk_rd_bps") " + " NUM("f.disk_wr_bps") " B/s, "
    "net " NUM("f.net_rx_bps") " + " NUM("f.net_tx_bps") " B/s; "
    "observed " PCT("f.coverage_bp") ", unknown ' || f.unknown_ms || ' ms' "
    "FROM agg_vm_figures f JOIN host h USING (host_id) "
    "LEFT JOIN LATERAL (SELECT name FROM vm_inventory x WHERE x.vm_id = f.vm_id "
    "  ORDER BY valid_from DESC LIMIT 1) i ON true "
    "WHERE ($1::text IS NULL OR h.hostname = $1) AND ($2::text IS NULL OR i.name = $2) ORDER BY 1";
/* clang-format on */

static int cmd_figures(const struct vm_conf *conf, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"host", required_argument, NULL, 'H'}, {"vm", required_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
	const char *p[2] = {NULL, NULL};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'H': p[0] = optarg; break;
		case 'V': p[1] = optarg; break;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmeter-aggregator: figures: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	struct vm_pg *pg = connect_db(conf);
	if (!pg)
		return 1;
	PGresult *h = vm_pg_exec(pg, host_figures_sql, 2, p);
	PGresult *v = h ? vm_pg_exec(pg, vm_figures_sql, 2, p) : NULL;
	if (!v) {
		fprintf(stderr, "vmeter-aggregator: figures: %s\n", vm_pg_error(pg));
		PQclear(h);
		vm_pg_free(pg);
		return 1;
	}
	for (int i = 0; i < PQntuples(h); i++)
		printf("%s\n", PQgetvalue(h, i, 0));
	for (int i = 0; i < PQntuples(v); i++)
		printf("%s\n", PQgetvalue(v, i, 0));
	PQclear(h);
	PQclear(v);
	vm_pg_free(pg);
	return 0;
}

static int cmd_backtest(const struct vm_conf *conf, const struct agg_settings *s, const struct agg_ruleset *rs,
                        int argc, char **argv)
{
	static const struct option longopts[] = {{"rule", required_argument, NULL, 'r'},
	                                         {"from", required_argument, NULL, 'f'},
	                                         {"to", required_argument, NULL, 't'},
	                                         {NULL, 0, NULL, 0}};
	const char *rule = NULL;
	int64_t from = -1, to = -1;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r': rule = optarg; break;
		case 'f':
		case 't':
			if ((*(opt == 'f' ? &from : &to) = parse_utc(optarg)) < 0) {
				fprintf(stderr,
				        "vmeter-aggregator: backtest: --%s takes 'YYYY-MM-DD HH:MM[:SS]' in UTC (got "
				        "'%s')\n",
				        opt == 'f' ? "from" : "to", optarg);
				return 2;
			}
			break;
		default: return 2;
		}
	}
	if (optind < argc || !rule || from < 0 || to <= from) {
		fprintf(stderr, "vmeter-aggregator: backtest: --rule, --from and --to (after --from) are needed\n");
		return 2;
	}
	if (!agg_rules_find(rs, rule)) {
		fprintf(stderr, "vmeter-aggregator: backtest: no rule '%s' in %s\n", rule,
		        *s->rules ? s->rules : "(none)");
		return 2;
	}
	struct vm_pg *pg = connect_db(conf);
	if (!pg)
		return 1;
	char err[1024];
	int rc = agg_policy_backtest(pg, s, rs, rule, from, to, stdout, err, sizeof err);
	if (rc < 0)
		fprintf(stderr, "vmeter-aggregator: backtest: %s\n", err);
	vm_pg_free(pg);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *path = VM_CONF_DEFAULT_PATH;
	bool check = false, use_syslog = false, verbose = false;
	int opt;
	while ((opt = getopt(argc, argv, "+c:nsvVh")) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'n': check = true; break;
		case 's': use_syslog = true; break;
		case 'v': verbose = true; break;
		case 'V': printf("vmeter-aggregator %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	char err[1024];
	struct agg_settings s;
	struct vm_conf *conf = agg_settings_load(path, &s, err, sizeof err);
	if (!conf) {
		fprintf(stderr, "vmeter-aggregator: %s\n", err);
		return 2;
	}
	/* the rule files: programs checked where they run (the daemon, -n) */
	bool daemon = optind == argc;
	struct agg_ruleset *rs = agg_rules_load(s.rules, check || daemon, err, sizeof err);
	if (!rs) {
		fprintf(stderr, "vmeter-aggregator: %s\n", err);
		vm_conf_free(conf);
		return 2;
	}
	int rc;
	if (check) {
		printf("%s: configuration ok", path);
		if (*s.rules)
			printf("; %zu rules", rs->n_rules);
		printf("\n");
		rc = 0;
	} else if (daemon) {
		rc = agg_daemon_run(path, conf, &s, rs, use_syslog, verbose);
		conf = NULL; /* the daemon owns it (and its reloads) */
		rs = NULL;
	} else if (strcmp(argv[optind], "run") == 0) {
		rc = cmd_run(conf, &s, argc - optind, argv + optind);
	} else if (strcmp(argv[optind], "analysis") == 0) {
		rc = cmd_analysis(conf, argc - optind, argv + optind);
	} else if (strcmp(argv[optind], "figures") == 0) {
		rc = cmd_figures(conf, argc - optind, argv + optind);
	} else if (strcmp(argv[optind], "backtest") == 0) {
		rc = cmd_backtest(conf, &s, rs, argc - optind, argv + optind);
	} else {
		fprintf(stderr, "vmeter-aggregator: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		rc = 2;
	}
	agg_rules_free(rs);
	vm_conf_free(conf);
	return rc;
}
