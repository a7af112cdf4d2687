/* The on-disk spool: round trips, restarts, roll-over and removal, torn
 * tails at every byte, damage in the middle, bit flips and random files,
 * the size cap, sync policies, and real file system errors (a read-only
 * and a full tmpfs when run as root, RLIMIT_FSIZE, a removed directory).
 * Every test works in a directory of its own under $TMPDIR. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"
#include "xalloc.h"

#define SEG_HDR VM_SPOOL_SEGMENT_HEADER_SIZE
#define REC_HDR VM_SPOOL_RECORD_HEADER_SIZE
#define PATHLEN 1024

struct fx {
	char base[256]; /* the test's temporary directory */
	char dir[320];  /* the spool: base/spool */
	bool mounted;
};

/* ---------------------------------------------------------------- helpers */

/* snprintf that fails the test rather than cut a path short. */
static void pathf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < size);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
	struct fx *fx = vm_xcalloc(1, sizeof *fx);
	const char *tmp = getenv("TMPDIR");
	pathf(fx->base, sizeof fx->base, "%s/vmeter-spool-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fx->base)) {
		free(fx);
		return -1;
	}
	pathf(fx->dir, sizeof fx->dir, "%s/spool", fx->base);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	if (fx->mounted)
		umount2(fx->dir, MNT_DETACH);
	chmod(fx->dir, 0700); /* test_unwritable_dir as a user */
	rm_rf(fx->base);
	free(fx);
	vm_log_set_level(VM_LOG_INFO);
	return 0;
}

/* Tries a tmpfs of `size` on fx->dir; false (and the test should skip)
 * when not root or not allowed. */
static bool mount_tmpfs(struct fx *fx, const char *size, unsigned long flags)
{
	if (geteuid() != 0)
		return false;
	mkdir(fx->dir, 0750);
	char opt[64];
	pathf(opt, sizeof opt, "size=%s", size);
	if (mount("tmpfs", fx->dir, "tmpfs", flags, opt) < 0)
		return false;
	fx->mounted = true;
	return true;
}

/* The payload of record `seq`: its length follows from seq, its bytes
 * from seq and position, so any reader can check both. */
static size_t len_for(uint64_t seq)
{
	return 8 + (size_t)(seq * 37 % 200);
}

static void fill(uint64_t seq, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seq * 131 + i * 7);
	if (len >= 8)
		memcpy(buf, &seq, 8);
}

static bool payload_ok(uint64_t seq, const void *p, size_t len)
{
	uint8_t want[4096];
	if (len > sizeof want)
		return false;
	fill(seq, want, len);
	return memcmp(want, p, len) == 0;
}

static struct vm_spool *open_ok(const char *dir, const struct vm_spool_opts *o)
{
	char err[512] = "";
	struct vm_spool *sp = vm_spool_open(dir, o, err, sizeof err);
	if (!sp)
		fail_msg("open: %s", err);
	return sp;
}

static void append_one(struct vm_spool *sp, uint64_t want_seq, size_t len)
{
	uint8_t buf[4096];
	assert_true(len <= sizeof buf);
	fill(want_seq, buf, len);
	uint64_t seq = 0;
	int rc = vm_spool_append(sp, buf, len, &seq);
	if (rc != 0)
		fail_msg("append %" PRIu64 ": %d %s", want_seq, rc, vm_spool_error(sp));
	assert_int_equal(seq, want_seq);
}

/* Appends records first..first+n-1 with len_for() lengths, committing every
 * `batch` records and at the end. */
static void append_range(struct vm_spool *sp, uint64_t first, size_t n, size_t batch)
{
	for (size_t i = 0; i < n; i++) {
		append_one(sp, first + i, len_for(first + i));
		if ((i + 1) % batch == 0 || i + 1 == n) {
			int rc = vm_spool_commit(sp);
			if (rc != 0)
				fail_msg("commit: %d %s", rc, vm_spool_error(sp));
		}
	}
}

struct got {
	uint64_t *seq;
	int64_t *time;
	size_t n, cap;
	size_t stop_at; /* refuse the record after this many (0: never) */
	bool check_len; /* lengths must be len_for(seq) */
};

static int collect(void *arg, const struct vm_spool_record *rec)
{
	struct got *g = arg;
	if (g->stop_at && g->n == g->stop_at)
		return 1;
	if (!payload_ok(rec->seq, rec->payload, rec->len))
		fail_msg("record %" PRIu64 ": wrong payload", rec->seq);
	if (g->check_len)
		assert_int_equal(rec->len, len_for(rec->seq));
	if (g->n > 0)
		assert_true(rec->seq > g->seq[g->n - 1]);
	size_t c = g->cap;
	g->seq = vm_xgrow(g->seq, &c, g->n + 1, sizeof *g->seq);
	g->time = vm_xgrow(g->time, &g->cap, g->n + 1, sizeof *g->time);
	g->seq[g->n] = rec->seq;
	g->time[g->n] = rec->time_ns;
	g->n++;
	return 0;
}

static void got_free(struct got *g)
{
	free(g->seq);
	free(g->time);
	memset(g, 0, sizeof *g);
}

/* Reads everything there is from a fresh cursor. */
static size_t read_all(struct vm_spool *sp, struct got *g)
{
	struct vm_spool_cursor c = {0};
	size_t before = g->n;
	for (;;) {
		int rc = vm_spool_read(sp, &c, 7, 1 << 20, collect, g);
		if (rc < 0)
			fail_msg("read: %s", vm_spool_read_error(sp));
		if (rc == 0)
			break;
	}
	return g->n - before;
}

static void assert_seqs(const struct got *g, uint64_t first, uint64_t last)
{
	assert_int_equal(g->n, last - first + 1);
	for (size_t i = 0; i < g->n; i++)
		assert_int_equal(g->seq[i], first + i);
}

static struct vm_spool_stats stats(struct vm_spool *sp)
{
	struct vm_spool_stats st;
	vm_spool_stats(sp, &st);
	return st;
}

static int id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Ids of the segment files (suffix "" or ".bad"), sorted; returns how many. */
static size_t list_segs(const char *dir, const char *suffix, uint64_t *ids, size_t max)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	char want[16];
	pathf(want, sizeof want, ".seg%s", suffix);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len != 16 + strlen(want) || strcmp(de->d_name + 16, want) != 0)
			continue;
		if (n < max)
			ids[n] = strtoull(de->d_name, NULL, 16);
		n++;
	}
	closedir(d);
	qsort(ids, n < max ? n : max, sizeof *ids, id_cmp);
	return n;
}

static void seg_path(char *buf, size_t size, const char *dir, uint64_t id)
{
	pathf(buf, size, "%s/%016" PRIx64 ".seg", dir, id);
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static uint64_t dir_seg_bytes(const char *dir)
{
	uint64_t ids[1024], sum = 0;
	size_t n = list_segs(dir, "", ids, 1024);
	for (size_t i = 0; i < n && i < 1024; i++) {
		char p[PATHLEN];
		seg_path(p, sizeof p, dir, ids[i]);
		sum += file_size(p);
	}
	return sum;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = vm_xmalloc((size_t)n + 1);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
}

static void poke(const char *path, uint64_t off, const void *b, size_t len)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void flip_bit(const char *path, uint64_t off, int bit)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t c;
	assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
	c ^= (uint8_t)(1u << bit);
	assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

/* Record layout of a sound segment file: offsets, lengths, sequences and
 * which records end a commit. */
struct layout {
	uint64_t off[4096], len[4096], seq[4096];
	bool end[4096];
	size_t n;
	uint64_t size;
};

static void parse_segment(const char *path, struct layout *l)
{
	size_t size;
	uint8_t *b = slurp(path, &size);
	l->n = 0;
	l->size = size;
	uint64_t off = SEG_HDR;
	while (off + REC_HDR <= size && l->n < 4096) {
		uint32_t len = (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 | (uint32_t)b[off + 2] << 16 |
		               (uint32_t)b[off + 3] << 24;
		uint64_t seq;
		memcpy(&seq, b + off + 8, 8);
		l->end[l->n] = (len & VM_SPOOL_RECORD_COMMIT_END) != 0;
		len &= ~VM_SPOOL_RECORD_COMMIT_END;
		l->off[l->n] = off;
		l->len[l->n] = len;
		l->seq[l->n] = seq;
		l->n++;
		off += REC_HDR + len;
	}
	free(b);
}

/* Copies the regular files of src into dst (created). */
static void copy_dir(const char *src, const char *dst)
{
	mkdir(dst, 0750);
	DIR *d = opendir(src);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char a[PATHLEN], b[PATHLEN];
		pathf(a, sizeof a, "%s/%s", src, de->d_name);
		pathf(b, sizeof b, "%s/%s", dst, de->d_name);
		size_t len;
		uint8_t *buf = slurp(a, &len);
		spit(b, buf, len);
		free(buf);
	}
	closedir(d);
}

/* A segment header of a format version as the format documents it. */
static void make_header_v(uint8_t *h, uint64_t id, uint64_t base, uint8_t version)
{
	memset(h, 0, SEG_HDR);
	memcpy(h, "VMSPOOL", 8);
	h[8] = version;
	for (int i = 0; i < 8; i++) {
		h[16 + i] = (uint8_t)(id >> (8 * i));
		h[32 + i] = (uint8_t)(base >> (8 * i));
	}
	uint32_t crc = vm_spool_crc32c(0, h, SEG_HDR);
	for (int i = 0; i < 4; i++)
		h[12 + i] = (uint8_t)(crc >> (8 * i));
}

static void make_header(uint8_t *h, uint64_t id, uint64_t base)
{
	make_header_v(h, id, base, VM_SPOOL_FORMAT_VERSION);
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64: seeded, the same sequence everywhere */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static const struct vm_spool_opts fast = {.sync = VM_SPOOL_SYNC_NONE};

/* ---------------------------------------------------------------- crc */

static void test_crc32c(void **state)
{
	/* RFC 3720 B.4 and the usual check value */
	uint8_t b[32];
	assert_int_equal(vm_spool_crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(vm_spool_crc32c_sw(0, "123456789", 9), 0xe3069283);
	assert_int_equal(vm_spool_crc32c(0, "", 0), 0);
	memset(b, 0, sizeof b);
	assert_int_equal(vm_spool_crc32c(0, b, 32), 0x8a9136aa);
	memset(b, 0xff, sizeof b);
	assert_int_equal(vm_spool_crc32c_sw(0, b, 32), 0x62a8ab43);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(vm_spool_crc32c(0, b, 32), 0x46dd794e);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	assert_int_equal(vm_spool_crc32c_sw(0, b, 32), 0x113fdb5c);

	/* both implementations agree on every length and alignment, and
	 * chaining equals one pass */
	rng_state = 1;
	uint8_t buf[1100];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)rnd();
	for (int i = 0; i < 2000; i++) {
		size_t off = rnd() % 16, len = rnd() % (sizeof buf - 16), cut = len ? rnd() % len : 0;
		uint32_t a = vm_spool_crc32c(0, buf + off, len);
		assert_int_equal(a, vm_spool_crc32c_sw(0, buf + off, len));
		assert_int_equal(a, vm_spool_crc32c(vm_spool_crc32c(0, buf + off, cut), buf + off + cut, len - cut));
		/* and so does combining the CRCs of the two parts */
		assert_int_equal(a, vm_spool_crc32c_combine(vm_spool_crc32c(0, buf + off, cut),
		                                            vm_spool_crc32c(0, buf + off + cut, len - cut), len - cut));
	}
	/* a part of 0 bytes, and a long second part (several squarings) */
	assert_int_equal(vm_spool_crc32c_combine(0xe3069283, 0, 0), 0xe3069283);
	static uint8_t big[300000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)rnd();
	assert_int_equal(vm_spool_crc32c(0, big, sizeof big),
	                 vm_spool_crc32c_combine(vm_spool_crc32c(0, big, 7),
	                                         vm_spool_crc32c(0, big + 7, sizeof big - 7), sizeof big - 7));
}

/* ---------------------------------------------------------------- open */

static void test_open_rejects(void **state)
{
	struct fx *fx = *state;
	char err[512];
	struct {
		struct vm_spool_opts o;
		const char *msg;
	} bad[] = {
	    {{.segment_size = 100}, "segment size"},
	    {{.segment_size = (2u << 30)}, "segment size"},
	    {{.max_record = VM_SPOOL_MAX_RECORD_LIMIT + 1}, "record size limit"},
	    {{.cap = 4096, .max_record = 8192}, "size cap"},
	    {{.sync = (enum vm_spool_sync)7}, "sync policy"},
	    {{.sync = VM_SPOOL_SYNC_INTERVAL, .sync_interval_ms = 3600001}, "sync interval"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_null(vm_spool_open(fx->dir, &bad[i].o, err, sizeof err));
		if (!strstr(err, bad[i].msg))
			fail_msg("case %zu: '%s'", i, err);
	}
	assert_null(vm_spool_open("", NULL, err, sizeof err));
	assert_non_null(strstr(err, "not set"));

	/* a path through a regular file */
	char file[PATHLEN], under[PATHLEN];
	pathf(file, sizeof file, "%s/plain", fx->base);
	spit(file, (const uint8_t *)"x", 1);
	pathf(under, sizeof under, "%s/spool", file);
	assert_null(vm_spool_open(under, NULL, err, sizeof err));
	assert_non_null(strstr(err, "cannot create spool directory"));
	assert_non_null(strstr(err, under));
	assert_non_null(strstr(err, "Not a directory"));
	assert_null(vm_spool_open(file, NULL, err, sizeof err));
	assert_non_null(strstr(err, file));
}

static void test_open_locked(void **state)
{
	struct fx *fx = *state;
	struct vm_spool *sp = open_ok(fx->dir, NULL);
	char err[512];
	assert_null(vm_spool_open(fx->dir, NULL, err, sizeof err));
	assert_non_null(strstr(err, "in use"));
	assert_int_equal(vm_spool_close(sp, NULL, 0), 0);
	sp = open_ok(fx->dir, NULL);
	vm_spool_close(sp, NULL, 0);
}

/* ---------------------------------------------------------------- round trips */

static void test_roundtrip(void **state)
{
	struct fx *fx = *state;
	struct vm_spool *sp = open_ok(fx->dir, NULL);
	for (uint64_t s = 1; s <= 100; s++)
		append_one(sp, s, len_for(s));
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.buffered_records, 100);
	assert_int_equal(st.records_pending, 0);
	assert_int_equal(st.segments, 0);

	/* nothing is visible before the commit */
	struct got g = {.check_len = true};
	assert_int_equal(read_all(sp, &g), 0);
	assert_int_equal(vm_spool_commit(sp), 0);
	st = stats(sp);
	assert_int_equal(st.records_pending, 100);
	assert_int_equal(st.last_seq, 100);
	assert_int_equal(st.buffered_records, 0);
	assert_int_equal(st.commits, 1);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.oldest_seq, 1);
	assert_int_equal(st.bytes, dir_seg_bytes(fx->dir));

	/* batches: by count, and by bytes (always at least one record) */
	struct vm_spool_cursor c = {0};
	assert_int_equal(vm_spool_read(sp, &c, 30, 1 << 20, collect, &g), 30);
	assert_int_equal(vm_spool_read(sp, &c, 1000, 1, collect, &g), 1);
	size_t two = len_for(32) + len_for(33);
	assert_int_equal(vm_spool_read(sp, &c, 1000, two, collect, &g), 2);
	assert_int_equal(vm_spool_read(sp, &c, 1000, 1 << 20, collect, &g), 67);
	assert_int_equal(vm_spool_read(sp, &c, 1000, 1 << 20, collect, &g), 0);
	assert_seqs(&g, 1, 100);
	for (size_t i = 1; i < g.n; i++)
		assert_true(g.time[i] >= g.time[i - 1] && g.time[i] > 0);

	/* all delivered: the segment goes */
	assert_int_equal(vm_spool_ack(sp, 100), 0);
	st = stats(sp);
	assert_int_equal(st.records_pending, 0);
	assert_int_equal(st.oldest_seq, 0);
	assert_int_equal(st.segments, 0);
	assert_int_equal(st.bytes, 0);
	uint64_t ids[4];
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 0);
	assert_int_equal(vm_spool_read(sp, &c, 1000, 1 << 20, collect, &g), 0);

	/* and the spool goes on */
	append_range(sp, 101, 5, 5);
	got_free(&g);
	g.check_len = true;
	assert_int_equal(read_all(sp, &g), 5);
	assert_seqs(&g, 101, 105);
	got_free(&g);
	assert_int_equal(vm_spool_close(sp, NULL, 0), 0);
}

