/*
 * cn_signer_cfsecrets.c - the "cloudflare_secrets" signer (see cn_signer_cfsecrets.h).
 *
 * Owns: the configuration, a cn_rhttp client, the API token in locked memory, the key cache.
 */
#include "cn_signer_cfsecrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_keycache.h"
#include "cn_rcfg.h"
#include "cn_remote_key.h"
#include "cn_rhttp.h"
#include "cn_backend.h"

#define W      "cloudflare_secrets"
#define ID_MAX 128

typedef struct {
    cn_remote_key_base base; /* first member (cn_remote_key.h) */
    cn_rhttp *http;
    char api_base[257], account_id[ID_MAX + 1], secret_name[ID_MAX + 1], address[43];
    cn_rcfg_http http_cfg;
    long cache_ttl_s;
    ak_cfg_secret_src token_src; /* during configure only */
    cn_rcfg_secret token;
    cn_rhttp_more more; /* the client's headers: Accept, and the token's line in locked memory */
} cfsec;

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
    cn_rhttp_req q = {"GET", c->api_base, upath, NULL, 0, NULL, NULL};
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

static const cn_signer_ops cf_ops = {"cloudflare_secrets", cn_remote_key_sign, cn_remote_key_health,
                                     cn_remote_key_destroy};

static const ak_cfg_field k_fields[] = {
    AK_CFG_KNOWN("type"),
    AK_CFG_KNOWN("name"),
    AK_CFG_STR("api_base", AK_CFG_REQUIRED | AK_CFG_URL, cfsec, api_base, NULL),
    AK_CFG_STR("account_id", AK_CFG_REQUIRED | AK_CFG_ID, cfsec, account_id, NULL),
    AK_CFG_STR("secret_name", AK_CFG_REQUIRED | AK_CFG_ID, cfsec, secret_name, NULL),
    AK_CFG_SECRET("api_token", AK_CFG_REQUIRED, cfsec, token_src),
    AK_CFG_INT("cache_ttl_s", 0, cfsec, cache_ttl_s, 1, 86400, 300),
    AK_CFG_STR("address", 0, cfsec, address, NULL),
    AK_CFG_INLINE(cn_rcfg_http_fields, CN_RCFG_HTTP_NFIELDS, cfsec, http_cfg),
};

static AK_WUR ak_err cf_configure(cn_signer *s, cn_backend_start *st, const cJSON *cfg, char *err,
                                  size_t cap)
{
    cfsec *c = s->impl;
    ak_err rc;
    c->base.destroy_impl = cf_free_impl;
    if ((rc = ak_cfg_read(c, k_fields, AK_CFG_COUNT(k_fields), cfg, W, err, cap)) != AK_OK ||
        (rc = cn_rcfg_secret_load(&c->token, &c->token_src, CN_RCFG_SECRET_MAX, CN_RCFG_TRIM_SPACE,
                                  W, err, cap)) != AK_OK)
        return rc;
    if (!ak_cfg_visible(c->token.s, c->token.len)) {
        cn_rcfg_err(err, cap, W ": the API token holds invalid characters");
        return AK_ERR_CONFIG;
    }
    snprintf(s->name, sizeof s->name, "%.63s", c->secret_name);
    static const char *const accept[] = {"Accept: application/json"};
    c->more = (cn_rhttp_more){.headers = accept,
                              .n_headers = 1,
                              .secret_prefix = "Authorization: Bearer ",
                              .secret = c->token.s,
                              .secret_len = c->token.len};
    *st = (cn_backend_start){.http = &c->http_cfg,
                             .more = &c->more,
                             .client = &c->http,
                             .address = c->address,
                             .cache_ttl_s = c->cache_ttl_s,
                             .fetch = cf_fetch};
    return AK_OK;
}

static const cn_backend k_cfsecrets = {"cloudflare_secrets",
                                       "cloudflare-secrets-store",
                                       W,
                                       CN_LEVEL_PRODUCTION,
                                       sizeof(cfsec),
                                       &cf_ops,
                                       cf_configure};

ak_err cn_cfsecrets_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
    return cn_backend_new(out, &k_cfsecrets, cfg, err, err_cap);
}
