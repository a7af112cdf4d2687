/* Password verification on a worker thread (hasher.h). */
#include "config.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hasher.h"
#include "secret.h"
#include "xalloc.h"

struct job {
	struct job *next;
	char *stored, *password;
	size_t pwlen;
	int result;
	web_hasher_cb cb;
	void *arg;
};

struct web_hasher {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *todo, **todo_tail, *done;
	size_t queued, max_queued;
	bool stop;
	struct event *notify;
};

static void job_free(struct job *j)
{
	sodium_memzero(j->password, j->pwlen);
	free(j->password);
	free(j->stored);
	free(j);
}

static void *worker(void *arg)
{
	struct web_hasher *h = arg;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->todo && !h->stop)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->stop)
			break;
		struct job *j = h->todo;
		h->todo = j->next;
		if (!h->todo)
			h->todo_tail = &h->todo;
		pthread_mutex_unlock(&h->mu);
		j->result = web_password_verify(j->stored, j->password) ? 1 : 0;
		pthread_mutex_lock(&h->mu);
		j->next = h->done;
		h->done = j;
		event_active(h->notify, EV_READ, 0);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* On the loop: the answers the worker has ready. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct web_hasher *h = arg;
	pthread_mutex_lock(&h->mu);
	struct job *list = h->done;
	h->done = NULL;
	pthread_mutex_unlock(&h->mu);
	while (list) {
		struct job *j = list;
		list = j->next;
		pthread_mutex_lock(&h->mu);
		h->queued--;
		pthread_mutex_unlock(&h->mu);
		j->cb(j->result, j->arg);
		job_free(j);
	}
}

struct web_hasher *web_hasher_new(struct event_base *base, size_t max_queued, char *err, size_t errsize)
{
	struct web_hasher *h = vm_xcalloc(1, sizeof *h);
	h->todo_tail = &h->todo;
	h->max_queued = max_queued ? max_queued : 64;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->notify = event_new(base, -1, 0, on_done, h);
	int rc = h->notify ? pthread_create(&h->thread, NULL, worker, h) : -1;
	if (rc != 0) {
		snprintf(err, errsize, "cannot start the password thread: %s", rc > 0 ? strerror(rc) : "no event");
		if (h->notify)
			event_free(h->notify);
		free(h);
		return NULL;
	}
	return h;
}

void web_hasher_free(struct web_hasher *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	event_free(h->notify);
	struct job *lists[2] = {h->todo, h->done};
	for (int i = 0; i < 2; i++)
		while (lists[i]) {
			struct job *j = lists[i];
			lists[i] = j->next;
			j->cb(-1, j->arg);
			job_free(j);
		}
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}

int web_hasher_verify(struct web_hasher *h, const char *stored, const char *password, web_hasher_cb cb, void *arg)
{
	pthread_mutex_lock(&h->mu);
	if (h->queued >= h->max_queued) {
		pthread_mutex_unlock(&h->mu);
		return -1;
	}
	h->queued++;
	struct job *j = vm_xcalloc(1, sizeof *j);
	j->stored = vm_xstrdup(stored);
	j->password = vm_xstrdup(password);
	j->pwlen = strlen(password);
	j->cb = cb;
	j->arg = arg;
	*h->todo_tail = j;
	h->todo_tail = &j->next;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	return 0;
}
