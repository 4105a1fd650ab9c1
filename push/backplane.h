/* backplane.h -- the hub's MQTT subscription to telewire/hub/{hub}/# */
#ifndef TW_PUSH_BACKPLANE_H
#define TW_PUSH_BACKPLANE_H

#include <stddef.h>

struct tw_hub;
struct tw_backplane;

/* Subscribes (non-persistent session) and forwards every message to the
 * hub's loop. Returns TW_OK or a negative tw_error (logged). */
int tw_backplane_start(struct tw_backplane **out, struct tw_hub *h, const char *uri);
/* Publishes payload to topic (QoS 1) on the backplane's connection; never
 * blocks. Returns what tw_mqtt_publish returns (TW_ERR_FULL, TW_ERR_AGAIN
 * when the broker is unreachable). Any thread. */
int tw_backplane_publish(struct tw_backplane *b, const char *topic, const void *payload,
			 size_t len);
/* The same, calling done(arg, rc) on Paho's thread when the broker acknowledged
 * it (TW_OK) or it failed; done is not called unless TW_OK is returned. */
int tw_backplane_publish_tracked(struct tw_backplane *b, const char *topic, const void *payload,
				 size_t len, void (*done)(void *arg, int rc), void *arg);
/* Disconnects; no message reaches the hub after it returns. */
void tw_backplane_stop(struct tw_backplane *b);

#endif
