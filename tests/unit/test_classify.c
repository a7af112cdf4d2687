/* aggregator/classify and aggregator/settings: each class at its
 * threshold and just past it, lost and partly covered hours never idle,
 * an hour on two hosts counted once, the recommended sizes, powered-off
 * first, contention and noisy neighbours, the evidence, and the
 * configuration's durations, shares and errors (FILE:LINE, the option). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify.h"
#include "figures.h"
#include "settings.h"

#define H 3600
#define END (1791504000 + 24 * H) /* a whole hour */

static struct agg_settings defaults(void)
{
	return (struct agg_settings){
	    .interval_s = 300,
	    .lag_s = 180,
	    .current_s = H,
	    .contention_s = H,
	    .idle_s = 6 * H,
	    .sizing_s = 6 * H,
	    .poweroff_s = 2 * 86400,
	    .min_coverage_bp = 9000,
	    .idle_cpu_bp = 500,
	    .idle_disk_bps = 10240,
	    .idle_net_bps = 10240,
	    .percentile = 95,
	    .oversized_bp = 4000,
	    .undersized_bp = 9000,
	    .target_bp = 7000,
	    .starved_bp = 500,
	    .noisy_host_bp = 500,
	    .noisy_share_bp = 2500,
	    .top_vms = 3,
	};
}

/* Six hours before END of a 2-vCPU VM at pct[i] basis points of its
 * allocation, cov ms observed each hour, delay_bp of delay. */
static size_t hours(struct agg_hour *h, const int *pct, int64_t cov, int delay_bp, int64_t net_bps)
{
	for (int i = 0; i < 6; i++) {
		int64_t vms = 2 * cov;
		h[i] = (struct agg_hour){
		    .hour = END - (6 - i) * H,
		    .host_id = 1,
		    .minutes = 60,
		    .observed_ms = cov,
		    .lost_ms = 0,
		    .cpu_ns = vms * 1000000 / 10000 * pct[i],
		    .vcpu_ms = vms,
		    .delay_ns = vms * 1000000 / 10000 * delay_bp,
		    .disk_bytes = 0,
		    .net_bytes = net_bps * cov / 1000,
		    .rss_int = AGG_NONE,
		    .avail_int = AGG_NONE,
		    .usable_int = AGG_NONE,
		};
	}
	return 6;
}

static enum agg_size size_of(const struct agg_hour *h, size_t n, struct agg_size_verdict *v)
{
	struct agg_settings s = defaults();
	struct agg_vm_input in = {.hours = h, .n = n, .vcpus = 2, .mem_kib = 2097152};
	agg_judge_size(&in, &s, END, v);
	return v->cls;
}

static void test_idle(void **state)
{
	(void)state;
	struct agg_hour h[8];
	struct agg_size_verdict v;
	const int low[6] = {100, 100, 100, 100, 100, 100}, at5[6] = {500, 500, 500, 500, 500, 500};
	assert_int_equal(size_of(h, hours(h, low, 3600000, 0, 100), &v), AGG_SIZE_IDLE);
	assert_int_equal(v.w.cpu_bp, 100);
	assert_int_equal(v.w.coverage_bp, 10000);
	/* at the threshold is not below it */
	assert_int_equal(size_of(h, hours(h, at5, 3600000, 0, 100), &v), AGG_SIZE_OVERSIZED);
	/* network at its threshold: not idle */
	assert_int_equal(size_of(h, hours(h, low, 3600000, 0, 10240), &v), AGG_SIZE_OVERSIZED);
	assert_int_equal(size_of(h, hours(h, low, 3600000, 0, 10239), &v), AGG_SIZE_IDLE);
	/* disk above its threshold: not idle */
	hours(h, low, 3600000, 0, 0);
	h[2].disk_bytes = 10240LL * 21600;
	assert_int_equal(size_of(h, 6, &v), AGG_SIZE_OVERSIZED);
	assert_int_equal(v.p_cpu_bp, 100);
}

