/* bench_pub.c -- load publisher over Paho MQTTAsync: many devices, each with its seq, acks counted */
#include <MQTTAsync.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define PROG "bench_pub"
#define MAX_CLIENTS 64

struct pub;

struct pub_client {
	MQTTAsync c;
	struct pub *p;
	atomic_int state;	/* 0 connecting, 1 connected, -1 failed or lost */
};

struct pub {
	char *uri, *prefix, *client_id;
	char *stamp;		/* key of the publish time in microseconds, or NULL */
	long long count, devices, clients, qos, window, seq_start, timeout_s;
	double rate;		/* messages per second, all devices together; 0: flat out */
	atomic_llong acked, failed;
	atomic_llong last_ack_us;
	int64_t cpu_start_us;	/* process CPU time at the first publish */
	struct pub_client cl[MAX_CLIENTS];
	char **topics;		/* one per device */
};

#define PUB_TICK_US 1000	/* pacing granularity at --rate */

/* Fills p from the flags: 0, 1 after --help, or -1 after a message. */
static int pub__parse(struct pub *p, int argc, char **argv)
{
	const struct tw_opt opts[] = {
		BENCH_STR("mqtt", &p->uri, "URI", "the broker (required)"),
		BENCH_INT("count", &p->count, 1, 100000000, "N", "messages to publish"),
		BENCH_INT("devices", &p->devices, 1, 99999, "N", "devices, in turn"),
		BENCH_INT("clients", &p->clients, 1, MAX_CLIENTS, "N", "MQTT connections"),
		BENCH_INT("qos", &p->qos, 0, 1, "0|1", "the publishes' QoS"),
		BENCH_INT("window", &p->window, 1, 65000, "N", "unacknowledged publishes at most"),
		BENCH_NUM("rate", &p->rate, 0, 1e8, "MSG_PER_S", "0: flat out"),
		BENCH_INT("seq-start", &p->seq_start, 0, 1000000000000LL, "N", "each device's first seq"),
		BENCH_STR("prefix", &p->prefix, "NAME", "device ids are NAME and five digits"),
		BENCH_STR("client-id", &p->client_id, "ID", "the MQTT client id"),
		BENCH_INT("timeout", &p->timeout_s, 1, 3600, "S", "give up after S seconds"),
		BENCH_STR("stamp", &p->stamp, "KEY", "add the send time in microseconds as KEY"),
	};
	int rc = bench_opts(PROG,
		"Publishes N telemetry messages to devices/PREFIXnnnnn/telemetry, the devices in\n"
		"turn, each with its own seq (from --seq-start) and a ts 1 ms apart, at most\n"
		"--window unacknowledged at a time, flat out or at --rate (paced from the first\n"
		"message in ticks of 1 ms: the messages due within a millisecond go out together\n"
		"at its start, as a fleet's do, instead of one sleep per message). --stamp KEY\n"
		"adds the value KEY: the wall clock in microseconds since the epoch when the\n"
		"message is handed to the client, for latency. Prints one RESULT line; its cpu_us\n"
		"is the process's CPU time (user + system, every thread) in microseconds from the\n"
		"first publish to the last acknowledgement.", opts, sizeof(opts) / sizeof(*opts),
		argc, argv);

	if (rc)
		return rc;
	if (!p->uri) {
		fprintf(stderr, PROG ": --mqtt is required (see --help)\n");
		return -1;
	}
	if (p->stamp && (!*p->stamp || strlen(p->stamp) > 64 || strpbrk(p->stamp, "\"\\"))) {
		fprintf(stderr, PROG ": --stamp: expected a key of 1 to 64 bytes without quotes "
			"or backslashes\n");
		return -1;
	}
	if (p->clients > p->devices)
		p->clients = p->devices;
	return 0;
}

static void pub__on_connected(void *ctx, MQTTAsync_successData5 *r)
{
	struct pub_client *c = ctx;

	atomic_store(&c->state, 1);
}

static void pub__on_connect_failed(void *ctx, MQTTAsync_failureData5 *r)
{
	struct pub_client *c = ctx;

	fprintf(stderr, PROG ": cannot connect: %s\n",
		r && r->message ? r->message : MQTTAsync_strerror(r ? r->code : -1));
	atomic_store(&c->state, -1);
}

