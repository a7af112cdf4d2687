/* A compact, exact encoding of one hour of one VM's (or host's) minute
 * rows: the form closed hours are to be kept in once per-minute rows are
 * packed (docs/STORAGE.md, "Not yet").  A fully populated VM minute costs
 * ~390 bytes as a PostgreSQL row; here it costs what its values need.
 *
 * The hour is a column store: which minutes are present, then for each
 * column (coverage, samples, late, every counter's sum, every gauge's
 * average and maximum) which of those minutes have a value and the values,
 * each column in the smallest of a few encodings: plain varints, a
 * constant, zig-zag deltas from the previous minute (gauges that barely
 * move), or, for a gauge's maximum, from the same minute's average (which
 * it usually equals).  Decoding gives back exactly the rows that were
 * encoded. */
#ifndef VM_MINPACK_H
#define VM_MINPACK_H

#include <stddef.h>
#include <stdint.h>

#include "usage.h"

/* Encodes n rows (1..60) of the set `set`, all in the UTC hour starting at
 * hour_ns, at distinct minutes, in any order.  Returns the bytes (the
 * caller frees them) and their length in *len, or NULL with a message in
 * err for rows outside the hour, two rows of one minute, or a row of
 * another set. */
uint8_t *vm_pack_hour(const struct vm_meter_set *set, int64_t hour_ns, const struct vm_usage_row *rows, size_t n,
                      size_t *len, char *err, size_t errsize);

/* Decodes an hour into rows[60] (of the set the bytes name, which must be
 * `set`), in minute order; *n is how many.  Returns 0, or -1 with a
 * message for bytes that are not exactly such an hour (truncated, trailing
 * bytes, values out of range, another set or version). */
int vm_unpack_hour(const struct vm_meter_set *set, int64_t hour_ns, const uint8_t *p, size_t len,
                   struct vm_usage_row rows[60], size_t *n, char *err, size_t errsize);

#endif