static void test_zero_and_max_length(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {.max_record = 1000, .sync = VM_SPOOL_SYNC_NONE};
	struct vm_spool *sp = open_ok(fx->dir, &o);
	uint8_t buf[1001];
	uint64_t seq = 99;
	assert_int_equal(vm_spool_append(sp, buf, 1001, &seq), VM_SPOOL_TOO_BIG);
	assert_int_equal(seq, 99);
	assert_non_null(strstr(vm_spool_error(sp), "1001 bytes"));
	assert_int_equal(vm_spool_append(sp, NULL, 5, &seq), VM_SPOOL_ERROR);
	assert_int_equal(stats(sp).buffered_records, 0);
	append_one(sp, 1, 0);
	append_one(sp, 2, 1000);
	append_one(sp, 3, 1);
	assert_int_equal(vm_spool_commit(sp), 0);
	vm_spool_close(sp, NULL, 0);
	sp = open_ok(fx->dir, &o);
	struct got g = {0};
	assert_int_equal(read_all(sp, &g), 3);
	assert_seqs(&g, 1, 3);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

static void test_uncommitted_lost_on_close(void **state)
{
	struct fx *fx = *state;
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	append_range(sp, 1, 5, 5);
	append_one(sp, 6, 10);
	append_one(sp, 7, 10);
	vm_spool_close(sp, NULL, 0);
	sp = open_ok(fx->dir, &fast);
	assert_int_equal(stats(sp).records_pending, 5);
	append_one(sp, 6, len_for(6)); /* the sequence goes on after the last commit */
	vm_spool_close(sp, NULL, 0);
}

static void test_restart_resumes_after_ack(void **state)
{
	struct fx *fx = *state;
	struct vm_spool *sp = open_ok(fx->dir, NULL);
	append_range(sp, 1, 100, 10);
	struct got g = {.check_len = true};
	struct vm_spool_cursor c = {0};
	assert_int_equal(vm_spool_read(sp, &c, 40, 1 << 20, collect, &g), 40);
	assert_int_equal(vm_spool_ack(sp, 40), 0);
	vm_spool_close(sp, NULL, 0);

	sp = open_ok(fx->dir, NULL);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.acked_seq, 40);
	assert_int_equal(st.records_pending, 60);
	assert_int_equal(st.oldest_seq, 41);
	assert_true(st.oldest_time_ns >= g.time[39]); /* record 41 came after 40 */
	got_free(&g);
	g.check_len = true;
	assert_int_equal(read_all(sp, &g), 60);
	assert_seqs(&g, 41, 100);
	assert_int_equal(vm_spool_ack(sp, 70), 0);
	vm_spool_close(sp, NULL, 0);

	sp = open_ok(fx->dir, NULL);
	got_free(&g);
	assert_int_equal(read_all(sp, &g), 30);
	assert_seqs(&g, 71, 100);
	assert_int_equal(vm_spool_ack(sp, 100), 0);
	vm_spool_close(sp, NULL, 0);

	/* nothing left, and sequences and segment numbers go on */
	sp = open_ok(fx->dir, NULL);
	st = stats(sp);
	assert_int_equal(st.records_pending, 0);
	assert_int_equal(st.segments, 0);
	append_range(sp, 101, 3, 3);
	uint64_t ids[4];
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 1);
	assert_true(ids[0] > 1);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