static void pub__on_lost(void *ctx, char *cause)
{
	struct pub_client *c = ctx;

	fprintf(stderr, PROG ": connection lost%s%s\n", cause ? ": " : "", cause ? cause : "");
	atomic_store(&c->state, -1);
}

static int pub__on_arrived(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void pub__on_sent(void *ctx, MQTTAsync_successData5 *r)
{
	struct pub_client *c = ctx;

	atomic_fetch_add_explicit(&c->p->acked, 1, memory_order_relaxed);
	atomic_store_explicit(&c->p->last_ack_us, bench_wall_us(), memory_order_relaxed);
}

static void pub__on_send_failed(void *ctx, MQTTAsync_failureData5 *r)
{
	struct pub_client *c = ctx;

	atomic_fetch_add_explicit(&c->p->failed, 1, memory_order_relaxed);
}

static int pub__connect(struct pub *p)
{
	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer5;
	int64_t deadline = bench_mono_us() + 10000000;
	char id[256];

	for (long long i = 0; i < p->clients; i++) {
		MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
		struct pub_client *c = &p->cl[i];

		c->p = p;
		/* Paho refuses a publish while this many wait in its own queue, connected or not. */
		cro.maxBufferedMessages = (int)p->window + 16;
		snprintf(id, sizeof(id), "%s-%lld", p->client_id, i);
		if (MQTTAsync_createWithOptions(&c->c, p->uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
						&cro) != MQTTASYNC_SUCCESS) {
			fprintf(stderr, PROG ": cannot create a client for %s\n", p->uri);
			return -1;
		}
		MQTTAsync_setCallbacks(c->c, c, pub__on_lost, pub__on_arrived, NULL);
		co.cleanstart = 1;
		co.keepAliveInterval = 30;
		co.maxInflight = (int)p->window + 16;
		co.onSuccess5 = pub__on_connected;
		co.onFailure5 = pub__on_connect_failed;
		co.context = c;
		if (MQTTAsync_connect(c->c, &co) != MQTTASYNC_SUCCESS) {
			fprintf(stderr, PROG ": cannot start connecting to %s\n", p->uri);
			return -1;
		}
	}
	for (long long i = 0; i < p->clients; i++) {
		while (atomic_load(&p->cl[i].state) == 0 && bench_mono_us() < deadline)
			bench_sleep_us(1000);
		if (atomic_load(&p->cl[i].state) != 1)
			return -1;
	}
	return 0;
}

static int pub__topics(struct pub *p)
{
	if (!(p->topics = calloc((size_t)p->devices, sizeof(char *))))
		return -1;
	for (long long d = 0; d < p->devices; d++) {
		size_t n = strlen(p->prefix) + 32;

		if (!(p->topics[d] = malloc(n)))
			return -1;
		snprintf(p->topics[d], n, "devices/%s%05lld/telemetry", p->prefix, d + 1);
	}
	return 0;
}

static long long pub__done(struct pub *p)
{
	return atomic_load_explicit(&p->acked, memory_order_relaxed) +
	       atomic_load_explicit(&p->failed, memory_order_relaxed);
}

/* The payload of message i: device i % devices, its seq and a ts that is
 * unique per device and never in the future. The stamp is a value of its
 * own rather than ts: ts is the device's time in milliseconds, checked
 * against ingest's clock and kept unique per device for history. */
static int pub__payload(const struct pub *p, long long i, int64_t base_ms, char *buf, size_t len)
{
	long long seq = p->seq_start + i / p->devices;
	double temp = 20.0 + (double)(seq % 100) / 10.0, speed = 40.0 + (double)(seq * 7 % 60);
	int n;

	if (seq % 1000 == 500)
		temp = 31.0;	/* above threshold's high = 30: one raise and one clear per 1000 */
	n = snprintf(buf, len, "{\"ts\":%lld,\"seq\":%lld,\"temp\":%.1f,\"speed\":%.1f",
		     (long long)base_ms + seq, seq, temp, speed);
	if (p->stamp)
		n += snprintf(buf + n, len - (size_t)n, ",\"%s\":%lld", p->stamp,
			      (long long)bench_wall_us());
	n += snprintf(buf + n, len - (size_t)n, "}");
	return n;
}

static int pub__run(struct pub *p, int64_t *first_us, long long *sent)
{
	long long per_device = (p->count + p->devices - 1) / p->devices;
	int64_t base_ms = bench_wall_us() / 1000 - per_device - p->seq_start - 1000;
	int64_t start = bench_mono_us(), deadline = start + p->timeout_s * 1000000;
	char payload[256];

	*first_us = bench_wall_us();
	p->cpu_start_us = bench_process_cpu_us();
	for (long long i = 0; i < p->count; i++) {
		MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
		MQTTAsync_message msg = MQTTAsync_message_initializer;
		long long d = i % p->devices;
		struct pub_client *c = &p->cl[d % p->clients];
		int rc;

		if (p->rate > 0) {
			int64_t due = start + (int64_t)((double)i * 1e6 / p->rate) / PUB_TICK_US * PUB_TICK_US;
			int64_t now;

			while ((now = bench_mono_us()) < due)
				bench_sleep_us(due - now > 1000 ? 1000 : due - now);
		}
		while (i - pub__done(p) >= p->window && bench_mono_us() < deadline)
			bench_sleep_us(50);
		if (bench_mono_us() >= deadline || atomic_load(&c->state) != 1)
			return -1;
		msg.payloadlen = pub__payload(p, i, base_ms, payload, sizeof(payload));
		msg.payload = payload;
		msg.qos = (int)p->qos;
		ro.onSuccess5 = pub__on_sent;
		ro.onFailure5 = pub__on_send_failed;
		ro.context = c;
		while (((rc = MQTTAsync_sendMessage(c->c, p->topics[d], &msg, &ro)) ==
			MQTTASYNC_MAX_MESSAGES_INFLIGHT || rc == MQTTASYNC_MAX_BUFFERED_MESSAGES) &&
		       bench_mono_us() < deadline)
			bench_sleep_us(100);
		if (rc != MQTTASYNC_SUCCESS) {
			fprintf(stderr, PROG ": send failed: %s\n", MQTTAsync_strerror(rc));
			return -1;
		}
		(*sent)++;
	}
	while (pub__done(p) < *sent && bench_mono_us() < deadline)
		bench_sleep_us(1000);
	return pub__done(p) == *sent ? 0 : -1;
}

static void pub__stop(struct pub *p)
{
	for (long long i = 0; i < p->clients; i++) {
		MQTTAsync_disconnectOptions dop = MQTTAsync_disconnectOptions_initializer5;

		if (!p->cl[i].c)
			continue;
		dop.timeout = 1000;
		if (atomic_load(&p->cl[i].state) == 1)
			MQTTAsync_disconnect(p->cl[i].c, &dop);
	}
	bench_sleep_us(100000);
	for (long long i = 0; i < p->clients; i++)
		if (p->cl[i].c)
			MQTTAsync_destroy(&p->cl[i].c);
	for (long long d = 0; p->topics && d < p->devices; d++)
		free(p->topics[d]);
	free(p->topics);
}

int main(int argc, char **argv)
{
	static struct pub p = {
		.prefix = "bench-", .client_id = "bench-pub", .devices = 1000, .clients = 1,
		.qos = 1, .window = 10000, .seq_start = 1, .timeout_s = 60,
	};
	long long sent = 0, acked, failed;
	int64_t first_us = 0, last_us, cpu_us;
	double secs;
	int rc;

	rc = pub__parse(&p, argc, argv);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (pub__topics(&p) != 0 || pub__connect(&p) != 0) {
		fprintf(stderr, PROG ": cannot connect to %s\n", p.uri);
		pub__stop(&p);
		return 1;
	}
	rc = pub__run(&p, &first_us, &sent);
	cpu_us = bench_process_cpu_us() - p.cpu_start_us;
	acked = atomic_load(&p.acked);
	failed = atomic_load(&p.failed);
	last_us = atomic_load(&p.last_ack_us);
	secs = last_us > first_us ? (double)(last_us - first_us) / 1e6 : 0;
	printf("RESULT sent=%lld acked=%lld failed=%lld qos=%lld seconds=%.3f rate=%.0f "
	       "first_us=%lld last_ack_us=%lld cpu_us=%lld\n", sent, acked, failed, p.qos, secs,
	       secs > 0 ? (double)acked / secs : 0, (long long)first_us, (long long)last_us,
	       (long long)cpu_us);
	fflush(stdout);
	if (rc != 0)
		fprintf(stderr, PROG ": incomplete: %lld of %lld sent, %lld acknowledged, %lld failed\n",
			sent, p.count, acked, failed);
	pub__stop(&p);
	return rc == 0 && failed == 0 ? 0 : 1;
}
