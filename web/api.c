/* vmeter-web's endpoints (api.h). */
#include "config.h"

#include <event2/buffer.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "cache.h"
#include "call.h"
#include "log.h"
#include "parse.h"
#include "pglisten.h"
#include "secret.h"
#include "series.h"
#include "static.h"
#include "xalloc.h"

/* Login locks count in monotonic milliseconds: a wall-clock step must
 * not lift or stretch one, and seconds would make a 1 s lock 0 to 1 s. */
static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum route {
	R_INDEX,
	R_OPENAPI,
	R_LOGIN,
	R_LOGOUT,
	R_ME,
	R_VMS,
	R_VM,
	R_HOSTS,
	R_INVOICES,
	R_INVOICE,
	R_METRICS,
	R_OVERVIEW,
	R_ALERTS,
	R_REPORTS,
	R_REPORT_DOWNLOAD,
	R_PLANS,
	R_INVOICE_DOWNLOAD,
	R_VM_SERIES,
	R_VM_HISTORY,
	R_VM_USAGE,
	R_HOST,
	R_HOST_SERIES,
	R_STATIC,
};

/* What a route needs. */
struct route_def {
	const char *path;   /* exact, or a prefix ending in '/' for {id} */
	bool with_id;       /* path + one segment */
	int method;         /* EVHTTP_REQ_GET or _POST */
	bool auth;          /* a session or a token */
	bool staff;         /* admin or operator (tenant viewers: 403) */
	bool session_staff; /* staff by session; any token (/metrics) */
	enum route route;
};

static const struct route_def routes[] = {
    {"/", false, EVHTTP_REQ_GET, false, false, false, R_INDEX},
    {"/api/v1/openapi.json", false, EVHTTP_REQ_GET, false, false, false, R_OPENAPI},
    {"/api/v1/login", false, EVHTTP_REQ_POST, false, false, false, R_LOGIN},
    {"/api/v1/logout", false, EVHTTP_REQ_POST, true, false, false, R_LOGOUT},
    {"/api/v1/me", false, EVHTTP_REQ_GET, true, false, false, R_ME},
    {"/api/v1/vms", false, EVHTTP_REQ_GET, true, false, false, R_VMS},
    {"/api/v1/vms/", true, EVHTTP_REQ_GET, true, false, false, R_VM},
    {"/api/v1/hosts", false, EVHTTP_REQ_GET, true, true, false, R_HOSTS},
    {"/api/v1/invoices", false, EVHTTP_REQ_GET, true, false, false, R_INVOICES},
    {"/api/v1/invoices/", true, EVHTTP_REQ_GET, true, false, false, R_INVOICE},
    {"/metrics", false, EVHTTP_REQ_GET, true, false, true, R_METRICS},
};

/* Routes whose id has a suffix ("/api/v1/vms/{uuid}/series") or that take
 * query string parameters; matched after `routes`. */
struct route_ext {
	struct route_def d;
	const char *suffix;        /* with_id: what follows the id, or NULL */
	const char *const *params; /* the query string's parameters (NULL: none) */
};

static const struct route_ext more_routes[] = {
    {{"/api/v1/overview", false, EVHTTP_REQ_GET, true, false, false, R_OVERVIEW}, NULL, NULL},
    {{"/api/v1/alerts", false, EVHTTP_REQ_GET, true, false, false, R_ALERTS}, NULL, NULL},
    {{"/api/v1/reports", false, EVHTTP_REQ_GET, true, false, false, R_REPORTS}, NULL, NULL},
    {{"/api/v1/reports/", true, EVHTTP_REQ_GET, true, false, false, R_REPORT_DOWNLOAD}, "/download", NULL},
    {{"/api/v1/plans", false, EVHTTP_REQ_GET, true, false, false, R_PLANS}, NULL, NULL},
    {{"/api/v1/invoices/", true, EVHTTP_REQ_GET, true, false, false, R_INVOICE_DOWNLOAD},
     "/download",
     web_download_params},
    {{"/api/v1/vms/", true, EVHTTP_REQ_GET, true, false, false, R_VM_SERIES}, "/series", web_series_params},
    {{"/api/v1/vms/", true, EVHTTP_REQ_GET, true, false, false, R_VM_HISTORY}, "/history", NULL},
    {{"/api/v1/vm-usage", false, EVHTTP_REQ_GET, true, false, false, R_VM_USAGE}, NULL, web_usage_params},
    {{"/api/v1/hosts/", true, EVHTTP_REQ_GET, true, true, false, R_HOST}, NULL, NULL},
    {{"/api/v1/hosts/", true, EVHTTP_REQ_GET, true, true, false, R_HOST_SERIES}, "/series", web_series_params},
};

struct web_api {
	struct vm_pgev_pool *pool;
	struct web_hasher *hasher;
	struct web_server *server;
	struct web_api_opts o;
	struct web_ratelimit *rl;   /* per user name */
	struct web_ratelimit *rl_a; /* per client address */
	struct web_worker *worker;  /* blocking work: RRD fetches, invoice exports */
	struct vm_rrd *rrd;         /* the RRD files (NULL: graphs from the rollups only) */
	struct web_cache *cache;    /* NULL: answers are not kept */
	int graph_cache_ms;
	struct web_cache *auth;      /* principals by token hash; NULL: not kept */
	struct web_pglisten *listen; /* for WEB_AUTH_CHANNEL: auth is used while up */
	atomic_bool auth_live;       /* read by web_api_fast() on the I/O threads */
	char auth_ms[16];            /* web.auth-cache-ms, a query parameter */
	/* refreshes of kept answers under way (calls without a request), and
	 * how many may be (all the database connections but one): beyond it a
	 * request finding its answer too old gets it without a refresh, so
	 * that 1,000 graphs found too old at once do not queue 1,000 reads
	 * before the requests that wait */
	unsigned refreshing, max_refreshing;
	/* kept answers' requests: served kept, served too old while read
	 * again, served too old without (enough refreshes under way), read
	 * with the request waiting, and the refreshes started */
	uint64_t n_stale, n_stale_only, n_fetch, n_refresh;
	/* hits, and those of them web_api_fast() answered on an I/O thread */
	atomic_uint_fast64_t n_hit, n_hit_io;
};

static void cache_settle(struct call *c, int status, const char *body, size_t len);

