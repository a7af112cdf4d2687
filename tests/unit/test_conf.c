/* Tests of lib/conf.c: the example file, defaults, a file setting every
 * option, owner lookup, and one test per tests/data/conf/bad-*.conf, each
 * of which names its expected error in its first line:
 *
 *   # expect: bad-interval.conf:3: option 'collector.interval' must be ...
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "log.h"
#include "netclass.h"

#define CONF_DIR TEST_DATA_DIR "/conf"
#define EXAMPLE TEST_DATA_DIR "/../../etc/vmeter.conf.example"
#define MAX_BAD_FILES 256

/* A pretend program's section: what aggregator/ will declare for its own. */
struct pretend_conf {
	int window_s;
	char *label;
	char *rules;
};

static const char *check_abs(const char *value)
{
	return value[0] == '/' ? NULL : "must be an absolute path";
}

static const struct vm_conf_option pretend_options[] = {
    {"window", VM_CONF_INT, offsetof(struct pretend_conf, window_s), 60, 86400, 300, NULL, NULL},
    {"label", VM_CONF_STR, offsetof(struct pretend_conf, label), 0, 32, 0, "", NULL},
    {"rules", VM_CONF_STR, offsetof(struct pretend_conf, rules), 1, 1024, 0, NULL, check_abs},
};
static const struct vm_conf_program pretend = {"aggregator", pretend_options, 3, sizeof(struct pretend_conf)};

static struct vm_conf *load_ok(const char *path)
{
	char err[1024];
	struct vm_conf *conf = vm_conf_load(path, err, sizeof err);
	if (!conf)
		fail_msg("%s", err);
	return conf;
}

static void assert_defaults(const struct vm_conf *conf)
{
	char host[HOST_NAME_MAX + 1] = "";

	gethostname(host, sizeof host);
	assert_int_equal(conf->log_level, VM_LOG_INFO);
	assert_string_equal(conf->libvirt_uri, "qemu:///system");
	assert_string_equal(conf->host_name, host);
	assert_int_equal(conf->interval_s, 10);
	assert_int_equal(conf->inventory_refresh_s, 60);
	assert_int_equal(conf->max_gap_s, 300);
	assert_string_equal(conf->state_dir, "/var/lib/vmeter");
	assert_string_equal(conf->rrd_dir, "/var/lib/vmeter/rrd");
	assert_string_equal(conf->rrdcached, "unix:/run/rrdcached.sock");
	assert_int_equal(conf->reconnect_max_s, 60);
	assert_int_equal(conf->libvirt_threads, 4);
	assert_string_equal(conf->db_conninfo, "dbname=vmeter");
	assert_int_equal(conf->db_batch_rows, 5000);
	assert_int_equal(conf->db_timeout_s, 60);
	assert_string_equal(conf->spool_dir, "");
	assert_int_equal(conf->spool_max_mb, 1024);
	assert_string_equal(conf->spool_sync, "interval");
	assert_int_equal(conf->spool_sync_interval_ms, 1000);
	assert_string_equal(conf->power_source, "rapl");
	assert_string_equal(conf->powercap_root, "/sys/class/powercap");
	assert_string_equal(conf->capture_user, "");
	assert_string_equal(conf->capture_chroot_dir, "");
	assert_int_equal(conf->capture_buffer_mb, 8);
	assert_int_equal(conf->default_owner.source, VM_OWNER_NONE);
	assert_string_equal(conf->default_owner.tenant, "");
	assert_int_equal(conf->default_owner.n_tags, 0);
	assert_int_equal(conf->n_owner_rules, 0);
	assert_int_equal(conf->n_owner_maps, 0);
	assert_string_equal(conf->traffic_default, "internet");
	assert_int_equal(conf->n_traffic_classes, 0);
	assert_non_null(conf->netclass);
	assert_int_equal(vm_netclass_count(conf->netclass), VM_NETCLASS_FIRST);
	assert_string_equal(vm_netclass_name(conf->netclass, VM_NETCLASS_DEFAULT), "internet");
}

