/* buf.c -- growable byte buffers and refcounted outbound buffers */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "buf.h"

int tw_buf_reserve(struct tw_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (n > SIZE_MAX / 2 - b->len)
		return TW_ERR_NOMEM;
	if (b->len + n + 1 <= b->cap)
		return TW_OK;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return TW_ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return TW_OK;
}

int tw_buf_append(struct tw_buf *b, const void *p, size_t n)
{
	int rc = tw_buf_reserve(b, n);

	if (rc != TW_OK)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return TW_OK;
}

int tw_buf_puts(struct tw_buf *b, const char *s)
{
	return tw_buf_append(b, s, strlen(s));
}

const char *tw_buf_cstr(struct tw_buf *b)
{
	if (tw_buf_reserve(b, 0) != TW_OK)
		return NULL;
	b->data[b->len] = '\0';
	return b->data;
}

void tw_buf_free(struct tw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

struct tw_obuf *tw_obuf_new(size_t len)
{
	struct tw_obuf *o = malloc(sizeof(*o) + len);

	if (!o)
		return NULL;
	o->refs = 1;
	o->len = len;
	return o;
}

struct tw_obuf *tw_obuf_ref(struct tw_obuf *o)
{
	__atomic_fetch_add(&o->refs, 1, __ATOMIC_RELAXED);
	return o;
}

void tw_obuf_unref(struct tw_obuf *o)
{
	if (o && __atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(o);
}
