/* test_transform_plugin_badabi.c -- a test plugin that claims a future ABI version */
#include "telewire/transform.h"

static const struct tw_transform_plugin plugin = {
	.abi_version = 99,
	.name = "badabi",
};

TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void)
{
	return &plugin;
}
