/* test_push_envelope.c -- backplane envelopes: sends, membership operations, batches, every kind of bad field */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "envelope.h"
#include "tw_test.h"

/* Records what the parser delivered: sends as "target:name:method:args:key"
 * (plus ":excluded" when present), operations as
 * "op:connection:user:group:reason:ttl". */
struct seen {
	char log[4096];
	size_t n;
};

#define OR_DASH(s) ((s) ? (s) : "-")

static void collect(void *ctx, const struct tw_envelope *e)
{
	static const char *const t[] = { "all", "group", "user", "connection" };
	struct seen *s = ctx;
	size_t len = strlen(s->log);
	char *args, *ex;

	s->n++;
	if (e->op != TW_ENV_SEND) {
		snprintf(s->log + len, sizeof(s->log) - len, "%s:%s:%s:%s:%s:%lld;",
			 tw_envelope_op_name(e->op), OR_DASH(e->connection), OR_DASH(e->user),
			 OR_DASH(e->group), OR_DASH(e->reason), e->ttl);
		return;
	}
	args = json_dumps(e->args, JSON_COMPACT | JSON_ENCODE_ANY);
	ex = e->excluded ? json_dumps(e->excluded, JSON_COMPACT) : NULL;
	snprintf(s->log + len, sizeof(s->log) - len, "%s:%s:%s:%s:%s%s%s;", t[e->target],
		 OR_DASH(e->name), e->method, args ? args : "?", OR_DASH(e->key), ex ? ":" : "",
		 ex ? ex : "");
	free(args);
	free(ex);
}

static int parse(const char *text, struct seen *s, struct tw_envelope_result *r)
{
	memset(s, 0, sizeof(*s));
	return tw_envelope_parse(text, strlen(text), collect, s, r);
}

/* Whether text holds the value v. Numbers compare as reals: a batch with
 * an integer past 64 bits is read with every integer as a real, while the
 * text keeps each number as it was written. */
static int same_value(const char *text, size_t len, const json_t *v)
{
	char *dump = json_dumps(v, JSON_ENCODE_ANY);
	json_t *a = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, NULL);
	json_t *b = dump ? json_loads(dump, JSON_DECODE_INT_AS_REAL, NULL) : NULL;
	int same = a && b && json_equal(a, b);

	json_decref(a);
	json_decref(b);
	free(dump);
	return same;
}

/* Records each send's args_text ("-" when NULL) as "<text>;", and checks
 * that the text holds the same value as the parsed args. */
static void collect_text(void *ctx, const struct tw_envelope *e)
{
	struct seen *s = ctx;
	size_t len = strlen(s->log);

	if (e->op != TW_ENV_SEND)
		return;
	s->n++;
	if (!e->args_text) {
		snprintf(s->log + len, sizeof(s->log) - len, "-;");
		return;
	}
	snprintf(s->log + len, sizeof(s->log) - len, "%.*s;", (int)e->args_len, e->args_text);
	TW_CHECK(same_value(e->args_text, e->args_len, e->args));
}

/* Hubs send args to JSON clients as the envelope wrote them: the text
 * found beside jansson's items, past strings with brackets and escapes,
 * bad envelopes and operations; none when args is absent, spans lines or
 * its key has escapes. */
static void test_args_text(void)
{
	struct seen s = { 0 };
	struct tw_envelope_result r;
	const char *batch =
		" [ {\"target\":\"all\",\"method\":\"m\",\"args\":[1, {\"a\":\"x]}\\\"\"}, 2.50]} ,"
		"{\"target\":\"nope\",\"args\":[9]},"
		"{\"args\" : [ ] ,\"target\":\"all\",\"method\":\"m\"},"
		"{\"op\":\"addToGroup\",\"connection\":\"c\",\"group\":\"g\"},"
		"{\"target\":\"all\",\"method\":\"m\"},"
		"{\"target\":\"all\",\"method\":\"m\",\"args\":[1,\n2]},"
		"{\"target\":\"all\",\"method\":\"m\",\"\\u0061rgs\":[3]},"
		"{\"target\":\"all\",\"method\":\"m\",\"args\":[{\"k\":\"v\\\\\"},true,null,-1e3]} ]\n";

	TW_CHECK_INT(tw_envelope_parse(batch, strlen(batch), collect_text, &s, &r), TW_ERR_JSON);
	TW_CHECK_INT(r.bad, 1);
	TW_CHECK_STR(s.log, "[1, {\"a\":\"x]}\\\"\"}, 2.50];[ ];-;-;-;"
		     "[{\"k\":\"v\\\\\"},true,null,-1e3];");
	memset(&s, 0, sizeof(s));
	batch = "\t{\"target\":\"group\",\"name\":\"g\",\"method\":\"m\",\"args\":[\"\\u00e9\"]}";
	TW_CHECK_INT(tw_envelope_parse(batch, strlen(batch), collect_text, &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "[\"\\u00e9\"];");
}

/* Random envelopes for test_args_random: a value of bounded depth with
 * random whitespace, strings with escapes and brackets, nested "args" keys. */
static unsigned rnd_state = 12345;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 16) % n;
}

