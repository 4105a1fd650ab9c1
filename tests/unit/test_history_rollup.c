/* test_history_rollup.c -- rollups against aggregates computed here: late data, pending rows, retention, migration */
#include <math.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telewire/error.h"
#include "telewire/history.h"
#include "tw_history_v1.h"
#include "tw_test.h"

#define HOUR 3600000LL
#define MINUTE 60000LL
#define T0 (1700000000000LL - 1700000000000LL % HOUR + 7 * MINUTE)	/* not on an hour */
#define STEP 250LL			/* ts grid of the model, ms */
#define SLOTS (int)(6 * HOUR / STEP)	/* 6 hours */
#define NDEV 2
#define NKEY 2

static char tmpdir[] = "/tmp/tw-test-history-rollup-XXXXXX";
static char dbpath[300];
static const char *const devs[NDEV] = { "ru-1", "ru-2" };
static const char *const keys[NKEY] = { "a", "b" };

/* The model: what the store should hold, slot by slot. type 0: no value. */
static struct {
	unsigned char type;	/* 0, or 1 number, 2 boolean, 3 string */
	double num;
} model[NDEV][NKEY][SLOTS];

static unsigned long long rng = 88172645463325252ULL;

static unsigned long long next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static long long rand_in(long long lo, long long hi)	/* both inclusive */
{
	return lo + (long long)(next_rand() % (unsigned long long)(hi - lo + 1));
}

static struct tw_history *open_rw(void)
{
	struct tw_history *h = NULL;
	char err[512];

	if (tw_history_open(dbpath, 0, &h, err, sizeof(err)) != TW_OK)
		fprintf(stderr, "open: %s\n", err);
	return h;
}

/* Writes one record per (device, slot) given, key a of any type, b a number. */
static int write_slots(struct tw_history *h, int d, const int *slots, int n)
{
	struct tw_record *recs[64] = { 0 };
	char s[16];
	int rc;

	for (int i = 0; i < n; i++) {
		int t = (int)rand_in(1, 3), sl = slots[i];
		double v = (double)rand_in(-100000, 100000) / 64.0;

		tw_record_new(&recs[i], devs[d], T0 + sl * STEP, -1, 0, NULL);
		if (t == 1)
			tw_record_set_number(recs[i], "a", v);
		else if (t == 2)
			tw_record_set_bool(recs[i], "a", v > 0);
		else {
			snprintf(s, sizeof(s), "s%d", sl);
			tw_record_set_string(recs[i], "a", s);
		}
		model[d][0][sl].type = (unsigned char)t;
		model[d][0][sl].num = t == 1 ? v : t == 2 ? (v > 0) : 0;
		tw_record_set_number(recs[i], "b", -v * 3);
		model[d][1][sl].type = 1;
		model[d][1][sl].num = -v * 3;
	}
	rc = tw_history_append(h, recs, (size_t)n, NULL);
	for (int i = 0; i < n; i++)
		tw_record_free(recs[i]);
	return rc;
}

/* Mostly in order, one in eight anywhere before (late), some slots again (replaced). */
static void write_random(struct tw_history *h, int from, int to, int batches, int rollup_every)
{
	int slots[64], cur[NDEV] = { from, from };

	for (int b = 0; b < batches; b++) {
		int d = (int)rand_in(0, NDEV - 1), n = (int)rand_in(1, 64);

		for (int i = 0; i < n; i++) {
			cur[d] += (int)rand_in(1, 40);
			if (cur[d] >= to)
				cur[d] = from + (int)rand_in(0, to - from - 1);
			slots[i] = rand_in(0, 7) == 0 ? (int)rand_in(from, cur[d]) : cur[d];
		}
		TW_CHECK_INT(write_slots(h, d, slots, n), TW_OK);
		if (rollup_every && b % rollup_every == 0)
			TW_CHECK(tw_history_rollup_step(h, 0, NULL) >= TW_ERR_AGAIN);
	}
}