static void call_free(struct call *c)
{
	static const char none[] = "{\"error\": \"no answer\", \"status\": 503}";
	if (c->refresh)
		c->a->refreshing--;
	if (c->fetch) /* ended without an answer: its waiters get one */
		cache_settle(c, 503, none, sizeof none - 1);
	if (c->ext_free)
		c->ext_free(c->ext);
	web_query_free(c->q);
	free(c->user);
	free(c->tenant);
	free(c->csrf);
	free(c->login_user);
	if (c->login_pw) {
		memset(c->login_pw, 0, strlen(c->login_pw));
		free(c->login_pw);
	}
	free(c->stored);
	free(c);
}

static void fail(struct call *c, int status, const char *msg)
{
	if (c->fetch) {
		char *text = web_error_json(status, msg);
		cache_settle(c, status, text, strlen(text));
		free(text);
	}
	if (c->req)
		web_reply_error(c->a->server, c->req, status, "%s", msg);
	call_free(c);
}

static void reply_json(struct call *c, int status, const char *text)
{
	cache_settle(c, status, text, strlen(text));
	if (c->req)
		web_reply(c->a->server, c->req, status, "application/json", text, strlen(text));
	call_free(c);
}

static void reply_jansson(struct call *c, int status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text) {
		fail(c, 500, "cannot encode the answer");
		return;
	}
	reply_json(c, status, text);
	free(text);
}

static const char *role_name(enum web_role r)
{
	switch (r) {
	case ROLE_ADMIN: return "admin";
	case ROLE_OPERATOR: return "operator";
	case ROLE_VIEWER: return "tenant-viewer";
	default: return "none";
	}
}

static enum web_role role_parse(const char *s)
{
	if (strcmp(s, "admin") == 0)
		return ROLE_ADMIN;
	if (strcmp(s, "operator") == 0)
		return ROLE_OPERATOR;
	if (strcmp(s, "tenant-viewer") == 0)
		return ROLE_VIEWER;
	return ROLE_NONE;
}

/* The tenant a query is limited to: the viewer's own, NULL (all) for
 * staff.  A viewer without a tenant cannot exist (web_user's CHECK); if
 * one did, "" would match no VM, never all of them. */
static const char *scope(const struct call *c)
{
	if (c->role == ROLE_ADMIN || c->role == ROLE_OPERATOR)
		return NULL;
	return c->tenant ? c->tenant : "";
}

/* A database failure as an answer. */
static bool db_failed(struct call *c, PGresult *res, enum vm_pg_failure failure, const char *error)
{
	if (failure == VM_PG_OK && res)
		return false;
	if (failure == VM_PG_REFUSED) {
		vm_err("request %s: the database refused a query: %s",
		       c->req ? evhttp_request_get_uri(c->req) : "(a kept answer's refresh)", error);
		fail(c, 500, "the database refused the query (see the server's log)");
	} else {
		fail(c, 503, failure == VM_PG_CANCELLED ? "the server is stopping" : "the database is not reachable");
	}
	return true;
}

static void submit(struct call *c, const char *sql, int n, const char *const *params, vm_pgev_cb cb)
{
	if (vm_pgev_submit(c->a->pool, sql, n, params, cb, c) < 0)
		fail(c, 503, "too many queries waiting for the database");
}

/* ------------------------------------------------------------ login */

static void login_session_done(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg);

static void login_checked(int result, void *arg)
{
	struct call *c = arg;
	struct web_api *a = c->a;
	if (result < 0) {
		fail(c, 503, "the server is stopping");
		return;
	}
	char ukey[WEB_RATELIMIT_KEY_MAX], akey[WEB_RATELIMIT_KEY_MAX];
	snprintf(ukey, sizeof ukey, "u:%s", c->login_user);
	snprintf(akey, sizeof akey, "a:%s", c->addr);
	int64_t now = now_ms();
	if (result == 0 || c->role == ROLE_NONE) {
		int64_t lu = web_ratelimit_fail(a->rl, ukey, now);
		int64_t la = web_ratelimit_fail(a->rl_a, akey, now);
		char shown[160];
		vm_log_escape(shown, sizeof shown, c->login_user);
		vm_notice("login as '%s' from %s refused%s", shown, c->addr,
		          lu || la ? ": now locked for a while" : "");
		fail(c, 401, "wrong user name or password");
		return;
	}
	/* only the user's count: a success must not clear an address that
	 * is guessing at other accounts */
	web_ratelimit_ok(a->rl, ukey);
	char token[65], hash[65], csrf[65], uid[16], hours[16];
	web_token_new(token);
	web_token_hash(token, hash);
	web_token_new(csrf);
	snprintf(uid, sizeof uid, "%d", c->user_id);
	snprintf(hours, sizeof hours, "%d", a->o.session_hours);
	c->csrf = vm_xstrdup(csrf);
	/* the token itself lives only in the cookie we send */
	memcpy(c->token, token, sizeof token);
	sodium_memzero(token, sizeof token);
	const char *p[4] = {hash, uid, csrf, hours};
	submit(c,
	       "INSERT INTO web_session (token_hash, user_id, csrf, expires_at) "
	       "VALUES ($1, $2::int, $3, now() + $4::int * interval '1 hour')",
	       4, p, login_session_done);
}

static void ignore(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	(void)res;
	(void)arg;
	if (failure != VM_PG_OK && failure != VM_PG_CANCELLED)
		vm_warn("removing expired sessions: %s", error);
}

static void login_session_done(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	struct call *c = arg;
	if (db_failed(c, res, failure, error))
		return;
	char cookie[256];
	snprintf(cookie, sizeof cookie, "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s", WEB_SESSION_COOKIE,
	         c->token, c->a->o.session_hours * 3600, c->a->o.cookie_secure ? "; Secure" : "");
	sodium_memzero(c->token, sizeof c->token);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Set-Cookie", cookie);
	char shown[160];
	vm_log_escape(shown, sizeof shown, c->login_user);
	vm_info("user '%s' logged in from %s", shown, c->addr);
	/* housekeeping beside it: sessions past their end go */
	vm_pgev_submit(c->a->pool, "DELETE FROM web_session WHERE expires_at < now()", 0, NULL, ignore, NULL);
	json_t *j = json_pack("{s:s, s:s, s:o, s:s, s:i}", "user", c->login_user, "role", role_name(c->role), "tenant",
	                      c->tenant ? json_string(c->tenant) : json_null(), "csrf_token", c->csrf, "expires_in",
	                      c->a->o.session_hours * 3600);
	reply_jansson(c, 200, j);
}

