/* bench_history.c -- history store benchmark: append rate, 24 h aggregate query, raw range, retention, long ranges from rollups */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_internal.h"	/* history__vals_functions, for the plain SQL comparisons */
#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/history.h"

#define T0 1700000000000LL	/* the first ts */
#define MAX_RUNS 1000

struct bench {
	const char *db;
	long long devices, keys, hours, batch, runs, long_days, long_runs;
	int no_autovacuum, keep;
};

static const char *const key_names[] = { "temp", "hum", "pressure", "speed", "lat", "lon",
					 "battery", "rssi" };

static double value_at(long long t, long long k)
{
	return (double)(t % 100) * 0.1 + (double)k;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *ms, long long n)
{
	qsort(ms, (size_t)n, sizeof(double), cmp_double);
	printf("%-44s median %8.3f ms   min %8.3f   max %8.3f   (%lld runs)\n", what,
	       ms[n / 2], ms[0], ms[n - 1], n);
}

static double now_ms(void)
{
	return (double)tw_wall_us() / 1000.0;
}

/* A file whose auto_vacuum is fixed to NONE before the store creates its tables. */
static int precreate_plain(const char *path)
{
	sqlite3 *db;
	int rc;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, "PRAGMA auto_vacuum=NONE; PRAGMA journal_mode=WAL;"
			  "CREATE TABLE bench_tmp(x); DROP TABLE bench_tmp;", NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

static int fill(const struct bench *b, struct tw_history *h)
{
	long long seconds = b->hours * 3600, n = 0, values = 0;
	struct tw_record **recs = calloc((size_t)b->batch, sizeof(*recs));
	double t = now_ms();
	char dev[32];

	if (!recs)
		return -1;
	for (long long s = 0; s < seconds; s++) {
		for (long long d = 1; d <= b->devices; d++) {
			snprintf(dev, sizeof(dev), "dev-%04lld", d);
			if (tw_record_new(&recs[n], dev, T0 + s * 1000, s, 0, NULL) != TW_OK)
				return -1;
			for (long long k = 0; k < b->keys; k++)
				tw_record_set_number(recs[n], key_names[k], value_at(s, k));
			values += b->keys;
			if (++n < b->batch && !(s == seconds - 1 && d == b->devices))
				continue;
			if (tw_history_append(h, recs, (size_t)n, NULL) != TW_OK) {
				fprintf(stderr, "append: %s\n", tw_history_errmsg(h));
				return -1;
			}
			for (long long i = 0; i < n; i++)
				tw_record_free(recs[i]);
			n = 0;
		}
	}
	free(recs);
	t = now_ms() - t;
	printf("append: %lld records (%lld values) in %.0f ms, %lld records per transaction: "
	       "%.0f records/s, %.0f values/s\n", seconds * b->devices, values, t, b->batch,
	       (double)(seconds * b->devices) / t * 1000, (double)values / t * 1000);
	return 0;
}

struct agg_check {
	long long rows;
	double first;
};

static int count_row(void *ctx, const struct tw_history_row *row)
{
	struct agg_check *c = ctx;

	if (c->rows++ == 0)
		c->first = row->num;
	return 0;
}

static void bench_queries(const struct bench *b, struct tw_history *h)
{
	struct tw_history_query q = { .device = "dev-0001", .key = "temp", .start = T0,
				      .end = T0 + 86400000LL - 1, .limit = 100000,
				      .agg = TW_HISTORY_AGG_AVG, .interval = 60000 };
	double ms[MAX_RUNS];
	struct agg_check c;

	for (long long i = 0; i < b->runs; i++) {
		memset(&c, 0, sizeof(c));
		ms[i] = now_ms();
		if (tw_history_query(h, &q, count_row, &c) != TW_OK)
			fprintf(stderr, "query failed: %s\n", tw_history_errmsg(h));
		ms[i] = now_ms() - ms[i];
	}
	/* minute 0 holds t = 0..59: values 0.0 .. 5.9, mean 2.95 */
	printf("AVG, 1-minute buckets over 24 h: %lld buckets, first %.4f (expected 1440, 2.9500)\n",
	       c.rows, c.first);
	report("tw_history_query AVG 1 min x 24 h (86400 rows)", ms, b->runs);
	q.agg = TW_HISTORY_AGG_NONE;
	for (long long i = 0; i < b->runs; i++) {
		memset(&c, 0, sizeof(c));
		ms[i] = now_ms();
		tw_history_query(h, &q, count_row, &c);
		ms[i] = now_ms() - ms[i];
	}
	printf("raw rows over 24 h: %lld\n", c.rows);
	report("tw_history_query raw 24 h (86400 rows)", ms, b->runs);
}

/* The same AVG as a single GROUP BY, for comparison. */
static void bench_group_by(const struct bench *b)
{
	static const char sql[] =
		"SELECT (ts - ?3) / ?5 AS bucket,"
		" AVG(tw_num(vals, (SELECT id FROM keys WHERE name = ?2))) FROM points"
		" WHERE device_id = (SELECT id FROM devices WHERE name = ?1)"
		" AND ts BETWEEN ?3 AND ?4 GROUP BY bucket ORDER BY bucket";
	double ms[MAX_RUNS];
	sqlite3_stmt *st, *plan;
	long long rows = 0;
	sqlite3 *db;

	if (sqlite3_open_v2(b->db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    history__vals_functions(db, NULL) != TW_OK ||
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "group by: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return;
	}
	sqlite3_bind_text(st, 1, "dev-0001", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, "temp", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, T0);
	sqlite3_bind_int64(st, 4, T0 + 86400000LL - 1);
	sqlite3_bind_int64(st, 5, 60000);
	for (long long i = 0; i < b->runs; i++) {
		rows = 0;
		ms[i] = now_ms();
		while (sqlite3_step(st) == SQLITE_ROW)
			rows++;
		sqlite3_reset(st);
		ms[i] = now_ms() - ms[i];
	}
	printf("GROUP BY buckets: %lld\n", rows);
	report("one GROUP BY statement, same AVG", ms, b->runs);
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT ts, vals FROM points WHERE "
			       "device_id = 1 AND ts BETWEEN 1 AND 2", -1, &plan,
			       NULL) == SQLITE_OK) {
		while (sqlite3_step(plan) == SQLITE_ROW)
			printf("query plan of a range: %s\n", sqlite3_column_text(plan, 3));
		sqlite3_finalize(plan);
	}
	sqlite3_close(db);
}

