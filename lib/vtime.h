/* Time in vmeter: UTC nanoseconds since the epoch in int64_t. */
#ifndef VM_VTIME_H
#define VM_VTIME_H

#include <stddef.h>
#include <stdint.h>

#define VM_NS_PER_SEC INT64_C(1000000000)
#define VM_NS_PER_MIN (60 * VM_NS_PER_SEC)

int64_t vm_now_ns(void);       /* CLOCK_REALTIME */
int64_t vm_monotonic_ns(void); /* CLOCK_MONOTONIC */
#define VM_NS_PER_HOUR (60 * VM_NS_PER_MIN)
#define VM_NS_PER_DAY (24 * VM_NS_PER_HOUR)

/* t rounded down to a multiple of unit_ns (> 0), also for negative t: the
 * start of the UTC minute, hour or day holding t. */
int64_t vm_time_floor(int64_t t_ns, int64_t unit_ns);
/* vm_time_floor(t_ns, VM_NS_PER_MIN). */
int64_t vm_minute_floor(int64_t t_ns);
/* Formats t as "YYYY-MM-DD HH:MM:SS+00" (PostgreSQL timestamptz input). */
void vm_time_format(int64_t t_ns, char *buf, size_t size);
/* Parses "YYYY-MM-DD[ HH:MM[:SS]]" (UTC), "now", "now-1h", "-30m" or
 * epoch seconds "@1700000000".  Returns 0 or -1 on bad input. */
int vm_time_parse(const char *s, int64_t now_ns, int64_t *out_ns);

#endif
