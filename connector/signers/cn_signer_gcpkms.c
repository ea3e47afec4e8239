/*
 * cn_signer_gcpkms.c - the "gcp_kms" signer: Cloud KMS getPublicKey / asymmetricSign with CRC32C
 * integrity checks (see cn_signer_gcpkms.h).
 *
 * Owns: the configuration (an ak_cfg table; built by the backend registry, cn_backend_new), a
 * cn_rhttp client (KMS and token_uri), the credentials (cn_gcpcreds) and the token cache
 * (cn_oauth).
 */
#include "cn_signer_gcpkms.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_b64.h"
#include "ak_crc32c.h"
#include "ak_secmem.h"
#include "cn_gcpcreds.h"
#include "cn_log.h"
#include "cn_oauth.h"
#include "cn_rcfg.h"
#include "cn_rhttp.h"
#include "cn_backend.h"

#define W           "gcp_kms"
#define ALG         "EC_SIGN_SECP256K1_SHA256"
#define PEM_MAX     1024
#define ENDPOINT    "https://cloudkms.googleapis.com"
#define ENDPOINT_MX 256

typedef struct {
    char key_version[CN_GCPKMS_NAME_MAX + 1];
    char endpoint[ENDPOINT_MX + 1];
    char cred_file[CN_RCFG_PATH_MAX + 1]; /* "": $GOOGLE_APPLICATION_CREDENTIALS or metadata */
    char address[43];                     /* the address the key must have ("": any) */
    cn_rcfg_http http_cfg;
    cn_rhttp *http;
    cn_gcpcreds *creds;
    cn_oauth_cache tokens;
    _Atomic uint32_t latency_us;
} gcpkms;

/* ---- answers ------------------------------------------------------------------------------ */

/* A CRC32C sent as a decimal int64 string (proto3 JSON) or a number: 1 if it equals want. */
static int crc_is(const cJSON *v, uint32_t want)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%u", (unsigned)want);
    if (cJSON_IsString(v))
        return strcmp(v->valuestring, buf) == 0;
    return cJSON_IsNumber(v) && v->valuedouble == (double)want;
}

static int name_ok(const cJSON *j, const char *name)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");
    return n == NULL || (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0);
}

/* The base64 body of a "-----BEGIN PUBLIC KEY-----" PEM block (RFC 7468), line breaks removed. */
static AK_WUR ak_err pem_der(uint8_t *der, size_t cap, size_t *len, const char *pem)
{
    static const char begin[] = "-----BEGIN PUBLIC KEY-----", end[] = "-----END PUBLIC KEY-----";
    char b64[PEM_MAX];
    size_t n = 0;
    const char *p = strstr(pem, begin), *e = p ? strstr(p, end) : NULL;
    if (p == NULL || e == NULL || strspn(pem, " \t\r\n") != (size_t)(p - pem) ||
        strspn(e + sizeof end - 1, " \t\r\n") != strlen(e + sizeof end - 1))
        return AK_ERR_UPSTREAM;
    for (p += sizeof begin - 1; p < e; p++) {
        if (*p == '\n' || *p == '\r')
            continue;
        if (n + 1 >= sizeof b64)
            return AK_ERR_UPSTREAM;
        b64[n++] = *p;
    }
    return ak_b64_decode(der, cap, len, b64, n) == AK_OK ? AK_OK : AK_ERR_UPSTREAM;
}

ak_err cn_gcpkms_parse_pubkey(uint8_t pub65[65], const char *body, size_t len, const char *name)
{
    uint8_t der[256];
    size_t der_len = 0;
    ak_err rc = AK_ERR_UPSTREAM;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *pem = cJSON_GetObjectItemCaseSensitive(j, "pem");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(j, "algorithm");
    const cJSON *crc = cJSON_GetObjectItemCaseSensitive(j, "pemCrc32c");
    if (!cJSON_IsObject(j) || !cJSON_IsString(pem) || !cJSON_IsString(alg) || !name_ok(j, name))
        goto out;
    if (strcmp(alg->valuestring, ALG) != 0) {
        rc = AK_ERR_KEY_TYPE;
        goto out;
    }
    if (strlen(pem->valuestring) >= PEM_MAX ||
        (crc != NULL &&
         !crc_is(crc, ak_crc32c((const uint8_t *)pem->valuestring, strlen(pem->valuestring)))))
        goto out;
    if (pem_der(der, sizeof der, &der_len, pem->valuestring) != AK_OK)
        goto out;
    rc = ak_pubkey_parse_spki(pub65, der, der_len) == AK_OK ? AK_OK : AK_ERR_KEY_TYPE;
out:
    cJSON_Delete(j);
    return rc;
}

