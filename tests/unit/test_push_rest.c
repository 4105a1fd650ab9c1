/* test_push_rest.c -- the REST API v1 without HTTP: routes, methods, names, tokens, bodies and the envelopes they become */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/log.h"
#include "auth.h"
#include "hub.h"
#include "rest_api.h"
#include "tw_test.h"

#define KEY "unit-test-access-key"
#define BASE "http://127.0.0.1:8080"

/* What the broker would have got. */
static struct {
	char topic[300];
	char *payload;
	int calls, rc;
} pub;

static int fake_publish(void *ctx, const char *topic, const void *payload, size_t len)
{
	pub.calls++;
	if (pub.rc != TW_OK)
		return pub.rc;
	snprintf(pub.topic, sizeof(pub.topic), "%s", topic);
	free(pub.payload);
	pub.payload = malloc(len + 1);
	memcpy(pub.payload, payload, len);
	pub.payload[len] = '\0';
	return TW_OK;
}

/* Query parameters: "k=v" strings, repeats allowed. */
struct query {
	const char *kv[8];
};

static const char *q_arg(void *ctx, const char *name)
{
	struct query *q = ctx;
	size_t n = strlen(name);

	for (int i = 0; q && i < 8 && q->kv[i]; i++)
		if (strncmp(q->kv[i], name, n) == 0 && q->kv[i][n] == '=')
			return q->kv[i] + n + 1;
	return NULL;
}

static void q_each(void *ctx, const char *name, void (*fn)(void *c, const char *v), void *c)
{
	struct query *q = ctx;
	size_t n = strlen(name);

	for (int i = 0; q && i < 8 && q->kv[i]; i++)
		if (strncmp(q->kv[i], name, n) == 0 && q->kv[i][n] == '=')
			fn(c, q->kv[i] + n + 1);
}

static struct tw_hub *hub;
static struct tw_rest_config cfg;
static struct tw_rest_response res;
static char err[700];
static int use_arg_each = 1;

/* A token for aud, valid for 10 minutes unless claims say otherwise. */
static char *token_for(const char *aud)
{
	char claims[2300], *tok = NULL;

	snprintf(claims, sizeof(claims), "{\"aud\":\"%s\",\"exp\":%lld}", aud,
		 (long long)(tw_wall_ms() / 1000 + 600));
	tw_jwt_sign(KEY, strlen(KEY), claims, &tok);
	return tok;
}

static char *sign(const char *claims, const char *key)
{
	char *tok = NULL;

	tw_jwt_sign(key, strlen(key), claims, &tok);
	return tok;
}

/* Calls the API; auth NULL signs a token for BASE + path (or aud_path). */
static int call_full(const char *method, const char *path, const char *raw_path,
		     const char *auth, const char *body, struct query *q, int too_big)
{
	char header[4200], *tok = NULL;
	struct tw_rest_request req = {
		.method = method, .path = path, .raw_path = raw_path, .arg = q_arg,
		.arg_each = use_arg_each ? q_each : NULL, .arg_ctx = q, .base_url = BASE,
		.body = body, .body_len = body ? strlen(body) : 0, .body_too_big = too_big,
	};
	int handled;

	if (!auth) {
		char aud[2200];

		snprintf(aud, sizeof(aud), BASE "%s", raw_path ? raw_path : path);
		tok = token_for(aud);
		snprintf(header, sizeof(header), "Bearer %s", tok);
		auth = header;
	}
	req.authorization = *auth ? auth : NULL;
	json_decref(res.body);
	memset(&res, 0, sizeof(res));
	err[0] = '\0';
	handled = tw_rest_handle(&cfg, &req, &res);
	free(tok);
	if (!handled)
		return 0;
	if (res.body)
		snprintf(err, sizeof(err), "%s", json_string_value(json_object_get(res.body, "error")));
	return (int)res.status;
}

static int call(const char *method, const char *path, const char *body, struct query *q)
{
	return call_full(method, path, NULL, NULL, body, q, 0);
}

static int has(const char *text)
{
	if (strstr(err, text))
		return 1;
	fprintf(stderr, "  error text \"%s\" lacks \"%s\"\n", err, text);
	return 0;
}