static void login_user_found(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	struct call *c = arg;
	if (db_failed(c, res, failure, error))
		return;
	const char *stored = web_password_dummy();
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 4), "f") == 0) {
		c->user_id = atoi(PQgetvalue(res, 0, 0));
		c->role = role_parse(PQgetvalue(res, 0, 2));
		if (!PQgetisnull(res, 0, 3))
			c->tenant = vm_xstrdup(PQgetvalue(res, 0, 3));
		c->stored = vm_xstrdup(PQgetvalue(res, 0, 1));
		stored = c->stored;
	}
	/* an unknown or disabled user costs a hash too: the answer's time
	 * does not tell whether the name exists */
	if (web_hasher_verify(c->a->hasher, stored, c->login_pw, login_checked, c) < 0)
		fail(c, 503, "too many logins waiting: try again");
}

static bool json_content(struct evhttp_request *req)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	return ct && (strcmp(ct, "application/json") == 0 || strncmp(ct, "application/json;", 17) == 0);
}

/* The body as a JSON object, or NULL after answering 400/415. */
static json_t *read_body(struct call *c)
{
	char err[256];
	if (!json_content(c->req)) {
		fail(c, 415, "the body must be JSON (Content-Type: application/json)");
		return NULL;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
	size_t len = evbuffer_get_length(in);
	const char *data = (const char *)evbuffer_pullup(in, -1);
	json_t *j = web_json_body(data ? data : "", len, (size_t)c->a->o.max_body_bytes, err, sizeof err);
	if (!j)
		fail(c, 400, err);
	return j;
}

static void do_login(struct call *c)
{
	static const char *const members[] = {"user", "password", NULL};
	char err[256];
	json_t *j = read_body(c);
	if (!j)
		return;
	const char *user, *pw;
	if (!web_json_only(j, members, err, sizeof err) || web_json_string(j, "user", 64, &user, err, sizeof err) < 0 ||
	    web_json_string(j, "password", WEB_PASSWORD_MAX, &pw, err, sizeof err) < 0) {
		json_decref(j);
		fail(c, 400, err);
		return;
	}
	c->login_user = vm_xstrdup(user);
	c->login_pw = vm_xstrdup(pw);
	json_decref(j);
	snprintf(c->addr, sizeof c->addr, "%s", web_peer(c->a->server, c->req));
	char ukey[WEB_RATELIMIT_KEY_MAX], akey[WEB_RATELIMIT_KEY_MAX];
	snprintf(ukey, sizeof ukey, "u:%s", c->login_user);
	snprintf(akey, sizeof akey, "a:%s", c->addr);
	int64_t now = now_ms();
	int64_t wait = web_ratelimit_locked(c->a->rl, ukey, now);
	int64_t wa = web_ratelimit_locked(c->a->rl_a, akey, now);
	if (wa > wait)
		wait = wa;
	if (wait > 0) {
		char s[24];
		wait = (wait + 999) / 1000;
		snprintf(s, sizeof s, "%lld", (long long)wait);
		evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", s);
		web_reply_error(c->a->server, c->req, 429, "too many failed logins: try again in %lld s",
		                (long long)wait);
		call_free(c);
		return;
	}
	const char *p[1] = {c->login_user};
	submit(c, "SELECT user_id, password_hash, role, tenant, disabled FROM web_user WHERE name = $1", 1, p,
	       login_user_found);
}

/* ------------------------------------------------------------ the data */

static void one_json(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	struct call *c = arg;
	if (db_failed(c, res, failure, error))
		return;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		/* another tenant's object answers as one that does not exist */
		fail(c, 404, "no such object");
		return;
	}
	reply_json(c, 200, PQgetvalue(res, 0, 0));
}

static void do_vms(struct call *c)
{
	const char *p[1] = {scope(c)};
	submit(c,
	       "SELECT json_build_object('vms', coalesce(json_agg(json_build_object(" VM_FIELDS
	       ") ORDER BY i.name, v.uuid), '[]'))::text " VM_CURRENT,
	       1, p, one_json);
}

static void do_vm(struct call *c)
{
	if (!web_uuid_valid(c->id)) {
		fail(c, 404, "no such object");
		return;
	}
	const char *p[2] = {scope(c), c->id};
	submit(c,
	       "SELECT json_build_object(" VM_FIELDS ", 'cost_centre', i.cost_centre, 'tags', i.tags, "
	       "'max_vcpus', i.max_vcpus, 'current_memory_kib', i.current_memory_kib, 'disks', i.disks, "
	       "'nics', i.nics, 'inventory_since', i.valid_from, 'last_event', e.event, 'last_event_at', e.at, "
	       "'first_seen', v.first_seen)::text " VM_CURRENT "AND v.uuid = lower($2)::uuid",
	       2, p, one_json);
}

static void do_hosts(struct call *c)
{
	submit(c,
	       "SELECT json_build_object('hosts', coalesce(json_agg(json_build_object('name', h.hostname, "
	       "'cpus', hi.cpus, 'mhz', hi.mhz, 'memory_kib', hi.memory_kib, 'cpu_model', hi.cpu_model, "
	       "'first_seen', h.first_seen, 'last_seen', h.last_seen) ORDER BY h.hostname), '[]'))::text "
	       "FROM host h LEFT JOIN LATERAL (SELECT * FROM host_inventory x WHERE x.host_id = h.host_id "
	       "ORDER BY valid_from DESC LIMIT 1) hi ON true",
	       0, NULL, one_json);
}

#define INVOICE_FIELDS                                                                                                 \
	"'id', b.invoice_id, 'kind', b.kind, 'state', b.state, 'tenant', b.tenant, "                                   \
	"'period', to_char(b.period, 'YYYY-MM'), 'number', b.number, 'currency', b.currency, "                         \
	"'total_nano', b.total, 'total', trim_scale(b.total::numeric / 1000000000)::text, "                            \
	"'created_at', b.created_at, 'finalised_at', b.finalised_at, "                                                 \
	"'credits', b.credits"

