/* routes.c -- transform and route sections: parsing, plugin opening, device matching */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"
#include "telewire/error.h"

static int routes__grow(void **arr, size_t n, size_t size)
{
	void *p = realloc(*arr, (n + 1) * size);

	if (!p)
		return TW_ERR_NOMEM;
	*arr = p;
	memset((char *)p + n * size, 0, size);
	return TW_OK;
}

static struct ingest_transform *routes__transform(struct ingest_routes *rt, const char *name,
						  int add)
{
	for (size_t i = 0; i < rt->nt; i++)
		if (strcmp(rt->t[i].name, name) == 0)
			return &rt->t[i];
	if (!add || routes__grow((void **)&rt->t, rt->nt, sizeof(*rt->t)) != TW_OK)
		return NULL;
	if (!(rt->t[rt->nt].name = strdup(name)))
		return NULL;
	return &rt->t[rt->nt++];
}

static struct ingest_route *routes__route(struct ingest_routes *rt, const char *name)
{
	for (size_t i = 0; i < rt->nr; i++)
		if (strcmp(rt->r[i].name, name) == 0)
			return &rt->r[i];
	if (routes__grow((void **)&rt->r, rt->nr, sizeof(*rt->r)) != TW_OK)
		return NULL;
	if (!(rt->r[rt->nr].name = strdup(name)))
		return NULL;
	return &rt->r[rt->nr++];
}

/* Splits "a, b ,c" into trimmed words; empty words are an error. */
static int routes__split(const char *value, char ***out, size_t *n, char *err, size_t errlen)
{
	const char *p = value;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (len && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0)
			return snprintf(err, errlen, "empty name in list \"%s\"", value),
			       TW_ERR_CONFIG;
		if (routes__grow((void **)out, *n, sizeof(char *)) != TW_OK ||
		    !((*out)[*n] = strndup(p, len)))
			return TW_ERR_NOMEM;
		(*n)++;
		if (!end)
			return TW_OK;
		p = end + 1;
	}
}

static int routes__set_string(char **dst, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return TW_ERR_NOMEM;
	free(*dst);
	*dst = copy;
	return TW_OK;
}

static int routes__transform_key(struct ingest_transform *t, const char *key,
				 const char *value)
{
	struct tw_option *o;

	if (strcmp(key, "plugin") == 0)
		return routes__set_string(&t->plugin, value);
	if (routes__grow((void **)&t->opts, t->nopts, sizeof(*t->opts)) != TW_OK)
		return TW_ERR_NOMEM;
	o = &t->opts[t->nopts];
	o->key = strdup(key);
	o->value = strdup(value);
	t->nopts++;
	return o->key && o->value ? TW_OK : TW_ERR_NOMEM;
}

static int routes__route_key(struct ingest_route *r, const char *key, const char *value,
			     char *err, size_t errlen)
{
	if (strcmp(key, "match") == 0)
		return routes__set_string(&r->match, value);
	if (strcmp(key, "transforms") == 0)
		return routes__split(value, &r->transforms, &r->ntransforms, err, errlen);
	if (strcmp(key, "groups") == 0)
		return routes__split(value, &r->groups, &r->ngroups, err, errlen);
	snprintf(err, errlen, "unknown key (known: match, transforms, groups)");
	return TW_ERR_CONFIG;
}

int ingest__routes_section(void *ctx, const char *section, const char *key, const char *value,
			   char *err, size_t errlen)
{
	struct ingest_routes *rt = ctx;
	struct ingest_transform *t;
	struct ingest_route *r;

	if (strncmp(section, "transform ", 10) == 0 && section[10]) {
		if (!(t = routes__transform(rt, section + 10, 1)))
			return TW_ERR_NOMEM;
		return routes__transform_key(t, key, value);
	}
	if (strncmp(section, "route ", 6) == 0 && section[6]) {
		if (!(r = routes__route(rt, section + 6)))
			return TW_ERR_NOMEM;
		return routes__route_key(r, key, value, err, errlen);
	}
	snprintf(err, errlen, "expected a section [transform NAME] or [route NAME]");
	return TW_ERR_CONFIG;
}