static int rollup_all(struct tw_history *h, struct tw_history_rollup_stats *st)
{
	int rc, calls = 0;

	while ((rc = tw_history_rollup_step(h, 5, st)) == TW_ERR_AGAIN && calls < 100000)
		calls++;
	return rc;
}

struct rows {
	int n;
	int64_t ts[4096];
	double num[4096];
};

static int collect(void *ctx, const struct tw_history_row *row)
{
	struct rows *rs = ctx;

	if (rs->n < 4096) {
		rs->ts[rs->n] = row->ts;
		rs->num[rs->n] = row->num;
	}
	rs->n++;
	return 0;
}

/* The buckets of q computed from the model, as tw_history_query gives them
 * (ascending, empty buckets left out). */
static int expect(const struct tw_history_query *q, int d, int k, int64_t *ts, double *out)
{
	static double sum[4096], mn[4096], mx[4096];
	static long cnt[4096], nnum[4096];
	int64_t nb = tw_history_buckets(q), width = q->interval;
	int n = 0;

	if (nb > 4096)
		return -1;
	for (int64_t b = 0; b < nb; b++) {
		sum[b] = 0;
		mn[b] = INFINITY;
		mx[b] = -INFINITY;
		cnt[b] = nnum[b] = 0;
	}
	for (int s = 0; s < SLOTS; s++) {
		int64_t t = T0 + s * STEP, b = width ? (t - q->start) / width : 0;

		if (t < q->start || t > q->end || !model[d][k][s].type)
			continue;
		cnt[b]++;
		if (model[d][k][s].type == 3)
			continue;
		nnum[b]++;
		sum[b] += model[d][k][s].num;
		mn[b] = fmin(mn[b], model[d][k][s].num);
		mx[b] = fmax(mx[b], model[d][k][s].num);
	}
	for (int64_t b = 0; b < nb; b++) {
		if (q->agg == TW_HISTORY_AGG_COUNT ? cnt[b] == 0 : nnum[b] == 0)
			continue;
		ts[n] = width ? q->start + b * width : q->start;
		out[n++] = q->agg == TW_HISTORY_AGG_COUNT ? (double)cnt[b]
			   : q->agg == TW_HISTORY_AGG_AVG ? sum[b] / (double)nnum[b]
			   : q->agg == TW_HISTORY_AGG_MIN ? mn[b]
			   : q->agg == TW_HISTORY_AGG_MAX ? mx[b] : sum[b];
	}
	return n;
}

/* Values of device d, key k in slots [s0, s1). */
static int model_count(int d, int k, int s0, int s1)
{
	int c = 0;

	for (int s = s0; s < s1; s++)
		c += model[d][k][s].type != 0;
	return c;
}

/* Runs q and compares it with the model; returns 0 when they agree. */
static int compare(struct tw_history *h, struct tw_history_query *q, int d, int k)
{
	static int64_t ts[4096];
	static double want[4096];
	static struct rows rs;
	int n = expect(q, d, k, ts, want), bad = 0;

	memset(&rs, 0, sizeof(rs));
	q->device = devs[d];
	q->key = keys[k];
	q->limit = 4096;
	TW_CHECK_INT(tw_history_query(h, q, collect, &rs), TW_OK);
	TW_CHECK_INT(rs.n, n);
	for (int i = 0; i < n && i < rs.n && !bad; i++) {
		double tol = q->agg == TW_HISTORY_AGG_AVG || q->agg == TW_HISTORY_AGG_SUM
			     ? 1e-9 * (1 + fabs(want[i])) : 0;

		bad = rs.ts[i] != ts[i] || fabs(rs.num[i] - want[i]) > tol;
		TW_CHECK_INT(rs.ts[i], ts[i]);
		TW_CHECK_DBL(rs.num[i], want[i], tol);
	}
	if (bad || rs.n != n)
		fprintf(stderr, "  query %s/%s agg %d [%lld, %lld] interval %lld\n", q->device,
			q->key, q->agg, (long long)(q->start - T0), (long long)(q->end - T0),
			(long long)q->interval);
	return bad || rs.n != n;
}

