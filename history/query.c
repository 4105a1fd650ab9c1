/* query.c -- the read path of the history store: rows, devices, keys */
#include <sqlite3.h>

#include "store_internal.h"
#include "telewire/error.h"

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

/* Steps st to the end (or until fn stops), then resets it. */
static int history__rows(sqlite3_stmt *st, const char *key, tw_history_row_fn fn, void *ctx)
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
	return rc == SQLITE_DONE ? TW_OK : TW_ERR_DB;
}

int tw_history_query(struct tw_history *h, const struct tw_history_query *q,
		     tw_history_row_fn fn, void *ctx)
{
	sqlite3_stmt *st = h->st[q->descending ? HS_QUERY_DESC : HS_QUERY_ASC];

	if (!q->device || !q->key || q->start > q->end)
		return TW_ERR_INVAL;
	sqlite3_bind_text(st, 1, q->device, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, q->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, q->start);
	sqlite3_bind_int64(st, 4, q->end);
	sqlite3_bind_int64(st, 5, q->limit ? (sqlite3_int64)q->limit : 10000);
	return history__rows(st, q->key, fn, ctx);
}

static int history__names(sqlite3_stmt *st, tw_history_name_fn fn, void *ctx)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fn(ctx, (const char *)sqlite3_column_text(st, 0)) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? TW_OK : TW_ERR_DB;
}

int tw_history_devices(struct tw_history *h, tw_history_name_fn fn, void *ctx)
{
	return history__names(h->st[HS_DEVICES], fn, ctx);
}

int tw_history_keys(struct tw_history *h, const char *device, tw_history_name_fn fn, void *ctx)
{
	sqlite3_bind_text(h->st[HS_KEYS], 1, device, -1, SQLITE_STATIC);
	return history__names(h->st[HS_KEYS], fn, ctx);
}
