/* store_internal.h -- the inside of struct tw_history, shared by store.c, query.c and retain.c */
#ifndef TELEWIRE_HISTORY_STORE_INTERNAL_H
#define TELEWIRE_HISTORY_STORE_INTERNAL_H

#include <sqlite3.h>

#include "telewire/strmap.h"

#include "telewire/history.h"

enum history__stmt {
	/* writer */
	HS_BEGIN, HS_COMMIT, HS_ROLLBACK,
	HS_DEVICE_ADD, HS_KEY_ADD, HS_SEEN, HS_POINT, HS_SERIES_ADD, HS_PENDING, HS_DATA_VERSION,
	/* retention (writer) */
	HS_RT_NEXT, HS_RT_EDGE, HS_RT_POINTS, HS_RT_DEVICE_NEXT, HS_RT_SEEN, HS_RT_DEVICE_DEL,
	HS_RT_SERIES_DEL,
	/* reader */
	HS_DEVICE_ID, HS_KEY_ID,
	HS_QUERY_ASC, HS_QUERY_DESC, HS_DEVICES, HS_KEYS,
	HS_AGG_AVG, HS_AGG_MIN, HS_AGG_MAX, HS_AGG_SUM, HS_AGG_COUNT,
	HS_SEEN_TS, HS_SEEN_MAX,
	HS_COUNT
};
#define HS_FIRST_READER HS_DEVICE_ID

/* rollup.c's statements, prepared on first use: a file of schema 1 opened
 * read-only has no rollups table, and is queried from its values alone. */
enum history__rollup_stmt {
	RU_NEXT, RU_HORIZON, RU_KEY_NEXT, RU_FIRST_TS, RU_DEL_MINUTES, RU_ADD_MINUTES,
	RU_DEL_HOUR, RU_ADD_HOUR, RU_PENDING_MOVE, RU_PENDING_DONE,
	RU_SINCE, RU_SUM_ROLLUPS, RU_SUM_SAMPLES, RU_READ_BEGIN, RU_READ_END,
	RU_SET_HORIZON, RU_RT_PAIR, RU_RT_EDGE, RU_RT_DELETE, RU_RT_DEVICE_DEL, RU_RT_PENDING_DEL,
	RU_KEYS,
	RU_COUNT
};

/* A device the writer knows: its id, its keys in series, and what the open
 * transaction wrote. */
struct history__device {
	sqlite3_int64 id;
	sqlite3_int64 *keys;	/* key ids known to be in series for it, ascending */
	size_t nkeys, kcap;
	int64_t since;		/* the oldest ts written in the open transaction */
	int dirty;		/* on tw_history.dirty: rollup_pending is lowered at commit */
};

/* One value of a point (vals.c). */
enum { HISTORY_VAL_NUMBER = 1, HISTORY_VAL_BOOL = 2, HISTORY_VAL_STRING = 3 };
struct history__val {
	sqlite3_int64 key;
	int type;		/* HISTORY_VAL_* */
	double num;		/* a number, or a boolean as 0 and 1 */
	const char *str;	/* a string: len bytes, not terminated */
	size_t len;
};

/* The most a point's values may take. A device may send one ts again and
 * again with new keys, and each merge copies the point: past this a merge
 * keeps the later message's values alone (tw_history_points_replaced). */
#define HISTORY_POINT_MAX (1u << 20)

/* A growing BLOB of values. */
struct history__vals {
	unsigned char *p;
	size_t len, cap;
};

struct tw_history {
	sqlite3 *db;
	sqlite3_stmt *st[HS_COUNT];
	int in_tx;
	/* Writer caches, so that a sample costs one INSERT and no lookups:
	 * device name -> struct history__device, key name -> id. Both are
	 * emptied by a rollback (the ids may not exist any more), the devices
	 * also when another connection committed since our last transaction
	 * (retention deletes devices, and SQLite may give an id out again). */
	struct tw_strmap devices, keys;
	struct history__device **dirty;	/* devices written in the open transaction */
	size_t ndirty, dirty_cap;
	sqlite3_int64 data_version;
	struct history__vals vals;	/* the point tw_history_put writes */
	struct history__val *put;	/* its values, sorted by key id */
	size_t put_cap;
	struct history__vals text;	/* a string value read, with its terminator */
	uint64_t points_replaced;	/* merges past HISTORY_POINT_MAX (vals.c) */
	sqlite3_stmt *ru[RU_COUNT];	/* rollup.c */
	int ru_state;		/* 0: not prepared yet, 1: ready, -1: the file has no rollups */
	sqlite3_int64 ru_cursor;	/* the device the rollup pass did last (round robin) */
	int64_t deadline;	/* tw_mono_ms(); 0: none */
	int timed_out;		/* the progress handler stopped a statement */
};

/* Runs a prepared statement that returns no rows; TW_OK or TW_ERR_DB. */
int history__exec(struct tw_history *h, enum history__stmt s);
/* The id of name in devices or keys (HS_DEVICE_ID, HS_KEY_ID); 0 when absent,
 * -1 when SQLite failed. */
sqlite3_int64 history__lookup(struct tw_history *h, enum history__stmt get, const char *name);

/* Reads the value at *pos of a point's n bytes and moves *pos past it:
 * 1, 0 at the end, -1 when the bytes do not decode. v->str points into p. */
int history__vals_next(const unsigned char *p, size_t n, size_t *pos, struct history__val *v);
/* Appends v (TW_OK, TW_ERR_NOMEM). Values go in ascending key id. */
int history__vals_add(struct history__vals *b, const struct history__val *v);
void history__vals_free(struct history__vals *b);
/* Sorts values by key id (the order a point holds them in). */
void history__vals_sort(struct history__val *v, size_t n);
/* Registers tw_type, tw_num, tw_str, tw_count, tw_merge and tw_pack on db;
 * h (or NULL) counts the merges that replaced a point. */
int history__vals_functions(sqlite3 *db, struct tw_history *h);

/* Rollup resolutions in ms, finest first; a coarser one is a whole
 * number of finer ones, so that it is computed from them. */
#define HISTORY_ROLLUP_MINUTE 60000LL
#define HISTORY_ROLLUP_HOUR 3600000LL

/* Prepares rollup.c's statements once: 1 when rollups can be used, 0 when
 * the file has none (an older schema opened read-only). */
int history__rollup_ready(struct tw_history *h);
/* Finalizes them (tw_history_close). */
void history__rollup_free(struct tw_history *h);
/* Recomputes the hour bucket of one series at bucket from its minute
 * buckets (retention, after deleting minute buckets). TW_OK or TW_ERR_DB. */
int history__rollup_hour(struct tw_history *h, sqlite3_int64 dev, sqlite3_int64 key,
			 int64_t bucket);
/* x rounded down to a multiple of width (also for negative x). */
int64_t history__floor(int64_t x, int64_t width);

#endif
