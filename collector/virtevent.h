/* libvirt's event loop on the collector's libevent loop.
 *
 * libvirt needs an event implementation for domain events and keep-alives.
 * With its default one (virEventRegisterDefaultImpl and a thread running
 * virEventRunDefaultImpl) every RPC costs two wake-ups of that thread: the
 * client takes its socket out of the loop while the calling thread reads the
 * reply itself, then puts it back, and each change writes the loop's eventfd
 * and switches threads twice.  Sampling 1000 domains with per-domain calls,
 * that was a quarter of the collector's CPU.  Here the sockets and timers
 * libvirt watches are events of the collector's own libevent base, on the
 * thread that makes the calls: a change is an entry in libevent's change
 * list, not a system call, and domain events and keep-alives are dispatched
 * on the main loop between samples.
 *
 * Thread-safety: libvirt may call the implementation from any thread; the
 * callbacks run on the thread that dispatches the base. */
#ifndef COL_VIRTEVENT_H
#define COL_VIRTEVENT_H

#include <event2/event.h>

/* Registers the implementation on `base`, which must outlive every libvirt
 * connection of the process.  Call it once, before the first connection
 * (libvirt keeps the first implementation it is given; a connection opened
 * before has no event support).  Returns 0, or -1 if an implementation was
 * registered on another base already. */
int col_virtevent_register(struct event_base *base);

/* Frees what libvirt removed and, with their free callbacks, what it left
 * registered; after the last connection is closed and the loop has
 * stopped, before the base is freed.  libvirt keeps calling the
 * implementation afterwards: nothing may use libvirt after this. */
void col_virtevent_shutdown(void);

/* Watches and timers libvirt has registered and not yet removed (tests). */
void col_virtevent_counts(size_t *handles, size_t *timers);

#endif
