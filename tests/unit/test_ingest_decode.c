/* test_ingest_decode.c -- the payload decoder on every shape and every class of bad input */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "telewire/error.h"
#include "tw_test.h"

#define NOW 1732270000000LL

static struct tw_decode_limits lim = { 65536, 64, 256, 1000, 300000 };

/* Decodes text (len bytes; -1: strlen) and checks the outcome and reason. */
static int decode(const char *p, long len, struct tw_decoded *d, char *reason, size_t rlen)
{
	return tw_telemetry_decode(p, len < 0 ? strlen(p) : (size_t)len, "dev-1", NOW, &lim, d,
				   reason, rlen);
}

static void check_reject(const char *payload, long len, int want_rc, const char *want)
{
	struct tw_decoded d;
	char reason[512];
	int rc = decode(payload, len, &d, reason, sizeof(reason));

	TW_CHECK_INT(rc, want_rc);
	TW_CHECK(d.n == 0 && d.recs == NULL);
	TW_CHECK(strstr(reason, want) != NULL);
	if (!strstr(reason, want))
		fprintf(stderr, "  payload %.60s: wanted \"%s\", got \"%s\"\n", payload, want, reason);
}

static double num(const struct tw_record *r, const char *key)
{
	double d = -12345;

	tw_record_get_number(r, key, &d);
	return d;
}

static void test_flat_object(void)
{
	struct tw_decoded d;
	char reason[256];
	const char *s = NULL;
	int b = -1;

	TW_CHECK_INT(decode("{\"temp\": 21.5, \"door_open\": false, \"mode\": \"eco\", \"n\": 3}",
			    -1, &d, reason, sizeof(reason)), TW_OK);
	TW_CHECK_INT(d.n, 1);
	if (d.n != 1)
		return;
	TW_CHECK_STR(tw_record_device(d.recs[0]), "dev-1");
	TW_CHECK_INT(tw_record_ts(d.recs[0]), NOW);
	TW_CHECK_INT(tw_record_flags(d.recs[0]), TW_RECORD_TS_RECEIVED);
	TW_CHECK_INT(tw_record_seq(d.recs[0]), -1);
	TW_CHECK_INT(tw_record_count(d.recs[0]), 4);
	TW_CHECK_DBL(num(d.recs[0], "temp"), 21.5, 0);
	TW_CHECK_DBL(num(d.recs[0], "n"), 3, 0);
	TW_CHECK_INT(tw_record_get_bool(d.recs[0], "door_open", &b), TW_OK);
	TW_CHECK_INT(b, 0);
	TW_CHECK_INT(tw_record_get_string(d.recs[0], "mode", &s), TW_OK);
	TW_CHECK_STR(s, "eco");
	TW_CHECK_STR(tw_record_key(d.recs[0], 0), "temp"); /* payload order kept */
	tw_decoded_free(&d);
}

static void test_flat_with_ts_and_seq(void)
{
	struct tw_decoded d;
	char reason[256];

	TW_CHECK_INT(decode("{\"ts\":1732270000123,\"seq\":5,\"temp\":1}", -1, &d, reason,
			    sizeof(reason)), TW_OK);
	TW_CHECK_INT(d.n, 1);
	if (d.n != 1)
		return;
	TW_CHECK_INT(tw_record_ts(d.recs[0]), 1732270000123LL);
	TW_CHECK_INT(tw_record_seq(d.recs[0]), 5);
	TW_CHECK_INT(tw_record_flags(d.recs[0]), 0);
	TW_CHECK_INT(tw_record_count(d.recs[0]), 1); /* ts and seq are not values */
	tw_decoded_free(&d);
}

static void test_ts_values(void)
{
	struct tw_decoded d;
	char reason[256];

	TW_CHECK_INT(decode("{\"ts\":1732270000123,\"seq\":42,\"values\":{\"temp\":21.5}}", -1,
			    &d, reason, sizeof(reason)), TW_OK);
	TW_CHECK_INT(d.n, 1);
	if (d.n != 1)
		return;
	TW_CHECK_INT(tw_record_seq(d.recs[0]), 42);
	TW_CHECK_DBL(num(d.recs[0], "temp"), 21.5, 0);
	tw_decoded_free(&d);
	/* without ts: stamped on reception */
	TW_CHECK_INT(decode("{\"values\":{\"a\":1}}", -1, &d, reason, sizeof(reason)), TW_OK);
	if (d.n == 1)
		TW_CHECK_INT(tw_record_ts(d.recs[0]), NOW);
	tw_decoded_free(&d);
}

