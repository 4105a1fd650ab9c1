/* bench_ingest.c -- ingest's per-message work in one thread, no MQTT: decode, plugins, envelopes, history */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "decode.h"
#include "envelope.h"
#include "ingest.h"
#include "queue.h"
#include "routes.h"
#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/history.h"
#include "telewire/log.h"

#define PROG "bench_ingest"
#define MAX_PAYLOAD 160

#ifndef TW_PLUGIN_DIR
#define TW_PLUGIN_DIR "."
#endif

struct bench {
	long long count, devices, batch;
	char *plugin_dir, *third, *history;
	char *payloads;		/* count slots of MAX_PAYLOAD bytes */
	size_t *lens;
	char **topics;		/* one per device */
	struct ingest_routes rt;
	struct tw_decode_limits lim;
	struct ingest_queue queue;
	struct ingest_buf scratch[2];
	struct tw_history *h;
	long long failed, dropped, stored, envelopes;
};

/* What each stage does to one message, on top of decoding it. */
enum stage_work {
	W_DECODE = 0,
	W_PLUGINS = 1,		/* route match and the route's pipeline */
	W_ENVELOPES = 2,	/* the result envelopes, pushed to ingest's result queue */
	W_HISTORY = 4,		/* one transaction per message, as ingest commits before the ack */
};

/* Fills b from the flags: 0, 1 after --help, or -1 after a message. */
static int bench__parse(struct bench *b, int argc, char **argv)
{
	const struct tw_opt opts[] = {
		BENCH_INT("count", &b->count, 1, 5000000, "N", "payloads"),
		BENCH_INT("devices", &b->devices, 1, 99999, "N", "devices, in turn"),
		BENCH_STR("third", &b->third, "threshold|conflate", "the pipeline's third plugin"),
		BENCH_STR("plugin-dir", &b->plugin_dir, "DIR", "where the built-in plugins are"),
		BENCH_STR("history", &b->history, "FILE", "store in this history file too"),
		BENCH_INT("batch", &b->batch, 1, 100000, "N", "messages per history transaction"),
	};
	int rc = bench_opts(PROG,
		"Runs N payloads of the load publisher's shape through ingest's decoder, its\n"
		"route matching, a pipeline of unit_convert, moving_average and a third plugin,\n"
		"the result envelopes and (with --history) the history store, stage by stage,\n"
		"in this thread. Prints one RESULT line per stage: wall and CPU-time rates.",
		opts, sizeof(opts) / sizeof(*opts), argc, argv);

	if (rc)
		return rc;
	if (strcmp(b->third, "threshold") != 0 && strcmp(b->third, "conflate") != 0) {
		fprintf(stderr, PROG ": --third: expected threshold or conflate, got \"%s\"\n",
			b->third);
		return -1;
	}
	return 0;
}

/* The payloads of bench_pub for seq seq_start.., ts unique per device and in the past. */
static void bench__payloads(struct bench *b, long long seq_start)
{
	int64_t base = tw_wall_ms() - b->count - seq_start - 1000;

	for (long long i = 0; i < b->count; i++) {
		long long seq = seq_start + i / b->devices;
		double temp = 20.0 + (double)(seq % 100) / 10.0, speed = 40.0 + (double)(seq * 7 % 60);
		int n;

		if (seq % 1000 == 500)
			temp = 31.0;
		n = snprintf(b->payloads + i * MAX_PAYLOAD, MAX_PAYLOAD,
			     "{\"ts\":%lld,\"seq\":%lld,\"temp\":%.1f,\"speed\":%.1f}",
			     (long long)(base + seq), seq, temp, speed);
		b->lens[i] = (size_t)n;
	}
}

static int bench__section(struct bench *b, const char *section, const char *const *kv)
{
	char err[256];

	for (; kv[0]; kv += 2)
		if (ingest__routes_section(&b->rt, section, kv[0], kv[1], err, sizeof(err)) != TW_OK) {
			fprintf(stderr, PROG ": [%s] %s: %s\n", section, kv[0], err);
			return -1;
		}
	return 0;
}

/* The same transforms and route as scripts/bench gives telewire-ingest. */
static int bench__routes(struct bench *b)
{
	static const char *const mph[] = { "plugin", "unit_convert", "key", "speed", "from", "km_h",
					   "to", "mph", "output", "speed_mph", NULL };
	static const char *const avg[] = { "plugin", "moving_average", "key", "speed", "window",
					   "10", NULL };
	static const char *const hot[] = { "plugin", "threshold", "key", "temp", "high", "30",
					   "hysteresis", "1", NULL };
	static const char *const key[] = { "plugin", "conflate", "template", "{device}:telemetry",
					   NULL };
	const char *const route[] = { "match", "bench-*", "transforms",
				      strcmp(b->third, "conflate") == 0 ? "mph, avg, key"
				      : "mph, avg, hot", "groups", "fleet", NULL };
	char err[1024];

	if (bench__section(b, "transform mph", mph) || bench__section(b, "transform avg", avg) ||
	    bench__section(b, "transform hot", hot) || bench__section(b, "transform key", key) ||
	    bench__section(b, "route bench", route))
		return -1;
	if (ingest__routes_load(&b->rt, b->plugin_dir, err, sizeof(err)) != TW_OK) {
		fprintf(stderr, PROG ": %s\n", err);
		return -1;
	}
	return 0;
}

