/* threshold.c -- built-in plugin: raises and clears alerts when a key crosses thresholds, with hysteresis
 *
 * Options: key (required); high and/or low (at least one); hysteresis
 * (default 0); name (default: key); output (default "<key>_alert"); group
 * (default "alerts"); method (default "alert"); max_devices (default
 * 100000). Per device, an alert is raised when the value goes above high
 * (or below low) and cleared only once it is back inside by the band:
 * value <= high - hysteresis (value >= low + hysteresis). Each change
 * emits an event; the record passes with output = true while raised.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_kit.h"
#include "telewire/transform.h"

enum th_level { TH_NORMAL = 0, TH_HIGH, TH_LOW };

struct th_dev {
	enum th_level level;	/* zeroed: a new device is normal */
};

struct th_state {
	const struct tw_host_api *api;
	char *key, *name, *output, *group, *method;
	int has_high, has_low;
	double high, low, hysteresis;
	struct kit_devices devices;
};

static const char *const th_known[] = { "key", "high", "low", "hysteresis", "name", "output",
					"group", "method", "max_devices", NULL };

static void th_cleanup(void *p)
{
	struct th_state *st = p;

	if (!st)
		return;
	kit_devices_free(&st->devices);
	free(st->key);
	free(st->name);
	free(st->output);
	free(st->group);
	free(st->method);
	free(st);
}

/* An optional number option; *has says whether it was given. */
static int th_number(const struct th_state *st, const struct tw_option *opts, size_t nopts,
		     const char *option, int *has, double *out, char *err, size_t errlen)
{
	const char *text = st->api->option(opts, nopts, option, NULL);

	*has = text != NULL;
	if (text && kit_parse_double(text, out) != 0)
		return snprintf(err, errlen, "option '%s': expected a number, got \"%s\"", option,
				text), -1;
	return 0;
}

static int th_thresholds(struct th_state *st, const struct tw_option *opts, size_t nopts,
			 char *err, size_t errlen)
{
	int has_band;

	if (th_number(st, opts, nopts, "high", &st->has_high, &st->high, err, errlen) != 0 ||
	    th_number(st, opts, nopts, "low", &st->has_low, &st->low, err, errlen) != 0 ||
	    th_number(st, opts, nopts, "hysteresis", &has_band, &st->hysteresis, err,
		      errlen) != 0)
		return -1;
	if (!st->has_high && !st->has_low)
		return snprintf(err, errlen, "option 'high' or 'low' is required (a threshold)"),
		       -1;
	if (st->hysteresis < 0)
		return snprintf(err, errlen, "option 'hysteresis': expected a number >= 0, got "
				"%g", st->hysteresis), -1;
	if (st->has_high && st->has_low && st->low >= st->high)
		return snprintf(err, errlen, "option 'low' (%g) must be below option 'high' (%g)",
				st->low, st->high), -1;
	return 0;
}

static int th_names(struct th_state *st, const struct tw_option *opts, size_t nopts,
		    char *err, size_t errlen)
{
	const struct tw_host_api *api = st->api;
	const char *key = api->option(opts, nopts, "key", NULL);
	const char *name = api->option(opts, nopts, "name", NULL);
	const char *output = api->option(opts, nopts, "output", NULL);
	const char *group = api->option(opts, nopts, "group", NULL);
	const char *method = api->option(opts, nopts, "method", NULL);

	if (kit_name_option(key, "key", 1, err, errlen) != 0 ||
	    kit_name_option(name, "name", 0, err, errlen) != 0 ||
	    kit_name_option(output, "output", 0, err, errlen) != 0 ||
	    kit_name_option(group, "group", 0, err, errlen) != 0 ||
	    kit_name_option(method, "method", 0, err, errlen) != 0)
		return -1;
	st->key = strdup(key);
	st->name = kit_name_or(name, key, "");
	st->output = kit_name_or(output, key, "_alert");
	st->group = kit_name_or(group, "alerts", "");
	st->method = kit_name_or(method, "alert", "");
	if (!st->key || !st->name || !st->output || !st->group || !st->method)
		return snprintf(err, errlen, "out of memory"), -1;
	return 0;
}

