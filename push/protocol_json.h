/* protocol_json.h -- ASP.NET Core SignalR JSON hub protocol: record splitting, parsing, encoding; no I/O
 *
 * Records are JSON texts each followed by the record separator 0x1E. The
 * reader is fed transport bytes in any chunking and hands back whole records.
 */
#ifndef TW_PUSH_PROTOCOL_JSON_H
#define TW_PUSH_PROTOCOL_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

#define TW_HUBPROTO_RS 0x1e
#define TW_HUBPROTO_MAX_RECORD (32 * 1024)

enum tw_hubmsg_type {
	TW_HUBMSG_INVOCATION = 1,
	TW_HUBMSG_STREAM_ITEM = 2,
	TW_HUBMSG_COMPLETION = 3,
	TW_HUBMSG_STREAM_INVOCATION = 4,
	TW_HUBMSG_CANCEL_INVOCATION = 5,
	TW_HUBMSG_PING = 6,
	TW_HUBMSG_CLOSE = 7,
	TW_HUBMSG_ACK = 8,
	TW_HUBMSG_SEQUENCE = 9,
};

struct tw_hubproto_reader {
	char *buf;
	size_t len, cap;
	size_t start;		/* first byte of the next record */
	size_t scanned;		/* bytes from start known to hold no separator */
	size_t max_record;
	int failed;		/* sticky: a record went over max_record */
};

/* json_loadb for data from outside: embedded NULs allowed (they are valid
 * JSON), and a message with an integer beyond 64 bits is read again with
 * every integer as a real, as JavaScript would read it, instead of being
 * refused. Callers that take strings as C strings must check for NULs. */
json_t *tw_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err);

/* max_record: the longest record accepted, separator excluded. */
void tw_hubproto_reader_init(struct tw_hubproto_reader *r, size_t max_record);
void tw_hubproto_reader_free(struct tw_hubproto_reader *r);

/* Appends transport bytes. Returns TW_OK, TW_ERR_NOMEM, or TW_ERR_LIMIT
 * when a record (complete or not) is longer than max_record; after
 * TW_ERR_LIMIT the reader stays failed and the connection must be closed. */
int tw_hubproto_feed(struct tw_hubproto_reader *r, const void *data, size_t n);

/* Takes the next whole record (separator removed). Returns TW_OK with
 * *rec valid until the next feed or next call, TW_ERR_INCOMPLETE when no
 * whole record is buffered, or TW_ERR_LIMIT when the reader failed. */
int tw_hubproto_next(struct tw_hubproto_reader *r, const char **rec, size_t *len);

/* A parsed client message. Strings point into root; free with
 * tw_hubmsg_free. */
struct tw_hubmsg {
	int type;
	const char *target;		/* Invocation */
	const char *invocation_id;	/* optional */
	const char *error;		/* Close, Completion */
	json_t *arguments;		/* Invocation: an array */
	json_t *root;
};

/* Parses one record. Returns TW_OK; TW_ERR_JSON when the record is not a
 * JSON object, has no integer "type" or a field of the wrong type;
 * TW_ERR_PROTOCOL for an unknown type. err gets a specific reason. */
int tw_hubproto_parse(const char *rec, size_t len, struct tw_hubmsg *m, char *err, size_t errlen);
void tw_hubmsg_free(struct tw_hubmsg *m);

enum tw_hubproto_kind { TW_HUBPROTO_JSON = 0, TW_HUBPROTO_MSGPACK = 1 };

/* Checks a handshake request record. Returns TW_OK for {"protocol":"json",
 * "version":1} or {"protocol":"messagepack","version":1} with *protocol
 * set, else TW_ERR_PROTOCOL / TW_ERR_JSON with err set to the text to send
 * back in the handshake response's "error". */
int tw_hubproto_parse_handshake(const char *rec, size_t len, int *protocol, char *err,
				size_t errlen);

/* Encoders append one whole record (separator included) to out and return
 * TW_OK or TW_ERR_NOMEM / TW_ERR_INVAL. */
int tw_hubproto_encode_handshake(struct tw_buf *out, const char *error);
int tw_hubproto_encode_invocation(struct tw_buf *out, const char *target, const json_t *args);
/* The same with the arguments as text: a JSON array, copied as it is (the
 * caller vouches that it is one, on one line). */
int tw_hubproto_encode_invocation_text(struct tw_buf *out, const char *target,
				       const char *args, size_t len);
/* Completion: error when not NULL, else result (NULL: null). */
int tw_hubproto_encode_completion(struct tw_buf *out, const char *invocation_id, const char *error,
				  const json_t *result);
int tw_hubproto_encode_ping(struct tw_buf *out);
int tw_hubproto_encode_close(struct tw_buf *out, const char *error, int allow_reconnect);

#endif
