/* http.c -- libmicrohttpd routes: /api/negotiate, /client/negotiate, /client/ upgrade, health, CORS, static */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/log.h"
#include "telewire/metrics.h"
#include "auth.h"
#include "http.h"
#include "hub.h"
#include "history_api.h"
#include "rest_api.h"
#include "transport_http.h"
#include "static.h"

#define HTTP_MAX_BODY TW_REST_MAX_BODY
#define HTTP_TOKEN_TTL_S 3600
#define HTTP_JWT_SKEW_S 60
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct tw_http {
	struct MHD_Daemon *d;
	struct tw_hub *hub;
	char web_root[PATH_MAX];
	char listen[300];	/* host:port, used when a request has no Host */
	struct tw_http_config cfg;
	struct tw_rest_config rest;
};

/* Per request state, kept in MHD's req_cls. */
struct http_req {
	struct tw_buf body;	/* the request body, up to HTTP_MAX_BODY */
	int body_too_big;	/* more came and was dropped */
	char *claimed_token;	/* a connection token claimed for an upgrade */
	char *posting_token;	/* POST /client/: the connection whose POST slot this holds */
	int post_rc;		/* what tw_hub_post_begin said */
	struct hub_stream *stream;	/* a long poll's stream (a reference) */
	struct hub_poll poll;
	int upgraded;
};

/* ---- responses ---- */

static void http__cors(struct MHD_Connection *con, struct MHD_Response *r)
{
	const char *origin = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Origin");

	if (!origin)
		return;
	MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
	MHD_add_response_header(r, "Access-Control-Allow-Credentials", "true");
	MHD_add_response_header(r, "Vary", "Origin");
}

static enum MHD_Result http__queue(struct MHD_Connection *con, unsigned status,
				   struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	http__cors(con, r);
	ret = MHD_queue_response(con, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A JSON response from a value (consumed); NULL when out of memory. */
static struct MHD_Response *http__json_response(json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	struct MHD_Response *r;

	json_decref(v);
	if (!text)
		return NULL;
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return NULL;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	return r;
}

/* Sends a JSON value (consumed). */
static enum MHD_Result http__json(struct MHD_Connection *con, unsigned status, json_t *v)
{
	struct MHD_Response *r = http__json_response(v);

	return r ? http__queue(con, status, r) : MHD_NO;
}

static enum MHD_Result http__error(struct MHD_Connection *con, unsigned status, const char *msg)
{
	return http__json(con, status, json_pack("{s:s}", "error", msg));
}

static enum MHD_Result http__unauthorized(struct tw_http *s, struct MHD_Connection *con,
					  const char *why)
{
	struct MHD_Response *r;
	char msg[300];

	HUB_COUNT(s->hub, auth_failures);
	snprintf(msg, sizeof(msg), "Unauthorized: %s", why);
	r = http__json_response(json_pack("{s:s}", "error", msg));
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
	return http__queue(con, MHD_HTTP_UNAUTHORIZED, r);
}

/* ---- request helpers ---- */

static const char *http__arg(struct MHD_Connection *con, const char *name)
{
	return MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, name);
}

/* The Host header if it is a plain host[:port], else the listen address. */
static const char *http__host(struct tw_http *s, struct MHD_Connection *con)
{
	const char *host = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Host");

	if (!host || !*host || strlen(host) > 255 || strpbrk(host, " /\\\"'<>?#@%"))
		return s->listen;
	return host;
}

/* Checks ?hub=; on failure a response is queued and 0 returned. */
static int http__hub_ok(struct tw_http *s, struct MHD_Connection *con, enum MHD_Result *ret)
{
	const char *hub = http__arg(con, "hub");
	char msg[300];

	if (hub && strcasecmp(hub, s->hub->cfg.name) == 0)
		return 1;
	snprintf(msg, sizeof(msg), hub ? "Unknown hub '%.64s'." : "Query parameter 'hub' is required.",
		 hub);
	*ret = http__error(con, hub ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_REQUEST, msg);
	return 0;
}

static const char *http__bearer(struct MHD_Connection *con)
{
	const char *auth = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization");

	if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
		return auth + 7;
	return http__arg(con, "access_token");
}

/* Verifies the request's token for /client/...; on failure queues 401. */
static int http__authenticate(struct tw_http *s, struct MHD_Connection *con,
			      struct tw_jwt_claims *c, enum MHD_Result *ret)
{
	const char *key = s->hub->cfg.access_key, *tok = http__bearer(con);
	char base[300], err[200];

	if (!tok) {
		*ret = http__unauthorized(s, con, "no access token (Authorization: Bearer or access_token)");
		return 0;
	}
	if (tw_jwt_verify(tok, key, strlen(key), tw_wall_ms() / 1000, HTTP_JWT_SKEW_S, c, err,
			  sizeof(err)) != TW_OK) {
		tw_jwt_claims_free(c);
		tw_warn("http: refused a token: %s", err);
		*ret = http__unauthorized(s, con, err);
		return 0;
	}
	snprintf(base, sizeof(base), "http://%s/client", http__host(s, con));
	if (!tw_jwt_aud_ok(c, base, s->hub->cfg.name) &&
	    !(s->cfg.client_endpoint && *s->cfg.client_endpoint &&
	      snprintf(base, sizeof(base), "%s/client", s->cfg.client_endpoint) > 0 &&
	      tw_jwt_aud_ok(c, base, s->hub->cfg.name))) {
		tw_jwt_claims_free(c);
		tw_warn("http: refused a token: audience is not %s (hub %s)", base, s->hub->cfg.name);
		*ret = http__unauthorized(s, con, "token audience does not match this endpoint");
		return 0;
	}
	return 1;
}

/* ---- routes ---- */

static int http__user_id_ok(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] < 0x21 || u[i] == 0x7f)
			return 0;
	return 1;
}

