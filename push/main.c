/* main.c -- telewire-hub: options, start-up, signals and orderly shutdown */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "telewire/error.h"
#include "telewire/log.h"
#include "telewire/opts.h"
#include "auth.h"
#include "connstr.h"
#include "backplane.h"
#include "http.h"
#include "hub.h"
#include "token_cli.h"

#ifndef TW_WEB_DIR
#define TW_WEB_DIR "web"
#endif

#define DEV_ACCESS_KEY "telewire-dev-access-key-change-me-0123456789"

struct hub_opts {
	char *mqtt, *listen, *hub, *web, *access_key, *log_level, *transports;
	char *connection_string, *negotiate_secret, *anonymous_roles;
	char *history;
	long long max_queue, max_queue_kib, backplane_queue, request_memory;
	int rest_via_broker;
	double keepalive_s, client_timeout_s, handshake_timeout_s, poll_timeout_s;
};

static unsigned transport_bits;
static struct tw_connstr connstr;
static char *role_buf;
static const char *roles[32];
static size_t nroles;

static struct hub_opts o = {
	.mqtt = "tcp://127.0.0.1:1883",
	.listen = "127.0.0.1:8080",
	.hub = "telemetry",
	.web = TW_WEB_DIR,
	.access_key = DEV_ACCESS_KEY,
	.log_level = "info",
	.transports = "WebSockets,ServerSentEvents,LongPolling",
	.anonymous_roles = TW_ROLE_JOIN_LEAVE,
	.max_queue = 4096,
	.max_queue_kib = 8192,
	.backplane_queue = 10000,
	.keepalive_s = 15,
	.client_timeout_s = 30,
	.handshake_timeout_s = 15,
	.poll_timeout_s = 90,
	.request_memory = 4096,
};

static const struct tw_opt opt_table[] = {
	{ "mqtt", "mqtt", "uri", TW_OPT_STRING, &o.mqtt, 0, 0, "URI", "MQTT broker (backplane)" },
	{ "listen", "hub", NULL, TW_OPT_STRING, &o.listen, 0, 0, "HOST:PORT", "HTTP address" },
	{ "hub", "hub", NULL, TW_OPT_STRING, &o.hub, 0, 0, "NAME", "hub name served (?hub=)" },
	{ "web", "hub", NULL, TW_OPT_STRING, &o.web, 0, 0, "DIR", "static web files root" },
	{ "access-key", "hub", NULL, TW_OPT_STRING, &o.access_key, 0, 0, "KEY",
	  "key that signs and checks access tokens" },
	{ "connection-string", "hub", NULL, TW_OPT_STRING, &o.connection_string, 0, 0, "CS",
	  "Endpoint=http://HOST:PORT;AccessKey=KEY;Version=1.0; (sets the access key, and "
	  "ClientEndpoint= the public URL handed to clients)" },
	{ "negotiate-secret", "hub", NULL, TW_OPT_STRING, &o.negotiate_secret, 0, 0, "KEY",
	  "POST /api/negotiate requires a caller token signed with this key (HS256); "
	  "unset: anyone may negotiate" },
	{ "anonymous-roles", "hub", NULL, TW_OPT_STRING, &o.anonymous_roles, 0, 0, "LIST",
	  "roles of tokens handed out without a caller token, comma-separated "
	  "(default webpubsub.joinLeaveGroup; add telewire.command to let anyone send commands)" },
	{ "log-level", "hub", NULL, TW_OPT_STRING, &o.log_level, 0, 0, "LEVEL",
	  "debug, info, warn or error" },
	{ "max-queue", "hub", NULL, TW_OPT_INT, &o.max_queue, 1, 1000000, "N",
	  "outbound messages queued per connection before dropping the oldest" },
	{ "max-queue-kib", "hub", NULL, TW_OPT_INT, &o.max_queue_kib, 64, 1048576, "KIB",
	  "outbound bytes queued per connection" },
	{ "backplane-queue", "hub", NULL, TW_OPT_INT, &o.backplane_queue, 1, 10000000, "N",
	  "MQTT messages waiting for the hub loop before dropping" },
	{ "transports", "hub", NULL, TW_OPT_STRING, &o.transports, 0, 0, "LIST",
	  "transports offered, comma-separated: WebSockets, ServerSentEvents, LongPolling" },
	{ "poll-timeout", "hub", NULL, TW_OPT_DOUBLE, &o.poll_timeout_s, 0.1, 3600, "SECONDS",
	  "a long poll with nothing to deliver answers empty after this" },
	{ "rest-via-broker", "hub", NULL, TW_OPT_BOOL, &o.rest_via_broker, 0, 0, NULL,
	  "REST API sends and membership changes go over the broker to every hub" },
	{ "keepalive", "hub", NULL, TW_OPT_DOUBLE, &o.keepalive_s, 0.1, 3600, "SECONDS",
	  "ping interval" },
	{ "client-timeout", "hub", NULL, TW_OPT_DOUBLE, &o.client_timeout_s, 0.2, 86400, "SECONDS",
	  "close a connection silent this long" },
	{ "handshake-timeout", "hub", NULL, TW_OPT_DOUBLE, &o.handshake_timeout_s, 0.1, 3600,
	  "SECONDS", "time allowed for the hub protocol handshake" },
	{ "history", "hub", NULL, TW_OPT_STRING, &o.history, 0, 0, "FILE",
	  "SQLite history file (ingest's --history) served read-only at GET /api/history" },
	{ "request-memory", "hub", NULL, TW_OPT_INT, &o.request_memory, 2048, 1048576, "BYTES",
	  "memory per HTTP connection for the request line and headers, kept while a WebSocket is open" },
};

