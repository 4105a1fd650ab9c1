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

/* ---- the fast path against jansson's, over generated payloads ---- */

static unsigned long long rng = 88172645463325252ULL;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

struct gen {
	char *p;
	size_t len, cap;
};

static void put(struct gen *g, const char *s)
{
	size_t n = strlen(s);

	if (g->len + n + 1 > g->cap) {
		g->cap = (g->len + n + 1) * 2;
		g->p = realloc(g->p, g->cap);
	}
	memcpy(g->p + g->len, s, n + 1);
	g->len += n;
}

static void ws(struct gen *g)
{
	static const char *const w[] = { "", "", "", " ", "\n  ", "\t", "\r\n" };

	put(g, w[rnd(7)]);
}

static void key(struct gen *g, int depth, unsigned i)
{
	static const char *const keys[] = {
		"\"temp\"", "\"speed\"", "\"ts\"", "\"seq\"", "\"values\"", "\"door\"", "\"state\"",
		"\"a\"", "\"b\"", "\"\"", "\"k\\u00e9y\"", "\"cl\xc3\xa9\"", "\"x y\"", "\"q\\\"\"",
	};
	char buf[160];

	if (rnd(5)) {	/* mostly a name of its own */
		snprintf(buf, sizeof(buf), "\"f%u\"", i);
		put(g, buf);
		return;
	}
	if (rnd(40) == 0) {	/* a name past TW_RECORD_MAX_KEY, or at it */
		size_t n = 127 + rnd(4);

		buf[0] = '"';
		memset(buf + 1, 'k', n);
		buf[n + 1] = '"';
		buf[n + 2] = '\0';
		put(g, buf);
		return;
	}
	put(g, keys[rnd(depth ? 13 : 14)]);
}

static void value(struct gen *g, int depth);

static void object(struct gen *g, int depth, unsigned members)
{
	put(g, "{");
	ws(g);
	for (unsigned i = 0; i < members; i++) {
		if (i) {
			put(g, ",");
			ws(g);
		}
		key(g, depth, i);
		ws(g);
		put(g, ":");
		ws(g);
		value(g, depth + 1);
		ws(g);
	}
	put(g, "}");
}

static void value(struct gen *g, int depth)
{
	static const char *const scalars[] = {
		"0", "-0", "1", "-17", "21.5", "-0.0", "1e2", "1E-2", "2.5e+3", "123456789012345678",
		"1234567890123456789", "-123456789012345678", "99999999999999999999", "01", "1.",
		".5", "-", "1e400", "1e-400", "4.9e-324", "0.1000000000000000055511151231257827",
		"true", "false", "null", "tru", "\"eco\"", "\"\"", "\"a\\nb\"", "\"\\u00e9\"",
		"\"caf\xc3\xa9\"", "\"bad\xff\"", "\"tab\tin\"", "[1,2]", "[]", "1732270000000",
		"1732270300000", "1732270300001", "1832270000000", "-5", "5", "\"1732270000000\"",
		"\"~!@#$%^&*()_+{}|:<>?\"",
	};

	static const char *const good[] = {
		"0", "1", "-17", "21.5", "40.0", "1e2", "123456789012345678", "true", "false",
		"\"eco\"", "\"\"", "-0.5", "3.14159265358979",
	};

	if (rnd(4)) {
		put(g, good[rnd(sizeof(good) / sizeof(good[0]))]);
		return;
	}
	if (depth == 1 && rnd(6) == 0) {
		object(g, depth, rnd(5));
		return;
	}
	if (rnd(200) == 0) {	/* a string over max_string (256) */
		char buf[300];

		buf[0] = '"';
		memset(buf + 1, 's', 257);
		buf[258] = '"';
		buf[259] = '\0';
		put(g, buf);
		return;
	}
	put(g, scalars[rnd(sizeof(scalars) / sizeof(scalars[0]))]);
}

