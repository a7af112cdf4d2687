/* The collector's saved state (collector/resume.h) written through a
 * bounded writer (lib/binio.h, a writer with a sink): round trips of
 * states far larger than the writer's buffer, the header's CRC and length
 * filled in after the state, damage found at load, and the failures of a
 * save (a file that cannot be created, a write that fails half-way with
 * RLIMIT_FSIZE) that leave the previous state in use. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binio.h"
#include "resume.h"
#include "xalloc.h"

struct fx {
	char dir[256];
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static int setup(void **state)
{
	struct fx *fx = vm_xcalloc(1, sizeof *fx);
	const char *tmp = getenv("TMPDIR");
	snprintf(fx->dir, sizeof fx->dir, "%s/vmeter-resume-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* A state of n bytes that says which save it is: byte i of save `tag`. */
struct gen {
	size_t n;
	uint8_t tag;
};

static uint8_t gen_byte(const struct gen *g, size_t i)
{
	return (uint8_t)(g->tag * 29 + i * 7 + i / 251);
}

/* Writes in uneven pieces (varints, strings, raw bytes) as the sampler does. */
static void gen_write(void *arg, struct vm_binw *w)
{
	const struct gen *g = arg;
	size_t i = 0;
	while (i < g->n) {
		size_t k = 1 + i % 300;
		if (k > g->n - i)
			k = g->n - i;
		uint8_t piece[300];
		for (size_t j = 0; j < k; j++)
			piece[j] = gen_byte(g, i + j);
		if (k == 1)
			vm_binw_u8(w, piece[0]);
		else
			vm_binw_bytes(w, piece, k);
		i += k;
	}
}

static void assert_state(void *state, size_t len, const struct gen *g)
{
	assert_int_equal(len, g->n);
	const uint8_t *p = state;
	for (size_t i = 0; i < len; i++)
		if (p[i] != gen_byte(g, i))
			fail_msg("byte %zu of the loaded state differs", i);
}

/* Loads for spool_seq; returns 1 and checks the state against g, or 0
 * with why in the buffer. */
static int load(const char *dir, uint64_t seq, const struct gen *g, char *why, size_t whysize)
{
	char err[256];
	struct col_resume *r = col_resume_open(dir, "host-a", false, err, sizeof err);
	assert_non_null(r);
	void *state = NULL;
	size_t len = 0;
	int64_t saved_at = 0, lost_since = 0;
	int rc = col_resume_load(r, seq, &state, &len, &saved_at, &lost_since, why, whysize);
	if (rc == 1) {
		assert_state(state, len, g);
		assert_int_equal(saved_at, 1000 + g->tag);
	}
	free(state);
	col_resume_free(r);
	return rc;
}

static char *slot_file(const char *dir, int slot, const char *suffix)
{
	return vm_xasprintf("%s/resume.%d%s", dir, slot, suffix);
}

/* ---------------------------------------------------------------- writer */

struct sink_log {
	uint8_t *p;
	size_t len, calls, largest;
	size_t fail_after; /* refuse from this call on, 0: never */
};

static int sink_keep(void *arg, const void *p, size_t n)
{
	struct sink_log *l = arg;
	l->calls++;
	if (l->fail_after && l->calls >= l->fail_after)
		return -1;
	l->p = vm_xrealloc(l->p, l->len + n);
	memcpy(l->p + l->len, p, n);
	l->len += n;
	if (n > l->largest)
		l->largest = n;
	return 0;
}

static void test_writer_sink(void **state)
{
	(void)state;
	/* the same bytes as a writer in memory, in pieces of at most the
	 * buffer's size (no single write here is larger), the buffer never
	 * larger than twice that */
	struct gen g = {.n = 100000, .tag = 3};
	struct vm_binw mem = {0}, w;
	gen_write(&g, &mem);
	struct sink_log l = {0};
	vm_binw_init_sink(&w, 4096, sink_keep, &l);
	gen_write(&g, &w);
	assert_true(w.cap <= 2 * 4096);
	assert_int_equal(vm_binw_flush(&w), 0);
	assert_int_equal(w.len, 0);
	assert_int_equal(w.sunk, mem.len);
	assert_int_equal(l.len, mem.len);
	assert_memory_equal(l.p, mem.p, mem.len);
	assert_true(l.largest <= 4096);
	assert_true(l.calls >= 100000 / 4096);
	/* an empty flush hands nothing on */
	size_t calls = l.calls;
	assert_int_equal(vm_binw_flush(&w), 0);
	assert_int_equal(l.calls, calls);
	vm_binw_release(&w);
	free(l.p);

	/* a refusal: what follows is dropped, the buffer stays bounded, and
	 * the flush says so however much is written after it */
	struct sink_log bad = {.fail_after = 3};
	vm_binw_init_sink(&w, 4096, sink_keep, &bad);
	gen_write(&g, &w);
	assert_true(w.failed);
	assert_true(w.cap <= 2 * 4096);
	assert_int_equal(bad.calls, 3);
	assert_int_equal(vm_binw_flush(&w), -1);
	assert_int_equal(vm_binw_flush(&w), -1);
	assert_int_equal(bad.len, w.sunk);
	vm_binw_release(&w);
	free(bad.p);

	/* without a sink: a flush does nothing */
	assert_int_equal(vm_binw_flush(&mem), 0);
	assert_int_equal(mem.len, 100000);
	vm_binw_release(&mem);
}

/* ---------------------------------------------------------------- state files */

