/* test_push_msgpack.c -- SignalR MessagePack hub protocol codec: exact bytes, splitting in every chunking, parsing, bad input */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "protocol_msgpack.h"
#include "tw_test.h"

#define BYTES(...) ((const unsigned char[]){ __VA_ARGS__ })
#define NBYTES(...) sizeof((const unsigned char[]){ __VA_ARGS__ })

static void print_hex(const char *label, const unsigned char *p, size_t n)
{
	fprintf(stderr, "  %s (%zu):", label, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %02x", p[i]);
	fputc('\n', stderr);
}

/* 1 when got holds exactly want; else prints both. */
static int same_bytes(const void *got, size_t ngot, const unsigned char *want, size_t nwant)
{
	if (ngot == nwant && memcmp(got, want, nwant) == 0)
		return 1;
	print_hex("expected", want, nwant);
	print_hex("got     ", got, ngot);
	return 0;
}

#define CHECK_BUF(b, ...) TW_CHECK(same_bytes((b)->data, (b)->len, BYTES(__VA_ARGS__), \
					      NBYTES(__VA_ARGS__)))

/* Runs one encoder into a fresh buffer and compares the bytes. */
#define CHECK_ENC(call, ...) do { \
	struct tw_buf b = { 0 }; \
	TW_CHECK_INT(call, TW_OK); \
	CHECK_BUF(&b, __VA_ARGS__); \
	tw_buf_free(&b); \
} while (0)

/* Bytes derived by hand from HubProtocol.md's MessagePack section and the
 * .NET server's message shapes, each behind its VarInt length. */
static void test_encode_exact(void)
{
	json_t *args = json_pack("[i]", 42), *result = json_integer(42);

	CHECK_ENC(tw_hubmp_encode_ping(&b), 0x02, 0x91, 0x06);
	CHECK_ENC(tw_hubmp_encode_close(&b, NULL, 0), 0x04, 0x93, 0x07, 0xc0, 0xc2);
	CHECK_ENC(tw_hubmp_encode_close(&b, "", 0), 0x04, 0x93, 0x07, 0xc0, 0xc2);
	CHECK_ENC(tw_hubmp_encode_close(&b, NULL, 1), 0x04, 0x93, 0x07, 0xc0, 0xc3);
	CHECK_ENC(tw_hubmp_encode_close(&b, "xyz", 1),
		  0x07, 0x93, 0x07, 0xa3, 'x', 'y', 'z', 0xc3);
	/* The spec's non-blocking Invocation example: [1, {}, nil, "method", [42], []]. */
	CHECK_ENC(tw_hubmp_encode_invocation(&b, "method", args),
		  0x0e, 0x96, 0x01, 0x80, 0xc0, 0xa6, 'm', 'e', 't', 'h', 'o', 'd', 0x91, 0x2a, 0x90);
	/* The spec's three Completion examples. */
	CHECK_ENC(tw_hubmp_encode_completion(&b, "xyz", "Error", NULL),
		  0x0e, 0x95, 0x03, 0x80, 0xa3, 'x', 'y', 'z', 0x01, 0xa5, 'E', 'r', 'r', 'o', 'r');
	CHECK_ENC(tw_hubmp_encode_completion(&b, "xyz", NULL, NULL),
		  0x08, 0x94, 0x03, 0x80, 0xa3, 'x', 'y', 'z', 0x02);
	CHECK_ENC(tw_hubmp_encode_completion(&b, "xyz", NULL, result),
		  0x09, 0x95, 0x03, 0x80, 0xa3, 'x', 'y', 'z', 0x03, 0x2a);
	/* An error wins over a result, as in the .NET server. */
	CHECK_ENC(tw_hubmp_encode_completion(&b, "xyz", "E", result),
		  0x0a, 0x95, 0x03, 0x80, 0xa3, 'x', 'y', 'z', 0x01, 0xa1, 'E');
	json_decref(result);
	json_decref(args);
}

/* Every JSON value kind, each in its smallest MessagePack form. */
static void test_encode_values(void)
{
	json_t *args = json_pack("[i,i,i,i,i,f,s,b,b,n,{s:[i]},I,I,s,I]", -1, -33, 128, 70000, 127,
				 1.5, "\xc3\xa9", 1, 0, "k", 1, (json_int_t)4294967296LL,
				 (json_int_t)-2147483649LL, "", (json_int_t)LLONG_MIN);

	CHECK_ENC(tw_hubmp_encode_invocation(&b, "v", args),
		  0x43, 0x96, 0x01, 0x80, 0xc0, 0xa1, 'v', 0x9f,
		  0xff,					/* -1 */
		  0xd0, 0xdf,				/* -33 */
		  0xcc, 0x80,				/* 128 */
		  0xce, 0x00, 0x01, 0x11, 0x70,		/* 70000 */
		  0x7f,					/* 127 */
		  0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,	/* 1.5 */
		  0xa2, 0xc3, 0xa9,			/* "é" */
		  0xc3, 0xc2, 0xc0,			/* true false null */
		  0x81, 0xa1, 'k', 0x91, 0x01,		/* {"k":[1]} */
		  0xcf, 0, 0, 0, 0x01, 0, 0, 0, 0,	/* 2^32 */
		  0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, /* -2^31 - 1 */
		  0xa0,					/* "" */
		  0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0,	/* LLONG_MIN */
		  0x90);
	json_decref(args);
}