static int exec_timed(sqlite3 *db, const char *sql, double *ms)
{
	*ms = now_ms();
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
		return -1;
	}
	*ms = now_ms() - *ms;
	return 0;
}

/* Deleting the first half: batched DELETE (what retain does) against
 * DROP TABLE of a table holding the same rows (what day partitions would do). */
static void bench_retention(const struct bench *b, struct tw_history *h)
{
	struct tw_history_retain r = { .before = T0 + b->hours * 1800000LL, .batch = 10000 };
	double drop_ms, copy_ms, ret_ms, vac_ms, worst = 0, t;
	int64_t left = 0, free_pages = 0;
	sqlite3 *db;
	char sql[300];
	int rc, steps = 0;

	if (sqlite3_open(b->db, &db) != SQLITE_OK)
		return;
	sqlite3_busy_timeout(db, 5000);
	snprintf(sql, sizeof(sql), "CREATE TABLE part(device_id INTEGER NOT NULL, ts INTEGER "
		 "NOT NULL, vals BLOB NOT NULL, PRIMARY KEY(device_id, ts)) WITHOUT ROWID;"
		 " INSERT INTO part SELECT * FROM points WHERE ts < %" PRId64 ";", r.before);
	if (exec_timed(db, sql, &copy_ms) != 0 || exec_timed(db, "DROP TABLE part", &drop_ms) != 0 ||
	    exec_timed(db, "PRAGMA wal_checkpoint(TRUNCATE)", &t) != 0) {
		sqlite3_close(db);
		return;
	}
	ret_ms = now_ms();
	do {
		t = now_ms();
		rc = tw_history_retain_step(h, &r);
		t = now_ms() - t;
		worst = t > worst ? t : worst;
		steps++;
	} while (rc == TW_ERR_AGAIN);
	ret_ms = now_ms() - ret_ms;
	printf("retention: DROP TABLE of a partition with the older half: %.0f ms (one lock)\n",
	       drop_ms);
	printf("retention: batched DELETE of the same rows: %.0f ms in %d transactions, longest "
	       "%.1f ms; %" PRIu64 " values, %" PRIu64 " seen marks deleted%s\n", ret_ms, steps,
	       worst, r.samples, r.seen, rc == TW_OK ? "" : " (FAILED)");
	tw_history_vacuum_step(h, 0, &free_pages);
	vac_ms = now_ms();
	tw_history_vacuum_step(h, 1 << 30, &left);
	vac_ms = now_ms() - vac_ms;
	printf("retention: incremental_vacuum %s of %" PRId64 " free pages: %.0f ms, %" PRId64
	       " left\n", tw_history_vacuum_enabled(h) ? "(on)" : "(off: pages stay for reuse)",
	       free_pages, vac_ms, left);
	sqlite3_close(db);
}

