/* ingest.c -- the receive path: on_message, journal, duplicates, transforms, result batching */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envelope.h"
#include "ingest.h"
#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/log.h"

#define DEADLETTER_HEAD 256	/* payload bytes quoted in a deadletter */
#define STOP_GRACE_MS 5000	/* how long shutdown keeps trying to publish */

/* Warns at most once a second, then says how many lines it held back. */
static void ingest__warn_limited(struct ingest *ing, const char *what, const char *device,
				 const char *reason)
{
	int64_t now = tw_mono_ms();

	if (now - ing->last_reject_log < 1000) {
		ing->suppressed++;
		return;
	}
	tw_warn("%s from %s: %s%s", what, device, reason,
		ing->suppressed ? " (and more lines like this held back)" : "");
	ing->last_reject_log = now;
	ing->suppressed = 0;
}

/* The topic level that starts at p, as a device id: TW_OK, or TW_ERR_INVAL
 * when it is empty or too long. */
static int ingest__topic_level(const char *p, char *device, size_t len)
{
	const char *end = strchr(p, '/');

	if (!end)
		end = p + strlen(p);
	if (end == p || (size_t)(end - p) >= len || (size_t)(end - p) > TW_RECORD_MAX_DEVICE)
		return TW_ERR_INVAL;
	memcpy(device, p, (size_t)(end - p));
	device[end - p] = '\0';
	return TW_OK;
}

int ingest__topic_device(const char *topic, char *device, size_t len)
{
	const char *p = topic;

	while (p && strncmp(p, "devices/", 8) != 0)
		if ((p = strchr(p, '/')) != NULL)
			p++;
	if (!p)
		return TW_ERR_INVAL;
	return ingest__topic_level(p + 8, device, len);
}

int ingest__topic_device_at(const char *topic, long long level, char *device, size_t len)
{
	const char *p = topic;

	if (level <= 0)
		return ingest__topic_device(topic, device, len);
	for (long long i = 1; i < level; i++) {
		if (!(p = strchr(p, '/')))
			return TW_ERR_INVAL;
		p++;
	}
	return ingest__topic_level(p, device, len);
}

static void ingest__reject(struct ingest *ing, const char *device, const char *topic,
			   const void *payload, size_t len, const char *reason, int rc)
{
	char dl_topic[256];
	char *dl = ingest__deadletter(reason, topic, payload, len, DEADLETTER_HEAD);

	ing->st.rejected++;
	if (rc == TW_ERR_LIMIT)
		ing->st.rejected_limit++;
	else if (rc == TW_ERR_JSON)
		ing->st.rejected_json++;
	ingest__warn_limited(ing, "rejected message", device, reason);
	snprintf(dl_topic, sizeof(dl_topic), "telewire/deadletter/%s", device);
	if (!dl || tw_mqtt_publish(ing->pub, dl_topic, dl, strlen(dl), 1, 0) != TW_OK)
		ing->st.deadletter_failed++;
	free(dl);
}

int ingest__transform(struct ingest *ing, struct ingest_route *route, struct tw_record *r)
{
	char why[512];
	int rc;

	if (!route || tw_pipeline_length(route->pipeline) == 0)
		return 1;
	rc = tw_pipeline_run(route->pipeline, r, why, sizeof(why));
	if (rc == TW_TRANSFORM_DROP)
		ing->st.transform_dropped++;
	if (rc == TW_TRANSFORM_ERROR) {
		ing->st.transform_failed++;
		ingest__warn_limited(ing, "transform failed on a record", tw_record_device(r), why);
	}
	return rc == TW_TRANSFORM_PASS;
}

