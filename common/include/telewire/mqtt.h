/* mqtt.h -- one MQTT 5 connection over Paho MQTTAsync, reconnecting by itself
 *
 * Threads: Paho calls on_message on its own receive thread, which all
 * clients of the process share. on_message must not block for long and must
 * not call tw_mqtt_destroy. Paho acknowledges a QoS 1 message as soon as
 * on_message returns, so work that must survive a crash is done before
 * returning.
 */
#ifndef TELEWIRE_MQTT_H
#define TELEWIRE_MQTT_H

#include <stddef.h>

struct tw_mqtt;

typedef void (*tw_mqtt_message_fn)(void *ctx, const char *topic,
				   const void *payload, size_t len, int qos);

struct tw_mqtt_config {
	const char *uri;		/* "tcp://127.0.0.1:1883" */
	const char *client_id;		/* NULL: "<prefix>-<pid>-<random>" */
	const char *client_id_prefix;	/* used when client_id is NULL */
	int persistent;			/* 1: clean start off, session kept */
	int session_expiry;		/* seconds the broker keeps the session */
	int keepalive;			/* seconds; 0: 30 */
	const char *const *subscriptions; /* topic filters, subscribed on every connect */
	size_t nsubscriptions;
	int sub_qos;
	tw_mqtt_message_fn on_message;	/* NULL: no subscriptions expected */
	void *ctx;
	int max_pending;		/* publishes not yet acknowledged; 0: 1024 */
	int exclusive;			/* 1: when another client takes the session over
					 * (same client id), stop reconnecting and set
					 * taken_over in the stats; the owner decides */
};

/* Creates the client and starts connecting; returns at once. The
 * connection is retried forever with back-off, and subscriptions are
 * renewed on every connect. Returns TW_OK or a negative tw_error (the
 * reason is logged). */
int tw_mqtt_start(struct tw_mqtt **out, const struct tw_mqtt_config *cfg);

/* Waits until connected, up to timeout_ms. Returns TW_OK or TW_ERR_AGAIN.
 * Not for use inside on_message. */
int tw_mqtt_wait_connected(struct tw_mqtt *m, int timeout_ms);

/* Queues one publish; never blocks. Returns TW_OK, TW_ERR_FULL when
 * max_pending publishes are not acknowledged yet (the caller decides:
 * wait with tw_mqtt_wait_room, or drop and count), TW_ERR_AGAIN when
 * disconnected, or TW_ERR_MQTT. */
int tw_mqtt_publish(struct tw_mqtt *m, const char *topic,
		    const void *payload, size_t len, int qos, int retain);

/* How a tracked publish ended: TW_OK when the broker acknowledged it (QoS
 * 1) or it was written (QoS 0), TW_ERR_MQTT when it failed. Called once, on
 * Paho's thread; must not block. */
typedef void (*tw_mqtt_done_fn)(void *arg, int rc);

/* tw_mqtt_publish that calls done(arg, rc) when the publish ends. When it
 * returns anything but TW_OK, done is never called. */
int tw_mqtt_publish_tracked(struct tw_mqtt *m, const char *topic, const void *payload, size_t len,
			    int qos, int retain, tw_mqtt_done_fn done, void *arg);

/* Waits until fewer than max_pending publishes are unacknowledged, up to
 * timeout_ms. Returns TW_OK or TW_ERR_AGAIN. Not for use inside on_message. */
int tw_mqtt_wait_room(struct tw_mqtt *m, int timeout_ms);

/* Waits until every queued publish is acknowledged, up to timeout_ms. */
int tw_mqtt_drain(struct tw_mqtt *m, int timeout_ms);

struct tw_mqtt_stats {
	unsigned long long published, publish_failed, received;
	unsigned long long connects, connection_lost;
	int pending, connected;
	int taken_over;		/* the broker handed our session to another client */
};
void tw_mqtt_get_stats(struct tw_mqtt *m, struct tw_mqtt_stats *out);

/* Disconnects (waiting up to timeout_ms for pending publishes) and frees. */
void tw_mqtt_stop(struct tw_mqtt *m, int timeout_ms);

#endif
