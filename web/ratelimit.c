/* Login rate limiting (ratelimit.h).  A plain array searched linearly:
 * it is consulted once per login attempt, not per request, and bounded. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "xalloc.h"

struct entry {
	char key[WEB_RATELIMIT_KEY_MAX];
	unsigned failures;
	int64_t last_fail;
	int64_t locked_until;
};

struct web_ratelimit {
	struct entry *e;
	size_t n, cap;
	unsigned free_failures;
	int64_t base_s, max_s;
};

struct web_ratelimit *web_ratelimit_new(size_t capacity, unsigned free_failures, int64_t base_s, int64_t max_s)
{
	if (capacity < 1 || capacity > 1000000 || free_failures < 1 || base_s < 1 || max_s < base_s)
		return NULL;
	struct web_ratelimit *rl = vm_xcalloc(1, sizeof *rl);
	rl->e = vm_xcalloc(capacity, sizeof *rl->e);
	rl->cap = capacity;
	rl->free_failures = free_failures;
	rl->base_s = base_s;
	rl->max_s = max_s;
	return rl;
}

void web_ratelimit_free(struct web_ratelimit *rl)
{
	if (!rl)
		return;
	free(rl->e);
	free(rl);
}

static void keycpy(char *dst, const char *key)
{
	size_t n = strlen(key);
	if (n >= WEB_RATELIMIT_KEY_MAX)
		n = WEB_RATELIMIT_KEY_MAX - 1;
	memcpy(dst, key, n);
	dst[n] = '\0';
}

static struct entry *find(const struct web_ratelimit *rl, const char *key)
{
	char k[WEB_RATELIMIT_KEY_MAX];
	keycpy(k, key);
	for (size_t i = 0; i < rl->n; i++)
		if (strcmp(rl->e[i].key, k) == 0)
			return &rl->e[i];
	return NULL;
}

static void drop(struct web_ratelimit *rl, struct entry *x)
{
	*x = rl->e[--rl->n];
}

/* Forgets entries that have served their time. */
static void expire(struct web_ratelimit *rl, int64_t now)
{
	for (size_t i = 0; i < rl->n;) {
		struct entry *x = &rl->e[i];
		if (x->locked_until <= now && now - x->last_fail >= rl->max_s)
			drop(rl, x);
		else
			i++;
	}
}

int64_t web_ratelimit_locked(const struct web_ratelimit *rl, const char *key, int64_t now)
{
	const struct entry *x = find(rl, key);
	return x && x->locked_until > now ? x->locked_until - now : 0;
}

int64_t web_ratelimit_fail(struct web_ratelimit *rl, const char *key, int64_t now)
{
	struct entry *x = find(rl, key);
	if (!x) {
		expire(rl, now);
		if (rl->n == rl->cap) {
			struct entry *old = &rl->e[0];
			for (size_t i = 1; i < rl->n; i++)
				if (rl->e[i].last_fail < old->last_fail)
					old = &rl->e[i];
			drop(rl, old);
		}
		x = &rl->e[rl->n++];
		memset(x, 0, sizeof *x);
		keycpy(x->key, key);
	}
	x->failures++;
	x->last_fail = now;
	if (x->failures >= rl->free_failures) {
		unsigned over = x->failures - rl->free_failures;
		int64_t lock = rl->base_s;
		while (over-- > 0 && lock < rl->max_s)
			lock *= 2;
		if (lock > rl->max_s)
			lock = rl->max_s;
		x->locked_until = now + lock;
		return lock;
	}
	return 0;
}

void web_ratelimit_ok(struct web_ratelimit *rl, const char *key)
{
	struct entry *x = find(rl, key);
	if (x)
		drop(rl, x);
}

size_t web_ratelimit_size(const struct web_ratelimit *rl)
{
	return rl->n;
}
