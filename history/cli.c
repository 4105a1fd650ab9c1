/* cli.c -- telewire-history: list devices and keys, query values from the store */
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "telewire/history.h"
#include "telewire/opts.h"

struct cli {
	char *db, *device, *keys, *format, *order;
	long long start, end, limit;
	const char *command;
	struct tw_history *h;
	json_t *json;		/* --format json: an array of names or of {key, ts, value} */
};

static int cli__print_name(void *ctx, const char *name)
{
	struct cli *c = ctx;

	if (c->json)
		json_array_append_new(c->json, json_string(name));
	else
		printf("%s\n", name);
	return 0;
}

static void cli__csv_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void cli__print_value(const struct tw_history_row *row, int csv)
{
	if (row->type == TW_VALUE_NUMBER)
		printf("%.15g", row->num);
	else if (row->type == TW_VALUE_BOOL)
		printf("%s", row->b ? "true" : "false");
	else if (csv)
		cli__csv_string(row->str);
	else
		printf("%s", row->str);
}

static json_t *cli__json_value(const struct tw_history_row *row)
{
	if (row->type == TW_VALUE_NUMBER)
		return json_real(row->num);
	if (row->type == TW_VALUE_BOOL)
		return json_boolean(row->b);
	return json_string(row->str);
}

static int cli__print_row(void *ctx, const struct tw_history_row *row)
{
	struct cli *c = ctx;

	if (c->json) {
		json_array_append_new(c->json, json_pack("{s:s,s:I,s:o}", "key", row->key, "ts",
			(json_int_t)row->ts, "value", cli__json_value(row)));
		return 0;
	}
	if (strcmp(c->format, "csv") == 0) {
		cli__csv_string(row->key);
		printf(",%" PRId64 ",", row->ts);
		cli__print_value(row, 1);
	} else {
		printf("%-15" PRId64 " %-20s ", row->ts, row->key);
		cli__print_value(row, 0);
	}
	putchar('\n');
	return 0;
}

/* Runs the query once per key of --keys, in the order given. */
static int cli__query_keys(struct cli *c)
{
	struct tw_history_query q = { c->device, NULL, c->start, c->end, (size_t)c->limit,
				      strcmp(c->order, "desc") == 0 };
	char *keys = strdup(c->keys), *k, *comma;
	int rc = keys ? TW_OK : TW_ERR_NOMEM;

	for (k = keys; k && rc == TW_OK; k = comma ? comma + 1 : NULL) {
		if ((comma = strchr(k, ',')) != NULL)
			*comma = '\0';
		if (!*k)
			continue;
		q.key = k;
		rc = tw_history_query(c->h, &q, cli__print_row, c);
	}
	free(keys);
	return rc;
}

static int cli__query(struct cli *c)
{
	if (!c->device || !c->keys) {
		fprintf(stderr, "telewire-history: query needs --device and --keys\n");
		return 2;
	}
	if (strcmp(c->format, "csv") == 0)
		printf("key,ts,value\n");
	else if (!c->json)
		printf("%-15s %-20s %s\n", "ts", "key", "value");
	return cli__query_keys(c);
}

static int cli__command_run(struct cli *c)
{
	if (strcmp(c->command, "devices") == 0)
		return tw_history_devices(c->h, cli__print_name, c);
	if (strcmp(c->command, "keys") == 0) {
		if (!c->device) {
			fprintf(stderr, "telewire-history: keys needs --device\n");
			return 2;
		}
		return tw_history_keys(c->h, c->device, cli__print_name, c);
	}
	return cli__query(c);
}

/* Runs the command; with --format json its output is one JSON array. */
static int cli__run(struct cli *c)
{
	int rc;

	if (strcmp(c->format, "json") == 0 && !(c->json = json_array()))
		return TW_ERR_NOMEM;
	rc = cli__command_run(c);
	if (c->json && rc == TW_OK) {
		json_dumpf(c->json, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17));
		putchar('\n');
	}
	json_decref(c->json);
	return rc;
}

