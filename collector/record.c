#include "config.h"

#include "record.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netclass.h"
#include "vtime.h"
#include "xalloc.h"

#define FLAG_HOST 1u
/* With FLAG_HOST: the host's energy (vm_usage_power_meters()).  A bit of
 * its own, so that every record written before it decodes as it did. */
#define FLAG_POWER 2u

int vm_record_kind(const void *buf, size_t len)
{
	const uint8_t *b = buf;
	if (len < 2 || b[0] != VM_RECORD_VERSION || b[1] < VM_REC_USAGE || b[1] > VM_REC_LOSS)
		return -1;
	return b[1];
}

/* ---------------------------------------------------------------- binary */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

struct reader {
	const uint8_t *p, *end;
	const char *fail; /* what could not be read */
};

/* A record must be read to its last byte and no further: `kind` names it
 * in the message, `last` what comes last in it. */
static int reader_end(const struct reader *r, const char *kind, const char *last, char *err, size_t errsize)
{
	if (r->fail) {
		snprintf(err, errsize, "%s record: truncated at '%s'", kind, r->fail);
		return -1;
	}
	if (r->p != r->end) {
		snprintf(err, errsize, "%s record: %zu bytes after the last %s", kind, (size_t)(r->end - r->p), last);
		return -1;
	}
	return 0;
}

static uint64_t get_le(struct reader *r, int bytes, const char *what)
{
	if (r->fail)
		return 0;
	if (r->end - r->p < bytes) {
		r->fail = what;
		return 0;
	}
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += bytes;
	return v;
}

