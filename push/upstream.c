/* upstream.c -- client invocations leave the hub over MQTT: SendCommand to devices, every other method upstream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/clock.h"
#include "telewire/error.h"
#include "telewire/log.h"
#include "auth.h"
#include "hub.h"

#define UP_MAX_NAME 128		/* device ids and method names become topic levels */

/* One publish waiting for the broker's acknowledgement. */
struct upcall {
	struct tw_hub *hub;
	char conn[HUB_ID_LEN];
	char *invocation_id;	/* NULL: nobody waits for a Completion */
	char *result;		/* JSON text sent as the result on success */
	const char *what;	/* "command" or "upstream", for the error text */
};

static void upcall__free(struct upcall *u)
{
	free(u->invocation_id);
	free(u->result);
	free(u);
}

/* Paho's thread: hand the outcome to the loop. */
static void upcall__done(void *arg, int rc)
{
	struct upcall *u = arg;

	if (rc != TW_OK)
		HUB_COUNT(u->hub, upstream_failed);
	if (u->invocation_id)
		tw_hub_upcall_done(u->hub, u->conn, u->invocation_id, u->result,
				   rc == TW_OK ? NULL : "The broker did not accept the message.");
	upcall__free(u);
}

/* A topic level: 1..128 bytes, none of MQTT's '/', '+', '#' or control bytes. */
static int up__level_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > UP_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '/' || s[i] == '+' || s[i] == '#' ||
		    s[i] == 0x7f)
			return 0;
	return 1;
}

static void up__fail(struct hub_conn *c, const struct tw_hubmsg *m, const char *error)
{
	tw_warn("connection %s: %s refused: %s", c->id, m->target, error);
	hub__conn_completion(c, m->invocation_id, error, NULL);
}

/* Publishes body to topic; the Completion (with result) follows the
 * broker's acknowledgement. Consumes body and result. */
static void up__publish(struct hub_conn *c, const struct tw_hubmsg *m, const char *topic,
			json_t *body, json_t *result)
{
	struct tw_hub *h = c->hub;
	struct upcall *u = calloc(1, sizeof(*u));
	char *text = json_dumps(body, JSON_COMPACT);
	int rc = TW_ERR_NOMEM;

	json_decref(body);
	if (u && text) {
		u->hub = h;
		snprintf(u->conn, sizeof(u->conn), "%s", c->id);
		u->result = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		u->invocation_id = m->invocation_id ? strdup(m->invocation_id) : NULL;
		rc = h->cfg.publish ? h->cfg.publish(h->cfg.publish_ctx, topic, text, strlen(text),
						     upcall__done, u)
				    : TW_ERR_AGAIN;
	}
	free(text);
	json_decref(result);
	if (rc == TW_OK) {
		HUB_COUNT(h, upstream_sent);
		return;
	}
	if (u)
		upcall__free(u);
	HUB_COUNT(h, upstream_failed);
	up__fail(c, m, rc == TW_ERR_AGAIN ? "The broker is not reachable; try again."
			: rc == TW_ERR_FULL ? "Too many messages are waiting for the broker; try again."
					    : "The message could not be published.");
}

static int up__has_role(const struct hub_conn *c, const char *role)
{
	for (size_t i = 0; i < c->nroles; i++)
		if (strcmp(c->roles[i], role) == 0)
			return 1;
	return 0;
}

void hub__send_command(struct hub_conn *c, const struct tw_hubmsg *m)
{
	const char *device = json_string_value(json_array_get(m->arguments, 0));
	json_t *payload = json_array_get(m->arguments, 1), *args;
	const char *command = json_string_value(json_object_get(payload, "command"));
	char topic[64 + UP_MAX_NAME];

	if (!up__has_role(c, TW_ROLE_COMMAND)) {
		HUB_COUNT(c->hub, commands_refused);
		up__fail(c, m, "Unauthorized: the access token has no " TW_ROLE_COMMAND " role.");
		return;
	}
	if (json_array_size(m->arguments) != 2 || !device || !up__level_ok(device) || !command ||
	    !*command || strlen(device) != json_string_length(json_array_get(m->arguments, 0))) {
		HUB_COUNT(c->hub, commands_refused);
		up__fail(c, m, "SendCommand takes a device id (1-128 bytes, no '/', '+' or '#') and "
			       "an object with a non-empty string \"command\".");
		return;
	}
	args = json_object_get(payload, "args");
	snprintf(topic, sizeof(topic), "devices/%s/commands", device);
	HUB_COUNT(c->hub, commands_sent);
	up__publish(c, m, topic,
		    json_pack("{s:s, s:o, s:s?, s:s, s:I}", "command", command, "args",
			      args ? json_incref(args) : json_object(), "from", c->user, "connectionId", c->id,
			      "ts", (json_int_t)tw_wall_ms()),
		    json_pack("{s:s, s:s, s:s}", "deviceId", device, "topic", topic, "status",
			      "published"));
}

void hub__upstream_invoke(struct hub_conn *c, const struct tw_hubmsg *m)
{
	char topic[64 + 2 * UP_MAX_NAME];

	if (!up__level_ok(m->target)) {
		up__fail(c, m, "Method names are 1-128 bytes without '/', '+' or '#'.");
		return;
	}
	snprintf(topic, sizeof(topic), "telewire/upstream/%s/%s", c->hub->cfg.name, m->target);
	up__publish(c, m, topic,
		    json_pack("{s:s, s:s, s:O, s:s?, s:s, s:s?}", "hub", c->hub->cfg.name, "target",
			      m->target, "arguments", m->arguments, "user", c->user,
			      "connectionId", c->id, "invocationId", m->invocation_id),
		    NULL);
}
