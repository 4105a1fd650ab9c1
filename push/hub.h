/* hub.h -- telewire-hub internals shared by the files of push/: hub, connections, groups, transports
 *
 * Threads: the hub loop thread owns every connection, group and user
 * (struct hub_conn, struct hub_group). Other threads reach the hub only
 * through the functions marked "any thread", which take hub->lock and wake
 * the loop with an eventfd.
 */
#ifndef TW_PUSH_HUB_H
#define TW_PUSH_HUB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <wslay/wslay.h>

#include "buf.h"
#include "protocol_json.h"
#include "strmap.h"

struct MHD_UpgradeResponseHandle;
struct tw_jwt_claims;

#define HUB_ID_LEN 32		/* connection ids and tokens, with NUL */
#define HUB_TOKEN_LEN 48

struct tw_hub_config {
	const char *name;		/* the hub served, e.g. "telemetry" */
	const char *access_key;		/* HS256 key for tokens */
	long long max_queue;		/* outbound messages per connection */
	long long max_queue_bytes;	/* outbound bytes per connection */
	long long keepalive_ms;		/* ping when nothing was sent for this long */
	long long client_timeout_ms;	/* close after this long without a byte from the client */
	long long handshake_timeout_ms;
	long long token_ttl_ms;		/* how long a connection token waits for its socket */
	long long backplane_queue;	/* MQTT messages waiting for the loop */
	long long max_record;		/* longest hub protocol record */
};

/* Counters for a later /metrics; bumped with __atomic builtins (HUB_COUNT),
 * read with HUB_READ. */
struct tw_hub_counters {
	unsigned long long conn_opened, conn_closed, conn_current;
	unsigned long long negotiations, auth_failures;
	unsigned long long handshake_failures, bad_records, oversized_records;
	unsigned long long invocations, unknown_targets, group_joins, group_leaves;
	unsigned long long bp_received, bp_dropped_full, envelopes_ok, envelopes_bad;
	unsigned long long messages_queued, messages_dropped_slow, closes_slow;
};

#define HUB_COUNT(h, f) __atomic_fetch_add(&(h)->counters.f, 1, __ATOMIC_RELAXED)
#define HUB_ADD(h, f, n) __atomic_fetch_add(&(h)->counters.f, (n), __ATOMIC_RELAXED)
#define HUB_READ(h, f) __atomic_load_n(&(h)->counters.f, __ATOMIC_RELAXED)

/* One connection in one group or user; lets both sides unlink in O(1). */
struct hub_member {
	struct hub_group *group;
	struct hub_conn *conn;
	size_t gidx;		/* index in group->members */
	size_t cidx;		/* index in conn->groups (groups only) */
};

struct hub_group {
	char *name;
	struct hub_member **members;
	size_t n, cap;
};

struct hub_out {
	struct hub_out *next;
	struct tw_obuf *buf;
	size_t off;		/* bytes of buf already written */
	int droppable;		/* data message: may be dropped when the queue is full */
};

struct hub_outq {
	struct hub_out *head, *tail;
	size_t nmsgs;		/* droppable items queued */
	size_t bytes;		/* bytes queued, all items */
};

enum hub_conn_state { HUB_CONN_HANDSHAKE, HUB_CONN_OPEN, HUB_CONN_CLOSING, HUB_CONN_DEAD };

struct hub_conn {
	struct tw_hub *hub;
	int fd;
	struct MHD_UpgradeResponseHandle *urh;
	char id[HUB_ID_LEN];
	char token[HUB_TOKEN_LEN];
	char *user;
	char **roles;
	size_t nroles;
	enum hub_conn_state state;
	/* WebSocket transport */
	wslay_event_context_ptr ws;
	int ws_data_frame;	/* the frame being received carries data */
	int eof;		/* the peer closed its side */
	size_t read_budget;	/* bytes left for this readiness event */
	size_t bytes_in;	/* bytes received, extra_in included */
	unsigned char *extra;	/* bytes MHD read past the HTTP header */
	size_t extra_len, extra_off;
	uint32_t events;	/* epoll interest now registered */
	int in_epoll;
	/* hub protocol */
	struct tw_hubproto_reader rd;
	int64_t opened_ms, last_recv_ms, last_send_ms, close_deadline_ms;
	/* outbound */
	struct hub_outq q;
	size_t drops_in_row;
	unsigned long long dropped;
	struct hub_conn *next_dirty;
	int dirty;
	/* membership */
	struct hub_member **groups;
	size_t ngroups, capgroups;
	struct hub_member *user_m;
	struct hub_conn *next_dead;
	char reason[160];	/* why it closed, for the log line */
};

struct hub_pending;
struct hub_upgrade;
struct hub_bpmsg;

struct tw_hub {
	struct tw_hub_config cfg;
	struct tw_hub_counters counters;
	int epfd, wakefd;
	pthread_t thread;
	int thread_started;
	/* loop thread only */
	struct tw_strmap conns;		/* id -> hub_conn */
	struct tw_strmap groups;	/* name -> hub_group */
	struct tw_strmap users;		/* user -> hub_group */
	struct tw_strmap user_groups;	/* user -> groups its connections join (ops.c) */
	struct hub_conn *dirty, *dead;
	int stopping;
	int64_t stop_deadline_ms;
	/* shared, under lock */
	pthread_mutex_t lock;
	struct tw_strmap pending;	/* token -> hub_pending */
	struct tw_strmap live;		/* connection id -> hub_conn, for existence checks only */
	struct hub_upgrade *up_head, *up_tail;
	struct hub_bpmsg *bp_head, *bp_tail;
	size_t bp_len;
	int stop_requested, inbox_closed;
	int64_t drop_warned_ms;
	unsigned long long drops_unwarned;
};

