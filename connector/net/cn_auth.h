/*
 * cn_auth.h - optional client authentication for the connector's HTTP surface.
 *
 * Two independent mechanisms, each enabled by its presence in the "auth" config object:
 *
 *   "auth": {
 *     "bearer_tokens_file": "/etc/anode/connector.tokens",   // one token per line, '#' comments
 *     "cf_access": {
 *       "jwks_file": "/etc/anode/cf-access-jwks.json",       // the team's /cdn-cgi/access/certs
 *       "audience": "<application AUD tag>",                 // required
 *       "issuer": "https://<team>.cloudflareaccess.com",     // optional; checked when set
 *       "leeway_s": 30                                       // clock skew allowed, 0..300
 *     },
 *     "require": "all"                                       // "all" (default) or "any"
 *   }
 *
 * Bearer tokens: the client sends "Authorization: Bearer <token>". Tokens are kept only as
 * SHA-256 digests (the file's plain text is wiped after loading) and compared in constant
 * time against every configured digest (no early exit). Tokens: 16..512 printable ASCII
 * characters without spaces; at most CN_AUTH_MAX_TOKENS.
 *
 * Cloudflare Access: the tunnel adds "Cf-Access-Jwt-Assertion: <JWT>", checked by cn_access
 * (cn_access.h: RS256 only, kid in the JWKS file, aud, exp/nbf/iat +- leeway, iss if set). JWTs
 * longer than CN_AUTH_MAX_JWT are refused.
 *
 * With both mechanisms configured, "require": "all" needs both to pass, "any" needs one.
 * With neither configured (cfg NULL or {}), cn_auth_enabled() is 0 and every check passes.
 *
 * Thread safety: after cn_auth_new() the object is read-only; cn_auth_check() may be called
 * from any number of threads at once. Limits: the JWKS file <= 256 KiB with <= 32 keys, the
 * token file <= 256 KiB.
 */
#ifndef CN_AUTH_H
#define CN_AUTH_H

#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_access.h"

#define CN_AUTH_MAX_TOKENS 1024
#define CN_AUTH_MAX_JWT    CN_ACCESS_MAX_JWT
#define CN_AUTH_MAX_KEYS   CN_ACCESS_MAX_KEYS

typedef struct cn_auth cn_auth;

/*
 * Build from the "auth" config object (NULL or {} = authentication disabled). Reads the files
 * named in cfg. On failure returns AK_ERR_CONFIG / AK_ERR_IO / AK_ERR_NOMEM and writes a short,
 * secret-free reason (file names, field names; never token or key material) into err.
 * *out is owned by the caller: free with cn_auth_free().
 */
AK_WUR ak_err cn_auth_new(cn_auth **out, const cJSON *cfg, char *err, size_t err_cap);

/* 1 if at least one mechanism is configured (callers may skip the check otherwise). */
int cn_auth_enabled(const cn_auth *a);

/*
 * Check one HTTP request. authorization: the Authorization header value or NULL;
 * cf_access_jwt: the Cf-Access-Jwt-Assertion header value or NULL; now: the current time.
 * Returns AK_OK, or AK_ERR_AUTH (answer 401). If reason is not NULL it receives a static,
 * secret-free string for the log ("missing bearer token", "jwt expired", ...); never send it
 * to the client in more detail than "unauthorized".
 */
AK_WUR ak_err cn_auth_check(const cn_auth *a, const char *authorization, const char *cf_access_jwt,
                            time_t now, const char **reason);

/*
 * The client's identity for per-client limits and logs, for a request cn_auth_check() accepted
 * with the same headers: "jwt:<sub>" (Access JWT subject; with "require": "any" only when the
 * bearer token did not match), "token:<n>" (the n-th token of the file, from 0), "anonymous"
 * when authentication is off. Secret-free (never token material), at most CN_AUTH_ID_MAX bytes
 * with the NUL, printable ASCII. The JWT is not verified again here.
 */
#define CN_AUTH_ID_MAX 128
void cn_auth_client_id(const cn_auth *a, const char *authorization, const char *cf_access_jwt,
                       char *out, size_t cap);

/*
 * After a successful cn_auth_check(): the client's identity for the audit log, from the
 * mechanisms that verify (checked again here): "token:<16 hex of the token's SHA-256>" and/or
 * "access:<sub>[/<email>]" of the Access JWT, space-separated; "" when authentication is off.
 * Never the token itself. out is always NUL-terminated (cap > 0).
 */
void cn_auth_identify(const cn_auth *a, const char *authorization, const char *cf_access_jwt,
                      time_t now, char *out, size_t cap);

void cn_auth_free(cn_auth *a); /* NULL allowed; wipes the token digests */

#endif
