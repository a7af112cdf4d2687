#include "config.h"

#include "virtevent.h"

#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "log.h"
#include "xalloc.h"

/* One watch or timer.  Removal only marks it: libvirt may remove a watch
 * from inside its own callback or with its locks held, and the free
 * callback must not run there (libvirt's own loop defers it too), so the
 * reaper frees it on the next pass of the loop. */
struct watch {
	int id;
	bool timer;
	bool removed;
	int fd;         /* handles */
	int vir_events; /* handles: VIR_EVENT_HANDLE_* asked for */
	int ms;         /* timers: period, -1 disabled */
	virEventHandleCallback hcb;
	virEventTimeoutCallback tcb;
	void *opaque;
	virFreeCallback ff;
	struct event *ev;
};

static struct {
	pthread_mutex_t lock;
	struct event_base *base;
	struct event *reaper; /* made active when a watch awaits freeing */
	struct watch **w;
	size_t n, cap;
	int next_id;
} vev = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct watch *find(int id, bool timer)
{
	for (size_t i = 0; i < vev.n; i++)
		if (vev.w[i]->id == id && vev.w[i]->timer == timer && !vev.w[i]->removed)
			return vev.w[i];
	return NULL;
}

static short to_libevent(int vir_events)
{
	short f = 0;
	if (vir_events & VIR_EVENT_HANDLE_READABLE)
		f |= EV_READ;
	if (vir_events & VIR_EVENT_HANDLE_WRITABLE)
		f |= EV_WRITE;
	return f;
}

/* Callbacks run on the loop's thread, as does the reaper: a watch seen
 * here is not freed under us, only perhaps marked removed. */
static void on_handle(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	pthread_mutex_lock(&vev.lock);
	bool live = !w->removed;
	int id = w->id, asked = w->vir_events;
	virEventHandleCallback cb = w->hcb;
	void *opaque = w->opaque;
	pthread_mutex_unlock(&vev.lock);
	if (!live)
		return;
	int events = 0;
	if (what & EV_READ)
		events |= VIR_EVENT_HANDLE_READABLE;
	if (what & EV_WRITE)
		events |= VIR_EVENT_HANDLE_WRITABLE;
	/* epoll reports a hang-up or an error as readable and writable; pass
	 * only what was asked for, the read then sees the end. */
	events &= asked;
	if (events)
		cb(id, (int)fd, events, opaque);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	(void)fd, (void)what;
	pthread_mutex_lock(&vev.lock);
	bool live = !w->removed;
	int id = w->id;
	virEventTimeoutCallback cb = w->tcb;
	void *opaque = w->opaque;
	pthread_mutex_unlock(&vev.lock);
	if (!live)
		return;
	cb(id, opaque);
	/* libevent does not repeat a persistent zero timeout; libvirt means
	 * "on every pass until changed". */
	pthread_mutex_lock(&vev.lock);
	if (!w->removed && w->ms == 0 && !event_pending(w->ev, EV_TIMEOUT, NULL)) {
		struct timeval tv = {0, 0};
		event_add(w->ev, &tv);
	}
	pthread_mutex_unlock(&vev.lock);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	struct watch **dead = NULL;
	size_t n_dead = 0, cap_dead = 0;
	pthread_mutex_lock(&vev.lock);
	size_t k = 0;
	for (size_t i = 0; i < vev.n; i++) {
		if (vev.w[i]->removed) {
			dead = vm_xgrow(dead, &cap_dead, n_dead + 1, sizeof *dead);
			dead[n_dead++] = vev.w[i];
		} else {
			vev.w[k++] = vev.w[i];
		}
	}
	vev.n = k;
	pthread_mutex_unlock(&vev.lock);
	for (size_t i = 0; i < n_dead; i++) {
		event_free(dead[i]->ev);
		if (dead[i]->ff)
			dead[i]->ff(dead[i]->opaque);
		free(dead[i]);
	}
	free(dead);
}

/* The caller holds the lock. */
static struct watch *add(bool timer, void *opaque, virFreeCallback ff)
{
	struct watch *w = vm_xcalloc(1, sizeof *w);
	/* libvirt treats a negative id as failure; ids are never reused. */
	if (vev.next_id == 0x7fffffff)
		vev.next_id = 0;
	w->id = ++vev.next_id;
	w->timer = timer;
	w->opaque = opaque;
	w->ff = ff;
	vev.w = vm_xgrow(vev.w, &vev.cap, vev.n + 1, sizeof *vev.w);
	vev.w[vev.n++] = w;
	return w;
}