/* The last published envelope equals want (compared as JSON). */
static int published(const char *want)
{
	json_t *a = pub.payload ? json_loads(pub.payload, 0, NULL) : NULL, *b = json_loads(want, 0, NULL);
	int ok = a && b && json_equal(a, b);

	if (!ok)
		fprintf(stderr, "  published %s, expected %s\n", pub.payload ? pub.payload : "nothing", want);
	json_decref(a);
	json_decref(b);
	return ok;
}

static void broker_mode(int on)
{
	cfg.via_broker = on;
	free(pub.payload);
	memset(&pub, 0, sizeof(pub));
}

static void test_not_rest(void)
{
	TW_CHECK_INT(call("GET", "/index.html", NULL, NULL), 0);
	TW_CHECK_INT(call("GET", "/api/v1", NULL, NULL), 0);
	TW_CHECK_INT(call("HEAD", "/api/v1/health", NULL, NULL), 200);
	TW_CHECK(res.body == NULL);
	TW_CHECK_INT(call("POST", "/api/v1/health", NULL, NULL), 405);
	TW_CHECK_STR(res.allow, "GET, HEAD");
}

static void test_local_sends(void)
{
	size_t before = hub->bp_len;

	broker_mode(0);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\",\"arguments\":[1]}", NULL), 202);
	TW_CHECK(res.body == NULL);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/groups/g", "{\"target\":\"m\"}", NULL), 202);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/users/u", "{\"target\":\"m\"}", NULL), 202);
	/* Azure accepts a send to a connection it does not know. */
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/connections/nobody", "{\"target\":\"m\"}", NULL), 202);
	TW_CHECK_INT(hub->bp_len - before, 4);
	TW_CHECK_INT(pub.calls, 0);
}

static void test_broker_sends(void)
{
	struct query ex = { { "excluded=c1", "other=x", "excluded=c2" } };

	broker_mode(1);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\",\"arguments\":[1,{\"a\":\"b\"}]}", NULL), 202);
	TW_CHECK_STR(pub.topic, "telewire/hub/telemetry/rest");
	TW_CHECK(published("{\"target\":\"all\",\"method\":\"m\",\"args\":[1,{\"a\":\"b\"}]}"));
	/* The SDKs' PascalCase names; null arguments mean none. */
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/groups/fleet", "{\"Target\":\"T\",\"Arguments\":null}", NULL), 202);
	TW_CHECK(published("{\"target\":\"group\",\"name\":\"fleet\",\"method\":\"T\",\"args\":[]}"));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/users/alice", "{\"target\":\"m\",\"extra\":1}", NULL), 202);
	TW_CHECK(published("{\"target\":\"user\",\"name\":\"alice\",\"method\":\"m\",\"args\":[]}"));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/connections/c9", "{\"target\":\"m\",\"arguments\":[\"x\"]}", NULL), 202);
	TW_CHECK(published("{\"target\":\"connection\",\"name\":\"c9\",\"method\":\"m\",\"args\":[\"x\"]}"));
	/* excluded: every value, on broadcasts and group sends */
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\"}", &ex), 202);
	TW_CHECK(published("{\"target\":\"all\",\"method\":\"m\",\"args\":[],\"excluded\":[\"c1\",\"c2\"]}"));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/groups/g", "{\"target\":\"m\"}", &ex), 202);
	TW_CHECK(published("{\"target\":\"group\",\"name\":\"g\",\"method\":\"m\",\"args\":[],\"excluded\":[\"c1\",\"c2\"]}"));
	use_arg_each = 0; /* a server that only gives the first value */
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\"}", &ex), 202);
	TW_CHECK(published("{\"target\":\"all\",\"method\":\"m\",\"args\":[],\"excluded\":[\"c1\"]}"));
	use_arg_each = 1;
	/* a trailing slash, any case for the fixed words */
	TW_CHECK_INT(call("POST", "/api/v1/Hubs/Telemetry/GROUPS/g/", "{\"target\":\"m\"}", NULL), 202);
	TW_CHECK(published("{\"target\":\"group\",\"name\":\"g\",\"method\":\"m\",\"args\":[]}"));
	TW_CHECK_INT(pub.calls, 8);
}

