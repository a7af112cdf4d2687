/* The `web { }` section of vmeter.conf (options.h). */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "options.h"

static const char *check_listen(const char *v)
{
	const char *colon = strrchr(v, ':');
	return colon && colon != v && colon[1] ? NULL : "must be ADDRESS:PORT or [IPV6]:PORT";
}

#define O(f) offsetof(struct web_options, f)
static const struct vm_conf_option options[] = {
    {"listen", VM_CONF_STR, O(listen), 3, 200, 0, "127.0.0.1:8080", check_listen},
    {"threads", VM_CONF_INT, O(threads), -1, 64, -1, NULL, NULL},
    {"max-connections", VM_CONF_INT, O(max_connections), 1, 100000, 512, NULL, NULL},
    {"max-header-bytes", VM_CONF_INT, O(max_header_bytes), 1024, 1048576, 8192, NULL, NULL},
    {"max-body-bytes", VM_CONF_INT, O(max_body_bytes), 1024, 16777216, 65536, NULL, NULL},
    {"request-timeout", VM_CONF_INT, O(request_timeout_s), 1, 3600, 10, NULL, NULL},
    {"io-timeout", VM_CONF_INT, O(io_timeout_s), 1, 3600, 30, NULL, NULL},
    {"session-hours", VM_CONF_INT, O(session_hours), 1, 720, 12, NULL, NULL},
    {"cookie-secure", VM_CONF_INT, O(cookie_secure), 0, 1, 0, NULL, NULL},
    {"db-connections", VM_CONF_INT, O(db_connections), 1, 64, 4, NULL, NULL},
    {"query-timeout-ms", VM_CONF_INT, O(query_timeout_ms), 100, 600000, 10000, NULL, NULL},
    {"login-failures", VM_CONF_INT, O(login_failures), 1, 100, 5, NULL, NULL},
    {"login-address-failures", VM_CONF_INT, O(login_address_failures), 1, 10000, 20, NULL, NULL},
    {"login-lock", VM_CONF_INT, O(login_lock_s), 1, 3600, 1, NULL, NULL},
    {"login-lock-max", VM_CONF_INT, O(login_lock_max_s), 1, 86400, 900, NULL, NULL},
    {"cache-ms", VM_CONF_INT, O(cache_ms), 0, 60000, 1000, NULL, NULL},
    {"auth-cache-ms", VM_CONF_INT, O(auth_cache_ms), 0, 60000, 10000, NULL, NULL},
    {"cache-mb", VM_CONF_INT, O(cache_mb), 1, 4096, 64, NULL, NULL},
    {"graph-cache-ms", VM_CONF_INT, O(graph_cache_ms), 0, 3600000, 300000, NULL, NULL},
    {"tls-certificate", VM_CONF_STR, O(tls_certificate), 0, 4096, 0, "", NULL},
    {"tls-key", VM_CONF_STR, O(tls_key), 0, 4096, 0, "", NULL},
};

const struct vm_conf_program web_conf_program = {"web", options, sizeof options / sizeof *options,
                                                 sizeof(struct web_options)};

const struct web_options *web_options(const struct vm_conf *conf)
{
	return conf->program_values;
}
