/* Login rate limiting: failures counted per key (a user name, a client
 * address) in memory, and an exponentially growing lock.
 *
 * After `free_failures` failures in a row a key is locked for base_s
 * seconds, doubling with each further failure up to max_s; a success
 * clears it.  An entry is forgotten once its lock has ended and it has
 * not failed for max_s seconds.  The table holds at most `capacity`
 * keys: when full, the entry that failed longest ago makes room (so a
 * flood of new names can push an old entry out; the per-address table
 * still holds the flooder).  Memory only: a restart forgets every lock
 * (docs/WEB.md).  Time is passed in, in a unit of the caller's (vmeter-web:
 * monotonic milliseconds; the tests: seconds), so that tests can set it. */
#ifndef VM_WEB_RATELIMIT_H
#define VM_WEB_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define WEB_RATELIMIT_KEY_MAX 128 /* longer keys are cut: enough for names and addresses */

struct web_ratelimit;

/* A table; NULL if an argument is out of range (capacity 1..1000000,
 * free_failures >= 1, 1 <= base_s <= max_s). */
struct web_ratelimit *web_ratelimit_new(size_t capacity, unsigned free_failures, int64_t base_s, int64_t max_s);
void web_ratelimit_free(struct web_ratelimit *rl);

/* How long key is still locked at now (0: it may try). */
int64_t web_ratelimit_locked(const struct web_ratelimit *rl, const char *key, int64_t now);
/* Records a failure at now; returns how long it is now locked for. */
int64_t web_ratelimit_fail(struct web_ratelimit *rl, const char *key, int64_t now);
/* Records a success: key's failures are forgotten. */
void web_ratelimit_ok(struct web_ratelimit *rl, const char *key);
/* Keys held now (for /metrics and tests). */
size_t web_ratelimit_size(const struct web_ratelimit *rl);

#endif