static uint64_t get_varint(struct reader *r, const char *what)
{
	uint64_t v = 0;
	for (int shift = 0; !r->fail; shift += 7) {
		/* Ten bytes carry 64 bits; an eleventh, or bits beyond 64, is
		 * not a value we wrote. */
		if (r->p == r->end || shift > 63 || (shift == 63 && (*r->p & 0x7e))) {
			r->fail = what;
			break;
		}
		uint8_t c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "8-4-4-4-12" hex to 16 bytes; -1 if malformed. */
static int uuid_parse(const char *s, uint8_t out[16])
{
	if (strlen(s) != 36)
		return -1;
	int k = 0;
	for (int i = 0; i < 36;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -1;
			continue;
		}
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[k++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return 0;
}

static void uuid_format(const uint8_t b[16], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
	         b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

size_t vm_record_encode_usage(const char *uuid, const struct vm_usage_row *row, uint8_t *buf)
{
	bool host = !uuid || !*uuid;
	size_t n = 0;
	buf[n++] = VM_RECORD_VERSION;
	buf[n++] = VM_REC_USAGE;
	bool power = row->set == vm_usage_power_meters();
	buf[n++] = (uint8_t)(host ? FLAG_HOST | (power ? FLAG_POWER : 0) : 0);
	if (host || uuid_parse(uuid, buf + n) < 0)
		memset(buf + n, 0, 16);
	n += 16;
	put_le(buf + n, (uint64_t)row->minute_ns, 8);
	n += 8;
	put_le(buf + n, (uint32_t)row->coverage_ms, 4);
	n += 4;
	put_le(buf + n, (uint32_t)row->samples, 4);
	n += 4;
	n += put_varint(buf + n, row->late);
	n += put_varint(buf + n, row->have);
	for (size_t i = 0; i < row->set->n; i++) {
		if (!(row->have & (UINT64_C(1) << i)))
			continue;
		if (i < row->set->n_counters) {
			n += put_varint(buf + n, row->sum[i]);
		} else {
			n += put_varint(buf + n, row->avg[i]);
			n += put_varint(buf + n, row->max[i]);
		}
	}
	return n;
}

int vm_record_decode_usage(const void *buf, size_t len, struct vm_db_usage *out, char *err, size_t errsize)
{
	memset(out, 0, sizeof *out);
	if (vm_record_kind(buf, len) != VM_REC_USAGE) {
		snprintf(err, errsize, "not a usage record of format %d", VM_RECORD_VERSION);
		return -1;
	}
	struct reader r = {(const uint8_t *)buf + 2, (const uint8_t *)buf + len, NULL};
	uint64_t flags = get_le(&r, 1, "flags");
	if (!r.fail && ((flags & ~(uint64_t)(FLAG_HOST | FLAG_POWER)) || flags == FLAG_POWER)) {
		snprintf(err, errsize, "usage record: unknown flags 0x%02llx", (unsigned long long)flags);
		return -1;
	}
	uint8_t id[16];
	if (r.end - r.p >= 16) {
		memcpy(id, r.p, 16);
		r.p += 16;
	} else {
		r.fail = "uuid";
	}
	struct vm_usage_row *row = &out->row;
	row->set = (flags & FLAG_POWER)  ? vm_usage_power_meters()
	           : (flags & FLAG_HOST) ? vm_usage_host_meters()
	                                 : vm_usage_vm_meters();
	row->minute_ns = (int64_t)get_le(&r, 8, "minute");
	uint64_t cov = get_le(&r, 4, "coverage");
	uint64_t samples = get_le(&r, 4, "samples");
	row->late = get_varint(&r, "late");
	row->have = get_varint(&r, "meter mask");
	for (size_t i = 0; i < row->set->n && !r.fail; i++) {
		if (!(row->have & (UINT64_C(1) << i)))
			continue;
		if (i < row->set->n_counters) {
			row->sum[i] = get_varint(&r, row->set->meters[i].name);
		} else {
			row->avg[i] = get_varint(&r, row->set->meters[i].name);
			row->max[i] = get_varint(&r, row->set->meters[i].name);
		}
	}
	if (reader_end(&r, "usage", "meter", err, errsize) < 0)
		return -1;
	if (row->set->n < 64 && (row->have >> row->set->n)) {
		snprintf(err, errsize, "usage record: meter mask has bits beyond the %zu meters", row->set->n);
		return -1;
	}
	if (cov > 60000 || vm_minute_floor(row->minute_ns) != row->minute_ns) {
		snprintf(err, errsize, "usage record: minute or coverage out of range");
		return -1;
	}
	row->coverage_ms = (int32_t)cov;
	row->samples = (int32_t)(samples > INT32_MAX ? INT32_MAX : samples);
	if (flags & FLAG_HOST)
		out->uuid[0] = '\0';
	else
		uuid_format(id, out->uuid);
	return 0;
}

/* ---------------------------------------------------------------- traffic */

#define FLAG_LIBVIRT_RX 1u
#define FLAG_LIBVIRT_TX 2u

uint8_t *vm_record_encode_traffic(const struct vm_db_traffic *tr, size_t *len)
{
	size_t n_classes =
	    tr->n_classes < VM_RECORD_TRAFFIC_MAX_CLASSES ? tr->n_classes : VM_RECORD_TRAFFIC_MAX_CLASSES;
	uint8_t *buf = vm_xmalloc(2 + 1 + 16 + 8 + 4 + 2 * 10 + 10 + n_classes * (1 + VM_NETCLASS_NAME_MAX + 4 * 10));
	size_t n = 0;
	buf[n++] = VM_RECORD_VERSION;
	buf[n++] = VM_REC_TRAFFIC;
	buf[n++] = (uint8_t)((tr->have_libvirt_rx ? FLAG_LIBVIRT_RX : 0) | (tr->have_libvirt_tx ? FLAG_LIBVIRT_TX : 0));
	if (uuid_parse(tr->uuid, buf + n) < 0)
		memset(buf + n, 0, 16);
	n += 16;
	put_le(buf + n, (uint64_t)tr->minute_ns, 8);
	n += 8;
	put_le(buf + n, (uint32_t)tr->captured_ms, 4);
	n += 4;
	if (tr->have_libvirt_rx)
		n += put_varint(buf + n, tr->libvirt_rx_bytes);
	if (tr->have_libvirt_tx)
		n += put_varint(buf + n, tr->libvirt_tx_bytes);
	n += put_varint(buf + n, n_classes);
	for (size_t i = 0; i < n_classes; i++) {
		const struct vm_db_traffic_class *c = &tr->classes[i];
		size_t nl = strnlen(c->name, VM_NETCLASS_NAME_MAX);
		buf[n++] = (uint8_t)nl;
		memcpy(buf + n, c->name, nl);
		n += nl;
		n += put_varint(buf + n, c->rx_bytes);
		n += put_varint(buf + n, c->tx_bytes);
		n += put_varint(buf + n, c->rx_packets);
		n += put_varint(buf + n, c->tx_packets);
	}
	*len = n;
	return buf;
}

/* A class name as a traffic record may carry: a configured or default
 * class's, or a built-in one. */
static bool class_name_ok(const char *name)
{
	return vm_netclass_check_name(name) == NULL || strcmp(name, VM_NETCLASS_NAME_MALFORMED) == 0 ||
	       strcmp(name, VM_NETCLASS_NAME_NON_IP) == 0;
}

int vm_record_decode_traffic(const void *buf, size_t len, struct vm_db_traffic *out,
                             struct vm_db_traffic_class *classes, char *err, size_t errsize)
{
	memset(out, 0, sizeof *out);
	out->classes = classes;
	if (vm_record_kind(buf, len) != VM_REC_TRAFFIC) {
		snprintf(err, errsize, "not a traffic record of format %d", VM_RECORD_VERSION);
		return -1;
	}
	struct reader r = {(const uint8_t *)buf + 2, (const uint8_t *)buf + len, NULL};
	uint64_t flags = get_le(&r, 1, "flags");
	if (!r.fail && (flags & ~(uint64_t)(FLAG_LIBVIRT_RX | FLAG_LIBVIRT_TX))) {
		snprintf(err, errsize, "traffic record: unknown flags 0x%02llx", (unsigned long long)flags);
		return -1;
	}
	uint8_t id[16];
	if (r.end - r.p >= 16) {
		memcpy(id, r.p, 16);
		r.p += 16;
	} else {
		r.fail = "uuid";
	}
	out->minute_ns = (int64_t)get_le(&r, 8, "minute");
	uint64_t cap = get_le(&r, 4, "captured");
	out->have_libvirt_rx = flags & FLAG_LIBVIRT_RX;
	out->have_libvirt_tx = flags & FLAG_LIBVIRT_TX;
	if (out->have_libvirt_rx)
		out->libvirt_rx_bytes = get_varint(&r, "libvirt rx");
	if (out->have_libvirt_tx)
		out->libvirt_tx_bytes = get_varint(&r, "libvirt tx");
	uint64_t n_classes = get_varint(&r, "class count");
	if (!r.fail && n_classes > VM_RECORD_TRAFFIC_MAX_CLASSES) {
		snprintf(err, errsize, "traffic record: %llu classes, more than %d", (unsigned long long)n_classes,
		         VM_RECORD_TRAFFIC_MAX_CLASSES);
		return -1;
	}
	for (uint64_t i = 0; i < n_classes && !r.fail; i++) {
		struct vm_db_traffic_class *c = &classes[i];
		memset(c, 0, sizeof *c);
		uint64_t nl = get_le(&r, 1, "class name");
		if (!r.fail && (nl > VM_NETCLASS_NAME_MAX || (uint64_t)(r.end - r.p) < nl)) {
			r.fail = "class name";
			break;
		}
		memcpy(c->name, r.p, nl);
		r.p += nl;
		if (!r.fail && (strlen(c->name) != nl || !class_name_ok(c->name))) {
			snprintf(err, errsize, "traffic record: class %llu has no valid name", (unsigned long long)i);
			return -1;
		}
		c->rx_bytes = get_varint(&r, "rx bytes");
		c->tx_bytes = get_varint(&r, "tx bytes");
		c->rx_packets = get_varint(&r, "rx packets");
		c->tx_packets = get_varint(&r, "tx packets");
		out->n_classes++;
	}
	if (reader_end(&r, "traffic", "class", err, errsize) < 0)
		return -1;
	if (cap > 60000 || vm_minute_floor(out->minute_ns) != out->minute_ns) {
		snprintf(err, errsize, "traffic record: minute or captured time out of range");
		return -1;
	}
	out->captured_ms = (int32_t)cap;
	uuid_format(id, out->uuid);
	return 0;
}

size_t vm_record_encode_host_capture(const struct vm_db_host_capture *hc, uint8_t *buf)
{
	size_t n = 0;
	buf[n++] = VM_RECORD_VERSION;
	buf[n++] = VM_REC_HOST_CAPTURE;
	put_le(buf + n, (uint64_t)hc->minute_ns, 8);
	n += 8;
	put_le(buf + n, (uint32_t)hc->uncovered_ms, 4);
	n += 4;
	n += put_varint(buf + n, hc->frames);
	n += put_varint(buf + n, hc->drops);
	n += put_varint(buf + n, hc->ifdrops);
	return n;
}

int vm_record_decode_host_capture(const void *buf, size_t len, struct vm_db_host_capture *out, char *err,
                                  size_t errsize)
{
	memset(out, 0, sizeof *out);
	if (vm_record_kind(buf, len) != VM_REC_HOST_CAPTURE) {
		snprintf(err, errsize, "not a host capture record of format %d", VM_RECORD_VERSION);
		return -1;
	}
	struct reader r = {(const uint8_t *)buf + 2, (const uint8_t *)buf + len, NULL};
	out->minute_ns = (int64_t)get_le(&r, 8, "minute");
	uint64_t unc = get_le(&r, 4, "uncovered");
	out->frames = get_varint(&r, "frames");
	out->drops = get_varint(&r, "drops");
	out->ifdrops = get_varint(&r, "ifdrops");
	if (reader_end(&r, "host capture", "field", err, errsize) < 0)
		return -1;
	if (unc > 60000 || vm_minute_floor(out->minute_ns) != out->minute_ns) {
		snprintf(err, errsize, "host capture record: minute or uncovered time out of range");
		return -1;
	}
	out->uncovered_ms = (int32_t)unc;
	return 0;
}

/* ---------------------------------------------------------------- JSON */

static uint8_t *wrap_json(int kind, json_t *obj, size_t *len)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	size_t n = strlen(text);
	uint8_t *rec = vm_xmalloc(n + 2);
	rec[0] = VM_RECORD_VERSION;
	rec[1] = (uint8_t)kind;
	memcpy(rec + 2, text, n);
	free(text);
	*len = n + 2;
	return rec;
}

static json_t *unwrap_json(int kind, const void *buf, size_t len, char *err, size_t errsize)
{
	if (vm_record_kind(buf, len) != kind) {
		snprintf(err, errsize, "not a record of kind %d, format %d", kind, VM_RECORD_VERSION);
		return NULL;
	}
	json_error_t je;
	json_t *obj = json_loadb((const char *)buf + 2, len - 2, JSON_REJECT_DUPLICATES, &je);
	if (!obj || !json_is_object(obj)) {
		snprintf(err, errsize, "record of kind %d: %s", kind, obj ? "not a JSON object" : je.text);
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* Copies a JSON string member into a fixed field; -1 if missing or too long. */
static int get_str(json_t *obj, const char *key, char *dst, size_t size, char *err, size_t errsize)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_string(v) || json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errsize, "record: field '%s' missing, not a string or longer than %zu bytes", key,
		         size - 1);
		return -1;
	}
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out, char *err, size_t errsize)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, errsize, "record: field '%s' missing or not an integer in %lld..%lld", key,
		         (long long)min, (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

/* The inventory's JSON form (lib/inventory.h) with the time it was seen. */
uint8_t *vm_record_encode_inventory(const struct vm_inventory *inv, int64_t at_ns, size_t *len)
{
	json_t *obj = vm_inv_to_json(inv);
	json_object_set_new(obj, "at", json_integer((json_int_t)at_ns));
	return wrap_json(VM_REC_INVENTORY, obj, len);
}

int vm_record_decode_inventory(const void *buf, size_t len, struct vm_inventory *inv, int64_t *at_ns, char *err,
                               size_t errsize)
{
	memset(inv, 0, sizeof *inv);
	json_t *obj = unwrap_json(VM_REC_INVENTORY, buf, len, err, errsize);
	if (!obj)
		return -1;
	char why[200];
	int rc = get_int(obj, "at", INT64_MIN, INT64_MAX, at_ns, err, errsize);
	if (rc == 0 && vm_inv_from_json(obj, inv, why, sizeof why)) {
		snprintf(err, errsize, "inventory record: %s", why);
		rc = -1;
	}
	json_decref(obj);
	return rc;
}

uint8_t *vm_record_encode_event(const struct vm_record_event *ev, size_t *len)
{
	json_t *obj = json_pack("{s:s, s:I, s:s, s:s}", "uuid", ev->uuid, "at", (json_int_t)ev->at_ns, "event",
	                        ev->event, "detail", ev->detail);
	return wrap_json(VM_REC_EVENT, obj, len);
}

int vm_record_decode_event(const void *buf, size_t len, struct vm_record_event *ev, char *err, size_t errsize)
{
	memset(ev, 0, sizeof *ev);
	json_t *obj = unwrap_json(VM_REC_EVENT, buf, len, err, errsize);
	if (!obj)
		return -1;
	int rc = (get_str(obj, "uuid", ev->uuid, sizeof ev->uuid, err, errsize) ||
	          get_int(obj, "at", INT64_MIN, INT64_MAX, &ev->at_ns, err, errsize) ||
	          get_str(obj, "event", ev->event, sizeof ev->event, err, errsize) ||
	          get_str(obj, "detail", ev->detail, sizeof ev->detail, err, errsize))
	             ? -1
	             : 0;
	json_decref(obj);
	return rc;
}

uint8_t *vm_record_encode_loss(const struct vm_record_loss *l, size_t *len)
{
	json_t *obj = json_pack("{s:s, s:I, s:I, s:s}", "uuid", l->uuid, "from", (json_int_t)l->from_ns, "to",
	                        (json_int_t)l->to_ns, "reason", l->reason);
	return wrap_json(VM_REC_LOSS, obj, len);
}

int vm_record_decode_loss(const void *buf, size_t len, struct vm_record_loss *l, char *err, size_t errsize)
{
	memset(l, 0, sizeof *l);
	json_t *obj = unwrap_json(VM_REC_LOSS, buf, len, err, errsize);
	if (!obj)
		return -1;
	int rc = (get_str(obj, "uuid", l->uuid, sizeof l->uuid, err, errsize) ||
	          get_int(obj, "from", 0, INT64_MAX, &l->from_ns, err, errsize) ||
	          get_int(obj, "to", 0, INT64_MAX, &l->to_ns, err, errsize) ||
	          get_str(obj, "reason", l->reason, sizeof l->reason, err, errsize))
	             ? -1
	             : 0;
	if (rc == 0 && l->to_ns <= l->from_ns) {
		snprintf(err, errsize, "loss record: empty time range");
		rc = -1;
	}
	json_decref(obj);
	return rc;
}

uint8_t *vm_record_encode_host(const struct vm_host_info *h, int64_t at_ns, size_t *len)
{
	json_t *obj = vm_host_to_json(h);
	json_object_set_new(obj, "at", json_integer((json_int_t)at_ns));
	return wrap_json(VM_REC_HOST, obj, len);
}

int vm_record_decode_host(const void *buf, size_t len, struct vm_host_info *h, int64_t *at_ns, char *err,
                          size_t errsize)
{
	memset(h, 0, sizeof *h);
	json_t *obj = unwrap_json(VM_REC_HOST, buf, len, err, errsize);
	if (!obj)
		return -1;
	char why[200];
	int rc = get_int(obj, "at", INT64_MIN, INT64_MAX, at_ns, err, errsize);
	if (rc == 0 && vm_host_from_json(obj, h, why, sizeof why)) {
		snprintf(err, errsize, "host record: %s", why);
		rc = -1;
	}
	json_decref(obj);
	return rc;
}