static void test_round_trip_large(void **state)
{
	struct fx *fx = *state;
	char err[256], why[512];
	struct col_resume *r = col_resume_open(fx->dir, "host-a", true, err, sizeof err);
	assert_non_null(r);
	/* several times the writer's buffer, an empty state, a small one */
	struct gen big = {.n = 3u << 20, .tag = 1}, empty = {.n = 0, .tag = 2}, small = {.n = 77, .tag = 4};
	assert_int_equal(col_resume_save(r, 10, 1000 + big.tag, gen_write, &big, err, sizeof err), 0);
	assert_int_equal(load(fx->dir, 10, &big, why, sizeof why), 1);
	assert_int_equal(col_resume_save(r, 11, 1000 + empty.tag, gen_write, &empty, err, sizeof err), 0);
	assert_int_equal(load(fx->dir, 11, &empty, why, sizeof why), 1);
	/* the older save is still there for the spool it matches */
	assert_int_equal(load(fx->dir, 10, &big, why, sizeof why), 1);
	/* a smaller state over a larger one: the file is cut to it */
	assert_int_equal(col_resume_save(r, 12, 1000 + small.tag, gen_write, &small, err, sizeof err), 0);
	assert_int_equal(load(fx->dir, 12, &small, why, sizeof why), 1);
	col_resume_free(r);
	char *p = slot_file(fx->dir, 0, "");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_true(st.st_size < 200);
	free(p);
}

static void test_damage_found(void **state)
{
	struct fx *fx = *state;
	char err[256], why[512];
	struct col_resume *r = col_resume_open(fx->dir, "host-a", false, err, sizeof err);
	struct gen g = {.n = 200000, .tag = 5};
	assert_int_equal(col_resume_save(r, 7, 1000 + g.tag, gen_write, &g, err, sizeof err), 0);
	col_resume_free(r);
	char *p = slot_file(fx->dir, 0, "");
	/* a bit flipped far into the state, past the first buffer's worth */
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, 150000), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, 150000), 1);
	assert_int_equal(load(fx->dir, 7, &g, why, sizeof why), 0);
	assert_non_null(strstr(why, "damaged (checksum)"));
	/* flipped back, it loads again: the CRC covers what was written */
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, 150000), 1);
	assert_int_equal(load(fx->dir, 7, &g, why, sizeof why), 1);
	/* one byte more at the end: the header's length no longer matches */
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(pwrite(fd, "x", 1, st.st_size), 1);
	close(fd);
	assert_int_equal(load(fx->dir, 7, &g, why, sizeof why), 0);
	assert_non_null(strstr(why, "damaged"));
	free(p);
}

static void test_save_cannot_create(void **state)
{
	struct fx *fx = *state;
	char err[256], why[512];
	struct col_resume *r = col_resume_open(fx->dir, "host-a", false, err, sizeof err);
	struct gen g1 = {.n = 5000, .tag = 6}, g2 = {.n = 5000, .tag = 7};
	assert_int_equal(col_resume_save(r, 1, 1000 + g1.tag, gen_write, &g1, err, sizeof err), 0);
	/* the next save's temporary file cannot be created */
	char *tmp = slot_file(fx->dir, 1, ".tmp");
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(col_resume_save(r, 2, 1000 + g2.tag, gen_write, &g2, err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot write"));
	assert_non_null(strstr(err, tmp));
	assert_int_equal(load(fx->dir, 1, &g1, why, sizeof why), 1);
	assert_int_equal(load(fx->dir, 2, &g2, why, sizeof why), 0);
	/* once it can, the same slot is written */
	assert_int_equal(rmdir(tmp), 0);
	assert_int_equal(col_resume_save(r, 2, 1000 + g2.tag, gen_write, &g2, err, sizeof err), 0);
	assert_int_equal(load(fx->dir, 2, &g2, why, sizeof why), 1);
	col_resume_free(r);
	free(tmp);
}

static void test_save_fails_half_way(void **state)
{
	struct fx *fx = *state;
	char err[256], why[512];
	struct col_resume *r = col_resume_open(fx->dir, "host-a", false, err, sizeof err);
	struct gen g1 = {.n = 1000, .tag = 8}, g2 = {.n = 1u << 20, .tag = 9};
	assert_int_equal(col_resume_save(r, 1, 1000 + g1.tag, gen_write, &g1, err, sizeof err), 0);
	/* files may grow to 300 KB: the state's first buffers are written,
	 * then EFBIG */
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigaction(SIGXFSZ, &ign, &old);
	struct rlimit rl, lim;
	getrlimit(RLIMIT_FSIZE, &rl);
	lim = rl;
	lim.rlim_cur = 300000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int rc = col_resume_save(r, 2, 1000 + g2.tag, gen_write, &g2, err, sizeof err);
	setrlimit(RLIMIT_FSIZE, &rl);
	sigaction(SIGXFSZ, &old, NULL);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "cannot write"));
	assert_non_null(strstr(err, strerror(EFBIG)));
	/* nothing half-written is left, and the previous save still counts */
	char *tmp = slot_file(fx->dir, 1, ".tmp");
	assert_int_equal(access(tmp, F_OK), -1);
	free(tmp);
	assert_int_equal(load(fx->dir, 1, &g1, why, sizeof why), 1);
	assert_int_equal(load(fx->dir, 2, &g2, why, sizeof why), 0);
	assert_non_null(strstr(why, "does not match the spool"));
	/* the next save goes where this one failed */
	assert_int_equal(col_resume_save(r, 2, 1000 + g2.tag, gen_write, &g2, err, sizeof err), 0);
	assert_int_equal(load(fx->dir, 2, &g2, why, sizeof why), 1);
	col_resume_free(r);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_writer_sink), T(test_round_trip_large),    T(test_damage_found),
	    T(test_save_cannot_create),         T(test_save_fails_half_way),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