static void test_bad_excluded(void)
{
	struct query empty = { { "excluded=" } }, ctl = { { "excluded=a\tb" } };

	broker_mode(1);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\"}", &empty), 400);
	TW_CHECK(has("Query parameter 'excluded' must hold connection ids of 1 to 1024 bytes"));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/groups/g", "{\"target\":\"m\"}", &ctl), 400);
	TW_CHECK(has("'excluded'"));
	TW_CHECK_INT(pub.calls, 0);
}

static void test_membership(void)
{
	struct query ttl = { { "ttl=60" } }, ttl0 = { { "ttl=0" } }, reason = { { "reason=maintenance" } };

	broker_mode(1);
	/* With the broker the connection may live on another hub: accepted. */
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/groups/g/connections/elsewhere", NULL, NULL), 200);
	TW_CHECK(published("{\"op\":\"addToGroup\",\"connection\":\"elsewhere\",\"group\":\"g\"}"));
	TW_CHECK_INT(call("DELETE", "/api/v1/hubs/telemetry/connections/c1/groups/g", NULL, NULL), 200);
	TW_CHECK(published("{\"op\":\"removeFromGroup\",\"connection\":\"c1\",\"group\":\"g\"}"));
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/users/alice/groups/g", NULL, &ttl), 202);
	TW_CHECK(published("{\"op\":\"addUserToGroup\",\"user\":\"alice\",\"group\":\"g\",\"ttl\":60}"));
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/groups/g/users/alice", NULL, &ttl0), 202);
	TW_CHECK(published("{\"op\":\"addUserToGroup\",\"user\":\"alice\",\"group\":\"g\",\"ttl\":0}"));
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/groups/g/users/alice", NULL, NULL), 202);
	TW_CHECK(published("{\"op\":\"addUserToGroup\",\"user\":\"alice\",\"group\":\"g\"}"));
	TW_CHECK_INT(call("DELETE", "/api/v1/hubs/telemetry/users/alice/groups/g", NULL, NULL), 202);
	TW_CHECK(published("{\"op\":\"removeUserFromGroup\",\"user\":\"alice\",\"group\":\"g\"}"));
	TW_CHECK_INT(call("DELETE", "/api/v1/hubs/telemetry/users/alice/groups", NULL, NULL), 202);
	TW_CHECK(published("{\"op\":\"removeUserFromAllGroups\",\"user\":\"alice\"}"));
	TW_CHECK_INT(call("DELETE", "/api/v1/hubs/telemetry/connections/c1", NULL, &reason), 202);
	TW_CHECK(published("{\"op\":\"closeConnection\",\"connection\":\"c1\",\"reason\":\"maintenance\"}"));
	TW_CHECK_INT(call("DELETE", "/api/v1/hubs/telemetry/connections/c2", NULL, NULL), 202);
	TW_CHECK(published("{\"op\":\"closeConnection\",\"connection\":\"c2\"}"));
}

static void test_membership_local(void)
{
	size_t before;

	broker_mode(0);
	before = hub->bp_len;
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/groups/g/connections/nobody", NULL, NULL), 404);
	TW_CHECK(has("Connection 'nobody' does not exist on this hub."));
	TW_CHECK_INT(call("DELETE", "/api/v1/hubs/telemetry/connections/nobody/groups/g", NULL, NULL), 404);
	TW_CHECK_INT(hub->bp_len, before);
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/groups/g/connections/conn-1", NULL, NULL), 200);
	TW_CHECK_INT(hub->bp_len, before + 1);
	TW_CHECK_INT(call("GET", "/api/v1/hubs/telemetry/connections/conn-1", NULL, NULL), 200);
	TW_CHECK(res.body == NULL);
	TW_CHECK_INT(call("HEAD", "/api/v1/hubs/telemetry/connections/conn-1", NULL, NULL), 200);
	TW_CHECK_INT(call("GET", "/api/v1/hubs/telemetry/connections/nobody", NULL, NULL), 404);
	TW_CHECK(has("Connection does not exist"));
	TW_CHECK_INT(call("HEAD", "/api/v1/hubs/telemetry/connections/nobody", NULL, NULL), 404);
}

