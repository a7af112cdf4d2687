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

static int setup(void **state)
{
	vm_log_set_level(VM_LOG_ERR);
	base = event_base_new();
	*state = col_virt_new("test:///default", 1, base, NULL, NULL);
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
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
