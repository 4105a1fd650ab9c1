/* writer.c -- the history writer thread: group commits, the two journals, redo after a failure, rollups
 *
 * The receive thread (ingest.c) journals each message, checks it for a
 * duplicate (dedup.c), runs the plugins, queues the results for the hubs
 * and hands the records here. This thread stores them in one transaction
 * per --commit-ms, so that a commit (which writes every page the group
 * touched, tens of milliseconds with a thousand devices) never holds a
 * message back from the hubs, nor the broker's next message. Within a
 * transaction it takes the queue every WRITER_TICK_MS or when
 * WRITER_WAKE_BATCH messages wait, not for each one: a wake-up per
 * message cost both threads more than storing it; and it stores what it
 * took in device order (writer__in_order), which a bigger take helps.
 *
 * The journals are used in turn. A commit begins by switching the receive
 * thread to the other one (under msg_lock, a few microseconds), takes
 * what was queued before the switch, commits, and empties the journal it
 * switched away from: everything in it is stored. A failure leaves both
 * journals as they are: redo stores what they hold, with the receive
 * thread paused, and retries every 100 ms until it can; meanwhile the
 * queue fills and the receive thread, then the broker, wait.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest.h"
#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/log.h"

#define WRITER_QUEUE_MAX 50000	/* messages waiting for the writer; past it the receive thread waits */
#define WRITER_WAKE_BATCH 4096	/* queued messages that wake the writer in a transaction */
#define WRITER_TICK_MS 50	/* else it takes the queue this often */
#define WRITER_RETRY_MS 100	/* between two attempts to store after a failure */
#define ROLLUP_STEP_MS 5	/* rollup work between two commits */
#define ROLLUP_IDLE_MS 20	/* between two steps of a pass when nothing else is to do */

static void writer__db_error(struct ingest *ing, const char *what)
{
	ing->st.db_errors++;
	tw_error("history: %s: %s", what, tw_history_errmsg(ing->history));
}

static void writer__free(struct ingest_work *w)
{
	while (w) {
		struct ingest_work *next = w->next;

		tw_decoded_free(&w->d);
		free(w->keep);
		free(w);
		w = next;
	}
}

void ingest__writer_push(struct ingest *ing, struct ingest_work *w)
{
	pthread_mutex_lock(&ing->wq_lock);
	while (ing->wq_len >= WRITER_QUEUE_MAX && !ing->wq_stop)
		pthread_cond_wait(&ing->wq_room, &ing->wq_lock);
	w->next = NULL;
	if (ing->wq_tail)
		ing->wq_tail->next = w;
	else
		ing->wq_head = w;
	ing->wq_tail = w;
	/* Not a wake-up per message: the journal holds it, and the writer
	 * comes for the queue every WRITER_TICK_MS in a transaction. */
	if ((++ing->wq_len == 1 && ing->wq_idle) || ing->wq_len == WRITER_WAKE_BATCH)
		pthread_cond_signal(&ing->wq_wake);
	pthread_mutex_unlock(&ing->wq_lock);
}

/* Takes the whole queue; wq_lock held. */
static struct ingest_work *writer__take_locked(struct ingest *ing)
{
	struct ingest_work *w = ing->wq_head;

	ing->wq_head = ing->wq_tail = NULL;
	ing->wq_len = 0;
	pthread_cond_broadcast(&ing->wq_room);
	return w;
}

/* Messages taken from the queue, in order. */
struct writer__list {
	struct ingest_work *head, *tail;
};

/* Moves the whole queue to the end of l. */
static void writer__take(struct ingest *ing, struct writer__list *l)
{
	struct ingest_work *tail;

	pthread_mutex_lock(&ing->wq_lock);
	tail = ing->wq_tail;
	if (ing->wq_head) {
		if (l->tail)
			l->tail->next = ing->wq_head;
		else
			l->head = ing->wq_head;
		l->tail = tail;
	}
	writer__take_locked(ing);
	pthread_mutex_unlock(&ing->wq_lock);
}

/* Takes msg_lock, between two messages. The receive thread holds it for
 * each message and takes it again at once for the next one, so it is
 * asked to step aside (excl_wanted: it waits after its message until the
 * flag is cleared), and may meanwhile be waiting for room in the queue:
 * what is queued moves to *taken. */
