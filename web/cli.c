/* vmeter-web user ... and token ... (cli.h). */
#include "config.h"

#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "conf.h"
#include "parse.h"
#include "pg.h"
#include "secret.h"

static int db(const char *conf_path, struct vm_pg **pg)
{
	char err[1024];
	struct vm_conf *conf = vm_conf_load(conf_path, err, sizeof err);
	if (!conf) {
		fprintf(stderr, "vmeter-web: %s\n", err);
		return 2;
	}
	*pg = vm_pg_new(conf->db_conninfo, 0, -1);
	vm_conf_free(conf);
	if (vm_pg_connect(*pg) < 0 || vm_pg_check_schema(*pg) < 0) {
		fprintf(stderr, "vmeter-web: %s\n", vm_pg_error(*pg));
		vm_pg_free(*pg);
		return 1;
	}
	return 0;
}

/* A password of 20 characters from an alphabet without look-alikes
 * (about 115 bits). */
static void make_password(char out[21])
{
	static const char abc[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	for (int i = 0; i < 20; i++)
		out[i] = abc[randombytes_uniform(sizeof abc - 1)];
	out[20] = '\0';
}

static int user_add(const char *conf_path, int argc, char **argv)
{
	const char *role = NULL, *tenant = NULL;
	int from_stdin = 0;
	static const struct option longopts[] = {{"role", required_argument, NULL, 'r'},
	                                         {"tenant", required_argument, NULL, 't'},
	                                         {"password-stdin", no_argument, NULL, 'p'},
	                                         {NULL, 0, NULL, 0}};
	optind = 0; /* GNU getopt: start afresh (main() parsed with "+") */
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r': role = optarg; break;
		case 't': tenant = optarg; break;
		case 'p': from_stdin = 1; break;
		default: return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "vmeter-web: user add: give one NAME\n");
		return 2;
	}
	const char *name = argv[optind];
	if (!role ||
	    (strcmp(role, "admin") != 0 && strcmp(role, "operator") != 0 && strcmp(role, "tenant-viewer") != 0)) {
		fprintf(stderr, "vmeter-web: user add: --role must be admin, operator or tenant-viewer\n");
		return 2;
	}
	if ((strcmp(role, "tenant-viewer") == 0) != (tenant != NULL) || (tenant && !*tenant)) {
		fprintf(stderr, "vmeter-web: user add: a tenant-viewer needs --tenant T, and only a tenant-viewer "
		                "takes one\n");
		return 2;
	}
	char pw[WEB_PASSWORD_MAX + 2], made[21];
	if (from_stdin) {
		if (!fgets(pw, sizeof pw, stdin)) {
			fprintf(stderr, "vmeter-web: user add: no password on stdin\n");
			return 2;
		}
		pw[strcspn(pw, "\r\n")] = '\0';
		size_t n = strlen(pw);
		if (n < WEB_PASSWORD_MIN || n > WEB_PASSWORD_MAX) {
			fprintf(stderr, "vmeter-web: user add: the password must be %d to %d bytes\n", WEB_PASSWORD_MIN,
			        WEB_PASSWORD_MAX);
			sodium_memzero(pw, sizeof pw);
			return 2;
		}
	} else {
		make_password(made);
		snprintf(pw, sizeof pw, "%s", made);
	}
	char hash[WEB_HASH_STR_MAX];
	if (web_secret_init() < 0 || web_password_hash(pw, hash) < 0) {
		fprintf(stderr, "vmeter-web: user add: cannot hash the password (out of memory?)\n");
		sodium_memzero(pw, sizeof pw);
		return 1;
	}
	struct vm_pg *pg;
	int status = db(conf_path, &pg);
	if (status) {
		sodium_memzero(pw, sizeof pw);
		return status;
	}
	const char *p[4] = {name, role, tenant, hash};
	int rc =
	    vm_pg_cmd(pg, "INSERT INTO web_user (name, role, tenant, password_hash) VALUES ($1, $2, $3, $4)", 4, p);
	if (rc < 0) {
		fprintf(stderr, "vmeter-web: user add '%s': %s\n", name, vm_pg_error(pg));
	} else {
		printf("user '%s' added: %s%s%s\n", name, role, tenant ? " of tenant " : "", tenant ? tenant : "");
		if (!from_stdin)
			printf("password (shown once): %s\n", pw);
	}
	sodium_memzero(pw, sizeof pw);
	vm_pg_free(pg);
	return rc < 0 ? 1 : 0;
}

static int user_list(const char *conf_path)
{
	struct vm_pg *pg;
	int status = db(conf_path, &pg);
	if (status)
		return status;
	PGresult *r =
	    vm_pg_exec(pg,
	               "SELECT name, role, coalesce(tenant, ''), disabled, "
	               "(SELECT count(*) FROM web_token t WHERE t.user_id = u.user_id AND revoked_at IS NULL) "
	               "FROM web_user u ORDER BY name",
	               0, NULL);
	if (!r) {
		fprintf(stderr, "vmeter-web: user list: %s\n", vm_pg_error(pg));
		vm_pg_free(pg);
		return 1;
	}
	for (int i = 0; i < PQntuples(r); i++)
		printf("%s\t%s\t%s\t%s\t%s tokens\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
		       PQgetvalue(r, i, 3)[0] == 't' ? "disabled" : "enabled", PQgetvalue(r, i, 4));
	PQclear(r);
	vm_pg_free(pg);
	return 0;
}

