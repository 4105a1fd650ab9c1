/* auth.c -- HS256 JWT with OpenSSL HMAC and jansson: sign, verify, audience and role checks */
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telewire/error.h"
#include "auth.h"

#define JWT_MAX_LEN 8192

static const char b64url_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t tw_b64url_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	size_t o = 0, i = 0;

	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];

		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
		out[o++] = b64url_chars[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)p[i] << 16;

		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;

		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64url__value(char c)
{
	const char *p = c ? strchr(b64url_chars, c) : NULL;

	return p ? (int)(p - b64url_chars) : -1;
}

long tw_b64url_decode(const char *in, size_t len, unsigned char *out)
{
	unsigned acc = 0;
	int bits = 0;
	long o = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64url__value(in[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	/* Leftover bits must be zero (canonical encoding). */
	if (bits && (acc & ((1u << bits) - 1)))
		return -1;
	return o;
}

int tw_random_token(char *out, size_t outlen, size_t nbytes)
{
	unsigned char raw[64];

	if (nbytes > sizeof(raw) || outlen < 4 * ((nbytes + 2) / 3) + 1)
		return TW_ERR_INVAL;
	if (RAND_bytes(raw, (int)nbytes) != 1)
		return TW_ERR_IO;
	tw_b64url_encode(raw, nbytes, out);
	return TW_OK;
}

static int jwt__hmac(const void *key, size_t keylen, const char *data, size_t len,
		     unsigned char mac[32])
{
	unsigned maclen = 0;

	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, len, mac, &maclen) ||
	    maclen != 32)
		return TW_ERR_INVAL;
	return TW_OK;
}

int tw_jwt_sign(const void *key, size_t keylen, const char *claims_json, char **out)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	size_t clen = strlen(claims_json), cap, n;
	unsigned char mac[32];
	char *tok;

	*out = NULL;
	if (clen > JWT_MAX_LEN)
		return TW_ERR_INVAL;
	cap = 4 * ((sizeof(header) + 2) / 3) + 4 * ((clen + 2) / 3) + 48 + 3;
	tok = malloc(cap);
	if (!tok)
		return TW_ERR_NOMEM;
	n = tw_b64url_encode(header, sizeof(header) - 1, tok);
	tok[n++] = '.';
	n += tw_b64url_encode(claims_json, clen, tok + n);
	if (jwt__hmac(key, keylen, tok, n, mac) != TW_OK) {
		free(tok);
		return TW_ERR_INVAL;
	}
	tok[n++] = '.';
	tw_b64url_encode(mac, sizeof(mac), tok + n);
	*out = tok;
	return TW_OK;
}

static json_t *jwt__roles_json(const char *const *roles, size_t nroles)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < nroles; i++)
		json_array_append_new(a, json_string(roles[i]));
	return a;
}

int tw_jwt_issue(const void *key, size_t keylen, const char *aud, const char *sub,
		 const char *const *roles, size_t nroles, int64_t now, int64_t ttl, char **out)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "aud", aud, "sub", sub,
			      "nameid", sub, "iat", (json_int_t)now, "exp",
			      (json_int_t)(now + ttl), "role", jwt__roles_json(roles, nroles));
	char *text;
	int rc;

	*out = NULL;
	if (!c)
		return TW_ERR_INVAL;
	text = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	if (!text)
		return TW_ERR_NOMEM;
	rc = tw_jwt_sign(key, keylen, text, out);
	free(text);
	return rc;
}

/* Decodes one base64url segment holding a JSON object. */
static json_t *jwt__segment_json(const char *seg, size_t len)
{
	unsigned char *raw = malloc(len * 3 / 4 + 1);
	json_t *v = NULL;
	long n;

	if (!raw)
		return NULL;
	n = tw_b64url_decode(seg, len, raw);
	if (n >= 0)
		v = json_loadb((const char *)raw, (size_t)n, 0, NULL);
	free(raw);
	if (v && !json_is_object(v)) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

static int jwt__fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return TW_ERR_AUTH;
}

