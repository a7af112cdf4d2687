/* VM minutes kept packed in PostgreSQL (sql/006_packed.sql): a closed,
 * rolled-up UTC day of vm_usage_minute becomes one vm_usage_packed row per
 * VM, host and hour (lib/minpack.h's bytes), and an hour goes back to
 * vm_usage_minute when rows delivered late make its rollup due again.
 * lib/maint.c calls these under its maintenance lock; PostgreSQL cannot
 * decode the bytes, so only C code here packs and unpacks.
 *
 * Errors: each returns -1 with a message in err naming the VM, host and
 * hour when the bytes or the rows are at fault. */
#ifndef VM_PACKED_H
#define VM_PACKED_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

struct vm_packed_day {
	uint64_t minutes; /* minute rows read */
	uint64_t hours;   /* packed rows written */
	uint64_t bytes;   /* their data bytes */
};

/* Packs the VM minutes of the UTC day starting at day_ns, held in the
 * partition `partition` of vm_usage_minute, in one transaction of its own
 * (pg has none open): the partition is locked against inserts, the day
 * checked again (closed, no dirty hour: else nothing is done), its rows
 * encoded, each hour decoded again and compared, copied into
 * vm_usage_packed and the partition emptied.  A failure at any point rolls
 * back and leaves the minutes as they were.  Returns 1 (packed, *st
 * filled), 0 (not packable now) or -1. */
int vm_packed_pack_day(PGconn *pg, int64_t day_ns, const char *partition, struct vm_packed_day *st, char *err,
                       size_t errsize);

/* In the caller's open transaction: moves the packed hours in [from_ns,
 * to_ns) of host host_id (0: every host) back into vm_usage_minute.  A
 * minute delivered again since its day was packed is replaced by the
 * packed one, its first delivery, as the wide table's key would have kept
 * it: a minute is counted once.  Returns the number of packed rows moved (0 when
 * there were none: one index probe) or -1. */
long vm_packed_unpack(PGconn *pg, int64_t from_ns, int64_t to_ns, int host_id, char *err, size_t errsize);

#endif
