/* Plan files in the database: see store.h. */
#include "config.h"

#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "xalloc.h"

#define MAX_PLAN_FILE (16u << 20)

/* The id of a version's content, its row made if it is new; *status says
 * "new", "changed" (another content had the label) or "unchanged". */
static int version_row(struct vm_pg *pg, const struct bill_plan *p, size_t vi, const char **status, char *err,
                       size_t errsize)
{
	char *text = bill_version_text(p, vi);
	const char *params[4] = {p->name, p->versions[vi].label, text, p->currency->code};
	PGresult *res =
	    vm_pg_exec(pg,
	               "WITH old AS (SELECT count(*) AS n FROM bill_version WHERE plan = $1 AND label = $2), "
	               "ins AS (INSERT INTO bill_version (plan, label, digest, currency, description) "
	               "VALUES ($1, $2, md5($3), $4, $3) ON CONFLICT DO NOTHING RETURNING version_id) "
	               "SELECT version_id, (SELECT n FROM old), true FROM ins "
	               "UNION ALL SELECT version_id, 0, false FROM bill_version "
	               "WHERE plan = $1 AND label = $2 AND digest = md5($3)",
	               4, params);
	free(text);
	if (!res)
		return vm_pg_fail(pg, "storing a plan version", err, errsize);
	int id = -1;
	if (PQntuples(res) >= 1) {
		id = atoi(PQgetvalue(res, 0, 0));
		bool inserted = PQgetvalue(res, 0, 2)[0] == 't';
		*status = !inserted ? "unchanged" : atoi(PQgetvalue(res, 0, 1)) > 0 ? "changed" : "new";
	} else {
		snprintf(err, errsize, "plan '%s' version '%s': no row stored", p->name, p->versions[vi].label);
	}
	PQclear(res);
	return id;
}

int bill_store_load(struct vm_pg *pg, char *const *paths, size_t n, const char *const *classes, size_t n_classes,
                    char **report, char *err, size_t errsize)
{
	*report = NULL;
	struct bill_catalog *c = bill_catalog_new();
	if (classes)
		bill_catalog_set_classes(c, classes, n_classes);
	char **bodies = vm_xcalloc(n ? n : 1, sizeof *bodies);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t len;
		bodies[i] = vm_read_file(paths[i], MAX_PLAN_FILE, &len);
		if (!bodies[i]) {
			snprintf(err, errsize, "%s: %s", paths[i],
			         errno == EFBIG ? "larger than 16 MiB: not a plan file" : strerror(errno));
			rc = -1;
		} else if (memchr(bodies[i], '\0', len)) {
			snprintf(err, errsize, "%s: holds a NUL byte: not a plan file", paths[i]);
			rc = -1;
		} else {
			/* the text stored is the text checked */
			rc = bill_catalog_parse(c, paths[i], bodies[i], len, err, errsize);
		}
	}
	if (rc == 0)
		rc = bill_catalog_check(c, err, errsize);
	char *text = NULL;
	size_t text_len = 0;
	FILE *rep = NULL;
	if (rc == 0 && vm_pg_begin(pg) < 0)
		rc = vm_pg_fail(pg, "beginning the load", err, errsize);
	if (rc == 0) {
		rep = vm_xmemstream(&text, &text_len);
		/* one load at a time: the stored set is one set */
		if (vm_pg_cmd(pg, "LOCK TABLE bill_source IN EXCLUSIVE MODE", 0, NULL) < 0 ||
		    vm_pg_cmd(pg, "DELETE FROM bill_source", 0, NULL) < 0 ||
		    vm_pg_cmd(pg, "DELETE FROM bill_tenant", 0, NULL) < 0)
			rc = vm_pg_fail(pg, "replacing the stored plan files", err, errsize);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *params[2] = {paths[i], bodies[i]};
		if (vm_pg_cmd(pg, "INSERT INTO bill_source (file, body, digest) VALUES ($1, $2, md5($2))", 2, params) <
		    0)
			rc = vm_pg_fail(pg, "storing a plan file", err, errsize);
	}
	size_t np = 0, nt = 0;
	const struct bill_plan *plans = bill_catalog_plans(c, &np);
	const struct bill_tenant *tenants = bill_catalog_tenants(c, &nt);
	for (size_t i = 0; i < np && rc == 0; i++)
		for (size_t j = 0; j < plans[i].n_versions && rc == 0; j++) {
			const char *status = "";
			int id = version_row(pg, &plans[i], j, &status, err, errsize);
			if (id < 0)
				rc = -1;
			else
				fprintf(rep, "plan '%s' version '%s': %s (id %d)\n", plans[i].name,
				        plans[i].versions[j].label, status, id);
		}
	for (size_t i = 0; i < nt && rc == 0; i++) {
		const char *params[5] = {tenants[i].name, tenants[i].currency->code, tenants[i].time_zone,
		                         tenants[i].showback ? "true" : "false",
		                         tenants[i].showback_costs ? "true" : "false"};
		if (vm_pg_cmd(pg,
		              "INSERT INTO bill_tenant (tenant, currency, time_zone, showback, showback_costs) "
		              "VALUES ($1, $2, $3, $4, $5)",
		              5, params) < 0)
			rc = vm_pg_fail(pg, "storing a tenant", err, errsize);
	}
	if (rc == 0 && vm_pg_commit(pg) < 0)
		rc = vm_pg_fail(pg, "committing the load", err, errsize);
	if (rc < 0)
		vm_pg_rollback(pg);
	if (rep) {
		vm_xmemclose(rep);
		if (rc == 0)
			*report = text;
		else
			free(text);
	}
	for (size_t i = 0; i < n; i++)
		free(bodies[i]);
	free(bodies);
	bill_catalog_free(c);
	return rc;
}

