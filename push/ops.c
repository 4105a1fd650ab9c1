/* ops.c -- membership operations carried by envelopes: connections and users in groups, closing connections */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "telewire/log.h"
#include "envelope.h"
#include "hub.h"

#define OPS_MAX_USER_GROUPS 1000	/* groups recorded per user */
#define OPS_MAX_USERS 100000		/* users with recorded groups */

/* The groups a user was added to: connections of the user that open later
 * join them too (Azure SignalR's user-group membership). */
struct ops_user {
	char **groups;
	int64_t *expires_ms;	/* hub__now() deadline; 0: no limit */
	size_t n, cap;
};

static void ops__user_free(struct ops_user *u)
{
	for (size_t i = 0; i < u->n; i++)
		free(u->groups[i]);
	free(u->groups);
	free(u->expires_ms);
	free(u);
}

static void ops__user_free_cb(void *ctx, const char *key, void *value)
{
	ops__user_free(value);
}

void hub__ops_free(struct tw_hub *h)
{
	tw_strmap_each(&h->user_groups, ops__user_free_cb, NULL);
	tw_strmap_free(&h->user_groups);
}

static void ops__unrecord_at(struct ops_user *u, size_t i)
{
	free(u->groups[i]);
	u->groups[i] = u->groups[--u->n];
	u->expires_ms[i] = u->expires_ms[u->n];
}

/* Forgets the groups whose ttl ran out. */
static void ops__prune(struct ops_user *u, int64_t now)
{
	for (size_t i = u->n; i-- > 0;)
		if (u->expires_ms[i] && u->expires_ms[i] <= now)
			ops__unrecord_at(u, i);
}

static long ops__find(const struct ops_user *u, const char *group)
{
	for (size_t i = 0; i < u->n; i++)
		if (strcmp(u->groups[i], group) == 0)
			return (long)i;
	return -1;
}

/* Drops a user's record when it holds no group any more. */
static void ops__drop_if_empty(struct tw_hub *h, const char *user, struct ops_user *u)
{
	if (u->n)
		return;
	tw_strmap_del(&h->user_groups, user);
	ops__user_free(u);
}

static struct ops_user *ops__user_get(struct tw_hub *h, const char *user)
{
	struct ops_user *u = tw_strmap_get(&h->user_groups, user);

	if (u)
		return u;
	if (h->user_groups.count >= OPS_MAX_USERS) {
		tw_warn("ops: %d users have groups recorded already: user '%.64s' is not recorded "
			"(connections it opens later join no group)", OPS_MAX_USERS, user);
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (u && tw_strmap_put(&h->user_groups, user, u) == TW_OK)
		return u;
	free(u);
	tw_warn("ops: out of memory recording the groups of user '%.64s'", user);
	return NULL;
}

static int ops__grow(struct ops_user *u)
{
	size_t cap = u->cap ? u->cap * 2 : 4;
	char **g;
	int64_t *e;

	if (u->n < u->cap)
		return TW_OK;
	g = realloc(u->groups, cap * sizeof(*g));
	if (!g)
		return TW_ERR_NOMEM;
	u->groups = g;
	e = realloc(u->expires_ms, cap * sizeof(*e));
	if (!e)
		return TW_ERR_NOMEM;
	u->expires_ms = e;
	u->cap = cap;
	return TW_OK;
}

/* Records group for the user's later connections; ttl_s -1: no limit. */
static void ops__record(struct tw_hub *h, const char *user, const char *group, long long ttl_s)
{
	int64_t now = hub__now(), expires = ttl_s > 0 ? now + (int64_t)ttl_s * 1000 : 0;
	struct ops_user *u = ops__user_get(h, user);
	long i;

	if (!u)
		return;
	ops__prune(u, now);
	i = ops__find(u, group);
	if (i >= 0) {
		u->expires_ms[i] = expires;
		return;
	}
	if (u->n >= OPS_MAX_USER_GROUPS) {
		tw_warn("ops: user '%.64s' is in %d groups already: group '%.64s' is not recorded "
			"for its later connections", user, OPS_MAX_USER_GROUPS, group);
	} else if (ops__grow(u) != TW_OK || !(u->groups[u->n] = strdup(group))) {
		tw_warn("ops: out of memory recording group '%.64s' of user '%.64s'", group, user);
	} else {
		u->expires_ms[u->n++] = expires;
	}
	ops__drop_if_empty(h, user, u);
}

static void ops__unrecord(struct tw_hub *h, const char *user, const char *group)
{
	struct ops_user *u = tw_strmap_get(&h->user_groups, user);
	long i = u ? ops__find(u, group) : -1;

	if (i < 0)
		return;
	ops__unrecord_at(u, (size_t)i);
	ops__drop_if_empty(h, user, u);
}

static int ops__live(const struct hub_conn *c)
{
	return c && (c->state == HUB_CONN_HANDSHAKE || c->state == HUB_CONN_OPEN);
}

static void ops__join(struct hub_conn *c, const char *group)
{
	if (hub__group_join(c, group) != TW_OK) {
		tw_warn("ops: out of memory adding connection %s to group '%.64s'", c->id, group);
		return;
	}
	HUB_COUNT(c->hub, group_joins);
}

static void ops__leave(struct hub_conn *c, const char *group)
{
	if (hub__group_leave(c, group) == TW_OK)
		HUB_COUNT(c->hub, group_leaves);
}

static void ops__leave_all(struct hub_conn *c)
{
	/* hub__group_leave frees an emptied group (and its name) after the lookup. */
	while (c->ngroups)
		ops__leave(c, c->groups[c->ngroups - 1]->group->name);
}

/* A connection of this hub, open or opening; NULL when it lives elsewhere. */
static struct hub_conn *ops__conn(struct tw_hub *h, const struct tw_envelope *env)
{
	struct hub_conn *c = tw_strmap_get(&h->conns, env->connection);