static void test_ack_edges(void **state)
{
	struct fx *fx = *state;
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	assert_int_equal(vm_spool_ack(sp, 5), 0); /* nothing committed: nothing to ack */
	assert_int_equal(stats(sp).acked_seq, 0);
	append_range(sp, 1, 10, 10);
	assert_int_equal(vm_spool_ack(sp, 1000), 0); /* clamps to the newest record */
	assert_int_equal(stats(sp).acked_seq, 10);
	append_range(sp, 11, 10, 10);
	assert_int_equal(stats(sp).records_pending, 10);
	assert_int_equal(vm_spool_ack(sp, 3), 0); /* going back is a no-op */
	assert_int_equal(stats(sp).acked_seq, 10);

	/* a partial ack inside what was read: the cursor goes on, a
	 * rewound cursor starts after the ack */
	struct got g = {0};
	struct vm_spool_cursor c = {0};
	assert_int_equal(vm_spool_read(sp, &c, 6, 1 << 20, collect, &g), 6);
	assert_int_equal(vm_spool_ack(sp, 13), 0);
	assert_int_equal(stats(sp).oldest_seq, 14);
	assert_int_equal(vm_spool_read(sp, &c, 100, 1 << 20, collect, &g), 4);
	assert_seqs(&g, 11, 20);
	got_free(&g);
	vm_spool_cursor_rewind(&c);
	assert_int_equal(vm_spool_read(sp, &c, 100, 1 << 20, collect, &g), 7);
	assert_seqs(&g, 14, 20);
	got_free(&g);

	/* a cursor left behind the ack moves up */
	struct vm_spool_cursor old = {0};
	assert_int_equal(vm_spool_read(sp, &old, 2, 1 << 20, collect, &g), 2); /* 14, 15 */
	assert_int_equal(vm_spool_ack(sp, 18), 0);
	assert_int_equal(vm_spool_read(sp, &old, 100, 1 << 20, collect, &g), 2); /* 19, 20 */
	assert_int_equal(g.seq[2], 19);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

static void test_callback_stops(void **state)
{
	struct fx *fx = *state;
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	append_range(sp, 1, 10, 10);
	struct got g = {.stop_at = 3};
	struct vm_spool_cursor c = {0};
	assert_int_equal(vm_spool_read(sp, &c, 100, 1 << 20, collect, &g), 3);
	assert_int_equal(vm_spool_read(sp, &c, 100, 1 << 20, collect, &g), 0); /* still refused */
	g.stop_at = 0;
	assert_int_equal(vm_spool_read(sp, &c, 100, 1 << 20, collect, &g), 7);
	assert_seqs(&g, 1, 10);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

static void test_stats_oldest(void **state)
{
	struct fx *fx = *state;
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	for (uint64_t s = 1; s <= 3; s++) {
		append_range(sp, s, 1, 1);
		nanosleep(&(struct timespec){0, 2000000}, NULL);
	}
	struct got g = {0};
	assert_int_equal(read_all(sp, &g), 3);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.oldest_seq, 1);
	assert_int_equal(st.oldest_time_ns, g.time[0]);
	assert_true(g.time[1] > g.time[0] && g.time[2] > g.time[1]);
	assert_int_equal(vm_spool_ack(sp, 1), 0);
	st = stats(sp);
	assert_int_equal(st.oldest_seq, 2);
	assert_int_equal(st.oldest_time_ns, g.time[1]);
	vm_spool_close(sp, NULL, 0);
	sp = open_ok(fx->dir, &fast);
	st = stats(sp);
	assert_int_equal(st.oldest_seq, 2);
	assert_int_equal(st.oldest_time_ns, g.time[1]);
	assert_int_equal(vm_spool_ack(sp, 3), 0);
	st = stats(sp);
	assert_int_equal(st.oldest_seq, 0);
	assert_int_equal(st.oldest_time_ns, 0);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

/* ---------------------------------------------------------------- segments */

static void test_rollover_and_removal(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {.segment_size = 4096, .sync = VM_SPOOL_SYNC_NONE};
	struct vm_spool *sp = open_ok(fx->dir, &o);
	append_range(sp, 1, 400, 10);
	uint64_t ids[256];
	size_t n = list_segs(fx->dir, "", ids, 256);
	struct vm_spool_stats st = stats(sp);
	assert_true(n >= 10);
	assert_int_equal(st.segments, n);
	assert_int_equal(st.bytes, dir_seg_bytes(fx->dir));
	for (size_t i = 0; i < n; i++) {
		char p[PATHLEN];
		seg_path(p, sizeof p, fx->dir, ids[i]);
		assert_true(file_size(p) <= 4096);
		if (i)
			assert_true(ids[i] > ids[i - 1]);
	}

	/* ack in steps: a segment goes as soon as all of it is delivered,
	 * and not before */
	for (uint64_t upto = 50; upto <= 400; upto += 50) {
		assert_int_equal(vm_spool_ack(sp, upto), 0);
		n = list_segs(fx->dir, "", ids, 256);
		st = stats(sp);
		assert_int_equal(st.segments, n);
		assert_int_equal(st.bytes, dir_seg_bytes(fx->dir));
		assert_int_equal(st.records_pending, 400 - upto);
		if (n) {
			char p[PATHLEN];
			struct layout *l = vm_xmalloc(sizeof *l);
			seg_path(p, sizeof p, fx->dir, ids[0]);
			parse_segment(p, l);
			assert_true(l->n > 0 && l->seq[l->n - 1] > upto);
			free(l);
		}
	}
	assert_int_equal(n, 0);
	vm_spool_close(sp, NULL, 0);
}

static void test_new_segment_per_open(void **state)
{
	struct fx *fx = *state;
	/* a writer never appends to a segment of an earlier run: its end
	 * may be damaged or its sequence may not follow on */
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	append_range(sp, 1, 3, 3);
	vm_spool_close(sp, NULL, 0);
	sp = open_ok(fx->dir, &fast);
	append_range(sp, 4, 3, 3);
	vm_spool_close(sp, NULL, 0);
	uint64_t ids[8];
	assert_int_equal(list_segs(fx->dir, "", ids, 8), 2);
	sp = open_ok(fx->dir, &fast);
	struct got g = {.check_len = true};
	assert_int_equal(read_all(sp, &g), 6);
	assert_seqs(&g, 1, 6);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

/* ---------------------------------------------------------------- repair */

/* A spool with records 1..n in one segment, each its own commit (so that
 * a damaged tail costs one record); returns the segment's path. */
static void make_one_segment(struct fx *fx, size_t n, char *path, size_t size)
{
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	append_range(sp, 1, n, 1);
	vm_spool_close(sp, NULL, 0);
	uint64_t ids[4];
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 1);
	seg_path(path, size, fx->dir, ids[0]);
}

/* Makes the first `cut` bytes of `orig` the spool's only segment, at
 * `path`, and opens it: the bytes from `start` on are cut (with `whole`
 * sound records of an unfinished commit), records 1..kept remain, and the
 * numbers after them are handed out again. */
static void open_cut(struct fx *fx, const char *path, const uint8_t *orig, uint64_t cut, uint64_t start, uint64_t kept,
                     uint64_t whole)
{
	rm_rf(fx->dir);
	mkdir(fx->dir, 0750);
	spit(path, orig, cut);
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.truncated_bytes, cut - start);
	assert_int_equal(st.truncated_records, cut > start);
	assert_int_equal(st.repaired_segments, cut > start);
	assert_int_equal(st.cut_records, whole);
	assert_int_equal(st.corrupt_bytes + st.lost_records, 0);
	assert_int_equal(st.records_pending, kept);
	assert_int_equal(st.last_seq, kept);
	assert_int_equal(file_size(path), start);
	struct got g = {.check_len = true};
	assert_int_equal(read_all(sp, &g), kept);
	assert_seqs(&g, 1, kept);
	got_free(&g);
	append_range(sp, kept + 1, 2, 2);
	vm_spool_close(sp, NULL, 0);
	sp = open_ok(fx->dir, &fast);
	st = stats(sp);
	assert_int_equal(st.truncated_bytes + st.corrupt_bytes + st.repaired_segments, 0);
	g.check_len = true;
	assert_int_equal(read_all(sp, &g), kept + 2);
	assert_seqs(&g, 1, kept + 2);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

static void test_torn_tail_every_offset(void **state)
{
	struct fx *fx = *state;
	char path[PATHLEN];
	make_one_segment(fx, 5, path, sizeof path);
	struct layout *l = vm_xmalloc(sizeof *l);
	parse_segment(path, l);
	assert_int_equal(l->n, 5);
	size_t full;
	uint8_t *orig = slurp(path, &full);
	uint64_t start = l->off[4];
	assert_int_equal(full, start + REC_HDR + l->len[4]);
	vm_log_set_level(VM_LOG_ERR);

	for (uint64_t cut = start; cut < full; cut++)
		open_cut(fx, path, orig, cut, start, 4, 0);
	free(orig);
	free(l);
}

static void test_torn_segment_header(void **state)
{
	struct fx *fx = *state;
	char path[PATHLEN];
	make_one_segment(fx, 2, path, sizeof path);
	size_t full;
	uint8_t *orig = slurp(path, &full);
	vm_log_set_level(VM_LOG_ERR);
	for (uint64_t cut = 0; cut <= SEG_HDR; cut++) {
		rm_rf(fx->dir);
		mkdir(fx->dir, 0750);
		spit(path, orig, cut);
		struct vm_spool *sp = open_ok(fx->dir, &fast);
		struct vm_spool_stats st = stats(sp);
		assert_int_equal(st.quarantined_segments, 0);
		assert_int_equal(st.records_pending, 0);
		if (cut < SEG_HDR) {
			/* created but never written: removed */
			assert_int_equal(st.repaired_segments, 1);
			assert_int_equal(st.truncated_bytes, cut);
			assert_int_equal(access(path, F_OK), -1);
		} else {
			/* a sound header and no records: nothing to deliver */
			assert_int_equal(st.repaired_segments, 0);
			assert_int_equal(st.segments, 0);
			assert_int_equal(access(path, F_OK), -1);
		}
		append_range(sp, 1, 2, 2);
		struct got g = {0};
		assert_int_equal(read_all(sp, &g), 2);
		got_free(&g);
		vm_spool_close(sp, NULL, 0);
	}
	free(orig);
}

static void test_bad_crc_at_tail(void **state)
{
	struct fx *fx = *state;
	char path[PATHLEN];
	make_one_segment(fx, 5, path, sizeof path);
	struct layout *l = vm_xmalloc(sizeof *l);
	parse_segment(path, l);
	flip_bit(path, l->size - 1, 3);
	vm_log_set_level(VM_LOG_ERR);
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.truncated_records, 1);
	assert_int_equal(st.truncated_bytes, REC_HDR + l->len[4]);
	assert_int_equal(st.records_pending, 4);
	struct got g = {0};
	assert_int_equal(read_all(sp, &g), 4);
	assert_seqs(&g, 1, 4);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
	free(l);
}

static void test_corrupt_middle_record(void **state)
{
	struct fx *fx = *state;
	char path[PATHLEN];
	make_one_segment(fx, 10, path, sizeof path);
	struct layout *l = vm_xmalloc(sizeof *l);
	parse_segment(path, l);
	flip_bit(path, l->off[4] + REC_HDR + 2, 0); /* record 5's payload */
	vm_log_set_level(VM_LOG_ERR);
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.truncated_bytes, 0);
	assert_int_equal(st.corrupt_bytes, REC_HDR + l->len[4]);
	assert_int_equal(st.corrupt_regions, 1);
	assert_int_equal(st.lost_records, 1);
	assert_int_equal(st.records_pending, 9);
	assert_int_equal(file_size(path), l->size); /* left as it is */
	struct got g = {0};
	assert_int_equal(read_all(sp, &g), 9);
	for (size_t i = 0; i < 9; i++)
		assert_int_equal(g.seq[i], i < 4 ? i + 1 : i + 2);
	got_free(&g);
	/* the same again after a restart, and acks count around the gap */
	vm_spool_close(sp, NULL, 0);
	sp = open_ok(fx->dir, &fast);
	assert_int_equal(vm_spool_ack(sp, 6), 0);
	assert_int_equal(stats(sp).records_pending, 4);
	assert_int_equal(stats(sp).oldest_seq, 7);
	assert_int_equal(read_all(sp, &g), 4);
	assert_seqs(&g, 7, 10);
	got_free(&g);
	assert_int_equal(vm_spool_ack(sp, 10), 0);
	assert_int_equal(stats(sp).segments, 0);
	vm_spool_close(sp, NULL, 0);
	free(l);
}

static void test_huge_length_field(void **state)
{
	struct fx *fx = *state;
	char path[PATHLEN];
	make_one_segment(fx, 10, path, sizeof path);
	struct layout *l = vm_xmalloc(sizeof *l);
	parse_segment(path, l);
	/* record 3 claims 4 GiB, record 6 a length inside the limit but past
	 * the end of the file, record 10 (the last) 1 GiB */
	poke(path, l->off[2], "\xf0\xff\xff\xff", 4);
	poke(path, l->off[5], "\x00\xf0\x0f\x00", 4);
	poke(path, l->off[9] + 3, "\x40", 1);
	vm_log_set_level(VM_LOG_ERR);
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.corrupt_regions, 2);
	assert_int_equal(st.lost_records, 2);
	assert_int_equal(st.corrupt_bytes, 2 * REC_HDR + l->len[2] + l->len[5]);
	assert_int_equal(st.truncated_records, 1);
	assert_int_equal(st.truncated_bytes, REC_HDR + l->len[9]);
	struct got g = {0};
	assert_int_equal(read_all(sp, &g), 7);
	assert_int_equal(st.records_pending, 7);
	uint64_t want[] = {1, 2, 4, 5, 7, 8, 9};
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(g.seq[i], want[i]);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
	free(l);
}

static void test_garbage_between_records(void **state)
{
	struct fx *fx = *state;
	char path[PATHLEN];
	make_one_segment(fx, 10, path, sizeof path);
	struct layout *l = vm_xmalloc(sizeof *l);
	parse_segment(path, l);
	size_t len;
	uint8_t *b = slurp(path, &len);
	uint8_t *nb = vm_xmalloc(len + 100);
	size_t at = l->off[3];
	memcpy(nb, b, at);
	rng_state = 7;
	for (int i = 0; i < 100; i++)
		nb[at + i] = (uint8_t)rnd();
	memcpy(nb + at + 100, b + at, len - at);
	spit(path, nb, len + 100);
	vm_log_set_level(VM_LOG_ERR);
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.corrupt_bytes, 100);
	assert_int_equal(st.lost_records, 0);
	assert_int_equal(st.records_pending, 10);
	struct got g = {.check_len = true};
	assert_int_equal(read_all(sp, &g), 10);
	assert_seqs(&g, 1, 10);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
	free(b);
	free(nb);
	free(l);
}

/* A spool of several segments: records 1..n, segments of 4 KiB. */
static struct vm_spool_opts small = {.segment_size = 4096, .sync = VM_SPOOL_SYNC_NONE};

static size_t make_segments(struct fx *fx, size_t n, uint64_t *ids, size_t max)
{
	struct vm_spool *sp = open_ok(fx->dir, &small);
	append_range(sp, 1, n, 5);
	vm_spool_close(sp, NULL, 0);
	return list_segs(fx->dir, "", ids, max);
}

