/* geofence.c -- built-in plugin: enter and leave events when a device crosses a polygon
 *
 * Options: name (required); polygon (required: "lat,lon lat,lon ...", at
 * least 3 points, closed by itself; given on several lines, the points add
 * up); lat_key and lon_key (default "lat", "lon"); output (default
 * "<name>_inside"); group (default "alerts"); method (default "alert");
 * max_devices (default 100000). Edges are straight lines in degrees; a
 * point within 1e-9 degrees of an edge or a vertex is on the boundary, and
 * the boundary is inside. Elsewhere the even-odd rule decides (so a
 * self-crossing polygon has holes). A device's first position emits
 * "enter" when inside and nothing when outside.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_kit.h"
#include "telewire/transform.h"

#define GF_MAX_POINTS 10000
#define GF_EDGE_EPS 1e-9	/* degrees, about 0.1 mm */

struct gf_point {
	double x, y;	/* lon, lat */
};

struct gf_dev {
	int known, inside;
};

struct gf_state {
	const struct tw_host_api *api;
	char *name, *lat_key, *lon_key, *output, *group, *method;
	struct gf_point *pts;
	size_t npts;
	struct kit_devices devices;
};

static const char *const gf_known[] = { "name", "polygon", "lat_key", "lon_key", "output",
					"group", "method", "max_devices", NULL };

static void gf_cleanup(void *p)
{
	struct gf_state *st = p;

	if (!st)
		return;
	kit_devices_free(&st->devices);
	free(st->pts);
	free(st->name);
	free(st->lat_key);
	free(st->lon_key);
	free(st->output);
	free(st->group);
	free(st->method);
	free(st);
}

/* Parses one "lat,lon" starting at s; returns the end, or NULL. */
static const char *gf_parse_point(const char *s, struct gf_point *pt)
{
	char *end;

	pt->y = strtod(s, &end);
	if (end == s || *end != ',')
		return NULL;
	s = end + 1;
	pt->x = strtod(s, &end);
	if (end == s || (*end && *end != ' ' && *end != '\t'))
		return NULL;
	return isfinite(pt->x) && isfinite(pt->y) ? end : NULL;
}

static int gf_check_point(const struct gf_point *pt, size_t i, char *err, size_t errlen)
{
	if (pt->y < -90 || pt->y > 90)
		return snprintf(err, errlen, "option 'polygon': point %zu: latitude %g is "
				"outside -90..90", i, pt->y), -1;
	if (pt->x < -180 || pt->x > 180)
		return snprintf(err, errlen, "option 'polygon': point %zu: longitude %g is "
				"outside -180..180", i, pt->x), -1;
	return 0;
}

/* Reads every point of text into st->pts. */
static int gf_parse_polygon(struct gf_state *st, const char *s, char *err, size_t errlen)
{
	const char *end;
	size_t len;

	while (*s) {
		if (*s == ' ' || *s == '\t') {
			s++;
			continue;
		}
		if (st->npts == GF_MAX_POINTS)
			return snprintf(err, errlen, "option 'polygon': more than %d points",
					GF_MAX_POINTS), -1;
		if (!(end = gf_parse_point(s, &st->pts[st->npts]))) {
			len = strcspn(s, " \t");
			return snprintf(err, errlen, "option 'polygon': point %zu \"%.*s\": "
					"expected lat,lon", st->npts + 1, (int)(len > 64 ? 64 : len),
					s), -1;
		}
		if (gf_check_point(&st->pts[st->npts], st->npts + 1, err, errlen) != 0)
			return -1;
		st->npts++;
		s = end;
	}
	return 0;
}

/* 1 when every point lies on the line through p[0] and the first point apart from it. */
static int gf_collinear(const struct gf_point *p, size_t n)
{
	size_t i = 1;

	while (i < n && p[i].x == p[0].x && p[i].y == p[0].y)
		i++;
	for (size_t k = i + 1; k < n; k++)
		if ((p[i].x - p[0].x) * (p[k].y - p[0].y) != (p[i].y - p[0].y) * (p[k].x - p[0].x))
			return 0;
	return 1;
}

/* Every "polygon" option adds its points, in file order: a long polygon
 * can be written over several lines. */
