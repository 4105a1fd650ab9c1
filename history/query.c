/* query.c -- the read path of the history store: rows, buckets (from samples and rollups), devices, keys, deadlines */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "telewire/clock.h"
#include "telewire/error.h"

#define HISTORY_DEFAULT_LIMIT 10000
#define HISTORY_PROGRESS_OPS 1000	/* VM steps between two looks at the clock */

static int history__progress(void *ctx)
{
	struct tw_history *h = ctx;

	if (h->deadline && tw_mono_ms() > h->deadline)
		h->timed_out = 1;
	return h->timed_out;
}

void tw_history_set_deadline(struct tw_history *h, int64_t deadline_ms)
{
	h->deadline = deadline_ms;
	h->timed_out = 0;
	sqlite3_progress_handler(h->db, deadline_ms ? HISTORY_PROGRESS_OPS : 0,
				 deadline_ms ? history__progress : NULL, h);
}

/* What a failed step means: the deadline (TW_ERR_LIMIT) or SQLite's error. */
static int history__step_error(struct tw_history *h, int rc)
{
	return rc == SQLITE_INTERRUPT && h->timed_out ? TW_ERR_LIMIT : TW_ERR_DB;
}

/* A string value with a NUL after it, in h->text (until the next row). */
static const char *history__text(struct tw_history *h, const char *s, size_t len)
{
	if (len >= h->text.cap) {
		unsigned char *p = realloc(h->text.p, len + 1);

		if (!p)
			return NULL;
		h->text.p = p;
		h->text.cap = len + 1;
	}
	if (len)
		memcpy(h->text.p, s, len);
	h->text.p[len] = '\0';
	return (const char *)h->text.p;
}

/* The value of key in the point at st's row into row: 1, 0 when the point
 * has none, -1 when out of memory (a string is copied to add its NUL). */
static int history__row_of(struct tw_history *h, sqlite3_stmt *st, sqlite3_int64 key,
			   const char *name, struct tw_history_row *row)
{
	const unsigned char *p = sqlite3_column_blob(st, 1);
	size_t n = (size_t)sqlite3_column_bytes(st, 1), pos = 0;
	struct history__val v;

	while (history__vals_next(p, n, &pos, &v) > 0 && v.key <= key) {
		if (v.key < key)
			continue;
		row->key = name;
		row->ts = sqlite3_column_int64(st, 0);
		row->num = v.num;
		row->b = v.num != 0;
		row->str = NULL;
		row->type = v.type == HISTORY_VAL_NUMBER ? TW_VALUE_NUMBER
			    : v.type == HISTORY_VAL_BOOL ? TW_VALUE_BOOL : TW_VALUE_STRING;
		if (row->type == TW_VALUE_STRING && !(row->str = history__text(h, v.str, v.len)))
			return -1;
		return 1;
	}
	return 0;
}

/* Binds the series and its range: ?1 device id, ?2 key id, ?3..?4 ts. */
static void history__bind_series(sqlite3_stmt *st, sqlite3_int64 dev, sqlite3_int64 key,
				 int64_t lo, int64_t hi)
{
	sqlite3_bind_int64(st, 1, dev);
	sqlite3_bind_int64(st, 2, key);
	sqlite3_bind_int64(st, 3, lo);
	sqlite3_bind_int64(st, 4, hi);
}

/* Steps st over the points of the range, hands fn the first limit values
 * of key (or until fn stops), then resets it. */
