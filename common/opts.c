/* opts.c -- command line, INI config file and --help from one option table */
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telewire/error.h"
#include "telewire/opts.h"

/* Strings stored by tw_opts live in dst; this marks which ones are ours. */
struct opts__owned {
	char **dst;
	char *value;
};
static struct opts__owned owned[128];
static size_t nowned;

static int opts__store_string(char **dst, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return TW_ERR_NOMEM;
	for (size_t i = 0; i < nowned; i++) {
		if (owned[i].dst == dst) {
			free(owned[i].value);
			owned[i].value = copy;
			*dst = copy;
			return TW_OK;
		}
	}
	if (nowned == sizeof(owned) / sizeof(owned[0])) {
		free(copy);
		return TW_ERR_LIMIT;
	}
	owned[nowned].dst = dst;
	owned[nowned++].value = copy;
	*dst = copy;
	return TW_OK;
}

static int opts__parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = 0, 0;
	}
	return -1;
}

/* Sets one option from text; on failure writes why into err. */
static int opts__set(const struct tw_opt *o, const char *value, char *err, size_t errlen)
{
	char *end;
	double d;

	switch (o->type) {
	case TW_OPT_STRING:
		return opts__store_string(o->dst, value);
	case TW_OPT_BOOL:
		if (opts__parse_bool(value, o->dst) == 0)
			return TW_OK;
		snprintf(err, errlen, "expected true or false, got \"%s\"", value);
		return TW_ERR_CONFIG;
	case TW_OPT_INT:
	case TW_OPT_DOUBLE:
		errno = 0;
		if (o->type == TW_OPT_INT)
			d = (double)strtoll(value, &end, 10);
		else
			d = strtod(value, &end);
		if (errno || end == value || *end != '\0' || !isfinite(d)) {
			snprintf(err, errlen, "expected a%s number, got \"%s\"",
				 o->type == TW_OPT_INT ? " whole" : "", value);
			return TW_ERR_CONFIG;
		}
		if ((o->min != 0 || o->max != 0) && (d < o->min || d > o->max)) {
			snprintf(err, errlen, "%s is out of range [%.15g, %.15g]", value,
				 o->min, o->max);
			return TW_ERR_CONFIG;
		}
		if (o->type == TW_OPT_INT)
			*(long long *)o->dst = (long long)d;
		else
			*(double *)o->dst = d;
		return TW_OK;
	}
	return TW_ERR_INVAL;
}

static void opts__key_of(const struct tw_opt *o, char *key, size_t len)
{
	snprintf(key, len, "%s", o->key ? o->key : o->flag);
	for (char *p = key; *p; p++)
		if (*p == '-')
			*p = '_';
}

struct opts__ini {
	const struct tw_opts_spec *spec;
	const char *path;
	int failed;
};

static int opts__owns_section(const struct tw_opts_spec *spec, const char *section)
{
	for (size_t i = 0; i < spec->nopts; i++)
		if (spec->opts[i].section && strcmp(spec->opts[i].section, section) == 0)
			return 1;
	return 0;
}

static int opts__ini_handler(void *user, const char *section, const char *name,
			     const char *value)
{
	struct opts__ini *st = user;
	const struct tw_opts_spec *spec = st->spec;
	char key[64], err[256] = "";
	int rc;

	if (spec->section_prefix && spec->section_fn &&
	    strncmp(section, spec->section_prefix, strlen(spec->section_prefix)) == 0) {
		rc = spec->section_fn(spec->section_ctx, section, name, value, err, sizeof(err));
		goto done;
	}
	if (!opts__owns_section(spec, section))
		return 1; /* another program's section */
	for (size_t i = 0; i < spec->nopts; i++) {
		const struct tw_opt *o = &spec->opts[i];

		if (!o->section || strcmp(o->section, section) != 0)
			continue;
		opts__key_of(o, key, sizeof(key));
		if (strcmp(key, name) == 0) {
			rc = opts__set(o, value, err, sizeof(err));
			goto done;
		}
	}
	snprintf(err, sizeof(err), "unknown key \"%s\" in section [%s]", name, section);
	rc = TW_ERR_CONFIG;
done:
	if (rc != TW_OK) {
		fprintf(stderr, "%s: %s: [%s] %s: %s\n", spec->program, st->path, section,
			name, err[0] ? err : tw_strerror(rc));
		st->failed = 1;
	}
	return 1; /* keep going: report every bad line at once */
}

