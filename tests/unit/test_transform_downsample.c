/* test_transform_downsample.c -- downsample: interval boundaries, held records go on, alerts survive, bad options */
#include "tw_transform_test.h"

struct ds_step {
	const char *device;
	int64_t ts;
	int publish;
};

static void ds_feed(struct tw_transform *t, const struct ds_step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct tw_record *r = tt_rec(s[i].device, s[i].ts, "v", (double)i);

		TW_CHECK_INT(tw_record_publish(r), 1);
		TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
		TW_CHECK_INT(tw_record_publish(r), s[i].publish);
		TW_CHECK_DBL(tt_num(r, "v"), (double)i, 0);	/* the record is intact */
		if (tw_record_publish(r) != s[i].publish)
			fprintf(stderr, "  at step %zu (%s, ts %lld)\n", i, s[i].device,
				(long long)s[i].ts);
		tw_record_free(r);
	}
}

static void test_interval_boundaries(void)
{
	const struct tw_option opts[] = { { "interval", "1000" } };
	struct tw_transform *t = tt_open("downsample", opts, 1);
	const struct ds_step s[] = {
		{ "a", 0, 1 },		/* the first goes */
		{ "a", 999, 0 },
		{ "a", 1000, 1 },	/* exactly one interval later goes */
		{ "a", 1500, 0 }, { "a", 1999, 0 },
		{ "a", 2000, 1 },
		{ "b", 1999, 1 },	/* each device on its own */
		{ "a", 5000, 1 },	/* after a gap: at once */
		{ "a", 4000, 0 },	/* out of order */
		{ "a", 5999, 0 }, { "a", 6000, 1 }, { "a", 6000, 0 },	/* same ts again */
		{ "b", 2998, 0 }, { "b", 2999, 1 },
	};

	if (!t)
		return;
	ds_feed(t, s, sizeof(s) / sizeof(s[0]));
	tw_transform_close(t);
}

static void test_interval_one_and_eviction(void)
{
	const struct tw_option opts[] = { { "interval", "1" }, { "max_devices", "1" } };
	struct tw_transform *t = tt_open("downsample", opts, 2);
	const struct ds_step s[] = {
		{ "a", 10, 1 }, { "a", 10, 0 }, { "a", 11, 1 },
		{ "b", 11, 1 },	/* a is forgotten */
		{ "a", 11, 1 },	/* and starts afresh */
	};

	if (!t)
		return;
	ds_feed(t, s, sizeof(s) / sizeof(s[0]));
	tw_transform_close(t);
}

/* A held record goes through the rest of the chain, and its events stay. */
static void test_held_record_goes_on(void)
{
	const struct tw_option th[] = { { "key", "v" }, { "high", "10" } };
	const struct tw_option ds[] = { { "interval", "60000" } };
	const struct tw_option sc[] = { { "key", "v" }, { "factor", "2" }, { "output", "v2" } };
	struct tw_transform *a = tt_open("threshold", th, 2), *b = tt_open("downsample", ds, 1);
	struct tw_transform *c = tt_open("example_scale", sc, 3);
	struct tw_pipeline *p = NULL;
	struct tw_pipeline_stats stats;
	struct tw_record *r;
	char err[256] = "";

	if (!a || !b || !c || tw_pipeline_new(&p) != TW_OK)
		goto out;
	tw_pipeline_append(p, a);
	tw_pipeline_append(p, b);
	tw_pipeline_append(p, c);
	r = tt_rec("d", 0, "v", 1);
	TW_CHECK_INT(tw_pipeline_run(p, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	TW_CHECK_INT(tw_record_publish(r), 1);
	tw_record_free(r);
	r = tt_rec("d", 1000, "v", 11);
	TW_CHECK_INT(tw_pipeline_run(p, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	TW_CHECK_INT(tw_record_publish(r), 0);	/* held back from the groups */
	TW_CHECK_DBL(tt_num(r, "v2"), 22, 0);	/* but later steps ran */
	TW_CHECK_INT(tt_nemits(r), 1);		/* and the alert still goes */
	tw_record_free(r);
	tw_pipeline_get_stats(p, &stats);
	TW_CHECK_INT(stats.passed, 2);
	TW_CHECK_INT(stats.dropped, 0);
out:
	tw_pipeline_free(p);
	tw_transform_close(a);
	tw_transform_close(b);
	tw_transform_close(c);
}

static void test_set_publish_in_the_host_table(void)
{
	const struct tw_host_api *api = tw_transform_api();
	struct tw_record *r = tt_rec("d", 0, NULL, 0);

	TW_CHECK(TW_HOST_API_HAS(api, set_publish));
	TW_CHECK(api->size == sizeof(struct tw_host_api));
	TW_CHECK_INT(tw_record_publish(r), 1);
	TW_CHECK_INT(api->set_publish(r, 0), 0);
	TW_CHECK_INT(tw_record_publish(r), 0);
	TW_CHECK_INT(api->set_publish(r, 1), 0);
	TW_CHECK_INT(tw_record_publish(r), 1);
	tw_record_free(r);
}

static void test_bad_options(void)
{
	const struct tw_option none[] = { { "max_devices", "5" } };
	const struct tw_option zero[] = { { "interval", "0" } };
	const struct tw_option frac[] = { { "interval", "1.5" } };
	const struct tw_option neg[] = { { "interval", "-1000" } };
	const struct tw_option unk[] = { { "interval", "10" }, { "every", "10" } };

	tt_init_error("downsample", none, 1, "option 'interval' is required (milliseconds)");
	tt_init_error("downsample", zero, 1, "option 'interval': expected a whole number of "
		      "milliseconds 1..31536000000, got \"0\"");
	tt_init_error("downsample", frac, 1, "got \"1.5\"");
	tt_init_error("downsample", neg, 1, "got \"-1000\"");
	tt_init_error("downsample", unk, 2, "unknown option 'every' (known: interval, "
		      "max_devices)");
}

int main(void)
{
	TW_RUN(test_interval_boundaries);
	TW_RUN(test_interval_one_and_eviction);
	TW_RUN(test_held_record_goes_on);
	TW_RUN(test_set_publish_in_the_host_table);
	TW_RUN(test_bad_options);
	return TW_TEST_END();
}
