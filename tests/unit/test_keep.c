/* reports/keep: tenant names as one safe path component. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "keep.h"

static void check(const char *name, const char *want)
{
	char *got = rep_keep_path_name(name);
	assert_string_equal(got, want);
	free(got);
}

static void test_path_names(void **state)
{
	(void)state;
	check("acme", "acme");
	check("Dept-7_x.y", "Dept-7_x.y");
	check("..", "%2E.");           /* never the parent */
	check(".hidden", "%2Ehidden"); /* never hidden, never "." */
	check("a/b", "a%2Fb");         /* one component */
	check("a%2Fb", "a%252Fb");     /* the escape is escaped: no two names meet */
	check("", "%00");              /* an empty name is not the directory itself */
	check("ä b", "%C3%A4%20b");
	check("x\n", "x%0A");
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_path_names)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
