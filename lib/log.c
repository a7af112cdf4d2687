#include "config.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *log_ident = "vmeter";
static bool log_syslog;
static enum vm_log_level log_level = VM_LOG_INFO;

static const char *const level_names[] = {
    [VM_LOG_ERR] = "err",   [VM_LOG_WARNING] = "warning", [VM_LOG_NOTICE] = "notice",
    [VM_LOG_INFO] = "info", [VM_LOG_DEBUG] = "debug",
};

void vm_log_open(const char *ident, bool use_syslog)
{
	log_ident = ident;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void vm_log_set_level(enum vm_log_level level)
{
	log_level = level;
}

enum vm_log_level vm_log_get_level(void)
{
	return log_level;
}

int vm_log_level_parse(const char *name)
{
	for (int i = VM_LOG_ERR; i <= VM_LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

/* The length of the valid UTF-8 sequence at s (1-4), or 0 if s does not
 * start one; *cp is its code point.  Strict (RFC 3629): no overlong forms,
 * no surrogates, nothing past U+10FFFF. */
static size_t utf8_decode(const unsigned char *s, unsigned *cp)
{
	unsigned c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* past U+10FFFF */
		c &= 0x07;
	} else {
		return 0; /* a continuation byte, an overlong lead (C0, C1) or F5-FF */
	}
	for (size_t i = 1; i < n; i++) {
		/* The NUL at the end fails this test: a cut sequence is invalid. */
		if (s[i] < lo || s[i] > hi)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp = c;
	return n;
}

/* Characters that would end the line or reorder what a terminal shows. */
static bool escaped_code_point(unsigned cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	       cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

bool vm_utf8_valid(const char *s)
{
	unsigned cp;
	for (size_t n; *s; s += n)
		if (!(n = utf8_decode((const unsigned char *)s, &cp)))
			return false;
	return true;
}

size_t vm_log_escape(char *dst, size_t size, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t len = 0, out = 0;
	bool cut = false; /* once a piece does not fit, none after it goes in */
	while (*s) {
		char esc[8];
		const char *piece = esc;
		size_t plen;
		unsigned cp;
		size_t n = utf8_decode(s, &cp);
		if (n == 0) {
			plen = (size_t)snprintf(esc, sizeof esc, "\\x%02x", *s);
			n = 1;
		} else if (cp == '\\') {
			piece = "\\\\";
			plen = 2;
		} else if (escaped_code_point(cp)) {
			plen = (size_t)snprintf(esc, sizeof esc, cp < 0x80 ? "\\x%02x" : "\\u%04x", cp);
		} else {
			piece = (const char *)s;
			plen = n;
		}
		if (!cut && out + plen < size) {
			memcpy(dst + out, piece, plen);
			out += plen;
		} else {
			cut = true;
		}
		len += plen;
		s += n;
	}
	if (size > 0)
		dst[out] = '\0';
	return len;
}

static void log_write(enum vm_log_level level, const char *fmt, va_list ap)
{
	/* Formatted first and escaped as a whole: the arguments are where
	 * outside text comes in, and a format string has no control
	 * characters to keep.  Escaping at most quadruples the length. */
	char msg[2048], line[4 * sizeof msg];
	vsnprintf(msg, sizeof msg, fmt, ap);
	vm_log_escape(line, sizeof line, msg);
	if (log_syslog) {
		syslog((int)level, "%s", line);
		return;
	}
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf of a preformatted line keeps lines from threads whole. */
	fprintf(stderr, "%s.%03ldZ %s[%s]: %s\n", stamp, ts.tv_nsec / 1000000, log_ident, level_names[level], line);
}

void vm_log(enum vm_log_level level, const char *fmt, ...)
{
	if (level > log_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_write(level, fmt, ap);
	va_end(ap);
}

void vm_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_write(VM_LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

bool vm_log_once_fail(struct vm_log_once *once, const char *fmt, ...)
{
	once->failures++;
	if (once->failing)
		return false;
	once->failing = true;
	if (VM_LOG_WARNING > log_level)
		return true;
	va_list ap;
	va_start(ap, fmt);
	log_write(VM_LOG_WARNING, fmt, ap);
	va_end(ap);
	return true;
}

void vm_log_once_ok(struct vm_log_once *once, const char *what)
{
	if (once->failing)
		vm_notice("%s recovered after %lu failed attempt%s", what, once->failures,
		          once->failures == 1 ? "" : "s");
	once->failing = false;
	once->failures = 0;
}