static const struct tw_opts_spec opt_spec = {
	.program = "telewire-hub",
	.summary = "self-hosted SignalR-compatible push hub fed by MQTT",
	.opts = opt_table,
	.nopts = sizeof(opt_table) / sizeof(opt_table[0]),
};

/* Hub names appear in URLs and MQTT topics: keep them plain. */
static int main__hub_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return 0;
	return 1;
}

/* "WebSockets,ServerSentEvents,LongPolling" (any case, or ws, sse, lp) to bits; 0 if bad. */
static unsigned main__transports(const char *list)
{
	static const struct { const char *name, *alias; unsigned bit; } names[] = {
		{ "WebSockets", "ws", HUB_WS },
		{ "ServerSentEvents", "sse", HUB_SSE },
		{ "LongPolling", "lp", HUB_LP },
	};
	unsigned bits = 0;

	while (*list) {
		size_t n = strcspn(list, ", ");
		unsigned bit = 0;

		for (size_t i = 0; n && i < sizeof(names) / sizeof(names[0]); i++)
			if ((strlen(names[i].name) == n && strncasecmp(list, names[i].name, n) == 0) ||
			    (strlen(names[i].alias) == n && strncasecmp(list, names[i].alias, n) == 0))
				bit = names[i].bit;
		if (n && !bit)
			return 0;
		bits |= bit;
		list += n;
		list += strspn(list, ", ");
	}
	return bits;
}

/* Splits the anonymous role list (kept for the process' life). */
static void main__roles(void)
{
	role_buf = strdup(o.anonymous_roles);
	for (char *p = role_buf; p && *p && nroles < sizeof(roles) / sizeof(roles[0]);) {
		size_t len = strcspn(p, ", ");

		if (len)
			roles[nroles++] = p;
		p += len;
		while (*p == ',' || *p == ' ')
			*p++ = '\0';
	}
}

static int main__check_connstr(void)
{
	char err[200];

	if (!o.connection_string)
		return 0;
	if (tw_connstr_parse(o.connection_string, &connstr, err, sizeof(err)) != TW_OK) {
		fprintf(stderr, "telewire-hub: --connection-string: %s\n", err);
		return -1;
	}
	o.access_key = connstr.access_key;
	return 0;
}

static int main__check(int *level, char *host, size_t hostlen, int *port)
{
	if (main__check_connstr() != 0)
		return -1;
	if (o.negotiate_secret && !*o.negotiate_secret) {
		fprintf(stderr, "telewire-hub: --negotiate-secret must not be empty\n");
		return -1;
	}
	main__roles();
	transport_bits = main__transports(o.transports);
	if (!transport_bits) {
		fprintf(stderr, "telewire-hub: --transports: expected a comma-separated list of "
				"WebSockets, ServerSentEvents, LongPolling, got \"%s\"\n", o.transports);
		return -1;
	}
	*level = tw_log_level_parse(o.log_level);
	if (*level < 0) {
		fprintf(stderr, "telewire-hub: --log-level: expected debug, info, warn or error, got \"%s\"\n",
			o.log_level);
		return -1;
	}
	if (tw_parse_hostport(o.listen, host, hostlen, port) != TW_OK || *port <= 0) {
		fprintf(stderr, "telewire-hub: --listen: expected HOST:PORT, got \"%s\"\n", o.listen);
		return -1;
	}
	if (!main__hub_name_ok(o.hub)) {
		fprintf(stderr, "telewire-hub: --hub: use 1-128 of A-Z a-z 0-9 _ - ., got \"%s\"\n", o.hub);
		return -1;
	}
	if (!*o.access_key) {
		fprintf(stderr, "telewire-hub: --access-key must not be empty\n");
		return -1;
	}
	return 0;
}

