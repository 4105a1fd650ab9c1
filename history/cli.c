/* cli.c -- telewire-history: list devices and keys, query values and aggregates, roll up, apply retention */
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/history.h"
#include "telewire/opts.h"

struct cli {
	char *db, *device, *keys, *format, *order, *agg_name;
	long long start, end, limit, interval, days, before, batch, rollup_days;
	int vacuum;
	enum tw_history_agg agg;
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
				      strcmp(c->order, "desc") == 0, c->agg, c->interval };
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

static int cli__query_check(struct cli *c)
{
	struct tw_history_query q = { .start = c->start, .end = c->end, .agg = c->agg,
				      .interval = c->interval };
	int64_t nb = tw_history_buckets(&q);

	if (!c->device || !c->keys) {
		fprintf(stderr, "telewire-history: query needs --device and --keys\n");
		return 2;
	}
	if (c->start > c->end) {
		fprintf(stderr, "telewire-history: --start (%lld) is after --end (%lld)\n", c->start,
			c->end);
		return 2;
	}
	if (c->interval && c->agg == TW_HISTORY_AGG_NONE) {
		fprintf(stderr, "telewire-history: --interval needs --agg (AVG, MIN, MAX, SUM or "
			"COUNT)\n");
		return 2;
	}
	if (nb > TW_HISTORY_MAX_BUCKETS) {
		fprintf(stderr, "telewire-history: --interval: [--start, --end] spans %" PRId64
			" intervals of %lld ms, more than the cap of %d per query; give --start and "
			"--end, or a longer interval\n", nb, c->interval, TW_HISTORY_MAX_BUCKETS);
		return 2;
	}
	return 0;
}

static int cli__query(struct cli *c)
{
	int rc = cli__query_check(c);

	if (rc != 0)
		return rc;
	if (strcmp(c->format, "csv") == 0)
		printf("key,ts,value\n");
	else if (!c->json)
		printf("%-15s %-20s %s\n", "ts", "key", "value");
	return cli__query_keys(c);
}

/* Sleeps as long as the last batch held the write lock: ingest gets at
 * least half of the time (SQLite's busy handler does not queue writers). */
