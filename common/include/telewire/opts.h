/* opts.h -- one table of options drives the command line, the config file and --help
 *
 * Every binary describes its settings once, as an array of struct tw_opt.
 * tw_opts_parse() fills them from, in order: the defaults already in the
 * destinations, the INI file named by --config (or the config key of the
 * spec), then the flags. A flag "--max-payload" is the INI key
 * "max_payload" in the option's section. Sections that belong to other
 * binaries are skipped; an unknown key in one of ours is an error.
 */
#ifndef TELEWIRE_OPTS_H
#define TELEWIRE_OPTS_H

#include <stddef.h>

enum tw_opt_type {
	TW_OPT_STRING,	/* dst: char **; the old value is freed if it was set by tw_opts */
	TW_OPT_INT,	/* dst: long long *; checked against [min, max] */
	TW_OPT_DOUBLE,	/* dst: double *; checked against [min, max] */
	TW_OPT_BOOL,	/* dst: int *; "true/false/yes/no/on/off/1/0"; a bare flag means true */
};

struct tw_opt {
	const char *flag;	/* long flag without "--", e.g. "mqtt" */
	const char *section;	/* INI section, e.g. "mqtt"; NULL: command line only */
	const char *key;	/* INI key; NULL: the flag with '-' turned into '_' */
	enum tw_opt_type type;
	void *dst;
	double min, max;	/* for numbers; min == max == 0: no check */
	const char *metavar;	/* shown in --help, e.g. "URI" */
	const char *help;
};

/* A section the program handles itself, e.g. "route fleet" in ingest.
 * Called once per key; returns 0, or a negative tw_error after writing a
 * reason into err. */
typedef int (*tw_opts_section_fn)(void *ctx, const char *section,
				  const char *key, const char *value,
				  char *err, size_t errlen);

struct tw_opts_spec {
	const char *program;	/* "telewire-hub" */
	const char *summary;	/* one line for --help */
	const struct tw_opt *opts;
	size_t nopts;
	const char *section_prefix; /* e.g. "route "; NULL: none */
	tw_opts_section_fn section_fn;
	void *section_ctx;
};

/* Parses argv (and the config file it names). Returns TW_OK; TW_ERR_USAGE
 * after printing --help or --version (the caller exits 0); TW_ERR_CONFIG
 * after printing a specific message to stderr (the caller exits 2).
 * Arguments that are not flags are an error. */
int tw_opts_parse(const struct tw_opts_spec *spec, int argc, char **argv);

/* Frees the strings tw_opts_parse stored. */
void tw_opts_free(const struct tw_opts_spec *spec);

/* Splits "host:port" or "[v6]:port". Returns TW_OK or TW_ERR_INVAL. */
int tw_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
