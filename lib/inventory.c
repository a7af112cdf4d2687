#include "config.h"

#include "inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *vm_owner_source_name(enum vm_owner_source source)
{
	switch (source) {
	case VM_OWNER_NONE: break;
	case VM_OWNER_METADATA: return "metadata";
	case VM_OWNER_CONFIG: return "config";
	case VM_OWNER_NOVA: return "nova";
	case VM_OWNER_MAPPING: return "mapping";
	}
	return "none";
}

int vm_owner_source_parse(const char *name)
{
	for (int s = VM_OWNER_NONE; s <= VM_OWNER_SOURCE_LAST; s++)
		if (!strcmp(name, vm_owner_source_name((enum vm_owner_source)s)))
			return s;
	return -1;
}

/* ---------------------------------------------------------------- to JSON */

json_t *vm_inv_to_json(const struct vm_inventory *inv)
{
	json_t *disks = json_array(), *nics = json_array(), *tags = json_object();
	for (size_t i = 0; i < inv->n_disks; i++) {
		const struct vm_disk *d = &inv->disks[i];
		json_array_append_new(disks, json_pack("{s:s, s:s, s:s, s:s, s:I}", "target", d->target, "bus", d->bus,
		                                       "device", d->device, "source", d->source, "capacity",
		                                       (json_int_t)d->capacity));
	}
	for (size_t i = 0; i < inv->n_nics; i++) {
		const struct vm_nic *c = &inv->nics[i];
		json_array_append_new(nics, json_pack("{s:s, s:s, s:s, s:s, s:s}", "mac", c->mac, "target", c->target,
		                                      "type", c->type, "source", c->source, "model", c->model));
	}
	for (size_t i = 0; i < inv->owner.n_tags; i++)
		json_object_set_new(tags, inv->owner.tags[i].key, json_string(inv->owner.tags[i].value));
	json_t *obj = json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:o, s:o, s:{s:s, s:s, s:s, s:s, s:o}}", "uuid",
	                        inv->uuid, "name", inv->name, "id", inv->id, "vcpus", (json_int_t)inv->vcpus,
	                        "max_vcpus", (json_int_t)inv->max_vcpus, "memory_kib", (json_int_t)inv->memory_kib,
	                        "current_memory_kib", (json_int_t)inv->current_memory_kib, "disks", disks, "nics", nics,
	                        "owner", "source", vm_owner_source_name(inv->owner.source), "tenant", inv->owner.tenant,
	                        "project", inv->owner.project, "cost_centre", inv->owner.cost_centre, "tags", tags);
	if (!obj)
		abort(); /* invalid UTF-8: the strings come from libxml2 and the config, both UTF-8 */
	return obj;
}

json_t *vm_host_to_json(const struct vm_host_info *h)
{
	json_t *obj = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "hostname", h->hostname,
	                        "libvirt_uri", h->libvirt_uri, "cpus", (json_int_t)h->cpus, "mhz", (json_int_t)h->mhz,
	                        "numa_nodes", (json_int_t)h->numa_nodes, "sockets", (json_int_t)h->sockets, "cores",
	                        (json_int_t)h->cores, "threads", (json_int_t)h->threads, "memory_kib",
	                        (json_int_t)h->memory_kib, "cpu_model", h->cpu_model);
	if (!obj)
		abort();
	return obj;
}

/* ---------------------------------------------------------------- from JSON */

/* Copies a JSON string member into a fixed field; -1 if missing, too long
 * or holding a NUL. */
