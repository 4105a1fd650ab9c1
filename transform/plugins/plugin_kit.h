/* plugin_kit.h -- helpers compiled into each built-in plugin: options, JSON text, a bounded device table
 *
 * Header only (static inline), so a plugin stays one shared object that
 * links against nothing of the host. Plugins written outside the project
 * do not need it; docs/plugins.md shows one without it.
 */
#ifndef TELEWIRE_PLUGIN_KIT_H
#define TELEWIRE_PLUGIN_KIT_H

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/transform.h"

/* Longest key or name a built-in takes in an option (the host's limit for keys). */
#define KIT_MAX_NAME 128

/* ---- options ---- */

/* A whole number in [min, max]; 0, or -1 when text is anything else. */
static inline int kit_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!text || *text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A finite decimal number ("-1.5", "2e3"); 0, or -1. */
static inline int kit_parse_double(const char *text, double *out)
{
	char *end;
	double v;

	if (!text || !*text)
		return -1;
	errno = 0;
	v = strtod(text, &end);
	if (errno || *end || end == text || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* Fails on the first option whose key is not in known (NULL-terminated). */
static inline int kit_check_known(const struct tw_option *opts, size_t nopts,
				  const char *const *known, char *err, size_t errlen)
{
	for (size_t i = 0; i < nopts; i++) {
		size_t k = 0, off;

		while (known[k] && strcmp(known[k], opts[i].key) != 0)
			k++;
		if (known[k])
			continue;
		off = (size_t)snprintf(err, errlen, "unknown option '%s' (known:", opts[i].key);
		for (k = 0; known[k] && off < errlen; k++)
			off += (size_t)snprintf(err + off, errlen - off, "%s %s", k ? "," : "",
						known[k]);
		if (off < errlen)
			snprintf(err + off, errlen - off, ")");
		return -1;
	}
	return 0;
}

/* A name option: 1..KIT_MAX_NAME bytes. required: absent is an error. */
static inline int kit_name_option(const char *value, const char *option, int required,
				  char *err, size_t errlen)
{
	if (!value || !*value) {
		if (required)
			snprintf(err, errlen, "option '%s' is required", option);
		return required ? -1 : 0;
	}
	if (strlen(value) > KIT_MAX_NAME) {
		snprintf(err, errlen, "option '%s': at most %d bytes, got %zu", option,
			 KIT_MAX_NAME, strlen(value));
		return -1;
	}
	return 0;
}

/* A copy of value, or of "<base><suffix>" when value is NULL or empty. */
static inline char *kit_name_or(const char *value, const char *base, const char *suffix)
{
	size_t len;
	char *s;

	if (value && *value)
		return strdup(value);
	len = strlen(base) + strlen(suffix) + 1;
	if ((s = malloc(len)) != NULL)
		snprintf(s, len, "%s%s", base, suffix);
	return s;
}

/* ---- JSON text for emitted events ---- */

struct kit_json {
	char buf[2048];
	size_t len;
	int overflow;
};

static inline void kit_json_raw(struct kit_json *j, const char *s, size_t n)
{
	if (j->overflow || n >= sizeof(j->buf) - j->len) {
		j->overflow = 1;
		return;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

/* Appends s as a JSON string: quotes, backslashes and control bytes escaped. */
static inline void kit_json_str(struct kit_json *j, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	kit_json_raw(j, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };

		if (*p == '"' || *p == '\\')
			kit_json_raw(j, (const char[]){ '\\', (char)*p }, 2);
		else if (*p < 0x20)
			kit_json_raw(j, esc, sizeof(esc));
		else
			kit_json_raw(j, (const char *)p, 1);
	}
	kit_json_raw(j, "\"", 1);
}

/* Appends ,"name":"text" (no comma for the first member: j->len <= 2). */
static inline void kit_json_member_str(struct kit_json *j, const char *name, const char *text)
{
	if (j->len > 2)
		kit_json_raw(j, ",", 1);
	kit_json_str(j, name);
	kit_json_raw(j, ":", 1);
	kit_json_str(j, text);
}

/* Appends ,"name":number; v is finite (records never hold anything else). */
static inline void kit_json_member_num(struct kit_json *j, const char *name, double v)
{
	char num[40];
	int n = snprintf(num, sizeof(num), "%.17g", v);

	if (j->len > 2)
		kit_json_raw(j, ",", 1);
	kit_json_str(j, name);
	kit_json_raw(j, ":", 1);
	kit_json_raw(j, num, (size_t)n);
}

static inline void kit_json_member_int(struct kit_json *j, const char *name, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", (long long)v);

	if (j->len > 2)
		kit_json_raw(j, ",", 1);
	kit_json_str(j, name);
	kit_json_raw(j, ":", 1);
	kit_json_raw(j, num, (size_t)n);
}

/* Starts the args of one event: a JSON array holding one object. */
static inline void kit_json_begin(struct kit_json *j)
{
	j->len = 0;
	j->overflow = 0;
	kit_json_raw(j, "[{", 2);
}

/* Ends it; the text, or NULL when it did not fit. */
static inline const char *kit_json_end(struct kit_json *j)
{
	kit_json_raw(j, "}]", 2);
	return j->overflow ? NULL : j->buf;
}

/* ---- per-device state, bounded: the least recently seen device is forgotten ---- */

struct kit_dev {
	struct kit_dev *hnext;		/* hash chain */
	struct kit_dev *older, *newer;	/* by last use */
	size_t hash;
	const char *device;		/* stored after data */
	max_align_t data[];		/* the plugin's state, zeroed when made */
};

struct kit_devices {
	const struct tw_host_api *api;
	const char *plugin;		/* names the plugin in the eviction warning */
	struct kit_dev **buckets, *oldest, *newest;
	size_t nbuckets, count, max, size;
	unsigned long long evicted;
};

static inline size_t kit_hash(const char *s)
{
	size_t h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

/* Tracks at most max devices with size bytes of state each. 0, or -1. */
static inline int kit_devices_init(struct kit_devices *t, const struct tw_host_api *api,
				   const char *plugin, size_t max, size_t size)
{
	memset(t, 0, sizeof(*t));
	t->api = api;
	t->plugin = plugin;
	t->max = max;
	t->size = size;
	t->nbuckets = 64;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets ? 0 : -1;
}

static inline void kit_devices_free(struct kit_devices *t)
{
	struct kit_dev *d, *older;

	for (d = t->newest; d; d = older) {
		older = d->older;
		free(d);
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

static inline void kit_devices_unlink(struct kit_devices *t, struct kit_dev *d)
{
	*(d->older ? &d->older->newer : &t->oldest) = d->newer;
	*(d->newer ? &d->newer->older : &t->newest) = d->older;
	d->older = d->newer = NULL;
}

static inline void kit_devices_link_newest(struct kit_devices *t, struct kit_dev *d)
{
	d->older = t->newest;
	*(t->newest ? &t->newest->newer : &t->oldest) = d;
	t->newest = d;
}

/* Doubles the buckets once there are twice as many devices; a failure keeps the old ones. */
static inline void kit_devices_grow(struct kit_devices *t)
{
	size_t n = t->nbuckets * 2;
	struct kit_dev **b;

	if (t->count < t->nbuckets * 2 || !(b = calloc(n, sizeof(*b))))
		return;
	for (struct kit_dev *d = t->newest; d; d = d->older) {
		d->hnext = b[d->hash & (n - 1)];
		b[d->hash & (n - 1)] = d;
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

/* Forgets the least recently seen device; warns the first time. */
static inline void kit_devices_evict(struct kit_devices *t)
{
	struct kit_dev *d = t->oldest, **pp = &t->buckets[d->hash & (t->nbuckets - 1)];

	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	kit_devices_unlink(t, d);
	free(d);
	t->count--;
	if (t->evicted++ == 0)
		t->api->log(2, "%s: more than %zu devices (max_devices): forgetting the least "
			    "recently seen ones", t->plugin, t->max);
}

/* The state of device, made (zeroed, *fresh = 1) on first use, and marked
 * as just seen. NULL: out of memory. */
static inline void *kit_devices_get(struct kit_devices *t, const char *device, int *fresh)
{
	size_t h = kit_hash(device), len = strlen(device) + 1;
	struct kit_dev *d = t->buckets[h & (t->nbuckets - 1)];

	for (; d; d = d->hnext)
		if (d->hash == h && strcmp(d->device, device) == 0)
			break;
	*fresh = d == NULL;
	if (d) {
		kit_devices_unlink(t, d);
		kit_devices_link_newest(t, d);
		return d->data;
	}
	if (t->count >= t->max)
		kit_devices_evict(t);
	if (!(d = calloc(1, sizeof(*d) + t->size + len)))
		return NULL;
	d->hash = h;
	d->device = memcpy((char *)d->data + t->size, device, len);
	d->hnext = t->buckets[h & (t->nbuckets - 1)];
	t->buckets[h & (t->nbuckets - 1)] = d;
	kit_devices_link_newest(t, d);
	t->count++;
	kit_devices_grow(t);
	return d->data;
}

/* The max_devices option: default "100000", 1..100000000. */
static inline int kit_max_devices(const struct tw_host_api *api, const struct tw_option *opts,
				  size_t nopts, size_t *out, char *err, size_t errlen)
{
	const char *text = api->option(opts, nopts, "max_devices", "100000");
	uint64_t v;

	if (kit_parse_u64(text, 1, 100000000, &v) != 0)
		return snprintf(err, errlen, "option 'max_devices': expected a whole number "
				"1..100000000, got \"%s\"", text), -1;
	*out = (size_t)v;
	return 0;
}

#endif
