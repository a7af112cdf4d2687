/* Compact binary encoding for state the collector keeps across restarts
 * (collector/resume.h): a growable writer and a bounds-checked reader of
 * bytes, LEB128 varints (zig-zag for signed values) and short strings.
 *
 * The reader never reads past its buffer.  A short or malformed field
 * sets a sticky error flag and yields zeros, so a decoder reads a whole
 * structure and checks vm_binr_ok() once at the end instead of after every
 * field; the first failure's description stays in `what`. */
#ifndef VM_BINIO_H
#define VM_BINIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a writer with a sink hands its bytes: n bytes at p, which the
 * writer owns and reuses after the call.  Returns 0, or -1 to refuse them
 * (a write failed): the writer then drops what follows, and
 * vm_binw_flush() returns -1. */
typedef int (*vm_binw_sink_cb)(void *arg, const void *p, size_t n);

/* A writer, in one of two kinds:
 *   in memory  zero-initialise, write, use p/len, vm_binw_release();
 *   to a sink  vm_binw_init_sink(), write, vm_binw_flush(),
 *              vm_binw_release(): the buffer is handed to the sink each
 *              time it would pass `bufsize`, so it stays that small
 *              however much is written (a state file of a large fleet). */
struct vm_binw {
	uint8_t *p; /* owned by the writer until released */
	size_t len, cap;
	vm_binw_sink_cb sink; /* NULL: everything stays in p */
	void *sink_arg;
	size_t bufsize;
	uint64_t sunk; /* bytes handed to the sink so far */
	bool failed;   /* the sink refused: later bytes are dropped */
};

void vm_binw_init_sink(struct vm_binw *w, size_t bufsize, vm_binw_sink_cb sink, void *arg);
/* Hands what is buffered to the sink.  Returns 0, or -1 if the sink
 * refused any part of what was written.  Without a sink, returns 0. */
int vm_binw_flush(struct vm_binw *w);

void vm_binw_u8(struct vm_binw *w, uint8_t v);
void vm_binw_uv(struct vm_binw *w, uint64_t v);
void vm_binw_sv(struct vm_binw *w, int64_t v);
void vm_binw_u128(struct vm_binw *w, unsigned __int128 v);
void vm_binw_bytes(struct vm_binw *w, const void *p, size_t n);
/* A string as its length and bytes (no terminator). */
void vm_binw_str(struct vm_binw *w, const char *s);
void vm_binw_release(struct vm_binw *w);

/* A reader over borrowed bytes. */
struct vm_binr {
	const uint8_t *p;
	size_t len, off;
	bool bad;
	const char *what; /* the first field that failed, a static string */
};

void vm_binr_init(struct vm_binr *r, const void *p, size_t len);
uint8_t vm_binr_u8(struct vm_binr *r, const char *what);
uint64_t vm_binr_uv(struct vm_binr *r, const char *what);
int64_t vm_binr_sv(struct vm_binr *r, const char *what);
unsigned __int128 vm_binr_u128(struct vm_binr *r, const char *what);
/* n bytes into dst. */
void vm_binr_bytes(struct vm_binr *r, void *dst, size_t n, const char *what);
/* A string into dst (size bytes with the terminator): longer ones, and ones
 * holding a NUL, are errors, never truncated. */
void vm_binr_str(struct vm_binr *r, char *dst, size_t size, const char *what);
/* A value that must not exceed max (a count to allocate, an index). */
uint64_t vm_binr_uv_max(struct vm_binr *r, uint64_t max, const char *what);
/* Marks the reader bad (a value out of range found by the caller). */
void vm_binr_fail(struct vm_binr *r, const char *what);
static inline bool vm_binr_ok(const struct vm_binr *r)
{
	return !r->bad;
}
static inline bool vm_binr_done(const struct vm_binr *r)
{
	return !r->bad && r->off == r->len;
}

#endif
