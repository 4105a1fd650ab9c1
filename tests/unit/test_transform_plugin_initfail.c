/* test_transform_plugin_initfail.c -- a test plugin whose init refuses its options */
#include <stdio.h>

#include "telewire/transform.h"

static int initfail_init(const struct tw_host_api *api, const struct tw_option *opts,
			 size_t nopts, void **state, char *err, size_t errlen)
{
	const char *t = api->option(opts, nopts, "threshold", NULL);

	if (!t) {
		snprintf(err, errlen, "option 'threshold' is required");
		return -1;
	}
	snprintf(err, errlen, "option 'threshold': \"%s\" is not a number", t);
	return -1;
}

static int initfail_process(void *state, struct tw_record *r, char *err, size_t errlen)
{
	return TW_TRANSFORM_PASS;
}

static const struct tw_transform_plugin plugin = {
	.abi_version = TW_TRANSFORM_ABI_VERSION,
	.name = "initfail",
	.init = initfail_init,
	.process = initfail_process,
};

TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void)
{
	return &plugin;
}