struct cached {
	int id;
	struct bill_catalog *c;
};

struct bill_store {
	struct bill_catalog *c;
	int **ids; /* [plan][version] */
	size_t n_plans;
	struct cached *cache;
	size_t n_cache, cap_cache;
};

void bill_store_free(struct bill_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_plans; i++)
		free(s->ids[i]);
	free(s->ids);
	for (size_t i = 0; i < s->n_cache; i++)
		bill_catalog_free(s->cache[i].c);
	free(s->cache);
	bill_catalog_free(s->c);
	free(s);
}

struct bill_store *bill_store_open(struct vm_pg *pg, char *err, size_t errsize)
{
	PGresult *res = vm_pg_exec(pg, "SELECT file, body FROM bill_source ORDER BY file", 0, NULL);
	if (!res) {
		vm_pg_fail(pg, "reading the stored plan files", err, errsize);
		return NULL;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		snprintf(err, errsize, "no plan files are loaded (vmeter-bill plans load FILE...)");
		return NULL;
	}
	struct bill_store *s = vm_xcalloc(1, sizeof *s);
	s->c = bill_catalog_new();
	int rc = 0;
	for (int i = 0; i < PQntuples(res) && rc == 0; i++)
		rc = bill_catalog_parse(s->c, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		                        (size_t)PQgetlength(res, i, 1), err, errsize);
	PQclear(res);
	if (rc == 0)
		rc = bill_catalog_check(s->c, err, errsize);
	const struct bill_plan *plans = bill_catalog_plans(s->c, &s->n_plans);
	s->ids = vm_xcalloc(s->n_plans ? s->n_plans : 1, sizeof *s->ids);
	for (size_t i = 0; i < s->n_plans && rc == 0; i++) {
		s->ids[i] = vm_xcalloc(plans[i].n_versions ? plans[i].n_versions : 1, sizeof **s->ids);
		for (size_t j = 0; j < plans[i].n_versions && rc == 0; j++) {
			char *text = bill_version_text(&plans[i], j);
			const char *params[3] = {plans[i].name, plans[i].versions[j].label, text};
			res = vm_pg_exec(
			    pg,
			    "SELECT version_id FROM bill_version WHERE plan = $1 AND label = $2 AND digest = "
			    "md5($3)",
			    3, params);
			free(text);
			if (!res) {
				rc = vm_pg_fail(pg, "reading plan versions", err, errsize);
			} else if (PQntuples(res) != 1) {
				snprintf(
				    err, errsize,
				    "plan '%s' version '%s' has no stored row: load the plan files again (vmeter-bill "
				    "plans load)",
				    plans[i].name, plans[i].versions[j].label);
				rc = -1;
			} else {
				s->ids[i][j] = atoi(PQgetvalue(res, 0, 0));
			}
			PQclear(res);
		}
	}
	if (rc < 0) {
		bill_store_free(s);
		return NULL;
	}
	return s;
}

const struct bill_catalog *bill_store_catalog(const struct bill_store *s)
{
	return s->c;
}

int bill_store_version_id(const struct bill_store *s, const struct bill_plan *p, size_t vi)
{
	size_t np;
	const struct bill_plan *plans = bill_catalog_plans(s->c, &np);
	size_t i = (size_t)(p - plans);
	return i < np && vi < p->n_versions ? s->ids[i][vi] : -1;
}

const struct bill_plan *bill_store_version(struct bill_store *s, struct vm_pg *pg, int version_id, char *err,
                                           size_t errsize)
{
	for (size_t i = 0; i < s->n_cache; i++)
		if (s->cache[i].id == version_id) {
			size_t n;
			return bill_catalog_plans(s->cache[i].c, &n);
		}
	char idtext[16];
	snprintf(idtext, sizeof idtext, "%d", version_id);
	const char *params[1] = {idtext};
	PGresult *res = vm_pg_exec(pg, "SELECT description FROM bill_version WHERE version_id = $1", 1, params);
	if (!res) {
		vm_pg_fail(pg, "reading a plan version", err, errsize);
		return NULL;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		snprintf(err, errsize, "plan version id %d does not exist", version_id);
		return NULL;
	}
	struct bill_catalog *c = bill_catalog_new();
	char name[48];
	snprintf(name, sizeof name, "(plan version %d)", version_id);
	int rc = bill_catalog_parse(c, name, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), err, errsize);
	PQclear(res);
	size_t n = 0;
	const struct bill_plan *p = rc == 0 ? bill_catalog_plans(c, &n) : NULL;
	if (rc < 0 || n != 1 || p->n_versions != 1) {
		if (rc == 0)
			snprintf(err, errsize, "plan version id %d: the stored text is not one version", version_id);
		bill_catalog_free(c);
		return NULL;
	}
	s->cache = vm_xgrow(s->cache, &s->cap_cache, s->n_cache + 1, sizeof *s->cache);
	s->cache[s->n_cache++] = (struct cached){version_id, c};
	return p;
}