size_t ingest__envelopes(struct ingest_queue *q, struct ingest_buf scratch[2],
			const struct ingest_route *route, const struct tw_record *r,
			unsigned long long *invalid)
{
	struct ingest_buf *args = &scratch[0], *env = &scratch[1];
	const char *key = tw_record_conflation_key(r);
	size_t n = 0;

	/* Events carry no conflation key: a later telemetry message of the
	 * same device must not replace an alert in a slow client's queue. */
	for (const struct tw_record_emit *e = tw_record_emits(r); e; e = e->next) {
		int rc;

		env->len = 0;
		rc = ingest__envelope_text(env, e->group, e->method, e->json_args, NULL);
		if (rc == TW_ERR_JSON)
			(*invalid)++;
		else if (rc != TW_OK)
			ingest__queue_lost(q, 1);
		else if (ingest__queue_push(q, env->data, env->len) == TW_OK)
			n++;
	}
	if (!route->ngroups || !tw_record_publish(r))
		return n;
	args->len = 0;
	if (ingest__record_args(args, r) != TW_OK) {
		ingest__queue_lost(q, route->ngroups);
		return n;
	}
	for (size_t g = 0; g < route->ngroups; g++) {
		env->len = 0;
		if (ingest__envelope(env, route->groups[g], "telemetry", args->data, args->len,
				     key ? key : tw_record_device(r)) != TW_OK)
			ingest__queue_lost(q, 1);
		else if (ingest__queue_push(q, env->data, env->len) == TW_OK)
			n++;
	}
	return n;
}

/* Appends to the journal, waiting while it cannot be written (a full
 * disk): the broker keeps what follows. Gives up only when stopping. */
static int ingest__journal_write(struct ingest *ing, int64_t wall, const char *topic,
				 const void *payload, size_t len)
{
	struct timespec pause = { 0, 100 * 1000000 };
	struct ingest_journal *j = &ing->journal[ing->jcur];

	while (ingest__journal_append(j, wall, topic, payload, len) != TW_OK) {
		ing->st.journal_errors++;
		ingest__warn_limited(ing, "cannot journal a message", j->path, strerror(errno));
		if (ing->stopping)
			return TW_ERR_IO;
		nanosleep(&pause, NULL);
	}
	return TW_OK;
}

int ingest__decode(struct ingest *ing, const char *topic, const void *payload, size_t len,
		   int64_t wall, struct tw_decoded *d, struct ingest_route **route)
{
	char device[TW_RECORD_MAX_DEVICE + 1], reason[512];
	int rc;

	if (ingest__topic_device_at(topic, ing->cfg->device_level, device, sizeof(device)) != TW_OK) {
		if (ing->cfg->device_level > 0)
			snprintf(reason, sizeof(reason), "topic has no device id at level %lld "
				 "(--device-level)", ing->cfg->device_level);
		else
			snprintf(reason, sizeof(reason), "topic has no device id after \"devices/\"");
		ingest__reject(ing, "_unknown", topic, payload, len, reason, TW_ERR_INVAL);
		return TW_ERR_INVAL;
	}
	rc = tw_telemetry_decode(payload, len, device, wall, &ing->lim, d, reason, sizeof(reason));
	if (rc != TW_OK) {
		ingest__reject(ing, device, topic, payload, len, reason, rc);
		return rc;
	}
	*route = ingest__routes_match(ing->routes, device);
	return TW_OK;
}

/* One message: decoded, journaled and handed to the writer (history on),
 * checked for a repeat, transformed, its results queued for the hubs. */
static void ingest__handle(struct ingest *ing, const char *topic, const void *payload,
			   size_t len, int64_t wall)
{
	struct ingest_route *route;
	struct ingest_work *w;
	struct tw_decoded d;
	unsigned char *keep;

	ing->st.received++;
	if (ingest__decode(ing, topic, payload, len, wall, &d, &route) != TW_OK)
		return;
	if (!route)
		ing->st.unrouted += d.n;
	if (ing->history && ingest__journal_write(ing, wall, topic, payload, len) != TW_OK)
		tw_error("stopping: a message from %s is stored only if the last commit succeeds",
			 d.n ? tw_record_device(d.recs[0]) : "?");
	keep = calloc(d.n ? d.n : 1, 1);
	w = ing->history ? calloc(1, sizeof(*w)) : NULL;
	if (!keep || (ing->history && !w)) {
		/* In the journal all the same: the next start stores it. */
		ing->st.transform_failed += d.n;
		ingest__warn_limited(ing, "out of memory for a message", "", "dropped");
		free(keep);
		free(w);
		tw_decoded_free(&d);
		return;
	}
	for (size_t i = 0; i < d.n; i++) {
		if (ing->history && ingest__dedup_check(&ing->dedup, d.recs[i])) {
			ing->st.duplicates++;
			continue;
		}
		keep[i] = (unsigned char)ingest__transform(ing, route, d.recs[i]);
	}
	for (size_t i = 0; route && i < d.n; i++) {
		unsigned long long invalid = 0;

		if (keep[i])
			ingest__envelopes(&ing->queue, ing->scratch, route, d.recs[i], &invalid);
		if (invalid)
			ing->st.emit_invalid += invalid;
	}
	if (!w) {
		free(keep);
		tw_decoded_free(&d);
		return;
	}
	w->d = d;
	w->keep = keep;
	ingest__writer_push(ing, w);
}

