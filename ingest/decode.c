/* decode.c -- telemetry payload decoder: ThingsBoard's JSON shapes into records */
#include <errno.h>
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

int tw_telemetry_decode_json(const void *payload, size_t len, const char *device,
			     int64_t now_ms, const struct tw_decode_limits *lim,
			     struct tw_decoded *out, char *reason, size_t reasonlen)
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

/*
 * The fast path, for the payloads devices send all the time: one flat
 * object of values, or {"ts","seq","values"} with a flat values object;
 * strings of printable ASCII without escapes; integers of up to 18 digits
 * and short reals; every limit kept. It reads the payload once and
 * builds the record from it, where jansson builds a tree of it first
 * (1.3 us of a message's 16 on Paho's receive thread). Anything else it
 * leaves, returning TW_ERR_AGAIN, to decode__json, which also writes every
 * reason for a rejection: so the two never differ in what they accept or
 * produce (tests/unit/test_ingest_decode.c compares them over generated
 * and mutated payloads).
 */
#define FAST_MAX_MEMBERS 64	/* members of one object */
#define FAST_MAX_NUMBER 63	/* characters of a real */

struct fast__value {
	const char *key, *str;	/* spans of the payload */
	size_t klen, slen;
	int kind;		/* FAST_INT, FAST_REAL, FAST_TRUE, FAST_FALSE, FAST_STRING, FAST_OBJECT */
	long long i;
	double d;
};

enum { FAST_INT, FAST_REAL, FAST_TRUE, FAST_FALSE, FAST_STRING, FAST_OBJECT };

struct fast__in {
	const char *p, *end;
};

static void fast__ws(struct fast__in *in)
{
	while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' ||
				   *in->p == '\r'))
		in->p++;
}

/* A string without escapes, of bytes 0x20..0x7e; *s and *n its inside. */
static int fast__string(struct fast__in *in, const char **s, size_t *n)
{
	const char *q = ++in->p;	/* past the opening quote */

	while (q < in->end && *q != '"') {
		if (*q == '\\' || (unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
			return TW_ERR_AGAIN;
		q++;
	}
	if (q == in->end)
		return TW_ERR_AGAIN;
	*s = in->p;
	*n = (size_t)(q - in->p);
	in->p = q + 1;
	return TW_OK;
}

static int fast__digits(struct fast__in *in)
{
	const char *q = in->p;

	while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
		in->p++;
	return in->p > q;
}

/* A number as JSON writes it: an integer of up to 18 digits, or a real. */
static int fast__number(struct fast__in *in, struct fast__value *v)
{
	const char *start = in->p, *digits;
	char buf[FAST_MAX_NUMBER + 1];
	size_t n;
	char *end;

	if (in->p < in->end && *in->p == '-')
		in->p++;
	digits = in->p;
	if (!fast__digits(in) || (*digits == '0' && in->p - digits > 1))
		return TW_ERR_AGAIN;
	v->kind = FAST_INT;
	if (in->p < in->end && *in->p == '.') {
		in->p++;
		if (!fast__digits(in))
			return TW_ERR_AGAIN;
		v->kind = FAST_REAL;
	}
	if (in->p < in->end && (*in->p == 'e' || *in->p == 'E')) {
		in->p++;
		if (in->p < in->end && (*in->p == '+' || *in->p == '-'))
			in->p++;
		if (!fast__digits(in))
			return TW_ERR_AGAIN;
		v->kind = FAST_REAL;
	}
	if (v->kind == FAST_INT) {
		if (in->p - digits > 18)
			return TW_ERR_AGAIN;
		v->i = 0;
		for (const char *q = digits; q < in->p; q++)
			v->i = v->i * 10 + (*q - '0');
		if (*start == '-')
			v->i = -v->i;
		return TW_OK;
	}
	if ((n = (size_t)(in->p - start)) > FAST_MAX_NUMBER)
		return TW_ERR_AGAIN;
	memcpy(buf, start, n);
	buf[n] = '\0';
	errno = 0;
	v->d = strtod(buf, &end);
	/* jansson refuses an overflow and keeps an underflow: both to it */
	return end == buf + n && errno == 0 ? TW_OK : TW_ERR_AGAIN;
}

static int fast__literal(struct fast__in *in, const char *word, size_t n)
{
	if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n) != 0)
		return 0;
	in->p += n;
	return 1;
}

