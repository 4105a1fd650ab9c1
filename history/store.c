/* store.c -- the SQLite telemetry store: opening, schema and its version, the write path */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "telewire/error.h"

/* auto_vacuum must come first: it only takes effect before the first table.
 * points is clustered on (device_id, ts): a device's points are one range
 * of the primary key, appends land at its end, and a range of one device
 * is one B-tree seek and a sequential read (EXPLAIN QUERY PLAN: SEARCH
 * points USING PRIMARY KEY (device_id=? AND ts>? AND ts<?)); a key's
 * values are read out of each point's vals (vals.c). */
static const char history__file_pragmas[] =
	"PRAGMA auto_vacuum=INCREMENTAL;"
	"PRAGMA journal_mode=WAL;";

static const char history__schema[] =
	"CREATE TABLE IF NOT EXISTS devices(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS keys(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	/* One row per device and ts, its values in vals (vals.c); replaced
	 * samples, a row per value, in schema 3. */
	"CREATE TABLE IF NOT EXISTS points(device_id INTEGER NOT NULL, ts INTEGER NOT NULL,"
	" vals BLOB NOT NULL, PRIMARY KEY(device_id, ts)) WITHOUT ROWID;"
	/* The keys each device has sent: deleted with the device. */
	"CREATE TABLE IF NOT EXISTS series(device_id INTEGER NOT NULL, key_id INTEGER NOT NULL,"
	" PRIMARY KEY(device_id, key_id)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS seen(device_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" ts INTEGER NOT NULL, PRIMARY KEY(device_id, seq)) WITHOUT ROWID;"
	/* Since when each device's rollups are stale: the writer lowers since to
	 * the oldest ts it wrote for the device in a transaction, in that same
	 * transaction; the rollup pass recomputes from there and deletes the row. */
	"CREATE TABLE IF NOT EXISTS rollup_pending(device_id INTEGER PRIMARY KEY,"
	" since INTEGER NOT NULL);"
	/* Aggregates of each series per bucket of width ms (1 minute, 1 hour;
	 * bucket: its start, a multiple of width): n values of any type, nnum
	 * of them numbers or booleans (0/1), and their sum, min and max (NULL
	 * without any). Written by the rollup pass (rollup.c) and retention. */
	"CREATE TABLE IF NOT EXISTS rollups(device_id INTEGER NOT NULL, key_id INTEGER NOT NULL,"
	" width INTEGER NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,"
	" nnum INTEGER NOT NULL, sum REAL, min REAL, max REAL,"
	" PRIMARY KEY(device_id, key_id, width, bucket)) WITHOUT ROWID;"
	/* Retention deleted the samples before raw_before: the rollup pass keeps
	 * the buckets wholly before it as they are (they hold what was deleted). */
	"CREATE TABLE IF NOT EXISTS rollup_horizon(id INTEGER PRIMARY KEY CHECK(id = 1),"
	" raw_before INTEGER NOT NULL);"
	/* A store of schema 1 has values and no rollups: every device is
	 * pending from its first value (a no-op on a new or current file). */
	"INSERT OR IGNORE INTO rollup_pending(device_id, since)"
	" SELECT id, -9223372036854775807 FROM devices WHERE NOT EXISTS (SELECT 1 FROM rollups)"
	" AND NOT EXISTS (SELECT 1 FROM rollup_pending);";

/* Schema 1 and 2 kept a row per value in samples: each device's values
 * of one ts become one point. */
static const char history__from_samples[] =
	"INSERT INTO points(device_id, ts, vals) SELECT device_id, ts,"
	" tw_pack(key_id, type, num, str) FROM samples GROUP BY device_id, ts;"
	"INSERT OR IGNORE INTO series(device_id, key_id)"
	" SELECT DISTINCT device_id, key_id FROM samples;"
	"DROP TABLE samples;";

/* The same file opened read-only: points and series as views of samples. */
static const char history__samples_views[] =
	"CREATE TEMP VIEW points(device_id, ts, vals) AS SELECT device_id, ts,"
	" tw_pack(key_id, type, num, str) FROM main.samples GROUP BY device_id, ts;"
	"CREATE TEMP VIEW series(device_id, key_id) AS"
	" SELECT DISTINCT device_id, key_id FROM main.samples;";

