/* moving_average.c -- built-in plugin: mean of the last N values of a key, per device
 *
 * Options: key (required), window (samples, default 10), output (default
 * "<key>_avg"), max_devices (default 100000). Until a device has sent
 * window values, the mean is over the values it has sent. A record
 * without the key passes unchanged; a key that is not a number fails it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/transform.h"

struct ma_window {
	char *device;
	size_t count, pos;
	struct ma_window *next;
	double values[];	/* window slots */
};

struct ma_state {
	const struct tw_host_api *api;
	char *key, *output;
	size_t window, ndevices, max_devices, nbuckets;
	struct ma_window **buckets;
};

static size_t ma_hash(const char *s)
{
	size_t h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

static int ma_parse_size(const char *text, size_t max, size_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || end == text || *end || v < 1 || (unsigned long long)v > max)
		return -1;
	*out = (size_t)v;
	return 0;
}

static void ma_cleanup(void *p)
{
	struct ma_state *st = p;

	if (!st)
		return;
	for (size_t i = 0; i < st->nbuckets; i++) {
		struct ma_window *w = st->buckets[i], *next;

		for (; w; w = next) {
			next = w->next;
			free(w->device);
			free(w);
		}
	}
	free(st->buckets);
	free(st->key);
	free(st->output);
	free(st);
}

static int ma_options(struct ma_state *st, const struct tw_option *opts, size_t nopts,
		      char *err, size_t errlen)
{
	const struct tw_host_api *api = st->api;
	const char *key = api->option(opts, nopts, "key", NULL);
	const char *window = api->option(opts, nopts, "window", "10");
	const char *output = api->option(opts, nopts, "output", NULL);
	const char *maxdev = api->option(opts, nopts, "max_devices", "100000");
	size_t len;

	if (!key || !*key)
		return snprintf(err, errlen, "option 'key' is required"), -1;
	if (ma_parse_size(window, 100000, &st->window) != 0)
		return snprintf(err, errlen, "option 'window': expected 1..100000, got \"%s\"",
				window), -1;
	if (ma_parse_size(maxdev, 100000000, &st->max_devices) != 0)
		return snprintf(err, errlen, "option 'max_devices': expected a positive "
				"number, got \"%s\"", maxdev), -1;
	for (size_t i = 0; i < nopts; i++) {
		const char *k = opts[i].key;

		if (strcmp(k, "key") && strcmp(k, "window") && strcmp(k, "output") &&
		    strcmp(k, "max_devices"))
			return snprintf(err, errlen, "unknown option '%s' (known: key, window, "
					"output, max_devices)", k), -1;
	}
	st->key = strdup(key);
	len = strlen(key) + 5;
	st->output = output && *output ? strdup(output) : malloc(len);
	if (!st->key || !st->output)
		return snprintf(err, errlen, "out of memory"), -1;
	if (!(output && *output))
		snprintf(st->output, len, "%s_avg", key);
	return 0;
}

static int ma_init(const struct tw_host_api *api, const struct tw_option *opts, size_t nopts,
		   void **state, char *err, size_t errlen)
{
	struct ma_state *st = calloc(1, sizeof(*st));

	*state = NULL;
	if (!st)
		return snprintf(err, errlen, "out of memory"), -1;
	st->api = api;
	st->nbuckets = 1024;
	st->buckets = calloc(st->nbuckets, sizeof(*st->buckets));
	if (!st->buckets) {
		ma_cleanup(st);
		return snprintf(err, errlen, "out of memory"), -1;
	}
	if (ma_options(st, opts, nopts, err, errlen) != 0) {
		ma_cleanup(st);
		return -1;
	}
	*state = st;
	return 0;
}

/* The window of device, made on first use; NULL when out of room. */
static struct ma_window *ma_window_of(struct ma_state *st, const char *device)
{
	struct ma_window **b = &st->buckets[ma_hash(device) % st->nbuckets], *w;

	for (w = *b; w; w = w->next)
		if (strcmp(w->device, device) == 0)
			return w;
	if (st->ndevices >= st->max_devices)
		return NULL;
	w = calloc(1, sizeof(*w) + st->window * sizeof(double));
	if (!w || !(w->device = strdup(device))) {
		free(w);
		return NULL;
	}
	w->next = *b;
	*b = w;
	st->ndevices++;
	return w;
}

static double ma_push(struct ma_window *w, size_t window, double v)
{
	double sum = 0;

	w->values[w->pos] = v;
	w->pos = (w->pos + 1) % window;
	if (w->count < window)
		w->count++;
	/* Summed afresh each time: no drift from adding and subtracting. */
	for (size_t i = 0; i < w->count; i++)
		sum += w->values[i];
	return sum / (double)w->count;
}

static int ma_process(void *state, struct tw_record *r, char *err, size_t errlen)
{
	struct ma_state *st = state;
	const struct tw_host_api *api = st->api;
	enum tw_value_type type = api->record_type(r, st->key);
	struct ma_window *w;
	double v;

	if (type == TW_VALUE_NONE)
		return TW_TRANSFORM_PASS;
	if (api->get_number(r, st->key, &v) != 0)
		return snprintf(err, errlen, "field '%s' is not a number", st->key),
		       TW_TRANSFORM_ERROR;
	if (!(w = ma_window_of(st, api->record_device(r))))
		return snprintf(err, errlen, "more than %zu devices, or out of memory",
				st->max_devices), TW_TRANSFORM_ERROR;
	if (api->set_number(r, st->output, ma_push(w, st->window, v)) != 0)
		return snprintf(err, errlen, "cannot add field '%s' (record full)", st->output),
		       TW_TRANSFORM_ERROR;
	return TW_TRANSFORM_PASS;
}

static const struct tw_transform_plugin ma_plugin = {
	.abi_version = TW_TRANSFORM_ABI_VERSION,
	.name = "moving_average",
	.description = "mean of the last N values of one key, per device",
	.init = ma_init,
	.process = ma_process,
	.cleanup = ma_cleanup,
};

TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void)
{
	return &ma_plugin;
}
