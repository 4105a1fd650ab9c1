/* store_internal.h -- the inside of struct tw_history, shared by store.c and query.c */
#ifndef TELEWIRE_HISTORY_STORE_INTERNAL_H
#define TELEWIRE_HISTORY_STORE_INTERNAL_H

#include <sqlite3.h>

#include "telewire/history.h"

enum history__stmt {
	/* writer */
	HS_BEGIN, HS_COMMIT, HS_ROLLBACK,
	HS_DEVICE_ADD, HS_DEVICE_ID, HS_KEY_ADD, HS_KEY_ID, HS_SEEN, HS_SAMPLE,
	/* reader */
	HS_QUERY_ASC, HS_QUERY_DESC, HS_DEVICES, HS_KEYS,
	HS_COUNT
};
#define HS_FIRST_READER HS_QUERY_ASC

struct tw_history {
	sqlite3 *db;
	sqlite3_stmt *st[HS_COUNT];
	int in_tx;
};

/* Runs a prepared statement that returns no rows; TW_OK or TW_ERR_DB. */
int history__exec(struct tw_history *h, enum history__stmt s);

#endif
