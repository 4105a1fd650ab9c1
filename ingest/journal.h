/* journal.h -- the redo log of ingest's open history transaction
 *
 * Paho acknowledges a message when the callback returns, but the history
 * transaction is committed only every --commit-ms (one commit per message
 * would cost more than everything else together). So each accepted
 * message is first appended here, with one write(): once that returns,
 * the message survives the process being killed (the kernel has it, as it
 * has SQLite's WAL under synchronous=NORMAL). After a commit the journal
 * is emptied; at start-up, and after a failed commit, what is in it is
 * replayed through the same path, and records already stored are dropped
 * as duplicates by their (device, seq).
 *
 * A record: magic, body length, FNV-1a 64 of the body; the body is the
 * receive time (wall ms), the topic length, the topic and the payload.
 * Replay stops at the first record that is short or fails its check (a
 * write torn by a power cut) and says so.
 */
#ifndef TELEWIRE_INGEST_JOURNAL_H
#define TELEWIRE_INGEST_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ingest_journal {
	int fd;
	char *path;
	off_t size;		/* bytes appended since the last reset */
};

typedef void (*ingest_journal_fn)(void *ctx, off_t at, int64_t wall_ms, const char *topic,
				  const void *payload, size_t len);

/* Opens (creating) path; TW_OK or TW_ERR_IO with err set. */
int ingest__journal_open(struct ingest_journal *j, const char *path, char *err, size_t errlen);
void ingest__journal_close(struct ingest_journal *j);

/* Appends one message with one write(); TW_OK, or TW_ERR_IO with errno set
 * and the journal as it was before (a short write is cut off again). */
int ingest__journal_append(struct ingest_journal *j, int64_t wall_ms, const char *topic,
			   const void *payload, size_t len);

/* Empties the journal: what it held is committed. */
int ingest__journal_reset(struct ingest_journal *j);

/* Calls fn for every whole record, in order, with its offset. *n: records
 * replayed; *torn: bytes after the last whole record (0 normally). TW_OK,
 * TW_ERR_IO or TW_ERR_NOMEM. */
int ingest__journal_replay(struct ingest_journal *j, ingest_journal_fn fn, void *ctx,
			   size_t *n, size_t *torn);

#endif
