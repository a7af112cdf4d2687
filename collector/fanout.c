#include "config.h"

#include "fanout.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

/* Slots per worker: enough that a worker finds items prepared while the
 * calling thread consumes, few enough that the caller's slots stay small
 * (the collector's sample is ~20 KB). */
#define SLOTS_PER_THREAD 8
/* Items a worker takes at once: one lock round per CHUNK items. */
#define CHUNK 2

struct col_fanout {
	unsigned want;     /* threads asked for */
	unsigned n;        /* threads running */
	bool started;      /* start tried */
	pthread_t *thread; /* n of them */
	size_t window;

	pthread_mutex_t lock;
	pthread_cond_t more; /* workers: items prepared, or stop */
	pthread_cond_t done; /* the caller: items finished */
	bool stop;
	/* The run in progress (NULL between runs); under the lock. */
	const struct col_fanout_job *job;
	size_t prepared, taken;
	unsigned char *finished; /* per slot: its item's work returned */
	bool waiting;            /* the caller sleeps on `done`, for item `awaited` */
	size_t awaited;
};

static void *worker_main(void *arg)
{
	struct col_fanout *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && !(p->job && p->taken < p->prepared))
			pthread_cond_wait(&p->more, &p->lock);
		if (p->stop)
			break;
		const struct col_fanout_job *job = p->job;
		size_t a = p->taken;
		size_t b = p->prepared - a > CHUNK ? a + CHUNK : p->prepared;
		p->taken = b;
		pthread_mutex_unlock(&p->lock);
		for (size_t i = a; i < b; i++)
			job->work(i, job->arg);
		pthread_mutex_lock(&p->lock);
		for (size_t i = a; i < b; i++)
			p->finished[i % p->window] = 1;
		/* Only the item the caller waits for wakes it: the others
		 * are collected with it. */
		if (p->waiting && p->awaited >= a && p->awaited < b)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct col_fanout *col_fanout_new(unsigned threads)
{
	struct col_fanout *p = vm_xcalloc(1, sizeof *p);
	p->want = threads > COL_FANOUT_MAX_THREADS ? COL_FANOUT_MAX_THREADS : threads;
	if (p->want < 2)
		p->want = 0;
	p->window = p->want ? (size_t)p->want * SLOTS_PER_THREAD : 1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	pthread_cond_init(&p->done, NULL);
	return p;
}

/* The threads start with the first run that has items, not with the pool:
 * a collector whose driver gives every group in bulk never needs them. */
static void start(struct col_fanout *p)
{
	p->started = true;
	if (!p->want)
		return;
	p->thread = vm_xcalloc(p->want, sizeof *p->thread);
	p->finished = vm_xcalloc(p->window, 1);
	for (unsigned i = 0; i < p->want; i++) {
		int rc = pthread_create(&p->thread[p->n], NULL, worker_main, p);
		if (rc != 0) {
			vm_warn("cannot start libvirt worker thread %u of %u: %s", i + 1, p->want, strerror(rc));
			break;
		}
		p->n++;
	}
}

void col_fanout_free(struct col_fanout *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->thread[i], NULL);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->lock);
	free(p->finished);
	free(p->thread);
	free(p);
}

size_t col_fanout_window(const struct col_fanout *p)
{
	return p->window;
}

void col_fanout_run(struct col_fanout *p, size_t n, const struct col_fanout_job *job)
{
	if (n && !p->started)
		start(p);
	if (p->n == 0) {
		/* No workers (none asked for, or none would start): the plain
		 * loop, one slot. */
		for (size_t i = 0; i < n; i++) {
			if (job->prepare)
				job->prepare(i, job->arg);
			job->work(i, job->arg);
			if (job->consume)
				job->consume(i, job->arg);
		}
		return;
	}
	size_t next = 0, consumed = 0;
	pthread_mutex_lock(&p->lock);
	p->job = job;
	p->prepared = p->taken = 0;
	memset(p->finished, 0, p->window);
	pthread_mutex_unlock(&p->lock);
	while (consumed < n) {
		/* Every free slot gets its item, outside the lock: the
		 * workers go on with those prepared before. */
		size_t upto = consumed + p->window < n ? consumed + p->window : n;
		size_t first = next;
		for (; next < upto; next++)
			if (job->prepare)
				job->prepare(next, job->arg);
		pthread_mutex_lock(&p->lock);
		if (next > first) {
			p->prepared = next;
			pthread_cond_broadcast(&p->more);
		}
		p->waiting = true;
		p->awaited = consumed;
		while (!p->finished[consumed % p->window])
			pthread_cond_wait(&p->done, &p->lock);
		p->waiting = false;
		size_t ready = consumed;
		while (ready < next && p->finished[ready % p->window])
			p->finished[ready++ % p->window] = 0;
		pthread_mutex_unlock(&p->lock);
		for (; consumed < ready; consumed++)
			if (job->consume)
				job->consume(consumed, job->arg);
	}
	pthread_mutex_lock(&p->lock);
	p->job = NULL;
	pthread_mutex_unlock(&p->lock);
}
