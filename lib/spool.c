#include "config.h"

#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "fsutil.h"
#include "log.h"
#include "vtime.h"
#include "xalloc.h"

/* Locking.  Three mutexes:
 *   wlock  the writer's side: the batch, the segment file being written
 *          (wfd) and the sync state; held through append and commit;
 *   rlock  the drainer's side: its file reader, the read hint; held
 *          through read and ack, callbacks included;
 *   lock   what both sides and stats share: the segment list, sizes,
 *          sequence numbers, the head, the counters; held only briefly,
 *          never across I/O.
 * Order: wlock or rlock before lock.  The writer touches wfd and the sync
 * state only between setting `committing` and clearing it; ack closes wfd
 * (when it removes a fully delivered current segment) only under lock
 * while `committing` is false.  Only the drainer frees segments and changes
 * their bad-range lists, so it may use them without lock; it changes the
 * lists under lock because stats reads them.
 *
 * Bytes below a segment's `size` never change once the writer has set it
 * (appends go after it, failed writes are cut back to it), so the drainer
 * may read them without lock and cache them. */

#define SEG_HDR VM_SPOOL_SEGMENT_HEADER_SIZE
#define REC_HDR VM_SPOOL_RECORD_HEADER_SIZE
#define ACK_SIZE 32
#define ACK_VERSION 1 /* the ack file did not change with the segments' version 2 */
/* In the length field of a version-2 record: the last record of its
 * commit.  A record is at most 64 MiB, so the bit is free; the CRC covers
 * it like the rest of the field. */
#define REC_COMMIT_END VM_SPOOL_RECORD_COMMIT_END
#define ACK_NAME "ack"
#define ACK_TMP "ack.tmp"
#define WINDOW (256u << 10) /* bytes read ahead when scanning */
#define SEG_NAME_LEN 16     /* hex digits */
/* Sequence and segment numbers above this come from damage or tampering,
 * never from use (2^62 records); refusing them keeps n + 1 from wrapping. */
#define NUMBER_MAX (UINT64_C(1) << 62)

#define DEFAULT_SEGMENT_SIZE (16u << 20)
#define DEFAULT_CAP (UINT64_C(1) << 30)
#define DEFAULT_MAX_RECORD (1u << 20)
#define DEFAULT_INTERVAL_MS 1000
/* A batch past this is written to its segment as it grows (batch_flush()):
 * a pass of the collector appends ~700 bytes a VM, all of which it held
 * until the commit (issue 17). */
#define BATCH_BUF (64u << 10)
#define MAX_INTERVAL_MS 3600000

static const uint8_t seg_magic[8] = "VMSPOOL";
static const uint8_t ack_magic[8] = "VMSPACK";

/* Bytes [off, end) of a segment hold no valid record; the records with
 * sequences [seq_lo, seq_hi) were lost there.  A tail range has no record
 * after it (its loss is unknown: seq_hi == seq_lo). */
struct bad_range {
	uint64_t off, end, seq_lo, seq_hi;
	bool tail;
};

struct seg {
	uint64_t id;
	uint32_t version;      /* of its format: 1 has no commit ends (every record is one) */
	uint64_t base;         /* sequence of the first record written to it */
	uint64_t last;         /* of its last valid record; base - 1 while it has none */
	uint64_t size;         /* bytes of valid data: the next batch goes here, readers stop here */
	bool sealed;           /* a failed write left bytes past size that could not be cut: no more appends */
	struct bad_range *bad; /* sorted by off, disjoint */
	size_t nbad, badcap;
};

/* Buffered reading of one segment file for scans and the drainer. */
struct fbuf {
	int fd;
	uint64_t id; /* segment open on fd, 0: none */
	uint8_t *buf;
	size_t cap;
	uint64_t boff; /* file offset of buf[0] */
	size_t blen;
};

struct rec {
	uint64_t off, end, seq;
	int64_t time;
	const uint8_t *payload; /* in the fbuf's buffer */
	uint32_t len;
	bool commit_end; /* REC_COMMIT_END was set */
};

#define SPOOL_ERR_SIZE 512

struct vm_spool {
	char *dir;
	int dirfd;
	struct vm_spool_opts opts;

	pthread_mutex_t lock;
	struct seg **segs; /* by id */
	size_t nsegs, segcap;
	uint64_t bytes;
	uint64_t next_seg_id;
	uint64_t next_seq;      /* handed out by append */
	uint64_t committed_seq; /* newest committed record, 0 if none */
	uint64_t acked;
	struct seg *wseg; /* current segment; NULL: the next commit creates one */
	bool committing;
	/* The oldest pending record: exact unless stale (set while ack or a
	 * damaged record moved it and the drainer has not found it yet). */
	bool head_some, head_stale;
	struct vm_spool_cursor head;
	int64_t head_time;
	struct vm_spool_stats st; /* counters; levels are computed */

	pthread_mutex_t wlock;
	int wfd;
	/* The batch: batch_n records of batch_len bytes, the first
	 * batch_flushed of them written to wseg past its size already
	 * (batch_flush()), the rest, batch_mem bytes, in `batch`. */
	uint8_t *batch;
	size_t batch_len, batch_cap, batch_n, batch_mem, batch_flushed;
	size_t batch_last; /* offset in `batch` of the last record, which commit marks */
	int batch_err;     /* a flush failed: the batch is lost, its commit fails with this */
	uint64_t batch_seq0;
	int64_t batch_time0;
	bool unsynced, dir_unsynced;
	int64_t last_sync_ns; /* monotonic */

	pthread_mutex_t rlock;
	struct fbuf rd;
	bool ack_dirty;  /* acked is ahead of the ack file */
	bool hint_valid; /* the last record handed out, and the position after it */
	uint64_t hint_seq;
	struct vm_spool_cursor hint_after;

	/* The last failure of each side, each written by its own thread only
	 * (calls on one side are serialised): writer (append, commit) and
	 * drainer (read, ack). */
	char werr[SPOOL_ERR_SIZE];
	char rerr[SPOOL_ERR_SIZE];

	char *test_kill;        /* VMETER_TEST_SPOOL_ACK_KILL, NULL if not set */
	char *test_commit_kill; /* VMETER_TEST_SPOOL_COMMIT_KILL, NULL if not set */
};

/* ---------------------------------------------------------------- errors */

/* buf: sp->werr or sp->rerr, as the side of the failing call. */
static void set_err(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, SPOOL_ERR_SIZE, fmt, ap);
	va_end(ap);
}

const char *vm_spool_error(const struct vm_spool *sp)
{
	return sp->werr;
}

const char *vm_spool_read_error(const struct vm_spool *sp)
{
	return sp->rerr;
}

static int full_or_error(int e)
{
	return e == ENOSPC || e == EDQUOT ? VM_SPOOL_FULL : VM_SPOOL_ERROR;
}

/* ---------------------------------------------------------------- crc32c */

static uint32_t crc_table[8][256];
static bool crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t vm_spool_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	const uint8_t *p = buf;
	crc = ~crc;
	while (len >= 8) {
		/* Assembled byte by byte: the same on any byte order, and
		 * compilers turn it into one load where they can. */
		uint32_t lo =
		    crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
		      crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = ~crc;
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8); /* unaligned */
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = _mm_crc32_u8(c32, *p++);
	return ~c32;
}
#endif

uint32_t vm_spool_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (crc_hw)
		return crc_sse42(crc, buf, len);
#endif
	return vm_spool_crc32c_sw(crc, buf, len);
}

/* The combination by polynomial arithmetic modulo the CRC's polynomial
 * (as zlib's crc32_combine()): crc1 followed by len2 zero bytes is crc1
 * times x^(8 len2), and the CRC of a concatenation is that plus crc2. */
static uint32_t crc_multmodp(uint32_t a, uint32_t b)
{
	uint32_t m = UINT32_C(1) << 31, p = 0;
	for (;;) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ 0x82f63b78u : b >> 1;
	}
	return p;
}

uint32_t vm_spool_crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2)
{
	/* x^(8 len2): squarings of x^8 for the bits of len2. */
	uint32_t xpow = UINT32_C(1) << 31; /* 1 */
	uint32_t sq = UINT32_C(1) << 23;   /* x^8 */
	for (; len2; len2 >>= 1) {
		if (len2 & 1)
			xpow = crc_multmodp(sq, xpow);
		sq = crc_multmodp(sq, sq);
	}
	return crc_multmodp(xpow, crc1) ^ crc2;
}

/* ---------------------------------------------------------------- encoding */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Over everything but the CRC field itself. */
static uint32_t rec_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
	uint32_t crc = vm_spool_crc32c(0, hdr, 4);
	crc = vm_spool_crc32c(crc, hdr + 8, REC_HDR - 8);
	return vm_spool_crc32c(crc, payload, len);
}