/* The base URL clients use: the configured public endpoint, else the Host. */
static void http__client_base(struct tw_http *s, struct MHD_Connection *con, char *out, size_t n)
{
	if (s->cfg.client_endpoint && *s->cfg.client_endpoint)
		snprintf(out, n, "%s", s->cfg.client_endpoint);
	else
		snprintf(out, n, "http://%s", http__host(s, con));
}

/* In token mode, checks the caller's token; on failure queues 401. */
static int http__negotiate_caller(struct tw_http *s, struct MHD_Connection *con,
				  struct tw_jwt_claims *c, enum MHD_Result *ret)
{
	const char *secret = s->cfg.negotiate_secret, *tok = http__bearer(con);
	char err[200];

	if (!tok) {
		*ret = http__unauthorized(s, con, "negotiate needs a caller token (Authorization: Bearer)");
		return 0;
	}
	if (tw_jwt_verify(tok, secret, strlen(secret), tw_wall_ms() / 1000, HTTP_JWT_SKEW_S, c, err,
			  sizeof(err)) != TW_OK) {
		tw_jwt_claims_free(c);
		tw_warn("http: refused a negotiate caller token: %s", err);
		*ret = http__unauthorized(s, con, err);
		return 0;
	}
	if (!c->sub || !http__user_id_ok(c->sub)) {
		tw_jwt_claims_free(c);
		tw_warn("http: refused a negotiate caller token: no usable sub/nameid");
		*ret = http__unauthorized(s, con, "the caller token needs a sub or nameid claim "
						  "(1 to 128 printable characters)");
		return 0;
	}
	return 1;
}

/* POST /api/negotiate?hub=H[&userId=U]: the app server's part (an Azure
 * Function in Azure's setups): anonymous, or for holders of a caller token. */
static enum MHD_Result http__api_negotiate(struct tw_http *s, struct MHD_Connection *con)
{
	const char *user = http__arg(con, "userId"), *key = s->hub->cfg.access_key;
	const char *const *roles = s->cfg.anonymous_roles;
	size_t nroles = s->cfg.nanonymous_roles;
	struct tw_jwt_claims c = { 0 };
	char base[300], url[600], sub[48], *token;
	enum MHD_Result ret;
	int rc;

