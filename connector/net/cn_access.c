/* cn_access.c - Cloudflare Access JWT (RS256) verification against a JWKS (see cn_access.h). */
#include "cn_access.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "ak_b64.h"

#define KID_MAX      128
#define RSA_BITS_MIN 2048
#define RSA_BITS_MAX 8192

typedef struct {
    char kid[KID_MAX + 1];
    EVP_PKEY *pkey;
    size_t sig_len; /* modulus size in bytes: an RS256 signature has exactly this length */
} jwk_key;

struct cn_access {
    jwk_key keys[CN_ACCESS_MAX_KEYS];
    size_t n_keys;
    char audience[CN_ACCESS_AUD_MAX + 1];
    char issuer[CN_ACCESS_AUD_MAX + 1]; /* "" = not checked */
    long leeway;
};

static AK_WUR ak_err jwk_b64_bn(BIGNUM **out, const cJSON *v)
{
    uint8_t buf[RSA_BITS_MAX / 8 + 1];
    size_t n = 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) > (sizeof buf * 4) / 3 + 4)
        return AK_ERR_CONFIG;
    if (ak_b64url_decode(buf, sizeof buf, &n, v->valuestring, strlen(v->valuestring)) != AK_OK ||
        n == 0 || buf[0] == 0)
        return AK_ERR_CONFIG; /* RFC 7518 6.3.1: minimal big-endian, no leading zero */
    *out = BN_bin2bn(buf, (int)n, NULL);
    return *out ? AK_OK : AK_ERR_NOMEM;
}

static AK_WUR ak_err jwk_to_pkey(jwk_key *k, const cJSON *jwk, size_t idx, char *err, size_t cap)
{
    ak_err rc = AK_ERR_CONFIG;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    const cJSON *kty = cJSON_GetObjectItemCaseSensitive(jwk, "kty");
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(jwk, "kid");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(jwk, "alg");
    const cJSON *use = cJSON_GetObjectItemCaseSensitive(jwk, "use");

    if (!cJSON_IsString(kty) || strcmp(kty->valuestring, "RSA") != 0) {
        AK_SET_ERR(err, cap, "jwks: key %zu is not kty RSA", idx);
        goto out;
    }
    if (!cJSON_IsString(kid) || strlen(kid->valuestring) == 0 ||
        strlen(kid->valuestring) > KID_MAX) {
        AK_SET_ERR(err, cap, "jwks: key %zu has no valid kid", idx);
        goto out;
    }
    if (alg != NULL && (!cJSON_IsString(alg) || strcmp(alg->valuestring, "RS256") != 0)) {
        AK_SET_ERR(err, cap, "jwks: key %zu: alg must be RS256", idx);
        goto out;
    }
    if (use != NULL && (!cJSON_IsString(use) || strcmp(use->valuestring, "sig") != 0)) {
        AK_SET_ERR(err, cap, "jwks: key %zu: use must be sig", idx);
        goto out;
    }
    if (jwk_b64_bn(&n, cJSON_GetObjectItemCaseSensitive(jwk, "n")) != AK_OK ||
        jwk_b64_bn(&e, cJSON_GetObjectItemCaseSensitive(jwk, "e")) != AK_OK) {
        AK_SET_ERR(err, cap, "jwks: key %zu: invalid n or e", idx);
        goto out;
    }
    int bits = BN_num_bits(n);
    if (bits < RSA_BITS_MIN || bits > RSA_BITS_MAX || !BN_is_odd(e) || BN_num_bits(e) > 33 ||
        BN_is_one(e)) {
        AK_SET_ERR(err, cap, "jwks: key %zu: RSA modulus must be %d..%d bits with a valid exponent",
                   idx, RSA_BITS_MIN, RSA_BITS_MAX);
        goto out;
    }
    rc = AK_ERR_CRYPTO;
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k->pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        AK_SET_ERR(err, cap, "jwks: key %zu: OpenSSL refused the RSA key", idx);
        goto out;
    }
    snprintf(k->kid, sizeof k->kid, "%s", kid->valuestring);
    k->sig_len = (size_t)BN_num_bytes(n);
    rc = AK_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return rc;
}

