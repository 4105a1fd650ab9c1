/* vehicle.c -- a vehicle that drives around an area: position, speed, fuel, engine */
#include <math.h>
#include <stdio.h>

#include "sim.h"

void sim__vehicle_init(struct sim_vehicle *v, const struct sim_area *a, struct sim_rng *r)
{
	v->lat = sim__uniform(r, a->lat_min, a->lat_max);
	v->lon = sim__uniform(r, a->lon_min, a->lon_max);
	v->heading = sim__uniform(r, 0, 360);
	v->speed = sim__uniform(r, 20, 60);
	v->fuel = sim__uniform(r, 40, 100);
	v->engine_temp = sim__uniform(r, 80, 92);
	v->odometer_km = sim__uniform(r, 1000, 90000);
}

/* Turns back into the area when the next step would leave it. */
static void vehicle__keep_inside(struct sim_vehicle *v, const struct sim_area *a)
{
	if (v->lat < a->lat_min || v->lat > a->lat_max)
		v->heading = fmod(540.0 - v->heading, 360.0);
	if (v->lon < a->lon_min || v->lon > a->lon_max)
		v->heading = fmod(360.0 - v->heading, 360.0);
	v->lat = fmin(fmax(v->lat, a->lat_min), a->lat_max);
	v->lon = fmin(fmax(v->lon, a->lon_min), a->lon_max);
}

void sim__vehicle_step(struct sim_vehicle *v, const struct sim_area *a, struct sim_rng *r, double dt)
{
	double km = v->speed * dt / 3600.0, rad = v->heading * M_PI / 180.0;

	v->heading = fmod(v->heading + sim__gauss(r) * 4.0 + 360.0, 360.0);
	v->speed = fmin(fmax(v->speed + sim__gauss(r) * 2.0, 0.0), 110.0);
	v->lat += km * cos(rad) / 111.0;
	v->lon += km * sin(rad) / (111.0 * cos(v->lat * M_PI / 180.0));
	vehicle__keep_inside(v, a);
	v->odometer_km += km;
	v->fuel = v->fuel - km * 0.08 < 5.0 ? 100.0 : v->fuel - km * 0.08;
	v->engine_temp += (88.0 + v->speed * 0.05 - v->engine_temp) * 0.1 + sim__gauss(r) * 0.2;
}

int sim__vehicle_values(const struct sim_vehicle *v, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "{\"lat\":%.6f,\"lon\":%.6f,\"speed\":%.1f,\"heading\":%.0f,"
			 "\"fuel\":%.1f,\"engine_temp\":%.1f,\"odometer\":%.2f}",
			 v->lat, v->lon, v->speed, v->heading, v->fuel, v->engine_temp,
			 v->odometer_km);
	return n < 0 || (size_t)n >= len ? -1 : n;
}
