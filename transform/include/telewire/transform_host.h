/* transform_host.h -- the host side of transforms: records, plugin loading, pipelines
 *
 * Plugins see only transform.h. The host (telewire-ingest, tests) builds
 * records with the tw_record_* calls below, opens plugin instances with
 * tw_transform_open and runs them in order with a tw_pipeline.
 *
 * Threads: a record belongs to one thread at a time. An instance is run by
 * one thread at a time (the plugin contract); the caller serialises.
 */
#ifndef TELEWIRE_TRANSFORM_HOST_H
#define TELEWIRE_TRANSFORM_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "telewire/transform.h"

/* Longest field name a record takes, in bytes. */
#define TW_RECORD_MAX_KEY 128
/* Longest device id, in bytes. */
#define TW_RECORD_MAX_DEVICE 128

struct tw_record_limits {
	size_t max_fields;	/* fields per record; 0: 64 */
	size_t max_string;	/* bytes per string value; 0: 256 */
};

/* Set when ts was not given by the device but taken at reception. */
#define TW_RECORD_TS_RECEIVED 0x1

/* An event a plugin emitted beside its record (see tw_host_api.emit). */
struct tw_record_emit {
	char *group, *method, *json_args;
	struct tw_record_emit *next;
};

/* Makes an empty record. The device id is copied; seq -1 means none.
 * Returns TW_OK, TW_ERR_INVAL (empty or too long device id) or TW_ERR_NOMEM. */
int tw_record_new(struct tw_record **out, const char *device, int64_t ts, int64_t seq,
		  unsigned flags, const struct tw_record_limits *lim);
void tw_record_free(struct tw_record *r);

const char *tw_record_device(const struct tw_record *r);
int64_t tw_record_ts(const struct tw_record *r);
int64_t tw_record_seq(const struct tw_record *r);
unsigned tw_record_flags(const struct tw_record *r);
size_t tw_record_count(const struct tw_record *r);
/* The i-th key in insertion order; NULL past the end. */
const char *tw_record_key(const struct tw_record *r, size_t i);
enum tw_value_type tw_record_type(const struct tw_record *r, const char *key);
/* Return TW_OK, or TW_ERR_NOTFOUND when absent or of another type. */
int tw_record_get_number(const struct tw_record *r, const char *key, double *out);
int tw_record_get_bool(const struct tw_record *r, const char *key, int *out);
int tw_record_get_string(const struct tw_record *r, const char *key, const char **out);
/* Add or replace. Return TW_OK, TW_ERR_LIMIT (too many fields, string or
 * key too long), TW_ERR_INVAL (empty key, non-finite number) or TW_ERR_NOMEM. */
int tw_record_set_number(struct tw_record *r, const char *key, double v);
int tw_record_set_bool(struct tw_record *r, const char *key, int v);
int tw_record_set_string(struct tw_record *r, const char *key, const char *v);
int tw_record_remove(struct tw_record *r, const char *key);
/* Events emitted by plugins, in order; NULL when none. Owned by the record. */
const struct tw_record_emit *tw_record_emits(const struct tw_record *r);
/* The conflation key a plugin set, or NULL. */
const char *tw_record_conflation_key(const struct tw_record *r);
/* 1 unless a plugin held the record back from the route's hub groups
 * (tw_host_api.set_publish(r, 0)); such a record is still stored, and its
 * emitted events still go. */
int tw_record_publish(const struct tw_record *r);

/* The helper table handed to plugins; static, valid forever. */
const struct tw_host_api *tw_transform_api(void);

/* One configured plugin instance. */
struct tw_transform;

/* Finds the plugin (a path when spec contains '/', else
 * "<plugin_dir>/<spec>.so"), opens it, checks its ABI and calls init with
 * opts. instance names the instance in messages. Returns TW_OK, or
 * TW_ERR_PLUGIN after writing into err a reason that names the file. */
int tw_transform_open(struct tw_transform **out, const char *instance, const char *spec,
		      const char *plugin_dir, const struct tw_option *opts, size_t nopts,
		      char *err, size_t errlen);
/* Calls the plugin's cleanup and closes it; NULL is fine. */
void tw_transform_close(struct tw_transform *t);
const char *tw_transform_name(const struct tw_transform *t);
const char *tw_transform_path(const struct tw_transform *t);
/* Runs process() once; returns an enum tw_transform_result. */
int tw_transform_process(struct tw_transform *t, struct tw_record *r, char *err, size_t errlen);

/* An ordered chain of instances; it does not own them. */
struct tw_pipeline;

struct tw_pipeline_stats {
	unsigned long long passed, dropped, failed;
};

int tw_pipeline_new(struct tw_pipeline **out);
void tw_pipeline_free(struct tw_pipeline *p);
int tw_pipeline_append(struct tw_pipeline *p, struct tw_transform *t);
size_t tw_pipeline_length(const struct tw_pipeline *p);
/* Runs r through every instance in order. Returns TW_TRANSFORM_PASS,
 * TW_TRANSFORM_DROP (an instance dropped it: not an error), or
 * TW_TRANSFORM_ERROR after writing "<instance>: <reason>" into err; the
 * caller drops that one record. Counts each outcome. */
int tw_pipeline_run(struct tw_pipeline *p, struct tw_record *r, char *err, size_t errlen);
void tw_pipeline_get_stats(const struct tw_pipeline *p, struct tw_pipeline_stats *out);

#endif
