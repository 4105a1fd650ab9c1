/* token_cli.c -- "telewire-hub token": mints access tokens for scripts and operators */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/opts.h"
#include "auth.h"
#include "connstr.h"
#include "token_cli.h"

#define TOKEN_MAX_ROLES 32

static struct {
	char *aud, *user, *roles, *access_key, *connection_string;
	double ttl_s;
} t = { .ttl_s = 3600 };

static const struct tw_opt token_table[] = {
	{ "aud", NULL, NULL, TW_OPT_STRING, &t.aud, 0, 0, "URL",
	  "the URL the token is for, exactly as it will be called: "
	  "http://HOST:PORT/client/?hub=H for clients, http://HOST:PORT/api/v1/hubs/H/... for the REST API" },
	{ "user", NULL, NULL, TW_OPT_STRING, &t.user, 0, 0, "ID",
	  "user id (sub and nameid claims; default telewire-cli)" },
	{ "roles", NULL, NULL, TW_OPT_STRING, &t.roles, 0, 0, "LIST",
	  "comma-separated roles, e.g. webpubsub.joinLeaveGroup,telewire.command" },
	{ "ttl", NULL, NULL, TW_OPT_DOUBLE, &t.ttl_s, 1, 31536000, "SECONDS", "lifetime (default 3600)" },
	{ "access-key", NULL, NULL, TW_OPT_STRING, &t.access_key, 0, 0, "KEY",
	  "the hub's access key (or --connection-string)" },
	{ "connection-string", NULL, NULL, TW_OPT_STRING, &t.connection_string, 0, 0, "CS",
	  "Endpoint=...;AccessKey=...;Version=1.0; (its AccessKey signs)" },
};

static const struct tw_opts_spec token_spec = {
	.program = "telewire-hub token",
	.summary = "prints an HS256 access token signed with the hub's access key",
	.opts = token_table,
	.nopts = sizeof(token_table) / sizeof(token_table[0]),
};

/* Splits the comma-separated role list in place. */
static size_t token__roles(char *list, const char *out[], size_t max)
{
	size_t n = 0;

	for (char *p = list; p && *p && n < max;) {
		size_t len = strcspn(p, ",");

		if (len)
			out[n++] = p;
		p += len;
		if (*p)
			*p++ = '\0';
	}
	return n;
}

static int token__key(const char **key)
{
	static struct tw_connstr cs;
	char err[200];

	if (t.connection_string) {
		if (tw_connstr_parse(t.connection_string, &cs, err, sizeof(err)) != TW_OK) {
			fprintf(stderr, "telewire-hub token: --connection-string: %s\n", err);
			return -1;
		}
		*key = cs.access_key;
		return 0;
	}
	if (!t.access_key || !*t.access_key) {
		fprintf(stderr, "telewire-hub token: give --access-key or --connection-string\n");
		return -1;
	}
	*key = t.access_key;
	return 0;
}

int tw_hub_token_main(int argc, char **argv)
{
	const char *roles[TOKEN_MAX_ROLES], *key = NULL;
	char *token = NULL;
	size_t nroles;
	int rc = tw_opts_parse(&token_spec, argc, argv);

	if (rc != TW_OK) {
		tw_opts_free(&token_spec);
		return rc == TW_ERR_USAGE ? 0 : 2;
	}
	rc = 2;
	if (!t.aud || !*t.aud)
		fprintf(stderr, "telewire-hub token: --aud URL is required\n");
	else if (token__key(&key) == 0) {
		nroles = token__roles(t.roles, roles, TOKEN_MAX_ROLES);
		if (tw_jwt_issue(key, strlen(key), t.aud, t.user ? t.user : "telewire-cli", roles, nroles, tw_wall_ms() / 1000,
				 (int64_t)t.ttl_s, &token) == TW_OK) {
			printf("%s\n", token);
			rc = 0;
		} else {
			fprintf(stderr, "telewire-hub token: cannot sign the token\n");
			rc = 1;
		}
	}
	free(token);
	tw_opts_free(&token_spec);
	return rc;
}