	if (!http__hub_ok(s, con, &ret))
		return ret;
	if (s->cfg.negotiate_secret) {
		if (!http__negotiate_caller(s, con, &c, &ret))
			return ret;
		user = c.sub;
		roles = (const char *const *)c.roles;
		nroles = c.nroles;
	} else if (user && !http__user_id_ok(user)) {
		return http__error(con, MHD_HTTP_BAD_REQUEST,
				   "userId must be 1 to 128 printable characters without spaces.");
	}
	if (!user) {
		memcpy(sub, "anon-", 5);
		if (tw_random_token(sub + 5, sizeof(sub) - 5, 12) != TW_OK)
			return http__error(con, MHD_HTTP_INTERNAL_SERVER_ERROR, "no randomness");
		user = sub;
	}
	http__client_base(s, con, base, sizeof(base));
	snprintf(url, sizeof(url), "%s/client/?hub=%s", base, s->hub->cfg.name);
	rc = tw_jwt_issue(key, strlen(key), url, user, roles, nroles, tw_wall_ms() / 1000,
			  HTTP_TOKEN_TTL_S, &token);
	tw_jwt_claims_free(&c);
	if (rc != TW_OK)
		return http__error(con, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot sign a token");
	ret = http__json(con, MHD_HTTP_OK, json_pack("{s:s, s:s}", "url", url, "accessToken", token));
	free(token);
	return ret;
}

static json_t *http__transports(const struct tw_hub_config *cfg)
{
	json_t *a = json_array();

	if (cfg->transports & HUB_WS)
		json_array_append_new(a, json_pack("{s:s, s:[s,s]}", "transport", "WebSockets",
						   "transferFormats", "Text", "Binary"));
	if (cfg->transports & HUB_SSE)
		json_array_append_new(a, json_pack("{s:s, s:[s]}", "transport", "ServerSentEvents",
						   "transferFormats", "Text"));
	if (cfg->transports & HUB_LP)
		json_array_append_new(a, json_pack("{s:s, s:[s,s]}", "transport", "LongPolling",
						   "transferFormats", "Text", "Binary"));
	return a;
}

/* POST /client/negotiate?hub=H[&negotiateVersion=1] with a Bearer token. */
static enum MHD_Result http__client_negotiate(struct tw_http *s, struct MHD_Connection *con)
{
	const char *v = http__arg(con, "negotiateVersion");
	int version1 = v && strcmp(v, "0") != 0;
	char id[HUB_ID_LEN], token[HUB_TOKEN_LEN];
	struct tw_jwt_claims c;
	enum MHD_Result ret;
	int rc;

	if (!http__hub_ok(s, con, &ret) || !http__authenticate(s, con, &c, &ret))
		return ret;
	rc = tw_hub_negotiate(s->hub, &c, !version1, id, token);
	tw_jwt_claims_free(&c);
	if (rc != TW_OK)
		return http__error(con, MHD_HTTP_INTERNAL_SERVER_ERROR, tw_strerror(rc));
	if (!version1)
		return http__json(con, MHD_HTTP_OK,
				  json_pack("{s:i, s:s, s:o}", "negotiateVersion", 0, "connectionId",
					    id, "availableTransports", http__transports(&s->hub->cfg)));
	return http__json(con, MHD_HTTP_OK,
			  json_pack("{s:i, s:s, s:s, s:o}", "negotiateVersion", 1, "connectionId", id,
				    "connectionToken", token, "availableTransports",
				    http__transports(&s->hub->cfg)));
}

/* Does a comma-separated header contain token (case-insensitive)? */
static int http__header_has(struct MHD_Connection *con, const char *name, const char *token)
{
	const char *v = MHD_lookup_connection_value(con, MHD_HEADER_KIND, name);
	size_t n = strlen(token);

	while (v && *v) {
		while (*v == ' ' || *v == ',' || *v == '\t')
			v++;
		if (strncasecmp(v, token, n) == 0 && (v[n] == '\0' || v[n] == ',' || v[n] == ' '))
			return 1;
		v = strchr(v, ',');
	}
	return 0;
}

static int http__ws_accept(const char *key, char out[32])
{
	unsigned char sha[SHA_DIGEST_LENGTH];
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "%s" WS_GUID, key);

