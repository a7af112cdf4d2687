#include "config.h"

#include "rrdout.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include <dlfcn.h>
#include <rrd.h>

#include "fsutil.h"
#include "log.h"
#include "rrdc.h"
#include "vtime.h"
#include "xalloc.h"

/* rrdcached is spoken to by lib/rrdc (our own client, one connection per
 * instance); librrd is loaded with dlopen() only when a file must be read,
 * created or written without the daemon, or a graph drawn (see lib_load):
 * a collector whose daemon is up never maps librrd's graphing stack.
 *
 * Threads: vm_rrd_update() and vm_rrd_flush_all() take the instance lock
 * for the whole call (one collector thread writes, so it is uncontended);
 * vm_rrd_graph() takes it only around the daemon, and serialises
 * rrd_graph_v() on a lock of its own. */

#define NAME_MAX_LEN 200
/* How long a request to rrdcached may take before it counts as down. */
#define DAEMON_TIMEOUT_MS 10000
#define RETRY_NS (30 * VM_NS_PER_SEC)
/* A file not written for this long leaves the table when it is rebuilt. */
#define STALE_S 3600
#define GRAPH_MAX_DS 16
#define GRAPH_DS_MAX_LEN 512
#define GRAPH_MAX_ARGS (20 + 3 * GRAPH_MAX_DS)

/* What we know of one file, so that an update costs no stat(). */
struct rrd_file {
	char *name;     /* NULL: free slot */
	int64_t last_s; /* time of the last sample written (or the file's start) */
	bool verify;    /* an update failed: stat and check the file again */
	bool creating;  /* queued for the creator thread: skip updates */
	struct vm_log_once fail;
};

/* An update queued for a BATCH: the command, and what a fallback to a
 * direct write needs. */
struct pending {
	char *cmd; /* "UPDATE <path> <line>" */
	char *name;
	size_t path_at, path_len, line_at; /* offsets into cmd */
	int64_t prev_last_s;               /* f->last_s before this update */
};

/* How a file is to be made: its step, and whether from an old file at
 * its path (with step from_step, last updated at last_s). */
struct conversion {
	bool convert;
	long step, from_step;
	int64_t last_s;
};

/* A file to create (or convert) off the caller's thread. */
struct create_job {
	char *name, *path;
	const struct vm_meter_set *set;
	int64_t t_s;
	struct conversion conv;
	struct create_job *next;
};

struct vm_rrd {
	char *dir;         /* absolute: rrdcached resolves nothing for us */
	char *daemon;      /* "unix:/abs/path" or NULL */
	char *sock_path;   /* the path part of `daemon` */
	char *daemon_what; /* "rrdcached 'unix:...'" for log lines */
	int step_s;

	pthread_mutex_t lock; /* everything below */
	struct vm_rrdc *conn; /* NULL while the daemon is down */
	size_t batch_max;     /* updates a BATCH holds, 0: no batching */
	bool batch_failed;    /* a BATCH sent as it filled had a failure: for the commit */
	struct pending *pend; /* updates queued for the next BATCH */
	size_t n_pend, cap_pend;
	bool daemon_up;
	int64_t retry_ns; /* monotonic time of the next connection attempt */
	struct vm_log_once daemon_once;
	struct rrd_file *files; /* open addressing, cap a power of two */
	size_t cap, n;
	int64_t newest_s;
	uint64_t skipped;          /* samples not newer than the last written */
	uint64_t skipped_creating; /* samples that arrived while their file was made */

	/* Creating a file writes all its archives (tens of MB for a VM):
	 * with async_create a thread does it, so that a thousand new VMs do
	 * not hold up a sampling pass for minutes. */
	bool async_create;
	bool creator_started, creator_stop;
	pthread_t creator;
	pthread_cond_t creator_cond;
	struct create_job *jobs, *jobs_tail;
};

/* rrd_graph_v() (fonts, cairo) is not known to be reentrant. */
static pthread_mutex_t graph_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- librrd */

/* librrd's functions, resolved at first need.  Its error text is per
 * thread (rrd_get_error), like the calls that set it. */
static struct {
	pthread_once_t once;
	void *handle;
	char why[256]; /* why it could not be loaded */
	void (*clear_error)(void);
	int (*test_error)(void);
	char *(*get_error)(void);
	int (*create_r2)(const char *, unsigned long, time_t, int, const char **, const char *, int, const char **);
	rrd_info_t *(*info_r)(const char *);
	void (*info_free)(rrd_info_t *);
	int (*update_r)(const char *, const char *, int, const char **);
	rrd_info_t *(*graph_v)(int, char **);
	int (*fetch_r)(const char *, const char *, time_t *, time_t *, unsigned long *, unsigned long *, char ***,
	               rrd_value_t **);
} lib = {.once = PTHREAD_ONCE_INIT};

static void lib_open(void)
{
	void *h = dlopen(VM_RRD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		snprintf(lib.why, sizeof lib.why, "cannot load %s: %s", VM_RRD_SONAME, e ? e : "unknown error");
		return;
	}
	/* POSIX allows converting dlsym's object pointer to a function one. */
#define SYM(field, name)                                                                                               \
	do {                                                                                                           \
		*(void **)&lib.field = dlsym(h, name);                                                                 \
		if (!lib.field) {                                                                                      \
			snprintf(lib.why, sizeof lib.why, "%s lacks %s", VM_RRD_SONAME, name);                         \
			dlclose(h);                                                                                    \
			return;                                                                                        \
		}                                                                                                      \
	} while (0)
	SYM(clear_error, "rrd_clear_error");
	SYM(test_error, "rrd_test_error");
	SYM(get_error, "rrd_get_error");
	SYM(create_r2, "rrd_create_r2");
	SYM(info_r, "rrd_info_r");
	SYM(info_free, "rrd_info_free");
	SYM(update_r, "rrd_update_r");
	SYM(graph_v, "rrd_graph_v");
	SYM(fetch_r, "rrd_fetch_r");
#undef SYM
	lib.handle = h;
}

/* Loads librrd once; false (with lib.why) if it cannot be. */
static bool lib_load(void)
{
	pthread_once(&lib.once, lib_open);
	if (lib.handle)
		lib.clear_error();
	return lib.handle != NULL;
}

/* ---------------------------------------------------------------- helpers */

static bool name_ok(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > NAME_MAX_LEN || name[0] == '.')
		return false;
	for (const char *p = name; *p; p++) {
		char c = *p;
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
		          c == '_' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

static const char *rrd_errtext(void)
{
	if (!lib.handle)
		return lib.why[0] ? lib.why : "librrd not loaded";
	const char *e = lib.test_error() ? lib.get_error() : NULL;
	return e && *e ? e : "unknown rrd error";
}

/* ---------------------------------------------------------------- file table */

static uint64_t hash_name(const char *s)
{
	uint64_t h = UINT64_C(14695981039346656037);
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
	return h;
}

static struct rrd_file *table_find(struct vm_rrd *rrd, const char *name)
{
	if (!rrd->cap)
		return NULL;
	size_t mask = rrd->cap - 1;
	for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
		struct rrd_file *f = &rrd->files[i];
		if (!f->name)
			return NULL;
		if (strcmp(f->name, name) == 0)
			return f;
	}
}

