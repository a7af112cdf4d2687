/* vmeter-report: reports for people (issue 15; growing).
 *
 *   vmeter-report [-c FILE] chargeback --tenant T --month YYYY-MM [--draft]
 *                 [--format html|csv|json|pdf] [-o FILE]
 *   vmeter-report [-c FILE] due [--dir DIR]
 *   vmeter-report [-c FILE] list [--tenant T]
 *   vmeter-report [-c FILE] get ID [-o FILE]
 *   vmeter-report [-c FILE] capacity --period FROM..TO | --month YYYY-MM | --last N(h|d)
 *                 [--group host|class|tenant] [--host H] [--tenant T]
 *                 [--format html|csv|json|pdf] [-o FILE]
 *                 [--what-if add=N:VCPUS:MEM_GIB | remove-host=H]...
 *
 * The chargeback report reads a tenant's finalised invoice (or showback
 * statement) of a month and writes it summed up (reports/chargeback.h);
 * `due` keeps each finalised month's report in the database (and a
 * directory) once (reports/keep.h); the capacity report reads the fleet's
 * hourly rollups (reports/capacity.h).  No floating point here
 * (tests/integration/nofloat.sh). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capacity.h"
#include "chargeback.h"
#include "conf.h"
#include "keep.h"
#include "pg.h"
#include "fsutil.h"
#include "xalloc.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: vmeter-report [-c FILE] [-n] COMMAND [ARGS]\n"
	       "commands:\n"
	       "  chargeback --tenant T --month YYYY-MM [--draft] [--format html|csv|json|pdf] [-o FILE]\n"
	       "                        the tenant's month from its finalised invoice (or showback statement):\n"
	       "                        totals by project with the month before, by meter, the top VMs, shared\n"
	       "                        host cost and its idle share, energy and carbon, coverage and gaps;\n"
	       "                        HTML by default, to standard output unless -o (PDF needs -o);\n"
	       "                        --draft: from the month's draft if it is not final yet (a preview)\n"
	       "  capacity --period FROM..TO | --month YYYY-MM | --last N(h|d) [--group host|class|tenant] [--host H]\n"
	       "           [--tenant T] [--format html|csv|json|pdf] [-o FILE]\n"
	       "           [--what-if add=N:VCPUS:MEM_GIB[:DISK_GIB] | --what-if remove-host=H]...\n"
	       "                        utilisation, overcommit, usable capacity after the HA reserve and buffer,\n"
	       "                        headroom, time remaining (forecasts), reclaimable VMs and what-if, over\n"
	       "                        UTC days FROM to TO (both included), a UTC month, or the last N hours\n"
	       "                        (h) or days (d) the rollups have closed\n"
	       "  due [--dir DIR]       keep the chargeback report of every finalised month (made again only\n"
	       "                        when a credit note changed it) and the fleet's capacity report of every\n"
	       "                        closed UTC month in the database (and DIR/TENANT/YYYY-MM/chargeback.FORMAT,\n"
	       "                        DIR/%%fleet/YYYY-MM/capacity.FORMAT); vmeter-report.timer runs it daily\n"
	       "  list [--tenant T]     the kept reports: id, kind, tenant, month, format, size, made, source\n"
	       "  get ID [-o FILE]      a kept report's file\n"
	       "options:\n"
	       "  -c FILE               the configuration (default " VM_CONF_DEFAULT_PATH ")\n"
	       "  -n                    check the configuration and exit\n"
	       "exit status: 0 done, 1 refused (unknown tenant or host, no final invoice, no data, the database, the\n"
	       "output file), 2 a usage error (an option, the month or period, a future one, the format, a what-if)\n"
	       "or the configuration\n");
}

enum format { F_HTML, F_CSV, F_JSON, F_PDF };

/* A report's writers, whatever the report. */
struct writers {
	int (*text)(const void *r, enum format fmt, FILE *f);
	int (*pdf)(const void *r, const char *path, int *pages, char *err, size_t errsize);
};

static int cb_text(const void *r, enum format fmt, FILE *f)
{
	return fmt == F_CSV ? rep_cb_csv(r, f) : fmt == F_JSON ? rep_cb_json(r, f) : rep_cb_html(r, f);
}

static int cb_pdf(const void *r, const char *path, int *pages, char *err, size_t errsize)
{
	return rep_cb_pdf(r, path, pages, err, errsize);
}