static void do_invoices(struct call *c)
{
	const char *p[1] = {scope(c)};
	submit(c,
	       "SELECT json_build_object('invoices', coalesce(json_agg(json_build_object(" INVOICE_FIELDS
	       ") ORDER BY b.period DESC, b.invoice_id DESC), '[]'))::text FROM bill_invoice b "
	       "WHERE ($1::text IS NULL OR b.tenant = $1)",
	       1, p, one_json);
}

static void do_invoice(struct call *c)
{
	if (web_id_parse(c->id) < 0) {
		fail(c, 404, "no such object");
		return;
	}
	const char *p[2] = {scope(c), c->id};
	submit(c,
	       "SELECT json_build_object(" INVOICE_FIELDS ", 'reason', b.reason, 'lines', (SELECT "
	       "coalesce(json_agg(json_build_object('line', l.line_no, 'kind', l.kind, 'project', l.project, "
	       "'vm', l.vm_name, 'meter', l.meter, 'qty', l.qty, 'per', l.per, 'unit', l.unit, 'rate', l.rate, "
	       "'amount_nano', l.amount, 'amount', trim_scale(l.amount::numeric / 1000000000)::text, 'plan', l.plan, "
	       "'version', l.version, 'note', l.note) "
	       "ORDER BY l.line_no), '[]') FROM bill_line l WHERE l.invoice_id = b.invoice_id))::text "
	       "FROM bill_invoice b WHERE ($1::text IS NULL OR b.tenant = $1) AND b.invoice_id = $2::int",
	       2, p, one_json);
}

static void do_me(struct call *c)
{
	json_t *j =
	    json_pack("{s:s, s:s, s:o, s:s}", "user", c->user, "role", role_name(c->role), "tenant",
	              c->tenant ? json_string(c->tenant) : json_null(), "via", c->by_token ? "token" : "session");
	if (!c->by_token)
		json_object_set_new(j, "csrf_token", json_string(c->csrf));
	reply_jansson(c, 200, j);
}

static void logout_done(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	struct call *c = arg;
	if (db_failed(c, res, failure, error))
		return;
	char cookie[160];
	snprintf(cookie, sizeof cookie, "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s", WEB_SESSION_COOKIE,
	         c->a->o.cookie_secure ? "; Secure" : "");
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Set-Cookie", cookie);
	if (c->a->auth) /* the session is gone: so is what was kept of it */
		web_cache_clear(c->a->auth);
	web_reply(c->a->server, c->req, 204, "application/json", "", 0);
	call_free(c);
}

static void do_logout(struct call *c)
{
	if (c->by_token) {
		fail(c, 400, "an API token has no session to end");
		return;
	}
	const char *p[1] = {c->token_hash};
	submit(c, "DELETE FROM web_session WHERE token_hash = $1", 1, p, logout_done);
}

/* Prometheus label values: \\, \" and \n escaped. */
static void label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

