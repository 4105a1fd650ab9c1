/* rest_api.c -- Azure SignalR Service data-plane REST API v1 */
#include <string.h>

#include "rest_api.h"

int tw_rest_handle(const struct tw_rest_config *cfg, const struct tw_rest_request *req,
		   struct tw_rest_response *res)
{
	if (strncmp(req->path, "/api/v1/", 8) != 0)
		return 0;
	res->status = 501;
	res->body = json_pack("{s:s}", "error", "Not implemented yet.");
	return 1;
}
