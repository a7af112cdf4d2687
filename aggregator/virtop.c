/* aggregator/virtop: libvirt operations on a VM and their connections (virtop.h). */
#include "config.h"

#include "virtop.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtime.h"
#include "xalloc.h"

/* How often shutdown looks at the domain's state. */
#define SHUTDOWN_POLL_MS 100

struct pool_conn {
	char *uri;
	virConnectPtr conn; /* NULL once found broken */
};

struct agg_virt_pool {
	pthread_mutex_t mu;
	struct pool_conn *conns;
	size_t n, cap;
};

static void silent_error(void *arg, virErrorPtr err)
{
	(void)arg, (void)err;
}

struct agg_virt_pool *agg_virt_pool_new(void)
{
	virInitialize();
	virSetErrorFunc(NULL, silent_error);
	/* libvirt writes to sockets a daemon restart may have closed: its
	 * clients must ignore SIGPIPE (process-wide; programs the runner
	 * spawns get default dispositions back). */
	signal(SIGPIPE, SIG_IGN);
	struct agg_virt_pool *p = vm_xcalloc(1, sizeof *p);
	pthread_mutex_init(&p->mu, NULL);
	return p;
}

void agg_virt_pool_free(struct agg_virt_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		if (p->conns[i].conn)
			virConnectClose(p->conns[i].conn);
		free(p->conns[i].uri);
	}
	free(p->conns);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static struct pool_conn *find(struct agg_virt_pool *p, const char *uri)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->conns[i].uri, uri) == 0)
			return &p->conns[i];
	return NULL;
}

/* A reference to the live connection of `uri` (virConnectClose it), or
 * NULL with libvirt's error set.  Opening happens outside the lock: a
 * host that does not answer holds up its own jobs only. */
static virConnectPtr conn_get(struct agg_virt_pool *p, const char *uri)
{
	pthread_mutex_lock(&p->mu);
	struct pool_conn *e = find(p, uri);
	if (e && e->conn && virConnectIsAlive(e->conn) == 1) {
		virConnectRef(e->conn);
		pthread_mutex_unlock(&p->mu);
		return e->conn;
	}
	if (e && e->conn) {
		virConnectClose(e->conn); /* broken: a user still holding it keeps its own reference */
		e->conn = NULL;
	}
	pthread_mutex_unlock(&p->mu);

	virConnectPtr c = virConnectOpen(uri);
	if (!c)
		return NULL;
	pthread_mutex_lock(&p->mu);
	e = find(p, uri);
	if (!e) {
		p->conns = vm_xgrow(p->conns, &p->cap, p->n + 1, sizeof *p->conns);
		e = &p->conns[p->n++];
		*e = (struct pool_conn){.uri = vm_xstrdup(uri)};
	}
	if (e->conn) { /* another worker opened it meanwhile */
		virConnectClose(c);
		c = e->conn;
	} else {
		e->conn = c;
	}
	virConnectRef(c);
	pthread_mutex_unlock(&p->mu);
	return c;
}

static void lv_fail(struct agg_action_result *res, const char *call)
{
	snprintf(res->message, sizeof res->message, "%s: %s", call, virGetLastErrorMessage());
}

static int set_one(virDomainPtr dom, enum agg_virt_op op, uint64_t amount, unsigned flags)
{
	if (op == AGG_VIRT_SET_VCPUS)
		return virDomainSetVcpusFlags(dom, (unsigned)amount, flags);
	return virDomainSetMemoryFlags(dom, (unsigned long)amount, flags);
}

/* set-vcpus, set-memory: the live domain where it runs, then its config
 * where it is persistent.  Two calls, not one with both flags: some
 * drivers (the test driver's memory) take one at a time.  The live change
 * first: if libvirt refuses it (above the maximum), nothing changed. */
static void set_amount(virDomainPtr dom, enum agg_virt_op op, uint64_t amount, struct agg_action_result *res)
{
	const char *call = op == AGG_VIRT_SET_VCPUS ? "virDomainSetVcpusFlags" : "virDomainSetMemoryFlags";
	const char *what = op == AGG_VIRT_SET_VCPUS ? "vcpus" : "memory";
	const char *unit = op == AGG_VIRT_SET_VCPUS ? "" : " KiB";
	bool live = virDomainIsActive(dom) == 1, config = virDomainIsPersistent(dom) == 1 || !live;
	if (live && set_one(dom, op, amount, VIR_DOMAIN_AFFECT_LIVE) < 0) {
		lv_fail(res, call);
		return;
	}
	if (config && set_one(dom, op, amount, VIR_DOMAIN_AFFECT_CONFIG) < 0) {
		snprintf(res->message, sizeof res->message, "%s set to %llu%s live, but %s (config): %s", what,
		         (unsigned long long)amount, unit, call, virGetLastErrorMessage());
		return;
	}
	res->outcome = AGG_OUT_OK;
	snprintf(res->message, sizeof res->message, "%s set to %llu%s (%s)", what, (unsigned long long)amount, unit,
	         live && config ? "live and config"
	         : live         ? "live"
	                        : "config");
}