/* The installed example sets every option to its default. */
static void test_example(void **state)
{
	struct vm_conf *conf = load_ok(EXAMPLE);
	assert_string_equal(conf->path, EXAMPLE);
	assert_defaults(conf);
	vm_conf_free(conf);
}

static void test_defaults(void **state)
{
	struct vm_conf *conf = load_ok(CONF_DIR "/empty.conf");
	assert_defaults(conf);
	vm_conf_free(conf);
}

static void assert_tag(const struct vm_owner *o, size_t i, const char *key, const char *value)
{
	assert_true(i < o->n_tags);
	assert_string_equal(o->tags[i].key, key);
	assert_string_equal(o->tags[i].value, value);
}

static void test_full(void **state)
{
	struct vm_conf *conf = load_ok(CONF_DIR "/full.conf");

	assert_int_equal(conf->log_level, VM_LOG_DEBUG);
	assert_string_equal(conf->libvirt_uri, "qemu+ssh://kvm1/system");
	assert_string_equal(conf->host_name, "kvm1.example.net");
	assert_int_equal(conf->interval_s, 20);
	assert_int_equal(conf->inventory_refresh_s, 120);
	assert_int_equal(conf->max_gap_s, 90);
	assert_string_equal(conf->state_dir, "/srv/vmeter");
	assert_string_equal(conf->rrd_dir, "/srv/vmeter/rrd");
	assert_string_equal(conf->rrdcached, "");
	assert_int_equal(conf->reconnect_max_s, 30);
	assert_int_equal(conf->libvirt_threads, 2);
	assert_string_equal(conf->db_conninfo, "host=db.example.net dbname=metering user=vmeter");
	assert_int_equal(conf->db_batch_rows, 1000);
	assert_int_equal(conf->db_timeout_s, 15);
	assert_string_equal(conf->spool_dir, "/srv/vmeter/spool");
	assert_int_equal(conf->spool_max_mb, 256);
	assert_string_equal(conf->spool_sync, "always");
	assert_int_equal(conf->spool_sync_interval_ms, 250);
	assert_string_equal(conf->power_source, "none");
	assert_string_equal(conf->powercap_root, "/srv/fake-powercap");
	assert_string_equal(conf->capture_user, "vmeter-cap");
	assert_string_equal(conf->capture_chroot_dir, "/var/empty");
	assert_int_equal(conf->capture_buffer_mb, 32);

	assert_int_equal(conf->default_owner.source, VM_OWNER_CONFIG);
	assert_string_equal(conf->default_owner.tenant, "unassigned");
	assert_string_equal(conf->default_owner.project, "");
	assert_int_equal(conf->default_owner.n_tags, 1);
	assert_tag(&conf->default_owner, 0, "env", "unknown");

	assert_int_equal(conf->n_owner_rules, 4);
	const struct vm_owner_rule *r = conf->owner_rules;
	assert_string_equal(r[0].match, "acme-*");
	assert_int_equal(r[0].owner.source, VM_OWNER_CONFIG);
	assert_string_equal(r[0].owner.tenant, "acme");
	assert_string_equal(r[0].owner.project, "shop");
	assert_string_equal(r[0].owner.cost_centre, "CC-4711");
	assert_int_equal(r[0].owner.n_tags, 3);
	assert_tag(&r[0].owner, 0, "env", "prod");
	assert_tag(&r[0].owner, 1, "team", "web");
	assert_tag(&r[0].owner, 2, "url", "https://shop.example/?a=b");
	assert_string_equal(r[1].match, "4dc3b4c2-8e3f-4a5b-9c1d-2e3f4a5b6c7d");
	assert_string_equal(r[1].owner.tenant, "beta");
	assert_int_equal(r[1].owner.n_tags, 0);
	assert_string_equal(r[2].match, "acme-test-*");
	assert_string_equal(r[3].match, "*-[0-9][0-9]");
	assert_int_equal(r[3].owner.n_tags, 1);
	assert_tag(&r[3].owner, 0, "kind", "numbered");
	vm_conf_free(conf);
}

/* Comments anywhere (libconfuse 3.3 alone gets them wrong), quoting, line
 * continuation and environment variables in double quotes. */
