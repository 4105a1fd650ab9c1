/* test_ingest_journal.c -- the redo log: append, reopen, replay, empty, grow, cut-short and foreign files */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "telewire/error.h"
#include "tw_test.h"

static char path[256];

struct seen {
	int n;
	off_t at[8];
	int64_t wall[8];
	char topic[8][64], payload[8][64];
	size_t len[8];
};

static void collect(void *ctx, off_t at, int64_t wall, const char *topic, const void *payload,
		    size_t len)
{
	struct seen *s = ctx;

	if (s->n >= 8)
		return;
	s->at[s->n] = at;
	s->wall[s->n] = wall;
	snprintf(s->topic[s->n], sizeof(s->topic[0]), "%s", topic);
	memcpy(s->payload[s->n], payload, len < 63 ? len : 63);
	s->payload[s->n][len < 63 ? len : 63] = '\0';
	s->len[s->n] = len;
	s->n++;
}

static int replay(struct ingest_journal *j, struct seen *s, size_t *torn)
{
	size_t n;

	memset(s, 0, sizeof(*s));
	TW_CHECK_INT(ingest__journal_replay(j, collect, s, &n, torn), TW_OK);
	TW_CHECK_INT((int)n, s->n);
	return s->n;
}

static void reopen(struct ingest_journal *j)
{
	char err[256] = "";

	ingest__journal_close(j);
	TW_CHECK_INT(ingest__journal_open(j, path, err, sizeof(err)), TW_OK);
	TW_CHECK_STR(err, "");
}

static void test_append_reopen_replay(void)
{
	struct ingest_journal j;
	struct seen s;
	char err[256];
	size_t torn;
	off_t second;

	unlink(path);
	TW_CHECK_INT(ingest__journal_open(&j, path, err, sizeof(err)), TW_OK);
	TW_CHECK_INT((int)j.size, 0);
	TW_CHECK_INT(ingest__journal_append(&j, 1000, "devices/a/telemetry", "{\"x\":1}", 7), TW_OK);
	second = j.size;
	TW_CHECK_INT(ingest__journal_append(&j, 2000, "devices/b/telemetry", "", 0), TW_OK);
	TW_CHECK_INT(ingest__journal_append(&j, 3000, "d/c", "\0bin\0", 5), TW_OK);
	/* As a restarted ingest finds it after kill -9. */
	reopen(&j);
	TW_CHECK_INT(replay(&j, &s, &torn), 3);
	TW_CHECK_INT((int)torn, 0);
	TW_CHECK_INT((int)s.at[0], 0);
	TW_CHECK_INT((int)s.at[1], (int)second);
	TW_CHECK_INT((int)s.wall[0], 1000);
	TW_CHECK_STR(s.topic[0], "devices/a/telemetry");
	TW_CHECK_STR(s.payload[0], "{\"x\":1}");
	TW_CHECK_STR(s.topic[1], "devices/b/telemetry");
	TW_CHECK_INT((int)s.len[1], 0);
	TW_CHECK_INT((int)s.len[2], 5);
	TW_CHECK(memcmp(s.payload[2], "\0bin\0", 5) == 0);
	/* Emptied: nothing left, now or after a reopen, though the old
	 * records' bytes are still in the file. */
	TW_CHECK_INT(ingest__journal_reset(&j), TW_OK);
	TW_CHECK_INT(replay(&j, &s, &torn), 0);
	reopen(&j);
	TW_CHECK_INT(replay(&j, &s, &torn), 0);
	TW_CHECK_INT((int)torn, 0);
	/* A shorter record over the start of the old ones: only it comes back. */
	TW_CHECK_INT(ingest__journal_append(&j, 4000, "t", "1", 1), TW_OK);
	reopen(&j);
	TW_CHECK_INT(replay(&j, &s, &torn), 1);
	TW_CHECK_STR(s.payload[0], "1");
	TW_CHECK_INT((int)torn, 0);
	ingest__journal_close(&j);
}

static void test_cut_short(void)
{
	struct ingest_journal j;
	struct seen s;
	char err[256];
	size_t torn;
	off_t last;

	unlink(path);
	TW_CHECK_INT(ingest__journal_open(&j, path, err, sizeof(err)), TW_OK);
	TW_CHECK_INT(ingest__journal_append(&j, 1, "devices/a/t", "{\"v\":1}", 7), TW_OK);
	last = j.size;
	TW_CHECK_INT(ingest__journal_append(&j, 2, "devices/a/t", "{\"v\":2}", 7), TW_OK);
	/* The process was killed while copying the second: its payload is
	 * not all there (a byte of it differs). */
	j.map[32 + last + 24 + 16 + 11 + 3] ^= 0x55;
	reopen(&j);
	TW_CHECK_INT(replay(&j, &s, &torn), 1);
	TW_CHECK_STR(s.payload[0], "{\"v\":1}");
	TW_CHECK(torn > 0);
	/* The next message goes where the cut one was. */
	TW_CHECK_INT((int)j.size, (int)last);
	TW_CHECK_INT(ingest__journal_append(&j, 3, "devices/a/t", "{\"v\":3}", 7), TW_OK);
	reopen(&j);
	TW_CHECK_INT(replay(&j, &s, &torn), 2);
	TW_CHECK_STR(s.payload[1], "{\"v\":3}");
	ingest__journal_close(&j);
}

static void test_grows_and_shrinks(void)
{
	struct ingest_journal j;
	struct seen s;
	struct stat st;
	char err[256], *big = malloc(1 << 20);
	size_t torn, n;
	int ok = 1;

	unlink(path);
	memset(big, 'x', 1 << 20);
	TW_CHECK_INT(ingest__journal_open(&j, path, err, sizeof(err)), TW_OK);
	for (int i = 0; i < 100 && ok; i++)
		ok = ingest__journal_append(&j, i, "devices/big/t", big, 1 << 20) == TW_OK;
	TW_CHECK(ok);
	TW_CHECK(j.map_len > (size_t)100 << 20);
	reopen(&j);
	memset(&s, 0, sizeof(s));
	TW_CHECK_INT(ingest__journal_replay(&j, collect, &s, &n, &torn), TW_OK);
	TW_CHECK_INT((int)n, 100);
	TW_CHECK_INT(ingest__journal_reset(&j), TW_OK);
	TW_CHECK_INT(stat(path, &st), 0);
	TW_CHECK(st.st_size <= 16 << 20);
	TW_CHECK_INT(replay(&j, &s, &torn), 0);
	ingest__journal_close(&j);
	free(big);
}

static void test_foreign_file(void)
{
	struct ingest_journal j;
	char err[256] = "";
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	fputs("SQLite format 3, or anything else that is not a journal of ours", f);
	fclose(f);
	TW_CHECK_INT(ingest__journal_open(&j, path, err, sizeof(err)), TW_ERR_IO);
	TW_CHECK(strstr(err, "not a telewire-ingest journal") != NULL);
	TW_CHECK_INT(ingest__journal_open(&j, "/nonexistent-dir/j", err, sizeof(err)), TW_ERR_IO);
	TW_CHECK(strstr(err, "journal /nonexistent-dir/j: cannot open: No such file") != NULL);
}

int main(void)
{
	snprintf(path, sizeof(path), "%s/tw-journal-test-%d", getenv("TMPDIR") ? getenv("TMPDIR")
			: "/tmp", (int)getpid());
	TW_RUN(test_append_reopen_replay);
	TW_RUN(test_cut_short);
	TW_RUN(test_grows_and_shrinks);
	TW_RUN(test_foreign_file);
	unlink(path);
	return TW_TEST_END();
}
