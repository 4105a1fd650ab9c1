/* hub_metrics.c -- the hub's counters in Prometheus text format (GET /metrics) */
#include <stdio.h>

#include "telewire/metrics.h"
#include "hub.h"

#define C(name, field, help) \
	tw_metric(out, "telewire_hub_" name, "counter", help, HUB_READ(h, field))

void hub__metrics_fill(void *ctx, FILE *out)
{
	struct tw_hub *h = ctx;

	tw_metric(out, "telewire_hub_connections", "gauge", "open client connections",
		  HUB_READ(h, conn_current));
	C("connections_opened_total", conn_opened, "client connections opened");
	C("connections_closed_total", conn_closed, "client connections closed");
	C("negotiations_total", negotiations, "client negotiations");
	C("auth_failures_total", auth_failures, "requests refused for their token");
	C("handshake_failures_total", handshake_failures, "bad or late hub protocol handshakes");
	C("bad_records_total", bad_records, "client records that were not valid hub messages");
	C("oversized_records_total", oversized_records, "client records over the size limit");
	C("invocations_total", invocations, "client invocations");
	C("group_joins_total", group_joins, "group joins");
	C("group_leaves_total", group_leaves, "group leaves");
	C("backplane_received_total", bp_received, "MQTT messages received on the backplane");
	C("backplane_dropped_total", bp_dropped_full, "backplane messages dropped: hub inbox full");
	C("envelopes_total", envelopes_ok, "envelopes delivered");
	C("envelopes_bad_total", envelopes_bad, "envelopes refused as malformed");
	C("messages_queued_total", messages_queued, "messages queued to connections");
	C("messages_dropped_slow_total", messages_dropped_slow,
	  "messages dropped for slow clients (oldest first)");
	C("messages_conflated_total", messages_conflated,
	  "messages replaced by a newer one with the same key for slow clients");
	C("slow_closes_total", closes_slow, "connections closed as slow consumers");
	C("posts_total", posts, "HTTP POSTs of client records (SSE and long polling)");
	C("polls_total", polls, "long polls");
	C("upstream_sent_total", upstream_sent, "client invocations and commands published to MQTT");
	C("upstream_failed_total", upstream_failed, "upstream publishes that failed");
	C("commands_sent_total", commands_sent, "device commands published");
	C("commands_refused_total", commands_refused, "device commands refused");
}
