/* The executors of a policy's actions: run a program, call a webhook with
 * Alertmanager's JSON, or operate on the VM through libvirt.
 *
 * A runner owns a few worker threads; submit copies the job (spec and
 * alert) and returns at once; each job ends in exactly one result, taken
 * with agg_runner_poll when agg_runner_fd() is readable.  Workers do not
 * block each other: a slow webhook or a long migration holds its own
 * worker only.  Dry-run is the caller's: it records "would have acted"
 * and never submits.
 *
 * program: argv[0] an absolute path, executed without a shell in its own
 *   process group, with a clean environment (PATH, LANG=C and the alert:
 *   VMETER_ALERT_RULE, _STATUS, _SUBJECT, _SUBJECT_KIND, _VM_UUID, _HOST,
 *   _HOST_URI, _TENANT, _SEVERITY, _SUMMARY, _STARTS_AT, _ENDS_AT, _ID,
 *   VMETER_DECISION_ID and each label as VMETER_LABEL_<KEY>, see
 *   agg_action_env_key; a variable whose value is not known is unset;
 *   of two labels alike once sanitised, the first), the alert's Alertmanager JSON on stdin (then
 *   closed), stdout and stderr captured together (the first 4 KiB kept),
 *   no descriptor of the daemon inherited.  At the timeout the process
 *   group gets SIGTERM, then SIGKILL AGG_ACTION_KILL_GRACE_NS later; when
 *   the program exits, what is left of its group is killed too (an action
 *   leaves nothing running).  ok: exit 0.
 * webhook: an HTTP/1.1 POST of the Alertmanager webhook JSON (version "4")
 *   to a plain http:// URL (no https), each attempt within timeout_ns;
 *   connection errors, timeouts, 5xx and 429 are retried after backoff_ns,
 *   doubled each time and capped at AGG_ACTION_BACKOFF_MAX_NS, until
 *   max_attempts; any other status (3xx: no redirects, 4xx) is final.
 *   ok: a 2xx.  Name resolution is not bounded by the timeout.
 * virt: on the domain of alert->vm_uuid at alert->host_uri (connection
 *   opened read-write, cached per URI, reopened when broken).  set-vcpus
 *   and set-memory change the live domain and its config when it runs,
 *   the config when it does not; above the maximum libvirt refuses and
 *   its message is the result's.  shutdown asks the guest and waits up to
 *   timeout_ns for the domain to stop (AGG_OUT_TIMEOUT if it has not).
 *   migrate: live, persistent at the destination, undefined at the
 *   source, to dest_uri (libvirt's managed direct migration: the runner
 *   opens the destination itself).
 *
 * Thread safety: one thread (the daemon's) calls every function of a
 * runner; the workers are internal.  The process: SIGPIPE is ignored
 * once a runner exists (libvirt's clients must); the daemon must not
 * reap children it did not spawn (no waitpid(-1) in a SIGCHLD handler):
 * each worker waits for its own program. */
#ifndef AGG_ACTION_H
#define AGG_ACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What an action is told about the alert; submit copies every string. */
struct agg_alert_info {
	const char *rule, *severity;                         /* the rule's name and severity */
	const char *status;                                  /* "firing" or "resolved" */
	const char *subject_kind;                            /* "vm", "host", "tenant" */
	const char *subject;                                 /* the VM's/host's/tenant's name */
	const char *vm_uuid, *host, *host_uri, *tenant;      /* NULL where not known */
	const char *const *label_keys, *const *label_values; /* the rule's labels */
	size_t nlabels;
	const char *summary;           /* the condition and its values, one line */
	const char *values_json;       /* a JSON object: the metric values that decided; NULL: none */
	int64_t starts_ns, ends_ns;    /* UTC; ends 0 while firing */
	int64_t alert_id, decision_id; /* the database's ids (audit links); 0: none */
	const char *generator_url;     /* NULL: none */
};

enum agg_action_kind { AGG_ACT_PROGRAM, AGG_ACT_WEBHOOK, AGG_ACT_VIRT };

enum agg_virt_op {
	AGG_VIRT_SET_VCPUS,
	AGG_VIRT_SET_MEMORY,
	AGG_VIRT_SUSPEND,
	AGG_VIRT_RESUME,
	AGG_VIRT_SHUTDOWN,
	AGG_VIRT_MIGRATE,
};

/* A rule file's names of the operations: "set-vcpus", "set-memory",
 * "suspend", "resume", "shutdown", "migrate"; NULL outside the enum. */
const char *agg_virt_op_name(enum agg_virt_op op);
/* The operation named `name`: 0, or -1 for an unknown name. */
int agg_virt_op_parse(const char *name, enum agg_virt_op *op);

/* The cap of a webhook's doubling back-off. */
#define AGG_ACTION_BACKOFF_MAX_NS (300 * INT64_C(1000000000))
/* After SIGTERM at a program's timeout, SIGKILL to its group this much later. */
#define AGG_ACTION_KILL_GRACE_NS (2 * INT64_C(1000000000))
/* The captured output of a program, at most. */
#define AGG_ACTION_OUTPUT_MAX 4096

