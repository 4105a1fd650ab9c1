/* params.c -- the query parameters of GET /api/history: a pure parser, no I/O */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telewire/error.h"
#include "telewire/history.h"

#define PARAMS_MAX_TS 9200000000000000000LL	/* as the CLI's --start */

static const char *const params__agg_names[] = {
	[TW_HISTORY_AGG_NONE] = "NONE", [TW_HISTORY_AGG_AVG] = "AVG",
	[TW_HISTORY_AGG_MIN] = "MIN",   [TW_HISTORY_AGG_MAX] = "MAX",
	[TW_HISTORY_AGG_SUM] = "SUM",   [TW_HISTORY_AGG_COUNT] = "COUNT",
};

int tw_history_agg_parse(const char *s, enum tw_history_agg *out)
{
	for (int i = TW_HISTORY_AGG_NONE; i <= TW_HISTORY_AGG_COUNT; i++)
		if (s && strcasecmp(s, params__agg_names[i]) == 0) {
			*out = (enum tw_history_agg)i;
			return TW_OK;
		}
	return TW_ERR_INVAL;
}

const char *tw_history_agg_name(enum tw_history_agg agg)
{
	return agg >= TW_HISTORY_AGG_NONE && agg <= TW_HISTORY_AGG_COUNT ? params__agg_names[agg]
									 : "?";
}

__attribute__((format(printf, 4, 5)))
static int params__fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* A value for a message: at most 40 bytes, all but printable ASCII as '?'
 * (the message goes into JSON, which takes only valid UTF-8). */
static const char *params__shown(const char *v, char *out, size_t outlen)
{
	size_t i = 0;

	for (; v[i] && i + 1 < outlen && i < 40; i++)
		out[i] = (unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f ? '?' : v[i];
	out[i] = '\0';
	if (v[i] && outlen > 4 && i + 4 < outlen)
		memcpy(out + i, "...", 4);
	return out;
}

/* A whole number in [min, max], digits only: no sign, space, fraction or exponent. */
static int params__int(const char *v, long long min, long long max, long long *out)
{
	char *end;
	long long n;

	if (!v || !*v || strspn(v, "0123456789") != strlen(v))
		return TW_ERR_INVAL;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno == ERANGE || *end || n < min || n > max)
		return TW_ERR_INVAL;
	*out = n;
	return TW_OK;
}

/* Is s well-formed UTF-8 without control characters? */
static int params__text_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2
					: (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		unsigned cp;

		if (len == 0 || i + len > n || c < 0x20 || c == 0x7f || c == 0xc0 || c == 0xc1 ||
		    c > 0xf4)
			return 0;
		cp = len == 1 ? c : c & (0x7f >> len);
		for (unsigned k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		i += len;
	}
	return 1;
}

static int params__device(const char *v, struct tw_history_params *p, char *err, size_t errlen)
{
	size_t n = v ? strlen(v) : 0;

	if (!v || !*v)
		return params__fail(TW_ERR_INVAL, err, errlen, "device is required (a device id).");
	if (n > TW_RECORD_MAX_DEVICE)
		return params__fail(TW_ERR_INVAL, err, errlen,
				    "device must be 1 to %d bytes, got %zu.", TW_RECORD_MAX_DEVICE, n);
	if (!params__text_ok((const unsigned char *)v, n))
		return params__fail(TW_ERR_INVAL, err, errlen,
				    "device must be UTF-8 text without control characters.");
	memcpy(p->device, v, n + 1);
	return TW_OK;
}

static int params__key_one(const char *k, size_t n, size_t pos, struct tw_history_params *p,
			   char *err, size_t errlen)
{
	if (n == 0)
		return params__fail(TW_ERR_INVAL, err, errlen, "keys: key %zu is empty.", pos);
	if (n > TW_RECORD_MAX_KEY)
		return params__fail(TW_ERR_INVAL, err, errlen, "keys: key %zu is %zu bytes long, "
				    "more than %d.", pos, n, TW_RECORD_MAX_KEY);
	if (!params__text_ok((const unsigned char *)k, n))
		return params__fail(TW_ERR_INVAL, err, errlen, "keys: key %zu is not UTF-8 text "
				    "without control characters.", pos);
	if (p->nkeys == TW_HISTORY_MAX_KEYS)
		return params__fail(TW_ERR_LIMIT, err, errlen, "keys: at most %d keys per query.",
				    TW_HISTORY_MAX_KEYS);
	memcpy(p->keys[p->nkeys], k, n);
	p->keys[p->nkeys][n] = '\0';
	for (size_t i = 0; i < p->nkeys; i++)
		if (strcmp(p->keys[i], p->keys[p->nkeys]) == 0)
			return params__fail(TW_ERR_INVAL, err, errlen, "keys: \"%s\" is listed twice.",
					    p->keys[i]);
	p->nkeys++;
	return TW_OK;
}

/* keys=a,b,c: comma-separated, in the order given. */
static int params__keys(const char *v, struct tw_history_params *p, char *err, size_t errlen)
{
	size_t pos = 1;
	int rc;

	if (!v || !*v)
		return params__fail(TW_ERR_INVAL, err, errlen,
				    "keys is required (comma-separated keys, e.g. keys=temp,hum).");
	for (;;) {
		size_t n = strcspn(v, ",");

		if ((rc = params__key_one(v, n, pos++, p, err, errlen)) != TW_OK)
			return rc;
		if (!v[n])
			return TW_OK;
		v += n + 1;
	}
}

