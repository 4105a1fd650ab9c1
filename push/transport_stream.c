/* transport_stream.c -- the server-to-client half of Server-Sent Events and long polling, shared with MHD's thread */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"

struct hub_stream *hub__stream_new(enum hub_transport t)
{
	struct hub_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	s->refs = 1;
	s->transport = t;
	return s;
}

struct hub_stream *hub__stream_ref(struct hub_stream *s)
{
	pthread_mutex_lock(&s->mu);
	s->refs++;
	pthread_mutex_unlock(&s->mu);
	return s;
}

void hub__stream_unref(struct hub_stream *s)
{
	unsigned left;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	left = --s->refs;
	pthread_mutex_unlock(&s->mu);
	if (left)
		return;
	hub__outq_clear(&s->q);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

size_t hub__stream_take(struct hub_stream *s, char *buf, size_t max)
{
	size_t n = 0;

	while (s->q.head && n < max) {
		struct hub_out *it = s->q.head;
		size_t left = it->buf->len - it->off, k = left < max - n ? left : max - n;

		memcpy(buf + n, it->buf->data + it->off, k);
		n += k;
		it->off += k;
		if (it->off == it->buf->len)
			hub__outq_pop(&s->q);
	}
	return n;
}

/* Wakes MHD's request for con; caller holds s->mu. */
static void stream__resume(struct hub_stream *s)
{
	if (!s->suspended)
		return;
	s->suspended = 0;
	MHD_resume_connection(s->con);
}

void hub__stream_flush(struct hub_conn *c)
{
	struct hub_stream *s = c->stream;
	int gone, empty;

	pthread_mutex_lock(&s->mu);
	gone = s->gone;
	empty = !s->q.head;
	if (!empty)
		stream__resume(s);
	pthread_mutex_unlock(&s->mu);
	if (empty)
		c->drops_in_row = 0;
	if (gone) {
		hub__conn_finish(c, c->reason[0] ? c->reason : "client closed the event stream");
		return;
	}
	/* A closing connection ends once what it queued (the Close) is taken. */
	if (c->state == HUB_CONN_CLOSING && empty)
		hub__conn_finish(c, c->reason);
}

int hub__stream_drained(struct hub_conn *c)
{
	struct hub_stream *s = c->stream;
	int empty;

	pthread_mutex_lock(&s->mu);
	empty = !s->q.head;
	pthread_mutex_unlock(&s->mu);
	return empty;
}

void hub__stream_tick(struct hub_conn *c, int64_t now)
{
	struct hub_stream *s = c->stream;

	pthread_mutex_lock(&s->mu);
	if (s->poll_waiting && !s->poll_expired &&
	    now - s->poll_since_ms >= c->hub->cfg.poll_timeout_ms) {
		s->poll_expired = 1;
		stream__resume(s);
	}
	pthread_mutex_unlock(&s->mu);
}

void hub__stream_end(struct hub_conn *c)
{
	struct hub_stream *s = c->stream;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->closed = 1;
	stream__resume(s);
	pthread_mutex_unlock(&s->mu);
	hub__stream_unref(s);
	c->stream = NULL;
}
