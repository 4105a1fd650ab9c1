/* test_history_params.c -- the GET /api/history parameter parser: defaults, every bad parameter, caps */
#include <stdio.h>
#include <string.h>

#include "telewire/error.h"
#include "telewire/history.h"
#include "tw_test.h"

/* "name=value" pairs, already URL-decoded, NULL-terminated. */
static const char *lookup(void *ctx, const char *name)
{
	const char *const *kv = ctx;
	size_t n = strlen(name);

	for (; *kv; kv++)
		if (strncmp(*kv, name, n) == 0 && (*kv)[n] == '=')
			return *kv + n + 1;
	return NULL;
}

static struct tw_history_params p;
static char err[400];

static int parse(const char *const *kv)
{
	err[0] = '\0';
	return tw_history_params_parse(lookup, (void *)kv, &p, err, sizeof(err));
}

/* One bad request: the return code and the exact message. */
#define BAD(rc, msg, ...) do { \
	const char *kv_[] = { __VA_ARGS__, NULL }; \
	TW_CHECK_INT(parse(kv_), rc); \
	TW_CHECK_STR(err, msg); \
} while (0)

#define GOOD "device=temp-1", "keys=temp"

static void test_defaults(void)
{
	const char *kv[] = { "device=veh-0001", "keys=speed,lat,lon", "startTs=1000",
			     "endTs=2000", "useStrictDataTypes=true", NULL };
	struct tw_history_query q;

	TW_CHECK_INT(parse(kv), TW_OK);
	TW_CHECK_STR(p.device, "veh-0001");
	TW_CHECK_INT(p.nkeys, 3);
	TW_CHECK_STR(p.keys[0], "speed");
	TW_CHECK_STR(p.keys[2], "lon");
	TW_CHECK_INT(p.start_ts, 1000);
	TW_CHECK_INT(p.end_ts, 2000);
	TW_CHECK_INT(p.agg, TW_HISTORY_AGG_NONE);
	TW_CHECK_INT(p.interval, 0);
	TW_CHECK_INT(p.limit, TW_HISTORY_DEFAULT_LIMIT);	/* ThingsBoard's 100 */
	TW_CHECK_INT(p.descending, 1);				/* ThingsBoard's DESC */
	tw_history_params_query(&p, 1, &q);
	TW_CHECK_STR(q.key, "lat");
	TW_CHECK_INT(q.start, 1000);
	TW_CHECK_INT(q.end, 1999);				/* endTs is exclusive */
	TW_CHECK_INT(q.agg, TW_HISTORY_AGG_NONE);
}

static void test_aggregates(void)
{
	const char *kv[] = { GOOD, "startTs=0", "endTs=86400000", "interval=60000", "agg=avg",
			     "orderBy=asc", NULL };
	const char *kv2[] = { GOOD, "startTs=0", "endTs=100", "agg=COUNT", "limit=7", NULL };
	const char *none[] = { GOOD, "startTs=0", "endTs=100", "interval=1", "agg=NONE", NULL };
	const char *cap[] = { GOOD, "startTs=0", "endTs=600000000", "interval=60000", "agg=MAX",
			      NULL };
	struct tw_history_query q;

	TW_CHECK_INT(parse(kv), TW_OK);
	TW_CHECK_INT(p.agg, TW_HISTORY_AGG_AVG);
	TW_CHECK_INT(p.interval, 60000);
	TW_CHECK_INT(p.descending, 0);
	TW_CHECK_INT(p.limit, TW_HISTORY_MAX_BUCKETS);	/* aggregates: every bucket */
	tw_history_params_query(&p, 0, &q);
	TW_CHECK_INT(tw_history_buckets(&q), 1440);
	TW_CHECK_INT(parse(kv2), TW_OK);
	TW_CHECK_INT(p.agg, TW_HISTORY_AGG_COUNT);
	TW_CHECK_INT(p.limit, 7);
	tw_history_params_query(&p, 0, &q);
	TW_CHECK_INT(q.interval, 0);
	TW_CHECK_INT(tw_history_buckets(&q), 1);
	/* interval is ignored without an aggregation, so no cap applies */
	TW_CHECK_INT(parse(none), TW_OK);
	tw_history_params_query(&p, 0, &q);
	TW_CHECK_INT(q.interval, 0);
	/* exactly at the cap: 10000 intervals */
	TW_CHECK_INT(parse(cap), TW_OK);
	TW_CHECK_INT(p.agg, TW_HISTORY_AGG_MAX);
}