/* Publishes one batch, waiting for room as long as it takes (until the
 * stop deadline); returns 1 when published. */
static int ingest__publish_batch(struct ingest *ing, const struct ingest_batch *b)
{
	struct timespec pause = { 0, 50 * 1000000 };
	int rc;

	for (;;) {
		rc = tw_mqtt_publish(ing->pub, ing->results_topic, b->text.data, b->text.len, 1, 0);
		if (rc == TW_OK)
			return 1;
		if (rc != TW_ERR_FULL && rc != TW_ERR_AGAIN)
			return 0;
		if (ing->stop_deadline && tw_mono_ms() > ing->stop_deadline)
			return 0;
		if (rc == TW_ERR_FULL)
			tw_mqtt_wait_room(ing->pub, 200);
		else
			nanosleep(&pause, NULL);
	}
}

/* The batches that are not full: linger_ms after their first envelope;
 * and those the receive thread could not publish at once. */
static void *ingest__flusher(void *arg)
{
	struct ingest *ing = arg;
	struct ingest_batch *b;

	while ((b = ingest__queue_next(&ing->queue)) != NULL) {
		if (ingest__publish_batch(ing, b))
			ing->st.published += b->n;
		else
			ing->st.publish_failed += b->n;
		ingest__queue_done(&ing->queue, b, 0);
	}
	return NULL;
}

/* After each message, on Paho's receive thread (which holds no lock of
 * Paho's while it runs our callback): the full batches go out from here,
 * without waiting. One that finds no room, or no connection, is left to
 * the flusher, which waits for them. */
static void ingest__publish_ready(struct ingest *ing)
{
	struct ingest_batch *b;
	int rc;

	while ((b = ingest__queue_try(&ing->queue)) != NULL) {
		rc = tw_mqtt_publish(ing->pub, ing->results_topic, b->text.data, b->text.len, 1, 0);
		if (rc == TW_OK)
			ing->st.published += b->n;
		else if (rc != TW_ERR_FULL && rc != TW_ERR_AGAIN)
			ing->st.publish_failed += b->n;
		ingest__queue_done(&ing->queue, b, rc == TW_ERR_FULL || rc == TW_ERR_AGAIN);
		if (rc != TW_OK)
			break;
	}
}

void ingest__on_message(void *ctx, const char *topic, const void *payload, size_t len, int qos)
{
	struct ingest *ing = ctx;

	(void)qos;
	pthread_mutex_lock(&ing->msg_lock);
	if (!ing->closed)
		ingest__handle(ing, topic, payload, len, tw_wall_ms());
	pthread_mutex_unlock(&ing->msg_lock);
	ingest__publish_ready(ing);
	ingest__writer_step_aside(ing);
}

static void ingest__limits(struct ingest *ing, const struct ingest_config *c)
{
	ing->lim.max_payload = (size_t)c->max_payload;
	ing->lim.max_fields = (size_t)c->max_fields;
	ing->lim.max_string = (size_t)c->max_string;
	ing->lim.max_records = (size_t)c->max_records;
	ing->lim.max_future_ms = (int64_t)c->max_future_s * 1000;
}

static int ingest__start_pub(struct ingest *ing)
{
	struct tw_mqtt_config pub = {
		.uri = ing->cfg->mqtt_uri, .client_id_prefix = "telewire-ingest-pub",
		.max_pending = (int)ing->cfg->max_pending,
	};

	return tw_mqtt_start(&ing->pub, &pub);
}

