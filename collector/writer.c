#include "config.h"

#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbwrite.h"
#include "fsutil.h"
#include "log.h"
#include "pg.h"
#include "record.h"
#include "vtime.h"
#include "xalloc.h"

/* Runs of lost VM-minutes remembered for the database: a VM that loses
 * minute after minute (a long outage with a full spool) is one run. */
#define MAX_LOSSES 100000
/* How far back lose() looks for a VM's run to extend: past a pass of the
 * largest fleet, a VM's latest run is found. */
#define LOSS_LOOKBACK 16384
#define READ_BYTES (8u << 20)
/* Inventories in one batch: each decoded one is ~44 KB (room for every
 * device limit), so 64 held 2.8 MB at the first pass of a large fleet
 * (heaptrack, issue 17); they are written one statement each anyway. */
#define BATCH_MAX_INVENTORIES 16

/* A usage row appended but not committed yet: lost if the commit fails. */
struct pending_row {
	char uuid[37];
	int64_t minute_ns;
	int32_t coverage_ms;
	bool power; /* the host's energy row (uuid empty) */
};

struct col_writer {
	struct vm_spool *spool;
	char *spool_id;
	char *hostname;
	char *status_path;
	size_t batch_rows;
	int reconnect_max_s;
	int timeout_s;

	/* main thread only */
	FILE *ledger; /* tests: every usage row a commit made durable */
	struct pending_row *pending;
	size_t n_pending, cap_pending;
	size_t n_pending_traffic; /* traffic records appended but not committed */
	struct vm_log_once full;
	struct vm_log_once records_full; /* inventory, events, losses that could not be spooled */

	pthread_t thread;
	/* The delivery thread's round trips give up when this pipe's read
	 * end becomes readable: written by col_writer_free() at its deadline. */
	int abort_pipe[2];
	pthread_mutex_t lock;     /* what follows */
	pthread_cond_t cond;      /* commit happened, or stop */
	pthread_cond_t done_cond; /* the delivery thread is finishing */
	bool stop, done;
	char *conninfo;
	struct col_db_loss *losses; /* runs to write to vm_usage_loss, oldest first */
	size_t n_losses, cap_losses;
	size_t losses_busy; /* the first ones, being written: not to extend */
	struct col_writer_stats stats;
	/* The database as delivery last found it, for the log and the status
	 * file: set as soon as a connect or round trip fails, kept through
	 * the back-off, cleared by the next success. */
	enum db_state { DB_CONNECTING, DB_UP, DB_DOWN, DB_REFUSED } db_state;
	int64_t db_since_ns;       /* wall clock: the state began */
	char db_error[512];        /* libpq's text, for down and refused */
	unsigned long db_failures; /* in this episode */
	int backoff_s;             /* the current back-off, 0 when up */
	bool stopped;              /* col_writer_free() is done with delivery */
	int64_t stopped_ns;
	/* Set by the main thread (col_writer_set_libvirt()). */
	int libvirt_state; /* -1 unknown, 0 down, 1 up */
	int64_t libvirt_since_ns;
	char libvirt_error[256];
	size_t incomplete_inventories;   /* col_writer_set_inventory_incomplete() */
	struct col_writer_passes passes; /* col_writer_set_passes() */
};

/* ---------------------------------------------------------------- spool id */

/* A spool's name, kept in it: the database's delivery mark counts records
 * of one spool, and a recreated spool starts counting again. */
static char *spool_id(const char *dir, char *err, size_t errsize)
{
	char *path = vm_xasprintf("%s/id", dir);
	char buf[64] = "";
	FILE *f = fopen(path, "r");
	if (f) {
		if (!fgets(buf, sizeof buf, f))
			buf[0] = '\0';
		fclose(f);
		buf[strcspn(buf, "\n")] = '\0';
	}
	if (strlen(buf) == 32 && strspn(buf, "0123456789abcdef") == 32) {
		free(path);
		return vm_xstrdup(buf);
	}
	unsigned char rnd[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd) {
		snprintf(err, errsize, "cannot read /dev/urandom: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		return NULL;
	}
	close(fd);
	for (int i = 0; i < 16; i++)
		snprintf(buf + 2 * i, 3, "%02x", rnd[i]);
	char *tmp = vm_xasprintf("%s.tmp", path);
	/* 0640 like the spool's segments, whatever the umask. */
	int tfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	f = tfd >= 0 ? fdopen(tfd, "w") : NULL;
	if (!f && tfd >= 0)
		close(tfd);
	bool ok = f && fprintf(f, "%s\n", buf) > 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (f)
		ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		snprintf(err, errsize, "cannot write '%s': %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		free(path);
		return NULL;
	}
	free(tmp);
	free(path);
	return vm_xstrdup(buf);
}

/* ---------------------------------------------------------------- main thread */

/* VM-minutes in the remembered runs; lock held (or the thread gone). */
static size_t loss_minutes(const struct col_writer *w)
{
	size_t n = 0;
	for (size_t i = 0; i < w->n_losses; i++)
		n += (size_t)((w->losses[i].last_ns - w->losses[i].first_ns) / (60 * VM_NS_PER_SEC)) + 1;
	return n;
}

static void lose(struct col_writer *w, const struct pending_row *rows, size_t n, const char *why)
{
	uint64_t ms = 0;
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < n; i++) {
		ms += (uint64_t)rows[i].coverage_ms;
		if (!rows[i].uuid[0])
			continue;
		/* The VM's latest run, if this minute follows it with the
		 * same loss, grows by a minute. */
		bool merged = false;
		size_t stop = w->n_losses > LOSS_LOOKBACK ? w->n_losses - LOSS_LOOKBACK : 0;
		if (stop < w->losses_busy)
			stop = w->losses_busy;
		for (size_t k = w->n_losses; k > stop; k--) {
			struct col_db_loss *l = &w->losses[k - 1];
			if (strcmp(l->uuid, rows[i].uuid) != 0)
				continue;
			if (l->last_ns + 60 * VM_NS_PER_SEC == rows[i].minute_ns && l->lost_ms == rows[i].coverage_ms) {
				l->last_ns = rows[i].minute_ns;
				merged = true;
			}
			break;
		}
		if (merged || w->n_losses >= MAX_LOSSES)
			continue;
		w->losses = vm_xgrow(w->losses, &w->cap_losses, w->n_losses + 1, sizeof *w->losses);
		struct col_db_loss *l = &w->losses[w->n_losses++];
		memcpy(l->uuid, rows[i].uuid, sizeof l->uuid);
		l->first_ns = l->last_ns = rows[i].minute_ns;
		l->lost_ms = rows[i].coverage_ms;
	}
	w->stats.lost_rows += n;
	w->stats.lost_ms += ms;
	pthread_mutex_unlock(&w->lock);
	vm_log_once_fail(&w->full,
	                 "usage rows are being lost: %s (%s); their coverage is recorded as lost, the alert "
	                 "condition 'spool-full' holds until rows fit again",
	                 why, vm_spool_error(w->spool));
}

