#include "config.h"

#include "resume.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binio.h"
#include "fsutil.h"
#include "spool.h"
#include "xalloc.h"

#define MAGIC "VMRESUME"
#define STATE_VERSION 1
#define FIXED 40 /* magic, version, crc, generation, sequence, time */
/* A state is ~1 KiB a VM: far below this for any host. */
#define MAX_STATE (512u << 20)

struct col_resume {
	char *dir, *host;
	bool sync;
	uint64_t gen;  /* of the next save */
	int next_slot; /* file of the next save */
};

struct slot {
	bool present, valid;
	char why[160];
	uint64_t gen, seq;
	int64_t saved_at;
	uint8_t *state;
	size_t len;
};

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

struct col_resume *col_resume_open(const char *dir, const char *host, bool sync, char *err, size_t errsize)
{
	if (vm_mkdir_p(dir, 0750) < 0) {
		snprintf(err, errsize, "cannot create '%s': %s", dir, strerror(errno));
		return NULL;
	}
	struct col_resume *r = vm_xcalloc(1, sizeof *r);
	r->dir = vm_xstrdup(dir);
	r->host = vm_xstrdup(host);
	r->sync = sync;
	r->gen = 1;
	return r;
}

void col_resume_free(struct col_resume *r)
{
	if (!r)
		return;
	free(r->dir);
	free(r->host);
	free(r);
}

static char *slot_path(const struct col_resume *r, int slot)
{
	return vm_xasprintf("%s/resume.%d", r->dir, slot);
}

/* Reads and checks one file; the state stays in s->state (owned). */
static void slot_read(const struct col_resume *r, int slot, struct slot *s)
{
	memset(s, 0, sizeof *s);
	char *path = slot_path(r, slot);
	uint8_t *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0) {
		if (errno != ENOENT)
			snprintf(s->why, sizeof s->why, "'%s': %s", path, strerror(errno));
		else
			snprintf(s->why, sizeof s->why, "no '%s'", path);
		s->present = errno != ENOENT;
		goto out;
	}
	s->present = true;
	if (fstat(fd, &st) < 0 || st.st_size < FIXED + 12 || (uint64_t)st.st_size > MAX_STATE + FIXED + 300) {
		snprintf(s->why, sizeof s->why, "'%s': bad size", path);
		goto out;
	}
	size_t size = (size_t)st.st_size;
	buf = vm_xmalloc(size);
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n <= 0) {
			snprintf(s->why, sizeof s->why, "'%s': %s", path, n < 0 ? strerror(errno) : "short read");
			goto out;
		}
		got += (size_t)n;
	}
	if (memcmp(buf, MAGIC, 8) != 0 || get_le(buf + 8, 4) != STATE_VERSION) {
		snprintf(s->why, sizeof s->why, "'%s': not a vmeter state file of version %d", path, STATE_VERSION);
		goto out;
	}
	/* The header's numbers are worth knowing even when the rest is
	 * damaged: they say since when the state is lost. */
	s->gen = get_le(buf + 16, 8);
	s->seq = get_le(buf + 24, 8);
	s->saved_at = (int64_t)get_le(buf + 32, 8);
	if ((uint32_t)get_le(buf + 12, 4) != vm_spool_crc32c(0, buf + 16, size - 16)) {
		snprintf(s->why, sizeof s->why, "'%s': damaged (checksum)", path);
		goto out;
	}
	size_t hl = (size_t)get_le(buf + FIXED, 4);
	if (hl > 255 || FIXED + 4 + hl + 8 > size) {
		snprintf(s->why, sizeof s->why, "'%s': damaged (host name)", path);
		goto out;
	}
	if (hl != strlen(r->host) || memcmp(buf + FIXED + 4, r->host, hl) != 0) {
		snprintf(s->why, sizeof s->why, "'%s' is the state of host '%.*s', not '%s'", path, (int)hl,
		         (const char *)buf + FIXED + 4, r->host);
		s->saved_at = 0; /* not this host's loss */
		goto out;
	}
	size_t off = FIXED + 4 + hl;
	uint64_t len = get_le(buf + off, 8);
	off += 8;
	if (len != size - off) {
		snprintf(s->why, sizeof s->why, "'%s': damaged (length)", path);
		goto out;
	}
	s->state = vm_xmalloc(len ? (size_t)len : 1);
	memcpy(s->state, buf + off, (size_t)len);
	s->len = (size_t)len;
	s->valid = true;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
}

