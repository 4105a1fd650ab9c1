/* command.c -- parsing the commands devices receive on devices/{id}/commands */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "sim.h"

static const struct {
	const char *name;
	enum sim_command_kind kind;
} commands[] = {
	{ "set_setpoint", SIM_CMD_SET_SETPOINT },
	{ "go_home", SIM_CMD_GO_HOME },
	{ "resume", SIM_CMD_RESUME },
	{ "reset_fault", SIM_CMD_RESET_FAULT },
};

static int command__setpoint(json_t *args, struct sim_command *out, char *err, size_t errlen)
{
	json_t *sp = json_is_object(args) ? json_object_get(args, "setpoint") : NULL;

	if (!json_is_number(sp)) {
		snprintf(err, errlen, "set_setpoint needs args.setpoint, a number of degrees Celsius");
		return -1;
	}
	out->setpoint = json_number_value(sp);
	if (!isfinite(out->setpoint) || out->setpoint < -40 || out->setpoint > 40) {
		snprintf(err, errlen, "args.setpoint must be between -40 and 40, got %g", out->setpoint);
		return -1;
	}
	return 0;
}

int sim__command_parse(const char *payload, size_t len, struct sim_command *out, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je), *name;
	int rc = -1;

	if (!root) {
		snprintf(err, errlen, "not JSON: %s (line %d, column %d)", je.text, je.line, je.column);
		return -1;
	}
	name = json_is_object(root) ? json_object_get(root, "command") : NULL;
	if (!json_is_string(name)) {
		snprintf(err, errlen, "expected an object with \"command\", a string");
		goto out;
	}
	snprintf(err, errlen, "unknown command \"%.64s\" (known: set_setpoint, go_home, resume, reset_fault)",
		 json_string_value(name));
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, json_string_value(name)) != 0)
			continue;
		out->kind = commands[i].kind;
		out->setpoint = 0;
		rc = out->kind == SIM_CMD_SET_SETPOINT
			? command__setpoint(json_object_get(root, "args"), out, err, errlen) : 0;
		break;
	}
out:
	json_decref(root);
	return rc;
}
