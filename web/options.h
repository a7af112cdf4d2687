/* The `web { }` section of vmeter.conf (vmeter.conf(5), docs/WEB.md):
 * the options vmeter-web reads, in the table vm_conf_load_program()
 * checks them with. */
#ifndef VM_WEB_OPTIONS_H
#define VM_WEB_OPTIONS_H

#include "conf.h"

struct web_options {
	char *listen;               /* "127.0.0.1:8080" */
	int threads;                /* I/O threads; 0: the main loop serves; -1: one per CPU, at most 8 */
	int max_connections;        /* the connection cap */
	int max_header_bytes;       /* request line and headers */
	int max_body_bytes;         /* a request body */
	int request_timeout_s;      /* a complete request within, from accept or the last response */
	int io_timeout_s;           /* a socket without traffic this long is closed */
	int session_hours;          /* a session's life */
	int cookie_secure;          /* 1: Secure cookies (TLS in front) */
	int db_connections;         /* the pool's size */
	int query_timeout_ms;       /* a query's answer within */
	int login_failures;         /* failed logins of a user before a lock */
	int login_address_failures; /* failed logins from an address before a lock */
	int login_lock_s;           /* the first lock, doubling */
	int login_lock_max_s;       /* the longest lock */
	int cache_ms;               /* answers kept this long (0: none) */
	int cache_mb;               /* at most this much of them */
	int auth_cache_ms;          /* principals kept this long (0: none) */
	int graph_cache_ms;         /* graphs' answers kept for half their step, at most this */
	char *tls_certificate;      /* PEM chain; "" for plain HTTP */
	char *tls_key;              /* PEM private key */
};

extern const struct vm_conf_program web_conf_program;

/* The section's values of a configuration loaded with web_conf_program
 * (borrowed from conf). */
const struct web_options *web_options(const struct vm_conf *conf);

#endif
