/* aggregator/action: the Alertmanager JSON read back field by field, RFC
 * 3339 times, the fingerprint, the checks of specs and URLs, label names
 * made environment variables, and the runner on real processes (the
 * environment a program sees, exit codes, refusals, freeing with a job
 * still running). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "action.h"
#include "webhook.h"

#define S INT64_C(1000000000)
/* 2024-05-01T12:00:00Z */
#define T0 (INT64_C(1714564800) * S)

static const char *const keys[] = {"team", "severity", "runbook"};
static const char *const vals[] = {"infra", "ignored", "https://wiki/cpu"};

static struct agg_alert_info sample(void)
{
	return (struct agg_alert_info){
	    .rule = "vm-cpu-high",
	    .severity = "warning",
	    .status = "firing",
	    .subject_kind = "vm",
	    .subject = "web1",
	    .vm_uuid = "6695eb01-f6a4-8304-79aa-97f2502e193f",
	    .host = "hv1",
	    .host_uri = "qemu+ssh://hv1/system",
	    .tenant = "acme",
	    .label_keys = keys,
	    .label_values = vals,
	    .nlabels = 3,
	    .summary = "avg(vm.cpu.alloc_pct, 15m) > 90: 97.5",
	    .values_json = "{\"vm.cpu.alloc_pct\": 97.5, \"window\": \"15m\"}",
	    .starts_ns = T0 + S / 2,
	    .alert_id = 42,
	    .decision_id = 7,
	    .generator_url = "http://vmeter.example/alerts/42",
	};
}

static json_t *parse(char *text)
{
	assert_non_null(text);
	json_error_t e;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);
	if (!j)
		fail_msg("not JSON: %s: %s", e.text, text);
	free(text);
	return j;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v))
		fail_msg("\"%s\" is not a string", key);
	return json_string_value(v);
}

static void test_json_fields(void **state)
{
	(void)state;
	struct agg_alert_info a = sample();
	json_t *doc = parse(agg_alertmanager_json(&a, "ops", "http://vmeter.example/"));
	assert_int_equal(json_object_size(doc), 10);
	assert_string_equal(str(doc, "version"), "4");
	assert_string_equal(str(doc, "receiver"), "ops");
	assert_string_equal(str(doc, "status"), "firing");
	assert_string_equal(str(doc, "externalURL"), "http://vmeter.example/");
	assert_string_equal(str(doc, "groupKey"), "{}:{alertname=\"vm-cpu-high\"}");
	assert_true(json_is_integer(json_object_get(doc, "truncatedAlerts")));
	assert_int_equal(json_integer_value(json_object_get(doc, "truncatedAlerts")), 0);
	json_t *group = json_object_get(doc, "groupLabels");
	assert_int_equal(json_object_size(group), 1);
	assert_string_equal(str(group, "alertname"), "vm-cpu-high");

	json_t *alerts = json_object_get(doc, "alerts");
	assert_int_equal(json_array_size(alerts), 1);
	json_t *al = json_array_get(alerts, 0);
	assert_int_equal(json_object_size(al), 7);
	assert_string_equal(str(al, "status"), "firing");
	assert_string_equal(str(al, "startsAt"), "2024-05-01T12:00:00.5Z");
	assert_string_equal(str(al, "endsAt"), "0001-01-01T00:00:00Z");
	assert_string_equal(str(al, "generatorURL"), "http://vmeter.example/alerts/42");

	json_t *labels = json_object_get(al, "labels");
	assert_int_equal(json_object_size(labels), 8);
	assert_string_equal(str(labels, "alertname"), "vm-cpu-high");
	assert_string_equal(str(labels, "severity"), "warning"); /* the rule's label does not override */
	assert_string_equal(str(labels, "vm"), "web1");
	assert_string_equal(str(labels, "host"), "hv1");
	assert_string_equal(str(labels, "tenant"), "acme");
	assert_string_equal(str(labels, "vm_uuid"), "6695eb01-f6a4-8304-79aa-97f2502e193f");
	assert_string_equal(str(labels, "team"), "infra");
	assert_string_equal(str(labels, "runbook"), "https://wiki/cpu");

	json_t *ann = json_object_get(al, "annotations");
	assert_int_equal(json_object_size(ann), 4);
	assert_string_equal(str(ann, "summary"), "avg(vm.cpu.alloc_pct, 15m) > 90: 97.5");
	assert_string_equal(str(ann, "vmeter_alert_id"), "42");
	assert_string_equal(str(ann, "vmeter_decision_id"), "7");
	json_t *values = json_loads(str(ann, "values"), 0, NULL); /* annotations are strings: JSON in one */
	assert_non_null(values);
	assert_true(json_real_value(json_object_get(values, "vm.cpu.alloc_pct")) == 97.5);
	assert_string_equal(str(values, "window"), "15m");
	json_decref(values);

	assert_true(json_equal(json_object_get(doc, "commonLabels"), labels));
	assert_true(json_equal(json_object_get(doc, "commonAnnotations"), ann));

	/* Prometheus' fingerprint of these labels (FNV-1a 64 over the sorted
	 * names and values with 0xff after each), computed apart with Python. */
	assert_string_equal(str(al, "fingerprint"), "b38569339fedec3c");
	json_decref(doc);
}

