/* rest_api.c -- Azure SignalR Service data-plane REST API v1: routes, Bearer tokens, bodies, envelopes */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/log.h"
#include "auth.h"
#include "envelope.h"
#include "hub.h"
#include "protocol_json.h"
#include "rest_api.h"

#define REST_PREFIX "/api/v1/"
#define REST_JWT_SKEW_S 60
#define REST_MAX_SEGS 8
#define REST_MAX_PARAM TW_ENVELOPE_MAX_NAME	/* Azure: names of 1 to 1024 bytes */

enum rest_route {
	REST_BROADCAST,		/* hubs/{hub} */
	REST_GROUP,		/* hubs/{hub}/groups/{group} */
	REST_USER,		/* hubs/{hub}/users/{user} */
	REST_CONN,		/* hubs/{hub}/connections/{connectionId} */
	REST_GROUP_CONN,	/* .../groups/{group}/connections/{id}, .../connections/{id}/groups/{group} */
	REST_USER_GROUP,	/* .../users/{user}/groups/{group}, .../groups/{group}/users/{user} */
	REST_USER_GROUPS,	/* .../users/{user}/groups */
};

/* The methods each route answers, as the Allow header lists them. */
static const char *const rest_allow[] = {
	[REST_BROADCAST] = "POST",
	[REST_GROUP] = "POST",
	[REST_USER] = "POST",
	[REST_CONN] = "POST, DELETE, GET, HEAD",
	[REST_GROUP_CONN] = "PUT, DELETE",
	[REST_USER_GROUP] = "PUT, DELETE",
	[REST_USER_GROUPS] = "DELETE",
};

struct rest {
	const struct tw_rest_config *cfg;
	const struct tw_rest_request *req;
	struct tw_rest_response *res;
	char *buf;			/* the decoded segments, NUL-separated */
	const char *seg[REST_MAX_SEGS];
	size_t nseg;
	enum rest_route route;
	const char *hub, *group, *user, *conn;
};

/* ---- answers ---- */

/* The path for a log line: bounded, control characters replaced. */
static void rest__log_path(const struct rest *x, char *out, size_t outlen)
{
	const char *p = x->req->path ? x->req->path : "";
	size_t i = 0;

	for (; p[i] && i + 1 < outlen; i++)
		out[i] = ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) ? '?' : p[i];
	out[i] = '\0';
}

static void rest__answer(struct rest *x, unsigned status, const char *msg)
{
	x->res->status = status;
	x->res->body = msg ? json_pack("{s:s}", "error", msg) : NULL;
}