	if (ops__live(c))
		return c;
	tw_debug("ops: %s: connection %.64s is not open on this hub", tw_envelope_op_name(env->op),
		 env->connection);
	return NULL;
}

static void ops__close(struct tw_hub *h, const struct tw_envelope *env)
{
	struct hub_conn *c = ops__conn(h, env);
	int reason = env->reason && *env->reason;

	if (!c)
		return;
	/* The full reason goes to the log and the SignalR Close; the WebSocket
	 * close frame gets a short ASCII text (its payload is limited). */
	snprintf(c->reason, sizeof(c->reason), "closed through the REST API%s%.100s",
		 reason ? ": " : "", reason ? env->reason : "");
	hub__conn_close(c, reason ? env->reason : "Connection closed by the server.", 0, 1000,
			"closed through the REST API");
}

/* Applies fn to every open connection of a user on this hub. */
static void ops__each_of_user(struct tw_hub *h, const char *user,
			      void (*fn)(struct hub_conn *c, const char *group), const char *group)
{
	struct hub_group *g = hub__user_find(h, user);

	/* Joining and leaving groups never changes the user's member list. */
	for (size_t i = 0; g && i < g->n; i++)
		if (ops__live(g->members[i]->conn))
			fn(g->members[i]->conn, group);
}

static void ops__leave_all_cb(struct hub_conn *c, const char *unused)
{
	ops__leave_all(c);
}

void hub__ops_apply(struct tw_hub *h, const struct tw_envelope *env)
{
	struct hub_conn *c;

	tw_debug("ops: %s connection=%.64s user=%.64s group=%.64s", tw_envelope_op_name(env->op),
		 env->connection ? env->connection : "-", env->user ? env->user : "-",
		 env->group ? env->group : "-");
	switch (env->op) {
	case TW_ENV_ADD_TO_GROUP:
		if ((c = ops__conn(h, env)))
			ops__join(c, env->group);
		break;
	case TW_ENV_REMOVE_FROM_GROUP:
		if ((c = ops__conn(h, env)))
			ops__leave(c, env->group);
		break;
	case TW_ENV_ADD_USER_TO_GROUP:
		ops__each_of_user(h, env->user, ops__join, env->group);
		if (env->ttl != 0) /* ttl 0: the connections open now only */
			ops__record(h, env->user, env->group, env->ttl);
		break;
	case TW_ENV_REMOVE_USER_FROM_GROUP:
		ops__each_of_user(h, env->user, ops__leave, env->group);
		ops__unrecord(h, env->user, env->group);
		break;
	case TW_ENV_REMOVE_USER_FROM_ALL_GROUPS: {
		struct ops_user *u = tw_strmap_del(&h->user_groups, env->user);

		if (u)
			ops__user_free(u);
		ops__each_of_user(h, env->user, ops__leave_all_cb, NULL);
		break;
	}
	case TW_ENV_CLOSE_CONNECTION:
		ops__close(h, env);
		break;
	case TW_ENV_SEND:
		break;
	}
}

void hub__ops_on_open(struct hub_conn *c)
{
	struct ops_user *u = c->user ? tw_strmap_get(&c->hub->user_groups, c->user) : NULL;

	if (!u)
		return;
	ops__prune(u, hub__now());
	for (size_t i = 0; i < u->n; i++) {
		tw_debug("ops: connection %s of user '%.64s' joins recorded group '%.64s'", c->id,
			 c->user, u->groups[i]);
		ops__join(c, u->groups[i]);
	}
	ops__drop_if_empty(c->hub, c->user, u);
}
