/* Spool record encoding: round trips, and strict rejection of anything
 * that is not exactly a record (truncation at every byte, trailing bytes,
 * random bytes, over-long fields). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "vtime.h"
#include "xalloc.h"

#define T0 (INT64_C(1800000000) / 60 * 60 * VM_NS_PER_SEC)

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static struct vm_usage_row random_row(const struct vm_meter_set *set)
{
	struct vm_usage_row r;
	memset(&r, 0, sizeof r);
	r.set = set;
	r.minute_ns = T0 + (int64_t)(next() % 100000) * VM_NS_PER_MIN;
	r.coverage_ms = (int32_t)(next() % 60001);
	r.samples = (int32_t)(next() % 7);
	r.late = next() % 3 ? 0 : next();
	r.have = next() & ((UINT64_C(1) << set->n) - 1);
	for (size_t i = 0; i < set->n; i++) {
		if (!(r.have & (UINT64_C(1) << i)))
			continue;
		/* Values of every size, the largest included. */
		uint64_t v = next() >> (next() % 64);
		if (i < set->n_counters)
			r.sum[i] = v;
		else
			r.avg[i] = v, r.max[i] = v | (next() >> 1);
	}
	return r;
}

static void test_usage_round_trip(void **state)
{
	uint8_t buf[VM_RECORD_USAGE_MAX];
	char err[256];
	for (int k = 0; k < 2000; k++) {
		const struct vm_meter_set *set = k % 3 ? vm_usage_vm_meters() : vm_usage_host_meters();
		struct vm_usage_row row = random_row(set);
		const char *uuid = set == vm_usage_vm_meters() ? "0a1b2c3d-4e5f-4a6b-8c7d-8e9f00112233" : NULL;
		size_t n = vm_record_encode_usage(uuid, &row, buf);
		assert_true(n <= VM_RECORD_USAGE_MAX);
		assert_int_equal(vm_record_kind(buf, n), VM_REC_USAGE);
		struct vm_db_usage out;
		assert_int_equal(vm_record_decode_usage(buf, n, &out, err, sizeof err), 0);
		assert_string_equal(out.uuid, uuid ? uuid : "");
		assert_ptr_equal(out.row.set, set);
		assert_int_equal(out.row.minute_ns, row.minute_ns);
		assert_int_equal(out.row.coverage_ms, row.coverage_ms);
		assert_int_equal(out.row.samples, row.samples);
		assert_int_equal(out.row.late, row.late);
		assert_int_equal(out.row.have, row.have);
		assert_memory_equal(out.row.sum, row.sum, sizeof row.sum);
		assert_memory_equal(out.row.avg, row.avg, sizeof row.avg);
		assert_memory_equal(out.row.max, row.max, sizeof row.max);
	}
}

static void test_usage_strict(void **state)
{
	uint8_t buf[VM_RECORD_USAGE_MAX + 1];
	char err[256];
	struct vm_db_usage out;
	struct vm_usage_row row = random_row(vm_usage_vm_meters());
	row.have |= 1; /* at least one meter */
	size_t n = vm_record_encode_usage("0a1b2c3d-4e5f-4a6b-8c7d-8e9f00112233", &row, buf);
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(vm_record_decode_usage(buf, cut, &out, err, sizeof err), -1);
	buf[n] = 0;
	assert_int_equal(vm_record_decode_usage(buf, n + 1, &out, err, sizeof err), -1);
	assert_non_null(strstr(err, "after the last meter"));
	uint8_t bad[VM_RECORD_USAGE_MAX];
	memcpy(bad, buf, n);
	bad[0] = VM_RECORD_VERSION + 1;
	assert_int_equal(vm_record_decode_usage(bad, n, &out, err, sizeof err), -1);
	memcpy(bad, buf, n);
	bad[2] = 0x80; /* unknown flag */
	assert_int_equal(vm_record_decode_usage(bad, n, &out, err, sizeof err), -1);
	assert_non_null(strstr(err, "flags"));
	/* coverage over a minute */
	row.coverage_ms = 60001;
	n = vm_record_encode_usage("0a1b2c3d-4e5f-4a6b-8c7d-8e9f00112233", &row, buf);
	assert_int_equal(vm_record_decode_usage(buf, n, &out, err, sizeof err), -1);
	/* a minute that is not on a minute */
	row.coverage_ms = 1;
	row.minute_ns += 1;
	n = vm_record_encode_usage("0a1b2c3d-4e5f-4a6b-8c7d-8e9f00112233", &row, buf);
	assert_int_equal(vm_record_decode_usage(buf, n, &out, err, sizeof err), -1);
}