static void test_comments(void **state)
{
	setenv("VMETER_TEST_SUFFIX", "7", 1);
	struct vm_conf *conf = load_ok(CONF_DIR "/comments.conf");
	unsetenv("VMETER_TEST_SUFFIX");

	assert_int_equal(conf->log_level, VM_LOG_NOTICE);
	assert_int_equal(conf->interval_s, 15);
	assert_int_equal(conf->max_gap_s, 45);
	assert_string_equal(conf->rrdcached, "unix:/run/rrdcached.sock#not-a-comment");
	assert_string_equal(conf->libvirt_uri, "qemu:///system");
	assert_string_equal(conf->state_dir, "/var/lib/vmeter//state");
	assert_string_equal(conf->host_name, "kvm-7");
	assert_string_equal(conf->db_conninfo, "dbname=vmeter application_name=vmeter");
	assert_int_equal(conf->n_owner_rules, 1);
	assert_int_equal(conf->owner_rules[0].owner.n_tags, 2);
	assert_tag(&conf->owner_rules[0].owner, 1, "team", "web");
	vm_conf_free(conf);
}

static void test_max_tags(void **state)
{
	struct vm_conf *conf = load_ok(CONF_DIR "/max-tags.conf");
	assert_int_equal(conf->default_owner.n_tags, 32);
	assert_tag(&conf->default_owner, 31, "k32", "v32");
	vm_conf_free(conf);
}

static void assert_class4(const struct vm_conf *conf, const char *addr, const char *want)
{
	uint8_t a[4];
	assert_int_equal(inet_pton(AF_INET, addr, a), 1);
	const char *got = vm_netclass_name(conf->netclass, vm_netclass_lookup4(conf->netclass, a));
	if (strcmp(got, want) != 0)
		fail_msg("%s: class '%s', want '%s'", addr, got, want);
}

static void assert_class6(const struct vm_conf *conf, const char *addr, const char *want)
{
	uint8_t a[16];
	assert_int_equal(inet_pton(AF_INET6, addr, a), 1);
	const char *got = vm_netclass_name(conf->netclass, vm_netclass_lookup6(conf->netclass, a));
	if (strcmp(got, want) != 0)
		fail_msg("%s: class '%s', want '%s'", addr, got, want);
}

/* Sections in file order, prefixes as written, and the table built. */
static void test_traffic(void **state)
{
	struct vm_conf *conf = load_ok(CONF_DIR "/traffic.conf");
	const struct vm_traffic_class *tc = conf->traffic_classes;

	assert_string_equal(conf->traffic_default, "internet");
	assert_int_equal(conf->n_traffic_classes, 3);
	assert_string_equal(tc[0].name, "internal");
	assert_int_equal(tc[0].n_prefixes, 4);
	assert_string_equal(tc[0].prefixes[0], "10.0.0.0/8");
	assert_string_equal(tc[0].prefixes[2], "fd00::/8");
	assert_string_equal(tc[0].prefixes[3], "172.16.0.0/12");
	assert_string_equal(tc[1].name, "backup");
	assert_int_equal(tc[1].n_prefixes, 2);
	assert_string_equal(tc[2].name, "peering_2");
	assert_string_equal(tc[2].prefixes[0], "198.51.100.7");

	assert_int_equal(vm_netclass_count(conf->netclass), VM_NETCLASS_FIRST + 3);
	assert_int_equal(vm_netclass_n_prefixes(conf->netclass), 8);
	assert_int_equal(vm_netclass_find(conf->netclass, "internal"), VM_NETCLASS_FIRST);
	assert_int_equal(vm_netclass_find(conf->netclass, "peering_2"), VM_NETCLASS_FIRST + 2);
	assert_class4(conf, "10.1.2.3", "internal");
	assert_class4(conf, "10.20.0.0", "backup");
	assert_class4(conf, "10.20.255.255", "backup");
	assert_class4(conf, "10.21.0.0", "internal");
	assert_class4(conf, "172.31.255.255", "internal");
	assert_class4(conf, "172.32.0.0", "internet");
	assert_class4(conf, "198.51.100.7", "peering_2");
	assert_class4(conf, "198.51.100.8", "internet");
	assert_class6(conf, "fd00:20::1", "backup");
	assert_class6(conf, "fd00:21::1", "internal");
	assert_class6(conf, "2001:db8:ffff::1", "peering_2");
	assert_class6(conf, "::ffff:10.20.1.1", "backup");
	assert_class6(conf, "2001:db9::1", "internet");
	vm_conf_free(conf);
}

