/* collector/power.c against fake powercap trees in a temporary directory:
 * the same files and names the kernel shows, so the reader does exactly
 * what it does on a host.  What it logs is read back from stderr. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "power.h"

static char root[256];
static char logpath[300];
static int saved_stderr = -1;

#define RANGE UINT64_C(262143328850) /* a real package's max_energy_range_uj */

static void put(const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A zone directory with its name, counter and range. */
static void zone(const char *dir, const char *name, uint64_t energy, uint64_t range)
{
	char path[512], buf[64];
	snprintf(path, sizeof path, "%s/%s", root, dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/name", dir);
	snprintf(buf, sizeof buf, "%s\n", name);
	put(path, buf);
	snprintf(path, sizeof path, "%s/energy_uj", dir);
	snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)energy);
	put(path, buf);
	snprintf(path, sizeof path, "%s/max_energy_range_uj", dir);
	snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)range);
	put(path, buf);
}

static void set_energy(const char *dir, uint64_t energy)
{
	char path[512], buf[32];
	snprintf(path, sizeof path, "%s/energy_uj", dir);
	snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)energy);
	put(path, buf);
}

/* What was logged since the last call. */
static char *logged(void)
{
	static char buf[8192];
	fflush(stderr);
	FILE *f = fopen(logpath, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_int_equal(truncate(logpath, 0), 0);
	return buf;
}

static int setup(void **state)
{
	snprintf(root, sizeof root, "%s/vmeter-power.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(root));
	snprintf(logpath, sizeof logpath, "%s.log", root);
	fflush(stderr);
	saved_stderr = dup(2);
	int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	assert_true(fd >= 0);
	dup2(fd, 2);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	/* A failed assertion's message went to the log: pass it on. */
	const char *rest = logged();
	fflush(stderr);
	dup2(saved_stderr, 2);
	fputs(rest, stderr);
	close(saved_stderr);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", root, logpath);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void test_packages_summed_subzones_ignored(void **state)
{
	zone("intel-rapl:0", "package-0", 1000, RANGE);
	zone("intel-rapl:1", "package-1", 2000, RANGE);
	/* Parts of package 0, and package 0 again through MMIO: never added. */
	zone("intel-rapl:0:0", "core", 500, RANGE);
	zone("intel-rapl:0:1", "dram", 300, RANGE);
	zone("intel-rapl-mmio:0", "package-0", 1000, RANGE);
	zone("intel-rapl:2", "dram", 77, RANGE);                          /* not a package or psys */
	mkdir(strcat(strcpy((char[512]){0}, root), "/intel-rapl"), 0755); /* the control type */

	struct col_power *p = col_power_new(root);
	struct col_power_sample a, b;
	assert_int_equal(col_power_read(p, &a), COL_POWER_OK);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.zone[0].dir, "intel-rapl:0");
	assert_string_equal(a.zone[1].dir, "intel-rapl:1");
	assert_int_equal(a.zone[0].energy_uj, 1000);
	assert_int_equal(a.zone[1].max_range_uj, RANGE);
	assert_non_null(strstr(logged(), "measuring the host's energy from RAPL"));

	set_energy("intel-rapl:0", 1500);
	set_energy("intel-rapl:1", 2700);
	set_energy("intel-rapl:0:0", 99999); /* a subzone moving changes nothing */
	assert_int_equal(col_power_read(p, &b), COL_POWER_OK);
	uint64_t d = 1;
	char why[256] = "";
	assert_int_equal(col_power_delta(&a, &b, &d, why, sizeof why), 0);
	assert_int_equal(d, 500 + 700);
	assert_string_equal(logged(), ""); /* the same state: nothing more */
	col_power_free(p);
}

static void test_psys_alone(void **state)
{
	zone("intel-rapl:0", "package-0", 1000, RANGE);
	zone("intel-rapl:1", "psys", 40000, RANGE);
	zone("intel-rapl:0:0", "core", 500, RANGE);
	struct col_power *p = col_power_new(root);
	struct col_power_sample a, b;
	assert_int_equal(col_power_read(p, &a), COL_POWER_OK);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.zone[0].dir, "intel-rapl:1");
	assert_non_null(strstr(logged(), "psys"));
	set_energy("intel-rapl:0", 9000);
	set_energy("intel-rapl:1", 41234);
	assert_int_equal(col_power_read(p, &b), COL_POWER_OK);
	uint64_t d;
	char why[256];
	assert_int_equal(col_power_delta(&a, &b, &d, why, sizeof why), 0);
	assert_int_equal(d, 1234);
	col_power_free(p);
}

/* A counter that went down wrapped once: from range to 0 is one step. */
static void test_wrap(void **state)
{
	const uint64_t range = 1000000;
	zone("intel-rapl:0", "package-0", range - 100, range);
	struct col_power *p = col_power_new(root);
	struct col_power_sample a, b, c;
	assert_int_equal(col_power_read(p, &a), COL_POWER_OK);
	set_energy("intel-rapl:0", 49);
	assert_int_equal(col_power_read(p, &b), COL_POWER_OK);
	uint64_t d;
	char why[256];
	assert_int_equal(col_power_delta(&a, &b, &d, why, sizeof why), 0);
	assert_int_equal(d, 100 + 49 + 1);
	/* Exactly at the top, then 0: one microjoule. */
	set_energy("intel-rapl:0", range);
	assert_int_equal(col_power_read(p, &b), COL_POWER_OK);
	set_energy("intel-rapl:0", 0);
	assert_int_equal(col_power_read(p, &c), COL_POWER_OK);
	assert_int_equal(col_power_delta(&b, &c, &d, why, sizeof why), 0);
	assert_int_equal(d, 1);
	/* Half the range in one interval is still a delta; more is not. */
	b.zone[0].energy_uj = 0;
	c.zone[0].energy_uj = range / 2;
	assert_int_equal(col_power_delta(&b, &c, &d, why, sizeof why), 0);
	assert_int_equal(d, range / 2);
	c.zone[0].energy_uj = range / 2 + 1;
	assert_int_equal(col_power_delta(&b, &c, &d, why, sizeof why), -1);
	assert_int_equal(d, 0);
	col_power_free(p);
}

static void test_reset(void **state)
{
	const uint64_t range = 1000000;
	zone("intel-rapl:0", "package-0", 900000, range);
	struct col_power *p = col_power_new(root);
	struct col_power_sample a, b;
	assert_int_equal(col_power_read(p, &a), COL_POWER_OK);
	/* Went back by far less than a wrap would: reset to a small value,
	 * which as a wrap would be 500001 uJ, beyond half the range. */
	set_energy("intel-rapl:0", 400000);
	assert_int_equal(col_power_read(p, &b), COL_POWER_OK);
	uint64_t d = 5;
	char why[256] = "";
	assert_int_equal(col_power_delta(&a, &b, &d, why, sizeof why), -1);
	assert_int_equal(d, 0);
	assert_non_null(strstr(why, "intel-rapl:0"));
	assert_non_null(strstr(why, "reset"));
	/* A forward jump beyond half the range: the same. */
	b.zone[0].energy_uj = a.zone[0].energy_uj;
	a.zone[0].energy_uj = 0;
	assert_int_equal(col_power_delta(&a, &b, &d, why, sizeof why), -1);
	/* A counter beyond its range, a range that changed. */
	a = b;
	b.zone[0].energy_uj = range + 1;
	assert_int_equal(col_power_delta(&a, &b, &d, why, sizeof why), -1);
	b = a;
	b.zone[0].max_range_uj = range * 2;
	assert_int_equal(col_power_delta(&a, &b, &d, why, sizeof why), -1);

	/* A zone that appeared (or went): no delta for the interval. */
	zone("intel-rapl:1", "package-1", 5, range);
	assert_int_equal(col_power_read(p, &b), COL_POWER_OK);
	assert_int_equal(b.n, 2);
	assert_int_equal(col_power_delta(&a, &b, &d, why, sizeof why), -1);
	assert_non_null(strstr(why, "zones changed"));
	assert_int_equal(col_power_delta(&b, &a, &d, why, sizeof why), -1);
	/* psys appearing replaces the packages: a change of zones too. */
	zone("intel-rapl:2", "psys", 5, range);
	assert_int_equal(col_power_read(p, &a), COL_POWER_OK);
	assert_int_equal(a.n, 1);
	assert_int_equal(col_power_delta(&b, &a, &d, why, sizeof why), -1);
	col_power_free(p);
}

/* energy_uj of one package unreadable (root-only since Linux 5.10): no
 * sample at all, one error naming the file and errno, until it reads. */
static void test_unreadable(void **state)
{
	zone("intel-rapl:0", "package-0", 1000, RANGE);
	zone("intel-rapl:1", "package-1", 2000, RANGE);
	struct col_power *p = col_power_new(root);
	struct col_power_sample a;
	assert_int_equal(col_power_read(p, &a), COL_POWER_OK);
	logged();

	/* Root reads any file whatever its mode: a directory in the file's
	 * place fails for everyone (EISDIR), the same path through the code. */
	char path[512];
	snprintf(path, sizeof path, "%s/intel-rapl:1/energy_uj", root);
	bool as_root = geteuid() == 0;
	if (as_root) {
		assert_int_equal(unlink(path), 0);
		assert_int_equal(mkdir(path, 0755), 0);
	} else {
		assert_int_equal(chmod(path, 0), 0);
	}
	a.n = 7;
	assert_int_equal(col_power_read(p, &a), COL_POWER_FAILED);
	assert_int_equal(a.n, 0);
	const char *log = logged();
	assert_non_null(strstr(log, "[err]"));
	assert_non_null(strstr(log, path));
	assert_non_null(strstr(log, strerror(as_root ? EISDIR : EACCES)));
	if (as_root) {
		/* And as a user without the right, the kernel's case. */
		assert_int_equal(rmdir(path), 0);
		set_energy("intel-rapl:1", 2000);
		assert_int_equal(chmod(path, 0400), 0);
		assert_int_equal(chmod(root, 0755), 0);
		fflush(stderr);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct col_power_sample c;
			int ok = setgid(65534) == 0 && setuid(65534) == 0 && col_power_read(p, &c) == COL_POWER_FAILED;
			fflush(stderr);
			_exit(ok ? 0 : 1);
		}
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		log = logged();
		assert_non_null(strstr(log, path));
		assert_non_null(strstr(log, strerror(EACCES)));
		assert_non_null(strstr(log, "root only"));
		assert_int_equal(chmod(path, 0644), 0);
		assert_int_equal(unlink(path), 0);
		assert_int_equal(mkdir(path, 0755), 0);
	} else {
		assert_non_null(strstr(log, "root only"));
	}
	/* Once while it lasts. */
	assert_int_equal(col_power_read(p, &a), COL_POWER_FAILED);
	assert_string_equal(logged(), "");

	if (as_root) {
		assert_int_equal(rmdir(path), 0);
		set_energy("intel-rapl:1", 2500);
	} else {
		assert_int_equal(chmod(path, 0644), 0);
	}
	assert_int_equal(col_power_read(p, &a), COL_POWER_OK);
	assert_int_equal(a.n, 2);
	assert_non_null(strstr(logged(), "measuring"));

	/* Not a number: a failure too, never a zero. */
	put("intel-rapl:0/energy_uj", "garbage\n");
	assert_int_equal(col_power_read(p, &a), COL_POWER_FAILED);
	assert_non_null(strstr(logged(), "not a counter"));
	put("intel-rapl:0/energy_uj", "-5\n");
	assert_int_equal(col_power_read(p, &a), COL_POWER_FAILED);
	put("intel-rapl:0/energy_uj", "1000\n");
	/* The range unreadable: the same. */
	put("intel-rapl:0/max_energy_range_uj", "");
	assert_int_equal(col_power_read(p, &a), COL_POWER_FAILED);
	assert_non_null(strstr(logged(), "max_energy_range_uj"));
	col_power_free(p);
}

