/* test_history_query.c -- aggregates, buckets, deadlines, retention and schema versions on a real SQLite file */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/history.h"
#include "tw_test.h"

#define N 600		/* seconds of the known sequence: 10 minutes at 1 Hz */
#define MAXROWS 2000

static char tmpdir[] = "/tmp/tw-test-history-query-XXXXXX";
static char dbpath[256];

/* The known sequence of "s-1"/"v": v(i) at ts = i * 1000. */
static double v_at(int i)
{
	return (double)((i * 37) % 101) - 50.5 + (i % 7) * 0.25;
}

struct rows {
	int n;
	int64_t ts[MAXROWS];
	double num[MAXROWS];
	int type[MAXROWS];
};

static int collect(void *ctx, const struct tw_history_row *row)
{
	struct rows *rs = ctx;

	if (rs->n < MAXROWS) {
		rs->ts[rs->n] = row->ts;
		rs->num[rs->n] = row->type == TW_VALUE_BOOL ? row->b : row->num;
		rs->type[rs->n] = row->type;
	}
	rs->n++;
	return 0;
}

static int run(struct tw_history *h, struct tw_history_query *q, struct rows *rs)
{
	memset(rs, 0, sizeof(*rs));
	return tw_history_query(h, q, collect, rs);
}

static int put(struct tw_history *h, const char *dev, int64_t ts, int64_t seq, const char *key,
	       double v)
{
	struct tw_record *r;
	int rc;

	tw_record_new(&r, dev, ts, seq, 0, NULL);
	tw_record_set_number(r, key, v);
	rc = tw_history_append(h, &r, 1, NULL);
	tw_record_free(r);
	return rc;
}

static struct tw_history *open_rw(void)
{
	struct tw_history *h = NULL;
	char err[512];

	if (tw_history_open(dbpath, 0, &h, err, sizeof(err)) != TW_OK)
		fprintf(stderr, "open: %s\n", err);
	return h;
}

static void fill_known(void)
{
	struct tw_history *h = open_rw();
	struct tw_record *recs[N];

	if (!h)
		return;
	for (int i = 0; i < N; i++) {
		tw_record_new(&recs[i], "s-1", i * 1000LL, i, 0, NULL);
		tw_record_set_number(recs[i], "v", v_at(i));
	}
	TW_CHECK_INT(tw_history_append(h, recs, N, NULL), TW_OK);
	for (int i = 0; i < N; i++)
		tw_record_free(recs[i]);
	tw_history_close(h);
}

/* The aggregate of v over seconds [a, b), computed here without SQL. */
static double expect(enum tw_history_agg agg, int a, int b)
{
	double sum = 0, mn = INFINITY, mx = -INFINITY;

	for (int i = a; i < b; i++) {
		sum += v_at(i);
		mn = fmin(mn, v_at(i));
		mx = fmax(mx, v_at(i));
	}
	switch (agg) {
	case TW_HISTORY_AGG_AVG: return sum / (b - a);
	case TW_HISTORY_AGG_MIN: return mn;
	case TW_HISTORY_AGG_MAX: return mx;
	case TW_HISTORY_AGG_SUM: return sum;
	default: return b - a;
	}
}

