/* test_ingest_queue.c -- result batches: by count, by bytes, by time; drop-oldest; stop; a producer and a consumer */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "telewire/clock.h"
#include "telewire/error.h"
#include "tw_test.h"

/* Pushes {"i":i}. */
static void push(struct ingest_queue *q, int i)
{
	char s[32];
	int n = snprintf(s, sizeof(s), "{\"i\":%d}", i);

	TW_CHECK_INT(ingest__queue_push(q, s, (size_t)n), TW_OK);
}

/* The flusher's next batch, copied into out; its envelope count (0: none). */
static size_t next(struct ingest_queue *q, struct ingest_buf *out)
{
	struct ingest_batch *b = ingest__queue_next(q);
	size_t n = b ? b->n : 0;

	out->len = 0;
	if (b) {
		TW_CHECK_INT(ingest__buf_append(out, b->text.data, b->text.len), TW_OK);
		ingest__queue_done(q, b, 0);
	}
	return n;
}

static void test_batches_by_count(void)
{
	struct ingest_queue q;
	struct ingest_buf b = { 0 };

	TW_CHECK_INT(ingest__queue_init(&q, 100, 3, 1 << 20, 1000), TW_OK);
	for (int i = 0; i < 7; i++)
		push(&q, i);
	TW_CHECK_INT(next(&q, &b), 3);
	TW_CHECK_STR(b.data, "[{\"i\":0},{\"i\":1},{\"i\":2}]");
	TW_CHECK_INT(next(&q, &b), 3);
	TW_CHECK_STR(b.data, "[{\"i\":3},{\"i\":4},{\"i\":5}]");
	/* one left: after stop it comes out at once, then 0 */
	ingest__queue_stop(&q);
	TW_CHECK_INT(next(&q, &b), 1);
	TW_CHECK_STR(b.data, "[{\"i\":6}]");
	TW_CHECK_INT(next(&q, &b), 0);
	ingest__buf_free(&b);
	ingest__queue_destroy(&q);
}

static void test_batches_by_bytes(void)
{
	struct ingest_queue q;
	struct ingest_buf b = { 0 };

	/* each item is 7 bytes; 20 bytes hold "[" + 2 items + "," + "]" */
	TW_CHECK_INT(ingest__queue_init(&q, 100, 100, 20, 0), TW_OK);
	for (int i = 0; i < 3; i++)
		push(&q, i);
	TW_CHECK_INT(next(&q, &b), 2);
	TW_CHECK(b.len <= 20);
	TW_CHECK_INT(next(&q, &b), 1);
	ingest__buf_free(&b);
	ingest__queue_destroy(&q);
}

static void test_linger(void)
{
	struct ingest_queue q;
	struct ingest_buf b = { 0 };
	int64_t t0;

	TW_CHECK_INT(ingest__queue_init(&q, 100, 64, 1 << 20, 50), TW_OK);
	push(&q, 1);
	t0 = tw_mono_ms();
	TW_CHECK_INT(next(&q, &b), 1);
	/* a lone result waits for company about linger_ms, not forever */
	TW_CHECK(tw_mono_ms() - t0 >= 45);
	TW_CHECK(tw_mono_ms() - t0 < 1000);
	ingest__buf_free(&b);
	ingest__queue_destroy(&q);
}

/* Full: the oldest batch goes whole, and its envelopes are counted. A
 * batch is never bigger than the queue. */
static void test_drop_oldest(void)
{
	struct ingest_queue q;
	struct ingest_buf b = { 0 };

	TW_CHECK_INT(ingest__queue_init(&q, 8, 4, 1 << 20, 0), TW_OK);
	for (int i = 0; i < 10; i++)
		push(&q, i);
	TW_CHECK_INT(ingest__queue_dropped(&q), 4);
	TW_CHECK_INT(ingest__queue_depth(&q), 6);
	TW_CHECK_INT(next(&q, &b), 4);
	TW_CHECK_STR(b.data, "[{\"i\":4},{\"i\":5},{\"i\":6},{\"i\":7}]");
	TW_CHECK_INT(next(&q, &b), 2);
	TW_CHECK_STR(b.data, "[{\"i\":8},{\"i\":9}]");
	ingest__queue_destroy(&q);

	TW_CHECK_INT(ingest__queue_init(&q, 4, 10, 1 << 20, 0), TW_OK);
	for (int i = 0; i < 10; i++)
		push(&q, i);
	TW_CHECK_INT(ingest__queue_dropped(&q), 8);
	ingest__queue_lost(&q, 3);	/* envelopes that could not be made count too */
	TW_CHECK_INT(ingest__queue_dropped(&q), 11);
	TW_CHECK_INT(next(&q, &b), 2);
	TW_CHECK_STR(b.data, "[{\"i\":8},{\"i\":9}]");
	ingest__buf_free(&b);
	/* destroy frees what is still queued */
	push(&q, 11);
	push(&q, 12);
	ingest__queue_destroy(&q);
}

/* The receive thread's way: a closed batch without waiting, one at a
 * time; one it could not publish goes back first in line. */
