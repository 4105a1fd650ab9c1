/* record.c -- telemetry records and the helper table handed to plugins */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "telewire/log.h"
#include "telewire/transform_host.h"

struct record__field {
	char *key;
	enum tw_value_type type;
	double num;
	int b;
	char *str;
};

struct tw_record {
	char *device;
	int64_t ts, seq;
	unsigned flags;
	struct tw_record_limits lim;
	struct record__field *fields;
	size_t n, cap;
	struct tw_record_emit *emits, **emits_tail;
	char *ckey;
	int held;	/* set_publish(r, 0): not for the route's hub groups */
};

int tw_record_new(struct tw_record **out, const char *device, int64_t ts, int64_t seq,
		  unsigned flags, const struct tw_record_limits *lim)
{
	size_t dlen = device ? strlen(device) : 0;
	struct tw_record *r;

	*out = NULL;
	if (dlen == 0 || dlen > TW_RECORD_MAX_DEVICE)
		return TW_ERR_INVAL;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->device = strdup(device))) {
		free(r);
		return TW_ERR_NOMEM;
	}
	r->ts = ts;
	r->seq = seq;
	r->flags = flags;
	r->lim.max_fields = lim && lim->max_fields ? lim->max_fields : 64;
	r->lim.max_string = lim && lim->max_string ? lim->max_string : 256;
	r->emits_tail = &r->emits;
	*out = r;
	return TW_OK;
}

static void record__clear_value(struct record__field *f)
{
	free(f->str);
	f->str = NULL;
}

void tw_record_free(struct tw_record *r)
{
	struct tw_record_emit *e, *next;

	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		record__clear_value(&r->fields[i]);
		free(r->fields[i].key);
	}
	for (e = r->emits; e; e = next) {
		next = e->next;
		free(e->group);
		free(e->method);
		free(e->json_args);
		free(e);
	}
	free(r->fields);
	free(r->ckey);
	free(r->device);
	free(r);
}

const char *tw_record_device(const struct tw_record *r) { return r->device; }
int64_t tw_record_ts(const struct tw_record *r) { return r->ts; }
int64_t tw_record_seq(const struct tw_record *r) { return r->seq; }
unsigned tw_record_flags(const struct tw_record *r) { return r->flags; }
size_t tw_record_count(const struct tw_record *r) { return r->n; }
const struct tw_record_emit *tw_record_emits(const struct tw_record *r) { return r->emits; }
const char *tw_record_conflation_key(const struct tw_record *r) { return r->ckey; }
int tw_record_publish(const struct tw_record *r) { return !r->held; }

const char *tw_record_key(const struct tw_record *r, size_t i)
{
	return i < r->n ? r->fields[i].key : NULL;
}

static struct record__field *record__find(const struct tw_record *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->fields[i].key, key) == 0)
			return &r->fields[i];
	return NULL;
}

enum tw_value_type tw_record_type(const struct tw_record *r, const char *key)
{
	const struct record__field *f = record__find(r, key);

	return f ? f->type : TW_VALUE_NONE;
}

int tw_record_get_number(const struct tw_record *r, const char *key, double *out)
{
	const struct record__field *f = record__find(r, key);

	if (!f || f->type != TW_VALUE_NUMBER)
		return TW_ERR_NOTFOUND;
	*out = f->num;
	return TW_OK;
}

int tw_record_get_bool(const struct tw_record *r, const char *key, int *out)
{
	const struct record__field *f = record__find(r, key);

	if (!f || f->type != TW_VALUE_BOOL)
		return TW_ERR_NOTFOUND;
	*out = f->b;
	return TW_OK;
}

int tw_record_get_string(const struct tw_record *r, const char *key, const char **out)
{
	const struct record__field *f = record__find(r, key);

	if (!f || f->type != TW_VALUE_STRING)
		return TW_ERR_NOTFOUND;
	*out = f->str;
	return TW_OK;
}

/* The field for key, added when absent; NULL with *rc set on failure. */
static struct record__field *record__slot(struct tw_record *r, const char *key, int *rc)
{
	struct record__field *f = record__find(r, key);
	size_t klen = strlen(key);

	if (f)
		return f;
	*rc = klen == 0 ? TW_ERR_INVAL : TW_ERR_LIMIT;
	if (klen == 0 || klen > TW_RECORD_MAX_KEY || r->n >= r->lim.max_fields)
		return NULL;
	*rc = TW_ERR_NOMEM;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct record__field *nf = realloc(r->fields, cap * sizeof(*nf));

		if (!nf)
			return NULL;
		r->fields = nf;
		r->cap = cap;
	}
	f = &r->fields[r->n];
	memset(f, 0, sizeof(*f));
	if (!(f->key = strdup(key)))
		return NULL;
	r->n++;
	return f;
}

