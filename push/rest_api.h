/* rest_api.h -- Azure SignalR Service data-plane REST API v1 (/api/v1/hubs/...): sends and group membership; no HTTP library
 *
 * http.c hands over a parsed request and queues the response this module
 * fills. Sends and membership changes become backplane envelopes
 * (docs/protocol.md), delivered by this hub directly or, with via_broker,
 * published to telewire/hub/{hub}/rest so that every hub on the broker
 * applies them.
 */
#ifndef TW_PUSH_REST_API_H
#define TW_PUSH_REST_API_H

#include <jansson.h>
#include <stddef.h>

struct tw_hub;

#define TW_REST_MAX_BODY (1024u * 1024)	/* larger bodies get 413 */

/* Publishes one payload to an MQTT topic; returns a tw_error code. Any thread. */
typedef int (*tw_rest_publish_fn)(void *ctx, const char *topic, const void *payload, size_t len);

struct tw_rest_config {
	struct tw_hub *hub;
	const char *access_key;		/* HS256 key for the callers' tokens */
	int via_broker;			/* 1: publish envelopes instead of delivering locally */
	tw_rest_publish_fn publish;	/* used when via_broker */
	void *publish_ctx;
};

struct tw_rest_request {
	const char *method;		/* "GET", "POST", "PUT", "DELETE", "HEAD" */
	const char *path;		/* URL path without the query, e.g. "/api/v1/hubs/telemetry" */
	/* Looks up a query parameter (URL-decoded) by name; NULL when absent. */
	const char *(*arg)(void *arg_ctx, const char *name);
	void *arg_ctx;
	const char *authorization;	/* Authorization header value, or NULL */
	const char *base_url;		/* "http://host:port" as the caller reached the hub */
	const char *body;		/* request body (not NUL-terminated), or NULL */
	size_t body_len;
	int body_too_big;		/* the body went over TW_REST_MAX_BODY and was dropped */
	/* Calls fn for every value of a query parameter that may repeat
	 * (?excluded=a&excluded=b), URL-decoded; NULL when the server cannot
	 * list them (then arg gives the first value only). */
	void (*arg_each)(void *arg_ctx, const char *name, void (*fn)(void *ctx, const char *value),
			 void *ctx);
	/* The path as it came, still percent-encoded, or NULL when the server
	 * only has path (already percent-decoded): then a name cannot hold '/'. */
	const char *raw_path;
};

struct tw_rest_response {
	unsigned status;		/* HTTP status */
	json_t *body;			/* JSON body or NULL for none; the caller frees it */
	const char *www_authenticate;	/* static text for a WWW-Authenticate header, or NULL */
	const char *allow;		/* static text for an Allow header (405), or NULL */
};

/* Handles path if it is under /api/v1/ (returns 1 with res filled), else
 * returns 0 and leaves res alone. Success is 200 or 202 without a body; a
 * refusal has a body {"error": "<specific text>"} and is logged once as a
 * warning (routes and codes: docs/protocol.md). Any thread (MHD's). */
int tw_rest_handle(const struct tw_rest_config *cfg, const struct tw_rest_request *req,
		   struct tw_rest_response *res);

#endif