static int gf_polygon(struct gf_state *st, const struct tw_option *opts, size_t nopts,
		      char *err, size_t errlen)
{
	const struct gf_point *first, *last;
	size_t bytes = 0;

	for (size_t i = 0; i < nopts; i++)
		bytes += strcmp(opts[i].key, "polygon") == 0 ? strlen(opts[i].value) + 1 : 0;
	if (bytes <= 1)
		return snprintf(err, errlen, "option 'polygon' is required (\"lat,lon lat,lon "
				"lat,lon ...\")"), -1;
	/* Every point takes at least 4 bytes ("1,2 "): a bound for the array. */
	if (!(st->pts = calloc(bytes / 4 + 2, sizeof(*st->pts))))
		return snprintf(err, errlen, "out of memory"), -1;
	for (size_t i = 0; i < nopts; i++)
		if (strcmp(opts[i].key, "polygon") == 0 &&
		    gf_parse_polygon(st, opts[i].value, err, errlen) != 0)
			return -1;
	first = &st->pts[0];
	last = &st->pts[st->npts ? st->npts - 1 : 0];
	if (st->npts > 3 && first->x == last->x && first->y == last->y)
		st->npts--;	/* closed explicitly, as GeoJSON does */
	if (st->npts < 3)
		return snprintf(err, errlen, "option 'polygon': expected at least 3 points "
				"\"lat,lon lat,lon lat,lon\", got %zu", st->npts), -1;
	if (gf_collinear(st->pts, st->npts))
		return snprintf(err, errlen, "option 'polygon': all points lie on one line"), -1;
	return 0;
}

static int gf_names(struct gf_state *st, const struct tw_option *opts, size_t nopts,
		    char *err, size_t errlen)
{
	const struct tw_host_api *api = st->api;
	const char *name = api->option(opts, nopts, "name", NULL);
	const char *lat = api->option(opts, nopts, "lat_key", NULL);
	const char *lon = api->option(opts, nopts, "lon_key", NULL);
	const char *output = api->option(opts, nopts, "output", NULL);
	const char *group = api->option(opts, nopts, "group", NULL);
	const char *method = api->option(opts, nopts, "method", NULL);

	if (kit_name_option(name, "name", 1, err, errlen) != 0 ||
	    kit_name_option(lat, "lat_key", 0, err, errlen) != 0 ||
	    kit_name_option(lon, "lon_key", 0, err, errlen) != 0 ||
	    kit_name_option(output, "output", 0, err, errlen) != 0 ||
	    kit_name_option(group, "group", 0, err, errlen) != 0 ||
	    kit_name_option(method, "method", 0, err, errlen) != 0)
		return -1;
	st->name = strdup(name);
	st->lat_key = kit_name_or(lat, "lat", "");
	st->lon_key = kit_name_or(lon, "lon", "");
	st->output = kit_name_or(output, name, "_inside");
	st->group = kit_name_or(group, "alerts", "");
	st->method = kit_name_or(method, "alert", "");
	if (!st->name || !st->lat_key || !st->lon_key || !st->output || !st->group ||
	    !st->method)
		return snprintf(err, errlen, "out of memory"), -1;
	return 0;
}

static int gf_init(const struct tw_host_api *api, const struct tw_option *opts, size_t nopts,
		   void **state, char *err, size_t errlen)
{
	struct gf_state *st = calloc(1, sizeof(*st));
	size_t max_devices;

	*state = NULL;
	if (!st)
		return snprintf(err, errlen, "out of memory"), -1;
	st->api = api;
	if (kit_check_known(opts, nopts, gf_known, err, errlen) != 0 ||
	    gf_names(st, opts, nopts, err, errlen) != 0 ||
	    gf_polygon(st, opts, nopts, err, errlen) != 0 ||
	    kit_max_devices(api, opts, nopts, &max_devices, err, errlen) != 0) {
		gf_cleanup(st);
		return -1;
	}
	if (kit_devices_init(&st->devices, api, "geofence", max_devices,
			     sizeof(struct gf_dev)) != 0) {
		gf_cleanup(st);
		return snprintf(err, errlen, "out of memory"), -1;
	}
	*state = st;
	return 0;
}