static void test_bad_queries(void)
{
	struct query neg = { { "ttl=-1" } }, big = { { "ttl=2147483648" } }, word = { { "ttl=soon" } },
		     blank = { { "ttl=" } }, ctl = { { "reason=a\nb" } };
	char longr[1100];
	struct query longq = { { longr } };

	broker_mode(1);
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/users/u/groups/g", NULL, &neg), 400);
	TW_CHECK(has("Query parameter 'ttl' must be a whole number of seconds from 0 to 2147483647."));
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/users/u/groups/g", NULL, &big), 400);
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/users/u/groups/g", NULL, &word), 400);
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/users/u/groups/g", NULL, &blank), 400);
	TW_CHECK_INT(call("DELETE", "/api/v1/hubs/telemetry/connections/c", NULL, &ctl), 400);
	TW_CHECK(has("Query parameter 'reason' holds a control character"));
	memcpy(longr, "reason=", 7);
	memset(longr + 7, 'r', 1025);
	longr[7 + 1025] = '\0';
	TW_CHECK_INT(call("DELETE", "/api/v1/hubs/telemetry/connections/c", NULL, &longq), 400);
	TW_CHECK(has("Query parameter 'reason' is too long"));
	TW_CHECK_INT(pub.calls, 0);
}

static void test_routes(void)
{
	broker_mode(1);
	TW_CHECK_INT(call("POST", "/api/v1/hubs", "{\"target\":\"m\"}", NULL), 404);
	TW_CHECK(has("No REST API at /api/v1/hubs"));
	TW_CHECK_INT(call("POST", "/api/v1/nothing/here", "{\"target\":\"m\"}", NULL), 404);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/groups", "{\"target\":\"m\"}", NULL), 404);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/groups/g/members/x", "{\"target\":\"m\"}", NULL), 404);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/a/b/c/d/e/f/g/h/i", "{\"target\":\"m\"}", NULL), 404);
	TW_CHECK_INT(call("GET", "/api/v1/hubs/telemetry", NULL, NULL), 405);
	TW_CHECK_STR(res.allow, "POST");
	TW_CHECK(has("Method GET is not allowed here; allowed: POST."));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/groups/g/connections/c", NULL, NULL), 405);
	TW_CHECK_STR(res.allow, "PUT, DELETE");
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/connections/c", NULL, NULL), 405);
	TW_CHECK_STR(res.allow, "POST, DELETE, GET, HEAD");
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/users/u/groups", NULL, NULL), 405);
	TW_CHECK_STR(res.allow, "DELETE");
	TW_CHECK_INT(call("GET", "/api/v1/hubs/telemetry/groups/g", NULL, NULL), 405);
	/* the hub name is case-insensitive; another hub is not here */
	TW_CHECK_INT(call("POST", "/api/v1/hubs/TELEMETRY", "{\"target\":\"m\"}", NULL), 202);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/chat", "{\"target\":\"m\"}", NULL), 404);
	TW_CHECK(has("Hub 'chat' is not served here (this hub serves 'telemetry')."));
	TW_CHECK_INT(pub.calls, 1);
}

static void test_path_names(void)
{
	char path[1200], header[1000], *tok;

	broker_mode(1);
	/* decoded by the server: a '%' left over was a bad escape */
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/groups/%zz", "{\"target\":\"m\"}", NULL), 400);
	TW_CHECK(has("Bad percent-encoding in the group name of the path."));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/users/a%4", "{\"target\":\"m\"}", NULL), 400);
	TW_CHECK(has("Bad percent-encoding in the user id of the path."));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/groups/100%", "{\"target\":\"m\"}", NULL), 400);
	/* %41 can only be what a client sent as %2541 (its aud says so too): a name */
	tok = token_for(BASE "/api/v1/hubs/telemetry/groups/a%2541");
	snprintf(header, sizeof(header), "Bearer %s", tok);
	free(tok);
	TW_CHECK_INT(call_full("POST", "/api/v1/hubs/telemetry/groups/a%41", NULL, header,
			       "{\"target\":\"m\"}", NULL, 0), 202);
	TW_CHECK(published("{\"target\":\"group\",\"name\":\"a%41\",\"method\":\"m\",\"args\":[]}"));
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/groups//connections/c", NULL, NULL), 400);
	TW_CHECK(has("The group name in the path is empty"));
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/groups/a\x01/connections/c", NULL, NULL), 400);
	TW_CHECK(has("The group name in the path holds a control character"));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/users/\xff\xfe", "{\"target\":\"m\"}", NULL), 400);
	TW_CHECK(has("The user id in the path is not valid UTF-8"));
	snprintf(path, sizeof(path), "/api/v1/hubs/telemetry/groups/%01025d", 0);
	TW_CHECK_INT(call("POST", path, "{\"target\":\"m\"}", NULL), 400);
	TW_CHECK(has("The group name in the path is too long: it must be 1 to 1024 bytes"));
	snprintf(path, sizeof(path), "/api/v1/hubs/telemetry/groups/%01024d", 0);
	TW_CHECK_INT(call("POST", path, "{\"target\":\"m\"}", NULL), 202);
	/* UTF-8 names pass */
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry/users/J\xc3\xbcrgen", "{\"target\":\"m\"}", NULL), 202);
	TW_CHECK(published("{\"target\":\"user\",\"name\":\"J\xc3\xbcrgen\",\"method\":\"m\",\"args\":[]}"));
}