static void test_json_resolved(void **state)
{
	(void)state;
	struct agg_alert_info a = {
	    .rule = "host-down",
	    .status = "resolved",
	    .subject_kind = "host",
	    .subject = "hv2",
	    .starts_ns = T0,
	    .ends_ns = T0 + 90 * S + 123000000,
	};
	json_t *doc = parse(agg_alertmanager_json(&a, NULL, NULL));
	assert_string_equal(str(doc, "receiver"), "vmeter");
	assert_string_equal(str(doc, "externalURL"), "");
	assert_string_equal(str(doc, "status"), "resolved");
	json_t *al = json_array_get(json_object_get(doc, "alerts"), 0);
	assert_string_equal(str(al, "status"), "resolved");
	assert_string_equal(str(al, "startsAt"), "2024-05-01T12:00:00Z");
	assert_string_equal(str(al, "endsAt"), "2024-05-01T12:01:30.123Z");
	assert_string_equal(str(al, "generatorURL"), "");
	json_t *labels = json_object_get(al, "labels");
	assert_int_equal(json_object_size(labels), 2); /* alertname, host: nothing unknown */
	assert_string_equal(str(labels, "host"), "hv2");
	assert_null(json_object_get(labels, "vm"));
	assert_int_equal(json_object_size(json_object_get(al, "annotations")), 0);
	json_decref(doc);

	/* a tenant's alert names the tenant; times to the nanosecond */
	a = (struct agg_alert_info){
	    .rule = "r", .status = "firing", .subject_kind = "tenant", .subject = "acme", .starts_ns = 1};
	doc = parse(agg_alertmanager_json(&a, NULL, NULL));
	al = json_array_get(json_object_get(doc, "alerts"), 0);
	assert_string_equal(str(json_object_get(al, "labels"), "tenant"), "acme");
	assert_string_equal(str(al, "startsAt"), "1970-01-01T00:00:00.000000001Z");
	json_decref(doc);

	/* values that are not a JSON object are refused */
	a.values_json = "[1, 2]";
	assert_null(agg_alertmanager_json(&a, NULL, NULL));
	a.values_json = "{\"a\": ";
	assert_null(agg_alertmanager_json(&a, NULL, NULL));
}

static const char *fp_of(struct agg_alert_info *a, char out[17])
{
	json_t *doc = parse(agg_alertmanager_json(a, NULL, NULL));
	snprintf(out, 17, "%s", str(json_array_get(json_object_get(doc, "alerts"), 0), "fingerprint"));
	json_decref(doc);
	return out;
}

