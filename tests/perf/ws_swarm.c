/* ws_swarm.c -- WebSocket client swarm: holds thousands of connections, counts deliveries, measures latency
 *
 *   ws_swarm --url ws://127.0.0.1:8080/client/?hub=telemetry --connections 10000 --groups 10
 *            [--mode signalr|raw] [--group G] [--duration S] [--expect N] [--connect-rate R]
 *            [--ready-file F] [--threads T] [--source-base 127.1.0.1] [--per-source N]
 *
 * Modes:
 *   signalr  the hub of the URL's hub= query (or --hub) is negotiated once
 *            (POST /api/negotiate?hub=H: url and accessToken); then every
 *            connection POSTs /client/negotiate?hub=H&negotiateVersion=1
 *            with that token on a socket of its own, closes it, and opens
 *            the WebSocket on a fresh socket, as browsers do (so the server
 *            keeps nothing of the negotiate request), at
 *            /client/?hub=H&id=CONNECTIONTOKEN&access_token=TOKEN; sends the
 *            JSON handshake {"protocol":"json","version":1}\x1e, checks the reply {}\x1e
 *            and, with --group/--groups, invokes JoinGroup(group) and waits
 *            for its Completion. Every Invocation record is one delivery.
 *            A SignalR Ping is sent every 10 s so the hub's client timeout
 *            never closes an idle connection.
 *   raw      a plain WebSocket (nchan, Node-RED): every text or binary
 *            message is one delivery. "{group}" in the URL is replaced by
 *            the connection's group (e.g. ws://127.0.0.1:9000/sub/{group}).
 *
 * Groups: --group G puts every connection in G; --groups K spreads them
 * round-robin over g0..gK-1 (connection i joins g(i % K)).
 *
 * Latency: a message carries its send time as the number field "t", in
 * microseconds since the Unix epoch (CLOCK_REALTIME), anywhere in the
 * message text, e.g. {"type":1,"target":"m","arguments":[{"t":1795528000123456,"p":"..."}]}.
 * The swarm finds the first "t": by a byte scan (no JSON parse) and records
 * now - t in a log-linear histogram (128 steps per power of two: every
 * percentile within 0.8%). A message without "t" counts as a delivery
 * without a latency sample.
 *
 * Sockets: each is bound to a loopback source address before connect
 * (127.1.0.1 upward, --per-source connections each, with
 * IP_BIND_ADDRESS_NO_PORT), so more connections than one address has
 * ephemeral ports reach one server port. RLIMIT_NOFILE is raised to its hard
 * limit; when that is still too low the swarm says so and stops.
 *
 * Bounds: a fixed read buffer per connection (frames larger than it, bad
 * frames, unexpected HTTP answers and Close records count as errors and
 * close the connection). Stops after --expect deliveries in total or after
 * --duration seconds (counted from start, ramp-up included), whichever is
 * first.
 *
 * Output: human lines on stderr and one final line on stdout:
 *   swarm connections=N connected=C failed=F deliveries=D rate=R p50_us= p90_us= p99_us= max_us= samples= errors=E closed=X elapsed_s= cpu_us=U
 * rate is deliveries per second between the first and the last delivery.
 * cpu_us is the swarm's own CPU time (user + system, every thread) in
 * microseconds from the moment every connection was settled (when the
 * ready file is written) to the end: connection set-up is not in it (from
 * the start when they never all settled).
 * The ready file gets "ready connected=C failed=F" once every connection is
 * up (and joined) or has failed. Exit status 0 when every connection came up,
 * none was lost and --expect (if given) was reached; 1 otherwise; 2 on usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"

#define PROG "ws_swarm"
#define RBUF 4096		/* read buffer per connection: the largest frame + headers */
#define WBUF 2048		/* pending outbound bytes per connection */
#define MAX_THREADS 16
#define PING_EVERY_US 10000000
#define HIST_SUB 128		/* histogram steps per power of two */
#define HIST_BUCKETS (HIST_SUB + 41 * HIST_SUB)

enum mode { MODE_SIGNALR, MODE_RAW };

/* Per-connection progress. */
enum cstate {
	CS_IDLE,	/* not started */
	CS_CONNECTING,	/* TCP connect in progress */
	CS_NEGOTIATE,	/* signalr: waiting for the /client/negotiate answer */
	CS_UPGRADE,	/* waiting for 101 */
	CS_HANDSHAKE,	/* signalr: waiting for {}\x1e */
	CS_JOIN,	/* signalr: waiting for JoinGroup's Completion */
	CS_READY,
	CS_DONE		/* failed or closed */
};

struct conn {
	int fd;
	enum cstate st;
	unsigned idx;
	uint32_t events;
	size_t rlen, wlen;
	int64_t last_send_us;
	char ctoken[64];	/* signalr: the connectionToken, between the two sockets */
	char rbuf[RBUF];
	char wbuf[WBUF];
};

