/* vmeter-bill: price plans, rating and invoices (issue 12; growing).
 *
 *   vmeter-bill [-c FILE] plans check FILE...
 *   vmeter-bill [-c FILE] plans load FILE...
 *   vmeter-bill [-c FILE] rate [--from DAY --to DAY --reason TEXT ...]
 *   vmeter-bill [-c FILE] invoice draft|list|finalise|credit|export ...
 *                                          (billing/cmd_invoice.c)
 *
 * It checks plan files the way the rater loads them: every file, then
 * what spans files, against the traffic classes of the configuration;
 * it prints what each plan and tenant holds. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd.h"
#include "conf.h"
#include "draft.h"
#include "hostcost.h"
#include "money.h"
#include "pg.h"
#include "plan.h"
#include "rater.h"
#include "store.h"
#include "xalloc.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: vmeter-bill [-c FILE] COMMAND [ARGS]\n"
	           "commands:\n"
	           "  plans check FILE...   check plan files (all of them together) and print what they hold;\n"
	           "                        net.CLASS meters are checked against the configuration's traffic\n"
	           "                        classes (-c FILE, default " VM_CONF_DEFAULT_PATH ")\n"
	           "  plans load FILE...    check them as above and make them the set the database prices with\n"
	           "                        (versions whose prices changed under the same label are kept as\n"
	           "                        new versions; what was rated before keeps the old one)\n"
	           "  rate                  rate what is due: local days the rollups' closed horizon reached\n"
	           "                        since they were rated, and days whose hours changed (late rows)\n"
	           "  rate --every SECONDS  rate what is due every SECONDS until SIGTERM (the rating daemon:\n"
	           "                        vmeter-bill-rate.service); one rating runs at a time\n"
	           "  rate --from DAY --to DAY --reason TEXT [--zone TZ] [--dry-run]\n"
	           "                        rate local days DAY..DAY (YYYY-MM-DD, both included) again, e.g.\n"
	           "                        after a price correction; --dry-run prints what would change and\n"
	           "                        writes nothing; finalised invoices never change (the difference\n"
	           "                        goes to the tenant's next invoice as adjustment lines)\n"
	           "  pools --month YYYY-MM  the month's shared host cost: each pool host's cost, the VMs' parts\n"
	           "                        (rounded once, conserved to the minor unit) and the idle rest\n"
	           "  energy --month YYYY-MM [--zone TZ]\n"
	           "                        each host's energy and carbon of the month (rated in zone TZ, default\n"
	           "                        UTC): the VMs' parts, idle and overhead, and whether they add up\n"
	           "  grid load REGION FILE  hourly carbon intensity of a grid (HOUR,G_PER_KWH lines)\n"
	           "  invoice draft --tenant T --period YYYY-MM\n"
	           "                        build (or rebuild) the tenant's draft for the month from what is rated\n"
	           "  invoice list [--tenant T] [--period YYYY-MM]\n"
	           "  invoice finalise ID [--issuer NAME]\n"
	           "                        check the draft and give it the issuer's next number\n"
	           "  invoice credit ID --reason TEXT [--line N]\n"
	           "                        issue a credit note for a final invoice (or one of its lines)\n"
	           "  invoice export ID --format csv|json|html|pdf [-o FILE]\n"
	           "exit status: 0 done, 1 a file was refused or the database failed, 2 a usage or configuration\n"
	           "error\n");
}

/* "2026-03-01" for a civil date, "2026-03-01T06:30Z" for a UTC minute. */
static const char *when_text(const struct bill_when *w, char *buf, size_t size)
{
	if (!w->set)
		return "(open)";
	time_t t = (time_t)(w->local ? w->t * 86400 : w->t);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, w->local ? "%Y-%m-%d" : "%Y-%m-%dT%H:%MZ", &tm);
	return buf;
}

