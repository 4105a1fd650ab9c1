/* config.c -- telewire-ingest's option table, and its [transform]/[route] config sections */
#include <ini.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "telewire/error.h"
#include "telewire/opts.h"

#ifndef TW_PLUGIN_DIR
#define TW_PLUGIN_DIR "."
#endif

#define PROGRAM "telewire-ingest"

static void config__defaults(struct ingest_config *c)
{
	*c = (struct ingest_config){
		.mqtt_uri = "tcp://127.0.0.1:1883", .topic = "devices/+/telemetry",
		.client_id = "telewire-ingest", .hub = "telemetry", .history = "", .listen = "",
		.plugin_dir = TW_PLUGIN_DIR, .log_level = "info",
		.max_payload = 65536, .max_fields = 64, .max_string = 256, .max_records = 1000,
		.max_future_s = 300, .queue_max = 10000, .batch_max = 64, .batch_bytes = 32768,
		.linger_ms = 2, .max_pending = 1024, .stats_interval_s = 10,
	};
}

#define OPT_S(flag, sec, key, dst, meta, help) \
	{ flag, sec, key, TW_OPT_STRING, dst, 0, 0, meta, help }
#define OPT_I(flag, dst, lo, hi, meta, help) \
	{ flag, "ingest", NULL, TW_OPT_INT, dst, lo, hi, meta, help }

static struct tw_opt config__opts[24];
static size_t config__nopts;

static void config__table(struct ingest_config *c)
{
	const struct tw_opt t[] = {
		OPT_S("mqtt", "mqtt", "uri", &c->mqtt_uri, "URI", "MQTT broker (default tcp://127.0.0.1:1883)"),
		OPT_S("topic", "ingest", NULL, &c->topic, "FILTER", "telemetry topic filter (default devices/+/telemetry)"),
		OPT_S("client-id", "ingest", NULL, &c->client_id, "ID", "MQTT client id of the persistent session (default telewire-ingest)"),
		OPT_S("hub", "ingest", NULL, &c->hub, "NAME", "results go to telewire/hub/NAME/results (default telemetry)"),
		OPT_S("history", "ingest", NULL, &c->history, "FILE", "SQLite history file (default: history off)"),
		OPT_S("plugin-dir", "ingest", NULL, &c->plugin_dir, "DIR", "where plugins are found by name (default: the build's)"),
		OPT_S("log-level", "log", "level", &c->log_level, "LEVEL", "debug, info, warn or error (default info)"),
		OPT_I("max-payload", &c->max_payload, 2, 268435456, "BYTES", "largest payload (default 65536)"),
		OPT_I("max-fields", &c->max_fields, 1, 100000, "N", "most values per record (default 64)"),
		OPT_I("max-string", &c->max_string, 1, 1048576, "BYTES", "longest string value (default 256)"),
		OPT_I("max-records", &c->max_records, 1, 1000000, "N", "most records per message (default 1000)"),
		OPT_I("max-future", &c->max_future_s, 1, 315360000, "S", "how far ts may be ahead of now (default 300)"),
		OPT_I("queue-max", &c->queue_max, 1, 10000000, "N", "results waiting to be published; oldest dropped past it (default 10000)"),
		OPT_I("batch-max", &c->batch_max, 1, 100000, "N", "results per published batch (default 64)"),
		OPT_I("batch-bytes", &c->batch_bytes, 64, 268435456, "BYTES", "bytes per published batch (default 32768)"),
		OPT_I("linger-ms", &c->linger_ms, 0, 10000, "MS", "longest wait to fill a batch (default 2)"),
		OPT_I("max-pending", &c->max_pending, 1, 1000000, "N", "unacknowledged publishes (default 1024)"),
		OPT_S("listen", "ingest", NULL, &c->listen, "HOST:PORT", "metrics listener: GET /metrics in Prometheus text format (default: off)"),
		OPT_I("stats-interval", &c->stats_interval_s, 0, 86400, "S", "seconds between summary lines; 0: off (default 10)"),
	};

	config__nopts = sizeof(t) / sizeof(t[0]);
	memcpy(config__opts, t, sizeof(t));
}

static const struct tw_opts_spec config__spec = {
	PROGRAM, "Decodes MQTT telemetry, runs transform plugins, stores history and "
	"publishes results to hubs.", config__opts, 0, NULL, NULL, NULL,
};

struct config__ini {
	const char *path;
	struct ingest_routes *rt;
	int failed;
};

/* inih handler for the sections opts.h leaves to us. */
static int config__section(void *user, const char *section, const char *name,
			   const char *value)
{
	struct config__ini *st = user;
	char err[512] = "";
	int rc;

	if (strncmp(section, "transform ", 10) != 0 && strncmp(section, "route ", 6) != 0)
		return 1;
	rc = ingest__routes_section(st->rt, section, name, value, err, sizeof(err));
	if (rc != TW_OK) {
		fprintf(stderr, "%s: %s: [%s] %s: %s\n", PROGRAM, st->path, section, name,
			err[0] ? err : tw_strerror(rc));
		st->failed = 1;
	}
	return 1;
}

/* opts.h takes one section prefix; ingest has two ("transform ", "route "),
 * so those sections are read here, in a pass of their own. */
static int config__sections(int argc, char **argv, struct ingest_config *cfg,
			    struct ingest_routes *rt)
{
	struct config__ini st = { NULL, rt, 0 };

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			st.path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			st.path = argv[i] + 9;
	}
	cfg->config_path = st.path;
	/* A missing or unreadable file is reported by tw_opts_parse. */
	if (!st.path || ini_parse(st.path, config__section, &st) < 0)
		return TW_OK;
	return st.failed ? TW_ERR_CONFIG : TW_OK;
}

int ingest__config_parse(struct ingest_config *cfg, struct ingest_routes *rt, int argc,
			 char **argv)
{
	struct tw_opts_spec spec = config__spec;
	int rc;

	config__defaults(cfg);
	config__table(cfg);
	spec.nopts = config__nopts;
	rc = tw_opts_parse(&spec, argc, argv);
	if (rc == TW_OK)
		rc = config__sections(argc, argv, cfg, rt);
	return rc;
}

void ingest__config_free(struct ingest_config *cfg)
{
	struct tw_opts_spec spec = config__spec;

	spec.nopts = config__nopts;
	tw_opts_free(&spec);
	(void)cfg;
}
