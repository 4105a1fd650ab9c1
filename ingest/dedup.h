/* dedup.h -- ingest's duplicate check on the receive thread, beside the history writer
 *
 * A redelivered message repeats its (device, seq) and ts. The history
 * writer stores on a thread of its own, so the receive thread cannot ask
 * its transaction what is stored; it answers from three places instead:
 * each device's highest seq (anything above it is new, the common case,
 * with no query), the seqs noted since the writer's last commit began (in
 * memory: not committed yet), and the committed seen table (a read-only
 * connection, for a seq at or below the highest). A table of notes is
 * dropped one commit after the one that stored it began: by then the
 * connection sees it.
 */
#ifndef TELEWIRE_INGEST_DEDUP_H
#define TELEWIRE_INGEST_DEDUP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "telewire/history.h"
#include "telewire/transform_host.h"
#include "telewire/strmap.h"

struct ingest_dedup_note {
	const void *dev;	/* struct ingest_dedup_dev of the device; NULL: free slot */
	int64_t seq, ts;
};

struct ingest_dedup_table {
	struct ingest_dedup_note *v;
	size_t cap, n;
};

struct ingest_dedup {
	struct tw_history *reader;	/* read-only: what is committed */
	struct tw_strmap devices;	/* name -> struct ingest_dedup_dev */
	struct ingest_dedup_table cur, prev;
	atomic_ullong queries, errors;	/* seen-table lookups; failed lookups or notes */
};

/* reader: a read-only handle on the history, owned by d from now on. */
void ingest__dedup_init(struct ingest_dedup *d, struct tw_history *reader);
void ingest__dedup_free(struct ingest_dedup *d);

/* 1 when r repeats a stored or noted (device, seq) (same ts, or r has no ts
 * of its own), else 0 and r is noted. A record without seq is never a
 * duplicate. A failed lookup counts as new: the writer's own check then
 * keeps history right. */
int ingest__dedup_check(struct ingest_dedup *d, const struct tw_record *r);

/* The writer begins a commit of everything noted so far. */
void ingest__dedup_swap(struct ingest_dedup *d);

#endif
