/* test_history_store.c -- the SQLite store on a real file: append, duplicates, queries, reopen */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telewire/error.h"
#include "telewire/history.h"
#include "tw_test.h"

static char tmpdir[] = "/tmp/tw-test-history-XXXXXX";
static char dbpath[256];

static struct tw_record *rec(const char *device, int64_t ts, int64_t seq, double temp)
{
	struct tw_record *r;

	tw_record_new(&r, device, ts, seq, 0, NULL);
	tw_record_set_number(r, "temp", temp);
	return r;
}

struct rows {
	int n;
	int64_t ts[64];
	double num[64];
	char str[64][32];
	int type[64];
};

static int collect(void *ctx, const struct tw_history_row *row)
{
	struct rows *rs = ctx;

	if (rs->n < 64) {
		rs->ts[rs->n] = row->ts;
		rs->num[rs->n] = row->type == TW_VALUE_BOOL ? row->b : row->num;
		rs->type[rs->n] = row->type;
		snprintf(rs->str[rs->n], sizeof(rs->str[0]), "%s",
			 row->type == TW_VALUE_STRING ? row->str : "");
	}
	rs->n++;
	return 0;
}

static int query(struct tw_history *h, const char *dev, const char *key, int64_t start,
		 int64_t end, size_t limit, int desc, struct rows *rs)
{
	struct tw_history_query q = { .device = dev, .key = key, .start = start, .end = end,
				      .limit = limit, .descending = desc };

	memset(rs, 0, sizeof(*rs));
	return tw_history_query(h, &q, collect, rs);
}