/* Appends one record; commits first if the batch fills a segment. */
static int append(struct col_writer *w, const void *rec, size_t len)
{
	int rc = vm_spool_append(w->spool, rec, len, NULL);
	if (rc == VM_SPOOL_BATCH_FULL && col_writer_commit(w) == 0)
		rc = vm_spool_append(w->spool, rec, len, NULL);
	return rc;
}

/* Traffic minutes that cannot be spooled are counted, not recorded per
 * minute: the VM's usage row of the same minute says the minute was
 * measured, vm_usage_loss the usage rows lost with them. */
static void lose_traffic(struct col_writer *w, size_t n, const char *why)
{
	pthread_mutex_lock(&w->lock);
	w->stats.lost_traffic += n;
	pthread_mutex_unlock(&w->lock);
	vm_log_once_fail(&w->full,
	                 "traffic rows are being lost: %s (%s); the alert condition 'spool-full' holds until rows "
	                 "fit again",
	                 why, vm_spool_error(w->spool));
}

void col_writer_push_traffic(struct col_writer *w, const struct vm_db_traffic *tr)
{
	size_t len;
	uint8_t *rec = vm_record_encode_traffic(tr, &len);
	if (append(w, rec, len) < 0)
		lose_traffic(w, 1, "the spool is full");
	else
		w->n_pending_traffic++;
	free(rec);
}

void col_writer_push_host_capture(struct col_writer *w, const struct vm_db_host_capture *hc)
{
	uint8_t buf[VM_RECORD_HOST_CAPTURE_MAX];
	size_t len = vm_record_encode_host_capture(hc, buf);
	if (append(w, buf, len) < 0)
		lose_traffic(w, 1, "the spool is full");
	else
		w->n_pending_traffic++;
}

void col_writer_push_usage(struct col_writer *w, const char *uuid, const struct vm_usage_row *row)
{
	uint8_t buf[VM_RECORD_USAGE_MAX];
	size_t len = vm_record_encode_usage(uuid, row, buf);
	struct pending_row p = {
	    .minute_ns = row->minute_ns, .coverage_ms = row->coverage_ms, .power = row->set == vm_usage_power_meters()};
	snprintf(p.uuid, sizeof p.uuid, "%s", uuid ? uuid : "");
	if (append(w, buf, len) < 0) {
		lose(w, &p, 1, "the spool is full");
		return;
	}
	w->pending = vm_xgrow(w->pending, &w->cap_pending, w->n_pending + 1, sizeof *w->pending);
	w->pending[w->n_pending++] = p;
}

static int push_record(struct col_writer *w, uint8_t *rec, size_t len, const char *what)
{
	int rc = append(w, rec, len);
	/* An inventory change is pushed again until it is in (the sampler
	 * retries): one line while it fails, one when records fit again. */
	if (rc < 0)
		vm_log_once_fail(&w->records_full, "cannot spool %s: %s (tried again while it fails)", what,
		                 vm_spool_error(w->spool));
	else
		vm_log_once_ok(&w->records_full, "spooling inventory and events");
	free(rec);
	return rc < 0 ? -1 : 0;
}

int col_writer_push_inventory(struct col_writer *w, struct vm_inventory *inv, int64_t at_ns)
{
	size_t len;
	uint8_t *rec = vm_record_encode_inventory(inv, at_ns, &len);
	free(inv);
	return push_record(w, rec, len, "an inventory change");
}

void col_writer_push_loss(struct col_writer *w, const char *uuid, int64_t from_ns, int64_t to_ns, const char *reason)
{
	struct vm_record_loss l = {.from_ns = from_ns, .to_ns = to_ns};
	snprintf(l.uuid, sizeof l.uuid, "%s", uuid);
	snprintf(l.reason, sizeof l.reason, "%s", reason);
	size_t len;
	uint8_t *rec = vm_record_encode_loss(&l, &len);
	push_record(w, rec, len, "a usage loss");
}

uint64_t col_writer_spool_seq(struct col_writer *w, bool with_appended)
{
	struct vm_spool_stats st;
	vm_spool_stats(w->spool, &st);
	return st.last_seq + (with_appended ? st.buffered_records : 0);
}

void col_writer_push_event(struct col_writer *w, const char *uuid, int64_t at_ns, const char *event, const char *detail)
{
	struct vm_record_event ev = {.at_ns = at_ns};
	snprintf(ev.uuid, sizeof ev.uuid, "%s", uuid);
	snprintf(ev.event, sizeof ev.event, "%s", event);
	snprintf(ev.detail, sizeof ev.detail, "%s", detail);
	size_t len;
	uint8_t *rec = vm_record_encode_event(&ev, &len);
	push_record(w, rec, len, "a lifecycle event");
}

void col_writer_push_host(struct col_writer *w, const struct vm_host_info *host, int64_t at_ns)
{
	size_t len;
	uint8_t *rec = vm_record_encode_host(host, at_ns, &len);
	push_record(w, rec, len, "the host inventory");
}