ak_err cn_access_new(cn_access **out, const char *jwks, size_t len, const char *path,
                     const char *audience, const char *issuer, long leeway_s, char *err,
                     size_t err_cap)
{
    ak_err rc = AK_ERR_CONFIG;
    cn_access *x = calloc(1, sizeof(*x));
    cJSON *doc = cJSON_ParseWithLength(jwks, len);
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "keys");
    *out = NULL;
    if (x == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    snprintf(x->audience, sizeof x->audience, "%s", audience);
    snprintf(x->issuer, sizeof x->issuer, "%s", issuer);
    x->leeway = leeway_s;
    if (!cJSON_IsArray(keys)) {
        AK_SET_ERR(err, err_cap, "auth.cf_access.jwks_file: %s is not a JWKS ({\"keys\":[...]})",
                   path);
        goto out;
    }
    size_t idx = 0;
    const cJSON *jwk;
    cJSON_ArrayForEach(jwk, keys)
    {
        /* Cloudflare publishes only RSA keys today; skip other key types rather than fail. */
        const cJSON *kty = cJSON_GetObjectItemCaseSensitive(jwk, "kty");
        idx++;
        if (cJSON_IsString(kty) && strcmp(kty->valuestring, "RSA") != 0)
            continue;
        if (x->n_keys == CN_ACCESS_MAX_KEYS) {
            AK_SET_ERR(err, err_cap, "jwks: more than %d keys", CN_ACCESS_MAX_KEYS);
            rc = AK_ERR_CONFIG;
            goto out;
        }
        rc = jwk_to_pkey(&x->keys[x->n_keys], jwk, idx - 1, err, err_cap);
        if (rc != AK_OK)
            goto out;
        x->n_keys++;
        for (size_t i = 0; i + 1 < x->n_keys; i++) {
            if (strcmp(x->keys[i].kid, x->keys[x->n_keys - 1].kid) == 0) {
                AK_SET_ERR(err, err_cap, "jwks: duplicate kid");
                rc = AK_ERR_CONFIG;
                goto out;
            }
        }
    }
    if (x->n_keys == 0) {
        AK_SET_ERR(err, err_cap, "auth.cf_access.jwks_file: %s holds no RSA key", path);
        rc = AK_ERR_CONFIG;
        goto out;
    }
    *out = x;
    x = NULL;
    rc = AK_OK;
out:
    cJSON_Delete(doc);
    cn_access_free(x);
    return rc;
}

void cn_access_free(cn_access *x)
{
    if (x == NULL)
        return;
    for (size_t i = 0; i < x->n_keys; i++)
        EVP_PKEY_free(x->keys[i].pkey);
    free(x);
}

/* ---- JWT check -------------------------------------------------------------------------- */

static cJSON *decode_json_part(const char *p, size_t len)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    cJSON *j = NULL;
    buf = malloc(len + 1);
    if (buf == NULL)
        goto out;
    if (ak_b64url_decode(buf, len, &n, p, len) != AK_OK)
        goto out;
    j = cJSON_ParseWithLength((const char *)buf, n);
    if (j != NULL && !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        j = NULL;
    }
out:
    free(buf);
    return j;
}

static int aud_matches(const cJSON *aud, const char *want)
{
    const cJSON *it;
    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, want) == 0;
    if (!cJSON_IsArray(aud))
        return 0;
    cJSON_ArrayForEach(it, aud)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, want) == 0)
            return 1;
    }
    return 0;
}

/* A NumericDate (RFC 7519 section 2): a finite JSON number. Absent -> 0 (if optional). */
static int numeric_date(double *out, const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return 0;
    *out = v->valuedouble;
    return 1;
}

static AK_WUR ak_err check_claims(const cn_access *a, const cJSON *claims, time_t now,
                                  const char **reason)
{
    double exp = 0, nbf = 0, iat = 0, t = (double)now, lee = (double)a->leeway;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    if (!numeric_date(&exp, v)) {
        *reason = "jwt has no valid exp";
        return AK_ERR_AUTH;
    }
    if (t >= exp + lee) {
        *reason = "jwt expired";
        return AK_ERR_AUTH;
    }
    v = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
    if (v != NULL && (!numeric_date(&nbf, v) || nbf > t + lee)) {
        *reason = "jwt not yet valid (nbf)";
        return AK_ERR_AUTH;
    }
    v = cJSON_GetObjectItemCaseSensitive(claims, "iat");
    if (v != NULL && (!numeric_date(&iat, v) || iat > t + lee)) {
        *reason = "jwt issued in the future (iat)";
        return AK_ERR_AUTH;
    }
    if (!aud_matches(cJSON_GetObjectItemCaseSensitive(claims, "aud"), a->audience)) {
        *reason = "jwt audience mismatch";
        return AK_ERR_AUTH;
    }
    if (a->issuer[0] != '\0') {
        v = cJSON_GetObjectItemCaseSensitive(claims, "iss");
        if (!cJSON_IsString(v) || strcmp(v->valuestring, a->issuer) != 0) {
            *reason = "jwt issuer mismatch";
            return AK_ERR_AUTH;
        }
    }
    return AK_OK;
}

