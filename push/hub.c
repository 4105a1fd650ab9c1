/* hub.c -- the hub object: its epoll loop thread, inboxes from other threads, pending tokens, timers */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/log.h"
#include "auth.h"
#include "hub.h"

#define HUB_MAX_BACKPLANE_PAYLOAD (4u * 1024 * 1024)
#define HUB_STOP_GRACE_MS 2000
#define HUB_MAX_INBOX_BYTES (64u * 1024 * 1024)	/* POST bodies waiting for the loop */
#define HUB_FLUSH_PAYLOADS 256	/* backplane payloads queued before the sockets are written */
#define HUB_FLUSH_QUEUED 262144	/* ... or deliveries queued (queue entries: 10 MiB) */

struct hub_pending {
	char id[HUB_ID_LEN];
	char *user;
	char **roles;
	size_t nroles;
	int64_t expires_ms;
	int claimed;			/* 0 or the enum hub_transport it connected over */
	int posting;			/* an HTTP POST is being received */
	struct hub_stream *stream;	/* SSE and LP: a reference */
};

/* What MHD's thread hands the loop. */
enum hub_in_kind {
	HUB_IN_UPGRADE, HUB_IN_STREAM, HUB_IN_BYTES, HUB_IN_CLOSE, HUB_IN_GONE,
	HUB_IN_RESULT,		/* token: a connection id; data: invocation id, NUL, result or error, NUL */
};

struct hub_in {
	struct hub_in *next;
	enum hub_in_kind kind;
	char token[HUB_TOKEN_LEN];
	int fd;					/* UPGRADE */
	struct MHD_UpgradeResponseHandle *urh;	/* UPGRADE */
	struct hub_stream *stream;		/* STREAM: a reference */
	size_t len;				/* UPGRADE: extra_in; BYTES: the body */
	char data[];
};

struct hub_bpmsg {
	struct hub_bpmsg *next;
	size_t len;
	char data[];
};

int64_t hub__now(void)
{
	return tw_mono_ms();
}

