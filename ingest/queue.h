/* queue.h -- the bounded queue of results between Paho's thread and the flusher
 *
 * Producers push envelopes and never wait: when the queue is full the
 * oldest envelope is dropped and counted (history keeps the truth; this
 * only feeds live views). The flusher takes batches: as soon as batch_max
 * envelopes or batch_bytes wait, or linger_ms after the oldest arrived.
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

struct ingest_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char **items;
	size_t *lens;
	int64_t *times;		/* tw_mono_ms() of each push */
	size_t cap, head, count, bytes;
	size_t batch_max, batch_bytes;
	int64_t linger_ms;
	int stopping;
	unsigned long long dropped;
};

int ingest__queue_init(struct ingest_queue *q, size_t cap, size_t batch_max,
		       size_t batch_bytes, int64_t linger_ms);
void ingest__queue_destroy(struct ingest_queue *q);
/* Takes item (malloc'd); never blocks. */
void ingest__queue_push(struct ingest_queue *q, char *item);
/* Waits for the next batch and writes it into out as a JSON array text.
 * Returns the number of envelopes in it, or 0 once stopped and empty.
 * After ingest__queue_stop, what is left comes out without lingering. */
size_t ingest__queue_next(struct ingest_queue *q, struct ingest_buf *out);
void ingest__queue_stop(struct ingest_queue *q);
unsigned long long ingest__queue_dropped(struct ingest_queue *q);

/* Appends len bytes; TW_OK or TW_ERR_NOMEM. */
int ingest__buf_append(struct ingest_buf *b, const char *s, size_t len);
void ingest__buf_free(struct ingest_buf *b);

#endif
