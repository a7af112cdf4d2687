#include "config.h"

#include "domxml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Where a parse reports a failure: the caller's buffer, which may be NULL. */
struct report {
	char *buf;
	size_t size;
	const char *what; /* "domain xml" or "owner metadata", starts every message */
};

static int fail(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct report *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!r->buf || !r->size)
		return -1;
	n = snprintf(r->buf, r->size, "%s: ", r->what);
	if (n >= 0 && (size_t)n < r->size) {
		va_start(ap, fmt);
		vsnprintf(r->buf + n, r->size - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---------------------------------------------------------------- libxml2 */

/* libxml2's first complaint, kept so that "not XML" says where and why
 * instead of libxml2 printing to stderr behind the caller's back. */
struct xml_complaint {
	xmlErrorLevel level; /* XML_ERR_NONE until the first error */
	int line;
	char msg[200];
};

static void collect_error(void *data, xmlErrorPtr e)
{
	xmlParserCtxtPtr ctxt = data;
	struct xml_complaint *c;
	size_t n;

	if (!ctxt || !e || e->level < XML_ERR_ERROR)
		return;
	c = ctxt->_private;
	/* Keep the first error unless a fatal one follows: that explains a
	 * failed parse better than a recoverable one before it (an
	 * undeclared namespace prefix, say). */
	if (!c || c->level == XML_ERR_FATAL || (c->level != XML_ERR_NONE && e->level != XML_ERR_FATAL))
		return;
	c->level = e->level;
	c->line = e->line;
	snprintf(c->msg, sizeof(c->msg), "%s", e->message ? e->message : "unknown error");
	n = strlen(c->msg);
	while (n && (c->msg[n - 1] == '\n' || c->msg[n - 1] == ' '))
		c->msg[--n] = '\0';
}

/* Parses without network access, without entity substitution and without
 * a DTD.  Returns the document (the caller frees it) or NULL after
 * reporting. */
static xmlDocPtr read_doc(const char *xml, size_t len, struct report *r)
{
	struct xml_complaint complaint = {0};
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;

	if (len > VM_DOMXML_MAX_BYTES) {
		fail(r, "input of %zu bytes exceeds the limit of %u bytes", len, VM_DOMXML_MAX_BYTES);
		return NULL;
	}
	if (!xml || !len) {
		fail(r, "empty input");
		return NULL;
	}
	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		fail(r, "cannot create an xml parser");
		return NULL;
	}
	ctxt->_private = &complaint;
	ctxt->sax->serror = collect_error;
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL, XML_PARSE_NONET);
	if (!doc) {
		if (complaint.level)
			fail(r, "line %d: %s", complaint.line, complaint.msg);
		else
			fail(r, "not well-formed xml");
	} else if (doc->intSubset || doc->extSubset) {
		/* libvirt never writes a DOCTYPE; refusing it means no entity
		 * other than the predefined ones can appear, so nothing is
		 * ever expanded. */
		fail(r, "document type declarations are not allowed");
		xmlFreeDoc(doc);
		doc = NULL;
	}
	xmlFreeParserCtxt(ctxt);
	return doc;
}

/* ---------------------------------------------------------------- text */

static bool is_xml_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copies the text and CDATA nodes of a child list into dst.  With `trim`,
 * surrounding white space is dropped first, so padding does not count
 * against the limit.  Returns -1 if the value does not fit. */
static int copy_text(char *dst, size_t size, const xmlNode *children, bool trim)
{
	size_t len = 0;
	int ret = 0;

	for (const xmlNode *n = children; n; n = n->next) {
		if ((n->type != XML_TEXT_NODE && n->type != XML_CDATA_SECTION_NODE) || !n->content)
			continue;
		for (const xmlChar *s = n->content; *s; s++) {
			if (trim && is_xml_space(*s)) {
				/* Leading white space is dropped; trailing
				 * white space past the limit is harmless. */
				if (len == 0 || len + 1 >= size)
					continue;
			} else if (len + 1 >= size) {
				ret = -1;
				goto out;
			}
			dst[len++] = (char)*s;
		}
	}
out:
	while (trim && len && is_xml_space((unsigned char)dst[len - 1]))
		len--;
	dst[len] = '\0';
	return ret;
}

