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
 * fixed-size fields of lib/inventory.h; a value longer than its field is never
 * truncated: an owner value over its limit makes that owner source
 * invalid, a device field over its limit is left empty and a device past
 * the device limits left out, and both are said in vm_inventory.limits. */
#ifndef VM_DOMXML_H
#define VM_DOMXML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inventory.h"

#define VM_OWNER_NS "http://vmeter.org/xmlns/owner/1.0"
/* OpenStack Nova's element; older Nova releases wrote 1.0, with the same owner and
 * flavor elements, and guests defined then keep it until redefined. */
#define VM_NOVA_NS "http://openstack.org/xmlns/libvirt/nova/1.1"
#define VM_NOVA_NS_1_0 "http://openstack.org/xmlns/libvirt/nova/1.0"
#define VM_DOMXML_MAX_BYTES (4u << 20)

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

#endif
