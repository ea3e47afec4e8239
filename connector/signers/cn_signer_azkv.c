/*
 * cn_signer_azkv.c - the "azure_key_vault" signer: Key Vault / Managed HSM get key and sign
 * (ES256K) over REST with Entra ID tokens (see cn_signer_azkv.h).
 *
 * Owns: the configuration (an ak_cfg table, with cn_azcreds' and the HTTP options' rows; built
 * by the backend registry, cn_backend_new), a cn_rhttp client (vault and token endpoint), the
 * credentials (cn_azcreds) and the token cache (cn_oauth).
 */
#include "cn_signer_azkv.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ak_addr.h"
#include "ak_b64.h"
#include "ak_secmem.h"
#include "cn_azcreds.h"
#include "cn_jwt.h"
#include "cn_log.h"
#include "cn_oauth.h"
#include "cn_rcfg.h"
#include "cn_rhttp.h"
#include "cn_backend.h"

#define W           "azure_key_vault"
#define API         "api-version=7.4"
#define KEYNAME_MAX 127
#define VAULT_MX    256

typedef struct {
    char vault[VAULT_MX + 1];
    char key_name[KEYNAME_MAX + 1];
    char version[CN_AZKV_VERSION_MAX + 1];
    int managed_hsm;  /* -1 until configure: absent */
    char address[43]; /* the address the key must have ("": any) */
    cn_azcreds_cfg cred_cfg;
    cn_rcfg_http http_cfg;
    cn_rhttp *http;
    cn_azcreds *creds;
    cn_oauth_cache tokens;
    _Atomic uint32_t latency_us;
} azkv;

/* ---- answers ------------------------------------------------------------------------------ */

/* kid = https://host/keys/{name}/{version}: 1 if it names key_name; version copied out. */
static int kid_split(const char *kid, const char *key_name, char version[CN_AZKV_VERSION_MAX + 1])
{
    const char *k = strstr(kid, "/keys/");
    if (strncmp(kid, "https://", 8) != 0 || k == NULL)
        return 0;
    k += 6;
    size_t n = strlen(key_name);
    if (strncmp(k, key_name, n) != 0 || k[n] != '/')
        return 0;
    const char *v = k + n + 1;
    size_t vl = strlen(v);
    if (vl == 0 || vl > CN_AZKV_VERSION_MAX || !ak_cfg_safe_id(v, CN_AZKV_VERSION_MAX, 0))
        return 0;
    memcpy(version, v, vl + 1);
    return 1;
}

static int b64url32(uint8_t out[32], const cJSON *v)
{
    size_t n = 0;
    return cJSON_IsString(v) &&
           ak_b64url_decode(out, 32, &n, v->valuestring, strlen(v->valuestring)) == AK_OK &&
           n == 32;
}

ak_err cn_azkv_parse_key(uint8_t pub65[65], char version[CN_AZKV_VERSION_MAX + 1], const char *body,
                         size_t len, const char *key_name)
{
    ak_err rc = AK_ERR_UPSTREAM;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
    const cJSON *attr = cJSON_GetObjectItemCaseSensitive(j, "attributes");
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(key, "kid");
    const cJSON *kty = cJSON_GetObjectItemCaseSensitive(key, "kty");
    const cJSON *crv = cJSON_GetObjectItemCaseSensitive(key, "crv");
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(key, "key_ops");
    uint8_t raw[65];
    version[0] = '\0';
    if (!cJSON_IsObject(key) || !cJSON_IsString(kid) || !cJSON_IsString(kty) ||
        (attr != NULL && !cJSON_IsObject(attr)) || !kid_split(kid->valuestring, key_name, version))
        goto out;
    rc = AK_ERR_KEY_TYPE;
    if ((strcmp(kty->valuestring, "EC") != 0 && strcmp(kty->valuestring, "EC-HSM") != 0) ||
        !cJSON_IsString(crv) || strcmp(crv->valuestring, "P-256K") != 0)
        goto out;
    if (ops != NULL) {
        const cJSON *op;
        int sign = 0;
        if (!cJSON_IsArray(ops))
            goto out;
        cJSON_ArrayForEach(op, ops) sign |=
            cJSON_IsString(op) && strcmp(op->valuestring, "sign") == 0;
        if (!sign)
            goto out;
    }
    rc = AK_ERR_UPSTREAM;
    raw[0] = 0x04;
    if (!b64url32(raw + 1, cJSON_GetObjectItemCaseSensitive(key, "x")) ||
        !b64url32(raw + 33, cJSON_GetObjectItemCaseSensitive(key, "y")))
        goto out;
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(attr, "enabled"))) {
        rc = AK_ERR_UNAVAILABLE;
        goto out;
    }
    rc = ak_pubkey_parse(pub65, raw, sizeof raw) == AK_OK ? AK_OK : AK_ERR_KEY_TYPE;
