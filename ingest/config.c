/* config.c -- telewire-ingest's option table, and its [transform]/[route] config sections */
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
		.client_id = "", .hub = "telemetry", .history = "", .listen = "",
		.plugin_dir = TW_PLUGIN_DIR, .log_level = "info", .shared_group = "",
		.max_payload = 65536, .max_fields = 64, .max_string = 256, .max_records = 1000,
		.max_future_s = 300, .queue_max = 10000, .batch_max = 256, .batch_bytes = 65536,
		.linger_ms = 2, .max_pending = 1024, .stats_interval_s = 10,
		.device_level = 0, .session_expiry_s = 3600,
		.journal = "", .commit_ms = 500, .commit_max = 100000, .commit_idle_ms = 50, .rollup_every_s = 60,
	};
}

#define OPT_S(flag, sec, key, dst, meta, help) \
	{ flag, sec, key, TW_OPT_STRING, dst, 0, 0, meta, help }
#define OPT_I(flag, dst, lo, hi, meta, help) \
	{ flag, "ingest", NULL, TW_OPT_INT, dst, lo, hi, meta, help }

static struct tw_opt config__opts[32];
static size_t config__nopts;

static void config__table(struct ingest_config *c)
{
	const struct tw_opt t[] = {
		OPT_S("mqtt", "mqtt", "uri", &c->mqtt_uri, "URI", "MQTT broker (default tcp://127.0.0.1:1883)"),
		OPT_S("topic", "ingest", NULL, &c->topic, "FILTERS", "telemetry topic filters, comma-separated (default devices/+/telemetry)"),
		OPT_I("device-level", &c->device_level, 0, 1000, "N", "device id: topic level N (1: the first); 0: the level after \"devices/\" (default 0)"),
		OPT_S("shared-group", "ingest", NULL, &c->shared_group, "NAME", "subscribe as $share/NAME/FILTER: the workers of a group split the messages (default: off)"),
		OPT_S("client-id", "ingest", NULL, &c->client_id, "ID", "MQTT client id of the persistent session (default telewire-ingest; with --shared-group telewire-ingest-NAME-HOSTNAME)"),
		OPT_I("session-expiry", &c->session_expiry_s, 1, 2147483647, "S", "seconds the broker keeps the session while ingest is away (default 3600)"),
		OPT_S("hub", "ingest", NULL, &c->hub, "NAME", "results go to telewire/hub/NAME/results (default telemetry)"),
		OPT_S("history", "ingest", NULL, &c->history, "FILE", "SQLite history file (default: history off)"),
		OPT_I("commit-ms", &c->commit_ms, 0, 60000, "MS", "longest a stored message waits for its history commit; 0: a commit per message (default 500)"),
		OPT_I("commit-max", &c->commit_max, 1, 10000000, "N", "messages per history commit at most (default 100000)"),
		OPT_I("commit-idle-ms", &c->commit_idle_ms, 0, 60000, "MS", "commit as soon as no message came for this long (checked every 50 ms); 0: only at --commit-ms or --commit-max (default 50)"),
		OPT_I("rollup-every", &c->rollup_every_s, 0, 86400, "S", "seconds between passes that bring history's rollups up to date, a little after each commit; 0: off (default 60)"),
		OPT_S("journal", "ingest", NULL, &c->journal, "FILE", "where messages wait for their history commit (default HISTORY.CLIENT-ID.journal)"),
		OPT_S("plugin-dir", "ingest", NULL, &c->plugin_dir, "DIR", "where plugins are found by name (default: the build's)"),
		OPT_S("log-level", "log", "level", &c->log_level, "LEVEL", "debug, info, warn or error (default info)"),
		OPT_I("max-payload", &c->max_payload, 2, 268435456, "BYTES", "largest payload (default 65536)"),
		OPT_I("max-fields", &c->max_fields, 1, 100000, "N", "most values per record (default 64)"),
		OPT_I("max-string", &c->max_string, 1, 1048576, "BYTES", "longest string value (default 256)"),
		OPT_I("max-records", &c->max_records, 1, 1000000, "N", "most records per message (default 1000)"),
		OPT_I("max-future", &c->max_future_s, 1, 315360000, "S", "how far ts may be ahead of now (default 300)"),
		OPT_I("queue-max", &c->queue_max, 1, 10000000, "N", "results waiting to be published; oldest dropped past it (default 10000)"),
		OPT_I("batch-max", &c->batch_max, 1, 100000, "N", "results per published batch (default 256)"),
		OPT_I("batch-bytes", &c->batch_bytes, 64, 268435456, "BYTES", "bytes per published batch (default 65536)"),
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

static int config__fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", PROGRAM);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return TW_ERR_CONFIG;
}

/* Level i (1: the first) of filter f: its start and length; 0 past the end. */
static int config__level(const char *f, long long i, const char **start, size_t *len)
{
	const char *p = f, *slash;

	for (long long k = 1; k < i; k++) {
		if (!(slash = strchr(p, '/')))
			return 0;
		p = slash + 1;
	}
	slash = strchr(p, '/');
	*start = p;
	*len = slash ? (size_t)(slash - p) : strlen(p);
	return 1;
}

static int config__level_is(const char *start, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(start, word, len) == 0;
}

/* Wildcards as MQTT 5 (4.7.1) allows them: '+' a whole level, '#' the last one. */
static int config__check_syntax(const char *f)
{
	if (!*f)
		return config__fail("--topic: empty topic filter in the list");
	if (strlen(f) > 65535)
		return config__fail("--topic: a topic filter of %zu bytes; MQTT's limit is 65535",
				    strlen(f));
	if (strncmp(f, "$share/", 7) == 0)
		return config__fail("--topic \"%s\": give the share group with --shared-group "
				    "and the filter alone in --topic", f);
	for (const char *p = f; *p; p++) {
		int whole = (p == f || p[-1] == '/') && (p[1] == '\0' || p[1] == '/');

		if (*p == '+' && !whole)
			return config__fail("--topic \"%s\": '+' must stand alone in its level", f);
		if (*p == '#' && !(whole && p[1] == '\0'))
			return config__fail("--topic \"%s\": '#' must be the last level, alone", f);
	}
	return TW_OK;
}

/* Every topic the filter matches must have the level the device id comes from. */
static int config__check_device(const char *f, long long level)
{
	const char *lv;
	size_t len;

	if (level > 0) {
		for (long long i = 1; i <= level; i++) {
			if (!config__level(f, i, &lv, &len))
				return config__fail("--topic \"%s\" has %lld level(s), but "
						    "--device-level %lld takes the device id from level "
						    "%lld", f, i - 1, level, level);
			if (config__level_is(lv, len, "#"))
				return config__fail("--topic \"%s\": '#' at level %lld also matches "
						    "topics without level %lld, where --device-level "
						    "takes the device id from", f, i, level);
		}
		return TW_OK;
	}
	for (long long i = 1; config__level(f, i, &lv, &len); i++) {
		if (config__level_is(lv, len, "#"))
			break;
		if (!config__level_is(lv, len, "devices"))
			continue;
		if (!config__level(f, i + 1, &lv, &len))
			return config__fail("--topic \"%s\": no level follows \"devices\", where the "
					    "device id is taken from; set --device-level N to take "
					    "level N instead", f);
		if (config__level_is(lv, len, "#"))
			return config__fail("--topic \"%s\": '#' after \"devices\" also matches the "
					    "topic \"devices\" alone, without a device id; use '+'", f);
		return TW_OK;
	}
	return config__fail("--topic \"%s\": its topics have no level \"devices\" to take the "
			    "device id from (the level after it); set --device-level N to take "
			    "level N instead", f);
}

/* One filter of --topic, checked and stored as it is subscribed. */
static int config__add_filter(struct ingest_config *c, const char *f)
{
	const char *g = c->shared_group;
	size_t n = strlen(f) + (*g ? strlen(g) + 8 : 0) + 1;
	char *sub;
	int rc = config__check_syntax(f);

	if (rc == TW_OK)
		rc = config__check_device(f, c->device_level);
	if (rc != TW_OK)
		return rc;
	if (c->nsubscriptions == INGEST_MAX_FILTERS)
		return config__fail("--topic: more than %d topic filters", INGEST_MAX_FILTERS);
	if (!(sub = malloc(n)))
		return config__fail("out of memory");
	if (*g)
		snprintf(sub, n, "$share/%s/%s", g, f);
	else
		snprintf(sub, n, "%s", f);
	for (size_t i = 0; i < c->nsubscriptions; i++) {
		if (strcmp(c->subscriptions[i], sub) == 0) {
			free(sub);
			return config__fail("--topic: \"%s\" is given twice", f);
		}
	}
	c->subscriptions[c->nsubscriptions++] = sub;
	return TW_OK;
}

/* Splits --topic at commas; blanks around each filter are dropped. */
static int config__filters(struct ingest_config *c)
{
	const char *p = c->topic;
	char f[65536 + 1];
	int rc = TW_OK;

	while (rc == TW_OK) {
		const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - p) >= sizeof(f))
			return config__fail("--topic: a topic filter of %zu bytes; MQTT's limit is "
					    "65535", (size_t)(end - p));
		memcpy(f, p, (size_t)(end - p));
		f[end - p] = '\0';
		rc = config__add_filter(c, f);
		if (!comma)
			break;
		p = comma + 1;
	}
	return rc;
}