int col_writer_commit(struct col_writer *w)
{
	int rc = vm_spool_commit(w->spool);
	if (rc < 0) {
		lose(w, w->pending, w->n_pending,
		     rc == VM_SPOOL_FULL ? "the spool's disk is full" : "spool write failed");
		if (w->n_pending_traffic)
			lose_traffic(w, w->n_pending_traffic,
			             rc == VM_SPOOL_FULL ? "the spool's disk is full" : "spool write failed");
	} else if (w->n_pending) {
		vm_log_once_ok(&w->full, "spooling");
		for (size_t i = 0; w->ledger && i < w->n_pending; i++)
			fprintf(w->ledger, "%s %lld %d\n",
			        w->pending[i].uuid[0] ? w->pending[i].uuid
			        : w->pending[i].power ? "power"
			                              : "host",
			        (long long)(w->pending[i].minute_ns / VM_NS_PER_SEC), (int)w->pending[i].coverage_ms);
		if (w->ledger)
			fflush(w->ledger);
	}
	w->n_pending = 0;
	w->n_pending_traffic = 0;
	pthread_mutex_lock(&w->lock);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return rc < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- delivery */

/* One batch read from the spool, decoded. */
struct batch {
	struct vm_db_usage *rows; /* usage rows run by run: see `runs` */
	size_t n_rows, cap_rows;
	struct vm_db_traffic *traffic; /* classes: vm_xmalloc'd each */
	size_t n_traffic, cap_traffic;
	struct vm_db_host_capture *hcap;
	size_t n_hcap, cap_hcap;
	struct item {
		enum vm_record_kind kind;
		size_t first_row, n_rows; /* usage, traffic, host capture: a run */
		struct vm_inventory *inv;
		struct vm_record_event ev;
		struct vm_host_info host;
		struct vm_record_loss loss;
		int64_t at_ns;
	} * items;
	size_t n_items, cap_items;
	size_t n_inv; /* inventory items */
	uint64_t last_seq;
	uint64_t corrupt;
};

static void batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n_items; i++)
		free(b->items[i].inv);
	for (size_t i = 0; i < b->n_traffic; i++)
		free((void *)b->traffic[i].classes);
	b->n_traffic = b->n_hcap = 0;
	b->n_rows = b->n_items = b->n_inv = 0;
	b->last_seq = 0;
}

static struct item *batch_item(struct batch *b, enum vm_record_kind kind)
{
	b->items = vm_xgrow(b->items, &b->cap_items, b->n_items + 1, sizeof *b->items);
	struct item *it = &b->items[b->n_items++];
	memset(it, 0, sizeof *it);
	it->kind = kind;
	return it;
}

/* Counts one more row into the run of `kind` at the end of the batch. */
static void batch_run(struct batch *b, enum vm_record_kind kind, size_t index)
{
	struct item *last = b->n_items ? &b->items[b->n_items - 1] : NULL;
	if (!last || last->kind != kind) {
		last = batch_item(b, kind);
		last->first_row = index;
	}
	last->n_rows++;
}

static int on_record(void *arg, const struct vm_spool_record *rec)
{
	struct batch *b = arg;
	char err[256];
	int kind = vm_record_kind(rec->payload, rec->len);
	int rc = -1;
	if (kind == VM_REC_USAGE) {
		b->rows = vm_xgrow(b->rows, &b->cap_rows, b->n_rows + 1, sizeof *b->rows);
		rc = vm_record_decode_usage(rec->payload, rec->len, &b->rows[b->n_rows], err, sizeof err);
		if (rc == 0) {
			struct item *last = b->n_items ? &b->items[b->n_items - 1] : NULL;
			if (!last || last->kind != VM_REC_USAGE) {
				last = batch_item(b, VM_REC_USAGE);
				last->first_row = b->n_rows;
			}
			last->n_rows++;
			b->n_rows++;
		}
	} else if (kind == VM_REC_INVENTORY) {
		/* A decoded inventory is large (room for every device limit):
		 * the first pass of a big fleet would otherwise hold all of
		 * them at once.  They are written one by one anyway. */
		if (b->n_inv >= BATCH_MAX_INVENTORIES)
			return 1;
		b->n_inv++;
		struct vm_inventory *inv = vm_xmalloc(sizeof *inv);
		int64_t at;
		rc = vm_record_decode_inventory(rec->payload, rec->len, inv, &at, err, sizeof err);
		if (rc == 0) {
			struct item *it = batch_item(b, VM_REC_INVENTORY);
			it->inv = inv;
			it->at_ns = at;
		} else {
			free(inv);
		}
	} else if (kind == VM_REC_EVENT) {
		struct vm_record_event ev;
		rc = vm_record_decode_event(rec->payload, rec->len, &ev, err, sizeof err);
		if (rc == 0)
			batch_item(b, VM_REC_EVENT)->ev = ev;
	} else if (kind == VM_REC_HOST) {
		struct vm_host_info h;
		int64_t at;
		rc = vm_record_decode_host(rec->payload, rec->len, &h, &at, err, sizeof err);
		if (rc == 0) {
			struct item *it = batch_item(b, VM_REC_HOST);
			it->host = h;
			it->at_ns = at;
		}
	} else if (kind == VM_REC_TRAFFIC) {
		static struct vm_db_traffic_class classes[VM_RECORD_TRAFFIC_MAX_CLASSES]; /* delivery thread only */
		struct vm_db_traffic t;
		rc = vm_record_decode_traffic(rec->payload, rec->len, &t, classes, err, sizeof err);
		if (rc == 0) {
			struct vm_db_traffic_class *own = vm_xcalloc(t.n_classes ? t.n_classes : 1, sizeof *own);
			memcpy(own, classes, t.n_classes * sizeof *own);
			t.classes = own;
			b->traffic = vm_xgrow(b->traffic, &b->cap_traffic, b->n_traffic + 1, sizeof *b->traffic);
			b->traffic[b->n_traffic] = t;
			batch_run(b, VM_REC_TRAFFIC, b->n_traffic++);
		}
	} else if (kind == VM_REC_HOST_CAPTURE) {
		struct vm_db_host_capture hc;
		rc = vm_record_decode_host_capture(rec->payload, rec->len, &hc, err, sizeof err);
		if (rc == 0) {
			b->hcap = vm_xgrow(b->hcap, &b->cap_hcap, b->n_hcap + 1, sizeof *b->hcap);
			b->hcap[b->n_hcap] = hc;
			batch_run(b, VM_REC_HOST_CAPTURE, b->n_hcap++);
		}
	} else if (kind == VM_REC_LOSS) {
		struct vm_record_loss l;
		rc = vm_record_decode_loss(rec->payload, rec->len, &l, err, sizeof err);
		if (rc == 0)
			batch_item(b, VM_REC_LOSS)->loss = l;
	} else {
		snprintf(err, sizeof err, "unknown record kind or format");
	}
	if (rc < 0) {
		/* The spool's CRC matched, so this is a record of another
		 * vmeter version, not damage: say so and go on. */
		b->corrupt++;
		vm_warn("spool record %llu skipped: %s", (unsigned long long)rec->seq, err);
	}
	b->last_seq = rec->seq;
	return 0;
}

