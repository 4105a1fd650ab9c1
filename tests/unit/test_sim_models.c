/* test_sim_models.c -- simulated devices stay plausible, and a seed repeats a run */
#include <math.h>
#include <string.h>

#include "sim.h"
#include "tw_test.h"

/* Parses a literal command payload. */
#define PARSE(js, c, err) sim__command_parse(js, strlen(js), c, err, sizeof(err))

static const struct sim_area area = { 52.33, 52.40, 4.85, 4.95 };

static void test_vehicle_stays_in_area(void)
{
	struct sim_rng r = { 42 };
	struct sim_vehicle v;
	int outside = 0;

	sim__vehicle_init(&v, &area, &r);
	for (int i = 0; i < 100000; i++) {
		sim__vehicle_step(&v, &area, &r, 5.0);
		outside += v.lat < area.lat_min || v.lat > area.lat_max ||
			   v.lon < area.lon_min || v.lon > area.lon_max;
		if (v.speed < 0 || v.speed > 110 || v.fuel < 5 || v.fuel > 100)
			outside++;
	}
	TW_CHECK_INT(outside, 0);
}

static void test_vehicle_moves(void)
{
	struct sim_rng r = { 1 };
	struct sim_vehicle v;
	double odo;

	sim__vehicle_init(&v, &area, &r);
	odo = v.odometer_km;
	for (int i = 0; i < 3600; i++)
		sim__vehicle_step(&v, &area, &r, 1.0);
	/* An hour at 0..110 km/h: some distance, not an impossible one. */
	TW_CHECK(v.odometer_km - odo > 1.0);
	TW_CHECK(v.odometer_km - odo < 110.0);
}

static void test_same_seed_same_run(void)
{
	struct sim_rng a = { 7 }, b = { 7 }, c = { 8 };
	char x[512], y[512], z[512];
	struct sim_vehicle va, vb, vc;

	sim__vehicle_init(&va, &area, &a);
	sim__vehicle_init(&vb, &area, &b);
	sim__vehicle_init(&vc, &area, &c);
	for (int i = 0; i < 50; i++) {
		sim__vehicle_step(&va, &area, &a, 1);
		sim__vehicle_step(&vb, &area, &b, 1);
		sim__vehicle_step(&vc, &area, &c, 1);
	}
	sim__vehicle_values(&va, x, sizeof(x));
	sim__vehicle_values(&vb, y, sizeof(y));
	sim__vehicle_values(&vc, z, sizeof(z));
	TW_CHECK_STR(x, y);
	TW_CHECK(strcmp(x, z) != 0);
}

static void test_sensor_tracks_setpoint(void)
{
	struct sim_rng r = { 3 };
	struct sim_sensor s;
	double sum = 0;
	int n = 0;

	sim__sensor_init(&s, 1, &r); /* index 1: a freezer */
	TW_CHECK_DBL(s.setpoint, -18.0, 1e-9);
	for (int i = 0; i < 20000; i++) {
		sim__sensor_step(&s, &r, 1.0);
		if (!s.door_open_ticks) {
			sum += s.temp;
			n++;
		}
	}
	TW_CHECK(n > 10000);
	TW_CHECK_DBL(sum / n, -18.0, 1.5);
}

static void test_payload_buffers(void)
{
	struct sim_rng r = { 3 };
	struct sim_sensor s;
	char small[8], buf[256];

	sim__sensor_init(&s, 0, &r);
	TW_CHECK_INT(sim__sensor_values(&s, small, sizeof(small)), -1);
	TW_CHECK(sim__sensor_values(&s, buf, sizeof(buf)) > 0);
	TW_CHECK(strstr(buf, "\"zone\":\"cold-1\"") != NULL);
	for (int i = 0; i < 50; i++)
		TW_CHECK(sim__bad_payload(&r, buf, sizeof(buf)) >= 0);
}

static void test_vehicle_follows_route(void)
{
	struct sim_rng r = { 5 };
	struct sim_vehicle v;
	int laps = 0, last = 0;

	sim__vehicle_init(&v, &area, &r);
	TW_CHECK(v.route_len >= 3 && v.route_len <= SIM_ROUTE_MAX);
	for (int i = 0; i < 4 * 3600; i++) {
		sim__vehicle_step(&v, &area, &r, 1.0);
		if (v.next != last)
			laps++;
		last = v.next;
	}
	/* Four hours in a 7 km area: many waypoints reached, in order. */
	TW_CHECK(laps > 2 * v.route_len);
	TW_CHECK_INT(v.mode, SIM_MODE_ROUTE);
}