/* Without routes in the config: vehicles to "fleet", sensors to "temperature". */
static int routes__defaults(struct ingest_routes *rt)
{
	static const char *const def[][3] = {
		{ "vehicles", "veh-*", "fleet" },
		{ "temperature", "temp-*", "temperature" },
	};
	char err[64];

	for (size_t i = 0; i < 2; i++) {
		struct ingest_route *r = routes__route(rt, def[i][0]);

		if (!r || routes__set_string(&r->match, def[i][1]) != TW_OK ||
		    routes__split(def[i][2], &r->groups, &r->ngroups, err, sizeof(err)) != TW_OK)
			return TW_ERR_NOMEM;
	}
	return TW_OK;
}

static int routes__open_transforms(struct ingest_routes *rt, const char *plugin_dir,
				   char *err, size_t errlen)
{
	for (size_t i = 0; i < rt->nt; i++) {
		struct ingest_transform *t = &rt->t[i];

		if (!t->plugin || !*t->plugin)
			return snprintf(err, errlen, "[transform %s]: plugin = NAME or PATH is "
					"required", t->name), TW_ERR_CONFIG;
		if (tw_transform_open(&t->inst, t->name, t->plugin, plugin_dir, t->opts,
				      t->nopts, err, errlen) != TW_OK)
			return TW_ERR_PLUGIN;
	}
	return TW_OK;
}

static int routes__build(struct ingest_routes *rt, struct ingest_route *r, char *err,
			 size_t errlen)
{
	if (!r->match || !*r->match)
		return snprintf(err, errlen, "[route %s]: match = GLOB is required", r->name),
		       TW_ERR_CONFIG;
	if (tw_pipeline_new(&r->pipeline) != TW_OK)
		return TW_ERR_NOMEM;
	for (size_t i = 0; i < r->ntransforms; i++) {
		struct ingest_transform *t = routes__transform(rt, r->transforms[i], 0);

		if (!t)
			return snprintf(err, errlen, "[route %s]: transforms: no section "
					"[transform %s]", r->name, r->transforms[i]),
			       TW_ERR_CONFIG;
		if (tw_pipeline_append(r->pipeline, t->inst) != TW_OK)
			return TW_ERR_NOMEM;
	}
	return TW_OK;
}

int ingest__routes_load(struct ingest_routes *rt, const char *plugin_dir, char *err,
			size_t errlen)
{
	int rc = rt->nr == 0 ? routes__defaults(rt) : TW_OK;

	if (rc == TW_OK)
		rc = routes__open_transforms(rt, plugin_dir, err, errlen);
	for (size_t i = 0; rc == TW_OK && i < rt->nr; i++)
		rc = routes__build(rt, &rt->r[i], err, errlen);
	if (rc == TW_ERR_NOMEM)
		snprintf(err, errlen, "out of memory");
	rt->loaded = rc == TW_OK;
	return rc;
}

static char routes__none;	/* the cache's value for a device no route matches */

struct ingest_route *ingest__routes_match(struct ingest_routes *rt, const char *device)
{
	void *hit = tw_strmap_get(&rt->cache, device);
	struct ingest_route *route = NULL;

	if (hit)
		return hit == &routes__none ? NULL : hit;
	for (size_t i = 0; i < rt->nr && !route; i++)
		if (fnmatch(rt->r[i].match, device, 0) == 0)
			route = &rt->r[i];
	if (rt->cache.count >= INGEST_ROUTE_CACHE_MAX)
		tw_strmap_free(&rt->cache);
	/* Out of memory: not cached, matched again next time. */
	tw_strmap_put(&rt->cache, device, route ? (void *)route : &routes__none);
	return route;
}

static void routes__free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void ingest__routes_free(struct ingest_routes *rt)
{
	for (size_t i = 0; i < rt->nr; i++) {
		struct ingest_route *r = &rt->r[i];

		tw_pipeline_free(r->pipeline);
		routes__free_list(r->transforms, r->ntransforms);
		routes__free_list(r->groups, r->ngroups);
		free(r->name);
		free(r->match);
	}
	for (size_t i = 0; i < rt->nt; i++) {
		struct ingest_transform *t = &rt->t[i];

		tw_transform_close(t->inst);
		for (size_t j = 0; j < t->nopts; j++) {
			free((char *)t->opts[j].key);
			free((char *)t->opts[j].value);
		}
		free(t->opts);
		free(t->name);
		free(t->plugin);
	}
	free(rt->r);
	free(rt->t);
	tw_strmap_free(&rt->cache);
	memset(rt, 0, sizeof(*rt));
}