/* Refuses the request: an {"error": ...} body and one warning line. */
__attribute__((format(printf, 3, 4)))
static int rest__fail(struct rest *x, unsigned status, const char *fmt, ...)
{
	char msg[600], path[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rest__log_path(x, path, sizeof(path));
	tw_warn("rest: %s %s refused with %u: %s", x->req->method, path, status, msg);
	rest__answer(x, status, msg);
	return -1;
}

static int rest__unauthorized(struct rest *x, const char *why)
{
	HUB_COUNT(x->cfg->hub, auth_failures);
	x->res->www_authenticate = "Bearer";
	return rest__fail(x, 401, "Unauthorized: %s", why);
}

/* ---- the path ---- */

static int rest__hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX in place over n bytes; returns the new length or -1 for a
 * bad sequence. The result may hold NUL bytes: callers check. */
static long rest__unescape(char *s, size_t n)
{
	size_t r = 0, w = 0;

	while (r < n) {
		if (s[r] != '%') {
			s[w++] = s[r++];
			continue;
		}
		if (r + 2 >= n || rest__hex(s[r + 1]) < 0 || rest__hex(s[r + 2]) < 0)
			return -1;
		s[w++] = (char)(rest__hex(s[r + 1]) << 4 | rest__hex(s[r + 2]));
		r += 3;
	}
	return (long)w;
}

/* Splits what follows /api/v1/ into segments; with raw_path each segment
 * is percent-decoded here, else the server decoded the path already. A
 * single trailing slash is ignored. Returns 0, or -1 with a 400 queued. */
static int rest__split(struct rest *x)
{
	const char *raw = x->req->raw_path;
	int decode = raw && strncmp(raw, REST_PREFIX, strlen(REST_PREFIX)) == 0;
	const char *src = decode ? raw : x->req->path;
	size_t n = strlen(src + strlen(REST_PREFIX));
	char *p;

	x->buf = malloc(n + 1);
	if (!x->buf)
		return rest__fail(x, 500, "Out of memory.");
	memcpy(x->buf, src + strlen(REST_PREFIX), n + 1);
	if (n && x->buf[n - 1] == '/')
		x->buf[--n] = '\0';
	for (p = x->buf; x->nseg < REST_MAX_SEGS;) {
		char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		long dec = decode ? rest__unescape(p, len) : (long)len;

		if (dec < 0)
			return rest__fail(x, 400, "Bad percent-encoding in path segment %zu.",
					  x->nseg + 3);
		if (memchr(p, '\0', (size_t)dec))
			return rest__fail(x, 400, "Path segment %zu holds a NUL byte (%%00).",
					  x->nseg + 3);
		p[dec] = '\0';
		x->seg[x->nseg++] = p;
		if (!slash)
			return 0;
		p = slash + 1;
	}
	x->nseg = REST_MAX_SEGS + 1; /* too many: no route matches */
	return 0;
}

static int rest__is(const struct rest *x, size_t i, const char *word)
{
	return i < x->nseg && strcasecmp(x->seg[i], word) == 0;
}

/* Matches the segments to a route; returns 0 or -1 when none fits. */
static int rest__match(struct rest *x)
{
	size_t n = x->nseg;

	if (n < 2 || n > REST_MAX_SEGS || !rest__is(x, 0, "hubs"))
		return -1;
	x->hub = x->seg[1];
	if (n == 2) {
		x->route = REST_BROADCAST;
	} else if (n == 4 && rest__is(x, 2, "groups")) {
		x->route = REST_GROUP;
		x->group = x->seg[3];
	} else if (n == 4 && rest__is(x, 2, "users")) {
		x->route = REST_USER;
		x->user = x->seg[3];
	} else if (n == 4 && rest__is(x, 2, "connections")) {
		x->route = REST_CONN;
		x->conn = x->seg[3];
	} else if (n == 5 && rest__is(x, 2, "users") && rest__is(x, 4, "groups")) {
		x->route = REST_USER_GROUPS;
		x->user = x->seg[3];
	} else if (n == 6 && rest__is(x, 2, "groups") && rest__is(x, 4, "connections")) {
		x->route = REST_GROUP_CONN;
		x->group = x->seg[3];
		x->conn = x->seg[5];
	} else if (n == 6 && rest__is(x, 2, "connections") && rest__is(x, 4, "groups")) {
		x->route = REST_GROUP_CONN;
		x->conn = x->seg[3];
		x->group = x->seg[5];
	} else if (n == 6 && rest__is(x, 2, "users") && rest__is(x, 4, "groups")) {
		x->route = REST_USER_GROUP;
		x->user = x->seg[3];
		x->group = x->seg[5];
	} else if (n == 6 && rest__is(x, 2, "groups") && rest__is(x, 4, "users")) {
		x->route = REST_USER_GROUP;
		x->group = x->seg[3];
		x->user = x->seg[5];
	} else {
		return -1;
	}
	return 0;
}

static int rest__method_ok(const struct rest *x)
{
	const char *m = x->req->method, *allow = rest_allow[x->route];
	size_t n = strlen(m);

	/* allow lists whole words separated by ", " */
	for (const char *p = strstr(allow, m); p; p = strstr(p + 1, m))
		if ((p == allow || p[-1] == ' ') && (p[n] == '\0' || p[n] == ','))
			return 1;
	return 0;
}

/* Text from the URL: at most max bytes of UTF-8 without control
 * characters. Returns NULL when good, else what is wrong. */
static const char *rest__bad_text(const char *s, size_t max)
{
	size_t n = strlen(s);
	json_t *probe;

	if (n > max)
		return "is too long";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "holds a control character";
	probe = json_string(s);
	json_decref(probe);
	return probe ? NULL : "is not valid UTF-8";
}

static int rest__param(struct rest *x, const char *what, const char *s)
{
	const char *bad;

	if (!s)
		return 0;
	/* The server decoded %XX already: a '%' left alone was not a valid escape. */
	for (const char *p = strchr(s, '%'); !x->req->raw_path && p; p = strchr(p + 1, '%'))
		if (rest__hex(p[1]) < 0 || rest__hex(p[2]) < 0)
			return rest__fail(x, 400, "Bad percent-encoding in the %s of the path.", what);
	bad = *s ? rest__bad_text(s, REST_MAX_PARAM) : "is empty";
	if (bad)
		return rest__fail(x, 400, "The %s in the path %s: it must be 1 to %d bytes of UTF-8 "
				  "without control characters.", what, bad, REST_MAX_PARAM);
	return 0;
}

static int rest__params(struct rest *x)
{
	return rest__param(x, "hub name", x->hub) || rest__param(x, "group name", x->group) ||
	       rest__param(x, "user id", x->user) || rest__param(x, "connection id", x->conn) ? -1 : 0;
}

/* ---- the token ---- */

/* Does one audience, without its query and trailing slashes, equal the
 * request URL (percent-decoded, case-insensitive)? */
static int rest__aud_one(const char *aud, const char *want, size_t wantlen)
{
	size_t n = strcspn(aud, "?#");
	char *dec = malloc(n + 1);
	long len;
	int ok;

	if (!dec)
		return 0;
	memcpy(dec, aud, n);
	len = rest__unescape(dec, n);
	while (len > 0 && dec[len - 1] == '/')
		len--;
	ok = len >= 0 && (size_t)len == wantlen && !memchr(dec, '\0', (size_t)len) &&
	     strncasecmp(dec, want, wantlen) == 0;
	free(dec);
	return ok;
}

static int rest__aud_ok(struct rest *x, const struct tw_jwt_claims *c, char *want, size_t wantlen)
{
	size_t n;

	n = (size_t)snprintf(want, wantlen, "%s/%s", x->req->base_url, REST_PREFIX + 1);
	for (size_t i = 0; i < x->nseg && n < wantlen; i++)
		n += (size_t)snprintf(want + n, wantlen - n, "%s%s", i ? "/" : "", x->seg[i]);
	if (n >= wantlen)
		return 0;
	for (size_t i = 0; i < c->naud; i++)
		if (rest__aud_one(c->aud[i], want, n))
			return 1;
	return 0;
}

static int rest__authenticate(struct rest *x)
{
	const char *auth = x->req->authorization, *key = x->cfg->access_key;
	struct tw_jwt_claims c;
	char err[200], want[REST_MAX_SEGS * (REST_MAX_PARAM + 1) + 400];
	int ok;

	if (!auth || !*auth)
		return rest__unauthorized(x, "no access token (send Authorization: Bearer <JWT>)");
	if (strncasecmp(auth, "Bearer ", 7) != 0)
		return rest__unauthorized(x, "the Authorization header must use the Bearer scheme");
	for (auth += 7; *auth == ' ';)
		auth++;
	if (tw_jwt_verify(auth, key, strlen(key), tw_wall_ms() / 1000, REST_JWT_SKEW_S, &c, err,
			  sizeof(err)) != TW_OK) {
		tw_jwt_claims_free(&c);
		return rest__unauthorized(x, err);
	}
	ok = rest__aud_ok(x, &c, want, sizeof(want));
	tw_jwt_claims_free(&c);
	if (!ok) {
		snprintf(err, sizeof(err), "token audience (aud) is not the request URL %.120s%s", want,
			 strlen(want) > 120 ? "..." : "");
		return rest__unauthorized(x, err);
	}
	return 0;
}

/* ---- query parameters ---- */

/* ?ttl=: seconds, -1 when absent. */
static int rest__ttl(struct rest *x, long long *ttl)
{
	const char *s = x->req->arg ? x->req->arg(x->req->arg_ctx, "ttl") : NULL;
	char *end;

	*ttl = -1;
	if (!s)
		return 0;
	if (*s < '0' || *s > '9' || strlen(s) > 10 ||
	    (*ttl = strtoll(s, &end, 10), *end) || *ttl > TW_ENVELOPE_MAX_TTL)
		return rest__fail(x, 400, "Query parameter 'ttl' must be a whole number of seconds "
			       "from 0 to %lld.", TW_ENVELOPE_MAX_TTL);
	return 0;
}

static int rest__reason(struct rest *x, const char **reason)
{
	const char *bad;

	*reason = x->req->arg ? x->req->arg(x->req->arg_ctx, "reason") : NULL;
	if (!*reason)
		return 0;
	bad = rest__bad_text(*reason, TW_ENVELOPE_MAX_REASON);
	if (bad)
		return rest__fail(x, 400, "Query parameter 'reason' %s: it must be at most %d bytes of "
				  "UTF-8 without control characters.", bad, TW_ENVELOPE_MAX_REASON);
	return 0;
}

struct rest_excluded {
	json_t *ids;
	const char *bad;
};

static void rest__excluded_one(void *ctx, const char *value)
{
	struct rest_excluded *e = ctx;

	if (e->bad)
		return;
	if (json_array_size(e->ids) >= TW_ENVELOPE_MAX_EXCLUDED)
		e->bad = "may name at most 1000 connections";
	else if (!*value || rest__bad_text(value, REST_MAX_PARAM))
		e->bad = "must hold connection ids of 1 to 1024 bytes of UTF-8 without control characters";
	else if (json_array_append_new(e->ids, json_string(value)) != 0)
		e->bad = "cannot be stored (out of memory)";
}

/* ?excluded=ID (repeated): connections a broadcast or group send skips. */
static int rest__excluded(struct rest *x, json_t **out)
{
	struct rest_excluded e = { json_array(), NULL };
	const char *one;

	*out = NULL;
	if (!e.ids)
		return rest__fail(x, 500, "Out of memory.");
	if (x->req->arg_each) {
		x->req->arg_each(x->req->arg_ctx, "excluded", rest__excluded_one, &e);
	} else if (x->req->arg && (one = x->req->arg(x->req->arg_ctx, "excluded"))) {
		rest__excluded_one(&e, one);
	}
	if (e.bad) {
		json_decref(e.ids);
		return rest__fail(x, 400, "Query parameter 'excluded' %s.", e.bad);
	}
	if (!json_array_size(e.ids))
		json_decref(e.ids);
	else
		*out = e.ids;
	return 0;
}

/* ---- the body of a send ---- */

/* Finds a key case-insensitively (Azure's SDKs send "Target" and
 * "Arguments"); -1 when it is there twice. */
static int rest__key(json_t *o, const char *name, json_t **out)
{
	const char *k;
	json_t *v;

	*out = NULL;
	json_object_foreach(o, k, v) {
		if (strcasecmp(k, name) != 0)
			continue;
		if (*out)
			return -1;
		*out = v;
	}
	return 0;
}

/* Parses {"target": "...", "arguments": [...]} into *root (the caller
 * frees it); returns 0, or -1 with the refusal queued. */
static int rest__payload(struct rest *x, json_t **root, const char **target, json_t **args)
{
	const struct tw_rest_request *r = x->req;
	json_error_t je;
	json_t *t;

	*root = NULL;
	if (r->body_too_big)
		return rest__fail(x, 413, "Request body is larger than %u bytes.", TW_REST_MAX_BODY);
	if (!r->body || !r->body_len)
		return rest__fail(x, 400, "Request body is missing: expected a JSON object "
				  "{\"target\": \"<method>\", \"arguments\": [...]}.");
	*root = tw_json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!*root)
		return rest__fail(x, 400, "Request body is not valid JSON: %s (line %d, column %d).",
				  je.text, je.line, je.column);
	if (!json_is_object(*root))
		return rest__fail(x, 400, "Request body must be a JSON object with \"target\" and "
				  "\"arguments\".");
	if (rest__key(*root, "target", &t) || rest__key(*root, "arguments", args))
		return rest__fail(x, 400, "Request body names \"target\" or \"arguments\" twice "
				  "(names are case-insensitive).");
	/* jansson refuses NUL inside strings: no check for it here */
	*target = json_string_value(t);
	if (!*target || !**target || json_string_length(t) > TW_ENVELOPE_MAX_METHOD)
		return rest__fail(x, 400, "Request body: \"target\" must be a non-empty string of at "
				  "most %d bytes (the method the clients receive).",
				  TW_ENVELOPE_MAX_METHOD);
	if (json_is_null(*args))
		*args = NULL;
	if (*args && !json_is_array(*args))
		return rest__fail(x, 400, "Request body: \"arguments\" must be an array.");
	return 0;
}

