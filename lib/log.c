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

static void log_write(enum vm_log_level level, const char *fmt, va_list ap)
{
	if (log_syslog) {
		vsyslog((int)level, fmt, ap);
		return;
	}
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf of a preformatted line keeps lines from threads whole. */
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	fprintf(stderr, "%s.%03ldZ %s[%s]: %s\n", stamp, ts.tv_nsec / 1000000, log_ident, level_names[level], msg);
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
