/* aggregator/metricsd: /metrics from a thread (metricsd.h). */
#include "config.h"

#include "metricsd.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct agg_metricsd {
	struct event_base *base;
	struct evhttp *http;
	pthread_t thread;
	pthread_mutex_t lock;
	char *text;
};

static void on_request(struct evhttp_request *req, void *arg)
{
	struct agg_metricsd *m = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (!path || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is here");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, HTTP_BADMETHOD, "GET only");
		return;
	}
	struct evbuffer *body = evbuffer_new();
	pthread_mutex_lock(&m->lock);
	evbuffer_add(body, m->text ? m->text : "", m->text ? strlen(m->text) : 0);
	pthread_mutex_unlock(&m->lock);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

static void *run(void *arg)
{
	struct agg_metricsd *m = arg;
	event_base_dispatch(m->base);
	return NULL;
}

struct agg_metricsd *agg_metricsd_start(const char *listen, char *err, size_t errsize)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	if (!colon || (size_t)(colon - listen) >= sizeof host) {
		snprintf(err, errsize, "metrics-listen \"%s\": not HOST:PORT", listen);
		return NULL;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	if (host[0] == '[') { /* [::1] */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	evthread_use_pthreads();
	struct agg_metricsd *m = vm_xcalloc(1, sizeof *m);
	pthread_mutex_init(&m->lock, NULL);
	m->base = event_base_new();
	m->http = m->base ? evhttp_new(m->base) : NULL;
	if (!m->http || evhttp_bind_socket(m->http, host, (ev_uint16_t)atoi(colon + 1)) < 0) {
		snprintf(err, errsize, "metrics-listen \"%s\": cannot listen there (in use?)", listen);
		goto fail;
	}
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_gencb(m->http, on_request, m);
	evhttp_set_timeout(m->http, 10);
	if (pthread_create(&m->thread, NULL, run, m) != 0) {
		snprintf(err, errsize, "metrics-listen: cannot start a thread");
		goto fail;
	}
	return m;
fail:
	if (m->http)
		evhttp_free(m->http);
	if (m->base)
		event_base_free(m->base);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}

void agg_metricsd_publish(struct agg_metricsd *m, char *text)
{
	pthread_mutex_lock(&m->lock);
	free(m->text);
	m->text = text;
	pthread_mutex_unlock(&m->lock);
}

void agg_metricsd_stop(struct agg_metricsd *m)
{
	if (!m)
		return;
	event_base_loopbreak(m->base);
	pthread_join(m->thread, NULL);
	evhttp_free(m->http);
	event_base_free(m->base);
	pthread_mutex_destroy(&m->lock);
	free(m->text);
	free(m);
}
