/* TLS for vmeter-web (tls.h). */
#include "config.h"

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>

#include "tls.h"
#include "xalloc.h"

struct web_tls {
	SSL_CTX *ctx;
};

static void ssl_error(char *err, size_t errsize, const char *what, const char *file)
{
	char why[256] = "unknown reason";
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, why, sizeof why);
	ERR_clear_error();
	snprintf(err, errsize, "tls: %s '%s': %s", what, file, why);
}

struct web_tls *web_tls_new(const char *cert_file, const char *key_file, char *err, size_t errsize)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		ssl_error(err, errsize, "cannot make a context for", cert_file);
		return NULL;
	}
	/* TLS 1.2 and 1.3 with OpenSSL's default ciphers (no RC4, no export,
	 * no CBC-only suites in 1.3); the server's order wins; no
	 * renegotiation, no compression */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		ssl_error(err, errsize, "cannot read the certificate", cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		ssl_error(err, errsize, "cannot use the key", key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, errsize, "the key does not match the certificate", key_file);
		goto fail;
	}
	struct web_tls *t = vm_xcalloc(1, sizeof *t);
	t->ctx = ctx;
	return t;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void web_tls_free(struct web_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

struct bufferevent *web_tls_bufferevent(struct web_tls *t, struct event_base *base)
{
	SSL *ssl = SSL_new(t->ctx);
	if (!ssl)
		abort();
	/* fd -1: evhttp sets the accepted socket right after */
	struct bufferevent *bev =
	    bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		abort();
	/* clients that close without close_notify are common; their requests
	 * were complete or are refused anyway */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}
