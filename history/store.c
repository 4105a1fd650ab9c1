/* store.c -- the SQLite telemetry store: opening, schema and its version, the write path */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "telewire/error.h"

/* auto_vacuum must come first: it only takes effect before the first table.
 * samples is clustered on (device_id, key_id, ts): appends land at the end
 * of each series, and a range of one series is one B-tree seek and a
 * sequential read (EXPLAIN QUERY PLAN: SEARCH samples USING PRIMARY KEY
 * (device_id=? AND key_id=? AND ts>? AND ts<?)). */
static const char history__schema[] =
	"PRAGMA auto_vacuum=INCREMENTAL;"
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS devices(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS keys(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	/* type: 1 number (num), 2 boolean (num 0/1), 3 string (str) */
	"CREATE TABLE IF NOT EXISTS samples(device_id INTEGER NOT NULL, key_id INTEGER NOT NULL,"
	" ts INTEGER NOT NULL, type INTEGER NOT NULL, num REAL, str TEXT,"
	" PRIMARY KEY(device_id, key_id, ts)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS seen(device_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" ts INTEGER NOT NULL, PRIMARY KEY(device_id, seq)) WITHOUT ROWID;";

#define HS_SERIES "FROM samples WHERE device_id = ?1 AND key_id = ?2 AND ts BETWEEN ?3 AND ?4"

static const char *const history__sql[HS_COUNT] = {
	[HS_BEGIN] = "BEGIN IMMEDIATE",
	[HS_COMMIT] = "COMMIT",
	[HS_ROLLBACK] = "ROLLBACK",
	[HS_DEVICE_ADD] = "INSERT OR IGNORE INTO devices(name) VALUES(?1)",
	[HS_KEY_ADD] = "INSERT OR IGNORE INTO keys(name) VALUES(?1)",
	/* A redelivery repeats seq and ts; a restarted counter repeats only seq. */
	[HS_SEEN] = "INSERT INTO seen(device_id, seq, ts) VALUES(?1, ?2, ?3)"
		    " ON CONFLICT(device_id, seq) DO UPDATE SET ts = excluded.ts"
		    " WHERE ?4 AND seen.ts <> excluded.ts",
	[HS_SAMPLE] = "INSERT OR REPLACE INTO samples(device_id, key_id, ts, type, num, str)"
		      " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	/* Retention walks the series in key order, one seek per series. */
	[HS_RT_PAIR] = "SELECT device_id, key_id FROM samples WHERE (device_id, key_id) >= (?1, ?2)"
		       " ORDER BY device_id, key_id LIMIT 1",
	[HS_RT_EDGE] = "SELECT ts FROM samples WHERE device_id = ?1 AND key_id = ?2 AND ts < ?3"
		       " ORDER BY ts LIMIT 1 OFFSET ?4",
	[HS_RT_SAMPLES] = "DELETE FROM samples WHERE device_id = ?1 AND key_id = ?2 AND ts < ?3",
	[HS_RT_DEVICE_NEXT] = "SELECT id FROM devices WHERE id >= ?1 ORDER BY id LIMIT 1",
	[HS_RT_SEEN] = "DELETE FROM seen WHERE device_id = ?1 AND seq IN"
		       " (SELECT seq FROM seen WHERE device_id = ?1 AND ts < ?2 LIMIT ?3)",
	[HS_RT_DEVICE_DEL] = "DELETE FROM devices WHERE id = ?1"
			     " AND NOT EXISTS (SELECT 1 FROM samples WHERE device_id = ?1)"
			     " AND NOT EXISTS (SELECT 1 FROM seen WHERE device_id = ?1)",
	[HS_DEVICE_ID] = "SELECT id FROM devices WHERE name = ?1",
	[HS_KEY_ID] = "SELECT id FROM keys WHERE name = ?1",
	[HS_QUERY_ASC] = "SELECT ts, type, num, str " HS_SERIES " ORDER BY ts ASC LIMIT ?5",
	[HS_QUERY_DESC] = "SELECT ts, type, num, str " HS_SERIES " ORDER BY ts DESC LIMIT ?5",
	[HS_DEVICES] = "SELECT name FROM devices ORDER BY name",
	[HS_KEYS] = "SELECT k.name FROM keys k WHERE EXISTS (SELECT 1 FROM samples s"
		    " WHERE s.device_id = (SELECT id FROM devices WHERE name = ?1)"
		    " AND s.key_id = k.id) ORDER BY k.name",
	/* One bucket each: strings have num NULL, which AVG, MIN, MAX and SUM
	 * skip; booleans are 0 and 1. */
	[HS_AGG_AVG] = "SELECT AVG(num) " HS_SERIES,
	[HS_AGG_MIN] = "SELECT MIN(num) " HS_SERIES,
	[HS_AGG_MAX] = "SELECT MAX(num) " HS_SERIES,
	[HS_AGG_SUM] = "SELECT SUM(num) " HS_SERIES,
	[HS_AGG_COUNT] = "SELECT NULLIF(COUNT(*), 0) " HS_SERIES,
};

int history__exec(struct tw_history *h, enum history__stmt s)
{
	sqlite3_stmt *st = h->st[s];
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? TW_OK : TW_ERR_DB;
}

sqlite3_int64 history__lookup(struct tw_history *h, enum history__stmt get, const char *name)
{
	sqlite3_stmt *st = h->st[get];
	sqlite3_int64 id = 0;
	int rc;

	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		id = -1;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return id;
}

static int history__prepare(struct tw_history *h, int readonly)
{
	for (int i = readonly ? HS_FIRST_READER : 0; i < HS_COUNT; i++)
		if (sqlite3_prepare_v3(h->db, history__sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &h->st[i], NULL) != SQLITE_OK)
			return TW_ERR_DB;
	return TW_OK;
}

static int history__fail_open(struct tw_history *h, const char *path, char *err,
			      size_t errlen, const char *what)
{
	snprintf(err, errlen, "history %s: %s: %s", path, what,
		 h->db ? sqlite3_errmsg(h->db) : "out of memory");
	tw_history_close(h);
	return TW_ERR_DB;
}

static int history__user_version(struct tw_history *h, int *version)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(h->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return TW_ERR_DB;
	rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? TW_OK : TW_ERR_DB;
}

/* Brings a writable store to TW_HISTORY_SCHEMA_VERSION. Version 1 is the
 * first: later versions add their steps here, each in its transaction. */
static int history__migrate(struct tw_history *h)
{
	char sql[64];

	if (sqlite3_exec(h->db, history__schema, NULL, NULL, NULL) != SQLITE_OK)
		return TW_ERR_DB;
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", TW_HISTORY_SCHEMA_VERSION);
	return sqlite3_exec(h->db, sql, NULL, NULL, NULL) == SQLITE_OK ? TW_OK : TW_ERR_DB;
}

int tw_history_open(const char *path, int flags, struct tw_history **out, char *err,
		    size_t errlen)
{
	int ro = flags & TW_HISTORY_READONLY, version = 0;
	int oflags = ro ? SQLITE_OPEN_READONLY
		     : SQLITE_OPEN_READWRITE | (flags & TW_HISTORY_NOCREATE ? 0 : SQLITE_OPEN_CREATE);
	struct tw_history *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return snprintf(err, errlen, "history %s: out of memory", path), TW_ERR_NOMEM;
	if (sqlite3_open_v2(path, &h->db, oflags, NULL) != SQLITE_OK)
		return history__fail_open(h, path, err, errlen, "cannot open");
	sqlite3_busy_timeout(h->db, 5000);
	if (history__user_version(h, &version) != TW_OK)
		return history__fail_open(h, path, err, errlen, "cannot read the schema version");
	if (version > TW_HISTORY_SCHEMA_VERSION) {
		snprintf(err, errlen, "history %s: schema version %d is newer than this build's (%d)",
			 path, version, TW_HISTORY_SCHEMA_VERSION);
		tw_history_close(h);
		return TW_ERR_DB;
	}
	if ((flags & TW_HISTORY_NOCREATE) && version == 0) {
		snprintf(err, errlen, "history %s: not a telewire history database", path);
		tw_history_close(h);
		return TW_ERR_DB;
	}
	if (!ro && history__migrate(h) != TW_OK)
		return history__fail_open(h, path, err, errlen, "cannot create the schema");
	if (history__prepare(h, ro) != TW_OK)
		return history__fail_open(h, path, err, errlen,
					  "not a telewire history database");
	*out = h;
	return TW_OK;
}

void tw_history_close(struct tw_history *h)
{
	if (!h)
		return;
	if (h->in_tx && h->st[HS_ROLLBACK])
		tw_history_rollback(h);
	for (int i = 0; i < HS_COUNT; i++)
		sqlite3_finalize(h->st[i]);
	sqlite3_close(h->db);
	free(h);
}

const char *tw_history_errmsg(struct tw_history *h)
{
	return sqlite3_errmsg(h->db);
}

int tw_history_begin(struct tw_history *h)
{
	int rc = history__exec(h, HS_BEGIN);

	h->in_tx = rc == TW_OK;
	return rc;
}

int tw_history_commit(struct tw_history *h)
{
	int rc = history__exec(h, HS_COMMIT);

	if (rc != TW_OK) {
		tw_history_rollback(h);
		return rc;
	}
	h->in_tx = 0;
	return TW_OK;
}

void tw_history_rollback(struct tw_history *h)
{
	history__exec(h, HS_ROLLBACK);
	h->in_tx = 0;
}

/* The id of name in devices or keys, added when new; 0 on failure. */
static sqlite3_int64 history__id(struct tw_history *h, enum history__stmt add,
				 enum history__stmt get, const char *name)
{
	sqlite3_int64 id = history__lookup(h, get, name);

	if (id)
		return id > 0 ? id : 0;
	sqlite3_bind_text(h->st[add], 1, name, -1, SQLITE_STATIC);
	if (history__exec(h, add) == TW_OK)
		id = sqlite3_last_insert_rowid(h->db);
	sqlite3_clear_bindings(h->st[add]);
	return id;
}

int tw_history_seen(struct tw_history *h, const struct tw_record *r)
{
	sqlite3_stmt *st = h->st[HS_SEEN];
	sqlite3_int64 dev;
	int rc;

	if (tw_record_seq(r) < 0)
		return TW_OK;
	if (!(dev = history__id(h, HS_DEVICE_ADD, HS_DEVICE_ID, tw_record_device(r))))
		return TW_ERR_DB;
	sqlite3_bind_int64(st, 1, dev);
	sqlite3_bind_int64(st, 2, tw_record_seq(r));
	sqlite3_bind_int64(st, 3, tw_record_ts(r));
	sqlite3_bind_int(st, 4, !(tw_record_flags(r) & TW_RECORD_TS_RECEIVED));
	rc = history__exec(h, HS_SEEN);
	if (rc == TW_OK && sqlite3_changes(h->db) == 0)
		rc = TW_ERR_EXISTS;
	return rc;
}

static void history__bind_value(sqlite3_stmt *st, const struct tw_record *r, const char *key)
{
	const char *s;
	double d;
	int b;

	switch (tw_record_type(r, key)) {
	case TW_VALUE_NUMBER:
		tw_record_get_number(r, key, &d);
		sqlite3_bind_int(st, 4, 1);
		sqlite3_bind_double(st, 5, d);
		sqlite3_bind_null(st, 6);
		break;
	case TW_VALUE_BOOL:
		tw_record_get_bool(r, key, &b);
		sqlite3_bind_int(st, 4, 2);
		sqlite3_bind_int(st, 5, b);
		sqlite3_bind_null(st, 6);
		break;
	default:
		tw_record_get_string(r, key, &s);
		sqlite3_bind_int(st, 4, 3);
		sqlite3_bind_null(st, 5);
		sqlite3_bind_text(st, 6, s, -1, SQLITE_STATIC);
		break;
	}
}

int tw_history_put(struct tw_history *h, const struct tw_record *r)
{
	sqlite3_stmt *st = h->st[HS_SAMPLE];
	sqlite3_int64 dev, key;
	const char *name;

	if (!(dev = history__id(h, HS_DEVICE_ADD, HS_DEVICE_ID, tw_record_device(r))))
		return TW_ERR_DB;
	for (size_t i = 0; (name = tw_record_key(r, i)) != NULL; i++) {
		if (!(key = history__id(h, HS_KEY_ADD, HS_KEY_ID, name)))
			return TW_ERR_DB;
		sqlite3_bind_int64(st, 1, dev);
		sqlite3_bind_int64(st, 2, key);
		sqlite3_bind_int64(st, 3, tw_record_ts(r));
		history__bind_value(st, r, name);
		if (history__exec(h, HS_SAMPLE) != TW_OK)
			return TW_ERR_DB;
	}
	return TW_OK;
}

int tw_history_append(struct tw_history *h, struct tw_record *const *recs, size_t n,
		      unsigned char *dup)
{
	int rc = tw_history_begin(h);

	for (size_t i = 0; rc == TW_OK && i < n; i++) {
		rc = tw_history_seen(h, recs[i]);
		if (dup)
			dup[i] = rc == TW_ERR_EXISTS;
		if (rc == TW_ERR_EXISTS)
			rc = TW_OK;
		else if (rc == TW_OK)
			rc = tw_history_put(h, recs[i]);
	}
	if (rc != TW_OK) {
		if (h->in_tx)
			tw_history_rollback(h);
		return rc;
	}
	return tw_history_commit(h);
}
