/* history_api.h -- GET /api/history: ThingsBoard-style history queries over a read-only SQLite connection
 *
 * The route and its answers are in docs/protocol.md ("History queries").
 * tw_history_api_handle is the whole endpoint without an HTTP library (unit
 * tested); tw_history_api_serve is its libmicrohttpd face for http.c.
 */
#ifndef TW_PUSH_HISTORY_API_H
#define TW_PUSH_HISTORY_API_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

struct tw_hub;
struct tw_http_config;
struct tw_history_api;

#define TW_HISTORY_API_BUDGET_MS 2000	/* a request's queries stop after this long (503) */

struct tw_history_api_config {
	const char *db;			/* the history file; NULL or "": not configured (503) */
	const char *access_key;		/* HS256 key of the callers' tokens */
	const char *hub;		/* client tokens must be for this hub */
	const char *client_endpoint;	/* public base URL (ClientEndpoint=), or NULL */
	int64_t budget_ms;		/* 0: TW_HISTORY_API_BUDGET_MS */
};

struct tw_history_api_request {
	/* Looks up a query parameter (URL-decoded) by name; NULL when absent. */
	const char *(*arg)(void *arg_ctx, const char *name);
	void *arg_ctx;
	const char *authorization;	/* the Authorization header, or NULL */
	const char *base_url;		/* "http://host:port" as the caller reached the hub */
};

struct tw_history_api_response {
	unsigned status;		/* 200, 400, 401, 404, 500 or 503 */
	char *body;			/* JSON text, NUL-terminated (malloc'd, freed by the
					 * caller), or NULL when out of memory */
	size_t len;
	const char *www_authenticate;	/* static text for the header (401), or NULL */
};

/* Copies cfg. The file is opened (read-only) at the first request that
 * needs it, and again after a failure: the hub may start before ingest has
 * created it. Returns TW_OK or TW_ERR_NOMEM. */
int tw_history_api_create(struct tw_history_api **out, const struct tw_history_api_config *cfg);
void tw_history_api_destroy(struct tw_history_api *api);

/* Answers one request: res is always filled. A refusal has the body
 * {"error": "<specific text>"}; 500 and 503 are also logged. Any thread:
 * requests are served one at a time. */
void tw_history_api_handle(struct tw_history_api *api, const struct tw_history_api_request *req,
			   struct tw_history_api_response *res);

/* GET /api/history for http.c: one endpoint per process, made from the hub
 * and cfg at the first request; queue sends a response (http.c's adds the
 * CORS headers and frees it). */
typedef enum MHD_Result (*tw_history_api_queue_fn)(struct MHD_Connection *con, unsigned status,
						   struct MHD_Response *r);
enum MHD_Result tw_history_api_serve(struct tw_hub *hub, const struct tw_http_config *cfg,
				     struct MHD_Connection *con, const char *host,
				     tw_history_api_queue_fn queue);

#endif
