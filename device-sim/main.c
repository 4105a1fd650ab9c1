/* main.c -- telewire-sim: vehicles and temperature sensors publishing telemetry over MQTT, obeying commands */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"
#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/log.h"
#include "telewire/mqtt.h"
#include "telewire/opts.h"

enum device_kind { DEVICE_VEHICLE, DEVICE_SENSOR };

struct device {
	enum device_kind kind;
	char id[32];
	long long seq;
	unsigned long long sent;
	int64_t last_ms;
	union {
		struct sim_vehicle vehicle;
		struct sim_sensor sensor;
	} u;
};

struct sim_config {
	char *mqtt_uri, *log_level, *fail_sensor;
	long long vehicles, sensors, count, seed, qos, seq_start;
	double rate, duration, bad_ratio, failure_rate, dropout_rate, warm_rate;
	double lat_min, lat_max, lon_min, lon_max;
	int progress, commands;
};

struct sim_stats {
	unsigned long long sent, bad, retries, commands, refused;
	int64_t started_ms;
};

static volatile sig_atomic_t stop_requested;

/* Commands arrive on Paho's thread and are applied by the main loop, which
 * owns the devices: a bounded queue between the two. */
#define COMMAND_QUEUE 256
struct queued_command {
	char device[32];
	struct sim_command cmd;
};
static struct {
	pthread_mutex_t lock;
	struct queued_command q[COMMAND_QUEUE];
	unsigned head, n;
} inbox = { PTHREAD_MUTEX_INITIALIZER, { { { 0 }, { 0, 0 } } }, 0, 0 };

/* on_message: devices/{id}/commands. Parses, logs what it refuses, queues the rest. */
static void on_command(void *ctx, const char *topic, const void *payload, size_t len, int qos)
{
	struct queued_command qc;
	const char *id = topic + strlen("devices/"), *end = strchr(id, '/');
	char err[160];

	(void)ctx;
	(void)qos;
	if (strncmp(topic, "devices/", 8) != 0 || !end || (size_t)(end - id) >= sizeof(qc.device))
		return;
	snprintf(qc.device, sizeof(qc.device), "%.*s", (int)(end - id), id);
	if (sim__command_parse(payload, len, &qc.cmd, err, sizeof(err)) != 0) {
		tw_warn("command for %s refused: %s", qc.device, err);
		return;
	}
	pthread_mutex_lock(&inbox.lock);
	if (inbox.n < COMMAND_QUEUE)
		inbox.q[(inbox.head + inbox.n++) % COMMAND_QUEUE] = qc;
	else
		tw_warn("command for %s dropped: %d commands already waiting", qc.device, COMMAND_QUEUE);
	pthread_mutex_unlock(&inbox.lock);
}

static struct device *find_device(struct device *dev, size_t ndev, const char *id)
{
	for (size_t i = 0; i < ndev; i++)
		if (strcmp(dev[i].id, id) == 0)
			return &dev[i];
	return NULL;
}