/* Splits "h.p.s" into three non-empty segments. */
static int jwt__split(const char *token, const char **dot1, const char **dot2)
{
	size_t len = strlen(token);

	if (len == 0 || len > JWT_MAX_LEN)
		return -1;
	*dot1 = strchr(token, '.');
	*dot2 = *dot1 ? strchr(*dot1 + 1, '.') : NULL;
	if (!*dot2 || strchr(*dot2 + 1, '.') || *dot1 == token || *dot2 == *dot1 + 1 ||
	    (*dot2)[1] == '\0')
		return -1;
	return 0;
}

static int jwt__check_header(const char *token, size_t len, char *err, size_t errlen)
{
	json_t *h = jwt__segment_json(token, len);
	const char *alg = h ? json_string_value(json_object_get(h, "alg")) : NULL;
	int rc = TW_OK;

	if (!h)
		rc = jwt__fail(err, errlen, "token header is not base64url JSON");
	else if (!alg || strcmp(alg, "HS256") != 0)
		rc = jwt__fail(err, errlen, "token algorithm is not HS256");
	json_decref(h);
	return rc;
}

static int jwt__check_sig(const char *token, const char *dot2, const void *key, size_t keylen,
			  char *err, size_t errlen)
{
	unsigned char mac[32], got[64];
	size_t slen = strlen(dot2 + 1);
	long n;

	if (slen > 86)
		return jwt__fail(err, errlen, "token signature has the wrong length");
	n = tw_b64url_decode(dot2 + 1, slen, got);
	if (n < 0)
		return jwt__fail(err, errlen, "token signature is not base64url");
	if (jwt__hmac(key, keylen, token, (size_t)(dot2 - token), mac) != TW_OK)
		return jwt__fail(err, errlen, "cannot compute HMAC");
	if (n != 32 || CRYPTO_memcmp(mac, got, 32) != 0)
		return jwt__fail(err, errlen, "token signature does not match");
	return TW_OK;
}

/* Reads a string-or-array-of-strings claim into a list. */
static int jwt__strings(json_t *v, char ***out, size_t *n)
{
	size_t count = json_is_array(v) ? json_array_size(v) : json_is_string(v) ? 1 : 0;

	*out = NULL;
	*n = 0;
	if (!count)
		return TW_OK;
	*out = calloc(count, sizeof(char *));
	if (!*out)
		return TW_ERR_NOMEM;
	for (size_t i = 0; i < count; i++) {
		json_t *s = json_is_array(v) ? json_array_get(v, i) : v;

		if (!json_is_string(s))
			continue;
		(*out)[*n] = strdup(json_string_value(s));
		if (!(*out)[*n])
			return TW_ERR_NOMEM;
		(*n)++;
	}
	return TW_OK;
}

static int jwt__time(json_t *p, const char *name, int64_t *out)
{
	json_t *v = json_object_get(p, name);
	double d;

	if (!v)
		return 0;
	if (!json_is_number(v))
		return -1;
	d = json_number_value(v);
	/* Clamped so that the conversion and exp + skew cannot overflow. */
	*out = d > 4e18 ? (int64_t)4e18 : d < -4e18 ? (int64_t)-4e18 : (int64_t)d;
	return 1;
}

static int jwt__times(json_t *p, struct tw_jwt_claims *c, int64_t now, int64_t skew,
		      char *err, size_t errlen)
{
	int has_exp = jwt__time(p, "exp", &c->exp), has_nbf = jwt__time(p, "nbf", &c->nbf);

	if (has_exp < 0 || has_nbf < 0)
		return jwt__fail(err, errlen, "token exp/nbf must be numbers");
	if (!has_exp)
		return jwt__fail(err, errlen, "token has no exp claim");
	if (now >= c->exp + skew)
		return jwt__fail(err, errlen, "token is expired");
	if (has_nbf && now + skew < c->nbf)
		return jwt__fail(err, errlen, "token is not valid yet (nbf)");
	return TW_OK;
}

#define CLAIM_NAMEID "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
#define CLAIM_ROLE "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"