static int cap_text(const void *r, enum format fmt, FILE *f)
{
	return fmt == F_CSV ? rep_cap_csv(r, f) : fmt == F_JSON ? rep_cap_json(r, f) : rep_cap_html(r, f);
}

static int cap_pdf(const void *r, const char *path, int *pages, char *err, size_t errsize)
{
	return rep_cap_pdf(r, path, pages, err, errsize);
}

static const struct writers cb_writers = {cb_text, cb_pdf}, cap_writers = {cap_text, cap_pdf};

/* Writes the report to path (or stdout): through path.tmp, renamed once
 * whole, so that a failed report leaves no half file. */
static int write_report(const void *r, const struct writers *w, enum format fmt, const char *path)
{
	char err[1024];
	if (fmt == F_PDF) {
		int pages;
		if (w->pdf(r, path, &pages, err, sizeof err) < 0) {
			fprintf(stderr, "vmeter-report: %s\n", err);
			return EXIT_REFUSED;
		}
		printf("%s: %d page%s\n", path, pages, pages == 1 ? "" : "s");
		return 0;
	}
	char *tmp = path ? vm_xasprintf("%s.tmp", path) : NULL;
	FILE *f = tmp ? fopen(tmp, "w") : stdout;
	if (!f) {
		fprintf(stderr, "vmeter-report: cannot write '%s': %s\n", tmp, strerror(errno));
		free(tmp);
		return EXIT_REFUSED;
	}
	int rc = w->text(r, fmt, f);
	int e = rc < 0 || ferror(f) ? (errno ? errno : EIO) : 0;
	if (tmp) {
		if (fclose(f) != 0 && !e)
			e = errno;
		if (!e && rename(tmp, path) < 0)
			e = errno;
		if (e)
			unlink(tmp);
	} else if (fflush(f) != 0 && !e) {
		e = errno;
	}
	if (e)
		fprintf(stderr, "vmeter-report: cannot write '%s': %s\n", path ? path : "standard output", strerror(e));
	free(tmp);
	return e ? EXIT_REFUSED : 0;
}

/* Can path be written?  Tried before the database is: path.tmp is made
 * and removed again. */
static int check_output(const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		fprintf(stderr, "vmeter-report: cannot write '%s': %s\n", path, strerror(EISDIR));
		return -1;
	}
	char *tmp = vm_xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	int e = f ? 0 : errno;
	if (f) {
		fclose(f);
		unlink(tmp);
	}
	free(tmp);
	if (e) {
		fprintf(stderr, "vmeter-report: cannot write '%s': %s\n", path, strerror(e));
		return -1;
	}
	return 0;
}

/* The database of the configuration at conf_path, connected and of this
 * program's schema: 0 with *pg (and the configuration in *keep, if not
 * NULL: the caller frees it), or the exit status with why printed. */
static int connect_db(const char *conf_path, struct vm_pg **pg, struct vm_conf **keep)
{
	char err[2048];
	struct vm_conf *conf = vm_conf_load_program(conf_path, &rep_conf_program, err, sizeof err);
	if (!conf) {
		fprintf(stderr, "vmeter-report: %s\n", err);
		return EXIT_USAGE;
	}
	*pg = vm_pg_new(conf->db_conninfo, 0, -1);
	if (keep)
		*keep = conf;
	else
		vm_conf_free(conf);
	if (vm_pg_connect(*pg) < 0 || vm_pg_check_schema(*pg) < 0) {
		fprintf(stderr, "vmeter-report: %s\n", vm_pg_error(*pg));
		vm_pg_free(*pg);
		if (keep)
			vm_conf_free(*keep);
		return EXIT_REFUSED;
	}
	return 0;
}

