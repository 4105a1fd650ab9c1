/* fanout_send.c -- fan-out sender: timestamped 200-byte messages over HTTP POST, to the hub's REST API or to nchan
 *
 *   fanout_send --url http://127.0.0.1:8080/api/v1/hubs/bench[/groups/{group}] --format signalr
 *               --access-key KEY --messages M [--rate R] [--groups K] [--conns C] [--size B]
 *   fanout_send --url http://127.0.0.1:9000/pub/{group} --format raw --messages M ...
 *
 * Each message is a JSON object of exactly --size bytes (default 200):
 *   {"t":1795528000123456,"s":17,"p":"xxxx..."}
 * "t" is the send time in microseconds since the Unix epoch (CLOCK_REALTIME),
 * taken just before the request is written: ws_swarm turns it into latency.
 * "s" is the message's sequence number, "p" pads to the size.
 *
 * --format signalr sends it as the one argument of a REST API send,
 * {"target":"m","arguments":[MESSAGE]}, with a Bearer token signed with
 * --access-key for the request URL (the hub's REST API v1: the same path an
 * application server's SDK takes; the hub answers 202 once the message is
 * in its loop's inbox). --format raw POSTs the message itself (nchan's
 * publisher location). "{group}" in the URL becomes g0..gK-1 in turn
 * (--groups K), so group sends spread evenly.
 *
 * Requests go over --conns kept-alive connections, one request in flight on
 * each; --rate paces the total (messages per second, 0 = as fast as the
 * server answers). Stops after --messages or --timeout seconds.
 *
 * Output: one line on stdout,
 *   send messages=M sent=S ok=K failed=F rate=R elapsed_s=E
 * and exit status 0 only when every message got a 2xx answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "telewire/error.h"
#include "bench_util.h"

#define PROG "fanout_send"
#define MAX_CONNS 64
#define MAX_GROUPS 100000
#define RBUF 8192

struct hconn {
	int fd;
	int busy;		/* a request is in flight */
	char out[4096];
	size_t olen, ooff;
	char in[RBUF];
	size_t ilen;
};

static struct {
	char *url, *access_key, *format;
	long long messages, groups, conns, size;
	double rate, timeout;
	struct sockaddr_in dst;
	char host[80], path[512];
	int raw;
} cfg = { .format = "signalr", .messages = 100, .conns = 1, .size = 200, .timeout = 60 };

static struct hconn conns[MAX_CONNS];
static char **tokens;		/* per group (or one), signalr only */
static long long sent, ok, failed;

/* The request path for message seq: {group} replaced. */
static void msg_path(long long seq, char *out, size_t n)
{
	const char *g = strstr(cfg.path, "{group}");

	if (g)
		snprintf(out, n, "%.*sg%lld%s", (int)(g - cfg.path), cfg.path,
			 cfg.groups > 0 ? seq % cfg.groups : 0, g + 7);
	else
		snprintf(out, n, "%s", cfg.path);
}

/* A Bearer token for each distinct path: aud is the URL without its query. */
static int make_tokens(void)
{
	long long n = strstr(cfg.path, "{group}") && cfg.groups > 0 ? cfg.groups : 1;

	tokens = calloc((size_t)n, sizeof(*tokens));
	if (!tokens)
		return -1;
	for (long long i = 0; i < n; i++) {
		char path[600], aud[700];

		msg_path(i, path, sizeof(path));
		path[strcspn(path, "?")] = '\0';
		snprintf(aud, sizeof(aud), "http://%s%s", cfg.host, path);
		if (tw_jwt_issue(cfg.access_key, strlen(cfg.access_key), aud, "fanout-send", NULL, 0,
				 bench_wall_us() / 1000000, 24 * 3600, &tokens[i]) != TW_OK) {
			fprintf(stderr, PROG ": cannot sign a token for %s\n", aud);
			return -1;
		}
	}
	return 0;
}

/* The message of exactly cfg.size bytes into out; its length. */
static size_t make_message(long long seq, char *out)
{
	int n = snprintf(out, (size_t)cfg.size + 1, "{\"t\":%lld,\"s\":%lld,\"p\":\"",
			 (long long)bench_wall_us(), seq);
	long long pad = cfg.size - n - 2;

	for (long long i = 0; i < pad; i++)
		out[n + i] = (char)('a' + (seq + i) % 26);
	memcpy(out + n + pad, "\"}", 2);
	return (size_t)cfg.size;
}

