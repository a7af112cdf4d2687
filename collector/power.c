#include "config.h"

#include "power.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

/* root (powercap-root: 1024 bytes at most), a zone, a file name. */
#define PATH_LEN 1100

struct col_power {
	char *root;
	/* The last outcome logged, so that each change is logged once:
	 * -2 none yet, else a COL_POWER_* value. */
	int logged;
	char failed_path[PATH_LEN]; /* with COL_POWER_FAILED: the file and errno logged */
	int failed_errno;
};

struct col_power *col_power_new(const char *root)
{
	struct col_power *p = vm_xcalloc(1, sizeof *p);
	p->root = vm_xstrdup(root ? root : COL_POWER_DEFAULT_ROOT);
	p->logged = -2;
	return p;
}

void col_power_free(struct col_power *p)
{
	if (!p)
		return;
	free(p->root);
	free(p);
}

/* "intel-rapl:N", N decimal digits, nothing after: a top-level zone. */
static bool top_level_zone(const char *name)
{
	static const char prefix[] = "intel-rapl:";
	if (strncmp(name, prefix, sizeof prefix - 1) != 0)
		return false;
	const char *d = name + sizeof prefix - 1;
	if (!*d)
		return false;
	for (; *d; d++)
		if (*d < '0' || *d > '9')
			return false;
	return true;
}

/* Reads a small sysfs file into buf (NUL-terminated, trailing newline
 * cut).  0, or -1 with errno set. */
static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (n < 0) {
		errno = e;
		return -1;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/* A decimal counter file.  0, or -1 with errno set (EINVAL: not a number). */
static int read_u64(const char *path, uint64_t *v)
{
	char buf[32];
	if (read_small(path, buf, sizeof buf) < 0)
		return -1;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(buf, &end, 10);
	if (!buf[0] || *end || errno || buf[0] == '-') {
		errno = EINVAL;
		return -1;
	}
	*v = x;
	return 0;
}

static int cmp_zone(const void *a, const void *b)
{
	return strcmp(((const struct col_power_zone *)a)->dir, ((const struct col_power_zone *)b)->dir);
}

static void log_absent(struct col_power *p, const char *why)
{
	if (p->logged != COL_POWER_ABSENT)
		vm_info("power: %s under %s: the host's energy is not measured", why, p->root);
	p->logged = COL_POWER_ABSENT;
}

static void log_failed(struct col_power *p, const char *path, int err)
{
	if (p->logged == COL_POWER_FAILED && p->failed_errno == err && strcmp(p->failed_path, path) == 0)
		return;
	vm_err("power: cannot read %s: %s%s; the host's energy is not measured until it can be read", path,
	       err == EINVAL ? "not a counter" : strerror(err),
	       err == EACCES || err == EPERM
	           ? " (since Linux 5.10 energy_uj is readable by root only: see \"Host energy\" in "
	             "docs/ARCHITECTURE.md for a tmpfiles rule)"
	           : "");
	p->logged = COL_POWER_FAILED;
	snprintf(p->failed_path, sizeof p->failed_path, "%s", path);
	p->failed_errno = err;
}

int col_power_read(struct col_power *p, struct col_power_sample *out)
{
	out->n = 0;
	DIR *d = opendir(p->root);
	if (!d) {
		log_absent(p, errno == ENOENT ? "no powercap directory" : "no readable powercap directory");
		return COL_POWER_ABSENT;
	}
	/* Every top-level zone with its name, then the choice. */
	struct {
		char dir[32];
		bool psys;
	} found[COL_POWER_MAX_ZONES];
	size_t n = 0, n_psys = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < COL_POWER_MAX_ZONES) {
		if (!top_level_zone(e->d_name) || strlen(e->d_name) >= sizeof found[n].dir)
			continue;
		char path[PATH_LEN], name[64];
		snprintf(path, sizeof path, "%s/%s/name", p->root, e->d_name);
		if (read_small(path, name, sizeof name) < 0)
			continue; /* not a zone (yet): the name is world-readable */
		bool psys = strcmp(name, "psys") == 0;
		if (!psys && strncmp(name, "package-", 8) != 0)
			continue;
		memcpy(found[n].dir, e->d_name, strlen(e->d_name) + 1); /* length checked above */
		found[n].psys = psys;
		n_psys += psys;
		n++;
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		/* psys includes the packages: with it, it alone. */
		if (n_psys && !found[i].psys)
			continue;
		struct col_power_zone *z = &out->zone[out->n++];
		_Static_assert(sizeof z->dir == sizeof found[i].dir, "zone names copied whole");
		memcpy(z->dir, found[i].dir, sizeof z->dir);
	}
	if (!out->n) {
		log_absent(p, "no RAPL package or psys zone");
		return COL_POWER_ABSENT;
	}
	qsort(out->zone, out->n, sizeof *out->zone, cmp_zone);
	for (size_t i = 0; i < out->n; i++) {
		struct col_power_zone *z = &out->zone[i];
		char path[PATH_LEN];
		snprintf(path, sizeof path, "%s/%s/max_energy_range_uj", p->root, z->dir);
		int rc = read_u64(path, &z->max_range_uj);
		if (rc == 0) {
			snprintf(path, sizeof path, "%s/%s/energy_uj", p->root, z->dir);
			rc = read_u64(path, &z->energy_uj);
		}
		if (rc < 0) {
			log_failed(p, path, errno);
			out->n = 0;
			return COL_POWER_FAILED;
		}
	}
	if (p->logged != COL_POWER_OK) {
		char names[COL_POWER_MAX_ZONES * 33] = "";
		for (size_t i = 0, len = 0; i < out->n && len < sizeof names; i++)
			len +=
			    (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", out->zone[i].dir);
		vm_notice("power: measuring the host's energy from RAPL under %s (%s%s)", p->root, names,
		          n_psys ? ": psys, the platform" : ": the packages");
	}
	p->logged = COL_POWER_OK;
	return COL_POWER_OK;
}

int col_power_delta(const struct col_power_sample *prev, const struct col_power_sample *cur, uint64_t *delta_uj,
                    char *why, size_t whysize)
{
	*delta_uj = 0;
	bool same = prev->n == cur->n;
	for (size_t i = 0; same && i < cur->n; i++)
		same = strcmp(prev->zone[i].dir, cur->zone[i].dir) == 0;
	if (!same || !cur->n) {
		snprintf(why, whysize, "the RAPL zones changed (%zu zones, %zu before)", cur->n, prev->n);
		return -1;
	}
	uint64_t sum = 0;
	for (size_t i = 0; i < cur->n; i++) {
		const struct col_power_zone *a = &prev->zone[i], *b = &cur->zone[i];
		uint64_t range = b->max_range_uj, d;
		if (range != a->max_range_uj || b->energy_uj > range || a->energy_uj > range) {
			snprintf(why, whysize, "%s: its counter's range changed, or a value is beyond it", b->dir);
			return -1;
		}
		if (b->energy_uj >= a->energy_uj)
			d = b->energy_uj - a->energy_uj;
		else
			d = range - a->energy_uj + b->energy_uj + 1; /* one wrap: see power.h */
		if (d > range / 2) {
			snprintf(why, whysize,
			         "%s: its counter moved by %llu uJ, more than half its range (%llu uJ): reset", b->dir,
			         (unsigned long long)d, (unsigned long long)range);
			return -1;
		}
		sum += d;
	}
	*delta_uj = sum;
	return 0;
}