static void print_plan(const struct bill_plan *p)
{
	char a[32], b[32], m[VM_MONEY_MAX_FORMAT];
	printf("%s:%d: plan '%s': %s, rounding %s, time-based charges count %s minutes, %zu version%s\n", p->file,
	       p->line, p->name, p->currency->code, vm_round_name(p->rounding),
	       p->time == BILL_TIME_RUNNING ? "running" : "defined", p->n_versions, p->n_versions == 1 ? "" : "s");
	for (size_t i = 0; i < p->n_versions; i++) {
		const struct bill_version *v = &p->versions[i];
		printf("  version '%s': from %s to %s, %zu charge%s", v->label, when_text(&v->from, a, sizeof a),
		       when_text(&v->to, b, sizeof b), v->n_charges, v->n_charges == 1 ? "" : "s");
		if (v->minimum.n)
			printf(", minimum %s", vm_money_format_exact(v->minimum, p->currency->digits, m));
		printf("\n");
		for (size_t j = 0; j < v->n_charges; j++) {
			const struct bill_charge *ch = &v->charges[j];
			if (ch->net_class)
				printf("    net.%s.%s", ch->net_class, ch->meter == BILL_NET_RX ? "rx" : "tx");
			else
				printf("    %s", bill_meter_name(ch->meter));
			if (ch->host_class)
				printf(" on host class %s", ch->host_class);
			printf(": ");
			if (ch->n_tiers) {
				printf("%s per %s:", ch->model == BILL_GRADUATED ? "graduated" : "volume",
				       ch->per_text);
				for (size_t k = 0; k < ch->n_tiers; k++) {
					printf(" %s",
					       vm_money_format_exact(ch->tiers[k].price, p->currency->digits, m));
					if (ch->tiers[k].upto != INT64_MAX)
						printf(" up to %lld", (long long)(ch->tiers[k].upto / ch->per));
					printf(k + 1 < ch->n_tiers ? "," : "\n");
				}
			} else {
				printf("%s %s per %s%s\n", vm_money_format_exact(ch->price, p->currency->digits, m),
				       p->currency->code, ch->model == BILL_PACKAGE ? "started package of " : "",
				       ch->per_text);
			}
		}
	}
}

static void print_tenant(const struct bill_tenant *t)
{
	char a[32], b[32];
	printf("%s:%d: tenant '%s': %s, months cut in %s%s\n", t->file, t->line, t->name, t->currency->code,
	       t->time_zone,
	       !t->showback        ? ""
	       : t->showback_costs ? ", showback (statements with costs, no invoices)"
	                           : ", showback (statements without money, no invoices)");
	for (size_t i = 0; i < t->n_assigns; i++) {
		const struct bill_assign *s = &t->assigns[i];
		printf("  plan '%s' for %s%s from %s to %s\n", s->plan, s->project ? "project " : "all projects",
		       s->project ? s->project : "", when_text(&s->from, a, sizeof a), when_text(&s->to, b, sizeof b));
	}
}

