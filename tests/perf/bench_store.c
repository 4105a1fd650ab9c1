/* bench_store.c -- history writes under other SQLite settings, in another layout, or to a journal */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "store_internal.h"
#include "telewire/error.h"

#define PROG "bench_store"
#define NKEYS 5

struct bench {
	char *path, *layout;
	long long count, devices, batch, cache_mib, autocheckpoint, exclusive;
};

/* Fills b from the flags: 0, 1 after --help, or -1 after a message. */
static int bench__parse(struct bench *b, int argc, char **argv)
{
	const struct tw_opt opts[] = {
		BENCH_STR("db", &b->path, "FILE", "the file to write (made anew)"),
		BENCH_INT("count", &b->count, 1, 10000000, "N", "records"),
		BENCH_INT("devices", &b->devices, 1, 99999, "N", "devices, in turn"),
		BENCH_INT("batch", &b->batch, 1, 1000000, "N", "records per transaction"),
		BENCH_INT("cache-mib", &b->cache_mib, 0, 65536, "N", "page cache in MiB (0: SQLite's default)"),
		BENCH_INT("autocheckpoint", &b->autocheckpoint, 0, 100000000, "PAGES",
			  "wal_autocheckpoint (0: none; default 1000, SQLite's)"),
		BENCH_INT("exclusive", &b->exclusive, 0, 1, "0|1", "locking_mode=EXCLUSIVE"),
		BENCH_STR("layout", &b->layout, "values|message|journal", "what to write"),
	};
	int rc = bench_opts(PROG,
		"Writes N records of five values (what ingest stores per load-publisher message),\n"
		"--batch records per transaction, and prints one RESULT line. values: the history\n"
		"store itself (tw_history_seen + tw_history_put), with the given cache size,\n"
		"wal_autocheckpoint and locking mode; message: one row per record in a table of\n"
		"its own; journal: one write() per record to an append-only file, no SQLite.",
		opts, sizeof(opts) / sizeof(*opts), argc, argv);

	if (rc)
		return rc;
	if (strcmp(b->layout, "values") != 0 && strcmp(b->layout, "message") != 0 &&
	    strcmp(b->layout, "journal") != 0) {
		fprintf(stderr, PROG ": --layout: expected values, message or journal, got \"%s\"\n",
			b->layout);
		return -1;
	}
	return 0;
}

static void bench__unlink(const char *path)
{
	char side[4096];

	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

/* Record i: device i % devices, its seq, ts 1 ms apart per device, five values. */
static struct tw_record *bench__record(const struct bench *b, long long i)
{
	static const char *const keys[NKEYS - 1] = { "temp", "speed", "speed_mph", "speed_avg" };
	long long seq = 1 + i / b->devices;
	struct tw_record *r;
	char dev[32];

	snprintf(dev, sizeof(dev), "bench-%05lld", 1 + i % b->devices);
	if (tw_record_new(&r, dev, 1700000000000LL + seq, seq, 0, NULL) != TW_OK)
		return NULL;
	for (int k = 0; k < NKEYS - 1; k++)
		tw_record_set_number(r, keys[k], 20.0 + (double)((seq + k) % 60));
	tw_record_set_bool(r, "temp_alert", 0);
	return r;
}

static int bench__pragmas(const struct bench *b, sqlite3 *db)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "PRAGMA wal_autocheckpoint=%lld;%s%s", b->autocheckpoint,
		 b->exclusive ? "PRAGMA locking_mode=EXCLUSIVE;" : "",
		 b->cache_mib ? "PRAGMA cache_size=" : "");
	if (b->cache_mib) {
		size_t n = strlen(sql);

		snprintf(sql + n, sizeof(sql) - n, "-%lld;", b->cache_mib * 1024);
	}
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* The history store as ingest uses it: seen + put, batch records per transaction. */
static int bench__values(const struct bench *b, struct tw_record **recs)
{
	struct tw_history *h;
	char err[512];
	int rc = 0;

	if (tw_history_open(b->path, 0, &h, err, sizeof(err)) != TW_OK) {
		fprintf(stderr, PROG ": %s\n", err);
		return -1;
	}
	if (bench__pragmas(b, h->db) != 0)
		rc = -1;
	for (long long i = 0; rc == 0 && i < b->count; i++) {
		if (i % b->batch == 0 && tw_history_begin(h) != TW_OK)
			rc = -1;
		if (rc == 0 && (tw_history_seen(h, recs[i]) != TW_OK ||
				tw_history_put(h, recs[i]) != TW_OK))
			rc = -1;
		if (rc == 0 && (i % b->batch == b->batch - 1 || i == b->count - 1) &&
		    tw_history_commit(h) != TW_OK)
			rc = -1;
	}
	if (rc)
		fprintf(stderr, PROG ": %s\n", tw_history_errmsg(h));
	tw_history_close(h);
	return rc;
}