out:
    if (rc != AK_OK)
        version[0] = '\0';
    cJSON_Delete(j);
    return rc;
}

ak_err cn_azkv_parse_sign(uint8_t rs[64], const char *body, size_t len, const char *key_name,
                          const char *version)
{
    char v[CN_AZKV_VERSION_MAX + 1];
    size_t n = 0;
    ak_err rc = AK_ERR_UPSTREAM;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(j, "kid");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(j, "value");
    if (!cJSON_IsString(kid) || !cJSON_IsString(val) || !kid_split(kid->valuestring, key_name, v) ||
        strcmp(v, version) != 0)
        goto out;
    if (ak_b64url_decode(rs, 64, &n, val->valuestring, strlen(val->valuestring)) != AK_OK ||
        n != 64)
        goto out;
    rc = AK_OK;
out:
    cJSON_Delete(j);
    return rc;
}

/* ---- calls -------------------------------------------------------------------------------- */

static ak_err status_err(const cn_rhttp_resp *r)
{
    return r->status == 404 ? AK_ERR_KEY_NOT_FOUND : cn_rhttp_status_err(r->status);
}

static AK_WUR ak_err get_key(azkv *k, uint8_t pub65[65], char version[CN_AZKV_VERSION_MAX + 1],
                             char *err, size_t cap)
{
    char path[KEYNAME_MAX + CN_AZKV_VERSION_MAX + 48];
    cn_rhttp_resp r;
    snprintf(path, sizeof path, "/keys/%s%s%s?" API, k->key_name, k->version[0] ? "/" : "",
             k->version);
    ak_err rc = cn_oauth_call(k->http, &k->tokens, "GET", k->vault, path, NULL, &r, status_err);
    if (rc == AK_OK)
        rc = cn_azkv_parse_key(pub65, version, r.body, r.len, k->key_name);
    if (rc != AK_OK)
        cn_rcfg_err(err, cap, W ": reading key %s failed (HTTP %ld): %s", k->key_name, r.status,
                    ak_strerror(rc));
    cn_rhttp_resp_clear(&r);
    return rc;
}

static ak_err azkv_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                        const cn_sign_ctx *ctx)
{
    azkv *k = s->impl;
    char b64[AK_B64_ENCODED_SIZE(32)], body[128], path[KEYNAME_MAX + CN_AZKV_VERSION_MAX + 48];
    cn_rhttp_resp r = {0};
    (void)ctx;
    memset(out, 0, sizeof *out);
    ak_err rc = cn_jwt_b64url(b64, sizeof b64, digest, 32);
    if (rc != AK_OK)
        goto out;
    snprintf(body, sizeof body, "{\"alg\":\"ES256K\",\"value\":\"%s\"}", b64);
    snprintf(path, sizeof path, "/keys/%s/%s/sign?" API, k->key_name, k->version);
    int64_t t0 = cn_rhttp_now_ms();
    rc = cn_oauth_call(k->http, &k->tokens, "POST", k->vault, path, body, &r, status_err);
    if (rc == AK_OK)
        rc = cn_azkv_parse_sign(out->bytes, r.body, r.len, k->key_name, k->version);
    if (rc != AK_OK) {
        cn_log(CN_LOG_WARN, W ": sign failed", "signer", s->name, "error", ak_strerror(rc),
               (char *)NULL);
        goto out;
    }
    out->form = CN_SIG_RS;
    out->len = 64;
    atomic_store(&k->latency_us, (uint32_t)((cn_rhttp_now_ms() - t0) * 1000));
out:
    cn_rhttp_resp_clear(&r);
    return rc;
}

static ak_err azkv_health(cn_signer *s, cn_signer_health *out)
{
    azkv *k = s->impl;
    uint8_t pub[65];
    char v[CN_AZKV_VERSION_MAX + 1];
    ak_err rc = get_key(k, pub, v, NULL, 0);
    if (rc == AK_OK && (memcmp(pub, s->pubkey, 65) != 0 || strcmp(v, k->version) != 0))
        rc = AK_ERR_PUBKEY;
    return cn_backend_health(out, rc, (unsigned)k->http_cfg.pool_size, atomic_load(&k->latency_us),
                             W);
}

static void azkv_destroy(cn_signer *s)
{
    azkv *k = s->impl;
    if (k == NULL)
        return;
    cn_oauth_cache_destroy(&k->tokens);
    cn_azcreds_free(k->creds);
    cn_rhttp_free(k->http);
    ak_wipe(k, sizeof *k);
    free(k);
    s->impl = NULL;
}

