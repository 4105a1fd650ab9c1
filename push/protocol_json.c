/* protocol_json.c -- SignalR JSON hub protocol codec over buffers (pure: no I/O, no logging) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "protocol_json.h"

void tw_hubproto_reader_init(struct tw_hubproto_reader *r, size_t max_record)
{
	memset(r, 0, sizeof(*r));
	r->max_record = max_record;
}

void tw_hubproto_reader_free(struct tw_hubproto_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Drops consumed bytes so the buffer never holds more than one partial
 * record plus what one feed adds. */
static void reader__compact(struct tw_hubproto_reader *r)
{
	if (r->start == 0)
		return;
	memmove(r->buf, r->buf + r->start, r->len - r->start);
	r->len -= r->start;
	r->start = 0;
}

static int reader__append(struct tw_hubproto_reader *r, const void *data, size_t n)
{
	if (n == 0)
		return TW_OK;
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 1024;
		char *p;

		while (cap < r->len + n)
			cap *= 2;
		p = realloc(r->buf, cap);
		if (!p)
			return TW_ERR_NOMEM;
		r->buf = p;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	return TW_OK;
}

/* Checks every record in the buffer against max_record, without consuming. */
static int reader__check(struct tw_hubproto_reader *r)
{
	size_t pos = r->start + r->scanned, rec_start = r->start;

	while (pos < r->len) {
		const char *sep = memchr(r->buf + pos, TW_HUBPROTO_RS, r->len - pos);

		if (!sep)
			break;
		if ((size_t)(sep - r->buf) - rec_start > r->max_record)
			return TW_ERR_LIMIT;
		pos = rec_start = (size_t)(sep - r->buf) + 1;
	}
	if (r->len - rec_start > r->max_record)
		return TW_ERR_LIMIT;
	/* Only the first record's scan state is kept; later ones are rescanned. */
	if (rec_start == r->start)
		r->scanned = r->len - r->start;
	return TW_OK;
}

int tw_hubproto_feed(struct tw_hubproto_reader *r, const void *data, size_t n)
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

int tw_hubproto_next(struct tw_hubproto_reader *r, const char **rec, size_t *len)
{
	const char *sep;

	if (r->failed)
		return TW_ERR_LIMIT;
	sep = r->len > r->start ? memchr(r->buf + r->start, TW_HUBPROTO_RS, r->len - r->start)
				: NULL;
	if (!sep)
		return TW_ERR_INCOMPLETE;
	*rec = r->buf + r->start;
	*len = (size_t)(sep - *rec);
	r->start += *len + 1;
	r->scanned = 0;
	return TW_OK;
}

json_t *tw_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err)
{
	json_t *v = json_loadb(buf, len, flags | JSON_ALLOW_NUL, err);

	if (!v && strncmp(err->text, "too big integer", 15) == 0)
		v = json_loadb(buf, len, flags | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, err);
	return v;
}

