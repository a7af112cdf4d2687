/* The UI's files (web/static/), compiled into vmeter-web by
 * scripts/embed-static.sh: the program serves them without reading the
 * file system, so no request can name a path.  Each is served with its
 * Content-Type, a strong ETag (SHA-256 of its bytes, made at first use)
 * and "Cache-Control: no-cache" (a browser revalidates: 304 if
 * unchanged); the vendored library (vendor/) is immutable within a build
 * and may be kept for a day. */
#ifndef VM_WEB_STATIC_H
#define VM_WEB_STATIC_H

#include <event2/http.h>
#include <stddef.h>

#include "server.h"

struct web_static_file {
	const char *name; /* "index.html", "vendor/uPlot.min.css" */
	const unsigned char *data;
	size_t len;
};

/* The generated table (web/static_files.c), in name order. */
extern const struct web_static_file web_static_files[];
extern const size_t web_static_n_files;

/* Answers req with file `name` (an exact name of the table: anything else
 * is a 404), or 304 when its If-None-Match has the file's ETag. */
void web_static_serve(struct web_server *s, struct evhttp_request *req, const char *name);

/* The Content-Type of a name by its extension (static). */
const char *web_static_type(const char *name);

#endif
