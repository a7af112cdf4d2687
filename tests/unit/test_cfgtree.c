/* lib/cfgtree: the tree of a block file with exact lines, and every kind
 * of bad text refused with the line it is on. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgtree.h"

static struct vm_cfgtree *parse(const char *text, char *err, size_t errsize)
{
	err[0] = '\0';
	return vm_cfgtree_parse("t.plan", text, strlen(text), err, errsize);
}

static void test_tree(void **state)
{
	(void)state;
	char err[256];
	const char *text = "# head\n"
	                   "\n"
	                   "plan \"std\" {\n"
	                   "  currency = EUR   # a comment\n"
	                   "\n"
	                   "\n"
	                   "  version 2026-01-01 {\n"
	                   "    charge vcpu { price = 0.012; per = \"vcpu-hour\", }\n"
	                   "    note = \"a \\\"quoted\\\" \\\\ word\\tand tab\"\n"
	                   "  }\n"
	                   "  empty { }\n"
	                   "}\n"
	                   "top = */5\n";
	struct vm_cfgtree *t = parse(text, err, sizeof err);
	if (!t)
		fail_msg("%s", err);
	assert_string_equal(vm_cfgtree_file(t), "t.plan");
	const struct vm_cfgnode *plan = vm_cfgtree_root(t);
	assert_string_equal(plan->name, "plan");
	assert_string_equal(plan->title, "std");
	assert_null(plan->value);
	assert_int_equal(plan->line, 3);
	assert_int_equal(plan->end_line, 12);
	const struct vm_cfgnode *cur = plan->child;
	assert_string_equal(cur->name, "currency");
	assert_string_equal(cur->value, "EUR");
	assert_int_equal(cur->line, 4); /* not the line of the next token (libconfuse's 7) */
	const struct vm_cfgnode *ver = cur->next;
	assert_string_equal(ver->title, "2026-01-01");
	assert_int_equal(ver->line, 7);
	const struct vm_cfgnode *ch = ver->child;
	assert_string_equal(ch->name, "charge");
	assert_string_equal(ch->title, "vcpu");
	assert_int_equal(ch->line, 8);
	assert_string_equal(ch->child->name, "price");
	assert_string_equal(ch->child->value, "0.012");
	assert_string_equal(ch->child->next->value, "vcpu-hour");
	assert_null(ch->child->next->next);
	assert_string_equal(ch->next->value, "a \"quoted\" \\ word\tand tab");
	assert_int_equal(ch->next->line, 9);
	const struct vm_cfgnode *empty = ver->next;
	assert_string_equal(empty->name, "empty");
	assert_null(empty->title);
	assert_null(empty->child);
	assert_null(empty->next);
	const struct vm_cfgnode *top = plan->next;
	assert_string_equal(top->value, "*/5");
	assert_int_equal(top->line, 13);
	assert_null(top->next);
	vm_cfgtree_free(t);

	t = parse("", err, sizeof err);
	assert_non_null(t);
	assert_null(vm_cfgtree_root(t));
	vm_cfgtree_free(t);
	t = parse("# only a comment", err, sizeof err);
	assert_non_null(t);
	assert_null(vm_cfgtree_root(t));
	vm_cfgtree_free(t);
}

