/* history_api.c -- GET /api/history: token, parameters, read-only queries, ThingsBoard-shaped JSON */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/history.h"
#include "telewire/log.h"
#include "auth.h"
#include "buf.h"
#include "history_api.h"
#include "http.h"
#include "hub.h"

#define API_JWT_SKEW_S 60
#define API_PATH "/api/history"
#define API_WARN_EVERY_MS 10000	/* at most one "cannot open" warning this often */

struct tw_history_api {
	char *db, *access_key, *hub, *client_endpoint;
	int64_t budget_ms;
	pthread_mutex_t lock;	/* guards h: one request at a time */
	struct tw_history *h;	/* NULL until opened */
	int64_t last_warn;
};

/* ---- answers ---- */

__attribute__((format(printf, 3, 4)))
static void api__fail(struct tw_history_api_response *res, unsigned status, const char *fmt, ...)
{
	char msg[600];
	json_t *v;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	res->status = status;
	v = json_pack("{s:s}", "error", msg);
	if (!v) /* not UTF-8: never the case for our texts, but the answer must be JSON */
		v = json_pack("{s:s}", "error", "Bad request.");
	res->body = v ? json_dumps(v, JSON_COMPACT) : NULL;
	res->len = res->body ? strlen(res->body) : 0;
	json_decref(v);
}

static void api__unauthorized(struct tw_history_api_response *res, const char *why)
{
	api__fail(res, 401, "Unauthorized: %s", why);
	res->www_authenticate = "Bearer";
}

/* ---- the token ---- */

/* Does one of the token's audiences name this endpoint, or the hub's
 * client endpoint (the token a dashboard got from negotiate)? */
static int api__aud_ok(struct tw_history_api *api, const struct tw_jwt_claims *c,
		       const char *base)
{
	const char *bases[2] = { base, api->client_endpoint };
	char url[600];

	for (size_t i = 0; i < 2; i++) {
		if (!bases[i] || !*bases[i])
			continue;
		snprintf(url, sizeof(url), "%s%s", bases[i], API_PATH);
		if (tw_jwt_aud_ok(c, url, api->hub))
			return 1;
		snprintf(url, sizeof(url), "%s/client", bases[i]);
		if (tw_jwt_aud_ok(c, url, api->hub))
			return 1;
	}
	return 0;
}

static int api__authenticate(struct tw_history_api *api, const struct tw_history_api_request *req,
			     struct tw_history_api_response *res)
{
	const char *auth = req->authorization;
	struct tw_jwt_claims c;
	char err[200];
	int ok;

	if (!auth || !*auth)
		return api__unauthorized(res, "no access token (send Authorization: Bearer <JWT>)"), 0;
	if (strncasecmp(auth, "Bearer ", 7) != 0)
		return api__unauthorized(res, "the Authorization header must use the Bearer scheme"), 0;
	for (auth += 7; *auth == ' ';)
		auth++;
	if (tw_jwt_verify(auth, api->access_key, strlen(api->access_key), tw_wall_ms() / 1000,
			  API_JWT_SKEW_S, &c, err, sizeof(err)) != TW_OK) {
		tw_jwt_claims_free(&c);
		return api__unauthorized(res, err), 0;
	}
	ok = api__aud_ok(api, &c, req->base_url);
	tw_jwt_claims_free(&c);
	if (!ok) {
		snprintf(err, sizeof(err), "token audience (aud) is neither %.100s%s nor this hub's "
			 "client URL", req->base_url, API_PATH);
		return api__unauthorized(res, err), 0;
	}
	return 1;
}

/* ---- JSON ---- */

struct api_out {
	struct tw_buf buf;
	size_t rows;
	int nomem;
};

static void api__put(struct api_out *o, const char *s, size_t n)
{
	if (!o->nomem && tw_buf_append(&o->buf, s, n) != TW_OK)
		o->nomem = 1;
}

/* A JSON string; invalid UTF-8 becomes null rather than broken JSON. */
static void api__string(struct api_out *o, const char *s)
{
	json_t *v = json_string(s);
	char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

	api__put(o, text ? text : "null", text ? strlen(text) : 4);
	free(text);
	json_decref(v);
}

/* The shortest text that reads back as the same double; null for NaN and infinities. */
static void api__number(struct api_out *o, double d)
{
	char text[40];
	int n = 0;

	if (!isfinite(d)) {
		api__put(o, "null", 4);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(text, sizeof(text), "%.*g", prec, d);
		if (strtod(text, NULL) == d)
			break;
	}
	api__put(o, text, (size_t)n);
}