	if (n <= 0 || (size_t)n >= sizeof(buf))
		return -1;
	SHA1((const unsigned char *)buf, (size_t)n, sha);
	EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
	return 0;
}

static void http__upgraded(void *cls, struct MHD_Connection *con, void *req_cls,
			   const char *extra_in, size_t extra_in_size, MHD_socket sock,
			   struct MHD_UpgradeResponseHandle *urh)
{
	struct tw_http *s = cls;
	struct http_req *rq = req_cls;

	rq->upgraded = 1;
	tw_hub_adopt(s->hub, rq->claimed_token, sock, urh, extra_in, extra_in_size);
}

/* Checks the RFC 6455 request headers; returns the key or NULL. */
static const char *http__ws_key(struct MHD_Connection *con)
{
	const char *key = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	const char *ver = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Sec-WebSocket-Version");

	if (!http__header_has(con, "Upgrade", "websocket") ||
	    !http__header_has(con, "Connection", "upgrade") || !ver || strcmp(ver, "13") != 0 ||
	    !key || strlen(key) != 24)
		return NULL;
	return key;
}

static enum MHD_Result http__claim_error(struct tw_http *s, struct MHD_Connection *con, int rc)
{
	if (rc == TW_ERR_NOTFOUND)
		return http__error(con, MHD_HTTP_NOT_FOUND, "No Connection with that ID.");
	if (rc == TW_ERR_EXISTS)
		return http__error(con, MHD_HTTP_CONFLICT, "Connection ID is already in use.");
	if (rc == TW_ERR_PROTOCOL)
		return http__error(con, MHD_HTTP_BAD_REQUEST, "Cannot change transports mid-connection.");
	if (rc == TW_ERR_NOMEM)
		return http__error(con, MHD_HTTP_INTERNAL_SERVER_ERROR, "Out of memory.");
	return http__unauthorized(s, con, "the token's user is not the negotiated user");
}

static enum MHD_Result http__ws_respond(struct tw_http *s, struct MHD_Connection *con,
					struct http_req *rq, const char *key, const char *id)
{
	struct MHD_Response *r;
	char accept[32];

	if (http__ws_accept(key, accept) != 0 || !(rq->claimed_token = strdup(id))) {
		tw_hub_unclaim(s->hub, id);
		return http__error(con, MHD_HTTP_BAD_REQUEST, "Bad Sec-WebSocket-Key.");
	}
	r = MHD_create_response_for_upgrade(http__upgraded, s);
	if (!r)
		return MHD_NO; /* the completion callback unclaims */
	MHD_add_response_header(r, "Upgrade", "websocket");
	MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
	return http__queue(con, MHD_HTTP_SWITCHING_PROTOCOLS, r);
}

/* Checks hub, id and token of a /client/ request; on failure queues the
 * answer and returns NULL, else the id (the connection token). */
static const char *http__client_check(struct tw_http *s, struct MHD_Connection *con,
				      struct tw_jwt_claims *c, enum MHD_Result *ret)
{
	const char *id = http__arg(con, "id");

	if (!http__hub_ok(s, con, ret))
		return NULL;
	if (!id || !*id || strlen(id) >= HUB_TOKEN_LEN) {
		*ret = http__error(con, id ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_REQUEST,
				   id ? "No Connection with that ID." : "Query parameter 'id' is required.");
		return NULL;
	}
	if (!http__authenticate(s, con, c, ret))
		return NULL;
	return id;
}

static enum MHD_Result http__transport_off(struct MHD_Connection *con, const char *name)
{
	char msg[120];

	snprintf(msg, sizeof(msg), "The %s transport is not enabled on this hub.", name);
	return http__error(con, MHD_HTTP_NOT_FOUND, msg);
}

/* Answers a long poll now, or leaves it parked (MHD_YES, no response). */
static enum MHD_Result http__poll_answer(struct MHD_Connection *con, struct http_req *rq)
{
	struct hub_poll_answer a;
	struct MHD_Response *r;

