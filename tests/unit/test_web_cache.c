/* web/cache: kept answers by key and age, one fetch for many requests,
 * stale answers while one is fetched again, clear, the byte cap. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "cache.h"

struct got {
	int calls, status;
	char body[128];
};

static void waiter(int status, const char *body, size_t len, void *arg)
{
	struct got *g = arg;
	g->calls++;
	g->status = status;
	snprintf(g->body, sizeof g->body, "%.*s", (int)len, body);
}

/* get() for a key, the body of a HIT in *out */
static enum web_cache_result get(struct web_cache *c, const char *key, int64_t now, const char **out, struct got *g,
                                 struct web_cache_fetch **f)
{
	size_t len = 0;
	*out = NULL;
	return web_cache_get(c, key, now, out, &len, waiter, g, f);
}

/* keeps body under key (a MISS, then its fetch done) and returns the kept
 * body */
static const char *keep(struct web_cache *c, const char *key, const char *body, size_t len, int64_t now)
{
	const char *b;
	struct got g = {0};
	struct web_cache_fetch *f = NULL;
	assert_int_equal(get(c, key, now, &b, &g, &f), WEB_CACHE_MISS);
	web_cache_done(c, f, 200, body, len, true, now);
	assert_int_equal(get(c, key, now, &b, &g, &f), WEB_CACHE_HIT);
	return b;
}

/* Bodies of WEB_CACHE_FILE_MIN or more are kept in a file of their own,
 * within the budget of descriptors; the file holds the same bytes at the
 * offset it gives, for as long as the body is held. */
static void big_bodies_in_files(void **state)
{
	(void)state;
	size_t n = WEB_CACHE_FILE_MIN;
	char *big = malloc(n);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	struct web_cache *c = web_cache_new(1 << 20, 1000);
	off_t off = -1;
	web_cache_set_files(0); /* no budget: in memory */
	assert_int_equal(web_cache_file(keep(c, "none", big, n, 0), &off), -1);
	web_cache_set_files(1);
	assert_int_equal(web_cache_file(keep(c, "small", big, n - 1, 0), &off), -1);
	const char *b = keep(c, "big", big, n, 0);
	assert_memory_equal(b, big, n);
	int fd = web_cache_file(b, &off);
	assert_true(fd >= 0);
	char *read_back = malloc(n);
	assert_non_null(read_back);
	assert_int_equal(pread(fd, read_back, n, off), (ssize_t)n);
	assert_memory_equal(read_back, big, n);
	/* the budget is spent: the next big one is kept in memory */
	assert_int_equal(web_cache_file(keep(c, "big2", big, n, 0), &off), -1);
	/* held past a clear, the file stays good; then it goes, and the
	 * budget is free again */
	void *held = web_cache_hold(b);
	web_cache_clear(c);
	memset(read_back, 0, n);
	assert_int_equal(pread(fd, read_back, n, off), (ssize_t)n);
	assert_memory_equal(read_back, big, n);
	web_cache_unhold(b, n, held);
	assert_true(fcntl(fd, F_GETFD) < 0); /* closed */
	assert_true(web_cache_file(keep(c, "big3", big, n, 0), &off) >= 0);
	web_cache_set_files(0);
	web_cache_free(c);
	free(read_back);
	free(big);
}

static void bad_arguments(void **state)
{
	(void)state;
	assert_null(web_cache_new(0, 1000));
	assert_null(web_cache_new(1024, 0));
	assert_null(web_cache_new(1024, -1));
}