static int jwt__claims(json_t *p, struct tw_jwt_claims *c)
{
	const char *sub = json_string_value(json_object_get(p, "nameid"));
	json_t *roles = json_object_get(p, "role");
	int rc;

	if (!sub)
		sub = json_string_value(json_object_get(p, "sub"));
	if (!sub)
		sub = json_string_value(json_object_get(p, CLAIM_NAMEID));
	if (sub && !(c->sub = strdup(sub)))
		return TW_ERR_NOMEM;
	if (!roles)
		roles = json_object_get(p, "roles");
	if (!roles)
		roles = json_object_get(p, CLAIM_ROLE);
	rc = jwt__strings(roles, &c->roles, &c->nroles);
	if (rc == TW_OK)
		rc = jwt__strings(json_object_get(p, "aud"), &c->aud, &c->naud);
	return rc;
}

int tw_jwt_verify(const char *token, const void *key, size_t keylen, int64_t now, int64_t skew,
		  struct tw_jwt_claims *out, char *err, size_t errlen)
{
	const char *dot1, *dot2;
	json_t *payload;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!token || jwt__split(token, &dot1, &dot2) != 0)
		return jwt__fail(err, errlen, "token is not three base64url segments");
	rc = jwt__check_header(token, (size_t)(dot1 - token), err, errlen);
	if (rc == TW_OK)
		rc = jwt__check_sig(token, dot2, key, keylen, err, errlen);
	if (rc != TW_OK)
		return rc;
	payload = jwt__segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (!payload)
		return jwt__fail(err, errlen, "token payload is not base64url JSON");
	rc = jwt__times(payload, out, now, skew, err, errlen);
	if (rc == TW_OK && jwt__claims(payload, out) != TW_OK)
		rc = jwt__fail(err, errlen, "out of memory reading claims");
	json_decref(payload);
	return rc;
}

static void jwt__free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void tw_jwt_claims_free(struct tw_jwt_claims *c)
{
	free(c->sub);
	jwt__free_list(c->aud, c->naud);
	jwt__free_list(c->roles, c->nroles);
	memset(c, 0, sizeof(*c));
}

/* Finds hub=VALUE in a query string; returns its length or -1. */
static long aud__query_hub(const char *q, const char **val)
{
	while (q && *q) {
		const char *end = strchr(q, '&');
		size_t len = end ? (size_t)(end - q) : strlen(q);

		if (len > 4 && strncasecmp(q, "hub=", 4) == 0) {
			*val = q + 4;
			return (long)(len - 4);
		}
		q = end ? end + 1 : NULL;
	}
	return -1;
}

static int aud__one(const char *aud, const char *base, const char *hub)
{
	const char *q = strchr(aud, '?'), *hv;
	size_t len = q ? (size_t)(q - aud) : strlen(aud);
	long hlen;

	while (len && aud[len - 1] == '/')
		len--;
	if (len >= 9 && strncmp(aud + len - 9, "negotiate", 9) == 0)
		len -= 9;
	while (len && aud[len - 1] == '/')
		len--;
	if (len != strlen(base) || strncasecmp(aud, base, len) != 0)
		return 0;
	hlen = aud__query_hub(q ? q + 1 : NULL, &hv);
	return hlen < 0 || ((size_t)hlen == strlen(hub) && strncasecmp(hv, hub, (size_t)hlen) == 0);
}

int tw_jwt_aud_ok(const struct tw_jwt_claims *c, const char *base, const char *hub)
{
	for (size_t i = 0; i < c->naud; i++)
		if (aud__one(c->aud[i], base, hub))
			return 1;
	return 0;
}

int tw_jwt_may_join(const char *const *roles, size_t nroles, const char *group)
{
	size_t plen = strlen(TW_ROLE_JOIN_LEAVE);

	for (size_t i = 0; i < nroles; i++) {
		if (strcmp(roles[i], TW_ROLE_JOIN_LEAVE) == 0)
			return 1;
		if (strncmp(roles[i], TW_ROLE_JOIN_LEAVE, plen) == 0 && roles[i][plen] == '.' &&
		    strcmp(roles[i] + plen + 1, group) == 0)
			return 1;
	}
	return 0;
}
