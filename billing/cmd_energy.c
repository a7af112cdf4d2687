/* vmeter-bill energy and vmeter-bill grid load (cmd.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "draft.h"
#include "invoice.h"
#include "pgx.h"
#include "xalloc.h"

int bill_cmd_energy(const char *conf_path, int argc, char **argv)
{
	char first[11];
	const char *zone = "UTC";
	bool ok = argc >= 2 && strcmp(argv[0], "--month") == 0 && bill_period_parse(argv[1], first) == 0;
	if (ok && argc == 4 && strcmp(argv[2], "--zone") == 0)
		zone = argv[3];
	else if (argc != 2)
		ok = false;
	if (!ok) {
		fprintf(stderr, "vmeter-bill: energy: give --month YYYY-MM [--zone TZ]\n");
		return 2;
	}
	struct vm_pg *pg;
	int status = bill_cmd_db(conf_path, NULL, &pg);
	if (status)
		return status;
	const char *p[2] = {first, zone};
	PGresult *h = vm_pg_exec(pg,
	                         "SELECT host_id, (SELECT hostname FROM host x WHERE x.host_id = h.host_id), "
	                         "sum(minutes), sum(measured), sum(energy_uj), sum(carbon_ug) FROM bill_energy_host h "
	                         "WHERE time_zone = $2 AND day >= $1::date AND day < $1::date + interval '1 month' "
	                         "GROUP BY 1 ORDER BY 2",
	                         2, p);
	PGresult *s = h ? vm_pg_exec(pg,
	                             "SELECT host_id, part, vm_id, tenant, project, sum(energy_uj), sum(measured_uj), "
	                             "sum(carbon_ug) FROM bill_energy_share WHERE time_zone = $2 AND day >= $1::date "
	                             "AND day < $1::date + interval '1 month' GROUP BY 1, 2, 3, 4, 5 "
	                             "ORDER BY 1, part <> 'vm', 2, 4, 5, 3",
	                             2, p)
	                : NULL;
	if (!s) {
		fprintf(stderr, "vmeter-bill: reading the month's energy: %s\n", vm_pg_error(pg));
		PQclear(h);
		vm_pg_free(pg);
		return 1;
	}
	int rc = 0, j = 0;
	for (int i = 0; i < PQntuples(h); i++) {
		int64_t host = vm_pgx_int(h, i, 0), e = vm_pgx_int(h, i, 4), c = vm_pgx_int(h, i, 5);
		char kwh[48], kg[48];
		printf("host %s %s (%s): %s minutes, %s measured: %s kWh (%lld uJ), %s kg CO2e (%lld ug)\n",
		       PQgetvalue(h, i, 1), argv[1], zone, PQgetvalue(h, i, 2), PQgetvalue(h, i, 3),
		       vm_quantity_text(e, INT64_C(3600000000000), 6, kwh), (long long)e,
		       vm_quantity_text(c, 1000000000, 6, kg), (long long)c);
		int64_t se = 0, sc = 0;
		for (j = 0; j < PQntuples(s); j++) {
			if (vm_pgx_int(s, j, 0) != host)
				continue;
			int64_t pe = vm_pgx_int(s, j, 5), pc = vm_pgx_int(s, j, 7);
			se += pe;
			sc += pc;
			if (strcmp(PQgetvalue(s, j, 1), "vm") == 0)
				printf("  vm %s tenant '%s' project '%s': %lld uJ (%lld measured), %lld ug\n",
				       PQgetvalue(s, j, 2), PQgetvalue(s, j, 3), PQgetvalue(s, j, 4), (long long)pe,
				       (long long)vm_pgx_int(s, j, 6), (long long)pc);
			else
				printf("  %s: %lld uJ (%lld measured), %lld ug\n", PQgetvalue(s, j, 1), (long long)pe,
				       (long long)vm_pgx_int(s, j, 6), (long long)pc);
		}
		bool same = se == e && sc == c;
		printf("  parts = %lld uJ, %lld ug: %s\n", (long long)se, (long long)sc,
		       same ? "equals the host's" : "DIFFERS FROM THE HOST'S");
		if (!same)
			rc = 1;
	}
	PQclear(h);
	PQclear(s);
	vm_pg_free(pg);
	return rc;
}

/* "380", "380.25": a decimal with at most 3 places, in thousandths. */
static int parse_milli(const char *s, int64_t *out)
{
	int64_t v = 0;
	int dec = -1;
	bool any = false;
	for (; *s; s++) {
		if (*s == '.' && dec < 0) {
			dec = 0;
			continue;
		}
		if (*s < '0' || *s > '9' || dec >= 3 || v > INT64_MAX / 10000)
			return -1;
		v = v * 10 + (*s - '0');
		any = true;
		if (dec >= 0)
			dec++;
	}
	if (!any)
		return -1;
	for (int d = dec < 0 ? 0 : dec; d < 3; d++)
		v *= 10;
	*out = v;
	return 0;
}

/* FILE: "HOUR,G_PER_KWH" lines (an ISO 8601 hour with its offset,
 * "2026-10-01T00:00Z"), '#' comments and blank lines; a first line that
 * does not start with a digit is a header.  All or nothing. */
int bill_cmd_grid(const char *conf_path, int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[0], "load") != 0) {
		fprintf(stderr, "vmeter-bill: grid: give load REGION FILE\n");
		return 2;
	}
	const char *region = argv[1], *path = argv[2];
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "vmeter-bill: %s: %s\n", path, strerror(errno));
		return 1;
	}
	struct vm_pg *pg;
	int status = bill_cmd_db(conf_path, NULL, &pg);
	if (status) {
		fclose(f);
		return status;
	}
	char line[512];
	int no = 0, rows = 0, rc = 0;
	if (vm_pg_begin(pg) < 0)
		rc = -1;
	while (rc == 0 && fgets(line, sizeof line, f)) {
		no++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#' || (no == 1 && (line[0] < '0' || line[0] > '9')))
			continue;
		char *comma = strchr(line, ',');
		int64_t mg;
		if (!comma || parse_milli(comma + 1, &mg) < 0) {
			fprintf(stderr, "vmeter-bill: %s:%d: want HOUR,G_PER_KWH (2026-10-01T00:00Z,380.5), got '%s'\n",
			        path, no, line);
			rc = 1;
			break;
		}
		*comma = '\0';
		char mgs[24];
		snprintf(mgs, sizeof mgs, "%lld", (long long)mg);
		const char *p[3] = {region, line, mgs};
		if (vm_pg_cmd(pg,
		              "INSERT INTO bill_grid_hour (region, hour, mg_per_kwh) VALUES ($1, $2::timestamptz, $3) "
		              "ON CONFLICT (region, hour) DO UPDATE SET mg_per_kwh = EXCLUDED.mg_per_kwh",
		              3, p) < 0) {
			fprintf(stderr, "vmeter-bill: %s:%d: hour '%s': %s\n", path, no, line, vm_pg_error(pg));
			rc = 1;
			break;
		}
		rows++;
	}
	if (rc == 0 && ferror(f)) {
		fprintf(stderr, "vmeter-bill: %s: read error\n", path);
		rc = 1;
	}
	fclose(f);
	if (rc == 0 && vm_pg_commit(pg) < 0)
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "vmeter-bill: %s\n", vm_pg_error(pg));
	if (rc != 0)
		vm_pg_rollback(pg);
	else
		printf("grid '%s': %d hours loaded from %s (days already rated keep their carbon until re-rated)\n",
		       region, rows, path);
	vm_pg_free(pg);
	return rc ? 1 : 0;
}
