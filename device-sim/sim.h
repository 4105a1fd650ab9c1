/* sim.h -- simulated devices: what a vehicle and a temperature sensor report, and the commands they obey */
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

/* The area vehicles drive in (degrees). The depot is its centre. */
struct sim_area {
	double lat_min, lat_max, lon_min, lon_max;
};

#define SIM_ROUTE_MAX 8

/* route: drives its waypoints in a loop; returning: heads to the depot
 * (go_home); parked: stopped at the depot until told to resume. */
enum sim_vehicle_mode { SIM_MODE_ROUTE, SIM_MODE_RETURNING, SIM_MODE_PARKED };

struct sim_vehicle {
	double lat, lon, heading, speed, fuel, engine_temp, odometer_km;
	double route[SIM_ROUTE_MAX][2];	/* waypoints, lat and lon */
	int route_len, next;		/* next: index of the waypoint driven to */
	double depot_lat, depot_lon, cruise;
	enum sim_vehicle_mode mode;
};

enum sim_zone_kind { SIM_ZONE_COLD, SIM_ZONE_FREEZER, SIM_ZONE_AMBIENT };

struct sim_sensor {
	enum sim_zone_kind zone;
	int zone_index;
	double setpoint, temp, drift;
	int door_open_ticks;
	/* Faults: a failed compressor warms the room by warm_per_min degrees a
	 * minute (up to the ambient 25 °C) until reset_fault; a dropped-out
	 * sensor sends nothing for dropout_s seconds. Rates are per hour. */
	int fault;
	double fault_warming, dropout_s;
	double failure_per_hour, dropout_per_hour, warm_per_min;
};

void sim__vehicle_init(struct sim_vehicle *v, const struct sim_area *a, struct sim_rng *r);
/* Advances the vehicle by dt seconds. */
void sim__vehicle_step(struct sim_vehicle *v, const struct sim_area *a, struct sim_rng *r, double dt);
/* Writes the "values" object of one telemetry message; returns its length or -1. */
int sim__vehicle_values(const struct sim_vehicle *v, char *buf, size_t len);
const char *sim__vehicle_mode_name(enum sim_vehicle_mode m);

/* Initialises sensor number index (0-based): zone kinds take turns, two
 * sensors of a kind share a zone (cold-1, freezer-1, ambient-1, cold-1, ...). */
void sim__sensor_init(struct sim_sensor *s, int index, struct sim_rng *r);
void sim__sensor_step(struct sim_sensor *s, struct sim_rng *r, double dt);
int sim__sensor_values(const struct sim_sensor *s, char *buf, size_t len);
static inline int sim__sensor_online(const struct sim_sensor *s) { return s->dropout_s <= 0; }
void sim__sensor_fail(struct sim_sensor *s);

/* A malformed payload of one of several kinds, for --bad-ratio. */
int sim__bad_payload(struct sim_rng *r, char *buf, size_t len);

/* Commands from devices/{id}/commands. */
enum sim_command_kind { SIM_CMD_SET_SETPOINT, SIM_CMD_GO_HOME, SIM_CMD_RESUME, SIM_CMD_RESET_FAULT };

struct sim_command {
	enum sim_command_kind kind;
	double setpoint;		/* set_setpoint only */
};

/* Parses a command payload ({"command": "...", "args": {...}}). Returns 0,
 * or -1 with the reason in err. Pure: no I/O. */
int sim__command_parse(const char *payload, size_t len, struct sim_command *out, char *err, size_t errlen);
/* Applies a command to a device of the right kind; returns 0 with what
 * happened in msg, or -1 with why not (wrong kind of device). */
int sim__vehicle_command(struct sim_vehicle *v, const struct sim_command *c, char *msg, size_t len);
int sim__sensor_command(struct sim_sensor *s, const struct sim_command *c, char *msg, size_t len);

#endif
