/* The rows the collector measures, as the spool carries them
 * (collector/record.h) and the collector delivers them to PostgreSQL
 * (collector/dbwrite.h).  Plain data: nothing here talks to a database;
 * the connection layer is lib/pg.h. */
#ifndef COL_DB_H
#define COL_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inventory.h"
#include "usage.h"

/* A row to deliver: one VM's (uuid set) or the host's (uuid empty) minute;
 * row.set says which table (the VM, host or power meters). */
struct vm_db_usage {
	char uuid[37];
	struct vm_usage_row row;
};

/* One traffic class of a VM's minute (vm_traffic_minute). */
struct vm_db_traffic_class {
	char name[32]; /* VM_NETCLASS_NAME_MAX + 1 */
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
};

/* A VM's minute of captured traffic: its vm_capture_minute row and a
 * vm_traffic_minute row per class.  classes is borrowed by the writers. */
struct vm_db_traffic {
	char uuid[37];
	int64_t minute_ns;
	int32_t captured_ms; /* 0..60000 */
	bool have_libvirt_rx, have_libvirt_tx;
	uint64_t libvirt_rx_bytes, libvirt_tx_bytes;
	const struct vm_db_traffic_class *classes;
	size_t n_classes;
};

/* The host's capture health in a minute (host_capture_minute). */
struct vm_db_host_capture {
	int64_t minute_ns;
	uint64_t frames, drops, ifdrops;
	int32_t uncovered_ms; /* 0..60000 */
};

#endif