static int ingest__start_sub(struct ingest *ing)
{
	const struct ingest_config *c = ing->cfg;
	/* exclusive: a second ingest with our client id takes the session
	 * over; this one then stops instead of taking it back in a loop. */
	struct tw_mqtt_config sub = {
		.uri = c->mqtt_uri, .client_id = c->client_id, .persistent = 1,
		.session_expiry = (int)c->session_expiry_s,
		.subscriptions = (const char *const *)c->subscriptions,
		.nsubscriptions = c->nsubscriptions, .sub_qos = 1,
		.on_message = ingest__on_message, .ctx = ing, .exclusive = 1,
	};

	return tw_mqtt_start(&ing->sub, &sub);
}

char *ingest__journal_path(const struct ingest_config *cfg, int k)
{
	const char *base = cfg->journal && *cfg->journal ? cfg->journal : cfg->history;
	const char *id = cfg->journal && *cfg->journal ? NULL : cfg->client_id;
	size_t n = strlen(base) + (id ? strlen(id) : 0) + sizeof("..journal.2");
	char *p = malloc(n);

	if (!p)
		return NULL;
	if (id) {
		snprintf(p, n, "%s.%s.journal%s", base, id, k ? ".2" : "");
		for (char *c = p + strlen(base) + 1; *c; c++)
			if (*c == '/')
				*c = '_';
	} else {
		snprintf(p, n, "%s%s", base, k ? ".2" : "");
	}
	return p;
}

/* Opens the journals and the duplicate check's connection, and stores
 * what a killed predecessor left in the journals (its results were
 * published before, or are lost with it: none again). */
static int ingest__recover(struct ingest *ing)
{
	struct tw_history *reader;
	char err[512];
	int rc = TW_OK;

	for (int k = 0; k < 2 && rc == TW_OK; k++) {
		char *path = ingest__journal_path(ing->cfg, k);

		if (!path)
			return TW_ERR_NOMEM;
		rc = ingest__journal_open(&ing->journal[k], path, err, sizeof(err));
		free(path);
		if (rc != TW_OK)
			tw_error("%s", err);
	}
	if (rc != TW_OK)
		return rc;
	if (tw_history_open(ing->cfg->history, TW_HISTORY_READONLY, &reader, err,
			    sizeof(err)) != TW_OK) {
		tw_error("%s", err);
		return TW_ERR_DB;
	}
	ingest__dedup_init(&ing->dedup, reader);
	if (ing->journal[0].size == 0 && ing->journal[1].size == 0)
		return TW_OK;
	tw_info("journal %s: storing the %lld bytes of messages a previous run left",
		ing->journal[0].path, (long long)(ing->journal[0].size + ing->journal[1].size));
	if ((rc = ingest__writer_redo(ing)) != TW_OK)
		tw_error("journal %s: cannot store what it holds: %s", ing->journal[0].path,
			 tw_history_errmsg(ing->history));
	else
		tw_info("journal %s: %llu messages replayed", ing->journal[0].path,
			(unsigned long long)ing->st.replayed);
	return rc;
}

static int ingest__start_writer(struct ingest *ing)
{
	pthread_condattr_t attr;
	int rc;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&ing->wq_wake, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		return TW_ERR_NOMEM;
	if (pthread_create(&ing->writer, NULL, ingest__writer, ing) != 0) {
		pthread_cond_destroy(&ing->wq_wake);
		return TW_ERR_NOMEM;
	}
	pthread_setname_np(ing->writer, "tw-writer");
	ing->writer_started = 1;
	return TW_OK;
}

static void ingest__stop_writer(struct ingest *ing)
{
	if (!ing->writer_started)
		return;
	pthread_mutex_lock(&ing->wq_lock);
	ing->wq_stop = 1;
	pthread_cond_broadcast(&ing->wq_wake);
	pthread_cond_broadcast(&ing->wq_room);
	pthread_mutex_unlock(&ing->wq_lock);
	pthread_join(ing->writer, NULL);
	pthread_cond_destroy(&ing->wq_wake);
	ing->writer_started = 0;
}

