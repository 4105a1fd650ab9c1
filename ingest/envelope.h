/* envelope.h -- JSON for what ingest publishes: hub envelopes and deadletters (no I/O) */
#ifndef TELEWIRE_INGEST_ENVELOPE_H
#define TELEWIRE_INGEST_ENVELOPE_H

#include <stddef.h>

#include "telewire/transform_host.h"

#include "queue.h"

/* The envelopes are appended to the caller's buffer (which the receive
 * thread reuses for every message) and return TW_OK, or TW_ERR_NOMEM
 * with what was appended unfinished. */

/* The args of method "telemetry" for r: [{"device","ts","values","seq"}]
 * (seq only when the record has one), as compact JSON text. */
int ingest__record_args(struct ingest_buf *out, const struct tw_record *r);

/* One envelope {"target":"group","name":group,"method":method,"args":args,
 * "key":key} as compact text. args is the text of a JSON array (from
 * ingest__record_args); key may be NULL. */
int ingest__envelope(struct ingest_buf *out, const char *group, const char *method,
		     const char *args, size_t args_len, const char *key);

/* The same for a plugin's emit(): TW_ERR_JSON when args_text is not a
 * JSON array. */
int ingest__envelope_text(struct ingest_buf *out, const char *group, const char *method,
			  const char *args_text, const char *key);

/* A number that is not whole as an envelope writes it: what jansson
 * writes with precision 15 (%.15g, and ".0" when that looks whole).
 * len >= 32; returns the length written into num. */
size_t ingest__number_text(double d, char *num, size_t len);

/* {"reason","topic","payload"} where payload is at most head bytes of the
 * payload as text (bytes that are not UTF-8 become '?'). malloc'd. */
char *ingest__deadletter(const char *reason, const char *topic, const void *payload,
			 size_t len, size_t head);

#endif
