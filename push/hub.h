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
#include <stdio.h>
#include <wslay/wslay.h>

#include "buf.h"
#include "protocol_json.h"
#include "protocol_msgpack.h"
#include "strmap.h"

struct MHD_Connection;
struct MHD_UpgradeResponseHandle;
struct tw_jwt_claims;

#define HUB_ID_LEN 32		/* connection ids and tokens, with NUL */
#define HUB_TOKEN_LEN 48

/* Transports, as bits of tw_hub_config.transports. */
enum hub_transport { HUB_WS = 1, HUB_SSE = 2, HUB_LP = 4 };
#define HUB_ALL_TRANSPORTS (HUB_WS | HUB_SSE | HUB_LP)

/* The byte forms one hub message takes on the wire; fan-out builds each
 * form at most once per message and shares it. */
enum hub_form {
	HUB_FORM_JSON_WS,	/* JSON record in a WebSocket text frame */
	HUB_FORM_JSON_SSE,	/* JSON record as a Server-Sent Event */
	HUB_FORM_JSON_RAW,	/* JSON record as it is (long polling) */
	HUB_FORM_MP_WS,		/* MessagePack record in a WebSocket binary frame */
	HUB_FORM_MP_RAW,	/* MessagePack record as it is (long polling) */
	HUB_FORM_COUNT
};

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
	unsigned transports;		/* enum hub_transport bits offered and accepted */
	/* Publishes client invocations upstream and commands to devices (QoS 1);
	 * done(arg, rc) runs on another thread when the broker acknowledged it.
	 * Returns a tw_error; done is called only after TW_OK. NULL: refused. */
	int (*publish)(void *ctx, const char *topic, const void *payload, size_t len,
		       void (*done)(void *arg, int rc), void *arg);
	void *publish_ctx;
	long long poll_timeout_ms;	/* a long poll with nothing to say answers after this */
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
	unsigned long long messages_conflated, posts, polls;
	unsigned long long upstream_sent, upstream_failed, commands_sent, commands_refused;
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
	uint64_t key;		/* conflation key hash, 0 for none */
};

struct hub_outq {
	struct hub_out *head, *tail;
	size_t nmsgs;		/* droppable items queued */
	size_t bytes;		/* bytes queued, all items */
};

enum hub_conn_state { HUB_CONN_HANDSHAKE, HUB_CONN_OPEN, HUB_CONN_CLOSING, HUB_CONN_DEAD };

/*
 * The server-to-client half of a Server-Sent Events or long-polling
 * connection, shared by the hub loop (which queues) and MHD's thread (which
 * sends). Everything below mu is under mu. Refcounted: the connection, the
 * SSE response and each waiting poll hold a reference.
 */
struct hub_stream {
	pthread_mutex_t mu;
	unsigned refs;
	enum hub_transport transport;
	int binary;			/* long polling with MessagePack */
	struct hub_outq q;
	struct MHD_Connection *con;	/* SSE: the stream; LP: the waiting poll */
	int suspended;			/* con waits for data, a close or a timeout */
	int closed;			/* the hub ended the connection */
	int gone;			/* SSE: the response ended (client left) */
	int poll_waiting;		/* LP: a poll is parked */
	int poll_expired;		/* LP: the parked poll answers empty */
	unsigned poll_seq;		/* LP: the current poll; older ones get 204 */
	int64_t poll_since_ms;
};