static void test_array(void)
{
	struct tw_decoded d;
	char reason[256];

	TW_CHECK_INT(decode("[{\"ts\":1732270000123,\"values\":{\"temp\":21.5}},"
			    " {\"ts\":1732270001123,\"values\":{\"temp\":21.6}}, {\"hum\": 40}]",
			    -1, &d, reason, sizeof(reason)), TW_OK);
	TW_CHECK_INT(d.n, 3);
	if (d.n != 3)
		return;
	TW_CHECK_INT(tw_record_ts(d.recs[1]), 1732270001123LL);
	TW_CHECK_DBL(num(d.recs[1], "temp"), 21.6, 0);
	TW_CHECK_DBL(num(d.recs[2], "hum"), 40, 0);
	TW_CHECK_INT(tw_record_ts(d.recs[2]), NOW);
	tw_decoded_free(&d);
}

static void test_not_json(void)
{
	check_reject("{\"temp\": 21.5", -1, TW_ERR_JSON, "not JSON: ");
	check_reject("{\"temp\": 21.5", -1, TW_ERR_JSON, "at line 1 column");
	check_reject("hello", -1, TW_ERR_JSON, "not JSON: ");
	check_reject("{\"a\":1}{\"b\":2}", -1, TW_ERR_JSON, "not JSON: ");
	check_reject("{\"a\":1,\n\"a\":2}", -1, TW_ERR_JSON, "duplicate");
	check_reject("{\"a\":1,\n\"b\":}", -1, TW_ERR_JSON, "at line 2 column");
	check_reject("", 0, TW_ERR_JSON, "empty payload");
	check_reject("{\"a\":\"\\u0000\"}", -1, TW_ERR_JSON, "not JSON: ");
}

static void test_invalid_utf8(void)
{
	check_reject("{\"name\":\"caf\xc3\"}", -1, TW_ERR_JSON, "not JSON: ");
	check_reject("{\"n\xff\":1}", -1, TW_ERR_JSON, "not JSON: ");
	check_reject("{\"s\":\"\xed\xa0\x80\"}", -1, TW_ERR_JSON, "not JSON: "); /* surrogate */
}

/* Every strict prefix of a valid payload is rejected, none crashes. */
static void test_truncated_everywhere(void)
{
	const char *full = "[{\"ts\":1732270000123,\"seq\":1,\"values\":{\"t\":2.5,\"s\":\"x\"}}]";
	size_t len = strlen(full);
	int bad = 0;

	for (size_t n = 1; n < len; n++) {
		char *copy = malloc(n); /* exactly n bytes: no terminator to lean on */
		struct tw_decoded d;
		char reason[256];

		memcpy(copy, full, n);
		if (tw_telemetry_decode(copy, n, "dev-1", NOW, &lim, &d, reason,
					sizeof(reason)) != TW_ERR_JSON || !strstr(reason, "not JSON"))
			bad++;
		tw_decoded_free(&d);
		free(copy);
	}
	TW_CHECK_INT(bad, 0);
}

static void test_wrong_shapes(void)
{
	check_reject("42", -1, TW_ERR_JSON, "payload must be a JSON object or array, got a number");
	check_reject("\"x\"", -1, TW_ERR_JSON, "got a string");
	check_reject("null", -1, TW_ERR_JSON, "got null");
	check_reject("[]", -1, TW_ERR_JSON, "empty array");
	check_reject("[1]", -1, TW_ERR_JSON, "record 0: must be an object, got a number");
	check_reject("[{\"a\":1},[{\"a\":1}]]", -1, TW_ERR_JSON, "record 1: must be an object, got an array");
	check_reject("{\"values\":[1,2]}", -1, TW_ERR_JSON, "values must be an object, got an array");
	check_reject("{\"values\":5}", -1, TW_ERR_JSON, "values must be an object");
	check_reject("{\"values\":{\"a\":1},\"b\":2}", -1, TW_ERR_JSON, "unexpected key 'b' beside values");
	check_reject("{}", -1, TW_ERR_JSON, "no values");
	check_reject("{\"ts\":1732270000000}", -1, TW_ERR_JSON, "no values");
	check_reject("{\"values\":{}}", -1, TW_ERR_JSON, "no values");
	check_reject("{\"\":1}", -1, TW_ERR_JSON, "empty field name");
}

static void test_bad_values(void)
{
	check_reject("{\"a\":{\"b\":1}}", -1, TW_ERR_JSON, "field 'a': an object is not a value");
	check_reject("{\"values\":{\"a\":[1]}}", -1, TW_ERR_JSON, "field 'a': an array is not a value");
	check_reject("{\"a\":null}", -1, TW_ERR_JSON, "field 'a': null is not a value");
	check_reject("[{\"a\":1},{\"b\":null}]", -1, TW_ERR_JSON, "record 1: field 'b': null");
}

