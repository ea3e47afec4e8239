/*
 * cn_auth.c - bearer tokens and Cloudflare Access JWT (RS256) for the connector (see cn_auth.h).
 *
 * Owns: the SHA-256 digests of the configured tokens (locked memory, wiped on free) and one
 * EVP_PKEY per JWKS key. Nothing else is kept: the token file's text is wiped as soon as it is
 * hashed. The JWT code follows RFC 7515 (JWS compact serialisation, section 7.1), RFC 7518 section
 * 3.3 (RS256 = RSASSA-PKCS1-v1_5 with SHA-256), RFC 7517 (JWK "n"/"e") and RFC 7519
 * section 4.1 (exp, nbf, iat, aud, iss).
 */
#include "cn_auth.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/bn.h>

#include "ak_cfg.h"
#include "ak_b64.h"
#include "ak_secmem.h"
#include "cn_secfile.h"

#define FILE_MAX       ((size_t)256 * 1024)
#define TOKEN_MIN      16
#define TOKEN_MAX      512
#define KID_MAX        128
#define LEEWAY_MAX     300
#define LEEWAY_DEFAULT 30
#define RSA_BITS_MIN   2048
#define RSA_BITS_MAX   8192
#define AUD_MAX        512
#define JWT_PART_MAX   CN_AUTH_MAX_JWT

typedef struct {
    char kid[KID_MAX + 1];
    EVP_PKEY *pkey;
    size_t sig_len; /* modulus size in bytes: an RS256 signature has exactly this length */
} jwk_key;

struct cn_auth {
    uint8_t (*tokens)[32]; /* SHA-256 of each token */
    size_t n_tokens;
    int have_bearer;

    int have_jwt;
    jwk_key keys[CN_AUTH_MAX_KEYS];
    size_t n_keys;
    char audience[AUD_MAX + 1];
    char issuer[AUD_MAX + 1]; /* "" = not checked */
    long leeway;

    int require_all;
};

/* A short, secret-free reason for the caller (err may be NULL). */
#define set_err(err, cap, ...)                                                                     \
    ((err) != NULL && (cap) > 0 ? (void)snprintf((err), (cap), __VA_ARGS__) : (void)0)

