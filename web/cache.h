/* web/cache: answers kept for a short time by key, and one query for
 * many requests.
 *
 * A request whose answer is already kept and younger than ttl_ms is
 * answered from it (HIT).  While one request fetches an answer (MISS:
 * the caller fetches it and calls web_cache_done() with the fetch it
 * got), the others with the same key wait for it (WAIT) instead of
 * sending the same query again, and get the same status and body; if
 * an answer too old but younger than twice ttl_ms is kept, they get it
 * instead of waiting (so an answer is at most twice ttl_ms plus one
 * fetch old, and the requests that come while it is fetched again do not
 * wait for the database); an older one is forgotten and they wait.  An
 * answer is kept when the fetcher says so; every answer, kept or not,
 * goes to the waiters.  web_cache_clear() forgets every answer, and
 * fetches under way then are neither kept nor waited for by requests
 * that come after it (they may have read what the clear is about).
 *
 * The key must hold everything the answer depends on: the caller puts
 * the route, the object and the tenant scope of the principal in it, so
 * that a key never serves another tenant's answer.  At most max_bytes
 * of answers and keys are kept; past that, the oldest go.  Times are the caller's
 * (monotonic ms).  One loop's, but for web_cache_peek(), web_cache_hold(),
 * web_cache_unhold() and web_cache_file(), which any thread may call at
 * any time. */
#ifndef VM_WEB_CACHE_H
#define VM_WEB_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct web_cache;
struct web_cache_fetch;

/* Called once for a waiting request with the answer its key got: status
 * and body (len bytes, borrowed for the call). */
typedef void (*web_cache_waiter_cb)(int status, const char *body, size_t len, void *arg);

enum web_cache_result { WEB_CACHE_HIT, WEB_CACHE_MISS, WEB_CACHE_WAIT };

/* NULL if max_bytes is 0 or ttl_ms not positive. */
struct web_cache *web_cache_new(size_t max_bytes, int ttl_ms);
/* Waiters still queued are called with status 503 first. */
void web_cache_free(struct web_cache *c);

/* HIT: *body and *len are the kept answer (borrowed until the next call
 * on c).  WAIT: another request is fetching it; cb(.., arg) will be
 * called from its web_cache_done().  MISS: the caller fetches the answer
 * and must call web_cache_done() with *fetch once, whatever comes; *body
 * is then the previous answer, too old but younger than twice ttl_ms
 * (borrowed likewise), or NULL. */
enum web_cache_result web_cache_get(struct web_cache *c, const char *key, int64_t now_ms, const char **body,
                                    size_t *len, web_cache_waiter_cb cb, void *arg, struct web_cache_fetch **fetch);
/* What web_cache_get() would give as a HIT, held for the caller (who lets
 * go of it with web_cache_unhold(body, *len, *held)), or NULL; changes
 * nothing, and any thread may call it: an I/O thread answers a kept
 * answer without the cache's loop. */
const char *web_cache_peek(struct web_cache *c, const char *key, int64_t now_ms, size_t *len, void **held);
/* Gives up a MISS's fetch before it began: the answer too old that came
 * with it (if any) stays as it was, to be served and fetched again by a
 * later request. */
void web_cache_abandon(struct web_cache *c, struct web_cache_fetch *fetch);
/* The answer of this fetch is to be kept for ttl_ms where that is longer
 * than the cache's ttl_ms: an answer whose data change more slowly (a
 * graph's points, one a step).  Served too old up to twice that, as
 * any. */
void web_cache_fetch_ttl(struct web_cache_fetch *fetch, int ttl_ms);
/* The answer of a MISS's fetch (which ends here): kept if keep (and no
 * clear came since the fetch began), and given to its waiters (called
 * before it returns). */
void web_cache_done(struct web_cache *c, struct web_cache_fetch *fetch, int status, const char *body, size_t len,
                    bool keep, int64_t now_ms);
/* Keeps a body web_cache_get() gave (HIT, or the old one of a MISS)
 * alive past the next call on c, until web_cache_unhold(body, len, the
 * result): for a reply that sends it without copying it
 * (web_reply_shared()'s release has that shape). */
void *web_cache_hold(const char *body);
void web_cache_unhold(const void *body, size_t len, void *held);
/* The file that holds a kept body (web_cache_get()'s, while it is held or
 * before the next call on c), at *offset, or -1 when it is in memory
 * only.  A body of WEB_CACHE_FILE_MIN bytes or more is kept in a memfd of
 * its own, mapped, and never written again once kept: a reply can give it
 * to sendfile() and skip the copy into the socket (bench/README.md,
 * "vmeter-web against nginx"); should the memfd fail (no descriptor
 * left), it is kept in memory. */
#define WEB_CACHE_FILE_MIN (16 * 1024)
int web_cache_file(const char *body, off_t *offset);
/* At most n kept bodies of the process in files at once (each is a
 * descriptor: the rest must stay for connections); 0 until set. */
void web_cache_set_files(unsigned n);
/* Forgets every kept answer; fetches under way are kept by nobody. */
void web_cache_clear(struct web_cache *c);
/* Answers kept now, their bytes (with their keys), and requests waiting
 * now (for tests and /metrics). */
size_t web_cache_size(const struct web_cache *c);
size_t web_cache_bytes(const struct web_cache *c);
size_t web_cache_waiting(const struct web_cache *c);

#endif