static void test_ts_and_seq(void)
{
	check_reject("{\"ts\":1.5,\"values\":{\"a\":1}}", -1, TW_ERR_JSON,
		     "ts must be an integer number of milliseconds, got a number");
	check_reject("{\"ts\":\"1732270000000\",\"a\":1}", -1, TW_ERR_JSON,
		     "ts must be an integer number of milliseconds, got a string");
	check_reject("{\"ts\":-1,\"a\":1}", -1, TW_ERR_JSON, "ts must not be negative, got -1");
	/* 2 days ahead */
	check_reject("{\"ts\":1732442800000,\"a\":1}", -1, TW_ERR_JSON,
		     "ts is 2 days in the future (limit 300 s)");
	check_reject("{\"ts\":1732271000000,\"a\":1}", -1, TW_ERR_JSON,
		     "ts is 16 minutes in the future (limit 300 s)");
	check_reject("{\"ts\":1732280000000,\"a\":1}", -1, TW_ERR_JSON,
		     "ts is 2 hours in the future (limit 300 s)");
	check_reject("{\"ts\":1732270000000,\"seq\":-3,\"a\":1}", -1, TW_ERR_JSON,
		     "seq must be a non-negative integer");
	check_reject("{\"seq\":1.5,\"a\":1}", -1, TW_ERR_JSON, "seq must be a non-negative integer");
}

static void test_ts_edges(void)
{
	struct tw_decoded d;
	char reason[256], p[128];

	/* exactly at the limit is fine; the past has no limit */
	snprintf(p, sizeof(p), "{\"ts\":%lld,\"a\":1}", NOW + 300000);
	TW_CHECK_INT(decode(p, -1, &d, reason, sizeof(reason)), TW_OK);
	tw_decoded_free(&d);
	TW_CHECK_INT(decode("{\"ts\":0,\"a\":1}", -1, &d, reason, sizeof(reason)), TW_OK);
	tw_decoded_free(&d);
	snprintf(p, sizeof(p), "{\"ts\":%lld,\"a\":1}", NOW + 301000);
	check_reject(p, -1, TW_ERR_JSON, "ts is 301 s in the future (limit 300 s)");
}

static void test_limits(void)
{
	struct tw_decoded d;
	char reason[256], *big, key[140];
	size_t n;

	/* payload size: checked before parsing */
	big = malloc(70000);
	memset(big, ' ', 70000);
	big[0] = '{';
	check_reject(big, 70000, TW_ERR_LIMIT, "payload is 70000 bytes, limit 65536");
	/* string length: 256 fits, 300 does not */
	n = (size_t)snprintf(big, 70000, "{\"x\":\"");
	memset(big + n, 'a', 256);
	memcpy(big + n + 256, "\"}", 3);
	TW_CHECK_INT(decode(big, -1, &d, reason, sizeof(reason)), TW_OK);
	tw_decoded_free(&d);
	memset(big + n, 'a', 300);
	memcpy(big + n + 300, "\"}", 3);
	check_reject(big, -1, TW_ERR_LIMIT, "field 'x': string of 300 bytes, limit 256");
	/* fields: 64 fit, 80 do not */
	for (int count = 64; count <= 80; count += 16) {
		n = (size_t)snprintf(big, 70000, "{");
		for (int i = 0; i < count; i++)
			n += (size_t)snprintf(big + n, 70000 - n, "%s\"k%d\":%d", i ? "," : "", i, i);
		snprintf(big + n, 70000 - n, "}");
		if (count == 64) {
			TW_CHECK_INT(decode(big, -1, &d, reason, sizeof(reason)), TW_OK);
			tw_decoded_free(&d);
		} else {
			check_reject(big, -1, TW_ERR_LIMIT, "too many fields: 80, limit 64");
		}
	}
	/* records per array */
	lim.max_records = 2;
	check_reject("[{\"a\":1},{\"a\":2},{\"a\":3}]", -1, TW_ERR_LIMIT, "too many records: 3, limit 2");
	lim.max_records = 1000;
	/* field name length */
	memset(key, 'k', 129);
	key[129] = '\0';
	snprintf(big, 70000, "{\"%s\":1}", key);
	check_reject(big, -1, TW_ERR_LIMIT, "field name of 129 bytes, limit 128");
	free(big);
}

static void test_defaults_and_device(void)
{
	struct tw_decoded d;
	char reason[256];

	/* NULL limits: the documented defaults */
	TW_CHECK_INT(tw_telemetry_decode("{\"a\":1}", 7, "d", NOW, NULL, &d, reason,
					 sizeof(reason)), TW_OK);
	tw_decoded_free(&d);
	TW_CHECK_INT(tw_telemetry_decode("{\"a\":1}", 7, "", NOW, NULL, &d, reason,
					 sizeof(reason)), TW_ERR_INVAL);
	TW_CHECK(strstr(reason, "device id") != NULL);
}

int main(void)
{
	TW_RUN(test_flat_object);
	TW_RUN(test_flat_with_ts_and_seq);
	TW_RUN(test_ts_values);
	TW_RUN(test_array);
	TW_RUN(test_not_json);
	TW_RUN(test_invalid_utf8);
	TW_RUN(test_truncated_everywhere);
	TW_RUN(test_wrong_shapes);
	TW_RUN(test_bad_values);
	TW_RUN(test_ts_and_seq);
	TW_RUN(test_ts_edges);
	TW_RUN(test_limits);
	TW_RUN(test_defaults_and_device);
	return TW_TEST_END();
}