/* Read a whole regular file of at most FILE_MAX bytes, NUL-terminated. Caller wipes and frees. */
static AK_WUR ak_err read_file(char **out, size_t *out_len, const char *path)
{
    ak_err rc = AK_ERR_IO;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        goto out;
    buf = malloc(FILE_MAX + 1);
    if (buf == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    len = fread(buf, 1, FILE_MAX + 1, f);
    if (ferror(f))
        goto out;
    if (len > FILE_MAX) {
        rc = AK_ERR_LIMIT;
        goto out;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = AK_OK;
out:
    if (buf != NULL) {
        ak_wipe(buf, FILE_MAX + 1);
        free(buf);
    }
    if (f != NULL)
        fclose(f);
    return rc;
}

static int sha256(uint8_t out[32], const void *in, size_t len)
{
    unsigned int n = 0;
    return EVP_Digest(in, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32;
}

/* ---- bearer tokens --------------------------------------------------------------------- */

static int token_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

static AK_WUR ak_err load_tokens(cn_auth *a, const char *path, char *err, size_t cap)
{
    char *text = NULL;
    size_t len = 0;
    size_t lineno = 0;
    ak_err rc = cn_secret_file_check(path, err, err != NULL ? cap : 0);
    if (rc != AK_OK)
        goto out;
    rc = read_file(&text, &len, path);
    if (rc != AK_OK) {
        set_err(err, cap, "auth.bearer_tokens_file: cannot read %s (%s)", path, ak_strerror(rc));
        goto out;
    }
    a->tokens = ak_secure_alloc(CN_AUTH_MAX_TOKENS * sizeof *a->tokens);
    if (a->tokens == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    rc = AK_ERR_CONFIG;
    for (char *p = text; p < text + len;) {
        char *eol = memchr(p, '\n', (size_t)(text + len - p));
        char *end = eol ? eol : text + len;
        char *b = p, *e = end;
        lineno++;
        p = eol ? eol + 1 : text + len;
        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        if (b == e || *b == '#')
            continue;
        size_t tlen = (size_t)(e - b);
        for (size_t i = 0; i < tlen; i++) {
            if (!token_char_ok((unsigned char)b[i])) {
                set_err(err, cap, "auth.bearer_tokens_file: line %zu: invalid character", lineno);
                goto out;
            }
        }
        if (tlen < TOKEN_MIN || tlen > TOKEN_MAX) {
            set_err(err, cap, "auth.bearer_tokens_file: line %zu: token must be %d..%d characters",
                    lineno, TOKEN_MIN, TOKEN_MAX);
            goto out;
        }
        if (a->n_tokens == CN_AUTH_MAX_TOKENS) {
            set_err(err, cap, "auth.bearer_tokens_file: more than %d tokens", CN_AUTH_MAX_TOKENS);
            goto out;
        }
        if (!sha256(a->tokens[a->n_tokens], b, tlen)) {
            rc = AK_ERR_CRYPTO;
            goto out;
        }
        a->n_tokens++;
    }
    if (a->n_tokens == 0) {
        set_err(err, cap, "auth.bearer_tokens_file: %s holds no token", path);
        goto out;
    }
    a->have_bearer = 1;
    rc = AK_OK;
out:
    if (text != NULL) {
        ak_wipe(text, len);
        free(text);
    }
    return rc;
}

/* *idx (may be NULL) gets the index of the matching token, or -1. */
static AK_WUR ak_err check_bearer(const cn_auth *a, const char *hdr, const char **reason, long *idx)
{
    uint8_t d[32];
    ak_err rc = AK_ERR_AUTH;
    int match = 0;
    long which = 0;
    if (idx != NULL)
        *idx = -1;
    if (hdr == NULL || *hdr == '\0') {
        *reason = "missing bearer token";
        goto out;
    }
    /* RFC 6750 section 2.1: "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 7235). */
    if (strncasecmp(hdr, "Bearer ", 7) != 0) {
        *reason = "authorization is not a bearer token";
        goto out;
    }
    const char *t = hdr + 7;
    while (*t == ' ')
        t++;
    size_t tlen = strnlen(t, TOKEN_MAX + 1);
    while (tlen > 0 && (t[tlen - 1] == ' ' || t[tlen - 1] == '\t'))
        tlen--;
    if (tlen < TOKEN_MIN || tlen > TOKEN_MAX) {
        *reason = "invalid bearer token";
        goto out;
    }
    if (!sha256(d, t, tlen)) {
        *reason = "digest failed";
        goto out;
    }
    /* Compare against every digest, no early exit: timing reveals neither which nor whether. */
    for (size_t i = 0; i < a->n_tokens; i++) {
        int m = ak_ct_equal(d, a->tokens[i], 32);
        match |= m;
        which |= (long)i & -(long)m; /* tokens are distinct: at most one m is 1 */
    }
    if (!match) {
        *reason = "invalid bearer token";
        goto out;
    }
    if (idx != NULL)
        *idx = which;
    rc = AK_OK;
out:
    ak_wipe(d, sizeof d);
    return rc;
}

/* ---- JWKS -------------------------------------------------------------------------------- */

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
        set_err(err, cap, "jwks: key %zu is not kty RSA", idx);
        goto out;
    }
    if (!cJSON_IsString(kid) || strlen(kid->valuestring) == 0 ||
        strlen(kid->valuestring) > KID_MAX) {
        set_err(err, cap, "jwks: key %zu has no valid kid", idx);
        goto out;
    }
    if (alg != NULL && (!cJSON_IsString(alg) || strcmp(alg->valuestring, "RS256") != 0)) {
        set_err(err, cap, "jwks: key %zu: alg must be RS256", idx);
        goto out;
    }
    if (use != NULL && (!cJSON_IsString(use) || strcmp(use->valuestring, "sig") != 0)) {
        set_err(err, cap, "jwks: key %zu: use must be sig", idx);
        goto out;
    }
    if (jwk_b64_bn(&n, cJSON_GetObjectItemCaseSensitive(jwk, "n")) != AK_OK ||
        jwk_b64_bn(&e, cJSON_GetObjectItemCaseSensitive(jwk, "e")) != AK_OK) {
        set_err(err, cap, "jwks: key %zu: invalid n or e", idx);
        goto out;
    }
    int bits = BN_num_bits(n);
    if (bits < RSA_BITS_MIN || bits > RSA_BITS_MAX || !BN_is_odd(e) || BN_num_bits(e) > 33 ||
        BN_is_one(e)) {
        set_err(err, cap, "jwks: key %zu: RSA modulus must be %d..%d bits with a valid exponent",
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
        set_err(err, cap, "jwks: key %zu: OpenSSL refused the RSA key", idx);
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

static AK_WUR ak_err load_jwks(cn_auth *a, const char *path, char *err, size_t cap)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *doc = NULL;
    ak_err rc = read_file(&text, &len, path);
    if (rc != AK_OK) {
        set_err(err, cap, "auth.cf_access.jwks_file: cannot read %s (%s)", path, ak_strerror(rc));
        goto out;
    }
    rc = AK_ERR_CONFIG;
    doc = cJSON_ParseWithLength(text, len);
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "keys");
    if (!cJSON_IsArray(keys)) {
        set_err(err, cap, "auth.cf_access.jwks_file: %s is not a JWKS ({\"keys\":[...]})", path);
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
        if (a->n_keys == CN_AUTH_MAX_KEYS) {
            set_err(err, cap, "jwks: more than %d keys", CN_AUTH_MAX_KEYS);
            goto out;
        }
        rc = jwk_to_pkey(&a->keys[a->n_keys], jwk, idx - 1, err, cap);
        if (rc != AK_OK)
            goto out;
        for (size_t i = 0; i < a->n_keys; i++) {
            if (strcmp(a->keys[i].kid, a->keys[a->n_keys].kid) == 0) {
                set_err(err, cap, "jwks: duplicate kid");
                EVP_PKEY_free(a->keys[a->n_keys].pkey);
                a->keys[a->n_keys].pkey = NULL;
                rc = AK_ERR_CONFIG;
                goto out;
            }
        }
        a->n_keys++;
    }
    if (a->n_keys == 0) {
        set_err(err, cap, "auth.cf_access.jwks_file: %s holds no RSA key", path);
        rc = AK_ERR_CONFIG;
        goto out;
    }
    rc = AK_OK;
out:
    cJSON_Delete(doc);
    free(text);
    return rc;
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

static AK_WUR ak_err check_claims(const cn_auth *a, const cJSON *claims, time_t now,
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

static AK_WUR ak_err check_jwt(const cn_auth *a, const char *jwt, time_t now, const char **reason)
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
    size_t len = strnlen(jwt, CN_AUTH_MAX_JWT + 1);
    if (len > CN_AUTH_MAX_JWT) {
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

/* ---- public API ------------------------------------------------------------------------- */

/* The "auth" section as written; files are loaded after the walk. */
typedef struct {
    const char *tokens_file, *jwks_file;
    char require[4];
    char audience[AUD_MAX + 1], issuer[AUD_MAX + 1];
    long leeway;
} auth_cfg;

static const ak_cfg_field k_cf_fields[] = {
    AK_CFG_REF("jwks_file", AK_CFG_REQUIRED | AK_CFG_PATH, auth_cfg, jwks_file, 1023),
    AK_CFG_STR("audience", AK_CFG_REQUIRED, auth_cfg, audience, NULL),
    AK_CFG_STR("issuer", 0, auth_cfg, issuer, ""), /* "" = not checked */
    AK_CFG_INT("leeway_s", 0, auth_cfg, leeway, 0, LEEWAY_MAX, LEEWAY_DEFAULT),
};

static const ak_cfg_field k_auth_fields[] = {
    AK_CFG_REF("bearer_tokens_file", AK_CFG_PATH, auth_cfg, tokens_file, 1023),
    AK_CFG_OBJ("cf_access", 0, k_cf_fields),
    AK_CFG_STR("require", 0, auth_cfg, require, "all"),
};

ak_err cn_auth_new(cn_auth **out, const cJSON *cfg, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_CONFIG;
    cn_auth *a = NULL;
    auth_cfg c;

    if (out == NULL)
        return AK_ERR_ARG;
    *out = NULL;
    a = calloc(1, sizeof *a);
    if (a == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    a->require_all = 1;
    if (cfg == NULL || cJSON_IsNull(cfg))
        goto done;
    if (ak_cfg_read(&c, k_auth_fields, AK_CFG_COUNT(k_auth_fields), cfg, "auth", err, err_cap) !=
        AK_OK)
        goto out;
    if (strcmp(c.require, "all") != 0 && strcmp(c.require, "any") != 0) {
        set_err(err, err_cap, "auth.require: \"all\" or \"any\"");
        goto out;
    }
    a->require_all = strcmp(c.require, "all") == 0;
    if (c.tokens_file != NULL && (rc = load_tokens(a, c.tokens_file, err, err_cap)) != AK_OK)
        goto out;
    if (c.jwks_file != NULL) { /* cf_access is present: jwks_file is required in it */
        snprintf(a->audience, sizeof a->audience, "%s", c.audience);
        snprintf(a->issuer, sizeof a->issuer, "%s", c.issuer);
        a->leeway = c.leeway;
        if ((rc = load_jwks(a, c.jwks_file, err, err_cap)) != AK_OK)
            goto out;
        a->have_jwt = 1;
    }
done:
    *out = a;
    a = NULL;
    rc = AK_OK;
out:
    cn_auth_free(a);
    return rc;
}

int cn_auth_enabled(const cn_auth *a)
{
    return a != NULL && (a->have_bearer || a->have_jwt);
}

ak_err cn_auth_check(const cn_auth *a, const char *authorization, const char *cf_access_jwt,
                     time_t now, const char **reason)
{
    const char *why = "ok";
    ak_err rc = AK_OK;
    if (!cn_auth_enabled(a))
        goto out;
    ak_err rb = a->have_bearer ? check_bearer(a, authorization, &why, NULL) : AK_OK;
    const char *why_b = why;
    ak_err rj = a->have_jwt ? check_jwt(a, cf_access_jwt, now, &why) : AK_OK;
    if (a->require_all || !a->have_bearer || !a->have_jwt) {
        rc = rb != AK_OK ? rb : rj;
        if (rb != AK_OK)
            why = why_b;
    } else {
        rc = (rb == AK_OK || rj == AK_OK) ? AK_OK : AK_ERR_AUTH;
        if (rc == AK_OK)
            why = "ok";
    }
out:
    if (reason != NULL)
        *reason = why;
    return rc;
}

/* The "sub" claim of a JWT's payload, not verified again (see cn_auth_client_id). */
static void jwt_subject(const char *jwt, char *out, size_t cap)
{
    size_t len = jwt ? strnlen(jwt, CN_AUTH_MAX_JWT + 1) : 0;
    const char *d1 = jwt != NULL && len <= CN_AUTH_MAX_JWT ? memchr(jwt, '.', len) : NULL;
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
    cJSON *claims = d2 ? decode_json_part(d1 + 1, (size_t)(d2 - d1 - 1)) : NULL;
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

void cn_auth_client_id(const cn_auth *a, const char *authorization, const char *cf_access_jwt,
                       char *out, size_t cap)
{
    const char *why = NULL;
    long idx = -1;
    if (!cn_auth_enabled(a)) {
        snprintf(out, cap, "anonymous");
        return;
    }
    if (a->have_bearer && check_bearer(a, authorization, &why, &idx) != AK_OK)
        idx = -1;
    /* With "any", the JWT is the mechanism that passed only when the token did not. */
    if (a->have_jwt && (a->require_all || idx < 0)) {
        char sub[CN_AUTH_ID_MAX - 4];
        jwt_subject(cf_access_jwt, sub, sizeof sub);
        snprintf(out, cap, "jwt:%s", sub);
    } else if (idx >= 0) {
        snprintf(out, cap, "token:%ld", idx);
    } else {
        snprintf(out, cap, "unidentified");
    }
}

void cn_auth_free(cn_auth *a)
{
    if (a == NULL)
        return;
    if (a->tokens != NULL)
        ak_secure_free(a->tokens, CN_AUTH_MAX_TOKENS * sizeof *a->tokens);
    for (size_t i = 0; i < a->n_keys; i++)
        EVP_PKEY_free(a->keys[i].pkey);
    ak_wipe(a, sizeof *a);
    free(a);
}

/*
 * Who the client is, for the audit log (cn_auth_identify in cn_auth.h): only mechanisms that
 * verify now are named, so a forged header beside a valid one (require "any") is not.
 */
static void bearer_id(char *out, size_t cap, const char *hdr)
{
    uint8_t d[32];
    const char *t = hdr + 7;
    while (*t == ' ')
        t++;
    size_t tlen = strnlen(t, TOKEN_MAX + 1);
    while (tlen > 0 && (t[tlen - 1] == ' ' || t[tlen - 1] == '\t'))
        tlen--;
    if (!sha256(d, t, tlen)) {
        snprintf(out, cap, "token");
        return;
    }
    /* 64 bits of the token's SHA-256: names it (`printf %s TOKEN | sha256sum`), reveals nothing. */
    snprintf(out, cap, "token:%02x%02x%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2], d[3], d[4], d[5],
             d[6], d[7]);
    ak_wipe(d, sizeof d);
}

static void jwt_id(char *out, size_t cap, const char *jwt)
{
    const char *d1 = strchr(jwt, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    cJSON *claims = d2 ? decode_json_part(d1 + 1, (size_t)(d2 - d1 - 1)) : NULL;
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
    const cJSON *email = cJSON_GetObjectItemCaseSensitive(claims, "email");
    snprintf(out, cap, "access:%.128s%s%.128s", cJSON_IsString(sub) ? sub->valuestring : "",
             cJSON_IsString(email) ? "/" : "", cJSON_IsString(email) ? email->valuestring : "");
    cJSON_Delete(claims);
}

void cn_auth_identify(const cn_auth *a, const char *authorization, const char *cf_access_jwt,
                      time_t now, char *out, size_t cap)
{
    char b[48] = "", j[300] = "";
    const char *why = NULL;
    if (cap == 0)
        return;
    out[0] = '\0';
    if (!cn_auth_enabled(a))
        return;
    if (a->have_bearer && check_bearer(a, authorization, &why, NULL) == AK_OK)
        bearer_id(b, sizeof b, authorization);
    if (a->have_jwt && check_jwt(a, cf_access_jwt, now, &why) == AK_OK)
        jwt_id(j, sizeof j, cf_access_jwt);
    snprintf(out, cap, "%s%s%s", b, b[0] && j[0] ? " " : "", j);
}
