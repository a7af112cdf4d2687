/* The UI's embedded files (static.h). */
#include "config.h"

#include "static.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define MAX_FILES 64

static char etags[MAX_FILES][70]; /* "\"" + 64 hex + "\"" */
static pthread_once_t etags_once = PTHREAD_ONCE_INIT;

static void etags_make(void)
{
	for (size_t i = 0; i < web_static_n_files && i < MAX_FILES; i++) {
		unsigned char h[crypto_hash_sha256_BYTES];
		char hex[2 * crypto_hash_sha256_BYTES + 1];
		crypto_hash_sha256(h, web_static_files[i].data, web_static_files[i].len);
		sodium_bin2hex(hex, sizeof hex, h, sizeof h);
		snprintf(etags[i], sizeof etags[i], "\"%.64s\"", hex);
	}
}

const char *web_static_type(const char *name)
{
	static const char *const types[][2] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".json", "application/json"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".txt", "text/plain; charset=utf-8"},
	};
	const char *dot = strrchr(name, '.');
	for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
		if (strcmp(dot, types[i][0]) == 0)
			return types[i][1];
	return "application/octet-stream";
}

/* Whether an If-None-Match header names etag ("*", or a list). */
static int matches(const char *inm, const char *etag)
{
	if (!inm)
		return 0;
	if (strcmp(inm, "*") == 0)
		return 1;
	size_t n = strlen(etag);
	for (const char *p = strstr(inm, etag); p; p = strstr(p + 1, etag)) {
		char before = p == inm ? ',' : p[-1], after = p[n];
		/* W/"x" matches too: weak comparison, as RFC 9110 asks for If-None-Match */
		if ((before == ',' || before == ' ' || before == '/') &&
		    (after == ',' || after == ' ' || after == '\0'))
			return 1;
	}
	return 0;
}

void web_static_serve(struct web_server *s, struct evhttp_request *req, const char *name)
{
	size_t i = 0;
	while (i < web_static_n_files && strcmp(web_static_files[i].name, name) != 0)
		i++;
	if (i == web_static_n_files || i >= MAX_FILES) {
		web_reply_error(s, req, 404, "no such file");
		return;
	}
	pthread_once(&etags_once, etags_make);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "ETag", etags[i]);
	evhttp_add_header(out, "Cache-Control",
	                  strncmp(name, "vendor/", 7) == 0 ? "public, max-age=86400" : "no-cache");
	const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
	if (matches(inm, etags[i])) {
		web_reply(s, req, 304, web_static_type(name), "", 0);
		return;
	}
	const struct web_static_file *f = &web_static_files[i];
	web_reply(s, req, 200, web_static_type(name), (const char *)f->data, f->len);
}