static void gen_ws(char *b, size_t *len, int lines)
{
	static const char ws[] = " \t\r\n";

	for (unsigned i = rnd(3); i > 0; i--)
		b[(*len)++] = ws[rnd(lines ? 4 : 2)];
}

static void gen_value(char *b, size_t *len, int depth, int lines)
{
	static const char *const atoms[] = {
		"0", "-12", "3.5e-2", "1E+300", "true", "false", "null", "\"\"", "\"a]}\\\"[{\"",
		"\"\\\\\"", "\"\\u00e9\\n\"", "\"args\"", "123456789012345678901234567890",
	};
	unsigned k = depth > 0 ? rnd(4) : 0;

	gen_ws(b, len, lines);
	if (k == 0 || k == 1) {
		const char *a = atoms[rnd(sizeof(atoms) / sizeof(*atoms))];

		memcpy(b + *len, a, strlen(a));
		*len += strlen(a);
	} else {
		int obj = k == 3;
		unsigned n = rnd(4);

		b[(*len)++] = obj ? '{' : '[';
		for (unsigned i = 0; i < n; i++) {
			if (i)
				b[(*len)++] = ',';
			if (obj)
				*len += (size_t)sprintf(b + *len, "\"%s%u\":", rnd(2) ? "args" : "k", i);
			gen_value(b, len, depth - 1, lines);
		}
		gen_ws(b, len, lines);
		b[(*len)++] = obj ? '}' : ']';
	}
	gen_ws(b, len, lines);
}

/* Counts sends with and without args_text; checks each text against the
 * parsed args. */
struct text_count {
	size_t found, none, wrong;
};

static void count_text(void *ctx, const struct tw_envelope *e)
{
	struct text_count *c = ctx;

	if (!e->args_text) {
		c->none++;
		return;
	}
	c->found++;
	c->wrong += !same_value(e->args_text, e->args_len, e->args);
}

/* Batches of random envelopes: every args_text found holds the parsed
 * args, and it is found whenever args is on one line. */
static void test_args_random(void)
{
	static char batch[1 << 16];
	size_t wrong = 0, missed = 0, found = 0;

	for (int round = 0; round < 300; round++) {
		struct text_count c = { 0 };
		struct tw_envelope_result r;
		size_t len = 0, one_line = 0;
		unsigned n = 1 + rnd(5);

		batch[len++] = '[';
		for (unsigned i = 0; i < n; i++) {
			int lines = rnd(4) == 0;

			if (i)
				batch[len++] = ',';
			len += (size_t)sprintf(batch + len, "{\"target\":\"all\",\"method\":\"m\",\"args\":");
			batch[len++] = '[';
			gen_value(batch, &len, 3, lines);
			batch[len++] = ']';
			batch[len++] = '}';
			one_line += !lines;
		}
		batch[len++] = ']';
		TW_CHECK_INT(tw_envelope_parse(batch, len, count_text, &c, &r), TW_OK);
		TW_CHECK_INT(c.found + c.none, n);
		wrong += c.wrong;
		missed += c.found < one_line;
		found += c.found;
	}
	TW_CHECK_INT(wrong, 0);
	TW_CHECK_INT(missed, 0);
	TW_CHECK(found > 500);
}