/* A body of 128 bytes or more takes a two-byte prefix, low bits first. */
static void test_encode_long_prefix(void)
{
	char target[201];
	struct tw_buf b = { 0 };
	json_t *args = json_array();
	size_t body;

	memset(target, 't', 200);
	target[200] = '\0';
	TW_CHECK_INT(tw_hubmp_encode_invocation(&b, target, args), TW_OK);
	body = 1 + 1 + 1 + 1 + 2 + 200 + 1 + 1;	/* 96 01 80 c0 d9 c8 ... 90 90 */
	TW_CHECK_INT(b.len, body + 2);
	TW_CHECK_INT((unsigned char)b.data[0], (body & 0x7f) | 0x80);
	TW_CHECK_INT((unsigned char)b.data[1], body >> 7);
	TW_CHECK_INT((unsigned char)b.data[6], 0xd9);	/* str 8 */
	TW_CHECK_INT((unsigned char)b.data[7], 200);
	tw_buf_free(&b);
	json_decref(args);
}

/* k arrays nested inside each other around the integer 1. */
static json_t *nested(int k)
{
	json_t *v = json_integer(1);

	for (int i = 0; i < k; i++) {
		json_t *a = json_array();

		json_array_append_new(a, v);
		v = a;
	}
	return v;
}

static void test_encode_refused(void)
{
	struct tw_buf out = { 0 };
	json_t *args = json_array(), *obj = json_object();
	json_t *deep_ok = nested(TW_HUBMP_MAX_DEPTH - 1), *deep_bad = nested(TW_HUBMP_MAX_DEPTH);

	tw_buf_append(&out, "keep", 4);
	TW_CHECK_INT(tw_hubmp_encode_invocation(&out, NULL, args), TW_ERR_INVAL);
	TW_CHECK_INT(tw_hubmp_encode_invocation(&out, "\xff", args), TW_ERR_INVAL);
	TW_CHECK_INT(tw_hubmp_encode_invocation(&out, "\xed\xa0\x80", args), TW_ERR_INVAL);
	TW_CHECK_INT(tw_hubmp_encode_invocation(&out, "t", obj), TW_ERR_INVAL);
	TW_CHECK_INT(tw_hubmp_encode_invocation(&out, "t", NULL), TW_ERR_INVAL);
	TW_CHECK_INT(tw_hubmp_encode_invocation(&out, "t", deep_bad), TW_ERR_INVAL);
	TW_CHECK_INT(tw_hubmp_encode_completion(&out, NULL, NULL, NULL), TW_ERR_INVAL);
	TW_CHECK_INT(tw_hubmp_encode_completion(&out, "1", "\xc0\x80", NULL), TW_ERR_INVAL);
	TW_CHECK_INT(tw_hubmp_encode_close(&out, "\xf8", 0), TW_ERR_INVAL);
	/* Nothing was left behind by the refused calls. */
	TW_CHECK(same_bytes(out.data, out.len, (const unsigned char *)"keep", 4));
	/* The deepest accepted value still parses back. */
	TW_CHECK_INT(tw_hubmp_encode_invocation(&out, "t", deep_ok), TW_OK);
	{
		struct tw_hubmsg m;
		char err[200] = "";

		TW_CHECK_INT(tw_hubmp_parse(out.data + 5, out.len - 5, &m, err, sizeof(err)), TW_OK);
		TW_CHECK(json_equal(m.arguments, deep_ok));
		tw_hubmsg_free(&m);
	}
	tw_buf_free(&out);
	json_decref(deep_ok);
	json_decref(deep_bad);
	json_decref(obj);
	json_decref(args);
}

/* ---- reader ---- */

static struct tw_buf stream;
static struct tw_buf expected_body[8];
static size_t nexpected;

/* Appends one message (already length-prefixed) and records its body. */
static void add_expected(const struct tw_buf *msg, size_t prefix)
{
	tw_buf_append(&stream, msg->data, msg->len);
	tw_buf_append(&expected_body[nexpected++], msg->data + prefix, msg->len - prefix);
}

static void build_stream(void)
{
	static const unsigned char client_inv[] = {
		0x12, 0x96, 0x01, 0x80, 0xa1, '7', 0xa9, 'J', 'o', 'i', 'n', 'G', 'r', 'o', 'u', 'p',
		0x91, 0x2a, 0x90 };
	static const unsigned char empty[] = { 0x00 };
	json_t *args = json_pack("[s,{s:[i,f]}]", "fleet", "pos", 5, 2.25);
	json_t *big = json_array();
	struct tw_buf b = { 0 };
	char text[300];

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	json_array_append_new(big, json_string(text));
	tw_hubmp_encode_ping(&b);
	add_expected(&b, 1);
	b.len = 0;
	tw_buf_append(&b, client_inv, sizeof(client_inv));
	add_expected(&b, 1);
	b.len = 0;
	tw_hubmp_encode_invocation(&b, "telemetry", args);
	add_expected(&b, 1);
	b.len = 0;
	tw_buf_append(&b, empty, sizeof(empty));
	add_expected(&b, 1);
	b.len = 0;
	tw_hubmp_encode_invocation(&b, "big", big);	/* two-byte prefix */
	add_expected(&b, 2);
	b.len = 0;
	tw_hubmp_encode_close(&b, "bye", 1);
	add_expected(&b, 1);
	tw_buf_free(&b);
	json_decref(big);
	json_decref(args);
}