static int api__row(void *ctx, const struct tw_history_row *row)
{
	struct api_out *o = ctx;
	char head[64];
	int n = snprintf(head, sizeof(head), "%s{\"ts\":%" PRId64 ",\"value\":", o->rows ? "," : "",
			 row->ts);

	api__put(o, head, (size_t)n);
	if (row->type == TW_VALUE_NUMBER)
		api__number(o, row->num);
	else if (row->type == TW_VALUE_BOOL)
		api__put(o, row->b ? "true" : "false", row->b ? 4 : 5);
	else
		api__string(o, row->str);
	api__put(o, "}", 1);
	o->rows++;
	return o->nomem;
}

/* {"key": [{"ts": ..., "value": ...}, ...], ...}: every key asked for, in order. */
static int api__query(struct tw_history *h, const struct tw_history_params *p, struct api_out *o)
{
	struct tw_history_query q;
	int rc = TW_OK;

	api__put(o, "{", 1);
	for (size_t i = 0; i < p->nkeys && rc == TW_OK; i++) {
		tw_history_params_query(p, i, &q);
		if (i)
			api__put(o, ",", 1);
		api__string(o, p->keys[i]);
		api__put(o, ":[", 2);
		o->rows = 0;
		rc = tw_history_query(h, &q, api__row, o);
		api__put(o, "]", 1);
	}
	api__put(o, "}", 1);
	return o->nomem ? TW_ERR_NOMEM : rc;
}

/* ---- the store ---- */

static const char *api__arg(void *ctx, const char *name)
{
	const struct tw_history_api_request *req = ctx;

	return req->arg ? req->arg(req->arg_ctx, name) : NULL;
}

/* Opens the file on first use (api->lock held); on failure queues 503. */
static int api__open(struct tw_history_api *api, struct tw_history_api_response *res)
{
	char err[600];
	int64_t now;

	if (api->h)
		return 1;
	if (tw_history_open(api->db, TW_HISTORY_READONLY, &api->h, err, sizeof(err)) == TW_OK) {
		tw_info("history: serving /api/history from %s (read-only)", api->db);
		return 1;
	}
	now = tw_mono_ms();
	if (!api->last_warn || now - api->last_warn >= API_WARN_EVERY_MS) {
		tw_warn("history: %s", err);
		api->last_warn = now;
	}
	api__fail(res, 503, "History is unavailable: the hub cannot open its history file "
		  "(see the hub's log).");
	return 0;
}

/* Runs the queries (api->lock held) and fills res; 0 when SQLite failed. */
static int api__answer(struct tw_history_api *api, const struct tw_history_params *p,
		       struct tw_history_api_response *res)
{
	struct api_out o = { 0 };
	int rc = tw_history_device_exists(api->h, p->device);

	if (rc < 0) {
		tw_warn("history: cannot look up device: %s", tw_history_errmsg(api->h));
		api__fail(res, 500, "History query failed (see the hub's log).");
		return 0;
	}
	if (rc == 0) {
		api__fail(res, 404, "Unknown device \"%s\".", p->device);
		return 1;
	}
	tw_history_set_deadline(api->h, tw_mono_ms() + api->budget_ms);
	rc = api__query(api->h, p, &o);
	tw_history_set_deadline(api->h, 0);
	if (rc == TW_OK && !tw_buf_cstr(&o.buf))
		rc = TW_ERR_NOMEM;
	if (rc == TW_OK) {
		res->status = 200;
		res->len = o.buf.len;
		res->body = o.buf.data;
		return 1;
	}
	tw_buf_free(&o.buf);
	if (rc == TW_ERR_LIMIT) {
		api__fail(res, 503, "History query stopped after %" PRId64 " ms: ask for fewer keys, "
			  "a shorter range, a longer interval or a smaller limit.", api->budget_ms);
		tw_warn("history: a query of device \"%s\" ran over %" PRId64 " ms and was stopped",
			p->device, api->budget_ms);
	} else {
		tw_warn("history: query failed: %s", rc == TW_ERR_NOMEM ? "out of memory"
			: tw_history_errmsg(api->h));
		api__fail(res, 500, "History query failed (see the hub's log).");
		return rc == TW_ERR_NOMEM;
	}
	return 1;
}

