/* transport_ws.c -- WebSocket transport: wslay for reading and control frames, shared frames + writev for data */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "telewire/error.h"
#include "telewire/log.h"
#include "hub.h"

#define WS_READ_BUDGET (256u * 1024)	/* bytes per readiness event: fairness */
#define WS_MAX_FRAME (1u << 20)		/* wslay closes with 1009 above this */
#define WS_IOV_MAX 64

struct tw_obuf *tw_ws_frame_text(const void *payload, size_t len)
{
	return tw_ws_frame(1, payload, len);
}

struct tw_obuf *tw_ws_frame(int opcode, const void *payload, size_t len)
{
	size_t hlen = len < 126 ? 2 : len <= 0xffff ? 4 : 10;
	struct tw_obuf *o = tw_obuf_new(hlen + len);
	unsigned char *h;

	if (!o)
		return NULL;
	h = o->data;
	h[0] = (unsigned char)(0x80 | opcode); /* FIN; server frames are not masked */
	if (hlen == 2) {
		h[1] = (unsigned char)len;
	} else if (hlen == 4) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	if (len)
		memcpy(h + hlen, payload, len);
	return o;
}

/* ---- epoll interest ---- */

static void ws__want(struct hub_conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (events == c->events)
		return;
	if (epoll_ctl(c->hub->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = events;
	else
		tw_warn("connection %s: epoll_ctl: %s", c->id, strerror(errno));
}

/* ---- wslay callbacks ---- */

static ssize_t ws__recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
			   void *user)
{
	struct hub_conn *c = user;
	ssize_t n;

	if (c->extra_off < c->extra_len) {
		n = (ssize_t)(len < c->extra_len - c->extra_off ? len : c->extra_len - c->extra_off);
		memcpy(buf, c->extra + c->extra_off, (size_t)n);
		c->extra_off += (size_t)n;
		c->bytes_in += (size_t)n;
		c->ws_fed += (uint64_t)n;
		return n;
	}
	if (c->read_budget == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (len > c->read_budget)
		len = c->read_budget;
	n = recv(c->fd, buf, len, 0);
	if (n > 0) {
		c->read_budget -= (size_t)n;
		c->bytes_in += (size_t)n;
		c->ws_fed += (uint64_t)n;
		c->last_recv_ms = hub__now();
		return n;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	c->eof = 1;
	wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

/* wslay's own frames (pong, close) join the same queue, so frames never interleave. */
static ssize_t ws__send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
			   int flags, void *user)
{
	struct hub_conn *c = user;
	struct tw_obuf *o = tw_obuf_new(len);

	if (!o) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	memcpy(o->data, data, len);
	if (hub__conn_push(c, o, 0, 0) != TW_OK) {
		tw_obuf_unref(o);
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	tw_obuf_unref(o);
	return (ssize_t)len;
}

static void ws__frame_start_cb(wslay_event_context_ptr ctx,
			       const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
	struct hub_conn *c = user;
	uint64_t len = arg->payload_length;

	c->ws_data_frame = arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME ||
			   arg->opcode == WSLAY_CONTINUATION_FRAME;
	if (c->ws_data_frame)
		c->ws_msg_open = !arg->fin;
	/* wslay refuses non-minimal lengths and, as a server, unmasked frames
	 * before this callback: the header is 2 bytes, the extended length,
	 * and the 4-byte mask key. */
	c->ws_frame_len = 2 + (len < 126 ? 0 : len <= 0xffff ? 2 : 8) + 4 + len;
}

static void ws__frame_end_cb(wslay_event_context_ptr ctx, void *user)
{
	struct hub_conn *c = user;

	c->ws_framed += c->ws_frame_len;
	c->ws_frame_len = 0;
}

static void ws__frame_chunk_cb(wslay_event_context_ptr ctx,
			       const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
	struct hub_conn *c = user;

	if (c->ws_data_frame && arg->data_length)
		hub__conn_on_bytes(c, arg->data, arg->data_length);
}

/* ---- wslay's context: held only while it is needed ---- */

/*
 * wslay's event context is about 8.6 KiB (its read and write buffers), and
 * most connections are idle between keep-alives: holding one per connection
 * would be most of an idle connection's memory. So the context is created
 * when the client's bytes arrive or a close must be queued (ws__wake), and
 * freed again (ws__park) when wslay holds nothing a fresh context would not:
 * every byte it read belongs to a complete frame, no fragmented message is
 * open, no close went either way and nothing of its own waits to be written.
 * While parked c->ws is NULL, and the questions below get the answers of an
 * idle open connection: wants to read, nothing to write, no close.
 */
static int ws__wake(struct hub_conn *c)
{
	static const struct wslay_event_callbacks cbs = {
		.recv_callback = ws__recv_cb,
		.send_callback = ws__send_cb,
		.on_frame_recv_start_callback = ws__frame_start_cb,
		.on_frame_recv_chunk_callback = ws__frame_chunk_cb,
		.on_frame_recv_end_callback = ws__frame_end_cb,
	};

	if (c->ws)
		return TW_OK;
	if (wslay_event_context_server_init(&c->ws, &cbs, c) != 0) {
		c->ws = NULL;
		return TW_ERR_NOMEM;
	}
	/* A new context starts from wslay's defaults: configure each one. */
	wslay_event_config_set_no_buffering(c->ws, 1);
	wslay_event_config_set_max_recv_msg_length(c->ws, WS_MAX_FRAME);
	c->ws_fed = c->ws_framed = c->ws_frame_len = 0;
	c->ws_data_frame = c->ws_msg_open = 0;
	return TW_OK;
}

static void ws__park(struct hub_conn *c)
{
	if (!c->ws || c->ws_fed != c->ws_framed || c->ws_msg_open ||
	    !wslay_event_want_read(c->ws) || wslay_event_want_write(c->ws) ||
	    wslay_event_get_close_received(c->ws) || wslay_event_get_close_sent(c->ws))
		return;
	wslay_event_context_free(c->ws);
	c->ws = NULL;
}

static int ws__want_read(const struct hub_conn *c)
{
	return c->ws ? wslay_event_want_read(c->ws) : 1;
}

static int ws__want_write(const struct hub_conn *c)
{
	return c->ws && wslay_event_want_write(c->ws);
}

static int ws__close_received(const struct hub_conn *c)
{
	return c->ws && wslay_event_get_close_received(c->ws);
}

/* The context is created on the first bytes from the client (ws__wake). */
int ws__init(struct hub_conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	int one = 1;

	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (epoll_ctl(c->hub->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
		tw_error("connection %s: epoll_ctl add: %s", c->id, strerror(errno));
		return TW_ERR_IO;
	}
	c->events = ev.events;
	c->in_epoll = 1;
	return TW_OK;
}

void ws__free(struct hub_conn *c)
{
	if (c->in_epoll)
		epoll_ctl(c->hub->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->in_epoll = 0;
	wslay_event_context_free(c->ws);
	c->ws = NULL;
}

void ws__close(struct hub_conn *c, uint16_t code, const char *reason)
{
	size_t n = reason ? strlen(reason) : 0;

	if (n > 123)
		n = 123; /* a control frame payload is at most 125 bytes */
	if (ws__wake(c) != TW_OK) {
		/* Without a close frame the connection ends at its close deadline. */
		tw_warn("connection %s: out of memory queueing a WebSocket close", c->id);
		hub__mark_dirty(c);
		return;
	}
	wslay_event_queue_close(c->ws, code, (const uint8_t *)reason, n);
	hub__mark_dirty(c);
}

int ws__done(struct hub_conn *c)
{
	return !ws__want_read(c) && !ws__want_write(c) && !c->q.head;
}

/* wslay failed the connection on a bad frame (unmasked, invalid UTF-8, too
 * big): its close frame is queued; nothing may follow it. */
static void ws__failed(struct hub_conn *c)
{
	unsigned code = (unsigned)wslay_event_get_status_code_sent(c->ws);

	HUB_COUNT(c->hub, bad_records);
	snprintf(c->reason, sizeof(c->reason), "bad WebSocket frame from the client (closed with %u)",
		 code);
	tw_warn("connection %s: %s", c->id, c->reason);
	c->state = HUB_CONN_CLOSING;
	c->close_deadline_ms = hub__now() + 2000;
	c->failing = 1;
}

/* After a failure: reads and drops what the client still sends, so that
 * closing never resets the socket before the close frame is read; the
 * connection ends at the client's EOF or at the close deadline. */
static void ws__discard(struct hub_conn *c)
{
	char buf[16384];
	ssize_t n;

	while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		hub__conn_finish(c, c->reason);
}

void ws__on_readable(struct hub_conn *c)
{
	size_t before;
	int rc;

	if (c->failing) {
		ws__discard(c);
		return;
	}
	if (ws__wake(c) != TW_OK) {
		hub__conn_finish(c, "out of memory for the WebSocket reader");
		return;
	}
	c->read_budget = WS_READ_BUDGET;
	/* wslay returns after a short read even when more is buffered (extra_in)
	 * or readable: go on while it makes progress. */
	do {
		before = c->bytes_in;
		rc = wslay_event_recv(c->ws);
	} while (rc == 0 && !c->eof && c->state != HUB_CONN_DEAD && c->bytes_in != before &&
		 wslay_event_want_read(c->ws));
	if (c->state == HUB_CONN_DEAD)
		return;
	if (rc != 0 || c->eof) {
		hub__conn_finish(c, c->eof ? (c->reason[0] ? c->reason : "peer closed the socket")
					   : "read error");
		return;
	}
	if (wslay_event_get_close_received(c->ws) && !c->reason[0])
		snprintf(c->reason, sizeof(c->reason), "client closed the WebSocket (code %u)",
			 (unsigned)wslay_event_get_status_code_received(c->ws));
	/* wslay stops reading when it fails the connection on a bad frame. */
	if (!wslay_event_want_read(c->ws) && !wslay_event_get_close_received(c->ws) &&
	    c->state != HUB_CONN_CLOSING)
		ws__failed(c);
	hub__mark_dirty(c);
	ws__park(c);
}

int ws__writev(struct hub_conn *c)
{
	struct iovec iov[WS_IOV_MAX];
	ssize_t n;
	int cnt = 0;

	for (struct hub_out *it = c->q.head; it && cnt < WS_IOV_MAX; it = it->next, cnt++) {
		iov[cnt].iov_base = it->buf->data + it->off;
		iov[cnt].iov_len = it->buf->len - it->off;
	}
	n = writev(c->fd, iov, cnt);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	c->last_send_ms = hub__now();
	while (n > 0) {
		struct hub_out *it = c->q.head;
		size_t left = it->buf->len - it->off;

		if ((size_t)n < left) {
			it->off += (size_t)n;
			return 0;
		}
		n -= (ssize_t)left;
		hub__outq_pop(&c->q);
	}
	return c->q.head ? 1 : 0;
}

void ws__flush(struct hub_conn *c)
{
	int rc = 0;

	if (ws__want_write(c) && wslay_event_send(c->ws) != 0) {
		hub__conn_finish(c, "WebSocket send error");
		return;
	}
	while (c->q.head && (rc = ws__writev(c)) == 1)
		;
	if (rc < 0) {
		hub__conn_finish(c, c->reason[0] ? c->reason : "write error (peer gone)");
		return;
	}
	if (!c->q.head)
		c->drops_in_row = 0;
	if (!c->failing && (c->state == HUB_CONN_CLOSING || ws__close_received(c)) &&
	    ws__done(c)) {
		hub__conn_finish(c, c->reason[0] ? c->reason : "closed");
		return;
	}
	/* No EPOLLIN once wslay stops reading, or a level-triggered loop would spin. */
	if (c->failing && !c->q.head)
		shutdown(c->fd, SHUT_WR); /* the close frame is out: say so, then wait for EOF */
	ws__park(c); /* a pong just went out: wslay may hold nothing now */
	ws__want(c, (ws__want_read(c) || c->failing ? EPOLLIN | EPOLLRDHUP : 0) |
		    (c->q.head ? EPOLLOUT : 0));
}
