#include "config.h"

#include "traffic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binio.h"
#include "netclass.h"
#include "record.h"
#include "vtime.h"
#include "xalloc.h"

struct tminute {
	int64_t start;
	uint64_t covered_ns;
	bool have_rx, have_tx;
	uint64_t lv_rx, lv_tx;
	uint64_t frames, drops, ifdrops, uncovered_ns;
	struct vm_db_traffic_class *classes; /* sorted by name */
	size_t n, cap;
};

struct col_traffic_acc {
	struct tminute *open; /* sorted by start */
	size_t n_open, cap;
	int64_t closed; /* minutes before this are out */
};

struct col_traffic_acc *col_traffic_acc_new(void)
{
	return vm_xcalloc(1, sizeof(struct col_traffic_acc));
}

void col_traffic_acc_free(struct col_traffic_acc *acc)
{
	if (!acc)
		return;
	for (size_t i = 0; i < acc->n_open; i++)
		free(acc->open[i].classes);
	free(acc->open);
	free(acc);
}

size_t col_traffic_acc_open_minutes(const struct col_traffic_acc *acc)
{
	return acc->n_open;
}

static struct tminute *minute_get(struct col_traffic_acc *acc, int64_t start)
{
	size_t i = 0;
	while (i < acc->n_open && acc->open[i].start < start)
		i++;
	if (i < acc->n_open && acc->open[i].start == start)
		return &acc->open[i];
	acc->open = vm_xgrow(acc->open, &acc->cap, acc->n_open + 1, sizeof *acc->open);
	memmove(&acc->open[i + 1], &acc->open[i], (acc->n_open - i) * sizeof *acc->open);
	acc->n_open++;
	struct tminute *m = &acc->open[i];
	memset(m, 0, sizeof *m);
	m->start = start;
	return m;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static struct vm_db_traffic_class *class_get(struct tminute *m, const char *name)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, m->classes[mid].name);
		if (c == 0)
			return &m->classes[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	/* A record holds VM_RECORD_TRAFFIC_MAX_CLASSES: past it (reloads by
	 * the dozen within a minute) the counts go to the last class rather
	 * than nowhere. */
	if (m->n >= VM_RECORD_TRAFFIC_MAX_CLASSES)
		return &m->classes[m->n - 1];
	m->classes = vm_xgrow(m->classes, &m->cap, m->n + 1, sizeof *m->classes);
	memmove(&m->classes[lo + 1], &m->classes[lo], (m->n - lo) * sizeof *m->classes);
	m->n++;
	struct vm_db_traffic_class *c = &m->classes[lo];
	memset(c, 0, sizeof *c);
	size_t len = strnlen(name, VM_NETCLASS_NAME_MAX);
	memcpy(c->name, name, len);
	return c;
}

/* Intervals are a flush apart (seconds): a handful of minutes at most.
 * Past this many (a clock step), the rest goes to the last part. */
#define MAX_PARTS 64

/* A minute's share of an interval's counts. */
struct part {
	int64_t start;
	uint64_t v[4];
};

/* Splits v[0..nv) over the minutes of [t0, t1).  The part before the
 * closed mark goes, whole, to the first open minute if late_too (never
 * lost, never emitted twice), else nowhere.  Returns the number of parts;
 * their shares add up to v exactly (without late_too, less the part
 * before the mark). */
static size_t split(const struct col_traffic_acc *acc, int64_t t0, int64_t t1, const uint64_t *v, size_t nv,
                    bool late_too, struct part *out)
{
	size_t n = 0;
	if (t1 <= t0)
		return 0;
	int64_t from = t0;
	if (t0 < acc->closed) {
		int64_t late_to = t1 < acc->closed ? t1 : acc->closed;
		if (late_too) {
			out[n].start = acc->closed;
			for (size_t k = 0; k < nv; k++)
				out[n].v[k] = vm_usage_share(v[k], t0, t1, t0, late_to);
			n++;
		}
		from = late_to;
	}
	for (int64_t ms = vm_minute_floor(from); ms < t1; ms += VM_NS_PER_MIN) {
		int64_t a = from > ms ? from : ms;
		int64_t b = t1 < ms + VM_NS_PER_MIN ? t1 : ms + VM_NS_PER_MIN;
		if (b <= a)
			continue;
		if (n < MAX_PARTS) {
			out[n].start = ms;
			memset(out[n].v, 0, sizeof out[n].v);
			n++;
		}
		for (size_t k = 0; k < nv; k++)
			out[n - 1].v[k] += vm_usage_share(v[k], t0, t1, a, b);
	}
	return n;
}

