#include "config.h"

#include "binio.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void vm_binw_init_sink(struct vm_binw *w, size_t bufsize, vm_binw_sink_cb sink, void *arg)
{
	memset(w, 0, sizeof *w);
	w->sink = sink;
	w->sink_arg = arg;
	w->bufsize = bufsize ? bufsize : 1;
}

int vm_binw_flush(struct vm_binw *w)
{
	if (!w->sink)
		return 0;
	if (w->len && !w->failed) {
		if (w->sink(w->sink_arg, w->p, w->len) < 0)
			w->failed = true;
		else
			w->sunk += w->len;
	}
	/* Dropped after a failure too: the buffer must stay bounded, and
	 * the result is unusable anyway. */
	w->len = 0;
	return w->failed ? -1 : 0;
}

static uint8_t *room(struct vm_binw *w, size_t n)
{
	if (w->sink && w->len && w->len + n > w->bufsize)
		vm_binw_flush(w);
	w->p = vm_xgrow(w->p, &w->cap, w->len + n, 1);
	uint8_t *at = w->p + w->len;
	w->len += n;
	return at;
}

void vm_binw_u8(struct vm_binw *w, uint8_t v)
{
	*room(w, 1) = v;
}

void vm_binw_uv(struct vm_binw *w, uint64_t v)
{
	uint8_t buf[10];
	size_t n = 0;
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		buf[n++] = b | (v ? 0x80 : 0);
	} while (v);
	memcpy(room(w, n), buf, n);
}

void vm_binw_sv(struct vm_binw *w, int64_t v)
{
	vm_binw_uv(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void vm_binw_u128(struct vm_binw *w, unsigned __int128 v)
{
	vm_binw_uv(w, (uint64_t)v);
	vm_binw_uv(w, (uint64_t)(v >> 64));
}

void vm_binw_bytes(struct vm_binw *w, const void *p, size_t n)
{
	if (n)
		memcpy(room(w, n), p, n);
}

void vm_binw_str(struct vm_binw *w, const char *s)
{
	size_t n = strlen(s);
	vm_binw_uv(w, n);
	vm_binw_bytes(w, s, n);
}

void vm_binw_release(struct vm_binw *w)
{
	free(w->p);
	memset(w, 0, sizeof *w);
}

void vm_binr_init(struct vm_binr *r, const void *p, size_t len)
{
	memset(r, 0, sizeof *r);
	r->p = p;
	r->len = len;
}

void vm_binr_fail(struct vm_binr *r, const char *what)
{
	if (!r->bad)
		r->what = what;
	r->bad = true;
}

uint8_t vm_binr_u8(struct vm_binr *r, const char *what)
{
	if (r->bad || r->off >= r->len) {
		vm_binr_fail(r, what);
		return 0;
	}
	return r->p[r->off++];
}

uint64_t vm_binr_uv(struct vm_binr *r, const char *what)
{
	uint64_t v = 0;
	for (unsigned shift = 0; !r->bad; shift += 7) {
		if (r->off >= r->len || shift > 63) {
			vm_binr_fail(r, what);
			break;
		}
		uint8_t b = r->p[r->off++];
		/* The tenth byte may only hold the top bit. */
		if (shift == 63 && (b & 0x7e)) {
			vm_binr_fail(r, what);
			break;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	return 0;
}

int64_t vm_binr_sv(struct vm_binr *r, const char *what)
{
	uint64_t u = vm_binr_uv(r, what);
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

unsigned __int128 vm_binr_u128(struct vm_binr *r, const char *what)
{
	uint64_t lo = vm_binr_uv(r, what);
	uint64_t hi = vm_binr_uv(r, what);
	return (unsigned __int128)hi << 64 | lo;
}

void vm_binr_bytes(struct vm_binr *r, void *dst, size_t n, const char *what)
{
	if (r->bad || r->len - r->off < n) {
		vm_binr_fail(r, what);
		memset(dst, 0, n);
		return;
	}
	memcpy(dst, r->p + r->off, n);
	r->off += n;
}

void vm_binr_str(struct vm_binr *r, char *dst, size_t size, const char *what)
{
	uint64_t n = vm_binr_uv(r, what);
	if (r->bad || n >= size || r->len - r->off < n || memchr(r->p + r->off, 0, (size_t)n)) {
		vm_binr_fail(r, what);
		if (size)
			dst[0] = 0;
		return;
	}
	memcpy(dst, r->p + r->off, (size_t)n);
	dst[n] = 0;
	r->off += (size_t)n;
}

uint64_t vm_binr_uv_max(struct vm_binr *r, uint64_t max, const char *what)
{
	uint64_t v = vm_binr_uv(r, what);
	if (v > max) {
		vm_binr_fail(r, what);
		return 0;
	}
	return v;
}
