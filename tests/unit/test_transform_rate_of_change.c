/* test_transform_rate_of_change.c -- rate_of_change: first sample, equal and older ts, units, bad options */
#include "tw_transform_test.h"

#define NONE -999	/* tt_num when the record has no rate */

struct rc_step {
	const char *device;
	int64_t ts;
	double v, want;
};

static void rc_feed(struct tw_transform *t, const char *out, const struct rc_step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct tw_record *r = tt_rec(s[i].device, s[i].ts, "odo", s[i].v);

		TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
		TW_CHECK_DBL(tt_num(r, out), s[i].want, 1e-9);
		if (tt_num(r, out) - s[i].want > 1e-9 || s[i].want - tt_num(r, out) > 1e-9)
			fprintf(stderr, "  at step %zu\n", i);
		tw_record_free(r);
	}
}

static void test_per_second(void)
{
	const struct tw_option opts[] = { { "key", "odo" } };
	struct tw_transform *t = tt_open("rate_of_change", opts, 1);
	const struct rc_step s[] = {
		{ "a", 1000, 10, NONE },	/* first: no rate */
		{ "a", 2000, 15, 5 },
		{ "a", 2500, 10, -10 },
		{ "a", 2500, 20, NONE },	/* same ts: no rate, the value replaces */
		{ "a", 2500, 20, NONE },
		{ "a", 3500, 25, 5 },		/* from the replaced 20 */
		{ "a", 3000, 0, NONE },		/* older: no rate, ignored */
		{ "a", 3500, 30, NONE },
		{ "a", 4500, 30, 0 },
		{ "b", 4500, 7, NONE },		/* another device has its own */
		{ "b", 4501, 8, 1000 },
	};

	if (!t)
		return;
	rc_feed(t, "odo_rate", s, sizeof(s) / sizeof(s[0]));
	tw_transform_close(t);
}

static void test_per_minute_and_hour(void)
{
	const struct tw_option min[] = { { "key", "odo" }, { "per", "minute" },
					 { "output", "odo_per_min" } };
	const struct tw_option hour[] = { { "key", "odo" }, { "per", "hour" } };
	const struct rc_step s1[] = { { "a", 0, 0, NONE }, { "a", 30000, 1, 2 },
				      { "a", 30001, 2, 60000 } };
	const struct rc_step s2[] = { { "a", 0, 100, NONE }, { "a", 1800000, 150, 100 } };
	struct tw_transform *t = tt_open("rate_of_change", min, 3);

	if (t)
		rc_feed(t, "odo_per_min", s1, 3);
	tw_transform_close(t);
	if ((t = tt_open("rate_of_change", hour, 2)) != NULL)
		rc_feed(t, "odo_rate", s2, 2);
	tw_transform_close(t);
}

static void test_errors_on_records(void)
{
	const struct tw_option opts[] = { { "key", "odo" } };
	struct tw_transform *t = tt_open("rate_of_change", opts, 1);
	struct tw_record *r;
	char err[256] = "";

	if (!t)
		return;
	r = tt_rec("a", 0, "other", 1);
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	TW_CHECK_INT(tw_record_count(r), 1);
	tw_record_set_bool(r, "odo", 1);
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_ERROR);
	TW_CHECK_STR(err, "field 'odo' is not a number");
	tw_record_free(r);
	/* a change too steep for a double fails that record only */
	r = tt_rec("a", 0, "odo", -1e308);
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	tw_record_free(r);
	r = tt_rec("a", 1, "odo", 1e308);
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_ERROR);
	TW_CHECK_STR(err, "rate of 'odo' is too large for a number");
	tw_record_free(r);
	tw_transform_close(t);
}

static void test_bad_options(void)
{
	const struct tw_option per[] = { { "key", "a" }, { "per", "day" } };
	const struct tw_option nokey[] = { { "per", "second" } };
	const struct tw_option unk[] = { { "key", "a" }, { "unit", "s" } };
	const struct tw_option dev[] = { { "key", "a" }, { "max_devices", "100000001" } };

	tt_init_error("rate_of_change", per, 2, "option 'per': expected second, minute or hour, "
		      "got \"day\"");
	tt_init_error("rate_of_change", nokey, 1, "option 'key' is required");
	tt_init_error("rate_of_change", unk, 2, "unknown option 'unit' (known: key, output, per, "
		      "max_devices)");
	tt_init_error("rate_of_change", dev, 2, "option 'max_devices': expected a whole number "
		      "1..100000000, got \"100000001\"");
}

int main(void)
{
	TW_RUN(test_per_second);
	TW_RUN(test_per_minute_and_hour);
	TW_RUN(test_errors_on_records);
	TW_RUN(test_bad_options);
	return TW_TEST_END();
}
