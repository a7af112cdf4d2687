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
#include <stddef.h>

enum vm_log_level { VM_LOG_ERR = 3, VM_LOG_WARNING = 4, VM_LOG_NOTICE = 5, VM_LOG_INFO = 6, VM_LOG_DEBUG = 7 };

/* Sets the program name shown in every line and where lines go. */
void vm_log_open(const char *ident, bool use_syslog);
void vm_log_set_level(enum vm_log_level level);
enum vm_log_level vm_log_get_level(void);
/* Parses "err", "warning", "notice", "info" or "debug"; -1 if unknown. */
int vm_log_level_parse(const char *name);

/* Formats, escapes (vm_log_escape) and writes one line.  Every line is
 * escaped as a whole: names that came from outside (a VM's name, its owner
 * metadata) cannot start a line of their own or reorder the text a
 * terminal shows. */
void vm_log(enum vm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define vm_err(...) vm_log(VM_LOG_ERR, __VA_ARGS__)
#define vm_warn(...) vm_log(VM_LOG_WARNING, __VA_ARGS__)
#define vm_notice(...) vm_log(VM_LOG_NOTICE, __VA_ARGS__)
#define vm_info(...) vm_log(VM_LOG_INFO, __VA_ARGS__)
#define vm_debug(...) vm_log(VM_LOG_DEBUG, __VA_ARGS__)

/* True if the NUL-terminated s is valid UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF). */
bool vm_utf8_valid(const char *s);

/* Copies the NUL-terminated UTF-8 text src to dst (size bytes) so that it
 * shows as one line whose characters appear in the order they are stored:
 *   - C0 controls (newline, carriage return, tab, escape, ...) and DEL as
 *     \xNN (a newline is \x0a);
 *   - C1 controls (U+0080-U+009F), the bidirectional formatting characters
 *     (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) and the line
 *     and paragraph separators (U+2028, U+2029) as \uNNNN (lower case);
 *   - each byte that is not part of valid UTF-8 (stray continuation bytes,
 *     overlong forms, surrogates, beyond U+10FFFF, a cut sequence) as \xNN;
 *   - a backslash as \\, so that an escape in the output always means an
 *     escaped character and a name cannot pose as one.
 * Everything else is copied as it is.  dst is always NUL-terminated (when
 * size > 0) and cut only between whole characters or escapes.  Returns the
 * length the whole escaped text needs, without the NUL, as snprintf does:
 * at most 4 * strlen(src).  dst belongs to the caller; src may not overlap
 * it. */
size_t vm_log_escape(char *dst, size_t size, const char *src);

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
