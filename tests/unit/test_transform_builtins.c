/* test_transform_builtins.c -- moving_average and unit_convert on crafted sequences */
#include <stdio.h>
#include <string.h>

#include "telewire/error.h"
#include "telewire/transform_host.h"
#include "tw_test.h"

static struct tw_transform *open_builtin(const char *name, const struct tw_option *opts,
					 size_t nopts)
{
	struct tw_transform *t = NULL;
	char err[1024] = "";

	if (tw_transform_open(&t, name, name, TW_PLUGIN_DIR, opts, nopts, err, sizeof(err)))
		fprintf(stderr, "  open %s: %s\n", name, err);
	TW_CHECK(t != NULL);
	return t;
}

/* Feeds one value of key for device; returns what out holds after (or -999). */
static double feed(struct tw_transform *t, const char *device, const char *key, double v,
		   const char *out, int *rc)
{
	struct tw_record *r;
	char err[256];
	double got = -999;

	tw_record_new(&r, device, 0, -1, 0, NULL);
	tw_record_set_number(r, key, v);
	*rc = tw_transform_process(t, r, err, sizeof(err));
	tw_record_get_number(r, out, &got);
	tw_record_free(r);
	return got;
}

static void test_moving_average_window_edges(void)
{
	const struct tw_option opts[] = { { "key", "speed" }, { "window", "3" } };
	struct tw_transform *t = open_builtin("moving_average", opts, 2);
	const double in[] = { 1, 2, 3, 4, 10, 10, 10 };
	const double want[] = { 1, 1.5, 2, 3, 17.0 / 3, 8, 10 };
	int rc;

	if (!t)
		return;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		TW_CHECK_DBL(feed(t, "veh-1", "speed", in[i], "speed_avg", &rc), want[i], 1e-9);
		TW_CHECK_INT(rc, TW_TRANSFORM_PASS);
	}
	/* another device has its own window */
	TW_CHECK_DBL(feed(t, "veh-2", "speed", 100, "speed_avg", &rc), 100, 1e-9);
	TW_CHECK_DBL(feed(t, "veh-1", "speed", 1, "speed_avg", &rc), 7, 1e-9);
	tw_transform_close(t);
}

static void test_moving_average_window_one_and_output(void)
{
	const struct tw_option opts[] = { { "key", "t" }, { "window", "1" }, { "output", "tt" } };
	struct tw_transform *t = open_builtin("moving_average", opts, 3);
	int rc;

	if (!t)
		return;
	TW_CHECK_DBL(feed(t, "d", "t", 5, "tt", &rc), 5, 0);
	TW_CHECK_DBL(feed(t, "d", "t", 7, "tt", &rc), 7, 0);
	TW_CHECK_DBL(feed(t, "d", "t", 7, "t_avg", &rc), -999, 0); /* default name unused */
	tw_transform_close(t);
}