static void test_append_and_duplicates(void)
{
	struct tw_history *h = NULL;
	struct tw_record *recs[3];
	unsigned char dup[3] = { 9, 9, 9 };
	char err[512];
	struct rows rs;

	TW_CHECK_INT(tw_history_open(dbpath, 0, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	recs[0] = rec("temp-1", 1000, 1, 20.5);
	recs[1] = rec("temp-1", 2000, 2, 21.0);
	recs[2] = rec("temp-1", 1000, 1, 20.5); /* a redelivery inside one message */
	TW_CHECK_INT(tw_history_append(h, recs, 3, dup), TW_OK);
	TW_CHECK_INT(dup[0], 0);
	TW_CHECK_INT(dup[1], 0);
	TW_CHECK_INT(dup[2], 1);
	/* the same message again: all duplicates, nothing written */
	TW_CHECK_INT(tw_history_append(h, recs, 2, dup), TW_OK);
	TW_CHECK_INT(dup[0] + dup[1], 2);
	TW_CHECK_INT(query(h, "temp-1", "temp", 0, 10000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 2);
	TW_CHECK_INT(rs.ts[0], 1000);
	TW_CHECK_DBL(rs.num[1], 21.0, 0);
	for (int i = 0; i < 3; i++)
		tw_record_free(recs[i]);
	tw_history_close(h);
}

static void test_seq_rules(void)
{
	struct tw_history *h = NULL;
	struct tw_record *r;
	char err[512];

	TW_CHECK_INT(tw_history_open(dbpath, 0, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	TW_CHECK_INT(tw_history_begin(h), TW_OK);
	/* seq 1 again with another device ts: the device restarted its counter */
	r = rec("temp-1", 5000, 1, 30);
	TW_CHECK_INT(tw_history_seen(h, r), TW_OK);
	TW_CHECK_INT(tw_history_seen(h, r), TW_ERR_EXISTS);
	tw_record_free(r);
	/* without a device ts only seq counts */
	tw_record_new(&r, "temp-2", 7000, 9, TW_RECORD_TS_RECEIVED, NULL);
	TW_CHECK_INT(tw_history_seen(h, r), TW_OK);
	tw_record_free(r);
	tw_record_new(&r, "temp-2", 8000, 9, TW_RECORD_TS_RECEIVED, NULL);
	TW_CHECK_INT(tw_history_seen(h, r), TW_ERR_EXISTS);
	tw_record_free(r);
	/* no seq: never a duplicate */
	r = rec("temp-2", 7000, -1, 1);
	TW_CHECK_INT(tw_history_seen(h, r), TW_OK);
	TW_CHECK_INT(tw_history_seen(h, r), TW_OK);
	tw_record_free(r);
	TW_CHECK_INT(tw_history_commit(h), TW_OK);
	tw_history_close(h);
}

static void test_types_and_replace(void)
{
	struct tw_history *h = NULL;
	struct tw_record *r;
	char err[512];
	struct rows rs;

	TW_CHECK_INT(tw_history_open(dbpath, 0, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	tw_record_new(&r, "veh-1", 100, -1, 0, NULL);
	tw_record_set_bool(r, "door", 1);
	tw_record_set_string(r, "state", "parked");
	TW_CHECK_INT(tw_history_append(h, &r, 1, NULL), TW_OK);
	tw_record_set_string(r, "state", "moving"); /* same device, key, ts: replaced */
	TW_CHECK_INT(tw_history_append(h, &r, 1, NULL), TW_OK);
	tw_record_free(r);
	TW_CHECK_INT(query(h, "veh-1", "door", 0, 1000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_INT(rs.type[0], TW_VALUE_BOOL);
	TW_CHECK_DBL(rs.num[0], 1, 0);
	TW_CHECK_INT(query(h, "veh-1", "state", 0, 1000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_INT(rs.type[0], TW_VALUE_STRING);
	TW_CHECK_STR(rs.str[0], "moving");
	tw_history_close(h);
}

static int count_name(void *ctx, const char *name)
{
	char *list = ctx;

	strncat(list, name, 255 - strlen(list));
	strncat(list, ";", 255 - strlen(list));
	return 0;
}

/* Two messages of one device at one ts: one point, each key's last value. */
static void test_same_ts_merges(void)
{
	struct tw_history *h = NULL;
	struct tw_record *a, *b;
	char err[512], keys[256] = "";
	struct rows rs;

	TW_CHECK_INT(tw_history_open(dbpath, 0, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	tw_record_new(&a, "merge-1", 500, -1, 0, NULL);
	tw_record_set_number(a, "speed", 10);
	tw_record_set_number(a, "temp", 20);
	tw_record_set_string(a, "state", "parked");
	tw_record_new(&b, "merge-1", 500, -1, 0, NULL);
	tw_record_set_number(b, "temp", 21.5);	/* replaces a's */
	tw_record_set_bool(b, "door", 0);	/* a key a did not have */
	TW_CHECK_INT(tw_history_append(h, &a, 1, NULL), TW_OK);
	TW_CHECK_INT(tw_history_append(h, &b, 1, NULL), TW_OK);
	tw_record_free(a);
	tw_record_free(b);
	TW_CHECK_INT(query(h, "merge-1", "speed", 0, 1000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_DBL(rs.num[0], 10, 0);
	TW_CHECK_INT(query(h, "merge-1", "temp", 0, 1000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_DBL(rs.num[0], 21.5, 0);
	TW_CHECK_INT(query(h, "merge-1", "state", 0, 1000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_STR(rs.str[0], "parked");
	TW_CHECK_INT(query(h, "merge-1", "door", 0, 1000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_INT(rs.type[0], TW_VALUE_BOOL);
	TW_CHECK_DBL(rs.num[0], 0, 0);
	/* a key the device never sent has no rows */
	TW_CHECK_INT(query(h, "merge-1", "rpm", 0, 1000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 0);
	TW_CHECK_INT(tw_history_keys(h, "merge-1", count_name, keys), TW_OK);
	TW_CHECK_STR(keys, "door;speed;state;temp;");
	tw_history_close(h);
}

/* One ts sent again and again with new keys: the point stops growing at
 * 1 MiB, the later record replacing it whole, counted. */
static void test_point_bound(void)
{
	struct tw_record_limits rl = { 64, 4000 };
	struct tw_history *h = NULL;
	struct tw_record *r;
	char err[512], key[32], big[4001];
	int replaced_at = -1;
	struct rows rs;

	TW_CHECK_INT(tw_history_open(dbpath, 0, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	memset(big, 'x', 4000);
	big[4000] = '\0';
	/* 60 strings of 4,000 bytes a record: 240 KB; the fifth passes 1 MiB */
	for (int m = 0; m < 6; m++) {
		tw_record_new(&r, "grow-1", 700, -1, 0, &rl);
		for (int k = 0; k < 60; k++) {
			snprintf(key, sizeof(key), "m%dk%d", m, k);
			tw_record_set_string(r, key, big);
		}
		TW_CHECK_INT(tw_history_append(h, &r, 1, NULL), TW_OK);
		tw_record_free(r);
		if (replaced_at < 0 && tw_history_points_replaced(h) > 0)
			replaced_at = m;
	}
	TW_CHECK_INT(replaced_at, 4);
	TW_CHECK_INT((int)tw_history_points_replaced(h), 1);
	TW_CHECK_INT(query(h, "grow-1", "m0k0", 0, 1000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 0);	/* gone with the replaced point */
	TW_CHECK_INT(query(h, "grow-1", "m3k59", 0, 1000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 0);
	/* the fifth record's values, and the sixth's merged with them */
	TW_CHECK_INT(query(h, "grow-1", "m4k0", 0, 1000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	TW_CHECK_INT(query(h, "grow-1", "m5k59", 0, 1000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 1);
	tw_history_close(h);
}

static void test_query_range_order_limit_reopen(void)
{
	struct tw_history *h = NULL;
	struct tw_record *r;
	char err[512], list[256] = "";
	struct rows rs;

	TW_CHECK_INT(tw_history_open(dbpath, 0, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	for (int i = 0; i < 10; i++) {
		r = rec("temp-9", 10000 + i * 1000, 100 + i, i);
		TW_CHECK_INT(tw_history_append(h, &r, 1, NULL), TW_OK);
		tw_record_free(r);
	}
	tw_history_close(h);
	/* reopened read-only, as the CLI does */
	TW_CHECK_INT(tw_history_open(dbpath, TW_HISTORY_READONLY, &h, err, sizeof(err)), TW_OK);
	if (!h)
		return;
	TW_CHECK_INT(query(h, "temp-9", "temp", 12000, 15000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 4); /* both ends inclusive */
	TW_CHECK_INT(rs.ts[0], 12000);
	TW_CHECK_INT(rs.ts[3], 15000);
	TW_CHECK_INT(query(h, "temp-9", "temp", 0, 100000, 3, 1, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 3);
	TW_CHECK_INT(rs.ts[0], 19000);
	TW_CHECK_INT(rs.ts[2], 17000);
	TW_CHECK_INT(query(h, "temp-9", "nokey", 0, 100000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 0);
	TW_CHECK_INT(query(h, "nodev", "temp", 0, 100000, 0, 0, &rs), TW_OK);
	TW_CHECK_INT(rs.n, 0);
	TW_CHECK_INT(query(h, "temp-9", "temp", 5, 4, 0, 0, &rs), TW_ERR_INVAL);
	TW_CHECK_INT(tw_history_devices(h, count_name, list), TW_OK);
	TW_CHECK_STR(list, "grow-1;merge-1;temp-1;temp-2;temp-9;veh-1;");
	list[0] = '\0';
	TW_CHECK_INT(tw_history_keys(h, "veh-1", count_name, list), TW_OK);
	TW_CHECK_STR(list, "door;state;");
	tw_history_close(h);
}

static void test_open_errors(void)
{
	struct tw_history *h = (struct tw_history *)1;
	char err[512] = "", path[300];

	snprintf(path, sizeof(path), "%s/missing.db", tmpdir);
	TW_CHECK_INT(tw_history_open(path, TW_HISTORY_READONLY, &h, err, sizeof(err)), TW_ERR_DB);
	TW_CHECK(h == NULL);
	TW_CHECK(strstr(err, path) != NULL);
	TW_CHECK_INT(tw_history_open("/nonexistent-dir/x.db", 0, &h, err, sizeof(err)), TW_ERR_DB);
	TW_CHECK(strstr(err, "cannot open") != NULL);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/history.db", tmpdir);
	TW_RUN(test_append_and_duplicates);
	TW_RUN(test_seq_rules);
	TW_RUN(test_types_and_replace);
	TW_RUN(test_same_ts_merges);
	TW_RUN(test_point_bound);
	TW_RUN(test_query_range_order_limit_reopen);
	TW_RUN(test_open_errors);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return TW_TEST_END();
}
