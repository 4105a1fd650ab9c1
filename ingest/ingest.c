/* ingest.c -- the telemetry path: on_message, journal and group commit, result batching */
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
#define ROLLUP_STEP_MS 2	/* rollup work after a commit; a message waits for it */
#define ROLLUP_IDLE_MS 20	/* between two steps of a pass when no message comes */

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

int ingest__topic_device(const char *topic, char *device, size_t len)
{
	const char *p = topic, *end;

	while (p && strncmp(p, "devices/", 8) != 0)
		if ((p = strchr(p, '/')) != NULL)
			p++;
	if (!p)
		return TW_ERR_INVAL;
	p += 8;
	end = strchr(p, '/');
	if (!end)
		end = p + strlen(p);
	if (end == p || (size_t)(end - p) >= len || (size_t)(end - p) > TW_RECORD_MAX_DEVICE)
		return TW_ERR_INVAL;
	memcpy(device, p, (size_t)(end - p));
	device[end - p] = '\0';
	return TW_OK;
}

int ingest__topic_device_at(const char *topic, long long level, char *device, size_t len)
{
	const char *p = topic, *end;

	if (level <= 0)
		return ingest__topic_device(topic, device, len);
	for (long long i = 1; i < level; i++) {
		if (!(p = strchr(p, '/')))
			return TW_ERR_INVAL;
		p++;
	}
	end = strchr(p, '/');
	if (!end)
		end = p + strlen(p);
	if (end == p || (size_t)(end - p) >= len || (size_t)(end - p) > TW_RECORD_MAX_DEVICE)
		return TW_ERR_INVAL;
	memcpy(device, p, (size_t)(end - p));
	device[end - p] = '\0';
	return TW_OK;
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

/* Runs r through its route's pipeline; 1: keep it, 0: it goes no further. */
static int ingest__transform(struct ingest *ing, struct ingest_route *route, struct tw_record *r)
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

static void ingest__db_error(struct ingest *ing, const char *what)
{
	ing->st.db_errors++;
	tw_error("history: %s: %s", what, tw_history_errmsg(ing->history));
}

/* The open group transaction, begun when none is; NULL when history is
 * off or cannot be written now (the message at journal offset `at` then
 * waits in the journal, its results unpublished). */
static struct tw_history *ingest__tx(struct ingest *ing, off_t at)
{
	if (!ing->history || ing->redo)
		return NULL;
	if (ing->tx_open)
		return ing->history;
	if (tw_history_begin(ing->history) != TW_OK) {
		ingest__db_error(ing, "cannot begin a transaction");
		ing->redo = 1;
		ing->published_end = at;
		return NULL;
	}
	ing->tx_open = 1;
	ing->tx_start = tw_mono_ms();
	ing->tx_msgs = 0;
	ing->tx_stored = 0;
	return ing->history;
}

static void ingest__rollup(struct ingest *ing);

/* Commits the group; on failure its messages stay in the journal and are
 * replayed (ingest__redo) before anything else is stored. */
static void ingest__commit(struct ingest *ing)
{
	if (!ing->tx_open)
		return;
	ing->tx_open = 0;
	if (tw_history_commit(ing->history) != TW_OK) {
		ingest__db_error(ing, "cannot commit");
		ing->redo = 1;
		ing->published_end = ing->journal.size;
		return;
	}
	ing->st.commits++;
	ing->st.stored += ing->tx_stored;
	/* If emptying fails, a later replay finds these stored already and
	 * drops them as duplicates. */
	if (ingest__journal_reset(&ing->journal) != TW_OK) {
		ing->st.journal_errors++;
		ingest__warn_limited(ing, "cannot empty the journal", ing->journal.path,
				     strerror(errno));
	}
	ing->published_end = 0;
	ingest__rollup(ing);
}

/* Some of a due rollup pass, between commits (the writer's connection is
 * free then), a couple of milliseconds at a time: queries read the raw
 * samples where rollups are behind, so late is only slower, never wrong. */
static void ingest__rollup(struct ingest *ing)
{
	struct tw_history_rollup_stats st = { 0 };
	int64_t now = tw_mono_ms();
	int rc;

	if (!ing->cfg->rollup_every_s || ing->tx_open || ing->redo || now < ing->rollup_due)
		return;
	rc = tw_history_rollup_step(ing->history, ROLLUP_STEP_MS, &st);
	ing->st.rollup_buckets += st.buckets;
	if (rc == TW_ERR_AGAIN) {
		ing->rollup_due = 0;
		return;
	}
	if (rc != TW_OK)
		ingest__db_error(ing, "rollup pass");
	ing->rollup_due = now + ing->cfg->rollup_every_s * 1000;
}

static void ingest__maybe_commit(struct ingest *ing)
{
	if (ing->tx_open && (ing->tx_msgs >= (size_t)ing->cfg->commit_max ||
			     tw_mono_ms() - ing->tx_start >= ing->cfg->commit_ms))
		ingest__commit(ing);
}

/* De-duplicates, transforms and stores one message's records in the open
 * group transaction; keep[i] says who goes on. 0 when the message could
 * not be stored now (it is in the journal, and will be replayed). */
static int ingest__process(struct ingest *ing, struct ingest_route *route,
			   struct tw_decoded *d, unsigned char *keep, off_t at)
{
	struct tw_history *h = ingest__tx(ing, at);
	unsigned long long stored = 0;
	int rc;

	if (ing->history && !h)
		return 0;
	for (size_t i = 0; i < d->n; i++) {
		rc = h ? tw_history_seen(h, d->recs[i]) : TW_OK;
		if (rc == TW_ERR_EXISTS) {
			ing->st.duplicates++;
			keep[i] = 0;
			continue;
		}
		keep[i] = ingest__transform(ing, route, d->recs[i]);
		if (rc == TW_OK && h && keep[i])
			rc = tw_history_put(h, d->recs[i]);
		stored += rc == TW_OK && h && keep[i];
		if (rc != TW_OK) {
			ingest__db_error(ing, "cannot write");
			tw_history_rollback(h);
			ing->tx_open = 0;
			ing->redo = 1;
			ing->published_end = at;
			return 0;
		}
	}
	if (h) {
		ing->tx_msgs++;
		ing->tx_stored += stored;
	}
	return 1;
}

/* Events carry no conflation key: a later telemetry message of the same
 * device must not replace an alert in a slow client's queue. */
static void ingest__queue_emits(struct ingest *ing, const struct tw_record *r)
{
	for (const struct tw_record_emit *e = tw_record_emits(r); e; e = e->next) {
		char *env = ingest__envelope_text(e->group, e->method, e->json_args, NULL);

		if (env)
			ingest__queue_push(&ing->queue, env);
		else
			ing->st.emit_invalid++;
	}
}

/* One envelope per group of the route (none when a plugin held the record
 * back with set_publish), plus what plugins emitted. */
static void ingest__queue_record(struct ingest *ing, struct ingest_route *route,
				 const struct tw_record *r)
{
	const char *key = tw_record_conflation_key(r);
	void *args;

	if (!key)
		key = tw_record_device(r);
	ingest__queue_emits(ing, r);
	if (!route->ngroups || !tw_record_publish(r) || !(args = ingest__record_args(r)))
		return;
	for (size_t g = 0; g < route->ngroups; g++) {
		char *env = ingest__envelope(route->groups[g], "telemetry", args, key);

		if (env)
			ingest__queue_push(&ing->queue, env);
	}
	ingest__json_free(args);
}

/* Appends to the journal, waiting while it cannot be written (a full
 * disk): the broker keeps what follows. Gives up only when stopping. */
static int ingest__journal_write(struct ingest *ing, int64_t wall, const char *topic,
				 const void *payload, size_t len)
{
	struct timespec pause = { 0, 100 * 1000000 };

	while (ingest__journal_append(&ing->journal, wall, topic, payload, len) != TW_OK) {
		ing->st.journal_errors++;
		ingest__warn_limited(ing, "cannot journal a message", ing->journal.path,
				     strerror(errno));
		if (ing->stopping)
			return TW_ERR_IO;
		nanosleep(&pause, NULL);
	}
	return TW_OK;
}

static void ingest__handle(struct ingest *ing, const char *topic, const void *payload,
			   size_t len, int64_t wall, off_t at);

static void ingest__replay_one(void *ctx, off_t at, int64_t wall, const char *topic,
			       const void *payload, size_t len)
{
	struct ingest *ing = ctx;

	if (!ing->redo)
		ingest__handle(ing, topic, payload, len, wall, at);
}

/* Stores what the journal holds, in one transaction, publishing the
 * results of the messages that had none published yet. Waits a little
 * after a failure, which slows the consumer down while history cannot be
 * written; the broker keeps the rest. */
static int ingest__redo(struct ingest *ing)
{
	struct timespec pause = { 0, 100 * 1000000 };
	size_t n, torn;
	int rc;

	ing->redo = 0;
	ing->replaying = 1;
	rc = ingest__journal_replay(&ing->journal, ingest__replay_one, ing, &n, &torn);
	ing->replaying = 0;
	if (rc != TW_OK && !ing->redo) {
		tw_error("journal %s: cannot replay: %s", ing->journal.path, tw_strerror(rc));
		ing->st.journal_errors++;
		ing->redo = 1;
	}
	if (torn)
		tw_warn("journal %s: a message cut short after the last whole one ignored (it "
			"was never acknowledged)", ing->journal.path);
	if (!ing->redo)
		ingest__commit(ing);
	if (ing->redo) {
		if (ing->tx_open)
			tw_history_rollback(ing->history);
		ing->tx_open = 0;
		nanosleep(&pause, NULL);
		return TW_ERR_DB;
	}
	ing->st.replayed += n;
	return TW_OK;
}

/* One message: decoded, journaled (history on), processed, results
 * queued. at: its journal offset when replayed, else -1. */
static void ingest__handle(struct ingest *ing, const char *topic, const void *payload,
			   size_t len, int64_t wall, off_t at)
{
	char device[TW_RECORD_MAX_DEVICE + 1], reason[512];
	struct ingest_route *route;
	struct tw_decoded d;
	unsigned char *keep;
	int rc, publish = !ing->replaying || at >= ing->published_end;

	if (!ing->replaying)
		ing->st.received++;
	if (ingest__topic_device_at(topic, ing->cfg->device_level, device, sizeof(device)) != TW_OK) {
		if (ing->cfg->device_level > 0)
			snprintf(reason, sizeof(reason), "topic has no device id at level %lld "
				 "(--device-level)", ing->cfg->device_level);
		else
			snprintf(reason, sizeof(reason), "topic has no device id after \"devices/\"");
		ingest__reject(ing, "_unknown", topic, payload, len, reason, TW_ERR_INVAL);
		return;
	}
	rc = tw_telemetry_decode(payload, len, device, wall, &ing->lim, &d, reason,
				 sizeof(reason));
	if (rc != TW_OK) {
		ingest__reject(ing, device, topic, payload, len, reason, rc);
		return;
	}
	if (ing->history && !ing->replaying) {
		at = ing->journal.size;
		if (ingest__journal_write(ing, wall, topic, payload, len) != TW_OK)
			tw_error("stopping: a message from %s is stored only if the last commit "
				 "succeeds", device);
		if (ing->redo) {	/* the journal holds this message too */
			tw_decoded_free(&d);
			ingest__redo(ing);
			return;
		}
	}
	route = ingest__routes_match(ing->routes, device);
	if (!route)
		ing->st.unrouted += d.n;
	if ((keep = calloc(d.n, 1)) != NULL) {
		if (ingest__process(ing, route, &d, keep, at) && publish)
			for (size_t i = 0; route && i < d.n; i++)
				if (keep[i])
					ingest__queue_record(ing, route, d.recs[i]);
	} else {
		ing->st.transform_failed += d.n;
		ingest__warn_limited(ing, "out of memory for a message", device, "dropped");
	}
	free(keep);
	tw_decoded_free(&d);
}

void ingest__on_message(void *ctx, const char *topic, const void *payload, size_t len, int qos)
{
	struct ingest *ing = ctx;

	(void)qos;
	pthread_mutex_lock(&ing->msg_lock);
	if (!ing->closed) {
		ingest__handle(ing, topic, payload, len, tw_wall_ms(), -1);
		ingest__maybe_commit(ing);
	}
	pthread_mutex_unlock(&ing->msg_lock);
}

/* Commits a group that waited --commit-ms with no message after it, and
 * retries a failed one. */
static void *ingest__committer(void *arg)
{
	struct ingest *ing = arg;
	struct timespec until;

	pthread_mutex_lock(&ing->msg_lock);
	while (!ing->closed) {
		int64_t wait;

		if (ing->redo) {
			ingest__redo(ing);
			continue;
		}
		if (!ing->tx_open)
			ingest__rollup(ing);
		wait = ing->tx_open ? ing->tx_start + ing->cfg->commit_ms - tw_mono_ms()
				    : ing->rollup_due ? 1000 : ROLLUP_IDLE_MS;
		if (wait <= 0) {
			ingest__commit(ing);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += wait / 1000;
		until.tv_nsec += (wait % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&ing->commit_wake, &ing->msg_lock, &until);
	}
	pthread_mutex_unlock(&ing->msg_lock);
	return NULL;
}

/* Publishes one batch, waiting for room as long as it takes (until the
 * stop deadline); returns 1 when published. */
static int ingest__publish_batch(struct ingest *ing, const struct ingest_buf *b)
{
	struct timespec pause = { 0, 50 * 1000000 };
	int rc;

	for (;;) {
		rc = tw_mqtt_publish(ing->pub, ing->results_topic, b->data, b->len, 1, 0);
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

static void *ingest__flusher(void *arg)
{
	struct ingest *ing = arg;
	struct ingest_buf buf = { 0 };
	size_t n;

	while ((n = ingest__queue_next(&ing->queue, &buf)) > 0) {
		if (ingest__publish_batch(ing, &buf))
			ing->st.published += n;
		else
			ing->st.publish_failed += n;
	}
	ingest__buf_free(&buf);
	return NULL;
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

char *ingest__journal_path(const struct ingest_config *cfg)
{
	size_t n;
	char *p;

	if (cfg->journal && *cfg->journal)
		return strdup(cfg->journal);
	n = strlen(cfg->history) + strlen(cfg->client_id) + sizeof("..journal");
	if (!(p = malloc(n)))
		return NULL;
	snprintf(p, n, "%s.%s.journal", cfg->history, cfg->client_id);
	for (char *c = p + strlen(cfg->history) + 1; *c; c++)
		if (*c == '/')
			*c = '_';
	return p;
}

/* Opens the journal and stores what a killed predecessor left in it.
 * Those results were published before (or are lost with it): none again. */
static int ingest__recover(struct ingest *ing)
{
	char err[512], *path = ingest__journal_path(ing->cfg);
	int rc;

	if (!path)
		return TW_ERR_NOMEM;
	rc = ingest__journal_open(&ing->journal, path, err, sizeof(err));
	free(path);
	if (rc != TW_OK) {
		tw_error("%s", err);
		return rc;
	}
	if (ing->journal.size == 0)
		return TW_OK;
	tw_info("journal %s: storing the %lld bytes of messages a previous run left",
		ing->journal.path, (long long)ing->journal.size);
	pthread_mutex_lock(&ing->msg_lock);
	ing->published_end = ing->journal.size;
	rc = ingest__redo(ing);
	pthread_mutex_unlock(&ing->msg_lock);
	if (rc != TW_OK)
		tw_error("journal %s: cannot store what it holds: %s", ing->journal.path,
			 tw_history_errmsg(ing->history));
	else
		tw_info("journal %s: %llu messages replayed", ing->journal.path,
			(unsigned long long)ing->st.replayed);
	return rc;
}

static int ingest__start_committer(struct ingest *ing)
{
	pthread_condattr_t attr;
	int rc;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&ing->commit_wake, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		return TW_ERR_NOMEM;
	if (pthread_create(&ing->committer, NULL, ingest__committer, ing) != 0) {
		pthread_cond_destroy(&ing->commit_wake);
		return TW_ERR_NOMEM;
	}
	ing->committer_started = 1;
	return TW_OK;
}

int ingest__start(struct ingest *ing, const struct ingest_config *cfg,
		  struct ingest_routes *routes, struct tw_history *history)
{
	int rc;

	memset(ing, 0, sizeof(*ing));
	ing->cfg = cfg;
	ing->routes = routes;
	ing->history = history;
	ing->journal.fd = -1;
	ingest__limits(ing, cfg);
	snprintf(ing->results_topic, sizeof(ing->results_topic), "telewire/hub/%s/results",
		 cfg->hub);
	pthread_mutex_init(&ing->msg_lock, NULL);
	rc = ingest__queue_init(&ing->queue, (size_t)cfg->queue_max, (size_t)cfg->batch_max,
				(size_t)cfg->batch_bytes, cfg->linger_ms);
	if (rc == TW_OK && pthread_create(&ing->flusher, NULL, ingest__flusher, ing) != 0)
		rc = TW_ERR_NOMEM;
	ing->flusher_started = rc == TW_OK;
	if (rc == TW_OK)
		rc = ingest__start_pub(ing);
	if (rc == TW_OK && history)
		rc = ingest__recover(ing);
	if (rc == TW_OK && history)
		rc = ingest__start_committer(ing);
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
	if (ing->redo)
		ingest__redo(ing);
	ingest__commit(ing);
	if (ing->committer_started)
		pthread_cond_signal(&ing->commit_wake);
	pthread_mutex_unlock(&ing->msg_lock);
	if (ing->committer_started) {
		pthread_join(ing->committer, NULL);
		pthread_cond_destroy(&ing->commit_wake);
		ing->committer_started = 0;
	}
	if (ing->redo)
		tw_error("history: the journal %s keeps messages that could not be stored; the "
			 "next start stores them", ing->journal.path);
	ingest__journal_close(&ing->journal);
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