/* More sockets than the default 1024: every WebSocket holds one. */
static unsigned main__raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1000;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = old;
	}
	return rl.rlim_cur > 1128 ? (unsigned)(rl.rlim_cur - 128) : 1000;
}

static void main__config(struct tw_hub_config *cfg)
{
	cfg->name = o.hub;
	cfg->access_key = o.access_key;
	cfg->max_queue = o.max_queue;
	cfg->max_queue_bytes = o.max_queue_kib * 1024;
	cfg->keepalive_ms = (long long)(o.keepalive_s * 1000);
	cfg->client_timeout_ms = (long long)(o.client_timeout_s * 1000);
	cfg->handshake_timeout_ms = (long long)(o.handshake_timeout_s * 1000);
	cfg->token_ttl_ms = 60000;
	cfg->backplane_queue = o.backplane_queue;
	cfg->max_record = TW_HUBPROTO_MAX_RECORD;
	cfg->transports = transport_bits;
	cfg->poll_timeout_ms = (long long)(o.poll_timeout_s * 1000);
}

static int main__wait_signal(void)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigwait(&set, &sig);
	return sig;
}

static int main__publish(void *ctx, const char *topic, const void *payload, size_t len)
{
	return tw_backplane_publish(ctx, topic, payload, len);
}

/* The backplane does not exist when the hub is created: reach it through a box. */
static struct tw_backplane *main_bp;

static int main__publish_tracked(void *ctx, const char *topic, const void *payload, size_t len,
				 void (*done)(void *arg, int rc), void *arg)
{
	return main_bp ? tw_backplane_publish_tracked(main_bp, topic, payload, len, done, arg)
		       : TW_ERR_AGAIN;
}

static int main__run(const char *host, int port)
{
	struct tw_hub_config cfg = { 0 };
	struct tw_http_config hcfg = { .host = host, .port = port, .web_root = o.web,
				       .connection_limit = main__raise_nofile() };
	struct tw_hub *hub = NULL;
	struct tw_http *http = NULL;
	struct tw_backplane *bp = NULL;
	int sig;

	main__config(&cfg);
	cfg.publish = main__publish_tracked;
	hcfg.rest_via_broker = o.rest_via_broker;
	hcfg.request_memory = (size_t)o.request_memory;
	hcfg.negotiate_secret = o.negotiate_secret;
	hcfg.anonymous_roles = roles;
	hcfg.nanonymous_roles = nroles;
	hcfg.client_endpoint = connstr.client_endpoint;
	hcfg.publish = main__publish;
	hcfg.history = o.history;
	if (tw_hub_create(&hub, &cfg) != TW_OK || tw_hub_start(hub) != TW_OK ||
	    tw_backplane_start(&bp, hub, o.mqtt) != TW_OK ||
	    (hcfg.publish_ctx = main_bp = bp, tw_http_start(&http, hub, &hcfg)) != TW_OK) {
		tw_hub_stop(hub);
		tw_http_stop(http);
		tw_backplane_stop(bp);
		tw_hub_destroy(hub);
		return 1;
	}
	tw_info("listening on http://%s:%d (hub %s, web %s)", host, port, o.hub, o.web);
	sig = main__wait_signal();
	tw_info("%s received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	/* The loop first (clients get their Close), then HTTP, then the broker
	 * connection: the hub stays allocated until nothing can call into it. */
	tw_http_quiesce(http);
	tw_hub_stop(hub);
	tw_http_stop(http);
	tw_backplane_stop(bp);
	tw_hub_destroy(hub);
	tw_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	char host[256];
	int port, level, rc;
	sigset_t set;

	if (argc > 1 && strcmp(argv[1], "token") == 0)
		return tw_hub_token_main(argc - 1, argv + 1);
	rc = tw_opts_parse(&opt_spec, argc, argv);
	if (rc != TW_OK) {
		tw_opts_free(&opt_spec);
		return rc == TW_ERR_USAGE ? 0 : 2;
	}
	if (main__check(&level, host, sizeof(host), &port) != 0) {
		tw_opts_free(&opt_spec);
		return 2;
	}
	tw_log_init("hub", (enum tw_log_level)level);
	if (strcmp(o.access_key, DEV_ACCESS_KEY) == 0)
		tw_warn("using the built-in development access key: set --access-key for anything but development");
	/* Signals go to sigwait in main; every thread started later inherits the mask. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	rc = main__run(host, port);
	tw_opts_free(&opt_spec);
	return rc;
}
