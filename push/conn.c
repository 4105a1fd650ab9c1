/* conn.c -- the SignalR session of one connection: handshake, invocations, groups, keep-alive, close */
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telewire/error.h"
#include "telewire/log.h"
#include "auth.h"
#include "hub.h"

#define CONN_CLOSE_GRACE_MS 2000
#define CONN_MAX_GROUP_NAME 256

struct hub_conn *hub__conn_new(struct tw_hub *h, int fd, struct MHD_UpgradeResponseHandle *urh,
			       const char *extra, size_t extra_len)
{
	struct hub_conn *c = calloc(1, sizeof(*c));
	int fl;

	if (!c)
		return NULL;
	c->hub = h;
	c->transport = HUB_WS;
	c->form = HUB_FORM_JSON_WS;
	c->fd = fd;
	c->urh = urh;
	c->state = HUB_CONN_HANDSHAKE;
	c->opened_ms = c->last_recv_ms = c->last_send_ms = hub__now();
	tw_hubproto_reader_init(&c->rd, (size_t)h->cfg.max_record);
	tw_hubmp_reader_init(&c->mrd, (size_t)h->cfg.max_record);
	if (extra_len) {
		c->extra = malloc(extra_len);
		if (!c->extra) {
			free(c);
			return NULL;
		}
		memcpy(c->extra, extra, extra_len);
		c->extra_len = extra_len;
	}
	fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	return c;
}

struct hub_conn *hub__conn_new_stream(struct tw_hub *h, struct hub_stream *s)
{
	struct hub_conn *c = hub__conn_new(h, -1, NULL, NULL, 0);

	if (!c)
		return NULL;
	c->transport = s->transport;
	c->form = s->transport == HUB_SSE ? HUB_FORM_JSON_SSE : HUB_FORM_JSON_RAW;
	c->stream = hub__stream_ref(s);
	return c;
}

void hub__conn_free(struct hub_conn *c)
{
	if (!c)
		return;
	ws__free(c);
	hub__outq_clear(&c->q);
	hub__stream_unref(c->stream);
	tw_hubproto_reader_free(&c->rd);
	tw_hubmp_reader_free(&c->mrd);
	for (size_t i = 0; i < c->nroles; i++)
		free(c->roles[i]);
	free(c->roles);
	free(c->user);
	free(c->extra);
	free(c->groups);
	free(c);
}

/* Sends an encoded record (freeing the buffer) as one private frame. */
static int conn__send(struct hub_conn *c, struct tw_buf *b)
{
	int rc = b->len ? hub__conn_push_record(c, b->data, b->len) : TW_ERR_NOMEM;

	tw_buf_free(b);
	return rc;
}

static int conn__msgpack(const struct hub_conn *c)
{
	return c->protocol == TW_HUBPROTO_MSGPACK;
}

void hub__conn_completion(struct hub_conn *c, const char *invocation_id, const char *error,
			  const json_t *result)
{
	struct tw_buf b = { 0 };

	if (!invocation_id || c->state != HUB_CONN_OPEN)
		return;
	if (conn__msgpack(c))
		tw_hubmp_encode_completion(&b, invocation_id, error, result);
	else
		tw_hubproto_encode_completion(&b, invocation_id, error, result);
	conn__send(c, &b);
}

static void conn__completion(struct hub_conn *c, const char *invocation_id, const char *error)
{
	hub__conn_completion(c, invocation_id, error, NULL);
}

void hub__conn_close(struct hub_conn *c, const char *error, int allow_reconnect,
		     uint16_t ws_code, const char *why)
{
	struct tw_buf b = { 0 };

	if (c->state == HUB_CONN_CLOSING || c->state == HUB_CONN_DEAD)
		return;
	if (c->state == HUB_CONN_OPEN) {
		if (conn__msgpack(c))
			tw_hubmp_encode_close(&b, error, allow_reconnect);
		else
			tw_hubproto_encode_close(&b, error, allow_reconnect);
		conn__send(c, &b);
	}
	if (c->transport == HUB_WS)
		ws__close(c, ws_code, why);
	else
		hub__mark_dirty(c);
	c->state = HUB_CONN_CLOSING;
	c->close_deadline_ms = hub__now() + CONN_CLOSE_GRACE_MS;
	if (!c->reason[0])
		snprintf(c->reason, sizeof(c->reason), "%s", why);
}

void hub__conn_finish(struct hub_conn *c, const char *why)
{
	struct tw_hub *h = c->hub;

	if (c->state == HUB_CONN_DEAD)
		return;
	if (c->reason != why)
		snprintf(c->reason, sizeof(c->reason), "%s", why);
	tw_info("connection %s closed (user %s): %s%s", c->id, c->user ? c->user : "-", c->reason,
		c->dropped ? " (messages were dropped for this slow client)" : "");
	c->state = HUB_CONN_DEAD;
	hub__conn_unlink(c);
	tw_strmap_del(&h->conns, c->id);
	tw_strmap_del(&h->tokens, c->token);
	pthread_mutex_lock(&h->lock);
	tw_strmap_del(&h->live, c->id);
	pthread_mutex_unlock(&h->lock);
	ws__free(c);
	hub__outq_clear(&c->q);
	if (c->urh)
		MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
	c->urh = NULL;
	hub__stream_end(c);
	HUB_COUNT(h, conn_closed);
	__atomic_fetch_sub(&h->counters.conn_current, 1, __ATOMIC_RELAXED);
	c->next_dead = h->dead;
	h->dead = c;
}

