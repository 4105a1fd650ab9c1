/* test_transform_geofence.c -- geofence: edges and vertices, near misses, a concave polygon, events, bad options */
#include "tw_transform_test.h"

/* A record of device at ts with lat and lon. */
static struct tw_record *gf_rec(const char *device, int64_t ts, double lat, double lon)
{
	struct tw_record *r = tt_rec(device, ts, "lat", lat);

	if (r)
		tw_record_set_number(r, "lon", lon);
	return r;
}

/* Whether fence (polygon) holds lat,lon, as the plugin's annotation says: 1, 0, -1 error. */
static int gf_inside(const char *polygon, double lat, double lon)
{
	const struct tw_option opts[] = { { "name", "f" }, { "polygon", polygon } };
	struct tw_transform *t = tt_open("geofence", opts, 2);
	struct tw_record *r;
	int inside = -1;

	if (!t)
		return -1;
	r = gf_rec("d", 0, lat, lon);
	if (tt_run(t, r, NULL, 0) == TW_TRANSFORM_PASS)
		inside = tt_bool(r, "f_inside");
	tw_record_free(r);
	tw_transform_close(t);
	return inside;
}

struct gf_case {
	double lat, lon;
	int inside;
};

static void gf_cases(const char *polygon, const struct gf_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int got = gf_inside(polygon, c[i].lat, c[i].lon);

		TW_CHECK_INT(got, c[i].inside);
		if (got != c[i].inside)
			fprintf(stderr, "  point %.9g,%.9g of %s\n", c[i].lat, c[i].lon, polygon);
	}
}

static void test_square_edges_and_vertices(void)
{
	static const struct gf_case c[] = {
		{ 5, 5, 1 },					/* centre */
		{ 0, 5, 1 }, { 10, 5, 1 }, { 5, 0, 1 }, { 5, 10, 1 },	/* on each edge */
		{ 0, 0, 1 }, { 0, 10, 1 }, { 10, 10, 1 }, { 10, 0, 1 },	/* on each vertex */
		{ 1e-6, 5, 1 }, { -1e-6, 5, 0 },		/* just inside, just outside */
		{ 5, 10 - 1e-6, 1 }, { 5, 10 + 1e-6, 0 },
		{ 10 + 1e-6, 10 + 1e-6, 0 }, { -1e-6, -1e-6, 0 },	/* beside a vertex */
		{ 20, 20, 0 }, { 0, 20, 0 }, { 5, -3, 0 },	/* outside, on an edge's line */
	};

	gf_cases("0,0 0,10 10,10 10,0", c, sizeof(c) / sizeof(c[0]));
}

static void test_real_coordinates(void)
{
	/* Decimal degrees are not exact in binary: the 1e-9 degree margin makes
	 * points on the edge count as on it. */
	static const struct gf_case c[] = {
		{ 52.375, 4.90, 1 }, { 52.37, 4.885, 1 }, { 52.38, 4.88, 1 },
		{ 52.375, 4.9000001, 0 }, { 52.3800001, 4.89, 0 }, { 52.375, 4.8999999, 1 },
		{ 52.375, 4.89, 1 }, { 52.39, 4.89, 0 },
	};

	gf_cases("52.37,4.88 52.37,4.90 52.38,4.90 52.38,4.88", c, sizeof(c) / sizeof(c[0]));
}

static void test_real_diagonal_edge(void)
{
	/* Without the margin, half of these points on the diagonal would fall
	 * outside by rounding. The triangle lies below (south of) it. */
	static const struct gf_case c[] = {
		{ 52.3705, 4.881, 1 }, { 52.371, 4.882, 1 }, { 52.372, 4.884, 1 },
		{ 52.3725, 4.885, 1 }, { 52.374, 4.888, 1 }, { 52.3755, 4.891, 1 },
		{ 52.3705001, 4.881, 0 }, { 52.3724999, 4.885, 1 }, { 52.3755001, 4.891, 0 },
	};

	gf_cases("52.37,4.88 52.38,4.90 52.37,4.90", c, sizeof(c) / sizeof(c[0]));
}

static void test_diagonal_edge(void)
{
	/* x = lon, y = lat: the triangle below the line lat = lon */
	static const struct gf_case c[] = {
		{ 5, 5, 1 }, { 2.5, 2.5, 1 }, { 5.000001, 5, 0 }, { 4.999999, 5, 1 }, { 1, 9, 1 },
		{ 9, 1, 0 },
	};

	gf_cases("0,0 10,10 0,10", c, sizeof(c) / sizeof(c[0]));
}