static void kept_for_ttl(void **state)
{
	(void)state;
	struct web_cache *c = web_cache_new(1 << 20, 1000);
	const char *b;
	struct got g = {0};
	struct web_cache_fetch *f = NULL;
	assert_int_equal(get(c, "*|/api/v1/vms", 0, &b, &g, &f), WEB_CACHE_MISS);
	assert_non_null(f);
	web_cache_done(c, f, 200, "[1]", 3, true, 10);
	assert_int_equal(web_cache_size(c), 1);
	assert_int_equal(get(c, "*|/api/v1/vms", 1009, &b, &g, &f), WEB_CACHE_HIT);
	assert_string_equal(b, "[1]");
	/* another key (another tenant scope) is another answer */
	assert_int_equal(get(c, "4:acme|/api/v1/vms", 20, &b, &g, &f), WEB_CACHE_MISS);
	web_cache_done(c, f, 200, "[2]", 3, true, 20);
	assert_int_equal(get(c, "4:acme|/api/v1/vms", 21, &b, &g, &f), WEB_CACHE_HIT);
	assert_string_equal(b, "[2]");
	assert_int_equal(get(c, "*|/api/v1/vms", 21, &b, &g, &f), WEB_CACHE_HIT);
	assert_string_equal(b, "[1]");
	/* too old: fetched again; meanwhile the others get the old one */
	struct web_cache_fetch *f2 = NULL;
	assert_int_equal(get(c, "*|/api/v1/vms", 1010, &b, &g, &f2), WEB_CACHE_MISS);
	assert_string_equal(b, "[1]"); /* the old one, for whoever wants it */
	assert_int_equal(get(c, "*|/api/v1/vms", 1011, &b, &g, &f), WEB_CACHE_HIT);
	assert_string_equal(b, "[1]");
	web_cache_done(c, f2, 200, "[1,3]", 5, true, 1020);
	assert_int_equal(get(c, "*|/api/v1/vms", 1021, &b, &g, &f), WEB_CACHE_HIT);
	assert_string_equal(b, "[1,3]");
	assert_int_equal(g.calls, 0);
	/* not asked for in twice the ttl: not served, the others wait */
	assert_int_equal(get(c, "*|/api/v1/vms", 3020, &b, &g, &f2), WEB_CACHE_MISS);
	assert_null(b);
	assert_int_equal(get(c, "*|/api/v1/vms", 3021, &b, &g, &f), WEB_CACHE_WAIT);
	web_cache_done(c, f2, 200, "[4]", 3, true, 3030);
	assert_int_equal(g.calls, 1);
	assert_string_equal(g.body, "[4]");
	/* a step back of the clock is not an age: fetched again */
	assert_int_equal(get(c, "*|/api/v1/vms", 3000, &b, &g, &f2), WEB_CACHE_MISS);
	assert_null(b);
	web_cache_done(c, f2, 200, "[5]", 3, true, 3000);
	web_cache_free(c);
}

/* A fetch may keep its answer longer than the cache's ttl (a graph's
 * step), never shorter; the next fetch of the key starts from the
 * cache's again. */
static void a_fetch_sets_its_ttl(void **state)
{
	(void)state;
	struct web_cache *c = web_cache_new(1 << 20, 1000);
	const char *b;
	struct got g = {0};
	struct web_cache_fetch *f = NULL;
	assert_int_equal(get(c, "*|/g", 0, &b, &g, &f), WEB_CACHE_MISS);
	web_cache_fetch_ttl(f, 30000);
	web_cache_done(c, f, 200, "[1]", 3, true, 0);
	assert_int_equal(get(c, "*|/g", 29999, &b, &g, &f), WEB_CACHE_HIT);
	assert_string_equal(b, "[1]");
	/* too old at 30 s; served while fetched again up to 60 s */
	struct web_cache_fetch *f2 = NULL;
	assert_int_equal(get(c, "*|/g", 30000, &b, &g, &f2), WEB_CACHE_MISS);
	assert_string_equal(b, "[1]");
	assert_int_equal(get(c, "*|/g", 59999, &b, &g, &f), WEB_CACHE_HIT);
	assert_string_equal(b, "[1]");
	/* shorter than the cache's: the cache's */
	web_cache_fetch_ttl(f2, 10);
	web_cache_done(c, f2, 200, "[2]", 3, true, 60000);
	assert_int_equal(get(c, "*|/g", 60999, &b, &g, &f), WEB_CACHE_HIT);
	assert_string_equal(b, "[2]");
	assert_int_equal(get(c, "*|/g", 61000, &b, &g, &f2), WEB_CACHE_MISS);
	web_cache_done(c, f2, 200, "[3]", 3, true, 61000); /* no ttl said: the cache's */
	assert_int_equal(get(c, "*|/g", 61999, &b, &g, &f), WEB_CACHE_HIT);
	assert_int_equal(get(c, "*|/g", 62000, &b, &g, &f2), WEB_CACHE_MISS);
	/* an answer older than twice the cache's ttl is not served */
	web_cache_done(c, f2, 200, "[4]", 3, true, 62000);
	assert_int_equal(get(c, "*|/g", 64000, &b, &g, &f2), WEB_CACHE_MISS);
	assert_null(b);
	web_cache_done(c, f2, 503, "x", 1, false, 64000);
	assert_int_equal(g.calls, 0);
	web_cache_free(c);
}