/* Writes n IPv6 host prefixes in 64 traffic classes ("c1" to "c64") to a
 * new temporary file (caller unlinks): "::1" to "::ffff", then "1::",
 * "2::" ..., the shortest there are, so that 100000 fit in 1 MiB.  The
 * classes keep each list short: libconfuse grows a list one entry at a
 * time, which is slow for long ones under ASan. */
static void write_prefixes(char *path, size_t size, unsigned n)
{
	const char *dir = getenv("TMPDIR");
	const unsigned per_class = (n + VM_NETCLASS_MAX_CLASSES - 1) / VM_NETCLASS_MAX_CLASSES;

	snprintf(path, size, "%s/test_conf.XXXXXX", dir ? dir : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	assert_non_null(fp);
	for (unsigned i = 1; i <= n; i++) {
		if (i % per_class == 1)
			fprintf(fp, "traffic-class \"c%u\" {\nprefixes = {", i / per_class + 1);
		else
			fputc(',', fp);
		fprintf(fp, i <= 0xffff ? "\"::%x\"" : "\"%x::\"", i <= 0xffff ? i : i - 0xffff);
		if (i % per_class == 0 || i == n)
			fprintf(fp, "}\n}\n");
	}
	assert_int_equal(fclose(fp), 0);
}

/* VM_NETCLASS_MAX_PREFIXES load (and fit in the 1 MiB a file may have);
 * one more is refused. */
static void test_traffic_max_prefixes(void **state)
{
	char path[512], err[1024], want[600];

	write_prefixes(path, sizeof path, VM_NETCLASS_MAX_PREFIXES);
	struct vm_conf *conf = load_ok(path);
	assert_int_equal(conf->n_traffic_classes, VM_NETCLASS_MAX_CLASSES);
	assert_int_equal(vm_netclass_n_prefixes(conf->netclass), VM_NETCLASS_MAX_PREFIXES);
	assert_class6(conf, "::1", "c1");
	assert_class6(conf, "86a1::", "c64");
	assert_class6(conf, "86a2::", "internet");
	vm_conf_free(conf);
	unlink(path);

	write_prefixes(path, sizeof path, VM_NETCLASS_MAX_PREFIXES + 1);
	assert_null(vm_conf_load(path, err, sizeof err));
	snprintf(want, sizeof want, "%s:191: traffic class 'c64': more than 100000 prefixes in all traffic classes",
	         path);
	assert_string_equal(err, want);
	unlink(path);
}

static void test_lookup(void **state)
{
	struct vm_conf *conf = load_ok(CONF_DIR "/full.conf");
	struct vm_owner o;

	/* By glob; the first matching rule wins over a later, narrower one. */
	memset(&o, 0, sizeof o);
	assert_true(vm_conf_owner_lookup(conf, "acme-test-1", "11111111-2222-3333-4444-555555555555", &o));
	assert_int_equal(o.source, VM_OWNER_CONFIG);
	assert_string_equal(o.tenant, "acme");
	assert_string_equal(o.cost_centre, "CC-4711");
	assert_int_equal(o.n_tags, 3);

	/* By UUID, in any case; a UUID title is not a glob over the name. */
	assert_true(vm_conf_owner_lookup(conf, "db1", "4DC3B4C2-8E3F-4A5B-9C1D-2E3F4A5B6C7D", &o));
	assert_string_equal(o.tenant, "beta");
	assert_int_equal(o.n_tags, 0);
	assert_true(vm_conf_owner_lookup(conf, "4dc3b4c2-8e3f-4a5b-9c1d-2e3f4a5b6c7d", NULL, &o));
	assert_string_equal(o.tenant, "unassigned");

	/* Glob with a character class. */
	assert_true(vm_conf_owner_lookup(conf, "build-42", NULL, &o));
	assert_string_equal(o.tenant, "numbered");

	/* Nothing matches: the default owner. */
	assert_true(vm_conf_owner_lookup(conf, "web1", "11111111-2222-3333-4444-555555555555", &o));
	assert_int_equal(o.source, VM_OWNER_CONFIG);
	assert_string_equal(o.tenant, "unassigned");
	assert_int_equal(o.n_tags, 1);
	assert_tag(&o, 0, "env", "unknown");
	vm_conf_free(conf);
}

static void test_lookup_no_match(void **state)
{
	struct vm_conf *conf = load_ok(CONF_DIR "/owners.conf");
	struct vm_owner o;

	assert_true(vm_conf_owner_lookup(conf, "web1", NULL, &o));
	assert_string_equal(o.tenant, "web");
	memset(&o, 0, sizeof o);
	assert_false(vm_conf_owner_lookup(conf, "web10", "11111111-2222-3333-4444-555555555555", &o));
	assert_false(vm_conf_owner_lookup(conf, NULL, NULL, &o));
	assert_int_equal(o.source, VM_OWNER_NONE);
	vm_conf_free(conf);

	conf = load_ok(CONF_DIR "/empty.conf");
	assert_false(vm_conf_owner_lookup(conf, "web1", NULL, &o));
	vm_conf_free(conf);
}

static void test_missing_file(void **state)
{
	char err[512];
	assert_null(vm_conf_load(CONF_DIR "/does-not-exist.conf", err, sizeof err));
	assert_string_equal(err, "cannot open '" CONF_DIR "/does-not-exist.conf': No such file or directory");
}

static void test_directory(void **state)
{
	char err[512];
	assert_null(vm_conf_load(CONF_DIR, err, sizeof err));
	assert_string_equal(err, "cannot read '" CONF_DIR "': Is a directory");
}

/* Writes `len` bytes of `c` to a new temporary file; caller unlinks. */
static void write_temp(char *path, size_t size, size_t len, char c)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, size, "%s/test_conf.XXXXXX", dir ? dir : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	char *buf = malloc(len ? len : 1);
	memset(buf, c, len);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	free(buf);
	close(fd);
}

