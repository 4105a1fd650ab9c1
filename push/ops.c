/* ops.c -- membership operations carried by envelopes (add/remove connection or user to/from group) */
#include "hub.h"

void hub__ops_free(struct tw_hub *h)
{
	tw_strmap_free(&h->user_groups);
}

void hub__ops_on_open(struct hub_conn *c)
{
	(void)c;
}