/* --- hub.c: lifecycle (main thread) --- */
int tw_hub_create(struct tw_hub **out, const struct tw_hub_config *cfg);
/* Starts the loop thread. Returns TW_OK or TW_ERR_IO. */
int tw_hub_start(struct tw_hub *h);
/* Closes every connection with a SignalR Close, waits for the loop thread
 * to end. Call before MHD_stop_daemon (closing uses MHD). */
void tw_hub_stop(struct tw_hub *h);
void tw_hub_destroy(struct tw_hub *h);

/* --- hub.c: any thread --- */
/* Registers a negotiated connection: fills id and token (random). */
int tw_hub_negotiate(struct tw_hub *h, const struct tw_jwt_claims *c, int token_is_id,
		     char id[HUB_ID_LEN], char token[HUB_TOKEN_LEN]);
/* Marks a pending token as being connected. TW_OK; TW_ERR_NOTFOUND for an
 * unknown or expired token; TW_ERR_EXISTS when it is connected already;
 * TW_ERR_AUTH when user is not the user it was negotiated for. */
int tw_hub_claim(struct tw_hub *h, const char *token, const char *user);
/* Undoes tw_hub_claim when the upgrade did not happen. */
void tw_hub_unclaim(struct tw_hub *h, const char *token);
/* Hands an upgraded socket to the loop (the hub then owns urh). */
void tw_hub_adopt(struct tw_hub *h, const char *token, int sock,
		  struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len);
/* Queues one backplane payload for the loop; drops and counts when full.
 * Returns TW_OK, TW_ERR_FULL, TW_ERR_LIMIT or TW_ERR_NOMEM. */
int tw_hub_post(struct tw_hub *h, const void *payload, size_t len);
size_t tw_hub_connection_count(struct tw_hub *h);
/* Is a connection with this id open on this hub? */
int tw_hub_conn_exists(struct tw_hub *h, const char *id);

/* --- hub.c: loop thread --- */
void hub__mark_dirty(struct hub_conn *c);
int64_t hub__now(void);

/* --- conn.c: the SignalR session of one connection (loop thread) --- */
struct hub_conn *hub__conn_new(struct tw_hub *h, int fd, struct MHD_UpgradeResponseHandle *urh,
			       const char *extra, size_t extra_len);
/* Feeds received hub-protocol bytes. */
void hub__conn_on_bytes(struct hub_conn *c, const void *data, size_t len);
/* Starts a graceful close: a SignalR Close (with error unless NULL), then
 * a WebSocket close frame; why is logged when the connection ends. */
void hub__conn_close(struct hub_conn *c, const char *error, int allow_reconnect,
		     uint16_t ws_code, const char *why);
/* Ends the connection now: unlinks it and closes its socket via MHD. */
void hub__conn_finish(struct hub_conn *c, const char *why);
/* Timers: handshake timeout, keep-alive pings, client timeout, close deadline. */
void hub__conn_tick(struct hub_conn *c, int64_t now);
void hub__conn_free(struct hub_conn *c);

/* --- groups.c (loop thread) --- */
int hub__group_join(struct hub_conn *c, const char *name);
int hub__group_leave(struct hub_conn *c, const char *name);
int hub__user_add(struct hub_conn *c);
/* Leaves every group and the user list. */
void hub__conn_unlink(struct hub_conn *c);
struct hub_group *hub__group_find(struct tw_hub *h, const char *name);
struct hub_group *hub__user_find(struct tw_hub *h, const char *user);
void hub__groups_free(struct tw_hub *h);

/* --- ops.c: membership operations from envelopes (loop thread) --- */
/* Frees what ops.c keeps in the hub (user_groups). */
void hub__ops_free(struct tw_hub *h);
/* A connection opened: joins the groups its user was added to. */
void hub__ops_on_open(struct hub_conn *c);

/* --- transport_ws.c (loop thread) --- */
/* Builds one unmasked FIN text frame around payload (refs = 1), or NULL. */
struct tw_obuf *tw_ws_frame_text(const void *payload, size_t len);
int ws__init(struct hub_conn *c);
void ws__free(struct hub_conn *c);
/* Reads what is ready; may finish the connection. */
void ws__on_readable(struct hub_conn *c);
/* Writes what is queued; may finish the connection. */
void ws__flush(struct hub_conn *c);
/* Frames record bytes privately and queues them. */
int ws__send_record(struct hub_conn *c, const void *data, size_t len, int droppable);
/* Queues a shared frame (takes a reference). Applies the drop-oldest policy. */
int ws__enqueue(struct hub_conn *c, struct tw_obuf *o, int droppable);
/* Queues a WebSocket close frame. */
void ws__close(struct hub_conn *c, uint16_t code, const char *reason);
/* True when wslay is done both ways and nothing is left to write. */
int ws__done(struct hub_conn *c);
void ws__outq_clear(struct hub_conn *c);

/* --- fanout.c (loop thread) --- */
/* Parses a backplane payload and delivers its envelopes. */
void hub__deliver_payload(struct tw_hub *h, const void *payload, size_t len);

#endif