/* One row per record: the values as JSON text, keyed by (device, seq). */
static int bench__message(const struct bench *b, struct tw_record **recs)
{
	sqlite3 *db;
	sqlite3_stmt *ins = NULL, *begin = NULL, *commit = NULL;
	char text[256];
	int rc = -1;

	if (sqlite3_open(b->path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			 "CREATE TABLE messages(device TEXT NOT NULL, seq INTEGER NOT NULL,"
			 " ts INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY(device, seq))"
			 " WITHOUT ROWID;", NULL, NULL, NULL) != SQLITE_OK ||
	    bench__pragmas(b, db) != 0 ||
	    sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO messages VALUES(?1, ?2, ?3, ?4)", -1,
			       &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) != SQLITE_OK)
		goto out;
	for (long long i = 0; i < b->count; i++) {
		struct tw_record *r = recs[i];
		double t = 0, s = 0;
		int n;

		if (i % b->batch == 0 && (sqlite3_step(begin) != SQLITE_DONE || sqlite3_reset(begin)))
			goto out;
		tw_record_get_number(r, "temp", &t);
		tw_record_get_number(r, "speed", &s);
		n = snprintf(text, sizeof(text), "{\"temp\":%.17g,\"speed\":%.17g,\"speed_mph\":%.17g,"
			     "\"speed_avg\":%.17g,\"temp_alert\":false}", t, s, s * 0.621371, s);
		sqlite3_bind_text(ins, 1, tw_record_device(r), -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, tw_record_seq(r));
		sqlite3_bind_int64(ins, 3, tw_record_ts(r));
		sqlite3_bind_text(ins, 4, text, n, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE || sqlite3_reset(ins) != SQLITE_OK)
			goto out;
		if ((i % b->batch == b->batch - 1 || i == b->count - 1) &&
		    (sqlite3_step(commit) != SQLITE_DONE || sqlite3_reset(commit)))
			goto out;
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, PROG ": %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(ins);
	sqlite3_finalize(begin);
	sqlite3_finalize(commit);
	sqlite3_close(db);
	return rc;
}

/* One write() per record of a text line to an append-only file (no fsync,
 * like synchronous=NORMAL in WAL mode: it survives a crash of the process). */
static int bench__journal(const struct bench *b, struct tw_record **recs)
{
	int fd = open(b->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	char line[256];

	if (fd < 0)
		return -1;
	for (long long i = 0; i < b->count; i++) {
		struct tw_record *r = recs[i];
		double t = 0, s = 0;
		int n;

		tw_record_get_number(r, "temp", &t);
		tw_record_get_number(r, "speed", &s);
		n = snprintf(line, sizeof(line), "%s %lld %lld {\"temp\":%.17g,\"speed\":%.17g}\n",
			     tw_record_device(r), (long long)tw_record_seq(r),
			     (long long)tw_record_ts(r), t, s);
		if (write(fd, line, (size_t)n) != n) {
			close(fd);
			return -1;
		}
	}
	return close(fd);
}

int main(int argc, char **argv)
{
	struct bench b = { "/tmp/bench_store.db", "values", 100000, 1000, 1, 0, 1000, 0 };
	struct tw_record **recs;
	int64_t wall, cpu;
	int rc;

	rc = bench__parse(&b, argc, argv);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (!(recs = calloc((size_t)b.count, sizeof(*recs))))
		return 1;
	for (long long i = 0; i < b.count; i++)
		if (!(recs[i] = bench__record(&b, i)))
			return 1;
	bench__unlink(b.path);
	wall = bench_mono_us();
	cpu = bench_cpu_us();
	rc = strcmp(b.layout, "values") == 0 ? bench__values(&b, recs)
	     : strcmp(b.layout, "message") == 0 ? bench__message(&b, recs) : bench__journal(&b, recs);
	wall = bench_mono_us() - wall;
	cpu = bench_cpu_us() - cpu;
	if (rc == 0)
		printf("RESULT layout=%s records=%lld devices=%lld batch=%lld cache_mib=%lld "
		       "autocheckpoint=%lld exclusive=%lld seconds=%.3f rate=%.0f cpu_rate=%.0f\n",
		       b.layout, b.count, b.devices, b.batch, b.cache_mib, b.autocheckpoint,
		       b.exclusive, (double)wall / 1e6, (double)b.count * 1e6 / (double)wall,
		       (double)b.count * 1e6 / (double)cpu);
	for (long long i = 0; i < b.count; i++)
		tw_record_free(recs[i]);
	free(recs);
	bench__unlink(b.path);
	return rc == 0 ? 0 : 1;
}