static void test_damage_in_earlier_segment(void **state)
{
	struct fx *fx = *state;
	uint64_t ids[64];
	size_t nseg = make_segments(fx, 100, ids, 64);
	assert_true(nseg >= 3);
	char p[PATHLEN];
	seg_path(p, sizeof p, fx->dir, ids[0]);
	struct layout *l = vm_xmalloc(sizeof *l);
	parse_segment(p, l);
	assert_true(l->n >= 4);
	/* one record in the middle and the last one of the first segment */
	flip_bit(p, l->off[1] + 10, 5);
	flip_bit(p, l->off[l->n - 1] + REC_HDR, 1);
	vm_log_set_level(VM_LOG_ERR);
	struct vm_spool *sp = open_ok(fx->dir, &small);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.truncated_bytes, 0); /* not the last segment: nothing cut */
	assert_int_equal(st.corrupt_regions, 2);
	assert_int_equal(st.corrupt_bytes, 2 * REC_HDR + l->len[1] + l->len[l->n - 1]);
	assert_int_equal(st.lost_records, 1); /* the tail's loss is not known from a gap */
	assert_int_equal(st.records_pending, 98);
	assert_int_equal(file_size(p), l->size);
	struct got g = {0};
	assert_int_equal(read_all(sp, &g), 98);
	for (size_t i = 0; i < g.n; i++)
		assert_true(g.seq[i] != l->seq[1] && g.seq[i] != l->seq[l->n - 1]);
	got_free(&g);
	/* delivering past the damaged segment removes it */
	assert_int_equal(vm_spool_ack(sp, l->seq[l->n - 1]), 0);
	assert_int_equal(access(p, F_OK), -1);
	vm_spool_close(sp, NULL, 0);
	free(l);
}

static void test_bad_header_quarantined(void **state)
{
	struct fx *fx = *state;
	uint64_t ids[64];
	size_t nseg = make_segments(fx, 100, ids, 64);
	assert_true(nseg >= 3);
	char p1[PATHLEN], plast[PATHLEN];
	seg_path(p1, sizeof p1, fx->dir, ids[1]);
	seg_path(plast, sizeof plast, fx->dir, ids[nseg - 1]);
	struct layout *l1 = vm_xmalloc(sizeof *l1), *ll = vm_xmalloc(sizeof *ll);
	parse_segment(p1, l1);
	parse_segment(plast, ll);
	poke(p1, 0, "X", 1);       /* magic */
	poke(plast, 8, "\x09", 1); /* version */
	uint64_t bad_bytes = file_size(p1) + file_size(plast);
	vm_log_set_level(VM_LOG_ERR);
	struct vm_spool *sp = open_ok(fx->dir, &small);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.quarantined_segments, 2);
	assert_int_equal(st.quarantined_bytes, bad_bytes);
	assert_int_equal(st.segments, nseg - 2);
	uint64_t bad[8];
	assert_int_equal(list_segs(fx->dir, ".bad", bad, 8), 2);
	assert_int_equal(bad[0], ids[1]);
	assert_int_equal(bad[1], ids[nseg - 1]);
	struct got g = {0};
	size_t want = 100 - l1->n - ll->n;
	assert_int_equal(read_all(sp, &g), want);
	assert_int_equal(st.records_pending, want);
	for (size_t i = 0; i < g.n; i++)
		assert_true(g.seq[i] < l1->seq[0] || (g.seq[i] > l1->seq[l1->n - 1] && g.seq[i] < ll->seq[0]));
	got_free(&g);
	/* new segments are numbered past the quarantined ones; the numbers
	 * of the quarantined last segment's records are handed out again */
	append_range(sp, ll->seq[0], 1, 1);
	size_t n = list_segs(fx->dir, "", ids, 64);
	assert_true(ids[n - 1] > bad[1]);
	vm_spool_close(sp, NULL, 0);
	/* and stay quarantined */
	sp = open_ok(fx->dir, &small);
	assert_int_equal(stats(sp).quarantined_segments, 0);
	assert_int_equal(stats(sp).quarantined_bytes, 0);
	vm_spool_close(sp, NULL, 0);
	free(l1);
	free(ll);
}

static void test_overlapping_segment_quarantined(void **state)
{
	struct fx *fx = *state;
	uint64_t ids[64];
	size_t nseg = make_segments(fx, 60, ids, 64);
	assert_true(nseg >= 2);
	/* a copy of the first segment under a later number, with a sound
	 * header: its records go back in sequence */
	char p0[PATHLEN], pnew[PATHLEN];
	seg_path(p0, sizeof p0, fx->dir, ids[0]);
	seg_path(pnew, sizeof pnew, fx->dir, ids[nseg - 1] + 1);
	size_t len;
	uint8_t *b = slurp(p0, &len);
	make_header(b, ids[nseg - 1] + 1, 1);
	spit(pnew, b, len);
	free(b);
	vm_log_set_level(VM_LOG_ERR);
	struct vm_spool *sp = open_ok(fx->dir, &small);
	assert_int_equal(stats(sp).quarantined_segments, 1);
	assert_int_equal(stats(sp).quarantined_bytes, len);
	struct got g = {.check_len = true};
	assert_int_equal(read_all(sp, &g), 60);
	assert_seqs(&g, 1, 60);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

static void test_read_time_damage(void **state)
{
	struct fx *fx = *state;
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	append_range(sp, 1, 10, 10);
	uint64_t ids[4];
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 1);
	char p[PATHLEN];
	seg_path(p, sizeof p, fx->dir, ids[0]);
	struct layout *l = vm_xmalloc(sizeof *l);
	parse_segment(p, l);
	/* the disk changes under the running spool: the oldest record and
	 * one in the middle */
	flip_bit(p, l->off[0] + REC_HDR + 1, 2);
	flip_bit(p, l->off[5] + 9, 2);
	vm_log_set_level(VM_LOG_ERR);
	assert_int_equal(stats(sp).oldest_seq, 1);
	struct got g = {0};
	assert_int_equal(read_all(sp, &g), 8);
	uint64_t want[] = {2, 3, 4, 5, 7, 8, 9, 10};
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(g.seq[i], want[i]);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.corrupt_regions, 2);
	assert_int_equal(st.lost_records, 2);
	assert_int_equal(st.records_pending, 8);
	assert_int_equal(st.oldest_seq, 2);
	/* a second pass skips the known damage without counting it again */
	got_free(&g);
	assert_int_equal(read_all(sp, &g), 8);
	assert_int_equal(stats(sp).corrupt_regions, 2);
	assert_int_equal(vm_spool_ack(sp, 10), 0);
	assert_int_equal(stats(sp).records_pending, 0);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
	free(l);
}

static void test_ack_file(void **state)
{
	struct fx *fx = *state;
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	append_range(sp, 1, 10, 10);
	assert_int_equal(vm_spool_ack(sp, 5), 0);
	vm_spool_close(sp, NULL, 0);
	char ack[PATHLEN];
	pathf(ack, sizeof ack, "%s/ack", fx->dir);
	assert_int_equal(file_size(ack), 32);

	/* damaged: everything still in the spool is delivered again */
	flip_bit(ack, 17, 0);
	vm_log_set_level(VM_LOG_ERR);
	sp = open_ok(fx->dir, &fast);
	struct got g = {0};
	assert_int_equal(read_all(sp, &g), 10);
	assert_seqs(&g, 1, 10);
	got_free(&g);
	assert_int_equal(vm_spool_ack(sp, 7), 0);
	vm_spool_close(sp, NULL, 0);

	/* missing: the same */
	unlink(ack);
	sp = open_ok(fx->dir, &fast);
	assert_int_equal(read_all(sp, &g), 10);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);

	/* leftovers of an interrupted write are removed, others left */
	char tmp1[PATHLEN], tmp2[PATHLEN], other[PATHLEN];
	pathf(tmp1, sizeof tmp1, "%s/ack.tmp", fx->dir);
	pathf(tmp2, sizeof tmp2, "%s/00000000000000ff.seg.tmp", fx->dir);
	pathf(other, sizeof other, "%s/README", fx->dir);
	spit(tmp1, (const uint8_t *)"x", 1);
	spit(tmp2, (const uint8_t *)"x", 1);
	spit(other, (const uint8_t *)"x", 1);
	sp = open_ok(fx->dir, &fast);
	assert_int_equal(access(tmp1, F_OK), -1);
	assert_int_equal(access(tmp2, F_OK), -1);
	assert_int_equal(access(other, F_OK), 0);
	vm_spool_close(sp, NULL, 0);
}

/* ---------------------------------------------------------------- commits */

/* A spool with commits of records 1..3 and 4..8 in one segment; returns
 * its path and layout. */
static void make_two_commits(struct fx *fx, char *path, size_t size, struct layout *l)
{
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	append_range(sp, 1, 3, 3);
	append_range(sp, 4, 5, 5);
	vm_spool_close(sp, NULL, 0);
	uint64_t ids[4];
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 1);
	seg_path(path, size, fx->dir, ids[0]);
	parse_segment(path, l);
	assert_int_equal(l->n, 8);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(l->end[i], i == 2 || i == 7);
}

/* The second commit cut short at every byte, as a kill inside its
 * pwrite() leaves it: the open drops all of it, the whole records too, and
 * its numbers are handed out again. */
static void test_unfinished_commit_every_offset(void **state)
{
	struct fx *fx = *state;
	char path[PATHLEN];
	struct layout *l = vm_xmalloc(sizeof *l);
	make_two_commits(fx, path, sizeof path, l);
	size_t full;
	uint8_t *orig = slurp(path, &full);
	uint64_t start = l->off[3];
	vm_log_set_level(VM_LOG_ERR);
	for (uint64_t cut = start; cut < full; cut++) {
		uint64_t whole = 0;
		for (size_t i = 3; i < 8; i++)
			whole += l->off[i] + REC_HDR + l->len[i] <= cut;
		open_cut(fx, path, orig, cut, start, 3, whole);
	}
	free(orig);
	free(l);
}

/* Damage inside the last commit of the last segment: in the middle of a
 * complete commit it costs the damaged record only; in a commit whose end
 * is missing it is cut with the rest, not counted as corrupt; damage to
 * the commit end itself cannot be told from a torn write and takes the
 * commit. */
static void test_damage_in_last_commit(void **state)
{
	struct fx *fx = *state;
	char path[PATHLEN];
	struct layout *l = vm_xmalloc(sizeof *l);
	vm_log_set_level(VM_LOG_ERR);

	make_two_commits(fx, path, sizeof path, l);
	flip_bit(path, l->off[4] + REC_HDR, 2);
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.truncated_bytes + st.cut_records, 0);
	assert_int_equal(st.corrupt_regions, 1);
	assert_int_equal(st.lost_records, 1);
	struct got g = {0};
	assert_int_equal(read_all(sp, &g), 7);
	uint64_t want[] = {1, 2, 3, 4, 6, 7, 8};
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(g.seq[i], want[i]);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);

	/* record 5 damaged, 6 whole, the commit's end never written */
	rm_rf(fx->dir);
	make_two_commits(fx, path, sizeof path, l);
	flip_bit(path, l->off[4] + REC_HDR, 2);
	assert_int_equal(truncate(path, (off_t)l->off[6]), 0);
	sp = open_ok(fx->dir, &fast);
	st = stats(sp);
	assert_int_equal(st.corrupt_bytes + st.corrupt_regions + st.lost_records, 0);
	assert_int_equal(st.truncated_records, 1);
	assert_int_equal(st.cut_records, 2); /* 4 and 6 */
	assert_int_equal(st.truncated_bytes, l->off[6] - l->off[3]);
	assert_int_equal(st.last_seq, 3);
	assert_int_equal(read_all(sp, &g), 3);
	assert_seqs(&g, 1, 3);
	got_free(&g);
	append_one(sp, 4, len_for(4));
	assert_int_equal(vm_spool_commit(sp), 0);
	vm_spool_close(sp, NULL, 0);

	/* the commit end damaged */
	rm_rf(fx->dir);
	make_two_commits(fx, path, sizeof path, l);
	flip_bit(path, l->off[7] + REC_HDR, 0);
	sp = open_ok(fx->dir, &fast);
	st = stats(sp);
	assert_int_equal(st.cut_records, 4);
	assert_int_equal(st.last_seq, 3);
	assert_int_equal(read_all(sp, &g), 3);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
	free(l);
}

/* A child opens the spool, commits records first..first+before-1 in
 * commits of two, then is killed by VMETER_TEST_SPOOL_COMMIT_KILL in the
 * middle of a commit of the next `n` records.  `o` as the spool was made. */