/* The writer's connection. Points of a thousand devices land on thousands
 * of B-tree pages: a cache that holds them saves a read per insert, and a
 * larger WAL between checkpoints writes each hot page into the database
 * once per checkpoint instead of once per commit (measured with
 * tests/perf/bench_store.c and ingest's CPU time per message). */
static const char history__writer[] =
	"PRAGMA synchronous=NORMAL;"
	"PRAGMA cache_size=-65536;"		/* KiB: 64 MiB */
	"PRAGMA wal_autocheckpoint=16384;"	/* pages: 64 MiB of WAL */
	"";

/* The points of device ?1 in [?3, ?4]; ?2 is the key whose values are read. */
#define HS_RANGE "FROM points WHERE device_id = ?1 AND ts BETWEEN ?3 AND ?4"

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
	/* A second point at one ts adds its values, the later one's winning
	 * key by key. One row per statement: an INSERT of several rows keeps
	 * a statement journal (a copy of every page it changes, in case a
	 * later row fails), which cost more than the statements it saved
	 * (tests/perf/bench_store.c). */
	[HS_POINT] = "INSERT INTO points(device_id, ts, vals) VALUES(?1, ?2, ?3)"
		     " ON CONFLICT(device_id, ts) DO UPDATE SET vals = tw_merge(vals, excluded.vals)",
	[HS_SERIES_ADD] = "INSERT OR IGNORE INTO series(device_id, key_id) VALUES(?1, ?2)",
	[HS_PENDING] = "INSERT INTO rollup_pending(device_id, since) VALUES(?1, ?2)"
		       " ON CONFLICT(device_id) DO UPDATE SET since = MIN(since, excluded.since)",
	[HS_DATA_VERSION] = "PRAGMA data_version",
	/* Retention walks the devices in id order, one seek per device. */
	[HS_RT_NEXT] = "SELECT device_id FROM points WHERE device_id >= ?1 ORDER BY device_id LIMIT 1",
	[HS_RT_EDGE] = "SELECT ts FROM points WHERE device_id = ?1 AND ts < ?2"
		       " ORDER BY ts LIMIT 1 OFFSET ?3",
	[HS_RT_POINTS] = "DELETE FROM points WHERE device_id = ?1 AND ts < ?2 RETURNING tw_count(vals)",
	[HS_RT_DEVICE_NEXT] = "SELECT id FROM devices WHERE id >= ?1 ORDER BY id LIMIT 1",
	[HS_RT_SEEN] = "DELETE FROM seen WHERE device_id = ?1 AND seq IN"
		       " (SELECT seq FROM seen WHERE device_id = ?1 AND ts < ?2 LIMIT ?3)",
	[HS_RT_DEVICE_DEL] = "DELETE FROM devices WHERE id = ?1"
			     " AND NOT EXISTS (SELECT 1 FROM points WHERE device_id = ?1)"
			     " AND NOT EXISTS (SELECT 1 FROM seen WHERE device_id = ?1)",
	[HS_RT_SERIES_DEL] = "DELETE FROM series WHERE device_id = ?1"
			     " AND NOT EXISTS (SELECT 1 FROM devices WHERE id = ?1)",
	[HS_DEVICE_ID] = "SELECT id FROM devices WHERE name = ?1",
	[HS_KEY_ID] = "SELECT id FROM keys WHERE name = ?1",
	/* query.c picks the key's value out of each point, and stops at the limit */
	[HS_QUERY_ASC] = "SELECT ts, vals " HS_RANGE " ORDER BY ts ASC",
	[HS_QUERY_DESC] = "SELECT ts, vals " HS_RANGE " ORDER BY ts DESC",
	[HS_DEVICES] = "SELECT name FROM devices ORDER BY name",
	[HS_KEYS] = "SELECT k.name FROM keys k JOIN series s ON s.key_id = k.id"
		    " WHERE s.device_id = (SELECT id FROM devices WHERE name = ?1) ORDER BY k.name",
	/* One bucket each: tw_num is NULL for strings, which AVG, MIN, MAX
	 * and SUM skip, and for points without the key; booleans are 0 and 1. */
	[HS_AGG_AVG] = "SELECT AVG(tw_num(vals, ?2)) " HS_RANGE,
	[HS_AGG_MIN] = "SELECT MIN(tw_num(vals, ?2)) " HS_RANGE,
	[HS_AGG_MAX] = "SELECT MAX(tw_num(vals, ?2)) " HS_RANGE,
	[HS_AGG_SUM] = "SELECT SUM(tw_num(vals, ?2)) " HS_RANGE,
	[HS_AGG_COUNT] = "SELECT NULLIF(COUNT(tw_type(vals, ?2)), 0) " HS_RANGE,
	/* What a reader knows of a device's seqs (ingest's duplicate check). */
	[HS_SEEN_TS] = "SELECT s.ts FROM seen s JOIN devices d ON d.id = s.device_id"
		       " WHERE d.name = ?1 AND s.seq = ?2",
	[HS_SEEN_MAX] = "SELECT MAX(s.seq) FROM seen s JOIN devices d ON d.id = s.device_id"
			" WHERE d.name = ?1",
};