void col_traffic_acc_add(struct col_traffic_acc *acc, int64_t t0, int64_t t1, const char *class_name,
                         enum vm_pkt_dir dir, uint64_t bytes, uint64_t packets)
{
	struct part parts[MAX_PARTS];
	uint64_t v[2] = {bytes, packets};
	size_t n = split(acc, t0, t1, v, 2, true, parts);
	for (size_t i = 0; i < n; i++) {
		if (!parts[i].v[0] && !parts[i].v[1])
			continue;
		struct vm_db_traffic_class *c = class_get(minute_get(acc, parts[i].start), class_name);
		if (dir == VM_PKT_RX) {
			c->rx_bytes = sat_add(c->rx_bytes, parts[i].v[0]);
			c->rx_packets = sat_add(c->rx_packets, parts[i].v[1]);
		} else {
			c->tx_bytes = sat_add(c->tx_bytes, parts[i].v[0]);
			c->tx_packets = sat_add(c->tx_packets, parts[i].v[1]);
		}
	}
}

void col_traffic_acc_cover(struct col_traffic_acc *acc, int64_t t0, int64_t t1, uint64_t covered_ns)
{
	struct part parts[MAX_PARTS];
	uint64_t v[1] = {covered_ns};
	size_t n = split(acc, t0, t1, v, 1, false, parts);
	for (size_t i = 0; i < n; i++) {
		struct tminute *m = minute_get(acc, parts[i].start);
		m->covered_ns = sat_add(m->covered_ns, parts[i].v[0]);
	}
}

void col_traffic_acc_add_host(struct col_traffic_acc *acc, int64_t t0, int64_t t1, uint64_t frames, uint64_t drops,
                              uint64_t ifdrops, uint64_t uncovered_ns)
{
	struct part parts[MAX_PARTS];
	uint64_t v[4] = {frames, drops, ifdrops, uncovered_ns};
	size_t n = split(acc, t0, t1, v, 4, true, parts);
	for (size_t i = 0; i < n; i++) {
		struct tminute *m = minute_get(acc, parts[i].start);
		m->frames = sat_add(m->frames, parts[i].v[0]);
		m->drops = sat_add(m->drops, parts[i].v[1]);
		m->ifdrops = sat_add(m->ifdrops, parts[i].v[2]);
		m->uncovered_ns = sat_add(m->uncovered_ns, parts[i].v[3]);
	}
}

void col_traffic_acc_libvirt(struct col_traffic_acc *acc, int64_t minute_ns, bool have_rx, uint64_t rx, bool have_tx,
                             uint64_t tx)
{
	if (minute_ns < acc->closed)
		return;
	struct tminute *m = minute_get(acc, minute_ns);
	m->have_rx = have_rx, m->lv_rx = rx;
	m->have_tx = have_tx, m->lv_tx = tx;
}

static int32_t ms_of(uint64_t ns)
{
	uint64_t ms = ns / 1000000;
	return (int32_t)(ms > 60000 ? 60000 : ms);
}

/* Takes the minutes that end at or before upto off the open list into
 * *out (caller frees each one's classes and the array). */
static size_t take(struct col_traffic_acc *acc, int64_t upto, struct tminute **out)
{
	size_t n = 0;
	while (n < acc->n_open && (upto == INT64_MAX || acc->open[n].start + VM_NS_PER_MIN <= upto))
		n++;
	*out = vm_xmalloc((n ? n : 1) * sizeof **out);
	if (n) {
		memcpy(*out, acc->open, n * sizeof **out);
		memmove(acc->open, acc->open + n, (acc->n_open - n) * sizeof *acc->open);
		acc->n_open -= n;
	}
	int64_t mark =
	    upto == INT64_MAX ? (n ? (*out)[n - 1].start + VM_NS_PER_MIN : acc->closed) : vm_minute_floor(upto);
	if (mark > acc->closed)
		acc->closed = mark;
	return n;
}

size_t col_traffic_acc_close(struct col_traffic_acc *acc, int64_t upto_ns, const char *uuid, col_traffic_cb cb,
                             void *arg)
{
	struct tminute *ms;
	size_t n = take(acc, upto_ns, &ms);
	for (size_t i = 0; i < n; i++) {
		struct tminute *m = &ms[i];
		/* Classes with no count in this minute (a share rounded to
		 * zero) are left out. */
		size_t k = 0;
		for (size_t j = 0; j < m->n; j++) {
			const struct vm_db_traffic_class *c = &m->classes[j];
			if (c->rx_bytes | c->tx_bytes | c->rx_packets | c->tx_packets)
				m->classes[k++] = *c;
		}
		struct vm_db_traffic tr = {
		    .minute_ns = m->start,
		    .captured_ms = ms_of(m->covered_ns),
		    .have_libvirt_rx = m->have_rx,
		    .have_libvirt_tx = m->have_tx,
		    .libvirt_rx_bytes = m->lv_rx,
		    .libvirt_tx_bytes = m->lv_tx,
		    .classes = m->classes,
		    .n_classes = k,
		};
		snprintf(tr.uuid, sizeof tr.uuid, "%s", uuid);
		cb(&tr, arg);
		free(m->classes);
	}
	free(ms);
	return n;
}

