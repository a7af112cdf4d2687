/* Prints what lib/query.h's blocking calls return, as tab-separated lines,
 * for tests/integration/query.sh to hold against independent SQL.
 *
 *   query_probe CONNINFO usage FROM_S TO_S [VM|- [HOST|- [TENANT|- [PROJECT|-]]]]
 *   query_probe CONNINFO inventory AT_S [VM|- [HOST|- [TENANT|- [PROJECT|-]]]]
 *   query_probe CONNINFO lifecycle FROM_S TO_S [VM|-]
 *   query_probe CONNINFO hosts AT_S
 * Times are epoch seconds.  Exit 1 with the error on standard error. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "query.h"
#include "usage.h"
#include "vtime.h"

static const char *opt(int argc, char **argv, int i)
{
	return i < argc && strcmp(argv[i], "-") != 0 ? argv[i] : NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: query_probe CONNINFO usage|inventory|lifecycle|hosts ...\n");
		return 2;
	}
	struct vm_pg *pg = vm_pg_new(argv[1], 30, -1);
	if (vm_pg_connect(pg) < 0) {
		fprintf(stderr, "query_probe: %s\n", vm_pg_error(pg));
		vm_pg_free(pg);
		return 1;
	}
	const char *what = argv[2];
	char err[1024];
	int rc = 0;
	int64_t t1 = strtoll(argv[3], NULL, 10) * VM_NS_PER_SEC;
	if (strcmp(what, "usage") == 0 && argc >= 5) {
		int64_t t2 = strtoll(argv[4], NULL, 10) * VM_NS_PER_SEC;
		struct vm_q_filter f = {opt(argc, argv, 5), opt(argc, argv, 6), opt(argc, argv, 7), opt(argc, argv, 8)};
		struct vm_q_usage *rows;
		size_t n;
		rc = vm_q_usage_run(pg, t1, t2, &f, &rows, &n, err, sizeof err);
		const struct vm_meter_set *set = vm_usage_vm_meters();
		for (size_t i = 0; rc == 0 && i < n; i++) {
			const struct vm_q_usage *u = &rows[i];
			printf("%s\t%s\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64, u->uuid, u->host, u->tenant,
			       u->project, u->minutes, u->coverage_ms, u->lost_ms);
			for (size_t m = 0; m < set->n; m++) {
				if (!(u->have & (UINT64_C(1) << m)))
					printf(m < set->n_counters ? "\t" : "\t\t\t");
				else if (m < set->n_counters)
					printf("\t%" PRIu64, u->sum[m]);
				else
					printf("\t%" PRIu64 "\t%" PRIu64 "\t%" PRId64, u->avg[m], u->max[m], u->ms[m]);
			}
			putchar('\n');
		}
		if (rc == 0)
			vm_q_usage_free(rows, n);
	} else if (strcmp(what, "inventory") == 0) {
		struct vm_q_filter f = {opt(argc, argv, 4), opt(argc, argv, 5), opt(argc, argv, 6), opt(argc, argv, 7)};
		struct vm_q_inventory *rows;
		size_t n;
		rc = vm_q_inventory_run(pg, t1, &f, &rows, &n, err, sizeof err);
		for (size_t i = 0; rc == 0 && i < n; i++)
			printf("%s\t%s\t%s\t%d\t%" PRIu64 "\t%s\t%s\t%s\t%d\t%d\t%" PRId64 "\n", rows[i].uuid,
			       rows[i].name, rows[i].host, rows[i].vcpus, rows[i].memory_kib, rows[i].tenant,
			       rows[i].project, rows[i].cost_centre, rows[i].disks, rows[i].nics,
			       rows[i].valid_from_ns / VM_NS_PER_SEC);
		if (rc == 0)
			vm_q_inventory_free(rows, n);
	} else if (strcmp(what, "lifecycle") == 0 && argc >= 5) {
		int64_t t2 = strtoll(argv[4], NULL, 10) * VM_NS_PER_SEC;
		struct vm_q_filter f = {.vm = opt(argc, argv, 5)};
		struct vm_q_lifecycle *rows;
		size_t n;
		rc = vm_q_lifecycle_run(pg, t1, t2, &f, &rows, &n, err, sizeof err);
		for (size_t i = 0; rc == 0 && i < n; i++)
			printf("%s\t%s\t%s\t%" PRId64 "\t%" PRId64 "\n", rows[i].uuid, rows[i].host, rows[i].state,
			       rows[i].from_ns / VM_NS_PER_SEC, rows[i].to_ns / VM_NS_PER_SEC);
		if (rc == 0)
			vm_q_lifecycle_free(rows, n);
	} else if (strcmp(what, "hosts") == 0) {
		struct vm_q_host *rows;
		size_t n;
		rc = vm_q_hosts_run(pg, t1, &rows, &n, err, sizeof err);
		for (size_t i = 0; rc == 0 && i < n; i++)
			printf("%s\t%u\t%" PRIu64 "\t%s\n", rows[i].hostname, rows[i].cpus, rows[i].memory_kib,
			       rows[i].cpu_model);
		if (rc == 0)
			vm_q_hosts_free(rows, n);
	} else {
		fprintf(stderr, "query_probe: bad arguments\n");
		rc = -2;
	}
	if (rc == -1)
		fprintf(stderr, "query_probe: %s\n", err);
	vm_pg_free(pg);
	return rc == 0 ? 0 : rc == -2 ? 2 : 1;
}