/* The host's energy rows: a flag of their own beside the host's, so that
 * host and VM records written before it decode as they always did. */
static void test_usage_power(void **state)
{
	uint8_t buf[VM_RECORD_USAGE_MAX];
	char err[256];
	struct vm_db_usage out;
	struct vm_usage_row row = random_row(vm_usage_power_meters());
	row.have = 1;
	row.sum[POWER_M_ENERGY_UJ] = UINT64_C(123456789012);
	size_t n = vm_record_encode_usage(NULL, &row, buf);
	assert_int_equal(buf[2], 3); /* host | power */
	assert_int_equal(vm_record_decode_usage(buf, n, &out, err, sizeof err), 0);
	assert_ptr_equal(out.row.set, vm_usage_power_meters());
	assert_string_equal(out.uuid, "");
	assert_int_equal(out.row.sum[POWER_M_ENERGY_UJ], UINT64_C(123456789012));
	assert_int_equal(out.row.minute_ns, row.minute_ns);
	assert_int_equal(out.row.coverage_ms, row.coverage_ms);
	/* A meter the set does not have. */
	row.have = 3;
	n = vm_record_encode_usage(NULL, &row, buf);
	assert_int_equal(vm_record_decode_usage(buf, n, &out, err, sizeof err), -1);
	assert_non_null(strstr(err, "beyond the 1 meters"));
	/* Power without host is no record of ours. */
	row.have = 1;
	n = vm_record_encode_usage(NULL, &row, buf);
	buf[2] = 2;
	assert_int_equal(vm_record_decode_usage(buf, n, &out, err, sizeof err), -1);
	assert_non_null(strstr(err, "flags"));

	/* A host record as every earlier collector wrote it (flags 1), byte
	 * for byte: still the host's meters. */
	static const uint8_t old_host[] = {1,    1,    1, 0, 0, 0, 0, 0,   0,   0,   0,   0,   0,  0,
	                                   0,    0,    0, 0, 0, 0, 0, 180, 147, 118, 226, 250, 24, /* minute */
	                                   0x60, 0xea, 0, 0,                                       /* coverage */
	                                   6,    0,    0, 0,                                       /* samples */
	                                   0,    1,    42}; /* late, meters, capacity */
	assert_int_equal(vm_record_decode_usage(old_host, sizeof old_host, &out, err, sizeof err), 0);
	assert_ptr_equal(out.row.set, vm_usage_host_meters());
	assert_int_equal(out.row.coverage_ms, 60000);
	assert_int_equal(out.row.samples, 6);
	assert_int_equal(out.row.sum[HOST_M_CPU_CAPACITY_NS], 42);
}

static void test_random_bytes(void **state)
{
	uint8_t buf[256];
	char err[256];
	struct vm_db_usage out;
	struct vm_inventory *inv = vm_xmalloc(sizeof *inv);
	struct vm_record_event ev;
	struct vm_db_traffic tr;
	struct vm_db_host_capture hc;
	static struct vm_db_traffic_class classes[VM_RECORD_TRAFFIC_MAX_CLASSES];
	int64_t at;
	for (int k = 0; k < 20000; k++) {
		size_t n = next() % sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)next();
		if (n >= 2 && k % 2) {
			buf[0] = VM_RECORD_VERSION;
			buf[1] = (uint8_t)(1 + k % 6);
		}
		/* Whatever the bytes, no crash, no read past n (ASan). */
		(void)vm_record_decode_usage(buf, n, &out, err, sizeof err);
		(void)vm_record_decode_inventory(buf, n, inv, &at, err, sizeof err);
		(void)vm_record_decode_event(buf, n, &ev, err, sizeof err);
		(void)vm_record_decode_traffic(buf, n, &tr, classes, err, sizeof err);
		(void)vm_record_decode_host_capture(buf, n, &hc, err, sizeof err);
	}
	free(inv);
}

