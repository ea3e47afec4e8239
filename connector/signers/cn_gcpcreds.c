/* cn_gcpcreds.c - Google service-account and metadata-server tokens (see cn_gcpcreds.h). */
#include "cn_gcpcreds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "ak_secmem.h"
#include "cn_jwt.h"
#include "cn_oauth.h"
#include "cn_rcfg.h"
#include "cn_remote_key.h"
#include "cn_secfile.h"

#define FORM_MAX (CN_JWT_MAX + 256)

struct cn_gcpcreds {
    int metadata; /* 1: metadata server; 0: service account */
    cn_gcp_sa sa;
    EVP_PKEY *key;
    char md_url[CN_RCFG_PATH_MAX];
    cn_rhttp *http;
    long timeout_ms;
};

/* 1..max characters safe inside a JSON string and a log line: visible ASCII, no quote/backslash. */
static int plain(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n <= max && ak_cfg_visible(s, n) && strpbrk(s, "\"\\") == NULL;
}

static int copy_field(char *dst, size_t max, const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!cJSON_IsString(v) || !plain(v->valuestring, max))
        return 0;
    snprintf(dst, max + 1, "%s", v->valuestring);
    return 1;
}

ak_err cn_gcpcreds_parse_file(cn_gcp_sa *sa, void **key, const char *text, size_t len, char *err,
                              size_t err_cap)
{
    ak_err rc = AK_ERR_CONFIG;
    cJSON *j = cJSON_ParseWithLength(text, len);
    char base[CN_GCP_URI_MAX + 1], path[CN_GCP_URI_MAX + 1];
    memset(sa, 0, sizeof *sa);
    *key = NULL;
    if (!cJSON_IsObject(j)) {
        cn_rcfg_err(err, err_cap, "credentials file: not a JSON object");
        goto out;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(type)) {
        cn_rcfg_err(err, err_cap, "credentials file: no \"type\"");
        goto out;
    }
    if (strcmp(type->valuestring, "service_account") != 0) {
        cn_rcfg_err(err, err_cap,
                    "credentials file: type \"%.40s\" is not supported (only service_account; "
                    "or leave the file out to use the metadata server)",
                    plain(type->valuestring, 40) ? type->valuestring : "?");
        goto out;
    }
    if (!copy_field(sa->client_email, CN_GCP_EMAIL_MAX, j, "client_email")) {
        cn_rcfg_err(err, err_cap, "credentials file: client_email missing or malformed");
        goto out;
    }
    if (!copy_field(sa->private_key_id, CN_GCP_KEYID_MAX, j, "private_key_id")) {
        cn_rcfg_err(err, err_cap, "credentials file: private_key_id missing or malformed");
        goto out;
    }
    if (!copy_field(sa->token_uri, CN_GCP_URI_MAX, j, "token_uri") ||
        cn_oauth_split_url(base, path, sizeof base, sa->token_uri) != AK_OK) {
        cn_rcfg_err(err, err_cap, "credentials file: token_uri missing or not an https URL");
        goto out;
    }
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(j, "private_key");
    EVP_PKEY *k = NULL;
    if (!cJSON_IsString(pk) ||
        cn_jwt_key_load(&k, pk->valuestring, strlen(pk->valuestring)) != AK_OK) {
        cn_rcfg_err(err, err_cap,
                    "credentials file: private_key missing or not an RSA key of 2048+ bits");
        goto out;
    }
    *key = k;
    rc = AK_OK;
out:
    if (j != NULL)
        cn_remote_key_wipe_json(j);
    cJSON_Delete(j);
    if (rc != AK_OK)
        memset(sa, 0, sizeof *sa);
    return rc;
}

static AK_WUR ak_err load_file(cn_gcpcreds *c, const char *path, char *err, size_t err_cap)
{
    char *buf = NULL;
    size_t cap = 0, len = 0;
    void *key = NULL;
    ak_err rc = cn_secret_file_check(path, err, err_cap);
    if (rc != AK_OK)
        return rc;
    rc = cn_rcfg_read_secure(&buf, &cap, &len, path, CN_GCP_FILE_MAX);
    if (rc != AK_OK) {
        cn_rcfg_err(err, err_cap, "credentials file %.200s: %s", path,
                    rc == AK_ERR_LIMIT ? "too large" : "cannot be read");
        return AK_ERR_CONFIG;
    }
    rc = cn_gcpcreds_parse_file(&c->sa, &key, buf, len, err, err_cap);
    c->key = key;
    ak_secure_free(buf, cap);
    return rc;
}