/* An empty file is all defaults; more than 1 MiB is refused unread. */
static void test_sizes(void **state)
{
	char path[512], err[1024], want[600];

	write_temp(path, sizeof path, 0, ' ');
	struct vm_conf *conf = load_ok(path);
	assert_int_equal(conf->interval_s, 10);
	vm_conf_free(conf);
	unlink(path);

	write_temp(path, sizeof path, (1 << 20) + 1, '\n');
	assert_null(vm_conf_load(path, err, sizeof err));
	snprintf(want, sizeof want, "%s: file is larger than 1048576 bytes", path);
	assert_string_equal(err, want);
	unlink(path);
}

/* A short buffer gets a truncated message, never an overflow. */
static void test_short_err(void **state)
{
	char err[8];
	memset(err, 'x', sizeof err);
	assert_null(vm_conf_load(CONF_DIR "/bad-interval.conf", err, sizeof err));
	assert_int_equal(strlen(err), sizeof err - 1);
	assert_null(vm_conf_load(CONF_DIR "/bad-interval.conf", NULL, 0));
}

/* A load that fails anywhere (before parsing, in libconfuse's parser, in
 * a callback, after parsing) leaves nothing behind that spoils the next:
 * libconfuse's lexer is global state, and a program reloads after a bad
 * file. */
static void test_reload_after_error(void **state)
{
	static const char *const bad[] = {
	    "bad-eof.conf",        "bad-syntax.conf", "bad-tag.conf", "bad-max-gap.conf", "bad-unknown-collector.conf",
	    "bad-traffic-dup.conf"};
	char err[512], path[512];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", CONF_DIR, bad[i]);
		assert_null(vm_conf_load(path, err, sizeof err));
		struct vm_conf *conf = load_ok(CONF_DIR "/full.conf");
		assert_int_equal(conf->n_owner_rules, 4);
		assert_int_equal(conf->interval_s, 20);
		vm_conf_free(conf);
	}
	vm_conf_free(NULL);
}

