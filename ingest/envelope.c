/* envelope.c -- builds the JSON that ingest publishes: hub envelopes and deadletters */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

#define ENVELOPE_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
#define ENVELOPE_EXACT 9007199254740992.0	/* 2^53: doubles are whole numbers exactly below it */

static json_t *envelope__value(const struct tw_record *r, const char *key)
{
	const char *s;
	double d;
	int b;

	switch (tw_record_type(r, key)) {
	case TW_VALUE_NUMBER:
		tw_record_get_number(r, key, &d);
		/* Whole numbers go out as integers: 15 significant digits (which
		 * keep 21.6 from reading 21.600000000000001) would round a
		 * microsecond timestamp or a 16-digit counter. */
		if (fabs(d) < ENVELOPE_EXACT && d == floor(d))
			return json_integer((json_int_t)d);
		return json_real(d);
	case TW_VALUE_BOOL:
		tw_record_get_bool(r, key, &b);
		return json_boolean(b);
	case TW_VALUE_STRING:
		tw_record_get_string(r, key, &s);
		return json_string(s);
	default:
		return json_null();
	}
}

void *ingest__record_args(const struct tw_record *r)
{
	json_t *values = json_object(), *arg;
	const char *key;

	for (size_t i = 0; values && (key = tw_record_key(r, i)) != NULL; i++)
		json_object_set_new(values, key, envelope__value(r, key));
	arg = json_pack("{s:s,s:I,s:o}", "device", tw_record_device(r), "ts",
			(json_int_t)tw_record_ts(r), "values", values);
	if (arg && tw_record_seq(r) >= 0)
		json_object_set_new(arg, "seq", json_integer((json_int_t)tw_record_seq(r)));
	return arg ? json_pack("[o]", arg) : NULL;
}

void ingest__json_free(void *json)
{
	json_decref(json);
}

char *ingest__envelope(const char *group, const char *method, void *args, const char *key)
{
	json_t *env = json_pack("{s:s,s:s,s:s,s:O}", "target", "group", "name", group,
				"method", method, "args", (json_t *)args);
	char *text;

	if (env && key)
		json_object_set_new(env, "key", json_string(key));
	text = env ? json_dumps(env, ENVELOPE_FLAGS) : NULL;
	json_decref(env);
	return text;
}

char *ingest__envelope_text(const char *group, const char *method, const char *args_text,
			    const char *key)
{
	json_t *args = json_loads(args_text, JSON_REJECT_DUPLICATES, NULL);
	char *text = NULL;

	if (json_is_array(args))
		text = ingest__envelope(group, method, args, key);
	json_decref(args);
	return text;
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