static void kill_in_commit(struct fx *fx, const struct vm_spool_opts *o, uint64_t first, size_t before, size_t n)
{
	char trigger[PATHLEN];
	pathf(trigger, sizeof trigger, "%s/kill", fx->base);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("VMETER_TEST_SPOOL_COMMIT_KILL", trigger, 1);
		char err[512];
		struct vm_spool *c = vm_spool_open(fx->dir, o, err, sizeof err);
		if (!c)
			_exit(1);
		for (uint64_t s = first; s < first + before + n; s++) {
			if (s == first + before) {
				int fd = open(trigger, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
				if (fd < 0)
					_exit(1);
				close(fd);
			}
			uint8_t buf[256];
			fill(s, buf, len_for(s));
			if (vm_spool_append(c, buf, len_for(s), NULL) != 0)
				_exit(2);
			if (s < first + before && ((s - first) % 2 == 1 || s + 1 == first + before) &&
			    vm_spool_commit(c) != 0)
				_exit(3);
		}
		vm_spool_commit(c);
		_exit(4); /* not killed */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(access(trigger, F_OK), -1);
}

/* Opens the spool after kill_in_commit(): it ends at record `last`,
 * records acked+1..last are read, `whole` sound records of the killed
 * commit were cut, and nothing else was repaired. */
static struct vm_spool *open_after_kill(struct fx *fx, const struct vm_spool_opts *o, uint64_t acked, uint64_t last,
                                        uint64_t whole)
{
	struct vm_spool *sp = open_ok(fx->dir, o);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.last_seq, last);
	assert_int_equal(st.records_pending, last - acked);
	assert_int_equal(st.truncated_records, 1);
	assert_int_equal(st.cut_records, whole);
	assert_int_equal(st.corrupt_bytes + st.lost_records + st.quarantined_segments, 0);
	struct got g = {.check_len = true};
	assert_int_equal(read_all(sp, &g), last - acked);
	if (last > acked)
		assert_seqs(&g, acked + 1, last);
	got_free(&g);
	return sp;
}

/* A process killed while its commit's records are half written: the next
 * open has exactly the records of the commits that returned, and the
 * numbers go on after them.  A commit that opened a new segment (the first
 * after an open always does) and one after others in its segment; a
 * commit of one record; a kill after everything was delivered. */
static void test_kill_in_commit(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {.segment_size = VM_SPOOL_SEGMENT_SIZE_MIN, .sync = VM_SPOOL_SYNC_NONE};
	vm_log_set_level(VM_LOG_ERR);
	struct vm_spool *sp = open_ok(fx->dir, &o);
	append_range(sp, 1, 10, 5);
	vm_spool_close(sp, NULL, 0);

	kill_in_commit(fx, &o, 11, 0, 7);
	sp = open_after_kill(fx, &o, 0, 10, 6);
	append_range(sp, 11, 4, 4); /* the commit's numbers are handed out again */
	vm_spool_close(sp, NULL, 0);

	kill_in_commit(fx, &o, 15, 5, 3);
	sp = open_after_kill(fx, &o, 0, 19, 2);
	vm_spool_close(sp, NULL, 0);

	kill_in_commit(fx, &o, 20, 2, 1);
	sp = open_after_kill(fx, &o, 0, 21, 0);
	append_range(sp, 22, 1, 1);
	assert_int_equal(vm_spool_ack(sp, 22), 0);
	vm_spool_close(sp, NULL, 0);

	/* the newest number now only in the ack file */
	kill_in_commit(fx, &o, 23, 0, 4);
	sp = open_after_kill(fx, &o, 22, 22, 3);
	append_range(sp, 23, 1, 1);
	struct got g = {0};
	assert_int_equal(read_all(sp, &g), 1);
	assert_seqs(&g, 23, 23);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

/* Writes a version-1 segment as the build before commit ends did: no
 * flags, every record its own commit; `torn` bytes of one more record at
 * the end. */
static void write_v1_segment(const char *path, uint64_t id, uint64_t first, size_t n, size_t torn)
{
	uint8_t *b = vm_xmalloc(SEG_HDR + (n + 1) * (REC_HDR + 256));
	make_header_v(b, id, first, 1);
	size_t off = SEG_HDR;
	for (uint64_t s = first; s <= first + n; s++) {
		size_t len = len_for(s);
		uint8_t *h = b + off;
		memset(h, 0, REC_HDR);
		for (int i = 0; i < 4; i++)
			h[i] = (uint8_t)(len >> (8 * i));
		for (int i = 0; i < 8; i++) {
			h[8 + i] = (uint8_t)(s >> (8 * i));
			h[16 + i] = (uint8_t)((uint64_t)1700000000000000000 >> (8 * i));
		}
		fill(s, h + REC_HDR, len);
		uint32_t crc = vm_spool_crc32c(0, h, 4);
		crc = vm_spool_crc32c(crc, h + 8, REC_HDR - 8 + len);
		for (int i = 0; i < 4; i++)
			h[4 + i] = (uint8_t)(crc >> (8 * i));
		off += s < first + n ? REC_HDR + len : torn;
	}
	spit(path, b, off);
	free(b);
}

/* Version-1 segments left by an upgrade in place still read: every record
 * counts as a commit, so a torn tail costs only the torn record; the next
 * commit goes to a new version-2 segment and the numbers continue. */
static void test_v1_segments(void **state)
{
	struct fx *fx = *state;
	vm_log_set_level(VM_LOG_ERR);
	mkdir(fx->dir, 0750);
	char p1[PATHLEN], p2[PATHLEN];
	seg_path(p1, sizeof p1, fx->dir, 1);
	seg_path(p2, sizeof p2, fx->dir, 2);
	write_v1_segment(p1, 1, 1, 5, 0);
	write_v1_segment(p2, 2, 6, 4, 30);
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.quarantined_segments + st.corrupt_bytes + st.cut_records, 0);
	assert_int_equal(st.truncated_records, 1);
	assert_int_equal(st.truncated_bytes, 30);
	assert_int_equal(st.last_seq, 9);
	struct got g = {.check_len = true};
	assert_int_equal(read_all(sp, &g), 9);
	assert_seqs(&g, 1, 9);
	got_free(&g);
	assert_int_equal(vm_spool_ack(sp, 3), 0);
	append_range(sp, 10, 4, 4);
	vm_spool_close(sp, NULL, 0);

	uint64_t ids[4];
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 3);
	char p3[PATHLEN];
	seg_path(p3, sizeof p3, fx->dir, ids[2]);
	uint8_t *b;
	size_t len;
	b = slurp(p3, &len);
	assert_int_equal(b[8], VM_SPOOL_FORMAT_VERSION);
	free(b);
	sp = open_ok(fx->dir, &fast);
	st = stats(sp);
	assert_int_equal(st.truncated_bytes + st.corrupt_bytes + st.repaired_segments, 0);
	assert_int_equal(read_all(sp, &g), 10);
	assert_seqs(&g, 4, 13);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);

	/* an unknown version is still refused */
	rm_rf(fx->dir);
	mkdir(fx->dir, 0750);
	write_v1_segment(p1, 1, 1, 2, 0);
	b = slurp(p1, &len);
	make_header_v(b, 1, 1, VM_SPOOL_FORMAT_VERSION + 1);
	spit(p1, b, len);
	free(b);
	sp = open_ok(fx->dir, &fast);
	assert_int_equal(stats(sp).quarantined_segments, 1);
	vm_spool_close(sp, NULL, 0);
}

/* ---------------------------------------------------------------- fuzz */

static void test_bit_flips(void **state)
{
	struct fx *fx = *state;
	char tmpl[PATHLEN];
	pathf(tmpl, sizeof tmpl, "%s/template", fx->base);
	struct vm_spool_opts o = small;
	struct vm_spool *sp = open_ok(tmpl, &o);
	rng_state = 42;
	uint64_t total = 120;
	for (uint64_t s = 1; s <= total; s++) {
		append_one(sp, s, 1 + rnd() % 300);
		if (s % 7 == 0 || s == total)
			assert_int_equal(vm_spool_commit(sp), 0);
	}
	vm_spool_close(sp, NULL, 0);
	uint64_t ids[64];
	size_t nseg = list_segs(tmpl, "", ids, 64);
	assert_true(nseg >= 4);
	size_t nrec[64];
	uint64_t size[64];
	struct layout *l = vm_xmalloc(sizeof *l);
	for (size_t i = 0; i < nseg; i++) {
		char p[PATHLEN];
		seg_path(p, sizeof p, tmpl, ids[i]);
		parse_segment(p, l);
		nrec[i] = l->n;
		size[i] = l->size;
	}
	free(l);

	vm_log_set_level(VM_LOG_ERR);
	for (int iter = 0; iter < 400; iter++) {
		rm_rf(fx->dir);
		copy_dir(tmpl, fx->dir);
		int flips = 1 + (int)(rnd() % 3);
		uint64_t allowed = 0;
		bool header_hit[64] = {false};
		for (int k = 0; k < flips; k++) {
			size_t i = rnd() % nseg;
			uint64_t off = rnd() % size[i];
			char p[PATHLEN];
			seg_path(p, sizeof p, fx->dir, ids[i]);
			flip_bit(p, off, (int)(rnd() % 8));
			if (off < SEG_HDR) {
				if (!header_hit[i])
					allowed += nrec[i];
				header_hit[i] = true;
			} else {
				allowed += 1;
			}
		}
		sp = open_ok(fx->dir, &o);
		struct got g = {0};
		size_t got = read_all(sp, &g); /* checks every payload and the order */
		struct vm_spool_stats st = stats(sp);
		if (total - got > allowed)
			fail_msg("iteration %d: lost %" PRIu64 " records, %d flips allow %" PRIu64, iter, total - got,
			         flips, allowed);
		assert_int_equal(st.records_pending, got);
		if (got < total)
			assert_true(st.truncated_records + st.corrupt_regions + st.quarantined_segments > 0);
		/* still a working spool */
		assert_int_equal(vm_spool_ack(sp, UINT64_MAX), 0);
		assert_int_equal(stats(sp).records_pending, 0);
		append_range(sp, stats(sp).last_seq + 1, 3, 3);
		got_free(&g);
		assert_int_equal(read_all(sp, &g), 3);
		got_free(&g);
		vm_spool_close(sp, NULL, 0);
	}
}

struct any {
	size_t n;
	uint64_t last;
};

static int collect_any(void *arg, const struct vm_spool_record *rec)
{
	struct any *a = arg;
	assert_true(rec->seq > a->last);
	assert_true(rec->len <= (1u << 20));
	a->last = rec->seq;
	a->n++;
	return 0;
}

/* Files of random bytes, random bytes behind a sound header, and headers
 * with plausible record headers and random payloads: the open never fails
 * for content and nothing breaks. */
static void test_random_files(void **state)
{
	struct fx *fx = *state;
	rng_state = 99;
	vm_log_set_level(VM_LOG_ERR);
	static uint8_t buf[16384];
	for (int iter = 0; iter < 300; iter++) {
		rm_rf(fx->dir);
		mkdir(fx->dir, 0750);
		int nfiles = 1 + (int)(rnd() % 4);
		for (int k = 0; k < nfiles; k++) {
			uint64_t id = 1 + rnd() % 6;
			size_t len = rnd() % sizeof buf;
			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)rnd();
			int kind = (int)(rnd() % 3);
			if (kind >= 1 && len >= SEG_HDR)
				make_header(buf, id, 1 + rnd() % 1000);
			if (kind == 2) {
				/* small lengths and plausible sequences, so that
				 * the CRC check is what decides */
				uint64_t seq = 1 + rnd() % 1000;
				for (size_t off = SEG_HDR; off + REC_HDR <= len; off += REC_HDR + (rnd() % 64)) {
					buf[off] = (uint8_t)(rnd() % 64);
					buf[off + 1] = buf[off + 2] = buf[off + 3] = 0;
					for (int b = 0; b < 8; b++)
						buf[off + 8 + b] = (uint8_t)(seq >> (8 * b));
					seq += 1 + rnd() % 2;
				}
			}
			char p[PATHLEN];
			seg_path(p, sizeof p, fx->dir, id);
			spit(p, buf, len);
		}
		char err[512];
		struct vm_spool *sp = vm_spool_open(fx->dir, &small, err, sizeof err);
		if (!sp)
			fail_msg("iteration %d: %s", iter, err);
		struct vm_spool_cursor c = {0};
		struct any a = {0};
		int rc;
		while ((rc = vm_spool_read(sp, &c, 50, 1 << 20, collect_any, &a)) > 0)
			;
		assert_int_equal(rc, 0);
		assert_int_equal(stats(sp).records_pending, a.n);
		assert_int_equal(vm_spool_ack(sp, UINT64_MAX), 0);
		assert_int_equal(stats(sp).records_pending, 0);
		/* a sound header without records sets where numbers go on */
		uint64_t s1, s2;
		assert_int_equal(vm_spool_append(sp, "ab", 2, &s1), 0);
		assert_int_equal(vm_spool_append(sp, "cd", 2, &s2), 0);
		assert_int_equal(s2, s1 + 1);
		assert_true(s1 > stats(sp).last_seq);
		assert_int_equal(vm_spool_commit(sp), 0);
		a = (struct any){0};
		c = (struct vm_spool_cursor){0};
		assert_int_equal(vm_spool_read(sp, &c, 50, 1 << 20, collect_any, &a), 2);
		vm_spool_close(sp, NULL, 0);
	}
}