/* A loss over a time range as VM-minutes: the partial minutes at its ends
 * and the whole ones between, each with the milliseconds lost in it. */
static int write_loss(struct col_db *db, const char *hostname, const struct vm_record_loss *l)
{
	struct col_db_loss runs[3];
	size_t n = 0;
	for (int64_t m = vm_minute_floor(l->from_ns); m < l->to_ns;) {
		int64_t a = l->from_ns > m ? l->from_ns : m;
		int64_t end = m + VM_NS_PER_MIN;
		int64_t b = l->to_ns < end ? l->to_ns : end;
		int32_t ms = (int32_t)((b - a + 500000) / 1000000);
		if (a == m && b == end) {
			/* The whole minutes, as one run. */
			int64_t last = vm_minute_floor(l->to_ns) - VM_NS_PER_MIN;
			runs[n++] = (struct col_db_loss){.first_ns = m, .last_ns = last, .lost_ms = 60000};
			m = last + VM_NS_PER_MIN;
		} else {
			if (ms > 0)
				runs[n++] = (struct col_db_loss){.first_ns = m, .last_ns = m, .lost_ms = ms};
			m = end;
		}
	}
	for (size_t i = 0; i < n; i++)
		memcpy(runs[i].uuid, l->uuid, sizeof runs[i].uuid);
	return n ? col_db_write_losses(db, hostname, runs, n, l->reason) : 0;
}

/* The minutes a batch writes rows for, for their day partitions. */
static bool batch_span(const struct batch *b, int64_t *lo, int64_t *hi)
{
	bool any = false;
#define SPAN(t0, t1)                                                                                                   \
	do {                                                                                                           \
		if (!any || (t0) < *lo)                                                                                \
			*lo = (t0);                                                                                    \
		if (!any || (t1) > *hi)                                                                                \
			*hi = (t1);                                                                                    \
		any = true;                                                                                            \
	} while (0)
	for (size_t i = 0; i < b->n_rows; i++)
		SPAN(b->rows[i].row.minute_ns, b->rows[i].row.minute_ns);
	for (size_t i = 0; i < b->n_traffic; i++)
		SPAN(b->traffic[i].minute_ns, b->traffic[i].minute_ns);
	for (size_t i = 0; i < b->n_hcap; i++)
		SPAN(b->hcap[i].minute_ns, b->hcap[i].minute_ns);
	for (size_t i = 0; i < b->n_items; i++)
		if (b->items[i].kind == VM_REC_LOSS)
			SPAN(b->items[i].loss.from_ns, b->items[i].loss.to_ns);
#undef SPAN
	return any;
}

/* Delivers a batch in one transaction with the delivery mark. */
static int deliver(struct col_writer *w, struct col_db *db, struct batch *b, size_t *inserted, size_t *rows)
{
	*inserted = *rows = 0;
	int64_t lo = 0, hi = 0;
	if (batch_span(b, &lo, &hi) && col_db_ensure_days(db, lo, hi) < 0)
		return -1;
	if (col_db_begin(db) < 0)
		return -1;
	for (size_t i = 0; i < b->n_items; i++) {
		struct item *it = &b->items[i];
		int rc = 0;
		size_t ins = 0;
		switch (it->kind) {
		case VM_REC_USAGE:
			rc = col_db_write_usage(db, w->hostname, b->rows + it->first_row, it->n_rows, &ins);
			*inserted += ins;
			*rows += it->n_rows;
			break;
		case VM_REC_INVENTORY: rc = col_db_write_inventory(db, w->hostname, it->inv, it->at_ns); break;
		case VM_REC_EVENT:
			rc =
			    col_db_write_event(db, w->hostname, it->ev.uuid, it->ev.at_ns, it->ev.event, it->ev.detail);
			break;
		case VM_REC_HOST: rc = col_db_host_register(db, &it->host, it->at_ns); break;
		case VM_REC_TRAFFIC:
			rc = col_db_write_traffic(db, w->hostname, b->traffic + it->first_row, it->n_rows, NULL, 0,
			                          &ins);
			break;
		case VM_REC_HOST_CAPTURE:
			rc = col_db_write_traffic(db, w->hostname, NULL, 0, b->hcap + it->first_row, it->n_rows, &ins);
			break;
		case VM_REC_LOSS: rc = write_loss(db, w->hostname, &it->loss); break;
		}
		if (rc < 0)
			goto fail;
	}
	if (col_db_set_mark(db, w->hostname, w->spool_id, b->last_seq) < 0)
		goto fail;
	if (col_db_commit(db) == 0)
		return 0;
	col_db_forget_days(db);
	return -1;
fail:
	col_db_rollback(db);
	col_db_forget_days(db);
	return -1;
}