static void test_unknown(void **state)
{
	(void)state;
	struct agg_hour h[8];
	struct agg_size_verdict v;
	const int zero[6] = {0};
	/* half of every minute observed: the other half is unknown, so not idle */
	assert_int_equal(size_of(h, hours(h, zero, 1800000, 0, 0), &v), AGG_SIZE_UNKNOWN);
	assert_int_equal(v.w.coverage_bp, 5000);
	assert_int_equal(v.w.unknown_ms, 6 * 1800000);
	/* two hours recorded lost */
	hours(h, zero, 3600000, 0, 0);
	h[0].minutes = h[1].minutes = 0;
	h[0].observed_ms = h[1].observed_ms = 0;
	h[0].lost_ms = h[1].lost_ms = 3600000;
	h[0].cpu_ns = h[1].cpu_ns = AGG_NONE;
	h[0].vcpu_ms = h[1].vcpu_ms = AGG_NONE;
	assert_int_equal(size_of(h, 6, &v), AGG_SIZE_UNKNOWN);
	assert_int_equal(v.w.coverage_bp, 6666);
	assert_int_equal(v.w.unknown_ms, 7200000);
	/* a VM seen for one hour of six (it was off): not enough to judge */
	assert_int_equal(size_of(h + 5, 1, &v), AGG_SIZE_UNKNOWN);
	/* exactly at min-coverage: judged */
	hours(h, zero, 3240000, 0, 0);
	assert_int_equal(size_of(h, 6, &v), AGG_SIZE_IDLE);
	assert_int_equal(v.w.coverage_bp, 9000);
	/* hours outside the window are not read */
	hours(h, zero, 3600000, 0, 0);
	for (int i = 0; i < 6; i++)
		h[i].hour -= 24 * H;
	assert_int_equal(size_of(h, 6, &v), AGG_SIZE_UNKNOWN);
	assert_int_equal(v.w.observed_ms, 0);
}

static void test_sizing(void **state)
{
	(void)state;
	struct agg_hour h[12];
	struct agg_size_verdict v;
	const int over[6] = {1000, 1000, 1000, 1000, 1000, 3500}, at40[6] = {4000, 4000, 4000, 4000, 4000, 4000},
	          under[6] = {9500, 9500, 8000, 9500, 9500, 9500}, at90[6] = {9000, 9000, 9000, 9000, 9000, 9000};
	assert_int_equal(size_of(h, hours(h, over, 3600000, 0, 0), &v), AGG_SIZE_OVERSIZED);
	assert_int_equal(v.p_cpu_bp, 3500); /* nearest rank of 6: the 6th */
	assert_int_equal(v.rec_vcpus, 1);   /* 0.7 vCPU at 70 % -> 1 */
	assert_string_equal(v.reason, "CPU below the oversized threshold");
	assert_int_equal(size_of(h, hours(h, at40, 3600000, 0, 0), &v), AGG_SIZE_RIGHT);
	assert_int_equal(v.rec_vcpus, 2); /* 0.8 vCPU / 0.7 = 1.14 -> 2 */
	assert_int_equal(size_of(h, hours(h, under, 3600000, 0, 0), &v), AGG_SIZE_UNDERSIZED);
	assert_int_equal(v.p_cpu_bp, 9500);
	assert_int_equal(v.rec_vcpus, 3); /* 1.9 / 0.7 = 2.71 -> 3 */
	assert_int_equal(size_of(h, hours(h, at90, 3600000, 0, 0), &v), AGG_SIZE_RIGHT);

	/* memory: the guest's own use (available - usable) first */
	hours(h, at40, 3600000, 0, 0);
	for (int i = 0; i < 6; i++) {
		h[i].avail_int = 2097152LL * 3600000, h[i].usable_int = 1677722LL * 3600000, h[i].avail_ms = 3600000;
		h[i].rss_int = 2097152LL * 3600000, h[i].rss_ms = 3600000; /* RSS full: not read */
	}
	/* 20 % of its memory used: oversized by memory, CPU right */
	assert_int_equal(size_of(h, 6, &v), AGG_SIZE_OVERSIZED);
	assert_int_equal(v.p_used_kib, 419430);
	assert_int_equal(v.p_mem_bp, 1999);
	assert_string_equal(v.reason, "memory below the oversized threshold");
	assert_int_equal(v.rec_mem_kib, 786432); /* 0.57 GiB -> 0.75 GiB */
	for (int i = 0; i < 6; i++)
		h[i].usable_int = 0; /* all of it used: undersized by memory */
	assert_int_equal(size_of(h, 6, &v), AGG_SIZE_UNDERSIZED);
	assert_string_equal(v.reason, "memory above the undersized threshold");
	assert_int_equal(v.rec_mem_kib, 3145728); /* 2 GiB / 0.7 = 2.86 GiB -> 3 GiB */
	/* no guest figures: RSS */
	for (int i = 0; i < 6; i++)
		h[i].avail_ms = 0, h[i].rss_int = 524288LL * 3600000;
	assert_int_equal(size_of(h, 6, &v), AGG_SIZE_OVERSIZED);
	assert_int_equal(v.p_used_kib, 524288);
	assert_string_equal(v.reason, "memory below the oversized threshold");

	/* an hour on two hosts (a migration) is one hour: 3500 and 3500
	 * halves make 3500, not two values */
	hours(h, over, 3600000, 0, 0);
	h[6] = h[5];
	h[5].observed_ms = h[6].observed_ms = 1800000;
	h[5].vcpu_ms = h[6].vcpu_ms = 2 * 1800000;
	h[5].cpu_ns = h[6].cpu_ns = h[5].cpu_ns / 2;
	h[6].host_id = 2;
	assert_int_equal(size_of(h, 7, &v), AGG_SIZE_OVERSIZED);
	assert_int_equal(v.p_cpu_bp, 3500);
	assert_int_equal(v.w.observed_ms, 6 * 3600000);
}