static bool is_elem(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !n->ns && !strcmp((const char *)n->name, name);
}

/* Attribute without a namespace; NULL if absent. */
static const xmlAttr *find_attr(const xmlNode *n, const char *name)
{
	for (const xmlAttr *a = n->properties; a; a = a->next)
		if (!a->ns && !strcmp((const char *)a->name, name))
			return a;
	return NULL;
}

/* Copies attribute `name` of `n` into dst ("" if absent).  `ctx` names the
 * device in a message ("disk 2: "). */
static int copy_attr(char *dst, size_t size, const xmlNode *n, const char *name, struct report *r, const char *ctx)
{
	const xmlAttr *a = find_attr(n, name);

	dst[0] = '\0';
	if (a && copy_text(dst, size, a->children, false) < 0)
		return fail(r, "%s<%s %s> is longer than %zu bytes", ctx, (const char *)n->name, name, size - 1);
	return 0;
}

/* Strict unsigned decimal: digits only, no sign, no overflow. */
static int parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return 0;
}

static int parse_uint(const char *s, unsigned *v)
{
	uint64_t x;

	if (parse_u64(s, &x) < 0 || x > UINT_MAX)
		return -1;
	*v = (unsigned)x;
	return 0;
}

/* ---------------------------------------------------------------- domain */

/* Bytes per unit as libvirt's virScaleInteger reads a unit: no unit is KiB;
 * "b", "byte", "bytes"; otherwise k, m, g, t, p or e, alone or with "iB"
 * for powers of 1024, with "B" for powers of 1000; case does not matter. */
static int unit_scale(const char *unit, uint64_t *scale)
{
	static const char prefixes[] = "kmgtpe";
	const char *p;
	uint64_t base;

	if (!*unit) {
		*scale = 1024;
		return 0;
	}
	if (!strcasecmp(unit, "b") || !strcasecmp(unit, "byte") || !strcasecmp(unit, "bytes")) {
		*scale = 1;
		return 0;
	}
	p = strchr(prefixes, (unit[0] >= 'A' && unit[0] <= 'Z') ? unit[0] - 'A' + 'a' : unit[0]);
	if (!p || !*p)
		return -1;
	if (!unit[1] || !strcasecmp(unit + 1, "iB"))
		base = 1024;
	else if (!strcasecmp(unit + 1, "B"))
		base = 1000;
	else
		return -1;
	*scale = 1;
	for (const char *q = prefixes; q <= p; q++)
		*scale *= base;
	return 0;
}

/* <memory unit='GiB'>4</memory> into KiB, rounded up as libvirt does. */
static int parse_memory(const xmlNode *n, uint64_t *kib, struct report *r)
{
	char text[32], unit[16];
	uint64_t v, scale;

	if (copy_text(text, sizeof(text), n->children, true) < 0 || parse_u64(text, &v) < 0)
		return fail(r, "bad <%s> value '%s'", (const char *)n->name, text);
	if (copy_attr(unit, sizeof(unit), n, "unit", r, "") < 0)
		return -1;
	if (unit_scale(unit, &scale) < 0)
		return fail(r, "<%s> has unknown unit '%s'", (const char *)n->name, unit);
	if (v > UINT64_MAX / scale)
		return fail(r, "<%s> value %s %s is too large", (const char *)n->name, text, unit[0] ? unit : "KiB");
	v *= scale;
	*kib = v / 1024 + (v % 1024 != 0);
	return 0;
}