struct hist {
	uint64_t b[HIST_BUCKETS];
	uint64_t n, max;
};

struct worker {
	int id, epfd;
	pthread_t thread;
	struct conn *conns;	/* this worker's connections */
	size_t nconns, started, pending;
	uint64_t mask_state;
	struct hist h;
	uint64_t deliveries, errors, closed, failed, connected;
	int64_t first_us, last_us;
	int64_t next_ping_us;
};

static struct {
	enum mode mode;
	char *url, *group, *hub, *ready_file, *source_base;
	long long connections, groups, expect, threads, per_source, max_pending;
	double duration, connect_rate;
	/* parsed URL */
	struct sockaddr_in dst;
	char host[80];		/* Host header */
	char path[512];		/* path and query */
	/* signalr: from /api/negotiate */
	char token[1024];
	uint32_t src_base;
	int verbose;
} cfg = {
	.mode = MODE_SIGNALR,
	.connections = 100,
	.duration = 30,
	.connect_rate = 2000,
	.threads = 1,
	.per_source = 10000,
	.max_pending = 256,
	.source_base = "127.1.0.1",
};

static struct worker workers[MAX_THREADS];
static atomic_llong total_deliveries, settled;
static atomic_int stop_flag;
static int64_t start_mono;
static int64_t cpu_at_ready;	/* process CPU time when every connection settled */

static const char ws_key_header[] = "Sec-WebSocket-Key: dGVsZXdpcmUtc3dhcm0tMQ==\r\n";

/* ---- histogram ---- */

static unsigned hist__index(uint64_t v)
{
	unsigned e;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);	/* >= 7 */
	if (e > 47)
		return HIST_BUCKETS - 1;
	return HIST_SUB + (e - 7) * HIST_SUB + (unsigned)((v >> (e - 7)) & (HIST_SUB - 1));
}

/* The middle of bucket i, the value a percentile in it reports. */
static double hist__value(unsigned i)
{
	unsigned e, sub;

	if (i < HIST_SUB)
		return i;
	e = (i - HIST_SUB) / HIST_SUB + 7;
	sub = (i - HIST_SUB) % HIST_SUB;
	return (double)((uint64_t)(HIST_SUB + sub) << (e - 7)) + (double)(1ull << (e - 7)) / 2;
}

static void hist_add(struct hist *h, int64_t v)
{
	if (v < 0)
		v = 0;	/* clocks of one machine: a small negative is rounding */
	h->b[hist__index((uint64_t)v)]++;
	h->n++;
	if ((uint64_t)v > h->max)
		h->max = (uint64_t)v;
}

static double hist_pct(const struct hist *h, double p)
{
	uint64_t rank = (uint64_t)(p * (double)h->n + 0.999999), seen = 0;

	if (h->n == 0)
		return 0;
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			double v = hist__value(i);

			return v > (double)h->max ? (double)h->max : v;
		}
	}
	return (double)h->max;
}

/* ---- small helpers ---- */

static int64_t elapsed_us(void)
{
	return bench_mono_us() - start_mono;
}

/* The connection's group name into out ("" when it joins none). */
static void conn_group(unsigned idx, char *out, size_t n)
{
	if (cfg.groups > 0)
		snprintf(out, n, "g%llu", (unsigned long long)(idx % (unsigned long long)cfg.groups));
	else if (cfg.group)
		snprintf(out, n, "%s", cfg.group);
	else
		out[0] = '\0';
}

/* The value of "key":"..." in a JSON text (no escapes expected), into out. */
static int json_str_field(const char *s, size_t len, const char *key, char *out, size_t n)
{
	char pat[64];
	const char *p, *end = s + len, *q;
	size_t plen;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	plen = strlen(pat);
	p = memmem(s, len, pat, plen);
	if (!p)
		return -1;
	p += plen;
	q = memchr(p, '"', (size_t)(end - p));
	if (!q || (size_t)(q - p) >= n)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 0;
}

/* The send time "t": in a message, or -1. */
static int64_t find_t(const char *s, size_t len)
{
	const char *p = memmem(s, len, "\"t\":", 4), *end = s + len;
	int64_t v = 0;

	if (!p)
		return -1;
	p += 4;
	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return -1;
	while (p < end && *p >= '0' && *p <= '9' && v < (INT64_MAX - 9) / 10)
		v = v * 10 + (*p++ - '0');
	return v;
}

/* ---- connection lifecycle ---- */

static void conn_settle(struct worker *w, struct conn *c, int ok)
{
	(void)c;
	if (ok)
		w->connected++;
	else
		w->failed++;
	if (w->pending)
		w->pending--;
	atomic_fetch_add(&settled, 1);
}

