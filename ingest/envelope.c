/* envelope.c -- builds the JSON that ingest publishes: hub envelopes and deadletters */
#include <float.h>
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

#if LDBL_MANT_DIG >= 64
/* Powers of ten, all exact in a long double of 64 bits of mantissa (5^27
 * fits). */
static const long double envelope__pow10[] = {
	1e0L, 1e1L, 1e2L, 1e3L, 1e4L, 1e5L, 1e6L, 1e7L, 1e8L, 1e9L,
	1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L,
};

/* d rounded to 15 significant digits and written as %.15g writes it,
 * when that is without an exponent (decimal exponent -4..14); else 0.
 * |d| * 10^(14 - e) is one rounding of an exact product in long double:
 * under 2^-14 from the true value, whose nearest whole number it then
 * finds, unless it lies within 1e-4 of a half (0 then: snprintf
 * decides). A third of snprintf's time (80 against 280 ns) for the
 * readings plugins compute, such as a speed times 0.621371. */
static size_t envelope__digits15(double d, char *num)
{
	long double a = fabsl((long double)d), m, f;
	unsigned long long u = 0;
	char digits[16];
	size_t len = 0, n;
	int e, k, x;

	if (!(a >= 1e-4L && a < 1e15L))
		return 0;
	/* The decimal exponent: from the binary one (x * log10(2), one off at
	 * most), then checked against the table. */
	frexp(d, &x);
	e = (int)floor((x - 1) * 0.30102999566398120);
	if (e < -4)
		e = -4;
	if (e < 14 && (e + 1 >= 0 ? a >= envelope__pow10[e + 1] : a * envelope__pow10[-e - 1] >= 1))
		e++;
	for (int tries = 0; tries < 2; tries++) {
		k = 14 - e;
		m = a * envelope__pow10[k];
		u = (unsigned long long)m;	/* m < 2^50: exact */
		f = m - (long double)u;
		if (fabsl(f - 0.5L) < 1e-4L)
			return 0;
		u += f > 0.5L;
		if (u < 1000000000000000ULL)
			break;
		if (++e > 14)	/* rounded up to the next power of ten */
			return 0;
	}
	if (u >= 1000000000000000ULL || u < 100000000000000ULL)
		return 0;
	for (int i = 14; i >= 0; i--, u /= 10)
		digits[i] = (char)('0' + u % 10);
	for (n = 15; n > 1 && digits[n - 1] == '0'; n--)
		;
	if (d < 0)
		num[len++] = '-';
	if (e >= 0) {
		memcpy(num + len, digits, (size_t)e + 1);
		len += (size_t)e + 1;
		num[len++] = '.';
		if (n > (size_t)e + 1) {
			memcpy(num + len, digits + e + 1, n - (size_t)e - 1);
			len += n - (size_t)e - 1;
		} else {
			num[len++] = '0';	/* %.15g wrote a whole number: ".0" follows */
		}
	} else {
		memcpy(num + len, "0.000", (size_t)(1 - e));
		len += (size_t)(1 - e);
		memcpy(num + len, digits, n);
		len += n;
	}
	return len;
}
#else
static size_t envelope__digits15(double d, char *num)
{
	(void)d;
	(void)num;
	return 0;
}
#endif

size_t ingest__number_text(double d, char *num, size_t len)
{
	size_t n;

	if (len >= 32 && (n = envelope__digits15(d, num)) > 0) {
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