/* The share group must be one topic level without wildcards (MQTT 5, 4.8.2);
 * the client id defaults to one per group and host. */
static int config__session(struct ingest_config *c)
{
	const char *g = c->shared_group;
	char host[256] = "";

	if (*g && strpbrk(g, "/+#"))
		return config__fail("--shared-group \"%s\": a share name must not contain '/', '+' "
				    "or '#'", g);
	if (*g && strlen(g) > 128)
		return config__fail("--shared-group: a share name of %zu bytes; the limit is 128",
				    strlen(g));
	if (*c->client_id)
		return TW_OK;
	if (*g && (gethostname(host, sizeof(host) - 1) != 0 || !*host))
		snprintf(host, sizeof(host), "localhost");
	if (*g)
		snprintf(c->client_id_buf, sizeof(c->client_id_buf), "telewire-ingest-%s-%s", g, host);
	else
		snprintf(c->client_id_buf, sizeof(c->client_id_buf), "telewire-ingest");
	c->client_id = c->client_id_buf;
	return TW_OK;
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
		rc = config__session(cfg);
	if (rc == TW_OK)
		rc = config__filters(cfg);
	if (rc == TW_OK)
		rc = config__sections(argc, argv, cfg, rt);
	return rc;
}

void ingest__config_free(struct ingest_config *cfg)
{
	struct tw_opts_spec spec = config__spec;

	spec.nopts = config__nopts;
	tw_opts_free(&spec);
	for (size_t i = 0; i < cfg->nsubscriptions; i++)
		free(cfg->subscriptions[i]);
	cfg->nsubscriptions = 0;
}