static void seg_header_encode(uint8_t *h, uint64_t id, int64_t ctime, uint64_t base)
{
	memset(h, 0, SEG_HDR);
	memcpy(h, seg_magic, 8);
	put32(h + 8, VM_SPOOL_FORMAT_VERSION);
	put64(h + 16, id);
	put64(h + 24, (uint64_t)ctime);
	put64(h + 32, base);
	put32(h + 12, vm_spool_crc32c(0, h, SEG_HDR));
}

/* Returns NULL if the header is sound, else what is wrong with it.
 * Version 1 segments (before commit ends) are still read, so that an
 * upgrade in place delivers what the old build spooled. */
static const char *seg_header_check(const uint8_t *h, uint64_t id, uint64_t *base, uint32_t *version)
{
	if (memcmp(h, seg_magic, 8) != 0)
		return "bad magic";
	*version = get32(h + 8);
	if (*version != 1 && *version != VM_SPOOL_FORMAT_VERSION)
		return "unknown format version";
	uint8_t copy[SEG_HDR];
	memcpy(copy, h, SEG_HDR);
	put32(copy + 12, 0);
	if (vm_spool_crc32c(0, copy, SEG_HDR) != get32(h + 12))
		return "header checksum mismatch";
	if (get64(h + 16) != id)
		return "segment number differs from the file name";
	*base = get64(h + 32);
	if (*base == 0 || *base > NUMBER_MAX)
		return "first record sequence out of range";
	return NULL;
}

static void seg_name(char *buf, size_t size, uint64_t id, const char *suffix)
{
	snprintf(buf, size, "%016" PRIx64 ".seg%s", id, suffix);
}

