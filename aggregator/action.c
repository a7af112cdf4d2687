/* aggregator/action: the runner of action jobs, their checks and the
 * Alertmanager JSON (action.h).  The executors are progrun.c (programs),
 * webhook.c (HTTP) and virtop.c (libvirt). */
#include "config.h"

#include "action.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "progrun.h"
#include "virtop.h"
#include "vtime.h"
#include "webhook.h"
#include "xalloc.h"

#define MAX_WORKERS 64
/* The PATH a program finds its own helpers on: nothing of the daemon's. */
#define PROGRAM_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Alertmanager's zero time.Time: the endsAt of a firing alert. */
#define ZERO_TIME "0001-01-01T00:00:00Z"

/* ------------------------------------------------------------ names */

static const char *const op_names[] = {"set-vcpus", "set-memory", "suspend", "resume", "shutdown", "migrate"};

const char *agg_virt_op_name(enum agg_virt_op op)
{
	return (unsigned)op < sizeof op_names / sizeof *op_names ? op_names[op] : NULL;
}

int agg_virt_op_parse(const char *name, enum agg_virt_op *op)
{
	for (size_t i = 0; name && i < sizeof op_names / sizeof *op_names; i++)
		if (strcmp(name, op_names[i]) == 0) {
			*op = (enum agg_virt_op)i;
			return 0;
		}
	return -1;
}

const char *agg_action_outcome_name(enum agg_action_outcome o)
{
	static const char *const names[] = {"ok", "failed", "timeout", "not-found", "cancelled"};
	return (unsigned)o < sizeof names / sizeof *names ? names[o] : NULL;
}

void agg_action_duration(int64_t ns, char *buf, size_t size)
{
	int64_t ms = ns / 1000000;
	if (ms < 1000) {
		snprintf(buf, size, "%" PRId64 " ms", ms);
		return;
	}
	int64_t frac = ms % 1000;
	int digits = 3;
	while (frac && frac % 10 == 0)
		frac /= 10, digits--;
	if (frac)
		snprintf(buf, size, "%" PRId64 ".%0*" PRId64 " s", ms / 1000, digits, frac);
	else
		snprintf(buf, size, "%" PRId64 " s", ms / 1000);
}

size_t agg_action_env_key(const char *key, char *out, size_t size)
{
	static const char prefix[] = "VMETER_LABEL_";
	size_t n = 0;
	for (const char *p = prefix; *p; p++, n++)
		if (n + 1 < size)
			out[n] = *p;
	for (const unsigned char *k = (const unsigned char *)key; *k; k++, n++) {
		char c = *k >= 'a' && *k <= 'z' ? (char)(*k - 'a' + 'A') : (char)*k;
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			c = '_';
		if (n + 1 < size)
			out[n] = c;
	}
	if (size)
		out[n < size ? n : size - 1] = '\0';
	return n;
}

/* ------------------------------------------------------------ checks */

static int bad(char *err, size_t errsize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
	return -1;
}

static int check_program(const struct agg_action_spec *s, char *err, size_t errsize)
{
	if (!s->argv || s->argc == 0)
		return bad(err, errsize, "program: empty argv");
	for (size_t i = 0; i < s->argc; i++)
		if (!s->argv[i])
			return bad(err, errsize, "program: argv[%zu] is NULL", i);
	const char *path = s->argv[0];
	if (path[0] != '/')
		return bad(err, errsize, "program \"%.200s\" is not an absolute path", path);
	struct stat st;
	if (stat(path, &st) < 0)
		return bad(err, errsize, "program \"%.200s\": %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return bad(err, errsize, "program \"%.200s\" is not a regular file", path);
	if (access(path, X_OK) < 0)
		return bad(err, errsize, "program \"%.200s\" is not executable: %s", path, strerror(errno));
	return 0;
}