/* Ends a connection; before it was ready it counts as failed, after as closed (why: error). */
static void conn_end(struct worker *w, struct conn *c, const char *why, int error)
{
	if (c->st == CS_DONE)
		return;
	if (c->st != CS_READY) {
		if (w->failed < 5)
			fprintf(stderr, PROG ": connection %u failed: %s\n", c->idx, why);
		conn_settle(w, c, 0);
	} else if (!atomic_load(&stop_flag)) {
		w->closed++;
		if (w->closed <= 5)
			fprintf(stderr, PROG ": connection %u closed: %s\n", c->idx, why);
	}
	if (error)
		w->errors++;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = CS_DONE;
}

static void conn_want(struct worker *w, struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (ev == c->events)
		return;
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

/* Writes what is pending; 0, or -1 after ending the connection. */
static int conn_flush(struct worker *w, struct conn *c)
{
	while (c->wlen) {
		ssize_t n = write(c->fd, c->wbuf, c->wlen);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				conn_want(w, c, EPOLLIN | EPOLLOUT);
				return 0;
			}
			conn_end(w, c, strerror(errno), 1);
			return -1;
		}
		memmove(c->wbuf, c->wbuf + n, c->wlen - (size_t)n);
		c->wlen -= (size_t)n;
	}
	conn_want(w, c, EPOLLIN);
	return 0;
}

/* Appends raw bytes to the connection's outbound buffer and writes them. */
static int conn_send(struct worker *w, struct conn *c, const void *data, size_t len)
{
	if (len > WBUF - c->wlen) {
		conn_end(w, c, "outbound buffer full (server not reading)", 1);
		return -1;
	}
	memcpy(c->wbuf + c->wlen, data, len);
	c->wlen += len;
	c->last_send_us = bench_mono_us();
	return conn_flush(w, c);
}

/* Sends one masked client frame (opcode 1 text, 9 ping reply is 10 pong). */
static int conn_send_frame(struct worker *w, struct conn *c, int opcode, const void *data, size_t len)
{
	unsigned char f[WBUF];
	size_t h = 2;
	uint32_t mask;

	if (len > sizeof(f) - 8)
		return -1;
	w->mask_state ^= w->mask_state << 13;
	w->mask_state ^= w->mask_state >> 7;
	w->mask_state ^= w->mask_state << 17;
	mask = (uint32_t)w->mask_state;
	f[0] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		f[1] = (unsigned char)(0x80 | len);
	} else {
		f[1] = 0x80 | 126;
		f[2] = (unsigned char)(len >> 8);
		f[3] = (unsigned char)len;
		h = 4;
	}
	memcpy(f + h, &mask, 4);
	for (size_t i = 0; i < len; i++)
		f[h + 4 + i] = ((const unsigned char *)data)[i] ^ f[h + i % 4];
	return conn_send(w, c, f, h + 4 + len);
}

/* Sends an HTTP request of n bytes that snprintf wrote into req (a buffer
 * of size bytes), then waits in state st; a request that did not fit ends
 * the connection. */
static int conn_request(struct worker *w, struct conn *c, const char *req, int n, size_t size,
			enum cstate st, const char *what)
{
	char why[64];

	if (n < 0 || (size_t)n >= size) {
		snprintf(why, sizeof(why), "%s request too long", what);
		conn_end(w, c, why, 1);
		return -1;
	}
	c->st = st;
	return conn_send(w, c, req, (size_t)n);
}

static int conn_send_upgrade(struct worker *w, struct conn *c, const char *conn_token)
{
	char req[WBUF], path[WBUF - 200], grp[128];
	int n;

	if (cfg.mode == MODE_SIGNALR) {
		if (snprintf(path, sizeof(path), "/client/?hub=%s&id=%s&access_token=%.1200s", cfg.hub,
			     conn_token, cfg.token) >= (int)sizeof(path)) {
			conn_end(w, c, "upgrade path too long", 1);
			return -1;
		}
	} else {
		/* "{group}" in the path becomes this connection's group */
		const char *g = strstr(cfg.path, "{group}");

		conn_group(c->idx, grp, sizeof(grp));
		if (g)
			snprintf(path, sizeof(path), "%.*s%s%s", (int)(g - cfg.path), cfg.path, grp, g + 7);
		else
			snprintf(path, sizeof(path), "%s", cfg.path);
	}
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		     "%sSec-WebSocket-Version: 13\r\n\r\n", path, cfg.host, ws_key_header);
	return conn_request(w, c, req, n, sizeof(req), CS_UPGRADE, "upgrade");
}

static int conn_send_negotiate(struct worker *w, struct conn *c)
{
	char req[WBUF];
	int n = snprintf(req, sizeof(req),
			 "POST /client/negotiate?hub=%s&negotiateVersion=1 HTTP/1.1\r\nHost: %s\r\n"
			 "Authorization: Bearer %s\r\nContent-Length: 0\r\n\r\n", cfg.hub, cfg.host,
			 cfg.token);

	return conn_request(w, c, req, n, sizeof(req), CS_NEGOTIATE, "negotiate");
}

