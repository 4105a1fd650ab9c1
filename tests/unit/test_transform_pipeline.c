/* test_transform_pipeline.c -- chains: order, pass, drop, per-record errors, emits, counters */
#include <stdio.h>
#include <string.h>

#include "telewire/error.h"
#include "telewire/transform_host.h"
#include "tw_test.h"

static struct tw_transform *conv, *avg, *probe;

static int setup(void)
{
	const struct tw_option c[] = { { "key", "speed" }, { "from", "m_s" }, { "to", "km_h" } };
	const struct tw_option a[] = { { "key", "speed" }, { "window", "2" } };
	char err[1024] = "";

	if (tw_transform_open(&conv, "conv", "unit_convert", TW_PLUGIN_DIR, c, 3, err, sizeof(err)) ||
	    tw_transform_open(&avg, "avg", "moving_average", TW_PLUGIN_DIR, a, 2, err, sizeof(err)) ||
	    tw_transform_open(&probe, "probe", "probe", TW_TEST_PLUGIN_DIR, NULL, 0, err,
			      sizeof(err))) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	return 0;
}

static struct tw_record *rec(const char *key, double v)
{
	struct tw_record *r;

	tw_record_new(&r, "veh-1", 0, -1, 0, NULL);
	tw_record_set_number(r, key, v);
	return r;
}

static void test_order(void)
{
	struct tw_pipeline *p;
	struct tw_record *r;
	char err[256] = "";
	double d = 0;

	TW_CHECK_INT(tw_pipeline_new(&p), TW_OK);
	tw_pipeline_append(p, conv); /* m/s -> km/h first, then the average of km/h */
	tw_pipeline_append(p, avg);
	TW_CHECK_INT(tw_pipeline_length(p), 2);
	r = rec("speed", 10);
	TW_CHECK_INT(tw_pipeline_run(p, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	tw_record_get_number(r, "speed_avg", &d);
	TW_CHECK_DBL(d, 36, 1e-9);
	tw_record_free(r);
	r = rec("speed", 20);
	TW_CHECK_INT(tw_pipeline_run(p, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	tw_record_get_number(r, "speed_avg", &d);
	TW_CHECK_DBL(d, 54, 1e-9);
	tw_record_free(r);
	tw_pipeline_free(p);
}

static void test_drop_error_and_counts(void)
{
	struct tw_pipeline_stats st;
	struct tw_pipeline *p;
	struct tw_record *r;
	char err[256] = "";
	double d = -1;

	tw_pipeline_new(&p);
	tw_pipeline_append(p, probe);
	tw_pipeline_append(p, conv);
	r = rec("drop", 1);
	tw_record_set_number(r, "speed", 1);
	TW_CHECK_INT(tw_pipeline_run(p, r, err, sizeof(err)), TW_TRANSFORM_DROP);
	/* conv never ran on the dropped record */
	tw_record_get_number(r, "speed", &d);
	TW_CHECK_DBL(d, 1, 0);
	tw_record_free(r);
	r = rec("fail", 1);
	TW_CHECK_INT(tw_pipeline_run(p, r, err, sizeof(err)), TW_TRANSFORM_ERROR);
	TW_CHECK_STR(err, "transform 'probe': asked to fail");
	tw_record_free(r);
	/* after an error the next record runs normally */
	r = rec("alert", 1);
	TW_CHECK_INT(tw_pipeline_run(p, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	TW_CHECK(tw_record_emits(r) != NULL);
	if (tw_record_emits(r))
		TW_CHECK_STR(tw_record_emits(r)->group, "alerts");
	TW_CHECK_STR(tw_record_conflation_key(r), "probe-veh-1");
	tw_record_get_number(r, "probe", &d);
	TW_CHECK_DBL(d, 3, 0);
	tw_record_free(r);
	tw_pipeline_get_stats(p, &st);
	TW_CHECK_INT(st.passed, 1);
	TW_CHECK_INT(st.dropped, 1);
	TW_CHECK_INT(st.failed, 1);
	tw_pipeline_free(p);
}

static void test_empty(void)
{
	struct tw_pipeline *p;
	struct tw_record *r = rec("x", 1);
	char err[16];

	tw_pipeline_new(&p);
	TW_CHECK_INT(tw_pipeline_run(p, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	tw_pipeline_free(p);
	tw_record_free(r);
}

int main(void)
{
	if (setup() != 0)
		return 1;
	TW_RUN(test_order);
	TW_RUN(test_drop_error_and_counts);
	TW_RUN(test_empty);
	tw_transform_close(conv);
	tw_transform_close(avg);
	tw_transform_close(probe);
	return TW_TEST_END();
}
