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

/* ---------------------------------------------------------------- limits */

/* Adds an item to inv->limits ("; " between items).  When the text is
 * full it ends in "; ..." so that a reader knows there was more. */
static void note_limit(struct vm_inventory *inv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note_limit(struct vm_inventory *inv, const char *fmt, ...)
{
	static const char more[] = "; ...";
	char item[VM_INV_LIMITS_SIZE];
	size_t len = strlen(inv->limits), room = sizeof(inv->limits) - (sizeof(more) - 1);
	va_list ap;
	int n;

	if (len >= 3 && !strcmp(inv->limits + len - 3, "..."))
		return;
	va_start(ap, fmt);
	n = vsnprintf(item, sizeof(item), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(item) && len + (len ? 2 : 0) + (size_t)n < room) {
		if (len) {
			memcpy(inv->limits + len, "; ", 2);
			len += 2;
		}
		memcpy(inv->limits + len, item, (size_t)n + 1);
	} else {
		/* `room` keeps space for this at any len. */
		memcpy(inv->limits + len, len ? more : more + 2, len ? sizeof(more) : sizeof(more) - 2);
	}
}

/* The fields of one device that were too long for vmeter's fields. */
struct overlong {
	struct overlong_field {
		const char *elem, *attr;
		size_t max;
	} f[6];
	size_t n;
};

/* Copies attribute `name` of device element `n` into dst.  A value longer
 * than the field leaves it empty and is remembered in *over: the device is
 * still worth recording, a cut value is not. */
static void dev_attr(char *dst, size_t size, const xmlNode *n, const char *name, struct overlong *over)
{
	const xmlAttr *a = find_attr(n, name);

	dst[0] = '\0';
	if (!a || copy_text(dst, size, a->children, false) == 0)
		return;
	dst[0] = '\0';
	if (over->n < sizeof(over->f) / sizeof(over->f[0]))
		over->f[over->n++] = (struct overlong_field){(const char *)n->name, name, size - 1};
}

static bool has_control(const char *s);

/* "disk 2 (vdb): <source file> over 255 bytes", one item per field.  The
 * text is logged: an id with a control character (a newline would forge a
 * log line) is left out, the index still names the device. */
static void note_overlong(struct vm_inventory *inv, const char *kind, size_t idx, const char *id,
                          const struct overlong *over)
{
	if (has_control(id))
		id = "";
	for (size_t i = 0; i < over->n; i++)
		note_limit(inv, "%s %zu%s%s%s: <%s %s> over %zu bytes", kind, idx + 1, id[0] ? " (" : "", id,
		           id[0] ? ")" : "", over->f[i].elem, over->f[i].attr, over->f[i].max);
}

static void parse_disk(const xmlNode *n, struct vm_inventory *inv)
{
	static const char *const sources[] = {"file", "dev", "volume", "name", "pool"};
	struct vm_disk *d = &inv->disks[inv->n_disks];
	bool have_target = false, have_source = false;
	struct overlong over = {0};

	dev_attr(d->device, sizeof(d->device), n, "device", &over);
	/* libvirt's default when the attribute is left out */
	if (!d->device[0] && !find_attr(n, "device"))
		snprintf(d->device, sizeof(d->device), "disk");
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (!have_target && is_elem(c, "target")) {
			have_target = true;
			dev_attr(d->target, sizeof(d->target), c, "dev", &over);
			dev_attr(d->bus, sizeof(d->bus), c, "bus", &over);
		} else if (!have_source && is_elem(c, "source")) {
			have_source = true;
			for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
				if (!find_attr(c, sources[i]))
					continue;
				dev_attr(d->source, sizeof(d->source), c, sources[i], &over);
				break;
			}
		}
	}
	note_overlong(inv, "disk", inv->n_disks, d->target, &over);
	inv->n_disks++;
}

static void parse_nic(const xmlNode *n, struct vm_inventory *inv)
{
	/* A running type='network' interface also names the bridge behind
	 * the network; the network comes first so the inventory does not
	 * change when the guest starts. */
	static const char *const sources[] = {"network", "bridge", "dev"};
	struct vm_nic *nic = &inv->nics[inv->n_nics];
	bool have_mac = false, have_target = false, have_source = false, have_model = false;
	struct overlong over = {0};

	dev_attr(nic->type, sizeof(nic->type), n, "type", &over);
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (!have_mac && is_elem(c, "mac")) {
			have_mac = true;
			dev_attr(nic->mac, sizeof(nic->mac), c, "address", &over);
			for (char *p = nic->mac; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
		} else if (!have_target && is_elem(c, "target")) {
			have_target = true;
			dev_attr(nic->target, sizeof(nic->target), c, "dev", &over);
		} else if (!have_source && is_elem(c, "source")) {
			have_source = true;
			for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
				if (!find_attr(c, sources[i]))
					continue;
				dev_attr(nic->source, sizeof(nic->source), c, sources[i], &over);
				break;
			}
		} else if (!have_model && is_elem(c, "model")) {
			have_model = true;
			dev_attr(nic->model, sizeof(nic->model), c, "type", &over);
		}
	}
	note_overlong(inv, "interface", inv->n_nics, nic->mac, &over);
	inv->n_nics++;
}