/* Takes every whole message out of r and checks it against the next expected. */
static int drain(struct tw_hubmp_reader *r, size_t *got)
{
	const char *rec;
	size_t len;
	int ok = 1, rc;

	while ((rc = tw_hubmp_next(r, &rec, &len)) == TW_OK) {
		if (*got >= nexpected || len != expected_body[*got].len ||
		    (len && memcmp(rec, expected_body[*got].data, len) != 0))
			ok = 0;
		(*got)++;
	}
	return ok && rc == TW_ERR_INCOMPLETE;
}

static int feed_chunked(size_t chunk)
{
	struct tw_hubmp_reader r;
	size_t got = 0;
	int ok = 1;

	tw_hubmp_reader_init(&r, 1000);
	for (size_t off = 0; off < stream.len; off += chunk) {
		size_t len = stream.len - off < chunk ? stream.len - off : chunk;

		ok &= tw_hubmp_feed(&r, stream.data + off, len) == TW_OK;
		ok &= drain(&r, &got);
	}
	tw_hubmp_reader_free(&r);
	return ok && got == nexpected;
}

static int feed_split(size_t at)
{
	struct tw_hubmp_reader r;
	size_t got = 0;
	int ok = 1;

	tw_hubmp_reader_init(&r, 1000);
	ok &= tw_hubmp_feed(&r, stream.data, at) == TW_OK;
	ok &= drain(&r, &got);
	ok &= tw_hubmp_feed(&r, stream.data + at, stream.len - at) == TW_OK;
	ok &= drain(&r, &got);
	tw_hubmp_reader_free(&r);
	return ok && got == nexpected;
}

static void test_every_chunking(void)
{
	size_t bad_chunk = 0, bad_split = 0;

	TW_CHECK_INT(nexpected, 6);
	for (size_t chunk = 1; chunk <= stream.len; chunk++)
		if (!feed_chunked(chunk))
			bad_chunk = chunk;
	for (size_t at = 0; at <= stream.len; at++)
		if (!feed_split(at))
			bad_split = at ? at : stream.len + 1;
	TW_CHECK_INT(bad_chunk, 0);
	TW_CHECK_INT(bad_split, 0);
	TW_CHECK(feed_chunked(1)); /* one byte at a time, named for the log */
}

/* Every message of the stream parses, whatever the chunking gave back. */
static void test_stream_parses(void)
{
	static const int types[] = { TW_HUBMSG_PING, TW_HUBMSG_INVOCATION, TW_HUBMSG_INVOCATION, 0,
				     TW_HUBMSG_INVOCATION, TW_HUBMSG_CLOSE };
	char err[200];

	for (size_t i = 0; i < nexpected; i++) {
		struct tw_hubmsg m;
		int rc = tw_hubmp_parse(expected_body[i].data, expected_body[i].len, &m, err,
					sizeof(err));

		TW_CHECK_INT(rc, types[i] ? TW_OK : TW_ERR_JSON);
		TW_CHECK_INT(m.type, types[i]);
		tw_hubmsg_free(&m);
	}
}

static void test_incomplete_prefix(void)
{
	struct tw_hubmp_reader r;
	const char *rec;
	size_t len;

	tw_hubmp_reader_init(&r, 1000);
	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_ERR_INCOMPLETE);
	/* 0x80 alone: the prefix goes on. */
	TW_CHECK_INT(tw_hubmp_feed(&r, "\x80", 1), TW_OK);
	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_ERR_INCOMPLETE);
	/* 0x80 0x01 = 128: still waiting for the body. */
	TW_CHECK_INT(tw_hubmp_feed(&r, "\x01", 1), TW_OK);
	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_ERR_INCOMPLETE);
	for (int i = 0; i < 127; i++)
		TW_CHECK_INT(tw_hubmp_feed(&r, "a", 1), TW_OK);
	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_ERR_INCOMPLETE);
	TW_CHECK_INT(tw_hubmp_feed(&r, "b\x00", 2), TW_OK);	/* last byte, then an empty one */
	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_OK);
	TW_CHECK_INT(len, 128);
	TW_CHECK_INT(rec[127], 'b');
	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_OK);
	TW_CHECK_INT(len, 0);
	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_ERR_INCOMPLETE);
	tw_hubmp_reader_free(&r);
}

/* Feeds bytes to a fresh reader one at a time; returns the first non-OK
 * code of feed or next, or TW_OK. */
static int feed_bytes(const unsigned char *p, size_t n, size_t max)
{
	struct tw_hubmp_reader r;
	const char *rec;
	size_t len;
	int rc = TW_OK;

	tw_hubmp_reader_init(&r, max);
	for (size_t i = 0; i < n && rc == TW_OK; i++)
		rc = tw_hubmp_feed(&r, p + i, 1);
	if (rc == TW_OK)
		rc = tw_hubmp_next(&r, &rec, &len);
	tw_hubmp_reader_free(&r);
	return rc;
}