static void test_try_and_again(void)
{
	struct ingest_queue q;
	struct ingest_buf b = { 0 };
	struct ingest_batch *first, *second;

	TW_CHECK_INT(ingest__queue_init(&q, 100, 2, 1 << 20, 1000), TW_OK);
	push(&q, 0);
	TW_CHECK(ingest__queue_try(&q) == NULL);	/* open, not closed */
	for (int i = 1; i < 5; i++)
		push(&q, i);
	first = ingest__queue_try(&q);
	TW_CHECK(first && first->n == 2);
	TW_CHECK_STR(first->text.data, "[{\"i\":0},{\"i\":1}]");
	TW_CHECK(ingest__queue_try(&q) == NULL);	/* one is out */
	TW_CHECK_INT(ingest__queue_depth(&q), 3);
	ingest__queue_done(&q, first, 1);
	TW_CHECK_INT(ingest__queue_depth(&q), 5);
	second = ingest__queue_try(&q);
	TW_CHECK(second && strcmp(second->text.data, "[{\"i\":0},{\"i\":1}]") == 0);
	ingest__queue_done(&q, second, 0);
	TW_CHECK_INT(next(&q, &b), 2);
	TW_CHECK_STR(b.data, "[{\"i\":2},{\"i\":3}]");
	ingest__queue_stop(&q);
	TW_CHECK_INT(next(&q, &b), 1);
	TW_CHECK_STR(b.data, "[{\"i\":4}]");
	TW_CHECK_INT(next(&q, &b), 0);
	ingest__buf_free(&b);
	ingest__queue_destroy(&q);
}

/* One bigger than a batch may be goes alone, between the others. */
static void test_oversized(void)
{
	struct ingest_queue q;
	struct ingest_buf b = { 0 };
	char big[100];

	memset(big, 'x', sizeof(big));
	big[0] = big[sizeof(big) - 1] = '"';
	TW_CHECK_INT(ingest__queue_init(&q, 100, 100, 40, 0), TW_OK);
	push(&q, 1);
	TW_CHECK_INT(ingest__queue_push(&q, big, sizeof(big)), TW_OK);
	push(&q, 2);
	ingest__queue_stop(&q);
	TW_CHECK_INT(next(&q, &b), 1);
	TW_CHECK_STR(b.data, "[{\"i\":1}]");
	TW_CHECK_INT(next(&q, &b), 1);
	TW_CHECK_INT(b.len, sizeof(big) + 2);
	TW_CHECK_INT(next(&q, &b), 1);
	TW_CHECK_STR(b.data, "[{\"i\":2}]");
	TW_CHECK_INT(next(&q, &b), 0);
	ingest__buf_free(&b);
	ingest__queue_destroy(&q);
}

#define PC_COUNT 200000

/* What both publishers sent, in the order they sent it. */
static struct ingest_buf pc_log;
static pthread_mutex_t pc_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t pc_batches;
static int pc_ok = 1;

static void pc_publish(struct ingest_queue *q, struct ingest_batch *b)
{
	pthread_mutex_lock(&pc_lock);
	pc_ok &= b->n <= 64 && b->text.len <= 512;
	ingest__buf_append(&pc_log, b->text.data, b->text.len);
	pc_batches++;
	pthread_mutex_unlock(&pc_lock);
	ingest__queue_done(q, b, 0);
}

/* The receive thread: pushes, and publishes what is closed. */
static void *producer(void *arg)
{
	struct ingest_queue *q = arg;
	struct ingest_batch *b;

	for (int i = 0; i < PC_COUNT; i++) {
		push(q, i);
		while ((b = ingest__queue_try(q)) != NULL)
			pc_publish(q, b);
	}
	ingest__queue_stop(q);
	return NULL;
}

/* The receive thread and the flusher at full speed: every envelope is
 * published once, in order, in batches that are JSON arrays within the
 * limits. */
static void test_producer_consumer(void)
{
	struct ingest_queue q;
	struct ingest_batch *b;
	const char *p;
	pthread_t t;
	int want = 0;

	TW_CHECK_INT(ingest__queue_init(&q, PC_COUNT, 64, 512, 2), TW_OK);
	pthread_create(&t, NULL, producer, &q);
	while ((b = ingest__queue_next(&q)) != NULL)
		pc_publish(&q, b);
	pthread_join(t, NULL);
	TW_CHECK(pc_ok);
	for (p = pc_log.data; p && *p == '['; p++) {
		int i;

		do {
			TW_CHECK(sscanf(p + 1, "{\"i\":%d}", &i) == 1 && i == want);
			want++;
			p = strchr(p + 1, '}') + 1;
		} while (*p == ',' && i == want - 1);
		TW_CHECK(*p == ']');
	}
	TW_CHECK_INT(want, PC_COUNT);
	TW_CHECK_INT(ingest__queue_dropped(&q), 0);
	TW_CHECK(pc_batches >= PC_COUNT / 64);
	ingest__buf_free(&pc_log);
	ingest__queue_destroy(&q);
}

static void *stopper(void *arg)
{
	struct timespec ts = { 0, 50 * 1000000 };

	nanosleep(&ts, NULL);
	ingest__queue_stop(arg);
	return NULL;
}

static void test_stop_wakes_waiter(void)
{
	struct ingest_queue q;
	struct ingest_buf b = { 0 };
	pthread_t t;

	TW_CHECK_INT(ingest__queue_init(&q, 4, 10, 1 << 20, 0), TW_OK);
	pthread_create(&t, NULL, stopper, &q);
	TW_CHECK_INT(next(&q, &b), 0);
	pthread_join(t, NULL);
	ingest__buf_free(&b);
	ingest__queue_destroy(&q);
}

int main(void)
{
	TW_RUN(test_batches_by_count);
	TW_RUN(test_batches_by_bytes);
	TW_RUN(test_linger);
	TW_RUN(test_drop_oldest);
	TW_RUN(test_stop_wakes_waiter);
	TW_RUN(test_oversized);
	TW_RUN(test_try_and_again);
	TW_RUN(test_producer_consumer);
	return TW_TEST_END();
}