/* A held body outlives its answer (a reply still sending it when the
 * answer is replaced, cleared or the cache freed); ASan checks the
 * rest. */
static void held_bodies(void **state)
{
	(void)state;
	struct web_cache *c = web_cache_new(1 << 20, 1000);
	const char *b;
	struct got g = {0};
	struct web_cache_fetch *f = NULL;
	assert_int_equal(get(c, "*|/a", 0, &b, &g, &f), WEB_CACHE_MISS);
	web_cache_done(c, f, 200, "first", 5, true, 0);
	assert_int_equal(get(c, "*|/a", 1, &b, &g, &f), WEB_CACHE_HIT);
	const char *first = b;
	void *h1 = web_cache_hold(first);
	void *h2 = web_cache_hold(first); /* two replies of one body */
	/* replaced: the old body lives on for the replies */
	assert_int_equal(get(c, "*|/a", 1500, &b, &g, &f), WEB_CACHE_MISS);
	web_cache_done(c, f, 200, "second", 6, true, 1500);
	assert_int_equal(get(c, "*|/a", 1501, &b, &g, &f), WEB_CACHE_HIT);
	assert_string_equal(b, "second");
	assert_string_equal(first, "first");
	web_cache_unhold(first, 5, h1);
	assert_string_equal(first, "first");
	void *h3 = web_cache_hold(b);
	const char *second = b;
	web_cache_clear(c);
	assert_int_equal(web_cache_size(c), 0);
	assert_string_equal(second, "second");
	web_cache_free(c);
	assert_string_equal(first, "first");
	web_cache_unhold(first, 5, h2);
	web_cache_unhold(second, 6, h3);
}

/* An abandoned fetch leaves the old answer as it was (served, and
 * fetched by the next MISS); without one the entry goes, and requests
 * that came to wait get a 503. */
static void abandoned_fetch(void **state)
{
	(void)state;
	struct web_cache *c = web_cache_new(1 << 20, 1000);
	const char *b;
	struct got g = {0};
	struct web_cache_fetch *f = NULL;
	assert_int_equal(get(c, "*|/a", 0, &b, &g, &f), WEB_CACHE_MISS);
	web_cache_done(c, f, 200, "old", 3, true, 0);
	assert_int_equal(get(c, "*|/a", 1200, &b, &g, &f), WEB_CACHE_MISS);
	assert_string_equal(b, "old");
	web_cache_abandon(c, f);
	assert_int_equal(web_cache_size(c), 1);
	/* not being fetched: the next request after the ttl fetches it */
	assert_int_equal(get(c, "*|/a", 1300, &b, &g, &f), WEB_CACHE_MISS);
	assert_string_equal(b, "old");
	web_cache_done(c, f, 200, "new", 3, true, 1300);
	assert_int_equal(get(c, "*|/a", 1301, &b, &g, &f), WEB_CACHE_HIT);
	assert_string_equal(b, "new");
	/* nothing kept: the entry goes, a waiter gets 503 */
	assert_int_equal(get(c, "*|/b", 0, &b, &g, &f), WEB_CACHE_MISS);
	assert_null(b);
	struct web_cache_fetch *f2 = NULL;
	assert_int_equal(get(c, "*|/b", 1, &b, &g, &f2), WEB_CACHE_WAIT);
	web_cache_abandon(c, f);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, 503);
	assert_int_equal(web_cache_size(c), 1);
	assert_int_equal(get(c, "*|/b", 2, &b, &g, &f), WEB_CACHE_MISS);
	web_cache_done(c, f, 200, "b", 1, true, 2);
	web_cache_free(c);
}

