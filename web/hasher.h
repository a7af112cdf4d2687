/* Password verification off the event loop: Argon2id takes ~0.1 s and 64
 * MiB by design, which would stall every other request if it ran on the
 * loop.  One worker thread takes jobs in order; the answer comes back on
 * the loop (libevent must have been told to use pthreads:
 * evthread_use_pthreads() before the base was made; a job pending is no
 * event of the loop's: it must run for others, or with
 * EVLOOP_NO_EXIT_ON_EMPTY).  One thread also
 * bounds the memory and CPU a flood of logins can take; the queue is
 * capped and a full queue refuses at once. */
#ifndef VM_WEB_HASHER_H
#define VM_WEB_HASHER_H

#include <event2/event.h>
#include <stddef.h>

struct web_hasher;

/* result: 1 the password matches, 0 it does not, -1 cancelled (the
 * hasher was freed first).  Called on the loop, once per job. */
typedef void (*web_hasher_cb)(int result, void *arg);

/* A hasher on base (borrowed); NULL with err if the thread cannot start. */
struct web_hasher *web_hasher_new(struct event_base *base, size_t max_queued, char *err, size_t errsize);
/* Stops the thread; jobs not answered yet get -1, before it returns. */
void web_hasher_free(struct web_hasher *h);

/* Queues a check of password against stored (both copied; the copy of
 * the password is wiped after use).  0, or -1 without calling cb when
 * max_queued jobs are waiting. */
int web_hasher_verify(struct web_hasher *h, const char *stored, const char *password, web_hasher_cb cb, void *arg);

#endif