static int opts__load_file(const struct tw_opts_spec *spec, const char *path)
{
	struct opts__ini st = { spec, path, 0 };
	FILE *f = fopen(path, "r");
	int rc;

	if (!f) {
		fprintf(stderr, "%s: cannot open config file %s: %s\n", spec->program, path,
			strerror(errno));
		return TW_ERR_CONFIG;
	}
	rc = ini_parse_file(f, opts__ini_handler, &st);
	fclose(f);
	if (rc > 0 && !st.failed)
		fprintf(stderr, "%s: %s:%d: syntax error (expected [section] or key = value)\n",
			spec->program, path, rc);
	return rc != 0 || st.failed ? TW_ERR_CONFIG : TW_OK;
}

static void opts__help(const struct tw_opts_spec *spec)
{
	char left[64];

	printf("Usage: %s [OPTIONS]\n%s\n\nOptions:\n", spec->program, spec->summary);
	for (size_t i = 0; i < spec->nopts; i++) {
		const struct tw_opt *o = &spec->opts[i];

		snprintf(left, sizeof(left), "--%s%s%s", o->flag, o->metavar ? " " : "",
			 o->metavar ? o->metavar : "");
		printf("  %-26s %s", left, o->help);
		if (o->section) {
			char key[64];

			opts__key_of(o, key, sizeof(key));
			printf(" [%s] %s", o->section, key);
		}
		printf("\n");
	}
	printf("  %-26s %s\n  %-26s %s\n  %-26s %s\n", "--config FILE",
	       "read settings from an INI file (flags win)", "--help", "show this help",
	       "--version", "show the version");
}

static const struct tw_opt *opts__find_flag(const struct tw_opts_spec *spec, const char *flag,
					    size_t len)
{
	for (size_t i = 0; i < spec->nopts; i++)
		if (strlen(spec->opts[i].flag) == len && strncmp(spec->opts[i].flag, flag, len) == 0)
			return &spec->opts[i];
	return NULL;
}

/* Finds --config before anything else, so that flags win over the file. */
static int opts__config_arg(const struct tw_opts_spec *spec, int argc, char **argv,
			    const char **path)
{
	*path = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "%s: --config needs a file name\n", spec->program);
				return TW_ERR_CONFIG;
			}
			*path = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			*path = argv[i] + 9;
		}
	}
	return TW_OK;
}

static int opts__parse_flag(const struct tw_opts_spec *spec, int argc, char **argv, int *i)
{
	const char *arg = argv[*i] + 2, *eq = strchr(arg, '='), *value;
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct tw_opt *o = opts__find_flag(spec, arg, len);
	char err[256] = "";
	int rc;

	if (!o) {
		fprintf(stderr, "%s: unknown option --%.*s (see --help)\n", spec->program,
			(int)len, arg);
		return TW_ERR_CONFIG;
	}
	if (eq) {
		value = eq + 1;
	} else if (o->type == TW_OPT_BOOL) {
		value = "true";
	} else if (*i + 1 < argc) {
		value = argv[++*i];
	} else {
		fprintf(stderr, "%s: --%s needs a value (%s)\n", spec->program, o->flag,
			o->metavar ? o->metavar : "see --help");
		return TW_ERR_CONFIG;
	}
	rc = opts__set(o, value, err, sizeof(err));
	if (rc != TW_OK)
		fprintf(stderr, "%s: --%s: %s\n", spec->program, o->flag,
			err[0] ? err : tw_strerror(rc));
	return rc;
}

int tw_opts_parse(const struct tw_opts_spec *spec, int argc, char **argv)
{
	const char *config;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			opts__help(spec);
			return TW_ERR_USAGE;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", spec->program, TW_VERSION);
			return TW_ERR_USAGE;
		}
	}
	rc = opts__config_arg(spec, argc, argv, &config);
	if (rc == TW_OK && config)
		rc = opts__load_file(spec, config);
	for (int i = 1; rc == TW_OK && i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0) {
			i++;
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			continue;
		} else if (strncmp(argv[i], "--", 2) == 0 && argv[i][2]) {
			rc = opts__parse_flag(spec, argc, argv, &i);
		} else {
			fprintf(stderr, "%s: unexpected argument \"%s\" (see --help)\n",
				spec->program, argv[i]);
			rc = TW_ERR_CONFIG;
		}
	}
	return rc;
}

void tw_opts_free(const struct tw_opts_spec *spec)
{
	(void)spec;
	for (size_t i = 0; i < nowned; i++) {
		if (*owned[i].dst == owned[i].value)
			*owned[i].dst = NULL;
		free(owned[i].value);
	}
	nowned = 0;
}

int tw_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return TW_ERR_INVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return TW_ERR_INVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return TW_ERR_INVAL;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
		return TW_ERR_INVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return TW_OK;
}
