/* LISTEN on a PostgreSQL channel from a libevent loop, on a connection of
 * its own, without blocking the loop (libpq's non-blocking connect, then
 * PQconsumeInput()/PQnotifies() on readiness).
 *
 * The callback says when notifications can be trusted: WEB_PGLISTEN_UP
 * once the LISTEN is in place (anything sent before may have been
 * missed), WEB_PGLISTEN_NOTIFY for notifications read (one call for those
 * read at once), WEB_PGLISTEN_DOWN when the connection was lost (from then
 * on notifications are missed until the next UP).  A lost connection is
 * made again with back-off (100 ms doubling to 5 s); outages are logged
 * once, and once more on recovery.  One loop, one thread. */
#ifndef VM_WEB_PGLISTEN_H
#define VM_WEB_PGLISTEN_H

#include <event2/event.h>
#include <stddef.h>

struct web_pglisten;

enum web_pglisten_event { WEB_PGLISTEN_UP, WEB_PGLISTEN_NOTIFY, WEB_PGLISTEN_DOWN };

typedef void (*web_pglisten_cb)(enum web_pglisten_event ev, void *arg);

/* Listens on channel (an SQL identifier: lower-case letters, digits and
 * '_') over conninfo (copied) on base (borrowed: it outlives this).
 * Connecting starts at once, in the background.  NULL with a message in
 * err if the channel is not such a name or conninfo cannot be parsed. */
struct web_pglisten *web_pglisten_new(struct event_base *base, const char *conninfo, const char *channel,
                                      web_pglisten_cb cb, void *arg, char *err, size_t errsize);
/* Closes the connection; no callback from then on. */
void web_pglisten_free(struct web_pglisten *l);
/* 1 while listening (between UP and DOWN), else 0. */
int web_pglisten_up(const struct web_pglisten *l);

#endif
