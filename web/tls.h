/* TLS for vmeter-web through libevent's OpenSSL bufferevents: the
 * server's certificate and key, TLS 1.2 or later, and a bufferevent per
 * accepted connection (web/server.c makes them in its evhttp_set_bevcb()
 * callback, where it counts connections too). */
#ifndef VM_WEB_TLS_H
#define VM_WEB_TLS_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stddef.h>

struct web_tls;

/* Loads the certificate chain (PEM) and its private key (PEM) and checks
 * that they match.  NULL with err (naming the file and OpenSSL's reason)
 * if they cannot be read or do not match. */
struct web_tls *web_tls_new(const char *cert_file, const char *key_file, char *err, size_t errsize);
void web_tls_free(struct web_tls *t);

/* A new bufferevent on base (borrowed) that accepts a TLS connection on
 * the socket evhttp gives it; the caller (evhttp) owns it.  Aborts when
 * out of memory, as the x* wrappers do. */
struct bufferevent *web_tls_bufferevent(struct web_tls *t, struct event_base *base);

#endif
