/* sensor.c -- a temperature sensor in a cold room, freezer or ambient zone */
#include <math.h>
#include <stdio.h>

#include "sim.h"

static const char *const zone_names[] = { "cold", "freezer", "ambient" };
static const double zone_setpoints[] = { 4.0, -18.0, 21.0 };

void sim__sensor_init(struct sim_sensor *s, int index, struct sim_rng *r)
{
	s->zone = (enum sim_zone_kind)(index % 3);
	s->zone_index = index / 3 + 1;
	s->setpoint = zone_setpoints[s->zone];
	s->temp = s->setpoint + sim__gauss(r) * 0.5;
	s->drift = 0.0;
	s->door_open_ticks = 0;
}

void sim__sensor_step(struct sim_sensor *s, struct sim_rng *r, double dt)
{
	/* A door opens now and then and lets warm air in for a few readings. */
	if (s->door_open_ticks > 0)
		s->door_open_ticks--;
	else if (s->zone != SIM_ZONE_AMBIENT && sim__uniform(r, 0, 1) < 0.002)
		s->door_open_ticks = 5 + (int)(sim__rand(r) % 10);
	s->drift += sim__gauss(r) * 0.01 * dt;
	s->drift *= 0.99;
	double target = s->setpoint + s->drift + (s->door_open_ticks ? 6.0 : 0.0);
	s->temp += (target - s->temp) * fmin(0.3 * dt, 1.0) + sim__gauss(r) * 0.05;
}

int sim__sensor_values(const struct sim_sensor *s, char *buf, size_t len)
{
	int n = snprintf(buf, len, "{\"temp\":%.2f,\"setpoint\":%.1f,\"door_open\":%s,"
			 "\"zone\":\"%s-%d\"}", s->temp, s->setpoint,
			 s->door_open_ticks ? "true" : "false", zone_names[s->zone],
			 s->zone_index);
	return n < 0 || (size_t)n >= len ? -1 : n;
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