size_t col_traffic_acc_close_host(struct col_traffic_acc *acc, int64_t upto_ns, col_traffic_host_cb cb, void *arg)
{
	struct tminute *ms;
	size_t n = take(acc, upto_ns, &ms);
	for (size_t i = 0; i < n; i++) {
		struct vm_db_host_capture hc = {
		    .minute_ns = ms[i].start,
		    .frames = ms[i].frames,
		    .drops = ms[i].drops,
		    .ifdrops = ms[i].ifdrops,
		    .uncovered_ms = ms_of(ms[i].uncovered_ns),
		};
		cb(&hc, arg);
		free(ms[i].classes);
	}
	free(ms);
	return n;
}

void col_traffic_acc_save(const struct col_traffic_acc *acc, struct vm_binw *w)
{
	vm_binw_sv(w, acc->closed);
	vm_binw_uv(w, acc->n_open);
	for (size_t i = 0; i < acc->n_open; i++) {
		const struct tminute *m = &acc->open[i];
		vm_binw_sv(w, m->start);
		vm_binw_uv(w, m->covered_ns);
		vm_binw_u8(w, (uint8_t)(m->have_rx | m->have_tx << 1));
		vm_binw_uv(w, m->lv_rx);
		vm_binw_uv(w, m->lv_tx);
		vm_binw_uv(w, m->frames);
		vm_binw_uv(w, m->drops);
		vm_binw_uv(w, m->ifdrops);
		vm_binw_uv(w, m->uncovered_ns);
		vm_binw_uv(w, m->n);
		for (size_t k = 0; k < m->n; k++) {
			const struct vm_db_traffic_class *c = &m->classes[k];
			vm_binw_str(w, c->name);
			vm_binw_uv(w, c->rx_bytes);
			vm_binw_uv(w, c->tx_bytes);
			vm_binw_uv(w, c->rx_packets);
			vm_binw_uv(w, c->tx_packets);
		}
	}
}

static void clear(struct col_traffic_acc *acc)
{
	for (size_t i = 0; i < acc->n_open; i++)
		free(acc->open[i].classes);
	acc->n_open = 0;
	acc->closed = 0;
}

int col_traffic_acc_load(struct col_traffic_acc *acc, struct vm_binr *r, size_t max_open)
{
	clear(acc);
	acc->closed = vm_binr_sv(r, "traffic closed mark");
	size_t n = (size_t)vm_binr_uv_max(r, max_open, "traffic minutes");
	for (size_t i = 0; i < n && vm_binr_ok(r); i++) {
		int64_t start = vm_binr_sv(r, "traffic minute");
		if (start % VM_NS_PER_MIN || (acc->n_open && start <= acc->open[acc->n_open - 1].start)) {
			vm_binr_fail(r, "traffic minute");
			break;
		}
		struct tminute *m = minute_get(acc, start);
		m->covered_ns = vm_binr_uv(r, "traffic coverage");
		uint8_t f = vm_binr_u8(r, "traffic flags");
		m->have_rx = f & 1, m->have_tx = (f >> 1) & 1;
		m->lv_rx = vm_binr_uv(r, "traffic libvirt rx");
		m->lv_tx = vm_binr_uv(r, "traffic libvirt tx");
		m->frames = vm_binr_uv(r, "capture frames");
		m->drops = vm_binr_uv(r, "capture drops");
		m->ifdrops = vm_binr_uv(r, "capture drops");
		m->uncovered_ns = vm_binr_uv(r, "capture coverage");
		size_t nc = (size_t)vm_binr_uv_max(r, VM_RECORD_TRAFFIC_MAX_CLASSES, "traffic classes");
		for (size_t k = 0; k < nc && vm_binr_ok(r); k++) {
			char name[VM_NETCLASS_NAME_MAX + 1];
			vm_binr_str(r, name, sizeof name, "traffic class");
			if (!vm_binr_ok(r) || (m->n && strcmp(name, m->classes[m->n - 1].name) <= 0)) {
				vm_binr_fail(r, "traffic class");
				break;
			}
			struct vm_db_traffic_class *c = class_get(m, name);
			c->rx_bytes = vm_binr_uv(r, "traffic counts");
			c->tx_bytes = vm_binr_uv(r, "traffic counts");
			c->rx_packets = vm_binr_uv(r, "traffic counts");
			c->tx_packets = vm_binr_uv(r, "traffic counts");
		}
	}
	if (!vm_binr_ok(r)) {
		clear(acc);
		return -1;
	}
	return 0;
}
