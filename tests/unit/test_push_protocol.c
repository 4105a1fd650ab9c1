/* test_push_protocol.c -- SignalR JSON hub protocol codec: splitting in every chunking, parsing, encoding */
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "protocol_json.h"
#include "tw_test.h"

#define RS "\x1e"

static const char stream[] =
	"{\"protocol\":\"json\",\"version\":1}" RS
	"{\"type\":6}" RS
	"{\"type\":1,\"invocationId\":\"0\",\"target\":\"JoinGroup\",\"arguments\":[\"fleet\"]}" RS
	"{\"type\":1,\"target\":\"x\",\"arguments\":[\"\\u00e9 caf\\u00e9\",{\"k\":[1,2]}]}" RS
	"{\"type\":7,\"error\":\"bye\"}" RS;

static const char *const expected[] = {
	"{\"protocol\":\"json\",\"version\":1}",
	"{\"type\":6}",
	"{\"type\":1,\"invocationId\":\"0\",\"target\":\"JoinGroup\",\"arguments\":[\"fleet\"]}",
	"{\"type\":1,\"target\":\"x\",\"arguments\":[\"\\u00e9 caf\\u00e9\",{\"k\":[1,2]}]}",
	"{\"type\":7,\"error\":\"bye\"}",
};
#define NEXPECTED (sizeof(expected) / sizeof(expected[0]))

/* Takes every whole record out of r and checks it against expected[*got]. */
static int drain(struct tw_hubproto_reader *r, size_t *got)
{
	const char *rec;
	size_t len;
	int ok = 1, rc;

	while ((rc = tw_hubproto_next(r, &rec, &len)) == TW_OK) {
		if (*got >= NEXPECTED || len != strlen(expected[*got]) ||
		    memcmp(rec, expected[*got], len) != 0)
			ok = 0;
		(*got)++;
	}
	return ok && rc == TW_ERR_INCOMPLETE;
}

/* Feeds the stream in chunks of size chunk; returns 1 when exactly the
 * expected records came out, in order. */
static int feed_chunked(size_t chunk)
{
	struct tw_hubproto_reader r;
	size_t n = sizeof(stream) - 1, got = 0;
	int ok = 1;

	tw_hubproto_reader_init(&r, TW_HUBPROTO_MAX_RECORD);
	for (size_t off = 0; off < n; off += chunk) {
		size_t len = n - off < chunk ? n - off : chunk;

		ok &= tw_hubproto_feed(&r, stream + off, len) == TW_OK;
		ok &= drain(&r, &got);
	}
	tw_hubproto_reader_free(&r);
	return ok && got == NEXPECTED;
}

/* Two chunks split at every position. */
static int feed_split(size_t at)
{
	struct tw_hubproto_reader r;
	size_t n = sizeof(stream) - 1, got = 0;
	int ok = 1;

	tw_hubproto_reader_init(&r, TW_HUBPROTO_MAX_RECORD);
	ok &= tw_hubproto_feed(&r, stream, at) == TW_OK;
	ok &= drain(&r, &got);
	ok &= tw_hubproto_feed(&r, stream + at, n - at) == TW_OK;
	ok &= drain(&r, &got);
	tw_hubproto_reader_free(&r);
	return ok && got == NEXPECTED;
}

static void test_every_chunking(void)
{
	size_t n = sizeof(stream) - 1, bad_chunk = 0, bad_split = 0;

	for (size_t chunk = 1; chunk <= n; chunk++)
		if (!feed_chunked(chunk))
			bad_chunk = chunk;
	for (size_t at = 0; at <= n; at++)
		if (!feed_split(at))
			bad_split = at ? at : n + 1;
	TW_CHECK_INT(bad_chunk, 0);
	TW_CHECK_INT(bad_split, 0);
	TW_CHECK(feed_chunked(1)); /* one byte at a time, named for the log */
}

