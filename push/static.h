/* static.h -- web files for GET requests: URL path sanitizing, content types, bounded opens */
#ifndef TW_PUSH_STATIC_H
#define TW_PUSH_STATIC_H

#include <stddef.h>
#include <stdint.h>

#define TW_STATIC_MAX_FILE (64u * 1024 * 1024)

/* Turns a decoded URL path ("/", "/js/app.js") into a path relative to the
 * web root ("index.html", "js/app.js"). Refuses (TW_ERR_INVAL) paths that
 * do not start with '/', contain "..", ".", empty or dot-leading segments,
 * backslashes or control bytes; TW_ERR_LIMIT when out is too small. A path
 * ending in '/' gets "index.html". Pure. */
int tw_static_sanitize(const char *url, char *out, size_t outlen);

/* The Content-Type for a file name, by extension; never NULL. */
const char *tw_static_content_type(const char *path);

/* Opens rel under root (which must be a realpath) read-only; a directory
 * is served by its index.html. Refuses anything that resolves outside
 * root (symlinks included). On TW_OK, *fd and *size are set; the caller
 * owns fd. Errors: TW_ERR_NOTFOUND, TW_ERR_INVAL (outside root or not a
 * regular file), TW_ERR_LIMIT (bigger than TW_STATIC_MAX_FILE). */
int tw_static_open(const char *root, const char *rel, int *fd, uint64_t *size,
		   const char **ctype);

#endif
