/* envelope.c -- backplane envelope parser: target, name, method, args, key */
#include <stdio.h>
#include <string.h>

#include "telewire/error.h"
#include "envelope.h"

static const char *const target_names[] = { "all", "group", "user", "connection" };

static int env__fail(struct tw_envelope_result *res, size_t index, const char *why)
{
	if (res->bad++ == 0)
		snprintf(res->first_error, sizeof(res->first_error), "envelope %zu: %s", index, why);
	return TW_ERR_JSON;
}

static int env__target(json_t *o, enum tw_env_target *out)
{
	const char *t = json_string_value(json_object_get(o, "target"));

	for (int i = 0; t && i < 4; i++) {
		if (strcmp(t, target_names[i]) == 0) {
			*out = (enum tw_env_target)i;
			return 0;
		}
	}
	return -1;
}

/* A short non-empty string, or NULL. */
static const char *env__name(json_t *o, const char *field)
{
	json_t *v = json_object_get(o, field);
	size_t n = json_is_string(v) ? json_string_length(v) : 0;

	if (n == 0 || n > TW_ENVELOPE_MAX_NAME || memchr(json_string_value(v), '\0', n))
		return NULL;
	return json_string_value(v);
}

static int env__one(json_t *o, size_t index, tw_envelope_fn fn, void *ctx,
		    struct tw_envelope_result *res, json_t *empty)
{
	struct tw_envelope env = { 0 };
	json_t *key = json_object_get(o, "key");

	if (!json_is_object(o))
		return env__fail(res, index, "not a JSON object");
	if (env__target(o, &env.target))
		return env__fail(res, index, "\"target\" must be all, group, user or connection");
	env.name = env__name(o, "name");
	if (env.target != TW_ENV_ALL && !env.name)
		return env__fail(res, index, "\"name\" must be a non-empty string of at most 256 bytes");
	if (env.target == TW_ENV_ALL)
		env.name = NULL;
	env.method = env__name(o, "method");
	if (!env.method)
		return env__fail(res, index, "\"method\" must be a non-empty string of at most 256 bytes");
	env.args = json_object_get(o, "args");
	if (!env.args)
		env.args = empty;
	if (!json_is_array(env.args))
		return env__fail(res, index, "\"args\" must be an array");
	if (key && !json_is_string(key))
		return env__fail(res, index, "\"key\" must be a string");
	env.key = json_string_value(key);
	res->ok++;
	fn(ctx, &env);
	return TW_OK;
}

int tw_envelope_parse(const void *payload, size_t len, tw_envelope_fn fn, void *ctx,
		      struct tw_envelope_result *res)
{
	json_error_t je;
	json_t *root = json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je), *empty;
	int rc = TW_OK;

	memset(res, 0, sizeof(*res));
	if (!root) {
		res->bad = 1;
		snprintf(res->first_error, sizeof(res->first_error), "not valid JSON: %s (column %d)",
			 je.text, je.column);
		return TW_ERR_JSON;
	}
	empty = json_array();
	if (!json_is_array(root)) {
		rc = env__one(root, 0, fn, ctx, res, empty);
	} else {
		for (size_t i = 0; i < json_array_size(root); i++)
			if (env__one(json_array_get(root, i), i, fn, ctx, res, empty) != TW_OK)
				rc = TW_ERR_JSON;
	}
	json_decref(empty);
	json_decref(root);
	return rc;
}