/* Writes the remembered losses; lock held, released around the I/O.  In
 * transactions of one batch each, oldest first: a long list neither needs a
 * transaction longer than the database timeout nor starts over after a
 * failure.  The list stays in place meanwhile, so that lose() appends to it
 * within MAX_LOSSES (it only appends: the first n are the ones written).
 * Returns 0, or -1 when a write failed (vm_pg_error() says why). */
static int deliver_losses(struct col_writer *w, struct col_db *db)
{
	const int64_t minute = 60 * VM_NS_PER_SEC;
	while (w->n_losses) {
		/* At most batch_rows VM-minutes a transaction: a run longer
		 * than that is written in parts, its start moving on. */
		size_t n = 0, budget = w->batch_rows;
		while (n < w->n_losses && budget) {
			size_t len = (size_t)((w->losses[n].last_ns - w->losses[n].first_ns) / minute) + 1;
			budget -= len < budget ? len : budget;
			n++;
		}
		struct col_db_loss *rows = vm_xmalloc(n * sizeof *rows);
		memcpy(rows, w->losses, n * sizeof *rows);
		size_t used = 0;
		for (size_t i = 0; i + 1 < n; i++)
			used += (size_t)((rows[i].last_ns - rows[i].first_ns) / minute) + 1;
		/* The last one gets what is left of the budget. */
		int64_t last_part_end = rows[n - 1].first_ns + (int64_t)(w->batch_rows - used - 1) * minute;
		bool partial = last_part_end < rows[n - 1].last_ns;
		if (partial)
			rows[n - 1].last_ns = last_part_end;
		/* Runs being written are not extended meanwhile: the
		 * extension would go with them. */
		w->losses_busy = n;
		pthread_mutex_unlock(&w->lock);
		int64_t lo = rows[0].first_ns, hi = rows[0].last_ns;
		for (size_t i = 1; i < n; i++) {
			lo = rows[i].first_ns < lo ? rows[i].first_ns : lo;
			hi = rows[i].last_ns > hi ? rows[i].last_ns : hi;
		}
		int rc = col_db_ensure_days(db, lo, hi);
		if (rc == 0)
			rc = col_db_write_losses(db, w->hostname, rows, n, "spool full");
		if (rc < 0)
			col_db_forget_days(db);
		pthread_mutex_lock(&w->lock);
		w->losses_busy = 0;
		if (rc < 0) {
			free(rows);
			return -1;
		}
		size_t done = n;
		if (partial) {
			w->losses[n - 1].first_ns = rows[n - 1].last_ns + minute;
			done = n - 1;
		}
		free(rows);
		memmove(w->losses, w->losses + done, (w->n_losses - done) * sizeof *w->losses);
		w->n_losses -= done;
	}
	return 0;
}

/* Called for each record from the oldest undelivered one on: stops at the
 * first usage row and keeps its minute. */
static int peek_minute(void *arg, const struct vm_spool_record *rec)
{
	int64_t *minute = arg;
	if (vm_record_kind(rec->payload, rec->len) != VM_REC_USAGE)
		return 0;
	struct vm_db_usage u;
	char err[128];
	if (vm_record_decode_usage(rec->payload, rec->len, &u, err, sizeof err) == 0)
		*minute = u.row.minute_ns;
	return 1;
}

static const char *db_state_name(enum db_state s)
{
	switch (s) {
	case DB_CONNECTING: return "connecting";
	case DB_UP: return "up";
	case DB_DOWN: return "down";
	case DB_REFUSED: return "refused";
	}
	return "?";
}

/* s as a JSON string (quotes included) into out; control characters
 * escaped, cut at size. */