static void test_incomplete_then_complete(void)
{
	struct tw_hubproto_reader r;
	const char *rec;
	size_t len;

	tw_hubproto_reader_init(&r, 100);
	TW_CHECK_INT(tw_hubproto_next(&r, &rec, &len), TW_ERR_INCOMPLETE);
	TW_CHECK_INT(tw_hubproto_feed(&r, "{\"type\":6}", 10), TW_OK);
	TW_CHECK_INT(tw_hubproto_next(&r, &rec, &len), TW_ERR_INCOMPLETE);
	TW_CHECK_INT(tw_hubproto_feed(&r, RS RS, 2), TW_OK);
	TW_CHECK_INT(tw_hubproto_next(&r, &rec, &len), TW_OK);
	TW_CHECK_INT(len, 10);
	TW_CHECK_INT(tw_hubproto_next(&r, &rec, &len), TW_OK); /* an empty record */
	TW_CHECK_INT(len, 0);
	TW_CHECK_INT(tw_hubproto_next(&r, &rec, &len), TW_ERR_INCOMPLETE);
	tw_hubproto_reader_free(&r);
}

/* A record of len bytes (then a separator) fed in chunks; returns the first
 * non-OK code of feed or next, or TW_OK when a record came out. */
static int feed_record_of(size_t len, size_t max, size_t chunk)
{
	char *buf = malloc(len + 1);
	struct tw_hubproto_reader r;
	const char *rec;
	size_t rlen;
	int rc = TW_OK;

	memset(buf, 'a', len);
	buf[len] = 0x1e;
	tw_hubproto_reader_init(&r, max);
	for (size_t off = 0; off < len + 1 && rc == TW_OK; off += chunk)
		rc = tw_hubproto_feed(&r, buf + off, len + 1 - off < chunk ? len + 1 - off : chunk);
	if (rc == TW_OK)
		rc = tw_hubproto_next(&r, &rec, &rlen);
	if (rc == TW_OK && rlen != len)
		rc = TW_ERR_INVAL;
	tw_hubproto_reader_free(&r);
	free(buf);
	return rc;
}

static void test_record_limit(void)
{
	size_t max = TW_HUBPROTO_MAX_RECORD;

	TW_CHECK_INT(feed_record_of(max, max, 4096), TW_OK);
	TW_CHECK_INT(feed_record_of(max + 1, max, 4096), TW_ERR_LIMIT);
	TW_CHECK_INT(feed_record_of(max + 1, max, max + 2), TW_ERR_LIMIT);
	TW_CHECK_INT(feed_record_of(40, 40, 1), TW_OK);
	TW_CHECK_INT(feed_record_of(41, 40, 1), TW_ERR_LIMIT);
}

static void test_limit_is_sticky_and_early(void)
{
	struct tw_hubproto_reader r;
	char big[64];
	const char *rec;
	size_t len;

	memset(big, 'x', sizeof(big));
	tw_hubproto_reader_init(&r, 32);
	/* No separator yet, but already over the limit: refused at once. */
	TW_CHECK_INT(tw_hubproto_feed(&r, big, sizeof(big)), TW_ERR_LIMIT);
	TW_CHECK_INT(tw_hubproto_feed(&r, RS, 1), TW_ERR_LIMIT);
	TW_CHECK_INT(tw_hubproto_next(&r, &rec, &len), TW_ERR_LIMIT);
	tw_hubproto_reader_free(&r);
	/* A small record followed by an oversized one in the same chunk. */
	tw_hubproto_reader_init(&r, 32);
	TW_CHECK_INT(tw_hubproto_feed(&r, "{}" RS "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" RS, 45),
		     TW_ERR_LIMIT);
	tw_hubproto_reader_free(&r);
}

static int parse(const char *text, struct tw_hubmsg *m, char *err)
{
	return tw_hubproto_parse(text, strlen(text), m, err, 200);
}

