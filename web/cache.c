/* Answers kept for a short time, one query for many requests (cache.h). */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <unistd.h>

#include "cache.h"
#include "xalloc.h"

struct waiter {
	web_cache_waiter_cb cb;
	void *arg;
	struct waiter *next;
};

/* A kept body, shared with the replies sending it (web_cache_hold()):
 * those let go of it on the I/O thread that sent it (web/server.h).  A
 * big one is a memfd of its own, mapped: this header, the body, a NUL. */
struct blob {
	atomic_uint refs;
	int fd;      /* the memfd, or -1: malloc'd */
	size_t size; /* of the allocation or mapping */
	char data[];
};

/* Descriptors kept bodies may take, and take now, over every cache of
 * the process. */
static atomic_uint files_max, files_open;

void web_cache_set_files(unsigned n)
{
	atomic_store(&files_max, n);
}

static int file_new(size_t len)
{
	if (len < WEB_CACHE_FILE_MIN)
		return -1;
	if (atomic_fetch_add(&files_open, 1) >= atomic_load(&files_max)) {
		atomic_fetch_sub(&files_open, 1);
		return -1;
	}
	int fd = memfd_create("vmeter-web-answer", MFD_CLOEXEC);
	if (fd < 0)
		atomic_fetch_sub(&files_open, 1);
	return fd;
}

static void file_close(int fd)
{
	close(fd);
	atomic_fetch_sub(&files_open, 1);
}

static struct blob *blob_new(const char *body, size_t len)
{
	size_t size = sizeof(struct blob) + len + 1;
	struct blob *b = NULL;
	int fd = file_new(len);
	if (fd >= 0 && ftruncate(fd, (off_t)size) == 0) {
		void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		b = m == MAP_FAILED ? NULL : m;
	}
	if (!b) { /* small, or no descriptor or mapping left: in memory */
		if (fd >= 0)
			file_close(fd);
		fd = -1;
		b = vm_xmalloc(size);
	}
	atomic_init(&b->refs, 1);
	b->fd = fd;
	b->size = size;
	memcpy(b->data, body, len);
	b->data[len] = '\0';
	return b;
}

static struct blob *blob_of(const char *body)
{
	return (struct blob *)(void *)(body - offsetof(struct blob, data));
}

static void blob_unref(struct blob *b)
{
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (b->fd < 0) {
		free(b);
		return;
	}
	/* pages sendfile() handed to the socket stay the kernel's until sent:
	 * unmapping and closing here cannot change what goes out */
	int fd = b->fd;
	munmap(b, b->size);
	file_close(fd);
}

struct entry {
	char *key;
	uint64_t hash;
	struct entry *next_in_bucket;
	/* the kept answer, when have */
	bool have;
	char *body;
	size_t len;
	int64_t at;
	int ttl_ms;             /* the cache's, or what the fetch said */
	TAILQ_ENTRY(entry) age; /* in c->kept while have, oldest first */
	/* a request fetching it, and those waiting for it */
	bool fetching;
	int next_ttl_ms; /* the fetched answer's */
	bool detached;   /* by a clear: in c->detached, not in the table */
	struct waiter *waiters, **waiters_tail;
};

TAILQ_HEAD(entry_list, entry);

/* mu guards the table against web_cache_peek() on other threads: every
 * change takes it, and so does peek.  The cache's own thread reads without
 * it (nobody else changes anything), and calls waiters without it (a
 * waiter may use the cache). */
