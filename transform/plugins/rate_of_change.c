/* rate_of_change.c -- built-in plugin: how fast a key changes, per device
 *
 * Options: key (required), output (default "<key>_rate"), per (second,
 * minute or hour; default second), max_devices (default 100000). output =
 * (value - previous value) / (ts - previous ts), scaled to per. The first
 * value of a device has no rate; neither has a value whose ts is not newer
 * than the device's last one: equal ts replaces the last value, older ts
 * (out of order) is ignored. A record without the key passes unchanged.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_kit.h"
#include "telewire/transform.h"

struct rc_dev {
	int has;
	int64_t ts;
	double value;
};

struct rc_state {
	const struct tw_host_api *api;
	char *key, *output;
	double ms_per_unit;
	struct kit_devices devices;
};

static const char *const rc_known[] = { "key", "output", "per", "max_devices", NULL };

static void rc_cleanup(void *p)
{
	struct rc_state *st = p;

	if (!st)
		return;
	kit_devices_free(&st->devices);
	free(st->key);
	free(st->output);
	free(st);
}

static int rc_per(struct rc_state *st, const char *per, char *err, size_t errlen)
{
	if (strcmp(per, "second") == 0)
		st->ms_per_unit = 1000;
	else if (strcmp(per, "minute") == 0)
		st->ms_per_unit = 60000;
	else if (strcmp(per, "hour") == 0)
		st->ms_per_unit = 3600000;
	else
		return snprintf(err, errlen, "option 'per': expected second, minute or hour, "
				"got \"%s\"", per), -1;
	return 0;
}

static int rc_options(struct rc_state *st, const struct tw_option *opts, size_t nopts,
		      char *err, size_t errlen)
{
	const struct tw_host_api *api = st->api;
	const char *key = api->option(opts, nopts, "key", NULL);
	const char *output = api->option(opts, nopts, "output", NULL);
	size_t max_devices;

	if (kit_check_known(opts, nopts, rc_known, err, errlen) != 0 ||
	    kit_name_option(key, "key", 1, err, errlen) != 0 ||
	    kit_name_option(output, "output", 0, err, errlen) != 0 ||
	    rc_per(st, api->option(opts, nopts, "per", "second"), err, errlen) != 0 ||
	    kit_max_devices(api, opts, nopts, &max_devices, err, errlen) != 0)
		return -1;
	st->key = strdup(key);
	st->output = kit_name_or(output, key, "_rate");
	if (!st->key || !st->output ||
	    kit_devices_init(&st->devices, api, "rate_of_change", max_devices,
			     sizeof(struct rc_dev)) != 0)
		return snprintf(err, errlen, "out of memory"), -1;
	return 0;
}

static int rc_init(const struct tw_host_api *api, const struct tw_option *opts, size_t nopts,
		   void **state, char *err, size_t errlen)
{
	struct rc_state *st = calloc(1, sizeof(*st));

	*state = NULL;
	if (!st)
		return snprintf(err, errlen, "out of memory"), -1;
	st->api = api;
	if (rc_options(st, opts, nopts, err, errlen) != 0) {
		rc_cleanup(st);
		return -1;
	}
	*state = st;
	return 0;
}

static int rc_process(void *state, struct tw_record *r, char *err, size_t errlen)
{
	struct rc_state *st = state;
	const struct tw_host_api *api = st->api;
	int64_t ts = api->record_ts(r);
	struct rc_dev *d;
	double v, rate;
	int fresh;

	if (api->record_type(r, st->key) == TW_VALUE_NONE)
		return TW_TRANSFORM_PASS;
	if (api->get_number(r, st->key, &v) != 0)
		return snprintf(err, errlen, "field '%s' is not a number", st->key),
		       TW_TRANSFORM_ERROR;
	if (!(d = kit_devices_get(&st->devices, api->record_device(r), &fresh)))
		return snprintf(err, errlen, "out of memory"), TW_TRANSFORM_ERROR;
	if (d->has && ts < d->ts)
		return TW_TRANSFORM_PASS;	/* out of order: no rate, state kept */
	if (d->has && ts > d->ts) {
		/* ts > d->ts, so the unsigned difference is exact and positive. */
		rate = (v - d->value) /
		       ((double)((uint64_t)ts - (uint64_t)d->ts) / st->ms_per_unit);
		if (!isfinite(rate))
			return snprintf(err, errlen, "rate of '%s' is too large for a number",
					st->key), TW_TRANSFORM_ERROR;
		if (api->set_number(r, st->output, rate) != 0)
			return snprintf(err, errlen, "cannot add field '%s' (record full)",
					st->output), TW_TRANSFORM_ERROR;
	}
	d->has = 1;
	d->ts = ts;
	d->value = v;
	return TW_TRANSFORM_PASS;
}

static const struct tw_transform_plugin rc_plugin = {
	.abi_version = TW_TRANSFORM_ABI_VERSION,
	.name = "rate_of_change",
	.description = "change of one key per second, minute or hour, per device",
	.init = rc_init,
	.process = rc_process,
	.cleanup = rc_cleanup,
};

TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void)
{
	return &rc_plugin;
}
