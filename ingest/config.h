/* config.h -- telewire-ingest settings: the option table and the route sections of --config */
#ifndef TELEWIRE_INGEST_CONFIG_H
#define TELEWIRE_INGEST_CONFIG_H

#include "routes.h"

struct ingest_config {
	char *mqtt_uri, *topic, *client_id, *hub, *history, *plugin_dir, *log_level, *listen;
	long long max_payload, max_fields, max_string, max_records, max_future_s;
	long long queue_max, batch_max, batch_bytes, linger_ms, max_pending;
	long long stats_interval_s;
	const char *config_path;	/* --config FILE, or NULL (points into argv) */
};

/* Fills cfg from defaults, --config and flags, and rt from the config's
 * [transform NAME] and [route NAME] sections. Returns TW_OK, TW_ERR_USAGE
 * (help or version printed: exit 0) or TW_ERR_CONFIG after printing why
 * (exit 2). Free with ingest__config_free. */
int ingest__config_parse(struct ingest_config *cfg, struct ingest_routes *rt, int argc,
			 char **argv);
void ingest__config_free(struct ingest_config *cfg);

#endif