static void writer__lock_messages(struct ingest *ing, struct writer__list *taken)
{
	struct timespec pause = { 0, 50 * 1000 };

	ing->excl_wanted = 1;
	while (pthread_mutex_trylock(&ing->msg_lock) != 0) {
		writer__take(ing, taken);
		nanosleep(&pause, NULL);
	}
}

static void writer__unlock_messages(struct ingest *ing)
{
	pthread_mutex_lock(&ing->wq_lock);
	ing->excl_wanted = 0;
	pthread_cond_broadcast(&ing->excl_done);
	pthread_mutex_unlock(&ing->wq_lock);
	pthread_mutex_unlock(&ing->msg_lock);
}

void ingest__writer_step_aside(struct ingest *ing)
{
	if (!ing->excl_wanted)
		return;
	pthread_mutex_lock(&ing->wq_lock);
	while (ing->excl_wanted)
		pthread_cond_wait(&ing->excl_done, &ing->wq_lock);
	pthread_mutex_unlock(&ing->wq_lock);
}

/* A message of the list, where it was in it, and its device's id. */
struct writer__ordered {
	int64_t device;
	size_t pos;
	struct ingest_work *w;
};

static int writer__cmp(const void *a, const void *b)
{
	const struct writer__ordered *x = a, *y = b;

	if (x->device != y->device)
		return x->device < y->device ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The list in device id order, each device's messages in the order they
 * came (a later value at the same ts replaces an earlier one). Stored in
 * this order, a batch walks each B-tree once from end to end: a fifth of
 * the writer's time with a thousand devices. As it was when out of
 * memory or SQLite fails (then the store fails just the same). */
static struct ingest_work *writer__in_order(struct ingest *ing, struct ingest_work *list)
{
	struct writer__ordered *v;
	size_t n = 0, i = 0;

	for (struct ingest_work *w = list; w; w = w->next)
		n++;
	if (n < 2 || !(v = malloc(n * sizeof(*v))))
		return list;
	for (struct ingest_work *w = list; w; w = w->next, i++) {
		v[i] = (struct writer__ordered){ 0, i, w };
		if (w->d.n && !(v[i].device = tw_history_device_id(ing->history,
								   tw_record_device(w->d.recs[0])))) {
			free(v);
			return list;
		}
	}
	qsort(v, n, sizeof(*v), writer__cmp);
	for (i = 0; i + 1 < n; i++)
		v[i].w->next = v[i + 1].w;
	v[n - 1].w->next = NULL;
	list = v[0].w;
	free(v);
	return list;
}

/* Stores a list of messages in the open transaction (begun when none is). */
static void writer__store(struct ingest *ing, struct ingest_work *list)
{
	struct tw_history *h = ing->history;

	if (list && !ing->tx_open && !ing->redo) {
		if (tw_history_begin(h) != TW_OK) {
			writer__db_error(ing, "cannot begin a transaction");
			ing->redo = 1;
		} else {
			ing->tx_open = 1;
			ing->tx_start = ing->tx_last = tw_mono_ms();
			ing->tx_msgs = 0;
			ing->tx_stored = 0;
		}
	}
	if (ing->tx_open)
		list = writer__in_order(ing, list);
	for (struct ingest_work *w = list; w && !ing->redo; w = w->next) {
		for (size_t i = 0; i < w->d.n; i++) {
			int rc;

			if (!w->keep[i])
				continue;
			rc = tw_history_seen(h, w->d.recs[i]);
			if (rc == TW_ERR_EXISTS)
				continue;	/* the receive thread's check let a repeat by */
			if (rc == TW_OK)
				rc = tw_history_put(h, w->d.recs[i]);
			if (rc != TW_OK) {
				writer__db_error(ing, "cannot write");
				tw_history_rollback(h);
				ing->tx_open = 0;
				ing->redo = 1;
				break;
			}
			ing->tx_stored++;
		}
		ing->tx_msgs++;
	}
	writer__free(list);
}

/* Some of a due rollup pass (the connection is free between commits):
 * queries read the raw samples where rollups are behind, so late is only
 * slower, never wrong. */
static void writer__rollup(struct ingest *ing)
{
	struct tw_history_rollup_stats st = { 0 };
	int64_t now = tw_mono_ms();
	int rc;

	if (!ing->cfg->rollup_every_s || ing->tx_open || ing->redo || now < ing->rollup_due)
		return;
	rc = tw_history_rollup_step(ing->history, ROLLUP_STEP_MS, &st);
	ing->st.rollup_buckets += st.buckets;
	if (rc == TW_ERR_AGAIN) {
		ing->rollup_due = 0;
		return;
	}
	if (rc != TW_OK)
		writer__db_error(ing, "rollup pass");
	ing->rollup_due = now + ing->cfg->rollup_every_s * 1000;
}

static void writer__commit(struct ingest *ing)
{
	struct writer__list taken = { 0 };
	int old;

	writer__lock_messages(ing, &taken);
	old = ing->jcur;
	ing->jcur ^= 1;
	ingest__dedup_swap(&ing->dedup);
	writer__unlock_messages(ing);
	/* Everything the old journal holds was queued before the switch. */
	writer__take(ing, &taken);
	writer__store(ing, taken.head);
	if (ing->redo || !ing->tx_open)
		return;
	ing->tx_open = 0;
	if (tw_history_commit(ing->history) != TW_OK) {
		writer__db_error(ing, "cannot commit");
		ing->redo = 1;
		return;
	}
	ing->st.stored += ing->tx_stored;
	ing->st.commits++;
	if (tw_history_points_replaced(ing->history) != ing->st.points_replaced) {
		ing->st.points_replaced = tw_history_points_replaced(ing->history);
		tw_warn("history: a device sent one ts with values past 1 MiB in all: the older "
			"ones at that ts were replaced (%llu times so far)",
			(unsigned long long)ing->st.points_replaced);
	}
	ing->tx_pause = 1;
	ing->st.last_commit_ms = tw_wall_ms();
	/* If emptying fails, a replay finds these stored and drops them. */
	if (ingest__journal_reset(&ing->journal[old]) != TW_OK) {
		ing->st.journal_errors++;
		tw_warn("journal %s: cannot empty it: %s", ing->journal[old].path, strerror(errno));
	}
	writer__rollup(ing);
}

static void writer__replay_one(void *ctx, off_t at, int64_t wall, const char *topic,
			       const void *payload, size_t len)
{
	struct ingest *ing = ctx;
	struct ingest_route *route;
	struct tw_decoded d;

	(void)at;
	if (ing->redo || ingest__decode(ing, topic, payload, len, wall, &d, &route) != TW_OK)
		return;
	for (size_t i = 0; i < d.n && !ing->redo; i++) {
		int rc = tw_history_seen(ing->history, d.recs[i]);

		if (rc == TW_ERR_EXISTS)
			continue;
		if (rc == TW_OK && !ingest__transform(ing, route, d.recs[i]))
			continue;
		if (rc == TW_OK)
			rc = tw_history_put(ing->history, d.recs[i]);
		if (rc != TW_OK) {
			writer__db_error(ing, "cannot store a journaled message");
			ing->redo = 1;
		} else {
			ing->tx_stored++;
		}
	}
	ing->replayed_now++;
	tw_decoded_free(&d);
}

int ingest__writer_redo(struct ingest *ing)
{
	struct writer__list taken = { 0 };
	size_t n, torn;
	int rc = TW_OK;

	if (ing->tx_open)
		tw_history_rollback(ing->history);
	ing->tx_open = 0;
	writer__lock_messages(ing, &taken);
	/* Both journals hold all that was queued; the receive thread waits. */
	writer__take(ing, &taken);
	writer__free(taken.head);
	ing->redo = 0;
	ing->replayed_now = 0;
	ing->tx_stored = 0;
	if (tw_history_begin(ing->history) != TW_OK) {
		writer__db_error(ing, "cannot begin a transaction");
		ing->redo = 1;
	}
	for (int k = 1; k <= 2 && !ing->redo; k++) {
		struct ingest_journal *j = &ing->journal[ing->jcur ^ (k == 1)];

		if (ingest__journal_replay(j, writer__replay_one, ing, &n, &torn) != TW_OK) {
			tw_error("journal %s: cannot replay: out of memory", j->path);
			ing->redo = 1;
		}
		if (torn)
			tw_warn("journal %s: a message cut short after the last whole one ignored "
				"(it was never acknowledged)", j->path);
	}
	if (!ing->redo && tw_history_commit(ing->history) != TW_OK) {
		writer__db_error(ing, "cannot commit");
		ing->redo = 1;
	} else if (ing->redo) {
		tw_history_rollback(ing->history);
	}
	if (!ing->redo) {
		for (int k = 0; k < 2; k++)
			if (ingest__journal_reset(&ing->journal[k]) != TW_OK)
				ing->st.journal_errors++;
		ingest__dedup_swap(&ing->dedup);
		ing->st.stored += ing->tx_stored;
		ing->st.replayed += ing->replayed_now;
		ing->st.commits++;
		ing->st.last_commit_ms = tw_wall_ms();
	}
	rc = ing->redo ? TW_ERR_DB : TW_OK;
	writer__unlock_messages(ing);
	return rc;
}

/* Waits for work or for the open transaction's commit time; the queue. */
static struct ingest_work *writer__wait(struct ingest *ing)
{
	/* After a commit the next transaction begins at the next take, not
	 * at once: another writer of the same file (a second worker of a
	 * shared subscription), waiting for the lock, gets a tick to take
	 * it, instead of an instant it would almost never hit. */
	int batching = ing->tx_open || ing->tx_pause;
	struct ingest_work *w = NULL;
	struct timespec until;
	int64_t wait;

	ing->tx_pause = 0;
	pthread_mutex_lock(&ing->wq_lock);
	if (ing->wq_len < (batching ? WRITER_WAKE_BATCH : 1) && !ing->wq_stop) {
		wait = ing->redo ? WRITER_RETRY_MS
		       : ing->tx_open ? ing->tx_start + ing->cfg->commit_ms - tw_mono_ms()
		       : batching ? WRITER_TICK_MS
		       : ing->rollup_due ? 1000 : ROLLUP_IDLE_MS;
		if (batching && wait > WRITER_TICK_MS)
			wait = WRITER_TICK_MS;
		if (wait > 0) {
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += wait / 1000;
			until.tv_nsec += (wait % 1000) * 1000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			ing->wq_idle = !batching;
			pthread_cond_timedwait(&ing->wq_wake, &ing->wq_lock, &until);
			ing->wq_idle = 0;
		}
	}
	if (!ing->redo)
		w = writer__take_locked(ing);
	pthread_mutex_unlock(&ing->wq_lock);
	return w;
}

/* Whether the open transaction commits now: at commit_ms, at commit_max
 * messages, or when commit_idle_ms passed without a message (the burst
 * is over: its last messages need not wait for commit_ms). */
static int writer__due(struct ingest *ing, int took)
{
	int64_t now = tw_mono_ms();

	if (took)
		ing->tx_last = now;
	return ing->tx_msgs >= (size_t)ing->cfg->commit_max ||
	       now - ing->tx_start >= ing->cfg->commit_ms ||
	       (ing->cfg->commit_idle_ms && now - ing->tx_last >= ing->cfg->commit_idle_ms);
}

void *ingest__writer(void *arg)
{
	struct ingest *ing = arg;

	for (;;) {
		struct ingest_work *w = writer__wait(ing);
		int stop;

		if (ing->redo) {
			if (ingest__writer_redo(ing) != TW_OK) {
				struct timespec pause = { 0, WRITER_RETRY_MS * 1000000 };

				if (ing->wq_stop)
					break;
				nanosleep(&pause, NULL);
			}
			continue;
		}
		if (w)
			writer__store(ing, w);
		pthread_mutex_lock(&ing->wq_lock);
		stop = ing->wq_stop && !ing->wq_head;
		pthread_mutex_unlock(&ing->wq_lock);
		if (ing->tx_open && (stop || writer__due(ing, w != NULL)))
			writer__commit(ing);
		else if (!ing->tx_open && !stop)
			writer__rollup(ing);
		if (stop && !ing->tx_open && !ing->redo)
			break;
	}
	return NULL;
}
