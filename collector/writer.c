#include "config.h"

#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "vtime.h"
#include "xalloc.h"

enum item_kind { ITEM_USAGE, ITEM_INVENTORY, ITEM_EVENT, ITEM_HOST };

struct item {
	enum item_kind kind;
	int64_t at_ns;
	union {
		struct vm_db_usage *usage;
		struct vm_inventory *inv;
		struct {
			char uuid[37];
			char event[16];
			char detail[32];
		} ev;
		struct vm_host_info *host;
	} u;
};

struct col_writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* queue changed or stop requested */
	struct item *q;
	size_t head, tail, cap; /* q[head..tail) waits */
	size_t usage_rows;      /* usage items waiting */
	size_t queue_rows, batch_rows;
	bool stop;
	char *conninfo;
	char *hostname;
	int reconnect_max_s;
	struct col_writer_stats stats;
	struct vm_log_once down;
	struct vm_log_once full;
};

static void item_release(struct item *it)
{
	switch (it->kind) {
	case ITEM_USAGE: free(it->u.usage); break;
	case ITEM_INVENTORY: free(it->u.inv); break;
	case ITEM_HOST: free(it->u.host); break;
	case ITEM_EVENT: break;
	}
}

static void push(struct col_writer *w, struct item *it)
{
	pthread_mutex_lock(&w->lock);
	if (it->kind == ITEM_USAGE && w->usage_rows >= w->queue_rows) {
		w->stats.lost++;
		vm_log_once_fail(&w->full,
		                 "delivery queue full (%zu rows): usage rows are being lost until the "
		                 "database takes them",
		                 w->queue_rows);
		pthread_mutex_unlock(&w->lock);
		item_release(it);
		return;
	}
	if (w->tail == w->cap) {
		if (w->head > 0) {
			memmove(w->q, w->q + w->head, (w->tail - w->head) * sizeof *w->q);
			w->tail -= w->head;
			w->head = 0;
		}
		w->q = vm_xgrow(w->q, &w->cap, w->tail + 1, sizeof *w->q);
	}
	w->q[w->tail++] = *it;
	if (it->kind == ITEM_USAGE)
		w->usage_rows++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void col_writer_push_usage(struct col_writer *w, const char *uuid, const struct vm_usage_row *row)
{
	struct item it = {.kind = ITEM_USAGE, .at_ns = row->minute_ns};
	it.u.usage = vm_xmalloc(sizeof *it.u.usage);
	snprintf(it.u.usage->uuid, sizeof it.u.usage->uuid, "%s", uuid ? uuid : "");
	it.u.usage->row = *row;
	push(w, &it);
}

void col_writer_push_inventory(struct col_writer *w, struct vm_inventory *inv, int64_t at_ns)
{
	struct item it = {.kind = ITEM_INVENTORY, .at_ns = at_ns, .u.inv = inv};
	push(w, &it);
}

void col_writer_push_event(struct col_writer *w, const char *uuid, int64_t at_ns, const char *event, const char *detail)
{
	struct item it = {.kind = ITEM_EVENT, .at_ns = at_ns};
	snprintf(it.u.ev.uuid, sizeof it.u.ev.uuid, "%s", uuid);
	snprintf(it.u.ev.event, sizeof it.u.ev.event, "%s", event);
	snprintf(it.u.ev.detail, sizeof it.u.ev.detail, "%s", detail);
	push(w, &it);
}

void col_writer_push_host(struct col_writer *w, const struct vm_host_info *host, int64_t at_ns)
{
	struct item it = {.kind = ITEM_HOST, .at_ns = at_ns};
	it.u.host = vm_xmalloc(sizeof *it.u.host);
	*it.u.host = *host;
	push(w, &it);
}

struct col_writer_stats col_writer_stats(struct col_writer *w)
{
	pthread_mutex_lock(&w->lock);
	struct col_writer_stats s = w->stats;
	s.queued = w->tail - w->head;
	pthread_mutex_unlock(&w->lock);
	return s;
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

/* Sleeps up to `s` seconds unless stop is requested; lock held. */
static void nap(struct col_writer *w, int s)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += s;
	while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &ts) != ETIMEDOUT)
		;
}

/* Delivers q[head..head+n) (lock not held).  Returns 0 or -1. */
static int deliver(struct col_writer *w, struct vm_db *db, struct item *items, size_t n, size_t *inserted)
{
	*inserted = 0;
	if (items[0].kind == ITEM_USAGE) {
		struct vm_db_usage *rows = vm_xmalloc(n * sizeof *rows);
		for (size_t i = 0; i < n; i++)
			rows[i] = *items[i].u.usage;
		int rc = vm_db_write_usage(db, w->hostname, rows, n, inserted);
		free(rows);
		return rc;
	}
	switch (items[0].kind) {
	case ITEM_INVENTORY: return vm_db_write_inventory(db, w->hostname, items[0].u.inv, items[0].at_ns);
	case ITEM_EVENT:
		return vm_db_write_event(db, w->hostname, items[0].u.ev.uuid, items[0].at_ns, items[0].u.ev.event,
		                         items[0].u.ev.detail);
	case ITEM_HOST: return vm_db_host_register(db, items[0].u.host, items[0].at_ns);
	default: return -1;
	}
}

