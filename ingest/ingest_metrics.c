/* ingest_metrics.c -- ingest's counters in Prometheus text format (GET /metrics on --listen) */
#include <stdio.h>

#include "telewire/metrics.h"
#include "ingest.h"

#define C(name, v, help) tw_metric(out, "telewire_ingest_" name, "counter", help, (v))

void ingest__metrics_fill(void *ctx, FILE *out)
{
	struct ingest *ing = ctx;
	struct ingest_stats *s = &ing->st;
	unsigned long long rejected = s->rejected, limit = s->rejected_limit, json = s->rejected_json;
	struct tw_mqtt_stats sub, pub;
	size_t depth;

	tw_mqtt_get_stats(ing->sub, &sub);
	tw_mqtt_get_stats(ing->pub, &pub);
	depth = ingest__queue_depth(&ing->queue);
	C("received_total", s->received, "telemetry messages received");
	tw_metric_head(out, "telewire_ingest_rejected_total", "counter",
		       "messages rejected (sent to telewire/deadletter/...), by reason");
	tw_metric_value(out, "telewire_ingest_rejected_total", "reason=\"limit\"", limit);
	tw_metric_value(out, "telewire_ingest_rejected_total", "reason=\"malformed\"", json);
	tw_metric_value(out, "telewire_ingest_rejected_total", "reason=\"other\"",
			rejected - limit - json);
	C("deadletter_failed_total", s->deadletter_failed, "dead letters that could not be published");
	C("transformed_total", s->received - s->rejected - s->transform_failed,
	  "messages that went through their transforms");
	C("plugin_errors_total", s->transform_failed, "records a plugin failed on (dropped)");
	C("plugin_dropped_total", s->transform_dropped, "records a plugin chose to drop");
	C("stored_total", s->stored, "records committed to history");
	C("commits_total", s->commits, "history transactions committed (each a group of messages)");
	tw_metric_head(out, "telewire_ingest_last_commit_timestamp_seconds", "gauge",
		       "when history last committed (Unix time; 0 before the first commit)");
	fprintf(out, "telewire_ingest_last_commit_timestamp_seconds %.3f\n",
		(double)ing->st.last_commit_ms / 1000.0);
	C("replayed_total", s->replayed, "messages stored again from the journal");
	C("journal_errors_total", s->journal_errors, "journal writes, resets or replays that failed");
	C("rollup_buckets_total", s->rollup_buckets, "history rollup buckets written (minutes and hours)");
	C("duplicates_total", s->duplicates, "redelivered records dropped by key");
	C("history_points_replaced_total", s->points_replaced,
	  "times a record replaced a device's values at one ts whole, as they passed 1 MiB");
	C("db_errors_total", s->db_errors, "history write errors");
	C("unrouted_total", s->unrouted, "records no route matched");
	C("published_total", s->published, "results (envelopes) published to hubs");
	C("publish_failed_total", s->publish_failed, "result batches that failed");
	C("queue_dropped_total", ingest__queue_dropped(&ing->queue),
	  "results dropped from the full publish queue (oldest first)");
	tw_metric(out, "telewire_ingest_queue_depth", "gauge", "results waiting to be published",
		  depth);
	if (ing->history) {
		pthread_mutex_lock(&ing->wq_lock);
		depth = ing->wq_len;
		pthread_mutex_unlock(&ing->wq_lock);
		tw_metric(out, "telewire_ingest_history_queue_depth", "gauge",
			  "messages waiting for the history writer", depth);
		C("dedup_lookups_total", ing->dedup.queries,
		  "duplicate checks that asked the history (a seq at or below the device's highest)");
		C("dedup_errors_total", ing->dedup.errors,
		  "duplicate checks that failed (left to the history writer's own check)");
	}
	tw_metric(out, "telewire_ingest_publish_pending", "gauge",
		  "publishes not yet acknowledged by the broker", (unsigned long long)pub.pending);
	C("reconnects_total", sub.connection_lost + pub.connection_lost,
	  "MQTT connections lost (consumer and publisher)");
	tw_metric(out, "telewire_ingest_connected", "gauge", "1 when the consumer is connected",
		  (unsigned long long)sub.connected);
}
