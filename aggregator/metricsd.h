/* The daemon's /metrics endpoint (Prometheus text format) on a loopback
 * address: a thread of its own with its own libevent base and evhttp, so
 * that a scrape is answered while the daemon's loop waits on PostgreSQL
 * in a cycle.  The loop publishes the text after each cycle; the thread
 * serves the latest copy.  Anything but GET /metrics is 404 (405 for
 * another method on it). */
#ifndef AGG_METRICSD_H
#define AGG_METRICSD_H

#include <stddef.h>

struct agg_metricsd;

/* Listens on "HOST:PORT" (settings.c checks it is loopback).  NULL with
 * err on failure (the address in use). */
struct agg_metricsd *agg_metricsd_start(const char *listen, char *err, size_t errsize);
/* Takes text (a string from malloc): what scrapes get from now on. */
void agg_metricsd_publish(struct agg_metricsd *m, char *text);
/* Stops the thread and frees everything.  NULL is accepted. */
void agg_metricsd_stop(struct agg_metricsd *m);

#endif