/* The receive thread's envelopes, into ingest's result queue. */
static void bench__envelopes(struct bench *b, struct ingest_route *route, struct tw_record *r)
{
	unsigned long long invalid = 0;

	b->envelopes += (long long)ingest__envelopes(&b->queue, b->scratch, route, r, &invalid);
}

static int bench__db_fail(struct bench *b, struct tw_decoded *d, const char *what)
{
	fprintf(stderr, PROG ": history %s: %s\n", what, tw_history_errmsg(b->h));
	tw_decoded_free(d);
	return -1;
}

/* One message as ingest__handle treats it, up to the stages in work. */
static int bench__message(struct bench *b, long long i, unsigned work, int in_tx)
{
	char device[TW_RECORD_MAX_DEVICE + 1], reason[512], why[512];
	const char *topic = b->topics[i % b->devices];
	struct ingest_route *route = NULL;
	struct tw_decoded d;

	if (ingest__topic_device(topic, device, sizeof(device)) != TW_OK ||
	    tw_telemetry_decode(b->payloads + i * MAX_PAYLOAD, b->lens[i], device, tw_wall_ms(),
				&b->lim, &d, reason, sizeof(reason)) != TW_OK) {
		fprintf(stderr, PROG ": message %lld rejected: %s\n", i, reason);
		return -1;
	}
	if (work & W_PLUGINS)
		route = ingest__routes_match(&b->rt, device);
	if ((work & W_HISTORY) && !in_tx && tw_history_begin(b->h) != TW_OK)
		return bench__db_fail(b, &d, "begin");
	for (size_t k = 0; k < d.n; k++) {
		int keep = 1, rc = TW_OK;

		if ((work & W_HISTORY) && (rc = tw_history_seen(b->h, d.recs[k])) != TW_OK) {
			keep = 0;
			b->dropped += rc == TW_ERR_EXISTS;
		}
		if (keep && route && tw_pipeline_run(route->pipeline, d.recs[k], why,
						     sizeof(why)) != TW_TRANSFORM_PASS) {
			b->failed++;
			keep = 0;
		}
		if (keep && (work & W_HISTORY)) {
			if (tw_history_put(b->h, d.recs[k]) != TW_OK)
				return bench__db_fail(b, &d, "put");
			b->stored++;
		}
		if (keep && route && (work & W_ENVELOPES))
			bench__envelopes(b, route, d.recs[k]);
	}
	if ((work & W_HISTORY) && !in_tx && tw_history_commit(b->h) != TW_OK)
		return bench__db_fail(b, &d, "commit");
	tw_decoded_free(&d);
	return 0;
}

/* Runs every payload through work; with history and batch > 1, that many
 * messages share a transaction (what ingest does not do: for comparison). */
static int bench__stage(struct bench *b, const char *name, unsigned work, long long batch)
{
	int64_t wall = bench_mono_us(), cpu = bench_cpu_us();
	double secs, cpu_secs;

	b->failed = b->dropped = b->stored = b->envelopes = 0;
	for (long long i = 0; i < b->count; i++) {
		int shared = (work & W_HISTORY) && batch > 1;

		if (shared && i % batch == 0 && tw_history_begin(b->h) != TW_OK)
			return -1;
		if (bench__message(b, i, work, shared) != 0)
			return -1;
		if (shared && (i % batch == batch - 1 || i == b->count - 1) &&
		    tw_history_commit(b->h) != TW_OK)
			return -1;
	}
	secs = (double)(bench_mono_us() - wall) / 1e6;
	cpu_secs = (double)(bench_cpu_us() - cpu) / 1e6;
	printf("RESULT stage=%s msgs=%lld seconds=%.3f rate=%.0f cpu_seconds=%.3f cpu_rate=%.0f "
	       "failed=%lld duplicates=%lld stored=%lld envelopes=%lld\n", name, b->count, secs,
	       (double)b->count / secs, cpu_secs, (double)b->count / cpu_secs, b->failed,
	       b->dropped, b->stored, b->envelopes);
	fflush(stdout);
	if (b->failed || b->dropped) {
		fprintf(stderr, PROG ": %s: %lld records failed in a plugin, %lld duplicates\n",
			name, b->failed, b->dropped);
		return -1;
	}
	return 0;
}