/* ---- delivery ---- */

/* Hands an envelope (consumed) to this hub, or to every hub through the
 * broker; answers status on success. */
static void rest__deliver(struct rest *x, json_t *env, unsigned status)
{
	const struct tw_rest_config *cfg = x->cfg;
	char *text = env ? json_dumps(env, JSON_COMPACT) : NULL, topic[300];
	int rc;

	json_decref(env);
	if (!text) {
		rest__fail(x, 500, "Out of memory building the message.");
		return;
	}
	if (cfg->via_broker && cfg->publish) {
		snprintf(topic, sizeof(topic), "telewire/hub/%s/rest", cfg->hub->cfg.name);
		rc = cfg->publish(cfg->publish_ctx, topic, text, strlen(text));
	} else {
		rc = tw_hub_post(cfg->hub, text, strlen(text));
	}
	free(text);
	if (rc == TW_OK)
		rest__answer(x, status, NULL);
	else if (rc == TW_ERR_AGAIN)
		rest__fail(x, 503, "The hub is not connected to the MQTT broker: try again later.");
	else if (rc == TW_ERR_FULL)
		rest__fail(x, 503, cfg->via_broker ? "Too many messages are waiting for the MQTT broker: "
				   "try again later." : "The hub's inbox is full: try again later.");
	else
		rest__fail(x, 500, "Cannot deliver the message: %s.", tw_strerror(rc));
}

