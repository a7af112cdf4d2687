/* web/hasher: password checks on the worker thread, answered on the loop
 * in order; a full queue refuses at once; freeing answers what is left
 * with -1 (cancelled). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <string.h>

#include "hasher.h"
#include "secret.h"

struct got {
	int results[8];
	int n;
	struct event_base *base;
	int stop_after;
};

static void on_result(int result, void *arg)
{
	struct got *g = arg;
	g->results[g->n++] = result;
	if (g->n == g->stop_after)
		event_base_loopexit(g->base, NULL);
}

static void checks_in_order(void **state)
{
	(void)state;
	char hash[WEB_HASH_STR_MAX], err[256];
	assert_int_equal(web_password_hash("right-password", hash), 0);
	assert_true(strncmp(hash, "$argon2id$", 10) == 0);
	struct event_base *base = event_base_new();
	struct web_hasher *h = web_hasher_new(base, 2, err, sizeof err);
	assert_non_null(h);
	struct got g = {.base = base, .stop_after = 2};
	assert_int_equal(web_hasher_verify(h, hash, "right-password", on_result, &g), 0);
	assert_int_equal(web_hasher_verify(h, hash, "wrong-password", on_result, &g), 0);
	/* two waiting: the third is refused without a callback */
	assert_int_equal(web_hasher_verify(h, hash, "third", on_result, &g), -1);
	/* nothing else is on this loop: keep it running for the answers */
	event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.results[0], 1);
	assert_int_equal(g.results[1], 0);
	/* answered: room again; then freed before it is answered */
	assert_int_equal(web_hasher_verify(h, hash, "right-password", on_result, &g), 0);
	assert_int_equal(web_hasher_verify(h, web_password_dummy(), "x", on_result, &g), 0);
	web_hasher_free(h);
	assert_int_equal(g.n, 4);
	assert_int_equal(g.results[2], -1);
	assert_int_equal(g.results[3], -1);
	event_base_free(base);
}

static void secrets(void **state)
{
	(void)state;
	char a[65], b[65], h[65];
	web_token_new(a);
	web_token_new(b);
	assert_int_equal(strlen(a), 64);
	assert_string_not_equal(a, b);
	web_token_hash("abc", h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_true(web_secret_equal("same", "same"));
	assert_false(web_secret_equal("same", "samE"));
	assert_false(web_secret_equal("same", "sam"));
	assert_true(web_secret_equal("", ""));
	assert_false(web_password_verify(web_password_dummy(), ""));
	assert_false(web_password_verify("not a hash", "x"));
}

static int setup(void **state)
{
	(void)state;
	evthread_use_pthreads();
	return web_secret_init();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(checks_in_order),
	    cmocka_unit_test(secrets),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
