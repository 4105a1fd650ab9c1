/* unit_convert.c -- built-in plugin: converts one numeric key between units
 *
 * Options: key (required), from and to (required, the same kind of unit:
 * temperature c/f/k, speed km_h/m_s/mph), output (default: key itself,
 * replaced in place). A record without the key passes unchanged; a key
 * that is not a number fails it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/transform.h"

/* base = value * scale + offset; the base unit of a kind has scale 1, offset 0. */
struct uc_unit {
	const char *name, *kind;
	double scale, offset;
};

static const struct uc_unit uc_units[] = {
	{ "k", "temperature", 1.0, 0.0 },
	{ "c", "temperature", 1.0, 273.15 },
	{ "f", "temperature", 5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0 },
	{ "m_s", "speed", 1.0, 0.0 },
	{ "km_h", "speed", 1.0 / 3.6, 0.0 },
	{ "mph", "speed", 0.44704, 0.0 },
};

struct uc_state {
	const struct tw_host_api *api;
	const struct uc_unit *from, *to;
	char *key, *output;
};

static const struct uc_unit *uc_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(uc_units) / sizeof(uc_units[0]); i++)
		if (strcmp(uc_units[i].name, name) == 0)
			return &uc_units[i];
	return NULL;
}

static void uc_cleanup(void *p)
{
	struct uc_state *st = p;

	if (!st)
		return;
	free(st->key);
	free(st->output);
	free(st);
}

static int uc_check_known(const struct tw_option *opts, size_t nopts, char *err, size_t errlen)
{
	for (size_t i = 0; i < nopts; i++) {
		const char *k = opts[i].key;

		if (strcmp(k, "key") && strcmp(k, "from") && strcmp(k, "to") &&
		    strcmp(k, "output"))
			return snprintf(err, errlen, "unknown option '%s' (known: key, from, "
					"to, output)", k), -1;
	}
	return 0;
}

static int uc_options(struct uc_state *st, const struct tw_option *opts, size_t nopts,
		      char *err, size_t errlen)
{
	const struct tw_host_api *api = st->api;
	const char *key = api->option(opts, nopts, "key", NULL);
	const char *from = api->option(opts, nopts, "from", NULL);
	const char *to = api->option(opts, nopts, "to", NULL);
	const char *output = api->option(opts, nopts, "output", NULL);

	if (uc_check_known(opts, nopts, err, errlen) != 0)
		return -1;
	if (!key || !*key)
		return snprintf(err, errlen, "option 'key' is required"), -1;
	if (!(st->from = uc_find(from)))
		return snprintf(err, errlen, "option 'from': unknown unit \"%s\" (known: c, f, "
				"k, km_h, m_s, mph)", from ? from : ""), -1;
	if (!(st->to = uc_find(to)))
		return snprintf(err, errlen, "option 'to': unknown unit \"%s\" (known: c, f, "
				"k, km_h, m_s, mph)", to ? to : ""), -1;
	if (strcmp(st->from->kind, st->to->kind) != 0)
		return snprintf(err, errlen, "cannot convert %s (%s) to %s (%s)", from,
				st->from->kind, to, st->to->kind), -1;
	st->key = strdup(key);
	st->output = strdup(output && *output ? output : key);
	if (!st->key || !st->output)
		return snprintf(err, errlen, "out of memory"), -1;
	return 0;
}

static int uc_init(const struct tw_host_api *api, const struct tw_option *opts, size_t nopts,
		   void **state, char *err, size_t errlen)
{
	struct uc_state *st = calloc(1, sizeof(*st));

	*state = NULL;
	if (!st)
		return snprintf(err, errlen, "out of memory"), -1;
	st->api = api;
	if (uc_options(st, opts, nopts, err, errlen) != 0) {
		uc_cleanup(st);
		return -1;
	}
	*state = st;
	return 0;
}

static int uc_process(void *state, struct tw_record *r, char *err, size_t errlen)
{
	struct uc_state *st = state;
	const struct tw_host_api *api = st->api;
	double v, base;

	if (api->record_type(r, st->key) == TW_VALUE_NONE)
		return TW_TRANSFORM_PASS;
	if (api->get_number(r, st->key, &v) != 0)
		return snprintf(err, errlen, "field '%s' is not a number", st->key),
		       TW_TRANSFORM_ERROR;
	base = v * st->from->scale + st->from->offset;
	if (api->set_number(r, st->output, (base - st->to->offset) / st->to->scale) != 0)
		return snprintf(err, errlen, "cannot set field '%s' (record full)", st->output),
		       TW_TRANSFORM_ERROR;
	return TW_TRANSFORM_PASS;
}

static const struct tw_transform_plugin uc_plugin = {
	.abi_version = TW_TRANSFORM_ABI_VERSION,
	.name = "unit_convert",
	.description = "converts one numeric key between units of temperature or speed",
	.init = uc_init,
	.process = uc_process,
	.cleanup = uc_cleanup,
};

TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void)
{
	return &uc_plugin;
}
