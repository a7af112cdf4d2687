#include "config.h"

#include "capture_proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* What each type carries; the one table col_capmsg_check() goes by. */
static const struct {
	size_t body, item;
} capmsg_layout[COL_CAPMSG_N_TYPES] = {
    [COL_CAPMSG_CONFIG] = {sizeof(struct col_capmsg_config), 0},
    [COL_CAPMSG_IFACES] = {0, sizeof(struct col_capmsg_iface)},
    [COL_CAPMSG_CLASSES] = {sizeof(struct col_capmsg_classes), sizeof(struct col_capmsg_rule)},
    [COL_CAPMSG_FLUSH] = {0, 0},
    [COL_CAPMSG_READY] = {sizeof(struct col_capmsg_ready), 0},
    [COL_CAPMSG_LOG] = {sizeof(struct col_capmsg_log), 0},
    [COL_CAPMSG_IFSTATE] = {0, sizeof(struct col_capmsg_ifstate)},
    [COL_CAPMSG_COUNTS] = {sizeof(struct col_capmsg_stats), sizeof(struct col_capmsg_cell)},
};

/* Strings in the bodies and items are fixed arrays: each must end within
 * its array, whatever the peer put there. */
static int terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static int check_strings(const struct col_capmsg_hdr *h, const void *body, const void *items)
{
	switch ((enum col_capmsg_type)h->type) {
	case COL_CAPMSG_CONFIG: {
		const struct col_capmsg_config *c = body;
		return terminated(c->user, sizeof c->user) && terminated(c->chroot_dir, sizeof c->chroot_dir);
	}
	case COL_CAPMSG_IFACES:
		for (uint32_t i = 0; i < h->n; i++) {
			const struct col_capmsg_iface *it = (const struct col_capmsg_iface *)items + i;
			if (!terminated(it->name, sizeof it->name) || !it->name[0])
				return 0;
		}
		return 1;
	case COL_CAPMSG_CLASSES:
		if (!terminated(((const struct col_capmsg_classes *)body)->default_name, VM_NETCLASS_NAME_MAX + 1))
			return 0;
		for (uint32_t i = 0; i < h->n; i++) {
			const struct col_capmsg_rule *r = (const struct col_capmsg_rule *)items + i;
			if (!terminated(r->class_name, sizeof r->class_name) ||
			    !terminated(r->prefix, sizeof r->prefix))
				return 0;
		}
		return 1;
	case COL_CAPMSG_READY: {
		const struct col_capmsg_ready *r = body;
		return terminated(r->pcap_version, sizeof r->pcap_version);
	}
	case COL_CAPMSG_LOG: {
		const struct col_capmsg_log *l = body;
		return terminated(l->text, sizeof l->text);
	}
	case COL_CAPMSG_IFSTATE:
		for (uint32_t i = 0; i < h->n; i++) {
			const struct col_capmsg_ifstate *it = (const struct col_capmsg_ifstate *)items + i;
			if (!terminated(it->name, sizeof it->name))
				return 0;
		}
		return 1;
	case COL_CAPMSG_COUNTS:
		for (uint32_t i = 0; i < h->n; i++) {
			const struct col_capmsg_cell *c = (const struct col_capmsg_cell *)items + i;
			if (!terminated(c->class_name, sizeof c->class_name) || c->dir > VM_PKT_TX)
				return 0;
		}
		return 1;
	case COL_CAPMSG_FLUSH:
	case COL_CAPMSG_N_TYPES: break;
	}
	return 1;
}

int col_capmsg_check(const void *buf, size_t len, char *err, size_t errsize)
{
	const struct col_capmsg_hdr *h = buf;

	if (len < sizeof *h) {
		snprintf(err, errsize, "message of %zu bytes, shorter than a header", len);
		return -1;
	}
	if (h->version != COL_CAPMSG_VERSION) {
		snprintf(err, errsize, "message version %u, want %u", h->version, COL_CAPMSG_VERSION);
		return -1;
	}
	if (h->type == 0 || h->type >= COL_CAPMSG_N_TYPES) {
		snprintf(err, errsize, "unknown message type %u", h->type);
		return -1;
	}
	size_t body = capmsg_layout[h->type].body, item = capmsg_layout[h->type].item;
	size_t max_n = item ? (COL_CAPMSG_MAX - sizeof *h - body) / item : 0;
	if (h->n > max_n || h->len != len || len != sizeof *h + body + (size_t)h->n * item) {
		snprintf(err, errsize, "message type %u: %zu bytes with %u items, want %zu + %u * %zu", h->type, len,
		         h->n, sizeof *h + body, h->n, item);
		return -1;
	}
	if (h->flags & ~(uint32_t)(COL_CAPMSG_F_FIRST | COL_CAPMSG_F_LAST)) {
		snprintf(err, errsize, "message type %u: unknown flags %#x", h->type, h->flags);
		return -1;
	}
	if (!check_strings(h, col_capmsg_body(buf), col_capmsg_items(buf))) {
		snprintf(err, errsize, "message type %u: a string without its end, or a bad value", h->type);
		return -1;
	}
	return 0;
}

int col_capmsg_send(int fd, enum col_capmsg_type type, uint64_t seq, uint32_t flags, const void *body,
                    const void *items, uint32_t n)
{
	size_t body_len = capmsg_layout[type].body, items_len = (size_t)n * capmsg_layout[type].item;
	struct col_capmsg_hdr h = {
	    .version = COL_CAPMSG_VERSION,
	    .type = (uint16_t)type,
	    .len = (uint32_t)(sizeof h + body_len + items_len),
	    .seq = seq,
	    .flags = flags,
	    .n = n,
	};
	struct iovec iov[3] = {{&h, sizeof h}, {(void *)body, body_len}, {(void *)items, items_len}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};

	if (h.len > COL_CAPMSG_MAX)
		return -EMSGSIZE;
	for (;;) {
		ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (r == (ssize_t)h.len)
			return 0;
		if (r >= 0)
			return -EIO; /* a seqpacket send is all or nothing */
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

const void *col_capmsg_body(const void *buf)
{
	return (const char *)buf + sizeof(struct col_capmsg_hdr);
}

const void *col_capmsg_items(const void *buf)
{
	const struct col_capmsg_hdr *h = buf;
	return (const char *)buf + sizeof *h + capmsg_layout[h->type].body;
}