/*
 * A long range: long_days of one device at 1 Hz, AVG in 1-hour buckets,
 * once from the samples (every device-hour pending, as before the rollup
 * pass) and once from the rollups after it.
 */
static int fill_long(const struct bench *b, struct tw_history *h)
{
	enum { BATCH = 1000 };
	struct tw_record *recs[BATCH];
	long long seconds = b->long_days * 86400, n = 0;
	double t = now_ms();

	for (long long s = 0; s < seconds; s++) {
		if (tw_record_new(&recs[n], "dev-long", T0 + s * 1000, s, 0, NULL) != TW_OK)
			return -1;
		tw_record_set_number(recs[n], "temp", value_at(s, 0));
		if (++n < BATCH && s != seconds - 1)
			continue;
		if (tw_history_append(h, recs, (size_t)n, NULL) != TW_OK) {
			fprintf(stderr, "append: %s\n", tw_history_errmsg(h));
			return -1;
		}
		for (long long i = 0; i < n; i++)
			tw_record_free(recs[i]);
		n = 0;
	}
	printf("long range: %lld records of one device in %.0f ms (%d per transaction)\n", seconds,
	       now_ms() - t, BATCH);
	return 0;
}

/* aligned: the buckets start on whole hours (T0 is 13 min 20 s past one,
 * so each bucket is otherwise 59 minute rollups and two edges of samples) */
static void time_long(const struct bench *b, struct tw_history *h, const char *what, int aligned)
{
	int64_t start = aligned ? T0 - T0 % 3600000 + 3600000 : T0;
	struct tw_history_query q = { .device = "dev-long", .key = "temp", .start = start,
				      .end = start + (b->long_days * 24 - 1) * 3600000LL - 1,
				      .limit = 100000, .agg = TW_HISTORY_AGG_AVG, .interval = 3600000 };
	double ms[MAX_RUNS];
	struct agg_check c;
	char label[80];

	for (long long i = 0; i < b->long_runs; i++) {
		memset(&c, 0, sizeof(c));
		ms[i] = now_ms();
		if (tw_history_query(h, &q, count_row, &c) != TW_OK)
			fprintf(stderr, "query failed: %s\n", tw_history_errmsg(h));
		ms[i] = now_ms() - ms[i];
	}
	/* each hour holds every t % 100 36 times: mean 4.95 */
	printf("AVG, 1-hour buckets over %lld days - 1 h%s, from %s: %lld buckets, first %.4f "
	       "(expected %lld, 4.9500)\n", b->long_days, aligned ? " on whole hours" : "", what,
	       c.rows, c.first, b->long_days * 24 - 1);
	snprintf(label, sizeof(label), "AVG 1 h x %lld d%s, %s", b->long_days,
		 aligned ? " aligned" : "", what);
	report(label, ms, b->long_runs);
}