static void metrics_done(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	struct call *c = arg;
	if (db_failed(c, res, failure, error))
		return;
	char *text = NULL;
	size_t len = 0;
	FILE *f = vm_xmemstream(&text, &len);
	web_server_metrics(c->a->server, f);
	fprintf(f,
	        "# HELP vmeter_web_db_connections_up Database connections of the pool up now.\n"
	        "# TYPE vmeter_web_db_connections_up gauge\nvmeter_web_db_connections_up %u\n"
	        "# HELP vmeter_web_db_queries_queued Queries waiting for a database connection.\n"
	        "# TYPE vmeter_web_db_queries_queued gauge\nvmeter_web_db_queries_queued %zu\n",
	        vm_pgev_pool_up(c->a->pool), vm_pgev_pool_queued(c->a->pool));
	struct web_api *a = c->a;
	fprintf(f,
	        "# HELP vmeter_web_cache_answers Answers kept now (web.cache-mb).\n"
	        "# TYPE vmeter_web_cache_answers gauge\nvmeter_web_cache_answers %zu\n"
	        "# HELP vmeter_web_cache_bytes Bytes of the answers kept now, with their keys.\n"
	        "# TYPE vmeter_web_cache_bytes gauge\nvmeter_web_cache_bytes %zu\n"
	        "# HELP vmeter_web_cache_requests_total Requests for answers that are kept, by how they were served: "
	        "hit (kept and fresh), stale (too old, read again beside), stale_only (too old, enough reads under "
	        "way), fetch (read while the request waited or joined a read).\n"
	        "# TYPE vmeter_web_cache_requests_total counter\n"
	        "vmeter_web_cache_requests_total{served=\"hit\"} %llu\n"
	        "vmeter_web_cache_requests_total{served=\"stale\"} %llu\n"
	        "vmeter_web_cache_requests_total{served=\"stale_only\"} %llu\n"
	        "vmeter_web_cache_requests_total{served=\"fetch\"} %llu\n"
	        "# HELP vmeter_web_cache_refreshes_total Answers read again while a too old one was served.\n"
	        "# TYPE vmeter_web_cache_refreshes_total counter\nvmeter_web_cache_refreshes_total %llu\n"
	        "# HELP vmeter_web_cache_io_thread_hits_total Hits answered by the I/O thread that read the request, "
	        "without the handler's loop (web.threads > 0).\n"
	        "# TYPE vmeter_web_cache_io_thread_hits_total counter\nvmeter_web_cache_io_thread_hits_total %llu\n",
	        a->cache ? web_cache_size(a->cache) : 0, a->cache ? web_cache_bytes(a->cache) : 0,
	        (unsigned long long)atomic_load(&a->n_hit), (unsigned long long)a->n_stale,
	        (unsigned long long)a->n_stale_only, (unsigned long long)a->n_fetch, (unsigned long long)a->n_refresh,
	        (unsigned long long)atomic_load(&a->n_hit_io));
	fprintf(f, "# HELP vmeter_vm_cpu_cores CPU time a VM used in its latest stored minute (the last 15 minutes), "
	           "in cores over the part of the minute observed.\n# TYPE vmeter_vm_cpu_cores gauge\n");
	for (int i = 0; i < PQntuples(res); i++) {
		fputs("vmeter_vm_cpu_cores{uuid=\"", f);
		label(f, PQgetvalue(res, i, 0));
		fputs("\",name=\"", f);
		label(f, PQgetvalue(res, i, 1));
		fputs("\",tenant=\"", f);
		label(f, PQgetvalue(res, i, 2));
		fprintf(f, "\"} %s %s\n", PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
	}
	vm_xmemclose(f);
	web_reply(c->a->server, c->req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
	call_free(c);
}

static void do_metrics(struct call *c)
{
	const char *p[1] = {scope(c)};
	submit(c,
	       "SELECT v.uuid, i.name, i.tenant, round(u.cpu_ns::numeric / (u.coverage_ms::numeric * 1000000), 6), "
	       "(extract(epoch FROM u.minute) * 1000)::bigint "
	       "FROM (SELECT DISTINCT ON (vm_id) vm_id, minute, cpu_ns, coverage_ms FROM vm_usage_minute "
	       "WHERE minute >= now() - interval '15 minutes' AND coverage_ms > 0 AND cpu_ns IS NOT NULL "
	       "ORDER BY vm_id, minute DESC) u JOIN vm v ON v.vm_id = u.vm_id "
	       "JOIN LATERAL (SELECT name, tenant FROM vm_inventory x WHERE x.vm_id = u.vm_id "
	       "ORDER BY valid_from DESC LIMIT 1) i ON true WHERE ($1::text IS NULL OR i.tenant = $1) "
	       "ORDER BY i.name, v.uuid",
	       1, p, metrics_done);
}

/* ------------------------------------------------------------ kept answers */

/* A fetch for a cache ended: the answer is kept (a 200 of a->cache; an
 * authenticated principal's is kept by principal_settle()) and goes to
 * the requests that waited for it. */
static void cache_settle(struct call *c, int status, const char *body, size_t len)
{
	if (!c->fetch)
		return;
	struct web_cache_fetch *f = c->fetch;
	c->fetch = NULL;
	web_cache_done(c->fetch_cache, f, status, body, len, status == 200 && c->fetch_cache == c->a->cache, now_ms());
}

/* A kept answer, sent from where it is kept: held until the server is
 * done with it, and handed to sendfile() where it is in a file. */
static void reply_kept(struct call *c, const char *body, size_t len)
{
	off_t offset = 0;
	int fd = web_cache_file(body, &offset);
	web_reply_shared(c->a->server, c->req, 200, "application/json", body, len, fd, offset, web_cache_unhold,
	                 web_cache_hold(body));
	call_free(c);
}

static void cache_answered(int status, const char *body, size_t len, void *arg)
{
	struct call *c = arg;
	web_reply(c->a->server, c->req, status, "application/json", body, len);
	call_free(c);
}

/* Answers from the cache, or waits for a fetch under way (true); false:
 * the caller fetches (c->fetch set when the answer is to be kept).
 * The answers about VMs and the graphs' series depend on the request's
 * URI and the principal's tenant scope only (never on the user
 * otherwise), so that is the key: a tenant viewer's key holds its tenant,
 * staff share "*".  Nothing the API does changes a VM; what the collector
 * changes shows within web.cache-ms, and a relative range (from=-24h) is
 * then read at most that much (twice, once found too old) before now. */
static void run(struct call *c);

static bool kept_route(enum route r)
{
	return r == R_VMS || r == R_VM || r == R_VM_SERIES || r == R_HOST_SERIES;
}

/* The key of c's answer (the caller frees it): for the handler's loop and
 * for web_api_fast() alike, so that both keep tenants apart the same way. */
static char *answer_key(const struct call *c)
{
	const char *sc = scope(c);
	const char *uri = evhttp_request_get_uri(c->req);
	return sc ? vm_xasprintf("%zu:%s|%s", strlen(sc), sc, uri) : vm_xasprintf("*|%s", uri);
}

static bool from_cache(struct call *c)
{
	if (!c->a->cache || !kept_route(c->rd->route))
		return false;
	char *key = answer_key(c);
	const char *body;
	size_t len;
	enum web_cache_result r = web_cache_get(c->a->cache, key, now_ms(), &body, &len, cache_answered, c, &c->fetch);
	free(key);
	if (r == WEB_CACHE_HIT) {
		atomic_fetch_add(&c->a->n_hit, 1);
		reply_kept(c, body, len);
	}
	if (r == WEB_CACHE_MISS && body && c->a->refreshing >= c->a->max_refreshing) {
		/* too old, and enough are being read again: this request gets
		 * it as it is, a later one will read it */
		web_cache_abandon(c->a->cache, c->fetch);
		c->fetch = NULL;
		c->a->n_stale_only++;
		reply_kept(c, body, len);
		return true;
	}
	if (r == WEB_CACHE_MISS && body) {
		/* too old: this request gets it, and a call of the same
		 * principal's scope without a request reads the new one (no
		 * request waits for the database once an answer is kept) */
		struct call *refresh = vm_xcalloc(1, sizeof *refresh);
		refresh->refresh = true;
		c->a->refreshing++;
		c->a->n_stale++;
		c->a->n_refresh++;
		refresh->a = c->a;
		refresh->rd = c->rd;
		refresh->role = c->role;
		refresh->tenant = c->tenant ? vm_xstrdup(c->tenant) : NULL;
		memcpy(refresh->id, c->id, sizeof c->id);
		refresh->q = c->q; /* the series' range and metrics */
		c->q = NULL;
		refresh->fetch = c->fetch;
		refresh->fetch_cache = c->a->cache;
		c->fetch = NULL;
		reply_kept(c, body, len);
		run(refresh);
		return true;
	}
	if (r == WEB_CACHE_MISS)
		c->fetch_cache = c->a->cache;
	if (r != WEB_CACHE_HIT)
		c->a->n_fetch++;
	return r != WEB_CACHE_MISS;
}

/* ------------------------------------------------------------ dispatch */

static void run(struct call *c)
{
	switch (c->rd->route) {
	case R_LOGOUT: do_logout(c); break;
	case R_ME: do_me(c); break;
	case R_VMS: do_vms(c); break;
	case R_VM: do_vm(c); break;
	case R_HOSTS: do_hosts(c); break;
	case R_INVOICES: do_invoices(c); break;
	case R_INVOICE: do_invoice(c); break;
	case R_METRICS: do_metrics(c); break;
	case R_OVERVIEW: web_do_overview(c); break;
	case R_ALERTS: web_do_alerts(c); break;
	case R_REPORTS: web_do_reports(c); break;
	case R_REPORT_DOWNLOAD: web_do_report_download(c); break;
	case R_PLANS: web_do_plans(c); break;
	case R_INVOICE_DOWNLOAD: web_do_invoice_download(c); break;
	case R_VM_SERIES: web_do_vm_series(c); break;
	case R_VM_HISTORY: web_do_vm_history(c); break;
	case R_VM_USAGE: web_do_vm_usage(c); break;
	case R_HOST: web_do_host(c); break;
	case R_HOST_SERIES: web_do_host_series(c); break;
	default: fail(c, 500, "no handler"); break;
	}
}

/* ------------------------------------------------------------ kept principals
 *
 * A session's or API token's principal (user, role, tenant, CSRF token)
 * is kept for web.auth-cache-ms by the hash of its token, only while the
 * server listens for WEB_AUTH_CHANNEL: `vmeter-web token revoke` and
 * `user disable` notify it in their statement's transaction, logout clears
 * here, and a principal whose session or token ends within that time is
 * not kept.  A change made to the tables by hand shows within
 * web.auth-cache-ms.  Every request still makes its own checks (CSRF,
 * role) on the principal. */

static void authorised(struct call *c);

static void auth_event(enum web_pglisten_event ev, void *arg)
{
	struct web_api *a = arg;
	web_cache_clear(a->auth);
	a->auth_live = ev != WEB_PGLISTEN_DOWN;
}

/* The principal's fields as one text: id, role, tenant ('T' and the name,
 * or 'N'), CSRF token, user name, each ended by a NUL. */
static void principal_settle(struct call *c, bool keep)
{
	if (!c->fetch || c->fetch_cache != c->a->auth)
		return;
	char id[16];
	snprintf(id, sizeof id, "%d", c->user_id);
	const char *f[] = {
	    id, role_name(c->role), c->tenant ? "T" : "N", c->tenant ? c->tenant : "", c->csrf ? c->csrf : "", c->user};
	size_t len = 0;
	for (size_t i = 0; i < sizeof f / sizeof *f; i++)
		len += strlen(f[i]) + (i == 2 ? 0 : 1);
	char *text = vm_xmalloc(len), *p = text;
	for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
		size_t n = strlen(f[i]) + (i == 2 ? 0 : 1); /* the tenant's flag runs into its name */
		memcpy(p, f[i], n);
		p += n;
	}
	struct web_cache_fetch *fetch = c->fetch;
	c->fetch = NULL;
	web_cache_done(c->a->auth, fetch, 200, text, len, keep && c->a->auth_live, now_ms());
	free(text);
}

/* A principal's key in a->auth: by the hash of a session's or token's
 * token. */
static void principal_key(char key[80], bool by_token, const char *hash)
{
	snprintf(key, 80, "%c%s", by_token ? 't' : 's', hash);
}

static bool principal_unpack(struct call *c, const char *text, size_t len)
{
	const char *f[5];
	size_t n = 0;
	for (const char *p = text; p < text + len && n < 5; p += strlen(p) + 1)
		f[n++] = p;
	if (n != 5 || (f[2][0] != 'T' && f[2][0] != 'N'))
		return false;
	c->user_id = atoi(f[0]);
	c->role = role_parse(f[1]);
	c->tenant = f[2][0] == 'T' ? vm_xstrdup(f[2] + 1) : NULL;
	c->csrf = c->by_token ? NULL : vm_xstrdup(f[3]);
	c->user = vm_xstrdup(f[4]);
	return true;
}

static void principal_answered(int status, const char *body, size_t len, void *arg)
{
	struct call *c = arg;
	if (status == 200 && principal_unpack(c, body, len)) {
		authorised(c);
		return;
	}
	web_reply(c->a->server, c->req, status == 200 ? 500 : status, "application/json", body, len);
	call_free(c);
}

/* Answers from a kept principal, or waits for one being read (true);
 * false: the caller reads it (c->fetch set when it is to be kept). */
static bool principal_kept(struct call *c, const char *hash)
{
	struct web_api *a = c->a;
	if (!a->auth || !a->auth_live)
		return false;
	char key[80];
	principal_key(key, c->by_token, hash);
	const char *body;
	size_t len;
	struct web_cache_fetch *f = NULL;
	switch (web_cache_get(a->auth, key, now_ms(), &body, &len, principal_answered, c, &f)) {
	case WEB_CACHE_HIT:
		if (principal_unpack(c, body, len)) {
			authorised(c);
			return true;
		}
		fail(c, 500, "a kept principal is damaged");
		return true;
	case WEB_CACHE_WAIT: return true;
	case WEB_CACHE_MISS: break;
	}
	c->fetch = f;
	c->fetch_cache = a->auth;
	return false;
}

static void authenticated(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	struct call *c = arg;
	if (db_failed(c, res, failure, error))
		return;
	if (PQntuples(res) != 1) {
		fail(c, 401, c->by_token ? "unknown, expired or revoked API token" : "no session: log in");
		return;
	}
	c->user_id = atoi(PQgetvalue(res, 0, 0));
	c->user = vm_xstrdup(PQgetvalue(res, 0, 1));
	c->role = role_parse(PQgetvalue(res, 0, 2));
	if (!PQgetisnull(res, 0, 3))
		c->tenant = vm_xstrdup(PQgetvalue(res, 0, 3));
	if (!c->by_token)
		c->csrf = vm_xstrdup(PQgetvalue(res, 0, 4));
	if (c->role == ROLE_NONE) {
		fail(c, 403, "this user has no role");
		return;
	}
	principal_settle(c, PQgetvalue(res, 0, PQnfields(res) - 1)[0] == 't');
	authorised(c);
}

/* Why the known principal of c may not make its request, or NULL: for
 * the handler's loop and web_api_fast() alike. */
static const char *denied(const struct call *c)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(c->req);
	if (c->role == ROLE_NONE)
		return "this user has no role";
	if (!c->by_token && (m == EVHTTP_REQ_POST || m == EVHTTP_REQ_PUT || m == EVHTTP_REQ_DELETE)) {
		const char *t = evhttp_find_header(evhttp_request_get_input_headers(c->req), "X-CSRF-Token");
		if (!t)
			return "a state-changing request needs the session's X-CSRF-Token header";
		if (!web_secret_equal(t, c->csrf))
			return "X-CSRF-Token does not match the session's";
	}
	bool staff = c->role == ROLE_ADMIN || c->role == ROLE_OPERATOR;
	if ((c->rd->staff && !staff) || (c->rd->session_staff && !staff && !c->by_token))
		return "not allowed for a tenant viewer";
	return NULL;
}

