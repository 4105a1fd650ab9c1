/* test_push_static.c -- static files: path sanitizing (traversal in every form), types, containment, size */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "telewire/error.h"
#include "static.h"
#include "tw_test.h"

static const char *san(const char *url)
{
	static char out[256];

	if (tw_static_sanitize(url, out, sizeof(out)) != TW_OK)
		return "REFUSED";
	return out;
}

static void test_sanitize_good(void)
{
	TW_CHECK_STR(san("/"), "index.html");
	TW_CHECK_STR(san("/live.js"), "live.js");
	TW_CHECK_STR(san("/node_modules/@microsoft/signalr/dist/browser/signalr.min.js"),
		     "node_modules/@microsoft/signalr/dist/browser/signalr.min.js");
	TW_CHECK_STR(san("/docs/"), "docs/index.html");
	TW_CHECK_STR(san("/a..b/c...d"), "a..b/c...d");
}

static void test_sanitize_refused(void)
{
	static const char *const bad[] = {
		"", "live.js", "/..", "/../etc/passwd", "/a/../../etc/passwd", "/a/..", "/./a",
		"/a/./b", "//etc/passwd", "/a//b", "/.git/config", "/.env", "/a\\..\\b",
		"/..\\x", "/a\x01", "/a\x7f", "/C:/x", NULL,
	};
	int accepted = 0;

	for (int i = 0; bad[i]; i++) {
		if (strcmp(san(bad[i]), "REFUSED") != 0) {
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
			accepted++;
		}
	}
	TW_CHECK_INT(accepted, 0);
	TW_CHECK_STR(san(NULL), "REFUSED");
}

static void test_sanitize_limit(void)
{
	char url[600], out[64];

	memset(url, 'a', sizeof(url) - 1);
	url[0] = '/';
	url[sizeof(url) - 1] = '\0';
	TW_CHECK_INT(tw_static_sanitize(url, out, sizeof(out)), TW_ERR_LIMIT);
	TW_CHECK_INT(tw_static_sanitize("/abc/", out, 10), TW_ERR_LIMIT);
}

static void test_content_types(void)
{
	TW_CHECK_STR(tw_static_content_type("a/index.html"), "text/html; charset=utf-8");
	TW_CHECK_STR(tw_static_content_type("x.min.js"), "text/javascript; charset=utf-8");
	TW_CHECK_STR(tw_static_content_type("x.CSS"), "text/css; charset=utf-8");
	TW_CHECK_STR(tw_static_content_type("x.js.map"), "application/json");
	TW_CHECK_STR(tw_static_content_type("noext"), "application/octet-stream");
	TW_CHECK_STR(tw_static_content_type("dir.js/file"), "application/octet-stream");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static int open_rel(const char *root, const char *rel, uint64_t *size)
{
	const char *ctype;
	int fd = -1, rc = tw_static_open(root, rel, &fd, size, &ctype);

	if (fd >= 0)
		close(fd);
	return rc;
}

static void test_open(void)
{
	char tmpl[] = "/tmp/tw-static-XXXXXX", root[PATH_MAX], p[PATH_MAX + 64];
	uint64_t size = 0;
	int fd;

	TW_CHECK(mkdtemp(tmpl) != NULL);
	TW_CHECK(realpath(tmpl, root) != NULL);
	snprintf(p, sizeof(p), "%s/index.html", root);
	write_file(p, "<p>hi</p>");
	snprintf(p, sizeof(p), "%s/sub", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/sub/index.html", root);
	write_file(p, "sub");
	snprintf(p, sizeof(p), "%s/escape", root);
	TW_CHECK_INT(symlink("/etc/hostname", p), 0);
	snprintf(p, sizeof(p), "%s/big.bin", root);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	TW_CHECK_INT(ftruncate(fd, TW_STATIC_MAX_FILE + 1), 0); /* sparse */
	close(fd);

	TW_CHECK_INT(open_rel(root, "index.html", &size), TW_OK);
	TW_CHECK_INT(size, 9);
	TW_CHECK_INT(open_rel(root, "sub", &size), TW_OK); /* a directory serves its index */
	TW_CHECK_INT(size, 3);
	TW_CHECK_INT(open_rel(root, "missing.js", &size), TW_ERR_NOTFOUND);
	TW_CHECK_INT(open_rel(root, "escape", &size), TW_ERR_INVAL); /* symlink out of root */
	TW_CHECK_INT(open_rel(root, "../", &size), TW_ERR_INVAL);
	TW_CHECK_INT(open_rel(root, "big.bin", &size), TW_ERR_LIMIT);

	snprintf(p, sizeof(p), "rm -rf '%s'", root);
	TW_CHECK_INT(system(p), 0);
}

int main(void)
{
	TW_RUN(test_sanitize_good);
	TW_RUN(test_sanitize_refused);
	TW_RUN(test_sanitize_limit);
	TW_RUN(test_content_types);
	TW_RUN(test_open);
	return TW_TEST_END();
}
