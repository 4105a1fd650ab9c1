/* transport_http.h -- MHD's side of the Server-Sent Events and long-polling transports (MHD's thread) */
#ifndef TW_PUSH_TRANSPORT_HTTP_H
#define TW_PUSH_TRANSPORT_HTTP_H

#include <stddef.h>

struct MHD_Connection;
struct MHD_Response;
struct hub_stream;
struct tw_hub;

/* The event-stream response of a new SSE connection (it holds a reference
 * to st), or NULL when out of memory. */
struct MHD_Response *hub__sse_response(struct tw_hub *h, struct MHD_Connection *con,
				       struct hub_stream *st, const char *token);

/* One long poll of a request; kept in the request's state across a park. */
struct hub_poll {
	unsigned seq;		/* the stream's poll_seq when this poll parked */
	int parked;		/* suspended, waiting to be answered */
};

/* The answer of a long poll. */
struct hub_poll_answer {
	unsigned status;	/* 200 (data or empty after the timeout) or 204 */
	char *body;		/* malloc'd, NULL when empty */
	size_t len;
	int binary;		/* MessagePack: application/octet-stream */
};

/* Answers a poll (called on arrival and again after a resume). Returns 1
 * with *a filled, or 0 when the poll was parked (the request is suspended
 * until the hub loop resumes it). */
int hub__lp_poll(struct hub_stream *st, struct MHD_Connection *con, struct hub_poll *p,
		 struct hub_poll_answer *a);
/* The request of a parked poll ends (daemon stop): forget its connection. */
void hub__lp_done(struct hub_stream *st, struct MHD_Connection *con, struct hub_poll *p);

#endif
