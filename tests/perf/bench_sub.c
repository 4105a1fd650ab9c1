/* bench_sub.c -- load subscriber: counts messages, or strings inside them, from first to last */
#include <MQTTAsync.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define PROG "bench_sub"

struct sub {
	char *uri, *topic, *count_string, *also_string, *client_id;
	long long qos, expect, timeout_s, idle_ms;
	MQTTAsync c;
	atomic_int state;	/* 0 connecting, 1 connected, 2 subscribed, -1 failed or lost */
	atomic_llong messages, counted, also, bytes;
	atomic_llong first_us, last_us;
};

/* Fills s from the flags: 0, 1 after --help, or -1 after a message. */
static int sub__parse(struct sub *s, int argc, char **argv)
{
	const struct tw_opt opts[] = {
		BENCH_STR("mqtt", &s->uri, "URI", "the broker (required)"),
		BENCH_STR("topic", &s->topic, "FILTER", "what to subscribe to"),
		BENCH_INT("qos", &s->qos, 0, 1, "0|1", "the subscription's QoS"),
		BENCH_INT("expect", &s->expect, 0, 1000000000, "N", "stop once N are counted"),
		BENCH_STR("count-string", &s->count_string, "TEXT",
			  "count the times TEXT occurs instead of messages"),
		BENCH_STR("also-count", &s->also_string, "TEXT", "count a second TEXT beside (\"also\")"),
		BENCH_INT("timeout", &s->timeout_s, 1, 3600, "S", "stop after S seconds"),
		BENCH_INT("idle-ms", &s->idle_ms, 10, 3600000, "MS",
			  "stop when nothing came for MS after the first"),
		BENCH_STR("client-id", &s->client_id, "ID", "the MQTT client id"),
	};
	int rc = bench_opts(PROG,
		"Counts the messages on FILTER (or, with --count-string, the times TEXT occurs in\n"
		"them) until --expect are counted, nothing came for --idle-ms after the first, or\n"
		"--timeout passed. Prints \"subscribed\" once ready, then one RESULT line; its\n"
		"cpu_us is the process's CPU time (user + system, every thread) in microseconds\n"
		"from then to the end.", opts, sizeof(opts) / sizeof(*opts), argc, argv);

	if (rc)
		return rc;
	if (!s->uri) {
		fprintf(stderr, PROG ": --mqtt is required (see --help)\n");
		return -1;
	}
	if (s->count_string && !*s->count_string)
		s->count_string = NULL;
	if (s->also_string && !*s->also_string)
		s->also_string = NULL;
	return 0;
}

/* Occurrences of needle in the len bytes at p (not NUL-terminated). */
static long long sub__occurrences(const char *p, size_t len, const char *needle)
{
	size_t nlen = strlen(needle);
	long long n = 0;
	const char *end = p + len, *hit;

	while ((size_t)(end - p) >= nlen && (hit = memmem(p, (size_t)(end - p), needle, nlen))) {
		n++;
		p = hit + nlen;
	}
	return n;
}