int agg_action_check(const struct agg_action_spec *s, char *err, size_t errsize)
{
	if (s->timeout_ns <= 0)
		return bad(err, errsize, "timeout must be positive");
	switch (s->kind) {
	case AGG_ACT_PROGRAM: return check_program(s, err, errsize);
	case AGG_ACT_WEBHOOK: {
		struct agg_url u;
		char why[128];
		if (!s->url || !*s->url)
			return bad(err, errsize, "webhook: no url");
		if (agg_url_parse(s->url, &u, why, sizeof why) < 0)
			return bad(err, errsize, "webhook url \"%.200s\": %s", s->url, why);
		if (s->max_attempts == 0)
			return bad(err, errsize, "webhook: max_attempts is 0 (at least 1)");
		if (s->backoff_ns < 0)
			return bad(err, errsize, "webhook: negative backoff");
		return 0;
	}
	case AGG_ACT_VIRT:
		switch (s->op) {
		case AGG_VIRT_SET_VCPUS:
			if (s->amount == 0 || s->amount > INT_MAX)
				return bad(err, errsize, "set-vcpus: %" PRIu64 " vCPUs is out of range", s->amount);
			return 0;
		case AGG_VIRT_SET_MEMORY:
			if (s->amount == 0 || s->amount > ULONG_MAX)
				return bad(err, errsize, "set-memory: %" PRIu64 " KiB is out of range", s->amount);
			return 0;
		case AGG_VIRT_MIGRATE:
			if (!s->dest_uri || !*s->dest_uri)
				return bad(err, errsize, "migrate: no destination URI");
			return 0;
		case AGG_VIRT_SUSPEND:
		case AGG_VIRT_RESUME:
		case AGG_VIRT_SHUTDOWN: return 0;
		}
		return bad(err, errsize, "unknown virt operation %d", (int)s->op);
	}
	return bad(err, errsize, "unknown action kind %d", (int)s->kind);
}

/* ------------------------------------------------------------ Alertmanager JSON */

/* RFC 3339 in UTC as Go prints it (RFC3339Nano: no trailing zeros). */
static void rfc3339(int64_t ns, char *buf, size_t size)
{
	int64_t sec = ns / VM_NS_PER_SEC, frac = ns % VM_NS_PER_SEC;
	if (frac < 0)
		frac += VM_NS_PER_SEC, sec--;
	time_t t = (time_t)sec;
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	int digits = 9;
	while (frac && frac % 10 == 0)
		frac /= 10, digits--;
	if (frac)
		snprintf(buf + n, size - n, ".%0*" PRId64 "Z", digits, frac);
	else
		snprintf(buf + n, size - n, "Z");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Prometheus' label set fingerprint (FNV-1a 64 over the sorted names and
 * values, each followed by 0xff), which Alertmanager shows. */
static void fingerprint(json_t *labels, char out[17])
{
	size_t n = json_object_size(labels), i = 0;
	const char **keys = vm_xcalloc(n ? n : 1, sizeof *keys);
	const char *k;
	json_t *v;
	json_object_foreach(labels, k, v)
	{
		keys[i++] = k;
	}
	qsort(keys, n, sizeof *keys, cmp_str);
	uint64_t h = n ? UINT64_C(14695981039346656037) : 0;
	for (i = 0; i < n; i++) {
		const char *parts[2] = {keys[i], json_string_value(json_object_get(labels, keys[i]))};
		for (int p = 0; p < 2; p++) {
			for (const unsigned char *c = (const unsigned char *)parts[p]; *c; c++)
				h = (h ^ *c) * UINT64_C(1099511628211);
			h = (h ^ 0xff) * UINT64_C(1099511628211);
		}
	}
	free(keys);
	snprintf(out, 17, "%016" PRIx64, h);
}

static void set_str(json_t *o, const char *key, const char *value)
{
	if (value)
		json_object_set_new(o, key, json_string(value));
}

