/* metrics.h -- Prometheus text exposition, and a small HTTP listener that serves it at /metrics */
#ifndef TELEWIRE_METRICS_H
#define TELEWIRE_METRICS_H

#include <stdio.h>

/* Writes "# HELP" and "# TYPE" lines for a metric family (type: "counter" or "gauge"). */
void tw_metric_head(FILE *out, const char *name, const char *type, const char *help);
/* Writes one sample; labels is NULL or e.g. "reason=\"limit\"". */
void tw_metric_value(FILE *out, const char *name, const char *labels, unsigned long long v);
/* A family with one unlabelled sample. */
void tw_metric(FILE *out, const char *name, const char *type, const char *help,
	       unsigned long long v);

/* Fills the page; called on the listener's thread for every scrape. */
typedef void (*tw_metrics_fill_fn)(void *ctx, FILE *out);

struct tw_metrics_server;

/* Serves GET /metrics on host:port (text/plain; version=0.0.4) from its own
 * thread; anything else is 404. Returns TW_OK, or TW_ERR_IO (logged). */
int tw_metrics_serve(struct tw_metrics_server **out, const char *host, int port,
		     tw_metrics_fill_fn fill, void *ctx);
/* Renders the page into a malloc'd string (*len bytes); NULL when out of memory. */
char *tw_metrics_render(tw_metrics_fill_fn fill, void *ctx, size_t *len);
void tw_metrics_stop(struct tw_metrics_server *s);

#endif