static void test_concave(void)
{
	/* A U: x (lon) 0..10, y (lat) 0..10, with the notch x 3..7, y 3..10 cut out. */
	static const char u[] = "0,0 0,10 10,10 10,7 3,7 3,3 10,3 10,0";
	static const struct gf_case c[] = {
		{ 5, 5, 0 },		/* in the notch */
		{ 5, 1.5, 1 }, { 5, 8.5, 1 }, { 1, 5, 1 },	/* arms and bottom */
		{ 3, 5, 1 }, { 3, 3, 1 }, { 3, 7, 1 },		/* notch floor, its corners */
		{ 10, 5, 0 },		/* the mouth of the notch, between the arms' tops */
		{ 10, 8, 1 }, { 10, 2, 1 },			/* the arms' top edges */
		{ 3, 1, 1 }, { 3, 9, 1 },	/* on the line through the notch floor */
		{ 3, -1, 0 }, { 3, 11, 0 },
		{ 10, -1, 0 }, { 10, 11, 0 },	/* on the line of the top edges */
		{ 3.000001, 5, 0 }, { 2.999999, 5, 1 },	/* above and below the floor */
		{ 5, 7, 1 }, { 5, 7.000001, 1 }, { 5, 6.999999, 0 },	/* right notch wall */
		{ 5, 3, 1 }, { 5, 2.999999, 1 }, { 5, 3.000001, 0 },	/* left notch wall */
	};

	gf_cases(u, c, sizeof(c) / sizeof(c[0]));
}

static void test_closed_and_spaced_polygon(void)
{
	static const struct gf_case c[] = { { 5, 5, 1 }, { 11, 5, 0 } };

	gf_cases("  0,0\t0,10  10,10 10,0 0,0 ", c, sizeof(c) / sizeof(c[0]));
}

static void test_polygon_over_several_lines(void)
{
	/* The config reader takes lines of about 200 bytes: a long polygon is
	 * written as several polygon lines, whose points add up in order. */
	const struct tw_option opts[] = { { "name", "f" }, { "polygon", "0,0 0,10" },
					  { "lat_key", "la" }, { "polygon", "10,10" },
					  { "polygon", "10,0" } };
	struct tw_transform *t = tt_open("geofence", opts, 5);
	struct tw_record *r;

	if (!t)
		return;
	r = tt_rec("d", 0, "la", 9);
	tw_record_set_number(r, "lon", 1);
	TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
	TW_CHECK_INT(tt_bool(r, "f_inside"), 1);	/* a triangle would not hold it */
	tw_record_free(r);
	tw_transform_close(t);
}

/* Feeds one position and returns the event ("enter", "leave", "" none). */
static const char *gf_step(struct tw_transform *t, const char *device, int64_t ts, double lat,
			   double lon, char *buf, size_t len)
{
	struct tw_record *r = gf_rec(device, ts, lat, lon);

	buf[0] = '\0';
	TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
	TW_CHECK(tt_nemits(r) <= 1);
	if (tt_nemits(r) == 1)
		snprintf(buf, len, "%s", strstr(tt_emit(r, 0)->json_args, "\"enter\"") ? "enter"
					 : strstr(tt_emit(r, 0)->json_args, "\"leave\"") ? "leave" : "?");
	tw_record_free(r);
	return buf;
}

static void test_enter_and_leave(void)
{
	const struct tw_option opts[] = { { "name", "depot" }, { "polygon", "0,0 0,10 10,10 10,0" } };
	struct tw_transform *t = tt_open("geofence", opts, 2);
	char b[16];

	if (!t)
		return;
	TW_CHECK_STR(gf_step(t, "v1", 1, 20, 20, b, sizeof(b)), "");	/* first, outside */
	TW_CHECK_STR(gf_step(t, "v1", 2, 20, 21, b, sizeof(b)), "");
	TW_CHECK_STR(gf_step(t, "v1", 3, 0, 5, b, sizeof(b)), "enter");	/* onto the edge */
	TW_CHECK_STR(gf_step(t, "v1", 4, 5, 5, b, sizeof(b)), "");
	TW_CHECK_STR(gf_step(t, "v1", 5, -0.001, 5, b, sizeof(b)), "leave");
	TW_CHECK_STR(gf_step(t, "v2", 1, 5, 5, b, sizeof(b)), "enter");	/* first, inside */
	TW_CHECK_STR(gf_step(t, "v1", 6, -1, 5, b, sizeof(b)), "");
	TW_CHECK_STR(gf_step(t, "v2", 2, 50, 50, b, sizeof(b)), "leave");
	tw_transform_close(t);
}

