/* test_sim_models.c -- simulated devices stay plausible, and a seed repeats a run */
#include <math.h>

#include "sim.h"
#include "tw_test.h"

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

int main(void)
{
	TW_RUN(test_vehicle_stays_in_area);
	TW_RUN(test_vehicle_moves);
	TW_RUN(test_same_seed_same_run);
	TW_RUN(test_sensor_tracks_setpoint);
	TW_RUN(test_payload_buffers);
	return TW_TEST_END();
}