char *agg_alertmanager_json(const struct agg_alert_info *a, const char *receiver, const char *external_url)
{
	json_t *values = NULL;
	if (a->values_json) {
		values = json_loads(a->values_json, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(values)) {
			json_decref(values);
			return NULL;
		}
	}
	const char *kind = a->subject_kind ? a->subject_kind : "";
	json_t *labels = json_object();
	set_str(labels, "alertname", a->rule);
	set_str(labels, "severity", a->severity);
	if (strcmp(kind, "vm") == 0)
		set_str(labels, "vm", a->subject);
	set_str(labels, "host", a->host ? a->host : strcmp(kind, "host") == 0 ? a->subject : NULL);
	set_str(labels, "tenant", a->tenant ? a->tenant : strcmp(kind, "tenant") == 0 ? a->subject : NULL);
	set_str(labels, "vm_uuid", a->vm_uuid);
	for (size_t i = 0; i < a->nlabels; i++)
		if (a->label_keys[i] && a->label_values[i] && !json_object_get(labels, a->label_keys[i]))
			set_str(labels, a->label_keys[i], a->label_values[i]);

	json_t *ann = json_object();
	set_str(ann, "summary", a->summary);
	if (values) {
		char *text = json_dumps(values, JSON_COMPACT | JSON_SORT_KEYS);
		set_str(ann, "values", text);
		free(text);
		json_decref(values);
	}
	if (a->alert_id)
		json_object_set_new(ann, "vmeter_alert_id", json_sprintf("%" PRId64, a->alert_id));
	if (a->decision_id)
		json_object_set_new(ann, "vmeter_decision_id", json_sprintf("%" PRId64, a->decision_id));

	char starts[48], ends[48], fp[17];
	rfc3339(a->starts_ns, starts, sizeof starts);
	if (a->ends_ns)
		rfc3339(a->ends_ns, ends, sizeof ends);
	else
		snprintf(ends, sizeof ends, ZERO_TIME);
	fingerprint(labels, fp);
	const char *status = a->status ? a->status : "firing";

	json_t *alert = json_object();
	json_object_set_new(alert, "status", json_string(status));
	json_object_set(alert, "labels", labels);
	json_object_set(alert, "annotations", ann);
	json_object_set_new(alert, "startsAt", json_string(starts));
	json_object_set_new(alert, "endsAt", json_string(ends));
	json_object_set_new(alert, "generatorURL", json_string(a->generator_url ? a->generator_url : ""));
	json_object_set_new(alert, "fingerprint", json_string(fp));

	json_t *group = json_object();
	set_str(group, "alertname", a->rule);
	/* A group key as Alertmanager writes it for a route grouping by
	 * alertname: receivers that deduplicate on it keep working. */
	json_t *gk_value = json_string(a->rule ? a->rule : "");
	char *quoted = json_dumps(gk_value, JSON_ENCODE_ANY);
	json_decref(gk_value);
	char *group_key = vm_xasprintf("{}:{alertname=%s}", quoted);
	free(quoted);

	json_t *doc = json_object();
	json_object_set_new(doc, "version", json_string("4"));
	json_object_set_new(doc, "groupKey", json_string(group_key));
	json_object_set_new(doc, "truncatedAlerts", json_integer(0));
	json_object_set_new(doc, "status", json_string(status));
	json_object_set_new(doc, "receiver", json_string(receiver ? receiver : "vmeter"));
	json_object_set_new(doc, "groupLabels", group);
	json_object_set_new(doc, "commonLabels", json_deep_copy(labels));
	json_object_set_new(doc, "commonAnnotations", json_deep_copy(ann));
	json_object_set_new(doc, "externalURL", json_string(external_url ? external_url : ""));
	json_t *alerts = json_array();
	json_array_append_new(alerts, alert);
	json_object_set_new(doc, "alerts", alerts);
	char *out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	json_decref(labels);
	json_decref(ann);
	free(group_key);
	if (!out)
		abort(); /* jansson fails only on allocation */
	return out;
}

/* ------------------------------------------------------------ the environment */

struct strvec {
	char **v;
	size_t n, cap;
};

static void vec_push(struct strvec *s, char *str)
{
	s->v = vm_xgrow(s->v, &s->cap, s->n + 2, sizeof *s->v);
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

static void vec_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static void env_set(struct strvec *e, const char *name, const char *value)
{
	if (value)
		vec_push(e, vm_xasprintf("%s=%s", name, value));
}

static bool env_has(const struct strvec *e, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i], name, n) == 0 && e->v[i][n] == '=')
			return true;
	return false;
}

