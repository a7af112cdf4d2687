/* A client of rrdcached's text protocol over its local socket.
 *
 * librrd has a client too, but one process-wide connection that writes
 * through stdio and resolves every file name with realpath() (two failed
 * readlink calls per update), and linking librrd maps its graphing stack
 * (cairo, pango, X11: 26 libraries) into a daemon that never draws.  This
 * one is a socket, a read buffer and the protocol of rrdcached(1): a
 * command line, then "STATUS MESSAGE" where a negative status is an error
 * and a positive one counts the lines that follow; BATCH sends many
 * commands and reads one answer.
 *
 * One connection per struct, used by one thread at a time.  Every send and
 * receive has a timeout, and SIGPIPE is never raised (MSG_NOSIGNAL). */
#ifndef VM_RRDC_H
#define VM_RRDC_H

#include <stddef.h>

enum {
	VM_RRDC_OK = 0,
	VM_RRDC_REFUSED = -1, /* the daemon answered with an error */
	VM_RRDC_BROKEN = -2,  /* the connection failed: it is closed, connect again */
};

struct vm_rrdc;

/* Connects to the daemon's Unix socket `path`; sends and receives wait at
 * most timeout_ms.  Returns NULL with a message in err. */
struct vm_rrdc *vm_rrdc_connect(const char *path, int timeout_ms, char *err, size_t errsize);
void vm_rrdc_close(struct vm_rrdc *c);
/* False once an I/O error or a protocol violation broke the connection. */
int vm_rrdc_alive(const struct vm_rrdc *c);

typedef void (*vm_rrdc_line_cb)(void *arg, const char *line);

/* Sends one command (`cmd` without its newline; no newline inside) and
 * reads the answer.  Returns VM_RRDC_OK with the status line's message in
 * msg and each following line handed to line_cb (may be NULL),
 * VM_RRDC_REFUSED with the daemon's error in msg, or VM_RRDC_BROKEN with
 * what failed in msg. */
int vm_rrdc_command(struct vm_rrdc *c, const char *cmd, char *msg, size_t msgsize, vm_rrdc_line_cb line_cb, void *arg);

typedef void (*vm_rrdc_error_cb)(void *arg, size_t index, const char *msg);

/* Sends the n commands as one BATCH and reads its answer: err_cb gets the
 * 0-based index and the error of each command the daemon refused.  Returns
 * the number refused (>= 0), or VM_RRDC_BROKEN (msg says why; which
 * commands were applied is then unknown). */
int vm_rrdc_batch(struct vm_rrdc *c, const char *const *cmds, size_t n, vm_rrdc_error_cb err_cb, void *arg, char *msg,
                  size_t msgsize);

#endif
