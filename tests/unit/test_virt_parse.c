/* Parsing of libvirt bulk-stats records as a QEMU driver returns them
 * (field names from `virsh domstats` of a real TCG guest), including
 * fields this vmeter does not know. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "virt.h"
#include "virtevent.h"

static virTypedParameter ull(const char *name, unsigned long long v)
{
	virTypedParameter p;
	memset(&p, 0, sizeof p);
	snprintf(p.field, sizeof p.field, "%s", name);
	p.type = VIR_TYPED_PARAM_ULLONG;
	p.value.ul = v;
	return p;
}

static virTypedParameter str(const char *name, char *v)
{
	virTypedParameter p;
	memset(&p, 0, sizeof p);
	snprintf(p.field, sizeof p.field, "%s", name);
	p.type = VIR_TYPED_PARAM_STRING;
	p.value.s = v;
	return p;
}

static virTypedParameter i32(const char *name, int v)
{
	virTypedParameter p;
	memset(&p, 0, sizeof p);
	snprintf(p.field, sizeof p.field, "%s", name);
	p.type = VIR_TYPED_PARAM_INT;
	p.value.i = v;
	return p;
}

static void test_qemu_record(void **state)
{
	struct col_virt *v = *state;
	char vda[] = "vda", vdb[] = "vdb", tap[] = "tapvm0";
	virTypedParameter params[] = {
	    i32("state.state", 1),
	    i32("state.reason", 1),
	    ull("cpu.time", 18227258000ULL),
	    ull("cpu.user", 17000000000ULL),
	    ull("cpu.system", 1000000000ULL),
	    ull("balloon.current", 262144),
	    ull("balloon.maximum", 262144),
	    ull("balloon.rss", 228556),
	    ull("balloon.usable", 185484),
	    ull("balloon.available", 210860),
	    ull("balloon.unused", 182296),
	    ull("balloon.last-update", 1795400132),
	    ull("balloon.disk_caches", 2484),
	    i32("vcpu.current", 2),
	    i32("vcpu.maximum", 2),
	    i32("vcpu.0.state", 1),
	    ull("vcpu.0.time", 16960000000ULL),
	    ull("vcpu.0.wait", 5),
	    ull("vcpu.0.delay", 632522528ULL),
	    i32("vcpu.1.state", 1),
	    ull("vcpu.1.time", 40000000ULL),
	    ull("vcpu.1.delay", 1000ULL),
	    i32("net.count", 1),
	    str("net.0.name", tap),
	    ull("net.0.rx.bytes", 9728),
	    ull("net.0.rx.pkts", 100),
	    ull("net.0.tx.bytes", 4000),
	    ull("net.0.tx.drop", 2),
	    i32("block.count", 2),
	    str("block.0.name", vda),
	    ull("block.0.rd.reqs", 221),
	    ull("block.0.wr.bytes", 2097152),
	    ull("block.0.capacity", 67108864),
	    ull("block.0.physical", 4096),
	    str("block.1.name", vdb),
	    ull("block.1.wr.bytes", 1000),
	    ull("block.1.fl.times", 38239492),
	    ull("cpu.energy.monitor.0.joules", 12),
	};
	virDomainStatsRecord rec = {NULL, params, (int)(sizeof params / sizeof params[0])};
	struct col_vm_sample s;
	memset(&s, 0, sizeof s);
	col_virt_parse_record(v, &rec, &s);
	assert_int_equal(s.state, 1);
	assert_int_equal(s.v[COL_CPU_NS], 18227258000ULL);
	assert_int_equal(s.v[COL_CPU_USER_NS], 17000000000ULL);
	assert_int_equal(s.v[COL_VCPU_NS], 16960000000ULL + 40000000ULL);
	assert_int_equal(s.v[COL_VCPU_DELAY_NS], 632522528ULL + 1000ULL);
	assert_int_equal(s.v[COL_VCPU_WAIT_NS], 5);
	assert_int_equal(s.v[COL_VCPUS], 2);
	assert_int_equal(s.v[COL_RSS_KIB], 228556);
	assert_int_equal(s.v[COL_USABLE_KIB], 185484);
	assert_true(s.have & (1u << COL_BALLOON_MAX_KIB));
	assert_int_equal(s.n_nics, 1);
	assert_string_equal(s.nics[0].name, "tapvm0");
	assert_int_equal(s.nics[0].v[COL_NET_RX_BYTES], 9728);
	assert_int_equal(s.nics[0].v[COL_NET_TX_DROP], 2);
	assert_false(s.nics[0].have & (1u << COL_NET_RX_ERRS)); /* absent, not zero */
	assert_int_equal(s.n_disks, 2);
	assert_string_equal(s.disks[1].name, "vdb");
	assert_int_equal(s.disks[0].v[COL_DISK_WR_BYTES], 2097152);
	assert_int_equal(s.disks[0].v[COL_DISK_CAPACITY], 67108864);
	assert_int_equal(s.disks[1].v[COL_DISK_FL_NS], 38239492);
	assert_int_equal(col_virt_unknown_fields(v), 1);
}