ak_err cn_access_check(const cn_access *a, const char *jwt, time_t now, const char **reason)
{
    ak_err rc = AK_ERR_AUTH;
    cJSON *hdr = NULL, *claims = NULL;
    uint8_t *sig = NULL;
    EVP_MD_CTX *md = NULL;
    const jwk_key *key = NULL;
    size_t sig_len = 0;

    if (jwt == NULL || *jwt == '\0') {
        *reason = "missing cf-access-jwt-assertion";
        goto out;
    }
    size_t len = strnlen(jwt, CN_ACCESS_MAX_JWT + 1);
    if (len > CN_ACCESS_MAX_JWT) {
        *reason = "jwt too long";
        goto out;
    }
    /* Compact serialisation: exactly three parts, header.payload.signature (RFC 7515 7.1). */
    const char *d1 = memchr(jwt, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt)) != NULL) {
        *reason = "malformed jwt";
        goto out;
    }
    hdr = decode_json_part(jwt, (size_t)(d1 - jwt));
    if (hdr == NULL) {
        *reason = "malformed jwt header";
        goto out;
    }
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(hdr, "alg");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "RS256") != 0) {
        *reason = "jwt alg is not RS256";
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(hdr, "crit") != NULL) {
        *reason = "jwt has unsupported crit header"; /* RFC 7515 4.1.11 */
        goto out;
    }
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(hdr, "kid");
    if (!cJSON_IsString(kid)) {
        *reason = "jwt has no kid";
        goto out;
    }
    for (size_t i = 0; i < a->n_keys && key == NULL; i++) {
        if (strcmp(a->keys[i].kid, kid->valuestring) == 0)
            key = &a->keys[i];
    }
    if (key == NULL) {
        *reason = "jwt kid not in jwks";
        goto out;
    }
    size_t slen = len - (size_t)(d2 + 1 - jwt);
    sig = malloc(slen + 1);
    if (sig == NULL) {
        *reason = "out of memory";
        goto out;
    }
    if (ak_b64url_decode(sig, slen, &sig_len, d2 + 1, slen) != AK_OK || sig_len != key->sig_len) {
        *reason = "malformed jwt signature";
        goto out;
    }
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pkey) != 1) {
        *reason = "crypto failure";
        goto out;
    }
    /* EVP_PKEY RSA defaults to PKCS#1 v1.5 padding: exactly RS256. */
    if (EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt, (size_t)(d2 - jwt)) != 1) {
        *reason = "jwt signature invalid";
        goto out;
    }
    claims = decode_json_part(d1 + 1, (size_t)(d2 - d1 - 1));
    if (claims == NULL) {
        *reason = "malformed jwt payload";
        goto out;
    }
    rc = check_claims(a, claims, now, reason);
out:
    EVP_MD_CTX_free(md);
    free(sig);
    cJSON_Delete(hdr);
    cJSON_Delete(claims);
    return rc;
}

/* The claims of a JWT's payload, not verified (NULL when it has no payload). */
static cJSON *unverified_claims(const char *jwt)
{
    size_t len = jwt ? strnlen(jwt, CN_ACCESS_MAX_JWT + 1) : 0;
    const char *d1 = jwt != NULL && len <= CN_ACCESS_MAX_JWT ? memchr(jwt, '.', len) : NULL;
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
    return d2 ? decode_json_part(d1 + 1, (size_t)(d2 - d1 - 1)) : NULL;
}

void cn_access_subject(const char *jwt, char *out, size_t cap)
{
    cJSON *claims = unverified_claims(jwt);
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
    size_t n = 0;
    /* printable ASCII only: it goes into logs and bucket names */
    for (const char *p = cJSON_IsString(sub) ? sub->valuestring : "?"; *p && n + 1 < cap; p++) {
        out[n++] = *p;
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
            out[n - 1] = '_';
    }
    out[n] = '\0';
    cJSON_Delete(claims);
}

void cn_access_identity(const char *jwt, char *out, size_t cap)
{
    cJSON *claims = unverified_claims(jwt);
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
    const cJSON *email = cJSON_GetObjectItemCaseSensitive(claims, "email");
    snprintf(out, cap, "access:%.128s%s%.128s", cJSON_IsString(sub) ? sub->valuestring : "",
             cJSON_IsString(email) ? "/" : "", cJSON_IsString(email) ? email->valuestring : "");
    cJSON_Delete(claims);
}
