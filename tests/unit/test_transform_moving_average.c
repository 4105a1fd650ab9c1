/* test_transform_moving_average.c -- moving_average: time windows, both windows at once, device eviction */
#include "tw_transform_test.h"

struct ma_step {
	int64_t ts;
	double v, want;
};

/* Feeds steps to t as one device and checks the mean after each. */
static void ma_feed(struct tw_transform *t, const char *device, const struct ma_step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct tw_record *r = tt_rec(device, s[i].ts, "v", s[i].v);

		TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
		TW_CHECK_DBL(tt_num(r, "v_avg"), s[i].want, 1e-9);
		if (tt_num(r, "v_avg") - s[i].want > 1e-9 || s[i].want - tt_num(r, "v_avg") > 1e-9)
			fprintf(stderr, "  at step %zu (ts %lld)\n", i, (long long)s[i].ts);
		tw_record_free(r);
	}
}

static void test_time_window_edges(void)
{
	const struct tw_option opts[] = { { "key", "v" }, { "window_ms", "1000" } };
	struct tw_transform *t = tt_open("moving_average", opts, 2);
	/* A value counts while it is less than 1000 ms older than the record. */
	const struct ma_step s[] = {
		{ 0, 1, 1 }, { 500, 3, 2 }, { 999, 5, 3 },
		{ 1000, 7, 5 },		/* ts 0 is exactly 1000 ms old: out */
		{ 1999, 9, 8 },		/* 999 out: 1000 and 1999 */
		{ 2000, 11, 10 },	/* 1000 out: 1999 and 2000 */
		{ 5000, 2, 2 },		/* a gap empties the window */
	};

	if (!t)
		return;
	ma_feed(t, "d", s, sizeof(s) / sizeof(s[0]));
	tw_transform_close(t);
}

static void test_time_window_out_of_order(void)
{
	const struct tw_option opts[] = { { "key", "v" }, { "window_ms", "1000" } };
	struct tw_transform *t = tt_open("moving_average", opts, 2);
	/* The mean is as of the record's own ts: newer values do not count. */
	const struct ma_step s[] = {
		{ 1000, 10, 10 }, { 500, 2, 2 }, { 1100, 4, 16.0 / 3 },
		{ 1600, 6, 20.0 / 3 },	/* 500 is 1100 ms old by now */
	};

	if (!t)
		return;
	ma_feed(t, "d", s, sizeof(s) / sizeof(s[0]));
	tw_transform_close(t);
}

static void test_count_and_time_window(void)
{
	const struct tw_option opts[] = { { "key", "v" }, { "window", "2" },
					  { "window_ms", "1000" } };
	struct tw_transform *t = tt_open("moving_average", opts, 3);
	const struct ma_step s[] = {
		{ 0, 1, 1 }, { 100, 3, 2 }, { 200, 5, 4 },	/* the last 2 */
		{ 1199, 7, 6 },					/* 200: 999 ms old */
		{ 1200, 9, 8 },					/* the last 2 again */
		{ 2199, 1, 5 },					/* 1200: 999 ms old */
		{ 3199, 3, 3 },					/* 2199: 1000 ms old */
	};

	if (!t)
		return;
	ma_feed(t, "d", s, sizeof(s) / sizeof(s[0]));
	tw_transform_close(t);
}

static void test_time_window_keeps_at_most_window(void)
{
	const struct tw_option opts[] = { { "key", "v" }, { "window_ms", "100000000" } };
	struct tw_transform *t = tt_open("moving_average", opts, 2);
	struct tw_record *r = NULL;

	if (!t)
		return;
	/* window defaults to 1000 with window_ms: values 500..1499 remain */
	for (int i = 0; i < 1500; i++) {
		tw_record_free(r);
		r = tt_rec("d", i, "v", i);
		TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
	}
	TW_CHECK_DBL(tt_num(r, "v_avg"), 999.5, 1e-9);
	tw_record_free(r);
	tw_transform_close(t);
}

/* Sends one value for device and returns the mean. */
static double ma_one(struct tw_transform *t, const char *device, double v)
{
	struct tw_record *r = tt_rec(device, 0, "v", v);
	double got;

	TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
	got = tt_num(r, "v_avg");
	tw_record_free(r);
	return got;
}

static void test_least_recently_seen_device_is_forgotten(void)
{
	const struct tw_option opts[] = { { "key", "v" }, { "max_devices", "2" } };
	struct tw_transform *t = tt_open("moving_average", opts, 2);

	if (!t)
		return;
	TW_CHECK_DBL(ma_one(t, "d1", 10), 10, 0);
	TW_CHECK_DBL(ma_one(t, "d2", 20), 20, 0);
	TW_CHECK_DBL(ma_one(t, "d1", 30), 20, 0);	/* d1 is now the most recent */
	TW_CHECK_DBL(ma_one(t, "d3", 1), 1, 0);		/* d2 is forgotten */
	TW_CHECK_DBL(ma_one(t, "d1", 50), 30, 0);	/* d1 kept: (10+30+50)/3 */
	TW_CHECK_DBL(ma_one(t, "d2", 40), 40, 0);	/* d2 starts afresh, d3 goes */
	TW_CHECK_DBL(ma_one(t, "d3", 3), 3, 0);
	tw_transform_close(t);
}

static void test_many_devices(void)
{
	const struct tw_option opts[] = { { "key", "v" }, { "window", "2" } };
	struct tw_transform *t = tt_open("moving_average", opts, 2);
	char dev[32];

	if (!t)
		return;
	/* enough devices to grow the table several times; each keeps its own */
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 5000; i++) {
			snprintf(dev, sizeof(dev), "dev-%d", i);
			TW_CHECK_DBL(ma_one(t, dev, round ? i + 2 : i), round ? i + 1 : i, 0);
		}
	tw_transform_close(t);
}

static void test_bad_options(void)
{
	const struct tw_option ms0[] = { { "key", "a" }, { "window_ms", "0" } };
	const struct tw_option msx[] = { { "key", "a" }, { "window_ms", "1s" } };
	const struct tw_option msneg[] = { { "key", "a" }, { "window_ms", "-5" } };
	const struct tw_option w[] = { { "key", "a" }, { "window_ms", "10" }, { "window", "0" } };
	const struct tw_option dev[] = { { "key", "a" }, { "max_devices", "0" } };
	const struct tw_option nokey[] = { { "window", "3" } };

	tt_init_error("moving_average", ms0, 2, "option 'window_ms': expected a whole number of "
		      "milliseconds 1..31536000000, got \"0\"");
	tt_init_error("moving_average", msx, 2, "option 'window_ms': expected a whole number of "
		      "milliseconds 1..31536000000, got \"1s\"");
	tt_init_error("moving_average", msneg, 2, "got \"-5\"");
	tt_init_error("moving_average", w, 3, "option 'window': expected 1..100000, got \"0\"");
	tt_init_error("moving_average", dev, 2, "option 'max_devices': expected a whole number "
		      "1..100000000, got \"0\"");
	tt_init_error("moving_average", nokey, 1, "option 'key' is required");
}

int main(void)
{
	TW_RUN(test_time_window_edges);
	TW_RUN(test_time_window_out_of_order);
	TW_RUN(test_count_and_time_window);
	TW_RUN(test_time_window_keeps_at_most_window);
	TW_RUN(test_least_recently_seen_device_is_forgotten);
	TW_RUN(test_many_devices);
	TW_RUN(test_bad_options);
	return TW_TEST_END();
}