/* ---------------------------------------------------------------- limits */

static void test_cap(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {
	    .cap = 64 << 10, .segment_size = 16 << 10, .max_record = 1024, .sync = VM_SPOOL_SYNC_NONE};
	struct vm_spool *sp = open_ok(fx->dir, &o);
	uint8_t buf[512];
	uint64_t seq = 0, accepted = 0;
	int rc = 0;
	for (int i = 0; i < 1000; i++) {
		fill(accepted + 1, buf, sizeof buf);
		rc = vm_spool_append(sp, buf, sizeof buf, &seq);
		if (rc == VM_SPOOL_FULL)
			break;
		assert_int_equal(rc, 0);
		accepted++;
		if (accepted % 8 == 0)
			assert_int_equal(vm_spool_commit(sp), 0);
		struct vm_spool_stats st = stats(sp);
		assert_true(st.bytes + st.buffered_bytes <= o.cap);
	}
	assert_int_equal(rc, VM_SPOOL_FULL);
	assert_non_null(strstr(vm_spool_error(sp), "is full"));
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.full_rejections, 1);
	assert_int_equal(st.buffered_records, accepted % 8);
	/* a refused append wrote nothing and took no number */
	assert_int_equal(vm_spool_append(sp, buf, sizeof buf, &seq), VM_SPOOL_FULL);
	assert_int_equal(stats(sp).full_rejections, 2);
	assert_int_equal(vm_spool_commit(sp), 0);
	st = stats(sp);
	assert_true(st.bytes <= o.cap);
	assert_true(st.bytes > o.cap - 2 * (REC_HDR + sizeof buf) - 2 * SEG_HDR);
	assert_int_equal(st.bytes, dir_seg_bytes(fx->dir));
	assert_int_equal(st.last_seq, accepted);

	/* delivering makes room again */
	struct got g = {0};
	assert_int_equal(read_all(sp, &g), accepted);
	assert_int_equal(vm_spool_ack(sp, accepted), 0);
	fill(accepted + 1, buf, sizeof buf);
	assert_int_equal(vm_spool_append(sp, buf, sizeof buf, &seq), 0);
	assert_int_equal(seq, accepted + 1);
	assert_int_equal(vm_spool_commit(sp), 0);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

static void test_batch_full(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {.segment_size = 4096, .sync = VM_SPOOL_SYNC_NONE};
	struct vm_spool *sp = open_ok(fx->dir, &o);
	uint8_t buf[300];
	uint64_t seq;
	int rc, n = 0;
	while ((rc = vm_spool_append(sp, buf, sizeof buf, &seq)) == 0)
		n++;
	assert_int_equal(rc, VM_SPOOL_BATCH_FULL);
	assert_int_equal(n, 4096 / (REC_HDR + sizeof buf));
	assert_int_equal(vm_spool_commit(sp), 0);
	assert_int_equal(vm_spool_append(sp, buf, sizeof buf, &seq), 0);
	assert_int_equal(seq, (uint64_t)n + 1);
	/* one record larger than a segment is a batch of its own */
	vm_spool_close(sp, NULL, 0);
	struct vm_spool_opts big = {.segment_size = 4096, .max_record = 8192, .sync = VM_SPOOL_SYNC_NONE};
	sp = open_ok(fx->dir, &big);
	static uint8_t large[8192];
	assert_int_equal(vm_spool_append(sp, large, sizeof large, &seq), 0);
	assert_int_equal(vm_spool_append(sp, buf, 1, &seq), VM_SPOOL_BATCH_FULL);
	assert_int_equal(vm_spool_commit(sp), 0);
	vm_spool_close(sp, NULL, 0);
}

/* ---------------------------------------------------------------- sync */

static void test_sync_policies(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {.sync = VM_SPOOL_SYNC_ALWAYS};
	struct vm_spool *sp = open_ok(fx->dir, &o);
	append_range(sp, 1, 5, 1);
	assert_int_equal(stats(sp).commits, 5);
	assert_int_equal(stats(sp).syncs, 5);
	assert_int_equal(vm_spool_commit(sp), 0); /* nothing to write, nothing to sync */
	assert_int_equal(stats(sp).syncs, 5);
	vm_spool_close(sp, NULL, 0);

	o.sync = VM_SPOOL_SYNC_NONE;
	sp = open_ok(fx->dir, &o);
	append_range(sp, 6, 5, 1);
	assert_int_equal(stats(sp).syncs, 0);
	vm_spool_close(sp, NULL, 0);

	o.sync = VM_SPOOL_SYNC_INTERVAL;
	o.sync_interval_ms = 3600000;
	sp = open_ok(fx->dir, &o);
	append_range(sp, 11, 5, 1);
	assert_int_equal(stats(sp).syncs, 0);
	vm_spool_close(sp, NULL, 0);

	/* wide margins: "not due" must hold on a loaded machine too */
	o.sync_interval_ms = 300;
	sp = open_ok(fx->dir, &o);
	append_range(sp, 16, 1, 1);
	uint64_t before = stats(sp).syncs;
	nanosleep(&(struct timespec){0, 350000000}, NULL);
	append_range(sp, 17, 1, 1); /* due: syncs */
	assert_int_equal(stats(sp).syncs, before + 1);
	append_range(sp, 18, 1, 1); /* not due */
	assert_int_equal(stats(sp).syncs, before + 1);
	nanosleep(&(struct timespec){0, 350000000}, NULL);
	assert_int_equal(vm_spool_commit(sp), 0); /* an empty commit syncs what is due */
	assert_int_equal(stats(sp).syncs, before + 2);
	assert_int_equal(vm_spool_commit(sp), 0);
	assert_int_equal(stats(sp).syncs, before + 2);
	vm_spool_close(sp, NULL, 0);

	sp = open_ok(fx->dir, &o);
	struct got g = {.check_len = true};
	assert_int_equal(read_all(sp, &g), 18);
	assert_seqs(&g, 1, 18);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

/* ---------------------------------------------------------------- file system errors */

static void test_unwritable_dir(void **state)
{
	struct fx *fx = *state;
	if (geteuid() == 0) {
		/* root writes anywhere: a read-only file system it is */
		if (!mount_tmpfs(fx, "1m", MS_RDONLY))
			skip();
	} else {
		mkdir(fx->dir, 0500);
	}
	struct vm_spool *sp = open_ok(fx->dir, &fast);
	append_one(sp, 1, 10);
	assert_int_equal(vm_spool_commit(sp), VM_SPOOL_ERROR);
	const char *e = vm_spool_error(sp);
	assert_non_null(strstr(e, "cannot create segment"));
	assert_non_null(strstr(e, fx->dir));
	assert_true(strstr(e, "Read-only") || strstr(e, "Permission denied"));
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.failed_commits, 1);
	assert_int_equal(st.full_commits, 0);
	assert_int_equal(st.discarded_records, 1);
	assert_int_equal(st.records_pending, 0);
	append_one(sp, 1, 10); /* the number is handed out again */
	vm_spool_close(sp, NULL, 0);
	if (geteuid() != 0)
		chmod(fx->dir, 0700);
}

static void test_ack_not_stored(void **state)
{
	struct fx *fx = *state;
	struct vm_spool *sp = open_ok(fx->dir, NULL);
	append_range(sp, 1, 10, 10);
	struct got g = {0};
	struct vm_spool_cursor c = {0};
	assert_int_equal(vm_spool_read(sp, &c, 100, 1 << 20, collect, &g), 10);

	/* a directory where the new ack file goes: it cannot be written */
	char tmp[PATHLEN], ack[PATHLEN];
	pathf(tmp, sizeof tmp, "%s/ack.tmp", fx->dir);
	pathf(ack, sizeof ack, "%s/ack", fx->dir);
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(vm_spool_ack(sp, 4), VM_SPOOL_ERROR);
	assert_non_null(strstr(vm_spool_read_error(sp), "cannot create ack file"));
	assert_non_null(strstr(vm_spool_read_error(sp), ack));
	assert_non_null(strstr(vm_spool_read_error(sp), "Is a directory"));
	/* it holds in memory */
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.acked_seq, 4);
	assert_int_equal(st.records_pending, 6);
	vm_spool_cursor_rewind(&c);
	got_free(&g);
	assert_int_equal(vm_spool_read(sp, &c, 100, 1 << 20, collect, &g), 6);
	assert_int_equal(access(ack, F_OK), -1);

	/* and is stored by the next ack, whatever its value */
	assert_int_equal(rmdir(tmp), 0);
	assert_int_equal(vm_spool_ack(sp, 2), 0);
	assert_int_equal(file_size(ack), 32);
	vm_spool_close(sp, NULL, 0);
	sp = open_ok(fx->dir, NULL);
	assert_int_equal(stats(sp).acked_seq, 4);

	/* or by close */
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(vm_spool_ack(sp, 7), VM_SPOOL_ERROR);
	assert_int_equal(rmdir(tmp), 0);
	assert_int_equal(vm_spool_close(sp, NULL, 0), 0);
	sp = open_ok(fx->dir, NULL);
	assert_int_equal(stats(sp).acked_seq, 7);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

/* Delivered segments that a crash left behind (the ack file was stored,
 * the segment not yet removed) go at open; if they cannot, open fails
 * cleanly. */
