/* The HTTP client of webhook actions: plain http:// on a blocking worker
 * thread, every wait bounded by a deadline and by a cancel descriptor.
 * Enough HTTP/1.1 to POST a body and read the status line; no https, no
 * redirects, no keep-alive. */
#ifndef AGG_WEBHOOK_H
#define AGG_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "action.h"

/* An http:// URL split: host (an IPv6 address without its brackets),
 * port (80 if absent) and path ("/" if absent; the query kept). */
struct agg_url {
	char host[256];
	char port[8];
	char path[1024];
};

/* Parses `url`: 0, or -1 with why in `err` ("scheme is not http",
 * "no host", "bad port \"x\"", "too long", "control character"). */
int agg_url_parse(const char *url, struct agg_url *u, char *err, size_t errsize);

/* The pause before retry `retry` (1: the first): first_ns doubled
 * retry-1 times, capped at AGG_ACTION_BACKOFF_MAX_NS. */
int64_t agg_webhook_backoff(int64_t first_ns, unsigned retry);

/* POSTs `body` (application/json) to `url` (already checked) with
 * retries: at most `max_attempts`, the first retry after `backoff_ns`,
 * doubled each time and capped at AGG_ACTION_BACKOFF_MAX_NS, each attempt
 * within `timeout_ns` (name resolution aside).  Retried: connection
 * errors, timeouts, 5xx, 429.  Fills res: outcome, attempts, http_status,
 * message.  Returns early with AGG_OUT_CANCELLED when `cancel_fd` becomes
 * readable. */
void agg_webhook_post(const char *url, const char *body, unsigned max_attempts, int64_t backoff_ns, int64_t timeout_ns,
                      int cancel_fd, struct agg_action_result *res);

#endif
