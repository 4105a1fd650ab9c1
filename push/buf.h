/* buf.h -- growable byte buffers and refcounted outbound buffers shared across connections */
#ifndef TW_PUSH_BUF_H
#define TW_PUSH_BUF_H

#include <stddef.h>

/* A growable byte buffer; zero-initialise before use. data is not NUL-terminated
 * unless tw_buf_cstr() was called. */
struct tw_buf {
	char *data;
	size_t len, cap;
};

/* Makes room for n more bytes. Returns TW_OK or TW_ERR_NOMEM. */
int tw_buf_reserve(struct tw_buf *b, size_t n);
/* Appends n bytes. Returns TW_OK or TW_ERR_NOMEM. */
int tw_buf_append(struct tw_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string. */
int tw_buf_puts(struct tw_buf *b, const char *s);
/* NUL-terminates (without counting the NUL in len) and returns data. */
const char *tw_buf_cstr(struct tw_buf *b);
void tw_buf_free(struct tw_buf *b);

/*
 * An immutable outbound buffer: the same bytes (a whole WebSocket frame, or
 * any transport's unit) are queued on many connections. The refcount is
 * atomic: the hub loop builds and queues obufs, and MHD's thread releases
 * those it sent on Server-Sent Events and long-polling connections.
 */
struct tw_obuf {
	unsigned refs;
	size_t len;
	unsigned char data[];
};

/* Allocates an obuf of len bytes with refs = 1, or NULL. */
struct tw_obuf *tw_obuf_new(size_t len);
struct tw_obuf *tw_obuf_ref(struct tw_obuf *o);
/* Drops one reference; frees at zero. NULL is fine. */
void tw_obuf_unref(struct tw_obuf *o);

#endif
