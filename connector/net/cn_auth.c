/*
 * cn_auth.c - client authentication of the connector (see cn_auth.h): bearer tokens here, the
 * Cloudflare Access JWT through cn_access, and how the two combine ("require").
 *
 * Owns: the SHA-256 digests of the configured tokens (locked memory, wiped on free) and the
 * cn_access of the JWKS. Nothing else is kept: the token file's text is wiped as soon as it is
 * hashed.
 */
#include "cn_auth.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ak_cfg.h"
#include "ak_secmem.h"
#include "cn_secfile.h"
#include "rt_file.h"

#define FILE_MAX       ((size_t)256 * 1024)
#define TOKEN_MIN      16
#define TOKEN_MAX      512
#define LEEWAY_MAX     300
#define LEEWAY_DEFAULT 30
#define AUD_MAX        CN_ACCESS_AUD_MAX

struct cn_auth {
    uint8_t (*tokens)[32]; /* SHA-256 of each token */
    size_t n_tokens;
    int have_bearer;

    cn_access *access; /* NULL: no Cloudflare Access JWT */

    int require_all;
};

#define set_err AK_SET_ERR /* a short, secret-free reason for the caller (err may be NULL) */

static int sha256(uint8_t out[32], const void *in, size_t len)
{
    unsigned int n = 0;
    return EVP_Digest(in, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32;
}

/* ---- bearer tokens --------------------------------------------------------------------- */

static AK_WUR ak_err load_tokens(cn_auth *a, const char *path, char *err, size_t cap)
{
    char *text = NULL;
    size_t len = 0;
    size_t lineno = 0;
    ak_err rc = cn_secret_file_check(path, err, err != NULL ? cap : 0);
    if (rc != AK_OK)
        goto out;
    rc = rt_file_read(&text, &len, path, FILE_MAX);
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
        if (!ak_cfg_visible(b, tlen)) {
            set_err(err, cap, "auth.bearer_tokens_file: line %zu: invalid character", lineno);
            goto out;
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

/* The token after "Bearer ": spaces before it and blanks after it are not part of it. */
static const char *bearer_token(const char *t, size_t *tlen)
{
    while (*t == ' ')
        t++;
    *tlen = strnlen(t, TOKEN_MAX + 1);
    while (*tlen > 0 && (t[*tlen - 1] == ' ' || t[*tlen - 1] == '\t'))
        (*tlen)--;
    return t;
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
    size_t tlen = 0;
    const char *t = bearer_token(hdr + 7, &tlen);
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

/* The Cloudflare Access part: its JWKS file, read here, and the claims wanted (cn_access). */
static AK_WUR ak_err load_jwks(cn_auth *a, const char *path, const auth_cfg *c, char *err,
                               size_t cap)
{
    char *text = NULL;
    size_t len = 0;
    ak_err rc = rt_file_read(&text, &len, path, FILE_MAX);
    if (rc != AK_OK)
        set_err(err, cap, "auth.cf_access.jwks_file: cannot read %s (%s)", path, ak_strerror(rc));
    else
        rc =
            cn_access_new(&a->access, text, len, path, c->audience, c->issuer, c->leeway, err, cap);
    free(text);
    return rc;
}

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
        if ((rc = load_jwks(a, c.jwks_file, &c, err, err_cap)) != AK_OK)
            goto out;
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
    return a != NULL && (a->have_bearer || a->access != NULL);
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
    ak_err rj = a->access ? cn_access_check(a->access, cf_access_jwt, now, &why) : AK_OK;
    if (a->require_all || !a->have_bearer || a->access == NULL) {
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
    if (a->access != NULL && (a->require_all || idx < 0)) {
        char sub[CN_AUTH_ID_MAX - 4];
        cn_access_subject(cf_access_jwt, sub, sizeof sub);
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
    cn_access_free(a->access);
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
    size_t tlen = 0;
    const char *t = bearer_token(hdr + 7, &tlen);
    if (!sha256(d, t, tlen)) {
        snprintf(out, cap, "token");
        return;
    }
    /* 64 bits of the token's SHA-256: names it (`printf %s TOKEN | sha256sum`), reveals nothing. */
    snprintf(out, cap, "token:%02x%02x%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2], d[3], d[4], d[5],
             d[6], d[7]);
    ak_wipe(d, sizeof d);
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
    if (a->access != NULL && cn_access_check(a->access, cf_access_jwt, now, &why) == AK_OK)
        cn_access_identity(cf_access_jwt, j, sizeof j);
    snprintf(out, cap, "%s%s%s", b, b[0] && j[0] ? " " : "", j);
}