static const char *json_str(const char *s, char *out, size_t size)
{
	size_t n = 0;
	out[n++] = '"';
	for (; *s && n + 8 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			n += (size_t)snprintf(out + n, size - n, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
		else
			out[n++] = (char)c;
	}
	out[n++] = '"';
	out[n] = '\0';
	return out;
}

void col_writer_write_status(struct col_writer *w)
{
	if (!w->status_path)
		return;
	struct vm_spool_stats st;
	vm_spool_stats(w->spool, &st);
	/* The records ahead of the first usage row are inventory and events:
	 * a few per pass, but one per VM at a start (a thousand on a large
	 * host).  The look stops at the first usage row; its bounds only cap
	 * the cost when there is none near the front. */
	int64_t oldest_minute = 0;
	struct vm_spool_cursor c = {0};
	if (st.records_pending)
		vm_spool_read(w->spool, &c, 1u << 16, 8u << 20, peek_minute, &oldest_minute);
	pthread_mutex_lock(&w->lock);
	struct col_writer_stats s = w->stats;
	size_t losses = loss_minutes(w);
	const char *db_state = db_state_name(w->db_state);
	int64_t db_since = w->db_since_ns / VM_NS_PER_SEC;
	char db_error[2 * sizeof w->db_error], lv_error[2 * sizeof w->libvirt_error];
	json_str(w->db_error, db_error, sizeof db_error);
	json_str(w->libvirt_error, lv_error, sizeof lv_error);
	int lv_state = w->libvirt_state;
	size_t incomplete = w->incomplete_inventories;
	struct col_writer_passes ps = w->passes;
	int64_t lv_since = w->libvirt_since_ns / VM_NS_PER_SEC;
	bool stopped = w->stopped;
	int64_t stopped_at = w->stopped_ns / VM_NS_PER_SEC;
	pthread_mutex_unlock(&w->lock);
	int64_t now = vm_now_ns();
	char *tmp = vm_xasprintf("%s.tmp", w->status_path);
	/* 0640 like the spool: it names the host's delivery state.  The
	 * mode is given at creation, never loosened by a umask of 022. */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		free(tmp);
		return;
	}
	fprintf(f,
	        "{\"time\": %lld, \"database\": \"%s\", \"spool_bytes\": %llu, \"spool_records\": %llu, "
	        "\"oldest_pending\": %lld, \"oldest_minute\": %lld, \"delivery_lag_s\": %.1f, "
	        "\"delivered_rows\": %llu, \"duplicate_rows\": %llu, \"lost_rows\": %llu, \"lost_coverage_ms\": %llu, "
	        "\"lost_traffic_rows\": %llu, \"failures\": %llu, \"spool_full\": %s, \"spool_repaired_bytes\": %llu, "
	        "\"spool_damaged_records\": %llu, \"spool_quarantined_segments\": %llu, "
	        "\"spool_quarantined_bytes\": %llu, \"losses_unrecorded\": %zu, \"period_s\": %d",
	        (long long)(now / VM_NS_PER_SEC), db_state, (unsigned long long)st.bytes,
	        (unsigned long long)st.records_pending, (long long)(st.oldest_time_ns / VM_NS_PER_SEC),
	        (long long)(oldest_minute / VM_NS_PER_SEC),
	        st.oldest_time_ns ? (double)(now - st.oldest_time_ns) / 1e9 : 0.0, (unsigned long long)s.delivered,
	        (unsigned long long)s.duplicates, (unsigned long long)s.lost_rows, (unsigned long long)s.lost_ms,
	        (unsigned long long)s.lost_traffic, (unsigned long long)s.failures, w->full.failing ? "true" : "false",
	        (unsigned long long)(st.truncated_bytes + st.corrupt_bytes),
	        (unsigned long long)(st.truncated_records + st.lost_records),
	        (unsigned long long)st.quarantined_segments, (unsigned long long)st.quarantined_bytes, losses,
	        COL_WRITER_STATUS_PERIOD_S);
	/* Since when the database and libvirt are in their state (0: not
	 * known yet) and libpq's or libvirt's text while they fail; "state"
	 * is "stopped" in the file a clean stop leaves. */
	fprintf(f,
	        ", \"database_since\": %lld, \"database_error\": %s, \"libvirt\": \"%s\", \"libvirt_since\": %lld, "
	        "\"libvirt_error\": %s, \"state\": \"%s\", \"stopped_at\": %lld, \"incomplete_inventories\": %zu, "
	        "\"passes\": %llu, \"domain_samples\": %llu, \"libvirt_calls\": %llu, \"libvirt_calls_saved\": %llu, "
	        "\"ticks_skipped\": %llu}\n",
	        (long long)db_since, db_error,
	        lv_state < 0 ? "unknown"
	        : lv_state   ? "up"
	                     : "down",
	        (long long)lv_since, lv_error, stopped ? "stopped" : "running", (long long)stopped_at, incomplete,
	        (unsigned long long)ps.passes, (unsigned long long)ps.domain_samples,
	        (unsigned long long)ps.libvirt_calls, (unsigned long long)ps.libvirt_saved,
	        (unsigned long long)ps.ticks_skipped);
	if (fclose(f) == 0)
		rename(tmp, w->status_path);
	free(tmp);
}

/* Waits up to ms for a commit or stop; lock held.  On the wall clock, the
 * condition variable's default: libfaketime (the clock tests) turns timed
 * waits on a CLOCK_MONOTONIC one into a busy loop.  A step of the wall
 * clock can stretch one wait, but the next commit (every pass) ends it,
 * and callers measure their own deadlines on the monotonic clock. */
static void realtime_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void wait_ms(struct col_writer *w, long ms)
{
	struct timespec ts;
	realtime_in(&ts, ms);
	pthread_cond_timedwait(&w->cond, &w->lock, &ts);
}

/* The database took a delivery (or had nothing to take: delivered true),
 * or answered the first connect (false).  One line if it had failed; the
 * back-off starts over only after a delivery.  Lock held. */
static void db_ok(struct col_writer *w, bool delivered)
{
	if (w->db_state == DB_DOWN || w->db_state == DB_REFUSED)
		vm_notice("database delivery recovered after %lu failed attempt%s", w->db_failures,
		          w->db_failures == 1 ? "" : "s");
	if (w->db_state != DB_UP)
		w->db_since_ns = vm_now_ns();
	w->db_state = DB_UP;
	w->db_error[0] = '\0';
	w->db_failures = 0;
	if (delivered)
		w->backoff_s = 0;
}

/* A connect or a round trip failed: publishes the state at once and logs
 * once per episode (again only if an outage turns into a refusal or back),
 * not per retry; lock held. */
static void db_fail(struct col_writer *w, enum vm_pg_failure why, const char *err)
{
	enum db_state st = why == VM_PG_REFUSED ? DB_REFUSED : DB_DOWN;
	w->stats.failures++;
	w->db_failures++;
	snprintf(w->db_error, sizeof w->db_error, "%s", err);
	if (st == w->db_state)
		return;
	w->db_state = st;
	w->db_since_ns = vm_now_ns();
	/* The server's answer names what the operator must change (a
	 * privilege, a password, the schema); "unreachable" is the network's
	 * or the server's outage. */
	if (st == DB_REFUSED)
		vm_warn("database refused: %s (retrying with back-off up to %d s; records wait in the spool)", err,
		        w->reconnect_max_s);
	else
		vm_warn("database unreachable: %s (retrying with back-off up to %d s; records wait in the spool)", err,
		        w->reconnect_max_s);
}

/* Waits out the next back-off step (1 s, doubling up to reconnect-max)
 * unless a stop comes first; commits do not cut it short, or a refusing
 * database would get a transaction per pass.  Lock held. */
static void backoff_wait(struct col_writer *w)
{
	w->backoff_s = w->backoff_s ? w->backoff_s * 2 : 1;
	if (w->backoff_s > w->reconnect_max_s)
		w->backoff_s = w->reconnect_max_s > 0 ? w->reconnect_max_s : 1;
	int64_t until = vm_monotonic_ns() + (int64_t)w->backoff_s * VM_NS_PER_SEC;
	for (int64_t now; !w->stop && (now = vm_monotonic_ns()) < until;)
		wait_ms(w, (long)((until - now) / 1000000) + 1);
}

