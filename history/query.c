/* query.c -- the read path of the history store: rows, buckets, devices, keys, deadlines */
#include <sqlite3.h>

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

static void history__row_of(sqlite3_stmt *st, const char *key, struct tw_history_row *row)
{
	int type = sqlite3_column_int(st, 1);

	row->key = key;
	row->ts = sqlite3_column_int64(st, 0);
	row->num = sqlite3_column_double(st, 2);
	row->b = row->num != 0;
	row->str = (const char *)sqlite3_column_text(st, 3);
	row->type = type == 1 ? TW_VALUE_NUMBER : type == 2 ? TW_VALUE_BOOL : TW_VALUE_STRING;
	if (row->type == TW_VALUE_STRING && !row->str)
		row->str = "";
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

/* Steps st to the end (or until fn stops), then resets it. */
static int history__rows(struct tw_history *h, sqlite3_stmt *st, const char *key,
			 tw_history_row_fn fn, void *ctx)
{
	struct tw_history_row row;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		history__row_of(st, key, &row);
		if (fn(ctx, &row) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? TW_OK : history__step_error(h, rc);
}

int64_t tw_history_buckets(const struct tw_history_query *q)
{
	uint64_t span = (uint64_t)q->end - (uint64_t)q->start + 1, n;

	if (q->agg == TW_HISTORY_AGG_NONE || q->interval <= 0 || q->start > q->end)
		return 1;
	n = span / (uint64_t)q->interval + (span % (uint64_t)q->interval != 0);
	return n > INT64_MAX ? INT64_MAX : (int64_t)n;
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

/*
 * Buckets one at a time, each a range seek on the primary key and one
 * SQLite aggregate over it. A single GROUP BY over the range gives the
 * same result but sorts every row into a temporary B-tree first (SQLite
 * cannot see that the bucket grows with ts): about twice as slow on 24 h
 * at 1 Hz (tests/perf/bench_history.c prints both).
 */
static int history__aggregate(struct tw_history *h, const struct tw_history_query *q,
			      sqlite3_int64 dev, sqlite3_int64 key, tw_history_row_fn fn, void *ctx)
{
	sqlite3_stmt *st = h->st[HS_AGG_AVG + (q->agg - TW_HISTORY_AGG_AVG)];
	int64_t nb = tw_history_buckets(q), width = q->interval > 0 ? q->interval : 0;
	size_t limit = q->limit ? q->limit : HISTORY_DEFAULT_LIMIT, sent = 0;
	struct tw_history_row row = { .key = q->key, .type = TW_VALUE_NUMBER };
	int rc = TW_OK;

	if (nb > TW_HISTORY_MAX_BUCKETS)
		return TW_ERR_LIMIT;
	for (int64_t i = 0; i < nb && sent < limit; i++) {
		int64_t k = q->descending ? nb - 1 - i : i;
		int64_t lo = width ? q->start + k * width : q->start;
		/* lo + width - 1 may pass INT64_MAX only in the last bucket */
		int64_t hi = !width || q->end - lo < width ? q->end : lo + width - 1;

		if (h->deadline && tw_mono_ms() > h->deadline) {
			rc = TW_ERR_LIMIT;
			break;
		}
		rc = history__bucket(h, st, dev, key, lo, hi, &row.num);
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
	sqlite3_bind_int64(st, 5, q->limit ? (sqlite3_int64)q->limit : HISTORY_DEFAULT_LIMIT);
	return history__rows(h, st, q->key, fn, ctx);
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
