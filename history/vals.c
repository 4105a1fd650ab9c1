/* vals.c -- the values of a point (points.vals): their encoding, and the SQL functions that read and merge them
 *
 * A point is what one device sent for one ts: one row of points, its
 * values in one BLOB. One row per message costs one B-tree insert where a
 * row per value cost one per key (five in the benchmarks' messages): about
 * a third of the CPU to store a message (tests/perf/bench_store.c --count
 * 400000 --batch 50000: 85,000 records per CPU second before, 264,000
 * after; medians of 3).
 *
 * The BLOB holds its entries in ascending key id, each:
 *
 *   key id   varint (7 bits a byte, low bits first, high bit: more follow)
 *   type     one byte: 1 number, 2 boolean, 3 string (as samples.type was)
 *   value    number: 8 bytes, IEEE 754 binary64, least significant first
 *            boolean: one byte, 0 or 1
 *            string: varint length, then its bytes, without a terminator
 *
 * The SQL functions read a key's value out of a BLOB (tw_type, tw_num,
 * tw_str), count its entries (tw_count), merge two points of one ts
 * (tw_merge: the later one's values win, key by key; past HISTORY_POINT_MAX
 * the later one replaces the point whole, counted) and pack rows of the
 * older one-value-per-row table into BLOBs (tw_pack, the migration). A
 * BLOB that does not decode reads as holding nothing from where it stops
 * being valid: the functions never fail a query over one bad row.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "telewire/error.h"

#define VALS_FN_FLAGS (SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS)

static size_t vals__varint(const unsigned char *p, size_t n, size_t pos, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; pos < n && shift < 64; shift += 7) {
		unsigned char c = p[pos++];

		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return pos;
		}
	}
	return 0;
}

int history__vals_next(const unsigned char *p, size_t n, size_t *pos, struct history__val *v)
{
	uint64_t key, len, bits = 0;
	size_t at = *pos;

	if (at >= n)
		return 0;
	if (!(at = vals__varint(p, n, at, &key)) || at >= n || key > INT64_MAX)
		return -1;
	v->key = (sqlite3_int64)key;
	v->type = p[at++];
	v->num = 0;
	v->str = NULL;
	v->len = 0;
	switch (v->type) {
	case HISTORY_VAL_NUMBER:
		if (n - at < 8)
			return -1;
		for (int i = 7; i >= 0; i--)
			bits = bits << 8 | p[at + (size_t)i];
		memcpy(&v->num, &bits, sizeof(v->num));
		at += 8;
		break;
	case HISTORY_VAL_BOOL:
		if (at >= n || p[at] > 1)
			return -1;
		v->num = p[at++];
		break;
	case HISTORY_VAL_STRING:
		if (!(at = vals__varint(p, n, at, &len)) || len > n - at)
			return -1;
		v->str = (const char *)p + at;
		v->len = (size_t)len;
		at += (size_t)len;
		break;
	default:
		return -1;
	}
	*pos = at;
	return 1;
}

static int vals__reserve(struct history__vals *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;
	unsigned char *p;

	if (more <= b->cap - b->len)
		return TW_OK;
	if (more > SIZE_MAX / 2 - b->len)
		return TW_ERR_NOMEM;
	while (cap - b->len < more)
		cap *= 2;
	if (!(p = realloc(b->p, cap)))
		return TW_ERR_NOMEM;
	b->p = p;
	b->cap = cap;
	return TW_OK;
}

static void vals__put_varint(struct history__vals *b, uint64_t v)
{
	do {
		unsigned char c = v & 0x7f;

		v >>= 7;
		b->p[b->len++] = (unsigned char)(c | (v ? 0x80 : 0));
	} while (v);
}

int history__vals_add(struct history__vals *b, const struct history__val *v)
{
	uint64_t bits;

	/* key (10) + type (1) + string length (10) + the largest value */
	if (vals__reserve(b, 21 + (v->type == HISTORY_VAL_STRING ? v->len : 8)) != TW_OK)
		return TW_ERR_NOMEM;
	vals__put_varint(b, (uint64_t)v->key);
	b->p[b->len++] = (unsigned char)v->type;
	switch (v->type) {
	case HISTORY_VAL_NUMBER:
		memcpy(&bits, &v->num, sizeof(bits));
		for (int i = 0; i < 8; i++, bits >>= 8)
			b->p[b->len++] = (unsigned char)(bits & 0xff);
		break;
	case HISTORY_VAL_BOOL:
		b->p[b->len++] = v->num != 0;
		break;
	default:
		vals__put_varint(b, v->len);
		if (v->len)
			memcpy(b->p + b->len, v->str, v->len);
		b->len += v->len;
		break;
	}
	return TW_OK;
}