/* Keeps the first VM_MAX_DISKS disks and VM_MAX_NICS interfaces: a guest
 * with more is still metered and owned, its inventory says how many were
 * left out (counted first, so that the counts lead the limits text). */
static void parse_devices(const xmlNode *devices, struct vm_inventory *inv)
{
	size_t disks = 0, nics = 0;

	for (const xmlNode *c = devices->children; c; c = c->next) {
		disks += is_elem(c, "disk");
		nics += is_elem(c, "interface");
	}
	if (disks > VM_MAX_DISKS)
		note_limit(inv, "%zu disks, %d kept", disks, VM_MAX_DISKS);
	if (nics > VM_MAX_NICS)
		note_limit(inv, "%zu interfaces, %d kept", nics, VM_MAX_NICS);
	for (const xmlNode *c = devices->children; c; c = c->next) {
		if (is_elem(c, "disk") && inv->n_disks < VM_MAX_DISKS)
			parse_disk(c, inv);
		else if (is_elem(c, "interface") && inv->n_nics < VM_MAX_NICS)
			parse_nic(c, inv);
	}
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

/* Adds msg to the caller's owner problem text, "; " between problems. */
static void join_msg(char *buf, size_t size, const char *msg)
{
	size_t len;

	if (!buf || !size || !msg[0])
		return;
	len = strnlen(buf, size - 1);
	snprintf(buf + len, size - len, "%s%s", len ? "; " : "", msg);
}

/* Finds the vmeter <owner> directly under <metadata> and reads it into *o.
 * Returns 1 if there is none, 0 with an owner, -1 after reporting. */
static int vmeter_read(const xmlNode *metadata, struct vm_owner *o, struct report *r)
{
	const xmlNode *owner = NULL;

	for (const xmlNode *c = metadata->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || !is_owner_ns(c->ns) || strcmp((const char *)c->name, "owner"))
			continue;
		if (owner)
			return fail(r, "more than one <owner> element");
		owner = c;
	}
	if (!owner)
		return 1;
	return owner_read(owner, o, r);
}

/* ---------------------------------------------------------------- nova */

static bool is_nova_elem(const xmlNode *n, const char *name)
{
	const char *href = n->ns && n->ns->href ? (const char *)n->ns->href : "";

	return n->type == XML_ELEMENT_NODE && (!strcmp(href, VM_NOVA_NS) || !strcmp(href, VM_NOVA_NS_1_0)) &&
	       !strcmp((const char *)n->name, name);
}

/* The single child `name` of n in Nova's namespace into *found (NULL if
 * none); -1 after reporting a second one. */
static int nova_child(const xmlNode *n, const char *name, const xmlNode **found, struct report *r)
{
	*found = NULL;
	for (const xmlNode *c = n ? n->children : NULL; c; c = c->next) {
		if (!is_nova_elem(c, name))
			continue;
		if (*found)
			return fail(r, "more than one <%s> element", name);
		*found = c;
	}
	return 0;
}

/* A Nova value: the same rules as vmeter's own (trimmed, within the
 * field, no control characters), so every source yields the same kind of
 * owner. */
static int nova_value(char *dst, size_t size, const xmlNode *children, const char *what, struct report *r)
{
	if (copy_text(dst, size, children, true) < 0)
		return fail(r, "%s is longer than %zu bytes", what, size - 1);
	if (has_control(dst))
		return fail(r, "%s contains a control character", what);
	return 0;
}

static int nova_tag(struct vm_owner *o, const char *key, const xmlNode *children, const char *what, struct report *r)
{
	struct vm_tag *t = &o->tags[o->n_tags];

	snprintf(t->key, sizeof(t->key), "%s", key);
	if (nova_value(t->value, sizeof(t->value), children, what, r) < 0)
		return -1;
	o->n_tags++;
	return 0;
}

/* Reads Nova's <instance> directly under <metadata> into *o: the
 * project's uuid is the tenant (a Keystone project is what OpenStack bills;
 * its id survives a rename), its name, the user and the flavor are tags.
 * Returns 1 if there is no Nova element, 0 with an owner, -1 after
 * reporting. */
