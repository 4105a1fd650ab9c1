/* retain.c -- retention: delete old points, rollups and seen marks in bounded batches, give pages back */
#include <stdint.h>
#include <stdio.h>

#include "store_internal.h"
#include "telewire/error.h"

#define RETAIN_DEFAULT_BATCH 10000
#define RETAIN_ROLLUP_MS 50	/* the rollup pass per call, as ingest's writes wait for it */

/* RT_SEEN, RT_DEVICES and RT_DONE follow each other (retain__device). */
enum { RT_ROLLUP, RT_SAMPLES, RT_ROLLUPS, RT_SEEN, RT_DEVICES, RT_DONE };

/* Steps a one-row statement: 1 and the first column in *v, 0 for no row, -1 on error. */
static int retain__one(sqlite3_stmt *st, sqlite3_int64 *v, sqlite3_int64 *v2)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		if (v2)
			*v2 = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Runs a DELETE; returns the rows it removed, or -1. */
static long long retain__delete(struct tw_history *h, enum history__stmt s)
{
	return history__exec(h, s) == TW_OK ? (long long)sqlite3_changes64(h->db) : -1;
}

/*
 * Old points of the next device at or after r->dev, at most room of them.
 * Returns the work done (rows + 1 for the seeks), or -1. Moves to the next
 * device when this one has nothing older than the cutoff left, and to the
 * next phase after the last one. r->samples counts the values deleted.
 */
static long long retain__points(struct tw_history *h, struct tw_history_retain *r, size_t room)
{
	sqlite3_stmt *next = h->st[HS_RT_NEXT], *edge = h->st[HS_RT_EDGE], *del = h->st[HS_RT_POINTS];
	sqlite3_int64 dev, until = r->before;
	long long n = 0;
	int got, rc;

	sqlite3_bind_int64(next, 1, r->dev);
	if ((got = retain__one(next, &dev, NULL)) <= 0) {
		r->phase = h->ru_state > 0 ? RT_ROLLUPS : RT_SEEN;
		r->dev = r->key = 0;
		return got < 0 ? -1 : 1;
	}
	r->dev = dev;
	sqlite3_bind_int64(edge, 1, dev);
	sqlite3_bind_int64(edge, 2, r->before);
	sqlite3_bind_int64(edge, 3, (sqlite3_int64)room);
	/* the ts after the first room old points: delete below it, then come back */
	if ((got = retain__one(edge, &until, NULL)) < 0)
		return -1;
	sqlite3_bind_int64(del, 1, dev);
	sqlite3_bind_int64(del, 2, got ? until : r->before);
	while ((rc = sqlite3_step(del)) == SQLITE_ROW) {
		r->samples += (uint64_t)sqlite3_column_int64(del, 0);
		n++;
	}
	sqlite3_reset(del);
	if (rc != SQLITE_DONE)
		return -1;
	if (!got)
		r->dev++;
	return n + 1;
}

/* Moves r to the next series (device, key) at or after where it is, by
 * pair, and runs fn on it; past the last one, goes on to phase next. */
static long long retain__walk(struct tw_history *h, struct tw_history_retain *r, size_t room,
			      sqlite3_stmt *pair, int next,
			      long long (*fn)(struct tw_history *, struct tw_history_retain *, size_t))
{
	sqlite3_int64 dev, key;
	int got;

	sqlite3_bind_int64(pair, 1, r->dev);
	sqlite3_bind_int64(pair, 2, r->key);
	if ((got = retain__one(pair, &dev, &key)) < 0)
		return -1;
	if (!got) {
		r->phase = next;
		r->dev = r->key = 0;
		return 1;
	}
	r->dev = dev;
	r->key = key;
	return fn(h, r, room);
}

/* The cutoff of the rollups: rollup_before, or before when it is 0 or later. */
static int64_t retain__rollup_cut(const struct tw_history_retain *r)
{
	return r->rollup_before && r->rollup_before < r->before ? r->rollup_before : r->before;
}

