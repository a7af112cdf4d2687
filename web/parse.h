/* Parsing what a web client sends: query strings, the Cookie and
 * Authorization headers, JSON bodies and the ids in paths.
 *
 * Every parser here takes untrusted bytes, has an explicit size cap and
 * refuses (never truncates or guesses): duplicate keys, keys the endpoint
 * does not know, bad percent escapes, NUL bytes and text that is not
 * UTF-8 are errors with a message naming what was wrong, which the server
 * sends back as a 400 (the fuzz target tests/fuzz/fuzz_web.c runs them
 * all).  No global state; no allocation survives a failed call. */
#ifndef VM_WEB_PARSE_H
#define VM_WEB_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define WEB_QUERY_MAX_BYTES 2048 /* a whole query string */
#define WEB_QUERY_MAX_PARAMS 32
#define WEB_COOKIE_MAX_BYTES 4096 /* a whole Cookie header */
#define WEB_TOKEN_HEX 64          /* session and API tokens: 32 random bytes */
#define WEB_API_TOKEN_PREFIX "vmt_"

struct web_query;

/* Parses a query string ("a=1&b=x%20y"; NULL or "" for none) whose keys
 * must all be in `allowed` (a NULL-terminated list; NULL allows none).
 * '+' is a space; %XX escapes are decoded; a key without '=' has the
 * value "".  Returns the parsed query (free with web_query_free), or NULL
 * with the reason in err. */
struct web_query *web_query_parse(const char *qs, const char *const *allowed, char *err, size_t errsize);
/* The value of key (borrowed from q), or NULL if absent. */
const char *web_query_get(const struct web_query *q, const char *key);
size_t web_query_count(const struct web_query *q);
void web_query_free(struct web_query *q);

/* Finds cookie `name` in a Cookie header (RFC 6265: "a=1; b=2"; NULL:
 * no header).  Returns 1 and the value in out (outsize bytes, NUL
 * included), 0 if it is not there, -1 with err if the header is over
 * WEB_COOKIE_MAX_BYTES, the cookie appears twice (a planted duplicate must
 * not choose which one counts) or its value does not fit in out or has
 * characters a cookie value cannot. */
int web_cookie_get(const char *header, const char *name, char *out, size_t outsize, char *err, size_t errsize);

/* The token of an "Authorization: Bearer vmt_<64 hex>" header.  Returns 1
 * with the whole token in out (outsize >= 69), 0 if header is NULL, -1
 * with err for anything else (another scheme, a malformed token). */
int web_bearer_get(const char *header, char *out, size_t outsize, char *err, size_t errsize);

/* A JSON request body: len bytes (not NUL-terminated), at most max, that
 * must be one JSON object without duplicate keys.  Returns a new
 * reference (the caller json_decref()s it) or NULL with err. */
json_t *web_json_body(const char *data, size_t len, size_t max, char *err, size_t errsize);
/* A required string member of obj, 1 to maxlen bytes of UTF-8 without
 * NUL.  Returns 0 with *out borrowed from obj, -1 with err naming key. */
int web_json_string(const json_t *obj, const char *key, size_t maxlen, const char **out, char *err, size_t errsize);
/* True if obj has only members named in `allowed` (NULL-terminated);
 * else false with the first unknown one named in err. */
bool web_json_only(const json_t *obj, const char *const *allowed, char *err, size_t errsize);

/* A UUID in canonical text form (36 characters, hex and dashes). */
bool web_uuid_valid(const char *s);
/* A decimal id 1..2147483647 with no sign, space or leading zero; -1 if
 * s is anything else. */
long web_id_parse(const char *s);
/* True if every byte of s (len bytes) is a lower-case hex digit. */
bool web_hex_valid(const char *s, size_t len);

#endif
