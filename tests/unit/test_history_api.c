/* test_history_api.c -- GET /api/history without HTTP: statuses, messages, tokens, JSON shape */
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "history_api.h"
#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/history.h"
#include "tw_history_v1.h"
#include "tw_test.h"

#define KEY "test-access-key"
#define BASE "http://127.0.0.1:8080"

static char tmpdir[] = "/tmp/tw-test-history-api-XXXXXX";
static char dbpath[256];

/* The query string as "name=value" pairs, NULL-terminated. */
static const char *lookup(void *ctx, const char *name)
{
	const char *const *kv = ctx;
	size_t n = strlen(name);

	for (; kv && *kv; kv++)
		if (strncmp(*kv, name, n) == 0 && (*kv)[n] == '=')
			return *kv + n + 1;
	return NULL;
}

static char *token(const char *aud, const char *key)
{
	char *t = NULL;

	tw_jwt_issue(key, strlen(key), aud, "tester", NULL, 0, tw_wall_ms() / 1000, 300, &t);
	return t;
}

static struct tw_history_api_response res;

/* Answers one request; bearer NULL: no Authorization header. */
static unsigned ask(struct tw_history_api *api, const char *bearer, const char *const *kv)
{
	char auth[1024];
	struct tw_history_api_request req = { lookup, (void *)kv, NULL, BASE };

	if (bearer) {
		snprintf(auth, sizeof(auth), "Bearer %s", bearer);
		req.authorization = auth;
	}
	free(res.body);
	tw_history_api_handle(api, &req, &res);
	return res.status;
}

/* The "error" text of the last answer. */
static const char *error_text(void)
{
	static char text[600];
	json_t *v = res.body ? json_loads(res.body, 0, NULL) : NULL;

	snprintf(text, sizeof(text), "%s", json_string_value(json_object_get(v, "error")) ?
		 json_string_value(json_object_get(v, "error")) : "(no error)");
	json_decref(v);
	return text;
}

static struct tw_history_api *make(const char *db, const char *client_endpoint)
{
	struct tw_history_api_config cfg = { db, KEY, "telemetry", client_endpoint, 0 };
	struct tw_history_api *api = NULL;

	TW_CHECK_INT(tw_history_api_create(&api, &cfg), TW_OK);
	return api;
}

