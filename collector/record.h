/* The on-disk form of what the collector delivers (usage rows, inventory
 * states, lifecycle events, host inventory, traffic by class), as spool
 * payloads.
 *
 * Every record starts with a format version byte and a kind byte.  Usage
 * rows (a thousand VMs write a thousand a minute) are binary: the UUID's
 * 16 bytes, fixed-width key fields, a bit mask of the meters present and
 * LEB128 varints for their values (~60-120 bytes a row).  The rare kinds
 * are JSON, easy to extend and to read in a hex dump.  Traffic minutes (a
 * VM's coverage and its classes) and host capture minutes are binary too.
 *
 * Decoding is strict: a record that does not parse exactly (a short field,
 * trailing bytes, an unknown kind or version, a value out of range) is an
 * error naming what was wrong; nothing is read past `len`. */
#ifndef COL_RECORD_H
#define COL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "inventory.h"
#include "usage.h"

#define VM_RECORD_VERSION 1
/* Upper bound of an encoded usage row (all meters at their largest). */
#define VM_RECORD_USAGE_MAX (2 + 16 + 8 + 4 + 4 + 10 + 10 + 3 * 10 * VM_USAGE_MAX_METERS)

enum vm_record_kind {
	VM_REC_USAGE = 1, /* a VM's or the host's minute */
	VM_REC_INVENTORY = 2,
	VM_REC_EVENT = 3,
	VM_REC_HOST = 4,
	VM_REC_TRAFFIC = 5,      /* a VM's minute of captured traffic by class */
	VM_REC_HOST_CAPTURE = 6, /* the host's capture health in a minute */
	VM_REC_LOSS = 7,         /* a VM's usage that cannot be known, over a time range */
};

/* Classes one traffic record holds at most: every configured class, the
 * three built-in ones, and those of a configuration reloaded within the
 * minute, twice over. */
#define VM_RECORD_TRAFFIC_MAX_CLASSES 256
#define VM_RECORD_HOST_CAPTURE_MAX (2 + 8 + 4 + 3 * 10)

struct vm_record_event {
	char uuid[37];
	int64_t at_ns;
	char event[16];
	char detail[32];
};

/* Returns the kind of an encoded record, or -1 if it is not one of ours
 * (too short, another format version). */
int vm_record_kind(const void *buf, size_t len);

/* Encodes a usage row; uuid "" or NULL for a host row (row->set the host's
 * meters, or the power meters for its energy).  buf must hold
 * VM_RECORD_USAGE_MAX bytes.  Returns the length. */
size_t vm_record_encode_usage(const char *uuid, const struct vm_usage_row *row, uint8_t *buf);
/* Decodes into *out (row.set is the VM, host or power meter set).  0, or -1 with
 * a message in err. */
int vm_record_decode_usage(const void *buf, size_t len, struct vm_db_usage *out, char *err, size_t errsize);

/* Encodes a VM's traffic minute (tr->n_classes at most
 * VM_RECORD_TRAFFIC_MAX_CLASSES, names valid class names).  Returns a newly
 * allocated record (caller frees) and its length in *len. */
uint8_t *vm_record_encode_traffic(const struct vm_db_traffic *tr, size_t *len);
/* Decodes into *out, whose classes point into `classes` (room for
 * VM_RECORD_TRAFFIC_MAX_CLASSES, owned by the caller).  0, or -1 with a
 * message in err. */
int vm_record_decode_traffic(const void *buf, size_t len, struct vm_db_traffic *out,
                             struct vm_db_traffic_class *classes, char *err, size_t errsize);

/* The host's capture minute; buf holds VM_RECORD_HOST_CAPTURE_MAX bytes.
 * Returns the length. */
size_t vm_record_encode_host_capture(const struct vm_db_host_capture *hc, uint8_t *buf);
int vm_record_decode_host_capture(const void *buf, size_t len, struct vm_db_host_capture *out, char *err,
                                  size_t errsize);

/* The JSON kinds: each returns a newly allocated record (caller frees) and
 * its length in *len. */
uint8_t *vm_record_encode_inventory(const struct vm_inventory *inv, int64_t at_ns, size_t *len);
uint8_t *vm_record_encode_event(const struct vm_record_event *ev, size_t *len);
/* A VM's usage of [from_ns, to_ns) that cannot be known, and why. */
struct vm_record_loss {
	char uuid[37];
	int64_t from_ns, to_ns;
	char reason[64];
};
uint8_t *vm_record_encode_loss(const struct vm_record_loss *l, size_t *len);
/* Checks from_ns < to_ns as well. */
int vm_record_decode_loss(const void *buf, size_t len, struct vm_record_loss *l, char *err, size_t errsize);
uint8_t *vm_record_encode_host(const struct vm_host_info *host, int64_t at_ns, size_t *len);

/* Decoders of the JSON kinds; 0, or -1 with a message in err.  *inv is
 * fully overwritten. */
int vm_record_decode_inventory(const void *buf, size_t len, struct vm_inventory *inv, int64_t *at_ns, char *err,
                               size_t errsize);
int vm_record_decode_event(const void *buf, size_t len, struct vm_record_event *ev, char *err, size_t errsize);
int vm_record_decode_host(const void *buf, size_t len, struct vm_host_info *host, int64_t *at_ns, char *err,
                          size_t errsize);

#endif