static struct rrd_file *table_slot(struct rrd_file *files, size_t cap, const char *name)
{
	size_t mask = cap - 1;
	size_t i = hash_name(name) & mask;
	while (files[i].name)
		i = (i + 1) & mask;
	return &files[i];
}

/* Rebuilds the table at a size for its live entries; files of VMs that went
 * away (not written for STALE_S) are dropped so the table does not grow
 * with every VM ever seen.  A dropped file that comes back is checked anew. */
static void table_rebuild(struct vm_rrd *rrd)
{
	size_t live = 0;
	for (size_t i = 0; i < rrd->cap; i++) {
		struct rrd_file *f = &rrd->files[i];
		if (!f->name)
			continue;
		if (f->last_s < rrd->newest_s - STALE_S) {
			free(f->name);
			f->name = NULL;
		} else {
			live++;
		}
	}
	size_t cap = 64;
	while (cap < (live + 1) * 2)
		cap *= 2;
	struct rrd_file *files = vm_xcalloc(cap, sizeof *files);
	for (size_t i = 0; i < rrd->cap; i++)
		if (rrd->files[i].name)
			*table_slot(files, cap, rrd->files[i].name) = rrd->files[i];
	free(rrd->files);
	rrd->files = files;
	rrd->cap = cap;
	rrd->n = live;
}

static struct rrd_file *table_add(struct vm_rrd *rrd, const char *name)
{
	if ((rrd->n + 1) * 4 > rrd->cap * 3)
		table_rebuild(rrd);
	struct rrd_file *f = table_slot(rrd->files, rrd->cap, name);
	memset(f, 0, sizeof *f);
	f->name = vm_xstrdup(name);
	rrd->n++;
	return f;
}

/* ---------------------------------------------------------------- daemon */

/* Connects if not connected and the back-off allows.  Called with the lock
 * held.  Returns true if updates should go through the daemon. */
static bool daemon_ready(struct vm_rrd *rrd)
{
	if (!rrd->daemon)
		return false;
	if (rrd->daemon_up)
		return true;
	int64_t now = vm_monotonic_ns();
	if (now < rrd->retry_ns)
		return false;
	char err[PATH_MAX + 64];
	rrd->conn = vm_rrdc_connect(rrd->sock_path, DAEMON_TIMEOUT_MS, err, sizeof err);
	if (!rrd->conn) {
		vm_log_once_fail(&rrd->daemon_once, "%s unreachable, writing rrd files directly: %s", rrd->daemon_what,
		                 err);
		rrd->retry_ns = now + RETRY_NS;
		return false;
	}
	rrd->daemon_up = true;
	vm_log_once_ok(&rrd->daemon_once, rrd->daemon_what);
	return true;
}

/* The connection broke mid-request: write directly from now on.  The next
 * update tries to reconnect once (a restarted daemon is back at once), and
 * after that failure every RETRY_NS. */
static void daemon_lost(struct vm_rrd *rrd, const char *why)
{
	vm_rrdc_close(rrd->conn);
	rrd->conn = NULL;
	rrd->daemon_up = false;
	rrd->retry_ns = vm_monotonic_ns();
	vm_log_once_fail(&rrd->daemon_once, "%s failed, writing rrd files directly: %s", rrd->daemon_what, why);
}

/* FLUSHALL over a short-lived connection of our own: the instance's may be
 * in use by the sampling thread. */
static int daemon_flushall(struct vm_rrd *rrd, char *err, size_t errsize)
{
	char why[PATH_MAX + 256];
	struct vm_rrdc *c = vm_rrdc_connect(rrd->sock_path, DAEMON_TIMEOUT_MS, why, sizeof why);
	if (!c) {
		snprintf(err, errsize, "%s: flush: %s", rrd->daemon_what, why);
		return -1;
	}
	int rc = vm_rrdc_command(c, "FLUSHALL", why, sizeof why, NULL, NULL);
	vm_rrdc_close(c);
	if (rc < 0) {
		snprintf(err, errsize, "%s: flush failed: %s", rrd->daemon_what, why);
		return -1;
	}
	return 0;
}

/* A request to the daemon about one file ("FLUSH", "FORGET", "LAST"...).
 * Lock held, daemon up.  Returns what vm_rrdc_command returns; a broken
 * connection is marked lost. */
static int daemon_file_cmd(struct vm_rrd *rrd, const char *verb, const char *path, char *msg, size_t msgsize,
                           vm_rrdc_line_cb cb, void *arg)
{
	char *cmd = vm_xasprintf("%s %s", verb, path);
	int rc = vm_rrdc_command(rrd->conn, cmd, msg, msgsize, cb, arg);
	free(cmd);
	if (rc == VM_RRDC_BROKEN)
		daemon_lost(rrd, msg);
	return rc;
}

/* ---------------------------------------------------------------- layout */

/* The archives, sized for graphs (an 800-pixel graph of each range has a
 * row or more per pixel), not as a ledger: the per-minute history is in
 * PostgreSQL.  AVERAGE and MAX of each (peaks matter for capacity), the
 * step's AVERAGE only:
 *   the step        2 h          the last hours sample by sample; MAX
 *                                would repeat AVERAGE at one step a row
 *   1 min          36 h          a day graph with yesterday evening
 *   15 min          5 weeks      week and month graphs
 *   12 h           13 months     a year graph (792 rows), a year back
 *   1 day           5 years
 * No MIN: the least of a rate is mostly its idle zero, and the database
 * keeps no minimum either; a third function would cost a third more.  At
 * a 10 s step a data source takes 137 KB, 189 KB at 1 s (collectd's
 * default layout: 149 KB and 205 KB; bench/rrd-size.sh).  A range whose
 * resolution the step reaches is kept at the step, for the longest span
 * of those ranges. */
static const struct tier {
	long res_s; /* 0: the step */
	long span_s;
} tiers[] = {
    {0, 2 * 3600}, {60, 36 * 3600}, {15 * 60, 35 * 86400}, {12 * 3600, 396 * 86400}, {86400, 1827 * 86400},
};
#define N_TIERS (sizeof tiers / sizeof *tiers)
#define MAX_RRAS (2 * N_TIERS)

struct rra {
	bool max; /* MAX, else AVERAGE */
	long pdp; /* steps per row */
	long rows;
};

/* Test-only: VMETER_TEST_RRD_ROWS=N caps every archive at N rows, so that
 * the integration tests' files at a 1 s step stay small.  Not a
 * configuration option: production files always get the full layout. */
static long test_rows_cap(void)
{
	const char *s = getenv("VMETER_TEST_RRD_ROWS");
	long cap = s && *s ? strtol(s, NULL, 10) : 0;
	return cap > 0 ? cap : LONG_MAX;
}

static long div_up(long a, long b)
{
	return (a + b - 1) / b;
}

/* The archives of a file with step `step` (> 0), in their order in the
 * file: fills `out` (MAX_RRAS entries), returns how many. */