static void shutdown_wait(virDomainPtr dom, int64_t timeout_ns, int cancel_fd, struct agg_action_result *res)
{
	int64_t t0 = vm_monotonic_ns(), deadline = t0 + timeout_ns;
	char d[32];
	if (virDomainShutdown(dom) < 0) {
		lv_fail(res, "virDomainShutdown");
		return;
	}
	for (;;) {
		int state = 0, reason = 0;
		if (virDomainGetState(dom, &state, &reason, 0) < 0) {
			virErrorPtr e = virGetLastError();
			if (!e || e->code != VIR_ERR_NO_DOMAIN) {
				lv_fail(res, "virDomainGetState");
				return;
			}
			state = VIR_DOMAIN_SHUTOFF; /* a transient domain is gone once off */
		}
		int64_t now = vm_monotonic_ns();
		if (state == VIR_DOMAIN_SHUTOFF) {
			agg_action_duration(now - t0, d, sizeof d);
			res->outcome = AGG_OUT_OK;
			snprintf(res->message, sizeof res->message, "shut down in %s", d);
			return;
		}
		if (now >= deadline) {
			agg_action_duration(timeout_ns, d, sizeof d);
			res->outcome = AGG_OUT_TIMEOUT;
			snprintf(res->message, sizeof res->message,
			         "shutdown requested; the domain is still running after %s", d);
			return;
		}
		struct pollfd p = {.fd = cancel_fd, .events = POLLIN};
		int64_t ms = (deadline - now + 999999) / 1000000;
		if (poll(&p, cancel_fd >= 0 ? 1 : 0, ms < SHUTDOWN_POLL_MS ? (int)ms : SHUTDOWN_POLL_MS) > 0) {
			res->outcome = AGG_OUT_CANCELLED;
			snprintf(res->message, sizeof res->message,
			         "shutdown requested; cancelled while waiting for it");
			return;
		}
	}
}

static void migrate(struct agg_virt_pool *p, virDomainPtr dom, const char *dest_uri, struct agg_action_result *res)
{
	virConnectPtr dconn = conn_get(p, dest_uri);
	if (!dconn) {
		snprintf(res->message, sizeof res->message, "cannot open destination \"%s\": %s", dest_uri,
		         virGetLastErrorMessage());
		return;
	}
	/* Managed direct migration: this process holds both connections
	 * (its credentials), the hosts need not trust each other's. */
	virDomainPtr moved = virDomainMigrate3(
	    dom, dconn, NULL, 0, VIR_MIGRATE_LIVE | VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE);
	if (!moved) {
		lv_fail(res, "virDomainMigrate3");
	} else {
		virDomainFree(moved);
		res->outcome = AGG_OUT_OK;
		snprintf(res->message, sizeof res->message, "migrated to %s", dest_uri);
	}
	virConnectClose(dconn);
}

void agg_virt_run(struct agg_virt_pool *p, const char *uri, const char *uuid, enum agg_virt_op op, uint64_t amount,
                  const char *dest_uri, int64_t timeout_ns, int cancel_fd, struct agg_action_result *res)
{
	res->attempts = 1;
	res->exit_status = -1;
	res->outcome = AGG_OUT_FAILED;
	virConnectPtr conn = conn_get(p, uri);
	if (!conn) {
		snprintf(res->message, sizeof res->message, "cannot open \"%s\": %s", uri, virGetLastErrorMessage());
		return;
	}
	virDomainPtr dom = virDomainLookupByUUIDString(conn, uuid);
	virErrorPtr e = dom ? NULL : virSaveLastError(); /* virConnectIsAlive resets the last error */
	if (!dom && virConnectIsAlive(conn) == 0) {
		/* A remote connection learns that its daemon went away (a
		 * restart) on its next call only: this lookup.  Nothing was
		 * changed yet, so once more on a new connection. */
		virFreeError(e);
		virConnectClose(conn);
		if (!(conn = conn_get(p, uri))) {
			snprintf(res->message, sizeof res->message, "cannot open \"%s\": %s", uri,
			         virGetLastErrorMessage());
			return;
		}
		dom = virDomainLookupByUUIDString(conn, uuid);
		e = dom ? NULL : virSaveLastError();
	}
	if (!dom) {
		if (e && e->code == VIR_ERR_NO_DOMAIN) {
			res->outcome = AGG_OUT_NOT_FOUND;
			snprintf(res->message, sizeof res->message, "domain %s not found at \"%s\"", uuid, uri);
		} else {
			snprintf(res->message, sizeof res->message, "virDomainLookupByUUIDString: %s",
			         e && e->message ? e->message : "unknown error");
		}
		virFreeError(e);
		virConnectClose(conn);
		return;
	}
	int rc = 0;
	switch (op) {
	case AGG_VIRT_SET_VCPUS:
	case AGG_VIRT_SET_MEMORY:
		set_amount(dom, op, amount, res);
		rc = -1; /* the outcome is set */
		break;
	case AGG_VIRT_SUSPEND:
		if ((rc = virDomainSuspend(dom)) < 0)
			lv_fail(res, "virDomainSuspend");
		else
			snprintf(res->message, sizeof res->message, "suspended");
		break;
	case AGG_VIRT_RESUME:
		if ((rc = virDomainResume(dom)) < 0)
			lv_fail(res, "virDomainResume");
		else
			snprintf(res->message, sizeof res->message, "resumed");
		break;
	case AGG_VIRT_SHUTDOWN:
		shutdown_wait(dom, timeout_ns, cancel_fd, res);
		rc = -1; /* the outcome is set */
		break;
	case AGG_VIRT_MIGRATE:
		migrate(p, dom, dest_uri, res);
		rc = -1;
		break;
	default: snprintf(res->message, sizeof res->message, "unknown virt operation %d", (int)op); rc = -1;
	}
	if (rc >= 0)
		res->outcome = AGG_OUT_OK;
	virDomainFree(dom);
	virConnectClose(conn);
}
