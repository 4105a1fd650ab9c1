/* test_ingest_envelope.c -- hub envelopes, deadletters and device ids from topics */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "ingest.h"
#include "telewire/error.h"
#include "tw_test.h"

/* The envelope of r for group (key may be NULL), malloc'd; NULL when
 * either step fails. */
static char *envelope_of(const struct tw_record *r, const char *group, const char *key)
{
	struct ingest_buf args = { 0 }, env = { 0 };
	char *s = NULL;

	if (ingest__record_args(&args, r) == TW_OK &&
	    ingest__envelope(&env, group, "telemetry", args.data, args.len, key) == TW_OK)
		s = strdup(env.data);
	ingest__buf_free(&args);
	ingest__buf_free(&env);
	return s;
}

static void test_record_envelope(void)
{
	struct ingest_buf args = { 0 }, env = { 0 };
	struct tw_record *r;

	tw_record_new(&r, "veh-0001", 1732270000123LL, 42, 0, NULL);
	tw_record_set_number(r, "speed", 48.2);
	tw_record_set_bool(r, "moving", 1);
	tw_record_set_string(r, "state", "on \"route\"");
	TW_CHECK_INT(ingest__record_args(&args, r), TW_OK);
	TW_CHECK_INT(ingest__envelope(&env, "fleet", "telemetry", args.data, args.len, "veh-0001"),
		     TW_OK);
	TW_CHECK_STR(env.data, "{\"target\":\"group\",\"name\":\"fleet\",\"method\":\"telemetry\","
		     "\"args\":[{\"device\":\"veh-0001\",\"ts\":1732270000123,\"values\":"
		     "{\"speed\":48.2,\"moving\":true,\"state\":\"on \\\"route\\\"\"},\"seq\":42}],"
		     "\"key\":\"veh-0001\"}");
	/* the same args serve a second group, in the reused buffer */
	env.len = 0;
	TW_CHECK_INT(ingest__envelope(&env, "alerts", "telemetry", args.data, args.len, NULL), TW_OK);
	TW_CHECK(strstr(env.data, "{\"target\":\"group\",\"name\":\"alerts\",") == env.data);
	TW_CHECK(!strstr(env.data, "\"key\"") && strlen(env.data) == env.len);
	ingest__buf_free(&args);
	ingest__buf_free(&env);
	tw_record_free(r);
}

static void test_no_seq(void)
{
	struct tw_record *r;
	char *env;

	tw_record_new(&r, "temp-1", 5, -1, TW_RECORD_TS_RECEIVED, NULL);
	tw_record_set_number(r, "t", 1);
	env = envelope_of(r, "temperature", "temp-1");
	TW_CHECK(env && !strstr(env, "\"seq\""));
	free(env);
	tw_record_free(r);
}

/* Whole numbers leave exact (a microsecond stamp has 16 digits); others
 * with 15 significant digits; whole numbers past 2^53 as reals. */
static void test_numbers(void)
{
	struct tw_record *r;
	char *env;

	tw_record_new(&r, "veh-2", 5, 1, 0, NULL);
	tw_record_set_number(r, "t", 1795528000123457.0);
	tw_record_set_number(r, "speed", 72);
	tw_record_set_number(r, "temp", 21.6);
	tw_record_set_number(r, "neg", -3);
	tw_record_set_number(r, "big", 1e300);
	tw_record_set_number(r, "zero", 0);
	tw_record_set_number(r, "low", -9007199254740991.0);
	tw_record_set_number(r, "frac", -0.0625);
	tw_record_set_number(r, "sum", 0.1 + 0.2);
	env = envelope_of(r, "fleet", NULL);
	TW_CHECK(env && strstr(env, "\"values\":{\"t\":1795528000123457,\"speed\":72,"
			       "\"temp\":21.6,\"neg\":-3,\"big\":1e+300,\"zero\":0,"
			       "\"low\":-9007199254740991,\"frac\":-0.0625,\"sum\":0.3}"));
	free(env);
	tw_record_free(r);
}

/* What %.15g writes (and ".0" when it looks whole). */
static void check_number(double d)
{
	char got[40], want[40];
	size_t n = ingest__number_text(d, got, sizeof(got));
	int w = snprintf(want, sizeof(want), "%.15g", d);

	if (!strpbrk(want, ".eEn"))
		memcpy(want + w, ".0", 3);
	TW_CHECK_INT(n, strlen(got));
	if (strcmp(got, want) != 0)
		TW_CHECK_STR(got, want);
}