static json_t *hubproto__load(const char *rec, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = tw_json_loadb(rec, len, JSON_REJECT_DUPLICATES, &je);

	if (!root) {
		snprintf(err, errlen, "not valid JSON: %s (column %d)", je.text, je.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "a message must be a JSON object");
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Reads an optional string field; returns -1 if present with another type. */
static int hubproto__opt_string(json_t *o, const char *name, const char **out,
				char *err, size_t errlen)
{
	json_t *v = json_object_get(o, name);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "field \"%s\" must be a string without NUL characters", name);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int hubproto__invocation(struct tw_hubmsg *m, char *err, size_t errlen)
{
	if (!m->target || !*m->target) {
		snprintf(err, errlen, "an invocation needs a string \"target\"");
		return TW_ERR_JSON;
	}
	m->arguments = json_object_get(m->root, "arguments");
	if (!json_is_array(m->arguments)) {
		snprintf(err, errlen, "field \"arguments\" of an invocation must be an array");
		return TW_ERR_JSON;
	}
	return TW_OK;
}

static int hubproto__fields(struct tw_hubmsg *m, char *err, size_t errlen)
{
	json_t *type = json_object_get(m->root, "type");
	double t = json_number_value(type);

	/* A real only when the record held an integer past 64 bits (tw_json_loadb). */
	if (!json_is_integer(type) && !(json_is_real(type) && t == (double)(long long)t)) {
		snprintf(err, errlen, "field \"type\" is missing or not an integer");
		return TW_ERR_JSON;
	}
	if (t < TW_HUBMSG_INVOCATION || t > TW_HUBMSG_SEQUENCE) {
		snprintf(err, errlen, "unknown message type %lld", (long long)t);
		return TW_ERR_PROTOCOL;
	}
	m->type = (int)t;
	if (hubproto__opt_string(m->root, "target", &m->target, err, errlen) ||
	    hubproto__opt_string(m->root, "invocationId", &m->invocation_id, err, errlen) ||
	    hubproto__opt_string(m->root, "error", &m->error, err, errlen))
		return TW_ERR_JSON;
	if (m->type == TW_HUBMSG_INVOCATION || m->type == TW_HUBMSG_STREAM_INVOCATION)
		return hubproto__invocation(m, err, errlen);
	return TW_OK;
}

int tw_hubproto_parse(const char *rec, size_t len, struct tw_hubmsg *m, char *err, size_t errlen)
{
	int rc;

	memset(m, 0, sizeof(*m));
	m->root = hubproto__load(rec, len, err, errlen);
	if (!m->root)
		return TW_ERR_JSON;
	rc = hubproto__fields(m, err, errlen);
	if (rc != TW_OK)
		tw_hubmsg_free(m);
	return rc;
}

void tw_hubmsg_free(struct tw_hubmsg *m)
{
	json_decref(m->root);
	memset(m, 0, sizeof(*m));
}

int tw_hubproto_parse_handshake(const char *rec, size_t len, int *protocol, char *err,
				size_t errlen)
{
	json_t *root = hubproto__load(rec, len, err, errlen), *proto, *ver;
	const char *name;
	int rc = TW_ERR_PROTOCOL;

	if (!root)
		return TW_ERR_JSON;
	proto = json_object_get(root, "protocol");
	ver = json_object_get(root, "version");
	name = json_string_value(proto);
	if (!name || !json_is_integer(ver)) {
		snprintf(err, errlen, "handshake needs a string \"protocol\" and an integer \"version\"");
		rc = TW_ERR_JSON;
	} else if (strcmp(name, "json") != 0 && strcmp(name, "messagepack") != 0) {
		snprintf(err, errlen, "The protocol '%.64s' is not supported.", name);
	} else if (json_integer_value(ver) != 1) {
		snprintf(err, errlen, "The server does not support version %lld of the '%s' protocol.",
			 (long long)json_integer_value(ver), name);
	} else {
		*protocol = strcmp(name, "json") == 0 ? TW_HUBPROTO_JSON : TW_HUBPROTO_MSGPACK;
		rc = TW_OK;
	}
	json_decref(root);
	return rc;
}

/* Appends v as compact JSON, written straight into the buffer: once when
 * it fits in what the buffer has free (or 512 bytes more), else again
 * into the room json_dumpb said it needs. */
static int hubproto__dump(struct tw_buf *out, const json_t *v)
{
	size_t n, room;
	int rc = tw_buf_reserve(out, 512);

	if (rc != TW_OK)
		return rc;
	room = out->cap - out->len;
	n = json_dumpb(v, out->data + out->len, room, JSON_COMPACT | JSON_ENCODE_ANY);
	if (n == 0)
		return TW_ERR_INVAL;
	if (n > room) {
		rc = tw_buf_reserve(out, n);
		if (rc != TW_OK)
			return rc;
		if (json_dumpb(v, out->data + out->len, n, JSON_COMPACT | JSON_ENCODE_ANY) != n)
			return TW_ERR_INVAL;
	}
	out->len += n;
	return TW_OK;
}

static int hubproto__string(struct tw_buf *out, const char *s)
{
	json_t *v = json_string(s);
	int rc;

	if (!v)
		return TW_ERR_INVAL; /* NULL or not UTF-8 */
	rc = hubproto__dump(out, v);
	json_decref(v);
	return rc;
}

static int hubproto__end(struct tw_buf *out, int rc)
{
	static const char tail[] = { '}', TW_HUBPROTO_RS };

	return rc != TW_OK ? rc : tw_buf_append(out, tail, sizeof(tail));
}

int tw_hubproto_encode_handshake(struct tw_buf *out, const char *error)
{
	int rc;

	if (!error)
		return hubproto__end(out, tw_buf_puts(out, "{"));
	rc = tw_buf_puts(out, "{\"error\":");
	if (rc == TW_OK)
		rc = hubproto__string(out, error);
	return hubproto__end(out, rc);
}

int tw_hubproto_encode_invocation(struct tw_buf *out, const char *target, const json_t *args)
{
	size_t mark = out->len;
	int rc;

	if (!json_is_array(args))
		return TW_ERR_INVAL;
	rc = tw_buf_puts(out, "{\"type\":1,\"target\":");
	if (rc == TW_OK)
		rc = hubproto__string(out, target);
	if (rc == TW_OK)
		rc = tw_buf_puts(out, ",\"arguments\":");
	if (rc == TW_OK)
		rc = hubproto__dump(out, args);
	rc = hubproto__end(out, rc);
	if (rc != TW_OK)
		out->len = mark;
	return rc;
}

int tw_hubproto_encode_invocation_text(struct tw_buf *out, const char *target,
				       const char *args, size_t len)
{
	size_t mark = out->len;
	int rc = tw_buf_puts(out, "{\"type\":1,\"target\":");

	if (rc == TW_OK)
		rc = hubproto__string(out, target);
	if (rc == TW_OK)
		rc = tw_buf_puts(out, ",\"arguments\":");
	if (rc == TW_OK)
		rc = tw_buf_append(out, args, len);
	rc = hubproto__end(out, rc);
	if (rc != TW_OK)
		out->len = mark;
	return rc;
}

int tw_hubproto_encode_completion(struct tw_buf *out, const char *invocation_id, const char *error,
				  const json_t *result)
{
	size_t mark = out->len;
	int rc = tw_buf_puts(out, "{\"type\":3,\"invocationId\":");

	if (rc == TW_OK)
		rc = hubproto__string(out, invocation_id);
	if (rc == TW_OK && error) {
		rc = tw_buf_puts(out, ",\"error\":");
		if (rc == TW_OK)
			rc = hubproto__string(out, error);
	} else if (rc == TW_OK) {
		rc = tw_buf_puts(out, ",\"result\":");
		if (rc == TW_OK)
			rc = result ? hubproto__dump(out, result) : tw_buf_puts(out, "null");
	}
	rc = hubproto__end(out, rc);
	if (rc != TW_OK)
		out->len = mark;
	return rc;
}

int tw_hubproto_encode_ping(struct tw_buf *out)
{
	return hubproto__end(out, tw_buf_puts(out, "{\"type\":6"));
}

int tw_hubproto_encode_close(struct tw_buf *out, const char *error, int allow_reconnect)
{
	size_t mark = out->len;
	int rc = tw_buf_puts(out, "{\"type\":7");

	if (rc == TW_OK && error) {
		rc = tw_buf_puts(out, ",\"error\":");
		if (rc == TW_OK)
			rc = hubproto__string(out, error);
	}
	if (rc == TW_OK && allow_reconnect)
		rc = tw_buf_puts(out, ",\"allowReconnect\":true");
	rc = hubproto__end(out, rc);
	if (rc != TW_OK)
		out->len = mark;
	return rc;
}