static void test_recommend(void **state)
{
	(void)state;
	assert_int_equal(agg_recommend_vcpus(0, 8, 7000), 1);
	assert_int_equal(agg_recommend_vcpus(7000, 8, 7000), 8);
	assert_int_equal(agg_recommend_vcpus(7001, 8, 7000), 9);
	assert_int_equal(agg_recommend_vcpus(10000, 7, 7000), 10);
	assert_int_equal(agg_recommend_vcpus(AGG_NONE, 8, 7000), AGG_NONE);
	assert_int_equal(agg_recommend_vcpus(5000, AGG_NONE, 7000), AGG_NONE);
	assert_int_equal(agg_recommend_mem_kib(0, 7000), 262144);
	assert_int_equal(agg_recommend_mem_kib(183500, 7000), 262144);
	assert_int_equal(agg_recommend_mem_kib(183501, 7000), 524288);
	assert_int_equal(agg_recommend_mem_kib(1048576, 7000), 1572864);
	assert_int_equal(agg_recommend_mem_kib(AGG_NONE, 7000), AGG_NONE);
}

static void test_powered_off(void **state)
{
	(void)state;
	struct agg_settings s = defaults();
	struct agg_hour h[6];
	const int low[6] = {100, 100, 100, 100, 100, 100};
	hours(h, low, 3600000, 0, 0);
	struct agg_vm_input in = {.hours = h, .n = 6, .vcpus = 2, .powered_off = true, .off_since = END - 3 * 86400};
	struct agg_size_verdict v;
	agg_judge_size(&in, &s, END, &v);
	assert_int_equal(v.cls, AGG_SIZE_POWERED_OFF);
	assert_int_equal(v.w.from, END - 2 * 86400);
	json_t *e = agg_size_evidence(&v, &in, &s);
	assert_int_equal(json_integer_value(json_object_get(e, "off_since")), END - 3 * 86400);
	assert_int_equal(json_integer_value(json_object_get(e, "powered_off_after_s")), 2 * 86400);
	json_decref(e);
}

static void test_contention(void **state)
{
	(void)state;
	struct agg_settings s = defaults();
	struct agg_hour h[6];
	const int pct[6] = {2000, 2000, 2000, 2000, 2000, 2000};
	struct agg_vm_input in = {.hours = h, .n = hours(h, pct, 3600000, 501, 0), .vcpus = 2};
	enum agg_verdict c;
	struct agg_window w;
	agg_judge_contention(&in, &s, END, &c, &w);
	assert_int_equal(c, AGG_V_FLAGGED);
	assert_string_equal(agg_contention_name(c), "starved");
	assert_int_equal(w.delay_bp, 501);
	assert_int_equal(w.from, END - H); /* the last hour only */
	hours(h, pct, 3600000, 500, 0);
	agg_judge_contention(&in, &s, END, &c, &w);
	assert_int_equal(c, AGG_V_OK);
	hours(h, pct, 1800000, 5000, 0);
	agg_judge_contention(&in, &s, END, &c, &w);
	assert_int_equal(c, AGG_V_UNKNOWN);
	json_t *e = agg_contention_evidence(c, &w, &s);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "window"), "coverage_bp")), 5000);
	json_decref(e);
}

