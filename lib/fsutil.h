/* Small file-system helpers shared by the modules that own directories. */
#ifndef VM_FSUTIL_H
#define VM_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Creates `path` and its missing parents with `mode` (like mkdir -p) and
 * checks that it is a directory.  Returns 0, or -1 with errno set. */
int vm_mkdir_p(const char *path, mode_t mode);

/* The group vmeter's files share (VM_SHARED_GROUP, or the environment's
 * VMETER_TEST_SHARED_GROUP in tests) if it exists, else -1. */
#define VM_SHARED_GROUP "vmeter"
gid_t vm_shared_gid(void);

/* vm_mkdir_p(path, 0750), and a directory it creates gets the group
 * VM_SHARED_GROUP, if that exists and the process may give it, with the
 * set-group-ID bit: the files made in it later (the spool's, status.json,
 * RRD files made by rrdtool) then belong to that group without a chown
 * each.  A directory that exists is left as it is: its owner chose.
 * Returns 0, or -1 with errno set (the directory's creation failed). */
int vm_mkdir_shared(const char *path);

/* The whole of a file, at most `max` bytes, in a new buffer (caller
 * frees) with a NUL after its *len bytes.  NULL with errno set: EFBIG for
 * a file larger than max. */
char *vm_read_file(const char *path, size_t max, size_t *len);

/* All n bytes of p to fd (at off for the p- form), again after EINTR or a
 * short write.  0, or -1 with errno set (EIO for a write of 0 bytes). */
int vm_write_all(int fd, const void *p, size_t n);
int vm_pwrite_all(int fd, const void *p, size_t n, off_t off);

#endif
