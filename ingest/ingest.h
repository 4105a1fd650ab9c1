/* ingest.h -- the telemetry path: MQTT in, decode, transforms, history, batched results out */
#ifndef TELEWIRE_INGEST_INGEST_H
#define TELEWIRE_INGEST_INGEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "decode.h"
#include "dedup.h"
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
	atomic_ullong commits, replayed, journal_errors, rollup_buckets, points_replaced;
	atomic_llong last_commit_ms;	/* wall clock of the last commit; 0 before one */
};

/* One message's records on their way to the writer. */
struct ingest_work {
	struct ingest_work *next;
	struct tw_decoded d;
	unsigned char *keep;	/* keep[i]: store d.recs[i] */
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
	pthread_mutex_t msg_lock;	/* held while a message is handled */
	int closed;			/* under msg_lock: drop further messages */
	struct ingest_buf scratch[2];	/* under msg_lock: envelopes are written here */
	atomic_int stopping;		/* give up waiting for the journal */
	atomic_llong stop_deadline;	/* mono ms: the flusher gives up after it */
	/* History on: the receive thread appends each message to journal[jcur]
	 * (under msg_lock) and checks it against dedup; the writer thread
	 * (writer.c) stores, commits and switches jcur. */
	struct ingest_journal journal[2];
	int jcur;
	struct ingest_dedup dedup;
	pthread_t writer;
	int writer_started;
	pthread_mutex_t wq_lock;	/* the writer's queue, and excl_wanted's waits */
	pthread_cond_t wq_wake, wq_room, excl_done;
	struct ingest_work *wq_head, *wq_tail;
	size_t wq_len;
	int wq_stop;
	int wq_idle;			/* the writer sleeps with no transaction open */
	atomic_int excl_wanted;		/* the writer waits for msg_lock */
	/* the writer thread's own */
	int tx_open, redo;
	int tx_pause;			/* just committed: the next transaction waits a take */
	int64_t tx_start, tx_last;	/* mono ms: the transaction began, last took messages */
	int64_t rollup_due;		/* mono ms; 0: a pass is under way */
	size_t tx_msgs;
	unsigned long long tx_stored, replayed_now;
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

/* The path of journal k (0 or 1) for cfg (history on): --journal (and
 * that with ".2"), or next to the history file, named after the client id.
 * Caller frees. */
char *ingest__journal_path(const struct ingest_config *cfg, int k);

/* ---- shared by ingest.c and writer.c ---- */

/* The device, its records and its route of one message; TW_OK, or the
 * message was rejected (counted, dead-lettered). */
int ingest__decode(struct ingest *ing, const char *topic, const void *payload, size_t len,
		   int64_t wall, struct tw_decoded *d, struct ingest_route **route);
/* Runs r through its route's pipeline; 1: keep it, 0: it goes no further. */
int ingest__transform(struct ingest *ing, struct ingest_route *route, struct tw_record *r);
/* Queues r's envelopes for the hubs: what its plugins emitted (counted
 * in *invalid when not a JSON array), then one per group of route (none
 * when a plugin held the record back with set_publish). scratch: two
 * buffers the caller reuses. Returns the number queued. */
size_t ingest__envelopes(struct ingest_queue *q, struct ingest_buf scratch[2],
			const struct ingest_route *route, const struct tw_record *r,
			unsigned long long *invalid);
/* Hands a message to the writer (receive thread, msg_lock held); waits
 * while the writer's queue is full. */
void ingest__writer_push(struct ingest *ing, struct ingest_work *w);
/* After a message, outside msg_lock: waits while the writer needs it. */
void ingest__writer_step_aside(struct ingest *ing);
/* Stores what both journals hold in one transaction (start-up, and after
 * a failure), the receive thread paused; TW_OK or TW_ERR_DB. */
int ingest__writer_redo(struct ingest *ing);
/* The writer thread. */
void *ingest__writer(void *arg);

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