/* Applies the queued commands; each one is logged, done or refused. */
static void apply_commands(struct device *dev, size_t ndev, struct sim_stats *st)
{
	for (;;) {
		struct queued_command qc;
		struct device *d;
		char msg[160];
		int rc;

		pthread_mutex_lock(&inbox.lock);
		if (!inbox.n) {
			pthread_mutex_unlock(&inbox.lock);
			return;
		}
		qc = inbox.q[inbox.head];
		inbox.head = (inbox.head + 1) % COMMAND_QUEUE;
		inbox.n--;
		pthread_mutex_unlock(&inbox.lock);
		d = find_device(dev, ndev, qc.device);
		if (!d) {
			tw_warn("command for %s refused: no such device in this simulator", qc.device);
			st->refused++;
			continue;
		}
		rc = d->kind == DEVICE_VEHICLE ? sim__vehicle_command(&d->u.vehicle, &qc.cmd, msg, sizeof(msg))
			: sim__sensor_command(&d->u.sensor, &qc.cmd, msg, sizeof(msg));
		if (rc == 0) {
			tw_info("command handled for %s: %s", d->id, msg);
			st->commands++;
		} else {
			tw_warn("command for %s refused: %s", d->id, msg);
			st->refused++;
		}
	}
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static struct device *make_devices(const struct sim_config *c, struct sim_rng *rng, size_t *n)
{
	const struct sim_area area = { c->lat_min, c->lat_max, c->lon_min, c->lon_max };
	size_t total = (size_t)(c->vehicles + c->sensors);
	struct device *d = calloc(total ? total : 1, sizeof(*d));

	if (!d)
		return NULL;
	for (size_t i = 0; i < total; i++) {
		d[i].seq = c->seq_start;
		if (i < (size_t)c->vehicles) {
			d[i].kind = DEVICE_VEHICLE;
			snprintf(d[i].id, sizeof(d[i].id), "veh-%04zu", i + 1);
			sim__vehicle_init(&d[i].u.vehicle, &area, rng);
		} else {
			size_t k = i - (size_t)c->vehicles;

			d[i].kind = DEVICE_SENSOR;
			snprintf(d[i].id, sizeof(d[i].id), "temp-%04zu", k + 1);
			sim__sensor_init(&d[i].u.sensor, (int)k, rng);
			d[i].u.sensor.failure_per_hour = c->failure_rate;
			d[i].u.sensor.dropout_per_hour = c->dropout_rate;
			d[i].u.sensor.warm_per_min = c->warm_rate;
			if (c->fail_sensor && strcmp(c->fail_sensor, d[i].id) == 0)
				sim__sensor_fail(&d[i].u.sensor);
		}
	}
	*n = total;
	return d;
}

/* Advances the device to now and writes its next telemetry message. */
static int device_payload(struct device *d, const struct sim_config *c, struct sim_rng *rng,
			  int64_t now_ms, char *buf, size_t len)
{
	const struct sim_area area = { c->lat_min, c->lat_max, c->lon_min, c->lon_max };
	double dt = d->last_ms ? (double)(now_ms - d->last_ms) / 1000.0 : 0.0;
	char values[512];
	int n;

	d->last_ms = now_ms;
	if (d->kind == DEVICE_VEHICLE) {
		sim__vehicle_step(&d->u.vehicle, &area, rng, dt);
		n = sim__vehicle_values(&d->u.vehicle, values, sizeof(values));
	} else {
		sim__sensor_step(&d->u.sensor, rng, dt);
		n = sim__sensor_values(&d->u.sensor, values, sizeof(values));
	}
	if (n < 0)
		return -1;
	n = snprintf(buf, len, "{\"ts\":%lld,\"seq\":%lld,\"values\":%s}", (long long)now_ms,
		     d->seq, values);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* Publishes one message, waiting while the client is full or disconnected. */
static int publish(struct tw_mqtt *m, const char *topic, const char *p, int n, int qos,
		   struct sim_stats *st)
{
	for (;;) {
		int rc = tw_mqtt_publish(m, topic, p, (size_t)n, qos, 0);

		if (rc == TW_OK)
			return TW_OK;
		if (stop_requested)
			return rc;
		st->retries++;
		if (rc == TW_ERR_FULL)
			tw_mqtt_wait_room(m, 200);
		else if (rc == TW_ERR_AGAIN)
			tw_mqtt_wait_connected(m, 200);
		else
			return rc;
	}
}

static void sleep_until_ms(int64_t due_ms)
{
	int64_t now = tw_mono_ms();

	if (due_ms > now) {
		struct timespec ts = { (time_t)((due_ms - now) / 1000), (long)((due_ms - now) % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
}

static void print_progress(const struct sim_stats *st, size_t ndev, int final)
{
	double secs = (double)(tw_mono_ms() - st->started_ms) / 1000.0;

	fprintf(stderr, "%s%zu devices, %llu messages + %llu malformed, %.0f msg/s, %llu retries, "
		"%llu commands handled, %llu refused%s",
		final ? "" : "\r", ndev, st->sent, st->bad,
		secs > 0 ? (double)(st->sent + st->bad) / secs : 0.0,
		st->retries, st->commands, st->refused, final ? "\n" : "   ");
}

/* Sends a malformed payload for d, as a message of its own (no seq used). */
static void publish_bad(struct tw_mqtt *m, const char *topic, const struct sim_config *c,
			struct sim_rng *rng, struct sim_stats *st)
{
	char payload[256];
	int n = sim__bad_payload(rng, payload, sizeof(payload));

	if (n >= 0 && publish(m, topic, payload, n, (int)c->qos, st) == TW_OK)
		st->bad++;
}

/* Message k of the run is due at start + k * period / ndev: devices take
 * turns evenly. --count counts good messages of each device; malformed ones
 * come on top, and a sensor that dropped out sends its share later. */
static int run(struct tw_mqtt *m, const struct sim_config *c, struct device *dev, size_t ndev,
	       struct sim_rng *rng, struct sim_stats *st)
{
	double step_ms = 1000.0 / c->rate / (double)ndev;
	unsigned long long limit = c->count > 0 ? (unsigned long long)c->count : 0;
	size_t done = 0;
	int64_t end_ms = c->duration > 0 ? st->started_ms + (int64_t)(c->duration * 1000) : 0;
	int64_t last_progress = st->started_ms;
	char topic[96], payload[1024];

	for (unsigned long long k = 0; !stop_requested && (!limit || done < ndev); k++) {
		struct device *d = &dev[k % ndev];
		int64_t due = st->started_ms + (int64_t)((double)k * step_ms);
		int n;

		if (end_ms && due >= end_ms)
			break;
		if (limit && d->sent >= limit)
			continue;
		sleep_until_ms(due);
		apply_commands(dev, ndev, st);
		snprintf(topic, sizeof(topic), "devices/%s/telemetry", d->id);
		if (c->bad_ratio > 0 && sim__uniform(rng, 0, 1) < c->bad_ratio)
			publish_bad(m, topic, c, rng, st);
		n = device_payload(d, c, rng, tw_wall_ms(), payload, sizeof(payload));
		if (d->kind == DEVICE_SENSOR && !sim__sensor_online(&d->u.sensor))
			continue;	/* dropped out: it says nothing */
		if (n < 0 || publish(m, topic, payload, n, (int)c->qos, st) != TW_OK)
			continue;
		st->sent++;
		d->seq++;
		if (limit && ++d->sent == limit)
			done++;
		if (c->progress && tw_mono_ms() - last_progress >= 1000) {
			last_progress = tw_mono_ms();
			print_progress(st, ndev, 0);
		}
	}
	return TW_OK;
}

int main(int argc, char **argv)
{
	struct sim_config c = {
		.vehicles = 20, .sensors = 12, .rate = 1.0, .qos = 1, .seed = 1,
		.seq_start = -1, .lat_min = 52.33, .lat_max = 52.40, .lon_min = 4.85,
		.lon_max = 4.95, .progress = -1, .commands = 1, .failure_rate = 0,
		.dropout_rate = 0, .warm_rate = 0.3,
	};
	const struct tw_opt opts[] = {
		{ "mqtt", "mqtt", "uri", TW_OPT_STRING, &c.mqtt_uri, 0, 0, "URI", "MQTT broker" },
		{ "vehicles", "sim", NULL, TW_OPT_INT, &c.vehicles, 0, 1000000, "N", "number of vehicles" },
		{ "sensors", "sim", NULL, TW_OPT_INT, &c.sensors, 0, 1000000, "N", "number of temperature sensors" },
		{ "rate", "sim", NULL, TW_OPT_DOUBLE, &c.rate, 0.001, 100000, "HZ", "messages per second per device" },
		{ "count", "sim", NULL, TW_OPT_INT, &c.count, 0, 1e12, "N", "messages per device, then exit (0: no limit)" },
		{ "duration", "sim", NULL, TW_OPT_DOUBLE, &c.duration, 0, 1e9, "SECONDS", "run this long, then exit (0: no limit)" },
		{ "qos", "sim", NULL, TW_OPT_INT, &c.qos, 0, 2, "0|1|2", "MQTT QoS of telemetry" },
		{ "seed", "sim", NULL, TW_OPT_INT, &c.seed, 0, 9e15, "N", "random seed: the same seed gives the same run" },
		{ "seq-start", "sim", NULL, TW_OPT_INT, &c.seq_start, -1, 9e15, "N", "first seq of every device (-1: start time in ms, so seq grows across restarts)" },
		{ "bad-ratio", "sim", NULL, TW_OPT_DOUBLE, &c.bad_ratio, 0, 1, "R", "share of malformed payloads mixed in" },
		{ "lat-min", "sim", NULL, TW_OPT_DOUBLE, &c.lat_min, -90, 90, "DEG", "south edge of the driving area" },
		{ "lat-max", "sim", NULL, TW_OPT_DOUBLE, &c.lat_max, -90, 90, "DEG", "north edge" },
		{ "lon-min", "sim", NULL, TW_OPT_DOUBLE, &c.lon_min, -180, 180, "DEG", "west edge" },
		{ "lon-max", "sim", NULL, TW_OPT_DOUBLE, &c.lon_max, -180, 180, "DEG", "east edge" },
		{ "failure-rate", "sim", NULL, TW_OPT_DOUBLE, &c.failure_rate, 0, 3600000, "PER_HOUR", "compressor failures per cold-room or freezer sensor per hour (cleared by reset_fault)" },
		{ "warm-rate", "sim", NULL, TW_OPT_DOUBLE, &c.warm_rate, 0.001, 6000, "C_PER_MIN", "how fast a room with a failed compressor warms" },
		{ "fail-sensor", "sim", NULL, TW_OPT_STRING, &c.fail_sensor, 0, 0, "ID", "this sensor starts with a failed compressor (e.g. temp-0001)" },
		{ "dropout-rate", "sim", NULL, TW_OPT_DOUBLE, &c.dropout_rate, 0, 3600000, "PER_HOUR", "dropouts per sensor per hour: 30 to 120 s without messages" },
		{ "commands", "sim", NULL, TW_OPT_BOOL, &c.commands, 0, 0, NULL, "subscribe to devices/+/commands and obey set_setpoint, go_home, resume, reset_fault" },
		{ "progress", "sim", NULL, TW_OPT_BOOL, &c.progress, 0, 0, NULL, "print a live progress line (default: when stderr is a terminal)" },
		{ "log-level", "sim", NULL, TW_OPT_STRING, &c.log_level, 0, 0, "LEVEL", "debug, info, warn or error" },
	};
	const struct tw_opts_spec spec = {
		"telewire-sim", "Simulated vehicles and temperature sensors publishing telemetry over MQTT.",
		opts, sizeof(opts) / sizeof(opts[0]), NULL, NULL, NULL,
	};
	static const char *const command_topics[] = { "devices/+/commands" };
	struct tw_mqtt_config mc = { .client_id_prefix = "telewire-sim", .max_pending = 4096 };
	struct sim_stats st = { 0 };
	struct sim_rng rng;
	struct tw_mqtt *m;
	struct device *dev;
	size_t ndev;
	int rc, level;

	c.mqtt_uri = "tcp://127.0.0.1:1883";
	c.log_level = "info";
	rc = tw_opts_parse(&spec, argc, argv);
	if (rc != TW_OK) {
		tw_opts_free(&spec);
		return rc == TW_ERR_USAGE ? 0 : 2;
	}
	level = tw_log_level_parse(c.log_level);
	if (level < 0 || c.lat_min >= c.lat_max || c.lon_min >= c.lon_max || c.vehicles + c.sensors == 0) {
		fprintf(stderr, "telewire-sim: %s\n", level < 0 ? "--log-level: expected debug, info, warn or error"
			: c.vehicles + c.sensors == 0 ? "nothing to simulate: --vehicles and --sensors are both 0"
			: "the driving area is empty: min must be below max");
		tw_opts_free(&spec);
		return 2;
	}
	if (c.progress < 0)
		c.progress = isatty(STDERR_FILENO);
	if (c.seq_start < 0)
		c.seq_start = tw_wall_ms();
	tw_log_init("sim", (enum tw_log_level)level);
	rng.s = (uint64_t)c.seed;
	dev = make_devices(&c, &rng, &ndev);
	if (dev && c.fail_sensor && *c.fail_sensor) {
		struct device *f = find_device(dev, ndev, c.fail_sensor);

		if (!f || f->kind != DEVICE_SENSOR || !f->u.sensor.fault)
			tw_warn("--fail-sensor %s: no cold-room or freezer sensor of that id here, nothing fails",
				c.fail_sensor);
		else
			tw_info("%s starts with a failed compressor (warming %g C a minute)", f->id, c.warm_rate);
	}
	mc.uri = c.mqtt_uri;
	if (c.commands) {
		mc.subscriptions = command_topics;
		mc.nsubscriptions = 1;
		mc.sub_qos = 1;
		mc.on_message = on_command;
	}
	if (!dev || tw_mqtt_start(&m, &mc) != TW_OK) {
		free(dev);
		tw_opts_free(&spec);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	tw_info("%lld vehicles and %lld sensors at %g Hz each, QoS %lld, to %s", c.vehicles,
		c.sensors, c.rate, c.qos, c.mqtt_uri);
	while (!stop_requested && tw_mqtt_wait_connected(m, 200) != TW_OK)
		;
	st.started_ms = tw_mono_ms();
	run(m, &c, dev, ndev, &rng, &st);
	if (tw_mqtt_drain(m, 5000) != TW_OK)
		tw_warn("some messages were not acknowledged by the broker before exit");
	print_progress(&st, ndev, 1);
	tw_mqtt_stop(m, 1000);
	free(dev);
	tw_opts_free(&spec);
	return 0;
}
