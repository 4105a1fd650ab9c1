/* backplane.h -- the hub's MQTT subscription to telewire/hub/{hub}/# */
#ifndef TW_PUSH_BACKPLANE_H
#define TW_PUSH_BACKPLANE_H

struct tw_hub;
struct tw_backplane;

/* Subscribes (non-persistent session) and forwards every message to the
 * hub's loop. Returns TW_OK or a negative tw_error (logged). */
int tw_backplane_start(struct tw_backplane **out, struct tw_hub *h, const char *uri);
/* Disconnects; no message reaches the hub after it returns. */
void tw_backplane_stop(struct tw_backplane *b);

#endif