static void test_aggregates_match(void)
{
	struct tw_history *h = NULL;
	char err[512];
	struct rows rs;

	TW_CHECK_INT(tw_history_open(dbpath, TW_HISTORY_READONLY, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	for (int agg = TW_HISTORY_AGG_AVG; agg <= TW_HISTORY_AGG_COUNT; agg++) {
		struct tw_history_query q = { .device = "s-1", .key = "v", .start = 0,
					      .end = N * 1000 - 1, .agg = agg, .interval = 60000 };

		TW_CHECK_INT(run(h, &q, &rs), TW_OK);
		TW_CHECK_INT(rs.n, 10);
		for (int b = 0; b < 10 && b < rs.n; b++) {
			TW_CHECK_INT(rs.ts[b], b * 60000LL);	/* the bucket's start */
			TW_CHECK_INT(rs.type[b], TW_VALUE_NUMBER);
			TW_CHECK_DBL(rs.num[b], expect(agg, b * 60, b * 60 + 60), 1e-9);
		}
	}
	tw_history_close(h);
}

static void test_buckets_edges(void)
{
	struct tw_history *h = NULL;
	struct tw_history_query q = { .device = "s-1", .key = "v", .start = 30000, .end = 125999,
				      .agg = TW_HISTORY_AGG_AVG, .interval = 60000 };
	char err[512];
	struct rows rs;

	TW_CHECK_INT(tw_history_open(dbpath, TW_HISTORY_READONLY, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	/* unaligned start, the last bucket cut at end: [30,90) [90,126] */
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 2);
	TW_CHECK_INT(rs.ts[0], 30000);
	TW_CHECK_INT(rs.ts[1], 90000);
	TW_CHECK_DBL(rs.num[0], expect(TW_HISTORY_AGG_AVG, 30, 90), 1e-9);
	TW_CHECK_DBL(rs.num[1], expect(TW_HISTORY_AGG_AVG, 90, 126), 1e-9);
	/* newest first, limited to 1 */
	q.descending = 1;
	q.limit = 1;
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_INT(rs.ts[0], 90000);
	/* no interval: one bucket over the range, at its start */
	q = (struct tw_history_query){ .device = "s-1", .key = "v", .start = 1000, .end = 599000,
				       .agg = TW_HISTORY_AGG_COUNT };
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_INT(rs.ts[0], 1000);
	TW_CHECK_DBL(rs.num[0], 599, 0);
	/* past the data: empty buckets give no rows */
	q = (struct tw_history_query){ .device = "s-1", .key = "v", .start = 550000,
				       .end = 900000, .agg = TW_HISTORY_AGG_MAX,
				       .interval = 100000 };
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_DBL(rs.num[0], expect(TW_HISTORY_AGG_MAX, 550, 600), 0);
	/* the cap: 10001 buckets are refused, 10000 are fine */
	q = (struct tw_history_query){ .device = "s-1", .key = "v", .start = 0, .end = 10000,
				       .agg = TW_HISTORY_AGG_SUM, .interval = 1 };
	TW_CHECK_INT(tw_history_buckets(&q), 10001);
	TW_CHECK_INT(run(h, &q, &rs), TW_ERR_LIMIT);
	q.end = 9999;
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 10);	/* one value every 1000 ms */
	/* ranges to the end of time do not overflow */
	q = (struct tw_history_query){ .device = "s-1", .key = "v", .start = 0, .end = INT64_MAX,
				       .agg = TW_HISTORY_AGG_COUNT, .interval = INT64_MAX / 2 };
	TW_CHECK_INT(tw_history_buckets(&q), 3);
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_DBL(rs.num[0], N, 0);
	q.interval = -1;
	TW_CHECK_INT(run(h, &q, &rs), TW_ERR_INVAL);
	tw_history_close(h);
}

static void test_raw_values(void)
{
	struct tw_history *h = NULL;
	struct tw_history_query q = { .device = "s-1", .key = "v", .start = 10000, .end = 14999,
				      .descending = 1 };
	char err[512];
	struct rows rs;

	TW_CHECK_INT(tw_history_open(dbpath, TW_HISTORY_READONLY, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 5);
	TW_CHECK_INT(rs.ts[0], 14000);
	TW_CHECK_DBL(rs.num[0], v_at(14), 0);
	TW_CHECK_INT(tw_history_device_exists(h, "s-1"), 1);
	TW_CHECK_INT(tw_history_device_exists(h, "s-2"), 0);
	tw_history_close(h);
}

/* Booleans count as 0/1 in AVG, MIN, MAX, SUM; strings only in COUNT. */
static void test_mixed_types(void)
{
	struct tw_history *h = open_rw();
	struct tw_history_query q = { .device = "m-1", .key = "x", .start = 0, .end = 29999,
				      .interval = 10000, .agg = TW_HISTORY_AGG_AVG };
	static const struct { int64_t ts; enum tw_value_type type; double num; const char *str; } in[] = {
		{ 0, TW_VALUE_BOOL, 1, NULL }, { 1000, TW_VALUE_BOOL, 0, NULL },
		{ 2000, TW_VALUE_BOOL, 1, NULL }, { 3000, TW_VALUE_NUMBER, 4, NULL },
		{ 14000, TW_VALUE_STRING, 0, "a" }, { 15000, TW_VALUE_STRING, 0, "b" },
	};
	struct tw_record *r;
	struct rows rs;

	if (!h)
		return;
	/* bucket 0: true, false, true, 4; bucket 1: "a", "b"; bucket 2: nothing */
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		tw_record_new(&r, "m-1", in[i].ts, -1, 0, NULL);
		if (in[i].type == TW_VALUE_BOOL)
			tw_record_set_bool(r, "x", in[i].num != 0);
		else if (in[i].type == TW_VALUE_NUMBER)
			tw_record_set_number(r, "x", in[i].num);
		else
			tw_record_set_string(r, "x", in[i].str);
		TW_CHECK_INT(tw_history_append(h, &r, 1, NULL), TW_OK);
		tw_record_free(r);
	}
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_DBL(rs.num[0], (1 + 0 + 1 + 4) / 4.0, 1e-12);
	q.agg = TW_HISTORY_AGG_MIN;
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_DBL(rs.num[0], 0, 0);
	q.agg = TW_HISTORY_AGG_COUNT;
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 2);
	TW_CHECK_DBL(rs.num[0], 4, 0);
	TW_CHECK_DBL(rs.num[1], 2, 0);
	TW_CHECK_INT(rs.ts[1], 10000);
	tw_history_close(h);
}

static void test_deadline(void)
{
	struct tw_history *h = NULL;
	struct tw_history_query q = { .device = "s-1", .key = "v", .start = 0, .end = 599999,
				      .agg = TW_HISTORY_AGG_AVG, .interval = 1000 };
	char err[512];
	struct rows rs;

	TW_CHECK_INT(tw_history_open(dbpath, TW_HISTORY_READONLY, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	tw_history_set_deadline(h, tw_mono_ms() - 1);
	TW_CHECK_INT(run(h, &q, &rs), TW_ERR_LIMIT);
	q.agg = TW_HISTORY_AGG_NONE;
	TW_CHECK_INT(run(h, &q, &rs), TW_ERR_LIMIT);
	tw_history_set_deadline(h, 0);
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_INT(rs.n, N);
	tw_history_set_deadline(h, tw_mono_ms() + 60000);
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_INT(rs.n, N);
	tw_history_close(h);
}

static int add_name(void *ctx, const char *name)
{
	char *list = ctx;
	size_t n = strlen(list);

	snprintf(list + n, 256 - n, "%s;", name);
	return 0;
}

/* Three devices: r-old has only old rows, r-mix both, s-1 (the known
 * sequence) only rows before the cutoff too. */
static void test_retention(void)
{
	struct tw_history *h = open_rw();
	struct tw_history_retain r = { .before = 300000, .batch = 7 };
	struct tw_history_query q = { .device = "r-mix", .key = "k", .start = 0, .end = INT64_MAX,
				      .agg = TW_HISTORY_AGG_COUNT };
	struct tw_record *rec;
	char list[256] = "";
	struct rows rs;
	int rc, steps = 0;
	int64_t left = -1;

	if (!h)
		return;
	for (int i = 0; i < 20; i++) {
		TW_CHECK_INT(put(h, "r-old", 1000 + i, i, "k", i), TW_OK);
		TW_CHECK_INT(put(h, "r-mix", 290000 + i * 1000, i, "k", i), TW_OK);
	}
	TW_CHECK_INT(tw_history_vacuum_enabled(h), 1);
	tw_history_close(h);
	/* opened as the CLI's retain does: an existing file, read-write */
	{
		char err[512], missing[300];

		snprintf(missing, sizeof(missing), "%s/missing.db", tmpdir);
		TW_CHECK_INT(tw_history_open(missing, TW_HISTORY_NOCREATE, &h, err, sizeof(err)),
			     TW_ERR_DB);
		TW_CHECK(access(missing, F_OK) != 0);
		{
			sqlite3 *other;	/* some other SQLite file: retain must not touch it */

			TW_CHECK_INT(sqlite3_open(missing, &other), SQLITE_OK);
			sqlite3_exec(other, "CREATE TABLE t(x)", NULL, NULL, NULL);
			sqlite3_close(other);
			TW_CHECK_INT(tw_history_open(missing, TW_HISTORY_NOCREATE, &h, err,
						     sizeof(err)), TW_ERR_DB);
			TW_CHECK(strstr(err, "not a telewire history database") != NULL);
		}
		TW_CHECK_INT(tw_history_open(dbpath, TW_HISTORY_NOCREATE, &h, err, sizeof(err)),
			     TW_OK);
	}
	if (!h)
		return;
	do {
		rc = tw_history_retain_step(h, &r);
		steps++;
	} while (rc == TW_ERR_AGAIN && steps < 10000);
	TW_CHECK_INT(rc, TW_OK);
	TW_CHECK(steps > 10);	/* small batches: many transactions */
	/* s-1: 300 of 600; r-old: 20; r-mix: the 10 before 300000; m-1: 6 */
	TW_CHECK_INT(r.samples, 300 + 20 + 10 + 6);
	TW_CHECK_INT(r.seen, 300 + 20 + 10);
	TW_CHECK_INT(r.devices, 2);	/* r-old and m-1 have nothing left */
	TW_CHECK_INT(tw_history_retain_step(h, &r), TW_OK);	/* done stays done */
	TW_CHECK_INT(run(h, &q, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_DBL(rs.num[0], 10, 0);
	TW_CHECK_INT(tw_history_devices(h, add_name, list), TW_OK);
	TW_CHECK_STR(list, "r-mix;s-1;");
	/* seen marks went with the rows: an old seq is new again */
	tw_record_new(&rec, "r-mix", 290000, 0, 0, NULL);
	TW_CHECK_INT(tw_history_begin(h), TW_OK);
	TW_CHECK_INT(tw_history_seen(h, rec), TW_OK);
	tw_history_rollback(h);
	tw_record_free(rec);
	TW_CHECK_INT(tw_history_vacuum_step(h, 1000000, &left), TW_OK);
	TW_CHECK_INT(left, 0);
	tw_history_close(h);
}

static void test_schema_version(void)
{
	struct tw_history *h = NULL;
	char err[512] = "", want[128];
	sqlite3 *db;

	TW_CHECK_INT(sqlite3_open(dbpath, &db), SQLITE_OK);
	TW_CHECK_INT(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	TW_CHECK_INT(tw_history_open(dbpath, TW_HISTORY_READONLY, &h, err, sizeof(err)), TW_ERR_DB);
	snprintf(want, sizeof(want), "schema version 99 is newer than this build's (%d)",
		 TW_HISTORY_SCHEMA_VERSION);
	TW_CHECK(strstr(err, want) != NULL);
	TW_CHECK_INT(tw_history_open(dbpath, 0, &h, err, sizeof(err)), TW_ERR_DB);
	TW_CHECK(h == NULL);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/history.db", tmpdir);
	fill_known();
	TW_RUN(test_aggregates_match);
	TW_RUN(test_buckets_edges);
	TW_RUN(test_raw_values);
	TW_RUN(test_mixed_types);
	TW_RUN(test_deadline);
	TW_RUN(test_retention);
	TW_RUN(test_schema_version);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return TW_TEST_END();
}