static int cmd_chargeback(const char *conf_path, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"tenant", required_argument, NULL, 't'}, {"month", required_argument, NULL, 'm'},
	    {"format", required_argument, NULL, 'f'}, {"output", required_argument, NULL, 'o'},
	    {"draft", no_argument, NULL, 'd'},        {NULL, 0, NULL, 0}};
	const char *tenant = NULL, *month = NULL, *format = "html", *out = NULL;
	bool draft = false;
	optind = 0; /* 0, not 1: GNU getopt starts afresh (main's "+" and its state) */
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (c) {
		case 't': tenant = optarg; break;
		case 'm': month = optarg; break;
		case 'f': format = optarg; break;
		case 'o': out = optarg; break;
		case 'd': draft = true; break;
		default:
			fprintf(stderr, "vmeter-report: chargeback: unknown option or missing value: '%s'\n",
			        argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmeter-report: chargeback: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (!tenant || !*tenant) {
		fprintf(stderr, "vmeter-report: chargeback: give the tenant: --tenant T\n");
		return EXIT_USAGE;
	}
	char month1[11];
	if (!month) {
		fprintf(stderr, "vmeter-report: chargeback: give the month: --month YYYY-MM\n");
		return EXIT_USAGE;
	}
	if (rep_cb_month_parse(month, month1) < 0) {
		fprintf(stderr, "vmeter-report: chargeback: month '%s' is not a month YYYY-MM (01 to 12, from 1970)\n",
		        month);
		return EXIT_USAGE;
	}
	static const char *const names[] = {"html", "csv", "json", "pdf"};
	enum format fmt = F_HTML;
	while (fmt <= F_PDF && strcmp(format, names[fmt]) != 0)
		fmt++;
	if (fmt > F_PDF) {
		fprintf(stderr, "vmeter-report: chargeback: format '%s' is not one of html, csv, json, pdf\n", format);
		return EXIT_USAGE;
	}
	if (fmt == F_PDF && !out) {
		fprintf(stderr, "vmeter-report: chargeback: a PDF is written to a file: give -o FILE\n");
		return EXIT_USAGE;
	}
	if (out && check_output(out) < 0)
		return EXIT_REFUSED;

	char err[2048];
	struct vm_pg *pg;
	int st = connect_db(conf_path, &pg, NULL);
	if (st)
		return st;
	struct rep_cb *r;
	int rc = rep_cb_load(pg, tenant, month, draft, &r, err, sizeof err);
	vm_pg_free(pg);
	if (rc < 0) {
		fprintf(stderr, "vmeter-report: chargeback: %s\n", err);
		return rc == -REP_CB_NOT_OVER ? EXIT_USAGE : EXIT_REFUSED;
	}
	int status = write_report(r, &cb_writers, fmt, out);
	rep_cb_free(r);
	return status;
}

static int parse_format(const char *cmd, const char *format, enum format *fmt)
{
	static const char *const names[] = {"html", "csv", "json", "pdf"};
	*fmt = F_HTML;
	while (*fmt <= F_PDF && strcmp(format, names[*fmt]) != 0)
		(*fmt)++;
	if (*fmt > F_PDF) {
		fprintf(stderr, "vmeter-report: %s: format '%s' is not one of html, csv, json, pdf\n", cmd, format);
		return -1;
	}
	return 0;
}

static int cmd_capacity(const char *conf_path, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"period", required_argument, NULL, 'p'},  {"month", required_argument, NULL, 'm'},
	    {"last", required_argument, NULL, 'l'},    {"group", required_argument, NULL, 'g'},
	    {"host", required_argument, NULL, 'H'},    {"tenant", required_argument, NULL, 't'},
	    {"format", required_argument, NULL, 'f'},  {"output", required_argument, NULL, 'o'},
	    {"what-if", required_argument, NULL, 'w'}, {NULL, 0, NULL, 0}};
	const char *period = NULL, *month = NULL, *last = NULL, *group = "host", *format = "html", *out = NULL;
	struct rep_cap_params p = {0};
	char err[2048];
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': period = optarg; break;
		case 'm': month = optarg; break;
		case 'l': last = optarg; break;
		case 'g': group = optarg; break;
		case 'H': p.host = optarg; break;
		case 't': p.tenant = optarg; break;
		case 'f': format = optarg; break;
		case 'o': out = optarg; break;
		case 'w':
			if (p.n_whatif == REP_CAP_MAX_WHATIF) {
				fprintf(stderr, "vmeter-report: capacity: at most %d --what-if steps\n",
				        REP_CAP_MAX_WHATIF);
				return EXIT_USAGE;
			}
			if (rep_cap_whatif_parse(optarg, &p.whatif[p.n_whatif++], err, sizeof err) < 0) {
				fprintf(stderr, "vmeter-report: capacity: %s\n", err);
				return EXIT_USAGE;
			}
			break;
		default:
			fprintf(stderr, "vmeter-report: capacity: unknown option or missing value: '%s'\n",
			        argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmeter-report: capacity: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if ((period != NULL) + (month != NULL) + (last != NULL) != 1) {
		fprintf(stderr,
		        "vmeter-report: capacity: give the period: --period FROM..TO, --month YYYY-MM or --last "
		        "N(h|d)\n");
		return EXIT_USAGE;
	}
	if (last ? rep_cap_last_parse(last, &p, err, sizeof err) < 0
	         : rep_cap_period_parse(period, month, &p, err, sizeof err) < 0) {
		fprintf(stderr, "vmeter-report: capacity: %s\n", err);
		return EXIT_USAGE;
	}
	static const char *const groups[] = {"host", "class", "tenant"};
	size_t g = 0;
	while (g < 3 && strcmp(group, groups[g]) != 0)
		g++;
	if (g == 3) {
		fprintf(stderr, "vmeter-report: capacity: group '%s' is not one of host, class, tenant\n", group);
		return EXIT_USAGE;
	}
	p.group = (enum rep_cap_group)g;
	if ((p.host && !*p.host) || (p.tenant && !*p.tenant)) {
		fprintf(stderr, "vmeter-report: capacity: --host and --tenant take a name\n");
		return EXIT_USAGE;
	}
	enum format fmt;
	if (parse_format("capacity", format, &fmt) < 0)
		return EXIT_USAGE;
	if (fmt == F_PDF && !out) {
		fprintf(stderr, "vmeter-report: capacity: a PDF is written to a file: give -o FILE\n");
		return EXIT_USAGE;
	}
	if (out && check_output(out) < 0)
		return EXIT_REFUSED;
	struct vm_conf *conf = vm_conf_load_program(conf_path, &rep_conf_program, err, sizeof err);
	if (!conf) {
		fprintf(stderr, "vmeter-report: %s\n", err);
		return EXIT_USAGE;
	}
	p.conf = conf->program_values;
	p.now = (int64_t)time(NULL);
	struct vm_pg *pg = vm_pg_new(conf->db_conninfo, 0, -1);
	if (vm_pg_connect(pg) < 0 || vm_pg_check_schema(pg) < 0) {
		fprintf(stderr, "vmeter-report: %s\n", vm_pg_error(pg));
		vm_pg_free(pg);
		vm_conf_free(conf);
		return EXIT_REFUSED;
	}
	if (p.last_hours && rep_cap_last_resolve(pg, &p, err, sizeof err) < 0) {
		fprintf(stderr, "vmeter-report: capacity: %s\n", err);
		vm_pg_free(pg);
		vm_conf_free(conf);
		return EXIT_REFUSED;
	}
	struct rep_cap *r;
	int rc = rep_cap_load(pg, &p, &r, err, sizeof err);
	vm_pg_free(pg);
	if (rc < 0) {
		fprintf(stderr, "vmeter-report: capacity: %s\n", err);
		vm_conf_free(conf);
		return rc == -REP_CAP_EUSAGE ? EXIT_USAGE : EXIT_REFUSED;
	}
	int status = write_report(r, &cap_writers, fmt, out);
	rep_cap_free(r);
	vm_conf_free(conf);
	return status;
}