/* The TCP connection is up: the first request. */
static void conn_connected(struct worker *w, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
		conn_end(w, c, err ? strerror(err) : "connect failed", 1);
		return;
	}
	if (cfg.mode == MODE_SIGNALR && !c->ctoken[0])
		conn_send_negotiate(w, c);
	else
		conn_send_upgrade(w, c, c->ctoken);
}

static void conn_ready(struct worker *w, struct conn *c)
{
	c->st = CS_READY;
	conn_settle(w, c, 1);
}

/* After the SignalR handshake: join the group, or be ready. */
static void conn_after_handshake(struct worker *w, struct conn *c)
{
	char grp[128], rec[256];
	int n;

	conn_group(c->idx, grp, sizeof(grp));
	if (!grp[0]) {
		conn_ready(w, c);
		return;
	}
	n = snprintf(rec, sizeof(rec),
		     "{\"type\":1,\"invocationId\":\"1\",\"target\":\"JoinGroup\",\"arguments\":[\"%s\"]}\x1e",
		     grp);
	c->st = CS_JOIN;
	conn_send_frame(w, c, 1, rec, (size_t)n);
}

static int conn_start(struct worker *w, struct conn *c);

/* ---- incoming ---- */

static void conn_delivery(struct worker *w, const char *msg, size_t len)
{
	int64_t t = find_t(msg, len), now;

	w->deliveries++;
	atomic_fetch_add_explicit(&total_deliveries, 1, memory_order_relaxed);
	now = bench_wall_us();
	if (!w->first_us)
		w->first_us = bench_mono_us();
	w->last_us = bench_mono_us();
	if (t > 0)
		hist_add(&w->h, now - t);
}

/* One SignalR record (without its 0x1e); 0, or -1 after ending the connection. */
static int conn_record(struct worker *w, struct conn *c, const char *r, size_t len)
{
	const char *p = memmem(r, len, "\"type\":", 7);
	int type = p && p + 7 < r + len ? p[7] - '0' : -1;

	if (c->st == CS_HANDSHAKE) {
		if (memmem(r, len, "\"error\"", 7)) {
			conn_end(w, c, "handshake refused", 1);
			return -1;
		}
		conn_after_handshake(w, c);
		return c->st == CS_DONE ? -1 : 0;
	}
	switch (type) {
	case 1:	/* Invocation */
		conn_delivery(w, r, len);
		return 0;
	case 3:	/* Completion */
		if (c->st == CS_JOIN) {
			if (memmem(r, len, "\"error\"", 7)) {
				conn_end(w, c, "JoinGroup refused", 1);
				return -1;
			}
			conn_ready(w, c);
		}
		return 0;
	case 6:	/* Ping */
		return 0;
	case 7:	/* Close */
		conn_end(w, c, "Close record from the server", 1);
		return -1;
	default:
		conn_end(w, c, "unparseable record", 1);
		return -1;
	}
}

static int conn_message(struct worker *w, struct conn *c, const char *m, size_t len)
{
	if (cfg.mode == MODE_RAW) {
		conn_delivery(w, m, len);
		return 0;
	}
	while (len) {
		const char *e = memchr(m, 0x1e, len);

		if (!e) {
			conn_end(w, c, "record without its 0x1e separator", 1);
			return -1;
		}
		if (conn_record(w, c, m, (size_t)(e - m)) != 0)
			return -1;
		len -= (size_t)(e - m) + 1;
		m = e + 1;
	}
	return 0;
}

/* Parses the frames in rbuf; returns bytes consumed, or -1 after ending the connection. */
static long conn_frames(struct worker *w, struct conn *c)
{
	size_t off = 0;

	while (c->rlen - off >= 2) {
		const unsigned char *f = (const unsigned char *)c->rbuf + off;
		size_t avail = c->rlen - off, h = 2, plen = f[1] & 0x7f;
		int op = f[0] & 0x0f;

		if (f[1] & 0x80) {
			conn_end(w, c, "masked frame from the server", 1);
			return -1;
		}
		if (plen == 126) {
			if (avail < 4)
				break;
			plen = (size_t)f[2] << 8 | f[3];
			h = 4;
		} else if (plen == 127) {
			conn_end(w, c, "frame larger than the read buffer", 1);
			return -1;
		}
		if (h + plen > RBUF) {
			conn_end(w, c, "frame larger than the read buffer", 1);
			return -1;
		}
		if (avail < h + plen)
			break;
		switch (op) {
		case 0: case 1: case 2:
			/* a fragmented message counts once, at its first frame */
			if ((op != 0 || cfg.mode == MODE_SIGNALR) &&
			    conn_message(w, c, (const char *)f + h, plen) != 0)
				return -1;
			break;
		case 8:
			conn_end(w, c, "WebSocket close from the server", 1);
			return -1;
		case 9:
			if (conn_send_frame(w, c, 10, f + h, plen) != 0)
				return -1;
			break;
		case 10:
			break;
		default:
			conn_end(w, c, "unknown WebSocket opcode", 1);
			return -1;
		}
		off += h + plen;
	}
	return (long)off;
}