static int rest__conn_missing(struct rest *x)
{
	return !tw_hub_conn_exists(x->cfg->hub, x->conn);
}

static void rest__send(struct rest *x)
{
	static const char *const targets[] = { "all", "group", "user", "connection" };
	enum tw_env_target t = x->route == REST_BROADCAST ? TW_ENV_ALL : x->route == REST_GROUP ?
			       TW_ENV_GROUP : x->route == REST_USER ? TW_ENV_USER : TW_ENV_CONNECTION;
	const char *name = t == TW_ENV_GROUP ? x->group : t == TW_ENV_USER ? x->user : x->conn;
	json_t *root, *args = NULL, *excluded = NULL, *env;
	const char *target = NULL;

	if ((t == TW_ENV_ALL || t == TW_ENV_GROUP) && rest__excluded(x, &excluded))
		return;
	if (rest__payload(x, &root, &target, &args)) {
		json_decref(root);
		json_decref(excluded);
		return;
	}
	env = json_pack("{s:s, s:s, s:o}", "target", targets[t], "method", target, "args",
			args ? json_incref(args) : json_array());
	if (env && name)
		json_object_set_new(env, "name", json_string(name));
	if (env && excluded)
		json_object_set(env, "excluded", excluded);
	json_decref(excluded);
	rest__deliver(x, env, 202);
	json_decref(root);
}

