/* envelope.h -- JSON for what ingest publishes: hub envelopes and deadletters (no I/O) */
#ifndef TELEWIRE_INGEST_ENVELOPE_H
#define TELEWIRE_INGEST_ENVELOPE_H

#include <stddef.h>

#include "telewire/transform_host.h"

/* The args of method "telemetry" for r: [{"device","ts","values","seq"}]
 * (seq only when the record has one), as compact JSON text (malloc'd; the
 * void * lets one text serve every group of the route); free with
 * ingest__json_free. NULL: out of memory. */
void *ingest__record_args(const struct tw_record *r);
void ingest__json_free(void *json);

/* One envelope {"target":"group","name":group,"method":method,"args":args,
 * "key":key} as compact text (malloc'd). args is the text of a JSON array
 * (from ingest__record_args), which the call does not take; key may be
 * NULL. NULL: out of memory. */
char *ingest__envelope(const char *group, const char *method, void *args, const char *key);

/* The same for a plugin's emit(): args_text must be a JSON array. NULL
 * when it is not (or out of memory). */
char *ingest__envelope_text(const char *group, const char *method, const char *args_text,
			    const char *key);

/* {"reason","topic","payload"} where payload is at most head bytes of the
 * payload as text (bytes that are not UTF-8 become '?'). malloc'd. */
char *ingest__deadletter(const char *reason, const char *topic, const void *payload,
			 size_t len, size_t head);

#endif
