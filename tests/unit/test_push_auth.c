/* test_push_auth.c -- HS256 JWT: sign/verify, expiry, nbf, audience, wrong key, alg none, malformed tokens */
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "auth.h"
#include "tw_test.h"

#define KEY "unit-test-key"
#define NOW 1700000000LL

static int verify(const char *tok, const char *key, long long now, struct tw_jwt_claims *c,
		  char *err)
{
	int rc = tw_jwt_verify(tok, key, strlen(key), now, 0, c, err, 200);

	if (rc != TW_OK)
		tw_jwt_claims_free(c);
	return rc;
}

/* Signs a claims text with KEY. */
static char *sign(const char *claims)
{
	char *tok = NULL;

	if (tw_jwt_sign(KEY, strlen(KEY), claims, &tok) != TW_OK)
		return NULL;
	return tok;
}

/* header.payload.signature built by hand, for tokens the signer refuses to make. */
static char *raw_token(const char *header, const char *payload, const char *sig)
{
	char *tok = malloc(strlen(header) * 2 + strlen(payload) * 2 + strlen(sig) + 8);
	size_t n = tw_b64url_encode(header, strlen(header), tok);

	tok[n++] = '.';
	n += tw_b64url_encode(payload, strlen(payload), tok + n);
	tok[n++] = '.';
	memcpy(tok + n, sig, strlen(sig) + 1);
	return tok;
}

static void test_b64url(void)
{
	unsigned char in[40], out[40];
	char enc[64];
	int bad = 0;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 250);
	for (size_t n = 0; n <= sizeof(in); n++) {
		size_t elen = tw_b64url_encode(in, n, enc);

		if (tw_b64url_decode(enc, elen, out) != (long)n || memcmp(in, out, n) != 0 ||
		    strpbrk(enc, "+/="))
			bad++;
	}
	TW_CHECK_INT(bad, 0);
	TW_CHECK_INT(tw_b64url_decode("ab+c", 4, out), -1);
	TW_CHECK_INT(tw_b64url_decode("ab/c", 4, out), -1);
	TW_CHECK_INT(tw_b64url_decode("ab==", 4, out), -1);
	TW_CHECK_INT(tw_b64url_decode("abcde", 5, out), -1);
	TW_CHECK_INT(tw_b64url_decode("QR", 2, out), -1); /* non-zero leftover bits */
	TW_CHECK_INT(tw_b64url_decode("QQ", 2, out), 1);
}

static void test_issue_and_verify(void)
{
	const char *roles[] = { TW_ROLE_JOIN_LEAVE };
	struct tw_jwt_claims c;
	char err[200] = "", *tok = NULL;

	TW_CHECK_INT(tw_jwt_issue(KEY, strlen(KEY), "http://h:1/client/?hub=telemetry", "alice",
				  roles, 1, NOW, 3600, &tok), TW_OK);
	TW_CHECK_INT(verify(tok, KEY, NOW + 10, &c, err), TW_OK);
	TW_CHECK_STR(c.sub, "alice");
	TW_CHECK_INT(c.exp, NOW + 3600);
	TW_CHECK_INT(c.nroles, 1);
	TW_CHECK_STR(c.nroles ? c.roles[0] : NULL, TW_ROLE_JOIN_LEAVE);
	TW_CHECK_INT(c.naud, 1);
	TW_CHECK(tw_jwt_aud_ok(&c, "http://h:1/client", "telemetry"));
	tw_jwt_claims_free(&c);
	/* The same token at exp is expired; one second before it is not. */
	TW_CHECK_INT(verify(tok, KEY, NOW + 3599, &c, err), TW_OK);
	tw_jwt_claims_free(&c);
	TW_CHECK_INT(verify(tok, KEY, NOW + 3600, &c, err), TW_ERR_AUTH);
	TW_CHECK_STR(err, "token is expired");
	TW_CHECK_INT(verify(tok, "other-key", NOW, &c, err), TW_ERR_AUTH);
	TW_CHECK_STR(err, "token signature does not match");
	free(tok);
}

static void test_skew(void)
{
	char *tok = sign("{\"exp\":1700000000,\"sub\":\"u\"}");
	struct tw_jwt_claims c;
	char err[200];

	TW_CHECK_INT(tw_jwt_verify(tok, KEY, strlen(KEY), NOW + 30, 60, &c, err, sizeof(err)), TW_OK);
	tw_jwt_claims_free(&c);
	TW_CHECK_INT(tw_jwt_verify(tok, KEY, strlen(KEY), NOW + 61, 60, &c, err, sizeof(err)),
		     TW_ERR_AUTH);
	tw_jwt_claims_free(&c);
	free(tok);
}

