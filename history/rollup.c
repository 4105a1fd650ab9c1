/* rollup.c -- the rollup pass: per-minute and per-hour aggregates of each series, kept current from rollup_pending */
#include <stdint.h>
#include <string.h>

#include "store_internal.h"
#include "telewire/clock.h"
#include "telewire/error.h"

#define RU_SERIES "device_id = ?1 AND key_id = ?2"
/* The values of key ?2 in device ?1's points of [?3, ?4] (vals.c). */
#define RU_VALUES "COUNT(tw_type(vals, ?2)), COUNT(tw_num(vals, ?2)), SUM(tw_num(vals, ?2))," \
		  " MIN(tw_num(vals, ?2)), MAX(tw_num(vals, ?2))"
#define RU_RANGE "FROM points WHERE device_id = ?1 AND ts BETWEEN ?3 AND ?4"
#define RU_COLUMNS "rollups(device_id, key_id, width, bucket, n, nnum, sum, min, max)"

static const char *const rollup__sql[RU_COUNT] = {
	[RU_NEXT] = "SELECT device_id, since FROM rollup_pending WHERE device_id > ?1"
		    " ORDER BY device_id LIMIT 1",
	[RU_HORIZON] = "SELECT raw_before FROM rollup_horizon WHERE id = 1",
	[RU_KEY_NEXT] = "SELECT key_id FROM series WHERE device_id = ?1 AND key_id > ?2"
			" ORDER BY key_id LIMIT 1",
	[RU_FIRST_TS] = "SELECT ts FROM points WHERE device_id = ?1 AND ts >= ?2 ORDER BY ts LIMIT 1",
	[RU_DEL_MINUTES] = "DELETE FROM rollups WHERE " RU_SERIES " AND width = 60000"
			   " AND bucket BETWEEN ?3 AND ?4",
	/* the same aggregates as store.c's HS_AGG_*: tw_num is NULL for strings */
	[RU_ADD_MINUTES] = "INSERT INTO " RU_COLUMNS " SELECT ?1, ?2, 60000,"
			   " ts - (ts % 60000 + 60000) % 60000 AS b, " RU_VALUES " " RU_RANGE
			   " GROUP BY b HAVING COUNT(tw_type(vals, ?2)) > 0",
	[RU_DEL_HOUR] = "DELETE FROM rollups WHERE " RU_SERIES " AND width = 3600000 AND bucket = ?3",
	[RU_ADD_HOUR] = "INSERT INTO " RU_COLUMNS " SELECT ?1, ?2, 3600000, ?3, SUM(n), SUM(nnum),"
			" SUM(sum), MIN(min), MAX(max) FROM rollups WHERE " RU_SERIES
			" AND width = 60000 AND bucket BETWEEN ?3 AND ?4 HAVING COUNT(*) > 0",
	/* only the since that was read: a writer may have lowered it */
	[RU_PENDING_MOVE] = "UPDATE rollup_pending SET since = ?3 WHERE device_id = ?1 AND since = ?2",
	[RU_PENDING_DONE] = "DELETE FROM rollup_pending WHERE device_id = ?1 AND since = ?2",
	[RU_SINCE] = "SELECT since FROM rollup_pending WHERE device_id = ?1",
	[RU_SUM_ROLLUPS] = "SELECT SUM(n), SUM(nnum), SUM(sum), MIN(min), MAX(max) FROM rollups"
			   " WHERE " RU_SERIES " AND width = ?3 AND bucket >= ?4 AND bucket < ?5",
	[RU_SUM_SAMPLES] = "SELECT " RU_VALUES " " RU_RANGE,
	[RU_READ_BEGIN] = "BEGIN",
	[RU_READ_END] = "COMMIT",
	[RU_SET_HORIZON] = "INSERT INTO rollup_horizon(id, raw_before) VALUES(1, ?1)"
			   " ON CONFLICT(id) DO UPDATE SET raw_before = MAX(raw_before,"
			   " excluded.raw_before)",
	[RU_RT_PAIR] = "SELECT device_id, key_id FROM rollups WHERE (device_id, key_id) >= (?1, ?2)"
		       " ORDER BY device_id, key_id LIMIT 1",
	[RU_RT_EDGE] = "SELECT bucket FROM rollups WHERE " RU_SERIES " AND width = ?3"
		       " AND bucket <= ?4 ORDER BY bucket LIMIT 1 OFFSET ?5",
	[RU_RT_DELETE] = "DELETE FROM rollups WHERE " RU_SERIES " AND width = ?3 AND bucket <= ?4",
	/* a device stays while it has rollups: they are found by its id */
	[RU_RT_DEVICE_DEL] = "DELETE FROM devices WHERE id = ?1"
			     " AND NOT EXISTS (SELECT 1 FROM points WHERE device_id = ?1)"
			     " AND NOT EXISTS (SELECT 1 FROM seen WHERE device_id = ?1)"
			     " AND NOT EXISTS (SELECT 1 FROM rollups WHERE device_id = ?1)",
	[RU_RT_PENDING_DEL] = "DELETE FROM rollup_pending WHERE device_id = ?1"
			      " AND NOT EXISTS (SELECT 1 FROM devices WHERE id = ?1)",
	[RU_KEYS] = "SELECT k.name FROM keys k WHERE"
		    " EXISTS (SELECT 1 FROM series s WHERE s.device_id = ?1 AND s.key_id = k.id)"
		    " OR EXISTS (SELECT 1 FROM rollups r WHERE r.device_id = ?1 AND r.key_id = k.id)"
		    " ORDER BY k.name",
};

