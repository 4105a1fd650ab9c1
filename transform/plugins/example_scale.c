/* example_scale.c -- example plugin (docs/plugins.md): output = key * factor + offset
 *
 * Options: key (required), factor (default 1), offset (default 0), output
 * (default: key itself, replaced in place). A record without the key
 * passes unchanged; a key that is not a number fails that record.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/transform.h"

struct scale {
	const struct tw_host_api *api;	/* the host's helpers, valid forever */
	char *key, *output;
	double factor, offset;
};

static void scale_cleanup(void *state)
{
	struct scale *s = state;

	if (!s)
		return;
	free(s->key);
	free(s->output);
	free(s);
}

/* A finite number option; def when absent. 0, or -1 after writing err. */
static int scale_number(const struct scale *s, const struct tw_option *opts, size_t nopts,
			const char *name, const char *def, double *out, char *err, size_t errlen)
{
	const char *text = s->api->option(opts, nopts, name, def);
	char *end;

	errno = 0;
	*out = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(*out))
		return snprintf(err, errlen, "option '%s': expected a number, got \"%s\"", name,
				text), -1;
	return 0;
}

static int scale_options(struct scale *s, const struct tw_option *opts, size_t nopts,
			 char *err, size_t errlen)
{
	const char *key = s->api->option(opts, nopts, "key", NULL);
	const char *output = s->api->option(opts, nopts, "output", NULL);

	for (size_t i = 0; i < nopts; i++)
		if (strcmp(opts[i].key, "key") && strcmp(opts[i].key, "factor") &&
		    strcmp(opts[i].key, "offset") && strcmp(opts[i].key, "output"))
			return snprintf(err, errlen, "unknown option '%s' (known: key, factor, "
					"offset, output)", opts[i].key), -1;
	if (!key || !*key)
		return snprintf(err, errlen, "option 'key' is required"), -1;
	if (scale_number(s, opts, nopts, "factor", "1", &s->factor, err, errlen) != 0 ||
	    scale_number(s, opts, nopts, "offset", "0", &s->offset, err, errlen) != 0)
		return -1;
	s->key = strdup(key);
	s->output = strdup(output && *output ? output : key);
	if (!s->key || !s->output)
		return snprintf(err, errlen, "out of memory"), -1;
	return 0;
}

static int scale_init(const struct tw_host_api *api, const struct tw_option *opts, size_t nopts,
		      void **state, char *err, size_t errlen)
{
	struct scale *s = calloc(1, sizeof(*s));

	*state = NULL;
	if (!s)
		return snprintf(err, errlen, "out of memory"), -1;
	s->api = api;
	if (scale_options(s, opts, nopts, err, errlen) != 0) {
		scale_cleanup(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int scale_process(void *state, struct tw_record *r, char *err, size_t errlen)
{
	struct scale *s = state;
	double v;

	if (s->api->record_type(r, s->key) == TW_VALUE_NONE)
		return TW_TRANSFORM_PASS;
	if (s->api->get_number(r, s->key, &v) != 0)
		return snprintf(err, errlen, "field '%s' is not a number", s->key),
		       TW_TRANSFORM_ERROR;
	if (s->api->set_number(r, s->output, v * s->factor + s->offset) != 0)
		return snprintf(err, errlen, "cannot set field '%s' (record full, or the result "
				"is not finite)", s->output), TW_TRANSFORM_ERROR;
	return TW_TRANSFORM_PASS;
}

static const struct tw_transform_plugin scale_plugin = {
	.abi_version = TW_TRANSFORM_ABI_VERSION,
	.name = "example_scale",
	.description = "output = key * factor + offset (the example of docs/plugins.md)",
	.init = scale_init,
	.process = scale_process,
	.cleanup = scale_cleanup,
};

TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void)
{
	return &scale_plugin;
}