static void test_fingerprint(void **state)
{
	(void)state;
	struct agg_alert_info a = sample();
	char f1[17], f2[17];
	fp_of(&a, f1);
	/* the same labels given in another order, at another time, in
	 * another state, with other annotations */
	static const char *const k2[] = {"runbook", "team"};
	static const char *const v2[] = {"https://wiki/cpu", "infra"};
	a.label_keys = k2;
	a.label_values = v2;
	a.nlabels = 2;
	a.status = "resolved";
	a.starts_ns += 3600 * S;
	a.ends_ns = a.starts_ns + S;
	a.summary = "other";
	assert_string_equal(fp_of(&a, f2), f1);
	a.label_values = (const char *const[]){"https://wiki/cpu", "other-team"};
	assert_string_not_equal(fp_of(&a, f2), f1);
	/* a value's bytes moved into its name make another fingerprint (the separator) */
	struct agg_alert_info b = {.rule = "ab",
	                           .status = "firing",
	                           .label_keys = (const char *const[]){"c"},
	                           .label_values = (const char *const[]){"d"},
	                           .nlabels = 1};
	struct agg_alert_info c = {.rule = "ab",
	                           .status = "firing",
	                           .label_keys = (const char *const[]){"cd"},
	                           .label_values = (const char *const[]){""},
	                           .nlabels = 1};
	assert_string_not_equal(fp_of(&b, f1), fp_of(&c, f2));
}

static void test_env_key(void **state)
{
	(void)state;
	char k[64];
	assert_int_equal(agg_action_env_key("team", k, sizeof k), strlen("VMETER_LABEL_TEAM"));
	assert_string_equal(k, "VMETER_LABEL_TEAM");
	agg_action_env_key("team-name", k, sizeof k);
	assert_string_equal(k, "VMETER_LABEL_TEAM_NAME");
	agg_action_env_key("a.b c=d", k, sizeof k);
	assert_string_equal(k, "VMETER_LABEL_A_B_C_D");
	agg_action_env_key("Cost_Centre9", k, sizeof k);
	assert_string_equal(k, "VMETER_LABEL_COST_CENTRE9");
	agg_action_env_key("\xc3\xa9t\xc3\xa9", k, sizeof k); /* "été": each byte outside ASCII */
	assert_string_equal(k, "VMETER_LABEL___T__");
	/* too small: truncated, terminated, the length needed returned */
	assert_int_equal(agg_action_env_key("team", k, 8), strlen("VMETER_LABEL_TEAM"));
	assert_string_equal(k, "VMETER_");
}

static void expect_refused(const struct agg_action_spec *s, const char *want)
{
	char err[256] = "";
	assert_int_equal(agg_action_check(s, err, sizeof err), -1);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void test_check(void **state)
{
	(void)state;
	char err[256];
	const char *sh[] = {"/bin/sh", "-c", "true"};
	struct agg_action_spec p = {.kind = AGG_ACT_PROGRAM, .argv = sh, .argc = 3, .timeout_ns = S};
	assert_int_equal(agg_action_check(&p, err, sizeof err), 0);
	p.timeout_ns = 0;
	expect_refused(&p, "timeout must be positive");
	p.timeout_ns = S;
	p.argc = 0;
	expect_refused(&p, "empty argv");
	p.argc = 3;
	p.argv = NULL;
	expect_refused(&p, "empty argv");
	const char *rel[] = {"bin/sh"};
	p.argv = rel;
	p.argc = 1;
	expect_refused(&p, "program \"bin/sh\" is not an absolute path");
	const char *gone[] = {"/nonexistent/prog"};
	p.argv = gone;
	expect_refused(&p, "program \"/nonexistent/prog\": No such file or directory");
	const char *dir[] = {"/tmp"};
	p.argv = dir;
	expect_refused(&p, "program \"/tmp\" is not a regular file");
	const char *nul[] = {"/bin/sh", NULL};
	p.argv = nul;
	p.argc = 2;
	expect_refused(&p, "argv[1] is NULL");
	/* no x bit at all: refused even to root */
	char path[] = "/tmp/test_action.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	chmod(path, 0644);
	const char *noexec[] = {path};
	p.argv = noexec;
	p.argc = 1;
	expect_refused(&p, "is not executable");
	unlink(path);

	struct agg_action_spec w = {.kind = AGG_ACT_WEBHOOK,
	                            .url = "http://127.0.0.1:9093/api/hook?x=1",
	                            .max_attempts = 3,
	                            .backoff_ns = S,
	                            .timeout_ns = S};
	assert_int_equal(agg_action_check(&w, err, sizeof err), 0);
	w.url = "http://[::1]:9/";
	assert_int_equal(agg_action_check(&w, err, sizeof err), 0);
	w.url = "HTTP://localhost";
	assert_int_equal(agg_action_check(&w, err, sizeof err), 0);
	static const struct {
		const char *url, *want;
	} bad_urls[] = {
	    {"https://example.com/", "webhook url \"https://example.com/\": scheme \"https\" is not http"},
	    {"ftp://example.com/", "scheme \"ftp\" is not http"},
	    {"example.com/hook", "no scheme"},
	    {"http://", "no host"},
	    {"http://:80/", "no host"},
	    {"http://h:0/", "bad port \"0\""},
	    {"http://h:65536/", "bad port \"65536\""},
	    {"http://h:8x/", "bad port \"8x\""},
	    {"http://h:/", "bad port \"\""},
	    {"http://user:pw@h/", "credentials"},
	    {"http://[::1/", "unclosed ["},
	    {"http://h/a b", "control character or space"},
	    {"http://h/a\r\nX-Evil: 1", "control character or space"},
	    {"", "no url"},
	};
	for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++) {
		w.url = bad_urls[i].url;
		expect_refused(&w, bad_urls[i].want);
	}
	w.url = NULL;
	expect_refused(&w, "no url");
	w.url = "http://h/";
	w.max_attempts = 0;
	expect_refused(&w, "max_attempts is 0");
	w.max_attempts = 1;
	w.backoff_ns = -1;
	expect_refused(&w, "negative backoff");

	struct agg_action_spec v = {.kind = AGG_ACT_VIRT, .op = AGG_VIRT_SET_VCPUS, .amount = 2, .timeout_ns = S};
	assert_int_equal(agg_action_check(&v, err, sizeof err), 0);
	v.amount = 0;
	expect_refused(&v, "set-vcpus: 0 vCPUs is out of range");
	v.op = AGG_VIRT_SET_MEMORY;
	expect_refused(&v, "set-memory: 0 KiB is out of range");
	v.op = AGG_VIRT_MIGRATE;
	expect_refused(&v, "migrate: no destination URI");
	v.dest_uri = "qemu+ssh://hv2/system";
	assert_int_equal(agg_action_check(&v, err, sizeof err), 0);
	v.op = (enum agg_virt_op)17;
	expect_refused(&v, "unknown virt operation 17");
	v.kind = (enum agg_action_kind)9;
	expect_refused(&v, "unknown action kind 9");
}