static void test_moving_average_other_records(void)
{
	const struct tw_option opts[] = { { "key", "speed" } };
	struct tw_transform *t = open_builtin("moving_average", opts, 1);
	struct tw_record *r;
	char err[256] = "";

	if (!t)
		return;
	tw_record_new(&r, "veh-1", 0, -1, 0, NULL);
	tw_record_set_number(r, "other", 1);
	TW_CHECK_INT(tw_transform_process(t, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	TW_CHECK_INT(tw_record_count(r), 1); /* absent key: unchanged */
	tw_record_set_string(r, "speed", "fast");
	TW_CHECK_INT(tw_transform_process(t, r, err, sizeof(err)), TW_TRANSFORM_ERROR);
	TW_CHECK_STR(err, "field 'speed' is not a number");
	tw_record_free(r);
	tw_transform_close(t);
}

static void check_init_error(const char *plugin, const struct tw_option *opts, size_t n,
			     const char *want)
{
	struct tw_transform *t = NULL;
	char err[1024] = "";

	TW_CHECK_INT(tw_transform_open(&t, "x", plugin, TW_PLUGIN_DIR, opts, n, err, sizeof(err)),
		     TW_ERR_PLUGIN);
	TW_CHECK(strstr(err, want) != NULL);
	if (!strstr(err, want))
		fprintf(stderr, "  wanted \"%s\" in: %s\n", want, err);
	tw_transform_close(t);
}

static void test_init_errors(void)
{
	const struct tw_option w0[] = { { "key", "a" }, { "window", "0" } };
	const struct tw_option wx[] = { { "key", "a" }, { "window", "3x" } };
	const struct tw_option unk[] = { { "key", "a" }, { "windw", "3" } };
	const struct tw_option mix[] = { { "key", "a" }, { "from", "c" }, { "to", "mph" } };
	const struct tw_option bad[] = { { "key", "a" }, { "from", "c" }, { "to", "kelvin" } };
	const struct tw_option nokey[] = { { "from", "c" }, { "to", "f" } };

	check_init_error("moving_average", w0, 2, "option 'window': expected 1..100000, got \"0\"");
	check_init_error("moving_average", wx, 2, "got \"3x\"");
	check_init_error("moving_average", unk, 2, "unknown option 'windw'");
	check_init_error("unit_convert", mix, 3, "cannot convert c (temperature) to mph (speed)");
	check_init_error("unit_convert", bad, 3, "option 'to': unknown unit \"kelvin\"");
	check_init_error("unit_convert", nokey, 2, "option 'key' is required");
}

struct conv_case {
	const char *from, *to;
	double in, want;
};

static void test_unit_convert_table(void)
{
	static const struct conv_case cases[] = {
		{ "c", "f", 100, 212 }, { "c", "f", -40, -40 }, { "f", "c", 32, 0 },
		{ "c", "k", 0, 273.15 }, { "k", "f", 0, -459.67 }, { "f", "k", 212, 373.15 },
		{ "km_h", "m_s", 36, 10 }, { "m_s", "km_h", 1, 3.6 }, { "mph", "km_h", 1, 1.609344 },
		{ "km_h", "mph", 100, 62.1371192237334 }, { "c", "c", 21.5, 21.5 },
	};
	int rc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tw_option opts[] = { { "key", "v" }, { "from", cases[i].from },
						  { "to", cases[i].to } };
		struct tw_transform *t = open_builtin("unit_convert", opts, 3);

		if (!t)
			continue;
		/* without output: replaced in place */
		TW_CHECK_DBL(feed(t, "d", "v", cases[i].in, "v", &rc), cases[i].want, 1e-9);
		TW_CHECK_INT(rc, TW_TRANSFORM_PASS);
		tw_transform_close(t);
	}
}

static void test_unit_convert_output(void)
{
	const struct tw_option opts[] = { { "key", "temp" }, { "from", "c" }, { "to", "f" },
					  { "output", "temp_f" } };
	struct tw_transform *t = open_builtin("unit_convert", opts, 4);
	struct tw_record *r;
	char err[256];
	double c = 0, f = 0;

	if (!t)
		return;
	tw_record_new(&r, "temp-1", 0, -1, 0, NULL);
	tw_record_set_number(r, "temp", 20);
	TW_CHECK_INT(tw_transform_process(t, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	TW_CHECK_INT(tw_record_get_number(r, "temp", &c), TW_OK);
	TW_CHECK_INT(tw_record_get_number(r, "temp_f", &f), TW_OK);
	TW_CHECK_DBL(c, 20, 0);
	TW_CHECK_DBL(f, 68, 1e-9);
	tw_record_set_bool(r, "temp", 1);
	TW_CHECK_INT(tw_transform_process(t, r, err, sizeof(err)), TW_TRANSFORM_ERROR);
	TW_CHECK_STR(err, "field 'temp' is not a number");
	tw_record_free(r);
	tw_transform_close(t);
}

int main(void)
{
	TW_RUN(test_moving_average_window_edges);
	TW_RUN(test_moving_average_window_one_and_output);
	TW_RUN(test_moving_average_other_records);
	TW_RUN(test_init_errors);
	TW_RUN(test_unit_convert_table);
	TW_RUN(test_unit_convert_output);
	return TW_TEST_END();
}
