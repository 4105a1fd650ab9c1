/* envelope.c -- backplane envelope parser: sends (target, name, method, args, key, excluded) and membership operations */
#include <stdio.h>
#include <string.h>

#include "telewire/error.h"
#include "envelope.h"
#include "protocol_json.h"

static const char *const target_names[] = { "all", "group", "user", "connection" };

static const char *const op_names[TW_ENV_OP_COUNT] = {
	"send", "addToGroup", "removeFromGroup", "addUserToGroup", "removeUserFromGroup",
	"removeUserFromAllGroups", "closeConnection",
};

const char *tw_envelope_op_name(enum tw_env_op op)
{
	return (unsigned)op < TW_ENV_OP_COUNT ? op_names[op] : "?";
}

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

/* "op": absent means send. */
static int env__op(json_t *o, enum tw_env_op *out)
{
	json_t *v = json_object_get(o, "op");
	const char *t = json_string_value(v);

	*out = TW_ENV_SEND;
	if (!v)
		return 0;
	for (int i = 0; t && i < TW_ENV_OP_COUNT; i++) {
		if (strcmp(t, op_names[i]) == 0) {
			*out = (enum tw_env_op)i;
			return 0;
		}
	}
	return -1;
}

/* A non-empty string of at most max bytes without NUL, or NULL. */
static const char *env__string(json_t *v, size_t max)
{
	size_t n = json_is_string(v) ? json_string_length(v) : 0;

	if (n == 0 || n > max || memchr(json_string_value(v), '\0', n))
		return NULL;
	return json_string_value(v);
}

static const char *env__name(json_t *o, const char *field)
{
	return env__string(json_object_get(o, field), TW_ENVELOPE_MAX_NAME);
}

static int env__excluded(json_t *o, const json_t **out, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, "excluded");

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > TW_ENVELOPE_MAX_EXCLUDED) {
		snprintf(why, whylen, "\"excluded\" must be an array of at most %d connection ids",
			 TW_ENVELOPE_MAX_EXCLUDED);
		return -1;
	}
	for (size_t i = 0; i < json_array_size(v); i++) {
		if (!env__string(json_array_get(v, i), TW_ENVELOPE_MAX_NAME)) {
			snprintf(why, whylen, "\"excluded\" item %zu must be a non-empty string of at "
				 "most %d bytes", i, TW_ENVELOPE_MAX_NAME);
			return -1;
		}
	}
	*out = v;
	return 0;
}

static int env__send(json_t *o, struct tw_envelope *env, json_t *empty, char *why, size_t whylen)
{
	json_t *key = json_object_get(o, "key");

	if (env__target(o, &env->target)) {
		snprintf(why, whylen, "\"target\" must be all, group, user or connection");
		return -1;
	}
	env->name = env__name(o, "name");
	if (env->target != TW_ENV_ALL && !env->name) {
		snprintf(why, whylen, "\"name\" must be a non-empty string of at most %d bytes",
			 TW_ENVELOPE_MAX_NAME);
		return -1;
	}
	if (env->target == TW_ENV_ALL)
		env->name = NULL;
	env->method = env__string(json_object_get(o, "method"), TW_ENVELOPE_MAX_METHOD);
	if (!env->method) {
		snprintf(why, whylen, "\"method\" must be a non-empty string of at most %d bytes",
			 TW_ENVELOPE_MAX_METHOD);
		return -1;
	}
	env->args = json_object_get(o, "args");
	if (!env->args)
		env->args = empty;
	if (!json_is_array(env->args)) {
		snprintf(why, whylen, "\"args\" must be an array");
		return -1;
	}
	if (key && !json_is_string(key)) {
		snprintf(why, whylen, "\"key\" must be a string");
		return -1;
	}
	env->key = json_string_value(key);
	return env__excluded(o, &env->excluded, why, whylen);
}

/* Reads a required name field of an operation. */
static int env__op_name(json_t *o, const char *field, const char **out, enum tw_env_op op,
			char *why, size_t whylen)
{
	*out = env__name(o, field);
	if (*out)
		return 0;
	snprintf(why, whylen, "\"%s\" must be a non-empty string of at most %d bytes (op %s)", field,
		 TW_ENVELOPE_MAX_NAME, op_names[op]);
	return -1;
}

static int env__ttl(json_t *o, long long *out, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, "ttl");

	*out = -1;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > TW_ENVELOPE_MAX_TTL) {
		snprintf(why, whylen, "\"ttl\" must be an integer from 0 to %lld (seconds)",
			 TW_ENVELOPE_MAX_TTL);
		return -1;
	}
	*out = (long long)json_integer_value(v);
	return 0;
}

