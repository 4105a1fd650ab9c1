/* test_transform_plugin_probe.c -- a test plugin that passes, drops, fails or emits on demand
 *
 * A record with key "drop" is dropped, with "fail" fails, with "alert"
 * emits an alert; every record it passes gets probe = the number of
 * records this instance saw and a conflation key "probe-<device>".
 */
#include <stdio.h>
#include <stdlib.h>

#include "telewire/transform.h"

struct probe {
	const struct tw_host_api *api;
	double seen;
};

static int probe_init(const struct tw_host_api *api, const struct tw_option *opts,
		      size_t nopts, void **state, char *err, size_t errlen)
{
	struct probe *p = calloc(1, sizeof(*p));

	if (!p)
		return snprintf(err, errlen, "out of memory"), -1;
	p->api = api;
	*state = p;
	return 0;
}

static int probe_process(void *state, struct tw_record *r, char *err, size_t errlen)
{
	struct probe *p = state;
	const struct tw_host_api *api = p->api;
	char key[200];

	p->seen++;
	if (api->record_type(r, "drop") != TW_VALUE_NONE)
		return TW_TRANSFORM_DROP;
	if (api->record_type(r, "fail") != TW_VALUE_NONE)
		return snprintf(err, errlen, "asked to fail"), TW_TRANSFORM_ERROR;
	if (api->record_type(r, "alert") != TW_VALUE_NONE &&
	    api->emit(r, "alerts", "alert", "[{\"device\":\"x\",\"level\":2}]") != 0)
		return snprintf(err, errlen, "emit failed"), TW_TRANSFORM_ERROR;
	snprintf(key, sizeof(key), "probe-%s", api->record_device(r));
	api->set_conflation_key(r, key);
	api->set_number(r, "probe", p->seen);
	return TW_TRANSFORM_PASS;
}

static void probe_cleanup(void *state)
{
	free(state);
}

static const struct tw_transform_plugin plugin = {
	.abi_version = TW_TRANSFORM_ABI_VERSION,
	.name = "probe",
	.description = "test plugin",
	.init = probe_init,
	.process = probe_process,
	.cleanup = probe_cleanup,
};

TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void)
{
	return &plugin;
}