static void test_bad_device_and_keys(void)
{
	char longdev[200], longkey[200], many[400];

	BAD(TW_ERR_INVAL, "device is required (a device id).", "keys=temp", "startTs=0",
	    "endTs=1");
	BAD(TW_ERR_INVAL, "device is required (a device id).", "device=", "keys=temp",
	    "startTs=0", "endTs=1");
	memset(longdev, 'd', sizeof(longdev));
	memcpy(longdev, "device=", 7);
	longdev[7 + 129] = '\0';
	BAD(TW_ERR_INVAL, "device must be 1 to 128 bytes, got 129.", longdev, "keys=t",
	    "startTs=0", "endTs=1");
	BAD(TW_ERR_INVAL, "device must be UTF-8 text without control characters.",
	    "device=a\x01", "keys=t", "startTs=0", "endTs=1");
	BAD(TW_ERR_INVAL, "device must be UTF-8 text without control characters.",
	    "device=a\xff", "keys=t", "startTs=0", "endTs=1");
	BAD(TW_ERR_INVAL, "device must be UTF-8 text without control characters.",
	    "device=\xed\xa0\x80", "keys=t", "startTs=0", "endTs=1");	/* a surrogate */
	BAD(TW_ERR_INVAL, "keys is required (comma-separated keys, e.g. keys=temp,hum).",
	    "device=d", "startTs=0", "endTs=1");
	BAD(TW_ERR_INVAL, "keys is required (comma-separated keys, e.g. keys=temp,hum).",
	    "device=d", "keys=", "startTs=0", "endTs=1");
	BAD(TW_ERR_INVAL, "keys: key 2 is empty.", "device=d", "keys=a,,b", "startTs=0",
	    "endTs=1");
	BAD(TW_ERR_INVAL, "keys: key 2 is empty.", "device=d", "keys=a,", "startTs=0",
	    "endTs=1");
	BAD(TW_ERR_INVAL, "keys: key 1 is empty.", "device=d", "keys=,a", "startTs=0",
	    "endTs=1");
	BAD(TW_ERR_INVAL, "keys: \"a\" is listed twice.", "device=d", "keys=a,b,a",
	    "startTs=0", "endTs=1");
	BAD(TW_ERR_INVAL, "keys: key 1 is not UTF-8 text without control characters.",
	    "device=d", "keys=\t", "startTs=0", "endTs=1");
	memset(longkey, 'k', sizeof(longkey));
	memcpy(longkey, "keys=a,", 7);
	longkey[7 + 129] = '\0';
	BAD(TW_ERR_INVAL, "keys: key 2 is 129 bytes long, more than 128.", "device=d", longkey,
	    "startTs=0", "endTs=1");
	snprintf(many, sizeof(many), "keys=k0");
	for (int i = 1; i <= TW_HISTORY_MAX_KEYS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), ",k%d", i);
	BAD(TW_ERR_LIMIT, "keys: at most 16 keys per query.", "device=d", many, "startTs=0",
	    "endTs=1");
}

