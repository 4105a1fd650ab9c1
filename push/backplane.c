/* backplane.c -- MQTT side of the hub: messages arrive on Paho's thread and go to the hub loop's inbox */
#include <stdio.h>
#include <stdlib.h>

#include "telewire/error.h"
#include "telewire/log.h"
#include "telewire/mqtt.h"
#include "backplane.h"
#include "hub.h"

struct tw_backplane {
	struct tw_hub *hub;
	struct tw_mqtt *mqtt;
	char topic[300];
};

/* Paho's thread: copy and hand over, never block. */
static void backplane__on_message(void *ctx, const char *topic, const void *payload, size_t len,
				  int qos)
{
	struct tw_backplane *b = ctx;
	int rc = tw_hub_post(b->hub, payload, len);

	if (rc == TW_ERR_LIMIT)
		tw_warn("backplane: message on %s is %zu bytes: too big, dropped", topic, len);
}

int tw_backplane_start(struct tw_backplane **out, struct tw_hub *h, const char *uri)
{
	struct tw_backplane *b = calloc(1, sizeof(*b));
	const char *subs[1];
	struct tw_mqtt_config cfg = { 0 };
	int rc;

	*out = NULL;
	if (!b)
		return TW_ERR_NOMEM;
	b->hub = h;
	snprintf(b->topic, sizeof(b->topic), "telewire/hub/%s/#", h->cfg.name);
	subs[0] = b->topic;
	cfg.uri = uri;
	cfg.client_id_prefix = "telewire-hub";
	cfg.persistent = 0;
	cfg.subscriptions = subs;
	cfg.nsubscriptions = 1;
	cfg.sub_qos = 1;
	cfg.on_message = backplane__on_message;
	cfg.ctx = b;
	rc = tw_mqtt_start(&b->mqtt, &cfg);
	if (rc != TW_OK) {
		free(b);
		return rc;
	}
	tw_info("backplane: subscribing to %s at %s", b->topic, uri);
	*out = b;
	return TW_OK;
}

int tw_backplane_publish(struct tw_backplane *b, const char *topic, const void *payload,
			 size_t len)
{
	return tw_mqtt_publish(b->mqtt, topic, payload, len, 1, 0);
}

int tw_backplane_publish_tracked(struct tw_backplane *b, const char *topic, const void *payload,
				 size_t len, void (*done)(void *arg, int rc), void *arg)
{
	return tw_mqtt_publish_tracked(b->mqtt, topic, payload, len, 1, 0, done, arg);
}

void tw_backplane_stop(struct tw_backplane *b)
{
	if (!b)
		return;
	tw_mqtt_stop(b->mqtt, 1000);
	free(b);
}
