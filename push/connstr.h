/* connstr.h -- Azure SignalR Service connection strings: "Endpoint=...;AccessKey=...;Version=1.0;"; pure */
#ifndef TW_PUSH_CONNSTR_H
#define TW_PUSH_CONNSTR_H

#include <stddef.h>

struct tw_connstr {
	char endpoint[256];		/* "http://host:port", no trailing slash */
	char client_endpoint[256];	/* ClientEndpoint, or "" */
	char access_key[256];
	int port;			/* Port=, or 0 */
};

/* Parses s. Keys are case-insensitive: Endpoint (http or https URL,
 * required), AccessKey (required), Version (1.0 if present), Port,
 * ClientEndpoint. Returns TW_OK, or TW_ERR_CONFIG with err naming the key
 * and what was expected. */
int tw_connstr_parse(const char *s, struct tw_connstr *out, char *err, size_t errlen);

#endif
