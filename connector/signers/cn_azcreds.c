/* cn_azcreds.c - Entra ID tokens: client secret, client certificate, managed identity
 * (see cn_azcreds.h). */
#include "cn_azcreds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>

#include "ak_hex.h"
#include "ak_secmem.h"
#include "cn_jwt.h"
#include "cn_oauth.h"
#include "cn_rcfg.h"
#include "cn_secfile.h"

#define AUTHORITY "https://login.microsoftonline.com"
#define IMDS      "http://169.254.169.254"
#define URL_MAX   512
#define FORM_MAX  (CN_JWT_MAX + CN_RCFG_SECRET_MAX * 3 + 512)
#define CERT_MAX  ((size_t)64 * 1024)

typedef enum { AZ_SECRET, AZ_CERT, AZ_APPSERVICE, AZ_IMDS } az_src;

struct cn_azcreds {
    az_src src;
    char tenant[CN_AZ_ID_MAX + 1], client[CN_AZ_ID_MAX + 1];
    char token_url[URL_MAX + 1]; /* authority/tenant/oauth2/v2.0/token */
    char base[URL_MAX + 1], path[URL_MAX + 1];
    char mi_url[CN_RCFG_PATH_MAX + URL_MAX]; /* managed identity GET URL */
    char mi_header[CN_RCFG_SECRET_MAX + 32]; /* X-IDENTITY-HEADER line (a secret) or Metadata */
    char scope[96];
    cn_rcfg_secret secret;
    EVP_PKEY *key;
    char x5t[64], x5t256[64];
    cn_rhttp *const *http; /* the signer's client (created after the credentials) */
    long timeout_ms;
};

/* A GUID or a name: 1..64 of [A-Za-z0-9.-]. */
static int id_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= CN_AZ_ID_MAX &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") == n;
}

const ak_cfg_field cn_azcreds_fields[CN_AZCREDS_NFIELDS] = {
    AK_CFG_STR("tenant_id", 0, cn_azcreds_cfg, tenant_id, NULL),
    AK_CFG_STR("client_id", 0, cn_azcreds_cfg, client_id, NULL),
    AK_CFG_SECRET("client_secret", 0, cn_azcreds_cfg, client_secret),
    AK_CFG_STR("certificate_file", AK_CFG_PATH, cn_azcreds_cfg, certificate_file, NULL),
    AK_CFG_STR("authority_host", AK_CFG_URL, cn_azcreds_cfg, authority_host, AUTHORITY),
};

/* The configured id (cfg: "" when absent), else the environment variable, else empty;
 * AK_ERR_CONFIG if malformed. */
static AK_WUR ak_err id_field(char dst[CN_AZ_ID_MAX + 1], const char *cfg, const char *where,
                              const char *name, const char *env, char *err, size_t cap)
{
    const char *s = cfg[0] != '\0' ? cfg : getenv(env);
    dst[0] = '\0';
    if (s == NULL || s[0] == '\0')
        return AK_OK;
    if (!id_ok(s)) {
        cn_rcfg_err(err, cap, "%s.%s: 1..%d characters of [A-Za-z0-9.-]%s", where, name,
                    CN_AZ_ID_MAX, cfg[0] != '\0' ? "" : " (from the environment)");
        return AK_ERR_CONFIG;
    }
    snprintf(dst, CN_AZ_ID_MAX + 1, "%s", s);
    return AK_OK;
}