/* The short path gives %.15g's text exactly: values of a few decimals, as
 * telemetry sends, near every power of ten, readings times a factor, 53
 * random bits at every decimal exponent, and random bit patterns, of both
 * signs. */
static void test_number_text(void)
{
	static const double edges[] = {
		1e-4, 9.99999999999999e-5, 0.00010000000000000001, 1e15 - 0.5, 999999999999999.9,
		99999999999999.98, 0.1, 0.2, 0.3, 0.1 + 0.2, 1.0 / 3, 2.0 / 3, 123456.789012345,
		1.5e-300, 5e-324, 1.7976931348623157e308, 0.5, 1e14 + 0.25, 4.35, 2.675, 1.005,
		1234567890.12345, 0.000123456789012345, 9.5, 0.95, 0.095, 21.6, 48.2,
		0.00999999999999999, 0.0999999999999999999, 9.99999999999999, 99.9999999999999999,
		999999999999999.4, 0.000999999999999999, 48.2 * 0.621371, 29.95008220000005,
		0.30000000000000004, 1e-4 * (1 + 1e-15), 1e-4 * (1 - 1e-15), 5.0000000000000005,
	};
	unsigned long long x = 0x9E3779B97F4A7C15ULL;
	size_t i;

	for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		check_number(edges[i]);
		check_number(-edges[i]);
	}
	for (i = 0; i < 300000; i++) {
		double d, scale;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		scale = 1;
		for (unsigned k = (unsigned)(x >> 60) % 8; k; k--)
			scale *= 10;
		/* a whole number of up to 12 digits over a power of ten */
		d = (double)(long long)((x >> 20) % 1000000000000ULL) / scale;
		if (d != (double)(long long)d)
			check_number((x & 1) ? -d : d);
		/* any double that is finite and not whole */
		memcpy(&d, &x, sizeof(d));
		if (isfinite(d) && d != floor(d))
			check_number(d);
		/* 53 random bits at a decimal exponent of -5..15, and a reading
		 * times a factor, as plugins compute them */
		d = (double)(x >> 11) / 9007199254740992.0 * pow(10, (double)((x >> 3) % 21) - 5);
		if (d != floor(d))
			check_number((x & 4) ? -d : d);
		d = (double)((x >> 24) % 2000) / 10 * 0.621371;
		if (d != floor(d))
			check_number(d);
	}
}

/* Strings as jansson writes them; bytes that are not UTF-8 as '?'; NaN is
 * refused by the record already. The text parses back to what went in. */
static void test_strings_and_odd_numbers(void)
{
	struct tw_record *r;
	json_t *back;
	char *env;

	tw_record_new(&r, "dev \"1\"", 7, -1, 0, NULL);
	tw_record_set_string(r, "s", "a\\b\n\t\x01 \xc3\xa9 \xe2\x82\xac /");
	tw_record_set_string(r, "bad", "x\xff\xc3y");
	TW_CHECK(tw_record_set_number(r, "nan", 0.0 / 0.0) != TW_OK);	/* never reaches JSON */
	tw_record_set_number(r, "half", 0.5);
	tw_record_set_number(r, "e", 1.5e-300);
	env = envelope_of(r, "g\"", "k\\");
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
	tw_record_free(r);
}

static void test_emit_envelope(void)
{
	struct ingest_buf env = { 0 };

	TW_CHECK_INT(ingest__envelope_text(&env, "alerts", "alert", "[{\"level\":2}]", "veh-1"),
		     TW_OK);
	TW_CHECK_STR(env.data, "{\"target\":\"group\",\"name\":\"alerts\",\"method\":\"alert\","
		     "\"args\":[{\"level\":2}],\"key\":\"veh-1\"}");
	env.len = 0;
	TW_CHECK_INT(ingest__envelope_text(&env, "alerts", "alert", "{\"level\":2}", NULL),
		     TW_ERR_JSON);
	TW_CHECK_INT(ingest__envelope_text(&env, "alerts", "alert", "[1", NULL), TW_ERR_JSON);
	ingest__buf_free(&env);
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
	TW_RUN(test_number_text);
	TW_RUN(test_strings_and_odd_numbers);
	TW_RUN(test_emit_envelope);
	TW_RUN(test_deadletter);
	TW_RUN(test_topic_device);
	return TW_TEST_END();
}
