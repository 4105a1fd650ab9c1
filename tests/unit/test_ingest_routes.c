/* test_ingest_routes.c -- [transform]/[route] sections, defaults, matching, start-up errors */
#include <stdio.h>
#include <string.h>

#include "routes.h"
#include "telewire/error.h"
#include "tw_test.h"

static int feed(struct ingest_routes *rt, const char *section, const char *key,
		const char *value, char *err, size_t errlen)
{
	err[0] = '\0';
	return ingest__routes_section(rt, section, key, value, err, errlen);
}

static void test_defaults(void)
{
	struct ingest_routes rt = { 0 };
	struct ingest_route *r;
	char err[512];

	TW_CHECK_INT(ingest__routes_load(&rt, TW_PLUGIN_DIR, err, sizeof(err)), TW_OK);
	TW_CHECK_INT(rt.nr, 2);
	r = ingest__routes_match(&rt, "veh-0001");
	TW_CHECK(r && r->ngroups == 1 && strcmp(r->groups[0], "fleet") == 0);
	r = ingest__routes_match(&rt, "temp-7");
	TW_CHECK(r && strcmp(r->groups[0], "temperature") == 0);
	TW_CHECK(ingest__routes_match(&rt, "pump-1") == NULL);
	ingest__routes_free(&rt);
}

static void test_configured(void)
{
	struct ingest_routes rt = { 0 };
	struct ingest_route *r;
	char err[512];

	TW_CHECK_INT(feed(&rt, "transform kmh", "plugin", "unit_convert", err, sizeof(err)), TW_OK);
	TW_CHECK_INT(feed(&rt, "transform kmh", "key", "speed", err, sizeof(err)), TW_OK);
	TW_CHECK_INT(feed(&rt, "transform kmh", "from", "m_s", err, sizeof(err)), TW_OK);
	TW_CHECK_INT(feed(&rt, "transform kmh", "to", "km_h", err, sizeof(err)), TW_OK);
	TW_CHECK_INT(feed(&rt, "transform probe", "plugin", TW_TEST_PLUGIN_DIR "/probe.so", err,
			  sizeof(err)), TW_OK);
	TW_CHECK_INT(feed(&rt, "route trucks", "match", "veh-truck-*", err, sizeof(err)), TW_OK);
	TW_CHECK_INT(feed(&rt, "route trucks", "transforms", " kmh ,probe", err, sizeof(err)), TW_OK);
	TW_CHECK_INT(feed(&rt, "route trucks", "groups", "fleet, alerts", err, sizeof(err)), TW_OK);
	TW_CHECK_INT(feed(&rt, "route all", "match", "*", err, sizeof(err)), TW_OK);
	TW_CHECK_INT(feed(&rt, "route all", "groups", "everything", err, sizeof(err)), TW_OK);
	TW_CHECK_INT(ingest__routes_load(&rt, TW_PLUGIN_DIR, err, sizeof(err)), TW_OK);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	TW_CHECK_INT(rt.nr, 2); /* no defaults once routes are configured */
	r = ingest__routes_match(&rt, "veh-truck-9");
	TW_CHECK(r && strcmp(r->name, "trucks") == 0);
	if (r) {
		TW_CHECK_INT(r->ngroups, 2);
		TW_CHECK_STR(r->groups[1], "alerts");
		TW_CHECK_INT(tw_pipeline_length(r->pipeline), 2);
	}
	/* first match wins, in config order */
	r = ingest__routes_match(&rt, "veh-0001");
	TW_CHECK(r && strcmp(r->name, "all") == 0);
	ingest__routes_free(&rt);
}

/* The per-device cache answers as the globs do, for a device seen before or
 * not, with or without a route, and stays bounded. */
static void test_cache(void)
{
	struct ingest_routes rt = { 0 };
	struct ingest_route *veh;
	char err[512], name[32];
	int wrong = 0;

	TW_CHECK_INT(ingest__routes_load(&rt, TW_PLUGIN_DIR, err, sizeof(err)), TW_OK);
	veh = ingest__routes_match(&rt, "veh-0001");
	TW_CHECK(veh != NULL);
	for (int pass = 0; pass < 2; pass++) {
		TW_CHECK(ingest__routes_match(&rt, "veh-0001") == veh);
		TW_CHECK(ingest__routes_match(&rt, "pump-1") == NULL);
	}
	TW_CHECK_INT(rt.cache.count, 2);
	for (int i = 0; i < INGEST_ROUTE_CACHE_MAX + 10; i++) {
		snprintf(name, sizeof(name), "%s-%d", i % 2 ? "veh" : "pump", i);
		wrong += (ingest__routes_match(&rt, name) == veh) != (i % 2);
	}
	TW_CHECK_INT(wrong, 0);
	TW_CHECK(rt.cache.count <= INGEST_ROUTE_CACHE_MAX);
	TW_CHECK(ingest__routes_match(&rt, "veh-0001") == veh);
	TW_CHECK(ingest__routes_match(&rt, "pump-1") == NULL);
	ingest__routes_free(&rt);
}

static void check_load_error(struct ingest_routes *rt, int want_rc, const char *a,
			     const char *b)
{
	char err[1024] = "";

	TW_CHECK_INT(ingest__routes_load(rt, TW_PLUGIN_DIR, err, sizeof(err)), want_rc);
	TW_CHECK(strstr(err, a) != NULL);
	TW_CHECK(!b || strstr(err, b) != NULL);
	if (!strstr(err, a) || (b && !strstr(err, b)))
		fprintf(stderr, "  message was: %s\n", err);
	ingest__routes_free(rt);
}

static void test_errors(void)
{
	struct ingest_routes rt = { 0 };
	char err[512];

	feed(&rt, "route r", "match", "*", err, sizeof(err));
	feed(&rt, "route r", "transforms", "nosuch", err, sizeof(err));
	check_load_error(&rt, TW_ERR_CONFIG, "[route r]: transforms: no section [transform nosuch]",
			 NULL);

	feed(&rt, "transform t", "key", "speed", err, sizeof(err));
	check_load_error(&rt, TW_ERR_CONFIG, "[transform t]: plugin = NAME or PATH is required", NULL);

	feed(&rt, "transform t", "plugin", "no_such_plugin", err, sizeof(err));
	check_load_error(&rt, TW_ERR_PLUGIN, TW_PLUGIN_DIR "/no_such_plugin.so", "transform 't'");

	feed(&rt, "transform avg", "plugin", "moving_average", err, sizeof(err));
	feed(&rt, "transform avg", "window", "-1", err, sizeof(err));
	check_load_error(&rt, TW_ERR_PLUGIN, "moving_average.so (transform 'avg'): init failed",
			 NULL);

	feed(&rt, "route r", "groups", "a", err, sizeof(err));
	check_load_error(&rt, TW_ERR_CONFIG, "[route r]: match = GLOB is required", NULL);

	TW_CHECK_INT(feed(&rt, "route r", "colour", "red", err, sizeof(err)), TW_ERR_CONFIG);
	TW_CHECK(strstr(err, "unknown key") != NULL);
	TW_CHECK_INT(feed(&rt, "route r", "groups", "a,,b", err, sizeof(err)), TW_ERR_CONFIG);
	TW_CHECK(strstr(err, "empty name") != NULL);
	TW_CHECK_INT(feed(&rt, "routes", "match", "x", err, sizeof(err)), TW_ERR_CONFIG);
	ingest__routes_free(&rt);
}

int main(void)
{
	TW_RUN(test_defaults);
	TW_RUN(test_configured);
	TW_RUN(test_cache);
	TW_RUN(test_errors);
	return TW_TEST_END();
}
