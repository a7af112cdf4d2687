/* Drives aggregator/action.c's runner for tests/integration/
 * aggregator-actions.sh.  Takes commands on stdin, one per line:
 *
 *   set FIELD VALUE      the alert of the next jobs: rule, status, severity,
 *                        kind, subject, uuid, host, uri, tenant, summary,
 *                        values, starts, ends (epoch ns), id, decision, gen;
 *                        label.KEY VALUE adds a label; clear forgets all;
 *                        no VALUE: the field is unknown (NULL)
 *   program TIMEOUT_MS ARG0 [ARG...]            (arguments split on spaces)
 *   webhook TIMEOUT_MS ATTEMPTS BACKOFF_MS URL
 *   virt OP AMOUNT TIMEOUT_MS [DEST_URI]
 *   wait N               waits (on agg_runner_fd) for N results, prints them
 *   free GRACE_MS        frees the runner (jobs may run) and makes a new one
 *   json                 prints the alert's Alertmanager JSON
 *
 * A submit prints "job N" or "refused: WHY"; a result is one JSON line
 * {"job":N,"ok":B,"outcome":S,"attempts":N,"exit":N,"http":N,
 *  "message":S,"output":S,"started":NS,"finished":NS}.
 * With ACTION_PROBE_CANARY=FILE set, FILE is opened without O_CLOEXEC
 * first: a descriptor no program may inherit.
 * Usage: action_probe [WORKERS] */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "action.h"

#define MAXF 64

static char *fields[32];
static const char *names[] = {"rule",   "status",  "severity", "kind",   "subject", "uuid", "host",     "uri",
                              "tenant", "summary", "values",   "starts", "ends",    "id",   "decision", "gen"};
enum { NNAMES = sizeof names / sizeof *names };
static char *lkeys[MAXF], *lvals[MAXF];
static size_t nlabels;

static const char *f(int i)
{
	return fields[i];
}

static int64_t num(int i)
{
	return fields[i] ? strtoll(fields[i], NULL, 10) : 0;
}

static struct agg_alert_info alert(void)
{
	return (struct agg_alert_info){
	    .rule = f(0),
	    .status = f(1),
	    .severity = f(2),
	    .subject_kind = f(3),
	    .subject = f(4),
	    .vm_uuid = f(5),
	    .host = f(6),
	    .host_uri = f(7),
	    .tenant = f(8),
	    .summary = f(9),
	    .values_json = f(10),
	    .starts_ns = num(11),
	    .ends_ns = num(12),
	    .alert_id = num(13),
	    .decision_id = num(14),
	    .generator_url = f(15),
	    .label_keys = (const char *const *)lkeys,
	    .label_values = (const char *const *)lvals,
	    .nlabels = nlabels,
	};
}

static void set(char *args)
{
	char *sp = strchr(args, ' ');
	const char *value = sp ? sp + 1 : "";
	if (sp)
		*sp = '\0';
	if (strcmp(args, "clear") == 0) {
		for (int i = 0; i < NNAMES; i++) {
			free(fields[i]);
			fields[i] = NULL;
		}
		for (size_t i = 0; i < nlabels; i++)
			free(lkeys[i]), free(lvals[i]);
		nlabels = 0;
		return;
	}
	if (strncmp(args, "label.", 6) == 0 && nlabels < MAXF) {
		lkeys[nlabels] = strdup(args + 6);
		lvals[nlabels++] = strdup(value);
		return;
	}
	for (int i = 0; i < NNAMES; i++)
		if (strcmp(args, names[i]) == 0) {
			free(fields[i]);
			fields[i] = *value ? strdup(value) : NULL; /* "set FIELD": unknown */
			return;
		}
	printf("error: no field %s\n", args);
}

static void submitted(struct agg_runner *r, uint64_t id)
{
	if (id)
		printf("job %" PRIu64 "\n", id);
	else
		printf("refused: %s\n", agg_runner_error(r));
}

static void print_result(const struct agg_action_result *res)
{
	json_t *o =
	    json_pack("{sI sb ss sI si si ss ss? sI sI}", "job", (json_int_t)res->job, "ok", res->ok, "outcome",
	              agg_action_outcome_name(res->outcome), "attempts", (json_int_t)res->attempts, "exit",
	              res->exit_status, "http", res->http_status, "message", res->message, "output", res->output,
	              "started", (json_int_t)res->started_ns, "finished", (json_int_t)res->finished_ns);
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	printf("%s\n", s);
	free(s);
	json_decref(o);
}