/* The options of due, list and get: --dir, --tenant, -o, each where its
 * slot is given (not NULL), and arg the one argument (get's id); what
 * else is given is refused.  Returns 0 or EXIT_USAGE. */
static int keep_opts(const char *cmd, int argc, char **argv, const char **dir, const char **tenant, const char **out,
                     const char **arg)
{
	static const struct option longopts[] = {{"dir", required_argument, NULL, 'D'},
	                                         {"tenant", required_argument, NULL, 't'},
	                                         {"output", required_argument, NULL, 'o'},
	                                         {NULL, 0, NULL, 0}};
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		const char **slot = c == 'D' ? dir : c == 't' ? tenant : c == 'o' ? out : NULL;
		if (!slot && (c == 'D' || c == 't' || c == 'o')) {
			fprintf(stderr, "vmeter-report: %s: %s is not an option of %s\n", cmd,
			        c == 'D'   ? "--dir"
			        : c == 't' ? "--tenant"
			                   : "-o",
			        cmd);
			return EXIT_USAGE;
		}
		if (!slot) {
			fprintf(stderr, "vmeter-report: %s: unknown option or missing value: '%s'\n", cmd,
			        argv[optind - 1]);
			return EXIT_USAGE;
		}
		*slot = optarg;
	}
	if (arg && optind < argc)
		*arg = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "vmeter-report: %s: unexpected argument '%s'\n", cmd, argv[optind]);
		return EXIT_USAGE;
	}
	return 0;
}

