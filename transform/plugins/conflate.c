/* conflate.c -- built-in plugin: sets the hub conflation key of a record from a template
 *
 * Option: template (default "{device}"). "{device}" is the device id;
 * "{NAME}" the record's value NAME (a number as %.15g, true/false, a
 * string as is; absent: empty); "{{" and "}}" are braces; the rest is
 * copied. A slow hub client keeps only the latest message per key. A key
 * over 1024 bytes fails the record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_kit.h"
#include "telewire/transform.h"

#define CF_MAX_KEY 1024

enum cf_kind { CF_TEXT, CF_DEVICE, CF_FIELD };

struct cf_part {
	enum cf_kind kind;
	char *text;	/* the literal, or the field name */
};

struct cf_state {
	const struct tw_host_api *api;
	struct cf_part *parts;
	size_t nparts;
};

static const char *const cf_known[] = { "template", NULL };

static void cf_cleanup(void *p)
{
	struct cf_state *st = p;

	if (!st)
		return;
	for (size_t i = 0; i < st->nparts; i++)
		free(st->parts[i].text);
	free(st->parts);
	free(st);
}

static int cf_add(struct cf_state *st, enum cf_kind kind, const char *text, size_t len)
{
	struct cf_part *p = &st->parts[st->nparts];

	if (!(p->text = malloc(len + 1)))
		return -1;
	memcpy(p->text, text, len);
	p->text[len] = '\0';
	p->kind = kind == CF_FIELD && strcmp(p->text, "device") == 0 ? CF_DEVICE : kind;
	st->nparts++;
	return 0;
}

/* Reads "{NAME}" at s[i]; returns the offset after it, or 0 after an error. */
static size_t cf_field(struct cf_state *st, const char *s, size_t i, char *err, size_t errlen)
{
	const char *close = strchr(s + i + 1, '}');
	size_t len;

	if (!close)
		return snprintf(err, errlen, "option 'template': '{' at offset %zu is not closed",
				i), 0;
	len = (size_t)(close - (s + i + 1));
	if (len == 0 || len > KIT_MAX_NAME || memchr(s + i + 1, '{', len))
		return snprintf(err, errlen, "option 'template': expected a name of 1..%d bytes "
				"in '{...}' at offset %zu", KIT_MAX_NAME, i), 0;
	if (cf_add(st, CF_FIELD, s + i + 1, len) != 0)
		return snprintf(err, errlen, "out of memory"), 0;
	return i + len + 2;
}

/* Literal text up to the next lone brace; "{{" and "}}" become one brace. */
static size_t cf_text(struct cf_state *st, const char *s, size_t i, char *err, size_t errlen)
{
	char buf[CF_MAX_KEY + 1];
	size_t n = 0;

	while (s[i] && n < CF_MAX_KEY) {
		if ((s[i] == '{' || s[i] == '}') && s[i + 1] == s[i])
			i++;
		else if (s[i] == '{')
			break;
		else if (s[i] == '}')
			return snprintf(err, errlen, "option 'template': '}' at offset %zu has no "
					"'{' (write }} for a brace)", i), 0;
		buf[n++] = s[i++];
	}
	if (cf_add(st, CF_TEXT, buf, n) != 0)
		return snprintf(err, errlen, "out of memory"), 0;
	return i;
}

static int cf_parse(struct cf_state *st, const char *tpl, char *err, size_t errlen)
{
	size_t len = strlen(tpl), i = 0;

	if (len == 0 || len > CF_MAX_KEY)
		return snprintf(err, errlen, "option 'template': expected 1..%d bytes such as "
				"\"{device}\", got %zu", CF_MAX_KEY, len), -1;
	/* Each part takes at least one byte of the template. */
	if (!(st->parts = calloc(len, sizeof(*st->parts))))
		return snprintf(err, errlen, "out of memory"), -1;
	while (tpl[i]) {
		i = tpl[i] == '{' && tpl[i + 1] != '{' ? cf_field(st, tpl, i, err, errlen)
						       : cf_text(st, tpl, i, err, errlen);
		if (i == 0)
			return -1;
	}
	return 0;
}

static int cf_init(const struct tw_host_api *api, const struct tw_option *opts, size_t nopts,
		   void **state, char *err, size_t errlen)
{
	struct cf_state *st = calloc(1, sizeof(*st));

	*state = NULL;
	if (!st)
		return snprintf(err, errlen, "out of memory"), -1;
	st->api = api;
	if (kit_check_known(opts, nopts, cf_known, err, errlen) != 0 ||
	    cf_parse(st, api->option(opts, nopts, "template", "{device}"), err, errlen) != 0) {
		cf_cleanup(st);
		return -1;
	}
	*state = st;
	return 0;
}

/* The text of field name in r ("" when absent), in buf when it is made. */
static const char *cf_value(const struct cf_state *st, const struct tw_record *r,
			    const char *name, char *buf, size_t len)
{
	const struct tw_host_api *api = st->api;
	const char *s;
	double d;
	int b;

	if (api->get_string(r, name, &s) == 0)
		return s;
	if (api->get_number(r, name, &d) == 0)
		return snprintf(buf, len, "%.15g", d), buf;
	if (api->get_bool(r, name, &b) == 0)
		return b ? "true" : "false";
	return "";
}

static int cf_process(void *state, struct tw_record *r, char *err, size_t errlen)
{
	struct cf_state *st = state;
	char key[CF_MAX_KEY + 1], num[32];
	size_t n = 0;

	for (size_t i = 0; i < st->nparts; i++) {
		const struct cf_part *p = &st->parts[i];
		const char *s = p->kind == CF_TEXT ? p->text
			      : p->kind == CF_DEVICE ? st->api->record_device(r)
			      : cf_value(st, r, p->text, num, sizeof(num));
		size_t len = strlen(s);

		if (len > CF_MAX_KEY - n)
			return snprintf(err, errlen, "conflation key longer than %d bytes",
					CF_MAX_KEY), TW_TRANSFORM_ERROR;
		memcpy(key + n, s, len);
		n += len;
	}
	key[n] = '\0';
	if (st->api->set_conflation_key(r, key) != 0)
		return snprintf(err, errlen, "out of memory"), TW_TRANSFORM_ERROR;
	return TW_TRANSFORM_PASS;
}

static const struct tw_transform_plugin cf_plugin = {
	.abi_version = TW_TRANSFORM_ABI_VERSION,
	.name = "conflate",
	.description = "sets the hub conflation key of records from a template",
	.init = cf_init,
	.process = cf_process,
	.cleanup = cf_cleanup,
};

TW_TRANSFORM_EXPORT const struct tw_transform_plugin *telewire_transform_entry(void)
{
	return &cf_plugin;
}