/* An HTTP answer in rbuf: status and where the body starts; 0 when incomplete. */
static int http_head(struct conn *c, int *status, size_t *body_off, long *clen)
{
	const char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4), *cl;

	if (!end)
		return 0;
	if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.1 ", 9) != 0)
		return -1;
	*status = (c->rbuf[9] - '0') * 100 + (c->rbuf[10] - '0') * 10 + (c->rbuf[11] - '0');
	*body_off = (size_t)(end - c->rbuf) + 4;
	cl = memmem(c->rbuf, *body_off, "\r\nContent-Length:", 17);
	if (!cl)
		cl = memmem(c->rbuf, *body_off, "\r\ncontent-length:", 17);
	*clen = cl ? strtol(cl + 17, NULL, 10) : 0;
	return 1;
}

static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
}

/* Handles the HTTP stage answers; 1 when more bytes are needed, 0 to go on, -1 ended. */
static int conn_http(struct worker *w, struct conn *c)
{
	int status = 0, r;
	size_t body = 0;
	long clen = 0;
	char tok[64];

	r = http_head(c, &status, &body, &clen);
	if (r == 0)
		return c->rlen == RBUF ? (conn_end(w, c, "HTTP header too long", 1), -1) : 1;
	if (r < 0) {
		conn_end(w, c, "not an HTTP/1.1 answer", 1);
		return -1;
	}
	if (c->st == CS_NEGOTIATE) {
		if (clen < 0 || body + (size_t)clen > RBUF) {
			conn_end(w, c, "negotiate answer too long", 1);
			return -1;
		}
		if (c->rlen < body + (size_t)clen)
			return 1;
		if (status != 200 || json_str_field(c->rbuf + body, (size_t)clen, "connectionToken", tok,
						    sizeof(tok)) != 0) {
			char why[128];

			snprintf(why, sizeof(why), "negotiate answered %d without a connectionToken", status);
			conn_end(w, c, why, 1);
			return -1;
		}
		snprintf(c->ctoken, sizeof(c->ctoken), "%s", tok);
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
		c->rlen = 0;
		w->pending--;	/* conn_start counts it again */
		return conn_start(w, c) == 0 ? 1 : -1;
	}
	if (status != 101) {
		char why[64];

		snprintf(why, sizeof(why), "upgrade answered %d", status);
		conn_end(w, c, why, 1);
		return -1;
	}
	conn_consume(c, body);
	if (cfg.mode == MODE_SIGNALR) {
		static const char hs[] = "{\"protocol\":\"json\",\"version\":1}\x1e";

		c->st = CS_HANDSHAKE;
		return conn_send_frame(w, c, 1, hs, sizeof(hs) - 1) == 0 ? 0 : -1;
	}
	conn_ready(w, c);
	return 0;
}

static void conn_readable(struct worker *w, struct conn *c)
{
	for (int rounds = 0; rounds < 16 && c->st != CS_DONE; rounds++) {
		ssize_t n = read(c->fd, c->rbuf + c->rlen, RBUF - c->rlen);
		long used;

		if (n == 0) {
			conn_end(w, c, "the server closed the connection", 1);
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_end(w, c, strerror(errno), 1);
			return;
		}
		c->rlen += (size_t)n;
		while ((c->st == CS_NEGOTIATE || c->st == CS_UPGRADE) && c->rlen) {
			int r = conn_http(w, c);

			if (r < 0)
				return;
			if (r > 0)
				break;
		}
		if (c->st == CS_CONNECTING)
			return;	/* negotiated: the WebSocket's own socket is connecting */
		if (c->st == CS_NEGOTIATE || c->st == CS_UPGRADE)
			continue;
		used = conn_frames(w, c);
		if (used < 0)
			return;
		conn_consume(c, (size_t)used);
		if ((size_t)n < RBUF / 2)
			return;	/* the socket is likely drained */
	}
}

/* ---- connecting ---- */

static int conn_start(struct worker *w, struct conn *c)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct epoll_event e = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_end(w, c, strerror(errno), 1);
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	src.sin_addr.s_addr = htonl(cfg.src_base + (uint32_t)(c->idx / (unsigned long long)cfg.per_source));
	if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
		conn_end(w, c, "bind to the source address failed", 1);
		return -1;
	}
	if (connect(c->fd, (struct sockaddr *)&cfg.dst, sizeof(cfg.dst)) != 0 && errno != EINPROGRESS) {
		conn_end(w, c, strerror(errno), 1);
		return -1;
	}
	c->st = CS_CONNECTING;
	c->events = e.events;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &e) != 0) {
		conn_end(w, c, "epoll_ctl failed", 1);
		return -1;
	}
	w->pending++;
	return 0;
}