/* A program's whole environment: the alert and nothing of the daemon's. */
static char **alert_env(const struct agg_alert_info *a)
{
	struct strvec e = {0};
	char buf[64], key[256];
	env_set(&e, "PATH", PROGRAM_PATH);
	env_set(&e, "LANG", "C");
	env_set(&e, "VMETER_ALERT_RULE", a->rule);
	env_set(&e, "VMETER_ALERT_STATUS", a->status);
	env_set(&e, "VMETER_ALERT_SEVERITY", a->severity);
	env_set(&e, "VMETER_ALERT_SUBJECT", a->subject);
	env_set(&e, "VMETER_ALERT_SUBJECT_KIND", a->subject_kind);
	env_set(&e, "VMETER_ALERT_VM_UUID", a->vm_uuid);
	env_set(&e, "VMETER_ALERT_HOST", a->host);
	env_set(&e, "VMETER_ALERT_HOST_URI", a->host_uri);
	env_set(&e, "VMETER_ALERT_TENANT", a->tenant);
	env_set(&e, "VMETER_ALERT_SUMMARY", a->summary);
	rfc3339(a->starts_ns, buf, sizeof buf);
	env_set(&e, "VMETER_ALERT_STARTS_AT", buf);
	if (a->ends_ns) {
		rfc3339(a->ends_ns, buf, sizeof buf);
		env_set(&e, "VMETER_ALERT_ENDS_AT", buf);
	}
	if (a->alert_id) {
		snprintf(buf, sizeof buf, "%" PRId64, a->alert_id);
		env_set(&e, "VMETER_ALERT_ID", buf);
	}
	if (a->decision_id) {
		snprintf(buf, sizeof buf, "%" PRId64, a->decision_id);
		env_set(&e, "VMETER_DECISION_ID", buf);
	}
	for (size_t i = 0; i < a->nlabels; i++) {
		if (!a->label_keys[i] || !*a->label_keys[i] || !a->label_values[i])
			continue;
		if (agg_action_env_key(a->label_keys[i], key, sizeof key) >= sizeof key)
			continue;      /* a key that long is no variable name anyone reads */
		if (!env_has(&e, key)) /* two keys alike once sanitised: the first */
			env_set(&e, key, a->label_values[i]);
	}
	return e.v;
}

/* ------------------------------------------------------------ the runner */

struct job {
	struct job *next;
	uint64_t id;
	enum agg_action_kind kind;
	char **argv, **envp; /* program; NULL-terminated */
	char *body;          /* program's stdin, webhook's body */
	char *url;
	unsigned max_attempts;
	int64_t backoff_ns, timeout_ns;
	enum agg_virt_op op;
	uint64_t amount;
	char *uri, *uuid, *dest_uri;
};

struct worker {
	struct agg_runner *r;
	pthread_t thread;
	bool ended;
};

struct agg_runner {
	pthread_mutex_t mu;
	pthread_cond_t work; /* a job queued, or stopping */
	pthread_cond_t done; /* a result, or a worker ended */
	struct job *head, **tail;
	struct agg_action_result *results;
	size_t nresults, cap;
	struct worker *workers;
	unsigned nworkers, live;
	bool stopping, abandoned;
	int cancel[2]; /* readable once stopping: the executors' cancel */
	int notify[2]; /* readable while results wait */
	uint64_t next_id;
	char err[256];
	struct agg_virt_pool *virt;
};

static void job_free(struct job *j)
{
	vec_free(j->argv);
	vec_free(j->envp);
	free(j->body);
	free(j->url);
	free(j->uri);
	free(j->uuid);
	free(j->dest_uri);
	free(j);
}

static void run(struct agg_runner *r, struct job *j, struct agg_action_result *res)
{
	res->job = j->id;
	res->exit_status = -1;
	res->started_ns = vm_now_ns();
	switch (j->kind) {
	case AGG_ACT_PROGRAM:
		agg_prog_run(j->argv, j->envp, j->body, strlen(j->body), j->timeout_ns, r->cancel[0], res);
		break;
	case AGG_ACT_WEBHOOK:
		agg_webhook_post(j->url, j->body, j->max_attempts, j->backoff_ns, j->timeout_ns, r->cancel[0], res);
		break;
	case AGG_ACT_VIRT:
		agg_virt_run(r->virt, j->uri, j->uuid, j->op, j->amount, j->dest_uri, j->timeout_ns, r->cancel[0], res);
		break;
	}
	res->ok = res->outcome == AGG_OUT_OK;
	res->finished_ns = vm_now_ns();
}

