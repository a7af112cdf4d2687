/* lib/log.c: the escaping that keeps every log line one line in the order
 * it was written, whatever a VM's name or owner holds. */
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

#include "log.h"

/* syslog(3) is the process boundary of the daemon's log: the test links
 * with --wrap for it (and for the fortified variant a build may call), so
 * that what would reach /dev/log is kept here instead. */
static int sys_priority = -1;
static char sys_text[4096];
void __wrap_openlog(const char *ident, int option, int facility);
void __wrap_syslog(int priority, const char *fmt, ...);
void __wrap___syslog_chk(int priority, int flag, const char *fmt, ...);
void __wrap_openlog(const char *ident, int option, int facility)
{
	(void)ident;
	(void)option;
	(void)facility;
}
void __wrap_syslog(int priority, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sys_priority = priority;
	vsnprintf(sys_text, sizeof sys_text, fmt, ap);
	va_end(ap);
}
void __wrap___syslog_chk(int priority, int flag, const char *fmt, ...)
{
	(void)flag;
	va_list ap;
	va_start(ap, fmt);
	sys_priority = priority;
	vsnprintf(sys_text, sizeof sys_text, fmt, ap);
	va_end(ap);
}

struct esc_case {
	const char *in, *want;
};

static void check_cases(const struct esc_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char out[256];
		size_t len = vm_log_escape(out, sizeof out, c[i].in);
		if (strcmp(out, c[i].want) != 0)
			print_error("case %zu: got '%s', want '%s'\n", i, out, c[i].want);
		assert_string_equal(out, c[i].want);
		assert_int_equal(len, strlen(c[i].want));
	}
}

static void test_plain_text_unchanged(void **state)
{
	const struct esc_case c[] = {
	    {"", ""},
	    {"vm 'web1' (1111): restarted", "vm 'web1' (1111): restarted"},
	    {"~!@#$%^&*()_+={}[]|:;\"'<>,.?/ ", "~!@#$%^&*()_+={}[]|:;\"'<>,.?/ "},
	    /* printable non-ASCII, two to four bytes, stays readable */
	    {"caf\xc3\xa9 \xe2\x82\xac \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
	     "caf\xc3\xa9 \xe2\x82\xac \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"},
	    /* the neighbours of the escaped ranges */
	    {"\xc2\xa0", "\xc2\xa0"},                                 /* U+00A0, after C1 */
	    {"\xe2\x80\x8d", "\xe2\x80\x8d"},                         /* U+200D, joiner in emoji */
	    {"\xe2\x80\xa9x\xe2\x80\xaf", "\\u2029x\xe2\x80\xaf"},    /* U+202F kept */
	    {"\xe2\x81\xa5\xe2\x81\xaa", "\xe2\x81\xa5\xe2\x81\xaa"}, /* U+2065, U+206A */
	    {"\xd8\x9b\xd8\x9d", "\xd8\x9b\xd8\x9d"},                 /* U+061B, U+061D */
	    {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},                 /* U+10FFFF */
	};
	check_cases(c, sizeof c / sizeof c[0]);
}

static void test_controls_escaped(void **state)
{
	const struct esc_case c[] = {
	    {"a\nb", "a\\x0ab"},
	    {"\r\t\x1b[31mred", "\\x0d\\x09\\x1b[31mred"},
	    {"\x01\x1f\x7f", "\\x01\\x1f\\x7f"},
	    {"x\n2026-01-01T00:00:00.000Z vmeter-collector[err]: forged",
	     "x\\x0a2026-01-01T00:00:00.000Z vmeter-collector[err]: forged"},
	    /* C1 controls, NEL (U+0085) among them */
	    {"\xc2\x80\xc2\x85\xc2\x9b\xc2\x9f", "\\u0080\\u0085\\u009b\\u009f"},
	    /* a backslash is escaped, so that no name can pose as an escape */
	    {"a\\b", "a\\\\b"},
	    {"\\x0a", "\\\\x0a"},
	};
	check_cases(c, sizeof c / sizeof c[0]);
}

static void test_bidi_escaped(void **state)
{
	/* Every bidirectional formatting character and both separators. */
	static const unsigned cps[] = {0x061c, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202b,
	                               0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069};
	for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
		unsigned cp = cps[i];
		char in[8], want[16], out[32];
		if (cp < 0x800)
			snprintf(in, sizeof in, "%c%c", 0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
		else
			snprintf(in, sizeof in, "%c%c%c", 0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f),
			         0x80 | (cp & 0x3f));
		snprintf(want, sizeof want, "a\\u%04xb", cp);
		char text[16];
		snprintf(text, sizeof text, "a%sb", in);
		assert_int_equal(vm_log_escape(out, sizeof out, text), strlen(want));
		assert_string_equal(out, want);
	}
	const struct esc_case c[] = {
	    {"evil\xe2\x80\xaegnp.exe", "evil\\u202egnp.exe"},
	};
	check_cases(c, sizeof c / sizeof c[0]);
}

