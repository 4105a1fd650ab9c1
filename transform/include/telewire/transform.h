/* transform.h -- the ABI between telewire-ingest and transform plugins
 *
 * A plugin is a shared object that exports one function:
 *
 *     const struct tw_transform_plugin *telewire_transform_entry(void);
 *
 * The host opens it with dlopen(RTLD_NOW | RTLD_LOCAL), calls the entry,
 * refuses the plugin unless abi_version == TW_TRANSFORM_ABI_VERSION, then
 * calls init once per configured instance. A plugin links against nothing
 * of the host: everything it needs from the host comes through struct
 * tw_host_api, which only ever grows at its end (check api->size, with
 * TW_HOST_API_HAS, before using a member added after version 1).
 *
 * A record is one telemetry message of one device: a device id, a
 * timestamp, an optional sequence number and named values. Records are
 * opaque; plugins read and change them through the api.
 */
#ifndef TELEWIRE_TRANSFORM_H
#define TELEWIRE_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

#define TW_TRANSFORM_ABI_VERSION 1
#define TW_TRANSFORM_ENTRY "telewire_transform_entry"

struct tw_record;

enum tw_value_type {
	TW_VALUE_NONE = 0,	/* no such key */
	TW_VALUE_NUMBER,
	TW_VALUE_BOOL,
	TW_VALUE_STRING,
};

/* What process() returns. */
enum tw_transform_result {
	TW_TRANSFORM_PASS = 0,	/* hand the (maybe changed) record on */
	TW_TRANSFORM_DROP = 1,	/* stop here: the record goes no further (not an error) */
	TW_TRANSFORM_ERROR = -1,/* this record failed; err says why; it is counted and dropped */
};

/* One "key = value" of the plugin's section in the config file. */
struct tw_option {
	const char *key;
	const char *value;
};

struct tw_host_api {
	size_t size;		/* sizeof(struct tw_host_api) of the host */

	/* level: 0 debug, 1 info, 2 warn, 3 error. One line per call. */
	void (*log)(int level, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));

	const char *(*record_device)(const struct tw_record *r);
	int64_t (*record_ts)(const struct tw_record *r);	/* ms since epoch */
	int64_t (*record_seq)(const struct tw_record *r);	/* -1: none */
	size_t (*record_count)(const struct tw_record *r);
	/* The i-th key, 0 <= i < record_count; NULL past the end. */
	const char *(*record_key)(const struct tw_record *r, size_t i);
	enum tw_value_type (*record_type)(const struct tw_record *r, const char *key);
	/* Each returns 0 and stores the value, or -1 if the key is absent or
	 * of another type. A string stays valid until the record changes. */
	int (*get_number)(const struct tw_record *r, const char *key, double *out);
	int (*get_bool)(const struct tw_record *r, const char *key, int *out);
	int (*get_string)(const struct tw_record *r, const char *key, const char **out);
	/* Each adds the key or replaces its value; the host copies key and
	 * string. Returns 0, or -1 when a record limit (fields, string length)
	 * would be passed. */
	int (*set_number)(struct tw_record *r, const char *key, double v);
	int (*set_bool)(struct tw_record *r, const char *key, int v);
	int (*set_string)(struct tw_record *r, const char *key, const char *v);
	/* Returns 0, or -1 if the key was absent. */
	int (*remove)(struct tw_record *r, const char *key);

	/* Sends an event of its own to the hub, beside the record: method is
	 * the client-side handler name, group the hub group ("alerts"),
	 * json_args a JSON array text. Returns 0 or -1 (not queued). */
	int (*emit)(struct tw_record *r, const char *group, const char *method,
		    const char *json_args);

	/* Sets the conflation key under which the hub keeps only the latest
	 * message of a slow client (for example the device id). */
	int (*set_conflation_key)(struct tw_record *r, const char *key);

	/* Options: the value of key, or def when absent. */
	const char *(*option)(const struct tw_option *opts, size_t nopts,
			      const char *key, const char *def);

	/* ---- added after version 1: check with TW_HOST_API_HAS first ---- */

	/* publish 0 holds the record back from the hub groups of its route: it
	 * still goes through the rest of the pipeline and into history, and
	 * what plugins emitted for it is still sent. Any other value undoes
	 * that. Returns 0. */
	int (*set_publish)(struct tw_record *r, int publish);

	/* New members go here, at the end only. */
};

/* 1 when the host's table has member m (the host is new enough for it). */
#define TW_HOST_API_HAS(api, m) \
	((api)->size >= offsetof(struct tw_host_api, m) + sizeof((api)->m))

struct tw_transform_plugin {
	uint32_t abi_version;	/* TW_TRANSFORM_ABI_VERSION */
	const char *name;	/* short name used in logs and metrics */
	const char *description;

	/* Makes one instance from its options. Returns 0 and sets *state, or
	 * -1 after writing a reason (which names the bad option) into err. */
	int (*init)(const struct tw_host_api *api, const struct tw_option *opts,
		    size_t nopts, void **state, char *err, size_t errlen);

	/* Runs on every record routed to this instance, on one thread at a
	 * time. Returns an enum tw_transform_result; on TW_TRANSFORM_ERROR it
	 * writes a reason into err. */
	int (*process)(void *state, struct tw_record *r, char *err, size_t errlen);

	/* Frees the instance; state may be NULL. */
	void (*cleanup)(void *state);
};

typedef const struct tw_transform_plugin *(*tw_transform_entry_fn)(void);

/* Plugins may be built with -fvisibility=hidden; the entry stays exported.
 * The declaration also spares plugins a prototype of their own. */
#define TW_TRANSFORM_EXPORT __attribute__((visibility("default")))
TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void);

#endif