static void *writer_main(void *arg)
{
	struct col_writer *w = arg;
	struct vm_db *db = NULL;
	int backoff = 0;
	char err[512];
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->stop && w->head == w->tail)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->head == w->tail)
			break; /* stop requested and nothing left */
		if (!db) {
			char *conninfo = vm_xstrdup(w->conninfo);
			pthread_mutex_unlock(&w->lock);
			db = vm_db_connect(conninfo, err, sizeof err);
			free(conninfo);
			if (db && vm_db_check_schema(db) < 0) {
				snprintf(err, sizeof err, "%s", vm_db_error(db));
				vm_db_close(db);
				db = NULL;
			}
			pthread_mutex_lock(&w->lock);
			if (!db) {
				w->stats.failures++;
				vm_log_once_fail(&w->down, "database unavailable: %s (retrying with back-off)", err);
				backoff = backoff ? backoff * 2 : 1;
				if (backoff > w->reconnect_max_s)
					backoff = w->reconnect_max_s;
				if (w->stop)
					break;
				nap(w, backoff);
				continue;
			}
		}
		/* A run of usage rows goes in one batch; anything else alone. */
		size_t n = 1;
		if (w->q[w->head].kind == ITEM_USAGE)
			while (w->head + n < w->tail && n < w->batch_rows && w->q[w->head + n].kind == ITEM_USAGE)
				n++;
		struct item *items = vm_xmalloc(n * sizeof *items);
		memcpy(items, w->q + w->head, n * sizeof *items);
		pthread_mutex_unlock(&w->lock);
		size_t inserted = 0;
		int rc = deliver(w, db, items, n, &inserted);
		if (rc < 0)
			snprintf(err, sizeof err, "%s", vm_db_error(db));
		pthread_mutex_lock(&w->lock);
		if (rc == 0) {
			vm_log_once_ok(&w->down, "database delivery");
			backoff = 0;
			for (size_t i = 0; i < n; i++)
				item_release(&w->q[w->head + i]);
			if (items[0].kind == ITEM_USAGE) {
				w->usage_rows -= n;
				w->stats.delivered += inserted;
				w->stats.duplicates += n - inserted;
				if (w->full.failing && w->usage_rows < w->queue_rows / 2)
					vm_log_once_ok(&w->full, "delivery queue");
			}
			w->head += n;
			if (w->head == w->tail)
				w->head = w->tail = 0;
		} else {
			/* Kept in the queue and sent again: the database's
			 * keys make a batch that did commit a no-op. */
			w->stats.failures++;
			vm_log_once_fail(&w->down, "database write failed: %s (retrying with back-off)", err);
			if (vm_db_broken(db)) {
				pthread_mutex_unlock(&w->lock);
				vm_db_close(db);
				pthread_mutex_lock(&w->lock);
				db = NULL;
			}
			backoff = backoff ? backoff * 2 : 1;
			if (backoff > w->reconnect_max_s)
				backoff = w->reconnect_max_s;
			if (!w->stop)
				nap(w, backoff);
			if (w->stop) {
				free(items);
				break;
			}
		}
		free(items);
	}
	pthread_mutex_unlock(&w->lock);
	vm_db_close(db);
	return NULL;
}

struct col_writer *col_writer_new(const char *conninfo, const char *hostname, size_t batch_rows, size_t queue_rows,
                                  int reconnect_max_s)
{
	struct col_writer *w = vm_xcalloc(1, sizeof *w);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->conninfo = vm_xstrdup(conninfo);
	w->hostname = vm_xstrdup(hostname);
	w->batch_rows = batch_rows;
	w->queue_rows = queue_rows;
	w->reconnect_max_s = reconnect_max_s;
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
		vm_fatal("cannot start the database writer thread");
	return w;
}

void col_writer_free(struct col_writer *w, int timeout_ms)
{
	if (!w)
		return;
	int64_t deadline = vm_monotonic_ns() + (int64_t)timeout_ms * 1000000;
	pthread_mutex_lock(&w->lock);
	while (w->head != w->tail && vm_monotonic_ns() < deadline) {
		pthread_mutex_unlock(&w->lock);
		struct timespec ts = {0, 50 * 1000000};
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&w->lock);
	}
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	size_t left = w->tail - w->head;
	if (left)
		vm_err("shutting down with %zu item%s (%zu usage rows) not delivered to the database", left,
		       left == 1 ? "" : "s", w->usage_rows);
	for (size_t i = w->head; i < w->tail; i++)
		item_release(&w->q[i]);
	free(w->q);
	free(w->conninfo);
	free(w->hostname);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