static size_t layout_plan(long step, struct rra *out)
{
	long cap = test_rows_cap();
	long step_span = 0;
	size_t n = 1; /* out[0], the step's archive, once its span is known */
	for (size_t i = 0; i < N_TIERS; i++) {
		long pdp = tiers[i].res_s <= step ? 1 : div_up(tiers[i].res_s, step);
		if (pdp == 1) {
			if (tiers[i].span_s > step_span)
				step_span = tiers[i].span_s;
			continue;
		}
		long rows = div_up(tiers[i].span_s, pdp * step);
		rows = rows < cap ? rows : cap;
		out[n++] = (struct rra){false, pdp, rows};
		out[n++] = (struct rra){true, pdp, rows};
	}
	long rows = div_up(step_span, step);
	out[0] = (struct rra){false, 1, rows < cap ? rows : cap};
	return n;
}

/* ---------------------------------------------------------------- files */

static char *file_path(const struct vm_rrd *rrd, const char *name)
{
	return vm_xasprintf("%s/%s.rrd", rrd->dir, name);
}

/* Runs `rrdtool create PATH --step S --start T --no-overwrite [--source
 * SRC] DEFS...`.  Returns 0, or -1 (err set) when it could not run or
 * failed. */
static int create_by_program(const char *path, long step, int64_t start, const char *source, int ndefs,
                             const char *const *defs, char *err, size_t errsize)
{
	char step_s[24], start_s[24];
	snprintf(step_s, sizeof step_s, "%ld", step);
	snprintf(start_s, sizeof start_s, "%lld", (long long)start);
	const char *args[VM_USAGE_MAX_METERS + MAX_RRAS + 16];
	int n = 0;
	args[n++] = "rrdtool";
	args[n++] = "create";
	args[n++] = path;
	args[n++] = "--step";
	args[n++] = step_s;
	args[n++] = "--start";
	args[n++] = start_s;
	args[n++] = "--no-overwrite";
	if (source) {
		args[n++] = "--source";
		args[n++] = source;
	}
	for (int i = 0; i < ndefs; i++)
		args[n++] = defs[i];
	args[n] = NULL;
	pid_t pid;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int rc = posix_spawnp(&pid, "rrdtool", &fa, NULL, (char *const *)args, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		snprintf(err, errsize, "cannot run rrdtool: %s", strerror(rc));
		return -1;
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errsize, "rrdtool create '%s' failed", path);
		return -1;
	}
	return 0;
}

/* Creates the file at `path` with step `step`, starting at `start_s`.
 * With `source` (the same path, in an old layout) the new file is built
 * beside it, takes the data of the data sources both have at the
 * resolutions both have (librrd resamples the rest), and replaces it.
 * Returns 0, or -1 with a message in err (`path` then left as it was). */