static void conn__handshake(struct hub_conn *c, const char *rec, size_t len)
{
	struct tw_buf b = { 0 };
	char err[200];
	int protocol = TW_HUBPROTO_JSON;

	if (tw_hubproto_parse_handshake(rec, len, &protocol, err, sizeof(err)) != TW_OK) {
		HUB_COUNT(c->hub, handshake_failures);
		tw_warn("connection %s: bad handshake: %s", c->id, err);
		tw_hubproto_encode_handshake(&b, err);
		conn__send(c, &b);
		hub__conn_close(c, NULL, 0, 1002, "bad handshake");
		return;
	}
	if (protocol == TW_HUBPROTO_MSGPACK && c->transport == HUB_SSE) {
		HUB_COUNT(c->hub, handshake_failures);
		tw_warn("connection %s: bad handshake: messagepack over Server-Sent Events", c->id);
		tw_hubproto_encode_handshake(&b, "Cannot use the 'messagepack' protocol on the "
					     "current transport. The transport does not support "
					     "'Binary' transfer format.");
		conn__send(c, &b);
		hub__conn_close(c, NULL, 0, 1002, "bad handshake");
		return;
	}
	c->protocol = protocol;
	if (protocol == TW_HUBPROTO_MSGPACK) {
		c->form = c->transport == HUB_WS ? HUB_FORM_MP_WS : HUB_FORM_MP_RAW;
		if (c->stream) {
			pthread_mutex_lock(&c->stream->mu);
			c->stream->binary = 1;
			pthread_mutex_unlock(&c->stream->mu);
		}
	}
	tw_hubproto_encode_handshake(&b, NULL);
	conn__send(c, &b);
	c->state = HUB_CONN_OPEN;
}

static int conn__group_arg(struct hub_conn *c, const struct tw_hubmsg *m, const char **group)
{
	json_t *a = json_array_get(m->arguments, 0);

	*group = json_string_value(a);
	if (json_array_size(m->arguments) != 1 || !*group || !**group ||
	    strlen(*group) != json_string_length(a) ||
	    json_string_length(a) > CONN_MAX_GROUP_NAME) {
		conn__completion(c, m->invocation_id,
				 "JoinGroup/LeaveGroup take one non-empty group name (at most 256 bytes).");
		return -1;
	}
	return 0;
}

static void conn__join_leave(struct hub_conn *c, const struct tw_hubmsg *m, int join)
{
	const char *group;
	int rc;

	if (conn__group_arg(c, m, &group) != 0)
		return;
	if (!tw_jwt_may_join((const char *const *)c->roles, c->nroles, group)) {
		tw_warn("connection %s: %s '%s' refused: token lacks role %s", c->id, m->target,
			group, TW_ROLE_JOIN_LEAVE);
		conn__completion(c, m->invocation_id,
				 "Unauthorized: the access token has no webpubsub.joinLeaveGroup role.");
		return;
	}
	rc = join ? hub__group_join(c, group) : hub__group_leave(c, group);
	if (rc == TW_ERR_NOMEM) {
		conn__completion(c, m->invocation_id, "Out of memory.");
		return;
	}
	if (join)
		HUB_COUNT(c->hub, group_joins);
	else
		HUB_COUNT(c->hub, group_leaves);
	conn__completion(c, m->invocation_id, NULL);
}

static void conn__invocation(struct hub_conn *c, const struct tw_hubmsg *m)
{
	HUB_COUNT(c->hub, invocations);
	if (strcasecmp(m->target, "JoinGroup") == 0)
		conn__join_leave(c, m, 1);
	else if (strcasecmp(m->target, "LeaveGroup") == 0)
		conn__join_leave(c, m, 0);
	else if (strcasecmp(m->target, "SendCommand") == 0)
		hub__send_command(c, m);
	else
		hub__upstream_invoke(c, m);
}

static void conn__bad_record(struct hub_conn *c, const char *why)
{
	char err[300];

	HUB_COUNT(c->hub, bad_records);
	snprintf(err, sizeof(err), "Invalid message: %s", why);
	tw_warn("connection %s: %s", c->id, err);
	hub__conn_close(c, err, 0, 1003, "invalid message from client");
}