/* Squared distance from p to the segment a-b. */
static double gf_dist2(struct gf_point p, struct gf_point a, struct gf_point b)
{
	double dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
	double t = len2 > 0 ? ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2 : 0;
	double ex, ey;

	t = t < 0 ? 0 : t > 1 ? 1 : t;
	ex = a.x + t * dx - p.x;
	ey = a.y + t * dy - p.y;
	return ex * ex + ey * ey;
}

/* Boundary first (inside), then the even-odd rule with half-open edges. */
static int gf_contains(const struct gf_state *st, struct gf_point p)
{
	const struct gf_point *v = st->pts;
	size_t n = st->npts;
	int inside = 0;

	for (size_t i = 0, j = n - 1; i < n; j = i++)
		if (gf_dist2(p, v[j], v[i]) <= GF_EDGE_EPS * GF_EDGE_EPS)
			return 1;
	for (size_t i = 0, j = n - 1; i < n; j = i++)
		if ((v[i].y > p.y) != (v[j].y > p.y) &&
		    p.x < (v[j].x - v[i].x) * (p.y - v[i].y) / (v[j].y - v[i].y) + v[i].x)
			inside = !inside;
	return inside;
}

static int gf_emit(const struct gf_state *st, struct tw_record *r, const char *event,
		   struct gf_point p, char *err, size_t errlen)
{
	const struct tw_host_api *api = st->api;
	struct kit_json j;
	const char *args;

	kit_json_begin(&j);
	kit_json_member_str(&j, "type", "geofence");
	kit_json_member_str(&j, "name", st->name);
	kit_json_member_str(&j, "device", api->record_device(r));
	kit_json_member_str(&j, "event", event);
	kit_json_member_num(&j, "lat", p.y);
	kit_json_member_num(&j, "lon", p.x);
	kit_json_member_int(&j, "ts", api->record_ts(r));
	if (!(args = kit_json_end(&j)) || api->emit(r, st->group, st->method, args) != 0)
		return snprintf(err, errlen, "cannot queue the '%s' event of geofence '%s'", event,
				st->name), -1;
	return 0;
}

/* Reads one coordinate: 1 found, 0 absent, -1 bad (err written). */
static int gf_coord(const struct gf_state *st, const struct tw_record *r, const char *key,
		    double limit, double *out, char *err, size_t errlen)
{
	if (st->api->record_type(r, key) == TW_VALUE_NONE)
		return 0;
	if (st->api->get_number(r, key, out) != 0)
		return snprintf(err, errlen, "field '%s' is not a number", key), -1;
	if (*out < -limit || *out > limit)
		return snprintf(err, errlen, "field '%s': %g is outside -%g..%g", key, *out, limit,
				limit), -1;
	return 1;
}

static int gf_process(void *state, struct tw_record *r, char *err, size_t errlen)
{
	struct gf_state *st = state;
	const struct tw_host_api *api = st->api;
	struct gf_point p;
	struct gf_dev *d;
	int has_lat, has_lon, inside, fresh;

	has_lat = gf_coord(st, r, st->lat_key, 90, &p.y, err, errlen);
	has_lon = has_lat < 0 ? 0 : gf_coord(st, r, st->lon_key, 180, &p.x, err, errlen);
	if (has_lat < 0 || has_lon < 0)
		return TW_TRANSFORM_ERROR;
	if (!has_lat || !has_lon)
		return TW_TRANSFORM_PASS;
	if (!(d = kit_devices_get(&st->devices, api->record_device(r), &fresh)))
		return snprintf(err, errlen, "out of memory"), TW_TRANSFORM_ERROR;
	inside = gf_contains(st, p);
	if (api->set_bool(r, st->output, inside) != 0)
		return snprintf(err, errlen, "cannot add field '%s' (record full)", st->output),
		       TW_TRANSFORM_ERROR;
	if ((d->known ? inside != d->inside : inside) &&
	    gf_emit(st, r, inside ? "enter" : "leave", p, err, errlen) != 0)
		return TW_TRANSFORM_ERROR;
	d->known = 1;
	d->inside = inside;
	return TW_TRANSFORM_PASS;
}

static const struct tw_transform_plugin gf_plugin = {
	.abi_version = TW_TRANSFORM_ABI_VERSION,
	.name = "geofence",
	.description = "enter and leave events when a device crosses a polygon",
	.init = gf_init,
	.process = gf_process,
	.cleanup = gf_cleanup,
};

TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void)
{
	return &gf_plugin;
}