static void test_vehicle_go_home_parks_at_depot(void)
{
	struct sim_rng r = { 9 };
	struct sim_vehicle v;
	struct sim_command c = { SIM_CMD_GO_HOME, 0 };
	char msg[160], buf[512];

	sim__vehicle_init(&v, &area, &r);
	TW_CHECK_INT(sim__vehicle_command(&v, &c, msg, sizeof(msg)), 0);
	TW_CHECK_INT(v.mode, SIM_MODE_RETURNING);
	for (int i = 0; i < 3600 && v.mode != SIM_MODE_PARKED; i++)
		sim__vehicle_step(&v, &area, &r, 1.0);
	TW_CHECK_INT(v.mode, SIM_MODE_PARKED);
	TW_CHECK_DBL(v.lat, (area.lat_min + area.lat_max) / 2, 0.001);
	TW_CHECK_DBL(v.lon, (area.lon_min + area.lon_max) / 2, 0.001);
	sim__vehicle_step(&v, &area, &r, 1.0);
	TW_CHECK_DBL(v.speed, 0.0, 1e-9);
	sim__vehicle_values(&v, buf, sizeof(buf));
	TW_CHECK(strstr(buf, "\"mode\":\"parked\"") != NULL);
	c.kind = SIM_CMD_RESUME;
	TW_CHECK_INT(sim__vehicle_command(&v, &c, msg, sizeof(msg)), 0);
	for (int i = 0; i < 60; i++)
		sim__vehicle_step(&v, &area, &r, 1.0);
	TW_CHECK(v.speed > 5.0);
	c.kind = SIM_CMD_RESET_FAULT;
	TW_CHECK_INT(sim__vehicle_command(&v, &c, msg, sizeof(msg)), -1);
}

static void test_compressor_failure_and_reset(void)
{
	struct sim_rng r = { 11 };
	struct sim_sensor s;
	struct sim_command c = { SIM_CMD_RESET_FAULT, 0 };
	char msg[160];

	sim__sensor_init(&s, 0, &r); /* cold room, 4 °C */
	s.warm_per_min = 1.0;
	sim__sensor_fail(&s);
	for (int i = 0; i < 600; i++)
		sim__sensor_step(&s, &r, 1.0);
	/* Ten minutes at 1 °C a minute: about 14 °C, never past ambient. */
	TW_CHECK(s.temp > 11.0 && s.temp < 26.0);
	for (int i = 0; i < 3600; i++)
		sim__sensor_step(&s, &r, 1.0);
	TW_CHECK(s.temp < 27.0);
	TW_CHECK_INT(sim__sensor_command(&s, &c, msg, sizeof(msg)), 0);
	TW_CHECK_INT(s.fault, 0);
	for (int i = 0; i < 60; i++)
		sim__sensor_step(&s, &r, 1.0);
	TW_CHECK_DBL(s.temp, 4.0, 2.5);
	/* An ambient sensor has no compressor to fail. */
	sim__sensor_init(&s, 2, &r);
	sim__sensor_fail(&s);
	TW_CHECK_INT(s.fault, 0);
}

static void test_set_setpoint_and_dropout(void)
{
	struct sim_rng r = { 13 };
	struct sim_sensor s;
	struct sim_command c;
	char msg[160], err[160];
	int offline = 0;

	sim__sensor_init(&s, 1, &r);
	TW_CHECK_INT(PARSE("{\"command\":\"set_setpoint\",\"args\":{\"setpoint\":-22}}", &c, err), 0);
	TW_CHECK_INT(sim__sensor_command(&s, &c, msg, sizeof(msg)), 0);
	for (int i = 0; i < 120; i++)
		sim__sensor_step(&s, &r, 1.0);
	TW_CHECK_DBL(s.temp, -22.0, 2.0);
	c.kind = SIM_CMD_GO_HOME;
	TW_CHECK_INT(sim__sensor_command(&s, &c, msg, sizeof(msg)), -1);
	s.dropout_per_hour = 60; /* one a minute on average */
	for (int i = 0; i < 3600; i++) {
		sim__sensor_step(&s, &r, 1.0);
		offline += !sim__sensor_online(&s);
	}
	TW_CHECK(offline > 600 && offline < 3500);
}

static void test_command_parse(void)
{
	struct sim_command c;
	char err[160];
	const char *ok = "{\"command\":\"go_home\",\"args\":{},\"from\":\"u\",\"ts\":1}";

	TW_CHECK_INT(sim__command_parse(ok, strlen(ok), &c, err, sizeof(err)), 0);
	TW_CHECK_INT(c.kind, SIM_CMD_GO_HOME);
	TW_CHECK_INT(PARSE("{\"command\":\"reset_fault\"}", &c, err), 0);
	TW_CHECK_INT(c.kind, SIM_CMD_RESET_FAULT);
	TW_CHECK_INT(PARSE("nope", &c, err), -1);
	TW_CHECK(strstr(err, "not JSON") != NULL);
	TW_CHECK_INT(PARSE("{\"command\":\"fly\"}", &c, err), -1);
	TW_CHECK(strstr(err, "unknown command \"fly\"") != NULL);
	TW_CHECK_INT(PARSE("{\"command\":\"set_setpoint\"}", &c, err), -1);
	TW_CHECK(strstr(err, "args.setpoint") != NULL);
	TW_CHECK_INT(PARSE("{\"command\":\"set_setpoint\",\"args\":{\"setpoint\":99}}", &c, err), -1);
	TW_CHECK(strstr(err, "between -40 and 40") != NULL);
	TW_CHECK_INT(PARSE("[1]", &c, err), -1);
}

int main(void)
{
	TW_RUN(test_vehicle_stays_in_area);
	TW_RUN(test_vehicle_moves);
	TW_RUN(test_same_seed_same_run);
	TW_RUN(test_sensor_tracks_setpoint);
	TW_RUN(test_payload_buffers);
	TW_RUN(test_vehicle_follows_route);
	TW_RUN(test_vehicle_go_home_parks_at_depot);
	TW_RUN(test_compressor_failure_and_reset);
	TW_RUN(test_set_setpoint_and_dropout);
	TW_RUN(test_command_parse);
	return TW_TEST_END();
}
