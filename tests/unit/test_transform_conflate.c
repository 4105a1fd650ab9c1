/* test_transform_conflate.c -- conflate: default key, templates, braces, the length limit, bad options */
#include "tw_transform_test.h"

/* The key template gives for r. */
static void cf_check(const char *tpl, struct tw_record *r, const char *want)
{
	const struct tw_option opts[] = { { "template", tpl } };
	struct tw_transform *t = tt_open("conflate", opts, tpl ? 1 : 0);
	char err[256] = "";

	if (!t)
		return;
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	TW_CHECK_STR(tw_record_conflation_key(r), want);
	tw_transform_close(t);
}

static void test_templates(void)
{
	struct tw_record *r = tt_rec("veh-1", 0, "speed", 48.25);

	if (!r)
		return;
	tw_record_set_string(r, "kind", "gps");
	tw_record_set_number(r, "lane", 3);
	tw_record_set_bool(r, "moving", 1);
	cf_check(NULL, r, "veh-1");			/* the default: {device} */
	cf_check("{device}", r, "veh-1");
	cf_check("{device}:{kind}", r, "veh-1:gps");
	cf_check("{device}:{lane}", r, "veh-1:3");
	cf_check("{speed}/{moving}", r, "48.25/true");
	cf_check("{device}:{missing}", r, "veh-1:");	/* absent: empty */
	cf_check("fleet", r, "fleet");
	cf_check("{{{device}}}", r, "{veh-1}");
	cf_check("a{{b}}c", r, "a{b}c");
	tw_record_free(r);
}

static void test_key_too_long(void)
{
	const struct tw_option opts[] = { { "template", "{a}{b}{c}{d}{e}" } };
	struct tw_transform *t = tt_open("conflate", opts, 1);
	struct tw_record *r = tt_rec("d", 0, NULL, 0);
	char text[251], err[256] = "";

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	if (!t || !r)
		goto out;
	tw_record_set_string(r, "a", text);
	tw_record_set_string(r, "b", text);
	tw_record_set_string(r, "c", text);
	tw_record_set_string(r, "d", text);
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_PASS);	/* 1000 bytes */
	TW_CHECK_INT(strlen(tw_record_conflation_key(r)), 1000);
	tw_record_set_string(r, "e", "y");
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_PASS);	/* 1001 */
	tw_record_set_string(r, "e", text);
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_ERROR);
	TW_CHECK_STR(err, "conflation key longer than 1024 bytes");
out:
	tw_record_free(r);
	tw_transform_close(t);
}

static void test_bad_options(void)
{
	const struct tw_option open[] = { { "template", "{device" } };
	const struct tw_option close[] = { { "template", "dev}" } };
	const struct tw_option empty_name[] = { { "template", "a{}" } };
	const struct tw_option nested[] = { { "template", "{a{b}" } };
	const struct tw_option empty[] = { { "template", "" } };
	const struct tw_option unk[] = { { "key", "{device}" } };

	tt_init_error("conflate", open, 1, "option 'template': '{' at offset 0 is not closed");
	tt_init_error("conflate", close, 1, "option 'template': '}' at offset 3 has no '{' "
		      "(write }} for a brace)");
	tt_init_error("conflate", empty_name, 1, "option 'template': expected a name of 1..128 "
		      "bytes in '{...}' at offset 1");
	tt_init_error("conflate", nested, 1, "at offset 0");
	tt_init_error("conflate", empty, 1, "option 'template': expected 1..1024 bytes such as "
		      "\"{device}\", got 0");
	tt_init_error("conflate", unk, 1, "unknown option 'key' (known: template)");
}

int main(void)
{
	TW_RUN(test_templates);
	TW_RUN(test_key_too_long);
	TW_RUN(test_bad_options);
	return TW_TEST_END();
}