static void fill(void)
{
	struct tw_history *h = NULL;
	struct tw_record *r;
	char err[512];

	TW_CHECK_INT(tw_history_open(dbpath, 0, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	for (int i = 0; i < 4; i++) {
		tw_record_new(&r, "temp-1", 1000 * (i + 1), i, 0, NULL);
		tw_record_set_number(r, "temp", 20 + i * 0.5);
		tw_record_set_bool(r, "door", i % 2);
		tw_record_set_string(r, "label", i == 3 ? "say \"hi\"\n" : "ok");
		TW_CHECK_INT(tw_history_append(h, &r, 1, NULL), TW_OK);
		tw_record_free(r);
	}
	tw_history_close(h);
}

static void test_not_configured(void)
{
	struct tw_history_api *api = make(NULL, NULL);
	const char *kv[] = { "device=temp-1", NULL };

	TW_CHECK_INT(ask(api, NULL, kv), 503);
	TW_CHECK_STR(error_text(), "History is not configured on this hub: start telewire-hub "
		     "with --history FILE.");
	tw_history_api_destroy(api);
}

static void test_tokens(void)
{
	struct tw_history_api *api = make(dbpath, "https://hub.example.com");
	const char *kv[] = { "device=temp-1", "keys=temp", "startTs=0", "endTs=10000", NULL };
	char *own = token(BASE "/api/history", KEY), *client = token(BASE "/client/?hub=telemetry", KEY);
	char *public = token("https://hub.example.com/client/?hub=telemetry", KEY);
	char *public_api = token("https://hub.example.com/api/history", KEY);
	char *other_hub = token(BASE "/client/?hub=chat", KEY), *rest = token(BASE "/api/v1/hubs/telemetry", KEY);
	char *wrong_key = token(BASE "/api/history", "another-key");
	char *with_query = token(BASE "/api/history?device=x", KEY);

	TW_CHECK_INT(ask(api, NULL, kv), 401);
	TW_CHECK_STR(error_text(), "Unauthorized: no access token (send Authorization: Bearer <JWT>)");
	TW_CHECK_STR(res.www_authenticate, "Bearer");
	TW_CHECK_INT(ask(api, wrong_key, kv), 401);
	TW_CHECK_STR(error_text(), "Unauthorized: token signature does not match");
	TW_CHECK_INT(ask(api, "not.a.jwt", kv), 401);
	TW_CHECK_INT(ask(api, rest, kv), 401);
	TW_CHECK_STR(error_text(), "Unauthorized: token audience (aud) is neither "
		     "http://127.0.0.1:8080/api/history nor this hub's client URL");
	TW_CHECK_INT(ask(api, other_hub, kv), 401);
	TW_CHECK_INT(ask(api, own, kv), 200);
	TW_CHECK_INT(ask(api, with_query, kv), 200);
	TW_CHECK_INT(ask(api, client, kv), 200);	/* a dashboard's client token */
	TW_CHECK_INT(ask(api, public, kv), 200);	/* behind a proxy: ClientEndpoint */
	TW_CHECK_INT(ask(api, public_api, kv), 200);
	{
		struct tw_history_api_request req = { lookup, (void *)kv, "Basic dXNlcjpwdw==", BASE };

		free(res.body);
		tw_history_api_handle(api, &req, &res);
		TW_CHECK_INT(res.status, 401);
		TW_CHECK_STR(error_text(), "Unauthorized: the Authorization header must use the "
			     "Bearer scheme");
	}
	free(own);
	free(client);
	free(public);
	free(public_api);
	free(other_hub);
	free(rest);
	free(wrong_key);
	free(with_query);
	tw_history_api_destroy(api);
}

static void test_answers(void)
{
	struct tw_history_api *api = make(dbpath, NULL);
	char *t = token(BASE "/api/history", KEY);
	const char *raw[] = { "device=temp-1", "keys=temp,door,label,nothing", "startTs=2000",
			      "endTs=4001", "orderBy=ASC", NULL };
	const char *desc[] = { "device=temp-1", "keys=temp", "startTs=0", "endTs=10000", "limit=2",
			       NULL };
	const char *agg[] = { "device=temp-1", "keys=temp,door", "startTs=1000", "endTs=5000",
			      "interval=2000", "agg=AVG", "orderBy=ASC", NULL };
	const char *count[] = { "device=temp-1", "keys=label", "startTs=0", "endTs=100000",
				"agg=COUNT", NULL };
	const char *unknown[] = { "device=temp-9", "keys=temp", "startTs=0", "endTs=1", NULL };
	const char *bad[] = { "device=temp-1", "keys=temp", "startTs=0", "endTs=10",
			      "interval=0", "agg=AVG", NULL };

	TW_CHECK_INT(ask(api, t, raw), 200);
	TW_CHECK_STR(res.body, "{\"temp\":[{\"ts\":2000,\"value\":20.5},{\"ts\":3000,\"value\":21},"
		     "{\"ts\":4000,\"value\":21.5}],\"door\":[{\"ts\":2000,\"value\":true},"
		     "{\"ts\":3000,\"value\":false},{\"ts\":4000,\"value\":true}],\"label\":"
		     "[{\"ts\":2000,\"value\":\"ok\"},{\"ts\":3000,\"value\":\"ok\"},{\"ts\":4000,"
		     "\"value\":\"say \\\"hi\\\"\\n\"}],\"nothing\":[]}");
	TW_CHECK_INT(ask(api, t, desc), 200);
	TW_CHECK_STR(res.body, "{\"temp\":[{\"ts\":4000,\"value\":21.5},{\"ts\":3000,\"value\":21}]}");
	TW_CHECK_INT(ask(api, t, agg), 200);
	TW_CHECK_STR(res.body, "{\"temp\":[{\"ts\":1000,\"value\":20.25},{\"ts\":3000,\"value\":21.25}],"
		     "\"door\":[{\"ts\":1000,\"value\":0.5},{\"ts\":3000,\"value\":0.5}]}");
	TW_CHECK_INT(ask(api, t, count), 200);
	TW_CHECK_STR(res.body, "{\"label\":[{\"ts\":0,\"value\":4}]}");
	TW_CHECK_INT(ask(api, t, unknown), 404);
	TW_CHECK_STR(error_text(), "Unknown device \"temp-9\".");
	TW_CHECK_INT(ask(api, t, bad), 400);
	TW_CHECK_STR(error_text(), "interval must be a positive integer number of milliseconds, "
		     "got \"0\".");
	TW_CHECK_INT(ask(api, t, NULL), 400);
	TW_CHECK_STR(error_text(), "device is required (a device id).");
	free(t);
	tw_history_api_destroy(api);
}

/* The hub may start before ingest has made the file. */
static void test_file_appears_later(void)
{
	char later[300];
	struct tw_history_api *api;
	struct tw_history *h = NULL;
	char *t = token(BASE "/api/history", KEY), err[512];
	const char *kv[] = { "device=d", "keys=k", "startTs=0", "endTs=10", NULL };

	snprintf(later, sizeof(later), "%s/later.db", tmpdir);
	api = make(later, NULL);
	TW_CHECK_INT(ask(api, t, kv), 503);
	TW_CHECK_STR(error_text(), "History is unavailable: the hub cannot open its history file "
		     "(see the hub's log).");
	TW_CHECK(access(later, F_OK) != 0);	/* read-only: never created by the hub */
	TW_CHECK_INT(tw_history_open(later, 0, &h, err, sizeof(err)), TW_OK);
	tw_history_close(h);
	TW_CHECK_INT(ask(api, t, kv), 404);
	free(t);
	tw_history_api_destroy(api);
}

/* A file of schema 1, served, then migrated by a writer (ingest starting):
 * the hub's connection read it through views of the old table, and the
 * next request is answered on a new connection. */
static void test_file_migrated_underneath(void)
{
	static const char v1[] =
		TW_HISTORY_V1_SCHEMA
		"INSERT INTO samples VALUES(1, 1, 1000, 1, 1.5, NULL), (1, 1, 2000, 1, 2.5, NULL);"
		"PRAGMA user_version=1;";
	const char *kv[] = { "device=old-1", "keys=v", "startTs=0", "endTs=10000", NULL };
	static const char want[] = "{\"v\":[{\"ts\":2000,\"value\":2.5},{\"ts\":1000,\"value\":1.5}]}";
	char path[300], err[512], *t = token(BASE "/api/history", KEY);
	struct tw_history_api *api;
	struct tw_history *h = NULL;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/v1.db", tmpdir);
	TW_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	TW_CHECK_INT(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	api = make(path, NULL);
	TW_CHECK_INT(ask(api, t, kv), 200);
	TW_CHECK_STR(res.body, want);
	TW_CHECK_INT(tw_history_open(path, TW_HISTORY_NOCREATE, &h, err, sizeof(err)), TW_OK);
	tw_history_close(h);
	TW_CHECK_INT(ask(api, t, kv), 200);
	TW_CHECK_STR(res.body, want);
	free(t);
	tw_history_api_destroy(api);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/history.db", tmpdir);
	fill();
	TW_RUN(test_not_configured);
	TW_RUN(test_tokens);
	TW_RUN(test_answers);
	TW_RUN(test_file_appears_later);
	TW_RUN(test_file_migrated_underneath);
	free(res.body);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return TW_TEST_END();
}