static void test_single(void)
{
	struct seen s;
	struct tw_envelope_result r;

	TW_CHECK_INT(parse("{\"target\":\"group\",\"name\":\"fleet\",\"method\":\"telemetry\","
			   "\"args\":[{\"device\":\"veh-1\"}],\"key\":\"veh-1\"}", &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "group:fleet:telemetry:[{\"device\":\"veh-1\"}]:veh-1;");
	TW_CHECK_INT(r.ok, 1);
	TW_CHECK_INT(r.bad, 0);
	/* all ignores a name; args default to [] */
	TW_CHECK_INT(parse("{\"target\":\"all\",\"name\":\"x\",\"method\":\"m\"}", &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "all:-:m:[]:-;");
	TW_CHECK_INT(parse("{\"target\":\"user\",\"name\":\"u1\",\"method\":\"m\",\"args\":[1]}",
			   &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "user:u1:m:[1]:-;");
	TW_CHECK_INT(parse("{\"target\":\"connection\",\"name\":\"c1\",\"method\":\"m\",\"args\":[]}",
			   &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "connection:c1:m:[]:-;");
}

static void test_batch_with_bad_ones(void)
{
	struct seen s;
	struct tw_envelope_result r;

	TW_CHECK_INT(parse("[{\"target\":\"all\",\"method\":\"a\",\"args\":[1]},"
			   "{\"target\":\"everyone\",\"method\":\"b\"},"
			   "7,"
			   "{\"target\":\"group\",\"name\":\"g\",\"method\":\"c\",\"args\":[2]}]",
			   &s, &r), TW_ERR_JSON);
	TW_CHECK_STR(s.log, "all:-:a:[1]:-;group:g:c:[2]:-;");
	TW_CHECK_INT(r.ok, 2);
	TW_CHECK_INT(r.bad, 2);
	TW_CHECK(strstr(r.first_error, "envelope 1") != NULL);
	TW_CHECK(strstr(r.first_error, "\"target\"") != NULL);
	TW_CHECK_INT(parse("[]", &s, &r), TW_OK);
	TW_CHECK_INT(r.ok + r.bad, 0);
}

/* Parses one envelope that must be refused; returns 1 if it was, with why. */
static int refused(const char *text, const char *why)
{
	struct seen s;
	struct tw_envelope_result r;
	int rc = parse(text, &s, &r);

	if (rc == TW_ERR_JSON && s.n == 0 && r.bad == 1 && strstr(r.first_error, why))
		return 1;
	fprintf(stderr, "  not refused as expected: %s -> rc %d, error \"%s\"\n", text, rc,
		r.first_error);
	return 0;
}

static void test_bad_fields(void)
{
	char longname[400];

	TW_CHECK(refused("not json", "not valid JSON"));
	TW_CHECK(refused("", "not valid JSON"));
	TW_CHECK(refused("42", "not a JSON object"));
	TW_CHECK(refused("{\"method\":\"m\"}", "\"target\""));
	TW_CHECK(refused("{\"target\":5,\"method\":\"m\"}", "\"target\""));
	TW_CHECK(refused("{\"target\":\"group\",\"method\":\"m\"}", "\"name\""));
	TW_CHECK(refused("{\"target\":\"user\",\"name\":\"\",\"method\":\"m\"}", "\"name\""));
	TW_CHECK(refused("{\"target\":\"connection\",\"name\":3,\"method\":\"m\"}", "\"name\""));
	TW_CHECK(refused("{\"target\":\"all\"}", "\"method\""));
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"\"}", "\"method\""));
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"m\",\"args\":{}}", "\"args\""));
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"m\",\"args\":\"x\"}", "\"args\""));
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"m\",\"key\":1}", "\"key\""));
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"m\",\"method\":\"n\"}", "not valid JSON"));
	snprintf(longname, sizeof(longname), "{\"target\":\"all\",\"method\":\"%0257d\"}", 0);
	TW_CHECK(refused(longname, "\"method\" must be a non-empty string of at most 256 bytes"));
}

/* Builds a JSON string of n 'x' characters in a static buffer. */
static const char *xs(size_t n)
{
	static char buf[1100];

	memset(buf, 'x', n);
	buf[n] = '\0';
	return buf;
}

static void test_long_names(void)
{
	char text[1300];
	struct seen s;
	struct tw_envelope_result r;

	/* Azure's names go up to 1024 bytes, and no further. */
	snprintf(text, sizeof(text), "{\"target\":\"group\",\"name\":\"%s\",\"method\":\"m\"}", xs(1024));
	TW_CHECK_INT(parse(text, &s, &r), TW_OK);
	TW_CHECK_INT(s.n, 1);
	snprintf(text, sizeof(text), "{\"target\":\"group\",\"name\":\"%s\",\"method\":\"m\"}", xs(1025));
	TW_CHECK(refused(text, "\"name\" must be a non-empty string of at most 1024 bytes"));
	snprintf(text, sizeof(text), "{\"op\":\"addToGroup\",\"connection\":\"c\",\"group\":\"%s\"}", xs(1024));
	TW_CHECK_INT(parse(text, &s, &r), TW_OK);
	snprintf(text, sizeof(text), "{\"op\":\"addToGroup\",\"connection\":\"c\",\"group\":\"%s\"}", xs(1025));
	TW_CHECK(refused(text, "\"group\" must be a non-empty string of at most 1024 bytes (op addToGroup)"));
	snprintf(text, sizeof(text), "{\"op\":\"closeConnection\",\"connection\":\"c\",\"reason\":\"%s\"}", xs(1024));
	TW_CHECK_INT(parse(text, &s, &r), TW_OK);
	snprintf(text, sizeof(text), "{\"op\":\"closeConnection\",\"connection\":\"c\",\"reason\":\"%s\"}", xs(1025));
	TW_CHECK(refused(text, "\"reason\" must be a string of at most 1024 bytes"));
}