	if (!hub__lp_poll(rq->stream, con, &rq->poll, &a))
		return MHD_YES;
	r = a.body ? MHD_create_response_from_buffer(a.len, a.body, MHD_RESPMEM_MUST_FREE)
		   : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(a.body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type",
				a.binary ? "application/octet-stream" : "text/plain; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	return http__queue(con, a.status, r);
}

/* GET /client/?hub=H&id=TOKEN: a WebSocket upgrade, an event stream, or a long poll. */
static enum MHD_Result http__client_connect(struct tw_http *s, struct MHD_Connection *con,
					    struct http_req *rq)
{
	const char *key = http__ws_key(con), *id;
	const char *accept = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Accept");
	enum hub_transport t = key ? HUB_WS
			       : accept && strstr(accept, "text/event-stream") ? HUB_SSE : HUB_LP;
	struct hub_stream *st = NULL;
	struct tw_jwt_claims c;
	struct MHD_Response *r;
	enum MHD_Result ret;
	int rc, first;

	if (rq->stream) /* a parked poll, resumed */
		return http__poll_answer(con, rq);
	if (!(s->hub->cfg.transports & t))
		return http__transport_off(con, t == HUB_WS ? "WebSockets" : t == HUB_SSE
							? "ServerSentEvents" : "LongPolling");
	if (!(id = http__client_check(s, con, &c, &ret)))
		return ret;
	rc = tw_hub_claim(s->hub, id, c.sub, t, &st, &first);
	tw_jwt_claims_free(&c);
	if (rc != TW_OK)
		return http__claim_error(s, con, rc);
	if (t == HUB_WS)
		return http__ws_respond(s, con, rq, key, id);
	if (first)
		tw_hub_adopt_stream(s->hub, id, st);
	if (t == HUB_SSE) {
		r = hub__sse_response(s->hub, con, st, id);
		hub__stream_unref(st);
		return r ? http__queue(con, MHD_HTTP_OK, r) : MHD_NO;
	}
	HUB_COUNT(s->hub, polls);
	if (first) { /* the first poll starts the connection and answers at once */
		hub__stream_unref(st);
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		return r ? http__queue(con, MHD_HTTP_OK, r) : MHD_NO;
	}
	rq->stream = st;
	return http__poll_answer(con, rq);
}

/* POST /client/?hub=H&id=TOKEN: client bytes for a SSE/LP connection. */
static enum MHD_Result http__client_send(struct tw_http *s, struct MHD_Connection *con,
					 struct http_req *rq)
{
	struct tw_jwt_claims c;
	enum MHD_Result ret;
	const char *id = http__client_check(s, con, &c, &ret);
	int rc;

	if (!id)
		return ret;
	tw_jwt_claims_free(&c);
	rc = rq->posting_token && strcmp(rq->posting_token, id) == 0 ? rq->post_rc : TW_ERR_NOTFOUND;
	if (rc == TW_OK && rq->body_too_big)
		return http__error(con, MHD_HTTP_CONTENT_TOO_LARGE, "Request body is too large.");
	if (rc == TW_OK)
		rc = tw_hub_post_bytes(s->hub, id, rq->body.data, rq->body.len);
	switch (rc) {
	case TW_OK: {
		struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL,
									 MHD_RESPMEM_PERSISTENT);

		return r ? http__queue(con, MHD_HTTP_OK, r) : MHD_NO;
	}
	case TW_ERR_EXISTS:
		return http__error(con, MHD_HTTP_CONFLICT, "Another POST is in progress for this connection.");
	case TW_ERR_PROTOCOL:
		return http__error(con, MHD_HTTP_METHOD_NOT_ALLOWED,
				   "POST requests are not allowed for WebSocket connections.");
	case TW_ERR_FULL:
		return http__error(con, MHD_HTTP_SERVICE_UNAVAILABLE, "The hub is busy; try again.");
	default:
		return http__error(con, MHD_HTTP_NOT_FOUND, "No Connection with that ID.");
	}
}