static void test_url_parse(void **state)
{
	(void)state;
	struct agg_url u;
	char err[128];
	assert_int_equal(agg_url_parse("http://127.0.0.1:8080/api/v1/hook?a=1#frag", &u, err, sizeof err), 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_string_equal(u.port, "8080");
	assert_string_equal(u.path, "/api/v1/hook?a=1");
	assert_int_equal(agg_url_parse("http://[::1]", &u, err, sizeof err), 0);
	assert_string_equal(u.host, "::1");
	assert_string_equal(u.port, "80");
	assert_string_equal(u.path, "/");
	assert_int_equal(agg_url_parse("http://h?q", &u, err, sizeof err), 0);
	assert_string_equal(u.host, "h");
	assert_string_equal(u.path, "/?q");
}

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(agg_webhook_backoff(S, 1), S);
	assert_int_equal(agg_webhook_backoff(S, 2), 2 * S);
	assert_int_equal(agg_webhook_backoff(S, 9), 256 * S);
	assert_int_equal(agg_webhook_backoff(S, 10), AGG_ACTION_BACKOFF_MAX_NS); /* 512 s capped */
	assert_int_equal(agg_webhook_backoff(S, 4000000000u), AGG_ACTION_BACKOFF_MAX_NS);
	assert_int_equal(agg_webhook_backoff(3600 * S, 1), AGG_ACTION_BACKOFF_MAX_NS);
	assert_int_equal(agg_webhook_backoff(INT64_MAX, 3), AGG_ACTION_BACKOFF_MAX_NS);
	assert_int_equal(agg_webhook_backoff(0, 5), 0);
}