void tw_history_api_handle(struct tw_history_api *api, const struct tw_history_api_request *req,
			   struct tw_history_api_response *res)
{
	struct tw_history_params *p;
	char err[400];

	memset(res, 0, sizeof(*res));
	if (!api->db) {
		api__fail(res, 503, "History is not configured on this hub: start telewire-hub "
			  "with --history FILE.");
		return;
	}
	if (!api__authenticate(api, req, res))
		return;
	if (!(p = malloc(sizeof(*p)))) {
		api__fail(res, 500, "Out of memory.");
		return;
	}
	if (tw_history_params_parse(api__arg, (void *)req, p, err, sizeof(err)) != TW_OK) {
		api__fail(res, 400, "%s", err);
	} else {
		pthread_mutex_lock(&api->lock);
		if (api__open(api, res) && !api__answer(api, p, res)) {
			/* The file may have changed under the connection: ingest
			 * migrates an older schema when it starts. Once more, on a
			 * new connection. */
			tw_history_close(api->h);
			api->h = NULL;
			free(res->body);
			memset(res, 0, sizeof(*res));
			if (api__open(api, res))
				api__answer(api, p, res);
		}
		pthread_mutex_unlock(&api->lock);
	}
	free(p);
}

static char *api__dup(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

int tw_history_api_create(struct tw_history_api **out, const struct tw_history_api_config *cfg)
{
	struct tw_history_api *api = calloc(1, sizeof(*api));

	*out = NULL;
	if (!api)
		return TW_ERR_NOMEM;
	api->db = api__dup(cfg->db);
	api->access_key = strdup(cfg->access_key ? cfg->access_key : "");
	api->hub = strdup(cfg->hub ? cfg->hub : "");
	api->client_endpoint = api__dup(cfg->client_endpoint);
	api->budget_ms = cfg->budget_ms > 0 ? cfg->budget_ms : TW_HISTORY_API_BUDGET_MS;
	pthread_mutex_init(&api->lock, NULL);
	if (!api->access_key || !api->hub || (cfg->db && *cfg->db && !api->db) ||
	    (cfg->client_endpoint && *cfg->client_endpoint && !api->client_endpoint)) {
		tw_history_api_destroy(api);
		return TW_ERR_NOMEM;
	}
	*out = api;
	return TW_OK;
}

void tw_history_api_destroy(struct tw_history_api *api)
{
	if (!api)
		return;
	tw_history_close(api->h);
	pthread_mutex_destroy(&api->lock);
	free(api->db);
	free(api->access_key);
	free(api->hub);
	free(api->client_endpoint);
	free(api);
}

/* ---- libmicrohttpd ---- */

static const char *api__mhd_arg(void *ctx, const char *name)
{
	return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

/* The one endpoint of the process: the hub serves one history file. */
static struct tw_history_api *api__instance(struct tw_hub *hub, const struct tw_http_config *cfg)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct tw_history_api *api;
	struct tw_history_api_config c = { cfg->history, hub->cfg.access_key, hub->cfg.name,
					   cfg->client_endpoint, 0 };

	pthread_mutex_lock(&lock);
	if (!api && tw_history_api_create(&api, &c) != TW_OK)
		api = NULL;
	pthread_mutex_unlock(&lock);
	return api;
}

enum MHD_Result tw_history_api_serve(struct tw_hub *hub, const struct tw_http_config *cfg,
				     struct MHD_Connection *con, const char *host,
				     tw_history_api_queue_fn queue)
{
	struct tw_history_api *api = api__instance(hub, cfg);
	struct tw_history_api_response res = { 0 };
	struct tw_history_api_request req = {
		.arg = api__mhd_arg, .arg_ctx = con,
		.authorization = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization"),
	};
	struct MHD_Response *r;
	char base[300];

	if (!api)
		return MHD_NO;
	snprintf(base, sizeof(base), "http://%s", host);
	req.base_url = base;
	tw_history_api_handle(api, &req, &res);
	if (res.status == 401)
		HUB_COUNT(hub, auth_failures);
	if (!res.body)
		return MHD_NO;
	r = MHD_create_response_from_buffer(res.len, res.body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(res.body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (res.www_authenticate)
		MHD_add_response_header(r, "WWW-Authenticate", res.www_authenticate);
	return queue(con, res.status, r);
}
