/* test_transform_threshold.c -- threshold: hysteresis bands, no flapping, both bounds, events, bad options */
#include "tw_transform_test.h"

struct th_step {
	double v;
	int alert;		/* the record's temp_alert after */
	const char *events;	/* "" none, "R" raised, "C" cleared, "CR" both, in order */
};

/* Feeds steps to t as device d (ts = step index) and checks annotation and events. */
static void th_feed(struct tw_transform *t, const char *d, const struct th_step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct tw_record *r = tt_rec(d, (int64_t)i, "temp", s[i].v);
		size_t ne = strlen(s[i].events);

		TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
		TW_CHECK_INT(tt_bool(r, "temp_alert"), s[i].alert);
		TW_CHECK_INT(tt_nemits(r), ne);
		for (size_t k = 0; k < ne && k < tt_nemits(r); k++) {
			const char *state = s[i].events[k] == 'R' ? "\"state\":\"raised\""
								  : "\"state\":\"cleared\"";

			TW_CHECK(strstr(tt_emit(r, k)->json_args, state) != NULL);
		}
		if (tt_bool(r, "temp_alert") != s[i].alert || tt_nemits(r) != ne)
			fprintf(stderr, "  at step %zu (value %g)\n", i, s[i].v);
		tw_record_free(r);
	}
}

static void test_high_with_band(void)
{
	const struct tw_option opts[] = { { "key", "temp" }, { "high", "30" },
					  { "hysteresis", "2" } };
	struct tw_transform *t = tt_open("threshold", opts, 3);
	const struct th_step s[] = {
		{ 29, 0, "" }, { 30, 0, "" },		/* at the threshold: not above */
		{ 30.5, 1, "R" }, { 29, 1, "" },	/* back below, not by the band */
		{ 31, 1, "" }, { 28.01, 1, "" },
		{ 28, 0, "C" },				/* high - hysteresis: cleared */
		{ 29.5, 0, "" }, { 30, 0, "" }, { 30.01, 1, "R" }, { 100, 1, "" },
		{ -5, 0, "C" },
	};

	if (!t)
		return;
	th_feed(t, "temp-1", s, sizeof(s) / sizeof(s[0]));
	tw_transform_close(t);
}

static void test_no_flapping(void)
{
	const struct tw_option opts[] = { { "key", "temp" }, { "high", "30" },
					  { "hysteresis", "0.5" } };
	struct tw_transform *t = tt_open("threshold", opts, 3);
	size_t events = 0;

	if (!t)
		return;
	/* noise of +-0.2 around the threshold: one raise, nothing more */
	for (int i = 0; i < 100; i++) {
		struct tw_record *r = tt_rec("temp-1", i, "temp", i % 2 ? 30.2 : 29.8);

		TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
		events += tt_nemits(r);
		TW_CHECK_INT(tt_bool(r, "temp_alert"), i >= 1);
		tw_record_free(r);
	}
	TW_CHECK_INT(events, 1);
	tw_transform_close(t);
}

static void test_without_band_flaps_by_design(void)
{
	const struct tw_option opts[] = { { "key", "temp" }, { "high", "30" } };
	struct tw_transform *t = tt_open("threshold", opts, 2);
	const struct th_step s[] = {
		{ 30.2, 1, "R" }, { 30, 0, "C" }, { 30.2, 1, "R" }, { 29.8, 0, "C" },
	};

	if (!t)
		return;
	th_feed(t, "temp-1", s, sizeof(s) / sizeof(s[0]));
	tw_transform_close(t);
}

static void test_low_and_high(void)
{
	const struct tw_option opts[] = { { "key", "temp" }, { "low", "10" }, { "high", "30" },
					  { "hysteresis", "1" } };
	struct tw_transform *t = tt_open("threshold", opts, 4);
	const struct th_step s[] = {
		{ 20, 0, "" }, { 10, 0, "" }, { 9, 1, "R" }, { 10.5, 1, "" }, { 11, 0, "C" },
		{ 9.5, 1, "R" },
		{ 35, 1, "CR" },		/* straight from low to high: two events */
		{ 29.5, 1, "" }, { 5, 1, "CR" }, { 10.99, 1, "" }, { 20, 0, "C" },
	};

	if (!t)
		return;
	th_feed(t, "temp-1", s, sizeof(s) / sizeof(s[0]));
	tw_transform_close(t);
}

static void test_event_text(void)
{
	const struct tw_option opts[] = { { "key", "temp" }, { "high", "30" }, { "hysteresis", "2" },
					  { "name", "hot" } };
	struct tw_transform *t = tt_open("threshold", opts, 4);
	struct tw_record *r;

	if (!t)
		return;
	r = tt_rec("temp-\"1\\", 1732270000123, "temp", 30.5);
	TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
	TW_CHECK_INT(tt_nemits(r), 1);
	if (tt_nemits(r) == 1) {
		TW_CHECK_STR(tt_emit(r, 0)->group, "alerts");
		TW_CHECK_STR(tt_emit(r, 0)->method, "alert");
		TW_CHECK_STR(tt_emit(r, 0)->json_args,
			     "[{\"type\":\"threshold\",\"name\":\"hot\",\"device\":\"temp-\\\"1\\\\\","
			     "\"key\":\"temp\",\"value\":30.5,\"threshold\":30,\"bound\":\"high\","
			     "\"state\":\"raised\",\"ts\":1732270000123}]");
	}
	tw_record_free(r);
	r = tt_rec("temp-\"1\\", 1732270001123, "temp", 27.25);
	TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
	TW_CHECK_INT(tt_nemits(r), 1);
	if (tt_nemits(r) == 1)
		TW_CHECK_STR(tt_emit(r, 0)->json_args,
			     "[{\"type\":\"threshold\",\"name\":\"hot\",\"device\":\"temp-\\\"1\\\\\","
			     "\"key\":\"temp\",\"value\":27.25,\"threshold\":30,\"bound\":\"high\","
			     "\"state\":\"cleared\",\"ts\":1732270001123}]");
	tw_record_free(r);
	tw_transform_close(t);
}