static void test_invalid_utf8_bytewise(void **state)
{
	const struct esc_case c[] = {
	    {"\x80", "\\x80"}, /* stray continuation */
	    {"a\xbf"
	     "b",
	     "a\\xbfb"},                                  /* stray continuation */
	    {"\xc0\xaf", "\\xc0\\xaf"},                   /* overlong '/' */
	    {"\xc1\xbf", "\\xc1\\xbf"},                   /* overlong */
	    {"\xe0\x80\xaf", "\\xe0\\x80\\xaf"},          /* overlong, 3 bytes */
	    {"\xf0\x8f\xbf\xbf", "\\xf0\\x8f\\xbf\\xbf"}, /* overlong, 4 bytes */
	    {"\xed\xa0\x80", "\\xed\\xa0\\x80"},          /* surrogate U+D800 */
	    {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"}, /* past U+10FFFF */
	    {"\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80"}, /* never a lead byte */
	    {"\xfe\xff", "\\xfe\\xff"},
	    {"ab\xe2\x80", "ab\\xe2\\x80"},                /* cut at the end */
	    {"\xe2\x80x", "\\xe2\\x80x"},                  /* cut by ASCII */
	    {"\xe2\x80\xe2\x80\xae", "\\xe2\\x80\\u202e"}, /* cut, then a whole one */
	    /* a C1 control or a bidi character in overlong form is still escaped */
	    {"\xe0\x82\x85", "\\xe0\\x82\\x85"},
	};
	check_cases(c, sizeof c / sizeof c[0]);
}

static void test_truncation(void **state)
{
	char out[8];
	/* Cut between whole escapes, never inside one, and nothing after the
	 * cut even if it would fit. */
	memset(out, 'z', sizeof out);
	assert_int_equal(vm_log_escape(out, 4, "a\nb"), 6);
	assert_string_equal(out, "a");
	assert_int_equal(vm_log_escape(out, 6, "a\nb"), 6);
	assert_string_equal(out, "a\\x0a");
	assert_int_equal(vm_log_escape(out, 7, "a\nb"), 6);
	assert_string_equal(out, "a\\x0ab");
	/* a multi-byte character is not split either */
	assert_int_equal(vm_log_escape(out, 3, "a\xe2\x82\xac"), 4);
	assert_string_equal(out, "a");
	assert_int_equal(vm_log_escape(out, 1, "abc"), 3);
	assert_string_equal(out, "");
	/* size 0: nothing written, the length still told */
	out[0] = 'q';
	assert_int_equal(vm_log_escape(out, 0, "a\n"), 5);
	assert_int_equal(out[0], 'q');
}

static void test_worst_case_growth(void **state)
{
	/* The header promises at most 4 bytes out per byte in. */
	char in[65], out[4 * 64 + 1];
	memset(in, 0xff, 64);
	in[64] = '\0';
	assert_int_equal(vm_log_escape(out, sizeof out, in), 4 * 64);
	assert_int_equal(strlen(out), 4 * 64);
	memset(in, '\n', 64);
	assert_int_equal(vm_log_escape(out, sizeof out, in), 4 * 64);
	for (unsigned b = 1; b < 256; b++) {
		char one[2] = {(char)b, '\0'}, o[8];
		assert_true(vm_log_escape(o, sizeof o, one) <= 4);
	}
}

/* The whole path: vm_log() writes one line to stderr, its message escaped. */
static void test_log_line_is_one_line(void **state)
{
	char path[] = "/tmp/test_log.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	vm_log_open("test_log", false);
	vm_log_set_level(VM_LOG_INFO);
	vm_warn("vm '%s': no owner", "x\n2026-01-01T00:00:00.000Z vmeter-collector[err]: forged\xe2\x80\xae\xff");
	vm_debug("vm '%s': filtered out by level", "y");
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	char buf[512];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	/* exactly one line, ending in its newline */
	assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
	assert_non_null(strstr(
	    buf, " test_log[warning]: vm 'x\\x0a2026-01-01T00:00:00.000Z vmeter-collector[err]: forged\\u202e\\xff': "
	         "no owner\n"));
}

/* The daemon's path: the same escaped line goes to syslog, as data (a '%'
 * in a name is not a conversion). */
static void test_syslog_line_escaped(void **state)
{
	vm_log_open("test_log", true);
	vm_log_set_level(VM_LOG_INFO);
	sys_priority = -1;
	vm_warn("vm '%s': no owner", "a\nb\xe2\x80\xae 100%s %n");
	assert_int_equal(sys_priority, VM_LOG_WARNING);
	assert_string_equal(sys_text, "vm 'a\\x0ab\\u202e 100%s %n': no owner");
	sys_priority = -1;
	vm_debug("filtered out by level");
	assert_int_equal(sys_priority, -1);
	vm_log_open("test_log", false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_text_unchanged), cmocka_unit_test(test_controls_escaped),
	    cmocka_unit_test(test_bidi_escaped),         cmocka_unit_test(test_invalid_utf8_bytewise),
	    cmocka_unit_test(test_truncation),           cmocka_unit_test(test_worst_case_growth),
	    cmocka_unit_test(test_log_line_is_one_line), cmocka_unit_test(test_syslog_line_escaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