static const char *rest__op(const struct rest *x, enum tw_env_op add, enum tw_env_op remove)
{
	return tw_envelope_op_name(strcmp(x->req->method, "PUT") == 0 ? add : remove);
}

static void rest__connection(struct rest *x)
{
	const char *m = x->req->method, *reason;
	json_t *env;

	if (strcmp(m, "POST") == 0) {
		rest__send(x);
	} else if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
		/* An answer, not a refusal: no warning. */
		if (rest__conn_missing(x))
			rest__answer(x, 404, "Connection does not exist on this hub.");
		else
			rest__answer(x, 200, NULL);
	} else if (rest__reason(x, &reason) == 0) {
		env = json_pack("{s:s, s:s}", "op", tw_envelope_op_name(TW_ENV_CLOSE_CONNECTION),
				"connection", x->conn);
		if (env && reason && *reason)
			json_object_set_new(env, "reason", json_string(reason));
		rest__deliver(x, env, 202);
	}
}

static void rest__group_conn(struct rest *x)
{
	if (!x->cfg->via_broker && rest__conn_missing(x)) {
		rest__fail(x, 404, "Connection '%.64s' does not exist on this hub.", x->conn);
		return;
	}
	rest__deliver(x, json_pack("{s:s, s:s, s:s}", "op",
				   rest__op(x, TW_ENV_ADD_TO_GROUP, TW_ENV_REMOVE_FROM_GROUP),
				   "connection", x->conn, "group", x->group), 200);
}