static void test_group_method_output(void)
{
	const struct tw_option opts[] = { { "key", "temp" }, { "low", "-1.5e1" },
					  { "group", "ops" }, { "method", "alarm" },
					  { "output", "freezing" } };
	struct tw_transform *t = tt_open("threshold", opts, 5);
	struct tw_record *r;

	if (!t)
		return;
	r = tt_rec("temp-1", 0, "temp", -20);
	TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
	TW_CHECK_INT(tt_bool(r, "freezing"), 1);
	TW_CHECK_INT(tt_bool(r, "temp_alert"), -1);
	TW_CHECK_INT(tt_nemits(r), 1);
	if (tt_nemits(r) == 1) {
		TW_CHECK_STR(tt_emit(r, 0)->group, "ops");
		TW_CHECK_STR(tt_emit(r, 0)->method, "alarm");
		TW_CHECK(strstr(tt_emit(r, 0)->json_args, "\"name\":\"temp\",") != NULL);
		TW_CHECK(strstr(tt_emit(r, 0)->json_args, "\"threshold\":-15,\"bound\":\"low\"") != NULL);
	}
	tw_record_free(r);
	tw_transform_close(t);
}

static void test_per_device_and_eviction(void)
{
	const struct tw_option opts[] = { { "key", "temp" }, { "high", "30" },
					  { "max_devices", "1" } };
	struct tw_transform *t = tt_open("threshold", opts, 3);
	const struct th_step hot[] = { { 35, 1, "R" }, { 36, 1, "" } };
	const struct th_step cool[] = { { 20, 0, "" } };

	if (!t)
		return;
	th_feed(t, "a", hot, 2);
	th_feed(t, "b", cool, 1);	/* b has its own state; a is forgotten */
	th_feed(t, "a", hot, 2);	/* so a raises again */
	tw_transform_close(t);
}

static void test_other_records(void)
{
	const struct tw_option opts[] = { { "key", "temp" }, { "high", "30" } };
	struct tw_transform *t = tt_open("threshold", opts, 2);
	struct tw_record *r;
	char err[256] = "";

	if (!t)
		return;
	r = tt_rec("temp-1", 0, "other", 99);
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	TW_CHECK_INT(tw_record_count(r), 1);	/* no key: unchanged */
	tw_record_set_string(r, "temp", "hot");
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_ERROR);
	TW_CHECK_STR(err, "field 'temp' is not a number");
	TW_CHECK_INT(tt_nemits(r), 0);
	tw_record_free(r);
	tw_transform_close(t);
}

static void test_bad_options(void)
{
	const struct tw_option none[] = { { "key", "t" }, { "hysteresis", "1" } };
	const struct tw_option highx[] = { { "key", "t" }, { "high", "30C" } };
	const struct tw_option lowinf[] = { { "key", "t" }, { "low", "inf" } };
	const struct tw_option band[] = { { "key", "t" }, { "high", "3" }, { "hysteresis", "-1" } };
	const struct tw_option order[] = { { "key", "t" }, { "high", "3" }, { "low", "5" } };
	const struct tw_option nokey[] = { { "high", "3" } };
	const struct tw_option unk[] = { { "key", "t" }, { "high", "3" }, { "hi", "3" } };
	const struct tw_option dev[] = { { "key", "t" }, { "high", "3" }, { "max_devices", "x" } };
	char longname[200];
	struct tw_option named[] = { { "key", "t" }, { "high", "3" }, { "name", longname } };

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	tt_init_error("threshold", none, 2, "option 'high' or 'low' is required (a threshold)");
	tt_init_error("threshold", highx, 2, "option 'high': expected a number, got \"30C\"");
	tt_init_error("threshold", lowinf, 2, "option 'low': expected a number, got \"inf\"");
	tt_init_error("threshold", band, 3, "option 'hysteresis': expected a number >= 0, got -1");
	tt_init_error("threshold", order, 3, "option 'low' (5) must be below option 'high' (3)");
	tt_init_error("threshold", nokey, 1, "option 'key' is required");
	tt_init_error("threshold", unk, 3, "unknown option 'hi' (known: key, high, low, "
		      "hysteresis, name, output, group, method, max_devices)");
	tt_init_error("threshold", dev, 3, "option 'max_devices': expected a whole number "
		      "1..100000000, got \"x\"");
	tt_init_error("threshold", named, 3, "option 'name': at most 128 bytes, got 199");
}

int main(void)
{
	TW_RUN(test_high_with_band);
	TW_RUN(test_no_flapping);
	TW_RUN(test_without_band_flaps_by_design);
	TW_RUN(test_low_and_high);
	TW_RUN(test_event_text);
	TW_RUN(test_group_method_output);
	TW_RUN(test_per_device_and_eviction);
	TW_RUN(test_other_records);
	TW_RUN(test_bad_options);
	return TW_TEST_END();
}
