#include "config.h"

#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void oom(size_t size)
{
	fprintf(stderr, "vmeter: out of memory allocating %zu bytes\n", size);
	abort();
}

void *vm_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		oom(size);
	return p;
}

void *vm_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *vm_xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		oom(size);
	return p;
}

void *vm_xgrow(void *p, size_t *cap, size_t want, size_t size)
{
	if (want <= *cap)
		return p;
	size_t n = *cap ? *cap : 8;
	while (n < want)
		n *= 2;
	p = vm_xrealloc(p, n * size);
	*cap = n;
	return p;
}

char *vm_xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		oom(strlen(s));
	return d;
}

char *vm_xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (!d)
		oom(n);
	return d;
}

char *vm_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	return s;
}

FILE *vm_xmemstream(char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);
	if (!f)
		oom(0);
	return f;
}

void vm_xmemclose(FILE *f)
{
	/* the stream's buffer could not grow */
	if (fclose(f) != 0)
		oom(0);
}
