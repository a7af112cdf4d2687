/* The libvirt operations of virt actions, and the connections they use:
 * one per URI, opened read-write on first use, shared by the workers
 * (libvirt connections are thread-safe) and reopened when broken. */
#ifndef AGG_VIRTOP_H
#define AGG_VIRTOP_H

#include <stdint.h>

#include "action.h"

struct agg_virt_pool;

/* An empty pool; initialises libvirt, silences its default printing of
 * errors to stderr (their text goes into results instead) and ignores
 * SIGPIPE in the whole process, as libvirt's clients must. */
struct agg_virt_pool *agg_virt_pool_new(void);
/* Closes every connection.  No operation may still be running. */
void agg_virt_pool_free(struct agg_virt_pool *p);

/* Runs `op` on the domain of `uuid` at `uri` and fills res: outcome,
 * attempts (1), message (libvirt's own text after the failing call's
 * name).  `amount`: vCPUs or KiB; `dest_uri`: migrate's destination;
 * `timeout_ns`: how long shutdown waits for the domain to stop (ended
 * early, as AGG_OUT_CANCELLED, when `cancel_fd` becomes readable).  The
 * libvirt calls themselves are bounded by libvirt's keepalive only. */
void agg_virt_run(struct agg_virt_pool *p, const char *uri, const char *uuid, enum agg_virt_op op, uint64_t amount,
                  const char *dest_uri, int64_t timeout_ns, int cancel_fd, struct agg_action_result *res);

#endif