/*
 * The rollup buckets of one series that end by the cutoff, at most room
 * rows; then the hour holding the cutoff again from its minutes left.
 * Returns the work done, or -1.
 */
static long long retain__rollup_series(struct tw_history *h, struct tw_history_retain *r,
				       size_t room)
{
	static const int64_t widths[] = { HISTORY_ROLLUP_MINUTE, HISTORY_ROLLUP_HOUR };
	int64_t cut = retain__rollup_cut(r);
	int64_t hour = cut > INT64_MIN + HISTORY_ROLLUP_HOUR ? history__floor(cut, HISTORY_ROLLUP_HOUR)
			: cut;
	sqlite3_stmt *edge = h->ru[RU_RT_EDGE], *del = h->ru[RU_RT_DELETE];
	long long n, work = 1;
	int got = 0;

	for (size_t i = 0; i < 2 && !got && cut > INT64_MIN + widths[i]; i++) {
		sqlite3_int64 last = cut - widths[i], until = 0, unused;
		sqlite3_stmt *both[2] = { edge, del };

		for (int j = 0; j < 2; j++) {
			sqlite3_bind_int64(both[j], 1, r->dev);
			sqlite3_bind_int64(both[j], 2, r->key);
			sqlite3_bind_int64(both[j], 3, widths[i]);
		}
		sqlite3_bind_int64(edge, 4, last);
		sqlite3_bind_int64(edge, 5, (sqlite3_int64)(room > (size_t)work ? room - work : 1));
		if ((got = retain__one(edge, &until, &unused)) < 0)
			return -1;
		sqlite3_bind_int64(del, 4, got ? until - 1 : last);
		n = sqlite3_step(del) == SQLITE_DONE ? (long long)sqlite3_changes64(h->db) : -1;
		sqlite3_reset(del);
		if (n < 0)
			return -1;
		r->rollups += (uint64_t)n;
		work += n;
	}
	if (got)
		return work;	/* room is used up: back to this series next time */
	if (hour != cut && cut > INT64_MIN + HISTORY_ROLLUP_HOUR &&
	    history__rollup_hour(h, r->dev, r->key, hour) != TW_OK)
		return -1;
	r->key++;
	return work;
}

static long long retain__rollups(struct tw_history *h, struct tw_history_retain *r, size_t room)
{
	return retain__walk(h, r, room, h->ru[RU_RT_PAIR], RT_SEEN, retain__rollup_series);
}

/* Deletes dev when nothing of it is left (with rollups: none of them either). */
static long long retain__device_delete(struct tw_history *h, struct tw_history_retain *r,
				       sqlite3_int64 dev)
{
	sqlite3_stmt *del = h->ru_state > 0 ? h->ru[RU_RT_DEVICE_DEL] : h->st[HS_RT_DEVICE_DEL];
	long long n;
	int rc;

	sqlite3_bind_int64(del, 1, dev);
	rc = sqlite3_step(del);
	sqlite3_reset(del);
	if (rc != SQLITE_DONE)
		return -1;
	n = (long long)sqlite3_changes64(h->db);
	if (n > 0 && h->ru_state > 0) {
		sqlite3_bind_int64(h->ru[RU_RT_PENDING_DEL], 1, dev);
		rc = sqlite3_step(h->ru[RU_RT_PENDING_DEL]);
		sqlite3_reset(h->ru[RU_RT_PENDING_DEL]);
		if (rc != SQLITE_DONE)
			return -1;
	}
	if (n > 0) {
		sqlite3_bind_int64(h->st[HS_RT_SERIES_DEL], 1, dev);
		if (history__exec(h, HS_RT_SERIES_DEL) != TW_OK)
			return -1;
	}
	r->devices += (uint64_t)n;
	r->dev++;
	return 1;
}