static void one_fetch_for_many(void **state)
{
	(void)state;
	struct web_cache *c = web_cache_new(1 << 20, 1000);
	const char *b;
	struct got g0 = {0}, g1 = {0}, g2 = {0};
	struct web_cache_fetch *f = NULL, *none = NULL;
	assert_int_equal(get(c, "k", 0, &b, &g0, &f), WEB_CACHE_MISS);
	assert_null(b); /* none before */
	assert_int_equal(get(c, "k", 1, &b, &g1, &none), WEB_CACHE_WAIT);
	assert_int_equal(get(c, "k", 2, &b, &g2, &none), WEB_CACHE_WAIT);
	assert_null(none);
	assert_int_equal(web_cache_waiting(c), 2);
	/* not to be kept (a 404, a principal about to expire): the waiters
	 * get it all the same */
	web_cache_done(c, f, 404, "{\"error\": \"no such object\"}", 27, false, 3);
	assert_int_equal(g1.calls, 1);
	assert_int_equal(g2.calls, 1);
	assert_int_equal(g1.status, 404);
	assert_string_equal(g2.body, "{\"error\": \"no such object\"}");
	assert_int_equal(g0.calls, 0);
	assert_int_equal(web_cache_waiting(c), 0);
	assert_int_equal(web_cache_size(c), 0);
	assert_int_equal(get(c, "k", 4, &b, &g0, &f), WEB_CACHE_MISS);
	web_cache_done(c, f, 200, "ok", 2, true, 4);
	/* a failed fetch of an old answer forgets it: no stale answer past it */
	assert_int_equal(get(c, "k", 2000, &b, &g0, &f), WEB_CACHE_MISS);
	web_cache_done(c, f, 503, "down", 4, false, 2001);
	assert_int_equal(web_cache_size(c), 0);
	assert_int_equal(get(c, "k", 2002, &b, &g0, &f), WEB_CACHE_MISS);
	web_cache_done(c, f, 503, "down", 4, false, 2003);
	web_cache_free(c);
}

static void clear_forgets_fetches_too(void **state)
{
	(void)state;
	struct web_cache *c = web_cache_new(1 << 20, 60000);
	const char *b;
	struct got g = {0}, w_old = {0}, w_new = {0};
	struct web_cache_fetch *f_old = NULL, *f_new = NULL, *f = NULL;
	assert_int_equal(get(c, "kept", 0, &b, &g, &f), WEB_CACHE_MISS);
	web_cache_done(c, f, 200, "a", 1, true, 0);
	assert_int_equal(get(c, "t:abc", 0, &b, &g, &f_old), WEB_CACHE_MISS);
	assert_int_equal(get(c, "t:abc", 1, &b, &w_old, &f), WEB_CACHE_WAIT);
	web_cache_clear(c); /* a token revoked while its row was being read */
	assert_int_equal(web_cache_size(c), 0);
	assert_int_equal(get(c, "kept", 2, &b, &g, &f), WEB_CACHE_MISS);
	web_cache_done(c, f, 503, "x", 1, false, 2);
	/* a request after the clear does not wait for the read before it */
	assert_int_equal(get(c, "t:abc", 2, &b, &w_new, &f_new), WEB_CACHE_MISS);
	assert_ptr_not_equal(f_new, f_old);
	web_cache_done(c, f_old, 200, "valid", 5, true, 3);
	assert_int_equal(w_old.calls, 1); /* came before the clear: its answer */
	assert_string_equal(w_old.body, "valid");
	assert_int_equal(web_cache_size(c), 0); /* but not kept */
	web_cache_done(c, f_new, 401, "revoked", 7, false, 4);
	assert_int_equal(get(c, "t:abc", 5, &b, &g, &f), WEB_CACHE_MISS);
	web_cache_done(c, f, 401, "revoked", 7, false, 5);
	assert_int_equal(w_new.calls, 0);
	web_cache_free(c);
}

