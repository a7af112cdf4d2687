/* Blocking work off the event loop: librrd's fetches (which read files and
 * talk to rrdcached) and invoice exports (billing's blocking reader and
 * PDF renderer, lib/invoice_db.h, lib/invoice.h) run on a few threads of
 * their own and hand their answer back to the loop (web/hasher, the
 * password checks, is one of these with a thread of its own).
 *
 * A job is two functions: run(t, arg) on a worker thread, then
 * done(cancelled, arg) on the loop, exactly once (cancelled when the
 * workers were freed before the job ran).  A job that needs the database
 * on its thread takes that thread's own blocking connection
 * (web_worker_pg()), made at its first need and kept.  The queue is
 * capped; a full queue refuses at once.  libevent must use pthreads
 * (evthread_use_pthreads()) before base is made. */
#ifndef VM_WEB_WORKER_H
#define VM_WEB_WORKER_H

#include <event2/event.h>
#include <stddef.h>

#include "pg.h"

struct web_worker;
struct web_worker_thread;

typedef void (*web_work_fn)(struct web_worker_thread *t, void *arg);
typedef void (*web_work_done_cb)(int cancelled, void *arg);

/* threads (1..16) threads on base (borrowed), at most max_queued jobs
 * waiting; conninfo (copied; NULL: jobs get no database) for
 * web_worker_pg().  NULL with err if a thread cannot start. */
struct web_worker *web_worker_new(struct event_base *base, unsigned threads, size_t max_queued, const char *conninfo,
                                  char *err, size_t errsize);
/* Waits for the jobs running, stops the threads; jobs not run get
 * done(1, arg) before it returns. */
void web_worker_free(struct web_worker *w);

/* Queues a job; 0, or -1 without calling anything when the queue is
 * full. */
int web_worker_submit(struct web_worker *w, web_work_fn run, web_work_done_cb done, void *arg);

/* In run(): the thread's database connection, connected (again) if it
 * is not; NULL with the reason in err if it cannot be, or without
 * conninfo.  Borrowed: the thread keeps it. */
struct vm_pg *web_worker_pg(struct web_worker_thread *t, char *err, size_t errsize);

/* Jobs waiting or running now. */
size_t web_worker_queued(const struct web_worker *w);

#endif