/* Whether the delivery thread should end now; lock held.  At a stop it
 * delivers what is committed while the database takes it (the caller's
 * deadline then abandons the round trip in flight), but starts nothing
 * with a database that is away or refusing: the spool keeps it all.  A
 * database not tried yet is tried: a short run (-F) stops before the
 * thread's first connect on a loaded machine, and would deliver nothing. */
static bool stop_now(struct col_writer *w, struct col_db *db)
{
	if (!w->stop)
		return false;
	if (!db)
		return w->db_state != DB_CONNECTING;
	if (w->db_state != DB_UP)
		return true;
	struct vm_spool_stats st;
	vm_spool_stats(w->spool, &st);
	return st.records_pending == 0 && w->n_losses == 0;
}

static void db_close(struct vm_pg **pg, struct col_db **db)
{
	col_db_free(*db);
	vm_pg_free(*pg);
	*db = NULL;
	*pg = NULL;
}

static void *writer_main(void *arg)
{
	struct col_writer *w = arg;
	struct vm_pg *pg = NULL;
	struct col_db *db = NULL; /* on pg, when connected */
	struct vm_spool_cursor cur = {0};
	struct batch b = {0};
	char err[512];
	enum vm_pg_failure why = VM_PG_OK;
	/* Tests: a thread that starts late, as on a loaded machine, so that
	 * the stop comes before the first connect. */
	const char *late = getenv("VMETER_TEST_WRITER_LATE_MS");
	if (late && *late)
		usleep((useconds_t)atoi(late) * 1000);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		if (stop_now(w, db))
			break;
		if (!db) {
			char *conninfo = vm_xstrdup(w->conninfo);
			pthread_mutex_unlock(&w->lock);
			pg = vm_pg_new(conninfo, w->timeout_s, w->abort_pipe[0]);
			free(conninfo);
			uint64_t mark = 0;
			if (vm_pg_connect(pg) == 0 && vm_pg_check_schema(pg) == 0) {
				db = col_db_new(pg);
				if (col_db_get_mark(db, w->hostname, w->spool_id, &mark) < 0) {
					col_db_free(db);
					db = NULL;
				}
			}
			if (!db) {
				snprintf(err, sizeof err, "%s", vm_pg_error(pg));
				why = vm_pg_failure(pg);
				vm_pg_free(pg);
				pg = NULL;
			}
			if (db && mark) {
				/* The database has everything up to its mark: the
				 * spool's own acknowledgement may be behind it after a
				 * crash between the two. */
				vm_spool_ack(w->spool, mark);
				vm_spool_cursor_rewind(&cur);
			}
			pthread_mutex_lock(&w->lock);
			if (!db) {
				if (why == VM_PG_ABANDONED)
					break;
				db_fail(w, why, err);
				backoff_wait(w);
				continue;
			}
			/* Up at the first connect; after an outage only once
			 * something is delivered (or nothing waits), so that a
			 * link that breaks every delivery is one outage, not a
			 * recovery per reconnect. */
			if (w->db_state == DB_CONNECTING)
				db_ok(w, false);
		}
		int lrc = deliver_losses(w, db);
		pthread_mutex_unlock(&w->lock);
		batch_clear(&b);
		int n = lrc < 0 ? 0 : vm_spool_read(w->spool, &cur, w->batch_rows, READ_BYTES, on_record, &b);
		pthread_mutex_lock(&w->lock);
		if (n < 0) {
			vm_warn("cannot read the spool: %s", vm_spool_read_error(w->spool));
			wait_ms(w, 1000);
			continue;
		}
		if (n == 0 && lrc == 0) {
			/* Idle: a server that went away says so on the socket,
			 * and status shows it now rather than at the next
			 * minute's delivery. */
			if (!vm_pg_alive(pg)) {
				snprintf(err, sizeof err, "%s", vm_pg_error(pg));
				db_fail(w, VM_PG_UNREACHABLE, err);
				pthread_mutex_unlock(&w->lock);
				db_close(&pg, &db);
				pthread_mutex_lock(&w->lock);
				backoff_wait(w);
				continue;
			}
			db_ok(w, true); /* connected, and nothing is waiting */
			if (w->stop && w->n_losses == 0)
				break; /* everything committed is delivered */
			wait_ms(w, 500);
			continue;
		}
		pthread_mutex_unlock(&w->lock);
		size_t inserted = 0, rows = 0;
		int rc = lrc;
		if (rc == 0 && b.n_items)
			rc = deliver(w, db, &b, &inserted, &rows);
		if (rc == 0 && n > 0 && vm_spool_ack(w->spool, b.last_seq) < 0)
			vm_warn("cannot store the spool's acknowledgement: %s (records will be sent again)",
			        vm_spool_read_error(w->spool));
		if (rc < 0) {
			snprintf(err, sizeof err, "%s", vm_pg_error(pg));
			why = vm_pg_failure(pg);
		}
		pthread_mutex_lock(&w->lock);
		if (rc == 0) {
			db_ok(w, true);
			w->stats.delivered += inserted;
			w->stats.duplicates += rows - inserted;
			continue;
		}
		/* Kept in the spool and sent again: the database's keys make
		 * a batch that did commit a no-op. */
		vm_spool_cursor_rewind(&cur);
		if (why == VM_PG_ABANDONED)
			break;
		db_fail(w, why, err);
		if (why == VM_PG_UNREACHABLE) {
			pthread_mutex_unlock(&w->lock);
			db_close(&pg, &db);
			pthread_mutex_lock(&w->lock);
		}
		/* Every failure backs off, a refusal too: retrying a
		 * transaction the server refuses only fills its log. */
		backoff_wait(w);
	}
	if (why == VM_PG_ABANDONED)
		vm_notice("stopping: the database round trip in flight was abandoned (its records stay in the spool)");
	w->done = true;
	pthread_cond_broadcast(&w->done_cond);
	pthread_mutex_unlock(&w->lock);
	batch_clear(&b);
	free(b.rows);
	free(b.traffic);
	free(b.hcap);
	free(b.items);
	db_close(&pg, &db);
	return NULL;
}

