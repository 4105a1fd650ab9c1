/* mqtt.c -- one MQTT 5 connection over Paho MQTTAsync, reconnecting by itself
 *
 * Paho's automatic reconnect only covers a connection that once succeeded,
 * so a small thread of ours makes every connect attempt, first or not, with
 * back-off. Paho's callbacks only change state and signal that thread.
 */
#include <MQTTAsync.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "telewire/error.h"
#include "telewire/log.h"
#include "telewire/mqtt.h"

struct tw_mqtt {
	MQTTAsync client;
	struct tw_mqtt_config cfg;
	char *uri, *client_id;
	char **subs;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* state or publishes in flight changed */
	pthread_cond_t conn_cond;	/* state changed: the connection thread's */
	int stopping, connecting, connected, disconnected_ack, taken_over;
	struct tw_mqtt_stats stats;
};

/* The connection's state changed: wakes every waiter. */
static void mqtt__signal(struct tw_mqtt *m)
{
	pthread_cond_broadcast(&m->cond);
	pthread_cond_broadcast(&m->conn_cond);
}

/* Only the publishes in flight changed: the connection thread sleeps on. */
static void mqtt__signal_pending(struct tw_mqtt *m)
{
	pthread_cond_broadcast(&m->cond);
}

static void mqtt__deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* Waits on cv until pred(m) holds or timeout_ms passes; lock held. */
static int mqtt__wait_on(struct tw_mqtt *m, pthread_cond_t *cv, int (*pred)(struct tw_mqtt *),
			 int timeout_ms)
{
	struct timespec ts;

	mqtt__deadline(&ts, timeout_ms);
	while (!pred(m))
		if (pthread_cond_timedwait(cv, &m->lock, &ts) != 0)
			return pred(m) ? TW_OK : TW_ERR_AGAIN;
	return TW_OK;
}

static int mqtt__wait(struct tw_mqtt *m, int (*pred)(struct tw_mqtt *), int timeout_ms)
{
	return mqtt__wait_on(m, &m->cond, pred, timeout_ms);
}

/* Logs the filters the broker granted, in one line (scripts and tests wait
 * for it), and each one it refused or downgraded. */
static void mqtt__on_subscribed(void *ctx, MQTTAsync_successData5 *r)
{
	struct tw_mqtt *m = ctx;
	int n = (int)m->cfg.nsubscriptions, one = r->alt.sub.reasonCodeCount <= 1 ||
		!r->alt.sub.reasonCodes;
	char granted[1024] = "";
	size_t used = 0;

	/* Paho fills the reasonCodes array only for several topics at once. */
	for (int i = 0; i < n; i++) {
		int rc = (int)r->reasonCode;

		if (!one && i < r->alt.sub.reasonCodeCount)
			rc = (int)r->alt.sub.reasonCodes[i];

		if (rc >= 0x80) {
			tw_error("broker refused subscription to %s: %s", m->subs[i],
				 MQTTReasonCode_toString((enum MQTTReasonCodes)rc));
			continue;
		}
		if (rc < m->cfg.sub_qos)
			tw_warn("broker granted only QoS %d for %s (asked for %d): messages sent "
				"while this client is away may be lost", rc, m->subs[i], m->cfg.sub_qos);
		if (used < sizeof(granted))
			used += (size_t)snprintf(granted + used, sizeof(granted) - used, "%s%s",
						 used ? ", " : "", m->subs[i]);
	}
	if (used)
		tw_info("subscribed to %s (QoS %d)", granted, m->cfg.sub_qos);
}

static void mqtt__on_subscribe_failed(void *ctx, MQTTAsync_failureData5 *r)
{
	tw_error("subscribe failed: %s", r->message ? r->message : MQTTAsync_strerror(r->code));
}

