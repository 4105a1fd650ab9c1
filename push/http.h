/* http.h -- the hub's HTTP side on libmicrohttpd: negotiate, WebSocket upgrade, health, static files */
#ifndef TW_PUSH_HTTP_H
#define TW_PUSH_HTTP_H

#include <stddef.h>

struct tw_hub;
struct tw_http;

struct tw_http_config {
	const char *host;	/* listen address */
	int port;
	const char *web_root;	/* static files; must exist */
	unsigned connection_limit;
	size_t request_memory;	/* MHD's pool per connection (see tw_http_start) */
	int rest_via_broker;
	/* /api/negotiate: NULL lets anyone in (the demo); else callers need an
	 * HS256 token signed with this secret, whose sub/nameid and roles the
	 * issued client token carries. */
	const char *negotiate_secret;
	const char *const *anonymous_roles;	/* roles of anonymous client tokens */
	size_t nanonymous_roles;
	const char *client_endpoint;	/* public base URL for clients ("" or NULL: the Host header) */	/* REST sends go over the broker to every hub */
	/* Publishes to the broker (the backplane's connection); any thread. */
	int (*publish)(void *ctx, const char *topic, const void *payload, size_t len);
	void *publish_ctx;
	/* GET /api/history: the SQLite history file, opened read-only at the
	 * first request; NULL or "": not configured (503). */
	const char *history;
};

/* Starts listening. Returns TW_OK or a negative tw_error (logged). */
int tw_http_start(struct tw_http **out, struct tw_hub *h, const struct tw_http_config *cfg);
/* Stops accepting connections (shutdown begins); requests on open ones go on. */
void tw_http_quiesce(struct tw_http *s);
/* Stops the daemon; call after tw_hub_stop. */
void tw_http_stop(struct tw_http *s);

#endif