static void test_delivered_removed_at_open(void **state)
{
	struct fx *fx = *state;
	bool ro = mount_tmpfs(fx, "1m", 0);
	struct vm_spool *sp = open_ok(fx->dir, &small);
	append_range(sp, 1, 60, 5);
	uint64_t ids[64];
	size_t n = list_segs(fx->dir, "", ids, 64);
	assert_true(n >= 2);
	char p0[PATHLEN];
	seg_path(p0, sizeof p0, fx->dir, ids[0]);
	size_t len;
	uint8_t *b = slurp(p0, &len);
	struct layout *l = vm_xmalloc(sizeof *l);
	parse_segment(p0, l);
	assert_int_equal(vm_spool_ack(sp, l->seq[l->n - 1]), 0);
	assert_int_equal(access(p0, F_OK), -1);
	vm_spool_close(sp, NULL, 0);
	spit(p0, b, len); /* as if the crash came before the removal */

	if (ro) {
		assert_int_equal(mount("tmpfs", fx->dir, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m"), 0);
		char err[512];
		assert_null(vm_spool_open(fx->dir, &small, err, sizeof err));
		assert_non_null(strstr(err, "cannot remove delivered segment"));
		assert_non_null(strstr(err, p0));
		assert_int_equal(mount("tmpfs", fx->dir, "tmpfs", MS_REMOUNT, "size=1m"), 0);
	}
	sp = open_ok(fx->dir, &small);
	assert_int_equal(access(p0, F_OK), -1);
	assert_int_equal(stats(sp).segments, n - 1);
	struct got g = {.check_len = true};
	assert_int_equal(read_all(sp, &g), 60 - l->n);
	assert_seqs(&g, l->n + 1, 60);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
	free(b);
	free(l);
}

static void test_full_filesystem(void **state)
{
	struct fx *fx = *state;
	if (!mount_tmpfs(fx, "256k", 0))
		skip();
	struct vm_spool_opts o = {.segment_size = 64 << 10, .cap = 64 << 20, .max_record = 8192};
	struct vm_spool *sp = open_ok(fx->dir, &o);
	uint8_t buf[4000];
	uint64_t committed = 0, seq;
	int rc = 0;
	for (int i = 0; i < 1000; i++) {
		fill(committed + 1, buf, sizeof buf);
		assert_int_equal(vm_spool_append(sp, buf, sizeof buf, &seq), 0);
		assert_int_equal(seq, committed + 1);
		rc = vm_spool_commit(sp);
		if (rc != 0)
			break;
		committed++;
	}
	assert_int_equal(rc, VM_SPOOL_FULL);
	assert_non_null(strstr(vm_spool_error(sp), "No space left"));
	assert_non_null(strstr(vm_spool_error(sp), fx->dir));
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.full_commits, 1);
	assert_int_equal(st.discarded_records, 1);
	assert_int_equal(st.last_seq, committed);
	assert_true(committed > 20);
	/* what failed was cut off at once: the files hold exactly the
	 * committed records */
	assert_int_equal(st.bytes, dir_seg_bytes(fx->dir));
	vm_spool_close(sp, NULL, 0);

	sp = open_ok(fx->dir, &o);
	st = stats(sp);
	assert_int_equal(st.truncated_bytes + st.corrupt_bytes + st.quarantined_segments, 0);
	assert_int_equal(st.records_pending, committed);
	/* still full: a commit fails the same way, and nothing is lost */
	fill(committed + 1, buf, sizeof buf);
	assert_int_equal(vm_spool_append(sp, buf, sizeof buf, &seq), 0);
	rc = vm_spool_commit(sp);
	assert_true(rc == VM_SPOOL_FULL || rc == 0);
	if (rc == 0)
		committed++;
	struct got g = {0};
	assert_int_equal(read_all(sp, &g), committed);
	assert_seqs(&g, 1, committed);
	/* delivering frees the space, and appends work again */
	assert_int_equal(vm_spool_ack(sp, committed), 0);
	for (int i = 0; i < 10; i++) {
		fill(committed + 1, buf, sizeof buf);
		assert_int_equal(vm_spool_append(sp, buf, sizeof buf, &seq), 0);
		assert_int_equal(vm_spool_commit(sp), 0);
		committed++;
	}
	got_free(&g);
	assert_int_equal(read_all(sp, &g), 10);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

static void test_write_error_cut_back(void **state)
{
	struct fx *fx = *state;
	struct vm_spool *sp = open_ok(fx->dir, NULL);
	append_range(sp, 1, 10, 10);
	uint64_t ids[4];
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 1);
	char p[PATHLEN];
	seg_path(p, sizeof p, fx->dir, ids[0]);
	uint64_t size = file_size(p);

	/* the file may grow by 100 bytes only: the batch is written in part,
	 * then EFBIG */
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigaction(SIGXFSZ, &ign, &old);
	struct rlimit rl, lim;
	getrlimit(RLIMIT_FSIZE, &rl);
	lim = rl;
	lim.rlim_cur = size + 100;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (uint64_t s = 11; s <= 20; s++)
		append_one(sp, s, 50);
	int rc = vm_spool_commit(sp);
	setrlimit(RLIMIT_FSIZE, &rl);
	sigaction(SIGXFSZ, &old, NULL);
	assert_int_equal(rc, VM_SPOOL_ERROR);
	assert_non_null(strstr(vm_spool_error(sp), "cannot write segment"));
	assert_non_null(strstr(vm_spool_error(sp), p));
	assert_int_equal(file_size(p), size);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.discarded_records, 10);
	assert_int_equal(st.last_seq, 10);

	/* the numbers are handed out again */
	append_range(sp, 11, 10, 10);
	struct got g = {.check_len = true};
	assert_int_equal(read_all(sp, &g), 20);
	assert_seqs(&g, 1, 20);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
	sp = open_ok(fx->dir, NULL);
	st = stats(sp);
	assert_int_equal(st.truncated_bytes + st.corrupt_bytes, 0);
	assert_int_equal(st.records_pending, 20);
	vm_spool_close(sp, NULL, 0);
}

/* ---------------------------------------------------------------- large batches */

/* A batch past the writer's 64 KiB buffer: 2000 records of ~130 bytes. */
#define BIG_BATCH 2000

static void append_big(struct vm_spool *sp, uint64_t first)
{
	for (uint64_t s = first; s < first + BIG_BATCH; s++)
		append_one(sp, s, len_for(s));
}

/* A batch larger than the buffer is written to its segment as it grows,
 * past the committed end: no reader sees it and no ack removes the
 * segment under it until the commit, which makes it whole; a close without
 * the commit cuts it off. */
static void test_large_batch_written_ahead(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {.segment_size = 4u << 20, .sync = VM_SPOOL_SYNC_NONE};
	struct vm_spool *sp = open_ok(fx->dir, &o);
	append_range(sp, 1, 10, 10);
	uint64_t ids[4];
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 1);
	char p[PATHLEN];
	seg_path(p, sizeof p, fx->dir, ids[0]);
	uint64_t size = file_size(p);

	append_big(sp, 11);
	assert_true(file_size(p) > size + (32u << 10));
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.last_seq, 10);
	assert_int_equal(st.buffered_records, BIG_BATCH);
	struct got g = {.check_len = true};
	assert_int_equal(read_all(sp, &g), 10);
	got_free(&g);
	/* everything committed is delivered: the segment would go, but the
	 * batch is in it */
	assert_int_equal(vm_spool_ack(sp, 10), 0);
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 1);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(vm_spool_commit(sp), 0);
	assert_int_equal(read_all(sp, &g), BIG_BATCH);
	assert_seqs(&g, 11, 10 + BIG_BATCH);
	got_free(&g);
	size = file_size(p);
	assert_int_equal(stats(sp).bytes, size);
	vm_spool_close(sp, NULL, 0);

	sp = open_ok(fx->dir, &o);
	st = stats(sp);
	assert_int_equal(st.last_seq, 10 + BIG_BATCH);
	assert_int_equal(st.records_pending, BIG_BATCH);
	assert_int_equal(st.truncated_bytes + st.cut_records + st.corrupt_bytes + st.repaired_segments, 0);
	assert_int_equal(read_all(sp, &g), BIG_BATCH);
	assert_seqs(&g, 11, 10 + BIG_BATCH);
	got_free(&g);
	/* appended and not committed: close cuts what was written ahead (to
	 * the new segment of this open, which the first write made) */
	append_big(sp, 11 + BIG_BATCH);
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 2);
	seg_path(p, sizeof p, fx->dir, ids[1]);
	assert_true(file_size(p) > SEG_HDR);
	vm_spool_close(sp, NULL, 0);
	assert_true(file_size(p) == SEG_HDR || access(p, F_OK) < 0);
	sp = open_ok(fx->dir, &o);
	st = stats(sp);
	assert_int_equal(st.last_seq, 10 + BIG_BATCH);
	assert_int_equal(st.truncated_bytes + st.cut_records + st.corrupt_bytes, 0);
	append_range(sp, 11 + BIG_BATCH, 3, 3);
	vm_spool_close(sp, NULL, 0);
}

/* A process killed in the commit of a large batch, most of it written
 * ahead (in a segment the first write of the batch created): the next
 * open cuts all of it. */
static void test_kill_in_large_commit(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {.segment_size = 1u << 20, .sync = VM_SPOOL_SYNC_NONE};
	vm_log_set_level(VM_LOG_ERR);
	struct vm_spool *sp = open_ok(fx->dir, &o);
	append_range(sp, 1, 10, 5);
	vm_spool_close(sp, NULL, 0);
	kill_in_commit(fx, &o, 11, 0, BIG_BATCH);
	sp = open_after_kill(fx, &o, 0, 10, BIG_BATCH - 1);
	append_range(sp, 11, 4, 4); /* the commit's numbers are handed out again */
	vm_spool_close(sp, NULL, 0);
}

/* A write ahead that fails (EFBIG past RLIMIT_FSIZE), on the batch's first
 * write or a later one: appends go on, the commit fails with the error,
 * what was written is cut back, the whole batch counts as discarded and
 * its numbers are handed out again. */
static void test_large_batch_write_error(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {.segment_size = 4u << 20, .sync = VM_SPOOL_SYNC_NONE};
	struct vm_spool *sp = open_ok(fx->dir, &o);
	append_range(sp, 1, 10, 10);
	uint64_t ids[4];
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 1);
	char p[PATHLEN];
	seg_path(p, sizeof p, fx->dir, ids[0]);
	uint64_t size = file_size(p);
	const uint64_t room[] = {1000, 100u << 10};
	for (size_t i = 0; i < 2; i++) {
		struct sigaction ign = {.sa_handler = SIG_IGN}, old;
		sigaction(SIGXFSZ, &ign, &old);
		struct rlimit rl, lim;
		getrlimit(RLIMIT_FSIZE, &rl);
		lim = rl;
		lim.rlim_cur = size + room[i];
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
		append_big(sp, 11);
		setrlimit(RLIMIT_FSIZE, &rl);
		sigaction(SIGXFSZ, &old, NULL);
		assert_int_equal(file_size(p), size);
		struct vm_spool_stats st = stats(sp);
		assert_int_equal(st.buffered_records, BIG_BATCH);
		/* the limit is gone, the failure stays with the batch */
		assert_int_equal(vm_spool_commit(sp), VM_SPOOL_ERROR);
		assert_non_null(strstr(vm_spool_error(sp), "cannot write segment"));
		assert_non_null(strstr(vm_spool_error(sp), strerror(EFBIG)));
		st = stats(sp);
		assert_int_equal(st.discarded_records, (i + 1) * BIG_BATCH);
		assert_int_equal(st.buffered_records, 0);
		assert_int_equal(st.last_seq, 10);
		assert_int_equal(file_size(p), size);
	}
	append_big(sp, 11);
	assert_int_equal(vm_spool_commit(sp), 0);
	struct got g = {.check_len = true};
	assert_int_equal(read_all(sp, &g), 10 + BIG_BATCH);
	assert_seqs(&g, 1, 10 + BIG_BATCH);
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
	sp = open_ok(fx->dir, &o);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.truncated_bytes + st.cut_records + st.corrupt_bytes, 0);
	assert_int_equal(st.records_pending, 10 + BIG_BATCH);
	vm_spool_close(sp, NULL, 0);
}

/* The directory gone before a large batch's first write: the commit says
 * so, as for a small batch. */
static void test_large_batch_directory_removed(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {.segment_size = 4u << 20, .sync = VM_SPOOL_SYNC_NONE};
	struct vm_spool *sp = open_ok(fx->dir, &o);
	append_range(sp, 1, 10, 10);
	rm_rf(fx->dir);
	append_big(sp, 11);
	assert_int_equal(vm_spool_commit(sp), VM_SPOOL_ERROR);
	assert_non_null(strstr(vm_spool_error(sp), "was removed"));
	assert_int_equal(stats(sp).discarded_records, BIG_BATCH);
	vm_spool_close(sp, NULL, 0);
}

static void test_directory_removed(void **state)
{
	struct fx *fx = *state;
	struct vm_spool *sp = open_ok(fx->dir, NULL);
	append_range(sp, 1, 3, 3);
	rm_rf(fx->dir);
	append_one(sp, 4, 10);
	assert_int_equal(vm_spool_commit(sp), VM_SPOOL_ERROR);
	assert_non_null(strstr(vm_spool_error(sp), "was removed"));
	assert_non_null(strstr(vm_spool_error(sp), fx->dir));
	struct got g = {0};
	struct vm_spool_cursor c = {0};
	int rc = vm_spool_read(sp, &c, 100, 1 << 20, collect, &g);
	assert_true(rc == VM_SPOOL_ERROR || rc == 3);
	if (rc < 0)
		assert_non_null(strstr(vm_spool_read_error(sp), "No such file"));
	assert_int_equal(vm_spool_ack(sp, 3), VM_SPOOL_ERROR);
	assert_non_null(strstr(vm_spool_read_error(sp), "ack file"));
	got_free(&g);
	vm_spool_close(sp, NULL, 0);

	/* opening again starts afresh */
	sp = open_ok(fx->dir, NULL);
	assert_int_equal(stats(sp).records_pending, 0);
	append_range(sp, 1, 2, 2);
	vm_spool_close(sp, NULL, 0);
}

