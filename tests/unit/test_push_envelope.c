/* test_push_envelope.c -- backplane envelopes: single, batches, every kind of bad field */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "envelope.h"
#include "tw_test.h"

/* Records what the parser delivered, as "target:name:method:args:key" lines. */
struct seen {
	char log[2048];
	size_t n;
};

static void collect(void *ctx, const struct tw_envelope *e)
{
	static const char *const t[] = { "all", "group", "user", "connection" };
	struct seen *s = ctx;
	char *args = json_dumps(e->args, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t len = strlen(s->log);

	snprintf(s->log + len, sizeof(s->log) - len, "%s:%s:%s:%s:%s;", t[e->target],
		 e->name ? e->name : "-", e->method, args ? args : "?", e->key ? e->key : "-");
	free(args);
	s->n++;
}

static int parse(const char *text, struct seen *s, struct tw_envelope_result *r)
{
	memset(s, 0, sizeof(*s));
	return tw_envelope_parse(text, strlen(text), collect, s, r);
}

static void test_single(void)
{
	struct seen s;
	struct tw_envelope_result r;

	TW_CHECK_INT(parse("{\"target\":\"group\",\"name\":\"fleet\",\"method\":\"telemetry\","
			   "\"args\":[{\"device\":\"veh-1\"}],\"key\":\"veh-1\"}", &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "group:fleet:telemetry:[{\"device\":\"veh-1\"}]:veh-1;");
	TW_CHECK_INT(r.ok, 1);
	TW_CHECK_INT(r.bad, 0);
	/* all ignores a name; args default to [] */
	TW_CHECK_INT(parse("{\"target\":\"all\",\"name\":\"x\",\"method\":\"m\"}", &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "all:-:m:[]:-;");
	TW_CHECK_INT(parse("{\"target\":\"user\",\"name\":\"u1\",\"method\":\"m\",\"args\":[1]}",
			   &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "user:u1:m:[1]:-;");
	TW_CHECK_INT(parse("{\"target\":\"connection\",\"name\":\"c1\",\"method\":\"m\",\"args\":[]}",
			   &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "connection:c1:m:[]:-;");
}

static void test_batch_with_bad_ones(void)
{
	struct seen s;
	struct tw_envelope_result r;

	TW_CHECK_INT(parse("[{\"target\":\"all\",\"method\":\"a\",\"args\":[1]},"
			   "{\"target\":\"everyone\",\"method\":\"b\"},"
			   "7,"
			   "{\"target\":\"group\",\"name\":\"g\",\"method\":\"c\",\"args\":[2]}]",
			   &s, &r), TW_ERR_JSON);
	TW_CHECK_STR(s.log, "all:-:a:[1]:-;group:g:c:[2]:-;");
	TW_CHECK_INT(r.ok, 2);
	TW_CHECK_INT(r.bad, 2);
	TW_CHECK(strstr(r.first_error, "envelope 1") != NULL);
	TW_CHECK(strstr(r.first_error, "\"target\"") != NULL);
	TW_CHECK_INT(parse("[]", &s, &r), TW_OK);
	TW_CHECK_INT(r.ok + r.bad, 0);
}

/* Parses one envelope that must be refused; returns 1 if it was, with why. */
static int refused(const char *text, const char *why)
{
	struct seen s;
	struct tw_envelope_result r;
	int rc = parse(text, &s, &r);

	if (rc == TW_ERR_JSON && s.n == 0 && r.bad == 1 && strstr(r.first_error, why))
		return 1;
	fprintf(stderr, "  not refused as expected: %s -> rc %d, error \"%s\"\n", text, rc,
		r.first_error);
	return 0;
}

static void test_bad_fields(void)
{
	char longname[400];

	TW_CHECK(refused("not json", "not valid JSON"));
	TW_CHECK(refused("", "not valid JSON"));
	TW_CHECK(refused("42", "not a JSON object"));
	TW_CHECK(refused("{\"method\":\"m\"}", "\"target\""));
	TW_CHECK(refused("{\"target\":5,\"method\":\"m\"}", "\"target\""));
	TW_CHECK(refused("{\"target\":\"group\",\"method\":\"m\"}", "\"name\""));
	TW_CHECK(refused("{\"target\":\"user\",\"name\":\"\",\"method\":\"m\"}", "\"name\""));
	TW_CHECK(refused("{\"target\":\"connection\",\"name\":3,\"method\":\"m\"}", "\"name\""));
	TW_CHECK(refused("{\"target\":\"all\"}", "\"method\""));
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"\"}", "\"method\""));
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"m\",\"args\":{}}", "\"args\""));
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"m\",\"args\":\"x\"}", "\"args\""));
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"m\",\"key\":1}", "\"key\""));
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"m\",\"method\":\"n\"}", "not valid JSON"));
	snprintf(longname, sizeof(longname), "{\"target\":\"group\",\"name\":\"%0257d\",\"method\":\"m\"}", 0);
	TW_CHECK(refused(longname, "\"name\""));
}

int main(void)
{
	TW_RUN(test_single);
	TW_RUN(test_batch_with_bad_ones);
	TW_RUN(test_bad_fields);
	return TW_TEST_END();
}