static void test_parse_messages(void)
{
	struct tw_hubmsg m;
	char err[200];

	TW_CHECK_INT(parse("{\"type\":1,\"invocationId\":\"7\",\"target\":\"JoinGroup\","
			   "\"arguments\":[\"fleet\"]}", &m, err), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_INVOCATION);
	TW_CHECK_STR(m.target, "JoinGroup");
	TW_CHECK_STR(m.invocation_id, "7");
	TW_CHECK_STR(json_string_value(json_array_get(m.arguments, 0)), "fleet");
	tw_hubmsg_free(&m);

	TW_CHECK_INT(parse("{\"type\":1,\"target\":\"x\",\"arguments\":[]}", &m, err), TW_OK);
	TW_CHECK(m.invocation_id == NULL);
	tw_hubmsg_free(&m);

	TW_CHECK_INT(parse("{\"type\":6}", &m, err), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_PING);
	tw_hubmsg_free(&m);

	TW_CHECK_INT(parse("{\"type\":7,\"error\":\"boom\"}", &m, err), TW_OK);
	TW_CHECK_STR(m.error, "boom");
	tw_hubmsg_free(&m);
}

static void test_parse_malformed(void)
{
	struct tw_hubmsg m;
	char err[200] = "";

	TW_CHECK_INT(parse("not json", &m, err), TW_ERR_JSON);
	TW_CHECK(strstr(err, "not valid JSON") != NULL);
	TW_CHECK_INT(parse("[1,2]", &m, err), TW_ERR_JSON);
	TW_CHECK_INT(parse("{\"target\":\"x\"}", &m, err), TW_ERR_JSON);
	TW_CHECK(strstr(err, "\"type\"") != NULL);
	TW_CHECK_INT(parse("{\"type\":\"1\"}", &m, err), TW_ERR_JSON);
	TW_CHECK_INT(parse("{\"type\":42}", &m, err), TW_ERR_PROTOCOL);
	TW_CHECK(strstr(err, "42") != NULL);
	TW_CHECK_INT(parse("{\"type\":0}", &m, err), TW_ERR_PROTOCOL);
	TW_CHECK_INT(parse("{\"type\":1,\"target\":\"x\"}", &m, err), TW_ERR_JSON);
	TW_CHECK(strstr(err, "arguments") != NULL);
	TW_CHECK_INT(parse("{\"type\":1,\"arguments\":[]}", &m, err), TW_ERR_JSON);
	TW_CHECK_INT(parse("{\"type\":1,\"target\":5,\"arguments\":[]}", &m, err), TW_ERR_JSON);
	TW_CHECK_INT(parse("{\"type\":1,\"target\":\"x\",\"invocationId\":3,\"arguments\":[]}", &m,
			   err), TW_ERR_JSON);
	TW_CHECK_INT(parse("{\"type\":6,\"type\":6}", &m, err), TW_ERR_JSON);
	TW_CHECK_INT(parse("", &m, err), TW_ERR_JSON);
}

static void test_handshake(void)
{
	char err[200] = "";
	const char *ok = "{\"protocol\":\"json\",\"version\":1}";
	const char *mp = "{\"protocol\":\"messagepack\",\"version\":1}";
	const char *v2 = "{\"protocol\":\"json\",\"version\":2}";
	const char *xml = "{\"protocol\":\"xml\",\"version\":1}";
	int proto = -1;

	TW_CHECK_INT(tw_hubproto_parse_handshake(ok, strlen(ok), &proto, err, sizeof(err)), TW_OK);
	TW_CHECK_INT(proto, TW_HUBPROTO_JSON);
	TW_CHECK_INT(tw_hubproto_parse_handshake(mp, strlen(mp), &proto, err, sizeof(err)), TW_OK);
	TW_CHECK_INT(proto, TW_HUBPROTO_MSGPACK);
	TW_CHECK_INT(tw_hubproto_parse_handshake(xml, strlen(xml), &proto, err, sizeof(err)),
		     TW_ERR_PROTOCOL);
	TW_CHECK_STR(err, "The protocol 'xml' is not supported.");
	TW_CHECK_INT(tw_hubproto_parse_handshake(v2, strlen(v2), &proto, err, sizeof(err)),
		     TW_ERR_PROTOCOL);
	TW_CHECK_STR(err, "The server does not support version 2 of the 'json' protocol.");
	TW_CHECK_INT(tw_hubproto_parse_handshake("{}", 2, &proto, err, sizeof(err)), TW_ERR_JSON);
	TW_CHECK_INT(tw_hubproto_parse_handshake("hello", 5, &proto, err, sizeof(err)), TW_ERR_JSON);
}

