/* queue.c -- bounded drop-oldest queue of hub envelopes, drained in batches */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue.h"
#include "telewire/clock.h"
#include "telewire/error.h"

int ingest__buf_append(struct ingest_buf *b, const char *s, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		/* Small to start: an envelope is one of these, and the queue
		 * holds thousands; a batch grows by doubling. */
		size_t cap = b->cap ? b->cap : 256;
		char *d;

		while (cap < b->len + len + 1)
			cap *= 2;
		if (!(d = realloc(b->data, cap)))
			return TW_ERR_NOMEM;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
	return TW_OK;
}

void ingest__buf_free(struct ingest_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int ingest__queue_init(struct ingest_queue *q, size_t cap, size_t batch_max,
		       size_t batch_bytes, int64_t linger_ms)
{
	pthread_condattr_t ca;

	memset(q, 0, sizeof(*q));
	q->items = calloc(cap, sizeof(*q->items));
	q->lens = calloc(cap, sizeof(*q->lens));
	q->times = calloc(cap, sizeof(*q->times));
	if (!q->items || !q->lens || !q->times) {
		ingest__queue_destroy(q);
		return TW_ERR_NOMEM;
	}
	q->cap = cap;
	q->batch_max = batch_max;
	q->batch_bytes = batch_bytes;
	q->linger_ms = linger_ms;
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	return TW_OK;
}

/* Removes and returns the oldest item; lock held, count > 0. */
static char *queue__pop(struct ingest_queue *q, size_t *len)
{
	char *item = q->items[q->head];

	*len = q->lens[q->head];
	q->items[q->head] = NULL;
	q->head = (q->head + 1) % q->cap;
	q->count--;
	q->bytes -= *len;
	return item;
}

void ingest__queue_destroy(struct ingest_queue *q)
{
	size_t len;

	if (q->cap) {
		while (q->count)
			free(queue__pop(q, &len));
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->cond);
	}
	free(q->items);
	free(q->lens);
	free(q->times);
	memset(q, 0, sizeof(*q));
}

void ingest__queue_push(struct ingest_queue *q, char *item)
{
	size_t len = strlen(item), tail;

	pthread_mutex_lock(&q->lock);
	if (q->count == q->cap) {
		size_t old;

		free(queue__pop(q, &old));
		q->dropped++;
	}
	tail = (q->head + q->count) % q->cap;
	q->items[tail] = item;
	q->lens[tail] = len;
	q->times[tail] = tw_mono_ms();
	q->count++;
	q->bytes += len;
	if (q->count == 1 || q->count >= q->batch_max || q->bytes >= q->batch_bytes)
		pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

static int queue__ready(struct ingest_queue *q)
{
	return q->stopping || q->count >= q->batch_max || q->bytes >= q->batch_bytes ||
	       tw_mono_ms() - q->times[q->head] >= q->linger_ms;
}

/* Sleeps on the condition until deadline_ms (monotonic); lock held. */
static void queue__wait_until(struct ingest_queue *q, int64_t deadline_ms)
{
	struct timespec ts = { (time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000 };

	pthread_cond_timedwait(&q->cond, &q->lock, &ts);
}

/* Moves up to one batch of items into out as "[a,b,...]"; lock held. */
static size_t queue__take(struct ingest_queue *q, struct ingest_buf *out)
{
	size_t n = 0, len;
	char *item;

	out->len = 0;
	ingest__buf_append(out, "[", 1);
	while (q->count && n < q->batch_max &&
	       (n == 0 || out->len + q->lens[q->head] + 2 <= q->batch_bytes)) {
		item = queue__pop(q, &len);
		if ((n && ingest__buf_append(out, ",", 1) != TW_OK) ||
		    ingest__buf_append(out, item, len) != TW_OK) {
			free(item);
			q->dropped++;
			continue;
		}
		free(item);
		n++;
	}
	if (ingest__buf_append(out, "]", 1) != TW_OK)
		n = 0;
	return n;
}

size_t ingest__queue_next(struct ingest_queue *q, struct ingest_buf *out)
{
	size_t n = 0;

	pthread_mutex_lock(&q->lock);
	while (n == 0) {
		while (!q->count && !q->stopping)
			pthread_cond_wait(&q->cond, &q->lock);
		if (!q->count)
			break;
		while (!queue__ready(q))
			queue__wait_until(q, q->times[q->head] + q->linger_ms);
		n = queue__take(q, out);
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}

void ingest__queue_stop(struct ingest_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

unsigned long long ingest__queue_dropped(struct ingest_queue *q)
{
	unsigned long long n;

	pthread_mutex_lock(&q->lock);
	n = q->dropped;
	pthread_mutex_unlock(&q->lock);
	return n;
}
