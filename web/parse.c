/* Parsing what a web client sends (parse.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "parse.h"
#include "xalloc.h"

struct web_query {
	size_t n;
	char *key[WEB_QUERY_MAX_PARAMS];
	char *value[WEB_QUERY_MAX_PARAMS];
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes len bytes of a query component into a new string; NULL with
 * err on a bad escape, a NUL or text that is not UTF-8. */
static char *decode(const char *s, size_t len, const char *what, char *err, size_t errsize)
{
	char *out = vm_xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (len - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
				snprintf(err, errsize, "query string: bad percent escape in %s", what);
				free(out);
				return NULL;
			}
			c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		}
		if (c == 0) {
			snprintf(err, errsize, "query string: NUL byte in %s", what);
			free(out);
			return NULL;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	if (!vm_utf8_valid(out)) {
		snprintf(err, errsize, "query string: %s is not UTF-8", what);
		free(out);
		return NULL;
	}
	return out;
}

void web_query_free(struct web_query *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++) {
		free(q->key[i]);
		free(q->value[i]);
	}
	free(q);
}

struct web_query *web_query_parse(const char *qs, const char *const *allowed, char *err, size_t errsize)
{
	struct web_query *q = vm_xcalloc(1, sizeof *q);
	if (!qs || !*qs)
		return q;
	size_t total = strlen(qs);
	if (total > WEB_QUERY_MAX_BYTES) {
		snprintf(err, errsize, "query string: longer than %d bytes", WEB_QUERY_MAX_BYTES);
		goto fail;
	}
	const char *p = qs, *end = qs + total;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		if (stop == p) { /* "a=1&&b=2" or a trailing '&' */
			snprintf(err, errsize, "query string: empty parameter");
			goto fail;
		}
		if (q->n == WEB_QUERY_MAX_PARAMS) {
			snprintf(err, errsize, "query string: more than %d parameters", WEB_QUERY_MAX_PARAMS);
			goto fail;
		}
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *kend = eq ? eq : stop;
		char *key = decode(p, (size_t)(kend - p), "a parameter name", err, errsize);
		if (!key)
			goto fail;
		if (!*key) {
			free(key);
			snprintf(err, errsize, "query string: empty parameter name");
			goto fail;
		}
		bool known = false;
		for (size_t i = 0; allowed && allowed[i] && !known; i++)
			known = strcmp(allowed[i], key) == 0;
		char shown[96];
		vm_log_escape(shown, sizeof shown, key);
		if (!known) {
			snprintf(err, errsize, "query string: unknown parameter '%s'", shown);
			free(key);
			goto fail;
		}
		for (size_t i = 0; i < q->n; i++)
			if (strcmp(q->key[i], key) == 0) {
				snprintf(err, errsize, "query string: parameter '%s' given twice", shown);
				free(key);
				goto fail;
			}
		char *value = eq ? decode(eq + 1, (size_t)(stop - eq - 1), "a value", err, errsize) : vm_xstrdup("");
		if (!value) {
			free(key);
			goto fail;
		}
		q->key[q->n] = key;
		q->value[q->n++] = value;
		p = amp ? amp + 1 : end;
		if (amp && p == end) {
			snprintf(err, errsize, "query string: empty parameter");
			goto fail;
		}
	}
	return q;
fail:
	web_query_free(q);
	return NULL;
}

const char *web_query_get(const struct web_query *q, const char *key)
{
	for (size_t i = 0; q && i < q->n; i++)
		if (strcmp(q->key[i], key) == 0)
			return q->value[i];
	return NULL;
}

size_t web_query_count(const struct web_query *q)
{
	return q ? q->n : 0;
}

/* RFC 6265 cookie-octet: visible ASCII but '"', ',', ';', '\\'. */
static bool cookie_octet(int c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) ||
	       (c >= 0x5d && c <= 0x7e);
}