/* Starts as many connections as the rate allows now. */
static void worker_ramp(struct worker *w)
{
	double per_us = cfg.connect_rate / (double)cfg.threads / 1e6;
	size_t allowed = (size_t)((double)elapsed_us() * per_us) + 1;

	while (w->started < w->nconns && w->started < allowed &&
	       w->pending < (size_t)(cfg.max_pending / cfg.threads + 1)) {
		conn_start(w, &w->conns[w->started]);
		w->started++;
	}
}

/* SignalR Pings keep idle connections inside the hub's client timeout. */
static void worker_pings(struct worker *w)
{
	static const char ping[] = "{\"type\":6}\x1e";
	int64_t now = bench_mono_us();

	if (cfg.mode != MODE_SIGNALR || now < w->next_ping_us)
		return;
	w->next_ping_us = now + 1000000;
	for (size_t i = 0; i < w->started; i++) {
		struct conn *c = &w->conns[i];

		if (c->st == CS_READY && now - c->last_send_us > PING_EVERY_US)
			conn_send_frame(w, c, 1, ping, sizeof(ping) - 1);
	}
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[256];
	int64_t limit = (int64_t)(cfg.duration * 1e6);

	while (!atomic_load(&stop_flag)) {
		int n;

		worker_ramp(w);
		n = epoll_wait(w->epfd, ev, 256, w->started < w->nconns ? 2 : 50);
		for (int i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;

			if (c->st == CS_DONE)
				continue;
			if (c->st == CS_CONNECTING) {
				conn_connected(w, c);
				continue;
			}
			if (ev[i].events & EPOLLOUT && conn_flush(w, c) != 0)
				continue;
			if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_readable(w, c);
		}
		worker_pings(w);
		if (elapsed_us() >= limit ||
		    (cfg.expect > 0 && atomic_load_explicit(&total_deliveries, memory_order_relaxed) >= cfg.expect))
			atomic_store(&stop_flag, 1);
	}
	return NULL;
}

/* ---- set-up ---- */

static int parse_url(void)
{
	const char *u = cfg.url, *hp, *slash, *colon;
	char host[48];
	long port = 80;

	if (strncmp(u, "ws://", 5) != 0) {
		fprintf(stderr, PROG ": --url: expected ws://HOST:PORT/PATH, got \"%s\"\n", u);
		return -1;
	}
	hp = u + 5;
	slash = strchr(hp, '/');
	if (!slash)
		slash = hp + strlen(hp);
	colon = memchr(hp, ':', (size_t)(slash - hp));
	if ((size_t)((colon ? colon : slash) - hp) >= sizeof(host)) {
		fprintf(stderr, PROG ": --url: host too long\n");
		return -1;
	}
	snprintf(host, sizeof(host), "%.*s", (int)((colon ? colon : slash) - hp), hp);
	if (colon) {
		char *end;

		port = strtol(colon + 1, &end, 10);
		if (end != slash || port < 1 || port > 65535) {
			fprintf(stderr, PROG ": --url: bad port\n");
			return -1;
		}
	}
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	cfg.dst.sin_family = AF_INET;
	cfg.dst.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &cfg.dst.sin_addr) != 1) {
		fprintf(stderr, PROG ": --url: the host must be an IPv4 address, got \"%s\"\n", host);
		return -1;
	}
	snprintf(cfg.host, sizeof(cfg.host), "%s:%ld", host, port);
	snprintf(cfg.path, sizeof(cfg.path), "%s", *slash ? slash : "/");
	return 0;
}

/* The hub name: --hub, else hub= of the URL's query, else "telemetry". */
static void pick_hub(void)
{
	static char hub[130];
	const char *q = strstr(cfg.path, "hub=");

	if (cfg.hub)
		return;
	if (q) {
		snprintf(hub, sizeof(hub), "%.*s", (int)strcspn(q + 4, "&"), q + 4);
		cfg.hub = hub;
	} else {
		cfg.hub = "telemetry";
	}
}

/* One blocking request to the server: POST /api/negotiate for the access token. */
static int negotiate_token(void)
{
	char req[512], resp[8192];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), n;
	struct timeval tv = { 10, 0 };
	const char *body;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&cfg.dst, sizeof(cfg.dst)) != 0) {
		fprintf(stderr, PROG ": cannot connect to %s: %s\n", cfg.host, strerror(errno));
		close(fd);
		return -1;
	}
	n = snprintf(req, sizeof(req), "POST /api/negotiate?hub=%s HTTP/1.1\r\nHost: %s\r\n"
		     "Content-Length: 0\r\nConnection: close\r\n\r\n", cfg.hub, cfg.host);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	resp[got] = '\0';
	body = strstr(resp, "\r\n\r\n");
	if (got < 12 || strncmp(resp + 9, "200", 3) != 0 || !body ||
	    json_str_field(body, strlen(body), "accessToken", cfg.token, sizeof(cfg.token)) != 0) {
		fprintf(stderr, PROG ": POST /api/negotiate?hub=%s at %s failed: %.200s\n", cfg.hub,
			cfg.host, got ? resp : "no answer");
		return -1;
	}
	return 0;
}