#define FEED(max, ...) feed_bytes(BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__), max)

static void test_bad_prefix(void)
{
	/* Six prefix bytes, and five whose last carries more than 3 bits. */
	TW_CHECK_INT(FEED(SIZE_MAX, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), TW_ERR_LIMIT);
	TW_CHECK_INT(FEED(SIZE_MAX, 0xff, 0xff, 0xff, 0xff, 0x08), TW_ERR_LIMIT);
	TW_CHECK_INT(FEED(SIZE_MAX, 0x80, 0x80, 0x80, 0x80, 0x10), TW_ERR_LIMIT);
	/* 0x7fffffff, the largest a prefix may say: accepted, body awaited,
	 * and nothing of that size allocated. */
	TW_CHECK_INT(FEED(SIZE_MAX, 0xff, 0xff, 0xff, 0xff, 0x07), TW_ERR_INCOMPLETE);
	/* A non-minimal prefix still counts: 0x81 0x00 = 1. */
	TW_CHECK_INT(FEED(10, 0x81, 0x00, 0x91), TW_OK);
	/* Exactly max_record, and one more. */
	TW_CHECK_INT(FEED(3, 0x03, 0x92, 0x08, 0x01), TW_OK);
	TW_CHECK_INT(FEED(3, 0x04, 0x93, 0x08, 0x01, 0x02), TW_ERR_LIMIT);
	TW_CHECK_INT(FEED(127, 0x80, 0x01), TW_ERR_LIMIT);
}

static void test_limit_is_sticky_and_early(void)
{
	struct tw_hubmp_reader r;
	const char *rec;
	size_t len;

	tw_hubmp_reader_init(&r, 10);
	/* Refused on the prefix alone, before any body byte. */
	TW_CHECK_INT(tw_hubmp_feed(&r, "\x0b", 1), TW_ERR_LIMIT);
	TW_CHECK_INT(tw_hubmp_feed(&r, "\x01\x91", 2), TW_ERR_LIMIT);
	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_ERR_LIMIT);
	tw_hubmp_reader_free(&r);
	/* A good message and an oversized one in the same chunk. */
	tw_hubmp_reader_init(&r, 10);
	TW_CHECK_INT(tw_hubmp_feed(&r, "\x02\x91\x06\x20", 4), TW_ERR_LIMIT);
	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_ERR_LIMIT);
	tw_hubmp_reader_free(&r);
}

/* Fed one byte at a time and drained, the reader never holds more than one
 * message and its prefix. */
static void test_memory_bounded(void)
{
	struct tw_hubmp_reader r;
	unsigned char msg[101];
	size_t most = 0, got = 0;
	const char *rec;
	size_t len;

	msg[0] = 100;
	memset(msg + 1, 0xc0, 100);
	tw_hubmp_reader_init(&r, 100);
	for (int round = 0; round < 50; round++)
		for (size_t i = 0; i < sizeof(msg); i++) {
			TW_CHECK_INT(tw_hubmp_feed(&r, msg + i, 1), TW_OK);
			while (tw_hubmp_next(&r, &rec, &len) == TW_OK)
				got++;
			if (r.cap > most)
				most = r.cap;
		}
	TW_CHECK_INT(got, 50);
	TW_CHECK(most <= 100 + TW_HUBMP_MAX_PREFIX);
	tw_hubmp_reader_free(&r);
}

/* ---- parsing ---- */

static int parse_bytes(const unsigned char *p, size_t n, struct tw_hubmsg *m, char *err)
{
	return tw_hubmp_parse(p, n, m, err, 200);
}

#define PARSE(m, err, ...) parse_bytes(BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__), m, err)

