/* lib/inventory: the JSON form round trips and is strict, the older spool
 * form still reads, and the digest sees every recorded field but the
 * domain id, tags as a set, and the host. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "xalloc.h"

static struct vm_inventory *sample(void)
{
	struct vm_inventory *a = vm_xcalloc(1, sizeof *a);
	snprintf(a->uuid, sizeof a->uuid, "11111111-1111-4111-8111-111111111111");
	snprintf(a->name, sizeof a->name, "web1");
	a->id = 7;
	a->vcpus = 2, a->max_vcpus = 4;
	a->memory_kib = 8388608, a->current_memory_kib = 4194304;
	a->n_disks = 1;
	snprintf(a->disks[0].target, sizeof a->disks[0].target, "vda");
	a->disks[0].capacity = UINT64_C(1) << 34;
	a->n_nics = 1;
	snprintf(a->nics[0].mac, sizeof a->nics[0].mac, "52:54:00:00:00:01");
	a->owner.source = VM_OWNER_NOVA;
	snprintf(a->owner.tenant, sizeof a->owner.tenant, "acme");
	a->owner.n_tags = 2;
	snprintf(a->owner.tags[0].key, sizeof a->owner.tags[0].key, "env");
	snprintf(a->owner.tags[0].value, sizeof a->owner.tags[0].value, "prod");
	snprintf(a->owner.tags[1].key, sizeof a->owner.tags[1].key, "app");
	snprintf(a->owner.tags[1].value, sizeof a->owner.tags[1].value, "shop");
	return a;
}

static void test_round_trip(void **state)
{
	struct vm_inventory *a = sample(), *b = vm_xmalloc(sizeof *b);
	char err[256];
	json_t *obj = vm_inv_to_json(a);
	assert_string_equal(json_string_value(json_object_get(json_object_get(obj, "owner"), "source")), "nova");
	assert_int_equal(vm_inv_from_json(obj, b, err, sizeof err), 0);
	assert_true(vm_inv_same(a, b));
	assert_int_equal(b->id, 7);
	/* strict: a field too long for its struct member */
	json_object_set_new(obj, "uuid", json_string("11111111-1111-4111-8111-1111111111112"));
	assert_int_equal(vm_inv_from_json(obj, b, err, sizeof err), -1);
	assert_non_null(strstr(err, "uuid"));
	json_decref(obj);
	free(a);
	free(b);
	(void)state;
}

/* Spool records written before the one JSON form: source a number, tags
 * an array of pairs. */
static void test_older_form(void **state)
{
	const char *text = "{\"uuid\":\"u\",\"name\":\"n\",\"id\":-1,\"vcpus\":1,\"max_vcpus\":1,\"memory_kib\":1,"
	                   "\"current_memory_kib\":1,\"disks\":[],\"nics\":[],\"owner\":{\"source\":1,\"tenant\":\"t\","
	                   "\"project\":\"\",\"cost_centre\":\"\",\"tags\":[[\"k\",\"v\"]]}}";
	json_t *obj = json_loads(text, 0, NULL);
	struct vm_inventory inv;
	char err[256];
	assert_int_equal(vm_inv_from_json(obj, &inv, err, sizeof err), 0);
	assert_int_equal(inv.owner.source, VM_OWNER_METADATA);
	assert_int_equal(inv.owner.n_tags, 1);
	assert_string_equal(inv.owner.tags[0].value, "v");
	json_decref(obj);
	(void)state;
}

static void test_digest(void **state)
{
	struct vm_inventory *a = sample(), *b = vm_xmalloc(sizeof *b);
	*b = *a;
	b->id = -1;
	snprintf(b->limits, sizeof b->limits, "73 disks, 64 kept");
	assert_true(vm_inv_digest(a, "h1") == vm_inv_digest(b, "h1"));
	b->owner.tags[0] = a->owner.tags[1];
	b->owner.tags[1] = a->owner.tags[0];
	assert_true(vm_inv_digest(a, "h1") == vm_inv_digest(b, "h1"));
	assert_true(vm_inv_digest(a, "h1") != vm_inv_digest(a, "h2"));
	assert_true(vm_inv_digest(a, "h1") != vm_inv_digest(a, NULL));
	b->disks[0].capacity++;
	assert_false(vm_inv_same(a, b));
	/* The value is stored in vm_inventory.digest: a change to it re-records
	 * every VM's state once, so it changes only on purpose. */
	assert_int_equal(vm_inv_digest(a, "h1"), UINT64_C(0x799c6f1407e7ac5a));
	free(a);
	free(b);
	(void)state;
}

static void test_host(void **state)
{
	struct vm_host_info h = {.hostname = "h1", .libvirt_uri = "qemu:///system", .cpus = 8, .memory_kib = 1 << 20},
	                    g;
	char err[256];
	json_t *obj = vm_host_to_json(&h);
	assert_int_equal(vm_host_from_json(obj, &g, err, sizeof err), 0);
	assert_memory_equal(&h, &g, sizeof h);
	json_object_set_new(obj, "cpus", json_integer(-1));
	assert_int_equal(vm_host_from_json(obj, &g, err, sizeof err), -1);
	json_decref(obj);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_older_form),
	    cmocka_unit_test(test_digest),
	    cmocka_unit_test(test_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