static int raise_nofile(void)
{
	struct rlimit rl;
	unsigned long long need = (unsigned long long)cfg.connections + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < need) {
		fprintf(stderr, PROG ": RLIMIT_NOFILE is %llu (hard limit %llu), too low for %lld connections: "
				"raise the hard limit (ulimit -Hn, or LimitNOFILE=) to at least %llu\n",
			(unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, cfg.connections, need);
		return -1;
	}
	return 0;
}

/* Fills cfg from the flags: 0, 1 after --help, or -1 after a message. */
static int parse_args(int argc, char **argv)
{
	static char *mode = "signalr";
	const struct tw_opt opts[] = {
		BENCH_STR("url", &cfg.url, "ws://HOST:PORT/PATH", "where to connect (required)"),
		BENCH_STR("mode", &mode, "signalr|raw", "SignalR JSON over the hub's negotiate, "
			  "or plain WebSocket"),
		BENCH_INT("connections", &cfg.connections, 1, 10000000, "N", "connections"),
		BENCH_STR("group", &cfg.group, "G", "every connection joins G"),
		BENCH_INT("groups", &cfg.groups, 1, 1000000, "K", "connection i joins g(i % K)"),
		BENCH_STR("hub", &cfg.hub, "H", "the hub (default: hub= of the URL, else telemetry)"),
		BENCH_NUM("duration", &cfg.duration, 0.1, 86400, "S", "stop after S seconds"),
		BENCH_INT("expect", &cfg.expect, 1, INT64_MAX / 2, "N", "stop after N deliveries"),
		BENCH_NUM("connect-rate", &cfg.connect_rate, 1, 1e7, "R", "new connections per second"),
		BENCH_INT("max-pending", &cfg.max_pending, 1, 100000, "N",
			  "connections being set up at once"),
		BENCH_STR("ready-file", &cfg.ready_file, "F", "written once every connection settled"),
		BENCH_INT("threads", &cfg.threads, 1, MAX_THREADS, "T", "epoll threads"),
		BENCH_STR("source-base", &cfg.source_base, "127.1.0.1",
			  "first loopback source address"),
		BENCH_INT("per-source", &cfg.per_source, 1, 60000, "N", "connections per source address"),
		{ "verbose", NULL, NULL, TW_OPT_BOOL, &cfg.verbose, 0, 0, NULL, "log every failure" },
	};
	int rc = bench_opts(PROG,
		"Holds thousands of WebSocket connections, counts the deliveries and measures\n"
		"latency from the send time each message carries (see the top of ws_swarm.c).",
		opts, sizeof(opts) / sizeof(*opts), argc, argv);

	if (rc)
		return rc;
	if (strcmp(mode, "signalr") != 0 && strcmp(mode, "raw") != 0) {
		fprintf(stderr, PROG ": --mode: expected signalr or raw, got \"%s\"\n", mode);
		return -1;
	}
	cfg.mode = mode[0] == 's' ? MODE_SIGNALR : MODE_RAW;
	if (!cfg.url) {
		fprintf(stderr, PROG ": --url is required (see --help)\n");
		return -1;
	}
	return 0;
}