static void test_event_text_and_options(void)
{
	const struct tw_option opts[] = { { "name", "depot" }, { "polygon", "0,0 0,10 10,10 10,0" },
					  { "lat_key", "la" }, { "lon_key", "lo" },
					  { "output", "at_depot" }, { "group", "fleet-ops" },
					  { "method", "fence" } };
	struct tw_transform *t = tt_open("geofence", opts, 7);
	struct tw_record *r;

	if (!t)
		return;
	r = tt_rec("veh-1", 1732270000123, "la", 2.5);
	tw_record_set_number(r, "lo", 7.25);
	TW_CHECK_INT(tt_run(t, r, NULL, 0), TW_TRANSFORM_PASS);
	TW_CHECK_INT(tt_bool(r, "at_depot"), 1);
	TW_CHECK_INT(tt_nemits(r), 1);
	if (tt_nemits(r) == 1) {
		TW_CHECK_STR(tt_emit(r, 0)->group, "fleet-ops");
		TW_CHECK_STR(tt_emit(r, 0)->method, "fence");
		TW_CHECK_STR(tt_emit(r, 0)->json_args,
			     "[{\"type\":\"geofence\",\"name\":\"depot\",\"device\":\"veh-1\","
			     "\"event\":\"enter\",\"lat\":2.5,\"lon\":7.25,\"ts\":1732270000123}]");
	}
	tw_record_free(r);
	tw_transform_close(t);
}

static void test_other_records(void)
{
	const struct tw_option opts[] = { { "name", "f" }, { "polygon", "0,0 0,10 10,10" } };
	struct tw_transform *t = tt_open("geofence", opts, 2);
	struct tw_record *r;
	char err[256] = "";

	if (!t)
		return;
	r = tt_rec("d", 0, "lat", 5);	/* no lon: unchanged */
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_PASS);
	TW_CHECK_INT(tw_record_count(r), 1);
	tw_record_set_string(r, "lon", "east");
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_ERROR);
	TW_CHECK_STR(err, "field 'lon' is not a number");
	tw_record_set_number(r, "lon", 5);
	tw_record_set_number(r, "lat", 95);
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_ERROR);
	TW_CHECK_STR(err, "field 'lat': 95 is outside -90..90");
	tw_record_set_number(r, "lat", 5);
	tw_record_set_number(r, "lon", -180.5);
	TW_CHECK_INT(tt_run(t, r, err, sizeof(err)), TW_TRANSFORM_ERROR);
	TW_CHECK_STR(err, "field 'lon': -180.5 is outside -180..180");
	tw_record_free(r);
	tw_transform_close(t);
}

static void gf_bad(const char *polygon, const char *want)
{
	const struct tw_option opts[] = { { "name", "f" }, { "polygon", polygon } };

	tt_init_error("geofence", opts, 2, want);
}

static void test_bad_options(void)
{
	const struct tw_option noname[] = { { "polygon", "0,0 0,1 1,1" } };
	const struct tw_option nopoly[] = { { "name", "f" } };
	const struct tw_option unk[] = { { "name", "f" }, { "polygon", "0,0 0,1 1,1" },
					 { "radius", "3" } };

	tt_init_error("geofence", noname, 1, "option 'name' is required");
	tt_init_error("geofence", nopoly, 1, "option 'polygon' is required (\"lat,lon lat,lon "
		      "lat,lon ...\")");
	tt_init_error("geofence", unk, 3, "unknown option 'radius' (known: name, polygon, "
		      "lat_key, lon_key, output, group, method, max_devices)");
	gf_bad("0,0 0,1", "option 'polygon': expected at least 3 points \"lat,lon lat,lon "
	       "lat,lon\", got 2");
	gf_bad("0,0 0,1 0,0", "option 'polygon': all points lie on one line");
	gf_bad("0,0 1;1 2,2", "option 'polygon': point 2 \"1;1\": expected lat,lon");
	gf_bad("0,0 1,1,1 2,2", "option 'polygon': point 2 \"1,1,1\": expected lat,lon");
	gf_bad("0,0 1, 2,2 3,3", "option 'polygon': point 2 \"1,\": expected lat,lon");
	gf_bad("0,0 91,1 2,2", "option 'polygon': point 2: latitude 91 is outside -90..90");
	gf_bad("0,0 1,1 2,-181", "option 'polygon': point 3: longitude -181 is outside -180..180");
	gf_bad("0,0 1,1 2,2 3,3", "option 'polygon': all points lie on one line");
	gf_bad("0,0 0,0 0,0", "option 'polygon': all points lie on one line");
	gf_bad("0,0 nan,1 2,2", "point 2 \"nan,1\": expected lat,lon");
	gf_bad("", "option 'polygon' is required");
}

int main(void)
{
	TW_RUN(test_square_edges_and_vertices);
	TW_RUN(test_real_coordinates);
	TW_RUN(test_real_diagonal_edge);
	TW_RUN(test_diagonal_edge);
	TW_RUN(test_concave);
	TW_RUN(test_closed_and_spaced_polygon);
	TW_RUN(test_polygon_over_several_lines);
	TW_RUN(test_enter_and_leave);
	TW_RUN(test_event_text_and_options);
	TW_RUN(test_other_records);
	TW_RUN(test_bad_options);
	return TW_TEST_END();
}