/* The pretend program reads its section; the collector's options are as
 * they were; the sections of programs without a table here are skipped. */
static void test_program(void **state)
{
	char err[1024];
	struct vm_conf *conf = vm_conf_load_program(CONF_DIR "/program.conf", &pretend, err, sizeof err);
	if (!conf)
		fail_msg("%s", err);
	const struct pretend_conf *p = conf->program_values;
	assert_ptr_equal(conf->program, &pretend);
	assert_int_equal(p->window_s, 600);
	assert_string_equal(p->label, "");
	assert_string_equal(p->rules, "/etc/vmeter/rules");
	assert_int_equal(conf->interval_s, 20);
	assert_string_equal(conf->db_conninfo, "dbname=metering");
	vm_conf_free(conf);

	/* The collector has no table for any of them. */
	conf = load_ok(CONF_DIR "/program.conf");
	assert_null(conf->program);
	assert_int_equal(conf->interval_s, 20);
	vm_conf_free(conf);

	/* No section: the defaults, and a required option is missed with
	 * the file's name. */
	assert_null(vm_conf_load_program(CONF_DIR "/empty.conf", &pretend, err, sizeof err));
	assert_non_null(strstr(err, "empty.conf: option 'aggregator.rules' must be set"));
	static const struct vm_conf_program optional = {"aggregator", pretend_options, 2, sizeof(struct pretend_conf)};
	conf = vm_conf_load_program(CONF_DIR "/empty.conf", &optional, err, sizeof err);
	assert_non_null(conf);
	p = conf->program_values;
	assert_int_equal(p->window_s, 300);
	assert_null(p->rules);
	vm_conf_free(conf);

	/* Only the programs' sections can be registered. */
	static const struct vm_conf_program collector = {"collector", pretend_options, 3, sizeof(struct pretend_conf)};
	assert_null(vm_conf_load_program(CONF_DIR "/empty.conf", &collector, err, sizeof err));
	assert_non_null(strstr(err, "'collector' is not a program's"));
	(void)state;
}

/* Reads a file of tests/data whole; *len its size.  Caller frees. */
static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);

	assert_non_null(fp);
	*len = fread(buf, 1, (1 << 16) - 1, fp);
	fclose(fp);
	return buf;
}

/* owner-metadata sections in file order, and applied to a domain: the
 * configuration and the XML together give the owner. */
static void test_owner_metadata(void **state)
{
	struct vm_conf *conf = load_ok(CONF_DIR "/owner-metadata.conf");
	const struct vm_owner_map *m = conf->owner_maps;
	struct vm_owner o;
	char err[256];
	size_t len;
	char *xml;

	assert_int_equal(conf->n_owner_maps, 2);
	assert_string_equal(m[0].name, "acme");
	assert_string_equal(m[0].ns, "http://acme.example/xmlns/vm/1");
	assert_string_equal(m[0].tenant, "/vm/owner/@account");
	assert_string_equal(m[0].project, "/vm/owner/project");
	assert_string_equal(m[0].cost_centre, "/vm/billing/@cc");
	assert_int_equal(m[0].n_tags, 2);
	assert_string_equal(m[0].tags[0].key, "env");
	assert_string_equal(m[0].tags[0].value, "/vm/@environment");
	assert_string_equal(m[0].tags[1].key, "rack");
	assert_string_equal(m[0].tags[1].value, "/vm/placement/@rack");
	assert_string_equal(m[1].name, "legacy");
	assert_string_equal(m[1].project, "");
	assert_string_equal(m[1].cost_centre, "");
	assert_int_equal(m[1].n_tags, 0);
	assert_int_equal(conf->n_owner_rules, 1);

	xml = slurp(TEST_DATA_DIR "/domxml/owner-map/acme.xml", &len);
	assert_int_equal(vm_owner_map_apply(conf->owner_maps, conf->n_owner_maps, xml, len, &o, err, sizeof err), 0);
	assert_string_equal(err, "");
	assert_int_equal(o.source, VM_OWNER_MAPPING);
	assert_string_equal(o.tenant, "ACC-1001");
	assert_string_equal(o.project, "checkout");
	assert_string_equal(o.cost_centre, "CC-77");
	assert_int_equal(o.n_tags, 1);
	assert_string_equal(o.tags[0].key, "env");
	assert_string_equal(o.tags[0].value, "prod");
	free(xml);

	/* the first mapping refuses an over-long account: the second one's
	 * element gives the owner */
	xml = slurp(TEST_DATA_DIR "/domxml/owner-map/long-account.xml", &len);
	assert_int_equal(vm_owner_map_apply(conf->owner_maps, conf->n_owner_maps, xml, len, &o, err, sizeof err), 0);
	assert_string_equal(err, "owner-metadata[acme]: tenant at '/vm/owner/@account' is longer than 63 bytes");
	assert_int_equal(o.source, VM_OWNER_MAPPING);
	assert_string_equal(o.tenant, "old-acc");
	free(xml);
	vm_conf_free(conf);
}

