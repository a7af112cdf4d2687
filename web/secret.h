/* Secrets of the web UI, through libsodium: Argon2id password hashes
 * (crypto_pwhash_str: the salt and parameters live in the string), random
 * tokens, their SHA-256 for storage, and constant-time comparison.
 * web_secret_init() first (sodium_init); thread-safe afterwards. */
#ifndef VM_WEB_SECRET_H
#define VM_WEB_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define WEB_HASH_STR_MAX 128  /* crypto_pwhash_STRBYTES */
#define WEB_PASSWORD_MAX 1024 /* longer passwords are refused, not cut */
#define WEB_PASSWORD_MIN 8

/* 0, or -1 if libsodium cannot start (no entropy source). */
int web_secret_init(void);

/* Hashes password into out (WEB_HASH_STR_MAX bytes) with Argon2id at
 * libsodium's interactive limits (64 MiB, 2 passes: ~0.1 s; run it off
 * the event loop, web/hasher.h).  0, or -1 when out of memory. */
int web_password_hash(const char *password, char out[WEB_HASH_STR_MAX]);
/* True if password matches the stored string (constant time inside). */
bool web_password_verify(const char *stored, const char *password);
/* A hash of a password nobody has, to verify against when the user does
 * not exist, so that the answer takes as long either way.  Static. */
const char *web_password_dummy(void);

/* 32 random bytes as 64 lower-case hex digits and a NUL in out (65). */
void web_token_new(char out[65]);
/* The lower-case hex SHA-256 of s in out (65 bytes). */
void web_token_hash(const char *s, char out[65]);
/* Compares two NUL-terminated strings in time independent of where they
 * differ (their lengths may show). */
bool web_secret_equal(const char *a, const char *b);

#endif