static int vals__by_key(const void *a, const void *b)
{
	const struct history__val *x = a, *y = b;

	return (x->key > y->key) - (x->key < y->key);
}

void history__vals_sort(struct history__val *v, size_t n)
{
	qsort(v, n, sizeof(*v), vals__by_key);
}

void history__vals_free(struct history__vals *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* The entry of key in a BLOB argument: 1 and *v, or 0. */
static int vals__find(sqlite3_value *blob, sqlite3_int64 key, struct history__val *v)
{
	const unsigned char *p = sqlite3_value_blob(blob);
	size_t n = (size_t)sqlite3_value_bytes(blob), pos = 0;

	while (history__vals_next(p, n, &pos, v) > 0) {
		if (v->key == key)
			return 1;
		if (v->key > key)
			break;
	}
	return 0;
}

/* tw_type(vals, key): 1, 2 or 3; NULL when the point has no value for key. */
static void vals__type(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct history__val v;

	(void)argc;
	if (vals__find(argv[0], sqlite3_value_int64(argv[1]), &v))
		sqlite3_result_int(ctx, v.type);
}

/* tw_num(vals, key): a number, a boolean as 0 or 1; NULL for a string or no value. */
static void vals__num(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct history__val v;

	(void)argc;
	if (vals__find(argv[0], sqlite3_value_int64(argv[1]), &v) && v.type != HISTORY_VAL_STRING)
		sqlite3_result_double(ctx, v.num);
}

/* tw_str(vals, key): a string value; NULL otherwise. */
static void vals__str(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct history__val v;

	(void)argc;
	if (vals__find(argv[0], sqlite3_value_int64(argv[1]), &v) && v.type == HISTORY_VAL_STRING)
		sqlite3_result_text(ctx, v.len ? v.str : "", (int)v.len, SQLITE_TRANSIENT);
}

/* tw_count(vals): how many values the point holds. */
static void vals__count(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *p = sqlite3_value_blob(argv[0]);
	size_t n = (size_t)sqlite3_value_bytes(argv[0]), pos = 0;
	struct history__val v;
	sqlite3_int64 count = 0;

	(void)argc;
	while (history__vals_next(p, n, &pos, &v) > 0)
		count++;
	sqlite3_result_int64(ctx, count);
}

/* Returns the point built in out (an empty BLOB for none), or the error; frees out. */
static void vals__result(sqlite3_context *ctx, int rc, struct history__vals *out)
{
	if (rc != TW_OK)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_blob(ctx, out->p ? (const void *)out->p : "", (int)out->len,
				    SQLITE_TRANSIENT);
	history__vals_free(out);
}

/* tw_merge(old, new): both points' values, new's where both have a key. */
static void vals__merge(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *a = sqlite3_value_blob(argv[0]), *b = sqlite3_value_blob(argv[1]);
	size_t na = (size_t)sqlite3_value_bytes(argv[0]), nb = (size_t)sqlite3_value_bytes(argv[1]);
	size_t pa = 0, pb = 0;
	struct history__vals out = { 0 };
	struct history__val va, vb;
	int ga = history__vals_next(a, na, &pa, &va), gb = history__vals_next(b, nb, &pb, &vb);
	int rc = TW_OK;

	(void)argc;
	if (na + nb > HISTORY_POINT_MAX) {
		struct tw_history *h = sqlite3_user_data(ctx);

		if (h)
			h->points_replaced++;
		sqlite3_result_value(ctx, argv[1]);
		return;
	}
	while (rc == TW_OK && (ga > 0 || gb > 0)) {
		if (gb <= 0 || (ga > 0 && va.key < vb.key)) {
			rc = history__vals_add(&out, &va);
			ga = history__vals_next(a, na, &pa, &va);
			continue;
		}
		if (ga > 0 && va.key == vb.key)
			ga = history__vals_next(a, na, &pa, &va);
		rc = history__vals_add(&out, &vb);
		gb = history__vals_next(b, nb, &pb, &vb);
	}
	vals__result(ctx, rc, &out);
}

/* tw_pack(key_id, type, num, str), an aggregate: one point from rows of one value. */
struct vals__pack {
	struct history__val *v;
	size_t n, cap;
	int failed;
};

static void vals__pack_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct vals__pack **pp = sqlite3_aggregate_context(ctx, sizeof(*pp)), *pk;
	struct history__val *v;
	const unsigned char *s;

	(void)argc;
	if (!pp || (!*pp && !(*pp = calloc(1, sizeof(**pp))))) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	pk = *pp;
	if (pk->failed)
		return;
	if (pk->n == pk->cap) {
		size_t cap = pk->cap ? pk->cap * 2 : 8;

		if (!(v = realloc(pk->v, cap * sizeof(*v)))) {
			pk->failed = 1;
			return;
		}
		pk->v = v;
		pk->cap = cap;
	}
	v = &pk->v[pk->n];
	memset(v, 0, sizeof(*v));
	v->key = sqlite3_value_int64(argv[0]);
	v->type = sqlite3_value_int(argv[1]);
	if (v->type == HISTORY_VAL_NUMBER || v->type == HISTORY_VAL_BOOL) {
		v->num = sqlite3_value_double(argv[2]);
	} else {
		v->type = HISTORY_VAL_STRING;
		s = sqlite3_value_text(argv[3]);
		v->len = s ? (size_t)sqlite3_value_bytes(argv[3]) : 0;
		if (v->len && !(v->str = malloc(v->len))) {
			pk->failed = 1;
			return;
		}
		if (v->len)
			memcpy((char *)v->str, s, v->len);
	}
	pk->n++;
}