/* DELETE /client/?hub=H&id=TOKEN: the client ends a SSE/LP connection. */
static enum MHD_Result http__client_delete(struct tw_http *s, struct MHD_Connection *con)
{
	struct tw_jwt_claims c;
	enum MHD_Result ret;
	const char *id = http__client_check(s, con, &c, &ret);
	struct MHD_Response *r;

	if (!id)
		return ret;
	tw_jwt_claims_free(&c);
	if (tw_hub_request_close(s->hub, id) != TW_OK)
		return http__error(con, MHD_HTTP_NOT_FOUND, "No Connection with that ID.");
	r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	return r ? http__queue(con, MHD_HTTP_ACCEPTED, r) : MHD_NO;
}

static enum MHD_Result http__health(struct tw_http *s, struct MHD_Connection *con)
{
	return http__json(con, MHD_HTTP_OK,
			  json_pack("{s:s, s:s, s:s, s:I}", "status", "ok", "version", TW_VERSION,
				    "hub", s->hub->cfg.name, "connections",
				    (json_int_t)tw_hub_connection_count(s->hub)));
}

/* GET /metrics: the hub's counters for Prometheus. */
static enum MHD_Result http__metrics(struct tw_http *s, struct MHD_Connection *con)
{
	size_t len = 0;
	char *text = tw_metrics_render(hub__metrics_fill, s->hub, &len);
	struct MHD_Response *r;

	if (!text)
		return http__error(con, MHD_HTTP_INTERNAL_SERVER_ERROR, "Out of memory.");
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	return http__queue(con, MHD_HTTP_OK, r);
}

static enum MHD_Result http__preflight(struct MHD_Connection *con)
{
	const char *hdrs = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
						       "Access-Control-Request-Headers");
	struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Access-Control-Allow-Methods",
				"GET, HEAD, POST, PUT, DELETE, OPTIONS");
	MHD_add_response_header(r, "Access-Control-Allow-Headers",
				hdrs ? hdrs : "Authorization, Content-Type, X-Requested-With, "
					      "X-SignalR-User-Agent");
	MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
	return http__queue(con, MHD_HTTP_NO_CONTENT, r);
}

static enum MHD_Result http__static(struct tw_http *s, struct MHD_Connection *con, const char *url)
{
	char rel[PATH_MAX];
	const char *ctype;
	struct MHD_Response *r;
	uint64_t size;
	int fd, rc = tw_static_sanitize(url, rel, sizeof(rel));

	if (rc == TW_OK)
		rc = tw_static_open(s->web_root, rel, &fd, &size, &ctype);
	if (rc == TW_ERR_NOTFOUND)
		return http__error(con, MHD_HTTP_NOT_FOUND, "Not found.");
	if (rc != TW_OK) {
		tw_warn("http: refused static path \"%.200s\": %s", url, tw_strerror(rc));
		return http__error(con, MHD_HTTP_FORBIDDEN, "Forbidden path.");
	}
	r = MHD_create_response_from_fd64(size, fd);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", ctype);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	return http__queue(con, MHD_HTTP_OK, r);
}

static const char *http__arg_cb(void *ctx, const char *name)
{
	return http__arg(ctx, name);
}

struct http_arg_each {
	const char *name;
	void (*fn)(void *ctx, const char *value);
	void *ctx;
};

static enum MHD_Result http__arg_each_cb(void *cls, enum MHD_ValueKind kind, const char *key,
					 const char *value)
{
	struct http_arg_each *e = cls;

	if (key && value && strcmp(key, e->name) == 0)
		e->fn(e->ctx, value);
	return MHD_YES;
}

/* Every value of a repeated query parameter (?excluded=a&excluded=b). */
static void http__arg_each(void *arg_ctx, const char *name, void (*fn)(void *ctx, const char *value),
			   void *ctx)
{
	struct http_arg_each e = { name, fn, ctx };

	MHD_get_connection_values(arg_ctx, MHD_GET_ARGUMENT_KIND, http__arg_each_cb, &e);
}