static int params__ts(const char *name, const char *v, int64_t *out, char *err, size_t errlen)
{
	long long n;
	char shown[48];

	if (!v)
		return params__fail(TW_ERR_INVAL, err, errlen, "%s is required (milliseconds since "
				    "the epoch).", name);
	if (params__int(v, 0, PARAMS_MAX_TS, &n) != TW_OK)
		return params__fail(TW_ERR_INVAL, err, errlen, "%s must be a whole number of "
				    "milliseconds since the epoch (0 to %lld), got \"%s\".", name,
				    PARAMS_MAX_TS, params__shown(v, shown, sizeof(shown)));
	*out = n;
	return TW_OK;
}

static int params__range(tw_history_param_fn get, void *ctx, struct tw_history_params *p,
			 char *err, size_t errlen)
{
	int rc;

	if ((rc = params__ts("startTs", get(ctx, "startTs"), &p->start_ts, err, errlen)) != TW_OK ||
	    (rc = params__ts("endTs", get(ctx, "endTs"), &p->end_ts, err, errlen)) != TW_OK)
		return rc;
	if (p->end_ts <= p->start_ts)
		return params__fail(TW_ERR_INVAL, err, errlen, "endTs (%" PRId64 ") must be greater "
				    "than startTs (%" PRId64 "): the range is [startTs, endTs).",
				    p->end_ts, p->start_ts);
	return TW_OK;
}

static int params__agg(tw_history_param_fn get, void *ctx, struct tw_history_params *p,
		       char *err, size_t errlen)
{
	const char *agg = get(ctx, "agg"), *iv = get(ctx, "interval");
	char shown[48];
	long long n;

	if (agg && tw_history_agg_parse(agg, &p->agg) != TW_OK)
		return params__fail(TW_ERR_INVAL, err, errlen, "agg must be NONE, AVG, MIN, MAX, SUM "
				    "or COUNT, got \"%s\".", params__shown(agg, shown, sizeof(shown)));
	if (iv && params__int(iv, 1, INT64_MAX, &n) != TW_OK)
		return params__fail(TW_ERR_INVAL, err, errlen, "interval must be a positive integer "
				    "number of milliseconds, got \"%s\".",
				    params__shown(iv, shown, sizeof(shown)));
	p->interval = iv ? n : 0;
	return TW_OK;
}

static int params__cap(struct tw_history_params *p, char *err, size_t errlen)
{
	struct tw_history_query q;
	int64_t nb;

	tw_history_params_query(p, 0, &q);
	nb = tw_history_buckets(&q);
	if (nb > TW_HISTORY_MAX_BUCKETS)
		return params__fail(TW_ERR_LIMIT, err, errlen, "interval: (endTs - startTs) / "
				    "interval is %" PRId64 " intervals, more than the cap of %d per "
				    "query; use a longer interval or a shorter range.", nb,
				    TW_HISTORY_MAX_BUCKETS);
	return TW_OK;
}

static int params__page(tw_history_param_fn get, void *ctx, struct tw_history_params *p,
			char *err, size_t errlen)
{
	const char *limit = get(ctx, "limit"), *order = get(ctx, "orderBy");
	char shown[48];
	long long n;

	if (limit && params__int(limit, 1, TW_HISTORY_MAX_LIMIT, &n) != TW_OK)
		return params__fail(params__int(limit, 1, INT64_MAX, &n) == TW_OK ? TW_ERR_LIMIT
				    : TW_ERR_INVAL, err, errlen, "limit must be a whole number from 1 "
				    "to %d, got \"%s\".", TW_HISTORY_MAX_LIMIT,
				    params__shown(limit, shown, sizeof(shown)));
	/* Aggregates default to every bucket (at most the cap), values to ThingsBoard's 100. */
	p->limit = limit ? (size_t)n : p->agg != TW_HISTORY_AGG_NONE ? TW_HISTORY_MAX_BUCKETS
			 : TW_HISTORY_DEFAULT_LIMIT;
	if (order && strcasecmp(order, "ASC") && strcasecmp(order, "DESC"))
		return params__fail(TW_ERR_INVAL, err, errlen, "orderBy must be ASC or DESC, got "
				    "\"%s\".", params__shown(order, shown, sizeof(shown)));
	p->descending = !order || strcasecmp(order, "DESC") == 0;
	return TW_OK;
}

int tw_history_params_parse(tw_history_param_fn get, void *ctx, struct tw_history_params *out,
			    char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = params__device(get(ctx, "device"), out, err, errlen)) != TW_OK ||
	    (rc = params__keys(get(ctx, "keys"), out, err, errlen)) != TW_OK ||
	    (rc = params__range(get, ctx, out, err, errlen)) != TW_OK ||
	    (rc = params__agg(get, ctx, out, err, errlen)) != TW_OK ||
	    (rc = params__cap(out, err, errlen)) != TW_OK ||
	    (rc = params__page(get, ctx, out, err, errlen)) != TW_OK)
		return rc;
	return TW_OK;
}

void tw_history_params_query(const struct tw_history_params *p, size_t i,
			     struct tw_history_query *q)
{
	memset(q, 0, sizeof(*q));
	q->device = p->device;
	q->key = i < p->nkeys ? p->keys[i] : NULL;
	q->start = p->start_ts;
	q->end = p->end_ts - 1;	/* [startTs, endTs) as inclusive bounds */
	q->limit = p->limit;
	q->descending = p->descending;
	q->agg = p->agg;
	q->interval = p->agg != TW_HISTORY_AGG_NONE ? p->interval : 0;
}
