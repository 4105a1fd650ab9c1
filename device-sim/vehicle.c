/* vehicle.c -- a vehicle that drives a route around an area: position, speed, fuel, engine */
#include <math.h>
#include <stdio.h>

#include "sim.h"

#define KM_PER_DEG_LAT 111.0
#define ARRIVED_KM 0.05		/* closer than this to a waypoint counts as there */

static const char *const mode_names[] = { "route", "returning", "parked" };

const char *sim__vehicle_mode_name(enum sim_vehicle_mode m)
{
	return mode_names[m];
}

void sim__vehicle_init(struct sim_vehicle *v, const struct sim_area *a, struct sim_rng *r)
{
	v->lat = sim__uniform(r, a->lat_min, a->lat_max);
	v->lon = sim__uniform(r, a->lon_min, a->lon_max);
	v->heading = sim__uniform(r, 0, 360);
	v->cruise = sim__uniform(r, 30, 70);
	v->speed = v->cruise;
	v->fuel = sim__uniform(r, 40, 100);
	v->engine_temp = sim__uniform(r, 80, 92);
	v->odometer_km = sim__uniform(r, 1000, 90000);
	v->route_len = 3 + (int)(sim__rand(r) % (SIM_ROUTE_MAX - 2));
	for (int i = 0; i < v->route_len; i++) {
		v->route[i][0] = sim__uniform(r, a->lat_min, a->lat_max);
		v->route[i][1] = sim__uniform(r, a->lon_min, a->lon_max);
	}
	v->next = 0;
	v->depot_lat = (a->lat_min + a->lat_max) / 2;
	v->depot_lon = (a->lon_min + a->lon_max) / 2;
	v->mode = SIM_MODE_ROUTE;
}

/* Distance (km, flat-earth: fine at a city's size) and bearing (degrees). */
static double vehicle__towards(const struct sim_vehicle *v, double lat, double lon, double *bearing)
{
	double dn = (lat - v->lat) * KM_PER_DEG_LAT;
	double de = (lon - v->lon) * KM_PER_DEG_LAT * cos(v->lat * M_PI / 180.0);

	*bearing = fmod(atan2(de, dn) * 180.0 / M_PI + 360.0, 360.0);
	return sqrt(dn * dn + de * de);
}

/* Turns towards bearing by at most max_turn degrees. */
static double vehicle__turn(double heading, double bearing, double max_turn)
{
	double diff = fmod(bearing - heading + 540.0, 360.0) - 180.0;

	diff = fmax(fmin(diff, max_turn), -max_turn);
	return fmod(heading + diff + 360.0, 360.0);
}

void sim__vehicle_step(struct sim_vehicle *v, const struct sim_area *a, struct sim_rng *r, double dt)
{
	int home = v->mode != SIM_MODE_ROUTE;
	double tlat = home ? v->depot_lat : v->route[v->next][0];
	double tlon = home ? v->depot_lon : v->route[v->next][1];
	double bearing, dist = vehicle__towards(v, tlat, tlon, &bearing), km;

	if (v->mode == SIM_MODE_PARKED) {
		v->speed = 0;
	} else {
		/* Slow down near the target; traffic makes the speed wander. */
		double want = fmin(v->cruise, 15.0 + dist * 60.0);

		v->speed += (want - v->speed) * fmin(0.2 * dt, 1.0) + sim__gauss(r) * 1.5;
		v->speed = fmin(fmax(v->speed, 0.0), 110.0);
		v->heading = vehicle__turn(v->heading, bearing + sim__gauss(r) * 3.0, 45.0 * dt + 1.0);
	}
	km = fmin(v->speed * dt / 3600.0, dist);
	v->lat += km * cos(v->heading * M_PI / 180.0) / KM_PER_DEG_LAT;
	v->lon += km * sin(v->heading * M_PI / 180.0) / (KM_PER_DEG_LAT * cos(v->lat * M_PI / 180.0));
	v->lat = fmin(fmax(v->lat, a->lat_min), a->lat_max);
	v->lon = fmin(fmax(v->lon, a->lon_min), a->lon_max);
	v->odometer_km += km;
	if (vehicle__towards(v, tlat, tlon, &bearing) < ARRIVED_KM) {
		if (v->mode == SIM_MODE_RETURNING)
			v->mode = SIM_MODE_PARKED;
		else if (v->mode == SIM_MODE_ROUTE)
			v->next = (v->next + 1) % v->route_len;
	}
	/* Refuelling is a stop at the pump, folded into one step. */
	v->fuel = v->fuel - km * 0.08 < 5.0 ? 100.0 : v->fuel - km * 0.08;
	v->engine_temp += ((v->speed > 0 ? 88.0 + v->speed * 0.05 : 40.0) - v->engine_temp) *
			  fmin(0.1 * dt, 1.0) + sim__gauss(r) * 0.2;
}

int sim__vehicle_values(const struct sim_vehicle *v, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "{\"lat\":%.6f,\"lon\":%.6f,\"speed\":%.1f,\"heading\":%.0f,"
			 "\"fuel\":%.1f,\"engine_temp\":%.1f,\"odometer\":%.2f,\"mode\":\"%s\"}",
			 v->lat, v->lon, v->speed, v->heading, v->fuel, v->engine_temp,
			 v->odometer_km, mode_names[v->mode]);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

int sim__vehicle_command(struct sim_vehicle *v, const struct sim_command *c, char *msg, size_t len)
{
	switch (c->kind) {
	case SIM_CMD_GO_HOME:
		if (v->mode == SIM_MODE_ROUTE)
			v->mode = SIM_MODE_RETURNING;
		snprintf(msg, len, "go_home: %s, depot at %.5f,%.5f", mode_names[v->mode],
			 v->depot_lat, v->depot_lon);
		return 0;
	case SIM_CMD_RESUME:
		v->mode = SIM_MODE_ROUTE;
		snprintf(msg, len, "resume: back on its route, to waypoint %d of %d", v->next + 1,
			 v->route_len);
		return 0;
	default:
		snprintf(msg, len, "a vehicle takes go_home and resume only");
		return -1;
	}
}