static const cn_signer_ops azkv_ops = {"azure_key_vault", azkv_sign, azkv_health, azkv_destroy};

/* ---- construction ------------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static const ak_cfg_field k_fields[] = {
    AK_CFG_KNOWN("type"),
    AK_CFG_KNOWN("name"),
    AK_CFG_STR("vault_url", AK_CFG_REQUIRED | AK_CFG_URL, azkv, vault, NULL),
    AK_CFG_BOOL("managed_hsm", 0, azkv, managed_hsm, -1), /* absent: from vault_url, below */
    AK_CFG_STR("key_name", AK_CFG_REQUIRED, azkv, key_name, NULL),
    AK_CFG_STR("key_version", 0, azkv, version, NULL),
    AK_CFG_STR("address", 0, azkv, address, NULL),
    AK_CFG_INLINE(cn_azcreds_fields, CN_AZCREDS_NFIELDS, azkv, cred_cfg),
    AK_CFG_INLINE(cn_rcfg_http_fields, CN_RCFG_HTTP_NFIELDS, azkv, http_cfg),
};

/* After the HTTP client exists: a first token, then the key (its version pinned). */
static AK_WUR ak_err azkv_start(cn_signer *s, int has_want, const uint8_t want[20], char *err,
                                size_t cap)
{
    azkv *k = s->impl;
    char why[256] = "", version[CN_AZKV_VERSION_MAX + 1];
    ak_err rc =
        cn_oauth_cache_init(&k->tokens, cn_azcreds_fetch, k->creds, W, s->name, 0, why, sizeof why);
    if (rc != AK_OK) {
        cn_rcfg_err(err, cap, W ": no access token from the %s: %s", cn_azcreds_source(k->creds),
                    why);
        return rc;
    }
    if ((rc = get_key(k, s->pubkey, version, err, cap)) != AK_OK)
        return rc;
    if (k->version[0] != '\0' && strcmp(version, k->version) != 0) {
        cn_rcfg_err(err, cap, W ": the vault answered another key version");
        return AK_ERR_UPSTREAM;
    }
    snprintf(k->version, sizeof k->version, "%s", version);
    ak_addr_from_pubkey(s->address, s->pubkey);
    if (has_want && memcmp(want, s->address, 20) != 0) {
        cn_rcfg_err(err, cap, W ": the key's address is not the configured address");
        return AK_ERR_PUBKEY;
    }
    cn_log(CN_LOG_INFO, W ": ready", "signer", s->name, "credentials", cn_azcreds_source(k->creds),
           "key_version", k->version, (char *)NULL);
    return AK_OK;
}

/* The table, the checks it cannot express, then the credentials (cn_azcreds: the client secret
 * is read now, while the config tree lives). */
static AK_WUR ak_err azkv_configure(cn_signer *s, cn_backend_start *st, const cJSON *cfg, char *err,
                                    size_t cap)
{
    azkv *k = s->impl;
    ak_err rc = ak_cfg_read(k, k_fields, AK_CFG_COUNT(k_fields), cfg, W, err, cap);
    if (rc != AK_OK)
        return rc;
    size_t n = strlen(k->key_name);
    if (strspn(k->key_name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") !=
        n) {
        cn_rcfg_err(err, cap, W ".key_name: 1..%d characters of [A-Za-z0-9-]", KEYNAME_MAX);
        return AK_ERR_CONFIG;
    }
    if (strspn(k->version, "0123456789abcdefABCDEF") != strlen(k->version)) {
        cn_rcfg_err(err, cap, W ".key_version: hex digits");
        return AK_ERR_CONFIG;
    }
    if (k->managed_hsm < 0)
        k->managed_hsm = ends_with(k->vault, ".managedhsm.azure.net");
    snprintf(s->name, sizeof s->name, "%.63s", k->key_name); /* the default, cut */
    *st = (cn_backend_start){
        .http = &k->http_cfg, .client = &k->http, .address = k->address, .start = azkv_start};
    return cn_azcreds_new(&k->creds, &k->cred_cfg, W,
                          k->managed_hsm ? "https://managedhsm.azure.net"
                                         : "https://vault.azure.net",
                          &k->http, k->http_cfg.connect_timeout_ms, err, cap);
}

static const cn_backend k_azkv = {"azure_key_vault",   "azure-key-vault", W,
                                  CN_LEVEL_PRODUCTION, sizeof(azkv),      &azkv_ops,
                                  azkv_configure};

ak_err cn_azkv_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
    return cn_backend_new(out, &k_azkv, cfg, err, err_cap);
}
