/* error.h -- telewire's one error enum: 0 is success, negative is failure */
#ifndef TELEWIRE_ERROR_H
#define TELEWIRE_ERROR_H

enum tw_error {
	TW_OK = 0,
	/* -1xx: generic */
	TW_ERR_NOMEM = -100,     /* an allocation failed */
	TW_ERR_INVAL = -101,     /* an argument or input is not valid */
	TW_ERR_LIMIT = -102,     /* an input is over a configured limit */
	TW_ERR_IO = -103,        /* a system call failed; errno tells more */
	TW_ERR_NOTFOUND = -104,  /* the thing asked for does not exist */
	TW_ERR_EXISTS = -105,    /* the thing to create exists already */
	TW_ERR_FULL = -106,      /* a bounded queue or buffer is full */
	TW_ERR_AGAIN = -107,     /* not ready yet: call again later */
	TW_ERR_INCOMPLETE = -108,/* a codec needs more bytes */
	/* -2xx: configuration and command line */
	TW_ERR_CONFIG = -200,    /* a config file or flag is not valid */
	TW_ERR_USAGE = -201,     /* --help or --version was handled: exit 0 */
	/* -3xx: payloads and protocols */
	TW_ERR_JSON = -300,      /* not JSON, or JSON of the wrong shape */
	TW_ERR_PROTOCOL = -301,  /* a protocol rule was broken */
	TW_ERR_AUTH = -302,      /* a token is missing, bad or expired */
	/* -4xx: plugins */
	TW_ERR_PLUGIN = -400,    /* a plugin failed to load or to run */
	/* -5xx: outside services */
	TW_ERR_MQTT = -500,      /* the MQTT client reported a failure */
	TW_ERR_DB = -501,        /* SQLite reported a failure */
};

/* A short English text for an error code; never NULL. */
const char *tw_strerror(int err);

#endif