static void test_raw_path(void)
{
	broker_mode(1);
	/* a server that hands the path as sent: names may hold '/' */
	TW_CHECK_INT(call_full("POST", "/api/v1/hubs/telemetry/groups/a/b",
			       "/api/v1/hubs/telemetry/groups/a%2Fb", NULL, "{\"target\":\"m\"}", NULL, 0), 202);
	TW_CHECK(published("{\"target\":\"group\",\"name\":\"a/b\",\"method\":\"m\",\"args\":[]}"));
	TW_CHECK_INT(call_full("POST", "/api/v1/hubs/telemetry/groups/100%",
			       "/api/v1/hubs/telemetry/groups/100%25", NULL, "{\"target\":\"m\"}", NULL, 0), 202);
	TW_CHECK(published("{\"target\":\"group\",\"name\":\"100%\",\"method\":\"m\",\"args\":[]}"));
	TW_CHECK_INT(call_full("POST", "/api/v1/hubs/telemetry/groups/%zz",
			       "/api/v1/hubs/telemetry/groups/%zz", NULL, "{\"target\":\"m\"}", NULL, 0), 400);
	TW_CHECK(has("Bad percent-encoding in path segment 6."));
	TW_CHECK_INT(call_full("POST", "/api/v1/hubs/telemetry/groups/a",
			       "/api/v1/hubs/telemetry/groups/a%00b", NULL, "{\"target\":\"m\"}", NULL, 0), 400);
	TW_CHECK(has("Path segment 6 holds a NUL byte (%00)."));
	TW_CHECK_INT(call_full("POST", "/api/v1/hubs/telemetry/users/x",
			       "/api/v1/hubs/telemetry/users/%FF", NULL, "{\"target\":\"m\"}", NULL, 0), 400);
	TW_CHECK(has("not valid UTF-8"));
}

static int auth_status(const char *path, const char *header)
{
	return call_full("POST", path, NULL, header, "{\"target\":\"m\"}", NULL, 0);
}

