/* transport_lp.c -- long polling: MHD's side; a poll answers at once with what is queued, else parks until data, a close or the timeout */
#include <microhttpd.h>
#include <stdlib.h>

#include "hub.h"
#include "transport_http.h"

#define LP_MAX_BODY (1024u * 1024)	/* one poll takes at most this much */

/* Copies what is queued into a new body; caller holds st->mu. */
static void lp__take(struct hub_stream *st, struct hub_poll_answer *a)
{
	size_t want = st->q.bytes < LP_MAX_BODY ? st->q.bytes : LP_MAX_BODY;

	a->body = malloc(want);
	if (a->body)
		a->len = hub__stream_take(st, a->body, want);
}

/* A newer poll arrived: the parked one answers 204. Caller holds st->mu. */
static void lp__supersede(struct hub_stream *st)
{
	st->poll_seq++;
	st->poll_waiting = 0;
	st->poll_expired = 0;
	if (st->suspended) {
		st->suspended = 0;
		MHD_resume_connection(st->con);
	}
	st->con = NULL;
}

int hub__lp_poll(struct hub_stream *st, struct MHD_Connection *con, struct hub_poll *p,
		 struct hub_poll_answer *a)
{
	a->status = 200;
	a->body = NULL;
	a->len = 0;
	pthread_mutex_lock(&st->mu);
	a->binary = st->binary;
	if (p->parked) {
		p->parked = 0;
		if (st->poll_seq != p->seq) {
			pthread_mutex_unlock(&st->mu);
			a->status = 204; /* superseded by a newer poll */
			return 1;
		}
		st->poll_waiting = 0;
		st->con = NULL;
	} else if (st->poll_waiting) {
		lp__supersede(st);
	}
	if (st->q.head) {
		lp__take(st, a);
	} else if (st->closed) {
		a->status = 204;
	} else if (!st->poll_expired) {
		st->poll_waiting = 1;
		st->poll_since_ms = hub__now();
		st->con = con;
		st->suspended = 1;
		p->seq = st->poll_seq;
		p->parked = 1;
		MHD_suspend_connection(con);
		pthread_mutex_unlock(&st->mu);
		return 0;
	}
	st->poll_expired = 0;
	pthread_mutex_unlock(&st->mu);
	return 1;
}

void hub__lp_done(struct hub_stream *st, struct MHD_Connection *con, struct hub_poll *p)
{
	pthread_mutex_lock(&st->mu);
	if (p->parked && st->con == con) {
		st->con = NULL;
		st->suspended = 0;
		st->poll_waiting = 0;
	}
	p->parked = 0;
	pthread_mutex_unlock(&st->mu);
}
