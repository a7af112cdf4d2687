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
 * or, failing that, from OpenStack Nova's <nova:instance> element, or from
 * any other namespace the configuration maps (struct vm_owner_map).
 *
 * The exact rules are in docs/METADATA.md.  All strings are copied into the
 * fixed-size fields below; a value longer than its field is never
 * truncated: an owner value over its limit makes that owner source
 * invalid, a device field over its limit is left empty and a device past
 * the device limits left out, and both are said in vm_inventory.limits. */
#ifndef VM_DOMXML_H
#define VM_DOMXML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_OWNER_NS "http://vmeter.org/xmlns/owner/1.0"
/* OpenStack Nova's element; older Nova releases wrote 1.0, with the same owner and
 * flavor elements, and guests defined then keep it until redefined. */
#define VM_NOVA_NS "http://openstack.org/xmlns/libvirt/nova/1.1"
#define VM_NOVA_NS_1_0 "http://openstack.org/xmlns/libvirt/nova/1.0"
#define VM_DOMXML_MAX_BYTES (4u << 20)
#define VM_MAX_DISKS 64
#define VM_MAX_NICS 64
#define VM_MAX_TAGS 32
#define VM_DOMXML_LIMITS_SIZE 128

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
 * owner rules.  The values are stored in spool records: append only. */
enum vm_owner_source {
	VM_OWNER_NONE,
	VM_OWNER_METADATA, /* vmeter's own element */
	VM_OWNER_CONFIG,   /* owner "..." or default-owner */
	VM_OWNER_NOVA,     /* <nova:instance> */
	VM_OWNER_MAPPING,  /* an owner-metadata section */
};
#define VM_OWNER_SOURCE_LAST VM_OWNER_MAPPING

/* "none", "metadata", "config", "nova", "mapping": the name stored in
 * vm_inventory.owner_source (static string; "none" for an unknown value). */
const char *vm_owner_source_name(enum vm_owner_source source);

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
	/* The limits this domain's XML exceeded, "" if none: "73 disks, 64
	 * kept; disk 2 (vdb): <source file> over 255 bytes".  Ends in "..."
	 * when there was more to say.  Not part of the recorded inventory. */
	char limits[VM_DOMXML_LIMITS_SIZE];
};

/* Parses `len` bytes of domain XML into *inv (fully overwritten).
 * Returns 0 on success.  On a fatal error (not XML, over
 * VM_DOMXML_MAX_BYTES, no <name> or <uuid>, a malformed uuid, number or
 * unit) returns -1 with a message in err.  A domain over the other limits
 * (more than VM_MAX_DISKS disks or VM_MAX_NICS interfaces, a name or device
 * field longer than its field) is read as far as the limits allow and
 * inv->limits says what was left out or empty.
 * The owner is the vmeter element's, else Nova's (VM_OWNER_NONE if
 * neither gives one).  Owner metadata that is present but invalid (empty
 * tenant, unknown element in the vmeter namespace, a Nova project without
 * uuid) does not fail the parse: that source is skipped and the problem is
 * described in *owner_err ("" when there is none; problems of both
 * sources are joined with "; ") so the caller can log it and fall back. */
int vm_domxml_parse(const char *xml, size_t len, struct vm_inventory *inv, char *err, size_t errsize, char *owner_err,
                    size_t owner_errsize);

/* Parses just an owner element (what `virsh metadata` returns for the
 * vmeter namespace).  Same rules and errors as inside a domain XML. */
int vm_owner_parse(const char *xml, size_t len, struct vm_owner *owner, char *err, size_t errsize);

/* An owner-metadata section of the configuration: where a platform's own
 * metadata element keeps the owner.  Paths are element steps from the
 * namespace's top element under <metadata>, the first naming that element,
 * and optionally a final attribute: "/vm/owner/@account".  All strings are
 * owned by the configuration. */
struct vm_owner_map {
	char *name; /* the section's title, for messages */
	char *ns;   /* namespace URI */
	char *tenant;
	char *project;                   /* "": not mapped */
	char *cost_centre;               /* "": not mapped */
	struct vm_tag tags[VM_MAX_TAGS]; /* key, and the path in value */
	size_t n_tags;
};

#define VM_OWNER_PATH_MAX 255
#define VM_OWNER_PATH_MAX_STEPS 16

/* NULL if `path` is a valid owner-metadata path, else why not ("must start
 * with '/'"; a static string). */
const char *vm_owner_path_check(const char *path);

/* Reads the owner from the first of the n mappings whose namespace's top
 * element is under <metadata> and gives a valid owner (source
 * VM_OWNER_MAPPING); *owner is VM_OWNER_NONE if none does.  A mapping
 * whose element is there but whose values are missing, empty, over their
 * limits or contain control characters is skipped and described in err
 * ("owner-metadata[acme]: ..."; joined with "; ").  Returns -1 if the
 * document cannot be read (message in err), else 0.  maps is borrowed. */
int vm_owner_map_apply(const struct vm_owner_map *maps, size_t n, const char *xml, size_t len, struct vm_owner *owner,
                       char *err, size_t errsize);

/* True if the two inventories differ in anything recorded in history
 * (allocation, devices, owner, name); the domain id is not compared. */
bool vm_inventory_differs(const struct vm_inventory *a, const struct vm_inventory *b);

#endif
