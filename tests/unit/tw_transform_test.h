/* tw_transform_test.h -- helpers for the tests of built-in plugins: open, feed records, read events */
#ifndef TW_TRANSFORM_TEST_H
#define TW_TRANSFORM_TEST_H

#include <stdio.h>
#include <string.h>

#include "telewire/error.h"
#include "telewire/transform_host.h"
#include "tw_test.h"

/* Opens the built-in plugin name with opts; NULL (and a failed check) when it cannot. */
static inline struct tw_transform *tt_open(const char *name, const struct tw_option *opts,
					   size_t nopts)
{
	struct tw_transform *t = NULL;
	char err[1024] = "";

	if (tw_transform_open(&t, name, name, TW_PLUGIN_DIR, opts, nopts, err, sizeof(err)))
		fprintf(stderr, "  open %s: %s\n", name, err);
	TW_CHECK(t != NULL);
	return t;
}

/* Checks that opening plugin with opts fails, with want in the message. */
static inline void tt_init_error(const char *plugin, const struct tw_option *opts, size_t n,
				 const char *want)
{
	struct tw_transform *t = NULL;
	char err[1024] = "";

	TW_CHECK_INT(tw_transform_open(&t, "x", plugin, TW_PLUGIN_DIR, opts, n, err, sizeof(err)),
		     TW_ERR_PLUGIN);
	TW_CHECK(strstr(err, want) != NULL);
	if (!strstr(err, want))
		fprintf(stderr, "  wanted \"%s\" in: %s\n", want, err);
	tw_transform_close(t);
}

/* A record of device at ts with one number. */
static inline struct tw_record *tt_rec(const char *device, int64_t ts, const char *key, double v)
{
	struct tw_record *r = NULL;

	TW_CHECK_INT(tw_record_new(&r, device, ts, -1, 0, NULL), TW_OK);
	if (r && key)
		TW_CHECK_INT(tw_record_set_number(r, key, v), TW_OK);
	return r;
}

/* Runs t on r; the result, with the reason in err (may be NULL). */
static inline int tt_run(struct tw_transform *t, struct tw_record *r, char *err, size_t errlen)
{
	char buf[512];

	return err ? tw_transform_process(t, r, err, errlen)
		   : tw_transform_process(t, r, buf, sizeof(buf));
}

/* How many events r carries. */
static inline size_t tt_nemits(const struct tw_record *r)
{
	size_t n = 0;

	for (const struct tw_record_emit *e = tw_record_emits(r); e; e = e->next)
		n++;
	return n;
}

/* The i-th event of r, or NULL. */
static inline const struct tw_record_emit *tt_emit(const struct tw_record *r, size_t i)
{
	const struct tw_record_emit *e = tw_record_emits(r);

	while (e && i--)
		e = e->next;
	return e;
}

/* The number out holds in r, or -999 when it holds none. */
static inline double tt_num(const struct tw_record *r, const char *out)
{
	double v = -999;

	tw_record_get_number(r, out, &v);
	return v;
}

/* The bool out holds in r: 0, 1, or -1 when it holds none. */
static inline int tt_bool(const struct tw_record *r, const char *out)
{
	int b = -1;

	tw_record_get_bool(r, out, &b);
	return b;
}

#endif
