/*
 * cn_access.h - Cloudflare Access JWTs (the "cf_access" part of cn_auth.h): the team's JWKS and
 * the check of a "Cf-Access-Jwt-Assertion" header against it.
 *
 * Accepted only when the header is RS256 (alg "none", HS256 and every other alg are refused), has
 * no "crit", its "kid" names an RSA key of the JWKS (kty RSA, 2048..8192 bits; keys of other types
 * are skipped), the RSASSA-PKCS1-v1_5 SHA-256 signature verifies (OpenSSL), "aud" (string or
 * array) contains the audience, "exp" is in the future and "nbf"/"iat" are not in the future (each
 * +- leeway), and "iss" equals the issuer if one is set. RFC 7515 (JWS compact serialisation,
 * section 7.1), RFC 7518 section 3.3 (RS256), RFC 7517 (JWK "n"/"e"), RFC 7519 section 4.1.
 *
 * Owns one EVP_PKEY per JWKS key. Read-only after cn_access_new: cn_access_check may run on any
 * number of threads at once. Limits: CN_ACCESS_MAX_KEYS keys, JWTs of CN_ACCESS_MAX_JWT bytes.
 */
#ifndef CN_ACCESS_H
#define CN_ACCESS_H

#include <stddef.h>
#include <time.h>

#include "ak_err.h"

#define CN_ACCESS_MAX_JWT  8192
#define CN_ACCESS_MAX_KEYS 32
#define CN_ACCESS_AUD_MAX  512

typedef struct cn_access cn_access;

/*
 * From the JWKS text jwks[0..len) (path: its file's name, for messages only). audience required,
 * issuer "" = not checked (each <= CN_ACCESS_AUD_MAX), leeway_s in seconds. AK_ERR_CONFIG /
 * AK_ERR_CRYPTO / AK_ERR_NOMEM with a secret-free reason in err. Free with cn_access_free().
 */
AK_WUR ak_err cn_access_new(cn_access **out, const char *jwks, size_t len, const char *path,
                            const char *audience, const char *issuer, long leeway_s, char *err,
                            size_t err_cap);
void cn_access_free(cn_access *x); /* NULL allowed */

/* AK_OK, or AK_ERR_AUTH with a static, secret-free *reason ("jwt expired", ...). */
AK_WUR ak_err cn_access_check(const cn_access *x, const char *jwt, time_t now, const char **reason);

/* Of a JWT's payload, NOT verified here (callers check first): "sub" as printable ASCII
 * (anything else '_', "?" when absent), or "access:<sub>[/<email>]". out is NUL-terminated. */
void cn_access_subject(const char *jwt, char *out, size_t cap);
void cn_access_identity(const char *jwt, char *out, size_t cap);

#endif