static void payload(struct gen *g)
{
	g->len = 0;
	put(g, "");
	ws(g);
	switch (rnd(10)) {
	case 0:	/* an array of records */
		put(g, "[");
		object(g, 0, 1 + rnd(3));
		put(g, ",");
		object(g, 0, 1 + rnd(3));
		put(g, "]");
		break;
	case 1:
	case 2:	/* {"ts","seq","values"}, now and then with something beside */
		put(g, "{\"ts\":");
		put(g, rnd(4) ? "1732269999000" : "1732270000500");
		if (rnd(2))
			put(g, ",\"seq\":42");
		if (rnd(8) == 0)
			put(g, ",\"extra\":1");
		put(g, ",\"values\":");
		if (rnd(10) == 0)
			put(g, "7");
		else
			object(g, 1, rnd(6));
		put(g, "}");
		break;
	default:
		object(g, 0, rnd(4) == 0 ? rnd(70) : 1 + rnd(6));
		break;
	}
	ws(g);
	if (rnd(30) == 0)
		put(g, rnd(2) ? "x" : "{}");
}

/* Fails unless both paths made the same records. */
static int same_records(const struct tw_decoded *a, const struct tw_decoded *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct tw_record *x = a->recs[i], *y = b->recs[i];
		size_t n = tw_record_count(x);

		if (strcmp(tw_record_device(x), tw_record_device(y)) || tw_record_ts(x) != tw_record_ts(y) ||
		    tw_record_seq(x) != tw_record_seq(y) || tw_record_flags(x) != tw_record_flags(y) ||
		    n != tw_record_count(y))
			return 0;
		for (size_t k = 0; k < n; k++) {
			const char *name = tw_record_key(x, k), *s1 = NULL, *s2 = NULL;
			double d1 = 0, d2 = 0;
			int b1 = 0, b2 = 0;

			if (strcmp(name, tw_record_key(y, k)) ||
			    tw_record_type(x, name) != tw_record_type(y, name))
				return 0;
			tw_record_get_number(x, name, &d1);
			tw_record_get_number(y, name, &d2);
			tw_record_get_bool(x, name, &b1);
			tw_record_get_bool(y, name, &b2);
			tw_record_get_string(x, name, &s1);
			tw_record_get_string(y, name, &s2);
			if (memcmp(&d1, &d2, sizeof(d1)) || b1 != b2 || (s1 != s2 && (!s1 || !s2 || strcmp(s1, s2))))
				return 0;
		}
	}
	return 1;
}

/* Whatever the fast path takes, jansson's path takes the same way; what it
 * leaves, the whole decoder answers as jansson's path does. Payloads are
 * generated from the shapes above, then some cut short or with a byte
 * changed. */
static void test_fast_path_agrees(void)
{
	struct gen g = { 0 };
	int fast = 0, left = 0, bad = 0;

	for (int i = 0; i < 40000; i++) {
		struct tw_decoded f, j, d;
		char r1[512], r2[512];
		int rf, rj, rd;
		size_t len;

		payload(&g);
		len = g.len;
		if (rnd(8) == 0 && len > 1)
			len = 1 + rnd((unsigned)len - 1);
		else if (rnd(8) == 0)
			g.p[rnd((unsigned)len)] = "{}[]\",:\\ 0e.-ax\x80"[rnd(17)];
		rf = tw_telemetry_decode_fast(g.p, len, "dev-1", NOW, &lim, &f);
		rj = tw_telemetry_decode_json(g.p, len, "dev-1", NOW, &lim, &j, r1, sizeof(r1));
		rd = tw_telemetry_decode(g.p, len, "dev-1", NOW, &lim, &d, r2, sizeof(r2));
		if (rf == TW_OK) {
			fast++;
			TW_CHECK_INT(rj, TW_OK);
			TW_CHECK(same_records(&f, &j));
			if (rj != TW_OK || !same_records(&f, &j))
				fprintf(stderr, "  fast path differs on: %.*s\n", (int)len, g.p);
		} else {
			TW_CHECK_INT(rf, TW_ERR_AGAIN);
			TW_CHECK(f.n == 0 && f.recs == NULL);
			left++;
		}
		bad += rj != TW_OK;
		TW_CHECK_INT(rd, rj);
		TW_CHECK(same_records(&d, &j));
		if (rd != TW_OK)
			TW_CHECK_STR(r2, r1);
		tw_decoded_free(&f);
		tw_decoded_free(&j);
		tw_decoded_free(&d);
	}
	printf("   fast path took %d payloads, left %d (%d rejected)\n", fast, left, bad);
	TW_CHECK(fast > 4000);
	TW_CHECK(bad > 4000);
	free(g.p);
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
	TW_RUN(test_fast_path_agrees);
	return TW_TEST_END();
}
