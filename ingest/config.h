/* config.h -- telewire-ingest settings: the option table and the route sections of --config */
#ifndef TELEWIRE_INGEST_CONFIG_H
#define TELEWIRE_INGEST_CONFIG_H

#include "routes.h"

#define INGEST_MAX_FILTERS 64	/* topic filters in --topic */

struct ingest_config {
	char *mqtt_uri, *topic, *client_id, *hub, *history, *plugin_dir, *log_level, *listen;
	char *shared_group;		/* "": plain subscriptions */
	char *journal;			/* "": next to the history file */
	long long max_payload, max_fields, max_string, max_records, max_future_s;
	long long queue_max, batch_max, batch_bytes, linger_ms, max_pending;
	long long stats_interval_s, device_level, session_expiry_s;
	long long commit_ms, commit_max, commit_idle_ms, rollup_every_s;
	const char *config_path;	/* --config FILE, or NULL (points into argv) */
	/* Derived from the above once they are checked: */
	char *subscriptions[INGEST_MAX_FILTERS]; /* as subscribed, "$share/G/" included */
	size_t nsubscriptions;
	char client_id_buf[512];	/* the default client id when --client-id is not given */
};

/* Fills cfg from defaults, --config and flags, and rt from the config's
 * [transform NAME] and [route NAME] sections, then checks the topic
 * filters (each must yield a device id, see --device-level) and the share
 * group, and sets the subscriptions and the client id. Returns TW_OK,
 * TW_ERR_USAGE (help or version printed: exit 0) or TW_ERR_CONFIG after
 * printing why (exit 2). Free with ingest__config_free, whatever it
 * returned. */
int ingest__config_parse(struct ingest_config *cfg, struct ingest_routes *rt, int argc,
			 char **argv);
void ingest__config_free(struct ingest_config *cfg);

#endif
