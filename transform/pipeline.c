/* pipeline.c -- runs a record through a chain of transform instances */
#include <stdio.h>
#include <stdlib.h>

#include "telewire/error.h"
#include "telewire/transform_host.h"

struct tw_pipeline {
	struct tw_transform **steps;
	size_t n, cap;
	struct tw_pipeline_stats stats;
};

int tw_pipeline_new(struct tw_pipeline **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? TW_OK : TW_ERR_NOMEM;
}

void tw_pipeline_free(struct tw_pipeline *p)
{
	if (!p)
		return;
	free(p->steps);
	free(p);
}

int tw_pipeline_append(struct tw_pipeline *p, struct tw_transform *t)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 4;
		struct tw_transform **s = realloc(p->steps, cap * sizeof(*s));

		if (!s)
			return TW_ERR_NOMEM;
		p->steps = s;
		p->cap = cap;
	}
	p->steps[p->n++] = t;
	return TW_OK;
}

size_t tw_pipeline_length(const struct tw_pipeline *p)
{
	return p->n;
}

int tw_pipeline_run(struct tw_pipeline *p, struct tw_record *r, char *err, size_t errlen)
{
	char why[512];

	for (size_t i = 0; i < p->n; i++) {
		int rc = tw_transform_process(p->steps[i], r, why, sizeof(why));

		if (rc == TW_TRANSFORM_DROP) {
			p->stats.dropped++;
			return rc;
		}
		if (rc != TW_TRANSFORM_PASS) {
			p->stats.failed++;
			snprintf(err, errlen, "transform '%s': %s", tw_transform_name(p->steps[i]),
				 why);
			return TW_TRANSFORM_ERROR;
		}
	}
	p->stats.passed++;
	return TW_TRANSFORM_PASS;
}

void tw_pipeline_get_stats(const struct tw_pipeline *p, struct tw_pipeline_stats *out)
{
	*out = p->stats;
}