static int plans_check(const char *conf_path, bool conf_given, char **files, int n)
{
	char err[1024];
	struct bill_catalog *c = bill_catalog_new();
	struct stat st;
	if (conf_given || stat(conf_path, &st) == 0) {
		struct vm_conf *conf = vm_conf_load(conf_path, err, sizeof err);
		if (!conf) {
			fprintf(stderr, "vmeter-bill: %s\n", err);
			bill_catalog_free(c);
			return 2;
		}
		size_t nc;
		const char **names = bill_cmd_classes(conf, &nc);
		bill_catalog_set_classes(c, names, nc);
		free(names);
		vm_conf_free(conf);
	} else {
		fprintf(stderr, "vmeter-bill: no %s: net.CLASS meters are not checked against traffic classes\n",
		        conf_path);
	}
	int rc = 0;
	for (int i = 0; i < n; i++)
		if (bill_catalog_load(c, files[i], err, sizeof err) < 0) {
			fprintf(stderr, "vmeter-bill: %s\n", err);
			rc = 1;
		}
	if (rc == 0 && bill_catalog_check(c, err, sizeof err) < 0) {
		fprintf(stderr, "vmeter-bill: %s\n", err);
		rc = 1;
	}
	if (rc == 0) {
		size_t np, nt;
		const struct bill_plan *p = bill_catalog_plans(c, &np);
		const struct bill_tenant *t = bill_catalog_tenants(c, &nt);
		for (size_t i = 0; i < np; i++)
			print_plan(&p[i]);
		for (size_t i = 0; i < nt; i++)
			print_tenant(&t[i]);
		size_t nh, npo;
		const struct bill_host_class *h = bill_catalog_host_classes(c, &nh);
		const struct bill_pool_def *po = bill_catalog_pools(c, &npo);
		for (size_t i = 0; i < nh; i++) {
			printf("%s:%d: host class '%s':", h[i].file, h[i].line, h[i].name);
			for (size_t j = 0; j < h[i].n_globs; j++)
				printf(" %s", h[i].globs[j]);
			if (h[i].power)
				printf("; power %lld.%03lld-%lld.%03lld W by CPU use", (long long)(h[i].idle_mw / 1000),
				       (long long)(h[i].idle_mw % 1000), (long long)(h[i].max_mw / 1000),
				       (long long)(h[i].max_mw % 1000));
			if (h[i].grid)
				printf("; grid %s", h[i].grid);
			printf("\n");
		}
		size_t ng;
		const struct bill_grid *g = bill_catalog_grids(c, &ng);
		for (size_t i = 0; i < ng; i++)
			printf("%s:%d: grid '%s': %lld.%03lld g CO2e/kWh where no hour is loaded\n", g[i].file,
			       g[i].line, g[i].name, (long long)(g[i].mg_per_kwh / 1000),
			       (long long)(g[i].mg_per_kwh % 1000));
		static const char *const splits[] = {"allocation", "use", "the larger of allocation and use"};
		for (size_t i = 0; i < npo; i++) {
			char m[VM_MONEY_MAX_FORMAT];
			printf("%s:%d: pool '%s': hosts %s%s, months in %s, split by %s, idle cost %s\n", po[i].file,
			       po[i].line, po[i].name, po[i].host_class ? "of class " : "",
			       po[i].host_class ? po[i].host_class : "by name", po[i].time_zone, splits[po[i].split],
			       po[i].spread_idle ? "spread over the VMs" : "on a line of its own");
			for (size_t j = 0; j < po[i].n_costs; j++)
				printf("  cost '%s': %s %s a host and month\n", po[i].costs[j].label,
				       vm_money_format_exact(po[i].costs[j].month, po[i].currency->digits, m),
				       po[i].currency->code);
		}
		printf("%zu plan%s and %zu tenant%s in %d file%s: good\n", np, np == 1 ? "" : "s", nt,
		       nt == 1 ? "" : "s", n, n == 1 ? "" : "s");
	}
	bill_catalog_free(c);
	return rc;
}

static int plans_load(const char *conf_path, char **files, int n)
{
	struct vm_conf *conf;
	struct vm_pg *pg;
	int status = bill_cmd_db(conf_path, &conf, &pg);
	if (status)
		return status;
	size_t nc;
	const char **names = bill_cmd_classes(conf, &nc);
	char err[1024], *report;
	int rc = bill_store_load(pg, files, (size_t)n, names, nc, &report, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "vmeter-bill: %s\n", err);
	} else {
		fputs(report, stdout);
		printf("%d file%s loaded\n", n, n == 1 ? "" : "s");
		free(report);
	}
	free(names);
	vm_pg_free(pg);
	vm_conf_free(conf);
	return rc < 0 ? 1 : 0;
}

static void print_stats(const char *what, const struct bill_rate_stats *st)
{
	printf("%s: %d day%s rated, %lld quantities, %lld VM-days, %lld dirty hours taken, %lld VM-minutes under no "
	       "plan\n",
	       what, st->days, st->days == 1 ? "" : "s", (long long)st->rows, (long long)st->vm_days,
	       (long long)st->dirty, (long long)st->unpriced);
}

/* A YYYY-MM-DD date, checked by PostgreSQL's own date parser later; here
 * only its shape. */
static bool day_text(const char *s)
{
	int y, m, d;
	char tail;
	return s && strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 && m <= 12 &&
	       d >= 1 && d <= 31;
}

