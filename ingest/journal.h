/* journal.h -- the redo log of ingest's open history transaction
 *
 * Paho acknowledges a message when the callback returns, but the history
 * transaction is committed only every --commit-ms (one commit per message
 * would cost more than everything else together). So each accepted
 * message is first copied here: once the copy is done, the message
 * survives the process being killed. The journal is a shared mapping of a
 * file, so the kernel holds what was copied, as it holds SQLite's WAL
 * under synchronous=NORMAL, and no system call is made per message (a
 * write() each cost a tenth of ingest's time). After a commit the journal
 * is emptied; at start-up, and after a failed commit, what is in it is
 * replayed through the same path, and records already stored are dropped
 * as duplicates by their (device, seq).
 *
 * The file: a header (magic, epoch), then records. A record: magic, body
 * length, FNV-1a 64 of the epoch and the body; the body is the receive
 * time (wall ms), the topic length, the topic and the payload. Emptying
 * bumps the epoch, so that the records of earlier epochs still in the
 * file fail their check. Replay stops at the first record that fails it:
 * the end, or a copy cut short by the kill (whose message was never
 * acknowledged). The file's blocks are reserved before they are mapped,
 * so a full disk is an error to wait on, not a SIGBUS.
 */
#ifndef TELEWIRE_INGEST_JOURNAL_H
#define TELEWIRE_INGEST_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ingest_journal {
	int fd;
	char *path;
	unsigned char *map;	/* the whole file, header first */
	size_t map_len;
	uint64_t epoch;
	off_t size;		/* bytes of records since the last reset */
};

typedef void (*ingest_journal_fn)(void *ctx, off_t at, int64_t wall_ms, const char *topic,
				  const void *payload, size_t len);

/* Opens (creating) path; the records a previous run left are kept for
 * ingest__journal_replay. TW_OK, or TW_ERR_IO/TW_ERR_NOMEM with err set. */
int ingest__journal_open(struct ingest_journal *j, const char *path, char *err, size_t errlen);
void ingest__journal_close(struct ingest_journal *j);

/* Appends one message; TW_OK, or TW_ERR_IO with errno set (the file could
 * not grow: the disk is full) and the journal as it was. */
int ingest__journal_append(struct ingest_journal *j, int64_t wall_ms, const char *topic,
			   const void *payload, size_t len);

/* Empties the journal: what it held is committed. */
int ingest__journal_reset(struct ingest_journal *j);

/* Calls fn for every whole record of this epoch, in order, with its
 * offset. *n: records replayed; *torn: bytes after the last whole record
 * that are neither zero nor an earlier epoch's (0 normally). fn may not
 * append. TW_OK or TW_ERR_NOMEM. */
int ingest__journal_replay(struct ingest_journal *j, ingest_journal_fn fn, void *ctx,
			   size_t *n, size_t *torn);

#endif
