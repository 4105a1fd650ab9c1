/* journal.c -- append, empty and replay ingest's redo log (see journal.h) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "telewire/error.h"

#define JOURNAL_MAGIC 0x324a5754u	/* "TWJ2" read as little-endian */
#define JOURNAL_RECORD 0x52575754u	/* "TWWR" */
#define JOURNAL_MIN_LEN (16u << 20)	/* the file's size to start with, and to shrink to */
#define JOURNAL_MAX_BODY (300u << 20)	/* above any --max-payload plus a topic */
#define JOURNAL_FNV_SEED 14695981039346656037ULL

struct journal__file {
	uint32_t magic, version;
	uint64_t epoch;
	unsigned char pad[16];
};

struct journal__head {
	uint32_t magic, body_len;
	uint64_t epoch, check;
};

/* The part of the body before the topic. */
struct journal__meta {
	int64_t wall_ms;
	uint32_t topic_len, pad;
};

#define JOURNAL_DATA sizeof(struct journal__file)	/* where records start */

static uint64_t journal__fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Makes the file len bytes, its blocks reserved, and maps it. */
static int journal__map(struct ingest_journal *j, size_t len)
{
	void *m;
	int rc;

	if (j->map && munmap(j->map, j->map_len) != 0)
		return TW_ERR_IO;
	j->map = NULL;
	if (len < j->map_len && ftruncate(j->fd, (off_t)len) != 0)
		return TW_ERR_IO;
	if ((rc = posix_fallocate(j->fd, 0, (off_t)len)) != 0) {
		errno = rc;
		len = j->map_len;	/* map what there was again */
	}
	m = len ? mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0) : MAP_FAILED;
	if (m == MAP_FAILED)
		return TW_ERR_IO;
	j->map = m;
	j->map_len = len;
	return rc == 0 ? TW_OK : TW_ERR_IO;
}

/* The record at off of this epoch: its length, or 0 when there is none;
 * *torn is set when one was begun but is not whole. */
static size_t journal__record(const struct ingest_journal *j, size_t off, int *torn)
{
	struct journal__head head;
	size_t left = j->map_len - off;

	*torn = 0;
	if (left < sizeof(head))
		return 0;
	memcpy(&head, j->map + off, sizeof(head));
	if (head.magic != JOURNAL_RECORD || head.epoch != j->epoch)
		return 0;
	*torn = 1;
	if (head.body_len < sizeof(struct journal__meta) || head.body_len > JOURNAL_MAX_BODY ||
	    head.body_len > left - sizeof(head))
		return 0;
	if (journal__fnv(JOURNAL_FNV_SEED ^ head.epoch, j->map + off + sizeof(head),
			 head.body_len) != head.check)
		return 0;
	*torn = 0;
	return sizeof(head) + head.body_len;
}

int ingest__journal_open(struct ingest_journal *j, const char *path, char *err, size_t errlen)
{
	struct journal__file file = { .magic = JOURNAL_MAGIC, .version = 1, .epoch = 1 };
	struct stat st;
	size_t off, len;
	int torn;

	memset(j, 0, sizeof(*j));
	if (!(j->path = strdup(path))) {
		snprintf(err, errlen, "journal %s: out of memory", path);
		return TW_ERR_NOMEM;
	}
	j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (j->fd < 0 || fstat(j->fd, &st) != 0) {
		snprintf(err, errlen, "journal %s: cannot open: %s", path, strerror(errno));
		ingest__journal_close(j);
		return TW_ERR_IO;
	}
	if (journal__map(j, (size_t)st.st_size < JOURNAL_MIN_LEN ? JOURNAL_MIN_LEN
								 : (size_t)st.st_size) != TW_OK) {
		snprintf(err, errlen, "journal %s: cannot reserve %zu bytes: %s", path,
			 (size_t)JOURNAL_MIN_LEN, strerror(errno));
		ingest__journal_close(j);
		return TW_ERR_IO;
	}
	if (st.st_size >= (off_t)sizeof(file)) {
		memcpy(&file, j->map, sizeof(file));
		if (file.magic != JOURNAL_MAGIC || file.version != 1) {
			snprintf(err, errlen, "journal %s: not a telewire-ingest journal (move it "
				 "away, or give another --journal)", path);
			ingest__journal_close(j);
			return TW_ERR_IO;
		}
	} else {
		memcpy(j->map, &file, sizeof(file));
	}
	j->epoch = file.epoch;
	for (off = JOURNAL_DATA; (len = journal__record(j, off, &torn)) > 0; off += len)
		;
	j->size = (off_t)(off - JOURNAL_DATA);
	return TW_OK;
}

