/* Small file-system helpers shared by the modules that own directories. */
#ifndef VM_FSUTIL_H
#define VM_FSUTIL_H

#include <sys/types.h>

/* Creates `path` and its missing parents with `mode` (like mkdir -p) and
 * checks that it is a directory.  Returns 0, or -1 with errno set. */
int vm_mkdir_p(const char *path, mode_t mode);

#endif