static int conn_open(struct hconn *c)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&cfg.dst, sizeof(cfg.dst)) != 0) {
		fprintf(stderr, PROG ": cannot connect to %s: %s\n", cfg.host, strerror(errno));
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* Builds and writes the request for message seq (blocking write: requests are small). */
static int conn_request(struct hconn *c, long long seq)
{
	char path[600], msg[4096], body[4200];
	size_t mlen;
	int blen, n;

	msg_path(seq, path, sizeof(path));
	mlen = make_message(seq, msg);
	if (cfg.raw)
		blen = snprintf(body, sizeof(body), "%.*s", (int)mlen, msg);
	else
		blen = snprintf(body, sizeof(body), "{\"target\":\"m\",\"arguments\":[%.*s]}", (int)mlen, msg);
	if (cfg.raw)
		n = snprintf(c->out, sizeof(c->out), "POST %s HTTP/1.1\r\nHost: %s\r\n"
			     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, cfg.host,
			     blen, body);
	else
		n = snprintf(c->out, sizeof(c->out), "POST %s HTTP/1.1\r\nHost: %s\r\n"
			     "Authorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			     path, cfg.host, tokens[cfg.groups > 0 && strstr(cfg.path, "{group}") ? seq % cfg.groups : 0],
			     blen, body);
	if (n < 0 || (size_t)n >= sizeof(c->out)) {
		fprintf(stderr, PROG ": request too long\n");
		return -1;
	}
	c->olen = (size_t)n;
	for (c->ooff = 0; c->ooff < c->olen;) {
		ssize_t w = write(c->fd, c->out + c->ooff, c->olen - c->ooff);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, PROG ": write: %s\n", strerror(errno));
			return -1;
		}
		c->ooff += (size_t)w;
	}
	c->busy = 1;
	sent++;
	return 0;
}

/* Reads the answer; 1 when complete (counted), 0 when more is needed, -1 on error. */
static int conn_answer(struct hconn *c)
{
	ssize_t r = read(c->fd, c->in + c->ilen, sizeof(c->in) - c->ilen);
	const char *end, *cl;
	size_t head;
	long clen = 0;
	int status;

	if (r <= 0) {
		fprintf(stderr, PROG ": the server closed the connection\n");
		return -1;
	}
	c->ilen += (size_t)r;
	end = memmem(c->in, c->ilen, "\r\n\r\n", 4);
	if (!end)
		return c->ilen < sizeof(c->in) ? 0 : -1;
	head = (size_t)(end - c->in) + 4;
	cl = memmem(c->in, head, "Content-Length:", 15);
	if (!cl)
		cl = memmem(c->in, head, "content-length:", 15);
	if (cl)
		clen = strtol(cl + 15, NULL, 10);
	if (clen < 0 || head + (size_t)clen > sizeof(c->in))
		return -1;
	if (c->ilen < head + (size_t)clen)
		return 0;
	status = c->ilen > 12 ? (c->in[9] - '0') * 100 + (c->in[10] - '0') * 10 + (c->in[11] - '0') : 0;
	if (status >= 200 && status < 300) {
		ok++;
	} else {
		if (failed++ < 3)
			fprintf(stderr, PROG ": answer %d: %.*s\n", status, (int)((size_t)clen < 200 ? clen : 200),
				c->in + head);
	}
	memmove(c->in, c->in + head + clen, c->ilen - head - (size_t)clen);
	c->ilen -= head + (size_t)clen;
	c->busy = 0;
	return 1;
}

static int parse_url(void)
{
	const char *hp, *slash, *colon;
	char host[48];
	long port = 80;

	if (strncmp(cfg.url, "http://", 7) != 0) {
		fprintf(stderr, PROG ": --url: expected http://HOST:PORT/PATH\n");
		return -1;
	}
	hp = cfg.url + 7;
	slash = strchr(hp, '/');
	if (!slash)
		slash = hp + strlen(hp);
	colon = memchr(hp, ':', (size_t)(slash - hp));
	if ((size_t)((colon ? colon : slash) - hp) >= sizeof(host))
		return -1;
	snprintf(host, sizeof(host), "%.*s", (int)((colon ? colon : slash) - hp), hp);
	if (colon)
		port = strtol(colon + 1, NULL, 10);
	cfg.dst.sin_family = AF_INET;
	cfg.dst.sin_port = htons((uint16_t)port);
	if (port < 1 || port > 65535 || inet_pton(AF_INET, host, &cfg.dst.sin_addr) != 1) {
		fprintf(stderr, PROG ": --url: expected an IPv4 address and a port\n");
		return -1;
	}
	snprintf(cfg.host, sizeof(cfg.host), "%s:%ld", host, port);
	snprintf(cfg.path, sizeof(cfg.path), "%s", *slash ? slash : "/");
	return 0;
}

