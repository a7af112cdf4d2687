/* LISTEN on a libevent loop (pglisten.h). */
#include "config.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"
#include "pglisten.h"
#include "xalloc.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_S 10

enum state { L_DOWN, L_CONNECTING, L_LISTEN, L_UP };

struct web_pglisten {
	struct event_base *base;
	char *conninfo, *listen_sql, *channel;
	web_pglisten_cb cb;
	void *arg;
	PGconn *pg;
	struct event *io, *timer;
	enum state state;
	int backoff_ms;
	bool failing; /* an outage logged, its end not yet */
};

static void on_io(evutil_socket_t fd, short what, void *arg);

static void arm(struct web_pglisten *l, short what)
{
	if (l->io)
		event_free(l->io);
	l->io = event_new(l->base, PQsocket(l->pg), what, on_io, l);
	if (!l->io)
		abort();
	event_add(l->io, NULL);
}

/* why may be libpq's message of l->pg: copied before the connection goes. */
static void lost(struct web_pglisten *l, const char *why)
{
	char msg[512];
	snprintf(msg, sizeof msg, "%s", why && *why ? why : "connection lost");
	msg[strcspn(msg, "\n")] = '\0';
	bool was_up = l->state == L_UP;
	if (l->io)
		event_free(l->io);
	l->io = NULL;
	PQfinish(l->pg);
	l->pg = NULL;
	l->state = L_DOWN;
	if (!l->failing) {
		vm_warn("listening for '%s' notifications: %s (trying again)", l->channel, msg);
		l->failing = true;
	}
	struct timeval tv = {l->backoff_ms / 1000, (l->backoff_ms % 1000) * 1000};
	evtimer_add(l->timer, &tv);
	l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
	if (was_up)
		l->cb(WEB_PGLISTEN_DOWN, l->arg);
}

static void start(struct web_pglisten *l)
{
	char err[512];
	int connect_s;
	l->pg = vm_pg_connect_start(l->conninfo, CONNECT_TIMEOUT_S, &connect_s, err, sizeof err);
	if (!l->pg)
		vm_fatal("%s", err); /* parsed by web_pglisten_new(): only memory */
	l->state = L_CONNECTING;
	if (PQstatus(l->pg) == CONNECTION_BAD) {
		lost(l, PQerrorMessage(l->pg));
		return;
	}
	struct timeval tv = {connect_s > 0 ? connect_s : CONNECT_TIMEOUT_S, 0};
	evtimer_add(l->timer, &tv);
	arm(l, EV_WRITE); /* libpq's rule: as if PQconnectPoll() said "writing" */
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct web_pglisten *l = arg;
	if (l->state == L_DOWN)
		start(l);
	else if (l->state != L_UP)
		lost(l, "no answer from the database in time");
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct web_pglisten *l = arg;
	if (l->state == L_CONNECTING) {
		PostgresPollingStatusType ps = PQconnectPoll(l->pg);
		if (ps == PGRES_POLLING_FAILED || PQstatus(l->pg) == CONNECTION_BAD) {
			lost(l, PQerrorMessage(l->pg));
		} else if (ps != PGRES_POLLING_OK) {
			arm(l, ps == PGRES_POLLING_READING ? EV_READ : EV_WRITE);
		} else if (PQsetnonblocking(l->pg, 1) < 0 || !PQsendQuery(l->pg, l->listen_sql) ||
		           PQflush(l->pg) != 0) {
			/* a few bytes into an empty socket: a flush left over is a failure */
			lost(l, PQerrorMessage(l->pg));
		} else {
			l->state = L_LISTEN;
			arm(l, EV_READ | EV_PERSIST);
		}
		return;
	}
	if (!PQconsumeInput(l->pg)) {
		lost(l, PQerrorMessage(l->pg));
		return;
	}
	if (l->state == L_LISTEN) {
		bool good = false;
		while (!PQisBusy(l->pg)) {
			PGresult *r = PQgetResult(l->pg);
			if (!r)
				break;
			good = PQresultStatus(r) == PGRES_COMMAND_OK;
			if (!good) {
				char msg[512];
				snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
				PQclear(r);
				lost(l, msg);
				return;
			}
			PQclear(r);
		}
		if (PQisBusy(l->pg) || !good)
			return;
		evtimer_del(l->timer);
		l->state = L_UP;
		l->backoff_ms = BACKOFF_MIN_MS;
		if (l->failing)
			vm_notice("listening for '%s' notifications again", l->channel);
		l->failing = false;
		l->cb(WEB_PGLISTEN_UP, l->arg);
		return;
	}
	bool got = false;
	PGnotify *n;
	while ((n = PQnotifies(l->pg))) {
		got = true;
		PQfreemem(n);
	}
	if (got)
		l->cb(WEB_PGLISTEN_NOTIFY, l->arg);
}

struct web_pglisten *web_pglisten_new(struct event_base *base, const char *conninfo, const char *channel,
                                      web_pglisten_cb cb, void *arg, char *err, size_t errsize)
{
	if (!*channel || strlen(channel) > 63 ||
	    strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(channel)) {
		snprintf(err, errsize, "channel '%s': not a lower-case SQL name", channel);
		return NULL;
	}
	char *e = NULL;
	PQconninfoOption *o = PQconninfoParse(conninfo, &e);
	if (!o) {
		snprintf(err, errsize, "database conninfo: %s", e ? e : "out of memory");
		PQfreemem(e);
		return NULL;
	}
	PQconninfoFree(o);
	struct web_pglisten *l = vm_xcalloc(1, sizeof *l);
	l->base = base;
	l->conninfo = vm_xstrdup(conninfo);
	l->channel = vm_xstrdup(channel);
	l->listen_sql = vm_xasprintf("LISTEN %s", channel);
	l->cb = cb;
	l->arg = arg;
	l->backoff_ms = BACKOFF_MIN_MS;
	l->timer = evtimer_new(base, on_timer, l);
	if (!l->timer)
		abort();
	start(l);
	return l;
}

void web_pglisten_free(struct web_pglisten *l)
{
	if (!l)
		return;
	if (l->io)
		event_free(l->io);
	event_free(l->timer);
	PQfinish(l->pg);
	free(l->conninfo);
	free(l->channel);
	free(l->listen_sql);
	free(l);
}

int web_pglisten_up(const struct web_pglisten *l)
{
	return l->state == L_UP;
}
