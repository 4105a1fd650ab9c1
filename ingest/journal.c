/* journal.c -- append, empty and replay ingest's redo log (see journal.h) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "journal.h"
#include "telewire/error.h"

#define JOURNAL_MAGIC 0x314a5754u	/* "TWJ1" read as little-endian */
#define JOURNAL_MAX_BODY (300u << 20)	/* above any --max-payload plus a topic */

struct journal__head {
	uint32_t magic, body_len;
	uint64_t check;
};

/* The part of the body before the topic. */
struct journal__meta {
	int64_t wall_ms;
	uint32_t topic_len, pad;
};

static uint64_t journal__fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

#define JOURNAL_FNV_SEED 14695981039346656037ULL

int ingest__journal_open(struct ingest_journal *j, const char *path, char *err, size_t errlen)
{
	struct stat st;

	memset(j, 0, sizeof(*j));
	j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (j->fd < 0 || fstat(j->fd, &st) != 0) {
		snprintf(err, errlen, "journal %s: cannot open: %s", path, strerror(errno));
		if (j->fd >= 0)
			close(j->fd);
		j->fd = -1;
		return TW_ERR_IO;
	}
	if (!(j->path = strdup(path))) {
		snprintf(err, errlen, "journal %s: out of memory", path);
		close(j->fd);
		j->fd = -1;
		return TW_ERR_NOMEM;
	}
	j->size = st.st_size;
	if (lseek(j->fd, 0, SEEK_END) < 0) {
		snprintf(err, errlen, "journal %s: cannot seek: %s", path, strerror(errno));
		ingest__journal_close(j);
		return TW_ERR_IO;
	}
	return TW_OK;
}

void ingest__journal_close(struct ingest_journal *j)
{
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
	struct journal__meta meta = { .wall_ms = wall_ms, .topic_len = (uint32_t)tlen };
	struct journal__head head = { .magic = JOURNAL_MAGIC, .body_len = (uint32_t)body };
	struct iovec iov[4] = {
		{ &head, sizeof(head) }, { &meta, sizeof(meta) },
		{ (void *)topic, tlen }, { (void *)payload, len },
	};
	size_t total = sizeof(head) + body;
	ssize_t w;

	if (body > JOURNAL_MAX_BODY) {
		errno = EFBIG;
		return TW_ERR_IO;
	}
	head.check = journal__fnv(journal__fnv(journal__fnv(JOURNAL_FNV_SEED, &meta,
							    sizeof(meta)), topic, tlen),
				  payload, len);
	do
		w = writev(j->fd, iov, 4);
	while (w < 0 && errno == EINTR);
	if (w == (ssize_t)total) {
		j->size += (off_t)total;
		return TW_OK;
	}
	/* A short write (the disk filled up): cut it off, so the next record
	 * starts where replay expects one. */
	if (w >= 0) {
		if (ftruncate(j->fd, j->size) == 0)
			lseek(j->fd, j->size, SEEK_SET);
		errno = ENOSPC;
	}
	return TW_ERR_IO;
}

int ingest__journal_reset(struct ingest_journal *j)
{
	if (j->size == 0)
		return TW_OK;
	if (ftruncate(j->fd, 0) != 0 || lseek(j->fd, 0, SEEK_SET) != 0)
		return TW_ERR_IO;
	j->size = 0;
	return TW_OK;
}

/* Reads exactly n bytes at off; 1, 0 at a short read, or -1. */
static int journal__read(int fd, off_t off, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		got += (size_t)r;
	}
	return 1;
}

int ingest__journal_replay(struct ingest_journal *j, ingest_journal_fn fn, void *ctx,
			   size_t *n, size_t *torn)
{
	struct journal__head head;
	struct journal__meta meta;
	char *body = NULL, *topic;
	size_t cap = 0, plen;
	off_t off = 0;
	int rc = TW_OK, r = 1;

	*n = 0;
	*torn = 0;
	while (off < j->size) {
		if ((r = journal__read(j->fd, off, &head, sizeof(head))) <= 0)
			break;
		if (head.magic != JOURNAL_MAGIC || head.body_len < sizeof(meta) ||
		    head.body_len > JOURNAL_MAX_BODY)
			break;
		if (head.body_len + 1 > cap) {
			char *p = realloc(body, head.body_len + 1);

			if (!p) {
				rc = TW_ERR_NOMEM;
				break;
			}
			body = p;
			cap = head.body_len + 1;
		}
		if ((r = journal__read(j->fd, off + (off_t)sizeof(head), body, head.body_len)) <= 0)
			break;
		if (journal__fnv(JOURNAL_FNV_SEED, body, head.body_len) != head.check)
			break;
		memcpy(&meta, body, sizeof(meta));
		if (meta.topic_len > head.body_len - sizeof(meta))
			break;
		plen = head.body_len - sizeof(meta) - meta.topic_len;
		if (!(topic = strndup(body + sizeof(meta), meta.topic_len))) {
			rc = TW_ERR_NOMEM;
			break;
		}
		fn(ctx, off, meta.wall_ms, topic, body + sizeof(meta) + meta.topic_len, plen);
		free(topic);
		(*n)++;
		off += (off_t)(sizeof(head) + head.body_len);
	}
	if (rc == TW_OK && off < j->size) {
		if (r < 0)
			rc = TW_ERR_IO;
		*torn = (size_t)(j->size - off);
	}
	free(body);
	return rc;
}