static int get_str(const json_t *obj, const char *key, char *dst, size_t size, char *err, size_t errsize)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_string(v) || json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errsize, "field '%s' missing, not a string or longer than %zu bytes", key, size - 1);
		return -1;
	}
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out, char *err,
                   size_t errsize)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, errsize, "field '%s' missing or not an integer in %lld..%lld", key, (long long)min,
		         (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int get_u32(const json_t *obj, const char *key, unsigned *out, char *err, size_t errsize)
{
	int64_t v;
	if (get_int(obj, key, 0, UINT32_MAX, &v, err, errsize))
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int get_u63(const json_t *obj, const char *key, uint64_t *out, char *err, size_t errsize)
{
	int64_t v;
	if (get_int(obj, key, 0, INT64_MAX, &v, err, errsize))
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static int set_tag(struct vm_tag *t, const json_t *k, const json_t *v)
{
	if (!json_is_string(k) || !json_is_string(v) || json_string_length(k) >= sizeof t->key ||
	    json_string_length(v) >= sizeof t->value || strlen(json_string_value(k)) != json_string_length(k) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	memcpy(t->key, json_string_value(k), json_string_length(k) + 1);
	memcpy(t->value, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int owner_from_json(const json_t *owner, struct vm_owner *o, char *err, size_t errsize)
{
	json_t *src = json_object_get(owner, "source"), *tags = json_object_get(owner, "tags");
	int s = -1;
	if (json_is_string(src))
		s = vm_owner_source_parse(json_string_value(src));
	else if (json_is_integer(src) && json_integer_value(src) >= VM_OWNER_NONE &&
	         json_integer_value(src) <= VM_OWNER_SOURCE_LAST)
		s = (int)json_integer_value(src); /* the older spool form */
	if (s < 0) {
		snprintf(err, errsize, "owner: field 'source' missing or unknown");
		return -1;
	}
	o->source = (enum vm_owner_source)s;
	if (get_str(owner, "tenant", o->tenant, sizeof o->tenant, err, errsize) ||
	    get_str(owner, "project", o->project, sizeof o->project, err, errsize) ||
	    get_str(owner, "cost_centre", o->cost_centre, sizeof o->cost_centre, err, errsize))
		return -1;
	if (json_is_object(tags) && json_object_size(tags) <= VM_MAX_TAGS) {
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)tags, key, v)
		{
			json_t *k = json_string(key);
			int bad = !k || set_tag(&o->tags[o->n_tags], k, v);
			json_decref(k);
			if (bad) {
				snprintf(err, errsize, "owner: tag '%.64s' malformed or too long", key);
				return -1;
			}
			o->n_tags++;
		}
		return 0;
	}
	if (json_is_array(tags) && json_array_size(tags) <= VM_MAX_TAGS) { /* the older spool form */
		for (size_t i = 0; i < json_array_size(tags); i++) {
			json_t *t = json_array_get(tags, i);
			if (!json_is_array(t) || json_array_size(t) != 2 ||
			    set_tag(&o->tags[i], json_array_get(t, 0), json_array_get(t, 1))) {
				snprintf(err, errsize, "owner: tag %zu malformed or too long", i);
				return -1;
			}
			for (size_t j = 0; j < i; j++)
				if (!strcmp(o->tags[j].key, o->tags[i].key)) {
					snprintf(err, errsize, "owner: tag '%s' twice", o->tags[i].key);
					return -1;
				}
			o->n_tags++;
		}
		return 0;
	}
	snprintf(err, errsize, "owner: tags missing or more than %d", VM_MAX_TAGS);
	return -1;
}

int vm_inv_from_json(const json_t *obj, struct vm_inventory *inv, char *err, size_t errsize)
{
	memset(inv, 0, sizeof *inv);
	int64_t v;
	json_t *owner = json_object_get(obj, "owner");
	json_t *disks = json_object_get(obj, "disks"), *nics = json_object_get(obj, "nics");
	if (!json_is_object(obj)) {
		snprintf(err, errsize, "inventory: not a JSON object");
		return -1;
	}
	if (get_str(obj, "uuid", inv->uuid, sizeof inv->uuid, err, errsize) ||
	    get_str(obj, "name", inv->name, sizeof inv->name, err, errsize) ||
	    get_int(obj, "id", -1, INT32_MAX, &v, err, errsize))
		return -1;
	inv->id = (int)v;
	if (get_u32(obj, "vcpus", &inv->vcpus, err, errsize) ||
	    get_u32(obj, "max_vcpus", &inv->max_vcpus, err, errsize) ||
	    get_u63(obj, "memory_kib", &inv->memory_kib, err, errsize) ||
	    get_u63(obj, "current_memory_kib", &inv->current_memory_kib, err, errsize))
		return -1;
	if (!json_is_array(disks) || json_array_size(disks) > VM_MAX_DISKS || !json_is_array(nics) ||
	    json_array_size(nics) > VM_MAX_NICS || !json_is_object(owner)) {
		snprintf(err, errsize, "inventory: disks, nics or owner missing or over their limits");
		return -1;
	}
	for (size_t i = 0; i < json_array_size(disks); i++) {
		json_t *d = json_array_get(disks, i);
		struct vm_disk *o = &inv->disks[i];
		if (!json_is_object(d) || get_str(d, "target", o->target, sizeof o->target, err, errsize) ||
		    get_str(d, "bus", o->bus, sizeof o->bus, err, errsize) ||
		    get_str(d, "device", o->device, sizeof o->device, err, errsize) ||
		    get_str(d, "source", o->source, sizeof o->source, err, errsize) ||
		    get_u63(d, "capacity", &o->capacity, err, errsize))
			return -1;
		inv->n_disks++;
	}
	for (size_t i = 0; i < json_array_size(nics); i++) {
		json_t *c = json_array_get(nics, i);
		struct vm_nic *o = &inv->nics[i];
		if (!json_is_object(c) || get_str(c, "mac", o->mac, sizeof o->mac, err, errsize) ||
		    get_str(c, "target", o->target, sizeof o->target, err, errsize) ||
		    get_str(c, "type", o->type, sizeof o->type, err, errsize) ||
		    get_str(c, "source", o->source, sizeof o->source, err, errsize) ||
		    get_str(c, "model", o->model, sizeof o->model, err, errsize))
			return -1;
		inv->n_nics++;
	}
	return owner_from_json(owner, &inv->owner, err, errsize);
}

int vm_host_from_json(const json_t *obj, struct vm_host_info *h, char *err, size_t errsize)
{
	memset(h, 0, sizeof *h);
	if (!json_is_object(obj)) {
		snprintf(err, errsize, "host: not a JSON object");
		return -1;
	}
	return get_str(obj, "hostname", h->hostname, sizeof h->hostname, err, errsize) ||
	               get_str(obj, "libvirt_uri", h->libvirt_uri, sizeof h->libvirt_uri, err, errsize) ||
	               get_u32(obj, "cpus", &h->cpus, err, errsize) || get_u32(obj, "mhz", &h->mhz, err, errsize) ||
	               get_u32(obj, "numa_nodes", &h->numa_nodes, err, errsize) ||
	               get_u32(obj, "sockets", &h->sockets, err, errsize) ||
	               get_u32(obj, "cores", &h->cores, err, errsize) ||
	               get_u32(obj, "threads", &h->threads, err, errsize) ||
	               get_u63(obj, "memory_kib", &h->memory_kib, err, errsize) ||
	               get_str(obj, "cpu_model", h->cpu_model, sizeof h->cpu_model, err, errsize)
	           ? -1
	           : 0;
}

/* ---------------------------------------------------------------- digest */

uint64_t vm_inv_digest(const struct vm_inventory *inv, const char *hostname)
{
	json_t *obj = vm_inv_to_json(inv);
	json_object_del(obj, "id");
	if (hostname)
		json_object_set_new(obj, "host", json_string(hostname));
	/* Sorted keys make the text canonical: the tags object is a set. */
	char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(obj);
	if (!text)
		abort();
	uint64_t h = UINT64_C(1469598103934665603);
	for (const char *p = text; *p; p++) {
		h ^= (unsigned char)*p;
		h *= UINT64_C(1099511628211);
	}
	free(text);
	return h;
}

bool vm_inv_same(const struct vm_inventory *a, const struct vm_inventory *b)
{
	return vm_inv_digest(a, NULL) == vm_inv_digest(b, NULL);
}
