/* Jobs on worker threads, answers on the loop (worker.h). */
#include "config.h"

#include "worker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define MAX_THREADS 16
#define PG_TIMEOUT_S 30

struct job {
	struct job *next;
	web_work_fn run;
	web_work_done_cb done;
	void *arg;
};

struct web_worker_thread {
	struct web_worker *w;
	pthread_t id;
	bool started;
	struct vm_pg *pg;
};

struct web_worker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *waiting, **waiting_tail, *done;
	size_t queued, max_queued; /* queued: waiting, running or answered but not delivered */
	bool stop;
	struct event *notify;
	char *conninfo;
	unsigned n;
	struct web_worker_thread threads[MAX_THREADS];
};

static void *thread_main(void *arg)
{
	struct web_worker_thread *t = arg;
	struct web_worker *w = t->w;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->waiting && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		struct job *j = w->waiting;
		w->waiting = j->next;
		if (!w->waiting)
			w->waiting_tail = &w->waiting;
		pthread_mutex_unlock(&w->mu);
		j->run(t, j->arg);
		pthread_mutex_lock(&w->mu);
		j->next = w->done;
		w->done = j;
		event_active(w->notify, EV_READ, 0);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* On the loop: the jobs run since the last time, in the order they ended
 * (reversed: none waits on another). */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct web_worker *w = arg;
	pthread_mutex_lock(&w->mu);
	struct job *list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->mu);
	while (list) {
		struct job *j = list;
		list = j->next;
		pthread_mutex_lock(&w->mu);
		w->queued--;
		pthread_mutex_unlock(&w->mu);
		j->done(0, j->arg);
		free(j);
	}
}

struct web_worker *web_worker_new(struct event_base *base, unsigned threads, size_t max_queued, const char *conninfo,
                                  char *err, size_t errsize)
{
	if (threads < 1 || threads > MAX_THREADS) {
		snprintf(err, errsize, "worker threads: %u is not within 1 to %d", threads, MAX_THREADS);
		return NULL;
	}
	struct web_worker *w = vm_xcalloc(1, sizeof *w);
	w->waiting_tail = &w->waiting;
	w->max_queued = max_queued ? max_queued : 256;
	w->conninfo = conninfo ? vm_xstrdup(conninfo) : NULL;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->notify = event_new(base, -1, 0, on_done, w);
	if (!w->notify) {
		snprintf(err, errsize, "cannot make the worker threads' event");
		web_worker_free(w);
		return NULL;
	}
	for (unsigned i = 0; i < threads; i++) {
		struct web_worker_thread *t = &w->threads[i];
		t->w = w;
		int rc = pthread_create(&t->id, NULL, thread_main, t);
		if (rc != 0) {
			snprintf(err, errsize, "cannot start a worker thread: %s", strerror(rc));
			web_worker_free(w);
			return NULL;
		}
		t->started = true;
		w->n = i + 1;
	}
	return w;
}

void web_worker_free(struct web_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->n; i++) {
		if (w->threads[i].started)
			pthread_join(w->threads[i].id, NULL);
		vm_pg_free(w->threads[i].pg);
	}
	if (w->notify)
		event_free(w->notify);
	/* run but not delivered: their answer is ready, deliver it; never
	 * run: cancelled */
	while (w->done) {
		struct job *j = w->done;
		w->done = j->next;
		j->done(0, j->arg);
		free(j);
	}
	while (w->waiting) {
		struct job *j = w->waiting;
		w->waiting = j->next;
		j->done(1, j->arg);
		free(j);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->conninfo);
	free(w);
}

int web_worker_submit(struct web_worker *w, web_work_fn run, web_work_done_cb done, void *arg)
{
	pthread_mutex_lock(&w->mu);
	if (w->queued >= w->max_queued || w->stop) {
		pthread_mutex_unlock(&w->mu);
		return -1;
	}
	w->queued++;
	struct job *j = vm_xcalloc(1, sizeof *j);
	j->run = run;
	j->done = done;
	j->arg = arg;
	*w->waiting_tail = j;
	w->waiting_tail = &j->next;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

struct vm_pg *web_worker_pg(struct web_worker_thread *t, char *err, size_t errsize)
{
	if (!t->w->conninfo) {
		snprintf(err, errsize, "no database for worker jobs");
		return NULL;
	}
	if (!t->pg)
		t->pg = vm_pg_new(t->w->conninfo, PG_TIMEOUT_S, -1);
	if (vm_pg_broken(t->pg) && vm_pg_connect(t->pg) < 0) {
		snprintf(err, errsize, "%s", vm_pg_error(t->pg));
		return NULL;
	}
	return t->pg;
}

size_t web_worker_queued(const struct web_worker *w)
{
	pthread_mutex_t *mu = (pthread_mutex_t *)&w->mu;
	pthread_mutex_lock(mu);
	size_t n = w->queued;
	pthread_mutex_unlock(mu);
	return n;
}