static int parse_vcpu(const xmlNode *n, struct vm_inventory *inv, struct report *r)
{
	const xmlAttr *cur = find_attr(n, "current");
	char text[16];

	if (copy_text(text, sizeof(text), n->children, true) < 0 || parse_uint(text, &inv->max_vcpus) < 0)
		return fail(r, "bad <vcpu> value '%s'", text);
	inv->vcpus = inv->max_vcpus;
	if (!cur)
		return 0;
	if (copy_text(text, sizeof(text), cur->children, true) < 0 || parse_uint(text, &inv->vcpus) < 0)
		return fail(r, "bad <vcpu current> value '%s'", text);
	if (inv->vcpus > inv->max_vcpus)
		return fail(r, "<vcpu current> %u exceeds the maximum %u", inv->vcpus, inv->max_vcpus);
	return 0;
}

static int parse_uuid(const xmlNode *n, char *uuid, struct report *r)
{
	char text[40];

	if (copy_text(text, sizeof(text), n->children, true) < 0 || strlen(text) != 36)
		goto bad;
	for (int i = 0; i < 36; i++) {
		char c = text[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				goto bad;
		} else if (c >= 'A' && c <= 'F') {
			text[i] = (char)(c - 'A' + 'a');
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			goto bad;
		}
	}
	memcpy(uuid, text, 37);
	return 0;
bad:
	return fail(r, "bad <uuid> '%s'", text);
}

static int parse_id(const xmlNode *root, int *id, struct report *r)
{
	const xmlAttr *a = find_attr(root, "id");
	char text[16];
	uint64_t v;

	*id = -1;
	if (!a)
		return 0;
	if (copy_text(text, sizeof(text), a->children, true) < 0 || parse_u64(text, &v) < 0 || v > INT_MAX)
		return fail(r, "bad domain id '%s'", text);
	*id = (int)v;
	return 0;
}

static int parse_disk(const xmlNode *n, struct vm_disk *d, size_t idx, struct report *r)
{
	static const char *const sources[] = {"file", "dev", "volume", "name", "pool"};
	bool have_target = false, have_source = false;
	char ctx[32];

	snprintf(ctx, sizeof(ctx), "disk %zu: ", idx + 1);
	if (copy_attr(d->device, sizeof(d->device), n, "device", r, ctx) < 0)
		return -1;
	/* libvirt's default when the attribute is left out */
	if (!d->device[0])
		snprintf(d->device, sizeof(d->device), "disk");
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (!have_target && is_elem(c, "target")) {
			have_target = true;
			if (copy_attr(d->target, sizeof(d->target), c, "dev", r, ctx) < 0 ||
			    copy_attr(d->bus, sizeof(d->bus), c, "bus", r, ctx) < 0)
				return -1;
		} else if (!have_source && is_elem(c, "source")) {
			have_source = true;
			for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
				if (!find_attr(c, sources[i]))
					continue;
				if (copy_attr(d->source, sizeof(d->source), c, sources[i], r, ctx) < 0)
					return -1;
				break;
			}
		}
	}
	return 0;
}

static int parse_nic(const xmlNode *n, struct vm_nic *nic, size_t idx, struct report *r)
{
	/* A running type='network' interface also names the bridge behind
	 * the network; the network comes first so the inventory does not
	 * change when the guest starts. */
	static const char *const sources[] = {"network", "bridge", "dev"};
	bool have_mac = false, have_target = false, have_source = false, have_model = false;
	char ctx[32];

	snprintf(ctx, sizeof(ctx), "interface %zu: ", idx + 1);
	if (copy_attr(nic->type, sizeof(nic->type), n, "type", r, ctx) < 0)
		return -1;
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (!have_mac && is_elem(c, "mac")) {
			have_mac = true;
			if (copy_attr(nic->mac, sizeof(nic->mac), c, "address", r, ctx) < 0)
				return -1;
			for (char *p = nic->mac; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
		} else if (!have_target && is_elem(c, "target")) {
			have_target = true;
			if (copy_attr(nic->target, sizeof(nic->target), c, "dev", r, ctx) < 0)
				return -1;
		} else if (!have_source && is_elem(c, "source")) {
			have_source = true;
			for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
				if (!find_attr(c, sources[i]))
					continue;
				if (copy_attr(nic->source, sizeof(nic->source), c, sources[i], r, ctx) < 0)
					return -1;
				break;
			}
		} else if (!have_model && is_elem(c, "model")) {
			have_model = true;
			if (copy_attr(nic->model, sizeof(nic->model), c, "type", r, ctx) < 0)
				return -1;
		}
	}
	return 0;
}