static void test_nbf_and_exp_rules(void)
{
	struct tw_jwt_claims c;
	char err[200] = "", *tok;

	tok = sign("{\"exp\":1700003600,\"nbf\":1700001000,\"sub\":\"u\"}");
	TW_CHECK_INT(verify(tok, KEY, NOW, &c, err), TW_ERR_AUTH);
	TW_CHECK_STR(err, "token is not valid yet (nbf)");
	TW_CHECK_INT(verify(tok, KEY, NOW + 1000, &c, err), TW_OK);
	tw_jwt_claims_free(&c);
	free(tok);

	tok = sign("{\"sub\":\"u\"}");
	TW_CHECK_INT(verify(tok, KEY, NOW, &c, err), TW_ERR_AUTH);
	TW_CHECK_STR(err, "token has no exp claim");
	free(tok);

	tok = sign("{\"exp\":\"soon\"}");
	TW_CHECK_INT(verify(tok, KEY, NOW, &c, err), TW_ERR_AUTH);
	free(tok);

	tok = sign("{\"exp\":1e300}"); /* absurd but must not overflow */
	TW_CHECK_INT(verify(tok, KEY, NOW, &c, err), TW_OK);
	tw_jwt_claims_free(&c);
	free(tok);
}

static void test_alg_none_and_others(void)
{
	const char *payload = "{\"exp\":1800000000,\"sub\":\"mallory\"}";
	struct tw_jwt_claims c;
	char err[200] = "", *tok;

	tok = raw_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, "");
	TW_CHECK_INT(verify(tok, KEY, NOW, &c, err), TW_ERR_AUTH);
	free(tok);
	tok = raw_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, "AAAA");
	TW_CHECK_INT(verify(tok, KEY, NOW, &c, err), TW_ERR_AUTH);
	TW_CHECK_STR(err, "token algorithm is not HS256");
	free(tok);
	tok = raw_token("{\"alg\":\"HS512\"}", payload, "AAAA");
	TW_CHECK_INT(verify(tok, KEY, NOW, &c, err), TW_ERR_AUTH);
	TW_CHECK_STR(err, "token algorithm is not HS256");
	free(tok);
	tok = raw_token("{\"typ\":\"JWT\"}", payload, "AAAA");
	TW_CHECK_INT(verify(tok, KEY, NOW, &c, err), TW_ERR_AUTH);
	free(tok);
}

static void test_tampered(void)
{
	char *good = sign("{\"exp\":1800000000,\"sub\":\"alice\"}");
	char *evil = raw_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
			       "{\"exp\":1800000000,\"sub\":\"admin\"}", strrchr(good, '.') + 1);
	struct tw_jwt_claims c;
	char err[200] = "";

	TW_CHECK_INT(verify(good, KEY, NOW, &c, err), TW_OK);
	tw_jwt_claims_free(&c);
	TW_CHECK_INT(verify(evil, KEY, NOW, &c, err), TW_ERR_AUTH);
	TW_CHECK_STR(err, "token signature does not match");
	good[strlen(good) - 2] ^= 1; /* flip a bit of the signature */
	TW_CHECK_INT(verify(good, KEY, NOW, &c, err), TW_ERR_AUTH);
	free(good);
	free(evil);
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"", "abc", "a.b", "a.b.c.d", "..", "a..c", ".b.c", "a.b.", "a$.b.c",
		"eyJhbGciOiJIUzI1NiJ9.e30.!!!!", "bm90IGpzb24.e30.AAAA",
	};
	struct tw_jwt_claims c;
	char err[200];
	int accepted = 0;
	char *tok;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (verify(bad[i], KEY, NOW, &c, err) != TW_ERR_AUTH)
			accepted++;
	TW_CHECK_INT(accepted, 0);
	TW_CHECK_INT(verify(NULL, KEY, NOW, &c, err), TW_ERR_AUTH);
	/* Correctly signed, but the payload is not JSON. */
	tok = sign("not json");
	TW_CHECK_INT(verify(tok, KEY, NOW, &c, err), TW_ERR_AUTH);
	TW_CHECK_STR(err, "token payload is not base64url JSON");
	free(tok);
}