static void conn__message(struct hub_conn *c, const char *rec, size_t len)
{
	struct tw_hubmsg m;
	char err[240];

	int rc = conn__msgpack(c) ? tw_hubmp_parse(rec, len, &m, err, sizeof(err))
				  : tw_hubproto_parse(rec, len, &m, err, sizeof(err));

	if (rc != TW_OK) {
		conn__bad_record(c, err);
		return;
	}
	switch (m.type) {
	case TW_HUBMSG_INVOCATION:
		conn__invocation(c, &m);
		break;
	case TW_HUBMSG_STREAM_INVOCATION:
		conn__completion(c, m.invocation_id, "Streaming is not supported by this hub.");
		break;
	case TW_HUBMSG_CLOSE:
		snprintf(c->reason, sizeof(c->reason), "client sent Close%s%.100s",
			 m.error ? ": " : "", m.error ? m.error : "");
		if (c->transport == HUB_WS)
			hub__conn_close(c, NULL, 0, 1000, c->reason);
		else /* the client is gone already: nothing to say back */
			hub__conn_finish(c, c->reason);
		break;
	default: /* Ping, and messages about streams this hub never starts */
		break;
	}
	tw_hubmsg_free(&m);
}

static void conn__oversized(struct hub_conn *c)
{
	char err[160];

	HUB_COUNT(c->hub, oversized_records);
	snprintf(err, sizeof(err), "Message exceeds the maximum size of %lld bytes.",
		 c->hub->cfg.max_record);
	tw_warn("connection %s: %s", c->id, err);
	if (c->state == HUB_CONN_HANDSHAKE) {
		struct tw_buf b = { 0 };

		tw_hubproto_encode_handshake(&b, err);
		conn__send(c, &b);
	}
	hub__conn_close(c, err, 0, 1009, "message too big");
}

/* After a MessagePack handshake, bytes that followed it belong to the
 * MessagePack reader. */
static int conn__switch_reader(struct hub_conn *c)
{
	struct tw_hubproto_reader *rd = &c->rd;
	int rc = TW_OK;

	if (rd->len > rd->start)
		rc = tw_hubmp_feed(&c->mrd, rd->buf + rd->start, rd->len - rd->start);
	tw_hubproto_reader_free(rd);
	tw_hubproto_reader_init(rd, (size_t)c->hub->cfg.max_record);
	return rc;
}

static void conn__records(struct hub_conn *c)
{
	const char *rec;
	size_t len;
	int rc;

	while (c->state == HUB_CONN_HANDSHAKE || c->state == HUB_CONN_OPEN) {
		if (c->state == HUB_CONN_OPEN && conn__msgpack(c))
			rc = tw_hubmp_next(&c->mrd, &rec, &len);
		else
			rc = tw_hubproto_next(&c->rd, &rec, &len);
		if (rc == TW_ERR_INCOMPLETE)
			return;
		if (rc != TW_OK) {
			conn__oversized(c);
			return;
		}
		if (c->state != HUB_CONN_HANDSHAKE) {
			conn__message(c, rec, len);
			continue;
		}
		conn__handshake(c, rec, len);
		if (c->state == HUB_CONN_OPEN && conn__msgpack(c) &&
		    conn__switch_reader(c) == TW_ERR_LIMIT) {
			conn__oversized(c);
			return;
		}
	}
}

void hub__conn_on_bytes(struct hub_conn *c, const void *data, size_t len)
{
	int rc;

	if (c->state != HUB_CONN_HANDSHAKE && c->state != HUB_CONN_OPEN)
		return;
	if (c->state == HUB_CONN_OPEN && conn__msgpack(c))
		rc = tw_hubmp_feed(&c->mrd, data, len);
	else
		rc = tw_hubproto_feed(&c->rd, data, len);
	if (rc == TW_ERR_NOMEM) {
		hub__conn_close(c, "Out of memory.", 1, 1011, "out of memory");
		return;
	}
	/* Whole records are handled first; a too-long record then fails in next. */
	conn__records(c);
}

static void conn__ping(struct hub_conn *c, int64_t now)
{
	struct tw_buf b = { 0 };

	if (c->q.head)
		return; /* data is on its way: that keeps the client alive */
	if (conn__msgpack(c))
		tw_hubmp_encode_ping(&b);
	else
		tw_hubproto_encode_ping(&b);
	conn__send(c, &b);
	c->last_send_ms = now;
}

void hub__conn_tick(struct hub_conn *c, int64_t now)
{
	const struct tw_hub_config *cfg = &c->hub->cfg;

	switch (c->state) {
	case HUB_CONN_HANDSHAKE:
		if (now - c->opened_ms >= cfg->handshake_timeout_ms) {
			HUB_COUNT(c->hub, handshake_failures);
			hub__conn_close(c, NULL, 0, 1002, "handshake timeout");
		}
		break;
	case HUB_CONN_OPEN:
		if (c->transport == HUB_LP)
			hub__stream_tick(c, now);
		if (now - c->last_recv_ms >= cfg->client_timeout_ms)
			hub__conn_close(c, "Server timeout elapsed without receiving a message from the client.",
					1, 1000, "client timeout (no message received)");
		else if (now - c->last_send_ms >= cfg->keepalive_ms)
			conn__ping(c, now);
		break;
	case HUB_CONN_CLOSING:
		if (now >= c->close_deadline_ms || (c->stream && hub__stream_drained(c)))
			hub__conn_finish(c, c->reason);
		break;
	case HUB_CONN_DEAD:
		break;
	}
}