struct agg_action_spec {
	enum agg_action_kind kind;
	const char *const *argv; /* program: argv[0] an absolute path; no shell */
	size_t argc;
	const char *url;          /* webhook: http://host[:port][/path] */
	unsigned max_attempts;    /* webhook: attempts before giving up (>= 1) */
	int64_t backoff_ns;       /* webhook: first retry delay, doubled each time, capped */
	enum agg_virt_op op;      /* virt */
	uint64_t amount;          /* virt: vCPUs (set-vcpus), or memory in KiB (set-memory) */
	const char *dest_uri;     /* virt migrate: the destination host's libvirt URI */
	int64_t timeout_ns;       /* per attempt (> 0); shutdown: until the domain is off */
	const char *receiver;     /* the JSON's "receiver" (the policy's name); NULL: "vmeter" */
	const char *external_url; /* the JSON's "externalURL"; NULL: "" */
};

/* Whether `s` is a job submit would take (its alert aside): 0, or -1 with
 * what is wrong in `err` ("program \"x\" is not an absolute path",
 * "webhook url \"...\": scheme is not http", "max_attempts is 0", ...).
 * A program's argv[0] must exist and be executable now.  For the rule
 * parser at load time; submit runs it again. */
int agg_action_check(const struct agg_action_spec *s, char *err, size_t errsize);

/* How a job ended.  AGG_OUT_TIMEOUT: a program killed at its timeout, a
 * webhook whose last attempt timed out, a shutdown that did not stop the
 * domain in time.  AGG_OUT_NOT_FOUND: no domain of that UUID.
 * AGG_OUT_CANCELLED: the runner was freed first. */
enum agg_action_outcome { AGG_OUT_OK, AGG_OUT_FAILED, AGG_OUT_TIMEOUT, AGG_OUT_NOT_FOUND, AGG_OUT_CANCELLED };

/* "ok", "failed", "timeout", "not-found", "cancelled"; NULL outside the enum. */
const char *agg_action_outcome_name(enum agg_action_outcome o);

struct agg_action_result {
	uint64_t job; /* submit's return */
	bool ok;      /* outcome == AGG_OUT_OK */
	enum agg_action_outcome outcome;
	unsigned attempts;
	int exit_status;                 /* program: exit code, or 128+signal; -1 otherwise */
	int http_status;                 /* webhook: the last status; 0: none */
	int64_t started_ns, finished_ns; /* UTC */
	char message[256]; /* "exit 3", "HTTP 503 after 4 attempts", "virDomainSetVcpusFlags: ...", "timed out after 10
	                      s" */
	char *output;      /* program: the first 4 KiB of stdout+stderr, NUL-terminated; otherwise NULL.
	                    * Owned by the result: agg_action_result_clear frees it. */
};

struct agg_runner;

/* A runner of `workers` threads (1..64): NULL with `err` on failure. */
struct agg_runner *agg_runner_new(unsigned workers, char *err, size_t errsize);
/* Queues a job: its id (> 0), or 0 when agg_action_check refuses the spec
 * or the alert lacks what the kind needs (virt: vm_uuid and host_uri), the
 * reason then in the runner's last error (agg_runner_error).  Copies
 * everything; the caller keeps ownership of `s` and `a`. */
uint64_t agg_runner_submit(struct agg_runner *r, const struct agg_action_spec *s, const struct agg_alert_info *a);
/* Why the last submit returned 0; "" if it did not.  Owned by the runner. */
const char *agg_runner_error(const struct agg_runner *r);
/* Readable while results wait: for the daemon's poll(); owned by the runner. */
int agg_runner_fd(const struct agg_runner *r);
/* Moves up to `max` finished results into `out` (each to be cleared with
 * agg_action_result_clear): how many.  Never blocks. */
size_t agg_runner_poll(struct agg_runner *r, struct agg_action_result *out, size_t max);
/* Blocks until a result waits (true) or `timeout_ns` passed (false):
 * tests and shutdown. */
bool agg_runner_wait(struct agg_runner *r, int64_t timeout_ns);
/* Frees what a result owns (its output); the struct itself is the caller's. */
void agg_action_result_clear(struct agg_action_result *res);
/* Stops: queued jobs are dropped without a result; a running program is
 * killed as at its timeout (SIGTERM, SIGKILL AGG_ACTION_KILL_GRACE_NS
 * later) and reaped; a webhook is abandoned; a shutdown stops waiting.
 * Waits up to `grace_ns` for the workers; one still inside a libvirt
 * call then finishes detached and frees what it holds.  Results not
 * polled are freed.  NULL is accepted. */
void agg_runner_free(struct agg_runner *r, int64_t grace_ns);

/* The Alertmanager webhook JSON (version "4") of one alert, as a webhook
 * receives it and a program reads on stdin: a new string the caller frees.
 * `receiver` NULL: "vmeter"; `external_url` NULL: "".  Its labels:
 * alertname (the rule), severity, vm (subject kind vm), host, tenant,
 * vm_uuid where known, then the rule's labels (which do not override
 * those).  Its fingerprint: 16 hex digits of a hash of the sorted labels,
 * stable across runs and processes.  NULL only when values_json is not a
 * JSON object. */
char *agg_alertmanager_json(const struct agg_alert_info *a, const char *receiver, const char *external_url);

/* The environment variable of label `key`: "VMETER_LABEL_" and the key in
 * upper case, every byte outside [A-Z0-9_] made '_' (so "team-name" is
 * VMETER_LABEL_TEAM_NAME).  Writes at most `size` bytes, NUL-terminated;
 * returns the length it needed (as snprintf). */
size_t agg_action_env_key(const char *key, char *out, size_t size);

/* A duration for messages: "10 s", "1.5 s", "250 ms". */
void agg_action_duration(int64_t ns, char *buf, size_t size);

#endif
