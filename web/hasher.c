/* Password verification on a worker thread of its own (hasher.h): a
 * web_worker of one thread, so logins neither wait behind RRD fetches and
 * invoice exports nor take more than one core's worth of Argon2id. */
#include "config.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hasher.h"
#include "secret.h"
#include "worker.h"
#include "xalloc.h"

struct web_hasher {
	struct web_worker *w;
	bool closing; /* in web_hasher_free: every answer is -1 */
};

struct job {
	struct web_hasher *h;
	char *stored, *password;
	size_t pwlen;
	int result;
	web_hasher_cb cb;
	void *arg;
};

static void verify(struct web_worker_thread *t, void *arg)
{
	(void)t;
	struct job *j = arg;
	j->result = web_password_verify(j->stored, j->password) ? 1 : 0;
}

static void job_free(struct job *j)
{
	sodium_memzero(j->password, j->pwlen);
	free(j->password);
	free(j->stored);
	free(j);
}

static void answered(int cancelled, void *arg)
{
	struct job *j = arg;
	j->cb(cancelled || j->h->closing ? -1 : j->result, j->arg);
	job_free(j);
}

struct web_hasher *web_hasher_new(struct event_base *base, size_t max_queued, char *err, size_t errsize)
{
	struct web_hasher *h = vm_xcalloc(1, sizeof *h);
	h->w = web_worker_new(base, 1, max_queued ? max_queued : 64, NULL, err, errsize);
	if (!h->w) {
		free(h);
		return NULL;
	}
	return h;
}

void web_hasher_free(struct web_hasher *h)
{
	if (!h)
		return;
	h->closing = true;
	web_worker_free(h->w);
	free(h);
}

int web_hasher_verify(struct web_hasher *h, const char *stored, const char *password, web_hasher_cb cb, void *arg)
{
	struct job *j = vm_xcalloc(1, sizeof *j);
	j->h = h;
	j->stored = vm_xstrdup(stored);
	j->password = vm_xstrdup(password);
	j->pwlen = strlen(password);
	j->cb = cb;
	j->arg = arg;
	if (web_worker_submit(h->w, verify, answered, j) < 0) {
		job_free(j);
		return -1;
	}
	return 0;
}
