/* ingest.h -- the telemetry path: MQTT in, decode, transforms, history, batched results out */
#ifndef TELEWIRE_INGEST_INGEST_H
#define TELEWIRE_INGEST_INGEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "decode.h"
#include "journal.h"
#include "queue.h"
#include "routes.h"
#include "telewire/history.h"
#include "telewire/mqtt.h"

struct ingest_stats {
	atomic_ullong received, rejected, rejected_limit, rejected_json, deadletter_failed;
	atomic_ullong stored, duplicates, db_errors, unrouted;
	atomic_ullong transform_failed, transform_dropped;
	atomic_ullong published, publish_failed, emit_invalid;
	atomic_ullong commits, replayed, journal_errors, rollup_buckets;
};

struct ingest {
	const struct ingest_config *cfg;
	struct ingest_routes *routes;
	struct tw_history *history;	/* NULL: history off */
	struct tw_decode_limits lim;
	struct tw_mqtt *sub, *pub;	/* consumer (persistent session), publisher */
	struct ingest_queue queue;
	pthread_t flusher;
	int flusher_started;
	pthread_mutex_t msg_lock;	/* held while a message is handled, and by commits */
	int closed;			/* under msg_lock: drop further messages */
	atomic_int stopping;		/* give up waiting for the journal */
	/* Group commit (history on), all under msg_lock: messages are added to
	 * an open transaction, and journaled first; see journal.h. */
	struct ingest_journal journal;
	int tx_open;
	int64_t tx_start;		/* mono ms of its first message */
	size_t tx_msgs;
	unsigned long long tx_stored;	/* records it will have stored */
	int redo;			/* a commit failed: replay the journal first */
	off_t published_end;		/* journal records before it had their results published */
	int replaying, replay_publish;
	int64_t rollup_due;		/* mono ms of the next rollup pass; 0: one is under way */
	pthread_t committer;
	pthread_cond_t commit_wake;
	int committer_started;
	atomic_llong stop_deadline;	/* mono ms: the flusher gives up after it */
	char results_topic[256];
	struct ingest_stats st;
	unsigned long long queue_dropped; /* kept when the queue is gone */
	int64_t last_reject_log;	/* rate limit of reject and error lines */
	unsigned long long suppressed;
};

/* Sets up the queue, the flusher thread and both MQTT clients; messages
 * flow once this returns TW_OK. history and routes stay the caller's, and
 * must outlive ingest__stop. On failure everything started is stopped. */
int ingest__start(struct ingest *ing, const struct ingest_config *cfg,
		  struct ingest_routes *routes, struct tw_history *history);

/* The journal's path for cfg (history on): --journal, or next to the
 * history file, named after the client id. Caller frees. */
char *ingest__journal_path(const struct ingest_config *cfg);

/* Stops consuming, publishes what is queued (up to a few seconds), stops
 * the publisher. */
void ingest__stop(struct ingest *ing);

/* One message as Paho delivers it (a tw_mqtt_message_fn; ctx: ingest).
 * When it returns, the message is in the journal (history on), and its
 * records are committed within --commit-ms. */
void ingest__on_message(void *ctx, const char *topic, const void *payload, size_t len,
			int qos);

/* The device id in a topic: the level after "devices/". TW_OK or TW_ERR_INVAL. */
int ingest__topic_device(const char *topic, char *device, size_t len);
/* The same from level `level` of the topic (1: the first); level 0 is the
 * rule above. An empty or too long level is TW_ERR_INVAL. */
int ingest__topic_device_at(const char *topic, long long level, char *device, size_t len);

/* Writes the counters in Prometheus text format (a tw_metrics_fill_fn; ctx: ingest). */
void ingest__metrics_fill(void *ctx, FILE *out);

/* Logs one summary line of the counters. */
void ingest__log_stats(struct ingest *ing);

#endif