static void wait_results(struct agg_runner *r, long want)
{
	struct agg_action_result res[4];
	long got = 0;
	while (got < want) {
		/* the daemon's way: poll() the runner's descriptor */
		struct pollfd p = {.fd = agg_runner_fd(r), .events = POLLIN};
		if (poll(&p, 1, 600 * 1000) == 0) {
			printf("error: no result in 600 s\n");
			return;
		}
		size_t n = agg_runner_poll(r, res, 4);
		for (size_t i = 0; i < n; i++) {
			print_result(&res[i]);
			agg_action_result_clear(&res[i]);
		}
		got += (long)n;
	}
	/* every result taken: the descriptor is no longer readable */
	struct pollfd p = {.fd = agg_runner_fd(r), .events = POLLIN};
	if (poll(&p, 1, 0) != 0)
		printf("error: the runner's fd is readable with no result waiting\n");
}

int main(int argc, char **argv)
{
	unsigned workers = argc > 1 ? (unsigned)atoi(argv[1]) : 4;
	const char *canary = getenv("ACTION_PROBE_CANARY");
	int canary_fd = canary ? open(canary, O_RDONLY) : -1; /* no O_CLOEXEC, on purpose */
	char err[256], line[8192];
	struct agg_runner *r = agg_runner_new(workers, err, sizeof err);
	if (!r) {
		fprintf(stderr, "action_probe: %s\n", err);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\n")] = '\0';
		char *cmd = line, *args = strchr(line, ' ');
		if (args)
			*args++ = '\0';
		else
			args = line + strlen(line);
		struct agg_alert_info a = alert();
		struct agg_action_spec s = {.receiver = "probe", .external_url = "http://vmeter.test/"};
		if (strcmp(cmd, "set") == 0) {
			set(args);
		} else if (strcmp(cmd, "program") == 0) {
			const char *av[64];
			size_t n = 0;
			s.kind = AGG_ACT_PROGRAM;
			s.timeout_ns = strtoll(strtok(args, " "), NULL, 10) * 1000000;
			for (char *t; n < 64 && (t = strtok(NULL, " "));)
				av[n++] = t;
			s.argv = av;
			s.argc = n;
			submitted(r, agg_runner_submit(r, &s, &a));
		} else if (strcmp(cmd, "webhook") == 0) {
			long long t = 0, backoff = 0;
			unsigned attempts = 0;
			char url[4096] = "";
			sscanf(args, "%lld %u %lld %4095s", &t, &attempts, &backoff, url);
			s.kind = AGG_ACT_WEBHOOK;
			s.timeout_ns = t * 1000000;
			s.max_attempts = attempts;
			s.backoff_ns = backoff * 1000000;
			s.url = url;
			submitted(r, agg_runner_submit(r, &s, &a));
		} else if (strcmp(cmd, "virt") == 0) {
			char op[64] = "", dest[1024] = "";
			unsigned long long amount = 0;
			long long t = 0;
			sscanf(args, "%63s %llu %lld %1023s", op, &amount, &t, dest);
			s.kind = AGG_ACT_VIRT;
			if (agg_virt_op_parse(op, &s.op) < 0)
				s.op = (enum agg_virt_op)99;
			s.amount = amount;
			s.timeout_ns = t * 1000000;
			s.dest_uri = dest[0] ? dest : NULL;
			submitted(r, agg_runner_submit(r, &s, &a));
		} else if (strcmp(cmd, "wait") == 0) {
			wait_results(r, atol(args));
		} else if (strcmp(cmd, "free") == 0) {
			agg_runner_free(r, atoll(args) * 1000000);
			r = agg_runner_new(workers, err, sizeof err);
			printf("freed\n");
		} else if (strcmp(cmd, "json") == 0) {
			char *j = agg_alertmanager_json(&a, "probe", "http://vmeter.test/");
			printf("%s\n", j ? j : "(null)");
			free(j);
		} else if (cmd[0]) {
			printf("error: unknown command %s\n", cmd);
		}
	}
	agg_runner_free(r, 0);
	if (canary_fd >= 0)
		close(canary_fd);
	char clear[] = "clear";
	set(clear);
	return 0;
}
