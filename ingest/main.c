/* main.c -- telewire-ingest: start-up, signals, periodic summary, clean shutdown */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ingest.h"
#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/log.h"
#include "telewire/metrics.h"
#include "telewire/opts.h"

/* Blocks the stop signals in every thread started later; main waits for them. */
static void main__block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void main__wait(struct ingest *ing, const sigset_t *set, long long interval_s)
{
	struct timespec tick = { 1, 0 };
	int64_t next = tw_mono_ms() + interval_s * 1000;
	int sig;

	for (;;) {
		sig = sigtimedwait(set, NULL, &tick);
		if (sig == SIGINT || sig == SIGTERM) {
			tw_info("%s: shutting down", strsignal(sig));
			return;
		}
		if (interval_s > 0 && tw_mono_ms() >= next) {
			ingest__log_stats(ing);
			next += interval_s * 1000;
		}
	}
}

static int main__open_history(const struct ingest_config *cfg, struct tw_history **h)
{
	char err[512];

	*h = NULL;
	if (!cfg->history || !*cfg->history) {
		tw_info("history is off (no --history FILE)");
		return TW_OK;
	}
	if (tw_history_open(cfg->history, 0, h, err, sizeof(err)) != TW_OK) {
		tw_error("%s", err);
		return TW_ERR_DB;
	}
	tw_info("history in %s", cfg->history);
	return TW_OK;
}

static int main__metrics(const struct ingest_config *cfg, struct ingest *ing,
			 struct tw_metrics_server **out)
{
	char host[256];
	int port, rc = tw_parse_hostport(cfg->listen, host, sizeof(host), &port);

	if (rc != TW_OK || port <= 0) {
		tw_error("--listen: expected HOST:PORT, got \"%s\"", cfg->listen);
		return TW_ERR_CONFIG;
	}
	rc = tw_metrics_serve(out, host, port, ingest__metrics_fill, ing);
	if (rc == TW_OK)
		tw_info("metrics at http://%s/metrics", cfg->listen);
	return rc;
}

static int main__run(const struct ingest_config *cfg, struct ingest_routes *rt)
{
	struct tw_metrics_server *metrics = NULL;
	struct tw_history *h;
	struct ingest ing;
	sigset_t set;
	int rc;

	main__block_signals(&set);
	if (main__open_history(cfg, &h) != TW_OK)
		return 1;
	rc = ingest__start(&ing, cfg, rt, h);
	if (rc != TW_OK) {
		tw_error("cannot start: %s", tw_strerror(rc));
		tw_history_close(h);
		return 1;
	}
	if (*cfg->listen && main__metrics(cfg, &ing, &metrics) != TW_OK) {
		ingest__stop(&ing);
		tw_history_close(h);
		return 1;
	}
	/* Logged once subscribed when the broker is there: scripts wait for it. */
	if (tw_mqtt_wait_connected(ing.sub, 3000) != TW_OK)
		tw_warn("not connected to %s yet; still trying", cfg->mqtt_uri);
	tw_info("consuming %s from %s; results to %s", cfg->topic, cfg->mqtt_uri,
		ing.results_topic);
	main__wait(&ing, &set, cfg->stats_interval_s);
	tw_metrics_stop(metrics);
	ingest__stop(&ing);
	ingest__log_stats(&ing);
	tw_history_close(h);
	return 0;
}

static int main__routes(const struct ingest_config *cfg, struct ingest_routes *rt)
{
	char err[1024];

	if (ingest__routes_load(rt, cfg->plugin_dir, err, sizeof(err)) != TW_OK) {
		fprintf(stderr, "telewire-ingest: %s%s%s\n", cfg->config_path ? cfg->config_path : "",
			cfg->config_path ? ": " : "", err);
		return 2;
	}
	for (size_t i = 0; i < rt->nr; i++)
		tw_info("route %s: devices %s, %zu transform(s), %zu group(s)", rt->r[i].name,
			rt->r[i].match, rt->r[i].ntransforms, rt->r[i].ngroups);
	return 0;
}

int main(int argc, char **argv)
{
	struct ingest_routes rt = { 0 };
	struct ingest_config cfg;
	int rc = ingest__config_parse(&cfg, &rt, argc, argv), level;

	if (rc != TW_OK) {
		ingest__routes_free(&rt);
		ingest__config_free(&cfg);
		return rc == TW_ERR_USAGE ? 0 : 2;
	}
	level = tw_log_level_parse(cfg.log_level);
	if (level < 0) {
		fprintf(stderr, "telewire-ingest: --log-level: expected debug, info, warn or "
			"error, got \"%s\"\n", cfg.log_level);
		rc = 2;
	} else {
		tw_log_init("ingest", (enum tw_log_level)level);
		rc = main__routes(&cfg, &rt);
	}
	if (rc == 0)
		rc = main__run(&cfg, &rt);
	ingest__routes_free(&rt);
	ingest__config_free(&cfg);
	return rc;
}
