/* test_transform_example_scale.c -- the example plugin of docs/plugins.md works, and the doc shows its code */
#include <stdlib.h>

#include "tw_transform_test.h"

static void test_scale(void)
{
	const struct tw_option opts[] = { { "key", "t" }, { "factor", "1.8" }, { "offset", "32" },
					  { "output", "t_f" } };
	const struct tw_option inplace[] = { { "key", "t" }, { "factor", "-2" } };
	struct tw_transform *t = tt_open("example_scale", opts, 4);
	struct tw_record *r;
	char err[256] = "";

	if (!t)
		return;
	r = tt_rec("temp-1", 0, "t", 100);
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	TW_CHECK_DBL(tt_num(r, "t_f"), 212, 1e-9);
	TW_CHECK_DBL(tt_num(r, "t"), 100, 0);
	tw_record_set_string(r, "t", "warm");
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_ERROR);
	TW_CHECK_STR(err, "field 't' is not a number");
	tw_record_free(r);
	tw_transform_close(t);
	if (!(t = tt_open("example_scale", inplace, 2)))
		return;
	r = tt_rec("temp-1", 0, "t", 1.5);
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	TW_CHECK_DBL(tt_num(r, "t"), -3, 0);
	tw_record_free(r);
	tw_transform_close(t);
}

static void test_bad_options(void)
{
	const struct tw_option nokey[] = { { "factor", "2" } };
	const struct tw_option factor[] = { { "key", "t" }, { "factor", "two" } };
	const struct tw_option unk[] = { { "key", "t" }, { "scale", "2" } };

	tt_init_error("example_scale", nokey, 1, "option 'key' is required");
	tt_init_error("example_scale", factor, 2, "option 'factor': expected a number, got \"two\"");
	tt_init_error("example_scale", unk, 2, "unknown option 'scale' (known: key, factor, "
		      "offset, output)");
}

/* The whole of path, NUL-terminated (malloc'd), or NULL. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)len + 1)) != NULL) {
		if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
		} else {
			buf[len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

/* docs/plugins.md shows transform/plugins/example_scale.c in full, as it is. */
static void test_doc_shows_the_code(void)
{
	char *doc = slurp(TW_SOURCE_DIR "/docs/plugins.md");
	char *code = slurp(TW_SOURCE_DIR "/transform/plugins/example_scale.c");
	char *start = doc ? strstr(doc, "```c\n/* example_scale.c") : NULL;
	char *end = start ? strstr(start + 5, "\n```\n") : NULL;

	TW_CHECK(doc != NULL && code != NULL);
	TW_CHECK(start != NULL && end != NULL);
	if (start && end && code) {
		start += 5;
		end[1] = '\0';	/* keep the code's last newline */
		TW_CHECK(strcmp(start, code) == 0);
		if (strcmp(start, code) != 0)
			fprintf(stderr, "  docs/plugins.md shows another example_scale.c than "
				"transform/plugins/example_scale.c: copy the file into the doc\n");
	}
	free(doc);
	free(code);
}

int main(void)
{
	TW_RUN(test_scale);
	TW_RUN(test_bad_options);
	TW_RUN(test_doc_shows_the_code);
	return TW_TEST_END();
}