static int th_init(const struct tw_host_api *api, const struct tw_option *opts, size_t nopts,
		   void **state, char *err, size_t errlen)
{
	struct th_state *st = calloc(1, sizeof(*st));
	size_t max_devices;

	*state = NULL;
	if (!st)
		return snprintf(err, errlen, "out of memory"), -1;
	st->api = api;
	if (kit_check_known(opts, nopts, th_known, err, errlen) != 0 ||
	    th_names(st, opts, nopts, err, errlen) != 0 ||
	    th_thresholds(st, opts, nopts, err, errlen) != 0 ||
	    kit_max_devices(api, opts, nopts, &max_devices, err, errlen) != 0) {
		th_cleanup(st);
		return -1;
	}
	if (kit_devices_init(&st->devices, api, "threshold", max_devices,
			     sizeof(struct th_dev)) != 0) {
		th_cleanup(st);
		return snprintf(err, errlen, "out of memory"), -1;
	}
	*state = st;
	return 0;
}

/* The level after value v: a raised alert holds until v is back inside by
 * the band; going straight past the other threshold switches sides. */
static enum th_level th_next(const struct th_state *st, enum th_level cur, double v)
{
	int above = st->has_high && v > st->high, below = st->has_low && v < st->low;

	switch (cur) {
	case TH_HIGH:
		if (below)
			return TH_LOW;
		return v <= st->high - st->hysteresis ? TH_NORMAL : TH_HIGH;
	case TH_LOW:
		if (above)
			return TH_HIGH;
		return v >= st->low + st->hysteresis ? TH_NORMAL : TH_LOW;
	default:
		return above ? TH_HIGH : below ? TH_LOW : TH_NORMAL;
	}
}

/* Emits one raised or cleared event for the alert of level lv. */
static int th_emit(const struct th_state *st, struct tw_record *r, enum th_level lv, double v,
		   const char *state, char *err, size_t errlen)
{
	const struct tw_host_api *api = st->api;
	struct kit_json j;
	const char *args;

	kit_json_begin(&j);
	kit_json_member_str(&j, "type", "threshold");
	kit_json_member_str(&j, "name", st->name);
	kit_json_member_str(&j, "device", api->record_device(r));
	kit_json_member_str(&j, "key", st->key);
	kit_json_member_num(&j, "value", v);
	kit_json_member_num(&j, "threshold", lv == TH_HIGH ? st->high : st->low);
	kit_json_member_str(&j, "bound", lv == TH_HIGH ? "high" : "low");
	kit_json_member_str(&j, "state", state);
	kit_json_member_int(&j, "ts", api->record_ts(r));
	if (!(args = kit_json_end(&j)) || api->emit(r, st->group, st->method, args) != 0)
		return snprintf(err, errlen, "cannot queue the '%s' event of alert '%s'", state,
				st->name), -1;
	return 0;
}

static int th_process(void *state, struct tw_record *r, char *err, size_t errlen)
{
	struct th_state *st = state;
	const struct tw_host_api *api = st->api;
	enum th_level next;
	struct th_dev *d;
	double v;
	int fresh;

	if (api->record_type(r, st->key) == TW_VALUE_NONE)
		return TW_TRANSFORM_PASS;
	if (api->get_number(r, st->key, &v) != 0)
		return snprintf(err, errlen, "field '%s' is not a number", st->key),
		       TW_TRANSFORM_ERROR;
	if (!(d = kit_devices_get(&st->devices, api->record_device(r), &fresh)))
		return snprintf(err, errlen, "out of memory"), TW_TRANSFORM_ERROR;
	next = th_next(st, d->level, v);
	if (api->set_bool(r, st->output, next != TH_NORMAL) != 0)
		return snprintf(err, errlen, "cannot add field '%s' (record full)", st->output),
		       TW_TRANSFORM_ERROR;
	if (next != d->level && d->level != TH_NORMAL &&
	    th_emit(st, r, d->level, v, "cleared", err, errlen) != 0)
		return TW_TRANSFORM_ERROR;
	if (next != d->level && next != TH_NORMAL &&
	    th_emit(st, r, next, v, "raised", err, errlen) != 0)
		return TW_TRANSFORM_ERROR;
	d->level = next;	/* only once the events are queued: a failure retries */
	return TW_TRANSFORM_PASS;
}

static const struct tw_transform_plugin th_plugin = {
	.abi_version = TW_TRANSFORM_ABI_VERSION,
	.name = "threshold",
	.description = "alerts when a key goes above or below a threshold, with hysteresis",
	.init = th_init,
	.process = th_process,
	.cleanup = th_cleanup,
};

TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void)
{
	return &th_plugin;
}
