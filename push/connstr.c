/* connstr.c -- parses Azure SignalR Service connection strings */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telewire/error.h"
#include "connstr.h"

static int connstr__fail(char *err, size_t errlen, const char *what, size_t n, const char *item)
{
	snprintf(err, errlen, "connection string: %s (at \"%.*s\")", what, (int)(n > 60 ? 60 : n),
		 item);
	return TW_ERR_CONFIG;
}

/* An http(s) URL without query; stored without a trailing slash. */
static int connstr__url(const char *v, size_t n, char *out, size_t outlen)
{
	if (n == 0 || n >= outlen || memchr(v, '?', n) || memchr(v, ' ', n))
		return -1;
	if (!(n > 7 && strncasecmp(v, "http://", 7) == 0) &&
	    !(n > 8 && strncasecmp(v, "https://", 8) == 0))
		return -1;
	while (n && v[n - 1] == '/')
		n--;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

static int connstr__item(const char *item, size_t n, struct tw_connstr *o, char *err,
			 size_t errlen)
{
	const char *eq = memchr(item, '=', n);
	size_t klen = eq ? (size_t)(eq - item) : 0, vlen = eq ? n - klen - 1 : 0;
	const char *v = eq ? eq + 1 : NULL;
	char num[16];

#define KEY(name) (klen == strlen(name) && strncasecmp(item, name, klen) == 0)
	if (!eq || klen == 0)
		return connstr__fail(err, errlen, "expected Key=Value", n, item);
	if (KEY("Endpoint"))
		return connstr__url(v, vlen, o->endpoint, sizeof(o->endpoint)) == 0 ? TW_OK
		       : connstr__fail(err, errlen, "Endpoint must be an http:// or https:// URL", n, item);
	if (KEY("ClientEndpoint"))
		return connstr__url(v, vlen, o->client_endpoint, sizeof(o->client_endpoint)) == 0 ? TW_OK
		       : connstr__fail(err, errlen, "ClientEndpoint must be an http:// or https:// URL", n, item);
	if (KEY("AccessKey")) {
		if (vlen == 0 || vlen >= sizeof(o->access_key))
			return connstr__fail(err, errlen, "AccessKey must be 1 to 255 characters", n, item);
		memcpy(o->access_key, v, vlen);
		o->access_key[vlen] = '\0';
		return TW_OK;
	}
	if (KEY("Version"))
		return vlen == 3 && memcmp(v, "1.0", 3) == 0 ? TW_OK
		       : connstr__fail(err, errlen, "only Version=1.0 is supported", n, item);
	if (KEY("Port")) {
		char *end;
		long p;

		if (vlen == 0 || vlen >= sizeof(num))
			return connstr__fail(err, errlen, "Port must be 1 to 65535", n, item);
		memcpy(num, v, vlen);
		num[vlen] = '\0';
		p = strtol(num, &end, 10);
		if (*end || p < 1 || p > 65535)
			return connstr__fail(err, errlen, "Port must be 1 to 65535", n, item);
		o->port = (int)p;
		return TW_OK;
	}
#undef KEY
	return connstr__fail(err, errlen,
			     "unknown key (expected Endpoint, AccessKey, Version, Port, ClientEndpoint)",
			     n, item);
}

int tw_connstr_parse(const char *s, struct tw_connstr *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	while (*s) {
		size_t n = strcspn(s, ";");
		int rc = n ? connstr__item(s, n, out, err, errlen) : TW_OK;

		if (rc != TW_OK)
			return rc;
		s += n;
		if (*s == ';')
			s++;
	}
	if (!out->endpoint[0]) {
		snprintf(err, errlen, "connection string: Endpoint is missing");
		return TW_ERR_CONFIG;
	}
	if (!out->access_key[0]) {
		snprintf(err, errlen, "connection string: AccessKey is missing");
		return TW_ERR_CONFIG;
	}
	return TW_OK;
}