/* The pipeline must have added its outputs, or the numbers mean nothing. */
static int bench__check(struct bench *b)
{
	const char *want[] = { "speed_mph", "speed_avg",
			       strcmp(b->third, "threshold") == 0 ? "temp_alert" : NULL };
	char device[TW_RECORD_MAX_DEVICE + 1], reason[512], why[512];
	struct ingest_route *route;
	struct tw_decoded d;
	int ok;

	if (ingest__topic_device(b->topics[0], device, sizeof(device)) != TW_OK ||
	    tw_telemetry_decode(b->payloads, b->lens[0], device, tw_wall_ms(), &b->lim, &d, reason,
				sizeof(reason)) != TW_OK || d.n != 1)
		return -1;
	route = ingest__routes_match(&b->rt, device);
	ok = route && tw_pipeline_length(route->pipeline) == 3 &&
	     tw_pipeline_run(route->pipeline, d.recs[0], why, sizeof(why)) == TW_TRANSFORM_PASS;
	for (size_t k = 0; ok && k < 3; k++)
		ok = !want[k] || tw_record_type(d.recs[0], want[k]) == TW_VALUE_NUMBER ||
		     tw_record_type(d.recs[0], want[k]) == TW_VALUE_BOOL;
	if (ok && strcmp(b->third, "conflate") == 0)
		ok = tw_record_conflation_key(d.recs[0]) != NULL;
	tw_decoded_free(&d);
	if (!ok)
		fprintf(stderr, PROG ": the pipeline did not add its outputs\n");
	return ok ? 0 : -1;
}

static void bench__unlink_history(const char *path)
{
	char side[4096];

	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

/* An empty history file, so that each history stage starts alike. */
static int bench__fresh_history(struct bench *b)
{
	char err[512];

	tw_history_close(b->h);
	b->h = NULL;
	bench__unlink_history(b->history);
	if (tw_history_open(b->history, 0, &b->h, err, sizeof(err)) != TW_OK) {
		fprintf(stderr, PROG ": %s\n", err);
		return -1;
	}
	return 0;
}

static int bench__setup(struct bench *b)
{

	b->payloads = malloc((size_t)b->count * MAX_PAYLOAD);
	b->lens = calloc((size_t)b->count, sizeof(*b->lens));
	b->topics = calloc((size_t)b->devices, sizeof(char *));
	if (!b->payloads || !b->lens || !b->topics)
		return -1;
	for (long long d = 0; d < b->devices; d++) {
		if (!(b->topics[d] = malloc(48)))
			return -1;
		snprintf(b->topics[d], 48, "devices/bench-%05lld/telemetry", d + 1);
	}
	if (bench__routes(b) != 0 || ingest__queue_init(&b->queue, 10000, 256, 65536, 2) != TW_OK)
		return -1;
	return b->history ? bench__fresh_history(b) : 0;
}

static void bench__free(struct bench *b)
{
	if (b->queue.cap)
		ingest__queue_destroy(&b->queue);
	for (int k = 0; k < 2; k++)
		ingest__buf_free(&b->scratch[k]);
	tw_history_close(b->h);
	ingest__routes_free(&b->rt);
	for (long long d = 0; b->topics && d < b->devices; d++)
		free(b->topics[d]);
	free(b->topics);
	free(b->payloads);
	free(b->lens);
}

static int bench__run(struct bench *b)
{
	long long n = b->count;

	bench__payloads(b, 1);
	if (bench__check(b) != 0)
		return -1;
	/* Warm-up: plugin device tables filled, allocator primed. */
	b->count = n < 20000 ? n : 20000;
	if (bench__stage(b, "warmup", W_PLUGINS | W_ENVELOPES, 1) != 0)
		return -1;
	b->count = n;
	if (bench__stage(b, "decode", W_DECODE, 1) != 0 ||
	    bench__stage(b, "decode+plugins", W_PLUGINS, 1) != 0 ||
	    bench__stage(b, "decode+plugins+envelopes", W_PLUGINS | W_ENVELOPES, 1) != 0)
		return -1;
	if (!b->h)
		return 0;
	if (bench__stage(b, "decode+plugins+envelopes+history", W_PLUGINS | W_ENVELOPES |
			 W_HISTORY, 1) != 0)
		return -1;
	if (b->batch > 1) {
		char name[96];

		if (bench__fresh_history(b) != 0)
			return -1;
		snprintf(name, sizeof(name), "decode+plugins+envelopes+history_batch%lld", b->batch);
		if (bench__stage(b, name, W_PLUGINS | W_ENVELOPES | W_HISTORY, b->batch) != 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = { .count = 200000, .devices = 1000, .batch = 1,
			   .plugin_dir = TW_PLUGIN_DIR, .third = "threshold" };
	int rc;

	rc = bench__parse(&b, argc, argv);
	if (rc)
		return rc > 0 ? 0 : 2;
	tw_log_init("bench_ingest", TW_LOG_WARN);
	rc = bench__setup(&b) == 0 ? bench__run(&b) : -1;
	bench__free(&b);
	if (b.history)
		bench__unlink_history(b.history);
	return rc == 0 ? 0 : 1;
}
