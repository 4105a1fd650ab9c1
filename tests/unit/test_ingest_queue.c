/* test_ingest_queue.c -- result batches: by count, by bytes, by time; drop-oldest; stop */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "telewire/clock.h"
#include "telewire/error.h"
#include "tw_test.h"

static char *item(int i)
{
	char *s = malloc(16);

	snprintf(s, 16, "{\"i\":%d}", i);
	return s;
}

static void test_batches_by_count(void)
{
	struct ingest_queue q;
	struct ingest_buf b = { 0 };

	TW_CHECK_INT(ingest__queue_init(&q, 100, 3, 1 << 20, 1000), TW_OK);
	for (int i = 0; i < 7; i++)
		ingest__queue_push(&q, item(i));
	TW_CHECK_INT(ingest__queue_next(&q, &b), 3);
	TW_CHECK_STR(b.data, "[{\"i\":0},{\"i\":1},{\"i\":2}]");
	TW_CHECK_INT(ingest__queue_next(&q, &b), 3);
	TW_CHECK_STR(b.data, "[{\"i\":3},{\"i\":4},{\"i\":5}]");
	/* one left: after stop it comes out at once, then 0 */
	ingest__queue_stop(&q);
	TW_CHECK_INT(ingest__queue_next(&q, &b), 1);
	TW_CHECK_STR(b.data, "[{\"i\":6}]");
	TW_CHECK_INT(ingest__queue_next(&q, &b), 0);
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
		ingest__queue_push(&q, item(i));
	TW_CHECK_INT(ingest__queue_next(&q, &b), 2);
	TW_CHECK(b.len <= 20);
	TW_CHECK_INT(ingest__queue_next(&q, &b), 1);
	ingest__buf_free(&b);
	ingest__queue_destroy(&q);
}

static void test_linger(void)
{
	struct ingest_queue q;
	struct ingest_buf b = { 0 };
	int64_t t0;

	TW_CHECK_INT(ingest__queue_init(&q, 100, 64, 1 << 20, 50), TW_OK);
	ingest__queue_push(&q, item(1));
	t0 = tw_mono_ms();
	TW_CHECK_INT(ingest__queue_next(&q, &b), 1);
	/* a lone result waits for company about linger_ms, not forever */
	TW_CHECK(tw_mono_ms() - t0 >= 45);
	TW_CHECK(tw_mono_ms() - t0 < 1000);
	ingest__buf_free(&b);
	ingest__queue_destroy(&q);
}

static void test_drop_oldest(void)
{
	struct ingest_queue q;
	struct ingest_buf b = { 0 };

	TW_CHECK_INT(ingest__queue_init(&q, 4, 10, 1 << 20, 0), TW_OK);
	for (int i = 0; i < 10; i++)
		ingest__queue_push(&q, item(i));
	TW_CHECK_INT(ingest__queue_dropped(&q), 6);
	TW_CHECK_INT(ingest__queue_next(&q, &b), 4);
	TW_CHECK_STR(b.data, "[{\"i\":6},{\"i\":7},{\"i\":8},{\"i\":9}]");
	ingest__buf_free(&b);
	/* destroy frees what is still queued */
	ingest__queue_push(&q, item(11));
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
	TW_CHECK_INT(ingest__queue_next(&q, &b), 0);
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
	return TW_TEST_END();
}
