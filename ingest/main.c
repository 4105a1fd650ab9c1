/* main.c -- telewire-ingest: start-up, signals, periodic summary, clean shutdown */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

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

/* 1 when another process took our MQTT session (same client id) over. */
static int main__taken_over(struct ingest *ing)
{
	struct tw_mqtt_stats st;

	tw_mqtt_get_stats(ing->sub, &st);
	if (!st.taken_over)
		return 0;
	tw_error("another client now consumes with client id %s; stopping, as two consumers "
		 "with one id would take the session from each other in turn (each worker "
		 "needs its own --client-id)", ing->cfg->client_id);
	return 1;
}

/* Returns 0 after SIGINT or SIGTERM, 1 when the session was taken over. */
static int main__wait(struct ingest *ing, const sigset_t *set, long long interval_s)
{
	struct timespec tick = { 0, 200 * 1000000 };
	int64_t next = tw_mono_ms() + interval_s * 1000;
	int sig;

	for (;;) {
		sig = sigtimedwait(set, NULL, &tick);
		if (sig == SIGINT || sig == SIGTERM) {
			tw_info("%s: shutting down", strsignal(sig));
			return 0;
		}
		if (main__taken_over(ing))
			return 1;
		if (interval_s > 0 && tw_mono_ms() >= next) {
			ingest__log_stats(ing);
			next += interval_s * 1000;
		}
	}
}

/* Who holds the claim at addr (its pid via SO_PEERCRED), or 0 if unknown. */
static long main__claim_holder(const struct sockaddr_un *addr, socklen_t len)
{
	struct ucred cred = { 0 };
	socklen_t clen = sizeof(cred);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	long pid = 0;

	if (fd >= 0 && connect(fd, (const struct sockaddr *)addr, len) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
		pid = (long)cred.pid;
	if (fd >= 0)
		close(fd);
	return pid;
}

/* Two consumers with one client id on one broker take the session from
 * each other in turn. On this host that is refused: the first one holds an
 * abstract Unix socket named after (broker, client id), which the kernel
 * frees when the process ends, however it ends. Returns the socket, or -1
 * after logging why (another holder, or no socket at all). */
static int main__claim_client_id(const struct ingest_config *cfg)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	unsigned long long h = 1469598103934665603ULL;	/* FNV-1a */
	socklen_t len;
	int fd;

	for (const char *p = cfg->mqtt_uri; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (const char *p = cfg->client_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	/* sun_path[0] stays '\0': the abstract namespace, no file to clean up. */
	snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "telewire-ingest/%016llx", h);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		tw_error("cannot create a socket to claim client id %s: %s", cfg->client_id,
			 strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&addr, len) == 0 && listen(fd, 4) == 0)
		return fd;
	if (errno == EADDRINUSE) {
		long pid = main__claim_holder(&addr, len);

		tw_error("another telewire-ingest on this host (pid %ld) already consumes from %s "
			 "as client id %s: each worker needs its own --client-id", pid,
			 cfg->mqtt_uri, cfg->client_id);
	} else {
		tw_error("cannot claim client id %s: %s", cfg->client_id, strerror(errno));
	}
	close(fd);
	return -1;
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

static void main__log_consuming(const struct ingest_config *cfg, const struct ingest *ing)
{
	char list[2048] = "";
	size_t used = 0;

	for (size_t i = 0; i < cfg->nsubscriptions && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
					 cfg->subscriptions[i]);
	tw_info("consuming %s from %s as %s; results to %s", list, cfg->mqtt_uri, cfg->client_id,
		ing->results_topic);
}

static int main__run(const struct ingest_config *cfg, struct ingest_routes *rt)
{
	struct tw_metrics_server *metrics = NULL;
	struct tw_history *h;
	struct ingest ing;
	sigset_t set;
	int rc, status, claim;

	main__block_signals(&set);
	if ((claim = main__claim_client_id(cfg)) < 0)
		return 1;
	if (main__open_history(cfg, &h) != TW_OK) {
		close(claim);
		return 1;
	}
	rc = ingest__start(&ing, cfg, rt, h);
	if (rc != TW_OK) {
		tw_error("cannot start: %s", tw_strerror(rc));
		tw_history_close(h);
		close(claim);
		return 1;
	}
	if (*cfg->listen && main__metrics(cfg, &ing, &metrics) != TW_OK) {
		ingest__stop(&ing);
		tw_history_close(h);
		close(claim);
		return 1;
	}
	/* Logged once subscribed when the broker is there: scripts wait for it. */
	if (tw_mqtt_wait_connected(ing.sub, 3000) != TW_OK)
		tw_warn("not connected to %s yet; still trying", cfg->mqtt_uri);
	main__log_consuming(cfg, &ing);
	status = main__wait(&ing, &set, cfg->stats_interval_s);
	tw_metrics_stop(metrics);
	ingest__stop(&ing);
	ingest__log_stats(&ing);
	tw_history_close(h);
	close(claim);
	return status;
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
