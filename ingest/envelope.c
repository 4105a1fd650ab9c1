/* envelope.c -- builds the JSON that ingest publishes: hub envelopes and deadletters */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "queue.h"
#include "telewire/error.h"

#define ENVELOPE_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
#define ENVELOPE_EXACT 9007199254740992.0	/* 2^53: doubles are whole numbers exactly below it */

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t envelope__utf8_len(const unsigned char *p, size_t avail);

/* The caller's growing text; after a failed allocation it stays failed
 * and takes nothing more. */
struct envelope__out {
	struct ingest_buf *b;
	int failed;
};

static void envelope__put(struct envelope__out *o, const char *s, size_t n)
{
	if (!o->failed && ingest__buf_append(o->b, s, n) != TW_OK)
		o->failed = 1;
}

static void envelope__puts(struct envelope__out *o, const char *s)
{
	envelope__put(o, s, strlen(s));
}

/* A JSON string as jansson writes it (quotes, backslash and control
 * characters escaped, UTF-8 as it is); a byte that is not UTF-8 becomes
 * '?', where jansson would refuse the whole value. */
static void envelope__string(struct envelope__out *o, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strlen(str), start = 0, i = 0, n;
	char esc[8];

	envelope__put(o, "\"", 1);
	while (i < len) {
		unsigned char c = s[i];

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		n = c < 0x80 ? 1 : envelope__utf8_len(s + i, len - i);
		if (n > 1) {
			i += n;
			continue;
		}
		envelope__put(o, str + start, i - start);
		switch (c) {
		case '"': envelope__put(o, "\\\"", 2); break;
		case '\\': envelope__put(o, "\\\\", 2); break;
		case '\b': envelope__put(o, "\\b", 2); break;
		case '\f': envelope__put(o, "\\f", 2); break;
		case '\n': envelope__put(o, "\\n", 2); break;
		case '\r': envelope__put(o, "\\r", 2); break;
		case '\t': envelope__put(o, "\\t", 2); break;
		default:
			if (c < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04X", c);
				envelope__puts(o, esc);
			} else {
				envelope__put(o, "?", 1);
			}
		}
		start = ++i;
	}
	envelope__put(o, str + start, i - start);
	envelope__put(o, "\"", 1);
}

/* Decimal digits, written from the end: a timestamp, a seq and whole
 * values in every record, where snprintf cost more than the rest. */
static void envelope__integer(struct envelope__out *o, long long v)
{
	char num[24], *p = num + sizeof(num);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	envelope__put(o, p, (size_t)(num + sizeof(num) - p));
}

/* Exact powers of ten: 10^k and r / 10^k are correctly rounded. */
static const double envelope__pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
};

/* d as the shortest decimal of at most 15 significant digits that reads
 * back as d exactly, when there is one and %.15g writes it without an
 * exponent (1e-4 <= |d| < 1e15); else 0. It is then what %.15g writes: d
 * lies within half a unit of its 53rd bit of that decimal, far closer
 * than half a unit of the 15th digit, so rounding d to 15 digits finds
 * that decimal, and %g drops the trailing zeros. Telemetry's 21.6 takes
 * a multiplication and a division here, and a dozen times that in
 * snprintf. */
static size_t envelope__short_decimal(double d, char *num)
{
	double a = fabs(d), r = 0;
	char digits[20], *p = digits + sizeof(digits);
	unsigned long long u;
	size_t k, n, len = 0;

	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	for (k = 1; k <= 15; k++) {
		r = nearbyint(a * envelope__pow10[k]);
		if (r >= 1e15)
			return 0;	/* more than 15 significant digits */
		if (r / envelope__pow10[k] == a)
			break;
	}
	if (k > 15)
		return 0;
	for (u = (unsigned long long)r, n = 0; u || n <= k; u /= 10, n++)
		*--p = (char)('0' + u % 10);
	if (d < 0)
		num[len++] = '-';
	memcpy(num + len, p, n - k);
	len += n - k;
	num[len++] = '.';
	memcpy(num + len, p + n - k, k);
	return len + k;
}

size_t ingest__number_text(double d, char *num, size_t len)
{
	size_t n;

	if (len >= 32 && (n = envelope__short_decimal(d, num)) > 0) {
		num[n] = '\0';
		return n;
	}
	n = (size_t)snprintf(num, len, "%.15g", d);
	if (n + 2 < len && !strpbrk(num, ".eEn"))
		memcpy(num + n, ".0", 3), n += 2;
	return n;
}

/* Whole numbers go out as integers: 15 significant digits (which keep
 * 21.6 from reading 21.600000000000001) would round a microsecond
 * timestamp or a 16-digit counter. Others as jansson writes reals with
 * precision 15; what JSON cannot hold (NaN, infinities) as null. */