static void hub__wake(struct tw_hub *h)
{
	uint64_t one = 1;

	if (write(h->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		tw_warn("hub: cannot wake the loop: %s", strerror(errno));
}

/* ---- pending connection tokens (any thread, under lock) ---- */

static void pending__free(struct hub_pending *p)
{
	for (size_t i = 0; i < p->nroles; i++)
		free(p->roles[i]);
	free(p->roles);
	free(p->user);
	hub__stream_unref(p->stream);
	free(p);
}

static struct hub_pending *pending__new(const struct tw_jwt_claims *c, int64_t expires)
{
	struct hub_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->expires_ms = expires;
	p->user = c->sub ? strdup(c->sub) : NULL;
	p->roles = c->nroles ? calloc(c->nroles, sizeof(char *)) : NULL;
	for (size_t i = 0; p->roles && i < c->nroles; i++, p->nroles++)
		if (!(p->roles[i] = strdup(c->roles[i])))
			break;
	if ((c->sub && !p->user) || p->nroles != c->nroles) {
		pending__free(p);
		return NULL;
	}
	return p;
}

int tw_hub_negotiate(struct tw_hub *h, const struct tw_jwt_claims *c, int token_is_id,
		     char id[HUB_ID_LEN], char token[HUB_TOKEN_LEN])
{
	struct hub_pending *p = pending__new(c, hub__now() + h->cfg.token_ttl_ms);
	int rc;

	if (!p)
		return TW_ERR_NOMEM;
	rc = tw_random_token(token, HUB_TOKEN_LEN, token_is_id ? 16 : 32);
	if (rc == TW_OK && token_is_id)
		memcpy(p->id, token, strlen(token) + 1);
	else if (rc == TW_OK)
		rc = tw_random_token(p->id, sizeof(p->id), 16);
	if (rc == TW_OK) {
		pthread_mutex_lock(&h->lock);
		rc = tw_strmap_put(&h->pending, token, p);
		pthread_mutex_unlock(&h->lock);
	}
	if (rc != TW_OK) {
		pending__free(p);
		return rc;
	}
	memcpy(id, p->id, HUB_ID_LEN);
	HUB_COUNT(h, negotiations);
	return TW_OK;
}

/* Checks a claim against the pending entry; caller holds the lock. */
static int pending__check(struct hub_pending *p, const char *user, enum hub_transport t)
{
	if (!p || (!p->claimed && p->expires_ms < hub__now()))
		return TW_ERR_NOTFOUND;
	if ((p->user == NULL) != (user == NULL) || (user && strcmp(p->user, user) != 0))
		return TW_ERR_AUTH;
	if (p->claimed && p->claimed != (int)t)
		return TW_ERR_PROTOCOL;
	if (p->claimed && t != HUB_LP)
		return TW_ERR_EXISTS;
	return TW_OK;
}

int tw_hub_claim(struct tw_hub *h, const char *token, const char *user,
		 enum hub_transport transport, struct hub_stream **stream, int *first)
{
	struct hub_pending *p;
	int rc;

	*first = 0;
	if (stream)
		*stream = NULL;
	pthread_mutex_lock(&h->lock);
	p = tw_strmap_get(&h->pending, token);
	rc = pending__check(p, user, transport);
	if (rc == TW_OK && transport != HUB_WS && !p->stream &&
	    !(p->stream = hub__stream_new(transport)))
		rc = TW_ERR_NOMEM;
	if (rc == TW_OK) {
		*first = !p->claimed;
		p->claimed = (int)transport;
		if (stream && p->stream)
			*stream = hub__stream_ref(p->stream);
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

enum pending_flag { PENDING_CLAIMED, PENDING_POSTING };

/* Clears one flag of a pending entry, if the entry still exists. */
static void pending__clear(struct tw_hub *h, const char *token, enum pending_flag flag)
{
	struct hub_pending *p;

	pthread_mutex_lock(&h->lock);
	p = tw_strmap_get(&h->pending, token);
	if (p && flag == PENDING_CLAIMED)
		p->claimed = 0;
	else if (p)
		p->posting = 0;
	pthread_mutex_unlock(&h->lock);
}

void tw_hub_unclaim(struct tw_hub *h, const char *token)
{
	pending__clear(h, token, PENDING_CLAIMED);
}

static void pending__drop(struct tw_hub *h, const char *token)
{
	struct hub_pending *p;

	pthread_mutex_lock(&h->lock);
	p = tw_strmap_del(&h->pending, token);
	pthread_mutex_unlock(&h->lock);
	if (p)
		pending__free(p);
}

struct pending_sweep {
	int64_t now;
	char (*expired)[HUB_TOKEN_LEN];
	size_t n, cap;
};

static void pending__collect(void *ctx, const char *key, void *value)
{
	struct pending_sweep *s = ctx;
	struct hub_pending *p = value;

	if (!p->claimed && p->expires_ms < s->now && s->n < s->cap)
		memcpy(s->expired[s->n++], key, strlen(key) + 1);
}

/* Forgets tokens whose socket never came (at most 256 per tick). */
static void pending__sweep(struct tw_hub *h, int64_t now)
{
	char expired[256][HUB_TOKEN_LEN];
	struct pending_sweep s = { now, expired, 0, 256 };

	pthread_mutex_lock(&h->lock);
	tw_strmap_each(&h->pending, pending__collect, &s);
	for (size_t i = 0; i < s.n; i++)
		pending__free(tw_strmap_del(&h->pending, expired[i]));
	pthread_mutex_unlock(&h->lock);
}

static void pending__free_cb(void *ctx, const char *key, void *value)
{
	pending__free(value);
}

/* Copies the negotiated identity into a new connection; 0 on success. */
static int pending__take(struct tw_hub *h, struct hub_conn *c, const char *token)
{
	struct hub_pending *p;
	int rc = -1;

	pthread_mutex_lock(&h->lock);
	p = tw_strmap_get(&h->pending, token);
	if (p) {
		memcpy(c->id, p->id, sizeof(c->id));
		memcpy(c->token, token, strlen(token) + 1);
		/* The user stays in the entry too: later polls and posts are checked against it. */
		c->user = p->user ? strdup(p->user) : NULL;
		c->roles = p->roles;
		c->nroles = p->nroles;
		p->roles = NULL;
		p->nroles = 0;
		rc = p->user && !c->user ? -1 : 0;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* ---- inboxes (any thread) ---- */

static struct hub_in *in__new(enum hub_in_kind kind, const char *token, const void *data,
			      size_t len)
{
	struct hub_in *in = malloc(sizeof(*in) + len);

	if (!in)
		return NULL;
	memset(in, 0, sizeof(*in));
	in->kind = kind;
	snprintf(in->token, sizeof(in->token), "%s", token);
	in->len = len;
	if (data && len)
		memcpy(in->data, data, len);
	return in;
}

/* Appends to the loop's inbox under the lock; 0 when the inbox is closed. */
static int in__queue_locked(struct tw_hub *h, struct hub_in *in)
{
	if (h->inbox_closed)
		return 0;
	if (h->in_tail)
		h->in_tail->next = in;
	else
		h->in_head = in;
	h->in_tail = in;
	h->in_bytes += in->len;
	return 1;
}

static int in__queue(struct tw_hub *h, struct hub_in *in)
{
	int ok;

	pthread_mutex_lock(&h->lock);
	ok = in__queue_locked(h, in);
	pthread_mutex_unlock(&h->lock);
	if (ok)
		hub__wake(h);
	return ok;
}

void tw_hub_adopt(struct tw_hub *h, const char *token, int sock,
		  struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len)
{
	struct hub_in *in = in__new(HUB_IN_UPGRADE, token, extra, extra_len);

	if (in) {
		in->fd = sock;
		in->urh = urh;
	}
	if (!in || !in__queue(h, in)) {
		free(in);
		pending__drop(h, token);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	}
}

void tw_hub_adopt_stream(struct tw_hub *h, const char *token, struct hub_stream *s)
{
	struct hub_in *in = in__new(HUB_IN_STREAM, token, NULL, 0);

	if (in)
		in->stream = hub__stream_ref(s);
	if (!in || !in__queue(h, in)) {
		if (in)
			hub__stream_unref(in->stream);
		free(in);
		pthread_mutex_lock(&s->mu);
		s->closed = 1;
		pthread_mutex_unlock(&s->mu);
		pending__drop(h, token);
	}
}

/* The pending entry of a SSE/LP connection, or an error code. Under lock. */
static int post__find(struct tw_hub *h, const char *token, struct hub_pending **out)
{
	struct hub_pending *p = tw_strmap_get(&h->pending, token);

	*out = p;
	if (!p || !p->claimed)
		return TW_ERR_NOTFOUND;
	return p->claimed == HUB_WS ? TW_ERR_PROTOCOL : TW_OK;
}

int tw_hub_post_begin(struct tw_hub *h, const char *token)
{
	struct hub_pending *p;
	int rc;

	pthread_mutex_lock(&h->lock);
	rc = post__find(h, token, &p);
	if (rc == TW_OK && p->posting)
		rc = TW_ERR_EXISTS;
	if (rc == TW_OK)
		p->posting = 1;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void tw_hub_post_end(struct tw_hub *h, const char *token)
{
	pending__clear(h, token, PENDING_POSTING);
}

int tw_hub_post_bytes(struct tw_hub *h, const char *token, const void *data, size_t len)
{
	struct hub_in *in = in__new(HUB_IN_BYTES, token, data, len);
	struct hub_pending *p;
	int rc;

	if (!in)
		return TW_ERR_NOMEM;
	pthread_mutex_lock(&h->lock);
	rc = post__find(h, token, &p);
	if (rc == TW_OK && h->in_bytes + len > HUB_MAX_INBOX_BYTES)
		rc = TW_ERR_FULL;
	if (rc == TW_OK && !in__queue_locked(h, in))
		rc = TW_ERR_NOTFOUND;
	pthread_mutex_unlock(&h->lock);
	if (rc != TW_OK) {
		free(in);
		return rc;
	}
	HUB_COUNT(h, posts);
	hub__wake(h);
	return TW_OK;
}

static int hub__signal(struct tw_hub *h, const char *token, enum hub_in_kind kind)
{
	struct hub_in *in = in__new(kind, token, NULL, 0);
	struct hub_pending *p;
	int rc;

	if (!in)
		return TW_ERR_NOMEM;
	pthread_mutex_lock(&h->lock);
	rc = post__find(h, token, &p);
	if (rc == TW_OK && !in__queue_locked(h, in))
		rc = TW_ERR_NOTFOUND;
	pthread_mutex_unlock(&h->lock);
	if (rc != TW_OK) {
		free(in);
		return rc == TW_ERR_PROTOCOL ? TW_ERR_NOTFOUND : rc;
	}
	hub__wake(h);
	return TW_OK;
}

int tw_hub_request_close(struct tw_hub *h, const char *token)
{
	return hub__signal(h, token, HUB_IN_CLOSE);
}

void tw_hub_upcall_done(struct tw_hub *h, const char *conn_id, const char *invocation_id,
			const char *result_json, const char *error)
{
	const char *text = error ? error : result_json ? result_json : "null";
	size_t a = strlen(invocation_id) + 1, b = strlen(text) + 1;
	struct hub_in *in = in__new(HUB_IN_RESULT, conn_id, NULL, a + b);

	if (!in)
		return;
	memcpy(in->data, invocation_id, a);
	memcpy(in->data + a, text, b);
	in->fd = error != NULL;
	if (!in__queue(h, in))
		free(in);
}

/* Loop: the Completion of an upstream publish. */
static void hub__upcall_result(struct tw_hub *h, struct hub_in *in)
{
	struct hub_conn *c = tw_strmap_get(&h->conns, in->token);
	const char *id = in->data, *text = in->data + strlen(in->data) + 1;
	json_t *result;

	if (!c || c->state != HUB_CONN_OPEN)
		return;
	if (in->fd) {
		hub__conn_completion(c, id, text, NULL);
		return;
	}
	result = json_loads(text, JSON_DECODE_ANY, NULL);
	hub__conn_completion(c, id, NULL, result);
	json_decref(result);
}

void tw_hub_stream_gone(struct tw_hub *h, const char *token)
{
	hub__signal(h, token, HUB_IN_GONE);
}

/* Warns about full-queue drops at most once a second. Called under lock. */
static void hub__warn_drop(struct tw_hub *h)
{
	int64_t now = hub__now();

	h->drops_unwarned++;
	if (now - h->drop_warned_ms < 1000)
		return;
	tw_warn("backplane: hub queue full (%lld messages): dropped %llu message(s)",
		h->cfg.backplane_queue, h->drops_unwarned);
	h->drop_warned_ms = now;
	h->drops_unwarned = 0;
}

int tw_hub_post(struct tw_hub *h, const void *payload, size_t len)
{
	struct hub_bpmsg *m;
	int rc = TW_OK;

	HUB_COUNT(h, bp_received);
	if (len > HUB_MAX_BACKPLANE_PAYLOAD) {
		HUB_COUNT(h, envelopes_bad);
		return TW_ERR_LIMIT;
	}
	m = malloc(sizeof(*m) + len);
	if (!m)
		return TW_ERR_NOMEM;
	m->next = NULL;
	m->len = len;
	if (len)
		memcpy(m->data, payload, len);
	pthread_mutex_lock(&h->lock);
	if (h->inbox_closed || h->bp_len >= (size_t)h->cfg.backplane_queue) {
		HUB_COUNT(h, bp_dropped_full);
		hub__warn_drop(h);
		rc = TW_ERR_FULL;
	} else {
		if (h->bp_tail)
			h->bp_tail->next = m;
		else
			h->bp_head = m;
		h->bp_tail = m;
		h->bp_len++;
	}
	pthread_mutex_unlock(&h->lock);
	if (rc != TW_OK)
		free(m);
	else
		hub__wake(h);
	return rc;
}

size_t tw_hub_connection_count(struct tw_hub *h)
{
	return (size_t)HUB_READ(h, conn_current);
}

int tw_hub_stopping(struct tw_hub *h)
{
	int stopping;

	pthread_mutex_lock(&h->lock);
	stopping = h->stop_requested;
	pthread_mutex_unlock(&h->lock);
	return stopping;
}

int tw_hub_conn_exists(struct tw_hub *h, const char *id)
{
	int found;

	pthread_mutex_lock(&h->lock);
	found = tw_strmap_get(&h->live, id) != NULL;
	pthread_mutex_unlock(&h->lock);
	return found;
}

/* ---- the loop ---- */

void hub__mark_dirty(struct hub_conn *c)
{
	if (c->dirty || c->state == HUB_CONN_DEAD)
		return;
	c->dirty = 1;
	c->next_dirty = c->hub->dirty;
	c->hub->dirty = c;
}

static const char *hub__transport_name(enum hub_transport t)
{
	return t == HUB_WS ? "WebSockets" : t == HUB_SSE ? "ServerSentEvents" : "LongPolling";
}

/* Builds the connection for a claimed token; 0 on success. */
static int hub__adopt_setup(struct tw_hub *h, struct hub_conn *c, const char *token)
{
	if (pending__take(h, c, token) != 0)
		return -1;
	if (tw_strmap_put(&h->conns, c->id, c) != TW_OK)
		return -1;
	if (tw_strmap_put(&h->tokens, c->token, c) != TW_OK) {
		tw_strmap_del(&h->conns, c->id);
		return -1;
	}
	if (c->transport == HUB_WS && ws__init(c) != TW_OK) {
		tw_strmap_del(&h->conns, c->id);
		tw_strmap_del(&h->tokens, c->token);
		return -1;
	}
	return 0;
}

static void hub__adopt_one(struct tw_hub *h, struct hub_in *in)
{
	struct hub_conn *c = in->kind == HUB_IN_UPGRADE
				     ? hub__conn_new(h, in->fd, in->urh, in->data, in->len)
				     : hub__conn_new_stream(h, in->stream);

	if (!c || hub__adopt_setup(h, c, in->token) != 0) {
		tw_error("hub: cannot set up the connection for token %.8s...: "
			 "out of memory or token gone", in->token);
		pending__drop(h, in->token);
		if (c && c->stream)
			hub__stream_end(c);
		hub__conn_free(c);
		if (in->kind == HUB_IN_UPGRADE)
			MHD_upgrade_action(in->urh, MHD_UPGRADE_ACTION_CLOSE);
		return;
	}
	hub__user_add(c);
	hub__ops_on_open(c);
	pthread_mutex_lock(&h->lock);
	tw_strmap_put(&h->live, c->id, c);
	pthread_mutex_unlock(&h->lock);
	HUB_COUNT(h, conn_opened);
	HUB_COUNT(h, conn_current);
	tw_info("connection %s opened (user %s, transport %s)", c->id, c->user ? c->user : "-",
		hub__transport_name(c->transport));
	if (c->extra_len)
		ws__on_readable(c);
}

/* Bytes, a DELETE or a gone stream for a SSE/LP connection. */
static void hub__stream_event(struct tw_hub *h, struct hub_in *in)
{
	struct hub_conn *c = tw_strmap_get(&h->tokens, in->token);

	if (!c || c->state == HUB_CONN_DEAD)
		return;
	if (in->kind == HUB_IN_BYTES) {
		c->last_recv_ms = hub__now();
		hub__conn_on_bytes(c, in->data, in->len);
	} else if (in->kind == HUB_IN_CLOSE) {
		hub__conn_finish(c, "client ended the connection (DELETE)");
	} else {
		hub__conn_finish(c, c->reason[0] ? c->reason : "client closed the event stream");
	}
}

static void hub__flush_dirty(struct tw_hub *h);

static void hub__drain_inboxes(struct tw_hub *h)
{
	struct hub_in *ins;
	struct hub_bpmsg *msgs;
	unsigned long long queued0;
	uint64_t v;

	if (read(h->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		tw_warn("hub: eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&h->lock);
	ins = h->in_head;
	msgs = h->bp_head;
	h->in_head = h->in_tail = NULL;
	h->in_bytes = 0;
	h->bp_head = h->bp_tail = NULL;
	h->bp_len = 0;
	if (h->stop_requested && !h->stopping) {
		h->stopping = 1;
		h->inbox_closed = 1;
	}
	pthread_mutex_unlock(&h->lock);
	for (struct hub_in *next; ins; ins = next) {
		next = ins->next;
		if (ins->kind == HUB_IN_UPGRADE || ins->kind == HUB_IN_STREAM)
			hub__adopt_one(h, ins);
		else if (ins->kind == HUB_IN_RESULT)
			hub__upcall_result(h, ins);
		else
			hub__stream_event(h, ins);
		if (ins->kind == HUB_IN_STREAM)
			hub__stream_unref(ins->stream);
		free(ins);
	}
	/* Payloads that waited together are queued together and written with
	 * one writev per connection: a burst costs a syscall per connection
	 * per batch instead of one per message (the syscall, with the
	 * receiver's TCP path inside it on loopback, is nearly all of a
	 * delivery's cost). A lone payload is written at once as before. A
	 * batch ends after HUB_FLUSH_PAYLOADS payloads or HUB_FLUSH_QUEUED
	 * queued deliveries, which bounds the queue entries alive at once. */
	queued0 = HUB_READ(h, messages_queued);
	for (size_t n = 1; msgs; n++) {
		struct hub_bpmsg *next = msgs->next;
		unsigned long long queued;

		hub__deliver_payload(h, msgs->data, msgs->len);
		free(msgs);
		msgs = next;
		queued = HUB_READ(h, messages_queued);
		if (!msgs || n % HUB_FLUSH_PAYLOADS == 0 || queued - queued0 >= HUB_FLUSH_QUEUED) {
			hub__flush_dirty(h);
			queued0 = queued;
		}
	}
}

static void hub__flush_dirty(struct tw_hub *h)
{
	while (h->dirty) {
		struct hub_conn *c = h->dirty;

		h->dirty = c->next_dirty;
		c->next_dirty = NULL;
		c->dirty = 0;
		if (c->state == HUB_CONN_DEAD)
			continue;
		if (c->stream)
			hub__stream_flush(c);
		else
			ws__flush(c);
	}
}

static void hub__reap(struct tw_hub *h)
{
	while (h->dead) {
		struct hub_conn *c = h->dead;

		h->dead = c->next_dead;
		pending__drop(h, c->token);
		hub__conn_free(c);
	}
}

struct hub_tick {
	int64_t now;
	struct hub_conn **list;
	size_t n;
};

static void hub__collect(void *ctx, const char *key, void *value)
{
	struct hub_tick *t = ctx;

	t->list[t->n++] = value;
}

/* Runs fn on a snapshot of the connections, so fn may unlink them. */
static void hub__each_conn(struct tw_hub *h, void (*fn)(struct hub_conn *c, int64_t now),
			   int64_t now)
{
	struct hub_tick t = { now, NULL, 0 };

	if (!h->conns.count)
		return;
	t.list = malloc(h->conns.count * sizeof(*t.list));
	if (!t.list)
		return;
	tw_strmap_each(&h->conns, hub__collect, &t);
	for (size_t i = 0; i < t.n; i++)
		fn(t.list[i], now);
	free(t.list);
}

static void hub__close_for_stop(struct hub_conn *c, int64_t now)
{
	hub__conn_close(c, "Server is shutting down.", 1, 1001, "server shutting down");
}

static void hub__finish_for_stop(struct hub_conn *c, int64_t now)
{
	hub__conn_finish(c, c->reason[0] ? c->reason : "server shutting down");
}

static void hub__on_event(struct tw_hub *h, struct epoll_event *ev)
{
	struct hub_conn *c = ev->data.ptr;

	if (!c) {
		hub__drain_inboxes(h);
		return;
	}
	if (c->state == HUB_CONN_DEAD)
		return;
	if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		ws__on_readable(c);
	if (c->state != HUB_CONN_DEAD && (ev->events & EPOLLOUT))
		ws__flush(c);
	if (c->state != HUB_CONN_DEAD && (ev->events & (EPOLLHUP | EPOLLERR)))
		hub__conn_finish(c, c->reason[0] ? c->reason : "socket hang-up");
}

/* Starts the shutdown once: every connection gets a Close. */
static int hub__stop_step(struct tw_hub *h, int64_t now)
{
	if (!h->stop_deadline_ms) {
		h->stop_deadline_ms = now + HUB_STOP_GRACE_MS;
		hub__each_conn(h, hub__close_for_stop, now);
	}
	if (h->conns.count && now >= h->stop_deadline_ms)
		hub__each_conn(h, hub__finish_for_stop, now);
	return h->conns.count == 0;
}

/* Timers run every second, or faster when a timeout is shorter (tests). */
static int64_t hub__tick_ms(const struct tw_hub_config *cfg)
{
	int64_t t = 1000;

	if (cfg->keepalive_ms / 2 < t)
		t = cfg->keepalive_ms / 2;
	if (cfg->client_timeout_ms / 2 < t)
		t = cfg->client_timeout_ms / 2;
	if (cfg->handshake_timeout_ms / 2 < t)
		t = cfg->handshake_timeout_ms / 2;
	return t < 20 ? 20 : t;
}

static void *hub__loop(void *arg)
{
	struct tw_hub *h = arg;
	struct epoll_event evs[128];
	int64_t tick = hub__tick_ms(&h->cfg), next_tick = hub__now() + tick;

	hub__outq_cache_enable();
	for (;;) {
		int64_t now;
		int n = epoll_wait(h->epfd, evs, 128, h->stopping ? 20 : (int)(tick < 250 ? tick : 250));

		for (int i = 0; i < n; i++)
			hub__on_event(h, &evs[i]);
		now = hub__now();
		if (now >= next_tick || h->stopping) { /* stopping: closes are watched closely */
			hub__each_conn(h, hub__conn_tick, now);
			pending__sweep(h, now);
			next_tick = now + tick;
		}
		hub__flush_dirty(h);
		if (h->stopping && hub__stop_step(h, now)) {
			hub__flush_dirty(h);
			hub__reap(h);
			break;
		}
		hub__reap(h);
	}
	hub__outq_cache_trim();
	return NULL;
}

/* ---- lifecycle ---- */

int tw_hub_create(struct tw_hub **out, const struct tw_hub_config *cfg)
{
	struct tw_hub *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	*out = NULL;
	if (!h)
		return TW_ERR_NOMEM;
	h->cfg = *cfg;
	pthread_mutex_init(&h->lock, NULL);
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->epfd < 0 || h->wakefd < 0 || epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->wakefd, &ev) != 0) {
		tw_error("hub: cannot create epoll/eventfd: %s", strerror(errno));
		tw_hub_destroy(h);
		return TW_ERR_IO;
	}
	*out = h;
	return TW_OK;
}

int tw_hub_start(struct tw_hub *h)
{
	int rc = pthread_create(&h->thread, NULL, hub__loop, h);

	if (rc != 0) {
		tw_error("hub: cannot start the loop thread: %s", strerror(rc));
		return TW_ERR_IO;
	}
	pthread_setname_np(h->thread, "tw-hub");
	h->thread_started = 1;
	return TW_OK;
}

void tw_hub_stop(struct tw_hub *h)
{
	if (!h || !h->thread_started)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop_requested = 1;
	pthread_mutex_unlock(&h->lock);
	hub__wake(h);
	pthread_join(h->thread, NULL);
	h->thread_started = 0;
}

/* Frees what the inboxes still hold; upgraded sockets are closed via MHD. */
static void hub__free_inboxes(struct tw_hub *h)
{
	while (h->in_head) {
		struct hub_in *in = h->in_head;

		h->in_head = in->next;
		if (in->kind == HUB_IN_UPGRADE)
			MHD_upgrade_action(in->urh, MHD_UPGRADE_ACTION_CLOSE);
		if (in->kind == HUB_IN_STREAM)
			hub__stream_unref(in->stream);
		free(in);
	}
	while (h->bp_head) {
		struct hub_bpmsg *m = h->bp_head;

		h->bp_head = m->next;
		free(m);
	}
	h->in_tail = NULL;
	h->bp_tail = NULL;
}

void tw_hub_destroy(struct tw_hub *h)
{
	if (!h)
		return;
	tw_hub_stop(h);
	pthread_mutex_lock(&h->lock);
	h->inbox_closed = 1;
	pthread_mutex_unlock(&h->lock);
	hub__free_inboxes(h);
	hub__ops_free(h);
	hub__groups_free(h);
	tw_strmap_free(&h->conns);
	tw_strmap_free(&h->tokens);
	tw_strmap_free(&h->live);
	tw_strmap_each(&h->pending, pending__free_cb, NULL);
	tw_strmap_free(&h->pending);
	if (h->epfd >= 0)
		close(h->epfd);
	if (h->wakefd >= 0)
		close(h->wakefd);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
