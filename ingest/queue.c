/* queue.c -- bounded queue of hub envelopes, written straight into batches */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue.h"
#include "telewire/clock.h"
#include "telewire/error.h"

#define QUEUE_SPARES 4	/* emptied batches kept for reuse; more are freed */

int ingest__buf_append(struct ingest_buf *b, const char *s, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		/* Small to start: an envelope is one of these; a batch grows
		 * by doubling, and is reused. */
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
	q->cap = cap;
	/* A batch never holds more than the queue may. */
	q->batch_max = batch_max < cap ? batch_max : cap;
	q->batch_bytes = batch_bytes;
	q->linger_us = linger_ms * 1000;
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	return TW_OK;
}

static void queue__free_list(struct ingest_batch *b)
{
	while (b) {
		struct ingest_batch *next = b->next;

		ingest__buf_free(&b->text);
		free(b);
		b = next;
	}
}

void ingest__queue_destroy(struct ingest_queue *q)
{
	if (q->cap) {
		queue__free_list(q->head);
		queue__free_list(q->spare);
		queue__free_list(q->open);
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->cond);
	}
	memset(q, 0, sizeof(*q));
}

/* An empty batch: a spare one, or a new one; NULL when out of memory. */
static struct ingest_batch *queue__batch(struct ingest_queue *q)
{
	struct ingest_batch *b = q->spare;

	if (b)
		q->spare = b->next;
	else if (!(b = calloc(1, sizeof(*b))))
		return NULL;
	b->next = NULL;
	b->text.len = 0;
	b->n = 0;
	return b;
}

/* Keeps b for reuse, or frees it past QUEUE_SPARES. */
static void queue__recycle(struct ingest_queue *q, struct ingest_batch *b)
{
	size_t n = 0;

	for (struct ingest_batch *s = q->spare; s; s = s->next)
		n++;
	b->next = NULL;
	if (n >= QUEUE_SPARES) {
		queue__free_list(b);
		return;
	}
	b->next = q->spare;
	q->spare = b;
}

/* Ends the open batch's array and moves it to the end of the closed ones
 * (or drops it, out of memory for the "]"); lock held. */
static void queue__close(struct ingest_queue *q)
{
	struct ingest_batch *b = q->open;

	q->open = NULL;
	if (ingest__buf_append(&b->text, "]", 1) != TW_OK) {
		q->count -= b->n;
		q->dropped += b->n;
		queue__recycle(q, b);
		return;
	}
	if (q->tail)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
}

/* Removes and returns the oldest closed batch; lock held, head set. */
static struct ingest_batch *queue__pop(struct ingest_queue *q)
{
	struct ingest_batch *b = q->head;

	if (!(q->head = b->next))
		q->tail = NULL;
	b->next = NULL;
	q->count -= b->n;
	return b;
}

int ingest__queue_push(struct ingest_queue *q, const char *text, size_t len)
{
	struct ingest_batch *b;
	size_t mark;
	int wake = 0;

	pthread_mutex_lock(&q->lock);
	/* One that would not fit goes into the next batch (alone if it is
	 * bigger than a batch may be). */
	if (q->open && q->open->n && q->open->text.len + len + 2 > q->batch_bytes)
		queue__close(q);
	if (!q->open && !(q->open = queue__batch(q))) {
		q->dropped++;
		pthread_mutex_unlock(&q->lock);
		return TW_ERR_NOMEM;
	}
	b = q->open;
	mark = b->text.len;
	if (ingest__buf_append(&b->text, b->n ? "," : "[", 1) != TW_OK ||
	    ingest__buf_append(&b->text, text, len) != TW_OK) {
		b->text.len = mark;
		q->dropped++;
		pthread_mutex_unlock(&q->lock);
		return TW_ERR_NOMEM;
	}
	if (b->n++ == 0) {
		b->t0 = tw_mono_us();
		wake |= q->idle;	/* the flusher sets its timer by it */
	}
	q->count++;
	/* Full: the oldest batch goes (the open one is never alone past
	 * cap: it closes at batch_max, which is at most cap). */
	while (q->count > q->cap && q->head) {
		struct ingest_batch *old = queue__pop(q);

		q->dropped += old->n;
		queue__recycle(q, old);
	}
	/* Closed, it waits for ingest__queue_try, or the flusher's timer:
	 * a wake-up per batch cost more than the batch. */
	if (b->n >= q->batch_max || b->text.len + 2 > q->batch_bytes)
		queue__close(q);
	if (wake)
		pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return TW_OK;
}

/* Sleeps on the condition until deadline_us (monotonic); lock held. */
static void queue__wait_until(struct ingest_queue *q, int64_t deadline_us)
{
	struct timespec ts = { (time_t)(deadline_us / 1000000), (long)(deadline_us % 1000000) * 1000 };

	pthread_cond_timedwait(&q->cond, &q->lock, &ts);
}

/* Takes the oldest closed batch for publishing; lock held, head set,
 * not busy. */
static struct ingest_batch *queue__take(struct ingest_queue *q)
{
	q->busy = 1;
	return queue__pop(q);
}

struct ingest_batch *ingest__queue_try(struct ingest_queue *q)
{
	struct ingest_batch *b = NULL;

	pthread_mutex_lock(&q->lock);
	if (!q->head && q->open && q->open->n && tw_mono_us() - q->open->t0 >= q->linger_us)
		queue__close(q);
	if (q->head && !q->busy)
		b = queue__take(q);
	pthread_mutex_unlock(&q->lock);
	return b;
}

/* The flusher's wait for a batch to publish; lock held. */
static struct ingest_batch *queue__wait_batch(struct ingest_queue *q)
{
	for (;;) {
		struct ingest_batch *open = q->open;

		if (q->busy) {
			q->busy_wait = 1;
			pthread_cond_wait(&q->cond, &q->lock);
			q->busy_wait = 0;
			continue;
		}
		if (q->head)
			return queue__take(q);
		if (open && open->n && (q->stopping || tw_mono_us() - open->t0 >= q->linger_us)) {
			queue__close(q);
			continue;
		}
		if (q->stopping)
			return NULL;
		if (open && open->n) {
			queue__wait_until(q, open->t0 + q->linger_us);
		} else {
			q->idle = 1;
			pthread_cond_wait(&q->cond, &q->lock);
			q->idle = 0;
		}
	}
}

struct ingest_batch *ingest__queue_next(struct ingest_queue *q)
{
	struct ingest_batch *b;

	pthread_mutex_lock(&q->lock);
	b = queue__wait_batch(q);
	pthread_mutex_unlock(&q->lock);
	return b;
}

void ingest__queue_done(struct ingest_queue *q, struct ingest_batch *b, int again)
{
	pthread_mutex_lock(&q->lock);
	q->busy = 0;
	if (again) {
		/* Still the oldest: nothing was taken while it was out. */
		if (!(b->next = q->head))
			q->tail = b;
		q->head = b;
		q->count += b->n;
	} else {
		queue__recycle(q, b);
	}
	if (again || q->busy_wait)
		pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
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

void ingest__queue_lost(struct ingest_queue *q, size_t n)
{
	pthread_mutex_lock(&q->lock);
	q->dropped += n;
	pthread_mutex_unlock(&q->lock);
}

size_t ingest__queue_depth(struct ingest_queue *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->count;
	pthread_mutex_unlock(&q->lock);
	return n;
}
