/* test_transform_record.c -- records: values, limits, removal, emits, the plugin api table */
#include <string.h>

#include "telewire/error.h"
#include "telewire/transform_host.h"
#include "tw_test.h"

static struct tw_record *new_record(size_t max_fields, size_t max_string)
{
	struct tw_record_limits lim = { max_fields, max_string };
	struct tw_record *r = NULL;

	TW_CHECK_INT(tw_record_new(&r, "veh-1", 1000, 7, 0, &lim), TW_OK);
	return r;
}

static void test_values(void)
{
	struct tw_record *r = new_record(8, 16);
	const char *s = NULL;
	double d = 0;
	int b = -1;

	TW_CHECK_STR(tw_record_device(r), "veh-1");
	TW_CHECK_INT(tw_record_ts(r), 1000);
	TW_CHECK_INT(tw_record_seq(r), 7);
	TW_CHECK_INT(tw_record_set_number(r, "speed", 48.5), TW_OK);
	TW_CHECK_INT(tw_record_set_bool(r, "door", 7), TW_OK);
	TW_CHECK_INT(tw_record_set_string(r, "state", "moving"), TW_OK);
	TW_CHECK_INT(tw_record_count(r), 3);
	TW_CHECK_STR(tw_record_key(r, 0), "speed");
	TW_CHECK_STR(tw_record_key(r, 2), "state");
	TW_CHECK(tw_record_key(r, 3) == NULL);
	TW_CHECK_INT(tw_record_get_number(r, "speed", &d), TW_OK);
	TW_CHECK_DBL(d, 48.5, 0);
	TW_CHECK_INT(tw_record_get_bool(r, "door", &b), TW_OK);
	TW_CHECK_INT(b, 1);
	TW_CHECK_INT(tw_record_get_string(r, "state", &s), TW_OK);
	TW_CHECK_STR(s, "moving");
	/* the wrong type or an absent key */
	TW_CHECK_INT(tw_record_get_number(r, "state", &d), TW_ERR_NOTFOUND);
	TW_CHECK_INT(tw_record_get_string(r, "nope", &s), TW_ERR_NOTFOUND);
	TW_CHECK_INT(tw_record_type(r, "nope"), TW_VALUE_NONE);
	TW_CHECK_INT(tw_record_type(r, "door"), TW_VALUE_BOOL);
	/* replacing keeps the count and changes the type */
	TW_CHECK_INT(tw_record_set_string(r, "speed", "fast"), TW_OK);
	TW_CHECK_INT(tw_record_count(r), 3);
	TW_CHECK_INT(tw_record_type(r, "speed"), TW_VALUE_STRING);
	TW_CHECK_INT(tw_record_remove(r, "door"), TW_OK);
	TW_CHECK_INT(tw_record_remove(r, "door"), TW_ERR_NOTFOUND);
	TW_CHECK_INT(tw_record_count(r), 2);
	TW_CHECK_STR(tw_record_key(r, 1), "state");
	tw_record_free(r);
}

static void test_limits(void)
{
	struct tw_record *r = new_record(2, 4);
	char longkey[TW_RECORD_MAX_KEY + 2];

	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	TW_CHECK_INT(tw_record_set_string(r, "s", "abcd"), TW_OK);
	TW_CHECK_INT(tw_record_set_string(r, "s", "abcde"), TW_ERR_LIMIT);
	TW_CHECK_INT(tw_record_set_number(r, longkey, 1), TW_ERR_LIMIT);
	TW_CHECK_INT(tw_record_set_number(r, "", 1), TW_ERR_INVAL);
	TW_CHECK_INT(tw_record_set_number(r, "n", 1.0 / 0.0), TW_ERR_INVAL);
	TW_CHECK_INT(tw_record_set_number(r, "a", 1), TW_OK);
	TW_CHECK_INT(tw_record_set_number(r, "b", 2), TW_ERR_LIMIT);
	TW_CHECK_INT(tw_record_set_number(r, "a", 3), TW_OK); /* replacing is fine when full */
	TW_CHECK_INT(tw_record_count(r), 2);
	tw_record_free(r);
}

static void test_new_rejects_device(void)
{
	char longdev[TW_RECORD_MAX_DEVICE + 2];
	struct tw_record *r = (struct tw_record *)1;

	memset(longdev, 'd', sizeof(longdev) - 1);
	longdev[sizeof(longdev) - 1] = '\0';
	TW_CHECK_INT(tw_record_new(&r, "", 0, -1, 0, NULL), TW_ERR_INVAL);
	TW_CHECK(r == NULL);
	TW_CHECK_INT(tw_record_new(&r, longdev, 0, -1, 0, NULL), TW_ERR_INVAL);
	TW_CHECK_INT(tw_record_new(&r, "d", 5, -1, TW_RECORD_TS_RECEIVED, NULL), TW_OK);
	TW_CHECK_INT(tw_record_flags(r), TW_RECORD_TS_RECEIVED);
	TW_CHECK_INT(tw_record_seq(r), -1);
	tw_record_free(r);
}

static void test_api_table(void)
{
	const struct tw_host_api *api = tw_transform_api();
	const struct tw_option opts[] = { { "key", "speed" }, { "window", "5" } };
	struct tw_record *r = new_record(2, 8);
	const struct tw_record_emit *e;
	const char *s;
	double d;

	TW_CHECK_INT(api->size, sizeof(struct tw_host_api));
	TW_CHECK_STR(api->option(opts, 2, "window", "9"), "5");
	TW_CHECK_STR(api->option(opts, 2, "output", "def"), "def");
	TW_CHECK_INT(api->set_number(r, "x", 1), 0);
	TW_CHECK_INT(api->set_string(r, "x", "too long a string"), -1);
	TW_CHECK_INT(api->get_number(r, "x", &d), 0);
	TW_CHECK_INT(api->get_string(r, "x", &s), -1);
	TW_CHECK_INT(api->remove(r, "missing"), -1);
	TW_CHECK_STR(api->record_device(r), "veh-1");
	TW_CHECK_INT(api->record_count(r), 1);
	TW_CHECK_INT(api->emit(r, "alerts", "alert", "[1]"), 0);
	TW_CHECK_INT(api->emit(r, "", "alert", "[1]"), -1);
	TW_CHECK_INT(api->emit(r, "fleet", "ping", "[2]"), 0);
	e = tw_record_emits(r);
	TW_CHECK(e && e->next && !e->next->next);
	if (e && e->next) {
		TW_CHECK_STR(e->group, "alerts");
		TW_CHECK_STR(e->next->method, "ping");
		TW_CHECK_STR(e->next->json_args, "[2]");
	}
	TW_CHECK(tw_record_conflation_key(r) == NULL);
	TW_CHECK_INT(api->set_conflation_key(r, "veh-1/pos"), 0);
	TW_CHECK_STR(tw_record_conflation_key(r), "veh-1/pos");
	tw_record_free(r);
}

int main(void)
{
	TW_RUN(test_values);
	TW_RUN(test_limits);
	TW_RUN(test_new_rejects_device);
	TW_RUN(test_api_table);
	return TW_TEST_END();
}