/* A record without the optional groups (a guest without balloon driver, a
 * driver that gives state only) leaves those fields absent. */
static void test_sparse_record(void **state)
{
	struct col_virt *v = *state;
	virTypedParameter params[] = {i32("state.state", 3), ull("cpu.energy.monitor.0.joules", 1),
	                              ull("vcpu.7.time", 5), ull("block.999.rd.bytes", 7)};
	virDomainStatsRecord rec = {NULL, params, 4};
	struct col_vm_sample s;
	memset(&s, 0, sizeof s);
	col_virt_parse_record(v, &rec, &s);
	assert_int_equal(s.state, 3);
	assert_false(s.have & (1u << COL_CPU_NS));
	assert_false(s.have & (1u << COL_RSS_KIB));
	assert_int_equal(s.v[COL_VCPU_NS], 5);
	/* An index beyond the device limit is not a device (and not a crash). */
	assert_int_equal(s.n_disks, 0);
	/* The unknown field seen before is not logged again. */
	assert_int_equal(col_virt_unknown_fields(v), 2); /* block.999... is new and unknown */
}

/* The per-domain fallback against the test driver, which gives only
 * `state` in bulk and constant user/system time and memory statistics:
 * after COL_STEADY_READS unchanged reads those two calls rest until the
 * next minute, and the samples in between carry the values last read. */
static struct col_devices test_devs;
static struct col_vm_sample last;
static int n_samples;

static struct col_devices *devices(const char *uuid, void *arg)
{
	(void)uuid, (void)arg;
	return &test_devs;
}

static void on_sample(const struct col_vm_sample *s, void *arg)
{
	(void)arg;
	last = *s;
	n_samples++;
}

static void test_steady_fallback(void **state)
{
	struct col_virt *v = *state;
	bool fresh;
	assert_true(col_virt_ensure(v, &fresh));
	uint64_t made0, saved0, made, saved;
	col_virt_call_counts(v, &made0, &saved0);
	uint64_t user = 0, rss = 0;
	const int passes = 10;
	for (int i = 0; i < passes; i++) {
		assert_int_equal(col_virt_sample(v, devices, on_sample, NULL), 1);
		assert_true(last.have & (1u << COL_CPU_NS));
		assert_true(last.have & (1u << COL_CPU_USER_NS));
		assert_true(last.have & (1u << COL_RSS_KIB));
		if (i == 0)
			user = last.v[COL_CPU_USER_NS], rss = last.v[COL_RSS_KIB];
		/* Filled or read, the values are the driver's. */
		assert_int_equal(last.v[COL_CPU_USER_NS], user);
		assert_int_equal(last.v[COL_RSS_KIB], rss);
	}
	assert_int_equal(n_samples, passes);
	col_virt_call_counts(v, &made, &saved);
	/* Reads 1 to COL_STEADY_READS + 1 make both calls; the rest save
	 * both, less one read each if a minute began during the loop. */
	uint64_t want = 2 * (uint64_t)(passes - COL_STEADY_READS - 1);
	assert_in_range(saved - saved0, want - 2, want);
	/* GetInfo and GetVcpus every pass, the two steady calls when read. */
	assert_int_equal(made - made0, 2 * passes + 2 * passes - (saved - saved0));
	/* A new domain id (a restart) reads again at once. */
	test_devs.cpu.id = -2;
	col_virt_call_counts(v, &made0, &saved0);
	assert_int_equal(col_virt_sample(v, devices, on_sample, NULL), 1);
	col_virt_call_counts(v, &made, &saved);
	assert_int_equal(saved - saved0, 1); /* memory stats still rest */
	assert_int_equal(made - made0, 3);
}

