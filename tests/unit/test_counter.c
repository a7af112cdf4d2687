#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "counter.h"

static void test_first_sample_is_baseline(void **state)
{
	uint64_t d = 99;
	assert_int_equal(vm_counter_delta(false, 0, 5000, false, &d), VM_COUNTER_BASELINE);
	assert_int_equal(d, 0);
}

static void test_normal_delta(void **state)
{
	uint64_t d;
	assert_int_equal(vm_counter_delta(true, 1000, 1500, false, &d), VM_COUNTER_OK);
	assert_int_equal(d, 500);
	assert_int_equal(vm_counter_delta(true, 1000, 1000, false, &d), VM_COUNTER_OK);
	assert_int_equal(d, 0);
}

static void test_large_values_near_max(void **state)
{
	uint64_t d;
	assert_int_equal(vm_counter_delta(true, UINT64_MAX - 10, UINT64_MAX, false, &d), VM_COUNTER_OK);
	assert_int_equal(d, 10);
}

/* A counter that went down restarted from zero: the current value is what
 * accrued since, never the wrap-around of cur - prev. */
static void test_decrease_is_reset_not_spike(void **state)
{
	uint64_t d;
	assert_int_equal(vm_counter_delta(true, 900000000000ULL, 2000, false, &d), VM_COUNTER_RESET);
	assert_int_equal(d, 2000);
	assert_true(d < 900000000000ULL);
}

/* Restart known from the domain id: even a value above the old one is all
 * new usage (the old incarnation's counter meant something else). */
static void test_known_restart(void **state)
{
	uint64_t d;
	assert_int_equal(vm_counter_delta(true, 100, 5000, true, &d), VM_COUNTER_RESTART);
	assert_int_equal(d, 5000);
	assert_int_equal(vm_counter_delta(false, 0, 7, true, &d), VM_COUNTER_RESTART);
	assert_int_equal(d, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_sample_is_baseline),
	    cmocka_unit_test(test_normal_delta),
	    cmocka_unit_test(test_large_values_near_max),
	    cmocka_unit_test(test_decrease_is_reset_not_spike),
	    cmocka_unit_test(test_known_restart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