ak_err cn_gcpkms_parse_sign(uint8_t der[72], size_t *der_len, const char *body, size_t len,
                            const char *name)
{
    ak_err rc = AK_ERR_UPSTREAM;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(j, "signature");
    const cJSON *crc = cJSON_GetObjectItemCaseSensitive(j, "signatureCrc32c");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "verifiedDigestCrc32c");
    *der_len = 0;
    if (!cJSON_IsObject(j) || !cJSON_IsString(sig) || !cJSON_IsTrue(ver) || crc == NULL ||
        !name_ok(j, name) || cJSON_GetObjectItemCaseSensitive(j, "name") == NULL)
        goto out;
    if (ak_b64_decode(der, 72, der_len, sig->valuestring, strlen(sig->valuestring)) != AK_OK ||
        !crc_is(crc, ak_crc32c(der, *der_len))) {
        *der_len = 0;
        goto out;
    }
    rc = AK_OK;
out:
    cJSON_Delete(j);
    return rc;
}

/* ---- calls -------------------------------------------------------------------------------- */

static ak_err status_err(const cn_rhttp_resp *r)
{
    if (r->status == 404)
        return AK_ERR_KEY_NOT_FOUND;
    if (r->status == 401)
        return AK_ERR_AUTH;
    if (r->status == 400 && strstr(r->body, "\"FAILED_PRECONDITION\"") != NULL)
        return AK_ERR_UNAVAILABLE; /* the version is disabled, destroyed or pending */
    return cn_rhttp_status_err(r->status);
}

static AK_WUR ak_err get_public_key(gcpkms *k, uint8_t pub65[65], char *err, size_t cap)
{
    char path[CN_GCPKMS_NAME_MAX + 32];
    cn_rhttp_resp r;
    snprintf(path, sizeof path, "/v1/%s/publicKey", k->key_version);
    ak_err rc = cn_oauth_call(k->http, &k->tokens, "GET", k->endpoint, path, NULL, &r, status_err);
    if (rc == AK_OK)
        rc = cn_gcpkms_parse_pubkey(pub65, r.body, r.len, k->key_version);
    if (rc != AK_OK)
        cn_rcfg_err(err, cap, W ": getPublicKey for %s failed (HTTP %ld): %s", k->key_version,
                    r.status, ak_strerror(rc));
    cn_rhttp_resp_clear(&r);
    return rc;
}

static ak_err gcpkms_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                          const cn_sign_ctx *ctx)
{
    gcpkms *k = s->impl;
    char b64[AK_B64_ENCODED_SIZE(32)], body[160], path[CN_GCPKMS_NAME_MAX + 32];
    cn_rhttp_resp r = {0};
    (void)ctx;
    memset(out, 0, sizeof *out);
    ak_err rc = ak_b64_encode(b64, sizeof b64, digest, 32);
    if (rc != AK_OK)
        goto out;
    snprintf(body, sizeof body, "{\"digest\":{\"sha256\":\"%s\"},\"digestCrc32c\":\"%u\"}", b64,
             (unsigned)ak_crc32c(digest, 32));
    snprintf(path, sizeof path, "/v1/%s:asymmetricSign", k->key_version);
    int64_t t0 = cn_rhttp_now_ms();
    rc = cn_oauth_call(k->http, &k->tokens, "POST", k->endpoint, path, body, &r, status_err);
    if (rc == AK_OK) {
        rc = cn_gcpkms_parse_sign(out->bytes, &out->len, r.body, r.len, k->key_version);
        if (rc != AK_OK)
            cn_log(CN_LOG_WARN,
                   W ": asymmetricSign answer refused (malformed, unverified "
                     "digest or CRC32C mismatch)",
                   "signer", s->name, (char *)NULL);
    } else {
        cn_log(CN_LOG_WARN, W ": asymmetricSign failed", "signer", s->name, "error",
               ak_strerror(rc), (char *)NULL);
    }
    if (rc == AK_OK) {
        out->form = CN_SIG_DER;
        atomic_store(&k->latency_us, (uint32_t)((cn_rhttp_now_ms() - t0) * 1000));
    }
out:
    cn_rhttp_resp_clear(&r);
    return rc;
}

static ak_err gcpkms_health(cn_signer *s, cn_signer_health *out)
{
    gcpkms *k = s->impl;
    uint8_t pub[65];
    ak_err rc = get_public_key(k, pub, NULL, 0);
    if (rc == AK_OK && memcmp(pub, s->pubkey, 65) != 0)
        rc = AK_ERR_PUBKEY;
    return cn_backend_health(out, rc, (unsigned)k->http_cfg.pool_size, atomic_load(&k->latency_us),
                             W);
}

static void gcpkms_destroy(cn_signer *s)
{
    gcpkms *k = s->impl;
    if (k == NULL)
        return;
    cn_oauth_cache_destroy(&k->tokens);
    cn_gcpcreds_free(k->creds);
    cn_rhttp_free(k->http);
    ak_wipe(k, sizeof *k);
    free(k);
    s->impl = NULL;
}