/* A random range of the 6 hours (and a bit around), aligned or not. */
static void random_query(struct tw_history_query *q, int aligned)
{
	static const int64_t intervals[] = { 0, MINUTE, 2 * MINUTE, HOUR, 2 * HOUR, 90000, 1234567,
					     5 * MINUTE + 1, 7 * MINUTE };
	int64_t span = 7 * HOUR;

	memset(q, 0, sizeof(*q));
	q->agg = (enum tw_history_agg)rand_in(TW_HISTORY_AGG_AVG, TW_HISTORY_AGG_COUNT);
	q->interval = intervals[rand_in(0, sizeof(intervals) / sizeof(intervals[0]) - 1)];
	q->start = T0 - 30 * MINUTE + rand_in(0, span / 2);
	q->end = q->start + rand_in(0, span);
	if (aligned) {
		q->start -= (q->start % MINUTE);
		q->interval = q->interval ? (q->interval / MINUTE + 1) * MINUTE : 0;
		q->end -= (q->end % MINUTE) + 1;
		if (q->end < q->start)
			q->end = q->start + MINUTE - 1;
	}
	q->descending = 0;
}

/* The first column of one SQL statement on the store, formatted like printf. */
__attribute__((format(printf, 1, 2)))
static sqlite3_int64 count_sql(const char *fmt, ...)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	sqlite3_int64 n = -1;
	char sql[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (sqlite3_open(dbpath, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

static void test_random_ranges(void)
{
	struct tw_history *h = open_rw();
	struct tw_history_rollup_stats st = { 0 };
	struct tw_history_query q;
	int failed = 0;

	if (!h)
		return;
	/* rollups interleaved with writes, late values among them */
	write_random(h, 0, SLOTS, 1500, 7);
	TW_CHECK_INT(rollup_all(h, &st), TW_OK);
	TW_CHECK(st.chunks >= 6);
	TW_CHECK(st.buckets > 300);
	TW_CHECK_INT(count_sql("SELECT COUNT(*) FROM rollup_pending"), 0);
	TW_CHECK(count_sql("SELECT COUNT(*) FROM rollups WHERE width = 3600000") >= 2 * 2 * 6);
	/* inside a transaction: refused */
	TW_CHECK_INT(tw_history_begin(h), TW_OK);
	TW_CHECK_INT(tw_history_rollup_step(h, 10, NULL), TW_ERR_INVAL);
	tw_history_rollback(h);
	for (int i = 0; i < 600 && failed < 5; i++) {
		random_query(&q, i % 2);
		failed += compare(h, &q, (int)rand_in(0, NDEV - 1), (int)rand_in(0, NKEY - 1));
	}
	/* late values not rolled up yet: pending, the queries read the samples from there */
	write_random(h, SLOTS / 3, SLOTS / 2, 40, 0);
	TW_CHECK_INT(count_sql("SELECT COUNT(*) FROM rollup_pending"), NDEV);
	for (int i = 0; i < 400 && failed < 5; i++) {
		random_query(&q, i % 2);
		failed += compare(h, &q, (int)rand_in(0, NDEV - 1), (int)rand_in(0, NKEY - 1));
	}
	TW_CHECK_INT(rollup_all(h, NULL), TW_OK);
	for (int i = 0; i < 400 && failed < 5; i++) {
		random_query(&q, i % 2);
		failed += compare(h, &q, (int)rand_in(0, NDEV - 1), (int)rand_in(0, NKEY - 1));
	}
	/* one query over everything in hours: a read of rollups, equal to the samples' */
	q = (struct tw_history_query){ .start = T0 - T0 % HOUR, .end = T0 - T0 % HOUR + 7 * HOUR - 1,
				       .agg = TW_HISTORY_AGG_AVG, .interval = HOUR };
	failed += compare(h, &q, 0, 1);
	TW_CHECK_INT(failed, 0);
	tw_history_close(h);
}

/* A since lowered between two transactions of the pass is kept and done. */
static void test_pending_lowered(void)
{
	struct tw_history *w = open_rw(), *r = open_rw();
	struct tw_history_query q = { .start = T0 - T0 % HOUR, .end = T0 - T0 % HOUR + 7 * HOUR - 1,
				      .agg = TW_HISTORY_AGG_COUNT, .interval = HOUR };
	int slots[2] = { SLOTS - 10, SLOTS - 9 }, late[1] = { 5 };
	sqlite3_int64 since;

	if (!w || !r)
		goto out;
	TW_CHECK_INT(rollup_all(r, NULL), TW_OK);
	/* new values in hour 6, then hour 1 while the pass is between two hours */
	TW_CHECK_INT(write_slots(w, 0, slots, 2), TW_OK);
	slots[0] = SLOTS / 2;
	TW_CHECK_INT(write_slots(w, 0, slots, 1), TW_OK);
	TW_CHECK_INT(tw_history_rollup_step(r, 0, NULL), TW_ERR_AGAIN);	/* one device-hour */
	since = count_sql("SELECT since FROM rollup_pending WHERE device_id ="
			  " (SELECT id FROM devices WHERE name = 'ru-1')");
	TW_CHECK(since > T0 + slots[0] * STEP);
	TW_CHECK_INT(write_slots(w, 0, late, 1), TW_OK);
	TW_CHECK_INT(count_sql("SELECT since FROM rollup_pending WHERE device_id ="
			       " (SELECT id FROM devices WHERE name = 'ru-1')"), T0 + late[0] * STEP);
	TW_CHECK_INT(rollup_all(r, NULL), TW_OK);
	TW_CHECK_INT(count_sql("SELECT COUNT(*) FROM rollup_pending"), 0);
	/* the rollups alone (no pending row) agree with the model for every hour */
	TW_CHECK_INT(compare(r, &q, 0, 0), 0);
	q.agg = TW_HISTORY_AGG_SUM;
	TW_CHECK_INT(compare(r, &q, 0, 1), 0);
	/* the late value's minute, counted */
	TW_CHECK_INT(count_sql("SELECT n FROM rollups WHERE width = 60000 AND bucket = %lld"
			       " AND device_id = (SELECT id FROM devices WHERE name = 'ru-1')"
			       " AND key_id = (SELECT id FROM keys WHERE name = 'b')", T0),
		     model_count(0, 1, 0, (int)(MINUTE / STEP)));
out:
	tw_history_close(w);
	tw_history_close(r);
}

static int has_name(void *ctx, const char *name)
{
	int *found = ctx;

	*found += strcmp(name, "a") == 0 || strcmp(name, "b") == 0;
	return 0;
}

/* Raw values older than 3 h go, rollups stay: aggregates of whole minutes still answer. */
static void test_retention_keeps_rollups(void)
{
	struct tw_history *h = open_rw();
	int64_t cut = T0 + 3 * HOUR + 90 * 1000;	/* not on a minute */
	struct tw_history_retain r = { .before = cut, .rollup_before = 1, .batch = 500 };
	struct tw_history_query q;
	struct rows rs;
	int rc, steps = 0, failed = 0, found = 0, late[1] = { 40 };
	int64_t left;

	if (!h)
		return;
	TW_CHECK_INT(tw_history_rollup_step(h, 0, NULL), TW_OK);
	do
		rc = tw_history_retain_step(h, &r);
	while (rc == TW_ERR_AGAIN && ++steps < 100000);
	TW_CHECK_INT(rc, TW_OK);
	TW_CHECK(r.samples > 1000);
	TW_CHECK_INT(r.rollups, 0);
	TW_CHECK_INT(r.devices, 0);
	TW_CHECK_INT(count_sql("SELECT COUNT(*) FROM points WHERE ts < %lld", (long long)cut), 0);
	/* the raw values are gone, the keys and devices are still known */
	q = (struct tw_history_query){ .device = devs[0], .key = "b", .start = 0, .end = cut - 1 };
	memset(&rs, 0, sizeof(rs));
	TW_CHECK_INT(tw_history_query(h, &q, collect, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 0);
	TW_CHECK_INT(tw_history_keys(h, devs[0], has_name, &found), TW_OK);
	TW_CHECK_INT(found, 2);
	TW_CHECK_INT(tw_history_device_exists(h, devs[1]), 1);
	/* a value before the horizon arrives late: the old buckets keep what they hold */
	write_slots(h, 0, late, 1);
	model[0][0][late[0]].type = 0;	/* not counted: its hour is history */
	model[0][1][late[0]].type = 0;
	TW_CHECK_INT(rollup_all(h, NULL), TW_OK);
	for (int i = 0; i < 400 && failed < 5; i++) {
		random_query(&q, 1);
		if (q.end >= cut - cut % MINUTE)
			q.end = cut - cut % MINUTE - 1;
		if (q.start > q.end)
			continue;
		failed += compare(h, &q, (int)rand_in(0, NDEV - 1), (int)rand_in(0, NKEY - 1));
	}
	TW_CHECK_INT(failed, 0);
	/* rollups with the values (rollup_before 0): what is older than cut is gone */
	r = (struct tw_history_retain){ .before = T0 + 7 * HOUR, .batch = 500 };
	steps = 0;
	do
		rc = tw_history_retain_step(h, &r);
	while (rc == TW_ERR_AGAIN && ++steps < 100000);
	TW_CHECK_INT(rc, TW_OK);
	TW_CHECK(r.rollups > 100);
	TW_CHECK_INT(r.devices, 2);
	TW_CHECK_INT(count_sql("SELECT COUNT(*) FROM rollups"), 0);
	TW_CHECK_INT(count_sql("SELECT COUNT(*) FROM devices"), 0);
	TW_CHECK_INT(tw_history_vacuum_step(h, 0, &left), TW_OK);
	tw_history_close(h);
}

/* Up to 4 rows with their types and strings. */
struct typed_rows {
	int n;
	int type[4];
	char str[4][16];
	double num[4];
};

static int collect_typed(void *ctx, const struct tw_history_row *row)
{
	struct typed_rows *sl = ctx;

	if (sl->n < 4) {
		sl->type[sl->n] = row->type;
		sl->num[sl->n] = row->type == TW_VALUE_BOOL ? row->b : row->num;
		snprintf(sl->str[sl->n], sizeof(sl->str[0]), "%s",
			 row->type == TW_VALUE_STRING ? row->str : "");
	}
	sl->n++;
	return 0;
}

/* A file of schema version 1 (no rollup tables, a row per value): read as
 * it is, and migrated to schema 3 (a row per ts) on a read-write open. */
static void test_migrate_v1(void)
{
	static const char v1[] =
		TW_HISTORY_V1_SCHEMA
		"WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM i WHERE x < 7199)"
		" INSERT INTO samples SELECT 1, 1, x * 1000, 1, x % 10, NULL FROM i;"
		/* a string and a boolean, one of them at a ts of v */
		"INSERT INTO keys VALUES(2, 'state');"
		"INSERT INTO samples VALUES(1, 2, 5000, 3, NULL, 'parked'), (1, 2, 7200500, 2, 1, NULL);"
		"PRAGMA user_version=1;";
	struct tw_history_query qs = { .device = "old-1", .key = "state", .start = 0,
				       .end = 3 * HOUR };
	struct typed_rows sl;
	struct tw_history_query q = { .device = "old-1", .key = "v", .start = 0, .end = 2 * HOUR - 1,
				      .agg = TW_HISTORY_AGG_SUM, .interval = HOUR };
	struct tw_history_rollup_stats st = { 0 };
	struct tw_history *h = NULL;
	char path[300], err[512];
	struct rows rs;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/v1.db", tmpdir);
	TW_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	TW_CHECK_INT(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	/* read-only: no migration, the samples answer */
	TW_CHECK_INT(tw_history_open(path, TW_HISTORY_READONLY, &h, err, sizeof(err)), TW_OK);
	memset(&rs, 0, sizeof(rs));
	TW_CHECK_INT(h ? tw_history_query(h, &q, collect, &rs) : -1, TW_OK);
	TW_CHECK_INT(rs.n, 2);
	TW_CHECK_DBL(rs.num[0], 360 * 45, 0);
	TW_CHECK_INT(h ? tw_history_rollup_step(h, 0, NULL) : -1, TW_ERR_INVAL);
	memset(&sl, 0, sizeof(sl));
	TW_CHECK_INT(h ? tw_history_query(h, &qs, collect_typed, &sl) : -1, TW_OK);
	TW_CHECK_INT(sl.n, 2);
	TW_CHECK_INT(sl.type[0], TW_VALUE_STRING);
	TW_CHECK_STR(sl.str[0], "parked");
	TW_CHECK_INT(sl.type[1], TW_VALUE_BOOL);
	tw_history_close(h);
	/* read-write: schema 2, every device pending from its start */
	TW_CHECK_INT(tw_history_open(path, TW_HISTORY_NOCREATE, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	TW_CHECK_INT(rollup_all(h, &st), TW_OK);
	TW_CHECK_INT(st.chunks, 3);	/* hours 0, 1 and 2 (state's boolean) */
	TW_CHECK_INT(st.devices, 1);
	/* v: 120 minutes and 2 hours; state: 2 minutes and 2 hours */
	TW_CHECK_INT(st.buckets, 2 * 60 + 2 + 2 + 2);
	memset(&rs, 0, sizeof(rs));
	TW_CHECK_INT(tw_history_query(h, &q, collect, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 2);
	TW_CHECK_DBL(rs.num[1], 360 * 45, 0);
	memset(&sl, 0, sizeof(sl));
	TW_CHECK_INT(tw_history_query(h, &qs, collect_typed, &sl), TW_OK);
	TW_CHECK_INT(sl.n, 2);
	TW_CHECK_STR(sl.str[0], "parked");
	TW_CHECK_INT(sl.type[1], TW_VALUE_BOOL);
	TW_CHECK_DBL(sl.num[1], 1, 0);
	tw_history_close(h);
	{
		char saved[300];

		snprintf(saved, sizeof(saved), "%s", dbpath);
		snprintf(dbpath, sizeof(dbpath), "%s", path);
		TW_CHECK_INT(count_sql("PRAGMA user_version"), TW_HISTORY_SCHEMA_VERSION);
		TW_CHECK_INT(count_sql("SELECT COUNT(*) FROM rollup_pending"), 0);
		TW_CHECK_INT(count_sql("SELECT SUM(n) FROM rollups WHERE width = 3600000 AND key_id = 1"),
			     7200);
		/* schema 3: one point per ts, the values of both keys in it */
		TW_CHECK_INT(count_sql("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'samples'"), 0);
		TW_CHECK_INT(count_sql("SELECT COUNT(*) FROM points"), 7201);
		TW_CHECK_INT(count_sql("SELECT COUNT(*) FROM series"), 2);
		snprintf(dbpath, sizeof(dbpath), "%s", saved);
	}
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/history.db", tmpdir);
	TW_RUN(test_random_ranges);
	TW_RUN(test_pending_lowered);
	TW_RUN(test_retention_keeps_rollups);
	TW_RUN(test_migrate_v1);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return TW_TEST_END();
}