static void mqtt__subscribe(struct tw_mqtt *m)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	int n = (int)m->cfg.nsubscriptions, qos[64], rc;

	if (n == 0)
		return;
	for (int i = 0; i < n; i++)
		qos[i] = m->cfg.sub_qos;
	ro.onSuccess5 = mqtt__on_subscribed;
	ro.onFailure5 = mqtt__on_subscribe_failed;
	ro.context = m;
	rc = MQTTAsync_subscribeMany(m->client, n, m->subs, qos, &ro);
	if (rc != MQTTASYNC_SUCCESS)
		tw_error("subscribe failed: %s", MQTTAsync_strerror(rc));
}

/* Marks the connection gone; lock held. Counted once, whichever of Paho's
 * callbacks tells first. */
static void mqtt__gone(struct tw_mqtt *m)
{
	if (m->connected)
		m->stats.connection_lost++;
	m->connected = 0;
	mqtt__signal(m);
}

static int mqtt__gave_up(struct tw_mqtt *m)
{
	return m->taken_over && m->cfg.exclusive;
}

static void mqtt__on_connected(void *ctx, MQTTAsync_successData5 *r)
{
	struct tw_mqtt *m = ctx;

	tw_info("connected to %s as %s (session %s)", m->uri, m->client_id,
		r->alt.connect.sessionPresent ? "resumed" : "new");
	mqtt__subscribe(m);
	pthread_mutex_lock(&m->lock);
	m->connecting = 0;
	m->connected = 1;
	m->stats.connects++;
	mqtt__signal(m);
	pthread_mutex_unlock(&m->lock);
}

static void mqtt__on_connect_failed(void *ctx, MQTTAsync_failureData5 *r)
{
	struct tw_mqtt *m = ctx;

	tw_warn("cannot connect to %s: %s; retrying", m->uri,
		r && r->message ? r->message : MQTTAsync_strerror(r ? r->code : -1));
	pthread_mutex_lock(&m->lock);
	m->connecting = 0;
	mqtt__gone(m);
	pthread_mutex_unlock(&m->lock);
}

static void mqtt__on_lost(void *ctx, char *cause)
{
	struct tw_mqtt *m = ctx;

	pthread_mutex_lock(&m->lock);
	if (!mqtt__gave_up(m))
		tw_warn("connection to %s lost%s%s; reconnecting", m->uri, cause ? ": " : "",
			cause ? cause : "");
	mqtt__gone(m);
	pthread_mutex_unlock(&m->lock);
}

/* The broker closed the connection with a reason (MQTT 5 DISCONNECT).
 * Depending on its version, Paho calls connectionLost after this or not,
 * so the state changes here too. */
static void mqtt__on_server_disconnect(void *ctx, MQTTProperties *props,
				       enum MQTTReasonCodes rc)
{
	struct tw_mqtt *m = ctx;

	(void)props;
	pthread_mutex_lock(&m->lock);
	if (rc == MQTTREASONCODE_SESSION_TAKEN_OVER) {
		m->taken_over = 1;
		tw_error("another client connected to %s with client id %s and took this "
			 "session over%s", m->uri, m->client_id,
			 m->cfg.exclusive ? "; not reconnecting" : "; reconnecting");
	} else {
		tw_warn("broker %s closed the connection: %s; reconnecting", m->uri,
			MQTTReasonCode_toString(rc));
	}
	mqtt__gone(m);
	pthread_mutex_unlock(&m->lock);
}

