/* test_ingest_envelope.c -- hub envelopes, deadletters and device ids from topics */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "ingest.h"
#include "telewire/error.h"
#include "tw_test.h"

static void test_record_envelope(void)
{
	struct tw_record *r;
	void *args;
	char *env;

	tw_record_new(&r, "veh-0001", 1732270000123LL, 42, 0, NULL);
	tw_record_set_number(r, "speed", 48.2);
	tw_record_set_bool(r, "moving", 1);
	tw_record_set_string(r, "state", "on \"route\"");
	args = ingest__record_args(r);
	TW_CHECK(args != NULL);
	env = ingest__envelope("fleet", "telemetry", args, "veh-0001");
	TW_CHECK_STR(env, "{\"target\":\"group\",\"name\":\"fleet\",\"method\":\"telemetry\","
		     "\"args\":[{\"device\":\"veh-0001\",\"ts\":1732270000123,\"values\":"
		     "{\"speed\":48.2,\"moving\":true,\"state\":\"on \\\"route\\\"\"},\"seq\":42}],"
		     "\"key\":\"veh-0001\"}");
	free(env);
	/* the same args serve a second group */
	env = ingest__envelope("alerts", "telemetry", args, NULL);
	TW_CHECK(env && strstr(env, "\"name\":\"alerts\"") && !strstr(env, "\"key\""));
	free(env);
	ingest__json_free(args);
	tw_record_free(r);
}

static void test_no_seq(void)
{
	struct tw_record *r;
	void *args;
	char *env;

	tw_record_new(&r, "temp-1", 5, -1, TW_RECORD_TS_RECEIVED, NULL);
	tw_record_set_number(r, "t", 1);
	args = ingest__record_args(r);
	env = ingest__envelope("temperature", "telemetry", args, "temp-1");
	TW_CHECK(env && !strstr(env, "\"seq\""));
	free(env);
	ingest__json_free(args);
	tw_record_free(r);
}

/* Whole numbers leave exact (a microsecond stamp has 16 digits); others
 * with 15 significant digits; whole numbers past 2^53 as reals. */
static void test_numbers(void)
{
	struct tw_record *r;
	void *args;
	char *env;

	tw_record_new(&r, "veh-2", 5, 1, 0, NULL);
	tw_record_set_number(r, "t", 1795528000123457.0);
	tw_record_set_number(r, "speed", 72);
	tw_record_set_number(r, "temp", 21.6);
	tw_record_set_number(r, "neg", -3);
	tw_record_set_number(r, "big", 1e300);
	tw_record_set_number(r, "zero", 0);
	tw_record_set_number(r, "low", -9007199254740991.0);
	args = ingest__record_args(r);
	env = ingest__envelope("fleet", "telemetry", args, NULL);
	TW_CHECK(env && strstr(env, "\"values\":{\"t\":1795528000123457,\"speed\":72,"
			       "\"temp\":21.6,\"neg\":-3,\"big\":1e+300,\"zero\":0,"
			       "\"low\":-9007199254740991}"));
	free(env);
	ingest__json_free(args);
	tw_record_free(r);
}

/* Strings as jansson writes them; bytes that are not UTF-8 as '?'; NaN is
 * refused by the record already. The text parses back to what went in. */