static int nova_read(const xmlNode *metadata, struct vm_owner *o, struct report *r)
{
	const xmlNode *inst, *owner, *project, *user, *flavor;
	const xmlAttr *a;

	memset(o, 0, sizeof(*o));
	if (nova_child(metadata, "instance", &inst, r) < 0)
		return -1;
	if (!inst)
		return 1;
	if (nova_child(inst, "owner", &owner, r) < 0 || nova_child(inst, "flavor", &flavor, r) < 0 ||
	    nova_child(owner, "project", &project, r) < 0 || nova_child(owner, "user", &user, r) < 0)
		return -1;
	if (!project)
		return fail(r, "no <owner><project>");
	a = find_attr(project, "uuid");
	if (!a)
		return fail(r, "<project> without a uuid");
	if (nova_value(o->tenant, sizeof(o->tenant), a->children, "<project uuid>", r) < 0)
		return -1;
	if (!o->tenant[0])
		return fail(r, "empty <project uuid>");
	if (nova_tag(o, "nova.project", project->children, "<project>", r) < 0)
		return -1;
	if (user && (a = find_attr(user, "uuid")) && nova_tag(o, "nova.user-id", a->children, "<user uuid>", r) < 0)
		return -1;
	if (user && nova_tag(o, "nova.user", user->children, "<user>", r) < 0)
		return -1;
	if (flavor && (a = find_attr(flavor, "name")) &&
	    nova_tag(o, "nova.flavor", a->children, "<flavor name>", r) < 0)
		return -1;
	o->source = VM_OWNER_NOVA;
	return 0;
}

/* The owner from <metadata>: vmeter's element, else Nova's.  Problems of
 * either go to owner_err; a source with a problem is skipped. */
static void metadata_read(const xmlNode *metadata, struct vm_inventory *inv, char *owner_err, size_t owner_errsize)
{
	char msg[256] = "";
	struct report rv = {msg, sizeof(msg), "owner metadata"};
	struct report rn = {msg, sizeof(msg), "nova metadata"};
	int rc;

	rc = vmeter_read(metadata, &inv->owner, &rv);
	if (rc == 0)
		return;
	memset(&inv->owner, 0, sizeof(inv->owner));
	if (rc < 0)
		join_msg(owner_err, owner_errsize, msg);
	msg[0] = '\0';
	if (nova_read(metadata, &inv->owner, &rn) < 0) {
		memset(&inv->owner, 0, sizeof(inv->owner));
		join_msg(owner_err, owner_errsize, msg);
	}
}

/* ---------------------------------------------------------------- mapping */

/* An XML name without a prefix: what a path step may be.  Bytes from 0x80
 * on are taken as name characters (UTF-8 letters), so names in any script
 * work; libxml2 checks the document's own names. */
static bool is_name(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		bool start = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;

		if (!start && (i == 0 || !((c >= '0' && c <= '9') || c == '-' || c == '.')))
			return false;
	}
	return len > 0;
}

const char *vm_owner_path_check(const char *path)
{
	size_t steps = 0;

	if (path[0] != '/')
		return "must start with '/' and the namespace's top element";
	if (strlen(path) > VM_OWNER_PATH_MAX)
		return "must be at most 255 bytes long";
	for (const char *p = path; *p == '/';) {
		size_t len = strcspn(++p, "/");

		if (*p == '@') {
			if (steps == 0)
				return "must name the top element before an attribute";
			if (p[len])
				return "may have an @attribute only as its last step";
			p++;
			len--;
		}
		if (len == 0)
			return "must not have an empty step";
		if (!is_name(p, len))
			return "must have XML names without prefix as steps";
		if (++steps > VM_OWNER_PATH_MAX_STEPS)
			return "must have at most 16 steps";
		p += len;
	}
	return NULL;
}

static bool name_is(const xmlChar *name, const char *p, size_t len)
{
	return strlen((const char *)name) == len && !memcmp(name, p, len);
}

static bool in_ns(const xmlNs *ns, const char *href)
{
	return ns && ns->href && !strcmp((const char *)ns->href, href);
}

/* The single element child of n in namespace `href` named p[0..len); NULL
 * in *found if none, -1 after reporting a second one. */
static int map_child(const xmlNode *n, const char *href, const char *p, size_t len, const xmlNode **found,
                     const char *path, struct report *r)
{
	*found = NULL;
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || !in_ns(c->ns, href) || !name_is(c->name, p, len))
			continue;
		if (*found)
			return fail(r, "'%s' matches more than one <%.*s> element", path, (int)len, p);
		*found = c;
	}
	return 0;
}

/* The value `path` names below <metadata>: element steps in the mapping's
 * namespace, each matching at most one element, and an attribute without a
 * namespace or in the mapping's.  Returns 1 with the value in dst, 0 if
 * nothing is there, -1 after reporting. */