static int parse_devices(const xmlNode *devices, struct vm_inventory *inv, struct report *r)
{
	for (const xmlNode *c = devices->children; c; c = c->next) {
		if (is_elem(c, "disk")) {
			if (inv->n_disks == VM_MAX_DISKS)
				return fail(r, "more than %d disks", VM_MAX_DISKS);
			if (parse_disk(c, &inv->disks[inv->n_disks], inv->n_disks, r) < 0)
				return -1;
			inv->n_disks++;
		} else if (is_elem(c, "interface")) {
			if (inv->n_nics == VM_MAX_NICS)
				return fail(r, "more than %d interfaces", VM_MAX_NICS);
			if (parse_nic(c, &inv->nics[inv->n_nics], inv->n_nics, r) < 0)
				return -1;
			inv->n_nics++;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- owner */

static bool is_owner_ns(const xmlNs *ns)
{
	return ns && ns->href && !strcmp((const char *)ns->href, VM_OWNER_NS);
}

/* Control characters (C0, DEL and, in UTF-8, C1) would end up in CSV
 * exports and invoice lines; the rest of UTF-8 is allowed. */
static bool has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return true;
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return true;
	}
	return false;
}

/* An owner field: trimmed, within its limit, without control characters. */
static int owner_text(char *dst, size_t size, const xmlNode *children, const char *elem, struct report *r)
{
	if (copy_text(dst, size, children, true) < 0)
		return fail(r, "<%s> is longer than %zu bytes", elem, size - 1);
	if (has_control(dst))
		return fail(r, "<%s> contains a control character", elem);
	return 0;
}

static int owner_tag(const xmlNode *n, struct vm_owner *o, struct report *r)
{
	const xmlAttr *name = find_attr(n, "name");
	struct vm_tag *t;

	if (o->n_tags == VM_MAX_TAGS)
		return fail(r, "more than %d <tag> elements", VM_MAX_TAGS);
	t = &o->tags[o->n_tags];
	if (owner_text(t->key, sizeof(t->key), name ? name->children : NULL, "tag name", r) < 0)
		return -1;
	if (!t->key[0])
		return fail(r, "<tag> without a name");
	for (size_t i = 0; i < o->n_tags; i++)
		if (!strcmp(o->tags[i].key, t->key))
			return fail(r, "duplicate <tag name='%s'>", t->key);
	if (owner_text(t->value, sizeof(t->value), n->children, "tag", r) < 0)
		return -1;
	o->n_tags++;
	return 0;
}

/* Reads an <owner> element into *o.  `ours` is the namespace the children
 * must be in besides none: libvirt's virDomainGetMetadata hands the element
 * back with the namespace stripped, so unqualified children count as
 * vmeter's in both forms and the two ways of reading agree. */
static int owner_read(const xmlNode *owner, struct vm_owner *o, struct report *r)
{
	bool have_tenant = false, have_project = false, have_cc = false;

	memset(o, 0, sizeof(*o));
	for (const xmlNode *c = owner->children; c; c = c->next) {
		const char *name = (const char *)c->name;
		int ret;

		if (c->type != XML_ELEMENT_NODE || (c->ns && !is_owner_ns(c->ns)))
			continue;
		if (!strcmp(name, "tenant")) {
			if (have_tenant)
				return fail(r, "duplicate <tenant>");
			have_tenant = true;
			ret = owner_text(o->tenant, sizeof(o->tenant), c->children, name, r);
		} else if (!strcmp(name, "project")) {
			if (have_project)
				return fail(r, "duplicate <project>");
			have_project = true;
			ret = owner_text(o->project, sizeof(o->project), c->children, name, r);
		} else if (!strcmp(name, "cost-centre")) {
			if (have_cc)
				return fail(r, "duplicate <cost-centre>");
			have_cc = true;
			ret = owner_text(o->cost_centre, sizeof(o->cost_centre), c->children, name, r);
		} else if (!strcmp(name, "tag")) {
			ret = owner_tag(c, o, r);
		} else {
			return fail(r, "unknown element <%s>", name);
		}
		if (ret < 0)
			return -1;
	}
	if (!have_tenant)
		return fail(r, "no <tenant>");
	if (!o->tenant[0])
		return fail(r, "empty <tenant>");
	o->source = VM_OWNER_METADATA;
	return 0;
}

/* Finds the vmeter <owner> directly under <metadata> and reads it into
 * inv->owner; a problem goes to `r` and leaves the owner at NONE. */
static void metadata_read(const xmlNode *metadata, struct vm_inventory *inv, struct report *r)
{
	const xmlNode *owner = NULL;

	for (const xmlNode *c = metadata->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || !is_owner_ns(c->ns) || strcmp((const char *)c->name, "owner"))
			continue;
		if (owner) {
			fail(r, "more than one <owner> element");
			return;
		}
		owner = c;
	}
	if (owner && owner_read(owner, &inv->owner, r) < 0)
		memset(&inv->owner, 0, sizeof(inv->owner));
}

