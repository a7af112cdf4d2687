/* Allocation wrappers: a daemon that cannot allocate has no sane way on,
 * so these abort with a message instead of returning NULL. */
#ifndef VM_XALLOC_H
#define VM_XALLOC_H

#include <stddef.h>
#include <stdio.h>

void *vm_xmalloc(size_t size);
void *vm_xcalloc(size_t n, size_t size);
void *vm_xrealloc(void *p, size_t size);
/* Grows *p to hold at least `want` elements of `size` bytes, doubling;
 * *cap is updated.  For arrays that only grow. */
void *vm_xgrow(void *p, size_t *cap, size_t want, size_t size);
char *vm_xstrdup(const char *s);
/* The first n bytes of s (fewer if it ends sooner), NUL-terminated. */
char *vm_xstrndup(const char *s, size_t n);
/* Returns a newly allocated formatted string; the caller frees it. */
char *vm_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A stream into memory (open_memstream); vm_xmemclose() ends it, *buf
 * then holding what was written and a NUL (caller frees). */
FILE *vm_xmemstream(char **buf, size_t *len);
void vm_xmemclose(FILE *f);

#endif
