/* test_history_vals.c -- a point's values: encoding, decoding of bad bytes, and the SQL functions over them */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "telewire/error.h"
#include "tw_test.h"

static const struct history__val samples[] = {
	{ .key = 1, .type = HISTORY_VAL_NUMBER, .num = 21.5 },
	{ .key = 2, .type = HISTORY_VAL_BOOL, .num = 1 },
	{ .key = 127, .type = HISTORY_VAL_NUMBER, .num = -0.0 },
	{ .key = 128, .type = HISTORY_VAL_STRING, .str = "", .len = 0 },
	{ .key = 300, .type = HISTORY_VAL_NUMBER, .num = 1e308 },
	{ .key = 16384, .type = HISTORY_VAL_BOOL, .num = 0 },
	{ .key = 4294967296LL, .type = HISTORY_VAL_NUMBER, .num = -4.9e-324 },
	{ .key = INT64_MAX, .type = HISTORY_VAL_STRING, .str = "moving", .len = 6 },
};
#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

static void encode(struct history__vals *b, const struct history__val *v, size_t n)
{
	b->len = 0;
	for (size_t i = 0; i < n; i++)
		TW_CHECK_INT(history__vals_add(b, &v[i]), TW_OK);
}

static void test_round_trip(void)
{
	struct history__vals b = { 0 };
	struct history__val v;
	char longstr[300];
	size_t pos = 0, i = 0;
	int got;

	encode(&b, samples, NSAMPLES);
	while ((got = history__vals_next(b.p, b.len, &pos, &v)) > 0 && i < NSAMPLES) {
		TW_CHECK(v.key == samples[i].key);
		TW_CHECK_INT(v.type, samples[i].type);
		if (v.type == HISTORY_VAL_STRING) {
			TW_CHECK(v.len == samples[i].len && memcmp(v.str, samples[i].str, v.len) == 0);
		} else {
			TW_CHECK(memcmp(&v.num, &samples[i].num, sizeof(v.num)) == 0);	/* bit for bit, -0 too */
		}
		i++;
	}
	TW_CHECK_INT(got, 0);
	TW_CHECK_INT((int)i, (int)NSAMPLES);
	TW_CHECK(pos == b.len);
	/* a string past 127 bytes: a two-byte length */
	memset(longstr, 'x', sizeof(longstr));
	v = (struct history__val){ .key = 9, .type = HISTORY_VAL_STRING, .str = longstr,
				   .len = sizeof(longstr) };
	encode(&b, &v, 1);
	TW_CHECK(b.len == 1 + 1 + 2 + sizeof(longstr));
	pos = 0;
	TW_CHECK_INT(history__vals_next(b.p, b.len, &pos, &v), 1);
	TW_CHECK(v.len == sizeof(longstr) && v.str[299] == 'x');
	history__vals_free(&b);
}

/* Every prefix of a good point, and random bytes: entries up to the bad
 * spot, then -1; never a read past the end (ASan build). */
static void test_bad_bytes(void)
{
	struct history__vals b = { 0 };
	struct history__val v;
	unsigned char junk[64];
	size_t pos;
	int got, bad = 0;

	encode(&b, samples, NSAMPLES);
	for (size_t n = 0; n < b.len; n++) {
		unsigned char *copy = malloc(n ? n : 1);	/* exactly n bytes: ASan sees overreads */

		memcpy(copy, b.p, n);
		pos = 0;
		while ((got = history__vals_next(copy, n, &pos, &v)) > 0)
			TW_CHECK(pos <= n);
		bad += got < 0;
		free(copy);
	}
	TW_CHECK(bad > 0);
	srand(7);
	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(rand() % (int)sizeof(junk));

		for (size_t k = 0; k < n; k++)
			junk[k] = (unsigned char)(rand() % 8 == 0 ? 0xff : rand() % 5);
		pos = 0;
		while ((got = history__vals_next(junk, n, &pos, &v)) > 0)
			TW_CHECK(pos <= n && (v.type != HISTORY_VAL_STRING || v.len <= n));
	}
	/* an unknown type, a boolean that is not 0 or 1, an endless varint */
	{
		static const unsigned char t9[] = { 1, 9, 0 }, b2[] = { 1, 2, 2 };
		static const unsigned char vi[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
						    0x80, 0x80, 0x80, 1, 1, 0 };

		pos = 0;
		TW_CHECK_INT(history__vals_next(t9, sizeof(t9), &pos, &v), -1);
		pos = 0;
		TW_CHECK_INT(history__vals_next(b2, sizeof(b2), &pos, &v), -1);
		pos = 0;
		TW_CHECK_INT(history__vals_next(vi, sizeof(vi), &pos, &v), -1);
	}
	history__vals_free(&b);
}

static sqlite3 *db;