/* No powercap directory (this machine's case), or one without RAPL: no
 * sample, one info line. */
static void test_absent(void **state)
{
	char missing[300];
	snprintf(missing, sizeof missing, "%s/nowhere", root);
	struct col_power *p = col_power_new(missing);
	struct col_power_sample a;
	a.n = 3;
	assert_int_equal(col_power_read(p, &a), COL_POWER_ABSENT);
	assert_int_equal(a.n, 0);
	const char *log = logged();
	assert_non_null(strstr(log, "[info]"));
	assert_non_null(strstr(log, "no powercap directory"));
	assert_non_null(strstr(log, missing));
	assert_int_equal(col_power_read(p, &a), COL_POWER_ABSENT);
	assert_string_equal(logged(), "");
	col_power_free(p);

	/* powercap without RAPL (another control type only), and a zone
	 * directory without a name file. */
	zone("dtpm:0", "package-0", 5, RANGE);
	char path[512];
	snprintf(path, sizeof path, "%s/intel-rapl:0", root);
	assert_int_equal(mkdir(path, 0755), 0);
	p = col_power_new(root);
	assert_int_equal(col_power_read(p, &a), COL_POWER_ABSENT);
	assert_non_null(strstr(logged(), "no RAPL package or psys zone"));
	col_power_free(p);

	/* The default root is the kernel's. */
	p = col_power_new(NULL);
	col_power_free(p);
}

int main(void)
{
	vm_log_open("test_power", false);
	vm_log_set_level(VM_LOG_DEBUG);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_packages_summed_subzones_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_psys_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_absent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