struct web_cache {
	pthread_mutex_t mu;
	struct entry **buckets;
	size_t n_buckets; /* a power of two */
	size_t max_bytes, bytes, n_kept, n_waiting;
	int ttl_ms;
	struct entry_list kept;
	struct entry *detached; /* fetches a clear took out of the table */
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 14695981039346656037ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* What an answer counts against max_bytes: its body, key and entry. */
static size_t cost(const struct entry *e)
{
	return e->len + strlen(e->key) + sizeof *e;
}

struct web_cache *web_cache_new(size_t max_bytes, int ttl_ms)
{
	if (max_bytes == 0 || ttl_ms <= 0)
		return NULL;
	struct web_cache *c = vm_xcalloc(1, sizeof *c);
	c->n_buckets = 4096; /* chains stay short up to thousands of answers */
	c->buckets = vm_xcalloc(c->n_buckets, sizeof *c->buckets);
	c->max_bytes = max_bytes;
	c->ttl_ms = ttl_ms;
	TAILQ_INIT(&c->kept);
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static struct entry **slot_of(struct web_cache *c, const char *key, uint64_t h)
{
	struct entry **p = &c->buckets[h & (c->n_buckets - 1)];
	while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
		p = &(*p)->next_in_bucket;
	return p;
}

static void forget_answer(struct web_cache *c, struct entry *e)
{
	if (!e->have)
		return;
	TAILQ_REMOVE(&c->kept, e, age);
	c->n_kept--;
	c->bytes -= cost(e);
	blob_unref(blob_of(e->body));
	e->body = NULL;
	e->have = false;
}

/* Removes e from its bucket (or the detached list) and frees it: neither
 * kept nor fetched. */
static void entry_drop(struct web_cache *c, struct entry *e)
{
	struct entry **p = &c->detached;
	if (e->detached)
		while (*p != e)
			p = &(*p)->next_in_bucket;
	else
		p = slot_of(c, e->key, e->hash);
	*p = e->next_in_bucket;
	forget_answer(c, e);
	free(e->key);
	free(e);
}

/* The waiters of e, taken off it (under mu). */
static struct waiter *take_waiters(struct web_cache *c, struct entry *e)
{
	struct waiter *w = e->waiters;
	e->waiters = NULL;
	e->waiters_tail = &e->waiters;
	for (struct waiter *x = w; x; x = x->next)
		c->n_waiting--;
	return w;
}

/* Calls and frees waiters taken off their entry (not under mu: a
 * callback may use the cache). */
static void call_waiters(struct waiter *w, int status, const char *body, size_t len)
{
	while (w) {
		struct waiter *next = w->next;
		w->cb(status, body, len, w->arg);
		free(w);
		w = next;
	}
}

void web_cache_free(struct web_cache *c)
{
	if (!c)
		return;
	static const char stopping[] = "{\"error\": \"the server is stopping\", \"status\": 503}";
	for (size_t i = 0; i < c->n_buckets; i++) {
		while (c->buckets[i]) {
			struct entry *e = c->buckets[i];
			call_waiters(take_waiters(c, e), 503, stopping, sizeof stopping - 1);
			entry_drop(c, e);
		}
	}
	while (c->detached) {
		call_waiters(take_waiters(c, c->detached), 503, stopping, sizeof stopping - 1);
		entry_drop(c, c->detached);
	}
	pthread_mutex_destroy(&c->mu);
	free(c->buckets);
	free(c);
}

/* A kept answer that is served as it is: younger than its ttl, or too old
 * but being fetched again (served until the fetch ends). */
static bool servable(const struct entry *e, int64_t now_ms)
{
	return e && e->have && ((now_ms - e->at < e->ttl_ms && now_ms >= e->at) || e->fetching);
}

enum web_cache_result web_cache_get(struct web_cache *c, const char *key, int64_t now_ms, const char **body,
                                    size_t *len, web_cache_waiter_cb cb, void *arg, struct web_cache_fetch **fetch)
{
	uint64_t h = fnv1a(key);
	struct entry **p = slot_of(c, key, h);
	struct entry *e = *p;
	if (servable(e, now_ms)) {
		*body = e->body;
		*len = e->len;
		return WEB_CACHE_HIT;
	}
	pthread_mutex_lock(&c->mu);
	enum web_cache_result r = WEB_CACHE_MISS;
	if (e && e->fetching) {
		struct waiter *w = vm_xcalloc(1, sizeof *w);
		w->cb = cb;
		w->arg = arg;
		*e->waiters_tail = w;
		e->waiters_tail = &w->next;
		c->n_waiting++;
		r = WEB_CACHE_WAIT;
		goto out;
	}
	if (!e) {
		e = vm_xcalloc(1, sizeof *e);
		e->key = vm_xstrdup(key);
		e->hash = h;
		e->waiters_tail = &e->waiters;
		*p = e;
	}
	/* an answer too old stays for the others until this fetch ends, but
	 * only within a second ttl: one not asked for in a while (a graph
	 * of "the last 24 hours" an hour later) is not served at all */
	if (e->have && (now_ms < e->at || now_ms - e->at >= 2 * (int64_t)e->ttl_ms))
		forget_answer(c, e);
	e->fetching = true;
	e->next_ttl_ms = c->ttl_ms;
	*fetch = (struct web_cache_fetch *)e;
	*body = e->have ? e->body : NULL;
	*len = e->have ? e->len : 0;
out:
	pthread_mutex_unlock(&c->mu);
	return r;
}

const char *web_cache_peek(struct web_cache *c, const char *key, int64_t now_ms, size_t *len, void **held)
{
	uint64_t h = fnv1a(key);
	const char *body = NULL;
	pthread_mutex_lock(&c->mu);
	struct entry *e = *slot_of(c, key, h);
	if (servable(e, now_ms)) {
		body = e->body;
		*len = e->len;
		*held = web_cache_hold(body);
	}
	pthread_mutex_unlock(&c->mu);
	return body;
}

void web_cache_abandon(struct web_cache *c, struct web_cache_fetch *fetch)
{
	struct entry *e = (struct entry *)fetch;
	pthread_mutex_lock(&c->mu);
	e->fetching = false;
	/* none, if the caller had the old answer; else they get "busy" */
	struct waiter *w = take_waiters(c, e);
	if (!e->have)
		entry_drop(c, e);
	pthread_mutex_unlock(&c->mu);
	static const char busy[] = "{\"error\": \"busy: try again\", \"status\": 503}";
	call_waiters(w, 503, busy, sizeof busy - 1);
}

void web_cache_fetch_ttl(struct web_cache_fetch *fetch, int ttl_ms)
{
	struct entry *e = (struct entry *)fetch;
	if (ttl_ms > e->next_ttl_ms)
		e->next_ttl_ms = ttl_ms;
}

void web_cache_done(struct web_cache *c, struct web_cache_fetch *fetch, int status, const char *body, size_t len,
                    bool keep, int64_t now_ms)
{
	struct entry *e = (struct entry *)fetch;
	/* made outside mu: a 100 KB copy, perhaps into a new memfd */
	struct blob *b = keep && !e->detached ? blob_new(body, len) : NULL;
	pthread_mutex_lock(&c->mu);
	e->fetching = false;
	forget_answer(c, e); /* the old one, if any: not served past a failed fetch */
	if (b) {
		e->body = b->data;
		e->len = len;
		e->at = now_ms;
		e->ttl_ms = e->next_ttl_ms;
		e->have = true;
		TAILQ_INSERT_TAIL(&c->kept, e, age);
		c->n_kept++;
		c->bytes += cost(e);
	}
	/* taken first: the oldest that goes to make room may be e */
	struct waiter *w = take_waiters(c, e);
	if (!e->have && !e->fetching)
		entry_drop(c, e);
	while (c->bytes > c->max_bytes) {
		struct entry *old = TAILQ_FIRST(&c->kept);
		if (old->fetching)
			forget_answer(c, old);
		else
			entry_drop(c, old);
	}
	pthread_mutex_unlock(&c->mu);
	call_waiters(w, status, body, len);
}

void *web_cache_hold(const char *body)
{
	struct blob *b = blob_of(body);
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	return b;
}

int web_cache_file(const char *body, off_t *offset)
{
	*offset = (off_t)offsetof(struct blob, data);
	return blob_of(body)->fd;
}

void web_cache_unhold(const void *body, size_t len, void *held)
{
	(void)body;
	(void)len;
	blob_unref(held);
}

void web_cache_clear(struct web_cache *c)
{
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n_buckets; i++) {
		struct entry *e = c->buckets[i];
		while (e) {
			struct entry *next = e->next_in_bucket;
			if (e->fetching) { /* its fetcher still ends it */
				forget_answer(c, e);
				c->buckets[i] = next;
				e->detached = true;
				e->next_in_bucket = c->detached;
				c->detached = e;
			} else {
				entry_drop(c, e);
			}
			e = next;
		}
	}
	pthread_mutex_unlock(&c->mu);
}

size_t web_cache_size(const struct web_cache *c)
{
	return c->n_kept;
}

size_t web_cache_bytes(const struct web_cache *c)
{
	return c->bytes;
}

size_t web_cache_waiting(const struct web_cache *c)
{
	return c->n_waiting;
}
