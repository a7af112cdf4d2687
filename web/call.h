/* One request being answered, shared by the endpoint files (api.c and
 * api_data.c): who asked (from the session or token row, never from the
 * request), the route it took and its parsed query string, and the
 * helpers that answer it.  Internal to vmeter-web. */
#ifndef VM_WEB_CALL_H
#define VM_WEB_CALL_H

#include <event2/http.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "parse.h"
#include "pgev.h"
#include "rrdout.h"
#include "worker.h"

enum web_role { ROLE_NONE, ROLE_ADMIN, ROLE_OPERATOR, ROLE_VIEWER };

struct route_def;
struct web_cache;
struct web_cache_fetch;

struct call {
	struct web_api *a;
	struct evhttp_request *req; /* NULL: a refresh of a kept answer (api.c) */
	const struct route_def *rd;
	char id[48];
	struct web_query *q; /* the query string, checked against the route's parameters */
	/* who: from the session or token row, never from the request */
	enum web_role role;
	int user_id;
	char *user, *tenant, *csrf;
	bool by_token;
	char token_hash[65]; /* of the session's token: logout deletes by it */
	char token[65];      /* login: the new session's token, for the cookie only */
	/* login */
	char *login_user, *login_pw;
	char addr[64];
	char *stored;
	/* an endpoint's own state, freed with the call by ext_free */
	void *ext;
	void (*ext_free)(void *ext);
	/* fetching for a cache (api.c's answers or principals): its answer
	 * goes there as well as to req */
	struct web_cache *fetch_cache;
	struct web_cache_fetch *fetch;
	bool refresh; /* of a kept answer, counted in the api's refreshing */
};

/* A VM's current inventory row (i), host (h) and latest event (e), within
 * the tenant scope $1 (NULL: all). */
#define VM_CURRENT                                                                                                     \
	"FROM vm v JOIN LATERAL (SELECT * FROM vm_inventory x WHERE x.vm_id = v.vm_id ORDER BY valid_from DESC "       \
	"LIMIT 1) i ON true JOIN host h ON h.host_id = i.host_id "                                                     \
	"LEFT JOIN LATERAL (SELECT event, at FROM vm_event e WHERE e.vm_id = v.vm_id ORDER BY at DESC LIMIT 1) e "     \
	"ON true WHERE ($1::text IS NULL OR i.tenant = $1) "

#define VM_FIELDS                                                                                                      \
	"'uuid', v.uuid, 'name', i.name, 'host', h.hostname, 'vcpus', i.vcpus, 'memory_kib', i.memory_kib, "           \
	"'tenant', i.tenant, 'project', i.project, 'state', CASE e.event WHEN 'started' THEN 'running' "               \
	"WHEN 'resumed' THEN 'running' WHEN 'suspended' THEN 'paused' WHEN 'stopped' THEN 'shut off' "                 \
	"WHEN 'undefined' THEN 'undefined' WHEN 'defined' THEN 'shut off' ELSE coalesce(e.event, 'unknown') END"

/* What api_data.c's endpoints use of the server's parts (borrowed). */
struct vm_pgev_pool *web_call_pool(const struct call *c);
struct web_worker *web_call_worker(const struct call *c);
struct vm_rrd *web_call_rrd(const struct call *c);
/* web.graph-cache-ms */
int web_call_graph_cache_ms(const struct call *c);

/* The tenant a query is limited to: NULL (all) for staff, else the
 * viewer's own (never NULL). */
const char *web_call_scope(const struct call *c);
bool web_call_staff(const struct call *c);

/* Each answers and frees c. */
void web_call_fail(struct call *c, int status, const char *msg);
void web_call_reply(struct call *c, int status, const char *content_type, const char *body, size_t len);
/* A database failure as an answer (true: answered and freed). */
bool web_call_db_failed(struct call *c, PGresult *res, enum vm_pg_failure failure, const char *error);
/* Submits a query whose callback gets c; on a full queue answers 503. */
void web_call_submit(struct call *c, const char *sql, int n, const char *const *params, vm_pgev_cb cb);
/* The callback of a query answering one row of one JSON text column:
 * 200 with it, or 404 if there is no row or it is NULL. */
void web_call_one_json(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg);

/* api_data.c's endpoints (docs/WEB.md, "API"). */
void web_do_overview(struct call *c);
void web_do_alerts(struct call *c);
void web_do_reports(struct call *c);
void web_do_report_download(struct call *c);
void web_do_plans(struct call *c);
void web_do_invoice_download(struct call *c);
void web_do_vm_series(struct call *c);
void web_do_host_series(struct call *c);
void web_do_host(struct call *c);
void web_do_vm_history(struct call *c);
void web_do_vm_usage(struct call *c);

/* The query string parameters of those that take any (NULL-terminated). */
extern const char *const web_download_params[];
extern const char *const web_usage_params[];

#endif