static void test_inventory_round_trip(void **state)
{
	struct vm_inventory *a = vm_xcalloc(1, sizeof *a), *b = vm_xmalloc(sizeof *b);
	snprintf(a->uuid, sizeof a->uuid, "11111111-1111-4111-8111-111111111111");
	snprintf(a->name, sizeof a->name, "web \"1\"\n");
	a->id = 7;
	a->vcpus = 2, a->max_vcpus = 4;
	a->memory_kib = 8388608, a->current_memory_kib = 4194304;
	a->n_disks = 2;
	snprintf(a->disks[0].target, sizeof a->disks[0].target, "vda");
	snprintf(a->disks[1].source, sizeof a->disks[1].source, "/var/lib/images/x.qcow2");
	a->disks[1].capacity = UINT64_C(1) << 40;
	a->n_nics = 1;
	snprintf(a->nics[0].mac, sizeof a->nics[0].mac, "52:54:00:00:00:01");
	a->owner.source = VM_OWNER_METADATA;
	snprintf(a->owner.tenant, sizeof a->owner.tenant, "acme");
	a->owner.n_tags = 2;
	snprintf(a->owner.tags[0].key, sizeof a->owner.tags[0].key, "env");
	snprintf(a->owner.tags[0].value, sizeof a->owner.tags[0].value, "prod");
	snprintf(a->owner.tags[1].key, sizeof a->owner.tags[1].key,
	         "t\xc3\xa9"
	         "am");
	size_t len;
	uint8_t *rec = vm_record_encode_inventory(a, T0 + 123, &len);
	char err[256];
	int64_t at;
	assert_int_equal(vm_record_decode_inventory(rec, len, b, &at, err, sizeof err), 0);
	assert_int_equal(at, T0 + 123);
	assert_true(vm_inv_same(a, b));
	assert_int_equal(b->id, 7);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(vm_record_decode_inventory(rec, cut, b, &at, err, sizeof err), -1);
	free(rec);
	/* A name longer than the field is refused, not cut. */
	const char *json = "\x01\x02{\"at\":1,\"uuid\":\"u\",\"name\":\"n\",\"id\":-2}";
	assert_int_equal(vm_record_decode_inventory(json, strlen(json), b, &at, err, sizeof err), -1);
	assert_non_null(strstr(err, "'id'"));
	free(a);
	free(b);
}

static void test_event_and_host(void **state)
{
	struct vm_record_event ev = {"22222222-2222-4222-8222-222222222222", T0, "stopped", "destroyed"}, out;
	size_t len;
	char err[256];
	uint8_t *rec = vm_record_encode_event(&ev, &len);
	assert_int_equal(vm_record_kind(rec, len), VM_REC_EVENT);
	assert_int_equal(vm_record_decode_event(rec, len, &out, err, sizeof err), 0);
	/* Field by field: padding bytes are not part of the value. */
	assert_string_equal(ev.uuid, out.uuid);
	assert_int_equal(ev.at_ns, out.at_ns);
	assert_string_equal(ev.event, out.event);
	assert_string_equal(ev.detail, out.detail);
	assert_int_equal(vm_record_decode_usage(rec, len, &(struct vm_db_usage){0}, err, sizeof err), -1);
	free(rec);
	struct vm_host_info h = {"hv1", "qemu:///system", 16, 2400, 2, 2, 8, 2, 67108864, "EPYC"}, h2;
	int64_t at;
	rec = vm_record_encode_host(&h, T0, &len);
	assert_int_equal(vm_record_decode_host(rec, len, &h2, &at, err, sizeof err), 0);
	assert_string_equal(h.hostname, h2.hostname);
	assert_string_equal(h.libvirt_uri, h2.libvirt_uri);
	assert_string_equal(h.cpu_model, h2.cpu_model);
	assert_true(h.cpus == h2.cpus && h.mhz == h2.mhz && h.numa_nodes == h2.numa_nodes && h.sockets == h2.sockets &&
	            h.cores == h2.cores && h.threads == h2.threads && h.memory_kib == h2.memory_kib);
	assert_int_equal(at, T0);
	free(rec);
	const char *dup = "\x01\x03{\"uuid\":\"a\",\"uuid\":\"b\",\"at\":1,\"event\":\"x\",\"detail\":\"\"}";
	assert_int_equal(vm_record_decode_event(dup, strlen(dup), &out, err, sizeof err), -1);
}