/* The members of the object at in->p: *n of them into vals[]. With inner,
 * one member may be an object (values' place): its members go to inner[],
 * *ninner of them, and the member is a FAST_OBJECT; a second one, or one
 * without inner, is left to jansson. */
static int fast__object(struct fast__in *in, struct fast__value *vals, size_t *n,
			struct fast__value *inner, size_t *ninner)
{
	struct fast__value *v;
	int nested = 0;

	*n = 0;
	in->p++;	/* '{' */
	fast__ws(in);
	if (in->p < in->end && *in->p == '}') {
		in->p++;
		return TW_OK;
	}
	for (;;) {
		if (*n == FAST_MAX_MEMBERS || in->p == in->end || *in->p != '"')
			return TW_ERR_AGAIN;
		v = &vals[(*n)++];
		memset(v, 0, sizeof(*v));
		if (fast__string(in, &v->key, &v->klen) != TW_OK)
			return TW_ERR_AGAIN;
		fast__ws(in);
		if (in->p == in->end || *in->p != ':')
			return TW_ERR_AGAIN;
		in->p++;
		fast__ws(in);
		if (in->p == in->end)
			return TW_ERR_AGAIN;
		if (*in->p == '"') {
			v->kind = FAST_STRING;
			if (fast__string(in, &v->str, &v->slen) != TW_OK)
				return TW_ERR_AGAIN;
		} else if (*in->p == '{' && inner && !nested++) {
			v->kind = FAST_OBJECT;
			if (fast__object(in, inner, ninner, NULL, NULL) != TW_OK)
				return TW_ERR_AGAIN;
		} else if (fast__literal(in, "true", 4)) {
			v->kind = FAST_TRUE;
		} else if (fast__literal(in, "false", 5)) {
			v->kind = FAST_FALSE;
		} else if (*in->p == '-' || (*in->p >= '0' && *in->p <= '9')) {
			if (fast__number(in, v) != TW_OK)
				return TW_ERR_AGAIN;
		} else {
			return TW_ERR_AGAIN;	/* null, arrays, deeper objects, not JSON */
		}
		fast__ws(in);
		if (in->p < in->end && *in->p == ',') {
			in->p++;
			fast__ws(in);
			continue;
		}
		if (in->p < in->end && *in->p == '}') {
			in->p++;
			return TW_OK;
		}
		return TW_ERR_AGAIN;
	}
}

static int fast__is(const struct fast__value *v, const char *word)
{
	size_t n = strlen(word);

	return v->klen == n && memcmp(v->key, word, n) == 0;
}

static int fast__duplicates(const struct fast__value *vals, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (vals[i].klen == vals[j].klen &&
			    memcmp(vals[i].key, vals[j].key, vals[i].klen) == 0)
				return 1;
	return 0;
}

/* The record of a flat object's members, ts and seq from meta. */
static int fast__record(struct decode__ctx *c, const struct fast__value *meta, size_t nmeta,
			const struct fast__value *vals, size_t n, struct tw_record **out)
{
	struct tw_record_limits rl = { c->lim.max_fields, c->lim.max_string };
	const struct fast__value *ts = NULL, *seq = NULL;
	char key[TW_RECORD_MAX_KEY + 1], str[4096];
	unsigned flags = 0;
	size_t fields = 0;
	int rc = TW_OK;

	for (size_t i = 0; i < nmeta; i++) {
		if (fast__is(&meta[i], "ts"))
			ts = &meta[i];
		else if (fast__is(&meta[i], "seq"))
			seq = &meta[i];
	}
	if ((ts && (ts->kind != FAST_INT || ts->i < 0 ||
		    (ts->i > c->now_ms && ts->i - c->now_ms > c->lim.max_future_ms))) ||
	    (seq && (seq->kind != FAST_INT || seq->i < 0)))
		return TW_ERR_AGAIN;
	for (size_t i = 0; i < n; i++) {
		if (fast__is(&vals[i], "ts") || fast__is(&vals[i], "seq"))
			continue;
		if (vals[i].klen == 0 || vals[i].klen > TW_RECORD_MAX_KEY ||
		    vals[i].kind == FAST_OBJECT ||
		    (vals[i].kind == FAST_STRING &&
		     (vals[i].slen > c->lim.max_string || vals[i].slen >= sizeof(str))))
			return TW_ERR_AGAIN;
		fields++;
	}
	if (fields == 0 || fields > c->lim.max_fields)
		return TW_ERR_AGAIN;
	if (!ts)
		flags = TW_RECORD_TS_RECEIVED;
	if (tw_record_new(out, c->device, ts ? ts->i : c->now_ms, seq ? seq->i : -1, flags,
			  &rl) != TW_OK)
		return TW_ERR_AGAIN;	/* its reason comes from decode__json */
	for (size_t i = 0; i < n && rc == TW_OK; i++) {
		const struct fast__value *v = &vals[i];

		if (fast__is(v, "ts") || fast__is(v, "seq"))
			continue;
		memcpy(key, v->key, v->klen);
		key[v->klen] = '\0';
		switch (v->kind) {
		case FAST_INT:
			rc = tw_record_set_number(*out, key, (double)v->i);
			break;
		case FAST_REAL:
			rc = tw_record_set_number(*out, key, v->d);
			break;
		case FAST_TRUE:
		case FAST_FALSE:
			rc = tw_record_set_bool(*out, key, v->kind == FAST_TRUE);
			break;
		default:
			memcpy(str, v->str, v->slen);
			str[v->slen] = '\0';
			rc = tw_record_set_string(*out, key, str);
			break;
		}
	}
	if (rc != TW_OK) {
		tw_record_free(*out);
		*out = NULL;
		return TW_ERR_AGAIN;
	}
	return TW_OK;
}

