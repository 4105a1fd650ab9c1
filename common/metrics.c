/* metrics.c -- Prometheus text exposition and the /metrics listener of processes without an HTTP server of their own */
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "telewire/error.h"
#include "telewire/log.h"
#include "telewire/metrics.h"

struct tw_metrics_server {
	struct MHD_Daemon *d;
	tw_metrics_fill_fn fill;
	void *ctx;
};

void tw_metric_head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void tw_metric_value(FILE *out, const char *name, const char *labels, unsigned long long v)
{
	if (labels)
		fprintf(out, "%s{%s} %llu\n", name, labels, v);
	else
		fprintf(out, "%s %llu\n", name, v);
}

void tw_metric(FILE *out, const char *name, const char *type, const char *help,
	       unsigned long long v)
{
	tw_metric_head(out, name, type, help);
	tw_metric_value(out, name, NULL, v);
}

char *tw_metrics_render(tw_metrics_fill_fn fill, void *ctx, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		return NULL;
	fill(ctx, f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static enum MHD_Result metrics__handler(void *cls, struct MHD_Connection *con, const char *url,
					const char *method, const char *version,
					const char *upload_data, size_t *upload_data_size,
					void **req_cls)
{
	static const char nf[] = "Not found: this listener serves GET /metrics only.\n";
	struct tw_metrics_server *s = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	size_t len = 0;
	char *text = NULL;

	if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0)
		text = tw_metrics_render(s->fill, s->ctx, &len);
	if (text) {
		r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	} else {
		status = strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0
				 ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_NOT_FOUND;
		r = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf, MHD_RESPMEM_PERSISTENT);
	}
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", text ? "text/plain; version=0.0.4; charset=utf-8"
							 : "text/plain; charset=utf-8");
	ret = MHD_queue_response(con, status, r);
	MHD_destroy_response(r);
	return ret;
}

int tw_metrics_serve(struct tw_metrics_server **out, const char *host, int port,
		     tw_metrics_fill_fn fill, void *ctx)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM };
	struct tw_metrics_server *s = calloc(1, sizeof(*s));
	struct addrinfo *ai = NULL;
	char portstr[16];
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;

	*out = NULL;
	if (!s)
		return TW_ERR_NOMEM;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (getaddrinfo(host, portstr, &hints, &ai) != 0) {
		tw_error("metrics: cannot resolve %s", host);
		free(s);
		return TW_ERR_IO;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->fill = fill;
	s->ctx = ctx;
	s->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, metrics__handler, s,
				MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, 64u,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!s->d) {
		tw_error("metrics: cannot listen on %s:%d (address in use or not allowed?)", host, port);
		free(s);
		return TW_ERR_IO;
	}
	*out = s;
	return TW_OK;
}

void tw_metrics_stop(struct tw_metrics_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	free(s);
}