/* Fills cfg from the flags: 0, 1 after --help, or -1 after a message. */
static int parse_args(int argc, char **argv)
{
	const struct tw_opt opts[] = {
		BENCH_STR("url", &cfg.url, "http://HOST:PORT/PATH", "where to POST (required)"),
		BENCH_STR("format", &cfg.format, "signalr|raw",
			  "a REST API send of the hub, or the message itself (nchan)"),
		BENCH_STR("access-key", &cfg.access_key, "KEY", "the hub's key, for --format signalr"),
		BENCH_INT("messages", &cfg.messages, 1, 1000000000, "M", "messages to send"),
		BENCH_NUM("rate", &cfg.rate, 0, 1e9, "R", "messages per second in all; 0: flat out"),
		BENCH_INT("groups", &cfg.groups, 1, MAX_GROUPS, "K", "{group} in the URL is g0..gK-1"),
		BENCH_INT("conns", &cfg.conns, 1, MAX_CONNS, "C", "kept-alive connections"),
		BENCH_INT("size", &cfg.size, 64, 4000, "B", "bytes per message"),
		BENCH_NUM("timeout", &cfg.timeout, 0.1, 86400, "S", "stop after S seconds"),
	};
	int rc = bench_opts(PROG,
		"Sends timestamped messages over HTTP POST, to the hub's REST API or to nchan\n"
		"(see the top of fanout_send.c).", opts, sizeof(opts) / sizeof(*opts), argc, argv);

	if (rc)
		return rc;
	if (!cfg.url || (strcmp(cfg.format, "signalr") != 0 && strcmp(cfg.format, "raw") != 0)) {
		fprintf(stderr, PROG ": --url is required and --format is signalr or raw (see --help)\n");
		return -1;
	}
	cfg.raw = strcmp(cfg.format, "raw") == 0;
	if (!cfg.raw && !cfg.access_key) {
		fprintf(stderr, PROG ": --format signalr needs --access-key (the hub's)\n");
		return -1;
	}
	return 0;
}

/* Sends until done; the main loop of one thread over cfg.conns sockets. */
static void run(int64_t t0)
{
	struct pollfd pf[MAX_CONNS];
	int64_t deadline = t0 + (int64_t)(cfg.timeout * 1e6);

	while ((ok + failed < cfg.messages) && bench_mono_us() < deadline) {
		int64_t now = bench_mono_us();
		int inflight = 0;

		for (long long i = 0; i < cfg.conns; i++) {
			struct hconn *c = &conns[i];
			int paced = cfg.rate > 0 && (double)sent >= (double)(now - t0) * cfg.rate / 1e6;

			if (!c->busy && sent < cfg.messages && !paced && conn_request(c, sent) != 0)
				return;
			pf[i].fd = c->fd;
			pf[i].events = POLLIN;
			inflight += c->busy;
		}
		if (poll(pf, (nfds_t)cfg.conns, inflight ? 100 : 1) < 0 && errno != EINTR)
			return;
		for (long long i = 0; i < cfg.conns; i++)
			if (pf[i].revents && conn_answer(&conns[i]) < 0)
				return;
	}
}

int main(int argc, char **argv)
{
	int64_t t0;
	double el;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	rc = parse_args(argc, argv);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (parse_url() != 0 || (!cfg.raw && make_tokens() != 0))
		return 1;
	for (long long i = 0; i < cfg.conns; i++)
		if (conn_open(&conns[i]) != 0)
			return 1;
	t0 = bench_mono_us();
	run(t0);
	el = (double)(bench_mono_us() - t0) / 1e6;
	printf("send messages=%lld sent=%lld ok=%lld failed=%lld rate=%.0f elapsed_s=%.3f\n", cfg.messages,
	       sent, ok, failed, el > 0 ? (double)ok / el : 0, el);
	fprintf(stderr, PROG ": %lld of %lld messages accepted in %.3f s\n", ok, cfg.messages, el);
	return ok == cfg.messages && failed == 0 ? 0 : 1;
}
