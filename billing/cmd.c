/* What vmeter-bill's commands share: the configuration, the database and
 * the stored plans, opened with the same messages and exit statuses. */
#include "config.h"

#include "cmd.h"

#include <stdio.h>

#include "xalloc.h"

int bill_cmd_db(const char *conf_path, struct vm_conf **keep_conf, struct vm_pg **pg)
{
	char err[1024];
	struct vm_conf *conf = vm_conf_load(conf_path, err, sizeof err);
	if (!conf) {
		fprintf(stderr, "vmeter-bill: %s\n", err);
		return 2;
	}
	*pg = vm_pg_new(conf->db_conninfo, 0, -1);
	if (vm_pg_connect(*pg) < 0 || vm_pg_check_schema(*pg) < 0) {
		fprintf(stderr, "vmeter-bill: %s\n", vm_pg_error(*pg));
		vm_pg_free(*pg);
		vm_conf_free(conf);
		return 1;
	}
	if (keep_conf)
		*keep_conf = conf;
	else
		vm_conf_free(conf);
	return 0;
}

int bill_cmd_store(const char *conf_path, struct vm_pg **pg, struct bill_store **s)
{
	int status = bill_cmd_db(conf_path, NULL, pg);
	if (status)
		return status;
	char err[1024];
	*s = bill_store_open(*pg, err, sizeof err);
	if (!*s) {
		fprintf(stderr, "vmeter-bill: %s\n", err);
		vm_pg_free(*pg);
		return 1;
	}
	return 0;
}

const char **bill_cmd_classes(const struct vm_conf *conf, size_t *n)
{
	const char **names = vm_xmalloc((conf->n_traffic_classes + 1) * sizeof *names);
	for (size_t i = 0; i < conf->n_traffic_classes; i++)
		names[i] = conf->traffic_classes[i].name;
	names[conf->n_traffic_classes] = conf->traffic_default;
	*n = conf->n_traffic_classes + 1;
	return names;
}