static int env__reason(json_t *o, const char **out, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, "reason");
	size_t n = json_is_string(v) ? json_string_length(v) : 0;

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || n > TW_ENVELOPE_MAX_REASON || memchr(json_string_value(v), '\0', n)) {
		snprintf(why, whylen, "\"reason\" must be a string of at most %d bytes",
			 TW_ENVELOPE_MAX_REASON);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int env__operation(json_t *o, struct tw_envelope *env, char *why, size_t whylen)
{
	enum tw_env_op op = env->op;

	env->ttl = -1;
	switch (op) {
	case TW_ENV_ADD_TO_GROUP:
	case TW_ENV_REMOVE_FROM_GROUP:
		return env__op_name(o, "connection", &env->connection, op, why, whylen) ||
		       env__op_name(o, "group", &env->group, op, why, whylen) ? -1 : 0;
	case TW_ENV_ADD_USER_TO_GROUP:
		if (env__ttl(o, &env->ttl, why, whylen))
			return -1;
		/* fall through */
	case TW_ENV_REMOVE_USER_FROM_GROUP:
		return env__op_name(o, "user", &env->user, op, why, whylen) ||
		       env__op_name(o, "group", &env->group, op, why, whylen) ? -1 : 0;
	case TW_ENV_REMOVE_USER_FROM_ALL_GROUPS:
		return env__op_name(o, "user", &env->user, op, why, whylen);
	case TW_ENV_CLOSE_CONNECTION:
		return env__op_name(o, "connection", &env->connection, op, why, whylen) ||
		       env__reason(o, &env->reason, why, whylen) ? -1 : 0;
	case TW_ENV_SEND:
		break;
	}
	return -1;
}

/* Where each envelope's "args" is in the payload's text, so that hubs can
 * send it to JSON clients as it is instead of writing it out again. The
 * payload is valid JSON (jansson read it first): this only finds the ends
 * of values. */
static const char *scan__ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* p at a string's opening quote; returns the byte after its closing one. */
static const char *scan__string(const char *p, const char *e)
{
	for (p++; p < e && *p != '"'; p++)
		if (*p == '\\')
			p++;
	return p < e ? p + 1 : e;
}

/* p at a value; returns the byte after it. */
static const char *scan__value(const char *p, const char *e)
{
	size_t depth = 0;

	do {
		if (p >= e)
			return e;
		if (*p == '"') {
			p = scan__string(p, e);
		} else if (*p == '[' || *p == '{') {
			depth++;
			p++;
		} else if (*p == ']' || *p == '}') {
			depth--;
			p++;
		} else if (depth == 0) {	/* a number, true, false or null */
			while (p < e && *p != ',' && *p != ']' && *p != '}' && *p != ' ' &&
			       *p != '\t' && *p != '\n' && *p != '\r')
				p++;
			return p;
		} else {
			p++;
		}
	} while (depth > 0);
	return p;
}

/* p at an envelope (an object: env__one checked); sets env's args_text
 * when its "args" value is written on one line (SSE sends a frame as one
 * line) and its key is spelled "args" without escapes; else the hub
 * writes args out again from the parsed value. */
static void scan__envelope(const char *p, const char *e, struct tw_envelope *env)
{
	if (p >= e || *p != '{')
		return;
	p = scan__ws(p + 1, e);
	while (p < e && *p == '"') {
		const char *key = p + 1, *v;
		int is_args;

		p = scan__string(p, e);
		is_args = p - key == 5 && memcmp(key, "args", 4) == 0;
		p = scan__ws(p, e);
		if (p >= e)
			break;
		v = p = scan__ws(p + 1, e);	/* past the colon */
		p = scan__value(p, e);
		if (is_args && !memchr(v, '\n', (size_t)(p - v)) && !memchr(v, '\r', (size_t)(p - v))) {
			env->args_text = v;
			env->args_len = (size_t)(p - v);
		}
		p = scan__ws(p, e);
		if (p < e && *p == ',')
			p = scan__ws(p + 1, e);
	}
}

static int env__one(json_t *o, const char *text, const char *end, size_t index, tw_envelope_fn fn,
		    void *ctx, struct tw_envelope_result *res, json_t *empty)
{
	struct tw_envelope env = { 0 };
	char why[180];
	int rc;

	if (!json_is_object(o))
		return env__fail(res, index, "not a JSON object");
	if (env__op(o, &env.op))
		return env__fail(res, index, "\"op\" must be send, addToGroup, removeFromGroup, "
				 "addUserToGroup, removeUserFromGroup, removeUserFromAllGroups or "
				 "closeConnection");
	env.ttl = -1;
	rc = env.op == TW_ENV_SEND ? env__send(o, &env, empty, why, sizeof(why))
				   : env__operation(o, &env, why, sizeof(why));
	if (rc)
		return env__fail(res, index, why);
	if (env.op == TW_ENV_SEND && text)
		scan__envelope(text, end, &env);
	res->ok++;
	fn(ctx, &env);
	return TW_OK;
}

int tw_envelope_parse(const void *payload, size_t len, tw_envelope_fn fn, void *ctx,
		      struct tw_envelope_result *res)
{
	json_error_t je;
	json_t *root = tw_json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je), *empty;
	const char *p = payload, *end = p + len;
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
		rc = env__one(root, scan__ws(p, end), end, 0, fn, ctx, res, empty);
	} else {
		/* p walks the array's text beside jansson's items */
		p = scan__ws(scan__ws(p, end) + 1, end);
		for (size_t i = 0; i < json_array_size(root); i++) {
			if (env__one(json_array_get(root, i), p, end, i, fn, ctx, res, empty) != TW_OK)
				rc = TW_ERR_JSON;
			p = scan__ws(scan__value(p, end), end);
			if (p < end && *p == ',')
				p = scan__ws(p + 1, end);
		}
	}
	json_decref(empty);
	json_decref(root);
	return rc;
}
