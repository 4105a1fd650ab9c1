/* moving_average.c -- built-in plugin: mean of the recent values of a key, per device
 *
 * Options: key (required); window (values, default 10); window_ms (a time
 * window: only values less than window_ms older than the record count;
 * then window caps the values kept and defaults to 1000); output (default
 * "<key>_avg"); max_devices (default 100000, the least recently seen
 * device is forgotten past it). Until a device has sent window values, the
 * mean is over the values it has sent. A record without the key passes
 * unchanged; a key that is not a number fails it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_kit.h"
#include "telewire/transform.h"

#define MA_MAX_WINDOW 100000
#define MA_MAX_WINDOW_MS 31536000000ULL	/* a year */

/* One device: a ring of the last window values (and their ts with window_ms). */
struct ma_dev {
	size_t count, pos;
	double values[];	/* window values, then window int64_t ts when timed */
};

struct ma_state {
	const struct tw_host_api *api;
	char *key, *output;
	size_t window;
	uint64_t window_ms;	/* 0: no time window */
	struct kit_devices devices;
};

static const char *const ma_known[] = { "key", "window", "window_ms", "output", "max_devices",
					NULL };

static void ma_cleanup(void *p)
{
	struct ma_state *st = p;

	if (!st)
		return;
	kit_devices_free(&st->devices);
	free(st->key);
	free(st->output);
	free(st);
}

static int ma_windows(struct ma_state *st, const struct tw_option *opts, size_t nopts,
		      char *err, size_t errlen)
{
	const char *ms = st->api->option(opts, nopts, "window_ms", NULL);
	const char *window = st->api->option(opts, nopts, "window", ms ? "1000" : "10");
	uint64_t v;

	if (ms && kit_parse_u64(ms, 1, MA_MAX_WINDOW_MS, &st->window_ms) != 0)
		return snprintf(err, errlen, "option 'window_ms': expected a whole number of "
				"milliseconds 1..%llu, got \"%s\"", MA_MAX_WINDOW_MS, ms), -1;
	if (kit_parse_u64(window, 1, MA_MAX_WINDOW, &v) != 0)
		return snprintf(err, errlen, "option 'window': expected 1..%d, got \"%s\"",
				MA_MAX_WINDOW, window), -1;
	st->window = (size_t)v;
	return 0;
}

static int ma_options(struct ma_state *st, const struct tw_option *opts, size_t nopts,
		      char *err, size_t errlen)
{
	const struct tw_host_api *api = st->api;
	const char *key = api->option(opts, nopts, "key", NULL);
	const char *output = api->option(opts, nopts, "output", NULL);
	size_t max_devices, size;

	if (kit_check_known(opts, nopts, ma_known, err, errlen) != 0 ||
	    kit_name_option(key, "key", 1, err, errlen) != 0 ||
	    kit_name_option(output, "output", 0, err, errlen) != 0 ||
	    ma_windows(st, opts, nopts, err, errlen) != 0 ||
	    kit_max_devices(api, opts, nopts, &max_devices, err, errlen) != 0)
		return -1;
	size = sizeof(struct ma_dev) + st->window * sizeof(double) +
	       (st->window_ms ? st->window * sizeof(int64_t) : 0);
	st->key = strdup(key);
	st->output = kit_name_or(output, key, "_avg");
	if (!st->key || !st->output ||
	    kit_devices_init(&st->devices, api, "moving_average", max_devices, size) != 0)
		return snprintf(err, errlen, "out of memory"), -1;
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
	if (ma_options(st, opts, nopts, err, errlen) != 0) {
		ma_cleanup(st);
		return -1;
	}
	*state = st;
	return 0;
}

/* Adds v (at ts) to the ring and returns the mean of the values that count
 * at ts: all kept ones, or with a time window those in (ts - window_ms, ts]. */
static double ma_push(const struct ma_state *st, struct ma_dev *d, double v, int64_t ts)
{
	int64_t *times = (int64_t *)(d->values + st->window);
	double sum = 0;
	size_t n = 0;

	d->values[d->pos] = v;
	if (st->window_ms)
		times[d->pos] = ts;
	d->pos = (d->pos + 1) % st->window;
	if (d->count < st->window)
		d->count++;
	/* Summed afresh each time: no drift from adding and subtracting. */
	for (size_t i = 0; i < d->count; i++) {
		if (st->window_ms && (times[i] > ts ||
				      (uint64_t)ts - (uint64_t)times[i] >= st->window_ms))
			continue;
		sum += d->values[i];
		n++;
	}
	return sum / (double)n;	/* n >= 1: the value just added counts */
}

static int ma_process(void *state, struct tw_record *r, char *err, size_t errlen)
{
	struct ma_state *st = state;
	const struct tw_host_api *api = st->api;
	struct ma_dev *d;
	double v;
	int fresh;

	if (api->record_type(r, st->key) == TW_VALUE_NONE)
		return TW_TRANSFORM_PASS;
	if (api->get_number(r, st->key, &v) != 0)
		return snprintf(err, errlen, "field '%s' is not a number", st->key),
		       TW_TRANSFORM_ERROR;
	if (!(d = kit_devices_get(&st->devices, api->record_device(r), &fresh)))
		return snprintf(err, errlen, "out of memory"), TW_TRANSFORM_ERROR;
	if (api->set_number(r, st->output, ma_push(st, d, v, api->record_ts(r))) != 0)
		return snprintf(err, errlen, "cannot add field '%s' (record full)", st->output),
		       TW_TRANSFORM_ERROR;
	return TW_TRANSFORM_PASS;
}

static const struct tw_transform_plugin ma_plugin = {
	.abi_version = TW_TRANSFORM_ABI_VERSION,
	.name = "moving_average",
	.description = "mean of the last N values, or of the last T ms, of one key, per device",
	.init = ma_init,
	.process = ma_process,
	.cleanup = ma_cleanup,
};

TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void)
{
	return &ma_plugin;
}