static void core_free(struct agg_runner *r)
{
	while (r->head) {
		struct job *j = r->head;
		r->head = j->next;
		job_free(j);
	}
	for (size_t i = 0; i < r->nresults; i++)
		agg_action_result_clear(&r->results[i]);
	free(r->results);
	free(r->workers);
	agg_virt_pool_free(r->virt);
	for (int i = 0; i < 2; i++) {
		close(r->cancel[i]);
		close(r->notify[i]);
	}
	pthread_cond_destroy(&r->work);
	pthread_cond_destroy(&r->done);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct agg_runner *r = w->r;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->stopping && !r->head)
			pthread_cond_wait(&r->work, &r->mu);
		if (r->stopping)
			break;
		struct job *j = r->head;
		r->head = j->next;
		if (!r->head)
			r->tail = &r->head;
		pthread_mutex_unlock(&r->mu);

		struct agg_action_result res = {0};
		run(r, j, &res);
		job_free(j);

		pthread_mutex_lock(&r->mu);
		r->results = vm_xgrow(r->results, &r->cap, r->nresults + 1, sizeof *r->results);
		r->results[r->nresults++] = res;
		if (r->nresults == 1 && write(r->notify[1], "r", 1) < 0) {
			/* the pipe is full only if it is readable already */
		}
		pthread_cond_broadcast(&r->done);
	}
	w->ended = true;
	r->live--;
	bool last = r->abandoned && r->live == 0;
	pthread_cond_broadcast(&r->done);
	pthread_mutex_unlock(&r->mu);
	if (last)
		core_free(r);
	return NULL;
}

struct agg_runner *agg_runner_new(unsigned workers, char *err, size_t errsize)
{
	if (workers < 1 || workers > MAX_WORKERS) {
		bad(err, errsize, "%u workers: want 1 to %d", workers, MAX_WORKERS);
		return NULL;
	}
	struct agg_runner *r = vm_xcalloc(1, sizeof *r);
	if (pipe2(r->cancel, O_CLOEXEC) < 0) {
		bad(err, errsize, "cannot make a pipe: %s", strerror(errno));
		free(r);
		return NULL;
	}
	if (pipe2(r->notify, O_CLOEXEC | O_NONBLOCK) < 0) {
		bad(err, errsize, "cannot make a pipe: %s", strerror(errno));
		close(r->cancel[0]);
		close(r->cancel[1]);
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->work, NULL);
	pthread_cond_init(&r->done, &ca);
	pthread_condattr_destroy(&ca);
	r->tail = &r->head;
	r->virt = agg_virt_pool_new();
	r->workers = vm_xcalloc(workers, sizeof *r->workers);
	for (unsigned i = 0; i < workers; i++) {
		r->workers[i].r = r;
		int rc = pthread_create(&r->workers[i].thread, NULL, worker_main, &r->workers[i]);
		if (rc != 0) {
			bad(err, errsize, "cannot start a worker thread: %s", strerror(rc));
			agg_runner_free(r, 0);
			return NULL;
		}
		r->nworkers++;
		r->live++;
	}
	return r;
}

uint64_t agg_runner_submit(struct agg_runner *r, const struct agg_action_spec *s, const struct agg_alert_info *a)
{
	r->err[0] = '\0';
	if (agg_action_check(s, r->err, sizeof r->err) < 0)
		return 0;
	if (!a->rule || !a->status) {
		bad(r->err, sizeof r->err, "the alert has no rule or no status");
		return 0;
	}
	struct job *j = vm_xcalloc(1, sizeof *j);
	j->kind = s->kind;
	j->timeout_ns = s->timeout_ns;
	if (s->kind == AGG_ACT_VIRT) {
		if (!a->vm_uuid || !a->host_uri) {
			bad(r->err, sizeof r->err, "%s: the alert names no %s", agg_virt_op_name(s->op),
			    a->vm_uuid ? "host URI" : "VM UUID");
			free(j);
			return 0;
		}
		j->op = s->op;
		j->amount = s->amount;
		j->uri = vm_xstrdup(a->host_uri);
		j->uuid = vm_xstrdup(a->vm_uuid);
		j->dest_uri = s->dest_uri ? vm_xstrdup(s->dest_uri) : NULL;
	} else {
		j->body = agg_alertmanager_json(a, s->receiver, s->external_url);
		if (!j->body) {
			bad(r->err, sizeof r->err, "the alert's values are not a JSON object");
			free(j);
			return 0;
		}
		if (s->kind == AGG_ACT_PROGRAM) {
			struct strvec v = {0};
			for (size_t i = 0; i < s->argc; i++)
				vec_push(&v, vm_xstrdup(s->argv[i]));
			j->argv = v.v;
			j->envp = alert_env(a);
		} else {
			j->url = vm_xstrdup(s->url);
			j->max_attempts = s->max_attempts;
			j->backoff_ns = s->backoff_ns;
		}
	}
	pthread_mutex_lock(&r->mu);
	uint64_t id = j->id = ++r->next_id; /* a worker may have freed j once unlocked */
	*r->tail = j;
	r->tail = &j->next;
	pthread_cond_signal(&r->work);
	pthread_mutex_unlock(&r->mu);
	return id;
}

