/* history.h -- the SQLite telemetry store: writes from ingest, queries for operators and the hub, retention
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
#define TW_HISTORY_NOCREATE 0x2	/* open an existing store read-write (retention) */

/* Schema version in PRAGMA user_version. A file of a newer version is
 * refused; older ones are migrated when opened read-write. */
#define TW_HISTORY_SCHEMA_VERSION 3

/* Opens (and, unless read-only or NOCREATE, creates) the store at path.
 * New files get auto_vacuum=INCREMENTAL, so that retention can give freed
 * pages back. Returns TW_OK, or TW_ERR_DB / TW_ERR_NOMEM after writing why
 * into err. */
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
 * replaced). Returns TW_OK or TW_ERR_DB. The values of one device and ts
 * take at most 1 MiB: a record that would take them past it replaces them
 * whole, counted by tw_history_points_replaced. */
int tw_history_put(struct tw_history *h, const struct tw_record *r);
/* How many times a record replaced a device's values at a ts whole, as
 * they had grown past 1 MiB, since h was opened. */
uint64_t tw_history_points_replaced(const struct tw_history *h);
/* The id of device, added in the open transaction when new; 0 on failure.
 * Rows are kept in device id order: records stored in that order walk the
 * B-trees from one end to the other instead of jumping about. */
int64_t tw_history_device_id(struct tw_history *h, const char *device);
/* Returns TW_OK, or TW_ERR_DB after rolling back. */
int tw_history_commit(struct tw_history *h);
void tw_history_rollback(struct tw_history *h);

/* One transaction: seen + put for each record. dup, when not NULL, gets
 * one flag per record (1: duplicate, not written). Returns TW_OK, or
 * TW_ERR_DB after rolling back (nothing was written). */
int tw_history_append(struct tw_history *h, struct tw_record *const *recs, size_t n,
		      unsigned char *dup);

/* ---- reading ---- */

/* Aggregations after ThingsBoard's. AVG, MIN, MAX and SUM take numbers and
 * booleans (as 0 and 1) and skip strings; COUNT counts values of any type. */
enum tw_history_agg {
	TW_HISTORY_AGG_NONE = 0,	/* the stored values themselves */
	TW_HISTORY_AGG_AVG,
	TW_HISTORY_AGG_MIN,
	TW_HISTORY_AGG_MAX,
	TW_HISTORY_AGG_SUM,
	TW_HISTORY_AGG_COUNT,
};

/* Most buckets one aggregated query may span: ceil(range / interval). */
#define TW_HISTORY_MAX_BUCKETS 10000

struct tw_history_query {
	const char *device, *key;
	int64_t start, end;	/* ms, both inclusive */
	size_t limit;		/* rows, or non-empty buckets with agg; 0: 10000 */
	int descending;		/* 0: oldest first */
	/* Fields below may be left 0: the stored values. */
	enum tw_history_agg agg;
	/* With agg: buckets [start + k * interval, start + (k + 1) * interval),
	 * the last one cut at end; 0: one bucket over [start, end]. An
	 * aggregated row has the bucket's start as ts, and a bucket without
	 * values gives no row. */
	int64_t interval;
};

struct tw_history_row {
	const char *key;
	int64_t ts;
	enum tw_value_type type;	/* aggregates are TW_VALUE_NUMBER */
	double num;		/* TW_VALUE_NUMBER */
	int b;			/* TW_VALUE_BOOL */
	const char *str;	/* TW_VALUE_STRING; valid during the callback */
};

/* Called once per row or name; return non-zero to stop early. */
typedef int (*tw_history_row_fn)(void *ctx, const struct tw_history_row *row);
typedef int (*tw_history_name_fn)(void *ctx, const char *name);

/* Rows (or buckets) of one device and key in [start, end]. Returns TW_OK
 * (an unknown device or key has no rows), TW_ERR_INVAL (start > end, no
 * device or key, negative interval), TW_ERR_LIMIT (more than
 * TW_HISTORY_MAX_BUCKETS buckets, or the deadline passed), or TW_ERR_DB. */
int tw_history_query(struct tw_history *h, const struct tw_history_query *q,
		     tw_history_row_fn fn, void *ctx);
/* Number of buckets q spans (1 without interval); saturates at INT64_MAX. */
int64_t tw_history_buckets(const struct tw_history_query *q);
/* Device names, sorted. */
int tw_history_devices(struct tw_history *h, tw_history_name_fn fn, void *ctx);
/* Keys that device has values for, sorted. */
int tw_history_keys(struct tw_history *h, const char *device, tw_history_name_fn fn, void *ctx);
/* 1 when the store has ever had the device (and retention has not removed
 * it), 0 when not, or TW_ERR_DB. */
int tw_history_device_exists(struct tw_history *h, const char *device);
/* The committed ts of (device, seq) in seen: 1 with *ts set, 0 when absent,
 * or TW_ERR_DB. For a reader that checks for duplicates beside the writer. */
int tw_history_seen_ts(struct tw_history *h, const char *device, int64_t seq, int64_t *ts);
/* The device's highest committed seq, -1 when none; TW_OK or TW_ERR_DB. */
int tw_history_max_seq(struct tw_history *h, const char *device, int64_t *max);

/* Stops queries of h that run past deadline (tw_mono_ms() milliseconds):
 * they return TW_ERR_LIMIT. 0: no deadline. */