static void test_claim_shapes(void)
{
	struct tw_jwt_claims c;
	char err[200], *tok;

	tok = sign("{\"exp\":1800000000,\"sub\":\"s\",\"nameid\":\"n\",\"role\":\"r1\","
		   "\"aud\":[\"x\",\"y\"]}");
	TW_CHECK_INT(verify(tok, KEY, NOW, &c, err), TW_OK);
	TW_CHECK_STR(c.sub, "n");
	TW_CHECK_INT(c.nroles, 1);
	TW_CHECK_INT(c.naud, 2);
	tw_jwt_claims_free(&c);
	free(tok);
	tok = sign("{\"exp\":1800000000,\"sub\":\"s\",\"roles\":[\"a\",5,\"b\"]}");
	TW_CHECK_INT(verify(tok, KEY, NOW, &c, err), TW_OK);
	TW_CHECK_STR(c.sub, "s");
	TW_CHECK_INT(c.nroles, 2);
	TW_CHECK_INT(c.naud, 0);
	TW_CHECK(!tw_jwt_aud_ok(&c, "http://h/client", "hub"));
	tw_jwt_claims_free(&c);
	free(tok);
}

static int aud_ok(const char *aud)
{
	char *a = (char *)aud;
	struct tw_jwt_claims c = { .aud = &a, .naud = 1 };

	return tw_jwt_aud_ok(&c, "http://h:1/client", "telemetry");
}

static void test_audience(void)
{
	TW_CHECK(aud_ok("http://h:1/client/?hub=telemetry"));
	TW_CHECK(aud_ok("http://h:1/client/?hub=Telemetry"));
	TW_CHECK(aud_ok("http://h:1/client?hub=telemetry"));
	TW_CHECK(aud_ok("http://h:1/client/negotiate?hub=telemetry&negotiateVersion=1"));
	TW_CHECK(aud_ok("http://h:1/client/"));
	TW_CHECK(aud_ok("http://h:1/client"));
	TW_CHECK(aud_ok("http://h:1/client/?x=1&hub=telemetry"));
	TW_CHECK(!aud_ok("http://h:1/client/?hub=other"));
	TW_CHECK(!aud_ok("http://h:1/client/?hub=telemetryx"));
	TW_CHECK(!aud_ok("http://evil:1/client/?hub=telemetry"));
	TW_CHECK(!aud_ok("http://h:1/clientx/?hub=telemetry"));
	TW_CHECK(!aud_ok("http://h:1/api/?hub=telemetry"));
	TW_CHECK(!aud_ok("http://h:1/x/client"));
	TW_CHECK(!aud_ok(""));
}

static void test_roles(void)
{
	const char *general[] = { "other", TW_ROLE_JOIN_LEAVE };
	const char *scoped[] = { TW_ROLE_JOIN_LEAVE ".fleet" };
	const char *lookalike[] = { TW_ROLE_JOIN_LEAVE "X", TW_ROLE_JOIN_LEAVE ".fleetx" };

	TW_CHECK(tw_jwt_may_join(general, 2, "anything"));
	TW_CHECK(tw_jwt_may_join(scoped, 1, "fleet"));
	TW_CHECK(!tw_jwt_may_join(scoped, 1, "alerts"));
	TW_CHECK(!tw_jwt_may_join(lookalike, 2, "fleet"));
	TW_CHECK(!tw_jwt_may_join(NULL, 0, "fleet"));
}

static void test_random_token(void)
{
	char a[48], b[48];

	TW_CHECK_INT(tw_random_token(a, sizeof(a), 32), TW_OK);
	TW_CHECK_INT(tw_random_token(b, sizeof(b), 32), TW_OK);
	TW_CHECK_INT(strlen(a), 43);
	TW_CHECK(strcmp(a, b) != 0);
	TW_CHECK_INT(tw_random_token(a, 10, 32), TW_ERR_INVAL);
}

int main(void)
{
	TW_RUN(test_b64url);
	TW_RUN(test_issue_and_verify);
	TW_RUN(test_skew);
	TW_RUN(test_nbf_and_exp_rules);
	TW_RUN(test_alg_none_and_others);
	TW_RUN(test_tampered);
	TW_RUN(test_malformed);
	TW_RUN(test_claim_shapes);
	TW_RUN(test_audience);
	TW_RUN(test_roles);
	TW_RUN(test_random_token);
	return TW_TEST_END();
}
