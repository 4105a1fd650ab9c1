/* history.h -- the SQLite telemetry store: writes from ingest, queries for operators
 *
 * One struct tw_history is used by one thread at a time. Several processes
 * may open the same file: WAL lets readers run beside the one writer.
 *
 * Duplicates: a record with a seq is written once. It is a duplicate when
 * its device already sent that seq with the same device-set ts (a
 * redelivery); the same seq with another ts is a new record (the device
 * restarted its counter). A seq without a device-set ts (ingest stamped it
 * on reception) is a duplicate whenever the seq was seen.
 */
#ifndef TELEWIRE_HISTORY_H
#define TELEWIRE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "telewire/transform_host.h"

struct tw_history;

#define TW_HISTORY_READONLY 0x1	/* open an existing store for queries only */

/* Opens (and, unless read-only, creates) the store at path. Returns TW_OK,
 * or TW_ERR_DB / TW_ERR_NOMEM after writing why into err. */
int tw_history_open(const char *path, int flags, struct tw_history **out, char *err,
		    size_t errlen);
/* Rolls back an open transaction and closes; NULL is fine. */
void tw_history_close(struct tw_history *h);
/* SQLite's text for the last failure of h. */
const char *tw_history_errmsg(struct tw_history *h);

/* ---- writing: begin, then seen/put per record, then commit ---- */

int tw_history_begin(struct tw_history *h);
/* Marks r's (device, seq) as seen. Returns TW_OK for a new record (also
 * when r has no seq), TW_ERR_EXISTS for a duplicate, or TW_ERR_DB. */
int tw_history_seen(struct tw_history *h, const struct tw_record *r);
/* Writes every value of r (a value at the same device, key and ts is
 * replaced). Returns TW_OK or TW_ERR_DB. */
int tw_history_put(struct tw_history *h, const struct tw_record *r);
/* Returns TW_OK, or TW_ERR_DB after rolling back. */
int tw_history_commit(struct tw_history *h);
void tw_history_rollback(struct tw_history *h);

/* One transaction: seen + put for each record. dup, when not NULL, gets
 * one flag per record (1: duplicate, not written). Returns TW_OK, or
 * TW_ERR_DB after rolling back (nothing was written). */
int tw_history_append(struct tw_history *h, struct tw_record *const *recs, size_t n,
		      unsigned char *dup);

/* ---- reading ---- */

struct tw_history_query {
	const char *device, *key;
	int64_t start, end;	/* ms, both inclusive */
	size_t limit;		/* rows; 0: 10000 */
	int descending;		/* 0: oldest first */
};

struct tw_history_row {
	const char *key;
	int64_t ts;
	enum tw_value_type type;
	double num;		/* TW_VALUE_NUMBER */
	int b;			/* TW_VALUE_BOOL */
	const char *str;	/* TW_VALUE_STRING; valid during the callback */
};

/* Called once per row or name; return non-zero to stop early. */
typedef int (*tw_history_row_fn)(void *ctx, const struct tw_history_row *row);
typedef int (*tw_history_name_fn)(void *ctx, const char *name);

/* Rows of one device and key in [start, end]. Returns TW_OK (an unknown
 * device or key has no rows) or TW_ERR_DB. */
int tw_history_query(struct tw_history *h, const struct tw_history_query *q,
		     tw_history_row_fn fn, void *ctx);
/* Device names, sorted. */
int tw_history_devices(struct tw_history *h, tw_history_name_fn fn, void *ctx);
/* Keys that device has values for, sorted. */
int tw_history_keys(struct tw_history *h, const char *device, tw_history_name_fn fn, void *ctx);

#endif
