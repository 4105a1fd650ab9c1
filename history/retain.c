/* retain.c -- retention: delete old samples and seen marks in bounded batches, give pages back */
#include <stdio.h>

#include "store_internal.h"
#include "telewire/error.h"

#define RETAIN_DEFAULT_BATCH 10000

enum { RT_SAMPLES, RT_SEEN, RT_DEVICES, RT_DONE };

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
 * Old samples of one series (device, key), at most room rows. Returns the
 * work done (rows + 1 for the seeks), or -1. Moves to the next series when
 * this one has nothing older than the cutoff left.
 */
static long long retain__series(struct tw_history *h, struct tw_history_retain *r, size_t room)
{
	sqlite3_stmt *edge = h->st[HS_RT_EDGE], *del = h->st[HS_RT_SAMPLES];
	sqlite3_int64 until = r->before, unused;
	long long n;
	int got;

	sqlite3_bind_int64(edge, 1, r->dev);
	sqlite3_bind_int64(edge, 2, r->key);
	sqlite3_bind_int64(edge, 3, r->before);
	sqlite3_bind_int64(edge, 4, (sqlite3_int64)room);
	/* the ts after the first room old rows: delete below it, then come back */
	if ((got = retain__one(edge, &until, &unused)) < 0)
		return -1;
	sqlite3_bind_int64(del, 1, r->dev);
	sqlite3_bind_int64(del, 2, r->key);
	sqlite3_bind_int64(del, 3, got ? until : r->before);
	if ((n = retain__delete(h, HS_RT_SAMPLES)) < 0)
		return -1;
	r->samples += (uint64_t)n;
	if (!got)
		r->key++;
	return n + 1;
}

static long long retain__samples(struct tw_history *h, struct tw_history_retain *r, size_t room)
{
	sqlite3_stmt *pair = h->st[HS_RT_PAIR];
	sqlite3_int64 dev, key;
	int got;

	sqlite3_bind_int64(pair, 1, r->dev);
	sqlite3_bind_int64(pair, 2, r->key);
	if ((got = retain__one(pair, &dev, &key)) < 0)
		return -1;
	if (!got) {
		r->phase = RT_SEEN;
		r->dev = r->key = 0;
		return 1;
	}
	r->dev = dev;
	r->key = key;
	return retain__series(h, r, room);
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
	if (r->phase == RT_DEVICES) {
		sqlite3_bind_int64(h->st[HS_RT_DEVICE_DEL], 1, dev);
		if ((n = retain__delete(h, HS_RT_DEVICE_DEL)) < 0)
			return -1;
		r->devices += (uint64_t)n;
		r->dev++;
		return 1;
	}
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

int tw_history_retain_step(struct tw_history *h, struct tw_history_retain *r)
{
	size_t batch = r->batch ? r->batch : RETAIN_DEFAULT_BATCH, work = 0;
	long long n = 0;

	if (r->phase >= RT_DONE)
		return TW_OK;
	if (tw_history_begin(h) != TW_OK)
		return TW_ERR_DB;
	/* Work counts rows and seeks, so that a store of many small series
	 * also yields the lock now and then. */
	while (work < batch && r->phase < RT_DONE && n >= 0) {
		n = r->phase == RT_SAMPLES ? retain__samples(h, r, batch - work)
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