/* The principal is known: what this request may do. */
static void authorised(struct call *c)
{
	const char *why = denied(c);
	if (why) {
		fail(c, 403, why);
		return;
	}
	if (from_cache(c))
		return;
	run(c);
}

/* The credential a request carries: an API token's or a session's, and
 * the hash of its token in hash; or none or a bad one, with the status
 * and err (errsize bytes) to answer. */
enum credential { CRED_NONE, CRED_TOKEN, CRED_SESSION };

static enum credential credential(struct evhttp_request *req, char hash[65], int *status, char *err, size_t errsize)
{
	char tok[80];
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	int got = web_bearer_get(evhttp_find_header(h, "Authorization"), tok, sizeof tok, err, errsize);
	if (got < 0) {
		*status = 401;
		return CRED_NONE;
	}
	if (got == 1) {
		web_token_hash(tok, hash);
		return CRED_TOKEN;
	}
	got = web_cookie_get(evhttp_find_header(h, "Cookie"), WEB_SESSION_COOKIE, tok, sizeof tok, err, errsize);
	if (got < 0) {
		*status = 400;
		return CRED_NONE;
	}
	if (got == 0 || strlen(tok) != WEB_TOKEN_HEX || !web_hex_valid(tok, WEB_TOKEN_HEX)) {
		*status = 401;
		snprintf(err, errsize, "%s", got == 0 ? "log in first (or send an API token)" : "no session: log in");
		return CRED_NONE;
	}
	web_token_hash(tok, hash);
	return CRED_SESSION;
}