static int cmd_rate(const char *conf_path, int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *reason = NULL, *zone = NULL, *every = NULL;
	bool dry = false;
	static const struct option longopts[] = {{"from", required_argument, NULL, 'f'},
	                                         {"to", required_argument, NULL, 't'},
	                                         {"reason", required_argument, NULL, 'r'},
	                                         {"zone", required_argument, NULL, 'z'},
	                                         {"dry-run", no_argument, NULL, 'n'},
	                                         {"every", required_argument, NULL, 'e'},
	                                         {NULL, 0, NULL, 0}};
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'r': reason = optarg; break;
		case 'z': zone = optarg; break;
		case 'n': dry = true; break;
		case 'e': every = optarg; break;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmeter-bill: rate: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	bool range = from || to || reason || zone || dry;
	if (every) {
		char *end;
		long n = strtol(every, &end, 10);
		if (range || *end || end == every || n < 1 || n > 86400) {
			fprintf(stderr,
			        "vmeter-bill: rate: --every takes seconds, 1 to 86400, and no other option "
			        "(got '%s')\n",
			        every);
			return 2;
		}
		return bill_cmd_rate_every(conf_path, (int)n);
	}
	if (range && (!day_text(from) || !day_text(to))) {
		fprintf(stderr, "vmeter-bill: rate: --from and --to take a day, YYYY-MM-DD (got '%s' and '%s')\n",
		        from ? from : "", to ? to : "");
		return 2;
	}
	if (range && (!reason || !*reason)) {
		fprintf(stderr, "vmeter-bill: rate: rating days again needs --reason TEXT (it is recorded)\n");
		return 2;
	}
	struct vm_pg *pg;
	struct bill_store *s;
	int status = bill_cmd_store(conf_path, &pg, &s);
	if (status)
		return status;
	char err[1024];
	struct bill_rate_stats st = {0};
	/* one rating at a time: a run from cron while the daemon rates has
	 * nothing to do; a re-rating asked for by hand waits its turn */
	int got = bill_rate_lock(pg, range);
	if (got <= 0) {
		if (got < 0)
			fprintf(stderr, "vmeter-bill: rate: taking the rater's lock: %s\n", vm_pg_error(pg));
		else
			printf("rate: another vmeter-bill rate is running; nothing done\n");
		bill_store_free(s);
		vm_pg_free(pg);
		return got < 0 ? 1 : 0;
	}
	int rc = 0;
	if (!range) {
		rc = bill_rate_due(pg, s, &st, err, sizeof err);
		if (rc == 0)
			print_stats("rate", &st);
	} else {
		const char *p[3] = {from, to, zone};
		PGresult *r =
		    vm_pg_exec(pg,
		               "SELECT d::date::text FROM generate_series($1::date, $2::date, interval '1 day') d "
		               "WHERE $3::text IS NULL OR now() AT TIME ZONE $3 IS NOT NULL",
		               3, p);
		if (!r) {
			snprintf(err, sizeof err, "rate: %s", vm_pg_error(pg));
			rc = -1;
		} else if (PQntuples(r) == 0) {
			snprintf(err, sizeof err, "rate: --from %s is after --to %s", from, to);
			rc = -1;
		}
		size_t nz = 1;
		const char **zones = zone ? NULL : bill_rate_zones(s, &nz);
		char *text = NULL;
		size_t len = 0;
		FILE *out = vm_xmemstream(&text, &len);
		int changed = 0;
		for (size_t z = 0; z < nz && rc == 0; z++)
			for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
				int n = bill_rate_day(pg, s, zone ? zone : zones[z], PQgetvalue(r, i, 0),
				                      dry ? out : NULL, &st, err, sizeof err);
				if (n < 0)
					rc = -1;
				else
					changed += n;
			}
		vm_xmemclose(out);
		if (rc == 0) {
			char *summary =
			    dry ? vm_xasprintf("%d quantities would change", changed)
			        : vm_xasprintf("%d days rated, %lld quantities", st.days, (long long)st.rows);
			const char *q[6] = {from, to, zone, reason, dry ? "true" : "false", summary};
			if (vm_pg_cmd(
			        pg,
			        "INSERT INTO bill_rerate (range_from, range_to, time_zone, reason, dry_run, summary) "
			        "VALUES ($1, $2, $3, $4, $5, $6)",
			        6, q) < 0) {
				snprintf(err, sizeof err, "recording the re-rating: %s", vm_pg_error(pg));
				rc = -1;
			}
			fputs(text, stdout);
			if (dry)
				printf("dry run: %s; nothing written\n", summary);
			else
				print_stats("rate", &st);
			free(summary);
		}
		free(text);
		free(zones);
		PQclear(r);
	}
	if (rc < 0)
		fprintf(stderr, "vmeter-bill: %s\n", err);
	bill_store_free(s);
	vm_pg_free(pg);
	return rc < 0 ? 1 : 0;
}