static int setup(void)
{
	struct in_addr a;

	if (parse_url() != 0)
		return -1;
	if (inet_pton(AF_INET, cfg.source_base, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
		fprintf(stderr, PROG ": --source-base: expected an address in 127.0.0.0/8\n");
		return -1;
	}
	cfg.src_base = ntohl(a.s_addr);
	if (((cfg.src_base & 0xffffff) + (uint32_t)(cfg.connections / cfg.per_source)) > 0xfffffe) {
		fprintf(stderr, PROG ": too many connections for the source addresses above --source-base\n");
		return -1;
	}
	pick_hub();
	if (raise_nofile() != 0)
		return -1;
	if (cfg.mode == MODE_SIGNALR && negotiate_token() != 0)
		return -1;
	for (long long t = 0; t < cfg.threads; t++) {
		struct worker *w = &workers[t];
		size_t n = (size_t)(cfg.connections / cfg.threads + (t < cfg.connections % cfg.threads));

		w->id = (int)t;
		w->mask_state = 0x9e3779b97f4a7c15ull ^ (uint64_t)(t + 1) * 0x100000001b3ull;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->conns = calloc(n ? n : 1, sizeof(*w->conns));
		if (w->epfd < 0 || !w->conns) {
			fprintf(stderr, PROG ": out of memory for %zu connections\n", n);
			return -1;
		}
		w->nconns = n;
		for (size_t i = 0; i < n; i++) {
			w->conns[i].fd = -1;
			w->conns[i].idx = (unsigned)(i * (size_t)cfg.threads + (size_t)t);
		}
	}
	return 0;
}

static void write_ready(long long connected, long long failed)
{
	FILE *f;

	if (!cfg.ready_file)
		return;
	f = fopen(cfg.ready_file, "w");
	if (!f) {
		fprintf(stderr, PROG ": cannot write %s: %s\n", cfg.ready_file, strerror(errno));
		return;
	}
	fprintf(f, "ready connected=%lld failed=%lld\n", connected, failed);
	fclose(f);
}

static void sum_counts(long long *connected, long long *failed)
{
	*connected = *failed = 0;
	for (long long t = 0; t < cfg.threads; t++) {
		*connected += (long long)__atomic_load_n(&workers[t].connected, __ATOMIC_RELAXED);
		*failed += (long long)__atomic_load_n(&workers[t].failed, __ATOMIC_RELAXED);
	}
}

/* Main thread: progress lines and the ready file while the workers run. */
static void supervise(void)
{
	int ready = 0;
	int64_t next_report = 1000000;

	while (!atomic_load(&stop_flag)) {
		long long connected, failed;

		bench_sleep_us(20000);
		sum_counts(&connected, &failed);
		if (!ready && atomic_load(&settled) >= cfg.connections) {
			ready = 1;
			cpu_at_ready = bench_process_cpu_us();
			fprintf(stderr, PROG ": %lld connected, %lld failed after %.2f s\n", connected, failed,
				(double)elapsed_us() / 1e6);
			write_ready(connected, failed);
		}
		if (elapsed_us() >= next_report) {
			next_report += cfg.verbose ? 1000000 : 5000000;
			fprintf(stderr, PROG ": %.0f s: connected %lld, failed %lld, deliveries %lld\n",
				(double)elapsed_us() / 1e6, connected, failed,
				(long long)atomic_load(&total_deliveries));
		}
	}
}

static void report(void)
{
	struct hist *h = calloc(1, sizeof(*h));
	long long connected = 0, failed = 0, deliveries = 0, errors = 0, closed = 0;
	int64_t first = INT64_MAX, last = 0, cpu = bench_process_cpu_us();
	double rate;

	if (!h)
		exit(1);
	for (long long t = 0; t < cfg.threads; t++) {
		struct worker *w = &workers[t];

		connected += (long long)w->connected;
		failed += (long long)w->failed;
		deliveries += (long long)w->deliveries;
		errors += (long long)w->errors;
		closed += (long long)w->closed;
		if (w->first_us && w->first_us < first)
			first = w->first_us;
		if (w->last_us > last)
			last = w->last_us;
		for (unsigned i = 0; i < HIST_BUCKETS; i++)
			h->b[i] += w->h.b[i];
		h->n += w->h.n;
		if (w->h.max > h->max)
			h->max = w->h.max;
	}
	/* never started (stopped early) counts as failed */
	failed = cfg.connections - connected;
	rate = deliveries > 1 && last > first ? (double)deliveries * 1e6 / (double)(last - first) : 0;
	fprintf(stderr, PROG ": %lld/%lld connected, %lld deliveries (%.0f/s), latency p50 %.0f us p99 %.0f us "
			"max %llu us, %lld errors, %lld closed\n", connected, cfg.connections, deliveries, rate,
		hist_pct(h, 0.5), hist_pct(h, 0.99), (unsigned long long)h->max, errors, closed);
	printf("swarm connections=%lld connected=%lld failed=%lld deliveries=%lld rate=%.0f p50_us=%.0f "
	       "p90_us=%.0f p99_us=%.0f max_us=%llu samples=%llu errors=%lld closed=%lld elapsed_s=%.3f "
	       "cpu_us=%lld\n",
	       cfg.connections, connected, failed, deliveries, rate, hist_pct(h, 0.5), hist_pct(h, 0.9),
	       hist_pct(h, 0.99), (unsigned long long)h->max, (unsigned long long)h->n, errors, closed,
	       (double)elapsed_us() / 1e6, (long long)(cpu - cpu_at_ready));
	fflush(stdout);
	free(h);
	if (failed || closed || (cfg.expect > 0 && deliveries < cfg.expect))
		exit(1);
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop_flag, 1);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int rc;

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	start_mono = bench_mono_us();
	rc = parse_args(argc, argv);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (setup() != 0)
		return 1;
	for (long long t = 0; t < cfg.threads; t++) {
		if (pthread_create(&workers[t].thread, NULL, worker_run, &workers[t]) != 0) {
			fprintf(stderr, PROG ": cannot start a thread\n");
			return 1;
		}
	}
	supervise();
	for (long long t = 0; t < cfg.threads; t++)
		pthread_join(workers[t].thread, NULL);
	report();
	return 0;
}