static void authenticate(struct call *c)
{
	char err[256], hash[65];
	int status = 500;
	enum credential cred = credential(c->req, hash, &status, err, sizeof err);
	if (cred == CRED_NONE) {
		fail(c, status, err);
		return;
	}
	if (cred == CRED_TOKEN) {
		c->by_token = true;
		if (principal_kept(c, hash))
			return;
		const char *p[2] = {hash, c->a->auth_ms};
		/* the last column: whether it may be kept for auth_ms */
		submit(c,
		       "SELECT u.user_id, u.name, u.role, u.tenant, (t.expires_at IS NULL OR t.expires_at > now() + "
		       "$2::int * interval '1 millisecond') FROM web_token t JOIN web_user u USING (user_id) "
		       "WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR "
		       "t.expires_at > now()) AND NOT u.disabled",
		       2, p, authenticated);
		return;
	}
	memcpy(c->token_hash, hash, sizeof c->token_hash);
	if (principal_kept(c, c->token_hash))
		return;
	const char *p[2] = {c->token_hash, c->a->auth_ms};
	submit(c,
	       "SELECT u.user_id, u.name, u.role, u.tenant, s.csrf, s.expires_at > now() + $2::int * interval "
	       "'1 millisecond' FROM web_session s JOIN web_user u "
	       "USING (user_id) WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled",
	       2, p, authenticated);
}

/* The route of path, with its extension (NULL: a plain route) and the id
 * in it (*id, *idlen; NULL if it takes none); NULL if no route has it.
 * The method is the caller's to check. */
static const struct route_def *route_find(const char *path, const struct route_ext **rx, const char **id, size_t *idlen)
{
	size_t n_routes = sizeof routes / sizeof *routes, n_more = sizeof more_routes / sizeof *more_routes;
	*rx = NULL;
	*id = NULL;
	*idlen = 0;
	for (size_t i = 0; i < n_routes + n_more; i++) {
		const struct route_ext *x = i < n_routes ? NULL : &more_routes[i - n_routes];
		const struct route_def *r = x ? &x->d : &routes[i];
		const char *suffix = x ? x->suffix : NULL;
		size_t n = strlen(r->path);
		if (!r->with_id && strcmp(path, r->path) == 0) {
			*rx = x;
			return r;
		}
		if (r->with_id && strncmp(path, r->path, n) == 0 && path[n] && path[n] != '/') {
			/* the id is one segment; then the route's suffix, or nothing */
			const char *end = strchr(path + n, '/');
			if (suffix ? !end || strcmp(end, suffix) != 0 : end != NULL)
				continue;
			*rx = x;
			*id = path + n;
			*idlen = end ? (size_t)(end - *id) : strlen(*id);
			return r;
		}
	}
	return NULL;
}

void web_api_handle(struct evhttp_request *req, void *arg)
{
	struct web_api *a = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!path || !*path)
		path = "/";
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	if (m == EVHTTP_REQ_HEAD)
		m = EVHTTP_REQ_GET;
	const struct route_ext *rx;
	const char *id;
	size_t idlen;
	const struct route_def *rd = route_find(path, &rx, &id, &idlen);
	if (!rd && strncmp(path, "/static/", 8) == 0 && (m == EVHTTP_REQ_GET)) {
		web_static_serve(a->server, req, path + 8);
		return;
	}
	if (!rd) {
		web_reply_error(a->server, req, 404, "no such endpoint");
		return;
	}
	if ((int)m != rd->method) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
		                  rd->method == EVHTTP_REQ_GET ? "GET, HEAD" : "POST");
		web_reply_error(a->server, req, 405, "method not allowed here");
		return;
	}
	char err[256];
	/* parameters a route does not take are refused, not ignored */
	struct web_query *q =
	    web_query_parse(uri ? evhttp_uri_get_query(uri) : NULL, rx ? rx->params : NULL, err, sizeof err);
	if (!q) {
		web_reply_error(a->server, req, 400, "%s", err);
		return;
	}
	if (id && idlen >= 48) {
		web_query_free(q);
		web_reply_error(a->server, req, 404, "no such object");
		return;
	}
	switch (rd->route) {
	case R_INDEX:
		web_query_free(q);
		web_static_serve(a->server, req, "index.html");
		return;
	case R_OPENAPI:
		web_query_free(q);
		web_static_serve(a->server, req, "openapi.json");
		return;
	default: break;
	}
	struct call *c = vm_xcalloc(1, sizeof *c);
	c->a = a;
	c->req = req;
	c->rd = rd;
	c->q = q;
	if (id)
		snprintf(c->id, sizeof c->id, "%.*s", (int)idlen, id);
	if (rd->route == R_LOGIN)
		do_login(c);
	else
		authenticate(c);
}