static void test_neighbour(void **state)
{
	(void)state;
	struct agg_settings s = defaults();
	/* a host whose VMs wait 10 % of their vCPU time; this VM has half
	 * of its CPU time */
	struct agg_neighbour_in in = {.observed_ms = 3600000,
	                              .cpu_ns = 50,
	                              .disk_bytes = 0,
	                              .host_delay_ns = 16LL * 3600000 * 100000,
	                              .host_vcpu_ms = 16LL * 3600000,
	                              .host_cpu_ns = 100,
	                              .host_disk_bytes = 100,
	                              .host_vms = 3,
	                              .rank = 1};
	struct agg_neighbour_verdict v;
	agg_judge_neighbour(&in, &s, H, &v);
	assert_int_equal(v.cls, AGG_V_FLAGGED);
	assert_string_equal(agg_neighbour_name(v.cls), "noisy");
	assert_int_equal(v.host_delay_bp, 1000);
	assert_int_equal(v.cpu_share_bp, 5000);
	/* at the share: not above it; I/O above it: noisy */
	in.cpu_ns = 25;
	agg_judge_neighbour(&in, &s, H, &v);
	assert_int_equal(v.cls, AGG_V_OK);
	in.disk_bytes = 26;
	agg_judge_neighbour(&in, &s, H, &v);
	assert_int_equal(v.cls, AGG_V_FLAGGED);
	assert_int_equal(v.io_share_bp, 2600);
	/* alone on its host: nobody's neighbour */
	in.host_vms = 1;
	agg_judge_neighbour(&in, &s, H, &v);
	assert_int_equal(v.cls, AGG_V_OK);
	/* a host without contention */
	in.host_vms = 3;
	in.host_delay_ns = 16LL * 3600000 * 50000; /* 5 %: not above */
	agg_judge_neighbour(&in, &s, H, &v);
	assert_int_equal(v.cls, AGG_V_OK);
	/* too little observed; nothing on the host known */
	in.observed_ms = 1800000;
	agg_judge_neighbour(&in, &s, H, &v);
	assert_int_equal(v.cls, AGG_V_UNKNOWN);
	struct agg_neighbour_in none = {0};
	agg_judge_neighbour(&none, &s, H, &v);
	assert_int_equal(v.cls, AGG_V_UNKNOWN);
	json_t *e = agg_neighbour_evidence(&v, &none, &s);
	assert_true(json_is_null(json_object_get(e, "host_delay_bp")));
	json_decref(e);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(agg_size_name(AGG_SIZE_RIGHT), "right-sized");
	assert_string_equal(agg_size_name(AGG_SIZE_POWERED_OFF), "powered-off");
	assert_null(agg_size_name((enum agg_size)99));
	assert_string_equal(agg_contention_name(AGG_V_UNKNOWN), "unknown");
	assert_string_equal(agg_neighbour_name(AGG_V_OK), "ok");
}

static void test_parse(void **state)
{
	(void)state;
	assert_int_equal(agg_duration_parse("90s"), 90);
	assert_int_equal(agg_duration_parse("15m"), 900);
	assert_int_equal(agg_duration_parse("1h"), 3600);
	assert_int_equal(agg_duration_parse("14d"), 14 * 86400);
	assert_int_equal(agg_duration_parse("3660d"), 3660LL * 86400);
	assert_int_equal(agg_duration_parse("3661d"), -1);
	assert_int_equal(agg_duration_parse("99999999999999999999d"), -1);
	assert_int_equal(agg_duration_parse("7"), -1);
	assert_int_equal(agg_duration_parse("d"), -1);
	assert_int_equal(agg_duration_parse("7dd"), -1);
	assert_int_equal(agg_duration_parse("-7d"), -1);
	assert_int_equal(agg_duration_parse(""), -1);
	assert_int_equal(agg_share_parse("5%"), 500);
	assert_int_equal(agg_share_parse("2.5%"), 250);
	assert_int_equal(agg_share_parse("0.25%"), 25);
	assert_int_equal(agg_share_parse("100%"), 10000);
	assert_int_equal(agg_share_parse("0%"), 0);
	assert_int_equal(agg_share_parse("100.01%"), -1);
	assert_int_equal(agg_share_parse("101%"), -1);
	assert_int_equal(agg_share_parse("5"), -1);
	assert_int_equal(agg_share_parse("5.%"), -1);
	assert_int_equal(agg_share_parse("0.125%"), -1);
	assert_int_equal(agg_share_parse(".5%"), -1);
	assert_int_equal(agg_share_parse("5%%"), -1);
}