static void byte_cap(void **state)
{
	(void)state;
	char big[1000];
	memset(big, 'x', sizeof big);
	struct web_cache *c = web_cache_new(2500, 60000);
	const char *b;
	struct got g = {0};
	struct web_cache_fetch *f = NULL;
	const char *keys[] = {"a", "b", "c"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(get(c, keys[i], i, &b, &g, &f), WEB_CACHE_MISS);
		web_cache_done(c, f, 200, big, sizeof big, true, i);
		assert_true(web_cache_bytes(c) <= 2500);
	}
	assert_int_equal(web_cache_size(c), 2);
	assert_int_equal(get(c, "a", 3, &b, &g, &f), WEB_CACHE_MISS); /* the oldest went */
	web_cache_done(c, f, 200, "small", 5, true, 3);
	assert_int_equal(get(c, "c", 4, &b, &g, &f), WEB_CACHE_HIT);
	/* one answer over the cap is not kept at all */
	struct web_cache *tiny = web_cache_new(100, 60000);
	assert_int_equal(get(tiny, "a", 0, &b, &g, &f), WEB_CACHE_MISS);
	web_cache_done(tiny, f, 200, big, sizeof big, true, 0);
	assert_int_equal(web_cache_size(tiny), 0);
	assert_int_equal(web_cache_bytes(tiny), 0);
	web_cache_free(tiny);
	web_cache_free(c);
}

static void free_answers_waiters(void **state)
{
	(void)state;
	struct web_cache *c = web_cache_new(1 << 20, 1000);
	const char *b;
	struct got g = {0}, w1 = {0}, w2 = {0};
	struct web_cache_fetch *f = NULL, *f2 = NULL;
	assert_int_equal(get(c, "k", 0, &b, &g, &f), WEB_CACHE_MISS);
	assert_int_equal(get(c, "k", 0, &b, &w1, &f2), WEB_CACHE_WAIT);
	assert_int_equal(get(c, "j", 0, &b, &g, &f2), WEB_CACHE_MISS);
	web_cache_clear(c);
	assert_int_equal(get(c, "j", 0, &b, &w2, &f), WEB_CACHE_MISS);
	web_cache_free(c); /* the detached fetch of "j", "k"'s waiter */
	assert_int_equal(w1.calls, 1);
	assert_int_equal(w1.status, 503);
	assert_int_equal(w2.calls, 0);
}

/* peek gives what get would give as a HIT, held, and changes nothing:
 * no entry for a key not kept, no fetch, no waiter. */
static void peek_is_a_hit_only(void **state)
{
	(void)state;
	struct web_cache *c = web_cache_new(1 << 20, 1000);
	size_t len = 0;
	void *held = NULL;
	assert_null(web_cache_peek(c, "k", 0, &len, &held));
	const char *b;
	struct got g = {0}, w = {0};
	struct web_cache_fetch *f = NULL, *f2 = NULL;
	assert_int_equal(get(c, "k", 0, &b, &g, &f), WEB_CACHE_MISS); /* peek made no fetch */
	assert_null(web_cache_peek(c, "k", 0, &len, &held));          /* being fetched, nothing kept */
	assert_int_equal(get(c, "k", 0, &b, &w, &f2), WEB_CACHE_WAIT);
	web_cache_done(c, f, 200, "one", 3, true, 0);
	assert_int_equal(w.calls, 1);
	const char *p = web_cache_peek(c, "k", 999, &len, &held);
	assert_non_null(p);
	assert_int_equal(len, 3);
	web_cache_clear(c);
	assert_memory_equal(p, "one", 3); /* held past the clear */
	web_cache_unhold(p, len, held);
	keep(c, "k", "two", 3, 0);
	assert_null(web_cache_peek(c, "k", 1000, &len, &held)); /* too old: the handler's loop reads it again */
	assert_int_equal(get(c, "k", 1000, &b, &g, &f), WEB_CACHE_MISS);
	assert_non_null(b);
	p = web_cache_peek(c, "k", 1000, &len, &held); /* too old, being read again: served meanwhile, as get does */
	assert_non_null(p);
	assert_memory_equal(p, "two", 3);
	web_cache_done(c, f, 500, "x", 1, false, 1000);
	assert_memory_equal(p, "two", 3);
	web_cache_unhold(p, len, held);
	assert_null(web_cache_peek(c, "k", 1000, &len, &held)); /* a failed fetch ends the old answer */
	assert_int_equal(web_cache_size(c), 0);
	web_cache_free(c);
}