static void envelope__number(struct envelope__out *o, double d)
{
	char num[40];

	if (!isfinite(d)) {
		envelope__put(o, "null", 4);
		return;
	}
	if (fabs(d) < ENVELOPE_EXACT && d == floor(d)) {
		envelope__integer(o, (long long)d);
		return;
	}
	envelope__put(o, num, ingest__number_text(d, num, sizeof(num)));
}

static void envelope__value(struct envelope__out *o, const struct tw_record *r, const char *key)
{
	const char *s;
	double d;
	int b;

	switch (tw_record_type(r, key)) {
	case TW_VALUE_NUMBER:
		tw_record_get_number(r, key, &d);
		envelope__number(o, d);
		break;
	case TW_VALUE_BOOL:
		tw_record_get_bool(r, key, &b);
		envelope__puts(o, b ? "true" : "false");
		break;
	case TW_VALUE_STRING:
		tw_record_get_string(r, key, &s);
		envelope__string(o, s);
		break;
	default:
		envelope__put(o, "null", 4);
	}
}

/* Written as text, not built as jansson objects and dumped: the envelopes
 * of every message were a fifth of ingest's work on the receive thread
 * (bench_ingest: decode + plugins + envelopes). */
int ingest__record_args(struct ingest_buf *out, const struct tw_record *r)
{
	struct envelope__out o = { out, 0 };
	const char *key;

	envelope__puts(&o, "[{\"device\":");
	envelope__string(&o, tw_record_device(r));
	envelope__puts(&o, ",\"ts\":");
	envelope__integer(&o, (long long)tw_record_ts(r));
	envelope__puts(&o, ",\"values\":{");
	for (size_t i = 0; (key = tw_record_key(r, i)) != NULL; i++) {
		if (i)
			envelope__put(&o, ",", 1);
		envelope__string(&o, key);
		envelope__put(&o, ":", 1);
		envelope__value(&o, r, key);
	}
	envelope__put(&o, "}", 1);
	if (tw_record_seq(r) >= 0) {
		envelope__puts(&o, ",\"seq\":");
		envelope__integer(&o, (long long)tw_record_seq(r));
	}
	envelope__puts(&o, "}]");
	return o.failed ? TW_ERR_NOMEM : TW_OK;
}

int ingest__envelope(struct ingest_buf *out, const char *group, const char *method,
		     const char *args, size_t args_len, const char *key)
{
	struct envelope__out o = { out, 0 };

	envelope__puts(&o, "{\"target\":\"group\",\"name\":");
	envelope__string(&o, group);
	envelope__puts(&o, ",\"method\":");
	envelope__string(&o, method);
	envelope__puts(&o, ",\"args\":");
	envelope__put(&o, args, args_len);
	if (key) {
		envelope__puts(&o, ",\"key\":");
		envelope__string(&o, key);
	}
	envelope__put(&o, "}", 1);
	return o.failed ? TW_ERR_NOMEM : TW_OK;
}

int ingest__envelope_text(struct ingest_buf *out, const char *group, const char *method,
			  const char *args_text, const char *key)
{
	json_t *args = json_loads(args_text, JSON_REJECT_DUPLICATES, NULL);
	char *compact = NULL;
	int rc = TW_ERR_JSON;

	/* A plugin's text is checked, and written again compactly. */
	if (json_is_array(args)) {
		rc = TW_ERR_NOMEM;
		if ((compact = json_dumps(args, ENVELOPE_FLAGS)) != NULL)
			rc = ingest__envelope(out, group, method, compact, strlen(compact), key);
	}
	free(compact);
	json_decref(args);
	return rc;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t envelope__utf8_len(const unsigned char *p, size_t avail)
{
	size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3
		 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;

	if (n == 0 || n > avail || (n == 2 && p[0] < 0xC2))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

/* Copies up to max bytes, whole characters only, '?' for what is not UTF-8
 * or is NUL. Returns the length written (out holds max + 1 bytes). */
static size_t envelope__text_head(const unsigned char *p, size_t len, size_t max, char *out)
{
	size_t i = 0, o = 0, n;

	while (i < len && o < max) {
		n = envelope__utf8_len(p + i, len - i);
		if (n == 0 || (n == 1 && p[i] == 0)) {
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + n > max)
			break;
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return o;
}

char *ingest__deadletter(const char *reason, const char *topic, const void *payload,
			 size_t len, size_t head)
{
	char *buf = malloc(head + 1), *text = NULL;
	json_t *dl, *p;
	size_t n;

	if (!buf)
		return NULL;
	n = envelope__text_head(payload, len, head, buf);
	/* jansson also refuses overlong forms and surrogates: fall back to none. */
	p = json_stringn(buf, n);
	dl = json_pack("{s:s,s:s,s:o}", "reason", reason, "topic", topic,
		       "payload", p ? p : json_string(""));
	if (dl)
		text = json_dumps(dl, ENVELOPE_FLAGS);
	json_decref(dl);
	free(buf);
	return text;
}