static int token_add(const char *conf_path, int argc, char **argv)
{
	const char *label = "";
	static const struct option longopts[] = {{"label", required_argument, NULL, 'l'}, {NULL, 0, NULL, 0}};
	optind = 0; /* GNU getopt: start afresh (main() parsed with "+") */
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt != 'l')
			return 2;
		label = optarg;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "vmeter-web: token add: give one USER\n");
		return 2;
	}
	if (web_secret_init() < 0) {
		fprintf(stderr, "vmeter-web: token add: libsodium cannot start\n");
		return 1;
	}
	char hex[65], token[80], hash[65], prefix[16];
	web_token_new(hex);
	snprintf(token, sizeof token, WEB_API_TOKEN_PREFIX "%s", hex);
	web_token_hash(token, hash);
	snprintf(prefix, sizeof prefix, "%.12s", token);
	struct vm_pg *pg;
	int status = db(conf_path, &pg);
	if (status)
		return status;
	const char *p[4] = {argv[optind], hash, prefix, label};
	PGresult *r = vm_pg_exec(pg,
	                         "INSERT INTO web_token (user_id, token_hash, prefix, label) "
	                         "SELECT user_id, $2, $3, $4 FROM web_user WHERE name = $1 RETURNING token_id",
	                         4, p);
	int rc = 0;
	if (!r) {
		fprintf(stderr, "vmeter-web: token add: %s\n", vm_pg_error(pg));
		rc = 1;
	} else if (PQntuples(r) != 1) {
		fprintf(stderr, "vmeter-web: token add: no user '%s'\n", argv[optind]);
		rc = 1;
	} else {
		printf("token %s for user '%s' (shown once): %s\n", PQgetvalue(r, 0, 0), argv[optind], token);
	}
	PQclear(r);
	sodium_memzero(token, sizeof token);
	vm_pg_free(pg);
	return rc;
}

/* Runs one statement with one parameter that must change exactly one
 * row; prints done or names what was not found. */
static int change_one(const char *conf_path, const char *sql, const char *param, const char *done, const char *missing)
{
	struct vm_pg *pg;
	int status = db(conf_path, &pg);
	if (status)
		return status;
	const char *p[1] = {param};
	PGresult *r = vm_pg_exec(pg, sql, 1, p);
	int rc = 0;
	if (!r) {
		fprintf(stderr, "vmeter-web: %s\n", vm_pg_error(pg));
		rc = 1;
	} else if (PQntuples(r) != 1) {
		fprintf(stderr, "vmeter-web: %s '%s'\n", missing, param);
		rc = 1;
	} else {
		printf("%s '%s'\n", done, param);
	}
	PQclear(r);
	vm_pg_free(pg);
	return rc;
}

int web_cli(const char *conf_path, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[0], "user") == 0 && strcmp(argv[1], "add") == 0)
		return user_add(conf_path, argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[0], "user") == 0 && strcmp(argv[1], "list") == 0)
		return user_list(conf_path);
	if (argc >= 2 && strcmp(argv[0], "token") == 0 && strcmp(argv[1], "add") == 0)
		return token_add(conf_path, argc - 1, argv + 1);
	if (argc == 3 && strcmp(argv[0], "user") == 0 && strcmp(argv[1], "disable") == 0)
		/* its sessions go with it; its tokens stop working while it is disabled */
		return change_one(conf_path,
		                  "WITH u AS (UPDATE web_user SET disabled = true WHERE name = $1 RETURNING user_id), "
		                  "s AS (DELETE FROM web_session WHERE user_id IN (SELECT user_id FROM u)) "
		                  "SELECT user_id FROM u, LATERAL (SELECT pg_notify('" WEB_AUTH_CHANNEL "', 'user')) n",
		                  argv[2], "disabled user", "no user");
	if (argc == 3 && strcmp(argv[0], "token") == 0 && strcmp(argv[1], "revoke") == 0)
		return change_one(
		    conf_path,
		    "WITH t AS (UPDATE web_token SET revoked_at = now() WHERE token_id::text = $1 AND revoked_at IS "
		    "NULL "
		    "RETURNING token_id) SELECT token_id FROM t, LATERAL (SELECT pg_notify('" WEB_AUTH_CHANNEL
		    "', 'token')) n",
		    argv[2], "revoked token", "no token to revoke with id");
	fprintf(stderr,
	        "vmeter-web: unknown command '%s%s%s' (user add, user list, user disable, token add, token revoke)\n",
	        argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
	return 2;
}