static void test_bad_range(void)
{
	BAD(TW_ERR_INVAL, "startTs is required (milliseconds since the epoch).", GOOD,
	    "endTs=1");
	BAD(TW_ERR_INVAL, "endTs is required (milliseconds since the epoch).", GOOD,
	    "startTs=1");
	BAD(TW_ERR_INVAL, "startTs must be a whole number of milliseconds since the epoch "
	    "(0 to 9200000000000000000), got \"-1\".", GOOD, "startTs=-1", "endTs=1");
	BAD(TW_ERR_INVAL, "startTs must be a whole number of milliseconds since the epoch "
	    "(0 to 9200000000000000000), got \"1.5\".", GOOD, "startTs=1.5", "endTs=2");
	BAD(TW_ERR_INVAL, "startTs must be a whole number of milliseconds since the epoch "
	    "(0 to 9200000000000000000), got \"1e3\".", GOOD, "startTs=1e3", "endTs=2");
	BAD(TW_ERR_INVAL, "startTs must be a whole number of milliseconds since the epoch "
	    "(0 to 9200000000000000000), got \"\".", GOOD, "startTs=", "endTs=2");
	BAD(TW_ERR_INVAL, "startTs must be a whole number of milliseconds since the epoch "
	    "(0 to 9200000000000000000), got \" 5\".", GOOD, "startTs= 5", "endTs=2");
	BAD(TW_ERR_INVAL, "endTs must be a whole number of milliseconds since the epoch "
	    "(0 to 9200000000000000000), got \"99999999999999999999\".", GOOD, "startTs=1",
	    "endTs=99999999999999999999");
	BAD(TW_ERR_INVAL, "endTs must be a whole number of milliseconds since the epoch "
	    "(0 to 9200000000000000000), got \"9200000000000000001\".", GOOD, "startTs=1",
	    "endTs=9200000000000000001");
	BAD(TW_ERR_INVAL, "endTs must be a whole number of milliseconds since the epoch "
	    "(0 to 9200000000000000000), got \"abcdefghijklmnopqrstuvwxyzabcdefghijklmn...\".",
	    GOOD, "startTs=1", "endTs=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
	BAD(TW_ERR_INVAL, "endTs (5) must be greater than startTs (5): the range is "
	    "[startTs, endTs).", GOOD, "startTs=5", "endTs=5");
	BAD(TW_ERR_INVAL, "endTs (4) must be greater than startTs (5): the range is "
	    "[startTs, endTs).", GOOD, "startTs=5", "endTs=4");
}

static void test_bad_aggregation(void)
{
	BAD(TW_ERR_INVAL, "agg must be NONE, AVG, MIN, MAX, SUM or COUNT, got \"MEAN\".", GOOD,
	    "startTs=0", "endTs=10", "agg=MEAN");
	BAD(TW_ERR_INVAL, "agg must be NONE, AVG, MIN, MAX, SUM or COUNT, got \"\".", GOOD,
	    "startTs=0", "endTs=10", "agg=");
	BAD(TW_ERR_INVAL, "interval must be a positive integer number of milliseconds, got \"0\".",
	    GOOD, "startTs=0", "endTs=10", "agg=AVG", "interval=0");
	BAD(TW_ERR_INVAL, "interval must be a positive integer number of milliseconds, got "
	    "\"-60000\".", GOOD, "startTs=0", "endTs=10", "agg=AVG", "interval=-60000");
	BAD(TW_ERR_INVAL, "interval must be a positive integer number of milliseconds, got "
	    "\"1m\".", GOOD, "startTs=0", "endTs=10", "agg=AVG", "interval=1m");
	BAD(TW_ERR_INVAL, "interval must be a positive integer number of milliseconds, got "
	    "\"0.5\".", GOOD, "startTs=0", "endTs=10", "agg=NONE", "interval=0.5");
	BAD(TW_ERR_LIMIT, "interval: (endTs - startTs) / interval is 10001 intervals, more than "
	    "the cap of 10000 per query; use a longer interval or a shorter range.", GOOD,
	    "startTs=0", "endTs=600000001", "agg=SUM", "interval=60000");
	BAD(TW_ERR_LIMIT, "interval: (endTs - startTs) / interval is 9200000000000000000 "
	    "intervals, more than the cap of 10000 per query; use a longer interval or a "
	    "shorter range.", GOOD, "startTs=0", "endTs=9200000000000000000", "agg=MIN",
	    "interval=1");
}

static void test_bad_limit_and_order(void)
{
	BAD(TW_ERR_INVAL, "limit must be a whole number from 1 to 50000, got \"0\".", GOOD,
	    "startTs=0", "endTs=10", "limit=0");
	BAD(TW_ERR_LIMIT, "limit must be a whole number from 1 to 50000, got \"50001\".", GOOD,
	    "startTs=0", "endTs=10", "limit=50001");
	BAD(TW_ERR_INVAL, "limit must be a whole number from 1 to 50000, got \"ten\".", GOOD,
	    "startTs=0", "endTs=10", "limit=ten");
	BAD(TW_ERR_INVAL, "orderBy must be ASC or DESC, got \"up\".", GOOD, "startTs=0",
	    "endTs=10", "orderBy=up");
	BAD(TW_ERR_INVAL, "orderBy must be ASC or DESC, got \"\".", GOOD, "startTs=0",
	    "endTs=10", "orderBy=");
	/* what is echoed is printable ASCII, so that the message is valid JSON */
	BAD(TW_ERR_INVAL, "orderBy must be ASC or DESC, got \"????x\".", GOOD, "startTs=0",
	    "endTs=10", "orderBy=\xff\t\xc3\xa9x");
}

static void test_agg_names(void)
{
	enum tw_history_agg a;

	TW_CHECK_INT(tw_history_agg_parse("count", &a), TW_OK);
	TW_CHECK_INT(a, TW_HISTORY_AGG_COUNT);
	TW_CHECK_STR(tw_history_agg_name(TW_HISTORY_AGG_SUM), "SUM");
	TW_CHECK_INT(tw_history_agg_parse("AVERAGE", &a), TW_ERR_INVAL);
	TW_CHECK_INT(tw_history_agg_parse(NULL, &a), TW_ERR_INVAL);
}

int main(void)
{
	TW_RUN(test_defaults);
	TW_RUN(test_aggregates);
	TW_RUN(test_bad_device_and_keys);
	TW_RUN(test_bad_range);
	TW_RUN(test_bad_aggregation);
	TW_RUN(test_bad_limit_and_order);
	TW_RUN(test_agg_names);
	return TW_TEST_END();
}