/* A writer process killed at random points, batches of up to 64 KiB so
 * that a kill can stop a write half way: after each kill every record whose
 * commit returned is there, once, and intact. */
static void test_kill9_writer(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {.segment_size = 256 << 10, .sync = VM_SPOOL_SYNC_NONE};
	uint64_t acked = 0, next = 1;
	rng_state = 2024;
	vm_log_set_level(VM_LOG_ERR);
	for (int iter = 0; iter < 25; iter++) {
		int fds[2];
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			char err[512];
			struct vm_spool *sp = vm_spool_open(fx->dir, &o, err, sizeof err);
			if (!sp)
				_exit(1);
			uint64_t s = next;
			for (;;) {
				size_t batch = 1 + (size_t)(s % 300);
				for (size_t i = 0; i < batch; i++, s++) {
					uint8_t buf[256];
					fill(s, buf, len_for(s));
					if (vm_spool_append(sp, buf, len_for(s), NULL) != 0)
						_exit(2);
				}
				if (vm_spool_commit(sp) != 0)
					_exit(3);
				uint64_t last = s - 1;
				if (write(fds[1], &last, sizeof last) != sizeof last)
					_exit(4);
				nanosleep(&(struct timespec){0, 200000}, NULL); /* keep make check fast */
			}
		}
		close(fds[1]);
		nanosleep(&(struct timespec){0, (long)(5 + rnd() % 40) * 1000000}, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		assert_true(WIFSIGNALED(status));
		uint64_t v, committed = next - 1;
		while (read(fds[0], &v, sizeof v) == sizeof v)
			committed = v;
		close(fds[0]);

		struct vm_spool *sp = open_ok(fx->dir, &o);
		struct vm_spool_stats st = stats(sp);
		assert_int_equal(st.corrupt_bytes + st.quarantined_segments, 0);
		assert_true(st.last_seq >= committed);
		struct got g = {.check_len = true};
		read_all(sp, &g);
		assert_true(g.n >= committed - acked);
		for (size_t i = 0; i < g.n; i++)
			assert_int_equal(g.seq[i], acked + 1 + i);
		next = g.n ? g.seq[g.n - 1] + 1 : acked + 1;
		/* deliver all or a part, as a drainer would */
		if (g.n) {
			acked += rnd() % 2 ? g.n : rnd() % (g.n + 1);
			assert_int_equal(vm_spool_ack(sp, acked), 0);
		}
		got_free(&g);
		vm_spool_close(sp, NULL, 0);
	}
}

/* A process killed inside an acknowledgement of everything, at the point
 * VMETER_TEST_SPOOL_ACK_KILL marks (the older delivered segments removed,
 * the ack file not yet rewritten): the next open still finds the newest
 * record, so its sequence number is not handed out again.  (It was, when
 * the segment holding it went first: the collector's saved state and the
 * database's delivery mark count these numbers.) */
static void test_kill_in_ack(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {.segment_size = VM_SPOOL_SEGMENT_SIZE_MIN, .sync = VM_SPOOL_SYNC_NONE};
	char trigger[PATHLEN];
	pathf(trigger, sizeof trigger, "%s/kill", fx->base);
	struct vm_spool *sp = open_ok(fx->dir, &o);
	append_range(sp, 1, 30, 10);
	assert_int_equal(vm_spool_ack(sp, 30), 0); /* the ack file says 30 */
	append_range(sp, 31, 70, 10);
	uint64_t ids[16];
	assert_true(list_segs(fx->dir, "", ids, 16) >= 3);
	vm_spool_close(sp, NULL, 0);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("VMETER_TEST_SPOOL_ACK_KILL", trigger, 1);
		char err[512];
		struct vm_spool *c = vm_spool_open(fx->dir, &o, err, sizeof err);
		int fd = open(trigger, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (!c || fd < 0)
			_exit(1);
		close(fd);
		vm_spool_ack(c, 100);
		_exit(2); /* not killed */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(access(trigger, F_OK), -1);

	sp = open_ok(fx->dir, &o);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.last_seq, 100);
	assert_int_equal(st.acked_seq, 30);
	/* the older segments are gone; what is left is delivered again */
	struct got g = {.check_len = true};
	size_t n = read_all(sp, &g);
	assert_true(n >= 1 && n < 70);
	assert_seqs(&g, 100 - n + 1, 100);
	append_one(sp, 101, len_for(101));
	assert_int_equal(vm_spool_commit(sp), 0);
	assert_int_equal(vm_spool_ack(sp, 101), 0);
	vm_spool_close(sp, NULL, 0);

	/* an ack that finished: the same numbers, from the ack file alone */
	sp = open_ok(fx->dir, &o);
	st = stats(sp);
	assert_int_equal(st.segments, 0);
	assert_int_equal(st.last_seq, 101);
	append_one(sp, 102, len_for(102));
	got_free(&g);
	vm_spool_close(sp, NULL, 0);
}

/* A file system so full that the ack file cannot be rewritten while the
 * delivered segment holding the newest record stays: that segment goes
 * first after all, and the acknowledgement is stored. */
static void test_ack_full_newest_segment(void **state)
{
	struct fx *fx = *state;
	if (!mount_tmpfs(fx, "64k", 0))
		skip();
	struct vm_spool_opts o = {.segment_size = 1 << 20, .cap = 64 << 20, .max_record = 8192};
	struct vm_spool *sp = open_ok(fx->dir, &o);
	uint8_t buf[3000];
	uint64_t committed = 0, seq;
	for (;;) {
		fill(committed + 1, buf, sizeof buf);
		assert_int_equal(vm_spool_append(sp, buf, sizeof buf, &seq), 0);
		if (vm_spool_commit(sp) != 0)
			break;
		committed++;
	}
	uint64_t ids[4];
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 1);
	assert_int_equal(vm_spool_ack(sp, committed), 0);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.segments, 0);
	assert_int_equal(st.acked_seq, committed);
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 0);
	append_range(sp, committed + 1, 3, 3);
	vm_spool_close(sp, NULL, 0);

	sp = open_ok(fx->dir, &o);
	st = stats(sp);
	assert_int_equal(st.acked_seq, committed);
	assert_int_equal(st.last_seq, committed + 3);
	vm_spool_close(sp, NULL, 0);
}

/* ---------------------------------------------------------------- threads */

#define THREAD_RECORDS 20000

static void *writer_main(void *arg)
{
	struct vm_spool *sp = arg;
	uint64_t s = 1;
	unsigned seed = 5;
	while (s <= THREAD_RECORDS) {
		size_t batch = 1 + (size_t)(rand_r(&seed) % 40);
		for (size_t i = 0; i < batch && s <= THREAD_RECORDS; i++, s++) {
			uint8_t buf[256];
			fill(s, buf, len_for(s));
			uint64_t got;
			if (vm_spool_append(sp, buf, len_for(s), &got) != 0 || got != s)
				return (void *)1;
		}
		if (vm_spool_commit(sp) != 0)
			return (void *)2;
	}
	return NULL;
}

struct drain {
	struct vm_spool *sp;
	uint64_t next; /* the sequence expected next */
	bool bad;
	uint64_t max_pending_seen;
};

static int drain_cb(void *arg, const struct vm_spool_record *rec)
{
	struct drain *d = arg;
	if (rec->seq != d->next || rec->len != len_for(rec->seq) || !payload_ok(rec->seq, rec->payload, rec->len))
		d->bad = true;
	d->next = rec->seq + 1;
	return 0;
}

static void *drainer_main(void *arg)
{
	struct drain *d = arg;
	struct vm_spool_cursor c = {0};
	unsigned seed = 11;
	while (d->next <= THREAD_RECORDS && !d->bad) {
		int n = vm_spool_read(d->sp, &c, 1 + (size_t)(rand_r(&seed) % 100), 1 << 20, drain_cb, d);
		if (n < 0)
			return (void *)1;
		if (n == 0) {
			sched_yield();
			continue;
		}
		/* now and then the database "fails": read the batch again */
		if (rand_r(&seed) % 10 == 0) {
			vm_spool_cursor_rewind(&c);
			struct vm_spool_stats st;
			vm_spool_stats(d->sp, &st);
			d->next = st.acked_seq + 1;
			continue;
		}
		if (vm_spool_ack(d->sp, d->next - 1) != 0)
			return (void *)2;
	}
	return NULL;
}

static void test_writer_and_drainer(void **state)
{
	struct fx *fx = *state;
	struct vm_spool_opts o = {.segment_size = 8192, .sync = VM_SPOOL_SYNC_NONE};
	struct vm_spool *sp = open_ok(fx->dir, &o);
	struct drain d = {.sp = sp, .next = 1};
	pthread_t w, r;
	assert_int_equal(pthread_create(&w, NULL, writer_main, sp), 0);
	assert_int_equal(pthread_create(&r, NULL, drainer_main, &d), 0);
	/* stats from a third thread meanwhile */
	for (int i = 0; i < 200; i++) {
		struct vm_spool_stats st;
		vm_spool_stats(sp, &st);
		assert_true(st.records_pending <= THREAD_RECORDS);
		assert_true(st.acked_seq <= st.last_seq);
		sched_yield();
	}
	void *wr, *rr;
	pthread_join(w, &wr);
	pthread_join(r, &rr);
	assert_null(wr);
	assert_null(rr);
	assert_false(d.bad);
	assert_int_equal(d.next, THREAD_RECORDS + 1);
	assert_int_equal(vm_spool_ack(sp, THREAD_RECORDS), 0);
	struct vm_spool_stats st = stats(sp);
	assert_int_equal(st.records_pending, 0);
	assert_int_equal(st.segments, 0);
	assert_int_equal(st.bytes, 0);
	uint64_t ids[4];
	assert_int_equal(list_segs(fx->dir, "", ids, 4), 0);
	vm_spool_close(sp, NULL, 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_crc32c),
	    T(test_large_batch_written_ahead),
	    T(test_kill_in_large_commit),
	    T(test_large_batch_write_error),
	    T(test_large_batch_directory_removed),
	    T(test_open_rejects),
	    T(test_open_locked),
	    T(test_roundtrip),
	    T(test_zero_and_max_length),
	    T(test_uncommitted_lost_on_close),
	    T(test_restart_resumes_after_ack),
	    T(test_ack_edges),
	    T(test_callback_stops),
	    T(test_stats_oldest),
	    T(test_rollover_and_removal),
	    T(test_new_segment_per_open),
	    T(test_torn_tail_every_offset),
	    T(test_torn_segment_header),
	    T(test_bad_crc_at_tail),
	    T(test_corrupt_middle_record),
	    T(test_huge_length_field),
	    T(test_unfinished_commit_every_offset),
	    T(test_damage_in_last_commit),
	    T(test_kill_in_commit),
	    T(test_v1_segments),
	    T(test_garbage_between_records),
	    T(test_damage_in_earlier_segment),
	    T(test_bad_header_quarantined),
	    T(test_overlapping_segment_quarantined),
	    T(test_read_time_damage),
	    T(test_ack_file),
	    T(test_bit_flips),
	    T(test_random_files),
	    T(test_cap),
	    T(test_batch_full),
	    T(test_sync_policies),
	    T(test_unwritable_dir),
	    T(test_ack_not_stored),
	    T(test_delivered_removed_at_open),
	    T(test_full_filesystem),
	    T(test_write_error_cut_back),
	    T(test_directory_removed),
	    T(test_kill9_writer),
	    T(test_kill_in_ack),
	    T(test_ack_full_newest_segment),
	    T(test_writer_and_drainer),
	};
#undef T
	vm_log_open("test_spool", false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