static void rest__user_group(struct rest *x)
{
	long long ttl = -1;
	json_t *env;

	if (strcmp(x->req->method, "PUT") == 0 && rest__ttl(x, &ttl))
		return;
	env = json_pack("{s:s, s:s, s:s}", "op",
			rest__op(x, TW_ENV_ADD_USER_TO_GROUP, TW_ENV_REMOVE_USER_FROM_GROUP), "user",
			x->user, "group", x->group);
	if (env && ttl >= 0)
		json_object_set_new(env, "ttl", json_integer(ttl));
	rest__deliver(x, env, 202);
}

static void rest__route(struct rest *x)
{
	switch (x->route) {
	case REST_BROADCAST:
	case REST_GROUP:
	case REST_USER:
		rest__send(x);
		break;
	case REST_CONN:
		rest__connection(x);
		break;
	case REST_GROUP_CONN:
		rest__group_conn(x);
		break;
	case REST_USER_GROUP:
		rest__user_group(x);
		break;
	case REST_USER_GROUPS:
		rest__deliver(x, json_pack("{s:s, s:s}", "op",
					   tw_envelope_op_name(TW_ENV_REMOVE_USER_FROM_ALL_GROUPS),
					   "user", x->user), 202);
		break;
	}
}

/* Everything before the work: path, method, names, token, hub. */
static int rest__admit(struct rest *x)
{
	char path[160];

	if (rest__split(x))
		return -1;
	if (rest__match(x)) {
		rest__log_path(x, path, sizeof(path));
		return rest__fail(x, 404, "No REST API at %s: see /api/v1/hubs/{hub}[/groups/{group}|"
			       "/users/{user}|/connections/{connectionId}...].", path);
	}
	if (!rest__method_ok(x)) {
		x->res->allow = rest_allow[x->route];
		return rest__fail(x, 405, "Method %s is not allowed here; allowed: %s.",
				  x->req->method, rest_allow[x->route]);
	}
	if (rest__params(x) || rest__authenticate(x))
		return -1;
	if (strcasecmp(x->hub, x->cfg->hub->cfg.name) != 0)
		return rest__fail(x, 404, "Hub '%.64s' is not served here (this hub serves '%s').",
				  x->hub, x->cfg->hub->cfg.name);
	return 0;
}

/* /api/v1/health for the methods http.c leaves to us (it answers GET). */
static void rest__health(struct rest *x)
{
	if (strcmp(x->req->method, "HEAD") == 0 || strcmp(x->req->method, "GET") == 0) {
		rest__answer(x, 200, NULL);
		return;
	}
	x->res->allow = "GET, HEAD";
	rest__fail(x, 405, "Method %s is not allowed here; allowed: GET, HEAD.", x->req->method);
}

int tw_rest_handle(const struct tw_rest_config *cfg, const struct tw_rest_request *req,
		   struct tw_rest_response *res)
{
	struct rest x = { .cfg = cfg, .req = req, .res = res };
	char path[160];

	if (strncmp(req->path, REST_PREFIX, strlen(REST_PREFIX)) != 0)
		return 0;
	if (strcmp(req->path, "/api/v1/health") == 0) {
		rest__health(&x);
		return 1;
	}
	if (rest__admit(&x) == 0) {
		rest__route(&x);
		rest__log_path(&x, path, sizeof(path));
		if (res->status < 400)
			tw_debug("rest: %s %s answered %u", req->method, path, res->status);
	}
	free(x.buf);
	return 1;
}
