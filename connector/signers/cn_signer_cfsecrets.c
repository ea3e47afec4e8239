/*
 * cn_signer_cfsecrets.c - the "cloudflare_secrets" signer (see cn_signer_cfsecrets.h).
 *
 * Owns: the configuration, a cn_rhttp client, the API token in locked memory, the key cache.
 */
#include "cn_signer_cfsecrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_secmem.h"
#include "cn_keycache.h"
#include "cn_rcfg.h"
#include "cn_remote_key.h"
#include "cn_rhttp.h"

#define W      "cloudflare_secrets"
#define ID_MAX 128

typedef struct {
    cn_remote_key_base base; /* first member (cn_remote_key.h) */
    cn_rhttp *http;
    char api_base[257], account_id[ID_MAX + 1], secret_name[ID_MAX + 1];
    char ca[CN_RCFG_PATH_MAX + 1];
    cn_rcfg_secret token;
} cfsec;

static ak_err cf_headers(void *user, struct curl_slist **out, const char *method, const char *path,
                         const char *body, size_t body_len)
{
    (void)method;
    (void)path;
    (void)body;
    (void)body_len;
    cfsec *c = user;
    char line[CN_RCFG_SECRET_MAX + 32];
    ak_err rc = AK_ERR_NOMEM;
    struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json");
    if (l == NULL)
        goto out;
    snprintf(line, sizeof line, "Authorization: Bearer %s", c->token.s);
    if (curl_slist_append(l, line) == NULL)
        goto out;
    *out = l;
    l = NULL;
    rc = AK_OK;
out:
    ak_wipe(line, sizeof line);
    cn_rhttp_headers_free(l);
    return rc;
}

/* The first errors[].code of a Cloudflare v4 envelope, or 0. */
static long first_error_code(const cJSON *j)
{
    const cJSON *errs = cJSON_GetObjectItemCaseSensitive(j, "errors");
    const cJSON *e0 = cJSON_IsArray(errs) ? cJSON_GetArrayItem(errs, 0) : NULL;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e0, "code");
    return cJSON_IsNumber(code) ? (long)code->valuedouble : 0;
}

static ak_err cf_fetch(void *user, uint8_t key[32], char *err, size_t cap)
{
    cfsec *c = user;
    char upath[2 * ID_MAX + 64];
    cn_rhttp_resp r = {0};
    cJSON *j = NULL;
    ak_err rc = cn_rhttp_resp_init(&r);
    if (rc != AK_OK)
        goto out;
    snprintf(upath, sizeof upath, "/accounts/%s/secrets/%s", c->account_id, c->secret_name);
    cn_rhttp_req q = {"GET", c->api_base, upath, NULL, 0, cf_headers, c};
    rc = cn_rhttp_call(c->http, &q, &r);
    if (rc != AK_OK) {
        cn_rcfg_err(err, cap, W ": reading secret %s failed: %s", c->secret_name, ak_strerror(rc));
        goto out;
    }
    j = cJSON_ParseWithLength(r.body, r.len);
    if (r.status == 401 || r.status == 403) {
        rc = AK_ERR_AUTH;
        cn_rcfg_err(err, cap, W ": API token rejected for secret %s (HTTP %ld, code %ld)",
                    c->secret_name, r.status, first_error_code(j));
        goto out;
    }
    if (r.status == 404) {
        rc = AK_ERR_KEY_NOT_FOUND;
        cn_rcfg_err(err, cap, W ": no secret %s in account %s", c->secret_name, c->account_id);
        goto out;
    }
    if (r.status != 200) {
        rc = cn_rhttp_status_err(r.status);
        cn_rcfg_err(err, cap, W ": reading secret %s answered HTTP %ld (code %ld)", c->secret_name,
                    r.status, first_error_code(j));
        goto out;
    }
    rc = AK_ERR_UPSTREAM;
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "success");
    cJSON *result = cJSON_GetObjectItemCaseSensitive(j, "result");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(result, "name");
    cJSON *value = cJSON_GetObjectItemCaseSensitive(result, "value");
    if (!cJSON_IsTrue(ok) || !cJSON_IsObject(result) || !cJSON_IsString(value) ||
        (name != NULL &&
         (!cJSON_IsString(name) || strcmp(name->valuestring, c->secret_name) != 0))) {
        cn_rcfg_err(err, cap, W ": answer for secret %s malformed (success, result.name/value)",
                    c->secret_name);
        goto out;
    }
    rc = cn_remote_key_take(key, value);
    if (rc != AK_OK)
        cn_rcfg_err(err, cap, W ": secret %s is not 64 hex digits", c->secret_name);
