/* envelope.h -- parses backplane envelopes (docs/protocol.md "Results to hubs"); pure, no I/O */
#ifndef TW_PUSH_ENVELOPE_H
#define TW_PUSH_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>

#define TW_ENVELOPE_MAX_NAME 1024	/* group, user and connection names (Azure: 1 to 1024) */
#define TW_ENVELOPE_MAX_METHOD 256	/* the SignalR target */
#define TW_ENVELOPE_MAX_REASON 1024	/* closeConnection's reason */
#define TW_ENVELOPE_MAX_EXCLUDED 1000	/* connection ids in "excluded" */
#define TW_ENVELOPE_MAX_TTL 2147483647LL	/* addUserToGroup's "ttl", seconds */

enum tw_env_target { TW_ENV_ALL, TW_ENV_GROUP, TW_ENV_USER, TW_ENV_CONNECTION };

/* What an envelope asks for: a send (the default) or a membership change. */
enum tw_env_op {
	TW_ENV_SEND,
	TW_ENV_ADD_TO_GROUP,			/* connection, group */
	TW_ENV_REMOVE_FROM_GROUP,		/* connection, group */
	TW_ENV_ADD_USER_TO_GROUP,		/* user, group, ttl */
	TW_ENV_REMOVE_USER_FROM_GROUP,		/* user, group */
	TW_ENV_REMOVE_USER_FROM_ALL_GROUPS,	/* user */
	TW_ENV_CLOSE_CONNECTION,		/* connection, reason */
};
#define TW_ENV_OP_COUNT 7

/* One valid envelope; pointers are valid only during the callback. Fields
 * that the op does not use are NULL (ttl -1). */
struct tw_envelope {
	enum tw_env_op op;
	/* send */
	enum tw_env_target target;
	const char *name;	/* NULL for all */
	const char *method;
	const json_t *args;	/* always an array (empty when absent) */
	const char *args_text;	/* args as the payload wrote it, on one line; NULL when not */
	size_t args_len;
	const char *key;	/* NULL when absent */
	const json_t *excluded;	/* array of connection ids not to deliver to, or NULL */
	/* membership operations */
	const char *connection;
	const char *group;
	const char *user;
	const char *reason;	/* closeConnection: NULL when absent */
	long long ttl;		/* addUserToGroup: seconds; -1 when absent (no limit) */
};

typedef void (*tw_envelope_fn)(void *ctx, const struct tw_envelope *env);

struct tw_envelope_result {
	size_t ok, bad;
	char first_error[200];	/* why the first bad envelope was refused */
};

/* The "op" text of an operation ("send", "addToGroup", ...). */
const char *tw_envelope_op_name(enum tw_env_op op);

/* Parses a payload holding one envelope or an array of envelopes and calls
 * fn for each valid one, in order; bad ones are counted and skipped. A
 * payload that is not JSON at all counts as one bad envelope. Returns TW_OK
 * when every envelope was valid, TW_ERR_JSON otherwise (see res). */
int tw_envelope_parse(const void *payload, size_t len, tw_envelope_fn fn, void *ctx,
		      struct tw_envelope_result *res);

#endif