/* The seen marks of the next device, at most room; then its row if it is empty. */
static long long retain__device(struct tw_history *h, struct tw_history_retain *r, size_t room)
{
	sqlite3_stmt *next = h->st[HS_RT_DEVICE_NEXT], *seen = h->st[HS_RT_SEEN];
	sqlite3_int64 dev, unused;
	long long n;
	int got;

	sqlite3_bind_int64(next, 1, r->dev);
	if ((got = retain__one(next, &dev, &unused)) < 0)
		return -1;
	if (!got) {
		r->phase++;
		r->dev = 0;
		return 1;
	}
	r->dev = dev;
	if (r->phase == RT_DEVICES)
		return retain__device_delete(h, r, dev);
	sqlite3_bind_int64(seen, 1, dev);
	sqlite3_bind_int64(seen, 2, r->before);
	sqlite3_bind_int64(seen, 3, (sqlite3_int64)room);
	if ((n = retain__delete(h, HS_RT_SEEN)) < 0)
		return -1;
	r->seen += (uint64_t)n;
	if ((size_t)n < room)
		r->dev++;
	return n + 1;
}

/* Brings the rollups up to date before any sample goes, RETAIN_ROLLUP_MS
 * at a time (a file without rollups, opened read-only, skips this). */
static int retain__rollup_pass(struct tw_history *h, struct tw_history_retain *r)
{
	int rc = history__rollup_ready(h) ? tw_history_rollup_step(h, RETAIN_ROLLUP_MS, NULL)
					  : TW_OK;

	if (rc == TW_OK) {
		r->phase = RT_SAMPLES;
		r->dev = r->key = 0;
	}
	return rc == TW_OK || rc == TW_ERR_AGAIN ? TW_ERR_AGAIN : rc;
}

int tw_history_retain_step(struct tw_history *h, struct tw_history_retain *r)
{
	size_t batch = r->batch ? r->batch : RETAIN_DEFAULT_BATCH, work = 0;
	long long n = 0;

	if (r->phase >= RT_DONE)
		return TW_OK;
	if (r->phase == RT_ROLLUP)
		return retain__rollup_pass(h, r);
	if (tw_history_begin(h) != TW_OK)
		return TW_ERR_DB;
	if (r->phase == RT_SAMPLES && h->ru_state > 0) {
		/* from now on the rollup pass keeps the buckets before it as they are */
		sqlite3_bind_int64(h->ru[RU_SET_HORIZON], 1, r->before);
		n = sqlite3_step(h->ru[RU_SET_HORIZON]) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(h->ru[RU_SET_HORIZON]);
	}
	/* Work counts rows and seeks, so that a store of many small series
	 * also yields the lock now and then. */
	while (work < batch && r->phase < RT_DONE && n >= 0) {
		n = r->phase == RT_SAMPLES ? retain__points(h, r, batch - work)
		    : r->phase == RT_ROLLUPS ? retain__rollups(h, r, batch - work)
		    : retain__device(h, r, batch - work);
		work += n > 0 ? (size_t)n : 0;
	}
	if (n < 0) {
		tw_history_rollback(h);
		return TW_ERR_DB;
	}
	if (tw_history_commit(h) != TW_OK)
		return TW_ERR_DB;
	return r->phase >= RT_DONE ? TW_OK : TW_ERR_AGAIN;
}

static int retain__pragma_int(struct tw_history *h, const char *sql, int64_t *v)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK)
		return TW_ERR_DB;
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? TW_OK : TW_ERR_DB;
}

int tw_history_vacuum_enabled(struct tw_history *h)
{
	int64_t mode = 0;

	return retain__pragma_int(h, "PRAGMA auto_vacuum", &mode) == TW_OK && mode == 2;
}

int tw_history_vacuum_step(struct tw_history *h, int pages, int64_t *left)
{
	char sql[64];

	if (pages > 0 && tw_history_vacuum_enabled(h)) {
		snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%d)", pages);
		if (sqlite3_exec(h->db, sql, NULL, NULL, NULL) != SQLITE_OK)
			return TW_ERR_DB;
	}
	return retain__pragma_int(h, "PRAGMA freelist_count", left);
}