int web_cookie_get(const char *header, const char *name, char *out, size_t outsize, char *err, size_t errsize)
{
	if (!header)
		return 0;
	size_t total = strlen(header), nlen = strlen(name);
	if (total > WEB_COOKIE_MAX_BYTES) {
		snprintf(err, errsize, "cookie header: longer than %d bytes", WEB_COOKIE_MAX_BYTES);
		return -1;
	}
	int found = 0;
	const char *p = header;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		if (!*p)
			break;
		const char *semi = strchr(p, ';');
		const char *stop = semi ? semi : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		/* other cookies are not ours to judge: only the one we read */
		if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
			if (found) {
				snprintf(err, errsize, "cookie '%s' given twice", name);
				return -1;
			}
			found = 1;
			const char *v = eq + 1, *vend = stop;
			while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
				vend--;
			if (vend - v >= 2 && *v == '"' && vend[-1] == '"') {
				v++;
				vend--;
			}
			size_t vlen = (size_t)(vend - v);
			if (vlen + 1 > outsize) {
				snprintf(err, errsize, "cookie '%s': value too long", name);
				return -1;
			}
			for (size_t i = 0; i < vlen; i++)
				if (!cookie_octet((unsigned char)v[i])) {
					snprintf(err, errsize, "cookie '%s': bad character in its value", name);
					return -1;
				}
			memcpy(out, v, vlen);
			out[vlen] = '\0';
		}
		p = stop;
	}
	return found;
}

bool web_hex_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int web_bearer_get(const char *header, char *out, size_t outsize, char *err, size_t errsize)
{
	if (!header)
		return 0;
	static const char scheme[] = "Bearer ";
	size_t plen = strlen(WEB_API_TOKEN_PREFIX), want = plen + WEB_TOKEN_HEX;
	if (strncmp(header, scheme, sizeof scheme - 1) != 0) {
		snprintf(err, errsize, "authorization header: only the Bearer scheme is accepted");
		return -1;
	}
	const char *t = header + sizeof scheme - 1;
	if (strlen(t) != want || strncmp(t, WEB_API_TOKEN_PREFIX, plen) != 0 ||
	    !web_hex_valid(t + plen, WEB_TOKEN_HEX)) {
		snprintf(err, errsize,
		         "authorization header: not a vmeter API token (" WEB_API_TOKEN_PREFIX
		         " and 64 lower-case hex digits)");
		return -1;
	}
	if (outsize < want + 1) {
		snprintf(err, errsize, "authorization header: no room for the token");
		return -1;
	}
	memcpy(out, t, want + 1);
	return 1;
}

json_t *web_json_body(const char *data, size_t len, size_t max, char *err, size_t errsize)
{
	if (len > max) {
		snprintf(err, errsize, "body: longer than %zu bytes", max);
		return NULL;
	}
	if (len == 0) {
		snprintf(err, errsize, "body: empty, a JSON object was expected");
		return NULL;
	}
	json_error_t je;
	/* duplicates refused: two "user" members must not choose which counts */
	json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		snprintf(err, errsize, "body: not JSON: %s at byte %d", je.text, je.position);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(err, errsize, "body: a JSON object was expected");
		return NULL;
	}
	return j;
}

int web_json_string(const json_t *obj, const char *key, size_t maxlen, const char **out, char *err, size_t errsize)
{
	const json_t *v = json_object_get(obj, key);
	if (!v || !json_is_string(v)) {
		snprintf(err, errsize, "body: '%s' must be a string", key);
		return -1;
	}
	size_t len = json_string_length(v);
	const char *s = json_string_value(v);
	if (len == 0 || len > maxlen) {
		snprintf(err, errsize, "body: '%s' must be 1 to %zu bytes", key, maxlen);
		return -1;
	}
	if (strlen(s) != len) { /* jansson allows \u0000 inside */
		snprintf(err, errsize, "body: '%s' contains a NUL character", key);
		return -1;
	}
	*out = s;
	return 0;
}

bool web_json_only(const json_t *obj, const char *const *allowed, char *err, size_t errsize)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		bool known = false;
		for (size_t i = 0; allowed[i] && !known; i++)
			known = strcmp(allowed[i], key) == 0;
		if (!known) {
			char shown[96];
			vm_log_escape(shown, sizeof shown, key);
			snprintf(err, errsize, "body: unknown member '%s'", shown);
			return false;
		}
	}
	return true;
}

bool web_uuid_valid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : hexval((unsigned char)s[i]) < 0)
			return false;
	}
	return true;
}

long web_id_parse(const char *s)
{
	if (!*s || *s == '0' || strlen(s) > 10)
		return -1;
	long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v <= 2147483647L ? v : -1;
}
