/* hub.c -- the hub object: its epoll loop thread, inboxes from other threads, pending tokens, timers */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/log.h"
#include "auth.h"
#include "hub.h"

#define HUB_MAX_BACKPLANE_PAYLOAD (4u * 1024 * 1024)
#define HUB_STOP_GRACE_MS 2000

struct hub_pending {
	char id[HUB_ID_LEN];
	char *user;
	char **roles;
	size_t nroles;
	int64_t expires_ms;
	int claimed;
};

struct hub_upgrade {
	struct hub_upgrade *next;
	char token[HUB_TOKEN_LEN];
	int fd;
	struct MHD_UpgradeResponseHandle *urh;
	size_t extra_len;
	char extra[];
};

struct hub_bpmsg {
	struct hub_bpmsg *next;
	size_t len;
	char data[];
};

int64_t hub__now(void)
{
	return tw_mono_ms();
}

static void hub__wake(struct tw_hub *h)
{
	uint64_t one = 1;

	if (write(h->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		tw_warn("hub: cannot wake the loop: %s", strerror(errno));
}

/* ---- pending connection tokens (any thread, under lock) ---- */

static void pending__free(struct hub_pending *p)
{
	for (size_t i = 0; i < p->nroles; i++)
		free(p->roles[i]);
	free(p->roles);
	free(p->user);
	free(p);
}

static struct hub_pending *pending__new(const struct tw_jwt_claims *c, int64_t expires)
{
	struct hub_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->expires_ms = expires;
	p->user = c->sub ? strdup(c->sub) : NULL;
	p->roles = c->nroles ? calloc(c->nroles, sizeof(char *)) : NULL;
	for (size_t i = 0; p->roles && i < c->nroles; i++, p->nroles++)
		if (!(p->roles[i] = strdup(c->roles[i])))
			break;
	if ((c->sub && !p->user) || p->nroles != c->nroles) {
		pending__free(p);
		return NULL;
	}
	return p;
}

int tw_hub_negotiate(struct tw_hub *h, const struct tw_jwt_claims *c, int token_is_id,
		     char id[HUB_ID_LEN], char token[HUB_TOKEN_LEN])
{
	struct hub_pending *p = pending__new(c, hub__now() + h->cfg.token_ttl_ms);
	int rc;

	if (!p)
		return TW_ERR_NOMEM;
	rc = tw_random_token(token, HUB_TOKEN_LEN, token_is_id ? 16 : 32);
	if (rc == TW_OK && token_is_id)
		memcpy(p->id, token, strlen(token) + 1);
	else if (rc == TW_OK)
		rc = tw_random_token(p->id, sizeof(p->id), 16);
	if (rc == TW_OK) {
		pthread_mutex_lock(&h->lock);
		rc = tw_strmap_put(&h->pending, token, p);
		pthread_mutex_unlock(&h->lock);
	}
	if (rc != TW_OK) {
		pending__free(p);
		return rc;
	}
	memcpy(id, p->id, HUB_ID_LEN);
	HUB_COUNT(h, negotiations);
	return TW_OK;
}

int tw_hub_claim(struct tw_hub *h, const char *token, const char *user)
{
	struct hub_pending *p;
	int rc = TW_OK;

	pthread_mutex_lock(&h->lock);
	p = tw_strmap_get(&h->pending, token);
	if (!p || (!p->claimed && p->expires_ms < hub__now()))
		rc = TW_ERR_NOTFOUND;
	else if (p->claimed)
		rc = TW_ERR_EXISTS;
	else if ((p->user == NULL) != (user == NULL) || (user && strcmp(p->user, user) != 0))
		rc = TW_ERR_AUTH;
	else
		p->claimed = 1;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void tw_hub_unclaim(struct tw_hub *h, const char *token)
{
	struct hub_pending *p;

	pthread_mutex_lock(&h->lock);
	p = tw_strmap_get(&h->pending, token);
	if (p)
		p->claimed = 0;
	pthread_mutex_unlock(&h->lock);
}

static void pending__drop(struct tw_hub *h, const char *token)
{
	struct hub_pending *p;

	pthread_mutex_lock(&h->lock);
	p = tw_strmap_del(&h->pending, token);
	pthread_mutex_unlock(&h->lock);
	if (p)
		pending__free(p);
}

struct pending_sweep {
	int64_t now;
	char (*expired)[HUB_TOKEN_LEN];
	size_t n, cap;
};

static void pending__collect(void *ctx, const char *key, void *value)
{
	struct pending_sweep *s = ctx;
	struct hub_pending *p = value;

	if (!p->claimed && p->expires_ms < s->now && s->n < s->cap)
		memcpy(s->expired[s->n++], key, strlen(key) + 1);
}

/* Forgets tokens whose socket never came (at most 256 per tick). */
static void pending__sweep(struct tw_hub *h, int64_t now)
{
	char expired[256][HUB_TOKEN_LEN];
	struct pending_sweep s = { now, expired, 0, 256 };

	pthread_mutex_lock(&h->lock);
	tw_strmap_each(&h->pending, pending__collect, &s);
	for (size_t i = 0; i < s.n; i++)
		pending__free(tw_strmap_del(&h->pending, expired[i]));
	pthread_mutex_unlock(&h->lock);
}

static void pending__free_cb(void *ctx, const char *key, void *value)
{
	pending__free(value);
}

/* Copies the negotiated identity into a new connection; 0 on success. */
static int pending__take(struct tw_hub *h, struct hub_conn *c, const char *token)
{
	struct hub_pending *p;
	int rc = -1;

	pthread_mutex_lock(&h->lock);
	p = tw_strmap_get(&h->pending, token);
	if (p) {
		memcpy(c->id, p->id, sizeof(c->id));
		memcpy(c->token, token, strlen(token) + 1);
		c->user = p->user;
		c->roles = p->roles;
		c->nroles = p->nroles;
		p->user = NULL;
		p->roles = NULL;
		p->nroles = 0;
		rc = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* ---- inboxes (any thread) ---- */

void tw_hub_adopt(struct tw_hub *h, const char *token, int sock,
		  struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len)
{
	struct hub_upgrade *u = malloc(sizeof(*u) + extra_len);
	int closed;

	if (u) {
		u->next = NULL;
		snprintf(u->token, sizeof(u->token), "%s", token);
		u->fd = sock;
		u->urh = urh;
		u->extra_len = extra_len;
		if (extra_len)
			memcpy(u->extra, extra, extra_len);
	}
	pthread_mutex_lock(&h->lock);
	closed = h->inbox_closed || !u;
	if (!closed) {
		if (h->up_tail)
			h->up_tail->next = u;
		else
			h->up_head = u;
		h->up_tail = u;
	}
	pthread_mutex_unlock(&h->lock);
	if (closed) {
		free(u);
		pending__drop(h, token);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		return;
	}
	hub__wake(h);
}

/* Warns about full-queue drops at most once a second. Called under lock. */
static void hub__warn_drop(struct tw_hub *h)
{
	int64_t now = hub__now();

	h->drops_unwarned++;
	if (now - h->drop_warned_ms < 1000)
		return;
	tw_warn("backplane: hub queue full (%lld messages): dropped %llu message(s)",
		h->cfg.backplane_queue, h->drops_unwarned);
	h->drop_warned_ms = now;
	h->drops_unwarned = 0;
}

int tw_hub_post(struct tw_hub *h, const void *payload, size_t len)
{
	struct hub_bpmsg *m;
	int rc = TW_OK;

	HUB_COUNT(h, bp_received);
	if (len > HUB_MAX_BACKPLANE_PAYLOAD) {
		HUB_COUNT(h, envelopes_bad);
		return TW_ERR_LIMIT;
	}
	m = malloc(sizeof(*m) + len);
	if (!m)
		return TW_ERR_NOMEM;
	m->next = NULL;
	m->len = len;
	if (len)
		memcpy(m->data, payload, len);
	pthread_mutex_lock(&h->lock);
	if (h->inbox_closed || h->bp_len >= (size_t)h->cfg.backplane_queue) {
		HUB_COUNT(h, bp_dropped_full);
		hub__warn_drop(h);
		rc = TW_ERR_FULL;
	} else {
		if (h->bp_tail)
			h->bp_tail->next = m;
		else
			h->bp_head = m;
		h->bp_tail = m;
		h->bp_len++;
	}
	pthread_mutex_unlock(&h->lock);
	if (rc != TW_OK)
		free(m);
	else
		hub__wake(h);
	return rc;
}

size_t tw_hub_connection_count(struct tw_hub *h)
{
	return (size_t)HUB_READ(h, conn_current);
}

int tw_hub_conn_exists(struct tw_hub *h, const char *id)
{
	int found;

	pthread_mutex_lock(&h->lock);
	found = tw_strmap_get(&h->live, id) != NULL;
	pthread_mutex_unlock(&h->lock);
	return found;
}

/* ---- the loop ---- */

void hub__mark_dirty(struct hub_conn *c)
{
	if (c->dirty || c->state == HUB_CONN_DEAD)
		return;
	c->dirty = 1;
	c->next_dirty = c->hub->dirty;
	c->hub->dirty = c;
}

/* Builds the connection for an upgraded socket; 0 on success. */
static int hub__adopt_setup(struct tw_hub *h, struct hub_conn *c, const char *token)
{
	if (pending__take(h, c, token) != 0)
		return -1;
	if (tw_strmap_put(&h->conns, c->id, c) != TW_OK)
		return -1;
	if (ws__init(c) != TW_OK) {
		tw_strmap_del(&h->conns, c->id);
		return -1;
	}
	return 0;
}

static void hub__adopt_one(struct tw_hub *h, struct hub_upgrade *u)
{
	struct hub_conn *c = hub__conn_new(h, u->fd, u->urh, u->extra, u->extra_len);

	if (!c || hub__adopt_setup(h, c, u->token) != 0) {
		tw_error("hub: cannot set up the connection for token %.8s...: "
			 "out of memory or token gone", u->token);
		pending__drop(h, u->token);
		hub__conn_free(c);
		MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
		return;
	}
	hub__user_add(c);
	hub__ops_on_open(c);
	pthread_mutex_lock(&h->lock);
	tw_strmap_put(&h->live, c->id, c);
	pthread_mutex_unlock(&h->lock);
	HUB_COUNT(h, conn_opened);
	HUB_COUNT(h, conn_current);
	tw_info("connection %s opened (user %s, transport WebSockets)", c->id,
		c->user ? c->user : "-");
	if (c->extra_len)
		ws__on_readable(c);
}

static void hub__drain_inboxes(struct tw_hub *h)
{
	struct hub_upgrade *ups;
	struct hub_bpmsg *msgs;
	uint64_t v;

	if (read(h->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		tw_warn("hub: eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&h->lock);
	ups = h->up_head;
	msgs = h->bp_head;
	h->up_head = h->up_tail = NULL;
	h->bp_head = h->bp_tail = NULL;
	h->bp_len = 0;
	if (h->stop_requested && !h->stopping) {
		h->stopping = 1;
		h->inbox_closed = 1;
	}
	pthread_mutex_unlock(&h->lock);
	for (struct hub_upgrade *next; ups; ups = next) {
		next = ups->next;
		hub__adopt_one(h, ups);
		free(ups);
	}
	for (struct hub_bpmsg *next; msgs; msgs = next) {
		next = msgs->next;
		hub__deliver_payload(h, msgs->data, msgs->len);
		free(msgs);
	}
}

static void hub__flush_dirty(struct tw_hub *h)
{
	while (h->dirty) {
		struct hub_conn *c = h->dirty;

		h->dirty = c->next_dirty;
		c->next_dirty = NULL;
		c->dirty = 0;
		if (c->state != HUB_CONN_DEAD)
			ws__flush(c);
	}
}

static void hub__reap(struct tw_hub *h)
{
	while (h->dead) {
		struct hub_conn *c = h->dead;

		h->dead = c->next_dead;
		pending__drop(h, c->token);
		hub__conn_free(c);
	}
}

struct hub_tick {
	int64_t now;
	struct hub_conn **list;
	size_t n;
};

static void hub__collect(void *ctx, const char *key, void *value)
{
	struct hub_tick *t = ctx;

	t->list[t->n++] = value;
}

/* Runs fn on a snapshot of the connections, so fn may unlink them. */
static void hub__each_conn(struct tw_hub *h, void (*fn)(struct hub_conn *c, int64_t now),
			   int64_t now)
{
	struct hub_tick t = { now, NULL, 0 };

	if (!h->conns.count)
		return;
	t.list = malloc(h->conns.count * sizeof(*t.list));
	if (!t.list)
		return;
	tw_strmap_each(&h->conns, hub__collect, &t);
	for (size_t i = 0; i < t.n; i++)
		fn(t.list[i], now);
	free(t.list);
}

static void hub__close_for_stop(struct hub_conn *c, int64_t now)
{
	hub__conn_close(c, "Server is shutting down.", 1, 1001, "server shutting down");
}

static void hub__finish_for_stop(struct hub_conn *c, int64_t now)
{
	hub__conn_finish(c, c->reason[0] ? c->reason : "server shutting down");
}

static void hub__on_event(struct tw_hub *h, struct epoll_event *ev)
{
	struct hub_conn *c = ev->data.ptr;

	if (!c) {
		hub__drain_inboxes(h);
		return;
	}
	if (c->state == HUB_CONN_DEAD)
		return;
	if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		ws__on_readable(c);
	if (c->state != HUB_CONN_DEAD && (ev->events & EPOLLOUT))
		ws__flush(c);
	if (c->state != HUB_CONN_DEAD && (ev->events & (EPOLLHUP | EPOLLERR)))
		hub__conn_finish(c, c->reason[0] ? c->reason : "socket hang-up");
}

/* Starts the shutdown once: every connection gets a Close. */
static int hub__stop_step(struct tw_hub *h, int64_t now)
{
	if (!h->stop_deadline_ms) {
		h->stop_deadline_ms = now + HUB_STOP_GRACE_MS;
		hub__each_conn(h, hub__close_for_stop, now);
	}
	if (h->conns.count && now >= h->stop_deadline_ms)
		hub__each_conn(h, hub__finish_for_stop, now);
	return h->conns.count == 0;
}

/* Timers run every second, or faster when a timeout is shorter (tests). */
static int64_t hub__tick_ms(const struct tw_hub_config *cfg)
{
	int64_t t = 1000;

	if (cfg->keepalive_ms / 2 < t)
		t = cfg->keepalive_ms / 2;
	if (cfg->client_timeout_ms / 2 < t)
		t = cfg->client_timeout_ms / 2;
	if (cfg->handshake_timeout_ms / 2 < t)
		t = cfg->handshake_timeout_ms / 2;
	return t < 20 ? 20 : t;
}

static void *hub__loop(void *arg)
{
	struct tw_hub *h = arg;
	struct epoll_event evs[128];
	int64_t tick = hub__tick_ms(&h->cfg), next_tick = hub__now() + tick;

	for (;;) {
		int64_t now;
		int n = epoll_wait(h->epfd, evs, 128, h->stopping ? 20 : (int)(tick < 250 ? tick : 250));

		for (int i = 0; i < n; i++)
			hub__on_event(h, &evs[i]);
		now = hub__now();
		if (now >= next_tick) {
			hub__each_conn(h, hub__conn_tick, now);
			pending__sweep(h, now);
			next_tick = now + tick;
		}
		hub__flush_dirty(h);
		if (h->stopping && hub__stop_step(h, now)) {
			hub__flush_dirty(h);
			hub__reap(h);
			break;
		}
		hub__reap(h);
	}
	return NULL;
}

/* ---- lifecycle ---- */

int tw_hub_create(struct tw_hub **out, const struct tw_hub_config *cfg)
{
	struct tw_hub *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	*out = NULL;
	if (!h)
		return TW_ERR_NOMEM;
	h->cfg = *cfg;
	pthread_mutex_init(&h->lock, NULL);
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->epfd < 0 || h->wakefd < 0 || epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->wakefd, &ev) != 0) {
		tw_error("hub: cannot create epoll/eventfd: %s", strerror(errno));
		tw_hub_destroy(h);
		return TW_ERR_IO;
	}
	*out = h;
	return TW_OK;
}

int tw_hub_start(struct tw_hub *h)
{
	int rc = pthread_create(&h->thread, NULL, hub__loop, h);

	if (rc != 0) {
		tw_error("hub: cannot start the loop thread: %s", strerror(rc));
		return TW_ERR_IO;
	}
	h->thread_started = 1;
	return TW_OK;
}

void tw_hub_stop(struct tw_hub *h)
{
	if (!h || !h->thread_started)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop_requested = 1;
	pthread_mutex_unlock(&h->lock);
	hub__wake(h);
	pthread_join(h->thread, NULL);
	h->thread_started = 0;
}

/* Frees what the inboxes still hold; upgraded sockets are closed via MHD. */
static void hub__free_inboxes(struct tw_hub *h)
{
	while (h->up_head) {
		struct hub_upgrade *u = h->up_head;

		h->up_head = u->next;
		MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
		free(u);
	}
	while (h->bp_head) {
		struct hub_bpmsg *m = h->bp_head;

		h->bp_head = m->next;
		free(m);
	}
	h->up_tail = NULL;
	h->bp_tail = NULL;
}

void tw_hub_destroy(struct tw_hub *h)
{
	if (!h)
		return;
	tw_hub_stop(h);
	pthread_mutex_lock(&h->lock);
	h->inbox_closed = 1;
	pthread_mutex_unlock(&h->lock);
	hub__free_inboxes(h);
	hub__ops_free(h);
	hub__groups_free(h);
	tw_strmap_free(&h->conns);
	tw_strmap_free(&h->live);
	tw_strmap_each(&h->pending, pending__free_cb, NULL);
	tw_strmap_free(&h->pending);
	if (h->epfd >= 0)
		close(h->epfd);
	if (h->wakefd >= 0)
		close(h->wakefd);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
