/* auth.h -- HS256 JSON Web Tokens (sign and verify) and base64url, as Azure SignalR Service uses them */
#ifndef TW_PUSH_AUTH_H
#define TW_PUSH_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define TW_ROLE_JOIN_LEAVE "webpubsub.joinLeaveGroup"
#define TW_ROLE_COMMAND "telewire.command"	/* may send commands to devices */

/* Writes the unpadded base64url form of n bytes (NUL-terminated) into out,
 * which must hold 4 * ((n + 2) / 3) + 1 bytes. Returns the length. */
size_t tw_b64url_encode(const void *in, size_t n, char *out);
/* Decodes strict unpadded base64url into out (room for len * 3 / 4 bytes).
 * Returns the decoded length, or -1 for a bad character or length. */
long tw_b64url_decode(const char *in, size_t len, unsigned char *out);

/* Fills out with nbytes random bytes as base64url. Returns TW_OK or TW_ERR_IO. */
int tw_random_token(char *out, size_t outlen, size_t nbytes);

struct tw_jwt_claims {
	char *sub;		/* nameid, else sub; NULL when absent */
	char **aud;		/* "aud" as a list (string or array of strings) */
	size_t naud;
	char **roles;		/* "role"/"roles" (string or array) */
	size_t nroles;
	int64_t exp, nbf;	/* seconds; nbf 0 when absent */
};

/* Signs claims (a JSON object text) with HS256. *out is malloc'd, freed by
 * the caller. Returns TW_OK, TW_ERR_INVAL, TW_ERR_NOMEM. */
int tw_jwt_sign(const void *key, size_t keylen, const char *claims_json, char **out);

/* Builds and signs the token the hub hands out: aud, sub (and nameid), iat,
 * exp and the roles. */
int tw_jwt_issue(const void *key, size_t keylen, const char *aud, const char *sub,
		 const char *const *roles, size_t nroles, int64_t now, int64_t ttl, char **out);

/* Verifies the signature (HS256 only: "none" and others are refused), exp
 * (required) and nbf with skew seconds of tolerance, then extracts the
 * claims into out (free with tw_jwt_claims_free even on failure). Returns
 * TW_OK or TW_ERR_AUTH with a specific reason in err. */
int tw_jwt_verify(const char *token, const void *key, size_t keylen, int64_t now, int64_t skew,
		  struct tw_jwt_claims *out, char *err, size_t errlen);
void tw_jwt_claims_free(struct tw_jwt_claims *c);

/* Is one of the token's audiences the endpoint base (e.g.
 * "http://host:8080/client")? An audience matches when, without its query,
 * trailing "negotiate" and trailing slash, it equals base; if its query
 * names a hub, that must be hub (case-insensitive). */
int tw_jwt_aud_ok(const struct tw_jwt_claims *c, const char *base, const char *hub);

/* Does the token allow joining/leaving group (the general role or
 * "webpubsub.joinLeaveGroup.<group>")? */
int tw_jwt_may_join(const char *const *roles, size_t nroles, const char *group);

#endif