/* Takes the one word that is not a flag or a flag's value out of argv. */
static const char *cli__command(int *argc, char **argv)
{
	const char *cmd = NULL;
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		int flag = strncmp(argv[i], "--", 2) == 0;

		if (!cmd && !flag) {
			cmd = argv[i];
			continue;
		}
		argv[out++] = argv[i];
		if (flag && !strchr(argv[i], '=') && strcmp(argv[i], "--help") &&
		    strcmp(argv[i], "--version") && i + 1 < *argc)
			argv[out++] = argv[++i];
	}
	*argc = out;
	return cmd;
}

static int cli__check(struct cli *c)
{
	static const char *const cmds[] = { "devices", "keys", "query" };
	int ok = 0;

	for (size_t i = 0; c->command && i < 3; i++)
		ok |= strcmp(c->command, cmds[i]) == 0;
	if (!ok) {
		fprintf(stderr, "telewire-history: expected a command: devices, keys or query "
			"(see --help)\n");
		return 2;
	}
	if (!c->db || !*c->db) {
		fprintf(stderr, "telewire-history: --db FILE is required\n");
		return 2;
	}
	if (strcmp(c->format, "table") && strcmp(c->format, "csv") && strcmp(c->format, "json")) {
		fprintf(stderr, "telewire-history: --format: expected table, csv or json\n");
		return 2;
	}
	if (strcmp(c->order, "asc") && strcmp(c->order, "desc")) {
		fprintf(stderr, "telewire-history: --order: expected asc or desc\n");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { .start = 0, .end = INT64_MAX, .limit = 10000 };
	const struct tw_opt opts[] = {
		{ "db", "history", "db", TW_OPT_STRING, &c.db, 0, 0, "FILE", "the SQLite history file" },
		{ "device", NULL, NULL, TW_OPT_STRING, &c.device, 0, 0, "ID", "device id (keys, query)" },
		{ "keys", NULL, NULL, TW_OPT_STRING, &c.keys, 0, 0, "K1,K2", "keys to query" },
		{ "start", NULL, NULL, TW_OPT_INT, &c.start, 0, 9.2e18, "MS", "first ts, ms since epoch (default 0)" },
		{ "end", NULL, NULL, TW_OPT_INT, &c.end, 0, 9.3e18, "MS", "last ts, ms since epoch (default: no end)" },
		{ "limit", NULL, NULL, TW_OPT_INT, &c.limit, 1, 1e9, "N", "rows per key (default 10000)" },
		{ "order", NULL, NULL, TW_OPT_STRING, &c.order, 0, 0, "asc|desc", "by ts (default asc)" },
		{ "format", NULL, NULL, TW_OPT_STRING, &c.format, 0, 0, "table|csv|json", "output (default table)" },
	};
	const struct tw_opts_spec spec = { "telewire-history",
		"Query the telemetry history: COMMAND is devices, keys or query.",
		opts, sizeof(opts) / sizeof(opts[0]), NULL, NULL, NULL };
	char err[512];
	int rc;

	c.command = cli__command(&argc, argv);
	rc = tw_opts_parse(&spec, argc, argv);
	if (rc != TW_OK) {
		tw_opts_free(&spec);
		return rc == TW_ERR_USAGE ? 0 : 2;
	}
	c.format = c.format ? c.format : "table";
	c.order = c.order ? c.order : "asc";
	if ((rc = cli__check(&c)) == 0) {
		if (tw_history_open(c.db, TW_HISTORY_READONLY, &c.h, err, sizeof(err)) != TW_OK) {
			fprintf(stderr, "telewire-history: %s\n", err);
			rc = 1;
		} else if ((rc = cli__run(&c)) != 0 && rc != 2) {
			fprintf(stderr, "telewire-history: %s: %s\n", tw_strerror(rc),
				tw_history_errmsg(c.h));
			rc = 1;
		}
		tw_history_close(c.h);
	}
	tw_opts_free(&spec);
	return rc;
}
