/* The rule engine's cost (issue 13's benchmark, bench/aggregator.sh):
 * VMS VMs on hosts of 100, RULES rules over windowed functions of their
 * minutes, a rule cycle every 10 s, a new minute every 6 cycles.  Times
 * what the daemon does in memory: the fill of each new minute (its rows
 * put in the series, the host and tenant sums) and every cycle
 * (aggregator/engine.c through aggregator/series.c), in CPU time of this
 * process; and the memory: the series' own bytes and the RSS.
 *
 *   vmeter-bench-aggregator VMS RULES MINUTES
 *
 * The minutes (also bench/aggregator.sh's SQL, the same formula):
 * VM v (1..VMS) at minute k: vcpus 1 + v % 4, CPU (v*7 + k*13) % 100 % of
 * its vCPUs, disk reads ((v*31 + k*17) % 1000) * 1000 bytes, network in
 * ((v*11 + k*7) % 1000) * 1500 bytes, vCPU delay (v + k) % 10 %.
 * Rule i: FN[i % 4](METRIC[(i / 4) % 4], WINDOW[i % 3]) > a threshold. */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "engine.h"
#include "rules.h"
#include "series.h"
#include "xalloc.h"

#define NS 1000000000LL
#define MIN (60 * NS)
/* The history starts on a whole hour (any will do). */
#define T0 (1790000000LL / 3600 * 3600 * NS)

static const char *const fns[] = {"avg", "max", "min", "p95"};
static const char *const metrics[] = {"vm.cpu.alloc_pct", "vm.disk.read_bps", "vm.net.rx_bps", "vm.vcpu.delay_pct"};
static const char *const windows[] = {"5m", "15m", "60m"};
/* Between two values the data takes: float and numeric agree on which
 * side a value is. */
static const char *const thresholds[] = {"90.5", "15010", "22010", "8.5"};

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static void put_minute(struct agg_series *s, const int *vm, const int *host, int vms, int hosts, int k)
{
	for (int v = 1; v <= vms; v++) {
		double vcpus = 1 + v % 4;
		struct agg_vm_minute m = {.minute_ns = T0 + k * MIN,
		                          .coverage_ms = 60000,
		                          .cpu_ns = (double)((v * 7 + k * 13) % 100) / 100 * 60e9 * vcpus,
		                          .delay_ns = (double)((v + k) % 10) / 100 * 60e9 * vcpus,
		                          .vcpus = vcpus,
		                          .mem_max_kib = 1048576,
		                          .rss_kib = 524288,
		                          .avail_kib = NAN,
		                          .usable_kib = NAN,
		                          .disk_rd = (double)((v * 31 + k * 17) % 1000) * 1000,
		                          .disk_wr = 0,
		                          .net_rx = (double)((v * 11 + k * 7) % 1000) * 1500,
		                          .net_tx = 0};
		agg_series_put_vm(s, vm[v - 1], host[(v - 1) / 100], &m);
	}
	for (int h = 0; h < hosts; h++) {
		struct agg_host_minute m = {.minute_ns = T0 + k * MIN,
		                            .coverage_ms = 60000,
		                            .capacity_ns = 64 * 60e9,
		                            .busy_ns = 32 * 60e9,
		                            .cpus = 64,
		                            .mem_total_kib = 512.0 * 1048576,
		                            .mem_free_kib = 128.0 * 1048576,
		                            .vcpus_running = 250,
		                            .vm_mem_kib = 100.0 * 1048576,
		                            .vms_running = 100};
		agg_series_put_host(s, host[h], &m);
	}
	agg_series_finish(s, T0 + k * MIN, T0 + (k + 1) * MIN);
}