static int bench_long(const struct bench *b)
{
	struct tw_history_rollup_stats st = { 0 };
	struct tw_history *h;
	char path[600], err[512];
	double t;
	int rc;

	snprintf(path, sizeof(path), "%s-long", b->db);
	unlink(path);
	if (tw_history_open(path, 0, &h, err, sizeof(err)) != TW_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (fill_long(b, h) != 0)
		return -1;
	time_long(b, h, "samples", 0);
	time_long(b, h, "samples", 1);
	t = now_ms();
	while ((rc = tw_history_rollup_step(h, 1000, &st)) == TW_ERR_AGAIN)
		;
	t = now_ms() - t;
	printf("rollup pass: %" PRIu64 " device-hours, %" PRIu64 " buckets in %.0f ms (%.2f ms per "
	       "device-hour transaction)%s\n", st.chunks, st.buckets, t,
	       st.chunks ? t / (double)st.chunks : 0, rc == TW_OK ? "" : " (FAILED)");
	time_long(b, h, "rollups", 0);
	time_long(b, h, "rollups", 1);
	tw_history_close(h);
	if (!b->keep)
		unlink(path);
	return 0;
}

static int arg_int(const char *flag, const char *v, long long min, long long max, long long *out)
{
	char *end;

	errno = 0;
	*out = v ? strtoll(v, &end, 10) : 0;
	if (!v || errno || *end || end == v || *out < min || *out > max) {
		fprintf(stderr, "bench_history: %s: expected a whole number %lld..%lld\n", flag, min, max);
		return -1;
	}
	return 0;
}

static int parse(int argc, char **argv, struct bench *b)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = 0;

		if (strcmp(a, "--db") == 0 && v)
			b->db = argv[++i];
		else if (strcmp(a, "--devices") == 0 && (++i, 1))
			rc = arg_int(a, v, 1, 10000, &b->devices);
		else if (strcmp(a, "--keys") == 0 && (++i, 1))
			rc = arg_int(a, v, 1, 8, &b->keys);
		else if (strcmp(a, "--hours") == 0 && (++i, 1))
			rc = arg_int(a, v, 24, 24 * 366, &b->hours);
		else if (strcmp(a, "--batch") == 0 && (++i, 1))
			rc = arg_int(a, v, 1, 100000, &b->batch);
		else if (strcmp(a, "--runs") == 0 && (++i, 1))
			rc = arg_int(a, v, 1, MAX_RUNS, &b->runs);
		else if (strcmp(a, "--long-days") == 0 && (++i, 1))
			rc = arg_int(a, v, 0, 366, &b->long_days);
		else if (strcmp(a, "--long-runs") == 0 && (++i, 1))
			rc = arg_int(a, v, 1, MAX_RUNS, &b->long_runs);
		else if (strcmp(a, "--no-autovacuum") == 0)
			b->no_autovacuum = 1;
		else if (strcmp(a, "--keep") == 0)
			b->keep = 1;
		else {
			fprintf(stderr, "usage: bench_history [--db FILE] [--devices N] [--keys N] "
				"[--hours H] [--batch N] [--runs N] [--long-days D] [--long-runs N] "
				"[--no-autovacuum] [--keep]\n");
			return -1;
		}
		if (rc)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = { "/tmp/bench_history.db", 3, 2, 24, 1, 15, 30, 7, 0, 0 };
	struct tw_history *h;
	char err[512], side[600];

	if (parse(argc, argv, &b) != 0)
		return 2;
	unlink(b.db);
	snprintf(side, sizeof(side), "%s-wal", b.db);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", b.db);
	unlink(side);
	if (b.no_autovacuum && precreate_plain(b.db) != 0)
		return 1;
	if (tw_history_open(b.db, 0, &h, err, sizeof(err)) != TW_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("%s: %lld devices x %lld keys x %lld h at 1 Hz, auto_vacuum %s\n", b.db, b.devices,
	       b.keys, b.hours, tw_history_vacuum_enabled(h) ? "INCREMENTAL" : "NONE");
	if (fill(&b, h) != 0)
		return 1;
	tw_history_close(h);
	if (tw_history_open(b.db, TW_HISTORY_READONLY, &h, err, sizeof(err)) != TW_OK)
		return 1;
	bench_queries(&b, h);
	tw_history_close(h);
	bench_group_by(&b);
	if (tw_history_open(b.db, TW_HISTORY_NOCREATE, &h, err, sizeof(err)) != TW_OK)
		return 1;
	bench_retention(&b, h);
	tw_history_close(h);
	if (!b.keep)
		unlink(b.db);
	if (b.long_days > 0 && bench_long(&b) != 0)
		return 1;
	return 0;
}