static void test_tokens(void)
{
	const char *path = "/api/v1/hubs/telemetry";
	char h[4300], claims[600], *tok;
	long long now = tw_wall_ms() / 1000;

	broker_mode(1);
#define WITH(claims_text, key) (tok = sign(claims_text, key), \
	snprintf(h, sizeof(h), "Bearer %s", tok), free(tok), h)
	TW_CHECK_INT(auth_status(path, ""), 401);
	TW_CHECK_STR(res.www_authenticate, "Bearer");
	TW_CHECK(has("Unauthorized: no access token (send Authorization: Bearer <JWT>)"));
	TW_CHECK_INT(auth_status(path, "Basic dXNlcjpwYXNz"), 401);
	TW_CHECK(has("must use the Bearer scheme"));
	TW_CHECK_INT(auth_status(path, "Bearer not.a.token"), 401);
	TW_CHECK(has("Unauthorized: token"));
	snprintf(claims, sizeof(claims), "{\"aud\":\"" BASE "%s\",\"exp\":%lld}", path, now - 120);
	TW_CHECK_INT(auth_status(path, WITH(claims, KEY)), 401);
	TW_CHECK(has("Unauthorized: token is expired"));
	snprintf(claims, sizeof(claims), "{\"aud\":\"" BASE "%s\",\"exp\":%lld,\"nbf\":%lld}", path,
		 now + 3600, now + 1800);
	TW_CHECK_INT(auth_status(path, WITH(claims, KEY)), 401);
	TW_CHECK(has("Unauthorized: token is not valid yet (nbf)"));
	snprintf(claims, sizeof(claims), "{\"aud\":\"" BASE "%s\"}", path);
	TW_CHECK_INT(auth_status(path, WITH(claims, KEY)), 401);
	TW_CHECK(has("Unauthorized: token has no exp claim"));
	snprintf(claims, sizeof(claims), "{\"aud\":\"" BASE "%s\",\"exp\":%lld}", path, now + 600);
	TW_CHECK_INT(auth_status(path, WITH(claims, "some-other-key")), 401);
	TW_CHECK(has("Unauthorized: token signature does not match"));
	/* a token for another URL: another hub, another route, another host */
	snprintf(claims, sizeof(claims), "{\"aud\":\"" BASE "/api/v1/hubs/chat\",\"exp\":%lld}", now + 600);
	TW_CHECK_INT(auth_status(path, WITH(claims, KEY)), 401);
	TW_CHECK(has("Unauthorized: token audience (aud) is not the request URL http://127.0.0.1:8080/api/v1/hubs/telemetry"));
	snprintf(claims, sizeof(claims), "{\"aud\":\"" BASE "/api/v1/hubs/telemetry/groups/g\",\"exp\":%lld}", now + 600);
	TW_CHECK_INT(auth_status(path, WITH(claims, KEY)), 401);
	snprintf(claims, sizeof(claims), "{\"aud\":\"http://evil.example/api/v1/hubs/telemetry\",\"exp\":%lld}", now + 600);
	TW_CHECK_INT(auth_status(path, WITH(claims, KEY)), 401);
	snprintf(claims, sizeof(claims), "{\"exp\":%lld}", now + 600);
	TW_CHECK_INT(auth_status(path, WITH(claims, KEY)), 401);
	TW_CHECK(has("audience"));
	TW_CHECK_INT(pub.calls, 0);
	/* tolerated: trailing slash, query, case, one of several audiences */
	snprintf(claims, sizeof(claims), "{\"aud\":\"" BASE "/api/v1/hubs/telemetry/\",\"exp\":%lld}", now + 600);
	TW_CHECK_INT(auth_status(path, WITH(claims, KEY)), 202);
	snprintf(claims, sizeof(claims), "{\"aud\":\"HTTP://127.0.0.1:8080/API/v1/hubs/Telemetry?x=1\",\"exp\":%lld}", now + 600);
	TW_CHECK_INT(auth_status(path, WITH(claims, KEY)), 202);
	snprintf(claims, sizeof(claims), "{\"aud\":[\"http://x/\",\"" BASE "%s\"],\"exp\":%lld}", path, now + 600);
	TW_CHECK_INT(auth_status(path, WITH(claims, KEY)), 202);
	snprintf(claims, sizeof(claims), "{\"aud\":\"" BASE "%s\",\"exp\":%lld}", path, now - 30);
	TW_CHECK_INT(auth_status(path, WITH(claims, KEY)), 202); /* within the 60 s skew */
	/* the SDKs percent-encode names in aud; the server decoded the path */
	snprintf(claims, sizeof(claims), "{\"aud\":\"" BASE "/api/v1/hubs/telemetry/users/alice%%20smith\",\"exp\":%lld}", now + 600);
	TW_CHECK_INT(auth_status("/api/v1/hubs/telemetry/users/alice smith", WITH(claims, KEY)), 202);
	snprintf(claims, sizeof(claims), "{\"aud\":\"" BASE "/api/v1/hubs/telemetry/users/alice%%00\",\"exp\":%lld}", now + 600);
	TW_CHECK_INT(auth_status("/api/v1/hubs/telemetry/users/alice", WITH(claims, KEY)), 401);
	/* alg none */
	snprintf(h, sizeof(h), "Bearer eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.");
	TW_CHECK_INT(auth_status(path, h), 401);
	TW_CHECK_INT(auth_status(path, "Bearer eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.c2ln"), 401);
	TW_CHECK(has("Unauthorized: token algorithm is not HS256"));
	/* the token is checked before the hub name: no hub names for strangers */
	TW_CHECK_INT(auth_status("/api/v1/hubs/chat", ""), 401);
#undef WITH
}