struct col_writer *col_writer_new(const struct col_writer_opts *o, char *err, size_t errsize)
{
	/* The directories of status.json and the spool, made with the
	 * shared group if there is one (lib/fsutil.h); a failure here is
	 * the spool's to report. */
	if (o->status_path && strrchr(o->status_path, '/') && strrchr(o->status_path, '/') != o->status_path) {
		char *dir = vm_xstrdup(o->status_path);
		*strrchr(dir, '/') = '\0';
		vm_mkdir_shared(dir);
		free(dir);
	}
	vm_mkdir_shared(o->spool_dir);
	struct vm_spool_opts so = {.cap = o->spool_cap, .sync = o->sync, .sync_interval_ms = o->sync_interval_ms};
	struct vm_spool *sp = vm_spool_open(o->spool_dir, &so, err, errsize);
	if (!sp)
		return NULL;
	char *id = spool_id(o->spool_dir, err, errsize);
	if (!id) {
		vm_spool_close(sp, NULL, 0);
		return NULL;
	}
	struct col_writer *w = vm_xcalloc(1, sizeof *w);
	w->spool = sp;
	w->spool_id = id;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_cond_init(&w->done_cond, NULL);
	if (pipe2(w->abort_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		vm_fatal("cannot create a pipe: %s", strerror(errno));
	w->libvirt_state = -1;
	w->conninfo = vm_xstrdup(o->conninfo);
	w->hostname = vm_xstrdup(o->hostname);
	w->status_path = o->status_path ? vm_xstrdup(o->status_path) : NULL;
	w->batch_rows = o->batch_rows;
	w->reconnect_max_s = o->reconnect_max_s;
	w->timeout_s = o->timeout_s;
	/* The tests' ground truth: what the collector acknowledged, to be
	 * reconciled with the database after faults. */
	const char *ledger = getenv("VMETER_TEST_LEDGER");
	if (ledger && *ledger && !(w->ledger = fopen(ledger, "a")))
		vm_warn("cannot open the test ledger '%s': %s", ledger, strerror(errno));
	struct vm_spool_stats st;
	vm_spool_stats(sp, &st);
	if (st.records_pending)
		vm_notice("spool '%s': %llu records from before wait for delivery", o->spool_dir,
		          (unsigned long long)st.records_pending);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
		vm_fatal("cannot start the database writer thread");
	return w;
}

void col_writer_free(struct col_writer *w, int timeout_ms)
{
	if (!w)
		return;
	col_writer_commit(w);
	/* Delivery goes on until the spool is empty or the deadline; then
	 * the pipe abandons the round trip in flight, so that a hung or
	 * unreachable database never holds up the stop: what it did not
	 * acknowledge stays in the spool for the next start. */
	int64_t until = vm_monotonic_ns() + (int64_t)timeout_ms * 1000000;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	for (int64_t now; !w->done && (now = vm_monotonic_ns()) < until;) {
		struct timespec ts;
		realtime_in(&ts, (long)((until - now) / 1000000) + 1);
		pthread_cond_timedwait(&w->done_cond, &w->lock, &ts);
	}
	bool done = w->done;
	pthread_mutex_unlock(&w->lock);
	if (!done && write(w->abort_pipe[1], "x", 1) < 0)
		vm_warn("cannot interrupt database delivery: %s", strerror(errno));
	pthread_join(w->thread, NULL);
	close(w->abort_pipe[0]);
	close(w->abort_pipe[1]);
	pthread_mutex_lock(&w->lock);
	w->stopped = true;
	w->stopped_ns = vm_now_ns();
	pthread_mutex_unlock(&w->lock);
	col_writer_write_status(w);
	struct vm_spool_stats st;
	vm_spool_stats(w->spool, &st);
	if (st.records_pending)
		vm_notice("stopping with %llu records in the spool: they are delivered after the next start",
		          (unsigned long long)st.records_pending);
	if (w->n_losses)
		vm_warn("%zu VM-minutes of lost coverage could not be recorded in the database", loss_minutes(w));
	vm_spool_close(w->spool, NULL, 0);
	if (w->ledger)
		fclose(w->ledger);
	free(w->pending);
	free(w->losses);
	free(w->spool_id);
	free(w->conninfo);
	free(w->hostname);
	free(w->status_path);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	pthread_cond_destroy(&w->done_cond);
	free(w);
}

void col_writer_set_libvirt(struct col_writer *w, bool up, int64_t since_ns, const char *why)
{
	pthread_mutex_lock(&w->lock);
	if (w->libvirt_state != (int)up)
		w->libvirt_since_ns = since_ns;
	w->libvirt_state = up;
	snprintf(w->libvirt_error, sizeof w->libvirt_error, "%s", up || !why ? "" : why);
	pthread_mutex_unlock(&w->lock);
}

void col_writer_set_conninfo(struct col_writer *w, const char *conninfo)
{
	pthread_mutex_lock(&w->lock);
	if (strcmp(conninfo, w->conninfo) != 0) {
		free(w->conninfo);
		w->conninfo = vm_xstrdup(conninfo);
	}
	pthread_mutex_unlock(&w->lock);
}

struct col_writer_stats col_writer_stats(struct col_writer *w)
{
	struct vm_spool_stats st;
	vm_spool_stats(w->spool, &st);
	pthread_mutex_lock(&w->lock);
	struct col_writer_stats s = w->stats;
	pthread_mutex_unlock(&w->lock);
	s.pending = st.records_pending;
	s.spool_bytes = st.bytes;
	s.oldest_ns = st.oldest_time_ns;
	return s;
}

void col_writer_set_inventory_incomplete(struct col_writer *w, size_t n)
{
	pthread_mutex_lock(&w->lock);
	w->incomplete_inventories = n;
	pthread_mutex_unlock(&w->lock);
}

void col_writer_set_passes(struct col_writer *w, const struct col_writer_passes *p)
{
	pthread_mutex_lock(&w->lock);
	w->passes = *p;
	pthread_mutex_unlock(&w->lock);
}
