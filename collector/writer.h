/* Delivery of usage rows, inventory and events to PostgreSQL on a thread of
 * its own, so that a slow or absent database never delays sampling.
 *
 * Items are delivered in the order they were pushed.  While the database
 * is away they wait in memory up to a bound (database.queue-rows); what
 * does not fit is counted as lost and logged, never dropped silently.
 * Reconnection uses exponential back-off with one log line per outage. */
#ifndef COL_WRITER_H
#define COL_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "domxml.h"
#include "usage.h"

struct col_writer;

struct col_writer_stats {
	uint64_t delivered;  /* usage rows newly stored */
	uint64_t duplicates; /* usage rows the database already had */
	uint64_t lost;       /* usage rows that did not fit in the queue */
	uint64_t queued;     /* items waiting now */
	uint64_t failures;   /* failed delivery attempts */
};

/* Starts the thread.  Strings are copied. */
struct col_writer *col_writer_new(const char *conninfo, const char *hostname, size_t batch_rows, size_t queue_rows,
                                  int reconnect_max_s);
/* Waits up to timeout_ms for the queue to empty, stops the thread and
 * frees everything.  Logs what could not be delivered. */
void col_writer_free(struct col_writer *w, int timeout_ms);
void col_writer_set_conninfo(struct col_writer *w, const char *conninfo);

/* uuid NULL: a host row.  The row is copied. */
void col_writer_push_usage(struct col_writer *w, const char *uuid, const struct vm_usage_row *row);
/* Takes ownership of inv (allocated with vm_xmalloc). */
void col_writer_push_inventory(struct col_writer *w, struct vm_inventory *inv, int64_t at_ns);
void col_writer_push_event(struct col_writer *w, const char *uuid, int64_t at_ns, const char *event,
                           const char *detail);
void col_writer_push_host(struct col_writer *w, const struct vm_host_info *host, int64_t at_ns);

struct col_writer_stats col_writer_stats(struct col_writer *w);

#endif