static AK_WUR ak_err load_cert(cn_azcreds *c, const char *path, const char *where, char *err,
                               size_t cap)
{
    char *buf = NULL;
    size_t bcap = 0, len = 0;
    ak_err rc = cn_secret_file_check(path, err, cap);
    if (rc != AK_OK)
        return rc;
    rc = cn_rcfg_read_secure(&buf, &bcap, &len, path, CERT_MAX);
    if (rc != AK_OK) {
        cn_rcfg_err(err, cap, "%s.certificate_file: cannot read %.200s", where, path);
        return AK_ERR_CONFIG;
    }
    rc = cn_jwt_key_load(&c->key, buf, len);
    if (rc != AK_OK) {
        cn_rcfg_err(err, cap, "%s.certificate_file: no unencrypted RSA private key (2048+ bits)",
                    where);
        rc = AK_ERR_CONFIG;
        goto out;
    }
    rc = cn_jwt_cert_thumbprints(c->x5t, c->x5t256, buf, len, c->key);
    if (rc != AK_OK) {
        cn_rcfg_err(err, cap, "%s.certificate_file: %s", where,
                    rc == AK_ERR_KEY_TYPE ? "the certificate is not the private key's"
                                          : "no PEM certificate");
        rc = AK_ERR_CONFIG;
    }
out:
    ak_secure_free(buf, bcap);
    return rc;
}

/* Managed identity: App Service / Container Apps endpoint, else IMDS. */
static AK_WUR ak_err managed_identity(cn_azcreds *c, const char *resource, char *err, size_t cap)
{
    char q[256] = "";
    const char *ep = getenv("IDENTITY_ENDPOINT"), *hdr = getenv("IDENTITY_HEADER");
    ak_err rc = cn_oauth_form_add(q, sizeof q, "resource", resource);
    if (rc == AK_OK && c->client[0] != '\0')
        rc = cn_oauth_form_add(q, sizeof q, "client_id", c->client);
    if (rc != AK_OK)
        return rc;
    if (ep != NULL && ep[0] != '\0' && hdr != NULL && hdr[0] != '\0') {
        if (strlen(ep) > CN_RCFG_PATH_MAX || strpbrk(ep, "?# \t\r\n") != NULL ||
            strlen(hdr) > CN_RCFG_SECRET_MAX || strpbrk(hdr, "\r\n") != NULL) {
            cn_rcfg_err(err, cap, "IDENTITY_ENDPOINT / IDENTITY_HEADER malformed");
            return AK_ERR_CONFIG;
        }
        c->src = AZ_APPSERVICE;
        snprintf(c->mi_url, sizeof c->mi_url, "%s?api-version=2019-08-01&%s", ep, q);
        snprintf(c->mi_header, sizeof c->mi_header, "X-IDENTITY-HEADER: %s", hdr);
        return AK_OK;
    }
    const char *host = getenv("AZURE_POD_IDENTITY_AUTHORITY_HOST");
    if (host == NULL || host[0] == '\0')
        host = IMDS;
    size_t hl = strlen(host);
    while (hl > 0 && host[hl - 1] == '/')
        hl--;
    if (hl > URL_MAX || strpbrk(host, "?# \t\r\n") != NULL) {
        cn_rcfg_err(err, cap, "AZURE_POD_IDENTITY_AUTHORITY_HOST malformed");
        return AK_ERR_CONFIG;
    }
    c->src = AZ_IMDS;
    snprintf(c->mi_url, sizeof c->mi_url,
             "%.*s/metadata/identity/oauth2/token?api-version=2018-02-01&%s", (int)hl, host, q);
    snprintf(c->mi_header, sizeof c->mi_header, "Metadata: true");
    return AK_OK;
}

/* A service principal: tenant and client ids and the token endpoint. */
static AK_WUR ak_err principal(cn_azcreds *c, const cn_azcreds_cfg *cfg, const char *where,
                               char *err, size_t cap)
{
    if (c->tenant[0] == '\0' || c->client[0] == '\0') {
        cn_rcfg_err(err, cap,
                    "%s: a client secret or certificate needs tenant_id and client_id "
                    "(or AZURE_TENANT_ID and AZURE_CLIENT_ID)",
                    where);
        return AK_ERR_CONFIG;
    }
    snprintf(c->token_url, sizeof c->token_url, "%s/%s/oauth2/v2.0/token", cfg->authority_host,
             c->tenant);
    return cn_oauth_split_url(c->base, c->path, sizeof c->base, c->token_url);
}

