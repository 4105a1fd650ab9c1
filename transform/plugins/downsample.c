/* downsample.c -- built-in plugin: at most one record per device per interval goes to the hubs
 *
 * Options: interval (ms, required), max_devices (default 100000). A
 * record goes to the hubs when its ts is at least interval after the last
 * one of its device that went (the first always goes); the others are held
 * back with set_publish(r, 0): they still pass the rest of the pipeline
 * and are stored in history, and events plugins emitted for them still go.
 * Out of order records (ts older than the last one that went) are held back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_kit.h"
#include "telewire/transform.h"

#define DS_MAX_INTERVAL 31536000000ULL	/* a year */

struct ds_dev {
	int has;
	int64_t last;	/* ts of the last record that went to the hubs */
};

struct ds_state {
	const struct tw_host_api *api;
	uint64_t interval;
	struct kit_devices devices;
};

static const char *const ds_known[] = { "interval", "max_devices", NULL };

static void ds_cleanup(void *p)
{
	struct ds_state *st = p;

	if (!st)
		return;
	kit_devices_free(&st->devices);
	free(st);
}

static int ds_options(struct ds_state *st, const struct tw_option *opts, size_t nopts,
		      char *err, size_t errlen)
{
	const struct tw_host_api *api = st->api;
	const char *interval = api->option(opts, nopts, "interval", NULL);
	size_t max_devices;

	if (kit_check_known(opts, nopts, ds_known, err, errlen) != 0)
		return -1;
	if (!interval)
		return snprintf(err, errlen, "option 'interval' is required (milliseconds)"), -1;
	if (kit_parse_u64(interval, 1, DS_MAX_INTERVAL, &st->interval) != 0)
		return snprintf(err, errlen, "option 'interval': expected a whole number of "
				"milliseconds 1..%llu, got \"%s\"", DS_MAX_INTERVAL, interval), -1;
	if (kit_max_devices(api, opts, nopts, &max_devices, err, errlen) != 0)
		return -1;
	if (kit_devices_init(&st->devices, api, "downsample", max_devices,
			     sizeof(struct ds_dev)) != 0)
		return snprintf(err, errlen, "out of memory"), -1;
	return 0;
}

static int ds_init(const struct tw_host_api *api, const struct tw_option *opts, size_t nopts,
		   void **state, char *err, size_t errlen)
{
	struct ds_state *st;

	*state = NULL;
	if (!TW_HOST_API_HAS(api, set_publish))
		return snprintf(err, errlen, "this telewire-ingest is too old: its plugin API "
				"has no set_publish"), -1;
	if (!(st = calloc(1, sizeof(*st))))
		return snprintf(err, errlen, "out of memory"), -1;
	st->api = api;
	if (ds_options(st, opts, nopts, err, errlen) != 0) {
		ds_cleanup(st);
		return -1;
	}
	*state = st;
	return 0;
}

/* 1 when a record at ts goes to the hubs. */
static int ds_due(const struct ds_state *st, const struct ds_dev *d, int64_t ts)
{
	if (!d->has)
		return 1;
	return ts >= d->last && (uint64_t)ts - (uint64_t)d->last >= st->interval;
}

static int ds_process(void *state, struct tw_record *r, char *err, size_t errlen)
{
	struct ds_state *st = state;
	const struct tw_host_api *api = st->api;
	int64_t ts = api->record_ts(r);
	struct ds_dev *d;
	int fresh;

	if (!(d = kit_devices_get(&st->devices, api->record_device(r), &fresh)))
		return snprintf(err, errlen, "out of memory"), TW_TRANSFORM_ERROR;
	if (!ds_due(st, d, ts)) {
		api->set_publish(r, 0);
		return TW_TRANSFORM_PASS;
	}
	d->has = 1;
	d->last = ts;
	return TW_TRANSFORM_PASS;
}

static const struct tw_transform_plugin ds_plugin = {
	.abi_version = TW_TRANSFORM_ABI_VERSION,
	.name = "downsample",
	.description = "at most one record per device per interval goes to the hubs",
	.init = ds_init,
	.process = ds_process,
	.cleanup = ds_cleanup,
};

TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void)
{
	return &ds_plugin;
}
