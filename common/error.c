/* error.c -- texts for telewire's error codes */
#include "telewire/error.h"

const char *tw_strerror(int err)
{
	switch (err) {
	case TW_OK: return "success";
	case TW_ERR_NOMEM: return "out of memory";
	case TW_ERR_INVAL: return "invalid argument or input";
	case TW_ERR_LIMIT: return "over a configured limit";
	case TW_ERR_IO: return "input/output error";
	case TW_ERR_NOTFOUND: return "not found";
	case TW_ERR_EXISTS: return "already exists";
	case TW_ERR_FULL: return "queue or buffer full";
	case TW_ERR_AGAIN: return "not ready, try again";
	case TW_ERR_INCOMPLETE: return "incomplete input";
	case TW_ERR_CONFIG: return "invalid configuration";
	case TW_ERR_USAGE: return "usage printed";
	case TW_ERR_JSON: return "invalid JSON";
	case TW_ERR_PROTOCOL: return "protocol error";
	case TW_ERR_AUTH: return "authentication failed";
	case TW_ERR_PLUGIN: return "plugin error";
	case TW_ERR_MQTT: return "MQTT error";
	case TW_ERR_DB: return "database error";
	default: return "unknown error";
	}
}
