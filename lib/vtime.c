#include "config.h"

#include "vtime.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * VM_NS_PER_SEC + ts.tv_nsec;
}

int64_t vm_now_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

int64_t vm_monotonic_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

int64_t vm_time_floor(int64_t t, int64_t unit)
{
	int64_t r = t % unit;
	return r < 0 ? t - r - unit : t - r;
}

int64_t vm_minute_floor(int64_t t)
{
	return vm_time_floor(t, VM_NS_PER_MIN);
}

void vm_time_format(int64_t t_ns, char *buf, size_t size)
{
	time_t s = (time_t)(t_ns / VM_NS_PER_SEC);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S+00", &tm);
}

/* "1h", "30m", "90s", "2d" -> seconds; -1 on error. */
static int64_t parse_span(const char *s)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || end == s || n < 0)
		return -1;
	int64_t mul;
	switch (*end) {
	case 's':
	case '\0': mul = 1; break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: return -1;
	}
	if (*end && end[1])
		return -1;
	if (n > INT64_MAX / VM_NS_PER_SEC / mul)
		return -1;
	return n * mul;
}

int vm_time_parse(const char *s, int64_t now_ns, int64_t *out)
{
	if (!s || !*s)
		return -1;
	if (strncmp(s, "now", 3) == 0 || s[0] == '-') {
		const char *rest = s[0] == '-' ? s : s + 3;
		if (!*rest) {
			*out = now_ns;
			return 0;
		}
		if (*rest != '-')
			return -1;
		int64_t span = parse_span(rest + 1);
		if (span < 0)
			return -1;
		*out = now_ns - span * VM_NS_PER_SEC;
		return 0;
	}
	if (s[0] == '@') {
		char *end;
		errno = 0;
		long long sec = strtoll(s + 1, &end, 10);
		if (errno || end == s + 1 || *end)
			return -1;
		*out = (int64_t)sec * VM_NS_PER_SEC;
		return 0;
	}
	struct tm tm = {0};
	int n = 0, consumed = 0;
	n = sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &consumed);
	if (n != 3)
		return -1;
	const char *p = s + consumed;
	if (*p == ' ' || *p == 'T') {
		int c2 = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &c2) != 2)
			return -1;
		p += 1 + c2;
		if (*p == ':') {
			int c3 = 0;
			if (sscanf(p + 1, "%2d%n", &tm.tm_sec, &c3) != 1)
				return -1;
			p += 1 + c3;
		}
		if (*p == 'Z')
			p++;
	}
	if (*p)
		return -1;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	*out = (int64_t)t * VM_NS_PER_SEC;
	return 0;
}