static void vals__pack_final(sqlite3_context *ctx)
{
	struct vals__pack **pp = sqlite3_aggregate_context(ctx, 0), *pk = pp ? *pp : NULL;
	struct history__vals out = { 0 };
	int rc = pk && pk->failed ? TW_ERR_NOMEM : TW_OK;

	if (pk && rc == TW_OK) {
		history__vals_sort(pk->v, pk->n);
		for (size_t i = 0; i < pk->n && rc == TW_OK; i++)
			rc = history__vals_add(&out, &pk->v[i]);
	}
	vals__result(ctx, rc, &out);
	if (pk) {
		for (size_t i = 0; i < pk->n; i++)
			free((char *)pk->v[i].str);
		free(pk->v);
		free(pk);
	}
}

int history__vals_functions(sqlite3 *db, struct tw_history *h)
{
	static const struct {
		const char *name;
		int argc;
		void (*fn)(sqlite3_context *, int, sqlite3_value **);
	} fns[] = {
		{ "tw_type", 2, vals__type },	{ "tw_num", 2, vals__num },
		{ "tw_str", 2, vals__str },	{ "tw_count", 1, vals__count },
		{ "tw_merge", 2, vals__merge },
	};

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (sqlite3_create_function_v2(db, fns[i].name, fns[i].argc, VALS_FN_FLAGS, h,
					       fns[i].fn, NULL, NULL, NULL) != SQLITE_OK)
			return TW_ERR_DB;
	return sqlite3_create_function_v2(db, "tw_pack", 4, VALS_FN_FLAGS, NULL, NULL,
					  vals__pack_step, vals__pack_final, NULL) == SQLITE_OK
	       ? TW_OK : TW_ERR_DB;
}