/* Parses "<16 hex>.seg" + suffix; returns 0 and the id, or -1. */
static int seg_name_parse(const char *name, const char *suffix, uint64_t *id)
{
	uint64_t v = 0;
	for (int i = 0; i < SEG_NAME_LEN; i++) {
		char c = name[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	if (strncmp(name + SEG_NAME_LEN, ".seg", 4) != 0 || strcmp(name + SEG_NAME_LEN + 4, suffix) != 0 || v == 0 ||
	    v > NUMBER_MAX)
		return -1;
	*id = v;
	return 0;
}

/* ---------------------------------------------------------------- files */

static void fb_init(struct fbuf *fb)
{
	memset(fb, 0, sizeof *fb);
	fb->fd = -1;
}

static void fb_close(struct fbuf *fb)
{
	if (fb->fd >= 0)
		close(fb->fd);
	fb->fd = -1;
	fb->id = 0;
	fb->blen = 0;
}

static void fb_release(struct fbuf *fb)
{
	fb_close(fb);
	free(fb->buf);
	fb->buf = NULL;
	fb->cap = 0;
}

/* Points *p at bytes [off, off + len) of the file, reading ahead but never
 * past `limit` (bytes past it may still change).  The caller has checked
 * off + len <= limit.  Returns 0, or -1 with errno (EIO: the file is
 * shorter than limit). */
static int fb_get(struct fbuf *fb, uint64_t off, size_t len, uint64_t limit, const uint8_t **p)
{
	if (off >= fb->boff && off - fb->boff + len <= fb->blen) {
		*p = fb->buf + (off - fb->boff);
		return 0;
	}
	size_t want = len > WINDOW ? len : WINDOW;
	if (want > limit - off)
		want = (size_t)(limit - off);
	if (want > fb->cap) {
		fb->buf = vm_xrealloc(fb->buf, want);
		fb->cap = want;
	}
	fb->boff = off;
	fb->blen = 0;
	while (fb->blen < want) {
		ssize_t n = pread(fb->fd, fb->buf + fb->blen, want - fb->blen, (off_t)(off + fb->blen));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		fb->blen += (size_t)n;
	}
	if (fb->blen < len) {
		fb->blen = 0;
		errno = EIO;
		return -1;
	}
	*p = fb->buf;
	return 0;
}

/* ---------------------------------------------------------------- records */

/* Is there a valid record at q, below limit, with a sequence in [lo, hi]?
 * Returns 1 and fills r, 0 if not, -1 on a read error.  The length is
 * checked before anything is read or allocated for the payload. */
static int rec_at(struct fbuf *fb, uint64_t q, uint64_t limit, uint64_t lo, uint64_t hi, uint32_t max_rec,
                  struct rec *r)
{
	const uint8_t *h;
	if (q > limit || limit - q < REC_HDR)
		return 0;
	if (fb_get(fb, q, REC_HDR, limit, &h) < 0)
		return -1;
	uint32_t field = get32(h);
	uint32_t len = field & ~REC_COMMIT_END;
	uint64_t seq = get64(h + 8);
	if (len > max_rec || len > limit - q - REC_HDR || seq < lo || seq > hi)
		return 0;
	if (fb_get(fb, q, REC_HDR + (size_t)len, limit, &h) < 0)
		return -1;
	if (rec_crc(h, h + REC_HDR, len) != get32(h + 4))
		return 0;
	r->off = q;
	r->end = q + REC_HDR + len;
	r->seq = seq;
	r->time = (int64_t)get64(h + 16);
	r->payload = h + REC_HDR;
	r->len = len;
	r->commit_end = (field & REC_COMMIT_END) != 0;
	return 1;
}

/* Finds the first valid record at or after p->off and below limit.  At
 * p->off it must carry p->expect exactly; past damage, a record k records
 * further on takes at least k headers' worth of bytes, so a candidate at q
 * may carry at most expect + (q - gap) / REC_HDR.  With the CRC this makes
 * a false resync practically impossible, and keeps the scan linear: the
 * CRC is computed only for candidates with a plausible length and
 * sequence.  Returns 1 (r filled), 0 (no valid record), -1 (read error). */
static int seg_find(struct fbuf *fb, const struct vm_spool_cursor *p, uint64_t limit, uint32_t max_rec, struct rec *r)
{
	uint64_t gap = p->gap_start ? p->gap_start : p->off;
	int rc = rec_at(fb, p->off, limit, p->expect, p->expect + (p->off - gap) / REC_HDR, max_rec, r);
	for (uint64_t q = p->off + 1; rc == 0 && q < limit && limit - q >= REC_HDR; q++)
		rc = rec_at(fb, q, limit, p->expect, p->expect + (q - gap) / REC_HDR, max_rec, r);
	return rc;
}

/* ---------------------------------------------------------------- segments */

static struct seg *seg_new(uint64_t id, uint32_t version, uint64_t base, uint64_t size)
{
	struct seg *s = vm_xcalloc(1, sizeof *s);
	s->id = id;
	s->version = version;
	s->base = base;
	s->last = base - 1;
	s->size = size;
	return s;
}

static void seg_free(struct seg *s)
{
	if (!s)
		return;
	free(s->bad);
	free(s);
}

/* First segment with an id >= id; under lock. */
static struct seg *seg_from(struct vm_spool *sp, uint64_t id)
{
	size_t lo = 0, hi = sp->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sp->segs[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sp->nsegs ? sp->segs[lo] : NULL;
}

static void seg_push(struct vm_spool *sp, struct seg *s)
{
	sp->segs = vm_xgrow(sp->segs, &sp->segcap, sp->nsegs + 1, sizeof *sp->segs);
	sp->segs[sp->nsegs++] = s;
	sp->bytes += s->size;
}

/* The bad range starting exactly at off, if any. */
static const struct bad_range *bad_at(const struct seg *s, uint64_t off)
{
	size_t lo = 0, hi = s->nbad;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->bad[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nbad && s->bad[lo].off == off ? &s->bad[lo] : NULL;
}

/* Adds a range, absorbing the ones it covers (a resync from further back
 * can swallow a range found before).  Returns the bytes and lost records
 * that are new.  Under lock once the spool is shared. */
static void bad_add(struct seg *s, struct bad_range b, uint64_t *new_bytes, uint64_t *new_lost)
{
	uint64_t bytes = b.end - b.off, lost = b.seq_hi - b.seq_lo;
	size_t w = 0, at = s->nbad;
	for (size_t i = 0; i < s->nbad; i++) {
		struct bad_range *o = &s->bad[i];
		if (o->off >= b.off && o->end <= b.end) {
			bytes -= o->end - o->off;
			lost -= o->seq_hi - o->seq_lo;
			continue;
		}
		if (at == s->nbad && o->off > b.off)
			at = w;
		s->bad[w++] = *o;
	}
	s->nbad = w;
	if (at > s->nbad)
		at = s->nbad;
	s->bad = vm_xgrow(s->bad, &s->badcap, s->nbad + 1, sizeof *s->bad);
	memmove(&s->bad[at + 1], &s->bad[at], (s->nbad - at) * sizeof *s->bad);
	s->bad[at] = b;
	s->nbad++;
	*new_bytes = bytes;
	*new_lost = lost;
}

/* Valid records of s with a sequence <= x: its sequences run from base
 * to last, less those lost in bad ranges. */
static uint64_t seg_valid_upto(const struct seg *s, uint64_t x)
{
	if (s->last < s->base || x < s->base)
		return 0;
	uint64_t top = x < s->last ? x : s->last;
	uint64_t n = top - s->base + 1;
	for (size_t i = 0; i < s->nbad; i++) {
		uint64_t lo = s->bad[i].seq_lo, hi = s->bad[i].seq_hi; /* [lo, hi) */
		if (hi > top + 1)
			hi = top + 1;
		if (lo < s->base)
			lo = s->base;
		if (hi > lo)
			n -= hi - lo < n ? hi - lo : n;
	}
	return n;
}

/* Under lock. */
static uint64_t pending_count(const struct vm_spool *sp)
{
	uint64_t n = 0;
	for (size_t i = 0; i < sp->nsegs; i++) {
		const struct seg *s = sp->segs[i];
		n += seg_valid_upto(s, s->last) - seg_valid_upto(s, sp->acked);
	}
	return n;
}

static char *seg_path(const struct vm_spool *sp, uint64_t id, const char *suffix)
{
	char name[64];
	seg_name(name, sizeof name, id, suffix);
	return vm_xasprintf("%s/%s", sp->dir, name);
}

/* ---------------------------------------------------------------- ack file */

/* Replaces the ack file (write, sync, rename, sync of the directory).
 * Returns 0, VM_SPOOL_FULL when the file system has no room for it, or
 * VM_SPOOL_ERROR, with a message in sp->rerr. */
static int ack_write(struct vm_spool *sp, uint64_t acked, uint64_t next_seg)
{
	uint8_t b[ACK_SIZE] = {0};
	memcpy(b, ack_magic, 8);
	put32(b + 8, ACK_VERSION);
	put64(b + 16, acked);
	put64(b + 24, next_seg);
	put32(b + 12, vm_spool_crc32c(0, b, ACK_SIZE));
	const char *what = "create";
	int ret = VM_SPOOL_ERROR;
	int fd = openat(sp->dirfd, ACK_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		goto out;
	what = "write";
	if (vm_pwrite_all(fd, b, sizeof b, 0) < 0)
		goto out;
	what = "sync";
	if (fsync(fd) < 0)
		goto out;
	what = "close";
	int rc = close(fd);
	fd = -1;
	if (rc < 0)
		goto out;
	what = "rename";
	if (renameat(sp->dirfd, ACK_TMP, sp->dirfd, ACK_NAME) < 0)
		goto out;
	what = "sync the directory of";
	if (fsync(sp->dirfd) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0) {
		int e = errno;
		set_err(sp->rerr, "cannot %s ack file '%s/%s': %s", what, sp->dir, ACK_NAME, strerror(e));
		if (fd >= 0)
			close(fd);
		unlinkat(sp->dirfd, ACK_TMP, 0);
		ret = full_or_error(e);
	}
	return ret;
}

/* A missing file means nothing was delivered yet; a damaged one is logged
 * and treated the same way: delivering again is harmless, skipping is not. */
static int ack_read(struct vm_spool *sp, uint64_t *acked, uint64_t *next_seg, char *err, size_t errsize)
{
	*acked = 0;
	*next_seg = 1;
	uint8_t b[ACK_SIZE + 1];
	int fd = openat(sp->dirfd, ACK_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errsize, "cannot open ack file '%s/%s': %s", sp->dir, ACK_NAME, strerror(errno));
		return -1;
	}
	ssize_t n;
	do
		n = pread(fd, b, sizeof b, 0);
	while (n < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (n < 0) {
		snprintf(err, errsize, "cannot read ack file '%s/%s': %s", sp->dir, ACK_NAME, strerror(e));
		return -1;
	}
	const char *why = NULL;
	if (n != ACK_SIZE)
		why = "wrong size";
	else if (memcmp(b, ack_magic, 8) != 0)
		why = "bad magic";
	else if (get32(b + 8) != ACK_VERSION)
		why = "unknown format version";
	else {
		uint32_t crc = get32(b + 12);
		put32(b + 12, 0);
		if (vm_spool_crc32c(0, b, ACK_SIZE) != crc)
			why = "checksum mismatch";
		else if (get64(b + 16) > NUMBER_MAX || get64(b + 24) > NUMBER_MAX)
			why = "numbers out of range";
	}
	if (why) {
		vm_warn("spool '%s': ack file is damaged (%s): delivering every record in the spool again", sp->dir,
		        why);
		return 0;
	}
	*acked = get64(b + 16);
	*next_seg = get64(b + 24);
	return 0;
}

/* ---------------------------------------------------------------- open */

static int opts_check(struct vm_spool_opts *o, char *err, size_t errsize)
{
	if (o->segment_size == 0)
		o->segment_size = DEFAULT_SEGMENT_SIZE;
	if (o->cap == 0)
		o->cap = DEFAULT_CAP;
	if (o->max_record == 0)
		o->max_record = DEFAULT_MAX_RECORD;
	if (o->sync_interval_ms == 0)
		o->sync_interval_ms = DEFAULT_INTERVAL_MS;
	if (o->segment_size < VM_SPOOL_SEGMENT_SIZE_MIN || o->segment_size > VM_SPOOL_SEGMENT_SIZE_MAX) {
		snprintf(err, errsize, "spool segment size %" PRIu64 " out of range %u..%u", o->segment_size,
		         VM_SPOOL_SEGMENT_SIZE_MIN, VM_SPOOL_SEGMENT_SIZE_MAX);
		return -1;
	}
	if (o->max_record > VM_SPOOL_MAX_RECORD_LIMIT) {
		snprintf(err, errsize, "spool record size limit %" PRIu32 " above %u", o->max_record,
		         VM_SPOOL_MAX_RECORD_LIMIT);
		return -1;
	}
	if (o->cap < (uint64_t)SEG_HDR + REC_HDR + o->max_record) {
		snprintf(err, errsize, "spool size cap %" PRIu64 " cannot hold a record of %" PRIu32 " bytes", o->cap,
		         o->max_record);
		return -1;
	}
	if (o->sync != VM_SPOOL_SYNC_ALWAYS && o->sync != VM_SPOOL_SYNC_INTERVAL && o->sync != VM_SPOOL_SYNC_NONE) {
		snprintf(err, errsize, "spool sync policy %d unknown", (int)o->sync);
		return -1;
	}
	if (o->sync_interval_ms > MAX_INTERVAL_MS) {
		snprintf(err, errsize, "spool sync interval %" PRIu32 " ms above %d", o->sync_interval_ms,
		         MAX_INTERVAL_MS);
		return -1;
	}
	return 0;
}

struct found {
	uint64_t id;
	int fd;
	uint64_t size, base;
	uint32_t version;
};

static int found_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct found *)a)->id, y = ((const struct found *)b)->id;
	return x < y ? -1 : x > y;
}

/* Lists the directory: segment files into *out, the highest id of any
 * segment or quarantined segment into *max_id; removes temporary files
 * that a crash left behind. */
static int dir_list(struct vm_spool *sp, struct found **out, size_t *n, uint64_t *max_id, bool *changed, char *err,
                    size_t errsize)
{
	int fd = dup(sp->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		snprintf(err, errsize, "cannot list spool directory '%s': %s", sp->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	size_t cap = 0;
	*out = vm_xgrow(*out, &cap, 1, sizeof **out); /* never NULL, even when empty */
	struct dirent *de;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		uint64_t id;
		size_t len = strlen(de->d_name);
		if (len == SEG_NAME_LEN + 4 && seg_name_parse(de->d_name, "", &id) == 0) {
			*out = vm_xgrow(*out, &cap, *n + 1, sizeof **out);
			(*out)[(*n)++] = (struct found){.id = id, .fd = -1};
		} else if (len == SEG_NAME_LEN + 8 && seg_name_parse(de->d_name, ".bad", &id) == 0) {
			/* kept for the operator */
		} else if ((len == SEG_NAME_LEN + 8 && seg_name_parse(de->d_name, ".tmp", &id) == 0) ||
		           strcmp(de->d_name, ACK_TMP) == 0) {
			if (unlinkat(sp->dirfd, de->d_name, 0) == 0)
				*changed = true;
			continue;
		} else {
			continue;
		}
		if (id > *max_id)
			*max_id = id;
	}
	int e = errno;
	closedir(d);
	if (e) {
		snprintf(err, errsize, "cannot list spool directory '%s': %s", sp->dir, strerror(e));
		return -1;
	}
	if (*n > 1)
		qsort(*out, *n, sizeof **out, found_cmp);
	return 0;
}

static int quarantine(struct vm_spool *sp, uint64_t id, uint64_t size, const char *why, char *err, size_t errsize)
{
	char name[64], bad[64];
	seg_name(name, sizeof name, id, "");
	seg_name(bad, sizeof bad, id, ".bad");
	if (renameat(sp->dirfd, name, sp->dirfd, bad) < 0) {
		snprintf(err, errsize, "cannot rename damaged segment '%s/%s' to '%s': %s", sp->dir, name, bad,
		         strerror(errno));
		return -1;
	}
	vm_warn("spool '%s': segment '%s' has a bad header (%s): renamed to '%s', its records are not delivered",
	        sp->dir, name, why, bad);
	sp->st.quarantined_segments++;
	sp->st.quarantined_bytes += size;
	return 0;
}

/* Checks the header of each segment: bad ones are quarantined, and the
 * last one, if shorter than a header, was being created by a crash and is
 * removed.  Leaves the sound ones open in f[] with their base. */
static int check_headers(struct vm_spool *sp, struct found *f, size_t *n, bool *changed, char *err, size_t errsize)
{
	size_t kept = 0;
	for (size_t i = 0; i < *n; i++) {
		char name[64];
		seg_name(name, sizeof name, f[i].id, "");
		int fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			snprintf(err, errsize, "cannot open segment '%s/%s': %s", sp->dir, name, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		uint8_t h[SEG_HDR];
		const char *why = NULL;
		if (st.st_size < SEG_HDR) {
			why = "shorter than a header";
		} else {
			ssize_t r;
			do
				r = pread(fd, h, SEG_HDR, 0);
			while (r < 0 && errno == EINTR);
			if (r < 0) {
				snprintf(err, errsize, "cannot read segment '%s/%s': %s", sp->dir, name,
				         strerror(errno));
				close(fd);
				return -1;
			}
			why = r != SEG_HDR ? "shorter than a header"
			                   : seg_header_check(h, f[i].id, &f[i].base, &f[i].version);
		}
		if (!why) {
			f[i].fd = fd;
			f[i].size = (uint64_t)st.st_size;
			f[kept++] = f[i];
			continue;
		}
		close(fd);
		*changed = true;
		if (i == *n - 1 && st.st_size < SEG_HDR) {
			/* A crash between creating the file and writing its
			 * header (or a power loss before either reached the
			 * disk): nothing was ever acknowledged in it. */
			if (unlinkat(sp->dirfd, name, 0) < 0) {
				snprintf(err, errsize, "cannot remove empty segment '%s/%s': %s", sp->dir, name,
				         strerror(errno));
				return -1;
			}
			vm_warn("spool '%s': removed segment '%s', %jd bytes, created but never written", sp->dir, name,
			        (intmax_t)st.st_size);
			sp->st.repaired_segments++;
			sp->st.truncated_bytes += (uint64_t)st.st_size;
			continue;
		}
		if (quarantine(sp, f[i].id, (uint64_t)st.st_size, why, err, errsize) < 0)
			return -1;
	}
	*n = kept;
	return 0;
}

/* Cuts the last segment at `at`; `whole` records of an unfinished commit
 * (sound ones, before the torn bytes if any) go with it. */
static int truncate_tail(struct vm_spool *sp, struct seg *s, uint64_t at, uint64_t size, uint64_t whole, char *err,
                         size_t errsize)
{
	char name[64];
	seg_name(name, sizeof name, s->id, "");
	int fd = openat(sp->dirfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)at) < 0 || fdatasync(fd) < 0) {
		snprintf(err, errsize, "cannot cut the torn tail of segment '%s/%s': %s", sp->dir, name,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (whole)
		vm_warn("spool '%s': segment '%s': cut an unfinished commit at the end, %" PRIu64
		        " bytes from offset %" PRIu64 " (%" PRIu64 " whole records of it)",
		        sp->dir, name, size - at, at, whole);
	else
		vm_warn("spool '%s': segment '%s': cut a torn record at the end, %" PRIu64
		        " bytes from offset %" PRIu64,
		        sp->dir, name, size - at, at);
	sp->st.truncated_bytes += size - at;
	sp->st.cut_records += whole;
	sp->st.truncated_records++;
	sp->st.repaired_segments++;
	return 0;
}

/* Where a scan stood after the last record that ended a commit: what the
 * last segment is cut back to. */
struct scan_mark {
	uint64_t off, last, corrupt, regions, lost;
	size_t nbad;
};

/* Reads every record of one segment, recording bad ranges, and cuts a
 * torn tail if this is the last segment.  Finds the head on the way.
 *
 * In the last segment of version 2 the tail is cut back to the end of the
 * last complete commit: a process killed inside a commit's pwrite() can
 * leave its first records whole on disk, and keeping them would end the
 * spool at a number that no saved state of the collector names, with the
 * rest of that commit gone unseen (collector/resume.h).  Damage before
 * that end is skipped as anywhere else: the commit was written whole.
 * A commit never spans segments (the writer rolls before writing the
 * batch), so only the last segment can hold an unfinished one; one left
 * behind in an earlier segment (a sealed segment whose cut failed) is
 * indistinguishable from a damaged commit end and is kept. */
static int scan_segment(struct vm_spool *sp, struct fbuf *fb, struct seg *s, bool is_last, bool *changed, char *err,
                        size_t errsize)
{
	struct vm_spool_cursor p = {s->id, SEG_HDR, s->base, 0};
	uint64_t limit = s->size, corrupt = 0, regions = 0, lost = 0;
	bool commits = is_last && s->version >= 2;
	struct scan_mark mark = {SEG_HDR, s->base - 1, 0, 0, 0, 0};
	uint64_t whole = 0; /* sound records since the mark */
	bool head_here = false;
	uint64_t head_off = 0;
	for (;;) {
		struct rec r;
		int rc = seg_find(fb, &p, limit, sp->opts.max_record, &r);
		if (rc < 0) {
			char name[64];
			seg_name(name, sizeof name, s->id, "");
			snprintf(err, errsize, "cannot read segment '%s/%s': %s", sp->dir, name, strerror(errno));
			return -1;
		}
		if (rc == 0) {
			if (commits)
				break; /* cut below, at the mark */
			if (p.off >= limit)
				break;
			if (is_last) {
				if (truncate_tail(sp, s, p.off, limit, 0, err, errsize) < 0)
					return -1;
				*changed = true;
				s->size = p.off;
				break;
			}
			/* Damage to the end of a segment that is not the
			 * one a crash could have torn: keep the bytes, skip
			 * them. */
			uint64_t nb, nl;
			bad_add(s, (struct bad_range){p.off, limit, p.expect, p.expect, true}, &nb, &nl);
			corrupt += nb;
			regions++;
			break;
		}
		if (r.off > p.off) {
			uint64_t nb, nl;
			bad_add(s, (struct bad_range){p.off, r.off, p.expect, r.seq, false}, &nb, &nl);
			corrupt += nb;
			lost += nl;
			regions++;
		}
		s->last = r.seq;
		if (r.seq > sp->acked && !sp->head_some) {
			sp->head_some = true;
			sp->head = (struct vm_spool_cursor){s->id, r.off, r.seq, 0};
			sp->head_time = r.time;
			head_here = true;
			head_off = r.off;
		}
		p.off = r.end;
		p.expect = r.seq + 1;
		p.gap_start = 0;
		whole++;
		if (commits && r.commit_end) {
			mark = (struct scan_mark){r.end, r.seq, corrupt, regions, lost, s->nbad};
			whole = 0;
		}
	}
	if (commits && mark.off < limit) {
		/* Everything after the mark: the unfinished commit's whole
		 * records, its torn bytes, and the ranges found in them. */
		if (truncate_tail(sp, s, mark.off, limit, whole, err, errsize) < 0)
			return -1;
		*changed = true;
		s->size = mark.off;
		s->last = mark.last;
		s->nbad = mark.nbad;
		corrupt = mark.corrupt;
		regions = mark.regions;
		lost = mark.lost;
		if (head_here && head_off >= mark.off)
			sp->head_some = false;
	}
	if (regions) {
		char name[64];
		seg_name(name, sizeof name, s->id, "");
		vm_warn("spool '%s': segment '%s': damaged bytes skipped: %" PRIu64 " in %" PRIu64
		        " region(s), records lost: %" PRIu64,
		        sp->dir, name, corrupt, regions, lost);
		sp->st.corrupt_bytes += corrupt;
		sp->st.corrupt_regions += regions;
		sp->st.lost_records += lost;
	}
	return 0;
}

/* Removes fully delivered segments left from before (never the current
 * one of a running writer: there is none yet). */
static int remove_delivered_at_open(struct vm_spool *sp, bool *changed, char *err, size_t errsize)
{
	int ret = 0;
	size_t k = 0;
	while (k < sp->nsegs && sp->segs[k]->last <= sp->acked) {
		char name[64];
		seg_name(name, sizeof name, sp->segs[k]->id, "");
		if (unlinkat(sp->dirfd, name, 0) < 0 && errno != ENOENT) {
			snprintf(err, errsize, "cannot remove delivered segment '%s/%s': %s", sp->dir, name,
			         strerror(errno));
			ret = -1;
			break;
		}
		*changed = true;
		sp->bytes -= sp->segs[k]->size;
		seg_free(sp->segs[k]);
		k++;
	}
	if (k) {
		memmove(sp->segs, sp->segs + k, (sp->nsegs - k) * sizeof *sp->segs);
		sp->nsegs -= k;
	}
	return ret;
}

static int spool_load(struct vm_spool *sp, char *err, size_t errsize)
{
	struct found *f = NULL;
	size_t n = 0;
	uint64_t max_id = 0, acked, next_seg;
	bool changed = false;
	struct fbuf fb;
	fb_init(&fb);
	int ret = -1;

	if (ack_read(sp, &acked, &next_seg, err, errsize) < 0)
		goto out;
	sp->acked = acked;
	if (dir_list(sp, &f, &n, &max_id, &changed, err, errsize) < 0)
		goto out;
	if (check_headers(sp, f, &n, &changed, err, errsize) < 0)
		goto out;
	uint64_t prev_next = 1;
	for (size_t i = 0; i < n; i++) {
		if (f[i].base < prev_next) {
			/* Sequences must grow across segments or "everything
			 * up to N is delivered" would not mean what it says. */
			close(f[i].fd);
			f[i].fd = -1;
			changed = true;
			if (quarantine(sp, f[i].id, f[i].size, "its records overlap the segment before", err, errsize) <
			    0)
				goto out;
			continue;
		}
		struct seg *s = seg_new(f[i].id, f[i].version, f[i].base, f[i].size);
		fb_close(&fb);
		fb.fd = f[i].fd;
		fb.id = f[i].id;
		f[i].fd = -1;
		int rc = scan_segment(sp, &fb, s, i == n - 1, &changed, err, errsize);
		if (rc < 0) {
			seg_free(s);
			goto out;
		}
		seg_push(sp, s);
		prev_next = s->last + 1 > s->base ? s->last + 1 : s->base;
		if (s->last + 1 > sp->next_seq)
			sp->next_seq = s->last + 1;
		if (s->last > sp->committed_seq && s->last >= s->base)
			sp->committed_seq = s->last;
	}
	if (acked + 1 > sp->next_seq)
		sp->next_seq = acked + 1;
	if (sp->committed_seq < acked)
		sp->committed_seq = acked; /* delivered records that a power loss took back */
	sp->next_seg_id = next_seg > max_id + 1 ? next_seg : max_id + 1;
	if (remove_delivered_at_open(sp, &changed, err, errsize) < 0)
		goto out;
	if (changed && fsync(sp->dirfd) < 0) {
		snprintf(err, errsize, "cannot sync spool directory '%s': %s", sp->dir, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	for (size_t i = 0; i < n; i++)
		if (f[i].fd >= 0)
			close(f[i].fd);
	free(f);
	fb_release(&fb);
	return ret;
}

struct vm_spool *vm_spool_open(const char *dir, const struct vm_spool_opts *opts, char *err, size_t errsize)
{
	struct vm_spool_opts o = opts ? *opts : (struct vm_spool_opts){0};
	if (!dir || !*dir) {
		snprintf(err, errsize, "spool directory not set");
		return NULL;
	}
	if (opts_check(&o, err, errsize) < 0)
		return NULL;
	pthread_once(&crc_once, crc_init);
	struct vm_spool *sp = vm_xcalloc(1, sizeof *sp);
	sp->dir = vm_xstrdup(dir);
	sp->opts = o;
	sp->dirfd = -1;
	sp->wfd = -1;
	sp->next_seq = 1;
	fb_init(&sp->rd);
	pthread_mutex_init(&sp->lock, NULL);
	pthread_mutex_init(&sp->wlock, NULL);
	pthread_mutex_init(&sp->rlock, NULL);
	sp->last_sync_ns = vm_monotonic_ns();

	if (vm_mkdir_p(dir, 0750) < 0) {
		snprintf(err, errsize, "cannot create spool directory '%s': %s", dir, strerror(errno));
		goto fail;
	}
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0) {
		snprintf(err, errsize, "cannot open spool directory '%s': %s", dir, strerror(errno));
		goto fail;
	}
	/* Two writers would interleave records and delete each other's
	 * segments; flock() is released by the kernel if we die. */
	if (flock(sp->dirfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errsize, "spool directory '%s' is in use by another spool", dir);
		else
			snprintf(err, errsize, "cannot lock spool directory '%s': %s", dir, strerror(errno));
		goto fail;
	}
	if (spool_load(sp, err, errsize) < 0)
		goto fail;
	const char *kill_file = getenv("VMETER_TEST_SPOOL_ACK_KILL");
	if (kill_file && *kill_file)
		sp->test_kill = vm_xstrdup(kill_file);
	kill_file = getenv("VMETER_TEST_SPOOL_COMMIT_KILL");
	if (kill_file && *kill_file)
		sp->test_commit_kill = vm_xstrdup(kill_file);
	vm_debug("spool '%s': %zu segments, %" PRIu64 " records pending after %" PRIu64, dir, sp->nsegs,
	         pending_count(sp), sp->acked);
	return sp;
fail:
	vm_spool_close(sp, NULL, 0);
	return NULL;
}

int vm_spool_close(struct vm_spool *sp, char *err, size_t errsize)
{
	if (!sp)
		return 0;
	int ret = 0;
	if (sp->ack_dirty && ack_write(sp, sp->acked, sp->next_seg_id) < 0) {
		if (err && errsize)
			snprintf(err, errsize, "%s", sp->rerr);
		ret = VM_SPOOL_ERROR;
	}
	if (sp->wfd >= 0) {
		/* Records written ahead of a commit that will not come: cut
		 * now, or by the next open (an unfinished commit) if this
		 * fails. */
		if (sp->batch_flushed && sp->wseg)
			(void)!ftruncate(sp->wfd, (off_t)sp->wseg->size);
		if (sp->unsynced && sp->opts.sync != VM_SPOOL_SYNC_NONE &&
		    (fdatasync(sp->wfd) < 0 || (sp->dir_unsynced && fsync(sp->dirfd) < 0))) {
			char *path = seg_path(sp, sp->wseg ? sp->wseg->id : 0, "");
			if (err && errsize && ret == 0)
				snprintf(err, errsize, "cannot sync segment '%s': %s", path, strerror(errno));
			free(path);
			ret = VM_SPOOL_ERROR;
		}
		close(sp->wfd);
	}
	for (size_t i = 0; i < sp->nsegs; i++)
		seg_free(sp->segs[i]);
	free(sp->segs);
	fb_release(&sp->rd);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->batch);
	free(sp->test_kill);
	free(sp->test_commit_kill);
	free(sp->dir);
	pthread_mutex_destroy(&sp->lock);
	pthread_mutex_destroy(&sp->wlock);
	pthread_mutex_destroy(&sp->rlock);
	free(sp);
	return ret;
}

/* ---------------------------------------------------------------- writer */

/* Would a batch of batch_len bytes go to a new segment?  Under lock. */
static bool needs_new_segment(const struct vm_spool *sp, size_t batch_len)
{
	const struct seg *s = sp->wseg;
	return !s || s->sealed || (s->size > SEG_HDR && s->size + batch_len > sp->opts.segment_size);
}

static void batch_flush(struct vm_spool *sp);

int vm_spool_append(struct vm_spool *sp, const void *payload, size_t len, uint64_t *seq)
{
	if (!payload && len) {
		set_err(sp->werr, "spool '%s': record without a payload", sp->dir);
		return VM_SPOOL_ERROR;
	}
	if (len > sp->opts.max_record) {
		set_err(sp->werr, "spool '%s': record of %zu bytes is larger than the limit of %" PRIu32, sp->dir, len,
		        sp->opts.max_record);
		return VM_SPOOL_TOO_BIG;
	}
	size_t need = REC_HDR + len;
	int ret = 0;
	pthread_mutex_lock(&sp->wlock);
	if (sp->batch_len > 0 && sp->batch_len + need > sp->opts.segment_size) {
		set_err(sp->werr, "spool '%s': %zu uncommitted records fill a segment", sp->dir, sp->batch_n);
		ret = VM_SPOOL_BATCH_FULL;
		goto out;
	}
	pthread_mutex_lock(&sp->lock);
	uint64_t used = sp->bytes + sp->batch_len + need;
	if (!sp->batch_flushed && needs_new_segment(sp, sp->batch_len + need))
		used += SEG_HDR;
	if (used > sp->opts.cap) {
		sp->st.full_rejections++;
		pthread_mutex_unlock(&sp->lock);
		set_err(sp->werr, "spool '%s' is full: %" PRIu64 " of %" PRIu64 " bytes used", sp->dir,
		        sp->bytes + sp->batch_len, sp->opts.cap);
		ret = VM_SPOOL_FULL;
		goto out;
	}
	uint64_t s = sp->next_seq++;
	sp->st.buffered_records++;
	sp->st.buffered_bytes += need;
	pthread_mutex_unlock(&sp->lock);

	int64_t now = vm_now_ns();
	if (sp->batch_n == 0) {
		sp->batch_seq0 = s;
		sp->batch_time0 = now;
	}
	/* The records in memory go to the segment before this one joins
	 * them, so that the last record, which the commit marks, is always
	 * in memory. */
	if (!sp->batch_err && sp->batch_mem && sp->batch_mem + need > BATCH_BUF)
		batch_flush(sp);
	/* After a failed flush the batch is lost: its records are counted,
	 * for the commit to report, and not kept. */
	if (!sp->batch_err) {
		sp->batch = vm_xgrow(sp->batch, &sp->batch_cap, sp->batch_mem + need, 1);
		sp->batch_last = sp->batch_mem;
		uint8_t *h = sp->batch + sp->batch_mem;
		put32(h, (uint32_t)len);
		put64(h + 8, s);
		put64(h + 16, (uint64_t)now);
		if (len)
			memcpy(h + REC_HDR, payload, len);
		put32(h + 4, rec_crc(h, h + REC_HDR, (uint32_t)len));
		sp->batch_mem += need;
	}
	sp->batch_len += need;
	sp->batch_n++;
	if (seq)
		*seq = s;
out:
	pthread_mutex_unlock(&sp->wlock);
	return ret;
}

/* Syncs the current segment (and the directory after a new segment).
 * Between writer_begin and writer_end. */
static int writer_sync(struct vm_spool *sp, const struct seg *s)
{
	if (fdatasync(sp->wfd) < 0) {
		char *path = seg_path(sp, s->id, "");
		set_err(sp->werr, "cannot sync segment '%s': %s", path, strerror(errno));
		free(path);
		return full_or_error(errno);
	}
	if (sp->dir_unsynced && fsync(sp->dirfd) < 0) {
		set_err(sp->werr, "cannot sync spool directory '%s': %s", sp->dir, strerror(errno));
		return VM_SPOOL_ERROR;
	}
	sp->dir_unsynced = false;
	sp->unsynced = false;
	sp->last_sync_ns = vm_monotonic_ns();
	pthread_mutex_lock(&sp->lock);
	sp->st.syncs++;
	pthread_mutex_unlock(&sp->lock);
	return 0;
}

static bool sync_due(const struct vm_spool *sp)
{
	switch (sp->opts.sync) {
	case VM_SPOOL_SYNC_ALWAYS: return true;
	case VM_SPOOL_SYNC_NONE: return false;
	case VM_SPOOL_SYNC_INTERVAL:
		return vm_monotonic_ns() - sp->last_sync_ns >= (int64_t)sp->opts.sync_interval_ms * 1000000;
	}
	return true;
}

/* Starts using wfd and wseg: ack leaves them alone until writer_end. */
static struct seg *writer_begin(struct vm_spool *sp)
{
	pthread_mutex_lock(&sp->lock);
	sp->committing = true;
	struct seg *s = sp->wseg;
	pthread_mutex_unlock(&sp->lock);
	return s;
}

static void writer_end(struct vm_spool *sp)
{
	pthread_mutex_lock(&sp->lock);
	sp->committing = false;
	pthread_mutex_unlock(&sp->lock);
}

/* Closes the current segment (synced first if the policy owes it a sync:
 * nobody syncs a closed file) and creates the next, named atomically so
 * that a crash never leaves a half-written header. */
static int writer_roll(struct vm_spool *sp, struct seg *old, struct seg **out)
{
	if (sp->wfd >= 0) {
		if (old && sp->unsynced && sp->opts.sync != VM_SPOOL_SYNC_NONE) {
			int rc = writer_sync(sp, old);
			if (rc < 0)
				return rc;
		}
		close(sp->wfd);
		sp->wfd = -1;
	}
	sp->unsynced = false;
	/* From here the old segment is closed for good, whatever happens. */
	pthread_mutex_lock(&sp->lock);
	sp->wseg = NULL;
	uint64_t id = sp->next_seg_id++;
	pthread_mutex_unlock(&sp->lock);

	char name[64], tmp[64];
	seg_name(name, sizeof name, id, "");
	seg_name(tmp, sizeof tmp, id, ".tmp");
	uint8_t h[SEG_HDR];
	seg_header_encode(h, id, vm_now_ns(), sp->batch_seq0);
	const char *what = "create";
	int fd = openat(sp->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		goto fail;
	what = "write";
	if (vm_pwrite_all(fd, h, SEG_HDR, 0) < 0)
		goto fail;
	what = "name";
	if (renameat(sp->dirfd, tmp, sp->dirfd, name) < 0)
		goto fail;
	sp->dir_unsynced = true;
	sp->unsynced = true;
	sp->wfd = fd;
	struct seg *s = seg_new(id, VM_SPOOL_FORMAT_VERSION, sp->batch_seq0, SEG_HDR);
	pthread_mutex_lock(&sp->lock);
	seg_push(sp, s);
	sp->wseg = s;
	pthread_mutex_unlock(&sp->lock);
	*out = s;
	return 0;
fail:;
	int e = errno;
	set_err(sp->werr, "cannot %s segment '%s/%s': %s", what, sp->dir, name, strerror(e));
	if (fd >= 0)
		close(fd);
	unlinkat(sp->dirfd, tmp, 0);
	return full_or_error(e);
}

/* Sets REC_COMMIT_END on the batch's last record: the next open keeps the
 * records of a commit only if this one reached the disk too. */
static void batch_mark_end(struct vm_spool *sp)
{
	uint8_t *h = sp->batch + sp->batch_last;
	uint32_t len = get32(h);
	put32(h, len | REC_COMMIT_END);
	put32(h + 4, rec_crc(h, h + REC_HDR, len));
}

/* Test-only: with VMETER_TEST_SPOOL_COMMIT_KILL=FILE, a commit while FILE
 * exists removes FILE, writes its batch only up to the middle of its last
 * record, as a SIGKILL can stop a pwrite() of several pages, and kills the
 * process (tests/unit/test_spool.c). */
static void test_commit_kill_point(struct vm_spool *sp, const struct seg *s)
{
	if (!sp->test_commit_kill || unlink(sp->test_commit_kill) != 0)
		return;
	size_t part = sp->batch_last + (sp->batch_mem - sp->batch_last) / 2;
	if (vm_pwrite_all(sp->wfd, sp->batch, part, (off_t)(s->size + sp->batch_flushed)) == 0)
		raise(SIGKILL);
}

/* Cuts a failed write back to the last commit; if even that fails, no
 * more appends go to the segment and the sequence numbers of the batch are
 * not handed out again (complete records of it may survive past the end,
 * and the next open must not take them for newer ones). */
static void writer_undo(struct vm_spool *sp, struct seg *s)
{
	if (ftruncate(sp->wfd, (off_t)s->size) == 0)
		return;
	char *path = seg_path(sp, s->id, "");
	vm_warn("spool '%s': cannot cut segment '%s' back after a failed write: %s", sp->dir, path, strerror(errno));
	free(path);
	pthread_mutex_lock(&sp->lock);
	s->sealed = true;
	pthread_mutex_unlock(&sp->lock);
}

/* Chooses the batch's segment, as its first write needs: the current one
 * or, when the batch would take it past segment_size, a new one.  Between
 * writer_begin and writer_end; returns 0 with *s, or a VM_SPOOL_* code. */
static int writer_target(struct vm_spool *sp, struct seg **s)
{
	struct stat st;
	if (fstat(sp->dirfd, &st) == 0 && st.st_nlink == 0) {
		set_err(sp->werr, "spool directory '%s' was removed", sp->dir);
		return VM_SPOOL_ERROR;
	}
	pthread_mutex_lock(&sp->lock);
	bool roll = needs_new_segment(sp, sp->batch_len);
	pthread_mutex_unlock(&sp->lock);
	if (roll) {
		int ret = writer_roll(sp, *s, s);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int writer_check_segment(struct vm_spool *sp, const struct seg *s)
{
	struct stat st;
	if (fstat(sp->wfd, &st) == 0 && st.st_nlink == 0) {
		char *path = seg_path(sp, s->id, "");
		set_err(sp->werr, "segment '%s' was removed", path);
		free(path);
		return VM_SPOOL_ERROR;
	}
	return 0;
}

static int writer_write(struct vm_spool *sp, const struct seg *s, size_t n)
{
	if (vm_pwrite_all(sp->wfd, sp->batch, n, (off_t)(s->size + sp->batch_flushed)) < 0) {
		int e = errno;
		char *path = seg_path(sp, s->id, "");
		set_err(sp->werr, "cannot write segment '%s': %s", path, strerror(e));
		free(path);
		return full_or_error(e);
	}
	return 0;
}

/* Writes the records in memory to the batch's segment, past its size:
 * readers stop at the size, and the next open cuts records without their
 * commit's end, so they are in the spool only once the commit is.  The
 * first flush of a batch starts the commit (writer_begin: ack must not
 * remove the segment under it); the commit ends it.  The segment is chosen
 * with what the batch holds so far, so one may pass segment_size by up to
 * a batch.  A failure is kept in batch_err, and what was written cut back:
 * the commit fails with it and the caller counts the batch lost, as for a
 * failed commit. */
/* The batch's segment, checked: chosen by its first write (a flush or
 * the commit), then kept.  0 or a VM_SPOOL_* code. */
static int batch_segment(struct vm_spool *sp, struct seg **s)
{
	if (!sp->batch_flushed) {
		int ret = writer_target(sp, s);
		if (ret < 0)
			return ret;
	}
	return writer_check_segment(sp, *s);
}

static void batch_flush(struct vm_spool *sp)
{
	struct seg *s = writer_begin(sp);
	bool written = false;
	int ret = batch_segment(sp, &s);
	if (ret < 0)
		goto fail;
	written = true;
	ret = writer_write(sp, s, sp->batch_mem);
	if (ret < 0)
		goto fail;
	sp->unsynced = true;
	sp->batch_flushed += sp->batch_mem;
	sp->batch_mem = 0;
	return;
fail:
	if (written || sp->batch_flushed)
		writer_undo(sp, s);
	sp->batch_err = ret;
	sp->batch_flushed = 0;
	sp->batch_mem = 0;
}

int vm_spool_commit(struct vm_spool *sp)
{
	int ret = 0;
	bool written = false;
	pthread_mutex_lock(&sp->wlock);
	struct seg *s = writer_begin(sp);
	if (sp->batch_n == 0) {
		if (sp->wfd >= 0 && s && sp->unsynced && sync_due(sp))
			ret = writer_sync(sp, s);
		writer_end(sp);
		goto out;
	}
	if (sp->batch_err) {
		/* batch_flush() cut back what it wrote and said why */
		ret = sp->batch_err;
		goto fail;
	}
	written = sp->batch_flushed > 0;
	ret = batch_segment(sp, &s);
	if (ret < 0)
		goto fail;
	batch_mark_end(sp);
	test_commit_kill_point(sp, s);
	written = true;
	ret = writer_write(sp, s, sp->batch_mem);
	if (ret < 0)
		goto fail;
	sp->unsynced = true;
	if (sync_due(sp)) {
		ret = writer_sync(sp, s);
		if (ret < 0)
			goto fail;
	}
	uint64_t last = sp->batch_seq0 + sp->batch_n - 1;
	pthread_mutex_lock(&sp->lock);
	if (!sp->head_some) {
		sp->head_some = true;
		sp->head_stale = false;
		sp->head = (struct vm_spool_cursor){s->id, s->size, sp->batch_seq0, 0};
		sp->head_time = sp->batch_time0;
	}
	s->size += sp->batch_len;
	s->last = last;
	sp->bytes += sp->batch_len;
	sp->committed_seq = last;
	sp->committing = false;
	sp->st.commits++;
	sp->st.records_committed += sp->batch_n;
	sp->st.buffered_records = 0;
	sp->st.buffered_bytes = 0;
	pthread_mutex_unlock(&sp->lock);
	goto reset;
fail:
	if (written)
		writer_undo(sp, s);
	pthread_mutex_lock(&sp->lock);
	if (!s || !s->sealed)
		sp->next_seq = sp->batch_seq0;
	sp->st.failed_commits++;
	if (ret == VM_SPOOL_FULL)
		sp->st.full_commits++;
	sp->st.discarded_records += sp->batch_n;
	sp->st.buffered_records = 0;
	sp->st.buffered_bytes = 0;
	sp->committing = false;
	pthread_mutex_unlock(&sp->lock);
reset:
	sp->batch_len = 0;
	sp->batch_n = 0;
	sp->batch_mem = 0;
	sp->batch_flushed = 0;
	sp->batch_err = 0;
out:
	pthread_mutex_unlock(&sp->wlock);
	return ret;
}

/* ---------------------------------------------------------------- drainer */

static int rd_open(struct vm_spool *sp, const struct seg *s)
{
	if (sp->rd.id == s->id)
		return 0;
	fb_close(&sp->rd);
	char name[64];
	seg_name(name, sizeof name, s->id, "");
	int fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_err(sp->rerr, "cannot open segment '%s/%s': %s", sp->dir, name, strerror(errno));
		return VM_SPOOL_ERROR;
	}
	sp->rd.fd = fd;
	sp->rd.id = s->id;
	return 0;
}

/* Damage met while reading (the open scan found the file sound: it
 * changed since, or the disk returns other bytes).  Counted and logged. */
static void read_damage(struct vm_spool *sp, struct seg *s, struct bad_range b)
{
	uint64_t nb, nl;
	pthread_mutex_lock(&sp->lock);
	bad_add(s, b, &nb, &nl);
	sp->st.corrupt_bytes += nb;
	sp->st.corrupt_regions++;
	sp->st.lost_records += nl;
	if (sp->head_some && sp->head.seg_id == s->id && sp->head.off >= b.off && sp->head.off < b.end) {
		/* Look for the new head from the start of the range, which
		 * is now known and skipped as a whole. */
		sp->head_stale = true;
		sp->head = (struct vm_spool_cursor){s->id, b.off, b.seq_lo, 0};
	}
	pthread_mutex_unlock(&sp->lock);
	char name[64];
	seg_name(name, sizeof name, s->id, "");
	vm_warn("spool '%s': segment '%s': damaged bytes skipped while reading: %" PRIu64 " at offset %" PRIu64
	        ", records lost: %" PRIu64,
	        sp->dir, name, b.end - b.off, b.off, nl);
}

/* Moves p to the next valid committed record at or after it, across
 * segments and past damage, and returns 1 with it in r (the payload lives
 * in sp->rd until the next read), 0 if there is none for now, or
 * VM_SPOOL_ERROR.  Under rlock. */
static int spool_next(struct vm_spool *sp, struct vm_spool_cursor *p, struct rec *r)
{
	for (;;) {
		pthread_mutex_lock(&sp->lock);
		struct seg *s = seg_from(sp, p->seg_id);
		bool last = s && s == sp->segs[sp->nsegs - 1];
		bool current = s && s == sp->wseg;
		uint64_t limit = s ? s->size : 0;
		pthread_mutex_unlock(&sp->lock);
		if (!s)
			return 0;
		if (s->id != p->seg_id || p->off < SEG_HDR)
			*p = (struct vm_spool_cursor){s->id, SEG_HDR, s->base, 0};
		const struct bad_range *b = bad_at(s, p->off);
		if (b) {
			p->gap_start = b->tail ? b->off : 0;
			p->expect = b->seq_hi;
			p->off = b->end;
			continue;
		}
		if (p->off >= limit) {
			if (last)
				return 0;
			*p = (struct vm_spool_cursor){s->id + 1, 0, 0, 0};
			continue;
		}
		if (rd_open(sp, s) < 0)
			return VM_SPOOL_ERROR;
		int rc = seg_find(&sp->rd, p, limit, sp->opts.max_record, r);
		if (rc < 0) {
			char name[64];
			seg_name(name, sizeof name, s->id, "");
			set_err(sp->rerr, "cannot read segment '%s/%s': %s", sp->dir, name, strerror(errno));
			fb_close(&sp->rd);
			return VM_SPOOL_ERROR;
		}
		if (rc == 0) {
			/* The writer may still add valid records after the
			 * damage: look again next time. */
			if (current)
				return 0;
			read_damage(sp, s, (struct bad_range){p->off, limit, p->expect, p->expect, true});
			continue; /* now a known range */
		}
		if (r->off > p->off)
			read_damage(sp, s, (struct bad_range){p->off, r->off, p->expect, r->seq, false});
		p->off = r->off;
		p->expect = r->seq;
		p->gap_start = 0;
		return 1;
	}
}

static void cursor_past(struct vm_spool_cursor *c, const struct rec *r)
{
	c->off = r->end;
	c->expect = r->seq + 1;
	c->gap_start = 0;
}

/* Finds the first record after the acknowledged point, starting at
 * `from` (any position at or before it).  Under rlock. */
static int head_refresh(struct vm_spool *sp, struct vm_spool_cursor from)
{
	for (;;) {
		pthread_mutex_lock(&sp->lock);
		uint64_t acked = sp->acked, committed = sp->committed_seq;
		pthread_mutex_unlock(&sp->lock);
		struct vm_spool_cursor p = from;
		struct rec r;
		int rc;
		while ((rc = spool_next(sp, &p, &r)) == 1 && r.seq <= acked)
			cursor_past(&p, &r);
		if (rc < 0)
			return rc;
		pthread_mutex_lock(&sp->lock);
		bool again = false;
		if (rc == 1) {
			sp->head = p;
			sp->head_time = r.time;
			sp->head_some = true;
			sp->head_stale = false;
		} else if (sp->committed_seq != committed) {
			again = true; /* a commit came while we looked and left the head to us */
		} else {
			sp->head_some = false;
			sp->head_stale = false;
		}
		pthread_mutex_unlock(&sp->lock);
		if (!again)
			return 0;
	}
}

void vm_spool_cursor_rewind(struct vm_spool_cursor *c)
{
	memset(c, 0, sizeof *c);
}

int vm_spool_read(struct vm_spool *sp, struct vm_spool_cursor *c, size_t max_records, size_t max_bytes,
                  vm_spool_record_cb cb, void *arg)
{
	int ret = 0;
	size_t n = 0, bytes = 0;
	if (max_records > INT_MAX)
		max_records = INT_MAX;
	pthread_mutex_lock(&sp->rlock);
	pthread_mutex_lock(&sp->lock);
	uint64_t acked = sp->acked; /* only ack, on this side, changes it */
	if ((c->seg_id == 0 || c->expect <= acked) && sp->head_some && !sp->head_stale)
		*c = sp->head;
	pthread_mutex_unlock(&sp->lock);
	while (n < max_records) {
		struct rec r;
		int rc = spool_next(sp, c, &r);
		if (rc < 0) {
			ret = rc;
			break;
		}
		if (rc == 0)
			break;
		if (r.seq <= acked) {
			cursor_past(c, &r);
			continue;
		}
		if (n > 0 && bytes + r.len > max_bytes)
			break;
		struct vm_spool_record rec = {r.seq, r.time, r.payload, r.len};
		if (cb(arg, &rec) != 0)
			break;
		cursor_past(c, &r);
		n++;
		bytes += r.len;
		sp->hint_valid = true;
		sp->hint_seq = r.seq;
		sp->hint_after = *c;
	}
	pthread_mutex_lock(&sp->lock);
	bool stale = sp->head_stale;
	struct vm_spool_cursor from = sp->head;
	pthread_mutex_unlock(&sp->lock);
	if (stale)
		head_refresh(sp, from);
	pthread_mutex_unlock(&sp->rlock);
	return n > 0 ? (int)n : ret;
}

/* Test-only: with VMETER_TEST_SPOOL_ACK_KILL=FILE, an acknowledgement that
 * moves forward while FILE exists removes FILE and kills the process where
 * a crash once took sequence numbers back: the delivered segments that go
 * first removed, the ack file not yet rewritten (tests/unit/test_spool.c,
 * tests/integration/restart-ack.sh). */
static void test_kill_point(struct vm_spool *sp)
{
	if (sp->test_kill && sp->ack_dirty && unlink(sp->test_kill) == 0)
		raise(SIGKILL);
}

/* Unlinks doomed[from, to), in order; stops at the first failure (with a
 * message and VM_SPOOL_ERROR in *ret).  Returns the index reached. */
static size_t remove_segments(struct vm_spool *sp, struct seg **doomed, size_t from, size_t to, int *ret)
{
	for (; from < to; from++) {
		char name[64];
		seg_name(name, sizeof name, doomed[from]->id, "");
		if (unlinkat(sp->dirfd, name, 0) < 0 && errno != ENOENT) {
			set_err(sp->rerr, "cannot remove delivered segment '%s/%s': %s", sp->dir, name,
			        strerror(errno));
			*ret = VM_SPOOL_ERROR;
			break;
		}
	}
	return from;
}

/* The order matters twice.  The next open takes the spool's newest
 * sequence number from its segments and the ack file: the segment holding
 * the newest committed record goes only after the ack file says it was
 * delivered, or a crash in between would hand its numbers out again (the
 * collector's saved state and the database's delivery mark both count
 * them: the state of the pass before would be taken for the current one,
 * and new records for delivered ones).  Older delivered segments go before
 * the ack file is rewritten, so that on a full disk the rewrite finds
 * room; a crash in between costs only a second delivery of the records
 * after the old ack.  If the rewrite still finds no room, the newest
 * segment goes too and the rewrite is tried once more: only then can a
 * crash at that moment take the newest number back. */
int vm_spool_ack(struct vm_spool *sp, uint64_t upto)
{
	int ret = 0;
	struct seg **doomed = NULL;
	size_t ndoomed = 0, removed = 0, early = 0;
	pthread_mutex_lock(&sp->rlock);
	pthread_mutex_lock(&sp->lock);
	if (upto > sp->committed_seq)
		upto = sp->committed_seq;
	struct vm_spool_cursor from = sp->head;
	if (upto > sp->acked) {
		sp->acked = upto;
		sp->ack_dirty = true;
		if (pending_count(sp) == 0) {
			sp->head_some = false;
			sp->head_stale = false;
		} else if (!sp->head_some || sp->head.expect <= upto) {
			sp->head_some = true;
			sp->head_stale = true;
		}
	}
	uint64_t acked = sp->acked;
	/* Segments are in sequence order: the delivered ones are a prefix.
	 * The current one goes too unless a commit is using it. */
	while (ndoomed < sp->nsegs && sp->segs[ndoomed]->last <= acked &&
	       !(sp->segs[ndoomed] == sp->wseg && sp->committing))
		ndoomed++;
	/* While the ack file is behind, the segment with the newest committed
	 * record, and any after it, wait for the rewrite. */
	early = ndoomed;
	for (size_t i = 0; sp->ack_dirty && i < ndoomed; i++) {
		const struct seg *s = sp->segs[i];
		if (s->last >= s->base && s->last == sp->committed_seq) {
			early = i;
			break;
		}
	}
	if (ndoomed) {
		doomed = vm_xmalloc(ndoomed * sizeof *doomed);
		memcpy(doomed, sp->segs, ndoomed * sizeof *doomed);
		for (size_t i = 0; i < ndoomed; i++) {
			if (doomed[i] == sp->wseg) {
				close(sp->wfd);
				sp->wfd = -1;
				sp->wseg = NULL;
			}
		}
	}
	pthread_mutex_unlock(&sp->lock);

	removed = remove_segments(sp, doomed, 0, early, &ret);
	test_kill_point(sp);
	/* ack_write syncs the directory, which makes the removals durable too. */
	if (sp->ack_dirty) {
		pthread_mutex_lock(&sp->lock);
		uint64_t next_seg = sp->next_seg_id;
		pthread_mutex_unlock(&sp->lock);
		int rc = ack_write(sp, acked, next_seg);
		if (rc == VM_SPOOL_FULL && removed == early && early < ndoomed) {
			removed = remove_segments(sp, doomed, early, ndoomed, &ret);
			rc = ack_write(sp, acked, next_seg);
		}
		if (rc == 0)
			sp->ack_dirty = false;
		else
			ret = VM_SPOOL_ERROR;
	} else if (removed && fsync(sp->dirfd) < 0 && ret == 0) {
		set_err(sp->rerr, "cannot sync spool directory '%s': %s", sp->dir, strerror(errno));
		ret = VM_SPOOL_ERROR;
	}
	/* The rest, now that the ack file covers them. */
	if (removed == early && early < ndoomed && !sp->ack_dirty) {
		removed = remove_segments(sp, doomed, early, ndoomed, &ret);
		if (removed > early && fsync(sp->dirfd) < 0 && ret == 0) {
			set_err(sp->rerr, "cannot sync spool directory '%s': %s", sp->dir, strerror(errno));
			ret = VM_SPOOL_ERROR;
		}
	}
	if (removed) {
		pthread_mutex_lock(&sp->lock);
		for (size_t i = 0; i < removed; i++)
			sp->bytes -= sp->segs[i]->size;
		memmove(sp->segs, sp->segs + removed, (sp->nsegs - removed) * sizeof *sp->segs);
		sp->nsegs -= removed;
		pthread_mutex_unlock(&sp->lock);
		for (size_t i = 0; i < removed; i++) {
			if (sp->rd.id == doomed[i]->id)
				fb_close(&sp->rd);
			seg_free(doomed[i]);
		}
	}

	pthread_mutex_lock(&sp->lock);
	bool stale = sp->head_stale;
	pthread_mutex_unlock(&sp->lock);
	if (stale) {
		/* Usually the drainer acknowledges what it just read: start
		 * from there instead of walking the acknowledged records. */
		if (sp->hint_valid && sp->hint_seq <= acked)
			from = sp->hint_after;
		int rc = head_refresh(sp, from);
		if (rc < 0 && ret == 0)
			ret = rc;
	}
	free(doomed);
	pthread_mutex_unlock(&sp->rlock);
	return ret;
}

void vm_spool_stats(struct vm_spool *sp, struct vm_spool_stats *st)
{
	pthread_mutex_lock(&sp->lock);
	*st = sp->st;
	st->bytes = sp->bytes;
	st->segments = sp->nsegs;
	st->records_pending = pending_count(sp);
	st->last_seq = sp->committed_seq;
	st->acked_seq = sp->acked;
	if (st->records_pending && sp->head_some) {
		/* While stale (an ack in progress) the old head is older
		 * than the truth: the lag shown errs on the long side. */
		st->oldest_seq = sp->head.expect > sp->acked ? sp->head.expect : sp->acked + 1;
		st->oldest_time_ns = sp->head_time;
	}
	pthread_mutex_unlock(&sp->lock);
}
