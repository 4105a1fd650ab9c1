/* decode.h -- telemetry payload decoder: bytes in, records or a reason out (no I/O) */
#ifndef TELEWIRE_INGEST_DECODE_H
#define TELEWIRE_INGEST_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "telewire/transform_host.h"

struct tw_decode_limits {
	size_t max_payload;	/* bytes; 0: 65536 */
	size_t max_fields;	/* values per record; 0: 64 */
	size_t max_string;	/* bytes per string value; 0: 256 */
	size_t max_records;	/* records per array payload; 0: 1000 */
	int64_t max_future_ms;	/* how far ts may lie ahead of now; 0: 300000 */
};

/* The records of one message, in payload order. */
struct tw_decoded {
	struct tw_record **recs;
	size_t n;
};

/* Decodes one payload of device, in any of ThingsBoard's shapes (see
 * docs/protocol.md): an object of values, {"ts","seq","values"}, or an
 * array of either. "ts" and "seq" are never values. A record without ts
 * gets now_ms and the TW_RECORD_TS_RECEIVED flag. Returns TW_OK and fills
 * out (free with tw_decoded_free), or TW_ERR_JSON / TW_ERR_LIMIT /
 * TW_ERR_NOMEM after writing a specific reason into reason; out is then
 * empty. */
int tw_telemetry_decode(const void *payload, size_t len, const char *device, int64_t now_ms,
			const struct tw_decode_limits *lim, struct tw_decoded *out,
			char *reason, size_t reasonlen);

/* tw_telemetry_decode's two paths. The fast one takes the common shapes
 * (a flat object of values, or ts/seq/values with a flat values object,
 * ASCII strings without escapes, short numbers) and returns TW_OK, or
 * TW_ERR_AGAIN for anything else, out empty. The other, through jansson,
 * takes everything and writes the reasons; the tests compare the two. */
int tw_telemetry_decode_fast(const void *payload, size_t len, const char *device,
			     int64_t now_ms, const struct tw_decode_limits *lim,
			     struct tw_decoded *out);
int tw_telemetry_decode_json(const void *payload, size_t len, const char *device,
			     int64_t now_ms, const struct tw_decode_limits *lim,
			     struct tw_decoded *out, char *reason, size_t reasonlen);

void tw_decoded_free(struct tw_decoded *d);

#endif
