/* queue.h -- the bounded queue of results between Paho's thread and the hubs' topic
 *
 * Producers copy each envelope into the batch being filled, a JSON array
 * text, and never wait. A batch closes at batch_max envelopes or
 * batch_bytes, or linger_ms after its first envelope. The receive thread
 * publishes closed batches itself after each message (ingest__queue_try);
 * the flusher thread takes the open one at linger_ms when no message came
 * to close it, and whatever could not be published at once. One batch is published at a time, oldest first.
 * The queue holds at most cap envelopes: past it the oldest batch is
 * dropped whole and its envelopes counted (history keeps the truth; this
 * only feeds live views).
 *
 * Why the receive thread publishes: Paho's receive thread holds the
 * library's lock except while it runs our callback, so a publish from
 * any other thread waited for it, and woke it, again and again per batch
 * (a futex call every few messages on both sides). An envelope is
 * written once, straight into its batch, and nobody is woken per
 * envelope.
 */
#ifndef TELEWIRE_INGEST_QUEUE_H
#define TELEWIRE_INGEST_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct ingest_buf {
	char *data;
	size_t len, cap;
};

struct ingest_batch {
	struct ingest_batch *next;
	struct ingest_buf text;	/* "[a,b,...", and "]" once closed */
	size_t n;		/* envelopes in it */
	int64_t t0;		/* tw_mono_us() of its first envelope */
};

struct ingest_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ingest_batch *open;		/* being filled; NULL until the next push */
	struct ingest_batch *head, *tail;	/* closed, oldest first */
	struct ingest_batch *spare;		/* closed batches' shells, for reuse */
	size_t cap, count;			/* envelopes in all batches */
	size_t batch_max, batch_bytes;
	int64_t linger_us;
	int stopping;
	int idle;				/* the flusher waits with nothing open */
	int busy;				/* a batch is being published */
	int busy_wait;				/* the flusher waits for busy to clear */
	unsigned long long dropped;
};

int ingest__queue_init(struct ingest_queue *q, size_t cap, size_t batch_max,
		       size_t batch_bytes, int64_t linger_ms);
void ingest__queue_destroy(struct ingest_queue *q);
/* Copies len bytes of one envelope (a JSON value) into the open batch;
 * never blocks. TW_OK, or TW_ERR_NOMEM (the envelope is counted dropped). */
int ingest__queue_push(struct ingest_queue *q, const char *text, size_t len);
/* The oldest closed batch (the open one is closed first when it is
 * linger_ms old), for the caller to publish and hand back with
 * ingest__queue_done; NULL when there is none, or another thread is
 * publishing one. Never waits. */
struct ingest_batch *ingest__queue_try(struct ingest_queue *q);
/* The flusher's: waits for a closed batch, or for the open one to be
 * linger_ms old, and takes it as ingest__queue_try does. NULL once stopped
 * and empty. After ingest__queue_stop, what is left comes out without
 * lingering. */
struct ingest_batch *ingest__queue_next(struct ingest_queue *q);
/* Hands b back: done with (published, or given up), or, with again, put
 * back as the oldest batch for the flusher to try again. */
void ingest__queue_done(struct ingest_queue *q, struct ingest_batch *b, int again);
void ingest__queue_stop(struct ingest_queue *q);
unsigned long long ingest__queue_dropped(struct ingest_queue *q);
/* Counts n envelopes that could not be made (out of memory) with the
 * dropped ones. */
void ingest__queue_lost(struct ingest_queue *q, size_t n);
/* Envelopes waiting. */
size_t ingest__queue_depth(struct ingest_queue *q);

/* Appends len bytes; TW_OK or TW_ERR_NOMEM. */
int ingest__buf_append(struct ingest_buf *b, const char *s, size_t len);
void ingest__buf_free(struct ingest_buf *b);

#endif