static void test_parse_spec_examples(void)
{
	struct tw_hubmsg m;
	char err[200] = "";

	/* Invocation with an id, and with the spec's two headers. */
	TW_CHECK_INT(PARSE(&m, err, 0x96, 0x01, 0x82, 0xa1, 'x', 0xa1, 'y', 0xa1, 'z', 0xa1, 'z',
			   0xa3, 'x', 'y', 'z', 0xa6, 'm', 'e', 't', 'h', 'o', 'd', 0x91, 0x2a,
			   0x90), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_INVOCATION);
	TW_CHECK_STR(m.invocation_id, "xyz");
	TW_CHECK_STR(m.target, "method");
	TW_CHECK_INT(json_array_size(m.arguments), 1);
	TW_CHECK_INT(json_integer_value(json_array_get(m.arguments, 0)), 42);
	TW_CHECK_STR(json_string_value(json_object_get(json_object_get(m.root, "headers"), "x")), "y");
	TW_CHECK_STR(json_string_value(json_object_get(json_object_get(m.root, "headers"), "z")), "z");
	TW_CHECK_INT(json_array_size(json_object_get(m.root, "streamIds")), 0);
	tw_hubmsg_free(&m);

	/* Non-blocking: nil id; an empty id counts as none; five elements as older clients send. */
	TW_CHECK_INT(PARSE(&m, err, 0x96, 0x01, 0x80, 0xc0, 0xa1, 'm', 0x91, 0x2a, 0x90), TW_OK);
	TW_CHECK(m.invocation_id == NULL);
	TW_CHECK(json_object_get(m.root, "invocationId") == NULL);
	tw_hubmsg_free(&m);
	TW_CHECK_INT(PARSE(&m, err, 0x95, 0x01, 0x80, 0xa0, 0xa1, 'm', 0x90), TW_OK);
	TW_CHECK(m.invocation_id == NULL);
	TW_CHECK_INT(json_array_size(m.arguments), 0);
	tw_hubmsg_free(&m);

	TW_CHECK_INT(PARSE(&m, err, 0x96, 0x04, 0x80, 0xa3, 'x', 'y', 'z', 0xa1, 'm', 0x91, 0x2a,
			   0x91, 0xa1, '1'), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_STREAM_INVOCATION);
	TW_CHECK_STR(m.invocation_id, "xyz");
	TW_CHECK_STR(json_string_value(json_array_get(json_object_get(m.root, "streamIds"), 0)), "1");
	tw_hubmsg_free(&m);

	TW_CHECK_INT(PARSE(&m, err, 0x94, 0x02, 0x80, 0xa3, 'x', 'y', 'z', 0x2a), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_STREAM_ITEM);
	TW_CHECK_INT(json_integer_value(json_object_get(m.root, "item")), 42);
	tw_hubmsg_free(&m);

	TW_CHECK_INT(PARSE(&m, err, 0x95, 0x03, 0x80, 0xa3, 'x', 'y', 'z', 0x01, 0xa5, 'E', 'r',
			   'r', 'o', 'r'), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_COMPLETION);
	TW_CHECK_STR(m.invocation_id, "xyz");
	TW_CHECK_STR(m.error, "Error");
	tw_hubmsg_free(&m);
	TW_CHECK_INT(PARSE(&m, err, 0x94, 0x03, 0x80, 0xa3, 'x', 'y', 'z', 0x02), TW_OK);
	TW_CHECK(m.error == NULL);
	TW_CHECK(json_object_get(m.root, "result") == NULL);
	tw_hubmsg_free(&m);
	TW_CHECK_INT(PARSE(&m, err, 0x95, 0x03, 0x80, 0xa3, 'x', 'y', 'z', 0x03, 0x2a), TW_OK);
	TW_CHECK_INT(json_integer_value(json_object_get(m.root, "result")), 42);
	tw_hubmsg_free(&m);

	TW_CHECK_INT(PARSE(&m, err, 0x93, 0x05, 0x80, 0xa3, 'x', 'y', 'z'), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_CANCEL_INVOCATION);
	TW_CHECK_STR(m.invocation_id, "xyz");
	tw_hubmsg_free(&m);

	TW_CHECK_INT(PARSE(&m, err, 0x91, 0x06), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_PING);
	tw_hubmsg_free(&m);

	TW_CHECK_INT(PARSE(&m, err, 0x92, 0x07, 0xa3, 'x', 'y', 'z'), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_CLOSE);
	TW_CHECK_STR(m.error, "xyz");
	TW_CHECK(json_object_get(m.root, "allowReconnect") == NULL);
	tw_hubmsg_free(&m);
	TW_CHECK_INT(PARSE(&m, err, 0x93, 0x07, 0xa3, 'x', 'y', 'z', 0xc3), TW_OK);
	TW_CHECK(json_is_true(json_object_get(m.root, "allowReconnect")));
	tw_hubmsg_free(&m);
	TW_CHECK_INT(PARSE(&m, err, 0x92, 0x07, 0xc0), TW_OK);	/* what the JS client sends */
	TW_CHECK(m.error == NULL);
	tw_hubmsg_free(&m);

	TW_CHECK_INT(PARSE(&m, err, 0x92, 0x08, 0xcc, 0x24), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_ACK);
	TW_CHECK_INT(json_integer_value(json_object_get(m.root, "sequenceId")), 36);
	tw_hubmsg_free(&m);
	TW_CHECK_INT(PARSE(&m, err, 0x92, 0x09, 0xcc, 0x13), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_SEQUENCE);
	TW_CHECK_INT(json_integer_value(json_object_get(m.root, "sequenceId")), 19);
	tw_hubmsg_free(&m);

	/* Elements past those a type defines are ignored. */
	TW_CHECK_INT(PARSE(&m, err, 0x93, 0x06, 0x01, 0xa1, 'z'), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_PING);
	tw_hubmsg_free(&m);
}

