/* Logging shared by every vmeter program.
 *
 * Foreground programs log to stderr, daemons to syslog; journald picks up
 * both.  The level is checked before formatting, so a disabled debug line
 * costs one comparison.  Messages are lower case and name their subject
 * ("vm 'web1': ...").  Outages that recur every interval use struct
 * vm_log_once so that they are logged once when they start and once when
 * they end. */
#ifndef VM_LOG_H
#define VM_LOG_H

#include <stdbool.h>

enum vm_log_level { VM_LOG_ERR = 3, VM_LOG_WARNING = 4, VM_LOG_NOTICE = 5, VM_LOG_INFO = 6, VM_LOG_DEBUG = 7 };

/* Sets the program name shown in every line and where lines go. */
void vm_log_open(const char *ident, bool use_syslog);
void vm_log_set_level(enum vm_log_level level);
enum vm_log_level vm_log_get_level(void);
/* Parses "err", "warning", "notice", "info" or "debug"; -1 if unknown. */
int vm_log_level_parse(const char *name);

void vm_log(enum vm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define vm_err(...) vm_log(VM_LOG_ERR, __VA_ARGS__)
#define vm_warn(...) vm_log(VM_LOG_WARNING, __VA_ARGS__)
#define vm_notice(...) vm_log(VM_LOG_NOTICE, __VA_ARGS__)
#define vm_info(...) vm_log(VM_LOG_INFO, __VA_ARGS__)
#define vm_debug(...) vm_log(VM_LOG_DEBUG, __VA_ARGS__)

/* Logs and exits(1); only for start-up and configuration errors. */
_Noreturn void vm_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* State of one recurring condition (database away, libvirt gone). */
struct vm_log_once {
	bool failing;
	unsigned long failures; /* since the outage began */
};

/* Records a failure; logs it at warning level only when the condition
 * starts.  Returns true when this call logged. */
bool vm_log_once_fail(struct vm_log_once *once, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records a success; logs a recovery line naming `what` if it was failing. */
void vm_log_once_ok(struct vm_log_once *once, const char *what);

#endif
