/* Secrets of the web UI (secret.h). */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "secret.h"

static char dummy[WEB_HASH_STR_MAX];

int web_secret_init(void)
{
	if (sodium_init() < 0)
		return -1;
	if (!dummy[0]) {
		char pw[65];
		web_token_new(pw);
		if (web_password_hash(pw, dummy) < 0)
			return -1;
	}
	return 0;
}

int web_password_hash(const char *password, char out[WEB_HASH_STR_MAX])
{
	_Static_assert(WEB_HASH_STR_MAX >= crypto_pwhash_STRBYTES, "room for the hash string");
	return crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                             crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) == 0
	           ? 0
	           : -1;
}

bool web_password_verify(const char *stored, const char *password)
{
	return crypto_pwhash_str_verify(stored, password, strlen(password)) == 0;
}

const char *web_password_dummy(void)
{
	return dummy;
}

void web_token_new(char out[65])
{
	unsigned char b[32];
	randombytes_buf(b, sizeof b);
	sodium_bin2hex(out, 65, b, sizeof b);
	sodium_memzero(b, sizeof b);
}

void web_token_hash(const char *s, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
	sodium_bin2hex(out, 65, h, sizeof h);
}

bool web_secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return false;
	return la == 0 || sodium_memcmp(a, b, la) == 0;
}