/* ---------------------------------------------------------------- API */

int vm_domxml_parse(const char *xml, size_t len, struct vm_inventory *inv, char *err, size_t errsize, char *owner_err,
                    size_t owner_errsize)
{
	struct report r = {err, errsize, "domain xml"};
	struct report ro = {owner_err, owner_errsize, "owner metadata"};
	const xmlNode *name = NULL, *uuid = NULL, *memory = NULL, *current = NULL, *vcpu = NULL;
	const xmlNode *root, *metadata = NULL, *devices = NULL;
	xmlDocPtr doc;
	int ret = -1;

	memset(inv, 0, sizeof(*inv));
	inv->id = -1;
	if (err && errsize)
		err[0] = '\0';
	if (owner_err && owner_errsize)
		owner_err[0] = '\0';
	doc = read_doc(xml, len, &r);
	if (!doc)
		return -1;
	root = xmlDocGetRootElement(doc);
	if (!is_elem(root, "domain")) {
		if (root->ns && root->ns->href)
			fail(&r, "root element is <%s> in namespace '%s', expected <domain>", (const char *)root->name,
			     (const char *)root->ns->href);
		else
			fail(&r, "root element is <%s>, expected <domain>", (const char *)root->name);
		goto out;
	}
	if (parse_id(root, &inv->id, &r) < 0)
		goto out;
	/* One pass over the children; the first of each element counts, as
	 * in libvirt's own XPath lookups. */
	for (const xmlNode *c = root->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || c->ns)
			continue;
		if (!name && is_elem(c, "name"))
			name = c;
		else if (!uuid && is_elem(c, "uuid"))
			uuid = c;
		else if (!memory && is_elem(c, "memory"))
			memory = c;
		else if (!current && is_elem(c, "currentMemory"))
			current = c;
		else if (!vcpu && is_elem(c, "vcpu"))
			vcpu = c;
		else if (!metadata && is_elem(c, "metadata"))
			metadata = c;
		else if (!devices && is_elem(c, "devices"))
			devices = c;
	}
	if (!name) {
		fail(&r, "no <name>");
		goto out;
	}
	if (copy_text(inv->name, sizeof(inv->name), name->children, false) < 0) {
		fail(&r, "<name> is longer than %zu bytes", sizeof(inv->name) - 1);
		goto out;
	}
	if (!uuid) {
		fail(&r, "no <uuid>");
		goto out;
	}
	if (parse_uuid(uuid, inv->uuid, &r) < 0)
		goto out;
	if (memory && parse_memory(memory, &inv->memory_kib, &r) < 0)
		goto out;
	/* Without <currentMemory> libvirt runs the guest at the maximum. */
	inv->current_memory_kib = inv->memory_kib;
	if (current && parse_memory(current, &inv->current_memory_kib, &r) < 0)
		goto out;
	/* libvirt's default when <vcpu> is left out */
	inv->vcpus = inv->max_vcpus = 1;
	if (vcpu && parse_vcpu(vcpu, inv, &r) < 0)
		goto out;
	if (devices && parse_devices(devices, inv, &r) < 0)
		goto out;
	if (metadata)
		metadata_read(metadata, inv, &ro);
	ret = 0;
