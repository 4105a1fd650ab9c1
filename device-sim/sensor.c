/* sensor.c -- a temperature sensor in a cold room, freezer or ambient zone */
#include <math.h>
#include <stdio.h>

#include "sim.h"

#define AMBIENT_C 25.0		/* where a room without a compressor ends up */

static const char *const zone_names[] = { "cold", "freezer", "ambient" };
static const double zone_setpoints[] = { 4.0, -18.0, 21.0 };

void sim__sensor_init(struct sim_sensor *s, int index, struct sim_rng *r)
{
	s->zone = (enum sim_zone_kind)(index % 3);
	s->zone_index = index / 6 + 1;
	s->setpoint = zone_setpoints[s->zone];
	s->temp = s->setpoint + sim__gauss(r) * 0.5;
	s->drift = 0.0;
	s->door_open_ticks = 0;
	s->fault = 0;
	s->fault_warming = 0.0;
	s->dropout_s = 0.0;
	s->failure_per_hour = 0.0;
	s->dropout_per_hour = 0.0;
	s->warm_per_min = 0.3;
}

void sim__sensor_fail(struct sim_sensor *s)
{
	if (s->zone != SIM_ZONE_AMBIENT)
		s->fault = 1;
}

/* Chance that an event of rate per_hour happens within dt seconds. */
static int sensor__happens(struct sim_rng *r, double per_hour, double dt)
{
	return per_hour > 0 && sim__uniform(r, 0, 1) < 1.0 - exp(-per_hour * dt / 3600.0);
}

void sim__sensor_step(struct sim_sensor *s, struct sim_rng *r, double dt)
{
	if (s->dropout_s > 0)
		s->dropout_s -= dt;
	else if (sensor__happens(r, s->dropout_per_hour, dt))
		s->dropout_s = sim__uniform(r, 30, 120);
	if (!s->fault && sensor__happens(r, s->failure_per_hour, dt))
		sim__sensor_fail(s);
	if (s->fault)
		s->fault_warming = fmin(s->fault_warming + s->warm_per_min * dt / 60.0,
					fmax(AMBIENT_C - s->setpoint, 0.0));
	/* A door opens now and then and lets warm air in for a few readings. */
	if (s->door_open_ticks > 0)
		s->door_open_ticks--;
	else if (s->zone != SIM_ZONE_AMBIENT && sim__uniform(r, 0, 1) < 0.002)
		s->door_open_ticks = 5 + (int)(sim__rand(r) % 10);
	s->drift += sim__gauss(r) * 0.01 * dt;
	s->drift *= 0.99;
	double target = s->setpoint + s->drift + s->fault_warming + (s->door_open_ticks ? 6.0 : 0.0);
	s->temp += (target - s->temp) * fmin(0.3 * dt, 1.0) + sim__gauss(r) * 0.05;
}

int sim__sensor_values(const struct sim_sensor *s, char *buf, size_t len)
{
	int n = snprintf(buf, len, "{\"temp\":%.2f,\"setpoint\":%.1f,\"deviation\":%.2f,"
			 "\"door_open\":%s,\"fault\":%s,\"zone\":\"%s-%d\"}", s->temp, s->setpoint,
			 s->temp - s->setpoint, s->door_open_ticks ? "true" : "false",
			 s->fault ? "true" : "false", zone_names[s->zone], s->zone_index);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

int sim__sensor_command(struct sim_sensor *s, const struct sim_command *c, char *msg, size_t len)
{
	switch (c->kind) {
	case SIM_CMD_SET_SETPOINT:
		snprintf(msg, len, "set_setpoint: %.1f -> %.1f", s->setpoint, c->setpoint);
		s->setpoint = c->setpoint;
		return 0;
	case SIM_CMD_RESET_FAULT:
		snprintf(msg, len, "reset_fault: %s", s->fault ? "compressor failure cleared, cooling down"
			 : "no fault to clear");
		s->fault = 0;
		s->fault_warming = 0.0;
		return 0;
	default:
		snprintf(msg, len, "a sensor takes set_setpoint and reset_fault only");
		return -1;
	}
}

int sim__bad_payload(struct sim_rng *r, char *buf, size_t len)
{
	static const char *const bad[] = {
		"not json at all",
		"{\"temp\": 21.5",			/* truncated */
		"{\"ts\": \"yesterday\", \"values\": {\"temp\": 1}}",
		"{\"values\": [1, 2, 3]}",
		"[1, 2, 3]",
		"{\"temp\": {\"nested\": {\"too\": \"deep\"}}}",
		"\xff\xfe{\"temp\": 1}",		/* invalid UTF-8 */
		"",
	};
	int n = snprintf(buf, len, "%s", bad[sim__rand(r) % (sizeof(bad) / sizeof(bad[0]))]);

	return n < 0 || (size_t)n >= len ? -1 : n;
}
