/* tw_history_v1.h -- a history file of schema 1 (a row per value, no rollups), for the migration tests */
#ifndef TW_HISTORY_V1_H
#define TW_HISTORY_V1_H

/* Its tables and device "old-1" with key "v" (id 1 each); a test adds its
 * rows to samples, then PRAGMA user_version=1. */
#define TW_HISTORY_V1_SCHEMA \
	"PRAGMA journal_mode=WAL;" \
	"CREATE TABLE devices(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);" \
	"CREATE TABLE keys(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);" \
	"CREATE TABLE samples(device_id INTEGER NOT NULL, key_id INTEGER NOT NULL," \
	" ts INTEGER NOT NULL, type INTEGER NOT NULL, num REAL, str TEXT," \
	" PRIMARY KEY(device_id, key_id, ts)) WITHOUT ROWID;" \
	"CREATE TABLE seen(device_id INTEGER NOT NULL, seq INTEGER NOT NULL," \
	" ts INTEGER NOT NULL, PRIMARY KEY(device_id, seq)) WITHOUT ROWID;" \
	"INSERT INTO devices VALUES(1, 'old-1'); INSERT INTO keys VALUES(1, 'v');"

#endif