static int sub__on_arrived(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
	struct sub *s = ctx;
	int64_t now = bench_wall_us();
	long long zero = 0;
	long long n = s->count_string
		      ? sub__occurrences(m->payload, (size_t)m->payloadlen, s->count_string) : 1;

	atomic_compare_exchange_strong(&s->first_us, &zero, now);
	atomic_store_explicit(&s->last_us, now, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->messages, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->bytes, m->payloadlen, memory_order_relaxed);
	if (s->also_string)
		atomic_fetch_add_explicit(&s->also, sub__occurrences(m->payload, (size_t)m->payloadlen,
								     s->also_string),
					  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->counted, n, memory_order_relaxed);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void sub__on_lost(void *ctx, char *cause)
{
	struct sub *s = ctx;

	fprintf(stderr, PROG ": connection lost%s%s\n", cause ? ": " : "", cause ? cause : "");
	atomic_store(&s->state, -1);
}

static void sub__on_subscribed(void *ctx, MQTTAsync_successData5 *r)
{
	struct sub *s = ctx;

	if (r->reasonCode >= 0x80) {
		fprintf(stderr, PROG ": subscription refused: %s\n",
			MQTTReasonCode_toString(r->reasonCode));
		atomic_store(&s->state, -1);
		return;
	}
	atomic_store(&s->state, 2);
}

static void sub__on_failed(void *ctx, MQTTAsync_failureData5 *r)
{
	struct sub *s = ctx;

	fprintf(stderr, PROG ": %s\n", r && r->message ? r->message
		: MQTTAsync_strerror(r ? r->code : -1));
	atomic_store(&s->state, -1);
}

static void sub__on_connected(void *ctx, MQTTAsync_successData5 *r)
{
	struct sub *s = ctx;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

	ro.onSuccess5 = sub__on_subscribed;
	ro.onFailure5 = sub__on_failed;
	ro.context = s;
	atomic_store(&s->state, 1);
	if (MQTTAsync_subscribe(s->c, s->topic, (int)s->qos, &ro) != MQTTASYNC_SUCCESS)
		atomic_store(&s->state, -1);
}

static int sub__connect(struct sub *s)
{
	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer5;
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
	int64_t deadline = bench_mono_us() + 10000000;

	if (MQTTAsync_createWithOptions(&s->c, s->uri, s->client_id, MQTTCLIENT_PERSISTENCE_NONE,
					NULL, &cro) != MQTTASYNC_SUCCESS)
		return -1;
	MQTTAsync_setCallbacks(s->c, s, sub__on_lost, sub__on_arrived, NULL);
	co.cleanstart = 1;
	co.keepAliveInterval = 30;
	co.onSuccess5 = sub__on_connected;
	co.onFailure5 = sub__on_failed;
	co.context = s;
	if (MQTTAsync_connect(s->c, &co) != MQTTASYNC_SUCCESS)
		return -1;
	while (atomic_load(&s->state) >= 0 && atomic_load(&s->state) < 2 &&
	       bench_mono_us() < deadline)
		bench_sleep_us(1000);
	return atomic_load(&s->state) == 2 ? 0 : -1;
}

/* Waits for the end: expected count, idle after the first message, or the timeout. */
static void sub__wait(struct sub *s)
{
	int64_t deadline = bench_mono_us() + s->timeout_s * 1000000;

	while (bench_mono_us() < deadline && atomic_load(&s->state) == 2) {
		int64_t last = atomic_load(&s->last_us);

		if (s->expect && atomic_load(&s->counted) >= s->expect)
			break;
		if (last && bench_wall_us() - last > s->idle_ms * 1000)
			break;
		bench_sleep_us(5000);
	}
}

int main(int argc, char **argv)
{
	static struct sub s = {
		.topic = "devices/+/telemetry", .client_id = "bench-sub", .qos = 1,
		.timeout_s = 60, .idle_ms = 3000,
	};
	MQTTAsync_disconnectOptions dop = MQTTAsync_disconnectOptions_initializer5;
	long long counted, first, last;
	int64_t cpu_us;
	double secs;
	int rc = sub__parse(&s, argc, argv);

	if (rc)
		return rc > 0 ? 0 : 2;
	if (sub__connect(&s) != 0) {
		fprintf(stderr, PROG ": cannot subscribe to %s on %s\n", s.topic, s.uri);
		if (s.c)
			MQTTAsync_destroy(&s.c);
		return 1;
	}
	printf("subscribed to %s (QoS %lld)\n", s.topic, s.qos);
	fflush(stdout);
	cpu_us = bench_process_cpu_us();
	sub__wait(&s);
	cpu_us = bench_process_cpu_us() - cpu_us;
	counted = atomic_load(&s.counted);
	first = atomic_load(&s.first_us);
	last = atomic_load(&s.last_us);
	secs = last > first ? (double)(last - first) / 1e6 : 0;
	printf("RESULT counted=%lld also=%lld messages=%lld bytes=%lld seconds=%.3f rate=%.0f "
	       "first_us=%lld last_us=%lld cpu_us=%lld\n", counted, (long long)atomic_load(&s.also),
	       (long long)atomic_load(&s.messages),
	       (long long)atomic_load(&s.bytes), secs, secs > 0 ? (double)counted / secs : 0,
	       first, last, (long long)cpu_us);
	fflush(stdout);
	dop.timeout = 500;
	MQTTAsync_disconnect(s.c, &dop);
	bench_sleep_us(100000);
	MQTTAsync_destroy(&s.c);
	return s.expect && counted < s.expect ? 1 : 0;
}