int64_t history__floor(int64_t x, int64_t width)
{
	int64_t r = x % width;

	return r < 0 ? x - r - width : x - r;
}

int history__rollup_ready(struct tw_history *h)
{
	if (h->ru_state)
		return h->ru_state > 0;
	h->ru_state = 1;
	for (int i = 0; i < RU_COUNT && h->ru_state > 0; i++)
		if (sqlite3_prepare_v3(h->db, rollup__sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &h->ru[i], NULL) != SQLITE_OK)
			h->ru_state = -1;
	if (h->ru_state < 0)
		history__rollup_free(h);
	return h->ru_state > 0;
}

void history__rollup_free(struct tw_history *h)
{
	for (int i = 0; i < RU_COUNT; i++) {
		sqlite3_finalize(h->ru[i]);
		h->ru[i] = NULL;
	}
}

/* Steps a statement that returns at most one row: 1 with its first columns
 * in *v (and *v2), 0 without a row, -1 on error. Resets it either way. */
static int rollup__row(struct tw_history *h, enum history__rollup_stmt s, sqlite3_int64 *v,
		       sqlite3_int64 *v2)
{
	sqlite3_stmt *st = h->ru[s];
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW && v)
		*v = sqlite3_column_int64(st, 0);
	if (rc == SQLITE_ROW && v2)
		*v2 = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int rollup__one(struct tw_history *h, enum history__rollup_stmt s, sqlite3_int64 *v)
{
	return rollup__row(h, s, v, NULL);
}

/* Runs a statement that returns no rows: the rows it changed, or -1. */
static long long rollup__run(struct tw_history *h, enum history__rollup_stmt s)
{
	return rollup__one(h, s, NULL) < 0 ? -1 : (long long)sqlite3_changes64(h->db);
}

static void rollup__bind(struct tw_history *h, enum history__rollup_stmt s, sqlite3_int64 a,
			 sqlite3_int64 b, sqlite3_int64 c, sqlite3_int64 d)
{
	sqlite3_bind_int64(h->ru[s], 1, a);
	sqlite3_bind_int64(h->ru[s], 2, b);
	if (sqlite3_bind_parameter_count(h->ru[s]) >= 3)
		sqlite3_bind_int64(h->ru[s], 3, c);
	if (sqlite3_bind_parameter_count(h->ru[s]) >= 4)
		sqlite3_bind_int64(h->ru[s], 4, d);
}

int history__rollup_hour(struct tw_history *h, sqlite3_int64 dev, sqlite3_int64 key,
			 int64_t bucket)
{
	int64_t last = bucket > INT64_MAX - HISTORY_ROLLUP_HOUR ? INT64_MAX
			: bucket + HISTORY_ROLLUP_HOUR - 1;

	rollup__bind(h, RU_DEL_HOUR, dev, key, bucket, 0);
	rollup__bind(h, RU_ADD_HOUR, dev, key, bucket, last);
	return rollup__run(h, RU_DEL_HOUR) < 0 || rollup__run(h, RU_ADD_HOUR) < 0 ? TW_ERR_DB
										   : TW_OK;
}

/* The oldest point of dev at or after from: 1 and *ts, 0 for none, -1. */
static int rollup__first(struct tw_history *h, sqlite3_int64 dev, int64_t from, int64_t *ts)
{
	sqlite3_int64 t = 0;
	int got;

	rollup__bind(h, RU_FIRST_TS, dev, from, 0, 0);
	if ((got = rollup__one(h, RU_FIRST_TS, &t)) > 0)
		*ts = t;
	return got;
}

/* Recomputes the minute buckets [m0, last] and the hour bucket hour of
 * every key of dev; adds the rows written to st. TW_OK or TW_ERR_DB. */