static void test_ops(void)
{
	struct seen s;
	struct tw_envelope_result r;

	TW_CHECK_INT(parse("[{\"op\":\"addToGroup\",\"connection\":\"c1\",\"group\":\"g\"},"
			   "{\"op\":\"removeFromGroup\",\"connection\":\"c1\",\"group\":\"g\"},"
			   "{\"op\":\"addUserToGroup\",\"user\":\"alice\",\"group\":\"g\"},"
			   "{\"op\":\"addUserToGroup\",\"user\":\"alice\",\"group\":\"h\",\"ttl\":0},"
			   "{\"op\":\"addUserToGroup\",\"user\":\"alice\",\"group\":\"i\",\"ttl\":2147483647},"
			   "{\"op\":\"removeUserFromGroup\",\"user\":\"alice\",\"group\":\"g\"},"
			   "{\"op\":\"removeUserFromAllGroups\",\"user\":\"alice\"},"
			   "{\"op\":\"closeConnection\",\"connection\":\"c2\"},"
			   "{\"op\":\"closeConnection\",\"connection\":\"c3\",\"reason\":\"bye\"}]",
			   &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "addToGroup:c1:-:g:-:-1;removeFromGroup:c1:-:g:-:-1;"
		     "addUserToGroup:-:alice:g:-:-1;addUserToGroup:-:alice:h:-:0;"
		     "addUserToGroup:-:alice:i:-:2147483647;removeUserFromGroup:-:alice:g:-:-1;"
		     "removeUserFromAllGroups:-:alice:-:-:-1;closeConnection:c2:-:-:-:-1;"
		     "closeConnection:c3:-:-:bye:-1;");
	TW_CHECK_INT(r.ok, 9);
	/* "op":"send" is the default spelled out; operations ignore send fields. */
	TW_CHECK_INT(parse("{\"op\":\"send\",\"target\":\"all\",\"method\":\"m\"}", &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "all:-:m:[]:-;");
	TW_CHECK_INT(parse("{\"op\":\"removeUserFromAllGroups\",\"user\":\"u\",\"target\":\"x\"}", &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "removeUserFromAllGroups:-:u:-:-:-1;");
	TW_CHECK_STR(tw_envelope_op_name(TW_ENV_CLOSE_CONNECTION), "closeConnection");
	TW_CHECK_STR(tw_envelope_op_name((enum tw_env_op)99), "?");
}

static void test_excluded(void)
{
	struct seen s;
	struct tw_envelope_result r;
	char *big;
	size_t off;

	TW_CHECK_INT(parse("{\"target\":\"group\",\"name\":\"g\",\"method\":\"m\","
			   "\"excluded\":[\"c1\",\"c2\"]}", &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "group:g:m:[]:-:[\"c1\",\"c2\"];");
	TW_CHECK_INT(parse("{\"target\":\"all\",\"method\":\"m\",\"excluded\":[]}", &s, &r), TW_OK);
	TW_CHECK_STR(s.log, "all:-:m:[]:-:[];");
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"m\",\"excluded\":\"c1\"}",
			 "\"excluded\" must be an array of at most 1000 connection ids"));
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"m\",\"excluded\":[\"c1\",\"\"]}",
			 "\"excluded\" item 1 must be a non-empty string"));
	TW_CHECK(refused("{\"target\":\"all\",\"method\":\"m\",\"excluded\":[7]}",
			 "\"excluded\" item 0 must be a non-empty string"));
	/* 1001 ids: one too many */
	big = malloc(16 * 1001 + 100);
	off = (size_t)snprintf(big, 64, "{\"target\":\"all\",\"method\":\"m\",\"excluded\":[");
	for (int i = 0; i < 1001; i++)
		off += (size_t)snprintf(big + off, 16, "%s\"c%d\"", i ? "," : "", i);
	memcpy(big + off, "]}", 3);
	TW_CHECK(refused(big, "\"excluded\" must be an array of at most 1000"));
	free(big);
}

