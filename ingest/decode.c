/* decode.c -- telemetry payload decoder: ThingsBoard's JSON shapes into records */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "telewire/error.h"

/* Everything one decode call needs, so helpers take one pointer. */
struct decode__ctx {
	const char *device;
	int64_t now_ms;
	struct tw_decode_limits lim;
	char *reason;
	size_t reasonlen;
	char prefix[32];	/* "record 3: " inside arrays */
};

static int decode__fail(struct decode__ctx *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int decode__fail(struct decode__ctx *c, int rc, const char *fmt, ...)
{
	size_t n = (size_t)snprintf(c->reason, c->reasonlen, "%s", c->prefix);
	va_list ap;

	if (n < c->reasonlen) {
		va_start(ap, fmt);
		vsnprintf(c->reason + n, c->reasonlen - n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static const char *decode__type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* "2 days", "3 hours", "15 minutes" or "420 s": coarse enough to read. */
static void decode__duration(int64_t ms, char *buf, size_t len)
{
	long long s = (long long)(ms / 1000);

	if (s >= 2 * 86400)
		snprintf(buf, len, "%lld days", s / 86400);
	else if (s >= 2 * 3600)
		snprintf(buf, len, "%lld hours", s / 3600);
	else if (s >= 600)
		snprintf(buf, len, "%lld minutes", s / 60);
	else
		snprintf(buf, len, "%lld s", s);
}

static int decode__ts(struct decode__ctx *c, const json_t *v, int64_t *ts, unsigned *flags)
{
	char ahead[32];

	*flags = 0;
	if (!v) {
		*ts = c->now_ms;
		*flags = TW_RECORD_TS_RECEIVED;
		return TW_OK;
	}
	if (!json_is_integer(v))
		return decode__fail(c, TW_ERR_JSON, "ts must be an integer number of "
				    "milliseconds, got %s", decode__type_name(v));
	*ts = (int64_t)json_integer_value(v);
	if (*ts < 0)
		return decode__fail(c, TW_ERR_JSON, "ts must not be negative, got %" PRId64, *ts);
	if (*ts > c->now_ms && *ts - c->now_ms > c->lim.max_future_ms) {
		decode__duration(*ts - c->now_ms, ahead, sizeof(ahead));
		return decode__fail(c, TW_ERR_JSON, "ts is %s in the future (limit %lld s)",
				    ahead, (long long)(c->lim.max_future_ms / 1000));
	}
	return TW_OK;
}

static int decode__seq(struct decode__ctx *c, const json_t *v, int64_t *seq)
{
	*seq = -1;
	if (!v)
		return TW_OK;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return decode__fail(c, TW_ERR_JSON, "seq must be a non-negative integer");
	*seq = (int64_t)json_integer_value(v);
	return TW_OK;
}

static int decode__value(struct decode__ctx *c, struct tw_record *r, const char *key,
			 const json_t *v)
{
	size_t len;

	switch (json_typeof(v)) {
	case JSON_INTEGER:
		return tw_record_set_number(r, key, (double)json_integer_value(v));
	case JSON_REAL:
		return tw_record_set_number(r, key, json_real_value(v));
	case JSON_TRUE:
	case JSON_FALSE:
		return tw_record_set_bool(r, key, json_is_true(v));
	case JSON_STRING:
		len = json_string_length(v);
		if (len > c->lim.max_string)
			return decode__fail(c, TW_ERR_LIMIT, "field '%.64s': string of %zu "
					    "bytes, limit %zu", key, len, c->lim.max_string);
		return tw_record_set_string(r, key, json_string_value(v));
	case JSON_NULL:
		return decode__fail(c, TW_ERR_JSON, "field '%.64s': null is not a value", key);
	default:
		return decode__fail(c, TW_ERR_JSON, "field '%.64s': %s is not a value (nested "
				    "values are not supported)", key, decode__type_name(v));
	}
}

static int decode__is_meta(const char *key)
{
	return strcmp(key, "ts") == 0 || strcmp(key, "seq") == 0;
}

static int decode__fields(struct decode__ctx *c, struct tw_record *r, const json_t *values)
{
	const char *key;
	json_t *v;
	size_t n = 0;
	int rc;

	json_object_foreach((json_t *)values, key, v)
		n += !decode__is_meta(key);
	if (n > c->lim.max_fields)
		return decode__fail(c, TW_ERR_LIMIT, "too many fields: %zu, limit %zu", n,
				    c->lim.max_fields);
	if (n == 0)
		return decode__fail(c, TW_ERR_JSON, "no values");
	json_object_foreach((json_t *)values, key, v) {
		if (decode__is_meta(key))
			continue;
		if (strlen(key) > TW_RECORD_MAX_KEY)
			return decode__fail(c, TW_ERR_LIMIT, "field name of %zu bytes, limit %d",
					    strlen(key), TW_RECORD_MAX_KEY);
		if (!*key)
			return decode__fail(c, TW_ERR_JSON, "empty field name");
		rc = decode__value(c, r, key, v);
		if (rc != TW_OK)
			return c->reason[0] ? rc : decode__fail(c, rc, "field '%.64s': %s", key,
								  tw_strerror(rc));
	}
	return TW_OK;
}

/* In the {"ts","seq","values"} shape nothing else may sit beside values. */
static int decode__check_envelope(struct decode__ctx *c, const json_t *obj)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
		if (!decode__is_meta(key) && strcmp(key, "values") != 0)
			return decode__fail(c, TW_ERR_JSON, "unexpected key '%.64s' beside "
					    "values", key);
	return TW_OK;
}

static int decode__object(struct decode__ctx *c, const json_t *obj, struct tw_record **out)
{
	const json_t *values = json_object_get(obj, "values");
	struct tw_record_limits rl = { c->lim.max_fields, c->lim.max_string };
	unsigned flags = 0;
	int64_t ts = 0, seq = -1;
	int rc;

	if (values && !json_is_object(values))
		return decode__fail(c, TW_ERR_JSON, "values must be an object, got %s",
				    decode__type_name(values));
	if (values && (rc = decode__check_envelope(c, obj)) != TW_OK)
		return rc;
	if ((rc = decode__ts(c, json_object_get(obj, "ts"), &ts, &flags)) != TW_OK ||
	    (rc = decode__seq(c, json_object_get(obj, "seq"), &seq)) != TW_OK)
		return rc;
	rc = tw_record_new(out, c->device, ts, seq, flags, &rl);
	if (rc != TW_OK)
		return decode__fail(c, rc, rc == TW_ERR_INVAL ? "device id must be 1 to %d bytes"
				    : "out of memory", TW_RECORD_MAX_DEVICE);
	rc = decode__fields(c, *out, values ? values : obj);
	if (rc != TW_OK) {
		tw_record_free(*out);
		*out = NULL;
	}
	return rc;
}

static int decode__array(struct decode__ctx *c, const json_t *arr, struct tw_decoded *out)
{
	size_t n = json_array_size(arr);
	int rc;

	if (n == 0)
		return decode__fail(c, TW_ERR_JSON, "empty array");
	if (n > c->lim.max_records)
		return decode__fail(c, TW_ERR_LIMIT, "too many records: %zu, limit %zu", n,
				    c->lim.max_records);
	if (!(out->recs = calloc(n, sizeof(*out->recs))))
		return decode__fail(c, TW_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const json_t *el = json_array_get(arr, i);

		snprintf(c->prefix, sizeof(c->prefix), "record %zu: ", i);
		if (!json_is_object(el))
			return decode__fail(c, TW_ERR_JSON, "must be an object, got %s",
					    decode__type_name(el));
		if ((rc = decode__object(c, el, &out->recs[i])) != TW_OK)
			return rc;
		out->n++;
	}
	return TW_OK;
}

static void decode__limits(struct tw_decode_limits *l, const struct tw_decode_limits *in)
{
	*l = in ? *in : (struct tw_decode_limits){ 0 };
	l->max_payload = l->max_payload ? l->max_payload : 65536;
	l->max_fields = l->max_fields ? l->max_fields : 64;
	l->max_string = l->max_string ? l->max_string : 256;
	l->max_records = l->max_records ? l->max_records : 1000;
	l->max_future_ms = l->max_future_ms > 0 ? l->max_future_ms : 300000;
}

static int decode__root(struct decode__ctx *c, const json_t *root, struct tw_decoded *out)
{
	int rc;

	if (json_is_array(root))
		return decode__array(c, root, out);
	if (!json_is_object(root))
		return decode__fail(c, TW_ERR_JSON, "payload must be a JSON object or array, "
				    "got %s", decode__type_name(root));
	if (!(out->recs = calloc(1, sizeof(*out->recs))))
		return decode__fail(c, TW_ERR_NOMEM, "out of memory");
	rc = decode__object(c, root, &out->recs[0]);
	if (rc == TW_OK)
		out->n = 1;
	return rc;
}

int tw_telemetry_decode(const void *payload, size_t len, const char *device, int64_t now_ms,
			const struct tw_decode_limits *lim, struct tw_decoded *out,
			char *reason, size_t reasonlen)
{
	struct decode__ctx c = { device, now_ms, { 0 }, reason, reasonlen, "" };
	json_error_t jerr;
	json_t *root;
	int rc;

	decode__limits(&c.lim, lim);
	out->recs = NULL;
	out->n = 0;
	if (reasonlen)
		reason[0] = '\0';
	if (len > c.lim.max_payload)
		return decode__fail(&c, TW_ERR_LIMIT, "payload is %zu bytes, limit %zu", len,
				    c.lim.max_payload);
	if (len == 0)
		return decode__fail(&c, TW_ERR_JSON, "empty payload");
	root = json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root)
		return decode__fail(&c, TW_ERR_JSON, "not JSON: %s at line %d column %d",
				    jerr.text, jerr.line, jerr.column);
	rc = decode__root(&c, root, out);
	json_decref(root);
	if (rc != TW_OK)
		tw_decoded_free(out);
	return rc;
}

void tw_decoded_free(struct tw_decoded *d)
{
	for (size_t i = 0; i < d->n; i++)
		tw_record_free(d->recs[i]);
	free(d->recs);
	d->recs = NULL;
	d->n = 0;
}
