/* static.c -- serving the web folder safely: sanitized paths, realpath containment, size bound */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "telewire/error.h"
#include "static.h"

/* Checks one path segment [s, s+n). */
static int static__segment_ok(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.')
		return 0; /* "", ".", "..", ".git", ".env" */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '\\' || c == ':')
			return 0;
	}
	return 1;
}

int tw_static_sanitize(const char *url, char *out, size_t outlen)
{
	const char *p;
	size_t len, o = 0;

	if (!url || url[0] != '/')
		return TW_ERR_INVAL;
	p = url + 1;
	while (*p) {
		const char *slash = strchr(p, '/');

		len = slash ? (size_t)(slash - p) : strlen(p);
		if (!static__segment_ok(p, len))
			return TW_ERR_INVAL;
		if (o + len + 2 > outlen)
			return TW_ERR_LIMIT;
		memcpy(out + o, p, len);
		o += len;
		if (!slash)
			break;
		out[o++] = '/';
		p = slash + 1;
	}
	if (o == 0 || out[o - 1] == '/') {
		if (o + sizeof("index.html") > outlen)
			return TW_ERR_LIMIT;
		memcpy(out + o, "index.html", sizeof("index.html"));
		return TW_OK;
	}
	out[o] = '\0';
	return TW_OK;
}

const char *tw_static_content_type(const char *path)
{
	static const char *const types[][2] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".htm", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".map", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" },
		{ ".gif", "image/gif" },
		{ ".ico", "image/x-icon" },
		{ ".wasm", "application/wasm" },
		{ ".woff2", "font/woff2" },
		{ ".woff", "font/woff" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".md", "text/plain; charset=utf-8" },
	};
	const char *dot = strrchr(path, '.');

	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot, types[i][0]) == 0)
				return types[i][1];
	return "application/octet-stream";
}

/* Resolves root/rel (then root/rel/index.html for a directory) and checks
 * that the real path stays under root. */
static int static__resolve(const char *root, const char *rel, char *real, struct stat *st)
{
	char path[PATH_MAX];
	size_t rlen = strlen(root);

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >= sizeof(path))
		return TW_ERR_LIMIT;
	if (!realpath(path, real))
		return errno == ENOENT || errno == ENOTDIR ? TW_ERR_NOTFOUND : TW_ERR_INVAL;
	if (strncmp(real, root, rlen) != 0 || real[rlen] != '/')
		return TW_ERR_INVAL;
	if (stat(real, st) != 0)
		return TW_ERR_NOTFOUND;
	return TW_OK;
}

int tw_static_open(const char *root, const char *rel, int *fd, uint64_t *size,
		   const char **ctype)
{
	char real[PATH_MAX], sub[PATH_MAX];
	struct stat st;
	int rc = static__resolve(root, rel, real, &st);

	if (rc == TW_OK && S_ISDIR(st.st_mode)) {
		if ((size_t)snprintf(sub, sizeof(sub), "%s/index.html", rel) >= sizeof(sub))
			return TW_ERR_LIMIT;
		rc = static__resolve(root, sub, real, &st);
	}
	if (rc != TW_OK)
		return rc;
	if (!S_ISREG(st.st_mode))
		return TW_ERR_INVAL;
	if ((uint64_t)st.st_size > TW_STATIC_MAX_FILE)
		return TW_ERR_LIMIT;
	*fd = open(real, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return TW_ERR_NOTFOUND;
	*size = (uint64_t)st.st_size;
	*ctype = tw_static_content_type(real);
	return TW_OK;
}