static int rollup__recompute(struct tw_history *h, sqlite3_int64 dev, int64_t m0, int64_t hour,
			     int64_t last, struct tw_history_rollup_stats *st)
{
	sqlite3_int64 key = 0;
	long long n;
	int got;

	for (;;) {
		rollup__bind(h, RU_KEY_NEXT, dev, key, 0, 0);
		if ((got = rollup__one(h, RU_KEY_NEXT, &key)) <= 0)
			return got < 0 ? TW_ERR_DB : TW_OK;
		rollup__bind(h, RU_DEL_MINUTES, dev, key, m0, last);
		rollup__bind(h, RU_ADD_MINUTES, dev, key, m0, last);
		if (rollup__run(h, RU_DEL_MINUTES) < 0 || (n = rollup__run(h, RU_ADD_MINUTES)) < 0 ||
		    history__rollup_hour(h, dev, key, hour) != TW_OK)
			return TW_ERR_DB;
		st->buckets += (uint64_t)n + (sqlite3_changes64(h->db) > 0);
	}
}

/* Ends dev's pending row, or moves it to next: only if since is still what was read. */
static int rollup__pending(struct tw_history *h, sqlite3_int64 dev, sqlite3_int64 since,
			   int done, int64_t next)
{
	enum history__rollup_stmt s = done ? RU_PENDING_DONE : RU_PENDING_MOVE;

	rollup__bind(h, s, dev, since, next, 0);
	return rollup__run(h, s) < 0 ? TW_ERR_DB : TW_OK;
}

/*
 * One hour of dev from its pending since: the first hour holding a sample
 * at or after since, its minute buckets from that sample's minute on, and
 * the hour bucket (from its minute buckets). Buckets wholly before the
 * retention horizon are left alone: their samples may be gone, and what
 * they hold is all that is left of them.
 */
static int rollup__device(struct tw_history *h, sqlite3_int64 dev, sqlite3_int64 since,
			  struct tw_history_rollup_stats *st)
{
	sqlite3_int64 horizon = INT64_MIN;
	int64_t from = since, first, hour, last;
	int got;

	if (rollup__one(h, RU_HORIZON, &horizon) < 0)
		return TW_ERR_DB;
	if (horizon > from && horizon < INT64_MAX - HISTORY_ROLLUP_MINUTE)
		from = history__floor(horizon + HISTORY_ROLLUP_MINUTE - 1, HISTORY_ROLLUP_MINUTE);
	if ((got = rollup__first(h, dev, from, &first)) < 0)
		return TW_ERR_DB;
	if (!got) {
		st->devices++;
		return rollup__pending(h, dev, since, 1, 0);
	}
	hour = history__floor(first, HISTORY_ROLLUP_HOUR);
	last = hour > INT64_MAX - HISTORY_ROLLUP_HOUR ? INT64_MAX : hour + HISTORY_ROLLUP_HOUR - 1;
	if (rollup__recompute(h, dev, history__floor(first, HISTORY_ROLLUP_MINUTE), hour, last,
			      st) != TW_OK)
		return TW_ERR_DB;
	st->chunks++;
	if (last == INT64_MAX) {
		st->devices++;
		return rollup__pending(h, dev, since, 1, 0);
	}
	/* the next transaction looks for a sample after this hour */
	return rollup__pending(h, dev, since, 0, last + 1);
}

/* One transaction: TW_ERR_AGAIN after a device-hour, TW_OK when nothing is pending. */
static int rollup__chunk(struct tw_history *h, struct tw_history_rollup_stats *st)
{
	sqlite3_int64 dev = 0, since = 0;
	int got, rc = TW_OK;

	if (tw_history_begin(h) != TW_OK)
		return TW_ERR_DB;
	sqlite3_bind_int64(h->ru[RU_NEXT], 1, h->ru_cursor);
	if ((got = rollup__row(h, RU_NEXT, &dev, &since)) == 0 && h->ru_cursor != 0) {
		sqlite3_bind_int64(h->ru[RU_NEXT], 1, 0);
		got = rollup__row(h, RU_NEXT, &dev, &since);
	}
	if (got > 0)
		rc = rollup__device(h, dev, since, st);
	if (got < 0 || rc != TW_OK) {
		tw_history_rollback(h);
		return TW_ERR_DB;
	}
	if (tw_history_commit(h) != TW_OK)
		return TW_ERR_DB;
	h->ru_cursor = got ? dev : 0;
	return got ? TW_ERR_AGAIN : TW_OK;
}

int tw_history_rollup_step(struct tw_history *h, int64_t budget_ms,
			   struct tw_history_rollup_stats *st)
{
	struct tw_history_rollup_stats unused;
	int64_t t0 = tw_mono_ms();
	int rc;

	if (!st)
		st = memset(&unused, 0, sizeof(unused));
	if (h->in_tx || !sqlite3_get_autocommit(h->db) || !h->st[HS_BEGIN])
		return TW_ERR_INVAL;
	if (!history__rollup_ready(h))
		return TW_ERR_DB;
	do
		rc = rollup__chunk(h, st);
	while (rc == TW_ERR_AGAIN && tw_mono_ms() - t0 < budget_ms);
	return rc;
}
