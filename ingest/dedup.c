/* dedup.c -- the receive thread's duplicate check (see dedup.h) */
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "telewire/error.h"

/* A device as the check knows it. */
struct ingest_dedup_dev {
	int64_t max_seq;	/* highest seq stored or noted */
	int known;		/* max_seq was read from the store */
};

static size_t dedup__hash(const void *dev, int64_t seq, size_t cap)
{
	uint64_t h = (uint64_t)(uintptr_t)dev * 0x9e3779b97f4a7c15ULL ^
		     (uint64_t)seq * 0xc2b2ae3d27d4eb4fULL;

	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static struct ingest_dedup_note *dedup__find(struct ingest_dedup_table *t, const void *dev,
					     int64_t seq)
{
	if (!t->cap)
		return NULL;
	for (size_t i = dedup__hash(dev, seq, t->cap);; i = (i + 1) & (t->cap - 1)) {
		struct ingest_dedup_note *e = &t->v[i];

		if (!e->dev)
			return NULL;
		if (e->dev == dev && e->seq == seq)
			return e;
	}
}

/* Notes (dev, seq) -> ts in t, growing it at half full. */
static int dedup__note(struct ingest_dedup_table *t, const void *dev, int64_t seq, int64_t ts)
{
	struct ingest_dedup_note *e;

	if ((t->n + 1) * 2 > t->cap) {
		struct ingest_dedup_table g = { .cap = t->cap ? t->cap * 2 : 1024 };

		if (!(g.v = calloc(g.cap, sizeof(*g.v))))
			return TW_ERR_NOMEM;
		for (size_t i = 0; i < t->cap; i++)
			if (t->v[i].dev)
				dedup__note(&g, t->v[i].dev, t->v[i].seq, t->v[i].ts);
		free(t->v);
		*t = g;
	}
	if ((e = dedup__find(t, dev, seq)) == NULL) {
		for (size_t i = dedup__hash(dev, seq, t->cap);; i = (i + 1) & (t->cap - 1))
			if (!t->v[i].dev) {
				e = &t->v[i];
				break;
			}
		e->dev = dev;
		e->seq = seq;
		t->n++;
	}
	e->ts = ts;
	return TW_OK;
}

/* Notes a new (dev, seq); without memory for it, a repeat of it before
 * the commit is left to the writer's own check (history stays right, the
 * repeat's results may go out twice): counted. */
static void dedup__remember(struct ingest_dedup *d, const void *dev, int64_t seq, int64_t ts)
{
	if (dedup__note(&d->cur, dev, seq, ts) != TW_OK)
		d->errors++;
}

void ingest__dedup_init(struct ingest_dedup *d, struct tw_history *reader)
{
	memset(d, 0, sizeof(*d));
	d->reader = reader;
}

static void dedup__free_dev(void *ctx, const char *name, void *value)
{
	(void)ctx;
	(void)name;
	free(value);
}

void ingest__dedup_free(struct ingest_dedup *d)
{
	tw_strmap_each(&d->devices, dedup__free_dev, NULL);
	tw_strmap_free(&d->devices);
	free(d->cur.v);
	free(d->prev.v);
	tw_history_close(d->reader);
	memset(d, 0, sizeof(*d));
}

static struct ingest_dedup_dev *dedup__dev(struct ingest_dedup *d, const char *name)
{
	struct ingest_dedup_dev *dev = tw_strmap_get(&d->devices, name);

	if (dev)
		return dev;
	if (!(dev = calloc(1, sizeof(*dev))))
		return NULL;
	dev->max_seq = -1;
	if (tw_strmap_put(&d->devices, name, dev) != TW_OK) {
		free(dev);
		return NULL;
	}
	return dev;
}

int ingest__dedup_check(struct ingest_dedup *d, const struct tw_record *r)
{
	const char *name = tw_record_device(r);
	int64_t seq = tw_record_seq(r), ts = tw_record_ts(r), was;
	int own_ts = !(tw_record_flags(r) & TW_RECORD_TS_RECEIVED), found = 0;
	struct ingest_dedup_dev *dev;
	struct ingest_dedup_note *e;

	if (seq < 0)
		return 0;
	if (!(dev = dedup__dev(d, name)))
		return 0;
	if (!dev->known && d->reader) {
		int64_t max;

		d->queries++;
		if (tw_history_max_seq(d->reader, name, &max) == TW_OK) {
			dev->known = 1;
			if (max > dev->max_seq)
				dev->max_seq = max;
		} else {
			d->errors++;
		}
	}
	if (dev->known && seq > dev->max_seq) {
		dev->max_seq = seq;
		dedup__remember(d, dev, seq, ts);
		return 0;
	}
	if ((e = dedup__find(&d->cur, dev, seq)) || (e = dedup__find(&d->prev, dev, seq))) {
		found = 1;
		was = e->ts;
	} else if (d->reader) {
		d->queries++;
		found = tw_history_seen_ts(d->reader, name, seq, &was);
		if (found < 0) {
			d->errors++;
			found = 0;
		}
	}
	/* As the writer's seen table has it: a repeat with the same ts, or
	 * without a ts of its own, is the same message again; another ts
	 * under a seen seq is a counter that started over. */
	if (found && (!own_ts || was == ts))
		return 1;
	if (seq > dev->max_seq)
		dev->max_seq = seq;
	dedup__remember(d, dev, seq, ts);
	return 0;
}

void ingest__dedup_swap(struct ingest_dedup *d)
{
	free(d->prev.v);
	d->prev = d->cur;
	memset(&d->cur, 0, sizeof(d->cur));
}