static struct event_base *base;

/* ---------------------------------------------------------------- fan-out */

#define FLEET 40

/* One pass's samples, in the order the callback saw them. */
struct seen {
	struct col_vm_sample s[FLEET];
	size_t n;
	struct col_devices devs[FLEET];
	char disk[FLEET][8], nic[FLEET][16];
	char *disk_p[FLEET], *nic_p[FLEET];
	/* The listing: uuid, name, vCPUs, NIC target and the XML's length. */
	struct {
		char uuid[37], name[256], nic[64];
		unsigned vcpus;
		bool active;
		size_t xml_len;
	} listed[FLEET];
	size_t n_listed;
};

static void fleet_domain(const struct col_domain *d, void *arg)
{
	struct seen *w = arg;
	assert_true(w->n_listed < FLEET);
	assert_non_null(d->xml);
	assert_int_equal(strlen(d->xml), d->xml_len);
	__typeof__(w->listed[0]) *l = &w->listed[w->n_listed++];
	snprintf(l->uuid, sizeof l->uuid, "%s", d->inv.uuid);
	snprintf(l->name, sizeof l->name, "%s", d->inv.name);
	snprintf(l->nic, sizeof l->nic, "%s", d->inv.n_nics ? d->inv.nics[0].target : "");
	l->vcpus = d->inv.vcpus;
	l->active = d->active;
	l->xml_len = d->xml_len;
}

static struct col_devices *fleet_devices(const char *uuid, void *arg)
{
	struct seen *w = arg;
	unsigned k;
	if (sscanf(uuid, "bbbbbbbb-0000-4000-8000-%12u", &k) != 1 || k < 1 || k > FLEET)
		return NULL;
	return &w->devs[k - 1];
}

static void fleet_sample(const struct col_vm_sample *s, void *arg)
{
	struct seen *w = arg;
	assert_true(w->n < FLEET);
	w->s[w->n++] = *s;
}

static void seen_init(struct seen *w)
{
	memset(w, 0, sizeof *w);
	for (int k = 0; k < FLEET; k++) {
		snprintf(w->disk[k], sizeof w->disk[k], "vda");
		snprintf(w->nic[k], sizeof w->nic[k], "b%04d-nic0", k + 1);
		w->disk_p[k] = w->disk[k], w->nic_p[k] = w->nic[k];
		w->devs[k].disks = &w->disk_p[k], w->devs[k].n_disks = 1;
		w->devs[k].nics = &w->nic_p[k], w->devs[k].n_nics = 1;
	}
}

/* A listing and the same passes over a test-driver fleet with the calls on
 * one thread and on four: the same domains in the same order, the same
 * fields and devices, the same calls made and saved (but the typed block
 * call, which each worker may ask once before the driver's answer is
 * known).  The driver's counters run with the clock: values are not
 * compared, the gauges are. */