static int cmd_keep(const char *conf_path, const char *cmd, int argc, char **argv)
{
	const char *dir = NULL, *tenant = NULL, *out = NULL, *id = NULL;
	bool due = strcmp(cmd, "due") == 0, list = strcmp(cmd, "list") == 0;
	bool get = !due && !list;
	int st =
	    keep_opts(cmd, argc, argv, due ? &dir : NULL, list ? &tenant : NULL, get ? &out : NULL, get ? &id : NULL);
	if (st)
		return st;
	if (get && (!id || !*id || strspn(id, "0123456789") != strlen(id) || strlen(id) > 18)) {
		fprintf(stderr, "vmeter-report: get: give the id of a kept report (vmeter-report list): '%s'\n",
		        id ? id : "");
		return EXIT_USAGE;
	}
	if (dir && vm_mkdir_p(dir, 0755) < 0) {
		fprintf(stderr, "vmeter-report: due: cannot make '%s': %s\n", dir, strerror(errno));
		return EXIT_REFUSED;
	}
	if (out && check_output(out) < 0)
		return EXIT_REFUSED;
	struct vm_pg *pg;
	struct vm_conf *conf;
	st = connect_db(conf_path, &pg, &conf);
	if (st)
		return st;
	char err[2048];
	int rc;
	if (due) {
		struct rep_keep_stats ks;
		rc = rep_keep_due(pg, conf->program_values, dir, &ks, err, sizeof err);
		printf("due: %d report%s made (%d file%s written), %d up to date\n", ks.made, ks.made == 1 ? "" : "s",
		       ks.files, ks.files == 1 ? "" : "s", ks.up_to_date);
	} else if (list) {
		rc = rep_keep_list(pg, tenant, stdout, err, sizeof err);
	} else {
		char *tmp = out ? vm_xasprintf("%s.tmp", out) : NULL;
		FILE *f = tmp ? fopen(tmp, "w") : stdout;
		if (!f) {
			fprintf(stderr, "vmeter-report: get: cannot write '%s': %s\n", tmp, strerror(errno));
			free(tmp);
			vm_pg_free(pg);
			vm_conf_free(conf);
			return EXIT_REFUSED;
		}
		rc = rep_keep_get(pg, id, f, err, sizeof err);
		if (rc == 1)
			snprintf(err, sizeof err, "no kept report %s (vmeter-report list)", id);
		int e = ferror(f) ? EIO : 0;
		if (tmp) {
			if (fclose(f) != 0 && !e)
				e = errno;
			if (rc == 0 && !e && rename(tmp, out) < 0)
				e = errno;
			if (rc != 0 || e)
				unlink(tmp);
		} else if (fflush(f) != 0 && !e) {
			e = errno;
		}
		free(tmp);
		if (rc == 0 && e) {
			snprintf(err, sizeof err, "cannot write '%s': %s", out ? out : "standard output", strerror(e));
			rc = -1;
		}
	}
	vm_pg_free(pg);
	vm_conf_free(conf);
	if (rc != 0) {
		fprintf(stderr, "vmeter-report: %s: %s\n", cmd, err);
		return EXIT_REFUSED;
	}
	return 0;
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
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (check) {
		char err[2048];
		struct vm_conf *conf = vm_conf_load_program(conf_path, &rep_conf_program, err, sizeof err);
		if (!conf) {
			fprintf(stderr, "vmeter-report: %s\n", err);
			return EXIT_USAGE;
		}
		vm_conf_free(conf);
		printf("%s: configuration ok\n", conf_path);
		return 0;
	}
	if (optind < argc && strcmp(argv[optind], "chargeback") == 0)
		return cmd_chargeback(conf_path, argc - optind, argv + optind);
	if (optind < argc &&
	    (strcmp(argv[optind], "due") == 0 || strcmp(argv[optind], "list") == 0 || strcmp(argv[optind], "get") == 0))
		return cmd_keep(conf_path, argv[optind], argc - optind, argv + optind);
	if (optind < argc && strcmp(argv[optind], "capacity") == 0)
		return cmd_capacity(conf_path, argc - optind, argv + optind);
	if (optind < argc)
		fprintf(stderr, "vmeter-report: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