static int file_create(struct vm_rrd *rrd, const char *name, const char *path, const struct vm_meter_set *set,
                       long step, int64_t start_s, const char *source, char *err, size_t errsize)
{
	long heartbeat = 3 * step < 60 ? 60 : 3 * step;
	struct rra rras[MAX_RRAS];
	size_t nrra = layout_plan(step, rras);
	const char *argv[VM_USAGE_MAX_METERS + MAX_RRAS];
	int argc = 0;
	int ret = -1;
	char *tmp = source ? vm_xasprintf("%s.converting", path) : NULL;
	const char *target = tmp ? tmp : path;

	for (size_t i = 0; i < set->n; i++) {
		const struct vm_meter *m = &set->meters[i];
		if (!m->rrd_ds)
			continue;
		argv[argc++] =
		    vm_xasprintf("DS:%s:%s:%ld:0:U", m->rrd_ds, i < set->n_counters ? "DERIVE" : "GAUGE", heartbeat);
	}
	int nds = argc;
	for (size_t i = 0; i < nrra; i++)
		argv[argc++] =
		    vm_xasprintf("RRA:%s:0.5:%ld:%ld", rras[i].max ? "MAX" : "AVERAGE", rras[i].pdp, rras[i].rows);
	if (nds == 0) {
		snprintf(err, errsize, "meter set '%s' has no data sources", set->name);
		goto out;
	}
	/* A conversion cut short by a crash left its file behind. */
	if (tmp && unlink(tmp) < 0 && errno != ENOENT) {
		snprintf(err, errsize, "cannot remove '%s': %s", tmp, strerror(errno));
		goto out;
	}

	/* librrd builds a whole file in memory before writing it (and reads
	 * a source whole): on the creator thread that would become the
	 * daemon's peak RSS, so there `rrdtool create` does it in a process
	 * of its own, and the library only when the program is missing. */
	if (rrd->async_create && create_by_program(target, step, start_s, source, argc, argv, err, errsize) == 0)
		goto done;
	const char *sources[2] = {source, NULL};
	/* no_overwrite: another process may have created it since our stat(). */
	if (!lib_load() || lib.create_r2(target, (unsigned long)step, (time_t)start_s, 1, source ? sources : NULL, NULL,
	                                 argc, argv) != 0) {
		snprintf(err, errsize, "cannot create '%s': %s", target, rrd_errtext());
		goto out;
	}
done:
	/* librrd 1.7 makes the file 0644 whatever the umask (it writes a
	 * temporary file and sets its mode): narrowed here to what the rest
	 * of the collector's files have.  Meanwhile the directory (0750)
	 * keeps others out. */
	if (chmod(target, 0640) < 0)
		vm_warn("rrd '%s': cannot set the mode of '%s': %s", name, target, strerror(errno));
	if (tmp && rename(tmp, path) < 0) {
		snprintf(err, errsize, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (source)
		vm_notice("rrd '%s': converted '%s' from an old layout to the current one (%d data sources, %zu "
		          "archives, step %ld s), keeping its data",
		          name, path, nds, nrra, step);
	else
		vm_info("rrd '%s': created '%s' (%d data sources, step %ld s)", name, path, nds, step);
	ret = 0;
out:
	if (ret < 0 && tmp)
		unlink(tmp);
	for (int i = 0; i < argc; i++)
		free((char *)argv[i]);
	free(tmp);
	return ret;
}

/* What the layout check learns from an INFO, line by line. */
struct layout {
	const char *want[VM_USAGE_MAX_METERS];
	bool counter[VM_USAGE_MAX_METERS];
	size_t nwant, seen;
	unsigned long step;
	int64_t last_s;
	bool same_ds; /* the wanted data sources, no other, in their order */
	bool foreign; /* a data source of ours with another type */
	struct rra rra[MAX_RRAS];
	size_t nrra;
	bool rra_extra; /* archives other than ours */
};

static void layout_init(struct layout *l, const struct vm_meter_set *set)
{
	memset(l, 0, sizeof *l);
	l->same_ds = true;
	for (size_t i = 0; i < set->n; i++) {
		if (!set->meters[i].rrd_ds)
			continue;
		l->counter[l->nwant] = i < set->n_counters;
		l->want[l->nwant++] = set->meters[i].rrd_ds;
	}
}

/* "rra[N].cf", "rra[N].pdp_per_row", "rra[N].rows" */
static void layout_rra(struct layout *l, const char *key, bool is_cnt, unsigned long cnt, const char *str)
{
	char *end;
	unsigned long i = strtoul(key + 4, &end, 10);
	if (end == key + 4 || strncmp(end, "].", 2) != 0)
		return;
	const char *attr = end + 2;
	bool cf = strcmp(attr, "cf") == 0 && str, pdp = strcmp(attr, "pdp_per_row") == 0 && is_cnt,
	     rows = strcmp(attr, "rows") == 0 && is_cnt;
	if (!cf && !pdp && !rows)
		return;
	if (i >= MAX_RRAS) {
		l->rra_extra = true;
		return;
	}
	if (i + 1 > l->nrra)
		l->nrra = i + 1;
	struct rra *r = &l->rra[i];
	if (cf) {
		r->max = strcmp(str, "MAX") == 0;
		if (!r->max && strcmp(str, "AVERAGE") != 0)
			l->rra_extra = true; /* MIN, LAST, HWPREDICT...: not ours */
	} else if (pdp) {
		r->pdp = (long)cnt;
	} else {
		r->rows = (long)cnt;
	}
}

/* One item of rrdtool's info: key, and its value as a count or a string. */
static void layout_item(struct layout *l, const char *key, bool is_cnt, unsigned long cnt, const char *str)
{
	if (strcmp(key, "step") == 0 && is_cnt) {
		l->step = cnt;
		return;
	}
	if (strcmp(key, "last_update") == 0 && is_cnt) {
		l->last_s = (int64_t)cnt;
		return;
	}
	if (strncmp(key, "rra[", 4) == 0) {
		layout_rra(l, key, is_cnt, cnt, str);
		return;
	}
	if (strncmp(key, "ds[", 3) != 0)
		return;
	const char *ds = key + 3;
	const char *close = strstr(ds, "].");
	if (!close)
		return;
	size_t len = (size_t)(close - ds);
	const char *attr = close + 2;
	size_t j = 0;
	while (j < l->nwant && !(strlen(l->want[j]) == len && memcmp(l->want[j], ds, len) == 0))
		j++;
	if (j == l->nwant) {
		l->same_ds = false; /* one we no longer keep */
		return;
	}
	if (strcmp(attr, "index") == 0 && is_cnt) {
		l->seen++;
		if (cnt != j)
			l->same_ds = false;
	} else if (strcmp(attr, "type") == 0 && str) {
		if (strcmp(str, l->counter[j] ? "DERIVE" : "GAUGE") != 0)
			l->foreign = true;
	}
}

/* rrdcached's INFO lines: "KEY TYPE VALUE", TYPE 1 a count, 2 a string. */
static void layout_line(void *arg, const char *line)
{
	char key[256];
	int type, off = 0;
	if (sscanf(line, "%255s %d %n", key, &type, &off) != 2 || off == 0)
		return;
	const char *val = line + off;
	if (type == 1) {
		char *end;
		unsigned long v = strtoul(val, &end, 10);
		if (end != val)
			layout_item(arg, key, true, v, NULL);
	} else if (type == 2) {
		layout_item(arg, key, false, 0, val);
	}
}

/* What file_check found. */
enum { FILE_SAME, FILE_OLD, FILE_FOREIGN };

/* Whether the existing file has the layout of file_create(): the meter
 * set's data sources, no other, in their order with their types, and the
 * archives of layout_plan() for its step.  A file keeps the step it was
 * made with when the interval changes (vmeter.conf(5)): RRD takes updates
 * at any spacing, consolidating several into a step or interpolating
 * across steps, as long as two come within the heartbeat (at least 60 s, 3
 * steps); only an interval beyond that, which would leave the file all
 * unknown, calls for the new step.  Sets c->step to the step the file is
 * to have, c->from_step to the one it has and c->last_s to the time of its
 * last update (values the daemon holds included).  Through the daemon when it is up, else librrd.
 * Returns FILE_SAME; FILE_OLD (another layout whose data a conversion
 * keeps); FILE_FOREIGN (a data source of ours with another type, whose
 * values would mean something else); or -1 (unreadable, err set). */
static int file_check(struct vm_rrd *rrd, const char *path, const struct vm_meter_set *set, struct conversion *c,
                      char *err, size_t errsize)
{
	struct layout l;
	layout_init(&l, set);
	bool done = false;
	if (rrd->daemon_up) {
		char msg[PATH_MAX + 256];
		int rc = daemon_file_cmd(rrd, "INFO", path, msg, sizeof msg, layout_line, &l);
		if (rc == VM_RRDC_REFUSED) {
			snprintf(err, errsize, "cannot read '%s': %.200s", path, msg);
			return -1;
		}
		/* The file's header lags what the daemon holds. */
		if (rc == VM_RRDC_OK && daemon_file_cmd(rrd, "LAST", path, msg, sizeof msg, NULL, NULL) == VM_RRDC_OK) {
			char *end;
			long long last = strtoll(msg, &end, 10);
			if (end != msg && last > l.last_s)
				l.last_s = last;
		}
		done = rc == VM_RRDC_OK;
	}
	if (!done) {
		layout_init(&l, set); /* a broken INFO may have filled part */
		rrd_info_t *info = lib_load() ? lib.info_r(path) : NULL;
		if (!info) {
			snprintf(err, errsize, "cannot read '%s': %s", path, rrd_errtext());
			return -1;
		}
		for (rrd_info_t *p = info; p; p = p->next)
			layout_item(&l, p->key, p->type == RD_I_CNT, p->type == RD_I_CNT ? p->value.u_cnt : 0,
			            p->type == RD_I_STR ? p->value.u_str : NULL);
		lib.info_free(info);
	}
	c->last_s = l.last_s;
	c->from_step = (long)l.step;
	if (l.foreign || l.step == 0 || l.step > 86400)
		return FILE_FOREIGN;
	unsigned long heartbeat = 3 * l.step < 60 ? 60 : 3 * l.step;
	bool step_fits = (unsigned long)rrd->step_s <= heartbeat;
	c->step = step_fits ? (long)l.step : rrd->step_s;
	struct rra want[MAX_RRAS];
	size_t nwant = layout_plan((long)l.step, want);
	bool same = step_fits && l.same_ds && l.seen == l.nwant && !l.rra_extra && l.nrra == nwant;
	for (size_t i = 0; same && i < nwant; i++)
		same = l.rra[i].max == want[i].max && l.rra[i].pdp == want[i].pdp && l.rra[i].rows == want[i].rows;
	return same ? FILE_SAME : FILE_OLD;
}

/* Before a file is replaced: the daemon writes out what it holds for it
 * (a conversion then carries it over) and forgets it, or it would apply
 * those values, in the old layout, to the new file.  Lock held. */
static void daemon_release(struct vm_rrd *rrd, const char *path)
{
	if (!rrd->daemon_up)
		return;
	char msg[PATH_MAX + 256];
	if (daemon_file_cmd(rrd, "FLUSH", path, msg, sizeof msg, NULL, NULL) != VM_RRDC_BROKEN)
		daemon_file_cmd(rrd, "FORGET", path, msg, sizeof msg, NULL, NULL);
}

/* Moves a file that cannot be kept aside, to "<path>.old-layout" (or, if
 * that is taken, "<path>.old-layout-<t_s>"), with one log line saying
 * why.  Returns 0, or -1 with a message in err. */
static int file_retire(const char *name, const char *path, int64_t t_s, const char *why, char *err, size_t errsize)
{
	char *old = vm_xasprintf("%s.old-layout", path);
	struct stat st;
	int ret = -1;
	if (lstat(old, &st) == 0) {
		free(old);
		old = vm_xasprintf("%s.old-layout-%" PRId64, path, t_s);
	}
	if (rename(path, old) < 0) {
		snprintf(err, errsize, "'%s' %s, cannot move it aside: %s", path, why, strerror(errno));
		goto out;
	}
	vm_warn("rrd '%s': '%s' %s: moved it to '%s' and started a new file", name, path, why, old);
	ret = 0;
out:
	free(old);
	return ret;
}

/* Converts the file at `path` (in an old layout) as `c` says, or, failing
 * that, moves it aside and creates a new one from t_s.  Sets *new_last_s
 * to the time of the new file's last update.  Returns 0, or -1 with a
 * message in err. */
static int file_convert(struct vm_rrd *rrd, const char *name, const char *path, const struct vm_meter_set *set,
                        const struct conversion *c, int64_t t_s, int64_t *new_last_s, char *err, size_t errsize)
{
	long step = c->step;
	/* A file never updated starts where a new one would. */
	int64_t start = c->last_s > 0 ? c->last_s : t_s - step;
	/* librrd copies the step in progress as it is: under another step it
	 * would count the part not yet seen as zero.  The new file starts at
	 * a step boundary of its own instead (the old data after it, less
	 * than a step, is not carried over). */
	if (step != c->from_step)
		start -= start % step;
	if (file_create(rrd, name, path, set, step, start, path, err, errsize) == 0) {
		*new_last_s = start;
		return 0;
	}
	char *why = vm_xasprintf("has an old layout and could not be converted (%s)", err);
	int rc = file_retire(name, path, t_s, why, err, errsize);
	free(why);
	if (rc < 0 || file_create(rrd, name, path, set, step, t_s - step, NULL, err, errsize) < 0)
		return -1;
	*new_last_s = t_s - step;
	return 0;
}

/* Makes sure the file exists with the right layout and learns its last
 * update time.  Returns 0; 1 when the file is to be created or converted
 * on the creator thread (create_async() with *conv set as it says); or -1
 * with a message in err. */
static int file_prepare(struct vm_rrd *rrd, struct rrd_file *f, const char *path, const struct vm_meter_set *set,
                        int64_t t_s, struct conversion *conv, char *err, size_t errsize)
{
	struct stat st;
	conv->convert = false;
	conv->step = rrd->step_s;
	if (stat(path, &st) == 0) {
		int kind = file_check(rrd, path, set, conv, err, errsize);
		if (kind < 0)
			return -1;
		if (kind == FILE_SAME) {
			f->last_s = conv->last_s;
			return 0;
		}
		daemon_release(rrd, path);
		if (kind == FILE_OLD) {
			conv->convert = true;
			if (rrd->async_create)
				return 1;
			return file_convert(rrd, f->name, path, set, conv, t_s, &f->last_s, err, errsize);
		}
		if (file_retire(f->name, path, t_s, "has data sources of the meter set with other types", err,
		                errsize) < 0)
			return -1;
		conv->step = rrd->step_s;
	} else if (errno != ENOENT) {
		snprintf(err, errsize, "cannot stat '%s': %s", path, strerror(errno));
		return -1;
	}
	if (rrd->async_create)
		return 1;
	if (file_create(rrd, f->name, path, set, conv->step, t_s - conv->step, NULL, err, errsize) < 0)
		return -1;
	f->last_s = t_s - conv->step;
	return 0;
}

static void *creator_main(void *arg)
{
	struct vm_rrd *rrd = arg;
	pthread_mutex_lock(&rrd->lock);
	for (;;) {
		while (!rrd->creator_stop && !rrd->jobs)
			pthread_cond_wait(&rrd->creator_cond, &rrd->lock);
		if (rrd->creator_stop)
			break;
		struct create_job *job = rrd->jobs;
		rrd->jobs = job->next;
		if (!rrd->jobs)
			rrd->jobs_tail = NULL;
		pthread_mutex_unlock(&rrd->lock);
		char err[PATH_MAX + 256];
		struct conversion *c = &job->conv;
		int64_t last = job->t_s - c->step;
		int rc = c->convert
		             ? file_convert(rrd, job->name, job->path, job->set, c, job->t_s, &last, err, sizeof err)
		             : file_create(rrd, job->name, job->path, job->set, c->step, last, NULL, err, sizeof err);
		pthread_mutex_lock(&rrd->lock);
		/* The table may have been rebuilt meanwhile: find it again. */
		struct rrd_file *f = table_find(rrd, job->name);
		if (f) {
			f->creating = false;
			if (rc == 0) {
				f->last_s = last;
				f->verify = false;
			} else {
				vm_log_once_fail(&f->fail, "rrd '%s': %s", job->name, err);
				f->verify = true;
			}
		}
		free(job->name);
		free(job->path);
		free(job);
	}
	pthread_mutex_unlock(&rrd->lock);
	return NULL;
}

/* Queues the creation or conversion of f's file; lock held. */
static void create_async(struct vm_rrd *rrd, struct rrd_file *f, const char *path, const struct vm_meter_set *set,
                         int64_t t_s, const struct conversion *conv)
{
	if (!rrd->creator_started) {
		if (pthread_create(&rrd->creator, NULL, creator_main, rrd) != 0)
			vm_fatal("cannot start the rrd creator thread");
		rrd->creator_started = true;
	}
	struct create_job *job = vm_xcalloc(1, sizeof *job);
	job->name = vm_xstrdup(f->name);
	job->path = vm_xstrdup(path);
	job->set = set;
	job->t_s = t_s;
	job->conv = *conv;
	if (rrd->jobs_tail)
		rrd->jobs_tail->next = job;
	else
		rrd->jobs = job;
	rrd->jobs_tail = job;
	f->creating = true;
	pthread_cond_signal(&rrd->creator_cond);
}

void vm_rrd_set_async_create(struct vm_rrd *rrd, bool async)
{
	pthread_mutex_lock(&rrd->lock);
	rrd->async_create = async;
	pthread_mutex_unlock(&rrd->lock);
}

static void file_ok(struct rrd_file *f)
{
	if (!f->fail.failing)
		return;
	char what[NAME_MAX_LEN + 32];
	snprintf(what, sizeof what, "rrd '%s' updates", f->name);
	vm_log_once_ok(&f->fail, what);
}

/* ---------------------------------------------------------------- API */

struct vm_rrd *vm_rrd_new(const char *dir, const char *daemon, int step_s, char *err, size_t errsize)
{
	struct vm_rrd *rrd = NULL;
	const char *sock = NULL;
	char *abs = NULL;

	if (step_s < 1 || step_s > 86400) {
		snprintf(err, errsize, "rrd step %d s out of range 1..86400", step_s);
		goto out;
	}
	if (!dir || !*dir) {
		snprintf(err, errsize, "rrd directory not set");
		goto out;
	}
	if (daemon && *daemon) {
		if (strncmp(daemon, "unix:", 5) == 0)
			sock = daemon + 5;
		else if (daemon[0] == '/')
			sock = daemon;
		if (!sock || sock[0] != '/') {
			snprintf(err, errsize,
			         "rrdcached address '%s' refused: only a local socket (\"unix:/abs/path\") is "
			         "allowed, rrdcached has no authentication",
			         daemon);
			goto out;
		}
		if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			snprintf(err, errsize, "rrdcached socket path '%s' too long", sock);
			goto out;
		}
	}
	/* 0750 and the shared group: RRD files tell each VM's usage (the
	 * files are made 0640 in file_create()). */
	if (vm_mkdir_shared(dir) < 0) {
		snprintf(err, errsize, "cannot create rrd directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	abs = realpath(dir, NULL);
	if (!abs) {
		snprintf(err, errsize, "rrd directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	/* rrdcached's commands are split at spaces. */
	if (sock && strpbrk(abs, " \t\n")) {
		snprintf(err, errsize, "rrd directory '%s' has white space in its path, which rrdcached cannot take",
		         abs);
		goto out;
	}
	/* Room for "/<name>.rrd.old-layout-<epoch>" after it. */
	if (strlen(abs) > PATH_MAX - NAME_MAX_LEN - 40) {
		snprintf(err, errsize, "rrd directory '%s' path too long", dir);
		goto out;
	}

	rrd = vm_xcalloc(1, sizeof *rrd);
	rrd->dir = abs;
	abs = NULL;
	rrd->step_s = step_s;
	if (sock) {
		rrd->sock_path = vm_xstrdup(sock);
		rrd->daemon = vm_xasprintf("unix:%s", sock);
		rrd->daemon_what = vm_xasprintf("rrdcached '%s'", rrd->daemon);
	}
	pthread_mutex_init(&rrd->lock, NULL);
	pthread_cond_init(&rrd->creator_cond, NULL);
out:
	free(abs);
	return rrd;
}

void vm_rrd_free(struct vm_rrd *rrd)
{
	if (!rrd)
		return;
	if (rrd->creator_started) {
		/* A file being created is finished; queued ones are dropped
		 * (they are created again on the next run's first update). */
		pthread_mutex_lock(&rrd->lock);
		rrd->creator_stop = true;
		pthread_cond_signal(&rrd->creator_cond);
		pthread_mutex_unlock(&rrd->lock);
		pthread_join(rrd->creator, NULL);
	}
	for (struct create_job *job = rrd->jobs, *next; job; job = next) {
		next = job->next;
		free(job->name);
		free(job->path);
		free(job);
	}
	pthread_cond_destroy(&rrd->creator_cond);
	vm_rrd_commit(rrd);
	free(rrd->pend);
	vm_rrdc_close(rrd->conn);
	for (size_t i = 0; i < rrd->cap; i++)
		free(rrd->files[i].name);
	if (rrd->skipped)
		vm_debug("rrd: %" PRIu64 " samples skipped as not newer than the last one", rrd->skipped);
	free(rrd->files);
	pthread_mutex_destroy(&rrd->lock);
	free(rrd->dir);
	free(rrd->daemon);
	free(rrd->sock_path);
	free(rrd->daemon_what);
	free(rrd);
}

char *vm_rrd_path(const struct vm_rrd *rrd, const char *name)
{
	if (!name_ok(name))
		return NULL;
	return file_path(rrd, name);
}

static int format_line(char *line, size_t size, const struct vm_meter_set *set, int64_t t_s, uint64_t have,
                       const uint64_t *values)
{
	size_t len = (size_t)snprintf(line, size, "%" PRId64, t_s);
	for (size_t i = 0; i < set->n && len < size; i++) {
		if (!set->meters[i].rrd_ds)
			continue;
		if (have & (UINT64_C(1) << i))
			len += (size_t)snprintf(line + len, size - len, ":%" PRIu64, values[i]);
		else
			len += (size_t)snprintf(line + len, size - len, ":U");
	}
	return len < size ? 0 : -1;
}

static int commit_locked(struct vm_rrd *rrd);

int vm_rrd_update(struct vm_rrd *rrd, const char *name, const struct vm_meter_set *set, int64_t t_ns, uint64_t have,
                  const uint64_t *values)
{
	if (!name_ok(name)) {
		vm_warn("rrd '%.*s': invalid name", NAME_MAX_LEN, name);
		return -1;
	}
	int64_t t_s = t_ns / VM_NS_PER_SEC;
	if (t_ns < 0 && t_ns % VM_NS_PER_SEC)
		t_s--;
	char line[32 + 21 * VM_USAGE_MAX_METERS];
	if (format_line(line, sizeof line, set, t_s, have, values) < 0) {
		vm_warn("rrd '%s': update line too long", name);
		return -1;
	}
	char *path = file_path(rrd, name);
	int ret = -1;

	pthread_mutex_lock(&rrd->lock);
	struct rrd_file *f = table_find(rrd, name);
	bool fresh = !f;
	if (!f)
		f = table_add(rrd, name);
	if (f->creating) {
		rrd->skipped_creating++;
		ret = 0;
		goto out;
	}
	if (fresh || f->verify) {
		/* Ready the daemon first: a retired file is flushed through it. */
		daemon_ready(rrd);
		char err[PATH_MAX + 256];
		struct conversion conv;
		int prep = file_prepare(rrd, f, path, set, t_s, &conv, err, sizeof err);
		if (prep == 1) {
			create_async(rrd, f, path, set, t_s, &conv);
			rrd->skipped_creating++;
			ret = 0;
			goto out;
		}
		if (prep < 0) {
			/* Once per file and outage: a full disk would fail
			 * every VM at every interval. */
			vm_log_once_fail(&f->fail, "rrd '%s': %s", name, err);
			f->verify = true;
			goto out;
		}
		f->verify = false;
	}
	if (t_s > rrd->newest_s)
		rrd->newest_s = t_s;
	if (t_s <= f->last_s) {
		/* rrdtool refuses non-increasing times; a repeated or
		 * out-of-order sample is not an error of ours. */
		rrd->skipped++;
		ret = 0;
		goto out;
	}

	const char *argv[1] = {line};
	if (rrd->batch_max && daemon_ready(rrd)) {
		rrd->pend = vm_xgrow(rrd->pend, &rrd->cap_pend, rrd->n_pend + 1, sizeof *rrd->pend);
		struct pending *q = &rrd->pend[rrd->n_pend++];
		q->cmd = vm_xasprintf("UPDATE %s %s", path, line);
		q->name = vm_xstrdup(name);
		q->path_at = 7;
		q->path_len = strlen(path);
		q->line_at = 7 + q->path_len + 1;
		q->prev_last_s = f->last_s;
		/* Taken as written: the next sample of the file is newer. */
		f->last_s = t_s;
		ret = 0;
		if (rrd->n_pend >= rrd->batch_max && commit_locked(rrd) < 0)
			rrd->batch_failed = true;
		goto out;
	}
	if (daemon_ready(rrd)) {
		char *cmd = vm_xasprintf("UPDATE %s %s", path, line);
		char msg[PATH_MAX + 256];
		int rc = vm_rrdc_command(rrd->conn, cmd, msg, sizeof msg, NULL, NULL);
		free(cmd);
		if (rc == VM_RRDC_OK) {
			f->last_s = t_s;
			file_ok(f);
			ret = 0;
			goto out;
		}
		if (rc == VM_RRDC_REFUSED) {
			/* The daemon answered: the update itself was refused
			 * (the file may have gone: check it again next time). */
			vm_log_once_fail(&f->fail, "rrd '%s': update through %s failed: %s", name, rrd->daemon_what,
			                 msg);
			f->verify = true;
			goto out;
		}
		/* Broken before or after the daemon took it: a value it did
		 * take is refused below as not newer, and nothing is lost. */
		daemon_lost(rrd, msg);
	}

	if (!lib_load() || lib.update_r(path, NULL, 1, argv) != 0) {
		vm_log_once_fail(&f->fail, "rrd '%s': update of '%s' failed: %s", name, path, rrd_errtext());
		f->verify = true;
		goto out;
	}
	f->last_s = t_s;
	file_ok(f);
	ret = 0;
out:
	pthread_mutex_unlock(&rrd->lock);
	free(path);
	return ret;
}

void vm_rrd_set_batch(struct vm_rrd *rrd, size_t max)
{
	pthread_mutex_lock(&rrd->lock);
	rrd->batch_max = max;
	pthread_mutex_unlock(&rrd->lock);
	if (!max)
		vm_rrd_commit(rrd);
}

struct commit_state {
	struct vm_rrd *rrd;
	bool *refused;
};

static void on_batch_error(void *arg, size_t index, const char *msg)
{
	struct commit_state *cs = arg;
	struct pending *q = &cs->rrd->pend[index];
	cs->refused[index] = true;
	struct rrd_file *f = table_find(cs->rrd, q->name);
	if (f) {
		/* The file may have gone or changed: check it at its next update. */
		vm_log_once_fail(&f->fail, "rrd '%s': update through %s failed: %s", q->name, cs->rrd->daemon_what,
		                 msg);
		f->verify = true;
		f->last_s = q->prev_last_s;
	}
}

/* The daemon went away during a batch: which updates it applied is
 * unknown, so all are written directly; one it did apply is refused there
 * as not newer, which is no failure.  Lock held. */
static int commit_direct(struct vm_rrd *rrd)
{
	int ret = 0;
	for (size_t i = 0; i < rrd->n_pend; i++) {
		struct pending *q = &rrd->pend[i];
		q->cmd[q->path_at + q->path_len] = '\0';
		const char *argv[1] = {q->cmd + q->line_at};
		if (lib_load() && lib.update_r(q->cmd + q->path_at, NULL, 1, argv) == 0)
			continue;
		const char *e = rrd_errtext();
		if (strstr(e, "minimum one second step"))
			continue;
		struct rrd_file *f = table_find(rrd, q->name);
		if (f) {
			vm_log_once_fail(&f->fail, "rrd '%s': update of '%s' failed: %s", q->name, q->cmd + q->path_at,
			                 e);
			f->verify = true;
		}
		ret = -1;
	}
	return ret;
}

/* Sends the queued updates as one BATCH.  Lock held. */
static int commit_locked(struct vm_rrd *rrd)
{
	size_t n = rrd->n_pend;
	if (n == 0)
		return 0;
	int ret = 0;
	const char **cmds = vm_xcalloc(n, sizeof *cmds);
	bool *refused = vm_xcalloc(n, sizeof *refused);
	for (size_t i = 0; i < n; i++)
		cmds[i] = rrd->pend[i].cmd;
	int rc = VM_RRDC_BROKEN;
	char msg[PATH_MAX + 256] = "not connected";
	struct commit_state cs = {rrd, refused};
	if (rrd->conn)
		rc = vm_rrdc_batch(rrd->conn, cmds, n, on_batch_error, &cs, msg, sizeof msg);
	if (rc == VM_RRDC_BROKEN) {
		daemon_lost(rrd, msg);
		ret = commit_direct(rrd);
	} else {
		ret = rc > 0 ? -1 : 0;
		for (size_t i = 0; i < n; i++) {
			struct rrd_file *f = refused[i] ? NULL : table_find(rrd, rrd->pend[i].name);
			if (f)
				file_ok(f);
		}
	}
	free(cmds);
	free(refused);
	for (size_t i = 0; i < n; i++) {
		free(rrd->pend[i].cmd);
		free(rrd->pend[i].name);
	}
	rrd->n_pend = 0;
	return ret;
}

int vm_rrd_commit(struct vm_rrd *rrd)
{
	pthread_mutex_lock(&rrd->lock);
	int ret = commit_locked(rrd);
	if (rrd->batch_failed)
		ret = -1;
	rrd->batch_failed = false;
	pthread_mutex_unlock(&rrd->lock);
	return ret;
}

int vm_rrd_flush_all(struct vm_rrd *rrd, char *err, size_t errsize)
{
	if (!rrd->daemon)
		return 0;
	pthread_mutex_lock(&rrd->lock);
	bool outage = rrd->daemon_once.failing;
	pthread_mutex_unlock(&rrd->lock);
	/* During an outage our samples go to the files directly, and what the
	 * daemon held before it went away is in its journal: nothing to ask,
	 * and the outage is already logged. */
	if (outage)
		return 0;
	return daemon_flushall(rrd, err, errsize);
}

/* The default graph of a set: CPU used against what it waited for (VM) or
 * what the host had (host). */
static const char *graph_default_ds(const struct vm_meter_set *set)
{
	if (strcmp(set->name, "vm") == 0)
		return "cpu,vcpu_delay";
	if (strcmp(set->name, "host") == 0)
		return "cpu_busy,cpu_capacity";
	for (size_t i = 0; i < set->n; i++)
		if (set->meters[i].rrd_ds)
			return set->meters[i].rrd_ds;
	return "";
}

/* DEF takes ':'-separated fields: escape colons in the path. */
static char *escape_colons(const char *s)
{
	char *out = vm_xmalloc(2 * strlen(s) + 1);
	char *o = out;
	for (; *s; s++) {
		if (*s == ':')
			*o++ = '\\';
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* Runs rrd_graph_v() with the common options and the graph elements
 * `elems`.  Returns 0, or -1 with rrdtool's text in err. */
static int graph_run(const char *name, const char *png, int64_t start_s, int64_t end_s, char **elems, int nelems,
                     char *err, size_t errsize)
{
	char start[24], end[24];
	snprintf(start, sizeof start, "%" PRId64, start_s);
	snprintf(end, sizeof end, "%" PRId64, end_s);
	/* rrd_graph_v() takes char **; it does not write to the strings. */
	char *argv[GRAPH_MAX_ARGS];
	int argc = 0;
	argv[argc++] = (char *)"graph";
	argv[argc++] = (char *)png;
	argv[argc++] = (char *)"--imgformat";
	argv[argc++] = (char *)"PNG";
	argv[argc++] = (char *)"--start";
	argv[argc++] = start;
	argv[argc++] = (char *)"--end";
	argv[argc++] = end;
	argv[argc++] = (char *)"--width";
	argv[argc++] = (char *)"800";
	argv[argc++] = (char *)"--height";
	argv[argc++] = (char *)"300";
	argv[argc++] = (char *)"--title";
	argv[argc++] = (char *)name;
	for (int i = 0; i < nelems; i++)
		argv[argc++] = elems[i];

	pthread_mutex_lock(&graph_lock);
	int ret = 0;
	rrd_info_t *info = lib_load() ? lib.graph_v(argc, argv) : NULL;
	if (!info || lib.test_error()) {
		snprintf(err, errsize, "rrd graph of '%s' failed: %s", name, rrd_errtext());
		ret = -1;
	}
	if (info)
		lib.info_free(info);
	if (lib.handle)
		lib.clear_error();
	pthread_mutex_unlock(&graph_lock);
	return ret;
}

int vm_rrd_graph(struct vm_rrd *rrd, const char *name, const struct vm_meter_set *set, const char *ds, int64_t start_s,
                 int64_t end_s, const char *png, char *err, size_t errsize)
{
	static const char *const colors[] = {"1f77b4", "d62728", "2ca02c", "ff7f0e", "9467bd",
	                                     "8c564b", "e377c2", "7f7f7f", "bcbd22", "17becf"};
	char *elems[3 * GRAPH_MAX_DS];
	int nelems = 0;
	char *list = NULL, *path = NULL, *epath = NULL;
	int ret = -1;

	if (!name_ok(name)) {
		snprintf(err, errsize, "rrd graph: invalid name '%.*s'", NAME_MAX_LEN, name);
		goto out;
	}
	if (end_s <= start_s) {
		snprintf(err, errsize, "rrd graph of '%s': end %" PRId64 " not after start %" PRId64, name, end_s,
		         start_s);
		goto out;
	}
	if (!ds)
		ds = graph_default_ds(set);
	if (strlen(ds) > GRAPH_DS_MAX_LEN) {
		snprintf(err, errsize, "rrd graph of '%s': data source list too long", name);
		goto out;
	}
	path = file_path(rrd, name);
	epath = escape_colons(path);
	list = vm_xstrdup(ds);

	int n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++) {
		size_t i = 0;
		while (i < set->n && !(set->meters[i].rrd_ds && strcmp(set->meters[i].rrd_ds, tok) == 0))
			i++;
		if (i == set->n) {
			snprintf(err, errsize, "rrd graph of '%s': unknown data source '%s' in set '%s'", name, tok,
			         set->name);
			goto out;
		}
		if (n == GRAPH_MAX_DS) {
			snprintf(err, errsize, "rrd graph of '%s': more than %d data sources", name, GRAPH_MAX_DS);
			goto out;
		}
		const struct vm_meter *m = &set->meters[i];
		const char *color = colors[n % (int)(sizeof colors / sizeof *colors)];
		elems[nelems++] = vm_xasprintf("DEF:d%d=%s:%s:AVERAGE", n, epath, m->rrd_ds);
		if (i < set->n_counters && strcmp(m->unit, "ns") == 0) {
			/* ns of CPU per second is a number of cores. */
			elems[nelems++] = vm_xasprintf("CDEF:v%d=d%d,1e9,/", n, n);
			elems[nelems++] = vm_xasprintf("LINE1:v%d#%s:%s (cores)", n, color, m->rrd_ds);
		} else {
			elems[nelems++] = vm_xasprintf("LINE1:d%d#%s:%s (%s%s)", n, color, m->rrd_ds, m->unit,
			                               i < set->n_counters ? "/s" : "");
		}
	}
	if (n == 0) {
		snprintf(err, errsize, "rrd graph of '%s': no data source selected", name);
		goto out;
	}

	/* What rrdcached holds for the file goes to disk first; while it is
	 * down the file is written directly anyway. */
	pthread_mutex_lock(&rrd->lock);
	if (daemon_ready(rrd)) {
		char msg[PATH_MAX + 256];
		int rc = daemon_file_cmd(rrd, "FLUSH", path, msg, sizeof msg, NULL, NULL);
		/* A file it does not know has nothing pending. */
		if (rc == VM_RRDC_BROKEN)
			vm_warn("rrd graph of '%s': %s gone, the graph may miss its latest values", name,
			        rrd->daemon_what);
	}
	pthread_mutex_unlock(&rrd->lock);
	ret = graph_run(name, png, start_s, end_s, elems, nelems, err, errsize);
out:
	for (int i = 0; i < nelems; i++)
		free(elems[i]);
	free(list);
	free(path);
	free(epath);
	return ret;
}

void vm_rrd_series_release(struct vm_rrd_series *s)
{
	for (size_t i = 0; i < s->n_ds; i++)
		free(s->ds_names[i]);
	free(s->ds_names);
	free(s->values);
	memset(s, 0, sizeof *s);
}

int vm_rrd_fetch(struct vm_rrd *rrd, const char *name, const char *cf, int64_t start_s, int64_t end_s,
                 unsigned long resolution_s, struct vm_rrd_series *out, char *err, size_t errsize)
{
	memset(out, 0, sizeof *out);
	if (!name_ok(name)) {
		snprintf(err, errsize, "rrd fetch: invalid name '%.*s'", NAME_MAX_LEN, name);
		return -1;
	}
	if (strcmp(cf, "AVERAGE") != 0 && strcmp(cf, "MAX") != 0) {
		snprintf(err, errsize, "rrd fetch of '%s': consolidation '%.16s' is neither AVERAGE nor MAX", name, cf);
		return -1;
	}
	if (end_s <= start_s) {
		snprintf(err, errsize, "rrd fetch of '%s': end %" PRId64 " not after start %" PRId64, name, end_s,
		         start_s);
		return -1;
	}
	char *path = file_path(rrd, name);
	if (access(path, F_OK) != 0) {
		free(path);
		return 1;
	}
	pthread_mutex_lock(&rrd->lock);
	if (daemon_ready(rrd)) {
		char msg[PATH_MAX + 256];
		/* a file the daemon does not know has nothing pending */
		if (daemon_file_cmd(rrd, "FLUSH", path, msg, sizeof msg, NULL, NULL) == VM_RRDC_BROKEN)
			vm_warn("rrd fetch of '%s': %s gone, the answer may miss its latest values", name,
			        rrd->daemon_what);
	}
	pthread_mutex_unlock(&rrd->lock);
	if (!lib_load()) {
		snprintf(err, errsize, "rrd fetch of '%s': %s", name, rrd_errtext());
		free(path);
		return -1;
	}
	time_t start = (time_t)start_s, end = (time_t)end_s;
	unsigned long step = resolution_s ? resolution_s : 1, n_ds = 0;
	char **names = NULL;
	rrd_value_t *data = NULL;
	if (lib.fetch_r(path, cf, &start, &end, &step, &n_ds, &names, &data) != 0) {
		snprintf(err, errsize, "rrd fetch of '%s': %s", name, rrd_errtext());
		free(path);
		return -1;
	}
	free(path);
	/* librrd's rows: one per step in (start, end] */
	size_t rows = step && end > start ? (size_t)((end - start) / (time_t)step) : 0;
	out->start_s = start;
	out->end_s = end;
	out->step_s = step;
	out->n_ds = n_ds;
	out->n_rows = rows;
	out->ds_names = vm_xcalloc(n_ds ? n_ds : 1, sizeof *out->ds_names);
	for (size_t i = 0; i < n_ds; i++) {
		out->ds_names[i] = vm_xstrdup(names[i]);
		free(names[i]);
	}
	free(names);
	size_t cells = rows * n_ds;
	out->values = vm_xcalloc(cells ? cells : 1, sizeof *out->values);
	if (cells > 0)
		memcpy(out->values, data, cells * sizeof *out->values);
	free(data);
	return 0;
}
