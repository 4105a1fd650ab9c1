/* loader.c -- opens transform plugins, checks their ABI and makes instances */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "telewire/error.h"
#include "telewire/transform_host.h"

struct tw_transform {
	char *name, *path;
	void *dl;
	const struct tw_transform_plugin *plugin;
	void *state;
};

/* "<dir>/<spec>.so" for a bare name, spec itself for a path. */
static int loader__resolve(const char *spec, const char *dir, char *path, size_t len)
{
	int n;

	if (strchr(spec, '/'))
		n = snprintf(path, len, "%s", spec);
	else
		n = snprintf(path, len, "%s/%s.so", dir && *dir ? dir : ".", spec);
	return n < 0 || (size_t)n >= len ? TW_ERR_LIMIT : TW_OK;
}

static int loader__fail(struct tw_transform *t, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int loader__fail(struct tw_transform *t, char *err, size_t errlen, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "plugin %s (transform '%s'): %s", t->path, t->name, what);
	return TW_ERR_PLUGIN;
}

/* Opens the file and checks the entry point and the ABI version. */
static int loader__open(struct tw_transform *t, char *err, size_t errlen)
{
	tw_transform_entry_fn entry;
	struct stat st;

	if (stat(t->path, &st) != 0)
		return loader__fail(t, err, errlen, "cannot open: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return loader__fail(t, err, errlen, "not a regular file");
	dlerror();
	if (!(t->dl = dlopen(t->path, RTLD_NOW | RTLD_LOCAL)))
		return loader__fail(t, err, errlen, "not a loadable shared object: %s",
				    dlerror());
	*(void **)&entry = dlsym(t->dl, TW_TRANSFORM_ENTRY);
	if (!entry)
		return loader__fail(t, err, errlen, "no entry point %s()",
				    TW_TRANSFORM_ENTRY);
	t->plugin = entry();
	if (!t->plugin)
		return loader__fail(t, err, errlen, "%s() returned NULL", TW_TRANSFORM_ENTRY);
	if (t->plugin->abi_version != TW_TRANSFORM_ABI_VERSION) {
		unsigned v = (unsigned)t->plugin->abi_version;

		t->plugin = NULL;
		return loader__fail(t, err, errlen, "ABI version %u, this host needs %d", v,
				    TW_TRANSFORM_ABI_VERSION);
	}
	if (!t->plugin->init || !t->plugin->process) {
		t->plugin = NULL;
		return loader__fail(t, err, errlen, "init or process is missing");
	}
	return TW_OK;
}

static int loader__init(struct tw_transform *t, const struct tw_option *opts, size_t nopts,
			char *err, size_t errlen)
{
	char why[512] = "";

	if (t->plugin->init(tw_transform_api(), opts, nopts, &t->state, why, sizeof(why)) == 0)
		return TW_OK;
	t->state = NULL;
	return loader__fail(t, err, errlen, "init failed: %s",
			    why[0] ? why : "(the plugin gave no reason)");
}

int tw_transform_open(struct tw_transform **out, const char *instance, const char *spec,
		      const char *plugin_dir, const struct tw_option *opts, size_t nopts,
		      char *err, size_t errlen)
{
	struct tw_transform *t = calloc(1, sizeof(*t));
	char path[4096];
	int rc;

	*out = NULL;
	if (!t)
		return TW_ERR_NOMEM;
	if (loader__resolve(spec, plugin_dir, path, sizeof(path)) != TW_OK) {
		snprintf(err, errlen, "plugin path for '%s' is too long", spec);
		free(t);
		return TW_ERR_PLUGIN;
	}
	t->path = strdup(path);
	t->name = strdup(instance ? instance : spec);
	if (!t->path || !t->name)
		rc = TW_ERR_NOMEM;
	else if ((rc = loader__open(t, err, errlen)) == TW_OK)
		rc = loader__init(t, opts, nopts, err, errlen);
	if (rc != TW_OK) {
		tw_transform_close(t);
		return rc;
	}
	*out = t;
	return TW_OK;
}

void tw_transform_close(struct tw_transform *t)
{
	if (!t)
		return;
	if (t->plugin && t->plugin->cleanup && t->state)
		t->plugin->cleanup(t->state);
	if (t->dl)
		dlclose(t->dl);
	free(t->name);
	free(t->path);
	free(t);
}

const char *tw_transform_name(const struct tw_transform *t) { return t->name; }
const char *tw_transform_path(const struct tw_transform *t) { return t->path; }

int tw_transform_process(struct tw_transform *t, struct tw_record *r, char *err, size_t errlen)
{
	int rc;

	if (errlen)
		err[0] = '\0';
	rc = t->plugin->process(t->state, r, err, errlen);
	if (rc == TW_TRANSFORM_PASS || rc == TW_TRANSFORM_DROP)
		return rc;
	if (errlen && !err[0])
		snprintf(err, errlen, "failed (the plugin gave no reason)");
	return TW_TRANSFORM_ERROR;
}