static int history__rows(struct tw_history *h, sqlite3_stmt *st, sqlite3_int64 key,
			 const char *name, size_t limit, tw_history_row_fn fn, void *ctx)
{
	struct tw_history_row row;
	size_t sent = 0;
	int rc = SQLITE_DONE, got;

	while (sent < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((got = history__row_of(h, st, key, name, &row)) == 0)
			continue;
		if (got < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		sent++;
		if (fn(ctx, &row) != 0)
			break;
	}
	if (sent == limit || rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? TW_OK : rc == SQLITE_NOMEM ? TW_ERR_NOMEM : history__step_error(h, rc);
}

int64_t tw_history_buckets(const struct tw_history_query *q)
{
	uint64_t span = (uint64_t)q->end - (uint64_t)q->start + 1, n;

	if (q->agg == TW_HISTORY_AGG_NONE || q->interval <= 0 || q->start > q->end)
		return 1;
	n = span / (uint64_t)q->interval + (span % (uint64_t)q->interval != 0);
	return n > INT64_MAX ? INT64_MAX : (int64_t)n;
}

static int history__exec_ru(struct tw_history *h, enum history__rollup_stmt s)
{
	int rc = sqlite3_step(h->ru[s]);

	sqlite3_reset(h->ru[s]);
	return rc == SQLITE_DONE ? TW_OK : TW_ERR_DB;
}

/* One aggregate over [lo, hi]: 1 with *v set, 0 for an empty bucket, or an error. */
static int history__bucket(struct tw_history *h, sqlite3_stmt *st, sqlite3_int64 dev,
			   sqlite3_int64 key, int64_t lo, int64_t hi, double *v)
{
	int rc, got = 0;

	history__bind_series(st, dev, key, lo, hi);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*v = sqlite3_column_double(st, 0);
		got = 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? got : history__step_error(h, rc);
}

/* What a range holds, added up from rollup buckets and samples. */
struct history__acc {
	sqlite3_int64 n, nnum;	/* values; numbers and booleans among them */
	double sum, min, max;
};

/* Rollup resolutions, coarsest first. */
static const int64_t history__widths[] = { HISTORY_ROLLUP_HOUR, HISTORY_ROLLUP_MINUTE };
#define HISTORY_NWIDTHS (sizeof(history__widths) / sizeof(history__widths[0]))

/* Adds the row of RU_SUM_ROLLUPS or RU_SUM_SAMPLES (n, nnum, sum, min, max) to a. */
static int history__acc_add(struct tw_history *h, enum history__rollup_stmt s,
			    struct history__acc *a)
{
	sqlite3_stmt *st = h->ru[s];
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW && sqlite3_column_int64(st, 1) > 0) {
		double mn = sqlite3_column_double(st, 3), mx = sqlite3_column_double(st, 4);

		a->min = a->nnum == 0 || mn < a->min ? mn : a->min;
		a->max = a->nnum == 0 || mx > a->max ? mx : a->max;
		a->nnum += sqlite3_column_int64(st, 1);
		a->sum += sqlite3_column_double(st, 2);
	}
	if (rc == SQLITE_ROW)
		a->n += sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? TW_OK : history__step_error(h, rc);
}

/* The whole buckets of width w inside [lo, hi] that end by usable (the
 * device's pending since: the rollups after it are stale): [*b0, *b1). */
static void history__whole(int64_t lo, int64_t hi, int64_t usable, int64_t w, int64_t *b0,
			   int64_t *b1)
{
	int64_t e = usable <= INT64_MIN + w ? INT64_MIN + w : hi < usable - 1 ? hi : usable - 1;

	*b0 = lo > INT64_MAX - w ? INT64_MAX : history__floor(lo + w - 1, w);
	*b1 = e == INT64_MAX ? history__floor(e, w) : history__floor(e + 1, w);
}

/*
 * Adds [lo, hi] to a: the whole buckets of resolution level from rollups,
 * the unaligned edges from the next finer one, and what no rollup covers
 * from the samples.
 */
static int history__span(struct tw_history *h, sqlite3_int64 dev, sqlite3_int64 key, int64_t lo,
			 int64_t hi, int64_t usable, size_t level, struct history__acc *a)
{
	sqlite3_stmt *st;
	int64_t b0, b1;
	int rc;

	if (level == HISTORY_NWIDTHS) {
		history__bind_series(h->ru[RU_SUM_SAMPLES], dev, key, lo, hi);
		return history__acc_add(h, RU_SUM_SAMPLES, a);
	}
	history__whole(lo, hi, usable, history__widths[level], &b0, &b1);
	if (b0 >= b1)
		return history__span(h, dev, key, lo, hi, usable, level + 1, a);
	if (lo < b0 && (rc = history__span(h, dev, key, lo, b0 - 1, usable, level + 1, a)) != TW_OK)
		return rc;
	st = h->ru[RU_SUM_ROLLUPS];
	history__bind_series(st, dev, key, history__widths[level], b0);
	sqlite3_bind_int64(st, 5, b1);
	if ((rc = history__acc_add(h, RU_SUM_ROLLUPS, a)) != TW_OK)
		return rc;
	return b1 <= hi ? history__span(h, dev, key, b1, hi, usable, level + 1, a) : TW_OK;
}

/* The aggregate of a: 1 with *v set, 0 when it has no value (as SQL's NULL). */
static int history__acc_value(enum tw_history_agg agg, const struct history__acc *a, double *v)
{
	if (agg == TW_HISTORY_AGG_COUNT) {
		*v = (double)a->n;
		return a->n > 0;
	}
	if (a->nnum == 0)
		return 0;
	*v = agg == TW_HISTORY_AGG_AVG ? a->sum / (double)a->nnum
	     : agg == TW_HISTORY_AGG_MIN ? a->min
	     : agg == TW_HISTORY_AGG_MAX ? a->max : a->sum;
	return 1;
}

/* One bucket [lo, hi], from rollups where a whole minute fits and they are
 * current, else from the samples alone (st: the HS_AGG_* of the query). */
static int history__bucket_any(struct tw_history *h, const struct tw_history_query *q,
			       sqlite3_stmt *st, sqlite3_int64 dev, sqlite3_int64 key, int64_t lo,
			       int64_t hi, int64_t usable, double *v)
{
	struct history__acc a = { 0 };
	int64_t b0, b1;
	int rc;

	if (usable != INT64_MIN)
		history__whole(lo, hi, usable, HISTORY_ROLLUP_MINUTE, &b0, &b1);
	if (usable == INT64_MIN || b0 >= b1)
		return history__bucket(h, st, dev, key, lo, hi, v);
	if ((rc = history__span(h, dev, key, lo, hi, usable, 0, &a)) != TW_OK)
		return rc;
	return history__acc_value(q->agg, &a, v);
}

/* Up to where dev's rollups are current (its pending since; INT64_MAX when
 * it has none), INT64_MIN when rollups cannot be used, or an error. */
static int history__usable(struct tw_history *h, sqlite3_int64 dev, int64_t *usable)
{
	sqlite3_stmt *st;
	int rc;

	*usable = INT64_MIN;
	if (!history__rollup_ready(h))
		return TW_OK;
	st = h->ru[RU_SINCE];
	sqlite3_bind_int64(st, 1, dev);
	rc = sqlite3_step(st);
	*usable = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : INT64_MAX;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? TW_OK : history__step_error(h, rc);
}

/*
 * Buckets one at a time, each a range seek on the primary key and one
 * SQLite aggregate over it. A single GROUP BY over the range gives the
 * same result but sorts every row into a temporary B-tree first (SQLite
 * cannot see that the bucket grows with ts): about twice as slow on 24 h
 * at 1 Hz (tests/perf/bench_history.c prints both). A bucket that holds a
 * whole rollup minute is read from the rollups instead (history__span),
 * all of them in one read transaction, so that the device's pending since
 * and the rollups it guards are of the same moment.
 */
static int history__aggregate(struct tw_history *h, const struct tw_history_query *q,
			      sqlite3_int64 dev, sqlite3_int64 key, tw_history_row_fn fn, void *ctx)
{
	sqlite3_stmt *st = h->st[HS_AGG_AVG + (q->agg - TW_HISTORY_AGG_AVG)];
	int64_t nb = tw_history_buckets(q), width = q->interval > 0 ? q->interval : 0;
	size_t limit = q->limit ? q->limit : HISTORY_DEFAULT_LIMIT, sent = 0;
	struct tw_history_row row = { .key = q->key, .type = TW_VALUE_NUMBER };
	int64_t usable;
	int rc = TW_OK, tx = 0;

	if (nb > TW_HISTORY_MAX_BUCKETS)
		return TW_ERR_LIMIT;
	/* one snapshot: the pending since read here is the one the rollups match */
	if (sqlite3_get_autocommit(h->db) && history__rollup_ready(h)) {
		if (history__exec_ru(h, RU_READ_BEGIN) != TW_OK)
			return TW_ERR_DB;
		tx = 1;
	}
	if ((rc = history__usable(h, dev, &usable)) != TW_OK)
		nb = 0;
	for (int64_t i = 0; i < nb && sent < limit; i++) {
		int64_t k = q->descending ? nb - 1 - i : i;
		int64_t lo = width ? q->start + k * width : q->start;
		/* lo + width - 1 may pass INT64_MAX only in the last bucket */
		int64_t hi = !width || q->end - lo < width ? q->end : lo + width - 1;

		if (h->deadline && tw_mono_ms() > h->deadline) {
			rc = TW_ERR_LIMIT;
			break;
		}
		rc = history__bucket_any(h, q, st, dev, key, lo, hi, usable, &row.num);
		if (rc < 0)
			break;
		if (rc == 0)
			continue;
		rc = TW_OK;
		row.ts = lo;
		row.b = row.num != 0;
		sent++;
		if (fn(ctx, &row) != 0)
			break;
	}
	sqlite3_clear_bindings(st);
	if (tx)
		history__exec_ru(h, RU_READ_END);
	return rc;
}

int tw_history_query(struct tw_history *h, const struct tw_history_query *q,
		     tw_history_row_fn fn, void *ctx)
{
	sqlite3_stmt *st = h->st[q->descending ? HS_QUERY_DESC : HS_QUERY_ASC];
	sqlite3_int64 dev, key = 0;

	if (!q->device || !q->key || q->start > q->end || q->interval < 0 ||
	    q->agg < TW_HISTORY_AGG_NONE || q->agg > TW_HISTORY_AGG_COUNT)
		return TW_ERR_INVAL;
	if (tw_history_buckets(q) > TW_HISTORY_MAX_BUCKETS)
		return TW_ERR_LIMIT;
	if ((dev = history__lookup(h, HS_DEVICE_ID, q->device)) <= 0 ||
	    (key = history__lookup(h, HS_KEY_ID, q->key)) <= 0)
		return dev < 0 || key < 0 ? TW_ERR_DB : TW_OK;
	if (q->agg != TW_HISTORY_AGG_NONE)
		return history__aggregate(h, q, dev, key, fn, ctx);
	history__bind_series(st, dev, key, q->start, q->end);
	return history__rows(h, st, key, q->key, q->limit ? q->limit : HISTORY_DEFAULT_LIMIT, fn,
			     ctx);
}

static int history__names(struct tw_history *h, sqlite3_stmt *st, tw_history_name_fn fn,
			  void *ctx)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fn(ctx, (const char *)sqlite3_column_text(st, 0)) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? TW_OK : history__step_error(h, rc);
}

int tw_history_devices(struct tw_history *h, tw_history_name_fn fn, void *ctx)
{
	return history__names(h, h->st[HS_DEVICES], fn, ctx);
}

int tw_history_keys(struct tw_history *h, const char *device, tw_history_name_fn fn, void *ctx)
{
	sqlite3_int64 dev;

	/* with rollups: also the keys whose samples retention deleted */
	if (history__rollup_ready(h)) {
		if ((dev = history__lookup(h, HS_DEVICE_ID, device)) <= 0)
			return dev < 0 ? TW_ERR_DB : TW_OK;
		sqlite3_bind_int64(h->ru[RU_KEYS], 1, dev);
		return history__names(h, h->ru[RU_KEYS], fn, ctx);
	}
	sqlite3_bind_text(h->st[HS_KEYS], 1, device, -1, SQLITE_STATIC);
	return history__names(h, h->st[HS_KEYS], fn, ctx);
}

int tw_history_device_exists(struct tw_history *h, const char *device)
{
	sqlite3_stmt *st = h->st[HS_DEVICE_ID];
	int rc;

	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : history__step_error(h, rc);
}