/* Argument values of every MessagePack family, as JSON. */
static void test_parse_values(void)
{
	struct tw_hubmsg m;
	char err[200] = "";
	json_t *a;

	TW_CHECK_INT(PARSE(&m, err, 0x95, 0x01, 0x80, 0xc0, 0xa1, 'v', 0x9c,
			   0xca, 0x3f, 0xc0, 0x00, 0x00,		/* float32 1.5 */
			   0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* UINT64_MAX */
			   0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0,		/* INT64_MIN */
			   0xd0, 0x05,					/* int8 5 */
			   0xe0,					/* -32 */
			   0xc4, 0x03, 0x01, 0x02, 0x03,		/* bin */
			   0xc4, 0x00,					/* empty bin */
			   0xd9, 0x02, 0xc3, 0xa9,			/* str 8 "é" */
			   0x82, 0xa1, 'a', 0xc3, 0xa1, 'b', 0x90,	/* {"a":true,"b":[]} */
			   0xc0,					/* nil */
			   0xdc, 0x00, 0x01, 0xc2,			/* array 16 [false] */
			   0xcb, 0xc0, 0x04, 0, 0, 0, 0, 0, 0),	/* -2.5 */
		     TW_OK);
	a = m.arguments;
	TW_CHECK_INT(json_array_size(a), 12);
	TW_CHECK(json_is_real(json_array_get(a, 0)));
	TW_CHECK_DBL(json_real_value(json_array_get(a, 0)), 1.5, 0);
	TW_CHECK(json_is_real(json_array_get(a, 1)));
	TW_CHECK_DBL(json_real_value(json_array_get(a, 1)), 18446744073709551615.0, 0);
	TW_CHECK(json_integer_value(json_array_get(a, 2)) == LLONG_MIN);
	TW_CHECK_INT(json_integer_value(json_array_get(a, 3)), 5);
	TW_CHECK_INT(json_integer_value(json_array_get(a, 4)), -32);
	TW_CHECK_STR(json_string_value(json_array_get(a, 5)), "AQID");
	TW_CHECK_STR(json_string_value(json_array_get(a, 6)), "");
	TW_CHECK_STR(json_string_value(json_array_get(a, 7)), "\xc3\xa9");
	TW_CHECK(json_is_true(json_object_get(json_array_get(a, 8), "a")));
	TW_CHECK_INT(json_array_size(json_object_get(json_array_get(a, 8), "b")), 0);
	TW_CHECK(json_is_null(json_array_get(a, 9)));
	TW_CHECK(json_is_false(json_array_get(json_array_get(a, 10), 0)));
	TW_CHECK_DBL(json_real_value(json_array_get(a, 11)), -2.5, 0);
	tw_hubmsg_free(&m);
}

/* Parses bytes expecting rc and an error text holding want; prints what it saw. */
static int expect_fail(const unsigned char *p, size_t n, int rc, const char *want)
{
	struct tw_hubmsg m;
	char err[200] = "";
	int got = tw_hubmp_parse(p, n, &m, err, sizeof(err));

	if (got == TW_OK)
		tw_hubmsg_free(&m);
	if (got == rc && strstr(err, want) && m.root == NULL)
		return 1;
	fprintf(stderr, "  expected %d \"%s\", got %d \"%s\"\n", rc, want, got, err);
	return 0;
}

#define FAILS(rc, want, ...) TW_CHECK(expect_fail(BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__), rc, want))