/* I/O threads peek while the cache's loop keeps, replaces, evicts and
 * clears: every body a peek gives is whole and its key's, and stays so
 * while held (ASan would see a body freed under a reader). */
struct peeker {
	struct web_cache *c;
	atomic_bool *stop;
	long seen, wrong;
};

static void *peek_loop(void *arg)
{
	struct peeker *pk = arg;
	char key[8];
	for (unsigned i = 0; !atomic_load(pk->stop); i++) {
		snprintf(key, sizeof key, "k%u", i % 8);
		size_t len;
		void *held;
		const char *b = web_cache_peek(pk->c, key, 0, &len, &held);
		if (!b)
			continue;
		pk->seen++;
		/* "kN:" then the body's own length in filler */
		if (len < 3 || memcmp(b, key, 2) != 0 || b[2] != ':')
			pk->wrong++;
		for (size_t j = 3; j < len; j++)
			if (b[j] != (char)('a' + len % 26))
				pk->wrong++;
		web_cache_unhold(b, len, held);
	}
	return NULL;
}

static void peek_from_threads(void **state)
{
	(void)state;
	/* room for a few answers only: evictions all the time */
	struct web_cache *c = web_cache_new(64 * 1024, 60000);
	atomic_bool stop = false;
	struct peeker pk[3];
	pthread_t t[3];
	for (int i = 0; i < 3; i++) {
		pk[i] = (struct peeker){c, &stop, 0, 0};
		assert_int_equal(pthread_create(&t[i], NULL, peek_loop, &pk[i]), 0);
	}
	static char body[20000];
	for (unsigned i = 0; i < 20000; i++) {
		char key[8];
		snprintf(key, sizeof key, "k%u", i % 8);
		size_t len = 3 + (i * 7919) % (sizeof body - 3);
		memcpy(body, key, 2);
		body[2] = ':';
		memset(body + 3, 'a' + (int)(len % 26), len - 3);
		const char *b;
		struct got g = {0};
		struct web_cache_fetch *f = NULL;
		/* now 0 always: a kept answer is a HIT, so clear to fetch again */
		if (get(c, key, 0, &b, &g, &f) == WEB_CACHE_HIT) {
			if (i % 3 == 0)
				web_cache_clear(c);
			continue;
		}
		if (f)
			web_cache_done(c, f, 200, body, len, true, 0);
	}
	atomic_store(&stop, true);
	long seen = 0;
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(pk[i].wrong, 0);
		seen += pk[i].seen;
	}
	assert_true(seen > 0);
	web_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bad_arguments),      cmocka_unit_test(big_bodies_in_files),
	    cmocka_unit_test(kept_for_ttl),       cmocka_unit_test(a_fetch_sets_its_ttl),
	    cmocka_unit_test(held_bodies),        cmocka_unit_test(abandoned_fetch),
	    cmocka_unit_test(one_fetch_for_many), cmocka_unit_test(clear_forgets_fetches_too),
	    cmocka_unit_test(byte_cap),           cmocka_unit_test(free_answers_waiters),
	    cmocka_unit_test(peek_is_a_hit_only), cmocka_unit_test(peek_from_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