void tw_history_set_deadline(struct tw_history *h, int64_t deadline_ms);

/* ---- query parameters of GET /api/history (pure: no I/O) ---- */

#define TW_HISTORY_MAX_KEYS 16		/* keys per request */
#define TW_HISTORY_MAX_LIMIT 50000	/* rows or buckets per key */
#define TW_HISTORY_DEFAULT_LIMIT 100	/* rows per key when limit is absent (ThingsBoard's) */

struct tw_history_params {
	char device[TW_RECORD_MAX_DEVICE + 1];
	char keys[TW_HISTORY_MAX_KEYS][TW_RECORD_MAX_KEY + 1];
	size_t nkeys;
	int64_t start_ts, end_ts;	/* ms: [start_ts, end_ts), ThingsBoard's */
	int64_t interval;		/* ms; 0 when absent */
	enum tw_history_agg agg;
	size_t limit;
	int descending;			/* orderBy=DESC, the default */
};

/* Looks up one URL-decoded query parameter by name; NULL when absent. */
typedef const char *(*tw_history_param_fn)(void *ctx, const char *name);

/* Reads device, keys, startTs, endTs, interval, agg, limit and orderBy
 * through get into out. Returns TW_OK, or TW_ERR_INVAL with one specific
 * sentence naming the parameter in err (e.g. "interval must be a positive
 * integer number of milliseconds, got \"0\"."); TW_ERR_LIMIT, also with
 * a sentence, when a cap is passed. Other parameters are ignored. */
int tw_history_params_parse(tw_history_param_fn get, void *ctx, struct tw_history_params *out,
			    char *err, size_t errlen);
/* The query of key i of p, for tw_history_query. */
void tw_history_params_query(const struct tw_history_params *p, size_t i,
			     struct tw_history_query *q);

/* "AVG" (any case) to TW_HISTORY_AGG_AVG...; TW_OK or TW_ERR_INVAL. */
int tw_history_agg_parse(const char *s, enum tw_history_agg *out);
/* "NONE", "AVG", ... */
const char *tw_history_agg_name(enum tw_history_agg agg);

/* ---- rollups ---- */

/*
 * Aggregates per series and bucket at 1 minute and 1 hour (count, count of
 * numbers and booleans, sum, min, max), so that an aggregated query over a
 * long range reads a bucket where it would read its samples, and still
 * answers after retention deleted the samples (the rollups have their own
 * retention: tw_history_retain.rollup_before).
 *
 * The write path marks what it writes in rollup_pending (per device: the
 * oldest ts written since the last pass); tw_history_rollup_step brings
 * those devices' rollups up to date. Until then queries read the samples
 * from the oldest pending ts on, so results never depend on the pass.
 */
struct tw_history_rollup_stats {
	uint64_t chunks;	/* transactions: one hour of one device each */
	uint64_t buckets;	/* rollup rows written */
	uint64_t devices;	/* devices brought up to date */
};

/* Recomputes pending rollups, one device-hour per transaction (BEGIN
 * IMMEDIATE: a writer waits for at most one; a ts it lowers meanwhile is
 * kept for the next pass), devices in turn, until about budget_ms have
 * passed (at least one transaction; budget_ms <= 0: just one). Adds what it
 * did to *st (may be NULL). Returns TW_OK when nothing is pending any more,
 * TW_ERR_AGAIN when work may remain (call again, e.g. between group
 * commits), TW_ERR_INVAL inside an open transaction or on a read-only
 * store, TW_ERR_DB (that transaction is rolled back, nothing is lost). */
int tw_history_rollup_step(struct tw_history *h, int64_t budget_ms,
			   struct tw_history_rollup_stats *st);

/* ---- retention ---- */

/* Deletes everything older than a cutoff, a batch at a time, so that a
 * writer (ingest) never waits longer than one batch. Zero it, set before,
 * batch and (to keep rollups longer) rollup_before, then call
 * tw_history_retain_step until it returns TW_OK. */
struct tw_history_retain {
	int64_t before;		/* delete rows with ts < before (ms) */
	size_t batch;		/* rows per transaction; 0: 10000 */
	uint64_t samples, seen, devices;	/* deleted so far */
	/* progress between calls */
	int phase;
	int64_t dev, key;
	/* Rollup buckets that end at or before rollup_before are deleted too;
	 * 0: before (everything older than before goes, rollups included).
	 * Later than before is taken as before. */
	int64_t rollup_before;
	uint64_t rollups;	/* rollup buckets deleted so far */
};

/* First brings the rollups up to date (tw_history_rollup_step), so that
 * the samples it deletes are kept in them; then deletes up to batch rows
 * per transaction. Returns TW_ERR_AGAIN when there is more to do, TW_OK
 * when done, TW_ERR_DB (rolled back). Not inside a transaction. */
int tw_history_retain_step(struct tw_history *h, struct tw_history_retain *r);
/* Gives up to pages free pages back to the file system (files with
 * auto_vacuum=INCREMENTAL only). *left gets the free pages still in the
 * file. Returns TW_OK or TW_ERR_DB. */
int tw_history_vacuum_step(struct tw_history *h, int pages, int64_t *left);
/* 1 when the file gives free pages back (auto_vacuum=INCREMENTAL). */
int tw_history_vacuum_enabled(struct tw_history *h);

#endif