static void test_bad_ops(void)
{
	TW_CHECK(refused("{\"op\":\"joinGroup\",\"connection\":\"c\",\"group\":\"g\"}",
			 "\"op\" must be send, addToGroup, removeFromGroup, addUserToGroup, "
			 "removeUserFromGroup, removeUserFromAllGroups or closeConnection"));
	TW_CHECK(refused("{\"op\":3}", "\"op\" must be send"));
	TW_CHECK(refused("{\"op\":\"AddToGroup\",\"connection\":\"c\",\"group\":\"g\"}", "\"op\" must be"));
	TW_CHECK(refused("{\"op\":\"addToGroup\",\"group\":\"g\"}",
			 "\"connection\" must be a non-empty string of at most 1024 bytes (op addToGroup)"));
	TW_CHECK(refused("{\"op\":\"addToGroup\",\"connection\":\"c\"}", "\"group\" must be"));
	TW_CHECK(refused("{\"op\":\"removeFromGroup\",\"connection\":\"\",\"group\":\"g\"}",
			 "\"connection\" must be a non-empty string of at most 1024 bytes (op removeFromGroup)"));
	TW_CHECK(refused("{\"op\":\"removeFromGroup\",\"connection\":\"c\",\"group\":5}",
			 "\"group\" must be a non-empty string of at most 1024 bytes (op removeFromGroup)"));
	TW_CHECK(refused("{\"op\":\"addUserToGroup\",\"group\":\"g\"}",
			 "\"user\" must be a non-empty string of at most 1024 bytes (op addUserToGroup)"));
	TW_CHECK(refused("{\"op\":\"addUserToGroup\",\"user\":\"u\"}", "\"group\" must be"));
	TW_CHECK(refused("{\"op\":\"addUserToGroup\",\"user\":\"u\",\"group\":\"g\",\"ttl\":-1}",
			 "\"ttl\" must be an integer from 0 to 2147483647 (seconds)"));
	TW_CHECK(refused("{\"op\":\"addUserToGroup\",\"user\":\"u\",\"group\":\"g\",\"ttl\":2147483648}",
			 "\"ttl\" must be an integer"));
	TW_CHECK(refused("{\"op\":\"addUserToGroup\",\"user\":\"u\",\"group\":\"g\",\"ttl\":1.5}",
			 "\"ttl\" must be an integer"));
	TW_CHECK(refused("{\"op\":\"addUserToGroup\",\"user\":\"u\",\"group\":\"g\",\"ttl\":\"60\"}",
			 "\"ttl\" must be an integer"));
	TW_CHECK(refused("{\"op\":\"removeUserFromGroup\",\"user\":null,\"group\":\"g\"}",
			 "\"user\" must be a non-empty string of at most 1024 bytes (op removeUserFromGroup)"));
	TW_CHECK(refused("{\"op\":\"removeUserFromGroup\",\"user\":\"u\"}",
			 "\"group\" must be a non-empty string of at most 1024 bytes (op removeUserFromGroup)"));
	TW_CHECK(refused("{\"op\":\"removeUserFromAllGroups\"}",
			 "\"user\" must be a non-empty string of at most 1024 bytes (op removeUserFromAllGroups)"));
	TW_CHECK(refused("{\"op\":\"closeConnection\"}",
			 "\"connection\" must be a non-empty string of at most 1024 bytes (op closeConnection)"));
	TW_CHECK(refused("{\"op\":\"closeConnection\",\"connection\":\"c\",\"reason\":7}",
			 "\"reason\" must be a string of at most 1024 bytes"));
	/* NUL is valid JSON in a string, but no name may hold one */
	TW_CHECK(refused("{\"op\":\"closeConnection\",\"connection\":\"a\\u0000b\"}",
			 "\"connection\" must be a non-empty string of at most 1024 bytes"));
}

int main(void)
{
	TW_RUN(test_single);
	TW_RUN(test_batch_with_bad_ones);
	TW_RUN(test_bad_fields);
	TW_RUN(test_long_names);
	TW_RUN(test_ops);
	TW_RUN(test_excluded);
	TW_RUN(test_bad_ops);
	TW_RUN(test_args_text);
	TW_RUN(test_args_random);
	return TW_TEST_END();
}