static int map_value(const struct vm_owner_map *m, const xmlNode *metadata, const char *path, char *dst, size_t size,
                     const char *what, struct report *r)
{
	const xmlNode *cur = metadata, *children = NULL;
	const char *p = path;

	dst[0] = '\0';
	while (*p == '/') {
		size_t len = strcspn(++p, "/");

		if (*p == '@') {
			const xmlAttr *a;
			for (a = cur->properties; a; a = a->next)
				if ((!a->ns || in_ns(a->ns, m->ns)) && name_is(a->name, p + 1, len - 1))
					break;
			if (!a)
				return 0;
			children = a->children;
			cur = NULL;
			break;
		}
		const xmlNode *next;
		if (map_child(cur, m->ns, p, len, &next, path, r) < 0)
			return -1;
		if (!next)
			return 0;
		cur = next;
		p += len;
	}
	if (cur)
		children = cur->children;
	if (copy_text(dst, size, children, true) < 0) {
		dst[0] = '\0';
		return fail(r, "%s at '%s' is longer than %zu bytes", what, path, size - 1);
	}
	if (has_control(dst))
		return fail(r, "%s at '%s' contains a control character", what, path);
	return 1;
}

/* One mapping: 1 if its top element is not under <metadata>, 0 with an
 * owner, -1 after reporting. */
static int map_one(const struct vm_owner_map *m, const xmlNode *metadata, struct vm_owner *o, struct report *r)
{
	const char *first = m->tenant + 1;
	const xmlNode *top;
	char what[80];
	int rc;

	memset(o, 0, sizeof(*o));
	/* The mapping applies when the top element of its tenant path is
	 * there: a platform's element without the tenant is a problem to
	 * report, a VM without the element is not. */
	if (map_child(metadata, m->ns, first, strcspn(first, "/"), &top, m->tenant, r) < 0)
		return -1;
	if (!top)
		return 1;
	rc = map_value(m, metadata, m->tenant, o->tenant, sizeof(o->tenant), "tenant", r);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return fail(r, "no tenant at '%s'", m->tenant);
	if (!o->tenant[0])
		return fail(r, "empty tenant at '%s'", m->tenant);
	if (m->project[0] && map_value(m, metadata, m->project, o->project, sizeof(o->project), "project", r) < 0)
		return -1;
	if (m->cost_centre[0] &&
	    map_value(m, metadata, m->cost_centre, o->cost_centre, sizeof(o->cost_centre), "cost-centre", r) < 0)
		return -1;
	for (size_t i = 0; i < m->n_tags; i++) {
		struct vm_tag *t = &o->tags[o->n_tags];

		snprintf(what, sizeof(what), "tag '%s'", m->tags[i].key);
		rc = map_value(m, metadata, m->tags[i].value, t->value, sizeof(t->value), what, r);
		if (rc < 0)
			return -1;
		/* A tag whose element or attribute is absent is left out. */
		if (rc == 1) {
			snprintf(t->key, sizeof(t->key), "%s", m->tags[i].key);
			o->n_tags++;
		}
	}
	o->source = VM_OWNER_MAPPING;
	return 0;
}

/* ---------------------------------------------------------------- API */

int vm_domxml_parse(const char *xml, size_t len, struct vm_inventory *inv, char *err, size_t errsize, char *owner_err,
                    size_t owner_errsize)
{
	struct report r = {err, errsize, "domain xml"};
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
	/* Left empty rather than cut: the UUID identifies the VM. */
	if (copy_text(inv->name, sizeof(inv->name), name->children, false) < 0) {
		inv->name[0] = '\0';
		note_limit(inv, "<name> over %zu bytes", sizeof(inv->name) - 1);
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
	if (devices)
		parse_devices(devices, inv);
	if (metadata)
		metadata_read(metadata, inv, owner_err, owner_errsize);
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

int vm_owner_map_apply(const struct vm_owner_map *maps, size_t n, const char *xml, size_t len, struct vm_owner *owner,
                       char *err, size_t errsize)
{
	struct report r = {err, errsize, "owner-metadata"};
	const xmlNode *root, *metadata = NULL;
	xmlDocPtr doc;

	memset(owner, 0, sizeof(*owner));
	if (err && errsize)
		err[0] = '\0';
	if (n == 0)
		return 0;
	doc = read_doc(xml, len, &r);
	if (!doc)
		return -1;
	root = xmlDocGetRootElement(doc);
	for (const xmlNode *c = is_elem(root, "domain") ? root->children : NULL; c && !metadata; c = c->next)
		if (is_elem(c, "metadata"))
			metadata = c;
	for (size_t i = 0; metadata && i < n; i++) {
		char what[96], msg[256] = "";
		struct report rm = {msg, sizeof(msg), what};
		int rc;

		snprintf(what, sizeof(what), "owner-metadata[%s]", maps[i].name);
		rc = map_one(&maps[i], metadata, owner, &rm);
		if (rc == 0)
			break;
		memset(owner, 0, sizeof(*owner));
		if (rc < 0)
			join_msg(err, errsize, msg);
	}
	xmlFreeDoc(doc);
	return 0;
}