static void test_bodies(void)
{
	char *big;

	broker_mode(1);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", NULL, NULL), 400);
	TW_CHECK(has("Request body is missing"));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "not json", NULL), 400);
	TW_CHECK(has("Request body is not valid JSON:"));
	TW_CHECK(has("(line 1, column"));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "[\"m\", 1]", NULL), 400);
	TW_CHECK(has("Request body must be a JSON object with \"target\" and \"arguments\"."));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"arguments\":[]}", NULL), 400);
	TW_CHECK(has("Request body: \"target\" must be a non-empty string of at most 256 bytes"));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"\"}", NULL), 400);
	TW_CHECK(has("\"target\""));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":7}", NULL), 400);
	TW_CHECK(has("\"target\""));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":null}", NULL), 400);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\",\"arguments\":{\"a\":1}}", NULL), 400);
	TW_CHECK(has("Request body: \"arguments\" must be an array."));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\",\"arguments\":\"x\"}", NULL), 400);
	TW_CHECK(has("\"arguments\" must be an array"));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\",\"Target\":\"n\"}", NULL), 400);
	TW_CHECK(has("names \"target\" or \"arguments\" twice"));
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\",\"target\":\"n\"}", NULL), 400);
	TW_CHECK(has("not valid JSON"));
	TW_CHECK_INT(call_full("POST", "/api/v1/hubs/telemetry", NULL, NULL, NULL, NULL, 1), 413);
	TW_CHECK(has("Request body is larger than 1048576 bytes."));
	big = malloc(300);
	snprintf(big, 300, "{\"target\":\"%0257d\"}", 0);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", big, NULL), 400);
	TW_CHECK(has("at most 256 bytes"));
	free(big);
	TW_CHECK_INT(pub.calls, 0);
	/* membership routes ignore a body */
	TW_CHECK_INT(call("DELETE", "/api/v1/hubs/telemetry/users/u/groups", "garbage", NULL), 202);
}

static void test_unavailable(void)
{
	struct tw_hub_config hc = { .name = "telemetry", .access_key = KEY, .backplane_queue = 1 };
	struct tw_hub *small;
	struct tw_hub *keep = cfg.hub;

	broker_mode(1);
	pub.rc = TW_ERR_AGAIN;
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\"}", NULL), 503);
	TW_CHECK(has("The hub is not connected to the MQTT broker: try again later."));
	pub.rc = TW_ERR_FULL;
	TW_CHECK_INT(call("PUT", "/api/v1/hubs/telemetry/users/u/groups/g", NULL, NULL), 503);
	TW_CHECK(has("Too many messages are waiting for the MQTT broker"));
	pub.rc = TW_ERR_MQTT;
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\"}", NULL), 500);
	/* a full inbox of this hub */
	broker_mode(0);
	TW_CHECK_INT(tw_hub_create(&small, &hc), TW_OK);
	cfg.hub = small;
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\"}", NULL), 202);
	TW_CHECK_INT(call("POST", "/api/v1/hubs/telemetry", "{\"target\":\"m\"}", NULL), 503);
	TW_CHECK(has("The hub's inbox is full: try again later."));
	cfg.hub = keep;
	tw_hub_destroy(small);
}

int main(void)
{
	struct tw_hub_config hc = { .name = "telemetry", .access_key = KEY, .backplane_queue = 100000 };

	tw_log_init("test", TW_LOG_ERROR);
	if (tw_hub_create(&hub, &hc) != TW_OK)
		return 1;
	/* a connection of this hub, as tw_hub_conn_exists sees it */
	tw_strmap_put(&hub->live, "conn-1", hub);
	cfg = (struct tw_rest_config){ .hub = hub, .access_key = KEY, .publish = fake_publish };
	TW_RUN(test_not_rest);
	TW_RUN(test_local_sends);
	TW_RUN(test_broker_sends);
	TW_RUN(test_bad_excluded);
	TW_RUN(test_membership);
	TW_RUN(test_membership_local);
	TW_RUN(test_bad_queries);
	TW_RUN(test_routes);
	TW_RUN(test_path_names);
	TW_RUN(test_raw_path);
	TW_RUN(test_tokens);
	TW_RUN(test_bodies);
	TW_RUN(test_unavailable);
	json_decref(res.body);
	free(pub.payload);
	tw_hub_destroy(hub);
	return TW_TEST_END();
}