static unsigned transitions;
static void on_alert(void *ctx, const struct agg_alert_event *ev)
{
	(void)ctx;
	transitions += ev->from != ev->to;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: vmeter-bench-aggregator VMS RULES MINUTES\n");
		return 2;
	}
	int vms = atoi(argv[1]), nrules = atoi(argv[2]), minutes = atoi(argv[3]);
	if (vms < 1 || nrules < 1 || minutes < 61) {
		fprintf(stderr, "vmeter-bench-aggregator: VMS and RULES at least 1, MINUTES at least 61\n");
		return 2;
	}
	long rss0 = rss_kib();
	size_t cap = (size_t)nrules * 256 + 1, len = 0;
	char *text = vm_xmalloc(cap);
	for (int i = 0; i < nrules; i++)
		len +=
		    (size_t)snprintf(text + len, cap - len,
		                     "rule \"r%d\" { condition = \"%s(%s, %s) > %s\"  for = 2m  automation = off }\n",
		                     i, fns[i % 4], metrics[(i / 4) % 4], windows[i % 3], thresholds[(i / 4) % 4]);
	char err[512];
	struct agg_ruleset *rs = agg_rules_parse("bench.rules", text, len, false, err, sizeof err);
	free(text);
	if (!rs) {
		fprintf(stderr, "vmeter-bench-aggregator: %s\n", err);
		return 1;
	}
	struct agg_series *s = agg_series_new(rs->max_window_ns + 5 * MIN, 9000);
	int hosts = (vms + 99) / 100;
	int *vm = vm_xcalloc((size_t)vms, sizeof *vm), *host = vm_xcalloc((size_t)hosts, sizeof *host);
	char key[64], name[32], hname[32], tenant[32];
	for (int h = 0; h < hosts; h++) {
		snprintf(hname, sizeof hname, "hv-%d", h);
		host[h] = agg_series_subject(s, AGG_KIND_HOST, hname);
	}
	for (int v = 1; v <= vms; v++) {
		snprintf(key, sizeof key, "bbbbbbbb-0000-4000-8000-%012d", v);
		snprintf(name, sizeof name, "vm%d", v);
		snprintf(hname, sizeof hname, "hv-%d", (v - 1) / 100);
		snprintf(tenant, sizeof tenant, "t%02d", v % 20);
		vm[v - 1] = agg_series_subject(s, AGG_KIND_VM, key);
		agg_series_set_vm(s, vm[v - 1], name, hname, tenant, NULL, 0);
	}
	struct agg_engine_opts o = {0};
	struct agg_engine *e = agg_engine_new(rs, s, &o);
	struct agg_engine_hooks hk = {NULL, on_alert, NULL, NULL};
	struct agg_engine_stats st;

	/* The first hour: the windows filled, not measured (a started
	 * daemon reads its history once). */
	for (int k = 0; k < 60; k++)
		put_minute(s, vm, host, vms, hosts, k);
	agg_engine_cycle(e, T0 + 60 * MIN, T0 + 60 * MIN, &hk, &st);

	double fill = 0, full = 0, full_max = 0, step = 0, step_max = 0;
	unsigned long evals = 0;
	int n_full = 0, n_step = 0;
	for (int k = 60; k < minutes; k++) {
		double c0 = cpu_s();
		put_minute(s, vm, host, vms, hosts, k);
		double c1 = cpu_s();
		fill += c1 - c0;
		for (int c = 0; c < 6; c++) {
			int64_t now = T0 + (k + 1) * MIN + c * 10 * NS;
			double a = cpu_s();
			agg_engine_cycle(e, now, T0 + (k + 1) * MIN, &hk, &st);
			double d = cpu_s() - a;
			evals += st.evaluations;
			if (c == 0) {
				full += d;
				full_max = d > full_max ? d : full_max;
				n_full++;
			} else {
				step += d;
				step_max = d > step_max ? d : step_max;
				n_step++;
			}
		}
	}
	int measured = minutes - 60;
	double per_min = (fill + full + step) / measured;
	printf("vms %d rules %d hosts %d minutes %d\n", vms, nrules, hosts, measured);
	printf("fill_ms_per_minute %.2f\n", 1000 * fill / measured);
	printf("cycle_full_ms_mean %.2f\n", 1000 * full / n_full);
	printf("cycle_full_ms_max %.2f\n", 1000 * full_max);
	printf("cycle_step_ms_mean %.3f\n", 1000 * step / n_step);
	printf("cycle_step_ms_max %.3f\n", 1000 * step_max);
	printf("cpu_ms_per_minute %.2f\n", 1000 * per_min);
	printf("cpu_ms_per_10s_cycle %.2f\n", 1000 * per_min / 6);
	printf("core_pct %.3f\n", 100 * per_min / 60);
	printf("evaluations_per_full_cycle %lu\n", evals / (unsigned long)n_full);
	printf("firing %u pending %u transitions %u\n", st.firing, st.pending, transitions);
	printf("series_bytes %zu\n", agg_series_bytes(s));
	/* Per rule, the VMs whose condition holds at the last minute's end:
	 * bench/aggregator.sh compares them with the SQL's. */
	for (size_t i = 0; i < rs->n_rules; i++) {
		int holds = 0, cond;
		for (int v = 0; v < vms; v++) {
			free(agg_engine_values(e, &rs->rules[i], vm[v], T0 + (int64_t)minutes * MIN, &cond));
			holds += cond == 1;
		}
		printf("holds %s %d\n", rs->rules[i].name, holds);
	}
	printf("rss_kib %ld (at start %ld)\n", rss_kib(), rss0);
	agg_engine_free(e);
	agg_series_free(s);
	agg_rules_free(rs);
	free(vm);
	free(host);
	return 0;
}
