/* A small pool of worker threads that runs a list of blocking jobs
 * concurrently and hands their results back in list order.
 *
 * The collector's per-domain libvirt calls are round trips in series: a
 * pass over 10,000 test-driver domains made ~45,000 of them, one after the
 * other (bench/README.md).  libvirt's client is thread-safe and multiplexes
 * concurrent calls on one connection, so the calls of several domains can
 * be in flight at once, while what consumes the results (the sampler, its
 * minutes, RRD and spool) stays on the calling thread, in the same order as
 * without a pool.
 *
 * A run over items 0..n-1: the calling thread calls prepare(i) for an item
 * before any worker sees it, a worker calls work(i), then the calling
 * thread calls consume(i), in increasing i.  At most `window` items are
 * between prepare and consume at a time: item i may use slot i % window of
 * the caller's memory.  prepare and consume of different items interleave
 * with other items' work; work(i) runs after prepare(i) returned and
 * before consume(i) is called (the pool's lock orders the memory).
 *
 * Not thread-safe itself: one thread owns a pool and runs it. */
#ifndef COL_FANOUT_H
#define COL_FANOUT_H

#include <stddef.h>

/* The most threads a pool takes (and the bound of the configuration's
 * libvirt-threads). */
#define COL_FANOUT_MAX_THREADS 16

typedef void (*col_fanout_item_cb)(size_t i, void *arg);

struct col_fanout_job {
	col_fanout_item_cb prepare; /* calling thread; may be NULL */
	col_fanout_item_cb work;    /* a worker (the calling thread without workers) */
	col_fanout_item_cb consume; /* calling thread, in order; may be NULL */
	void *arg;
};

struct col_fanout;

/* `threads` workers (at most COL_FANOUT_MAX_THREADS); 0 or 1: none, a run
 * calls prepare, work and consume of each item in turn on the calling
 * thread, as a plain loop would.  The threads start at the first run that
 * needs them.  Free with col_fanout_free(), which joins them. */
struct col_fanout *col_fanout_new(unsigned threads);
void col_fanout_free(struct col_fanout *p);

/* The number of items a run keeps between prepare and consume at most: the
 * caller's slots (1 without workers). */
size_t col_fanout_window(const struct col_fanout *p);

/* Runs items 0..n-1 as described above and returns when every item was
 * consumed.  `job` is borrowed for the run. */
void col_fanout_run(struct col_fanout *p, size_t n, const struct col_fanout_job *job);

#endif