/* Runs one encoder into a fresh buffer and compares the bytes. */
#define CHECK_ENC(call, want) do { \
	struct tw_buf b = { 0 }; \
	TW_CHECK_INT(call, TW_OK); \
	TW_CHECK_STR(tw_buf_cstr(&b), want); \
	tw_buf_free(&b); \
} while (0)

static void test_encoders(void)
{
	json_t *args = json_pack("[s,{s:i}]", "a\"b", "n", 1);
	struct tw_buf out = { 0 };

	CHECK_ENC(tw_hubproto_encode_handshake(&b, NULL), "{}" RS);
	CHECK_ENC(tw_hubproto_encode_handshake(&b, "no \"way\""), "{\"error\":\"no \\\"way\\\"\"}" RS);
	CHECK_ENC(tw_hubproto_encode_invocation(&b, "telemetry", args),
		  "{\"type\":1,\"target\":\"telemetry\",\"arguments\":[\"a\\\"b\",{\"n\":1}]}" RS);
	CHECK_ENC(tw_hubproto_encode_completion(&b, "3", NULL, NULL),
		  "{\"type\":3,\"invocationId\":\"3\",\"result\":null}" RS);
	CHECK_ENC(tw_hubproto_encode_completion(&b, "3", "nope", NULL),
		  "{\"type\":3,\"invocationId\":\"3\",\"error\":\"nope\"}" RS);
	CHECK_ENC(tw_hubproto_encode_ping(&b), "{\"type\":6}" RS);
	CHECK_ENC(tw_hubproto_encode_close(&b, NULL, 0), "{\"type\":7}" RS);
	CHECK_ENC(tw_hubproto_encode_close(&b, "bad", 1),
		  "{\"type\":7,\"error\":\"bad\",\"allowReconnect\":true}" RS);
	/* Not an array, or a target that is not UTF-8: refused, nothing written. */
	TW_CHECK_INT(tw_hubproto_encode_invocation(&out, "t", json_array_get(args, 1)), TW_ERR_INVAL);
	TW_CHECK_INT(tw_hubproto_encode_invocation(&out, "\xff", args), TW_ERR_INVAL);
	TW_CHECK_INT(out.len, 0);
	tw_buf_free(&out);
	json_decref(args);
}

/* What the encoder writes, the reader and parser read back. */
static void test_roundtrip(void)
{
	struct tw_hubproto_reader r;
	struct tw_buf b = { 0 };
	struct tw_hubmsg m;
	const char *rec;
	size_t len;
	char err[200];
	json_t *args = json_pack("[i,s]", 5, "x");

	tw_hubproto_encode_invocation(&b, "m", args);
	tw_hubproto_encode_ping(&b);
	tw_hubproto_reader_init(&r, 1000);
	for (size_t i = 0; i < b.len; i++)
		tw_hubproto_feed(&r, b.data + i, 1);
	TW_CHECK_INT(tw_hubproto_next(&r, &rec, &len), TW_OK);
	TW_CHECK_INT(tw_hubproto_parse(rec, len, &m, err, sizeof(err)), TW_OK);
	TW_CHECK_STR(m.target, "m");
	TW_CHECK(json_equal(m.arguments, args));
	tw_hubmsg_free(&m);
	TW_CHECK_INT(tw_hubproto_next(&r, &rec, &len), TW_OK);
	TW_CHECK_INT(tw_hubproto_parse(rec, len, &m, err, sizeof(err)), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_PING);
	tw_hubmsg_free(&m);
	tw_hubproto_reader_free(&r);
	tw_buf_free(&b);
	json_decref(args);
}

int main(void)
{
	TW_RUN(test_every_chunking);
	TW_RUN(test_incomplete_then_complete);
	TW_RUN(test_record_limit);
	TW_RUN(test_limit_is_sticky_and_early);
	TW_RUN(test_parse_messages);
	TW_RUN(test_parse_malformed);
	TW_RUN(test_handshake);
	TW_RUN(test_encoders);
	TW_RUN(test_roundtrip);
	return TW_TEST_END();
}
