#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vtime.h"

static void test_minute_floor(void **state)
{
	assert_int_equal(vm_minute_floor(0), 0);
	assert_int_equal(vm_minute_floor(59 * VM_NS_PER_SEC + 999999999), 0);
	assert_int_equal(vm_minute_floor(60 * VM_NS_PER_SEC), 60 * VM_NS_PER_SEC);
	assert_int_equal(vm_minute_floor(-1), -VM_NS_PER_MIN);
	int64_t t = INT64_C(1795400132) * VM_NS_PER_SEC + 123;
	assert_int_equal(vm_minute_floor(t) % VM_NS_PER_MIN, 0);
	assert_true(t - vm_minute_floor(t) < VM_NS_PER_MIN);
}

static void test_parse(void **state)
{
	int64_t now = INT64_C(1700000000) * VM_NS_PER_SEC, t;
	assert_int_equal(vm_time_parse("now", now, &t), 0);
	assert_int_equal(t, now);
	assert_int_equal(vm_time_parse("now-2h", now, &t), 0);
	assert_int_equal(t, now - 7200 * VM_NS_PER_SEC);
	assert_int_equal(vm_time_parse("-30m", now, &t), 0);
	assert_int_equal(t, now - 1800 * VM_NS_PER_SEC);
	assert_int_equal(vm_time_parse("@1700000000", now, &t), 0);
	assert_int_equal(t, now);
	assert_int_equal(vm_time_parse("2023-11-14 22:13:20", now, &t), 0);
	assert_int_equal(t, now);
	assert_int_equal(vm_time_parse("2023-11-14T22:13", now, &t), 0);
	assert_int_equal(t, now - 20 * VM_NS_PER_SEC);
	assert_int_equal(vm_time_parse("2023-11-14", now, &t), 0);
}

static void test_parse_rejects(void **state)
{
	int64_t t;
	const char *bad[] = {"",
	                     "yesterday",
	                     "now+1h",
	                     "now-",
	                     "now-5x",
	                     "-",
	                     "@",
	                     "@12a",
	                     "2023-13-01",
	                     "2023-11-14 25:00",
	                     "2023-11-14 10",
	                     "2023-11-14x",
	                     "now-99999999999999999d"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(vm_time_parse(bad[i], 0, &t), -1);
	assert_int_equal(vm_time_parse(NULL, 0, &t), -1);
}

static void test_format(void **state)
{
	char buf[64];
	vm_time_format(INT64_C(1700000000) * VM_NS_PER_SEC, buf, sizeof buf);
	assert_string_equal(buf, "2023-11-14 22:13:20+00");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minute_floor),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_rejects),
	    cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
