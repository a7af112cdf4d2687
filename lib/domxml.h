/* Domain inventory from libvirt's domain XML.
 *
 * Reads what vmeter needs to know about a VM (identity, allocation,
 * devices) and its owner from a vmeter element inside <metadata>:
 *
 *   <metadata>
 *     <vmeter:owner xmlns:vmeter="http://vmeter.org/xmlns/owner/1.0">
 *       <vmeter:tenant>acme</vmeter:tenant>
 *       <vmeter:project>shop</vmeter:project>
 *       <vmeter:cost-centre>CC-4711</vmeter:cost-centre>
 *       <vmeter:tag name="env">prod</vmeter:tag>
 *     </vmeter:owner>
 *   </metadata>
 *
 * The exact rules are in docs/METADATA.md.  All strings are copied into the
 * fixed-size fields below; a value longer than its field is an error, not a
 * silent truncation. */
#ifndef VM_DOMXML_H
#define VM_DOMXML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_OWNER_NS "http://vmeter.org/xmlns/owner/1.0"
#define VM_DOMXML_MAX_BYTES (4u << 20)
#define VM_MAX_DISKS 64
#define VM_MAX_NICS 64
#define VM_MAX_TAGS 32

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

enum vm_owner_source { VM_OWNER_NONE, VM_OWNER_METADATA, VM_OWNER_CONFIG };

struct vm_owner {
	enum vm_owner_source source;
	char tenant[64];
	char project[64];
	char cost_centre[64];
	struct vm_tag tags[VM_MAX_TAGS];
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
};

/* Parses `len` bytes of domain XML into *inv (fully overwritten).
 * Returns 0 on success.  On a fatal error (not XML, no <uuid>, a value too
 * long, more devices than the limits) returns -1 with a message in err.
 * Owner metadata that is present but invalid (empty tenant, unknown element
 * in the vmeter namespace) does not fail the parse: inv->owner is left with
 * VM_OWNER_NONE and the problem is described in *owner_err (empty string
 * when there is no problem) so the caller can log it and fall back. */
int vm_domxml_parse(const char *xml, size_t len, struct vm_inventory *inv, char *err, size_t errsize, char *owner_err,
                    size_t owner_errsize);

/* Parses just an owner element (what `virsh metadata` returns for the
 * vmeter namespace).  Same rules and errors as inside a domain XML. */
int vm_owner_parse(const char *xml, size_t len, struct vm_owner *owner, char *err, size_t errsize);

/* True if the two inventories differ in anything recorded in history
 * (allocation, devices, owner, name); the domain id is not compared. */
bool vm_inventory_differs(const struct vm_inventory *a, const struct vm_inventory *b);

#endif