/* state: the file's path (owned by main). */
static void test_bad_file(void **state)
{
	const char *path = *state;
	char line[1024], err[1024];
	const char *tag = "# expect: ";
	FILE *fp = fopen(path, "r");

	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof line, fp));
	fclose(fp);
	line[strcspn(line, "\n")] = '\0';
	assert_memory_equal(line, tag, strlen(tag));
	const char *want = line + strlen(tag);

	/* With the pretend program's table: bad-program-*.conf are about it. */
	assert_null(vm_conf_load_program(path, &pretend, err, sizeof err));
	if (!strstr(err, want))
		fail_msg("error: %s\nwanted: %s", err, want);
	/* Always "PATH:LINE: ...": the full path comes first. */
	assert_memory_equal(err, path, strlen(path));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_example),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_comments),
	    cmocka_unit_test(test_max_tags),
	    cmocka_unit_test(test_traffic),
	    cmocka_unit_test(test_traffic_max_prefixes),
	    cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_lookup_no_match),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_directory),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_short_err),
	    cmocka_unit_test(test_reload_after_error),
	    cmocka_unit_test(test_owner_metadata),
	    cmocka_unit_test(test_program),
	};
	const size_t n_fixed = sizeof fixed / sizeof fixed[0];
	char *names[MAX_BAD_FILES];
	size_t n_bad = 0;
	struct dirent *de;
	DIR *dir = opendir(CONF_DIR);

	if (!dir) {
		perror(CONF_DIR);
		return 1;
	}
	while ((de = readdir(dir)) && n_bad < MAX_BAD_FILES) {
		size_t len = strlen(de->d_name);
		if (strncmp(de->d_name, "bad-", 4) == 0 && len > 5 && strcmp(de->d_name + len - 5, ".conf") == 0)
			names[n_bad++] = strdup(de->d_name);
	}
	closedir(dir);
	qsort(names, n_bad, sizeof names[0], cmp_str);

	/* One group, so that the TAP output has a single plan. */
	struct CMUnitTest *tests = calloc(n_fixed + n_bad, sizeof *tests);
	char **paths = calloc(n_bad ? n_bad : 1, sizeof *paths);
	memcpy(tests, fixed, sizeof fixed);
	for (size_t i = 0; i < n_bad; i++) {
		if (asprintf(&paths[i], "%s/%s", CONF_DIR, names[i]) < 0)
			return 1;
		tests[n_fixed + i] = (struct CMUnitTest){
		    .name = names[i],
		    .test_func = test_bad_file,
		    .initial_state = paths[i],
		};
	}
	int rc = n_bad < 20 ? 1 : _cmocka_run_group_tests("conf", tests, n_fixed + n_bad, NULL, NULL);
	if (n_bad < 20)
		fprintf(stderr, "only %zu bad-*.conf files in %s\n", n_bad, CONF_DIR);
	for (size_t i = 0; i < n_bad; i++) {
		free(names[i]);
		free(paths[i]);
	}
	free(paths);
	free(tests);
	return rc;
}