ak_err cn_gcpcreds_new(cn_gcpcreds **out, const char *file, cn_rhttp *http, long timeout_ms,
                       char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_NOMEM;
    cn_gcpcreds *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL)
        goto out;
    c->http = http;
    c->timeout_ms = timeout_ms;
    if (file == NULL) {
        const char *env = getenv("GOOGLE_APPLICATION_CREDENTIALS");
        file = env != NULL && env[0] != '\0' ? env : NULL;
    }
    if (file != NULL) {
        rc = load_file(c, file, err, err_cap);
        if (rc != AK_OK)
            goto out;
    } else {
        const char *host = getenv("GCE_METADATA_HOST");
        if (host == NULL || host[0] == '\0')
            host = "metadata.google.internal";
        rc = AK_ERR_CONFIG;
        if (!plain(host, 255) || strpbrk(host, "/?#@") != NULL) {
            cn_rcfg_err(err, err_cap, "GCE_METADATA_HOST: not a host[:port]");
            goto out;
        }
        c->metadata = 1;
        snprintf(c->md_url, sizeof c->md_url,
                 "http://%s/computeMetadata/v1/instance/service-accounts/default/token", host);
    }
    *out = c;
    c = NULL;
    rc = AK_OK;
out:
    cn_gcpcreds_free(c);
    return rc;
}

void cn_gcpcreds_free(cn_gcpcreds *c)
{
    if (c == NULL)
        return;
    EVP_PKEY_free(c->key);
    ak_wipe(c, sizeof *c);
    free(c);
}

const char *cn_gcpcreds_source(const cn_gcpcreds *c)
{
    return c->metadata ? "metadata server" : "service account key file";
}

static AK_WUR ak_err fetch_sa(cn_gcpcreds *c, char *tok, size_t cap, size_t *len, long *ttl,
                              char *err, size_t err_cap)
{
    char header[CN_GCP_KEYID_MAX + 64], claims[CN_GCP_EMAIL_MAX + CN_GCP_URI_MAX + 256];
    char base[CN_GCP_URI_MAX + 1], path[CN_GCP_URI_MAX + 1];
    char *jwt = ak_secure_alloc(CN_JWT_MAX), *form = ak_secure_alloc(FORM_MAX);
    ak_err rc = AK_ERR_NOMEM;
    if (jwt == NULL || form == NULL)
        goto out;
    long long now = (long long)time(NULL);
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             c->sa.private_key_id);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"scope\":\"%s\",\"aud\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
             c->sa.client_email, CN_GCP_SCOPE, c->sa.token_uri, now, now + 3600);
    if ((rc = cn_jwt_rs256(jwt, CN_JWT_MAX, c->key, header, claims)) != AK_OK ||
        (rc = cn_oauth_form_add(form, FORM_MAX, "grant_type",
                                "urn:ietf:params:oauth:grant-type:jwt-bearer")) != AK_OK ||
        (rc = cn_oauth_form_add(form, FORM_MAX, "assertion", jwt)) != AK_OK ||
        (rc = cn_oauth_split_url(base, path, sizeof base, c->sa.token_uri)) != AK_OK) {
        cn_rcfg_err(err, err_cap, "cannot build the token request: %s", ak_strerror(rc));
        goto out;
    }
    rc = cn_oauth_token_post(c->http, base, path, form, "token_uri", tok, cap, len, ttl, err,
                             err_cap);
out:
    if (jwt != NULL)
        ak_secure_free(jwt, CN_JWT_MAX);
    if (form != NULL)
        ak_secure_free(form, FORM_MAX);
    return rc;
}

ak_err cn_gcpcreds_fetch(void *user, char *tok, size_t cap, size_t *len, long *ttl_s, char *err,
                         size_t err_cap)
{
    cn_gcpcreds *c = user;
    if (!c->metadata)
        return fetch_sa(c, tok, cap, len, ttl_s, err, err_cap);
    return cn_oauth_token_get(c->md_url, "Metadata-Flavor: Google", c->timeout_ms,
                              "metadata server", tok, cap, len, ttl_s, err, err_cap);
}