static void test_parse_bad(void)
{
	TW_CHECK(expect_fail(NULL, 0, TW_ERR_JSON, "empty message"));
	FAILS(TW_ERR_JSON, "must be a MessagePack array, not a map", 0x81, 0xa1, 'a', 0x01);
	FAILS(TW_ERR_JSON, "must be a MessagePack array, not an integer", 0x06);
	FAILS(TW_ERR_JSON, "must be a non-empty array", 0x90);
	FAILS(TW_ERR_JSON, "(the message type) must be an integer, not a string", 0x91, 0xa1, '1');
	FAILS(TW_ERR_JSON, "(the message type) must be an integer, not a float",
	      0x91, 0xca, 0x40, 0xc0, 0, 0);
	FAILS(TW_ERR_PROTOCOL, "unknown message type 99", 0x91, 0x63);
	FAILS(TW_ERR_PROTOCOL, "unknown message type 0", 0x91, 0x00);
	FAILS(TW_ERR_PROTOCOL, "unknown message type -1", 0x91, 0xff);
	FAILS(TW_ERR_JSON, "Invocation element 3 (\"target\") must be a non-empty string, not an integer",
	      0x96, 0x01, 0x80, 0xc0, 0x05, 0x90, 0x90);
	FAILS(TW_ERR_JSON, "Invocation element 3 (\"target\") must not be empty",
	      0x96, 0x01, 0x80, 0xc0, 0xa0, 0x90, 0x90);
	FAILS(TW_ERR_JSON, "Invocation element 4 (\"arguments\") must be an array, not an integer",
	      0x96, 0x01, 0x80, 0xc0, 0xa1, 'm', 0x2a, 0x90);
	FAILS(TW_ERR_JSON, "Invocation element 2 (\"invocationId\") must be a string or nil, not an integer",
	      0x96, 0x01, 0x80, 0x07, 0xa1, 'm', 0x90, 0x90);
	FAILS(TW_ERR_JSON, "Invocation message needs 5 elements, got 4",
	      0x94, 0x01, 0x80, 0xc0, 0xa1, 'm');
	FAILS(TW_ERR_JSON, "Invocation element 1 (\"headers\") must be a map, not nil",
	      0x96, 0x01, 0xc0, 0xc0, 0xa1, 'm', 0x90, 0x90);
	FAILS(TW_ERR_JSON, "(\"headers\") must map strings to strings",
	      0x96, 0x01, 0x81, 0xa1, 'k', 0x01, 0xc0, 0xa1, 'm', 0x90, 0x90);
	FAILS(TW_ERR_JSON, "(\"streamIds\") must hold strings only",
	      0x96, 0x01, 0x80, 0xc0, 0xa1, 'm', 0x90, 0x91, 0x01);
	FAILS(TW_ERR_JSON, "StreamInvocation element 2 (\"invocationId\") must be a non-empty string, not nil",
	      0x96, 0x04, 0x80, 0xc0, 0xa1, 'm', 0x90, 0x90);
	FAILS(TW_ERR_JSON, "field \"arguments\": a map key must be a string, not an integer",
	      0x96, 0x01, 0x80, 0xc0, 0xa1, 'm', 0x91, 0x81, 0x01, 0x02, 0x90);
	FAILS(TW_ERR_JSON, "field \"arguments\": duplicate map key \"a\"",
	      0x96, 0x01, 0x80, 0xc0, 0xa1, 'm', 0x91, 0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02, 0x90);
	FAILS(TW_ERR_JSON, "field \"arguments\": a string is not valid UTF-8",
	      0x96, 0x01, 0x80, 0xc0, 0xa1, 'm', 0x91, 0xa2, 0xc3, 0x28, 0x90);
	FAILS(TW_ERR_JSON, "field \"arguments\": a string is not valid UTF-8",	/* overlong NUL */
	      0x96, 0x01, 0x80, 0xc0, 0xa1, 'm', 0x91, 0xa2, 0xc0, 0x80, 0x90);
	FAILS(TW_ERR_JSON, "field \"arguments\": a string is not valid UTF-8",	/* surrogate */
	      0x96, 0x01, 0x80, 0xc0, 0xa1, 'm', 0x91, 0xa3, 0xed, 0xa0, 0x80, 0x90);
	FAILS(TW_ERR_JSON, "field \"target\": a string is not valid UTF-8",
	      0x96, 0x01, 0x80, 0xc0, 0xa1, 0xff, 0x90, 0x90);
	FAILS(TW_ERR_JSON, "field \"arguments\": a map key is not valid UTF-8",
	      0x96, 0x01, 0x80, 0xc0, 0xa1, 'm', 0x91, 0x81, 0xa1, 0x80, 0x01, 0x90);
	FAILS(TW_ERR_JSON, "field \"arguments\": extension type 5 is not supported",
	      0x96, 0x01, 0x80, 0xc0, 0xa1, 'm', 0x91, 0xd4, 0x05, 0x00, 0x90);
	FAILS(TW_ERR_JSON, "field \"arguments\": a timestamp (extension type -1) is not supported",
	      0x96, 0x01, 0x80, 0xc0, 0xa1, 'm', 0x91, 0xd6, 0xff, 0, 0, 0, 0, 0x90);
	FAILS(TW_ERR_JSON, "field \"item\": NaN and infinite numbers have no JSON form",
	      0x94, 0x02, 0x80, 0xa1, '1', 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0);
	FAILS(TW_ERR_JSON, "1 trailing bytes after the message array", 0x91, 0x06, 0x00);
	FAILS(TW_ERR_JSON, "3 trailing bytes after the message array", 0x91, 0x06, 0x91, 0x06, 0x00);
	FAILS(TW_ERR_JSON, "the array at byte 0 declares 3 elements", 0x93, 0x05, 0x80);
	FAILS(TW_ERR_JSON, "a value is missing at byte 4", 0x93, 0x07, 0xa1, 'x');
	FAILS(TW_ERR_JSON, "the value at byte 2 needs 2 bytes more", 0x92, 0x07, 0xa3, 'x');
	FAILS(TW_ERR_JSON, "inside the header at byte 2", 0x92, 0x08, 0xda, 0x01);
	/* A declared count far past the bytes there: refused before anything
	 * is allocated for it. */
	FAILS(TW_ERR_JSON, "the array at byte 1 declares 4294967295 elements",
	      0x91, 0xdd, 0xff, 0xff, 0xff, 0xff);
	FAILS(TW_ERR_JSON, "the map at byte 0 declares 65535 elements",
	      0xde, 0xff, 0xff, 0x01, 0x02);
	FAILS(TW_ERR_JSON, "byte 0xc1 at byte 1 is not a MessagePack format", 0x91, 0xc1);
	FAILS(TW_ERR_JSON, "Completion element 3 (\"resultKind\") must be 1, 2 or 3",
	      0x94, 0x03, 0x80, 0xa1, '1', 0x04);
	FAILS(TW_ERR_JSON, "Completion message needs 5 elements, got 4",
	      0x94, 0x03, 0x80, 0xa1, '1', 0x01);
	FAILS(TW_ERR_JSON, "Completion element 4 (\"error\") must be a string, not an integer",
	      0x95, 0x03, 0x80, 0xa1, '1', 0x01, 0x05);
	FAILS(TW_ERR_JSON, "Close element 2 (\"allowReconnect\") must be a boolean, not an integer",
	      0x93, 0x07, 0xc0, 0x01);
	FAILS(TW_ERR_JSON, "Close message needs 2 elements, got 1", 0x91, 0x07);
	FAILS(TW_ERR_JSON, "Ack element 1 (\"sequenceId\") must be a non-negative 64-bit integer",
	      0x92, 0x08, 0xff);
	FAILS(TW_ERR_JSON, "CancelInvocation element 2 (\"invocationId\") must not be empty",
	      0x93, 0x05, 0x80, 0xa0);
}

