/* routes.h -- [transform NAME] and [route NAME] config sections: plugins, pipelines, groups */
#ifndef TELEWIRE_INGEST_ROUTES_H
#define TELEWIRE_INGEST_ROUTES_H

#include <stddef.h>

#include "telewire/strmap.h"
#include "telewire/transform_host.h"

struct ingest_transform {
	char *name, *plugin;		/* [transform NAME] plugin = ... */
	struct tw_option *opts;		/* the other keys, in file order */
	size_t nopts;
	struct tw_transform *inst;	/* after ingest__routes_load */
};

struct ingest_route {
	char *name, *match;		/* match: fnmatch glob on the device id */
	char **transforms, **groups;
	size_t ntransforms, ngroups;
	struct tw_pipeline *pipeline;	/* after ingest__routes_load */
};

struct ingest_routes {
	struct ingest_transform *t;
	struct ingest_route *r;
	size_t nt, nr;
	int loaded;
	/* device -> its route (a marker for none), so that a
	 * message costs one lookup, not a glob per route; emptied when it
	 * holds INGEST_ROUTE_CACHE_MAX devices */
	struct tw_strmap cache;
};

#define INGEST_ROUTE_CACHE_MAX 100000

/* A tw_opts_section_fn for sections "transform NAME" and "route NAME";
 * ctx is a struct ingest_routes. Other sections are TW_ERR_CONFIG. */
int ingest__routes_section(void *ctx, const char *section, const char *key, const char *value,
			   char *err, size_t errlen);

/* Adds the built-in routes when none are configured, checks every route,
 * opens every transform and builds the pipelines. Returns TW_OK, or
 * TW_ERR_CONFIG / TW_ERR_PLUGIN after writing into err a reason that names
 * the section and, for plugins, the file. */
int ingest__routes_load(struct ingest_routes *rt, const char *plugin_dir, char *err,
			size_t errlen);

/* The first route (in config order) whose match fits device, or NULL.
 * Not thread-safe (the cache): ingest calls it under its message lock. */
struct ingest_route *ingest__routes_match(struct ingest_routes *rt, const char *device);

void ingest__routes_free(struct ingest_routes *rt);

#endif