struct hub_conn {
	struct tw_hub *hub;
	enum hub_transport transport;
	int protocol;		/* enum tw_hubproto_kind, set by the handshake */
	enum hub_form form;	/* how this connection's messages are framed */
	struct hub_stream *stream;	/* SSE and LP */
	int fd;			/* WebSockets */
	struct MHD_UpgradeResponseHandle *urh;
	char id[HUB_ID_LEN];
	char token[HUB_TOKEN_LEN];
	char *user;
	char **roles;
	size_t nroles;
	enum hub_conn_state state;
	/* WebSocket transport */
	/* wslay's context exists only while the client's frames are in flight
	 * or a close is under way; an idle connection parks it (NULL) to save
	 * its ~8.6 KiB. ws_fed/ws_framed tell when wslay holds no bytes. */
	wslay_event_context_ptr ws;
	uint64_t ws_fed;	/* bytes the recv callback gave this context */
	uint64_t ws_framed;	/* ... of them in complete frames (header + payload) */
	uint64_t ws_frame_len;	/* header + payload of the frame being received */
	int ws_data_frame;	/* the frame being received carries data */
	int ws_msg_open;	/* a fragmented data message is in progress */
	int eof;		/* the peer closed its side */
	int failing;		/* a bad frame: close frame sent, reads discarded until EOF */
	size_t read_budget;	/* bytes left for this readiness event */
	size_t bytes_in;	/* bytes received, extra_in included */
	unsigned char *extra;	/* bytes MHD read past the HTTP header */
	size_t extra_len, extra_off;
	uint32_t events;	/* epoll interest now registered */
	int in_epoll;
	/* hub protocol */
	struct tw_hubproto_reader rd;	/* JSON records; the handshake always */
	struct tw_hubmp_reader mrd;	/* MessagePack records after the handshake */
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
struct hub_in;
struct hub_bpmsg;

struct tw_hub {
	struct tw_hub_config cfg;
	struct tw_hub_counters counters;
	int epfd, wakefd;
	pthread_t thread;
	int thread_started;
	/* loop thread only */
	struct tw_strmap conns;		/* id -> hub_conn */
	struct tw_strmap tokens;	/* connection token -> hub_conn */
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
	struct hub_in *in_head, *in_tail;	/* from MHD's thread */
	size_t in_bytes;
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
/* Marks a pending token as being connected over transport. TW_OK;
 * TW_ERR_NOTFOUND for an unknown or expired token; TW_ERR_EXISTS when it is
 * connected already; TW_ERR_PROTOCOL when it is connected over another
 * transport; TW_ERR_AUTH when user is not the user it was negotiated for.
 * For SSE and LP, *stream gets a referenced stream and *first tells
 * whether this request started the connection (the caller then hands the
 * stream over with tw_hub_adopt_stream); a later long poll gets TW_OK with
 * *first 0. */
int tw_hub_claim(struct tw_hub *h, const char *token, const char *user,
		 enum hub_transport transport, struct hub_stream **stream, int *first);
/* Undoes tw_hub_claim when the upgrade did not happen. */
void tw_hub_unclaim(struct tw_hub *h, const char *token);
/* Hands an upgraded socket to the loop (the hub then owns urh). */
void tw_hub_adopt(struct tw_hub *h, const char *token, int sock,
		  struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len);
/* Hands a new SSE or LP stream to the loop (the hub takes one reference). */
void tw_hub_adopt_stream(struct tw_hub *h, const char *token, struct hub_stream *s);
/* Client bytes from an HTTP POST for a SSE/LP connection. TW_OK;
 * TW_ERR_NOTFOUND (404), TW_ERR_PROTOCOL (a WebSocket connection: 405),
 * TW_ERR_EXISTS (another POST is in progress: 409), TW_ERR_FULL (the
 * loop's inbox is full: 503). Call tw_hub_post_end after a TW_OK begin. */
int tw_hub_post_begin(struct tw_hub *h, const char *token);
int tw_hub_post_bytes(struct tw_hub *h, const char *token, const void *data, size_t len);
void tw_hub_post_end(struct tw_hub *h, const char *token);
/* DELETE of a SSE/LP connection: the loop ends it. TW_OK or TW_ERR_NOTFOUND. */
int tw_hub_request_close(struct tw_hub *h, const char *token);
/* The SSE response ended (client gone): the loop ends the connection. */
void tw_hub_stream_gone(struct tw_hub *h, const char *token);

/* Any thread: an upstream publish of connection conn_id ended; the loop
 * sends the Completion (result_json on success, or error). */
void tw_hub_upcall_done(struct tw_hub *h, const char *conn_id, const char *invocation_id,
			const char *result_json, const char *error);

/* --- upstream.c: client invocations to MQTT (loop thread) --- */
/* Client method SendCommand(deviceId, {command, args}): publishes to
 * devices/{deviceId}/commands when the token has role telewire.command. */
void hub__send_command(struct hub_conn *c, const struct tw_hubmsg *m);
/* Any other client method: published to telewire/upstream/{hub}/{target}. */
void hub__upstream_invoke(struct hub_conn *c, const struct tw_hubmsg *m);

/* --- transport_stream.c: the shared half of SSE/LP (any thread) --- */
struct hub_stream *hub__stream_new(enum hub_transport t);
struct hub_stream *hub__stream_ref(struct hub_stream *s);
void hub__stream_unref(struct hub_stream *s);
/* Copies up to max queued bytes into buf (caller holds s->mu); releases
 * what was sent. Returns the number of bytes copied. */
size_t hub__stream_take(struct hub_stream *s, char *buf, size_t max);
/* Loop thread: resumes MHD's request when it has something to do; notices
 * a gone stream. May finish the connection. */
void hub__stream_flush(struct hub_conn *c);
/* Loop thread: has MHD's side taken everything queued? */
int hub__stream_drained(struct hub_conn *c);
/* Loop thread: answers a poll parked longer than the poll timeout. */
void hub__stream_tick(struct hub_conn *c, int64_t now);
/* Loop thread: the connection ends; MHD's side answers and lets go. */
void hub__stream_end(struct hub_conn *c);

/* Queues one backplane payload for the loop; drops and counts when full.
 * Returns TW_OK, TW_ERR_FULL, TW_ERR_LIMIT or TW_ERR_NOMEM. */
int tw_hub_post(struct tw_hub *h, const void *payload, size_t len);
size_t tw_hub_connection_count(struct tw_hub *h);
/* Has the hub begun to shut down? New clients are then turned away. */
int tw_hub_stopping(struct tw_hub *h);
/* Is a connection with this id open on this hub? */
int tw_hub_conn_exists(struct tw_hub *h, const char *id);

/* --- hub.c: loop thread --- */
void hub__mark_dirty(struct hub_conn *c);
int64_t hub__now(void);

/* --- conn.c: the SignalR session of one connection (loop thread) --- */
struct hub_conn *hub__conn_new(struct tw_hub *h, int fd, struct MHD_UpgradeResponseHandle *urh,
			       const char *extra, size_t extra_len);
struct hub_conn *hub__conn_new_stream(struct tw_hub *h, struct hub_stream *s);
/* Feeds received hub-protocol bytes. */
void hub__conn_on_bytes(struct hub_conn *c, const void *data, size_t len);
/* Starts a graceful close: a SignalR Close (with error unless NULL), then
 * a WebSocket close frame; why is logged when the connection ends. */
void hub__conn_close(struct hub_conn *c, const char *error, int allow_reconnect,
		     uint16_t ws_code, const char *why);
/* Sends a Completion for invocation_id (nothing when NULL): error, else result. */
void hub__conn_completion(struct hub_conn *c, const char *invocation_id, const char *error,
			  const json_t *result);
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
struct tw_envelope;
/* Applies one membership operation (env->op is not TW_ENV_SEND): joins or
 * leaves groups for a connection or for every connection of a user (and
 * records user groups for the user's later connections), or closes a
 * connection. Ids that are not on this hub are ignored. */
void hub__ops_apply(struct tw_hub *h, const struct tw_envelope *env);

/* --- outq.c: the outbound queue of every transport (loop thread) --- */
/* Frames an encoded record in the given form (refs = 1), or NULL. */
struct tw_obuf *hub__frame(enum hub_form form, const void *rec, size_t len);
/* Queues o (takes a reference). A droppable message may conflate an older
 * one with the same key (a non-zero hash) or push out the oldest when the
 * queue is full; a connection that keeps overflowing is closed. Returns
 * TW_OK, TW_ERR_FULL (the connection is being closed) or TW_ERR_NOMEM. */
int hub__conn_push(struct hub_conn *c, struct tw_obuf *o, int droppable, uint64_t key);
/* Frames one private record in the connection's form and queues it. */
int hub__conn_push_record(struct hub_conn *c, const void *rec, size_t len);
/* Removes the head item (caller holds the stream lock for SSE/LP). */
void hub__outq_pop(struct hub_outq *q);
void hub__outq_clear(struct hub_outq *q);
/* The hub loop thread keeps freed queue entries for reuse: enable at its
 * start, trim (frees them, stops keeping) before it ends. */
void hub__outq_cache_enable(void);
void hub__outq_cache_trim(void);
/* FNV-1a of a conflation key; never 0. */
uint64_t hub__key_hash(const char *key);

/* --- transport_ws.c (loop thread) --- */
/* Builds one unmasked FIN frame (opcode 1 text, 2 binary) around payload (refs = 1), or NULL. */
struct tw_obuf *tw_ws_frame(int opcode, const void *payload, size_t len);
struct tw_obuf *tw_ws_frame_text(const void *payload, size_t len);
int ws__init(struct hub_conn *c);
void ws__free(struct hub_conn *c);
/* Reads what is ready; may finish the connection. */
void ws__on_readable(struct hub_conn *c);
/* Writes what is queued; may finish the connection. */
void ws__flush(struct hub_conn *c);
/* Writes as much of the queue as the socket takes: 1 when more is left, 0
 * when done or blocked, -1 on a socket error. */
int ws__writev(struct hub_conn *c);
/* Queues a WebSocket close frame. */
void ws__close(struct hub_conn *c, uint16_t code, const char *reason);
/* True when wslay is done both ways and nothing is left to write. */
int ws__done(struct hub_conn *c);

/* --- hub_metrics.c (any thread) --- */
/* Writes the counters of hub ctx in Prometheus text format. */
void hub__metrics_fill(void *ctx, FILE *out);

/* --- fanout.c (loop thread) --- */
/* Parses a backplane payload and delivers its envelopes. */
void hub__deliver_payload(struct tw_hub *h, const void *payload, size_t len);

#endif