static void test_errors(void **state)
{
	(void)state;
	static const struct {
		const char *text, *says;
		size_t len; /* 0: strlen */
	} bad[] = {
	    {"plan {\n  a = 1\n", "t.plan:3: section 'plan' opened on line 1 is not closed", 0},
	    {"a = 1\n}\n", "t.plan:2: a '}' that closes no section", 0},
	    {"a = \n\n", "t.plan:1: 'a': no value after '='", 0},
	    {"a = \"x\ny\"\n", "t.plan:1: 'a': the string is not closed on its line", 0},
	    {"a = \"\\q\"\n", "t.plan:1: 'a': unknown escape '\\q'", 0},
	    {"\n\na b c { }\n", "t.plan:3: 'a' \"b\": expected '{', got 'c'", 0},
	    {"a\n", "t.plan:2: 'a': expected '=' or '{', got the end of the file", 0},
	    {"a ; b\n", "t.plan:1: 'a': expected '=' or '{', got ';'", 0},
	    {"= 1\n", "t.plan:1: expected a name, got '='", 0},
	    {"s {\n 9 = 1 }\n", "t.plan:2: expected a name or '}', got '9'", 0},
	    {"a = {\n", "t.plan:2: 'a': the list opened on line 1 is not closed", 0},
	    {"a = \"}\n", "t.plan:1: 'a': the string is not closed on its line", 0},
	    {"a = { x\n y = 1 }\n", "t.plan:2: 'a': expected a value or '}' in the list, got '='", 0},
	    {"a = { x ; }\n", "t.plan:1: 'a': expected a value or '}' in the list, got ';'", 0},
	    {"a = { \"x\" \"\\q\" }\n", "t.plan:1: 'a': unknown escape '\\q'", 0},
	    {"a = { x } {\n", "t.plan:1: expected a name, got '{'", 0},
	    {"a = \"\x01\"\n", "t.plan:1: 'a': control character 0x01", 0},
	    {"a = \"\xff\xfe\"\n", "t.plan:1: 'a': the string is not valid UTF-8", 0},
	    {"a = \"x\0y\"\n", "t.plan:1: 'a': control character 0x00", 10},
	    {"a = b\x01\n", "t.plan:1: expected a name, got byte 0x01", 0},
	    {"a { b { c { d { e { f { g { h { i { j { k { l { m { n { o { p { q { } } } } } } } } } } } } } } } } }",
	     "'q': sections nested deeper than 16", 0},
	};
	char err[256];
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
		err[0] = '\0';
		struct vm_cfgtree *t = vm_cfgtree_parse("t.plan", bad[i].text, len, err, sizeof err);
		if (t)
			fail_msg("case %zu accepted", i);
		if (!strstr(err, bad[i].says))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err, bad[i].says);
	}
}

static void test_lists(void **state)
{
	(void)state;
	char err[256];
	const char *text = "rule r {\n"
	                   "  argv = { \"/usr/bin/x\", \"--y z\" , w }\n"
	                   "  empty = {}\n"
	                   "  long = {\n"
	                   "    a   # a comment\n"
	                   "    \"b\"\n"
	                   "  };\n"
	                   "  after = 1\n"
	                   "}\n";
	struct vm_cfgtree *t = parse(text, err, sizeof err);
	if (!t)
		fail_msg("%s", err);
	const struct vm_cfgnode *argv = vm_cfgtree_root(t)->child;
	assert_string_equal(argv->name, "argv");
	assert_null(argv->value);
	assert_null(argv->child);
	assert_int_equal(argv->n_list, 3);
	assert_string_equal(argv->list[0], "/usr/bin/x");
	assert_string_equal(argv->list[1], "--y z");
	assert_string_equal(argv->list[2], "w");
	assert_int_equal(argv->line, 2);
	const struct vm_cfgnode *empty = argv->next;
	assert_non_null(empty->list);
	assert_int_equal(empty->n_list, 0);
	const struct vm_cfgnode *lng = empty->next;
	assert_int_equal(lng->n_list, 2);
	assert_int_equal(lng->line, 4);
	assert_string_equal(lng->list[1], "b");
	assert_string_equal(lng->next->name, "after");
	assert_int_equal(lng->next->line, 8);
	assert_null(lng->next->list);
	vm_cfgtree_free(t);

	/* at the cap, and one past it */
	char *big = malloc(16 + 3 * (VM_CFGTREE_MAX_LIST + 1));
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = (size_t)sprintf(big, "a = {");
		for (int i = 0; i < VM_CFGTREE_MAX_LIST + extra; i++)
			n += (size_t)sprintf(big + n, " x");
		sprintf(big + n, " }\n");
		t = parse(big, err, sizeof err);
		if (extra) {
			assert_null(t);
			assert_non_null(strstr(err, "t.plan:1: 'a': a list of more than 256 values"));
		} else {
			assert_non_null(t);
			assert_int_equal(vm_cfgtree_root(t)->n_list, VM_CFGTREE_MAX_LIST);
			vm_cfgtree_free(t);
		}
	}
	free(big);
}

static void test_load(void **state)
{
	(void)state;
	char path[] = "/tmp/test_cfgtree.XXXXXX", err[256];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a = 1\nb = 2\n", 12), 12);
	close(fd);
	struct vm_cfgtree *t = vm_cfgtree_load(path, err, sizeof err);
	assert_non_null(t);
	assert_string_equal(vm_cfgtree_root(t)->next->value, "2");
	assert_string_equal(vm_cfgtree_file(t), path);
	vm_cfgtree_free(t);
	unlink(path);
	assert_null(vm_cfgtree_load(path, err, sizeof err));
	assert_non_null(strstr(err, "No such file"));
	assert_non_null(strstr(err, path));
	assert_null(vm_cfgtree_load("/", err, sizeof err));
	assert_non_null(strstr(err, "/: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tree),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_lists),
	    cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