static const cn_signer_ops gcpkms_ops = {"gcp_kms", gcpkms_sign, gcpkms_health, gcpkms_destroy};

/* ---- construction ------------------------------------------------------------------------- */

/* projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V, each part [A-Za-z0-9_-]. */
static int key_version_ok(const char *v)
{
    static const char *const fixed[] = {"projects", "locations", "keyRings", "cryptoKeys",
                                        "cryptoKeyVersions"};
    const char *p = v;
    if (!ak_cfg_safe_id(v, CN_GCPKMS_NAME_MAX, 1))
        return 0;
    for (size_t i = 0; i < 5; i++) {
        size_t n = strlen(fixed[i]);
        if (strncmp(p, fixed[i], n) != 0 || p[n] != '/')
            return 0;
        p += n + 1;
        size_t m = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
        if (m == 0 || (i < 4 && p[m] != '/') || (i == 4 && p[m] != '\0'))
            return 0;
        p += m + (i < 4);
    }
    return 1;
}

static const ak_cfg_field k_fields[] = {
    AK_CFG_KNOWN("type"),
    AK_CFG_KNOWN("name"),
    AK_CFG_STR("key_version", AK_CFG_REQUIRED, gcpkms, key_version, NULL),
    AK_CFG_STR("endpoint", AK_CFG_URL, gcpkms, endpoint, ENDPOINT),
    AK_CFG_STR("credentials_file", AK_CFG_PATH, gcpkms, cred_file, NULL),
    AK_CFG_STR("address", 0, gcpkms, address, NULL),
    AK_CFG_INLINE(cn_rcfg_http_fields, CN_RCFG_HTTP_NFIELDS, gcpkms, http_cfg),
};

/* After the HTTP client exists: the credentials, a first token, the key (and its address). */
static AK_WUR ak_err gcpkms_start(cn_signer *s, int has_want, const uint8_t want[20], char *err,
                                  size_t cap)
{
    gcpkms *k = s->impl;
    char why[256] = "";
    ak_err rc = cn_gcpcreds_new(&k->creds, k->cred_file[0] != '\0' ? k->cred_file : NULL, k->http,
                                k->http_cfg.connect_timeout_ms, why, sizeof why);
    if (rc != AK_OK) {
        cn_rcfg_err(err, cap, W ": credentials: %s", why);
        return rc;
    }
    rc = cn_oauth_cache_init(&k->tokens, cn_gcpcreds_fetch, k->creds, W, s->name, 0, why,
                             sizeof why);
    if (rc != AK_OK) {
        cn_rcfg_err(err, cap, W ": no access token from the %s: %s", cn_gcpcreds_source(k->creds),
                    why);
        return rc;
    }
    if ((rc = get_public_key(k, s->pubkey, err, cap)) != AK_OK)
        return rc;
    ak_addr_from_pubkey(s->address, s->pubkey);
    if (has_want && memcmp(want, s->address, 20) != 0) {
        cn_rcfg_err(err, cap, W ": the key's address is not the configured address");
        return AK_ERR_PUBKEY;
    }
    cn_log(CN_LOG_INFO, W ": ready", "signer", s->name, "credentials", cn_gcpcreds_source(k->creds),
           (char *)NULL);
    return AK_OK;
}

static AK_WUR ak_err gcpkms_configure(cn_signer *s, cn_backend_start *st, const cJSON *cfg,
                                      char *err, size_t cap)
{
    gcpkms *k = s->impl;
    ak_err rc = ak_cfg_read(k, k_fields, AK_CFG_COUNT(k_fields), cfg, W, err, cap);
    if (rc != AK_OK)
        return rc;
    if (!key_version_ok(k->key_version)) {
        cn_rcfg_err(err, cap,
                    W ".key_version: projects/P/locations/L/keyRings/R/cryptoKeys/K/"
                      "cryptoKeyVersions/N");
        return AK_ERR_CONFIG;
    }
    /* Default name "<cryptoKey>/<version>", cut to the name's size (the registry then applies
     * "name"). */
    const char *ck = strstr(k->key_version, "/cryptoKeys/") + strlen("/cryptoKeys/");
    const char *cv = strstr(ck, "/cryptoKeyVersions/");
    snprintf(s->name, sizeof s->name, "%.*s/%s", (int)(cv - ck), ck,
             cv + strlen("/cryptoKeyVersions/"));
    *st = (cn_backend_start){
        .http = &k->http_cfg, .client = &k->http, .address = k->address, .start = gcpkms_start};
    return AK_OK;
}

static const cn_backend k_gcpkms = {
    "gcp_kms", "gcp-kms", W, CN_LEVEL_PRODUCTION, sizeof(gcpkms), &gcpkms_ops, gcpkms_configure};

ak_err cn_gcpkms_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
    return cn_backend_new(out, &k_gcpkms, cfg, err, err_cap);
}