/* $AZURE_CLIENT_SECRET (one env-secret policy: consumed, a copy kept for other signers), when no
 * credential is configured. *found = 1 when it is set (or was consumed earlier); an unset or
 * empty variable is no credential, as in Azure's SDKs. */
static AK_WUR ak_err env_secret(cn_azcreds *c, int *found, const char *where, char *err, size_t cap)
{
    ak_cfg_secret_src src = {.env = "AZURE_CLIENT_SECRET", .key = "client_secret (environment)"};
    const char *v = getenv(src.env);
    int set = v != NULL && v[0] != '\0';
    char scratch[160];
    ak_err rc = cn_rcfg_secret_load(&c->secret, &src, CN_RCFG_SECRET_MAX, CN_RCFG_TRIM_SPACE, where,
                                    set ? err : scratch, set ? cap : sizeof scratch);
    *found = rc == AK_OK;
    return rc == AK_OK || rc == AK_ERR_NOMEM || set ? rc : AK_OK;
}

ak_err cn_azcreds_new(cn_azcreds **out, const cn_azcreds_cfg *cfg, const char *where,
                      const char *resource, cn_rhttp *const *http, long timeout_ms, char *err,
                      size_t cap)
{
    ak_err rc = AK_ERR_NOMEM;
    cn_azcreds *c = calloc(1, sizeof *c);
    int from_env = 0;
    *out = NULL;
    if (c == NULL)
        goto out;
    c->http = http;
    c->timeout_ms = timeout_ms;
    snprintf(c->scope, sizeof c->scope, "%s/.default", resource);
    if ((rc = id_field(c->tenant, cfg->tenant_id, where, "tenant_id", "AZURE_TENANT_ID", err,
                       cap)) != AK_OK ||
        (rc = id_field(c->client, cfg->client_id, where, "client_id", "AZURE_CLIENT_ID", err,
                       cap)) != AK_OK)
        goto out;
    const char *cert = cfg->certificate_file[0] != '\0' ? cfg->certificate_file : NULL;
    int cfg_secret = cfg->client_secret.file != NULL || cfg->client_secret.env != NULL;
    const char *env_cert = getenv("AZURE_CLIENT_CERTIFICATE_PATH");
    rc = AK_ERR_CONFIG;
    if (cfg_secret && cert != NULL) {
        cn_rcfg_err(err, cap, "%s: give a client secret or a certificate_file, not both", where);
        goto out;
    }
    if (!cfg_secret && cert == NULL && (rc = env_secret(c, &from_env, where, err, cap)) != AK_OK)
        goto out;
    rc = AK_ERR_CONFIG;
    if (cfg_secret || from_env) {
        c->src = AZ_SECRET;
        if ((rc = principal(c, cfg, where, err, cap)) == AK_OK && cfg_secret)
            rc = cn_rcfg_secret_load(&c->secret, &cfg->client_secret, CN_RCFG_SECRET_MAX,
                                     CN_RCFG_TRIM_SPACE, where, err, cap);
    } else if (cert != NULL || (env_cert != NULL && env_cert[0] != '\0')) {
        c->src = AZ_CERT;
        if ((rc = principal(c, cfg, where, err, cap)) == AK_OK)
            rc = load_cert(c, cert ? cert : env_cert, where, err, cap);
    } else if (getenv("AZURE_FEDERATED_TOKEN_FILE") != NULL) {
        cn_rcfg_err(err, cap,
                    "%s: AZURE_FEDERATED_TOKEN_FILE is set, but workload identity federation is "
                    "not supported; configure a client secret, a certificate or unset it to use "
                    "the managed identity",
                    where);
    } else if (cfg->tenant_id[0] != '\0') {
        /* A service principal half-configured: never silently use the managed identity. */
        cn_rcfg_err(err, cap,
                    "%s: tenant_id is for a client secret or certificate, and neither is "
                    "configured",
                    where);
    } else {
        rc = managed_identity(c, resource, err, cap);
    }
    if (rc != AK_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    cn_azcreds_free(c);
    return rc;
}

void cn_azcreds_free(cn_azcreds *c)
{
    if (c == NULL)
        return;
    cn_rcfg_secret_free(&c->secret);
    EVP_PKEY_free(c->key);
    ak_wipe(c, sizeof *c);
    free(c);
}

const char *cn_azcreds_source(const cn_azcreds *c)
{
    static const char *const names[] = {"client secret", "client certificate",
                                        "managed identity (App Service endpoint)",
                                        "managed identity (IMDS)"};
    return names[c->src];
}

static AK_WUR ak_err assertion(cn_azcreds *c, char *jwt)
{
    char header[256], claims[URL_MAX + 3 * CN_AZ_ID_MAX + 160], jti_hex[33];
    uint8_t jti[16];
    if (getrandom(jti, sizeof jti, 0) != (ssize_t)sizeof jti)
        return AK_ERR_CRYPTO;
    ak_hex_bare(jti_hex, jti, sizeof jti);
    long long now = (long long)time(NULL);
    snprintf(header, sizeof header,
             "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"%s\",\"x5t#S256\":\"%s\"}", c->x5t,
             c->x5t256);
    snprintf(claims, sizeof claims,
             "{\"aud\":\"%s\",\"iss\":\"%s\",\"sub\":\"%s\",\"jti\":\"%s\",\"nbf\":%lld,"
             "\"iat\":%lld,\"exp\":%lld}",
             c->token_url, c->client, c->client, jti_hex, now, now, now + 600);
    return cn_jwt_rs256(jwt, CN_JWT_MAX, c->key, header, claims);
}

ak_err cn_azcreds_fetch(void *user, char *tok, size_t cap, size_t *len, long *ttl_s, char *err,
                        size_t err_cap)
{
    cn_azcreds *c = user;
    char *form = NULL, *jwt = NULL;
    ak_err rc = AK_ERR_NOMEM;
    if (c->src == AZ_APPSERVICE || c->src == AZ_IMDS)
        return cn_oauth_token_get(c->mi_url, c->mi_header, c->timeout_ms,
                                  "managed identity endpoint", tok, cap, len, ttl_s, err, err_cap);
    if ((form = ak_secure_alloc(FORM_MAX)) == NULL || (jwt = ak_secure_alloc(CN_JWT_MAX)) == NULL)
        goto out;
    if ((rc = cn_oauth_form_add(form, FORM_MAX, "client_id", c->client)) != AK_OK ||
        (rc = cn_oauth_form_add(form, FORM_MAX, "scope", c->scope)) != AK_OK ||
        (rc = cn_oauth_form_add(form, FORM_MAX, "grant_type", "client_credentials")) != AK_OK)
        goto out;
    if (c->src == AZ_SECRET) {
        rc = cn_oauth_form_add(form, FORM_MAX, "client_secret", c->secret.s);
    } else if ((rc = assertion(c, jwt)) == AK_OK &&
               (rc = cn_oauth_form_add(form, FORM_MAX, "client_assertion_type",
                                       "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")) ==
                   AK_OK) {
        rc = cn_oauth_form_add(form, FORM_MAX, "client_assertion", jwt);
    }
    if (rc != AK_OK) {
        cn_rcfg_err(err, err_cap, "cannot build the token request: %s", ak_strerror(rc));
        goto out;
    }
    rc = cn_oauth_token_post(*c->http, c->base, c->path, form, "token endpoint", tok, cap, len,
                             ttl_s, err, err_cap);
out:
    if (form != NULL)
        ak_secure_free(form, FORM_MAX);
    if (jwt != NULL)
        ak_secure_free(jwt, CN_JWT_MAX);
    return rc;
}