out:
	xmlFreeDoc(doc);
	return ret;
}

int vm_owner_parse(const char *xml, size_t len, struct vm_owner *owner, char *err, size_t errsize)
{
	struct report r = {err, errsize, "owner metadata"};
	const xmlNode *root;
	xmlDocPtr doc;
	int ret = -1;

	memset(owner, 0, sizeof(*owner));
	if (err && errsize)
		err[0] = '\0';
	doc = read_doc(xml, len, &r);
	if (!doc)
		return -1;
	root = xmlDocGetRootElement(doc);
	if (strcmp((const char *)root->name, "owner") || (root->ns && !is_owner_ns(root->ns))) {
		fail(&r, "root element is <%s>, expected <owner> in namespace %s or none", (const char *)root->name,
		     VM_OWNER_NS);
		goto out;
	}
	ret = owner_read(root, owner, &r);
	if (ret < 0)
		memset(owner, 0, sizeof(*owner));
out:
	xmlFreeDoc(doc);
	return ret;
}

/* ---------------------------------------------------------------- compare */

static bool disk_differs(const struct vm_disk *a, const struct vm_disk *b)
{
	return strcmp(a->target, b->target) || strcmp(a->bus, b->bus) || strcmp(a->device, b->device) ||
	       strcmp(a->source, b->source) || a->capacity != b->capacity;
}

static bool nic_differs(const struct vm_nic *a, const struct vm_nic *b)
{
	return strcmp(a->mac, b->mac) || strcmp(a->target, b->target) || strcmp(a->type, b->type) ||
	       strcmp(a->source, b->source) || strcmp(a->model, b->model);
}

/* Tags are a set keyed by name: reordering them in the XML is no change. */
static bool owner_differs(const struct vm_owner *a, const struct vm_owner *b)
{
	if (a->source != b->source || strcmp(a->tenant, b->tenant) || strcmp(a->project, b->project) ||
	    strcmp(a->cost_centre, b->cost_centre) || a->n_tags != b->n_tags)
		return true;
	for (size_t i = 0; i < a->n_tags; i++) {
		size_t j;

		for (j = 0; j < b->n_tags; j++)
			if (!strcmp(a->tags[i].key, b->tags[j].key))
				break;
		if (j == b->n_tags || strcmp(a->tags[i].value, b->tags[j].value))
			return true;
	}
	return false;
}

bool vm_inventory_differs(const struct vm_inventory *a, const struct vm_inventory *b)
{
	if (strcmp(a->uuid, b->uuid) || strcmp(a->name, b->name) || a->vcpus != b->vcpus ||
	    a->max_vcpus != b->max_vcpus || a->memory_kib != b->memory_kib ||
	    a->current_memory_kib != b->current_memory_kib || a->n_disks != b->n_disks || a->n_nics != b->n_nics)
		return true;
	for (size_t i = 0; i < a->n_disks; i++)
		if (disk_differs(&a->disks[i], &b->disks[i]))
			return true;
	for (size_t i = 0; i < a->n_nics; i++)
		if (nic_differs(&a->nics[i], &b->nics[i]))
			return true;
	return owner_differs(&a->owner, &b->owner);
}