/* Writes a configuration with `section` and loads it. */
static struct vm_conf *load(const char *section, struct agg_settings *s, char *err, size_t errsize, char *path)
{
	strcpy(path, "/tmp/vmeter-test-classify.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "database {\n  conninfo = \"dbname=x\"\n}\n%s", section);
	fclose(f);
	struct vm_conf *c = agg_settings_load(path, s, err, errsize);
	unlink(path);
	return c;
}

static void test_settings(void **state)
{
	(void)state;
	char err[1024], path[64], want[256];
	struct agg_settings s;
	struct vm_conf *c = load("", &s, err, sizeof err, path);
	assert_non_null(c);
	assert_int_equal(s.interval_s, 300);
	assert_int_equal(s.idle_s, 7 * 86400);
	assert_int_equal(s.sizing_s, 14 * 86400);
	assert_int_equal(s.idle_cpu_bp, 500);
	assert_int_equal(s.oversized_bp, 4000);
	assert_int_equal(s.undersized_bp, 9000);
	assert_int_equal(s.target_bp, 7000);
	assert_int_equal(s.percentile, 95);
	vm_conf_free(c);
	c = load("aggregator {\n  idle-window = \"2d\"\n  idle-cpu = \"2.5%\"\n  percentile = 99\n}\n", &s, err,
	         sizeof err, path);
	assert_non_null(c);
	assert_int_equal(s.idle_s, 2 * 86400);
	assert_int_equal(s.idle_cpu_bp, 250);
	assert_int_equal(s.percentile, 99);
	vm_conf_free(c);

	assert_null(load("aggregator {\n  interval = 60\n  idle-cpu = \"five\"\n}\n", &s, err, sizeof err, path));
	snprintf(want, sizeof want, "%s:6: option 'aggregator.idle-cpu' must be a share", path);
	assert_non_null(strstr(err, want));
	assert_null(load("aggregator {\n  sizing-window = \"90m\"\n}\n", &s, err, sizeof err, path));
	snprintf(want, sizeof want, "%s:5: option 'aggregator.sizing-window' must be whole hours", path);
	assert_non_null(strstr(err, want));
	assert_null(load("aggregator {\n  powered-off-after = \"0d\"\n}\n", &s, err, sizeof err, path));
	assert_non_null(strstr(err, "aggregator.powered-off-after"));
	assert_null(load("aggregator {\n  percentile = 0\n}\n", &s, err, sizeof err, path));
	assert_non_null(strstr(err, "aggregator.percentile"));
	assert_null(load("aggregator {\n  target = \"0%\"\n}\n", &s, err, sizeof err, path));
	assert_non_null(strstr(err, "aggregator.target must be above 0%"));
	assert_null(load("aggregator {\n  oversized-cpu = \"90%\"\n}\n", &s, err, sizeof err, path));
	snprintf(want, sizeof want, "%s: aggregator.oversized-cpu must be below aggregator.undersized-cpu", path);
	assert_string_equal(err, want);
	assert_null(load("aggregator {\n  idle = \"7d\"\n}\n", &s, err, sizeof err, path));
	assert_non_null(strstr(err, ":5:"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle),      cmocka_unit_test(test_unknown),     cmocka_unit_test(test_sizing),
	    cmocka_unit_test(test_recommend), cmocka_unit_test(test_powered_off), cmocka_unit_test(test_contention),
	    cmocka_unit_test(test_neighbour), cmocka_unit_test(test_names),       cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
