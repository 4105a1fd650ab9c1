/* protocol_msgpack.c -- SignalR MessagePack hub protocol codec over buffers (pure: no I/O, no logging) */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <openssl/evp.h>

#include "telewire/error.h"
#include "protocol_msgpack.h"

#define HUBMP_MAX_LENGTH 0x7fffffffu	/* the largest length a prefix may declare */

/* ---- record splitting ---- */

void tw_hubmp_reader_init(struct tw_hubmp_reader *r, size_t max_record)
{
	memset(r, 0, sizeof(*r));
	r->max_record = max_record;
}

void tw_hubmp_reader_free(struct tw_hubmp_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Decodes the VarInt length prefix at p[0..n). Returns its size in bytes,
 * 0 when more bytes are needed, or -1 when it runs past 5 bytes or past
 * 0x7fffffff (the fifth byte may carry 3 bits only). */
static int hubmp__varint(const unsigned char *p, size_t n, size_t *value)
{
	size_t v = 0;

	for (int i = 0; i < TW_HUBMP_MAX_PREFIX; i++) {
		if ((size_t)i >= n)
			return 0;
		if (i == TW_HUBMP_MAX_PREFIX - 1 && p[i] > 0x07)
			return -1;
		v |= (size_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*value = v;
			return i + 1;
		}
	}
	return -1;
}

/* Drops consumed bytes so the buffer holds one partial message plus what
 * one feed adds. */
static void reader__compact(struct tw_hubmp_reader *r)
{
	if (r->start == 0)
		return;
	memmove(r->buf, r->buf + r->start, r->len - r->start);
	r->len -= r->start;
	r->start = 0;
}

/* Grows by doubling, but not past one whole message when that suffices. */
static int reader__append(struct tw_hubmp_reader *r, const void *data, size_t n)
{
	size_t need = r->len + n;

	if (n == 0)
		return TW_OK;
	if (need > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024, whole = r->max_record + TW_HUBMP_MAX_PREFIX;

		if (whole < r->max_record)
			whole = SIZE_MAX;
		char *p;

		if (cap > whole)
			cap = whole;
		if (cap < need)
			cap = need;
		p = realloc(r->buf, cap);
		if (!p)
			return TW_ERR_NOMEM;
		r->buf = p;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, n);
	r->len = need;
	return TW_OK;
}

/* Checks the length prefix of every buffered message not yet checked. */
static int reader__check(struct tw_hubmp_reader *r)
{
	size_t pos = r->start + r->checked;

	while (pos < r->len) {
		size_t body = 0;
		int n = hubmp__varint((const unsigned char *)r->buf + pos, r->len - pos, &body);

		if (n < 0 || body > r->max_record)
			return TW_ERR_LIMIT;
		if (n == 0 || r->len - pos - (size_t)n < body)
			break;
		pos += (size_t)n + body;
	}
	r->checked = pos - r->start;
	return TW_OK;
}

int tw_hubmp_feed(struct tw_hubmp_reader *r, const void *data, size_t n)
{
	int rc;

	if (r->failed)
		return TW_ERR_LIMIT;
	reader__compact(r);
	rc = reader__append(r, data, n);
	if (rc != TW_OK)
		return rc;
	rc = reader__check(r);
	if (rc != TW_OK)
		r->failed = 1;
	return rc;
}

int tw_hubmp_next(struct tw_hubmp_reader *r, const char **rec, size_t *len)
{
	size_t body = 0, whole;
	int n;

	if (r->failed)
		return TW_ERR_LIMIT;
	if (r->len == r->start)
		return TW_ERR_INCOMPLETE;
	n = hubmp__varint((const unsigned char *)r->buf + r->start, r->len - r->start, &body);
	if (n <= 0 || r->len - r->start - (size_t)n < body)
		return TW_ERR_INCOMPLETE;
	whole = (size_t)n + body;
	*rec = r->buf + r->start + n;
	*len = body;
	r->start += whole;
	r->checked = r->checked > whole ? r->checked - whole : 0;
	return TW_OK;
}

/* ---- parsing ---- */

static int hubmp__errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int hubmp__errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return TW_ERR_JSON;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return TW_ERR_JSON;
}

