/* groups.c -- group and user membership: many groups per connection, many connections per user */
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "hub.h"

static struct hub_group *group__get(struct tw_strmap *map, const char *name, int create)
{
	struct hub_group *g = tw_strmap_get(map, name);

	if (g || !create)
		return g;
	g = calloc(1, sizeof(*g));
	if (!g || !(g->name = strdup(name)) || tw_strmap_put(map, name, g) != TW_OK) {
		if (g)
			free(g->name);
		free(g);
		return NULL;
	}
	return g;
}

static int group__grow(void **arr, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap * 2 : 4;
	void *p;

	if (need <= *cap)
		return TW_OK;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * sizeof(void *));
	if (!p)
		return TW_ERR_NOMEM;
	*arr = p;
	*cap = n;
	return TW_OK;
}

/* Adds c to g; returns the member or NULL. */
static struct hub_member *group__add(struct hub_group *g, struct hub_conn *c)
{
	struct hub_member *m;

	if (group__grow((void **)&g->members, &g->cap, g->n + 1) != TW_OK)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->group = g;
	m->conn = c;
	m->gidx = g->n;
	g->members[g->n++] = m;
	return m;
}

static void group__drop_if_empty(struct tw_strmap *map, struct hub_group *g)
{
	if (g->n)
		return;
	tw_strmap_del(map, g->name);
	free(g->members);
	free(g->name);
	free(g);
}

/* Unlinks m from its group (swap-remove); frees an empty group. */
static void group__remove(struct tw_strmap *map, struct hub_member *m)
{
	struct hub_group *g = m->group;

	g->members[m->gidx] = g->members[--g->n];
	g->members[m->gidx]->gidx = m->gidx;
	free(m);
	group__drop_if_empty(map, g);
}

static struct hub_member *group__of_conn(struct hub_conn *c, const char *name)
{
	for (size_t i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i]->group->name, name) == 0)
			return c->groups[i];
	return NULL;
}

int hub__group_join(struct hub_conn *c, const char *name)
{
	struct tw_strmap *map = &c->hub->groups;
	struct hub_group *g;
	struct hub_member *m;

	if (group__of_conn(c, name))
		return TW_OK;
	if (group__grow((void **)&c->groups, &c->capgroups, c->ngroups + 1) != TW_OK)
		return TW_ERR_NOMEM;
	g = group__get(map, name, 1);
	m = g ? group__add(g, c) : NULL;
	if (!m) {
		if (g)
			group__drop_if_empty(map, g);
		return TW_ERR_NOMEM;
	}
	m->cidx = c->ngroups;
	c->groups[c->ngroups++] = m;
	return TW_OK;
}

static void group__leave_member(struct hub_conn *c, struct hub_member *m)
{
	size_t i = m->cidx;

	c->groups[i] = c->groups[--c->ngroups];
	c->groups[i]->cidx = i;
	group__remove(&c->hub->groups, m);
}

int hub__group_leave(struct hub_conn *c, const char *name)
{
	struct hub_member *m = group__of_conn(c, name);

	if (!m)
		return TW_ERR_NOTFOUND;
	group__leave_member(c, m);
	return TW_OK;
}

int hub__user_add(struct hub_conn *c)
{
	struct hub_group *g;

	if (!c->user)
		return TW_OK;
	g = group__get(&c->hub->users, c->user, 1);
	c->user_m = g ? group__add(g, c) : NULL;
	if (g && !c->user_m)
		group__drop_if_empty(&c->hub->users, g);
	return c->user_m ? TW_OK : TW_ERR_NOMEM;
}

void hub__conn_unlink(struct hub_conn *c)
{
	while (c->ngroups)
		group__leave_member(c, c->groups[c->ngroups - 1]);
	free(c->groups);
	c->groups = NULL;
	c->capgroups = 0;
	if (c->user_m)
		group__remove(&c->hub->users, c->user_m);
	c->user_m = NULL;
}

struct hub_group *hub__group_find(struct tw_hub *h, const char *name)
{
	return tw_strmap_get(&h->groups, name);
}

struct hub_group *hub__user_find(struct tw_hub *h, const char *user)
{
	return tw_strmap_get(&h->users, user);
}

static void group__free_cb(void *ctx, const char *key, void *value)
{
	struct hub_group *g = value;

	for (size_t i = 0; i < g->n; i++)
		free(g->members[i]);
	free(g->members);
	free(g->name);
	free(g);
}

void hub__groups_free(struct tw_hub *h)
{
	tw_strmap_each(&h->groups, group__free_cb, NULL);
	tw_strmap_free(&h->groups);
	tw_strmap_each(&h->users, group__free_cb, NULL);
	tw_strmap_free(&h->users);
}