static void test_fanout_same_samples(void **state)
{
	(void)state;
	char path[] = "/tmp/vmeter-fleet-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "<node><cpu><mhz>2400</mhz><model>x86_64</model><active>4</active><nodes>1</nodes>"
	           "<sockets>1</sockets><cores>4</cores><threads>1</threads></cpu><memory>8388608</memory>\n");
	for (int k = 1; k <= FLEET; k++)
		fprintf(f,
		        "<domain type='test'><name>fan-%04d</name><uuid>bbbbbbbb-0000-4000-8000-%012d</uuid>"
		        "<memory unit='MiB'>%d</memory><currentMemory unit='MiB'>%d</currentMemory><vcpu>%d</vcpu>"
		        "<os><type arch='x86_64'>hvm</type></os><devices>"
		        "<disk type='file' device='disk'><source file='/var/lib/images/fan-%04d.qcow2'/>"
		        "<target dev='vda' bus='virtio'/></disk>"
		        "<interface type='network'><mac address='52:54:00:00:%02x:01'/><source network='default'/>"
		        "<target dev='b%04d-nic0'/></interface></devices></domain>\n",
		        k, k, 256 + k, 256 + k, 1 + k % 4, k, k, k);
	fprintf(f, "</node>\n");
	fclose(f);
	char uri[64];
	snprintf(uri, sizeof uri, "test://%s", path);

	struct seen *w[2];
	uint64_t made[2], saved[2];
	unsigned threads[2] = {1, 4};
	for (int t = 0; t < 2; t++) {
		struct col_virt *v = col_virt_new(uri, 1, threads[t], base, NULL, NULL);
		bool fresh;
		assert_true(col_virt_ensure(v, &fresh));
		w[t] = malloc(sizeof *w[t]);
		seen_init(w[t]);
		assert_int_equal(col_virt_list(v, fleet_domain, w[t]), FLEET);
		for (int pass = 0; pass < 6; pass++) {
			w[t]->n = 0;
			assert_int_equal(col_virt_sample(v, fleet_devices, fleet_sample, w[t]), FLEET);
			assert_int_equal(w[t]->n, FLEET);
		}
		col_virt_call_counts(v, &made[t], &saved[t]);
		col_virt_free(v);
	}
	unlink(path);
	for (size_t i = 0; i < FLEET; i++) {
		assert_string_equal(w[0]->listed[i].uuid, w[1]->listed[i].uuid);
		assert_string_equal(w[0]->listed[i].name, w[1]->listed[i].name);
		assert_string_equal(w[0]->listed[i].nic, w[1]->listed[i].nic);
		assert_int_equal(w[0]->listed[i].vcpus, w[1]->listed[i].vcpus);
		unsigned k = 0;
		assert_int_equal(sscanf(w[0]->listed[i].name, "fan-%4u", &k), 1);
		assert_int_equal(w[0]->listed[i].vcpus, 1 + k % 4);
		assert_true(w[0]->listed[i].active && w[1]->listed[i].active);
		assert_int_equal(w[0]->listed[i].xml_len, w[1]->listed[i].xml_len);
	}
	for (size_t i = 0; i < FLEET; i++) {
		const struct col_vm_sample *a = &w[0]->s[i], *b = &w[1]->s[i];
		assert_string_equal(a->uuid, b->uuid);
		assert_string_equal(a->name, b->name);
		assert_int_equal(a->id, b->id);
		assert_int_equal(a->state, b->state);
		assert_int_equal(a->have, b->have);
		assert_true(a->have & (1u << COL_CPU_NS));
		for (int fld = COL_VCPUS; fld < COL_VM__COUNT; fld++)
			assert_int_equal(a->v[fld], b->v[fld]);
		assert_int_equal(a->n_disks, 1);
		assert_int_equal(a->n_disks, b->n_disks);
		assert_int_equal(a->n_nics, 1);
		assert_int_equal(a->n_nics, b->n_nics);
		assert_string_equal(a->disks[0].name, b->disks[0].name);
		assert_int_equal(a->disks[0].have, b->disks[0].have);
		assert_string_equal(a->nics[0].name, b->nics[0].name);
		assert_int_equal(a->nics[0].have, b->nics[0].have);
		/* The steady rule's state is the same after the passes. */
		assert_int_equal(w[0]->devs[i].cpu.same, w[1]->devs[i].cpu.same);
		assert_int_equal(w[0]->devs[i].mem.same, w[1]->devs[i].mem.same);
	}
	assert_int_equal(saved[0], saved[1]);
	assert_in_range(made[1], made[0], made[0] + 3);
	free(w[0]);
	free(w[1]);
}

static int setup(void **state)
{
	vm_log_set_level(VM_LOG_ERR);
	base = event_base_new();
	*state = col_virt_new("test:///default", 1, 1, base, NULL, NULL);
	return 0;
}

static int teardown(void **state)
{
	col_virt_free(*state);
	col_virtevent_shutdown();
	event_base_free(base);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_qemu_record),
	    cmocka_unit_test(test_sparse_record),
	    cmocka_unit_test(test_steady_fallback),
	    cmocka_unit_test(test_fanout_same_samples),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
