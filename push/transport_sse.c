/* transport_sse.c -- Server-Sent Events: MHD's side of the stream, a content reader that parks while there is nothing to send */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "transport_http.h"

#define SSE_BLOCK 16384

struct sse_reader {
	struct tw_hub *hub;
	struct hub_stream *st;
	char token[HUB_TOKEN_LEN];
};

/* MHD's thread: sends what is queued, or suspends the request until the
 * hub loop resumes it (data, a close); 0 with a suspend is MHD's contract
 * for "nothing yet" without busy waiting. */
static ssize_t sse__read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse_reader *r = cls;
	struct hub_stream *st = r->st;
	size_t n;

	pthread_mutex_lock(&st->mu);
	n = hub__stream_take(st, buf, max);
	if (n == 0 && st->closed) {
		pthread_mutex_unlock(&st->mu);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	if (n == 0 && st->con) {
		st->suspended = 1;
		MHD_suspend_connection(st->con);
	}
	pthread_mutex_unlock(&st->mu);
	return (ssize_t)n;
}

/* The response is gone: the client left or the stream ended. */
static void sse__free(void *cls)
{
	struct sse_reader *r = cls;
	struct hub_stream *st = r->st;
	int closed;

	pthread_mutex_lock(&st->mu);
	st->gone = 1;
	st->con = NULL;
	st->suspended = 0;
	closed = st->closed;
	pthread_mutex_unlock(&st->mu);
	if (!closed)
		tw_hub_stream_gone(r->hub, r->token);
	hub__stream_unref(st);
	free(r);
}

struct MHD_Response *hub__sse_response(struct tw_hub *h, struct MHD_Connection *con,
				       struct hub_stream *st, const char *token)
{
	static const char opening[] = ":\r\n"; /* a comment: the client sees the stream open */
	struct sse_reader *r = calloc(1, sizeof(*r));
	struct tw_obuf *o = tw_obuf_new(sizeof(opening) - 1);
	struct MHD_Response *resp = NULL;

	if (r && o) {
		r->hub = h;
		r->st = hub__stream_ref(st);
		snprintf(r->token, sizeof(r->token), "%s", token);
		memcpy(o->data, opening, sizeof(opening) - 1);
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse__read, r,
							 sse__free);
	}
	if (!resp) {
		if (r && r->st)
			hub__stream_unref(r->st);
		free(r);
		tw_obuf_unref(o);
		return NULL;
	}
	pthread_mutex_lock(&st->mu);
	st->con = con;
	if (!st->q.head) {
		struct hub_out *it = calloc(1, sizeof(*it));

		if (it) {
			it->buf = tw_obuf_ref(o);
			st->q.head = st->q.tail = it;
			st->q.bytes = o->len;
		}
	}
	pthread_mutex_unlock(&st->mu);
	tw_obuf_unref(o);
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	return resp;
}