/* Big-endian unsigned integer of n bytes (n <= 8). */
static uint64_t hubmp__be(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Sizes of the format starting with byte b (0xc0..0xdf): bytes of its
 * length or count field, fixed payload bytes, and what the length counts. */
enum hubmp__counts { HUBMP_BYTES, HUBMP_ITEMS, HUBMP_PAIRS };

struct hubmp__fmt {
	unsigned lenbytes;	/* size of the length/count field */
	unsigned fixed;		/* payload bytes besides the counted ones */
	enum hubmp__counts counts;
};

static int hubmp__format(unsigned char b, struct hubmp__fmt *f)
{
	static const unsigned char lens[4] = { 1, 2, 4, 8 };

	memset(f, 0, sizeof(*f));
	if (b == 0xc0 || b == 0xc2 || b == 0xc3)
		return 0;
	if (b >= 0xc4 && b <= 0xc6)		/* bin 8/16/32 */
		f->lenbytes = lens[b - 0xc4];
	else if (b >= 0xc7 && b <= 0xc9)	/* ext 8/16/32: then the type byte */
		f->lenbytes = lens[b - 0xc7], f->fixed = 1;
	else if (b == 0xca || b == 0xcb)	/* float 32/64 */
		f->fixed = b == 0xca ? 4 : 8;
	else if (b >= 0xcc && b <= 0xcf)	/* uint 8..64 */
		f->fixed = lens[b - 0xcc];
	else if (b >= 0xd0 && b <= 0xd3)	/* int 8..64 */
		f->fixed = lens[b - 0xd0];
	else if (b >= 0xd4 && b <= 0xd8)	/* fixext 1..16: type byte and data */
		f->fixed = 1 + (1u << (b - 0xd4));
	else if (b >= 0xd9 && b <= 0xdb)	/* str 8/16/32 */
		f->lenbytes = lens[b - 0xd9];
	else if (b == 0xdc || b == 0xdd)	/* array 16/32 */
		f->lenbytes = b == 0xdc ? 2 : 4, f->counts = HUBMP_ITEMS;
	else if (b == 0xde || b == 0xdf)	/* map 16/32 */
		f->lenbytes = b == 0xde ? 2 : 4, f->counts = HUBMP_PAIRS;
	else
		return -1;			/* 0xc1: never used */
	return 0;
}

/* Walks the value at p[*off..len) without building it: checks that it is
 * complete and nests no deeper than TW_HUBMP_MAX_DEPTH. It runs before
 * msgpack-c sees the bytes, because msgpack-c allocates room for a
 * container's declared count before reading its elements. */
static int hubmp__skip(const unsigned char *p, size_t len, size_t *off, int depth,
		       char *err, size_t errlen)
{
	struct hubmp__fmt f;
	uint64_t count = 0, nested = 0;
	size_t at = *off;
	unsigned char b;

	if (at >= len)
		return hubmp__errf(err, errlen, "message is truncated: a value is missing at byte %zu",
				   at);
	b = p[at];
	if (b <= 0x7f || b >= 0xe0)
		f = (struct hubmp__fmt){ 0, 0, HUBMP_BYTES };
	else if (b >= 0xa0 && b <= 0xbf)
		f = (struct hubmp__fmt){ 0, 0, HUBMP_BYTES }, count = b & 0x1f;
	else if (b >= 0x90 && b <= 0x9f)
		f = (struct hubmp__fmt){ 0, 0, HUBMP_ITEMS }, count = b & 0x0f;
	else if (b >= 0x80 && b <= 0x8f)
		f = (struct hubmp__fmt){ 0, 0, HUBMP_PAIRS }, count = b & 0x0f;
	else if (hubmp__format(b, &f) != 0)
		return hubmp__errf(err, errlen, "byte 0x%02x at byte %zu is not a MessagePack format",
				   b, at);
	at++;
	if (len - at < f.lenbytes)
		return hubmp__errf(err, errlen, "message is truncated inside the header at byte %zu",
				   at - 1);
	if (f.lenbytes)
		count = hubmp__be(p + at, f.lenbytes);
	at += f.lenbytes;
	if (f.counts == HUBMP_BYTES) {
		if (len - at < f.fixed || len - at - f.fixed < count)
			return hubmp__errf(err, errlen,
					   "message is truncated: the value at byte %zu needs %llu bytes more than there are",
					   *off, (unsigned long long)(f.fixed + count - (len - at)));
		*off = at + f.fixed + (size_t)count;
		return TW_OK;
	}
	if (depth >= TW_HUBMP_MAX_DEPTH)
		return hubmp__errf(err, errlen, "arrays and maps nest deeper than %d at byte %zu",
				   TW_HUBMP_MAX_DEPTH, *off);
	nested = f.counts == HUBMP_PAIRS ? count * 2 : count;
	if (nested > len - at)	/* every value takes one byte at least */
		return hubmp__errf(err, errlen,
				   "message is truncated: the %s at byte %zu declares %llu elements",
				   f.counts == HUBMP_PAIRS ? "map" : "array", *off,
				   (unsigned long long)count);
	*off = at;
	for (uint64_t i = 0; i < nested; i++) {
		int rc = hubmp__skip(p, len, off, depth + 1, err, errlen);

		if (rc != TW_OK)
			return rc;
	}
	return TW_OK;
}

static int hubmp__scan(const unsigned char *p, size_t len, char *err, size_t errlen)
{
	size_t off = 0;
	int rc;

	if (len == 0)
		return hubmp__errf(err, errlen, "empty message: a message must be a MessagePack array");
	rc = hubmp__skip(p, len, &off, 0, err, errlen);
	if (rc == TW_OK && off != len)
		return hubmp__errf(err, errlen, "%zu trailing bytes after the message array", len - off);
	return rc;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, up to U+10FFFF. */
static int hubmp__utf8_ok(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], cp, min;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3, cp = c & 0x07, min = 0x10000;
		else
			return 0;
		if (n - i - 1 < k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

static const char *hubmp__kind(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return "nil";
	case MSGPACK_OBJECT_BOOLEAN: return "a boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "an integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return "a float";
	case MSGPACK_OBJECT_STR: return "a string";
	case MSGPACK_OBJECT_ARRAY: return "an array";
	case MSGPACK_OBJECT_MAP: return "a map";
	case MSGPACK_OBJECT_BIN: return "binary";
	case MSGPACK_OBJECT_EXT: return "an extension type";
	}
	return "unknown";
}

static int hubmp__value(const msgpack_object *o, json_t **out, const char *field,
			char *err, size_t errlen);

static int hubmp__string(const char *s, size_t n, json_t **out, const char *field,
			 char *err, size_t errlen)
{
	if (!hubmp__utf8_ok(s, n))
		return hubmp__errf(err, errlen, "field \"%s\": a string is not valid UTF-8", field);
	*out = json_stringn_nocheck(n ? s : "", n);
	return *out ? TW_OK : TW_ERR_NOMEM;
}

/* bin becomes a padded base64 string, as the JSON protocol carries bytes. */
static int hubmp__binary(const msgpack_object_bin *b, json_t **out, const char *field,
			 char *err, size_t errlen)
{
	size_t cap = (size_t)b->size / 3 * 4 + 5;
	unsigned char *text;
	int n;

	if (b->size > INT_MAX / 4 * 3 - 3)
		return hubmp__errf(err, errlen, "field \"%s\": binary value is too long", field);
	text = malloc(cap);
	if (!text)
		return TW_ERR_NOMEM;
	n = EVP_EncodeBlock(text, (const unsigned char *)(b->size ? b->ptr : ""), (int)b->size);
	*out = json_stringn_nocheck((const char *)text, (size_t)n);
	free(text);
	return *out ? TW_OK : TW_ERR_NOMEM;
}

static int hubmp__array(const msgpack_object_array *a, json_t **out, const char *field,
			char *err, size_t errlen)
{
	json_t *arr = json_array();

	if (!arr)
		return TW_ERR_NOMEM;
	for (uint32_t i = 0; i < a->size; i++) {
		json_t *v;
		int rc = hubmp__value(&a->ptr[i], &v, field, err, errlen);

		if (rc == TW_OK && json_array_append_new(arr, v) != 0)
			rc = TW_ERR_NOMEM;
		if (rc != TW_OK) {
			json_decref(arr);
			return rc;
		}
	}
	*out = arr;
	return TW_OK;
}

static int hubmp__map_entry(json_t *obj, const msgpack_object_kv *kv, const char *field,
			    char *err, size_t errlen)
{
	const msgpack_object_str *k = &kv->key.via.str;
	const char *key;
	json_t *v;
	int rc;

	if (kv->key.type != MSGPACK_OBJECT_STR)
		return hubmp__errf(err, errlen, "field \"%s\": a map key must be a string, not %s",
				   field, hubmp__kind(&kv->key));
	key = k->size ? k->ptr : "";
	if (!hubmp__utf8_ok(key, k->size))
		return hubmp__errf(err, errlen, "field \"%s\": a map key is not valid UTF-8", field);
	if (json_object_getn(obj, key, k->size))
		return hubmp__errf(err, errlen, "field \"%s\": duplicate map key \"%.*s\"", field,
				   k->size > 64 ? 64 : (int)k->size, key);
	rc = hubmp__value(&kv->val, &v, field, err, errlen);
	if (rc != TW_OK)
		return rc;
	return json_object_setn_new_nocheck(obj, key, k->size, v) == 0 ? TW_OK : TW_ERR_NOMEM;
}

static int hubmp__map(const msgpack_object_map *m, json_t **out, const char *field,
		      char *err, size_t errlen)
{
	json_t *obj = json_object();

	if (!obj)
		return TW_ERR_NOMEM;
	for (uint32_t i = 0; i < m->size; i++) {
		int rc = hubmp__map_entry(obj, &m->ptr[i], field, err, errlen);

		if (rc != TW_OK) {
			json_decref(obj);
			return rc;
		}
	}
	*out = obj;
	return TW_OK;
}

static int hubmp__ext(const msgpack_object_ext *e, const char *field, char *err, size_t errlen)
{
	if (e->type == -1)
		return hubmp__errf(err, errlen,
				   "field \"%s\": a timestamp (extension type -1) is not supported", field);
	return hubmp__errf(err, errlen, "field \"%s\": extension type %d is not supported", field,
			   e->type);
}

/* Converts one MessagePack value to JSON; field names it in errors. */
static int hubmp__value(const msgpack_object *o, json_t **out, const char *field,
			char *err, size_t errlen)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		*out = json_null();
		return TW_OK;
	case MSGPACK_OBJECT_BOOLEAN:
		*out = json_boolean(o->via.boolean);
		return TW_OK;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*out = o->via.u64 > (uint64_t)LLONG_MAX ? json_real((double)o->via.u64)
							: json_integer((json_int_t)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = json_integer((json_int_t)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64))
			return hubmp__errf(err, errlen,
					   "field \"%s\": NaN and infinite numbers have no JSON form", field);
		*out = json_real(o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		return hubmp__string(o->via.str.ptr, o->via.str.size, out, field, err, errlen);
	case MSGPACK_OBJECT_BIN:
		return hubmp__binary(&o->via.bin, out, field, err, errlen);
	case MSGPACK_OBJECT_ARRAY:
		return hubmp__array(&o->via.array, out, field, err, errlen);
	case MSGPACK_OBJECT_MAP:
		return hubmp__map(&o->via.map, out, field, err, errlen);
	case MSGPACK_OBJECT_EXT:
		return hubmp__ext(&o->via.ext, field, err, errlen);
	default:
		return hubmp__errf(err, errlen, "field \"%s\": unknown MessagePack value", field);
	}
	return *out ? TW_OK : TW_ERR_NOMEM;
}

/* One message array being read into root. */
struct hubmp__ctx {
	const msgpack_object *item;
	uint32_t n;
	const char *what;	/* "Invocation", ... for errors */
	json_t *root;
	char *err;
	size_t errlen;
};

enum {
	HUBMP_NIL_OK = 1,	/* nil is accepted and left out */
	HUBMP_EMPTY_IS_NIL = 2,	/* "" is left out */
	HUBMP_NONEMPTY = 4,	/* "" is refused */
};

static int hubmp__wrong(struct hubmp__ctx *c, uint32_t i, const char *name, const char *want)
{
	return hubmp__errf(c->err, c->errlen, "%s element %u (\"%s\") must be %s, not %s", c->what,
			   (unsigned)i, name, want, hubmp__kind(&c->item[i]));
}

/* Converts element i into root[name]. */
static int hubmp__put(struct hubmp__ctx *c, uint32_t i, const char *name)
{
	json_t *v;
	int rc = hubmp__value(&c->item[i], &v, name, c->err, c->errlen);

	if (rc != TW_OK)
		return rc;
	return json_object_set_new(c->root, name, v) == 0 ? TW_OK : TW_ERR_NOMEM;
}

static int hubmp__need(struct hubmp__ctx *c, uint32_t n)
{
	if (c->n >= n)
		return TW_OK;
	return hubmp__errf(c->err, c->errlen, "%s message needs %u elements, got %u", c->what,
			   (unsigned)n, (unsigned)c->n);
}

static int hubmp__put_string(struct hubmp__ctx *c, uint32_t i, const char *name, int flags)
{
	const msgpack_object *o = &c->item[i];

	if (o->type == MSGPACK_OBJECT_NIL && (flags & HUBMP_NIL_OK))
		return TW_OK;
	if (o->type != MSGPACK_OBJECT_STR)
		return hubmp__wrong(c, i, name, (flags & HUBMP_NIL_OK) ? "a string or nil" :
			(flags & HUBMP_NONEMPTY) ? "a non-empty string" : "a string");
	if (o->via.str.size == 0 && (flags & HUBMP_EMPTY_IS_NIL))
		return TW_OK;
	if (o->via.str.size == 0 && (flags & HUBMP_NONEMPTY))
		return hubmp__errf(c->err, c->errlen, "%s element %u (\"%s\") must not be empty",
				   c->what, (unsigned)i, name);
	return hubmp__put(c, i, name);
}

/* Headers: a map of strings to strings. */
static int hubmp__put_headers(struct hubmp__ctx *c, uint32_t i)
{
	const msgpack_object *o = &c->item[i];

	if (o->type != MSGPACK_OBJECT_MAP)
		return hubmp__wrong(c, i, "headers", "a map");
	for (uint32_t k = 0; k < o->via.map.size; k++)
		if (o->via.map.ptr[k].key.type != MSGPACK_OBJECT_STR ||
		    o->via.map.ptr[k].val.type != MSGPACK_OBJECT_STR)
			return hubmp__errf(c->err, c->errlen,
					   "%s element %u (\"headers\") must map strings to strings",
					   c->what, (unsigned)i);
	return hubmp__put(c, i, "headers");
}

/* [1|4, Headers, InvocationId, Target, [Arguments], [StreamIds]?] */
static int hubmp__invocation(struct hubmp__ctx *c, int stream)
{
	const msgpack_object *ids = c->n > 5 ? &c->item[5] : NULL;
	int rc = hubmp__need(c, 5);

	if (rc == TW_OK)
		rc = hubmp__put_headers(c, 1);
	if (rc == TW_OK)
		rc = hubmp__put_string(c, 2, "invocationId",
				       stream ? HUBMP_NONEMPTY : HUBMP_NIL_OK | HUBMP_EMPTY_IS_NIL);
	if (rc == TW_OK)
		rc = hubmp__put_string(c, 3, "target", HUBMP_NONEMPTY);
	if (rc == TW_OK && c->item[4].type != MSGPACK_OBJECT_ARRAY)
		rc = hubmp__wrong(c, 4, "arguments", "an array");
	if (rc == TW_OK)
		rc = hubmp__put(c, 4, "arguments");
	if (rc != TW_OK || !ids)
		return rc;
	if (ids->type != MSGPACK_OBJECT_ARRAY)
		return hubmp__wrong(c, 5, "streamIds", "an array");
	for (uint32_t k = 0; k < ids->via.array.size; k++)
		if (ids->via.array.ptr[k].type != MSGPACK_OBJECT_STR)
			return hubmp__errf(c->err, c->errlen,
					   "%s element 5 (\"streamIds\") must hold strings only", c->what);
	return hubmp__put(c, 5, "streamIds");
}

/* [2, Headers, InvocationId, Item] and [5, Headers, InvocationId] */
static int hubmp__stream_item(struct hubmp__ctx *c, int has_item)
{
	int rc = hubmp__need(c, has_item ? 4 : 3);

	if (rc == TW_OK)
		rc = hubmp__put_headers(c, 1);
	if (rc == TW_OK)
		rc = hubmp__put_string(c, 2, "invocationId", HUBMP_NONEMPTY);
	if (rc == TW_OK && has_item)
		rc = hubmp__put(c, 3, "item");
	return rc;
}

/* [3, Headers, InvocationId, ResultKind, Result?]: 1 error, 2 void, 3 result */
static int hubmp__completion(struct hubmp__ctx *c)
{
	const msgpack_object *kind;
	int rc = hubmp__need(c, 4);

	if (rc == TW_OK)
		rc = hubmp__put_headers(c, 1);
	if (rc == TW_OK)
		rc = hubmp__put_string(c, 2, "invocationId", HUBMP_NONEMPTY);
	if (rc != TW_OK)
		return rc;
	kind = &c->item[3];
	if (kind->type != MSGPACK_OBJECT_POSITIVE_INTEGER || kind->via.u64 < 1 || kind->via.u64 > 3)
		return hubmp__errf(c->err, c->errlen,
				   "Completion element 3 (\"resultKind\") must be 1, 2 or 3");
	if (kind->via.u64 == 2)
		return TW_OK;
	rc = hubmp__need(c, 5);
	if (rc != TW_OK)
		return rc;
	if (kind->via.u64 == 1)
		return hubmp__put_string(c, 4, "error", 0);
	return hubmp__put(c, 4, "result");
}

/* [7, Error, AllowReconnect?] */
static int hubmp__close(struct hubmp__ctx *c)
{
	int rc = hubmp__need(c, 2);

	if (rc == TW_OK)
		rc = hubmp__put_string(c, 1, "error", HUBMP_NIL_OK);
	if (rc != TW_OK || c->n < 3)
		return rc;
	if (c->item[2].type != MSGPACK_OBJECT_BOOLEAN)
		return hubmp__wrong(c, 2, "allowReconnect", "a boolean");
	return hubmp__put(c, 2, "allowReconnect");
}

/* [8|9, SequenceId] */
static int hubmp__sequence(struct hubmp__ctx *c)
{
	int rc = hubmp__need(c, 2);

	if (rc != TW_OK)
		return rc;
	if (c->item[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || c->item[1].via.u64 > LLONG_MAX)
		return hubmp__wrong(c, 1, "sequenceId", "a non-negative 64-bit integer");
	return hubmp__put(c, 1, "sequenceId");
}

static const char *const hubmp__names[] = {
	NULL, "Invocation", "StreamItem", "Completion", "StreamInvocation",
	"CancelInvocation", "Ping", "Close", "Ack", "Sequence",
};

static int hubmp__fields(struct hubmp__ctx *c, int type)
{
	switch (type) {
	case TW_HUBMSG_INVOCATION: return hubmp__invocation(c, 0);
	case TW_HUBMSG_STREAM_INVOCATION: return hubmp__invocation(c, 1);
	case TW_HUBMSG_STREAM_ITEM: return hubmp__stream_item(c, 1);
	case TW_HUBMSG_CANCEL_INVOCATION: return hubmp__stream_item(c, 0);
	case TW_HUBMSG_COMPLETION: return hubmp__completion(c);
	case TW_HUBMSG_CLOSE: return hubmp__close(c);
	case TW_HUBMSG_ACK:
	case TW_HUBMSG_SEQUENCE: return hubmp__sequence(c);
	default: return TW_OK;	/* Ping: nothing past the type */
	}
}

/* Reads the message type; returns it, or a negative error code. */
static int hubmp__type(const msgpack_object *o, char *err, size_t errlen)
{
	const msgpack_object *t;

	if (o->type != MSGPACK_OBJECT_ARRAY)
		return hubmp__errf(err, errlen, "a message must be a MessagePack array, not %s",
				   hubmp__kind(o));
	if (o->via.array.size == 0)
		return hubmp__errf(err, errlen, "a message must be a non-empty array");
	t = &o->via.array.ptr[0];
	if (t->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		snprintf(err, errlen, "unknown message type %lld", (long long)t->via.i64);
		return TW_ERR_PROTOCOL;
	}
	if (t->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return hubmp__errf(err, errlen,
				   "the first element (the message type) must be an integer, not %s",
				   hubmp__kind(t));
	if (t->via.u64 < TW_HUBMSG_INVOCATION || t->via.u64 > TW_HUBMSG_SEQUENCE) {
		snprintf(err, errlen, "unknown message type %llu", (unsigned long long)t->via.u64);
		return TW_ERR_PROTOCOL;
	}
	return (int)t->via.u64;
}

static const char *hubmp__get_string(json_t *root, const char *name)
{
	return json_string_value(json_object_get(root, name));
}

static int hubmp__message(const msgpack_object *o, struct tw_hubmsg *m, char *err, size_t errlen)
{
	struct hubmp__ctx c;
	int type = hubmp__type(o, err, errlen), rc;

	if (type < 0)
		return type;
	m->type = type;
	m->root = json_object();
	if (!m->root || json_object_set_new(m->root, "type", json_integer(type)) != 0)
		return TW_ERR_NOMEM;
	c = (struct hubmp__ctx){ o->via.array.ptr, o->via.array.size, hubmp__names[type], m->root,
				 err, errlen };
	rc = hubmp__fields(&c, type);
	if (rc != TW_OK)
		return rc;
	m->target = hubmp__get_string(m->root, "target");
	m->invocation_id = hubmp__get_string(m->root, "invocationId");
	m->error = hubmp__get_string(m->root, "error");
	if (type == TW_HUBMSG_INVOCATION || type == TW_HUBMSG_STREAM_INVOCATION)
		m->arguments = json_object_get(m->root, "arguments");
	return TW_OK;
}

int tw_hubmp_parse(const void *rec, size_t len, struct tw_hubmsg *m, char *err, size_t errlen)
{
	msgpack_unpacked u;
	size_t off = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = hubmp__scan(rec, len, err, errlen);
	if (rc != TW_OK)
		return rc;
	msgpack_unpacked_init(&u);
	switch (msgpack_unpack_next(&u, rec, len, &off)) {
	case MSGPACK_UNPACK_SUCCESS:
		rc = off == len ? hubmp__message(&u.data, m, err, errlen)
				: hubmp__errf(err, errlen, "trailing bytes after the message array");
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		rc = TW_ERR_NOMEM;
		break;
	default:
		rc = hubmp__errf(err, errlen, "not valid MessagePack");
		break;
	}
	msgpack_unpacked_destroy(&u);
	if (rc == TW_ERR_NOMEM && errlen)
		snprintf(err, errlen, "out of memory");
	if (rc != TW_OK)
		tw_hubmsg_free(m);
	return rc;
}

/* ---- encoding ---- */

static int hubmp__write(void *data, const char *buf, size_t len)
{
	return tw_buf_append(data, buf, len) == TW_OK ? 0 : -1;
}

/* A msgpack-c pack call's result: non-zero only when the buffer failed. */
static int hubmp__ok(int packed)
{
	return packed == 0 ? TW_OK : TW_ERR_NOMEM;
}

static int hubmp__pack_str(msgpack_packer *pk, const char *s)
{
	size_t n;

	if (!s)
		return TW_ERR_INVAL;
	n = strlen(s);
	if (!hubmp__utf8_ok(s, n))
		return TW_ERR_INVAL;
	return hubmp__ok(msgpack_pack_str_with_body(pk, s, n));
}

static int hubmp__pack_json(msgpack_packer *pk, const json_t *v, int depth);

static int hubmp__pack_array(msgpack_packer *pk, const json_t *a, int depth)
{
	size_t n = json_array_size(a);
	int rc = hubmp__ok(msgpack_pack_array(pk, n));

	for (size_t i = 0; i < n && rc == TW_OK; i++)
		rc = hubmp__pack_json(pk, json_array_get(a, i), depth + 1);
	return rc;
}

static int hubmp__pack_object(msgpack_packer *pk, const json_t *o, int depth)
{
	json_t *obj = (json_t *)o;	/* jansson's iterators take no const */
	int rc = hubmp__ok(msgpack_pack_map(pk, json_object_size(o)));

	for (void *it = json_object_iter(obj); it && rc == TW_OK; it = json_object_iter_next(obj, it)) {
		rc = hubmp__ok(msgpack_pack_str_with_body(pk, json_object_iter_key(it),
							  json_object_iter_key_len(it)));
		if (rc == TW_OK)
			rc = hubmp__pack_json(pk, json_object_iter_value(it), depth + 1);
	}
	return rc;
}

/* depth: the containers around v, the message array included. */
static int hubmp__pack_json(msgpack_packer *pk, const json_t *v, int depth)
{
	if (!v)
		return TW_ERR_INVAL;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		if (depth >= TW_HUBMP_MAX_DEPTH)
			return TW_ERR_INVAL;
		return json_is_array(v) ? hubmp__pack_array(pk, v, depth)
					: hubmp__pack_object(pk, v, depth);
	case JSON_STRING:
		return hubmp__ok(msgpack_pack_str_with_body(pk, json_string_value(v),
							    json_string_length(v)));
	case JSON_INTEGER:
		return hubmp__ok(msgpack_pack_int64(pk, json_integer_value(v)));
	case JSON_REAL:
		return hubmp__ok(msgpack_pack_double(pk, json_real_value(v)));
	case JSON_TRUE:
		return hubmp__ok(msgpack_pack_true(pk));
	case JSON_FALSE:
		return hubmp__ok(msgpack_pack_false(pk));
	case JSON_NULL:
		return hubmp__ok(msgpack_pack_nil(pk));
	}
	return TW_ERR_INVAL;
}

/* Puts the length prefix in front of the body written since mark. */
static int hubmp__frame(struct tw_buf *out, size_t mark)
{
	unsigned char pre[TW_HUBMP_MAX_PREFIX];
	size_t body = out->len - mark, v = body, n = 0;
	int rc;

	if (body > HUBMP_MAX_LENGTH)
		return TW_ERR_INVAL;
	do {
		pre[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			pre[n] |= 0x80;
		n++;
	} while (v);
	rc = tw_buf_reserve(out, n);
	if (rc != TW_OK)
		return rc;
	memmove(out->data + mark + n, out->data + mark, body);
	memcpy(out->data + mark, pre, n);
	out->len += n;
	return TW_OK;
}

/* Frames the message packed since mark, or rolls out back on failure. */
static int hubmp__end(struct tw_buf *out, size_t mark, int rc)
{
	if (rc == TW_OK)
		rc = hubmp__frame(out, mark);
	if (rc != TW_OK)
		out->len = mark;
	return rc;
}

int tw_hubmp_encode_invocation(struct tw_buf *out, const char *target, const json_t *args)
{
	msgpack_packer pk;
	size_t mark = out->len;
	int rc;

	if (!json_is_array(args))
		return TW_ERR_INVAL;
	msgpack_packer_init(&pk, out, hubmp__write);
	rc = hubmp__ok(msgpack_pack_array(&pk, 6) || msgpack_pack_uint8(&pk, TW_HUBMSG_INVOCATION) ||
		       msgpack_pack_map(&pk, 0) || msgpack_pack_nil(&pk));
	if (rc == TW_OK)
		rc = hubmp__pack_str(&pk, target);
	if (rc == TW_OK)
		rc = hubmp__pack_json(&pk, args, 1);
	if (rc == TW_OK)
		rc = hubmp__ok(msgpack_pack_array(&pk, 0));
	return hubmp__end(out, mark, rc);
}

int tw_hubmp_encode_completion(struct tw_buf *out, const char *invocation_id, const char *error,
			       const json_t *result)
{
	int kind = error ? 1 : result ? 3 : 2;
	msgpack_packer pk;
	size_t mark = out->len;
	int rc;

	msgpack_packer_init(&pk, out, hubmp__write);
	rc = hubmp__ok(msgpack_pack_array(&pk, kind == 2 ? 4 : 5) ||
		       msgpack_pack_uint8(&pk, TW_HUBMSG_COMPLETION) || msgpack_pack_map(&pk, 0));
	if (rc == TW_OK)
		rc = hubmp__pack_str(&pk, invocation_id);
	if (rc == TW_OK)
		rc = hubmp__ok(msgpack_pack_uint8(&pk, (uint8_t)kind));
	if (rc == TW_OK && kind == 1)
		rc = hubmp__pack_str(&pk, error);
	else if (rc == TW_OK && kind == 3)
		rc = hubmp__pack_json(&pk, result, 1);
	return hubmp__end(out, mark, rc);
}

int tw_hubmp_encode_ping(struct tw_buf *out)
{
	static const unsigned char ping[] = { 0x02, 0x91, TW_HUBMSG_PING };

	return tw_buf_append(out, ping, sizeof(ping));
}

int tw_hubmp_encode_close(struct tw_buf *out, const char *error, int allow_reconnect)
{
	msgpack_packer pk;
	size_t mark = out->len;
	int rc;

	msgpack_packer_init(&pk, out, hubmp__write);
	rc = hubmp__ok(msgpack_pack_array(&pk, 3) || msgpack_pack_uint8(&pk, TW_HUBMSG_CLOSE));
	if (rc == TW_OK && error && *error)
		rc = hubmp__pack_str(&pk, error);
	else if (rc == TW_OK)
		rc = hubmp__ok(msgpack_pack_nil(&pk));
	if (rc == TW_OK)
		rc = hubmp__ok(allow_reconnect ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk));
	return hubmp__end(out, mark, rc);
}
