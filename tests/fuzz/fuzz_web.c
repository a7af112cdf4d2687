/* Fuzz target for what vmeter-web parses from clients (web/parse.h): the
 * input's first byte chooses the parser, the rest is its text.  Besides
 * not crashing or leaking, every input is accepted with results that
 * hold their promises (no duplicate keys, decoded values without NUL,
 * cookie values of cookie characters, tokens of the right form) or
 * refused with a message.  Built as a libFuzzer target or with
 * tests/fuzz/replay.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "parse.h"
#include "replay.h"

#define CHECK FUZZ_CHECK

static const char *const allowed[] = {"from", "to", "q", "vm", "a", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	if (size < 1)
		return 0;
	char *text = malloc(size);
	memcpy(text, d + 1, size - 1);
	text[size - 1] = '\0';
	char err[512] = "";
	switch (d[0] % 4) {
	case 0: {
		struct web_query *q = web_query_parse(text, allowed, err, sizeof err);
		if (q) {
			CHECK(web_query_count(q) <= WEB_QUERY_MAX_PARAMS);
			for (int i = 0; allowed[i]; i++) {
				const char *v = web_query_get(q, allowed[i]);
				CHECK(!v || vm_utf8_valid(v));
			}
			web_query_free(q);
		} else {
			CHECK(err[0] != '\0');
		}
		break;
	}
	case 1: {
		char out[80];
		int r = web_cookie_get(text, "vmeter_session", out, sizeof out, err, sizeof err);
		CHECK(r >= -1 && r <= 1);
		if (r == 1)
			for (const char *p = out; *p; p++)
				CHECK(*p > 0x20 && *p < 0x7f && *p != ';' && *p != ',' && *p != '"' && *p != '\\');
		if (r < 0)
			CHECK(err[0] != '\0');
		break;
	}
	case 2: {
		char out[80];
		int r = web_bearer_get(text, out, sizeof out, err, sizeof err);
		CHECK(r == -1 || r == 1);
		if (r == 1)
			CHECK(strlen(out) == 68 && strncmp(out, "vmt_", 4) == 0 && web_hex_valid(out + 4, 64));
		break;
	}
	case 3: {
		json_t *j = web_json_body((const char *)d + 1, size - 1, 4096, err, sizeof err);
		if (j) {
			CHECK(json_is_object(j));
			const char *s;
			if (web_json_string(j, "user", 64, &s, err, sizeof err) == 0)
				CHECK(strlen(s) >= 1 && strlen(s) <= 64);
			json_decref(j);
		} else {
			CHECK(err[0] != '\0');
		}
		(void)web_uuid_valid(text);
		long id = web_id_parse(text);
		CHECK(id == -1 || (id >= 1 && id <= 2147483647L));
		break;
	}
	}
	free(text);
	return 0;
}

static const struct fuzz_token tokens[] = {
    {"\x00", 1},
    {"\x01", 1},
    {"\x02", 1},
    {"\x03", 1},
    {"from=", 5},
    {"&", 1},
    {"%", 1},
    {"%00", 3},
    {"%C3%A9", 6},
    {"+", 1},
    {"=", 1},
    {"; ", 2},
    {"vmeter_session=", 15},
    {"\"", 1},
    {"Bearer vmt_", 11},
    {"0123456789abcdef", 16},
    {"{\"user\": ", 9},
    {"\"password\"", 10},
    {"}", 1},
    {"\\u0000", 6},
    {"\xff", 1},
    {"[[[[[[[[", 8},
};

const struct fuzz_target fuzz_target = {"fuzz_web", tokens, sizeof tokens / sizeof *tokens, 4096, NULL};
