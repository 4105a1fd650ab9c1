/* outq.c -- the outbound queue of a connection: framing per transport, conflation, drop-oldest, slow-consumer close */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "hub.h"

#define SSE_PREFIX "data: "
#define SSE_LINE_END "\r\n"

uint64_t hub__key_hash(const char *key)
{
	uint64_t h = 1469598103934665603ULL;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

/* One event, one "data:" line per line of the record (SSE lines cannot hold
 * a line break; compact JSON has none, so this is almost always one line). */
static struct tw_obuf *frame__sse(const void *rec, size_t len)
{
	const char *p = rec, *end = p + len;
	size_t lines = 1, n;
	struct tw_obuf *o;
	char *w;

	for (const char *q = p; q < end; q++)
		lines += *q == '\n';
	n = len + lines * (strlen(SSE_PREFIX) + strlen(SSE_LINE_END)) + strlen(SSE_LINE_END);
	o = tw_obuf_new(n);
	if (!o)
		return NULL;
	w = (char *)o->data;
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t seg = (size_t)((nl ? nl : end) - p);

		memcpy(w, SSE_PREFIX, strlen(SSE_PREFIX));
		w += strlen(SSE_PREFIX);
		memcpy(w, p, seg);
		w += seg;
		memcpy(w, SSE_LINE_END, strlen(SSE_LINE_END));
		w += strlen(SSE_LINE_END);
		if (!nl)
			break;
		p = nl + 1;
	}
	memcpy(w, SSE_LINE_END, strlen(SSE_LINE_END));
	w += strlen(SSE_LINE_END);
	o->len = (size_t)(w - (char *)o->data);
	return o;
}

struct tw_obuf *hub__frame(enum hub_form form, const void *rec, size_t len)
{
	struct tw_obuf *o;

	switch (form) {
	case HUB_FORM_JSON_WS:
		return tw_ws_frame(1, rec, len);
	case HUB_FORM_MP_WS:
		return tw_ws_frame(2, rec, len);
	case HUB_FORM_JSON_SSE:
		return frame__sse(rec, len);
	case HUB_FORM_JSON_RAW:
	case HUB_FORM_MP_RAW:
	case HUB_FORM_COUNT:
		break;
	}
	o = tw_obuf_new(len);
	if (o && len)
		memcpy(o->data, rec, len);
	return o;
}

/*
 * Queue entries come and go once per message and connection: a broadcast to
 * 10,000 clients makes 10,000 of them. The hub loop keeps the entries it
 * frees on a free list of its own, up to OUTQ_CACHE_MAX (10 MiB: what one
 * batch of hub.c queues), instead of going through malloc each time. Other
 * threads (MHD's, which pops what SSE and long polling sent) use malloc and
 * free as ever, so nothing is left behind in a thread that ends;
 * hub__outq_cache_trim empties the loop's list before it ends.
 */
#define OUTQ_CACHE_MAX 262144

static _Thread_local struct hub_out *outq_cache;
static _Thread_local size_t outq_ncache;
static _Thread_local int outq_caching;

void hub__outq_cache_enable(void)
{
	outq_caching = 1;
}

void hub__outq_cache_trim(void)
{
	while (outq_cache) {
		struct hub_out *it = outq_cache;

		outq_cache = it->next;
		free(it);
	}
	outq_ncache = 0;
	outq_caching = 0;
}

static struct hub_out *outq__alloc(void)
{
	struct hub_out *it = outq_cache;

	if (!it)
		return malloc(sizeof(*it));
	outq_cache = it->next;
	outq_ncache--;
	return it;
}

static void outq__release(struct hub_out *it)
{
	if (outq_caching && outq_ncache < OUTQ_CACHE_MAX) {
		it->next = outq_cache;
		outq_cache = it;
		outq_ncache++;
		return;
	}
	free(it);
}

void hub__outq_pop(struct hub_outq *q)
{
	struct hub_out *it = q->head;

	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	q->bytes -= it->buf->len;
	if (it->droppable)
		q->nmsgs--;
	tw_obuf_unref(it->buf);
	outq__release(it);
}

void hub__outq_clear(struct hub_outq *q)
{
	while (q->head)
		hub__outq_pop(q);
}

/* Unlinks and frees the first unstarted data message that match() accepts. */
static int outq__remove_first(struct hub_outq *q, uint64_t key)
{
	struct hub_out **pp = &q->head, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->next) {
		struct hub_out *it = *pp;

		if (!it->droppable || it->off || (key && it->key != key))
			continue;
		*pp = it->next;
		if (q->tail == it)
			q->tail = prev;
		q->bytes -= it->buf->len;
		q->nmsgs--;
		tw_obuf_unref(it->buf);
		outq__release(it);
		return 1;
	}
	return 0;
}

static int outq__full(const struct hub_outq *q, const struct tw_hub_config *cfg, size_t len)
{
	return q->nmsgs && (q->nmsgs >= (size_t)cfg->max_queue ||
			    q->bytes + len > (size_t)cfg->max_queue_bytes);
}

/* Makes room for one more data message: the older message with the same
 * key goes first (the latest value wins), else the oldest. Returns 1 when
 * the connection stayed a whole queue behind and must be closed. */
static int outq__make_room(struct hub_conn *c, struct hub_outq *q, size_t len, uint64_t key)
{
	struct tw_hub *h = c->hub;

	/* A burst fills a WebSocket queue before the loop flushes: write
	 * first, and drop only what the socket does not take. */
	while (c->transport == HUB_WS && outq__full(q, &h->cfg, len) && ws__writev(c) == 1)
		;
	while (outq__full(q, &h->cfg, len)) {
		if (key && outq__remove_first(q, key)) {
			HUB_COUNT(h, messages_conflated);
			continue;
		}
		if (!outq__remove_first(q, 0))
			break;
		c->dropped++;
		c->drops_in_row++;
		HUB_COUNT(h, messages_dropped_slow);
	}
	return c->drops_in_row > (size_t)h->cfg.max_queue;
}

int hub__conn_push(struct hub_conn *c, struct tw_obuf *o, int droppable, uint64_t key)
{
	struct hub_outq *q = c->stream ? &c->stream->q : &c->q;
	struct hub_out *it = outq__alloc();
	int slow = 0;

	if (!it)
		return TW_ERR_NOMEM;
	it->next = NULL;
	it->buf = tw_obuf_ref(o);
	it->off = 0;
	it->droppable = droppable;
	it->key = key;
	if (c->stream)
		pthread_mutex_lock(&c->stream->mu);
	if (droppable)
		slow = outq__make_room(c, q, o->len, key);
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->bytes += o->len;
	if (droppable)
		q->nmsgs++;
	if (c->stream)
		pthread_mutex_unlock(&c->stream->mu);
	hub__mark_dirty(c);
	if (slow) {
		HUB_COUNT(c->hub, closes_slow);
		hub__conn_close(c, "Slow consumer: outbound queue overflowed.", 1, 1008,
				"slow consumer: outbound queue kept overflowing");
		return TW_ERR_FULL;
	}
	return TW_OK;
}

int hub__conn_push_record(struct hub_conn *c, const void *rec, size_t len)
{
	struct tw_obuf *o = hub__frame(c->form, rec, len);
	int rc;

	if (!o)
		return TW_ERR_NOMEM;
	rc = hub__conn_push(c, o, 0, 0);
	tw_obuf_unref(o);
	return rc;
}
