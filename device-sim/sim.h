/* sim.h -- simulated devices: what a vehicle and a temperature sensor report */
#ifndef TELEWIRE_SIM_H
#define TELEWIRE_SIM_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64: small, fast, and the same sequence for the same seed. */
struct sim_rng {
	uint64_t s;
};
uint64_t sim__rand(struct sim_rng *r);
double sim__uniform(struct sim_rng *r, double lo, double hi);	/* [lo, hi) */
double sim__gauss(struct sim_rng *r);				/* mean 0, sd 1 */

/* The area vehicles drive in (degrees). */
struct sim_area {
	double lat_min, lat_max, lon_min, lon_max;
};

struct sim_vehicle {
	double lat, lon, heading, speed, fuel, engine_temp, odometer_km;
};

enum sim_zone_kind { SIM_ZONE_COLD, SIM_ZONE_FREEZER, SIM_ZONE_AMBIENT };

struct sim_sensor {
	enum sim_zone_kind zone;
	int zone_index;
	double setpoint, temp, drift;
	int door_open_ticks;
};

void sim__vehicle_init(struct sim_vehicle *v, const struct sim_area *a, struct sim_rng *r);
/* Advances the vehicle by dt seconds. */
void sim__vehicle_step(struct sim_vehicle *v, const struct sim_area *a, struct sim_rng *r, double dt);
/* Writes the "values" object of one telemetry message; returns its length or -1. */
int sim__vehicle_values(const struct sim_vehicle *v, char *buf, size_t len);

void sim__sensor_init(struct sim_sensor *s, int index, struct sim_rng *r);
void sim__sensor_step(struct sim_sensor *s, struct sim_rng *r, double dt);
int sim__sensor_values(const struct sim_sensor *s, char *buf, size_t len);

/* A malformed payload of one of several kinds, for --bad-ratio. */
int sim__bad_payload(struct sim_rng *r, char *buf, size_t len);

#endif