const char *agg_runner_error(const struct agg_runner *r)
{
	return r->err;
}

int agg_runner_fd(const struct agg_runner *r)
{
	return r->notify[0];
}

size_t agg_runner_poll(struct agg_runner *r, struct agg_action_result *out, size_t max)
{
	pthread_mutex_lock(&r->mu);
	size_t n = r->nresults < max ? r->nresults : max;
	/* results is NULL until the first result: no copy of nothing (UBSan) */
	if (n > 0) {
		memcpy(out, r->results, n * sizeof *out);
		memmove(r->results, r->results + n, (r->nresults - n) * sizeof *r->results);
		r->nresults -= n;
	}
	if (r->nresults == 0) {
		char buf[64];
		while (read(r->notify[0], buf, sizeof buf) > 0)
			;
	}
	pthread_mutex_unlock(&r->mu);
	return n;
}

bool agg_runner_wait(struct agg_runner *r, int64_t timeout_ns)
{
	int64_t deadline = vm_monotonic_ns() + timeout_ns;
	struct timespec ts = {.tv_sec = deadline / VM_NS_PER_SEC, .tv_nsec = deadline % VM_NS_PER_SEC};
	pthread_mutex_lock(&r->mu);
	while (r->nresults == 0 && pthread_cond_timedwait(&r->done, &r->mu, &ts) != ETIMEDOUT)
		;
	bool some = r->nresults > 0;
	pthread_mutex_unlock(&r->mu);
	return some;
}

void agg_action_result_clear(struct agg_action_result *res)
{
	free(res->output);
	res->output = NULL;
}

void agg_runner_free(struct agg_runner *r, int64_t grace_ns)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	while (r->head) {
		struct job *j = r->head;
		r->head = j->next;
		job_free(j);
	}
	r->tail = &r->head;
	pthread_cond_broadcast(&r->work);
	pthread_mutex_unlock(&r->mu);
	if (write(r->cancel[1], "x", 1) < 0) {
		/* cannot fail on a fresh pipe of our own */
	}

	int64_t deadline = vm_monotonic_ns() + (grace_ns > 0 ? grace_ns : 0);
	struct timespec ts = {.tv_sec = deadline / VM_NS_PER_SEC, .tv_nsec = deadline % VM_NS_PER_SEC};
	pthread_mutex_lock(&r->mu);
	while (r->live > 0 && pthread_cond_timedwait(&r->done, &r->mu, &ts) != ETIMEDOUT)
		;
	/* Copies: once abandoned, the last worker frees the runner. */
	unsigned n = r->nworkers;
	pthread_t threads[MAX_WORKERS];
	bool ended[MAX_WORKERS];
	for (unsigned i = 0; i < n; i++) {
		threads[i] = r->workers[i].thread;
		ended[i] = r->workers[i].ended;
	}
	bool all = r->live == 0;
	r->abandoned = !all;
	pthread_mutex_unlock(&r->mu);
	for (unsigned i = 0; i < n; i++) {
		if (ended[i])
			pthread_join(threads[i], NULL);
		else
			pthread_detach(threads[i]);
	}
	if (all)
		core_free(r);
}