static int decode__fast(struct decode__ctx *c, const char *p, size_t len, struct tw_decoded *out)
{
	/* the root's members, then those of values */
	struct fast__value vals[FAST_MAX_MEMBERS], inner[FAST_MAX_MEMBERS];
	struct fast__in in = { p, p + len };
	const struct fast__value *values = NULL;
	size_t n, nv = 0;

	fast__ws(&in);
	if (in.p == in.end || *in.p != '{' || fast__object(&in, vals, &n, inner, &nv) != TW_OK)
		return TW_ERR_AGAIN;
	fast__ws(&in);
	if (in.p != in.end || fast__duplicates(vals, n))
		return TW_ERR_AGAIN;
	for (size_t i = 0; i < n; i++)
		if (fast__is(&vals[i], "values"))
			values = &vals[i];
	if (values) {
		/* nothing but ts and seq beside values, which is an object */
		if (values->kind != FAST_OBJECT || fast__duplicates(inner, nv))
			return TW_ERR_AGAIN;
		for (size_t i = 0; i < n; i++)
			if (&vals[i] != values && !fast__is(&vals[i], "ts") &&
			    !fast__is(&vals[i], "seq"))
				return TW_ERR_AGAIN;
	}
	if (!(out->recs = calloc(1, sizeof(*out->recs))))
		return TW_ERR_AGAIN;
	if (fast__record(c, vals, n, values ? inner : vals, values ? nv : n, &out->recs[0]) != TW_OK) {
		free(out->recs);
		out->recs = NULL;
		return TW_ERR_AGAIN;
	}
	out->n = 1;
	return TW_OK;
}

int tw_telemetry_decode_fast(const void *payload, size_t len, const char *device,
			     int64_t now_ms, const struct tw_decode_limits *lim,
			     struct tw_decoded *out)
{
	struct decode__ctx c = { device, now_ms, { 0 }, NULL, 0, "" };

	decode__limits(&c.lim, lim);
	out->recs = NULL;
	out->n = 0;
	if (len == 0 || len > c.lim.max_payload)
		return TW_ERR_AGAIN;
	return decode__fast(&c, payload, len, out);
}

int tw_telemetry_decode(const void *payload, size_t len, const char *device, int64_t now_ms,
			const struct tw_decode_limits *lim, struct tw_decoded *out,
			char *reason, size_t reasonlen)
{
	if (tw_telemetry_decode_fast(payload, len, device, now_ms, lim, out) == TW_OK) {
		if (reasonlen)
			reason[0] = '\0';
		return TW_OK;
	}
	return tw_telemetry_decode_json(payload, len, device, now_ms, lim, out, reason, reasonlen);
}

void tw_decoded_free(struct tw_decoded *d)
{
	for (size_t i = 0; i < d->n; i++)
		tw_record_free(d->recs[i]);
	free(d->recs);
	d->recs = NULL;
	d->n = 0;
}
