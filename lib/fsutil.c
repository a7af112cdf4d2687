#include "config.h"

#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xalloc.h"

int vm_mkdir_p(const char *path, mode_t mode)
{
	char *p = vm_xstrdup(path);
	int ret = -1;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			goto out;
		*s = c;
		if (c == '\0')
			break;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		goto out;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto out;
	}
	ret = 0;
out:
	free(p);
	return ret;
}

gid_t vm_shared_gid(void)
{
	/* getgrnam_r: the collector's threads may look up names too. */
	char buf[4096];
	struct group gr, *res = NULL;
	/* Tests name a group that exists on any machine. */
	const char *name = getenv("VMETER_TEST_SHARED_GROUP");
	if (!name || !*name)
		name = VM_SHARED_GROUP;
	if (getgrnam_r(name, &gr, buf, sizeof buf, &res) != 0 || !res)
		return (gid_t)-1;
	return gr.gr_gid;
}

int vm_mkdir_shared(const char *path)
{
	struct stat st;
	bool existed = stat(path, &st) == 0;
	if (vm_mkdir_p(path, 0750) < 0)
		return -1;
	gid_t gid = vm_shared_gid();
	if (existed || gid == (gid_t)-1)
		return 0;
	/* Not fatal: without the group the files are the owner's alone,
	 * which is safe, only less convenient for readers in the group. */
	if (chown(path, (uid_t)-1, gid) == 0)
		chmod(path, 02750);
	return 0;
}

char *vm_read_file(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		buf = vm_xgrow(buf, &cap, n + 4097, 1);
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || n + (size_t)r > max) {
			int e = r < 0 ? errno : EFBIG;
			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* write() from the file position when off < 0, else pwrite() at off:
 * until all n bytes are out, retrying EINTR; a write of 0 is EIO. */
static int write_loop(int fd, const void *p, size_t n, off_t off)
{
	const unsigned char *c = p;
	while (n) {
		ssize_t w = off < 0 ? write(fd, c, n) : pwrite(fd, c, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		c += w;
		n -= (size_t)w;
		if (off >= 0)
			off += w;
	}
	return 0;
}

int vm_write_all(int fd, const void *p, size_t n)
{
	return write_loop(fd, p, n, -1);
}

int vm_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	return off < 0 ? (errno = EINVAL, -1) : write_loop(fd, p, n, off);
}