static int cmd_pools(const char *conf_path, int argc, char **argv)
{
	char first[11];
	if (argc != 3 || strcmp(argv[1], "--month") != 0 || bill_period_parse(argv[2], first) < 0) {
		fprintf(stderr, "vmeter-bill: pools: give --month YYYY-MM%s%s%s\n", argc == 3 ? " (got '" : "",
		        argc == 3 ? argv[2] : "", argc == 3 ? "')" : "");
		return 2;
	}
	struct vm_pg *pg;
	struct bill_store *s;
	int status = bill_cmd_store(conf_path, &pg, &s);
	if (status)
		return status;
	char err[1024];
	struct bill_hostcost *h = NULL;
	size_t n = 0;
	int rc = bill_hostcost_month(pg, s, argv[2], &h, &n, err, sizeof err);
	if (rc < 0)
		fprintf(stderr, "vmeter-bill: %s\n", err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct bill_hostcost *x = &h[i];
		int d = x->pool->currency->digits;
		char a[VM_MONEY_MAX_FORMAT], b[VM_MONEY_MAX_FORMAT];
		vm_money sum = x->idle;
		printf("pool '%s' host %s %s: cost %s %s%s\n", x->pool->name, x->hostname, argv[2],
		       vm_money_format_exact(x->cost, d, a), x->pool->currency->code,
		       x->complete ? "" : " (the month is not rated through its end: parts are provisional)");
		for (size_t j = 0; j < x->n_parts; j++) {
			const struct bill_hostcost_part *p = &x->parts[j];
			printf("  vm %d tenant '%s' project '%s': %s\n", p->vm_id, p->tenant, p->project,
			       vm_money_format_exact(p->amount, d, a));
			vm_money_add(sum, p->amount, &sum);
		}
		printf("  idle: %s%s\n  parts + idle = %s: %s\n", vm_money_format_exact(x->idle, d, a),
		       x->pool->spread_idle ? " (spread over the VMs)" : "", vm_money_format_exact(sum, d, b),
		       sum.n == x->cost.n ? "equals the cost" : "DIFFERS FROM THE COST");
		if (sum.n != x->cost.n)
			rc = -1;
	}
	bill_hostcost_free(h, n);
	bill_store_free(s);
	vm_pg_free(pg);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *conf_path = VM_CONF_DEFAULT_PATH;
	bool conf_given = false;
	int opt;
	while ((opt = getopt(argc, argv, "+c:h")) != -1) {
		switch (opt) {
		case 'c':
			conf_path = optarg;
			conf_given = true;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind >= 2 && strcmp(argv[optind], "plans") == 0 && strcmp(argv[optind + 1], "check") == 0) {
		if (argc - optind < 3) {
			fprintf(stderr, "vmeter-bill: plans check: name at least one plan file\n");
			return 2;
		}
		return plans_check(conf_path, conf_given, argv + optind + 2, argc - optind - 2);
	}
	if (argc - optind >= 2 && strcmp(argv[optind], "plans") == 0 && strcmp(argv[optind + 1], "load") == 0) {
		if (argc - optind < 3) {
			fprintf(stderr, "vmeter-bill: plans load: name at least one plan file\n");
			return 2;
		}
		return plans_load(conf_path, argv + optind + 2, argc - optind - 2);
	}
	if (optind < argc && strcmp(argv[optind], "pools") == 0)
		return cmd_pools(conf_path, argc - optind, argv + optind);
	if (optind < argc && strcmp(argv[optind], "rate") == 0)
		return cmd_rate(conf_path, argc - optind, argv + optind);
	if (optind < argc && strcmp(argv[optind], "energy") == 0)
		return bill_cmd_energy(conf_path, argc - optind - 1, argv + optind + 1);
	if (optind < argc && strcmp(argv[optind], "grid") == 0)
		return bill_cmd_grid(conf_path, argc - optind - 1, argv + optind + 1);
	if (argc - optind >= 1 && strcmp(argv[optind], "invoice") == 0)
		return bill_cmd_invoice(conf_path, argc - optind - 1, argv + optind + 1);
	if (optind < argc)
		fprintf(stderr, "vmeter-bill: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return 2;
}