/* /api/v1/...: the REST API answers. Returns MHD_NO also when not a REST path. */
static int http__rest(struct tw_http *s, struct MHD_Connection *con, struct http_req *rq,
		      const char *url, const char *method, enum MHD_Result *ret)
{
	struct tw_rest_request req = {
		.method = method, .path = url,
		.authorization = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization"),
		.arg = http__arg_cb, .arg_each = http__arg_each, .arg_ctx = con,
		.body = rq->body.data, .body_len = rq->body.len, .body_too_big = rq->body_too_big,
	};
	struct tw_rest_response res = { 0 };
	struct MHD_Response *r;
	char base[300];

	snprintf(base, sizeof(base), "http://%s", http__host(s, con));
	req.base_url = base;
	if (!tw_rest_handle(&s->rest, &req, &res))
		return 0;
	r = res.body ? http__json_response(res.body)
		     : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (r && res.www_authenticate)
		MHD_add_response_header(r, "WWW-Authenticate", res.www_authenticate);
	if (r && res.allow)
		MHD_add_response_header(r, "Allow", res.allow);
	*ret = r ? http__queue(con, res.status, r) : MHD_NO;
	return 1;
}

static int http__is_client(const char *url)
{
	return strcmp(url, "/client/") == 0 || strcmp(url, "/client") == 0;
}

static enum MHD_Result http__route(struct tw_http *s, struct MHD_Connection *con,
				   struct http_req *rq, const char *url, const char *method)
{
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	enum MHD_Result ret;

	if (strcmp(method, "OPTIONS") == 0)
		return http__preflight(con);
	if (strstr(url, "negotiate") && tw_hub_stopping(s->hub)) /* open connections go on */
		return http__error(con, MHD_HTTP_SERVICE_UNAVAILABLE, "The hub is shutting down.");
	if (post && strcmp(url, "/api/negotiate") == 0)
		return http__api_negotiate(s, con);
	if (post && strcmp(url, "/client/negotiate") == 0)
		return http__client_negotiate(s, con);
	if (http__is_client(url) && get)
		return http__client_connect(s, con, rq);
	if (http__is_client(url) && post)
		return http__client_send(s, con, rq);
	if (http__is_client(url) && strcmp(method, "DELETE") == 0)
		return http__client_delete(s, con);
	if (get && strcmp(url, "/api/history") == 0)
		return tw_history_api_serve(s->hub, &s->cfg, con, http__host(s, con), http__queue);
	if (get && strcmp(url, "/api/v1/health") == 0)
		return http__health(s, con);
	if (get && strcmp(url, "/metrics") == 0)
		return http__metrics(s, con);
	if (http__rest(s, con, rq, url, method, &ret))
		return ret;
	if (get || strcmp(method, "HEAD") == 0)
		return http__static(s, con, url);
	return http__error(con, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed.");
}

/* Holds the connection's one POST slot from the headers on, so that a
 * second concurrent POST gets 409. */
static void http__post_begin(struct tw_http *s, struct MHD_Connection *con, struct http_req *rq)
{
	const char *id = http__arg(con, "id");

	if (!id || strlen(id) >= HUB_TOKEN_LEN || !(rq->posting_token = strdup(id)))
		return;
	rq->post_rc = tw_hub_post_begin(s->hub, id);
}

static enum MHD_Result http__handler(void *cls, struct MHD_Connection *con, const char *url,
				     const char *method, const char *version,
				     const char *upload_data, size_t *upload_data_size,
				     void **req_cls)
{
	struct http_req *rq = *req_cls;

	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		*req_cls = rq;
		if (rq && strcmp(method, "POST") == 0 && http__is_client(url))
			http__post_begin(cls, con, rq);
		return rq ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size) {
		/* Bounded: past the limit the rest is dropped and the route answers 413. */
		if (rq->body_too_big || rq->body.len + *upload_data_size > HTTP_MAX_BODY ||
		    tw_buf_append(&rq->body, upload_data, *upload_data_size) != TW_OK)
			rq->body_too_big = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return http__route(cls, con, rq, url, method);
}

static void http__completed(void *cls, struct MHD_Connection *con, void **req_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct tw_http *s = cls;
	struct http_req *rq = *req_cls;

	if (!rq)
		return;
	if (rq->claimed_token && !rq->upgraded)
		tw_hub_unclaim(s->hub, rq->claimed_token);
	if (rq->posting_token && rq->post_rc == TW_OK)
		tw_hub_post_end(s->hub, rq->posting_token);
	free(rq->posting_token);
	if (rq->stream) {
		hub__lp_done(rq->stream, con, &rq->poll);
		hub__stream_unref(rq->stream);
	}
	free(rq->claimed_token);
	tw_buf_free(&rq->body);
	free(rq);
	*req_cls = NULL;
}

static void http__log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	/* A client that leaves an event stream or a poll is ordinary. */
	if (strstr(line, "no longer available"))
		tw_debug("http: %s", line);
	else
		tw_warn("http: %s", line);
}

