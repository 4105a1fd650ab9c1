/* envelope.h -- parses backplane envelopes (docs/protocol.md "Results to hubs"); pure, no I/O */
#ifndef TW_PUSH_ENVELOPE_H
#define TW_PUSH_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>

#define TW_ENVELOPE_MAX_NAME 256

enum tw_env_target { TW_ENV_ALL, TW_ENV_GROUP, TW_ENV_USER, TW_ENV_CONNECTION };

/* One valid envelope; pointers are valid only during the callback. */
struct tw_envelope {
	enum tw_env_target target;
	const char *name;	/* NULL for all */
	const char *method;
	const json_t *args;	/* always an array (empty when absent) */
	const char *key;	/* NULL when absent */
};

typedef void (*tw_envelope_fn)(void *ctx, const struct tw_envelope *env);

struct tw_envelope_result {
	size_t ok, bad;
	char first_error[200];	/* why the first bad envelope was refused */
};

/* Parses a payload holding one envelope or an array of envelopes and calls
 * fn for each valid one, in order; bad ones are counted and skipped. A
 * payload that is not JSON at all counts as one bad envelope. Returns TW_OK
 * when every envelope was valid, TW_ERR_JSON otherwise (see res). */
int tw_envelope_parse(const void *payload, size_t len, tw_envelope_fn fn, void *ctx,
		      struct tw_envelope_result *res);

#endif