static void test_strings_and_odd_numbers(void)
{
	struct tw_record *r;
	json_t *back;
	void *args;
	char *env;

	tw_record_new(&r, "dev \"1\"", 7, -1, 0, NULL);
	tw_record_set_string(r, "s", "a\\b\n\t\x01 \xc3\xa9 \xe2\x82\xac /");
	tw_record_set_string(r, "bad", "x\xff\xc3y");
	TW_CHECK(tw_record_set_number(r, "nan", 0.0 / 0.0) != TW_OK);	/* never reaches JSON */
	tw_record_set_number(r, "half", 0.5);
	tw_record_set_number(r, "e", 1.5e-300);
	args = ingest__record_args(r);
	env = ingest__envelope("g\"", "telemetry", args, "k\\");
	TW_CHECK(env && strstr(env, "\"device\":\"dev \\\"1\\\"\""));
	TW_CHECK(env && strstr(env, "\"s\":\"a\\\\b\\n\\t\\u0001 \xc3\xa9 \xe2\x82\xac /\""));
	TW_CHECK(env && strstr(env, "\"bad\":\"x??y\""));
	TW_CHECK(env && strstr(env, "\"half\":0.5,\"e\":1.5e-300}"));
	back = env ? json_loads(env, JSON_REJECT_DUPLICATES, NULL) : NULL;
	TW_CHECK(back != NULL);
	TW_CHECK_STR(json_string_value(json_object_get(back, "name")), "g\"");
	TW_CHECK_STR(json_string_value(json_object_get(back, "key")), "k\\");
	json_decref(back);
	free(env);
	ingest__json_free(args);
	tw_record_free(r);
}

static void test_emit_envelope(void)
{
	char *env = ingest__envelope_text("alerts", "alert", "[{\"level\":2}]", "veh-1");

	TW_CHECK_STR(env, "{\"target\":\"group\",\"name\":\"alerts\",\"method\":\"alert\","
		     "\"args\":[{\"level\":2}],\"key\":\"veh-1\"}");
	free(env);
	TW_CHECK(ingest__envelope_text("alerts", "alert", "{\"level\":2}", NULL) == NULL);
	TW_CHECK(ingest__envelope_text("alerts", "alert", "[1", NULL) == NULL);
}

static void check_deadletter(const char *payload, size_t len, size_t head, const char *want)
{
	char *dl = ingest__deadletter("not JSON: x", "devices/d/telemetry", payload, len, head);
	json_t *j = dl ? json_loads(dl, 0, NULL) : NULL;

	TW_CHECK(j != NULL);
	TW_CHECK_STR(json_string_value(json_object_get(j, "payload")), want);
	TW_CHECK_STR(json_string_value(json_object_get(j, "reason")), "not JSON: x");
	TW_CHECK_STR(json_string_value(json_object_get(j, "topic")), "devices/d/telemetry");
	json_decref(j);
	free(dl);
}

static void test_deadletter(void)
{
	check_deadletter("{\"a\":", 5, 256, "{\"a\":");
	check_deadletter("abcdef", 6, 3, "abc");
	/* bytes that are not UTF-8 (and NUL) become '?', characters are not cut */
	check_deadletter("a\xff\x00" "b", 4, 256, "a??b");
	check_deadletter("caf\xc3\xa9!", 6, 256, "caf\xc3\xa9!");
	check_deadletter("caf\xc3\xa9!", 6, 4, "caf");
	check_deadletter("caf\xc3", 4, 256, "caf?");
}

static void check_topic(const char *topic, int want_rc, const char *want)
{
	char dev[64] = "";

	TW_CHECK_INT(ingest__topic_device(topic, dev, sizeof(dev)), want_rc);
	if (want)
		TW_CHECK_STR(dev, want);
}

static void test_topic_device(void)
{
	check_topic("devices/veh-0001/telemetry", TW_OK, "veh-0001");
	check_topic("site/a/devices/temp-3/telemetry", TW_OK, "temp-3");
	check_topic("devices/x", TW_OK, "x");
	check_topic("mydevices/x/telemetry", TW_ERR_INVAL, NULL);
	check_topic("devices//telemetry", TW_ERR_INVAL, NULL);
	check_topic("telemetry", TW_ERR_INVAL, NULL);
	check_topic("devices/0123456789012345678901234567890123456789012345678901234567890123456789/t",
		    TW_ERR_INVAL, NULL);
}

int main(void)
{
	TW_RUN(test_record_envelope);
	TW_RUN(test_no_seq);
	TW_RUN(test_numbers);
	TW_RUN(test_strings_and_odd_numbers);
	TW_RUN(test_emit_envelope);
	TW_RUN(test_deadletter);
	TW_RUN(test_topic_device);
	return TW_TEST_END();
}