static int http__resolve(const struct tw_http_config *cfg, struct sockaddr_storage *ss,
			 socklen_t *len)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	char port[16];
	int rc;

	snprintf(port, sizeof(port), "%d", cfg->port);
	rc = getaddrinfo(cfg->host, port, &hints, &ai);
	if (rc != 0) {
		tw_error("http: cannot resolve listen address %s: %s", cfg->host, gai_strerror(rc));
		return TW_ERR_CONFIG;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return TW_OK;
}

int tw_http_start(struct tw_http **out, struct tw_hub *h, const struct tw_http_config *cfg)
{
	struct tw_http *s = calloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	socklen_t sslen;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_ALLOW_UPGRADE |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

	*out = NULL;
	if (!s)
		return TW_ERR_NOMEM;
	s->hub = h;
	s->cfg = *cfg;
	s->rest.hub = h;
	s->rest.access_key = h->cfg.access_key;
	s->rest.via_broker = cfg->rest_via_broker;
	s->rest.publish = cfg->publish;
	s->rest.publish_ctx = cfg->publish_ctx;
	if (!realpath(cfg->web_root, s->web_root)) {
		tw_warn("http: web folder %s: %s (static files disabled)", cfg->web_root,
			strerror(errno));
		snprintf(s->web_root, sizeof(s->web_root), "/nonexistent-telewire-web");
	}
	snprintf(s->listen, sizeof(s->listen), strchr(cfg->host, ':') ? "[%s]:%d" : "%s:%d",
		 cfg->host, cfg->port);
	if (http__resolve(cfg, &ss, &sslen) != TW_OK) {
		free(s);
		return TW_ERR_CONFIG;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* request_memory (--request-memory, 4096 by default): MHD gives each
	 * connection one pool (32 KiB by default) for its read buffer, headers and response header, and keeps
	 * it for the life of an upgraded WebSocket connection although the hub
	 * reads that socket itself: at 10,000 idle sockets the pools would be
	 * most of the hub's memory. An idle WebSocket costs about 7.4 KiB at
	 * 4096, 11.4 KiB at 8192 (scripts/lib/bench-hub.sh). The cost: a
	 * request whose headers do not fit (at 4096 about 1.5 KB of them pass,
	 * so a 3 KB cookie does not; at 8192 about 3.5 KB) or whose request
	 * line does not gets MHD's own 431 or 414, logged as a warning, and the
	 * connection is closed; no route is called. */
	s->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, http__handler, s,
				MHD_OPTION_EXTERNAL_LOGGER, http__log, s,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				cfg->request_memory ? cfg->request_memory : (size_t)4096,
				MHD_OPTION_NOTIFY_COMPLETED, http__completed, s,
				MHD_OPTION_END);
	if (!s->d) {
		tw_error("http: cannot listen on %s (address in use or not allowed?)", s->listen);
		free(s);
		return TW_ERR_IO;
	}
	*out = s;
	return TW_OK;
}

void tw_http_quiesce(struct tw_http *s)
{
	MHD_socket fd;

	if (!s)
		return;
	fd = MHD_quiesce_daemon(s->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

void tw_http_stop(struct tw_http *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	free(s);
}