static void test_names(void **state)
{
	(void)state;
	for (int i = AGG_VIRT_SET_VCPUS; i <= AGG_VIRT_MIGRATE; i++) {
		enum agg_virt_op op;
		assert_non_null(agg_virt_op_name((enum agg_virt_op)i));
		assert_int_equal(agg_virt_op_parse(agg_virt_op_name((enum agg_virt_op)i), &op), 0);
		assert_int_equal(op, i);
	}
	enum agg_virt_op op;
	assert_int_equal(agg_virt_op_parse("reboot", &op), -1);
	assert_int_equal(agg_virt_op_parse(NULL, &op), -1);
	assert_null(agg_virt_op_name((enum agg_virt_op)6));
	assert_string_equal(agg_action_outcome_name(AGG_OUT_TIMEOUT), "timeout");
	assert_string_equal(agg_action_outcome_name(AGG_OUT_NOT_FOUND), "not-found");
	assert_null(agg_action_outcome_name((enum agg_action_outcome)5));
	char d[32];
	agg_action_duration(250 * 1000000, d, sizeof d);
	assert_string_equal(d, "250 ms");
	agg_action_duration(10 * S, d, sizeof d);
	assert_string_equal(d, "10 s");
	agg_action_duration(1500 * 1000000, d, sizeof d);
	assert_string_equal(d, "1.5 s");
	agg_action_duration(2050 * 1000000, d, sizeof d);
	assert_string_equal(d, "2.05 s");
}

/* The one result of a runner's only job. */
static void one_result(struct agg_runner *r, struct agg_action_result *res)
{
	while (!agg_runner_wait(r, 60 * S))
		;
	assert_int_equal(agg_runner_poll(r, res, 1), 1);
}

static void test_runner_env(void **state)
{
	(void)state;
	char err[256];
	struct agg_runner *r = agg_runner_new(2, err, sizeof err);
	assert_non_null(r);
	/* polled before any result: none, and no copy from a NULL array */
	struct agg_action_result none[1];
	assert_int_equal(agg_runner_poll(r, none, 1), 0);
	setenv("VMETER_TEST_DAEMON_SECRET", "leak", 1);
	static const char *const k[] = {"team-name", "Team.Name", "owner"};
	static const char *const v[] = {"infra", "second", "o'neil $x"};
	struct agg_alert_info a = sample();
	a.label_keys = k;
	a.label_values = v;
	a.nlabels = 3;
	const char *env[] = {"/usr/bin/env"};
	struct agg_action_spec s = {.kind = AGG_ACT_PROGRAM, .argv = env, .argc = 1, .timeout_ns = 60 * S};
	uint64_t id = agg_runner_submit(r, &s, &a);
	assert_true(id > 0);
	struct agg_action_result res;
	one_result(r, &res);
	assert_int_equal(res.job, id);
	assert_true(res.ok);
	assert_int_equal(res.outcome, AGG_OUT_OK);
	assert_int_equal(res.exit_status, 0);
	assert_string_equal(res.message, "exit 0");
	assert_true(res.finished_ns >= res.started_ns && res.started_ns > 0);
	const char *want[] = {"VMETER_LABEL_TEAM_NAME=infra\n",
	                      "VMETER_LABEL_OWNER=o'neil $x\n",
	                      "VMETER_ALERT_RULE=vm-cpu-high\n",
	                      "VMETER_ALERT_STATUS=firing\n",
	                      "VMETER_ALERT_SUBJECT=web1\n",
	                      "VMETER_ALERT_VM_UUID=6695eb01-f6a4-8304-79aa-97f2502e193f\n",
	                      "VMETER_ALERT_HOST=hv1\n",
	                      "VMETER_ALERT_TENANT=acme\n",
	                      "VMETER_ALERT_SEVERITY=warning\n",
	                      "VMETER_ALERT_ID=42\n",
	                      "VMETER_DECISION_ID=7\n",
	                      "VMETER_ALERT_STARTS_AT=2024-05-01T12:00:00.5Z\n",
	                      "PATH="};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++)
		if (!strstr(res.output, want[i]))
			fail_msg("no %s in:\n%s", want[i], res.output);
	assert_null(strstr(res.output, "second"));      /* the first of two keys alike */
	assert_null(strstr(res.output, "VMETER_TEST")); /* nothing of the daemon's */
	assert_null(strstr(res.output, "VMETER_ALERT_ENDS_AT"));
	agg_action_result_clear(&res);
	assert_null(res.output);
	agg_runner_free(r, S);
	unsetenv("VMETER_TEST_DAEMON_SECRET");
}