static const char *const class_names[] = {"internet",  "peering", "non-ip",
                                          "malformed", "a",       "x_long-name_0123456789abcdefghi"};

static void test_traffic_round_trip(void **state)
{
	(void)state;
	char err[256];
	static struct vm_db_traffic_class in[VM_RECORD_TRAFFIC_MAX_CLASSES], got[VM_RECORD_TRAFFIC_MAX_CLASSES];
	for (int k = 0; k < 500; k++) {
		struct vm_db_traffic tr = {.uuid = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f00112233"};
		tr.minute_ns = T0 + (int64_t)(next() % 100000) * VM_NS_PER_MIN;
		tr.captured_ms = (int32_t)(next() % 60001);
		tr.have_libvirt_rx = next() % 2, tr.have_libvirt_tx = next() % 2;
		tr.libvirt_rx_bytes = tr.have_libvirt_rx ? next() >> (next() % 64) : 0;
		tr.libvirt_tx_bytes = tr.have_libvirt_tx ? next() >> (next() % 64) : 0;
		tr.n_classes = k == 0 ? VM_RECORD_TRAFFIC_MAX_CLASSES : next() % 8;
		for (size_t i = 0; i < tr.n_classes; i++) {
			memset(&in[i], 0, sizeof in[i]);
			snprintf(in[i].name, sizeof in[i].name, "%s", class_names[(i + (size_t)k) % 6]);
			in[i].rx_bytes = next() >> (next() % 64), in[i].tx_bytes = next() >> (next() % 64);
			in[i].rx_packets = next() >> (next() % 64), in[i].tx_packets = UINT64_MAX;
		}
		tr.classes = in;
		size_t len;
		uint8_t *rec = vm_record_encode_traffic(&tr, &len);
		assert_int_equal(vm_record_kind(rec, len), VM_REC_TRAFFIC);
		struct vm_db_traffic out;
		assert_int_equal(vm_record_decode_traffic(rec, len, &out, got, err, sizeof err), 0);
		assert_string_equal(out.uuid, tr.uuid);
		assert_int_equal(out.minute_ns, tr.minute_ns);
		assert_int_equal(out.captured_ms, tr.captured_ms);
		assert_int_equal(out.have_libvirt_rx, tr.have_libvirt_rx);
		assert_int_equal(out.have_libvirt_tx, tr.have_libvirt_tx);
		assert_int_equal(out.libvirt_rx_bytes, tr.libvirt_rx_bytes);
		assert_int_equal(out.libvirt_tx_bytes, tr.libvirt_tx_bytes);
		assert_int_equal(out.n_classes, tr.n_classes);
		assert_ptr_equal(out.classes, got);
		for (size_t i = 0; i < tr.n_classes; i++)
			assert_memory_equal(&got[i], &in[i], sizeof in[i]);
		free(rec);
	}
}

static void test_traffic_strict(void **state)
{
	(void)state;
	char err[256];
	struct vm_db_traffic_class in[2] = {{"internet", 1500, 60, 1, 1}, {"peering", 0, 1 << 20, 0, 700}};
	struct vm_db_traffic tr = {.uuid = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f00112233",
	                           .minute_ns = T0,
	                           .captured_ms = 60000,
	                           .have_libvirt_rx = true,
	                           .libvirt_rx_bytes = 99,
	                           .classes = in,
	                           .n_classes = 2};
	static struct vm_db_traffic_class got[VM_RECORD_TRAFFIC_MAX_CLASSES];
	struct vm_db_traffic out;
	size_t len;
	uint8_t *rec = vm_record_encode_traffic(&tr, &len);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(vm_record_decode_traffic(rec, cut, &out, got, err, sizeof err), -1);
	uint8_t *bad = vm_xmalloc(len + 1);
	memcpy(bad, rec, len);
	bad[len] = 0;
	assert_int_equal(vm_record_decode_traffic(bad, len + 1, &out, got, err, sizeof err), -1);
	assert_non_null(strstr(err, "after the last class"));
	memcpy(bad, rec, len);
	bad[2] = 0x80;
	assert_int_equal(vm_record_decode_traffic(bad, len, &out, got, err, sizeof err), -1);
	assert_non_null(strstr(err, "flags"));
	/* A class name that no configuration could hold: upper case, and a
	 * NUL inside the stated length. */
	memcpy(bad, rec, len);
	size_t name_at = 2 + 1 + 16 + 8 + 4 + 1 + 1 + 1; /* ... libvirt rx (1 byte), class count, name length */
	assert_int_equal(bad[name_at - 1], 8);
	bad[name_at] = 'I';
	assert_int_equal(vm_record_decode_traffic(bad, len, &out, got, err, sizeof err), -1);
	assert_non_null(strstr(err, "name"));
	memcpy(bad, rec, len);
	bad[name_at + 3] = 0;
	assert_int_equal(vm_record_decode_traffic(bad, len, &out, got, err, sizeof err), -1);
	free(rec);
	free(bad);
	/* Out of range: captured time over a minute, a minute off the minute,
	 * too many classes. */
	tr.captured_ms = 60001;
	rec = vm_record_encode_traffic(&tr, &len);
	assert_int_equal(vm_record_decode_traffic(rec, len, &out, got, err, sizeof err), -1);
	free(rec);
	tr.captured_ms = 1, tr.minute_ns += 1;
	rec = vm_record_encode_traffic(&tr, &len);
	assert_int_equal(vm_record_decode_traffic(rec, len, &out, got, err, sizeof err), -1);
	free(rec);
	uint8_t many[] = {
	    VM_RECORD_VERSION, VM_REC_TRAFFIC, 0, [3 ... 18] = 0, [19 ... 26] = 0, 0, 0, 0, 0, 0x81, 0x02};
	assert_int_equal(vm_record_decode_traffic(many, sizeof many, &out, got, err, sizeof err), -1);
	assert_non_null(strstr(err, "classes"));
}

static void test_host_capture(void **state)
{
	(void)state;
	char err[256];
	uint8_t buf[VM_RECORD_HOST_CAPTURE_MAX + 1];
	struct vm_db_host_capture hc = {T0 + 7 * VM_NS_PER_MIN, UINT64_MAX, 12, 0, 60000}, out;
	size_t n = vm_record_encode_host_capture(&hc, buf);
	assert_true(n <= VM_RECORD_HOST_CAPTURE_MAX);
	assert_int_equal(vm_record_kind(buf, n), VM_REC_HOST_CAPTURE);
	assert_int_equal(vm_record_decode_host_capture(buf, n, &out, err, sizeof err), 0);
	assert_int_equal(out.minute_ns, hc.minute_ns);
	assert_int_equal(out.frames, hc.frames);
	assert_int_equal(out.drops, hc.drops);
	assert_int_equal(out.ifdrops, hc.ifdrops);
	assert_int_equal(out.uncovered_ms, hc.uncovered_ms);
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(vm_record_decode_host_capture(buf, cut, &out, err, sizeof err), -1);
	buf[n] = 0;
	assert_int_equal(vm_record_decode_host_capture(buf, n + 1, &out, err, sizeof err), -1);
	hc.uncovered_ms = 60001;
	n = vm_record_encode_host_capture(&hc, buf);
	assert_int_equal(vm_record_decode_host_capture(buf, n, &out, err, sizeof err), -1);
	/* The other decoders refuse it. */
	struct vm_db_usage u;
	assert_int_equal(vm_record_decode_usage(buf, n, &u, err, sizeof err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_usage_round_trip),     cmocka_unit_test(test_usage_strict),
	    cmocka_unit_test(test_usage_power),          cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_inventory_round_trip), cmocka_unit_test(test_event_and_host),
	    cmocka_unit_test(test_traffic_round_trip),   cmocka_unit_test(test_traffic_strict),
	    cmocka_unit_test(test_host_capture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