static int mqtt__on_arrived(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
	struct tw_mqtt *m = ctx;

	(void)topic_len; /* Paho always terminates the topic for MQTT 5 */
	__atomic_add_fetch(&m->stats.received, 1, __ATOMIC_RELAXED);
	if (m->cfg.on_message)
		m->cfg.on_message(m->cfg.ctx, topic, msg->payload, (size_t)msg->payloadlen,
				  msg->qos);
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

static int mqtt__connect(struct tw_mqtt *m)
{
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty expiry = { .identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL };
	int rc;

	co.keepAliveInterval = m->cfg.keepalive > 0 ? m->cfg.keepalive : 30;
	co.cleanstart = !m->cfg.persistent;
	co.connectTimeout = 5;
	co.onSuccess5 = mqtt__on_connected;
	co.onFailure5 = mqtt__on_connect_failed;
	co.context = m;
	if (m->cfg.persistent) {
		expiry.value.integer4 = (unsigned)(m->cfg.session_expiry > 0 ? m->cfg.session_expiry : 3600);
		MQTTProperties_add(&props, &expiry);
		co.connectProperties = &props;
	}
	rc = MQTTAsync_connect(m->client, &co);
	MQTTProperties_free(&props);
	if (rc != MQTTASYNC_SUCCESS)
		tw_warn("cannot start connecting to %s: %s", m->uri, MQTTAsync_strerror(rc));
	return rc == MQTTASYNC_SUCCESS ? TW_OK : TW_ERR_MQTT;
}

static int mqtt__needs_connect(struct tw_mqtt *m)
{
	return m->stopping || (!m->connected && !m->connecting && !mqtt__gave_up(m));
}

static int mqtt__is_stopping(struct tw_mqtt *m)
{
	return m->stopping;
}

/* The connector: one attempt at a time, back-off from 100 ms to 2 s. */
static void *mqtt__thread(void *arg)
{
	struct tw_mqtt *m = arg;
	int backoff = 100;

	pthread_mutex_lock(&m->lock);
	while (!m->stopping) {
		while (!mqtt__needs_connect(m))
			pthread_cond_wait(&m->conn_cond, &m->lock);
		if (m->stopping)
			break;
		if (m->stats.connects > 0 || m->stats.connection_lost > 0 || backoff > 100) {
			if (mqtt__wait_on(m, &m->conn_cond, mqtt__is_stopping, backoff) == TW_OK)
				break;
			backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
		} else {
			backoff = 200;
		}
		m->connecting = 1;
		pthread_mutex_unlock(&m->lock);
		if (mqtt__connect(m) != TW_OK) {
			pthread_mutex_lock(&m->lock);
			m->connecting = 0;
			continue;
		}
		pthread_mutex_lock(&m->lock);
		if (m->connected)
			backoff = 100;
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

static char *mqtt__make_client_id(const struct tw_mqtt_config *cfg)
{
	char buf[128];
	struct timespec ts;

	if (cfg->client_id)
		return strdup(cfg->client_id);
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(buf, sizeof(buf), "%s-%d-%lx", cfg->client_id_prefix ? cfg->client_id_prefix : "telewire",
		 (int)getpid(), (unsigned long)(ts.tv_nsec ^ (ts.tv_sec << 20)) & 0xffffff);
	return strdup(buf);
}

static int mqtt__copy_config(struct tw_mqtt *m, const struct tw_mqtt_config *cfg)
{
	m->cfg = *cfg;
	if (cfg->nsubscriptions > 64)
		return TW_ERR_LIMIT;
	m->uri = strdup(cfg->uri);
	m->client_id = mqtt__make_client_id(cfg);
	m->subs = calloc(cfg->nsubscriptions + 1, sizeof(char *));
	if (!m->uri || !m->client_id || !m->subs)
		return TW_ERR_NOMEM;
	for (size_t i = 0; i < cfg->nsubscriptions; i++)
		if (!(m->subs[i] = strdup(cfg->subscriptions[i])))
			return TW_ERR_NOMEM;
	m->cfg.uri = m->uri;
	m->cfg.client_id = m->client_id;
	m->cfg.subscriptions = (const char *const *)m->subs;
	if (m->cfg.max_pending <= 0)
		m->cfg.max_pending = 1024;
	return TW_OK;
}

static void mqtt__free(struct tw_mqtt *m)
{
	if (m->subs)
		for (size_t i = 0; i < m->cfg.nsubscriptions; i++)
			free(m->subs[i]);
	free(m->subs);
	free(m->uri);
	free(m->client_id);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
	pthread_cond_destroy(&m->conn_cond);
	free(m);
}

int tw_mqtt_start(struct tw_mqtt **out, const struct tw_mqtt_config *cfg)
{
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
	struct tw_mqtt *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return TW_ERR_NOMEM;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	pthread_cond_init(&m->conn_cond, NULL);
	rc = mqtt__copy_config(m, cfg);
	if (rc != TW_OK)
		goto fail;
	/* Paho refuses a publish when maxBufferedMessages (default 100) are
	 * queued inside it, even while connected: our own window is the limit. */
	co.maxBufferedMessages = m->cfg.max_pending + 16;
	rc = MQTTAsync_createWithOptions(&m->client, m->uri, m->client_id,
					 MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		tw_error("cannot create MQTT client for %s: %s", m->uri, MQTTAsync_strerror(rc));
		rc = TW_ERR_MQTT;
		goto fail;
	}
	MQTTAsync_setCallbacks(m->client, m, mqtt__on_lost, mqtt__on_arrived, NULL);
	MQTTAsync_setDisconnected(m->client, m, mqtt__on_server_disconnect);
	if (pthread_create(&m->thread, NULL, mqtt__thread, m) != 0) {
		MQTTAsync_destroy(&m->client);
		rc = TW_ERR_NOMEM;
		goto fail;
	}
	pthread_setname_np(m->thread, "tw-mqtt-conn");
	*out = m;
	return TW_OK;
fail:
	mqtt__free(m);
	return rc;
}

static int mqtt__is_connected(struct tw_mqtt *m) { return m->connected; }
static int mqtt__has_room(struct tw_mqtt *m) { return m->stats.pending < m->cfg.max_pending; }
static int mqtt__is_drained(struct tw_mqtt *m) { return m->stats.pending == 0; }

static int mqtt__wait_locked(struct tw_mqtt *m, int (*pred)(struct tw_mqtt *), int timeout_ms)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = mqtt__wait(m, pred, timeout_ms);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int tw_mqtt_wait_connected(struct tw_mqtt *m, int timeout_ms)
{
	return mqtt__wait_locked(m, mqtt__is_connected, timeout_ms);
}

int tw_mqtt_wait_room(struct tw_mqtt *m, int timeout_ms)
{
	return mqtt__wait_locked(m, mqtt__has_room, timeout_ms);
}

int tw_mqtt_drain(struct tw_mqtt *m, int timeout_ms)
{
	return mqtt__wait_locked(m, mqtt__is_drained, timeout_ms);
}

static void mqtt__done(struct tw_mqtt *m, int ok)
{
	pthread_mutex_lock(&m->lock);
	m->stats.pending--;
	if (ok)
		m->stats.published++;
	else
		m->stats.publish_failed++;
	mqtt__signal_pending(m);
	pthread_mutex_unlock(&m->lock);
}

static void mqtt__on_published(void *ctx, MQTTAsync_successData5 *r)
{
	mqtt__done(ctx, 1);
}

static void mqtt__on_publish_failed(void *ctx, MQTTAsync_failureData5 *r)
{
	mqtt__done(ctx, 0);
}

/* A publish whose sender wants to hear how it ended. */
struct mqtt_tracked {
	struct tw_mqtt *m;
	tw_mqtt_done_fn done;
	void *arg;
};

static void mqtt__on_tracked(void *ctx, int ok)
{
	struct mqtt_tracked *t = ctx;

	mqtt__done(t->m, ok);
	t->done(t->arg, ok ? TW_OK : TW_ERR_MQTT);
	free(t);
}

static void mqtt__on_tracked_ok(void *ctx, MQTTAsync_successData5 *r)
{
	mqtt__on_tracked(ctx, 1);
}

static void mqtt__on_tracked_failed(void *ctx, MQTTAsync_failureData5 *r)
{
	mqtt__on_tracked(ctx, 0);
}

int tw_mqtt_publish_tracked(struct tw_mqtt *m, const char *topic, const void *payload, size_t len,
			    int qos, int retain, tw_mqtt_done_fn done, void *arg)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	struct mqtt_tracked *t = NULL;
	int rc;

	if (done && !(t = malloc(sizeof(*t))))
		return TW_ERR_NOMEM;
	pthread_mutex_lock(&m->lock);
	rc = !m->connected ? TW_ERR_AGAIN : m->stats.pending >= m->cfg.max_pending ? TW_ERR_FULL : TW_OK;
	if (rc == TW_OK)
		m->stats.pending++;
	pthread_mutex_unlock(&m->lock);
	if (rc != TW_OK) {
		free(t);
		return rc;
	}
	msg.payload = (void *)payload;
	msg.payloadlen = (int)len;
	msg.qos = qos;
	msg.retained = retain;
	ro.onSuccess5 = t ? mqtt__on_tracked_ok : mqtt__on_published;
	ro.onFailure5 = t ? mqtt__on_tracked_failed : mqtt__on_publish_failed;
	ro.context = m;
	if (t) {
		*t = (struct mqtt_tracked){ m, done, arg };
		ro.context = t;
	}
	rc = MQTTAsync_sendMessage(m->client, topic, &msg, &ro);
	if (rc == MQTTASYNC_SUCCESS)
		return TW_OK;
	free(t);
	pthread_mutex_lock(&m->lock);
	m->stats.pending--;
	m->stats.publish_failed++;
	mqtt__signal_pending(m);
	pthread_mutex_unlock(&m->lock);
	if (rc == MQTTASYNC_MAX_BUFFERED_MESSAGES)
		return TW_ERR_FULL;
	return rc == MQTTASYNC_DISCONNECTED ? TW_ERR_AGAIN : TW_ERR_MQTT;
}

int tw_mqtt_publish(struct tw_mqtt *m, const char *topic, const void *payload, size_t len,
		    int qos, int retain)
{
	return tw_mqtt_publish_tracked(m, topic, payload, len, qos, retain, NULL, NULL);
}

void tw_mqtt_get_stats(struct tw_mqtt *m, struct tw_mqtt_stats *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->stats;
	out->received = __atomic_load_n(&m->stats.received, __ATOMIC_RELAXED);
	out->connected = m->connected;
	out->taken_over = m->taken_over;
	pthread_mutex_unlock(&m->lock);
}

static void mqtt__on_disconnected(void *ctx, MQTTAsync_successData5 *r)
{
	struct tw_mqtt *m = ctx;

	pthread_mutex_lock(&m->lock);
	m->disconnected_ack = 1;
	mqtt__signal(m);
	pthread_mutex_unlock(&m->lock);
}

static void mqtt__on_disconnect_failed(void *ctx, MQTTAsync_failureData5 *r)
{
	mqtt__on_disconnected(ctx, NULL);
}

static int mqtt__is_disconnected(struct tw_mqtt *m) { return m->disconnected_ack; }

void tw_mqtt_stop(struct tw_mqtt *m, int timeout_ms)
{
	MQTTAsync_disconnectOptions dop = MQTTAsync_disconnectOptions_initializer5;

	if (!m)
		return;
	if (timeout_ms > 0)
		tw_mqtt_drain(m, timeout_ms);
	pthread_mutex_lock(&m->lock);
	m->stopping = 1;
	mqtt__signal(m);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);

	dop.timeout = timeout_ms > 0 ? timeout_ms : 100;
	dop.onSuccess5 = mqtt__on_disconnected;
	dop.onFailure5 = mqtt__on_disconnect_failed;
	dop.context = m;
	if (MQTTAsync_disconnect(m->client, &dop) == MQTTASYNC_SUCCESS)
		mqtt__wait_locked(m, mqtt__is_disconnected, dop.timeout + 1000);
	MQTTAsync_destroy(&m->client);
	mqtt__free(m);
}