int tw_record_set_number(struct tw_record *r, const char *key, double v)
{
	struct record__field *f;
	int rc = TW_OK;

	if (!isfinite(v))
		return TW_ERR_INVAL;
	if (!(f = record__slot(r, key, &rc)))
		return rc;
	record__clear_value(f);
	f->type = TW_VALUE_NUMBER;
	f->num = v;
	return TW_OK;
}

int tw_record_set_bool(struct tw_record *r, const char *key, int v)
{
	struct record__field *f;
	int rc = TW_OK;

	if (!(f = record__slot(r, key, &rc)))
		return rc;
	record__clear_value(f);
	f->type = TW_VALUE_BOOL;
	f->b = v != 0;
	return TW_OK;
}

int tw_record_set_string(struct tw_record *r, const char *key, const char *v)
{
	struct record__field *f;
	char *copy;
	int rc = TW_OK;

	if (strlen(v) > r->lim.max_string)
		return TW_ERR_LIMIT;
	if (!(copy = strdup(v)))
		return TW_ERR_NOMEM;
	if (!(f = record__slot(r, key, &rc))) {
		free(copy);
		return rc;
	}
	record__clear_value(f);
	f->type = TW_VALUE_STRING;
	f->str = copy;
	return TW_OK;
}

int tw_record_remove(struct tw_record *r, const char *key)
{
	struct record__field *f = record__find(r, key);
	size_t i;

	if (!f)
		return TW_ERR_NOTFOUND;
	i = (size_t)(f - r->fields);
	record__clear_value(f);
	free(f->key);
	memmove(f, f + 1, (r->n - i - 1) * sizeof(*f));
	r->n--;
	return TW_OK;
}

/* ---- the table handed to plugins: same calls, -1 for any failure ---- */

static void api__log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (level < TW_LOG_DEBUG || level > TW_LOG_ERROR)
		level = TW_LOG_ERROR;
	tw_log((enum tw_log_level)level, "plugin: %s", line);
}

static int api__get_number(const struct tw_record *r, const char *key, double *out)
{
	return tw_record_get_number(r, key, out) == TW_OK ? 0 : -1;
}

static int api__get_bool(const struct tw_record *r, const char *key, int *out)
{
	return tw_record_get_bool(r, key, out) == TW_OK ? 0 : -1;
}

static int api__get_string(const struct tw_record *r, const char *key, const char **out)
{
	return tw_record_get_string(r, key, out) == TW_OK ? 0 : -1;
}

static int api__set_number(struct tw_record *r, const char *key, double v)
{
	return tw_record_set_number(r, key, v) == TW_OK ? 0 : -1;
}

static int api__set_bool(struct tw_record *r, const char *key, int v)
{
	return tw_record_set_bool(r, key, v) == TW_OK ? 0 : -1;
}

static int api__set_string(struct tw_record *r, const char *key, const char *v)
{
	return tw_record_set_string(r, key, v) == TW_OK ? 0 : -1;
}

static int api__remove(struct tw_record *r, const char *key)
{
	return tw_record_remove(r, key) == TW_OK ? 0 : -1;
}

static int api__emit(struct tw_record *r, const char *group, const char *method,
		     const char *json_args)
{
	struct tw_record_emit *e;

	if (!group || !method || !json_args || !*group || !*method)
		return -1;
	if (!(e = calloc(1, sizeof(*e))))
		return -1;
	e->group = strdup(group);
	e->method = strdup(method);
	e->json_args = strdup(json_args);
	if (!e->group || !e->method || !e->json_args) {
		free(e->group);
		free(e->method);
		free(e->json_args);
		free(e);
		return -1;
	}
	*r->emits_tail = e;
	r->emits_tail = &e->next;
	return 0;
}

static int api__set_conflation_key(struct tw_record *r, const char *key)
{
	char *copy = key ? strdup(key) : NULL;

	if (key && !copy)
		return -1;
	free(r->ckey);
	r->ckey = copy;
	return 0;
}

static int api__set_publish(struct tw_record *r, int publish)
{
	r->held = publish == 0;
	return 0;
}

static const char *api__option(const struct tw_option *opts, size_t nopts, const char *key,
			       const char *def)
{
	for (size_t i = 0; i < nopts; i++)
		if (opts[i].key && strcmp(opts[i].key, key) == 0)
			return opts[i].value;
	return def;
}

static const struct tw_host_api record__api = {
	.size = sizeof(struct tw_host_api),
	.log = api__log,
	.record_device = tw_record_device,
	.record_ts = tw_record_ts,
	.record_seq = tw_record_seq,
	.record_count = tw_record_count,
	.record_key = tw_record_key,
	.record_type = tw_record_type,
	.get_number = api__get_number,
	.get_bool = api__get_bool,
	.get_string = api__get_string,
	.set_number = api__set_number,
	.set_bool = api__set_bool,
	.set_string = api__set_string,
	.remove = api__remove,
	.emit = api__emit,
	.set_conflation_key = api__set_conflation_key,
	.option = api__option,
	.set_publish = api__set_publish,
};

const struct tw_host_api *tw_transform_api(void)
{
	return &record__api;
}