static void test_runner_exit(void **state)
{
	(void)state;
	char err[256];
	struct agg_runner *r = agg_runner_new(1, err, sizeof err);
	struct agg_alert_info a = sample();
	const char *sh[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"};
	struct agg_action_spec s = {.kind = AGG_ACT_PROGRAM, .argv = sh, .argc = 3, .timeout_ns = 60 * S};
	assert_true(agg_runner_submit(r, &s, &a) > 0);
	struct agg_action_result res;
	one_result(r, &res);
	assert_false(res.ok);
	assert_int_equal(res.outcome, AGG_OUT_FAILED);
	assert_int_equal(res.exit_status, 3);
	assert_string_equal(res.message, "exit 3");
	assert_string_equal(res.output, "out\nerr\n");
	agg_action_result_clear(&res);
	/* killed by a signal of its own */
	const char *kill9[] = {"/bin/sh", "-c", "kill -9 $$"};
	s.argv = kill9;
	assert_true(agg_runner_submit(r, &s, &a) > 0);
	one_result(r, &res);
	assert_int_equal(res.exit_status, 128 + 9);
	assert_string_equal(res.message, "killed by signal 9 (SIGKILL)");
	agg_action_result_clear(&res);
	/* more output than kept: the first 4 KiB, the program not blocked */
	const char *yes[] = {"/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"};
	s.argv = yes;
	assert_true(agg_runner_submit(r, &s, &a) > 0);
	one_result(r, &res);
	assert_true(res.ok);
	assert_int_equal(strlen(res.output), AGG_ACTION_OUTPUT_MAX);
	agg_action_result_clear(&res);
	agg_runner_free(r, S);
}

static void test_runner_refuses(void **state)
{
	(void)state;
	char err[256];
	assert_null(agg_runner_new(0, err, sizeof err));
	assert_string_equal(err, "0 workers: want 1 to 64");
	struct agg_runner *r = agg_runner_new(1, err, sizeof err);
	struct agg_alert_info a = sample();
	const char *rel[] = {"sh"};
	struct agg_action_spec s = {.kind = AGG_ACT_PROGRAM, .argv = rel, .argc = 1, .timeout_ns = S};
	assert_int_equal(agg_runner_submit(r, &s, &a), 0);
	assert_string_equal(agg_runner_error(r), "program \"sh\" is not an absolute path");
	s = (struct agg_action_spec){.kind = AGG_ACT_VIRT, .op = AGG_VIRT_SUSPEND, .timeout_ns = S};
	a.host_uri = NULL;
	assert_int_equal(agg_runner_submit(r, &s, &a), 0);
	assert_string_equal(agg_runner_error(r), "suspend: the alert names no host URI");
	a = sample();
	a.values_json = "not json";
	s = (struct agg_action_spec){
	    .kind = AGG_ACT_WEBHOOK, .url = "http://127.0.0.1:1/", .max_attempts = 1, .timeout_ns = S};
	assert_int_equal(agg_runner_submit(r, &s, &a), 0);
	assert_string_equal(agg_runner_error(r), "the alert's values are not a JSON object");
	a.values_json = NULL;
	assert_true(agg_runner_submit(r, &s, &a) > 0); /* refused nothing: the error is cleared */
	assert_string_equal(agg_runner_error(r), "");
	agg_runner_free(r, 0);
}

/* Freed with a program running and jobs queued: the program is killed,
 * nothing leaks (ASan), and free returns. */
static void test_runner_free_running(void **state)
{
	(void)state;
	char err[256];
	struct agg_runner *r = agg_runner_new(1, err, sizeof err);
	struct agg_alert_info a = sample();
	const char *sleeper[] = {"/bin/sleep", "600"};
	struct agg_action_spec s = {.kind = AGG_ACT_PROGRAM, .argv = sleeper, .argc = 2, .timeout_ns = 600 * S};
	for (int i = 0; i < 3; i++)
		assert_true(agg_runner_submit(r, &s, &a) > 0);
	agg_runner_free(r, 60 * S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_fields),    cmocka_unit_test(test_json_resolved),
	    cmocka_unit_test(test_fingerprint),    cmocka_unit_test(test_env_key),
	    cmocka_unit_test(test_check),          cmocka_unit_test(test_url_parse),
	    cmocka_unit_test(test_names),          cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_runner_env),     cmocka_unit_test(test_runner_exit),
	    cmocka_unit_test(test_runner_refuses), cmocka_unit_test(test_runner_free_running),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