int col_resume_load(struct col_resume *r, uint64_t spool_seq, void **state, size_t *len, int64_t *saved_at,
                    int64_t *lost_since, char *why, size_t whysize)
{
	struct slot s[2];
	slot_read(r, 0, &s[0]);
	slot_read(r, 1, &s[1]);
	int pick = -1;
	uint64_t max_gen = 0;
	*lost_since = 0;
	for (int i = 0; i < 2; i++) {
		if (s[i].gen > max_gen)
			max_gen = s[i].gen;
		if (s[i].saved_at > *lost_since)
			*lost_since = s[i].saved_at;
		if (s[i].valid && s[i].seq == spool_seq && (pick < 0 || s[i].gen > s[pick].gen))
			pick = i;
	}
	r->gen = max_gen + 1;
	int rc = 0;
	if (pick >= 0) {
		*state = s[pick].state;
		*len = s[pick].len;
		*saved_at = s[pick].saved_at;
		s[pick].state = NULL;
		/* The next save must not replace the state that matches the
		 * spool: it goes to the other file. */
		r->next_slot = 1 - pick;
		rc = 1;
	} else {
		r->next_slot = s[0].gen <= s[1].gen ? 0 : 1;
		if (!s[0].present && !s[1].present)
			snprintf(why, whysize, "no saved state in '%s'", r->dir);
		else if (s[0].valid || s[1].valid)
			snprintf(why, whysize,
			         "the saved state does not match the spool (state for record %llu, spool at %llu)",
			         (unsigned long long)(s[0].valid && (!s[1].valid || s[0].gen > s[1].gen) ? s[0].seq
			                                                                                 : s[1].seq),
			         (unsigned long long)spool_seq);
		else
			snprintf(why, whysize, "%s; %s", s[0].why, s[1].why);
	}
	free(s[0].state);
	free(s[1].state);
	return rc;
}

/* The writer's sink: the state's bytes to the file, and into its CRC. */
struct state_out {
	int fd;
	uint32_t crc;
	int err; /* errno of the failed write, 0 if none */
};

static int state_write(void *arg, const void *p, size_t n)
{
	struct state_out *o = arg;
	if (vm_write_all(o->fd, p, n) < 0) {
		o->err = errno ? errno : EIO;
		return -1;
	}
	o->crc = vm_spool_crc32c(o->crc, p, n);
	return 0;
}

/* The state goes to the file through a writer of this many bytes: about 60
 * VMs' worth, where holding the whole state took ~700 bytes a VM (issue 17). */
#define STATE_BUF (64u << 10)

int col_resume_save(struct col_resume *r, uint64_t spool_seq, int64_t now_ns, col_resume_state_cb write_state,
                    void *arg, char *err, size_t errsize)
{
	size_t hl = strlen(r->host);
	uint8_t head[FIXED + 4 + 256 + 8];
	memcpy(head, MAGIC, 8);
	put_le(head + 8, STATE_VERSION, 4);
	put_le(head + 16, r->gen, 8);
	put_le(head + 24, spool_seq, 8);
	put_le(head + 32, (uint64_t)now_ns, 8);
	put_le(head + FIXED, hl, 4);
	memcpy(head + FIXED + 4, r->host, hl);
	size_t head_len = FIXED + 4 + hl + 8;

	char *path = slot_path(r, r->next_slot);
	char *tmp = vm_xasprintf("%s.tmp", path);
	int rc = -1;
	struct vm_binw w;
	struct state_out o = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)};
	vm_binw_init_sink(&w, STATE_BUF, state_write, &o);
	if (o.fd < 0) {
		snprintf(err, errsize, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	/* The header's length and CRC are known only once the state is
	 * written: it goes first with room for them, and again at the end. */
	if (lseek(o.fd, (off_t)head_len, SEEK_SET) < 0) {
		snprintf(err, errsize, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	write_state(arg, &w);
	if (vm_binw_flush(&w) < 0) {
		snprintf(err, errsize, "cannot write '%s': %s", tmp, strerror(o.err));
		goto out;
	}
	put_le(head + FIXED + 4 + hl, w.sunk, 8);
	uint32_t crc = vm_spool_crc32c_combine(vm_spool_crc32c(0, head + 16, head_len - 16), o.crc, w.sunk);
	put_le(head + 12, crc, 4);
	if (vm_pwrite_all(o.fd, head, head_len, 0) < 0 || (r->sync && fdatasync(o.fd) < 0)) {
		snprintf(err, errsize, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	int fd = o.fd;
	o.fd = -1;
	if (close(fd) < 0) {
		snprintf(err, errsize, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		snprintf(err, errsize, "cannot rename '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (r->sync) {
		int dfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	r->gen++;
	r->next_slot = 1 - r->next_slot;
	rc = 0;
out:
	if (o.fd >= 0)
		close(o.fd);
	if (rc < 0)
		unlink(tmp);
	vm_binw_release(&w);
	free(tmp);
	free(path);
	return rc;
}