static void history__forget(struct tw_history *h, int keys);

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

/* 1 when the file has a table of that name, 0 when not, -1 on error. */
static int history__has_table(struct tw_history *h, const char *name)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(h->db, "SELECT 1 FROM main.sqlite_schema WHERE type = 'table'"
				      " AND name = ?1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Brings a writable store to TW_HISTORY_SCHEMA_VERSION, in one transaction:
 * version 2 added the rollups, version 3 turned samples into points. */
static int history__migrate(struct tw_history *h, int version)
{
	char sql[64];
	int rc, samples;

	if (version == TW_HISTORY_SCHEMA_VERSION)
		return TW_OK;
	/* auto_vacuum before the first table; the journal mode outside a
	 * transaction. Then one writer at a time (two workers may create one
	 * file at once): the second finds the version done and stops there. */
	if (sqlite3_exec(h->db, history__file_pragmas, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return TW_ERR_DB;
	rc = history__user_version(h, &version);
	if (rc == TW_OK && version != TW_HISTORY_SCHEMA_VERSION) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", TW_HISTORY_SCHEMA_VERSION);
		if (sqlite3_exec(h->db, history__schema, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(h->db, sql, NULL, NULL, NULL) != SQLITE_OK)
			rc = TW_ERR_DB;
		else if ((samples = history__has_table(h, "samples")) != 0 &&
			 (samples < 0 || sqlite3_exec(h->db, history__from_samples, NULL, NULL,
						      NULL) != SQLITE_OK))
			rc = TW_ERR_DB;
	}
	if (rc == TW_OK && sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return TW_OK;
	sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
	return TW_ERR_DB;
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
	if (history__vals_functions(h->db, h) != TW_OK)
		return history__fail_open(h, path, err, errlen, "cannot register its functions");
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
	if (!ro && (history__migrate(h, version) != TW_OK ||
		    sqlite3_exec(h->db, history__writer, NULL, NULL, NULL) != SQLITE_OK))
		return history__fail_open(h, path, err, errlen, "cannot create the schema");
	/* an older file opened read-only is read as it is: through views */
	if (ro && version > 0 && version < TW_HISTORY_SCHEMA_VERSION &&
	    history__has_table(h, "samples") > 0 &&
	    sqlite3_exec(h->db, history__samples_views, NULL, NULL, NULL) != SQLITE_OK)
		return history__fail_open(h, path, err, errlen, "cannot read its older schema");
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
	history__rollup_free(h);
	sqlite3_close(h->db);
	history__forget(h, 1);
	tw_strmap_free(&h->devices);
	tw_strmap_free(&h->keys);
	free(h->dirty);
	history__vals_free(&h->vals);
	history__vals_free(&h->text);
	free(h->put);
	free(h);
}

const char *tw_history_errmsg(struct tw_history *h)
{
	return sqlite3_errmsg(h->db);
}

static void history__free_device(void *ctx, const char *name, void *value)
{
	struct history__device *d = value;

	(void)ctx;
	(void)name;
	free(d->keys);
	free(d);
}

/* Empties the device cache, and the key cache too when keys is set. */
static void history__forget(struct tw_history *h, int keys)
{
	tw_strmap_each(&h->devices, history__free_device, NULL);
	tw_strmap_free(&h->devices);
	if (keys)
		tw_strmap_free(&h->keys);
	h->ndirty = 0;
}

/* PRAGMA data_version: changes when another connection commits. */
static sqlite3_int64 history__data_version(struct tw_history *h)
{
	sqlite3_stmt *st = h->st[HS_DATA_VERSION];
	sqlite3_int64 v = -1;

	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

int tw_history_begin(struct tw_history *h)
{
	sqlite3_int64 version;
	int rc = history__exec(h, HS_BEGIN);

	h->in_tx = rc == TW_OK;
	if (rc != TW_OK)
		return rc;
	version = history__data_version(h);
	if (version != h->data_version)
		history__forget(h, 0);
	h->data_version = version;
	return TW_OK;
}

/* Lowers rollup_pending.since of every device the transaction wrote. */
static int history__mark_pending(struct tw_history *h)
{
	sqlite3_stmt *st = h->st[HS_PENDING];
	int rc = TW_OK;

	for (size_t i = 0; i < h->ndirty; i++) {
		struct history__device *d = h->dirty[i];

		d->dirty = 0;
		if (rc != TW_OK)
			continue;
		sqlite3_bind_int64(st, 1, d->id);
		sqlite3_bind_int64(st, 2, d->since);
		rc = history__exec(h, HS_PENDING);
	}
	h->ndirty = 0;
	return rc;
}

int tw_history_commit(struct tw_history *h)
{
	int rc = history__mark_pending(h);

	if (rc == TW_OK)
		rc = history__exec(h, HS_COMMIT);
	if (rc != TW_OK) {
		tw_history_rollback(h);
		return rc;
	}
	h->in_tx = 0;
	/* Our own commit moved data_version on no other connection, and not on ours. */
	return TW_OK;
}

void tw_history_rollback(struct tw_history *h)
{
	history__exec(h, HS_ROLLBACK);
	h->in_tx = 0;
	for (size_t i = 0; i < h->ndirty; i++)
		h->dirty[i]->dirty = 0;
	history__forget(h, 1);
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

/* The cached device name, looked up or added on first use; NULL on failure. */
static struct history__device *history__device(struct tw_history *h, const char *name)
{
	struct history__device *d = tw_strmap_get(&h->devices, name);

	if (d)
		return d;
	if (!(d = calloc(1, sizeof(*d))))
		return NULL;
	if (!(d->id = history__id(h, HS_DEVICE_ADD, HS_DEVICE_ID, name)) ||
	    tw_strmap_put(&h->devices, name, d) != TW_OK) {
		free(d);
		return NULL;
	}
	return d;
}

uint64_t tw_history_points_replaced(const struct tw_history *h)
{
	return h->points_replaced;
}

int64_t tw_history_device_id(struct tw_history *h, const char *device)
{
	struct history__device *d = history__device(h, device);

	return d ? d->id : 0;
}

static sqlite3_int64 history__key(struct tw_history *h, const char *name)
{
	sqlite3_int64 id = (sqlite3_int64)(uintptr_t)tw_strmap_get(&h->keys, name);

	if (id)
		return id;
	if (!(id = history__id(h, HS_KEY_ADD, HS_KEY_ID, name)))
		return 0;
	return tw_strmap_put(&h->keys, name, (void *)(uintptr_t)id) == TW_OK ? id : 0;
}

/* Notes that the open transaction wrote d's points from ts on. */
static int history__touch(struct tw_history *h, struct history__device *d, int64_t ts)
{
	if (d->dirty) {
		if (ts < d->since)
			d->since = ts;
		return TW_OK;
	}
	if (h->ndirty == h->dirty_cap) {
		size_t cap = h->dirty_cap ? h->dirty_cap * 2 : 64;
		struct history__device **p = realloc(h->dirty, cap * sizeof(*p));

		if (!p)
			return TW_ERR_NOMEM;
		h->dirty = p;
		h->dirty_cap = cap;
	}
	h->dirty[h->ndirty++] = d;
	d->dirty = 1;
	d->since = ts;
	return TW_OK;
}

int tw_history_seen(struct tw_history *h, const struct tw_record *r)
{
	sqlite3_stmt *st = h->st[HS_SEEN];
	struct history__device *dev;
	int rc;

	if (tw_record_seq(r) < 0)
		return TW_OK;
	if (!(dev = history__device(h, tw_record_device(r))))
		return TW_ERR_DB;
	sqlite3_bind_int64(st, 1, dev->id);
	sqlite3_bind_int64(st, 2, tw_record_seq(r));
	sqlite3_bind_int64(st, 3, tw_record_ts(r));
	sqlite3_bind_int(st, 4, !(tw_record_flags(r) & TW_RECORD_TS_RECEIVED));
	rc = history__exec(h, HS_SEEN);
	if (rc == TW_OK && sqlite3_changes(h->db) == 0)
		rc = TW_ERR_EXISTS;
	return rc;
}

/* The value of key in r, keyed by id. */
static void history__value(const struct tw_record *r, const char *key, sqlite3_int64 id,
			   struct history__val *v)
{
	const char *s;
	int b;

	memset(v, 0, sizeof(*v));
	v->key = id;
	switch (tw_record_type(r, key)) {
	case TW_VALUE_NUMBER:
		v->type = HISTORY_VAL_NUMBER;
		tw_record_get_number(r, key, &v->num);
		break;
	case TW_VALUE_BOOL:
		v->type = HISTORY_VAL_BOOL;
		tw_record_get_bool(r, key, &b);
		v->num = b != 0;
		break;
	default:
		v->type = HISTORY_VAL_STRING;
		if (tw_record_get_string(r, key, &s) == TW_OK && s) {
			v->str = s;
			v->len = strlen(s);
		}
		break;
	}
}

/* Adds (d, key) to series unless d is known to have it. */
static int history__series(struct tw_history *h, struct history__device *d, sqlite3_int64 key)
{
	size_t lo = 0, hi = d->nkeys;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->keys[mid] == key)
			return TW_OK;
		if (d->keys[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (d->nkeys == d->kcap) {
		size_t cap = d->kcap ? d->kcap * 2 : 8;
		sqlite3_int64 *p = realloc(d->keys, cap * sizeof(*p));

		if (!p)
			return TW_ERR_NOMEM;
		d->keys = p;
		d->kcap = cap;
	}
	sqlite3_bind_int64(h->st[HS_SERIES_ADD], 1, d->id);
	sqlite3_bind_int64(h->st[HS_SERIES_ADD], 2, key);
	if (history__exec(h, HS_SERIES_ADD) != TW_OK)
		return TW_ERR_DB;
	memmove(d->keys + lo + 1, d->keys + lo, (d->nkeys - lo) * sizeof(*d->keys));
	d->keys[lo] = key;
	d->nkeys++;
	return TW_OK;
}

int tw_history_put(struct tw_history *h, const struct tw_record *r)
{
	struct history__device *dev = history__device(h, tw_record_device(r));
	sqlite3_stmt *st = h->st[HS_POINT];
	size_t n = tw_record_count(r);
	const char *name;
	int rc = TW_OK;

	if (!dev)
		return TW_ERR_DB;
	if (n == 0)
		return TW_OK;
	if (n > h->put_cap) {
		struct history__val *p = realloc(h->put, n * sizeof(*p));

		if (!p)
			return TW_ERR_NOMEM;
		h->put = p;
		h->put_cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		sqlite3_int64 key;

		if (!(name = tw_record_key(r, i)) || !(key = history__key(h, name)))
			return TW_ERR_DB;
		history__value(r, name, key, &h->put[i]);
	}
	history__vals_sort(h->put, n);
	h->vals.len = 0;
	for (size_t i = 0; i < n && rc == TW_OK; i++)
		if ((rc = history__vals_add(&h->vals, &h->put[i])) == TW_OK)
			rc = history__series(h, dev, h->put[i].key);
	if (rc != TW_OK)
		return rc;
	sqlite3_bind_int64(st, 1, dev->id);
	sqlite3_bind_int64(st, 2, tw_record_ts(r));
	sqlite3_bind_blob(st, 3, h->vals.p, (int)h->vals.len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return TW_ERR_DB;
	return history__touch(h, dev, tw_record_ts(r));
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

int tw_history_seen_ts(struct tw_history *h, const char *device, int64_t seq, int64_t *ts)
{
	sqlite3_stmt *st = h->st[HS_SEEN_TS];
	int rc;

	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ts = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : TW_ERR_DB;
}

int tw_history_max_seq(struct tw_history *h, const char *device, int64_t *max)
{
	sqlite3_stmt *st = h->st[HS_SEEN_MAX];
	int rc;

	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*max = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
	       ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? TW_OK : TW_ERR_DB;
}