out:
    cn_remote_key_wipe_json(j);
    cJSON_Delete(j);
    cn_rhttp_resp_clear(&r);
    return rc;
}

static void cf_free_impl(void *impl)
{
    cfsec *c = impl;
    cn_rhttp_free(c->http);
    cn_rcfg_secret_free(&c->token);
    free(c);
}

static const cn_signer_ops cf_ops = {
    .type = "cloudflare_secrets",
    .sign = cn_remote_key_sign,
    .health = cn_remote_key_health,
    .destroy = cn_remote_key_destroy,
};

static AK_WUR ak_err parse_cfg(cfsec *c, cn_signer *s, const cJSON *cfg, cn_rhttp_opts *ho,
                               long *ttl, int *has_want, uint8_t want[20], char *err, size_t cap)
{
    static const char *const known[] = {"type",           "name",
                                        "api_base",       "account_id",
                                        "secret_name",    "api_token_env",
                                        "api_token_file", "cache_ttl_s",
                                        "address",        "ca",
                                        "timeout_ms",     "connect_timeout_ms",
                                        "retries",        "pool_size"};
    ak_err rc;
    if ((rc = cn_rcfg_known(cfg, W, known, sizeof known / sizeof known[0], err, cap)) != AK_OK ||
        (rc = cn_rcfg_str(c->api_base, sizeof c->api_base, cfg, W, "api_base", NULL, err, cap)) !=
            AK_OK ||
        (rc = cn_rcfg_str(c->account_id, sizeof c->account_id, cfg, W, "account_id", NULL, err,
                          cap)) != AK_OK ||
        (rc = cn_rcfg_str(c->secret_name, sizeof c->secret_name, cfg, W, "secret_name", NULL, err,
                          cap)) != AK_OK ||
        (rc = cn_rcfg_long(ttl, cfg, W, "cache_ttl_s", 300, 1, 86400, err, cap)) != AK_OK ||
        (rc = cn_rcfg_address(want, has_want, cfg, W, err, cap)) != AK_OK ||
        (rc = cn_rcfg_http(ho, c->ca, cfg, W, err, cap)) != AK_OK)
        return rc;
    rc = cn_rcfg_base_url(c->api_base, W, "api_base", err, cap);
    if (rc != AK_OK)
        return rc;
    if (!cn_rcfg_safe_id(c->account_id, ID_MAX, 0) || !cn_rcfg_safe_id(c->secret_name, ID_MAX, 0)) {
        cn_rcfg_err(err, cap, W ".account_id/.secret_name: 1..%d chars of [A-Za-z0-9._:-]", ID_MAX);
        return AK_ERR_CONFIG;
    }
    rc = cn_rcfg_name(s->name, sizeof s->name, cfg, W, c->secret_name, err, cap);
    if (rc != AK_OK)
        return rc;
    rc = cn_rcfg_secret_read(&c->token, cfg, W, "api_token_file", "api_token_env", err, cap);
    if (rc != AK_OK)
        return rc;
    for (size_t i = 0; i < c->token.len; i++)
        if ((unsigned char)c->token.s[i] <= 0x20 || (unsigned char)c->token.s[i] > 0x7e) {
            cn_rcfg_err(err, cap, W ": the API token holds invalid characters");
            return AK_ERR_CONFIG;
        }
    return AK_OK;
}

ak_err cn_cfsecrets_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
    cn_rhttp_opts ho;
    long ttl = 0;
    int has_want = 0;
    uint8_t want[20] = {0};
    cn_signer *s = NULL;
    cfsec *c = NULL;
    if (out == NULL)
        return AK_ERR_ARG;
    *out = NULL;
    ak_err rc = cn_rcfg_signer_alloc(&s, sizeof *c, &cf_ops, "cloudflare-secrets-store",
                                     CN_LEVEL_PRODUCTION, cfg, W, err, err_cap);
    if (rc != AK_OK)
        return rc;
    c = s->impl;
    c->base.destroy_impl = cf_free_impl;
    rc = parse_cfg(c, s, cfg, &ho, &ttl, &has_want, want, err, err_cap);
    if (rc != AK_OK)
        goto out;
    rc = cn_rcfg_http_client(&c->http, &ho, W, err, err_cap);
    if (rc != AK_OK)
        goto out;
    rc = cn_remote_key_start(s, cf_fetch, (unsigned)ttl, has_want, want, W, err, err_cap);
    if (rc != AK_OK)
        goto out;
    *out = s;
    s = NULL;
out:
    cn_signer_free(s);
    return rc;
}