/* A kept answer to a GET whose principal is kept too: answered here, on
 * the I/O thread, through the same route, credential, authorisation and
 * key as the handler's loop (the tenant scope in the key comes from the
 * kept principal, never from the request).  Anything else (no such
 * answer, a bad or unknown credential, a refusal, an answer too old) goes
 * to the handler's loop, which answers it as it always did. */
bool web_api_fast(struct evhttp_request *req, void *arg)
{
	struct web_api *a = arg;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	if (!a->cache || !a->auth || !a->auth_live || (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD))
		return false;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const struct route_ext *rx;
	const char *id;
	size_t idlen;
	const struct route_def *rd = path ? route_find(path, &rx, &id, &idlen) : NULL;
	if (!rd || rd->method != EVHTTP_REQ_GET || !kept_route(rd->route))
		return false;
	struct call c = {.a = a, .req = req, .rd = rd};
	char err[256], hash[65], key[80];
	int status;
	enum credential cred = credential(req, hash, &status, err, sizeof err);
	if (cred == CRED_NONE)
		return false;
	c.by_token = cred == CRED_TOKEN;
	principal_key(key, c.by_token, hash);
	size_t plen;
	void *pheld;
	const char *principal = web_cache_peek(a->auth, key, now_ms(), &plen, &pheld);
	if (!principal)
		return false;
	bool known = principal_unpack(&c, principal, plen);
	web_cache_unhold(principal, plen, pheld);
	const char *body = NULL;
	size_t len = 0;
	void *held = NULL;
	if (known && !denied(&c)) {
		char *akey = answer_key(&c);
		body = web_cache_peek(a->cache, akey, now_ms(), &len, &held);
		free(akey);
	}
	free(c.user);
	free(c.tenant);
	free(c.csrf);
	if (!body)
		return false;
	atomic_fetch_add(&a->n_hit, 1);
	atomic_fetch_add(&a->n_hit_io, 1);
	off_t offset = 0;
	int fd = web_cache_file(body, &offset);
	web_reply_shared(a->server, req, 200, "application/json", body, len, fd, offset, web_cache_unhold, held);
	return true;
}

struct web_api *web_api_new(struct vm_pgev_pool *pool, struct web_hasher *hasher, const struct web_api_opts *opts)
{
	struct web_api *a = vm_xcalloc(1, sizeof *a);
	a->pool = pool;
	a->hasher = hasher;
	a->o = *opts;
	int64_t lock = (int64_t)opts->login_lock_s * 1000, max = (int64_t)opts->login_lock_max_s * 1000;
	a->rl = web_ratelimit_new(10000, opts->login_free, lock, max);
	a->rl_a = web_ratelimit_new(10000, opts->login_address_free, lock, max);
	if (opts->cache_ms > 0)
		a->cache = web_cache_new(opts->cache_mb << 20, opts->cache_ms);
	a->graph_cache_ms = opts->graph_cache_ms;
	a->max_refreshing = opts->db_connections > 1 ? opts->db_connections - 1 : 1;
	snprintf(a->auth_ms, sizeof a->auth_ms, "%d", opts->auth_cache_ms);
	if (opts->auth_cache_ms > 0 && opts->base && opts->conninfo) {
		char err[256];
		a->auth = web_cache_new(16 << 20, opts->auth_cache_ms);
		a->listen =
		    web_pglisten_new(opts->base, opts->conninfo, WEB_AUTH_CHANNEL, auth_event, a, err, sizeof err);
		if (!a->listen) {
			vm_err("%s", err);
			web_cache_free(a->auth);
			a->auth = NULL;
		}
	}
	if (!a->rl || !a->rl_a) {
		web_pglisten_free(a->listen);
		web_cache_free(a->auth);
		web_cache_free(a->cache);
		web_ratelimit_free(a->rl);
		web_ratelimit_free(a->rl_a);
		free(a);
		return NULL;
	}
	return a;
}

void web_api_set_server(struct web_api *a, struct web_server *s)
{
	a->server = s;
}

void web_api_set_backends(struct web_api *a, struct web_worker *worker, struct vm_rrd *rrd)
{
	a->worker = worker;
	a->rrd = rrd;
}

/* ------------------------------------------------------------ call.h */

struct vm_pgev_pool *web_call_pool(const struct call *c)
{
	return c->a->pool;
}

struct web_worker *web_call_worker(const struct call *c)
{
	return c->a->worker;
}

int web_call_graph_cache_ms(const struct call *c)
{
	return c->a->graph_cache_ms;
}

struct vm_rrd *web_call_rrd(const struct call *c)
{
	return c->a->rrd;
}

const char *web_call_scope(const struct call *c)
{
	return scope(c);
}

bool web_call_staff(const struct call *c)
{
	return c->role == ROLE_ADMIN || c->role == ROLE_OPERATOR;
}

void web_call_fail(struct call *c, int status, const char *msg)
{
	fail(c, status, msg);
}

void web_call_reply(struct call *c, int status, const char *content_type, const char *body, size_t len)
{
	/* only JSON routes are kept (from_cache), and answered as JSON */
	cache_settle(c, status, body, len);
	if (c->req)
		web_reply(c->a->server, c->req, status, content_type, body, len);
	call_free(c);
}

bool web_call_db_failed(struct call *c, PGresult *res, enum vm_pg_failure failure, const char *error)
{
	return db_failed(c, res, failure, error);
}

void web_call_submit(struct call *c, const char *sql, int n, const char *const *params, vm_pgev_cb cb)
{
	submit(c, sql, n, params, cb);
}

void web_call_one_json(PGresult *res, enum vm_pg_failure failure, const char *error, void *arg)
{
	one_json(res, failure, error, arg);
}

void web_api_free(struct web_api *a)
{
	if (!a)
		return;
	web_ratelimit_free(a->rl);
	web_ratelimit_free(a->rl_a);
	web_pglisten_free(a->listen);
	web_cache_free(a->auth);
	web_cache_free(a->cache);
	free(a);
}