int ingest__start(struct ingest *ing, const struct ingest_config *cfg,
		  struct ingest_routes *routes, struct tw_history *history)
{
	int rc;

	memset(ing, 0, sizeof(*ing));
	ing->cfg = cfg;
	ing->routes = routes;
	ing->history = history;
	ing->journal[0].fd = ing->journal[1].fd = -1;
	ingest__limits(ing, cfg);
	snprintf(ing->results_topic, sizeof(ing->results_topic), "telewire/hub/%s/results",
		 cfg->hub);
	pthread_mutex_init(&ing->msg_lock, NULL);
	pthread_mutex_init(&ing->wq_lock, NULL);
	pthread_cond_init(&ing->wq_room, NULL);
	pthread_cond_init(&ing->excl_done, NULL);
	rc = ingest__queue_init(&ing->queue, (size_t)cfg->queue_max, (size_t)cfg->batch_max,
				(size_t)cfg->batch_bytes, cfg->linger_ms);
	if (rc == TW_OK && pthread_create(&ing->flusher, NULL, ingest__flusher, ing) != 0)
		rc = TW_ERR_NOMEM;
	ing->flusher_started = rc == TW_OK;
	if (ing->flusher_started)
		pthread_setname_np(ing->flusher, "tw-publish");
	if (rc == TW_OK)
		rc = ingest__start_pub(ing);
	if (rc == TW_OK && history)
		rc = ingest__recover(ing);
	if (rc == TW_OK && history)
		rc = ingest__start_writer(ing);
	if (rc == TW_OK)
		rc = ingest__start_sub(ing);
	if (rc != TW_OK)
		ingest__stop(ing);
	return rc;
}

void ingest__stop(struct ingest *ing)
{
	ing->stopping = 1;
	tw_mqtt_stop(ing->sub, 1000);
	ing->sub = NULL;
	pthread_mutex_lock(&ing->msg_lock);
	ing->closed = 1;
	pthread_mutex_unlock(&ing->msg_lock);
	ingest__stop_writer(ing);
	if (ing->redo)
		tw_error("history: the journals %s(.2) keep messages that could not be stored; "
			 "the next start stores them", ing->journal[0].path);
	for (int k = 0; k < 2; k++)
		ingest__journal_close(&ing->journal[k]);
	ingest__dedup_free(&ing->dedup);
	ing->stop_deadline = tw_mono_ms() + STOP_GRACE_MS;
	if (ing->flusher_started) {
		ingest__queue_stop(&ing->queue);
		pthread_join(ing->flusher, NULL);
		ing->flusher_started = 0;
	}
	tw_mqtt_stop(ing->pub, 3000);
	ing->pub = NULL;
	if (ing->queue.cap)
		ing->queue_dropped = ingest__queue_dropped(&ing->queue);
	ingest__queue_destroy(&ing->queue);
	for (int k = 0; k < 2; k++)
		ingest__buf_free(&ing->scratch[k]);
	pthread_cond_destroy(&ing->wq_room);
	pthread_cond_destroy(&ing->excl_done);
	pthread_mutex_destroy(&ing->wq_lock);
	pthread_mutex_destroy(&ing->msg_lock);
}

void ingest__log_stats(struct ingest *ing)
{
	struct ingest_stats *s = &ing->st;
	unsigned long long dropped = ing->queue.cap ? ingest__queue_dropped(&ing->queue)
						    : ing->queue_dropped;

	tw_info("received %llu, rejected %llu, stored %llu, published %llu, dropped %llu, "
		"duplicates %llu, transform errors %llu, unrouted %llu, db errors %llu, "
		"commits %llu",
		(unsigned long long)s->received, (unsigned long long)s->rejected,
		(unsigned long long)s->stored, (unsigned long long)s->published,
		dropped + s->publish_failed,
		(unsigned long long)s->duplicates, (unsigned long long)s->transform_failed,
		(unsigned long long)s->unrouted, (unsigned long long)s->db_errors,
		(unsigned long long)s->commits);
}
