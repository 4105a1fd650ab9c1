/* test_common_opts.c -- flags, INI files and their errors, host:port parsing */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "telewire/error.h"
#include "telewire/opts.h"
#include "tw_test.h"

struct settings {
	char *uri, *name;
	long long count;
	double ratio;
	int flag;
};

static struct settings s;
static char route_seen[128];

static int on_route(void *ctx, const char *section, const char *key, const char *value,
		    char *err, size_t errlen)
{
	if (strcmp(key, "bad") == 0) {
		snprintf(err, errlen, "bad is not allowed here");
		return TW_ERR_CONFIG;
	}
	snprintf(route_seen, sizeof(route_seen), "%s/%s=%s", section, key, value);
	return TW_OK;
}

static const struct tw_opt opts[] = {
	{ "mqtt", "mqtt", "uri", TW_OPT_STRING, &s.uri, 0, 0, "URI", "broker" },
	{ "name", "test", NULL, TW_OPT_STRING, &s.name, 0, 0, "NAME", "a name" },
	{ "max-count", "test", NULL, TW_OPT_INT, &s.count, 1, 100, "N", "a count" },
	{ "ratio", "test", NULL, TW_OPT_DOUBLE, &s.ratio, 0, 1, "R", "a ratio" },
	{ "flag", "test", NULL, TW_OPT_BOOL, &s.flag, 0, 0, NULL, "a switch" },
};
static const struct tw_opts_spec spec = {
	"test", "testing", opts, sizeof(opts) / sizeof(opts[0]), "route ", on_route, NULL,
};

static int parse(int argc, const char *const *argv)
{
	memset(&s, 0, sizeof(s));
	s.count = 5;
	return tw_opts_parse(&spec, argc, (char **)argv);
}

static char *write_ini(const char *text)
{
	static char path[] = "/tmp/tw-opts-XXXXXX";
	int fd;

	memcpy(path + sizeof(path) - 7, "XXXXXX", 6);
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
	return path;
}

static void test_flags(void)
{
	const char *argv[] = { "t", "--mqtt", "tcp://x:1", "--max-count=7", "--flag", "--ratio", "0.5" };

	TW_CHECK_INT(parse(7, argv), TW_OK);
	TW_CHECK_STR(s.uri, "tcp://x:1");
	TW_CHECK_INT(s.count, 7);
	TW_CHECK_INT(s.flag, 1);
	TW_CHECK_DBL(s.ratio, 0.5, 1e-12);
	tw_opts_free(&spec);
	TW_CHECK(s.uri == NULL);
}

static void test_bad_flags(void)
{
	const char *unknown[] = { "t", "--nope" };
	const char *range[] = { "t", "--max-count", "101" };
	const char *notnum[] = { "t", "--max-count", "12abc" };
	const char *missing[] = { "t", "--name" };
	const char *stray[] = { "t", "stray" };
	const char *badbool[] = { "t", "--flag=maybe" };

	TW_CHECK_INT(parse(2, unknown), TW_ERR_CONFIG);
	TW_CHECK_INT(parse(3, range), TW_ERR_CONFIG);
	TW_CHECK_INT(parse(3, notnum), TW_ERR_CONFIG);
	TW_CHECK_INT(parse(2, missing), TW_ERR_CONFIG);
	TW_CHECK_INT(parse(2, stray), TW_ERR_CONFIG);
	TW_CHECK_INT(parse(2, badbool), TW_ERR_CONFIG);
	tw_opts_free(&spec);
}

static void test_config_file(void)
{
	char *path = write_ini("; comment\n[mqtt]\nuri = tcp://file:2\n[test]\nname = from-file\n"
			       "max_count = 9\n[other]\nwhatever = 1\n[route a]\nmatch = veh-*\n");
	const char *argv[] = { "t", "--config", path, "--max-count", "3" };

	TW_CHECK_INT(parse(5, argv), TW_OK);
	TW_CHECK_STR(s.uri, "tcp://file:2");
	TW_CHECK_STR(s.name, "from-file");
	TW_CHECK_INT(s.count, 3); /* the flag wins over the file */
	TW_CHECK_STR(route_seen, "route a/match=veh-*");
	tw_opts_free(&spec);
	unlink(path);
}

static void test_bad_config_files(void)
{
	const char *texts[] = {
		"[test]\nunknown_key = 1\n",
		"[test]\nmax_count = 1000\n",
		"[test]\nflag = perhaps\n",
		"this is not ini\n",
		"[route x]\nbad = 1\n",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char *path = write_ini(texts[i]);
		const char *argv[] = { "t", "--config", path };

		TW_CHECK_INT(parse(3, argv), TW_ERR_CONFIG);
		tw_opts_free(&spec);
		unlink(path);
	}
	const char *missing[] = { "t", "--config", "/nonexistent/telewire.ini" };
	TW_CHECK_INT(parse(3, missing), TW_ERR_CONFIG);
}

static void test_help_version(void)
{
	const char *help[] = { "t", "--help" };
	const char *version[] = { "t", "--bogus", "--version" };

	TW_CHECK_INT(parse(2, help), TW_ERR_USAGE);
	TW_CHECK_INT(parse(3, version), TW_ERR_USAGE);
}

static void test_hostport(void)
{
	char host[64];
	int port = 0;

	TW_CHECK_INT(tw_parse_hostport("127.0.0.1:8080", host, sizeof(host), &port), TW_OK);
	TW_CHECK_STR(host, "127.0.0.1");
	TW_CHECK_INT(port, 8080);
	TW_CHECK_INT(tw_parse_hostport("[::1]:99", host, sizeof(host), &port), TW_OK);
	TW_CHECK_STR(host, "::1");
	TW_CHECK_INT(port, 99);
	TW_CHECK_INT(tw_parse_hostport("nohost", host, sizeof(host), &port), TW_ERR_INVAL);
	TW_CHECK_INT(tw_parse_hostport(":80", host, sizeof(host), &port), TW_ERR_INVAL);
	TW_CHECK_INT(tw_parse_hostport("h:70000", host, sizeof(host), &port), TW_ERR_INVAL);
	TW_CHECK_INT(tw_parse_hostport("h:8x", host, sizeof(host), &port), TW_ERR_INVAL);
	TW_CHECK_INT(tw_parse_hostport("[::1]80", host, sizeof(host), &port), TW_ERR_INVAL);
}

static void test_strerror(void)
{
	TW_CHECK_STR(tw_strerror(TW_OK), "success");
	TW_CHECK_STR(tw_strerror(TW_ERR_FULL), "queue or buffer full");
	TW_CHECK_STR(tw_strerror(12345), "unknown error");
}

int main(void)
{
	TW_RUN(test_flags);
	TW_RUN(test_bad_flags);
	TW_RUN(test_config_file);
	TW_RUN(test_bad_config_files);
	TW_RUN(test_help_version);
	TW_RUN(test_hostport);
	TW_RUN(test_strerror);
	return TW_TEST_END();
}
