/* test_push_connstr.c -- Azure SignalR connection strings: good ones, and each kind of bad one */
#include <string.h>

#include "telewire/error.h"
#include "connstr.h"
#include "tw_test.h"

static void test_good(void)
{
	struct tw_connstr c;
	char err[200] = "";

	TW_CHECK_INT(tw_connstr_parse("Endpoint=http://127.0.0.1:8080/;AccessKey=abc=;Version=1.0;",
				      &c, err, sizeof(err)), TW_OK);
	TW_CHECK_STR(c.endpoint, "http://127.0.0.1:8080");
	TW_CHECK_STR(c.access_key, "abc=");
	TW_CHECK_INT(c.port, 0);
	TW_CHECK_STR(c.client_endpoint, "");
	TW_CHECK_INT(tw_connstr_parse("endpoint=https://hub.example;accesskey=k;port=8443;"
				      "ClientEndpoint=https://public.example/x",
				      &c, err, sizeof(err)), TW_OK);
	TW_CHECK_STR(c.endpoint, "https://hub.example");
	TW_CHECK_INT(c.port, 8443);
	TW_CHECK_STR(c.client_endpoint, "https://public.example/x");
}

static void check_bad(const char *s, const char *want)
{
	struct tw_connstr c;
	char err[200] = "";

	TW_CHECK_INT(tw_connstr_parse(s, &c, err, sizeof(err)), TW_ERR_CONFIG);
	TW_CHECK(strstr(err, want) != NULL);
}

static void test_bad(void)
{
	check_bad("", "Endpoint is missing");
	check_bad("Endpoint=http://h", "AccessKey is missing");
	check_bad("AccessKey=k", "Endpoint is missing");
	check_bad("Endpoint=ftp://h;AccessKey=k", "Endpoint must be an http:// or https:// URL");
	check_bad("Endpoint=http://h?x=1;AccessKey=k", "Endpoint must be");
	check_bad("Endpoint=http://h;AccessKey=k;Version=2.0", "only Version=1.0");
	check_bad("Endpoint=http://h;AccessKey=k;Port=0", "Port must be 1 to 65535");
	check_bad("Endpoint=http://h;AccessKey=k;Port=7x", "Port must be");
	check_bad("Endpoint=http://h;AccessKey=k;Colour=red", "unknown key");
	check_bad("Endpoint=http://h;AccessKey=", "AccessKey must be 1 to 255");
	check_bad("Endpoint=http://h;justtext", "expected Key=Value");
}

int main(void)
{
	TW_RUN(test_good);
	TW_RUN(test_bad);
	return TW_TEST_END();
}
