/* store_internal.h -- the inside of struct tw_history, shared by store.c, query.c and retain.c */
#ifndef TELEWIRE_HISTORY_STORE_INTERNAL_H
#define TELEWIRE_HISTORY_STORE_INTERNAL_H

#include <sqlite3.h>

#include "telewire/history.h"

enum history__stmt {
	/* writer */
	HS_BEGIN, HS_COMMIT, HS_ROLLBACK,
	HS_DEVICE_ADD, HS_KEY_ADD, HS_SEEN, HS_SAMPLE,
	/* retention (writer) */
	HS_RT_PAIR, HS_RT_EDGE, HS_RT_SAMPLES, HS_RT_DEVICE_NEXT, HS_RT_SEEN, HS_RT_DEVICE_DEL,
	/* reader */
	HS_DEVICE_ID, HS_KEY_ID,
	HS_QUERY_ASC, HS_QUERY_DESC, HS_DEVICES, HS_KEYS,
	HS_AGG_AVG, HS_AGG_MIN, HS_AGG_MAX, HS_AGG_SUM, HS_AGG_COUNT,
	HS_COUNT
};
#define HS_FIRST_READER HS_DEVICE_ID

struct tw_history {
	sqlite3 *db;
	sqlite3_stmt *st[HS_COUNT];
	int in_tx;
	int64_t deadline;	/* tw_mono_ms(); 0: none */
	int timed_out;		/* the progress handler stopped a statement */
};

/* Runs a prepared statement that returns no rows; TW_OK or TW_ERR_DB. */
int history__exec(struct tw_history *h, enum history__stmt s);
/* The id of name in devices or keys (HS_DEVICE_ID, HS_KEY_ID); 0 when absent,
 * -1 when SQLite failed. */
sqlite3_int64 history__lookup(struct tw_history *h, enum history__stmt get, const char *name);

#endif