void ingest__journal_close(struct ingest_journal *j)
{
	if (j->map)
		munmap(j->map, j->map_len);
	j->map = NULL;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	free(j->path);
	j->path = NULL;
}

int ingest__journal_append(struct ingest_journal *j, int64_t wall_ms, const char *topic,
			   const void *payload, size_t len)
{
	size_t tlen = strlen(topic), body = sizeof(struct journal__meta) + tlen + len;
	size_t off = JOURNAL_DATA + (size_t)j->size, need = off + sizeof(struct journal__head) + body;
	struct journal__meta meta = { .wall_ms = wall_ms, .topic_len = (uint32_t)tlen };
	struct journal__head head = { .magic = JOURNAL_RECORD, .body_len = (uint32_t)body,
				      .epoch = j->epoch };
	unsigned char *p;

	if (body > JOURNAL_MAX_BODY) {
		errno = EFBIG;
		return TW_ERR_IO;
	}
	if (need > j->map_len) {
		size_t grow = j->map_len * 2 > need ? j->map_len * 2 : need + JOURNAL_MIN_LEN;

		if (journal__map(j, grow) != TW_OK)
			return TW_ERR_IO;
	}
	/* The body first and the head last: a copy cut short leaves a head
	 * that does not check, or none. */
	p = j->map + off + sizeof(head);
	memcpy(p, &meta, sizeof(meta));
	memcpy(p + sizeof(meta), topic, tlen);
	memcpy(p + sizeof(meta) + tlen, payload, len);
	head.check = journal__fnv(JOURNAL_FNV_SEED ^ j->epoch, p, body);
	memcpy(j->map + off, &head, sizeof(head));
	j->size += (off_t)(sizeof(head) + body);
	return TW_OK;
}

int ingest__journal_reset(struct ingest_journal *j)
{
	struct journal__file file;

	if (j->size == 0)
		return TW_OK;
	memcpy(&file, j->map, sizeof(file));
	file.epoch = ++j->epoch;
	memcpy(j->map, &file, sizeof(file));
	j->size = 0;
	/* A long outage may have grown the file: give the space back. */
	if (j->map_len > 4 * (size_t)JOURNAL_MIN_LEN)
		return journal__map(j, JOURNAL_MIN_LEN);
	return TW_OK;
}

int ingest__journal_replay(struct ingest_journal *j, ingest_journal_fn fn, void *ctx,
			   size_t *n, size_t *torn)
{
	size_t off = JOURNAL_DATA, end = JOURNAL_DATA + (size_t)j->size, len;
	struct journal__head head;
	struct journal__meta meta;
	int cut;

	*n = 0;
	for (; off < end && (len = journal__record(j, off, &cut)) > 0; off += len) {
		const unsigned char *body = j->map + off + sizeof(head);
		char *topic;

		memcpy(&head, j->map + off, sizeof(head));
		memcpy(&meta, body, sizeof(meta));
		if (meta.topic_len > head.body_len - sizeof(meta))
			break;
		if (!(topic = strndup((const char *)body + sizeof(meta), meta.topic_len)))
			return TW_ERR_NOMEM;
		fn(ctx, (off_t)(off - JOURNAL_DATA), meta.wall_ms, topic,
		   body + sizeof(meta) + meta.topic_len,
		   head.body_len - sizeof(meta) - meta.topic_len);
		free(topic);
		(*n)++;
	}
	journal__record(j, end, &cut);
	*torn = off < end ? end - off : cut ? sizeof(head) : 0;
	return TW_OK;
}
