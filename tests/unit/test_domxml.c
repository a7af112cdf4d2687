#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domxml.h"
#include "xalloc.h"

#define DATA TEST_DATA_DIR "/domxml/"

/* Reads a data file into a buffer of exactly its size, with no NUL after
 * it, so that AddressSanitizer catches a parser reading past `len`. */
static char *read_data(const char *name, size_t *len)
{
	char path[512];
	struct stat st;
	char *buf;
	int fd;

	snprintf(path, sizeof(path), DATA "%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		fail_msg("cannot open %s", path);
	assert_int_equal(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	buf = vm_xmalloc(*len);
	assert_int_equal(read(fd, buf, *len), (ssize_t)*len);
	close(fd);
	return buf;
}

/* Exactly-sized copy of a string, without its NUL. */
static char *dup_exact(const char *s, size_t len)
{
	char *buf = vm_xmalloc(len);

	memcpy(buf, s, len);
	return buf;
}

struct result {
	struct vm_inventory inv;
	int ret;
	char err[256];
	char owner_err[256];
};

static struct result *parse_buf(const char *xml, size_t len)
{
	struct result *res = vm_xcalloc(1, sizeof(*res));
	char *copy = dup_exact(xml, len);

	res->ret =
	    vm_domxml_parse(copy, len, &res->inv, res->err, sizeof(res->err), res->owner_err, sizeof(res->owner_err));
	free(copy);
	return res;
}

static struct result *parse_str(const char *xml)
{
	return parse_buf(xml, strlen(xml));
}

static struct result *parse_file(const char *name)
{
	struct result *res = vm_xcalloc(1, sizeof(*res));
	size_t len;
	char *xml = read_data(name, &len);

	res->ret =
	    vm_domxml_parse(xml, len, &res->inv, res->err, sizeof(res->err), res->owner_err, sizeof(res->owner_err));
	free(xml);
	return res;
}

static void assert_parsed(const struct result *res)
{
	if (res->ret != 0)
		fail_msg("parse failed: %s", res->err);
	assert_string_equal(res->err, "");
}

/* Compares an error message; a wanted message ending in '*' is a prefix
 * (libxml2's own text follows). */
static void assert_message(const char *got, const char *want)
{
	size_t n = strlen(want);

	if (n && want[n - 1] == '*') {
		if (strncmp(got, want, n - 1) || strlen(got) == n - 1)
			fail_msg("error '%s' does not start with '%.*s'", got, (int)(n - 1), want);
	} else if (strcmp(got, want)) {
		fail_msg("error '%s', want '%s'", got, want);
	}
}

static const char *tag_value(const struct vm_owner *o, const char *key)
{
	for (size_t i = 0; i < o->n_tags; i++)
		if (!strcmp(o->tags[i].key, key))
			return o->tags[i].value;
	return NULL;
}

/* ---------------------------------------------------------------- good */

/* virsh -c test:///default dumpxml test */
static void test_default_domain(void **state)
{
	struct result *res = parse_file("test-default.xml");
	const struct vm_inventory *inv = &res->inv;

	assert_parsed(res);
	assert_string_equal(inv->uuid, "6695eb01-f6a4-8304-79aa-97f2502e193f");
	assert_string_equal(inv->name, "test");
	assert_int_equal(inv->id, 1);
	assert_int_equal(inv->vcpus, 2);
	assert_int_equal(inv->max_vcpus, 2);
	assert_int_equal(inv->memory_kib, 8388608);
	assert_int_equal(inv->current_memory_kib, 2097152);
	assert_int_equal(inv->n_disks, 1);
	assert_string_equal(inv->disks[0].target, "vda");
	assert_string_equal(inv->disks[0].bus, "virtio");
	assert_string_equal(inv->disks[0].device, "disk");
	assert_string_equal(inv->disks[0].source, "/guest/diskimage1");
	assert_int_equal(inv->disks[0].capacity, 0);
	assert_int_equal(inv->n_nics, 1);
	assert_string_equal(inv->nics[0].mac, "aa:bb:cc:dd:ee:ff");
	assert_string_equal(inv->nics[0].target, "testnet0");
	assert_string_equal(inv->nics[0].type, "network");
	assert_string_equal(inv->nics[0].source, "default");
	assert_string_equal(inv->nics[0].model, "");
	assert_int_equal(inv->owner.source, VM_OWNER_NONE);
	assert_string_equal(res->owner_err, "");
	free(res);
}

/* The same domain after `virsh metadata test NS --key vmeter --set ...`:
 * exactly what libvirt writes. */
static void test_default_domain_with_owner(void **state)
{
	struct result *res = parse_file("test-default-owner.xml");
	const struct vm_owner *o = &res->inv.owner;

	assert_parsed(res);
	assert_string_equal(res->owner_err, "");
	assert_int_equal(o->source, VM_OWNER_METADATA);
	assert_string_equal(o->tenant, "acme");
	assert_string_equal(o->project, "shop");
	assert_string_equal(o->cost_centre, "CC-4711");
	assert_int_equal(o->n_tags, 2);
	assert_string_equal(o->tags[0].key, "env");
	assert_string_equal(o->tags[0].value, "prod");
	assert_string_equal(o->tags[1].key, "tier");
	assert_string_equal(o->tags[1].value, "web");
	free(res);
}

static void test_qemu_full(void **state)
{
	struct result *res = parse_file("qemu-full.xml");
	const struct vm_inventory *inv = &res->inv;
	const struct vm_owner *o = &inv->owner;

	assert_parsed(res);
	assert_string_equal(res->owner_err, "");
	assert_string_equal(inv->uuid, "3f2a7c1e-9b4d-4e6a-8c21-5d0f7a9b1c44");
	assert_string_equal(inv->name, "web1.shop");
	assert_int_equal(inv->id, 7);
	assert_int_equal(inv->vcpus, 2);
	assert_int_equal(inv->max_vcpus, 4);
	assert_int_equal(inv->memory_kib, 8388608);
	assert_int_equal(inv->current_memory_kib, 4194304);

	assert_int_equal(inv->n_disks, 2);
	/* the image itself, not its backing file */
	assert_string_equal(inv->disks[0].source, "/var/lib/libvirt/images/web1.qcow2");
	assert_string_equal(inv->disks[0].target, "vda");
	assert_string_equal(inv->disks[0].bus, "virtio");
	assert_string_equal(inv->disks[0].device, "disk");
	assert_string_equal(inv->disks[1].source, "/dev/vg0/web1-data");
	assert_string_equal(inv->disks[1].target, "vdb");

	assert_int_equal(inv->n_nics, 2);
	assert_string_equal(inv->nics[0].mac, "52:54:00:3a:9f:01");
	assert_string_equal(inv->nics[0].type, "bridge");
	assert_string_equal(inv->nics[0].source, "br0");
	assert_string_equal(inv->nics[0].target, "vnet12");
	assert_string_equal(inv->nics[0].model, "virtio");
	assert_string_equal(inv->nics[1].mac, "52:54:00:3a:9f:02");
	assert_string_equal(inv->nics[1].type, "network");
	/* a network interface names its network, not the bridge behind it */
	assert_string_equal(inv->nics[1].source, "backend");
	assert_string_equal(inv->nics[1].target, "vnet13");
	assert_string_equal(inv->nics[1].model, "e1000e");

	assert_int_equal(o->source, VM_OWNER_METADATA);
	assert_string_equal(o->tenant, "acme");
	assert_string_equal(o->project, "shop");
	assert_string_equal(o->cost_centre, "CC-4711");
	assert_int_equal(o->n_tags, 3);
	assert_string_equal(tag_value(o, "env"), "prod");
	assert_string_equal(tag_value(o, "tier"), "web");
	assert_string_equal(tag_value(o, "backup"), "");
	free(res);
}

static void test_devices_variety(void **state)
{
	struct result *res = parse_file("devices-variety.xml");
	const struct vm_inventory *inv = &res->inv;

	assert_parsed(res);
	assert_int_equal(inv->id, -1);
	assert_int_equal(inv->memory_kib, 2 * 1024 * 1024);
	assert_int_equal(inv->current_memory_kib, 2 * 1024 * 1024);
	assert_int_equal(inv->vcpus, 1);
	assert_int_equal(inv->max_vcpus, 1);

	assert_int_equal(inv->n_disks, 4);
	assert_string_equal(inv->disks[0].source, "batch-07-root");
	assert_string_equal(inv->disks[1].source, "rbd-pool/batch-07-scratch");
	assert_string_equal(inv->disks[1].device, "disk");
	assert_string_equal(inv->disks[1].bus, "scsi");
	assert_string_equal(inv->disks[2].device, "cdrom");
	assert_string_equal(inv->disks[2].source, "");
	assert_string_equal(inv->disks[2].target, "sdc");
	assert_string_equal(inv->disks[3].source, "iscsi-pool");
	assert_string_equal(inv->disks[3].device, "lun");
	assert_string_equal(inv->disks[3].bus, "");

	assert_int_equal(inv->n_nics, 3);
	assert_string_equal(inv->nics[0].mac, "52:54:00:ab:cd:ef");
	assert_string_equal(inv->nics[0].target, "");
	assert_string_equal(inv->nics[1].type, "direct");
	assert_string_equal(inv->nics[1].source, "eno1");
	assert_string_equal(inv->nics[2].type, "user");
	assert_string_equal(inv->nics[2].source, "");
	assert_string_equal(inv->nics[2].model, "");
	assert_int_equal(inv->owner.source, VM_OWNER_NONE);
	free(res);
}

/* Unqualified children inside a vmeter <owner> count as vmeter's: that is
 * how libvirt's virDomainGetMetadata hands them back. */
static void test_owner_unqualified(void **state)
{
	struct result *res = parse_file("owner-unqualified.xml");

	assert_parsed(res);
	assert_string_equal(res->owner_err, "");
	assert_int_equal(res->inv.owner.source, VM_OWNER_METADATA);
	assert_string_equal(res->inv.owner.tenant, "acme");
	assert_string_equal(res->inv.owner.project, "shop");
	free(res);
}

static void test_owner_default_ns(void **state)
{
	struct result *res = parse_file("owner-default-ns.xml");

	assert_parsed(res);
	assert_string_equal(res->owner_err, "");
	assert_int_equal(res->inv.owner.source, VM_OWNER_METADATA);
	assert_string_equal(res->inv.owner.tenant, "acme");
	assert_string_equal(tag_value(&res->inv.owner, "env"), "prod");
	free(res);
}

/* Only an owner directly under <metadata> and in our namespace counts. */
static void test_owner_elsewhere(void **state)
{
	struct result *res = parse_file("owner-elsewhere.xml");

	assert_parsed(res);
	assert_string_equal(res->owner_err, "");
	assert_int_equal(res->inv.owner.source, VM_OWNER_NONE);
	assert_string_equal(res->inv.owner.tenant, "");
	free(res);
}

static const char head[] = "<domain><name>many</name><uuid>5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b</uuid>";

/* ---------------------------------------------------------------- units */

struct unit_case {
	const char *unit; /* NULL: no attribute */
	const char *value;
	uint64_t kib;
};

static const struct unit_case unit_cases[] = {
    {NULL, "1048576", 1048576},
    {"b", "1048576", 1024},
    {"bytes", "1048576", 1024},
    {"byte", "2048", 2},
    {"b", "1", 1}, /* rounded up, as libvirt does */
    {"b", "1025", 2},
    {"b", "0", 0},
    {"KB", "1024", 1000},
    {"k", "1024", 1024},
    {"KiB", "1024", 1024},
    {"MB", "1", 977},
    {"M", "1", 1024},
    {"MiB", "512", 512 * 1024},
    {"GB", "1", 976563},
    {"G", "2", 2 * 1024 * 1024},
    {"GiB", "4", 4 * 1024 * 1024},
    {"TB", "1", 976562500},
    {"T", "1", 1024ull * 1024 * 1024},
    {"TiB", "2", 2048ull * 1024 * 1024},
    {"gib", "1", 1024 * 1024}, /* libvirt ignores case */
    {"PiB", "1", 1024ull * 1024 * 1024 * 1024},
    {"EiB", "15", 15ull << 50},
    {"KiB", " 64\n", 64},
    {NULL, "18014398509481983", 18014398509481983ull}, /* largest KiB count that fits in bytes */
};

static void test_units(void **state)
{
	for (size_t i = 0; i < sizeof(unit_cases) / sizeof(unit_cases[0]); i++) {
		const struct unit_case *c = &unit_cases[i];
		char xml[512], attr[64] = "";
		struct result *res;

		if (c->unit)
			snprintf(attr, sizeof(attr), " unit='%s'", c->unit);
		snprintf(xml, sizeof(xml),
		         "<domain><name>u</name><uuid>5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b</uuid>"
		         "<memory%s>%s</memory><currentMemory%s>%s</currentMemory></domain>",
		         attr, c->value, attr, c->value);
		res = parse_str(xml);
		if (res->ret != 0)
			fail_msg("unit '%s' value '%s': %s", c->unit ? c->unit : "", c->value, res->err);
		if (res->inv.memory_kib != c->kib || res->inv.current_memory_kib != c->kib)
			fail_msg("unit '%s' value '%s': got %ju KiB, want %ju", c->unit ? c->unit : "", c->value,
			         (uintmax_t)res->inv.memory_kib, (uintmax_t)c->kib);
		free(res);
	}
}

/* Values the data files do not exercise, each in a minimal domain. */
static const struct {
	const char *body;
	const char *err;
} value_cases[] = {
    {"<memory></memory>", "domain xml: bad <memory> value ''"},
    {"<memory>18446744073709551616</memory>", "domain xml: bad <memory> value '18446744073709551616'"},
    {"<memory>18014398509481984</memory>", "domain xml: <memory> value 18014398509481984 KiB is too large"},
    {"<memory unit='kx'>1</memory>", "domain xml: <memory> has unknown unit 'kx'"},
    {"<memory unit='q'>1</memory>", "domain xml: <memory> has unknown unit 'q'"},
    {"<vcpu>4294967296</vcpu>", "domain xml: bad <vcpu> value '4294967296'"},
    {"<vcpu current='-1'>2</vcpu>", "domain xml: bad <vcpu current> value '-1'"},
    {"<vcpu> </vcpu>", "domain xml: bad <vcpu> value ''"},
};

static void test_bad_values(void **state)
{
	for (size_t i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++) {
		char xml[512];
		struct result *res;

		snprintf(xml, sizeof(xml), "%s%s</domain>", head, value_cases[i].body);
		res = parse_str(xml);
		if (res->ret != -1)
			fail_msg("'%s' parsed", value_cases[i].body);
		assert_message(res->err, value_cases[i].err);
		free(res);
	}
}

static void test_uuid_forms(void **state)
{
	static const char *const bad[] = {
	    "5b8e2f0a1-c3d-4e5f-8a9b-0c1d2e3f4a5b", /* dash out of place */
	    "5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5",
	    "",
	    "{5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a}",
	};
	char xml[512];
	struct result *res;

	snprintf(xml, sizeof(xml),
	         "<domain><name>u</name><uuid>\n  5B8E2F0A-1c3d-4E5F-8a9b-0C1D2E3F4A5B\n</uuid></domain>");
	res = parse_str(xml);
	assert_parsed(res);
	assert_string_equal(res->inv.uuid, "5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b");
	free(res);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[128];

		snprintf(xml, sizeof(xml), "<domain><name>u</name><uuid>%s</uuid></domain>", bad[i]);
		snprintf(want, sizeof(want), "domain xml: bad <uuid> '%s'", bad[i]);
		res = parse_str(xml);
		assert_int_equal(res->ret, -1);
		assert_string_equal(res->err, want);
		free(res);
	}
}

/* libxml2's warnings and recoverable errors do not fail a parse; when it
 * does fail, the fatal error is the one reported. */
static void test_libxml_messages(void **state)
{
	static const char warn[] = "<?xml version='1.1'?><domain xmlns:x='relative'><name>w</name>"
	                           "<uuid>5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b</uuid></domain>";
	static const char undeclared[] = "<domain><x:name>w</x:name><uuid>5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b</uuid>";
	struct result *res = parse_str(warn);

	assert_parsed(res);
	assert_string_equal(res->inv.name, "w");
	free(res);
	res = parse_str(undeclared);
	assert_int_equal(res->ret, -1);
	assert_message(res->err, "domain xml: line 1: Premature end of data*");
	free(res);
}

/* ---------------------------------------------------------------- bad files */

/* A file and the error it must give (see assert_message). */
struct bad_case {
	const char *file;
	const char *err;
};

static const struct bad_case bad_cases[] = {
    {"bad/not-xml.xml", "domain xml: line 1: Start tag expected, '<' not found"},
    {"bad/unclosed.xml", "domain xml: line 4: *"},
    {"bad/doctype.xml", "domain xml: document type declarations are not allowed"},
    {"bad/billion-laughs.xml", "domain xml: *"},
    {"bad/external-entity.xml", "domain xml: document type declarations are not allowed"},
    {"bad/wrong-root.xml", "domain xml: root element is <network>, expected <domain>"},
    {"bad/namespaced-root.xml",
     "domain xml: root element is <domain> in namespace 'urn:example:not-libvirt', expected <domain>"},
    {"bad/bad-id.xml", "domain xml: bad domain id 'seven'"},
    {"bad/no-name.xml", "domain xml: no <name>"},
    {"bad/no-uuid.xml", "domain xml: no <uuid>"},
    {"bad/bad-uuid.xml", "domain xml: bad <uuid> '5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5g'"},
    {"bad/short-uuid.xml", "domain xml: bad <uuid> '5b8e2f0a1c3d4e5f8a9b0c1d2e3f4a5b'"},
    {"bad/long-uuid.xml", "domain xml: bad <uuid> '5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b-5b'"},
    {"bad/bad-memory.xml", "domain xml: bad <memory> value 'lots'"},
    {"bad/bad-current-memory.xml", "domain xml: bad <currentMemory> value '-1'"},
    {"bad/bad-unit.xml", "domain xml: <memory> has unknown unit 'parsecs'"},
    {"bad/long-unit.xml", "domain xml: <memory unit> is longer than 15 bytes"},
    {"bad/memory-overflow.xml", "domain xml: <memory> value 16 EiB is too large"},
    {"bad/bad-vcpu.xml", "domain xml: bad <vcpu> value '4x'"},
    {"bad/bad-vcpu-current.xml", "domain xml: bad <vcpu current> value 'two'"},
    {"bad/vcpu-current-above-max.xml", "domain xml: <vcpu current> 8 exceeds the maximum 4"},
};

static void test_bad_file(void **state)
{
	const struct bad_case *c = *state;
	struct result *res = parse_file(c->file);

	assert_int_equal(res->ret, -1);
	assert_message(res->err, c->err);
	assert_string_equal(res->owner_err, "");
	free(res);
}

static const struct bad_case owner_bad_cases[] = {
    {"owner-bad/no-tenant.xml", "owner metadata: no <tenant>"},
    {"owner-bad/empty-tenant.xml", "owner metadata: empty <tenant>"},
    {"owner-bad/long-tenant.xml", "owner metadata: <tenant> is longer than 63 bytes"},
    {"owner-bad/long-project.xml", "owner metadata: <project> is longer than 63 bytes"},
    {"owner-bad/long-cost-centre.xml", "owner metadata: <cost-centre> is longer than 63 bytes"},
    {"owner-bad/control-char.xml", "owner metadata: <project> contains a control character"},
    {"owner-bad/c1-control-char.xml", "owner metadata: <tag> contains a control character"},
    {"owner-bad/duplicate-tenant.xml", "owner metadata: duplicate <tenant>"},
    {"owner-bad/duplicate-project.xml", "owner metadata: duplicate <project>"},
    {"owner-bad/duplicate-cost-centre.xml", "owner metadata: duplicate <cost-centre>"},
    {"owner-bad/unknown-element.xml", "owner metadata: unknown element <department>"},
    {"owner-bad/unknown-unqualified.xml", "owner metadata: unknown element <department>"},
    {"owner-bad/tag-without-name.xml", "owner metadata: <tag> without a name"},
    {"owner-bad/tag-empty-name.xml", "owner metadata: <tag> without a name"},
    {"owner-bad/duplicate-tag.xml", "owner metadata: duplicate <tag name='env'>"},
    {"owner-bad/long-tag-name.xml", "owner metadata: <tag name> is longer than 63 bytes"},
    {"owner-bad/long-tag-value.xml", "owner metadata: <tag> is longer than 255 bytes"},
    {"owner-bad/two-owners.xml", "owner metadata: more than one <owner> element"},
};

/* Bad owner metadata does not fail the parse: the inventory is complete,
 * the owner is NONE and the problem is in owner_err. */
static void test_owner_bad_file(void **state)
{
	const struct bad_case *c = *state;
	struct result *res = parse_file(c->file);
	static const struct vm_owner none;

	assert_parsed(res);
	assert_string_equal(res->inv.uuid, "5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b");
	assert_int_equal(res->inv.memory_kib, 1048576);
	assert_message(res->owner_err, c->err);
	assert_int_equal(res->inv.owner.source, VM_OWNER_NONE);
	assert_memory_equal(&res->inv.owner, &none, sizeof(none));
	free(res);
}

/* ---------------------------------------------------------------- limits */

/* A domain with `n` copies of `item` (one %d for its index) in <devices>. */
static char *many_devices(const char *item, int n, size_t *len)
{
	size_t cap = sizeof(head) + 64 + (size_t)n * (strlen(item) + 16);
	char *xml = vm_xmalloc(cap);
	size_t off = (size_t)snprintf(xml, cap, "%s<devices>", head);

	/* The items are the fixed formats below, each with one int. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(xml + off, cap - off, item, i);
#pragma GCC diagnostic pop
	off += (size_t)snprintf(xml + off, cap - off, "</devices></domain>");
	*len = off;
	return xml;
}

static const char disk_item[] = "<disk type='file' device='disk'><source file='/i/%d'/><target dev='vd'/></disk>";
static const char nic_item[] = "<interface type='bridge'><mac address='52:54:00:00:00:%02x'/></interface>";

static void test_max_disks(void **state)
{
	size_t len;
	char *xml = many_devices(disk_item, VM_MAX_DISKS, &len);
	struct result *res = parse_buf(xml, len);

	assert_parsed(res);
	assert_int_equal(res->inv.n_disks, VM_MAX_DISKS);
	assert_string_equal(res->inv.disks[VM_MAX_DISKS - 1].source, "/i/63");
	free(res);
	free(xml);
}

/* Defect 8: a guest with more disks than the limit kept no inventory at
 * all.  Now the first 64 are kept and the rest said in limits. */
static void test_too_many_disks(void **state)
{
	size_t len;
	char *xml = many_devices(disk_item, VM_MAX_DISKS + 9, &len);
	struct result *res = parse_buf(xml, len);

	assert_parsed(res);
	assert_string_equal(res->inv.name, "many");
	assert_string_equal(res->inv.uuid, "5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b");
	assert_int_equal(res->inv.n_disks, VM_MAX_DISKS);
	assert_string_equal(res->inv.disks[0].source, "/i/0");
	assert_string_equal(res->inv.disks[VM_MAX_DISKS - 1].source, "/i/63");
	assert_string_equal(res->inv.limits, "73 disks, 64 kept");
	free(res);
	free(xml);
}

static void test_max_nics(void **state)
{
	size_t len;
	char *xml = many_devices(nic_item, VM_MAX_NICS, &len);
	struct result *res = parse_buf(xml, len);

	assert_parsed(res);
	assert_int_equal(res->inv.n_nics, VM_MAX_NICS);
	assert_string_equal(res->inv.nics[VM_MAX_NICS - 1].mac, "52:54:00:00:00:3f");
	free(res);
	free(xml);
}

static void test_too_many_nics(void **state)
{
	size_t len;
	char *xml = many_devices(nic_item, VM_MAX_NICS + 1, &len);
	struct result *res = parse_buf(xml, len);

	assert_parsed(res);
	assert_int_equal(res->inv.n_nics, VM_MAX_NICS);
	assert_string_equal(res->inv.nics[VM_MAX_NICS - 1].mac, "52:54:00:00:00:3f");
	assert_string_equal(res->inv.limits, "65 interfaces, 64 kept");
	free(res);
	free(xml);
}

/* Everything over a limit at once: the counts lead, then the fields of the
 * kept devices; the owner and allocation are all there. */
static void test_limits_combined(void **state)
{
	char path[300];
	size_t cap = 64 << 10, off;
	char *xml = vm_xmalloc(cap);
	struct result *res;

	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	off = (size_t)snprintf(xml, cap,
	                       "<domain><name>big</name><uuid>5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b</uuid>"
	                       "<metadata><owner xmlns='" VM_OWNER_NS "'><tenant>acme</tenant></owner></metadata>"
	                       "<memory unit='GiB'>4</memory><vcpu>2</vcpu><devices>");
	for (int i = 0; i < 70; i++)
		off += (size_t)snprintf(xml + off, cap - off,
		                        "<disk device='disk'><source file='%s'/><target dev='vd%c%c'/></disk>",
		                        i == 1 ? path : "/img/x", 'a' + i / 26, 'a' + i % 26);
	for (int i = 0; i < 66; i++)
		off += (size_t)snprintf(xml + off, cap - off,
		                        "<interface type='bridge'><mac address='52:54:00:00:01:%02x'/>"
		                        "<model type='%s'/></interface>",
		                        i, i == 0 ? "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm" : "virtio");
	off += (size_t)snprintf(xml + off, cap - off, "</devices></domain>");
	res = parse_buf(xml, off);
	assert_parsed(res);
	assert_string_equal(res->inv.name, "big");
	assert_int_equal(res->inv.owner.source, VM_OWNER_METADATA);
	assert_string_equal(res->inv.owner.tenant, "acme");
	assert_int_equal(res->inv.vcpus, 2);
	assert_int_equal(res->inv.memory_kib, 4194304);
	assert_int_equal(res->inv.n_disks, 64);
	assert_int_equal(res->inv.n_nics, 64);
	/* the over-long source is left empty, its disk kept */
	assert_string_equal(res->inv.disks[1].target, "vdab");
	assert_string_equal(res->inv.disks[1].source, "");
	assert_string_equal(res->inv.nics[0].model, "");
	assert_string_equal(res->inv.nics[0].mac, "52:54:00:00:01:00");
	/* the model's item would not fit: "..." says there was more */
	assert_string_equal(
	    res->inv.limits,
	    "70 disks, 64 kept; 66 interfaces, 64 kept; disk 2 (vdab): <source file> over 255 bytes; ...");
	free(res);
	free(xml);
}

/* The limits text is bounded: past its size it ends in "; ...". */
static void test_limits_overflow(void **state)
{
	size_t cap = 8 << 10, len = 0;
	char *xml = vm_xmalloc(cap);
	struct result *res;
	size_t n;

	len = (size_t)snprintf(xml, cap, "%s<devices>", head);
	for (int i = 0; i < 10; i++)
		len += (size_t)snprintf(xml + len, cap - len, "<disk><source file='/%0300d'/><target dev='vd'/></disk>",
		                        i);
	len += (size_t)snprintf(xml + len, cap - len, "</devices></domain>");
	res = parse_buf(xml, len);

	assert_parsed(res);
	assert_int_equal(res->inv.n_disks, 10);
	n = strlen(res->inv.limits);
	assert_true(n < sizeof(res->inv.limits));
	assert_string_equal(res->inv.limits + n - 5, "; ...");
	static const char start[] = "disk 1 (vd): <source file> over 255 bytes; disk 2 (vd): <source file>";
	assert_memory_equal(res->inv.limits, start, sizeof(start) - 1);
	free(res);
	free(xml);
}

/* An owner with `n` distinct tags, standalone. */
static int parse_tags(int n, struct vm_owner *o, char *err, size_t errsize)
{
	size_t cap = 128 + (size_t)n * 64;
	char *xml = vm_xmalloc(cap);
	size_t off = (size_t)snprintf(xml, cap, "<owner><tenant>t</tenant>");
	int ret;

	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(xml + off, cap - off, "<tag name='k%d'>v%d</tag>", i, i);
	off += (size_t)snprintf(xml + off, cap - off, "</owner>");
	ret = vm_owner_parse(xml, off, o, err, errsize);
	free(xml);
	return ret;
}

static void test_max_tags(void **state)
{
	struct vm_owner *o = vm_xcalloc(1, sizeof(*o));
	char err[256];

	assert_int_equal(parse_tags(VM_MAX_TAGS, o, err, sizeof(err)), 0);
	assert_int_equal(o->n_tags, VM_MAX_TAGS);
	assert_string_equal(tag_value(o, "k31"), "v31");
	assert_int_equal(parse_tags(VM_MAX_TAGS + 1, o, err, sizeof(err)), -1);
	assert_string_equal(err, "owner metadata: more than 32 <tag> elements");
	assert_int_equal(o->source, VM_OWNER_NONE);
	assert_int_equal(o->n_tags, 0);
	free(o);
}

static void test_oversized(void **state)
{
	size_t len = VM_DOMXML_MAX_BYTES + 1;
	char *xml = vm_xmalloc(len);
	struct result *res = vm_xcalloc(1, sizeof(*res));
	struct vm_owner o;
	char err[256];

	/* well-formed, so only the size can be the reason */
	memset(xml, ' ', len);
	memcpy(xml, head, sizeof(head) - 1);
	memcpy(xml + len - 10, "</domain>", 9);
	res->ret =
	    vm_domxml_parse(xml, len, &res->inv, res->err, sizeof(res->err), res->owner_err, sizeof(res->owner_err));
	assert_int_equal(res->ret, -1);
	assert_string_equal(res->err, "domain xml: input of 4194305 bytes exceeds the limit of 4194304 bytes");
	assert_int_equal(vm_owner_parse(xml, len, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "owner metadata: input of 4194305 bytes exceeds the limit of 4194304 bytes");

	/* and exactly at the limit it parses */
	res->ret = vm_domxml_parse(xml, len - 1, &res->inv, res->err, sizeof(res->err), res->owner_err,
	                           sizeof(res->owner_err));
	assert_parsed(res);
	assert_string_equal(res->inv.name, "many");
	free(res);
	free(xml);
}

static void test_empty(void **state)
{
	struct result *res = parse_buf("", 0);
	struct vm_inventory *inv = vm_xcalloc(1, sizeof(*inv));
	char err[64];

	assert_int_equal(res->ret, -1);
	assert_string_equal(res->err, "domain xml: empty input");
	assert_int_equal(vm_domxml_parse(NULL, 0, inv, err, sizeof(err), NULL, 0), -1);
	assert_string_equal(err, "domain xml: empty input");
	free(inv);
	free(res);
}

/* The caller may pass no buffers, or small ones: messages are cut, never
 * overrun. */
static void test_error_buffers(void **state)
{
	struct vm_inventory *inv = vm_xcalloc(1, sizeof(*inv));
	size_t len;
	char *xml = read_data("bad/no-uuid.xml", &len);
	char small[8];

	assert_int_equal(vm_domxml_parse(xml, len, inv, NULL, 0, NULL, 0), -1);
	memset(small, 'x', sizeof(small));
	assert_int_equal(vm_domxml_parse(xml, len, inv, small, sizeof(small), NULL, 0), -1);
	assert_string_equal(small, "domain ");
	assert_int_equal(vm_domxml_parse(xml, len, inv, small, 1, NULL, 0), -1);
	assert_string_equal(small, "");
	free(xml);

	xml = read_data("owner-bad/empty-tenant.xml", &len);
	memset(small, 'x', sizeof(small));
	assert_int_equal(vm_domxml_parse(xml, len, inv, NULL, 0, small, sizeof(small)), 0);
	assert_string_equal(small, "owner m");
	assert_int_equal(vm_domxml_parse(xml, len, inv, NULL, 0, NULL, 0), 0);
	assert_int_equal(inv->owner.source, VM_OWNER_NONE);
	free(xml);
	free(inv);
}

/* ---------------------------------------------------------------- over limits */

/* A domain field over its limit: the parse succeeds, the field is empty,
 * the rest of the device and of the domain is kept. */
struct limits_case {
	const char *file;
	const char *limits;
	size_t n_disks, n_nics;
	size_t off;  /* offsetof the emptied field in struct vm_inventory */
	size_t keep; /* offsetof a field of the same device that is kept */
	const char *kept;
};

#define INV_OFF(member) offsetof(struct vm_inventory, member)

static const struct limits_case limits_cases[] = {
    {"limits/long-name.xml", "<name> over 255 bytes", 0, 0, INV_OFF(name), INV_OFF(uuid),
     "5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"},
    {"limits/long-disk-target.xml", "disk 2: <target dev> over 31 bytes", 2, 0, INV_OFF(disks[1].target),
     INV_OFF(disks[1].source), "/img/t1.qcow2"},
    {"limits/long-disk-bus.xml", "disk 1 (vda): <target bus> over 15 bytes", 1, 0, INV_OFF(disks[0].bus),
     INV_OFF(disks[0].target), "vda"},
    {"limits/long-disk-device.xml", "disk 1 (vda): <disk device> over 15 bytes", 1, 0, INV_OFF(disks[0].device),
     INV_OFF(disks[0].source), "/img/t1.qcow2"},
    {"limits/long-disk-source.xml", "disk 1 (vda): <source file> over 255 bytes", 1, 0, INV_OFF(disks[0].source),
     INV_OFF(disks[0].bus), "virtio"},
    {"limits/long-nic-mac.xml", "interface 1: <mac address> over 17 bytes", 0, 1, INV_OFF(nics[0].mac),
     INV_OFF(nics[0].target), "vnet0"},
    {"limits/long-nic-type.xml", "interface 1 (52:54:00:00:00:01): <interface type> over 15 bytes", 0, 1,
     INV_OFF(nics[0].type), INV_OFF(nics[0].source), "br0"},
    {"limits/long-nic-source.xml", "interface 1 (52:54:00:00:00:01): <source bridge> over 63 bytes", 0, 1,
     INV_OFF(nics[0].source), INV_OFF(nics[0].model), "virtio"},
    {"limits/long-nic-target.xml", "interface 1 (52:54:00:00:00:01): <target dev> over 63 bytes", 0, 1,
     INV_OFF(nics[0].target), INV_OFF(nics[0].type), "bridge"},
    {"limits/long-nic-model.xml", "interface 2 (52:54:00:00:00:01): <model type> over 31 bytes", 0, 2,
     INV_OFF(nics[1].model), INV_OFF(nics[1].target), "vnet0"},
};

static void test_limits_file(void **state)
{
	const struct limits_case *c = *state;
	struct result *res = parse_file(c->file);
	const char *base = (const char *)&res->inv;

	assert_parsed(res);
	assert_string_equal(res->inv.limits, c->limits);
	assert_int_equal(res->inv.memory_kib, 1048576);
	assert_int_equal(res->inv.n_disks, c->n_disks);
	assert_int_equal(res->inv.n_nics, c->n_nics);
	assert_string_equal(base + c->off, "");
	assert_string_equal(base + c->keep, c->kept);
	free(res);
}

/* The limits text is logged: a device id with a control character is left
 * out of it. */
static void test_limits_control_id(void **state)
{
	char src[300];
	char xml[1024];

	memset(src, 's', sizeof(src) - 1);
	src[0] = '/';
	src[sizeof(src) - 1] = '\0';
	snprintf(xml, sizeof(xml),
	         "%s<devices><disk><source file='%s'/><target dev='vd&#10;a'/></disk></devices></domain>", head, src);
	struct result *res = parse_str(xml);
	assert_parsed(res);
	assert_string_equal(res->inv.disks[0].target, "vd\na");
	assert_string_equal(res->inv.limits, "disk 1: <source file> over 255 bytes");
	free(res);
}

/* A domain within every limit says so with an empty text. */
static void test_limits_none(void **state)
{
	struct result *res = parse_file("qemu-full.xml");

	assert_parsed(res);
	assert_string_equal(res->inv.limits, "");
	free(res);
}

/* ---------------------------------------------------------------- nova */

static void test_nova(void **state)
{
	struct result *res = parse_file("nova.xml");
	const struct vm_owner *o = &res->inv.owner;

	assert_parsed(res);
	assert_string_equal(res->owner_err, "");
	assert_int_equal(o->source, VM_OWNER_NOVA);
	assert_string_equal(o->tenant, "995b4947cc4044fba99bade057053803");
	assert_string_equal(o->project, "");
	assert_string_equal(o->cost_centre, "");
	assert_int_equal(o->n_tags, 4);
	assert_string_equal(tag_value(o, "nova.project"), "shop");
	assert_string_equal(tag_value(o, "nova.user"), "alice");
	assert_string_equal(tag_value(o, "nova.user-id"), "5a86b1db33b64571953b2022186010fe");
	assert_string_equal(tag_value(o, "nova.flavor"), "m1.small");
	assert_string_equal(res->inv.name, "instance-00000042");
	assert_int_equal(res->inv.n_disks, 1);
	free(res);
}

/* Nova's older namespace; no user; a trimmed uuid; a non-ASCII flavor. */
static void test_nova_1_0(void **state)
{
	struct result *res = parse_file("nova-1.0.xml");
	const struct vm_owner *o = &res->inv.owner;

	assert_parsed(res);
	assert_string_equal(res->owner_err, "");
	assert_int_equal(o->source, VM_OWNER_NOVA);
	assert_string_equal(o->tenant, "faac34f01fb2464295bcea501b18b741");
	assert_int_equal(o->n_tags, 2);
	assert_string_equal(tag_value(o, "nova.project"), "demo");
	assert_string_equal(tag_value(o, "nova.flavor"), "1G/1\xe6\xa0\xb8");
	assert_null(tag_value(o, "nova.user"));
	free(res);
}

/* vmeter's own element comes first; when it is invalid, Nova's owner is
 * used and the problem still reported. */
static void test_nova_precedence(void **state)
{
	struct result *res = parse_file("nova-and-vmeter.xml");

	assert_parsed(res);
	assert_string_equal(res->owner_err, "");
	assert_int_equal(res->inv.owner.source, VM_OWNER_METADATA);
	assert_string_equal(res->inv.owner.tenant, "acme");
	assert_int_equal(res->inv.owner.n_tags, 0);
	free(res);

	res = parse_file("nova-vmeter-bad.xml");
	assert_parsed(res);
	assert_string_equal(res->owner_err, "owner metadata: no <tenant>");
	assert_int_equal(res->inv.owner.source, VM_OWNER_NOVA);
	assert_string_equal(res->inv.owner.tenant, "995b4947cc4044fba99bade057053803");
	free(res);
}

static const struct bad_case nova_bad_cases[] = {
    {"nova-bad/no-owner.xml", "nova metadata: no <owner><project>"},
    {"nova-bad/no-project.xml", "nova metadata: no <owner><project>"},
    {"nova-bad/project-without-uuid.xml", "nova metadata: <project> without a uuid"},
    {"nova-bad/empty-project-uuid.xml", "nova metadata: empty <project uuid>"},
    {"nova-bad/long-project-uuid.xml", "nova metadata: <project uuid> is longer than 63 bytes"},
    {"nova-bad/long-flavor.xml", "nova metadata: <flavor name> is longer than 255 bytes"},
    {"nova-bad/control-user.xml", "nova metadata: <user> contains a control character"},
    {"nova-bad/two-instances.xml", "nova metadata: more than one <instance> element"},
    {"nova-bad/two-owners.xml", "nova metadata: more than one <owner> element"},
    {"nova-bad/two-projects.xml", "nova metadata: more than one <project> element"},
};

/* Bad Nova metadata: the inventory is complete, the owner is NONE (the
 * collector falls back to the mappings and rules) and owner_err says why. */
static void test_nova_bad_file(void **state)
{
	const struct bad_case *c = *state;
	struct result *res = parse_file(c->file);
	static const struct vm_owner none;

	assert_parsed(res);
	assert_string_equal(res->inv.uuid, "5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b");
	assert_int_equal(res->inv.memory_kib, 1048576);
	assert_message(res->owner_err, c->err);
	assert_memory_equal(&res->inv.owner, &none, sizeof(none));
	free(res);
}

/* Both sources bad: both problems, joined. */
static void test_nova_both_bad(void **state)
{
	struct result *res =
	    parse_str("<domain><name>t</name><uuid>5b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b</uuid><metadata>"
	              "<owner xmlns='" VM_OWNER_NS "'/><instance xmlns='" VM_NOVA_NS "'/></metadata>"
	              "</domain>");

	assert_parsed(res);
	assert_string_equal(res->owner_err, "owner metadata: no <tenant>; nova metadata: no <owner><project>");
	assert_int_equal(res->inv.owner.source, VM_OWNER_NONE);
	free(res);
}

static void test_source_names(void **state)
{
	assert_string_equal(vm_owner_source_name(VM_OWNER_NONE), "none");
	assert_string_equal(vm_owner_source_name(VM_OWNER_METADATA), "metadata");
	assert_string_equal(vm_owner_source_name(VM_OWNER_CONFIG), "config");
	assert_string_equal(vm_owner_source_name(VM_OWNER_NOVA), "nova");
	assert_string_equal(vm_owner_source_name(VM_OWNER_MAPPING), "mapping");
	assert_string_equal(vm_owner_source_name((enum vm_owner_source)99), "none");
}

/* ---------------------------------------------------------------- mapping */

#define ACME_NS "http://acme.example/xmlns/vm/1"

/* The mapping of docs/METADATA.md's example, and one for a second
 * platform's element to fall back to. */
static void acme_maps(struct vm_owner_map m[2])
{
	memset(m, 0, 2 * sizeof(*m));
	m[0] = (struct vm_owner_map){.name = "acme",
	                             .ns = ACME_NS,
	                             .tenant = "/vm/owner/@account",
	                             .project = "/vm/owner/project",
	                             .cost_centre = "/vm/billing/@cc",
	                             .n_tags = 2};
	snprintf(m[0].tags[0].key, sizeof(m[0].tags[0].key), "env");
	snprintf(m[0].tags[0].value, sizeof(m[0].tags[0].value), "/vm/@environment");
	snprintf(m[0].tags[1].key, sizeof(m[0].tags[1].key), "rack");
	snprintf(m[0].tags[1].value, sizeof(m[0].tags[1].value), "/vm/placement/@rack");
	m[1] = (struct vm_owner_map){
	    .name = "legacy", .ns = "urn:example:legacy", .tenant = "/owner/tenant", .project = "", .cost_centre = ""};
}

struct map_result {
	struct vm_owner owner;
	char err[512];
	int ret;
};

static struct map_result *map_file(const char *name, size_t n_maps)
{
	struct map_result *res = vm_xcalloc(1, sizeof(*res));
	struct vm_owner_map *maps = vm_xcalloc(2, sizeof(*maps));
	size_t len;
	char path[128];
	char *xml;

	snprintf(path, sizeof(path), "owner-map/%s", name);
	xml = read_data(path, &len);
	acme_maps(maps);
	res->ret = vm_owner_map_apply(maps, n_maps, xml, len, &res->owner, res->err, sizeof(res->err));
	free(xml);
	free(maps);
	return res;
}

/* Attribute-style metadata: attributes for tenant, cost centre and a tag,
 * an element for the project; a tag whose attribute is absent is left out. */
static void test_map_attributes(void **state)
{
	struct map_result *res = map_file("acme.xml", 2);

	assert_int_equal(res->ret, 0);
	assert_string_equal(res->err, "");
	assert_int_equal(res->owner.source, VM_OWNER_MAPPING);
	assert_string_equal(res->owner.tenant, "ACC-1001");
	assert_string_equal(res->owner.project, "checkout");
	assert_string_equal(res->owner.cost_centre, "CC-77");
	assert_int_equal(res->owner.n_tags, 1);
	assert_string_equal(tag_value(&res->owner, "env"), "prod");
	free(res);
}

/* The prefix does not matter: a default namespace, or a qualified
 * attribute in the mapping's namespace, read the same. */
static void test_map_namespace_forms(void **state)
{
	struct map_result *res = map_file("default-ns.xml", 2);

	assert_int_equal(res->owner.source, VM_OWNER_MAPPING);
	assert_string_equal(res->owner.tenant, "ACC-2002");
	assert_string_equal(res->owner.project, "");
	assert_int_equal(res->owner.n_tags, 0);
	assert_string_equal(res->err, "");
	free(res);
	res = map_file("qualified-attr.xml", 2);
	assert_int_equal(res->owner.source, VM_OWNER_MAPPING);
	assert_string_equal(res->owner.tenant, "ACC-3003");
	free(res);
}

/* Not the mapping's namespace, or no mapping: no owner and nothing to say. */
static void test_map_absent(void **state)
{
	struct map_result *res = map_file("other-ns.xml", 2);
	struct vm_owner o;
	char err[64] = "x";

	assert_int_equal(res->ret, 0);
	assert_int_equal(res->owner.source, VM_OWNER_NONE);
	assert_string_equal(res->err, "");
	free(res);
	res = map_file("acme.xml", 0);
	assert_int_equal(res->ret, 0);
	assert_int_equal(res->owner.source, VM_OWNER_NONE);
	free(res);
	/* a domain without <metadata> */
	assert_int_equal(vm_owner_map_apply(NULL, 0, "<domain/>", 9, &o, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

struct map_bad_case {
	const char *file;
	const char *err;
	const char *fallback; /* the second mapping's tenant, or NULL */
};

static const struct map_bad_case map_bad_cases[] = {
    {"no-account.xml", "owner-metadata[acme]: no tenant at '/vm/owner/@account'", NULL},
    {"empty-account.xml", "owner-metadata[acme]: empty tenant at '/vm/owner/@account'", NULL},
    {"long-account.xml", "owner-metadata[acme]: tenant at '/vm/owner/@account' is longer than 63 bytes", "old-acc"},
    {"control-cc.xml", "owner-metadata[acme]: cost-centre at '/vm/billing/@cc' contains a control character", NULL},
    {"two-owners.xml", "owner-metadata[acme]: '/vm/owner/@account' matches more than one <owner> element", NULL},
    {"two-tops.xml", "owner-metadata[acme]: '/vm/owner/@account' matches more than one <vm> element", NULL},
    {"long-tag.xml", "owner-metadata[acme]: tag 'env' at '/vm/@environment' is longer than 255 bytes", NULL},
};

/* A value over its limit or with a control character is refused, never
 * cut: the mapping is skipped, said in err, and the next one tried. */
static void test_map_bad_file(void **state)
{
	const struct map_bad_case *c = *state;
	struct map_result *res = map_file(c->file, 2);

	assert_int_equal(res->ret, 0);
	assert_string_equal(res->err, c->err);
	if (c->fallback) {
		assert_int_equal(res->owner.source, VM_OWNER_MAPPING);
		assert_string_equal(res->owner.tenant, c->fallback);
		assert_int_equal(res->owner.n_tags, 0);
	} else {
		static const struct vm_owner none;
		assert_memory_equal(&res->owner, &none, sizeof(none));
	}
	free(res);
}

/* Not XML: -1 with the parser's message; a small err buffer is cut. */
static void test_map_not_xml(void **state)
{
	struct vm_owner_map maps[2];
	struct vm_owner o;
	char err[256], small[6];

	acme_maps(maps);
	assert_int_equal(vm_owner_map_apply(maps, 2, "<domain>", 8, &o, err, sizeof(err)), -1);
	assert_message(err, "owner-metadata: line 1: *");
	assert_int_equal(o.source, VM_OWNER_NONE);
	assert_int_equal(vm_owner_map_apply(maps, 2, "<domain>", 8, &o, NULL, 0), -1);
	static const char no_tenant[] = "<domain><metadata><vm xmlns='" ACME_NS "'><owner/></vm></metadata></domain>";
	assert_int_equal(vm_owner_map_apply(maps, 1, no_tenant, strlen(no_tenant), &o, small, sizeof(small)), 0);
	assert_string_equal(small, "owner");
}

struct path_case {
	const char *path;
	const char *why; /* NULL: valid */
};

static const struct path_case path_cases[] = {
    {"/vm", NULL},
    {"/vm/owner/@account", NULL},
    {"/vm/@environment", NULL},
    {"/v_1/a-b/c.d/@e-f", NULL},
    {"/\xc3\xa9l\xc3\xa9ment/@x", NULL},
    {"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", NULL},
    {"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", "must have at most 16 steps"},
    {"", "must start with '/' and the namespace's top element"},
    {"vm/owner", "must start with '/' and the namespace's top element"},
    {"/", "must not have an empty step"},
    {"/vm/", "must not have an empty step"},
    {"/vm//owner", "must not have an empty step"},
    {"/vm/@", "must not have an empty step"},
    {"/@account", "must name the top element before an attribute"},
    {"/vm/@a/b", "may have an @attribute only as its last step"},
    {"/vm/acme:owner", "must have XML names without prefix as steps"},
    {"/vm/owner[1]", "must have XML names without prefix as steps"},
    {"/vm/1owner", "must have XML names without prefix as steps"},
    {"/vm/*", "must have XML names without prefix as steps"},
    {"/vm/owner/text()", "must have XML names without prefix as steps"},
    {"/vm/ow ner", "must have XML names without prefix as steps"},
};

static void test_path_check(void **state)
{
	char longest[VM_OWNER_PATH_MAX + 2];

	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const char *why = vm_owner_path_check(path_cases[i].path);
		if (!path_cases[i].why && why)
			fail_msg("'%s': %s", path_cases[i].path, why);
		if (path_cases[i].why && (!why || strcmp(why, path_cases[i].why)))
			fail_msg("'%s': got '%s', want '%s'", path_cases[i].path, why ? why : "valid",
			         path_cases[i].why);
	}
	memset(longest, 'a', sizeof(longest) - 1);
	longest[0] = '/';
	longest[sizeof(longest) - 1] = '\0';
	assert_string_equal(vm_owner_path_check(longest), "must be at most 255 bytes long");
	longest[sizeof(longest) - 2] = '\0';
	assert_null(vm_owner_path_check(longest));
}

/* ---------------------------------------------------------------- garbage */

/* Every prefix of a real domain, each in a buffer of exactly that size. */
static void test_truncated(void **state)
{
	struct vm_inventory *inv = vm_xcalloc(1, sizeof(*inv));
	size_t len, end;
	char *xml = read_data("qemu-full.xml", &len);
	char err[256], owner_err[256];

	end = (size_t)(strstr(xml, "</domain>") - xml) + strlen("</domain>");
	for (size_t n = 0; n < len; n++) {
		char *part = dup_exact(xml, n);
		int ret = vm_domxml_parse(part, n, inv, err, sizeof(err), owner_err, sizeof(owner_err));

		free(part);
		if (n < end) {
			if (ret != -1 || !err[0])
				fail_msg("prefix of %zu bytes: ret %d, err '%s'", n, ret, err);
		} else {
			assert_int_equal(ret, 0);
			assert_int_equal(inv->n_disks, 2);
		}
	}
	free(xml);
	free(inv);
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* What is wrong with a parse result, or NULL.  Not an assertion: stderr is
 * redirected while these run, and cmocka reports there. */
static const char *insane(const struct vm_inventory *inv, int ret, const char *err)
{
	if (ret != 0)
		return ret == -1 && err[0] ? NULL : "failure without a message";
	if (strlen(inv->uuid) != 36)
		return "bad uuid accepted";
	if (inv->n_disks > VM_MAX_DISKS || inv->n_nics > VM_MAX_NICS || inv->owner.n_tags > VM_MAX_TAGS)
		return "limit exceeded";
	if (inv->vcpus > inv->max_vcpus)
		return "more vcpus than the maximum";
	return NULL;
}

/* Random bytes, and a real domain with random bytes changed, in exactly
 * sized buffers; whatever happens, nothing crashes and nothing is printed
 * to stderr. */
static void test_garbage(void **state)
{
	struct vm_inventory *inv = vm_xcalloc(1, sizeof(*inv));
	struct vm_owner *o = vm_xcalloc(1, sizeof(*o));
	size_t len;
	char *orig = read_data("qemu-full.xml", &len);
	char err[256], owner_err[256];
	FILE *capture = tmpfile();
	const char *problem = NULL;
	int saved = dup(2);

	assert_non_null(capture);
	fflush(stderr);
	assert_int_equal(dup2(fileno(capture), 2), 2);

	for (int i = 0; i < 300 && !problem; i++) {
		size_t n = rnd() % 2048;
		char *buf = vm_xmalloc(n ? n : 1);
		int ret;

		for (size_t j = 0; j < n; j++)
			buf[j] = (char)rnd();
		/* half of them look like XML at the start */
		if (i % 2 && n > 8)
			memcpy(buf, "<domain>", 8);
		ret = vm_domxml_parse(buf, n, inv, err, sizeof(err), owner_err, sizeof(owner_err));
		problem = insane(inv, ret, err);
		ret = vm_owner_parse(buf, n, o, err, sizeof(err));
		if (!problem && ret != 0 && (ret != -1 || !err[0]))
			problem = "owner failure without a message";
		free(buf);
	}
	for (int i = 0; i < 1000 && !problem; i++) {
		char *buf = dup_exact(orig, len);
		int flips = 1 + (int)(rnd() % 4), ret;

		for (int j = 0; j < flips; j++)
			buf[rnd() % len] = (char)rnd();
		ret = vm_domxml_parse(buf, len, inv, err, sizeof(err), owner_err, sizeof(owner_err));
		problem = insane(inv, ret, err);
		free(buf);
	}

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if (problem)
		fail_msg("%s (last error '%s')", problem, err);
	if (fseek(capture, 0, SEEK_END) != 0 || ftell(capture) != 0)
		fail_msg("the parser wrote to stderr");
	fclose(capture);
	free(orig);
	free(o);
	free(inv);
}

/* ---------------------------------------------------------------- owner */

static void test_owner_parse_virsh(void **state)
{
	struct vm_owner *o = vm_xcalloc(1, sizeof(*o));
	size_t len;
	char *xml = read_data("owner-virsh.xml", &len);
	char err[256];

	assert_int_equal(vm_owner_parse(xml, len, o, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(o->source, VM_OWNER_METADATA);
	assert_string_equal(o->tenant, "acme");
	assert_string_equal(o->project, "shop");
	assert_string_equal(o->cost_centre, "CC-4711");
	assert_int_equal(o->n_tags, 2);
	assert_string_equal(tag_value(o, "tier"), "web");
	free(xml);

	/* set with a default namespace: libvirt keeps a foreign child and a
	 * leftover prefix declaration */
	xml = read_data("owner-virsh-default-ns.xml", &len);
	assert_int_equal(vm_owner_parse(xml, len, o, err, sizeof(err)), 0);
	assert_string_equal(o->tenant, "acme");
	assert_string_equal(o->project, "");
	assert_int_equal(o->n_tags, 1);
	assert_string_equal(tag_value(o, "env"), "prod");
	free(xml);
	free(o);
}

struct owner_case {
	const char *xml;
	const char *err; /* NULL: parses, tenant "acme" */
};

static const struct owner_case owner_cases[] = {
    {"<owner><tenant>acme</tenant></owner>", NULL},
    {"<owner xmlns='" VM_OWNER_NS "'><tenant>acme</tenant></owner>", NULL},
    {"<v:owner xmlns:v='" VM_OWNER_NS "'><v:tenant>acme</v:tenant><v:tag name='a'>b</v:tag></v:owner>", NULL},
    {"<?xml version='1.0' encoding='UTF-8'?>\n<owner>\n<tenant>\tacme\t</tenant>\n</owner>\n", NULL},
    {"<owner><tenant><![CDATA[ac]]>me</tenant></owner>", NULL},
    {"<owner><tenant>a<!-- split -->cme</tenant></owner>", NULL},
    {"<owner><tenant>acme</tenant><x:y xmlns:x='urn:x'><tenant>no</tenant></x:y></owner>", NULL},
    {"<instance><tenant>acme</tenant></instance>",
     "owner metadata: root element is <instance>, expected <owner> in namespace " VM_OWNER_NS " or none"},
    {"<x:owner xmlns:x='urn:x'><x:tenant>acme</x:tenant></x:owner>",
     "owner metadata: root element is <owner>, expected <owner> in namespace " VM_OWNER_NS " or none"},
    {"<owner><tenant>acme</tenant>", "owner metadata: line 1: *"},
    {"", "owner metadata: empty input"},
    {"<!DOCTYPE owner><owner><tenant>acme</tenant></owner>",
     "owner metadata: document type declarations are not allowed"},
    {"<owner><tenant></tenant></owner>", "owner metadata: empty <tenant>"},
    {"<owner><tenant>acme</tenant><colour>red</colour></owner>", "owner metadata: unknown element <colour>"},
    {"<owner><tenant>acme</tenant><tag name='a'/><tag name='a'/></owner>", "owner metadata: duplicate <tag name='a'>"},
};

static void test_owner_parse_cases(void **state)
{
	struct vm_owner *o = vm_xcalloc(1, sizeof(*o));
	char err[256];

	for (size_t i = 0; i < sizeof(owner_cases) / sizeof(owner_cases[0]); i++) {
		const struct owner_case *c = &owner_cases[i];
		size_t len = strlen(c->xml);
		char *xml = dup_exact(c->xml, len);
		int ret = vm_owner_parse(xml, len, o, err, sizeof(err));

		free(xml);
		if (!c->err) {
			if (ret != 0)
				fail_msg("'%s': %s", c->xml, err);
			assert_int_equal(o->source, VM_OWNER_METADATA);
			assert_string_equal(o->tenant, "acme");
			continue;
		}
		if (ret != -1)
			fail_msg("'%s' parsed", c->xml);
		assert_message(err, c->err);
		assert_int_equal(o->source, VM_OWNER_NONE);
		assert_string_equal(o->tenant, "");
	}
	free(o);
}

/* libxml2 hands back UTF-8 whatever the declared encoding. */
static void test_owner_latin1(void **state)
{
	static const char xml[] = "<?xml version='1.0' encoding='ISO-8859-1'?>"
	                          "<owner><tenant>\xd6kom</tenant><tag name='caf\xe9'>\xa9</tag></owner>";
	struct vm_owner *o = vm_xcalloc(1, sizeof(*o));
	char err[256];

	assert_int_equal(vm_owner_parse(xml, sizeof(xml) - 1, o, err, sizeof(err)), 0);
	assert_string_equal(o->tenant, "\xc3\x96kom");
	assert_string_equal(o->tags[0].key, "caf\xc3\xa9");
	assert_string_equal(o->tags[0].value, "\xc2\xa9");
	free(o);
}

/* ---------------------------------------------------------------- differs */

static void test_differs(void **state)
{
	struct result *res = parse_file("qemu-full.xml");
	struct vm_inventory *a = &res->inv;
	struct vm_inventory *b = vm_xmalloc(sizeof(*b));

#define CHANGED(stmt)                                                                                                  \
	do {                                                                                                           \
		*b = *a;                                                                                               \
		stmt;                                                                                                  \
		if (vm_inv_same(a, b) || vm_inv_same(b, a))                                                            \
			fail_msg("no difference seen after %s", #stmt);                                                \
	} while (0)

	assert_parsed(res);
	*b = *a;
	assert_true(vm_inv_same(a, b));
	b->id = 42; /* a restart is no inventory change */
	assert_true(vm_inv_same(a, b));
	/* bytes after the terminator are not compared */
	*b = *a;
	memset(b->name + strlen(b->name) + 1, 'z', 8);
	memset(b->disks[1].source + strlen(b->disks[1].source) + 1, 'z', 8);
	assert_true(vm_inv_same(a, b));
	/* tags are a set */
	*b = *a;
	b->owner.tags[0] = a->owner.tags[2];
	b->owner.tags[2] = a->owner.tags[0];
	assert_true(vm_inv_same(a, b));

	CHANGED(b->uuid[0] = '0');
	CHANGED(strcpy(b->name, "web2"));
	CHANGED(b->vcpus = 3);
	CHANGED(b->max_vcpus = 8);
	CHANGED(b->memory_kib *= 2);
	CHANGED(b->current_memory_kib /= 2);
	CHANGED(b->n_disks = 1);
	CHANGED(strcpy(b->disks[1].target, "vdc"));
	CHANGED(strcpy(b->disks[1].bus, "scsi"));
	CHANGED(strcpy(b->disks[1].device, "lun"));
	CHANGED(strcpy(b->disks[0].source, "/var/lib/libvirt/images/other.qcow2"));
	CHANGED(b->disks[0].capacity = 21474836480ull);
	CHANGED(b->n_nics = 1);
	CHANGED(strcpy(b->nics[1].mac, "52:54:00:3a:9f:03"));
	CHANGED(strcpy(b->nics[1].target, "vnet14"));
	CHANGED(strcpy(b->nics[1].type, "bridge"));
	CHANGED(strcpy(b->nics[1].source, "br1"));
	CHANGED(strcpy(b->nics[1].model, "rtl8139"));
	CHANGED(b->owner.source = VM_OWNER_CONFIG);
	CHANGED(strcpy(b->owner.tenant, "globex"));
	CHANGED(strcpy(b->owner.project, ""));
	CHANGED(strcpy(b->owner.cost_centre, "CC-1"));
	CHANGED(b->owner.n_tags = 2);
	CHANGED(strcpy(b->owner.tags[1].value, "db"));
	CHANGED(strcpy(b->owner.tags[1].key, "role"));
#undef CHANGED
	free(b);
	free(res);
}

/* ---------------------------------------------------------------- main */

#define N_BAD (sizeof(bad_cases) / sizeof(bad_cases[0]))
#define N_OWNER_BAD (sizeof(owner_bad_cases) / sizeof(owner_bad_cases[0]))

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_default_domain),    cmocka_unit_test(test_default_domain_with_owner),
	    cmocka_unit_test(test_qemu_full),         cmocka_unit_test(test_devices_variety),
	    cmocka_unit_test(test_owner_unqualified), cmocka_unit_test(test_owner_default_ns),
	    cmocka_unit_test(test_owner_elsewhere),   cmocka_unit_test(test_units),
	    cmocka_unit_test(test_bad_values),        cmocka_unit_test(test_uuid_forms),
	    cmocka_unit_test(test_libxml_messages),   cmocka_unit_test(test_max_disks),
	    cmocka_unit_test(test_too_many_disks),    cmocka_unit_test(test_max_nics),
	    cmocka_unit_test(test_too_many_nics),     cmocka_unit_test(test_max_tags),
	    cmocka_unit_test(test_oversized),         cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_error_buffers),     cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_garbage),           cmocka_unit_test(test_owner_parse_virsh),
	    cmocka_unit_test(test_owner_parse_cases), cmocka_unit_test(test_owner_latin1),
	    cmocka_unit_test(test_differs),           cmocka_unit_test(test_limits_combined),
	    cmocka_unit_test(test_limits_overflow),   cmocka_unit_test(test_limits_none),
	    cmocka_unit_test(test_limits_control_id), cmocka_unit_test(test_nova),
	    cmocka_unit_test(test_nova_1_0),          cmocka_unit_test(test_nova_precedence),
	    cmocka_unit_test(test_nova_both_bad),     cmocka_unit_test(test_source_names),
	    cmocka_unit_test(test_map_attributes),    cmocka_unit_test(test_map_namespace_forms),
	    cmocka_unit_test(test_map_absent),        cmocka_unit_test(test_map_not_xml),
	    cmocka_unit_test(test_path_check),
	};
#define N_LIMITS (sizeof(limits_cases) / sizeof(limits_cases[0]))
#define N_NOVA_BAD (sizeof(nova_bad_cases) / sizeof(nova_bad_cases[0]))
#define N_MAP_BAD (sizeof(map_bad_cases) / sizeof(map_bad_cases[0]))
	/* one named test per data file, so TAP output names the file */
	struct CMUnitTest
	    tests[sizeof(fixed) / sizeof(fixed[0]) + N_BAD + N_OWNER_BAD + N_LIMITS + N_NOVA_BAD + N_MAP_BAD];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		tests[n++] = fixed[i];
	for (size_t i = 0; i < N_BAD; i++)
		tests[n++] = (struct CMUnitTest){bad_cases[i].file, test_bad_file, NULL, NULL, (void *)&bad_cases[i]};
	for (size_t i = 0; i < N_OWNER_BAD; i++)
		tests[n++] = (struct CMUnitTest){owner_bad_cases[i].file, test_owner_bad_file, NULL, NULL,
		                                 (void *)&owner_bad_cases[i]};
	for (size_t i = 0; i < N_LIMITS; i++)
		tests[n++] =
		    (struct CMUnitTest){limits_cases[i].file, test_limits_file, NULL, NULL, (void *)&limits_cases[i]};
	for (size_t i = 0; i < N_NOVA_BAD; i++)
		tests[n++] = (struct CMUnitTest){nova_bad_cases[i].file, test_nova_bad_file, NULL, NULL,
		                                 (void *)&nova_bad_cases[i]};
	for (size_t i = 0; i < N_MAP_BAD; i++)
		tests[n++] = (struct CMUnitTest){map_bad_cases[i].file, test_map_bad_file, NULL, NULL,
		                                 (void *)&map_bad_cases[i]};
	return _cmocka_run_group_tests("domxml", tests, n, NULL, NULL);
}