/* The one value of a query, as text ("NULL" for none). */
static const char *one(const char *sql, const void *blob, int len, const void *blob2, int len2)
{
	static char out[256];
	sqlite3_stmt *st;

	snprintf(out, sizeof(out), "error");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return sqlite3_errmsg(db);
	if (blob)
		sqlite3_bind_blob(st, 1, blob, len, SQLITE_TRANSIENT);
	if (blob2)
		sqlite3_bind_blob(st, 2, blob2, len2, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, sizeof(out), "%s", sqlite3_column_type(st, 0) == SQLITE_NULL
			 ? "NULL" : (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

static void test_functions(void)
{
	struct history__vals a = { 0 }, b = { 0 };
	static const struct history__val old[] = {
		{ .key = 1, .type = HISTORY_VAL_NUMBER, .num = 1.5 },
		{ .key = 3, .type = HISTORY_VAL_STRING, .str = "a", .len = 1 },
		{ .key = 5, .type = HISTORY_VAL_NUMBER, .num = 5 },
	};
	static const struct history__val new[] = {
		{ .key = 2, .type = HISTORY_VAL_BOOL, .num = 1 },
		{ .key = 3, .type = HISTORY_VAL_STRING, .str = "b", .len = 1 },
		{ .key = 6, .type = HISTORY_VAL_NUMBER, .num = -2 },
	};
	static const unsigned char junk[] = { 1, 1, 0, 0 };	/* a number cut short */

	TW_CHECK_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
	TW_CHECK_INT(history__vals_functions(db, NULL), TW_OK);
	encode(&a, old, 3);
	encode(&b, new, 3);
	TW_CHECK_STR(one("SELECT tw_num(?1, 1)", a.p, (int)a.len, NULL, 0), "1.5");
	TW_CHECK_STR(one("SELECT tw_type(?1, 3)", a.p, (int)a.len, NULL, 0), "3");
	TW_CHECK_STR(one("SELECT tw_num(?1, 3)", a.p, (int)a.len, NULL, 0), "NULL");
	TW_CHECK_STR(one("SELECT tw_str(?1, 3)", a.p, (int)a.len, NULL, 0), "a");
	TW_CHECK_STR(one("SELECT tw_str(?1, 1)", a.p, (int)a.len, NULL, 0), "NULL");
	TW_CHECK_STR(one("SELECT tw_type(?1, 4)", a.p, (int)a.len, NULL, 0), "NULL");
	TW_CHECK_STR(one("SELECT tw_num(?1, 2)", b.p, (int)b.len, NULL, 0), "1.0");
	TW_CHECK_STR(one("SELECT tw_count(?1)", a.p, (int)a.len, NULL, 0), "3");
	/* merge: the union, new's value where both have the key, in key order */
	TW_CHECK_STR(one("SELECT tw_count(tw_merge(?1, ?2))", a.p, (int)a.len, b.p, (int)b.len),
		     "5");
	TW_CHECK_STR(one("SELECT tw_str(tw_merge(?1, ?2), 3)", a.p, (int)a.len, b.p, (int)b.len),
		     "b");
	TW_CHECK_STR(one("SELECT tw_num(tw_merge(?1, ?2), 5) + tw_num(tw_merge(?1, ?2), 6)"
			 " + tw_num(tw_merge(?1, ?2), 1)", a.p, (int)a.len, b.p, (int)b.len), "4.5");
	TW_CHECK_STR(one("SELECT tw_merge(?1, ?2) = tw_merge(?2, ?1)", a.p, (int)a.len, b.p,
			 (int)b.len), "0");	/* key 3 differs: order matters */
	TW_CHECK_STR(one("SELECT tw_merge(?1, ?2) = ?2", b.p, (int)b.len, b.p, (int)b.len), "1");
	/* bad bytes read as nothing from where they stop; a merge keeps the good side */
	TW_CHECK_STR(one("SELECT tw_count(?1)", junk, sizeof(junk), NULL, 0), "0");
	TW_CHECK_STR(one("SELECT tw_num(?1, 1)", junk, sizeof(junk), NULL, 0), "NULL");
	TW_CHECK_STR(one("SELECT tw_merge(?1, ?2) = ?2", junk, sizeof(junk), b.p, (int)b.len), "1");
	TW_CHECK_STR(one("SELECT tw_count(?1)", NULL, 0, NULL, 0), "0");	/* NULL */
	/* pack: rows in any key order, one point in key order */
	TW_CHECK_STR(one("WITH r(k, t, n, s) AS (VALUES (5, 1, 5, NULL), (3, 3, NULL, 'a'),"
			 " (1, 1, 1.5, NULL)) SELECT tw_pack(k, t, n, s) = ?1 FROM r", a.p,
			 (int)a.len, NULL, 0), "1");
	TW_CHECK_STR(one("WITH r(k, t, n, s) AS (VALUES (1, 2, 1, NULL))"
			 " SELECT tw_count(tw_pack(k, t, n, s)) FROM r WHERE k > 1", NULL, 0, NULL, 0),
		     "0");
	sqlite3_close(db);
	history__vals_free(&a);
	history__vals_free(&b);
}

int main(void)
{
	TW_RUN(test_round_trip);
	TW_RUN(test_bad_bytes);
	TW_RUN(test_functions);
	return TW_TEST_END();
}
