/* test_transform_loader.c -- every way a plugin can fail to load names its file */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telewire/error.h"
#include "telewire/transform_host.h"
#include "tw_test.h"

static char tmpdir[] = "/tmp/tw-test-loader-XXXXXX";

/* Checks that err contains each of the (NULL-terminated) texts. */
static void check_has(const char *err, const char *a, const char *b)
{
	TW_CHECK(strstr(err, a) != NULL);
	TW_CHECK(!b || strstr(err, b) != NULL);
	if (!strstr(err, a) || (b && !strstr(err, b)))
		fprintf(stderr, "  message was: %s\n", err);
}

static int open_plugin(const char *spec, const char *dir, const struct tw_option *opts,
		       size_t nopts, char *err, size_t errlen, struct tw_transform **t)
{
	err[0] = '\0';
	return tw_transform_open(t, "inst", spec, dir, opts, nopts, err, errlen);
}

static void test_missing_file(void)
{
	struct tw_transform *t = (struct tw_transform *)1;
	char err[1024], path[512];

	TW_CHECK_INT(open_plugin("/nonexistent/dir/nope.so", NULL, NULL, 0, err, sizeof(err), &t),
		     TW_ERR_PLUGIN);
	TW_CHECK(t == NULL);
	check_has(err, "plugin /nonexistent/dir/nope.so", "No such file");
	/* by name: the dir and ".so" are added */
	TW_CHECK_INT(open_plugin("nope", tmpdir, NULL, 0, err, sizeof(err), &t), TW_ERR_PLUGIN);
	snprintf(path, sizeof(path), "%s/nope.so", tmpdir);
	check_has(err, path, "transform 'inst'");
}

static void test_not_a_library(void)
{
	struct tw_transform *t;
	char err[1024], path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/text.so", tmpdir);
	f = fopen(path, "w");
	TW_CHECK(f != NULL);
	if (!f)
		return;
	fputs("this is not a shared object\n", f);
	fclose(f);
	TW_CHECK_INT(open_plugin(path, NULL, NULL, 0, err, sizeof(err), &t), TW_ERR_PLUGIN);
	check_has(err, path, "not a loadable shared object");
	/* the dlerror() text is passed on */
	check_has(err, "text.so: ", NULL);
	TW_CHECK_INT(open_plugin(tmpdir, NULL, NULL, 0, err, sizeof(err), &t), TW_ERR_PLUGIN);
	check_has(err, tmpdir, "not a regular file");
}

static void test_no_entry(void)
{
	struct tw_transform *t;
	char err[1024];

	TW_CHECK_INT(open_plugin("noentry", TW_TEST_PLUGIN_DIR, NULL, 0, err, sizeof(err), &t),
		     TW_ERR_PLUGIN);
	check_has(err, TW_TEST_PLUGIN_DIR "/noentry.so", "no entry point telewire_transform_entry");
}

static void test_wrong_abi(void)
{
	struct tw_transform *t;
	char err[1024];

	TW_CHECK_INT(open_plugin("badabi", TW_TEST_PLUGIN_DIR, NULL, 0, err, sizeof(err), &t),
		     TW_ERR_PLUGIN);
	check_has(err, TW_TEST_PLUGIN_DIR "/badabi.so", "ABI version 99, this host needs 1");
}

static void test_init_failure(void)
{
	const struct tw_option bad[] = { { "threshold", "high" } };
	struct tw_transform *t;
	char err[1024];

	TW_CHECK_INT(open_plugin("initfail", TW_TEST_PLUGIN_DIR, NULL, 0, err, sizeof(err), &t),
		     TW_ERR_PLUGIN);
	check_has(err, TW_TEST_PLUGIN_DIR "/initfail.so",
		  "init failed: option 'threshold' is required");
	TW_CHECK_INT(open_plugin("initfail", TW_TEST_PLUGIN_DIR, bad, 1, err, sizeof(err), &t),
		     TW_ERR_PLUGIN);
	check_has(err, "\"high\" is not a number", NULL);
	/* a built-in refusing its options names itself too */
	TW_CHECK_INT(open_plugin("moving_average", TW_PLUGIN_DIR, NULL, 0, err, sizeof(err), &t),
		     TW_ERR_PLUGIN);
	check_has(err, TW_PLUGIN_DIR "/moving_average.so", "option 'key' is required");
}

static void test_success(void)
{
	const struct tw_option opts[] = { { "key", "speed" } };
	struct tw_transform *t = NULL;
	char err[1024];

	TW_CHECK_INT(open_plugin("moving_average", TW_PLUGIN_DIR, opts, 1, err, sizeof(err), &t),
		     TW_OK);
	TW_CHECK(t != NULL);
	if (!t)
		return;
	TW_CHECK_STR(tw_transform_path(t), TW_PLUGIN_DIR "/moving_average.so");
	TW_CHECK_STR(tw_transform_name(t), "inst");
	tw_transform_close(t);
	/* by path, too */
	TW_CHECK_INT(open_plugin(TW_PLUGIN_DIR "/moving_average.so", "/elsewhere", opts, 1, err,
				 sizeof(err), &t), TW_OK);
	tw_transform_close(t);
	tw_transform_close(NULL);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	TW_RUN(test_missing_file);
	TW_RUN(test_not_a_library);
	TW_RUN(test_no_entry);
	TW_RUN(test_wrong_abi);
	TW_RUN(test_init_failure);
	TW_RUN(test_success);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return TW_TEST_END();
}
