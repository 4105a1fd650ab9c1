/* fanout.c -- delivers backplane envelopes: serialize and frame once, share the buffer with every target */
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "telewire/log.h"
#include "envelope.h"
#include "hub.h"

struct fanout {
	struct tw_hub *h;
	struct tw_obuf *frame;	/* the WebSocket frame, built once per envelope */
};

static void fanout__one(struct fanout *f, struct hub_conn *c)
{
	if (c->state != HUB_CONN_OPEN)
		return;
	if (ws__enqueue(c, f->frame, 1) == TW_OK)
		HUB_COUNT(f->h, messages_queued);
}

static void fanout__group(struct fanout *f, struct hub_group *g)
{
	/* Enqueueing can close a slow member, which only marks it closing:
	 * membership changes when it is finished, outside this loop. */
	for (size_t i = 0; g && i < g->n; i++)
		fanout__one(f, g->members[i]->conn);
}

static void fanout__all_cb(void *ctx, const char *key, void *value)
{
	fanout__one(ctx, value);
}

static void fanout__envelope(void *ctx, const struct tw_envelope *env)
{
	struct fanout *f = ctx;
	struct tw_buf b = { 0 };

	if (tw_hubproto_encode_invocation(&b, env->method, env->args) != TW_OK ||
	    !(f->frame = tw_ws_frame_text(b.data, b.len))) {
		tw_buf_free(&b);
		HUB_COUNT(f->h, envelopes_bad);
		tw_warn("backplane: cannot encode an envelope for method '%.64s'", env->method);
		return;
	}
	tw_buf_free(&b);
	switch (env->target) {
	case TW_ENV_ALL:
		tw_strmap_each(&f->h->conns, fanout__all_cb, f);
		break;
	case TW_ENV_GROUP:
		fanout__group(f, hub__group_find(f->h, env->name));
		break;
	case TW_ENV_USER:
		fanout__group(f, hub__user_find(f->h, env->name));
		break;
	case TW_ENV_CONNECTION: {
		struct hub_conn *c = tw_strmap_get(&f->h->conns, env->name);

		if (c)
			fanout__one(f, c);
		break;
	}
	}
	tw_obuf_unref(f->frame);
	f->frame = NULL;
}

void hub__deliver_payload(struct tw_hub *h, const void *payload, size_t len)
{
	struct fanout f = { h, NULL };
	struct tw_envelope_result res;

	tw_envelope_parse(payload, len, fanout__envelope, &f, &res);
	HUB_ADD(h, envelopes_ok, res.ok);
	if (res.bad) {
		HUB_ADD(h, envelopes_bad, res.bad);
		tw_warn("backplane: skipped %zu bad envelope(s) of %zu: %s", res.bad,
			res.ok + res.bad, res.first_error);
	}
}