/* Arguments nested exactly to the limit parse; one level more does not. */
static void test_parse_depth(void)
{
	unsigned char buf[64];
	size_t n;
	struct tw_hubmsg m;
	char err[200] = "";

	for (int k = TW_HUBMP_MAX_DEPTH - 1; k <= TW_HUBMP_MAX_DEPTH; k++) {
		static const unsigned char head[] = { 0x95, 0x01, 0x80, 0xc0, 0xa1, 'm' };
		int rc;

		memcpy(buf, head, sizeof(head));
		n = sizeof(head);
		for (int i = 0; i < k; i++)	/* the arguments array and k - 1 inside it */
			buf[n++] = 0x91;
		buf[n++] = 0x01;
		rc = tw_hubmp_parse(buf, n, &m, err, sizeof(err));
		if (k < TW_HUBMP_MAX_DEPTH) {
			TW_CHECK_INT(rc, TW_OK);
			tw_hubmsg_free(&m);
		} else {
			TW_CHECK_INT(rc, TW_ERR_JSON);
			TW_CHECK_STR(err, "arrays and maps nest deeper than 32 at byte 37");
		}
	}
}

/* What the encoders write, the reader and parser read back. */
static void test_roundtrip(void)
{
	struct tw_hubmp_reader r;
	struct tw_buf b = { 0 };
	struct tw_hubmsg m;
	const char *rec;
	size_t len;
	char err[200];
	json_t *args = json_pack("[i,s,f,{s:[b,n]},I]", 5, "x\xc3\xa9", 0.1, "k", 1,
				 (json_int_t)-9000000000LL);
	json_t *result = json_pack("{s:s}", "ok", "yes");

	tw_hubmp_encode_invocation(&b, "m", args);
	tw_hubmp_encode_completion(&b, "9", NULL, result);
	tw_hubmp_encode_completion(&b, "10", "nope", NULL);
	tw_hubmp_encode_close(&b, "bye", 1);
	tw_hubmp_encode_ping(&b);
	tw_hubmp_reader_init(&r, 1000);
	for (size_t i = 0; i < b.len; i++)
		TW_CHECK_INT(tw_hubmp_feed(&r, b.data + i, 1), TW_OK);

	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_OK);
	TW_CHECK_INT(tw_hubmp_parse(rec, len, &m, err, sizeof(err)), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_INVOCATION);
	TW_CHECK_STR(m.target, "m");
	TW_CHECK(m.invocation_id == NULL);
	TW_CHECK(json_equal(m.arguments, args));
	tw_hubmsg_free(&m);

	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_OK);
	TW_CHECK_INT(tw_hubmp_parse(rec, len, &m, err, sizeof(err)), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_COMPLETION);
	TW_CHECK_STR(m.invocation_id, "9");
	TW_CHECK(json_equal(json_object_get(m.root, "result"), result));
	tw_hubmsg_free(&m);

	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_OK);
	TW_CHECK_INT(tw_hubmp_parse(rec, len, &m, err, sizeof(err)), TW_OK);
	TW_CHECK_STR(m.invocation_id, "10");
	TW_CHECK_STR(m.error, "nope");
	tw_hubmsg_free(&m);

	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_OK);
	TW_CHECK_INT(tw_hubmp_parse(rec, len, &m, err, sizeof(err)), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_CLOSE);
	TW_CHECK_STR(m.error, "bye");
	TW_CHECK(json_is_true(json_object_get(m.root, "allowReconnect")));
	tw_hubmsg_free(&m);

	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_OK);
	TW_CHECK_INT(tw_hubmp_parse(rec, len, &m, err, sizeof(err)), TW_OK);
	TW_CHECK_INT(m.type, TW_HUBMSG_PING);
	tw_hubmsg_free(&m);

	TW_CHECK_INT(tw_hubmp_next(&r, &rec, &len), TW_ERR_INCOMPLETE);
	tw_hubmp_reader_free(&r);
	tw_buf_free(&b);
	json_decref(result);
	json_decref(args);
}

int main(void)
{
	build_stream();
	TW_RUN(test_encode_exact);
	TW_RUN(test_encode_values);
	TW_RUN(test_encode_long_prefix);
	TW_RUN(test_encode_refused);
	TW_RUN(test_every_chunking);
	TW_RUN(test_stream_parses);
	TW_RUN(test_incomplete_prefix);
	TW_RUN(test_bad_prefix);
	TW_RUN(test_limit_is_sticky_and_early);
	TW_RUN(test_memory_bounded);
	TW_RUN(test_parse_spec_examples);
	TW_RUN(test_parse_values);
	TW_RUN(test_parse_bad);
	TW_RUN(test_parse_depth);
	TW_RUN(test_roundtrip);
	tw_buf_free(&stream);
	for (size_t i = 0; i < nexpected; i++)
		tw_buf_free(&expected_body[i]);
	return TW_TEST_END();
}
