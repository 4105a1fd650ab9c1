/* fanout.c -- delivers backplane envelopes: serialize and frame once, share the buffer with every target */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "telewire/log.h"
#include "envelope.h"
#include "hub.h"

struct fanout {
	struct tw_hub *h;
	const struct tw_envelope *env;
	struct tw_buf rec[2];	/* the record per protocol (tw_hubproto_kind), built on first use */
	struct tw_obuf *forms[HUB_FORM_COUNT];	/* each framing, built on first use */
	int failed;		/* an encoding failed: counted and logged once */
	uint64_t key;		/* conflation key hash, 0 for none */
	struct hub_conn **skip;	/* "excluded" connections of this hub, sorted */
	size_t nskip;
};

static int fanout__ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(struct hub_conn *const *)a;
	uintptr_t y = (uintptr_t)*(struct hub_conn *const *)b;

	return x < y ? -1 : x > y;
}

/* The message in one framing: serialized once per protocol and framed once
 * per form, however many connections take it. NULL when encoding failed. */
static struct tw_obuf *fanout__form(struct fanout *f, enum hub_form form)
{
	int mp = form == HUB_FORM_MP_WS || form == HUB_FORM_MP_RAW;
	struct tw_buf *rec = &f->rec[mp];
	int rc = TW_OK;

	if (f->forms[form] || f->failed)
		return f->forms[form];
	if (!rec->len && mp)
		rc = tw_hubmp_encode_invocation(rec, f->env->method, f->env->args);
	else if (!rec->len && f->env->args_text)	/* as the envelope wrote it */
		rc = tw_hubproto_encode_invocation_text(rec, f->env->method, f->env->args_text,
							f->env->args_len);
	else if (!rec->len)
		rc = tw_hubproto_encode_invocation(rec, f->env->method, f->env->args);
	if (rc == TW_OK)
		f->forms[form] = hub__frame(form, rec->data, rec->len);
	if (!f->forms[form]) {
		f->failed = 1;
		HUB_COUNT(f->h, envelopes_bad);
		tw_warn("backplane: cannot encode an envelope for method '%.64s' (%s)",
			f->env->method, mp ? "messagepack" : "json");
	}
	return f->forms[form];
}

static void fanout__one(struct fanout *f, struct hub_conn *c)
{
	struct tw_obuf *o;

	if (c->state != HUB_CONN_OPEN)
		return;
	if (f->nskip && bsearch(&c, f->skip, f->nskip, sizeof(*f->skip), fanout__ptr_cmp))
		return;
	o = fanout__form(f, c->form);
	if (o && hub__conn_push(c, o, 1, f->key) == TW_OK)
		HUB_COUNT(f->h, messages_queued);
}

static void fanout__reset(struct fanout *f)
{
	for (int i = 0; i < HUB_FORM_COUNT; i++) {
		tw_obuf_unref(f->forms[i]);
		f->forms[i] = NULL;
	}
	tw_buf_free(&f->rec[0]);
	tw_buf_free(&f->rec[1]);
	f->failed = 0;
	free(f->skip);
	f->skip = NULL;
	f->nskip = 0;
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

/* Looks up the excluded ids that are connections of this hub; 0 on success. */
static int fanout__excluded(struct fanout *f, const json_t *ids)
{
	size_t n = json_array_size(ids);

	f->nskip = 0;
	if (!n)
		return 0;
	f->skip = malloc(n * sizeof(*f->skip));
	if (!f->skip)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct hub_conn *c = tw_strmap_get(&f->h->conns, json_string_value(json_array_get(ids, i)));

		if (c)
			f->skip[f->nskip++] = c;
	}
	qsort(f->skip, f->nskip, sizeof(*f->skip), fanout__ptr_cmp);
	return 0;
}

static void fanout__envelope(void *ctx, const struct tw_envelope *env)
{
	struct fanout *f = ctx;

	if (env->op != TW_ENV_SEND) {
		hub__ops_apply(f->h, env);
		return;
	}
	if (fanout__excluded(f, env->excluded) != 0) {
		HUB_COUNT(f->h, envelopes_bad);
		tw_warn("backplane: out of memory for the excluded ids of method '%.64s'", env->method);
		return;
	}
	f->env = env;
	f->key = env->key ? hub__key_hash(env->key) : 0;
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
	fanout__reset(f);
}

void hub__deliver_payload(struct tw_hub *h, const void *payload, size_t len)
{
	struct fanout f = { .h = h };
	struct tw_envelope_result res;

	tw_envelope_parse(payload, len, fanout__envelope, &f, &res);
	HUB_ADD(h, envelopes_ok, res.ok);
	if (res.bad) {
		HUB_ADD(h, envelopes_bad, res.bad);
		tw_warn("backplane: skipped %zu bad envelope(s) of %zu: %s", res.bad,
			res.ok + res.bad, res.first_error);
	}
}