static void arm_handle(struct watch *w)
{
	short f = to_libevent(w->vir_events);
	/* event_del_noblock: a thread other than the loop's must not wait
	 * for a callback that may be waiting for our lock. */
	event_del_noblock(w->ev);
	event_assign(w->ev, vev.base, w->fd, f | EV_PERSIST, on_handle, w);
	if (f)
		event_add(w->ev, NULL);
}

static void arm_timer(struct watch *w)
{
	event_del_noblock(w->ev);
	if (w->ms >= 0) {
		struct timeval tv = {w->ms / 1000, (w->ms % 1000) * 1000};
		event_add(w->ev, &tv);
	}
}

static int add_handle(int fd, int events, virEventHandleCallback cb, void *opaque, virFreeCallback ff)
{
	pthread_mutex_lock(&vev.lock);
	struct watch *w = add(false, opaque, ff);
	w->fd = fd;
	w->vir_events = events;
	w->hcb = cb;
	w->ev = event_new(vev.base, fd, to_libevent(events) | EV_PERSIST, on_handle, w);
	if (!w->ev)
		vm_fatal("libvirt event watch: out of memory");
	if (to_libevent(events))
		event_add(w->ev, NULL);
	int id = w->id;
	pthread_mutex_unlock(&vev.lock);
	return id;
}

static void update_handle(int id, int events)
{
	pthread_mutex_lock(&vev.lock);
	struct watch *w = find(id, false);
	/* The client flips its socket's watch off and on around every call:
	 * an unchanged one costs nothing. */
	if (w && w->vir_events != events) {
		w->vir_events = events;
		arm_handle(w);
	}
	pthread_mutex_unlock(&vev.lock);
}

static int remove_watch(int id, bool timer)
{
	pthread_mutex_lock(&vev.lock);
	struct watch *w = find(id, timer);
	if (w) {
		w->removed = true;
		event_del_noblock(w->ev);
		event_active(vev.reaper, 0, 0);
	}
	pthread_mutex_unlock(&vev.lock);
	return w ? 0 : -1;
}

static int remove_handle(int id)
{
	return remove_watch(id, false);
}

static int add_timeout(int ms, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff)
{
	pthread_mutex_lock(&vev.lock);
	struct watch *w = add(true, opaque, ff);
	w->ms = ms;
	w->tcb = cb;
	w->ev = event_new(vev.base, -1, EV_PERSIST, on_timer, w);
	if (!w->ev)
		vm_fatal("libvirt event timer: out of memory");
	arm_timer(w);
	int id = w->id;
	pthread_mutex_unlock(&vev.lock);
	return id;
}

/* Re-arming restarts the period, as libvirt's own loop does; 0 fires on
 * every pass of the loop until changed. */
static void update_timeout(int id, int ms)
{
	pthread_mutex_lock(&vev.lock);
	struct watch *w = find(id, true);
	if (w) {
		w->ms = ms;
		arm_timer(w);
	}
	pthread_mutex_unlock(&vev.lock);
}

static int remove_timeout(int id)
{
	return remove_watch(id, true);
}

int col_virtevent_register(struct event_base *base)
{
	pthread_mutex_lock(&vev.lock);
	if (vev.base) {
		int rc = vev.base == base ? 0 : -1;
		pthread_mutex_unlock(&vev.lock);
		return rc;
	}
	vev.base = base;
	vev.reaper = event_new(base, -1, 0, on_reap, NULL);
	if (!vev.reaper)
		vm_fatal("libvirt event loop: out of memory");
	pthread_mutex_unlock(&vev.lock);
	virEventRegisterImpl(add_handle, update_handle, remove_handle, add_timeout, update_timeout, remove_timeout);
	return 0;
}

void col_virtevent_shutdown(void)
{
	pthread_mutex_lock(&vev.lock);
	for (size_t i = 0; i < vev.n; i++)
		vev.w[i]->removed = true;
	pthread_mutex_unlock(&vev.lock);
	on_reap(-1, 0, NULL);
	pthread_mutex_lock(&vev.lock);
	if (vev.reaper)
		event_free(vev.reaper);
	vev.reaper = NULL;
	free(vev.w);
	vev.w = NULL;
	vev.n = vev.cap = 0;
	pthread_mutex_unlock(&vev.lock);
}

void col_virtevent_counts(size_t *handles, size_t *timers)
{
	size_t h = 0, t = 0;
	pthread_mutex_lock(&vev.lock);
	for (size_t i = 0; i < vev.n; i++)
		if (!vev.w[i]->removed)
			*(vev.w[i]->timer ? &t : &h) += 1;
	pthread_mutex_unlock(&vev.lock);
	*handles = h;
	*timers = t;
}
