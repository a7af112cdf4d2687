/* web/ratelimit: free failures, then a lock doubling to its cap, cleared
 * by a success, forgotten once served, and a full table making room. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"

static void bad_arguments(void **state)
{
	(void)state;
	assert_null(web_ratelimit_new(0, 5, 1, 900));
	assert_null(web_ratelimit_new(10, 0, 1, 900));
	assert_null(web_ratelimit_new(10, 5, 0, 900));
	assert_null(web_ratelimit_new(10, 5, 60, 30));
	assert_null(web_ratelimit_new(2000000, 5, 1, 900));
}

static void lock_doubles(void **state)
{
	(void)state;
	struct web_ratelimit *rl = web_ratelimit_new(100, 5, 1, 16);
	int64_t t = 1000;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(web_ratelimit_locked(rl, "u:ann", t), 0);
		assert_int_equal(web_ratelimit_fail(rl, "u:ann", t), 0);
	}
	/* the fifth failure locks: 1 s, then 2, 4, 8, 16, 16 */
	static const int64_t want[] = {1, 2, 4, 8, 16, 16, 16};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		assert_int_equal(web_ratelimit_fail(rl, "u:ann", t), want[i]);
		assert_int_equal(web_ratelimit_locked(rl, "u:ann", t), want[i]);
		assert_int_equal(web_ratelimit_locked(rl, "u:ann", t + want[i] - 1), 1);
		assert_int_equal(web_ratelimit_locked(rl, "u:ann", t + want[i]), 0);
		t += want[i];
	}
	/* another key is not affected */
	assert_int_equal(web_ratelimit_locked(rl, "u:bob", t), 0);
	web_ratelimit_ok(rl, "u:ann");
	assert_int_equal(web_ratelimit_locked(rl, "u:ann", t), 0);
	assert_int_equal(web_ratelimit_fail(rl, "u:ann", t), 0); /* counting from zero again */
	web_ratelimit_free(rl);
}

static void forgets_and_makes_room(void **state)
{
	(void)state;
	struct web_ratelimit *rl = web_ratelimit_new(3, 1, 10, 100);
	assert_int_equal(web_ratelimit_fail(rl, "a", 0), 10);
	assert_int_equal(web_ratelimit_fail(rl, "b", 5), 10);
	assert_int_equal(web_ratelimit_fail(rl, "c", 6), 10);
	assert_int_equal(web_ratelimit_size(rl), 3);
	/* full: the oldest failure ("a") makes room */
	assert_int_equal(web_ratelimit_fail(rl, "d", 7), 10);
	assert_int_equal(web_ratelimit_size(rl), 3);
	assert_int_equal(web_ratelimit_locked(rl, "a", 7), 0);
	assert_int_equal(web_ratelimit_locked(rl, "b", 7), 8);
	/* served and quiet for max_s: forgotten when a new key comes */
	assert_int_equal(web_ratelimit_fail(rl, "e", 200), 10);
	assert_int_equal(web_ratelimit_size(rl), 1);
	/* keys longer than the limit are cut, consistently */
	char long_key[300];
	memset(long_key, 'k', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = '\0';
	web_ratelimit_fail(rl, long_key, 200);
	assert_int_equal(web_ratelimit_locked(rl, long_key, 200), 10);
	web_ratelimit_free(rl);
	web_ratelimit_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bad_arguments),
	    cmocka_unit_test(lock_doubles),
	    cmocka_unit_test(forgets_and_makes_room),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
