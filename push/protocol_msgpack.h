/* protocol_msgpack.h -- ASP.NET Core SignalR MessagePack hub protocol: record splitting, parsing, encoding; no I/O
 *
 * Each message on the wire is a VarInt length (7 bits a byte, low bits
 * first, at most 5 bytes, at most 0x7fffffff) followed by that many bytes
 * holding one MessagePack array whose first element is the message type.
 * The handshake stays JSON (protocol_json.h). Parsed messages use the same
 * struct tw_hubmsg as the JSON protocol, so the hub handles both alike.
 */
#ifndef TW_PUSH_PROTOCOL_MSGPACK_H
#define TW_PUSH_PROTOCOL_MSGPACK_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "protocol_json.h"

#define TW_HUBMP_MAX_PREFIX 5	/* bytes of a VarInt length prefix */
#define TW_HUBMP_MAX_DEPTH 32	/* nested arrays and maps, the message array included */

struct tw_hubmp_reader {
	char *buf;
	size_t len, cap;
	size_t start;		/* first byte (length prefix) of the next record */
	size_t checked;		/* bytes from start whose prefixes are known good */
	size_t max_record;
	int failed;		/* sticky: a length prefix was bad or over max_record */
};

/* max_record: the longest message accepted, length prefix excluded. */
void tw_hubmp_reader_init(struct tw_hubmp_reader *r, size_t max_record);
void tw_hubmp_reader_free(struct tw_hubmp_reader *r);

/* Appends transport bytes. Returns TW_OK, TW_ERR_NOMEM, or TW_ERR_LIMIT
 * when a length prefix declares more than max_record bytes, runs past 5
 * bytes or past 0x7fffffff (checked as soon as the prefix is buffered,
 * before its body arrives); after TW_ERR_LIMIT the reader stays failed and
 * the connection must be closed. The reader holds at most one partial
 * message plus what one feed adds, when the caller drains it with
 * tw_hubmp_next after each feed. */
int tw_hubmp_feed(struct tw_hubmp_reader *r, const void *data, size_t n);

/* Takes the next whole message (length prefix removed). Returns TW_OK with
 * *rec valid until the next feed or free, TW_ERR_INCOMPLETE when no whole
 * message is buffered, or TW_ERR_LIMIT when the reader failed. A message
 * may be empty (len 0): tw_hubmp_parse refuses it. */
int tw_hubmp_next(struct tw_hubmp_reader *r, const char **rec, size_t *len);

/*
 * Parses one message (without its length prefix) into m; free it with
 * tw_hubmsg_free. m->root is a JSON object built from the message, holding
 * the fields by their JSON-protocol names ("type", "headers",
 * "invocationId", "target", "arguments", "streamIds", "item", "result",
 * "error", "allowReconnect", "sequenceId"); m's strings and m->arguments
 * point into it. An absent or nil invocation id or error is left out;
 * an empty invocation id of an Invocation counts as absent, as in .NET.
 *
 * Values map to JSON: nil → null, bool, integers → integer (above
 * LLONG_MAX → real), float32/64 → real (NaN and infinities refused), str
 * → string (must be UTF-8), bin → base64 string (padded, as the JSON
 * protocol carries byte arrays), array, map with string keys → object.
 * Extension types (timestamps included) are refused.
 *
 * Returns TW_OK; TW_ERR_JSON for a message that is not well-formed
 * MessagePack, not an array starting with an integer type, has trailing
 * bytes, nests deeper than TW_HUBMP_MAX_DEPTH, or has a field missing or of
 * the wrong type; TW_ERR_PROTOCOL for an unknown message type; TW_ERR_NOMEM.
 * err gets a specific reason naming the field. Array elements past the
 * ones a type defines are ignored, as both official clients do.
 */
int tw_hubmp_parse(const void *rec, size_t len, struct tw_hubmsg *m, char *err, size_t errlen);

/*
 * Encoders append one whole length-prefixed message to out and return
 * TW_OK, TW_ERR_NOMEM, or TW_ERR_INVAL (a NULL or non-UTF-8 string, args
 * not an array, a value nested deeper than TW_HUBMP_MAX_DEPTH); on error
 * out is left as it was. JSON values become: integer → the smallest int
 * format, real → float64, string → str, true/false, null → nil, array,
 * object → map. Messages have the shapes the .NET server sends.
 */
/* [1, {}, nil, target, args, []]: an invocation that expects no result. */
int tw_hubmp_encode_invocation(struct tw_buf *out, const char *target, const json_t *args);
/* [3, {}, id, 1, error] when error is set; else [3, {}, id, 2] when result
 * is NULL; else [3, {}, id, 3, result]. */
int tw_hubmp_encode_completion(struct tw_buf *out, const char *invocation_id, const char *error,
			       const json_t *result);
/* [6], always the bytes 02 91 06. */
int tw_hubmp_encode_ping(struct tw_buf *out);
/* [7, error or nil, allow_reconnect]; an empty error is sent as nil. */
int tw_hubmp_encode_close(struct tw_buf *out, const char *error, int allow_reconnect);

#endif
