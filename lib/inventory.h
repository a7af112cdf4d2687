/* What vmeter knows about a VM (identity, allocation, devices, owner) and
 * about a host: the types every program shares, their one JSON form and
 * their one digest.
 *
 * The collector fills these from libvirt (lib/domxml.h parses the domain
 * XML), the spool carries them as JSON (collector/record.h), PostgreSQL keeps
 * their history (vm_inventory, host_inventory), and the aggregator, the
 * billing, the reports and the web UI read them back.  All strings live in
 * the fixed-size fields below: a value never points anywhere else, so a
 * struct is copied with `=`.
 *
 * The JSON form (vm_inv_to_json()):
 *
 *   {"uuid": "...", "name": "...", "id": 3, "vcpus": 2, "max_vcpus": 4,
 *    "memory_kib": 4194304, "current_memory_kib": 2097152,
 *    "disks": [{"target", "bus", "device", "source", "capacity"}...],
 *    "nics": [{"mac", "target", "type", "source", "model"}...],
 *    "owner": {"source": "metadata", "tenant", "project", "cost_centre",
 *              "tags": {"env": "prod", ...}}}
 *
 * Tags are an object: a set keyed by name, as the domain XML defines them.
 * vm_inventory.digest in PostgreSQL is vm_inv_digest(): same recorded state
 * <=> same digest. */
#ifndef VM_INVENTORY_H
#define VM_INVENTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_MAX_DISKS 64
#define VM_MAX_NICS 64
#define VM_MAX_TAGS 32
#define VM_INV_LIMITS_SIZE 128

struct vm_disk {
	char target[32];   /* "vda" */
	char bus[16];      /* "virtio", may be empty */
	char device[16];   /* "disk", "cdrom", ... */
	char source[256];  /* file, block device, volume or network name */
	uint64_t capacity; /* bytes; filled from block stats, 0 if unknown */
};

struct vm_nic {
	char mac[18];    /* "52:54:00:12:34:56", lower case */
	char target[64]; /* host-side device, may be empty when shut off */
	char type[16];   /* "bridge", "network", "ethernet", ... */
	char source[64]; /* bridge or network name */
	char model[32];
};

struct vm_tag {
	char key[64];
	char value[256];
};

/* Where an owner came from, in order of precedence: the vmeter element,
 * Nova's element, a configured mapping (owner-metadata), the configuration's
 * owner rules.  The numbers were stored in spool records: append only. */
enum vm_owner_source {
	VM_OWNER_NONE,
	VM_OWNER_METADATA, /* vmeter's own element */
	VM_OWNER_CONFIG,   /* owner "..." or default-owner */
	VM_OWNER_NOVA,     /* <nova:instance> */
	VM_OWNER_MAPPING,  /* an owner-metadata section */
};
#define VM_OWNER_SOURCE_LAST VM_OWNER_MAPPING

/* "none", "metadata", "config", "nova", "mapping": the name stored in
 * vm_inventory.owner_source and in the JSON form (static string; "none"
 * for an unknown value). */
const char *vm_owner_source_name(enum vm_owner_source source);
/* The source a name stands for, or -1 for an unknown name. */
int vm_owner_source_parse(const char *name);

struct vm_owner {
	enum vm_owner_source source;
	char tenant[64];
	char project[64];
	char cost_centre[64];
	struct vm_tag tags[VM_MAX_TAGS]; /* keys unique */
	size_t n_tags;
};

struct vm_inventory {
	char uuid[37];
	char name[256];
	int id;                      /* libvirt domain id; -1 when not running */
	unsigned vcpus;              /* <vcpu current=> or <vcpu> */
	unsigned max_vcpus;          /* <vcpu> */
	uint64_t memory_kib;         /* <memory>, the maximum */
	uint64_t current_memory_kib; /* <currentMemory> */
	struct vm_disk disks[VM_MAX_DISKS];
	size_t n_disks;
	struct vm_nic nics[VM_MAX_NICS];
	size_t n_nics;
	struct vm_owner owner; /* source VM_OWNER_NONE if no metadata */
	/* The limits this domain's XML exceeded, "" if none: "73 disks, 64
	 * kept; disk 2 (vdb): <source file> over 255 bytes".  Ends in "..."
	 * when there was more to say.  Not part of the recorded inventory:
	 * neither in the JSON form nor in the digest. */
	char limits[VM_INV_LIMITS_SIZE];
};

/* The host a collector runs on (host_inventory). */
struct vm_host_info {
	char hostname[256];
	char libvirt_uri[256];
	unsigned cpus, mhz, numa_nodes, sockets, cores, threads;
	uint64_t memory_kib;
	char cpu_model[64];
};

/* The JSON form of *inv (see above): a new reference the caller
 * json_decref()s.  Never NULL (allocation failure aborts). */
json_t *vm_inv_to_json(const struct vm_inventory *inv);

/* Reads the JSON form into *inv (fully overwritten; limits ""); obj is
 * borrowed.  Strict: a member missing, of the wrong type, out of range or
 * longer than its field, a list over its limit, is an error.  Also reads
 * the form spool records had before this one (owner source a number, tags
 * an array of [key, value] pairs).  0, or -1 with a message in err. */
int vm_inv_from_json(const json_t *obj, struct vm_inventory *inv, char *err, size_t errsize);

/* The digest of the recorded state: 64-bit FNV-1a over the JSON form
 * without the domain id (a restart is no change), keys sorted (tags are a
 * set), with `hostname` (where the state was seen; NULL if that is not part
 * of it).  Stored in vm_inventory.digest as 16 hex digits. */
uint64_t vm_inv_digest(const struct vm_inventory *inv, const char *hostname);

/* True if a and b record the same state (equal digests, hostname left
 * out): the domain id and the limits text do not count. */
bool vm_inv_same(const struct vm_inventory *a, const struct vm_inventory *b);

/* The JSON form of a host: {"hostname", "libvirt_uri", "cpus", "mhz",
 * "numa_nodes", "sockets", "cores", "threads", "memory_kib", "cpu_model"};
 * a new reference.  vm_host_from_json() reads it back into *h (fully
 * overwritten; obj borrowed): 0, or -1 with a message in err. */
json_t *vm_host_to_json(const struct vm_host_info *h);
int vm_host_from_json(const json_t *obj, struct vm_host_info *h, char *err, size_t errsize);

#endif