static void cli__pace(int64_t since_ms)
{
	int64_t ms = tw_mono_ms() - since_ms;
	struct timespec ts;

	ms = ms < 1 ? 1 : ms > 1000 ? 1000 : ms;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* Gives the free pages back, 1000 per transaction, paced like the deletes. */
static int cli__vacuum(struct cli *c, int64_t *freed, int64_t *left)
{
	int64_t before = 0, t;
	int rc;

	*freed = 0;
	if ((rc = tw_history_vacuum_step(c->h, 0, &before)) != TW_OK)
		return rc;
	*left = before;
	while (c->vacuum && tw_history_vacuum_enabled(c->h) && *left > 0) {
		t = tw_mono_ms();
		if ((rc = tw_history_vacuum_step(c->h, 1000, left)) != TW_OK)
			return rc;
		cli__pace(t);
	}
	*freed = before - *left;
	return TW_OK;
}

/* Runs the rollup pass until nothing is pending, 200 ms per call, paced. */
static int cli__rollup(struct cli *c)
{
	struct tw_history_rollup_stats st = { 0 };
	int64_t t0 = tw_mono_ms(), t;
	int rc;

	do {
		t = tw_mono_ms();
		if ((rc = tw_history_rollup_step(c->h, 200, &st)) == TW_ERR_AGAIN)
			cli__pace(t);
	} while (rc == TW_ERR_AGAIN);
	if (rc != TW_OK)
		return rc;
	printf("rolled up %" PRIu64 " devices: %" PRIu64 " device-hours, %" PRIu64
	       " buckets written in %" PRId64 " ms; nothing is pending\n", st.devices, st.chunks,
	       st.buckets, tw_mono_ms() - t0);
	return TW_OK;
}

/* The rollups' cutoff: --rollup-days, else ten times as old as the samples' one. */
static int64_t cli__rollup_before(const struct cli *c, int64_t now, int64_t before)
{
	int64_t cut = c->rollup_days > 0 ? now - c->rollup_days * 86400000LL
			: before < now ? now - (now - before) * 10 : before;

	return cut > 0 ? cut : 1;	/* 0 would mean "with the samples" */
}

static int cli__retain(struct cli *c)
{
	struct tw_history_retain r = { .batch = (size_t)c->batch };
	int64_t freed, left, t, now = tw_wall_ms();
	int rc;

	r.before = c->before >= 0 ? c->before : now - c->days * 86400000LL;
	r.rollup_before = cli__rollup_before(c, now, r.before);
	do {
		t = tw_mono_ms();
		if ((rc = tw_history_retain_step(c->h, &r)) == TW_ERR_AGAIN)
			cli__pace(t);
	} while (rc == TW_ERR_AGAIN);
	if (rc == TW_OK)
		rc = cli__vacuum(c, &freed, &left);
	if (rc != TW_OK)
		return rc;
	printf("deleted %" PRIu64 " values and %" PRIu64 " duplicate marks older than %" PRId64
	       " (ms since the epoch), and %" PRIu64 " rollup buckets that end by %" PRId64
	       "; removed %" PRIu64 " devices left without data\n", r.samples, r.seen, r.before,
	       r.rollups, r.rollup_before < r.before ? r.rollup_before : r.before, r.devices);
	if (c->vacuum && !tw_history_vacuum_enabled(c->h))
		printf("cannot give pages back: the file was created without "
		       "auto_vacuum=INCREMENTAL (see docs/config.md); ");
	else if (c->vacuum)
		printf("gave %" PRId64 " free pages back to the file system; ", freed);
	printf("%" PRId64 " free pages stay in the file for new data\n", left);
	return TW_OK;
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
	if (strcmp(c->command, "retain") == 0)
		return cli__retain(c);
	if (strcmp(c->command, "rollup") == 0)
		return cli__rollup(c);
	return cli__query(c);
}

/* Runs the command; with --format json its output is one JSON array. */
static int cli__run(struct cli *c)
{
	int rc;

	if (strcmp(c->format, "json") == 0 && strcmp(c->command, "retain") &&
	    strcmp(c->command, "rollup") &&
	    !(c->json = json_array()))
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

static int cli__check_command(struct cli *c)
{
	static const char *const cmds[] = { "devices", "keys", "query", "retain", "rollup" };
	int ok = 0;

	for (size_t i = 0; c->command && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		ok |= strcmp(c->command, cmds[i]) == 0;
	if (!ok) {
		fprintf(stderr, "telewire-history: expected a command: devices, keys, query, rollup "
			"or retain (see --help)\n");
		return 2;
	}
	if (strcmp(c->command, "retain") == 0 && (c->days > 0) == (c->before >= 0)) {
		fprintf(stderr, "telewire-history: retain needs --days N or --before MS (one of "
			"them)\n");
		return 2;
	}
	if (c->rollup_days > 0 && c->days > 0 && c->rollup_days < c->days) {
		fprintf(stderr, "telewire-history: --rollup-days (%lld) is less than --days (%lld): "
			"rollups are kept at least as long as the values\n", c->rollup_days, c->days);
		return 2;
	}
	return 0;
}

static int cli__check(struct cli *c)
{
	if (cli__check_command(c) != 0)
		return 2;
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
	if (c->agg_name && tw_history_agg_parse(c->agg_name, &c->agg) != TW_OK) {
		fprintf(stderr, "telewire-history: --agg: expected NONE, AVG, MIN, MAX, SUM or COUNT, "
			"got \"%s\"\n", c->agg_name);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { .start = 0, .end = INT64_MAX, .limit = 10000, .before = -1,
			 .batch = 10000 };
	const struct tw_opt opts[] = {
		{ "db", "history", "db", TW_OPT_STRING, &c.db, 0, 0, "FILE", "the SQLite history file" },
		{ "device", NULL, NULL, TW_OPT_STRING, &c.device, 0, 0, "ID", "device id (keys, query)" },
		{ "keys", NULL, NULL, TW_OPT_STRING, &c.keys, 0, 0, "K1,K2", "keys to query" },
		{ "start", NULL, NULL, TW_OPT_INT, &c.start, 0, 9.2e18, "MS", "first ts, ms since epoch (default 0)" },
		{ "end", NULL, NULL, TW_OPT_INT, &c.end, 0, 9.3e18, "MS", "last ts, ms since epoch (default: no end)" },
		{ "limit", NULL, NULL, TW_OPT_INT, &c.limit, 1, 1e9, "N", "rows per key (default 10000)" },
		{ "order", NULL, NULL, TW_OPT_STRING, &c.order, 0, 0, "asc|desc", "by ts (default asc)" },
		{ "format", NULL, NULL, TW_OPT_STRING, &c.format, 0, 0, "table|csv|json", "output (default table)" },
		{ "agg", NULL, NULL, TW_OPT_STRING, &c.agg_name, 0, 0, "NONE|AVG|MIN|MAX|SUM|COUNT",
		  "aggregate each interval (default NONE: the values)" },
		{ "interval", NULL, NULL, TW_OPT_INT, &c.interval, 1, 9.2e18, "MS",
		  "width of the aggregated intervals, from --start (default: one over the range)" },
		{ "days", NULL, NULL, TW_OPT_INT, &c.days, 1, 1000000, "N",
		  "retain: keep the last N days, delete what is older" },
		{ "before", NULL, NULL, TW_OPT_INT, &c.before, 0, 9.2e18, "MS",
		  "retain: delete what is older than this ts (instead of --days)" },
		{ "batch", NULL, NULL, TW_OPT_INT, &c.batch, 1, 10000000, "N",
		  "retain: rows deleted per transaction (default 10000)" },
		{ "rollup-days", NULL, NULL, TW_OPT_INT, &c.rollup_days, 1, 1000000, "N",
		  "retain: keep the 1-minute and 1-hour rollups of the last N days (default: 10 times --days)" },
		{ "vacuum", NULL, NULL, TW_OPT_BOOL, &c.vacuum, 0, 0, NULL,
		  "retain: give the freed pages back to the file system (default: keep them for new data)" },
	};
	const struct tw_opts_spec spec = { "telewire-history",
		"Query the telemetry history: COMMAND is devices, keys, query, rollup or retain.",
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
		int ro = strcmp(c.command, "retain") && strcmp(c.command, "rollup")
			 ? TW_HISTORY_READONLY : TW_HISTORY_NOCREATE;

		if (tw_history_open(c.db, ro, &c.h, err, sizeof(err)) != TW_OK) {
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
